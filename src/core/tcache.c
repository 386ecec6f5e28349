/*
 * tcache.c — see tcache.h.
 */
#include "studiod/tcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/cache_bus.h"

#define KEY_MAX 256 /* "<tenant uuid>/<key>" */

struct slot {
    char key[KEY_MAX];
    char tenant_id[40];
    double valid_until; /* 0: empty */
    void *value;
    size_t len;
};

struct tcache {
    pthread_mutex_t mu;
    struct slot *slots;
    int nslots;
    int ttl;
    atomic_uint_fast64_t epoch;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool full_key(char out[KEY_MAX], const char *tenant_id, const char *key)
{
    int n = snprintf(out, KEY_MAX, "%s/%s", tenant_id ? tenant_id : "", key ? key : "");
    return tenant_id && key && n > 0 && n < KEY_MAX;
}

static struct slot *slot_of(struct tcache *c, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &c->slots[h & (uint32_t)(c->nslots - 1)];
}

static void slot_clear(struct slot *sl)
{
    free(sl->value);
    sl->value = NULL;
    sl->len = 0;
    sl->valid_until = 0;
}

/* The cache bus's drop function: tenant_id's values (NULL: all). */
static void drop(void *ctx, const char *tenant_id)
{
    struct tcache *c = ctx;
    pthread_mutex_lock(&c->mu);
    atomic_fetch_add(&c->epoch, 1);
    for (int i = 0; i < c->nslots; i++) {
        struct slot *sl = &c->slots[i];
        if (sl->value && (!tenant_id || strcmp(sl->tenant_id, tenant_id) == 0))
            slot_clear(sl);
    }
    pthread_mutex_unlock(&c->mu);
}

struct tcache *tcache_new(char kind, int slots, int ttl_seconds)
{
    if (ttl_seconds <= 0 || slots <= 0 || (slots & (slots - 1)) != 0)
        return NULL;
    struct tcache *c = calloc(1, sizeof(*c));
    if (!c || !(c->slots = calloc((size_t)slots, sizeof(*c->slots)))) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->nslots = slots;
    c->ttl = ttl_seconds;
    cache_bus_subscribe(kind, drop, c);
    return c;
}

void tcache_free(struct tcache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nslots; i++)
        slot_clear(&c->slots[i]);
    free(c->slots);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint64_t tcache_epoch(const struct tcache *c)
{
    return c ? atomic_load(&c->epoch) : 0;
}

void *tcache_get(struct tcache *c, struct arena *a, const char *tenant_id, const char *key,
                 size_t *len)
{
    char full[KEY_MAX];
    if (!c || !cache_bus_listening() || !full_key(full, tenant_id, key))
        return NULL;
    char *copy = NULL;
    double now = now_seconds();
    pthread_mutex_lock(&c->mu);
    struct slot *sl = slot_of(c, full);
    if (sl->value && sl->valid_until > now && strcmp(sl->key, full) == 0) {
        copy = arena_alloc(a, sl->len + 1);
        memcpy(copy, sl->value, sl->len);
        copy[sl->len] = '\0';
        *len = sl->len;
    }
    pthread_mutex_unlock(&c->mu);
    return copy;
}

void tcache_put(struct tcache *c, const char *tenant_id, const char *key, const void *value,
                size_t len, double valid_until, uint64_t epoch)
{
    char full[KEY_MAX];
    if (!c || !cache_bus_listening() || !full_key(full, tenant_id, key))
        return;
    double cap = now_seconds() + c->ttl;
    if (valid_until <= 0 || valid_until > cap)
        valid_until = cap;
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, value, len);
    pthread_mutex_lock(&c->mu);
    if (atomic_load(&c->epoch) == epoch && cache_bus_listening()) {
        struct slot *sl = slot_of(c, full);
        slot_clear(sl);
        memcpy(sl->key, full, sizeof(full));
        snprintf(sl->tenant_id, sizeof(sl->tenant_id), "%s", tenant_id);
        sl->value = copy;
        sl->len = len;
        sl->valid_until = valid_until;
        copy = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(copy);
}

void tcache_forget(struct tcache *c, const char *tenant_id, const char *key)
{
    char full[KEY_MAX];
    if (!c || !full_key(full, tenant_id, key))
        return;
    pthread_mutex_lock(&c->mu);
    atomic_fetch_add(&c->epoch, 1);
    struct slot *sl = slot_of(c, full);
    if (sl->value && strcmp(sl->key, full) == 0)
        slot_clear(sl);
    pthread_mutex_unlock(&c->mu);
}
