/*
 * test_audit_coverage.c — every change leaves an audit entry, written in the
 * change's own transaction: a change that rolls back leaves none, and no
 * change goes unrecorded.
 *
 * The route tables are linked directly (as tests/unit/test_openapi.c does),
 * and `cases` below says, for every mutating route (method other than GET),
 * how to make it succeed and which entry it must leave (action, resource,
 * resource id). test_every_mutating_route_has_a_case fails, naming them,
 * when a table holds a mutating route the list does not: a new route cannot
 * arrive without its audit test. Each case then runs as its own test, in its
 * own studio: it sets up what it needs (which may write entries of its
 * own), notes the newest entry, makes the request, finds the entry among
 * those written after it, and checks that the chain still verifies.
 *
 * Further: the owner's creation at sign-up and refused sign-ins (wrong
 * password, unknown address) are audited; a DELETE that archives a room or
 * deactivates a user says so; a refund lands in after.refund_amount; a room
 * with a taken name, an overlapping booking (staff or public) add no entry;
 * an entry that cannot be written (a CHECK constraint on audit_log set up
 * to refuse it) undoes the change and answers 503; hold expiry, by the job
 * or noticed by a new booking, and the manage tokens the search mail
 * replaces are entries of the system; and a busy studio's chain verifies.
 *
 * Routes of admin_routes are the platform admin's (their own tests); the
 * audit module's own cleanup route is tested in test_audit.c.
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
#include "studiod/booking.h"
#include "studiod/db.h"
#include "studiod/http.h"

#define PASSWORD "correct horse battery staple"
#define ZONE "Europe/Paris"   /* the zone itest_signup gives a studio */
#define ANY_ID "*"            /* a case that does not name the entry's resource_id */
#define JOB_WAIT_MS 20000     /* the search mail job runs in the studiod under test */
#define INVITE_TOKEN_CHARS 43 /* like the staff module's: 32 bytes, base64url */

extern const struct route rooms_routes[], booking_public_routes[], booking_routes[], staff_routes[],
    auth_routes[], rbac_routes[];

/* The tables whose mutating routes must all be in `cases`. */
static const struct {
    const char *name;
    const struct route *routes;
} tables[] = {
    {"rooms_routes", rooms_routes},     {"booking_public_routes", booking_public_routes},
    {"booking_routes", booking_routes}, {"staff_routes", staff_routes},
    {"auth_routes", auth_routes},       {"rbac_routes", rbac_routes},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static struct studiod_proc *const srv = &itest_server;

/* A studio of its own, its owner signed in. */
struct fixture {
    struct itest_studio s;
    struct itest_cookies jar;
    char csrf[128];
    char owner_id[40];
};

/* What a case did: the newest entry before its request, and the id its entry must name
 * ("" for none, ANY_ID when not checked). */
struct outcome {
    long long since;
    char rid[80];
};

/* One mutating route: how to make it succeed, and the entry it must leave. */
struct audit_case {
    const char *label; /* "METHOD pattern": the test's name */
    const char *method, *pattern;
    const char *action, *resource;
    void (*run)(struct fixture *f, struct outcome *o);
};

static void open_studio(struct fixture *f);
static struct itest_resp *call(struct fixture *f, const char *method, const char *path,
                               json_t *body);
static struct itest_resp *call_public(struct fixture *f, const char *method, const char *path,
                                      json_t *body, const char *header);
static void check_reply(struct itest_resp *r, long status, bool json, const char *what);
static json_t *take(struct itest_resp *r, long status, const char *what);
static void expect_status(struct itest_resp *r, long status, const char *what);
static void copy_id(json_t *j, const char *key, char *out);
static long long mark(struct fixture *f);
static char *entry_value(struct fixture *f, long long since, const char *action,
                         const char *resource, const char *rid, const char *column);
static void assert_entry(struct fixture *f, const struct outcome *o, const char *action,
                         const char *resource);
static long long entries_since(struct fixture *f, long long since);
static void assert_chain_ok(struct fixture *f);
static void new_room(struct fixture *f, const char *name, char *id);
static void any_room(struct fixture *f, char *id);
static json_t *booking_json(const char *room, int day, int hour, int minutes, const char *email);
static void staff_booking(struct fixture *f, const char *room, int day, int hour, char *id);
static void public_booking(struct fixture *f, const char *room, int day, int hour,
                           const char *email, char *ref, char *token);
static void booking_of_ref(struct fixture *f, const char *ref, char *id);
static void convert(struct fixture *f, const char *booking, char *session);
static void add_item(struct fixture *f, const char *session, char *item);
static void new_feed(struct fixture *f, char *id);
static void new_closure(struct fixture *f, char *id);
static void delete_marked(struct fixture *f, struct outcome *o, const char *collection);
static void new_user(struct fixture *f, const char *local, bool joined, char *id);
static void session_of(struct fixture *f, const struct itest_cookies *jar, char *id);
static void new_role(struct fixture *f, const char *name, char *id);
static void role_named(struct fixture *f, const char *name, char *id);
static const struct audit_case *case_for(const char *method, const char *pattern);

/* ---- helpers ------------------------------------------------------------------------------ */

static void open_studio(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    itest_name_studio("acov", &f->s);
    int status = itest_signup_studio(srv, &f->s, PASSWORD);
    if (status != 201)
        fail_msg("signup of %s: %d", f->s.slug, status);
    /* The unlimited plan, before anything caches the studio: a busy studio makes more rooms
     * than the trial plan allows (plan limits are test_billing.c's). */
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE organizations SET plan_id = 'studio_plus'"
                                   " WHERE slug = $1",
                                   f->s.slug),
                     0);
    status = itest_login(srv, f->s.slug, f->s.email, PASSWORD, &f->jar, f->csrf);
    if (status != 200)
        fail_msg("login to %s: %d", f->s.slug, status);
    itest_user_id(&f->s, f->s.email, f->owner_id);
}

/* method path as the owner (session + CSRF); body is stolen (NULL: none). */
static struct itest_resp *call(struct fixture *f, const char *method, const char *path,
                               json_t *body)
{
    return itest_staff_request(srv, method, f->s.host, path, body, &f->jar, f->csrf);
}

