/*
 * refunds.c — money going back to customers, and a booking's money as the
 * booking JSON shows it.
 *
 * The order of a refund (decided here, for every cause: a cancellation, a
 * payment that came for a slot that is gone):
 *   1. In the transaction that makes the refund owed (the cancel, with the
 *      booking row locked), one refunds row per Stripe payment is written
 *      'pending' with its amount and its Idempotency-Key
 *      "booking-<booking id>-cancel-refund-<payment id>" (or
 *      "...-payment-<id>-late-refund"). The amount is decided once, there:
 *      a retry never recomputes it under a later tier.
 *   2. After the commit, each pending row without a Stripe id is sent:
 *      POST /v1/refunds {payment_intent, amount, metadata[refund_id],
 *      metadata[booking_ref]} with that key and the payment's Stripe-Account.
 *      Stripe's answer sets stripe_refund_id and status. On a connected
 *      account (a direct charge) refund_application_fee=true gives the
 *      platform's fee back in proportion: the studio pays no fee on money
 *      it returned.
 *   3. When Stripe does not answer, answers 5xx or 429, the row stays
 *      pending (attempts + 1) and the job "payments_refund_send" retries it
 *      with the same key, so Stripe makes the refund at most once even when
 *      the first request did reach it. When Stripe refuses (another 4xx, a
 *      402 among them), the row is 'failed' with Stripe's message: the
 *      booking shows it to staff, who settle it by hand.
 * So the cancellation is never undone or held up by Stripe (the slot is
 * free at once, the customer is told), nothing is half-recorded (the owed
 * refund and the cancellation commit together), and no refund is made
 * twice. charge.refunded webhooks later reconcile the rows (payments.c).
 *
 * What is "refunded" on a booking: for each payment, the greater of what
 * Stripe last reported (payments.refunded_amount) and the sum of its
 * succeeded refund rows. Pending refunds are shown apart.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments_internal.h"
#include "studiod/audit.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/tenant.h"

static int run_refund_job(json_t *payload, char *err, size_t errlen);
static void queue_retry(struct db_conn *m, const struct tenant *tn, const char *booking_id,
                        bool in_job);
static bool transient(int src, const struct stripe_error *e);

const struct job_kind payments_job_kinds[] = {
    {PAYMENTS_JOB_REFUND, run_refund_job, PAYMENTS_JOB_ATTEMPTS},
    {0},
};

/* ---- the pure split ------------------------------------------------------------------- */

int64_t payments_refund_split(int64_t amount, const int64_t *refundable, int n, int64_t *out)
{
    int64_t left = amount > 0 ? amount : 0;
    bool used[64] = {0};
    for (int i = 0; i < n; i++)
        out[i] = 0;
    for (int round = 0; round < n && round < 64 && left > 0; round++) {
        int best = -1;
        for (int i = 0; i < n && i < 64; i++)
            if (!used[i] && refundable[i] > 0 && (best < 0 || refundable[i] > refundable[best]))
                best = i;
        if (best < 0)
            break;
        used[best] = true;
        out[best] = refundable[best] < left ? refundable[best] : left;
        left -= out[best];
    }
    return (amount > 0 ? amount : 0) - left;
}

/* ---- 1. owed ------------------------------------------------------------------------------ */

/* What each paid Stripe payment of the booking can still give back. */
static const char sql_refundable[] =
    "SELECT p.id, p.payment_intent_id, p.stripe_account,"
    "       p.amount - greatest(p.refunded_amount,"
    "         coalesce((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id"
    "                    AND r.status IN ('pending', 'requires_action', 'succeeded')), 0))"
    "         AS refundable"
    "  FROM payments p"
    " WHERE p.booking_id = $1::uuid AND p.status = 'paid' AND p.payment_intent_id IS NOT NULL"
    " ORDER BY p.paid_at, p.id"
    " LIMIT 64";

static const char sql_refund_owed[] =
    "INSERT INTO refunds (booking_id, payment_id, payment_intent_id, amount, status, reason,"
    "                     idempotency_key, stripe_account)"
    " VALUES ($1::uuid, $2::uuid, $3, $4::bigint, 'pending', 'cancel',"
    "         'booking-' || $1 || '-cancel-refund-' || $2, $5)"
    " ON CONFLICT (idempotency_key) DO NOTHING";

