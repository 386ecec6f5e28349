/*
 * test_billing.c — the studio's own subscription to studiod (/api/billing),
 * against tests/fakes/stripe_fake.py (+ stripe_fake_billing.py) started
 * here and a studiod of its own whose STRIPE_API_BASE points at it.
 *
 * The specification: the plans list prices and limits; checkout makes the
 * Stripe customer once per studio and a Checkout Session in mode
 * subscription naming the studio and plan; the completed checkout (a signed
 * webhook) activates the plan; upgrade prorates at once, downgrade now or
 * at the period's end (kept until the period rolls over), cancel at period
 * end or at once; the portal redirects; Stripe failing (402, 500, no
 * answer) is a clear 502/503 and changes nothing; webhooks are verified
 * (wrong secret, tampered body), handled once, and reordered or repeated
 * deliveries end in the same state; limits are enforced where rooms, staff
 * and bookings are made (402 plan_limit); after the trial the back office
 * is read-only (402 subscription_required), public booking paused, reads
 * and billing still work, and subscribing lifts it; permissions (401, 403)
 * and tenant isolation hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest_harness.h"
#include "itest_stripe.h"
#include "studiod/arena.h"
#include "studiod/crypto.h"

#define PASSWORD "correct horse battery staple"
#define TZ "Europe/Paris"
#define BILLING_SECRET "whsec_billing_test"
#define PAYMENTS_SECRET "whsec_payments_test"
#define CACHE_WAIT_MS 8000 /* the tenant cache keeps a studio 5 s (src/db/tenant.c) */

static struct studiod_proc *const srv = &itest_server;

static struct itest_stripe stripe;  /* the stand-in */
static struct studiod_proc billsrv; /* pid 0 when not started */

/* A studio of its own with its owner signed in. */
struct studio {
    struct itest_studio s;
    struct itest_cookies jar;
    char csrf[128];
    char org_id[40];
};

/* ---- the stand-in and the server ------------------------------------------------------- */

static int group_setup(void **state)
{
    if (itest_suite_setup(state) != 0)
        return -1;
    if (itest_missing_env)
        return 0;
    if (itest_stripe_start(&stripe, NULL) != 0)
        return -1;
    char base[96];
    itest_stripe_env(&stripe, base);
    const char *env[] = {base, "STRIPE_SECRET_KEY=sk_test_billing",
                         "STRIPE_BILLING_WEBHOOK_SECRET=" BILLING_SECRET,
                         "STRIPE_WEBHOOK_SECRET=" PAYMENTS_SECRET, NULL};
    return itest_start(&billsrv, env);
}

static int group_teardown(void **state)
{
    int rc = 0;
    if (billsrv.pid && itest_stop(&billsrv) != 0)
        rc = -1;
    itest_stripe_stop(&stripe);
    if (itest_suite_teardown(state) != 0)
        rc = -1;
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Signs up a studio on p (its plan set first when plan is not NULL, before anything caches
 * the studio) and signs its owner in. */
static void open_studio(const struct studiod_proc *p, const char *prefix, const char *plan,
                        struct studio *st)
{
    memset(st, 0, sizeof(*st));
    itest_name_studio(prefix, &st->s);
    assert_int_equal(itest_signup_studio(p, &st->s, PASSWORD), 201);
    char *id = itest_pg_one(NULL, "SELECT id FROM organizations WHERE slug = $1", st->s.slug);
    snprintf(st->org_id, sizeof(st->org_id), "%s", id);
    free(id);
    if (plan)
        assert_int_equal(itest_pg_exec(NULL, "UPDATE organizations SET plan_id = $2 WHERE id = $1",
                                       st->org_id, plan),
                         0);
    assert_int_equal(itest_login(p, st->s.slug, st->s.email, PASSWORD, &st->jar, st->csrf), 200);
}

/* A request as the studio's owner (CSRF token on unsafe methods); body JSON or NULL. */
static struct itest_resp *call(const struct studiod_proc *p, struct studio *st, const char *method,
                               const char *path, const char *body)
{
    char header[200];
    snprintf(header, sizeof(header), "X-CSRF-Token: %s", st->csrf);
    const char *headers[] = {header, "Accept: application/json", NULL};
    return itest_request(p, method, st->s.host, path, body ? "application/json" : NULL, body,
                         headers, &st->jar);
}

static void expect(struct itest_resp *r, long status, const char *code)
{
    if (r->status != status ||
        (code && (!itest_error_code(r) || strcmp(itest_error_code(r), code) != 0)))
        fail_msg("want %ld %s, got %ld %s", status, code ? code : "", r->status, r->body);
}

/* The fake's recorded requests to method path, in order (json_decref it). */
static json_t *fake_requests(const char *method, const char *path)
{
    json_t *all = itest_stripe_requests(&stripe);
    assert_non_null(all);
    json_t *out = json_array(), *req;
    size_t i;
    json_array_foreach(all, i, req)
    {
        if (strcmp(itest_json_str(req, "path"), path) == 0 &&
            strcmp(itest_json_str(req, "method"), method) == 0)
            json_array_append(out, req);
    }
    json_decref(all);
    return out;
}

/* The last request to method path (json_decref it); fails when there is none. */
static json_t *fake_last(const char *method, const char *path)
{
    json_t *all = fake_requests(method, path);
    size_t n = json_array_size(all);
    if (!n)
        fail_msg("the fake saw no %s %s", method, path);
    json_t *last = json_incref(json_array_get(all, n - 1));
    json_decref(all);
    return last;
}

static size_t fake_count(const char *method, const char *path)
{
    json_t *all = fake_requests(method, path);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

static const char *form(json_t *req, const char *key)
{
    return itest_json_str(json_object_get(req, "form"), key);
}

static const char *header(json_t *req, const char *name)
{
    return itest_json_str(json_object_get(req, "headers"), name);
}

/* POST to the fake's control path; its reply (itest_resp_free it). */
static struct itest_resp *fake_post(const char *path, const char *body)
{
    return itest_request(&stripe.http, "POST", NULL, path, body ? "application/json" : NULL, body,
                         NULL, NULL);
}

/* "target=...&secret=..." for billsrv's billing webhook (or a dead port when dead). */
static const char *target(char *out, size_t n, const char *secret, bool dead)
{
    snprintf(out, n,
             "target=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fapi%%2Fbilling%%2Fwebhooks%%2Fstripe"
             "&secret=%s",
             dead ? 1 : billsrv.port, secret);
    return out;
}

static long delivered(const struct itest_resp *r)
{
    return (long)json_integer_value(json_object_get(r->json, "delivered_status"));
}

/* Makes Stripe fail the next count requests to path with status (after delay seconds). */
static void fake_fail(const char *path, int status, int count, int delay)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"path\":\"%s\",\"status\":%d,\"count\":%d,\"delay\":%d}", path,
             status, count, delay);
    struct itest_resp *r = fake_post("/_fake/fail", body);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
}

