/*
 * test_rooms.c — setting a studio up, against a real studiod and
 * PostgreSQL: rooms (create, list, read, partial update, archive, delete or
 * archive-instead, refusal while future bookings exist), the booking policy,
 * the studio's weekly hours and a room's own, closures and peak/off-peak
 * prices. Every 4xx the API promises is shown: 400 malformed JSON, 415 not
 * JSON, 422 naming each bad field, 404 for unknown and non-uuid ids, 409 for
 * a taken name and a room with bookings ahead, 401 without a session, 403
 * without the CSRF token; and one studio's owner can neither see nor touch
 * another studio's rooms. The last tests call the module's contract
 * (rooms.h) directly on the studio's database, as the booking module does.
 *
 * One studiod serves the suite; every test makes its own studio.
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
#include "studiod/db.h"
#include "studiod/rooms.h"

#define PASSWORD "correct horse battery staple"
#define UNKNOWN_ID "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c10"

static struct studiod_proc srv;
static const char *missing_env;

#define REQUIRE_SERVER()                                                                           \
    do {                                                                                           \
        if (missing_env) {                                                                         \
            print_message("skipped: %s is not set (run scripts/test)\n", missing_env);             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* A studio made for one test, with its owner signed in. */
struct studio {
    struct itest_studio s;
    char csrf[128];
    char csrf_header[160];
    struct itest_cookies jar;
};

static void make_studio(const char *prefix, struct studio *s);
static struct itest_resp *api(struct studio *s, const char *method, const char *path,
                              const char *body);
static struct itest_resp *api_json(struct studio *s, const char *method, const char *path,
                                   json_t *body);
static char *create_room(struct studio *s, const char *name, long long rate);
static void assert_bad_field(struct itest_resp *r, const char *field);
static void expect_bad_room_field(struct studio *s, const char *body, const char *field);
static void expect_bad_field(struct studio *s, const char *method, const char *path,
                             const char *body, const char *field);
static void add_booking(struct studio *s, const char *room_id, const char *offset,
                        const char *status);
static bool list_has_room(json_t *list, const char *id);

/* ---- helpers ----------------------------------------------------------------------------- */

static void make_studio(const char *prefix, struct studio *s)
{
    memset(s, 0, sizeof(*s));
    itest_open_studio(&srv, prefix, &s->s, PASSWORD, &s->jar, s->csrf);
    snprintf(s->csrf_header, sizeof(s->csrf_header), "X-CSRF-Token: %s", s->csrf);
}

/* A request as the signed-in owner, with the CSRF token; body (if any) as JSON. */
static struct itest_resp *api(struct studio *s, const char *method, const char *path,
                              const char *body)
{
    return itest_staff_send(&srv, method, s->s.host, path, body, &s->jar, s->csrf);
}

/* api() with a JSON body (stolen). */
static struct itest_resp *api_json(struct studio *s, const char *method, const char *path,
                                   json_t *body)
{
    return itest_staff_request(&srv, method, s->s.host, path, body, &s->jar, s->csrf);
}

/* POST /api/rooms; the new room's id (free it). */
static char *create_room(struct studio *s, const char *name, long long rate)
{
    struct itest_resp *r =
        api_json(s, "POST", "/api/rooms",
                 json_pack("{s:s, s:I}", "name", name, "hourly_rate", (json_int_t)rate));
    if (r->status != 201)
        fail_msg("create room %s: %ld %s", name, r->status, r->body);
    char *id = strdup(itest_json_str(r->json, "id"));
    itest_resp_free(r);
    return id;
}

/* A 422 invalid_input whose error.fields names field; r is freed. */
static void assert_bad_field(struct itest_resp *r, const char *field)
{
    itest_assert_field(r, field);
    itest_resp_free(r);
}

static void expect_bad_room_field(struct studio *s, const char *body, const char *field)
{
    expect_bad_field(s, "POST", "/api/rooms", body, field);
}

static void expect_bad_field(struct studio *s, const char *method, const char *path,
                             const char *body, const char *field)
{
    struct itest_resp *r = api(s, method, path, body);
    if (r->status != 422)
        fail_msg("%s %s %s: expected 422 naming %s, got %ld: %s", method, path, body, field,
                 r->status, r->body);
    assert_bad_field(r, field);
}

/* A booking of room_id starting now + offset (an interval), two hours long, straight into
 * the studio's database. */
static void add_booking(struct studio *s, const char *room_id, const char *offset,
                        const char *status)
{
    static int n;
    char email[128], ref[32];
    snprintf(email, sizeof(email), "customer-%d@example.com", ++n);
    snprintf(ref, sizeof(ref), "REF%d", n);
    int rc = itest_pg_exec(
        s->s.db,
        "WITH c AS (INSERT INTO customers (name, email) VALUES ('A customer', $2) RETURNING id),"
        "     t AS (SELECT date_trunc('minute', now() + $4::interval) AS s)"
        " INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold, status,"
        "                       source, price_amount, currency, manage_token_hash)"
        " SELECT $3, $1::uuid, c.id, t.s, t.s + interval '2 hours',"
        "        tstzrange(t.s, t.s + interval '2 hours'), $5, 'staff', 5000, 'EUR', 'x'"
        "   FROM c, t",
        room_id, email, ref, offset, status);
    assert_int_equal(rc, 0);
}

static bool list_has_room(json_t *list, const char *id)
{
    size_t i;
    json_t *room;
    json_array_foreach(json_object_get(list, "rooms"), i, room)
    {
        if (strcmp(json_string_value(json_object_get(room, "id")), id) == 0)
            return true;
    }
    return false;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    missing_env = itest_env_missing();
    if (missing_env)
        return 0;
    if (db_init(getenv("STUDIOD_DATABASE_URL"), 2, 4, 2000, 0) != 0)
        return -1;
    return itest_start(&srv, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    if (missing_env)
        return 0;
    db_shutdown();
    if (srv.pid > 0 && itest_stop(&srv) != 0)
        return -1; /* an unclean exit (e.g. a leak found at exit) fails the suite */
    return 0;
}

/* ---- a new studio ------------------------------------------------------------------------ */

static void test_a_new_studio_can_take_bookings_at_once_with_the_documented_defaults(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rdef", &s);

    struct itest_resp *r = api(&s, "GET", "/api/settings/booking", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(r->json, "slot_step_minutes"), 30);
    assert_int_equal(itest_json_int(r->json, "min_duration_minutes"), 60);
    assert_int_equal(itest_json_int(r->json, "min_notice_minutes"), 120);
    assert_int_equal(itest_json_int(r->json, "max_days_ahead"), 180);
    assert_int_equal(itest_json_int(r->json, "buffer_minutes"), 0);
    assert_string_equal(itest_json_str(json_object_get(r->json, "deposit"), "type"), "none");
    assert_int_equal(itest_json_int(json_object_get(r->json, "deposit"), "value"), 0);
    assert_true(json_is_boolean(json_object_get(r->json, "auto_confirm")));
    assert_string_equal(itest_json_str(json_object_get(r->json, "refund_rule"), "type"), "tiers");
    itest_resp_free(r);

    r = api(&s, "GET", "/api/opening-hours", NULL);
    assert_int_equal(r->status, 200);
    json_t *weekly = json_object_get(r->json, "weekly");
    assert_int_equal(json_array_size(weekly), 7);
    for (size_t i = 0; i < 7; i++) {
        json_t *day = json_array_get(weekly, i);
        assert_int_equal(itest_json_int(day, "weekday"), (long long)i + 1);
        json_t *ranges = json_object_get(day, "ranges");
        assert_int_equal(json_array_size(ranges), 1);
        assert_string_equal(itest_json_str(json_array_get(ranges, 0), "opens"), "09:00");
        assert_string_equal(itest_json_str(json_array_get(ranges, 0), "closes"), "23:00");
    }
    itest_resp_free(r);

    r = api(&s, "GET", "/api/rooms", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "rooms")), 0);
    itest_resp_free(r);
    r = api(&s, "GET", "/api/closures", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "closures")), 0);
    itest_resp_free(r);
}

/* ---- rooms ------------------------------------------------------------------------------- */

