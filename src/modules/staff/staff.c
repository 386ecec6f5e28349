/*
 * staff.c — rules and SQL for a studio's team: who its staff users are,
 * inviting someone, renaming, deactivating, removing, and the one-time
 * invitation link that lets a new member choose a password.
 *
 * Decisions (DESIGN.md is silent on them):
 *  - An invited user is made at once, without a password (password_hash
 *    NULL, so no sign-in can succeed), with an invitation: a random token
 *    (STAFF_TOKEN_BYTES from libsodium) of which only the SHA-256 is stored.
 *    The token travels in the e-mail only; it works once (used_at) and for
 *    STAFF_INVITE_DAYS. At most one invitation per user is open
 *    (staff_invitations_open): re-sending deletes the open one, so an older
 *    link stops working. No password is ever e-mailed.
 *  - "invited" in the representation means "has not joined yet" (no
 *    password); invitation_expires_at says when the open link, if any,
 *    stops working, so the team page can offer to re-send an expired one.
 *  - The invitation e-mail is queued in the master database's outbox inside
 *    a master transaction that commits just after the studio's: a failure
 *    before the studio's commit leaves neither user nor mail. Only a master
 *    commit failing right after leaves a user without mail; the answer then
 *    says "invitation_sent": false and the team page offers to re-send.
 *  - Granting a role at invitation follows the RBAC module's rules
 *    (rbac_may_grant_role: the actor must hold every permission the role
 *    gives, else 403 privilege_escalation). The owner role is named apart:
 *    only an owner grants it, and without an expiry, so a studio does not
 *    lose its last owner by the clock.
 *  - Only an owner deactivates or removes an owner: a manager with
 *    staff:update must not be able to lock the owners out.
 *  - "The last active owner": a change is refused when, without the target,
 *    no active user holding the owner role now has a password (an invited
 *    owner who never joined keeps no studio running), and also when the RBAC
 *    module counts the target as the last owner (rbac_is_last_owner: the
 *    last active owner whose role does not expire), so the two modules never
 *    disagree in the unsafe direction. Every transaction that grants a role,
 *    deactivates or removes takes rbac_lock() first, the advisory lock every
 *    role change takes, so two owners removing each other, or a demotion
 *    racing a deactivation, cannot both succeed.
 *  - Nobody deactivates or removes themselves (a studio is handed over by
 *    another owner).
 *  - Deactivating ends the user's sessions (DELETE FROM sessions) and their
 *    open invitation in the same transaction; auth_load_session also needs
 *    users.active, so nothing of theirs works from the commit on.
 *  - A user with history (a sign-in, a session, a booking they created, a
 *    studio session they engineered) is deactivated instead of deleted. A
 *    row of another module that refers to them through a foreign key we do
 *    not know of (SQLSTATE 23503 on DELETE) is history too: the delete is
 *    undone to a savepoint and the user deactivated.
 *  - Accepting an invitation does not sign the user in: they go to /login,
 *    so the one place that opens sessions (and throttles) stays auth.
 *  - Every change writes its audit entry (audit.h) as the last statement on
 *    the studio's connection before its commit, so a change without its
 *    entry never commits (STAFF_DB). Resource "users", the member as the
 *    API shows it before and after: create (an invitation; a role granted
 *    with it is a "user_roles" create too), update, deactivate (a DELETE
 *    that keeps the user), delete, invite (a fresh link), and update with
 *    after {"password": "set"} when an invitation is accepted (by that user,
 *    who has no session yet; the log redacts the value anyway). The actor
 *    is the request's (struct staff_actor.req), else the actor as named:
 *    the platform admin acts through this module without a request of the
 *    studio's. An update that changes nothing writes no entry.
 */
#include "studiod/staff.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "studiod/audit.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/rbac.h"

#define NAME_MAX_CHARS 120
#define EMAIL_MAX_BYTES 254
#define TOKEN_MIN_CHARS 16
#define TOKEN_MAX_CHARS 128
#define UUID_LEN 36
#define SQLSTATE_FK_VIOLATION "23503"
#define OWNER_ROLE "owner"

static bool valid_email(const char *s);
static int two_digits(const char *s);
static bool valid_timestamp(const char *s);
static bool normalize_id(const char *id, char out[UUID_LEN + 1]);
static int query_json(struct db_conn *t, const char *sql, int n, const char *const *p,
                      json_t **out);
static int fail(struct db_conn *t, int rc);
static int audit_as(struct db_conn *t, const struct staff_actor *actor, const char *action,
                    const char *resource, const char *id, json_t *before, json_t *after);
static int audit_new_member(struct db_conn *t, const struct staff_actor *actor, const char *id,
                            const char *role_id, const char *expires, json_t *member);
static int member_get(struct db_conn *t, const char *id, json_t **out);
static json_t *new_member_validate(json_t *body, json_t *clean);
static int role_check(struct db_conn *t, const struct staff_actor *actor, const char *role_id,
                      const char *expires_at, json_t **fields);
static int user_lock(struct db_conn *t, const char *id, bool *active, bool *joined, bool *owner,
                     char **email, char **name, struct arena *a);
