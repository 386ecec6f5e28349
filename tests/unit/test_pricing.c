/*
 * test_pricing.c — the money rules of a booking (pricing.h) as a
 * specification: the price of a stay under peak/off-peak rules, the deposit,
 * the refund on cancellation and what makes a refund rule invalid. Amounts
 * are minor units (cents); every rounding is half to even.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "studiod/pricing.h"

#define MON 1
#define TUE 2
#define SAT 6
#define SUN 7
#define BIT(day) (1u << (day))
#define WEEKDAYS (BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(5))
#define WEEKEND (BIT(SAT) | BIT(SUN))
#define EVERY_DAY (WEEKDAYS | WEEKEND)
#define HHMM(h, m) ((h)*60 + (m))
#define HOURS(h) ((int64_t)(h)*3600)
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Room 2000/h; Mon-Fri 18:00-23:00 is peak at 3000/h. */
static const struct price_rule evening_peak[] = {
    {.weekday_mask = WEEKDAYS,
     .start_minute = HHMM(18, 0),
     .end_minute = HHMM(23, 0),
     .hourly_rate = 3000},
};

static json_t *json(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fail_msg("bad test JSON: %s", err.text);
    return j;
}

static int64_t price_one(int64_t room_rate, const struct price_rule *rules, int nrules, int weekday,
                         int minute_of_day, int minutes)
{
    struct time_segment seg = {weekday, minute_of_day, minutes};
    return pricing_price(room_rate, rules, nrules, &seg, 1);
}

/* The refund under a rule given as JSON text; *name gets the rule's name. */
static int64_t refund(const char *rule_text, int64_t paid, int64_t seconds, const char **name)
{
    json_t *rule = json(rule_text);
    int64_t r = pricing_refund(paid, seconds, rule, name);
    json_decref(rule);
    return r;
}

/* Asserts that the rule is rejected and that the reason mentions `word`. */
static void assert_rule_rejected(const char *rule_text, const char *word)
{
    json_t *rule = json(rule_text);
    const char *why = pricing_refund_rule_problem(rule);
    const char *name = NULL;
    int64_t r = pricing_refund(10000, HOURS(1000), rule, &name);
    json_decref(rule); /* reasons and names are static: they outlive the rule */
    if (!why || !strstr(why, word))
        fail_msg("%s: expected a reason about \"%s\", got \"%s\"", rule_text, word,
                 why ? why : "(valid)");
    assert_int_equal(r, 0);
    assert_string_equal(name, "no refund");
}

static void assert_rule_valid(const char *rule_text)
{
    json_t *rule = json(rule_text);
    const char *why = pricing_refund_rule_problem(rule);
    json_decref(rule);
    if (why)
        fail_msg("%s: rejected: %s", rule_text, why);
}

static const char two_tiers[] = "{\"type\": \"tiers\", \"tiers\": ["
                                "{\"hours_before\": 24, \"refund_percent\": 50},"
                                "{\"hours_before\": 48, \"refund_percent\": 100}]}";
static const char linear_48_2[] =
    "{\"type\": \"linear\", \"full_refund_hours\": 48, \"no_refund_hours\": 2}";

/* ---- price ---- */

static void test_price_across_a_peak_boundary_charges_each_hour_at_its_rate(void **state)
{
    (void)state;
    /* Monday 17:00-19:00: one off-peak hour, one peak hour. */
    assert_int_equal(price_one(2000, evening_peak, 1, MON, HHMM(17, 0), 120), 5000);
    /* Monday 22:30-23:30: half peak, half room rate. */
    assert_int_equal(price_one(2000, evening_peak, 1, MON, HHMM(22, 30), 60), 2500);
}

static void test_price_inside_a_rule_that_starts_and_ends_mid_segment(void **state)
{
    (void)state;
    const struct price_rule happy = {EVERY_DAY, HHMM(10, 15), HHMM(10, 45), 0};
    /* 10:00-11:00: 30 minutes at 1200/h, 30 free. */
    assert_int_equal(price_one(1200, &happy, 1, TUE, HHMM(10, 0), 60), 600);
}