/* method path on the studio's host without a session; body stolen; header one extra line. */
static struct itest_resp *call_public(struct fixture *f, const char *method, const char *path,
                                      json_t *body, const char *header)
{
    const char *headers[] = {header, NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct itest_resp *r =
        itest_request(srv, method, f->s.host, path, text ? "application/json" : NULL, text,
                      header ? headers : NULL, NULL);
    free(text);
    return r;
}

/* Fails the test unless r has status (and JSON when json); frees r first either way. */
static void check_reply(struct itest_resp *r, long status, bool json, const char *what)
{
    if (r->status == status && (!json || r->json))
        return;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s: %ld %.600s (wanted %ld)%s", what, r->status, r->body, status,
             r->error);
    itest_resp_free(r);
    fail_msg("%s", msg);
}

/* The JSON of a reply that must have status (json_decref it); frees r. */
static json_t *take(struct itest_resp *r, long status, const char *what)
{
    check_reply(r, status, true, what);
    json_t *j = json_incref(r->json);
    itest_resp_free(r);
    return j;
}

static void expect_status(struct itest_resp *r, long status, const char *what)
{
    check_reply(r, status, false, what);
    itest_resp_free(r);
}

/* j.key (a string) into out (≥ 80 bytes). */
static void copy_id(json_t *j, const char *key, char *out)
{
    const char *v = json_string_value(json_object_get(j, key));
    snprintf(out, 80, "%s", v ? v : "");
    if (!v)
        fail_msg("no \"%s\" in the reply", key); /* j leaks on this failure only */
}

/* The id of the studio's newest entry (0: none yet). */
static long long mark(struct fixture *f)
{
    char *v = itest_pg_value(f->s.db, "SELECT coalesce(max(id), 0)::text FROM audit_log");
    assert_non_null(v);
    long long id = atoll(v);
    free(v);
    return id;
}

/* column (as text) of the newest entry after since with action, resource and resource id rid
 * ("" none, ANY_ID any); NULL when there is none (or the column is NULL). Free it. */
static char *entry_value(struct fixture *f, long long since, const char *action,
                         const char *resource, const char *rid, const char *column)
{
    char sql[512], s[24];
    snprintf(s, sizeof(s), "%lld", since);
    snprintf(sql, sizeof(sql),
             "SELECT %s::text FROM audit_log a"
             " WHERE id > $1::bigint AND action = $2 AND resource = $3"
             "   AND ($4 = '" ANY_ID "' OR resource_id IS NOT DISTINCT FROM nullif($4, ''))"
             " ORDER BY id DESC LIMIT 1",
             column);
    return itest_pg_value(f->s.db, sql, s, action, resource, rid);
}

/* The case's entry is there, and it was written for this change. */
static void assert_entry(struct fixture *f, const struct outcome *o, const char *action,
                         const char *resource)
{
    char *id = entry_value(f, o->since, action, resource, o->rid, "id");
    if (!id) {
        char s[24];
        snprintf(s, sizeof(s), "%lld", o->since);
        char *got = itest_pg_value(
            f->s.db,
            "SELECT coalesce(string_agg(action || ' ' || resource || ' '"
            "                           || coalesce(resource_id, '-'), '; ' ORDER BY id), 'none')"
            "  FROM audit_log WHERE id > $1::bigint",
            s);
        char msg[1024];
        snprintf(msg, sizeof(msg), "no \"%s %s %s\" entry; written since: %.800s", action, resource,
                 o->rid[0] ? o->rid : "(no id)", got ? got : "?");
        free(got);
        fail_msg("%s", msg);
    }
    free(id);
}

static long long entries_since(struct fixture *f, long long since)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", since);
    char *v = itest_pg_value(f->s.db, "SELECT count(*) FROM audit_log WHERE id > $1::bigint", s);
    assert_non_null(v);
    long long n = atoll(v);
    free(v);
    return n;
}

/* GET /api/audit-logs/verify says ok. */
static void assert_chain_ok(struct fixture *f)
{
    json_t *v = take(call(f, "GET", "/api/audit-logs/verify", NULL), 200, "verify");
    if (!json_is_true(json_object_get(v, "ok"))) {
        char *text = json_dumps(v, JSON_COMPACT), msg[512];
        snprintf(msg, sizeof(msg), "the chain does not verify: %.400s", text ? text : "?");
        free(text);
        json_decref(v);
        fail_msg("%s", msg);
    }
    json_decref(v);
}

/* POST /api/rooms; its id into id (≥ 80 bytes). */
static void new_room(struct fixture *f, const char *name, char *id)
{
    json_t *room = take(
        call(f, "POST", "/api/rooms", json_pack("{s:s, s:i}", "name", name, "hourly_rate", 2500)),
        201, "POST /api/rooms");
    copy_id(room, "id", id);
    json_decref(room);
}

/* A room of a name no other room of the suite has (cases may share a studio). */
static void any_room(struct fixture *f, char *id)
{
    static int n;
    char name[32];
    snprintf(name, sizeof(name), "Room %d", ++n);
    new_room(f, name, id);
}

/* The body of a booking of room, day days ahead from hour:00 for minutes. */
static json_t *booking_json(const char *room, int day, int hour, int minutes, const char *email)
{
    char from[32], to[32];
    itest_local_time(ZONE, day, hour, 0, from);
    itest_local_time(ZONE, day, hour, minutes, to);
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "room_id", room, "starts_at", from, "ends_at",
                     to, "customer", "name", "Ada Lovelace", "email", email);
}

/* A staff booking of room (confirmed: the studio asks no deposit); its id. */
static void staff_booking(struct fixture *f, const char *room, int day, int hour, char *id)
{
    json_t *b =
        take(call(f, "POST", "/api/bookings", booking_json(room, day, hour, 60, "ada@example.com")),
             201, "POST /api/bookings");
    copy_id(b, "id", id);
    json_decref(b);
}

/* A public booking; its ref and manage token (≥ 80 bytes each). */
static void public_booking(struct fixture *f, const char *room, int day, int hour,
                           const char *email, char *ref, char *token)
{
    json_t *b = take(call_public(f, "POST", "/api/public/booking",
                                 booking_json(room, day, hour, 60, email), NULL),
                     201, "POST /api/public/booking");
    copy_id(b, "ref", ref);
    copy_id(b, "manage_token", token);
    json_decref(b);
}