static void test_create_then_list_and_read_a_room_with_every_field(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rcre", &s);
    struct itest_resp *r =
        api(&s, "POST", "/api/rooms",
            "{\"name\": \"  Blue Room \", \"description\": \"Big and bright\\nWith a view\","
            " \"capacity\": 6, \"hourly_rate\": 2500, \"equipment\": [\"Drum kit\", \"PA\"],"
            " \"color\": \"#1A2B3C\", \"active\": true,"
            " \"photo_url\": \"https://example.com/blue.jpg\", \"min_duration_minutes\": 120,"
            " \"max_duration_minutes\": 480, \"slot_step_minutes\": 60}");
    if (r->status != 201)
        fail_msg("create: %ld %s", r->status, r->body);
    json_t *room = r->json;
    char id[64];
    snprintf(id, sizeof(id), "%s", itest_json_str(room, "id"));
    char location[128];
    snprintf(location, sizeof(location), "/api/rooms/%s", id);
    assert_string_equal(itest_header(r, "Location"), location);
    assert_string_equal(itest_json_str(room, "name"), "Blue Room"); /* trimmed */
    assert_string_equal(itest_json_str(room, "description"), "Big and bright\nWith a view");
    assert_int_equal(itest_json_int(room, "capacity"), 6);
    assert_int_equal(itest_json_int(room, "hourly_rate"), 2500);
    assert_int_equal(json_array_size(json_object_get(room, "equipment")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(room, "equipment"), 1)),
                        "PA");
    assert_string_equal(itest_json_str(room, "color"), "#1a2b3c");
    assert_true(json_is_true(json_object_get(room, "active")));
    assert_string_equal(itest_json_str(room, "photo_url"), "https://example.com/blue.jpg");
    assert_int_equal(itest_json_int(room, "min_duration_minutes"), 120);
    assert_int_equal(itest_json_int(room, "max_duration_minutes"), 480);
    assert_int_equal(itest_json_int(room, "slot_step_minutes"), 60);
    assert_true(json_is_false(json_object_get(room, "archived")));
    assert_non_null(strchr(itest_json_str(room, "created_at"), 'T'));
    assert_non_null(itest_json_str(room, "updated_at"));
    itest_resp_free(r);

    /* a minimal room gets the defaults */
    r = api(&s, "POST", "/api/rooms", "{\"name\": \"Booth\", \"hourly_rate\": 0}");
    assert_int_equal(r->status, 201);
    assert_string_equal(itest_json_str(r->json, "description"), "");
    assert_true(json_is_null(json_object_get(r->json, "capacity")));
    assert_true(json_is_null(json_object_get(r->json, "photo_url")));
    assert_true(json_is_null(json_object_get(r->json, "slot_step_minutes")));
    assert_int_equal(json_array_size(json_object_get(r->json, "equipment")), 0);
    assert_string_equal(itest_json_str(r->json, "color"), "#3b5bdb");
    itest_resp_free(r);

    r = api(&s, "GET", location, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "id"), id);
    assert_string_equal(itest_json_str(r->json, "name"), "Blue Room");
    itest_resp_free(r);

    r = api(&s, "GET", "/api/rooms", NULL);
    assert_int_equal(r->status, 200);
    json_t *rooms = json_object_get(r->json, "rooms");
    assert_int_equal(json_array_size(rooms), 2);
    assert_string_equal(itest_json_str(json_array_get(rooms, 0), "name"),
                        "Blue Room"); /* by name */
    assert_string_equal(itest_json_str(json_array_get(rooms, 1), "name"), "Booth");
    itest_resp_free(r);
}

static void test_update_changes_only_the_fields_sent(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rupd", &s);
    char *id = create_room(&s, "Red Room", 3000);
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);

    struct itest_resp *r =
        api(&s, "PUT", path, "{\"color\": \"#ff0000\", \"capacity\": 4, \"equipment\": [\"Amp\"]}");
    if (r->status != 200)
        fail_msg("update: %ld %s", r->status, r->body);
    assert_string_equal(itest_json_str(r->json, "color"), "#ff0000");
    assert_int_equal(itest_json_int(r->json, "capacity"), 4);
    assert_string_equal(itest_json_str(r->json, "name"), "Red Room");
    assert_int_equal(itest_json_int(r->json, "hourly_rate"), 3000);
    itest_resp_free(r);

    /* null clears a nullable field; the rest stays */
    r = api(&s, "PUT", path, "{\"capacity\": null, \"name\": \"Crimson Room\", \"active\": false}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_null(json_object_get(r->json, "capacity")));
    assert_string_equal(itest_json_str(r->json, "name"), "Crimson Room");
    assert_true(json_is_false(json_object_get(r->json, "active")));
    assert_string_equal(itest_json_str(r->json, "color"), "#ff0000");
    assert_int_equal(json_array_size(json_object_get(r->json, "equipment")), 1);
    itest_resp_free(r);

    /* what GET gives can be sent back as is */
    r = api(&s, "GET", path, NULL);
    char *again = json_dumps(r->json, JSON_COMPACT);
    itest_resp_free(r);
    r = api(&s, "PUT", path, again);
    free(again);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "name"), "Crimson Room");
    itest_resp_free(r);

    /* a bad field changes nothing */
    expect_bad_field(&s, "PUT", path, "{\"name\": \"Scarlet\", \"hourly_rate\": -5}",
                     "hourly_rate");
    r = api(&s, "GET", path, NULL);
    assert_string_equal(itest_json_str(r->json, "name"), "Crimson Room");
    itest_resp_free(r);
    free(id);
}

static void test_create_room_names_each_bad_field_with_422(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rval", &s);
    struct {
        const char *body, *field;
    } cases[] = {
        {"{\"hourly_rate\": 1000}", "name"},
        {"{\"name\": \"\", \"hourly_rate\": 1000}", "name"},
        {"{\"name\": \"   \", \"hourly_rate\": 1000}", "name"},
        {"{\"name\": 12, \"hourly_rate\": 1000}", "name"},
        {"{\"name\": \"Tab\\tbed\", \"hourly_rate\": 1000}", "name"},
        {"{\"name\": \"A\"}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": 25.5}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": 25.0}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": -1}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": \"2500\"}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": null}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": true}", "hourly_rate"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"description\": 5}", "description"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"capacity\": 0}", "capacity"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"capacity\": \"4\"}", "capacity"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"capacity\": 2.5}", "capacity"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"equipment\": \"drums\"}", "equipment"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"equipment\": [1]}", "equipment"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"equipment\": [\"\"]}", "equipment"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"color\": \"red\"}", "color"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"color\": \"#12345g\"}", "color"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"color\": \"#1234567\"}", "color"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"color\": null}", "color"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"active\": \"yes\"}", "active"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"photo_url\": \"ftp://x.org/a.jpg\"}",
         "photo_url"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"photo_url\": \"javascript:alert(1)\"}",
         "photo_url"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"photo_url\": \"https://\"}", "photo_url"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"photo_url\": \"https://a b.org/\"}", "photo_url"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"slot_step_minutes\": 7}", "slot_step_minutes"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"slot_step_minutes\": 0}", "slot_step_minutes"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"min_duration_minutes\": 0}",
         "min_duration_minutes"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"min_duration_minutes\": 62}",
         "min_duration_minutes"},
        /* on the 5-minute grid but not on the studio's 30-minute step */
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"min_duration_minutes\": 45}",
         "min_duration_minutes"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"max_duration_minutes\": \"90\"}",
         "max_duration_minutes"},
        /* below the studio's minimum (60) */
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"max_duration_minutes\": 30}",
         "max_duration_minutes"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"min_duration_minutes\": 240,"
         " \"max_duration_minutes\": 120}",
         "max_duration_minutes"},
        {"{\"name\": \"A\", \"hourly_rate\": 1, \"archived\": \"no\"}", "archived"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_bad_room_field(&s, cases[i].body, cases[i].field);

    /* a name of 121 characters is too long; 120 (even multi-byte ones) is fine */
    char body[1024], name[600];
    memset(name, 'x', 121);
    name[121] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"%s\", \"hourly_rate\": 1}", name);
    expect_bad_room_field(&s, body, "name");
    name[0] = '\0';
    for (int i = 0; i < 120; i++)
        strcat(name, "\xc3\xa9"); /* é */
    snprintf(body, sizeof(body), "{\"name\": \"%s\", \"hourly_rate\": 1}", name);
    struct itest_resp *r = api(&s, "POST", "/api/rooms", body);
    assert_int_equal(r->status, 201);
    itest_resp_free(r);

    /* all bad at once: every field named */
    r = api(&s, "POST", "/api/rooms",
            "{\"name\": \"\", \"hourly_rate\": 1.5, \"color\": \"blue\", \"capacity\": -1}");
    itest_assert_error(r, 422, "invalid_input");
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    assert_int_equal(json_object_size(fields), 4);
    itest_resp_free(r);

    /* nothing was created by the refusals */
    r = api(&s, "GET", "/api/rooms", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "rooms")), 1);
    itest_resp_free(r);
}

