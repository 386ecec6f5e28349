/*
 * test_booking_public.c — the public booking API against a real studiod,
 * PostgreSQL and SMTP sink: the studio and its rooms, availability (booked
 * slots, buffers, closures, notice, horizon, and daylight-saving days in
 * Europe/Paris and America/New_York), making a booking priced by the server,
 * every 422/404/403/409 path, reading and cancelling with the manage token,
 * the search that mails fresh links and never lists bookings, the "booking
 * made" mail and its .ics, pending holds that expire, and refs that do not
 * cross studios.
 *
 * One studiod serves the suite; every test makes its own studio and creates
 * rooms and policy rows with SQL in the studio's database. Dates are chosen
 * relative to today in the studio's zone; the daylight-saving days are the
 * next ones to come (the last Sundays of March and October 2027 for Paris,
 * at the time of writing), with the studio's horizon raised to reach them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "itest_harness.h"

#define PASSWORD "correct horse battery staple"
#define MAIL_WAIT_MS 20000
#define EXPIRE_WAIT_MS 20000
#define PATH_MAX_LEN 1024

static struct studiod_proc *const srv = &itest_server;

static void new_studio(const char *prefix, const char *tz, struct itest_studio *s);
static void sql(const char *db, const char *stmt);
static void local_date(const char *tz, int days, char *out);
static void at(const char *tz, const char *date, const char *hhmm, char *out);
static struct itest_resp *get(const struct itest_studio *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct itest_resp *post(const struct itest_studio *s, const char *path, json_t *body,
                               const char *const *headers);
static struct itest_resp *book_at(const struct itest_studio *s, const char *room, const char *tz,
                                  const char *date, const char *from, const char *to,
                                  const char *email);
static struct itest_resp *book(const struct itest_studio *s, const char *room, const char *starts,
                               const char *ends, const char *email);
static json_t *availability(const struct itest_studio *s, const char *room, const char *from,
                            const char *to);
static json_t *day_slots(const struct itest_studio *s, const char *room, const char *date);
static bool has_slot(json_t *slots, const char *date, const char *hhmm);
static char *wait_mail_with(const char *to, const char *needle, int timeout_ms);
static char *link_in(const char *text);
static char *ics_of(const char *raw);
static char *dst_sunday(const char *tz, int month, int nth);

/* ---- helpers ----------------------------------------------------------------------------- */

/* A new studio in zone tz, signed up over HTTP. */
static void new_studio(const char *prefix, const char *tz, struct itest_studio *s)
{
    itest_name_studio(prefix, s);
    char name[128];
    snprintf(name, sizeof(name), "Studio %s", s->slug);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "studio_name", name, "slug",
                            s->slug, "owner_name", "Owner", "owner_email", s->email, "password",
                            PASSWORD, "timezone", tz, "currency", "EUR");
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct itest_resp *r =
        itest_request(srv, "POST", NULL, "/signup", "application/json", body, NULL, NULL);
    free(body);
    if (r->status != 201)
        fail_msg("signup of %s: %ld %s", s->slug, r->status, r->body);
    snprintf(s->url, sizeof(s->url), "%s", itest_json_str(r->json, "studio_url"));
    itest_resp_free(r);
}

static void sql(const char *db, const char *stmt)
{
    assert_int_equal(itest_pg_exec(db, stmt), 0);
}

/* The studio-local date `days` after today, YYYY-MM-DD (out: 16 bytes). */
static void local_date(const char *tz, int days, char *out)
{
    char d[16];
    snprintf(d, sizeof(d), "%d", days);
    char *v = itest_pg_value(NULL, "SELECT ((now() AT TIME ZONE $1)::date + $2::int)::text", tz, d);
    assert_non_null(v);
    snprintf(out, 16, "%s", v);
    free(v);
}

/* Local date + time in tz as an RFC 3339 UTC instant (out: 64 bytes). */
static void at(const char *tz, const char *date, const char *hhmm, char *out)
{
    char *v = itest_pg_value(NULL,
                             "SELECT to_char((($2::date + $3::time) AT TIME ZONE $1)"
                             " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                             tz, date, hhmm);
    assert_non_null(v);
    snprintf(out, 64, "%s", v);
    free(v);
}

/* The nth Sunday of month (nth -1: the last) from today on, in tz: the DST days. */
static char *dst_sunday(const char *tz, int month, int nth)
{
    char m[8], n[8];
    snprintf(m, sizeof(m), "%d", month);
    snprintf(n, sizeof(n), "%d", nth);
    char *v = itest_pg_value(
        NULL,
        "SELECT d::date::text FROM generate_series((now() AT TIME ZONE $1)::date + 2,"
        "                                          (now() AT TIME ZONE $1)::date + 420,"
        "                                          interval '1 day') d"
        " WHERE extract(month FROM d) = $2::int AND extract(isodow FROM d) = 7"
        "   AND CASE WHEN $3::int < 0 THEN extract(month FROM d + interval '7 days') <> $2::int"
        "            ELSE (extract(day FROM d)::int - 1) / 7 + 1 = $3::int END"
        " ORDER BY d LIMIT 1",
        tz, m, n);
    assert_non_null(v);
    return v;
}

static struct itest_resp *get(const struct itest_studio *s, const char *fmt, ...)
{
    char path[PATH_MAX_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return itest_request(srv, "GET", s->host, path, NULL, NULL, NULL, NULL);
}

/* POST body (stolen; NULL: no body) as JSON. */
static struct itest_resp *post(const struct itest_studio *s, const char *path, json_t *body,
                               const char *const *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct itest_resp *r = itest_request(srv, "POST", s->host, path,
                                         text ? "application/json" : NULL, text, headers, NULL);
    free(text);
    return r;
}

/* A booking of room from starts to ends for customer name <email> (phone; notes NULL:
 * none). */
static struct itest_resp *book_for(const struct itest_studio *s, const char *room,
                                   const char *starts, const char *ends, const char *name,
                                   const char *email, const char *phone, const char *notes)
{
    return post(s, "/api/public/booking",
                json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:s*}", "room_id", room, "starts_at",
                          starts, "ends_at", ends, "customer", "name", name, "email", email,
                          "phone", phone, "notes", notes),
                NULL);
}

static struct itest_resp *book(const struct itest_studio *s, const char *room, const char *starts,
                               const char *ends, const char *email)
{
    return book_for(s, room, starts, ends, "Ada Lovelace", email, "+33 1 23 45 67 89",
                    "Two guitars");
}

/* book() of room on date (local to tz) from one HH:MM to another. */
static struct itest_resp *book_at(const struct itest_studio *s, const char *room, const char *tz,
                                  const char *date, const char *from, const char *to,
                                  const char *email)
{
    char starts[64], ends[64];
    at(tz, date, from, starts);
    at(tz, date, to, ends);
    return book(s, room, starts, ends, email);
}

