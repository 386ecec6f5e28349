/*
 * test_booking_staff.c — the staff back office against a real studiod and
 * PostgreSQL: the booking list (every filter, every order, pages and the
 * total), staff bookings (skip_deposit), confirm, cancel with a refund
 * override, moves (a taken slot is 409, a free one frees the old slot),
 * conversion into a studio session, check-in/out, items and totals,
 * customers and their history, the secret calendar feed (.ics without a
 * session; gone once deleted), every 4xx, tenant isolation, and a staff
 * move racing public bookings for one slot.
 *
 * Every test makes its own studio (sign-up, sign-in with CSRF). Rooms are
 * inserted straight into the studio's database: the rooms API is not what
 * is under test. Times are chosen by PostgreSQL in Europe/Paris (the zone
 * itest_signup gives a studio), inside the default opening hours (09–23),
 * on the 30-minute grid and past the 2 hours' notice.
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
#define ZONE "Europe/Paris"
#define RACE_MOVERS 12
#define RACE_PUBLIC 12
#define RACE_ROUNDS 3
#define NO_SUCH_ID "4b0f6f1e-9a55-4c1e-8f7e-1d2a3b4c5d6e"

static struct studiod_proc *const srv = &itest_server;

/* A studio and its signed-in owner. */
struct staff {
    struct itest_studio s;
    struct itest_cookies jar;
    char csrf[128];
    char user_id[40];
};

static void open_studio(const char *prefix, struct staff *st);
static struct itest_resp *call(struct staff *st, const char *method, const char *path,
                               json_t *body);
static void add_room(struct staff *st, const char *name, long hourly_rate, char *id_out);
static json_t *booking_body(const char *room, int day, int hour, int minutes, const char *name,
                            const char *email);
static void staff_book(struct staff *st, const char *room, int day, int hour, int minutes,
                       const char *name, const char *email, char *id_out);
static void staff_book_with(struct staff *st, json_t *body, long want, char *id_out);
static char *db_value(struct staff *st, const char *sql, const char *arg);
static void set_booking(struct staff *st, const char *sql, const char *id, const char *value);
static void assert_status(struct itest_resp *r, long status);
static json_t *list(struct staff *st, const char *query);
static void assert_ids(json_t *page, const char *const *ids, int n);
static bool page_has(json_t *page, const char *id);
static bool same_instant(const char *a, const char *b);
static void convert(struct staff *st, const char *booking, char *session_out);
static char *unfold(const char *ics);
static int count_of(const char *hay, const char *needle);
static void *race_move(void *arg);
static void *race_public(void *arg);

/* ---- helpers ----------------------------------------------------------------------------- */

static void open_studio(const char *prefix, struct staff *st)
{
    memset(st, 0, sizeof(*st));
    itest_open_studio(srv, prefix, &st->s, PASSWORD, &st->jar, st->csrf);
    itest_user_id(&st->s, st->s.email, st->user_id);
}

/* method path as the owner (session + CSRF); body is stolen (NULL: none). */
static struct itest_resp *call(struct staff *st, const char *method, const char *path, json_t *body)
{
    return itest_staff_request(srv, method, st->s.host, path, body, &st->jar, st->csrf);
}

static void add_room(struct staff *st, const char *name, long hourly_rate, char *id_out)
{
    char *id = itest_add_room(&st->s, name, hourly_rate);
    snprintf(id_out, 40, "%s", id);
    free(id);
}

/* The booking body the public form sends (staff add their flags to it). */
static json_t *booking_body(const char *room, int day, int hour, int minutes, const char *name,
                            const char *email)
{
    char from[32], to[32];
    itest_local_time(ZONE, day, hour, 0, from);
    itest_local_time(ZONE, day, hour, minutes, to);
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "room_id", room, "starts_at", from,
                     "ends_at", to, "customer", "name", name, "email", email, "phone",
                     "+33 6 12 34 56 78");
}

static void staff_book(struct staff *st, const char *room, int day, int hour, int minutes,
                       const char *name, const char *email, char *id_out)
{
    staff_book_with(st, booking_body(room, day, hour, minutes, name, email), 201, id_out);
}

/* POST /api/bookings with body (stolen); asserts the status, copies the id when 201. */
static void staff_book_with(struct staff *st, json_t *body, long want, char *id_out)
{
    struct itest_resp *r = call(st, "POST", "/api/bookings", body);
    if (r->status != want)
        fail_msg("POST /api/bookings: %ld %s (wanted %ld)", r->status, r->body, want);
    if (id_out) {
        const char *id = json_string_value(json_object_get(r->json, "id"));
        assert_non_null(id);
        snprintf(id_out, 40, "%s", id);
    }
    itest_resp_free(r);
}

static char *db_value(struct staff *st, const char *sql, const char *arg)
{
    return itest_pg_value(st->s.db, sql, arg);
}

/* Test data the API has no call for (a payment, a status): sql takes $1 id, $2 value. */
static void set_booking(struct staff *st, const char *sql, const char *id, const char *value)
{
    assert_int_equal(itest_pg_exec(st->s.db, sql, id, value), 0);
}

static void assert_status(struct itest_resp *r, long status)
{
    if (r->status != status)
        fail_msg("wanted %ld, got %ld: %s", status, r->status, r->body);
}

/* GET /api/bookings?query as JSON (json_decref it). */
static json_t *list(struct staff *st, const char *query)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/bookings%s%s", *query ? "?" : "", query);
    struct itest_resp *r = call(st, "GET", path, NULL);
    if (r->status != 200)
        fail_msg("GET %s: %ld %s", path, r->status, r->body);
    json_t *j = json_incref(r->json);
    itest_resp_free(r);
    return j;
}

/* The page's items are exactly ids, in order. */
static void assert_ids(json_t *page, const char *const *ids, int n)
{
    json_t *items = json_object_get(page, "items");
    if ((int)json_array_size(items) != n) {
        char *s = json_dumps(page, JSON_COMPACT);
        print_message("page: %s\n", s);
        free(s);
        fail_msg("wanted %d items, got %zu", n, json_array_size(items));
    }
    for (int i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(items, i), "id"));
        if (!id || strcmp(id, ids[i]) != 0)
            fail_msg("item %d is %s, wanted %s", i, id ? id : "(none)", ids[i]);
    }
}

static bool page_has(json_t *page, const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(page, "items"), i, it)
    {
        const char *v = json_string_value(json_object_get(it, "id"));
        if (v && strcmp(v, id) == 0)
            return true;
    }
    return false;
}

static bool same_instant(const char *a, const char *b)
{
    char *v = itest_pg_value(NULL, "SELECT $1::timestamptz = $2::timestamptz", a, b);
    bool same = v && strcmp(v, "t") == 0;
    free(v);
    return same;
}

/* POST /api/bookings/:id/convert {} → 201; the session id into session_out. */
static void convert(struct staff *st, const char *booking, char *session_out)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/bookings/%s/convert", booking);
    struct itest_resp *r = call(st, "POST", path, json_object());
    assert_status(r, 201);
    snprintf(session_out, 40, "%s", json_string_value(json_object_get(r->json, "id")));
    itest_resp_free(r);
}

