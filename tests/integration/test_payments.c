/*
 * test_payments.c — the money of a studio's bookings through Stripe, against
 * tests/fakes/stripe_fake.py (a Stripe stand-in started here, with
 * stripe_fake_connect.py) and a studiod of its own whose STRIPE_API_BASE
 * points at the fake.
 *
 * The specification:
 *   - Connect: POST /api/payments/connect makes one Express account per
 *     studio (the exact form Stripe expects, an idempotency key from the
 *     organization) and answers an onboarding link back to /app/payments;
 *     account.updated (a Connect event, routed by its "account") records the
 *     flags, an older event never overwrites a newer one, and an event for
 *     one studio's account changes no other studio. GET /api/payments/status
 *     shows it; payments:manage / payments:view are required (401, 403).
 *   - Deposits: create-payment makes a Checkout Session on the studio's
 *     account (Stripe-Account) with the plan's application fee rounded
 *     half-even; without a connected account with charges enabled, or
 *     without a Stripe key, it is 422 payments_unavailable. The signed
 *     checkout.session.completed marks the booking paid and confirms it and
 *     mails "payment received"; a replayed event changes nothing; a badly
 *     signed or tampered one is 400.
 *   - Webhook events (session expired, payment failed, charge refunded,
 *     dispute created) delivered in reverse order and twice end in the state
 *     of an in-order delivery.
 *   - A payment for an expired hold re-confirms the booking when the slot is
 *     free, and is refunded automatically (its own idempotency key) when the
 *     slot is gone; the customer is mailed either way.
 *   - Cancelling a paid booking refunds what the policy gives (public) or
 *     what staff set (at most what was paid, else 422), with an idempotency
 *     key derived from the booking; the refund shows on the booking. When
 *     Stripe fails (500, timeout) the cancel stands, the refund stays
 *     pending and the retry job sends it with the same key; a refusal (402)
 *     marks it failed; create-payment and connect answer 502/503 and record
 *     nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
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
#define WEBHOOK_SECRET "whsec_test"
#define MAIL_WAIT_MS 20000
#define JOB_WAIT_MS 20000

static struct studiod_proc *const srv = &itest_server;

/* The stand-in (itest_stripe.h) and the studiod that talks to it, shared by the tests. */
static struct itest_stripe stripe;
static struct studiod_proc fake;   /* stripe.http: where the requests to the stand-in go */
static struct studiod_proc paysrv; /* pid 0 when not started */

static int group_setup(void **state)
{
    if (itest_suite_setup(state) != 0)
        return -1;
    if (itest_missing_env)
        return 0;
    if (itest_stripe_start(&stripe, NULL) != 0)
        return -1;
    fake = stripe.http;
    char base[96];
    itest_stripe_env(&stripe, base);
    const char *env[] = {base, "STRIPE_SECRET_KEY=sk_test_x",
                         "STRIPE_WEBHOOK_SECRET=" WEBHOOK_SECRET, "STUDIOD_JOB_POLL_MS=100", NULL};
    return itest_start(&paysrv, env);
}

