/*
 * payments_routes.c — HTTP for online payments:
 *   POST /api/public/booking/:ref/create-payment   a Checkout Session for the deposit
 *                                                  (manage token in X-Manage-Token or
 *                                                  ?token=)
 *   POST /api/stripe/webhook                       Stripe's events (signed; any host)
 *
 * The webhook declares AUTH_STRIPE: the middleware lets it through and
 * payments_webhook() checks the Stripe-Signature against the raw body.
 */
#include <ctype.h>
#include <string.h>

#include "studiod/payments.h"
#include "studiod/tenant.h"

#define REF_MAX 16 /* as booking's BOOKING_REF_MAX */

static void create_payment_post(struct request *req);
static void webhook_post(struct request *req);
static const char *ref_param(struct request *req);
static const char *manage_token(struct request *req);

const struct route payments_routes[] = {
    {"POST", "/api/public/booking/:ref/create-payment", create_payment_post, TENANT_REQUIRED,
     AUTH_PUBLIC, NULL, NULL, 0},
    {"POST", "/api/stripe/webhook", webhook_post, TENANT_NONE, AUTH_STRIPE, NULL, NULL,
     ROUTE_NO_CSRF},
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
        payments_reply_error(req, PAYMENTS_NOT_FOUND);
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    const char *token = manage_token(req);
    char *back = arena_printf(req->arena, "%s/book/%s?token=%s",
                              http_studio_url(req, req->tenant->slug), ref, token ? token : "");
    json_t *out = NULL;
    int rc = payments_checkout(req->arena, req->tenant, t, req, ref, token, back, &out);
    if (rc != PAYMENTS_OK) {
        payments_reply_error(req, rc);
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
        payments_reply_error(req, rc);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:b, s:s}", "received", 1, "result", what));
}
