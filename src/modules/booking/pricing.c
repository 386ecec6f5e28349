/*
 * pricing.c — the pure money rules of a booking (pricing.h): what a stay in
 * a room costs under the studio's peak/off-peak rules, how much of it is
 * taken as a deposit, and how much goes back on cancellation.
 *
 * Everything here is integer minor units. The only division of money is
 * money_scale() (half-even rounding), and each result is rounded exactly
 * once: the price sums rate × minutes over the whole booking first and
 * divides by 60 at the end, so splitting a booking into segments never
 * changes its price. No clock, no database: callers pass local times and
 * durations in, which keeps every rule unit-testable.
 */
#include "studiod/pricing.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "studiod/money.h"

#define MINUTES_PER_DAY 1440
#define MINUTES_PER_HOUR 60
#define SECONDS_PER_HOUR 3600
#define PERCENT 100
#define ISO_MONDAY 1
#define ISO_SUNDAY 7

/* Refund rules: at most this many tiers, and no window longer than a leap
 * year (which also keeps hours × 3600 far from overflowing). */
#define REFUND_MAX_TIERS 10
#define REFUND_MAX_HOURS 8784

static const char RULE_NAME_NONE[] = "no refund";
static const char RULE_NAME_LINEAR[] = "linear";

struct refund_tier {
    int64_t hours_before;
    int64_t percent;
};

/* A refund rule parsed out of its JSON; only meaningful once refund_rule_parse
 * returned NULL. */
struct refund_rule {
    enum { REFUND_TIERS, REFUND_LINEAR } kind;
    int ntiers;
    struct refund_tier tiers[REFUND_MAX_TIERS];
    int64_t full_hours, no_hours;
};

static int clamp_int(int v, int lo, int hi);
static bool rule_applies_on(const struct price_rule *r, int weekday);
static int64_t rate_at(int64_t room_rate, const struct price_rule *rules, int nrules, int weekday,
                       int minute, int *next_change);
static __int128 segment_cost(int64_t room_rate, const struct price_rule *rules, int nrules,
                             const struct time_segment *seg);
static const char *hours_problem(json_t *v, const char *missing, const char *not_integer,
                                 const char *out_of_range, int64_t *out);
static const char *tiers_parse(json_t *tiers, struct refund_rule *out);
static const char *linear_parse(json_t *rule, struct refund_rule *out);
static const char *refund_rule_parse(json_t *rule, struct refund_rule *out);
static void tiers_sort_descending(struct refund_tier *t, int n);
static int64_t refund_by_tiers(int64_t paid, int64_t seconds, struct refund_rule *rule,
                               const char **name);
static int64_t refund_linear(int64_t paid, int64_t seconds, const struct refund_rule *rule,
                             const char **name);

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Bit n of weekday_mask is ISO weekday n; a weekday outside 1..7 matches no rule. */
static bool rule_applies_on(const struct price_rule *r, int weekday)
{
    if (weekday < ISO_MONDAY || weekday > ISO_SUNDAY)
        return false;
    return (r->weekday_mask & (1u << weekday)) != 0;
}

/*
 * The hourly rate of `minute`: the highest rate among the rules covering it,
 * else room_rate. *next_change is lowered to the first rule boundary after
 * `minute`, so the caller can charge the whole run up to it at this rate.
 * Rule bounds are clamped to the day; an empty rule (start >= end) covers
 * nothing — rules do not wrap past midnight.
 */
static int64_t rate_at(int64_t room_rate, const struct price_rule *rules, int nrules, int weekday,
                       int minute, int *next_change)
{
    bool covered = false;
    int64_t best = 0;
    for (int i = 0; i < nrules; i++) {
        const struct price_rule *r = &rules[i];
        if (!rule_applies_on(r, weekday))
            continue;
        int lo = clamp_int(r->start_minute, 0, MINUTES_PER_DAY);
        int hi = clamp_int(r->end_minute, 0, MINUTES_PER_DAY);
        if (lo >= hi)
            continue;
        if (lo <= minute && minute < hi) {
            if (!covered || r->hourly_rate > best)
                best = r->hourly_rate;
            covered = true;
            if (hi < *next_change)
                *next_change = hi;
        } else if (lo > minute && lo < *next_change) {
            *next_change = lo;
        }
    }
    return covered ? best : room_rate;
}