/* The slots array of a 200 availability answer (json_decref it). '+' is sent as %2B. */
static json_t *availability(const struct itest_studio *s, const char *room, const char *from,
                            const char *to)
{
    char f[128], t[128];
    size_t j = 0;
    for (const char *p = from; *p && j < sizeof(f) - 4; p++)
        j += (size_t)(*p == '+' ? snprintf(f + j, 4, "%%2B") : snprintf(f + j, 2, "%c", *p));
    f[j] = '\0';
    j = 0;
    for (const char *p = to; *p && j < sizeof(t) - 4; p++)
        j += (size_t)(*p == '+' ? snprintf(t + j, 4, "%%2B") : snprintf(t + j, 2, "%c", *p));
    t[j] = '\0';
    struct itest_resp *r = get(s, "/api/public/availability?room_id=%s&from=%s&to=%s", room, f, t);
    if (r->status != 200)
        fail_msg("availability: %ld %s", r->status, r->body);
    json_t *slots = json_incref(json_object_get(r->json, "slots"));
    assert_true(json_is_array(slots));
    itest_resp_free(r);
    return slots;
}

/* The slots of one local day. */
static json_t *day_slots(const struct itest_studio *s, const char *room, const char *date)
{
    char *next = itest_pg_value(NULL, "SELECT ($1::date + 1)::text", date);
    json_t *slots = availability(s, room, date, next);
    free(next);
    return slots;
}

/* True when a slot starts at local date + hhmm. */
static bool has_slot(json_t *slots, const char *date, const char *hhmm)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%sT%s:00", date, hhmm);
    size_t i;
    json_t *v;
    json_array_foreach(slots, i, v)
    {
        if (strncmp(itest_json_str(v, "starts_at"), prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

/* Waits for a message to `to` whose decoded text contains needle; the raw message (free). */
static char *wait_mail_with(const char *to, const char *needle, int timeout_ms)
{
    char *msg = NULL;
    return itest_wait_mail_with(to, needle, timeout_ms, &msg) == 0 ? msg : NULL;
}

/* The first manage link (http...://.../book/REF?token=...) in text (free). */
static char *link_in(const char *text)
{
    const char *b = strstr(text, "/book/");
    if (!b)
        return NULL;
    const char *s = b;
    while (s > text && strncmp(s, "http", 4) != 0)
        s--;
    size_t n = strcspn(s, " \r\n\t");
    return strndup(s, n);
}

/* The decoded text/calendar attachment of a raw message (free), or NULL. */
static char *ics_of(const char *raw)
{
    const char *h = strcasestr(raw, "Content-Type: text/calendar");
    if (!h)
        return NULL;
    const char *b = strstr(h, "\r\n\r\n");
    const char *lf = strstr(h, "\n\n");
    if (!b || (lf && lf < b))
        b = lf ? lf + 2 : NULL;
    else
        b += 4;
    if (!b)
        return NULL;
    const char *end = strstr(b, "\n--");
    size_t len = end ? (size_t)(end - b) : strlen(b);
    char *out = calloc(1, len + 1);
    size_t outlen = 0;
    if (sodium_base642bin((unsigned char *)out, len, b, len, "\r\n", &outlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(out);
        return NULL;
    }
    out[outlen] = '\0';
    return out;
}

/* ---- the studio and its rooms ------------------------------------------------------------- */

static void test_studio_and_rooms_are_public_and_list_only_bookable_rooms(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-pub", "Europe/Paris", &s);
    char *a = itest_add_room(&s, "Live Room", 2500);
    sql(s.db, "INSERT INTO rooms (name, active) VALUES ('Closed Room', false)");
    sql(s.db, "INSERT INTO rooms (name, archived_at) VALUES ('Old Room', now())");

    struct itest_resp *r = get(&s, "/api/public/studio");
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "timezone"), "Europe/Paris");
    assert_string_equal(itest_json_str(r->json, "currency"), "EUR");
    assert_non_null(strstr(itest_json_str(r->json, "name"), s.slug));
    json_t *policy = json_object_get(r->json, "policy");
    assert_int_equal(json_integer_value(json_object_get(policy, "slot_step_minutes")), 30);
    itest_resp_free(r);

    r = get(&s, "/api/public/rooms");
    assert_int_equal(r->status, 200);
    json_t *rooms = json_object_get(r->json, "rooms");
    assert_int_equal(json_array_size(rooms), 1);
    json_t *room = json_array_get(rooms, 0);
    assert_string_equal(itest_json_str(room, "id"), a);
    assert_string_equal(itest_json_str(room, "name"), "Live Room");
    assert_int_equal(json_integer_value(json_object_get(room, "hourly_rate")), 2500);
    assert_string_equal(itest_json_str(room, "currency"), "EUR");
    const char *keys[] = {"description", "capacity", "equipment", "color", "photo_url"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_non_null(json_object_get(room, keys[i]));
    itest_resp_free(r);

    /* Not on the bare domain: these routes need a studio. */
    itest_expect_status(
        itest_request(srv, "GET", NULL, "/api/public/rooms", NULL, NULL, NULL, NULL), 404);
    free(a);
}

/* ---- availability ------------------------------------------------------------------------ */

static void test_availability_rejects_bad_ranges_naming_the_field_and_unknown_rooms(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-range", "Europe/Paris", &s);
    char *room = itest_add_room(&s, "A", 1000);
    char d[16], d2[16];
    local_date("Europe/Paris", 10, d);
    local_date("Europe/Paris", 11, d2);

    struct itest_resp *r = get(&s, "/api/public/availability?room_id=%s&to=%s", room, d2);
    itest_assert_field(r, "from");
    itest_resp_free(r);
    r = get(&s, "/api/public/availability?room_id=%s&from=%s", room, d);
    itest_assert_field(r, "to");
    itest_resp_free(r);
    r = get(&s, "/api/public/availability?room_id=%s&from=tomorrow&to=%s", room, d2);
    itest_assert_field(r, "from");
    itest_resp_free(r);
    r = get(&s, "/api/public/availability?room_id=%s&from=%s&to=2027-02-30", room, d);
    itest_assert_field(r, "to");
    itest_resp_free(r);
    r = get(&s, "/api/public/availability?room_id=%s&from=%s&to=%s", room, d2, d);
    itest_assert_field(r, "to"); /* to before from */
    itest_resp_free(r);
    r = get(&s, "/api/public/availability?room_id=%s&from=%s&to=%s", room, d, d);
    itest_assert_field(r, "to"); /* an empty range */
    itest_resp_free(r);
    char far[16];
    local_date("Europe/Paris", 10 + 32, far);
    r = get(&s, "/api/public/availability?room_id=%s&from=%s&to=%s", room, d, far);
    itest_assert_field(r, "to"); /* more than 31 days */
    itest_resp_free(r);
    r = get(&s, "/api/public/availability?from=%s&to=%s", d, d2);
    itest_assert_field(r, "room_id");
    itest_resp_free(r);

    itest_expect_error(
        get(&s,
            "/api/public/availability?room_id=00000000-0000-4000-8000-000000000000&from=%s&to=%s",
            d, d2),
        404, "not_found");
    itest_expect_error(get(&s, "/api/public/availability?room_id=nope&from=%s&to=%s", d, d2), 404,
                       "not_found");

    /* RFC 3339 bounds work too, and 31 days is allowed. */
    char from[64], to[64];
    at("Europe/Paris", d, "12:00", from);
    at("Europe/Paris", d, "14:00", to);
    json_t *slots = availability(&s, room, from, to);
    assert_int_equal(json_array_size(slots), 4);
    json_decref(slots);
    local_date("Europe/Paris", 10 + 31, far);
    itest_expect_status(get(&s, "/api/public/availability?room_id=%s&from=%s&to=%s", room, d, far),
                        200);
    free(room);
}

static void test_availability_excludes_booked_slots_and_their_buffers(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-avail", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "A", 1000);
    char d[16];
    local_date(tz, 10, d);

    json_t *slots = day_slots(&s, room, d);
    assert_int_equal(json_array_size(slots), 28); /* 09:00-23:00, every 30 minutes */
    assert_true(has_slot(slots, d, "09:00"));
    assert_true(has_slot(slots, d, "22:30"));
    json_decref(slots);

    struct itest_resp *r = book_at(&s, room, tz, d, "14:00", "16:00", "avail@example.com");
    assert_int_equal(r->status, 201);
    itest_resp_free(r);
    slots = day_slots(&s, room, d);
    assert_int_equal(json_array_size(slots), 24);
    assert_false(has_slot(slots, d, "14:00"));
    assert_false(has_slot(slots, d, "15:30"));
    assert_true(has_slot(slots, d, "13:30"));
    assert_true(has_slot(slots, d, "16:00"));
    json_decref(slots);

    /* A 30-minute buffer: a slot needs 30 free minutes after it, and new holds keep 30. */
    sql(s.db, "UPDATE studio_settings SET buffer_minutes = 30");
    slots = day_slots(&s, room, d);
    assert_false(has_slot(slots, d, "13:30")); /* [13:30, 14:30) meets the 14:00 hold */
    assert_true(has_slot(slots, d, "16:00"));  /* that hold was made without a buffer */
    json_decref(slots);

    itest_expect_status(book_at(&s, room, tz, d, "18:00", "19:00", "avail@example.com"), 201);
    slots = day_slots(&s, room, d);
    assert_false(has_slot(slots, d, "17:30"));
    assert_false(has_slot(slots, d, "19:00")); /* inside the new hold's buffer */
    assert_true(has_slot(slots, d, "19:30"));
    assert_int_equal(json_array_size(slots), 28 - 5 - 4);
    json_decref(slots);

    r = book_at(&s, room, tz, d, "19:00", "20:00", "avail@example.com");
    itest_assert_error(r, 409, "slot_taken"); /* the buffer is part of the hold */
    itest_resp_free(r);
    itest_expect_status(book_at(&s, room, tz, d, "19:30", "20:30", "avail@example.com"), 201);
    free(room);
}

static void test_availability_honours_closures_room_hours_notice_and_horizon(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-close", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *a = itest_add_room(&s, "A", 1000);
    char *b = itest_add_room(&s, "B", 1000);
    char d1[16], d2[16], d3[16];
    local_date(tz, 10, d1);
    local_date(tz, 11, d2);
    local_date(tz, 12, d3);

    /* Room A closed on d1; the whole studio closed on d2. */
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO closures (room_id, starts_on, ends_on, reason)"
                                   " VALUES ($1::uuid, $2::date, $2::date, 'repairs')",
                                   a, d1),
                     0);
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO closures (starts_on, ends_on, reason)"
                                   " VALUES ($1::date, $1::date, 'holiday')",
                                   d2),
                     0);
    json_t *slots = day_slots(&s, a, d1);
    assert_int_equal(json_array_size(slots), 0);
    json_decref(slots);
    slots = day_slots(&s, b, d1);
    assert_int_equal(json_array_size(slots), 28);
    json_decref(slots);
    slots = day_slots(&s, b, d2);
    assert_int_equal(json_array_size(slots), 0);
    json_decref(slots);

    /* Room B's own hours replace the studio's: 10:00-12:00 every day. */
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO opening_hours (room_id, weekday, opens, closes)"
                                   " SELECT $1::uuid, w, '10:00', '12:00'"
                                   "   FROM generate_series(1, 7) w",
                                   b),
                     0);
    slots = day_slots(&s, b, d3);
    assert_int_equal(json_array_size(slots), 4);
    assert_true(has_slot(slots, d3, "10:00"));
    assert_true(has_slot(slots, d3, "11:30"));
    json_decref(slots);
    slots = day_slots(&s, a, d3);
    assert_int_equal(json_array_size(slots), 28);
    json_decref(slots);

    /* Notice: around the clock, the first slot today is the first at or after now + 2 h. */
    assert_int_equal(itest_pg_exec(s.db,
                                   "UPDATE opening_hours SET opens = '00:00', closes = '24:00'"
                                   " WHERE room_id = $1::uuid",
                                   b),
                     0);
    char today[16];
    local_date(tz, 0, today);
    char *tomorrow2 = itest_pg_value(NULL, "SELECT ($1::date + 2)::text", today);
    slots = availability(&s, b, today, tomorrow2);
    assert_true(json_array_size(slots) > 0);
    const char *first = itest_json_str(json_array_get(slots, 0), "starts_at");
    char *ok = itest_pg_value(NULL,
                              "SELECT $1::timestamptz >= now() + interval '120 minutes'"
                              "   AND $1::timestamptz < now() + interval '150 minutes'",
                              first);
    assert_non_null(ok);
    if (strcmp(ok, "t") != 0)
        fail_msg("first slot %s does not respect the 2-hour notice", first);
    free(ok);
    free(tomorrow2);
    json_decref(slots);

    /* Horizon: nothing past max_days_ahead. */
    sql(s.db, "UPDATE studio_settings SET max_days_ahead = 5");
    slots = day_slots(&s, a, d3);
    assert_int_equal(json_array_size(slots), 0);
    json_decref(slots);
    free(a);
    free(b);
}