static int group_teardown(void **state)
{
    int rc = 0;
    if (paysrv.pid && itest_stop(&paysrv) != 0)
        rc = -1;
    itest_stripe_stop(&stripe);
    if (itest_suite_teardown(state) != 0)
        rc = -1;
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void sql(const char *db, const char *stmt, const char *arg)
{
    assert_int_equal(itest_pg_exec(db, stmt, arg), 0);
}

/* Fails unless the first value of stmt(arg) is expect. */
/* A studio on p, its owner signed in (jar, csrf). */
struct studio {
    struct itest_studio s;
    struct itest_cookies jar;
    char csrf[128];
    char org_id[40];
    char room[64];
    char account[64]; /* "" until connected */
};

/* A studio with a room at rate/h and a 50% deposit, auto-confirming. */
static void studio_make(const struct studiod_proc *p, const char *prefix, const char *rate,
                        struct studio *st)
{
    memset(st, 0, sizeof(*st));
    itest_name_studio(prefix, &st->s);
    assert_int_equal(itest_signup_studio(p, &st->s, PASSWORD), 201);
    assert_int_equal(itest_login(p, st->s.slug, st->s.email, PASSWORD, &st->jar, st->csrf), 200);
    assert_int_equal(itest_pg_exec(st->s.db, "UPDATE studio_settings SET deposit_type = 'percent',"
                                             " deposit_value = 50, auto_confirm = true"),
                     0);
    char *id = itest_pg_value(st->s.db,
                              "INSERT INTO rooms (name, hourly_rate) VALUES ('A', $1::bigint)"
                              " RETURNING id",
                              rate);
    assert_non_null(id);
    snprintf(st->room, sizeof(st->room), "%s", id);
    free(id);
    char *org = itest_pg_one(NULL, "SELECT id FROM organizations WHERE slug = $1", st->s.slug);
    snprintf(st->org_id, sizeof(st->org_id), "%s", org);
    free(org);
}

/* A staff request on the studio's host with the owner's session and CSRF token. */
static struct itest_resp *staff(const struct studiod_proc *p, struct studio *st, const char *method,
                                const char *path, const char *body)
{
    char h[200];
    snprintf(h, sizeof(h), "X-CSRF-Token: %s", st->csrf);
    const char *headers[] = {h, NULL};
    return itest_request(p, method, st->s.host, path, body ? "application/json" : NULL, body,
                         headers, &st->jar);
}

/* Every request the fake recorded to path (POST or GET as method), as a new array. */
static json_t *fake_requests(const char *method, const char *path)
{
    struct itest_resp *r =
        itest_request(&fake, "GET", NULL, "/_fake/requests", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    json_t *out = json_array(), *req;
    size_t i;
    json_array_foreach(json_object_get(r->json, "requests"), i, req)
    {
        if (strcmp(itest_json_str(req, "path"), path) == 0 &&
            strcmp(itest_json_str(req, "method"), method) == 0)
            json_array_append(out, req);
    }
    itest_resp_free(r);
    return out;
}

static size_t fake_count(const char *method, const char *path)
{
    json_t *all = fake_requests(method, path);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

/* The last POST the fake recorded to path (json_decref it), or NULL. */
static json_t *fake_last(const char *path)
{
    json_t *all = fake_requests("POST", path);
    json_t *last = json_array_get(all, json_array_size(all) - 1);
    json_incref(last);
    json_decref(all);
    return last;
}

static void fake_post(const char *path, const char *body)
{
    struct itest_resp *r =
        itest_request(&fake, "POST", NULL, path, "application/json", body, NULL, NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
}

static char *target_query(char *out, size_t n, const char *secret)
{
    snprintf(out, n, "target=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fapi%%2Fstripe%%2Fwebhook&secret=%s",
             paysrv.port, secret);
    return out;
}

/* Asks the fake to deliver an event (complete: a session id; resend: an event id) to
 * paysrv's webhook, signed with secret; the fake's reply (itest_resp_free it). */
static struct itest_resp *fake_send(const char *action, const char *what, const char *id,
                                    const char *secret)
{
    char path[512], q[256];
    snprintf(path, sizeof(path), "/_fake/%s?%s=%s&%s", action, what, id,
             target_query(q, sizeof(q), secret));
    struct itest_resp *r = itest_request(&fake, "POST", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    return r;
}

/* Delivers a made-up event (JSON: type, data.object, account?, id?, created?) signed with
 * WEBHOOK_SECRET; fails unless studiod answered 200. The event id into id_out (≥ 64). */
static void fake_event(const char *event_json, char *id_out)
{
    char path[512], q[256];
    snprintf(path, sizeof(path), "/_fake/event?%s", target_query(q, sizeof(q), WEBHOOK_SECRET));
    struct itest_resp *r =
        itest_request(&fake, "POST", NULL, path, "application/json", event_json, NULL, NULL);
    assert_int_equal(r->status, 200);
    long st = (long)json_integer_value(json_object_get(r->json, "delivered_status"));
    if (st != 200)
        fail_msg("event %s: %ld %s", event_json, st, r->body);
    if (id_out)
        snprintf(id_out, 64, "%s", itest_json_str(r->json, "event_id"));
    itest_resp_free(r);
}

static void resend(const char *event_id, const char *expect_result)
{
    struct itest_resp *r = fake_send("resend", "event", event_id, WEBHOOK_SECRET);
    assert_int_equal(json_integer_value(json_object_get(r->json, "delivered_status")), 200);
    if (expect_result)
        assert_non_null(strstr(itest_json_str(r->json, "delivered_body"), expect_result));
    itest_resp_free(r);
}

static long delivered(const struct itest_resp *r)
{
    return (long)json_integer_value(json_object_get(r->json, "delivered_status"));
}

/* Connects st's Stripe account and, with enable, has Stripe report charges enabled
 * (account.updated, created now). */
static void connect_studio(const struct studiod_proc *p, struct studio *st, bool enable)
{
    struct itest_resp *r = staff(p, st, "POST", "/api/payments/connect", NULL);
    if (r->status != 200)
        fail_msg("connect: %ld %s", r->status, r->body);
    snprintf(st->account, sizeof(st->account), "%s", itest_json_str(r->json, "account_id"));
    itest_resp_free(r);
    if (!enable)
        return;
    char ev[512];
    snprintf(ev, sizeof(ev),
             "{\"type\": \"account.updated\", \"account\": \"%s\", \"data\": {\"object\":"
             " {\"id\": \"%s\", \"object\": \"account\", \"charges_enabled\": true,"
             " \"payouts_enabled\": true, \"details_submitted\": true}}}",
             st->account, st->account);
    fake_event(ev, NULL);
    itest_pg_expect(NULL, "SELECT charges_enabled::text FROM organizations WHERE slug = $1",
                    st->s.slug, "true");
}

/* A public booking of 2 hours `day` days ahead at 14:00 for email (201); ref and token into
 * ref/token (128). */
static void book(const struct studiod_proc *p, const struct studio *st, int day, const char *email,
                 char *ref, char *token)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", day);
    char *starts = itest_pg_value(NULL,
                                  "SELECT to_char((((now() AT TIME ZONE $1)::date + $2::int"
                                  " + time '14:00') AT TIME ZONE $1) AT TIME ZONE 'UTC',"
                                  " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                  TZ, days);
    char *ends = itest_pg_value(NULL,
                                "SELECT to_char((((now() AT TIME ZONE $1)::date + $2::int"
                                " + time '16:00') AT TIME ZONE $1) AT TIME ZONE 'UTC',"
                                " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                TZ, days);
    json_t *b = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", st->room, "starts_at", starts,
                          "ends_at", ends, "customer", "name", "Ada Lovelace", "email", email);
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    struct itest_resp *r = itest_request(p, "POST", st->s.host, "/api/public/booking",
                                         "application/json", text, NULL, NULL);
    free(text);
    free(starts);
    free(ends);
    if (r->status != 201)
        fail_msg("booking: %ld %s", r->status, r->body);
    assert_string_equal(itest_json_str(r->json, "status"), "pending");
    snprintf(ref, 128, "%s", itest_json_str(r->json, "ref"));
    snprintf(token, 128, "%s", itest_json_str(r->json, "manage_token"));
    itest_resp_free(r);
}

static struct itest_resp *public_call(const struct studiod_proc *p, const struct studio *st,
                                      const char *method, const char *ref, const char *what,
                                      const char *token)
{
    char path[256], header[200];
    snprintf(path, sizeof(path), "/api/public/booking/%s%s", ref, what);
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *headers[] = {header, NULL};
    return itest_request(p, method, st->s.host, path, NULL, NULL, headers, NULL);
}

static struct itest_resp *create_payment(const struct studiod_proc *p, const struct studio *st,
                                         const char *ref, const char *token)
{
    return public_call(p, st, "POST", ref, "/create-payment", token);
}

/* A unique customer address, so each test finds its own mails. */
static void customer_email(const char *tag, char *out)
{
    char slug[64];
    itest_unique_slug(tag, slug);
    snprintf(out, 128, "%s@example.com", slug);
}

/* Books, pays through Checkout and the signed event: a confirmed booking with its deposit
 * paid. The booking id into bid (64), the session into session (128). */
static void book_and_pay(struct studio *st, int day, const char *email, char *ref, char *token,
                         char *bid, char *session)
{
    book(&paysrv, st, day, email, ref, token);
    struct itest_resp *r = create_payment(&paysrv, st, ref, token);
    if (r->status != 200)
        fail_msg("create-payment: %ld %s", r->status, r->body);
    snprintf(session, 128, "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    r = fake_send("complete", "session", session, WEBHOOK_SECRET);
    if (delivered(r) != 200)
        fail_msg("webhook: %s", r->body);
    itest_resp_free(r);
    char *id = itest_pg_one(st->s.db, "SELECT id FROM bookings WHERE ref = $1", ref);
    snprintf(bid, 64, "%s", id);
    free(id);
    itest_pg_expect(st->s.db, "SELECT status || ' ' || paid_amount FROM bookings WHERE id = $1",
                    bid, "confirmed 2000");
}

/* Waits for a mail to `to` whose decoded text contains needle. */
static bool wait_mail_with(const char *to, const char *needle, int timeout_ms)
{
    const char *maildir = getenv("STUDIOD_TEST_MAILDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/new", maildir ? maildir : ".");
    double deadline = itest_now_ms() + timeout_ms;
    while (itest_now_ms() <= deadline) {
        DIR *d = opendir(dir);
        struct dirent *e;
        bool found = false;
        while (d && !found && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            char *raw = calloc(1, 1 << 20);
            size_t n = fread(raw, 1, (1 << 20) - 1, f);
            raw[n] = '\0';
            fclose(f);
            if (strstr(raw, to)) {
                char *text = itest_mail_text(raw);
                found = strstr(text, needle) != NULL;
                free(text);
            }
            free(raw);
        }
        if (d)
            closedir(d);
        if (found)
            return true;
        itest_pause_ms(100);
    }
    return false;
}

/* ---- Connect ------------------------------------------------------------------------------ */

static void test_connect_makes_one_express_account_and_an_onboarding_link(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "conn", "2000", &st);
    size_t accounts_before = fake_count("POST", "/v1/accounts");

    struct itest_resp *r =
        staff(&paysrv, &st, "POST", "/api/payments/connect", "{\"country\": \"fr\"}");
    if (r->status != 200)
        fail_msg("connect: %ld %s", r->status, r->body);
    char account[64], url[256];
    snprintf(account, sizeof(account), "%s", itest_json_str(r->json, "account_id"));
    snprintf(url, sizeof(url), "%s", itest_json_str(r->json, "url"));
    assert_true(json_is_true(json_object_get(r->json, "created")));
    itest_resp_free(r);
    assert_true(strncmp(account, "acct_", 5) == 0);
    assert_true(strncmp(url, fake.base, strlen(fake.base)) == 0);

    /* the account as Stripe expects it */
    json_t *sent = fake_last("/v1/accounts");
    json_t *h = json_object_get(sent, "headers"), *form = json_object_get(sent, "form");
    assert_string_equal(itest_json_str(h, "Authorization"), "Bearer sk_test_x");
    char key[128];
    snprintf(key, sizeof(key), "org-%s-connect-account", st.org_id);
    assert_string_equal(itest_json_str(h, "Idempotency-Key"), key);
    assert_null(json_object_get(h, "Stripe-Account"));
    assert_string_equal(itest_json_str(form, "type"), "express");
    assert_string_equal(itest_json_str(form, "country"), "FR");
    assert_string_equal(itest_json_str(form, "email"), st.s.email);
    assert_string_equal(itest_json_str(form, "capabilities[card_payments][requested]"), "true");
    assert_string_equal(itest_json_str(form, "capabilities[transfers][requested]"), "true");
    assert_string_equal(itest_json_str(form, "metadata[tenant]"), st.s.slug);
    assert_string_equal(itest_json_str(form, "metadata[organization_id]"), st.org_id);
    json_decref(sent);
    sent = fake_last("/v1/account_links");
    form = json_object_get(sent, "form");
    assert_string_equal(itest_json_str(form, "account"), account);
    assert_string_equal(itest_json_str(form, "type"), "account_onboarding");
    char back[256];
    snprintf(back, sizeof(back), "%s/app/payments?onboarding=", st.s.url);
    assert_true(strncmp(itest_json_str(form, "return_url"), back, strlen(back)) == 0);
    assert_true(strncmp(itest_json_str(form, "refresh_url"), back, strlen(back)) == 0);
    assert_non_null(itest_json_str(json_object_get(sent, "headers"), "Idempotency-Key"));
    json_decref(sent);
    itest_pg_expect(NULL, "SELECT stripe_account_id FROM organizations WHERE slug = $1", st.s.slug,
                    account);
    itest_pg_expect(st.s.db,
                    "SELECT count(*)::text FROM audit_log WHERE resource = 'payments'"
                    " AND action = 'connect' AND resource_id = $1",
                    account, "1");

    /* again: the same account, a new link, no second account */
    r = staff(&paysrv, &st, "POST", "/api/payments/connect", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "account_id"), account);
    assert_true(json_is_false(json_object_get(r->json, "created")));
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/accounts"), accounts_before + 1);

    /* the status: connected, charges not enabled yet, the plan's fee */
    r = staff(&paysrv, &st, "GET", "/api/payments/status", NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "configured")));
    assert_true(json_is_true(json_object_get(r->json, "connected")));
    assert_string_equal(itest_json_str(r->json, "account_id"), account);
    assert_true(json_is_false(json_object_get(r->json, "charges_enabled")));
    assert_true(json_is_false(json_object_get(r->json, "can_take_payments")));
    json_t *plan = json_object_get(r->json, "plan");
    assert_string_equal(itest_json_str(plan, "id"), "pro");
    assert_int_equal(itest_json_int(plan, "application_fee_bps"), 100);
    itest_resp_free(r);

    /* bad input */
    r = staff(&paysrv, &st, "POST", "/api/payments/connect", "{\"country\": \"France\"}");
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "invalid_input");
    assert_non_null(
        json_object_get(json_object_get(json_object_get(r->json, "error"), "fields"), "country"));
    itest_resp_free(r);
    r = staff(&paysrv, &st, "POST", "/api/payments/connect", "{\"country\": 7}");
    assert_int_equal(r->status, 422);
    itest_resp_free(r);
    r = staff(&paysrv, &st, "POST", "/api/payments/connect", "{not json");
    assert_int_equal(r->status, 400);
    itest_resp_free(r);
}

static void test_status_refresh_reads_the_account_from_stripe(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "connref", "2000", &st);
    connect_studio(&paysrv, &st, false);
    char path[256];
    snprintf(path, sizeof(path), "/_fake/account?id=%s&charges_enabled=true&payouts_enabled=true",
             st.account);
    struct itest_resp *r = itest_request(&fake, "GET", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    r = staff(&paysrv, &st, "GET", "/api/payments/status?refresh=1", NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "charges_enabled")));
    assert_true(json_is_true(json_object_get(r->json, "payouts_enabled")));
    assert_true(json_is_true(json_object_get(r->json, "can_take_payments")));
    itest_resp_free(r);
    char account_path[128];
    snprintf(account_path, sizeof(account_path), "/v1/accounts/%s", st.account);
    assert_int_equal(fake_count("GET", account_path), 1);
}