int payments_refund_prepare(struct db_conn *t, const char *booking_id, int64_t amount)
{
    if (amount <= 0)
        return PAYMENTS_OK;
    const char *p[] = {booking_id};
    PGresult *r = db_exec(t, sql_refundable, 1, p, NULL);
    if (!r)
        return PAYMENTS_DB;
    int n = PQntuples(r);
    int64_t *refundable = calloc((size_t)n + 1, sizeof(*refundable));
    int64_t *share = calloc((size_t)n + 1, sizeof(*share));
    if (!refundable || !share) {
        free(refundable);
        free(share);
        PQclear(r);
        return PAYMENTS_DB;
    }
    for (int i = 0; i < n; i++)
        refundable[i] = strtoll(db_get(r, i, "refundable"), NULL, 10);
    int64_t placed = payments_refund_split(amount, refundable, n, share);
    if (placed < amount)
        log_msg(LOG_WARN,
                "payments: booking %s: refund of %" PRId64 " but Stripe payments cover %" PRId64
                "; the rest is the studio's to settle",
                booking_id, amount, placed);
    int rc = PAYMENTS_OK;
    for (int i = 0; i < n && rc == PAYMENTS_OK; i++) {
        if (share[i] <= 0)
            continue;
        char amount_s[24];
        snprintf(amount_s, sizeof(amount_s), "%" PRId64, share[i]);
        const char *ip[] = {booking_id, db_get(r, i, "id"), db_get(r, i, "payment_intent_id"),
                            amount_s, db_get(r, i, "stripe_account")};
        if (db_run(t, sql_refund_owed, 5, ip) != 0)
            rc = PAYMENTS_DB;
    }
    PQclear(r);
    free(refundable);
    free(share);
    return rc;
}

/* ---- 2. sent ------------------------------------------------------------------------------ */

static const char sql_pending[] =
    "SELECT r.id, r.amount, r.payment_intent_id, r.idempotency_key, r.stripe_account, b.ref"
    "  FROM refunds r JOIN bookings b ON b.id = r.booking_id"
    " WHERE r.booking_id = $1::uuid AND r.status = 'pending' AND r.stripe_refund_id IS NULL"
    "   AND r.idempotency_key IS NOT NULL"
    " ORDER BY r.created_at, r.id";

static const char sql_refund_sent[] =
    "UPDATE refunds SET stripe_refund_id = $2, status = $3, attempts = attempts + 1,"
    "       failure_message = NULL, updated_at = now()"
    " WHERE id = $1::uuid AND stripe_refund_id IS NULL"
    " RETURNING id";

static const char sql_refund_retry[] =
    "UPDATE refunds SET attempts = attempts + 1, failure_message = $2, updated_at = now()"
    " WHERE id = $1::uuid AND status = 'pending' AND stripe_refund_id IS NULL";

static const char sql_refund_refused[] =
    "UPDATE refunds SET status = 'failed', attempts = attempts + 1, failure_message = $2,"
    "       updated_at = now()"
    " WHERE id = $1::uuid AND status = 'pending' AND stripe_refund_id IS NULL"
    " RETURNING id";

static bool transient(int src, const struct stripe_error *e)
{
    /* Not configured: this process has no key (another may); never a verdict on the refund. */
    return src == STRIPE_ERR_NETWORK || src == STRIPE_ERR_RESPONSE ||
           src == STRIPE_ERR_NOT_CONFIGURED ||
           (src == STRIPE_ERR_API && (e->http_status >= 500 || e->http_status == 429 ||
                                      strcmp(e->type, "idempotency_error") == 0));
}

/* One statement on a refund row and its audit entry (resource refunds, action update), in
 * a transaction of its own. */
static int refund_write(struct db_conn *t, struct db_conn *m, const char *sql, int n,
                        const char *const *p, json_t *after)
{
    if (db_begin(t) != 0)
        return PAYMENTS_DB;
    PGresult *r = db_exec(t, sql, n, p, NULL);
    int rc = r ? PAYMENTS_OK : PAYMENTS_DB;
    if (r && PQntuples(r) == 1 &&
        audit_record_system(t, m, AUDIT_ACTION_UPDATE, REFUNDS_RESOURCE, p[0], NULL, after) !=
            AUDIT_OK)
        rc = PAYMENTS_DB;
    PQclear(r);
    if (rc != PAYMENTS_OK || db_commit(t) != 0) {
        db_rollback(t);
        return PAYMENTS_DB;
    }
    return PAYMENTS_OK;
}

