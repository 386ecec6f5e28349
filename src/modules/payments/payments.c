/*
 * payments.c — booking deposits paid online with Stripe Checkout into the
 * studio's connected account, and the webhook that records what Stripe says
 * happened to the money.
 *
 * Checkout. The session is a direct charge on the studio's account
 * (Stripe-Account: acct_...) with payment_intent_data[application_fee_amount]
 * = deposit × plan.application_fee_bps / 10000, rounded half-even. No
 * platform fallback: the issue puts deposits in the studio's account, and a
 * charge on the platform's account would make the platform the merchant of
 * record for a studio's customer. A retried request gets the same session
 * (Idempotency-Key "booking-<id>-deposit-<amount>") and the payments row
 * (unique checkout_session_id) is not doubled.
 *
 * The webhook. Each event id is recorded in the master's stripe_events after
 * its handling committed (a failure is handled again on Stripe's retry), and
 * a delivery whose id is there already does nothing. Beyond that every
 * change is safe to apply twice and in any order:
 *   - a payment's status only moves up open < failed < expired < paid, so a
 *     late payment_failed or session.expired never undoes a payment;
 *   - payments.refunded_amount takes the greatest amount_refunded seen (it
 *     only grows at Stripe), refunds are upserted by Stripe's refund id and
 *     their status only moves up (payments_refund_rank);
 *   - a dispute flags the booking once (the first disputed_at stays), and its
 *     closing records won or lost (payment_flag dispute_won / dispute_lost),
 *     also when the closing arrives first;
 *   - account.updated applies only when its "created" is not older than
 *     the state's (organizations.account_updated_at).
 * Routing: an event with a top-level "account" (Connect) goes to the studio
 * owning that account, and is ignored when its metadata names another
 * studio (a connected account cannot reach another studio's bookings); an
 * event of the platform's own account goes by metadata[tenant].
 *
 * checkout.session.async_payment_succeeded / _failed (delayed payment
 * methods) are handled as completed (paid) and as a failed payment.
 *
 * A payment for a booking that is no longer holding its slot (its hold
 * expired, or it was cancelled while the customer was on the Checkout page)
 * re-activates an expired booking when the slot is still free — the
 * exclusion constraint decides, under a savepoint — and otherwise is refunded
 * in full (a 'pending' refund written with the payment, sent after the
 * commit, retried by a job). The customer is mailed either way, and on every
 * successful payment ("payment received").
 */
#include "studiod/payments.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "payments_internal.h"
#include "studiod/audit.h"
#include "studiod/booking.h"
#include "studiod/config.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/money.h"
#include "studiod/stripe.h"
#include "studiod/stripe_events.h"
#include "studiod/tenant.h"

#define ACTION_PAYMENT "payment"
#define ACTION_DISPUTE "dispute"
#define ACTION_REFUND_SYNC "refund_sync"

/* What create-payment needs of a booking. */
struct due {
    const char *id, *status, *currency, *email;
    int64_t deposit, paid;
    bool hold_over; /* pending, and its hold has run out (the expiry job may not have run) */
};

/* One webhook delivery being handled. */
struct event {
    struct arena *a;
    struct db_conn *m;
    const char *id, *type, *account;
    long long created;
    json_t *object;
};

/* What became of a booking that a payment arrived for. */
enum late_outcome {
    PAID_NORMAL,      /* pending or confirmed: counted (and confirmed when the policy says) */
    PAID_REACTIVATED, /* its hold had expired but the slot was free: the booking stands again */
    PAID_REFUNDED,    /* its hold had expired and the slot is taken: refunded in full */
    PAID_CANCELLED,   /* cancelled meanwhile: refunded in full */
};

static int load_due(struct arena *a, struct db_conn *t, const char *ref, struct due *d);
static int record_payment(struct db_conn *t, struct request *req, const struct due *d,
                          json_t *session, const char *account, int64_t fee);
static char *lower_dup(struct arena *a, const char *s);
/* event_tenant / event_begin: the event is for no studio of ours (not an error). */
#define EVENT_NOT_OURS 1
static int event_tenant(struct event *ev, const char *slug, struct tenant *tn);
static int event_begin(struct event *ev, const char *slug, struct tenant *tn, struct db_conn **t);
static int event_end(struct db_conn *t, int rc);
static const char *meta_tenant(json_t *object);
static int on_session_completed(struct event *ev);
static int on_session_expired(struct event *ev);
static int on_session_async_failed(struct event *ev);
static int on_payment_failed(struct event *ev);
static int on_charge_refunded(struct event *ev);
static int on_dispute_created(struct event *ev);
static int on_dispute_closed(struct event *ev);
static int on_account_updated(struct event *ev);
static int apply_payment_to_booking(struct arena *a, struct db_conn *t, struct db_conn *m,
                                    const char *booking_id, const char *payment_id,
                                    const char *amount, enum late_outcome *outcome,
                                    bool *confirmed);
static int sync_refund(struct db_conn *t, const char *booking_id, const char *payment_id,
                       const char *pi, json_t *refund, bool *changed);

