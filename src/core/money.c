/*
 * money.c — the ISO 4217 table (active codes, minor-unit exponents).
 * Codes not listed have 2 decimals.
 */
#include "studiod/money.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char codes[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY "
    "KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP "
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR "
    "RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
    "TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW "
    "ZWL ";
static const char zero_decimals[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF ";
static const char three_decimals[] = "BHD IQD JOD KWD LYD OMR TND ";

static int listed(const char *list, const char *code);

static int listed(const char *list, const char *code)
{
    for (const char *p = list; *p; p += 4)
        if (memcmp(p, code, 3) == 0)
            return 1;
    return 0;
}

int money_exponent(const char *code)
{
    if (!code || strlen(code) != 3)
        return -1;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return -1;
    if (!listed(codes, code))
        return -1;
    if (listed(zero_decimals, code))
        return 0;
    if (listed(three_decimals, code))
        return 3;
    return 2;
}

int64_t money_scale(int64_t amount, int64_t num, int64_t den)
{
    __int128 p = (__int128)amount * num;
    __int128 q = p / den, r = p % den;
    if (r < 0) { /* make the remainder non-negative: floor division */
        r += den;
        q -= 1;
    }
    __int128 twice = r * 2;
    if (twice > den || (twice == den && (q & 1)))
        q += 1;
    if (q > INT64_MAX)
        return INT64_MAX;
    if (q < INT64_MIN)
        return INT64_MIN;
    return (int64_t)q;
}

char *money_format(struct arena *a, int64_t amount, const char *code)
{
    int e = money_exponent(code);
    if (e <= 0)
        return arena_printf(a, "%" PRId64 " %s", amount, code ? code : "");
    int64_t unit = e == 3 ? 1000 : 100;
    const char *sign = amount < 0 ? "-" : "";
    uint64_t abs_amount = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    return arena_printf(a, "%s%" PRIu64 ".%0*" PRIu64 " %s", sign, abs_amount / (uint64_t)unit, e,
                        abs_amount % (uint64_t)unit, code);
}