const char *payments_refunds_send(struct arena *a, const struct tenant *tn, struct db_conn *t,
                                  struct db_conn *m, const char *booking_id, bool in_job,
                                  char *message, size_t message_len)
{
    message[0] = '\0';
    const char *p[] = {booking_id};
    PGresult *r = db_exec(t, sql_pending, 1, p, NULL);
    if (!r) {
        snprintf(message, message_len,
                 "The refund is recorded and will be sent to Stripe "
                 "shortly.");
        queue_retry(m, tn, booking_id, in_job);
        return "pending";
    }
    int n = PQntuples(r);
    bool any_pending = false, any_failed = false;
    for (int i = 0; i < n; i++) {
        const char *id = db_get(r, i, "id");
        const char *account = db_get(r, i, "stripe_account");
        struct stripe_param params[6] = {
            {"payment_intent", db_get(r, i, "payment_intent_id")},
            {"amount", db_get(r, i, "amount")},
            {"reason", "requested_by_customer"},
            {stripe_key(a, "metadata", "refund_id", NULL), id},
            {stripe_key(a, "metadata", "booking_ref", NULL), db_get(r, i, "ref")},
        };
        size_t np = 5;
        if (account && *account) /* a direct charge: the platform's fee goes back pro rata */
            params[np++] = (struct stripe_param){"refund_application_fee", "true"};
        json_t *refund = NULL;
        struct stripe_error serr;
        int src = stripe_request(a, "POST", "/v1/refunds", params, np,
                                 db_get(r, i, "idempotency_key"), account, &refund, &serr);
        const char *sid = json_string_value(json_object_get(refund, "id"));
        if (src == STRIPE_OK && sid) {
            const char *status = json_string_value(json_object_get(refund, "status"));
            if (payments_refund_rank(status) < 0)
                status = "pending";
            if (strcmp(status, "canceled") == 0)
                status = "failed";
            const char *up[] = {id, sid, status};
            json_t *after = json_pack("{s:s, s:s}", "status", status, "stripe_refund_id", sid);
            if (refund_write(t, m, sql_refund_sent, 3, up, after) != PAYMENTS_OK)
                log_msg(LOG_ERROR,
                        "payments: refund %s made at Stripe (%s) but not recorded; "
                        "charge.refunded will reconcile it",
                        id, sid);
            json_decref(after);
            any_failed |= strcmp(status, "failed") == 0;
        } else if (src == STRIPE_OK || transient(src, &serr)) {
            log_msg(LOG_WARN, "payments: refund %s of %s: Stripe unavailable (%d %ld %s), retried",
                    id, tn->slug, src, serr.http_status, serr.message);
            const char *up[] = {id, src == STRIPE_OK ? "reply without id" : serr.message};
            if (db_run(t, sql_refund_retry, 2, up) != 0)
                log_msg(LOG_ERROR, "payments: refund %s: attempt not counted", id);
            any_pending = true;
        } else {
            log_msg(LOG_WARN, "payments: refund %s of %s refused by Stripe: %ld %s %s", id,
                    tn->slug, serr.http_status, serr.type, serr.message);
            const char *up[] = {id, serr.message[0] ? serr.message : "Refused by Stripe"};
            json_t *after = json_pack("{s:s, s:s}", "status", "failed", "failure_message", up[1]);
            if (refund_write(t, m, sql_refund_refused, 2, up, after) != PAYMENTS_OK)
                log_msg(LOG_ERROR, "payments: refund %s: refusal not recorded", id);
            json_decref(after);
            snprintf(message, message_len,
                     "Stripe refused the refund (%s); the studio will settle it with you.",
                     serr.message[0] ? serr.message : "no reason given");
            any_failed = true;
        }
        json_decref(refund);
    }
    PQclear(r);
    if (n == 0)
        return "none";
    if (any_pending) {
        queue_retry(m, tn, booking_id, in_job);
        snprintf(message, message_len,
                 "Stripe could not be reached; the refund is recorded and will be sent "
                 "automatically.");
        return "pending";
    }
    return any_failed ? "failed" : "succeeded";
}

