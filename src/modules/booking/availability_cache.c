/*
 * availability_cache.c — the public availability answers of this process,
 * and the room rules new bookings read, kept a few seconds
 * (STUDIOD_AVAILABILITY_CACHE_SECONDS, default 5; 0 = off).
 *
 * The free slots of a room are read far more often than they change, and
 * the query that computes them is the costliest read studiod makes (a few
 * milliseconds of PostgreSQL per week of slots). A stored answer is the
 * exact JSON body of a 200, keyed by studio, room and the range as asked.
 *
 * Staleness is bounded two ways:
 *   - any successful state-changing request on a studio's host (a booking,
 *     a cancellation, a move, a change to rooms, hours, closures or policy)
 *     drops that studio's answers in every process at once, through the
 *     cache bus (booking_after_request); so does a hold expired by the job;
 *   - what changes only with the clock (the notice cut-off, the horizon, a
 *     pending hold running out before its job) shows within the lifetime.
 * The cache serves only while the cache bus listens, and an answer read
 * while an invalidation came in is not stored (epoch): tcache.h.
 * Whatever an answer says, booking itself is decided by the database's
 * exclusion constraint: a stale answer can cost a customer a 409 or a 422,
 * never a double booking.
 *
 * The answers live in a tcache (tcache.h) of kind "any change".
 *
 * The same lifetime keeps a second thing a new booking reads first: its
 * room with the policy and price rules (rooms_room_with_policy_cached, the
 * row as PostgreSQL gave it), in a tcache of kind "staff change": only
 * staff and platform admins change rooms, hours, prices and policy, and
 * their successful changes drop the studio's copies at once in every
 * process, while the customers' own bookings (which drop the answers above)
 * leave them be. A stale copy (a change made by SQL outside studiod, for at
 * most the lifetime) can price or check a booking by the old rules.
 */
#include <stdio.h>

#include "booking_internal.h"
#include "studiod/cache_bus.h"
#include "studiod/tcache.h"

#define SLOTS 1024
#define ROOM_SLOTS 1024

static struct tcache *answers; /* NULL: no cache */
static struct tcache *rooms;   /* rooms with their policy and price rules (booking.c) */

int availability_cache_start(int ttl_seconds)
{
    if (ttl_seconds > 0 && (!(answers = tcache_new(CACHE_BUS_ANY_CHANGE, SLOTS, ttl_seconds)) ||
                            !(rooms = tcache_new(CACHE_BUS_STAFF_CHANGE, ROOM_SLOTS, ttl_seconds))))
        return -1;
    return 0;
}

void availability_cache_stop(void)
{
    tcache_free(answers);
    tcache_free(rooms);
    answers = rooms = NULL;
}

struct tcache *booking_rooms_cache(void)
{
    return rooms;
}

bool availability_cache_key(char out[AVAILABILITY_KEY_MAX], const char *room_id, const char *from,
                            const char *to)
{
    if (!room_id || !from || !to)
        return false;
    int n = snprintf(out, AVAILABILITY_KEY_MAX, "%s|%s|%s", room_id, from, to);
    return n > 0 && n < AVAILABILITY_KEY_MAX;
}

uint64_t availability_cache_epoch(void)
{
    return tcache_epoch(answers);
}

char *availability_cache_get(struct arena *a, const char *tenant_id, const char *key, size_t *len)
{
    return tcache_get(answers, a, tenant_id, key, len);
}

void availability_cache_put(const char *tenant_id, const char *key, const char *body, size_t len,
                            uint64_t epoch)
{
    tcache_put(answers, tenant_id, key, body, len, 0, epoch);
}

void availability_cache_invalidate(const char *tenant_id)
{
    cache_bus_publish((const char[]){CACHE_BUS_ANY_CHANGE, '\0'}, tenant_id);
}
