/*
 * crypto.c — every use of randomness, hashing and password storage goes
 * through here, on libsodium.
 *
 * Passwords: argon2id via crypto_pwhash_str at the INTERACTIVE limits
 * (2 passes, 64 MiB), the setting libsodium recommends for online logins.
 * Session and other bearer tokens are 32 random bytes; only their SHA-256
 * is stored, so a database leak gives no usable session.
 */
#include "studiod/crypto.h"

#include <sodium.h>
#include <string.h>

static char dummy_hash[crypto_pwhash_STRBYTES];

int crypto_init(void)
{
    if (sodium_init() < 0)
        return -1;
    if (!dummy_hash[0] &&
        crypto_pwhash_str(dummy_hash, "studiod-dummy-password", 22, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -1;
    return 0;
}

char *crypto_token(struct arena *a, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof(raw))
        nbytes = sizeof(raw);
    randombytes_buf(raw, nbytes);
    size_t len = sodium_base64_encoded_len(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = arena_alloc(a, len);
    sodium_bin2base64(out, len, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

char *crypto_sha256_hex(struct arena *a, const char *s, size_t len)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, len);
    char *out = arena_alloc(a, sizeof(h) * 2 + 1);
    sodium_bin2hex(out, sizeof(h) * 2 + 1, h, sizeof(h));
    return out;
}

bool crypto_streq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    /* Compare the hashes: equal length, constant time, and no length leak via early exit. */
    unsigned char ha[crypto_hash_sha256_BYTES], hb[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(ha, (const unsigned char *)a, la);
    crypto_hash_sha256(hb, (const unsigned char *)b, lb);
    return sodium_memcmp(ha, hb, sizeof(ha)) == 0 && la == lb;
}

char *crypto_password_hash(struct arena *a, const char *password)
{
    char *out = arena_alloc(a, crypto_pwhash_STRBYTES);
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return NULL;
    return out;
}

bool crypto_password_verify(const char *hash, const char *password)
{
    if (!hash || !password)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void crypto_password_burn(const char *password)
{
    (void)crypto_password_verify(dummy_hash, password ? password : "");
}

char *crypto_ref(struct arena *a, size_t n)
{
    /* 31 symbols: digits and upper-case letters without 0 O 1 I L. Rejection
     * sampling keeps the distribution uniform. */
    static const char alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    const unsigned k = sizeof(alphabet) - 1;
    char *out = arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[randombytes_uniform(k)];
    return out;
}