/* The job that sends a pending refund later; the job itself retries by failing instead. A
 * caller without a master connection gets one here: a pending refund must not be left
 * without its retry. */
static void queue_retry(struct db_conn *m, const struct tenant *tn, const char *booking_id,
                        bool in_job)
{
    if (in_job)
        return;
    struct db_conn *own = m ? NULL : db_acquire_master();
    struct db_conn *c = m ? m : own;
    json_t *payload = json_pack("{s:s, s:s}", "slug", tn->slug, "booking_id", booking_id);
    if (!c)
        json_decref(payload);
    if (!c || jobs_enqueue(c, PAYMENTS_JOB_REFUND, payload, PAYMENTS_REFUND_RETRY_SECONDS) != 0)
        log_msg(LOG_ERROR, "payments: refund retry for %s/%s not queued", tn->slug, booking_id);
    if (own)
        db_release(own);
}

void payments_refund_after_cancel(struct arena *a, const struct tenant *tn, struct db_conn *t,
                                  struct db_conn *m, const char *booking_id, json_t *refund)
{
    char message[512];
    const char *status =
        payments_refunds_send(a, tn, t, m, booking_id, false, message, sizeof(message));
    if (!json_is_object(refund))
        return;
    json_object_set_new(refund, "status", json_string(status));
    if (message[0])
        json_object_set_new(refund, "message", json_string(message));
}

/* ---- 3. the retry job --------------------------------------------------------------------- */

static const char sql_still_pending[] =
    "SELECT count(*) AS n FROM refunds WHERE booking_id = $1::uuid AND status = 'pending'"
    "   AND stripe_refund_id IS NULL AND idempotency_key IS NOT NULL";

/* Sends what is still pending; -1 (retried with the job's backoff) while Stripe is down. */
static int run_refund_job(json_t *payload, char *err, size_t errlen)
{
    const char *slug = json_string_value(json_object_get(payload, "slug"));
    const char *booking_id = json_string_value(json_object_get(payload, "booking_id"));
    if (!slug || !booking_id)
        return 0; /* nothing to do with a payload like that */
    if (!payments_configured()) {
        snprintf(err, errlen, "no STRIPE_SECRET_KEY in this process");
        return -1;
    }
    struct db_conn *m, *t;
    struct tenant tn;
    int open = tenant_job_open(slug, &m, &tn, &t, err, errlen);
    if (open != 0)
        return open == TENANT_JOB_NO_STUDIO ? 0 : -1; /* a studio gone has nothing to refund */
    struct arena *a = arena_new(4096);
    char message[512];
    int rc = 0;
    const char *p[] = {booking_id};
    PGresult *r = db_exec(t, sql_still_pending, 1, p, NULL);
    if (r && strcmp(db_get(r, 0, "n"), "0") != 0) {
        const char *status =
            payments_refunds_send(a, &tn, t, m, booking_id, true, message, sizeof(message));
        if (strcmp(status, "pending") == 0) {
            snprintf(err, errlen, "refund still pending: %s", message);
            rc = -1;
        }
    } else if (!r) {
        snprintf(err, errlen, "studio database error");
        rc = -1;
    }
    PQclear(r);
    arena_free(a);
    db_release(t);
    db_release(m);
    return rc;
}

/* ---- the booking's money as JSON ----------------------------------------------------------- */