static void booking_of_ref(struct fixture *f, const char *ref, char *id)
{
    char *v = itest_pg_value(f->s.db, "SELECT id FROM bookings WHERE ref = $1", ref);
    assert_non_null(v);
    snprintf(id, 80, "%s", v);
    free(v);
}

/* POST /api/bookings/<booking>/convert; the session's id. */
static void convert(struct fixture *f, const char *booking, char *session)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/bookings/%s/convert", booking);
    json_t *s = take(call(f, "POST", path, json_object()), 201, path);
    copy_id(s, "id", session);
    json_decref(s);
}

/* POST /api/sessions/<session>/items; the new item's id (the only item). */
static void add_item(struct fixture *f, const char *session, char *item)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/sessions/%s/items", session);
    json_t *s = take(call(f, "POST", path,
                          json_pack("{s:s, s:i, s:i}", "description", "Tape", "quantity", 2,
                                    "unit_amount", 500)),
                     201, path);
    copy_id(json_array_get(json_object_get(s, "items"), 0), "id", item);
    json_decref(s);
}

static void new_feed(struct fixture *f, char *id)
{
    json_t *feed = take(call(f, "POST", "/api/calendar-feeds", json_object()), 201,
                        "POST /api/calendar-feeds");
    copy_id(feed, "id", id);
    json_decref(feed);
}

static void new_closure(struct fixture *f, char *id)
{
    char day[16];
    itest_local_day(ZONE, 40, day);
    json_t *c = take(call(f, "POST", "/api/closures",
                          json_pack("{s:s, s:s}", "starts_on", day, "reason", "Holiday")),
                     201, "POST /api/closures");
    copy_id(c, "id", id);
    json_decref(c);
}

/* A staff user made by SQL (no history), with the owner's password when joined, else
 * none (invited); its id. */
static void new_user(struct fixture *f, const char *local, bool joined, char *id)
{
    char email[160];
    snprintf(email, sizeof(email), "%s-%s@example.com", local, f->s.slug);
    char *v = itest_pg_value(f->s.db,
                             "INSERT INTO users (email, name, password_hash)"
                             " SELECT $1, $2, CASE WHEN $3::boolean THEN password_hash END"
                             "   FROM users WHERE id = $4::uuid RETURNING id",
                             email, local, joined ? "true" : "false", f->owner_id);
    assert_non_null(v);
    snprintf(id, 80, "%s", v);
    free(v);
}

/* The id of the session jar holds. */
static void session_of(struct fixture *f, const struct itest_cookies *jar, char *id)
{
    char *v = itest_pg_value(f->s.db,
                             "SELECT id FROM sessions"
                             " WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                             jar->session);
    assert_non_null(v);
    snprintf(id, 80, "%s", v);
    free(v);
}

/* POST /api/roles; the role's id. */
static void new_role(struct fixture *f, const char *name, char *id)
{
    json_t *perms = json_pack("[{s:s, s:s}]", "resource", "rooms", "action", "view");
    json_t *role = take(call(f, "POST", "/api/roles",
                             json_pack("{s:s, s:s, s:o}", "name", name, "description",
                                       "made by a test", "permissions", perms)),
                        201, "POST /api/roles");
    copy_id(role, "id", id);
    json_decref(role);
}

static void role_named(struct fixture *f, const char *name, char *id)
{
    char *v = itest_pg_value(f->s.db, "SELECT id FROM roles WHERE name = $1", name);
    assert_non_null(v);
    snprintf(id, 80, "%s", v);
    free(v);
}

/* DELETE <collection>/<o->rid> answering 204; the entries are counted from just before. */
static void delete_marked(struct fixture *f, struct outcome *o, const char *collection)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", collection, o->rid);
    o->since = mark(f);
    expect_status(call(f, "DELETE", path, NULL), 204, path);
}

/* ---- the cases: rooms_routes ------------------------------------------------------------- */

static void run_room_create(struct fixture *f, struct outcome *o)
{
    o->since = mark(f);
    any_room(f, o->rid);
}

static void run_room_update(struct fixture *f, struct outcome *o)
{
    any_room(f, o->rid);
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", o->rid);
    o->since = mark(f);
    expect_status(call(f, "PUT", path, json_pack("{s:i}", "hourly_rate", 3000)), 200, path);
    char *after = entry_value(f, o->since, "update", "rooms", o->rid, "after->>'hourly_rate'");
    assert_string_equal(after ? after : "(none)", "3000");
    free(after);
}

static void run_room_delete(struct fixture *f, struct outcome *o)
{
    any_room(f, o->rid);
    delete_marked(f, o, "/api/rooms");
}

static void run_room_hours(struct fixture *f, struct outcome *o)
{
    any_room(f, o->rid);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/opening-hours", o->rid);
    o->since = mark(f);
    json_t *weekly = json_pack("[{s:i, s:[{s:s, s:s}]}]", "weekday", 1, "ranges", "opens", "10:00",
                               "closes", "18:00");
    expect_status(call(f, "PUT", path, json_pack("{s:o}", "weekly", weekly)), 200, path);
}

static void run_room_prices(struct fixture *f, struct outcome *o)
{
    any_room(f, o->rid);
    char path[160];
    snprintf(path, sizeof(path), "/api/rooms/%s/prices", o->rid);
    o->since = mark(f);
    expect_status(call(f, "PUT", path, json_pack("{s:i}", "hourly_rate", 4000)), 200, path);
}

static void run_settings(struct fixture *f, struct outcome *o)
{
    snprintf(o->rid, sizeof(o->rid), "booking");
    o->since = mark(f);
    expect_status(call(f, "PUT", "/api/settings/booking", json_pack("{s:i}", "buffer_minutes", 15)),
                  200, "PUT /api/settings/booking");
}