static const struct http_error_map payments_errors[] = {
    {PAYMENTS_UNAVAILABLE, 422, "payments_unavailable",
     "Online payment is not available on this server (no Stripe key is configured); please "
     "contact the studio",
     false},
    {PAYMENTS_NOT_CONNECTED, 422, "payments_unavailable",
     "This studio cannot take online payments yet; please contact the studio", false},
    {PAYMENTS_NOT_FOUND, 404, "not_found", "No such booking", false},
    {PAYMENTS_BAD_TOKEN, 403, "invalid_token", "The manage token is missing or wrong", false},
    {PAYMENTS_WRONG_STATE, 409, "wrong_state", "Nothing is due on this booking", false},
    {PAYMENTS_STRIPE, 502, "payment_provider_error",
     "The payment provider refused the request; try again later", false},
    {PAYMENTS_STRIPE_DOWN, 503, "payment_provider_unavailable",
     "The payment provider did not answer; try again in a moment", false},
    {PAYMENTS_DB, 503, "database_unavailable", "The database is unavailable; try again", false},
    {PAYMENTS_BAD_SIGNATURE, 400, "bad_signature", "The Stripe-Signature does not verify", false},
    {PAYMENTS_MALFORMED, 400, "malformed", "Not a Stripe event", false},
    {PAYMENTS_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {0, 500, "internal_error", "Internal error", false},
};

/* The webhook's event types and their handlers; other types are recorded and ignored. */
static const struct {
    const char *type;
    int (*fn)(struct event *ev);
} event_handlers[] = {
    {"checkout.session.completed", on_session_completed},
    {"checkout.session.async_payment_succeeded", on_session_completed},
    {"checkout.session.expired", on_session_expired},
    {"checkout.session.async_payment_failed", on_session_async_failed},
    {"payment_intent.payment_failed", on_payment_failed},
    {"charge.refunded", on_charge_refunded},
    {"charge.dispute.created", on_dispute_created},
    {"charge.dispute.closed", on_dispute_closed},
    {"account.updated", on_account_updated},
};

void payments_reply_error(struct request *req, int rc, json_t *fields)
{
    http_reply_mapped(req, rc, payments_errors, fields, NULL);
}

bool payments_configured(void)
{
    return g_config.stripe_secret_key && *g_config.stripe_secret_key;
}

int payments_stripe_status(int stripe_rc, const struct stripe_error *err)
{
    if (stripe_rc == STRIPE_ERR_NOT_CONFIGURED)
        return PAYMENTS_UNAVAILABLE;
    if (stripe_rc == STRIPE_ERR_NETWORK || (stripe_rc == STRIPE_ERR_API && err->http_status >= 500))
        return stripe_rc == STRIPE_ERR_NETWORK ? PAYMENTS_STRIPE_DOWN : PAYMENTS_STRIPE;
    return PAYMENTS_STRIPE;
}

/* ---- the studio's standing and mails ------------------------------------------------------ */

static const char sql_org[] =
    "SELECT coalesce(o.stripe_account_id, '') AS account, o.charges_enabled, o.payouts_enabled,"
    "       o.details_submitted, coalesce(p.application_fee_bps, 0) AS fee_bps,"
    "       coalesce(p.id, '') AS plan_id, coalesce(p.name, '') AS plan_name, o.owner_email,"
    "       coalesce(to_char(o.account_updated_at AT TIME ZONE 'UTC',"
    "                        'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS updated_at"
    "  FROM organizations o LEFT JOIN plans p ON p.id = o.plan_id"
    " WHERE o.id = $1::uuid";

int payments_org_load(struct db_conn *m, const char *org_id, struct payments_org *o)
{
    memset(o, 0, sizeof(*o));
    const char *p[] = {org_id};
    PGresult *r = db_exec(m, sql_org, 1, p, NULL);
    if (!r)
        return PAYMENTS_DB;
    int rc = PAYMENTS_NOT_FOUND;
    if (PQntuples(r) == 1) {
        snprintf(o->account, sizeof(o->account), "%s", db_get(r, 0, "account"));
        o->charges_enabled = db_get(r, 0, "charges_enabled")[0] == 't';
        o->payouts_enabled = db_get(r, 0, "payouts_enabled")[0] == 't';
        o->details_submitted = db_get(r, 0, "details_submitted")[0] == 't';
        o->fee_bps = atoi(db_get(r, 0, "fee_bps"));
        snprintf(o->plan_id, sizeof(o->plan_id), "%s", db_get(r, 0, "plan_id"));
        snprintf(o->plan_name, sizeof(o->plan_name), "%s", db_get(r, 0, "plan_name"));
        snprintf(o->owner_email, sizeof(o->owner_email), "%s", db_get(r, 0, "owner_email"));
        snprintf(o->updated_at, sizeof(o->updated_at), "%s", db_get(r, 0, "updated_at"));
        rc = PAYMENTS_OK;
    }
    PQclear(r);
    return rc;
}

static const char sql_mail_facts[] =
    "SELECT b.ref, c.name, c.email, r.name AS room_name,"
    "       to_char(b.starts_at AT TIME ZONE $2::text, 'FMDay FMDD FMMonth YYYY, HH24:MI')"
    "         || '–' || to_char(b.ends_at AT TIME ZONE $2::text, 'HH24:MI') AS local_when"
    "  FROM bookings b JOIN customers c ON c.id = b.customer_id JOIN rooms r ON r.id = b.room_id"
    " WHERE b.id = $1::uuid";

void payments_mail_customer(struct arena *a, const struct tenant *tn, struct db_conn *t,
                            struct db_conn *m, const char *booking_id, const char *subject,
                            const char *text)
{
    const char *p[] = {booking_id, tn->timezone};
    PGresult *r = db_exec(t, sql_mail_facts, 2, p, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        log_msg(LOG_ERROR, "payments: booking %s: no facts for the mail \"%s\"", booking_id,
                subject);
        return;
    }
    const char *ref = db_get_dup(a, r, 0, "ref");
    struct mail mail = {
        .to = db_get_dup(a, r, 0, "email"),
        .subject = arena_printf(a, "%s — booking %s: %s", tn->name, ref, subject),
        .text = arena_printf(a,
                             "Hello %s,\r\n\r\n%s\r\n\r\n  Booking:   %s\r\n  Room:      %s\r\n"
                             "  When:      %s\r\n\r\nYour booking e-mail has the link to "
                             "manage it.\r\n\r\n%s\r\n",
                             db_get(r, 0, "name"), text, ref, db_get(r, 0, "room_name"),
                             db_get(r, 0, "local_when"), tn->name),
    };
    PQclear(r);
    if (db_begin(m) != 0 || mail_queue(m, &mail) != 0 || db_commit(m) != 0) {
        db_rollback(m);
        log_msg(LOG_ERROR, "payments: booking %s: mail \"%s\" not queued", ref, subject);
    }
}

/* ---- create-payment ------------------------------------------------------------------- */

static const char sql_due[] =
    "SELECT b.id, b.status, b.deposit_amount, b.paid_amount, b.currency, c.email,"
    "       (b.status = 'pending' AND b.hold_expires_at IS NOT NULL"
    "        AND b.hold_expires_at <= now()) AS hold_over"
    "  FROM bookings b JOIN customers c ON c.id = b.customer_id WHERE b.ref = $1";

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
        d->email = db_get_dup(a, r, 0, "email");
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
    "                      amount, currency, status, stripe_account, application_fee_amount)"
    " VALUES ($1::uuid, 'stripe', $2, $3, $4::bigint, $5, 'open', $6, $7::bigint)"
    " ON CONFLICT (checkout_session_id) DO NOTHING"
    " RETURNING id";

/* The payments row of a new session, audited (actor: the customer) in one transaction. */
static int record_payment(struct db_conn *t, struct request *req, const struct due *d,
                          json_t *session, const char *account, int64_t fee)
{
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *pi = json_string_value(json_object_get(session, "payment_intent"));
    char amount[24], fee_s[24];
    snprintf(amount, sizeof(amount), "%" PRId64, d->deposit);
    snprintf(fee_s, sizeof(fee_s), "%" PRId64, fee);
    const char *p[] = {d->id, sid, pi, amount, d->currency, account, fee_s};
    if (db_begin(t) != 0)
        return PAYMENTS_DB;
    PGresult *r = db_exec(t, sql_payment_insert, 7, p, NULL);
    if (!r) {
        db_rollback(t);
        return PAYMENTS_DB;
    }
    int rc = PAYMENTS_OK;
    if (PQntuples(r) == 1) {
        json_t *after = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:I}", "booking_id", d->id,
                                  "checkout_session_id", sid, "amount", (json_int_t)d->deposit,
                                  "currency", d->currency, "status", "open", "stripe_account",
                                  account, "application_fee_amount", (json_int_t)fee);
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
                      struct db_conn *m, struct request *req, const char *ref, const char *token,
                      const char *return_url, json_t **out)
{
    *out = NULL;
    if (!payments_configured())
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
    struct payments_org org;
    if ((rc = payments_org_load(m, tn->id, &org)) != PAYMENTS_OK)
        return rc == PAYMENTS_NOT_FOUND ? PAYMENTS_NOT_CONNECTED : rc;
    if (!org.account[0] || !org.charges_enabled)
        return PAYMENTS_NOT_CONNECTED;

    int64_t fee = payments_application_fee(d.deposit, org.fee_bps);
    char amount[24], fee_s[24];
    snprintf(amount, sizeof(amount), "%" PRId64, d.deposit);
    snprintf(fee_s, sizeof(fee_s), "%" PRId64, fee);
    struct stripe_param params[16] = {
        {"mode", "payment"},
        {stripe_key(a, "line_items", "0", "price_data", "currency", NULL),
         lower_dup(a, d.currency)},
        {stripe_key(a, "line_items", "0", "price_data", "unit_amount", NULL), amount},
        {stripe_key(a, "line_items", "0", "price_data", "product_data", "name", NULL),
         arena_printf(a, "Deposit for booking %s at %s", ref, tn->name)},
        {stripe_key(a, "line_items", "0", "quantity", NULL), "1"},
        {stripe_key(a, "metadata", "booking_ref", NULL), ref},
        {stripe_key(a, "metadata", "tenant", NULL), tn->slug},
        {stripe_key(a, "payment_intent_data", "metadata", "booking_ref", NULL), ref},
        {stripe_key(a, "payment_intent_data", "metadata", "tenant", NULL), tn->slug},
        {"client_reference_id", ref},
        {"customer_email", d.email},
        {"success_url", arena_printf(a, "%s&paid=1", return_url)},
        {"cancel_url", arena_printf(a, "%s&payment=cancelled", return_url)},
    };
    size_t n = 13;
    if (fee > 0)
        params[n++] = (struct stripe_param){
            stripe_key(a, "payment_intent_data", "application_fee_amount", NULL), fee_s};
    const char *key = arena_printf(a, "booking-%s-deposit-%s", d.id, amount);
    json_t *session = NULL;
    struct stripe_error serr;
    int src = stripe_request(a, "POST", "/v1/checkout/sessions", params, n, key, org.account,
                             &session, &serr);
    if (src != STRIPE_OK) {
        log_msg(LOG_WARN, "payments: checkout session for %s/%s: %d %ld %s: %s", tn->slug, ref, src,
                serr.http_status, serr.type, serr.message);
        return payments_stripe_status(src, &serr);
    }
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *url = json_string_value(json_object_get(session, "url"));
    if (!sid || !url) {
        log_msg(LOG_WARN, "payments: checkout session for %s/%s without id or url", tn->slug, ref);
        json_decref(session);
        return PAYMENTS_STRIPE;
    }
    rc = record_payment(t, req, &d, session, org.account, fee);
    if (rc == PAYMENTS_OK)
        *out = json_pack("{s:s, s:s}", "checkout_url", url, "session_id", sid);
    json_decref(session);
    return rc;
}

