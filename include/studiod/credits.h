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
};

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

extern const struct route credits_routes[];

#endif
