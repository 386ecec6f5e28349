/*
 * test_payments_rules.c — the pure money rules of the payments module
 * (payments.h) as a specification: the platform's application fee on a
 * deposit (basis points, rounded half to even through money_scale), how a
 * refund is split over a booking's payments, the refund a cancellation
 * sends (the policy's amount from pricing_refund, capped at what the
 * payments can still give back), and the status orders that make webhook
 * events order-independent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "studiod/payments.h"
#include "studiod/pricing.h"

#define HOURS(h) ((int64_t)(h)*3600)

/* ---- the application fee ------------------------------------------------------------- */

static void test_fee_is_basis_points_of_the_deposit(void **state)
{
    (void)state;
    assert_int_equal(payments_application_fee(2000, 100), 20);     /* 1% of 20.00 */
    assert_int_equal(payments_application_fee(10000, 250), 250);   /* 2.5% of 100.00 */
    assert_int_equal(payments_application_fee(4900, 10000), 4900); /* all of it */
}

static void test_fee_rounds_half_to_even(void **state)
{
    (void)state;
    /* 1025 * 2% = 20.5 → 20; 1075 * 2% = 21.5 → 22 */
    assert_int_equal(payments_application_fee(1025, 200), 20);
    assert_int_equal(payments_application_fee(1075, 200), 22);
    /* 50 * 1% = 0.5 → 0; 150 * 1% = 1.5 → 2; 250 * 1% = 2.5 → 2 */
    assert_int_equal(payments_application_fee(50, 100), 0);
    assert_int_equal(payments_application_fee(150, 100), 2);
    assert_int_equal(payments_application_fee(250, 100), 2);
    /* 0.49 and 0.51 round to the nearest */
    assert_int_equal(payments_application_fee(49, 100), 0);
    assert_int_equal(payments_application_fee(151, 100), 2);
    /* JPY (no decimals) works the same in its minor unit: 999 * 0.5% = 4.995 → 5 */
    assert_int_equal(payments_application_fee(999, 50), 5);
}

static void test_no_fee_without_a_plan_fee_or_an_amount(void **state)
{
    (void)state;
    assert_int_equal(payments_application_fee(2000, 0), 0);
    assert_int_equal(payments_application_fee(0, 100), 0);
    assert_int_equal(payments_application_fee(-5, 100), 0);
    assert_int_equal(payments_application_fee(2000, -1), 0);
    assert_int_equal(payments_application_fee(2000, 10001), 0);
}

static void test_fee_never_overflows(void **state)
{
    (void)state;
    /* the product is taken in 128 bits: no wrap at the top of the range */
    assert_int_equal(payments_application_fee(INT64_MAX, 10000), INT64_MAX);
    /* (2^62 - 0.5) * 50% = 2^61 - 0.25... exactly x.5 here: odd quotient, rounded up */
    assert_int_equal(payments_application_fee(INT64_MAX / 2, 5000), INT64_MAX / 4 + 1);
}

/* ---- splitting a refund over payments ------------------------------------------------- */

static void test_one_payment_takes_the_whole_refund(void **state)
{
    (void)state;
    int64_t can[] = {2000}, out[1];
    assert_int_equal(payments_refund_split(1500, can, 1, out), 1500);
    assert_int_equal(out[0], 1500);
}

static void test_the_largest_payment_is_refunded_first(void **state)
{
    (void)state;
    int64_t can[] = {500, 2000, 800}, out[3];
    assert_int_equal(payments_refund_split(2300, can, 3, out), 2300);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 2000);
    assert_int_equal(out[2], 300);
}

static void test_equal_payments_go_in_order(void **state)
{
    (void)state;
    int64_t can[] = {1000, 1000}, out[2];
    assert_int_equal(payments_refund_split(1500, can, 2, out), 1500);
    assert_int_equal(out[0], 1000);
    assert_int_equal(out[1], 500);
}

static void test_a_refund_never_exceeds_what_can_be_given_back(void **state)
{
    (void)state;
    int64_t can[] = {700, 0, -10}, out[3];
    assert_int_equal(payments_refund_split(2000, can, 3, out), 700);
    assert_int_equal(out[0], 700);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 0);
    assert_int_equal(payments_refund_split(0, can, 3, out), 0);
    assert_int_equal(payments_refund_split(-5, can, 3, out), 0);
    assert_int_equal(payments_refund_split(100, can, 0, out), 0);
}

/* ---- the refund a cancellation sends --------------------------------------------------- */