/* Daylight-saving days: the right number of slots, each instant once, offsets that change. */
static void check_dst_days(const char *prefix, const char *tz, int spring_month, int spring_nth,
                           int fall_month, int fall_nth, const char *winter_offset,
                           const char *summer_offset)
{
    struct itest_studio s;
    new_studio(prefix, tz, &s);
    sql(s.db, "UPDATE studio_settings SET max_days_ahead = 730");
    char *day = itest_add_room(&s, "Day Room", 1000);
    char *clock = itest_add_room(&s, "Clock Room", 1000);
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO opening_hours (room_id, weekday, opens, closes)"
                                   " SELECT $1::uuid, w, '00:00', '24:00'"
                                   "   FROM generate_series(1, 7) w",
                                   clock),
                     0);
    char *spring = dst_sunday(tz, spring_month, spring_nth);
    char *fall = dst_sunday(tz, fall_month, fall_nth);

    /* 09:00-23:00 every 30 minutes is 28 slots on both days, in the day's offset. */
    json_t *slots = day_slots(&s, day, spring);
    assert_int_equal(json_array_size(slots), 28);
    assert_true(has_slot(slots, spring, "09:00"));
    assert_non_null(strstr(itest_json_str(json_array_get(slots, 0), "starts_at"), summer_offset));
    json_decref(slots);
    slots = day_slots(&s, day, fall);
    assert_int_equal(json_array_size(slots), 28);
    assert_true(has_slot(slots, fall, "22:30"));
    assert_non_null(strstr(itest_json_str(json_array_get(slots, 27), "starts_at"), winter_offset));
    json_decref(slots);

    /* Around the clock: 23 hours (46 slots) in spring, 25 (50) in autumn; nothing twice. */
    slots = day_slots(&s, clock, spring);
    assert_int_equal(json_array_size(slots), 46);
    const char *first = itest_json_str(json_array_get(slots, 0), "starts_at");
    const char *last = itest_json_str(json_array_get(slots, 45), "starts_at");
    assert_non_null(strstr(first, "T00:00:00"));
    assert_non_null(strstr(first, winter_offset));
    assert_non_null(strstr(last, "T23:30:00"));
    assert_non_null(strstr(last, summer_offset));
    assert_false(has_slot(slots, spring, "02:00")); /* a local time that does not exist */
    assert_false(has_slot(slots, spring, "02:30"));
    size_t i, j;
    json_t *v, *w;
    json_array_foreach(slots, i, v)
    {
        json_array_foreach(slots, j, w)
        {
            if (i != j)
                assert_string_not_equal(itest_json_str(v, "starts_at"),
                                        itest_json_str(w, "starts_at"));
        }
    }
    json_decref(slots);

    slots = day_slots(&s, clock, fall);
    assert_int_equal(json_array_size(slots), 50);
    int twice = 0;
    json_array_foreach(slots, i, v)
    {
        json_array_foreach(slots, j, w)
        {
            if (i != j)
                assert_string_not_equal(itest_json_str(v, "starts_at"),
                                        itest_json_str(w, "starts_at"));
        }
        /* 01:00-02:00 local (Paris: 02:00-03:00) repeats, once in each offset */
        const char *st = itest_json_str(v, "starts_at");
        if (strstr(st, summer_offset) && json_array_size(slots) > i + 1) {
            const char *nx = itest_json_str(json_array_get(slots, i + 1), "starts_at");
            if (strstr(nx, winter_offset) && strncmp(nx + 11, st + 11, 5) < 0)
                twice++; /* the wall clock went back */
        }
    }
    assert_int_equal(twice, 1);
    json_decref(slots);

    /* A booking across the spring change lasts its real length and is priced for it:
     * 01:00 winter to 04:00 summer local is two hours. */
    struct itest_resp *r = book_at(&s, clock, tz, spring, "01:00", "04:00", "dst@example.com");
    if (r->status != 201)
        fail_msg("booking across the change: %ld %s", r->status, r->body);
    json_t *price = json_object_get(r->json, "price");
    assert_int_equal(json_integer_value(json_object_get(price, "amount")), 2000);
    itest_resp_free(r);

    free(spring);
    free(fall);
    free(day);
    free(clock);
}

