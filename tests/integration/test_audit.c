/*
 * test_audit.c — the audit log against a real studiod, PostgreSQL and SMTP
 * sink. Entries are written the way modules will write them: by calling
 * audit.h on the studio's database from this process (the test links the
 * library); the HTTP API is then read as staff read it.
 *
 * Shown here: list with every filter and paging, stats, CSV export (escaped,
 * formula-safe, and itself audited), verification of the hash chain and the
 * row it names after an UPDATE or DELETE by SQL, cleanup (minimum retention
 * 422, owners only 403, CSRF 403, and the chain still verifying after old
 * entries are gone), the risk rules reading the table (failed-login burst
 * with a mail to the owners, new IP, mass deletion, refund threshold from
 * the settings, activity while the studio is closed), a rolled-back change
 * leaving no entry, concurrent writers keeping one chain, 401 without a
 * session, and one studio never seeing another's log.
 *
 * One studiod serves the suite; every test makes its own studio.
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
#include "studiod/audit.h"
#include "studiod/crypto.h"
#include "studiod/db.h"

#define PASSWORD "correct horse battery staple"
#define ANN_ID "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c10"
#define BOB_ID "5d2f6a10-7c3b-4e8e-8f21-1a9b3c4d5e6f"
#define WRITERS 8
#define WRITES_EACH 20
#define MAIL_WAIT_MS 20000

/* A studio made for one test, with its owner signed in. */
struct studio {
    struct itest_studio s;
    char csrf[128];
    struct itest_cookies jar;
};

struct writer_arg {
    const char *db;
    int n, failures;
};

static void make_studio(const char *prefix, struct studio *st);
static struct itest_resp *api(struct studio *st, const char *method, const char *path,
                              const char *body);
static json_t *get_json(struct studio *st, const char *path);
static long long total_of(struct studio *st, const char *query);
static void write_as(struct studio *st, const struct audit_ctx *ctx, const char *action,
                     const char *resource, const char *rid, json_t *before, json_t *after);
static char *add_user(struct studio *st, const char *email, const char *role);
static void insert_old_entries(struct studio *st, int n, int days_ago);
static char *entry_risk(struct studio *st, const char *rid);
static json_t *verify(struct studio *st);
static void *writer(void *p);

static const struct audit_ctx ann = {.actor_type = AUDIT_ACTOR_USER,
                                     .actor_id = ANN_ID,
                                     .actor_name = "Ann Archer",
                                     .actor_email = "ann@example.com",
                                     .ip = "10.1.1.1",
                                     .user_agent = "itest",
                                     .timezone = "Europe/Paris"};
static const struct audit_ctx bob = {.actor_type = AUDIT_ACTOR_USER,
                                     .actor_id = BOB_ID,
                                     .actor_name = "Bob Baker",
                                     .actor_email = "bob@example.com",
                                     .ip = "10.2.2.2",
                                     .timezone = "Europe/Paris"};

/* ---- SQL this test runs itself ------------------------------------------------------------ */

static const char sql_lock_head[] = "SELECT head_hash FROM audit_chain FOR UPDATE";
static const char sql_old_slot[] =
    "SELECT nextval('audit_log_id_seq') AS id,"
    "       to_char((now() - make_interval(days => $1::int) + make_interval(secs => $2::int))"
    "               AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at";
static const char sql_old_insert[] =
    "INSERT INTO audit_log (id, at, actor_type, actor_id, actor_name, actor_email, action,"
    "                       resource, resource_id, after, risk_level, hash)"
    " VALUES ($1::bigint, $2::timestamptz, 'user', $3, $4, $5, 'update', 'rooms', $6,"
    "         $7::jsonb, 'none', $8)";
static const char sql_move_head[] = "UPDATE audit_chain SET head_id = $1::bigint, head_hash = $2";

/* ---- helpers ------------------------------------------------------------------------------ */

static void make_studio(const char *prefix, struct studio *st)
{
    memset(st, 0, sizeof(*st));
    itest_open_studio(&itest_server, prefix, &st->s, PASSWORD, &st->jar, st->csrf);
    /* Signing up and signing in are audited (the owner's creation, the login): each test
     * starts from an empty log, as these tests count what they write themselves. */
    if (itest_pg_exec(st->s.db, "DELETE FROM audit_log") != 0 ||
        itest_pg_exec(st->s.db, "UPDATE audit_chain SET head_id = NULL,"
                                " head_hash = repeat('0', 64), anchor_id = 0,"
                                " anchor_hash = repeat('0', 64)") != 0)
        fail_msg("emptying the audit log of %s", st->s.slug);
    /* Open round the clock, so that staff entries are never "outside opening hours" by the
     * time of day the suite runs at; the test of that rule closes the studio itself. */
    if (itest_pg_exec(st->s.db, "UPDATE opening_hours SET opens = '00:00', closes = '24:00'"
                                " WHERE room_id IS NULL") != 0)
        fail_msg("opening hours of %s", st->s.slug);
}

