/*
 * site_routes.c — root pages.
 *   GET /      bare domain: the landing page (start a studio);
 *              a studio host: the studio's public home (booking comes with
 *              the booking capability; until then, its name and a staff link)
 *   GET /app   the staff home of a studio, for a signed-in user
 */
#include "studiod/site.h"
#include "studiod/tenant.h"

static void home(struct request *req);
static void app_home(struct request *req);

const struct route site_routes[] = {
    {"GET", "/", home, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/app", app_home, TENANT_REQUIRED, AUTH_STAFF, NULL, NULL, 0},
    {0},
};

static void home(struct request *req)
{
    if (!req->tenant) {
        http_reply_page(req, 200, "landing", json_pack("{s:s}", "title", "Book your studio rooms online"));
        return;
    }
    http_reply_page(req, 200, "studio_home", json_pack("{s:s}", "title", req->tenant->name));
}

static void app_home(struct request *req)
{
    const struct tenant *t = req->tenant;
    http_reply_page(req, 200, "app_home",
                    json_pack("{s:s, s:s, s:s, s:s, s:s}", "title", "Dashboard", "trial_ends_at",
                              t->trial_ends_at, "status", t->status, "timezone", t->timezone,
                              "currency", t->currency));
}