/* ---- the webhook: bookkeeping ------------------------------------------------------------ */

static const char sql_org_by_account[] =
    "SELECT slug FROM organizations WHERE stripe_account_id = $1";

static const char *meta_tenant(json_t *object)
{
    return json_string_value(json_object_get(json_object_get(object, "metadata"), "tenant"));
}

/* The studio an event is for (see the top): 0 with *tn filled, EVENT_NOT_OURS when the
 * event is for no studio of ours (ignored), PAYMENTS_DB. */
static int event_tenant(struct event *ev, const char *slug, struct tenant *tn)
{
    const char *owner = slug;
    if (ev->account) {
        const char *p[] = {ev->account};
        PGresult *r = db_exec(ev->m, sql_org_by_account, 1, p, NULL);
        if (!r)
            return PAYMENTS_DB;
        owner = PQntuples(r) == 1 ? db_get_dup(ev->a, r, 0, "slug") : NULL;
        PQclear(r);
        if (!owner) {
            log_msg(LOG_WARN, "payments: event %s for unknown account %s, ignored", ev->id,
                    ev->account);
            return EVENT_NOT_OURS;
        }
        if (slug && strcmp(slug, owner) != 0) {
            log_msg(LOG_WARN, "payments: event %s: account %s is %s's but names studio %s, ignored",
                    ev->id, ev->account, owner, slug);
            return EVENT_NOT_OURS;
        }
    }
    if (!owner || tenant_load(ev->m, owner, tn) != 0) {
        log_msg(LOG_WARN, "payments: event %s names no known studio, ignored", ev->id);
        return EVENT_NOT_OURS;
    }
    return 0;
}

