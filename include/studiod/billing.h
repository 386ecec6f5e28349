/*
 * billing.h — the platform's own subscriptions: plans, a studio's Stripe
 * subscription, usage against the plan's limits, read-only after the trial.
 * (src/modules/billing)
 *
 * Other modules call the billing_allow_* checks right before they make a
 * limited resource (a room, a staff seat, a booking). Each answers true, or
 * false after replying 402 plan_limit naming the limit (or, for a public
 * booking of a read-only studio, 402 booking_paused). The plan's limits come
 * with the cached tenant record (struct tenant), so an unlimited limit costs
 * no query: bookings are a hot path.
 */
#ifndef STUDIOD_BILLING_H
#define STUDIOD_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct db_conn;
struct stripe_param;

enum billing_status {
    BILLING_OK = 0,
    BILLING_INVALID = -1,         /* 422 invalid_input: unknown plan, bad period or "when" */
    BILLING_NO_SUBSCRIPTION = -2, /* 409 no_subscription: nothing to change or cancel */
    BILLING_SAME_PLAN = -3,       /* 409 already_on_plan */
    BILLING_WRONG_DIRECTION = -4, /* 409 wrong_direction: an upgrade that is not one, ... */
    BILLING_SUBSCRIBED = -5,      /* 409 already_subscribed: checkout while subscribed */
    BILLING_NO_CUSTOMER = -6,     /* 409 no_customer: the portal before any checkout */
    BILLING_STRIPE = -7,          /* 502 payment_provider_error: Stripe refused */
    BILLING_STRIPE_DOWN = -8,     /* 503 payment_provider_unavailable: no answer / 5xx */
    BILLING_UNAVAILABLE = -9,     /* 503 billing_unavailable: no STRIPE_SECRET_KEY */
    BILLING_DB = -10,             /* 503 database_unavailable */
    BILLING_BAD_SIGNATURE = -11,  /* 400 bad_signature (webhook) */
    BILLING_MALFORMED = -12,      /* 400 malformed (webhook) */
    BILLING_CARD = -13,           /* 402 payment_failed: the card was declined */
};

/* ---- limits, for the modules that make limited things ------------------------------------ */

/* Before a room is created on t: false after replying 402 plan_limit ("rooms"). */
bool billing_allow_room(struct request *req, struct db_conn *t);
/* Before a staff user is added: false after replying 402 plan_limit ("staff"). */
bool billing_allow_staff(struct request *req, struct db_conn *t);
/* Before an archived room / a deactivated staff user id is made active again (a PUT with
 * "active": true): false after replying 402 plan_limit when it is inactive now and the
 * plan's count is reached. */
bool billing_allow_room_back(struct request *req, struct db_conn *t, const char *room_id);
bool billing_allow_staff_back(struct request *req, struct db_conn *t, const char *user_id);
/* Before a booking is made (public or staff): false after replying 402 booking_paused
 * (public booking of a read-only studio) or 402 plan_limit ("bookings_per_month"). */
bool billing_allow_booking(struct request *req, struct db_conn *t);

extern const struct route billing_routes[];

/* ==== The module's own machinery, shared by billing.c, billing_routes.c and the unit
 * ==== tests. Other modules have no use for what follows. ================================= */

enum billing_change_kind {
    BILLING_CHANGE_SAME = 0,
    BILLING_CHANGE_UP = 1,
    BILLING_CHANGE_DOWN = -1,
};

/* Whether moving from (from_position, from_period) to (to_position, to_period) is an
 * upgrade, a downgrade or no change. Plans are ordered by plans.position; on the same plan,
 * monthly → yearly is an upgrade (paid up front) and yearly → monthly a downgrade. */
enum billing_change_kind billing_change_kind(int from_position, const char *from_period,
                                             int to_position, const char *to_period);

/* How a plan change is billed. */
enum billing_timing {
    BILLING_UPGRADE_NOW,   /* proration_behavior=always_invoice: the difference is charged now */
    BILLING_DOWNGRADE_NOW, /* create_prorations: the unused time is a credit on the next invoice */
    BILLING_DOWNGRADE_AT_PERIOD_END, /* none: the new price from the next period on */
};

/* The form fields of POST /v1/subscriptions/:id changing the subscription item item_id to
 * price_id, billed as timing says, prorated at proration_date (unix seconds; ignored
 * without proration), with metadata[plan_id]. Fills out (at least
 * BILLING_CHANGE_PARAMS_MAX entries) from a; returns how many. */
#define BILLING_CHANGE_PARAMS_MAX 8
size_t billing_change_params(struct arena *a, const char *item_id, const char *price_id,
                             const char *plan_id, enum billing_timing timing,
                             int64_t proration_date, struct stripe_param *out);

#endif
