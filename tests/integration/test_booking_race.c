/*
 * test_booking_race.c — the promise under load: 200 customers asking at
 * once for overlapping times of one room get exactly one booking between
 * them (201) and 199 × 409 slot_taken, and the studio's database holds one
 * active booking for the room. Whatever the interleaving, the exclusion
 * constraint on bookings.hold decides; the check studiod makes first only
 * words the refusal.
 *
 * Each request is its own thread with its own libcurl handle; a barrier
 * releases them together. Half the customers share one e-mail address, a
 * customer the studio already has, each under a name of their own, so the
 * customer upsert races too: afterwards that customer bears the winner's
 * name if the winner used the address, and is left as it was otherwise (a
 * refused booking changes no one's details, whatever it was written with).
 *
 * Many customers booking one studio at the same moment are written together
 * (booking.c: one transaction for the bookings that arrive while another
 * batch of the studio is being written): the third test books 30 slots twice
 * each at once, one customer new to the studio and one it already has, and
 * checks that every slot went to exactly one of its two customers, that each
 * booking is its customer's, that the losers left no customer behind and
 * changed no known customer's name (the winners did), and that each booking
 * has its own audit entry (its own request id) in a chain that still
 * verifies.
 *
 * Most losers are turned away by that first check; the second test makes
 * sure the constraint itself answers when the check cannot see the winner
 * (its transaction has not committed yet): the INSERT waits, then fails
 * with 23P01, and the customer still gets 409 slot_taken with the winner's
 * local times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"

#define PASSWORD "correct horse battery staple"
#define RACERS 200
#define STARTS 6 /* start times 30 minutes apart; every booking lasts 3 hours */
#define RACE_TIMEOUT_MS 60000
#define LOCK_WAIT_MS 10000

static struct studiod_proc *const srv = &itest_server;

struct racer {
    const struct itest_studio *studio;
    pthread_barrier_t *go;
    char body[512];
    long status;
    char code[32];
    char message[256];
    char ref[32]; /* of a 201 */
};

static void *race(void *arg);
static void racer_set(struct racer *r, const struct itest_studio *s, const char *room,
                      const char *starts, const char *ends, const char *name, const char *email);
static void race_all(struct racer *racers, int n);
static PGconn *connect_db(const char *dbname);

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->go);
    struct itest_req rq = {.method = "POST",
                           .host = r->studio->host,
                           .path = "/api/public/booking",
                           .content_type = "application/json",
                           .body = r->body,
                           .timeout_ms = RACE_TIMEOUT_MS};
    struct itest_resp *resp = itest_send(srv, &rq);
    r->status = resp->status;
    const char *code = itest_error_code(resp);
    snprintf(r->code, sizeof(r->code), "%s", code ? code : "");
    const char *message =
        json_string_value(json_object_get(json_object_get(resp->json, "error"), "message"));
    snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
    const char *ref = json_string_value(json_object_get(resp->json, "ref"));
    snprintf(r->ref, sizeof(r->ref), "%s", ref ? ref : "");
    if (resp->status != 201 && resp->status != 409)
        fprintf(stderr, "race: %ld %s %s\n", resp->status, resp->body, resp->error);
    itest_resp_free(resp);
    return NULL;
}

/* r asks studio s for room from starts to ends for customer name <email>. */
static void racer_set(struct racer *r, const struct itest_studio *s, const char *room,
                      const char *starts, const char *ends, const char *name, const char *email)
{
    memset(r, 0, sizeof(*r));
    r->studio = s;
    json_t *b = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at", starts,
                          "ends_at", ends, "customer", "name", name, "email", email);
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    snprintf(r->body, sizeof(r->body), "%s", text);
    free(text);
}

/* Sends the n racers' requests at once (a thread each, released by one barrier) and waits
 * for every answer. */
static void race_all(struct racer *racers, int n)
{
    pthread_t *threads = calloc((size_t)n, sizeof(*threads));
    assert_non_null(threads);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        racers[i].go = &go;
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&go);
    free(threads);
}

