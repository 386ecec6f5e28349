/*
 * test_caches.c — what studiod processes cache (staff sessions: auth.c;
 * public availability answers: availability_cache.c; both in tcache.h) never outlives a change made
 * through studiod: two processes share one PostgreSQL, one (B) caches, the change is
 * made through the other (A), and B must show it at once (cache_bus.h).
 *
 * What a user would notice: signing out in one browser tab served by A signs the
 * cookie out on B too; an owner's change made through A shows on B at once; and
 * while B cannot hear A (its LISTEN connection is cut), B does not answer from an
 * old copy. The cache is visible only where the design says it may be: a change
 * made by SQL outside studiod shows within the entry's lifetime.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest_harness.h"
#include "studiod/arena.h"
#include "studiod/crypto.h"

#define PASSWORD "cache-password-123"
#define WAIT_MS 5000 /* for a change to reach the other process */
#define AVAIL_TTL_TEXT "3"
#define AVAIL_TTL_MS 3000

static struct studiod_proc *a = &itest_server; /* default cache lifetime (20 s) */
static struct studiod_proc b_proc; /* sessions cached 40 s, never the reason a change shows;
                                      availability answers 3 s */
static struct studiod_proc *b = &b_proc;

static int setup(void **state)
{
    if (itest_suite_setup(state) != 0)
        return -1;
    if (itest_missing_env)
        return 0;
    const char *env[] = {"STUDIOD_SESSION_CACHE_SECONDS=40",
                         "STUDIOD_AVAILABILITY_CACHE_SECONDS=" AVAIL_TTL_TEXT, NULL};
    return itest_start(b, env);
}

static int teardown(void **state)
{
    int rc = b->pid ? itest_stop(b) : 0;
    int rc2 = itest_suite_teardown(state);
    return rc == 0 && rc2 == 0 ? 0 : -1;
}

/* GET /api/me on p: status, and the user's name into name_out (≥ 128 bytes) on 200. */
static long me(const struct studiod_proc *p, const struct itest_studio *s,
               struct itest_cookies *jar, char *name_out)
{
    struct itest_resp *r = itest_request(p, "GET", s->host, "/api/me", NULL, NULL, NULL, jar);
    long status = r->status;
    if (name_out) {
        name_out[0] = '\0';
        json_t *n = r->json ? json_object_get(json_object_get(r->json, "user"), "name") : NULL;
        if (status == 200 && json_is_string(n))
            snprintf(name_out, 128, "%s", json_string_value(n));
    }
    itest_resp_free(r);
    return status;
}

/* Polls /api/me on p until it answers want_status (and, if want_name, that name), up to
 * WAIT_MS. The milliseconds it took, or -1 when it never did. */
static long long wait_me(const struct studiod_proc *p, const struct itest_studio *s,
                         struct itest_cookies *jar, long want_status, const char *want_name)
{
    double start = itest_now_ms(), now;
    for (;;) {
        char name[128];
        long st = me(p, s, jar, name);
        now = itest_now_ms();
        if (st == want_status && (!want_name || strcmp(name, want_name) == 0))
            return (long long)(now - start);
        if (now - start > WAIT_MS)
            return -1;
        itest_pause_ms(20);
    }
}

static void studio_signed_in(const char *prefix, struct itest_studio *s, struct itest_cookies *jar,
                             char *csrf)
{
    itest_name_studio(prefix, s);
    assert_int_equal(itest_signup_studio(a, s, PASSWORD), 201);
    assert_int_equal(itest_login(a, s->slug, s->email, PASSWORD, jar, csrf), 200);
}

/* POST path on A as signed-in staff (with the CSRF token), JSON body or none: the status;
 * the new resource's id into id_out (≥ 64 bytes) when asked and answered. */
static long staff_post(const struct itest_studio *s, struct itest_cookies *jar, const char *csrf,
                       const char *path, const char *json, char *id_out)
{
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    const char *h[] = {hdr, NULL};
    struct itest_resp *r =
        itest_request(a, "POST", s->host, path, json ? "application/json" : NULL, json, h, jar);
    long status = r->status;
    const char *id = json_string_value(json_object_get(r->json, "id"));
    if (id_out)
        snprintf(id_out, 64, "%s", id ? id : "");
    itest_resp_free(r);
    return status;
}

static void rename_owner_by_sql(const struct itest_studio *s, const char *name)
{
    assert_int_equal(itest_pg_exec(s->db,
                                   "UPDATE users SET name = $1 WHERE lower(email) = lower($2)",
                                   name, s->email),
                     0);
}

