/*
 * test_totp.c — the admin's second factor (src/modules/admin/totp.c): HOTP
 * on HMAC-SHA1 against the RFC 6238 Appendix B vectors (8 digits, and the
 * 6-digit codes the admins type are their last six digits), base32 both
 * ways (RFC 4648 section 10 vectors), the ±1 step window, replay refusal
 * from the last accepted step, and the otpauth:// enrolment URI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "studiod/admin.h"
#include "studiod/arena.h"

/* The RFC 6238 Appendix B seed for SHA-1: the ASCII of "12345678901234567890". */
static const unsigned char rfc_key[] = "12345678901234567890";
#define RFC_KEYLEN 20

static const struct {
    int64_t time;
    uint32_t code8;
} rfc_vectors[] = {
    {59, 94287082},         {1111111109, 7081804},  {1111111111, 14050471},
    {1234567890, 89005924}, {2000000000, 69279037}, {20000000000LL, 65353130},
};

static void code_at(int64_t t, char out[8])
{
    snprintf(out, 8, "%06u",
             (unsigned)admin_totp_code(rfc_key, RFC_KEYLEN, (uint64_t)admin_totp_step(t), 6));
}

static void test_rfc6238_sha1_vectors_with_8_digits(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        uint64_t step = (uint64_t)admin_totp_step(rfc_vectors[i].time);
        assert_int_equal(admin_totp_code(rfc_key, RFC_KEYLEN, step, 8), rfc_vectors[i].code8);
    }
}

static void test_six_digit_codes_are_the_last_six_digits_of_the_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        uint64_t step = (uint64_t)admin_totp_step(rfc_vectors[i].time);
        assert_int_equal(admin_totp_code(rfc_key, RFC_KEYLEN, step, 6),
                         rfc_vectors[i].code8 % 1000000);
    }
    char code[8];
    code_at(1111111109, code);
    assert_string_equal(code, "081804"); /* leading zero kept: 07081804 */
}

static void test_steps_are_30_seconds_from_the_epoch(void **state)
{
    (void)state;
    assert_int_equal(admin_totp_step(0), 0);
    assert_int_equal(admin_totp_step(29), 0);
    assert_int_equal(admin_totp_step(30), 1);
    assert_int_equal(admin_totp_step(59), 1);
    assert_int_equal(admin_totp_step(1111111109), 37037036);
    assert_int_equal(admin_totp_step(-5), 0);
}

static void test_check_accepts_the_current_step_and_one_either_side(void **state)
{
    (void)state;
    const int64_t now = 1234567890; /* step 41152263 */
    const int64_t step = admin_totp_step(now);
    char code[8];
    for (int d = -1; d <= 1; d++) {
        code_at(now + d * 30, code);
        assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, code, now, 0), step + d);
    }
}

static void test_check_refuses_codes_two_steps_away(void **state)
{
    (void)state;
    const int64_t now = 1234567890;
    char code[8];
    code_at(now - 60, code);
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, code, now, 0), ADMIN_TOTP_WRONG);
    code_at(now + 60, code);
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, code, now, 0), ADMIN_TOTP_WRONG);
}

static void test_check_refuses_malformed_codes(void **state)
{
    (void)state;
    const int64_t now = 1234567890;
    char code[8];
    code_at(now, code);
    char longer[16];
    snprintf(longer, sizeof(longer), "%s0", code);
    const char *bad[] = {"", "12345", "1234567", "abcdef", "12 456", "-12345", longer, NULL};
    for (const char **b = bad; *b; b++)
        assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, *b, now, 0), ADMIN_TOTP_WRONG);
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, NULL, now, 0), ADMIN_TOTP_WRONG);
    /* The right digits under another key are wrong. */
    const unsigned char other[] = "abcdefghijklmnopqrst";
    assert_int_equal(admin_totp_check(other, RFC_KEYLEN, code, now, 0), ADMIN_TOTP_WRONG);
}

static void test_a_code_of_the_last_accepted_step_is_a_replay(void **state)
{
    (void)state;
    const int64_t now = 1234567890;
    char code[8];
    code_at(now, code);
    int64_t step = admin_totp_check(rfc_key, RFC_KEYLEN, code, now, 0);
    assert_true(step > 0);
    /* The same code again, in the same 30 seconds or the next: refused. */
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, code, now, step), ADMIN_TOTP_REPLAY);
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, code, now + 30, step),
                     ADMIN_TOTP_REPLAY);
}

