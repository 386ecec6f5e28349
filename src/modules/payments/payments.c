/*
 * payments.c — booking deposits paid online with Stripe Checkout: the
 * session for a booking, and the webhook that records what was paid.
 *
 * Two safeguards keep money counted once. A Checkout Session is created with
 * the Idempotency-Key "booking-<id>-deposit-<amount>", so a retried request
 * gets the same session and the payments row (unique checkout_session_id)
 * is not doubled. The webhook marks a payment paid with an upsert that only
 * changes a row that is not paid yet, and adds to bookings.paid_amount only
 * when it did; the event id is then recorded in the master's stripe_events,
 * and a delivery whose id is there already is answered without work. The
 * id is recorded after the tenant commit, so an event whose handling failed
 * is handled again when Stripe retries it.
 */
#include "studiod/payments.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "studiod/audit.h"
#include "studiod/booking.h"
#include "studiod/config.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/stripe.h"
#include "studiod/tenant.h"

#define PAYMENTS_RESOURCE "payments"
#define BOOKINGS_RESOURCE "bookings"
#define ACTION_PAYMENT "payment"
#define EVENT_CHECKOUT_COMPLETED "checkout.session.completed"

/* What create-payment needs of a booking. */
struct due {
    const char *id, *status, *currency;
    int64_t deposit, paid;
    bool hold_over; /* pending, and its hold has run out (the expiry job may not have run) */
};

static int load_due(struct arena *a, struct db_conn *t, const char *ref, struct due *d);
static int record_payment(struct db_conn *t, struct request *req, const struct due *d,
                          json_t *session);
static int apply_paid_session(struct arena *a, struct db_conn *m, json_t *session);
static int event_seen(struct db_conn *m, const char *id, bool *seen);
static int event_record(struct db_conn *m, const char *id, const char *type, const char *account);
static char *lower_dup(struct arena *a, const char *s);

static const struct http_error_map payments_errors[] = {
    {PAYMENTS_UNAVAILABLE, 422, "payments_unavailable", "Online payment is not available", false},
    {PAYMENTS_NOT_FOUND, 404, "not_found", "No such booking", false},
    {PAYMENTS_BAD_TOKEN, 403, "invalid_token", "The manage token is missing or wrong", false},
    {PAYMENTS_WRONG_STATE, 409, "wrong_state", "Nothing is due on this booking", false},
    {PAYMENTS_STRIPE, 502, "payment_provider_error",
     "The payment provider did not accept the "
     "request; try again",
     false},
    {PAYMENTS_DB, 503, "database_unavailable", "The database is unavailable; try again", false},
    {PAYMENTS_BAD_SIGNATURE, 400, "bad_signature", "The Stripe-Signature does not verify", false},
    {PAYMENTS_MALFORMED, 400, "malformed", "Not a Stripe event", false},
    {0, 500, "internal_error", "Internal error", false},
};

void payments_reply_error(struct request *req, int rc)
{
    http_reply_mapped(req, rc, payments_errors, NULL, NULL);
}

/* ---- create-payment ------------------------------------------------------------------- */

static const char sql_due[] =
    "SELECT id, status, deposit_amount, paid_amount, currency,"
    "       (status = 'pending' AND hold_expires_at IS NOT NULL AND hold_expires_at <= now())"
    "         AS hold_over"
    "  FROM bookings WHERE ref = $1";

static int load_due(struct arena *a, struct db_conn *t, const char *ref, struct due *d)
{
    const char *p[] = {ref};
    PGresult *r = db_exec(t, sql_due, 1, p, NULL);
    if (!r)
        return PAYMENTS_DB;
    int rc = PAYMENTS_NOT_FOUND;
    if (PQntuples(r) == 1) {
        d->id = db_get_dup(a, r, 0, "id");
        d->status = db_get_dup(a, r, 0, "status");
        d->currency = db_get_dup(a, r, 0, "currency");
        d->deposit = strtoll(db_get(r, 0, "deposit_amount"), NULL, 10);
        d->paid = strtoll(db_get(r, 0, "paid_amount"), NULL, 10);
        d->hold_over = strcmp(db_get(r, 0, "hold_over"), "t") == 0;
        rc = PAYMENTS_OK;
    }
    PQclear(r);
    return rc;
}

