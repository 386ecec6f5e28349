/*
 * test_credits.c — a studio's AI credits: the monthly allowance, packs
 * bought through Stripe Checkout on the platform's account, the webhook
 * crediting each session once, spending that never overdraws (many threads
 * at once), paging through the ledger, who may do what, and one studio
 * never seeing another's credits.
 *
 * HTTP goes to a studiod started here whose STRIPE_API_BASE points at
 * tests/fakes/stripe_fake.py (itest_stripe.h); credits_spend and
 * credits_apply_checkout are also called directly (this program links
 * libstudiod), with the pools on the same master database.
 *
 * The rule under test: the plan's allowance is granted once per calendar
 * month (studio's zone) on the month's first read or spend and expires when
 * the month ends; purchased credits never expire; spending takes the
 * allowance first. The ledger always sums to the balance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"
#include "itest_stripe.h"
#include "studiod/config.h"
#include "studiod/credits.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/log.h"

#define PASSWORD "correct horse battery staple"
#define BILLING_SECRET "whsec_billing_test"
#define SECRET_KEY "sk_test_credits"
#define SPENDERS 20
#define MIXED_SPENDERS 30

static struct studiod_proc *const srv = &itest_server; /* no Stripe key */
static struct itest_stripe stripe;                     /* the stand-in */
static struct studiod_proc paysrv;                     /* pid 0 when not started */
static bool db_ready;

/* ---- the stand-in and the servers ------------------------------------------------------ */

static int group_setup(void **state)
{
    if (itest_suite_setup(state) != 0)
        return -1;
    if (itest_missing_env)
        return 0;
    if (itest_stripe_start(&stripe, NULL) != 0)
        return -1;
    char base[96];
    const char *env[] = {itest_stripe_env(&stripe, base), "STRIPE_SECRET_KEY=" SECRET_KEY,
                         "STRIPE_BILLING_WEBHOOK_SECRET=" BILLING_SECRET, NULL};
    if (itest_start(&paysrv, env) != 0)
        return -1;
    /* The direct calls: pools on the master database, wide enough for every spender. */
    if (config_load() != 0 || crypto_init() != 0)
        return -1;
    log_set_level(getenv("STUDIOD_LOG_LEVEL") ? getenv("STUDIOD_LOG_LEVEL") : "error");
    g_config.database_url = getenv("STUDIOD_DATABASE_URL");
    if (db_init(g_config.database_url, MIXED_SPENDERS + 4, MIXED_SPENDERS + 8, 10000, 0) != 0)
        return -1;
    db_ready = true;
    return 0;
}

static int group_teardown(void **state)
{
    int rc = 0;
    if (db_ready)
        db_shutdown();
    if (paysrv.pid && itest_stop(&paysrv) != 0)
        rc = -1;
    itest_stripe_stop(&stripe);
    if (itest_suite_teardown(state) != 0)
        rc = -1;
    return rc;
}

/* ---- helpers --------------------------------------------------------------------------- */

/* The first column of the first row, which must exist (free it). */
/* A signed-up studio on p, its owner signed in, and its organization id. */
struct studio {
    struct itest_studio s;
    struct itest_cookies jar;
    char csrf[128];
    char org[40];
};

static void studio_new(const struct studiod_proc *p, const char *prefix, struct studio *st)
{
    memset(st, 0, sizeof(*st));
    itest_name_studio(prefix, &st->s);
    assert_int_equal(itest_signup_studio(p, &st->s, PASSWORD), 201);
    assert_int_equal(itest_login(p, st->s.slug, st->s.email, PASSWORD, &st->jar, st->csrf), 200);
    char *id = itest_pg_one(NULL, "SELECT id FROM organizations WHERE slug = $1", st->s.slug);
    snprintf(st->org, sizeof(st->org), "%s", id);
    free(id);
}

/* A second staff user of st holding only role, signed in (into jar and csrf). */
static void studio_user(const struct studiod_proc *p, struct studio *st, const char *role,
                        struct itest_cookies *jar, char *csrf)
{
    char email[160];
    snprintf(email, sizeof(email), "%s-%s@example.com",
             strcmp(role, "front desk") == 0 ? "desk" : role, st->s.slug);
    char *id = itest_pg_value(st->s.db,
                              "INSERT INTO users (email, name, password_hash)"
                              " SELECT $1, $2, password_hash FROM users"
                              "  WHERE lower(email) = lower($3) RETURNING id",
                              email, role, st->s.email);
    assert_non_null(id);
    assert_int_equal(itest_pg_exec(st->s.db,
                                   "INSERT INTO user_roles (user_id, role_id)"
                                   " SELECT $1, id FROM roles WHERE name = $2",
                                   id, role),
                     0);
    free(id);
    memset(jar, 0, sizeof(*jar));
    assert_int_equal(itest_login(p, st->s.slug, email, PASSWORD, jar, csrf), 200);
}

/* A request to st's host as jar's user; csrf and an Idempotency-Key when given. */
static struct itest_resp *call(const struct studiod_proc *p, const struct studio *st,
                               const char *method, const char *path, const char *body,
                               struct itest_cookies *jar, const char *csrf, const char *idem)
{
    char h1[200], h2[200];
    const char *headers[3] = {NULL, NULL, NULL};
    int n = 0;
    if (csrf) {
        snprintf(h1, sizeof(h1), "X-CSRF-Token: %s", csrf);
        headers[n++] = h1;
    }
    if (idem) {
        snprintf(h2, sizeof(h2), "Idempotency-Key: %s", idem);
        headers[n++] = h2;
    }
    return itest_request(p, method, st->s.host, path, body ? "application/json" : NULL, body,
                         headers, jar);
}

static struct itest_resp *owner_get(const struct studiod_proc *p, struct studio *st,
                                    const char *path)
{
    struct itest_resp *r = call(p, st, "GET", path, NULL, &st->jar, NULL, NULL);
    return r;
}

static struct itest_resp *purchase(struct studio *st, const char *pack, const char *idem)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"pack_id\": \"%s\"}", pack);
    return call(&paysrv, st, "POST", "/api/billing/credits/purchase", body, &st->jar, st->csrf,
                idem);
}

/* GET /api/billing/credits as the owner: the summary (json_decref it). */
static json_t *summary(struct studio *st)
{
    struct itest_resp *r = owner_get(&paysrv, st, "/api/billing/credits");
    if (r->status != 200)
        fail_msg("credits: %ld %s", r->status, r->body);
    json_t *j = json_incref(r->json);
    itest_resp_free(r);
    return j;
}

static long long balance_of(struct studio *st)
{
    json_t *j = summary(st);
    long long b = itest_json_int(j, "balance");
    json_decref(j);
    return b;
}

/* The ledger sums to the account, pocket by pocket, and the account is never negative. */
static void assert_ledger_matches_account(const char *org)
{
    itest_pg_expect(NULL,
                    "SELECT (a.allowance_balance = coalesce(sum(l.delta_allowance), 0)"
                    "    AND a.purchased_balance = coalesce(sum(l.delta_purchased), 0)"
                    "    AND a.allowance_balance >= 0 AND a.purchased_balance >= 0)::text"
                    "  FROM credit_accounts a LEFT JOIN credit_ledger l"
                    "    ON l.organization_id = a.organization_id"
                    " WHERE a.organization_id = $1 GROUP BY a.organization_id",
                    org, "true");
}

static json_t *fake_requests(void)
{
    json_t *j = itest_stripe_requests(&stripe);
    assert_non_null(j);
    return j;
}

