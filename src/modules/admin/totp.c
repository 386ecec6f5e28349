/*
 * totp.c — time-based one-time passwords (RFC 6238 over RFC 4226 HOTP with
 * HMAC-SHA1, 30-second steps, 6 digits) and the base32 (RFC 4648) that
 * authenticator apps read seeds in.
 *
 * HMAC-SHA1 comes from OpenSSL: libsodium has no SHA-1, and SHA-1 is what
 * every authenticator app implements by default (HMAC-SHA1 is not weakened
 * by SHA-1's collision attacks).
 *
 * A code is accepted for the current step and ADMIN_TOTP_WINDOW steps either
 * side (clock drift). Replay protection needs state: the caller keeps the
 * last step it accepted, and a code matching only that step or earlier ones
 * is refused, so a code seen over someone's shoulder is worthless once used.
 * The caller must advance the stored step atomically (admin.c does it with a
 * conditional UPDATE).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "studiod/admin.h"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const uint32_t pow10_table[] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

static int b32_value(char c);
static bool keep_in_label(unsigned char c);

uint32_t admin_totp_code(const unsigned char *key, size_t keylen, uint64_t counter, int digits)
{
    unsigned char msg[8];
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), mac, &maclen) || maclen < 20)
        return UINT32_MAX; /* never a valid code: at most 9 digits */
    /* Dynamic truncation (RFC 4226 5.3). */
    unsigned off = mac[maclen - 1] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    if (digits < 1 || digits > 9)
        digits = ADMIN_TOTP_DIGITS;
    return bin % pow10_table[digits];
}

int64_t admin_totp_step(int64_t unix_time)
{
    if (unix_time < 0)
        return 0;
    return unix_time / ADMIN_TOTP_STEP_SECONDS;
}

int64_t admin_totp_check(const unsigned char *key, size_t keylen, const char *code,
                         int64_t unix_time, int64_t last_step)
{
    if (!code || strlen(code) != ADMIN_TOTP_DIGITS)
        return ADMIN_TOTP_WRONG;
    for (const char *p = code; *p; p++)
        if (*p < '0' || *p > '9')
            return ADMIN_TOTP_WRONG;
    /* Every step in the window is computed and compared, matched or not, so the time taken
     * says nothing about which step (if any) matched. */
    int64_t now = admin_totp_step(unix_time), best = -1;
    for (int64_t s = now - ADMIN_TOTP_WINDOW; s <= now + ADMIN_TOTP_WINDOW; s++) {
        if (s < 0)
            continue;
        char want[16];
        snprintf(want, sizeof(want), "%0*u", ADMIN_TOTP_DIGITS,
                 (unsigned)admin_totp_code(key, keylen, (uint64_t)s, ADMIN_TOTP_DIGITS));
        if (sodium_memcmp(want, code, ADMIN_TOTP_DIGITS) == 0 && s > best)
            best = s;
    }
    if (best < 0)
        return ADMIN_TOTP_WRONG;
    if (best <= last_step)
        return ADMIN_TOTP_REPLAY;
    return best;
}

char *admin_base32_encode(struct arena *a, const unsigned char *data, size_t len)
{
    char *out = arena_alloc(a, (len * 8 + 4) / 5 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return out;
}

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

long admin_base32_decode(const char *s, unsigned char *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s; s++) {
        if (*s == '=' || *s == ' ' || *s == '-')
            continue;
        int v = b32_value(*s);
        if (v < 0)
            return -1;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)((acc >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return (long)o;
}

/* RFC 3986 unreserved characters, and '@' which authenticator apps show as typed. */
static bool keep_in_label(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '@';
}

char *admin_totp_uri(struct arena *a, const char *issuer, const char *account,
                     const char *secret_b32)
{
    struct buf b;
    buf_init(&b, a);
    buf_printf(&b, "otpauth://totp/%s:", issuer);
    for (const unsigned char *p = (const unsigned char *)account; *p; p++) {
        if (keep_in_label(*p))
            buf_append(&b, (const char *)p, 1);
        else
            buf_printf(&b, "%%%02X", *p);
    }
    buf_printf(&b, "?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d", secret_b32, issuer,
               ADMIN_TOTP_DIGITS, ADMIN_TOTP_STEP_SECONDS);
    return arena_strdup(a, buf_cstr(&b));
}