/* POST create-checkout for plan/period; the session id into session (128). */
static void checkout(struct studio *st, const char *plan, const char *period, char *session)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"plan_id\":\"%s\",\"billing_period\":\"%s\"}", plan, period);
    struct itest_resp *r = call(&billsrv, st, "POST", "/api/billing/create-checkout", body);
    expect(r, 200, NULL);
    snprintf(session, 128, "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
}

/* Subscribes st to plan/period through Checkout and the signed completion event; the
 * Stripe subscription id into sub (128). */
static void subscribe(struct studio *st, const char *plan, const char *period, char *sub)
{
    char session[128], t[256], path[512];
    checkout(st, plan, period, session);
    snprintf(path, sizeof(path), "/_fake/complete?session=%s&%s", session,
             target(t, sizeof(t), BILLING_SECRET, false));
    struct itest_resp *r = fake_post(path, NULL);
    assert_int_equal(r->status, 200);
    if (delivered(r) != 200)
        fail_msg("completion webhook: %s", r->body);
    itest_resp_free(r);
    snprintf(path, sizeof(path), "/v1/checkout/sessions/%s", session);
    r = itest_request(&stripe.http, "GET", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    snprintf(sub, 128, "%s", itest_json_str(r->json, "subscription"));
    itest_resp_free(r);
}

/* Has the fake make event type of subscription sub (as it is now) with created, sent to
 * the webhook (or to a dead port: kept for /_fake/resend). The event id into id (128);
 * returns the delivery status. */
static long sub_event(const char *sub, const char *type, long created, bool dead, char *id)
{
    char t[256], path[640];
    snprintf(path, sizeof(path), "/_fake/billing/event?subscription=%s&type=%s&created=%ld&%s", sub,
             type, created, target(t, sizeof(t), BILLING_SECRET, dead));
    struct itest_resp *r = fake_post(path, NULL);
    assert_int_equal(r->status, 200);
    long st = delivered(r);
    if (id)
        snprintf(id, 128, "%s", itest_json_str(r->json, "event_id"));
    itest_resp_free(r);
    return st;
}

/* Sends event id again, signed with secret; the webhook's reply into *body (free it). */
static long resend(const char *id, const char *secret, char **body)
{
    char t[256], path[512];
    snprintf(path, sizeof(path), "/_fake/resend?event=%s&%s", id,
             target(t, sizeof(t), secret, false));
    struct itest_resp *r = fake_post(path, NULL);
    assert_int_equal(r->status, 200);
    long st = delivered(r);
    if (body)
        *body = strdup(itest_json_str(r->json, "delivered_body"));
    itest_resp_free(r);
    return st;
}

static void fake_control(const char *what, const char *sub, const char *extra)
{
    char path[400];
    snprintf(path, sizeof(path), "/_fake/billing/%s?subscription=%s%s", what, sub,
             extra ? extra : "");
    struct itest_resp *r = fake_post(path, NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
}

static long long audit_count(struct studio *st, const char *action)
{
    char *n = itest_pg_one(st->s.db,
                           "SELECT count(*)::text FROM audit_log WHERE resource = 'billing'"
                           " AND action = $1",
                           action);
    long long v = atoll(n);
    free(n);
    return v;
}

/* A staff user holding only role, signed in (jar, csrf). */
static void staff_with_role(const struct studiod_proc *p, struct studio *st, const char *role,
                            struct studio *as)
{
    *as = *st;
    memset(&as->jar, 0, sizeof(as->jar));
    struct arena *a = arena_new(1024);
    const char *hash = crypto_password_hash(a, PASSWORD);
    assert_non_null(hash);
    char email[160];
    snprintf(email, sizeof(email), "%s-%s@example.com", role, st->s.slug);
    assert_int_equal(itest_pg_exec(st->s.db,
                                   "WITH u AS (INSERT INTO users (email, name, password_hash)"
                                   "           VALUES ($1, 'Someone', $2) RETURNING id)"
                                   " INSERT INTO user_roles (user_id, role_id)"
                                   " SELECT u.id, r.id FROM u, roles r WHERE r.name = $3",
                                   email, hash, role),
                     0);
    arena_free(a);
    assert_int_equal(itest_login(p, st->s.slug, email, PASSWORD, &as->jar, as->csrf), 200);
}

/* Local "YYYY-MM-DDTHH:MM:SSZ" of day days ahead at hour in TZ. */
static char *slot(int days, int hour)
{
    char sql[300];
    snprintf(sql, sizeof(sql),
             "SELECT to_char((((now() AT TIME ZONE $1)::date + %d + time '%02d:00')"
             " AT TIME ZONE $1) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
             days, hour);
    return itest_pg_one(NULL, sql, TZ);
}

static char *room_of(struct studio *st)
{
    return itest_pg_one(st->s.db,
                        "INSERT INTO rooms (name, hourly_rate) VALUES ($1, 2000) RETURNING id",
                        "Room booked");
}

static struct itest_resp *public_booking(const struct studiod_proc *p, struct studio *st,
                                         const char *room, int days)
{
    char *a = slot(days, 14), *b = slot(days, 16);
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at", a,
                          "ends_at", b, "customer", "name", "Ada", "email", "ada@example.com");
    char *text = json_dumps(j, JSON_COMPACT);
    struct itest_resp *r = itest_request(p, "POST", st->s.host, "/api/public/booking",
                                         "application/json", text, NULL, NULL);
    free(text);
    json_decref(j);
    free(a);
    free(b);
    return r;
}

/* ---- tests: plans, checkout, portal -------------------------------------------------------- */

static void test_plans_list_prices_and_limits_with_null_for_unlimited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bplans", NULL, &st);
    struct itest_resp *r = call(&billsrv, &st, "GET", "/api/billing/plans", NULL);
    expect(r, 200, NULL);
    json_t *plans = json_object_get(r->json, "plans");
    assert_int_equal(json_array_size(plans), 3);
    json_t *starter = json_array_get(plans, 0), *plus = json_array_get(plans, 2);
    assert_string_equal(itest_json_str(starter, "id"), "starter");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(starter, "prices"), "monthly")), 1900);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(starter, "limits"), "rooms")), 2);
    assert_string_equal(itest_json_str(plus, "id"), "studio_plus");
    assert_true(json_is_null(json_object_get(json_object_get(plus, "limits"), "rooms")));
    assert_true(
        json_is_null(json_object_get(json_object_get(plus, "limits"), "bookings_per_month")));
    itest_resp_free(r);

    /* anonymous: 401; a viewer (no billing:view): 403 */
    r = itest_request(&billsrv, "GET", st.s.host, "/api/billing/plans", NULL, NULL, NULL, NULL);
    expect(r, 401, "unauthenticated");
    itest_resp_free(r);
    struct studio viewer;
    staff_with_role(&billsrv, &st, "viewer", &viewer);
    r = call(&billsrv, &viewer, "GET", "/api/billing/plans", NULL);
    expect(r, 403, "forbidden");
    itest_resp_free(r);
}