static void test_availability_is_right_on_daylight_saving_days_in_paris(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    /* Last Sunday of March (+01:00 → +02:00 at 02:00), last Sunday of October. */
    check_dst_days("bk-dst-paris", "Europe/Paris", 3, -1, 10, -1, "+01:00", "+02:00");
}

static void test_availability_is_right_on_daylight_saving_days_in_new_york(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    /* Second Sunday of March (-05:00 → -04:00 at 02:00), first Sunday of November. */
    check_dst_days("bk-dst-ny", "America/New_York", 3, 2, 11, 1, "-05:00", "-04:00");
}

/* ---- making a booking -------------------------------------------------------------------- */

static void test_booking_is_priced_by_the_server_with_peak_rules(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-price", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "A", 2000);
    char d[16], st[64], en[64];
    local_date(tz, 10, d);
    /* Peak from 18:00 on that weekday: 30.00 an hour instead of 20.00. */
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO price_rules (room_id, name, weekdays, starts, ends,"
                                   "                         hourly_rate)"
                                   " VALUES ($1::uuid, 'peak',"
                                   "         ARRAY[extract(isodow FROM $2::date)]::smallint[],"
                                   "         '18:00', '23:00', 3000)",
                                   room, d),
                     0);
    at(tz, d, "17:00", st);
    at(tz, d, "19:00", en);
    struct itest_resp *r =
        post(&s, "/api/public/booking",
             json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:i, s:s}, s:s, s:s}", "room_id", room,
                       "starts_at", st, "ends_at", en, "customer", "name", "Grace Hopper", "email",
                       "Grace@Example.com", "price", "amount", 1, "currency", "EUR", "status",
                       "confirmed", "notes", ""),
             NULL);
    if (r->status != 201)
        fail_msg("booking: %ld %s", r->status, r->body);
    json_t *j = r->json;
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "price"), "amount")),
                     5000);
    assert_string_equal(itest_json_str(json_object_get(j, "price"), "currency"), "EUR");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "deposit"), "amount")),
                     0);
    assert_string_equal(itest_json_str(j, "status"), "confirmed");
    assert_true(json_is_null(json_object_get(j, "hold_expires_at")));
    assert_int_equal(strlen(itest_json_str(j, "ref")), 11);
    assert_true(strlen(itest_json_str(j, "manage_token")) >= 32);
    assert_string_equal(itest_json_str(json_object_get(j, "room"), "id"), room);
    assert_string_equal(itest_json_str(json_object_get(j, "room"), "name"), "A");
    char want[64];
    snprintf(want, sizeof(want), "%sT17:00:00+", d);
    assert_true(strncmp(itest_json_str(j, "starts_at"), want, strlen(want) - 1) == 0);
    assert_null(json_object_get(j, "id"));
    assert_non_null(itest_header(r, "Location"));

    /* Only the token's SHA-256 is stored. */
    char hash[crypto_hash_sha256_BYTES * 2 + 1];
    unsigned char digest[crypto_hash_sha256_BYTES];
    const char *token = itest_json_str(j, "manage_token");
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hash, sizeof(hash), digest, sizeof(digest));
    char *stored = itest_pg_value(s.db, "SELECT manage_token_hash FROM bookings WHERE ref = $1",
                                  itest_json_str(j, "ref"));
    assert_non_null(stored);
    assert_string_equal(stored, hash);
    free(stored);
    char *price = itest_pg_value(s.db, "SELECT price_amount FROM bookings WHERE ref = $1",
                                 itest_json_str(j, "ref"));
    assert_string_equal(price, "5000");
    free(price);
    itest_resp_free(r);

    /* The customer is one per e-mail (case aside): a second booking updates the name. */
    at(tz, d, "10:00", st);
    at(tz, d, "11:00", en);
    r = post(&s, "/api/public/booking",
             json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at", st, "ends_at",
                       en, "customer", "name", "Grace B. Hopper", "email", "grace@example.COM"),
             NULL);
    assert_int_equal(r->status, 201);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r->json, "price"), "amount")), 2000);
    itest_resp_free(r);
    char *n = itest_pg_value(s.db, "SELECT count(*) || ' ' || max(name) FROM customers");
    assert_string_equal(n, "1 Grace B. Hopper");
    free(n);
    free(room);
}