static int owner_guard(struct db_conn *t, const struct staff_actor *actor, const char *id,
                       bool active, bool joined, bool owner);
static int deactivate(struct db_conn *t, const char *id);
static int remove_or_deactivate(struct db_conn *t, const struct staff_actor *actor, const char *id,
                                json_t *member, enum staff_removal *done);
static int invitation_insert(struct db_conn *t, struct arena *a, const char *user_id,
                             const char *created_by, char **token);
static int invitation_mail(struct db_conn *master, struct arena *a, const struct staff_actor *actor,
                           const struct staff_studio *studio, const char *to, const char *name,
                           const char *token);
static json_t *password_problems(const char *email, const char *password, const char *confirm);
static int invitation_status(PGresult *r);

/* ---- SQL ------------------------------------------------------------------------------- */

/* to_char's format for a UTC timestamp in RFC 3339 (after AT TIME ZONE 'UTC'). */
#define RFC3339 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

/* The representation of the user aliased u: roles held now, the open invitation's end. */
#define MEMBER_JSON                                                                                \
    "json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'active', u.active,"          \
    " 'invited', u.password_hash IS NULL,"                                                         \
    " 'invitation_expires_at',"                                                                    \
    "   (SELECT to_char(max(i.expires_at) AT TIME ZONE 'UTC', " RFC3339 ")"                        \
    "      FROM staff_invitations i WHERE i.user_id = u.id AND i.used_at IS NULL),"                \
    " 'last_login_at', to_char(u.last_login_at AT TIME ZONE 'UTC', " RFC3339 "),"                  \
    " 'created_at', to_char(u.created_at AT TIME ZONE 'UTC', " RFC3339 "),"                        \
    " 'roles', coalesce((SELECT json_agg(json_build_object('id', r.id, 'name', r.name,"            \
    "                    'expires_at', to_char(ur.expires_at AT TIME ZONE 'UTC', " RFC3339 "))"    \
    "                    ORDER BY r.name)"                                                         \
    "                      FROM user_roles ur JOIN roles r ON r.id = ur.role_id"                   \
    "                     WHERE ur.user_id = u.id"                                                 \
    "                       AND (ur.expires_at IS NULL OR ur.expires_at > now())), '[]'))"

/* The owner role, held now by the user whose id is the SQL expression uid. */
#define HOLDS_OWNER(uid)                                                                           \
    "EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id"                        \
    "         WHERE ur.user_id = " uid " AND r.name = '" OWNER_ROLE "'"                            \
    "           AND (ur.expires_at IS NULL OR ur.expires_at > now()))"

static const char sql_list[] =
    "SELECT coalesce(json_agg(" MEMBER_JSON " ORDER BY NOT u.active, lower(u.name), u.id), '[]')"
    "  FROM users u";
static const char sql_get[] = "SELECT " MEMBER_JSON " FROM users u WHERE u.id = $1";
static const char sql_role[] = "SELECT name FROM roles WHERE id = $1";
/* $1 passed valid_timestamp(), so the cast cannot fail. */
static const char sql_in_future[] = "SELECT $1::timestamptz > now() AS future";
static const char sql_user_insert[] =
    "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id";
static const char sql_role_grant[] =
    "INSERT INTO user_roles (user_id, role_id, expires_at) VALUES ($1, $2, $3::timestamptz)";
static const char sql_invitation_insert[] =
    "INSERT INTO staff_invitations (user_id, token_hash, expires_at, created_by)"
    " VALUES ($1, $2, now() + make_interval(days => $3::int), $4)";
static const char sql_user_lock[] =
    "SELECT u.email, u.name, u.active, u.password_hash IS NOT NULL AS joined,"
    "       " HOLDS_OWNER("u.id") " AS owner"
                                  "  FROM users u WHERE u.id = $1 FOR UPDATE";
static const char sql_other_owners[] =
    "SELECT count(*) AS n FROM users u"
    " WHERE u.id <> $1 AND u.active AND u.password_hash IS NOT NULL AND " HOLDS_OWNER("u.id");
static const char sql_rename[] = "UPDATE users SET name = $2 WHERE id = $1";
static const char sql_set_active[] = "UPDATE users SET active = $2::boolean WHERE id = $1";
static const char sql_end_sessions[] = "DELETE FROM sessions WHERE user_id = $1";
static const char sql_drop_open_invitations[] =
    "DELETE FROM staff_invitations WHERE user_id = $1 AND used_at IS NULL";
static const char sql_history[] =
    "SELECT u.last_login_at IS NOT NULL"
    "       OR EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id)"
    "       OR EXISTS (SELECT 1 FROM bookings b WHERE b.created_by = u.id)"
    "       OR EXISTS (SELECT 1 FROM studio_sessions ss WHERE ss.engineer_id = u.id) AS history"
    "  FROM users u WHERE u.id = $1";