static void test_malformed_json_is_400_and_a_body_that_is_not_json_is_415(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rjson", &s);
    char *id = create_room(&s, "Room", 1000);
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);

    const char *bodies[] = {"{\"name\": ", "[1, 2]", "{\"name\": \"A\", \"name\": \"B\"}", "nope"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct itest_resp *r = api(&s, "POST", "/api/rooms", bodies[i]);
        itest_assert_error(r, 400, "malformed_json");
        itest_resp_free(r);
        itest_expect_error(api(&s, "PUT", path, bodies[i]), 400, "malformed_json");
    }
    const char *headers[] = {s.csrf_header, NULL};
    const char *paths[] = {"/api/rooms", "/api/closures"};
    for (size_t i = 0; i < 2; i++) {
        struct itest_resp *r =
            itest_request(&srv, "POST", s.s.host, paths[i], "text/plain",
                          "{\"name\": \"A\", \"hourly_rate\": 1}", headers, &s.jar);
        itest_assert_error(r, 415, "unsupported_media_type");
        itest_resp_free(r);
    }
    const char *puts[] = {"/api/settings/booking", "/api/opening-hours", path};
    for (size_t i = 0; i < 3; i++) {
        struct itest_resp *r =
            itest_request(&srv, "PUT", s.s.host, puts[i], "application/x-www-form-urlencoded",
                          "a=1", headers, &s.jar);
        itest_assert_error(r, 415, "unsupported_media_type");
        itest_resp_free(r);
    }
    free(id);
}

static void test_unknown_and_non_uuid_ids_are_404_not_found(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("r404", &s);
    const char *ids[] = {UNKNOWN_ID,
                         "nope",
                         "1",
                         "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c1",
                         "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c10x",
                         "%27%20OR%201%3D1",
                         "0b7e7a523f1c4c4e9a435d8f2b1e6c10"};
    struct {
        const char *method, *fmt, *body;
    } routes[] = {
        {"GET", "/api/rooms/%s", NULL},
        {"PUT", "/api/rooms/%s", "{\"name\": \"X\"}"},
        {"DELETE", "/api/rooms/%s", NULL},
        {"GET", "/api/rooms/%s/opening-hours", NULL},
        {"PUT", "/api/rooms/%s/opening-hours", "{\"inherit\": true}"},
        {"GET", "/api/rooms/%s/prices", NULL},
        {"PUT", "/api/rooms/%s/prices", "{\"rules\": []}"},
        {"DELETE", "/api/closures/%s", NULL},
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        for (size_t j = 0; j < sizeof(routes) / sizeof(routes[0]); j++) {
            char path[160];
            snprintf(path, sizeof(path), routes[j].fmt, ids[i]);
            struct itest_resp *r = api(&s, routes[j].method, path, routes[j].body);
            if (r->status != 404 || !itest_error_code(r) ||
                strcmp(itest_error_code(r), "not_found") != 0)
                fail_msg("%s %s: expected 404 not_found, got %ld %s", routes[j].method, path,
                         r->status, r->body);
            itest_resp_free(r);
        }
}

static void test_a_name_is_unique_among_rooms_that_are_not_archived_ignoring_case(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rdup", &s);
    char *a = create_room(&s, "Studio One", 1000);
    char *b = create_room(&s, "Studio Two", 1000);

    struct itest_resp *r =
        api(&s, "POST", "/api/rooms", "{\"name\": \"STUDIO one \", \"hourly_rate\": 1}");
    itest_assert_error(r, 409, "room_name_taken");
    assert_non_null(
        json_object_get(json_object_get(json_object_get(r->json, "error"), "fields"), "name"));
    itest_resp_free(r);

    char path_b[128], path_a[128];
    snprintf(path_a, sizeof(path_a), "/api/rooms/%s", a);
    snprintf(path_b, sizeof(path_b), "/api/rooms/%s", b);
    itest_expect_error(api(&s, "PUT", path_b, "{\"name\": \"studio one\"}"), 409,
                       "room_name_taken");
    r = api(&s, "PUT", path_a, "{\"name\": \"Studio ONE\"}"); /* its own name: fine */
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    /* an archived room frees its name; restoring it while the name is used is refused */
    itest_expect_status(api(&s, "PUT", path_a, "{\"archived\": true}"), 200);
    char *c = create_room(&s, "studio one", 1000);
    itest_expect_error(api(&s, "PUT", path_a, "{\"archived\": false}"), 409, "room_name_taken");
    r = api(&s, "PUT", path_a, "{\"archived\": false, \"name\": \"Studio One (old)\"}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(r->json, "archived")));
    itest_resp_free(r);
    free(a);
    free(b);
    free(c);
}

static void test_an_archived_room_leaves_the_list_unless_asked_and_can_be_restored(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rarc", &s);
    char *id = create_room(&s, "Attic", 1500);
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);

    struct itest_resp *r = api(&s, "PUT", path, "{\"archived\": true}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "archived")));
    assert_non_null(itest_json_str(r->json, "archived_at"));
    itest_resp_free(r);

    r = api(&s, "GET", "/api/rooms", NULL);
    assert_false(list_has_room(r->json, id));
    itest_resp_free(r);
    r = api(&s, "GET", "/api/rooms?include_archived=true", NULL);
    assert_true(list_has_room(r->json, id));
    itest_resp_free(r);
    r = api(&s, "GET", "/api/rooms?include_archived=maybe", NULL);
    assert_bad_field(r, "include_archived");
    r = api(&s, "GET", path, NULL); /* staff still read it */
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "archived")));
    itest_resp_free(r);

    char *bookable =
        itest_pg_value(s.s.db, "SELECT archived_at IS NOT NULL FROM rooms WHERE id = $1", id);
    assert_string_equal(bookable, "t");
    free(bookable);

    r = api(&s, "PUT", path, "{\"archived\": false}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(r->json, "archived")));
    assert_true(json_is_null(json_object_get(r->json, "archived_at")));
    itest_resp_free(r);
    r = api(&s, "GET", "/api/rooms", NULL);
    assert_true(list_has_room(r->json, id));
    itest_resp_free(r);
    free(id);
}

static void test_deleting_a_room_that_never_had_a_booking_removes_it_with_204(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rdel", &s);
    char *id = create_room(&s, "Cellar", 1000);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/prices", id);
    struct itest_resp *r =
        api(&s, "PUT", path,
            "{\"rules\": [{\"name\": \"Peak\", \"weekdays\": [5],"
            " \"starts\": \"18:00\", \"ends\": \"23:00\", \"hourly_rate\": 2000}]}");
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    snprintf(path, sizeof(path), "/api/rooms/%s", id);
    r = api(&s, "DELETE", path, NULL);
    assert_int_equal(r->status, 204);
    assert_int_equal(r->body_len, 0);
    itest_resp_free(r);
    itest_expect_error(api(&s, "GET", path, NULL), 404, "not_found");
    itest_expect_error(api(&s, "DELETE", path, NULL), 404, "not_found");
    char *rules = itest_pg_value(s.s.db, "SELECT count(*) FROM price_rules WHERE room_id = $1", id);
    assert_string_equal(rules, "0");
    free(rules);
    free(id);
}

