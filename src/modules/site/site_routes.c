/*
 * site_routes.c — the pages of each host. Every page here is a shell: the
 * server renders the template (names, links, the CSRF token, what the page
 * is about) and the page's script (static/js/book.js for customers,
 * static/js/staff.js for staff) fills it from the JSON APIs, so the pages
 * hold no rules of their own and the APIs stay the one contract.
 *
 *   GET /                    bare domain: the landing page (start a studio);
 *                            a studio host: the public booking page
 *   GET /book/:ref           a customer's booking, from the e-mailed link
 *                            (?token= is the manage token; checked by the API)
 *   GET /app                 the staff dashboard
 *   GET /app/calendar        day and week views of every room
 *   GET /app/bookings        bookings with filters and pages
 *   GET /app/bookings/:id    one booking: confirm, cancel, convert to a session
 *   GET /app/settings        rooms, booking policy, weekly opening hours
 *   GET /app/roles           roles and their permission matrix (static/js/roles.js)
 *   GET /app/audit           the studio's audit log: filters, details, verify, export
 *                            (static/js/audit.js)
 *
 * Page-specific styles come in through the layout's {{#extra_css}} list. The
 * roles and audit pages also say which of their buttons the user may use
 * ("can_*", from the same permission check the routes use); the APIs still
 * decide, the flags only spare people buttons that would answer 403.
 */
#include <stdbool.h>
#include <string.h>

#include "studiod/rbac.h"
#include "studiod/site.h"
#include "studiod/tenant.h"

#define SITE_BOOKING_CSS "/static/css/booking.css"
#define SITE_MAX_REF 64 /* longest booking reference a link may carry */
#define SITE_UUID_LEN 36

static void home(struct request *req);
static void manage_page(struct request *req);
static void app_home(struct request *req);
static void calendar_page(struct request *req);
static void bookings_page(struct request *req);
static void booking_page(struct request *req);
static void settings_page(struct request *req);
static void roles_page(struct request *req);
static void audit_page(struct request *req);
static json_t *site_page_ctx(struct request *req, const char *title, const char *nav);
static bool site_ref_ok(const char *s);
static bool site_uuid_ok(const char *s);

const struct route site_routes[] = {
    {"GET", "/", home, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/book/:ref", manage_page, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/app", app_home, TENANT_REQUIRED, AUTH_STAFF, NULL, NULL, 0},
    {"GET", "/app/calendar", calendar_page, TENANT_REQUIRED, AUTH_STAFF, "bookings", "view", 0},
    {"GET", "/app/bookings", bookings_page, TENANT_REQUIRED, AUTH_STAFF, "bookings", "view", 0},
    {"GET", "/app/bookings/:id", booking_page, TENANT_REQUIRED, AUTH_STAFF, "bookings", "view",
     0},
    {"GET", "/app/settings", settings_page, TENANT_REQUIRED, AUTH_STAFF, "settings", "view", 0},
    {"GET", "/app/roles", roles_page, TENANT_REQUIRED, AUTH_STAFF, "roles", "view", 0},
    {"GET", "/app/audit", audit_page, TENANT_REQUIRED, AUTH_STAFF, "audit", "view", 0},
    {0},
};

/* The context every page of a studio starts from: its title, the booking
 * stylesheet, the studio's zone and currency for the scripts and, for staff
 * pages, which nav entry is current ("nav_<name>": true). */
static json_t *site_page_ctx(struct request *req, const char *title, const char *nav)
{
    const struct tenant *t = req->tenant;
    json_t *ctx = json_pack("{s:s, s:[s], s:s, s:s}", "title", title, "extra_css",
                            SITE_BOOKING_CSS, "timezone", t->timezone, "currency", t->currency);
    if (ctx && nav)
        json_object_set_new(ctx, arena_printf(req->arena, "nav_%s", nav), json_true());
    return ctx;
}

/* A booking reference as links carry it: letters, digits, '-' and '_'. */
static bool site_ref_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SITE_MAX_REF)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* A canonical UUID (8-4-4-4-12 hex digits). */
static bool site_uuid_ok(const char *s)
{
    if (!s || strlen(s) != SITE_UUID_LEN)
        return false;
    for (int i = 0; i < SITE_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

static void home(struct request *req)
{
    if (!req->tenant) {
        http_reply_page(req, 200, "landing", json_pack("{s:s}", "title", "Book your studio rooms online"));
        return;
    }
    http_reply_page(req, 200, "studio_home", site_page_ctx(req, req->tenant->name, NULL));
}

static void manage_page(struct request *req)
{
    const char *ref = http_param(req, "ref");
    if (!site_ref_ok(ref)) {
        http_reply_error(req, 404, "not_found", "No such booking", NULL);
        return;
    }
    json_t *ctx = site_page_ctx(req, "Your booking", NULL);
    json_object_set_new(ctx, "ref", json_string(ref));
    http_reply_page(req, 200, "booking/manage", ctx);
}

static void app_home(struct request *req)
{
    const struct tenant *t = req->tenant;
    json_t *ctx = site_page_ctx(req, "Dashboard", "dashboard");
    json_object_set_new(ctx, "trial_ends_at", json_string(t->trial_ends_at));
    json_object_set_new(ctx, "status", json_string(t->status));
    http_reply_page(req, 200, "app_home", ctx);
}

static void calendar_page(struct request *req)
{
    http_reply_page(req, 200, "staff/calendar", site_page_ctx(req, "Calendar", "calendar"));
}

static void bookings_page(struct request *req)
{
    http_reply_page(req, 200, "staff/bookings", site_page_ctx(req, "Bookings", "bookings"));
}

static void booking_page(struct request *req)
{
    const char *id = http_param(req, "id");
    if (!site_uuid_ok(id)) {
        http_reply_error(req, 404, "not_found", "No such booking", NULL);
        return;
    }
    json_t *ctx = site_page_ctx(req, "Booking", "bookings");
    json_object_set_new(ctx, "id", json_string(id));
    http_reply_page(req, 200, "staff/booking", ctx);
}

static void settings_page(struct request *req)
{
    http_reply_page(req, 200, "staff/settings", site_page_ctx(req, "Settings", "settings"));
}

/* The route's own permission check cached the user's permissions on the request, so the
 * rbac_has_permission calls below read that cache and never query (nor reply) themselves. */
static void roles_page(struct request *req)
{
    json_t *ctx = site_page_ctx(req, "Roles", "roles");
    json_object_set_new(ctx, "can_create",
                        json_boolean(rbac_has_permission(req, "roles", "create")));
    json_object_set_new(ctx, "can_update",
                        json_boolean(rbac_has_permission(req, "roles", "update")));
    json_object_set_new(ctx, "can_delete",
                        json_boolean(rbac_has_permission(req, "roles", "delete")));
    http_reply_page(req, 200, "staff/roles", ctx);
}

static void audit_page(struct request *req)
{
    json_t *ctx = site_page_ctx(req, "Audit log", "audit");
    json_object_set_new(ctx, "can_export",
                        json_boolean(rbac_has_permission(req, "audit", "export")));
    http_reply_page(req, 200, "staff/audit", ctx);
}