/* The content lines of an iCalendar text with their folds undone (free it). */
static char *unfold(const char *ics)
{
    size_t n = strlen(ics);
    char *out = malloc(n + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        if (ics[i] == '\r' && ics[i + 1] == '\n' && (ics[i + 2] == ' ' || ics[i + 2] == '\t')) {
            i += 2;
            continue;
        }
        *o++ = ics[i];
    }
    *o = '\0';
    return out;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- the list ---------------------------------------------------------------------------- */

static void test_list_filters_by_status_room_dates_text_and_payment(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-list", &st);
    char a[40], b[40], b1[40], b2[40], b3[40], b4[40];
    add_room(&st, "Room A", 3000, a);
    add_room(&st, "Room B", 5000, b);
    staff_book(&st, a, 2, 10, 120, "Alice Martin", "alice@example.com", b1);
    staff_book(&st, a, 3, 10, 60, "Bob 100%_sure", "bob@example.com", b2);
    staff_book(&st, b, 3, 14, 180, "Carol Jones", "carol@example.com", b3);
    staff_book(&st, b, 5, 10, 120, "Dave Smith", "dave@example.com", b4);
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", b1, "confirmed");
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", b2, "pending");
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", b3, "confirmed");
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", b4, "cancelled");
    set_booking(&st, "UPDATE bookings SET paid_amount = $2::bigint WHERE id = $1", b3, "1000");

    json_t *p = list(&st, "sort=starts_at");
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
    assert_ids(p, (const char *[]){b1, b2, b3, b4}, 4);
    /* One item in full. */
    json_t *it = json_array_get(json_object_get(p, "items"), 0);
    char *ref = db_value(&st, "SELECT ref FROM bookings WHERE id = $1", b1);
    assert_string_equal(json_string_value(json_object_get(it, "ref")), ref);
    free(ref);
    assert_string_equal(json_string_value(json_object_get(it, "status")), "confirmed");
    assert_string_equal(json_string_value(json_object_get(it, "source")), "staff");
    assert_string_equal(json_string_value(json_object_get(json_object_get(it, "room"), "id")), a);
    assert_string_equal(json_string_value(json_object_get(json_object_get(it, "room"), "name")),
                        "Room A");
    json_t *cust = json_object_get(it, "customer");
    assert_true(json_is_string(json_object_get(cust, "id")));
    assert_string_equal(json_string_value(json_object_get(cust, "name")), "Alice Martin");
    assert_string_equal(json_string_value(json_object_get(cust, "email")), "alice@example.com");
    assert_string_equal(json_string_value(json_object_get(cust, "phone")), "+33 6 12 34 56 78");
    char want[32];
    itest_local_time(ZONE, 2, 10, 0, want);
    const char *starts = json_string_value(json_object_get(it, "starts_at"));
    assert_non_null(starts);
    assert_true(same_instant(starts, want));
    /* The studio's offset, not UTC. */
    assert_true(strstr(starts, "+01:00") || strstr(starts, "+02:00"));
    assert_non_null(strstr(json_string_value(json_object_get(it, "ends_at")), "T12:00:00+0"));
    json_t *price = json_object_get(it, "price");
    assert_int_equal(json_integer_value(json_object_get(price, "amount")), 6000);
    assert_string_equal(json_string_value(json_object_get(price, "currency")), "EUR");
    assert_true(json_is_object(json_object_get(it, "deposit")));
    assert_int_equal(json_integer_value(json_object_get(it, "paid_amount")), 0);
    assert_true(json_is_null(json_object_get(it, "refund_amount")));
    assert_true(json_is_false(json_object_get(it, "has_session")));
    json_decref(p);

    struct {
        const char *query;
        int n;
        const char *ids[4];
    } cases[] = {
        {"status=cancelled", 1, {b4}},
        {"status=pending,confirmed&sort=starts_at", 3, {b1, b2, b3}},
        {"room_id=", 4, {b4, b3, b2, b1}}, /* empty: no filter; default order -starts_at */
        {"sort=starts_at&q=alice", 1, {b1}},
        {"sort=starts_at&q=CAROL%40EXAMPLE", 1, {b3}},
        {"sort=starts_at&q=%25", 1, {b2}}, /* a literal %, not "anything" */
        {"sort=starts_at&q=_", 1, {b2}},   /* a literal _, not "any character" */
        {"sort=starts_at&q=0%25_s", 1, {b2}},
        {"sort=starts_at&q=12%2034", 4, {b1, b2, b3, b4}}, /* the phone */
        {"sort=starts_at&paid=true", 1, {b3}},
        {"sort=starts_at&paid=false", 3, {b1, b2, b4}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = list(&st, cases[i].query);
        print_message("  %s\n", cases[i].query);
        assert_int_equal(json_integer_value(json_object_get(p, "total")), cases[i].n);
        assert_ids(p, cases[i].ids, cases[i].n);
        json_decref(p);
    }
    char q[256], d2[16], d3[16], d4[16];
    snprintf(q, sizeof(q), "sort=starts_at&room_id=%s", a);
    p = list(&st, q);
    assert_ids(p, (const char *[]){b1, b2}, 2);
    json_decref(p);
    itest_local_day(ZONE, 2, d2);
    itest_local_day(ZONE, 3, d3);
    itest_local_day(ZONE, 4, d4);
    snprintf(q, sizeof(q), "sort=starts_at&from=%s&to=%s", d3, d3);
    p = list(&st, q);
    assert_ids(p, (const char *[]){b2, b3}, 2);
    json_decref(p);
    snprintf(q, sizeof(q), "sort=starts_at&from=%s", d4);
    p = list(&st, q);
    assert_ids(p, (const char *[]){b4}, 1);
    json_decref(p);
    snprintf(q, sizeof(q), "sort=starts_at&to=%s", d2);
    p = list(&st, q);
    assert_ids(p, (const char *[]){b1}, 1);
    json_decref(p);
    snprintf(q, sizeof(q), "sort=starts_at&from=%s&to=%s&room_id=%s&status=pending", d2, d4, a);
    p = list(&st, q);
    assert_ids(p, (const char *[]){b2}, 1);
    json_decref(p);
    ref = db_value(&st, "SELECT ref FROM bookings WHERE id = $1", b3);
    snprintf(q, sizeof(q), "q=%s", ref);
    free(ref);
    p = list(&st, q);
    assert_ids(p, (const char *[]){b3}, 1);
    json_decref(p);
}

static void test_list_sorts_pages_and_counts_the_total(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-sort", &st);
    char a[40], b[40], b1[40], b2[40], b3[40], b4[40];
    add_room(&st, "Room A", 3000, a);
    add_room(&st, "Room B", 5000, b);
    /* Made in this order; prices 6000, 3000, 15000, 10000. */
    staff_book(&st, a, 4, 10, 120, "One", "one@example.com", b1);
    staff_book(&st, a, 2, 10, 60, "Two", "two@example.com", b2);
    staff_book(&st, b, 3, 14, 180, "Three", "three@example.com", b3);
    staff_book(&st, b, 1, 18, 120, "Four", "four@example.com", b4);

    struct {
        const char *query;
        const char *ids[4];
    } orders[] = {
        {"sort=starts_at", {b4, b2, b3, b1}},
        {"sort=-starts_at", {b1, b3, b2, b4}},
        {"", {b1, b3, b2, b4}},
        {"sort=created_at", {b1, b2, b3, b4}},
        {"sort=-created_at", {b4, b3, b2, b1}},
        {"sort=price", {b2, b1, b4, b3}},
        {"sort=-price", {b3, b4, b1, b2}},
    };
    for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
        print_message("  %s\n", orders[i].query);
        json_t *p = list(&st, orders[i].query);
        assert_ids(p, orders[i].ids, 4);
        assert_int_equal(json_integer_value(json_object_get(p, "limit")), 50);
        assert_int_equal(json_integer_value(json_object_get(p, "offset")), 0);
        json_decref(p);
    }
    json_t *p = list(&st, "sort=starts_at&limit=2&offset=1");
    assert_ids(p, (const char *[]){b2, b3}, 2);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(p, "limit")), 2);
    assert_int_equal(json_integer_value(json_object_get(p, "offset")), 1);
    json_decref(p);
    p = list(&st, "sort=starts_at&limit=2&offset=3");
    assert_ids(p, (const char *[]){b1}, 1);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
    json_decref(p);
    p = list(&st, "limit=200&offset=10");
    assert_ids(p, NULL, 0);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
    json_decref(p);
    p = list(&st, "sort=price&limit=1&paid=false");
    assert_ids(p, (const char *[]){b2}, 1);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
    json_decref(p);
}

