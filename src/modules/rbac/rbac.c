/*
 * rbac.c — rules and SQL for roles and permissions in a studio's database.
 *
 * A permission is resource:action from a fixed catalogue (rbac_resources ×
 * rbac_actions, mirrored by the CHECK constraints of role_permissions);
 * "manage" on a resource implies every action on it. A role grants its own
 * permissions (role_permissions) and inherits every ancestor's (roles.
 * parent_id). A user holds the roles of their user_roles rows that have not
 * expired; a temporary role stops granting at expires_at by the queries
 * themselves, and the job rbac_expire_roles only tidies the rows away.
 *
 * The check the middleware runs (rbac_has_permission) computes the session
 * user's effective permissions with one query (a recursive CTE over
 * user_roles → roles → parents → role_permissions) the first time a request
 * needs them, and keeps them on the request (req->perm_cache, arena memory).
 *
 * Every rule about the hierarchy (inheritance, cycles, what a role grants)
 * runs in C over the studio's whole role graph, loaded in one query: studios
 * have tens of roles, and the same pure functions are unit-tested
 * (tests/unit/test_rbac.c).
 *
 * Decisions (DESIGN.md is silent on them):
 *  - Every change to roles or assignments takes one transaction-scoped
 *    advisory lock (rbac_lock) before reading anything, so two concurrent
 *    changes cannot each pass a check the other breaks (A→B and B→A both
 *    "acyclic", or two owners removing each other). Changes are rare.
 *  - Nobody grants what they do not hold. Creating or changing a role: the
 *    role's effective permissions (its own plus its parent's chain), before
 *    and after the change, must all be held by the actor, so a role above
 *    the actor cannot be edited at all, even to take permissions away.
 *    Assigning a role, or removing one from a user: the role's effective
 *    permissions must all be held by the actor (so an owner-made "HR" role
 *    with staff:manage cannot demote an owner). "manage" is only covered by "manage". The actor's
 *    permissions are read again inside the change's transaction, after the
 *    lock. Refusals are 403 privilege_escalation naming what is missing.
 *  - Built-in roles cannot be edited or deleted (403 builtin_role); a studio
 *    makes its own role, possibly inheriting from a built-in one.
 *  - A role that others inherit from cannot be deleted (409
 *    role_has_children); deleting a role ends its assignments.
 *  - There is always an active user holding the owner role without expiry:
 *    removing it from the last one, or giving the last one an expiry, is 409
 *    last_owner (rbac_is_last_owner serves the staff module too).
 *  - Giving a user a role they hold already replaces its expiry (200, not
 *    201); an expiry must lie in the future.
 *  - Role names: 1 to 60 characters, unique whatever their case; a
 *    description up to 500. Permissions are [{"resource","action"}]; the
 *    same one twice counts once.
 *  - Every change writes its audit entry (audit.h) on the studio's
 *    connection as the last statement before its commit, after the advisory
 *    lock and every row lock the change takes (the entry locks the audit
 *    chain until the commit): a change whose entry cannot be written rolls
 *    back (RBAC_DB, 503). Resources "roles" (the role as the API shows it,
 *    permissions and parent included: create, update with before/after,
 *    delete) and "user_roles" with resource id "<user id>/<role id>" (the
 *    assignment's key, as in its route: an update stores only the changed
 *    expiry, so the id must name the role) and
 *    {"user_id","role_id","role","expires_at"}: create, update when a
 *    re-assignment changes the expiry, delete, and "expire" by the system
 *    when the job tidies an expired one away. A change that changes nothing
 *    (an update to the same values, a re-assignment with the same expiry)
 *    writes no entry. Refused changes roll back before any entry.
 */
#include "studiod/rbac.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/audit.h"
#include "studiod/cache_bus.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/tcache.h"
#include "studiod/tenant.h"

#define NAME_MAX_CHARS 60
#define DESCRIPTION_MAX_CHARS 500
#define PERMISSIONS_MAX_ITEMS 200
#define UUID_LEN 36
#define LOCK_KEY "7411520037" /* pg_advisory_xact_lock key: RBAC changes in one studio */
#define JOB_EXPIRE_ROLES "rbac_expire_roles"
#define JOB_ATTEMPTS 5
#define OWNER_ROLE "owner"
/* What the audit entries name (audit.h); "expire": an assignment the job removed. */
#define AUDIT_ROLES "roles"
#define AUDIT_USER_ROLES "user_roles"
#define AUDIT_ACTION_EXPIRE "expire"
#define ASSIGNMENT_KEY_LEN (2 * UUID_LEN + 1) /* "<user id>/<role id>" */

const char *const rbac_resources[RBAC_NRESOURCES] = {
    "bookings", "sessions", "rooms",    "customers", "payments", "reports", "staff",
    "roles",    "audit",    "settings", "billing",   "themes",   "ai",      "domains",
};
const char *const rbac_actions[RBAC_NACTIONS] = {"view",   "create", "update",
                                                 "delete", "export", "manage"};

/* A studio's roles as loaded: the result rows and the graph over them (row i = v[i]). */
struct roles {
    PGresult *res;
    struct rbac_role *v;
    struct rbac_graph g;
};

/* A role create/update body, checked. */
struct role_input {
    json_t *name;        /* cleaned (owned), NULL when not sent */
    json_t *description; /* cleaned (owned), NULL when not sent */
    bool parent_given;
    char parent_id[UUID_LEN + 1]; /* "" = no parent */
    bool perms_given;
    struct rbac_perms perms;
};

static bool uuid_norm(const char *in, char out[UUID_LEN + 1]);
static int fail(struct db_conn *t, int rc, json_t **fields);
static int fail_out(struct db_conn *t, int rc, json_t **out, json_t **fields);
static const char *actor_of(struct request *req);
static int commit_audited(struct db_conn *t, struct request *req, const char *action,
                          const char *resource, const char *id, json_t *before, json_t *after);
static json_t *assignment_json(const char *user_id, const char *role_id, const char *role,
                               const char *expires_at);
static const char *assignment_key(char out[ASSIGNMENT_KEY_LEN + 1], const char *user_id,
                                  const char *role_id);
static int roles_load(struct db_conn *t, struct roles *out);
static void roles_release(struct roles *rs);
static int roles_row(const struct roles *rs, const char *id);
static int own_role_locked(struct db_conn *t, struct roles *rs, const char *id, int *row);
static bool roles_is_owner(const struct roles *rs, int row);
static json_t *role_json(const struct roles *rs, int row);
static int role_reply(struct db_conn *t, const char *id, json_t **out);
static json_t *role_input_parse(json_t *body, bool creating, struct role_input *in);
static void role_input_release(struct role_input *in);
static void permissions_parse(json_t *v, json_t *f, struct rbac_perms *out);
static int escalation(struct db_conn *t, const char *actor_id, const struct rbac_perms *wanted,
                      json_t **fields);
static int may_touch_assignment(struct db_conn *t, struct request *req, const struct roles *rs,
                                int row, const char *user, bool owner_matters, json_t **fields);
static int role_write_perms(struct db_conn *t, const char *id, const struct rbac_perms *p);
static int role_write(struct db_conn *t, const char *sql, int n, const char *const *p,
                      PGresult **res, json_t **fields);