static void test_price_of_overlapping_rules_takes_the_highest_rate(void **state)
{
    (void)state;
    const struct price_rule rules[] = {
        {EVERY_DAY, HHMM(18, 0), HHMM(23, 0), 3000},
        {BIT(MON), HHMM(19, 0), HHMM(20, 0), 4000},
        {EVERY_DAY, HHMM(18, 0), HHMM(24, 0), 2500},
    };
    /* 18-19 at 3000, 19-20 at 4000, 20-21 at 3000. */
    assert_int_equal(price_one(2000, rules, NELEM(rules), MON, HHMM(18, 0), 180), 10000);
    /* On Tuesday the Monday rule does not apply. */
    assert_int_equal(price_one(2000, rules, NELEM(rules), TUE, HHMM(18, 0), 180), 9000);
    /* 23-24 only the 2500 rule covers. */
    assert_int_equal(price_one(2000, rules, NELEM(rules), TUE, HHMM(23, 0), 60), 2500);
}

static void test_price_of_an_off_peak_rule_below_the_room_rate_applies(void **state)
{
    (void)state;
    const struct price_rule morning = {EVERY_DAY, HHMM(6, 0), HHMM(10, 0), 1000};
    assert_int_equal(price_one(2000, &morning, 1, TUE, HHMM(9, 0), 120), 3000);
}

static void test_price_weekend_rule_is_not_applied_on_a_monday(void **state)
{
    (void)state;
    const struct price_rule weekend = {WEEKEND, 0, HHMM(24, 0), 5000};
    assert_int_equal(price_one(2000, &weekend, 1, MON, HHMM(12, 0), 60), 2000);
    assert_int_equal(price_one(2000, &weekend, 1, SAT, HHMM(12, 0), 60), 5000);
    assert_int_equal(price_one(2000, &weekend, 1, SUN, HHMM(12, 0), 60), 5000);
}

static void test_price_rule_ending_at_midnight_covers_the_last_minute(void **state)
{
    (void)state;
    const struct price_rule late = {EVERY_DAY, HHMM(23, 0), HHMM(24, 0), 6000};
    assert_int_equal(price_one(0, &late, 1, MON, HHMM(23, 59), 1), 100);
}

static void test_price_of_odd_minutes_rounds_half_to_even(void **state)
{
    (void)state;
    /* 1001/h for 30 minutes = 500.5 → 500; 1003/h = 501.5 → 502. */
    assert_int_equal(price_one(1001, NULL, 0, MON, HHMM(10, 0), 30), 500);
    assert_int_equal(price_one(1003, NULL, 0, MON, HHMM(10, 0), 30), 502);
    /* 1000/h for 7 minutes = 116.67 → 117; for 1 minute = 16.67 → 17. */
    assert_int_equal(price_one(1000, NULL, 0, MON, HHMM(10, 0), 7), 117);
    assert_int_equal(price_one(1000, NULL, 0, MON, HHMM(10, 0), 1), 17);
}

static void test_price_rounds_once_over_all_segments(void **state)
{
    (void)state;
    /* Two half-hours at 1001/h: 1001, not 500 + 500. */
    const struct time_segment segs[] = {{MON, HHMM(10, 0), 30}, {TUE, HHMM(10, 0), 30}};
    assert_int_equal(pricing_price(1001, NULL, 0, segs, NELEM(segs)), 1001);
}

static void test_price_of_a_zero_rate_room_is_zero(void **state)
{
    (void)state;
    assert_int_equal(price_one(0, NULL, 0, MON, HHMM(9, 0), 480), 0);
    const struct price_rule free_peak = {WEEKDAYS, HHMM(18, 0), HHMM(23, 0), 0};
    assert_int_equal(price_one(0, &free_peak, 1, MON, HHMM(17, 0), 120), 0);
}

static void test_price_of_many_segments_is_their_sum(void **state)
{
    (void)state;
    /* Every day of a week, 17:00-19:00: five weekdays at 5000, two weekend days at 4000. */
    struct time_segment segs[7];
    for (int d = 1; d <= 7; d++)
        segs[d - 1] = (struct time_segment){d, HHMM(17, 0), 120};
    assert_int_equal(pricing_price(2000, evening_peak, 1, segs, 7), 5 * 5000 + 2 * 4000);

    /* A day cut into 288 five-minute segments costs what the whole day costs. */
    struct time_segment pieces[288];
    for (int i = 0; i < 288; i++)
        pieces[i] =
            (struct time_segment){MON, i * PRICING_SEGMENT_MINUTES, PRICING_SEGMENT_MINUTES};
    assert_int_equal(pricing_price(2000, evening_peak, 1, pieces, 288),
                     price_one(2000, evening_peak, 1, MON, 0, 1440));
    assert_int_equal(price_one(2000, evening_peak, 1, MON, 0, 1440), 19 * 2000 + 5 * 3000);
}