static void test_account_updated_applies_newest_first_and_only_to_its_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    studio_make(&paysrv, "acca", "2000", &a);
    studio_make(&paysrv, "accb", "2000", &b);
    connect_studio(&paysrv, &a, false);
    connect_studio(&paysrv, &b, false);
    long long now = (long long)time(NULL);
    char ev[768], newer[64], older[64];
    /* the newer state first, then an older one delivered late */
    snprintf(ev, sizeof(ev),
             "{\"type\": \"account.updated\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"%s\", \"object\": \"account\","
             " \"charges_enabled\": true, \"payouts_enabled\": false,"
             " \"details_submitted\": true}}}",
             a.account, now, a.account);
    fake_event(ev, newer);
    snprintf(ev, sizeof(ev),
             "{\"type\": \"account.updated\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"%s\", \"object\": \"account\","
             " \"charges_enabled\": false, \"payouts_enabled\": false,"
             " \"details_submitted\": false}}}",
             a.account, now - 60, a.account);
    fake_event(ev, older);
    resend(newer, "duplicate");
    resend(older, "duplicate");
    itest_pg_expect(NULL,
                    "SELECT charges_enabled || ' ' || payouts_enabled || ' ' || details_submitted"
                    " FROM organizations WHERE slug = $1",
                    a.s.slug, "true false true");
    /* B is untouched by A's events */
    itest_pg_expect(NULL,
                    "SELECT charges_enabled || ' ' || details_submitted || ' ' ||"
                    " (account_updated_at IS NULL) FROM organizations WHERE slug = $1",
                    b.s.slug, "false false true");
    /* B's owner sees B's standing; A's session is not B's */
    struct itest_resp *r = staff(&paysrv, &b, "GET", "/api/payments/status", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "account_id"), b.account);
    assert_true(json_is_false(json_object_get(r->json, "charges_enabled")));
    itest_resp_free(r);
    r = itest_request(&paysrv, "GET", b.s.host, "/api/payments/status", NULL, NULL, NULL, &a.jar);
    assert_int_equal(r->status, 401);
    itest_resp_free(r);
    /* an event for an account nobody has: answered, changes nothing */
    fake_event("{\"type\": \"account.updated\", \"account\": \"acct_nobody\", \"data\":"
               " {\"object\": {\"id\": \"acct_nobody\", \"charges_enabled\": true}}}",
               NULL);
    /* an account.updated whose object is another studio's account: ignored */
    snprintf(ev, sizeof(ev),
             "{\"type\": \"account.updated\", \"account\": \"%s\", \"data\": {\"object\":"
             " {\"id\": \"%s\", \"charges_enabled\": true}}}",
             a.account, b.account);
    fake_event(ev, NULL);
    itest_pg_expect(NULL, "SELECT charges_enabled::text FROM organizations WHERE slug = $1",
                    b.s.slug, "false");
}

struct connector {
    struct studio *st;
    long status;
    char account[64];
};

static void *race_connect(void *arg)
{
    struct connector *c = arg;
    struct itest_resp *r = staff(&paysrv, c->st, "POST", "/api/payments/connect", NULL);
    c->status = r->status;
    const char *acct = json_string_value(json_object_get(r->json, "account_id"));
    snprintf(c->account, sizeof(c->account), "%s", acct ? acct : "");
    itest_resp_free(r);
    return NULL;
}

static void test_connects_racing_each_other_make_one_account(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "connrace", "2000", &st);
    enum { RACERS = 4 };
    struct connector cs[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        cs[i] = (struct connector){.st = &st};
        assert_int_equal(pthread_create(&threads[i], NULL, race_connect, &cs[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(cs[i].status, 200);
        assert_string_equal(cs[i].account, cs[0].account);
    }
    itest_pg_expect(NULL, "SELECT stripe_account_id FROM organizations WHERE slug = $1", st.s.slug,
                    cs[0].account);
    itest_pg_expect(st.s.db,
                    "SELECT count(*)::text FROM audit_log WHERE resource = 'payments'"
                    " AND action = 'connect'",
                    NULL, "1");
}

/* A staff user of st holding only role, signed in (jar, csrf). */
static void staff_with_role(const struct studiod_proc *p, const struct studio *st, const char *role,
                            struct itest_cookies *jar, char *csrf)
{
    struct arena *ar = arena_new(1024);
    const char *hash = crypto_password_hash(ar, PASSWORD);
    assert_non_null(hash);
    char email[160];
    snprintf(email, sizeof(email), "%s-%c@example.com", st->s.slug, role[0]);
    int rc = itest_pg_exec(st->s.db,
                           "WITH u AS (INSERT INTO users (email, name, password_hash)"
                           "           VALUES ($1, 'Desk', $2) RETURNING id)"
                           " INSERT INTO user_roles (user_id, role_id)"
                           " SELECT u.id, r.id FROM u, roles r WHERE r.name = $3",
                           email, hash, role);
    arena_free(ar);
    assert_int_equal(rc, 0);
    memset(jar, 0, sizeof(*jar));
    assert_int_equal(itest_login(p, st->s.slug, email, PASSWORD, jar, csrf), 200);
}

static void test_payments_routes_need_their_permissions(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "payperm", "2000", &st);
    size_t before = fake_count("POST", "/v1/accounts");
    /* anonymous: 401 */
    struct itest_resp *r =
        itest_request(&paysrv, "GET", st.s.host, "/api/payments/status", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 401);
    itest_resp_free(r);
    r = itest_request(&paysrv, "POST", st.s.host, "/api/payments/connect", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 401);
    itest_resp_free(r);
    r = itest_request(&paysrv, "GET", st.s.host, "/app/payments", NULL, NULL, NULL, NULL);
    assert_true(r->status == 401 || r->status == 303);
    itest_resp_free(r);
    /* front desk: neither payments:view nor payments:manage */
    struct studio desk = st;
    staff_with_role(&paysrv, &st, "front desk", &desk.jar, desk.csrf);
    r = staff(&paysrv, &desk, "POST", "/api/payments/connect", NULL);
    assert_int_equal(r->status, 403);
    itest_resp_free(r);
    r = staff(&paysrv, &desk, "GET", "/api/payments/status", NULL);
    assert_int_equal(r->status, 403);
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/accounts"), before);
    itest_pg_expect(NULL,
                    "SELECT (stripe_account_id IS NULL)::text FROM organizations WHERE slug = $1",
                    st.s.slug, "true");
    /* the owner: the page */
    r = staff(&paysrv, &st, "GET", "/app/payments", NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "payments.js"));
    itest_resp_free(r);
}

/* ---- deposits ------------------------------------------------------------------------------ */

static void test_a_deposit_is_paid_into_the_studio_account_with_the_plan_fee(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    /* 2 h at 10.25 = 20.50, deposit 10.25; starter plan 2% = 20.5 cents → 20 (half-even) */
    studio_make(&paysrv, "pay", "1025", &st);
    sql(NULL, "UPDATE organizations SET plan_id = 'starter' WHERE slug = $1", st.s.slug);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], email[128];
    customer_email("payer", email);
    book(&paysrv, &st, 10, email, ref, token);
    char *bid = itest_pg_one(st.s.db, "SELECT id FROM bookings WHERE ref = $1", ref);
    itest_pg_expect(st.s.db, "SELECT deposit_amount::text FROM bookings WHERE id = $1", bid,
                    "1025");

    struct itest_resp *r = create_payment(&paysrv, &st, ref, token);
    if (r->status != 200)
        fail_msg("create-payment: %ld %s", r->status, r->body);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    assert_true(strncmp(session, "cs_test_", 8) == 0);
    assert_true(strncmp(itest_json_str(r->json, "checkout_url"), fake.base, strlen(fake.base)) ==
                0);
    itest_resp_free(r);

    json_t *sent = fake_last("/v1/checkout/sessions");
    json_t *h = json_object_get(sent, "headers"), *form = json_object_get(sent, "form");
    assert_string_equal(itest_json_str(h, "Authorization"), "Bearer sk_test_x");
    assert_string_equal(itest_json_str(h, "Stripe-Account"), st.account);
    char key[128];
    snprintf(key, sizeof(key), "booking-%s-deposit-1025", bid);
    assert_string_equal(itest_json_str(h, "Idempotency-Key"), key);
    assert_string_equal(itest_json_str(form, "mode"), "payment");
    assert_string_equal(itest_json_str(form, "line_items[0][price_data][unit_amount]"), "1025");
    assert_string_equal(itest_json_str(form, "line_items[0][price_data][currency]"), "eur");
    assert_string_equal(itest_json_str(form, "line_items[0][quantity]"), "1");
    assert_string_equal(itest_json_str(form, "payment_intent_data[application_fee_amount]"), "20");
    assert_string_equal(itest_json_str(form, "metadata[booking_ref]"), ref);
    assert_string_equal(itest_json_str(form, "metadata[tenant]"), st.s.slug);
    assert_string_equal(itest_json_str(form, "payment_intent_data[metadata][tenant]"), st.s.slug);
    assert_string_equal(itest_json_str(form, "customer_email"), email);
    assert_non_null(strstr(itest_json_str(form, "success_url"), "paid=1"));
    json_decref(sent);
    char row[160];
    snprintf(row, sizeof(row), "open 20 %s", st.account);
    itest_pg_expect(st.s.db,
                    "SELECT status || ' ' || application_fee_amount || ' ' || stripe_account"
                    " FROM payments WHERE checkout_session_id = $1",
                    session, row);
    free(bid);
}