/*
 * sum(rate × minutes) over one segment, walked in runs between rule
 * boundaries. A segment is one local day: one that would run past midnight
 * is clamped there (the caller splits bookings at midnight), and a negative
 * or empty one costs nothing.
 */
static __int128 segment_cost(int64_t room_rate, const struct price_rule *rules, int nrules,
                             const struct time_segment *seg)
{
    if (seg->minutes <= 0)
        return 0;
    int start = clamp_int(seg->minute_of_day, 0, MINUTES_PER_DAY);
    int end = seg->minutes > MINUTES_PER_DAY - start ? MINUTES_PER_DAY : start + seg->minutes;
    __int128 sum = 0;
    for (int m = start; m < end;) {
        int next = end;
        int64_t rate = rate_at(room_rate, rules, nrules, seg->weekday, m, &next);
        sum += (__int128)rate * (next - m);
        m = next;
    }
    return sum;
}

/* Bounded by 1440 minutes × INT64_MAX × INT_MAX segments < 2^105, the __int128
 * sum cannot overflow. A sum beyond int64 (rates above ~6.4e15 minor units an
 * hour) saturates the price rather than wrapping. */
int64_t pricing_price(int64_t room_rate, const struct price_rule *rules, int nrules,
                      const struct time_segment *segs, int nsegs)
{
    if (!rules || nrules < 0)
        nrules = 0;
    if (!segs || nsegs < 0)
        nsegs = 0;
    __int128 sum = 0;
    for (int i = 0; i < nsegs; i++)
        sum += segment_cost(room_rate, rules, nrules, &segs[i]);
    if (sum > INT64_MAX)
        return INT64_MAX;
    if (sum < INT64_MIN)
        return INT64_MIN;
    return money_scale((int64_t)sum, 1, MINUTES_PER_HOUR);
}

/* A deposit is never negative nor more than the price, whatever the value
 * configured (a percent above 100 or a negative fixed amount). */
int64_t pricing_deposit(int64_t price, const char *type, int64_t value)
{
    int64_t d;
    if (!type)
        return -1;
    if (strcmp(type, "none") == 0)
        d = 0;
    else if (strcmp(type, "percent") == 0)
        d = money_scale(price, value, PERCENT);
    else if (strcmp(type, "fixed") == 0)
        d = value < price ? value : price;
    else
        return -1;
    if (d > price)
        d = price;
    return d < 0 ? 0 : d;
}

/* A whole number of hours in 0..REFUND_MAX_HOURS, or which of the three
 * reasons it is not. */
static const char *hours_problem(json_t *v, const char *missing, const char *not_integer,
                                 const char *out_of_range, int64_t *out)
{
    if (!v)
        return missing;
    if (!json_is_integer(v))
        return not_integer;
    json_int_t h = json_integer_value(v);
    if (h < 0 || h > REFUND_MAX_HOURS)
        return out_of_range;
    *out = (int64_t)h;
    return NULL;
}

static const char *tiers_parse(json_t *tiers, struct refund_rule *out)
{
    if (!tiers)
        return "tiers is missing";
    if (!json_is_array(tiers))
        return "tiers must be an array";
    size_t n = json_array_size(tiers);
    if (n == 0)
        return "tiers must not be empty";
    if (n > REFUND_MAX_TIERS)
        return "at most 10 tiers";
    out->kind = REFUND_TIERS;
    out->ntiers = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tiers, i);
        struct refund_tier *tier = &out->tiers[i];
        if (!json_is_object(t))
            return "each tier must be an object";
        const char *why =
            hours_problem(json_object_get(t, "hours_before"), "a tier has no hours_before",
                          "hours_before must be a whole number", "hours_before must be 0 to 8784",
                          &tier->hours_before);
        if (why)
            return why;
        json_t *p = json_object_get(t, "refund_percent");
        if (!p)
            return "a tier has no refund_percent";
        if (!json_is_integer(p))
            return "refund_percent must be a whole number";
        if (json_integer_value(p) < 0 || json_integer_value(p) > PERCENT)
            return "refund_percent must be 0 to 100";
        tier->percent = (int64_t)json_integer_value(p);
        for (size_t j = 0; j < i; j++)
            if (out->tiers[j].hours_before == tier->hours_before)
                return "two tiers have the same hours_before";
        out->ntiers++;
    }
    return NULL;
}

