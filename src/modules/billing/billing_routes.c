/*
 * billing_routes.c — HTTP for the studio's own subscription to studiod, on
 * the studio's host (the master database holds it; src/modules/billing/billing.c
 * has the rules and the lifecycle):
 *   GET      /api/billing/plans            the plans, prices and limits (billing:view)
 *   GET|POST /api/billing/create-checkout  plan_id, billing_period (query, JSON or form):
 *                                          GET 303 to Stripe Checkout, POST {"checkout_url"}
 *   POST     /api/billing/upgrade          {"plan_id", "billing_period"?}: now, prorated
 *   POST     /api/billing/downgrade        {"plan_id", "billing_period"?, "when": "now" |
 *                                          "period_end" (default)}
 *   POST     /api/billing/cancel           {"immediately"?: false}: at period end by default
 *   GET      /api/billing/subscription     plan, status, trial end, read-only, subscription
 *   GET      /api/billing/usage            each limit {used, allowed}
 *   GET      /api/billing/portal           303 to a Stripe Customer Portal session
 *   POST     /api/billing/webhooks/stripe  Stripe's billing events (its own secret,
 *                                          STRIPE_BILLING_WEBHOOK_SECRET; any host)
 *   GET      /app/billing                  the billing page
 *
 * Reads need billing:view, changes billing:manage (the owner). The plans
 * are a staff read too: they are shown with the studio's own usage, and a
 * public pricing page belongs to the signup site. Billing
 * routes stay usable when the studio is read-only (src/http/middleware.c),
 * so the owner can subscribe. GET create-checkout is a link a browser
 * follows: it changes nothing in studiod but the Stripe customer it may
 * make (needs billing:manage like the POST; no CSRF on GET).
 */
#include <string.h>

#include "billing_internal.h"
#include "studiod/config.h"
#include "studiod/tenant.h"

#define BILLING_PAGE "/app/billing"
#define STAFF_PAGE_CSS "/static/css/booking.css"   /* the staff pages' shared styles */
#define ACCOUNT_PAGE_CSS "/static/css/credits.css" /* summary tiles and plan cards */

static void plans_get(struct request *req);
static void checkout_get(struct request *req);
static void checkout_post(struct request *req);
static void upgrade_post(struct request *req);
static void downgrade_post(struct request *req);
static void cancel_post(struct request *req);
static void subscription_get(struct request *req);
static void usage_get(struct request *req);
static void portal_get(struct request *req);
static void webhook_post(struct request *req);
static void billing_page(struct request *req);
static void reply_error(struct request *req, int rc);
static void checkout(struct request *req, const char *plan, const char *period, bool redirect);
static void change(struct request *req, bool up);

#define STAFF TENANT_REQUIRED, AUTH_STAFF

const struct route billing_routes[] = {
    {"GET", "/api/billing/plans", plans_get, STAFF, "billing", "view", 0},
    {"GET", "/api/billing/create-checkout", checkout_get, STAFF, "billing", "manage", 0},
    {"POST", "/api/billing/create-checkout", checkout_post, STAFF, "billing", "manage", 0},
    {"POST", "/api/billing/upgrade", upgrade_post, STAFF, "billing", "manage", 0},
    {"POST", "/api/billing/downgrade", downgrade_post, STAFF, "billing", "manage", 0},
    {"POST", "/api/billing/cancel", cancel_post, STAFF, "billing", "manage", 0},
    {"GET", "/api/billing/subscription", subscription_get, STAFF, "billing", "view", 0},
    {"GET", "/api/billing/usage", usage_get, STAFF, "billing", "view", 0},
    {"GET", "/api/billing/portal", portal_get, STAFF, "billing", "manage", 0},
    {"POST", "/api/billing/webhooks/stripe", webhook_post, TENANT_NONE, AUTH_STRIPE, NULL, NULL,
     ROUTE_NO_CSRF},
    {"GET", BILLING_PAGE, billing_page, STAFF, "billing", "view", 0},
    {0},
};

