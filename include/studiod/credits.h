/*
 * credits.h — AI credits: an append-only ledger per studio in the master
 * database, bought in packs through Stripe Checkout and granted monthly by
 * the plan. The balance never goes below zero, even with concurrent spenders.
 */
#ifndef STUDIOD_CREDITS_H
#define STUDIOD_CREDITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct db_conn;

enum credits_status {
    CREDITS_OK = 0,
    CREDITS_INSUFFICIENT = -1, /* 402 insufficient_credits: the balance is smaller than n */
    CREDITS_INVALID = -2,      /* 422: n <= 0, empty reason, unknown pack */
    CREDITS_DB = -3,           /* 503 */
    CREDITS_NOT_FOUND = -4,    /* 404: no such organization */
    CREDITS_STRIPE = -5,       /* 502: Stripe refused the request (an error object) */
    CREDITS_STRIPE_DOWN = -6,  /* 503: Stripe did not answer (network, timeout) */
    CREDITS_UNAVAILABLE =
        -7,               /* 422 payments_unavailable (as payments): STRIPE_SECRET_KEY not set */
    CREDITS_BAD_KEY = -8, /* 422: the caller's Idempotency-Key is not one we accept */
};

#define CREDITS_HISTORY_DEFAULT_LIMIT 20
#define CREDITS_HISTORY_MAX_LIMIT 100
#define CREDITS_IDEMPOTENCY_KEY_MAX 64 /* the caller's part of ours: [A-Za-z0-9_.:-] */
/* The studio's audit entry for a purchase started by staff. */
#define CREDITS_AUDIT_ACTION "credits_purchase"
#define CREDITS_AUDIT_RESOURCE "billing"

/* Spends n credits of organization org_id (uuid text) for reason (e.g. "ai.chat"),
 * atomically: CREDITS_OK with *balance_after set (may be NULL), or
 * CREDITS_INSUFFICIENT and nothing written. m: a master connection, not in a
 * transaction. For the AI assistant. */
int credits_spend(struct db_conn *m, const char *org_id, int64_t n, const char *reason,
                  int64_t *balance_after);

/* Called by the billing webhook (src/modules/billing) for a
 * checkout.session.completed whose metadata.kind is "credits": grants the
 * pack's credits once per Checkout Session (a replay grants nothing). session
 * is the event's data.object. 0 when granted or already granted, else a
 * negative enum credits_status (the webhook then answers 5xx so Stripe
 * retries). Also 0, after logging a warning and granting nothing, for what a
 * retry could not fix: a session that is not paid (payment_status other than
 * "paid"), malformed metadata, an unknown pack or studio, or an amount or
 * currency that differs from the pack's. m: a master connection, not in a
 * transaction. a is unused (kept for the contract). */
int credits_apply_checkout(struct arena *a, struct db_conn *m, json_t *session);

/* True when s is a uuid in its 36-character text form. */
bool credits_valid_uuid(const char *s);

/* {"balance", "allowance_balance", "purchased_balance", "monthly_allowance",
 * "used_this_month", "month" (YYYY-MM, the studio's zone), "allowance_expires_at"}
 * (RFC 3339, UTC: when what is left of the allowance expires). Grants the month's
 * allowance first if this is its first read. m: not in a transaction. */
int credits_summary(struct db_conn *m, const char *org_id, json_t **out);
/* {"packs": [{"id", "name", "credits", "amount", "currency"}]}: the active packs. */
int credits_packs(struct db_conn *m, json_t **out);
/* {"entries": [newest first: {"id", "kind", "delta", "delta_allowance",
 * "delta_purchased", "reason", "month", "created_at", purchases also "pack_id", "amount",
 * "currency"}], "total", "limit", "offset"}. limit 1..CREDITS_HISTORY_MAX_LIMIT, offset
 * >= 0, else CREDITS_INVALID. */
int credits_history(struct db_conn *m, const char *org_id, long limit, long offset, json_t **out);
/* Starts buying pack_id for org_id: a Checkout Session (mode payment) on the platform's
 * Stripe account, metadata kind=credits, organization_id, pack_id; Idempotency-Key
 * "credits-<org>-<pack>-<client_key>" (client_key: the caller's Idempotency-Key header,
 * or NULL for a random one). return_url: the page Stripe sends the buyer back to. On
 * success the start is audited in the studio's log (t, req) and *out is
 * {"checkout_url", "session_id"}. CREDITS_INVALID for an unknown or retired pack. */
int credits_purchase(struct arena *a, struct db_conn *m, struct db_conn *t, struct request *req,
                     const char *org_id, const char *pack_id, const char *client_key,
                     const char *return_url, json_t **out);

/* Called by the billing webhook when a credits purchase's money goes back: charge.refunded
 * (refunded = the charge's amount_refunded so far, minor units) or charge.dispute.created
 * (refunded = the disputed amount). Takes back the purchased credits that money stood for
 * (pro rata, less what was taken back for this payment before, so a repeated or reordered
 * event takes nothing twice), at most what is left of the purchased balance: credits
 * already spent stay spent and the balance never goes below zero (the entry's reason says
 * how many could not be taken back). A payment that is not a credits purchase: nothing,
 * CREDITS_OK. why: "Refunded" or "Disputed" (1-120 characters). */
int credits_apply_refund(struct db_conn *m, const char *payment_intent, int64_t refunded,
                         const char *why);

extern const struct route credits_routes[];

#endif