/* How many POSTs the fake recorded to path. */
static size_t fake_count(const char *path)
{
    json_t *all = fake_requests(), *req;
    size_t i, n = 0;
    json_array_foreach(all, i, req)
    {
        if (strcmp(itest_json_str(req, "path"), path) == 0 &&
            strcmp(itest_json_str(req, "method"), "POST") == 0)
            n++;
    }
    json_decref(all);
    return n;
}

/* The last POST the fake recorded to path (json_decref it), or NULL. */
static json_t *fake_last(const char *path)
{
    json_t *all = fake_requests(), *found = NULL, *req;
    size_t i;
    json_array_foreach(all, i, req)
    {
        if (strcmp(itest_json_str(req, "path"), path) == 0 &&
            strcmp(itest_json_str(req, "method"), "POST") == 0)
            found = req;
    }
    json_incref(found);
    json_decref(all);
    return found;
}

static void fake_fail(const char *path, int status, int count, double delay)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"path\": \"%s\", \"status\": %d, \"count\": %d, \"delay\": %g}",
             path, status, count, delay);
    assert_int_equal(itest_stripe_post(&stripe, "/_fake/fail", body), 200);
}

/* A completed, paid Checkout Session for pack as Stripe's event carries it. */
static json_t *paid_session(const char *sid, const char *org, const char *pack, long long amount,
                            const char *currency)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", sid, "object",
                     "checkout.session", "mode", "payment", "amount_total", (json_int_t)amount,
                     "currency", currency, "payment_status", "paid", "status", "complete",
                     "metadata", "kind", "credits", "organization_id", org, "pack_id", pack);
}

/* credits_apply_checkout on a pooled master connection. */
static int apply(json_t *session)
{
    struct db_conn *m = db_acquire_master();
    assert_non_null(m);
    int rc = credits_apply_checkout(NULL, m, session);
    db_release(m);
    return rc;
}

/* credits_spend on a pooled master connection. */
static int spend(const char *org, int64_t n, const char *reason, int64_t *after)
{
    struct db_conn *m = db_acquire_master();
    assert_non_null(m);
    int rc = credits_spend(m, org, n, reason, after);
    db_release(m);
    return rc;
}

/* A studio with no allowance (plan cleared) and `credits` purchased through a session
 * applied directly. */
static void studio_with_purchased(struct studio *st, const char *prefix, const char *pack)
{
    studio_new(&paysrv, prefix, st);
    assert_int_equal(
        itest_pg_exec(NULL, "UPDATE organizations SET plan_id = NULL WHERE id = $1", st->org), 0);
    char *amount = itest_pg_one(NULL, "SELECT amount::text FROM credit_packs WHERE id = $1", pack);
    char sid[80];
    snprintf(sid, sizeof(sid), "cs_test_setup_%s", st->s.slug);
    json_t *s = paid_session(sid, st->org, pack, strtoll(amount, NULL, 10), "eur");
    assert_int_equal(apply(s), CREDITS_OK);
    json_decref(s);
    free(amount);
}

/* ---- the allowance --------------------------------------------------------------------- */

static void test_a_studio_is_granted_its_plans_monthly_allowance_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crgrant", &st); /* a trial studio is on the Pro plan: 500 a month */
    json_t *j = summary(&st);
    assert_int_equal(itest_json_int(j, "balance"), 500);
    assert_int_equal(itest_json_int(j, "allowance_balance"), 500);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 0);
    assert_int_equal(itest_json_int(j, "monthly_allowance"), 500);
    assert_int_equal(itest_json_int(j, "used_this_month"), 0);
    char *month = itest_pg_one(NULL,
                               "SELECT to_char(now() AT TIME ZONE timezone, 'YYYY-MM')"
                               "  FROM organizations WHERE id = $1",
                               st.org);
    assert_string_equal(itest_json_str(j, "month"), month);
    /* expires at the next local midnight of the 1st (Europe/Paris: 23:00 or 22:00 UTC) */
    char *expires =
        itest_pg_one(NULL,
                     "SELECT to_char(((date_trunc('month', now() AT TIME ZONE timezone)"
                     "   + interval '1 month') AT TIME ZONE timezone) AT TIME ZONE 'UTC',"
                     "   'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM organizations WHERE id = $1",
                     st.org);
    assert_string_equal(itest_json_str(j, "allowance_expires_at"), expires);
    json_decref(j);
    free(expires);

    /* read again, and spend: still one grant this month */
    assert_int_equal(balance_of(&st), 500);
    int64_t after = -1;
    assert_int_equal(spend(st.org, 30, "ai.chat", &after), CREDITS_OK);
    assert_int_equal(after, 470);
    j = summary(&st);
    assert_int_equal(itest_json_int(j, "balance"), 470);
    assert_int_equal(itest_json_int(j, "used_this_month"), 30);
    assert_int_equal(itest_json_int(j, "allowance_balance"), 470);
    json_decref(j);
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM credit_ledger WHERE organization_id = $1"
                    "   AND kind = 'monthly_grant'",
                    st.org, "1");
    char *grants = itest_pg_value(NULL,
                                  "SELECT string_agg(kind || ':' || delta, ',' ORDER BY id)"
                                  "  FROM credit_ledger WHERE organization_id = $1",
                                  st.org);
    assert_string_equal(grants, "monthly_grant:500,spend:-30");
    free(grants);
    free(month);
    assert_ledger_matches_account(st.org);
}

/* Last month: 500 granted, 300 spent, a 500 pack bought; this month's first read expires
 * the 200 left of last month's allowance and grants 500, keeping the 500 purchased. */
static void test_unused_allowance_expires_at_month_end_but_purchased_credits_stay(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crexpire", &st);
    const char *org = st.org;
    /* the studio's history as it would stand had it been used last month (no read yet) */
    assert_int_equal(
        itest_pg_exec(NULL,
                      "WITH m AS (SELECT (date_trunc('month', now() AT TIME ZONE timezone)"
                      "                   - interval '1 month')::date AS last"
                      "             FROM organizations WHERE id = $1)"
                      " INSERT INTO credit_ledger (organization_id, kind, delta_allowance,"
                      "        delta_purchased, reason, month, checkout_session_id, pack_id,"
                      "        amount, currency, created_at)"
                      " SELECT $1, k, da, dp, r, m.last, cs, p, amt, cur,"
                      "        m.last + interval '3 days'"
                      "   FROM m, (VALUES ('monthly_grant', 500, 0, 'Monthly allowance', NULL,"
                      "                    NULL, NULL::bigint, NULL),"
                      "                   ('spend', -300, 0, 'ai.chat', NULL, NULL, NULL, NULL),"
                      "                   ('purchase', 0, 500, 'Bought 500 AI credits',"
                      "                    'cs_test_last_' || $1, 'credits_500', 3900, 'EUR'))"
                      "        AS v (k, da, dp, r, cs, p, amt, cur)",
                      org),
        0);
    assert_int_equal(itest_pg_exec(NULL,
                                   "INSERT INTO credit_accounts (organization_id,"
                                   "        allowance_balance, purchased_balance, allowance_month)"
                                   " SELECT $1, 200, 500, month FROM credit_ledger"
                                   "  WHERE organization_id = $1 AND kind = 'monthly_grant'",
                                   org),
                     0);

    json_t *j = summary(&st);
    assert_int_equal(itest_json_int(j, "allowance_balance"), 500);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 500);
    assert_int_equal(itest_json_int(j, "balance"), 1000);
    assert_int_equal(itest_json_int(j, "used_this_month"),
                     0); /* last month's 300 are not this month's */
    json_decref(j);
    char *kinds = itest_pg_value(NULL,
                                 "SELECT string_agg(kind || ':' || delta, ',' ORDER BY id)"
                                 "  FROM credit_ledger WHERE organization_id = $1",
                                 org);
    assert_string_equal(kinds,
                        "monthly_grant:500,spend:-300,purchase:500,expiry:-200,monthly_grant:500");
    free(kinds);
    /* the expiry belongs to last month, the new grant to this one */
    itest_pg_expect(NULL,
                    "SELECT (e.month < g.month)::text FROM credit_ledger e, credit_ledger g"
                    " WHERE e.organization_id = $1 AND e.kind = 'expiry'"
                    "   AND g.organization_id = $1 AND g.kind = 'monthly_grant'"
                    " ORDER BY g.id DESC LIMIT 1",
                    org, "true");
    assert_ledger_matches_account(org);

    /* spending takes this month's allowance first, then purchased credits */
    int64_t after = 0;
    assert_int_equal(spend(org, 600, "ai.report", &after), CREDITS_OK);
    assert_int_equal(after, 400);
    j = summary(&st);
    assert_int_equal(itest_json_int(j, "allowance_balance"), 0);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 400);
    assert_int_equal(itest_json_int(j, "used_this_month"), 600);
    json_decref(j);
    itest_pg_expect(NULL,
                    "SELECT delta_allowance || '/' || delta_purchased FROM credit_ledger"
                    " WHERE organization_id = $1 AND kind = 'spend' ORDER BY id DESC LIMIT 1",
                    org, "-500/-100");
    assert_ledger_matches_account(org);
}

