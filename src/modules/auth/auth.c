/*
 * auth.c — rules and SQL for staff sign-in.
 *
 * Sessions live in the studio's own database, so a cookie minted by one
 * studio names no session in any other: it is worthless on another host
 * even if a browser or attacker sends it there. Only SHA-256(token) is
 * stored. A session ends at the first of: idle expiry (last_seen_at older
 * than STUDIOD_SESSION_IDLE_MINUTES), absolute expiry (expires_at), logout,
 * or the user being deactivated. last_seen_at is written at most once a
 * minute, so a busy user costs one read per request, not a write — and
 * with the session cache not even that: a session read once is kept in a
 * tcache (tcache.h) for at most STUDIOD_SESSION_CACHE_SECONDS (at most 50 s,
 * so that an active session's last_seen_at is still written once a minute
 * from here), never past the session's absolute expiry or its first role's
 * expiry, and every state change by staff or a platform admin drops the
 * studio's cached sessions in every process (after_request in main.c). What
 * the cache cannot see: a session, user or role changed by SQL outside
 * studiod, which shows within the entry's lifetime. This departs from
 * DESIGN.md's "processes keep no state of their own": the state is a cache
 * whose loss changes nothing but speed, and cross-process correctness comes
 * from PostgreSQL (LISTEN/NOTIFY, cache_bus.h), as DESIGN.md asks.
 *
 * Throttling counts failures in the master database (login_failures), so
 * every studiod process sees the same counts. The check runs before the
 * password is looked at and answers the same for known and unknown
 * accounts; unknown accounts still pay an argon2 verification so timing
 * tells nothing either.
 *
 * Audit (audit.h, resource "auth", in the studio's own log): a sign-in
 * opens its session, stamps last_login_at and writes its "login" entry in
 * one transaction; a refused one writes "login_failed" (the e-mail tried,
 * the reason: bad_credentials for a wrong password or an unknown address
 * alike, throttled); a sign-out deletes the session and writes "logout" in
 * one transaction. When the entry cannot be written the sign-in or
 * sign-out does not happen, and a refusal is answered as the database
 * being unavailable.
 */
#include "auth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/audit.h"
#include "studiod/cache_bus.h"
#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/tcache.h"
#include "studiod/tenant.h"

static const char sql_load_session[] =
    "SELECT s.id, s.user_id, s.csrf_token, u.name, u.email,"
    "       s.last_seen_at < now() - interval '60 seconds' AS stale,"
    "       coalesce((SELECT json_agg(r.name ORDER BY r.name) FROM user_roles ur"
    "                   JOIN roles r ON r.id = ur.role_id"
    "                  WHERE ur.user_id = u.id"
    "                    AND (ur.expires_at IS NULL OR ur.expires_at > now())), '[]') AS roles,"
    /* until when this answer holds by itself: the session's end, or a role's */
    "       extract(epoch FROM least(s.expires_at,"
    "         (SELECT min(ur.expires_at) FROM user_roles ur"
    "           WHERE ur.user_id = u.id AND ur.expires_at > now()))) AS valid_until"
    "  FROM sessions s JOIN users u ON u.id = s.user_id"
    " WHERE s.token_hash = $1 AND u.active AND s.expires_at > now()"
    "   AND s.last_seen_at > now() - make_interval(mins => $2)";
static const char sql_touch_session[] = "UPDATE sessions SET last_seen_at = now() WHERE id = $1";
static const char sql_throttle[] =
    "SELECT (SELECT count(*) FROM login_failures"
    "         WHERE organization_id = $1 AND email = lower($2)"
    "           AND at > now() - make_interval(mins => $4)) AS account,"
    "       (SELECT count(*) FROM login_failures"
    "         WHERE ip = $3 AND at > now() - make_interval(mins => $4)) AS ip,"
    "       greatest(1, ceil(extract(epoch FROM"
    "         (SELECT min(at) FROM (SELECT at FROM login_failures"
    "                                WHERE (organization_id = $1 AND email = lower($2)) OR ip = $3"
    "                                ORDER BY at DESC LIMIT $5) recent)"
    "         + make_interval(mins => $4) - now())))::int AS retry_after";
static const char sql_record_failure[] =
    "INSERT INTO login_failures (organization_id, email, ip) VALUES ($1, lower($2), $3)";
static const char sql_clear_failures[] =
    "DELETE FROM login_failures WHERE organization_id = $1 AND email = lower($2)";
