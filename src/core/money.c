/*
 * money.c — the ISO 4217 table (active codes, minor-unit exponents).
 * Codes not listed have 2 decimals.
 */
#include "studiod/money.h"

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
