/*
 * test_stripe.c — the Stripe client (src/clients/stripe.c) without Stripe:
 * webhook signatures checked against HMAC-SHA256 computed here with
 * OpenSSL (not libsodium, so the test does not mirror the code), the
 * tolerance either side of now, every malformed header refused; the form
 * encoding of bracketed keys and special characters; and the refusals that
 * happen before any network call (no secret key, POST without an
 * Idempotency-Key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "studiod/arena.h"
#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/stripe.h"

#define SECRET "whsec_test_0123456789abcdef"
#define NOW 1718000000L
#define TOLERANCE STRIPE_SIGNATURE_TOLERANCE_SECONDS
/* Nothing listens on port 1: a request that did go out would fail as network_error. */
#define UNREACHABLE_BASE "http://127.0.0.1:1"

static const char payload[] = "{\"id\":\"evt_1\",\"type\":\"checkout.session.completed\"}";

/* Lower-case hex HMAC-SHA256(secret, "<t>.<body>") into out[65], via OpenSSL. */
static void sign(const char *secret, long t, const char *body, size_t len, char out[65])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "%ld.", t);
    unsigned char msg[512], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    assert_true((size_t)plen + len <= sizeof(msg));
    memcpy(msg, prefix, (size_t)plen);
    memcpy(msg + plen, body, len);
    assert_non_null(
        HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, (size_t)plen + len, mac, &maclen));
    assert_int_equal(maclen, 32);
    for (unsigned i = 0; i < maclen; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static int verify(const char *header)
{
    return stripe_verify_signature(payload, strlen(payload), header, SECRET, NOW, TOLERANCE);
}

static void test_signature_signed_with_the_secret_is_valid(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign(SECRET, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_OK);
    /* Order does not matter, and a v0 alongside is ignored. */
    snprintf(header, sizeof(header), "v1=%s,v0=abc,t=%ld", sig, NOW);
    assert_int_equal(verify(header), STRIPE_SIG_OK);
}

static void test_signature_with_another_secret_is_a_mismatch(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign("whsec_someone_else", NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MISMATCH);
}

static void test_tampered_payload_is_a_mismatch(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign(SECRET, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    const char tampered[] = "{\"id\":\"evt_1\",\"type\":\"checkout.session.expired\"}";
    assert_int_equal(
        stripe_verify_signature(tampered, strlen(tampered), header, SECRET, NOW, TOLERANCE),
        STRIPE_SIG_MISMATCH);
    /* Only the first len bytes are signed: one byte fewer is another payload. */
    assert_int_equal(
        stripe_verify_signature(payload, strlen(payload) - 1, header, SECRET, NOW, TOLERANCE),
        STRIPE_SIG_MISMATCH);
}

static void test_timestamp_is_part_of_what_is_signed(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign(SECRET, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW + 1, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MISMATCH);
}

static void test_second_v1_matching_is_valid(void **state)
{
    (void)state;
    char old_sig[65], sig[65], header[256];
    sign("whsec_rolled_over", NOW, payload, strlen(payload), old_sig);
    sign(SECRET, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s,v1=%s", NOW, old_sig, sig);
    assert_int_equal(verify(header), STRIPE_SIG_OK);
}

static void test_upper_case_hex_signature_is_accepted(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign(SECRET, NOW, payload, strlen(payload), sig);
    for (char *p = sig; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_OK);
}

static void test_secret_longer_than_a_block_is_used_as_is(void **state)
{
    (void)state;
    const char *long_secret = "whsec_"
                              "0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef";
    char sig[65], header[128];
    sign(long_secret, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    assert_int_equal(
        stripe_verify_signature(payload, strlen(payload), header, long_secret, NOW, TOLERANCE),
        STRIPE_SIG_OK);
}

static void test_payload_with_a_nul_byte_is_signed_to_its_length(void **state)
{
    (void)state;
    const char body[] = "a\0b";
    char sig[65], header[128];
    sign(SECRET, NOW, body, 3, sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    assert_int_equal(stripe_verify_signature(body, 3, header, SECRET, NOW, TOLERANCE),
                     STRIPE_SIG_OK);
}

static void test_v0_only_is_rejected(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign(SECRET, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v0=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_NO_V1);
}

static void test_timestamp_301_seconds_old_is_stale(void **state)
{
    (void)state;
    char sig[65], header[128];
    long t = NOW - 301;
    sign(SECRET, t, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", t, sig);
    assert_int_equal(verify(header), STRIPE_SIG_STALE);
    /* Exactly at the tolerance is still accepted. */
    t = NOW - 300;
    sign(SECRET, t, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", t, sig);
    assert_int_equal(verify(header), STRIPE_SIG_OK);
}

static void test_timestamp_beyond_tolerance_in_the_future_is_stale(void **state)
{
    (void)state;
    char sig[65], header[128];
    long t = NOW + 301;
    sign(SECRET, t, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", t, sig);
    assert_int_equal(verify(header), STRIPE_SIG_STALE);
}

static void test_malformed_headers_are_rejected(void **state)
{
    (void)state;
    char sig[65], header[256];
    sign(SECRET, NOW, payload, strlen(payload), sig);

    snprintf(header, sizeof(header), "v1=%s", sig);
    assert_int_equal(verify(header), STRIPE_SIG_NO_TIMESTAMP);
    snprintf(header, sizeof(header), "t=%ld", NOW);
    assert_int_equal(verify(header), STRIPE_SIG_NO_V1);
    assert_int_equal(verify(""), STRIPE_SIG_MALFORMED);
    assert_int_equal(verify(NULL), STRIPE_SIG_MALFORMED);

    /* Non-hex, short and long v1. */
    char bad[65];
    memcpy(bad, sig, sizeof(bad));
    bad[10] = 'g';
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, bad);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ld,v1=%.62s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ld,v1=%s00", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ld,v1=", NOW);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);

    /* Timestamps that are not plain digits, or come twice. */
    snprintf(header, sizeof(header), "t=-%ld,v1=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ldx,v1=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=,v1=%s", sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ld,t=%ld,v1=%s", NOW, NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=99999999999999999999,v1=%s", sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);

    /* Items without '=' and empty items. */
    assert_int_equal(verify("garbage"), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ld,,v1=%s", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
    snprintf(header, sizeof(header), "t=%ld,v1=%s,", NOW, sig);
    assert_int_equal(verify(header), STRIPE_SIG_MALFORMED);
}

static void test_empty_secret_is_not_configured(void **state)
{
    (void)state;
    char sig[65], header[128];
    sign(SECRET, NOW, payload, strlen(payload), sig);
    snprintf(header, sizeof(header), "t=%ld,v1=%s", NOW, sig);
    assert_int_equal(stripe_verify_signature(payload, strlen(payload), header, "", NOW, TOLERANCE),
                     STRIPE_SIG_NO_SECRET);
    assert_int_equal(
        stripe_verify_signature(payload, strlen(payload), header, NULL, NOW, TOLERANCE),
        STRIPE_SIG_NO_SECRET);
    assert_string_equal(stripe_signature_reason(STRIPE_SIG_STALE),
                        "Stripe-Signature timestamp outside the tolerance");
}

static void test_form_encodes_bracketed_keys_and_special_characters(void **state)
{
    struct arena *a = *state;
    const struct stripe_param params[] = {
        {stripe_key(a, "line_items", "0", "price_data", "currency", NULL), "chf"},
        {"metadata[note]", "a b&c=d+e[f]/ü"},
        {"mode", "payment"},
        {"empty", ""},
    };
    assert_string_equal(params[0].key, "line_items[0][price_data][currency]");
    assert_string_equal(stripe_form_encode(a, params, 4),
                        "line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=chf"
                        "&metadata%5Bnote%5D=a+b%26c%3Dd%2Be%5Bf%5D%2F%C3%BC"
                        "&mode=payment"
                        "&empty=");
    assert_string_equal(stripe_form_encode(a, NULL, 0), "");
    assert_string_equal(stripe_form_encode(a, params + 2, 1), "mode=payment");
    assert_string_equal(stripe_key(a, "customer", NULL), "customer");
    assert_string_equal(stripe_form_encode(a, &(struct stripe_param){"k", "-._*~"}, 1),
                        "k=-._*%7E");
}

static void test_request_without_secret_key_is_not_configured(void **state)
{
    struct arena *a = *state;
    g_config.stripe_api_base = UNREACHABLE_BASE;
    g_config.stripe_secret_key = "";
    json_t *out = (json_t *)1;
    struct stripe_error err;
    const struct stripe_param p[] = {{"mode", "payment"}};
    assert_int_equal(
        stripe_request(a, "POST", "/v1/checkout/sessions", p, 1, "idem-1", NULL, &out, &err),
        STRIPE_ERR_NOT_CONFIGURED);
    assert_null(out);
    assert_string_equal(err.code, "not_configured");
    assert_int_equal(err.http_status, 0);

    g_config.stripe_secret_key = NULL;
    assert_int_equal(stripe_request(a, "GET", "/v1/balance", NULL, 0, NULL, NULL, &out, &err),
                     STRIPE_ERR_NOT_CONFIGURED);
    assert_string_equal(err.code, "not_configured");
}

static void test_post_without_idempotency_key_is_refused(void **state)
{
    struct arena *a = *state;
    g_config.stripe_api_base = UNREACHABLE_BASE;
    g_config.stripe_secret_key = "sk_test_123";
    json_t *out = NULL;
    struct stripe_error err;
    const struct stripe_param p[] = {{"mode", "payment"}};
    assert_int_equal(
        stripe_request(a, "POST", "/v1/checkout/sessions", p, 1, NULL, "acct_1", &out, &err),
        STRIPE_ERR_ARGUMENT);
    assert_string_equal(err.code, "idempotency_key_required");
    assert_int_equal(stripe_request(a, "POST", "/v1/checkout/sessions", p, 1, "", NULL, &out, &err),
                     STRIPE_ERR_ARGUMENT);
    assert_string_equal(err.code, "idempotency_key_required");
    assert_null(out);
}

static void test_header_injection_and_odd_paths_are_refused(void **state)
{
    struct arena *a = *state;
    g_config.stripe_api_base = UNREACHABLE_BASE;
    g_config.stripe_secret_key = "sk_test_123";
    json_t *out = NULL;
    struct stripe_error err;
    assert_int_equal(
        stripe_request(a, "POST", "/v1/refunds", NULL, 0, "k\r\nX-Evil: 1", NULL, &out, &err),
        STRIPE_ERR_ARGUMENT);
    assert_string_equal(err.code, "invalid_argument");
    assert_int_equal(
        stripe_request(a, "GET", "/v1/accounts", NULL, 0, NULL, "acct_1\nX: y", &out, &err),
        STRIPE_ERR_ARGUMENT);
    assert_int_equal(stripe_request(a, "GET", "//evil.example/v1", NULL, 0, NULL, NULL, &out, &err),
                     STRIPE_ERR_ARGUMENT);
    assert_int_equal(stripe_request(a, "GET", "v1/balance", NULL, 0, NULL, NULL, &out, &err),
                     STRIPE_ERR_ARGUMENT);
    assert_int_equal(stripe_request(a, "PATCH", "/v1/balance", NULL, 0, NULL, NULL, &out, &err),
                     STRIPE_ERR_ARGUMENT);
    assert_null(out);
}

/* Each test's arena, in *state: made before the test, freed after it. */
static int arena_setup(void **state)
{
    *state = arena_new(0);
    return 0;
}

static int arena_teardown(void **state)
{
    arena_free(*state);
    return 0;
}

#define ARENA_TEST(f) cmocka_unit_test_setup_teardown(f, arena_setup, arena_teardown)

int main(void)
{
    if (crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_signed_with_the_secret_is_valid),
        cmocka_unit_test(test_signature_with_another_secret_is_a_mismatch),
        cmocka_unit_test(test_tampered_payload_is_a_mismatch),
        cmocka_unit_test(test_timestamp_is_part_of_what_is_signed),
        cmocka_unit_test(test_second_v1_matching_is_valid),
        cmocka_unit_test(test_upper_case_hex_signature_is_accepted),
        cmocka_unit_test(test_secret_longer_than_a_block_is_used_as_is),
        cmocka_unit_test(test_payload_with_a_nul_byte_is_signed_to_its_length),
        cmocka_unit_test(test_v0_only_is_rejected),
        cmocka_unit_test(test_timestamp_301_seconds_old_is_stale),
        cmocka_unit_test(test_timestamp_beyond_tolerance_in_the_future_is_stale),
        cmocka_unit_test(test_malformed_headers_are_rejected),
        cmocka_unit_test(test_empty_secret_is_not_configured),
        ARENA_TEST(test_form_encodes_bracketed_keys_and_special_characters),
        ARENA_TEST(test_request_without_secret_key_is_not_configured),
        ARENA_TEST(test_post_without_idempotency_key_is_refused),
        ARENA_TEST(test_header_injection_and_odd_paths_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
