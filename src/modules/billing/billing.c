/*
 * billing.c — the platform's subscriptions: what a studio pays studiod,
 * through Stripe Billing, recorded in the master database.
 *
 * LIFECYCLE
 *   signup        organizations.status 'trial', plan_id 'pro' (the trial
 *                 plan, BILLING_TRIAL_PLAN), trial_ends_at = now + trial days.
 *   checkout      create-checkout makes the studio's Stripe customer once
 *                 (Idempotency-Key "org-<id>-customer", the id kept in
 *                 organizations.stripe_customer_id) and a Checkout Session in
 *                 mode subscription whose metadata, client_reference_id and
 *                 subscription_data[metadata] name the organization and plan.
 *   webhooks      checkout.session.completed links customer and subscription
 *                 (the subscription is fetched from Stripe and stored);
 *                 customer.subscription.created|updated|deleted store what
 *                 Stripe says; invoice.paid / invoice.payment_failed record
 *                 the invoice (a failure makes an active subscription
 *                 past_due). After every change the organization follows its
 *                 best subscription (sync_org): one that is active, trialing
 *                 or past_due makes it status 'active' on that plan; none
 *                 makes it 'trial' again on the trial plan, which is
 *                 read-only once trial_ends_at has passed. past_due counts as
 *                 paid: Stripe's own dunning (retries, then canceled or
 *                 unpaid) is the grace period. Nothing is ever deleted.
 *   changes       upgrade (always_invoice: the difference is charged at once,
 *                 payment_behavior=error_if_incomplete so a declined card
 *                 changes nothing), downgrade now (create_prorations: the
 *                 unused time is credited on the next invoice), downgrade at
 *                 period end, cancel at period end (cancel_at_period_end) or
 *                 at once (DELETE). Each holds the subscription row FOR UPDATE
 *                 across the Stripe call, so a webhook for the same
 *                 subscription waits and concurrent clicks queue; the row is
 *                 written from Stripe's reply before commit, and nothing is
 *                 written when Stripe fails.
 *
 * DECISIONS AND DEPARTURES
 *   - A downgrade at period end is not a Stripe subscription schedule: the
 *     price is changed now with proration_behavior=none, so Stripe bills the
 *     lower price from the next period on, and subscriptions.scheduled_plan_id
 *     keeps the studio on its current plan (and limits) until an event shows
 *     the period rolled over (its current_period_start reaches the stored
 *     current_period_end); the plan then changes. Same bill, one call.
 *   - Ordering: a subscription row is only changed by an event at least as
 *     new as last_event_at (the event's "created"); our own writes from an
 *     API reply count as "now". Two events of the same second apply in
 *     delivery order. Invoice events have their own clock
 *     (latest_invoice_at).
 *   - Idempotency keys name the state acted on: "sub-<id>-<action>-<price>-
 *     <row version>", so a retried click is one change, and a change made
 *     again later (after the portal undid it) is a new one.
 *   - Limits apply where a room or staff user is made or made active again
 *     (unarchived, reactivated) and where a booking is made, public or staff.
 *     A downgrade below what the studio has deletes nothing: new ones are
 *     refused until it is under the limit again.
 *   - Limits are checked before the resource is made (count, then insert):
 *     two concurrent creations can pass one over the limit. The limits are a
 *     plan boundary, not a security one; the next creation is refused.
 *   - Bookings this month are those created since the first of the month in
 *     the studio's zone, expired holds excepted (cancelled ones count: they
 *     were made).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing_internal.h"
#include "studiod/audit.h"
#include "studiod/config.h"
#include "studiod/credits.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/stripe.h"
#include "studiod/stripe_events.h"
#include "studiod/tenant.h"

#define BILLING_TRIAL_PLAN "pro" /* as organizations.plan_id's default (0006_billing.sql) */
#define AUDIT_RESOURCE "billing"
#define CHECKOUT_KEY_WINDOW 600 /* a click again within 10 minutes gets the same session */
#define LIVE_STATUSES "('active', 'trialing', 'past_due')"

/* A plan row, as the rules need it. */
struct plan {
    const char *id, *name, *price_monthly, *price_yearly;
    int position;
};

/* The organization, fresh from the master database. */
struct org {
    const char *id, *slug, *name, *owner_email, *customer_id, *status, *plan_id, *timezone;
};

/* The subscription being changed (locked), with its plan. */
struct live_sub {
    const char *row_id, *stripe_id, *plan_id, *period, *version;
    int position;
};

/* What a Stripe subscription object says, parsed. */
struct sub_obj {
    const char *id, *customer, *status, *price, *org_id;
    const char *period_start, *period_end, *canceled_at; /* unix seconds as text, or NULL */
    bool cancel_at_period_end;
};

static int load_plan(struct arena *a, struct db_conn *m, const char *id, struct plan *p);
static int load_org(struct arena *a, struct db_conn *m, const char *id, struct org *o);
static int lock_live_sub(struct arena *a, struct db_conn *m, const char *org_id,
                         struct live_sub *s);
static bool has_live_sub(struct db_conn *m, const char *org_id, int *rc);
static int stripe_status(int src, const struct stripe_error *e, const char *what);
static int ensure_customer(struct request *req, struct db_conn *m, const struct org *o,
                           const char **customer);
static bool parse_sub(struct arena *a, json_t *sub, struct sub_obj *s);
static int store_sub(struct arena *a, struct db_conn *m, const char *org_id, json_t *sub,
                     const char *event_at);
static int sync_org(struct arena *a, struct db_conn *m, const char *org_id);
static const char *num_text(struct arena *a, json_t *v);
static const char *now_text(struct arena *a);
static void audit_change(struct request *req, struct db_conn *t, const char *action, json_t *before,
                         json_t *after);
static json_t *limit_json(long long used, int allowed);
static bool over_limit(struct request *req, const char *limit, long long used, int allowed,
                       const char *message);
static long long count_of(struct db_conn *t, const char *sql, const char *zone, bool *ok);
static int webhook_checkout(struct arena *a, struct db_conn *m, json_t *session);
static int webhook_invoice(struct arena *a, struct db_conn *m, json_t *invoice, bool paid,
                           const char *event_at);
static const char *org_of_customer(struct arena *a, struct db_conn *m, const char *customer);

/* ---- pure rules (unit-tested) ------------------------------------------------------------ */

enum billing_change_kind billing_change_kind(int from_position, const char *from_period,
                                             int to_position, const char *to_period)
{
    if (to_position != from_position)
        return to_position > from_position ? BILLING_CHANGE_UP : BILLING_CHANGE_DOWN;
    if (strcmp(from_period, to_period) == 0)
        return BILLING_CHANGE_SAME;
    return strcmp(to_period, "yearly") == 0 ? BILLING_CHANGE_UP : BILLING_CHANGE_DOWN;
}

