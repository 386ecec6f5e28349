/*
 * money.h — ISO 4217 currencies. Amounts are int64 counts of a currency's
 * minor unit; this module knows how many decimals each currency has.
 */
#ifndef STUDIOD_MONEY_H
#define STUDIOD_MONEY_H

#include <stdint.h>

#include "studiod/arena.h"

/* The number of decimals of an ISO 4217 code (EUR 2, JPY 0, KWD 3), or -1 if unknown. */
int money_exponent(const char *code);
/* amount * num / den rounded half to even: the one rounding every conversion,
 * percentage and pro-rata goes through. den must be > 0. Saturates at INT64 limits. */
int64_t money_scale(int64_t amount, int64_t num, int64_t den);
/* Formats minor units for people: money_format(a, 123456, "EUR") = "1234.56 EUR". */
char *money_format(struct arena *a, int64_t amount, const char *code);

#endif