/* A request as the signed-in owner, with the CSRF token; body (if any) as JSON. */
static struct itest_resp *api(struct studio *st, const char *method, const char *path,
                              const char *body)
{
    return itest_staff_send(&itest_server, method, st->s.host, path, body, &st->jar, st->csrf);
}

/* GET path as the owner: the 200 body (json_decref it). */
static json_t *get_json(struct studio *st, const char *path)
{
    struct itest_resp *r = api(st, "GET", path, NULL);
    if (r->status != 200 || !r->json)
        fail_msg("GET %s: %ld %s", path, r->status, r->body);
    json_t *j = json_incref(r->json);
    itest_resp_free(r);
    return j;
}

/* "total" of GET /api/audit-logs?query. */
static long long total_of(struct studio *st, const char *query)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/audit-logs?%s", query);
    json_t *j = get_json(st, path);
    long long n = json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return n;
}

/* An entry written as a module writes it, on the studio's database. */
static void write_as(struct studio *st, const struct audit_ctx *ctx, const char *action,
                     const char *resource, const char *rid, json_t *before, json_t *after)
{
    struct db_conn *t = db_acquire(NULL, st->s.db);
    assert_non_null(t);
    int rc = audit_write(t, ctx, action, resource, rid, before, after);
    db_release(t);
    if (rc != AUDIT_OK)
        fail_msg("audit_write %s %s: %d", action, resource, rc);
}

/* A staff user who signs in with PASSWORD (the owner's hash) holding role; its id. */
static char *add_user(struct studio *st, const char *email, const char *role)
{
    char *id = itest_pg_value(st->s.db,
                              "INSERT INTO users (email, name, password_hash)"
                              " SELECT $1, $2, password_hash FROM users"
                              "  WHERE lower(email) = lower($3) RETURNING id",
                              email, role, st->s.email);
    assert_non_null(id);
    assert_int_equal(itest_pg_exec(st->s.db,
                                   "INSERT INTO user_roles (user_id, role_id)"
                                   " SELECT $1, id FROM roles WHERE name = $2",
                                   id, role),
                     0);
    return id;
}

/* n entries days_ago days old, hashed and chained exactly as audit.c would, but written by
 * SQL: the log a studio would have after running for a while. */
static void insert_old_entries(struct studio *st, int n, int days_ago)
{
    struct db_conn *t = db_acquire(NULL, st->s.db);
    assert_non_null(t);
    assert_int_equal(db_begin(t), 0);
    PGresult *r = db_exec(t, sql_lock_head, 0, NULL, NULL);
    assert_non_null(r);
    char prev[AUDIT_HASH_HEX + 1], id[24] = "";
    snprintf(prev, sizeof(prev), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char days[16];
    snprintf(days, sizeof(days), "%d", days_ago);
    for (int i = 0; i < n; i++) {
        char secs[16], rid[32];
        snprintf(secs, sizeof(secs), "%d", i);
        snprintf(rid, sizeof(rid), "old-%d", i);
        const char *p1[] = {days, secs};
        r = db_exec(t, sql_old_slot, 2, p1, NULL);
        assert_non_null(r);
        char at[40];
        snprintf(id, sizeof(id), "%s", db_get(r, 0, "id"));
        snprintf(at, sizeof(at), "%s", db_get(r, 0, "at"));
        PQclear(r);
        json_t *after = json_pack("{s:i}", "hourly_rate", 1000 + i);
        struct audit_entry e = {.id = atoll(id),
                                .at = at,
                                .actor_type = "user",
                                .actor_id = ANN_ID,
                                .actor_name = "Old Ann",
                                .actor_email = "ann@example.com",
                                .action = "update",
                                .resource = "rooms",
                                .resource_id = rid,
                                .after = after,
                                .risk_level = "none"};
        char *canonical = audit_canonical(&e);
        char *after_text = json_dumps(after, JSON_COMPACT);
        char hash[AUDIT_HASH_HEX + 1];
        audit_chain_hash(prev, canonical, hash);
        const char *p2[] = {id, at, ANN_ID, "Old Ann", "ann@example.com", rid, after_text, hash};
        assert_int_equal(db_run(t, sql_old_insert, 8, p2), 0);
        memcpy(prev, hash, sizeof(hash));
        free(canonical);
        free(after_text);
        json_decref(after);
    }
    const char *p3[] = {id, prev};
    assert_int_equal(db_run(t, sql_move_head, 2, p3), 0);
    assert_int_equal(db_commit(t), 0);
    db_release(t);
}

/* "level rule,rule" of the entry with resource_id rid (free it). */
static char *entry_risk(struct studio *st, const char *rid)
{
    char *v = itest_pg_value(st->s.db,
                             "SELECT risk_level || ' ' || array_to_string(risk_rules, ',')"
                             "  FROM audit_log WHERE resource_id = $1 ORDER BY id DESC LIMIT 1",
                             rid);
    if (!v)
        fail_msg("no entry for %s", rid);
    return v;
}

static json_t *verify(struct studio *st)
{
    return get_json(st, "/api/audit-logs/verify");
}

/* One of the concurrent writers: n entries, each in its own transaction. */
static void *writer(void *p)
{
    struct writer_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        struct db_conn *t = db_acquire(NULL, w->db);
        if (!t) {
            w->failures++;
            continue;
        }
        json_t *after = json_pack("{s:i}", "i", i);
        if (db_begin(t) != 0 ||
            audit_write(t, &ann, "update", "rooms", "race", NULL, after) != AUDIT_OK ||
            db_commit(t) != 0) {
            db_rollback(t);
            w->failures++;
        }
        json_decref(after);
        db_release(t);
    }
    return NULL;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    if (crypto_init() != 0)
        return -1;
    int rc = itest_suite_setup(state);
    if (rc != 0 || itest_missing_env)
        return rc;
    return db_init(getenv("STUDIOD_DATABASE_URL"), 8, 24, 5000, 0);
}

