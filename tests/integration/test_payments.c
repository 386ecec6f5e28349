/*
 * test_payments.c — booking deposits paid through Stripe Checkout, against
 * tests/fakes/stripe_fake.py (a Stripe stand-in started here) and a studiod
 * of its own whose STRIPE_API_BASE points at the fake.
 *
 * The specification: create-payment makes a Checkout Session for the
 * deposit (Bearer key, Idempotency-Key, the deposit as unit_amount); the
 * signed checkout.session.completed event marks the booking paid and
 * confirms it; a replayed event changes nothing; a badly signed one is 400;
 * a paid booking cannot be paid again (409); without STRIPE_SECRET_KEY
 * payments are unavailable (422).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest_harness.h"

#define PASSWORD "correct horse battery staple"
#define TZ "Europe/Paris"
#define WEBHOOK_SECRET "whsec_test"
#define PYTHON "/usr/bin/python3"
#define FAKE_WAIT_MS 10000

static struct studiod_proc *const srv = &itest_server;

/* The fake and the studiod that talks to it, shared by the tests that need them. */
static struct studiod_proc fake; /* only port and base are used */
static pid_t fake_pid;
static struct studiod_proc paysrv; /* pid 0 when not started */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int fake_start(void)
{
    const char *home = getenv("STUDIOD_HOME");
    char script[512], portarg[16];
    snprintf(script, sizeof(script), "%s/tests/fakes/stripe_fake.py", home ? home : ".");
    fake.port = free_port();
    if (fake.port < 0)
        return -1;
    snprintf(portarg, sizeof(portarg), "%d", fake.port);
    snprintf(fake.base, sizeof(fake.base), "http://127.0.0.1:%d", fake.port);
    fake_pid = fork();
    if (fake_pid < 0)
        return -1;
    if (fake_pid == 0) {
        char log[128];
        snprintf(log, sizeof(log), "/tmp/itest-stripe-fake-%d.log", fake.port);
        if (!freopen(log, "w", stderr))
            _exit(126);
        execl(PYTHON, PYTHON, script, portarg, (char *)NULL);
        _exit(127);
    }
    double until = itest_now_ms() + FAKE_WAIT_MS;
    while (itest_now_ms() < until) {
        struct itest_resp *r =
            itest_request(&fake, "GET", NULL, "/_fake/requests", NULL, NULL, NULL, NULL);
        long st = r->status;
        itest_resp_free(r);
        if (st == 200)
            return 0;
        itest_pause_ms(50);
    }
    fprintf(stderr, "stripe fake did not answer on port %d\n", fake.port);
    return -1;
}

static void fake_stop(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
        fake_pid = 0;
    }
}

static int group_setup(void **state)
{
    if (itest_suite_setup(state) != 0)
        return -1;
    if (itest_missing_env)
        return 0;
    if (fake_start() != 0)
        return -1;
    char base[96];
    snprintf(base, sizeof(base), "STRIPE_API_BASE=%s", fake.base);
    const char *env[] = {base, "STRIPE_SECRET_KEY=sk_test_x",
                         "STRIPE_WEBHOOK_SECRET=" WEBHOOK_SECRET, NULL};
    return itest_start(&paysrv, env);
}

static int group_teardown(void **state)
{
    int rc = 0;
    if (paysrv.pid && itest_stop(&paysrv) != 0)
        rc = -1;
    fake_stop();
    if (itest_suite_teardown(state) != 0)
        rc = -1;
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v)
        fail_msg("no string \"%s\"", key);
    return v;
}

static void sql(const char *db, const char *stmt)
{
    assert_int_equal(itest_pg_exec(db, stmt), 0);
}

static char *value(const char *db, const char *stmt, const char *arg)
{
    char *v = itest_pg_value(db, stmt, arg);
    assert_non_null(v);
    return v;
}

/* A studio on p with a room at 20.00/h and a 50% deposit. The room id into room (64). */
static void studio_with_deposit(const struct studiod_proc *p, const char *prefix,
                                struct itest_studio *s, char *room)
{
    itest_name_studio(prefix, s);
    assert_int_equal(itest_signup_studio(p, s, PASSWORD), 201);
    sql(s->db, "UPDATE studio_settings SET deposit_type = 'percent', deposit_value = 50,"
               " auto_confirm = true");
    char *id =
        value(s->db, "INSERT INTO rooms (name, hourly_rate) VALUES ($1, 2000) RETURNING id", "A");
    snprintf(room, 64, "%s", id);
    free(id);
}