static void test_a_paid_deposit_confirms_the_booking_once_and_mails_the_customer(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "paid", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], email[128];
    customer_email("paid", email);
    book(&paysrv, &st, 10, email, ref, token);
    char *bid = itest_pg_one(st.s.db, "SELECT id FROM bookings WHERE ref = $1", ref);

    struct itest_resp *r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 200);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    /* the fee of the pro plan (1%) on 20.00 */
    json_t *sent = fake_last("/v1/checkout/sessions");
    assert_string_equal(itest_json_str(json_object_get(sent, "form"),
                                       "payment_intent_data[application_fee_amount]"),
                        "20");
    json_decref(sent);

    /* a retried click gets the same session (same Idempotency-Key) and no second row */
    r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "session_id"), session);
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM payments WHERE booking_id = $1", bid, "1");

    /* Stripe's signed event, a Connect event of the studio's account: paid and confirmed */
    r = fake_send("complete", "session", session, WEBHOOK_SECRET);
    if (delivered(r) != 200)
        fail_msg("webhook: %s", r->body);
    char event[128];
    snprintf(event, sizeof(event), "%s", itest_json_str(r->json, "event_id"));
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT status || ' ' || paid_amount FROM bookings WHERE id = $1", bid,
                    "confirmed 2000");
    itest_pg_expect(st.s.db, "SELECT status FROM payments WHERE checkout_session_id = $1", session,
                    "paid");
    itest_pg_expect(st.s.db,
                    "SELECT count(*)::text FROM audit_log WHERE resource = 'bookings'"
                    " AND resource_id = $1 AND action = 'payment'",
                    bid, "1");
    char recorded[160];
    snprintf(recorded, sizeof(recorded), "checkout.session.completed %s", st.account);
    itest_pg_expect(NULL, "SELECT type || ' ' || account FROM stripe_events WHERE event_id = $1",
                    event, recorded);
    assert_true(wait_mail_with(email,
                               "We have received your payment of 20.00 EUR. Thank you! Your "
                               "booking is confirmed.",
                               MAIL_WAIT_MS));

    /* the manage page's JSON: paid, nothing due */
    r = public_call(&paysrv, &st, "GET", ref, "", token);
    assert_int_equal(r->status, 200);
    json_t *pay = json_object_get(r->json, "payment");
    assert_int_equal(itest_json_int(pay, "paid"), 2000);
    assert_int_equal(itest_json_int(pay, "due"), 0);
    assert_int_equal(itest_json_int(pay, "refunded"), 0);
    itest_resp_free(r);

    /* the same event again: 200, nothing changes */
    resend(event, "duplicate");
    itest_pg_expect(st.s.db, "SELECT paid_amount::text FROM bookings WHERE id = $1", bid, "2000");

    /* a bad signature: 400 bad_signature, nothing changes */
    r = fake_send("resend", "event", event, "whsec_wrong");
    assert_int_equal(delivered(r), 400);
    assert_non_null(strstr(itest_json_str(r->json, "delivered_body"), "bad_signature"));
    itest_resp_free(r);
    struct itest_resp *raw = itest_request(&paysrv, "POST", NULL, "/api/stripe/webhook",
                                           "application/json", "{}", NULL, NULL);
    assert_int_equal(raw->status, 400);
    assert_string_equal(itest_error_code(raw), "bad_signature");
    itest_resp_free(raw);

    /* paid: no second payment */
    r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 409);
    itest_resp_free(r);
    free(bid);
}

static void test_create_payment_needs_a_connected_account_with_charges_enabled(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "payna", "2000", &st);
    char ref[128], token[128], email[128];
    customer_email("payna", email);
    book(&paysrv, &st, 10, email, ref, token);
    size_t before = fake_count("POST", "/v1/checkout/sessions");
    /* not connected */
    struct itest_resp *r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "payments_unavailable");
    assert_non_null(strstr(r->body, "contact the studio"));
    itest_resp_free(r);
    /* connected, charges not enabled yet */
    connect_studio(&paysrv, &st, false);
    r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "payments_unavailable");
    itest_resp_free(r);
    /* the manage page says so */
    r = public_call(&paysrv, &st, "GET", ref, "", token);
    assert_int_equal(r->status, 200);
    json_t *pay = json_object_get(r->json, "payment");
    assert_int_equal(itest_json_int(pay, "due"), 2000);
    assert_true(json_is_false(json_object_get(pay, "online")));
    assert_non_null(strstr(itest_json_str(pay, "online_message"), "contact the studio"));
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/checkout/sessions"), before);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM payments", NULL, "0");
}

static void test_create_payment_needs_the_manage_token(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "paytok", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], email[128];
    customer_email("paytok", email);
    book(&paysrv, &st, 10, email, ref, token);
    struct itest_resp *r = create_payment(&paysrv, &st, ref, "wrong");
    assert_int_equal(r->status, 403);
    assert_string_equal(itest_error_code(r), "invalid_token");
    itest_resp_free(r);
    r = create_payment(&paysrv, &st, "NOSUCHREF", token);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);
    /* another studio's host does not know the ref */
    struct studio other;
    studio_make(&paysrv, "paytok2", "2000", &other);
    r = create_payment(&paysrv, &other, ref, token);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);
}

static void test_stripe_failing_on_create_payment_or_connect_records_nothing(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "payfail", "2000", &st);
    /* connect: Stripe answers 500 → 502, no account stored */
    fake_post("/_fake/fail", "{\"path\": \"/v1/accounts\", \"status\": 500}");
    struct itest_resp *r = staff(&paysrv, &st, "POST", "/api/payments/connect", NULL);
    assert_int_equal(r->status, 502);
    assert_string_equal(itest_error_code(r), "payment_provider_error");
    itest_resp_free(r);
    itest_pg_expect(NULL,
                    "SELECT (stripe_account_id IS NULL)::text FROM organizations WHERE slug = $1",
                    st.s.slug, "true");
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], email[128];
    customer_email("payfail", email);
    book(&paysrv, &st, 10, email, ref, token);
    /* 402 and 500: 502, no payment row; then it works */
    fake_post("/_fake/fail", "{\"path\": \"/v1/checkout/sessions\", \"status\": 402}");
    r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 502);
    assert_string_equal(itest_error_code(r), "payment_provider_error");
    itest_resp_free(r);
    fake_post("/_fake/fail", "{\"path\": \"/v1/checkout/sessions\", \"status\": 500}");
    r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 502);
    itest_resp_free(r);
    /* no answer within the client's 15 s: 503, nothing recorded */
    fake_post("/_fake/fail",
              "{\"path\": \"/v1/checkout/sessions\", \"status\": 500, \"delay\": 17}");
    char path[256], header[200];
    snprintf(path, sizeof(path), "/api/public/booking/%s/create-payment", ref);
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *headers[] = {header, NULL};
    struct itest_req rq = {
        .method = "POST", .host = st.s.host, .path = path, .headers = headers, .timeout_ms = 40000};
    r = itest_send(&paysrv, &rq);
    assert_int_equal(r->status, 503);
    assert_string_equal(itest_error_code(r), "payment_provider_unavailable");
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM payments", NULL, "0");
    r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM payments", NULL, "1");
}

/* ---- webhook events in any order ------------------------------------------------------------ */

#define LIFE_EVENTS 5

/* The events of one paid booking's life after payment, as JSON texts into ev[0..4]: a
 * partial refund, a second refund, a dispute, a late "session expired", the dispute won. */