size_t billing_change_params(struct arena *a, const char *item_id, const char *price_id,
                             const char *plan_id, enum billing_timing timing,
                             int64_t proration_date, struct stripe_param *out)
{
    size_t n = 0;
    out[n++] = (struct stripe_param){"items[0][id]", item_id};
    out[n++] = (struct stripe_param){"items[0][price]", price_id};
    out[n++] = (struct stripe_param){"metadata[plan_id]", plan_id};
    switch (timing) {
    case BILLING_UPGRADE_NOW:
        out[n++] = (struct stripe_param){"proration_behavior", "always_invoice"};
        /* a declined card fails the update instead of leaving it half paid */
        out[n++] = (struct stripe_param){"payment_behavior", "error_if_incomplete"};
        break;
    case BILLING_DOWNGRADE_NOW:
        out[n++] = (struct stripe_param){"proration_behavior", "create_prorations"};
        break;
    case BILLING_DOWNGRADE_AT_PERIOD_END:
        out[n++] = (struct stripe_param){"proration_behavior", "none"};
        return n;
    }
    /* The moment the proration is computed for: the one we decided at, not whenever
     * Stripe receives a retry. */
    out[n++] = (struct stripe_param){"proration_date", arena_printf(a, "%" PRId64, proration_date)};
    return n;
}

/* ---- reads --------------------------------------------------------------------------------- */

static const char sql_plans[] =
    "SELECT id, name, position, currency, monthly_amount, yearly_amount, max_rooms, max_staff,"
    "       max_bookings_per_month, ai_credits_per_month"
    "  FROM plans WHERE active ORDER BY position";

static json_t *int_or_null(PGresult *r, int row, const char *col)
{
    const char *v = db_get(r, row, col);
    return v ? json_integer(strtoll(v, NULL, 10)) : json_null();
}

int billing_plans_json(struct db_conn *m, json_t **out)
{
    PGresult *r = db_exec(m, sql_plans, 0, NULL, NULL);
    if (!r)
        return BILLING_DB;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:i, s:s, s:{s:I, s:I}, s:{s:o, s:o, s:o, s:o}}", "id",
                            db_get(r, i, "id"), "name", db_get(r, i, "name"), "position",
                            atoi(db_get(r, i, "position")), "currency", db_get(r, i, "currency"),
                            "prices", "monthly",
                            (json_int_t)strtoll(db_get(r, i, "monthly_amount"), NULL, 10), "yearly",
                            (json_int_t)strtoll(db_get(r, i, "yearly_amount"), NULL, 10), "limits",
                            "rooms", int_or_null(r, i, "max_rooms"), "staff",
                            int_or_null(r, i, "max_staff"), "bookings_per_month",
                            int_or_null(r, i, "max_bookings_per_month"), "ai_credits",
                            int_or_null(r, i, "ai_credits_per_month")));
    PQclear(r);
    *out = json_pack("{s:o}", "plans", list);
    return BILLING_OK;
}

static const char sql_plan[] =
    "SELECT id, name, position, stripe_price_monthly, stripe_price_yearly"
    "  FROM plans WHERE id = $1 AND active";

static int load_plan(struct arena *a, struct db_conn *m, const char *id, struct plan *p)
{
    if (!id)
        return BILLING_INVALID;
    const char *params[] = {id};
    PGresult *r = db_exec(m, sql_plan, 1, params, NULL);
    if (!r)
        return BILLING_DB;
    int rc = BILLING_INVALID;
    if (PQntuples(r) == 1) {
        p->id = db_get_dup(a, r, 0, "id");
        p->name = db_get_dup(a, r, 0, "name");
        p->position = atoi(db_get(r, 0, "position"));
        p->price_monthly = db_get_dup(a, r, 0, "stripe_price_monthly");
        p->price_yearly = db_get_dup(a, r, 0, "stripe_price_yearly");
        rc = BILLING_OK;
    }
    PQclear(r);
    return rc;
}

static const char sql_org[] =
    "SELECT id, slug, name, owner_email, stripe_customer_id, status, plan_id, timezone"
    "  FROM organizations WHERE id = $1::uuid";

static int load_org(struct arena *a, struct db_conn *m, const char *id, struct org *o)
{
    const char *p[] = {id};
    PGresult *r = db_exec(m, sql_org, 1, p, NULL);
    if (!r)
        return BILLING_DB;
    int rc = BILLING_DB; /* the tenant resolved, so it exists: anything else is trouble */
    if (PQntuples(r) == 1) {
        o->id = db_get_dup(a, r, 0, "id");
        o->slug = db_get_dup(a, r, 0, "slug");
        o->name = db_get_dup(a, r, 0, "name");
        o->owner_email = db_get_dup(a, r, 0, "owner_email");
        o->customer_id = db_get_dup(a, r, 0, "stripe_customer_id");
        o->status = db_get_dup(a, r, 0, "status");
        o->plan_id = db_get_dup(a, r, 0, "plan_id");
        o->timezone = db_get_dup(a, r, 0, "timezone");
        rc = BILLING_OK;
    }
    PQclear(r);
    return rc;
}

/* The newest live subscription, locked until the caller's transaction ends. */
static const char sql_lock_live[] =
    "SELECT s.id, s.stripe_subscription_id, s.plan_id, s.billing_period, p.position,"
    "       (extract(epoch FROM s.updated_at) * 1000000)::bigint AS version"
    "  FROM subscriptions s JOIN plans p ON p.id = s.plan_id"
    " WHERE s.organization_id = $1::uuid AND s.status IN " LIVE_STATUSES
    " ORDER BY s.updated_at DESC LIMIT 1 FOR UPDATE OF s";

static int lock_live_sub(struct arena *a, struct db_conn *m, const char *org_id, struct live_sub *s)
{
    const char *p[] = {org_id};
    PGresult *r = db_exec(m, sql_lock_live, 1, p, NULL);
    if (!r)
        return BILLING_DB;
    int rc = BILLING_NO_SUBSCRIPTION;
    if (PQntuples(r) == 1) {
        s->row_id = db_get_dup(a, r, 0, "id");
        s->stripe_id = db_get_dup(a, r, 0, "stripe_subscription_id");
        s->plan_id = db_get_dup(a, r, 0, "plan_id");
        s->period = db_get_dup(a, r, 0, "billing_period");
        s->version = db_get_dup(a, r, 0, "version");
        s->position = atoi(db_get(r, 0, "position"));
        rc = BILLING_OK;
    }
    PQclear(r);
    return rc;
}