static int group_teardown(void **state)
{
    if (!itest_missing_env)
        db_shutdown();
    return itest_suite_teardown(state);
}

/* ---- reading ------------------------------------------------------------------------------ */

static void test_list_filters_and_pages_newest_first(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("alist", &st);
    json_t *b = json_pack("{s:s, s:i}", "name", "Room A", "hourly_rate", 1000);
    json_t *a = json_pack("{s:s, s:i}", "name", "Room B", "hourly_rate", 1000);
    for (int i = 0; i < 3; i++)
        write_as(&st, &ann, "update", "rooms", "room-1", b, a);
    write_as(&st, &bob, "delete", "bookings", "bk-1", a, NULL);
    write_as(&st, &bob, "delete", "bookings", "bk-2", a, NULL);
    json_t *zed = json_pack("{s:s}", "name", "Zed Zebra");
    write_as(&st, &ann, "create", "customers", "cu-1", NULL, zed);
    json_decref(zed);
    json_decref(b);
    json_decref(a);

    json_t *all = get_json(&st, "/api/audit-logs");
    assert_int_equal(json_integer_value(json_object_get(all, "total")), 6);
    json_t *entries = json_object_get(all, "entries");
    assert_int_equal(json_array_size(entries), 6);
    json_t *first = json_array_get(entries, 0), *last = json_array_get(entries, 5);
    assert_string_equal(json_string_value(json_object_get(first, "resource")), "customers");
    assert_true(json_integer_value(json_object_get(first, "id")) >
                json_integer_value(json_object_get(last, "id")));
    /* an update keeps only what changed; the actor is a snapshot */
    assert_string_equal(json_string_value(json_object_get(last, "action")), "update");
    json_t *want_before = json_pack("{s:s}", "name", "Room A");
    json_t *want_after = json_pack("{s:s}", "name", "Room B");
    assert_true(json_equal(json_object_get(last, "before"), want_before));
    assert_true(json_equal(json_object_get(last, "after"), want_after));
    json_decref(want_before);
    json_decref(want_after);
    json_t *actor = json_object_get(last, "actor");
    assert_string_equal(json_string_value(json_object_get(actor, "id")), ANN_ID);
    assert_string_equal(json_string_value(json_object_get(actor, "name")), "Ann Archer");
    assert_string_equal(json_string_value(json_object_get(last, "ip")), "10.1.1.1");
    assert_string_equal(json_string_value(json_object_get(last, "user_agent")), "itest");
    assert_string_equal(json_string_value(json_object_get(last, "risk_level")), "none");
    json_decref(all);

    assert_int_equal(total_of(&st, "action=delete"), 2);
    assert_int_equal(total_of(&st, "actor=BOB%40example.com"), 2);
    assert_int_equal(total_of(&st, "actor=" ANN_ID), 4);
    assert_int_equal(total_of(&st, "actor=baker"), 2);
    assert_int_equal(total_of(&st, "resource=bookings&resource_id=bk-2"), 1);
    assert_int_equal(total_of(&st, "ip=10.2.2.2"), 2);
    assert_int_equal(total_of(&st, "q=zebra"), 1);
    assert_int_equal(total_of(&st, "risk=high"), 0);
    assert_int_equal(total_of(&st, "risk=none,low"), 6);
    assert_int_equal(total_of(&st, "from=2000-01-01&to=2999-12-31"), 6);
    assert_int_equal(total_of(&st, "from=2999-01-01"), 0);
    assert_int_equal(total_of(&st, "to=2000-01-01T00:00:00Z"), 0);

    json_t *page = get_json(&st, "/api/audit-logs?resource=rooms&limit=2&offset=2");
    assert_int_equal(json_integer_value(json_object_get(page, "total")), 3);
    assert_int_equal(json_integer_value(json_object_get(page, "limit")), 2);
    assert_int_equal(json_integer_value(json_object_get(page, "offset")), 2);
    assert_int_equal(json_array_size(json_object_get(page, "entries")), 1);
    json_decref(page);

    struct itest_resp *r = api(&st, "GET", "/api/audit-logs?from=yesterday&limit=0", NULL);
    itest_assert_error(r, 422, "invalid_input");
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    assert_non_null(json_object_get(fields, "from"));
    itest_resp_free(r);
    itest_expect_error(api(&st, "GET", "/api/audit-logs?limit=501", NULL), 422, "invalid_input");
}