static const char sql_find_user[] =
    "SELECT id, name, email, password_hash FROM users WHERE lower(email) = lower($1) AND active";
static const char sql_create_session[] =
    "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, ip, user_agent)"
    " VALUES ($1, $2, $3, now() + make_interval(hours => $4), $5, $6)"
    " RETURNING id";
static const char sql_user_logged_in[] = "UPDATE users SET last_login_at = now() WHERE id = $1";
static const char sql_delete_session[] = "DELETE FROM sessions WHERE token_hash = $1";

static enum auth_result refused(struct request *req, struct db_conn *t, const char *email,
                                const char *reason, enum auth_result rc);
static enum auth_result open_session(struct request *req, struct db_conn *t, const char *user_email,
                                     struct auth_login_result *out);

#define SESSION_CACHE_SLOTS 4096
#define SESSION_CACHE_TTL_MAX 50 /* < the 60 s of "stale" above */

static struct tcache *sessions; /* NULL: no cache */

int auth_cache_start(int ttl_seconds)
{
    if (ttl_seconds > SESSION_CACHE_TTL_MAX)
        ttl_seconds = SESSION_CACHE_TTL_MAX;
    if (ttl_seconds > 0 &&
        !(sessions = tcache_new(CACHE_BUS_STAFF_CHANGE, SESSION_CACHE_SLOTS, ttl_seconds)))
        return -1;
    return 0;
}

void auth_cache_stop(void)
{
    tcache_free(sessions);
    sessions = NULL;
}

int auth_load_session(struct request *req, struct session *out)
{
    const char *token = http_cookie(req, AUTH_COOKIE);
    if (!token || strlen(token) > 128)
        return -1;
    const char *hash = crypto_sha256_hex(req->arena, token, strlen(token));
    size_t len = 0;
    const struct session *hit = tcache_get(sessions, req->arena, req->tenant->id, hash, &len);
    if (hit && len == sizeof(*out)) {
        *out = *hit;
        return 0;
    }
    uint64_t epoch = tcache_epoch(sessions);
    struct db_conn *t = db_acquire(req->tenant->db_server, req->tenant->db_name);
    if (!t)
        return -2;
    req->tenant_db = t; /* reused by the handler, released with the request */
    char idle[16];
    snprintf(idle, sizeof(idle), "%d", g_config.session_idle_minutes);
    const char *p[] = {hash, idle};
    PGresult *r = db_exec(t, sql_load_session, 2, p, NULL);
    if (!r)
        return -2;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
#define COPY(dst, col) snprintf(out->dst, sizeof(out->dst), "%s", db_get(r, 0, col))
    COPY(id, "id");
    COPY(user_id, "user_id");
    COPY(csrf_token, "csrf_token");
    COPY(user_name, "name");
    COPY(user_email, "email");
    COPY(roles_json, "roles");
#undef COPY
    bool stale = strcmp(db_get(r, 0, "stale"), "t") == 0;
    double valid_until = strtod(db_get(r, 0, "valid_until"), NULL);
    PQclear(r);
    if (stale) {
        const char *pt[] = {out->id};
        db_run(t, sql_touch_session, 1, pt);
    }
    /* The cache holds an entry at most 20 s (< the 60 s above), so a session in use
     * still has last_seen_at refreshed from here at least once a minute. */
    tcache_put(sessions, req->tenant->id, hash, out, sizeof(*out), valid_until, epoch);
    return 0;
}

enum auth_result auth_throttled(struct request *req, struct db_conn *m, const char *email,
                                int *retry_after)
{
    char mins[8], limit[8];
    snprintf(mins, sizeof(mins), "%d", AUTH_FAILURE_WINDOW_MINUTES);
    snprintf(limit, sizeof(limit), "%d", AUTH_MAX_ACCOUNT_FAILURES);
    const char *p[] = {req->tenant->id, email, req->ip, mins, limit};
    PGresult *r = db_exec(m, sql_throttle, 5, p, NULL);
    if (!r)
        return AUTH_DB_DOWN;
    long account = atol(db_get(r, 0, "account"));
    long ip = atol(db_get(r, 0, "ip"));
    const char *ra = db_get(r, 0, "retry_after");
    *retry_after = ra ? atoi(ra) : AUTH_FAILURE_WINDOW_MINUTES * 60;
    PQclear(r);
    if (account >= AUTH_MAX_ACCOUNT_FAILURES || ip >= AUTH_MAX_IP_FAILURES)
        return AUTH_THROTTLED;
    return AUTH_OK;
}

