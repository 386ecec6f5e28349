/*
 * rbac_routes.c — HTTP for roles and permissions (staff only, on the
 * studio's host; session, CSRF and the permission in the table below are
 * checked by the middleware):
 *   GET    /api/permissions/resources      the catalogue's resources
 *   GET    /api/permissions/actions        its actions ("manage" implies the others)
 *   GET    /api/permissions/matrix         every role × resource × action:
 *                                          "direct", "inherited" or null
 *   GET    /api/roles                      every role with its own permissions
 *   POST   /api/roles                      {"name","description","parent_id",
 *                                           "permissions":[{"resource","action"}]} → 201
 *   GET    /api/roles/:id                  a role
 *   PUT    /api/roles/:id                  changes the fields sent ("permissions" replaces
 *                                          the set); built-in roles: 403 builtin_role
 *   DELETE /api/roles/:id                  204; built-in 403, inherited from 409
 *   GET    /api/roles/:id/permissions      effective permissions, each direct or inherited
 *   POST   /api/users/:id/roles            {"role_id","expires_at"?} → 201 (200 when the
 *                                          user had it: its expiry is replaced)
 *   DELETE /api/users/:id/roles/:role_id   204
 * Assigning and removing roles needs staff:manage (declared) and roles:view
 * (checked here: a route declares one permission). What one may grant and
 * the last owner are the module's rules (rbac.c): 403 privilege_escalation,
 * 409 last_owner. An assignment with an expiry queues the job that tidies
 * it away; the grant itself stops at expires_at whether or not the job ran.
 * Every change is audited by the module in its own transaction (rbac.h): a
 * change whose entry cannot be written is undone and answers 503
 * database_unavailable.
 */
#include <string.h>

#include "studiod/log.h"
#include "studiod/rbac.h"
#include "studiod/tenant.h"

static void resources_get(struct request *req);
static void actions_get(struct request *req);
static void matrix_get(struct request *req);
static void roles_index(struct request *req);
static void role_post(struct request *req);
static void role_get(struct request *req);
static void role_put(struct request *req);
static void role_delete(struct request *req);
static void role_permissions_get(struct request *req);
static void user_role_post(struct request *req);
static void user_role_delete(struct request *req);

static bool may_see_roles(struct request *req);

#define STAFF TENANT_REQUIRED, AUTH_STAFF

const struct route rbac_routes[] = {
    {"GET", "/api/permissions/resources", resources_get, STAFF, "roles", "view", 0},
    {"GET", "/api/permissions/actions", actions_get, STAFF, "roles", "view", 0},
    {"GET", "/api/permissions/matrix", matrix_get, STAFF, "roles", "view", 0},
    {"GET", "/api/roles", roles_index, STAFF, "roles", "view", 0},
    {"POST", "/api/roles", role_post, STAFF, "roles", "create", 0},
    {"GET", "/api/roles/:id", role_get, STAFF, "roles", "view", 0},
    {"PUT", "/api/roles/:id", role_put, STAFF, "roles", "update", 0},
    {"DELETE", "/api/roles/:id", role_delete, STAFF, "roles", "delete", 0},
    {"GET", "/api/roles/:id/permissions", role_permissions_get, STAFF, "roles", "view", 0},
    {"POST", "/api/users/:id/roles", user_role_post, STAFF, "staff", "manage", 0},
    {"DELETE", "/api/users/:id/roles/:role_id", user_role_delete, STAFF, "staff", "manage", 0},
    {0},
};

