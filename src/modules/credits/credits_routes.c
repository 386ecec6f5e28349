/*
 * credits_routes.c — HTTP for a studio's AI credits (src/modules/credits):
 *   GET  /api/billing/credits           balance, used this month, monthly allowance
 *   GET  /api/billing/credits/packs     the packs on sale
 *   POST /api/billing/credits/purchase  {"pack_id"} → {"checkout_url"} (Stripe Checkout;
 *                                       optional Idempotency-Key header)
 *   GET  /api/billing/credits/history   the ledger, newest first (?limit=&offset=)
 *   GET  /app/credits                   the page (static/js/credits.js)
 *
 * Reading needs billing:view (the balance is part of what the studio pays
 * for: owners and managers by default); buying needs billing:manage, like
 * every other spending of the studio's money on the platform (owners).
 * The credits are granted by the platform billing webhook
 * (POST /api/billing/webhooks/stripe, src/modules/billing), not here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/credits.h"
#include "studiod/rbac.h"
#include "studiod/tenant.h"

#define PERM_RESOURCE "billing"
#define CREDITS_PAGE "/app/credits"

static void summary_get(struct request *req);
static void packs_get(struct request *req);
static void purchase_post(struct request *req);
static void history_get(struct request *req);
static void credits_page(struct request *req);
static bool query_long(struct request *req, const char *name, long dflt, long min, long max,
                       long *out, json_t *fields, const char *why);

const struct route credits_routes[] = {
    {"GET", "/api/billing/credits", summary_get, TENANT_REQUIRED, AUTH_STAFF, PERM_RESOURCE, "view",
     0},
    {"GET", "/api/billing/credits/packs", packs_get, TENANT_REQUIRED, AUTH_STAFF, PERM_RESOURCE,
     "view", 0},
    {"POST", "/api/billing/credits/purchase", purchase_post, TENANT_REQUIRED, AUTH_STAFF,
     PERM_RESOURCE, "manage", 0},
    {"GET", "/api/billing/credits/history", history_get, TENANT_REQUIRED, AUTH_STAFF, PERM_RESOURCE,
     "view", 0},
    {"GET", CREDITS_PAGE, credits_page, TENANT_REQUIRED, AUTH_STAFF, PERM_RESOURCE, "view", 0},
    {0},
};

static const struct http_error_map credits_errors[] = {
    {CREDITS_INSUFFICIENT, 402, "insufficient_credits", "Not enough AI credits", false},
    {CREDITS_INVALID, 422, "invalid", "%s", true},
    {CREDITS_BAD_KEY, 422, "invalid",
     "The Idempotency-Key header must be 1 to 64 letters, digits or - _ . :", false},
    {CREDITS_NOT_FOUND, 404, "not_found", "No such studio", false},
    {CREDITS_STRIPE, 502, "payment_provider_error",
     "The payment provider did not accept the request; try again", false},
    {CREDITS_STRIPE_DOWN, 503, "payment_provider_unavailable",
     "The payment provider did not answer; try again", false},
    {CREDITS_UNAVAILABLE, 422, "payments_unavailable",
     "Buying credits is not available: online payment is not configured", false},
    {CREDITS_DB, 503, "database_unavailable", "The database is unavailable; try again", false},
    {0, 500, "internal_error", "Internal error", false},
};

static void summary_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = credits_summary(m, req->tenant->id, &out);
    http_reply_result(req, rc, 200, out, credits_errors, NULL, NULL);
}

static void packs_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = credits_packs(m, &out);
    http_reply_result(req, rc, 200, out, credits_errors, NULL, NULL);
}

static void purchase_post(struct request *req)
{
    json_t *body = http_body_object(req);
    if (!body)
        return;
    json_t *pack = json_object_get(body, "pack_id");
    if (!json_is_string(pack) || json_string_length(pack) == 0) {
        http_reply_error(req, 422, "invalid", "Choose a credit pack",
                         json_pack("{s:s}", "pack_id", "Required: the id of a pack"));
        return;
    }
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    const char *back =
        arena_printf(req->arena, "%s%s", http_studio_url(req, req->tenant->slug), CREDITS_PAGE);
    json_t *out = NULL;
    int rc = credits_purchase(req->arena, m, t, req, req->tenant->id, json_string_value(pack),
                              http_header(req, "Idempotency-Key"), back, &out);
    http_reply_result(req, rc, 200, out, credits_errors,
                      rc == CREDITS_INVALID ? json_pack("{s:s}", "pack_id", "No such pack") : NULL,
                      "No such credit pack");
}

/* ?name= as a long in [min, max] (dflt when absent); false after noting why in fields. */
static bool query_long(struct request *req, const char *name, long dflt, long min, long max,
                       long *out, json_t *fields, const char *why)
{
    const char *v = http_query(req, name);
    *out = dflt;
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        json_object_set_new(fields, name, json_string(why));
        return false;
    }
    *out = n;
    return true;
}

static void history_get(struct request *req)
{
    json_t *fields = json_object();
    long limit, offset;
    bool ok = query_long(req, "limit", CREDITS_HISTORY_DEFAULT_LIMIT, 1, CREDITS_HISTORY_MAX_LIMIT,
                         &limit, fields, "A whole number from 1 to 100");
    ok = query_long(req, "offset", 0, 0, 1000000000L, &offset, fields,
                    "A whole number, 0 or more") &&
         ok;
    if (!ok) {
        http_reply_error(req, 422, "invalid", "Check the paging parameters", fields);
        return;
    }
    json_decref(fields);
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = credits_history(m, req->tenant->id, limit, offset, &out);
    http_reply_result(req, rc, 200, out, credits_errors, NULL, "Check the paging parameters");
}

/* A shell: static/js/credits.js fills it from the APIs above. can_buy only spares a
 * button that would answer 403 (the route's check cached the permissions). */
static void credits_page(struct request *req)
{
    const struct tenant *t = req->tenant;
    json_t *ctx = json_pack("{s:s, s:[s, s], s:s, s:s, s:b}", "title", "AI credits", "extra_css",
                            "/static/css/booking.css", "/static/css/credits.css", "timezone",
                            t->timezone, "currency", t->currency, "nav_credits", 1);
    json_object_set_new(ctx, "can_buy",
                        json_boolean(rbac_has_permission(req, PERM_RESOURCE, "manage")));
    http_reply_page(req, 200, "staff/credits", ctx);
}