static void run_studio_hours(struct fixture *f, struct outcome *o)
{
    json_t *weekly = json_array();
    for (int d = 1; d <= 7; d++)
        json_array_append_new(weekly, json_pack("{s:i, s:[{s:s, s:s}]}", "weekday", d, "ranges",
                                                "opens", "08:00", "closes", "22:00"));
    o->rid[0] = '\0'; /* the studio's own hours name no room */
    o->since = mark(f);
    expect_status(call(f, "PUT", "/api/opening-hours", json_pack("{s:o}", "weekly", weekly)), 200,
                  "PUT /api/opening-hours");
}

static void run_closure_create(struct fixture *f, struct outcome *o)
{
    o->since = mark(f);
    new_closure(f, o->rid);
}

static void run_closure_delete(struct fixture *f, struct outcome *o)
{
    new_closure(f, o->rid);
    delete_marked(f, o, "/api/closures");
}

/* ---- the cases: booking_public_routes ---------------------------------------------------- */

static void run_public_book(struct fixture *f, struct outcome *o)
{
    char room[80], ref[80], token[80];
    any_room(f, room);
    o->since = mark(f);
    public_booking(f, room, 3, 10, "ada@example.com", ref, token);
    booking_of_ref(f, ref, o->rid);
    char *actor = entry_value(f, o->since, "create", "bookings", o->rid, "actor_type");
    assert_string_equal(actor ? actor : "(none)", "customer");
    free(actor);
}

static void run_public_cancel(struct fixture *f, struct outcome *o)
{
    char room[80], ref[80], token[80], path[128], header[160];
    any_room(f, room);
    public_booking(f, room, 3, 10, "ada@example.com", ref, token);
    booking_of_ref(f, ref, o->rid);
    snprintf(path, sizeof(path), "/api/public/booking/%s/cancel", ref);
    snprintf(header, sizeof(header), "X-Manage-Token: %s", token);
    o->since = mark(f);
    expect_status(call_public(f, "POST", path, NULL, header), 200, path);
    char *refund = entry_value(f, o->since, "cancel", "bookings", o->rid, "after->'refund_amount'");
    assert_string_equal(refund ? refund : "(none)", "0"); /* nothing was paid */
    free(refund);
    char *actor = entry_value(f, o->since, "cancel", "bookings", o->rid, "actor_type");
    assert_string_equal(actor ? actor : "(none)", "customer");
    free(actor);
}

/* ---- the cases: booking_routes ----------------------------------------------------------- */

static void run_staff_book(struct fixture *f, struct outcome *o)
{
    char room[80];
    any_room(f, room);
    o->since = mark(f);
    staff_booking(f, room, 3, 10, o->rid);
    char *actor = entry_value(f, o->since, "create", "bookings", o->rid, "actor_id");
    assert_string_equal(actor ? actor : "(none)", f->owner_id);
    free(actor);
}

static void run_move(struct fixture *f, struct outcome *o)
{
    char room[80], path[128], from[32], to[32];
    any_room(f, room);
    staff_booking(f, room, 3, 10, o->rid);
    itest_local_time(ZONE, 3, 14, 0, from);
    itest_local_time(ZONE, 3, 15, 0, to);
    snprintf(path, sizeof(path), "/api/bookings/%s", o->rid);
    o->since = mark(f);
    expect_status(call(f, "PUT", path, json_pack("{s:s, s:s}", "starts_at", from, "ends_at", to)),
                  200, path);
}

static void run_confirm(struct fixture *f, struct outcome *o)
{
    char room[80], ref[80], token[80], path[128];
    any_room(f, room);
    /* Without auto-confirmation a public booking waits for staff. */
    assert_int_equal(itest_pg_exec(f->s.db, "UPDATE studio_settings SET auto_confirm = false"), 0);
    public_booking(f, room, 3, 10, "ada@example.com", ref, token);
    booking_of_ref(f, ref, o->rid);
    snprintf(path, sizeof(path), "/api/bookings/%s/confirm", o->rid);
    o->since = mark(f);
    expect_status(call(f, "POST", path, NULL), 200, path);
}

static void run_staff_cancel(struct fixture *f, struct outcome *o)
{
    char room[80], path[128];
    any_room(f, room);
    staff_booking(f, room, 3, 10, o->rid);
    assert_int_equal(
        itest_pg_exec(f->s.db, "UPDATE bookings SET paid_amount = 2000 WHERE id = $1", o->rid), 0);
    snprintf(path, sizeof(path), "/api/bookings/%s/cancel", o->rid);
    o->since = mark(f);
    expect_status(call(f, "POST", path, json_pack("{s:i}", "refund_amount", 1500)), 200, path);
    char *refund = entry_value(f, o->since, "cancel", "bookings", o->rid, "after->'refund_amount'");
    assert_string_equal(refund ? refund : "(none)", "1500");
    free(refund);
}

static void run_convert(struct fixture *f, struct outcome *o)
{
    char room[80], booking[80];
    any_room(f, room);
    staff_booking(f, room, 3, 10, booking);
    o->since = mark(f);
    convert(f, booking, o->rid);
}

static void run_session_update(struct fixture *f, struct outcome *o)
{
    char room[80], booking[80], path[128];
    any_room(f, room);
    staff_booking(f, room, 3, 10, booking);
    convert(f, booking, o->rid);
    snprintf(path, sizeof(path), "/api/sessions/%s", o->rid);
    o->since = mark(f);
    expect_status(call(f, "PUT", path, json_pack("{s:s}", "notes", "Bring cables")), 200, path);
}

static void run_item_add(struct fixture *f, struct outcome *o)
{
    char room[80], booking[80], session[80];
    any_room(f, room);
    staff_booking(f, room, 3, 10, booking);
    convert(f, booking, session);
    o->since = mark(f);
    add_item(f, session, o->rid);
}

static void run_item_delete(struct fixture *f, struct outcome *o)
{
    char room[80], booking[80], session[80], path[200];
    any_room(f, room);
    staff_booking(f, room, 3, 10, booking);
    convert(f, booking, session);
    add_item(f, session, o->rid);
    snprintf(path, sizeof(path), "/api/sessions/%s/items/%s", session, o->rid);
    o->since = mark(f);
    expect_status(call(f, "DELETE", path, NULL), 204, path);
}

static void run_feed_create(struct fixture *f, struct outcome *o)
{
    o->since = mark(f);
    new_feed(f, o->rid);
}

