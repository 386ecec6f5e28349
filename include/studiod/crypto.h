/*
 * crypto.h — tokens, hashes and password storage on libsodium.
 */
#ifndef STUDIOD_CRYPTO_H
#define STUDIOD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "studiod/arena.h"

/* Must be called once before any other function here. Returns 0 or -1. */
int crypto_init(void);
/* A random token of nbytes bytes, URL-safe base64 without padding. */
char *crypto_token(struct arena *a, size_t nbytes);
/* Lower-case hex of SHA-256(s). */
char *crypto_sha256_hex(struct arena *a, const char *s, size_t len);
/* Constant-time string equality (lengths compared without early exit on content). */
bool crypto_streq(const char *a, const char *b);
/* argon2id hash string for password (crypto_pwhash_str); NULL on failure. */
char *crypto_password_hash(struct arena *a, const char *password);
/* True when password matches hash. Takes the same time whether or not it matches. */
bool crypto_password_verify(const char *hash, const char *password);
/* Verifies against a fixed dummy hash, so unknown accounts cost as much as known ones. */
void crypto_password_burn(const char *password);
/* Random id text: n characters of an unambiguous alphabet (no 0/O, 1/I/L). */
char *crypto_ref(struct arena *a, size_t n);

#endif
