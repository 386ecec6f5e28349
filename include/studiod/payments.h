/*
 * payments.h — customers paying a booking's deposit online through Stripe
 * Checkout, and the Stripe webhook that records the money.
 *
 * The flow: create-payment makes a Checkout Session for the deposit (one
 * Idempotency-Key per booking and deposit amount, so a retried click gets
 * the same session) and records a payments row (status open); Stripe sends
 * checkout.session.completed to the webhook, which marks the row paid, adds
 * the amount to bookings.paid_amount and confirms a pending booking when
 * the studio auto-confirms. Each event id is recorded once in the master
 * database (stripe_events); the tenant change is idempotent by itself too
 * (a paid row is never paid twice), so a replay changes nothing.
 */
#ifndef STUDIOD_PAYMENTS_H
#define STUDIOD_PAYMENTS_H

#include <jansson.h>
#include <stddef.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct db_conn;
struct tenant;

enum payments_status {
    PAYMENTS_OK = 0,
    PAYMENTS_UNAVAILABLE = -1,   /* 422 payments_unavailable: STRIPE_SECRET_KEY not set */
    PAYMENTS_NOT_FOUND = -2,     /* 404: no booking with this ref */
    PAYMENTS_BAD_TOKEN = -3,     /* 403 invalid_token */
    PAYMENTS_WRONG_STATE = -4,   /* 409: paid already, nothing due, cancelled or expired */
    PAYMENTS_STRIPE = -5,        /* 502: Stripe refused or did not answer */
    PAYMENTS_DB = -6,            /* 503 */
    PAYMENTS_BAD_SIGNATURE = -7, /* 400 bad_signature: the webhook is not Stripe's */
    PAYMENTS_MALFORMED = -8,     /* 400: the event is not JSON of Stripe's shape */
};

/* Creates (or, on a retry, gets again) the Checkout Session paying booking ref's deposit,
 * after checking the manage token; records the payment. return_url is where Stripe sends
 * the customer back (the public booking page, with its token). *out: {"checkout_url",
 * "session_id"}. */
int payments_checkout(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct request *req, const char *ref, const char *token,
                      const char *return_url, json_t **out);

/* Handles one webhook delivery: payload is the raw body, signature the Stripe-Signature
 * header. PAYMENTS_OK also for a replay and for event types we ignore; *what (static)
 * says which: "processed", "duplicate" or "ignored". */
int payments_webhook(struct arena *a, struct db_conn *m, const char *payload, size_t len,
                     const char *signature, const char **what);

/* Replies for a non-OK payments_* result, in the one error shape. */
void payments_reply_error(struct request *req, int rc);

extern const struct route payments_routes[];

#endif
