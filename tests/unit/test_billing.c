/*
 * test_billing.c — the billing rules that need no Stripe and no database
 * (src/modules/billing/billing.c): which plan change is an upgrade, and the
 * exact form fields a plan change sends to POST /v1/subscriptions/:id —
 * the subscription item replaced (never a second item added), the new
 * price, how the change is prorated (always_invoice now, create_prorations
 * now, none at period end), the proration date we decided at, and that a
 * declined card fails an upgrade rather than leaving it half paid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "studiod/arena.h"
#include "studiod/billing.h"
#include "studiod/stripe.h"

#define ITEM "si_test_1"
#define PRICE "price_pro_monthly"
#define WHEN 1718000000

/* The value of key among the n params, or NULL; fails when key appears twice. */
static const char *param(const struct stripe_param *p, size_t n, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].key, key) == 0) {
            if (found)
                fail_msg("%s sent twice", key);
            found = p[i].value;
        }
    return found;
}

static void test_a_later_plan_is_an_upgrade_and_an_earlier_one_a_downgrade(void **state)
{
    (void)state;
    assert_int_equal(billing_change_kind(1, "monthly", 2, "monthly"), BILLING_CHANGE_UP);
    assert_int_equal(billing_change_kind(3, "yearly", 1, "yearly"), BILLING_CHANGE_DOWN);
    /* the plan decides before the period: a higher plan monthly is still an upgrade */
    assert_int_equal(billing_change_kind(1, "yearly", 2, "monthly"), BILLING_CHANGE_UP);
    assert_int_equal(billing_change_kind(2, "monthly", 1, "yearly"), BILLING_CHANGE_DOWN);
}

static void test_on_the_same_plan_yearly_is_an_upgrade_and_the_same_period_no_change(void **state)
{
    (void)state;
    assert_int_equal(billing_change_kind(2, "monthly", 2, "yearly"), BILLING_CHANGE_UP);
    assert_int_equal(billing_change_kind(2, "yearly", 2, "monthly"), BILLING_CHANGE_DOWN);
    assert_int_equal(billing_change_kind(2, "monthly", 2, "monthly"), BILLING_CHANGE_SAME);
    assert_int_equal(billing_change_kind(2, "yearly", 2, "yearly"), BILLING_CHANGE_SAME);
}

static void test_an_upgrade_is_invoiced_at_once_prorated_at_the_time_we_decided(void **state)
{
    (void)state;
    struct arena *a = arena_new(1024);
    struct stripe_param p[BILLING_CHANGE_PARAMS_MAX];
    size_t n = billing_change_params(a, ITEM, PRICE, "pro", BILLING_UPGRADE_NOW, WHEN, p);
    assert_true(n <= BILLING_CHANGE_PARAMS_MAX);
    assert_string_equal(param(p, n, "items[0][id]"), ITEM);
    assert_string_equal(param(p, n, "items[0][price]"), PRICE);
    assert_string_equal(param(p, n, "proration_behavior"), "always_invoice");
    assert_string_equal(param(p, n, "payment_behavior"), "error_if_incomplete");
    assert_string_equal(param(p, n, "proration_date"), "1718000000");
    assert_string_equal(param(p, n, "metadata[plan_id]"), "pro");
    assert_null(param(p, n, "cancel_at_period_end"));
    arena_free(a);
}

static void test_a_downgrade_now_credits_the_unused_time_on_the_next_invoice(void **state)
{
    (void)state;
    struct arena *a = arena_new(1024);
    struct stripe_param p[BILLING_CHANGE_PARAMS_MAX];
    size_t n = billing_change_params(a, ITEM, "price_starter_yearly", "starter",
                                     BILLING_DOWNGRADE_NOW, WHEN, p);
    assert_string_equal(param(p, n, "items[0][id]"), ITEM);
    assert_string_equal(param(p, n, "items[0][price]"), "price_starter_yearly");
    assert_string_equal(param(p, n, "proration_behavior"), "create_prorations");
    assert_string_equal(param(p, n, "proration_date"), "1718000000");
    /* a credit needs no payment: nothing may fail for want of one */
    assert_null(param(p, n, "payment_behavior"));
    arena_free(a);
}

static void test_a_downgrade_at_period_end_is_not_prorated_at_all(void **state)
{
    (void)state;
    struct arena *a = arena_new(1024);
    struct stripe_param p[BILLING_CHANGE_PARAMS_MAX];
    size_t n = billing_change_params(a, ITEM, "price_starter_monthly", "starter",
                                     BILLING_DOWNGRADE_AT_PERIOD_END, WHEN, p);
    assert_string_equal(param(p, n, "items[0][id]"), ITEM);
    assert_string_equal(param(p, n, "proration_behavior"), "none");
    assert_null(param(p, n, "proration_date"));
    assert_null(param(p, n, "payment_behavior"));
    /* encoded as Stripe reads it: the brackets escaped, in the order given */
    char *form = stripe_form_encode(a, p, n);
    assert_string_equal(form, "items%5B0%5D%5Bid%5D=si_test_1&items%5B0%5D%5Bprice%5D="
                              "price_starter_monthly&metadata%5Bplan_id%5D=starter&"
                              "proration_behavior=none");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_later_plan_is_an_upgrade_and_an_earlier_one_a_downgrade),
        cmocka_unit_test(test_on_the_same_plan_yearly_is_an_upgrade_and_the_same_period_no_change),
        cmocka_unit_test(test_an_upgrade_is_invoiced_at_once_prorated_at_the_time_we_decided),
        cmocka_unit_test(test_a_downgrade_now_credits_the_unused_time_on_the_next_invoice),
        cmocka_unit_test(test_a_downgrade_at_period_end_is_not_prorated_at_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
