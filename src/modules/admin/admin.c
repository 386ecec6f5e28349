/*
 * admin.c — rules and SQL for platform admins.
 *
 * Accounts and sessions. Admins live in the master database
 * (platform_admins), apart from every studio's staff: an admin session is
 * named by its own cookie (studiod_admin, Path=/admin, SameSite=Strict) and
 * stored in admin_sessions, so no staff cookie opens /admin and no admin
 * cookie opens a studio. Only SHA-256(token) is stored. A session ends at
 * the first of 8 hours after sign-in, 30 minutes idle, logout, or the admin
 * being deactivated; last_seen_at is written at most once a minute.
 *
 * Sign-in needs the e-mail, the password and a TOTP code (totp.c). Whatever
 * is wrong, the answer is the same ADMIN_BAD_CREDENTIALS, and an unknown
 * account still pays an argon2 verification. The code is checked only after
 * the password, so a failed attempt never consumes a code. The step of the
 * last accepted code is kept on the account and advanced by a conditional
 * UPDATE (… WHERE totp_last_step < $step): a code used once — even by two
 * sign-ins racing — opens one session at most. Failures are counted in
 * admin_login_failures (5 per account or 20 per address in 15 minutes), the
 * staff rule, counted separately from staff sign-ins; the check runs before
 * anything else, so a throttled caller learns nothing, not even a right
 * password.
 *
 * The TOTP seed is a secret at rest: sealed with libsodium secretbox under
 * STUDIOD_MASTER_KEY ("sb1:" + base64(nonce || box)). Without a key
 * (development) it is stored as "plain:" + base32 and a warning is logged;
 * rows of either form stay readable once a key is configured. (The sealing
 * is local to this file because no shared helper exists yet; it should move
 * to core/crypto when a second module seals something.)
 *
 * Audit. Every admin action appends to admin_audit_log in the master
 * database. The hash chain reuses the studios' audit log functions
 * (audit.h: audit_canonical, audit_chain_hash, audit_walk_*), so both logs
 * hash the same way; admin_audit_entry() says how a row maps onto their
 * entry (migrations/master/0004_platform_admin.sql). Appends take a
 * transaction-level advisory lock, so the chain is a line even with many
 * studiod processes. Master-side changes (studio status, trial, sessions)
 * are audited in the same transaction as the change. Staff changes happen
 * in the studio's own database, which no transaction spans together with
 * the master: the studio's change commits first, then the audit entry (and
 * the e-mail) commit in the master; if that fails the caller gets 503 and
 * the log names the change left without an entry (repeating the action is
 * safe: a reset can be sent again). Failed sign-ins are not audit entries
 * (no admin acted); they are counted in admin_login_failures.
 *
 * Staff. Invitations and deactivation go through the staff module
 * (staff_create, staff_update), acting as an owner of the studio would, so
 * its rules hold here too (one open invitation per user, the last owner who
 * can sign in stays). The invited user's role is granted here, under
 * rbac_lock(), not by staff_create: its RBAC check (the actor holds what the
 * role gives) is about the studio's users, and a platform admin is none. A
 * password reset has no staff function: it clears the password, ends the
 * user's sessions and puts a new one-time link in staff_invitations (only
 * SHA-256(token) stored), e-mailed as <studio url>/invite/<token>, the
 * staff module's set-password page, which takes links only for users
 * without a password. No password is ever e-mailed.
 *
 * Dashboard. The figures come from every studio's database, so they are
 * computed at most once a minute per process and kept in memory as JSON
 * text (ADMIN_DASHBOARD_MAX_AGE). One computation runs at a time; while it
 * runs, other requests get the previous figures, or wait for the first
 * ones. Studios are queried by DASH_WORKERS threads, each query inside a
 * transaction with a local statement_timeout, and the whole computation
 * stops taking new studios after DASH_BUDGET_MS: a studio that fails or is
 * skipped is named in "studios_unreachable" rather than holding the
 * dashboard up. Decisions: bookings are counted by when they were made
 * (created_at, UTC days and months), excluding unpaid holds that expired;
 * "active sessions" are staff sessions within the staff idle limit.
 * Revenue is zero with "source": "none" until billing lands.
 */
#include "studiod/admin.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/audit.h"
#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/rbac.h"
#include "studiod/staff.h"
#include "studiod/tenant.h"

/* to_char formats of UTC times (after AT TIME ZONE 'UTC'): RFC 3339, and with microseconds
 * (the audit log's "at", exact to the stored value). */
#define RFC3339 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
#define RFC3339_US "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

#define SEALED_PREFIX "sb1:"
#define PLAIN_PREFIX "plain:"
#define SESSION_TOUCH_SECONDS 60
#define RESET_HOURS 24
#define AUDIT_VERIFY_BATCH 500
#define DASH_DAYS 30
#define DASH_WORKERS 4
#define DASH_TENANT_TIMEOUT_MS 2000
#define DASH_BUDGET_MS 15000
#define DASH_MAX_UNREACHABLE 50
#define DASH_WAIT_SECONDS 30

/* PostgreSQL type OIDs (pg_type.h) that row_object() turns into JSON types. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114
#define OID_JSONB 3802

/* ---- SQL ------------------------------------------------------------------------------- */

static const char sql_load_session[] =
    "SELECT s.id, s.admin_id, s.csrf_token, a.email, a.name,"
    "       s.last_seen_at < now() - make_interval(secs => $3) AS stale"
    "  FROM admin_sessions s JOIN platform_admins a ON a.id = s.admin_id"
    " WHERE s.token_hash = $1 AND a.active AND s.expires_at > now()"
    "   AND s.last_seen_at > now() - make_interval(mins => $2)";
static const char sql_touch_session[] =
    "UPDATE admin_sessions SET last_seen_at = now() WHERE id = $1";
static const char sql_throttle[] =
    "WITH acc AS (SELECT at FROM admin_login_failures"
    "              WHERE email = lower($1) AND at > now() - make_interval(mins => $3)"
    "              ORDER BY at DESC LIMIT $4),"
    "     ipf AS (SELECT at FROM admin_login_failures"
    "              WHERE ip = $2 AND at > now() - make_interval(mins => $3)"
    "              ORDER BY at DESC LIMIT $5)"
    " SELECT (SELECT count(*) FROM acc) AS account, (SELECT count(*) FROM ipf) AS ip,"
    "        greatest(1, ceil(extract(epoch FROM (SELECT min(at) FROM acc)"
    "                 + make_interval(mins => $3) - now())))::int AS account_retry,"
    "        greatest(1, ceil(extract(epoch FROM (SELECT min(at) FROM ipf)"
    "                 + make_interval(mins => $3) - now())))::int AS ip_retry";
static const char sql_record_failure[] =
    "INSERT INTO admin_login_failures (email, ip) VALUES (lower($1), $2)";
static const char sql_clear_failures[] =
    "DELETE FROM admin_login_failures"
    " WHERE email = lower($1) OR at < now() - make_interval(mins => $2)";
static const char sql_find_admin[] =
    "SELECT id, name, email, password_hash, totp_secret, totp_last_step FROM platform_admins"
    " WHERE lower(email) = lower($1) AND active";
static const char sql_use_step[] =
    "UPDATE platform_admins SET totp_last_step = $2, last_login_at = now()"
    " WHERE id = $1 AND totp_last_step < $2";
static const char sql_create_session[] =
    "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, expires_at, ip, user_agent)"
    " VALUES ($1, $2, $3, now() + make_interval(hours => $4), $5, $6)";
static const char sql_prune_sessions[] =
    "DELETE FROM admin_sessions WHERE admin_id = $1"
    "   AND (expires_at <= now() OR last_seen_at <= now() - make_interval(mins => $2))";
static const char sql_delete_session[] = "DELETE FROM admin_sessions WHERE token_hash = $1";
static const char sql_insert_admin[] =
    "INSERT INTO platform_admins (email, name, password_hash, totp_secret)"
    " VALUES ($1, $2, $3, $4) RETURNING id";

static const char sql_audit_lock[] = "SELECT pg_advisory_xact_lock(7411520041)";
static const char sql_audit_head[] =
    "SELECT coalesce((SELECT hash FROM admin_audit_log ORDER BY id DESC LIMIT 1),"
    "                repeat('0', 64)) AS prev,"
    "       nextval('admin_audit_log_id_seq') AS id,"
    "       to_char(clock_timestamp() AT TIME ZONE 'UTC', " RFC3339_US ") AS at";