static const char sql_money[] =
    "SELECT b.deposit_amount, b.paid_amount, b.currency, b.status, b.payment_flag, b.dispute_id,"
    "       to_char(b.disputed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    "         AS disputed_at,"
    "       (SELECT coalesce(sum(greatest(p.refunded_amount,"
    "                 coalesce((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id"
    "                            AND r.status = 'succeeded'), 0))), 0)"
    "          FROM payments p WHERE p.booking_id = b.id) AS refunded,"
    "       (SELECT coalesce(sum(r.amount), 0) FROM refunds r WHERE r.booking_id = b.id"
    "           AND r.status IN ('pending', 'requires_action')) AS refund_pending,"
    "       (SELECT coalesce(json_agg(json_build_object('id', r.id, 'amount', r.amount,"
    "                 'status', r.status, 'reason', r.reason, 'stripe_refund_id',"
    "                 r.stripe_refund_id, 'failure_message', r.failure_message,"
    "                 'created_at', to_char(r.created_at AT TIME ZONE 'UTC',"
    "                                       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
    "                 ORDER BY r.created_at, r.id), '[]')"
    "          FROM refunds r WHERE r.booking_id = b.id)::text AS refunds,"
    "       (SELECT coalesce(json_agg(json_build_object('id', p.id, 'status', p.status,"
    "                 'amount', p.amount, 'checkout_session_id', p.checkout_session_id,"
    "                 'payment_intent_id', p.payment_intent_id, 'stripe_account',"
    "                 p.stripe_account, 'application_fee_amount', p.application_fee_amount,"
    "                 'refunded_amount', p.refunded_amount, 'failure_message',"
    "                 p.failure_message, 'paid_at', to_char(p.paid_at AT TIME ZONE 'UTC',"
    "                                       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
    "                 ORDER BY p.created_at, p.id), '[]')"
    "          FROM payments p WHERE p.booking_id = b.id)::text AS payments"
    "  FROM bookings b WHERE b.id = $1::uuid";

static const char sql_online[] =
    "SELECT stripe_account_id IS NOT NULL AND charges_enabled AS online"
    "  FROM organizations WHERE id = $1::uuid";

/* Whether the studio can take a payment online now, and if not, what the customer reads. */
static bool online(const struct tenant *tn, const char **why)
{
    *why = "Online payment unavailable — contact the studio.";
    if (!payments_configured())
        return false;
    struct db_conn *m = db_acquire_master();
    if (!m)
        return false;
    const char *p[] = {tn->id};
    PGresult *r = db_exec(m, sql_online, 1, p, NULL);
    bool ok = r && PQntuples(r) == 1 && db_get(r, 0, "online")[0] == 't';
    PQclear(r);
    db_release(m);
    if (ok)
        *why = NULL;
    return ok;
}

static json_t *strip_refund(json_t *refunds)
{
    json_t *one;
    size_t i;
    json_array_foreach(refunds, i, one)
    {
        json_object_del(one, "stripe_refund_id");
        json_object_del(one, "failure_message");
    }
    return refunds;
}

void payments_booking_json(struct arena *a, const struct tenant *tn, struct db_conn *t,
                           const char *booking_id, bool staff, json_t *b)
{
    (void)a;
    const char *p[] = {booking_id};
    PGresult *r = db_exec(t, sql_money, 1, p, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        log_msg(LOG_ERROR, "payments: booking %s: money not readable", booking_id);
        json_object_set_new(b, "payment", json_null());
        return;
    }
    int64_t deposit = strtoll(db_get(r, 0, "deposit_amount"), NULL, 10);
    int64_t paid = strtoll(db_get(r, 0, "paid_amount"), NULL, 10);
    const char *status = db_get(r, 0, "status");
    bool active = strcmp(status, "pending") == 0 || strcmp(status, "confirmed") == 0;
    int64_t due = active && deposit > paid ? deposit - paid : 0;
    const char *why = NULL;
    bool can = due > 0 && online(tn, &why);
    json_t *pay = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:s?, s:s?, s:s?}", "deposit", (json_int_t)deposit,
        "paid", (json_int_t)paid, "refunded",
        (json_int_t)strtoll(db_get(r, 0, "refunded"), NULL, 10), "refund_pending",
        (json_int_t)strtoll(db_get(r, 0, "refund_pending"), NULL, 10), "due", (json_int_t)due,
        "currency", db_get(r, 0, "currency"), "online", can, "online_message", due > 0 ? why : NULL,
        "flag", db_get(r, 0, "payment_flag"), "disputed_at", db_get(r, 0, "disputed_at"));
    json_object_set_new(b, "payment", pay);
    json_t *refunds = json_loads(db_get(r, 0, "refunds"), 0, NULL);
    json_object_set_new(b, "refunds", staff ? refunds : strip_refund(refunds));
    if (staff) {
        json_object_set_new(b, "payments", json_loads(db_get(r, 0, "payments"), 0, NULL));
        const char *did = db_get(r, 0, "dispute_id");
        json_object_set_new(b, "dispute_id", did ? json_string(did) : json_null());
    }
    PQclear(r);
}