static void test_checkout_makes_the_customer_once_and_a_subscription_session(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bcheckout", NULL, &st);
    size_t customers_before = fake_count("POST", "/v1/customers");
    char session[128];
    checkout(&st, "starter", "monthly", session);
    assert_true(strncmp(session, "cs_test_", 8) == 0);

    json_t *cust = fake_last("POST", "/v1/customers");
    char key[128];
    snprintf(key, sizeof(key), "org-%s-customer", st.org_id);
    assert_string_equal(header(cust, "Idempotency-Key"), key);
    assert_string_equal(header(cust, "Authorization"), "Bearer sk_test_billing");
    assert_string_equal(form(cust, "email"), st.s.email);
    assert_string_equal(form(cust, "metadata[organization_id]"), st.org_id);
    json_decref(cust);

    json_t *cs = fake_last("POST", "/v1/checkout/sessions");
    assert_string_equal(form(cs, "mode"), "subscription");
    assert_string_equal(form(cs, "line_items[0][price]"), "price_starter_monthly");
    assert_string_equal(form(cs, "line_items[0][quantity]"), "1");
    assert_string_equal(form(cs, "client_reference_id"), st.org_id);
    assert_string_equal(form(cs, "metadata[organization_id]"), st.org_id);
    assert_string_equal(form(cs, "metadata[plan_id]"), "starter");
    assert_string_equal(form(cs, "metadata[billing_period]"), "monthly");
    assert_string_equal(form(cs, "subscription_data[metadata][organization_id]"), st.org_id);
    assert_string_equal(form(cs, "subscription_data[metadata][plan_id]"), "starter");
    assert_true(strncmp(form(cs, "customer"), "cus_test_", 9) == 0);
    assert_non_null(strstr(form(cs, "success_url"), "/app/billing?checkout=success"));
    assert_non_null(strstr(form(cs, "cancel_url"), "/app/billing?checkout=cancelled"));
    assert_true(strncmp(header(cs, "Idempotency-Key"), "org-", 4) == 0);
    char customer[64];
    snprintf(customer, sizeof(customer), "%s", form(cs, "customer"));
    json_decref(cs);
    itest_pg_expect(NULL, "SELECT stripe_customer_id FROM organizations WHERE id = $1", st.org_id,
                    customer);

    /* another checkout (yearly, by GET: 303 to Checkout) uses the same customer */
    struct itest_resp *r =
        call(&billsrv, &st, "GET", "/api/billing/create-checkout?plan_id=pro&billing_period=yearly",
             NULL);
    expect(r, 303, NULL);
    assert_true(strncmp(itest_header(r, "Location"), stripe.http.base, strlen(stripe.http.base)) ==
                0);
    itest_resp_free(r);
    cs = fake_last("POST", "/v1/checkout/sessions");
    assert_string_equal(form(cs, "customer"), customer);
    assert_string_equal(form(cs, "line_items[0][price]"), "price_pro_yearly");
    json_decref(cs);
    assert_int_equal(fake_count("POST", "/v1/customers"), customers_before + 1);
    assert_true(audit_count(&st, "checkout") == 2);

    /* bad plan or period: 422 naming the field; nothing sent */
    size_t sessions = fake_count("POST", "/v1/checkout/sessions");
    r = call(&billsrv, &st, "POST", "/api/billing/create-checkout",
             "{\"plan_id\":\"gold\",\"billing_period\":\"monthly\"}");
    expect(r, 422, "invalid_input");
    assert_non_null(
        json_object_get(json_object_get(json_object_get(r->json, "error"), "fields"), "plan_id"));
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/create-checkout",
             "{\"plan_id\":\"pro\",\"billing_period\":\"weekly\"}");
    expect(r, 422, "invalid_input");
    assert_non_null(json_object_get(json_object_get(json_object_get(r->json, "error"), "fields"),
                                    "billing_period"));
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/create-checkout", "[1");
    expect(r, 400, NULL);
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/checkout/sessions"), sessions);

    /* a manager (billing:view but not billing:manage) may look, not buy */
    struct studio manager;
    staff_with_role(&billsrv, &st, "manager", &manager);
    r = call(&billsrv, &manager, "POST", "/api/billing/create-checkout",
             "{\"plan_id\":\"pro\",\"billing_period\":\"monthly\"}");
    expect(r, 403, "forbidden");
    itest_resp_free(r);
    r = call(&billsrv, &manager, "GET", "/api/billing/subscription", NULL);
    expect(r, 200, NULL);
    itest_resp_free(r);
}

static void test_completed_checkout_activates_the_plan(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bactive", NULL, &st);
    struct itest_resp *r = call(&billsrv, &st, "GET", "/api/billing/subscription", NULL);
    expect(r, 200, NULL);
    assert_string_equal(itest_json_str(r->json, "status"), "trial");
    assert_string_equal(itest_json_str(r->json, "plan_id"), "pro");
    assert_true(json_is_null(json_object_get(r->json, "subscription")));
    assert_false(json_is_true(json_object_get(r->json, "read_only")));
    assert_non_null(json_string_value(json_object_get(r->json, "trial_ends_at")));
    itest_resp_free(r);

    char sub[128];
    subscribe(&st, "starter", "monthly", sub);
    itest_pg_expect(NULL, "SELECT status || ' ' || plan_id FROM organizations WHERE id = $1",
                    st.org_id, "active starter");
    itest_pg_expect(NULL,
                    "SELECT status || ' ' || plan_id || ' ' || billing_period FROM subscriptions"
                    " WHERE stripe_subscription_id = $1",
                    sub, "active starter monthly");
    r = call(&billsrv, &st, "GET", "/api/billing/subscription", NULL);
    expect(r, 200, NULL);
    assert_string_equal(itest_json_str(r->json, "status"), "active");
    json_t *s = json_object_get(r->json, "subscription");
    assert_string_equal(itest_json_str(s, "id"), sub);
    assert_string_equal(itest_json_str(s, "status"), "active");
    assert_non_null(json_string_value(json_object_get(s, "current_period_end")));
    itest_resp_free(r);

    /* subscribed: a second checkout is refused */
    r = call(&billsrv, &st, "POST", "/api/billing/create-checkout",
             "{\"plan_id\":\"pro\",\"billing_period\":\"monthly\"}");
    expect(r, 409, "already_subscribed");
    itest_resp_free(r);

    /* usage reports the starter limits */
    r = call(&billsrv, &st, "GET", "/api/billing/usage", NULL);
    expect(r, 200, NULL);
    json_t *limits = json_object_get(r->json, "limits");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(limits, "rooms"), "allowed")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(limits, "staff"), "used")),
                     1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(limits, "ai_credits"), "allowed")), 50);
    itest_resp_free(r);
}