static const char sql_audit_insert[] =
    "INSERT INTO admin_audit_log (id, at, admin_id, admin_email, action, target_studio,"
    "                             target_user, before, after, ip, user_agent, request_id,"
    "                             prev_hash, hash)"
    " VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12,"
    "         $13, $14)";
static const char sql_audit_page[] =
    "SELECT id, to_char(at AT TIME ZONE 'UTC', " RFC3339_US ") AS at,"
    "       admin_id::text AS admin_id, admin_email, action, target_studio, target_user,"
    "       before::text AS before, after::text AS after, ip, user_agent, request_id,"
    "       prev_hash, hash"
    "  FROM admin_audit_log WHERE id > $1 ORDER BY id LIMIT $2";
static const char sql_audit_list[] =
    "SELECT id, to_char(at AT TIME ZONE 'UTC', " RFC3339_US ") AS at,"
    "       admin_id, admin_email, action, target_studio, target_user, before, after, ip,"
    "       user_agent, request_id, hash"
    "  FROM admin_audit_log WHERE ($1::text = '' OR target_studio = $1)"
    " ORDER BY id DESC LIMIT $2 OFFSET $3";
static const char sql_audit_count[] =
    "SELECT count(*) FROM admin_audit_log WHERE ($1::text = '' OR target_studio = $1)";

#define STUDIO_COLUMNS                                                                             \
    "o.id, o.slug, o.name, o.status, o.owner_email, o.timezone, o.currency, o.plan_id,"            \
    " to_char(o.trial_ends_at AT TIME ZONE 'UTC', " RFC3339 ") AS trial_ends_at,"                  \
    " to_char(o.created_at AT TIME ZONE 'UTC', " RFC3339 ") AS created_at,"                        \
    " to_char(o.suspended_at AT TIME ZONE 'UTC', " RFC3339 ") AS suspended_at"
static const char sql_studios_page[] =
    "SELECT " STUDIO_COLUMNS "  FROM organizations o"
    " WHERE ($1::text = '' OR o.slug ILIKE $2 OR o.name ILIKE $2 OR o.owner_email ILIKE $2)"
    "   AND ($3::text = '' OR o.status = $3)"
    " ORDER BY o.created_at DESC, o.slug LIMIT $4 OFFSET $5";
static const char sql_studios_count[] =
    "SELECT count(*) FROM organizations o"
    " WHERE ($1::text = '' OR o.slug ILIKE $2 OR o.name ILIKE $2 OR o.owner_email ILIKE $2)"
    "   AND ($3::text = '' OR o.status = $3)";
static const char sql_studio_get[] =
    "SELECT " STUDIO_COLUMNS ", o.db_name, o.status_before_suspension,"
    "       to_char(o.provisioned_at AT TIME ZONE 'UTC', " RFC3339 ") AS provisioned_at,"
    "       to_char(o.updated_at AT TIME ZONE 'UTC', " RFC3339 ") AS updated_at,"
    "       (SELECT coalesce(json_agg(json_build_object('hostname', d.hostname,"
    "                                 'verified', d.verified_at IS NOT NULL)"
    "                        ORDER BY d.hostname), '[]')"
    "          FROM domains d WHERE d.organization_id = o.id) AS domains"
    "  FROM organizations o WHERE o.slug = $1";
static const char sql_studio_lock[] =
    "SELECT status, status_before_suspension,"
    "       to_char(trial_ends_at AT TIME ZONE 'UTC', " RFC3339 ") AS trial_ends_at"
    "  FROM organizations WHERE slug = $1 FOR UPDATE";
static const char sql_studio_suspend[] =
    "UPDATE organizations SET status = 'suspended', status_before_suspension = status,"
    "       suspended_at = now(), updated_at = now()"
    " WHERE slug = $1 AND status IN ('trial', 'active') RETURNING status";
/* A studio suspended by something else (no status_before_suspension) goes back to its trial
 * when it has never had a plan, else to active: never to a free "active" by default. */
static const char sql_studio_reactivate[] =
    "UPDATE organizations"
    "   SET status = coalesce(status_before_suspension,"
    "                         CASE WHEN plan_id IS NULL AND trial_ends_at IS NOT NULL"
    "                              THEN 'trial' ELSE 'active' END),"
    "       status_before_suspension = NULL, suspended_at = NULL, updated_at = now()"
    " WHERE slug = $1 AND status = 'suspended' RETURNING status";
static const char sql_studio_extend[] =
    "UPDATE organizations"
    "   SET trial_ends_at = greatest(coalesce(trial_ends_at, now()), now())"
    "                       + make_interval(days => $2), updated_at = now()"
    " WHERE slug = $1"
    " RETURNING to_char(trial_ends_at AT TIME ZONE 'UTC', " RFC3339 ") AS trial_ends_at";

static const char sql_roles[] = "SELECT name FROM roles ORDER BY name";
static const char sql_role_id[] = "SELECT id FROM roles WHERE lower(name) = lower($1)";
static const char sql_grant_role[] = "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)";
static const char sql_user_lock[] =
    "SELECT id, name, email, active FROM users WHERE id = $1 FOR UPDATE";
static const char sql_clear_password[] = "UPDATE users SET password_hash = NULL WHERE id = $1";
static const char sql_end_sessions[] = "DELETE FROM sessions WHERE user_id = $1";
/* At most one open invitation per user (staff_invitations_open): the new one replaces it. */
static const char sql_drop_open_invitations[] =
    "DELETE FROM staff_invitations WHERE user_id = $1 AND used_at IS NULL";
static const char sql_insert_invitation[] =
    "INSERT INTO staff_invitations (user_id, token_hash, expires_at)"
    " VALUES ($1, $2, now() + make_interval(hours => $3::int))"
    " RETURNING to_char(expires_at AT TIME ZONE 'UTC', " RFC3339 ") AS expires_at";

static const char sql_dash_master[] =
    "SELECT count(*) FILTER (WHERE status = 'trial') AS trial,"
    "       count(*) FILTER (WHERE status = 'active') AS active,"
    "       count(*) FILTER (WHERE status = 'suspended') AS suspended,"
    "       count(*) FILTER (WHERE status = 'provisioning') AS provisioning,"
    "       (SELECT count(*) FROM admin_sessions s JOIN platform_admins a ON a.id = s.admin_id"
    "         WHERE a.active AND s.expires_at > now()"
    "           AND s.last_seen_at > now() - make_interval(mins => $1)) AS admin_sessions,"
    "       to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS month_start,"
    "       to_char((now() AT TIME ZONE 'UTC')::date - $2::int, 'YYYY-MM-DD') AS day0"
    "  FROM organizations";
static const char sql_dash_studios[] =
    "SELECT slug, db_name, coalesce(db_server, '') AS db_server FROM organizations"
    " WHERE status IN ('trial', 'active', 'suspended') ORDER BY slug";
static const char sql_dash_timeout[] = "SELECT set_config('statement_timeout', $1, true)";
static const char sql_dash_tenant[] =
    "SELECT (SELECT count(*) FROM users WHERE active) AS staff,"
    "       (SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
    "         WHERE u.active AND s.expires_at > now()"
    "           AND s.last_seen_at > now() - make_interval(mins => $3)) AS sessions,"
    "       (SELECT count(*) FROM rooms WHERE archived_at IS NULL) AS rooms,"
    "       (SELECT count(*) FROM bookings WHERE status <> 'expired'"
    "           AND created_at >= ($1::date)::timestamp AT TIME ZONE 'UTC') AS month,"
    "       (SELECT coalesce(json_agg(json_build_array(x.d, x.n)), '[]') FROM"
    "          (SELECT (created_at AT TIME ZONE 'UTC')::date - $2::date AS d, count(*) AS n"
    "             FROM bookings WHERE status <> 'expired'"
    "              AND created_at >= ($2::date)::timestamp AT TIME ZONE 'UTC'"
    "            GROUP BY 1) x) AS per_day";

/* ---- declarations ---------------------------------------------------------------------- */

struct dash_studio {
    char slug[48], db_name[64], db_server[256];
    bool ok;
    long long staff, sessions, rooms, month, per_day[DASH_DAYS];
};

struct dash_job {
    struct dash_studio *studios;
    size_t n;
    atomic_size_t next;
    double deadline;
    char month_start[16], day0[16];
};