static void run_feed_delete(struct fixture *f, struct outcome *o)
{
    new_feed(f, o->rid);
    delete_marked(f, o, "/api/calendar-feeds");
}

/* ---- the cases: staff_routes ------------------------------------------------------------- */

static void run_staff_invite(struct fixture *f, struct outcome *o)
{
    char email[160];
    snprintf(email, sizeof(email), "grace-%s@example.com", f->s.slug);
    o->since = mark(f);
    json_t *m = take(call(f, "POST", "/api/staff",
                          json_pack("{s:s, s:s}", "name", "Grace Hopper", "email", email)),
                     201, "POST /api/staff");
    copy_id(m, "id", o->rid);
    json_decref(m);
}

static void run_staff_update(struct fixture *f, struct outcome *o)
{
    new_user(f, "linus", true, o->rid);
    char path[128];
    snprintf(path, sizeof(path), "/api/staff/%s", o->rid);
    o->since = mark(f);
    expect_status(call(f, "PUT", path, json_pack("{s:s}", "name", "Linus T.")), 200, path);
}

static void run_staff_delete(struct fixture *f, struct outcome *o)
{
    new_user(f, "brief", false, o->rid);
    delete_marked(f, o, "/api/staff");
}

static void run_staff_reinvite(struct fixture *f, struct outcome *o)
{
    new_user(f, "late", false, o->rid);
    char path[160];
    snprintf(path, sizeof(path), "/api/staff/%s/invite", o->rid);
    o->since = mark(f);
    expect_status(call(f, "POST", path, NULL), 200, path);
}

/* The invited user sets a password: the entry is theirs, the password never shown. */
static void run_invite_accept(struct fixture *f, struct outcome *o)
{
    new_user(f, "joiner", false, o->rid);
    char token[INVITE_TOKEN_CHARS + 1], path[INVITE_TOKEN_CHARS + 16];
    memset(token, 'k', INVITE_TOKEN_CHARS);
    token[INVITE_TOKEN_CHARS] = '\0';
    memcpy(token, f->s.slug, strlen(f->s.slug) < 20 ? strlen(f->s.slug) : 20);
    for (char *p = token; *p; p++)
        if (*p == '-')
            *p = '_';
    assert_int_equal(itest_pg_exec(f->s.db,
                                   "INSERT INTO staff_invitations (user_id, token_hash, expires_at)"
                                   " VALUES ($1, encode(sha256(convert_to($2, 'UTF8')), 'hex'),"
                                   "         now() + interval '1 day')",
                                   o->rid, token),
                     0);
    snprintf(path, sizeof(path), "/invite/%s", token);
    o->since = mark(f);
    expect_status(call_public(f, "POST", path,
                              json_pack("{s:s}", "password", "a brand new passphrase"), NULL),
                  200, "POST /invite/<token>");
    char *actor = entry_value(f, o->since, "update", "users", o->rid, "actor_id");
    assert_string_equal(actor ? actor : "(none)", o->rid);
    free(actor);
    char *pw = entry_value(f, o->since, "update", "users", o->rid, "after->>'password'");
    assert_string_equal(pw ? pw : "(none)", "[redacted]");
    free(pw);
}

/* ---- the cases: auth_routes -------------------------------------------------------------- */

static void run_login(struct fixture *f, struct outcome *o)
{
    struct itest_cookies jar = {0};
    o->since = mark(f);
    assert_int_equal(itest_login(srv, f->s.slug, f->s.email, PASSWORD, &jar, NULL), 200);
    session_of(f, &jar, o->rid);
    char *actor = entry_value(f, o->since, "login", "auth", o->rid, "actor_id");
    assert_string_equal(actor ? actor : "(none)", f->owner_id);
    free(actor);
}

static void run_logout(struct fixture *f, struct outcome *o)
{
    session_of(f, &f->jar, o->rid);
    o->since = mark(f);
    expect_status(call(f, "POST", "/logout", NULL), 200, "POST /logout");
    char *left = itest_pg_value(f->s.db, "SELECT count(*) FROM sessions WHERE id = $1", o->rid);
    assert_string_equal(left, "0");
    free(left);
    /* Signed in again, so that the chain can be checked as the owner. */
    assert_int_equal(itest_login(srv, f->s.slug, f->s.email, PASSWORD, &f->jar, f->csrf), 200);
}

/* ---- the cases: rbac_routes -------------------------------------------------------------- */

static void run_role_create(struct fixture *f, struct outcome *o)
{
    o->since = mark(f);
    new_role(f, "Night shift", o->rid);
}

static void run_role_update(struct fixture *f, struct outcome *o)
{
    new_role(f, "Night shift", o->rid);
    char path[128];
    snprintf(path, sizeof(path), "/api/roles/%s", o->rid);
    o->since = mark(f);
    expect_status(call(f, "PUT", path, json_pack("{s:s}", "description", "Evenings only")), 200,
                  path);
}

static void run_role_delete(struct fixture *f, struct outcome *o)
{
    new_role(f, "Night shift", o->rid);
    delete_marked(f, o, "/api/roles");
}

/* How the RBAC module names an assignment is its own choice: any resource id. */
static void run_role_assign(struct fixture *f, struct outcome *o)
{
    char user[80], role[80], path[160];
    new_user(f, "desk", true, user);
    role_named(f, "front desk", role);
    snprintf(path, sizeof(path), "/api/users/%s/roles", user);
    snprintf(o->rid, sizeof(o->rid), ANY_ID);
    o->since = mark(f);
    expect_status(call(f, "POST", path, json_pack("{s:s}", "role_id", role)), 201, path);
}

static void run_role_unassign(struct fixture *f, struct outcome *o)
{
    char user[80], role[80], path[200];
    new_user(f, "desk", true, user);
    role_named(f, "front desk", role);
    assert_int_equal(itest_pg_exec(f->s.db,
                                   "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)",
                                   user, role),
                     0);
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", user, role);
    snprintf(o->rid, sizeof(o->rid), ANY_ID);
    o->since = mark(f);
    expect_status(call(f, "DELETE", path, NULL), 204, path);
}