static void test_price_ignores_negative_and_empty_segments(void **state)
{
    (void)state;
    const struct time_segment segs[] = {
        {MON, HHMM(10, 0), 60}, {MON, HHMM(12, 0), -60}, {MON, HHMM(14, 0), 0}};
    assert_int_equal(pricing_price(2000, NULL, 0, segs, NELEM(segs)), 2000);
    assert_int_equal(pricing_price(2000, NULL, 0, segs, -1), 0);
    assert_int_equal(pricing_price(2000, NULL, 0, NULL, 3), 0);
}

static void test_price_clamps_a_segment_at_midnight(void **state)
{
    (void)state;
    /* 23:00 + 120 minutes would cross midnight: only the hour to midnight counts. */
    assert_int_equal(price_one(2000, NULL, 0, MON, HHMM(23, 0), 120), 2000);
    assert_int_equal(price_one(2000, NULL, 0, MON, HHMM(23, 0), INT32_MAX), 2000);
    assert_int_equal(price_one(2000, NULL, 0, MON, 5000, 60), 0);
    assert_int_equal(price_one(2000, NULL, 0, MON, -30, 60), 2000);
}

static void test_price_ignores_empty_rules_and_unknown_weekdays(void **state)
{
    (void)state;
    const struct price_rule rules[] = {
        {EVERY_DAY, HHMM(20, 0), HHMM(8, 0), 9000}, /* backwards: covers nothing */
        {EVERY_DAY, -100, 5000, 7000},              /* clamped to the whole day */
    };
    assert_int_equal(price_one(2000, rules, 1, MON, HHMM(21, 0), 60), 2000);
    assert_int_equal(price_one(2000, rules, NELEM(rules), MON, HHMM(21, 0), 60), 7000);
    /* A weekday outside 1..7 matches no rule. */
    assert_int_equal(price_one(2000, rules, NELEM(rules), 0, HHMM(21, 0), 60), 2000);
    assert_int_equal(price_one(2000, rules, NELEM(rules), 8, HHMM(21, 0), 60), 2000);
    assert_int_equal(price_one(2000, NULL, 5, MON, HHMM(21, 0), 60), 2000);
}

static void test_price_saturates_instead_of_overflowing(void **state)
{
    (void)state;
    /* The largest rate whose rate × minutes still fits: exact. */
    assert_int_equal(price_one(INT64_MAX / 1440, NULL, 0, MON, 0, 1440), INT64_MAX / 1440 * 24);
    /* Beyond it the price saturates rather than wrapping. */
    assert_int_equal(price_one(INT64_MAX, NULL, 0, MON, 0, 1440), INT64_MAX);
    assert_int_equal(price_one(INT64_MIN, NULL, 0, MON, 0, 1440), INT64_MIN);
}

/* ---- deposit ---- */

static void test_deposit_none_is_zero(void **state)
{
    (void)state;
    assert_int_equal(pricing_deposit(5000, "none", 30), 0);
}

static void test_deposit_percent_rounds_half_to_even(void **state)
{
    (void)state;
    assert_int_equal(pricing_deposit(1000, "percent", 25), 250);
    assert_int_equal(pricing_deposit(1002, "percent", 25), 250); /* 250.5 → 250 */
    assert_int_equal(pricing_deposit(1006, "percent", 25), 252); /* 251.5 → 252 */
    assert_int_equal(pricing_deposit(1000, "percent", 100), 1000);
    assert_int_equal(pricing_deposit(1000, "percent", 0), 0);
}

static void test_deposit_fixed_is_capped_at_the_price(void **state)
{
    (void)state;
    assert_int_equal(pricing_deposit(5000, "fixed", 2000), 2000);
    assert_int_equal(pricing_deposit(3000, "fixed", 5000), 3000);
}