/* ---- staff bookings, confirm, cancel, move ---------------------------------------------- */

static void test_staff_booking_with_skip_deposit_is_confirmed_and_records_its_author(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-create", &st);
    char a[40], held[40], skipped[40];
    add_room(&st, "Room A", 4000, a);
    assert_int_equal(itest_pg_exec(st.s.db, "UPDATE studio_settings SET deposit_type = 'fixed',"
                                            " deposit_value = 2000"),
                     0);
    staff_book(&st, a, 3, 10, 60, "Held Customer", "held@example.com", held);
    json_t *body = booking_body(a, 3, 12, 120, "Skip Customer", "skip@example.com");
    json_object_set_new(body, "skip_deposit", json_true());
    struct itest_resp *r = call(&st, "POST", "/api/bookings", body);
    assert_status(r, 201);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), "confirmed");
    snprintf(skipped, sizeof(skipped), "%s", json_string_value(json_object_get(r->json, "id")));
    itest_resp_free(r);

    char *v = db_value(&st, "SELECT status FROM bookings WHERE id = $1", held);
    assert_string_equal(v, "pending"); /* a deposit is due */
    free(v);
    v = db_value(&st,
                 "SELECT status || ' ' || source || ' ' || created_by FROM bookings"
                 " WHERE id = $1",
                 skipped);
    char want[128];
    snprintf(want, sizeof(want), "confirmed staff %s", st.user_id);
    assert_string_equal(v, want);
    free(v);

    /* Flags must be booleans; the booking rules name bad fields too. */
    body = booking_body(a, 4, 10, 60, "X", "x@example.com");
    json_object_set_new(body, "skip_deposit", json_string("yes"));
    json_object_set_new(body, "override_rules", json_integer(1));
    r = call(&st, "POST", "/api/bookings", body);
    itest_assert_field(r, "skip_deposit");
    itest_assert_field(r, "override_rules");
    itest_resp_free(r);
    body = booking_body(a, 4, 10, 60, "X", "x@example.com");
    json_object_set_new(body, "room_id", json_integer(5));
    r = call(&st, "POST", "/api/bookings", body);
    itest_assert_field(r, "room_id");
    itest_resp_free(r);
    /* The slot the first booking holds. */
    staff_book_with(&st, booking_body(a, 3, 10, 60, "Y", "y@example.com"), 409, NULL);
}

static void test_confirm_then_cancel_with_a_refund_override_up_to_what_was_paid(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-cancel", &st);
    char a[40], id[40], path[160];
    add_room(&st, "Room A", 4000, a);
    assert_int_equal(itest_pg_exec(st.s.db, "UPDATE studio_settings SET deposit_type = 'fixed',"
                                            " deposit_value = 2000"),
                     0);
    staff_book(&st, a, 5, 10, 120, "Pay Later", "pay@example.com", id);

    snprintf(path, sizeof(path), "/api/bookings/%s/confirm", id);
    struct itest_resp *r = call(&st, "POST", path, NULL);
    assert_status(r, 200);
    itest_resp_free(r);
    char *v = db_value(&st, "SELECT status FROM bookings WHERE id = $1", id);
    assert_string_equal(v, "confirmed");
    free(v);
    r = call(&st, "POST", path, NULL);
    itest_assert_error(r, 409, NULL); /* already confirmed */
    itest_resp_free(r);

    snprintf(path, sizeof(path), "/api/bookings/%s", id);
    r = call(&st, "GET", path, NULL);
    assert_status(r, 200);
    itest_resp_free(r);

    set_booking(&st, "UPDATE bookings SET paid_amount = $2::bigint WHERE id = $1", id, "2000");
    snprintf(path, sizeof(path), "/api/bookings/%s/cancel", id);
    r = call(&st, "POST", path, json_pack("{s:i, s:s}", "refund_amount", 2500, "reason", "x"));
    itest_assert_field(r, "refund_amount"); /* more than was paid */
    itest_resp_free(r);
    r = call(&st, "POST", path, json_pack("{s:i}", "refund_amount", -1));
    itest_assert_field(r, "refund_amount");
    itest_resp_free(r);
    r = call(&st, "POST", path, json_pack("{s:s}", "refund_amount", "100"));
    itest_assert_field(r, "refund_amount");
    itest_resp_free(r);
    v = db_value(&st, "SELECT status FROM bookings WHERE id = $1", id);
    assert_string_equal(v, "confirmed");
    free(v);

    r = call(&st, "POST", path,
             json_pack("{s:i, s:s}", "refund_amount", 1500, "reason", "Band split up"));
    assert_status(r, 200);
    itest_resp_free(r);
    v = db_value(&st,
                 "SELECT status || ' ' || refund_amount || ' ' || cancel_reason FROM bookings"
                 " WHERE id = $1",
                 id);
    assert_string_equal(v, "cancelled 1500 Band split up");
    free(v);
    r = call(&st, "POST", path, NULL);
    itest_assert_error(r, 409, NULL); /* already cancelled */
    itest_resp_free(r);
    /* The slot is free at once. */
    staff_book_with(&st, booking_body(a, 5, 10, 120, "Next", "next@example.com"), 201, NULL);
}

