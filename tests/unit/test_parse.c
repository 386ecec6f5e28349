/*
 * test_parse.c — the parsers under HTTP (parse.h): percent-decoding with its
 * refusals, x-www-form-urlencoded bodies and query strings, Cookie headers,
 * and percent-encoding as the inverse of decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "studiod/parse.h"

static struct arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(arena);
    arena = NULL;
    return 0;
}

static char *decode(const char *s, bool plus_is_space)
{
    return parse_percent_decode(arena, s, strlen(s), plus_is_space);
}

static struct kv *form(const char *s)
{
    return parse_form(arena, s, strlen(s));
}

static int kv_count(const struct kv *p)
{
    int n = 0;
    for (; p; p = p->next)
        n++;
    return n;
}

static void assert_pair(const struct kv *p, const char *key, const char *value)
{
    assert_non_null(p);
    assert_string_equal(p->key, key);
    assert_string_equal(p->value, value);
}

/* --- percent decoding --- */

static void test_decode_plain_text_is_unchanged(void **state)
{
    (void)state;
    assert_string_equal(decode("hello", false), "hello");
    assert_string_equal(decode("", false), "");
}

static void test_decode_escapes_in_either_case(void **state)
{
    (void)state;
    assert_string_equal(decode("a%20b", false), "a b");
    assert_string_equal(decode("%41%42%43", false), "ABC");
    assert_string_equal(decode("%c3%a9t%C3%A9", false), "\xc3\xa9t\xc3\xa9");
    assert_string_equal(decode("100%25", false), "100%");
    assert_string_equal(decode("%2e%2e%2F", false), "../");
}

static void test_decode_plus_is_space_only_when_asked(void **state)
{
    (void)state;
    assert_string_equal(decode("a+b", true), "a b");
    assert_string_equal(decode("a+b", false), "a+b");
    assert_string_equal(decode("a%2Bb", true), "a+b");
}

static void test_decode_refuses_bad_escapes(void **state)
{
    (void)state;
    assert_null(decode("%zz", false));
    assert_null(decode("%g0", false));
    assert_null(decode("a%2", false));
    assert_null(decode("%4", false));
    assert_null(decode("%", false));
    assert_null(decode("abc%", false));
    assert_null(decode("%%41", false));
}

static void test_decode_refuses_encoded_nul(void **state)
{
    (void)state;
    assert_null(decode("%00", false));
    assert_null(decode("a%00b", true));
}

static void test_decode_refuses_raw_nul_inside_len(void **state)
{
    (void)state;
    assert_null(parse_percent_decode(arena, "a\0b", 3, false));
}

static void test_decode_stops_at_len(void **state)
{
    (void)state;
    /* Only the first len bytes count: "%41" cut at 2 is a truncated escape. */
    assert_string_equal(parse_percent_decode(arena, "abcdef", 3, false), "abc");
    assert_null(parse_percent_decode(arena, "%41", 2, false));
    assert_string_equal(parse_percent_decode(arena, "%41%", 3, false), "A");
}

/* --- forms --- */

static void test_form_keeps_the_order_of_pairs(void **state)
{
    (void)state;
    struct kv *f = form("b=2&a=1&c=3");
    assert_int_equal(kv_count(f), 3);
    assert_pair(f, "b", "2");
    assert_pair(f->next, "a", "1");
    assert_pair(f->next->next, "c", "3");
}

static void test_form_decodes_keys_and_values(void **state)
{
    (void)state;
    struct kv *f = form("full+name=Ada+Lovelace&e%2Dmail=ada%40example.com&note=a%26b%3Dc");
    assert_int_equal(kv_count(f), 3);
    assert_pair(f, "full name", "Ada Lovelace");
    assert_pair(f->next, "e-mail", "ada@example.com");
    assert_pair(f->next->next, "note", "a&b=c");
}

static void test_form_skips_empty_pairs(void **state)
{
    (void)state;
    struct kv *f = form("&&a=1&&b=2&");
    assert_int_equal(kv_count(f), 2);
    assert_pair(f, "a", "1");
    assert_pair(f->next, "b", "2");
    assert_null(form(""));
    assert_null(form("&"));
}

static void test_form_skips_empty_keys(void **state)
{
    (void)state;
    struct kv *f = form("=1&a=2&=");
    assert_int_equal(kv_count(f), 1);
    assert_pair(f, "a", "2");
}

static void test_form_key_without_equals_has_empty_value(void **state)
{
    (void)state;
    struct kv *f = form("flag&a=1&empty=");
    assert_int_equal(kv_count(f), 3);
    assert_pair(f, "flag", "");
    assert_pair(f->next, "a", "1");
    assert_pair(f->next->next, "empty", "");
}

static void test_form_value_may_contain_equals(void **state)
{
    (void)state;
    struct kv *f = form("token=abc==");
    assert_pair(f, "token", "abc==");
    assert_null(f->next);
}