/* ON CONFLICT: a retried request got the same session back; its row is there already. */
static const char sql_payment_insert[] =
    "INSERT INTO payments (booking_id, provider, checkout_session_id, payment_intent_id,"
    "                      amount, currency, status)"
    " VALUES ($1::uuid, 'stripe', $2, $3, $4::bigint, $5, 'open')"
    " ON CONFLICT (checkout_session_id) DO NOTHING"
    " RETURNING id";

/* The payments row of a new session, audited (actor: the customer) in one transaction. */
static int record_payment(struct db_conn *t, struct request *req, const struct due *d,
                          json_t *session)
{
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *pi = json_string_value(json_object_get(session, "payment_intent"));
    char amount[24];
    snprintf(amount, sizeof(amount), "%" PRId64, d->deposit);
    const char *p[] = {d->id, sid, pi, amount, d->currency};
    if (db_begin(t) != 0)
        return PAYMENTS_DB;
    PGresult *r = db_exec(t, sql_payment_insert, 5, p, NULL);
    if (!r) {
        db_rollback(t);
        return PAYMENTS_DB;
    }
    int rc = PAYMENTS_OK;
    if (PQntuples(r) == 1) {
        json_t *after =
            json_pack("{s:s, s:s, s:I, s:s, s:s}", "booking_id", d->id, "checkout_session_id", sid,
                      "amount", (json_int_t)d->deposit, "currency", d->currency, "status", "open");
        if (audit_create(t, req, PAYMENTS_RESOURCE, db_get(r, 0, "id"), after) != AUDIT_OK)
            rc = PAYMENTS_DB;
        json_decref(after);
    }
    PQclear(r);
    if (rc != PAYMENTS_OK || db_commit(t) != 0) {
        db_rollback(t);
        return PAYMENTS_DB;
    }
    return PAYMENTS_OK;
}

