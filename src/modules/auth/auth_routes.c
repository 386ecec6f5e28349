/*
 * auth_routes.c — HTTP for staff sign-in, on a studio's host:
 *   GET  /login      the form
 *   POST /login      JSON {"email","password"} or the form
 *   POST /logout     ends the session (CSRF-checked)
 *   GET  /api/me     the user, their studio, roles and csrf_token
 * Sign-ins, refused sign-ins and sign-outs are audited by auth.c.
 */
#include <string.h>

#include "auth_internal.h"
#include "studiod/config.h"
#include "studiod/tenant.h"

static void login_page(struct request *req);
static void login_post(struct request *req);
static void logout_post(struct request *req);
static void me_get(struct request *req);
static void login_failed(struct request *req, bool html, int status, const char *code,
                         const char *message, const char *email);

const struct route auth_routes[] = {
    {"GET", "/login", login_page, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, 0},
    {"POST", "/login", login_post, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, ROUTE_NO_CSRF},
    {"POST", "/logout", logout_post, TENANT_REQUIRED, AUTH_STAFF, NULL, NULL, 0},
    {"GET", "/api/me", me_get, TENANT_REQUIRED, AUTH_STAFF, NULL, NULL, 0},
    {0},
};

static void login_page(struct request *req)
{
    if (req->session) {
        http_reply_redirect(req, 303, "/app");
        return;
    }
    http_reply_page(req, 200, "login", json_pack("{s:s}", "title", "Sign in"));
}

static void login_failed(struct request *req, bool html, int status, const char *code,
                         const char *message, const char *email)
{
    if (html)
        http_reply_page(req, status, "login",
                        json_pack("{s:s, s:s, s:s}", "title", "Sign in", "error", message,
                                  "email", email ? email : ""));
    else
        http_reply_error(req, status, code, message, NULL);
}

static void login_post(struct request *req)
{
    json_t *body = http_body_object(req);
    if (!body)
        return;
    bool html = http_body_is_form(req);
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!email || !*email || !password || !*password || strlen(email) > 254 ||
        strlen(password) > 1024) {
        if (html) {
            login_failed(req, true, 422, "invalid_input", "Enter your e-mail and password",
                         email);
            return;
        }
        json_t *f = json_object();
        if (!email || !*email || strlen(email) > 254)
            json_object_set_new(f, "email", json_string("required"));
        if (!password || !*password || strlen(password) > 1024)
            json_object_set_new(f, "password", json_string("required"));
        http_reply_error(req, 422, "invalid_input", "E-mail and password are required", f);
        return;
    }
    struct auth_login_result res;
    memset(&res, 0, sizeof(res));
    switch (auth_login(req, email, password, &res)) {
    case AUTH_OK:
        break;
    case AUTH_THROTTLED:
        http_add_header(req, "Retry-After", arena_printf(req->arena, "%d", res.retry_after));
        login_failed(req, html, 429, "too_many_attempts",
                     "Too many failed sign-ins; try again later", email);
        return;
    case AUTH_BAD_CREDENTIALS:
        login_failed(req, html, 401, "invalid_credentials", "Wrong e-mail or password", email);
        return;
    case AUTH_DB_DOWN:
    default:
        if (!req->replied || req->status != 503)
            http_reply_error(req, 503, "database_unavailable", "Try again shortly", NULL);
        return;
    }
    http_set_cookie(req, AUTH_COOKIE, res.token, g_config.session_max_hours * 3600);
    if (html) {
        http_reply_redirect(req, 303, "/app");
        return;
    }
    http_reply_json(req, 200,
                    json_pack("{s:{s:s, s:s, s:s}, s:s}", "user", "id", res.user_id, "name",
                              res.user_name, "email", email, "csrf_token", res.csrf_token));
}

static void logout_post(struct request *req)
{
    if (auth_logout(req) != 0) {
        if (!req->replied)
            http_reply_error(req, 503, "database_unavailable", "Try again shortly", NULL);
        return;
    }
    http_set_cookie(req, AUTH_COOKIE, "", 0);
    if (http_wants_html(req))
        http_reply_redirect(req, 303, "/login");
    else
        http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void me_get(struct request *req)
{
    const struct session *s = req->session;
    const struct tenant *t = req->tenant;
    json_t *roles = json_loads(s->roles_json, 0, NULL);
    http_reply_json(
        req, 200,
        json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}, s:o, s:s}", "user",
                  "id", s->user_id, "name", s->user_name, "email", s->user_email, "studio",
                  "id", t->id, "slug", t->slug, "name", t->name, "status", t->status,
                  "timezone", t->timezone,
                  "currency", t->currency, "trial_ends_at",
                  t->trial_ends_at[0] ? t->trial_ends_at : NULL, "roles",
                  roles ? roles : json_array(), "csrf_token", s->csrf_token));
}