static void test_two_hundred_overlapping_bookings_at_once_give_one_201_and_199_409(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    itest_name_studio("bk-race", &s);
    assert_int_equal(itest_signup_studio(srv, &s, PASSWORD), 201);
    char *room = itest_pg_value(s.db, "INSERT INTO rooms (name, hourly_rate)"
                                      " VALUES ('Race Room', 1500) RETURNING id");
    assert_non_null(room);

    /* Ten days ahead, from 12:00 local: [12:00+30k, 15:00+30k) for k < 6 all overlap. */
    PGresult *times = itest_pg_query(
        NULL, "SELECT to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + time '12:00'"
              "                 + make_interval(mins => 30 * k)) AT TIME ZONE 'Europe/Paris'"
              "                 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + time '15:00'"
              "                 + make_interval(mins => 30 * k)) AT TIME ZONE 'Europe/Paris'"
              "                 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
              "  FROM generate_series(0, 5) k ORDER BY k");
    assert_non_null(times);
    assert_int_equal(PQntuples(times), STARTS);

    char *known = itest_pg_value(s.db, "INSERT INTO customers (name, email, phone)"
                                       " VALUES ('Known Customer', 'shared@example.com',"
                                       "         '+33 1 23 45 67 89') RETURNING id");
    assert_non_null(known);
    static struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        int k = i % STARTS;
        char email[96], name[32];
        if (i % 2)
            snprintf(email, sizeof(email), "racer-%d@example.com", i);
        else
            snprintf(email, sizeof(email), "shared@example.com");
        snprintf(name, sizeof(name), "Racer %d", i);
        racer_set(&racers[i], &s, room, PQgetvalue(times, k, 0), PQgetvalue(times, k, 1), name,
                  email);
    }
    PQclear(times);
    race_all(racers, RACERS);

    int created = 0, taken = 0, other = 0, winner = -1;
    for (int i = 0; i < RACERS; i++) {
        if (racers[i].status == 201)
            created++, winner = i;
        else if (racers[i].status == 409 && strcmp(racers[i].code, "slot_taken") == 0)
            taken++;
        else
            other++;
    }
    print_message("race: %d created, %d slot_taken, %d other\n", created, taken, other);
    assert_int_equal(created, 1);
    assert_int_equal(taken, RACERS - 1);
    assert_int_equal(other, 0);

    char *active = itest_pg_value(s.db,
                                  "SELECT count(*) FROM bookings WHERE room_id = $1::uuid"
                                  "   AND status IN ('pending', 'confirmed')",
                                  room);
    assert_string_equal(active, "1");
    free(active);
    char *all = itest_pg_value(s.db, "SELECT count(*) FROM bookings");
    assert_string_equal(all, "1"); /* the losers left nothing behind */
    free(all);
    itest_pg_expect(s.db, "SELECT count(*) FROM customers", NULL, winner % 2 ? "2" : "1");
    char want[64]; /* a customer's details change only with a booking made */
    if (winner % 2)
        snprintf(want, sizeof(want), "Known Customer +33 1 23 45 67 89");
    else
        snprintf(want, sizeof(want), "Racer %d +33 1 23 45 67 89", winner);
    itest_pg_expect(s.db, "SELECT name || ' ' || phone FROM customers WHERE id = $1::uuid", known,
                    want);
    free(known);
    free(room);
}

#define MANY_SLOTS 30
#define MANY_ROOMS 3