static const char *source_of(const struct rbac_perms *own, const struct rbac_perms *inherited,
                             int resource, int action);
static bool valid_rfc3339(const char *s);
static int run_expire_roles(json_t *payload, char *err, size_t errlen);

const struct job_kind rbac_job_kinds[] = {
    {JOB_EXPIRE_ROLES, run_expire_roles, JOB_ATTEMPTS},
    {0},
};

/* ---- the catalogue and permission sets (pure) ------------------------------------------ */

int rbac_resource_index(const char *name)
{
    for (int i = 0; name && i < RBAC_NRESOURCES; i++)
        if (strcmp(rbac_resources[i], name) == 0)
            return i;
    return -1;
}

int rbac_action_index(const char *name)
{
    for (int i = 0; name && i < RBAC_NACTIONS; i++)
        if (strcmp(rbac_actions[i], name) == 0)
            return i;
    return -1;
}

void rbac_perms_grant(struct rbac_perms *p, int resource, int action)
{
    if (resource >= 0 && resource < RBAC_NRESOURCES && action >= 0 && action < RBAC_NACTIONS)
        p->bits[resource] |= (uint8_t)(1u << action);
}

void rbac_perms_union(struct rbac_perms *into, const struct rbac_perms *p)
{
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        into->bits[r] |= p->bits[r];
}

bool rbac_perms_allows(const struct rbac_perms *p, int resource, int action)
{
    if (resource < 0 || resource >= RBAC_NRESOURCES || action < 0 || action >= RBAC_NACTIONS)
        return false;
    return (p->bits[resource] & ((1u << action) | (1u << RBAC_MANAGE))) != 0;
}

bool rbac_perms_covers(const struct rbac_perms *holder, const struct rbac_perms *wanted,
                       struct rbac_perms *missing)
{
    bool ok = true;
    if (missing)
        memset(missing, 0, sizeof(*missing));
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        for (int a = 0; a < RBAC_NACTIONS; a++)
            if ((wanted->bits[r] & (1u << a)) && !rbac_perms_allows(holder, r, a)) {
                ok = false;
                if (missing)
                    rbac_perms_grant(missing, r, a);
            }
    return ok;
}

bool rbac_perms_empty(const struct rbac_perms *p)
{
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        if (p->bits[r])
            return false;
    return true;
}

json_t *rbac_perms_json(const struct rbac_perms *p, bool expand)
{
    json_t *list = json_array();
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        for (int a = 0; a < RBAC_NACTIONS; a++)
            if (expand ? rbac_perms_allows(p, r, a) : (p->bits[r] & (1u << a)) != 0)
                json_array_append_new(list, json_pack("{s:s, s:s}", "resource", rbac_resources[r],
                                                      "action", rbac_actions[a]));
    return list;
}

void rbac_perms_format(const struct rbac_perms *p, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        for (int a = 0; a < RBAC_NACTIONS; a++)
            if ((p->bits[r] & (1u << a)) && n < outlen) {
                int w = snprintf(out + n, outlen - n, "%s%s:%s", n ? ", " : "", rbac_resources[r],
                                 rbac_actions[a]);
                n = w < 0 ? outlen : n + (size_t)w;
            }
}

/* ---- the role graph (pure) ------------------------------------------------------------- */

const struct rbac_role *rbac_graph_find(const struct rbac_graph *g, const char *id)
{
    for (size_t i = 0; id && i < g->n; i++)
        if (strcmp(g->roles[i].id, id) == 0)
            return &g->roles[i];
    return NULL;
}

/* Walks up the parents: a walk of more steps than there are roles has met a role twice. */
int rbac_inherited(const struct rbac_graph *g, const char *role_id, struct rbac_perms *out)
{
    memset(out, 0, sizeof(*out));
    const struct rbac_role *r = rbac_graph_find(g, role_id);
    if (!r)
        return -1;
    size_t steps = 0;
    for (const char *p = r->parent_id; p;) {
        if (++steps > g->n)
            return -2;
        const struct rbac_role *up = rbac_graph_find(g, p);
        if (!up)
            return -2;
        rbac_perms_union(out, &up->own);
        p = up->parent_id;
    }
    return 0;
}

int rbac_resolve(const struct rbac_graph *g, const char *role_id, struct rbac_perms *out)
{
    int rc = rbac_inherited(g, role_id, out);
    if (rc != -1)
        rbac_perms_union(out, &rbac_graph_find(g, role_id)->own);
    return rc;
}

/* role_id would become its own ancestor exactly when it is new_parent_id or one of
 * new_parent_id's ancestors. */
bool rbac_would_cycle(const struct rbac_graph *g, const char *role_id, const char *new_parent_id)
{
    size_t steps = 0;
    for (const char *p = new_parent_id; p;) {
        if (strcmp(p, role_id) == 0 || ++steps > g->n)
            return true;
        const struct rbac_role *up = rbac_graph_find(g, p);
        if (!up)
            return true;
        p = up->parent_id;
    }
    return false;
}

/* ---- SQL ------------------------------------------------------------------------------- */

/* to_char's format for a UTC timestamp in RFC 3339 (after AT TIME ZONE 'UTC'). */
#define RFC3339 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

static const char sql_lock[] = "SELECT pg_advisory_xact_lock($1::bigint)";

/* The user's effective permissions: unexpired roles, their ancestors (UNION: a cycle could
 * not loop), what each grants. */
static const char sql_user_perms[] =
    "WITH RECURSIVE held (role_id) AS ("
    "    SELECT ur.role_id FROM user_roles ur"
    "     WHERE ur.user_id = $1::uuid AND (ur.expires_at IS NULL OR ur.expires_at > now())"
    "  UNION"
    "    SELECT r.parent_id FROM held h JOIN roles r ON r.id = h.role_id"
    "     WHERE r.parent_id IS NOT NULL"
    ")"
    " SELECT DISTINCT p.resource, p.action,"
    /* until when this holds by itself: the first of the user's roles to expire */
    "        extract(epoch FROM (SELECT min(ur.expires_at) FROM user_roles ur"
    "                             WHERE ur.user_id = $1::uuid AND ur.expires_at > now()))"
    "          AS valid_until"
    "   FROM held h JOIN role_permissions p ON p.role_id = h.role_id";

/* Every role with its own permissions ("resource:action,..."), built-in ones first in
 * their usual order, then by name. */
static const char sql_roles[] =
    "SELECT r.id, r.parent_id, r.name, r.description, r.builtin,"
    "       to_char(r.created_at AT TIME ZONE 'UTC', " RFC3339 ") AS created_at,"
    "       (SELECT count(*) FROM user_roles ur"
    "         WHERE ur.role_id = r.id"
    "           AND (ur.expires_at IS NULL OR ur.expires_at > now())) AS user_count,"
    "       coalesce((SELECT string_agg(p.resource || ':' || p.action, ',')"
    "                   FROM role_permissions p WHERE p.role_id = r.id), '') AS perms"
    "  FROM roles r"
    " ORDER BY r.builtin DESC,"
    "          array_position(ARRAY['owner', 'manager', 'engineer', 'front desk', 'viewer'],"
    "                         r.name) NULLS LAST,"
    "          lower(r.name), r.id";

