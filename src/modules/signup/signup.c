/*
 * signup.c — rules and SQL for new studios.
 *
 * Provisioning is a little state machine whose every step can be retried:
 *   1. INSERT the organization with status 'provisioning' (the UNIQUE slug
 *      makes two concurrent signups for one slug end in one row: the other
 *      gets slug_taken);
 *   2. CREATE DATABASE ... TEMPLATE studiod_tenant_template (no
 *      transaction possible; the row above already names the database);
 *   3. create the owner and grant the owner role in the new database, in one
 *      transaction with the studio's first audit entry (audit.h: "create"
 *      on "users" by the system, the owner role in after.roles);
 *   4. in one master transaction: status 'trial', trial end, welcome mail.
 * Only 'trial'/'active' studios are served, so a studio interrupted before
 * step 4 is never usable. A failure in-process undoes steps 1–3 at once; a
 * killed process leaves a 'provisioning' row that signup_repair() (run by
 * `studiod tenant repair`, and by a later signup for the same slug once the
 * row is stale) removes together with its database. Databases named
 * studio_* that no row owns are dropped by repair too, so nothing is left
 * orphaned.
 */
#include "studiod/signup.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "studiod/audit.h"
#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/migrate.h"
#include "studiod/money.h"
#include "studiod/tenant.h"

#define SLUG_MIN 3
#define SLUG_MAX 40
#define PASSWORD_MIN 10
#define STALE_PROVISIONING_SECONDS 120

static const char *const reserved_slugs[] = {
    "www",   "admin",  "api",     "app",     "mail",   "static", "assets", "cdn",
    "help",  "support", "status", "blog",    "docs",   "billing", "login", "signup",
    "smtp",  "imap",   "pop",     "ftp",     "ns1",    "ns2",    "dns",    "root",
    "studiod", "dashboard", "account", "accounts", "auth", "oauth", "webhooks", "stripe",
    "test",  "dev",    "staging", "demo-admin", "metrics", "health", "internal", "system",
    NULL};

static const char sql_insert_org[] =
    "INSERT INTO organizations (slug, name, db_name, timezone, currency, owner_email)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
static const char sql_stale_for_slug[] =
    "SELECT id FROM organizations WHERE slug = $1 AND status = 'provisioning'"
    "   AND provision_started_at < now() - make_interval(secs => $2)";
static const char sql_create_owner[] =
    "WITH u AS (INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id)"
    " INSERT INTO user_roles (user_id, role_id)"
    " SELECT u.id, r.id FROM u, roles r WHERE r.name = 'owner'"
    " RETURNING user_id";
static const char sql_activate[] =
    "UPDATE organizations SET status = 'trial', provisioned_at = now(), updated_at = now(),"
    "       trial_ends_at = now() + make_interval(days => $2)"
    " WHERE id = $1 AND status = 'provisioning'"
    " RETURNING to_char(trial_ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS t,"
    "           to_char(trial_ends_at AT TIME ZONE timezone, 'FMDD FMMonth YYYY') AS local_date";
static const char sql_delete_org[] = "DELETE FROM organizations WHERE id = $1";
static const char sql_stale_all[] =
    "SELECT id, slug, db_name, coalesce(db_server, '') AS db_server FROM organizations"
    " WHERE status = 'provisioning' AND provision_started_at <= now() - make_interval(secs => $1)";
static const char sql_orphans[] =
    "SELECT datname FROM pg_database d WHERE datname LIKE 'studio\\_%'"
    "   AND NOT EXISTS (SELECT 1 FROM organizations o WHERE o.db_name = d.datname)";
static const char sql_slug_exists[] = "SELECT 1 FROM organizations WHERE slug = $1";

static bool valid_email(const char *s);
static bool valid_timezone(const char *tz);
static int run_ddl(const char *server, const char *sql_fmt, const char *ident);
static void undo(const char *org_id, const char *db_name);
static int create_owner(const char *db_name, const struct signup_input *in, const char *hash);
static int queue_welcome(struct db_conn *master, struct arena *a, const struct signup_input *in,
                         const char *studio_url, const char *trial_local);

const char *signup_slug_problem(const char *slug)
{
    size_t n = slug ? strlen(slug) : 0;
    if (n < SLUG_MIN)
        return "too_short";
    if (n > SLUG_MAX)
        return "too_long";
    for (size_t i = 0; i < n; i++)
        if (!((slug[i] >= 'a' && slug[i] <= 'z') || (slug[i] >= '0' && slug[i] <= '9') ||
              slug[i] == '-'))
            return "invalid_characters";
    if (slug[0] == '-' || slug[n - 1] == '-')
        return "invalid_edge";
    if (strstr(slug, "--"))
        return "double_hyphen"; /* reserved by IDNA for xn-- labels */
    for (const char *const *r = reserved_slugs; *r; r++)
        if (strcmp(*r, slug) == 0)
            return "reserved";
    return NULL;
}

static bool valid_email(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > 254 || !at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == ';' ||
            *p == '"' || *p == '\\')
            return false;
    return true;
}

