/*
 * credits_routes.c — /api/billing/credits...: balance, packs, purchase,
 * history. (Being built.)
 */
#include "studiod/credits.h"

const struct route credits_routes[] = {
    {0},
};