static void test_a_room_with_future_bookings_cannot_be_deleted_until_archived(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rbkd", &s);
    char *id = create_room(&s, "Live Room", 4000);
    add_booking(&s, id, "3 days", "confirmed");
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);

    struct itest_resp *r = api(&s, "DELETE", path, NULL);
    itest_assert_error(r, 409, "room_has_bookings");
    itest_resp_free(r);
    r = api(&s, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(r->json, "archived")));
    itest_resp_free(r);

    /* pending ones count too */
    char *other = create_room(&s, "Booth", 1000);
    add_booking(&s, other, "1 day", "pending");
    char other_path[128];
    snprintf(other_path, sizeof(other_path), "/api/rooms/%s", other);
    itest_expect_error(api(&s, "DELETE", other_path, NULL), 409, "room_has_bookings");

    /* archived first: the delete keeps the room (and its bookings), archived */
    itest_expect_status(api(&s, "PUT", path, "{\"archived\": true}"), 200);
    r = api(&s, "DELETE", path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "archived")));
    itest_resp_free(r);
    char *kept = itest_pg_value(s.s.db,
                                "SELECT count(*) FROM bookings b JOIN rooms r ON r.id = b.room_id"
                                " WHERE r.id = $1 AND r.archived_at IS NOT NULL",
                                id);
    assert_string_equal(kept, "1");
    free(kept);
    free(id);
    free(other);
}

static void test_deleting_a_room_with_only_past_or_cancelled_bookings_archives_it(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rpst", &s);
    char *id = create_room(&s, "Old Room", 2000);
    add_booking(&s, id, "-10 days", "completed");
    add_booking(&s, id, "5 days", "cancelled");
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);

    struct itest_resp *r = api(&s, "DELETE", path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "archived")));
    itest_resp_free(r);
    r = api(&s, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "archived")));
    itest_resp_free(r);
    r = api(&s, "GET", "/api/rooms", NULL);
    assert_false(list_has_room(r->json, id));
    itest_resp_free(r);
    char *n = itest_pg_value(s.s.db, "SELECT count(*) FROM bookings WHERE room_id = $1", id);
    assert_string_equal(n, "2");
    free(n);
    free(id);
}

/* ---- the booking policy ------------------------------------------------------------------ */

static void test_booking_settings_round_trip_and_partial_update(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rset", &s);
    struct itest_resp *r =
        api(&s, "PUT", "/api/settings/booking",
            "{\"slot_step_minutes\": 15, \"min_duration_minutes\": 45,"
            " \"max_duration_minutes\": 300, \"min_notice_minutes\": 0, \"max_days_ahead\": 365,"
            " \"buffer_minutes\": 15, \"deposit\": {\"type\": \"percent\", \"value\": 30},"
            " \"auto_confirm\": false, \"hold_minutes\": 20,"
            " \"refund_rule\": {\"type\": \"linear\", \"full_refund_hours\": 72,"
            "                   \"no_refund_hours\": 6}}");
    if (r->status != 200)
        fail_msg("settings: %ld %s", r->status, r->body);
    itest_resp_free(r);

    r = api(&s, "GET", "/api/settings/booking", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(r->json, "slot_step_minutes"), 15);
    assert_int_equal(itest_json_int(r->json, "min_duration_minutes"), 45);
    assert_int_equal(itest_json_int(r->json, "max_duration_minutes"), 300);
    assert_int_equal(itest_json_int(r->json, "min_notice_minutes"), 0);
    assert_int_equal(itest_json_int(r->json, "max_days_ahead"), 365);
    assert_int_equal(itest_json_int(r->json, "buffer_minutes"), 15);
    assert_string_equal(itest_json_str(json_object_get(r->json, "deposit"), "type"), "percent");
    assert_int_equal(itest_json_int(json_object_get(r->json, "deposit"), "value"), 30);
    assert_true(json_is_false(json_object_get(r->json, "auto_confirm")));
    assert_int_equal(itest_json_int(r->json, "hold_minutes"), 20);
    json_t *rule = json_object_get(r->json, "refund_rule");
    assert_string_equal(itest_json_str(rule, "type"), "linear");
    assert_int_equal(itest_json_int(rule, "full_refund_hours"), 72);
    itest_resp_free(r);

    /* only what is sent changes */
    r = api(&s, "PUT", "/api/settings/booking",
            "{\"deposit\": {\"type\": \"fixed\", \"value\": 2000}}");
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(json_object_get(r->json, "deposit"), "type"), "fixed");
    assert_int_equal(itest_json_int(json_object_get(r->json, "deposit"), "value"), 2000);
    assert_int_equal(itest_json_int(r->json, "slot_step_minutes"), 15);
    assert_int_equal(itest_json_int(r->json, "max_days_ahead"), 365);
    itest_resp_free(r);
    r = api(&s, "PUT", "/api/settings/booking", "{\"deposit\": {\"type\": \"none\"}}");
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(json_object_get(r->json, "deposit"), "value"), 0);
    itest_resp_free(r);
}

static void test_booking_settings_name_each_bad_field_with_422(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rsev", &s);
    struct {
        const char *body, *field;
    } cases[] = {
        {"{\"slot_step_minutes\": 7}", "slot_step_minutes"},
        {"{\"slot_step_minutes\": \"30\"}", "slot_step_minutes"},
        {"{\"slot_step_minutes\": 30.0}", "slot_step_minutes"},
        {"{\"min_duration_minutes\": 0}", "min_duration_minutes"},
        {"{\"min_duration_minutes\": 45}", "min_duration_minutes"}, /* not on the 30 step */
        {"{\"min_duration_minutes\": 240, \"max_duration_minutes\": 120}", "max_duration_minutes"},
        {"{\"max_duration_minutes\": 100}", "max_duration_minutes"},
        {"{\"slot_step_minutes\": 60, \"min_duration_minutes\": 90}", "min_duration_minutes"},
        {"{\"min_notice_minutes\": -1}", "min_notice_minutes"},
        {"{\"max_days_ahead\": 0}", "max_days_ahead"},
        {"{\"max_days_ahead\": 731}", "max_days_ahead"},
        {"{\"buffer_minutes\": 241}", "buffer_minutes"},
        {"{\"buffer_minutes\": 7}", "buffer_minutes"},
        {"{\"deposit\": \"none\"}", "deposit"},
        {"{\"deposit\": {\"type\": \"half\", \"value\": 50}}", "deposit.type"},
        {"{\"deposit\": {\"type\": \"percent\", \"value\": 101}}", "deposit.value"},
        {"{\"deposit\": {\"type\": \"percent\", \"value\": -1}}", "deposit.value"},
        {"{\"deposit\": {\"type\": \"percent\", \"value\": 12.5}}", "deposit.value"},
        {"{\"deposit\": {\"type\": \"percent\"}}", "deposit.value"},
        {"{\"deposit\": {\"type\": \"fixed\", \"value\": -100}}", "deposit.value"},
        {"{\"deposit\": {\"type\": \"none\", \"value\": 10}}", "deposit.value"},
        {"{\"auto_confirm\": \"yes\"}", "auto_confirm"},
        {"{\"hold_minutes\": 2}", "hold_minutes"},
        {"{\"hold_minutes\": 1441}", "hold_minutes"},
        {"{\"refund_rule\": \"none\"}", "refund_rule"},
        {"{\"refund_rule\": {\"type\": \"linear\", \"full_refund_hours\": 2,"
         " \"no_refund_hours\": 48}}",
         "refund_rule"},
        {"{\"refund_rule\": {\"type\": \"tiers\", \"tiers\": [{\"hours_before\": 24,"
         " \"refund_percent\": 150}]}}",
         "refund_rule"},
        {"{\"refund_rule\": {\"type\": \"whatever\"}}", "refund_rule"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_bad_field(&s, "PUT", "/api/settings/booking", cases[i].body, cases[i].field);

    /* nothing changed */
    struct itest_resp *r = api(&s, "GET", "/api/settings/booking", NULL);
    assert_int_equal(itest_json_int(r->json, "slot_step_minutes"), 30);
    assert_int_equal(itest_json_int(r->json, "min_duration_minutes"), 60);
    assert_int_equal(itest_json_int(r->json, "hold_minutes"), 30);
    itest_resp_free(r);
}

/* ---- opening hours ----------------------------------------------------------------------- */

static void test_studio_hours_round_trip_with_several_ranges_and_closed_days(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rhrs", &s);
    struct itest_resp *r =
        api(&s, "PUT", "/api/opening-hours",
            "{\"weekly\": ["
            " {\"weekday\": 1, \"ranges\": [{\"opens\": \"14:00\", \"closes\": \"18:00\"},"
            "                              {\"opens\": \"09:00\", \"closes\": \"12:30\"}]},"
            " {\"weekday\": 5, \"ranges\": [{\"opens\": \"10:00\", \"closes\": \"24:00\"}]},"
            " {\"weekday\": 6, \"ranges\": [{\"opens\": \"00:00\", \"closes\": \"06:00\"},"
            "                              {\"opens\": \"06:00\", \"closes\": \"12:00\"}]},"
            " {\"weekday\": 7, \"ranges\": []}]}");
    if (r->status != 200)
        fail_msg("hours: %ld %s", r->status, r->body);
    itest_resp_free(r);

    r = api(&s, "GET", "/api/opening-hours", NULL);
    assert_int_equal(r->status, 200);
    json_t *weekly = json_object_get(r->json, "weekly");
    assert_int_equal(json_array_size(weekly), 7);
    json_t *mon = json_object_get(json_array_get(weekly, 0), "ranges");
    assert_int_equal(json_array_size(mon), 2);
    assert_string_equal(itest_json_str(json_array_get(mon, 0), "opens"), "09:00"); /* in order */
    assert_string_equal(itest_json_str(json_array_get(mon, 0), "closes"), "12:30");
    assert_string_equal(itest_json_str(json_array_get(mon, 1), "opens"), "14:00");
    for (int d = 2; d <= 4; d++) /* not listed: closed */
        assert_int_equal(json_array_size(json_object_get(json_array_get(weekly, d - 1), "ranges")),
                         0);
    json_t *fri = json_object_get(json_array_get(weekly, 4), "ranges");
    assert_string_equal(itest_json_str(json_array_get(fri, 0), "closes"), "24:00");
    assert_int_equal(json_array_size(json_object_get(json_array_get(weekly, 5), "ranges")), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(weekly, 6), "ranges")), 0);
    itest_resp_free(r);
    char *rows = itest_pg_value(s.s.db, "SELECT count(*) FROM opening_hours WHERE room_id IS NULL");
    assert_string_equal(rows, "5");
    free(rows);
}