static const char sql_savepoint[] = "SAVEPOINT staff_remove";
static const char sql_rollback_to_savepoint[] = "ROLLBACK TO SAVEPOINT staff_remove";
static const char sql_user_delete[] = "DELETE FROM users WHERE id = $1";
/* An invitation by token hash, with whether it is still good. A deactivated user's
 * invitations are gone (deactivate()), and the join on u.active makes sure. */
#define INVITATION_FIND                                                                            \
    "SELECT i.id, i.user_id, u.name, u.email,"                                                     \
    "       i.used_at IS NOT NULL OR u.password_hash IS NOT NULL AS used,"                         \
    "       i.expires_at <= now() AS expired"                                                      \
    "  FROM staff_invitations i JOIN users u ON u.id = i.user_id"                                  \
    " WHERE i.token_hash = $1 AND u.active"
static const char sql_invitation_find[] = INVITATION_FIND;
static const char sql_invitation_find_locked[] = INVITATION_FIND " FOR UPDATE OF i, u";
static const char sql_set_password[] = "UPDATE users SET password_hash = $2 WHERE id = $1";
static const char sql_invitation_use[] =
    "UPDATE staff_invitations SET used_at = now() WHERE id = $1";

/* ---- small helpers --------------------------------------------------------------------- */

/* The sign-up module's rule for an address: one '@', a dot in the domain, nothing that
 * could break a header line. */
static bool valid_email(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > EMAIL_MAX_BYTES || !at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7F || *p == '<' || *p == '>' || *p == ',' ||
            *p == ';' || *p == '"' || *p == '\\')
            return false;
    return true;
}

/* The number of two decimal digits, or -1. */
static int two_digits(const char *s)
{
    return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])
               ? (s[0] - '0') * 10 + (s[1] - '0')
               : -1;
}

/* RFC 3339 with an offset: YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|±HH:MM), every field in
 * range, so PostgreSQL's cast of it cannot fail. */
static bool valid_timestamp(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t n = strlen(s);
    if (n < 17 || n > 40 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':')
        return false;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), mo = two_digits(s + 5), d = two_digits(s + 8);
    int h = two_digits(s + 11), mi = two_digits(s + 14);
    if (y < 1900 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > days[mo - 1] + (mo == 2 && leap))
        return false;
    const char *p = s + 16;
    if (*p == ':') {
        int sec = two_digits(p + 1);
        if (sec < 0 || sec > 59)
            return false;
        p += 3;
        if (*p == '.') {
            const char *q = ++p;
            while (isdigit((unsigned char)*p))
                p++;
            if (p == q || p - q > 6)
                return false;
        }
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return false;
    int oh = two_digits(p + 1);
    return oh >= 0 && oh <= 23 && p[3] == ':' && two_digits(p + 4) >= 0 &&
           two_digits(p + 4) <= 59 && p[6] == '\0';
}

bool staff_id_valid(const char *id)
{
    return http_uuid_valid(id);
}

