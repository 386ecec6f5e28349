/*
 * pool.c — bounded PostgreSQL connection pools, one per database.
 *
 * One mutex guards every pool (checkouts are short; a global lock keeps the
 * total bound exact). A checkout:
 *   1. takes the most recently used idle connection of that database and
 *      health-checks it (PQconsumeInput reads any pending EOF or
 *      termination notice without blocking, so a connection killed by a
 *      server restart is seen as CONNECTION_BAD and replaced);
 *   2. else opens one if the database and the total are under their bounds,
 *      first closing the least recently used idle connection of another
 *      database when only the total is full;
 *   3. else waits on a condition variable, at most STUDIOD_POOL_WAIT_MS,
 *      and gives up (the caller answers 503).
 * Connecting happens outside the lock, with a reservation counted in
 * `opening` so the bounds hold meanwhile.
 */
#include "studiod/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/deadline.h"
#include "studiod/log.h"

#define CONNECT_TIMEOUT_SECONDS "3"

struct db_pool {
    char *key; /* server "\x1f" dbname */
    char *server;
    char *dbname;
    int in_use, opening;
    struct db_conn *idle; /* most recently used first */
    int nidle;
    struct db_pool *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *master_url;
    int per_db, total, wait_ms, idle_seconds;
    struct db_pool *pools;
    int in_use, idle, opening, waiting;
    long long opened, closed, timeouts;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER, .freed = PTHREAD_COND_INITIALIZER};

static double now_seconds(void);
static struct db_pool *pool_find(const char *server, const char *dbname, bool create);
static bool pool_close_lru_idle(struct db_pool *except);
static void conn_close(struct db_conn *c);
static bool conn_healthy(struct db_conn *c);
static void pool_reap_idle(double now);

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int db_init(const char *master_url, int per_db, int total, int wait_ms, int idle_seconds)
{
    pthread_mutex_lock(&P.lock);
    free(P.master_url);
    P.master_url = strdup(master_url);
    P.per_db = per_db;
    P.total = total;
    P.wait_ms = wait_ms;
    P.idle_seconds = idle_seconds;
    pthread_mutex_unlock(&P.lock);
    return P.master_url ? 0 : -1;
}

/* Called with the lock held. */
static struct db_pool *pool_find(const char *server, const char *dbname, bool create)
{
    const char *srv = server && *server ? server : "";
    const char *db = dbname ? dbname : "";
    for (struct db_pool *p = P.pools; p; p = p->next)
        if (strcmp(p->server, srv) == 0 && strcmp(p->dbname, db) == 0)
            return p;
    if (!create)
        return NULL;
    struct db_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->server = strdup(srv);
    p->dbname = strdup(db);
    p->next = P.pools;
    P.pools = p;
    return p;
}

static void conn_close(struct db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    db_conn_free_statements(c);
    free(c);
}

/* Called with the lock held: closes the least recently used idle connection
 * of any pool but `except`. */
static bool pool_close_lru_idle(struct db_pool *except)
{
    struct db_pool *victim_pool = NULL;
    struct db_conn *victim = NULL, *victim_prev = NULL;
    for (struct db_pool *p = P.pools; p; p = p->next) {
        if (p == except)
            continue;
        struct db_conn *prev = NULL;
        for (struct db_conn *c = p->idle; c; prev = c, c = c->next)
            if (!victim || c->last_used < victim->last_used) {
                victim = c;
                victim_prev = prev;
                victim_pool = p;
            }
    }
    if (!victim)
        return false;
    if (victim_prev)
        victim_prev->next = victim->next;
    else
        victim_pool->idle = victim->next;
    victim_pool->nidle--;
    P.idle--;
    P.closed++;
    conn_close(victim);
    return true;
}

/* Called with the lock held: closes connections idle for too long. */
static void pool_reap_idle(double now)
{
    if (P.idle_seconds <= 0)
        return;
    for (struct db_pool *p = P.pools; p; p = p->next) {
        struct db_conn **pp = &p->idle;
        while (*pp) {
            struct db_conn *c = *pp;
            if (now - c->last_used > P.idle_seconds) {
                *pp = c->next;
                p->nidle--;
                P.idle--;
                P.closed++;
                conn_close(c);
            } else {
                pp = &c->next;
            }
        }
    }
}

static bool conn_healthy(struct db_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return false;
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return false;
    /* Reads whatever the server sent while we were idle (EOF, a FATAL
     * "terminating connection"); libpq then marks the connection bad. */
    if (!PQconsumeInput(c->pg))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);
    return PQstatus(c->pg) == CONNECTION_OK;
}