/* A transaction in the studio the event is for: PAYMENTS_OK with *t in it (*tn filled),
 * EVENT_NOT_OURS (nothing to do), or PAYMENTS_DB. event_end finishes it. */
static int event_begin(struct event *ev, const char *slug, struct tenant *tn, struct db_conn **t)
{
    int rc = event_tenant(ev, slug, tn);
    if (rc != 0)
        return rc;
    *t = db_acquire(tn->db_server, tn->db_name);
    if (!*t)
        return PAYMENTS_DB;
    if (db_begin(*t) != 0) {
        db_release(*t);
        return PAYMENTS_DB;
    }
    return PAYMENTS_OK;
}

/* Commits when rc is PAYMENTS_OK, else rolls back; releases t. The event's result. */
static int event_end(struct db_conn *t, int rc)
{
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
    struct event ev = {
        .a = a,
        .m = m,
        .id = json_string_value(json_object_get(event, "id")),
        .type = json_string_value(json_object_get(event, "type")),
        .account = json_string_value(json_object_get(event, "account")),
        .created = (long long)json_integer_value(json_object_get(event, "created")),
        .object = json_object_get(json_object_get(event, "data"), "object"),
    };
    if (!ev.id || !ev.type || !json_is_object(ev.object)) {
        json_decref(event);
        return PAYMENTS_MALFORMED;
    }
    if (ev.created <= 0)
        ev.created = (long long)time(NULL);
    bool seen = false;
    int rc = stripe_event_seen(m, ev.id, &seen) == 0 ? PAYMENTS_OK : PAYMENTS_DB;
    if (rc == PAYMENTS_OK && seen) {
        *what = "duplicate";
    } else if (rc == PAYMENTS_OK) {
        for (size_t i = 0; i < sizeof(event_handlers) / sizeof(event_handlers[0]); i++) {
            if (strcmp(ev.type, event_handlers[i].type) == 0) {
                rc = event_handlers[i].fn(&ev);
                *what = "processed";
                break;
            }
        }
        if (strcmp(*what, "ignored") == 0)
            log_msg(LOG_INFO, "payments: event %s of type %s ignored", ev.id, ev.type);
        /* Recorded only once handled: a failure is handled again on Stripe's retry. */
        if (rc == PAYMENTS_OK)
            rc =
                stripe_event_record(m, ev.id, ev.type, ev.account) == 0 ? PAYMENTS_OK : PAYMENTS_DB;
    }
    json_decref(event);
    return rc;
}

/* ---- checkout.session.completed -------------------------------------------------------- */

/* Marks the session's payment paid (making the row when create-payment did not, e.g. a
 * session made elsewhere for this booking). Returns a row only when it changed: a paid
 * payment is never paid again. */
static const char sql_payment_paid[] =
    "INSERT INTO payments (booking_id, provider, checkout_session_id, payment_intent_id,"
    "                      amount, currency, status, paid_at, stripe_account)"
    " SELECT b.id, 'stripe', $2, $3, $4::bigint, upper($5), 'paid', now(), $6"
    "   FROM bookings b WHERE b.ref = $1"
    " ON CONFLICT (checkout_session_id) DO UPDATE"
    "   SET status = 'paid', paid_at = now(), amount = EXCLUDED.amount, updated_at = now(),"
    "       payment_intent_id = coalesce(EXCLUDED.payment_intent_id, payments.payment_intent_id),"
    "       stripe_account = coalesce(payments.stripe_account, EXCLUDED.stripe_account)"
    "   WHERE payments.status <> 'paid'"
    " RETURNING id, booking_id";

static const char sql_booking_lock[] =
    "SELECT status, paid_amount FROM bookings WHERE id = $1::uuid FOR UPDATE";

/* Adds the payment and confirms a pending booking whose deposit is now paid, when the
 * studio auto-confirms (as booking_create would have without a deposit). */
static const char sql_booking_paid[] =
    "WITH old AS (SELECT id, status, paid_amount FROM bookings WHERE id = $1::uuid)"
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
    "                        THEN NULL ELSE b.hold_expires_at END,"
    "        updated_at = now()"
    "   FROM old WHERE b.id = old.id"
    " RETURNING old.status AS old_status, old.paid_amount AS old_paid, b.status, b.paid_amount";

/* An expired booking taken up again: the constraint refuses it when the slot is gone. */
static const char sql_booking_reactivate[] =
    "WITH old AS (SELECT id, status, paid_amount FROM bookings WHERE id = $1::uuid)"
    " UPDATE bookings b"
    "    SET paid_amount = b.paid_amount + $2::bigint,"
    "        status = CASE WHEN (SELECT auto_confirm FROM studio_settings)"
    "                      THEN 'confirmed' ELSE 'pending' END,"
    "        confirmed_at = CASE WHEN (SELECT auto_confirm FROM studio_settings)"
    "                      THEN now() ELSE NULL END,"
    "        hold_expires_at = NULL, updated_at = now()"
    "   FROM old WHERE b.id = old.id"
    " RETURNING old.status AS old_status, old.paid_amount AS old_paid, b.status, b.paid_amount";