bool staff_token_valid(const char *token)
{
    size_t n = token ? strlen(token) : 0;
    if (n < TOKEN_MIN_CHARS || n > TOKEN_MAX_CHARS)
        return false;
    for (const char *p = token; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

/* id in lower case, as PostgreSQL prints it (the session's user id is compared with it as
 * text), into out; false when id is not a uuid. */
static bool normalize_id(const char *id, char out[UUID_LEN + 1])
{
    if (!staff_id_valid(id))
        return false;
    for (int i = 0; i < UUID_LEN; i++)
        out[i] = (char)tolower((unsigned char)id[i]);
    out[UUID_LEN] = '\0';
    return true;
}

/* Runs sql, whose one row has one JSON column, into *out: STAFF_OK, STAFF_NOT_FOUND (no
 * row) or STAFF_DB. */
static int query_json(struct db_conn *t, const char *sql, int n, const char *const *p, json_t **out)
{
    PGresult *r = db_exec(t, sql, n, p, NULL);
    if (!r)
        return STAFF_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STAFF_NOT_FOUND;
    }
    json_error_t e;
    *out = json_loads(PQgetvalue(r, 0, 0), 0, &e);
    PQclear(r);
    if (!*out) {
        log_msg(LOG_ERROR, "staff: unreadable JSON from the database: %s", e.text);
        return STAFF_DB;
    }
    return STAFF_OK;
}

/* Ends a failed transaction and passes rc on. */
static int fail(struct db_conn *t, int rc)
{
    db_rollback(t);
    return rc;
}

/* The entry for a change by actor (see struct staff_actor in staff.h). STAFF_OK, or
 * STAFF_DB: the caller rolls back. */
static int audit_as(struct db_conn *t, const struct staff_actor *actor, const char *action,
                    const char *resource, const char *id, json_t *before, json_t *after)
{
    int rc;
    if (actor->req) {
        rc = audit_record(t, actor->req, action, resource, id, before, after);
    } else {
        bool user = actor->user_id && *actor->user_id;
        struct audit_ctx ctx = {.actor_type = user ? AUDIT_ACTOR_USER : AUDIT_ACTOR_SYSTEM,
                                .actor_id = user ? actor->user_id : NULL,
                                .actor_name = actor->name};
        rc = audit_write(t, &ctx, action, resource, id, before, after);
    }
    return rc == AUDIT_OK ? STAFF_OK : STAFF_DB;
}

/* The entries of an invitation: the new user, and the role granted with it (if any). */
static int audit_new_member(struct db_conn *t, const struct staff_actor *actor, const char *id,
                            const char *role_id, const char *expires, json_t *member)
{
    int rc = audit_as(t, actor, AUDIT_ACTION_CREATE, "users", id, NULL, member);
    if (rc != STAFF_OK || !role_id)
        return rc;
    json_t *grant =
        json_pack("{s:s, s:s, s:s?}", "user_id", id, "role_id", role_id, "expires_at", expires);
    rc = audit_as(t, actor, AUDIT_ACTION_CREATE, "user_roles", id, NULL, grant);
    json_decref(grant);
    return rc;
}

/* The member id as the API shows it, into *out: STAFF_OK, or STAFF_DB (also when the user
 * is not there: callers hold its row). */
static int member_get(struct db_conn *t, const char *id, json_t **out)
{
    const char *p[] = {id};
    int rc = query_json(t, sql_get, 1, p, out);
    return rc == STAFF_NOT_FOUND ? STAFF_DB : rc;
}

/* ---- reading --------------------------------------------------------------------------- */

int staff_list(struct db_conn *t, json_t **out)
{
    json_t *list = NULL;
    int rc = query_json(t, sql_list, 0, NULL, &list);
    if (rc != STAFF_OK)
        return rc == STAFF_NOT_FOUND ? STAFF_DB : rc;
    *out = json_pack("{s:o}", "staff", list);
    return STAFF_OK;
}

int staff_get(struct db_conn *t, const char *id, json_t **out)
{
    if (!staff_id_valid(id))
        return STAFF_NOT_FOUND;
    const char *p[] = {id};
    return query_json(t, sql_get, 1, p, out);
}

/* ---- inviting -------------------------------------------------------------------------- */

/* Checks the fields of a new member; fills clean with name, email and, when given,
 * role_id and role_expires_at. The bad fields, or NULL. */
static json_t *new_member_validate(json_t *body, json_t *clean)
{
    json_t *f = json_object();
    json_t *c, *v;
    if ((c = http_clean_text(json_object_get(body, "name"), 1, NAME_MAX_CHARS, false)))
        json_object_set_new(clean, "name", c);
    else
        json_object_set_new(f, "name", json_pack("s", "Required: 1 to 120 characters"));

    if ((c = http_clean_text(json_object_get(body, "email"), 3, EMAIL_MAX_BYTES, false)) &&
        valid_email(json_string_value(c)))
        json_object_set_new(clean, "email", c);
    else {
        json_decref(c);
        json_object_set_new(f, "email", json_string("A valid e-mail address"));
    }

    v = json_object_get(body, "role_id");
    if (v && !json_is_null(v)) {
        char id[UUID_LEN + 1];
        if (normalize_id(json_string_value(v), id)) {
            json_object_set_new(clean, "role_id", json_string(id));
        } else {
            json_object_set_new(f, "role_id", json_string("A role's id, or null"));
        }
    }

    v = json_object_get(body, "role_expires_at");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !valid_timestamp(json_string_value(v)))
            json_object_set_new(f, "role_expires_at",
                                json_string("An RFC 3339 time such as 2030-01-31T18:00:00Z, "
                                            "or null"));
        else if (!json_object_get(body, "role_id") ||
                 json_is_null(json_object_get(body, "role_id")))
            json_object_set_new(f, "role_expires_at", json_string("Only with a role_id"));
        else
            json_object_set_new(clean, "role_expires_at", json_copy(v));
    }
    if (json_object_size(f) == 0) {
        json_decref(f);
        return NULL;
    }
    return f;
}

/* The role exists, the actor may grant it, and an expiry is in the future. Inside the
 * caller's transaction, after rbac_lock(). */
static int role_check(struct db_conn *t, const struct staff_actor *actor, const char *role_id,
                      const char *expires_at, json_t **fields)
{
    const char *p[] = {role_id};
    PGresult *r = db_exec(t, sql_role, 1, p, NULL);
    if (!r)
        return STAFF_DB;
    bool found = PQntuples(r) == 1;
    bool owner = found && strcmp(db_get(r, 0, "name"), OWNER_ROLE) == 0;
    PQclear(r);
    if (!found) {
        *fields = json_pack("{s:s}", "role_id", "No such role");
        return STAFF_INVALID;
    }
    if (owner && !actor->owner)
        return STAFF_FORBIDDEN;
    switch (rbac_may_grant_role(t, actor->user_id, role_id)) {
    case RBAC_OK:
        break;
    case RBAC_ESCALATION:
        return STAFF_ESCALATION;
    case RBAC_NOT_FOUND:
        *fields = json_pack("{s:s}", "role_id", "No such role");
        return STAFF_INVALID;
    default:
        return STAFF_DB;
    }
    if (!expires_at)
        return STAFF_OK;
    if (owner) {
        *fields = json_pack("{s:s}", "role_expires_at", "The owner role does not expire");
        return STAFF_INVALID;
    }
    const char *pe[] = {expires_at};
    r = db_exec(t, sql_in_future, 1, pe, NULL);
    if (!r)
        return STAFF_DB;
    bool future = strcmp(db_get(r, 0, "future"), "t") == 0;
    PQclear(r);
    if (!future) {
        *fields = json_pack("{s:s}", "role_expires_at", "Must be in the future");
        return STAFF_INVALID;
    }
    return STAFF_OK;
}