static const char sql_role_insert[] =
    "INSERT INTO roles (name, description, parent_id) VALUES ($1, $2, $3::uuid) RETURNING id";
static const char sql_role_update[] =
    "UPDATE roles SET name = $2, description = $3, parent_id = $4::uuid WHERE id = $1::uuid";
static const char sql_role_delete[] = "DELETE FROM roles WHERE id = $1::uuid";
static const char sql_perms_clear[] = "DELETE FROM role_permissions WHERE role_id = $1::uuid";
/* $2: [{"resource","action"}] as rbac_perms_json makes it. */
static const char sql_perms_insert[] =
    "INSERT INTO role_permissions (role_id, resource, action)"
    " SELECT $1::uuid, e->>'resource', e->>'action' FROM jsonb_array_elements($2::jsonb) e";

static const char sql_user_exists[] = "SELECT 1 FROM users WHERE id = $1::uuid";
/* $1: an RFC 3339 time checked for shape; PostgreSQL checks the calendar. */
static const char sql_future[] = "SELECT $1::timestamptz > now() AS future";
static const char sql_assign[] =
    "INSERT INTO user_roles AS ur (user_id, role_id, expires_at)"
    " VALUES ($1::uuid, $2::uuid, $3::timestamptz)"
    " ON CONFLICT (user_id, role_id)"
    " DO UPDATE SET expires_at = EXCLUDED.expires_at, granted_at = now()"
    " RETURNING (xmax = 0) AS created,"
    "           to_char(ur.expires_at AT TIME ZONE 'UTC', " RFC3339 ") AS expires_at,"
    "           to_char(ur.granted_at AT TIME ZONE 'UTC', " RFC3339 ") AS granted_at,"
    "           coalesce(ceil(extract(epoch FROM ur.expires_at - now())), 0)::int AS expires_in";
/* An assignment about to be given again: its expiry now, and whether $3 (the new one, or
 * NULL) is the same. No row: a new assignment. */
static const char sql_assignment_before[] =
    "SELECT to_char(expires_at AT TIME ZONE 'UTC', " RFC3339 ") AS expires_at,"
    "       expires_at IS NOT DISTINCT FROM $3::timestamptz AS same"
    "  FROM user_roles WHERE user_id = $1::uuid AND role_id = $2::uuid FOR UPDATE";
static const char sql_assignment_lock[] =
    "SELECT to_char(expires_at AT TIME ZONE 'UTC', " RFC3339 ") AS expires_at"
    "  FROM user_roles WHERE user_id = $1::uuid AND role_id = $2::uuid FOR UPDATE";
static const char sql_unassign[] =
    "DELETE FROM user_roles WHERE user_id = $1::uuid AND role_id = $2::uuid";
/* Whether $1 holds the owner role for good, and how many other active users do. */
static const char sql_owners[] =
    "SELECT bool_or(ur.user_id = $1::uuid) AS is_owner,"
    "       count(*) FILTER (WHERE ur.user_id <> $1::uuid) AS others"
    "  FROM user_roles ur"
    "  JOIN roles r ON r.id = ur.role_id AND r.builtin AND r.name = '" OWNER_ROLE "'"
    "  JOIN users u ON u.id = ur.user_id AND u.active"
    " WHERE ur.expires_at IS NULL";
/* The expired assignments, removed, with what their audit entries name (oldest first). */
static const char sql_expire[] =
    "WITH gone AS ("
    "    DELETE FROM user_roles WHERE expires_at <= now()"
    "    RETURNING user_id, role_id, expires_at"
    ")"
    " SELECT g.user_id, g.role_id, r.name AS role,"
    "        to_char(g.expires_at AT TIME ZONE 'UTC', " RFC3339 ") AS expires_at"
    "   FROM gone g JOIN roles r ON r.id = g.role_id"
    "  ORDER BY g.expires_at, g.user_id, g.role_id";

/* ---- small helpers --------------------------------------------------------------------- */

bool rbac_id_valid(const char *id)
{
    return http_uuid_valid(id);
}

/* A uuid in PostgreSQL's own spelling (lower case), so it compares with the graph's ids. */
static bool uuid_norm(const char *in, char out[UUID_LEN + 1])
{
    if (!rbac_id_valid(in))
        return false;
    for (int i = 0; i <= UUID_LEN; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    return true;
}

/* Ends a failed transaction: rolls back, drops field errors the status does not carry. */
static int fail(struct db_conn *t, int rc, json_t **fields)
{
    db_rollback(t);
    if (fields && rc != RBAC_INVALID && rc != RBAC_NAME_TAKEN && rc != RBAC_CYCLE &&
        rc != RBAC_ESCALATION && rc != RBAC_HAS_CHILDREN) {
        json_decref(*fields);
        *fields = NULL;
    }
    return rc;
}

/* A change's end when it returns a role: rc as is, or (failed) fail's with *out released. */
static int fail_out(struct db_conn *t, int rc, json_t **out, json_t **fields)
{
    if (rc == RBAC_OK)
        return RBAC_OK;
    json_decref(*out);
    *out = NULL;
    return fail(t, rc, fields);
}

/* The user acting in req (NULL without a session: then nothing may be granted). */
static const char *actor_of(struct request *req)
{
    return req && req->session ? req->session->user_id : NULL;
}

/* Ends a change: its audit entry as the transaction's last statement, then the commit.
 * RBAC_OK, or RBAC_DB: the caller rolls back (fail), and the change goes with its entry. */
static int commit_audited(struct db_conn *t, struct request *req, const char *action,
                          const char *resource, const char *id, json_t *before, json_t *after)
{
    if (audit_record(t, req, action, resource, id, before, after) != AUDIT_OK)
        return RBAC_DB;
    return db_commit(t) == 0 ? RBAC_OK : RBAC_DB;
}

/* An assignment as its audit entries show it (a new reference). */
static json_t *assignment_json(const char *user_id, const char *role_id, const char *role,
                               const char *expires_at)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "user_id", user_id, "role_id", role_id, "role", role,
                     "expires_at", expires_at ? json_string(expires_at) : json_null());
}

/* An assignment's resource id in the audit log: "<user id>/<role id>". */
static const char *assignment_key(char out[ASSIGNMENT_KEY_LEN + 1], const char *user_id,
                                  const char *role_id)
{
    snprintf(out, ASSIGNMENT_KEY_LEN + 1, "%s/%s", user_id, role_id);
    return out;
}

int rbac_lock(struct db_conn *t)
{
    const char *p[] = {LOCK_KEY};
    return db_run(t, sql_lock, 1, p);
}

/* ---- the request ----------------------------------------------------------------------- */

/* The permissions of a user; *valid_until (if given) when the first of its roles expires
 * (0: none does). */