static int master_key(unsigned char key[crypto_secretbox_KEYBYTES]);
static char *seal_secret(struct arena *a, const unsigned char *secret, size_t len);
static long open_secret(const char *stored, unsigned char *out, size_t cap);
static bool valid_email(const char *s);
static char *trunc_dup(struct arena *a, const char *s, size_t max);
static char *num(struct arena *a, long long v);
static double now_ms(void);
static json_t *row_object(PGresult *r, int row);
static struct admin_actor actor_of_login(struct request *req, const char *id, const char *email);
static int throttled(struct db_conn *m, const char *email, const char *ip, int *retry_after);
static int audit_in_tx(struct db_conn *m, const struct admin_actor *who, const char *action,
                       const char *slug, const char *user, json_t *before, json_t *after);
static int commit_or_rollback(struct db_conn *m, int rc);
static int load_studio_json(struct db_conn *m, const char *slug, const char *studio_url,
                            json_t **out);
static int studio_tenant(struct db_conn *m, const char *slug, struct tenant *t, struct db_conn **tc,
                         const char **conflict);
static int from_staff(int rc, const char **conflict);
static char *dash_compute(void);
static void *dash_worker(void *arg);
static void dash_one(struct dash_job *job, struct dash_studio *s);
static void utc_now_text(char *out, size_t n);
static void day_text(const char *day0, int offset, char *out, size_t n);

/* ---- small things ---------------------------------------------------------------------- */

bool admin_uuid_valid(const char *s)
{
    return http_uuid_valid(s);
}

static bool valid_email(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    const char *at = n ? strchr(s, '@') : NULL;
    if (n < 3 || n > 254 || !at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == ';' ||
            *p == '"' || *p == '\\' || (unsigned char)*p == 0x7f)
            return false;
    return true;
}

static char *trunc_dup(struct arena *a, const char *s, size_t max)
{
    return s ? arena_strndup(a, s, strnlen(s, max)) : NULL;
}

static char *num(struct arena *a, long long v)
{
    return arena_printf(a, "%lld", v);
}

/* A result row as a JSON object, typed by column: booleans, integers and json(b) become
 * their JSON kinds, everything else a string; SQL NULL is null. */
static json_t *row_object(PGresult *r, int row)
{
    json_t *o = json_object();
    for (int c = 0; c < PQnfields(r); c++) {
        const char *name = PQfname(r, c);
        if (PQgetisnull(r, row, c)) {
            json_object_set_new(o, name, json_null());
            continue;
        }
        const char *v = PQgetvalue(r, row, c);
        json_t *j;
        switch (PQftype(r, c)) {
        case OID_BOOL:
            j = json_boolean(v[0] == 't');
            break;
        case OID_INT2:
        case OID_INT4:
        case OID_INT8:
            j = json_integer(strtoll(v, NULL, 10));
            break;
        case OID_JSON:
        case OID_JSONB:
            j = json_loads(v, JSON_DECODE_ANY, NULL);
            if (!j)
                j = json_null();
            break;
        default:
            j = json_string(v);
            break;
        }
        json_object_set_new(o, name, j ? j : json_null());
    }
    return o;
}

/* Commits when rc is ADMIN_OK (a failed commit becomes ADMIN_DB), else rolls back. */
static int commit_or_rollback(struct db_conn *m, int rc)
{
    if (rc == ADMIN_OK)
        return db_commit(m) == 0 ? ADMIN_OK : ADMIN_DB;
    db_rollback(m);
    return rc;
}

/* ---- sealing the TOTP seed ------------------------------------------------------------- */

/* 1 with the key in key, 0 when none is configured, -1 when it is malformed. */
static int master_key(unsigned char key[crypto_secretbox_KEYBYTES])
{
    const char *hex = g_config.master_key;
    if (!hex || !*hex)
        return 0;
    size_t len = 0;
    const char *end = NULL;
    if (strlen(hex) != 2 * crypto_secretbox_KEYBYTES ||
        sodium_hex2bin(key, crypto_secretbox_KEYBYTES, hex, strlen(hex), NULL, &len, &end) != 0 ||
        len != crypto_secretbox_KEYBYTES || *end != '\0') {
        log_msg(LOG_ERROR, "admin: STUDIOD_MASTER_KEY is not 64 hex characters");
        return -1;
    }
    return 1;
}

static char *seal_secret(struct arena *a, const unsigned char *secret, size_t len)
{
    unsigned char key[crypto_secretbox_KEYBYTES];
    int k = master_key(key);
    if (k < 0)
        return NULL;
    if (k == 0) {
        log_msg(LOG_WARN, "admin: STUDIOD_MASTER_KEY is not set: the TOTP seed is stored "
                          "unsealed (set the key in production)");
        return arena_printf(a, PLAIN_PREFIX "%s", admin_base32_encode(a, secret, len));
    }
    size_t boxlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    unsigned char *box = arena_alloc(a, boxlen);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, secret, len, box, key);
    sodium_memzero(key, sizeof(key));
    size_t b64len = sodium_base64_encoded_len(boxlen, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = arena_alloc(a, b64len);
    sodium_bin2base64(b64, b64len, box, boxlen, sodium_base64_VARIANT_ORIGINAL);
    return arena_printf(a, SEALED_PREFIX "%s", b64);
}

