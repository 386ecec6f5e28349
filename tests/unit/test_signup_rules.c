/*
 * test_signup_rules.c — what a person signing up is told about their
 * studio's address and fields, without a database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/money.h"
#include "studiod/signup.h"
#include "studiod/tenant.h"

static const struct signup_input good = {
    .studio_name = "Blue Room",
    .slug = "blue-room",
    .owner_name = "Ann Smith",
    .owner_email = "ann@blue.test",
    .password = "correct horse battery",
    .timezone = "Europe/Paris",
    .currency = "EUR",
};

static void assert_field_error(const struct signup_input *in, const char *field)
{
    json_t *f = signup_validate(in);
    assert_non_null(f);
    assert_non_null(json_object_get(f, field));
    json_decref(f);
}

static void test_good_slugs_are_accepted(void **state)
{
    (void)state;
    assert_null(signup_slug_problem("abc"));
    assert_null(signup_slug_problem("blue-room"));
    assert_null(signup_slug_problem("studio42"));
    assert_null(signup_slug_problem("0-1"));
    char forty[41];
    memset(forty, 'a', 40);
    forty[40] = '\0';
    assert_null(signup_slug_problem(forty));
}

static void test_slug_length_is_3_to_40(void **state)
{
    (void)state;
    assert_string_equal(signup_slug_problem("ab"), "too_short");
    assert_string_equal(signup_slug_problem(""), "too_short");
    assert_string_equal(signup_slug_problem(NULL), "too_short");
    char longer[42];
    memset(longer, 'a', 41);
    longer[41] = '\0';
    assert_string_equal(signup_slug_problem(longer), "too_long");
}

static void test_slug_takes_only_lowercase_digits_and_hyphens(void **state)
{
    (void)state;
    assert_string_equal(signup_slug_problem("Blue"), "invalid_characters");
    assert_string_equal(signup_slug_problem("a_b"), "invalid_characters");
    assert_string_equal(signup_slug_problem("a.b"), "invalid_characters");
    assert_string_equal(signup_slug_problem("caf\xc3\xa9"), "invalid_characters");
    assert_string_equal(signup_slug_problem("a b"), "invalid_characters");
}

static void test_slug_cannot_start_or_end_with_hyphen(void **state)
{
    (void)state;
    assert_string_equal(signup_slug_problem("-abc"), "invalid_edge");
    assert_string_equal(signup_slug_problem("abc-"), "invalid_edge");
    assert_string_equal(signup_slug_problem("xn--abc"), "double_hyphen");
}

static void test_reserved_slugs_are_refused(void **state)
{
    (void)state;
    const char *reserved[] = {"www", "admin", "api", "app", "mail", "static"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        assert_string_equal(signup_slug_problem(reserved[i]), "reserved");
}

static void test_a_complete_signup_is_valid(void **state)
{
    (void)state;
    assert_null(signup_validate(&good));
}

static void test_each_bad_field_is_named(void **state)
{
    (void)state;
    struct signup_input in = good;
    in.password = "short";
    assert_field_error(&in, "password");
    in = good;
    in.password = "Ann@Blue.test";
    in.owner_email = "ann@blue.test";
    assert_field_error(&in, "password"); /* the password may not be the e-mail */
    in = good;
    in.timezone = "Mars/Olympus";
    assert_field_error(&in, "timezone");
    in.timezone = "../../etc/passwd";
    assert_field_error(&in, "timezone");
    in.timezone = "posix/Europe/Paris";
    assert_field_error(&in, "timezone");
    in = good;
    in.currency = "XXX";
    assert_field_error(&in, "currency");
    in.currency = "eur";
    assert_field_error(&in, "currency");
    in = good;
    in.owner_email = "ann";
    assert_field_error(&in, "owner_email");
    in.owner_email = "ann@@x.test";
    assert_field_error(&in, "owner_email");
    in.owner_email = "ann@x.test\r\nBcc: evil@x.test";
    assert_field_error(&in, "owner_email");
    in = good;
    in.studio_name = "";
    assert_field_error(&in, "studio_name");
    in = good;
    in.slug = "Bad Slug";
    assert_field_error(&in, "slug");
}

static void test_every_bad_field_is_reported_at_once(void **state)
{
    (void)state;
    struct signup_input in = {0};
    json_t *f = signup_validate(&in);
    assert_non_null(f);
    assert_int_equal(json_object_size(f), 7);
    json_decref(f);
}

static void test_currency_exponents_follow_iso_4217(void **state)
{
    (void)state;
    assert_int_equal(money_exponent("EUR"), 2);
    assert_int_equal(money_exponent("USD"), 2);
    assert_int_equal(money_exponent("JPY"), 0);
    assert_int_equal(money_exponent("KWD"), 3);
    assert_int_equal(money_exponent("XYZ"), -1);
    assert_int_equal(money_exponent("EURO"), -1);
    assert_int_equal(money_exponent(NULL), -1);
}

static void test_tenant_database_name_comes_from_the_slug(void **state)
{
    (void)state;
    struct arena *a = arena_new(256);
    assert_string_equal(tenant_db_name(a, "blue-room"), "studio_blue_room");
    arena_free(a);
}

static void test_secret_compare_is_exact(void **state)
{
    (void)state;
    assert_true(crypto_streq("abc", "abc"));
    assert_false(crypto_streq("abc", "abd"));
    assert_false(crypto_streq("abc", "abcd"));
    assert_false(crypto_streq("", "a"));
    assert_false(crypto_streq(NULL, "a"));
}

static void test_passwords_are_argon2id_and_verify(void **state)
{
    (void)state;
    struct arena *a = arena_new(256);
    char *h = crypto_password_hash(a, "correct horse");
    assert_non_null(h);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_null(strstr(h, "correct horse"));
    assert_true(crypto_password_verify(h, "correct horse"));
    assert_false(crypto_password_verify(h, "correct horsf"));
    arena_free(a);
}

static void test_booking_refs_are_unambiguous(void **state)
{
    (void)state;
    struct arena *a = arena_new(256);
    for (int i = 0; i < 200; i++) {
        char *r = crypto_ref(a, 11);
        assert_int_equal(strlen(r), 11);
        assert_null(strpbrk(r, "01OIL"));
    }
    arena_free(a);
}

int main(void)
{
    config_load();
    crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_slugs_are_accepted),
        cmocka_unit_test(test_slug_length_is_3_to_40),
        cmocka_unit_test(test_slug_takes_only_lowercase_digits_and_hyphens),
        cmocka_unit_test(test_slug_cannot_start_or_end_with_hyphen),
        cmocka_unit_test(test_reserved_slugs_are_refused),
        cmocka_unit_test(test_a_complete_signup_is_valid),
        cmocka_unit_test(test_each_bad_field_is_named),
        cmocka_unit_test(test_every_bad_field_is_reported_at_once),
        cmocka_unit_test(test_currency_exponents_follow_iso_4217),
        cmocka_unit_test(test_tenant_database_name_comes_from_the_slug),
        cmocka_unit_test(test_secret_compare_is_exact),
        cmocka_unit_test(test_passwords_are_argon2id_and_verify),
        cmocka_unit_test(test_booking_refs_are_unambiguous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