static void test_move_to_a_taken_slot_is_409_and_to_a_free_one_frees_the_old(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-move", &st);
    char a[40], b[40], first[40], second[40], path[160], from[32], to[32];
    add_room(&st, "Room A", 3000, a);
    add_room(&st, "Room B", 3000, b);
    staff_book(&st, a, 4, 10, 120, "First", "first@example.com", first);
    staff_book(&st, a, 4, 14, 120, "Second", "second@example.com", second);
    snprintf(path, sizeof(path), "/api/bookings/%s", first);

    itest_local_time(ZONE, 4, 15, 0, from);
    itest_local_time(ZONE, 4, 17, 0, to);
    struct itest_resp *r =
        call(&st, "PUT", path, json_pack("{s:s, s:s}", "starts_at", from, "ends_at", to));
    itest_assert_error(r, 409, "slot_taken");
    itest_resp_free(r);

    itest_local_time(ZONE, 4, 17, 0, from);
    itest_local_time(ZONE, 4, 19, 0, to);
    r = call(&st, "PUT", path, json_pack("{s:s, s:s}", "starts_at", from, "ends_at", to));
    assert_status(r, 200);
    itest_resp_free(r);
    char *v = itest_pg_value(st.s.db,
                             "SELECT (starts_at = $2::timestamptz)::text FROM bookings"
                             " WHERE id = $1",
                             first, from);
    assert_string_equal(v, "true");
    free(v);
    /* The old slot is free again. */
    staff_book(&st, a, 4, 10, 120, "Third", "third@example.com", NULL);

    /* Another room, same times. */
    r = call(&st, "PUT", path, json_pack("{s:s}", "room_id", b));
    assert_status(r, 200);
    itest_resp_free(r);
    v = db_value(&st, "SELECT room_id FROM bookings WHERE id = $1", first);
    assert_string_equal(v, b);
    free(v);

    r = call(&st, "PUT", path, json_pack("{s:s}", "starts_at", from));
    itest_assert_field(r, "ends_at");
    itest_resp_free(r);
    r = call(&st, "PUT", path, json_pack("{s:s}", "room_id", "room-a"));
    itest_assert_field(r, "room_id");
    itest_resp_free(r);
    itest_expect_error(call(&st, "PUT", path, json_object()), 422, NULL);
}

/* ---- studio sessions ---------------------------------------------------------------------- */

static void test_convert_makes_one_session_of_a_confirmed_booking_and_keeps_its_hold(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-convert", &st);
    char a[40], booking[40], pending[40], path[160];
    add_room(&st, "Room A", 3000, a);
    staff_book(&st, a, 6, 10, 120, "Band", "band@example.com", booking);
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", booking, "confirmed");
    staff_book(&st, a, 6, 14, 60, "Later", "later@example.com", pending);
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", pending, "pending");

    snprintf(path, sizeof(path), "/api/bookings/%s/convert", pending);
    struct itest_resp *r = call(&st, "POST", path, json_object());
    itest_assert_error(r, 409, "not_confirmed");
    itest_resp_free(r);

    snprintf(path, sizeof(path), "/api/bookings/%s/convert", booking);
    r = call(&st, "POST", path, json_pack("{s:s}", "engineer_id", NO_SUCH_ID));
    itest_assert_field(r, "engineer_id");
    itest_resp_free(r);
    r = call(&st, "POST", path,
             json_pack("{s:s, s:s}", "engineer_id", st.user_id, "notes", "Bring the Rhodes"));
    assert_status(r, 201);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), "scheduled");
    assert_string_equal(json_string_value(json_object_get(r->json, "notes")), "Bring the Rhodes");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "engineer"), "id")), st.user_id);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "booking"), "id")), booking);
    itest_resp_free(r);
    itest_expect_error(call(&st, "POST", path, json_object()), 409, "already_converted");

    char *v = db_value(&st, "SELECT status FROM bookings WHERE id = $1", booking);
    assert_string_equal(v, "confirmed");
    free(v);
    v = db_value(&st, "SELECT count(*) FROM studio_sessions WHERE booking_id = $1", booking);
    assert_string_equal(v, "1");
    free(v);
    json_t *p = list(&st, "sort=starts_at");
    json_t *first = json_array_get(json_object_get(p, "items"), 0);
    assert_true(json_is_true(json_object_get(first, "has_session")));
    json_decref(p);
    /* The session keeps the booking's hold. */
    staff_book_with(&st, booking_body(a, 6, 11, 60, "Intruder", "in@example.com"), 409, NULL);
}