static void test_portal_redirects_to_a_customer_portal_session(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bportal", NULL, &st);
    struct itest_resp *r = call(&billsrv, &st, "GET", "/api/billing/portal", NULL);
    expect(r, 409, "no_customer");
    itest_resp_free(r);
    char sub[128];
    subscribe(&st, "pro", "monthly", sub);
    r = call(&billsrv, &st, "GET", "/api/billing/portal", NULL);
    expect(r, 303, NULL);
    char location[256];
    snprintf(location, sizeof(location), "%s/p/session/", stripe.http.base);
    assert_true(strncmp(itest_header(r, "Location"), location, strlen(location)) == 0);
    itest_resp_free(r);
    json_t *sent = fake_last("POST", "/v1/billing_portal/sessions");
    char *cust =
        itest_pg_one(NULL, "SELECT stripe_customer_id FROM organizations WHERE id = $1", st.org_id);
    assert_string_equal(form(sent, "customer"), cust);
    assert_non_null(strstr(form(sent, "return_url"), "/app/billing"));
    free(cust);
    json_decref(sent);
}

/* ---- tests: changing the plan ---------------------------------------------------------------- */

static void test_upgrade_is_immediate_and_prorated(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bup", NULL, &st);
    struct itest_resp *r =
        call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 409, "no_subscription");
    itest_resp_free(r);

    char sub[128], path[200];
    subscribe(&st, "starter", "monthly", sub);
    snprintf(path, sizeof(path), "/v1/subscriptions/%s", sub);
    long before = (long)time(NULL);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 200, NULL);
    assert_string_equal(itest_json_str(r->json, "plan_id"), "pro");
    assert_string_equal(itest_json_str(json_object_get(r->json, "subscription"), "plan_id"), "pro");
    itest_resp_free(r);
    json_t *sent = fake_last("POST", path);
    assert_string_equal(form(sent, "items[0][price]"), "price_pro_monthly");
    assert_true(strncmp(form(sent, "items[0][id]"), "si_test_", 8) == 0);
    assert_string_equal(form(sent, "proration_behavior"), "always_invoice");
    assert_string_equal(form(sent, "payment_behavior"), "error_if_incomplete");
    assert_string_equal(form(sent, "metadata[plan_id]"), "pro");
    long pdate = atol(form(sent, "proration_date"));
    assert_true(pdate >= before && pdate <= (long)time(NULL));
    char prefix[200];
    snprintf(prefix, sizeof(prefix), "sub-%s-upgrade-price_pro_monthly-now-", sub);
    assert_true(strncmp(header(sent, "Idempotency-Key"), prefix, strlen(prefix)) == 0);
    json_decref(sent);
    itest_pg_expect(NULL, "SELECT plan_id FROM organizations WHERE id = $1", st.org_id, "pro");
    assert_true(audit_count(&st, "upgrade") == 1);
    char *after = itest_pg_one(st.s.db,
                               "SELECT after->>'plan_id' FROM audit_log WHERE resource = 'billing'"
                               " AND action = $1",
                               "upgrade");
    assert_string_equal(after, "pro");
    free(after);

    /* the same plan again, a lower one, an unknown one, a bad period */
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 409, "already_on_plan");
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"starter\"}");
    expect(r, 409, "wrong_direction");
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"platinum\"}");
    expect(r, 422, "invalid_input");
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade",
             "{\"plan_id\":\"studio_plus\",\"billing_period\":\"daily\"}");
    expect(r, 422, "invalid_input");
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade",
             "{\"plan_id\":\"studio_plus\",\"when\":\"period_end\"}");
    expect(r, 422, "invalid_input");
    itest_resp_free(r);
    /* monthly → yearly on the same plan is an upgrade */
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade",
             "{\"plan_id\":\"pro\",\"billing_period\":\"yearly\"}");
    expect(r, 200, NULL);
    itest_resp_free(r);
    sent = fake_last("POST", path);
    assert_string_equal(form(sent, "items[0][price]"), "price_pro_yearly");
    json_decref(sent);

    /* anonymous 401; a manager 403 */
    r = itest_request(&billsrv, "POST", st.s.host, "/api/billing/upgrade", "application/json",
                      "{\"plan_id\":\"studio_plus\"}", NULL, NULL);
    expect(r, 401, NULL);
    itest_resp_free(r);
    struct studio manager;
    staff_with_role(&billsrv, &st, "manager", &manager);
    r = call(&billsrv, &manager, "POST", "/api/billing/upgrade", "{\"plan_id\":\"studio_plus\"}");
    expect(r, 403, "forbidden");
    itest_resp_free(r);
}

