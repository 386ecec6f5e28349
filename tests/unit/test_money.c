/*
 * test_money.c — currencies and the one rounding (money.h): money_scale
 * rounds half to even on both signs and never overflows, the ISO 4217
 * exponent table, and how amounts are shown to people.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "studiod/arena.h"
#include "studiod/money.h"

static void test_scale_is_exact_when_it_divides(void **state)
{
    (void)state;
    assert_int_equal(money_scale(1000, 25, 100), 250);
    assert_int_equal(money_scale(-1000, 25, 100), -250);
    assert_int_equal(money_scale(0, 7, 3), 0);
    assert_int_equal(money_scale(12345, 1, 1), 12345);
}

static void test_scale_rounds_half_to_even_on_positive_values(void **state)
{
    (void)state;
    assert_int_equal(money_scale(5, 1, 2), 2); /* 2.5 */
    assert_int_equal(money_scale(7, 1, 2), 4); /* 3.5 */
    assert_int_equal(money_scale(1, 1, 2), 0); /* 0.5 */
    assert_int_equal(money_scale(3, 1, 2), 2); /* 1.5 */
}

static void test_scale_rounds_half_to_even_on_negative_values(void **state)
{
    (void)state;
    assert_int_equal(money_scale(-5, 1, 2), -2); /* -2.5 */
    assert_int_equal(money_scale(-7, 1, 2), -4); /* -3.5 */
    assert_int_equal(money_scale(-1, 1, 2), 0);  /* -0.5 */
    assert_int_equal(money_scale(5, -1, 2), -2); /* a negative factor too */
}

static void test_scale_rounds_other_fractions_to_nearest(void **state)
{
    (void)state;
    assert_int_equal(money_scale(10, 1, 3), 3);   /* 3.33 */
    assert_int_equal(money_scale(20, 1, 3), 7);   /* 6.67 */
    assert_int_equal(money_scale(-10, 1, 3), -3); /* -3.33 */
    assert_int_equal(money_scale(-20, 1, 3), -7); /* -6.67 */
    assert_int_equal(money_scale(1000, 1, 60), 17);
}

static void test_scale_of_huge_values_does_not_overflow(void **state)
{
    (void)state;
    /* INT64_MAX * 3 needs 66 bits; the result fits: 6917529027641081855.25. */
    assert_int_equal(money_scale(INT64_MAX, 3, 4), 6917529027641081855LL);
    assert_int_equal(money_scale(INT64_MIN, 3, 4), -6917529027641081856LL);
    assert_int_equal(money_scale(INT64_MAX, INT64_MAX, INT64_MAX), INT64_MAX);
}

static void test_scale_saturates_at_the_int64_limits(void **state)
{
    (void)state;
    assert_int_equal(money_scale(INT64_MAX, 2, 1), INT64_MAX);
    assert_int_equal(money_scale(INT64_MIN, 2, 1), INT64_MIN);
    assert_int_equal(money_scale(INT64_MIN, -1, 1), INT64_MAX);
}

static void test_exponent_table(void **state)
{
    (void)state;
    assert_int_equal(money_exponent("EUR"), 2);
    assert_int_equal(money_exponent("USD"), 2);
    assert_int_equal(money_exponent("JPY"), 0);
    assert_int_equal(money_exponent("KRW"), 0);
    assert_int_equal(money_exponent("KWD"), 3);
    assert_int_equal(money_exponent("BHD"), 3);
}

static void test_exponent_of_an_unknown_code_is_minus_one(void **state)
{
    (void)state;
    assert_int_equal(money_exponent("XYZ"), -1);
    assert_int_equal(money_exponent("eur"), -1);
    assert_int_equal(money_exponent("EURO"), -1);
    assert_int_equal(money_exponent("EU"), -1);
    assert_int_equal(money_exponent(""), -1);
    assert_int_equal(money_exponent(NULL), -1);
}

static void test_format_shows_minor_units_as_decimals(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_string_equal(money_format(a, 1234, "EUR"), "12.34 EUR");
    assert_string_equal(money_format(a, -5, "EUR"), "-0.05 EUR");
    assert_string_equal(money_format(a, 0, "EUR"), "0.00 EUR");
    assert_string_equal(money_format(a, 1234, "JPY"), "1234 JPY");
    assert_string_equal(money_format(a, -1234, "JPY"), "-1234 JPY");
    assert_string_equal(money_format(a, 1234, "KWD"), "1.234 KWD");
    assert_string_equal(money_format(a, 5, "KWD"), "0.005 KWD");
    arena_free(a);
}

static void test_format_of_the_int64_limits(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_string_equal(money_format(a, INT64_MAX, "EUR"), "92233720368547758.07 EUR");
    assert_string_equal(money_format(a, INT64_MIN, "EUR"), "-92233720368547758.08 EUR");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_is_exact_when_it_divides),
        cmocka_unit_test(test_scale_rounds_half_to_even_on_positive_values),
        cmocka_unit_test(test_scale_rounds_half_to_even_on_negative_values),
        cmocka_unit_test(test_scale_rounds_other_fractions_to_nearest),
        cmocka_unit_test(test_scale_of_huge_values_does_not_overflow),
        cmocka_unit_test(test_scale_saturates_at_the_int64_limits),
        cmocka_unit_test(test_exponent_table),
        cmocka_unit_test(test_exponent_of_an_unknown_code_is_minus_one),
        cmocka_unit_test(test_format_shows_minor_units_as_decimals),
        cmocka_unit_test(test_format_of_the_int64_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
