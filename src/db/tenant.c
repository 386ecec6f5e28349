/*
 * tenant.c — the studio registry: Host → organization.
 *
 * Every request on a studio host needs its organization, so lookups are
 * cached in-process for TENANT_CACHE_SECONDS. That is the longest a status
 * change made by another studiod process (a suspension) takes to show; this
 * process drops its own entry at once (tenant_cache_forget). Negative
 * answers are not cached, so a studio is served the moment its signup
 * commits. The cache is a fixed open-addressed table; when a slot is taken
 * by another host, the newer entry replaces it (a cache, not a store).
 */
#include "studiod/tenant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/config.h"
#include "studiod/db.h"
#include "studiod/log.h"

#define TENANT_CACHE_SECONDS 5
#define TENANT_CACHE_SLOTS 4096

struct cache_entry {
    char host[256];
    time_t expires;
    struct tenant t;
};

static struct cache_entry cache[TENANT_CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The plan's limits (NULL = unlimited, sent as -1) and read_only ride along: see
 * migrations/master/0006_billing.sql and src/modules/billing. */
#define TENANT_PLAN_COLUMNS                                                                        \
    "       coalesce(o.plan_id, '') AS plan_id, coalesce(p.max_rooms, -1) AS max_rooms,"           \
    "       coalesce(p.max_staff, -1) AS max_staff,"                                               \
    "       coalesce(p.max_bookings_per_month, -1) AS max_bookings_per_month,"                     \
    "       (o.status = 'trial' AND o.trial_ends_at IS NOT NULL AND o.trial_ends_at <= now())"     \
    "         AS read_only"

static const char sql_by_slug[] =
    "SELECT o.id, o.slug, o.name, o.status, o.db_name, coalesce(o.db_server, '') AS db_server,"
    "       o.timezone, o.currency, coalesce(to_char(o.trial_ends_at AT TIME ZONE 'UTC',"
    "                                  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS trial_ends_at,"
    TENANT_PLAN_COLUMNS
    "  FROM organizations o LEFT JOIN plans p ON p.id = o.plan_id WHERE o.slug = $1";

static const char sql_by_domain[] =
    "SELECT o.id, o.slug, o.name, o.status, o.db_name, coalesce(o.db_server, '') AS db_server,"
    "       o.timezone, o.currency, coalesce(to_char(o.trial_ends_at AT TIME ZONE 'UTC',"
    "                                  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS trial_ends_at,"
    TENANT_PLAN_COLUMNS
    "  FROM domains d JOIN organizations o ON o.id = d.organization_id"
    "  LEFT JOIN plans p ON p.id = o.plan_id"
    " WHERE lower(d.hostname) = $1 AND d.verified_at IS NOT NULL";

static unsigned hash_host(const char *s);
static void fill(struct tenant *t, PGresult *r);
static int load(struct db_conn *c, const char *sql, const char *key, struct tenant *out);
static bool is_ip_literal(const char *host);

static unsigned hash_host(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void fill(struct tenant *t, PGresult *r)
{
#define COPY(field) snprintf(t->field, sizeof(t->field), "%s", db_get(r, 0, #field) ? db_get(r, 0, #field) : "")
    COPY(id);
    COPY(slug);
    COPY(name);
    COPY(status);
    COPY(db_name);
    COPY(db_server);
    COPY(timezone);
    COPY(currency);
    COPY(trial_ends_at);
    COPY(plan_id);
#undef COPY
#define INT(field) t->field = db_get(r, 0, #field) ? atoi(db_get(r, 0, #field)) : -1
    INT(max_rooms);
    INT(max_staff);
    INT(max_bookings_per_month);
#undef INT
    const char *ro = db_get(r, 0, "read_only");
    t->read_only = ro && strcmp(ro, "t") == 0;
}

/* 0 found, -1 not found, -2 database error. */
static int load(struct db_conn *c, const char *sql, const char *key, struct tenant *out)
{
    const char *p[] = {key};
    PGresult *r = db_exec(c, sql, 1, p, NULL);
    if (!r)
        return -2;
    int rc = PQntuples(r) == 1 ? 0 : -1;
    if (rc == 0)
        fill(out, r);
    PQclear(r);
    return rc;
}

int tenant_load(struct db_conn *master, const char *slug, struct tenant *out)
{
    return load(master, sql_by_slug, slug, out) == 0 ? 0 : -1;
}

int tenant_job_open(const char *slug, struct db_conn **m, struct tenant *tn, struct db_conn **t,
                    char *err, size_t errlen)
{
    *m = db_acquire_master();
    if (!*m) {
        snprintf(err, errlen, "master database unavailable");
        return TENANT_JOB_DB_DOWN;
    }
    if (tenant_load(*m, slug, tn) != 0) {
        db_release(*m);
        snprintf(err, errlen, "studio %s not found", slug);
        return TENANT_JOB_NO_STUDIO;
    }
    *t = db_acquire(tn->db_server, tn->db_name);
    if (!*t) {
        db_release(*m);
        snprintf(err, errlen, "database of %s unavailable", slug);
        return TENANT_JOB_DB_DOWN;
    }
    return 0;
}

static bool is_ip_literal(const char *host)
{
    if (host[0] == '[')
        return true;
    for (const char *p = host; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return false;
    return true;
}

bool tenant_is_live(const struct tenant *t)
{
    return strcmp(t->status, "trial") == 0 || strcmp(t->status, "active") == 0;
}

enum tenant_lookup tenant_resolve(const char *host, struct tenant *out)
{
    const char *base = g_config.base_domain;
    size_t hl = strlen(host), bl = strlen(base);
    if (!*host || is_ip_literal(host) || strcmp(host, base) == 0 ||
        (hl > 4 && strncmp(host, "www.", 4) == 0 && strcmp(host + 4, base) == 0))
        return TENANT_NOT_A_STUDIO;
    if (hl >= sizeof(cache[0].host))
        return TENANT_UNKNOWN;

    unsigned slot = hash_host(host) % TENANT_CACHE_SLOTS;
    time_t now = time(NULL);
    pthread_mutex_lock(&cache_lock);
    if (cache[slot].expires > now && strcmp(cache[slot].host, host) == 0) {
        *out = cache[slot].t;
        pthread_mutex_unlock(&cache_lock);
        return tenant_is_live(out) ? TENANT_FOUND
               : strcmp(out->status, "suspended") == 0 ? TENANT_SUSPENDED
                                                       : TENANT_UNKNOWN;
    }
    pthread_mutex_unlock(&cache_lock);

    const char *sql = sql_by_domain;
    const char *key = host;
    char slug[64];
    if (hl > bl + 1 && host[hl - bl - 1] == '.' && strcmp(host + hl - bl, base) == 0) {
        size_t sl = hl - bl - 1;
        if (sl >= sizeof(slug) || memchr(host, '.', sl))
            return TENANT_UNKNOWN; /* a.b.<base>: not ours */
        memcpy(slug, host, sl);
        slug[sl] = '\0';
        sql = sql_by_slug;
        key = slug;
    }
    struct db_conn *c = db_acquire_master();
    if (!c)
        return TENANT_DB_DOWN;
    int rc = load(c, sql, key, out);
    db_release(c);
    if (rc == -2)
        return TENANT_DB_DOWN;
    if (rc == -1)
        return TENANT_UNKNOWN;

    pthread_mutex_lock(&cache_lock);
    snprintf(cache[slot].host, sizeof(cache[slot].host), "%s", host);
    cache[slot].t = *out;
    cache[slot].expires = now + TENANT_CACHE_SECONDS;
    pthread_mutex_unlock(&cache_lock);

    if (tenant_is_live(out))
        return TENANT_FOUND;
    return strcmp(out->status, "suspended") == 0 ? TENANT_SUSPENDED : TENANT_UNKNOWN;
}

void tenant_cache_forget(const char *slug)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < TENANT_CACHE_SLOTS; i++)
        if (cache[i].expires && strcmp(cache[i].t.slug, slug) == 0)
            cache[i].expires = 0;
    pthread_mutex_unlock(&cache_lock);
}

char *tenant_db_name(struct arena *a, const char *slug)
{
    char *s = arena_printf(a, "studio_%s", slug);
    for (char *p = s; *p; p++)
        if (*p == '-')
            *p = '_';
    return s;
}