/* A public booking of 2 hours ten days ahead (201); its ref and token into ref/token (128). */
static void book(const struct studiod_proc *p, const struct itest_studio *s, const char *room,
                 char *ref, char *token)
{
    char *starts = value(NULL,
                         "SELECT to_char((((now() AT TIME ZONE $1)::date + 10 + time '14:00')"
                         " AT TIME ZONE $1) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                         TZ);
    char *ends = value(NULL,
                       "SELECT to_char((((now() AT TIME ZONE $1)::date + 10 + time '16:00')"
                       " AT TIME ZONE $1) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                       TZ);
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at", starts, "ends_at",
                  ends, "customer", "name", "Ada Lovelace", "email", "ada@example.com");
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    struct itest_resp *r = itest_request(p, "POST", s->host, "/api/public/booking",
                                         "application/json", text, NULL, NULL);
    free(text);
    free(starts);
    free(ends);
    if (r->status != 201)
        fail_msg("booking: %ld %s", r->status, r->body);
    assert_string_equal(str(r->json, "status"), "pending");
    snprintf(ref, 128, "%s", str(r->json, "ref"));
    snprintf(token, 128, "%s", str(r->json, "manage_token"));
    itest_resp_free(r);
}

static struct itest_resp *create_payment(const struct studiod_proc *p, const struct itest_studio *s,
                                         const char *ref, const char *token)
{
    char path[256], header[200];
    snprintf(path, sizeof(path), "/api/public/booking/%s/create-payment", ref);
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *headers[] = {header, NULL};
    return itest_request(p, "POST", s->host, path, NULL, NULL, headers, NULL);
}

/* The last request the fake recorded to path (json_decref it), or NULL. */
static json_t *fake_last(const char *path)
{
    struct itest_resp *r =
        itest_request(&fake, "GET", NULL, "/_fake/requests", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    json_t *found = NULL, *req;
    size_t i;
    json_array_foreach(json_object_get(r->json, "requests"), i, req)
    {
        if (strcmp(str(req, "path"), path) == 0 && strcmp(str(req, "method"), "POST") == 0)
            found = req;
    }
    json_incref(found);
    itest_resp_free(r);
    return found;
}

/* Asks the fake to deliver an event (complete: a session id; resend: an event id) to
 * paysrv's webhook, signed with secret; the fake's reply (itest_resp_free it). */
static struct itest_resp *fake_send(const char *action, const char *what, const char *id,
                                    const char *secret)
{
    char path[512];
    snprintf(path, sizeof(path),
             "/_fake/%s?%s=%s&target=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fapi%%2Fstripe%%2Fwebhook"
             "&secret=%s",
             action, what, id, paysrv.port, secret);
    struct itest_resp *r = itest_request(&fake, "POST", NULL, path, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    return r;
}

static long delivered(const struct itest_resp *r)
{
    return (long)json_integer_value(json_object_get(r->json, "delivered_status"));
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_a_deposit_is_paid_through_checkout_and_the_signed_event_confirms_it(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    char room[64], ref[128], token[128];
    studio_with_deposit(&paysrv, "pay", &s, room);
    book(&paysrv, &s, room, ref, token);
    char *deposit = value(s.db, "SELECT deposit_amount::text FROM bookings WHERE ref = $1", ref);
    assert_string_equal(deposit, "2000");

    /* create-payment: a Checkout Session for the deposit */
    struct itest_resp *r = create_payment(&paysrv, &s, ref, token);
    if (r->status != 200)
        fail_msg("create-payment: %ld %s", r->status, r->body);
    char session[128];
    snprintf(session, sizeof(session), "%s", str(r->json, "session_id"));
    assert_true(strncmp(session, "cs_test_", 8) == 0);
    assert_true(strncmp(str(r->json, "checkout_url"), fake.base, strlen(fake.base)) == 0);
    itest_resp_free(r);

    json_t *sent = fake_last("/v1/checkout/sessions");
    assert_non_null(sent);
    json_t *h = json_object_get(sent, "headers"), *form = json_object_get(sent, "form");
    assert_string_equal(str(h, "Authorization"), "Bearer sk_test_x");
    char *bid = value(s.db, "SELECT id FROM bookings WHERE ref = $1", ref);
    char key[128];
    snprintf(key, sizeof(key), "booking-%s-deposit-2000", bid);
    assert_string_equal(str(h, "Idempotency-Key"), key);
    assert_string_equal(str(form, "line_items[0][price_data][unit_amount]"), deposit);
    assert_string_equal(str(form, "line_items[0][price_data][currency]"), "eur");
    assert_string_equal(str(form, "line_items[0][quantity]"), "1");
    assert_string_equal(str(form, "mode"), "payment");
    assert_string_equal(str(form, "metadata[booking_ref]"), ref);
    assert_string_equal(str(form, "metadata[tenant]"), s.slug);
    assert_non_null(strstr(str(form, "success_url"), "paid=1"));
    json_decref(sent);
    char *open = value(s.db, "SELECT status FROM payments WHERE checkout_session_id = $1", session);
    assert_string_equal(open, "open");
    free(open);

    /* a retried click gets the same session (same Idempotency-Key) and no second row */
    r = create_payment(&paysrv, &s, ref, token);
    assert_int_equal(r->status, 200);
    assert_string_equal(str(r->json, "session_id"), session);
    itest_resp_free(r);
    char *rows = value(s.db, "SELECT count(*)::text FROM payments WHERE booking_id = $1", bid);
    assert_string_equal(rows, "1");
    free(rows);

    /* Stripe's signed event: paid and confirmed */
    r = fake_send("complete", "session", session, WEBHOOK_SECRET);
    if (delivered(r) != 200)
        fail_msg("webhook: %s", r->body);
    char event[128];
    snprintf(event, sizeof(event), "%s", str(r->json, "event_id"));
    itest_resp_free(r);
    char *state_now =
        value(s.db, "SELECT status || ' ' || paid_amount FROM bookings WHERE id = $1", bid);
    assert_string_equal(state_now, "confirmed 2000");
    free(state_now);
    char *paid = value(s.db, "SELECT status FROM payments WHERE checkout_session_id = $1", session);
    assert_string_equal(paid, "paid");
    free(paid);
    char *audited = value(s.db,
                          "SELECT count(*)::text FROM audit_log WHERE resource = 'bookings'"
                          " AND resource_id = $1 AND action = 'payment'",
                          bid);
    assert_string_equal(audited, "1");
    free(audited);
    char *recorded = value(NULL, "SELECT type FROM stripe_events WHERE event_id = $1", event);
    assert_string_equal(recorded, "checkout.session.completed");
    free(recorded);

    /* the same event again: 200, nothing changes */
    r = fake_send("resend", "event", event, WEBHOOK_SECRET);
    assert_int_equal(delivered(r), 200);
    itest_resp_free(r);
    char *again = value(s.db, "SELECT paid_amount::text FROM bookings WHERE id = $1", bid);
    assert_string_equal(again, "2000");
    free(again);

    /* a bad signature: 400 bad_signature, nothing changes */
    r = fake_send("resend", "event", event, "whsec_wrong");
    assert_int_equal(delivered(r), 400);
    assert_non_null(strstr(str(r->json, "delivered_body"), "bad_signature"));
    itest_resp_free(r);
    struct itest_resp *raw = itest_request(&paysrv, "POST", NULL, "/api/stripe/webhook",
                                           "application/json", "{}", NULL, NULL);
    assert_int_equal(raw->status, 400);
    assert_string_equal(itest_error_code(raw), "bad_signature");
    itest_resp_free(raw);

    /* paid: no second payment */
    r = create_payment(&paysrv, &s, ref, token);
    assert_int_equal(r->status, 409);
    itest_resp_free(r);

    free(bid);
    free(deposit);
}

static void test_create_payment_needs_the_manage_token(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    char room[64], ref[128], token[128];
    studio_with_deposit(&paysrv, "paytok", &s, room);
    book(&paysrv, &s, room, ref, token);
    struct itest_resp *r = create_payment(&paysrv, &s, ref, "wrong");
    assert_int_equal(r->status, 403);
    assert_string_equal(itest_error_code(r), "invalid_token");
    itest_resp_free(r);
    r = create_payment(&paysrv, &s, "NOSUCHREF", token);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);
}

static void test_without_a_stripe_key_payments_are_unavailable(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    char room[64], ref[128], token[128];
    studio_with_deposit(srv, "paynone", &s, room);
    book(srv, &s, room, ref, token);
    struct itest_resp *r = create_payment(srv, &s, ref, token);
    assert_int_equal(r->status, 422);
    assert_string_equal(itest_error_code(r), "payments_unavailable");
    itest_resp_free(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_deposit_is_paid_through_checkout_and_the_signed_event_confirms_it),
        cmocka_unit_test(test_create_payment_needs_the_manage_token),
        cmocka_unit_test(test_without_a_stripe_key_payments_are_unavailable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