static const char sql_has_live[] =
    "SELECT 1 FROM subscriptions WHERE organization_id = $1::uuid AND status IN " LIVE_STATUSES;

static bool has_live_sub(struct db_conn *m, const char *org_id, int *rc)
{
    const char *p[] = {org_id};
    PGresult *r = db_exec(m, sql_has_live, 1, p, NULL);
    if (!r) {
        *rc = BILLING_DB;
        return false;
    }
    bool live = PQntuples(r) > 0;
    PQclear(r);
    return live;
}

static const char sql_subscription[] =
    "SELECT o.status AS org_status, o.plan_id AS org_plan,"
    "       coalesce(to_char(o.trial_ends_at AT TIME ZONE 'UTC',"
    "                        'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS trial_ends_at,"
    "       (o.status = 'trial' AND o.trial_ends_at IS NOT NULL AND o.trial_ends_at <= now())"
    "         AS read_only,"
    "       s.stripe_subscription_id, s.plan_id, s.billing_period, s.status,"
    "       to_char(s.current_period_start AT TIME ZONE 'UTC',"
    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS current_period_start,"
    "       to_char(s.current_period_end AT TIME ZONE 'UTC',"
    "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS current_period_end,"
    "       s.cancel_at_period_end,"
    "       to_char(s.canceled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    "         AS canceled_at,"
    "       s.scheduled_plan_id, s.latest_invoice_status"
    "  FROM organizations o"
    "  LEFT JOIN LATERAL (SELECT * FROM subscriptions s WHERE s.organization_id = o.id"
    "                      ORDER BY (s.status IN " LIVE_STATUSES ") DESC, s.updated_at DESC"
    "                      LIMIT 1) s ON true"
    " WHERE o.id = $1::uuid";

static json_t *str_or_null(PGresult *r, const char *col)
{
    const char *v = db_get(r, 0, col);
    return v ? json_string(v) : json_null();
}

int billing_subscription_json(struct request *req, struct db_conn *m, json_t **out)
{
    const char *p[] = {req->tenant->id};
    PGresult *r = db_exec(m, sql_subscription, 1, p, NULL);
    if (!r)
        return BILLING_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return BILLING_DB;
    }
    json_t *sub = json_null();
    if (db_get(r, 0, "stripe_subscription_id"))
        sub = json_pack(
            "{s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o}", "id",
            db_get(r, 0, "stripe_subscription_id"), "plan_id", db_get(r, 0, "plan_id"),
            "billing_period", db_get(r, 0, "billing_period"), "status", db_get(r, 0, "status"),
            "current_period_start", str_or_null(r, "current_period_start"), "current_period_end",
            str_or_null(r, "current_period_end"), "cancel_at_period_end",
            strcmp(db_get(r, 0, "cancel_at_period_end"), "t") == 0, "canceled_at",
            str_or_null(r, "canceled_at"), "scheduled_plan_id", str_or_null(r, "scheduled_plan_id"),
            "latest_invoice_status", str_or_null(r, "latest_invoice_status"));
    const char *trial = db_get(r, 0, "trial_ends_at");
    *out = json_pack("{s:s, s:o, s:o, s:b, s:o}", "status", db_get(r, 0, "org_status"), "plan_id",
                     str_or_null(r, "org_plan"), "trial_ends_at",
                     trial && *trial ? json_string(trial) : json_null(), "read_only",
                     strcmp(db_get(r, 0, "read_only"), "t") == 0, "subscription", sub);
    PQclear(r);
    return BILLING_OK;
}

/* ---- usage and limits ---------------------------------------------------------------------- */

static const char sql_count_rooms[] = "SELECT count(*) FROM rooms WHERE active";
static const char sql_count_staff[] = "SELECT count(*) FROM users WHERE active";
static const char sql_count_bookings[] =
    "SELECT count(*) FROM bookings"
    " WHERE created_at >= (date_trunc('month', now() AT TIME ZONE $1) AT TIME ZONE $1)"
    "   AND status <> 'expired'";

/* count(*) of sql, whose one parameter (if any) is the studio's zone. */
static long long count_of(struct db_conn *t, const char *sql, const char *zone, bool *ok)
{
    const char *p[] = {zone};
    PGresult *r = db_exec(t, sql, zone ? 1 : 0, zone ? p : NULL, NULL);
    if (!r) {
        *ok = false;
        return 0;
    }
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static json_t *limit_json(long long used, int allowed)
{
    return json_pack("{s:I, s:o}", "used", (json_int_t)used, "allowed",
                     allowed < 0 ? json_null() : json_integer(allowed));
}

static const char sql_org_plan[] =
    "SELECT o.plan_id, coalesce(p.max_rooms, -1) AS max_rooms, coalesce(p.max_staff, -1) AS"
    "       max_staff, coalesce(p.max_bookings_per_month, -1) AS max_bookings_per_month,"
    "       coalesce(p.ai_credits_per_month, 0) AS ai_credits_per_month,"
    "       to_regclass('credit_ledger') IS NOT NULL AS has_ledger"
    "  FROM organizations o LEFT JOIN plans p ON p.id = o.plan_id WHERE o.id = $1::uuid";

/* Credits spent this month in the studio's zone, from the credits module's ledger
 * (migrations/master/0007_credits.sql); read only, the ledger is that module's. */
static const char sql_credits_used[] =
    "SELECT coalesce(-sum(delta), 0) FROM credit_ledger"
    " WHERE organization_id = $1::uuid AND kind = 'spend'"
    "   AND month = date_trunc('month', now() AT TIME ZONE $2)::date";

int billing_usage_json(struct request *req, struct db_conn *m, struct db_conn *t, json_t **out)
{
    const struct tenant *tn = req->tenant;
    const char *p[] = {tn->id};
    PGresult *r = db_exec(m, sql_org_plan, 1, p, NULL);
    if (!r)
        return BILLING_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return BILLING_DB;
    }
    int max_rooms = atoi(db_get(r, 0, "max_rooms"));
    int max_staff = atoi(db_get(r, 0, "max_staff"));
    int max_bookings = atoi(db_get(r, 0, "max_bookings_per_month"));
    int credits = atoi(db_get(r, 0, "ai_credits_per_month"));
    const char *plan = db_get_dup(req->arena, r, 0, "plan_id");
    bool ledger = strcmp(db_get(r, 0, "has_ledger"), "t") == 0;
    PQclear(r);

    bool ok = true;
    long long rooms = count_of(t, sql_count_rooms, NULL, &ok);
    long long staff = count_of(t, sql_count_staff, NULL, &ok);
    long long bookings = count_of(t, sql_count_bookings, tn->timezone, &ok);
    long long spent = 0;
    if (ledger) {
        const char *cp[] = {tn->id, tn->timezone};
        PGresult *c = db_exec(m, sql_credits_used, 2, cp, NULL);
        if (!c)
            ok = false;
        else {
            spent = strtoll(PQgetvalue(c, 0, 0), NULL, 10);
            PQclear(c);
        }
    }
    if (!ok)
        return BILLING_DB;
    *out = json_pack("{s:o, s:{s:o, s:o, s:o, s:o}}", "plan_id",
                     plan ? json_string(plan) : json_null(), "limits", "rooms",
                     limit_json(rooms, max_rooms), "staff", limit_json(staff, max_staff),
                     "bookings_per_month", limit_json(bookings, max_bookings), "ai_credits",
                     limit_json(spent, credits));
    return BILLING_OK;
}

