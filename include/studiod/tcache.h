/*
 * tcache.h — a per-process cache of values that belong to one studio each,
 * dropped in every process when the studio changes (through the cache bus,
 * cache_bus.h). What the staff sessions, their permissions and the public
 * availability answers are kept in.
 *
 * Rules every tcache keeps, so that caching never changes an answer beyond
 * what its owner documents:
 *   - a value lives at most its ttl, and never past the valid_until its put
 *     gave;
 *   - nothing is served or stored while the cache bus is not listening (its
 *     connection is down: changes could be missed);
 *   - a value read from the database while an invalidation came in is not
 *     stored: read tcache_epoch() before the query, give it to tcache_put.
 * The table is direct-mapped (a slot per hash of studio id and key; a
 * collision replaces the older value), so it never grows. One mutex.
 */
#ifndef STUDIOD_TCACHE_H
#define STUDIOD_TCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "studiod/arena.h"

struct tcache;

/* A cache of slots entries (a power of two) living at most ttl_seconds, dropped per
 * studio by the cache bus's kind (subscribes; call before cache_bus_start). NULL when
 * ttl_seconds <= 0 (caching off: every call below then does nothing or misses). */
struct tcache *tcache_new(char kind, int slots, int ttl_seconds);
/* Frees it (after cache_bus_stop). NULL is fine. */
void tcache_free(struct tcache *c);
/* The invalidation epoch (0 for NULL). */
uint64_t tcache_epoch(const struct tcache *c);
/* A live value of (tenant_id, key): copied into the arena (NUL-terminated too, its length
 * in *len), or NULL. */
void *tcache_get(struct tcache *c, struct arena *a, const char *tenant_id, const char *key,
                 size_t *len);
/* Stores a copy of value (len bytes) read at epoch, valid until valid_until (Unix seconds;
 * 0: the ttl), capped at now + ttl. Ignored when an invalidation came in since epoch. */
void tcache_put(struct tcache *c, const char *tenant_id, const char *key, const void *value,
                size_t len, double valid_until, uint64_t epoch);
/* Drops one value. */
void tcache_forget(struct tcache *c, const char *tenant_id, const char *key);

#endif