static void test_stats_count_by_action_actor_risk_and_day(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("astat", &st);
    write_as(&st, &ann, "update", "rooms", "r1", NULL, NULL);
    write_as(&st, &ann, "update", "rooms", "r2", NULL, NULL);
    write_as(&st, &bob, "delete", "rooms", "r3", NULL, NULL);
    json_t *export_after = json_pack("{s:i}", "rows", 3);
    write_as(&st, &bob, "export", "customers", NULL, NULL, export_after); /* medium */
    json_decref(export_after);

    json_t *s = get_json(&st, "/api/audit-logs/stats");
    assert_int_equal(json_integer_value(json_object_get(s, "total")), 4);
    json_t *by_action = json_object_get(s, "by_action");
    json_t *top = json_array_get(by_action, 0);
    assert_string_equal(json_string_value(json_object_get(top, "action")), "update");
    assert_int_equal(json_integer_value(json_object_get(top, "count")), 2);
    assert_int_equal(json_array_size(by_action), 3);
    json_t *by_actor = json_object_get(s, "by_actor");
    assert_int_equal(json_array_size(by_actor), 2);
    json_t *by_risk = json_object_get(s, "by_risk");
    assert_int_equal(json_integer_value(json_object_get(by_risk, "none")), 3);
    assert_int_equal(json_integer_value(json_object_get(by_risk, "medium")), 1);
    assert_int_equal(json_integer_value(json_object_get(by_risk, "high")), 0);
    json_t *by_day = json_object_get(s, "by_day");
    assert_true(json_array_size(by_day) >= 1);
    long long days_total = 0;
    size_t i;
    json_t *d;
    json_array_foreach(by_day, i, d)
    {
        assert_int_equal(strlen(json_string_value(json_object_get(d, "day"))), 10);
        days_total += json_integer_value(json_object_get(d, "count"));
    }
    assert_int_equal(days_total, 4);
    assert_non_null(json_string_value(json_object_get(s, "from")));
    json_decref(s);

    s = get_json(&st, "/api/audit-logs/stats?actor=" BOB_ID "&from=2000-01-01");
    assert_int_equal(json_integer_value(json_object_get(s, "total")), 2);
    assert_string_equal(json_string_value(json_object_get(s, "from")), "1999-12-31T23:00:00Z");
    json_decref(s);
}

/* ---- export ------------------------------------------------------------------------------- */

static void test_export_is_csv_escaped_formula_safe_and_audited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("aexp", &st);
    struct audit_ctx evil = ann;
    evil.actor_name = "=HYPERLINK(\"http://evil.test\",\"x\")";
    json_t *after = json_pack("{s:s}", "note", "a, \"quoted\"\nline");
    write_as(&st, &evil, "update", "rooms", "r1", NULL, after);
    write_as(&st, &ann, "update", "rooms", "r2", NULL, NULL);
    write_as(&st, &bob, "delete", "bookings", "b1", NULL, NULL);
    json_decref(after);

    struct itest_resp *r = api(&st, "GET", "/api/audit-logs/export?resource=rooms", NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(itest_header(r, "Content-Type"), "text/csv"));
    assert_non_null(strstr(itest_header(r, "Content-Disposition"), "attachment"));
    assert_true(strncmp(r->body, "id,at,actor_type,actor_id,actor_name,", 37) == 0);
    /* the formula is defused and quoted; quotes doubled */
    assert_non_null(strstr(r->body, ",\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\","));
    assert_null(strstr(r->body, ",=HYPERLINK"));
    assert_null(strstr(r->body, ",bookings,"));
    int lines = 0;
    for (const char *p = r->body; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    assert_int_equal(lines, 3); /* header + the 2 rooms entries */
    itest_resp_free(r);

    /* the export is itself in the log, by the owner, with its filters */
    json_t *list = get_json(&st, "/api/audit-logs?action=export");
    assert_int_equal(json_integer_value(json_object_get(list, "total")), 1);
    json_t *e = json_array_get(json_object_get(list, "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "resource")), "audit");
    json_t *actor = json_object_get(e, "actor");
    assert_string_equal(json_string_value(json_object_get(actor, "type")), "user");
    assert_string_equal(json_string_value(json_object_get(actor, "email")), st.s.email);
    json_t *ea = json_object_get(e, "after");
    assert_int_equal(json_integer_value(json_object_get(ea, "rows")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ea, "filters"), "resource")), "rooms");
    assert_non_null(json_string_value(json_object_get(e, "request_id")));
    json_decref(list);

    json_t *v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 4);
    json_decref(v);
}

/* 20,000 entries put in with SQL (their hashes are not a chain: only the export is
 * looked at): the streamed export sends every one, in order, and its entry counts them. */