/* After a trial that ended without a plan the studio is read-only: no allowance, but
 * credits it bought still count; subscribing brings the month's allowance at once. */
static void test_no_allowance_after_the_trial_until_the_studio_subscribes(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crtrial", &st);
    assert_int_equal(
        itest_pg_exec(NULL,
                      "UPDATE organizations SET trial_ends_at = now() - interval '1 day'"
                      " WHERE id = $1 RETURNING id",
                      st.org),
        0);
    json_t *j = summary(&st);
    assert_int_equal(itest_json_int(j, "monthly_allowance"), 0);
    assert_int_equal(itest_json_int(j, "balance"), 0);
    json_decref(j);
    assert_int_equal(spend(st.org, 1, "ai.chat", NULL), CREDITS_INSUFFICIENT);
    /* buying is a billing action: still allowed, and the credits count */
    struct itest_resp *r = purchase(&st, "credits_100", NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    char sid[96];
    snprintf(sid, sizeof(sid), "cs_test_trial_%s", st.s.slug);
    json_t *s = paid_session(sid, st.org, "credits_100", 900, "eur");
    assert_int_equal(apply(s), CREDITS_OK);
    json_decref(s);
    assert_int_equal(balance_of(&st), 100);
    assert_int_equal(spend(st.org, 40, "ai.chat", NULL), CREDITS_OK);
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM credit_ledger WHERE organization_id = $1"
                    "   AND kind = 'monthly_grant'",
                    st.org, "0");
    /* subscribed (the billing webhook makes it active): this month's allowance now */
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE organizations SET status = 'active' WHERE id = $1"
                                   " RETURNING id",
                                   st.org),
                     0);
    j = summary(&st);
    assert_int_equal(itest_json_int(j, "monthly_allowance"), 500);
    assert_int_equal(itest_json_int(j, "allowance_balance"), 500);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 60);
    assert_int_equal(itest_json_int(j, "used_this_month"), 40);
    json_decref(j);
    assert_int_equal(balance_of(&st), 560); /* granted once */
    assert_ledger_matches_account(st.org);
}

static void test_the_ledger_is_append_only(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crappend", &st);
    assert_int_equal(balance_of(&st), 500);
    char *id =
        itest_pg_one(NULL, "SELECT id::text FROM credit_ledger WHERE organization_id = $1", st.org);
    PGresult *r = itest_pg_query(NULL,
                                 "UPDATE credit_ledger SET delta_allowance = 5000"
                                 " WHERE id = $1::bigint",
                                 id);
    assert_null(r); /* refused */
    r = itest_pg_query(NULL, "DELETE FROM credit_ledger WHERE id = $1::bigint", id);
    assert_null(r);
    itest_pg_expect(NULL, "SELECT delta::text FROM credit_ledger WHERE id = $1::bigint", id, "500");
    /* and the account refuses a negative balance whatever writes it */
    r = itest_pg_query(NULL,
                       "UPDATE credit_accounts SET allowance_balance = -1"
                       " WHERE organization_id = $1",
                       st.org);
    assert_null(r);
    free(id);
}

/* ---- spending -------------------------------------------------------------------------- */

struct spender {
    const char *org;
    int64_t n;
    pthread_barrier_t *start;
    int rc;
    int64_t after;
};

static void *spender_run(void *arg)
{
    struct spender *sp = arg;
    struct db_conn *m = db_acquire_master();
    pthread_barrier_wait(sp->start);
    sp->rc = m ? credits_spend(m, sp->org, sp->n, "ai.chat", &sp->after) : CREDITS_DB;
    db_release(m);
    return NULL;
}

/* n threads spend `each` at once on org; the successes counted, every result checked. */
static int spend_concurrently(const char *org, int n, int64_t each)
{
    struct spender sp[MIXED_SPENDERS];
    pthread_t th[MIXED_SPENDERS];
    pthread_barrier_t start;
    assert_true(n <= MIXED_SPENDERS);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        sp[i] = (struct spender){.org = org, .n = each, .start = &start, .after = -1};
        assert_int_equal(pthread_create(&th[i], NULL, spender_run, &sp[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    /* checked only once every thread is done: a failed check leaves this frame */
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (sp[i].rc == CREDITS_OK) {
            ok++;
            assert_true(sp[i].after >= 0);
        } else if (sp[i].rc != CREDITS_INSUFFICIENT) {
            pthread_barrier_destroy(&start);
            fail_msg("spender %d: %d", i, sp[i].rc);
        }
    }
    pthread_barrier_destroy(&start);
    return ok;
}

static void test_twenty_concurrent_spenders_of_7_from_100_leave_2(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_with_purchased(&st, "crrace", "credits_100"); /* no allowance, 100 purchased */
    assert_int_equal(balance_of(&st), 100);
    assert_int_equal(spend_concurrently(st.org, SPENDERS, 7), 14);
    assert_int_equal(balance_of(&st), 2);
    itest_pg_expect(NULL,
                    "SELECT count(*) || ' ' || sum(delta) FROM credit_ledger"
                    " WHERE organization_id = $1 AND kind = 'spend'",
                    st.org, "14 -98");
    itest_pg_expect(NULL, "SELECT sum(delta)::text FROM credit_ledger WHERE organization_id = $1",
                    st.org, "2");
    assert_ledger_matches_account(st.org);
}

static void test_concurrent_spenders_drain_the_allowance_then_purchased_credits(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_with_purchased(&st, "crmixed", "credits_100");
    /* Starter: 50 a month; granted on the first touch below, among the spenders */
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE organizations SET plan_id = 'starter' WHERE id = $1"
                                   " RETURNING id",
                                   st.org),
                     0);
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE credit_accounts SET allowance_month = NULL"
                                   " WHERE organization_id = $1",
                                   st.org),
                     0);
    assert_int_equal(spend_concurrently(st.org, MIXED_SPENDERS, 7), 21); /* 150 / 7 */
    json_t *j = summary(&st);
    assert_int_equal(itest_json_int(j, "balance"), 3);
    assert_int_equal(itest_json_int(j, "allowance_balance"), 0);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 3);
    assert_int_equal(itest_json_int(j, "used_this_month"), 147);
    json_decref(j);
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM credit_ledger WHERE organization_id = $1"
                    "   AND kind = 'monthly_grant'",
                    st.org, "1");
    assert_ledger_matches_account(st.org);
}

