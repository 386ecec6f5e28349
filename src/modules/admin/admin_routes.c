/*
 * admin_routes.c — HTTP for platform admins, on the bare domain only (a
 * studio host answers 404: the middleware refuses AUTH_ADMIN routes there,
 * and the two public routes below check it themselves):
 *   GET  /admin                                      → /admin/dashboard
 *   GET  /admin/login                                the form (e-mail, password, 6-digit code)
 *   POST /admin/login                                JSON {"email","password","totp"} or the form
 *   POST /admin/logout                               ends the session
 *   GET  /admin/me                                   the admin and the session's csrf_token
 *   GET  /admin/dashboard[?refresh=1]                figures across studios (JSON, or the page)
 *   GET  /admin/studios?q=&status=&limit=&offset=    search (JSON, or the page)
 *   GET  /admin/studios/:slug                        one studio (JSON, or the page with staff)
 *   POST /admin/studios/:slug/suspend                {"reason"} optional
 *   POST /admin/studios/:slug/reactivate
 *   POST /admin/studios/:slug/extend-trial           {"days": 1..90}
 *   GET  /admin/studios/:slug/staff                  its staff and roles
 *   POST /admin/studios/:slug/staff                  {"name","email","role"}: invited by e-mail
 *   POST /admin/studios/:slug/staff/:id/reset-password   e-mails a set-password link
 *   POST /admin/studios/:slug/staff/:id/deactivate   and ends their sessions
 *   GET  /admin/audit?studio=&limit=&offset=         the platform audit log (JSON, or the page)
 *   GET  /admin/audit/verify                         checks the hash chain
 * Session and CSRF (X-CSRF-Token or a csrf_token form field) are checked by
 * the middleware from the table below. A form post (the admin pages work
 * without JavaScript) is answered with a redirect back to the page, JSON
 * with JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/admin.h"
#include "studiod/db.h"
#include "studiod/parse.h"

#define STUDIOS_PAGE_DEFAULT 50
#define STUDIOS_PAGE_MAX 100
#define AUDIT_PAGE_DEFAULT 50
#define AUDIT_PAGE_MAX 200
#define OFFSET_MAX 1000000
#define QUERY_MAX 100
#define REASON_MAX 500
#define EXTEND_DAYS_MAX 90
#define STUDIO_PAGE_AUDIT 20

static void root_get(struct request *req);
static void login_page(struct request *req);
static void login_post(struct request *req);
static void logout_post(struct request *req);
static void me_get(struct request *req);
static void dashboard_get(struct request *req);
static void studios_get(struct request *req);
static void studio_get(struct request *req);
static void studio_suspend(struct request *req);
static void studio_reactivate(struct request *req);
static void studio_extend_trial(struct request *req);
static void studio_change(struct request *req, enum admin_studio_change change);
static void staff_get(struct request *req);
static void staff_post(struct request *req);
static void staff_reset_password(struct request *req);
static void staff_deactivate(struct request *req);
typedef int (*user_action_fn)(struct request *req, struct db_conn *m, const struct admin_actor *who,
                              const char *slug, const char *id, json_t **out,
                              const char **conflict);
static void user_action(struct request *req, user_action_fn act, const char *done);
static int reset_password(struct request *req, struct db_conn *m, const struct admin_actor *who,
                          const char *slug, const char *id, json_t **out, const char **conflict);
static int deactivate(struct request *req, struct db_conn *m, const struct admin_actor *who,
                      const char *slug, const char *id, json_t **out, const char **conflict);
static void audit_get(struct request *req);
static void audit_verify_get(struct request *req);

static bool on_bare_domain(struct request *req);
static struct admin_actor actor(struct request *req);
static void page(struct request *req, int status, const char *name, const char *title, json_t *ctx);
static void login_failed(struct request *req, bool html, int status, const char *code,
                         const char *message, const char *email);
static void reply(struct request *req, int rc, int status, json_t *out, json_t *fields,
                  const char *conflict, const char *what);
static void reply_done(struct request *req, int rc, int status, json_t *out, json_t *fields,
                       const char *conflict, const char *what, const char *done);
static const char *conflict_message(const char *code);
static json_t *body_or_empty(struct request *req);
static struct db_conn *valid_master_db(struct request *req, json_t *fields, const char *what);
static bool slug_param(struct request *req, const char **slug);
static json_t *slug_and_body(struct request *req, const char **slug);
static const char *user_param(struct request *req);
static bool int_query(struct request *req, const char *name, int def, int lo, int hi, int *out,
                      json_t *fields);
static bool int_value(json_t *v, long *out);
static void set_cookie(struct request *req, const char *token, int max_age);
static const char *done_notice(const char *done);

#define ADMIN TENANT_NONE, AUTH_ADMIN, NULL, NULL

const struct route admin_routes[] = {
    {"GET", "/admin", root_get, ADMIN, 0},
    {"GET", "/admin/login", login_page, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"POST", "/admin/login", login_post, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, ROUTE_NO_CSRF},
    {"POST", "/admin/logout", logout_post, ADMIN, 0},
    {"GET", "/admin/me", me_get, ADMIN, 0},
    {"GET", "/admin/dashboard", dashboard_get, ADMIN, 0},
    {"GET", "/admin/studios", studios_get, ADMIN, 0},
    {"GET", "/admin/studios/:slug", studio_get, ADMIN, 0},
    {"POST", "/admin/studios/:slug/suspend", studio_suspend, ADMIN, 0},
    {"POST", "/admin/studios/:slug/reactivate", studio_reactivate, ADMIN, 0},
    {"POST", "/admin/studios/:slug/extend-trial", studio_extend_trial, ADMIN, 0},
    {"GET", "/admin/studios/:slug/staff", staff_get, ADMIN, 0},
    {"POST", "/admin/studios/:slug/staff", staff_post, ADMIN, 0},
    {"POST", "/admin/studios/:slug/staff/:id/reset-password", staff_reset_password, ADMIN, 0},
    {"POST", "/admin/studios/:slug/staff/:id/deactivate", staff_deactivate, ADMIN, 0},
    {"GET", "/admin/audit", audit_get, ADMIN, 0},
    {"GET", "/admin/audit/verify", audit_verify_get, ADMIN, 0},
    {0},
};

/* ---- helpers --------------------------------------------------------------------------- */