/* A payment the booking cannot use: counted as paid (it was), status unchanged. */
static const char sql_booking_add_paid[] =
    "WITH old AS (SELECT id, status, paid_amount FROM bookings WHERE id = $1::uuid)"
    " UPDATE bookings b SET paid_amount = b.paid_amount + $2::bigint, updated_at = now()"
    "   FROM old WHERE b.id = old.id"
    " RETURNING old.status AS old_status, old.paid_amount AS old_paid, b.status, b.paid_amount";

/* The full refund of a payment that came too late. */
static const char sql_refund_late[] =
    "INSERT INTO refunds (booking_id, payment_id, payment_intent_id, amount, status, reason,"
    "                     idempotency_key, stripe_account)"
    " SELECT p.booking_id, p.id, p.payment_intent_id, p.amount, 'pending', 'late_payment',"
    "        'booking-' || p.booking_id || '-payment-' || p.id || '-late-refund', p.stripe_account"
    "   FROM payments p WHERE p.id = $1::uuid AND p.amount > 0 AND p.payment_intent_id IS NOT NULL"
    " ON CONFLICT (idempotency_key) DO NOTHING";

static const char sql_savepoint[] = "SAVEPOINT payments_reactivate";
static const char sql_rollback_savepoint[] = "ROLLBACK TO SAVEPOINT payments_reactivate";

/* The payment's effect on its booking, in the caller's transaction (see the top); audited
 * as the system. */
static int apply_payment_to_booking(struct arena *a, struct db_conn *t, struct db_conn *m,
                                    const char *booking_id, const char *payment_id,
                                    const char *amount, enum late_outcome *outcome, bool *confirmed)
{
    const char *lp[] = {booking_id};
    PGresult *r = db_exec(t, sql_booking_lock, 1, lp, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return PAYMENTS_DB;
    }
    const char *status = db_get_dup(a, r, 0, "status");
    PQclear(r);
    const char *bp[] = {booking_id, amount};
    PGresult *b = NULL;
    *outcome = PAID_NORMAL;
    if (strcmp(status, "expired") == 0) {
        const char *st = NULL;
        if (db_run(t, sql_savepoint, 0, NULL) != 0)
            return PAYMENTS_DB;
        b = db_exec(t, sql_booking_reactivate, 2, bp, &st);
        if (b) {
            *outcome = PAID_REACTIVATED;
        } else if (st && strcmp(st, SQLSTATE_EXCLUSION_VIOLATION) == 0) {
            if (db_run(t, sql_rollback_savepoint, 0, NULL) != 0)
                return PAYMENTS_DB;
            *outcome = PAID_REFUNDED;
        } else {
            return PAYMENTS_DB;
        }
    } else if (strcmp(status, "cancelled") == 0) {
        *outcome = PAID_CANCELLED;
    }
    if (*outcome == PAID_REFUNDED || *outcome == PAID_CANCELLED) {
        const char *rp[] = {payment_id};
        b = db_exec(t, sql_booking_add_paid, 2, bp, NULL);
        if (b && db_run(t, sql_refund_late, 1, rp) != 0) {
            PQclear(b);
            return PAYMENTS_DB;
        }
    } else if (*outcome == PAID_NORMAL) {
        b = db_exec(t, sql_booking_paid, 2, bp, NULL);
    }
    if (!b || PQntuples(b) != 1) {
        PQclear(b);
        return PAYMENTS_DB;
    }
    static const char *const outcomes[] = {"paid", "reactivated", "refunded", "refunded"};
    *confirmed = strcmp(db_get(b, 0, "status"), "confirmed") == 0 &&
                 strcmp(db_get(b, 0, "old_status"), "confirmed") != 0;
    json_t *before = json_pack("{s:s, s:I}", "status", db_get(b, 0, "old_status"), "paid_amount",
                               (json_int_t)strtoll(db_get(b, 0, "old_paid"), NULL, 10));
    json_t *after =
        json_pack("{s:s, s:I, s:s, s:s}", "status", db_get(b, 0, "status"), "paid_amount",
                  (json_int_t)strtoll(db_get(b, 0, "paid_amount"), NULL, 10), "payment_id",
                  payment_id, "outcome", outcomes[*outcome]);
    PQclear(b);
    int rc = audit_record_system(t, m, ACTION_PAYMENT, BOOKINGS_RESOURCE, booking_id, before,
                                 after) == AUDIT_OK
                 ? PAYMENTS_OK
                 : PAYMENTS_DB;
    json_decref(before);
    json_decref(after);
    return rc;
}