static void test_session_check_in_out_items_and_totals(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-session", &st);
    char a[40], booking[40], other[40], session[40], other_session[40], path[200], item[40];
    add_room(&st, "Room A", 3000, a);
    staff_book(&st, a, 2, 10, 120, "Band", "band@example.com", booking); /* 6000 */
    staff_book(&st, a, 3, 10, 60, "Solo", "solo@example.com", other);
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", booking, "confirmed");
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", other, "confirmed");
    convert(&st, booking, session);
    convert(&st, other, other_session);
    snprintf(path, sizeof(path), "/api/sessions/%s", session);

    /* A check-out needs a check-in. */
    struct itest_resp *r = call(&st, "PUT", path, json_pack("{s:b}", "check_out", 1));
    itest_assert_field(r, "check_out");
    itest_resp_free(r);

    r = call(&st, "PUT", path, json_pack("{s:b, s:s}", "check_in", 1, "notes", "Drums mic'd"));
    assert_status(r, 200);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), "in_progress");
    assert_true(json_is_string(json_object_get(r->json, "checked_in_at")));
    assert_true(json_is_null(json_object_get(r->json, "checked_out_at")));
    assert_string_equal(json_string_value(json_object_get(r->json, "notes")), "Drums mic'd");
    itest_resp_free(r);

    char items_path[240];
    snprintf(items_path, sizeof(items_path), "/api/sessions/%s/items", session);
    r = call(&st, "POST", items_path,
             json_pack("{s:s, s:i, s:i}", "description", "Tape reel", "quantity", 2, "unit_amount",
                       1500));
    assert_status(r, 201);
    json_t *items = json_object_get(r->json, "items");
    assert_int_equal(json_array_size(items), 1);
    snprintf(item, sizeof(item), "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    itest_resp_free(r);
    r = call(&st, "POST", items_path,
             json_pack("{s:s, s:i}", "description", "Mixing", "unit_amount", 5000));
    assert_status(r, 201);
    itest_resp_free(r);

    r = call(&st, "GET", path, NULL);
    assert_status(r, 200);
    json_t *totals = json_object_get(r->json, "totals");
    assert_int_equal(json_array_size(json_object_get(r->json, "items")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(totals, "items"), "amount")), 8000);
    json_t *total = json_object_get(totals, "total");
    assert_int_equal(json_integer_value(json_object_get(total, "amount")), 6000 + 8000);
    assert_string_equal(json_string_value(json_object_get(total, "currency")), "EUR");
    itest_resp_free(r);

    char del[300];
    snprintf(del, sizeof(del), "%s/%s", items_path, item);
    r = call(&st, "DELETE", del, NULL);
    assert_status(r, 204);
    itest_resp_free(r);
    itest_expect_error(call(&st, "DELETE", del, NULL), 404, "not_found");
    /* An item of one session cannot be deleted through another. */
    r = call(&st, "POST", items_path,
             json_pack("{s:s, s:i}", "description", "Strings", "unit_amount", 900));
    items = json_object_get(r->json, "items");
    snprintf(item, sizeof(item), "%s",
             json_string_value(json_object_get(json_array_get(items, 1), "id")));
    itest_resp_free(r);
    snprintf(del, sizeof(del), "/api/sessions/%s/items/%s", other_session, item);
    itest_expect_error(call(&st, "DELETE", del, NULL), 404, "not_found");

    r = call(&st, "GET", path, NULL);
    total = json_object_get(json_object_get(r->json, "totals"), "total");
    assert_int_equal(json_integer_value(json_object_get(total, "amount")), 6000 + 5000 + 900);
    itest_resp_free(r);

    /* Item validation names each field. */
    r = call(&st, "POST", items_path,
             json_pack("{s:s, s:i, s:s}", "description", "", "quantity", 0, "unit_amount", "5"));
    itest_assert_field(r, "description");
    itest_assert_field(r, "quantity");
    itest_assert_field(r, "unit_amount");
    itest_resp_free(r);

    r = call(&st, "PUT", path, json_pack("{s:b}", "check_out", 1));
    assert_status(r, 200);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), "done");
    assert_true(json_is_string(json_object_get(r->json, "checked_out_at")));
    itest_resp_free(r);
    char *v = db_value(&st,
                       "SELECT (checked_out_at >= checked_in_at)::text FROM studio_sessions"
                       " WHERE id = $1",
                       session);
    assert_string_equal(v, "true");
    free(v);

    /* Explicit times: out before in is refused; engineer set and cleared; bad status. */
    char in[32], out[32];
    itest_local_time(ZONE, 2, 10, 0, in);
    itest_local_time(ZONE, 2, 9, 0, out);
    r = call(&st, "PUT", path, json_pack("{s:s, s:s}", "checked_in_at", in, "checked_out_at", out));
    itest_assert_field(r, "checked_out_at");
    itest_resp_free(r);
    r = call(&st, "PUT", path,
             json_pack("{s:s, s:s, s:s}", "checked_in_at", "yesterday", "status", "paused",
                       "engineer_id", "bob"));
    itest_assert_field(r, "checked_in_at");
    itest_assert_field(r, "status");
    itest_assert_field(r, "engineer_id");
    itest_resp_free(r);
    r = call(&st, "PUT", path, json_pack("{s:s}", "engineer_id", st.user_id));
    assert_status(r, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "engineer"), "id")), st.user_id);
    itest_resp_free(r);
    r = call(&st, "PUT", path, json_pack("{s:n}", "engineer_id"));
    assert_status(r, 200);
    assert_true(json_is_null(json_object_get(r->json, "engineer")));
    itest_resp_free(r);

    /* The session list and its filters. */
    r = call(&st, "GET", "/api/sessions", NULL);
    assert_status(r, 200);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 2);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/sessions?status=done", NULL);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r->json, "items"), 0), "id")),
                        session);
    itest_resp_free(r);
    char d3[16], q[128];
    itest_local_day(ZONE, 3, d3);
    snprintf(q, sizeof(q), "/api/sessions?from=%s&to=%s", d3, d3);
    r = call(&st, "GET", q, NULL);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r->json, "items"), 0), "id")),
                        other_session);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/sessions?limit=1&offset=1", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "items")), 1);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 2);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/sessions?status=paused&limit=500", NULL);
    itest_assert_field(r, "status");
    itest_assert_field(r, "limit");
    itest_resp_free(r);
}

/* ---- customers ---------------------------------------------------------------------------- */

static void test_customers_search_and_history_newest_first(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-cust", &st);
    char a[40], early[40], late[40], other[40];
    add_room(&st, "Room A", 3000, a);
    staff_book(&st, a, 2, 10, 60, "Alice Martin", "alice@example.com", early);
    staff_book(&st, a, 9, 10, 60, "Alice Martin", "alice@example.com", late);
    staff_book(&st, a, 3, 10, 60, "Bruno Diaz", "bruno@example.com", other);

    struct itest_resp *r = call(&st, "GET", "/api/customers?q=ALICE", NULL);
    assert_status(r, 200);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 1);
    json_t *c = json_array_get(json_object_get(r->json, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "email")), "alice@example.com");
    assert_int_equal(json_integer_value(json_object_get(c, "bookings_count")), 2);
    char id[40];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(c, "id")));
    itest_resp_free(r);

    r = call(&st, "GET", "/api/customers?q=bruno%40", NULL);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 1);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/customers?q=%2B33%206", NULL); /* the phone */
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 2);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/customers?q=nobody", NULL);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 0);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/customers?limit=1&offset=1", NULL);
    assert_int_equal(json_integer_value(json_object_get(r->json, "total")), 2);
    assert_int_equal(json_array_size(json_object_get(r->json, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r->json, "items"), 0), "name")),
                        "Bruno Diaz");
    itest_resp_free(r);

    char path[160];
    snprintf(path, sizeof(path), "/api/customers/%s", id);
    r = call(&st, "GET", path, NULL);
    assert_status(r, 200);
    assert_string_equal(json_string_value(json_object_get(r->json, "name")), "Alice Martin");
    json_t *history = json_object_get(r->json, "bookings");
    assert_int_equal(json_array_size(history), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(history, 0), "id")), late);
    assert_string_equal(json_string_value(json_object_get(json_array_get(history, 1), "id")),
                        early);
    itest_resp_free(r);
}

/* ---- calendar feeds ----------------------------------------------------------------------- */