static void test_a_large_export_streams_every_row(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("abig", &st);
    struct db_conn *t = db_acquire(NULL, st.s.db);
    assert_non_null(t);
    assert_int_equal(
        db_run(t,
               "INSERT INTO audit_log (id, at, actor_type, actor_id, actor_name, actor_email,"
               "                       action, resource, resource_id, user_agent, after,"
               "                       risk_level, hash)"
               " SELECT nextval('audit_log_id_seq'), now(), 'user', $1, 'Bulk Ann',"
               "        'ann@example.com', 'update', 'bulk', 'b-' || g, '=1+' || g || ',\"x\"',"
               "        jsonb_build_object('n', g), 'none', repeat('0', 64)"
               "   FROM generate_series(1, 20000) g",
               1, (const char *[]){ANN_ID}),
        0);
    db_release(t);

    struct itest_resp *r = api(&st, "GET", "/api/audit-logs/export?resource=bulk", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_header(r, "Content-Type"), "text/csv; charset=utf-8");
    assert_non_null(strstr(itest_header(r, "Content-Disposition"), "attachment; filename="));
    assert_string_equal(itest_header(r, "Transfer-Encoding"), "chunked"); /* streamed */
    assert_true(strncmp(r->body, "id,at,actor_type,actor_id,actor_name,", 37) == 0);
    int lines = 0;
    for (const char *p = r->body; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    assert_int_equal(lines, 20001); /* header + every entry */
    assert_non_null(strstr(r->body, ",b-1,"));
    assert_non_null(strstr(r->body, ",b-20000,"));
    assert_true(strstr(r->body, ",b-1,") < strstr(r->body, ",b-20000,")); /* oldest first */
    /* the escaping holds across batches: a quoted, defused formula with doubled quotes */
    assert_non_null(strstr(r->body, ",\"'=1+19999,\"\"x\"\"\","));
    itest_resp_free(r);

    json_t *list = get_json(&st, "/api/audit-logs?action=export");
    json_t *e = json_array_get(json_object_get(list, "entries"), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "after"), "rows")),
                     20000);
    json_decref(list);
}

/* ---- verification ------------------------------------------------------------------------- */

static void test_verify_names_the_row_changed_by_sql(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("atamp", &st);
    json_t *v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 0);
    json_decref(v);

    json_t *b = json_pack("{s:i}", "hourly_rate", 1000);
    json_t *a = json_pack("{s:i}", "hourly_rate", 1200);
    for (int i = 0; i < 4; i++) {
        char rid[16];
        snprintf(rid, sizeof(rid), "t%d", i);
        write_as(&st, &ann, "update", "rooms", rid, b, a);
    }
    json_decref(b);
    json_decref(a);
    v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 4);
    json_decref(v);

    char *id = itest_pg_value(st.s.db, "SELECT id FROM audit_log WHERE resource_id = 't2'");
    assert_non_null(id);
    /* the same values, written back differently spaced and ordered: still verifies */
    assert_int_equal(itest_pg_exec(st.s.db,
                                   "UPDATE audit_log SET after = '{ \"hourly_rate\" : 1200 }'"
                                   " WHERE id = $1::bigint",
                                   id),
                     0);
    v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);

    assert_int_equal(itest_pg_exec(st.s.db,
                                   "UPDATE audit_log SET after = '{\"hourly_rate\": 1}'"
                                   " WHERE id = $1::bigint",
                                   id),
                     0);
    v = verify(&st);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "first_broken_id")), atoll(id));
    assert_non_null(json_string_value(json_object_get(v, "at")));
    assert_string_equal(json_string_value(json_object_get(v, "reason")), "hash_mismatch");
    json_decref(v);

    /* put it back, then change `before` of the first row instead */
    assert_int_equal(itest_pg_exec(st.s.db,
                                   "UPDATE audit_log SET after = '{\"hourly_rate\": 1200}'"
                                   " WHERE id = $1::bigint",
                                   id),
                     0);
    char *first = itest_pg_value(st.s.db, "SELECT min(id) FROM audit_log");
    assert_int_equal(
        itest_pg_exec(st.s.db, "UPDATE audit_log SET before = NULL WHERE id = $1::bigint", first),
        0);
    v = verify(&st);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "first_broken_id")), atoll(first));
    json_decref(v);
    free(first);
    free(id);
}

static void test_verify_finds_a_deleted_row(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("adel", &st);
    for (int i = 0; i < 3; i++)
        write_as(&st, &ann, "view", "rooms", NULL, NULL, NULL);
    char *ids = itest_pg_value(st.s.db, "SELECT string_agg(id::text, ',' ORDER BY id)"
                                        "  FROM audit_log");
    long long id1, id2, id3;
    assert_int_equal(sscanf(ids, "%lld,%lld,%lld", &id1, &id2, &id3), 3);
    free(ids);
    char mid[24];
    snprintf(mid, sizeof(mid), "%lld", id2);
    assert_int_equal(itest_pg_exec(st.s.db, "DELETE FROM audit_log WHERE id = $1::bigint", mid), 0);
    json_t *v = verify(&st);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "first_broken_id")), id3);
    json_decref(v);

    /* the newest entry removed instead: the head no longer matches */
    struct studio st2;
    make_studio("adel2", &st2);
    write_as(&st2, &ann, "view", "rooms", NULL, NULL, NULL);
    write_as(&st2, &ann, "view", "rooms", NULL, NULL, NULL);
    char *newest = itest_pg_value(st2.s.db, "SELECT max(id) FROM audit_log");
    assert_int_equal(itest_pg_exec(st2.s.db, "DELETE FROM audit_log WHERE id = $1::bigint", newest),
                     0);
    v = verify(&st2);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "first_broken_id")), atoll(newest));
    assert_string_equal(json_string_value(json_object_get(v, "reason")), "head_missing");
    json_decref(v);
    free(newest);
}