static int on_session_completed(struct event *ev)
{
    json_t *session = ev->object;
    const char *ref =
        json_string_value(json_object_get(json_object_get(session, "metadata"), "booking_ref"));
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *pi = json_string_value(json_object_get(session, "payment_intent"));
    const char *currency = json_string_value(json_object_get(session, "currency"));
    json_t *total = json_object_get(session, "amount_total");
    const char *pstatus = json_string_value(json_object_get(session, "payment_status"));
    if (!meta_tenant(session) || !ref || !sid || !currency || !json_is_integer(total) ||
        json_integer_value(total) < 0)
        return PAYMENTS_MALFORMED;
    if (!pstatus || strcmp(pstatus, "paid") != 0) {
        log_msg(LOG_INFO, "payments: session %s completed unpaid (%s), nothing recorded", sid,
                pstatus ? pstatus : "?");
        return PAYMENTS_OK;
    }
    struct tenant tn;
    struct db_conn *t;
    int rc = event_begin(ev, meta_tenant(session), &tn, &t);
    if (rc != PAYMENTS_OK)
        return rc == EVENT_NOT_OURS ? PAYMENTS_OK : rc;
    char amount[24];
    snprintf(amount, sizeof(amount), "%" JSON_INTEGER_FORMAT, json_integer_value(total));
    const char *p[] = {ref, sid, pi, amount, currency, ev->account};
    PGresult *r = db_exec(t, sql_payment_paid, 6, p, NULL);
    const char *booking_id = NULL;
    enum late_outcome outcome = PAID_NORMAL;
    bool confirmed = false;
    rc = PAYMENTS_OK;
    if (!r) {
        rc = PAYMENTS_DB;
    } else if (PQntuples(r) == 0) {
        log_msg(LOG_INFO, "payments: session %s of %s/%s: paid already or no booking", sid, tn.slug,
                ref);
    } else {
        booking_id = db_get_dup(ev->a, r, 0, "booking_id");
        rc = apply_payment_to_booking(ev->a, t, ev->m, booking_id, db_get(r, 0, "id"), amount,
                                      &outcome, &confirmed);
    }
    PQclear(r);
    if (rc != PAYMENTS_OK || db_commit(t) != 0) {
        db_rollback(t);
        db_release(t);
        return PAYMENTS_DB;
    }
    if (booking_id) {
        const char *paid = money_format(ev->a, json_integer_value(total), tn.currency);
        if (outcome == PAID_REFUNDED || outcome == PAID_CANCELLED) {
            char msg[256];
            payments_refunds_send(ev->a, &tn, t, ev->m, booking_id, false, msg, sizeof(msg));
            payments_mail_customer(
                ev->a, &tn, t, ev->m, booking_id, "payment refunded",
                arena_printf(ev->a,
                             "%s We are refunding the full %s to the card you paid with; banks "
                             "take 5 to 10 days to show it.",
                             outcome == PAID_CANCELLED
                                 ? arena_printf(ev->a,
                                                "Your payment of %s arrived after the booking "
                                                "was cancelled.",
                                                paid)
                                 : arena_printf(ev->a,
                                                "Your payment of %s arrived after your booking "
                                                "had lapsed, and the time has been booked by "
                                                "someone else meanwhile.",
                                                paid),
                             paid));
        } else {
            payments_mail_customer(
                ev->a, &tn, t, ev->m, booking_id, "payment received",
                arena_printf(ev->a, "%sWe have received your payment of %s. Thank you!%s",
                             outcome == PAID_REACTIVATED
                                 ? "Your payment arrived after the booking had lapsed, but the "
                                   "time was still free: your booking stands again. "
                                 : "",
                             paid, confirmed ? " Your booking is confirmed." : ""));
        }
    }
    db_release(t);
    return PAYMENTS_OK;
}

/* ---- payment failures and expiry ------------------------------------------------------- */

/* Moves a payment's status up only (payments_status_rank), so any order of delivery ends
 * in the same place. */
static const char sql_payment_status_by_session[] =
    "UPDATE payments SET status = $2, updated_at = now()"
    " WHERE checkout_session_id = $1"
    "   AND array_position(ARRAY['open','failed','expired','paid'], status)"
    "     < array_position(ARRAY['open','failed','expired','paid'], $2::text)"
    " RETURNING id, booking_id";

static const char sql_payment_failed_by_intent[] =
    "UPDATE payments SET status = 'failed', failure_message = $2, updated_at = now()"
    " WHERE payment_intent_id = $1 AND status = 'open'"
    " RETURNING id, booking_id";

/* Runs one payments UPDATE that returns id and booking_id, and audits the rows it changed
 * (resource payments, action update) in one transaction of the event's studio. */
static int payment_update(struct event *ev, const char *slug, const char *sql, int n,
                          const char *const *p, const char *new_status)
{
    struct tenant tn;
    struct db_conn *t;
    int rc = event_begin(ev, slug, &tn, &t);
    if (rc != PAYMENTS_OK)
        return rc == EVENT_NOT_OURS ? PAYMENTS_OK : rc;
    PGresult *r = db_exec(t, sql, n, p, NULL);
    rc = r ? PAYMENTS_OK : PAYMENTS_DB;
    for (int i = 0; r && i < PQntuples(r) && rc == PAYMENTS_OK; i++) {
        json_t *after = json_pack("{s:s, s:s, s:s}", "status", new_status, "booking_id",
                                  db_get(r, i, "booking_id"), "event", ev->id);
        if (audit_record_system(t, ev->m, AUDIT_ACTION_UPDATE, PAYMENTS_RESOURCE,
                                db_get(r, i, "id"), NULL, after) != AUDIT_OK)
            rc = PAYMENTS_DB;
        json_decref(after);
    }
    PQclear(r);
    return event_end(t, rc);
}

/* The payment of the event's Checkout Session moves up to status (never down). */
static int session_status(struct event *ev, const char *status)
{
    const char *sid = json_string_value(json_object_get(ev->object, "id"));
    if (!sid)
        return PAYMENTS_MALFORMED;
    const char *p[] = {sid, status};
    return payment_update(ev, meta_tenant(ev->object), sql_payment_status_by_session, 2, p, status);
}

static int on_session_expired(struct event *ev)
{
    return session_status(ev, "expired");
}

/* A delayed payment method (a bank debit) that did not go through. */
static int on_session_async_failed(struct event *ev)
{
    return session_status(ev, "failed");
}

/* The booking keeps its hold until it expires: the customer may try again meanwhile. */
static int on_payment_failed(struct event *ev)
{
    const char *pi = json_string_value(json_object_get(ev->object, "id"));
    if (!pi)
        return PAYMENTS_MALFORMED;
    const char *why = json_string_value(
        json_object_get(json_object_get(ev->object, "last_payment_error"), "message"));
    const char *p[] = {pi, why ? why : "The payment failed"};
    return payment_update(ev, meta_tenant(ev->object), sql_payment_failed_by_intent, 2, p,
                          "failed");
}

/* ---- charge.refunded: refunds reconciled to Stripe's account of them -------------------- */

static const char sql_payment_refunded[] =
    "WITH old AS (SELECT id, refunded_amount FROM payments WHERE payment_intent_id = $1"
    "             FOR UPDATE)"
    " UPDATE payments p SET refunded_amount = greatest(p.refunded_amount, $2::bigint),"
    "                       updated_at = now()"
    "   FROM old WHERE p.id = old.id"
    " RETURNING p.id, p.booking_id, old.refunded_amount AS old_refunded, p.refunded_amount";