static void life_events(const struct studio *st, const char *pi, const char *session, long long t0,
                        char ev[LIFE_EVENTS][1024])
{
    snprintf(ev[0], 1024,
             "{\"type\": \"charge.refunded\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"ch_%s\", \"object\": \"charge\","
             " \"payment_intent\": \"%s\", \"amount\": 2000, \"amount_refunded\": 500,"
             " \"refunds\": {\"object\": \"list\", \"data\": [{\"id\": \"re_a_%s\","
             " \"object\": \"refund\", \"amount\": 500, \"status\": \"succeeded\"}]}}}}",
             st->account, t0 + 1, pi, pi, pi);
    snprintf(ev[1], 1024,
             "{\"type\": \"charge.refunded\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"ch_%s\", \"object\": \"charge\","
             " \"payment_intent\": \"%s\", \"amount\": 2000, \"amount_refunded\": 800,"
             " \"refunds\": {\"object\": \"list\", \"data\": [{\"id\": \"re_a_%s\","
             " \"object\": \"refund\", \"amount\": 500, \"status\": \"succeeded\"},"
             " {\"id\": \"re_b_%s\", \"object\": \"refund\", \"amount\": 300,"
             " \"status\": \"succeeded\"}]}}}}",
             st->account, t0 + 2, pi, pi, pi, pi);
    snprintf(ev[2], 1024,
             "{\"type\": \"charge.dispute.created\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"dp_%s\", \"object\": \"dispute\","
             " \"payment_intent\": \"%s\", \"charge\": \"ch_%s\", \"amount\": 1200,"
             " \"reason\": \"fraudulent\", \"status\": \"needs_response\"}}}",
             st->account, t0 + 3, pi, pi, pi);
    snprintf(ev[3], 1024,
             "{\"type\": \"checkout.session.expired\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"%s\", \"object\": \"checkout.session\","
             " \"status\": \"expired\", \"payment_status\": \"unpaid\","
             " \"metadata\": {\"tenant\": \"%s\"}}}}",
             st->account, t0 + 4, session, st->s.slug);
    snprintf(ev[4], 1024,
             "{\"type\": \"charge.dispute.closed\", \"account\": \"%s\", \"created\": %lld,"
             " \"data\": {\"object\": {\"id\": \"dp_%s\", \"object\": \"dispute\","
             " \"payment_intent\": \"%s\", \"charge\": \"ch_%s\", \"amount\": 1200,"
             " \"created\": %lld, \"reason\": \"fraudulent\", \"status\": \"won\"}}}",
             st->account, t0 + 5, pi, pi, pi, t0 + 3);
}

/* Everything the events change on a booking, as one line. */
static char *money_state(const struct studio *st, const char *bid)
{
    return itest_pg_one(
        st->s.db,
        "SELECT b.status || ' paid=' || b.paid_amount || ' flag=' ||"
        " coalesce(b.payment_flag, '-') || ' refunded=' ||"
        " (SELECT string_agg(p.status || ':' || p.refunded_amount, ',')"
        "    FROM payments p WHERE p.booking_id = b.id) || ' refunds=' ||"
        " coalesce((SELECT string_agg(r.amount || ':' || r.status || ':' || r.reason,"
        "    ',' ORDER BY r.amount) FROM refunds r WHERE r.booking_id = b.id), '-')"
        " FROM bookings b WHERE b.id = $1",
        bid);
}

static void test_events_in_reverse_order_and_twice_end_as_in_order(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "order", "2000", &st);
    connect_studio(&paysrv, &st, true);
    long long t0 = (long long)time(NULL);
    char ref[2][128], token[2][128], bid[2][64], session[2][128], email[128];
    char *state_of[2];
    for (int k = 0; k < 2; k++) {
        customer_email("order", email);
        /* k = 0: paid first, then the events in order; k = 1: the events first, in reverse
         * order, then the payment, then everything again */
        book(&paysrv, &st, 10 + k, email, ref[k], token[k]);
        struct itest_resp *r = create_payment(&paysrv, &st, ref[k], token[k]);
        assert_int_equal(r->status, 200);
        snprintf(session[k], 128, "%s", itest_json_str(r->json, "session_id"));
        itest_resp_free(r);
        char *id = itest_pg_one(st.s.db, "SELECT id FROM bookings WHERE ref = $1", ref[k]);
        snprintf(bid[k], 64, "%s", id);
        free(id);
        char *pi = itest_pg_one(
            st.s.db, "SELECT payment_intent_id FROM payments WHERE booking_id = $1", bid[k]);
        char ev[LIFE_EVENTS][1024], ids[LIFE_EVENTS + 1][64];
        life_events(&st, pi, session[k], t0, ev);
        free(pi);
        if (k == 0) {
            r = fake_send("complete", "session", session[k], WEBHOOK_SECRET);
            assert_int_equal(delivered(r), 200);
            itest_resp_free(r);
            for (int i = 0; i < LIFE_EVENTS; i++)
                fake_event(ev[i], ids[i]);
        } else {
            for (int i = LIFE_EVENTS - 1; i >= 0; i--)
                fake_event(ev[i], ids[i]);
            r = fake_send("complete", "session", session[k], WEBHOOK_SECRET);
            assert_int_equal(delivered(r), 200);
            snprintf(ids[LIFE_EVENTS], 64, "%s", itest_json_str(r->json, "event_id"));
            itest_resp_free(r);
            for (int i = LIFE_EVENTS; i >= 0; i--)
                resend(ids[i], "duplicate");
        }
        state_of[k] = money_state(&st, bid[k]);
    }
    assert_string_equal(state_of[0], "confirmed paid=2000 flag=dispute_won refunded=paid:800 "
                                     "refunds=300:succeeded:stripe,500:succeeded:stripe");
    assert_string_equal(state_of[1], state_of[0]);
    /* staff see the dispute and the refunds on the booking */
    char path[128];
    snprintf(path, sizeof(path), "/api/bookings/%s", bid[1]);
    struct itest_resp *r = staff(&paysrv, &st, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    json_t *b = json_object_get(r->json, "booking") ? json_object_get(r->json, "booking") : r->json;
    json_t *pay = json_object_get(b, "payment");
    assert_string_equal(itest_json_str(pay, "flag"), "dispute_won");
    assert_non_null(itest_json_str(pay, "disputed_at"));
    assert_int_equal(itest_json_int(pay, "refunded"), 800);
    assert_int_equal(json_array_size(json_object_get(b, "refunds")), 2);
    assert_int_equal(json_array_size(json_object_get(b, "payments")), 1);
    assert_non_null(strstr(itest_json_str(b, "dispute_id"), "dp_"));
    itest_resp_free(r);
    free(state_of[0]);
    free(state_of[1]);
}

static void test_a_failed_or_expired_payment_keeps_the_hold(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "pfail", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], email[128];
    customer_email("pfail", email);
    book(&paysrv, &st, 10, email, ref, token);
    struct itest_resp *r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 200);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    char *pi = itest_pg_one(
        st.s.db, "SELECT payment_intent_id FROM payments WHERE checkout_session_id = $1", session);
    char ev[1024], failed_id[64];
    snprintf(ev, sizeof(ev),
             "{\"type\": \"payment_intent.payment_failed\", \"account\": \"%s\", \"data\":"
             " {\"object\": {\"id\": \"%s\", \"object\": \"payment_intent\", \"status\":"
             " \"requires_payment_method\", \"last_payment_error\": {\"code\": \"card_declined\","
             " \"message\": \"Your card was declined.\"}, \"metadata\": {\"tenant\": \"%s\","
             " \"booking_ref\": \"%s\"}}}}",
             st.account, pi, st.s.slug, ref);
    fake_event(ev, failed_id);
    resend(failed_id, "duplicate");
    itest_pg_expect(st.s.db,
                    "SELECT p.status || ' ' || p.failure_message || ' ' || b.status || ' ' ||"
                    " (b.hold_expires_at > now())"
                    " FROM payments p JOIN bookings b ON b.id = p.booking_id"
                    " WHERE p.checkout_session_id = $1",
                    session, "failed Your card was declined. pending true");
    /* the session expires: the payment is expired, the booking still holds until its expiry */
    snprintf(ev, sizeof(ev),
             "{\"type\": \"checkout.session.expired\", \"account\": \"%s\", \"data\":"
             " {\"object\": {\"id\": \"%s\", \"object\": \"checkout.session\", \"status\":"
             " \"expired\", \"metadata\": {\"tenant\": \"%s\", \"booking_ref\": \"%s\"}}}}",
             st.account, session, st.s.slug, ref);
    fake_event(ev, NULL);
    itest_pg_expect(st.s.db,
                    "SELECT p.status || ' ' || b.status FROM payments p JOIN bookings b"
                    " ON b.id = p.booking_id WHERE p.checkout_session_id = $1",
                    session, "expired pending");
    /* a late payment_failed does not bring it back */
    resend(failed_id, "duplicate");
    fake_event(strstr(ev, "") ? ev : ev, NULL);
    itest_pg_expect(st.s.db, "SELECT status FROM payments WHERE checkout_session_id = $1", session,
                    "expired");
    free(pi);
}

static void test_a_delayed_payment_counts_when_it_succeeds(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "delayed", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], email[128];
    customer_email("delayed", email);
    book(&paysrv, &st, 10, email, ref, token);
    struct itest_resp *r = create_payment(&paysrv, &st, ref, token);
    assert_int_equal(r->status, 200);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    const char *shape = "{\"type\": \"%s\", \"account\": \"%s\", \"data\": {\"object\":"
                        " {\"id\": \"%s\", \"object\": \"checkout.session\","
                        " \"amount_total\": 2000, \"currency\": \"eur\","
                        " \"payment_status\": \"%s\", \"payment_intent\": \"pi_delayed\","
                        " \"metadata\": {\"tenant\": \"%s\", \"booking_ref\": \"%s\"}}}}";
    char ev[1024];
    /* completed, but a bank debit still on its way: nothing is paid yet */
    snprintf(ev, sizeof(ev), shape, "checkout.session.completed", st.account, session, "unpaid",
             st.s.slug, ref);
    fake_event(ev, NULL);
    itest_pg_expect(st.s.db,
                    "SELECT b.status || ' ' || b.paid_amount || ' ' || p.status FROM bookings b"
                    " JOIN payments p ON p.booking_id = b.id WHERE b.ref = $1",
                    ref, "pending 0 open");
    /* the debit went through */
    snprintf(ev, sizeof(ev), shape, "checkout.session.async_payment_succeeded", st.account, session,
             "paid", st.s.slug, ref);
    fake_event(ev, NULL);
    itest_pg_expect(st.s.db,
                    "SELECT b.status || ' ' || b.paid_amount || ' ' || p.status FROM bookings b"
                    " JOIN payments p ON p.booking_id = b.id WHERE b.ref = $1",
                    ref, "confirmed 2000 paid");
    /* a late async_payment_failed for it changes nothing */
    snprintf(ev, sizeof(ev), shape, "checkout.session.async_payment_failed", st.account, session,
             "unpaid", st.s.slug, ref);
    fake_event(ev, NULL);
    itest_pg_expect(st.s.db, "SELECT status FROM payments WHERE checkout_session_id = $1", session,
                    "paid");
}

