/*
 * payments.h — the money of a studio's bookings, through Stripe: the
 * studio's own Stripe account (Connect, Express), customers paying a
 * booking's deposit with Checkout into that account, refunds when a paid
 * booking is cancelled, and the webhook that records what Stripe says.
 *
 * Decisions (the why is in the .c files' header comments):
 *   - Deposits go to the studio's connected account only (direct charges:
 *     Stripe-Account header, the plan's application fee). There is no
 *     fallback to the platform's account: a studio without a connected
 *     account whose charges are enabled answers 422 payments_unavailable,
 *     and so does a server without STRIPE_SECRET_KEY.
 *   - A Checkout Session is created with the Idempotency-Key
 *     "booking-<id>-deposit-<amount>"; a connected account once per
 *     organization ("org-<id>-connect-account").
 *   - Webhook events are recorded once (master stripe_events) and every
 *     change they make is idempotent and order-independent by itself
 *     (status ranks, amounts that only grow, "created" times), so duplicates
 *     and reordering end in the same state. Connect events are routed to the
 *     studio by their top-level "account"; an event whose account and
 *     metadata name different studios is ignored.
 *   - Refund on cancel: the refund is decided and written 'pending' in the
 *     cancellation's own transaction, then sent to Stripe after the commit
 *     with an Idempotency-Key derived from the booking and payment; Stripe
 *     trouble leaves it pending and a job retries it (a refusal marks it
 *     failed for staff to see). The cancellation itself never waits on
 *     Stripe's verdict.
 */
#ifndef STUDIOD_PAYMENTS_H
#define STUDIOD_PAYMENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/http.h"
#include "studiod/jobs.h"

struct db_conn;
struct tenant;

enum payments_status {
    PAYMENTS_OK = 0,
    PAYMENTS_UNAVAILABLE = -1,   /* 422 payments_unavailable: STRIPE_SECRET_KEY not set */
    PAYMENTS_NOT_FOUND = -2,     /* 404: no booking with this ref */
    PAYMENTS_BAD_TOKEN = -3,     /* 403 invalid_token */
    PAYMENTS_WRONG_STATE = -4,   /* 409: paid already, nothing due, cancelled or expired */
    PAYMENTS_STRIPE = -5,        /* 502: Stripe refused the request */
    PAYMENTS_DB = -6,            /* 503 */
    PAYMENTS_BAD_SIGNATURE = -7, /* 400 bad_signature: the webhook is not Stripe's */
    PAYMENTS_MALFORMED = -8,     /* 400: the event is not JSON of Stripe's shape */
    PAYMENTS_NOT_CONNECTED = -9, /* 422 payments_unavailable: the studio cannot take payments */
    PAYMENTS_STRIPE_DOWN = -10,  /* 503: Stripe did not answer (network, timeout) */
    PAYMENTS_INVALID = -11,      /* 422 invalid_input, with fields */
};

/* True when STRIPE_SECRET_KEY is set. */
bool payments_configured(void);
/* Creates (or, on a retry, gets again) the Checkout Session paying booking ref's deposit
 * into the studio's connected account, after checking the manage token; records the
 * payment. m is the master database (the studio's account and plan). return_url is where
 * Stripe sends the customer back (the public booking page, with its token). *out:
 * {"checkout_url", "session_id"}. */
int payments_checkout(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct db_conn *m, struct request *req, const char *ref, const char *token,
                      const char *return_url, json_t **out);

/* Handles one webhook delivery: payload is the raw body, signature the Stripe-Signature
 * header. PAYMENTS_OK also for a replay and for event types we ignore; *what (static)
 * says which: "processed", "duplicate" or "ignored". */
int payments_webhook(struct arena *a, struct db_conn *m, const char *payload, size_t len,
                     const char *signature, const char **what);

/* Connect: makes the studio's Express account once (country: ISO 3166 alpha-2 or NULL for
 * the platform's), then an onboarding link back to studio_url/app/payments. *out:
 * {"account_id", "url", "created"}. */
int payments_connect(struct arena *a, const struct tenant *tn, struct db_conn *m, struct db_conn *t,
                     struct request *req, const char *country, const char *studio_url, json_t **out,
                     json_t **fields);
/* The studio's payment standing: {"configured", "connected", "account_id",
 * "charges_enabled", "payouts_enabled", "details_submitted", "can_take_payments",
 * "plan": {"id","name","application_fee_bps"}}. refresh: read the account from Stripe
 * first (after onboarding, before the webhook arrives). */
int payments_status(struct arena *a, const struct tenant *tn, struct db_conn *m, bool refresh,
                    json_t **out);

/* For booking_cancel, inside its transaction on t (the booking row locked): writes the
 * refunds of amount (minor units) owed on the booking's Stripe payments as 'pending', the
 * largest share first. Nothing when amount is 0 or nothing was paid through Stripe.
 * PAYMENTS_OK or PAYMENTS_DB (the caller rolls back). */
int payments_refund_prepare(struct db_conn *t, const char *booking_id, int64_t amount);
/* For booking_cancel, after its commit: sends the booking's pending refunds to Stripe and
 * adds to refund (the cancel reply's refund object) "status" (none, succeeded, pending,
 * failed) and, unless succeeded or none, "message". */
void payments_refund_after_cancel(struct arena *a, const struct tenant *tn, struct db_conn *t,
                                  struct db_conn *m, const char *booking_id, json_t *refund);
/* Adds the booking's money to its JSON (b): "payment" {"deposit", "paid", "refunded",
 * "refund_pending", "due", "currency", "online", "online_message", "flag", "disputed_at"}
 * and "refunds" [...]; staff also get "payments" [...] and "dispute_id". On a database
 * failure "payment" is null (logged). */
void payments_booking_json(struct arena *a, const struct tenant *tn, struct db_conn *t,
                           const char *booking_id, bool staff, json_t *b);

/* ---- pure rules (unit-tested) ----------------------------------------------------------- */

/* The platform's application fee on amount: amount * bps / 10000, rounded half-even
 * (money_scale). bps outside 0..10000 gives 0. */
int64_t payments_application_fee(int64_t amount, int bps);
/* Splits a refund of amount over n payments that can each still give back refundable[i]:
 * the largest first (ties: the earlier one); out[i] the share of payment i. Returns what
 * was placed (less than amount when the payments cannot cover it). */
int64_t payments_refund_split(int64_t amount, const int64_t *refundable, int n, int64_t *out);
/* The order of statuses a payment moves through, whatever order the events come in:
 * open < failed < expired < paid. -1 for an unknown status. */
int payments_status_rank(const char *status);
/* The same for refunds: pending < requires_action < succeeded < failed = canceled. */
int payments_refund_rank(const char *status);

/* Replies for a non-OK payments_* result, in the one error shape (fields stolen). */
void payments_reply_error(struct request *req, int rc, json_t *fields);

/* Job kinds: "payments_refund_send" {"slug", "booking_id"}. */
extern const struct job_kind payments_job_kinds[];

extern const struct route payments_routes[];

#endif
