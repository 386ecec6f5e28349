/*
 * session_cache.c — the per-process staff session cache (session_cache.h):
 * a fixed table of slots under one mutex; invalidations from other
 * processes arrive through the cache bus (cache_bus.h).
 *
 * The table is direct-mapped (a slot per hash of studio id + token hash; a
 * collision replaces the older entry), so it never grows and never needs
 * eviction. Every invalidation advances an epoch; a put carries the epoch read
 * before its database query and is dropped when the epoch moved, so a lookup
 * that raced with a logout cannot bring the old session back.
 */
#include "studiod/session_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/cache_bus.h"
#include "studiod/http.h"

#define SLOTS 4096  /* power of two */
#define KEY_MAX 112 /* "<tenant uuid>/<sha-256 hex>" */
#define TTL_MAX 50

struct slot {
    char key[KEY_MAX];
    char tenant_id[40];
    double valid_until; /* 0: empty */
    struct session s;
};

static struct {
    pthread_mutex_t mu;
    struct slot *slots;
    int ttl;
    atomic_uint_fast64_t epoch;
} C = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool make_key(char out[KEY_MAX], const char *tenant_id, const char *token_hash)
{
    int n = snprintf(out, KEY_MAX, "%s/%s", tenant_id, token_hash);
    return n > 0 && n < KEY_MAX;
}

static struct slot *slot_of(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &C.slots[h & (SLOTS - 1)];
}

/* Empties the slots of tenant_id (NULL: all) and advances the epoch. Under C.mu. */
static void drop_locked(const char *tenant_id)
{
    atomic_fetch_add(&C.epoch, 1);
    if (!C.slots)
        return;
    for (int i = 0; i < SLOTS; i++) {
        struct slot *sl = &C.slots[i];
        if (sl->valid_until > 0 && (!tenant_id || strcmp(sl->tenant_id, tenant_id) == 0))
            sl->valid_until = 0;
    }
}

/* The cache bus's drop function for sessions. */
static void drop(const char *tenant_id)
{
    pthread_mutex_lock(&C.mu);
    drop_locked(tenant_id);
    pthread_mutex_unlock(&C.mu);
}

bool session_cache_active(void)
{
    return C.ttl > 0 && cache_bus_listening();
}

uint64_t session_cache_epoch(void)
{
    return atomic_load(&C.epoch);
}

bool session_cache_get(const char *tenant_id, const char *token_hash, struct session *out)
{
    char key[KEY_MAX];
    if (!session_cache_active() || !make_key(key, tenant_id, token_hash))
        return false;
    double now = now_seconds();
    bool hit = false;
    pthread_mutex_lock(&C.mu);
    struct slot *sl = C.slots ? slot_of(key) : NULL;
    if (sl && sl->valid_until > now && strcmp(sl->key, key) == 0) {
        *out = sl->s;
        hit = true;
    }
    pthread_mutex_unlock(&C.mu);
    return hit;
}

void session_cache_put(const char *tenant_id, const char *token_hash, const struct session *s,
                       double valid_until, uint64_t epoch)
{
    char key[KEY_MAX];
    if (!session_cache_active() || !make_key(key, tenant_id, token_hash))
        return;
    double cap = now_seconds() + C.ttl;
    if (valid_until > cap)
        valid_until = cap;
    pthread_mutex_lock(&C.mu);
    if (C.slots && atomic_load(&C.epoch) == epoch && cache_bus_listening()) {
        struct slot *sl = slot_of(key);
        memcpy(sl->key, key, sizeof(key));
        snprintf(sl->tenant_id, sizeof(sl->tenant_id), "%s", tenant_id);
        sl->s = *s;
        sl->valid_until = valid_until;
    }
    pthread_mutex_unlock(&C.mu);
}

void session_cache_forget(const char *tenant_id, const char *token_hash)
{
    char key[KEY_MAX];
    if (!C.slots || !make_key(key, tenant_id, token_hash))
        return;
    pthread_mutex_lock(&C.mu);
    atomic_fetch_add(&C.epoch, 1);
    struct slot *sl = C.slots ? slot_of(key) : NULL;
    if (sl && strcmp(sl->key, key) == 0)
        sl->valid_until = 0;
    pthread_mutex_unlock(&C.mu);
}

void session_cache_invalidate(const char *tenant_id, bool broadcast)
{
    if (broadcast)
        cache_bus_publish((const char[]){CACHE_BUS_SESSIONS, '\0'}, tenant_id);
    else
        drop(tenant_id);
}

int session_cache_start(int ttl_seconds)
{
    if (ttl_seconds <= 0 || C.slots)
        return 0;
    if (ttl_seconds > TTL_MAX)
        ttl_seconds = TTL_MAX; /* auth.c refreshes last_seen_at only on a miss, once a minute */
    C.slots = calloc(SLOTS, sizeof(*C.slots));
    if (!C.slots)
        return -1;
    C.ttl = ttl_seconds;
    cache_bus_subscribe(CACHE_BUS_SESSIONS, drop);
    return 0;
}

void session_cache_stop(void)
{
    pthread_mutex_lock(&C.mu);
    drop_locked(NULL);
    free(C.slots);
    C.slots = NULL;
    C.ttl = 0;
    pthread_mutex_unlock(&C.mu);
}