static void test_downgrade_at_period_end_keeps_the_plan_until_the_period_rolls_over(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bdown", NULL, &st);
    char sub[128], path[200];
    subscribe(&st, "studio_plus", "monthly", sub);
    snprintf(path, sizeof(path), "/v1/subscriptions/%s", sub);
    struct itest_resp *r =
        call(&billsrv, &st, "POST", "/api/billing/downgrade", "{\"plan_id\":\"starter\"}");
    expect(r, 200, NULL);
    assert_string_equal(itest_json_str(r->json, "plan_id"), "studio_plus");
    assert_string_equal(
        itest_json_str(json_object_get(r->json, "subscription"), "scheduled_plan_id"), "starter");
    itest_resp_free(r);
    json_t *sent = fake_last("POST", path);
    assert_string_equal(form(sent, "items[0][price]"), "price_starter_monthly");
    assert_string_equal(form(sent, "proration_behavior"), "none");
    assert_null(json_object_get(json_object_get(sent, "form"), "proration_date"));
    json_decref(sent);
    assert_true(audit_count(&st, "downgrade") == 1);

    /* Stripe's update event for that change (same period): still studio_plus */
    long now = (long)time(NULL);
    assert_int_equal(sub_event(sub, "customer.subscription.updated", now + 5, false, NULL), 200);
    itest_pg_expect(NULL, "SELECT plan_id FROM organizations WHERE id = $1", st.org_id,
                    "studio_plus");
    /* the period rolls over: starter from now on */
    fake_control("advance", sub, NULL);
    assert_int_equal(sub_event(sub, "customer.subscription.updated", now + 10, false, NULL), 200);
    itest_pg_expect(NULL, "SELECT plan_id FROM organizations WHERE id = $1", st.org_id, "starter");
    itest_pg_expect(NULL,
                    "SELECT coalesce(scheduled_plan_id, 'none') FROM subscriptions"
                    " WHERE stripe_subscription_id = $1",
                    sub, "none");

    /* a bad "when"; a plan that is not lower */
    r = call(&billsrv, &st, "POST", "/api/billing/downgrade",
             "{\"plan_id\":\"starter\",\"when\":\"tomorrow\"}");
    expect(r, 422, "invalid_input");
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/downgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 409, "wrong_direction");
    itest_resp_free(r);
}

static void test_downgrade_now_credits_the_unused_time_and_applies_at_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bdownnow", NULL, &st);
    char sub[128], path[200];
    subscribe(&st, "pro", "yearly", sub);
    snprintf(path, sizeof(path), "/v1/subscriptions/%s", sub);
    struct itest_resp *r = call(&billsrv, &st, "POST", "/api/billing/downgrade",
                                "{\"plan_id\":\"starter\",\"when\":\"now\"}");
    expect(r, 200, NULL);
    assert_string_equal(itest_json_str(r->json, "plan_id"), "starter");
    itest_resp_free(r);
    json_t *sent = fake_last("POST", path);
    assert_string_equal(form(sent, "items[0][price]"), "price_starter_yearly");
    assert_string_equal(form(sent, "proration_behavior"), "create_prorations");
    assert_non_null(json_object_get(json_object_get(sent, "form"), "proration_date"));
    json_decref(sent);
    itest_pg_expect(NULL, "SELECT plan_id FROM organizations WHERE id = $1", st.org_id, "starter");
}

static void test_cancel_at_period_end_then_immediately(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bcancel", NULL, &st);
    struct itest_resp *r = call(&billsrv, &st, "POST", "/api/billing/cancel", NULL);
    expect(r, 409, "no_subscription");
    itest_resp_free(r);
    char sub[128], path[200];
    subscribe(&st, "pro", "monthly", sub);
    snprintf(path, sizeof(path), "/v1/subscriptions/%s", sub);
    r = call(&billsrv, &st, "POST", "/api/billing/cancel", NULL);
    expect(r, 200, NULL);
    assert_true(json_is_true(
        json_object_get(json_object_get(r->json, "subscription"), "cancel_at_period_end")));
    assert_string_equal(itest_json_str(r->json, "status"), "active");
    itest_resp_free(r);
    json_t *sent = fake_last("POST", path);
    assert_string_equal(form(sent, "cancel_at_period_end"), "true");
    json_decref(sent);

    r = call(&billsrv, &st, "POST", "/api/billing/cancel", "{\"immediately\":\"soon\"}");
    expect(r, 422, "invalid_input");
    itest_resp_free(r);
    /* the trial ended meanwhile: cancelling at once makes the studio read-only */
    assert_int_equal(
        itest_pg_exec(NULL,
                      "UPDATE organizations SET trial_ends_at = now() - interval '1 day'"
                      " WHERE id = $1",
                      st.org_id),
        0);
    r = call(&billsrv, &st, "POST", "/api/billing/cancel", "{\"immediately\":true}");
    expect(r, 200, NULL);
    assert_string_equal(itest_json_str(json_object_get(r->json, "subscription"), "status"),
                        "canceled");
    assert_string_equal(itest_json_str(r->json, "status"), "trial");
    assert_true(json_is_true(json_object_get(r->json, "read_only")));
    itest_resp_free(r);
    assert_int_equal(fake_count("DELETE", path), 1);
    assert_true(audit_count(&st, "cancel") == 2);
    r = call(&billsrv, &st, "POST", "/api/billing/cancel", "{\"immediately\":true}");
    expect(r, 409, "no_subscription");
    itest_resp_free(r);
    /* read-only now (this process forgot its cached studio) */
    r = call(&billsrv, &st, "POST", "/api/rooms", "{\"name\":\"Late room\",\"hourly_rate\":2000}");
    expect(r, 402, "subscription_required");
    itest_resp_free(r);
}

static void test_stripe_failures_are_clear_errors_and_change_nothing(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bfail", NULL, &st);
    /* checkout: Stripe down → 503, declined-like 402 → 502; no session recorded */
    fake_fail("/v1/checkout/sessions", 500, 1, 0);
    struct itest_resp *r = call(&billsrv, &st, "POST", "/api/billing/create-checkout",
                                "{\"plan_id\":\"pro\",\"billing_period\":\"monthly\"}");
    expect(r, 503, "payment_provider_unavailable");
    itest_resp_free(r);
    itest_pg_expect(NULL, "SELECT count(*)::text FROM subscriptions WHERE organization_id = $1",
                    st.org_id, "0");

    char sub[128], path[200];
    subscribe(&st, "starter", "monthly", sub);
    snprintf(path, sizeof(path), "/v1/subscriptions/%s", sub);
    long long audits = audit_count(&st, "upgrade");
    fake_fail(path, 402, 1, 0);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 502, "payment_declined");
    itest_resp_free(r);
    fake_fail(path, 500, 1, 0);
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 503, "payment_provider_unavailable");
    itest_resp_free(r);
    fake_fail(path, 400, 1, 0);
    r = call(&billsrv, &st, "POST", "/api/billing/downgrade",
             "{\"plan_id\":\"starter\",\"billing_period\":\"monthly\"}");
    expect(r, 409, "already_on_plan");
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/billing/cancel", NULL);
    expect(r, 502, "payment_provider_error");
    itest_resp_free(r);
    itest_pg_expect(
        NULL,
        "SELECT plan_id || ' ' || status || ' ' || cancel_at_period_end FROM subscriptions"
        " WHERE stripe_subscription_id = $1",
        sub, "starter active false");
    itest_pg_expect(NULL, "SELECT plan_id FROM organizations WHERE id = $1", st.org_id, "starter");
    assert_true(audit_count(&st, "upgrade") == audits);

    /* no answer within the client's timeout: 503, nothing changed */
    fake_fail(path, 500, 1, 17);
    r = call(&billsrv, &st, "POST", "/api/billing/cancel", "{\"immediately\":true}");
    expect(r, 503, "payment_provider_unavailable");
    itest_resp_free(r);
    itest_pg_expect(NULL, "SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", sub,
                    "active");
    /* and afterwards it works */
    r = call(&billsrv, &st, "POST", "/api/billing/upgrade", "{\"plan_id\":\"pro\"}");
    expect(r, 200, NULL);
    itest_resp_free(r);
}