/* The seed's bytes into out: their count, or -1. */
static long open_secret(const char *stored, unsigned char *out, size_t cap)
{
    if (strncmp(stored, PLAIN_PREFIX, strlen(PLAIN_PREFIX)) == 0)
        return admin_base32_decode(stored + strlen(PLAIN_PREFIX), out, cap);
    if (strncmp(stored, SEALED_PREFIX, strlen(SEALED_PREFIX)) != 0)
        return -1;
    unsigned char key[crypto_secretbox_KEYBYTES];
    if (master_key(key) != 1) {
        log_msg(LOG_ERROR, "admin: a sealed TOTP seed needs STUDIOD_MASTER_KEY");
        return -1;
    }
    unsigned char box[256];
    size_t boxlen = 0;
    const char *b64 = stored + strlen(SEALED_PREFIX);
    long n = -1;
    if (sodium_base642bin(box, sizeof(box), b64, strlen(b64), NULL, &boxlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        boxlen > crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES &&
        boxlen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES <= cap &&
        crypto_secretbox_open_easy(out, box + crypto_secretbox_NONCEBYTES,
                                   boxlen - crypto_secretbox_NONCEBYTES, box, key) == 0)
        n = (long)(boxlen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES);
    else
        log_msg(LOG_ERROR, "admin: a TOTP seed does not open with STUDIOD_MASTER_KEY");
    sodium_memzero(key, sizeof(key));
    return n;
}

/* ---- sessions -------------------------------------------------------------------------- */

int admin_load_session(struct request *req)
{
    const char *token = http_cookie(req, ADMIN_COOKIE);
    if (!token || !*token || strlen(token) > 128)
        return -1;
    struct db_conn *m = request_master_db(req);
    if (!m)
        return -2;
    const char *p[] = {crypto_sha256_hex(req->arena, token, strlen(token)),
                       num(req->arena, ADMIN_SESSION_IDLE_MINUTES),
                       num(req->arena, SESSION_TOUCH_SECONDS)};
    PGresult *r = db_exec(m, sql_load_session, 3, p, NULL);
    if (!r)
        return -2;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    struct admin_session *s = arena_alloc(req->arena, sizeof(*s));
#define COPY(dst, col) snprintf(s->dst, sizeof(s->dst), "%s", db_get(r, 0, col))
    COPY(id, "id");
    COPY(admin_id, "admin_id");
    COPY(csrf_token, "csrf_token");
    COPY(email, "email");
    COPY(name, "name");
#undef COPY
    bool stale = db_get(r, 0, "stale")[0] == 't';
    PQclear(r);
    if (stale) {
        const char *pt[] = {s->id};
        db_run(m, sql_touch_session, 1, pt);
    }
    req->admin = s;
    return 0;
}

static struct admin_actor actor_of_login(struct request *req, const char *id, const char *email)
{
    return (struct admin_actor){
        .admin_id = id,
        .email = email,
        .ip = req->ip,
        .user_agent = trunc_dup(req->arena, http_header(req, "User-Agent"), 512),
        .request_id = req->request_id,
    };
}

/* 0 allowed, 1 throttled (*retry_after seconds), -1 database error. */
static int throttled(struct db_conn *m, const char *email, const char *ip, int *retry_after)
{
    char mins[16], acc[16], ipl[16];
    snprintf(mins, sizeof(mins), "%d", ADMIN_FAILURE_WINDOW_MINUTES);
    snprintf(acc, sizeof(acc), "%d", ADMIN_MAX_ACCOUNT_FAILURES);
    snprintf(ipl, sizeof(ipl), "%d", ADMIN_MAX_IP_FAILURES);
    const char *p[] = {email, ip, mins, acc, ipl};
    PGresult *r = db_exec(m, sql_throttle, 5, p, NULL);
    if (!r)
        return -1;
    bool by_account = atol(db_get(r, 0, "account")) >= ADMIN_MAX_ACCOUNT_FAILURES;
    bool by_ip = atol(db_get(r, 0, "ip")) >= ADMIN_MAX_IP_FAILURES;
    int wait = 0;
    if (by_account)
        wait = atoi(db_get(r, 0, "account_retry"));
    if (by_ip && atoi(db_get(r, 0, "ip_retry")) > wait)
        wait = atoi(db_get(r, 0, "ip_retry"));
    PQclear(r);
    *retry_after = wait > 0 ? wait : ADMIN_FAILURE_WINDOW_MINUTES * 60;
    return by_account || by_ip ? 1 : 0;
}

int admin_login(struct request *req, const char *email, const char *password, const char *code,
                struct admin_login *out)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return ADMIN_DB;
    int th = throttled(m, email, req->ip, &out->retry_after);
    if (th != 0)
        return th > 0 ? ADMIN_THROTTLED : ADMIN_DB;

    const char *pe[] = {email};
    PGresult *r = db_exec(m, sql_find_admin, 1, pe, NULL);
    if (!r)
        return ADMIN_DB;
    bool ok = false;
    char admin_email[256] = "";
    if (PQntuples(r) == 1) {
        ok = crypto_password_verify(db_get(r, 0, "password_hash"), password);
        snprintf(out->admin_id, sizeof(out->admin_id), "%s", db_get(r, 0, "id"));
        snprintf(out->name, sizeof(out->name), "%s", db_get(r, 0, "name"));
        snprintf(admin_email, sizeof(admin_email), "%s", db_get(r, 0, "email"));
    } else {
        crypto_password_burn(password);
    }
    /* The code is looked at only after the right password: a failed attempt never uses it. */
    if (ok) {
        unsigned char key[64];
        long keylen = open_secret(db_get(r, 0, "totp_secret"), key, sizeof(key));
        int64_t last = strtoll(db_get(r, 0, "totp_last_step"), NULL, 10);
        int64_t step = keylen > 0
                           ? admin_totp_check(key, (size_t)keylen, code, (int64_t)time(NULL), last)
                           : ADMIN_TOTP_WRONG;
        sodium_memzero(key, sizeof(key));
        ok = false;
        if (step > 0) {
            /* Only one sign-in may advance the step: a racing replay updates no row. */
            const char *ps[] = {out->admin_id, num(req->arena, (long long)step)};
            PGresult *u = db_exec(m, sql_use_step, 2, ps, NULL);
            if (!u) {
                PQclear(r);
                return ADMIN_DB;
            }
            ok = strcmp(PQcmdTuples(u), "1") == 0;
            PQclear(u);
        }
    }
    PQclear(r);
    if (!ok) {
        const char *pf[] = {email, req->ip};
        db_run(m, sql_record_failure, 2, pf);
        return ADMIN_BAD_CREDENTIALS;
    }
    const char *pc[] = {email, num(req->arena, ADMIN_FAILURE_WINDOW_MINUTES)};
    db_run(m, sql_clear_failures, 2, pc);

    /* Rotation: whatever admin session the browser had ends; a new token is minted. */
    out->token = crypto_token(req->arena, 32);
    out->csrf_token = crypto_token(req->arena, 24);
    const char *ua = trunc_dup(req->arena, http_header(req, "User-Agent"), 512);
    const char *old = http_cookie(req, ADMIN_COOKIE);
    struct admin_actor who = actor_of_login(req, out->admin_id, admin_email);
    if (db_begin(m) != 0)
        return ADMIN_DB;
    int rc = ADMIN_OK;
    if (old) {
        const char *po[] = {crypto_sha256_hex(req->arena, old, strlen(old))};
        if (db_run(m, sql_delete_session, 1, po) != 0)
            rc = ADMIN_DB;
    }
    const char *pp[] = {out->admin_id, num(req->arena, ADMIN_SESSION_IDLE_MINUTES)};
    const char *ps[] = {crypto_sha256_hex(req->arena, out->token, strlen(out->token)),
                        out->admin_id,
                        out->csrf_token,
                        num(req->arena, ADMIN_SESSION_MAX_HOURS),
                        req->ip,
                        ua};
    if (rc == ADMIN_OK &&
        (db_run(m, sql_prune_sessions, 2, pp) != 0 || db_run(m, sql_create_session, 6, ps) != 0 ||
         audit_in_tx(m, &who, "admin.login", NULL, out->admin_id, NULL, NULL) != 0))
        rc = ADMIN_DB;
    return commit_or_rollback(m, rc);
}

void admin_logout(struct request *req, const struct admin_actor *who)
{
    const char *token = http_cookie(req, ADMIN_COOKIE);
    struct db_conn *m = request_master_db(req);
    if (!token || !m)
        return;
    const char *p[] = {crypto_sha256_hex(req->arena, token, strlen(token))};
    if (db_begin(m) != 0)
        return;
    int rc = db_run(m, sql_delete_session, 1, p) == 0 &&
                     audit_in_tx(m, who, "admin.logout", NULL, who->admin_id, NULL, NULL) == 0
                 ? ADMIN_OK
                 : ADMIN_DB;
    commit_or_rollback(m, rc);
}

/* ---- accounts -------------------------------------------------------------------------- */

int admin_create(struct arena *a, const char *email, const char *name, const char *password,
                 struct admin_created *out, const char **problem)
{
    if (!valid_email(email)) {
        *problem = "the e-mail address is not valid";
        return ADMIN_INVALID;
    }
    if (!name || !*name || strlen(name) > 120) {
        *problem = "the name must have 1 to 120 characters";
        return ADMIN_INVALID;
    }
    if (!password || strlen(password) < ADMIN_PASSWORD_MIN || strlen(password) > 1024) {
        *problem = "the password must have at least 12 characters";
        return ADMIN_INVALID;
    }
    unsigned char seed[ADMIN_TOTP_SECRET_BYTES];
    randombytes_buf(seed, sizeof(seed));
    out->secret_b32 = admin_base32_encode(a, seed, sizeof(seed));
    out->otpauth_uri = admin_totp_uri(a, ADMIN_TOTP_ISSUER, email, out->secret_b32);
    char *sealed = seal_secret(a, seed, sizeof(seed));
    sodium_memzero(seed, sizeof(seed));
    char *hash = crypto_password_hash(a, password);
    if (!sealed || !hash) {
        *problem = !sealed ? "STUDIOD_MASTER_KEY is malformed" : "could not hash the password";
        return ADMIN_INVALID;
    }
    struct db_conn *m = db_acquire_master();
    if (!m)
        return ADMIN_DB;
    if (db_begin(m) != 0) {
        db_release(m);
        return ADMIN_DB;
    }
    const char *p[] = {email, name, hash, sealed};
    const char *state = NULL;
    PGresult *r = db_exec(m, sql_insert_admin, 4, p, &state);
    int rc = ADMIN_OK;
    if (!r) {
        rc = state && strcmp(state, SQLSTATE_UNIQUE_VIOLATION) == 0 ? ADMIN_EXISTS : ADMIN_DB;
    } else {
        snprintf(out->id, sizeof(out->id), "%s", db_get(r, 0, "id"));
        PQclear(r);
        struct admin_actor cli = {.user_agent = "studiod admin create"};
        json_t *after = json_pack("{s:s, s:s}", "email", email, "name", name);
        if (audit_in_tx(m, &cli, "admin.create", NULL, out->id, NULL, after) != 0)
            rc = ADMIN_DB;
        json_decref(after);
    }
    rc = commit_or_rollback(m, rc);
    db_release(m);
    return rc;
}

/* ---- audit log ------------------------------------------------------------------------- */