static int user_perms(struct db_conn *t, const char *user_id, struct rbac_perms *out,
                      double *valid_until)
{
    memset(out, 0, sizeof(*out));
    const char *p[] = {user_id};
    PGresult *r = db_exec(t, sql_user_perms, 1, p, NULL);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        rbac_perms_grant(out, rbac_resource_index(PQgetvalue(r, i, 0)),
                         rbac_action_index(PQgetvalue(r, i, 1)));
    if (valid_until)
        *valid_until = PQntuples(r) > 0 && db_get(r, 0, "valid_until")
                           ? strtod(db_get(r, 0, "valid_until"), NULL)
                           : 0;
    PQclear(r);
    return 0;
}

int rbac_user_perms(struct db_conn *t, const char *user_id, struct rbac_perms *out)
{
    return user_perms(t, user_id, out, NULL);
}

/* A user's permissions, kept like staff sessions (auth.c): until a change by staff or an
 * admin in the studio, the first role expiry, or the lifetime. */
#define PERMS_CACHE_SLOTS 4096
#define PERMS_CACHE_TTL_MAX 50

static struct tcache *perms_cache; /* NULL: no cache */

int rbac_cache_start(int ttl_seconds)
{
    if (ttl_seconds > PERMS_CACHE_TTL_MAX)
        ttl_seconds = PERMS_CACHE_TTL_MAX;
    if (ttl_seconds > 0 &&
        !(perms_cache = tcache_new(CACHE_BUS_STAFF_CHANGE, PERMS_CACHE_SLOTS, ttl_seconds)))
        return -1;
    return 0;
}

void rbac_cache_stop(void)
{
    tcache_free(perms_cache);
    perms_cache = NULL;
}

const struct rbac_perms *rbac_request_perms(struct request *req)
{
    if (!req->session)
        return NULL;
    if (req->perm_cache)
        return req->perm_cache;
    size_t len = 0;
    struct rbac_perms *p =
        tcache_get(perms_cache, req->arena, req->tenant->id, req->session->user_id, &len);
    if (p && len == sizeof(*p)) {
        req->perm_cache = p;
        return p;
    }
    uint64_t epoch = tcache_epoch(perms_cache);
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return NULL;
    p = arena_alloc(req->arena, sizeof(*p));
    double valid_until = 0;
    if (user_perms(t, req->session->user_id, p, &valid_until) != 0) {
        http_reply_error(req, 503, "database_unavailable",
                         "The studio's database is unavailable; try again shortly", NULL);
        return NULL;
    }
    tcache_put(perms_cache, req->tenant->id, req->session->user_id, p, sizeof(*p), valid_until,
               epoch);
    req->perm_cache = p;
    return p;
}

bool rbac_has_permission(struct request *req, const char *resource, const char *action)
{
    int r = rbac_resource_index(resource), a = rbac_action_index(action);
    if (r < 0 || a < 0) {
        log_msg(LOG_ERROR, "rbac: %s %s declares %s:%s, which is not in the catalogue", req->method,
                req->path, resource ? resource : "?", action ? action : "?");
        return false;
    }
    const struct rbac_perms *p = rbac_request_perms(req);
    return p && rbac_perms_allows(p, r, a);
}

/* ---- the studio's roles ---------------------------------------------------------------- */

static int roles_load(struct db_conn *t, struct roles *out)
{
    memset(out, 0, sizeof(*out));
    out->res = db_exec(t, sql_roles, 0, NULL, NULL);
    if (!out->res)
        return RBAC_DB;
    int n = PQntuples(out->res);
    out->v = calloc(n > 0 ? (size_t)n : 1, sizeof(*out->v));
    if (!out->v) {
        roles_release(out);
        return RBAC_DB;
    }
    for (int i = 0; i < n; i++) {
        struct rbac_role *r = &out->v[i];
        r->id = db_get(out->res, i, "id");
        r->parent_id = db_get(out->res, i, "parent_id");
        /* "resource:action,..." (names come from the CHECK-constrained table) */
        const char *s = db_get(out->res, i, "perms");
        while (s && *s) {
            const char *colon = strchr(s, ':');
            const char *end = strchr(s, ',');
            if (!end)
                end = s + strlen(s);
            if (colon && colon < end) {
                char res[32], act[32];
                snprintf(res, sizeof(res), "%.*s", (int)(colon - s), s);
                snprintf(act, sizeof(act), "%.*s", (int)(end - colon - 1), colon + 1);
                rbac_perms_grant(&r->own, rbac_resource_index(res), rbac_action_index(act));
            }
            s = *end ? end + 1 : end;
        }
    }
    out->g.roles = out->v;
    out->g.n = (size_t)n;
    return RBAC_OK;
}

static void roles_release(struct roles *rs)
{
    PQclear(rs->res);
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}

/* The row of role id, or -1. */
/* In a transaction: takes the roles lock, loads the roles into rs (release it either way)
 * and finds id, a role the studio made (so it may be changed): RBAC_OK with *row,
 * RBAC_NOT_FOUND, RBAC_BUILTIN or RBAC_DB. */
static int own_role_locked(struct db_conn *t, struct roles *rs, const char *id, int *row)
{
    if (rbac_lock(t) != 0 || roles_load(t, rs) != RBAC_OK)
        return RBAC_DB;
    *row = roles_row(rs, id);
    if (*row < 0)
        return RBAC_NOT_FOUND;
    if (strcmp(db_get(rs->res, *row, "builtin"), "t") == 0)
        return RBAC_BUILTIN;
    return RBAC_OK;
}

static int roles_row(const struct roles *rs, const char *id)
{
    const struct rbac_role *r = rbac_graph_find(&rs->g, id);
    return r ? (int)(r - rs->v) : -1;
}

static bool roles_is_owner(const struct roles *rs, int row)
{
    return strcmp(db_get(rs->res, row, "builtin"), "t") == 0 &&
           strcmp(db_get(rs->res, row, "name"), OWNER_ROLE) == 0;
}

/* A role as the API shows it: its own permissions, as granted. */
static json_t *role_json(const struct roles *rs, int row)
{
    const struct rbac_role *r = &rs->v[row];
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:I, s:s}", "id", r->id, "name",
                     db_get(rs->res, row, "name"), "description",
                     db_get(rs->res, row, "description"), "parent_id",
                     r->parent_id ? json_string(r->parent_id) : json_null(), "builtin",
                     strcmp(db_get(rs->res, row, "builtin"), "t") == 0, "permissions",
                     rbac_perms_json(&r->own, false), "user_count",
                     (json_int_t)atoll(db_get(rs->res, row, "user_count")), "created_at",
                     db_get(rs->res, row, "created_at"));
}

/* The role as it is now (inside the caller's transaction, if any). */
static int role_reply(struct db_conn *t, const char *id, json_t **out)
{
    struct roles rs;
    if (roles_load(t, &rs) != RBAC_OK)
        return RBAC_DB;
    int row = roles_row(&rs, id);
    if (row >= 0)
        *out = role_json(&rs, row);
    roles_release(&rs);
    return row >= 0 ? RBAC_OK : RBAC_NOT_FOUND;
}

json_t *rbac_resources_json(void)
{
    json_t *list = json_array();
    for (int i = 0; i < RBAC_NRESOURCES; i++)
        json_array_append_new(list, json_string(rbac_resources[i]));
    return json_pack("{s:o}", "resources", list);
}