/* False after replying 402 plan_limit when used has reached allowed (>= 0). */
static bool over_limit(struct request *req, const char *limit, long long used, int allowed,
                       const char *message)
{
    if (used < allowed)
        return false;
    http_reply_error(req, 402, "plan_limit", message,
                     json_pack("{s:s, s:i, s:I, s:s, s:s}", "limit", limit, "allowed", allowed,
                               "used", (json_int_t)used, "plan_id", req->tenant->plan_id,
                               "billing_url", "/app/billing"));
    return true;
}

static bool allow(struct request *req, struct db_conn *t, const char *sql, const char *zone,
                  const char *limit, int allowed, const char *message)
{
    if (allowed < 0)
        return true; /* unlimited: no query */
    bool ok = true;
    long long used = count_of(t, sql, zone, &ok);
    if (!ok) {
        http_reply_error(req, 503, "database_unavailable",
                         "The database is unavailable; try again shortly", NULL);
        return false;
    }
    return !over_limit(req, limit, used, allowed, message);
}

bool billing_allow_room(struct request *req, struct db_conn *t)
{
    return allow(req, t, sql_count_rooms, NULL, "rooms", req->tenant->max_rooms,
                 arena_printf(req->arena,
                              "Your plan allows %d active rooms: archive one or upgrade the plan "
                              "(Billing)",
                              req->tenant->max_rooms));
}

bool billing_allow_staff(struct request *req, struct db_conn *t)
{
    return allow(req, t, sql_count_staff, NULL, "staff", req->tenant->max_staff,
                 arena_printf(req->arena,
                              "Your plan allows %d active staff members: deactivate one or "
                              "upgrade the plan (Billing)",
                              req->tenant->max_staff));
}

static const char sql_room_back[] =
    "SELECT (SELECT count(*) FROM rooms WHERE active) AS used,"
    "       coalesce((SELECT NOT active FROM rooms WHERE id = $1::uuid), false) AS inactive";
static const char sql_staff_back[] =
    "SELECT (SELECT count(*) FROM users WHERE active) AS used,"
    "       coalesce((SELECT NOT active FROM users WHERE id = $1::uuid), false) AS inactive";

/* A reactivation adds one to the count only when the thing is inactive now. */
static bool allow_back(struct request *req, struct db_conn *t, const char *sql, const char *id,
                       const char *limit, int allowed, const char *message)
{
    if (allowed < 0)
        return true;
    const char *p[] = {id};
    PGresult *r = db_exec(t, sql, 1, p, NULL);
    if (!r) {
        http_reply_error(req, 503, "database_unavailable",
                         "The database is unavailable; try again shortly", NULL);
        return false;
    }
    long long used = strtoll(db_get(r, 0, "used"), NULL, 10);
    bool inactive = strcmp(db_get(r, 0, "inactive"), "t") == 0;
    PQclear(r);
    return !inactive || !over_limit(req, limit, used, allowed, message);
}

bool billing_allow_room_back(struct request *req, struct db_conn *t, const char *room_id)
{
    return allow_back(req, t, sql_room_back, room_id, "rooms", req->tenant->max_rooms,
                      arena_printf(req->arena,
                                   "Your plan allows %d active rooms: archive another one or "
                                   "upgrade the plan (Billing)",
                                   req->tenant->max_rooms));
}

bool billing_allow_staff_back(struct request *req, struct db_conn *t, const char *user_id)
{
    return allow_back(req, t, sql_staff_back, user_id, "staff", req->tenant->max_staff,
                      arena_printf(req->arena,
                                   "Your plan allows %d active staff members: deactivate "
                                   "another one or upgrade the plan (Billing)",
                                   req->tenant->max_staff));
}

bool billing_allow_booking(struct request *req, struct db_conn *t)
{
    const struct tenant *tn = req->tenant;
    bool public = !req->session;
    if (tn->read_only) {
        /* staff requests never get here (the middleware answers 402 first) */
        http_reply_error(req, 402, "booking_paused",
                         "Online booking is paused at this studio. Please contact the studio to "
                         "book.",
                         NULL);
        return false;
    }
    return allow(req, t, sql_count_bookings, tn->timezone, "bookings_per_month",
                 tn->max_bookings_per_month,
                 public ? "This studio cannot take more online bookings this month. Please "
                          "contact the studio to book."
                        : arena_printf(req->arena,
                                       "Your plan allows %d bookings a month and they are used: "
                                       "upgrade the plan (Billing)",
                                       tn->max_bookings_per_month));
}

/* ---- talking to Stripe --------------------------------------------------------------------- */

/* A billing status for a failed stripe_request, logged. */
static int stripe_status(int src, const struct stripe_error *e, const char *what)
{
    log_msg(LOG_WARN, "billing: %s: stripe %d, HTTP %ld %s %s: %s", what, src, e->http_status,
            e->type, e->code, e->message);
    if (src == STRIPE_ERR_NOT_CONFIGURED)
        return BILLING_UNAVAILABLE;
    if (src == STRIPE_ERR_NETWORK)
        return BILLING_STRIPE_DOWN;
    if (src == STRIPE_ERR_API && e->http_status == 402)
        return BILLING_CARD;
    if (src == STRIPE_ERR_API && (e->http_status >= 500 || e->http_status == 429))
        return BILLING_STRIPE_DOWN;
    return BILLING_STRIPE;
}

static const char sql_set_customer[] =
    "UPDATE organizations SET stripe_customer_id = coalesce(stripe_customer_id, $2),"
    "       updated_at = now()"
    " WHERE id = $1::uuid RETURNING stripe_customer_id";

/* The studio's Stripe customer, made once (Idempotency-Key from the organization, the id
 * kept on the organization; two racing first checkouts get the same customer). */
