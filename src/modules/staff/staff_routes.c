/*
 * staff_routes.c — HTTP for a studio's team, on the studio's host. Staff
 * routes have their session, CSRF token and permission checked by the
 * middleware from the table below; the invitation routes are public, the
 * token in the path being the credential:
 *   GET    /api/staff              {"staff": [...]}: every user, with roles
 *   POST   /api/staff              invite {"name","email","role_id"?,"role_expires_at"?} (201)
 *   PUT    /api/staff/:id          {"name"?, "active"?}: rename, deactivate, reactivate
 *   DELETE /api/staff/:id          204 deleted, or 200 {"deactivated": true} with history
 *   POST   /api/staff/:id/invite   a fresh invitation (the open link stops working)
 *   GET    /invite/:token          the "Set your password" page (404/410 page when not good)
 *   POST   /invite/:token          {"password"} as JSON (200 {"ok": true}) or the page's form
 *                                  (303 to /login); no CSRF token: there is no session
 *   GET    /app/team               the team page (templates/staff/team.html, static/js/team.js)
 */
#include <string.h>

#include "studiod/billing.h"
#include "studiod/staff.h"
#include "studiod/tenant.h"

#define STAFF_PAGE_CSS "/static/css/booking.css" /* the staff pages' shared styles */
#define LOGIN_AFTER_INVITE "/login?notice=password_set"

static void staff_index(struct request *req);
static void staff_post(struct request *req);
static void staff_put(struct request *req);
static void staff_delete(struct request *req);
static void staff_invite_post(struct request *req);
static void invite_page(struct request *req);
static void invite_post(struct request *req);
static void team_page(struct request *req);
static void reply(struct request *req, int rc, int status, json_t *out, json_t *fields,
                  const char *self_message);
static void actor_of(struct request *req, struct staff_actor *actor);
static void studio_of(struct request *req, struct staff_studio *studio);
static void invite_problem_page(struct request *req, int rc);
static void invite_form_page(struct request *req, int status, const char *token,
                             const struct staff_invitation *inv, const char *error);
static const char *fields_text(struct request *req, json_t *fields);

#define STAFF TENANT_REQUIRED, AUTH_STAFF

const struct route staff_routes[] = {
    {"GET", "/api/staff", staff_index, STAFF, "staff", "view", 0},
    {"POST", "/api/staff", staff_post, STAFF, "staff", "create", 0},
    {"PUT", "/api/staff/:id", staff_put, STAFF, "staff", "update", 0},
    {"DELETE", "/api/staff/:id", staff_delete, STAFF, "staff", "delete", 0},
    {"POST", "/api/staff/:id/invite", staff_invite_post, STAFF, "staff", "update", 0},
    {"GET", "/invite/:token", invite_page, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL,
     ROUTE_SECRET_PATH},
    {"POST", "/invite/:token", invite_post, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL,
     ROUTE_NO_CSRF | ROUTE_SECRET_PATH},
    {"GET", "/app/team", team_page, STAFF, "staff", "view", 0},
    {0},
};

/* What each module status answers; any other is the database's. STAFF_SELF's message is
 * the call's: what the handler refused to do to oneself. */