static void test_studio_hours_name_each_bad_field_and_change_nothing(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rhrv", &s);
    struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "weekly"},
        {"{\"weekly\": {}}", "weekly"},
        {"{\"weekly\": [1]}", "weekly[0]"},
        {"{\"weekly\": [{\"weekday\": 8, \"ranges\": []}]}", "weekly[0].weekday"},
        {"{\"weekly\": [{\"weekday\": 0, \"ranges\": []}]}", "weekly[0].weekday"},
        {"{\"weekly\": [{\"weekday\": \"1\", \"ranges\": []}]}", "weekly[0].weekday"},
        {"{\"weekly\": [{\"weekday\": 1, \"ranges\": []}, {\"weekday\": 1, \"ranges\": []}]}",
         "weekly[1].weekday"},
        {"{\"weekly\": [{\"weekday\": 1}]}", "weekly[0].ranges"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"09:07\","
         " \"closes\": \"12:00\"}]}]}",
         "weekly[0].ranges[0].opens"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"9:00\","
         " \"closes\": \"12:00\"}]}]}",
         "weekly[0].ranges[0].opens"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"24:00\","
         " \"closes\": \"24:00\"}]}]}",
         "weekly[0].ranges[0].opens"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"09:00\","
         " \"closes\": \"25:00\"}]}]}",
         "weekly[0].ranges[0].closes"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"09:00\","
         " \"closes\": \"24:05\"}]}]}",
         "weekly[0].ranges[0].closes"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"12:00\","
         " \"closes\": \"09:00\"}]}]}",
         "weekly[0].ranges[0].closes"},
        {"{\"weekly\": [{\"weekday\": 2, \"ranges\": [{\"opens\": \"12:00\","
         " \"closes\": \"12:00\"}]}]}",
         "weekly[0].ranges[0].closes"},
        {"{\"weekly\": [{\"weekday\": 3, \"ranges\": [{\"opens\": \"09:00\","
         " \"closes\": \"13:00\"}, {\"opens\": \"12:00\", \"closes\": \"18:00\"}]}]}",
         "weekly[0].ranges[1]"},
        {"{\"weekly\": [{\"weekday\": 7, \"ranges\": []}, {\"weekday\": 3, \"ranges\":"
         " [{\"opens\": \"10:00\", \"closes\": \"20:00\"}, {\"opens\": \"08:00\","
         " \"closes\": \"11:00\"}]}]}",
         "weekly[1].ranges[0]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_bad_field(&s, "PUT", "/api/opening-hours", cases[i].body, cases[i].field);

    struct itest_resp *r = api(&s, "GET", "/api/opening-hours", NULL);
    json_t *weekly = json_object_get(r->json, "weekly");
    for (size_t i = 0; i < 7; i++) {
        json_t *ranges = json_object_get(json_array_get(weekly, i), "ranges");
        assert_int_equal(json_array_size(ranges), 1);
        assert_string_equal(itest_json_str(json_array_get(ranges, 0), "opens"), "09:00");
    }
    itest_resp_free(r);
}

static void test_a_room_inherits_the_studio_hours_until_it_has_its_own(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rrhr", &s);
    char *id = create_room(&s, "Late Room", 1000);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/opening-hours", id);

    struct itest_resp *r = api(&s, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "inherit")));
    json_t *first = json_array_get(json_object_get(r->json, "weekly"), 0);
    assert_string_equal(
        itest_json_str(json_array_get(json_object_get(first, "ranges"), 0), "opens"), "09:00");
    itest_resp_free(r);

    r = api(&s, "PUT", path,
            "{\"weekly\": [{\"weekday\": 5, \"ranges\": [{\"opens\": \"18:00\","
            " \"closes\": \"24:00\"}]}, {\"weekday\": 6, \"ranges\": [{\"opens\": \"00:00\","
            " \"closes\": \"04:00\"}, {\"opens\": \"18:00\", \"closes\": \"24:00\"}]}]}");
    if (r->status != 200)
        fail_msg("room hours: %ld %s", r->status, r->body);
    assert_true(json_is_false(json_object_get(r->json, "inherit")));
    itest_resp_free(r);
    r = api(&s, "GET", path, NULL);
    assert_true(json_is_false(json_object_get(r->json, "inherit")));
    json_t *weekly = json_object_get(r->json, "weekly");
    assert_int_equal(json_array_size(json_object_get(json_array_get(weekly, 0), "ranges")), 0);
    json_t *fri = json_object_get(json_array_get(weekly, 4), "ranges");
    assert_string_equal(itest_json_str(json_array_get(fri, 0), "opens"), "18:00");
    assert_int_equal(json_array_size(json_object_get(json_array_get(weekly, 5), "ranges")), 2);
    itest_resp_free(r);

    /* the studio's hours are untouched */
    r = api(&s, "GET", "/api/opening-hours", NULL);
    first = json_array_get(json_object_get(r->json, "weekly"), 0);
    assert_int_equal(json_array_size(json_object_get(first, "ranges")), 1);
    itest_resp_free(r);

    /* an override must open sometime; inherit must be a boolean */
    expect_bad_field(&s, "PUT", path, "{\"weekly\": []}", "weekly");
    expect_bad_field(&s, "PUT", path, "{\"inherit\": \"yes\"}", "inherit");
    expect_bad_field(&s, "PUT", path, "{\"inherit\": false}", "weekly");

    r = api(&s, "PUT", path, "{\"inherit\": true}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "inherit")));
    itest_resp_free(r);
    char *rows =
        itest_pg_value(s.s.db, "SELECT count(*) FROM opening_hours WHERE room_id = $1", id);
    assert_string_equal(rows, "0");
    free(rows);
    free(id);
}

