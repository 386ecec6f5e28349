/*
 * test_provisioning.c — provisioning that dies half-way leaves nothing a
 * user can reach and nothing `studiod tenant repair` cannot clean up.
 *
 * A second studiod runs with STUDIOD_FAULT=provision_after_createdb: it
 * kills itself (SIGKILL) right after CREATE DATABASE, as a crash or an OOM
 * kill would. The normal studiod must then not serve the half-made studio;
 * repair removes its database and row, and the slug can be signed up for
 * again. Repair also drops a studio_* database that no organization owns,
 * and never touches a live studio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"

#define PASSWORD "correct horse battery staple"
#define DEATH_WAIT_MS 15000

static struct studiod_proc *const srv = &itest_server;

static int count(const char *sql, const char *param);
static int database_exists(const char *db);
static void repair(void);

/* count(*)-style query with one parameter, as an int. */
static int count(const char *sql, const char *param)
{
    char *v = itest_pg_value(NULL, sql, param);
    assert_non_null(v);
    int n = atoi(v);
    free(v);
    return n;
}

static int database_exists(const char *db)
{
    return count("SELECT count(*) FROM pg_database WHERE datname = $1", db);
}

static void repair(void)
{
    char out[4096];
    const char *argv[] = {"tenant", "repair", "--older-than", "0", NULL};
    int st = itest_run_cli(argv, NULL, out, sizeof(out));
    if (st != 0)
        fail_msg("`studiod tenant repair --older-than 0` exited %d: %s", st, out);
    assert_non_null(strstr(out, "repaired"));
}

static void test_signup_interrupted_after_createdb_is_not_served_and_repair_removes_it(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    itest_name_studio("interrupted", &s);

    struct studiod_proc doomed;
    const char *fault[] = {"STUDIOD_FAULT=provision_after_createdb", NULL};
    assert_int_equal(itest_start(&doomed, fault), 0);
    int status = itest_signup_studio(&doomed, &s, PASSWORD);
    if (status != 0)
        fail_msg("the signup that kills studiod mid-way was answered %d", status);
    int exit_status = itest_wait_exit(&doomed, DEATH_WAIT_MS);
    if (exit_status == -2) {
        itest_stop(&doomed);
        fail_msg("studiod with the fault still runs after the signup");
    }
    assert_int_equal(exit_status, 128 + SIGKILL);

    /* What it left: a row still provisioning, and the cloned database. */
    char *row = itest_pg_value(NULL, "SELECT status FROM organizations WHERE slug = $1", s.slug);
    assert_non_null(row);
    assert_string_equal(row, "provisioning");
    free(row);
    assert_int_equal(database_exists(s.db), 1);

    /* Nobody reaches the half-made studio. */
    struct itest_resp *r = itest_request(srv, "GET", s.host, "/", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 404);
    assert_string_equal(itest_error_code(r), "unknown_studio");
    itest_resp_free(r);
    char body[256];
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", s.email, PASSWORD);
    r = itest_request(srv, "POST", s.host, "/login", "application/json", body, NULL, NULL);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);

    repair();
    assert_int_equal(database_exists(s.db), 0);
    assert_int_equal(count("SELECT count(*) FROM organizations WHERE slug = $1", s.slug), 0);

    /* The address is free again, and this time the studio is made and served. */
    assert_int_equal(itest_signup_studio(srv, &s, PASSWORD), 201);
    assert_int_equal(database_exists(s.db), 1);
    r = itest_request(srv, "GET", s.host, "/", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, NULL, NULL), 200);
}

static void test_repair_drops_an_orphan_studio_database_and_keeps_live_studios(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    char suffix[64], orphan[80], sql[160];
    itest_unique_slug("x", suffix); /* "x-" + 8 of [a-z0-9] */
    snprintf(orphan, sizeof(orphan), "studio_orphan%s", suffix + 2);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", orphan);
    assert_int_equal(itest_pg_exec(NULL, sql), 0);
    assert_int_equal(database_exists(orphan), 1);

    struct itest_studio live;
    itest_name_studio("live", &live);
    assert_int_equal(itest_signup_studio(srv, &live, PASSWORD), 201);

    repair();
    assert_int_equal(database_exists(orphan), 0);
    assert_int_equal(database_exists(live.db), 1);
    assert_int_equal(itest_login(srv, live.slug, live.email, PASSWORD, NULL, NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_signup_interrupted_after_createdb_is_not_served_and_repair_removes_it),
        cmocka_unit_test(test_repair_drops_an_orphan_studio_database_and_keeps_live_studios),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