static void test_booking_rejects_each_bad_field_with_422_naming_it(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-422", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "A", 1000);
    char *clock = itest_add_room(&s, "Clock", 1000);
    assert_int_equal(itest_pg_exec(s.db,
                                   "INSERT INTO opening_hours (room_id, weekday, opens, closes)"
                                   " SELECT $1::uuid, w, '00:00', '24:00'"
                                   "   FROM generate_series(1, 7) w",
                                   clock),
                     0);
    sql(s.db, "UPDATE studio_settings SET max_duration_minutes = 180, max_days_ahead = 60");
    char d[16], a1[64], a2[64];
    local_date(tz, 10, d);
    struct {
        const char *from, *to, *field;
    } cases[] = {
        {"14:10", "15:10", "starts_at"}, /* off the 30-minute grid */
        {"14:00", "15:10", "ends_at"},   /* end off the grid */
        {"14:00", "14:30", "ends_at"},   /* shorter than 60 minutes */
        {"14:00", "17:30", "ends_at"},   /* longer than 180 minutes */
        {"15:00", "14:00", "ends_at"},   /* ends before it starts */
        {"14:00", "14:00", "ends_at"},   /* ends when it starts */
        {"07:00", "09:00", "starts_at"}, /* before opening */
        {"22:00", "23:30", "starts_at"}, /* past closing */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        at(tz, d, cases[i].from, a1);
        at(tz, d, cases[i].to, a2);
        struct itest_resp *r = book(&s, room, a1, a2, "v@example.com");
        if (r->status != 422)
            fail_msg("case %zu (%s-%s): %ld %s", i, cases[i].from, cases[i].to, r->status, r->body);
        itest_assert_field(r, cases[i].field);
        itest_resp_free(r);
    }

    /* Not RFC 3339. */
    const char *bad_times[] = {"2027-03-28 14:00", "tomorrow", "2027-13-01T10:00:00Z",
                               "2027-03-28T14:00:00", "2027-02-29T10:00:00+01:00"};
    at(tz, d, "16:00", a2);
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        struct itest_resp *r = book(&s, room, bad_times[i], a2, "v@example.com");
        itest_assert_field(r, "starts_at");
        itest_resp_free(r);
    }

    /* A closed day. */
    char closed[16];
    local_date(tz, 12, closed);
    assert_int_equal(
        itest_pg_exec(s.db, "INSERT INTO closures (starts_on, ends_on) VALUES ($1, $1)", closed),
        0);
    struct itest_resp *r = book_at(&s, room, tz, closed, "14:00", "15:00", "v@example.com");
    itest_assert_field(r, "starts_at");
    itest_resp_free(r);

    /* Too soon (the notice is 2 hours) and too far (the horizon is 60 days). */
    char *soon =
        itest_pg_value(NULL, "SELECT to_char((date_trunc('hour', now()) + interval '1 hour')"
                             " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    char *soon_end = itest_pg_value(NULL, "SELECT to_char((date_trunc('hour', now())"
                                          " + interval '2 hours') AT TIME ZONE 'UTC',"
                                          " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    assert_non_null(soon);
    assert_non_null(soon_end);
    r = book(&s, clock, soon, soon_end, "v@example.com");
    itest_assert_field(r, "starts_at");
    itest_resp_free(r);
    free(soon);
    free(soon_end);
    char far[16];
    local_date(tz, 70, far);
    r = book_at(&s, room, tz, far, "14:00", "15:00", "v@example.com");
    itest_assert_field(r, "starts_at");
    itest_resp_free(r);

    /* The customer and the notes. */
    at(tz, d, "14:00", a1);
    at(tz, d, "15:00", a2);
    char phone[64], *notes = malloc(2002);
    memset(phone, '1', 41);
    phone[41] = '\0';
    memset(notes, 'n', 2001);
    notes[2001] = '\0';
    struct {
        json_t *customer;
        const char *notes, *field;
    } people[] = {
        {json_pack("{s:s}", "email", "v@example.com"), NULL, "customer.name"},
        {json_pack("{s:s}", "name", "V"), NULL, "customer.email"},
        {json_pack("{s:s, s:s}", "name", "V", "email", "not-an-address"), NULL, "customer.email"},
        {json_pack("{s:s, s:s, s:s}", "name", "V", "email", "v@example.com", "phone", phone), NULL,
         "customer.phone"},
        {json_pack("{s:s, s:s}", "name", "V", "email", "v@example.com"), notes, "notes"},
        {NULL, NULL, "customer.name"},
    };
    for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
        json_t *body =
            json_pack("{s:s, s:s, s:s}", "room_id", room, "starts_at", a1, "ends_at", a2);
        if (people[i].customer)
            json_object_set_new(body, "customer", people[i].customer);
        if (people[i].notes)
            json_object_set_new(body, "notes", json_string(people[i].notes));
        r = post(&s, "/api/public/booking", body, NULL);
        itest_assert_field(r, people[i].field);
        itest_resp_free(r);
    }
    free(notes);

    /* The room. */
    r = book(&s, "00000000-0000-4000-8000-000000000000", a1, a2, "v@example.com");
    itest_assert_field(r, "room_id");
    itest_resp_free(r);
    sql(s.db, "UPDATE rooms SET active = false WHERE name = 'Clock'");
    r = book(&s, clock, a1, a2, "v@example.com");
    itest_assert_field(r, "room_id");
    itest_resp_free(r);

    /* Not a JSON object at all. */
    itest_expect_status(itest_request(srv, "POST", s.host, "/api/public/booking",
                                      "application/json", "[1]", NULL, NULL),
                        400);
    r = itest_request(srv, "POST", s.host, "/api/public/booking", "application/json", "{", NULL,
                      NULL);
    assert_int_equal(r->status, 400);
    itest_resp_free(r);

    /* Nothing of the above was kept. */
    char *n = itest_pg_value(s.db, "SELECT count(*) FROM bookings");
    assert_string_equal(n, "0");
    free(n);
    free(room);
    free(clock);
}

static void test_an_overlapping_booking_is_409_naming_the_local_times_only(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-409", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "Room A", 1000);
    char d[16];
    local_date(tz, 10, d);
    struct itest_resp *r = book_at(&s, room, tz, d, "14:00", "16:00", "first@example.com");
    assert_int_equal(r->status, 201);
    itest_resp_free(r);

    r = book_at(&s, room, tz, d, "15:00", "17:00", "second@example.com");
    itest_assert_error(r, 409, "slot_taken");
    assert_string_equal(itest_json_str(json_object_get(r->json, "error"), "message"),
                        "Room A is already booked 14:00\xE2\x80\x93"
                        "16:00");
    assert_null(strstr(r->body, "first@example.com"));
    assert_null(strstr(r->body, "Ada"));
    itest_resp_free(r);

    /* Back to back is fine without a buffer. */
    itest_expect_status(book_at(&s, room, tz, d, "16:00", "17:00", "second@example.com"), 201);
    free(room);
}

/* book_at() in Europe/Paris under name and phone. */
static struct itest_resp *book_as(const struct itest_studio *s, const char *room, const char *date,
                                  const char *from, const char *to, const char *name,
                                  const char *email, const char *phone)
{
    char starts[64], ends[64];
    at("Europe/Paris", date, from, starts);
    at("Europe/Paris", date, to, ends);
    return book_for(s, room, starts, ends, name, email, phone, NULL);
}

static void test_a_returning_customer_is_one_customer_changed_only_by_bookings_made(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-cust", "Europe/Paris", &s);
    char *room = itest_add_room(&s, "Room A", 1000);
    char d[16];
    local_date("Europe/Paris", 10, d);
    const char *who = "SELECT count(*) || ' ' || min(name) || ' ' || min(phone) FROM customers";

    itest_expect_status(
        book_as(&s, room, d, "10:00", "11:00", "Grace Hopper", "Grace@Example.com", "+1 555 0100"),
        201);
    itest_pg_expect(s.db, who, NULL, "1 Grace Hopper +1 555 0100");
    /* The same address in other letters: the same customer; a new name, the phone kept. */
    itest_expect_status(
        book_as(&s, room, d, "12:00", "13:00", "Grace B. Hopper", "grace@example.com", ""), 201);
    itest_pg_expect(s.db, who, NULL, "1 Grace B. Hopper +1 555 0100");
    /* Refused: nobody's details change. */
    struct itest_resp *r =
        book_as(&s, room, d, "12:30", "13:30", "Mallory", "GRACE@example.com", "+1 555 0199");
    itest_assert_error(r, 409, "slot_taken");
    itest_resp_free(r);
    itest_pg_expect(s.db, who, NULL, "1 Grace B. Hopper +1 555 0100");
    itest_expect_status(
        book_as(&s, room, d, "14:00", "15:00", "Grace Hopper", "grace@example.com", "+1 555 0111"),
        201);
    itest_pg_expect(s.db, who, NULL, "1 Grace Hopper +1 555 0111");
    itest_pg_expect(s.db,
                    "SELECT count(*) || ' ' || count(DISTINCT customer_id) || ' ' || min(c.email)"
                    "  FROM bookings b JOIN customers c ON c.id = b.customer_id",
                    NULL, "3 1 Grace@Example.com");
    free(room);
}

/* ---- reading and cancelling ----------------------------------------------------------------- */

static void test_a_booking_reads_in_full_only_with_its_manage_token(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-read", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "A", 1000);
    char d[16];
    local_date(tz, 10, d);
    struct itest_resp *r = book_at(&s, room, tz, d, "14:00", "16:00", "reader@example.com");
    assert_int_equal(r->status, 201);
    char *ref = strdup(itest_json_str(r->json, "ref"));
    char *token = strdup(itest_json_str(r->json, "manage_token"));
    itest_resp_free(r);

    r = get(&s, "/api/public/booking/%s", ref);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "status"), "confirmed");
    assert_string_equal(itest_json_str(json_object_get(r->json, "room"), "name"), "A");
    assert_non_null(json_object_get(r->json, "starts_at"));
    assert_null(json_object_get(r->json, "customer"));
    assert_null(strstr(r->body, "reader@example.com"));
    assert_null(json_object_get(r->json, "price"));
    itest_resp_free(r);

    char header[256];
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *const hs[] = {header, NULL};
    char path[256];
    snprintf(path, sizeof(path), "/api/public/booking/%s", ref);
    r = itest_request(srv, "GET", s.host, path, NULL, NULL, hs, NULL);
    assert_int_equal(r->status, 200);
    json_t *c = json_object_get(r->json, "customer");
    assert_string_equal(itest_json_str(c, "email"), "reader@example.com");
    assert_string_equal(itest_json_str(c, "name"), "Ada Lovelace");
    assert_string_equal(itest_json_str(r->json, "notes"), "Two guitars");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r->json, "price"), "amount")), 2000);
    assert_non_null(json_object_get(r->json, "deposit"));
    assert_non_null(json_object_get(r->json, "paid"));
    assert_non_null(json_object_get(r->json, "refund"));
    assert_non_null(json_object_get(r->json, "hold_expires_at"));
    itest_resp_free(r);

    /* ?token= works too, and a ref is read case-insensitively. */
    char *lower = strdup(ref);
    for (char *p = lower; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    r = get(&s, "/api/public/booking/%s?token=%s", lower, token);
    assert_int_equal(r->status, 200);
    assert_non_null(json_object_get(r->json, "customer"));
    itest_resp_free(r);

    itest_expect_error(get(&s, "/api/public/booking/%s?token=wrong", ref), 403, "invalid_token");
    itest_expect_error(get(&s, "/api/public/booking/ZZZZZZZZZZZ"), 404, "not_found");
    itest_expect_error(get(&s, "/api/public/booking/ZZZZZZZZZZZ?token=%s", token), 404,
                       "not_found");
    free(lower);
    free(ref);
    free(token);
    free(room);
}