static void test_a_rolled_back_change_leaves_no_entry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("arb", &st);
    write_as(&st, &ann, "update", "rooms", "kept", NULL, NULL);
    struct db_conn *t = db_acquire(NULL, st.s.db);
    assert_non_null(t);
    assert_int_equal(db_begin(t), 0);
    assert_int_equal(audit_write(t, &ann, "delete", "rooms", "undone", NULL, NULL), AUDIT_OK);
    db_rollback(t);
    db_release(t);
    write_as(&st, &ann, "update", "rooms", "after", NULL, NULL);
    assert_int_equal(total_of(&st, "resource_id=undone"), 0);
    json_t *v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 2);
    json_decref(v);
    /* a bad action name writes nothing */
    t = db_acquire(NULL, st.s.db);
    assert_int_equal(audit_write(t, &ann, "Drop Table", "rooms", NULL, NULL, NULL), AUDIT_INVALID);
    db_release(t);
}

static void test_concurrent_writers_keep_one_chain(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("arace", &st);
    pthread_t th[WRITERS];
    struct writer_arg args[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (struct writer_arg){.db = st.s.db, .n = WRITES_EACH};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    json_t *v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), WRITERS * WRITES_EACH);
    json_decref(v);
}

/* ---- cleanup ------------------------------------------------------------------------------ */

static void test_cleanup_refuses_less_than_90_days(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("aret", &st);
    struct itest_resp *r = api(&st, "POST", "/api/audit-logs/cleanup", "{\"older_than_days\":89}");
    itest_assert_error(r, 422, "invalid_input");
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    assert_non_null(json_object_get(fields, "older_than_days"));
    itest_resp_free(r);
    itest_expect_error(api(&st, "POST", "/api/audit-logs/cleanup", "{\"older_than_days\":\"365\"}"),
                       422, "invalid_input");
    itest_expect_error(api(&st, "POST", "/api/audit-logs/cleanup", "{}"), 422, "invalid_input");
    assert_int_equal(total_of(&st, "action=cleanup"), 0);
}

static void test_cleanup_is_for_owners_and_needs_csrf(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("aown", &st);
    /* without the CSRF token */
    struct itest_resp *r =
        itest_request(&itest_server, "POST", st.s.host, "/api/audit-logs/cleanup",
                      "application/json", "{\"older_than_days\":365}", NULL, &st.jar);
    itest_assert_error(r, 403, "csrf_failed");
    itest_resp_free(r);

    /* a manager (who may read the log) is not an owner */
    char email[160];
    snprintf(email, sizeof(email), "manager-%s@example.com", st.s.slug);
    free(add_user(&st, email, "manager"));
    struct studio mgr = st;
    memset(&mgr.jar, 0, sizeof(mgr.jar));
    assert_int_equal(itest_login(&itest_server, st.s.slug, email, PASSWORD, &mgr.jar, mgr.csrf),
                     200);
    itest_expect_error(api(&mgr, "POST", "/api/audit-logs/cleanup", "{\"older_than_days\":365}"),
                       403, "forbidden");
    assert_int_equal(total_of(&st, "action=cleanup"), 0);
}

static void test_cleanup_keeps_the_chain_verifiable(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("aclean", &st);
    insert_old_entries(&st, 5, 200);
    write_as(&st, &ann, "update", "rooms", "recent", NULL, NULL);
    json_t *v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 6);
    json_decref(v);

    struct itest_resp *r = api(&st, "POST", "/api/audit-logs/cleanup", "{\"older_than_days\":90}");
    assert_int_equal(r->status, 200);
    assert_int_equal(json_integer_value(json_object_get(r->json, "deleted")), 5);
    assert_int_equal(json_integer_value(json_object_get(r->json, "older_than_days")), 90);
    itest_resp_free(r);

    v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 2); /* recent + cleanup */
    json_decref(v);
    assert_int_equal(total_of(&st, "q=old%20ann"), 0);
    json_t *list = get_json(&st, "/api/audit-logs?action=cleanup");
    assert_int_equal(json_integer_value(json_object_get(list, "total")), 1);
    json_t *after = json_object_get(json_array_get(json_object_get(list, "entries"), 0), "after");
    assert_int_equal(json_integer_value(json_object_get(after, "deleted")), 5);
    assert_int_equal(json_integer_value(json_object_get(after, "older_than_days")), 90);
    json_decref(list);

    /* nothing old left: a second cleanup removes nothing and the chain still holds */
    r = api(&st, "POST", "/api/audit-logs/cleanup", "{\"older_than_days\":90}");
    assert_int_equal(r->status, 200);
    assert_int_equal(json_integer_value(json_object_get(r->json, "deleted")), 0);
    itest_resp_free(r);
    v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "entries")), 3);
    json_decref(v);
}