/* The public admin routes (login) do what the middleware does for the others. */
static bool on_bare_domain(struct request *req)
{
    if (!req->tenant)
        return true;
    http_reply_error(req, 404, "not_found", "No such page", NULL);
    return false;
}

static struct admin_actor actor(struct request *req)
{
    const char *ua = http_header(req, "User-Agent");
    return (struct admin_actor){
        .admin_id = req->admin ? req->admin->admin_id : NULL,
        .email = req->admin ? req->admin->email : NULL,
        .ip = req->ip,
        .user_agent = ua ? arena_strndup(req->arena, ua, strnlen(ua, 512)) : NULL,
        .request_id = req->request_id,
    };
}

/* Renders templates/admin/<name>.html; steals ctx. The back office's styles (navigation,
 * tables, forms) come from booking.css, as on the staff pages. */
static void page(struct request *req, int status, const char *name, const char *title, json_t *ctx)
{
    json_object_set_new(ctx, "title", json_string(title));
    json_object_set_new(ctx, "extra_css", json_pack("[s]", "/static/css/booking.css"));
    if (req->admin)
        json_object_set_new(ctx, "admin",
                            json_pack("{s:s, s:s, s:s}", "name", req->admin->name, "email",
                                      req->admin->email, "csrf_token", req->admin->csrf_token));
    http_reply_page(req, status, arena_printf(req->arena, "admin/%s", name), ctx);
}