static void test_signing_out_through_one_process_ends_the_session_on_the_other(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128];
    studio_signed_in("cache-out", &s, &jar, csrf);
    struct itest_cookies copy = jar; /* the same cookie, kept after the browser drops it */

    assert_int_equal(me(b, &s, &copy, NULL), 200); /* B has it cached now */
    assert_int_equal(me(b, &s, &copy, NULL), 200);

    assert_int_equal(staff_post(&s, &jar, csrf, "/logout", NULL, NULL), 200);

    assert_int_equal(me(a, &s, &copy, NULL), 401); /* A: at once */
    long long ms = wait_me(b, &s, &copy, 401, NULL);
    if (ms < 0)
        fail_msg("B still accepts a session signed out through A after %d ms", WAIT_MS);
    print_message("signed out on B %lld ms after the logout on A\n", ms);
}

static void test_a_staff_change_through_one_process_reaches_the_other_at_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128], name[128];
    studio_signed_in("cache-change", &s, &jar, csrf);
    assert_int_equal(me(b, &s, &jar, name), 200);
    char first[128];
    snprintf(first, sizeof(first), "%s", name);

    /* A change studiod does not see (SQL) is not shown by B while its copy lives... */
    rename_owner_by_sql(&s, "Renamed Behind The Back");
    assert_int_equal(me(b, &s, &jar, name), 200);
    assert_string_equal(name, first);

    /* ...but any change made by staff through A drops B's copies of this studio. */
    assert_int_equal(staff_post(&s, &jar, csrf, "/api/rooms",
                                "{\"name\": \"Live room\", \"hourly_rate\": 2500}", NULL),
                     201);
    long long ms = wait_me(b, &s, &jar, 200, "Renamed Behind The Back");
    if (ms < 0)
        fail_msg("B did not drop its cached session after a change through A");
    print_message("B showed the change %lld ms after it was made through A\n", ms);
}

static void test_a_role_taken_away_by_sql_ends_with_its_expiry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128];
    studio_signed_in("cache-expiry", &s, &jar, csrf);
    /* The owner role expires in 2 s: the cached copy must not outlive it. */
    assert_int_equal(itest_pg_exec(s.db,
                                   "UPDATE user_roles SET expires_at = now() + interval '2 seconds'"
                                   " WHERE user_id = (SELECT id FROM users"
                                   "                   WHERE lower(email) = lower($1))",
                                   s.email),
                     0);
    struct itest_resp *r = itest_request(b, "GET", s.host, "/api/me", NULL, NULL, NULL, &jar);
    assert_int_equal(r->status, 200);
    assert_true(json_array_size(json_object_get(r->json, "roles")) > 0);
    itest_resp_free(r);

    double start = itest_now_ms(), now;
    for (;;) {
        r = itest_request(b, "GET", s.host, "/api/me", NULL, NULL, NULL, &jar);
        assert_int_equal(r->status, 200);
        size_t n = json_array_size(json_object_get(r->json, "roles"));
        itest_resp_free(r);
        now = itest_now_ms();
        if (n == 0)
            break;
        if (now - start > 2000 + WAIT_MS)
            fail_msg("B still lists the expired role %.0f ms later", now - start);
        itest_pause_ms(50);
    }
}

static void test_without_its_listen_connection_a_process_does_not_serve_old_copies(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128], name[128];
    studio_signed_in("cache-deaf", &s, &jar, csrf);
    assert_int_equal(me(b, &s, &jar, name), 200);

    /* Cut every studiod's LISTEN connection, then change the user behind studiod's back:
     * a process that can no longer hear changes must not answer from its cache. */
    char *n =
        itest_pg_value(NULL, "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity"
                             " WHERE application_name = 'studiod-cache-bus'");
    assert_non_null(n);
    assert_true(atoi(n) >= 2);
    free(n);
    rename_owner_by_sql(&s, "Changed While Deaf");
    long long ms = wait_me(b, &s, &jar, 200, "Changed While Deaf");
    if (ms < 0)
        fail_msg("B answered from its cache while it could not hear changes");

    /* And when it listens again the cache still drops what others change. */
    double start = itest_now_ms(), now;
    for (;;) {
        char *c = itest_pg_value(NULL, "SELECT count(*)::text FROM pg_stat_activity"
                                       " WHERE application_name = 'studiod-cache-bus'");
        int listening = c ? atoi(c) : 0;
        free(c);
        if (listening >= 2)
            break;
        now = itest_now_ms();
        if (now - start > WAIT_MS)
            fail_msg("the LISTEN connections did not come back");
        itest_pause_ms(50);
    }
    assert_int_equal(me(b, &s, &jar, name), 200);
    assert_int_equal(staff_post(&s, &jar, csrf, "/logout", NULL, NULL), 200);
}