static void test_cleanup_refuses_to_drop_tampered_entries(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("acltamp", &st);
    insert_old_entries(&st, 3, 200);
    assert_int_equal(itest_pg_exec(st.s.db, "UPDATE audit_log SET actor_name = 'Nobody'"
                                            " WHERE resource_id = 'old-1'"),
                     0);
    itest_expect_error(api(&st, "POST", "/api/audit-logs/cleanup", "{\"older_than_days\":90}"), 409,
                       "audit_chain_broken");
    char *n = itest_pg_value(st.s.db, "SELECT count(*) FROM audit_log");
    assert_string_equal(n, "3");
    free(n);
}

/* ---- risk --------------------------------------------------------------------------------- */

static void test_failed_login_burst_is_high_and_mails_the_owners(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("aburst", &st);
    char owner2[160];
    snprintf(owner2, sizeof(owner2), "owner2-%s@example.com", st.s.slug);
    free(add_user(&st, owner2, "owner"));

    struct db_conn *master = db_acquire_master();
    assert_non_null(master);
    struct audit_ctx guess = {.actor_type = AUDIT_ACTOR_ANONYMOUS,
                              .actor_email = st.s.email,
                              .ip = "203.0.113.7",
                              .user_agent = "curl/8",
                              .studio_name = "Burst Studio",
                              .master = master};
    struct db_conn *t = db_acquire(NULL, st.s.db);
    assert_non_null(t);
    for (int i = 0; i < AUDIT_FAILED_LOGINS_PER_ACCOUNT; i++) {
        json_t *after = json_pack("{s:s}", "reason", "bad_credentials");
        char rid[16];
        snprintf(rid, sizeof(rid), "try-%d", i);
        assert_int_equal(audit_write(t, &guess, "login_failed", "auth", rid, NULL, after),
                         AUDIT_OK);
        json_decref(after);
    }
    db_release(t);
    db_release(master);

    char *risk = entry_risk(&st, "try-3");
    assert_string_equal(risk, "none ");
    free(risk);
    risk = entry_risk(&st, "try-4");
    assert_string_equal(risk, "high " AUDIT_RULE_FAILED_LOGINS_ACCOUNT);
    free(risk);
    assert_int_equal(total_of(&st, "risk=high"), 1);

    char *raw = NULL;
    if (itest_wait_mail(owner2, MAIL_WAIT_MS, &raw) != 0)
        fail_msg("no alert mail to %s", owner2);
    char *text = itest_mail_text(raw);
    assert_non_null(strstr(text, "Security alert for Burst Studio"));
    assert_non_null(strstr(text, AUDIT_RULE_FAILED_LOGINS_ACCOUNT));
    assert_non_null(strstr(text, "203.0.113.7"));
    free(text);
    free(raw);
}