static int ensure_customer(struct request *req, struct db_conn *m, const struct org *o,
                           const char **customer)
{
    if (o->customer_id) {
        *customer = o->customer_id;
        return BILLING_OK;
    }
    struct arena *a = req->arena;
    const struct stripe_param params[] = {
        {"email", o->owner_email},
        {"name", o->name},
        {"metadata[organization_id]", o->id},
        {"metadata[slug]", o->slug},
    };
    json_t *cust = NULL;
    struct stripe_error err;
    int src = stripe_request(a, "POST", "/v1/customers", params, sizeof(params) / sizeof(params[0]),
                             arena_printf(a, "org-%s-customer", o->id), NULL, &cust, &err);
    if (src != STRIPE_OK)
        return stripe_status(src, &err, "create customer");
    const char *id = arena_strdup(a, json_string_value(json_object_get(cust, "id")));
    json_decref(cust);
    if (!id)
        return BILLING_STRIPE;
    const char *p[] = {o->id, id};
    PGresult *r = db_exec(m, sql_set_customer, 2, p, NULL);
    if (!r || PQntuples(r) != 1) {
        if (r)
            PQclear(r);
        return BILLING_DB;
    }
    *customer = db_get_dup(a, r, 0, "stripe_customer_id");
    PQclear(r);
    return BILLING_OK;
}

static void audit_change(struct request *req, struct db_conn *t, const char *action, json_t *before,
                         json_t *after)
{
    /* The change is Stripe's and the master's already: a lost entry is logged, not undone. */
    if (audit_record(t, req, action, AUDIT_RESOURCE, req->tenant->id, before, after) != AUDIT_OK)
        log_msg(LOG_ERROR, "billing: audit entry %s for %s not written", action, req->tenant->slug);
    json_decref(before);
    json_decref(after);
}

int billing_checkout(struct request *req, struct db_conn *m, struct db_conn *t, const char *plan_id,
                     const char *period, const char *back_url, json_t **out)
{
    struct arena *a = req->arena;
    struct plan plan;
    int rc = load_plan(a, m, plan_id, &plan);
    if (rc != BILLING_OK)
        return rc;
    if (!period || (strcmp(period, "monthly") != 0 && strcmp(period, "yearly") != 0))
        return BILLING_INVALID;
    rc = BILLING_OK;
    if (has_live_sub(m, req->tenant->id, &rc))
        return BILLING_SUBSCRIBED;
    if (rc != BILLING_OK)
        return rc;
    struct org o;
    if ((rc = load_org(a, m, req->tenant->id, &o)) != BILLING_OK)
        return rc;
    const char *customer = NULL;
    if ((rc = ensure_customer(req, m, &o, &customer)) != BILLING_OK)
        return rc;
    const char *price = strcmp(period, "yearly") == 0 ? plan.price_yearly : plan.price_monthly;
    const struct stripe_param params[] = {
        {"mode", "subscription"},
        {"customer", customer},
        {"line_items[0][price]", price},
        {"line_items[0][quantity]", "1"},
        {"client_reference_id", o.id},
        {"metadata[organization_id]", o.id},
        {"metadata[plan_id]", plan.id},
        {"metadata[billing_period]", period},
        {"subscription_data[metadata][organization_id]", o.id},
        {"subscription_data[metadata][plan_id]", plan.id},
        {"success_url", arena_printf(a, "%s?checkout=success", back_url)},
        {"cancel_url", arena_printf(a, "%s?checkout=cancelled", back_url)},
    };
    const char *key = arena_printf(a, "org-%s-checkout-%s-%s-%ld", o.id, plan.id, period,
                                   (long)(time(NULL) / CHECKOUT_KEY_WINDOW));
    json_t *session = NULL;
    struct stripe_error err;
    int src = stripe_request(a, "POST", "/v1/checkout/sessions", params,
                             sizeof(params) / sizeof(params[0]), key, NULL, &session, &err);
    if (src != STRIPE_OK)
        return stripe_status(src, &err, "checkout session");
    const char *url = json_string_value(json_object_get(session, "url"));
    const char *sid = json_string_value(json_object_get(session, "id"));
    if (!url || !sid) {
        json_decref(session);
        return BILLING_STRIPE;
    }
    *out = json_pack("{s:s, s:s}", "checkout_url", url, "session_id", sid);
    json_decref(session);
    audit_change(req, t, "checkout", NULL,
                 json_pack("{s:s, s:s, s:s}", "plan_id", plan.id, "billing_period", period,
                           "stripe_customer_id", customer));
    return BILLING_OK;
}

/* The item id of a Stripe subscription (its first and only item). */
static const char *sub_item_id(struct arena *a, json_t *sub)
{
    json_t *item = json_array_get(json_object_get(json_object_get(sub, "items"), "data"), 0);
    return arena_strdup(a, json_string_value(json_object_get(item, "id")));
}

static const char sql_schedule[] =
    "UPDATE subscriptions SET scheduled_plan_id = $2 WHERE id = $1::uuid";