/* Our own refund (metadata[refund_id]) learns its Stripe id and status; the status only
 * moves up (payments_refund_rank). */
static const char sql_refund_sync_ours[] =
    "UPDATE refunds SET stripe_refund_id = coalesce(stripe_refund_id, $3),"
    "       status = CASE WHEN array_position(ARRAY['pending','requires_action','succeeded',"
    "                                               'failed'], $4::text)"
    "                        > array_position(ARRAY['pending','requires_action','succeeded',"
    "                                               'failed'], status)"
    "                   THEN $4 ELSE status END,"
    "       updated_at = now()"
    " WHERE id = $1::uuid AND booking_id = $2::uuid"
    "   AND (stripe_refund_id IS NULL OR stripe_refund_id = $3)"
    " RETURNING id";

/* A refund we did not make (the Dashboard), or ours without its metadata. */
static const char sql_refund_upsert[] =
    "INSERT INTO refunds (booking_id, payment_id, payment_intent_id, amount, stripe_refund_id,"
    "                     status, reason)"
    " VALUES ($1::uuid, $2::uuid, $3, $4::bigint, $5, $6, 'stripe')"
    " ON CONFLICT (stripe_refund_id) DO UPDATE"
    "   SET status = CASE WHEN array_position(ARRAY['pending','requires_action','succeeded',"
    "                                                'failed'], EXCLUDED.status)"
    "                        > array_position(ARRAY['pending','requires_action','succeeded',"
    "                                                'failed'], refunds.status)"
    "                   THEN EXCLUDED.status ELSE refunds.status END,"
    "       updated_at = now()"
    "   WHERE refunds.status IS DISTINCT FROM EXCLUDED.status"
    " RETURNING id";

static int sync_refund(struct db_conn *t, const char *booking_id, const char *payment_id,
                       const char *pi, json_t *refund, bool *changed)
{
    const char *rid = json_string_value(json_object_get(refund, "id"));
    const char *status = json_string_value(json_object_get(refund, "status"));
    json_t *amount = json_object_get(refund, "amount");
    if (!rid || !status || !json_is_integer(amount) || json_integer_value(amount) <= 0)
        return PAYMENTS_OK; /* not a refund we can record */
    if (strcmp(status, "canceled") == 0)
        status = "failed"; /* one rank: neither gave money back */
    if (payments_refund_rank(status) < 0)
        return PAYMENTS_OK;
    const char *ours =
        json_string_value(json_object_get(json_object_get(refund, "metadata"), "refund_id"));
    if (http_uuid_valid(ours)) {
        const char *p[] = {ours, booking_id, rid, status};
        PGresult *r = db_exec(t, sql_refund_sync_ours, 4, p, NULL);
        if (!r)
            return PAYMENTS_DB;
        bool found = PQntuples(r) > 0;
        PQclear(r);
        if (found) {
            *changed = true;
            return PAYMENTS_OK;
        }
    }
    char amount_s[24];
    snprintf(amount_s, sizeof(amount_s), "%" JSON_INTEGER_FORMAT, json_integer_value(amount));
    const char *p[] = {booking_id, payment_id, pi, amount_s, rid, status};
    PGresult *r = db_exec(t, sql_refund_upsert, 6, p, NULL);
    if (!r)
        return PAYMENTS_DB;
    if (PQntuples(r) > 0)
        *changed = true;
    PQclear(r);
    return PAYMENTS_OK;
}

static int on_charge_refunded(struct event *ev)
{
    const char *pi = json_string_value(json_object_get(ev->object, "payment_intent"));
    json_t *refunded = json_object_get(ev->object, "amount_refunded");
    if (!pi || !json_is_integer(refunded) || json_integer_value(refunded) < 0)
        return PAYMENTS_MALFORMED;
    struct tenant tn;
    struct db_conn *t;
    int rc = event_begin(ev, meta_tenant(ev->object), &tn, &t);
    if (rc != PAYMENTS_OK)
        return rc == EVENT_NOT_OURS ? PAYMENTS_OK : rc;
    char amount[24];
    snprintf(amount, sizeof(amount), "%" JSON_INTEGER_FORMAT, json_integer_value(refunded));
    const char *p[] = {pi, amount};
    PGresult *r = db_exec(t, sql_payment_refunded, 2, p, NULL);
    rc = r ? PAYMENTS_OK : PAYMENTS_DB;
    if (r && PQntuples(r) == 1) {
        const char *payment_id = db_get_dup(ev->a, r, 0, "id");
        const char *booking_id = db_get_dup(ev->a, r, 0, "booking_id");
        bool changed = strcmp(db_get(r, 0, "old_refunded"), db_get(r, 0, "refunded_amount")) != 0;
        json_t *list = json_object_get(json_object_get(ev->object, "refunds"), "data");
        json_t *one;
        size_t i;
        json_array_foreach(list, i, one)
        {
            if (rc == PAYMENTS_OK)
                rc = sync_refund(t, booking_id, payment_id, pi, one, &changed);
        }
        if (rc == PAYMENTS_OK && changed) {
            json_t *after = json_pack("{s:s, s:I, s:s}", "payment_id", payment_id, "refunded_total",
                                      (json_int_t)json_integer_value(refunded), "event", ev->id);
            if (audit_record_system(t, ev->m, ACTION_REFUND_SYNC, BOOKINGS_RESOURCE, booking_id,
                                    NULL, after) != AUDIT_OK)
                rc = PAYMENTS_DB;
            json_decref(after);
        }
    } else if (r) {
        log_msg(LOG_INFO, "payments: charge.refunded %s: no payment %s in %s", ev->id, pi, tn.slug);
    }
    PQclear(r);
    return event_end(t, rc);
}

/* ---- charge.dispute.created / .closed ----------------------------------------------------- */

/* Opened: the flag, once (the first disputed_at stays), unless the dispute is known closed
 * already (a reordered delivery). $3: the dispute's creation (Unix seconds). */