static void test_risk_rules_read_the_log_settings_and_hours(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("arisk", &st);
    struct audit_ctx at_night = ann;

    /* sign-ins: the first from anywhere is fine, a second IP is new */
    write_as(&st, &ann, "login", "auth", "login-1", NULL, NULL);
    write_as(&st, &ann, "login", "auth", "login-2", NULL, NULL);
    struct audit_ctx elsewhere = ann;
    elsewhere.ip = "198.51.100.4";
    write_as(&st, &elsewhere, "login", "auth", "login-3", NULL, NULL);
    char *r = entry_risk(&st, "login-2");
    assert_string_equal(r, "none ");
    free(r);
    r = entry_risk(&st, "login-3");
    assert_string_equal(r, "medium " AUDIT_RULE_NEW_IP_LOGIN);
    free(r);

    /* ten cancellations by one user in ten minutes */
    for (int i = 0; i < AUDIT_MASS_DELETE_COUNT; i++) {
        char rid[16];
        snprintf(rid, sizeof(rid), "cx-%d", i);
        write_as(&st, &bob, "cancel", "bookings", rid, NULL, NULL);
    }
    r = entry_risk(&st, "cx-8");
    assert_string_equal(r, "none ");
    free(r);
    r = entry_risk(&st, "cx-9");
    assert_string_equal(r, "high " AUDIT_RULE_MASS_DELETION);
    free(r);

    /* refunds against the studio's own threshold */
    assert_int_equal(
        itest_pg_exec(st.s.db, "UPDATE studio_settings SET audit_refund_alert_threshold = 1000"),
        0);
    json_t *small = json_pack("{s:i}", "refund_amount", 1000);
    json_t *big = json_pack("{s:i}", "refund_amount", 1500);
    write_as(&st, &ann, "refund", "bookings", "rf-small", NULL, small);
    write_as(&st, &ann, "refund", "bookings", "rf-big", NULL, big);
    json_decref(small);
    json_decref(big);
    r = entry_risk(&st, "rf-small");
    assert_string_equal(r, "none ");
    free(r);
    r = entry_risk(&st, "rf-big");
    assert_string_equal(r, "high " AUDIT_RULE_LARGE_REFUND);
    free(r);

    /* exports of customer data; role changes */
    write_as(&st, &ann, "export", "customers", "exp", NULL, NULL);
    r = entry_risk(&st, "exp");
    assert_string_equal(r, "medium " AUDIT_RULE_CUSTOMER_EXPORT);
    free(r);
    write_as(&st, &ann, "update", "roles", "role-1", NULL, NULL);
    r = entry_risk(&st, "role-1");
    assert_string_equal(r, "medium " AUDIT_RULE_PERMISSION_CHANGE);
    free(r);

    /* the studio closed today (a studio-wide closure): staff activity is low risk */
    assert_int_equal(itest_pg_exec(st.s.db,
                                   "INSERT INTO closures (starts_on, ends_on, reason)"
                                   " VALUES (current_date - 2, current_date + 2, 'works')"),
                     0);
    write_as(&st, &at_night, "update", "rooms", "night", NULL, NULL);
    r = entry_risk(&st, "night");
    assert_string_equal(r, "low " AUDIT_RULE_OUTSIDE_HOURS);
    free(r);
    struct audit_ctx customer = {.actor_type = AUDIT_ACTOR_CUSTOMER, .ip = "192.0.2.5"};
    write_as(&st, &customer, "create", "bookings", "cust", NULL, NULL);
    r = entry_risk(&st, "cust");
    assert_string_equal(r, "none ");
    free(r);

    json_t *v = verify(&st);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);
}

/* ---- who may read ------------------------------------------------------------------------- */

static void test_no_session_is_401(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    make_studio("anoses", &st);
    const char *paths[] = {"/api/audit-logs", "/api/audit-logs/stats", "/api/audit-logs/export",
                           "/api/audit-logs/verify"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct itest_resp *r =
            itest_request(&itest_server, "GET", st.s.host, paths[i], NULL, NULL, NULL, NULL);
        itest_assert_error(r, 401, "unauthenticated");
        itest_resp_free(r);
    }
    struct itest_resp *r =
        itest_request(&itest_server, "POST", st.s.host, "/api/audit-logs/cleanup",
                      "application/json", "{\"older_than_days\":365}", NULL, NULL);
    itest_assert_error(r, 401, "unauthenticated");
    itest_resp_free(r);
}

static void test_one_studio_never_reads_another_studios_log(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    make_studio("acrossa", &a);
    make_studio("acrossb", &b);
    write_as(&a, &ann, "update", "rooms", "secret-of-a", NULL, NULL);

    /* B's own log has none of A's entries */
    assert_int_equal(total_of(&b, "q=secret-of-a"), 0);
    json_t *list = get_json(&b, "/api/audit-logs");
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(list, "entries"), i, e)
    {
        const char *rid = json_string_value(json_object_get(e, "resource_id"));
        assert_false(rid && strcmp(rid, "secret-of-a") == 0);
    }
    json_decref(list);

    /* B's session on A's host names no session there */
    struct studio b_on_a = b;
    memcpy(b_on_a.s.host, a.s.host, sizeof(a.s.host));
    itest_expect_error(api(&b_on_a, "GET", "/api/audit-logs", NULL), 401, "unauthenticated");
    itest_expect_error(api(&b_on_a, "GET", "/api/audit-logs/export", NULL), 401, "unauthenticated");
    assert_int_equal(total_of(&a, "action=export"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_filters_and_pages_newest_first),
        cmocka_unit_test(test_stats_count_by_action_actor_risk_and_day),
        cmocka_unit_test(test_export_is_csv_escaped_formula_safe_and_audited),
        cmocka_unit_test(test_a_large_export_streams_every_row),
        cmocka_unit_test(test_verify_names_the_row_changed_by_sql),
        cmocka_unit_test(test_verify_finds_a_deleted_row),
        cmocka_unit_test(test_a_rolled_back_change_leaves_no_entry),
        cmocka_unit_test(test_concurrent_writers_keep_one_chain),
        cmocka_unit_test(test_cleanup_refuses_less_than_90_days),
        cmocka_unit_test(test_cleanup_is_for_owners_and_needs_csrf),
        cmocka_unit_test(test_cleanup_keeps_the_chain_verifiable),
        cmocka_unit_test(test_cleanup_refuses_to_drop_tampered_entries),
        cmocka_unit_test(test_failed_login_burst_is_high_and_mails_the_owners),
        cmocka_unit_test(test_risk_rules_read_the_log_settings_and_hours),
        cmocka_unit_test(test_no_session_is_401),
        cmocka_unit_test(test_one_studio_never_reads_another_studios_log),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