int billing_change(struct request *req, struct db_conn *m, struct db_conn *t, bool up,
                   const char *plan_id, const char *period, enum billing_when when, json_t **out)
{
    struct arena *a = req->arena;
    struct plan plan;
    int rc = load_plan(a, m, plan_id, &plan);
    if (rc != BILLING_OK)
        return rc;
    if (period && strcmp(period, "monthly") != 0 && strcmp(period, "yearly") != 0)
        return BILLING_INVALID;
    if (up && when != BILLING_WHEN_NOW)
        return BILLING_INVALID;
    const char *action = up ? "upgrade" : "downgrade";
    if (db_begin(m) != 0)
        return BILLING_DB;
    struct live_sub cur;
    if ((rc = lock_live_sub(a, m, req->tenant->id, &cur)) != BILLING_OK)
        goto out;
    const char *to_period = period ? period : cur.period;
    enum billing_change_kind kind =
        billing_change_kind(cur.position, cur.period, plan.position, to_period);
    if (kind == BILLING_CHANGE_SAME) {
        rc = BILLING_SAME_PLAN;
        goto out;
    }
    if ((kind == BILLING_CHANGE_UP) != up) {
        rc = BILLING_WRONG_DIRECTION;
        goto out;
    }
    const char *price = strcmp(to_period, "yearly") == 0 ? plan.price_yearly : plan.price_monthly;
    const char *path = arena_printf(a, "/v1/subscriptions/%s", cur.stripe_id);
    json_t *sub = NULL;
    struct stripe_error err;
    int src = stripe_request(a, "GET", path, NULL, 0, NULL, NULL, &sub, &err);
    if (src != STRIPE_OK) {
        rc = stripe_status(src, &err, "read subscription");
        goto out;
    }
    const char *item = sub_item_id(a, sub);
    json_decref(sub);
    sub = NULL;
    if (!item) {
        rc = BILLING_STRIPE;
        goto out;
    }
    enum billing_timing timing = up                         ? BILLING_UPGRADE_NOW
                                 : when == BILLING_WHEN_NOW ? BILLING_DOWNGRADE_NOW
                                                            : BILLING_DOWNGRADE_AT_PERIOD_END;
    struct stripe_param params[BILLING_CHANGE_PARAMS_MAX];
    size_t n = billing_change_params(a, item, price, plan.id, timing, (int64_t)time(NULL), params);
    const char *key =
        arena_printf(a, "sub-%s-%s-%s-%s-%s", cur.stripe_id, action, price,
                     timing == BILLING_DOWNGRADE_AT_PERIOD_END ? "period_end" : "now", cur.version);
    src = stripe_request(a, "POST", path, params, n, key, NULL, &sub, &err);
    if (src != STRIPE_OK) {
        rc = stripe_status(src, &err, action);
        goto out;
    }
    const char *sp[] = {cur.row_id, timing == BILLING_DOWNGRADE_AT_PERIOD_END ? plan.id : NULL};
    if (db_run(m, sql_schedule, 2, sp) != 0)
        rc = BILLING_DB;
    else
        rc = store_sub(a, m, req->tenant->id, sub, now_text(a));
    json_decref(sub);
out:
    if (rc != BILLING_OK || db_commit(m) != 0) {
        db_rollback(m);
        return rc != BILLING_OK ? rc : BILLING_DB;
    }
    tenant_cache_forget(req->tenant->slug);
    audit_change(req, t, action,
                 json_pack("{s:s, s:s}", "plan_id", cur.plan_id, "billing_period", cur.period),
                 json_pack("{s:s, s:s, s:s}", "plan_id", plan.id, "billing_period", to_period,
                           "when", when == BILLING_WHEN_NOW ? "now" : "period_end"));
    return billing_subscription_json(req, m, out);
}

int billing_cancel(struct request *req, struct db_conn *m, struct db_conn *t, bool immediately,
                   json_t **out)
{
    struct arena *a = req->arena;
    if (db_begin(m) != 0)
        return BILLING_DB;
    struct live_sub cur;
    int rc = lock_live_sub(a, m, req->tenant->id, &cur);
    if (rc == BILLING_OK) {
        const char *path = arena_printf(a, "/v1/subscriptions/%s", cur.stripe_id);
        json_t *sub = NULL;
        struct stripe_error err;
        int src;
        if (immediately) {
            src = stripe_request(a, "DELETE", path, NULL, 0, NULL, NULL, &sub, &err);
        } else {
            const struct stripe_param params[] = {{"cancel_at_period_end", "true"}};
            src = stripe_request(a, "POST", path, params, 1,
                                 arena_printf(a, "sub-%s-cancel-%s", cur.stripe_id, cur.version),
                                 NULL, &sub, &err);
        }
        if (src != STRIPE_OK)
            rc = stripe_status(src, &err, "cancel");
        else
            rc = store_sub(a, m, req->tenant->id, sub, now_text(a));
        json_decref(sub);
    }
    if (rc != BILLING_OK || db_commit(m) != 0) {
        db_rollback(m);
        return rc != BILLING_OK ? rc : BILLING_DB;
    }
    tenant_cache_forget(req->tenant->slug);
    audit_change(req, t, AUDIT_ACTION_CANCEL,
                 json_pack("{s:s, s:s}", "plan_id", cur.plan_id, "subscription", cur.stripe_id),
                 json_pack("{s:s}", "when", immediately ? "now" : "period_end"));
    return billing_subscription_json(req, m, out);
}

int billing_portal(struct request *req, struct db_conn *m, const char *return_url, const char **url)
{
    struct arena *a = req->arena;
    struct org o;
    int rc = load_org(a, m, req->tenant->id, &o);
    if (rc != BILLING_OK)
        return rc;
    if (!o.customer_id)
        return BILLING_NO_CUSTOMER;
    const struct stripe_param params[] = {{"customer", o.customer_id}, {"return_url", return_url}};
    json_t *session = NULL;
    struct stripe_error err;
    int src = stripe_request(a, "POST", "/v1/billing_portal/sessions", params, 2,
                             arena_printf(a, "org-%s-portal-%s", o.id, req->request_id), NULL,
                             &session, &err);
    if (src != STRIPE_OK)
        return stripe_status(src, &err, "portal session");
    *url = arena_strdup(a, json_string_value(json_object_get(session, "url")));
    json_decref(session);
    return *url ? BILLING_OK : BILLING_STRIPE;
}

/* ---- storing what Stripe says -------------------------------------------------------------- */

static const char *num_text(struct arena *a, json_t *v)
{
    return json_is_integer(v) ? arena_printf(a, "%" JSON_INTEGER_FORMAT, json_integer_value(v))
                              : NULL;
}

static const char *now_text(struct arena *a)
{
    return arena_printf(a, "%ld", (long)time(NULL));
}

static bool parse_sub(struct arena *a, json_t *sub, struct sub_obj *s)
{
    json_t *item = json_array_get(json_object_get(json_object_get(sub, "items"), "data"), 0);
    s->id = json_string_value(json_object_get(sub, "id"));
    s->customer = json_string_value(json_object_get(sub, "customer"));
    s->status = json_string_value(json_object_get(sub, "status"));
    s->price = json_string_value(json_object_get(json_object_get(item, "price"), "id"));
    s->org_id =
        json_string_value(json_object_get(json_object_get(sub, "metadata"), "organization_id"));
    s->period_start = num_text(a, json_object_get(sub, "current_period_start"));
    s->period_end = num_text(a, json_object_get(sub, "current_period_end"));
    s->canceled_at = num_text(a, json_object_get(sub, "canceled_at"));
    s->cancel_at_period_end = json_is_true(json_object_get(sub, "cancel_at_period_end"));
    return s->id && s->status && s->price;
}

static const char sql_plan_of_price[] =
    "SELECT id, CASE WHEN stripe_price_yearly = $1 THEN 'yearly' ELSE 'monthly' END AS period"
    "  FROM plans WHERE stripe_price_monthly = $1 OR stripe_price_yearly = $1";

/* The row changes only for news at least as new as what it holds; a downgrade at period end
 * (scheduled_plan_id) keeps the current plan until the period has rolled over. */