void admin_audit_entry(struct audit_entry *e, long long id, const char *at, const char *admin_id,
                       const char *admin_email, const char *action, const char *target_studio,
                       const char *target_user, json_t *before, json_t *after, const char *ip,
                       const char *user_agent, const char *request_id, const char *hash)
{
    memset(e, 0, sizeof(*e));
    e->id = id;
    e->at = at;
    e->actor_type = admin_id ? AUDIT_ACTOR_ADMIN : AUDIT_ACTOR_SYSTEM;
    e->actor_id = admin_id;
    e->actor_email = admin_email;
    e->action = action;
    e->resource = target_studio;
    e->resource_id = target_user;
    e->before = before;
    e->after = after;
    e->ip = ip;
    e->user_agent = user_agent;
    e->request_id = request_id;
    e->risk_level = "none";
    e->risk_rules = NULL;
    e->hash = hash;
}

/* Appends on m, which is inside a transaction. 0 or -1. */
static int audit_in_tx(struct db_conn *m, const struct admin_actor *who, const char *action,
                       const char *slug, const char *user, json_t *before, json_t *after)
{
    struct arena *a = arena_new(4096);
    int rc = -1;
    PGresult *r = NULL;
    char *canonical = NULL;
    if (db_run(m, sql_audit_lock, 0, NULL) != 0)
        goto out;
    r = db_exec(m, sql_audit_head, 0, NULL, NULL);
    if (!r || PQntuples(r) != 1)
        goto out;
    const char *rid = who->request_id && *who->request_id ? who->request_id : NULL;
    const char *prev = db_get_dup(a, r, 0, "prev");
    const char *id = db_get_dup(a, r, 0, "id");
    const char *at = db_get_dup(a, r, 0, "at");
    struct audit_entry e;
    admin_audit_entry(&e, strtoll(id, NULL, 10), at, who->admin_id, who->email, action, slug, user,
                      before, after, who->ip, who->user_agent, rid, NULL);
    canonical = audit_canonical(&e);
    if (!canonical)
        goto out;
    char hash[AUDIT_HASH_HEX + 1];
    audit_chain_hash(prev, canonical, hash);
    char *bj = NULL, *aj = NULL;
    if (before) {
        char *s = json_dumps(before, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        bj = arena_strdup(a, s);
        free(s);
    }
    if (after) {
        char *s = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        aj = arena_strdup(a, s);
        free(s);
    }
    const char *p[] = {id, at, who->admin_id, who->email,      action, slug, user,
                       bj, aj, who->ip,       who->user_agent, rid,    prev, hash};
    rc = db_run(m, sql_audit_insert, 14, p) == 0 ? 0 : -1;
out:
    free(canonical);
    PQclear(r);
    arena_free(a);
    if (rc != 0)
        log_msg(LOG_ERROR, "admin: audit entry %s could not be written", action);
    return rc;
}

int admin_audit_append(struct db_conn *m, const struct admin_actor *who, const char *action,
                       const char *target_studio, const char *target_user, json_t *before,
                       json_t *after)
{
    if (PQtransactionStatus(m->pg) == PQTRANS_INTRANS)
        return audit_in_tx(m, who, action, target_studio, target_user, before, after);
    if (db_begin(m) != 0)
        return -1;
    int rc = audit_in_tx(m, who, action, target_studio, target_user, before, after);
    return commit_or_rollback(m, rc == 0 ? ADMIN_OK : ADMIN_DB) == ADMIN_OK ? 0 : -1;
}

int admin_audit_list(struct db_conn *m, const char *studio, int limit, int offset, json_t **out)
{
    struct arena *a = arena_new(1024);
    const char *p[] = {studio ? studio : "", num(a, limit), num(a, offset)};
    PGresult *r = db_exec(m, sql_audit_list, 3, p, NULL);
    PGresult *c = r ? db_exec(m, sql_audit_count, 1, p, NULL) : NULL;
    arena_free(a);
    if (!r || !c) {
        PQclear(r);
        return ADMIN_DB;
    }
    json_t *entries = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(entries, row_object(r, i));
    *out = json_pack("{s:o, s:I, s:i, s:i}", "entries", entries, "total",
                     (json_int_t)strtoll(PQgetvalue(c, 0, 0), NULL, 10), "limit", limit, "offset",
                     offset);
    PQclear(r);
    PQclear(c);
    return ADMIN_OK;
}

int admin_audit_verify(struct db_conn *m, long long *entries, long long *first_bad)
{
    struct audit_walk w;
    audit_walk_init(&w, AUDIT_GENESIS_HASH);
    char after_id[32] = "0", batch[16];
    snprintf(batch, sizeof(batch), "%d", AUDIT_VERIFY_BATCH);
    int rc = 0;
    *first_bad = 0;
    for (;;) {
        const char *p[] = {after_id, batch};
        PGresult *r = db_exec(m, sql_audit_page, 2, p, NULL);
        if (!r) {
            rc = -1;
            break;
        }
        int rows = PQntuples(r);
        for (int i = 0; i < rows && !w.broken; i++) {
            json_t *before = NULL, *after = NULL;
            if (db_get(r, i, "before"))
                before = json_loads(db_get(r, i, "before"), JSON_DECODE_ANY, NULL);
            if (db_get(r, i, "after"))
                after = json_loads(db_get(r, i, "after"), JSON_DECODE_ANY, NULL);
            struct audit_entry e;
            admin_audit_entry(&e, strtoll(db_get(r, i, "id"), NULL, 10), db_get(r, i, "at"),
                              db_get(r, i, "admin_id"), db_get(r, i, "admin_email"),
                              db_get(r, i, "action"), db_get(r, i, "target_studio"),
                              db_get(r, i, "target_user"), before, after, db_get(r, i, "ip"),
                              db_get(r, i, "user_agent"), db_get(r, i, "request_id"),
                              db_get(r, i, "hash"));
            /* The stored link must be the running hash too (it is what the next row hashed). */
            if (strcmp(db_get(r, i, "prev_hash"), w.running) != 0) {
                w.broken = true;
                w.broken_id = e.id;
            } else {
                audit_walk_step(&w, &e);
            }
            json_decref(before);
            json_decref(after);
        }
        if (rows > 0)
            snprintf(after_id, sizeof(after_id), "%s", db_get(r, rows - 1, "id"));
        PQclear(r);
        if (w.broken || rows < AUDIT_VERIFY_BATCH)
            break;
    }
    *entries = w.entries;
    if (rc == 0 && w.broken) {
        *first_bad = w.broken_id;
        rc = 1;
    }
    return rc;
}

/* ---- studios --------------------------------------------------------------------------- */

int admin_studios_list(struct db_conn *m, const struct admin_studio_query *q, json_t **out)
{
    struct arena *a = arena_new(1024);
    const char *text = q->q ? q->q : "";
    struct buf like;
    buf_init(&like, a);
    buf_puts(&like, "%");
    for (const char *s = text; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            buf_puts(&like, "\\");
        buf_append(&like, s, 1);
    }
    buf_puts(&like, "%");
    const char *p[] = {text, buf_cstr(&like), q->status ? q->status : "", num(a, q->limit),
                       num(a, q->offset)};
    PGresult *r = db_exec(m, sql_studios_page, 5, p, NULL);
    PGresult *c = r ? db_exec(m, sql_studios_count, 3, p, NULL) : NULL;
    arena_free(a);
    if (!r || !c) {
        PQclear(r);
        return ADMIN_DB;
    }
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(list, row_object(r, i));
    *out = json_pack("{s:o, s:I, s:i, s:i}", "studios", list, "total",
                     (json_int_t)strtoll(PQgetvalue(c, 0, 0), NULL, 10), "limit", q->limit,
                     "offset", q->offset);
    PQclear(r);
    PQclear(c);
    return ADMIN_OK;
}

/* {"studio": {...}} into *out. ADMIN_OK, ADMIN_NOT_FOUND or ADMIN_DB. */
static int load_studio_json(struct db_conn *m, const char *slug, const char *studio_url,
                            json_t **out)
{
    const char *p[] = {slug};
    PGresult *r = db_exec(m, sql_studio_get, 1, p, NULL);
    if (!r)
        return ADMIN_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ADMIN_NOT_FOUND;
    }
    json_t *s = row_object(r, 0);
    PQclear(r);
    if (studio_url)
        json_object_set_new(s, "url", json_string(studio_url));
    *out = json_pack("{s:o}", "studio", s);
    return ADMIN_OK;
}

int admin_studio_get(struct db_conn *m, const char *slug, const char *studio_url, json_t **out)
{
    return load_studio_json(m, slug, studio_url, out);
}

