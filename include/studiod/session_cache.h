/*
 * session_cache.h — a per-process cache of staff sessions, so that a busy
 * back office does not cost one session query per request.
 *
 * Revocation stays as strict as without it:
 *   - an entry lives at most STUDIOD_SESSION_CACHE_SECONDS (default 20, 0 turns
 *     the cache off), never past the session's absolute expiry or the earliest
 *     expiry of one of the user's roles;
 *   - every successful state-changing staff or platform-admin request drops
 *     the cached sessions of its studio (admin: of every studio) in this
 *     process at once, and tells every other studiod process through
 *     PostgreSQL NOTIFY on the master database (the cache bus, cache_bus.h);
 *   - a process only serves from its cache while its LISTEN connection is up:
 *     when the connection drops, the cache is emptied and bypassed until the
 *     connection is back;
 *   - a lookup that raced with an invalidation is not stored (an epoch
 *     counter is read before the query and checked before the insert).
 * What the cache cannot see: a session, user or role changed by SQL outside
 * studiod, which shows within the entry's lifetime (at most 20 s).
 *
 * This departs from DESIGN.md's "processes keep no state of their own": the
 * state is a cache whose loss changes nothing but speed, and cross-process
 * correctness comes from PostgreSQL (NOTIFY), as DESIGN.md asks.
 */
#ifndef STUDIOD_SESSION_CACHE_H
#define STUDIOD_SESSION_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct session;

/* Turns the cache on with entries living ttl_seconds (0: stays off) and subscribes it
 * to the cache bus (before cache_bus_start). 0 or -1. */
int session_cache_start(int ttl_seconds);
/* Empties the cache and turns it off (after cache_bus_stop). */
void session_cache_stop(void);
/* True while lookups may be served from the cache (on, cache bus listening). */
bool session_cache_active(void);

/* The current invalidation epoch: read it before querying the database, hand it
 * to session_cache_put. */
uint64_t session_cache_epoch(void);
/* Copies the cached session of (tenant_id, token_hash) into *out when one is live. */
bool session_cache_get(const char *tenant_id, const char *token_hash, struct session *out);
/* Stores a session read from the database at epoch, valid until valid_until (Unix
 * seconds, capped at now + ttl). Ignored when an invalidation came in between. */
void session_cache_put(const char *tenant_id, const char *token_hash, const struct session *s,
                       double valid_until, uint64_t epoch);
/* Drops one session (this process only; logout also invalidates the studio). */
void session_cache_forget(const char *tenant_id, const char *token_hash);
/* Drops the sessions of tenant_id (NULL: of every studio) here, and with broadcast
 * in every other process too (NOTIFY on the master; a failure is logged). */
void session_cache_invalidate(const char *tenant_id, bool broadcast);

#endif