static const char sql_store_sub[] =
    "INSERT INTO subscriptions AS s (organization_id, stripe_subscription_id, stripe_customer_id,"
    "       plan_id, billing_period, status, current_period_start, current_period_end,"
    "       cancel_at_period_end, canceled_at, last_event_at, updated_at)"
    " VALUES ($1::uuid, $2, $3, $4, $5, $6, to_timestamp($7::bigint), to_timestamp($8::bigint),"
    "         $9::boolean, to_timestamp($10::bigint), to_timestamp($11::bigint), now())"
    " ON CONFLICT (stripe_subscription_id) DO UPDATE SET"
    "   stripe_customer_id = coalesce(EXCLUDED.stripe_customer_id, s.stripe_customer_id),"
    "   plan_id = CASE WHEN s.scheduled_plan_id IS NOT NULL"
    "                   AND EXCLUDED.plan_id = s.scheduled_plan_id"
    "                   AND EXCLUDED.current_period_start < s.current_period_end"
    "                  THEN s.plan_id ELSE EXCLUDED.plan_id END,"
    "   scheduled_plan_id = CASE WHEN s.scheduled_plan_id IS NOT NULL"
    "                   AND EXCLUDED.plan_id = s.scheduled_plan_id"
    "                   AND EXCLUDED.current_period_start < s.current_period_end"
    "                  THEN s.scheduled_plan_id END,"
    "   billing_period = EXCLUDED.billing_period, status = EXCLUDED.status,"
    "   current_period_start = EXCLUDED.current_period_start,"
    "   current_period_end = EXCLUDED.current_period_end,"
    "   cancel_at_period_end = EXCLUDED.cancel_at_period_end,"
    "   canceled_at = EXCLUDED.canceled_at, last_event_at = EXCLUDED.last_event_at,"
    "   updated_at = now()"
    " WHERE s.last_event_at <= EXCLUDED.last_event_at"
    "   AND s.organization_id = EXCLUDED.organization_id";

/* Stores Stripe's subscription object as of event_at (unix seconds, text), then brings the
 * organization in line. An unknown price or studio is logged and ignored. */
static int store_sub(struct arena *a, struct db_conn *m, const char *org_id, json_t *sub,
                     const char *event_at)
{
    struct sub_obj s;
    if (!parse_sub(a, sub, &s))
        return BILLING_MALFORMED;
    if (!org_id)
        org_id = s.org_id;
    if (!org_id)
        org_id = org_of_customer(a, m, s.customer);
    if (!org_id) {
        log_msg(LOG_WARN, "billing: subscription %s names no studio we know, ignored", s.id);
        return BILLING_OK;
    }
    const char *pp[] = {s.price};
    PGresult *r = db_exec(m, sql_plan_of_price, 1, pp, NULL);
    if (!r)
        return BILLING_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        log_msg(LOG_WARN, "billing: subscription %s has unknown price %s, ignored", s.id, s.price);
        return BILLING_OK;
    }
    const char *plan = db_get_dup(a, r, 0, "id");
    const char *period = db_get_dup(a, r, 0, "period");
    PQclear(r);
    const char *p[] = {org_id,         s.id,         s.customer,
                       plan,           period,       s.status,
                       s.period_start, s.period_end, s.cancel_at_period_end ? "true" : "false",
                       s.canceled_at,  event_at};
    const char *state = NULL;
    r = db_exec(m, sql_store_sub, 11, p, &state);
    if (!r) {
        /* 23503: an organization id that does not exist; 22P02: not a uuid */
        if (state && (strcmp(state, "23503") == 0 || strcmp(state, "22P02") == 0)) {
            log_msg(LOG_WARN, "billing: subscription %s names unknown studio %s", s.id, org_id);
            return BILLING_OK;
        }
        return BILLING_DB;
    }
    PQclear(r);
    return sync_org(a, m, org_id);
}

/* The organization follows its best subscription: live (active, trialing, past_due) →
 * 'active' on its plan; none → 'trial' on the trial plan (read-only once the trial is over).
 * Suspended and provisioning studios are left alone. */
static const char sql_sync_org[] =
    "WITH best AS (SELECT plan_id, status IN " LIVE_STATUSES " AS live FROM subscriptions"
    "               WHERE organization_id = $1::uuid"
    "               ORDER BY (status IN " LIVE_STATUSES ") DESC, updated_at DESC LIMIT 1)"
    " UPDATE organizations o"
    "    SET status = CASE WHEN coalesce((SELECT live FROM best), false) THEN 'active'"
    "                      ELSE 'trial' END,"
    "        plan_id = CASE WHEN coalesce((SELECT live FROM best), false)"
    "                       THEN (SELECT plan_id FROM best) ELSE $2 END,"
    "        updated_at = now()"
    "  WHERE o.id = $1::uuid AND o.status IN ('trial', 'active')"
    " RETURNING slug";

static int sync_org(struct arena *a, struct db_conn *m, const char *org_id)
{
    (void)a;
    const char *p[] = {org_id, BILLING_TRIAL_PLAN};
    PGresult *r = db_exec(m, sql_sync_org, 2, p, NULL);
    if (!r)
        return BILLING_DB;
    if (PQntuples(r) == 1)
        tenant_cache_forget(PQgetvalue(r, 0, 0));
    PQclear(r);
    return BILLING_OK;
}

static const char sql_org_of_customer[] =
    "SELECT id FROM organizations WHERE stripe_customer_id = $1";

static const char *org_of_customer(struct arena *a, struct db_conn *m, const char *customer)
{
    if (!customer)
        return NULL;
    const char *p[] = {customer};
    PGresult *r = db_exec(m, sql_org_of_customer, 1, p, NULL);
    if (!r)
        return NULL;
    const char *id = PQntuples(r) == 1 ? db_get_dup(a, r, 0, "id") : NULL;
    PQclear(r);
    return id;
}

/* ---- the webhook --------------------------------------------------------------------------- */

static const char sql_link_customer[] =
    "UPDATE organizations SET stripe_customer_id = coalesce(stripe_customer_id, $2),"
    "       updated_at = now()"
    " WHERE id = $1::uuid";

/* charge.refunded (a Charge: amount_refunded so far) or charge.dispute.created (a Dispute:
 * the amount disputed): a credits pack's money going back takes its credits back (the
 * credits module's; other payments are not its business and change nothing). */
static int webhook_money_back(struct db_conn *m, const char *type, json_t *object)
{
    bool dispute = strcmp(type, "charge.dispute.created") == 0;
    const char *pi = json_string_value(json_object_get(object, "payment_intent"));
    json_t *amount = json_object_get(object, dispute ? "amount" : "amount_refunded");
    if (!pi || !json_is_integer(amount))
        return BILLING_OK;
    int rc = credits_apply_refund(m, pi, (int64_t)json_integer_value(amount),
                                  dispute ? "Disputed" : "Refunded");
    return rc == CREDITS_OK ? BILLING_OK : BILLING_DB;
}