/* A new invitation for user_id (the caller has dropped any open one); its token in *token. */
static int invitation_insert(struct db_conn *t, struct arena *a, const char *user_id,
                             const char *created_by, char **token)
{
    *token = crypto_token(a, STAFF_TOKEN_BYTES);
    char days[8];
    snprintf(days, sizeof(days), "%d", STAFF_INVITE_DAYS);
    const char *p[] = {user_id, crypto_sha256_hex(a, *token, strlen(*token)), days, created_by};
    return db_run(t, sql_invitation_insert, 4, p) == 0 ? STAFF_OK : STAFF_DB;
}

/* Queues the invitation e-mail on master (inside the caller's transaction). */
static int invitation_mail(struct db_conn *master, struct arena *a, const struct staff_actor *actor,
                           const struct staff_studio *studio, const char *to, const char *name,
                           const char *token)
{
    struct mail m = {
        .to = to,
        .subject = arena_printf(a, "Join %s on studiod", studio->name),
        .text = arena_printf(
            a,
            "Hello %s,\r\n\r\n"
            "%s invited you to the team of \"%s\" on studiod.\r\n\r\n"
            "Choose your password with this link (it works once, within %d days):\r\n\r\n"
            "  %s/invite/%s\r\n\r\n"
            "Then sign in with this e-mail address at %s/login\r\n\r\n"
            "If you did not expect this invitation, ignore this e-mail: nothing happens\r\n"
            "until the link is used. No e-mail from studiod ever contains a password.\r\n\r\n"
            "-- studiod\r\n",
            name, actor->name && *actor->name ? actor->name : "Your studio", studio->name,
            STAFF_INVITE_DAYS, studio->url, token, studio->url),
    };
    return mail_queue(master, &m) == 0 ? STAFF_OK : STAFF_DB;
}

int staff_create(struct db_conn *t, struct db_conn *master, struct arena *a,
                 const struct staff_actor *actor, const struct staff_studio *studio, json_t *body,
                 json_t **out, json_t **fields)
{
    json_t *clean = json_object();
    json_t *f = new_member_validate(body, clean);
    if (f) {
        *fields = f;
        json_decref(clean);
        return STAFF_INVALID;
    }
    /* Copied to the arena, so clean can go at once. */
    const char *name = arena_strdup(a, json_string_value(json_object_get(clean, "name")));
    const char *email = arena_strdup(a, json_string_value(json_object_get(clean, "email")));
    const char *role_id = arena_strdup(a, json_string_value(json_object_get(clean, "role_id")));
    const char *expires =
        arena_strdup(a, json_string_value(json_object_get(clean, "role_expires_at")));
    json_decref(clean);

    int rc;
    if (db_begin(t) != 0)
        return STAFF_DB;
    if (role_id) {
        rc = rbac_lock(t) == 0 ? role_check(t, actor, role_id, expires, fields) : STAFF_DB;
        if (rc != STAFF_OK)
            return fail(t, rc);
    }
    const char *sqlstate = NULL;
    const char *pu[] = {email, name};
    PGresult *r = db_exec(t, sql_user_insert, 2, pu, &sqlstate);
    if (!r)
        return fail(t, sqlstate && strcmp(sqlstate, SQLSTATE_UNIQUE_VIOLATION) == 0
                           ? STAFF_EMAIL_TAKEN
                           : STAFF_DB);
    char *id = db_get_dup(a, r, 0, "id");
    PQclear(r);
    if (role_id) {
        const char *pr[] = {id, role_id, expires};
        if (!(r = db_exec(t, sql_role_grant, 3, pr, &sqlstate))) {
            /* The role was deleted since role_check. */
            if (sqlstate && strcmp(sqlstate, SQLSTATE_FK_VIOLATION) == 0) {
                *fields = json_pack("{s:s}", "role_id", "No such role");
                return fail(t, STAFF_INVALID);
            }
            return fail(t, STAFF_DB);
        }
        PQclear(r);
    }
    char *token;
    if ((rc = invitation_insert(t, a, id, actor->user_id, &token)) != STAFF_OK)
        return fail(t, rc);
    if ((rc = member_get(t, id, out)) != STAFF_OK)
        return fail(t, rc);

    /* The mail's transaction commits after the studio's (see the top of this file); the
     * audit entries go last on the studio's connection. */
    if (db_begin(master) != 0 ||
        invitation_mail(master, a, actor, studio, email, name, token) != STAFF_OK ||
        audit_new_member(t, actor, id, role_id, expires, *out) != STAFF_OK) {
        db_rollback(master);
        json_decref(*out);
        *out = NULL;
        return fail(t, STAFF_DB);
    }
    if (db_commit(t) != 0) {
        db_rollback(master);
        json_decref(*out);
        *out = NULL;
        return fail(t, STAFF_DB);
    }
    bool sent = db_commit(master) == 0;
    if (!sent) {
        db_rollback(master);
        log_msg(LOG_ERROR, "staff: user %s made, but the invitation mail was not queued", id);
    }
    json_object_set_new(*out, "invitation_sent", json_boolean(sent));
    return STAFF_OK;
}