json_t *rbac_actions_json(void)
{
    json_t *list = json_array(), *implied = json_array();
    for (int i = 0; i < RBAC_NACTIONS; i++) {
        json_array_append_new(list, json_string(rbac_actions[i]));
        if (i != RBAC_MANAGE)
            json_array_append_new(implied, json_string(rbac_actions[i]));
    }
    return json_pack("{s:o, s:o}", "actions", list, "implied_by_manage", implied);
}

int rbac_roles_list(struct db_conn *t, json_t **out)
{
    struct roles rs;
    if (roles_load(t, &rs) != RBAC_OK)
        return RBAC_DB;
    json_t *list = json_array();
    for (size_t i = 0; i < rs.g.n; i++)
        json_array_append_new(list, role_json(&rs, (int)i));
    roles_release(&rs);
    *out = json_pack("{s:o}", "roles", list);
    return RBAC_OK;
}

int rbac_role_get(struct db_conn *t, const char *id, json_t **out)
{
    char norm[UUID_LEN + 1];
    if (!uuid_norm(id, norm))
        return RBAC_NOT_FOUND;
    return role_reply(t, norm, out);
}

/* "direct" when the role grants resource:action itself, "inherited" when only an ancestor
 * does, NULL when it is not granted. */
static const char *source_of(const struct rbac_perms *own, const struct rbac_perms *inherited,
                             int resource, int action)
{
    if (rbac_perms_allows(own, resource, action))
        return "direct";
    return rbac_perms_allows(inherited, resource, action) ? "inherited" : NULL;
}

int rbac_matrix(struct db_conn *t, json_t **out)
{
    struct roles rs;
    if (roles_load(t, &rs) != RBAC_OK)
        return RBAC_DB;
    json_t *list = json_array();
    for (size_t i = 0; i < rs.g.n; i++) {
        const struct rbac_role *role = &rs.v[i];
        struct rbac_perms up;
        rbac_inherited(&rs.g, role->id, &up); /* a broken chain: what was gathered */
        json_t *grid = json_object();
        for (int r = 0; r < RBAC_NRESOURCES; r++) {
            json_t *row = json_object();
            for (int a = 0; a < RBAC_NACTIONS; a++) {
                const char *src = source_of(&role->own, &up, r, a);
                json_object_set_new(row, rbac_actions[a], src ? json_string(src) : json_null());
            }
            json_object_set_new(grid, rbac_resources[r], row);
        }
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:b, s:o, s:o}", "id", role->id, "name",
                            db_get(rs.res, (int)i, "name"), "builtin",
                            strcmp(db_get(rs.res, (int)i, "builtin"), "t") == 0, "parent_id",
                            role->parent_id ? json_string(role->parent_id) : json_null(),
                            "permissions", grid));
    }
    roles_release(&rs);
    json_t *res = rbac_resources_json(), *act = rbac_actions_json();
    *out = json_pack("{s:O, s:O, s:o}", "resources", json_object_get(res, "resources"), "actions",
                     json_object_get(act, "actions"), "roles", list);
    json_decref(res);
    json_decref(act);
    return RBAC_OK;
}

int rbac_role_permissions(struct db_conn *t, const char *id, json_t **out)
{
    char norm[UUID_LEN + 1];
    if (!uuid_norm(id, norm))
        return RBAC_NOT_FOUND;
    struct roles rs;
    if (roles_load(t, &rs) != RBAC_OK)
        return RBAC_DB;
    int row = roles_row(&rs, norm);
    if (row < 0) {
        roles_release(&rs);
        return RBAC_NOT_FOUND;
    }
    struct rbac_perms eff;
    rbac_resolve(&rs.g, norm, &eff);
    json_t *list = json_array();
    for (int r = 0; r < RBAC_NRESOURCES; r++)
        for (int a = 0; a < RBAC_NACTIONS; a++) {
            if (!rbac_perms_allows(&eff, r, a))
                continue;
            /* the nearest role up the chain that grants it */
            const struct rbac_role *from = &rs.v[row];
            size_t steps = 0;
            while (from && !rbac_perms_allows(&from->own, r, a) && ++steps <= rs.g.n)
                from = rbac_graph_find(&rs.g, from->parent_id);
            if (!from || steps > rs.g.n)
                continue; /* cannot happen: eff came from this chain */
            int frow = (int)(from - rs.v);
            json_array_append_new(list,
                                  json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "resource",
                                            rbac_resources[r], "action", rbac_actions[a], "source",
                                            frow == row ? "direct" : "inherited", "granted_by",
                                            "id", from->id, "name", db_get(rs.res, frow, "name")));
        }
    *out = json_pack("{s:{s:s, s:s}, s:o}", "role", "id", rs.v[row].id, "name",
                     db_get(rs.res, row, "name"), "permissions", list);
    roles_release(&rs);
    return RBAC_OK;
}

/* ---- role changes ---------------------------------------------------------------------- */

/* [{"resource","action"}] into out; bad items named in f. */
static void permissions_parse(json_t *v, json_t *f, struct rbac_perms *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_array(v) || json_array_size(v) > PERMISSIONS_MAX_ITEMS) {
        http_field_error(f, "permissions", "A list of {\"resource\": ..., \"action\": ...}");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        char key[64];
        int r = rbac_resource_index(json_string_value(json_object_get(item, "resource")));
        int a = rbac_action_index(json_string_value(json_object_get(item, "action")));
        if (!json_is_object(item)) {
            snprintf(key, sizeof(key), "permissions[%zu]", i);
            http_field_error(f, key, "An object {\"resource\": ..., \"action\": ...}");
            continue;
        }
        if (r < 0) {
            snprintf(key, sizeof(key), "permissions[%zu].resource", i);
            http_field_error(f, key,
                             "Unknown resource (GET /api/permissions/resources lists them)");
        }
        if (a < 0) {
            snprintf(key, sizeof(key), "permissions[%zu].action", i);
            http_field_error(f, key, "Unknown action (GET /api/permissions/actions lists them)");
        }
        rbac_perms_grant(out, r, a);
    }
}

/* Checks a role body: on create every field (name required), on update those sent. */
static json_t *role_input_parse(json_t *body, bool creating, struct role_input *in)
{
    json_t *f = json_object();
    json_t *v;
    memset(in, 0, sizeof(*in));

    if ((v = json_object_get(body, "name")) || creating) {
        in->name = http_clean_text(v, 1, NAME_MAX_CHARS, false);
        if (!in->name)
            http_field_error(f, "name", "Required: 1 to 60 characters");
    }
    if ((v = json_object_get(body, "description"))) {
        in->description =
            json_is_null(v) ? json_string("") : http_clean_text(v, 0, DESCRIPTION_MAX_CHARS, true);
        if (!in->description)
            http_field_error(f, "description", "Text of at most 500 characters");
    } else if (creating) {
        in->description = json_string("");
    }
    if ((v = json_object_get(body, "parent_id"))) {
        in->parent_given = true;
        if (!json_is_null(v) && !uuid_norm(json_string_value(v), in->parent_id))
            http_field_error(f, "parent_id", "The id of the role to inherit from, or null");
    }
    if ((v = json_object_get(body, "permissions"))) {
        in->perms_given = true;
        permissions_parse(v, f, &in->perms);
    }
    return http_fields_or_null(f);
}