static const struct http_error_map billing_errors[] = {
    {BILLING_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {BILLING_NO_SUBSCRIPTION, 409, "no_subscription",
     "There is no active subscription to change: subscribe first", false},
    {BILLING_SAME_PLAN, 409, "already_on_plan", "The studio is on this plan already", false},
    {BILLING_WRONG_DIRECTION, 409, "wrong_direction", "%s", false},
    {BILLING_SUBSCRIBED, 409, "already_subscribed",
     "The studio has a subscription already: upgrade or downgrade it instead", false},
    {BILLING_NO_CUSTOMER, 409, "no_customer",
     "There is nothing to manage yet: subscribe to a plan first", false},
    {BILLING_STRIPE, 502, "payment_provider_error",
     "The payment provider did not accept the request; nothing was changed", false},
    {BILLING_CARD, 502, "payment_declined",
     "The payment was declined; nothing was changed. Update the card in the billing portal", false},
    {BILLING_STRIPE_DOWN, 503, "payment_provider_unavailable",
     "The payment provider is not answering; nothing was changed. Try again shortly", false},
    {BILLING_UNAVAILABLE, 503, "billing_unavailable",
     "Online billing is not configured on this server", false},
    {BILLING_BAD_SIGNATURE, 400, "bad_signature", "The Stripe-Signature does not verify", false},
    {BILLING_MALFORMED, 400, "malformed", "Not a Stripe event", false},
    {0, 503, "database_unavailable", "The database is unavailable; try again shortly", false},
};

static void reply_error(struct request *req, int rc)
{
    http_reply_mapped(req, rc, billing_errors, NULL, NULL);
}

/* A field of the body (JSON or form) or of the query string, as a string. */
static const char *field(struct request *req, json_t *body, const char *name)
{
    const char *v = json_string_value(json_object_get(body, name));
    return v ? v : http_query(req, name);
}

static json_t *optional_body(struct request *req)
{
    if (!req->body_len)
        return json_object();
    return http_body_object(req); /* NULL after replying 400/415 */
}

static void reply_invalid(struct request *req, json_t *fields)
{
    http_reply_error(req, 422, "invalid_input", "Some fields are not valid", fields);
}

/* 422 naming plan_id / billing_period when they are not one of ours; true when fine. */
static bool plan_fields_ok(struct request *req, struct db_conn *m, const char *plan,
                           const char *period, bool period_required)
{
    json_t *fields = json_object();
    json_t *plans = NULL;
    bool known = false;
    if (plan && billing_plans_json(m, &plans) == BILLING_OK) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(plans, "plans"), i, p)
        {
            if (strcmp(json_string_value(json_object_get(p, "id")), plan) == 0)
                known = true;
        }
    }
    json_decref(plans);
    if (!known)
        json_object_set_new(fields, "plan_id", json_string("Choose one of the plans"));
    if ((period || period_required) &&
        (!period || (strcmp(period, "monthly") != 0 && strcmp(period, "yearly") != 0)))
        json_object_set_new(fields, "billing_period", json_string("monthly or yearly"));
    if (json_object_size(fields)) {
        reply_invalid(req, fields);
        return false;
    }
    json_decref(fields);
    return true;
}

static void plans_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = billing_plans_json(m, &out);
    http_reply_result(req, rc, 200, out, billing_errors, NULL, NULL);
}

static void checkout(struct request *req, const char *plan, const char *period, bool redirect)
{
    struct db_conn *m = request_master_db(req);
    struct db_conn *t = m ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    if (!plan_fields_ok(req, m, plan, period, true))
        return;
    const char *back =
        arena_printf(req->arena, "%s%s", http_studio_url(req, req->tenant->slug), BILLING_PAGE);
    json_t *out = NULL;
    int rc = billing_checkout(req, m, t, plan, period, back, &out);
    if (rc != BILLING_OK) {
        reply_error(req, rc);
        return;
    }
    if (redirect) {
        http_reply_redirect(req, 303, json_string_value(json_object_get(out, "checkout_url")));
        json_decref(out);
        return;
    }
    http_reply_json(req, 200, out);
}

static void checkout_get(struct request *req)
{
    checkout(req, http_query(req, "plan_id"), http_query(req, "billing_period"), true);
}

static void checkout_post(struct request *req)
{
    json_t *body = optional_body(req);
    if (!body)
        return;
    checkout(req, field(req, body, "plan_id"), field(req, body, "billing_period"),
             http_body_is_form(req));
    if (!req->body_len)
        json_decref(body);
}

