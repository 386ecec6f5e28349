/*
 * stripe.h — the Stripe API client (STRIPE_API_BASE, STRIPE_SECRET_KEY) and
 * webhook signature verification (Stripe-Signature).
 */
#ifndef STUDIOD_STRIPE_H
#define STUDIOD_STRIPE_H

#include <jansson.h>
#include <stddef.h>

struct arena;

/* The API version every request pins, so an account upgrade cannot change replies. */
#define STRIPE_API_VERSION "2024-06-20"
/* How far a webhook's timestamp may be from now, either way (Stripe's default). */
#define STRIPE_SIGNATURE_TOLERANCE_SECONDS 300L

/* One form field; the key already carries Stripe's brackets ("metadata[booking_id]"). */
struct stripe_param {
    const char *key;
    const char *value;
};

/* What went wrong with a request: Stripe's error object, or one of ours.
 * Our own codes: "not_configured", "idempotency_key_required", "invalid_argument",
 * "network_error", "invalid_response", "out_of_memory" (type "studiod_error"). */
struct stripe_error {
    long http_status; /* 0 when no HTTP reply arrived */
    char type[64];    /* api_error, card_error, idempotency_error, invalid_request_error, ... */
    char code[64];    /* e.g. resource_missing; may be empty for Stripe errors */
    char param[128];  /* the offending parameter, when Stripe names one */
    char message[512];
};

enum stripe_result {
    STRIPE_OK = 0,
    STRIPE_ERR_NOT_CONFIGURED = -1, /* STRIPE_SECRET_KEY is empty; nothing was sent */
    STRIPE_ERR_ARGUMENT = -2,       /* refused before sending (e.g. POST without idempotency key) */
    STRIPE_ERR_NETWORK = -3,        /* no HTTP reply (connect, timeout, TLS): worth a retry */
    STRIPE_ERR_API = -4,            /* Stripe answered non-2xx; err holds its error object */
    STRIPE_ERR_RESPONSE = -5,       /* a reply that is not a JSON object */
};

/* Sends method ("GET", "POST" or "DELETE") to STRIPE_API_BASE + path ("/v1/...").
 * POST params go form-encoded in the body, others in the query string. POST
 * requires idempotency_key; stripe_account (may be NULL) selects a connected
 * account. 0 with *out a new reference the caller json_decref()s, or a
 * negative enum stripe_result with err filled. Thread-safe. */
int stripe_request(struct arena *a, const char *method, const char *path,
                   const struct stripe_param *params, size_t nparams, const char *idempotency_key,
                   const char *stripe_account, json_t **out, struct stripe_error *err);

/* A bracketed key from its parts: ("line_items", "0", "price_data", NULL) gives
 * "line_items[0][price_data]". In the arena. */
char *stripe_key(struct arena *a, const char *root, ...) __attribute__((sentinel));

/* The params as application/x-www-form-urlencoded ("" when none), in the arena. */
char *stripe_form_encode(struct arena *a, const struct stripe_param *params, size_t nparams);

enum stripe_signature_result {
    STRIPE_SIG_OK = 0,
    STRIPE_SIG_NO_SECRET = -1,    /* secret NULL or empty: the endpoint is not configured */
    STRIPE_SIG_MALFORMED = -2,    /* header NULL/empty, an item without '=', a duplicate or
                                     non-numeric t, a v1 that is not 64 hex digits */
    STRIPE_SIG_NO_TIMESTAMP = -3, /* no t= item */
    STRIPE_SIG_NO_V1 = -4,        /* no v1= item (v0 and other schemes are ignored) */
    STRIPE_SIG_STALE = -5,        /* |now - t| > tolerance (replay, or a skewed clock) */
    STRIPE_SIG_MISMATCH = -6,     /* no v1 equals HMAC-SHA256(secret, "t.payload") */
};

/* Checks a Stripe-Signature header ("t=...,v1=...[,v1=...]") against the raw
 * payload. 0 when valid, else a negative enum stripe_signature_result. */
int stripe_verify_signature(const char *payload, size_t len, const char *header, const char *secret,
                            long now, long tolerance_seconds);
/* A short English reason for a stripe_verify_signature() result (for logs). */
const char *stripe_signature_reason(int result);

#endif