static void test_without_a_stripe_key_billing_is_unavailable(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(srv, "bnokey", NULL, &st);
    struct itest_resp *r = call(srv, &st, "POST", "/api/billing/create-checkout",
                                "{\"plan_id\":\"pro\",\"billing_period\":\"monthly\"}");
    expect(r, 503, "billing_unavailable");
    itest_resp_free(r);
    r = call(srv, &st, "GET", "/api/billing/plans", NULL);
    expect(r, 200, NULL);
    itest_resp_free(r);
}

/* ---- tests: the webhook ------------------------------------------------------------------------
 */

static void test_webhook_checks_its_own_secret_and_the_body(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio(&billsrv, "bsig", NULL, &st);
    char sub[128], id[128];
    subscribe(&st, "starter", "monthly", sub);
    long now = (long)time(NULL);
    fake_control("set", sub, "&status=past_due");
    assert_int_equal(sub_event(sub, "customer.subscription.updated", now + 5, true, id), 0);

    /* the payments webhook's secret, or a wrong one: 400, nothing changes */
    char *body = NULL;
    assert_int_equal(resend(id, PAYMENTS_SECRET, &body), 400);
    assert_non_null(strstr(body, "bad_signature"));
    free(body);
    assert_int_equal(resend(id, "whsec_wrong", NULL), 400);
    itest_pg_expect(NULL, "SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", sub,
                    "active");

    /* a body changed after signing */
    long t = (long)time(NULL);
    const char *signed_body = "{\"id\":\"evt_x\",\"type\":\"invoice.paid\",\"created\":1,"
                              "\"data\":{\"object\":{}}}";
    char msg[512];
    snprintf(msg, sizeof(msg), "%ld.%s", t, signed_body);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state hs;
    crypto_auth_hmacsha256_init(&hs, (const unsigned char *)BILLING_SECRET, strlen(BILLING_SECRET));
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&hs, mac);
    char hex[2 * sizeof(mac) + 1], sig[256];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(sig, sizeof(sig), "Stripe-Signature: t=%ld,v1=%s", t, hex);
    const char *headers[] = {sig, NULL};
    struct itest_resp *r = itest_request(&billsrv, "POST", NULL, "/api/billing/webhooks/stripe",
                                         "application/json", signed_body, headers, NULL);
    expect(r, 200, NULL); /* as signed: fine (an event we ignore for want of a subscription) */
    itest_resp_free(r);
    char tampered[512];
    snprintf(tampered, sizeof(tampered), "%s", signed_body);
    tampered[strlen("{\"id\":\"evt_")] = 'y';
    r = itest_request(&billsrv, "POST", NULL, "/api/billing/webhooks/stripe", "application/json",
                      tampered, headers, NULL);
    expect(r, 400, "bad_signature");
    itest_resp_free(r);
    r = itest_request(&billsrv, "POST", NULL, "/api/billing/webhooks/stripe", "application/json",
                      "{}", NULL, NULL);
    expect(r, 400, "bad_signature");
    itest_resp_free(r);

    /* signed right: processed once; again: duplicate, still once */
    assert_int_equal(resend(id, BILLING_SECRET, &body), 200);
    assert_non_null(strstr(body, "processed"));
    free(body);
    itest_pg_expect(NULL, "SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", sub,
                    "past_due");
    assert_int_equal(resend(id, BILLING_SECRET, &body), 200);
    assert_non_null(strstr(body, "duplicate"));
    free(body);
    itest_pg_expect(NULL, "SELECT count(*)::text FROM stripe_events WHERE event_id = $1", id, "1");
    /* past_due is still paid: the studio stays active */
    itest_pg_expect(NULL, "SELECT status FROM organizations WHERE id = $1", st.org_id, "active");
}

/* Events E1 (active, starter), E2 (past_due), E3 (deleted) of one subscription, with
 * increasing "created", and invoice events; delivered in order to one studio and reversed
 * and repeated to another: both end alike. */
static void make_history(struct studio *st, char ids[6][128], char *sub)
{
    subscribe(st, "starter", "monthly", sub);
    long now = (long)time(NULL);
    sub_event(sub, "customer.subscription.updated", now + 100, true, ids[0]);
    sub_event(sub, "invoice.payment_failed", now + 150, true, ids[1]);
    fake_control("set", sub, "&status=past_due");
    sub_event(sub, "customer.subscription.updated", now + 200, true, ids[2]);
    sub_event(sub, "invoice.paid", now + 250, true, ids[3]);
    fake_control("set", sub, "&status=canceled");
    sub_event(sub, "customer.subscription.deleted", now + 300, true, ids[4]);
    sub_event(sub, "invoice.payment_failed", now + 50, true, ids[5]); /* an old retry */
}

static void test_reordered_and_repeated_deliveries_end_in_the_same_state(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    char ids_a[6][128], ids_b[6][128], sub_a[128], sub_b[128];
    open_studio(&billsrv, "border", NULL, &a);
    open_studio(&billsrv, "breverse", NULL, &b);
    make_history(&a, ids_a, sub_a);
    make_history(&b, ids_b, sub_b);
    for (int i = 0; i < 6; i++)
        assert_int_equal(resend(ids_a[i], BILLING_SECRET, NULL), 200);
    static const int reversed[] = {4, 3, 2, 1, 0, 5, 4, 0, 2, 3};
    for (size_t i = 0; i < sizeof(reversed) / sizeof(reversed[0]); i++)
        assert_int_equal(resend(ids_b[reversed[i]], BILLING_SECRET, NULL), 200);

    const char *q = "SELECT status || ' ' || plan_id || ' ' || latest_invoice_status"
                    "  FROM subscriptions WHERE stripe_subscription_id = $1";
    itest_pg_expect(NULL, q, sub_a, "canceled starter paid");
    itest_pg_expect(NULL, q, sub_b, "canceled starter paid");
    const char *o = "SELECT status || ' ' || plan_id FROM organizations WHERE id = $1";
    itest_pg_expect(NULL, o, a.org_id, "trial pro");
    itest_pg_expect(NULL, o, b.org_id, "trial pro");
}