/* Every mutating route of the tables above: how it succeeds, the entry it leaves. */
static const struct audit_case cases[] = {
    {"POST /api/rooms", "POST", "/api/rooms", "create", "rooms", run_room_create},
    {"PUT /api/rooms/:id", "PUT", "/api/rooms/:id", "update", "rooms", run_room_update},
    {"DELETE /api/rooms/:id", "DELETE", "/api/rooms/:id", "delete", "rooms", run_room_delete},
    {"PUT /api/rooms/:id/opening-hours", "PUT", "/api/rooms/:id/opening-hours", "update",
     "opening_hours", run_room_hours},
    {"PUT /api/rooms/:id/prices", "PUT", "/api/rooms/:id/prices", "update", "prices",
     run_room_prices},
    {"PUT /api/settings/booking", "PUT", "/api/settings/booking", "update", "settings",
     run_settings},
    {"PUT /api/opening-hours", "PUT", "/api/opening-hours", "update", "opening_hours",
     run_studio_hours},
    {"POST /api/closures", "POST", "/api/closures", "create", "closures", run_closure_create},
    {"DELETE /api/closures/:id", "DELETE", "/api/closures/:id", "delete", "closures",
     run_closure_delete},
    {"POST /api/public/booking", "POST", "/api/public/booking", "create", "bookings",
     run_public_book},
    {"POST /api/public/booking/:ref/cancel", "POST", "/api/public/booking/:ref/cancel", "cancel",
     "bookings", run_public_cancel},
    {"POST /api/bookings", "POST", "/api/bookings", "create", "bookings", run_staff_book},
    {"PUT /api/bookings/:id", "PUT", "/api/bookings/:id", "move", "bookings", run_move},
    {"POST /api/bookings/:id/confirm", "POST", "/api/bookings/:id/confirm", "confirm", "bookings",
     run_confirm},
    {"POST /api/bookings/:id/cancel", "POST", "/api/bookings/:id/cancel", "cancel", "bookings",
     run_staff_cancel},
    {"POST /api/bookings/:id/convert", "POST", "/api/bookings/:id/convert", "create", "sessions",
     run_convert},
    {"PUT /api/sessions/:id", "PUT", "/api/sessions/:id", "update", "sessions", run_session_update},
    {"POST /api/sessions/:id/items", "POST", "/api/sessions/:id/items", "create", "session_items",
     run_item_add},
    {"DELETE /api/sessions/:id/items/:item_id", "DELETE", "/api/sessions/:id/items/:item_id",
     "delete", "session_items", run_item_delete},
    {"POST /api/calendar-feeds", "POST", "/api/calendar-feeds", "create", "calendar_feeds",
     run_feed_create},
    {"DELETE /api/calendar-feeds/:id", "DELETE", "/api/calendar-feeds/:id", "delete",
     "calendar_feeds", run_feed_delete},
    {"POST /api/staff", "POST", "/api/staff", "create", "users", run_staff_invite},
    {"PUT /api/staff/:id", "PUT", "/api/staff/:id", "update", "users", run_staff_update},
    {"DELETE /api/staff/:id", "DELETE", "/api/staff/:id", "delete", "users", run_staff_delete},
    {"POST /api/staff/:id/invite", "POST", "/api/staff/:id/invite", "invite", "users",
     run_staff_reinvite},
    {"POST /invite/:token", "POST", "/invite/:token", "update", "users", run_invite_accept},
    {"POST /login", "POST", "/login", "login", "auth", run_login},
    {"POST /logout", "POST", "/logout", "logout", "auth", run_logout},
    {"POST /api/roles", "POST", "/api/roles", "create", "roles", run_role_create},
    {"PUT /api/roles/:id", "PUT", "/api/roles/:id", "update", "roles", run_role_update},
    {"DELETE /api/roles/:id", "DELETE", "/api/roles/:id", "delete", "roles", run_role_delete},
    {"POST /api/users/:id/roles", "POST", "/api/users/:id/roles", "create", "user_roles",
     run_role_assign},
    {"DELETE /api/users/:id/roles/:role_id", "DELETE", "/api/users/:id/roles/:role_id", "delete",
     "user_roles", run_role_unassign},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const struct audit_case *case_for(const char *method, const char *pattern)
{
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].method, method) == 0 && strcmp(cases[i].pattern, pattern) == 0)
            return &cases[i];
    return NULL;
}

/* ---- the table against the routes -------------------------------------------------------- */

/* No database needed: runs even when the suite's variables are missing. */
static void test_every_mutating_route_has_a_case(void **state)
{
    (void)state;
    char missing[4096] = "";
    size_t len = 0;
    int n = 0;
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct route *r = tables[t].routes; r->method; r++) {
            if (strcmp(r->method, "GET") == 0 || case_for(r->method, r->pattern))
                continue;
            n++;
            len +=
                (size_t)snprintf(missing + len, len < sizeof(missing) ? sizeof(missing) - len : 0,
                                 "\n  %s: %s %s", tables[t].name, r->method, r->pattern);
        }
    if (n > 0)
        fail_msg("%d mutating route(s) with no audit case in test_audit_coverage.c:%s", n, missing);
}

/* A case naming a route no table has any more is a stale case. */
static void test_every_case_names_a_route(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        bool found = false;
        for (size_t t = 0; t < NTABLES && !found; t++)
            for (const struct route *r = tables[t].routes; r->method && !found; r++)
                found = strcmp(r->method, cases[i].method) == 0 &&
                        strcmp(r->pattern, cases[i].pattern) == 0;
        if (!found)
            fail_msg("case %s names no route of the tables", cases[i].label);
    }
}

/* One case (the test's initial state): it succeeds, leaves its entry, and the chain holds. */
static void test_case(void **state)
{
    ITEST_REQUIRE_SERVER();
    const struct audit_case *c = *state;
    struct fixture f;
    struct outcome o = {0};
    open_studio(&f);
    c->run(&f, &o);
    assert_entry(&f, &o, c->action, c->resource);
    assert_chain_ok(&f);
}

/* ---- what the table does not show -------------------------------------------------------- */