static void role_input_release(struct role_input *in)
{
    json_decref(in->name);
    json_decref(in->description);
    in->name = in->description = NULL;
}

/* RBAC_OK when actor_id holds everything wanted grants, else RBAC_ESCALATION naming what
 * is missing (or RBAC_DB). */
/* Whether the request's user may give user the role at row of rs, or take it away: the
 * role's permissions (with its ancestors') must be the actor's, and when owner_matters, an
 * owner role may not leave the studio's last owner. RBAC_OK, RBAC_ESCALATION (fields say
 * so), RBAC_LAST_OWNER or RBAC_DB. */
static int may_touch_assignment(struct db_conn *t, struct request *req, const struct roles *rs,
                                int row, const char *user, bool owner_matters, json_t **fields)
{
    struct rbac_perms wanted;
    if (rbac_resolve(&rs->g, rs->v[row].id, &wanted) != 0)
        return RBAC_DB;
    int rc = escalation(t, actor_of(req), &wanted, fields);
    if (rc != RBAC_OK || !owner_matters || !roles_is_owner(rs, row))
        return rc;
    int last = rbac_is_last_owner(t, user);
    return last == 0 ? RBAC_OK : last < 0 ? RBAC_DB : RBAC_LAST_OWNER;
}

static int escalation(struct db_conn *t, const char *actor_id, const struct rbac_perms *wanted,
                      json_t **fields)
{
    struct rbac_perms actor, missing;
    if (rbac_user_perms(t, actor_id, &actor) != 0)
        return RBAC_DB;
    if (rbac_perms_covers(&actor, wanted, &missing))
        return RBAC_OK;
    char text[1024];
    rbac_perms_format(&missing, text, sizeof(text));
    json_decref(*fields);
    *fields = json_pack("{s:s, s:o}", "permissions", text[0] ? text : "permissions you do not hold",
                        "missing", rbac_perms_json(&missing, false));
    return RBAC_ESCALATION;
}

/* Runs a role INSERT/UPDATE; a name another role has (whatever its case) is
 * RBAC_NAME_TAKEN. The result, when asked, goes to *res. */
