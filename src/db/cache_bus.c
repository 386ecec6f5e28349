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

#include "studiod/db.h"
#include "studiod/log.h"

#define MAX_KINDS 8
#define POLL_MS 500
#define RECONNECT_MS 1000
#define APPLICATION_NAME "studiod-cache-bus"

static struct {
    struct {
        char kind;
        cache_bus_drop_fn drop;
    } subs[MAX_KINDS];
    int nsubs;
    atomic_bool listening;
    atomic_bool stop;
    pthread_t thread;
    bool running;
} B;

static const char sql_notify[] = "SELECT pg_notify('" CACHE_BUS_CHANNEL "', $1)";

void cache_bus_subscribe(char kind, cache_bus_drop_fn drop)
{
    if (B.nsubs < MAX_KINDS) {
        B.subs[B.nsubs].kind = kind;
        B.subs[B.nsubs].drop = drop;
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
            B.subs[i].drop(tenant_id);
}

void cache_bus_publish(const char *kinds, const char *tenant_id)
{
    if (!B.running || !kinds || !*kinds)
        return; /* nothing caches in this process (CLI, tests without a server) */
    for (const char *k = kinds; *k; k++)
        drop_local(*k, tenant_id);
    char payload[64];
    snprintf(payload, sizeof(payload), "%.8s:%s", kinds, tenant_id ? tenant_id : "*");
    const char *p[] = {payload};
    struct db_conn *m = db_acquire_master();
    if (!m || db_run(m, sql_notify, 1, p) != 0)
        log_msg(LOG_WARN, "cache bus: could not tell other processes to drop %s", payload);
    db_release(m);
}

/* "<kinds>:<studio id or *>" from another process (or this one). */
static void take(const char *payload)
{
    const char *colon = payload ? strchr(payload, ':') : NULL;
    if (!colon)
        return;
    const char *who = colon + 1;
    for (const char *k = payload; k < colon; k++)
        drop_local(*k, *who && strcmp(who, "*") != 0 ? who : NULL);
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
    atomic_store(&B.stop, false);
    if (pthread_create(&B.thread, NULL, listen_main, NULL) != 0)
        return -1;
    B.running = true;
    return 0;
}

void cache_bus_stop(void)
{
    if (!B.running)
        return;
    atomic_store(&B.stop, true);
    pthread_join(B.thread, NULL);
    B.running = false;
    atomic_store(&B.listening, false);
    drop_local(0, NULL);
}
