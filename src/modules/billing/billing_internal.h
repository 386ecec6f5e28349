/*
 * billing_internal.h — what billing_routes.c calls in billing.c. Every
 * function returns BILLING_OK or a negative enum billing_status (billing.h),
 * and its JSON *out is a new reference the caller owns.
 */
#ifndef STUDIOD_BILLING_INTERNAL_H
#define STUDIOD_BILLING_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "studiod/billing.h"

struct tenant;

enum billing_when {
    BILLING_WHEN_NOW,
    BILLING_WHEN_PERIOD_END,
};

/* {"plans": [...]}: the active plans in order, limits null when unlimited. */
int billing_plans_json(struct db_conn *m, json_t **out);
/* A Checkout Session (mode subscription) for plan_id/period; *out {"checkout_url",
 * "session_id"}. back_url: the billing page's absolute URL. */
int billing_checkout(struct request *req, struct db_conn *m, struct db_conn *t, const char *plan_id,
                     const char *period, const char *back_url, json_t **out);
/* Upgrade (up) or downgrade to plan_id (period NULL: the current one), now or at the
 * period's end (downgrades only); *out as billing_subscription_json. */
int billing_change(struct request *req, struct db_conn *m, struct db_conn *t, bool up,
                   const char *plan_id, const char *period, enum billing_when when, json_t **out);
/* Cancels at the period's end, or at once; *out as billing_subscription_json. */
int billing_cancel(struct request *req, struct db_conn *m, struct db_conn *t, bool immediately,
                   json_t **out);
/* A Customer Portal session; *url in req's arena. */
int billing_portal(struct request *req, struct db_conn *m, const char *return_url,
                   const char **url);
/* The studio's plan, status, trial end and subscription. */
int billing_subscription_json(struct request *req, struct db_conn *m, json_t **out);
/* Each limit: {"used", "allowed"} (allowed null = unlimited). */
int billing_usage_json(struct request *req, struct db_conn *m, struct db_conn *t, json_t **out);
/* One delivery of the billing webhook; *what (static): processed, duplicate, ignored. */
int billing_webhook(struct arena *a, struct db_conn *m, const char *payload, size_t len,
                    const char *signature, const char **what);

#endif