static void test_deposit_is_never_negative_nor_above_the_price(void **state)
{
    (void)state;
    assert_int_equal(pricing_deposit(0, "fixed", 500), 0);
    assert_int_equal(pricing_deposit(1000, "fixed", -500), 0);
    assert_int_equal(pricing_deposit(1000, "percent", 150), 1000);
    assert_int_equal(pricing_deposit(1000, "percent", -10), 0);
}

static void test_deposit_of_an_unknown_type_is_minus_one(void **state)
{
    (void)state;
    assert_int_equal(pricing_deposit(5000, "half", 50), -1);
    assert_int_equal(pricing_deposit(5000, "PERCENT", 50), -1);
    assert_int_equal(pricing_deposit(5000, NULL, 50), -1);
}

/* ---- refund ---- */

static void test_refund_tier_applies_at_exactly_its_boundary(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(refund(two_tiers, 10000, HOURS(48), &name), 10000);
    assert_string_equal(name, "tier 48h 100%");
    assert_int_equal(refund(two_tiers, 10000, HOURS(48) - 60, &name), 5000); /* 47h59m */
    assert_string_equal(name, "tier 24h 50%");
    assert_int_equal(refund(two_tiers, 10000, HOURS(24), &name), 5000);
    assert_int_equal(refund(two_tiers, 10000, HOURS(24) - 1, &name), 0);
    assert_string_equal(name, "no refund");
}

static void test_refund_longest_notice_tier_wins_whatever_the_json_order(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(refund(two_tiers, 10000, HOURS(24 * 30), &name), 10000);
    assert_string_equal(name, "tier 48h 100%");
}

static void test_refund_below_the_last_tier_is_zero(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(refund(two_tiers, 10000, HOURS(2), &name), 0);
    assert_string_equal(name, "no refund");
}

static void test_refund_after_the_start_is_zero(void **state)
{
    (void)state;
    const char *at_start = "{\"type\": \"tiers\", \"tiers\": "
                           "[{\"hours_before\": 0, \"refund_percent\": 20}]}";
    const char *name = NULL;
    assert_int_equal(refund(at_start, 10000, 0, &name), 2000);
    assert_string_equal(name, "tier 0h 20%");
    assert_int_equal(refund(at_start, 10000, -1, &name), 0);
    assert_string_equal(name, "no refund");
    assert_int_equal(refund(two_tiers, 10000, -HOURS(1), &name), 0);
    assert_int_equal(refund(linear_48_2, 10000, -HOURS(1), &name), 0);
    assert_int_equal(refund(linear_48_2, 10000, INT64_MIN, &name), 0);
}

static void test_refund_tier_percent_rounds_half_to_even(void **state)
{
    (void)state;
    assert_int_equal(refund(two_tiers, 1001, HOURS(30), NULL), 500); /* 500.5 */
    assert_int_equal(refund(two_tiers, 1003, HOURS(30), NULL), 502); /* 501.5 */
}

static void test_refund_linear_is_full_and_none_at_its_ends(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(refund(linear_48_2, 10000, HOURS(48), &name), 10000);
    assert_string_equal(name, "linear");
    assert_int_equal(refund(linear_48_2, 10000, INT64_MAX, &name), 10000);
    assert_int_equal(refund(linear_48_2, 10000, HOURS(2), &name), 0);
    assert_string_equal(name, "no refund");
    assert_int_equal(refund(linear_48_2, 10000, HOURS(2) + 1, &name), 0); /* 0.006 → 0 */
    assert_string_equal(name, "linear");
}

static void test_refund_linear_is_pro_rata_at_the_midpoint(void **state)
{
    (void)state;
    /* 25h before: (25 - 2) / (48 - 2) = 50%. */
    assert_int_equal(refund(linear_48_2, 10000, HOURS(25), NULL), 5000);
    /* 13.5h before: 11.5 / 46 = 25%. */
    assert_int_equal(refund(linear_48_2, 10000, HOURS(13) + 1800, NULL), 2500);
}

static void test_refund_linear_rounds_half_to_even(void **state)
{
    (void)state;
    assert_int_equal(refund(linear_48_2, 1001, HOURS(25), NULL), 500); /* 500.5 */
    assert_int_equal(refund(linear_48_2, 1003, HOURS(25), NULL), 502); /* 501.5 */
}