static void test_spending_refuses_bad_input_and_overdrafts_without_writing(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_with_purchased(&st, "crspend", "credits_100");
    int64_t after = -1;
    assert_int_equal(spend(st.org, 0, "ai.chat", NULL), CREDITS_INVALID);
    assert_int_equal(spend(st.org, -5, "ai.chat", NULL), CREDITS_INVALID);
    assert_int_equal(spend(st.org, 5, "", NULL), CREDITS_INVALID);
    assert_int_equal(spend(st.org, 5, "   ", NULL), CREDITS_INVALID);
    assert_int_equal(spend(st.org, 5, NULL, NULL), CREDITS_INVALID);
    assert_int_equal(spend("not-a-uuid", 5, "ai.chat", NULL), CREDITS_NOT_FOUND);
    assert_int_equal(spend("00000000-0000-0000-0000-000000000000", 5, "ai.chat", NULL),
                     CREDITS_NOT_FOUND);
    assert_int_equal(spend(st.org, 101, "ai.chat", &after), CREDITS_INSUFFICIENT);
    assert_int_equal(after, 100); /* what there is */
    assert_int_equal(spend(st.org, 100, "ai.chat", &after), CREDITS_OK);
    assert_int_equal(after, 0);
    assert_int_equal(spend(st.org, 1, "ai.chat", &after), CREDITS_INSUFFICIENT);
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM credit_ledger WHERE organization_id = $1"
                    "   AND kind = 'spend'",
                    st.org, "1");
    assert_ledger_matches_account(st.org);
}

/* ---- packs and buying ------------------------------------------------------------------ */

static void test_the_packs_on_sale_are_listed_in_order(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crpacks", &st);
    struct itest_resp *r = owner_get(&paysrv, &st, "/api/billing/credits/packs");
    assert_int_equal(r->status, 200);
    json_t *packs = json_object_get(r->json, "packs");
    assert_int_equal(json_array_size(packs), 3);
    const char *ids[] = {"credits_100", "credits_500", "credits_2000"};
    const long long credits[] = {100, 500, 2000}, amounts[] = {900, 3900, 12900};
    for (size_t i = 0; i < 3; i++) {
        json_t *p = json_array_get(packs, i);
        assert_string_equal(itest_json_str(p, "id"), ids[i]);
        assert_int_equal(itest_json_int(p, "credits"), credits[i]);
        assert_int_equal(itest_json_int(p, "amount"), amounts[i]);
        assert_string_equal(itest_json_str(p, "currency"), "EUR");
        assert_non_null(strstr(itest_json_str(p, "name"), "AI credits"));
    }
    itest_resp_free(r);
}

static void test_buying_a_pack_opens_checkout_on_the_platform_account(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crbuy", &st);
    assert_int_equal(balance_of(&st), 500);
    struct itest_resp *r = purchase(&st, "credits_500", "click-1");
    if (r->status != 200)
        fail_msg("purchase: %ld %s", r->status, r->body);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    assert_true(strncmp(session, "cs_test_", 8) == 0);
    char pay_url[256];
    snprintf(pay_url, sizeof(pay_url), "%s/pay/%s", stripe.http.base, session);
    assert_string_equal(itest_json_str(r->json, "checkout_url"), pay_url);
    itest_resp_free(r);

    /* exactly what Stripe was sent */
    json_t *sent = fake_last("/v1/checkout/sessions");
    assert_non_null(sent);
    json_t *h = json_object_get(sent, "headers"), *form = json_object_get(sent, "form");
    assert_string_equal(itest_json_str(h, "Authorization"), "Bearer " SECRET_KEY);
    char key[160];
    snprintf(key, sizeof(key), "credits-%s-credits_500-click-1", st.org);
    assert_string_equal(itest_json_str(h, "Idempotency-Key"), key);
    assert_null(json_object_get(h, "Stripe-Account")); /* the platform sells credits */
    assert_string_equal(itest_json_str(h, "Content-Type"), "application/x-www-form-urlencoded");
    char back[256];
    snprintf(back, sizeof(back), "http://%s:%d/app/credits", st.s.host, paysrv.port);
    char success[300], cancel[300];
    snprintf(success, sizeof(success), "%s?purchase=success", back);
    snprintf(cancel, sizeof(cancel), "%s?purchase=cancelled", back);
    const char *expect[][2] = {
        {"mode", "payment"},
        {"line_items[0][price_data][currency]", "eur"},
        {"line_items[0][price_data][unit_amount]", "3900"},
        {"line_items[0][price_data][product_data][name]", "500 AI credits"},
        {"line_items[0][quantity]", "1"},
        {"success_url", success},
        {"cancel_url", cancel},
        {"client_reference_id", st.org},
        {"metadata[kind]", "credits"},
        {"metadata[organization_id]", st.org},
        {"metadata[pack_id]", "credits_500"},
        {"metadata[credits]", "500"},
        {"payment_intent_data[metadata][kind]", "credits"},
        {"payment_intent_data[metadata][organization_id]", st.org},
        {"payment_intent_data[metadata][pack_id]", "credits_500"},
        {"customer_email", st.s.email},
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        const char *got = json_string_value(json_object_get(form, expect[i][0]));
        if (!got || strcmp(got, expect[i][1]) != 0)
            fail_msg("form %s: got %s, want %s", expect[i][0], got ? got : "(none)", expect[i][1]);
    }
    assert_int_equal(json_object_size(form), sizeof(expect) / sizeof(expect[0]));
    json_decref(sent);

    /* the start is in the studio's audit log, by the owner; nothing credited yet */
    char audited[300];
    snprintf(audited, sizeof(audited), "user %s credits_500 500 3900 eur", st.s.email);
    itest_pg_expect(st.s.db,
                    "SELECT actor_type || ' ' || actor_email || ' ' || (after->>'pack_id') || ' '"
                    "       || (after->>'credits') || ' ' || (after->>'amount') || ' '"
                    "       || (after->>'currency') FROM audit_log"
                    " WHERE action = 'credits_purchase' AND resource = 'billing'"
                    "   AND resource_id = $1",
                    session, audited);
    assert_int_equal(balance_of(&st), 500);

    /* a retried click (same key) gets the same session back; a new click a new one */
    r = purchase(&st, "credits_500", "click-1");
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "session_id"), session);
    itest_resp_free(r);
    r = purchase(&st, "credits_500", "click-2");
    assert_int_equal(r->status, 200);
    assert_string_not_equal(itest_json_str(r->json, "session_id"), session);
    itest_resp_free(r);
    /* without a key, each request is its own (random key) */
    size_t before = fake_count("/v1/checkout/sessions");
    r = purchase(&st, "credits_100", NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    assert_int_equal(fake_count("/v1/checkout/sessions"), before + 1);
    sent = fake_last("/v1/checkout/sessions");
    const char *k = itest_json_str(json_object_get(sent, "headers"), "Idempotency-Key");
    char prefix[120];
    snprintf(prefix, sizeof(prefix), "credits-%s-credits_100-", st.org);
    assert_true(strncmp(k, prefix, strlen(prefix)) == 0 && strlen(k) == strlen(prefix) + 32);
    json_decref(sent);

    /* a studio with a Stripe customer pays as that customer */
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE organizations SET stripe_customer_id = 'cus_test_' ||"
                                   " replace($1::text, '-', '') WHERE id = $1",
                                   st.org),
                     0);
    r = purchase(&st, "credits_2000", "click-3");
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    sent = fake_last("/v1/checkout/sessions");
    form = json_object_get(sent, "form");
    assert_true(strncmp(itest_json_str(form, "customer"), "cus_test_", 9) == 0);
    assert_null(json_object_get(form, "customer_email"));
    assert_string_equal(itest_json_str(form, "line_items[0][price_data][unit_amount]"), "12900");
    json_decref(sent);
}

