/*
 * test_pool.c — the connection pools against a real PostgreSQL
 * (STUDIOD_DATABASE_URL): bounds per database and in total, least recently
 * used idle connections closed first, a bounded wait, and dead connections
 * replaced on checkout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "studiod/config.h"
#include "studiod/db.h"

static const char *url;
static char db_a[64], db_b[64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void exec_master(const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, sql);
    assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(pg);
}

static int setup(void **state)
{
    (void)state;
    url = getenv("STUDIOD_DATABASE_URL");
    if (!url)
        return 0;
    snprintf(db_a, sizeof(db_a), "pooltest_a_%d", (int)getpid());
    snprintf(db_b, sizeof(db_b), "pooltest_b_%d", (int)getpid());
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_a);
    exec_master(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_b);
    exec_master(sql);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!url)
        return 0;
    db_shutdown();
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_a);
    exec_master(sql);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_b);
    exec_master(sql);
    return 0;
}

static int reset_pools(void **state)
{
    (void)state;
    if (!url)
        return 0;
    db_shutdown();
    /* 2 per database, 3 in all, 300 ms wait, no idle reaping */
    db_init(url, 2, 3, 300, 0);
    return 0;
}

static void test_a_full_database_pool_makes_the_next_caller_wait_then_give_up(void **state)
{
    (void)state;
    if (!url)
        skip();
    struct db_conn *c1 = db_acquire(NULL, db_a), *c2 = db_acquire(NULL, db_a);
    assert_non_null(c1);
    assert_non_null(c2);
    double t0 = now_s();
    struct db_conn *c3 = db_acquire(NULL, db_a);
    double waited = now_s() - t0;
    assert_null(c3);
    assert_true(waited >= 0.25 && waited < 3.0);
    struct db_pool_stats s;
    db_stats(&s);
    assert_int_equal(s.in_use, 2);
    assert_true(s.timeouts >= 1);
    /* another database still gets one: the bound is per database */
    struct db_conn *b = db_acquire(NULL, db_b);
    assert_non_null(b);
    db_release(b);
    db_release(c1);
    db_release(c2);
}

static void test_a_released_connection_is_reused_not_reopened(void **state)
{
    (void)state;
    if (!url)
        skip();
    struct db_conn *c = db_acquire(NULL, db_a);
    assert_non_null(c);
    PGconn *pg = c->pg;
    db_release(c);
    c = db_acquire(NULL, db_a);
    assert_ptr_equal(c->pg, pg);
    db_release(c);
    struct db_pool_stats s;
    db_stats(&s);
    assert_int_equal(s.opened, 1);
    assert_int_equal(s.idle, 1);
}

static void test_the_total_bound_closes_the_least_recently_used_idle_connection(void **state)
{
    (void)state;
    if (!url)
        skip();
    struct db_conn *a1 = db_acquire(NULL, db_a), *a2 = db_acquire(NULL, db_a);
    assert_non_null(a1);
    assert_non_null(a2);
    db_release(a1); /* a1 idle first: least recently used */
    db_release(a2);
    struct db_conn *m = db_acquire_master(); /* 3rd connection: total now full */
    assert_non_null(m);
    struct db_conn *b = db_acquire(NULL, db_b); /* needs a slot: closes an idle one */
    assert_non_null(b);
    struct db_pool_stats s;
    db_stats(&s);
    assert_int_equal(s.in_use, 2);
    assert_int_equal(s.idle, 1);
    assert_int_equal(s.closed, 1);
    db_release(b);
    db_release(m);
}

static void test_a_connection_killed_by_the_server_is_replaced_on_checkout(void **state)
{
    (void)state;
    if (!url)
        skip();
    struct db_conn *c = db_acquire(NULL, db_a);
    assert_non_null(c);
    int pid = PQbackendPID(c->pg);
    db_release(c);
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
    exec_master(sql);
    /* The server closes the socket asynchronously; a checkout must never hand out a
     * dead connection, whatever the timing, so the query below must succeed. */
    c = db_acquire(NULL, db_a);
    assert_non_null(c);
    PGresult *r = db_exec(c, "SELECT 1", 0, NULL, NULL);
    if (!r) {
        /* the FATAL arrived between the health check and the query: broken, and dropped */
        assert_true(c->broken);
        db_release(c);
        c = db_acquire(NULL, db_a);
        r = db_exec(c, "SELECT 1", 0, NULL, NULL);
    }
    assert_non_null(r);
    PQclear(r);
    assert_int_not_equal(PQbackendPID(c->pg), pid);
    db_release(c);
}

static void test_a_transaction_left_open_is_rolled_back_on_release(void **state)
{
    (void)state;
    if (!url)
        skip();
    struct db_conn *c = db_acquire(NULL, db_a);
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(db_run(c, "CREATE TABLE IF NOT EXISTS t (x int)", 0, NULL), 0);
    db_release(c);
    c = db_acquire(NULL, db_a);
    PGresult *r = db_exec(c, "SELECT to_regclass('t') IS NULL AS gone", 0, NULL, NULL);
    assert_non_null(r);
    assert_string_equal(db_get(r, 0, "gone"), "t");
    PQclear(r);
    db_release(c);
}

static void test_an_unreachable_server_fails_fast(void **state)
{
    (void)state;
    if (!url)
        skip();
    double t0 = now_s();
    struct db_conn *c = db_acquire("postgresql://postgres@127.0.0.1:1/x", NULL);
    assert_null(c);
    assert_true(now_s() - t0 < 5.0);
}

int main(void)
{
    config_load();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_a_full_database_pool_makes_the_next_caller_wait_then_give_up,
                               reset_pools),
        cmocka_unit_test_setup(test_a_released_connection_is_reused_not_reopened, reset_pools),
        cmocka_unit_test_setup(test_the_total_bound_closes_the_least_recently_used_idle_connection,
                               reset_pools),
        cmocka_unit_test_setup(test_a_connection_killed_by_the_server_is_replaced_on_checkout,
                               reset_pools),
        cmocka_unit_test_setup(test_a_transaction_left_open_is_rolled_back_on_release, reset_pools),
        cmocka_unit_test_setup(test_an_unreachable_server_fails_fast, reset_pools),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