static void test_signup_audits_the_owner_as_the_system(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    struct outcome o = {.since = 0};
    snprintf(o.rid, sizeof(o.rid), "%s", f.owner_id);
    assert_entry(&f, &o, "create", "users");
    char *actor = entry_value(&f, 0, "create", "users", f.owner_id, "actor_type");
    assert_string_equal(actor, "system");
    free(actor);
    char *roles = entry_value(&f, 0, "create", "users", f.owner_id, "after->'roles'");
    assert_string_equal(roles, "[\"owner\"]");
    free(roles);
    /* the sign-up's entry is the first of the chain */
    char *first = itest_pg_value(f.s.db, "SELECT action || ' ' || resource FROM audit_log"
                                         " ORDER BY id LIMIT 1");
    assert_string_equal(first, "create users");
    free(first);
    assert_chain_ok(&f);
}

static void test_refused_sign_ins_are_audited_in_the_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char unknown[160];
    snprintf(unknown, sizeof(unknown), "nobody-%s@example.com", f.s.slug);
    long long since = mark(&f);
    struct itest_cookies jar = {0};
    assert_int_equal(itest_login(srv, f.s.slug, f.s.email, "not the password", &jar, NULL), 401);
    assert_int_equal(itest_login(srv, f.s.slug, unknown, PASSWORD, &jar, NULL), 401);
    assert_int_equal(entries_since(&f, since), 2);
    const char *emails[] = {f.s.email, unknown};
    for (int i = 0; i < 2; i++) {
        char *v = itest_pg_value(f.s.db,
                                 "SELECT actor_type || ' ' || coalesce(after->>'reason', '-')"
                                 "  FROM audit_log WHERE action = 'login_failed'"
                                 "   AND resource = 'auth' AND lower(actor_email) = lower($1)",
                                 emails[i]);
        assert_string_equal(v ? v : "(none)", "anonymous bad_credentials");
        free(v);
    }
    assert_chain_ok(&f);
}

/* DELETE keeps a room with bookings (archived) and a user with history (deactivated), and
 * the entry says which. */
static void test_a_delete_that_keeps_history_says_so(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char room[80], booking[80], path[160];
    any_room(&f, room);
    staff_booking(&f, room, 3, 10, booking);
    snprintf(path, sizeof(path), "/api/bookings/%s/cancel", booking);
    expect_status(call(&f, "POST", path, NULL), 200, path);
    snprintf(path, sizeof(path), "/api/rooms/%s", room);
    struct outcome o = {.since = mark(&f)};
    snprintf(o.rid, sizeof(o.rid), "%s", room);
    json_t *j = take(call(&f, "DELETE", path, NULL), 200, path);
    assert_true(json_is_true(json_object_get(j, "archived")));
    json_decref(j);
    assert_entry(&f, &o, "archive", "rooms");

    char user[80];
    new_user(&f, "veteran", true, user);
    assert_int_equal(
        itest_pg_exec(f.s.db, "UPDATE users SET last_login_at = now() WHERE id = $1", user), 0);
    snprintf(path, sizeof(path), "/api/staff/%s", user);
    o.since = mark(&f);
    snprintf(o.rid, sizeof(o.rid), "%s", user);
    j = take(call(&f, "DELETE", path, NULL), 200, path);
    assert_true(json_is_true(json_object_get(j, "deactivated")));
    json_decref(j);
    assert_entry(&f, &o, "deactivate", "users");
    assert_chain_ok(&f);
}

static void test_a_taken_room_name_adds_no_entry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char room[80];
    new_room(&f, "Studio One", room);
    long long since = mark(&f);
    struct itest_resp *r = call(&f, "POST", "/api/rooms",
                                json_pack("{s:s, s:i}", "name", "studio one", "hourly_rate", 100));
    assert_int_equal(r->status, 409);
    assert_string_equal(itest_error_code(r), "room_name_taken");
    itest_resp_free(r);
    assert_int_equal(entries_since(&f, since), 0);
    assert_chain_ok(&f);
}

static void test_an_overlapping_booking_adds_no_entry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char room[80], booking[80];
    any_room(&f, room);
    staff_booking(&f, room, 3, 10, booking);
    long long since = mark(&f);
    struct itest_resp *r =
        call(&f, "POST", "/api/bookings", booking_json(room, 3, 10, 60, "bob@example.com"));
    assert_int_equal(r->status, 409);
    itest_resp_free(r);
    itest_expect_status(call_public(&f, "POST", "/api/public/booking",
                                    booking_json(room, 3, 10, 120, "eve@example.com"), NULL),
                        409);
    assert_int_equal(entries_since(&f, since), 0);
    /* and no customer was made for the refused bookings either */
    char *n = itest_pg_value(f.s.db, "SELECT count(*) FROM customers"
                                     " WHERE email IN ('bob@example.com', 'eve@example.com')");
    assert_string_equal(n, "0");
    free(n);
    assert_chain_ok(&f);
}

/* An entry that cannot be written (audit_log refuses it here by a CHECK made for the test)
 * undoes the change: 503, and nothing of it in the database. */
static void test_a_change_without_its_entry_does_not_happen(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char room[80];
    any_room(&f, room);
    assert_int_equal(itest_pg_exec(f.s.db, "ALTER TABLE audit_log ADD CONSTRAINT itest_refuse"
                                           " CHECK (resource NOT IN ('rooms', 'bookings'))"
                                           " NOT VALID"),
                     0);
    long long since = mark(&f);
    itest_expect_status(call(&f, "POST", "/api/rooms",
                             json_pack("{s:s, s:i}", "name", "Room B", "hourly_rate", 100)),
                        503);
    itest_expect_status(call_public(&f, "POST", "/api/public/booking",
                                    booking_json(room, 3, 10, 60, "ada@example.com"), NULL),
                        503);
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s", room);
    itest_expect_status(call(&f, "DELETE", path, NULL), 503);
    assert_int_equal(itest_pg_exec(f.s.db, "ALTER TABLE audit_log DROP CONSTRAINT itest_refuse"),
                     0);

    char *n = itest_pg_value(f.s.db, "SELECT (SELECT count(*) FROM rooms) || ' ' ||"
                                     "       (SELECT count(*) FROM bookings) || ' ' ||"
                                     "       (SELECT count(*) FROM customers)");
    assert_string_equal(n, "1 0 0"); /* Room A only, still there */
    free(n);
    assert_int_equal(entries_since(&f, since), 0);
    assert_chain_ok(&f);
}