static void test_an_event_cannot_move_a_subscription_to_another_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    open_studio(&billsrv, "bisoa", NULL, &a);
    open_studio(&billsrv, "bisob", NULL, &b);
    char sub[128];
    subscribe(&a, "studio_plus", "monthly", sub);
    /* an event naming b in the subscription's metadata */
    char t[256], body[1024];
    struct itest_resp *r = itest_request(&stripe.http, "GET", NULL, "/_fake/requests", NULL, NULL,
                                         NULL, NULL); /* (keeps the fake warm) */
    itest_resp_free(r);
    snprintf(body, sizeof(body),
             "{\"type\":\"customer.subscription.updated\",\"created\":%ld,\"data\":{\"object\":"
             "{\"id\":\"%s\",\"object\":\"subscription\",\"customer\":\"cus_other\","
             "\"status\":\"active\",\"items\":{\"data\":[{\"id\":\"si_x\",\"price\":{\"id\":"
             "\"price_studio_plus_monthly\"}}]},\"current_period_start\":1,"
             "\"current_period_end\":2,\"cancel_at_period_end\":false,\"canceled_at\":null,"
             "\"metadata\":{\"organization_id\":\"%s\"}}}}",
             (long)time(NULL) + 1000, sub, b.org_id);
    char path[400];
    snprintf(path, sizeof(path), "/_fake/event?%s", target(t, sizeof(t), BILLING_SECRET, false));
    r = fake_post(path, body);
    assert_int_equal(delivered(r), 200);
    itest_resp_free(r);
    itest_pg_expect(NULL,
                    "SELECT organization_id::text FROM subscriptions WHERE"
                    " stripe_subscription_id = $1",
                    sub, a.org_id);
    itest_pg_expect(NULL, "SELECT status || ' ' || plan_id FROM organizations WHERE id = $1",
                    b.org_id, "trial pro");
    /* and b's owner sees nothing of a's billing, nor can a's session act on b */
    r = call(&billsrv, &b, "GET", "/api/billing/subscription", NULL);
    expect(r, 200, NULL);
    assert_true(json_is_null(json_object_get(r->json, "subscription")));
    itest_resp_free(r);
    struct studio cross = a;
    snprintf(cross.s.host, sizeof(cross.s.host), "%s", b.s.host);
    r = call(&billsrv, &cross, "POST", "/api/billing/cancel", NULL);
    expect(r, 401, NULL);
    itest_resp_free(r);
    itest_pg_expect(NULL, "SELECT status FROM subscriptions WHERE stripe_subscription_id = $1", sub,
                    "active");
}

/* ---- tests: limits and read-only ------------------------------------------------------------- */

static void test_plan_limits_refuse_rooms_staff_and_bookings_past_the_plan(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    /* a plan of its own, with one booking a month */
    char plan[40];
    snprintf(plan, sizeof(plan), "tiny_%08x", (unsigned)randombytes_random());
    char prices[2][64];
    snprintf(prices[0], sizeof(prices[0]), "price_%s_m", plan);
    snprintf(prices[1], sizeof(prices[1]), "price_%s_y", plan);
    assert_int_equal(itest_pg_exec(NULL,
                                   "INSERT INTO plans (id, name, position, monthly_amount,"
                                   " yearly_amount, stripe_price_monthly, stripe_price_yearly,"
                                   " max_rooms, max_staff, max_bookings_per_month, active)"
                                   " VALUES ($1, 'Tiny', 0, 100, 1000, $2, $3, 1, 2, 1, false)",
                                   plan, prices[0], prices[1]),
                     0);
    struct studio st;
    open_studio(&billsrv, "blimits", plan, &st);

    /* rooms: one allowed */
    struct itest_resp *r =
        call(&billsrv, &st, "POST", "/api/rooms", "{\"name\":\"Room A\",\"hourly_rate\":2000}");
    expect(r, 201, NULL);
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/rooms", "{\"name\":\"Room B\",\"hourly_rate\":2000}");
    expect(r, 402, "plan_limit");
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    assert_string_equal(itest_json_str(fields, "limit"), "rooms");
    assert_int_equal(json_integer_value(json_object_get(fields, "allowed")), 1);
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM rooms WHERE name = $1", "Room B", "0");
    /* archiving frees the place; unarchiving past the limit is refused; a PUT of an active
     * room saying active is not */
    char *room_a = itest_pg_one(st.s.db, "SELECT id FROM rooms WHERE name = $1", "Room A");
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", room_a);
    r = call(&billsrv, &st, "PUT", path, "{\"active\":false}");
    expect(r, 200, NULL);
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/rooms", "{\"name\":\"Room B\",\"hourly_rate\":2000}");
    expect(r, 201, NULL);
    itest_resp_free(r);
    r = call(&billsrv, &st, "PUT", path, "{\"active\":true}");
    expect(r, 402, "plan_limit");
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT active::text FROM rooms WHERE id = $1", room_a, "false");
    free(room_a);
    char *room = itest_pg_one(st.s.db, "SELECT id FROM rooms WHERE name = $1", "Room B");
    snprintf(path, sizeof(path), "/api/rooms/%s", room);
    r = call(&billsrv, &st, "PUT", path, "{\"active\":true}");
    expect(r, 200, NULL);
    itest_resp_free(r);

    /* staff: two seats (the owner and one more) */
    r = call(&billsrv, &st, "POST", "/api/staff",
             "{\"name\":\"Bea\",\"email\":\"bea@example.com\"}");
    expect(r, 201, NULL);
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/staff", "{\"name\":\"Cy\",\"email\":\"cy@example.com\"}");
    expect(r, 402, "plan_limit");
    assert_string_equal(
        itest_json_str(json_object_get(json_object_get(r->json, "error"), "fields"), "limit"),
        "staff");
    itest_resp_free(r);
    /* a deactivated member frees the seat; reactivating past the limit is refused */
    char *bea = itest_pg_one(st.s.db, "SELECT id FROM users WHERE email = $1", "bea@example.com");
    snprintf(path, sizeof(path), "/api/staff/%s", bea);
    r = call(&billsrv, &st, "PUT", path, "{\"active\":false}");
    expect(r, 200, NULL);
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/staff", "{\"name\":\"Cy\",\"email\":\"cy@example.com\"}");
    expect(r, 201, NULL);
    itest_resp_free(r);
    r = call(&billsrv, &st, "PUT", path, "{\"active\":true}");
    expect(r, 402, "plan_limit");
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT active::text FROM users WHERE id = $1", bea, "false");
    free(bea);

    /* bookings: one this month, public or staff */
    r = public_booking(&billsrv, &st, room, 3);
    expect(r, 201, NULL);
    itest_resp_free(r);
    r = public_booking(&billsrv, &st, room, 4);
    expect(r, 402, "plan_limit");
    assert_string_equal(
        itest_json_str(json_object_get(json_object_get(r->json, "error"), "fields"), "limit"),
        "bookings_per_month");
    itest_resp_free(r);
    char *a = slot(5, 14), *b = slot(5, 16);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"room_id\":\"%s\",\"starts_at\":\"%s\",\"ends_at\":\"%s\",\"customer\":"
             "{\"name\":\"Bo\",\"email\":\"bo@example.com\"}}",
             room, a, b);
    r = call(&billsrv, &st, "POST", "/api/bookings", body);
    expect(r, 402, "plan_limit");
    itest_resp_free(r);
    free(a);
    free(b);
    free(room);

    /* usage says so */
    r = call(&billsrv, &st, "GET", "/api/billing/usage", NULL);
    expect(r, 200, NULL);
    json_t *l = json_object_get(r->json, "limits");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(l, "bookings_per_month"), "used")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "rooms"), "used")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "staff"), "used")), 2);
    itest_resp_free(r);

    /* an unlimited plan (studio_plus): no limit */
    struct studio big;
    open_studio(&billsrv, "bbig", "studio_plus", &big);
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "{\"name\":\"Room %d\",\"hourly_rate\":2000}", i);
        r = call(&billsrv, &big, "POST", "/api/rooms", name);
        expect(r, 201, NULL);
        itest_resp_free(r);
    }
}