PGconn *db_connect_direct(const char *server, const char *dbname)
{
    const char *keys[4], *vals[4];
    int k = 0;
    keys[k] = "dbname";
    vals[k++] = server && *server ? server : P.master_url;
    if (dbname && *dbname) {
        keys[k] = "dbname"; /* a later dbname overrides the one in the URL */
        vals[k++] = dbname;
    }
    keys[k] = "connect_timeout";
    vals[k++] = CONNECT_TIMEOUT_SECONDS;
    keys[k] = NULL;
    vals[k] = NULL;
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        log_msg(LOG_WARN, "database connect failed (%s): %s", dbname ? dbname : "master",
                PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

struct db_conn *db_acquire(const char *server, const char *dbname)
{
    struct timespec deadline = deadline_after_ms(CLOCK_REALTIME, P.wait_ms);

    pthread_mutex_lock(&P.lock);
    struct db_pool *p = pool_find(server, dbname, true);
    if (!p) {
        pthread_mutex_unlock(&P.lock);
        return NULL;
    }
    for (;;) {
        double now = now_seconds();
        pool_reap_idle(now);
        while (p->idle) {
            struct db_conn *c = p->idle;
            p->idle = c->next;
            p->nidle--;
            P.idle--;
            if (conn_healthy(c)) {
                c->next = NULL;
                c->broken = false;
                p->in_use++;
                P.in_use++;
                pthread_mutex_unlock(&P.lock);
                return c;
            }
            P.closed++;
            conn_close(c); /* dead: drop it and try the next, or open anew */
        }
        int used = P.in_use + P.idle + P.opening;
        int used_db = p->in_use + p->opening;
        if (used_db < P.per_db && (used < P.total || pool_close_lru_idle(p))) {
            p->opening++;
            P.opening++;
            pthread_mutex_unlock(&P.lock);
            PGconn *pg = db_connect_direct(p->server, p->dbname);
            pthread_mutex_lock(&P.lock);
            p->opening--;
            P.opening--;
            if (!pg) {
                pthread_cond_broadcast(&P.freed);
                pthread_mutex_unlock(&P.lock);
                return NULL;
            }
            struct db_conn *c = calloc(1, sizeof(*c));
            if (!c) {
                PQfinish(pg);
                pthread_mutex_unlock(&P.lock);
                return NULL;
            }
            c->pg = pg;
            c->pool = p;
            p->in_use++;
            P.in_use++;
            P.opened++;
            pthread_mutex_unlock(&P.lock);
            return c;
        }
        P.waiting++;
        int rc = pthread_cond_timedwait(&P.freed, &P.lock, &deadline);
        P.waiting--;
        if (rc == ETIMEDOUT) {
            P.timeouts++;
            pthread_mutex_unlock(&P.lock);
            log_msg(LOG_WARN, "no database connection for %s within %d ms",
                    dbname ? dbname : "master", P.wait_ms);
            return NULL;
        }
    }
}

struct db_conn *db_acquire_master(void)
{
    return db_acquire(NULL, NULL);
}

void db_release(struct db_conn *c)
{
    if (!c)
        return;
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        /* A handler left a transaction open: roll it back rather than leak it. */
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            c->broken = true;
    }
    pthread_mutex_lock(&P.lock);
    struct db_pool *p = c->pool;
    p->in_use--;
    P.in_use--;
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
        P.closed++;
        conn_close(c);
    } else {
        c->last_used = now_seconds();
        c->next = p->idle;
        p->idle = c;
        p->nidle++;
        P.idle++;
    }
    pthread_cond_broadcast(&P.freed);
    pthread_mutex_unlock(&P.lock);
}

void db_forget(const char *server, const char *dbname)
{
    pthread_mutex_lock(&P.lock);
    struct db_pool *p = pool_find(server, dbname, false);
    if (p) {
        while (p->idle) {
            struct db_conn *c = p->idle;
            p->idle = c->next;
            p->nidle--;
            P.idle--;
            P.closed++;
            conn_close(c);
        }
    }
    pthread_mutex_unlock(&P.lock);
}

void db_shutdown(void)
{
    pthread_mutex_lock(&P.lock);
    struct db_pool *p = P.pools;
    while (p) {
        struct db_pool *next = p->next;
        while (p->idle) {
            struct db_conn *c = p->idle;
            p->idle = c->next;
            conn_close(c);
        }
        /* connections still in use belong to their holders; with the server
         * drained there are none. */
        free(p->server);
        free(p->dbname);
        free(p->key);
        free(p);
        p = next;
    }
    P.pools = NULL;
    P.idle = 0;
    P.opened = P.closed = P.timeouts = 0;
    free(P.master_url);
    P.master_url = NULL;
    pthread_mutex_unlock(&P.lock);
}

void db_stats(struct db_pool_stats *out)
{
    pthread_mutex_lock(&P.lock);
    out->in_use = P.in_use;
    out->idle = P.idle;
    out->waiting = P.waiting;
    out->pools = 0;
    for (struct db_pool *p = P.pools; p; p = p->next)
        out->pools++;
    out->opened = P.opened;
    out->closed = P.closed;
    out->timeouts = P.timeouts;
    pthread_mutex_unlock(&P.lock);
}