/* ---- changing -------------------------------------------------------------------------- */

/* Locks the user's row for the rest of the transaction and reads what the rules need.
 * email and name (if asked) are copied into a. */
static int user_lock(struct db_conn *t, const char *id, bool *active, bool *joined, bool *owner,
                     char **email, char **name, struct arena *a)
{
    const char *p[] = {id};
    PGresult *r = db_exec(t, sql_user_lock, 1, p, NULL);
    if (!r)
        return STAFF_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return STAFF_NOT_FOUND;
    }
    *active = strcmp(db_get(r, 0, "active"), "t") == 0;
    *joined = strcmp(db_get(r, 0, "joined"), "t") == 0;
    *owner = strcmp(db_get(r, 0, "owner"), "t") == 0;
    if (email)
        *email = db_get_dup(a, r, 0, "email");
    if (name)
        *name = db_get_dup(a, r, 0, "name");
    PQclear(r);
    return STAFF_OK;
}

/* Whether actor may take the user id out (deactivate, remove): only an owner takes an owner
 * out, and never the last one (see the top of this file). The caller holds rbac_lock(). */
static int owner_guard(struct db_conn *t, const struct staff_actor *actor, const char *id,
                       bool active, bool joined, bool owner)
{
    if (owner && !actor->owner)
        return STAFF_OWNER_ONLY;
    if (!active)
        return STAFF_OK;
    int last = rbac_is_last_owner(t, id);
    if (last < 0)
        return STAFF_DB;
    if (last == 1)
        return STAFF_LAST_OWNER;
    if (!(joined && owner))
        return STAFF_OK; /* not one of the owners who keep the studio running */
    const char *p[] = {id};
    PGresult *r = db_exec(t, sql_other_owners, 1, p, NULL);
    if (!r)
        return STAFF_DB;
    long others = atol(db_get(r, 0, "n"));
    PQclear(r);
    return others > 0 ? STAFF_OK : STAFF_LAST_OWNER;
}

/* Marks the user inactive and ends what they could still use: sessions, open invitation. */
static int deactivate(struct db_conn *t, const char *id)
{
    const char *p[] = {id, "false"};
    if (db_run(t, sql_set_active, 2, p) != 0 || db_run(t, sql_end_sessions, 1, p) != 0 ||
        db_run(t, sql_drop_open_invitations, 1, p) != 0)
        return STAFF_DB;
    return STAFF_OK;
}

int staff_update(struct db_conn *t, const struct staff_actor *actor, const char *id_in,
                 json_t *body, json_t **out, json_t **fields)
{
    char id[UUID_LEN + 1];
    if (!normalize_id(id_in, id))
        return STAFF_NOT_FOUND;

    json_t *f = json_object();
    json_t *name = NULL, *v;
    if ((v = json_object_get(body, "name")) &&
        !(name = http_clean_text(v, 1, NAME_MAX_CHARS, false)))
        json_object_set_new(f, "name", json_string("1 to 120 characters"));
    v = json_object_get(body, "active");
    if (v && !json_is_boolean(v))
        json_object_set_new(f, "active", json_string("true or false"));
    if (json_object_size(f) > 0) {
        json_decref(name);
        *fields = f;
        return STAFF_INVALID;
    }
    json_decref(f);
    int want_active = v ? json_is_true(v) : -1; /* -1: unchanged */
    if (want_active == 0 && strcmp(id, actor->user_id) == 0) {
        json_decref(name);
        return STAFF_SELF;
    }

    *out = NULL;
    if (db_begin(t) != 0) {
        json_decref(name);
        return STAFF_DB;
    }
    bool active, joined, owner;
    json_t *before = NULL;
    int rc = want_active == 0 && rbac_lock(t) != 0 ? STAFF_DB : STAFF_OK;
    if (rc == STAFF_OK)
        rc = user_lock(t, id, &active, &joined, &owner, NULL, NULL, NULL);
    if (rc == STAFF_OK)
        rc = member_get(t, id, &before);
    if (rc == STAFF_OK && want_active == 0 && active &&
        (rc = owner_guard(t, actor, id, active, joined, owner)) == STAFF_OK)
        rc = deactivate(t, id);
    if (rc == STAFF_OK && want_active == 1 && !active) {
        const char *p[] = {id, "true"};
        if (db_run(t, sql_set_active, 2, p) != 0)
            rc = STAFF_DB;
    }
    if (rc == STAFF_OK && name) {
        const char *p[] = {id, json_string_value(name)};
        if (db_run(t, sql_rename, 2, p) != 0)
            rc = STAFF_DB;
    }
    json_decref(name);
    if (rc == STAFF_OK)
        rc = member_get(t, id, out);
    /* Nothing changed (a rename to the same name): no entry. */
    if (rc == STAFF_OK && !json_equal(before, *out))
        rc = audit_as(t, actor, AUDIT_ACTION_UPDATE, "users", id, before, *out);
    json_decref(before);
    if (rc == STAFF_OK && db_commit(t) != 0)
        rc = STAFF_DB;
    if (rc != STAFF_OK) {
        json_decref(*out);
        *out = NULL;
        return fail(t, rc);
    }
    return STAFF_OK;
}