/* checkout.session.completed: a credits pack (the credits module's), or a subscription. */
static int webhook_checkout(struct arena *a, struct db_conn *m, json_t *session)
{
    json_t *meta = json_object_get(session, "metadata");
    const char *kind = json_string_value(json_object_get(meta, "kind"));
    if (kind && strcmp(kind, "credits") == 0)
        return credits_apply_checkout(a, m, session) == 0 ? BILLING_OK : BILLING_DB;
    const char *mode = json_string_value(json_object_get(session, "mode"));
    if (!mode || strcmp(mode, "subscription") != 0)
        return BILLING_OK;
    const char *org = json_string_value(json_object_get(meta, "organization_id"));
    if (!org)
        org = json_string_value(json_object_get(session, "client_reference_id"));
    const char *customer = json_string_value(json_object_get(session, "customer"));
    const char *sub_id = json_string_value(json_object_get(session, "subscription"));
    if (!org || !customer) {
        log_msg(LOG_WARN, "billing: checkout session without organization or customer, ignored");
        return BILLING_OK;
    }
    const char *p[] = {org, customer};
    const char *state = NULL;
    PGresult *r = db_exec(m, sql_link_customer, 2, p, &state);
    if (!r)
        return state && strcmp(state, "22P02") == 0 ? BILLING_OK : BILLING_DB;
    PQclear(r);
    if (!sub_id)
        return BILLING_OK;
    /* The session names the subscription only by id: what it is now comes from Stripe. */
    json_t *sub = NULL;
    struct stripe_error err;
    int src = stripe_request(a, "GET", arena_printf(a, "/v1/subscriptions/%s", sub_id), NULL, 0,
                             NULL, NULL, &sub, &err);
    if (src != STRIPE_OK) {
        int rc = stripe_status(src, &err, "read subscription for checkout");
        return rc == BILLING_STRIPE ? BILLING_STRIPE_DOWN : rc; /* 5xx: Stripe retries */
    }
    int rc = store_sub(a, m, org, sub, now_text(a));
    json_decref(sub);
    return rc;
}

/* Invoices have their own clock (latest_invoice_at). A failed payment makes an active
 * subscription past_due and a paid one makes a past_due one active again, when the event
 * is at least as new as the subscription's last news. */
static const char sql_invoice[] =
    "UPDATE subscriptions s"
    "   SET latest_invoice_status = $2, latest_invoice_id = $3,"
    "       latest_invoice_at = to_timestamp($4::bigint),"
    "       status = CASE WHEN s.last_event_at > to_timestamp($4::bigint) THEN s.status"
    "                     WHEN $2 = 'payment_failed' AND s.status IN ('active', 'trialing')"
    "                       THEN 'past_due'"
    "                     WHEN $2 = 'paid' AND s.status = 'past_due' THEN 'active'"
    "                     ELSE s.status END,"
    "       last_event_at = greatest(s.last_event_at, to_timestamp($4::bigint)),"
    "       updated_at = now()"
    " WHERE s.stripe_subscription_id = $1 AND s.latest_invoice_at <= to_timestamp($4::bigint)"
    " RETURNING s.organization_id";

static int webhook_invoice(struct arena *a, struct db_conn *m, json_t *invoice, bool paid,
                           const char *event_at)
{
    const char *sub = json_string_value(json_object_get(invoice, "subscription"));
    const char *id = json_string_value(json_object_get(invoice, "id"));
    if (!sub || !id)
        return BILLING_OK; /* not a subscription's invoice */
    const char *p[] = {sub, paid ? "paid" : "payment_failed", id, event_at};
    PGresult *r = db_exec(m, sql_invoice, 4, p, NULL);
    if (!r)
        return BILLING_DB;
    const char *org = PQntuples(r) == 1 ? db_get_dup(a, r, 0, "organization_id") : NULL;
    PQclear(r);
    if (!org) {
        log_msg(LOG_INFO, "billing: invoice %s of unknown or newer subscription %s", id, sub);
        return BILLING_OK;
    }
    return sync_org(a, m, org);
}

int billing_webhook(struct arena *a, struct db_conn *m, const char *payload, size_t len,
                    const char *signature, const char **what)
{
    *what = "ignored";
    int sig =
        stripe_verify_signature(payload, len, signature, g_config.stripe_billing_webhook_secret,
                                (long)time(NULL), STRIPE_SIGNATURE_TOLERANCE_SECONDS);
    if (sig != STRIPE_SIG_OK) {
        log_msg(LOG_WARN, "billing: webhook refused: %s", stripe_signature_reason(sig));
        return BILLING_BAD_SIGNATURE;
    }
    json_error_t jerr;
    json_t *event = json_loadb(payload, len, 0, &jerr);
    const char *id = json_string_value(json_object_get(event, "id"));
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *created = num_text(a, json_object_get(event, "created"));
    json_t *object = json_object_get(json_object_get(event, "data"), "object");
    if (!id || !type || !created || !json_is_object(object)) {
        json_decref(event);
        return BILLING_MALFORMED;
    }
    bool seen = false;
    int rc = stripe_event_seen(m, id, &seen) == 0 ? BILLING_OK : BILLING_DB;
    if (rc == BILLING_OK && seen) {
        *what = "duplicate";
    } else if (rc == BILLING_OK) {
        *what = "processed";
        /* A delayed payment method (SEPA, ...) completes the session unpaid and pays later:
         * credits_apply_checkout grants only a paid session, so both events go to it. */
        if (strcmp(type, "checkout.session.completed") == 0 ||
            strcmp(type, "checkout.session.async_payment_succeeded") == 0)
            rc = webhook_checkout(a, m, object);
        else if (strcmp(type, "customer.subscription.created") == 0 ||
                 strcmp(type, "customer.subscription.updated") == 0 ||
                 strcmp(type, "customer.subscription.deleted") == 0)
            rc = store_sub(a, m, NULL, object, created);
        else if (strcmp(type, "charge.refunded") == 0 ||
                 strcmp(type, "charge.dispute.created") == 0)
            rc = webhook_money_back(m, type, object);
        else if (strcmp(type, "invoice.paid") == 0)
            rc = webhook_invoice(a, m, object, true, created);
        else if (strcmp(type, "invoice.payment_failed") == 0)
            rc = webhook_invoice(a, m, object, false, created);
        else
            *what = "ignored";
        /* Recorded only once handled: a failure is handled again on Stripe's retry. */
        if (rc == BILLING_OK && stripe_event_record(m, id, type, NULL) != 0)
            rc = BILLING_DB;
    }
    json_decref(event);
    return rc;
}