int admin_studio_set_status(struct db_conn *m, const struct admin_actor *who, const char *slug,
                            enum admin_studio_change change, const char *reason,
                            const char *studio_url, json_t **out, const char **conflict)
{
    if (db_begin(m) != 0)
        return ADMIN_DB;
    const char *p[] = {slug};
    PGresult *r = db_exec(m, sql_studio_lock, 1, p, NULL);
    int rc = ADMIN_OK;
    if (!r)
        rc = ADMIN_DB;
    else if (PQntuples(r) != 1)
        rc = ADMIN_NOT_FOUND;
    char old[16] = "";
    if (rc == ADMIN_OK) {
        snprintf(old, sizeof(old), "%s", db_get(r, 0, "status"));
        if (strcmp(old, "provisioning") == 0) {
            *conflict = "studio_provisioning";
            rc = ADMIN_CONFLICT;
        } else if (change == ADMIN_SUSPEND && strcmp(old, "suspended") == 0) {
            *conflict = "already_suspended";
            rc = ADMIN_CONFLICT;
        } else if (change == ADMIN_REACTIVATE && strcmp(old, "suspended") != 0) {
            *conflict = "not_suspended";
            rc = ADMIN_CONFLICT;
        }
    }
    PQclear(r);
    r = NULL;
    if (rc == ADMIN_OK) {
        r = db_exec(m, change == ADMIN_SUSPEND ? sql_studio_suspend : sql_studio_reactivate, 1, p,
                    NULL);
        if (!r || PQntuples(r) != 1)
            rc = ADMIN_DB;
    }
    if (rc == ADMIN_OK) {
        json_t *before = json_pack("{s:s}", "status", old);
        json_t *after = json_pack("{s:s}", "status", db_get(r, 0, "status"));
        if (reason && *reason)
            json_object_set_new(after, "reason", json_string(reason));
        if (audit_in_tx(m, who, change == ADMIN_SUSPEND ? "studio.suspend" : "studio.reactivate",
                        slug, NULL, before, after) != 0)
            rc = ADMIN_DB;
        json_decref(before);
        json_decref(after);
    }
    PQclear(r);
    rc = commit_or_rollback(m, rc);
    if (rc != ADMIN_OK)
        return rc;
    /* This process serves the new status at once; others within their cache's 5 seconds. */
    tenant_cache_forget(slug);
    return load_studio_json(m, slug, studio_url, out);
}

int admin_studio_extend_trial(struct db_conn *m, const struct admin_actor *who, const char *slug,
                              int days, const char *studio_url, json_t **out, const char **conflict)
{
    if (db_begin(m) != 0)
        return ADMIN_DB;
    const char *p[] = {slug, NULL};
    char daybuf[16];
    snprintf(daybuf, sizeof(daybuf), "%d", days);
    p[1] = daybuf;
    PGresult *r = db_exec(m, sql_studio_lock, 1, p, NULL);
    int rc = ADMIN_OK;
    if (!r)
        rc = ADMIN_DB;
    else if (PQntuples(r) != 1)
        rc = ADMIN_NOT_FOUND;
    json_t *before = NULL;
    if (rc == ADMIN_OK) {
        const char *status = db_get(r, 0, "status");
        const char *was = db_get(r, 0, "status_before_suspension");
        if (strcmp(status, "provisioning") == 0) {
            *conflict = "studio_provisioning";
            rc = ADMIN_CONFLICT;
        } else if (strcmp(status, "active") == 0 || (was && strcmp(was, "active") == 0)) {
            *conflict = "not_in_trial";
            rc = ADMIN_CONFLICT;
        } else {
            before = json_pack("{s:s?}", "trial_ends_at", db_get(r, 0, "trial_ends_at"));
        }
    }
    PQclear(r);
    r = NULL;
    if (rc == ADMIN_OK) {
        r = db_exec(m, sql_studio_extend, 2, p, NULL);
        if (!r || PQntuples(r) != 1)
            rc = ADMIN_DB;
    }
    if (rc == ADMIN_OK) {
        json_t *after =
            json_pack("{s:s, s:i}", "trial_ends_at", db_get(r, 0, "trial_ends_at"), "days", days);
        if (audit_in_tx(m, who, "studio.extend_trial", slug, NULL, before, after) != 0)
            rc = ADMIN_DB;
        json_decref(after);
    }
    json_decref(before);
    PQclear(r);
    rc = commit_or_rollback(m, rc);
    if (rc != ADMIN_OK)
        return rc;
    tenant_cache_forget(slug); /* the cached studio carries trial_ends_at */
    return load_studio_json(m, slug, studio_url, out);
}

/* ---- staff ----------------------------------------------------------------------------- */

/* The studio and a connection to its database (*tc, the caller releases it). */
static int studio_tenant(struct db_conn *m, const char *slug, struct tenant *t, struct db_conn **tc,
                         const char **conflict)
{
    *tc = NULL;
    if (tenant_load(m, slug, t) != 0)
        return ADMIN_NOT_FOUND;
    if (strcmp(t->status, "provisioning") == 0) {
        if (conflict)
            *conflict = "studio_provisioning";
        return ADMIN_CONFLICT;
    }
    *tc = db_acquire(t->db_server, t->db_name);
    return *tc ? ADMIN_OK : ADMIN_DB;
}

/* A staff module status as ours (conflicts named in *conflict). */
static int from_staff(int rc, const char **conflict)
{
    switch (rc) {
    case STAFF_OK:
        return ADMIN_OK;
    case STAFF_NOT_FOUND:
        return ADMIN_NOT_FOUND;
    case STAFF_INVALID:
        return ADMIN_INVALID;
    case STAFF_EMAIL_TAKEN:
        *conflict = "email_taken";
        return ADMIN_CONFLICT;
    case STAFF_LAST_OWNER:
        *conflict = "last_owner";
        return ADMIN_CONFLICT;
    case STAFF_INACTIVE:
        *conflict = "user_inactive";
        return ADMIN_CONFLICT;
    case STAFF_DB:
        return ADMIN_DB;
    default:
        log_msg(LOG_ERROR, "admin: unexpected staff module status %d", rc);
        return ADMIN_DB;
    }
}

int admin_staff_list(struct db_conn *m, const char *slug, json_t **out)
{
    struct tenant t;
    struct db_conn *tc;
    const char *conflict = NULL;
    int rc = studio_tenant(m, slug, &t, &tc, &conflict);
    if (rc == ADMIN_CONFLICT) {
        *out = json_pack("{s:[], s:[]}", "staff", "roles");
        return ADMIN_OK; /* nothing to list yet */
    }
    if (rc != ADMIN_OK)
        return rc;
    json_t *list = NULL;
    rc = from_staff(staff_list(tc, &list), &conflict);
    PGresult *roles = rc == ADMIN_OK ? db_exec(tc, sql_roles, 0, NULL, NULL) : NULL;
    db_release(tc);
    if (rc != ADMIN_OK || !roles) {
        json_decref(list);
        return rc != ADMIN_OK ? rc : ADMIN_DB;
    }
    json_t *names = json_array();
    for (int i = 0; i < PQntuples(roles); i++)
        json_array_append_new(names, json_string(PQgetvalue(roles, i, 0)));
    PQclear(roles);
    json_object_set_new(list, "roles", names);
    *out = list;
    return ADMIN_OK;
}