static void test_cancel_needs_the_token_reports_the_refund_and_frees_the_slot_at_once(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-cancel", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "A", 1000);
    char d[16], a1[64], a2[64];
    local_date(tz, 10, d);
    at(tz, d, "14:00", a1);
    at(tz, d, "16:00", a2);
    struct itest_resp *r = book(&s, room, a1, a2, "cancel@example.com");
    assert_int_equal(r->status, 201);
    char *ref = strdup(itest_json_str(r->json, "ref"));
    char *token = strdup(itest_json_str(r->json, "manage_token"));
    itest_resp_free(r);
    char path[256], header[256];
    snprintf(path, sizeof(path), "/api/public/booking/%s/cancel", ref);

    itest_expect_error(post(&s, path, NULL, NULL), 403, "invalid_token");
    const char *const wrong[] = {"X-Manage-Token: not-the-token", NULL};
    itest_expect_error(post(&s, path, NULL, wrong), 403, "invalid_token");
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *const hs[] = {header, NULL};
    itest_expect_error(post(&s, "/api/public/booking/ZZZZZZZZZZZ/cancel", NULL, hs), 404,
                       "not_found");

    r = post(&s, path, NULL, hs);
    if (r->status != 200)
        fail_msg("cancel: %ld %s", r->status, r->body);
    assert_string_equal(itest_json_str(r->json, "status"), "cancelled");
    json_t *refund = json_object_get(r->json, "refund");
    assert_int_equal(json_integer_value(json_object_get(refund, "amount")), 0);
    assert_string_equal(itest_json_str(refund, "currency"), "EUR");
    assert_string_equal(itest_json_str(refund, "rule"),
                        "tier 48h 100%"); /* 10 days ahead; nothing paid */
    itest_resp_free(r);

    PGresult *q = itest_pg_query(s.db,
                                 "SELECT status, refund_amount, refund_rule,"
                                 "       cancelled_at IS NOT NULL FROM bookings WHERE ref = $1",
                                 ref);
    assert_non_null(q);
    assert_string_equal(PQgetvalue(q, 0, 0), "cancelled");
    assert_string_equal(PQgetvalue(q, 0, 1), "0");
    assert_string_equal(PQgetvalue(q, 0, 2), "tier 48h 100%");
    assert_string_equal(PQgetvalue(q, 0, 3), "t");
    PQclear(q);

    /* The slot is free at once: listed, and bookable. */
    json_t *slots = day_slots(&s, room, d);
    assert_true(has_slot(slots, d, "14:00"));
    assert_int_equal(json_array_size(slots), 28);
    json_decref(slots);
    itest_expect_status(book(&s, room, a1, a2, "next@example.com"), 201);

    /* Twice is a wrong state; the customer gets a cancellation mail. */
    itest_expect_error(post(&s, path, NULL, hs), 409, "wrong_state");
    char *mail = wait_mail_with("cancel@example.com", "is cancelled", MAIL_WAIT_MS);
    assert_non_null(mail);
    char *ics = ics_of(mail);
    assert_non_null(ics);
    assert_non_null(strstr(ics, "STATUS:CANCELLED"));
    free(ics);
    free(mail);
    free(ref);
    free(token);
    free(room);
}