static int role_write(struct db_conn *t, const char *sql, int n, const char *const *p,
                      PGresult **res, json_t **fields)
{
    const char *state = NULL;
    PGresult *r = db_exec(t, sql, n, p, &state);
    if (!r) {
        if (state && strcmp(state, SQLSTATE_UNIQUE_VIOLATION) == 0) {
            json_decref(*fields);
            *fields = json_pack("{s:s}", "name", "Another role already has this name");
            return RBAC_NAME_TAKEN;
        }
        return RBAC_DB;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return RBAC_OK;
}

/* Replaces what role id grants itself. */
static int role_write_perms(struct db_conn *t, const char *id, const struct rbac_perms *p)
{
    const char *pc[] = {id};
    if (db_run(t, sql_perms_clear, 1, pc) != 0)
        return RBAC_DB;
    json_t *list = rbac_perms_json(p, false);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    const char *pi[] = {id, text};
    int rc = text && db_run(t, sql_perms_insert, 2, pi) == 0 ? RBAC_OK : RBAC_DB;
    free(text);
    return rc;
}

int rbac_role_create(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                     json_t **fields)
{
    struct role_input in;
    struct roles rs = {0};
    *out = NULL;
    if ((*fields = role_input_parse(body, true, &in))) {
        role_input_release(&in);
        return RBAC_INVALID;
    }
    const char *parent = in.parent_id[0] ? in.parent_id : NULL;
    char id[UUID_LEN + 1] = "";
    int rc;

    if (db_begin(t) != 0) {
        role_input_release(&in);
        return RBAC_DB;
    }
    if (rbac_lock(t) != 0 || (rc = roles_load(t, &rs)) != RBAC_OK) {
        rc = RBAC_DB;
        goto done;
    }
    /* What the new role would grant: its own and its parent's chain. */
    struct rbac_perms wanted = in.perms;
    if (parent) {
        struct rbac_perms up;
        if (!rbac_graph_find(&rs.g, parent)) {
            *fields = json_pack("{s:s}", "parent_id", "No such role");
            rc = RBAC_INVALID;
            goto done;
        }
        if (rbac_resolve(&rs.g, parent, &up) != 0) {
            rc = RBAC_DB; /* the stored hierarchy is broken: cannot happen under the lock */
            goto done;
        }
        rbac_perms_union(&wanted, &up);
    }
    if ((rc = escalation(t, actor_of(req), &wanted, fields)) != RBAC_OK)
        goto done;
    const char *pi[] = {json_string_value(in.name), json_string_value(in.description), parent};
    PGresult *r = NULL;
    if ((rc = role_write(t, sql_role_insert, 3, pi, &r, fields)) != RBAC_OK)
        goto done;
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if ((rc = role_write_perms(t, id, &in.perms)) != RBAC_OK)
        goto done;
    /* The role as created is both the entry's after and the reply. */
    if (role_reply(t, id, out) != RBAC_OK) {
        rc = RBAC_DB;
        goto done;
    }
    rc = commit_audited(t, req, AUDIT_ACTION_CREATE, AUDIT_ROLES, id, NULL, *out);
done:
    roles_release(&rs);
    role_input_release(&in);
    return fail_out(t, rc, out, fields);
}

int rbac_role_update(struct db_conn *t, struct request *req, const char *id, json_t *body,
                     json_t **out, json_t **fields)
{
    char norm[UUID_LEN + 1];
    struct role_input in;
    struct roles rs = {0};
    json_t *before = NULL;
    *out = *fields = NULL;
    if (!uuid_norm(id, norm))
        return RBAC_NOT_FOUND;
    json_t *bad = role_input_parse(body, false, &in);
    int rc;

    if (db_begin(t) != 0) {
        json_decref(bad);
        role_input_release(&in);
        return RBAC_DB;
    }
    int row;
    if ((rc = own_role_locked(t, &rs, norm, &row)) != RBAC_OK)
        goto done;
    if (bad) {
        *fields = bad;
        bad = NULL;
        rc = RBAC_INVALID;
        goto done;
    }
    const struct rbac_role *role = &rs.v[row];
    const char *parent =
        in.parent_given ? (in.parent_id[0] ? in.parent_id : NULL) : role->parent_id;
    struct rbac_perms own = in.perms_given ? in.perms : role->own;
    /* What the role grants now and what it would: the actor must hold both. */
    struct rbac_perms wanted;
    if (rbac_resolve(&rs.g, norm, &wanted) != 0) {
        rc = RBAC_DB; /* a broken stored hierarchy: cannot happen under the lock */
        goto done;
    }
    rbac_perms_union(&wanted, &own);
    if (parent && in.parent_given) {
        if (!rbac_graph_find(&rs.g, parent)) {
            *fields = json_pack("{s:s}", "parent_id", "No such role");
            rc = RBAC_INVALID;
            goto done;
        }
        if (rbac_would_cycle(&rs.g, norm, parent)) {
            *fields = json_pack("{s:s}", "parent_id",
                                "This role would inherit from itself: the parent is this role "
                                "or inherits from it");
            rc = RBAC_CYCLE;
            goto done;
        }
    }
    if (parent) {
        struct rbac_perms up;
        if (rbac_resolve(&rs.g, parent, &up) != 0) {
            rc = RBAC_DB; /* a broken stored hierarchy: cannot happen under the lock */
            goto done;
        }
        rbac_perms_union(&wanted, &up);
    }
    if ((rc = escalation(t, actor_of(req), &wanted, fields)) != RBAC_OK)
        goto done;
    before = role_json(&rs, row);
    const char *pu[] = {norm, in.name ? json_string_value(in.name) : db_get(rs.res, row, "name"),
                        in.description ? json_string_value(in.description)
                                       : db_get(rs.res, row, "description"),
                        parent};
    if ((rc = role_write(t, sql_role_update, 4, pu, NULL, fields)) != RBAC_OK)
        goto done;
    if (in.perms_given && (rc = role_write_perms(t, norm, &own)) != RBAC_OK)
        goto done;
    /* The role as changed is both the entry's after and the reply. */
    if (role_reply(t, norm, out) != RBAC_OK) {
        rc = RBAC_DB;
        goto done;
    }
    if (json_equal(before, *out))
        rc = db_commit(t) == 0 ? RBAC_OK : RBAC_DB; /* nothing changed: nothing to record */
    else
        rc = commit_audited(t, req, AUDIT_ACTION_UPDATE, AUDIT_ROLES, norm, before, *out);
done:
    json_decref(bad);
    json_decref(before);
    roles_release(&rs);
    role_input_release(&in);
    return fail_out(t, rc, out, fields);
}

int rbac_role_delete(struct db_conn *t, struct request *req, const char *id, json_t **fields)
{
    char norm[UUID_LEN + 1];
    struct roles rs = {0};
    json_t *before = NULL;
    *fields = NULL;
    if (!uuid_norm(id, norm))
        return RBAC_NOT_FOUND;
    int rc;
    if (db_begin(t) != 0)
        return RBAC_DB;
    int row;
    if ((rc = own_role_locked(t, &rs, norm, &row)) != RBAC_OK)
        goto done;
    json_t *children = json_array();
    for (size_t i = 0; i < rs.g.n; i++)
        if (rs.v[i].parent_id && strcmp(rs.v[i].parent_id, norm) == 0)
            json_array_append_new(children, json_pack("{s:s, s:s}", "id", rs.v[i].id, "name",
                                                      db_get(rs.res, (int)i, "name")));
    if (json_array_size(children) > 0) {
        *fields = json_pack("{s:o}", "inherited_by", children);
        rc = RBAC_HAS_CHILDREN;
        goto done;
    }
    json_decref(children);
    before = role_json(&rs, row);
    const char *p[] = {norm};
    /* user_roles and role_permissions rows go with it (ON DELETE CASCADE); the entry's
     * user_count says how many users held it then */
    rc = db_run(t, sql_role_delete, 1, p) == 0
             ? commit_audited(t, req, AUDIT_ACTION_DELETE, AUDIT_ROLES, norm, before, NULL)
             : RBAC_DB;
done:
    json_decref(before);
    roles_release(&rs);
    return rc == RBAC_OK ? RBAC_OK : fail(t, rc, fields);
}

/* ---- assignments ----------------------------------------------------------------------- */

int rbac_is_last_owner(struct db_conn *t, const char *user_id)
{
    const char *p[] = {user_id};
    PGresult *r = db_exec(t, sql_owners, 1, p, NULL);
    if (!r)
        return -1;
    const char *is_owner = db_get(r, 0, "is_owner");
    bool last = is_owner && strcmp(is_owner, "t") == 0 && atoll(db_get(r, 0, "others")) == 0;
    PQclear(r);
    return last ? 1 : 0;
}

int rbac_may_grant_role(struct db_conn *t, const char *actor_id, const char *role_id)
{
    char norm[UUID_LEN + 1];
    if (!uuid_norm(role_id, norm))
        return RBAC_NOT_FOUND;
    struct roles rs;
    if (roles_load(t, &rs) != RBAC_OK)
        return RBAC_DB;
    struct rbac_perms wanted;
    int found = rbac_resolve(&rs.g, norm, &wanted);
    roles_release(&rs);
    if (found == -1)
        return RBAC_NOT_FOUND;
    json_t *fields = NULL;
    int rc = found == 0 ? escalation(t, actor_id, &wanted, &fields) : RBAC_DB;
    json_decref(fields);
    return rc;
}

/* An RFC 3339 time with seconds and an offset (Z or ±hh:mm), on a real calendar day. */
static bool valid_rfc3339(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t n = strlen(s);
    if (n < 20)
        return false;
    for (size_t i = 0; i < sizeof(shape) - 1; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    int y = atoi(s), mo = atoi(s + 5), d = atoi(s + 8);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] + (mo == 2 && leap) || atoi(s + 11) > 23 ||
        atoi(s + 14) > 59 || atoi(s + 17) > 59)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        size_t k = 0;
        while (isdigit((unsigned char)p[1 + k]))
            k++;
        if (k == 0 || k > 9)
            return false;
        p += 1 + k;
    }
    if (strcmp(p, "Z") == 0)
        return true;
    return (p[0] == '+' || p[0] == '-') && isdigit((unsigned char)p[1]) &&
           isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
           isdigit((unsigned char)p[5]) && p[6] == '\0' && atoi(p + 1) <= 23 && atoi(p + 4) <= 59;
}

