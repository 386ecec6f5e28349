/*
 * billing.h — the platform's own subscriptions: plans, a studio's Stripe
 * subscription, usage against the plan's limits, read-only after the trial.
 * (src/modules/billing)
 */
#ifndef STUDIOD_BILLING_H
#define STUDIOD_BILLING_H

#include "studiod/http.h"

extern const struct route billing_routes[];

#endif