static void test_refund_of_nothing_paid_is_zero(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(refund(two_tiers, 0, HOURS(100), &name), 0);
    assert_string_equal(name, "no refund");
    assert_int_equal(refund(linear_48_2, -500, HOURS(100), &name), 0);
}

static void test_refund_with_an_invalid_rule_is_zero(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(pricing_refund(10000, HOURS(100), NULL, &name), 0);
    assert_string_equal(name, "no refund");
    assert_int_equal(refund("{\"type\": \"flat\"}", 10000, HOURS(100), &name), 0);
    assert_string_equal(name, "no refund");
}

static void test_refund_leaves_the_rule_json_untouched(void **state)
{
    (void)state;
    json_t *rule = json(two_tiers);
    json_t *before = json_deep_copy(rule);
    pricing_refund(10000, HOURS(30), rule, NULL);
    assert_true(json_equal(rule, before));
    json_decref(before);
    json_decref(rule);
}

static void test_refund_rules_that_are_valid(void **state)
{
    (void)state;
    assert_rule_valid(two_tiers);
    assert_rule_valid(linear_48_2);
    assert_rule_valid("{\"type\": \"tiers\", \"tiers\": "
                      "[{\"hours_before\": 0, \"refund_percent\": 0}]}");
    assert_rule_valid("{\"type\": \"linear\", \"full_refund_hours\": 1, \"no_refund_hours\": 0}");
}

static void test_refund_rule_with_percent_above_100_is_rejected(void **state)
{
    (void)state;
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": "
                         "[{\"hours_before\": 48, \"refund_percent\": 101}]}",
                         "refund_percent");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": "
                         "[{\"hours_before\": 48, \"refund_percent\": -1}]}",
                         "refund_percent");
}

static void test_refund_rule_with_negative_hours_is_rejected(void **state)
{
    (void)state;
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": "
                         "[{\"hours_before\": -1, \"refund_percent\": 50}]}",
                         "hours_before");
    assert_rule_rejected(
        "{\"type\": \"linear\", \"full_refund_hours\": 48, \"no_refund_hours\": -2}",
        "no_refund_hours");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": "
                         "[{\"hours_before\": 9223372036854775807, \"refund_percent\": 50}]}",
                         "hours_before");
}

static void test_refund_rule_with_duplicate_hours_is_rejected(void **state)
{
    (void)state;
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": ["
                         "{\"hours_before\": 24, \"refund_percent\": 50},"
                         "{\"hours_before\": 24, \"refund_percent\": 80}]}",
                         "same hours_before");
}

static void test_refund_rule_with_full_not_above_no_is_rejected(void **state)
{
    (void)state;
    assert_rule_rejected("{\"type\": \"linear\", \"full_refund_hours\": 2, \"no_refund_hours\": 2}",
                         "more than");
    assert_rule_rejected(
        "{\"type\": \"linear\", \"full_refund_hours\": 2, \"no_refund_hours\": 48}", "more than");
}

static void test_refund_rule_with_wrong_types_is_rejected(void **state)
{
    (void)state;
    assert_rule_rejected("[]", "object");
    assert_rule_rejected("{\"type\": \"flat\"}", "type");
    assert_rule_rejected("{\"type\": 3}", "type");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": {}}", "array");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": [48]}", "object");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": "
                         "[{\"hours_before\": \"48\", \"refund_percent\": 50}]}",
                         "hours_before");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": "
                         "[{\"hours_before\": 48, \"refund_percent\": 50.5}]}",
                         "refund_percent");
    assert_rule_rejected(
        "{\"type\": \"linear\", \"full_refund_hours\": 48.0, \"no_refund_hours\": 2}",
        "full_refund_hours");
    const char *why = pricing_refund_rule_problem(NULL);
    assert_non_null(why);
}

static void test_refund_rule_with_missing_fields_is_rejected(void **state)
{
    (void)state;
    assert_rule_rejected("{}", "type");
    assert_rule_rejected("{\"type\": \"tiers\"}", "tiers");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": [{\"refund_percent\": 50}]}",
                         "hours_before");
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": [{\"hours_before\": 48}]}",
                         "refund_percent");
    assert_rule_rejected("{\"type\": \"linear\", \"no_refund_hours\": 2}", "full_refund_hours");
    assert_rule_rejected("{\"type\": \"linear\", \"full_refund_hours\": 48}", "no_refund_hours");
}