static const char *linear_parse(json_t *rule, struct refund_rule *out)
{
    out->kind = REFUND_LINEAR;
    const char *why =
        hours_problem(json_object_get(rule, "full_refund_hours"), "full_refund_hours is missing",
                      "full_refund_hours must be a whole number",
                      "full_refund_hours must be 0 to 8784", &out->full_hours);
    if (why)
        return why;
    why = hours_problem(json_object_get(rule, "no_refund_hours"), "no_refund_hours is missing",
                        "no_refund_hours must be a whole number",
                        "no_refund_hours must be 0 to 8784", &out->no_hours);
    if (why)
        return why;
    if (out->full_hours <= out->no_hours)
        return "full_refund_hours must be more than no_refund_hours";
    return NULL;
}

/* Parses and checks a refund rule in one pass: NULL and *out filled when
 * valid, else the reason (static text). Unknown keys are ignored. */
static const char *refund_rule_parse(json_t *rule, struct refund_rule *out)
{
    if (!json_is_object(rule))
        return "the refund rule must be an object";
    json_t *type = json_object_get(rule, "type");
    if (!type)
        return "type is missing";
    if (!json_is_string(type))
        return "type must be \"tiers\" or \"linear\"";
    if (strcmp(json_string_value(type), "tiers") == 0)
        return tiers_parse(json_object_get(rule, "tiers"), out);
    if (strcmp(json_string_value(type), "linear") == 0)
        return linear_parse(rule, out);
    return "type must be \"tiers\" or \"linear\"";
}

const char *pricing_refund_rule_problem(json_t *rule)
{
    struct refund_rule parsed;
    return refund_rule_parse(rule, &parsed);
}

/* Insertion sort: at most REFUND_MAX_TIERS entries, hours_before distinct. */
static void tiers_sort_descending(struct refund_tier *t, int n)
{
    for (int i = 1; i < n; i++) {
        struct refund_tier key = t[i];
        int j = i - 1;
        for (; j >= 0 && t[j].hours_before < key.hours_before; j--)
            t[j + 1] = t[j];
        t[j + 1] = key;
    }
}

/*
 * The first tier, from the longest notice down, whose notice was given.
 * Its name ("tier 48h 100%") is built in a thread-local buffer: the pointer
 * stays valid until this thread's next pricing_refund() call, so a caller
 * that keeps the name must copy it (into its arena, typically).
 */
static int64_t refund_by_tiers(int64_t paid, int64_t seconds, struct refund_rule *rule,
                               const char **name)
{
    static _Thread_local char tier_name[48];
    tiers_sort_descending(rule->tiers, rule->ntiers);
    for (int i = 0; i < rule->ntiers; i++) {
        const struct refund_tier *t = &rule->tiers[i];
        if (t->hours_before * SECONDS_PER_HOUR <= seconds) {
            snprintf(tier_name, sizeof tier_name, "tier %" PRId64 "h %" PRId64 "%%",
                     t->hours_before, t->percent);
            *name = tier_name;
            return money_scale(paid, t->percent, PERCENT);
        }
    }
    *name = RULE_NAME_NONE;
    return 0;
}

/* All of it at or before full_hours, nothing at or after no_hours (which
 * includes any time after the start), pro rata by the second in between. */
static int64_t refund_linear(int64_t paid, int64_t seconds, const struct refund_rule *rule,
                             const char **name)
{
    int64_t full = rule->full_hours * SECONDS_PER_HOUR;
    int64_t none = rule->no_hours * SECONDS_PER_HOUR;
    if (seconds <= none) {
        *name = RULE_NAME_NONE;
        return 0;
    }
    *name = RULE_NAME_LINEAR;
    if (seconds >= full)
        return paid;
    return money_scale(paid, seconds - none, full - none);
}

int64_t pricing_refund(int64_t paid, int64_t seconds_before_start, json_t *rule,
                       const char **rule_name)
{
    const char *unused;
    const char **name = rule_name ? rule_name : &unused;
    struct refund_rule parsed; /* a copy: sorting it leaves the caller's JSON alone */
    *name = RULE_NAME_NONE;
    if (paid <= 0 || refund_rule_parse(rule, &parsed) != NULL)
        return 0;
    if (parsed.kind == REFUND_TIERS)
        return refund_by_tiers(paid, seconds_before_start, &parsed, name);
    return refund_linear(paid, seconds_before_start, &parsed, name);
}