/* The webhook's side, called as src/modules/billing calls it: a session is credited once,
 * for the pack's credits, only when paid the pack's price. */
static void test_a_paid_session_is_credited_once_and_only_at_the_packs_price(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crapply", &st);
    assert_int_equal(balance_of(&st), 500);
    char sid[96];
    snprintf(sid, sizeof(sid), "cs_test_apply_%s", st.s.slug);
    json_t *s = paid_session(sid, st.org, "credits_500", 3900, "eur");
    assert_int_equal(apply(s), CREDITS_OK);
    assert_int_equal(apply(s), CREDITS_OK); /* the replay: answered, nothing granted */
    json_decref(s);
    json_t *j = summary(&st);
    assert_int_equal(itest_json_int(j, "balance"), 1000);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 500);
    json_decref(j);
    itest_pg_expect(NULL,
                    "SELECT count(*) || ' ' || sum(delta) || ' ' || min(pack_id) || ' '"
                    "       || min(amount) || ' ' || min(currency) FROM credit_ledger"
                    " WHERE organization_id = $1 AND kind = 'purchase'",
                    st.org, "1 500 credits_500 3900 EUR");

    /* what a retry could not fix: answered 0 (Stripe stops), nothing granted */
    const struct {
        const char *why, *pack;
        long long amount;
        const char *currency, *payment_status, *kind, *org;
    } bad[] = {
        {"underpaid", "credits_2000", 3900, "eur", "paid", "credits", NULL},
        {"other currency", "credits_500", 3900, "usd", "paid", "credits", NULL},
        {"not paid yet", "credits_500", 3900, "eur", "unpaid", "credits", NULL},
        {"unknown pack", "credits_9999", 3900, "eur", "paid", "credits", NULL},
        {"not credits", "credits_500", 3900, "eur", "paid", "subscription", NULL},
        {"unknown studio", "credits_500", 3900, "eur", "paid", "credits",
         "00000000-0000-0000-0000-000000000000"},
        {"malformed studio", "credits_500", 3900, "eur", "paid", "credits", "x'; --"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char bsid[96];
        snprintf(bsid, sizeof(bsid), "cs_test_bad_%zu_%s", i, st.s.slug);
        json_t *b = paid_session(bsid, bad[i].org ? bad[i].org : st.org, bad[i].pack, bad[i].amount,
                                 bad[i].currency);
        json_object_set_new(b, "payment_status", json_string(bad[i].payment_status));
        json_object_set_new(json_object_get(b, "metadata"), "kind", json_string(bad[i].kind));
        if (apply(b) != CREDITS_OK)
            fail_msg("%s: not answered 0", bad[i].why);
        json_decref(b);
        itest_pg_expect(NULL,
                        "SELECT count(*)::text FROM credit_ledger WHERE checkout_session_id = $1",
                        bsid, "0");
    }
    snprintf(sid, sizeof(sid), "cs_test_no_amount_%s", st.s.slug);
    json_t *no_amount = paid_session(sid, st.org, "credits_500", 0, "eur");
    json_object_del(no_amount, "amount_total");
    assert_int_equal(apply(no_amount), CREDITS_OK);
    json_decref(no_amount);
    assert_int_equal(balance_of(&st), 1000);
    assert_ledger_matches_account(st.org);
}

/* Asks the stand-in to sign and deliver an event to paysrv's billing webhook: action
 * "complete" (what=session) or "resend" (what=event), signed with secret. The stand-in's
 * reply: event_id, delivered_status, delivered_body (itest_resp_free it). */
static struct itest_resp *deliver(const char *action, const char *what, const char *id,
                                  const char *secret)
{
    char path[512];
    snprintf(path, sizeof(path),
             "/_fake/%s?%s=%s&target=http%%3A%%2F%%2F127.0.0.1%%3A%d"
             "%%2Fapi%%2Fbilling%%2Fwebhooks%%2Fstripe&secret=%s",
             action, what, id, paysrv.port, secret);
    struct itest_resp *r = itest_request(&stripe.http, "POST", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    return r;
}

static long delivered(const struct itest_resp *r)
{
    return (long)json_integer_value(json_object_get(r->json, "delivered_status"));
}

/* The whole way: buy, pay (the stand-in completes the session and Stripe's signed event
 * reaches POST /api/billing/webhooks/stripe), credited once whatever is redelivered. */
static void test_the_billing_webhook_credits_a_paid_pack_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crhook", &st);
    assert_int_equal(balance_of(&st), 500);
    struct itest_resp *r = purchase(&st, "credits_2000", "hook");
    assert_int_equal(r->status, 200);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);

    /* a delivery signed with another secret (the payments webhook's): 400, nothing */
    r = deliver("complete", "session", session, "whsec_not_the_billing_one");
    assert_int_equal(delivered(r), 400);
    char event[128];
    snprintf(event, sizeof(event), "%s", itest_json_str(r->json, "event_id"));
    itest_resp_free(r);
    assert_int_equal(balance_of(&st), 500);

    /* the real one: credited */
    r = deliver("resend", "event", event, BILLING_SECRET);
    if (delivered(r) != 200)
        fail_msg("webhook: %s", r->body);
    itest_resp_free(r);
    json_t *j = summary(&st);
    assert_int_equal(itest_json_int(j, "balance"), 2500);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 2000);
    json_decref(j);

    /* the same event again, and another event completing the same session: 200, no more */
    r = deliver("resend", "event", event, BILLING_SECRET);
    assert_int_equal(delivered(r), 200);
    itest_resp_free(r);
    r = deliver("complete", "session", session, BILLING_SECRET);
    assert_int_equal(delivered(r), 200);
    assert_string_not_equal(itest_json_str(r->json, "event_id"), event);
    itest_resp_free(r);
    assert_int_equal(balance_of(&st), 2500);
    itest_pg_expect(NULL,
                    "SELECT count(*) || ' ' || sum(delta) || ' ' || min(amount) FROM credit_ledger"
                    " WHERE checkout_session_id = $1 AND kind = 'purchase'",
                    session, "1 2000 12900");
    assert_ledger_matches_account(st.org);

    /* and the history shows it */
    r = owner_get(&paysrv, &st, "/api/billing/credits/history?limit=1");
    json_t *e = json_array_get(json_object_get(r->json, "entries"), 0);
    assert_string_equal(itest_json_str(e, "kind"), "purchase");
    assert_int_equal(itest_json_int(e, "delta"), 2000);
    itest_resp_free(r);
}

