/*
 * migrate.c — forward-only migrations.
 *
 * Files are migrations/<master|tenant>/NNNN_name.sql, applied in order of
 * NNNN. Each file runs in its own transaction together with the insert into
 * schema_migrations, so a file is applied entirely or not at all and a
 * second run is a no-op. A session-level advisory lock serialises
 * concurrent migrators on one database.
 *
 * The SQL text of a migration file is executed as-is (PQexec: it holds many
 * statements); it is our own source, not a value, so the "every value a
 * parameter" rule is not at stake.
 *
 * Tenant databases: the template database is migrated first, then every
 * tenant database listed in organizations (those still provisioning are
 * left to `tenant repair`). Provisioning clones the template, so a new
 * studio starts at the newest schema. Template and tenants share the
 * master's server; an organization on another server (db_server) is
 * migrated there, and that server must hold its own template before a
 * studio can be provisioned on it (not needed until tenants are spread).
 */
#include "studiod/migrate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/config.h"
#include "studiod/db.h"
#include "studiod/log.h"

#define MIGRATE_LOCK_KEY "7411520019"
#define MAX_MIGRATIONS 1000

static int cmp_names(const void *a, const void *b);
static char *read_file(const char *path);
static int exec_simple(PGconn *pg, const char *sql);
static int apply_one(PGconn *pg, const char *dir, const char *file, const char *label);
static int ensure_database(PGconn *master, const char *name);

static const char sql_create_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version int PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
static const char sql_is_applied[] = "SELECT 1 FROM schema_migrations WHERE version = $1";
static const char sql_record[] = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static int exec_simple(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        log_msg(LOG_ERROR, "migrate: %s", PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

/* 1 applied, 0 already there, -1 failed. */
static int apply_one(PGconn *pg, const char *dir, const char *file, const char *label)
{
    char version[16];
    snprintf(version, sizeof(version), "%d", atoi(file));
    if (exec_simple(pg, "BEGIN") != 0)
        return -1;
    const char *p1[] = {version};
    PGresult *r = PQexecParams(pg, sql_is_applied, 1, NULL, p1, NULL, NULL, 0);
    bool done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    if (done) {
        exec_simple(pg, "ROLLBACK");
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    char *sql = read_file(path);
    if (!sql) {
        log_msg(LOG_ERROR, "migrate: cannot read %s", path);
        exec_simple(pg, "ROLLBACK");
        return -1;
    }
    int rc = exec_simple(pg, sql);
    free(sql);
    if (rc == 0) {
        const char *p2[] = {version, file};
        r = PQexecParams(pg, sql_record, 2, NULL, p2, NULL, NULL, 0);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear(r);
    }
    if (rc != 0 || exec_simple(pg, "COMMIT") != 0) {
        log_msg(LOG_ERROR, "migrate %s: %s failed, rolled back", label, file);
        exec_simple(pg, "ROLLBACK");
        return -1;
    }
    log_msg(LOG_INFO, "migrate %s: applied %s", label, file);
    return 1;
}

int migrate_apply(PGconn *pg, const char *dir, const char *label)
{
    DIR *d = opendir(dir);
    if (!d) {
        log_msg(LOG_ERROR, "migrate: no folder %s", dir);
        return -1;
    }
    char *names[MAX_MIGRATIONS];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_MIGRATIONS) {
        size_t len = strlen(e->d_name);
        if (len > 9 && e->d_name[0] >= '0' && e->d_name[0] <= '9' &&
            strcmp(e->d_name + len - 4, ".sql") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_names);

    int applied = 0;
    if (exec_simple(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")") != 0 ||
        exec_simple(pg, sql_create_table) != 0)
        applied = -1;
    for (int i = 0; i < n && applied >= 0; i++) {
        int rc = apply_one(pg, dir, names[i], label);
        if (rc < 0)
            applied = -1;
        else
            applied += rc;
    }
    exec_simple(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
    for (int i = 0; i < n; i++)
        free(names[i]);
    return applied;
}

/* Creates database `name` on the master's server when it does not exist. */
static int ensure_database(PGconn *master, const char *name)
{
    const char *p[] = {name};
    PGresult *r = PQexecParams(master, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, p,
                               NULL, NULL, 0);
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    if (exists)
        return 0;
    char *ident = PQescapeIdentifier(master, name, strlen(name));
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident);
    PQfreemem(ident);
    return exec_simple(master, sql);
}

int migrate_all(void)
{
    PGconn *master = db_connect_direct(NULL, NULL);
    if (!master)
        return -1;
    char master_dir[4096], tenant_dir[4096];
    snprintf(master_dir, sizeof(master_dir), "%s", config_path("migrations/master"));
    snprintf(tenant_dir, sizeof(tenant_dir), "%s", config_path("migrations/tenant"));
    int rc = migrate_apply(master, master_dir, "master") < 0 ? -1 : 0;

    if (rc == 0 && ensure_database(master, MIGRATE_TEMPLATE_DB) != 0)
        rc = -1;
    if (rc == 0) {
        db_forget(NULL, MIGRATE_TEMPLATE_DB);
        PGconn *tpl = db_connect_direct(NULL, MIGRATE_TEMPLATE_DB);
        if (!tpl || migrate_apply(tpl, tenant_dir, "template") < 0)
            rc = -1;
        if (tpl)
            PQfinish(tpl);
    }
    if (rc == 0) {
        PGresult *r = PQexec(master, "SELECT slug, db_name, coalesce(db_server, '') AS db_server"
                                     " FROM organizations WHERE status <> 'provisioning'"
                                     " ORDER BY slug");
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = -1;
        for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
            const char *slug = db_get(r, i, "slug");
            PGconn *t = db_connect_direct(db_get(r, i, "db_server"), db_get(r, i, "db_name"));
            if (!t || migrate_apply(t, tenant_dir, slug) < 0) {
                log_msg(LOG_ERROR, "migrate: studio %s failed", slug);
                rc = -1;
            }
            if (t)
                PQfinish(t);
        }
        PQclear(r);
    }
    PQfinish(master);
    return rc;
}
