/*
 * availability_cache.c — the public availability answers of this process,
 * kept a few seconds (STUDIOD_AVAILABILITY_CACHE_SECONDS, default 5; 0 = off).
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
 * while an invalidation came in is not stored (epoch), as in session_cache.c.
 * Whatever an answer says, booking itself is decided by the database's
 * exclusion constraint: a stale answer can cost a customer a 409 or a 422,
 * never a double booking.
 *
 * Direct-mapped slots (a collision replaces the older answer), one mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "booking_internal.h"
#include "studiod/cache_bus.h"

#define SLOTS 1024 /* power of two */
#define KEY_MAX 256

struct slot {
    char key[KEY_MAX];
    char tenant_id[40];
    double valid_until; /* 0: empty */
    char *body;
    size_t len;
};

static struct {
    pthread_mutex_t mu;
    struct slot *slots;
    int ttl;
    atomic_uint_fast64_t epoch;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct slot *slot_of(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &A.slots[h & (SLOTS - 1)];
}

static void slot_clear(struct slot *sl)
{
    free(sl->body);
    sl->body = NULL;
    sl->len = 0;
    sl->valid_until = 0;
}

/* The cache bus's drop function for availability. */
static void drop(const char *tenant_id)
{
    pthread_mutex_lock(&A.mu);
    atomic_fetch_add(&A.epoch, 1);
    for (int i = 0; A.slots && i < SLOTS; i++) {
        struct slot *sl = &A.slots[i];
        if (sl->body && (!tenant_id || strcmp(sl->tenant_id, tenant_id) == 0))
            slot_clear(sl);
    }
    pthread_mutex_unlock(&A.mu);
}

int availability_cache_start(int ttl_seconds)
{
    if (ttl_seconds <= 0 || A.slots)
        return 0;
    A.slots = calloc(SLOTS, sizeof(*A.slots));
    if (!A.slots)
        return -1;
    A.ttl = ttl_seconds;
    cache_bus_subscribe(CACHE_BUS_AVAILABILITY, drop);
    return 0;
}

void availability_cache_stop(void)
{
    pthread_mutex_lock(&A.mu);
    for (int i = 0; A.slots && i < SLOTS; i++)
        slot_clear(&A.slots[i]);
    free(A.slots);
    A.slots = NULL;
    A.ttl = 0;
    pthread_mutex_unlock(&A.mu);
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
    return atomic_load(&A.epoch);
}

/* "<tenant>/<key>" into full; false when it does not fit. */
static bool full_key(char full[KEY_MAX], const char *tenant_id, const char *key)
{
    int n = snprintf(full, KEY_MAX, "%s/%s", tenant_id, key);
    return n > 0 && n < KEY_MAX;
}

char *availability_cache_get(struct arena *a, const char *tenant_id, const char *key, size_t *len)
{
    char full[KEY_MAX];
    if (A.ttl <= 0 || !cache_bus_listening() || !full_key(full, tenant_id, key))
        return NULL;
    char *copy = NULL;
    double now = now_seconds();
    pthread_mutex_lock(&A.mu);
    struct slot *sl = A.slots ? slot_of(full) : NULL;
    if (sl && sl->body && sl->valid_until > now && strcmp(sl->key, full) == 0) {
        copy = arena_alloc(a, sl->len + 1);
        memcpy(copy, sl->body, sl->len);
        copy[sl->len] = '\0';
        *len = sl->len;
    }
    pthread_mutex_unlock(&A.mu);
    return copy;
}

void availability_cache_put(const char *tenant_id, const char *key, const char *body, size_t len,
                            uint64_t epoch)
{
    char full[KEY_MAX];
    if (A.ttl <= 0 || !cache_bus_listening() || !full_key(full, tenant_id, key))
        return;
    char *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, body, len);
    pthread_mutex_lock(&A.mu);
    if (A.slots && atomic_load(&A.epoch) == epoch && cache_bus_listening()) {
        struct slot *sl = slot_of(full);
        slot_clear(sl);
        memcpy(sl->key, full, sizeof(full));
        snprintf(sl->tenant_id, sizeof(sl->tenant_id), "%s", tenant_id);
        sl->body = copy;
        sl->len = len;
        sl->valid_until = now_seconds() + A.ttl;
        copy = NULL;
    }
    pthread_mutex_unlock(&A.mu);
    free(copy);
}

void availability_cache_invalidate(const char *tenant_id)
{
    cache_bus_publish((const char[]){CACHE_BUS_AVAILABILITY, '\0'}, tenant_id);
}