/* An IANA name: a file of the system tz database (PostgreSQL reads the same one). */
static bool valid_timezone(const char *tz)
{
    size_t n = strlen(tz);
    if (n == 0 || n > 60 || tz[0] == '/' || strstr(tz, ".."))
        return false;
    for (const char *p = tz; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
    if (!isupper((unsigned char)tz[0]))
        return false; /* "posix/...", "right/..." and lower-case files are not zone names */
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

json_t *signup_validate(const struct signup_input *in)
{
    json_t *f = json_object();
    if (!in->studio_name || !*in->studio_name)
        json_object_set_new(f, "studio_name", json_string("Give your studio a name"));
    else if (strlen(in->studio_name) > 120)
        json_object_set_new(f, "studio_name", json_string("At most 120 characters"));
    const char *sp = signup_slug_problem(in->slug);
    if (sp)
        json_object_set_new(
            f, "slug",
            json_pack("s", strcmp(sp, "reserved") == 0
                               ? "This address is reserved"
                               : "3 to 40 of a-z, 0-9 and '-', not starting or ending with '-'"));
    if (!in->owner_name || !*in->owner_name)
        json_object_set_new(f, "owner_name", json_string("Tell us your name"));
    else if (strlen(in->owner_name) > 120)
        json_object_set_new(f, "owner_name", json_string("At most 120 characters"));
    if (!in->owner_email || !valid_email(in->owner_email))
        json_object_set_new(f, "owner_email", json_string("A valid e-mail address"));
    if (!in->password || strlen(in->password) < PASSWORD_MIN)
        json_object_set_new(f, "password", json_string("At least 10 characters"));
    else if (strlen(in->password) > 1024)
        json_object_set_new(f, "password", json_string("At most 1024 characters"));
    else if (in->owner_email && strcasecmp(in->password, in->owner_email) == 0)
        json_object_set_new(f, "password", json_string("Must not be your e-mail address"));
    if (!in->timezone || !valid_timezone(in->timezone))
        json_object_set_new(f, "timezone", json_string("An IANA time zone such as Europe/Paris"));
    if (!in->currency || money_exponent(in->currency) < 0)
        json_object_set_new(f, "currency", json_string("An ISO 4217 code such as EUR"));
    if (json_object_size(f) == 0) {
        json_decref(f);
        return NULL;
    }
    return f;
}

int signup_slug_free(struct db_conn *master, const char *slug)
{
    const char *p[] = {slug};
    PGresult *r = db_exec(master, sql_slug_exists, 1, p, NULL);
    if (!r)
        return -1;
    int free_ = PQntuples(r) == 0;
    PQclear(r);
    return free_;
}

/* Runs DDL with one quoted identifier on its own connection (no transaction). */
static int run_ddl(const char *server, const char *sql_fmt, const char *ident)
{
    PGconn *pg = db_connect_direct(server, NULL);
    if (!pg)
        return -1;
    char *q = PQescapeIdentifier(pg, ident, strlen(ident));
    char sql[512];
    snprintf(sql, sizeof(sql), sql_fmt, q, MIGRATE_TEMPLATE_DB);
    PQfreemem(q);
    PGresult *r = PQexec(pg, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        log_msg(LOG_ERROR, "provisioning: %s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    return rc;
}

/* Removes a half-made studio: its database, then its row. */
static void undo(const char *org_id, const char *db_name)
{
    db_forget(NULL, db_name);
    if (run_ddl(NULL, "DROP DATABASE IF EXISTS %s WITH (FORCE) /* %s */", db_name) != 0)
        return; /* leave the row: repair retries later */
    struct db_conn *m = db_acquire_master();
    if (!m)
        return;
    const char *p[] = {org_id};
    db_run(m, sql_delete_org, 1, p);
    db_release(m);
}

/* Step 3: the owner, with the owner role, and its audit entry in one transaction of the new
 * database. 0 or -1. */
static int create_owner(const char *db_name, const struct signup_input *in, const char *hash)
{
    struct db_conn *t = db_acquire(NULL, db_name);
    if (!t)
        return -1;
    const char *po[] = {in->owner_email, in->owner_name, hash};
    PGresult *r = NULL;
    json_t *after = NULL;
    int rc = -1;
    if (db_begin(t) == 0 && (r = db_exec(t, sql_create_owner, 3, po, NULL)) != NULL &&
        PQntuples(r) == 1) {
        const char *id = db_get(r, 0, "user_id");
        after = json_pack("{s:s, s:s, s:s, s:[s]}", "id", id, "name", in->owner_name, "email",
                          in->owner_email, "roles", "owner");
        if (audit_record_system(t, NULL, AUDIT_ACTION_CREATE, "users", id, NULL, after) ==
                AUDIT_OK &&
            db_commit(t) == 0)
            rc = 0;
    }
    if (rc != 0)
        db_rollback(t);
    json_decref(after);
    PQclear(r);
    db_release(t);
    return rc;
}

static int queue_welcome(struct db_conn *master, struct arena *a, const struct signup_input *in,
                         const char *studio_url, const char *trial_local)
{
    struct mail m = {
        .to = in->owner_email,
        .subject = arena_printf(a, "Welcome to studiod: %s is ready", in->studio_name),
        .text = arena_printf(
            a,
            "Hello %s,\r\n\r\n"
            "Your studio \"%s\" is ready at %s\r\n\r\n"
            "Your free trial runs until %s. Sign in with this e-mail address and the password\r\n"
            "you chose at sign-up:\r\n\r\n  %s/login\r\n\r\n"
            "For your safety this e-mail does not contain your password, and no e-mail\r\n"
            "from studiod ever will.\r\n\r\n"
            "-- studiod\r\n",
            in->owner_name, in->studio_name, studio_url, trial_local, studio_url),
    };
    return mail_queue(master, &m);
}

enum signup_error signup_provision(struct arena *a, const struct signup_input *in,
                                   const char *studio_url, struct signup_result *out)
{
    const char *db_name = tenant_db_name(a, in->slug);
    struct db_conn *m = db_acquire_master();
    if (!m)
        return SIGNUP_DB_DOWN;

    /* A stale attempt for this slug (its process died) is cleaned up first. */
    char stale_secs[16];
    snprintf(stale_secs, sizeof(stale_secs), "%d", STALE_PROVISIONING_SECONDS);
    const char *ps[] = {in->slug, stale_secs};
    PGresult *r = db_exec(m, sql_stale_for_slug, 2, ps, NULL);
    if (r && PQntuples(r) == 1) {
        db_release(m);
        PQclear(r);
        signup_repair(STALE_PROVISIONING_SECONDS);
        m = db_acquire_master();
        if (!m)
            return SIGNUP_DB_DOWN;
    } else if (r) {
        PQclear(r);
    }

    const char *st = NULL;
    const char *pi[] = {in->slug, in->studio_name, db_name, in->timezone, in->currency,
                        in->owner_email};
    r = db_exec(m, sql_insert_org, 6, pi, &st);
    if (!r) {
        db_release(m);
        return st && strcmp(st, SQLSTATE_UNIQUE_VIOLATION) == 0 ? SIGNUP_SLUG_TAKEN
                                                                 : SIGNUP_FAILED;
    }
    snprintf(out->org_id, sizeof(out->org_id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    db_release(m);

    if (run_ddl(NULL, "CREATE DATABASE %s TEMPLATE %s", db_name) != 0) {
        undo(out->org_id, db_name);
        return SIGNUP_FAILED;
    }
    if (config_fault("provision_after_createdb"))
        raise(SIGKILL); /* test hook: the process dies mid-provisioning */

    char *hash = crypto_password_hash(a, in->password);
    if (!hash || create_owner(db_name, in, hash) != 0) {
        undo(out->org_id, db_name);
        return SIGNUP_FAILED;
    }

    m = db_acquire_master();
    char days[16];
    snprintf(days, sizeof(days), "%d", g_config.trial_days);
    const char *pa[] = {out->org_id, days};
    r = NULL;
    if (m && db_begin(m) == 0 && (r = db_exec(m, sql_activate, 2, pa, NULL)) != NULL &&
        PQntuples(r) == 1 &&
        queue_welcome(m, a, in, studio_url, PQgetvalue(r, 0, 1)) == 0 && db_commit(m) == 0) {
        snprintf(out->trial_ends_at, sizeof(out->trial_ends_at), "%s", PQgetvalue(r, 0, 0));
        snprintf(out->status, sizeof(out->status), "trial");
        PQclear(r);
        db_release(m);
        tenant_cache_forget(in->slug);
        log_msg(LOG_INFO, "studio %s provisioned", in->slug);
        return SIGNUP_OK;
    }
    PQclear(r);
    if (m)
        db_rollback(m);
    db_release(m);
    undo(out->org_id, db_name);
    return SIGNUP_FAILED;
}

int signup_repair(int older_than_seconds)
{
    struct db_conn *m = db_acquire_master();
    if (!m)
        return -1;
    char secs[16];
    snprintf(secs, sizeof(secs), "%d", older_than_seconds);
    const char *p[] = {secs};
    PGresult *r = db_exec(m, sql_stale_all, 1, p, NULL);
    PGresult *o = db_exec(m, sql_orphans, 0, NULL, NULL);
    db_release(m);
    if (!r || !o) {
        PQclear(r);
        PQclear(o);
        return -1;
    }
    int repaired = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        log_msg(LOG_INFO, "repair: removing unfinished studio %s", db_get(r, i, "slug"));
        undo(db_get(r, i, "id"), db_get(r, i, "db_name"));
        repaired++;
    }
    for (int i = 0; i < PQntuples(o); i++) {
        const char *name = PQgetvalue(o, i, 0);
        log_msg(LOG_INFO, "repair: dropping orphan database %s", name);
        db_forget(NULL, name);
        if (run_ddl(NULL, "DROP DATABASE IF EXISTS %s WITH (FORCE) /* %s */", name) == 0)
            repaired++;
    }
    PQclear(r);
    PQclear(o);
    return repaired;
}
