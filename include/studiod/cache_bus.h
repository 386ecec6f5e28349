/*
 * cache_bus.h — how studiod processes tell each other to drop cached data:
 * PostgreSQL LISTEN/NOTIFY on the master database, channel "studiod_cache".
 *
 * A cache subscribes with a one-letter kind of change and a drop function:
 * 's', a change made by staff or a platform admin (staff sessions and
 * permissions are kept until one); 'a', any change on a studio's host (public
 * availability answers). cache_bus_publish(kinds, studio)
 * calls the drop functions in this process at once and hands the NOTIFY
 * (payload "<kinds>:<studio id or *>/<origin>", origin marking the
 * process, whose own listener passes over it) to a sender thread, which
 * lets them gather for 2 ms and sends them in one statement: the request
 * does not wait, and other processes hear within milliseconds (a process
 * that dies in between leaves the others to their caches' lifetimes). One
 * thread per process
 * LISTENs; while its connection is down cache_bus_listening() is false and
 * caches must not serve, and every cache is dropped when the connection goes
 * and again when it comes back (so nothing published meanwhile is missed).
 */
#ifndef STUDIOD_CACHE_BUS_H
#define STUDIOD_CACHE_BUS_H

#include <stdbool.h>

#define CACHE_BUS_CHANNEL "studiod_cache"
#define CACHE_BUS_STAFF_CHANGE 's' /* staff or a platform admin changed something */
#define CACHE_BUS_ANY_CHANGE 'a'   /* anything changed on the studio's host */

/* Drops what the cache ctx holds for studio tenant_id (NULL: for every studio). Quick. */
typedef void (*cache_bus_drop_fn)(void *ctx, const char *tenant_id);

/* Registers a cache's drop function for kind (before cache_bus_start; at most 8). */
void cache_bus_subscribe(char kind, cache_bus_drop_fn drop, void *ctx);
/* Starts the LISTEN thread (db_init must have run). 0 or -1. */
int cache_bus_start(void);
/* Stops it; caches are dropped and cache_bus_listening() turns false. */
void cache_bus_stop(void);
/* True while the LISTEN connection is up. */
bool cache_bus_listening(void);
/* Drops the data of each kind in kinds (e.g. "sa") of tenant_id (NULL: all studios) here
 * and, with one NOTIFY, in every other process. */
void cache_bus_publish(const char *kinds, const char *tenant_id);

#endif