/* ---- closures ---------------------------------------------------------------------------- */

static void test_closures_are_created_listed_by_date_range_and_deleted(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rclo", &s);
    char *room = create_room(&s, "Room", 1000);

    struct itest_resp *r =
        api(&s, "POST", "/api/closures",
            "{\"room_id\": null, \"starts_on\": \"2030-12-24\", \"ends_on\": \"2030-12-26\","
            " \"reason\": \"Christmas\"}");
    if (r->status != 201)
        fail_msg("closure: %ld %s", r->status, r->body);
    char xmas[64];
    snprintf(xmas, sizeof(xmas), "%s", itest_json_str(r->json, "id"));
    assert_true(json_is_null(json_object_get(r->json, "room_id")));
    assert_string_equal(itest_json_str(r->json, "starts_on"), "2030-12-24");
    assert_string_equal(itest_json_str(r->json, "ends_on"), "2030-12-26");
    assert_string_equal(itest_json_str(r->json, "reason"), "Christmas");
    itest_resp_free(r);

    json_t *body = json_pack("{s:s, s:s}", "room_id", room, "starts_on", "2030-06-10");
    r = api_json(&s, "POST", "/api/closures", body);
    assert_int_equal(r->status, 201);
    assert_string_equal(itest_json_str(r->json, "room_id"), room);
    assert_string_equal(itest_json_str(r->json, "ends_on"),
                        "2030-06-10"); /* one day when not said */
    assert_string_equal(itest_json_str(r->json, "reason"), "");
    itest_resp_free(r);

    r = api(&s, "GET", "/api/closures", NULL);
    json_t *list = json_object_get(r->json, "closures");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(itest_json_str(json_array_get(list, 0), "starts_on"),
                        "2030-06-10"); /* by date */
    itest_resp_free(r);
    r = api(&s, "GET", "/api/closures?from=2030-12-26&to=2031-01-31", NULL);
    list = json_object_get(r->json, "closures");
    assert_int_equal(json_array_size(list), 1); /* overlaps on its last day */
    assert_string_equal(itest_json_str(json_array_get(list, 0), "id"), xmas);
    itest_resp_free(r);
    r = api(&s, "GET", "/api/closures?to=2030-06-10", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "closures")), 1);
    itest_resp_free(r);
    r = api(&s, "GET", "/api/closures?from=2031-01-01", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "closures")), 0);
    itest_resp_free(r);

    expect_bad_field(&s, "GET", "/api/closures?from=2030-02-30", NULL, "from");
    expect_bad_field(&s, "GET", "/api/closures?to=tomorrow", NULL, "to");
    expect_bad_field(&s, "GET", "/api/closures?from=2030-05-01&to=2030-04-01", NULL, "to");

    char path[128];
    snprintf(path, sizeof(path), "/api/closures/%s", xmas);
    itest_expect_status(api(&s, "DELETE", path, NULL), 204);
    itest_expect_error(api(&s, "DELETE", path, NULL), 404, "not_found");
    r = api(&s, "GET", "/api/closures", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "closures")), 1);
    itest_resp_free(r);
    free(room);
}

static void test_closures_name_each_bad_field_with_422(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rclv", &s);
    struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "starts_on"},
        {"{\"starts_on\": \"2030-13-01\"}", "starts_on"},
        {"{\"starts_on\": \"2031-02-29\"}", "starts_on"},
        {"{\"starts_on\": \"30-01-01\"}", "starts_on"},
        {"{\"starts_on\": 20300101}", "starts_on"},
        {"{\"starts_on\": \"2030-01-10\", \"ends_on\": \"2030-01-09\"}", "ends_on"},
        {"{\"starts_on\": \"2030-01-10\", \"ends_on\": \"soon\"}", "ends_on"},
        {"{\"starts_on\": \"2030-01-10\", \"room_id\": \"nope\"}", "room_id"},
        {"{\"starts_on\": \"2030-01-10\", \"room_id\": 5}", "room_id"},
        {"{\"starts_on\": \"2030-01-10\", \"room_id\": \"" UNKNOWN_ID "\"}", "room_id"},
        {"{\"starts_on\": \"2030-01-10\", \"reason\": 5}", "reason"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_bad_field(&s, "POST", "/api/closures", cases[i].body, cases[i].field);
    struct itest_resp *r = api(&s, "POST", "/api/closures", "{\"starts_on\": \"2032-02-29\"}");
    assert_int_equal(r->status, 201); /* a leap day */
    itest_resp_free(r);
}

/* ---- prices ------------------------------------------------------------------------------ */

static void test_prices_replace_the_rules_and_can_change_the_rate(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rprc", &s);
    char *id = create_room(&s, "Priced", 2000);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/prices", id);

    struct itest_resp *r = api(&s, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(r->json, "hourly_rate"), 2000);
    assert_int_equal(json_array_size(json_object_get(r->json, "rules")), 0);
    itest_resp_free(r);

    r = api(&s, "PUT", path,
            "{\"hourly_rate\": 2200, \"rules\": ["
            " {\"name\": \"Evenings\", \"weekdays\": [5, 1, 2, 3, 4], \"starts\": \"18:00\","
            "  \"ends\": \"24:00\", \"hourly_rate\": 3000},"
            " {\"name\": \"Mornings\", \"weekdays\": [1], \"starts\": \"06:00\","
            "  \"ends\": \"10:00\", \"hourly_rate\": 1500}]}");
    if (r->status != 200)
        fail_msg("prices: %ld %s", r->status, r->body);
    assert_int_equal(itest_json_int(r->json, "hourly_rate"), 2200);
    json_t *rules = json_object_get(r->json, "rules");
    assert_int_equal(json_array_size(rules), 2);
    json_t *morning = json_array_get(rules, 0); /* by start time */
    assert_string_equal(itest_json_str(morning, "name"), "Mornings");
    assert_string_equal(itest_json_str(morning, "starts"), "06:00");
    json_t *evening = json_array_get(rules, 1);
    assert_string_equal(itest_json_str(evening, "ends"), "24:00");
    assert_int_equal(itest_json_int(evening, "hourly_rate"), 3000);
    json_t *days = json_object_get(evening, "weekdays");
    assert_int_equal(json_array_size(days), 5);
    assert_int_equal(json_integer_value(json_array_get(days, 0)), 1); /* sorted */
    itest_resp_free(r);

    /* the room's rate follows */
    snprintf(path, sizeof(path), "/api/rooms/%s", id);
    r = api(&s, "GET", path, NULL);
    assert_int_equal(itest_json_int(r->json, "hourly_rate"), 2200);
    itest_resp_free(r);

    /* rules alone replace the set; the rate stays */
    snprintf(path, sizeof(path), "/api/rooms/%s/prices", id);
    r = api(&s, "PUT", path,
            "{\"rules\": [{\"weekdays\": [6, 7], \"starts\": \"00:00\", \"ends\": \"24:00\","
            " \"hourly_rate\": 2500}]}");
    assert_int_equal(r->status, 200);
    assert_int_equal(itest_json_int(r->json, "hourly_rate"), 2200);
    rules = json_object_get(r->json, "rules");
    assert_int_equal(json_array_size(rules), 1);
    assert_string_equal(itest_json_str(json_array_get(rules, 0), "name"), "");
    itest_resp_free(r);

    r = api(&s, "PUT", path, "{\"rules\": []}");
    assert_int_equal(r->status, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "rules")), 0);
    itest_resp_free(r);
    free(id);
}

