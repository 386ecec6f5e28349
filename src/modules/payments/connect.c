/*
 * connect.c — a studio's own Stripe account (Stripe Connect, Express).
 *
 * POST /api/payments/connect makes the account once and always answers a
 * fresh onboarding link (links are single-use and expire within minutes):
 *   - POST /v1/accounts type=express, email (the owner's), country (when
 *     given; else Stripe uses the platform's), capabilities[card_payments]
 *     and capabilities[transfers] requested, business_profile[name],
 *     metadata[organization_id] and [tenant], with the Idempotency-Key
 *     "org-<organization id>-connect-account": two clicks at once, or a retry
 *     after a lost reply, get the one account. The id is stored with
 *     "UPDATE ... WHERE stripe_account_id IS NULL", so a second account can
 *     never replace the first.
 *   - POST /v1/account_links type=account_onboarding, refresh_url and
 *     return_url <studio>/app/payments, a key of its own per link.
 * The flags (charges_enabled, payouts_enabled, details_submitted) come from
 * account.updated webhooks (payments.c), or from GET /v1/accounts/<id> when
 * the settings page asks for a refresh (coming back from onboarding before
 * the webhook). Both carry a time (the event's "created", or now for the
 * read), and an older state never overwrites a newer one.
 *
 * The account id lives in the master database (organizations), since Connect
 * webhooks are routed by it; the studio's own audit log gets a "connect"
 * entry (resource payments) when its account is made.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "payments_internal.h"
#include "studiod/audit.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/tenant.h"

#define ACTION_CONNECT "connect"

static const char sql_set_account[] =
    "UPDATE organizations SET stripe_account_id = $2, charges_enabled = $3::boolean,"
    "       payouts_enabled = $4::boolean, details_submitted = $5::boolean, updated_at = now()"
    " WHERE id = $1::uuid AND stripe_account_id IS NULL"
    " RETURNING id";

static const char sql_refresh[] =
    "UPDATE organizations"
    "   SET charges_enabled = $2::boolean, payouts_enabled = $3::boolean,"
    "       details_submitted = $4::boolean, account_updated_at = now(), updated_at = now()"
    " WHERE id = $1::uuid AND stripe_account_id = $5"
    "   AND (account_updated_at IS NULL OR account_updated_at <= now())";

static const char *flag(json_t *account, const char *key)
{
    return json_is_true(json_object_get(account, key)) ? "true" : "false";
}

/* Makes the Express account (once) and stores its id; *account_id is the stored one. */
static int connect_account(struct arena *a, const struct tenant *tn, struct db_conn *m,
                           struct db_conn *t, struct request *req, const char *country,
                           const struct payments_org *org, const char **account_id, bool *created)
{
    struct stripe_param params[12] = {
        {"type", "express"},
        {"email", org->owner_email},
        {stripe_key(a, "capabilities", "card_payments", "requested", NULL), "true"},
        {stripe_key(a, "capabilities", "transfers", "requested", NULL), "true"},
        {stripe_key(a, "business_profile", "name", NULL), tn->name},
        {stripe_key(a, "metadata", "organization_id", NULL), tn->id},
        {stripe_key(a, "metadata", "tenant", NULL), tn->slug},
    };
    size_t n = 7;
    if (country)
        params[n++] = (struct stripe_param){"country", country};
    json_t *acct = NULL;
    struct stripe_error serr;
    int src = stripe_request(a, "POST", "/v1/accounts", params, n,
                             arena_printf(a, "org-%s-connect-account", tn->id), NULL, &acct, &serr);
    const char *id = json_string_value(json_object_get(acct, "id"));
    if (src != STRIPE_OK || !id) {
        log_msg(LOG_WARN, "payments: connect %s: account: %d %ld %s: %s", tn->slug, src,
                serr.http_status, serr.type, serr.message);
        json_decref(acct);
        return src == STRIPE_OK ? PAYMENTS_STRIPE : payments_stripe_status(src, &serr);
    }
    const char *p[] = {tn->id, id, flag(acct, "charges_enabled"), flag(acct, "payouts_enabled"),
                       flag(acct, "details_submitted")};
    PGresult *r = db_exec(m, sql_set_account, 5, p, NULL);
    int rc = r ? PAYMENTS_OK : PAYMENTS_DB;
    *created = r && PQntuples(r) == 1;
    *account_id = arena_strdup(a, id);
    PQclear(r);
    if (rc == PAYMENTS_OK && !*created) {
        /* Someone else stored one meanwhile (the same, by the idempotency key): use theirs. */
        struct payments_org now;
        rc = payments_org_load(m, tn->id, &now);
        *account_id = arena_strdup(a, now.account);
    }
    if (rc == PAYMENTS_OK && *created) {
        json_t *after = json_pack("{s:s, s:s?}", "stripe_account_id", id, "country", country);
        if (audit_record(t, req, ACTION_CONNECT, PAYMENTS_RESOURCE, id, NULL, after) != AUDIT_OK)
            log_msg(LOG_ERROR, "payments: connect %s: audit entry not written", tn->slug);
        json_decref(after);
    }
    json_decref(acct);
    return rc;
}

