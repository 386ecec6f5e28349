/*
 * test_db_restart.c — PostgreSQL goes away and comes back while studiod
 * runs: meanwhile requests that need it get a prompt 503
 * database_unavailable (never a hang, never a crash) and /readyz says 503
 * so a load balancer stops sending traffic; once PostgreSQL is back, the
 * same studiod — not restarted — serves the same signed-in user again.
 *
 * The suite stops and starts the test cluster itself (as scripts/pg.sh runs
 * it: pg_ctl as the postgres user, settings in the cluster's own
 * configuration), and its teardowns start it again whatever happened, so
 * the suites that run after this one find it up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"

#define PASSWORD "correct horse battery staple"
#define READY_WAIT_MS 30000
/* A request while the database is down must be answered within the pool wait plus
 * connection attempts; anything near the client's 30 s timeout is a hang. */
#define DOWN_ANSWER_MAX_S (ITEST_POOL_WAIT_MS / 1000.0 + 5.0)

static struct studiod_proc *const srv = &itest_server;

static int restore_postgresql(void **state);
static void assert_unavailable(const struct itest_resp *r, const char *what);

/* Starts the test cluster again if a test left it stopped. */
static int restore_postgresql(void **state)
{
    (void)state;
    if (itest_env_missing() || itest_pg_running())
        return 0;
    fprintf(stderr, "itest: starting PostgreSQL again (%s)\n", getenv("STUDIOD_TEST_PGDATA"));
    return itest_pg_ctl("start") == 0 ? 0 : -1;
}

static void assert_unavailable(const struct itest_resp *r, const char *what)
{
    if (r->status != 503)
        fail_msg("%s with PostgreSQL down: expected 503, got %ld %s%s", what, r->status, r->body,
                 r->error);
    const char *code = itest_error_code(r);
    if (!code || strcmp(code, "database_unavailable") != 0)
        fail_msg("%s with PostgreSQL down: expected error.code database_unavailable, got %s", what,
                 r->body);
    if (r->seconds > DOWN_ANSWER_MAX_S)
        fail_msg("%s with PostgreSQL down took %.1f s (limit %.1f s)", what, r->seconds,
                 DOWN_ANSWER_MAX_S);
}

static int group_setup(void **state)
{
    if (restore_postgresql(state) != 0)
        return -1;
    return itest_suite_setup(state);
}

static int group_teardown(void **state)
{
    int rc = restore_postgresql(state);
    if (itest_suite_teardown(state) != 0)
        rc = -1;
    return rc;
}

static void
test_postgresql_restart_gives_503_meanwhile_and_the_same_session_works_after(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    itest_name_studio("restart", &s);
    assert_int_equal(itest_signup_studio(srv, &s, PASSWORD), 201);
    struct itest_cookies jar = {0};
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, &jar, NULL), 200);
    struct itest_resp *r = itest_request(srv, "GET", s.host, "/api/me", NULL, NULL, NULL, &jar);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    assert_int_equal(itest_pg_ctl("stop"), 0);
    assert_false(itest_pg_running());

    r = itest_request(srv, "GET", NULL, "/readyz", NULL, NULL, NULL, NULL);
    assert_unavailable(r, "GET /readyz");
    itest_resp_free(r);
    r = itest_request(srv, "GET", s.host, "/api/me", NULL, NULL, NULL, &jar);
    assert_unavailable(r, "GET /api/me");
    itest_resp_free(r);
    assert_string_not_equal(jar.session, ""); /* an outage does not sign anyone out */
    r = itest_request(srv, "GET", NULL, "/healthz", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200); /* the process itself is fine */
    itest_resp_free(r);

    assert_int_equal(itest_pg_ctl("start"), 0);
    double deadline = itest_now_ms() + READY_WAIT_MS;
    long ready;
    for (;;) {
        r = itest_request(srv, "GET", NULL, "/readyz", NULL, NULL, NULL, NULL);
        ready = r->status;
        itest_resp_free(r);
        if (ready == 200 || itest_now_ms() > deadline)
            break;
        itest_pause_ms(100);
    }
    if (ready != 200)
        fail_msg("/readyz still %ld %d ms after PostgreSQL came back", ready, READY_WAIT_MS);

    r = itest_request(srv, "GET", s.host, "/api/me", NULL, NULL, NULL, &jar);
    if (r->status != 200)
        fail_msg("/api/me after PostgreSQL came back: %ld %s", r->status, r->body);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "user"), "email")), s.email);
    itest_resp_free(r);
    /* and new work too: another sign-in opens another session */
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, NULL, NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_postgresql_restart_gives_503_meanwhile_and_the_same_session_works_after,
            restore_postgresql),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