static void test_bookings_at_once_in_one_studio_are_each_stored_once_and_audited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128];
    itest_open_studio(srv, "bk-many", &s, PASSWORD, &jar, csrf);
    char *rooms[MANY_ROOMS];
    for (int i = 0; i < MANY_ROOMS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "Many %d", i);
        assert_non_null(rooms[i] = itest_add_room(&s, name, 2000 + 100 * i));
    }
    /* Slot k: room k % 3, 10:00-11:00 local, 10 + k / 3 days ahead: 30 different slots. */
    PGresult *times = itest_pg_query(
        NULL, "SELECT to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + k / 3"
              "                 + time '10:00') AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + k / 3"
              "                 + time '11:00') AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
              "  FROM generate_series(0, 29) k ORDER BY k");
    assert_non_null(times);
    assert_int_equal(PQntuples(times), MANY_SLOTS);

    /* Two customers for each slot, all at once, each with an address of their own: slot
     * k's first is new to the studio (many-k), its second one the studio has (known-k,
     * "Known k"), who books under another name. */
    assert_int_equal(itest_pg_exec(s.db, "INSERT INTO customers (name, email)"
                                         " SELECT 'Known ' || k, 'known-' || k || '@example.com'"
                                         "   FROM generate_series(0, 29) k"),
                     0);
    enum { N = 2 * MANY_SLOTS };
    static struct racer racers[N];
    char emails[N][96];
    for (int i = 0; i < N; i++) {
        int k = i % MANY_SLOTS;
        char name[32];
        snprintf(emails[i], sizeof(emails[i]), "%s-%d@example.com",
                 i < MANY_SLOTS ? "many" : "known", k);
        snprintf(name, sizeof(name), "Many %d", i);
        racer_set(&racers[i], &s, rooms[k % MANY_ROOMS], PQgetvalue(times, k, 0),
                  PQgetvalue(times, k, 1), name, emails[i]);
    }
    PQclear(times);
    race_all(racers, N);

    /* Every slot: one 201 and one 409, whichever came first. */
    for (int k = 0; k < MANY_SLOTS; k++) {
        struct racer *a = &racers[k], *b = &racers[k + MANY_SLOTS];
        bool one_each =
            (a->status == 201 && b->status == 409) || (a->status == 409 && b->status == 201);
        if (!one_each)
            fail_msg("slot %d: %ld %s / %ld %s", k, a->status, a->code, b->status, b->code);
        struct racer *lost = a->status == 409 ? a : b;
        assert_string_equal(lost->code, "slot_taken");
    }
    /* Each 201's booking is that customer's; a known customer bears the name they booked
     * under if they won, their own if they lost. */
    int new_won = 0;
    for (int i = 0; i < N; i++) {
        if (racers[i].status == 201) {
            char *owner = itest_pg_one(s.db,
                                       "SELECT c.email FROM bookings b JOIN customers c"
                                       "  ON c.id = b.customer_id WHERE b.ref = $1",
                                       racers[i].ref);
            assert_string_equal(owner, emails[i]);
            free(owner);
            new_won += i < MANY_SLOTS;
        }
        if (i >= MANY_SLOTS) {
            char want[32];
            if (racers[i].status == 201)
                snprintf(want, sizeof(want), "Many %d", i);
            else
                snprintf(want, sizeof(want), "Known %d", i - MANY_SLOTS);
            itest_pg_expect(s.db, "SELECT name FROM customers WHERE email = $1", emails[i], want);
        }
    }
    itest_pg_expect(s.db, "SELECT count(*) FROM bookings WHERE status IN ('pending', 'confirmed')",
                    NULL, "30");
    char want_new[16];
    snprintf(want_new, sizeof(want_new), "%d", new_won);
    itest_pg_expect(s.db, "SELECT count(*) FROM customers WHERE email LIKE 'many-%'", NULL,
                    want_new); /* the losers left no customer behind */
    /* One audit entry per booking, each with its own request, and the chain holds. */
    itest_pg_expect(s.db,
                    "SELECT count(*) || ' ' || count(DISTINCT resource_id) || ' '"
                    "       || count(DISTINCT request_id)"
                    "  FROM audit_log WHERE resource = 'bookings' AND action = 'create'",
                    NULL, "30 30 30");
    itest_pg_expect(s.db,
                    "SELECT count(*) FROM bookings b WHERE NOT EXISTS (SELECT 1 FROM audit_log a"
                    "  WHERE a.resource = 'bookings' AND a.action = 'create'"
                    "    AND a.resource_id = b.id::text AND a.after->>'ref' = b.ref)",
                    NULL, "0");
    char *batched = itest_pg_one(s.db,
                                 "SELECT count(DISTINCT at)::text FROM audit_log"
                                 " WHERE resource = 'bookings' AND action = 'create'",
                                 NULL);
    print_message("30 bookings written in %s transactions\n", batched);
    free(batched);
    struct itest_resp *v =
        itest_staff_request(srv, "GET", s.host, "/api/audit-logs/verify", NULL, &jar, NULL);
    assert_int_equal(v->status, 200);
    assert_true(json_is_true(json_object_get(v->json, "ok")));
    itest_resp_free(v);
    for (int i = 0; i < MANY_ROOMS; i++)
        free(rooms[i]);
}