static void test_cached_sessions_stay_in_their_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s1, s2;
    struct itest_cookies jar = {0};
    char csrf[128];
    studio_signed_in("cache-one", &s1, &jar, csrf);
    itest_name_studio("cache-two", &s2);
    assert_int_equal(itest_signup_studio(a, &s2, PASSWORD), 201);
    assert_int_equal(me(b, &s1, &jar, NULL), 200); /* cached for studio 1 */
    assert_int_equal(me(b, &s2, &jar, NULL), 401); /* worthless at studio 2, cache or not */
    assert_int_equal(me(b, &s2, &jar, NULL), 401);
}

static void
test_a_role_taken_away_through_one_process_ends_its_permission_on_the_other(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies owner = {0}, member = {0};
    char csrf[128], member_csrf[128];
    studio_signed_in("cache-perm", &s, &owner, csrf);

    /* A member who may view rooms (the built-in viewer role), signed in. */
    assert_int_equal(crypto_init(), 0);
    struct arena *ar = arena_new(1024);
    const char *hash = crypto_password_hash(ar, PASSWORD);
    assert_non_null(hash);
    char *uid = itest_pg_value(s.db,
                               "INSERT INTO users (email, name, password_hash)"
                               " VALUES ('viewer@example.com', 'A viewer', $1) RETURNING id",
                               hash);
    arena_free(ar);
    char *rid = itest_pg_value(s.db, "SELECT id FROM roles WHERE name = 'viewer'");
    assert_non_null(uid);
    assert_non_null(rid);
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO user_roles (user_id, role_id)"
                                   " VALUES ($1::uuid, $2::uuid)",
                                   uid, rid),
                     0);
    assert_int_equal(itest_login(a, s.slug, "viewer@example.com", PASSWORD, &member, member_csrf),
                     200);
    struct itest_resp *r = itest_request(b, "GET", s.host, "/api/rooms", NULL, NULL, NULL, &member);
    assert_int_equal(r->status, 200); /* B has the session and its permissions cached */
    itest_resp_free(r);

    /* The owner takes the role away through A. */
    char hdr[160], path[192];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", uid, rid);
    const char *h[] = {hdr, NULL};
    r = itest_request(a, "DELETE", s.host, path, NULL, NULL, h, &owner);
    if (r->status >= 300)
        fail_msg("taking the role away: %ld %s", r->status, r->body);
    itest_resp_free(r);
    free(uid);
    free(rid);

    double start = itest_now_ms(), now;
    for (;;) {
        r = itest_request(b, "GET", s.host, "/api/rooms", NULL, NULL, NULL, &member);
        long st = r->status;
        itest_resp_free(r);
        now = itest_now_ms();
        if (st == 403)
            break;
        if (now - start > WAIT_MS)
            fail_msg("B still lets the member view rooms %.0f ms after the role was taken away",
                     now - start);
        itest_pause_ms(20);
    }
    print_message("the permission ended on B %.0f ms after the change on A\n", now - start);
}

/* ---- availability ------------------------------------------------------------------------ */

/* GET /api/public/availability of room on the local day `day` from p: the number of free
 * slots starting at local time hhmm ("14:00") that day (0 or 1), or -1 on an error. */
static int slot_listed(const struct studiod_proc *p, const struct itest_studio *s, const char *room,
                       const char *day, const char *next_day, const char *hhmm)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/public/availability?room_id=%s&from=%s&to=%s", room, day,
             next_day);
    struct itest_resp *r = itest_request(p, "GET", s->host, path, NULL, NULL, NULL, NULL);
    if (r->status != 200) {
        print_message("availability: %ld %s\n", r->status, r->body);
        itest_resp_free(r);
        return -1;
    }
    char want[64];
    snprintf(want, sizeof(want), "%sT%s:00", day, hhmm);
    int found = 0;
    json_t *slot;
    size_t i;
    json_array_foreach(json_object_get(r->json, "slots"), i, slot)
    {
        const char *at = json_string_value(json_object_get(slot, "starts_at"));
        if (at && strncmp(at, want, strlen(want)) == 0)
            found = 1;
    }
    itest_resp_free(r);
    return found;
}

/* Waits up to ms for slot_listed to give want; the milliseconds it took or -1. */
static long long wait_slot(const struct studiod_proc *p, const struct itest_studio *s,
                           const char *room, const char *day, const char *next_day,
                           const char *hhmm, int want, long ms)
{
    double start = itest_now_ms(), now;
    for (;;) {
        int got = slot_listed(p, s, room, day, next_day, hhmm);
        now = itest_now_ms();
        if (got == want)
            return (long long)(now - start);
        if (got < 0 || now - start > ms)
            return -1;
        itest_pause_ms(20);
    }
}