/* A hold that ran out expires as the system: by the job, or when a new booking on the room
 * meets it (both entries in the new booking's transaction). */
static void test_hold_expiry_is_the_systems_entry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char room[80], ref1[80], ref2[80], token[80], id1[80], id2[80], id3[80];
    any_room(&f, room);
    assert_int_equal(itest_pg_exec(f.s.db, "UPDATE studio_settings SET deposit_type = 'percent',"
                                           " deposit_value = 50"),
                     0);
    public_booking(&f, room, 3, 10, "ada@example.com", ref1, token);
    public_booking(&f, room, 3, 14, "bob@example.com", ref2, token);
    booking_of_ref(&f, ref1, id1);
    booking_of_ref(&f, ref2, id2);
    assert_int_equal(itest_pg_exec(f.s.db, "UPDATE bookings SET hold_expires_at = now()"
                                           " - interval '1 minute' WHERE status = 'pending'"),
                     0);

    /* The job's work. */
    long long since = mark(&f);
    struct db_conn *t = db_acquire(NULL, f.s.db);
    assert_non_null(t);
    assert_int_equal(booking_expire(t, id1), BOOKING_OK);
    assert_int_equal(booking_expire(t, id1), BOOKING_OK); /* nothing left to do: no entry */
    db_release(t);
    struct outcome o = {.since = since};
    snprintf(o.rid, sizeof(o.rid), "%s", id1);
    assert_entry(&f, &o, "expire", "bookings");
    assert_int_equal(entries_since(&f, since), 1);
    char *actor = entry_value(&f, since, "expire", "bookings", id1, "actor_type");
    assert_string_equal(actor, "system");
    free(actor);

    /* Met by a staff booking of its time. */
    o.since = mark(&f);
    staff_booking(&f, room, 3, 14, id3);
    snprintf(o.rid, sizeof(o.rid), "%s", id2);
    assert_entry(&f, &o, "expire", "bookings");
    snprintf(o.rid, sizeof(o.rid), "%s", id3);
    assert_entry(&f, &o, "create", "bookings");
    assert_int_equal(entries_since(&f, o.since), 2);
    assert_chain_ok(&f);
}

/* The search mail replaces the manage tokens of the address's bookings: one "update" entry
 * of the system per booking, the token itself never in the log. */
static void test_search_mail_token_rotation_is_audited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    char room[80], ref[80], token[80], id[80], email[160], path[256];
    snprintf(email, sizeof(email), "seeker-%s@example.com", f.s.slug);
    any_room(&f, room);
    public_booking(&f, room, 3, 10, email, ref, token);
    booking_of_ref(&f, ref, id);
    struct outcome o = {.since = mark(&f)};
    snprintf(o.rid, sizeof(o.rid), "%s", id);
    snprintf(path, sizeof(path), "/api/public/bookings/search?email=%s", email);
    expect_status(call_public(&f, "GET", path, NULL, NULL), 202, path);
    char *v = NULL;
    for (double t0 = itest_now_ms(); !v && itest_now_ms() - t0 < JOB_WAIT_MS;) {
        v = entry_value(&f, o.since, "update", "bookings", id, "after->>'manage_token'");
        if (!v)
            itest_pause_ms(100);
    }
    if (!v)
        fail_msg("no entry for the search mail's new token within %d ms", JOB_WAIT_MS);
    assert_string_equal(v, "[redacted]");
    free(v);
    char *actor = entry_value(&f, o.since, "update", "bookings", id, "actor_type");
    assert_string_equal(actor, "system");
    free(actor);
    assert_chain_ok(&f);
}

/* Many changes of every kind in one studio: the chain verifies at the end. */
static void test_a_busy_studio_keeps_a_verifiable_chain(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct fixture f;
    open_studio(&f);
    for (size_t i = 0; i < NCASES; i++) {
        /* Each case makes its own rooms and users; the RBAC module's are left to their own
         * cases. */
        if (strcmp(cases[i].resource, "roles") == 0 || strcmp(cases[i].resource, "user_roles") == 0)
            continue;
        struct outcome o = {0};
        cases[i].run(&f, &o);
        assert_entry(&f, &o, cases[i].action, cases[i].resource);
    }
    json_t *v = take(call(&f, "GET", "/api/audit-logs/verify", NULL), 200, "verify");
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_true(json_integer_value(json_object_get(v, "entries")) >= (json_int_t)NCASES);
    json_decref(v);
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    int rc = itest_suite_setup(state);
    if (rc != 0 || itest_missing_env)
        return rc;
    return db_init(getenv("STUDIOD_DATABASE_URL"), 4, 8, 5000, 0);
}

static int group_teardown(void **state)
{
    if (!itest_missing_env)
        db_shutdown();
    return itest_suite_teardown(state);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_every_mutating_route_has_a_case),
        cmocka_unit_test(test_every_case_names_a_route),
        cmocka_unit_test(test_signup_audits_the_owner_as_the_system),
        cmocka_unit_test(test_refused_sign_ins_are_audited_in_the_studio),
        cmocka_unit_test(test_a_delete_that_keeps_history_says_so),
        cmocka_unit_test(test_a_taken_room_name_adds_no_entry),
        cmocka_unit_test(test_an_overlapping_booking_adds_no_entry),
        cmocka_unit_test(test_a_change_without_its_entry_does_not_happen),
        cmocka_unit_test(test_hold_expiry_is_the_systems_entry),
        cmocka_unit_test(test_search_mail_token_rotation_is_audited),
        cmocka_unit_test(test_a_busy_studio_keeps_a_verifiable_chain),
    };
    enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };
    struct CMUnitTest tests[NFIXED + NCASES];
    memcpy(tests, fixed, sizeof(fixed));
    for (size_t i = 0; i < NCASES; i++)
        tests[NFIXED + i] = (struct CMUnitTest){
            .name = cases[i].label, .test_func = test_case, .initial_state = (void *)&cases[i]};
    return _cmocka_run_group_tests("audit_coverage", tests, NFIXED + NCASES, group_setup,
                                   group_teardown);
}