/* Sends the stand-in's stored Checkout Session sid as an event of type to the billing
 * webhook, with payment_status set as given; the HTTP status the webhook answered. */
static long session_event(const char *type, const char *sid, const char *payment_status)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/checkout/sessions/%s", sid);
    struct itest_resp *r = itest_request(&stripe.http, "GET", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    json_t *session = json_deep_copy(r->json);
    itest_resp_free(r);
    json_object_set_new(session, "status", json_string("complete"));
    json_object_set_new(session, "payment_status", json_string(payment_status));
    json_t *event = json_pack("{s:s, s:{s:o}}", "type", type, "data", "object", session);
    char *body = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    snprintf(path, sizeof(path),
             "/_fake/event?target=http%%3A%%2F%%2F127.0.0.1%%3A%d"
             "%%2Fapi%%2Fbilling%%2Fwebhooks%%2Fstripe&secret=%s",
             paysrv.port, BILLING_SECRET);
    r = itest_request(&stripe.http, "POST", NULL, path, "application/json", body, NULL, NULL);
    free(body);
    assert_int_equal(r->status, 200);
    long delivered_status = delivered(r);
    itest_resp_free(r);
    return delivered_status;
}

/* A delayed payment method (SEPA debit): Checkout completes the session unpaid, and the
 * money arrives later as checkout.session.async_payment_succeeded. Credited then, once. */
static void test_a_pack_paid_later_is_credited_when_the_money_arrives(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crlater", &st);
    long long before = balance_of(&st);
    struct itest_resp *r = purchase(&st, "credits_100", "later");
    assert_int_equal(r->status, 200);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);

    assert_int_equal(session_event("checkout.session.completed", session, "unpaid"), 200);
    assert_int_equal(balance_of(&st), before); /* not paid yet: nothing */
    assert_int_equal(session_event("checkout.session.async_payment_succeeded", session, "paid"),
                     200);
    assert_int_equal(balance_of(&st), before + 100);
    assert_int_equal(session_event("checkout.session.async_payment_succeeded", session, "paid"),
                     200);
    assert_int_equal(balance_of(&st), before + 100); /* a second event: no more */
    assert_ledger_matches_account(st.org);
}

/* Sends a charge.refunded (a Charge of payment intent pi, amount_refunded so far) or a
 * charge.dispute.created (a Dispute of amount) to the billing webhook; its HTTP status. */
static long money_back_event(const char *type, const char *pi, long long amount)
{
    bool dispute = strcmp(type, "charge.dispute.created") == 0;
    json_t *obj = json_pack("{s:s, s:s, s:I, s:s}", "object", dispute ? "dispute" : "charge",
                            "payment_intent", pi, dispute ? "amount" : "amount_refunded",
                            (json_int_t)amount, "currency", "eur");
    json_t *event = json_pack("{s:s, s:{s:o}}", "type", type, "data", "object", obj);
    char *body = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    char path[256];
    snprintf(path, sizeof(path),
             "/_fake/event?target=http%%3A%%2F%%2F127.0.0.1%%3A%d"
             "%%2Fapi%%2Fbilling%%2Fwebhooks%%2Fstripe&secret=%s",
             paysrv.port, BILLING_SECRET);
    struct itest_resp *r =
        itest_request(&stripe.http, "POST", NULL, path, "application/json", body, NULL, NULL);
    free(body);
    assert_int_equal(r->status, 200);
    long delivered_status = delivered(r);
    itest_resp_free(r);
    return delivered_status;
}

/* A pack bought and paid through the webhook; its payment intent into pi (≥ 64 bytes). */
static void bought(struct studio *st, const char *pack, const char *key, char *pi)
{
    struct itest_resp *r = purchase(st, pack, key);
    assert_int_equal(r->status, 200);
    char session[128], path[192];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    assert_int_equal(session_event("checkout.session.completed", session, "paid"), 200);
    snprintf(path, sizeof(path), "/v1/checkout/sessions/%s", session);
    r = itest_request(&stripe.http, "GET", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    snprintf(pi, 64, "%s", itest_json_str(r->json, "payment_intent"));
    itest_resp_free(r);
}

/* Money given back takes back the credits it paid for, once, never below zero. */
static void test_a_refunded_or_disputed_pack_takes_its_credits_back(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crrefund", &st);
    char pi[64], pi2[64];
    bought(&st, "credits_500", "refund", pi); /* 500 credits for 39.00 */
    json_t *j = summary(&st);
    long long allowance = itest_json_int(j, "allowance_balance");
    assert_int_equal(itest_json_int(j, "purchased_balance"), 500);
    json_decref(j);

    /* Half the money back: 250 credits go, once, however often Stripe says so. */
    assert_int_equal(money_back_event("charge.refunded", pi, 1950), 200);
    assert_int_equal(money_back_event("charge.refunded", pi, 1950), 200);
    j = summary(&st);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 250);
    assert_int_equal(itest_json_int(j, "allowance_balance"), allowance); /* the plan's stay */
    json_decref(j);

    /* Spend the allowance and 150 purchased, then the rest of the money goes back: only the
     * 100 purchased credits left can be taken; the balance does not go below zero. */
    int64_t after = -1;
    assert_int_equal(spend(st.org, allowance + 150, "ai.chat", &after), CREDITS_OK);
    assert_int_equal(after, 100);
    assert_int_equal(money_back_event("charge.refunded", pi, 3900), 200);
    j = summary(&st);
    assert_int_equal(itest_json_int(j, "purchased_balance"), 0);
    assert_int_equal(itest_json_int(j, "balance"), 0);
    json_decref(j);
    itest_pg_expect(NULL,
                    "SELECT count(*) || ' ' || sum(delta) FROM credit_ledger"
                    " WHERE payment_intent_id = $1 AND kind = 'refund'",
                    pi, "2 -350");

    /* A dispute over another pack takes all of it; an unknown payment changes nothing. */
    bought(&st, "credits_100", "dispute", pi2);
    assert_int_equal(balance_of(&st), 100);
    assert_int_equal(money_back_event("charge.dispute.created", pi2, 900), 200);
    assert_int_equal(balance_of(&st), 0);
    assert_int_equal(money_back_event("charge.refunded", "pi_test_not_ours", 900), 200);
    assert_ledger_matches_account(st.org);
}

static void test_a_failing_stripe_leaves_nothing_behind(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crfail", &st);
    const struct {
        int status;
        long expect;
        const char *code;
    } cases[] = {
        {402, 502, "payment_provider_error"},
        {500, 502, "payment_provider_error"},
        {400, 502, "payment_provider_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_fail("/v1/checkout/sessions", cases[i].status, 1, 0);
        struct itest_resp *r = purchase(&st, "credits_100", NULL);
        if (r->status != cases[i].expect)
            fail_msg("Stripe %d: got %ld %s", cases[i].status, r->status, r->body);
        assert_string_equal(itest_error_code(r), cases[i].code);
        itest_resp_free(r);
    }
    /* no answer within the client's timeout (15 s): 503, the caller may retry */
    fake_fail("/v1/checkout/sessions", 500, 1, 17);
    double t0 = itest_now_ms();
    struct itest_resp *r = purchase(&st, "credits_100", NULL);
    assert_int_equal(r->status, 503);
    assert_string_equal(itest_error_code(r), "payment_provider_unavailable");
    assert_true(itest_now_ms() - t0 < 17000);
    itest_resp_free(r);
    /* nothing recorded half-way: no audit entry, no ledger entry but the month's grant */
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM audit_log WHERE action = $1",
                    "credits_purchase", "0");
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM credit_ledger WHERE organization_id = $1"
                    "   AND kind <> 'monthly_grant'",
                    st.org, "0");
    /* and once Stripe is back, buying works */
    r = purchase(&st, "credits_100", NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
}