/* Deletes user id, or deactivates them when they have history (see the top), with the entry
 * that says which; member is their representation before. Ends the transaction. */
static int remove_or_deactivate(struct db_conn *t, const struct staff_actor *actor, const char *id,
                                json_t *member, enum staff_removal *done)
{
    const char *p[] = {id};
    PGresult *r = db_exec(t, sql_history, 1, p, NULL);
    if (!r)
        return fail(t, STAFF_DB);
    bool history = strcmp(db_get(r, 0, "history"), "t") == 0;
    PQclear(r);
    if (!history) {
        const char *sqlstate = NULL;
        if (db_run(t, sql_savepoint, 0, NULL) != 0)
            return fail(t, STAFF_DB);
        r = db_exec(t, sql_user_delete, 1, p, &sqlstate);
        if (r) {
            PQclear(r);
            *done = STAFF_REMOVED;
            if (audit_as(t, actor, AUDIT_ACTION_DELETE, "users", id, member, NULL) != STAFF_OK)
                return fail(t, STAFF_DB);
            return db_commit(t) == 0 ? STAFF_OK : fail(t, STAFF_DB);
        }
        /* Another module's row refers to them: that is history too. */
        if (!sqlstate || strcmp(sqlstate, SQLSTATE_FK_VIOLATION) != 0 ||
            db_run(t, sql_rollback_to_savepoint, 0, NULL) != 0)
            return fail(t, STAFF_DB);
    }
    json_t *after = NULL;
    int rc = deactivate(t, id);
    if (rc == STAFF_OK)
        rc = member_get(t, id, &after);
    if (rc == STAFF_OK)
        rc = audit_as(t, actor, "deactivate", "users", id, member, after);
    json_decref(after);
    if (rc != STAFF_OK)
        return fail(t, rc);
    *done = STAFF_DEACTIVATED;
    return db_commit(t) == 0 ? STAFF_OK : fail(t, STAFF_DB);
}

int staff_remove(struct db_conn *t, const struct staff_actor *actor, const char *id_in,
                 enum staff_removal *done)
{
    char id[UUID_LEN + 1];
    if (!normalize_id(id_in, id))
        return STAFF_NOT_FOUND;
    if (db_begin(t) != 0)
        return STAFF_DB;
    if (rbac_lock(t) != 0)
        return fail(t, STAFF_DB);
    bool active, joined, owner;
    int rc = user_lock(t, id, &active, &joined, &owner, NULL, NULL, NULL);
    if (rc != STAFF_OK)
        return fail(t, rc);
    if (strcmp(id, actor->user_id) == 0)
        return fail(t, STAFF_SELF); /* after the lookup, so an unknown id stays a 404 */
    if ((rc = owner_guard(t, actor, id, active, joined, owner)) != STAFF_OK)
        return fail(t, rc);
    json_t *member = NULL;
    if ((rc = member_get(t, id, &member)) != STAFF_OK)
        return fail(t, rc);
    rc = remove_or_deactivate(t, actor, id, member, done);
    json_decref(member);
    return rc;
}

int staff_reinvite(struct db_conn *t, struct db_conn *master, struct arena *a,
                   const struct staff_actor *actor, const struct staff_studio *studio,
                   const char *id_in, json_t **out)
{
    char id[UUID_LEN + 1];
    if (!normalize_id(id_in, id))
        return STAFF_NOT_FOUND;
    if (db_begin(t) != 0)
        return STAFF_DB;
    bool active, joined, owner;
    char *email, *name, *token;
    int rc = user_lock(t, id, &active, &joined, &owner, &email, &name, a);
    if (rc != STAFF_OK)
        return fail(t, rc);
    if (!active)
        return fail(t, STAFF_INACTIVE);
    if (joined)
        return fail(t, STAFF_JOINED);
    const char *p[] = {id};
    json_t *before = NULL;
    if ((rc = member_get(t, id, &before)) != STAFF_OK)
        return fail(t, rc);
    if (db_run(t, sql_drop_open_invitations, 1, p) != 0 ||
        (rc = invitation_insert(t, a, id, actor->user_id, &token)) != STAFF_OK ||
        (rc = member_get(t, id, out)) != STAFF_OK) {
        json_decref(before);
        return fail(t, STAFF_DB);
    }
    /* As in staff_create; a lost master commit here is answered 503 and a retry is safe. */
    if (db_begin(master) != 0 ||
        invitation_mail(master, a, actor, studio, email, name, token) != STAFF_OK ||
        audit_as(t, actor, "invite", "users", id, before, *out) != STAFF_OK || db_commit(t) != 0 ||
        db_commit(master) != 0) {
        json_decref(before);
        db_rollback(master);
        json_decref(*out);
        *out = NULL;
        return fail(t, STAFF_DB);
    }
    json_decref(before);
    json_object_set_new(*out, "invitation_sent", json_true());
    return STAFF_OK;
}