/* A refused sign-in: its "login_failed" entry, then rc (AUTH_DB_DOWN without the entry). */
static enum auth_result refused(struct request *req, struct db_conn *t, const char *email,
                                const char *reason, enum auth_result rc)
{
    return audit_login_failed(t, req, email, reason) == AUDIT_OK ? rc : AUTH_DB_DOWN;
}

/* The session of a sign-in that passed, in one transaction with the stamp on the user and
 * the "login" entry. Rotation: whatever session the browser had ends; a new token is
 * minted. */
static enum auth_result open_session(struct request *req, struct db_conn *t, const char *user_email,
                                     struct auth_login_result *out)
{
    const char *old = http_cookie(req, AUTH_COOKIE);
    const char *po[] = {old ? crypto_sha256_hex(req->arena, old, strlen(old)) : NULL};
    out->token = crypto_token(req->arena, 32);
    out->csrf_token = crypto_token(req->arena, 24);
    char hours[16];
    snprintf(hours, sizeof(hours), "%d", g_config.session_max_hours);
    const char *ua = http_header(req, "User-Agent");
    const char *ps[] = {crypto_sha256_hex(req->arena, out->token, strlen(out->token)),
                        out->user_id,
                        out->csrf_token,
                        hours,
                        req->ip,
                        ua ? arena_strndup(req->arena, ua, strnlen(ua, 512)) : NULL};
    const char *pl[] = {out->user_id};
    PGresult *r = NULL;
    bool ok = db_begin(t) == 0 && (!old || db_run(t, sql_delete_session, 1, po) == 0) &&
              (r = db_exec(t, sql_create_session, 6, ps, NULL)) != NULL &&
              db_run(t, sql_user_logged_in, 1, pl) == 0 &&
              audit_login(t, req, out->user_id, out->user_name, user_email, db_get(r, 0, "id")) ==
                  AUDIT_OK &&
              db_commit(t) == 0;
    PQclear(r);
    if (!ok) {
        db_rollback(t);
        return AUTH_DB_DOWN;
    }
    return AUTH_OK;
}

enum auth_result auth_login(struct request *req, const char *email, const char *password,
                            struct auth_login_result *out)
{
    struct db_conn *m = request_master_db(req);
    struct db_conn *t = m ? request_tenant_db(req) : NULL;
    if (!t)
        return AUTH_DB_DOWN;
    enum auth_result tr = auth_throttled(req, m, email, &out->retry_after);
    if (tr == AUTH_THROTTLED)
        return refused(req, t, email, "throttled", tr);
    if (tr != AUTH_OK)
        return tr;
    const char *pu[] = {email};
    PGresult *r = db_exec(t, sql_find_user, 1, pu, NULL);
    if (!r)
        return AUTH_DB_DOWN;
    bool ok;
    char user_email[256] = "";
    if (PQntuples(r) == 1 && db_get(r, 0, "password_hash")) {
        ok = crypto_password_verify(db_get(r, 0, "password_hash"), password);
        snprintf(out->user_id, sizeof(out->user_id), "%s", db_get(r, 0, "id"));
        snprintf(out->user_name, sizeof(out->user_name), "%s", db_get(r, 0, "name"));
        snprintf(user_email, sizeof(user_email), "%s", db_get(r, 0, "email"));
    } else {
        crypto_password_burn(password);
        ok = false;
    }
    PQclear(r);
    const char *pf[] = {req->tenant->id, email, req->ip};
    if (!ok) {
        db_run(m, sql_record_failure, 3, pf);
        return refused(req, t, email, "bad_credentials", AUTH_BAD_CREDENTIALS);
    }
    db_run(m, sql_clear_failures, 2, pf);
    return open_session(req, t, user_email, out);
}

int auth_logout(struct request *req)
{
    const char *token = http_cookie(req, AUTH_COOKIE);
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return -1;
    if (!token)
        return 0;
    const char *p[] = {crypto_sha256_hex(req->arena, token, strlen(token))};
    if (db_begin(t) != 0 || db_run(t, sql_delete_session, 1, p) != 0 ||
        audit_logout(t, req) != AUDIT_OK || db_commit(t) != 0) {
        db_rollback(t);
        return -1;
    }
    tcache_forget(sessions, req->tenant->id, p[0]); /* other processes: after_request, main.c */
    return 0;
}