/* A connection of our own to dbname on the test cluster (for an open transaction). */
static PGconn *connect_db(const char *dbname)
{
    const char *keys[] = {"dbname", "dbname", NULL};
    const char *values[] = {getenv("STUDIOD_DATABASE_URL"), dbname, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", dbname, PQerrorMessage(c));
    return c;
}

static void test_the_constraint_refuses_a_booking_the_check_could_not_see(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    itest_name_studio("bk-race-c", &s);
    assert_int_equal(itest_signup_studio(srv, &s, PASSWORD), 201);
    char *room = itest_pg_value(s.db, "INSERT INTO rooms (name, hourly_rate)"
                                      " VALUES ('Race Room', 1500) RETURNING id");
    assert_non_null(room);
    PGresult *times = itest_pg_query(
        NULL, "SELECT to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + time '14:00')"
              "                 AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + time '16:00')"
              "                 AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + time '15:00')"
              "                 AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       to_char(((now() AT TIME ZONE 'Europe/Paris')::date + 10 + time '17:00')"
              "                 AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    assert_non_null(times);

    /* The winner, written by another session and not yet committed. */
    PGconn *winner = connect_db(s.db);
    PGresult *w = PQexec(winner, "BEGIN");
    PQclear(w);
    const char *pw[] = {room, PQgetvalue(times, 0, 0), PQgetvalue(times, 0, 1)};
    w = PQexecParams(winner,
                     "WITH c AS (INSERT INTO customers (name, email)"
                     "           VALUES ('Winner', 'winner@example.com') RETURNING id)"
                     " INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold,"
                     "                       status, source, price_amount, currency,"
                     "                       manage_token_hash)"
                     " SELECT 'WINNER23456', $1::uuid, c.id, $2::timestamptz, $3::timestamptz,"
                     "        tstzrange($2::timestamptz, $3::timestamptz), 'confirmed', 'staff',"
                     "        0, 'EUR', 'x' FROM c",
                     3, NULL, pw, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(w), PGRES_COMMAND_OK);
    PQclear(w);

    /* The customer asks for 15:00-17:00: the check sees nothing, the INSERT must wait. */
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    static struct racer r;
    memset(&r, 0, sizeof(r));
    r.studio = &s;
    r.go = &go;
    json_t *b = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at",
                          PQgetvalue(times, 0, 2), "ends_at", PQgetvalue(times, 0, 3), "customer",
                          "name", "Loser", "email", "loser@example.com");
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    snprintf(r.body, sizeof(r.body), "%s", text);
    free(text);
    PQclear(times);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, race, &r), 0);
    pthread_barrier_wait(&go);

    double deadline = itest_now_ms() + LOCK_WAIT_MS;
    bool waiting = false;
    while (!waiting && itest_now_ms() < deadline) {
        char *n = itest_pg_value(NULL,
                                 "SELECT count(*) FROM pg_stat_activity"
                                 " WHERE datname = $1 AND wait_event_type = 'Lock'",
                                 s.db);
        waiting = n && strcmp(n, "0") != 0;
        free(n);
        if (!waiting)
            itest_pause_ms(20);
    }
    w = PQexec(winner, "COMMIT");
    assert_int_equal(PQresultStatus(w), PGRES_COMMAND_OK);
    PQclear(w);
    PQfinish(winner);
    pthread_join(thread, NULL);
    pthread_barrier_destroy(&go);
    assert_true(waiting); /* the INSERT did wait for the winner */
    assert_int_equal(r.status, 409);
    assert_string_equal(r.code, "slot_taken");
    assert_string_equal(r.message, "Race Room is already booked 14:00\xE2\x80\x93"
                                   "16:00");

    char *active = itest_pg_value(s.db, "SELECT string_agg(ref, ',') FROM bookings"
                                        " WHERE status IN ('pending', 'confirmed')");
    assert_string_equal(active, "WINNER23456");
    free(active);
    char *loser =
        itest_pg_value(s.db, "SELECT count(*) FROM customers WHERE email = 'loser@example.com'");
    assert_string_equal(loser, "0"); /* the customer upsert went with the failed INSERT */
    free(loser);
    free(room);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_hundred_overlapping_bookings_at_once_give_one_201_and_199_409),
        cmocka_unit_test(test_the_constraint_refuses_a_booking_the_check_could_not_see),
        cmocka_unit_test(test_bookings_at_once_in_one_studio_are_each_stored_once_and_audited),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