static const struct http_error_map staff_errors[] = {
    {STAFF_NOT_FOUND, 404, "not_found", "No such staff member", false},
    {STAFF_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {STAFF_EMAIL_TAKEN, 409, "email_taken", "A team member already has this e-mail address", true},
    {STAFF_FORBIDDEN, 403, "forbidden", "Only an owner can grant the owner role", false},
    {STAFF_ESCALATION, 403, "privilege_escalation",
     "You cannot grant a role with permissions you do not hold", true},
    {STAFF_OWNER_ONLY, 403, "forbidden", "Only an owner can deactivate or remove an owner", false},
    {STAFF_SELF, 422, "cannot_deactivate_self", "%s", true},
    {STAFF_LAST_OWNER, 409, "last_owner",
     "This is the studio's last active owner: make someone else an owner first", false},
    {STAFF_JOINED, 409, "already_joined",
     "They have already chosen a password; no invitation is needed", false},
    {STAFF_INACTIVE, 409, "user_inactive",
     "This user is deactivated: reactivate them before inviting them again", false},
    {0, 503, "database_unavailable", "The database is unavailable; try again shortly", false},
};

/* The statuses whose reply names the field at fault itself, in place of the module's. */
static const struct {
    int rc;
    const char *field, *reason;
} staff_fault_fields[] = {
    {STAFF_EMAIL_TAKEN, "email", "Already in the team"},
    {STAFF_ESCALATION, "role_id", "More than you may grant"},
    {STAFF_SELF, "id", "Yourself"},
};

/* The one mapping from a module status to an API reply; out and fields are stolen.
 * self_message says what STAFF_SELF refused. */
static void reply(struct request *req, int rc, int status, json_t *out, json_t *fields,
                  const char *self_message)
{
    for (size_t i = 0;
         rc != STAFF_OK && i < sizeof(staff_fault_fields) / sizeof(staff_fault_fields[0]); i++)
        if (staff_fault_fields[i].rc == rc) {
            json_decref(fields);
            fields = json_pack("{s:s}", staff_fault_fields[i].field, staff_fault_fields[i].reason);
        }
    http_reply_result(req, rc, status, out, staff_errors, fields, self_message);
}

/* An id that is not a uuid names nobody: 404 before reading the body or the database. */
static const struct http_api staff_api = {staff_errors, staff_id_valid, STAFF_NOT_FOUND};

/* The signed-in user; owner when "owner" is one of the session's current role names. */
static void actor_of(struct request *req, struct staff_actor *actor)
{
    const struct session *s = req->session;
    actor->user_id = s->user_id;
    actor->name = s->user_name;
    actor->owner = false;
    actor->req = req; /* who and from where, for the audit entry */
    json_t *roles = json_loads(s->roles_json, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(roles, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "owner") == 0)
            actor->owner = true;
    }
    json_decref(roles);
}

/* The invitation links point at the studio's own address. */
static void studio_of(struct request *req, struct staff_studio *studio)
{
    studio->name = req->tenant->name;
    studio->url = http_studio_url(req, req->tenant->slug);
}

/* ---- the API --------------------------------------------------------------------------- */

static void staff_index(struct request *req)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = staff_list(t, &out);
    reply(req, rc, 200, out, NULL, NULL);
}

static void staff_post(struct request *req)
{
    json_t *body = http_body_json(req);
    if (!body)
        return;
    struct db_conn *t = request_tenant_db(req);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m || !billing_allow_staff(req, t)) /* the plan's staff seats */
        return;
    struct staff_actor actor;
    struct staff_studio studio;
    actor_of(req, &actor);
    studio_of(req, &studio);
    json_t *out = NULL, *fields = NULL;
    int rc = staff_create(t, m, req->arena, &actor, &studio, body, &out, &fields);
    if (rc == STAFF_OK)
        http_add_header(req, "Location",
                        arena_printf(req->arena, "/api/staff/%s",
                                     json_string_value(json_object_get(out, "id"))));
    reply(req, rc, 201, out, fields, NULL);
}

static void staff_put(struct request *req)
{
    const char *id = http_api_id(req, &staff_api, "id", NULL);
    if (!id)
        return;
    json_t *body = http_body_json(req);
    if (!body)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t ||
        (json_is_true(json_object_get(body, "active")) && !billing_allow_staff_back(req, t, id)))
        return; /* reactivating takes a seat of the plan's */
    struct staff_actor actor;
    actor_of(req, &actor);
    json_t *out = NULL, *fields = NULL;
    int rc = staff_update(t, &actor, id, body, &out, &fields);
    reply(req, rc, 200, out, fields, "You cannot deactivate yourself; another owner can");
}

static void staff_delete(struct request *req)
{
    const char *id = http_api_id(req, &staff_api, "id", NULL);
    if (!id)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    struct staff_actor actor;
    actor_of(req, &actor);
    enum staff_removal done = STAFF_REMOVED;
    int rc = staff_remove(t, &actor, id, &done);
    if (rc == STAFF_OK && done == STAFF_REMOVED)
        http_reply_no_content(req);
    else
        reply(req, rc, 200, rc == STAFF_OK ? json_pack("{s:b}", "deactivated", 1) : NULL, NULL,
              "You cannot remove yourself; another owner can");
}

static void staff_invite_post(struct request *req)
{
    const char *id = http_api_id(req, &staff_api, "id", NULL);
    if (!id)
        return;
    struct db_conn *t = request_tenant_db(req);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m)
        return;
    struct staff_actor actor;
    struct staff_studio studio;
    actor_of(req, &actor);
    studio_of(req, &studio);
    json_t *out = NULL;
    int rc = staff_reinvite(t, m, req->arena, &actor, &studio, id, &out);
    reply(req, rc, 200, out, NULL, NULL);
}

/* ---- the invitation link --------------------------------------------------------------- */