int admin_staff_invite(struct db_conn *m, struct arena *a, const struct admin_actor *who,
                       const char *slug, const char *studio_url, const struct admin_staff_input *in,
                       json_t **out, json_t **fields, const char **conflict)
{
    if (!in->role || !*in->role || strlen(in->role) > 64) {
        *fields = json_pack("{s:s}", "role", "A role of the studio, e.g. owner");
        return ADMIN_INVALID;
    }
    struct tenant t;
    struct db_conn *tc;
    int rc = studio_tenant(m, slug, &t, &tc, conflict);
    if (rc != ADMIN_OK)
        return rc;
    const char *pr[] = {in->role};
    PGresult *r = db_exec(tc, sql_role_id, 1, pr, NULL);
    if (!r || PQntuples(r) != 1) {
        rc = r ? ADMIN_INVALID : ADMIN_DB;
        if (r)
            *fields = json_pack("{s:s}", "role", "No such role in this studio");
        PQclear(r);
        db_release(tc);
        return rc;
    }
    char *role_id = db_get_dup(a, r, 0, "id");
    PQclear(r);
    json_t *body = json_object();
    if (in->name)
        json_object_set_new(body, "name", json_string(in->name));
    if (in->email)
        json_object_set_new(body, "email", json_string(in->email));
    /* The staff module makes the user and the invitation and queues its mail. The role is
     * granted here rather than by staff_create, whose RBAC check (the actor must hold what
     * the role gives) is about the studio's own users: a platform admin is none of them and
     * stands above the studio's RBAC. */
    struct staff_actor actor = {.user_id = NULL, .name = "The studiod team", .owner = true};
    struct staff_studio studio = {.name = t.name, .url = studio_url};
    json_t *member = NULL;
    rc = from_staff(staff_create(tc, m, a, &actor, &studio, body, &member, fields), conflict);
    json_decref(body);
    const char *user_id = rc == ADMIN_OK ? json_string_value(json_object_get(member, "id")) : NULL;
    if (rc == ADMIN_OK) {
        const char *pg[] = {user_id, role_id};
        if (db_begin(tc) != 0 || rbac_lock(tc) != 0 || db_run(tc, sql_grant_role, 2, pg) != 0 ||
            db_commit(tc) != 0) {
            db_rollback(tc);
            log_msg(LOG_ERROR, "admin: staff user %s of %s was invited but not given the role %s",
                    user_id, slug, in->role);
            rc = ADMIN_DB;
        }
    }
    /* Read back with its role. */
    json_t *fresh = NULL;
    if (rc == ADMIN_OK && staff_get(tc, user_id, &fresh) == STAFF_OK) {
        json_object_set(fresh, "invitation_sent", json_object_get(member, "invitation_sent"));
        json_decref(member);
        member = fresh;
        user_id = json_string_value(json_object_get(member, "id"));
    }
    db_release(tc);
    if (rc != ADMIN_OK) {
        json_decref(member);
        return rc;
    }
    json_t *after =
        json_pack("{s:O?, s:O?, s:O?, s:s, s:O?}", "id", json_object_get(member, "id"), "name",
                  json_object_get(member, "name"), "email", json_object_get(member, "email"),
                  "role", in->role, "invitation_sent", json_object_get(member, "invitation_sent"));
    /* The studio's change has committed: the entry follows in the master (see the top). */
    if (admin_audit_append(m, who, "staff.invite", slug, user_id, NULL, after) != 0) {
        log_msg(LOG_ERROR, "admin: staff.invite of %s on %s has no audit entry", user_id, slug);
        json_decref(after);
        json_decref(member);
        return ADMIN_DB;
    }
    json_decref(after);
    *out = json_pack("{s:o}", "user", member);
    return ADMIN_OK;
}

int admin_staff_reset_password(struct db_conn *m, struct arena *a, const struct admin_actor *who,
                               const char *slug, const char *studio_url, const char *user_id,
                               json_t **out, const char **conflict)
{
    struct tenant t;
    struct db_conn *tc;
    int rc = studio_tenant(m, slug, &t, &tc, conflict);
    if (rc != ADMIN_OK)
        return rc;
    char *name = NULL, *email = NULL, *expires = NULL;
    char *token = crypto_token(a, STAFF_TOKEN_BYTES);
    if (db_begin(tc) != 0) {
        db_release(tc);
        return ADMIN_DB;
    }
    const char *pu[] = {user_id};
    PGresult *r = db_exec(tc, sql_user_lock, 1, pu, NULL);
    if (!r)
        rc = ADMIN_DB;
    else if (PQntuples(r) != 1)
        rc = ADMIN_NOT_FOUND;
    else if (db_get(r, 0, "active")[0] != 't') {
        *conflict = "user_inactive";
        rc = ADMIN_CONFLICT;
    } else {
        name = db_get_dup(a, r, 0, "name");
        email = db_get_dup(a, r, 0, "email");
    }
    PQclear(r);
    r = NULL;
    /* The old password stops working and its sessions end: the link sets a new one (the
     * /invite page takes links only for users without a password). */
    const char *pi[] = {user_id, crypto_sha256_hex(a, token, strlen(token)), num(a, RESET_HOURS)};
    if (rc == ADMIN_OK &&
        (db_run(tc, sql_clear_password, 1, pu) != 0 || db_run(tc, sql_end_sessions, 1, pu) != 0 ||
         db_run(tc, sql_drop_open_invitations, 1, pu) != 0 ||
         !(r = db_exec(tc, sql_insert_invitation, 3, pi, NULL)) || PQntuples(r) != 1))
        rc = ADMIN_DB;
    if (rc == ADMIN_OK)
        expires = db_get_dup(a, r, 0, "expires_at");
    PQclear(r);
    rc = commit_or_rollback(tc, rc);
    db_release(tc);
    if (rc != ADMIN_OK)
        return rc;

    struct mail mail = {
        .to = email,
        .subject = arena_printf(a, "Choose a new password for %s", t.name),
        .text = arena_printf(
            a,
            "Hello %s,\r\n\r\n"
            "studiod support has reset the password of your account at %s (%s).\r\n"
            "Choose a new one with this link (it works once, until %s UTC):\r\n\r\n"
            "  %s/invite/%s\r\n\r\n"
            "Then sign in with this e-mail address at %s/login\r\n\r\n"
            "Your previous password no longer works. No e-mail from studiod ever contains\r\n"
            "a password.\r\n\r\n"
            "-- studiod\r\n",
            name, t.name, studio_url, expires, studio_url, token, studio_url),
    };
    json_t *after = json_pack("{s:s, s:s, s:b}", "email", email, "link_expires_at", expires,
                              "password_cleared", 1);
    if (db_begin(m) != 0)
        rc = ADMIN_DB;
    else
        rc = commit_or_rollback(
            m, mail_queue(m, &mail) == 0 &&
                       audit_in_tx(m, who, "staff.reset_password", slug, user_id, NULL, after) == 0
                   ? ADMIN_OK
                   : ADMIN_DB);
    json_decref(after);
    if (rc != ADMIN_OK) {
        log_msg(LOG_ERROR,
                "admin: the password of %s on %s was reset, but the mail and audit "
                "entry could not be written (reset again)",
                user_id, slug);
        return rc;
    }
    *out = json_pack("{s:b, s:s, s:s}", "sent", 1, "to", email, "link_expires_at", expires);
    return ADMIN_OK;
}

int admin_staff_deactivate(struct db_conn *m, const struct admin_actor *who, const char *slug,
                           const char *user_id, json_t **out, const char **conflict)
{
    struct tenant t;
    struct db_conn *tc;
    int rc = studio_tenant(m, slug, &t, &tc, conflict);
    if (rc != ADMIN_OK)
        return rc;
    json_t *before = NULL, *member = NULL, *fields = NULL;
    rc = from_staff(staff_get(tc, user_id, &before), conflict);
    if (rc == ADMIN_OK && !json_is_true(json_object_get(before, "active"))) {
        *conflict = "already_inactive";
        rc = ADMIN_CONFLICT;
    }
    if (rc == ADMIN_OK) {
        /* staff_update ends their sessions and open invitation in its transaction, and
         * refuses to take away a studio's last owner who can sign in. user_id "" is nobody:
         * an admin is never the user it deactivates. */
        struct staff_actor actor = {.user_id = "", .name = "The studiod team", .owner = true};
        json_t *body = json_pack("{s:b}", "active", 0);
        rc = from_staff(staff_update(tc, &actor, user_id, body, &member, &fields), conflict);
        json_decref(body);
        json_decref(fields);
    }
    db_release(tc);
    if (rc != ADMIN_OK) {
        json_decref(before);
        return rc;
    }
    json_t *b = json_pack("{s:b}", "active", 1);
    json_t *af =
        json_pack("{s:b, s:O?, s:O?}", "active", 0, "name", json_object_get(before, "name"),
                  "email", json_object_get(before, "email"));
    json_decref(before);
    int arc = admin_audit_append(m, who, "staff.deactivate", slug, user_id, b, af);
    json_decref(b);
    json_decref(af);
    if (arc != 0) {
        log_msg(LOG_ERROR, "admin: staff.deactivate of %s on %s has no audit entry", user_id, slug);
        json_decref(member);
        return ADMIN_DB;
    }
    *out = json_pack("{s:o}", "user", member);
    return ADMIN_OK;
}

