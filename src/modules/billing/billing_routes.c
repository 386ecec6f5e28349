/*
 * billing_routes.c — /api/billing/...: plans, checkout, subscription, usage,
 * and the billing webhook. (Being built.)
 */
#include "studiod/billing.h"

const struct route billing_routes[] = {
    {0},
};