static void test_tampered_or_misrouted_events_change_nothing(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    studio_make(&paysrv, "tampa", "2000", &a);
    studio_make(&paysrv, "tampb", "2000", &b);
    connect_studio(&paysrv, &a, true);
    connect_studio(&paysrv, &b, true);
    char ref[128], token[128], email[128];
    customer_email("tamp", email);
    book(&paysrv, &b, 10, email, ref, token);
    struct itest_resp *r = create_payment(&paysrv, &b, ref, token);
    assert_int_equal(r->status, 200);
    char session[128];
    snprintf(session, sizeof(session), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    /* a completed session of A's account naming B's booking: ignored */
    char ev[1024];
    snprintf(ev, sizeof(ev),
             "{\"type\": \"checkout.session.completed\", \"account\": \"%s\", \"data\":"
             " {\"object\": {\"id\": \"%s\", \"object\": \"checkout.session\","
             " \"amount_total\": 2000, \"currency\": \"eur\", \"payment_status\": \"paid\","
             " \"payment_intent\": \"pi_x\", \"metadata\": {\"tenant\": \"%s\","
             " \"booking_ref\": \"%s\"}}}}",
             a.account, session, b.s.slug, ref);
    fake_event(ev, NULL);
    itest_pg_expect(b.s.db, "SELECT status || ' ' || paid_amount FROM bookings WHERE ref = $1", ref,
                    "pending 0");
    /* a payload changed after signing: 400, nothing changes */
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"id\": \"evt_forged\", \"type\": \"checkout.session.completed\", \"account\":"
             " \"%s\", \"data\": {\"object\": {\"id\": \"%s\", \"amount_total\": 2000,"
             " \"currency\": \"eur\", \"payment_status\": \"paid\", \"metadata\":"
             " {\"tenant\": \"%s\", \"booking_ref\": \"%s\"}}}}",
             b.account, session, b.s.slug, ref);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char signed_payload[1200], hex[2 * sizeof(mac) + 1], sig[200];
    long now = (long)time(NULL);
    snprintf(signed_payload, sizeof(signed_payload), "%ld.%s", now, body);
    crypto_auth_hmacsha256_state hs;
    crypto_auth_hmacsha256_init(&hs, (const unsigned char *)WEBHOOK_SECRET, strlen(WEBHOOK_SECRET));
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)signed_payload,
                                  strlen(signed_payload));
    crypto_auth_hmacsha256_final(&hs, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(sig, sizeof(sig), "Stripe-Signature: t=%ld,v1=%s", now, hex);
    const char *headers[] = {sig, NULL};
    body[strlen(body) - 3] = ' '; /* tamper: one byte after signing */
    r = itest_request(&paysrv, "POST", NULL, "/api/stripe/webhook", "application/json", body,
                      headers, NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(itest_error_code(r), "bad_signature");
    itest_resp_free(r);
    itest_pg_expect(b.s.db, "SELECT paid_amount::text FROM bookings WHERE ref = $1", ref, "0");
    itest_pg_expect(NULL, "SELECT count(*)::text FROM stripe_events WHERE event_id = $1",
                    "evt_forged", "0");
    /* refund and dispute events of A's account about B's payment intent: B is untouched */
    char *pi = itest_pg_one(
        b.s.db, "SELECT payment_intent_id FROM payments WHERE checkout_session_id = $1", session);
    snprintf(ev, sizeof(ev),
             "{\"type\": \"charge.refunded\", \"account\": \"%s\", \"data\": {\"object\":"
             " {\"id\": \"ch_x\", \"payment_intent\": \"%s\", \"amount\": 2000,"
             " \"amount_refunded\": 2000, \"metadata\": {\"tenant\": \"%s\"}}}}",
             a.account, pi, b.s.slug);
    fake_event(ev, NULL);
    snprintf(ev, sizeof(ev),
             "{\"type\": \"charge.dispute.created\", \"account\": \"%s\", \"data\":"
             " {\"object\": {\"id\": \"dp_x\", \"payment_intent\": \"%s\"}}}",
             a.account, pi);
    fake_event(ev, NULL);
    itest_pg_expect(
        b.s.db,
        "SELECT p.refunded_amount || ' ' || coalesce(b.payment_flag, '-') FROM payments p"
        " JOIN bookings b ON b.id = p.booking_id WHERE p.payment_intent_id = $1",
        pi, "0 -");
    free(pi);
}

/* ---- a payment after the hold expired ----------------------------------------------------- */

static void test_a_late_payment_reconfirms_a_free_slot_and_refunds_a_taken_one(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "late", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[2][128], token[2][128], session[2][128], email[2][128];
    for (int k = 0; k < 2; k++) {
        customer_email("late", email[k]);
        book(&paysrv, &st, 12 + k, email[k], ref[k], token[k]);
        struct itest_resp *r = create_payment(&paysrv, &st, ref[k], token[k]);
        assert_int_equal(r->status, 200);
        snprintf(session[k], 128, "%s", itest_json_str(r->json, "session_id"));
        itest_resp_free(r);
        /* the hold runs out and the expiry job has run */
        sql(st.s.db,
            "UPDATE bookings SET status = 'expired', hold_expires_at = now() - interval '1 minute'"
            " WHERE ref = $1",
            ref[k]);
    }
    /* the slot of booking 1 is taken meanwhile */
    char other_ref[128], other_token[128], other_email[128];
    customer_email("taker", other_email);
    book(&paysrv, &st, 13, other_email, other_ref, other_token);

    /* booking 0: the slot is free, the payment confirms it again */
    struct itest_resp *r = fake_send("complete", "session", session[0], WEBHOOK_SECRET);
    assert_int_equal(delivered(r), 200);
    itest_resp_free(r);
    itest_pg_expect(st.s.db,
                    "SELECT status || ' ' || paid_amount || ' ' || (hold_expires_at IS NULL)"
                    " FROM bookings WHERE ref = $1",
                    ref[0], "confirmed 2000 true");
    assert_true(wait_mail_with(email[0], "your booking stands again", MAIL_WAIT_MS));

    /* booking 1: the slot is gone, the payment is refunded in full */
    size_t refunds_before = fake_count("POST", "/v1/refunds");
    r = fake_send("complete", "session", session[1], WEBHOOK_SECRET);
    assert_int_equal(delivered(r), 200);
    char event[64];
    snprintf(event, sizeof(event), "%s", itest_json_str(r->json, "event_id"));
    itest_resp_free(r);
    char *bid = itest_pg_one(st.s.db, "SELECT id FROM bookings WHERE ref = $1", ref[1]);
    char *pid =
        itest_pg_one(st.s.db, "SELECT id FROM payments WHERE checkout_session_id = $1", session[1]);
    char *pi = itest_pg_one(st.s.db, "SELECT payment_intent_id FROM payments WHERE id = $1", pid);
    itest_pg_expect(st.s.db, "SELECT status || ' ' || paid_amount FROM bookings WHERE id = $1", bid,
                    "expired 2000");
    json_t *sent = fake_last("/v1/refunds");
    assert_int_equal(fake_count("POST", "/v1/refunds"), refunds_before + 1);
    char key[200];
    snprintf(key, sizeof(key), "booking-%s-payment-%s-late-refund", bid, pid);
    assert_string_equal(itest_json_str(json_object_get(sent, "headers"), "Idempotency-Key"), key);
    assert_string_equal(itest_json_str(json_object_get(sent, "headers"), "Stripe-Account"),
                        st.account);
    assert_string_equal(itest_json_str(json_object_get(sent, "form"), "payment_intent"), pi);
    assert_string_equal(itest_json_str(json_object_get(sent, "form"), "amount"), "2000");
    json_decref(sent);
    itest_pg_expect(st.s.db,
                    "SELECT amount || ' ' || status || ' ' || reason FROM refunds"
                    " WHERE booking_id = $1",
                    bid, "2000 succeeded late_payment");
    assert_true(wait_mail_with(email[1], "We are refunding the full 20.00 EUR", MAIL_WAIT_MS));
    /* the same event again refunds nothing more */
    resend(event, "duplicate");
    assert_int_equal(fake_count("POST", "/v1/refunds"), refunds_before + 1);
    /* the taker's booking is untouched */
    itest_pg_expect(st.s.db, "SELECT status FROM bookings WHERE ref = $1", other_ref, "pending");

    /* a booking cancelled while its customer was on the Checkout page: refunded in full */
    char cref[128], ctoken[128], cemail[128], csession[128];
    customer_email("cancelled", cemail);
    book(&paysrv, &st, 15, cemail, cref, ctoken);
    r = create_payment(&paysrv, &st, cref, ctoken);
    assert_int_equal(r->status, 200);
    snprintf(csession, sizeof(csession), "%s", itest_json_str(r->json, "session_id"));
    itest_resp_free(r);
    r = public_call(&paysrv, &st, "POST", cref, "/cancel", ctoken);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund"), "status"), "none");
    itest_resp_free(r);
    r = fake_send("complete", "session", csession, WEBHOOK_SECRET);
    assert_int_equal(delivered(r), 200);
    itest_resp_free(r);
    itest_pg_expect(st.s.db,
                    "SELECT b.status || ' ' || b.paid_amount || ' ' || r.amount || ' ' || r.status"
                    " || ' ' || r.reason FROM bookings b JOIN refunds r ON r.booking_id = b.id"
                    " WHERE b.ref = $1",
                    cref, "cancelled 2000 2000 succeeded late_payment");
    assert_true(wait_mail_with(cemail, "arrived after the booking was cancelled", MAIL_WAIT_MS));
    free(bid);
    free(pid);
    free(pi);
}

/* ---- refunds on cancel ------------------------------------------------------------------------
 */

static void test_cancelling_a_paid_booking_refunds_what_the_policy_gives(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "refund", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], bid[64], session[128], email[128];
    customer_email("refund", email);
    book_and_pay(&st, 10, email, ref, token, bid, session);
    char *pid = itest_pg_one(st.s.db, "SELECT id FROM payments WHERE booking_id = $1", bid);
    char *pi = itest_pg_one(st.s.db, "SELECT payment_intent_id FROM payments WHERE id = $1", pid);
    size_t before = fake_count("POST", "/v1/refunds");

    /* ten days ahead: the default tiers give 100% back */
    struct itest_resp *r = public_call(&paysrv, &st, "POST", ref, "/cancel", token);
    if (r->status != 200)
        fail_msg("cancel: %ld %s", r->status, r->body);
    json_t *refund = json_object_get(r->json, "refund");
    assert_int_equal(itest_json_int(refund, "amount"), 2000);
    assert_string_equal(itest_json_str(refund, "status"), "succeeded");
    itest_resp_free(r);
    json_t *sent = fake_last("/v1/refunds");
    json_t *h = json_object_get(sent, "headers"), *form = json_object_get(sent, "form");
    char key[200];
    snprintf(key, sizeof(key), "booking-%s-cancel-refund-%s", bid, pid);
    assert_string_equal(itest_json_str(h, "Idempotency-Key"), key);
    assert_string_equal(itest_json_str(h, "Stripe-Account"), st.account);
    assert_string_equal(itest_json_str(form, "payment_intent"), pi);
    assert_string_equal(itest_json_str(form, "amount"), "2000");
    assert_non_null(itest_json_str(form, "metadata[refund_id]"));
    assert_string_equal(itest_json_str(form, "refund_application_fee"), "true");
    json_decref(sent);
    itest_pg_expect(st.s.db,
                    "SELECT amount || ' ' || status || ' ' || reason || ' ' ||"
                    " (stripe_refund_id LIKE 're_%') FROM refunds WHERE booking_id = $1",
                    bid, "2000 succeeded cancel true");

    /* the manage page shows it */
    r = public_call(&paysrv, &st, "GET", ref, "", token);
    assert_int_equal(r->status, 200);
    json_t *pay = json_object_get(r->json, "payment");
    assert_int_equal(itest_json_int(pay, "paid"), 2000);
    assert_int_equal(itest_json_int(pay, "refunded"), 2000);
    assert_int_equal(itest_json_int(pay, "due"), 0);
    json_t *one = json_array_get(json_object_get(r->json, "refunds"), 0);
    assert_int_equal(itest_json_int(one, "amount"), 2000);
    assert_string_equal(itest_json_str(one, "status"), "succeeded");
    assert_null(json_object_get(one, "stripe_refund_id")); /* staff only */
    itest_resp_free(r);

    /* a second cancel: 409, no second refund */
    r = public_call(&paysrv, &st, "POST", ref, "/cancel", token);
    assert_int_equal(r->status, 409);
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/refunds"), before + 1);
    /* Stripe's charge.refunded for it reconciles to the same row */
    char ev[1024], *sid = itest_pg_one(
                       st.s.db, "SELECT stripe_refund_id FROM refunds WHERE booking_id = $1", bid);
    char *rid = itest_pg_one(st.s.db, "SELECT id FROM refunds WHERE booking_id = $1", bid);
    snprintf(ev, sizeof(ev),
             "{\"type\": \"charge.refunded\", \"account\": \"%s\", \"data\": {\"object\":"
             " {\"id\": \"ch_1\", \"object\": \"charge\", \"payment_intent\": \"%s\","
             " \"amount\": 2000, \"amount_refunded\": 2000, \"refunds\": {\"data\": [{\"id\":"
             " \"%s\", \"amount\": 2000, \"status\": \"succeeded\", \"metadata\":"
             " {\"refund_id\": \"%s\"}}]}}}}",
             st.account, pi, sid, rid);
    fake_event(ev, NULL);
    itest_pg_expect(st.s.db, "SELECT count(*)::text FROM refunds WHERE booking_id = $1", bid, "1");
    /* audited: the cancel (with its refund_amount), the refund's result at Stripe, the sync */
    itest_pg_expect(st.s.db,
                    "SELECT (after->>'refund_amount') FROM audit_log WHERE resource = 'bookings'"
                    " AND action = 'cancel' AND resource_id = $1",
                    bid, "2000");
    itest_pg_expect(st.s.db,
                    "SELECT after->>'status' FROM audit_log WHERE resource = 'refunds'"
                    " AND action = 'update' AND resource_id = $1",
                    rid, "succeeded");
    itest_pg_expect(st.s.db, "SELECT refunded_amount::text FROM payments WHERE id = $1", pid,
                    "2000");
    free(sid);
    free(rid);
    free(pid);
    free(pi);
}