static char *lower_dup(struct arena *a, const char *s)
{
    char *out = arena_strdup(a, s);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

int payments_checkout(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct request *req, const char *ref, const char *token,
                      const char *return_url, json_t **out)
{
    *out = NULL;
    if (!g_config.stripe_secret_key || !*g_config.stripe_secret_key)
        return PAYMENTS_UNAVAILABLE;
    struct due d;
    int rc = load_due(a, t, ref, &d);
    if (rc != PAYMENTS_OK)
        return rc;
    if (!booking_token_ok(t, ref, token))
        return PAYMENTS_BAD_TOKEN;
    bool open = strcmp(d.status, "pending") == 0 || strcmp(d.status, "confirmed") == 0;
    if (!open || d.hold_over || d.deposit <= 0 || d.paid >= d.deposit)
        return PAYMENTS_WRONG_STATE;

    char amount[24];
    snprintf(amount, sizeof(amount), "%" PRId64, d.deposit);
    const struct stripe_param params[] = {
        {"mode", "payment"},
        {stripe_key(a, "line_items", "0", "price_data", "currency", NULL),
         lower_dup(a, d.currency)},
        {stripe_key(a, "line_items", "0", "price_data", "unit_amount", NULL), amount},
        {stripe_key(a, "line_items", "0", "price_data", "product_data", "name", NULL),
         arena_printf(a, "Deposit for booking %s at %s", ref, tn->name)},
        {stripe_key(a, "line_items", "0", "quantity", NULL), "1"},
        {stripe_key(a, "metadata", "booking_ref", NULL), ref},
        {stripe_key(a, "metadata", "tenant", NULL), tn->slug},
        {"client_reference_id", ref},
        {"success_url", arena_printf(a, "%s&paid=1", return_url)},
        {"cancel_url", arena_printf(a, "%s&payment=cancelled", return_url)},
    };
    const char *key = arena_printf(a, "booking-%s-deposit-%s", d.id, amount);
    json_t *session = NULL;
    struct stripe_error serr;
    int src = stripe_request(a, "POST", "/v1/checkout/sessions", params,
                             sizeof(params) / sizeof(params[0]), key, NULL, &session, &serr);
    if (src != STRIPE_OK) {
        log_msg(LOG_WARN, "payments: checkout session for %s/%s: %d %ld %s: %s", tn->slug, ref, src,
                serr.http_status, serr.type, serr.message);
        return src == STRIPE_ERR_NOT_CONFIGURED ? PAYMENTS_UNAVAILABLE : PAYMENTS_STRIPE;
    }
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *url = json_string_value(json_object_get(session, "url"));
    if (!sid || !url) {
        log_msg(LOG_WARN, "payments: checkout session for %s/%s without id or url", tn->slug, ref);
        json_decref(session);
        return PAYMENTS_STRIPE;
    }
    rc = record_payment(t, req, &d, session);
    if (rc == PAYMENTS_OK)
        *out = json_pack("{s:s, s:s}", "checkout_url", url, "session_id", sid);
    json_decref(session);
    return rc;
}

/* ---- the webhook ---------------------------------------------------------------------- */

static const char sql_event_seen[] = "SELECT 1 FROM stripe_events WHERE event_id = $1";

static const char sql_event_record[] =
    "INSERT INTO stripe_events (event_id, type, account) VALUES ($1, $2, $3)"
    " ON CONFLICT (event_id) DO NOTHING";

/* Marks the session's payment paid (making the row when create-payment did not, e.g. a
 * session made elsewhere for this booking). Returns a row only when it changed: a paid
 * payment is never paid again. */
static const char sql_payment_paid[] =
    "INSERT INTO payments (booking_id, provider, checkout_session_id, payment_intent_id,"
    "                      amount, currency, status, paid_at)"
    " SELECT b.id, 'stripe', $2, $3, $4::bigint, upper($5), 'paid', now()"
    "   FROM bookings b WHERE b.ref = $1"
    " ON CONFLICT (checkout_session_id) DO UPDATE"
    "   SET status = 'paid', paid_at = now(), amount = EXCLUDED.amount,"
    "       payment_intent_id = coalesce(EXCLUDED.payment_intent_id, payments.payment_intent_id)"
    "   WHERE payments.status <> 'paid'"
    " RETURNING id, booking_id";

/* Adds the payment and confirms a pending booking whose deposit is now paid, when the
 * studio auto-confirms (as booking_create would have without a deposit). */
static const char sql_booking_paid[] =
    "WITH old AS (SELECT id, status, paid_amount FROM bookings WHERE id = $1::uuid FOR UPDATE)"
    " UPDATE bookings b"
    "    SET paid_amount = b.paid_amount + $2::bigint,"
    "        status = CASE WHEN b.status = 'pending'"
    "                        AND b.paid_amount + $2::bigint >= b.deposit_amount"
    "                        AND (SELECT auto_confirm FROM studio_settings)"
    "                      THEN 'confirmed' ELSE b.status END,"
    "        confirmed_at = CASE WHEN b.status = 'pending'"
    "                        AND b.paid_amount + $2::bigint >= b.deposit_amount"
    "                        AND (SELECT auto_confirm FROM studio_settings)"
    "                      THEN now() ELSE b.confirmed_at END,"
    "        hold_expires_at = CASE WHEN b.status = 'pending'"
    "                        AND b.paid_amount + $2::bigint >= b.deposit_amount"
    "                        AND (SELECT auto_confirm FROM studio_settings)"
    "                      THEN NULL ELSE b.hold_expires_at END,"
    "        updated_at = now()"
    "   FROM old WHERE b.id = old.id"
    " RETURNING old.status AS old_status, old.paid_amount AS old_paid, b.status, b.paid_amount";

static int event_seen(struct db_conn *m, const char *id, bool *seen)
{
    const char *p[] = {id};
    PGresult *r = db_exec(m, sql_event_seen, 1, p, NULL);
    if (!r)
        return PAYMENTS_DB;
    *seen = PQntuples(r) > 0;
    PQclear(r);
    return PAYMENTS_OK;
}

static int event_record(struct db_conn *m, const char *id, const char *type, const char *account)
{
    const char *p[] = {id, type, account};
    return db_run(m, sql_event_record, 3, p) == 0 ? PAYMENTS_OK : PAYMENTS_DB;
}

/* checkout.session.completed: the tenant change, audited as the system, in one
 * transaction of the studio's database. */
static int apply_paid_session(struct arena *a, struct db_conn *m, json_t *session)
{
    json_t *meta = json_object_get(session, "metadata");
    const char *slug = json_string_value(json_object_get(meta, "tenant"));
    const char *ref = json_string_value(json_object_get(meta, "booking_ref"));
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *pi = json_string_value(json_object_get(session, "payment_intent"));
    const char *currency = json_string_value(json_object_get(session, "currency"));
    json_t *total = json_object_get(session, "amount_total");
    const char *pstatus = json_string_value(json_object_get(session, "payment_status"));
    if (!slug || !ref || !sid || !currency || !json_is_integer(total) ||
        json_integer_value(total) < 0)
        return PAYMENTS_MALFORMED;
    if (!pstatus || strcmp(pstatus, "paid") != 0) {
        log_msg(LOG_INFO, "payments: session %s completed unpaid (%s), nothing recorded", sid,
                pstatus ? pstatus : "?");
        return PAYMENTS_OK;
    }
    struct tenant tn;
    if (tenant_load(m, slug, &tn) != 0) {
        log_msg(LOG_WARN, "payments: session %s names unknown studio %s, ignored", sid, slug);
        return PAYMENTS_OK;
    }
    struct db_conn *t = db_acquire(tn.db_server, tn.db_name);
    if (!t)
        return PAYMENTS_DB;
    char amount[24];
    snprintf(amount, sizeof(amount), "%" JSON_INTEGER_FORMAT, json_integer_value(total));
    int rc = PAYMENTS_OK;
    if (db_begin(t) != 0) {
        db_release(t);
        return PAYMENTS_DB;
    }
    const char *p[] = {ref, sid, pi, amount, currency};
    PGresult *r = db_exec(t, sql_payment_paid, 5, p, NULL);
    if (!r) {
        rc = PAYMENTS_DB;
    } else if (PQntuples(r) == 0) {
        /* Paid already, or no such booking: nothing to add. */
        log_msg(LOG_INFO, "payments: session %s of %s/%s: paid already or no booking", sid, slug,
                ref);
    } else {
        const char *booking_id = db_get_dup(a, r, 0, "booking_id");
        const char *bp[] = {booking_id, amount};
        PGresult *b = db_exec(t, sql_booking_paid, 2, bp, NULL);
        if (!b || PQntuples(b) != 1) {
            rc = PAYMENTS_DB;
        } else {
            json_t *before =
                json_pack("{s:s, s:I}", "status", db_get(b, 0, "old_status"), "paid_amount",
                          (json_int_t)strtoll(db_get(b, 0, "old_paid"), NULL, 10));
            json_t *after =
                json_pack("{s:s, s:I, s:s, s:s?}", "status", db_get(b, 0, "status"), "paid_amount",
                          (json_int_t)strtoll(db_get(b, 0, "paid_amount"), NULL, 10),
                          "checkout_session_id", sid, "payment_intent_id", pi);
            if (audit_record_system(t, m, ACTION_PAYMENT, BOOKINGS_RESOURCE, booking_id, before,
                                    after) != AUDIT_OK)
                rc = PAYMENTS_DB;
            json_decref(before);
            json_decref(after);
        }
        PQclear(b);
    }
    PQclear(r);
    if (rc != PAYMENTS_OK || db_commit(t) != 0) {
        db_rollback(t);
        rc = PAYMENTS_DB;
    }
    db_release(t);
    return rc;
}

int payments_webhook(struct arena *a, struct db_conn *m, const char *payload, size_t len,
                     const char *signature, const char **what)
{
    *what = "ignored";
    int sig = stripe_verify_signature(payload, len, signature, g_config.stripe_webhook_secret,
                                      (long)time(NULL), STRIPE_SIGNATURE_TOLERANCE_SECONDS);
    if (sig != STRIPE_SIG_OK) {
        log_msg(LOG_WARN, "payments: webhook refused: %s", stripe_signature_reason(sig));
        return PAYMENTS_BAD_SIGNATURE;
    }
    json_error_t jerr;
    json_t *event = json_loadb(payload, len, 0, &jerr);
    const char *id = json_string_value(json_object_get(event, "id"));
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *account = json_string_value(json_object_get(event, "account"));
    json_t *object = json_object_get(json_object_get(event, "data"), "object");
    if (!id || !type || !json_is_object(object)) {
        json_decref(event);
        return PAYMENTS_MALFORMED;
    }
    bool seen = false;
    int rc = event_seen(m, id, &seen);
    if (rc == PAYMENTS_OK && seen) {
        *what = "duplicate";
    } else if (rc == PAYMENTS_OK) {
        if (strcmp(type, EVENT_CHECKOUT_COMPLETED) == 0) {
            rc = apply_paid_session(a, m, object);
            *what = "processed";
        } else {
            log_msg(LOG_INFO, "payments: event %s of type %s ignored", id, type);
        }
        /* Recorded only once handled: a failure is handled again on Stripe's retry. */
        if (rc == PAYMENTS_OK)
            rc = event_record(m, id, type, account);
    }
    json_decref(event);
    return rc;
}