static void change(struct request *req, bool up)
{
    json_t *body = http_body_object(req);
    if (!body)
        return;
    const char *plan = json_string_value(json_object_get(body, "plan_id"));
    const char *period = json_string_value(json_object_get(body, "billing_period"));
    const char *when_s = json_string_value(json_object_get(body, "when"));
    enum billing_when when = up ? BILLING_WHEN_NOW : BILLING_WHEN_PERIOD_END;
    if (when_s && strcmp(when_s, "now") == 0)
        when = BILLING_WHEN_NOW;
    else if (when_s && !up && strcmp(when_s, "period_end") == 0)
        when = BILLING_WHEN_PERIOD_END;
    else if (json_object_get(body, "when")) {
        reply_invalid(
            req, json_pack("{s:s}", "when", up ? "An upgrade is always now" : "now or period_end"));
        return;
    }
    struct db_conn *m = request_master_db(req);
    struct db_conn *t = m ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    if (!plan_fields_ok(req, m, plan, period, false))
        return;
    json_t *out = NULL;
    int rc = billing_change(req, m, t, up, plan, period, when, &out);
    if (rc == BILLING_WRONG_DIRECTION) {
        http_reply_mapped(req, rc, billing_errors, NULL,
                          up ? "That plan is not above the current one: use downgrade"
                             : "That plan is not below the current one: use upgrade");
        return;
    }
    http_reply_result(req, rc, 200, out, billing_errors, NULL, NULL);
}

static void upgrade_post(struct request *req)
{
    change(req, true);
}

static void downgrade_post(struct request *req)
{
    change(req, false);
}

static void cancel_post(struct request *req)
{
    json_t *body = optional_body(req);
    if (!body)
        return;
    json_t *imm = json_object_get(body, "immediately");
    bool fresh = !req->body_len;
    if (imm && !json_is_boolean(imm) &&
        !(json_is_string(imm) && (strcmp(json_string_value(imm), "true") == 0 ||
                                  strcmp(json_string_value(imm), "false") == 0))) {
        if (fresh)
            json_decref(body);
        reply_invalid(req, json_pack("{s:s}", "immediately", "true or false"));
        return;
    }
    bool immediately =
        json_is_true(imm) || (json_is_string(imm) && strcmp(json_string_value(imm), "true") == 0);
    if (fresh)
        json_decref(body);
    struct db_conn *m = request_master_db(req);
    struct db_conn *t = m ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL;
    int rc = billing_cancel(req, m, t, immediately, &out);
    http_reply_result(req, rc, 200, out, billing_errors, NULL, NULL);
}

static void subscription_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    json_t *out = NULL;
    int rc = billing_subscription_json(req, m, &out);
    http_reply_result(req, rc, 200, out, billing_errors, NULL, NULL);
}

static void usage_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    struct db_conn *t = m ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL;
    int rc = billing_usage_json(req, m, t, &out);
    http_reply_result(req, rc, 200, out, billing_errors, NULL, NULL);
}

static void portal_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    const char *back =
        arena_printf(req->arena, "%s%s", http_studio_url(req, req->tenant->slug), BILLING_PAGE);
    const char *url = NULL;
    int rc = billing_portal(req, m, back, &url);
    if (rc != BILLING_OK) {
        reply_error(req, rc);
        return;
    }
    http_reply_redirect(req, 303, url);
}

static void webhook_post(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    const char *what = NULL;
    int rc = billing_webhook(req->arena, m, req->body ? req->body : "", req->body_len,
                             http_header(req, "Stripe-Signature"), &what);
    if (rc != BILLING_OK) {
        reply_error(req, rc);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:b, s:s}", "received", 1, "result", what));
}

static void billing_page(struct request *req)
{
    const struct tenant *tn = req->tenant;
    const char *notice = http_query(req, "checkout");
    http_reply_page(req, 200, "staff/billing",
                    json_pack("{s:s, s:[s, s], s:s, s:s, s:b, s:b, s:b}", "title", "Billing",
                              "extra_css", STAFF_PAGE_CSS, ACCOUNT_PAGE_CSS, "timezone",
                              tn->timezone, "currency", tn->currency, "nav_billing", 1,
                              "checkout_success", notice && strcmp(notice, "success") == 0,
                              "checkout_cancelled", notice && strcmp(notice, "cancelled") == 0));
}
