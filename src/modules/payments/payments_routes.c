/*
 * payments_routes.c — HTTP for the money of bookings:
 *   POST /api/public/booking/:ref/create-payment   a Checkout Session for the deposit
 *                                                  (manage token in X-Manage-Token or
 *                                                  ?token=)
 *   POST /api/stripe/webhook                       Stripe's events (signed; any host)
 *   POST /api/payments/connect                     the studio's Stripe account and an
 *                                                  onboarding link (payments:manage)
 *   GET  /api/payments/status[?refresh=1]          the studio's Stripe standing
 *                                                  (payments:view)
 *   GET  /app/payments                             the settings page "Payments"
 *
 * The webhook declares AUTH_STRIPE: the middleware lets it through and
 * payments_webhook() checks the Stripe-Signature against the raw body.
 */
#include <ctype.h>
#include <string.h>

#include "studiod/payments.h"
#include "studiod/tenant.h"

#define REF_MAX 16                         /* as booking's BOOKING_REF_MAX */
#define PAGE_CSS "/static/css/booking.css" /* the staff pages' shared styles */

static void create_payment_post(struct request *req);
static void webhook_post(struct request *req);
static void connect_post(struct request *req);
static void status_get(struct request *req);
static void payments_page(struct request *req);
static const char *ref_param(struct request *req);
static const char *manage_token(struct request *req);

const struct route payments_routes[] = {
    {"POST", "/api/public/booking/:ref/create-payment", create_payment_post, TENANT_REQUIRED,
     AUTH_PUBLIC, NULL, NULL, 0},
    {"POST", "/api/stripe/webhook", webhook_post, TENANT_NONE, AUTH_STRIPE, NULL, NULL,
     ROUTE_NO_CSRF},
    {"POST", "/api/payments/connect", connect_post, TENANT_REQUIRED, AUTH_STAFF, "payments",
     "manage", 0},
    {"GET", "/api/payments/status", status_get, TENANT_REQUIRED, AUTH_STAFF, "payments", "view", 0},
    {"GET", "/app/payments", payments_page, TENANT_REQUIRED, AUTH_STAFF, "payments", "view", 0},
    {0},
};

/* The :ref parameter upper-cased, or NULL when it cannot be a ref. */
static const char *ref_param(struct request *req)
{
    const char *raw = http_param(req, "ref");
    if (!raw || !*raw || strlen(raw) > REF_MAX)
        return NULL;
    char *ref = arena_strdup(req->arena, raw);
    for (char *p = ref; *p; p++) {
        if (!isalnum((unsigned char)*p))
            return NULL;
        *p = (char)toupper((unsigned char)*p);
    }
    return ref;
}

static const char *manage_token(struct request *req)
{
    const char *tok = http_header(req, "X-Manage-Token");
    if (!tok || !*tok)
        tok = http_query(req, "token");
    return tok && *tok ? tok : NULL;
}

static void create_payment_post(struct request *req)
{
    const char *ref = ref_param(req);
    if (!ref) {
        payments_reply_error(req, PAYMENTS_NOT_FOUND, NULL);
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m)
        return;
    const char *token = manage_token(req);
    char *back = arena_printf(req->arena, "%s/book/%s?token=%s",
                              http_studio_url(req, req->tenant->slug), ref, token ? token : "");
    json_t *out = NULL;
    int rc = payments_checkout(req->arena, req->tenant, t, m, req, ref, token, back, &out);
    if (rc != PAYMENTS_OK) {
        payments_reply_error(req, rc, NULL);
        return;
    }
    http_reply_json(req, 200, out);
}

static void webhook_post(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    const char *what = NULL;
    int rc = payments_webhook(req->arena, m, req->body ? req->body : "", req->body_len,
                              http_header(req, "Stripe-Signature"), &what);
    if (rc != PAYMENTS_OK) {
        payments_reply_error(req, rc, NULL);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:b, s:s}", "received", 1, "result", what));
}

/* Body (optional): {"country": "FR"}. */
static void connect_post(struct request *req)
{
    const char *country = NULL;
    if (req->body_len > 0) {
        json_t *body = http_body_object(req);
        if (!body)
            return;
        json_t *c = json_object_get(body, "country");
        if (c && !json_is_null(c)) {
            if (!json_is_string(c)) {
                payments_reply_error(
                    req, PAYMENTS_INVALID,
                    json_pack("{s:s}", "country", "Two letters (ISO 3166-1), e.g. FR"));
                return;
            }
            country = json_string_value(c);
        }
    }
    struct db_conn *t = request_tenant_db(req);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m)
        return;
    json_t *out = NULL, *fields = NULL;
    int rc = payments_connect(req->arena, req->tenant, m, t, req, country,
                              http_studio_url(req, req->tenant->slug), &out, &fields);
    if (rc != PAYMENTS_OK) {
        payments_reply_error(req, rc, fields);
        return;
    }
    http_reply_json(req, 200, out);
}

static void status_get(struct request *req)
{
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    const char *refresh = http_query(req, "refresh");
    json_t *out = NULL;
    int rc =
        payments_status(req->arena, req->tenant, m, refresh && strcmp(refresh, "1") == 0, &out);
    if (rc != PAYMENTS_OK) {
        payments_reply_error(req, rc, NULL);
        return;
    }
    http_reply_json(req, 200, out);
}

static void payments_page(struct request *req)
{
    const struct tenant *tn = req->tenant;
    http_reply_page(req, 200, "staff/payments",
                    json_pack("{s:s, s:[s], s:s, s:s, s:b}", "title", "Payments", "extra_css",
                              PAGE_CSS, "timezone", tn->timezone, "currency", tn->currency,
                              "nav_payments", 1));
}