/* A studio with one room, and the local dates of the day after tomorrow and the day after. */
static void studio_with_room(const char *prefix, struct itest_studio *s, struct itest_cookies *jar,
                             char *csrf, char *room, char *day, char *next_day)
{
    studio_signed_in(prefix, s, jar, csrf);
    assert_int_equal(staff_post(s, jar, csrf, "/api/rooms",
                                "{\"name\": \"Cached room\", \"hourly_rate\": 3000}", room),
                     201);
    char *d = itest_pg_value(NULL, "SELECT to_char((now() AT TIME ZONE 'Europe/Paris')::date + 2,"
                                   " 'YYYY-MM-DD')");
    char *n = itest_pg_value(NULL, "SELECT to_char((now() AT TIME ZONE 'Europe/Paris')::date + 3,"
                                   " 'YYYY-MM-DD')");
    assert_non_null(d);
    assert_non_null(n);
    snprintf(day, 16, "%s", d);
    snprintf(next_day, 16, "%s", n);
    free(d);
    free(n);
}

static void test_a_booking_through_one_process_leaves_the_other_s_availability_at_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128], room[64], day[16], next_day[16];
    studio_with_room("avail-book", &s, &jar, csrf, room, day, next_day);
    assert_int_equal(slot_listed(b, &s, room, day, next_day, "14:00"), 1); /* B caches it */

    /* A customer books 14:00-15:00 through A. */
    char *starts = itest_pg_value(NULL,
                                  "SELECT to_char(($1::date + time '14:00')"
                                  " AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
                                  " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                  day);
    char *ends = itest_pg_value(NULL,
                                "SELECT to_char(($1::date + time '15:00')"
                                " AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
                                " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                                day);
    json_t *body = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at", starts,
                             "ends_at", ends, "customer", "name", "Cache Customer", "email",
                             "cache-customer@example.com");
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(starts);
    free(ends);
    struct itest_resp *r = itest_request(a, "POST", s.host, "/api/public/booking",
                                         "application/json", text, NULL, NULL);
    free(text);
    if (r->status != 201)
        fail_msg("booking through A: %ld %s", r->status, r->body);
    itest_resp_free(r);

    assert_int_equal(slot_listed(a, &s, room, day, next_day, "14:00"), 0); /* A: at once */
    /* B: well before its answers' 3 s lifetime would end by itself. */
    long long ms = wait_slot(b, &s, room, day, next_day, "14:00", 0, AVAIL_TTL_MS / 2);
    if (ms < 0)
        fail_msg("B still offers a slot booked through A");
    print_message("B stopped offering the slot %lld ms after the booking on A\n", ms);
}

static void test_a_change_outside_studiod_shows_within_the_answer_s_lifetime(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128], room[64], day[16], next_day[16];
    studio_with_room("avail-sql", &s, &jar, csrf, room, day, next_day);
    assert_int_equal(slot_listed(b, &s, room, day, next_day, "10:00"), 1);

    /* A closure written by SQL: no studiod process is told. B may keep its answer, but not
     * past its lifetime. */
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO closures (room_id, starts_on, ends_on, reason)"
                                   " VALUES ($1::uuid, $2::date, $2::date, 'by hand')",
                                   room, day),
                     0);
    long long ms = wait_slot(b, &s, room, day, next_day, "10:00", 0, AVAIL_TTL_MS + 2000);
    if (ms < 0)
        fail_msg("B kept an availability answer past its lifetime");
    print_message("the closure showed on B after %lld ms (lifetime %d ms)\n", ms, AVAIL_TTL_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signing_out_through_one_process_ends_the_session_on_the_other),
        cmocka_unit_test(test_a_staff_change_through_one_process_reaches_the_other_at_once),
        cmocka_unit_test(test_a_role_taken_away_by_sql_ends_with_its_expiry),
        cmocka_unit_test(test_without_its_listen_connection_a_process_does_not_serve_old_copies),
        cmocka_unit_test(test_cached_sessions_stay_in_their_studio),
        cmocka_unit_test(
            test_a_role_taken_away_through_one_process_ends_its_permission_on_the_other),
        cmocka_unit_test(
            test_a_booking_through_one_process_leaves_the_other_s_availability_at_once),
        cmocka_unit_test(test_a_change_outside_studiod_shows_within_the_answer_s_lifetime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
