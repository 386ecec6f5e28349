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

static struct studiod_proc srv;
static const char *missing_env;

#define REQUIRE_SERVER()                                                                           \
    do {                                                                                           \
        if (missing_env) {                                                                         \
            print_message("skipped: %s is not set (run scripts/test)\n", missing_env);             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

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

static int group_setup(void **state)
{
    (void)state;
    missing_env = itest_env_missing();
    if (missing_env)
        return 0;
    return itest_start(&srv, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (srv.pid > 0 && itest_stop(&srv) != 0)
        return -1;
    return 0;
}

static void test_signup_interrupted_after_createdb_is_not_served_and_repair_removes_it(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    char slug[64], email[128], db[80], host[128];
    itest_unique_slug("interrupted", slug);
    snprintf(email, sizeof(email), "owner-%s@example.com", slug);
    itest_studio_db(slug, db);
    itest_studio_host(slug, host);

    struct studiod_proc doomed;
    const char *fault[] = {"STUDIOD_FAULT=provision_after_createdb", NULL};
    assert_int_equal(itest_start(&doomed, fault), 0);
    json_t *j = NULL;
    int status = itest_signup(&doomed, slug, email, PASSWORD, &j);
    json_decref(j);
    if (status != 0)
        fail_msg("the signup that kills studiod mid-way was answered %d", status);
    int exit_status = itest_wait_exit(&doomed, DEATH_WAIT_MS);
    if (exit_status == -2) {
        itest_stop(&doomed);
        fail_msg("studiod with the fault still runs after the signup");
    }
    assert_int_equal(exit_status, 128 + SIGKILL);

    /* What it left: a row still provisioning, and the cloned database. */
    char *row = itest_pg_value(NULL, "SELECT status FROM organizations WHERE slug = $1", slug);
    assert_non_null(row);
    assert_string_equal(row, "provisioning");
    free(row);
    assert_int_equal(database_exists(db), 1);

    /* Nobody reaches the half-made studio. */
    struct itest_resp *r = itest_request(&srv, "GET", host, "/", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 404);
    assert_string_equal(itest_error_code(r), "unknown_studio");
    itest_resp_free(r);
    char body[256];
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, PASSWORD);
    r = itest_request(&srv, "POST", host, "/login", "application/json", body, NULL, NULL);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);

    repair();
    assert_int_equal(database_exists(db), 0);
    assert_int_equal(count("SELECT count(*) FROM organizations WHERE slug = $1", slug), 0);

    /* The address is free again, and this time the studio is made and served. */
    assert_int_equal(itest_signup(&srv, slug, email, PASSWORD, NULL), 201);
    assert_int_equal(database_exists(db), 1);
    r = itest_request(&srv, "GET", host, "/", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    assert_int_equal(itest_login(&srv, slug, email, PASSWORD, NULL, NULL), 200);
}

static void test_repair_drops_an_orphan_studio_database_and_keeps_live_studios(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    char suffix[64], orphan[80], sql[160];
    itest_unique_slug("x", suffix); /* "x-" + 8 of [a-z0-9] */
    snprintf(orphan, sizeof(orphan), "studio_orphan%s", suffix + 2);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", orphan);
    assert_int_equal(itest_pg_exec(NULL, sql), 0);
    assert_int_equal(database_exists(orphan), 1);

    char live[64], email[128], live_db[80];
    itest_unique_slug("live", live);
    snprintf(email, sizeof(email), "owner-%s@example.com", live);
    assert_int_equal(itest_signup(&srv, live, email, PASSWORD, NULL), 201);
    itest_studio_db(live, live_db);

    repair();
    assert_int_equal(database_exists(orphan), 0);
    assert_int_equal(database_exists(live_db), 1);
    assert_int_equal(itest_login(&srv, live, email, PASSWORD, NULL, NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_signup_interrupted_after_createdb_is_not_served_and_repair_removes_it),
        cmocka_unit_test(test_repair_drops_an_orphan_studio_database_and_keeps_live_studios),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