static const char sql_dispute[] =
    "UPDATE bookings b SET disputed_at = to_timestamp($3::bigint), dispute_id = $2,"
    "       payment_flag = 'disputed', updated_at = now()"
    "  FROM payments p"
    " WHERE p.payment_intent_id = $1 AND b.id = p.booking_id AND b.disputed_at IS NULL"
    " RETURNING b.id";

/* Closed: won or lost ($4), whether or not its opening was seen. */
static const char sql_dispute_closed[] =
    "UPDATE bookings b SET disputed_at = coalesce(b.disputed_at, to_timestamp($3::bigint)),"
    "       dispute_id = $2, payment_flag = $4, updated_at = now()"
    "  FROM payments p"
    " WHERE p.payment_intent_id = $1 AND b.id = p.booking_id"
    "   AND b.payment_flag IS DISTINCT FROM $4"
    " RETURNING b.id";

/* Applies a dispute event: flag (the booking's payment_flag afterwards) by sql, one audit
 * entry ("dispute", by the system) per booking it changed, in the studio's transaction. */
static int dispute_apply(struct event *ev, const char *sql, const char *flag)
{
    const char *pi = json_string_value(json_object_get(ev->object, "payment_intent"));
    const char *did = json_string_value(json_object_get(ev->object, "id"));
    if (!pi || !did)
        return PAYMENTS_MALFORMED;
    struct tenant tn;
    struct db_conn *t;
    int rc = event_begin(ev, meta_tenant(ev->object), &tn, &t);
    if (rc != PAYMENTS_OK)
        return rc == EVENT_NOT_OURS ? PAYMENTS_OK : rc;
    json_t *opened = json_object_get(ev->object, "created");
    char created[24];
    snprintf(created, sizeof(created), "%lld",
             json_is_integer(opened) ? (long long)json_integer_value(opened) : ev->created);
    const char *p[] = {pi, did, created, flag};
    PGresult *r = db_exec(t, sql, sql == sql_dispute ? 3 : 4, p, NULL);
    rc = r ? PAYMENTS_OK : PAYMENTS_DB;
    for (int i = 0; r && i < PQntuples(r) && rc == PAYMENTS_OK; i++) {
        const char *reason = json_string_value(json_object_get(ev->object, "reason"));
        json_t *after = json_pack("{s:s, s:s, s:s?}", "payment_flag", flag, "dispute_id", did,
                                  "reason", reason);
        if (audit_record_system(t, ev->m, ACTION_DISPUTE, BOOKINGS_RESOURCE, db_get(r, i, "id"),
                                NULL, after) != AUDIT_OK)
            rc = PAYMENTS_DB;
        json_decref(after);
    }
    PQclear(r);
    return event_end(t, rc);
}

static int on_dispute_created(struct event *ev)
{
    return dispute_apply(ev, sql_dispute, "disputed");
}

/* status "won" or "lost"; a dispute closed otherwise (an inquiry: "warning_closed") leaves
 * the flag as it is. */
static int on_dispute_closed(struct event *ev)
{
    const char *status = json_string_value(json_object_get(ev->object, "status"));
    if (status && strcmp(status, "won") == 0)
        return dispute_apply(ev, sql_dispute_closed, "dispute_won");
    if (status && strcmp(status, "lost") == 0)
        return dispute_apply(ev, sql_dispute_closed, "dispute_lost");
    return PAYMENTS_OK;
}

/* ---- account.updated (master database) --------------------------------------------------- */

static const char sql_account_updated[] =
    "UPDATE organizations"
    "   SET charges_enabled = $2::boolean, payouts_enabled = $3::boolean,"
    "       details_submitted = $4::boolean, account_updated_at = to_timestamp($5::bigint),"
    "       updated_at = now()"
    " WHERE stripe_account_id = $1"
    "   AND (account_updated_at IS NULL OR account_updated_at <= to_timestamp($5::bigint))"
    " RETURNING slug";

static int on_account_updated(struct event *ev)
{
    const char *acct = json_string_value(json_object_get(ev->object, "id"));
    if (!acct)
        return PAYMENTS_MALFORMED;
    if (ev->account && strcmp(ev->account, acct) != 0) {
        log_msg(LOG_WARN, "payments: account.updated %s from %s about %s, ignored", ev->id,
                ev->account, acct);
        return PAYMENTS_OK;
    }
    char created[24];
    snprintf(created, sizeof(created), "%lld", ev->created);
    const char *p[] = {
        acct,
        json_is_true(json_object_get(ev->object, "charges_enabled")) ? "true" : "false",
        json_is_true(json_object_get(ev->object, "payouts_enabled")) ? "true" : "false",
        json_is_true(json_object_get(ev->object, "details_submitted")) ? "true" : "false",
        created,
    };
    PGresult *r = db_exec(ev->m, sql_account_updated, 5, p, NULL);
    if (!r)
        return PAYMENTS_DB;
    if (PQntuples(r) == 0)
        log_msg(LOG_INFO, "payments: account.updated %s for %s: unknown or older, ignored", ev->id,
                acct);
    PQclear(r);
    return PAYMENTS_OK;
}

/* ---- pure rules ------------------------------------------------------------------------- */

int64_t payments_application_fee(int64_t amount, int bps)
{
    if (bps <= 0 || bps > 10000 || amount <= 0)
        return 0;
    return money_scale(amount, bps, 10000);
}

int payments_status_rank(const char *status)
{
    static const char *const order[] = {"open", "failed", "expired", "paid"};
    for (int i = 0; status && i < 4; i++)
        if (strcmp(status, order[i]) == 0)
            return i;
    return -1;
}

int payments_refund_rank(const char *status)
{
    static const char *const order[] = {"pending", "requires_action", "succeeded", "failed"};
    if (status && strcmp(status, "canceled") == 0)
        return 3;
    for (int i = 0; status && i < 4; i++)
        if (strcmp(status, order[i]) == 0)
            return i;
    return -1;
}