int rbac_user_role_assign(struct db_conn *t, struct request *req, const char *user_id, json_t *body,
                          json_t **out, json_t **fields, bool *created, int *expires_in)
{
    char user[UUID_LEN + 1], role_id[UUID_LEN + 1], key[ASSIGNMENT_KEY_LEN + 1];
    struct roles rs = {0};
    json_t *before = NULL, *after = NULL;
    *out = *fields = NULL;
    *created = false;
    *expires_in = 0;
    if (!uuid_norm(user_id, user))
        return RBAC_NOT_FOUND;

    json_t *f = json_object();
    if (!uuid_norm(json_string_value(json_object_get(body, "role_id")), role_id))
        http_field_error(f, "role_id", "Required: the id of a role");
    json_t *v = json_object_get(body, "expires_at");
    const char *expires = json_is_null(v) ? NULL : json_string_value(v);
    if (v && !json_is_null(v) && (!expires || !valid_rfc3339(expires)))
        http_field_error(f, "expires_at",
                         "An RFC 3339 time such as 2025-06-01T18:00:00+02:00, or null");
    if ((*fields = http_fields_or_null(f)))
        return RBAC_INVALID;
    if (expires) {
        const char *state = NULL;
        const char *p[] = {expires};
        PGresult *r = db_exec(t, sql_future, 1, p, &state);
        if (!r && state && strncmp(state, "22", 2) == 0) { /* data exception: no such date */
            *fields = json_pack("{s:s}", "expires_at", "Not a valid date and time");
            return RBAC_INVALID;
        }
        if (!r)
            return RBAC_DB;
        bool future = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!future) {
            *fields = json_pack("{s:s}", "expires_at", "Must lie in the future");
            return RBAC_INVALID;
        }
    }

    int rc;
    if (db_begin(t) != 0)
        return RBAC_DB;
    const char *pu[] = {user};
    PGresult *r = NULL;
    if (rbac_lock(t) != 0 || !(r = db_exec(t, sql_user_exists, 1, pu, NULL)) ||
        roles_load(t, &rs) != RBAC_OK) {
        rc = RBAC_DB;
        goto done;
    }
    if (PQntuples(r) == 0) {
        rc = RBAC_NOT_FOUND;
        goto done;
    }
    int row = roles_row(&rs, role_id);
    if (row < 0) {
        *fields = json_pack("{s:s}", "role_id", "No such role");
        rc = RBAC_INVALID;
        goto done;
    }
    /* an expiry on the owner role takes it away later */
    if ((rc = may_touch_assignment(t, req, &rs, row, user, expires != NULL, fields)) != RBAC_OK)
        goto done;
    PQclear(r);
    /* The assignment as it was (locked), for the entry of a changed expiry. */
    const char *pa[] = {user, role_id, expires};
    if (!(r = db_exec(t, sql_assignment_before, 3, pa, NULL))) {
        rc = RBAC_DB;
        goto done;
    }
    const char *role = db_get(rs.res, row, "name");
    bool existed = PQntuples(r) > 0;
    bool same = existed && strcmp(db_get(r, 0, "same"), "t") == 0;
    if (existed)
        before = assignment_json(user, role_id, role, db_get(r, 0, "expires_at"));
    PQclear(r);
    if (!(r = db_exec(t, sql_assign, 3, pa, NULL))) {
        rc = RBAC_DB;
        goto done;
    }
    *created = strcmp(db_get(r, 0, "created"), "t") == 0;
    *expires_in = atoi(db_get(r, 0, "expires_in"));
    const char *exp = db_get(r, 0, "expires_at");
    after = assignment_json(user, role_id, role, exp);
    assignment_key(key, user, role_id);
    if (*created)
        rc = commit_audited(t, req, AUDIT_ACTION_CREATE, AUDIT_USER_ROLES, key, NULL, after);
    else if (!same)
        rc = commit_audited(t, req, AUDIT_ACTION_UPDATE, AUDIT_USER_ROLES, key, before, after);
    else
        rc = db_commit(t) == 0 ? RBAC_OK : RBAC_DB; /* the same expiry: nothing to record */
    if (rc != RBAC_OK)
        goto done;
    *out = json_deep_copy(after);
    json_object_set_new(*out, "granted_at", json_string(db_get(r, 0, "granted_at")));
done:
    PQclear(r);
    json_decref(before);
    json_decref(after);
    roles_release(&rs);
    return rc == RBAC_OK ? RBAC_OK : fail(t, rc, fields);
}

int rbac_user_role_remove(struct db_conn *t, struct request *req, const char *user_id,
                          const char *role_id, json_t **fields)
{
    char user[UUID_LEN + 1], role[UUID_LEN + 1], key[ASSIGNMENT_KEY_LEN + 1];
    struct roles rs = {0};
    json_t *before = NULL;
    *fields = NULL;
    if (!uuid_norm(user_id, user) || !uuid_norm(role_id, role))
        return RBAC_NOT_FOUND;
    int rc;
    if (db_begin(t) != 0)
        return RBAC_DB;
    const char *p[] = {user, role};
    PGresult *r = NULL;
    if (rbac_lock(t) != 0 || !(r = db_exec(t, sql_assignment_lock, 2, p, NULL)) ||
        roles_load(t, &rs) != RBAC_OK) {
        rc = RBAC_DB;
        goto done;
    }
    int row = roles_row(&rs, role);
    if (PQntuples(r) == 0 || row < 0) {
        rc = RBAC_NOT_FOUND;
        goto done;
    }
    if ((rc = may_touch_assignment(t, req, &rs, row, user, true, fields)) != RBAC_OK)
        goto done;
    before = assignment_json(user, role, db_get(rs.res, row, "name"), db_get(r, 0, "expires_at"));
    rc = db_run(t, sql_unassign, 2, p) == 0
             ? commit_audited(t, req, AUDIT_ACTION_DELETE, AUDIT_USER_ROLES,
                              assignment_key(key, user, role), before, NULL)
             : RBAC_DB;
done:
    PQclear(r);
    json_decref(before);
    roles_release(&rs);
    return rc == RBAC_OK ? RBAC_OK : fail(t, rc, fields);
}

/* ---- expiry ---------------------------------------------------------------------------- */

int rbac_schedule_expiry(struct db_conn *master, const char *slug, int delay_seconds)
{
    return jobs_enqueue(master, JOB_EXPIRE_ROLES, json_pack("{s:s}", "slug", slug), delay_seconds);
}

/* Under the RBAC lock, so that an assignment being given again (its expiry replaced) is
 * either seen expired or not at all. */
int rbac_expire_roles(struct db_conn *t, struct db_conn *master)
{
    if (db_begin(t) != 0)
        return -1;
    PGresult *r = NULL;
    if (rbac_lock(t) != 0 || !(r = db_exec(t, sql_expire, 0, NULL, NULL))) {
        db_rollback(t);
        return -1;
    }
    int n = PQntuples(r);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        char key[ASSIGNMENT_KEY_LEN + 1];
        const char *user = db_get(r, i, "user_id"), *role = db_get(r, i, "role_id");
        json_t *before =
            assignment_json(user, role, db_get(r, i, "role"), db_get(r, i, "expires_at"));
        ok = audit_record_system(t, master, AUDIT_ACTION_EXPIRE, AUDIT_USER_ROLES,
                                 assignment_key(key, user, role), before, NULL) == AUDIT_OK;
        json_decref(before);
    }
    PQclear(r);
    if (!ok || db_commit(t) != 0) {
        db_rollback(t);
        return -1;
    }
    return n;
}

/* "rbac_expire_roles" {"slug"}: deletes the studio's expired assignments. Grants stop at
 * expires_at without it; this only keeps user_roles tidy. A run that comes early does
 * nothing harmful: every assignment with an expiry queued its own run. */
static int run_expire_roles(json_t *payload, char *err, size_t errlen)
{
    const char *slug = json_string_value(json_object_get(payload, "slug"));
    if (!slug) {
        log_msg(LOG_WARN, "%s: malformed payload, dropped", JOB_EXPIRE_ROLES);
        return 0;
    }
    struct db_conn *m, *t;
    struct tenant tn;
    if (tenant_job_open(slug, &m, &tn, &t, err, errlen) != 0)
        return -1;
    int n = rbac_expire_roles(t, m); /* m: where the entries' alerts (if any) are queued */
    db_release(t);
    db_release(m);
    if (n < 0) {
        snprintf(err, errlen, "could not expire roles of %s", slug);
        return -1;
    }
    if (n > 0)
        log_msg(LOG_INFO, "%s: %d expired role assignment(s) removed in %s", JOB_EXPIRE_ROLES, n,
                slug);
    return 0;
}