static void test_bad_purchase_requests_are_refused_before_stripe(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crbad", &st);
    size_t before = fake_count("/v1/checkout/sessions");
    const struct {
        const char *body, *idem;
        long status;
        const char *code, *field;
    } cases[] = {
        {"{\"pack_id\": \"credits_7\"}", NULL, 422, "invalid", "pack_id"},
        {"{\"pack_id\": \"\"}", NULL, 422, "invalid", "pack_id"},
        {"{\"pack_id\": 500}", NULL, 422, "invalid", "pack_id"},
        {"{}", NULL, 422, "invalid", "pack_id"},
        {"{\"pack_id\": \"credits_100\"}", "has spaces", 422, "invalid", NULL},
        {"{\"pack_id\": \"credits_100\"}",
         "0123456789012345678901234567890123456789012345678901234567890123456789", 422, "invalid",
         NULL},
        {"{\"pack_id\": ", NULL, 400, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct itest_resp *r = call(&paysrv, &st, "POST", "/api/billing/credits/purchase",
                                    cases[i].body, &st.jar, st.csrf, cases[i].idem);
        if (r->status != cases[i].status)
            fail_msg("%s: got %ld %s", cases[i].body, r->status, r->body);
        if (cases[i].code)
            assert_string_equal(itest_error_code(r), cases[i].code);
        if (cases[i].field)
            assert_non_null(json_object_get(
                json_object_get(json_object_get(r->json, "error"), "fields"), cases[i].field));
        itest_resp_free(r);
    }
    /* a retired pack cannot be bought */
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE credit_packs SET active = false WHERE id = $1"
                                   " RETURNING id",
                                   "credits_2000"),
                     0);
    struct itest_resp *r = purchase(&st, "credits_2000", NULL);
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE credit_packs SET active = true WHERE id = $1"
                                   " RETURNING id",
                                   "credits_2000"),
                     0);
    assert_int_equal(r->status, 422);
    itest_resp_free(r);
    assert_int_equal(fake_count("/v1/checkout/sessions"), before);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM audit_log WHERE action = $1",
                    "credits_purchase", "0");
}

static void test_without_a_stripe_key_buying_is_unavailable(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(srv, "crnokey", &st);
    struct itest_resp *r = call(srv, &st, "POST", "/api/billing/credits/purchase",
                                "{\"pack_id\": \"credits_100\"}", &st.jar, st.csrf, NULL);
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "payments_unavailable");
    itest_resp_free(r);
    /* the balance is still there to read */
    r = call(srv, &st, "GET", "/api/billing/credits", NULL, &st.jar, NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(r->json, "balance"), 500);
    itest_resp_free(r);
}

/* ---- history --------------------------------------------------------------------------- */

static void test_the_history_pages_newest_first_with_a_total(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crhist", &st);
    for (int i = 1; i <= 24; i++) {
        char reason[32];
        snprintf(reason, sizeof(reason), "ai.chat #%d", i);
        assert_int_equal(spend(st.org, i, reason, NULL), CREDITS_OK);
    }
    /* 1 grant + 24 spends; pages of 10 */
    long long seen_last = -1;
    const size_t sizes[] = {10, 10, 5, 0};
    for (int page = 0; page < 4; page++) {
        char path[96];
        snprintf(path, sizeof(path), "/api/billing/credits/history?limit=10&offset=%d", page * 10);
        struct itest_resp *r = owner_get(&paysrv, &st, path);
        assert_int_equal(r->status, 200);
        assert_int_equal(itest_json_int(r->json, "total"), 25);
        assert_int_equal(itest_json_int(r->json, "limit"), 10);
        assert_int_equal(itest_json_int(r->json, "offset"), page * 10);
        json_t *entries = json_object_get(r->json, "entries"), *e;
        assert_int_equal(json_array_size(entries), sizes[page]);
        size_t i;
        json_array_foreach(entries, i, e)
        {
            long long id = itest_json_int(e, "id");
            assert_true(seen_last < 0 || id < seen_last); /* newest first, no overlap */
            seen_last = id;
            assert_non_null(strchr(itest_json_str(e, "created_at"), 'T'));
            assert_int_equal(itest_json_int(e, "delta"), itest_json_int(e, "delta_allowance") +
                                                             itest_json_int(e, "delta_purchased"));
        }
        if (page == 0) {
            json_t *first = json_array_get(entries, 0);
            assert_string_equal(itest_json_str(first, "kind"), "spend");
            assert_string_equal(itest_json_str(first, "reason"), "ai.chat #24");
            assert_int_equal(itest_json_int(first, "delta"), -24);
        }
        if (page == 2) {
            json_t *last = json_array_get(entries, 4);
            assert_string_equal(itest_json_str(last, "kind"), "monthly_grant");
            assert_int_equal(itest_json_int(last, "delta"), 500);
        }
        itest_resp_free(r);
    }
    /* the default page is 20 */
    struct itest_resp *r = owner_get(&paysrv, &st, "/api/billing/credits/history");
    assert_int_equal(r->status, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "entries")), 20);
    itest_resp_free(r);
    /* a purchase names its pack and what was paid */
    char sid[96];
    snprintf(sid, sizeof(sid), "cs_test_hist_%s", st.s.slug);
    json_t *s = paid_session(sid, st.org, "credits_100", 900, "eur");
    assert_int_equal(apply(s), CREDITS_OK);
    json_decref(s);
    r = owner_get(&paysrv, &st, "/api/billing/credits/history?limit=1");
    json_t *p = json_array_get(json_object_get(r->json, "entries"), 0);
    assert_string_equal(itest_json_str(p, "kind"), "purchase");
    assert_string_equal(itest_json_str(p, "pack_id"), "credits_100");
    assert_int_equal(itest_json_int(p, "amount"), 900);
    assert_string_equal(itest_json_str(p, "currency"), "EUR");
    assert_int_equal(itest_json_int(p, "delta_purchased"), 100);
    itest_resp_free(r);

    const char *bad[] = {"limit=0", "limit=101", "limit=x", "offset=-1", "offset=1e3", "limit="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[96];
        snprintf(path, sizeof(path), "/api/billing/credits/history?%s", bad[i]);
        r = owner_get(&paysrv, &st, path);
        if (r->status != 422)
            fail_msg("%s: %ld", bad[i], r->status);
        json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
        assert_non_null(
            json_object_get(fields, strncmp(bad[i], "limit", 5) == 0 ? "limit" : "offset"));
        itest_resp_free(r);
    }
}

/* ---- who may do what ------------------------------------------------------------------- */