static void test_prices_name_each_bad_field_with_422(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rprv", &s);
    char *id = create_room(&s, "Priced", 2000);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/prices", id);
    const struct {
        const char *body, *field;
    } whole[] = {
        {"{\"hourly_rate\": 12.5}", "hourly_rate"},
        {"{\"hourly_rate\": -1}", "hourly_rate"},
        {"{\"hourly_rate\": \"100\"}", "hourly_rate"},
        {"{\"rules\": {}}", "rules"},
        {"{\"rules\": [1]}", "rules[0]"},
    };
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
        expect_bad_field(&s, "PUT", path, whole[i].body, whole[i].field);

    /* one key of an otherwise good rule (the second of the list) made bad */
    const struct {
        const char *key, *value;
    } bad[] = {
        {"weekdays", "[]"},      {"weekdays", "[8]"},     {"weekdays", "[0]"},
        {"weekdays", "[1, 1]"},  {"weekdays", "\"mon\""}, {"weekdays", "null"},
        {"starts", "\"18:03\""}, {"starts", "\"6pm\""},   {"starts", "\"24:00\""},
        {"ends", "\"17:00\""},   {"ends", "\"24:30\""},   {"ends", "\"18:00\""},
        {"hourly_rate", "10.5"}, {"hourly_rate", "-10"},  {"hourly_rate", "\"10\""},
        {"name", "7"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *rule = json_pack("{s:s, s:[i], s:s, s:s, s:i}", "name", "Peak", "weekdays", 1,
                                 "starts", "18:00", "ends", "20:00", "hourly_rate", 100);
        json_object_set_new(rule, bad[i].key, json_loads(bad[i].value, JSON_DECODE_ANY, NULL));
        json_t *good = json_pack("{s:[i], s:s, s:s, s:i}", "weekdays", 2, "starts", "08:00", "ends",
                                 "09:00", "hourly_rate", 50);
        json_t *body = json_pack("{s:[o, o]}", "rules", good, rule);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        char field[64];
        snprintf(field, sizeof(field), "rules[1].%s", bad[i].key);
        expect_bad_field(&s, "PUT", path, text, field);
        free(text);
    }
    struct itest_resp *r = api(&s, "GET", path, NULL);
    assert_int_equal(itest_json_int(r->json, "hourly_rate"), 2000);
    assert_int_equal(json_array_size(json_object_get(r->json, "rules")), 0);
    itest_resp_free(r);
    free(id);
}

/* ---- who may call ------------------------------------------------------------------------ */

static void test_no_session_is_401_and_a_missing_csrf_token_is_403(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rauth", &s);
    char *id = create_room(&s, "Guarded", 1000);
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);

    const char *gets[] = {"/api/rooms", path, "/api/settings/booking", "/api/opening-hours",
                          "/api/closures"};
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        struct itest_resp *r =
            itest_request(&srv, "GET", s.s.host, gets[i], NULL, NULL, NULL, NULL);
        itest_assert_error(r, 401, "unauthenticated");
        itest_resp_free(r);
    }
    struct {
        const char *method, *path, *body;
    } writes[] = {
        {"POST", "/api/rooms", "{\"name\": \"Sneaky\", \"hourly_rate\": 1}"},
        {"PUT", path, "{\"name\": \"Sneaky\"}"},
        {"DELETE", path, NULL},
        {"PUT", "/api/settings/booking", "{\"max_days_ahead\": 5}"},
        {"PUT", "/api/opening-hours", "{\"weekly\": []}"},
        {"POST", "/api/closures", "{\"starts_on\": \"2030-01-01\"}"},
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        const char *ct = writes[i].body ? "application/json" : NULL;
        struct itest_resp *r = itest_request(&srv, writes[i].method, s.s.host, writes[i].path, ct,
                                             writes[i].body, NULL, &s.jar);
        itest_assert_error(r, 403, "csrf_failed");
        itest_resp_free(r);
        const char *wrong[] = {"X-CSRF-Token: not-the-token", NULL};
        itest_expect_error(itest_request(&srv, writes[i].method, s.s.host, writes[i].path, ct,
                                         writes[i].body, wrong, &s.jar),
                           403, "csrf_failed");
        itest_expect_error(itest_request(&srv, writes[i].method, s.s.host, writes[i].path, ct,
                                         writes[i].body, NULL, NULL),
                           401, "unauthenticated");
    }
    /* nothing changed */
    struct itest_resp *r = api(&s, "GET", "/api/rooms", NULL);
    json_t *rooms = json_object_get(r->json, "rooms");
    assert_int_equal(json_array_size(rooms), 1);
    assert_string_equal(itest_json_str(json_array_get(rooms, 0), "name"), "Guarded");
    itest_resp_free(r);
    r = api(&s, "GET", "/api/settings/booking", NULL);
    assert_int_equal(itest_json_int(r->json, "max_days_ahead"), 180);
    itest_resp_free(r);
    free(id);
}

static void test_another_studio_cannot_list_read_change_or_delete_a_studios_rooms(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio a, b;
    make_studio("rta", &a);
    make_studio("rtb", &b);
    char *room = create_room(&a, "A's Room", 1000);
    char *closure_id = NULL;
    struct itest_resp *r = api(&a, "POST", "/api/closures", "{\"starts_on\": \"2030-01-01\"}");
    assert_int_equal(r->status, 201);
    closure_id = strdup(itest_json_str(r->json, "id"));
    itest_resp_free(r);

    r = api(&b, "GET", "/api/rooms?include_archived=true", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "rooms")), 0);
    itest_resp_free(r);
    r = api(&b, "GET", "/api/closures", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "closures")), 0);
    itest_resp_free(r);

    struct {
        const char *method, *fmt, *body;
    } routes[] = {
        {"GET", "/api/rooms/%s", NULL},
        {"PUT", "/api/rooms/%s", "{\"name\": \"Taken over\"}"},
        {"PUT", "/api/rooms/%s", "{\"archived\": true}"},
        {"DELETE", "/api/rooms/%s", NULL},
        {"GET", "/api/rooms/%s/opening-hours", NULL},
        {"PUT", "/api/rooms/%s/opening-hours", "{\"inherit\": true}"},
        {"GET", "/api/rooms/%s/prices", NULL},
        {"PUT", "/api/rooms/%s/prices", "{\"hourly_rate\": 1}"},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char path[160];
        snprintf(path, sizeof(path), routes[i].fmt, room);
        r = api(&b, routes[i].method, path, routes[i].body);
        if (r->status != 404)
            fail_msg("B %s %s: expected 404, got %ld %s", routes[i].method, path, r->status,
                     r->body);
        itest_resp_free(r);
    }
    char path[128];
    snprintf(path, sizeof(path), "/api/closures/%s", closure_id);
    itest_expect_error(api(&b, "DELETE", path, NULL), 404, "not_found");

    /* B's session is worthless on A's host */
    struct itest_cookies jar = b.jar;
    const char *headers[] = {b.csrf_header, NULL};
    itest_expect_error(itest_request(&srv, "GET", a.s.host, "/api/rooms", NULL, NULL, NULL, &jar),
                       401, "unauthenticated");
    snprintf(path, sizeof(path), "/api/rooms/%s", room);
    itest_expect_error(itest_request(&srv, "DELETE", a.s.host, path, NULL, NULL, headers, &jar),
                       401, "unauthenticated");

    /* A's room is as it was */
    r = api(&a, "GET", "/api/rooms", NULL);
    json_t *rooms = json_object_get(r->json, "rooms");
    assert_int_equal(json_array_size(rooms), 1);
    assert_string_equal(itest_json_str(json_array_get(rooms, 0), "name"), "A's Room");
    assert_int_equal(itest_json_int(json_array_get(rooms, 0), "hourly_rate"), 1000);
    assert_true(json_is_false(json_object_get(json_array_get(rooms, 0), "archived")));
    itest_resp_free(r);
    r = api(&a, "GET", "/api/closures", NULL);
    assert_int_equal(json_array_size(json_object_get(r->json, "closures")), 1);
    itest_resp_free(r);
    free(room);
    free(closure_id);
}

/* ---- the contract with the booking module (rooms.h) -------------------------------------- */

