/*
 * cache_bus.c — the LISTEN thread and NOTIFY of cache_bus.h.
 */
#include "studiod/cache_bus.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "studiod/db.h"
#include "studiod/deadline.h"
#include "studiod/log.h"

#define MAX_KINDS 8
#define POLL_MS 500
#define RECONNECT_MS 1000
#define APPLICATION_NAME "studiod-cache-bus"
#define PAYLOAD_MAX 80  /* "<kinds>:<studio id>/<origin>" */
#define PENDING_MAX 128 /* distinct payloads waiting; past that, one "drop everything" */
/* How long the sender lets payloads gather after the first before it sends: under load,
 * every booking of a studio in that window is one payload of one NOTIFY, instead of a
 * round trip, a commit and a wake-up of every listener each (measured: 0.79 NOTIFY
 * statements per booking without it). */
#define GATHER_MS 2

static struct {
    struct {
        char kind;
        cache_bus_drop_fn drop;
        void *ctx;
    } subs[MAX_KINDS];
    int nsubs;
    atomic_bool listening;
    /* This process's mark on what it publishes: its own NOTIFYs were dropped here when
     * published, so the listener passes over them. */
    char origin[17];
    atomic_bool stop;
    pthread_t thread;
    bool running;
    /* What waits for the sender thread: distinct payloads, or everything (overflow). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char pending[PENDING_MAX][PAYLOAD_MAX];
    int npending;
    bool overflow;
    pthread_t sender;
} B = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One round trip for a batch: $1 is a text[] of payloads. */
static const char sql_notify[] =
    "SELECT count(pg_notify('" CACHE_BUS_CHANNEL "', p)) FROM unnest($1::text[]) p";

void cache_bus_subscribe(char kind, cache_bus_drop_fn drop, void *ctx)
{
    if (B.nsubs < MAX_KINDS) {
        B.subs[B.nsubs].kind = kind;
        B.subs[B.nsubs].drop = drop;
        B.subs[B.nsubs].ctx = ctx;
        B.nsubs++;
    }
}

bool cache_bus_listening(void)
{
    return atomic_load(&B.listening);
}

/* Calls the drop functions of kind (0: of every kind) for tenant_id (NULL: all). */
static void drop_local(char kind, const char *tenant_id)
{
    for (int i = 0; i < B.nsubs; i++)
        if (!kind || B.subs[i].kind == kind)
            B.subs[i].drop(B.subs[i].ctx, tenant_id);
}

/* Here at once; elsewhere through the sender thread, which NOTIFYs what piled up in one
 * statement (a request does not wait for it; other processes hear within milliseconds). */
void cache_bus_publish(const char *kinds, const char *tenant_id)
{
    if (!B.running || !kinds || !*kinds)
        return; /* nothing caches in this process (CLI, tests without a server) */
    for (const char *k = kinds; *k; k++)
        drop_local(*k, tenant_id);
    char payload[PAYLOAD_MAX];
    snprintf(payload, sizeof(payload), "%.8s:%s/%s", kinds, tenant_id ? tenant_id : "*", B.origin);
    pthread_mutex_lock(&B.mu);
    bool first = B.npending == 0 && !B.overflow, known = false;
    for (int i = 0; i < B.npending && !known; i++)
        known = strcmp(B.pending[i], payload) == 0;
    if (!known && B.npending < PENDING_MAX)
        memcpy(B.pending[B.npending++], payload, sizeof(payload));
    else if (!known)
        B.overflow = true;
    if (first) /* the sender is waiting for work, not gathering */
        pthread_cond_signal(&B.cv);
    pthread_mutex_unlock(&B.mu);
}

/* The batch as a PostgreSQL text[] literal ({"a","b"}; payloads hold no quote or
 * backslash: kind letters, ':', a uuid or '*'), into out. */
static void batch_literal(char (*items)[PAYLOAD_MAX], int n, char *out, size_t cap)
{
    size_t len = 0;
    out[len++] = '{';
    for (int i = 0; i < n && len + PAYLOAD_MAX + 4 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", i ? "," : "", items[i]);
    snprintf(out + len, cap - len, "}");
}

static void *send_main(void *arg)
{
    (void)arg;
    PGconn *pg = NULL;
    static char items[PENDING_MAX][PAYLOAD_MAX];
    static char literal[PENDING_MAX * (PAYLOAD_MAX + 3) + 8];
    for (;;) {
        pthread_mutex_lock(&B.mu);
        while (B.npending == 0 && !B.overflow && !atomic_load(&B.stop))
            pthread_cond_wait(&B.cv, &B.mu);
        if (B.npending == 0 && !B.overflow && atomic_load(&B.stop)) {
            pthread_mutex_unlock(&B.mu);
            break;
        }
        /* GATHER_MS for more (woken early only by cache_bus_stop). */
        struct timespec until = deadline_after_ms(CLOCK_REALTIME, GATHER_MS);
        while (!atomic_load(&B.stop) && pthread_cond_timedwait(&B.cv, &B.mu, &until) == 0)
            ;
        int n = 0;
        if (B.overflow) { /* too many to name: every kind of every studio */
            int k = 0;
            for (int i = 0; i < B.nsubs && k < 8; i++)
                if (!memchr(items[0], B.subs[i].kind, (size_t)k))
                    items[0][k++] = B.subs[i].kind;
            snprintf(items[0] + k, PAYLOAD_MAX - (size_t)k, ":*/%s", B.origin);
            n = 1;
        } else {
            memcpy(items, B.pending, sizeof(items[0]) * (size_t)B.npending);
            n = B.npending;
        }
        B.npending = 0;
        B.overflow = false;
        pthread_mutex_unlock(&B.mu);

        batch_literal(items, n, literal, sizeof(literal));
        const char *p[] = {literal};
        PGresult *r = NULL;
        for (int attempt = 0; attempt < 2 && !r; attempt++) {
            if (!pg || PQstatus(pg) != CONNECTION_OK) {
                PQfinish(pg);
                pg = db_connect_direct(NULL, NULL);
            }
            r = pg ? PQexecParams(pg, sql_notify, 1, NULL, p, NULL, NULL, 0) : NULL;
            if (r && PQresultStatus(r) != PGRES_TUPLES_OK) {
                PQclear(r);
                r = NULL;
                PQfinish(pg);
                pg = NULL;
            }
        }
        if (!r)
            log_msg(LOG_WARN, "cache bus: could not tell other processes to drop %s%s", items[0],
                    n > 1 ? " and more" : "");
        PQclear(r);
    }
    PQfinish(pg);
    return NULL;
}

/* "<kinds>:<studio id or *>/<origin>" from another process; this process's own (its
 * origin) were dropped here when published. */
static void take(const char *payload)
{
    const char *colon = payload ? strchr(payload, ':') : NULL;
    const char *slash = colon ? strchr(colon, '/') : NULL;
    if (!colon || !slash || strcmp(slash + 1, B.origin) == 0)
        return;
    char who[PAYLOAD_MAX];
    snprintf(who, sizeof(who), "%.*s", (int)(slash - colon - 1), colon + 1);
    for (const char *k = payload; k < colon; k++)
        drop_local(*k, who[0] && strcmp(who, "*") != 0 ? who : NULL);
}

static void pause_ms(int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&B.stop); waited += 100) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* One LISTEN connection's life: returns when it breaks or on stop. */
static void listen_once(void)
{
    PGconn *pg = db_connect_direct(NULL, NULL);
    if (!pg)
        return;
    PGresult *r = PQexec(pg, "SET application_name = '" APPLICATION_NAME "';"
                             " LISTEN " CACHE_BUS_CHANNEL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        log_msg(LOG_WARN, "cache bus: LISTEN failed: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return;
    }
    /* Whatever was published while nobody listened is unknown: drop everything, and
     * lookups that began before this point cannot be stored (the caches' epochs). */
    drop_local(0, NULL);
    atomic_store(&B.listening, true);
    while (!atomic_load(&B.stop)) {
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        int rc = poll(&pfd, 1, POLL_MS);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0) {
            if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK)
                break;
            PGnotify *n;
            while ((n = PQnotifies(pg)) != NULL) {
                take(n->extra);
                PQfreemem(n);
            }
        }
    }
    atomic_store(&B.listening, false);
    drop_local(0, NULL);
    if (!atomic_load(&B.stop))
        log_msg(LOG_WARN, "cache bus: LISTEN connection lost (%s); caches off until it is back",
                PQerrorMessage(pg));
    PQfinish(pg);
}

static void *listen_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&B.stop)) {
        listen_once();
        pause_ms(RECONNECT_MS);
    }
    return NULL;
}

int cache_bus_start(void)
{
    if (B.running)
        return 0;
    unsigned char mark[8];
    randombytes_buf(mark, sizeof(mark));
    sodium_bin2hex(B.origin, sizeof(B.origin), mark, sizeof(mark));
    atomic_store(&B.stop, false);
    if (pthread_create(&B.thread, NULL, listen_main, NULL) != 0)
        return -1;
    if (pthread_create(&B.sender, NULL, send_main, NULL) != 0) {
        atomic_store(&B.stop, true);
        pthread_join(B.thread, NULL);
        return -1;
    }
    B.running = true;
    return 0;
}

void cache_bus_stop(void)
{
    if (!B.running)
        return;
    atomic_store(&B.stop, true);
    pthread_mutex_lock(&B.mu);
    pthread_cond_signal(&B.cv);
    pthread_mutex_unlock(&B.mu);
    pthread_join(B.sender, NULL); /* sends what is still pending first */
    pthread_join(B.thread, NULL);
    B.running = false;
    atomic_store(&B.listening, false);
    drop_local(0, NULL);
    B.nsubs = 0; /* the caches are freed next */
}
