/*
 * middleware.c — the checks every route gets from its declaration, in one
 * place, before its handler runs:
 *   tenant      TENANT_REQUIRED routes need a live studio host (unknown →
 *               404, suspended → 403 studio_suspended);
 *   session     loaded from the cookie on studio hosts (hooks.load_session);
 *   auth        AUTH_STAFF needs a session (401; a browser asking for a
 *               page is sent to /login instead);
 *   permission  the route's RBAC permission (hooks.has_permission) → 403;
 *   CSRF        unsafe methods on cookie-authenticated (AUTH_STAFF) routes
 *               need X-CSRF-Token or a csrf_token form field equal to the
 *               session's token (constant-time) → 403 csrf_failed;
 *   read-only   a studio whose trial ended without a paid plan
 *               (tenant->read_only) answers unsafe AUTH_STAFF requests with
 *               402 subscription_required, except billing routes and routes
 *               without a permission (sign-out); reads still work. Public
 *               booking is paused by src/modules/billing (billing_allow_booking);
 *   admin       AUTH_ADMIN routes answer on the bare domain only (a studio
 *               host → 404) and need a platform admin session
 *               (hooks.load_admin; 401, or /admin/login for a page), with
 *               the same CSRF rule against the admin session's token.
 * Handlers never repeat these checks.
 */
#include <string.h>

#include "http_internal.h"
#include "studiod/crypto.h"
#include "studiod/tenant.h"

#define READ_ONLY_BILLING_URL "/app/billing"

static bool is_unsafe(const char *method);
static bool writable_when_read_only(const struct route *r);
static bool resolve_tenant(struct request *req);
static bool admin_allowed(struct request *req, const struct http_hooks *hooks);

static bool is_unsafe(const char *method)
{
    return !(strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
             strcmp(method, "OPTIONS") == 0);
}

/* What a read-only studio may still change: billing (so the owner can subscribe) and the
 * routes that declare no permission (signing out, one's own account). */
static bool writable_when_read_only(const struct route *r)
{
    return !r->perm_resource || strcmp(r->perm_resource, "billing") == 0;
}

/* Fills req->tenant; false after replying. */
static bool resolve_tenant(struct request *req)
{
    struct tenant *t = arena_alloc(req->arena, sizeof(*t));
    switch (tenant_resolve(req->host, t)) {
    case TENANT_FOUND:
        req->tenant = t;
        return true;
    case TENANT_NOT_A_STUDIO:
        if (req->route->tenant == TENANT_REQUIRED) {
            http_reply_error(req, 404, "not_found", "No such page", NULL);
            return false;
        }
        return true;
    case TENANT_SUSPENDED:
        if (http_wants_html(req))
            http_reply_page(req, 403, "suspended",
                            json_pack("{s:s}", "title", "Studio suspended"));
        else
            http_reply_error(req, 403, "studio_suspended",
                             "This studio is suspended; contact the studio or studiod support",
                             NULL);
        return false;
    case TENANT_DB_DOWN:
        http_reply_error(req, 503, "database_unavailable",
                         "The database is unavailable; try again shortly", NULL);
        return false;
    case TENANT_UNKNOWN:
    default:
        http_reply_error(req, 404, "unknown_studio", "No studio lives at this address", NULL);
        return false;
    }
}

/* AUTH_ADMIN: bare domain, admin session, CSRF. False after replying. */
static bool admin_allowed(struct request *req, const struct http_hooks *hooks)
{
    if (req->tenant) {
        http_reply_error(req, 404, "not_found", "No such page", NULL);
        return false;
    }
    int rc = hooks->load_admin ? hooks->load_admin(req) : -1;
    if (rc == -2) {
        if (!req->replied)
            http_reply_error(req, 503, "database_unavailable",
                             "The database is unavailable; try again shortly", NULL);
        return false;
    }
    if (rc != 0 || !req->admin) {
        if (!is_unsafe(req->method) && http_wants_html(req))
            http_reply_redirect(req, 303, "/admin/login");
        else
            http_reply_error(req, 401, "unauthenticated", "Sign in as a platform admin first",
                             NULL);
        return false;
    }
    if (is_unsafe(req->method) && !(req->route->flags & ROUTE_NO_CSRF)) {
        const char *tok = http_header(req, "X-CSRF-Token");
        if (!tok)
            tok = http_form(req, "csrf_token");
        if (!tok || !crypto_streq(tok, req->admin->csrf_token)) {
            http_reply_error(req, 403, "csrf_failed",
                             "Missing or wrong CSRF token (send X-CSRF-Token)", NULL);
            return false;
        }
    }
    return true;
}

int middleware_run(struct request *req, const struct http_hooks *hooks)
{
    const struct route *r = req->route;
    if (!resolve_tenant(req))
        return -1;

    if (req->tenant && hooks->load_session && http_cookie(req, "studiod_session")) {
        struct session *s = arena_alloc(req->arena, sizeof(*s));
        int rc = hooks->load_session(req, s);
        if (rc == 0)
            req->session = s;
        else if (rc == -2 && r->auth == AUTH_STAFF) {
            if (!req->replied)
                http_reply_error(req, 503, "database_unavailable",
                                 "The database is unavailable; try again shortly", NULL);
            return -1;
        }
    }

    if (r->auth == AUTH_ADMIN && !admin_allowed(req, hooks))
        return -1;

    if (r->auth == AUTH_STAFF) {
        if (!req->session) {
            if (!is_unsafe(req->method) && http_wants_html(req))
                http_reply_redirect(req, 303, "/login");
            else if (strcmp(req->path, "/logout") == 0 && http_wants_html(req))
                http_reply_redirect(req, 303, "/login"); /* nothing to end */
            else
                http_reply_error(req, 401, "unauthenticated", "Sign in first", NULL);
            return -1;
        }
        if (is_unsafe(req->method) && !(r->flags & ROUTE_NO_CSRF)) {
            const char *tok = http_header(req, "X-CSRF-Token");
            if (!tok)
                tok = http_form(req, "csrf_token");
            if (!tok || !crypto_streq(tok, req->session->csrf_token)) {
                http_reply_error(req, 403, "csrf_failed",
                                 "Missing or wrong CSRF token (send X-CSRF-Token)", NULL);
                return -1;
            }
        }
        if (r->perm_resource && hooks->has_permission &&
            !hooks->has_permission(req, r->perm_resource, r->perm_action)) {
            if (req->replied)
                return -1; /* the hook could not decide (e.g. 503 database_unavailable) */
            http_reply_error(req, 403, "forbidden",
                             arena_printf(req->arena, "You need the %s:%s permission",
                                          r->perm_resource, r->perm_action),
                             NULL);
            return -1;
        }
        if (req->tenant->read_only && is_unsafe(req->method) && !writable_when_read_only(r)) {
            http_reply_error(req, 402, "subscription_required",
                             "The trial has ended: the back office is read-only until the studio "
                             "subscribes to a plan (Billing, /app/billing). Nothing was deleted.",
                             json_pack("{s:s}", "billing_url", READ_ONLY_BILLING_URL));
            return -1;
        }
    }
    return 0;
}