/* ---- dashboard ------------------------------------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    char *json; /* malloc'd; the last computed figures, or NULL */
    time_t generated;
    bool computing;
} dash = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void utc_now_text(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* day0 ("YYYY-MM-DD") plus offset days, as "YYYY-MM-DD". */
static void day_text(const char *day0, int offset, char *out, size_t n)
{
    struct tm tm = {0};
    if (sscanf(day0, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) {
        snprintf(out, n, "?");
        return;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_hour = 12;
    time_t t = timegm(&tm) + (time_t)offset * 86400;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d", &tm);
}

/* One studio's figures, within its statement timeout; s->ok tells whether they came. */
static void dash_one(struct dash_job *job, struct dash_studio *s)
{
    struct db_conn *c = db_acquire(s->db_server, s->db_name);
    if (!c)
        return;
    char timeout[16], idle[16];
    snprintf(timeout, sizeof(timeout), "%d", DASH_TENANT_TIMEOUT_MS);
    snprintf(idle, sizeof(idle), "%d", g_config.session_idle_minutes);
    const char *pt[] = {timeout};
    const char *p[] = {job->month_start, job->day0, idle};
    PGresult *r = NULL;
    if (db_begin(c) == 0 && db_run(c, sql_dash_timeout, 1, pt) == 0)
        r = db_exec(c, sql_dash_tenant, 3, p, NULL);
    if (r && PQntuples(r) == 1) {
        s->staff = strtoll(db_get(r, 0, "staff"), NULL, 10);
        s->sessions = strtoll(db_get(r, 0, "sessions"), NULL, 10);
        s->rooms = strtoll(db_get(r, 0, "rooms"), NULL, 10);
        s->month = strtoll(db_get(r, 0, "month"), NULL, 10);
        json_t *days = json_loads(db_get(r, 0, "per_day"), 0, NULL);
        size_t i;
        json_t *pair;
        json_array_foreach(days, i, pair)
        {
            json_int_t d = json_integer_value(json_array_get(pair, 0));
            if (d >= 0 && d < DASH_DAYS)
                s->per_day[d] += json_integer_value(json_array_get(pair, 1));
        }
        json_decref(days);
        s->ok = true;
    }
    PQclear(r);
    if (s->ok)
        db_commit(c);
    else
        db_rollback(c);
    db_release(c);
}

static void *dash_worker(void *arg)
{
    struct dash_job *job = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n || now_ms() > job->deadline)
            break;
        dash_one(job, &job->studios[i]);
    }
    return NULL;
}

/* The figures as malloc'd JSON text, or NULL when the master database failed. */
static char *dash_compute(void)
{
    struct db_conn *m = db_acquire_master();
    if (!m)
        return NULL;
    char idle[16], back[16];
    snprintf(idle, sizeof(idle), "%d", ADMIN_SESSION_IDLE_MINUTES);
    snprintf(back, sizeof(back), "%d", DASH_DAYS - 1);
    const char *p[] = {idle, back};
    PGresult *r = db_exec(m, sql_dash_master, 2, p, NULL);
    PGresult *list = r ? db_exec(m, sql_dash_studios, 0, NULL, NULL) : NULL;
    db_release(m);
    if (!r || !list) {
        PQclear(r);
        return NULL;
    }
    struct dash_job job = {.n = (size_t)PQntuples(list), .deadline = now_ms() + DASH_BUDGET_MS};
    atomic_init(&job.next, 0);
    snprintf(job.month_start, sizeof(job.month_start), "%s", db_get(r, 0, "month_start"));
    snprintf(job.day0, sizeof(job.day0), "%s", db_get(r, 0, "day0"));
    job.studios = calloc(job.n ? job.n : 1, sizeof(*job.studios));
    if (!job.studios) {
        PQclear(r);
        PQclear(list);
        return NULL;
    }
    for (size_t i = 0; i < job.n; i++) {
        struct dash_studio *s = &job.studios[i];
        snprintf(s->slug, sizeof(s->slug), "%s", db_get(list, (int)i, "slug"));
        snprintf(s->db_name, sizeof(s->db_name), "%s", db_get(list, (int)i, "db_name"));
        snprintf(s->db_server, sizeof(s->db_server), "%s", db_get(list, (int)i, "db_server"));
    }
    PQclear(list);

    pthread_t threads[DASH_WORKERS];
    int started = 0;
    for (int i = 0; i < DASH_WORKERS && (size_t)i < job.n; i++)
        if (pthread_create(&threads[started], NULL, dash_worker, &job) == 0)
            started++;
    if (started == 0)
        dash_worker(&job); /* no thread could start: do it here */
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);

    long long staff = 0, sessions = 0, rooms = 0, month = 0, per_day[DASH_DAYS] = {0};
    json_t *unreachable = json_array();
    size_t counted = 0;
    for (size_t i = 0; i < job.n; i++) {
        const struct dash_studio *s = &job.studios[i];
        if (!s->ok) {
            if (json_array_size(unreachable) < DASH_MAX_UNREACHABLE)
                json_array_append_new(unreachable, json_string(s->slug));
            continue;
        }
        counted++;
        staff += s->staff;
        sessions += s->sessions;
        rooms += s->rooms;
        month += s->month;
        for (int d = 0; d < DASH_DAYS; d++)
            per_day[d] += s->per_day[d];
    }
    json_t *days = json_array();
    for (int d = 0; d < DASH_DAYS; d++) {
        char date[16];
        day_text(job.day0, d, date, sizeof(date));
        json_array_append_new(
            days, json_pack("{s:s, s:I}", "date", date, "count", (json_int_t)per_day[d]));
    }
    char generated[32];
    utc_now_text(generated, sizeof(generated));
    long long trial = strtoll(db_get(r, 0, "trial"), NULL, 10);
    long long active = strtoll(db_get(r, 0, "active"), NULL, 10);
    long long suspended = strtoll(db_get(r, 0, "suspended"), NULL, 10);
    long long provisioning = strtoll(db_get(r, 0, "provisioning"), NULL, 10);
    json_t *out = json_pack(
        "{s:s, s:i, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:o,"
        " s:{s:i, s:s, s:s}, s:I, s:I, s:o}",
        "generated_at", generated, "max_age_seconds", ADMIN_DASHBOARD_MAX_AGE, "studios", "total",
        (json_int_t)(trial + active + suspended), "trial", (json_int_t)trial, "active",
        (json_int_t)active, "suspended", (json_int_t)suspended, "provisioning",
        (json_int_t)provisioning, "staff_users", (json_int_t)staff, "active_sessions",
        (json_int_t)sessions, "admin_sessions",
        (json_int_t)strtoll(db_get(r, 0, "admin_sessions"), NULL, 10), "rooms", (json_int_t)rooms,
        "bookings_this_month", (json_int_t)month, "bookings_per_day", days, "revenue", "amount", 0,
        "currency", "EUR", "source", "none", "studios_counted", (json_int_t)counted,
        "studios_skipped", (json_int_t)(job.n - counted), "studios_unreachable", unreachable);
    PQclear(r);
    free(job.studios);
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    return text;
}

int admin_dashboard(struct arena *a, bool fresh, char **json_text)
{
    pthread_mutex_lock(&dash.lock);
    for (;;) {
        time_t now = time(NULL);
        bool young = dash.json && now - dash.generated < ADMIN_DASHBOARD_MAX_AGE;
        if (young && !fresh)
            break;
        if (!dash.computing)
            break;
        if (dash.json && !fresh)
            break; /* stale while another request recomputes: better than waiting */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += DASH_WAIT_SECONDS;
        if (pthread_cond_timedwait(&dash.done, &dash.lock, &until) != 0)
            break;
        fresh = false; /* a computation just ended: its figures are fresh */
    }
    time_t now = time(NULL);
    bool usable =
        dash.json && (!fresh && (dash.computing || now - dash.generated < ADMIN_DASHBOARD_MAX_AGE));
    if (!usable && !dash.computing) {
        dash.computing = true;
        pthread_mutex_unlock(&dash.lock);
        char *text = dash_compute();
        pthread_mutex_lock(&dash.lock);
        if (text) {
            free(dash.json);
            dash.json = text;
            dash.generated = time(NULL);
        }
        dash.computing = false;
        pthread_cond_broadcast(&dash.done);
    }
    int rc = dash.json ? ADMIN_OK : ADMIN_DB;
    if (dash.json)
        *json_text = arena_strdup(a, dash.json);
    pthread_mutex_unlock(&dash.lock);
    return rc;
}
