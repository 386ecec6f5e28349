/*
 * money.h — ISO 4217 currencies. Amounts are int64 counts of a currency's
 * minor unit; this module knows how many decimals each currency has.
 */
#ifndef STUDIOD_MONEY_H
#define STUDIOD_MONEY_H

/* The number of decimals of an ISO 4217 code (EUR 2, JPY 0, KWD 3), or -1 if unknown. */
int money_exponent(const char *code);

#endif