/* ---- mail ---------------------------------------------------------------------------------- */

static void test_booking_made_mail_has_the_manage_link_and_an_ics(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-mail", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "Live Room", 1000);
    char d[16], a1[64], a2[64], email[160];
    local_date(tz, 10, d);
    at(tz, d, "14:00", a1);
    at(tz, d, "16:00", a2);
    snprintf(email, sizeof(email), "made-%s@example.com", s.slug);
    struct itest_resp *r = book(&s, room, a1, a2, email);
    assert_int_equal(r->status, 201);
    char *ref = strdup(itest_json_str(r->json, "ref"));
    itest_resp_free(r);

    char *raw = wait_mail_with(email, ref, MAIL_WAIT_MS);
    assert_non_null(raw);
    char *text = itest_mail_text(raw);
    assert_non_null(strstr(text, "Live Room"));
    assert_non_null(strstr(text, "14:00"));
    char *link = link_in(text);
    assert_non_null(link);
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s/book/%s?token=", s.url, ref);
    assert_true(strncmp(link, prefix, strlen(prefix)) == 0);

    /* The link's token opens the full booking. */
    r = get(&s, "/api/public/booking/%s?token=%s", ref, link + strlen(prefix));
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "customer"), "email"), email);
    itest_resp_free(r);

    /* The .ics: text/calendar, CRLF lines of at most 75 octets, UTC times, the UID. */
    assert_non_null(strcasestr(raw, "filename=\"booking-"));
    char *ics = ics_of(raw);
    assert_non_null(ics);
    assert_true(strncmp(ics, "BEGIN:VCALENDAR\r\n", 17) == 0);
    assert_non_null(strstr(ics, "METHOD:PUBLISH\r\n"));
    char uid[256];
    snprintf(uid, sizeof(uid), "UID:%s@%s\r\n", ref, s.host);
    assert_non_null(strstr(ics, uid));
    char *utc = itest_pg_value(NULL,
                               "SELECT to_char($1::timestamptz AT TIME ZONE 'UTC',"
                               " 'YYYYMMDD\"T\"HH24MISS\"Z\"')",
                               a1);
    char dtstart[64];
    snprintf(dtstart, sizeof(dtstart), "DTSTART:%s\r\n", utc);
    assert_non_null(strstr(ics, dtstart));
    free(utc);
    assert_non_null(strstr(ics, "SUMMARY:Live Room \xE2\x80\x94 Studio"));
    assert_non_null(strstr(ics, "END:VCALENDAR\r\n"));
    for (char *line = ics; *line;) {
        char *eol = strstr(line, "\r\n");
        assert_non_null(eol); /* every line ends in CRLF */
        assert_true(eol - line <= 75);
        assert_null(memchr(line, '\n', (size_t)(eol - line)));
        line = eol + 2;
    }
    free(ics);
    free(link);
    free(text);
    free(raw);
    free(ref);
    free(room);
}

static void
test_search_answers_202_alike_and_mails_fresh_links_only_to_known_addresses(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-search", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&s, "A", 1000);
    char d[16], a1[64], a2[64], known[160], unknown[160];
    snprintf(known, sizeof(known), "known-%s@example.com", s.slug);
    snprintf(unknown, sizeof(unknown), "unknown-%s@example.com", s.slug);
    local_date(tz, 10, d);
    at(tz, d, "14:00", a1);
    at(tz, d, "16:00", a2);
    struct itest_resp *r = book(&s, room, a1, a2, known);
    assert_int_equal(r->status, 201);
    char *ref = strdup(itest_json_str(r->json, "ref"));
    char *old_token = strdup(itest_json_str(r->json, "manage_token"));
    itest_resp_free(r);

    struct itest_resp *ru = get(&s, "/api/public/bookings/search?email=%s", unknown);
    struct itest_resp *rk = get(&s, "/api/public/bookings/search?email=%s", known);
    assert_int_equal(ru->status, 202);
    assert_int_equal(rk->status, 202);
    assert_string_equal(ru->body, rk->body);
    assert_string_equal(itest_json_str(rk->json, "status"), "accepted");
    assert_null(strstr(rk->body, ref));
    itest_resp_free(ru);
    itest_resp_free(rk);

    char *raw = wait_mail_with(known, "Your bookings at", MAIL_WAIT_MS);
    assert_non_null(raw);
    char *text = itest_mail_text(raw);
    assert_non_null(strstr(text, ref));
    char *link = link_in(text);
    assert_non_null(link);
    const char *tok = strstr(link, "?token=");
    assert_non_null(tok);
    tok += strlen("?token=");
    assert_string_not_equal(tok, old_token);

    /* The new link works; the old one no longer does. */
    r = get(&s, "/api/public/booking/%s?token=%s", ref, tok);
    assert_int_equal(r->status, 200);
    assert_non_null(json_object_get(r->json, "customer"));
    itest_resp_free(r);
    itest_expect_error(get(&s, "/api/public/booking/%s?token=%s", ref, old_token), 403,
                       "invalid_token");

    /* The unknown address got nothing (its job ran before the known one's). */
    char *none = wait_mail_with(unknown, "", 500);
    assert_null(none);

    /* A bad address is 422; the sixth search for one address within the hour is 429. */
    r = get(&s, "/api/public/bookings/search?email=nope");
    itest_assert_field(r, "email");
    itest_resp_free(r);
    char limited[160];
    snprintf(limited, sizeof(limited), "limit-%s@example.com", s.slug);
    for (int i = 0; i < 5; i++) {
        itest_expect_status(get(&s, "/api/public/bookings/search?email=%s", limited), 202);
    }
    r = get(&s, "/api/public/bookings/search?email=%s", limited);
    itest_assert_error(r, 429, "too_many_requests");
    assert_non_null(itest_header(r, "Retry-After"));
    assert_true(atoi(itest_header(r, "Retry-After")) > 0);
    itest_resp_free(r);

    free(link);
    free(text);
    free(raw);
    free(ref);
    free(old_token);
    free(room);
}

/* ---- holds ---------------------------------------------------------------------------------- */

