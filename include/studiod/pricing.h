/*
 * pricing.h — the pure money rules of a booking: price over peak/off-peak
 * rules, deposit, refund on cancellation. Integer minor units only; every
 * division rounds half-even through money_scale(). No database, no clock:
 * callers pass local times and durations in.
 */
#ifndef STUDIOD_PRICING_H
#define STUDIOD_PRICING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define PRICING_SEGMENT_MINUTES 5

/* A peak/off-peak rule: on the ISO weekdays in weekday_mask (bit 1 = Monday ... bit 7 =
 * Sunday), local minutes [start_minute, end_minute) cost hourly_rate. */
struct price_rule {
    unsigned weekday_mask;
    int start_minute, end_minute; /* 0..1440 */
    int64_t hourly_rate;
};

/* A piece of a booking in the studio's local time. */
struct time_segment {
    int weekday;       /* ISO 1..7 */
    int minute_of_day; /* 0..1439, local */
    int minutes;       /* length */
};

/* The price of the segments: each minute costs the highest rate among the rules that cover
 * it, else room_rate; sum(rate * minutes) / 60 rounded half-even once at the end. */
int64_t pricing_price(int64_t room_rate, const struct price_rule *rules, int nrules,
                      const struct time_segment *segs, int nsegs);

/* The deposit for a price: type "none" → 0, "percent" → price * value / 100, "fixed" →
 * min(value, price). -1 for an unknown type. */
int64_t pricing_deposit(int64_t price, const char *type, int64_t value);

/* Checks a refund rule; NULL when valid, else why not (static text).
 *   {"type": "tiers", "tiers": [{"hours_before": 48, "refund_percent": 100}, ...]}
 *     hours_before >= 0, distinct; refund_percent 0..100
 *   {"type": "linear", "full_refund_hours": 48, "no_refund_hours": 2}
 *     full > no >= 0: 100% at or before full, 0% at or after no, linear in between */
const char *pricing_refund_rule_problem(json_t *rule);

/* The refund due for `paid` when cancelling seconds_before_start seconds before the start
 * (negative: after it started). *rule_name (if given) gets a short static description of
 * the rule that applied ("tier 48h 100%", "linear", "no refund"). */
int64_t pricing_refund(int64_t paid, int64_t seconds_before_start, json_t *rule,
                       const char **rule_name);

#endif