/* ---- accepting an invitation ----------------------------------------------------------- */

/* The status of the one row of an INVITATION_FIND result (or none). */
static int invitation_status(PGresult *r)
{
    if (PQntuples(r) != 1)
        return STAFF_NOT_FOUND;
    if (strcmp(db_get(r, 0, "used"), "t") == 0)
        return STAFF_INVITE_USED;
    if (strcmp(db_get(r, 0, "expired"), "t") == 0)
        return STAFF_INVITE_EXPIRED;
    return STAFF_OK;
}

int staff_invitation_find(struct db_conn *t, struct arena *a, const char *token,
                          struct staff_invitation *out)
{
    if (!staff_token_valid(token))
        return STAFF_NOT_FOUND;
    const char *p[] = {crypto_sha256_hex(a, token, strlen(token))};
    PGresult *r = db_exec(t, sql_invitation_find, 1, p, NULL);
    if (!r)
        return STAFF_DB;
    int rc = invitation_status(r);
    if (rc == STAFF_OK) {
        snprintf(out->user_id, sizeof(out->user_id), "%s", db_get(r, 0, "user_id"));
        snprintf(out->name, sizeof(out->name), "%s", db_get(r, 0, "name"));
        snprintf(out->email, sizeof(out->email), "%s", db_get(r, 0, "email"));
    }
    PQclear(r);
    return rc;
}

/* The sign-up rules for a password (src/modules/signup/signup.c), on the user's e-mail;
 * confirm, when given, must repeat it. The bad fields, or NULL. */
static json_t *password_problems(const char *email, const char *password, const char *confirm)
{
    const char *why = NULL;
    if (!password || !*password)
        why = "Required: at least 10 characters";
    else if (strlen(password) < STAFF_PASSWORD_MIN)
        why = "At least 10 characters";
    else if (strlen(password) > STAFF_PASSWORD_MAX)
        why = "At most 1024 characters";
    else if (strcasecmp(password, email) == 0)
        why = "Must not be your e-mail address";
    if (why)
        return json_pack("{s:s}", "password", why);
    if (confirm && strcmp(confirm, password) != 0)
        return json_pack("{s:s}", "password_confirm", "The two passwords differ");
    return NULL;
}

int staff_invitation_accept(struct db_conn *t, struct request *req, struct arena *a,
                            const char *token, const char *password, const char *confirm,
                            json_t **fields)
{
    struct staff_invitation inv;
    int rc = staff_invitation_find(t, a, token, &inv);
    if (rc != STAFF_OK)
        return rc;
    if ((*fields = password_problems(inv.email, password, confirm)))
        return STAFF_INVALID;
    /* argon2id is slow on purpose: hashed before any row is locked. */
    char *hash = crypto_password_hash(a, password);
    if (!hash)
        return STAFF_DB;

    /* Again under lock: two submissions of one link set one password. */
    if (db_begin(t) != 0)
        return STAFF_DB;
    const char *pf[] = {crypto_sha256_hex(a, token, strlen(token))};
    PGresult *r = db_exec(t, sql_invitation_find_locked, 1, pf, NULL);
    if (!r)
        return fail(t, STAFF_DB);
    if ((rc = invitation_status(r)) != STAFF_OK) {
        PQclear(r);
        return fail(t, rc);
    }
    char *invitation_id = db_get_dup(a, r, 0, "id");
    char *user_id = db_get_dup(a, r, 0, "user_id");
    /* The user acts (there is no session yet), from where req says. */
    struct audit_ctx ctx;
    if (req)
        audit_ctx_from_request(req, &ctx);
    else
        memset(&ctx, 0, sizeof(ctx));
    ctx.actor_type = AUDIT_ACTOR_USER;
    ctx.actor_id = user_id;
    ctx.actor_name = db_get_dup(a, r, 0, "name");
    ctx.actor_email = db_get_dup(a, r, 0, "email");
    PQclear(r);
    const char *pp[] = {user_id, hash};
    const char *pu[] = {invitation_id};
    if (db_run(t, sql_set_password, 2, pp) != 0 || db_run(t, sql_invitation_use, 1, pu) != 0)
        return fail(t, STAFF_DB);
    json_t *after = json_pack("{s:s}", "password", "set");
    rc = audit_write(t, &ctx, AUDIT_ACTION_UPDATE, "users", user_id, NULL, after);
    json_decref(after);
    if (rc != AUDIT_OK)
        return fail(t, STAFF_DB);
    return db_commit(t) == 0 ? STAFF_OK : fail(t, STAFF_DB);
}