int payments_connect(struct arena *a, const struct tenant *tn, struct db_conn *m, struct db_conn *t,
                     struct request *req, const char *country, const char *studio_url, json_t **out,
                     json_t **fields)
{
    *out = NULL;
    *fields = NULL;
    if (!payments_configured())
        return PAYMENTS_UNAVAILABLE;
    if (country) {
        bool ok = strlen(country) == 2 && isalpha((unsigned char)country[0]) &&
                  isalpha((unsigned char)country[1]);
        if (!ok) {
            *fields = json_pack("{s:s}", "country", "Two letters (ISO 3166-1), e.g. FR");
            return PAYMENTS_INVALID;
        }
        char *up = arena_strdup(a, country);
        up[0] = (char)toupper((unsigned char)up[0]);
        up[1] = (char)toupper((unsigned char)up[1]);
        country = up;
    }
    struct payments_org org;
    int rc = payments_org_load(m, tn->id, &org);
    if (rc != PAYMENTS_OK)
        return rc == PAYMENTS_NOT_FOUND ? PAYMENTS_DB : rc;
    const char *account = org.account;
    bool created = false;
    if (!account[0] &&
        (rc = connect_account(a, tn, m, t, req, country, &org, &account, &created)) != PAYMENTS_OK)
        return rc;

    const char *back = arena_printf(a, "%s/app/payments", studio_url);
    const struct stripe_param params[] = {
        {"account", account},
        {"type", "account_onboarding"},
        {"refresh_url", arena_printf(a, "%s?onboarding=refresh", back)},
        {"return_url", arena_printf(a, "%s?onboarding=return", back)},
    };
    json_t *link = NULL;
    struct stripe_error serr;
    const char *key = arena_printf(a, "org-%s-account-link-%s", tn->id, crypto_token(a, 12));
    int src = stripe_request(a, "POST", "/v1/account_links", params, 4, key, NULL, &link, &serr);
    const char *url = json_string_value(json_object_get(link, "url"));
    if (src != STRIPE_OK || !url) {
        log_msg(LOG_WARN, "payments: connect %s: account link: %d %ld %s: %s", tn->slug, src,
                serr.http_status, serr.type, serr.message);
        json_decref(link);
        return src == STRIPE_OK ? PAYMENTS_STRIPE : payments_stripe_status(src, &serr);
    }
    *out = json_pack("{s:s, s:s, s:b}", "account_id", account, "url", url, "created", created);
    json_decref(link);
    return PAYMENTS_OK;
}

int payments_status(struct arena *a, const struct tenant *tn, struct db_conn *m, bool refresh,
                    json_t **out)
{
    *out = NULL;
    struct payments_org org;
    int rc = payments_org_load(m, tn->id, &org);
    if (rc != PAYMENTS_OK)
        return rc == PAYMENTS_NOT_FOUND ? PAYMENTS_DB : rc;
    bool configured = payments_configured();
    if (refresh && configured && org.account[0]) {
        json_t *acct = NULL;
        struct stripe_error serr;
        int src = stripe_request(a, "GET", arena_printf(a, "/v1/accounts/%s", org.account), NULL, 0,
                                 NULL, NULL, &acct, &serr);
        if (src == STRIPE_OK) {
            const char *p[] = {tn->id, flag(acct, "charges_enabled"), flag(acct, "payouts_enabled"),
                               flag(acct, "details_submitted"), org.account};
            if (db_run(m, sql_refresh, 5, p) != 0 || payments_org_load(m, tn->id, &org) != 0)
                rc = PAYMENTS_DB;
        } else {
            /* The stored state is still worth showing; the page says it may be stale. */
            log_msg(LOG_WARN, "payments: status %s: account read: %d %ld %s", tn->slug, src,
                    serr.http_status, serr.message);
        }
        json_decref(acct);
        if (rc != PAYMENTS_OK)
            return rc;
    }
    bool connected = org.account[0] != '\0';
    *out = json_pack(
        "{s:b, s:b, s:s?, s:b, s:b, s:b, s:b, s:s?, s:{s:s?, s:s?, s:i}}", "configured", configured,
        "connected", connected, "account_id", connected ? org.account : NULL, "charges_enabled",
        org.charges_enabled, "payouts_enabled", org.payouts_enabled, "details_submitted",
        org.details_submitted, "can_take_payments", configured && connected && org.charges_enabled,
        "updated_at", org.updated_at[0] ? org.updated_at : NULL, "plan", "id",
        org.plan_id[0] ? org.plan_id : NULL, "name", org.plan_name[0] ? org.plan_name : NULL,
        "application_fee_bps", org.fee_bps);
    return PAYMENTS_OK;
}