static void test_a_code_older_than_the_last_accepted_step_is_a_replay(void **state)
{
    (void)state;
    const int64_t now = 1234567890;
    const int64_t step = admin_totp_step(now);
    char previous[8], next[8];
    code_at(now - 30, previous);
    code_at(now + 30, next);
    /* Someone signed in with the next step's code (a fast clock): the previous one is dead. */
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, previous, now, step + 1),
                     ADMIN_TOTP_REPLAY);
    /* A later step than the last accepted one is fine. */
    assert_int_equal(admin_totp_check(rfc_key, RFC_KEYLEN, next, now, step), step + 1);
}

/* RFC 4648 section 10, without padding. */
static void test_base32_encodes_the_rfc4648_vectors(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(admin_base32_encode(a, (const unsigned char *)in[i], strlen(in[i])),
                            out[i]);
    assert_string_equal(admin_base32_encode(a, rfc_key, RFC_KEYLEN),
                        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    arena_free(a);
}

static void test_base32_decodes_either_case_with_padding_and_spaces(void **state)
{
    (void)state;
    unsigned char buf[64];
    long n = admin_base32_decode("MZXW6YTBOI======", buf, sizeof(buf));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "foobar", 6);
    n = admin_base32_decode("mzxw 6ytb-oi", buf, sizeof(buf));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "foobar", 6);
    n = admin_base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", buf, sizeof(buf));
    assert_int_equal(n, 20);
    assert_memory_equal(buf, rfc_key, 20);
}

static void test_base32_refuses_bad_characters_and_small_buffers(void **state)
{
    (void)state;
    unsigned char buf[4];
    assert_int_equal(admin_base32_decode("MZXW1", buf, sizeof(buf)), -1); /* 1 is not base32 */
    assert_int_equal(admin_base32_decode("MZXW8", buf, sizeof(buf)), -1);
    assert_int_equal(admin_base32_decode("MZ.XW", buf, sizeof(buf)), -1);
    assert_int_equal(admin_base32_decode("MZXW6YTBOI", buf, sizeof(buf)), -1); /* 6 bytes > 4 */
}

static void test_base32_round_trips_random_lengths(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    unsigned char in[40], out[40];
    for (size_t len = 0; len <= sizeof(in); len++) {
        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 37 + len * 11);
        char *s = admin_base32_encode(a, in, len);
        assert_int_equal(admin_base32_decode(s, out, sizeof(out)), (long)len);
        assert_memory_equal(in, out, len);
    }
    arena_free(a);
}

static void test_enrolment_uri_names_issuer_account_and_secret(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_string_equal(admin_totp_uri(a, "studiod", "ops@example.com", "GEZDGNBV"),
                        "otpauth://totp/studiod:ops@example.com?secret=GEZDGNBV&issuer=studiod"
                        "&algorithm=SHA1&digits=6&period=30");
    /* Anything else in the account is percent-encoded, so the URI stays one token. */
    assert_string_equal(admin_totp_uri(a, "studiod", "a b&c@x.io", "AB"),
                        "otpauth://totp/studiod:a%20b%26c@x.io?secret=AB&issuer=studiod"
                        "&algorithm=SHA1&digits=6&period=30");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_sha1_vectors_with_8_digits),
        cmocka_unit_test(test_six_digit_codes_are_the_last_six_digits_of_the_vectors),
        cmocka_unit_test(test_steps_are_30_seconds_from_the_epoch),
        cmocka_unit_test(test_check_accepts_the_current_step_and_one_either_side),
        cmocka_unit_test(test_check_refuses_codes_two_steps_away),
        cmocka_unit_test(test_check_refuses_malformed_codes),
        cmocka_unit_test(test_a_code_of_the_last_accepted_step_is_a_replay),
        cmocka_unit_test(test_a_code_older_than_the_last_accepted_step_is_a_replay),
        cmocka_unit_test(test_base32_encodes_the_rfc4648_vectors),
        cmocka_unit_test(test_base32_decodes_either_case_with_padding_and_spaces),
        cmocka_unit_test(test_base32_refuses_bad_characters_and_small_buffers),
        cmocka_unit_test(test_base32_round_trips_random_lengths),
        cmocka_unit_test(test_enrolment_uri_names_issuer_account_and_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