static void test_calendar_feed_serves_ics_without_a_session_until_deleted(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-feed", &st);
    char a[40], b[40], confirmed[40], pending[40], in_b[40], cancelled[40];
    /* A long name, so that SUMMARY is folded. */
    const char *long_room = "The Big Live Room with the Steinway, the Neve desk and the "
                            "echo chamber";
    add_room(&st, long_room, 3000, a);
    add_room(&st, "Booth", 3000, b);
    staff_book(&st, a, 2, 10, 120, "Smith, John; \"The\" Band\\Crew", "smith@example.com",
               confirmed);
    staff_book(&st, a, 3, 10, 60, "Pending Pat", "pat@example.com", pending);
    staff_book(&st, b, 2, 10, 60, "Booth Bea", "bea@example.com", in_b);
    staff_book(&st, a, 4, 10, 60, "Gone Gary", "gary@example.com", cancelled);
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", confirmed, "confirmed");
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", pending, "pending");
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", cancelled, "cancelled");

    struct itest_resp *r = call(&st, "POST", "/api/calendar-feeds", json_pack("{s:n}", "room_id"));
    assert_status(r, 201);
    char feed[40], url[512];
    snprintf(feed, sizeof(feed), "%s", json_string_value(json_object_get(r->json, "id")));
    snprintf(url, sizeof(url), "%s", json_string_value(json_object_get(r->json, "url")));
    itest_resp_free(r);
    size_t base = strlen(st.s.url);
    assert_true(strncmp(url, st.s.url, base) == 0);
    assert_true(strncmp(url + base, "/calendar/", 10) == 0);
    assert_true(strlen(url) > 4 && strcmp(url + strlen(url) - 4, ".ics") == 0);
    const char *path = url + base;
    const char *token_start = path + 10;
    char token[64];
    snprintf(token, sizeof(token), "%.*s", (int)(strlen(token_start) - 4), token_start);
    /* Only the token's hash is kept. */
    char *stored = db_value(&st, "SELECT token_hash FROM calendar_feeds WHERE id = $1", feed);
    assert_non_null(stored);
    assert_null(strstr(stored, token));
    assert_int_equal(strlen(stored), 64);
    free(stored);

    /* No cookie, no CSRF: the token is the credential. */
    r = itest_request(srv, "GET", st.s.host, path, NULL, NULL, NULL, NULL);
    assert_status(r, 200);
    assert_string_equal(itest_header(r, "Content-Type"), "text/calendar; charset=utf-8");
    assert_string_equal(itest_header(r, "Cache-Control"), "private, max-age=300");
    const char *ics = r->body;
    assert_true(strncmp(ics, "BEGIN:VCALENDAR\r\n", 17) == 0);
    assert_true(r->body_len > 15 && strcmp(ics + r->body_len - 15, "END:VCALENDAR\r\n") == 0);
    /* CRLF everywhere; no line longer than 75 octets. */
    size_t line = 0;
    for (size_t i = 0; i < r->body_len; i++) {
        if (ics[i] == '\n') {
            assert_true(i > 0 && ics[i - 1] == '\r');
            line = 0;
        } else if (ics[i] != '\r' && ++line > 75) {
            fail_msg("a line longer than 75 octets at %zu", i);
        }
    }
    assert_non_null(strstr(ics, "\r\n ")); /* something was folded */
    char *flat = unfold(ics);
    assert_int_equal(count_of(flat, "BEGIN:VEVENT\r\n"), 3);
    assert_int_equal(count_of(flat, "END:VEVENT\r\n"), 3);
    char want[512];
    snprintf(want, sizeof(want),
             "SUMMARY:%s\\, the Neve desk and the echo chamber: "
             "Smith\\, John\\; \"The\" Band\\\\Crew\r\n",
             "The Big Live Room with the Steinway");
    if (!strstr(flat, want))
        fail_msg("no %s in\n%s", want, flat);
    assert_non_null(strstr(flat, "SUMMARY:Booth: Booth Bea\r\n"));
    assert_null(strstr(flat, "Gone Gary"));
    assert_int_equal(count_of(flat, "STATUS:TENTATIVE\r\n"), 1);
    assert_int_equal(count_of(flat, "STATUS:CONFIRMED\r\n"), 2);
    char *ref = db_value(&st, "SELECT ref FROM bookings WHERE id = $1", confirmed);
    snprintf(want, sizeof(want), "UID:%s@", ref);
    assert_non_null(strstr(flat, want));
    free(ref);
    char *dtstart = db_value(&st,
                             "SELECT to_char(starts_at AT TIME ZONE 'UTC',"
                             " 'YYYYMMDD\"T\"HH24MISS\"Z\"') FROM bookings WHERE id = $1",
                             confirmed);
    snprintf(want, sizeof(want), "DTSTART:%s\r\n", dtstart);
    assert_non_null(strstr(flat, want));
    free(dtstart);
    free(flat);
    itest_resp_free(r);

    /* A feed of one room. */
    r = call(&st, "POST", "/api/calendar-feeds", json_pack("{s:s}", "room_id", b));
    assert_status(r, 201);
    char room_url[512];
    snprintf(room_url, sizeof(room_url), "%s", json_string_value(json_object_get(r->json, "url")));
    itest_resp_free(r);
    r = itest_request(srv, "GET", st.s.host, room_url + base, NULL, NULL, NULL, NULL);
    assert_status(r, 200);
    assert_int_equal(count_of(r->body, "BEGIN:VEVENT"), 1);
    assert_non_null(strstr(r->body, "Booth Bea"));
    itest_resp_free(r);

    /* The list shows feeds, never tokens. */
    r = call(&st, "GET", "/api/calendar-feeds", NULL);
    assert_status(r, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "items")), 2);
    assert_null(strstr(r->body, token));
    assert_null(strstr(r->body, "url"));
    itest_resp_free(r);

    /* Unknown rooms and tokens; another studio's host. */
    r = call(&st, "POST", "/api/calendar-feeds", json_pack("{s:s}", "room_id", NO_SUCH_ID));
    itest_assert_field(r, "room_id");
    itest_resp_free(r);
    itest_expect_error(itest_request(srv, "GET", st.s.host,
                                     "/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", NULL, NULL,
                                     NULL, NULL),
                       404, NULL);
    itest_expect_error(
        itest_request(srv, "GET", st.s.host, "/calendar/nope.ics", NULL, NULL, NULL, NULL), 404,
        NULL);
    struct staff other;
    open_studio("bk-feed-other", &other);
    itest_expect_error(itest_request(srv, "GET", other.s.host, path, NULL, NULL, NULL, NULL), 404,
                       NULL);

    char del[160];
    snprintf(del, sizeof(del), "/api/calendar-feeds/%s", feed);
    r = call(&st, "DELETE", del, NULL);
    assert_status(r, 204);
    itest_resp_free(r);
    itest_expect_error(itest_request(srv, "GET", st.s.host, path, NULL, NULL, NULL, NULL), 404,
                       NULL);
    itest_expect_error(call(&st, "DELETE", del, NULL), 404, "not_found");
}

/* ---- every 4xx ---------------------------------------------------------------------------- */