/* The cookie of the admin session: only sent to /admin, never cross-site. */
static void set_cookie(struct request *req, const char *token, int max_age)
{
    http_add_header(
        req, "Set-Cookie",
        arena_printf(req->arena, "%s=%s; Path=/admin; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                     ADMIN_COOKIE, max_age ? token : "", max_age, req->tls ? "; Secure" : ""));
}

/* A fixed text and the key that names it. */
struct keyed_text {
    const char *key, *text;
};

/* The text of key in t (n entries), or otherwise. */
static const char *text_of(const struct keyed_text *t, size_t n, const char *key,
                           const char *otherwise)
{
    for (size_t i = 0; key && i < n; i++)
        if (strcmp(t[i].key, key) == 0)
            return t[i].text;
    return otherwise;
}

static const char *conflict_message(const char *code)
{
    static const struct keyed_text messages[] = {
        {"already_suspended", "This studio is already suspended"},
        {"not_suspended", "This studio is not suspended"},
        {"studio_provisioning", "This studio is still being set up"},
        {"not_in_trial", "This studio is not on a trial: it has a plan"},
        {"email_taken", "This studio already has a user with this e-mail address"},
        {"user_inactive", "This user is deactivated"},
        {"already_inactive", "This user is already deactivated"},
    };
    return text_of(messages, sizeof(messages) / sizeof(messages[0]), code,
                   "The request conflicts with the current state");
}

/* What each module status answers; any other is the database's. ADMIN_CONFLICT's code is
 * the call's (reply). */
static const struct http_error_map admin_errors[] = {
    {ADMIN_NOT_FOUND, 404, "not_found", "No such %s", false},
    {ADMIN_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {0, 503, "database_unavailable", "The database is unavailable; try again shortly", false},
};

/* The one mapping from a module status to a reply (http_reply_result with admin_errors,
 * but for the conflict's code and a 503 already made); out and fields are stolen. */
static void reply(struct request *req, int rc, int status, json_t *out, json_t *fields,
                  const char *conflict, const char *what)
{
    bool replied_503 = !http_error_find(admin_errors, rc) && req->replied && req->status == 503;
    if (rc == ADMIN_OK || (rc != ADMIN_CONFLICT && !replied_503)) {
        http_reply_result(req, rc, status, out, admin_errors, fields, what);
        return;
    }
    json_decref(out);
    json_decref(fields);
    if (rc == ADMIN_CONFLICT) {
        conflict = conflict ? conflict : "conflict";
        http_reply_error(req, 409, conflict, conflict_message(conflict), NULL);
    } /* else the 503 already made (request_*_db) stands */
}

/* Like reply; a successful form post goes back to its studio's page with a notice. */
static void reply_done(struct request *req, int rc, int status, json_t *out, json_t *fields,
                       const char *conflict, const char *what, const char *done)
{
    if (rc == ADMIN_OK && http_body_is_form(req)) {
        json_decref(out);
        json_decref(fields);
        const char *slug = http_param(req, "slug");
        http_reply_redirect(req, 303,
                            arena_printf(req->arena, "/admin/studios/%s?done=%s", slug, done));
        return;
    }
    reply(req, rc, status, out, fields, conflict, what);
}

/* The notice a page shows after a form post (?done=...), from a fixed list. */
static const char *done_notice(const char *done)
{
    static const struct keyed_text notices[] = {
        {"suspended", "The studio is suspended."},
        {"reactivated", "The studio is active again."},
        {"extended", "The trial is extended."},
        {"invited", "The invitation is on its way."},
        {"reset", "A link to choose a new password is on its way."},
        {"deactivated", "The user is deactivated and signed out."},
    };
    return text_of(notices, sizeof(notices) / sizeof(notices[0]), done, NULL);
}

/* The master database once the input is good: NULL after replying 422 naming each bad
 * field of fields, or 503. Steals fields. */
static struct db_conn *valid_master_db(struct request *req, json_t *fields, const char *what)
{
    if (json_object_size(fields) > 0) {
        reply(req, ADMIN_INVALID, 0, NULL, fields, NULL, what);
        return NULL;
    }
    json_decref(fields);
    return request_master_db(req);
}

/* The body as an object, {} when there is none (actions whose body is optional). */
static json_t *body_or_empty(struct request *req)
{
    if (req->body_len == 0)
        return http_own_json(req, json_object());
    return http_body_object(req);
}

/* A slug-shaped :slug, or 404. */
static bool slug_param(struct request *req, const char **slug)
{
    const char *s = http_param(req, "slug");
    size_t n = s ? strlen(s) : 0;
    bool ok = n >= 3 && n <= 40;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
    if (!ok) {
        http_reply_error(req, 404, "not_found", "No such studio", NULL);
        return false;
    }
    *slug = s;
    return true;
}

/* A slug-shaped :slug and the body (JSON or a form): the body, or NULL after replying. */
static json_t *slug_and_body(struct request *req, const char **slug)
{
    return slug_param(req, slug) ? http_body_object(req) : NULL;
}

/* An integer, or a string of digits (a form field). */
static bool int_value(json_t *v, long *out)
{
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 9)
        return false;
    char *end;
    *out = strtol(s, &end, 10);
    return *end == '\0';
}

/* ?name= as an integer in [lo, hi] (def when absent); false after noting it in fields. */
static bool int_query(struct request *req, const char *name, int def, int lo, int hi, int *out,
                      json_t *fields)
{
    const char *s = http_query(req, name);
    *out = def;
    if (!s || !*s)
        return true;
    long v;
    json_t *j = json_string(s);
    bool ok = int_value(j, &v) && v >= lo && v <= hi;
    json_decref(j);
    if (!ok) {
        json_object_set_new(
            fields, name,
            json_string(arena_printf(req->arena, "An integer from %d to %d", lo, hi)));
        return false;
    }
    *out = (int)v;
    return true;
}

/* ---- sign-in --------------------------------------------------------------------------- */

static void root_get(struct request *req)
{
    http_reply_redirect(req, 303, "/admin/dashboard");
}

static void login_page(struct request *req)
{
    if (!on_bare_domain(req))
        return;
    if (http_cookie(req, ADMIN_COOKIE) && admin_load_session(req) == 0) {
        http_reply_redirect(req, 303, "/admin/dashboard");
        return;
    }
    page(req, 200, "login", "Platform sign-in", json_object());
}

static void login_failed(struct request *req, bool html, int status, const char *code,
                         const char *message, const char *email)
{
    if (html)
        page(req, status, "login", "Platform sign-in",
             json_pack("{s:s, s:s}", "error", message, "email", email ? email : ""));
    else
        http_reply_error(req, status, code, message, NULL);
}

static void login_post(struct request *req)
{
    if (!on_bare_domain(req))
        return;
    json_t *body = http_body_object(req);
    if (!body)
        return;
    bool html = http_body_is_form(req);
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *password = json_string_value(json_object_get(body, "password"));
    const char *totp = json_string_value(json_object_get(body, "totp"));
    if (!email || !*email || strlen(email) > 254 || !password || !*password ||
        strlen(password) > 1024 || !totp || !*totp || strlen(totp) > 32) {
        if (html) {
            login_failed(req, true, 422, "invalid_input",
                         "Enter your e-mail, password and the 6-digit code", email);
            return;
        }
        json_t *f = json_object();
        if (!email || !*email || strlen(email) > 254)
            json_object_set_new(f, "email", json_string("required"));
        if (!password || !*password || strlen(password) > 1024)
            json_object_set_new(f, "password", json_string("required"));
        if (!totp || !*totp || strlen(totp) > 32)
            json_object_set_new(f, "totp", json_string("required: the 6-digit code"));
        http_reply_error(req, 422, "invalid_input", "E-mail, password and code are required", f);
        return;
    }
    /* Authenticator apps show "123 456": spaces are not part of the code. */
    char code[33];
    size_t n = 0;
    for (const char *p = totp; *p && n < sizeof(code) - 1; p++)
        if (*p != ' ')
            code[n++] = *p;
    code[n] = '\0';

    struct admin_login res;
    memset(&res, 0, sizeof(res));
    switch (admin_login(req, email, password, code, &res)) {
    case ADMIN_OK:
        break;
    case ADMIN_THROTTLED:
        http_add_header(req, "Retry-After", arena_printf(req->arena, "%d", res.retry_after));
        login_failed(req, html, 429, "too_many_attempts",
                     "Too many failed sign-ins; try again later", email);
        return;
    case ADMIN_BAD_CREDENTIALS:
        login_failed(req, html, 401, "invalid_credentials", "Wrong e-mail, password or code",
                     email);
        return;
    case ADMIN_DB:
    default:
        if (!req->replied || req->status != 503)
            http_reply_error(req, 503, "database_unavailable", "Try again shortly", NULL);
        return;
    }
    set_cookie(req, res.token, ADMIN_SESSION_MAX_HOURS * 3600);
    if (html) {
        http_reply_redirect(req, 303, "/admin/dashboard");
        return;
    }
    http_reply_json(req, 200,
                    json_pack("{s:{s:s, s:s, s:s}, s:s, s:i}", "admin", "id", res.admin_id, "name",
                              res.name, "email", email, "csrf_token", res.csrf_token, "expires_in",
                              ADMIN_SESSION_MAX_HOURS * 3600));
}

static void logout_post(struct request *req)
{
    struct admin_actor who = actor(req);
    admin_logout(req, &who);
    set_cookie(req, "", 0);
    if (http_wants_html(req))
        http_reply_redirect(req, 303, "/admin/login");
    else
        http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void me_get(struct request *req)
{
    const struct admin_session *s = req->admin;
    http_reply_json(req, 200,
                    json_pack("{s:{s:s, s:s, s:s}, s:s}", "admin", "id", s->admin_id, "name",
                              s->name, "email", s->email, "csrf_token", s->csrf_token));
}

/* ---- dashboard ------------------------------------------------------------------------- */

static void dashboard_get(struct request *req)
{
    const char *refresh = http_query(req, "refresh");
    bool fresh = refresh && (strcmp(refresh, "1") == 0 || strcmp(refresh, "true") == 0);
    char *text = NULL;
    if (admin_dashboard(req->arena, fresh, &text) != ADMIN_OK) {
        reply(req, ADMIN_DB, 0, NULL, NULL, NULL, "dashboard");
        return;
    }
    if (!http_accepts_html(req)) {
        http_reply_bytes(req, 200, "application/json", text, strlen(text));
        return;
    }
    json_t *ctx = json_loads(text, 0, NULL);
    if (!ctx) {
        reply(req, ADMIN_DB, 0, NULL, NULL, NULL, "dashboard");
        return;
    }
    json_object_set_new(
        ctx, "has_unreachable",
        json_boolean(json_integer_value(json_object_get(ctx, "studios_skipped")) > 0));
    json_object_set_new(ctx, "nav_dashboard", json_true());
    page(req, 200, "dashboard", "Platform dashboard", ctx);
}

/* ---- studios --------------------------------------------------------------------------- */

static void studios_get(struct request *req)
{
    static const char *const statuses[] = {"trial", "active", "suspended", "provisioning", NULL};
    json_t *fields = json_object();
    struct admin_studio_query q = {.q = http_query(req, "q"), .status = http_query(req, "status")};
    int_query(req, "limit", STUDIOS_PAGE_DEFAULT, 1, STUDIOS_PAGE_MAX, &q.limit, fields);
    int_query(req, "offset", 0, 0, OFFSET_MAX, &q.offset, fields);
    if (q.q && strlen(q.q) > QUERY_MAX)
        json_object_set_new(fields, "q", json_string("At most 100 characters"));
    bool known = !q.status || !*q.status;
    for (const char *const *s = statuses; !known && *s; s++)
        known = strcmp(*s, q.status) == 0;
    if (!known)
        json_object_set_new(fields, "status",
                            json_string("trial, active, suspended or provisioning"));
    struct db_conn *m = valid_master_db(req, fields, "studio");
    if (!m)
        return;
    json_t *out = NULL;
    int rc = admin_studios_list(m, &q, &out);
    if (rc != ADMIN_OK || !http_accepts_html(req)) {
        reply(req, rc, 200, out, NULL, NULL, "studio");
        return;
    }
    json_t *options = json_array();
    for (const char *const *s = statuses; *s; s++)
        json_array_append_new(options, json_pack("{s:s, s:b}", "value", *s, "selected",
                                                 q.status && strcmp(q.status, *s) == 0));
    json_object_set_new(out, "status_options", options);
    json_object_set_new(out, "q", json_string(q.q ? q.q : ""));
    json_int_t total = json_integer_value(json_object_get(out, "total"));
    const char *qe = q.q ? q.q : "", *se = q.status ? q.status : "";
    char *base = arena_printf(req->arena, "/admin/studios?q=%s&status=%s&limit=%d",
                              parse_percent_encode(req->arena, qe),
                              parse_percent_encode(req->arena, se), q.limit);
    if (q.offset > 0)
        json_object_set_new(out, "prev_href",
                            json_string(arena_printf(req->arena, "%s&offset=%d", base,
                                                     q.offset > q.limit ? q.offset - q.limit : 0)));
    if (q.offset + q.limit < total)
        json_object_set_new(
            out, "next_href",
            json_string(arena_printf(req->arena, "%s&offset=%d", base, q.offset + q.limit)));
    json_object_set_new(out, "nav_studios", json_true());
    page(req, 200, "studios", "Studios", out);
}

static void studio_get(struct request *req)
{
    const char *slug;
    if (!slug_param(req, &slug))
        return;
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = admin_studio_get(m, slug, http_studio_url(req, slug), &out);
    if (rc != ADMIN_OK || !http_accepts_html(req)) {
        reply(req, rc, 200, out, NULL, NULL, "studio");
        return;
    }
    json_t *studio = json_object_get(out, "studio");
    const char *status = json_string_value(json_object_get(studio, "status"));
    const char *was = json_string_value(json_object_get(studio, "status_before_suspension"));
    bool suspended = status && strcmp(status, "suspended") == 0;
    bool trial = status && (strcmp(status, "trial") == 0 ||
                            (suspended && (!was || strcmp(was, "trial") == 0)));
    json_object_set_new(out, "is_suspended", json_boolean(suspended));
    json_object_set_new(
        out, "can_suspend",
        json_boolean(status && (strcmp(status, "trial") == 0 || strcmp(status, "active") == 0)));
    json_object_set_new(out, "can_extend", json_boolean(trial));
    json_t *staff = NULL;
    if (admin_staff_list(m, slug, &staff) == ADMIN_OK) {
        json_t *roles = json_object_get(staff, "roles"), *opts = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(roles, i, r)
        {
            const char *name = json_string_value(r);
            json_array_append_new(opts, json_pack("{s:s, s:b}", "value", name, "selected",
                                                  strcmp(name, "owner") == 0));
        }
        json_object_set(out, "staff", json_object_get(staff, "staff"));
        json_object_set_new(out, "role_options", opts);
        json_decref(staff);
    } else {
        json_object_set_new(out, "staff_error",
                            json_string("The studio's database did not answer: staff not shown"));
    }
    json_t *audit = NULL;
    if (admin_audit_list(m, slug, STUDIO_PAGE_AUDIT, 0, &audit) == ADMIN_OK) {
        json_object_set(out, "audit", json_object_get(audit, "entries"));
        json_decref(audit);
    }
    const char *notice = done_notice(http_query(req, "done"));
    if (notice)
        json_object_set_new(out, "notice", json_string(notice));
    json_object_set_new(out, "nav_studios", json_true());
    /* Not "studio": the layout would brand the page as that studio's own. */
    json_object_set(out, "org", studio);
    const char *title =
        arena_strdup(req->arena, json_string_value(json_object_get(studio, "name")));
    json_object_del(out, "studio");
    page(req, 200, "studio", title, out);
}

static void studio_change(struct request *req, enum admin_studio_change change)
{
    const char *slug;
    if (!slug_param(req, &slug))
        return;
    json_t *body = body_or_empty(req);
    if (!body)
        return;
    const char *reason = json_string_value(json_object_get(body, "reason"));
    json_t *fields = json_object();
    if (reason && strlen(reason) > REASON_MAX)
        json_object_set_new(fields, "reason", json_string("At most 500 characters"));
    struct db_conn *m = valid_master_db(req, fields, "studio");
    if (!m)
        return;
    struct admin_actor who = actor(req);
    json_t *out = NULL;
    const char *conflict = NULL;
    int rc = admin_studio_set_status(m, &who, slug, change, reason, http_studio_url(req, slug),
                                     &out, &conflict);
    reply_done(req, rc, 200, out, NULL, conflict, "studio",
               change == ADMIN_SUSPEND ? "suspended" : "reactivated");
}

static void studio_suspend(struct request *req)
{
    studio_change(req, ADMIN_SUSPEND);
}

static void studio_reactivate(struct request *req)
{
    studio_change(req, ADMIN_REACTIVATE);
}

static void studio_extend_trial(struct request *req)
{
    const char *slug;
    json_t *body = slug_and_body(req, &slug);
    if (!body)
        return;
    long days = 0;
    json_t *fields = json_object();
    if (!int_value(json_object_get(body, "days"), &days) || days < 1 || days > EXTEND_DAYS_MAX)
        json_object_set_new(fields, "days", json_string("A whole number of days from 1 to 90"));
    struct db_conn *m = valid_master_db(req, fields, "studio");
    if (!m)
        return;
    struct admin_actor who = actor(req);
    json_t *out = NULL;
    const char *conflict = NULL;
    int rc = admin_studio_extend_trial(m, &who, slug, (int)days, http_studio_url(req, slug), &out,
                                       &conflict);
    reply_done(req, rc, 200, out, NULL, conflict, "studio", "extended");
}

/* ---- staff ----------------------------------------------------------------------------- */

static void staff_get(struct request *req)
{
    const char *slug;
    if (!slug_param(req, &slug))
        return;
    if (http_accepts_html(req)) {
        http_reply_redirect(req, 303, arena_printf(req->arena, "/admin/studios/%s#staff", slug));
        return;
    }
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = admin_staff_list(m, slug, &out);
    reply(req, rc, 200, out, NULL, NULL, "studio");
}

static void staff_post(struct request *req)
{
    const char *slug;
    json_t *body = slug_and_body(req, &slug);
    if (!body)
        return;
    struct admin_staff_input in = {
        .name = json_string_value(json_object_get(body, "name")),
        .email = json_string_value(json_object_get(body, "email")),
        .role = json_string_value(json_object_get(body, "role")),
    };
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    struct admin_actor who = actor(req);
    json_t *out = NULL, *fields = NULL;
    const char *conflict = NULL;
    int rc = admin_staff_invite(m, req->arena, &who, slug, http_studio_url(req, slug), &in, &out,
                                &fields, &conflict);
    reply_done(req, rc, 201, out, fields, conflict, "studio", "invited");
}

/* The :id of a staff route, or 404. */
static const char *user_param(struct request *req)
{
    const char *id = http_param(req, "id");
    if (admin_uuid_valid(id))
        return id;
    http_reply_error(req, 404, "not_found", "No such user", NULL);
    return NULL;
}

/* An action on :slug's user :id: act calls the module; done names a form post's notice. */
static void user_action(struct request *req, user_action_fn act, const char *done)
{
    const char *slug, *id;
    if (!slug_param(req, &slug) || !(id = user_param(req)))
        return;
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    struct admin_actor who = actor(req);
    json_t *out = NULL;
    const char *conflict = NULL;
    int rc = act(req, m, &who, slug, id, &out, &conflict);
    reply_done(req, rc, 200, out, NULL, conflict, "studio or user", done);
}

static int reset_password(struct request *req, struct db_conn *m, const struct admin_actor *who,
                          const char *slug, const char *id, json_t **out, const char **conflict)
{
    return admin_staff_reset_password(m, req->arena, who, slug, http_studio_url(req, slug), id, out,
                                      conflict);
}

static int deactivate(struct request *req, struct db_conn *m, const struct admin_actor *who,
                      const char *slug, const char *id, json_t **out, const char **conflict)
{
    (void)req;
    return admin_staff_deactivate(m, who, slug, id, out, conflict);
}

static void staff_reset_password(struct request *req)
{
    user_action(req, reset_password, "reset");
}

static void staff_deactivate(struct request *req)
{
    user_action(req, deactivate, "deactivated");
}

/* ---- audit log ------------------------------------------------------------------------- */

static void audit_get(struct request *req)
{
    json_t *fields = json_object();
    int limit, offset;
    int_query(req, "limit", AUDIT_PAGE_DEFAULT, 1, AUDIT_PAGE_MAX, &limit, fields);
    int_query(req, "offset", 0, 0, OFFSET_MAX, &offset, fields);
    const char *studio = http_query(req, "studio");
    if (studio && strlen(studio) > 40)
        json_object_set_new(fields, "studio", json_string("A studio's slug"));
    struct db_conn *m = valid_master_db(req, fields, "entry");
    if (!m)
        return;
    json_t *out = NULL;
    int rc = admin_audit_list(m, studio, limit, offset, &out);
    if (rc != ADMIN_OK || !http_accepts_html(req)) {
        reply(req, rc, 200, out, NULL, NULL, "entry");
        return;
    }
    long long entries = 0, bad = 0;
    int v = admin_audit_verify(m, &entries, &bad);
    json_object_set_new(out, "chain_ok", json_boolean(v == 0));
    json_object_set_new(out, "chain_entries", json_integer(entries));
    if (v == 1)
        json_object_set_new(out, "chain_first_bad", json_integer(bad));
    if (offset + limit < json_integer_value(json_object_get(out, "total")))
        json_object_set_new(out, "next_href",
                            json_string(arena_printf(req->arena, "/admin/audit?offset=%d&limit=%d",
                                                     offset + limit, limit)));
    json_object_set_new(out, "nav_audit", json_true());
    page(req, 200, "audit", "Audit log", out);
}

static void audit_verify_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    long long entries = 0, bad = 0;
    int v = admin_audit_verify(m, &entries, &bad);
    if (v < 0) {
        reply(req, ADMIN_DB, 0, NULL, NULL, NULL, "entry");
        return;
    }
    json_t *out = json_pack("{s:b, s:I}", "ok", v == 0, "entries", (json_int_t)entries);
    json_object_set_new(out, "first_bad_id", v == 1 ? json_integer(bad) : json_null());
    http_reply_json(req, 200, out);
}