static void test_room_load_treats_a_non_uuid_as_not_found_without_a_database_error(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rcon", &s);
    char *id = create_room(&s, "Contract Room", 2750);
    struct db_conn *t = db_acquire(NULL, s.s.db);
    assert_non_null(t);

    struct room_info info;
    assert_int_equal(rooms_room_load(t, "not-a-uuid", &info), -1);
    assert_int_equal(rooms_room_load(t, "'; DROP TABLE rooms; --", &info), -1);
    assert_int_equal(rooms_room_load(t, UNKNOWN_ID, &info), -1);
    assert_false(t->broken);
    assert_int_equal(PQtransactionStatus(t->pg), PQTRANS_IDLE);

    assert_int_equal(rooms_room_load(t, id, &info), 0);
    assert_string_equal(info.id, id);
    assert_string_equal(info.name, "Contract Room");
    assert_int_equal(info.hourly_rate, 2750);
    assert_true(info.active);
    assert_string_equal(json_string_value(json_object_get(info.json, "name")), "Contract Room");
    rooms_room_release(&info);

    /* archived or inactive: not bookable */
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", id);
    itest_expect_status(api(&s, "PUT", path, "{\"archived\": true}"), 200);
    assert_int_equal(rooms_room_load(t, id, &info), 0);
    assert_false(info.active);
    rooms_room_release(&info);

    struct price_rule rules[4];
    assert_int_equal(rooms_price_rules(t, "nope", rules, 4), 0);
    db_release(t);
    free(id);
}

static void test_policy_load_applies_the_room_overrides_over_the_studio_settings(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rpol", &s);
    struct itest_resp *r = api(&s, "PUT", "/api/settings/booking",
                               "{\"slot_step_minutes\": 15, \"min_duration_minutes\": 60,"
                               " \"max_duration_minutes\": 240, \"buffer_minutes\": 10,"
                               " \"deposit\": {\"type\": \"percent\", \"value\": 25}}");
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
    char *plain = create_room(&s, "Plain", 1000);
    r = api(&s, "POST", "/api/rooms",
            "{\"name\": \"Special\", \"hourly_rate\": 1000, \"slot_step_minutes\": 30,"
            " \"min_duration_minutes\": 120, \"max_duration_minutes\": 600}");
    assert_int_equal(r->status, 201);
    char special[64];
    snprintf(special, sizeof(special), "%s", itest_json_str(r->json, "id"));
    itest_resp_free(r);

    struct db_conn *t = db_acquire(NULL, s.s.db);
    assert_non_null(t);
    struct booking_policy p;
    assert_int_equal(rooms_policy_load(t, NULL, &p), 0);
    assert_int_equal(p.slot_step_minutes, 15);
    assert_int_equal(p.min_duration_minutes, 60);
    assert_int_equal(p.max_duration_minutes, 240);
    assert_int_equal(p.min_notice_minutes, 120);
    assert_int_equal(p.max_days_ahead, 180);
    assert_int_equal(p.buffer_minutes, 10);
    assert_string_equal(p.deposit_type, "percent");
    assert_int_equal(p.deposit_value, 25);
    assert_int_equal(p.hold_minutes, 30);
    assert_non_null(p.refund_rule);
    rooms_policy_release(&p);

    assert_int_equal(rooms_policy_load(t, plain, &p), 0);
    assert_int_equal(p.slot_step_minutes, 15);
    assert_int_equal(p.min_duration_minutes, 60);
    rooms_policy_release(&p);

    assert_int_equal(rooms_policy_load(t, special, &p), 0);
    assert_int_equal(p.slot_step_minutes, 30);
    assert_int_equal(p.min_duration_minutes, 120);
    assert_int_equal(p.max_duration_minutes, 600);
    assert_int_equal(p.buffer_minutes, 10); /* the studio's */
    json_t *summary = rooms_policy_json(&p);
    assert_int_equal(json_integer_value(json_object_get(summary, "slot_step_minutes")), 30);
    assert_int_equal(json_integer_value(json_object_get(summary, "min_duration_minutes")), 120);
    assert_int_equal(json_integer_value(json_object_get(summary, "max_days_ahead")), 180);
    assert_int_equal(json_integer_value(json_object_get(summary, "min_notice_minutes")), 120);
    assert_int_equal(json_integer_value(json_object_get(summary, "hold_minutes")), 30);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(summary, "deposit"), "type")), "percent");
    assert_non_null(json_object_get(summary, "refund_rule"));
    json_decref(summary);
    rooms_policy_release(&p);

    assert_int_equal(rooms_policy_load(t, UNKNOWN_ID, &p), -1);
    assert_int_equal(rooms_policy_load(t, "special", &p), -1);
    assert_false(t->broken);
    db_release(t);
    free(plain);
}

static void test_price_rules_come_as_weekday_masks_and_minutes(void **state)
{
    (void)state;
    REQUIRE_SERVER();
    struct studio s;
    make_studio("rmsk", &s);
    char *id = create_room(&s, "Masked", 1000);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/prices", id);
    struct itest_resp *r =
        api(&s, "PUT", path,
            "{\"rules\": [{\"weekdays\": [7, 1, 3], \"starts\": \"18:30\", \"ends\": \"24:00\","
            " \"hourly_rate\": 1800}, {\"weekdays\": [6], \"starts\": \"08:00\","
            " \"ends\": \"12:15\", \"hourly_rate\": 900}]}");
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    struct db_conn *t = db_acquire(NULL, s.s.db);
    assert_non_null(t);
    struct price_rule rules[8];
    assert_int_equal(rooms_price_rules(t, id, rules, 8), 2);
    assert_int_equal(rules[0].weekday_mask, 1u << 6);
    assert_int_equal(rules[0].start_minute, 480);
    assert_int_equal(rules[0].end_minute, 735);
    assert_int_equal(rules[0].hourly_rate, 900);
    assert_int_equal(rules[1].weekday_mask, (1u << 1) | (1u << 3) | (1u << 7));
    assert_int_equal(rules[1].start_minute, 1110);
    assert_int_equal(rules[1].end_minute, 1440);
    assert_int_equal(rules[1].hourly_rate, 1800);
    assert_int_equal(rooms_price_rules(t, id, rules, 1), 1); /* at most max */
    assert_int_equal(rooms_price_rules(t, UNKNOWN_ID, rules, 8), 0);
    db_release(t);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_studio_can_take_bookings_at_once_with_the_documented_defaults),
        cmocka_unit_test(test_create_then_list_and_read_a_room_with_every_field),
        cmocka_unit_test(test_update_changes_only_the_fields_sent),
        cmocka_unit_test(test_create_room_names_each_bad_field_with_422),
        cmocka_unit_test(test_malformed_json_is_400_and_a_body_that_is_not_json_is_415),
        cmocka_unit_test(test_unknown_and_non_uuid_ids_are_404_not_found),
        cmocka_unit_test(test_a_name_is_unique_among_rooms_that_are_not_archived_ignoring_case),
        cmocka_unit_test(test_an_archived_room_leaves_the_list_unless_asked_and_can_be_restored),
        cmocka_unit_test(test_deleting_a_room_that_never_had_a_booking_removes_it_with_204),
        cmocka_unit_test(test_a_room_with_future_bookings_cannot_be_deleted_until_archived),
        cmocka_unit_test(test_deleting_a_room_with_only_past_or_cancelled_bookings_archives_it),
        cmocka_unit_test(test_booking_settings_round_trip_and_partial_update),
        cmocka_unit_test(test_booking_settings_name_each_bad_field_with_422),
        cmocka_unit_test(test_studio_hours_round_trip_with_several_ranges_and_closed_days),
        cmocka_unit_test(test_studio_hours_name_each_bad_field_and_change_nothing),
        cmocka_unit_test(test_a_room_inherits_the_studio_hours_until_it_has_its_own),
        cmocka_unit_test(test_closures_are_created_listed_by_date_range_and_deleted),
        cmocka_unit_test(test_closures_name_each_bad_field_with_422),
        cmocka_unit_test(test_prices_replace_the_rules_and_can_change_the_rate),
        cmocka_unit_test(test_prices_name_each_bad_field_with_422),
        cmocka_unit_test(test_no_session_is_401_and_a_missing_csrf_token_is_403),
        cmocka_unit_test(test_another_studio_cannot_list_read_change_or_delete_a_studios_rooms),
        cmocka_unit_test(test_room_load_treats_a_non_uuid_as_not_found_without_a_database_error),
        cmocka_unit_test(test_policy_load_applies_the_room_overrides_over_the_studio_settings),
        cmocka_unit_test(test_price_rules_come_as_weekday_masks_and_minutes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