static void test_refund_rule_tiers_must_number_1_to_10(void **state)
{
    (void)state;
    assert_rule_rejected("{\"type\": \"tiers\", \"tiers\": []}", "empty");
    char text[1024] = "{\"type\": \"tiers\", \"tiers\": [";
    for (int i = 0; i < 11; i++) {
        char tier[64];
        snprintf(tier, sizeof tier, "%s{\"hours_before\": %d, \"refund_percent\": 10}",
                 i ? "," : "", i);
        strcat(text, tier);
        if (i == 9) { /* ten tiers are fine */
            char ten[1024];
            snprintf(ten, sizeof ten, "%s]}", text);
            assert_rule_valid(ten);
        }
    }
    strcat(text, "]}");
    assert_rule_rejected(text, "10 tiers");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_price_across_a_peak_boundary_charges_each_hour_at_its_rate),
        cmocka_unit_test(test_price_inside_a_rule_that_starts_and_ends_mid_segment),
        cmocka_unit_test(test_price_of_overlapping_rules_takes_the_highest_rate),
        cmocka_unit_test(test_price_of_an_off_peak_rule_below_the_room_rate_applies),
        cmocka_unit_test(test_price_weekend_rule_is_not_applied_on_a_monday),
        cmocka_unit_test(test_price_rule_ending_at_midnight_covers_the_last_minute),
        cmocka_unit_test(test_price_of_odd_minutes_rounds_half_to_even),
        cmocka_unit_test(test_price_rounds_once_over_all_segments),
        cmocka_unit_test(test_price_of_a_zero_rate_room_is_zero),
        cmocka_unit_test(test_price_of_many_segments_is_their_sum),
        cmocka_unit_test(test_price_ignores_negative_and_empty_segments),
        cmocka_unit_test(test_price_clamps_a_segment_at_midnight),
        cmocka_unit_test(test_price_ignores_empty_rules_and_unknown_weekdays),
        cmocka_unit_test(test_price_saturates_instead_of_overflowing),
        cmocka_unit_test(test_deposit_none_is_zero),
        cmocka_unit_test(test_deposit_percent_rounds_half_to_even),
        cmocka_unit_test(test_deposit_fixed_is_capped_at_the_price),
        cmocka_unit_test(test_deposit_is_never_negative_nor_above_the_price),
        cmocka_unit_test(test_deposit_of_an_unknown_type_is_minus_one),
        cmocka_unit_test(test_refund_tier_applies_at_exactly_its_boundary),
        cmocka_unit_test(test_refund_longest_notice_tier_wins_whatever_the_json_order),
        cmocka_unit_test(test_refund_below_the_last_tier_is_zero),
        cmocka_unit_test(test_refund_after_the_start_is_zero),
        cmocka_unit_test(test_refund_tier_percent_rounds_half_to_even),
        cmocka_unit_test(test_refund_linear_is_full_and_none_at_its_ends),
        cmocka_unit_test(test_refund_linear_is_pro_rata_at_the_midpoint),
        cmocka_unit_test(test_refund_linear_rounds_half_to_even),
        cmocka_unit_test(test_refund_of_nothing_paid_is_zero),
        cmocka_unit_test(test_refund_with_an_invalid_rule_is_zero),
        cmocka_unit_test(test_refund_leaves_the_rule_json_untouched),
        cmocka_unit_test(test_refund_rules_that_are_valid),
        cmocka_unit_test(test_refund_rule_with_percent_above_100_is_rejected),
        cmocka_unit_test(test_refund_rule_with_negative_hours_is_rejected),
        cmocka_unit_test(test_refund_rule_with_duplicate_hours_is_rejected),
        cmocka_unit_test(test_refund_rule_with_full_not_above_no_is_rejected),
        cmocka_unit_test(test_refund_rule_with_wrong_types_is_rejected),
        cmocka_unit_test(test_refund_rule_with_missing_fields_is_rejected),
        cmocka_unit_test(test_refund_rule_tiers_must_number_1_to_10),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