static void test_form_skips_pairs_with_bad_escapes(void **state)
{
    (void)state;
    struct kv *f = form("a=%zz&b=2&c%4=3&d=%00&e=5%");
    assert_int_equal(kv_count(f), 1);
    assert_pair(f, "b", "2");
}

static void test_form_duplicates_keep_all_and_kv_get_returns_first(void **state)
{
    (void)state;
    struct kv *f = form("x=1&y=2&x=3");
    assert_int_equal(kv_count(f), 3);
    assert_string_equal(kv_get(f, "x"), "1");
    assert_string_equal(kv_get(f, "y"), "2");
    assert_null(kv_get(f, "z"));
    assert_null(kv_get(NULL, "x"));
}

static void test_form_respects_len(void **state)
{
    (void)state;
    struct kv *f = parse_form(arena, "a=1&b=2", 3);
    assert_int_equal(kv_count(f), 1);
    assert_pair(f, "a", "1");
}

/* --- cookies --- */

static void test_cookies_with_spaces(void **state)
{
    (void)state;
    struct kv *c = parse_cookies(arena, "a=1; b=2;  c = 3 ");
    assert_int_equal(kv_count(c), 3);
    assert_pair(c, "a", "1");
    assert_pair(c->next, "b", "2");
    assert_pair(c->next->next, "c", "3");
}

static void test_cookies_without_spaces(void **state)
{
    (void)state;
    struct kv *c = parse_cookies(arena, "a=1;b=2");
    assert_int_equal(kv_count(c), 2);
    assert_pair(c, "a", "1");
    assert_pair(c->next, "b", "2");
}

static void test_cookies_strip_quotes(void **state)
{
    (void)state;
    struct kv *c = parse_cookies(arena, "s=\"abc def\"; t=\"\"; u=\"");
    assert_int_equal(kv_count(c), 3);
    assert_pair(c, "s", "abc def");
    assert_pair(c->next, "t", "");
    assert_pair(c->next->next, "u", "\""); /* a lone quote is not a quoted value */
}

static void test_cookies_empty_header(void **state)
{
    (void)state;
    assert_null(parse_cookies(arena, NULL));
    assert_null(parse_cookies(arena, ""));
    assert_null(parse_cookies(arena, "   "));
    assert_null(parse_cookies(arena, ";;; ;"));
}

static void test_cookies_empty_value(void **state)
{
    (void)state;
    struct kv *c = parse_cookies(arena, "a=; b=2");
    assert_int_equal(kv_count(c), 2);
    assert_pair(c, "a", "");
    assert_pair(c->next, "b", "2");
}

static void test_cookies_skip_malformed_pairs(void **state)
{
    (void)state;
    struct kv *c = parse_cookies(arena, "junk; a=1; =nokey; also junk ;b=2");
    assert_int_equal(kv_count(c), 2);
    assert_pair(c, "a", "1");
    assert_pair(c->next, "b", "2");
}

static void test_cookies_value_keeps_equals_and_is_not_decoded(void **state)
{
    (void)state;
    struct kv *c = parse_cookies(arena, "session=abc==; enc=a%20b");
    assert_pair(c, "session", "abc==");
    assert_pair(c->next, "enc", "a%20b");
    assert_string_equal(kv_get(c, "enc"), "a%20b");
}

/* --- encoding --- */

static void test_encode_leaves_unreserved_alone(void **state)
{
    (void)state;
    assert_string_equal(parse_percent_encode(arena, "AZaz09-_.~"), "AZaz09-_.~");
    assert_string_equal(parse_percent_encode(arena, ""), "");
}

static void test_encode_escapes_everything_else(void **state)
{
    (void)state;
    assert_string_equal(parse_percent_encode(arena, "a b&c=d/e?f+g%"),
                        "a%20b%26c%3Dd%2Fe%3Ff%2Bg%25");
    assert_string_equal(parse_percent_encode(arena, "\xc3\xa9"), "%C3%A9");
}

static void test_encode_then_decode_round_trips(void **state)
{
    (void)state;
    const char *samples[] = {"",
                             "plain",
                             "a b+c",
                             "100% & more=yes",
                             "\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
                             "/path?q=1#frag",
                             "tab\tnewline\n"};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char *enc = parse_percent_encode(arena, samples[i]);
        assert_string_equal(decode(enc, true), samples[i]);
        assert_string_equal(decode(enc, false), samples[i]);
    }
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    assert_string_equal(decode(parse_percent_encode(arena, all), true), all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decode_plain_text_is_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_escapes_in_either_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_plus_is_space_only_when_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_refuses_bad_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_refuses_encoded_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_refuses_raw_nul_inside_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_stops_at_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_keeps_the_order_of_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_decodes_keys_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_skips_empty_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_skips_empty_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_key_without_equals_has_empty_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_form_value_may_contain_equals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_skips_pairs_with_bad_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_duplicates_keep_all_and_kv_get_returns_first,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_respects_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_with_spaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_without_spaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_strip_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_empty_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_empty_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_skip_malformed_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_value_keeps_equals_and_is_not_decoded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_encode_leaves_unreserved_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_escapes_everything_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_then_decode_round_trips, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