static void test_no_session_401_no_csrf_403_bad_ids_404_bad_fields_422(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-errors", &st);
    char a[40], booking[40], session[40];
    add_room(&st, "Room A", 3000, a);
    staff_book(&st, a, 2, 10, 60, "Err Or", "err@example.com", booking);
    set_booking(&st, "UPDATE bookings SET status = $2 WHERE id = $1", booking, "confirmed");
    convert(&st, booking, session);

    static const char *const reads[] = {"/api/bookings", "/api/sessions", "/api/customers",
                                        "/api/calendar-feeds", NULL};
    for (const char *const *p = reads; *p; p++) {
        struct itest_resp *r = itest_request(srv, "GET", st.s.host, *p, NULL, NULL, NULL, NULL);
        itest_assert_error(r, 401, "unauthenticated");
        itest_resp_free(r);
    }
    struct itest_resp *r =
        itest_staff_request(srv, "POST", st.s.host, "/api/bookings",
                            booking_body(a, 3, 10, 60, "No", "no@example.com"), NULL, NULL);
    itest_assert_error(r, 401, "unauthenticated");
    itest_resp_free(r);

    char path[200];
    struct {
        const char *method, *fmt;
    } writes[] = {
        {"POST", "/api/bookings"},
        {"POST", "/api/bookings/%s/confirm"},
        {"POST", "/api/bookings/%s/cancel"},
        {"PUT", "/api/bookings/%s"},
        {"POST", "/api/bookings/%s/convert"},
        {"PUT", "/api/sessions/%s"},
        {"POST", "/api/sessions/%s/items"},
        {"POST", "/api/calendar-feeds"},
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        snprintf(path, sizeof(path), writes[i].fmt,
                 strstr(writes[i].fmt, "sessions") ? session : booking);
        itest_expect_error(itest_staff_request(srv, writes[i].method, st.s.host, path,
                                               json_object(), &st.jar, NULL),
                           403, "csrf_failed");
    }
    char *status = db_value(&st, "SELECT status FROM bookings WHERE id = $1", booking);
    assert_string_equal(status, "confirmed");
    free(status);

    /* Ids: not a uuid, or a uuid of nothing. */
    static const char *const bad_ids[] = {"not-a-uuid", "1", NO_SUCH_ID,
                                          "4B0F6F1E-9A55-4C1E-8F7E-1D2A3B4C5D6", NULL};
    for (const char *const *id = bad_ids; *id; id++) {
        struct {
            const char *method, *fmt;
            bool body;
        } routes[] = {
            {"GET", "/api/bookings/%s", false},
            {"PUT", "/api/bookings/%s", true},
            {"POST", "/api/bookings/%s/confirm", false},
            {"POST", "/api/bookings/%s/cancel", false},
            {"POST", "/api/bookings/%s/convert", false},
            {"GET", "/api/sessions/%s", false},
            {"PUT", "/api/sessions/%s", true},
            {"POST", "/api/sessions/%s/items", true},
            {"DELETE", "/api/sessions/%s/items/%s", false},
            {"GET", "/api/customers/%s", false},
            {"DELETE", "/api/calendar-feeds/%s", false},
        };
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            snprintf(path, sizeof(path), routes[i].fmt, *id, *id);
            json_t *body = NULL;
            if (routes[i].body)
                body = strstr(path, "items")
                           ? json_pack("{s:s, s:i}", "description", "x", "unit_amount", 1)
                       : strstr(path, "sessions") ? json_pack("{s:s}", "notes", "x")
                                                  : json_pack("{s:s}", "room_id", a);
            r = call(&st, routes[i].method, path, body);
            if (r->status != 404)
                fail_msg("%s %s: %ld %s", routes[i].method, path, r->status, r->body);
            assert_non_null(itest_error_code(r));
            itest_resp_free(r);
        }
    }
    /* An item id that is not a uuid, under a real session. */
    snprintf(path, sizeof(path), "/api/sessions/%s/items/xyz", session);
    itest_expect_error(call(&st, "DELETE", path, NULL), 404, NULL);

    /* Bad query parameters, each named. */
    r = call(&st, "GET",
             "/api/bookings?status=confirmed,bogus&room_id=12&from=2025-02-30&to=tomorrow"
             "&paid=maybe&sort=name&limit=0&offset=-1&q=" /* empty q: no filter */,
             NULL);
    static const char *const bad_fields[] = {"status", "room_id", "from",   "to", "paid",
                                             "sort",   "limit",   "offset", NULL};
    for (const char *const *f = bad_fields; *f; f++)
        itest_assert_field(r, *f);
    itest_resp_free(r);
    r = call(&st, "GET", "/api/bookings?limit=201", NULL);
    itest_assert_field(r, "limit");
    itest_resp_free(r);
    r = call(&st, "GET", "/api/bookings?from=2030-01-02&to=2030-01-01", NULL);
    itest_assert_field(r, "to");
    itest_resp_free(r);
    r = call(&st, "GET", "/api/customers?limit=x", NULL);
    itest_assert_field(r, "limit");
    itest_resp_free(r);
    /* Bodies: wrong types named; not JSON is 400/415. */
    r = call(&st, "POST", "/api/calendar-feeds", json_pack("{s:i}", "room_id", 3));
    itest_assert_field(r, "room_id");
    itest_resp_free(r);
    snprintf(path, sizeof(path), "/api/sessions/%s", session);
    r = call(&st, "PUT", path, json_pack("{s:i, s:s}", "notes", 3, "check_in", "yes"));
    itest_assert_field(r, "notes");
    itest_assert_field(r, "check_in");
    itest_resp_free(r);
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", st.csrf);
    const char *headers[] = {hdr, NULL};
    itest_expect_error(itest_request(srv, "PUT", st.s.host, path, "application/json", "{not json",
                                     headers, &st.jar),
                       400, NULL);
    itest_expect_error(
        itest_request(srv, "PUT", st.s.host, path, "text/plain", "notes=x", headers, &st.jar), 415,
        NULL);
}

/* ---- tenancy ------------------------------------------------------------------------------ */

static void test_another_studio_sees_none_of_this_studios_records(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff sa, sb;
    open_studio("bk-ten-a", &sa);
    open_studio("bk-ten-b", &sb);
    char a[40], booking[40], session[40], feed[40];
    add_room(&sa, "Room A", 3000, a);
    staff_book(&sa, a, 2, 10, 60, "Secret Client", "secret@example.com", booking);
    set_booking(&sa, "UPDATE bookings SET status = $2 WHERE id = $1", booking, "confirmed");
    convert(&sa, booking, session);
    char *customer = db_value(&sa, "SELECT customer_id FROM bookings WHERE id = $1", booking);
    assert_non_null(customer);
    struct itest_resp *r = call(&sa, "POST", "/api/calendar-feeds", json_object());
    assert_status(r, 201);
    snprintf(feed, sizeof(feed), "%s", json_string_value(json_object_get(r->json, "id")));
    itest_resp_free(r);

    char path[200];
    const char *gets[][2] = {{"/api/bookings/%s", booking},
                             {"/api/sessions/%s", session},
                             {"/api/customers/%s", customer}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), gets[i][0], gets[i][1]);
        itest_expect_error(call(&sb, "GET", path, NULL), 404, NULL);
    }
    const char *writes[][3] = {{"POST", "/api/bookings/%s/confirm", booking},
                               {"POST", "/api/bookings/%s/cancel", booking},
                               {"POST", "/api/bookings/%s/convert", booking},
                               {"PUT", "/api/sessions/%s", session},
                               {"DELETE", "/api/calendar-feeds/%s", feed}};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), writes[i][1], writes[i][2]);
        itest_expect_error(
            call(&sb, writes[i][0], path,
                 strcmp(writes[i][0], "PUT") == 0 ? json_pack("{s:s}", "notes", "x") : NULL),
            404, NULL);
    }
    static const char *const lists[] = {"/api/bookings",       "/api/sessions",
                                        "/api/customers",      "/api/customers?q=secret",
                                        "/api/calendar-feeds", NULL};
    for (const char *const *l = lists; *l; l++) {
        r = call(&sb, "GET", *l, NULL);
        assert_status(r, 200);
        assert_int_equal(json_array_size(json_object_get(r->json, "items")), 0);
        assert_false(page_has(r->json, booking));
        assert_null(strstr(r->body, booking));
        assert_null(strstr(r->body, "Secret"));
        itest_resp_free(r);
    }
    /* B's session is worth nothing on A's host. */
    itest_expect_error(
        itest_staff_request(srv, "GET", sa.s.host, "/api/bookings", NULL, &sb.jar, sb.csrf), 401,
        NULL);
    char *v = db_value(&sa, "SELECT status FROM bookings WHERE id = $1", booking);
    assert_string_equal(v, "confirmed");
    free(v);
    free(customer);
}