static void test_a_pending_hold_expires_and_frees_the_slot(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-hold", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    sql(s.db, "UPDATE studio_settings SET deposit_type = 'percent', deposit_value = 50,"
              " hold_minutes = 5");
    char *room = itest_add_room(&s, "A", 2000);
    char d[16], a1[64], a2[64];
    local_date(tz, 10, d);
    at(tz, d, "14:00", a1);
    at(tz, d, "16:00", a2);
    struct itest_resp *r = book(&s, room, a1, a2, "hold@example.com");
    assert_int_equal(r->status, 201);
    assert_string_equal(itest_json_str(r->json, "status"), "pending");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r->json, "deposit"), "amount")), 2000);
    const char *expires = itest_json_str(r->json, "hold_expires_at");
    char *ok = itest_pg_value(NULL,
                              "SELECT $1::timestamptz BETWEEN now() + interval '4 minutes'"
                              "                           AND now() + interval '6 minutes'",
                              expires);
    assert_string_equal(ok, "t");
    free(ok);
    char *ref = strdup(itest_json_str(r->json, "ref"));
    itest_resp_free(r);
    char *id = itest_pg_value(s.db, "SELECT id FROM bookings WHERE ref = $1", ref);
    assert_non_null(id);

    /* The hold's job waits in the master queue until the hold ends. */
    char *jobs =
        itest_pg_value(NULL,
                       "SELECT count(*) FROM jobs WHERE kind = 'booking_expire_hold'"
                       "   AND payload->>'booking_id' = $1 AND payload->>'slug' = $2"
                       "   AND status = 'queued' AND run_at > now() + interval '4 minutes'",
                       id, s.slug);
    assert_string_equal(jobs, "1");
    free(jobs);
    json_t *slots = day_slots(&s, room, d);
    assert_false(has_slot(slots, d, "14:00"));
    json_decref(slots);

    /* Time passes: the hold ends and the job falls due. */
    assert_int_equal(
        itest_pg_exec(s.db,
                      "UPDATE bookings SET hold_expires_at = now() - interval '1 minute'"
                      " WHERE id = $1::uuid",
                      id),
        0);
    assert_int_equal(
        itest_pg_exec(NULL,
                      "UPDATE jobs SET run_at = now() WHERE kind = 'booking_expire_hold'"
                      "   AND payload->>'booking_id' = $1",
                      id),
        0);
    double deadline = itest_now_ms() + EXPIRE_WAIT_MS;
    char *status = NULL;
    for (;;) {
        free(status);
        status = itest_pg_value(s.db, "SELECT status FROM bookings WHERE id = $1::uuid", id);
        if ((status && strcmp(status, "expired") == 0) || itest_now_ms() > deadline)
            break;
        itest_pause_ms(100);
    }
    assert_string_equal(status, "expired");
    free(status);
    char *job = itest_pg_value(NULL,
                               "SELECT status FROM jobs WHERE kind = 'booking_expire_hold'"
                               "   AND payload->>'booking_id' = $1",
                               id);
    assert_string_equal(job, "done");
    free(job);

    slots = day_slots(&s, room, d);
    assert_true(has_slot(slots, d, "14:00"));
    json_decref(slots);
    itest_expect_status(book(&s, room, a1, a2, "next@example.com"), 201);
    r = get(&s, "/api/public/booking/%s", ref);
    assert_string_equal(itest_json_str(r->json, "status"), "expired");
    itest_resp_free(r);
    free(ref);
    free(id);
    free(room);
}

static void
test_without_deposit_or_auto_confirm_a_booking_waits_for_staff_without_expiry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    new_studio("bk-manual", "Europe/Paris", &s);
    const char *tz = "Europe/Paris";
    sql(s.db, "UPDATE studio_settings SET auto_confirm = false");
    char *room = itest_add_room(&s, "A", 1000);
    char d[16], a1[64], a2[64];
    local_date(tz, 10, d);
    at(tz, d, "14:00", a1);
    at(tz, d, "16:00", a2);
    struct itest_resp *r = book(&s, room, a1, a2, "manual@example.com");
    assert_int_equal(r->status, 201);
    assert_string_equal(itest_json_str(r->json, "status"), "pending");
    assert_true(json_is_null(json_object_get(r->json, "hold_expires_at")));
    char *ref = strdup(itest_json_str(r->json, "ref"));
    itest_resp_free(r);
    char *id = itest_pg_value(s.db, "SELECT id FROM bookings WHERE ref = $1", ref);
    char *jobs = itest_pg_value(NULL,
                                "SELECT count(*) FROM jobs WHERE kind = 'booking_expire_hold'"
                                "   AND payload->>'booking_id' = $1",
                                id);
    assert_string_equal(jobs, "0");
    free(jobs);
    free(id);
    free(ref);
    free(room);
}

/* ---- tenancy -------------------------------------------------------------------------------- */

static void test_a_ref_of_one_studio_is_404_on_another(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio a, b;
    new_studio("bk-ten-a", "Europe/Paris", &a);
    new_studio("bk-ten-b", "Europe/Paris", &b);
    const char *tz = "Europe/Paris";
    char *room = itest_add_room(&a, "A", 1000);
    char *room_b = itest_add_room(&b, "A", 1000);
    char d[16];
    local_date(tz, 10, d);
    struct itest_resp *r = book_at(&a, room, tz, d, "14:00", "16:00", "tenant@example.com");
    assert_int_equal(r->status, 201);
    char *ref = strdup(itest_json_str(r->json, "ref"));
    char *token = strdup(itest_json_str(r->json, "manage_token"));
    itest_resp_free(r);

    itest_expect_error(get(&b, "/api/public/booking/%s", ref), 404, "not_found");
    itest_expect_error(get(&b, "/api/public/booking/%s?token=%s", ref, token), 404, "not_found");
    char path[256], header[256];
    snprintf(path, sizeof(path), "/api/public/booking/%s/cancel", ref);
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    const char *const hs[] = {header, NULL};
    itest_expect_error(post(&b, path, NULL, hs), 404, "not_found");
    /* A's room id means nothing at B either. */
    char *next = itest_pg_value(NULL, "SELECT ($1::date + 1)::text", d);
    itest_expect_error(get(&b, "/api/public/availability?room_id=%s&from=%s&to=%s", room, d, next),
                       404, "not_found");
    free(next);

    /* Still there at A. */
    itest_expect_status(get(&a, "/api/public/booking/%s", ref), 200);
    free(ref);
    free(token);
    free(room);
    free(room_b);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    /* Several tests here change hours, closures and settings by SQL, behind studiod's back,
     * and expect the next availability answer to show it: without the availability cache,
     * which would show such changes only after its lifetime (tests/integration/test_caches.c
     * covers the cache, and every change made through studiod drops it at once). */
    setenv("STUDIOD_AVAILABILITY_CACHE_SECONDS", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_studio_and_rooms_are_public_and_list_only_bookable_rooms),
        cmocka_unit_test(test_availability_rejects_bad_ranges_naming_the_field_and_unknown_rooms),
        cmocka_unit_test(test_availability_excludes_booked_slots_and_their_buffers),
        cmocka_unit_test(test_availability_honours_closures_room_hours_notice_and_horizon),
        cmocka_unit_test(test_availability_is_right_on_daylight_saving_days_in_paris),
        cmocka_unit_test(test_availability_is_right_on_daylight_saving_days_in_new_york),
        cmocka_unit_test(test_booking_is_priced_by_the_server_with_peak_rules),
        cmocka_unit_test(test_booking_rejects_each_bad_field_with_422_naming_it),
        cmocka_unit_test(test_an_overlapping_booking_is_409_naming_the_local_times_only),
        cmocka_unit_test(test_a_returning_customer_is_one_customer_changed_only_by_bookings_made),
        cmocka_unit_test(test_a_booking_reads_in_full_only_with_its_manage_token),
        cmocka_unit_test(test_cancel_needs_the_token_reports_the_refund_and_frees_the_slot_at_once),
        cmocka_unit_test(test_booking_made_mail_has_the_manage_link_and_an_ics),
        cmocka_unit_test(
            test_search_answers_202_alike_and_mails_fresh_links_only_to_known_addresses),
        cmocka_unit_test(test_a_pending_hold_expires_and_frees_the_slot),
        cmocka_unit_test(
            test_without_deposit_or_auto_confirm_a_booking_waits_for_staff_without_expiry),
        cmocka_unit_test(test_a_ref_of_one_studio_is_404_on_another),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