static void test_staff_may_set_the_refund_within_what_was_paid(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "override", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], bid[64], session[128], email[128];
    customer_email("override", email);
    book_and_pay(&st, 10, email, ref, token, bid, session);
    size_t before = fake_count("POST", "/v1/refunds");
    char path[128];
    snprintf(path, sizeof(path), "/api/bookings/%s/cancel", bid);
    /* more than was paid: 422, nothing sent, still confirmed */
    struct itest_resp *r = staff(&paysrv, &st, "POST", path, "{\"refund_amount\": 2001}");
    assert_int_equal(r->status, 422);
    itest_resp_free(r);
    r = staff(&paysrv, &st, "POST", path, "{\"refund_amount\": -1}");
    assert_int_equal(r->status, 422);
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/refunds"), before);
    itest_pg_expect(st.s.db, "SELECT status FROM bookings WHERE id = $1", bid, "confirmed");
    /* 7.00 back */
    r = staff(&paysrv, &st, "POST", path, "{\"refund_amount\": 700, \"reason\": \"goodwill\"}");
    if (r->status != 200)
        fail_msg("cancel: %ld %s", r->status, r->body);
    assert_int_equal(itest_json_int(json_object_get(r->json, "refund"), "amount"), 700);
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund"), "status"), "succeeded");
    itest_resp_free(r);
    json_t *sent = fake_last("/v1/refunds");
    assert_string_equal(itest_json_str(json_object_get(sent, "form"), "amount"), "700");
    json_decref(sent);
    snprintf(path, sizeof(path), "/api/bookings/%s", bid);
    r = staff(&paysrv, &st, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    json_t *b = json_object_get(r->json, "booking") ? json_object_get(r->json, "booking") : r->json;
    assert_int_equal(itest_json_int(json_object_get(b, "payment"), "refunded"), 700);
    json_t *one = json_array_get(json_object_get(b, "refunds"), 0);
    assert_string_equal(itest_json_str(one, "status"), "succeeded");
    assert_non_null(itest_json_str(one, "stripe_refund_id"));
    itest_resp_free(r);
    /* a zero refund sends nothing */
    char ref2[128], token2[128], bid2[64], session2[128];
    book_and_pay(&st, 11, email, ref2, token2, bid2, session2);
    before = fake_count("POST", "/v1/refunds");
    snprintf(path, sizeof(path), "/api/bookings/%s/cancel", bid2);
    r = staff(&paysrv, &st, "POST", path, "{\"refund_amount\": 0}");
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund"), "status"), "none");
    itest_resp_free(r);
    assert_int_equal(fake_count("POST", "/v1/refunds"), before);
}

/* One of several cancels racing each other. */
struct racer {
    const struct studio *st;
    const char *ref, *token;
    long status;
};

static void *race_cancel(void *arg)
{
    struct racer *r = arg;
    struct itest_resp *resp = public_call(&paysrv, r->st, "POST", r->ref, "/cancel", r->token);
    r->status = resp->status;
    itest_resp_free(resp);
    return NULL;
}