static void
test_after_the_trial_the_back_office_is_read_only_until_the_studio_subscribes(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    itest_name_studio("bexpired", &st.s);
    memset(&st.jar, 0, sizeof(st.jar));
    assert_int_equal(itest_signup_studio(&billsrv, &st.s, PASSWORD), 201);
    char *id = itest_pg_one(NULL, "SELECT id FROM organizations WHERE slug = $1", st.s.slug);
    snprintf(st.org_id, sizeof(st.org_id), "%s", id);
    free(id);
    char *room = room_of(&st);
    assert_int_equal(
        itest_pg_exec(NULL,
                      "UPDATE organizations SET trial_ends_at = now() - interval '1 hour'"
                      " WHERE id = $1",
                      st.org_id),
        0);
    assert_int_equal(itest_login(&billsrv, st.s.slug, st.s.email, PASSWORD, &st.jar, st.csrf), 200);

    /* wait out the tenant cache, whatever cached the studio before the change */
    struct itest_resp *r = NULL;
    double until = itest_now_ms() + CACHE_WAIT_MS;
    for (;;) {
        r = call(&billsrv, &st, "DELETE", "/api/rooms/00000000-0000-4000-8000-000000000000", NULL);
        if (r->status == 402 || itest_now_ms() > until)
            break;
        itest_resp_free(r);
        itest_pause_ms(200);
    }
    expect(r, 402, "subscription_required");
    assert_non_null(strstr(r->body, "/app/billing"));
    itest_resp_free(r);
    /* reads still work; nothing was deleted */
    r = call(&billsrv, &st, "GET", "/api/rooms", NULL);
    expect(r, 200, NULL);
    assert_non_null(strstr(r->body, "Room booked"));
    itest_resp_free(r);
    r = call(&billsrv, &st, "POST", "/api/rooms",
             "{\"name\":\"After trial\",\"hourly_rate\":2000}");
    expect(r, 402, "subscription_required");
    itest_resp_free(r);
    /* the back office shows the banner; the public page says booking is paused */
    const char *html[] = {"Accept: text/html", NULL};
    r = itest_request(&billsrv, "GET", st.s.host, "/app/billing", NULL, NULL, html, &st.jar);
    expect(r, 200, NULL);
    assert_non_null(strstr(r->body, "read-only-banner"));
    itest_resp_free(r);
    r = itest_request(&billsrv, "GET", st.s.host, "/", NULL, NULL, html, NULL);
    expect(r, 200, NULL);
    assert_non_null(strstr(r->body, "Online booking is paused"));
    itest_resp_free(r);
    r = public_booking(&billsrv, &st, room, 3);
    expect(r, 402, "booking_paused");
    itest_resp_free(r);
    r = call(&billsrv, &st, "GET", "/api/billing/subscription", NULL);
    expect(r, 200, NULL);
    assert_true(json_is_true(json_object_get(r->json, "read_only")));
    itest_resp_free(r);

    /* billing still works: subscribing lifts it at once */
    char sub[128];
    subscribe(&st, "pro", "monthly", sub);
    r = call(&billsrv, &st, "POST", "/api/rooms",
             "{\"name\":\"After trial\",\"hourly_rate\":2000}");
    expect(r, 201, NULL);
    itest_resp_free(r);
    r = public_booking(&billsrv, &st, room, 3);
    expect(r, 201, NULL);
    itest_resp_free(r);
    free(room);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans_list_prices_and_limits_with_null_for_unlimited),
        cmocka_unit_test(test_checkout_makes_the_customer_once_and_a_subscription_session),
        cmocka_unit_test(test_completed_checkout_activates_the_plan),
        cmocka_unit_test(test_portal_redirects_to_a_customer_portal_session),
        cmocka_unit_test(test_upgrade_is_immediate_and_prorated),
        cmocka_unit_test(test_downgrade_at_period_end_keeps_the_plan_until_the_period_rolls_over),
        cmocka_unit_test(test_downgrade_now_credits_the_unused_time_and_applies_at_once),
        cmocka_unit_test(test_cancel_at_period_end_then_immediately),
        cmocka_unit_test(test_stripe_failures_are_clear_errors_and_change_nothing),
        cmocka_unit_test(test_without_a_stripe_key_billing_is_unavailable),
        cmocka_unit_test(test_webhook_checks_its_own_secret_and_the_body),
        cmocka_unit_test(test_reordered_and_repeated_deliveries_end_in_the_same_state),
        cmocka_unit_test(test_an_event_cannot_move_a_subscription_to_another_studio),
        cmocka_unit_test(test_plan_limits_refuse_rooms_staff_and_bookings_past_the_plan),
        cmocka_unit_test(
            test_after_the_trial_the_back_office_is_read_only_until_the_studio_subscribes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