/* The invitation page saying why the link does not work (always a page: a person followed
 * a link), with the status an API would get. */
static void invite_problem_page(struct request *req, int rc)
{
    int status;
    const char *heading, *message;
    switch (rc) {
    case STAFF_INVITE_USED:
        status = 410;
        heading = "This invitation has been used";
        message = "A password was already chosen with this link. Sign in with your e-mail "
                  "address and that password.";
        break;
    case STAFF_INVITE_EXPIRED:
        status = 410;
        heading = "This invitation has expired";
        message = "Invitation links work for 7 days. Ask the studio to send you a new one.";
        break;
    case STAFF_NOT_FOUND:
        status = 404;
        heading = "This invitation link is not valid";
        message = "Check that you opened the whole link from the most recent invitation "
                  "e-mail; an older link stops working when a new one is sent. If it still "
                  "fails, ask the studio to send you a new invitation.";
        break;
    default:
        http_reply_error(req, 503, "database_unavailable",
                         "The database is unavailable; try again shortly", NULL);
        return;
    }
    http_reply_page(req, status, "invite",
                    json_pack("{s:s, s:{s:s, s:s}}", "title", heading, "problem", "heading",
                              heading, "message", message));
}

static void invite_form_page(struct request *req, int status, const char *token,
                             const struct staff_invitation *inv, const char *error)
{
    json_t *ctx = json_pack("{s:s, s:s, s:s, s:s}", "title", "Set your password", "token", token,
                            "name", inv->name, "email", inv->email);
    if (error)
        json_object_set_new(ctx, "error", json_string(error));
    http_reply_page(req, status, "invite", ctx);
}

/* The field errors as one sentence for a page. */
static const char *fields_text(struct request *req, json_t *fields)
{
    struct buf b;
    buf_init(&b, req->arena);
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v)
    {
        if (b.len)
            buf_puts(&b, " ");
        buf_printf(&b, "%s.", json_string_value(v) ? json_string_value(v) : key);
    }
    return buf_cstr(&b);
}

static void invite_page(struct request *req)
{
    const char *token = http_param(req, "token");
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    struct staff_invitation inv;
    int rc = staff_invitation_find(t, req->arena, token, &inv);
    if (rc != STAFF_OK) {
        invite_problem_page(req, rc);
        return;
    }
    invite_form_page(req, 200, token, &inv, NULL);
}

static void invite_post(struct request *req)
{
    const char *token = http_param(req, "token");
    json_t *body = http_body_object(req);
    if (!body)
        return;
    bool html = http_body_is_form(req);
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    const char *password = json_string_value(json_object_get(body, "password"));
    const char *confirm = json_string_value(json_object_get(body, "password_confirm"));
    json_t *fields = NULL;
    int rc = staff_invitation_accept(t, req, req->arena, token, password, confirm, &fields);
    if (rc == STAFF_OK) {
        json_decref(fields);
        if (html)
            http_reply_redirect(req, 303, LOGIN_AFTER_INVITE);
        else
            http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    if (rc == STAFF_INVALID && html) {
        struct staff_invitation inv;
        const char *why = fields_text(req, fields);
        json_decref(fields);
        if ((rc = staff_invitation_find(t, req->arena, token, &inv)) == STAFF_OK)
            invite_form_page(req, 422, token, &inv, why);
        else
            invite_problem_page(req, rc);
        return;
    }
    if (html && rc != STAFF_DB) {
        json_decref(fields);
        invite_problem_page(req, rc);
        return;
    }
    switch (rc) {
    case STAFF_INVITE_USED:
        http_reply_error(req, 410, "invitation_used", "This invitation has already been used",
                         NULL);
        break;
    case STAFF_INVITE_EXPIRED:
        http_reply_error(req, 410, "invitation_expired",
                         "This invitation has expired; ask the studio for a new one", NULL);
        break;
    case STAFF_NOT_FOUND:
        http_reply_error(req, 404, "not_found", "This invitation link is not valid", NULL);
        break;
    default:
        reply(req, rc, 0, NULL, fields, NULL);
        return;
    }
    json_decref(fields);
}

/* ---- the page -------------------------------------------------------------------------- */

static void team_page(struct request *req)
{
    const struct tenant *tn = req->tenant;
    http_reply_page(req, 200, "staff/team",
                    json_pack("{s:s, s:[s], s:s, s:s, s:b, s:s}", "title", "Team", "extra_css",
                              STAFF_PAGE_CSS, "timezone", tn->timezone, "currency", tn->currency,
                              "nav_team", 1, "my_id", req->session->user_id));
}