static void test_cancels_racing_each_other_refund_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "race", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], bid[64], session[128], email[128];
    customer_email("race", email);
    book_and_pay(&st, 10, email, ref, token, bid, session);
    size_t before = fake_count("POST", "/v1/refunds");
    enum { RACERS = 4 };
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){&st, ref, token, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, race_cancel, &racers[i]), 0);
    }
    int ok = 0, conflict = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        ok += racers[i].status == 200;
        conflict += racers[i].status == 409;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, RACERS - 1);
    assert_int_equal(fake_count("POST", "/v1/refunds"), before + 1);
    itest_pg_expect(st.s.db,
                    "SELECT count(*) || ' ' || sum(amount) FROM refunds WHERE booking_id = $1", bid,
                    "1 2000");
}

/* Makes the queued refund retries of st due now and waits until booking bid's refunds are
 * no longer pending. */
static void run_refund_jobs(const struct studio *st, const char *bid)
{
    double until = itest_now_ms() + JOB_WAIT_MS;
    for (;;) {
        /* Again each time: the suite's other studiod (no Stripe key) may take the job and
         * put it back for later. */
        sql(NULL,
            "UPDATE jobs SET run_at = now() WHERE kind = 'payments_refund_send'"
            " AND status = 'queued' AND payload->>'slug' = $1",
            st->s.slug);
        char *n = itest_pg_one(st->s.db,
                               "SELECT count(*)::text FROM refunds WHERE booking_id = $1"
                               " AND status = 'pending'",
                               bid);
        bool done = strcmp(n, "0") == 0;
        free(n);
        if (done)
            return;
        if (itest_now_ms() > until)
            fail_msg("the refund of %s is still pending", bid);
        itest_pause_ms(100);
    }
}

static void test_stripe_down_leaves_the_refund_pending_and_the_job_sends_it_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "rdown", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], bid[64], session[128], email[128];
    customer_email("rdown", email);
    book_and_pay(&st, 10, email, ref, token, bid, session);
    size_t before = fake_count("POST", "/v1/refunds");
    fake_post("/_fake/fail", "{\"path\": \"/v1/refunds\", \"status\": 500}");
    struct itest_resp *r = public_call(&paysrv, &st, "POST", ref, "/cancel", token);
    assert_int_equal(r->status, 200);
    json_t *refund = json_object_get(r->json, "refund");
    assert_string_equal(itest_json_str(refund, "status"), "pending");
    assert_non_null(strstr(itest_json_str(refund, "message"), "will be sent automatically"));
    itest_resp_free(r);
    /* the cancel stands, the refund waits, a retry is queued */
    itest_pg_expect(st.s.db, "SELECT status FROM bookings WHERE id = $1", bid, "cancelled");
    itest_pg_expect(st.s.db,
                    "SELECT status || ' ' || attempts || ' ' || (stripe_refund_id IS NULL)"
                    " FROM refunds WHERE booking_id = $1",
                    bid, "pending 1 true");
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM jobs WHERE kind = 'payments_refund_send'"
                    " AND payload->>'booking_id' = $1",
                    bid, "1");
    r = public_call(&paysrv, &st, "GET", ref, "", token);
    assert_int_equal(itest_json_int(json_object_get(r->json, "payment"), "refund_pending"), 2000);
    assert_int_equal(itest_json_int(json_object_get(r->json, "payment"), "refunded"), 0);
    itest_resp_free(r);
    /* the job sends it with the same key */
    run_refund_jobs(&st, bid);
    itest_pg_expect(st.s.db, "SELECT status FROM refunds WHERE booking_id = $1", bid, "succeeded");
    json_t *all = fake_requests("POST", "/v1/refunds");
    assert_int_equal(json_array_size(all), before + 2);
    const char *k1 =
        itest_json_str(json_object_get(json_array_get(all, before), "headers"), "Idempotency-Key");
    const char *k2 = itest_json_str(json_object_get(json_array_get(all, before + 1), "headers"),
                                    "Idempotency-Key");
    assert_string_equal(k1, k2);
    json_decref(all);
}

static void test_stripe_refusing_a_refund_marks_it_failed(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "rrefuse", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], bid[64], session[128], email[128];
    customer_email("rrefuse", email);
    book_and_pay(&st, 10, email, ref, token, bid, session);
    fake_post("/_fake/fail", "{\"path\": \"/v1/refunds\", \"status\": 402}");
    char path[128];
    snprintf(path, sizeof(path), "/api/bookings/%s/cancel", bid);
    struct itest_resp *r = staff(&paysrv, &st, "POST", path, "{}");
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund"), "status"), "failed");
    assert_non_null(
        strstr(itest_json_str(json_object_get(r->json, "refund"), "message"), "refused"));
    itest_resp_free(r);
    itest_pg_expect(st.s.db,
                    "SELECT status || ' ' || failure_message FROM refunds WHERE booking_id = $1",
                    bid, "failed Injected failure");
    itest_pg_expect(NULL,
                    "SELECT count(*)::text FROM jobs WHERE kind = 'payments_refund_send'"
                    " AND payload->>'booking_id' = $1",
                    bid, "0");
}

static void test_stripe_timing_out_leaves_the_refund_pending(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(&paysrv, "rslow", "2000", &st);
    connect_studio(&paysrv, &st, true);
    char ref[128], token[128], bid[64], session[128], email[128];
    customer_email("rslow", email);
    book_and_pay(&st, 10, email, ref, token, bid, session);
    /* longer than the client's 15 s timeout */
    fake_post("/_fake/fail", "{\"path\": \"/v1/refunds\", \"status\": 500, \"delay\": 17}");
    struct itest_req rq = {.method = "POST", .host = st.s.host, .timeout_ms = 40000};
    char path[256], header[200];
    snprintf(path, sizeof(path), "/api/public/booking/%s/cancel", ref);
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *headers[] = {header, NULL};
    rq.path = path;
    rq.headers = headers;
    struct itest_resp *r = itest_send(&paysrv, &rq);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund"), "status"), "pending");
    itest_resp_free(r);
    itest_pg_expect(st.s.db, "SELECT status FROM refunds WHERE booking_id = $1", bid, "pending");
    run_refund_jobs(&st, bid);
    itest_pg_expect(st.s.db, "SELECT status FROM refunds WHERE booking_id = $1", bid, "succeeded");
}

/* ---- without a Stripe key ------------------------------------------------------------------ */

static void test_without_a_stripe_key_payments_are_unavailable(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    studio_make(srv, "paynone", "2000", &st);
    char ref[128], token[128], email[128];
    customer_email("paynone", email);
    book(srv, &st, 10, email, ref, token);
    struct itest_resp *r = create_payment(srv, &st, ref, token);
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "payments_unavailable");
    assert_non_null(strstr(r->body, "contact the studio"));
    itest_resp_free(r);
    r = staff(srv, &st, "POST", "/api/payments/connect", NULL);
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "payments_unavailable");
    itest_resp_free(r);
    r = staff(srv, &st, "GET", "/api/payments/status", NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(r->json, "configured")));
    assert_true(json_is_false(json_object_get(r->json, "can_take_payments")));
    itest_resp_free(r);
    r = public_call(srv, &st, "GET", ref, "", token);
    assert_int_equal(r->status, 200);
    json_t *pay = json_object_get(r->json, "payment");
    assert_true(json_is_false(json_object_get(pay, "online")));
    assert_string_equal(itest_json_str(pay, "online_message"),
                        "Online payment unavailable — contact the studio.");
    itest_resp_free(r);
    /* cancelling still works (nothing was paid, nothing to refund) */
    r = public_call(srv, &st, "POST", ref, "/cancel", token);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund"), "status"), "none");
    itest_resp_free(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_makes_one_express_account_and_an_onboarding_link),
        cmocka_unit_test(test_connects_racing_each_other_make_one_account),
        cmocka_unit_test(test_status_refresh_reads_the_account_from_stripe),
        cmocka_unit_test(test_account_updated_applies_newest_first_and_only_to_its_studio),
        cmocka_unit_test(test_payments_routes_need_their_permissions),
        cmocka_unit_test(test_a_deposit_is_paid_into_the_studio_account_with_the_plan_fee),
        cmocka_unit_test(test_a_paid_deposit_confirms_the_booking_once_and_mails_the_customer),
        cmocka_unit_test(test_create_payment_needs_a_connected_account_with_charges_enabled),
        cmocka_unit_test(test_create_payment_needs_the_manage_token),
        cmocka_unit_test(test_stripe_failing_on_create_payment_or_connect_records_nothing),
        cmocka_unit_test(test_events_in_reverse_order_and_twice_end_as_in_order),
        cmocka_unit_test(test_a_failed_or_expired_payment_keeps_the_hold),
        cmocka_unit_test(test_a_delayed_payment_counts_when_it_succeeds),
        cmocka_unit_test(test_tampered_or_misrouted_events_change_nothing),
        cmocka_unit_test(test_a_late_payment_reconfirms_a_free_slot_and_refunds_a_taken_one),
        cmocka_unit_test(test_cancelling_a_paid_booking_refunds_what_the_policy_gives),
        cmocka_unit_test(test_staff_may_set_the_refund_within_what_was_paid),
        cmocka_unit_test(test_cancels_racing_each_other_refund_once),
        cmocka_unit_test(test_stripe_down_leaves_the_refund_pending_and_the_job_sends_it_once),
        cmocka_unit_test(test_stripe_refusing_a_refund_marks_it_failed),
        cmocka_unit_test(test_stripe_timing_out_leaves_the_refund_pending),
        cmocka_unit_test(test_without_a_stripe_key_payments_are_unavailable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