static void test_reading_needs_billing_view_and_buying_billing_manage(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crperm", &st);
    const char *reads[] = {"/api/billing/credits", "/api/billing/credits/packs",
                           "/api/billing/credits/history", "/app/credits"};
    const char *buy = "{\"pack_id\": \"credits_100\"}";
    size_t before = fake_count("/v1/checkout/sessions");

    /* anonymous: 401 (a browser asking for the page is sent to sign in) */
    for (size_t i = 0; i < 4; i++) {
        struct itest_resp *r = call(&paysrv, &st, "GET", reads[i], NULL, NULL, NULL, NULL);
        assert_int_equal(r->status, 401);
        assert_string_equal(itest_error_code(r), "unauthenticated");
        itest_resp_free(r);
    }
    struct itest_resp *r =
        call(&paysrv, &st, "POST", "/api/billing/credits/purchase", buy, NULL, NULL, NULL);
    assert_int_equal(r->status, 401);
    itest_resp_free(r);

    /* front desk and viewer hold no billing permission: 403 everywhere */
    const char *roles[] = {"front desk", "viewer", "engineer"};
    for (size_t k = 0; k < 3; k++) {
        struct itest_cookies jar;
        char csrf[128];
        studio_user(&paysrv, &st, roles[k], &jar, csrf);
        for (size_t i = 0; i < 4; i++) {
            r = call(&paysrv, &st, "GET", reads[i], NULL, &jar, NULL, NULL);
            if (r->status != 403)
                fail_msg("%s %s: %ld", roles[k], reads[i], r->status);
            assert_string_equal(itest_error_code(r), "forbidden");
            itest_resp_free(r);
        }
        r = call(&paysrv, &st, "POST", "/api/billing/credits/purchase", buy, &jar, csrf, NULL);
        assert_int_equal(r->status, 403);
        itest_resp_free(r);
    }

    /* a manager sees the credits (billing:view) but may not buy (billing:manage) */
    struct itest_cookies mjar;
    char mcsrf[128];
    studio_user(&paysrv, &st, "manager", &mjar, mcsrf);
    for (size_t i = 0; i < 4; i++) {
        r = call(&paysrv, &st, "GET", reads[i], NULL, &mjar, NULL, NULL);
        if (r->status != 200)
            fail_msg("manager %s: %ld", reads[i], r->status);
        itest_resp_free(r);
    }
    r = call(&paysrv, &st, "POST", "/api/billing/credits/purchase", buy, &mjar, mcsrf, NULL);
    assert_int_equal(r->status, 403);
    assert_string_equal(itest_error_code(r), "forbidden");
    itest_resp_free(r);

    /* the owner without the CSRF token: refused */
    r = call(&paysrv, &st, "POST", "/api/billing/credits/purchase", buy, &st.jar, NULL, NULL);
    assert_int_equal(r->status, 403);
    assert_string_equal(itest_error_code(r), "csrf_failed");
    itest_resp_free(r);
    assert_int_equal(fake_count("/v1/checkout/sessions"), before);
}

static void test_one_studio_never_sees_anothers_credits(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    studio_new(&paysrv, "crisoa", &a);
    studio_new(&paysrv, "crisob", &b);
    assert_int_equal(spend(a.org, 123, "ai.only-a", NULL), CREDITS_OK);
    char sid[96];
    snprintf(sid, sizeof(sid), "cs_test_iso_%s", a.s.slug);
    json_t *s = paid_session(sid, a.org, "credits_2000", 12900, "eur");
    assert_int_equal(apply(s), CREDITS_OK);
    json_decref(s);

    json_t *ja = summary(&a), *jb = summary(&b);
    assert_int_equal(itest_json_int(ja, "balance"), 500 - 123 + 2000);
    assert_int_equal(itest_json_int(jb, "balance"), 500);
    assert_int_equal(itest_json_int(jb, "used_this_month"), 0);
    assert_int_equal(itest_json_int(jb, "purchased_balance"), 0);
    json_decref(ja);
    json_decref(jb);
    struct itest_resp *r = owner_get(&paysrv, &b, "/api/billing/credits/history?limit=100");
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(r->json, "total"), 1);
    assert_null(strstr(r->body, "only-a"));
    assert_null(strstr(r->body, a.s.slug));
    itest_resp_free(r);
    /* A's session does not open B's credits */
    r = call(&paysrv, &b, "GET", "/api/billing/credits", NULL, &a.jar, NULL, NULL);
    assert_int_equal(r->status, 401);
    itest_resp_free(r);
    /* B buying starts B's purchase, named as B's in Stripe's metadata */
    r = purchase(&b, "credits_100", "iso");
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    json_t *sent = fake_last("/v1/checkout/sessions");
    assert_string_equal(itest_json_str(json_object_get(sent, "form"), "metadata[organization_id]"),
                        b.org);
    json_decref(sent);
    itest_pg_expect(a.s.db, "SELECT count(*)::text FROM audit_log WHERE action = $1",
                    "credits_purchase", "0");
}

/* ---- the page -------------------------------------------------------------------------- */

static void test_the_credits_page_is_served_with_its_script_and_linked_from_the_nav(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_new(&paysrv, "crpage", &st);
    struct itest_resp *r = owner_get(&paysrv, &st, "/app/credits");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "/static/js/credits.js"));
    assert_non_null(strstr(r->body, "id=\"credits-app\""));
    assert_non_null(strstr(r->body, "data-can-buy=\"1\""));
    assert_non_null(strstr(r->body, "href=\"/app/credits\" aria-current=\"page\""));
    itest_resp_free(r);
    r = owner_get(&paysrv, &st, "/app/bookings");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "href=\"/app/credits\""));
    itest_resp_free(r);
    struct itest_cookies jar;
    char csrf[128];
    studio_user(&paysrv, &st, "manager", &jar, csrf);
    r = call(&paysrv, &st, "GET", "/app/credits", NULL, &jar, NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_null(strstr(r->body, "data-can-buy=\"1\"")); /* a manager sees no Buy buttons */
    itest_resp_free(r);
    r = itest_request(&paysrv, "GET", NULL, "/static/js/credits.js", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_studio_is_granted_its_plans_monthly_allowance_once),
        cmocka_unit_test(test_unused_allowance_expires_at_month_end_but_purchased_credits_stay),
        cmocka_unit_test(test_no_allowance_after_the_trial_until_the_studio_subscribes),
        cmocka_unit_test(test_the_ledger_is_append_only),
        cmocka_unit_test(test_twenty_concurrent_spenders_of_7_from_100_leave_2),
        cmocka_unit_test(test_concurrent_spenders_drain_the_allowance_then_purchased_credits),
        cmocka_unit_test(test_spending_refuses_bad_input_and_overdrafts_without_writing),
        cmocka_unit_test(test_the_packs_on_sale_are_listed_in_order),
        cmocka_unit_test(test_buying_a_pack_opens_checkout_on_the_platform_account),
        cmocka_unit_test(test_a_paid_session_is_credited_once_and_only_at_the_packs_price),
        cmocka_unit_test(test_the_billing_webhook_credits_a_paid_pack_once),
        cmocka_unit_test(test_a_pack_paid_later_is_credited_when_the_money_arrives),
        cmocka_unit_test(test_a_refunded_or_disputed_pack_takes_its_credits_back),
        cmocka_unit_test(test_a_failing_stripe_leaves_nothing_behind),
        cmocka_unit_test(test_bad_purchase_requests_are_refused_before_stripe),
        cmocka_unit_test(test_without_a_stripe_key_buying_is_unavailable),
        cmocka_unit_test(test_the_history_pages_newest_first_with_a_total),
        cmocka_unit_test(test_reading_needs_billing_view_and_buying_billing_manage),
        cmocka_unit_test(test_one_studio_never_sees_anothers_credits),
        cmocka_unit_test(test_the_credits_page_is_served_with_its_script_and_linked_from_the_nav),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