/* What each module status answers; any other is the database's. */
static const struct http_error_map rbac_errors[] = {
    {RBAC_NOT_FOUND, 404, "not_found", "No such %s", false},
    {RBAC_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {RBAC_NAME_TAKEN, 409, "role_name_taken", "Another role already has this name", true},
    {RBAC_CYCLE, 422, "role_cycle",
     "A role cannot inherit from itself or from a role that inherits from it", true},
    {RBAC_BUILTIN, 403, "builtin_role",
     "Built-in roles cannot be changed or deleted; make a role of your own (it may inherit "
     "from this one)",
     false},
    {RBAC_ESCALATION, 403, "privilege_escalation",
     "You cannot grant or take away permissions you do not hold yourself", true},
    {RBAC_LAST_OWNER, 409, "last_owner",
     "This is the studio's last owner: make someone else an owner first", false},
    {RBAC_HAS_CHILDREN, 409, "role_has_children",
     "Other roles inherit from this one: change their parent first", true},
    {0, 503, "database_unavailable", "The database is unavailable; try again shortly", false},
};

/* How a module status answers (rbac_errors; what names the thing a 404 is about: "role"),
 * for the handlers that only check an id, read the body, call rbac.c and answer. An id
 * that is not a uuid names nothing: 404 before reading the body or the database. */
static const struct http_api rbac_api = {rbac_errors, rbac_id_valid, RBAC_NOT_FOUND};

/* ---- the catalogue --------------------------------------------------------------------- */

static void resources_get(struct request *req)
{
    http_reply_json(req, 200, rbac_resources_json());
}

static void actions_get(struct request *req)
{
    http_reply_json(req, 200, rbac_actions_json());
}

static void matrix_get(struct request *req)
{
    http_api_read(req, &rbac_api, rbac_matrix, "role");
}

/* ---- roles ----------------------------------------------------------------------------- */

static void roles_index(struct request *req)
{
    http_api_read(req, &rbac_api, rbac_roles_list, "role");
}

static void role_post(struct request *req)
{
    http_api_write(req, &rbac_api, rbac_role_create, 201, "/api/roles", "role");
}

static void role_get(struct request *req)
{
    http_api_read_id(req, &rbac_api, rbac_role_get, "role");
}

static void role_put(struct request *req)
{
    http_api_write_id(req, &rbac_api, rbac_role_update, "role");
}

static void role_delete(struct request *req)
{
    const char *id = http_api_id(req, &rbac_api, "id", "role");
    if (!id)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *fields = NULL;
    int rc = rbac_role_delete(t, req, id, &fields);
    http_reply_deleted(req, rc, rbac_errors, fields, "role");
}

static void role_permissions_get(struct request *req)
{
    http_api_read_id(req, &rbac_api, rbac_role_permissions, "role");
}

/* ---- assignments ----------------------------------------------------------------------- */

/* The second permission these routes need (the middleware checked staff:manage). */
static bool may_see_roles(struct request *req)
{
    if (rbac_has_permission(req, "roles", "view"))
        return true;
    http_reply_error(req, 403, "forbidden", "You need the roles:view permission", NULL);
    return false;
}

static void user_role_post(struct request *req)
{
    const char *user_id;
    if (!may_see_roles(req) || !(user_id = http_api_id(req, &rbac_api, "id", "user")))
        return;
    json_t *body = http_body_json(req);
    if (!body)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL, *fields = NULL;
    bool created = false;
    int expires_in = 0;
    int rc = rbac_user_role_assign(t, req, user_id, body, &out, &fields, &created, &expires_in);
    if (rc == RBAC_OK && json_is_string(json_object_get(out, "expires_at"))) {
        /* Tidying only: the grant stops at expires_at without the job. A failure here is
         * logged, never the client's problem (and the last reply made wins). */
        struct db_conn *m = request_master_db(req);
        if (!m || rbac_schedule_expiry(m, req->tenant->slug, expires_in) != 0)
            log_msg(LOG_WARN, "rbac: could not queue the expiry of a role of %s in %s", user_id,
                    req->tenant->slug);
    }
    http_reply_result(req, rc, created ? 201 : 200, out, rbac_errors, fields, "user");
}

static void user_role_delete(struct request *req)
{
    const char *user_id, *role_id;
    if (!may_see_roles(req) || !(user_id = http_api_id(req, &rbac_api, "id", "user")) ||
        !(role_id = http_api_id(req, &rbac_api, "role_id", "role assignment")))
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *fields = NULL;
    int rc = rbac_user_role_remove(t, req, user_id, role_id, &fields);
    http_reply_deleted(req, rc, rbac_errors, fields, "role assignment");
}