/* ---- the race ----------------------------------------------------------------------------- */

struct racer {
    struct staff *st;
    const char *host;
    const char *path;
    json_t *body; /* owned; sent once */
    pthread_barrier_t *start;
    long status;
    char code[32];
};

static void *race_move(void *arg)
{
    struct racer *r = arg;
    char *text = json_dumps(r->body, JSON_COMPACT);
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", r->st->csrf);
    const char *headers[] = {hdr, NULL};
    struct itest_cookies jar = r->st->jar; /* a copy: the threads share nothing mutable */
    pthread_barrier_wait(r->start);
    struct itest_resp *resp =
        itest_request(srv, "PUT", r->host, r->path, "application/json", text, headers, &jar);
    r->status = resp->status;
    snprintf(r->code, sizeof(r->code), "%s", itest_error_code(resp) ? itest_error_code(resp) : "");
    itest_resp_free(resp);
    free(text);
    return NULL;
}

static void *race_public(void *arg)
{
    struct racer *r = arg;
    char *text = json_dumps(r->body, JSON_COMPACT);
    pthread_barrier_wait(r->start);
    struct itest_resp *resp =
        itest_request(srv, "POST", r->host, r->path, "application/json", text, NULL, NULL);
    r->status = resp->status;
    snprintf(r->code, sizeof(r->code), "%s", itest_error_code(resp) ? itest_error_code(resp) : "");
    itest_resp_free(resp);
    free(text);
    return NULL;
}

static void test_a_staff_move_racing_public_bookings_leaves_one_holder_of_the_slot(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct staff st;
    open_studio("bk-race", &st);
    char a[40];
    add_room(&st, "Room A", 3000, a);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int day = 10 + round;
        char movers[RACE_MOVERS][40], paths[RACE_MOVERS][80], from[32], to[32];
        /* Each mover's booking starts elsewhere: another day, so the target is free. */
        for (int i = 0; i < RACE_MOVERS; i++) {
            char name[32], email[64];
            snprintf(name, sizeof(name), "Mover %d", i);
            snprintf(email, sizeof(email), "mover%d-%d@example.com", round, i);
            staff_book(&st, a, 40 + round * 2 + i / 12, 9 + i % 12, 60, name, email, movers[i]);
            snprintf(paths[i], sizeof(paths[i]), "/api/bookings/%.39s", movers[i]);
        }
        itest_local_time(ZONE, day, 14, 0, from);
        itest_local_time(ZONE, day, 16, 0, to);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, RACE_MOVERS + RACE_PUBLIC);
        struct racer racers[RACE_MOVERS + RACE_PUBLIC];
        pthread_t threads[RACE_MOVERS + RACE_PUBLIC];
        for (int i = 0; i < RACE_MOVERS + RACE_PUBLIC; i++) {
            struct racer *r = &racers[i];
            memset(r, 0, sizeof(*r));
            r->st = &st;
            r->host = st.s.host;
            r->start = &start;
            if (i < RACE_MOVERS) {
                r->path = paths[i];
                r->body = json_pack("{s:s, s:s}", "starts_at", from, "ends_at", to);
                pthread_create(&threads[i], NULL, race_move, r);
            } else {
                char name[32], email[64];
                snprintf(name, sizeof(name), "Public %d", i);
                snprintf(email, sizeof(email), "public%d-%d@example.com", round, i);
                r->path = "/api/public/booking";
                r->body = booking_body(a, day, 14, 120, name, email);
                pthread_create(&threads[i], NULL, race_public, r);
            }
        }
        int won = 0, lost = 0;
        for (int i = 0; i < RACE_MOVERS + RACE_PUBLIC; i++) {
            pthread_join(threads[i], NULL);
            json_decref(racers[i].body);
            long s = racers[i].status;
            if (s == 200 || s == 201)
                won++;
            else if (s == 409 && strcmp(racers[i].code, "slot_taken") == 0)
                lost++;
            else
                fail_msg("racer %d: %ld %s", i, s, racers[i].code);
        }
        pthread_barrier_destroy(&start);
        print_message("  round %d: %d won, %d got 409\n", round, won, lost);
        assert_int_equal(won, 1);
        assert_int_equal(lost, RACE_MOVERS + RACE_PUBLIC - 1);
        char *holders = itest_pg_value(
            st.s.db,
            "SELECT count(*) FROM bookings WHERE room_id = $1 AND status IN"
            " ('pending', 'confirmed') AND hold && tstzrange($2::timestamptz, $3::timestamptz)",
            a, from, to);
        assert_string_equal(holders, "1");
        free(holders);
        /* The movers that lost kept their own slots. */
        char ids[RACE_MOVERS * 40 + 8] = "{";
        int movers_won = 0;
        for (int i = 0; i < RACE_MOVERS; i++) {
            strcat(ids, movers[i]);
            strcat(ids, i + 1 < RACE_MOVERS ? "," : "}");
            movers_won += racers[i].status == 200;
        }
        char *kept = itest_pg_value(st.s.db,
                                    "SELECT count(*) FROM bookings WHERE id = ANY ($1::uuid[])"
                                    " AND starts_at > now() + interval '30 days'",
                                    ids);
        char want[16];
        snprintf(want, sizeof(want), "%d", RACE_MOVERS - movers_won);
        assert_string_equal(kept, want);
        free(kept);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_filters_by_status_room_dates_text_and_payment),
        cmocka_unit_test(test_list_sorts_pages_and_counts_the_total),
        cmocka_unit_test(test_staff_booking_with_skip_deposit_is_confirmed_and_records_its_author),
        cmocka_unit_test(test_confirm_then_cancel_with_a_refund_override_up_to_what_was_paid),
        cmocka_unit_test(test_move_to_a_taken_slot_is_409_and_to_a_free_one_frees_the_old),
        cmocka_unit_test(test_convert_makes_one_session_of_a_confirmed_booking_and_keeps_its_hold),
        cmocka_unit_test(test_session_check_in_out_items_and_totals),
        cmocka_unit_test(test_customers_search_and_history_newest_first),
        cmocka_unit_test(test_calendar_feed_serves_ics_without_a_session_until_deleted),
        cmocka_unit_test(test_no_session_401_no_csrf_403_bad_ids_404_bad_fields_422),
        cmocka_unit_test(test_another_studio_sees_none_of_this_studios_records),
        cmocka_unit_test(test_a_staff_move_racing_public_bookings_leaves_one_holder_of_the_slot),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
