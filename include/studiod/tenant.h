/*
 * tenant.h — the registry of studios in the master database, and
 * resolving a request's Host to one.
 */
#ifndef STUDIOD_TENANT_H
#define STUDIOD_TENANT_H

#include <stdbool.h>

#include "studiod/arena.h"

struct db_conn;

struct tenant {
    char id[40];
    char slug[48];
    char name[128];
    char status[16]; /* provisioning, trial, active, suspended */
    char db_name[64];
    char db_server[256]; /* "" = the master's server */
    char timezone[64];
    char currency[4];
    char trial_ends_at[40];
    /* The plan's limits, cached with the rest so that enforcing them costs no query when
     * a limit is unlimited (-1); src/modules/billing enforces them. */
    char plan_id[33];
    int max_rooms;              /* -1 = unlimited */
    int max_staff;              /* -1 = unlimited */
    int max_bookings_per_month; /* -1 = unlimited */
    /* The trial is over and no paid subscription keeps the studio going: the back office
     * is read-only (src/http/middleware.c) and public booking is paused. */
    bool read_only;
};

enum tenant_lookup {
    TENANT_FOUND,
    TENANT_UNKNOWN,
    TENANT_SUSPENDED,
    TENANT_NOT_A_STUDIO, /* the bare domain or an IP: no tenant wanted */
    TENANT_DB_DOWN,
};

/* Resolves a Host (lower-case, no port) into *out, from a short-lived cache or the
 * master database. */
enum tenant_lookup tenant_resolve(const char *host, struct tenant *out);
/* Loads one by slug (no cache). 0, or -1 when not found or on error. */
int tenant_load(struct db_conn *master, const char *slug, struct tenant *out);
/* For a background job about studio slug: a master connection (*m), the studio (*tn) and a
 * connection to its database (*t). 0, and the caller releases both; else nothing is held
 * and err says why: TENANT_JOB_NO_STUDIO when the studio could not be loaded,
 * TENANT_JOB_DB_DOWN when a database could not be reached (worth a retry). */
#define TENANT_JOB_NO_STUDIO (-2)
#define TENANT_JOB_DB_DOWN (-1)
struct db_conn;
int tenant_job_open(const char *slug, struct db_conn **m, struct tenant *tn, struct db_conn **t,
                    char *err, size_t errlen);
/* Drops the cached entry (after a status change in this process). */
void tenant_cache_forget(const char *slug);
/* The database name for a slug: studio_<slug with '-' as '_'>. */
char *tenant_db_name(struct arena *a, const char *slug);
/* True for studios that may be served (trial, active). */
bool tenant_is_live(const struct tenant *t);

#endif