/* The refund of a cancellation under rule, of a deposit paid through Stripe (refundable
 * left), as booking_cancel + payments_refund_prepare compute it. */
static int64_t cancel_refund(int64_t paid, int64_t refundable, int64_t seconds, const char *rule)
{
    json_t *r = json_loads(rule, 0, NULL);
    assert_non_null(r);
    int64_t due = pricing_refund(paid, seconds, r, NULL);
    json_decref(r);
    int64_t out[1];
    return payments_refund_split(due, &refundable, 1, out);
}

static const char TIERS[] = "{\"type\": \"tiers\", \"tiers\": ["
                            "{\"hours_before\": 48, \"refund_percent\": 100},"
                            "{\"hours_before\": 24, \"refund_percent\": 50}]}";
static const char LINEAR[] =
    "{\"type\": \"linear\", \"full_refund_hours\": 48, \"no_refund_hours\": 0}";

static void test_cancel_refund_follows_the_tiers(void **state)
{
    (void)state;
    assert_int_equal(cancel_refund(2000, 2000, HOURS(72), TIERS), 2000);
    assert_int_equal(cancel_refund(2000, 2000, HOURS(30), TIERS), 1000);
    assert_int_equal(cancel_refund(2000, 2000, HOURS(2), TIERS), 0);
    /* 50% of an odd amount: 1025 / 2 = 512.5 → 512 */
    assert_int_equal(cancel_refund(1025, 1025, HOURS(30), TIERS), 512);
}

static void test_cancel_refund_pro_rata_rounds_half_even(void **state)
{
    (void)state;
    /* 24 h of 48: half; 1025 → 512.5 → 512; 1075 → 537.5 → 538 */
    assert_int_equal(cancel_refund(1025, 1025, HOURS(24), LINEAR), 512);
    assert_int_equal(cancel_refund(1075, 1075, HOURS(24), LINEAR), 538);
    assert_int_equal(cancel_refund(2000, 2000, HOURS(48), LINEAR), 2000);
}

static void test_cancel_refund_is_capped_by_what_stripe_can_still_give_back(void **state)
{
    (void)state;
    /* 3.00 of 20.00 refunded already (e.g. from the Dashboard): at most 17.00 goes back */
    assert_int_equal(cancel_refund(2000, 1700, HOURS(72), TIERS), 1700);
    assert_int_equal(cancel_refund(2000, 1700, HOURS(30), TIERS), 1000);
}

/* ---- status orders ------------------------------------------------------------------------ */

static void test_payment_statuses_only_move_up(void **state)
{
    (void)state;
    assert_true(payments_status_rank("open") < payments_status_rank("failed"));
    assert_true(payments_status_rank("failed") < payments_status_rank("expired"));
    assert_true(payments_status_rank("expired") < payments_status_rank("paid"));
    assert_int_equal(payments_status_rank("refunded"), -1);
    assert_int_equal(payments_status_rank(NULL), -1);
}

static void test_refund_statuses_only_move_up(void **state)
{
    (void)state;
    assert_true(payments_refund_rank("pending") < payments_refund_rank("requires_action"));
    assert_true(payments_refund_rank("requires_action") < payments_refund_rank("succeeded"));
    assert_true(payments_refund_rank("succeeded") < payments_refund_rank("failed"));
    assert_int_equal(payments_refund_rank("canceled"), payments_refund_rank("failed"));
    assert_int_equal(payments_refund_rank("paid"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fee_is_basis_points_of_the_deposit),
        cmocka_unit_test(test_fee_rounds_half_to_even),
        cmocka_unit_test(test_no_fee_without_a_plan_fee_or_an_amount),
        cmocka_unit_test(test_fee_never_overflows),
        cmocka_unit_test(test_one_payment_takes_the_whole_refund),
        cmocka_unit_test(test_the_largest_payment_is_refunded_first),
        cmocka_unit_test(test_equal_payments_go_in_order),
        cmocka_unit_test(test_a_refund_never_exceeds_what_can_be_given_back),
        cmocka_unit_test(test_cancel_refund_follows_the_tiers),
        cmocka_unit_test(test_cancel_refund_pro_rata_rounds_half_even),
        cmocka_unit_test(test_cancel_refund_is_capped_by_what_stripe_can_still_give_back),
        cmocka_unit_test(test_payment_statuses_only_move_up),
        cmocka_unit_test(test_refund_statuses_only_move_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
