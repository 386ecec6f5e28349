/*
 * staff.c — the back office's SQL: the booking list with its filters,
 * studio sessions (a confirmed booking turned into a session, with
 * engineer, check-in/out and billable items), customers and their history,
 * and the secret calendar feeds with the iCalendar text they serve.
 *
 * Rows leave PostgreSQL already shaped as JSON (json_build_object), so the
 * shape of a booking, a session or a customer is written once, in the SQL
 * fragments below, and every list and detail that shows one agrees.
 * Times are rendered by PostgreSQL in the studio's zone, always passed as
 * $1: the local wall time plus that instant's offset, so a list that spans
 * a DST change shows +01:00 and +02:00 where each belongs.
 *
 * What a session holds: studio_sessions.booking_id is UNIQUE (one session
 * per booking, so a second conversion is a no-op INSERT ... ON CONFLICT
 * answered 409), and the session keeps its booking: the booking's hold, and
 * with it the bookings_no_overlap guarantee, covers the session's time.
 * Conversion locks the booking row (FOR UPDATE), so it cannot interleave
 * with a cancel or a move of the same booking.
 *
 * Items are bounded (BOOKING_STAFF_ITEMS_MAX per session, quantity and unit
 * amount capped), so sum(quantity * unit_amount) stays far inside bigint.
 *
 * Calendar feeds: only the SHA-256 of a feed's token is stored; the token is
 * the credential (192 random bits), shown once when the feed is made.
 *
 * Audit: every change writes its entry (audit.h) as the last statement of
 * its own transaction (audit_commit), so no change commits without one:
 * "sessions" (create on conversion, update: the session as GET shows it,
 * before and after), "session_items" (create, delete: the item) and
 * "calendar_feeds" (create, delete: id and room, never the token). Adding
 * or removing an item also touches its session's updated_at; the item's
 * entry stands for that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking_internal.h"
#include "staff_internal.h"
#include "studiod/audit.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/tenant.h"

#define ICS_LINE_OCTETS 75 /* RFC 5545 3.1: lines longer than this are folded */
#define SQLSTATE_CHECK_VIOLATION "23514"
#define SQLSTATE_FK_VIOLATION "23503"
#define PAGE_FILTERS_MAX 8 /* the most parameters a list's filter takes */

/* ---- SQL (compile-time constants; values are always $n parameters) ---------------------- */

/* clang-format off */

/* col as RFC 3339 in the studio's zone, which is always $1 here. */
#define SQL_RFC3339(col) BOOKING_SQL_RFC3339(col, "$1")

/* A booking as lists show it; needs b (bookings), r (rooms), c (customers), ss (its session). */
#define SQL_BOOKING_JSON                                                                           \
    "json_build_object("                                                                           \
    "  'id', b.id, 'ref', b.ref, 'status', b.status, 'source', b.source,"                          \
    "  'room', json_build_object('id', r.id, 'name', r.name),"                                     \
    "  'customer', json_build_object('id', c.id, 'name', c.name, 'email', c.email,"                \
    "                                'phone', c.phone),"                                           \
    "  'starts_at', " SQL_RFC3339("b.starts_at") ","                                               \
    "  'ends_at', " SQL_RFC3339("b.ends_at") ","                                                   \
    "  'price', json_build_object('amount', b.price_amount, 'currency', b.currency),"              \
    "  'deposit', json_build_object('amount', b.deposit_amount, 'currency', b.currency),"          \
    "  'paid_amount', b.paid_amount, 'refund_amount', b.refund_amount,"                            \
    "  'has_session', ss.id IS NOT NULL, 'session_id', ss.id,"                                     \
    "  'created_at', " SQL_RFC3339("b.created_at") ")"

#define SQL_BOOKING_FROM                                                                           \
    " FROM bookings b"                                                                             \
    " JOIN rooms r ON r.id = b.room_id"                                                            \
    " JOIN customers c ON c.id = b.customer_id"                                                    \
    " LEFT JOIN studio_sessions ss ON ss.booking_id = b.id"

/* $2 statuses, $3 room, $4/$5 local dates (inclusive), $6 ILIKE pattern, $7 paid. */
#define SQL_BOOKING_WHERE                                                                          \
    " WHERE ($2::text[] IS NULL OR b.status = ANY ($2::text[]))"                                   \
    "   AND ($3::uuid IS NULL OR b.room_id = $3::uuid)"                                            \
    "   AND ($4::date IS NULL OR b.starts_at >= ($4::date)::timestamp AT TIME ZONE $1)"            \
    "   AND ($5::date IS NULL OR b.starts_at < ($5::date + 1)::timestamp AT TIME ZONE $1)"         \
    "   AND ($6::text IS NULL OR c.name ILIKE $6 OR c.email ILIKE $6 OR c.phone ILIKE $6"          \
    "        OR b.ref ILIKE $6)"                                                                   \
    "   AND ($7::boolean IS NULL OR (b.paid_amount > 0) = $7::boolean)"

#define SQL_BOOKING_PAGE                                                                           \
    "SELECT " SQL_BOOKING_JSON "::text AS item" SQL_BOOKING_FROM SQL_BOOKING_WHERE
#define SQL_LIMIT_8 " LIMIT $8 OFFSET $9"

static const char sql_bookings_count[] =
    "SELECT count(*) AS n" SQL_BOOKING_FROM SQL_BOOKING_WHERE;

/* One fixed statement per order (indexed by enum booking_staff_sort); ids break ties so that
 * pages never repeat or skip a row. */
static const char *const sql_bookings_page[] = {
    [BOOKING_SORT_STARTS_DESC] =
        SQL_BOOKING_PAGE " ORDER BY b.starts_at DESC, b.id DESC" SQL_LIMIT_8,
    [BOOKING_SORT_STARTS] =
        SQL_BOOKING_PAGE " ORDER BY b.starts_at, b.id" SQL_LIMIT_8,
    [BOOKING_SORT_CREATED] =
        SQL_BOOKING_PAGE " ORDER BY b.created_at, b.id" SQL_LIMIT_8,
    [BOOKING_SORT_CREATED_DESC] =
        SQL_BOOKING_PAGE " ORDER BY b.created_at DESC, b.id DESC" SQL_LIMIT_8,
    [BOOKING_SORT_PRICE] =
        SQL_BOOKING_PAGE " ORDER BY b.price_amount, b.starts_at, b.id" SQL_LIMIT_8,
    [BOOKING_SORT_PRICE_DESC] =
        SQL_BOOKING_PAGE " ORDER BY b.price_amount DESC, b.starts_at, b.id" SQL_LIMIT_8,
};

/* A session with its booking; needs ss, b, r, c and u (the engineer). */
#define SQL_SESSION_JSON                                                                           \
    "json_build_object("                                                                           \
    "  'id', ss.id, 'status', ss.status, 'notes', ss.notes,"                                       \
    "  'engineer', CASE WHEN u.id IS NULL THEN NULL"                                               \
    "                   ELSE json_build_object('id', u.id, 'name', u.name) END,"                   \
    "  'checked_in_at', " SQL_RFC3339("ss.checked_in_at") ","                                      \
    "  'checked_out_at', " SQL_RFC3339("ss.checked_out_at") ","                                    \
    "  'created_at', " SQL_RFC3339("ss.created_at") ","                                            \
    "  'updated_at', " SQL_RFC3339("ss.updated_at") ","                                            \
    "  'booking', " SQL_BOOKING_JSON ")"

#define SQL_SESSION_FROM                                                                           \
    " FROM studio_sessions ss"                                                                     \
    " JOIN bookings b ON b.id = ss.booking_id"                                                     \
    " JOIN rooms r ON r.id = b.room_id"                                                            \
    " JOIN customers c ON c.id = b.customer_id"                                                    \
    " LEFT JOIN users u ON u.id = ss.engineer_id"

/* $2 statuses, $3 room, $4/$5 local dates of the booking's start. */
#define SQL_SESSION_WHERE                                                                          \
    " WHERE ($2::text[] IS NULL OR ss.status = ANY ($2::text[]))"                                  \
    "   AND ($3::uuid IS NULL OR b.room_id = $3::uuid)"                                            \
    "   AND ($4::date IS NULL OR b.starts_at >= ($4::date)::timestamp AT TIME ZONE $1)"            \
    "   AND ($5::date IS NULL OR b.starts_at < ($5::date + 1)::timestamp AT TIME ZONE $1)"

static const char sql_sessions_count[] =
    "SELECT count(*) AS n" SQL_SESSION_FROM SQL_SESSION_WHERE;
static const char sql_sessions_page[] =
    "SELECT " SQL_SESSION_JSON "::text AS item" SQL_SESSION_FROM SQL_SESSION_WHERE
    " ORDER BY b.starts_at, ss.id LIMIT $6 OFFSET $7";

static const char sql_session_get[] =
    "SELECT " SQL_SESSION_JSON "::text AS session,"
    "       (SELECT coalesce(json_agg(json_build_object("
    "                  'id', i.id, 'description', i.description, 'quantity', i.quantity,"
    "                  'unit_amount', i.unit_amount, 'amount', i.quantity * i.unit_amount,"
    "                  'created_at', " SQL_RFC3339("i.created_at") ")"
    "               ORDER BY i.created_at, i.id), '[]'::json)"
    "          FROM session_items i WHERE i.session_id = ss.id)::text AS items,"
    "       (SELECT coalesce(sum(i.quantity * i.unit_amount), 0)"
    "          FROM session_items i WHERE i.session_id = ss.id)::text AS items_total,"
    "       b.price_amount, b.currency"
    SQL_SESSION_FROM
    " WHERE ss.id = $2";

static const char sql_booking_lock[] =
    "SELECT b.status, EXISTS (SELECT 1 FROM studio_sessions s WHERE s.booking_id = b.id)"
    "       AS converted"
    "  FROM bookings b WHERE b.id = $1 FOR UPDATE";
static const char sql_engineer_ok[] =
    "SELECT 1 FROM users WHERE id = $1 AND active";
static const char sql_session_insert[] =
    "INSERT INTO studio_sessions (booking_id, engineer_id, notes)"
    " VALUES ($1, $2, coalesce($3, ''))"
    " ON CONFLICT (booking_id) DO NOTHING RETURNING id";

/* Check-in/out shortcuts keep a time already recorded (so a repeated click changes nothing)
 * and imply the status unless one is given. */
static const char sql_session_update[] =
    "UPDATE studio_sessions SET"
    "   engineer_id = CASE WHEN $2::boolean THEN $3::uuid ELSE engineer_id END,"
    "   notes = coalesce($4::text, notes),"
    "   checked_in_at = CASE WHEN $7::boolean THEN coalesce(checked_in_at, now())"
    "                        WHEN $5::boolean THEN $6::timestamptz ELSE checked_in_at END,"
    "   checked_out_at = CASE WHEN $10::boolean THEN coalesce(checked_out_at, now())"
    "                         WHEN $8::boolean THEN $9::timestamptz ELSE checked_out_at END,"
    "   status = coalesce($11::text, CASE WHEN $10::boolean THEN 'done'"
    "                                     WHEN $7::boolean THEN 'in_progress'"
    "                                     ELSE status END),"
    "   updated_at = now()"
    " WHERE id = $1"
    " RETURNING checked_out_at IS NOT NULL AND checked_in_at IS NULL AS out_before_in";

static const char sql_session_lock[] =
    "SELECT 1 FROM studio_sessions WHERE id = $1 FOR UPDATE";
static const char sql_items_count[] =
    "SELECT count(*) AS n FROM session_items WHERE session_id = $1";
/* An item as its audit entry shows it; needs i. */
#define SQL_ITEM_JSON                                                                              \
    "json_build_object('id', i.id, 'session_id', i.session_id, 'description', i.description,"    \
    "  'quantity', i.quantity, 'unit_amount', i.unit_amount)::text AS item"
static const char sql_item_insert[] =
    "INSERT INTO session_items AS i (session_id, description, quantity, unit_amount)"
    " VALUES ($1, $2, $3::int, $4::bigint)"
    " RETURNING " SQL_ITEM_JSON;
static const char sql_session_touch[] =
    "UPDATE studio_sessions SET updated_at = now() WHERE id = $1";
static const char sql_item_delete[] =
    "DELETE FROM session_items i WHERE i.id = $2 AND i.session_id = $1"
    " RETURNING " SQL_ITEM_JSON;

/* A customer with a summary of their bookings; needs c and h (the lateral below). */
#define SQL_CUSTOMER_JSON                                                                          \
    "json_build_object('id', c.id, 'name', c.name, 'email', c.email, 'phone', c.phone,"            \
    "  'notes', c.notes, 'created_at', " SQL_RFC3339("c.created_at") ","                           \
    "  'bookings_count', h.n, 'last_booking_at', " SQL_RFC3339("h.last") ")"
#define SQL_CUSTOMER_FROM                                                                          \
    " FROM customers c"                                                                            \
    " CROSS JOIN LATERAL (SELECT count(*) AS n, max(b.starts_at) AS last"                          \
    "                       FROM bookings b WHERE b.customer_id = c.id) h"

/* The count takes the pattern as $1 (no time zone to render). */
static const char sql_customers_count[] =
    "SELECT count(*) AS n FROM customers c"
    " WHERE ($1::text IS NULL OR c.name ILIKE $1 OR c.email ILIKE $1 OR c.phone ILIKE $1)";
static const char sql_customers_page[] =
    "SELECT " SQL_CUSTOMER_JSON "::text AS item" SQL_CUSTOMER_FROM
    " WHERE ($2::text IS NULL OR c.name ILIKE $2 OR c.email ILIKE $2 OR c.phone ILIKE $2)"
    " ORDER BY lower(c.name), c.id LIMIT $3 OFFSET $4";
static const char sql_customer_get[] =
    "SELECT " SQL_CUSTOMER_JSON "::text AS item" SQL_CUSTOMER_FROM " WHERE c.id = $2";
static const char sql_customer_history[] =
    "SELECT " SQL_BOOKING_JSON "::text AS item" SQL_BOOKING_FROM
    " WHERE b.customer_id = $2"
    " ORDER BY b.starts_at DESC, b.created_at DESC, b.id DESC LIMIT $3";

#define SQL_FEED_JSON                                                                              \
    "json_build_object('id', f.id,"                                                                \
    "  'room', CASE WHEN r.id IS NULL THEN NULL"                                                   \
    "               ELSE json_build_object('id', r.id, 'name', r.name) END,"                       \
    "  'created_at', " SQL_RFC3339("f.created_at") ")"

static const char sql_room_ok[] =
    "SELECT 1 FROM rooms WHERE id = $1 AND archived_at IS NULL";
static const char sql_feed_insert[] =
    "WITH f AS (INSERT INTO calendar_feeds (room_id, token_hash) VALUES ($2, $3) RETURNING *)"
    " SELECT " SQL_FEED_JSON "::text AS item FROM f LEFT JOIN rooms r ON r.id = f.room_id";
static const char sql_feeds_list[] =
    "SELECT " SQL_FEED_JSON "::text AS item"
    "  FROM calendar_feeds f LEFT JOIN rooms r ON r.id = f.room_id"
    " ORDER BY f.created_at, f.id";
static const char sql_feed_delete[] =
    "DELETE FROM calendar_feeds f WHERE f.id = $1"
    " RETURNING json_build_object('id', f.id, 'room_id', f.room_id)::text AS item";
static const char sql_feed_by_token[] =
    "SELECT f.room_id, r.name AS room_name"
    "  FROM calendar_feeds f LEFT JOIN rooms r ON r.id = f.room_id"
    " WHERE f.token_hash = $1";
/* Active holds from 30 days ago to a year ahead, in UTC "basic" form (RFC 5545 3.3.5). */
static const char sql_feed_events[] =
    "SELECT b.ref, b.status, r.name AS room, c.name AS customer,"
    "       to_char(b.starts_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"') AS dtstart,"
    "       to_char(b.ends_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"') AS dtend,"
    "       to_char(b.updated_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"') AS stamp"
    "  FROM bookings b"
    "  JOIN rooms r ON r.id = b.room_id"
    "  JOIN customers c ON c.id = b.customer_id"
    " WHERE b.status IN ('pending', 'confirmed')"
    "   AND ($1::uuid IS NULL OR b.room_id = $1::uuid)"
    "   AND b.ends_at > now() - interval '30 days'"
    "   AND b.starts_at < now() + interval '365 days'"
    " ORDER BY b.starts_at, b.id";

/* clang-format on */

/* ---- static helpers ----------------------------------------------------------------------- */

static json_t *rows_json(PGresult *r, const char *col);
static json_t *items_of(struct db_conn *t, const char *sql, int n, const char *const *p);
static json_t *row_json(PGresult *r, int row, const char *col);
static long long count_of(PGresult *r);
static json_t *page_json(json_t *items, long long total, int limit, int offset);
static int page_query(struct db_conn *t, const char *count_sql, int count_n,
                      const char *const *count_p, const char *page_sql, int n, const char *const *p,
                      int limit, int offset, json_t **out);
static int fail_db(struct db_conn *t, struct booking_error *err);
static int audit_commit(struct db_conn *t, struct request *req, const char *action,
                        const char *resource, const char *id, json_t *before, json_t *after);
static int session_locked(struct db_conn *t, const char *id, struct booking_error *err);
static int has_row(struct db_conn *t, const char *sql, const char *id);
static int deleted_row(struct db_conn *t, struct request *req, PGresult *r, const char *table);
static const char *id_of(json_t *o);
static void set_error(struct booking_error *err, const char *code, const char *message);
static void set_field(struct booking_error *err, const char *field, const char *message);
static int engineer_check(struct db_conn *t, const char *engineer_id, struct booking_error *err);
static int session_with_totals(PGresult *r, json_t **out);
static void ics_line(struct buf *out, const char *name, const char *value);
static void ics_text(struct buf *b, const char *s);
static void ics_fold(struct buf *out, const char *line, size_t len);
static size_t utf8_len(unsigned char lead);

char *booking_staff_like_pattern(struct arena *a, const char *s)
{
    struct buf b;
    buf_init(&b, a);
    buf_puts(&b, "%");
    for (const char *p = s; *p; p++) {
        if (*p == '\\' || *p == '%' || *p == '_')
            buf_puts(&b, "\\");
        buf_append(&b, p, 1);
    }
    buf_puts(&b, "%");
    return (char *)buf_cstr(&b);
}

/* The JSON text in column col of every row, as an array; NULL if one does not parse. */
static json_t *rows_json(PGresult *r, const char *col)
{
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *item = row_json(r, i, col);
        if (!item) {
            json_decref(items);
            return NULL;
        }
        json_array_append_new(items, item);
    }
    return items;
}

/* The rows of sql (their JSON in column "item") as an array; NULL on a database error or
 * a row that is not JSON. */
static json_t *items_of(struct db_conn *t, const char *sql, int n, const char *const *p)
{
    PGresult *r = db_exec(t, sql, n, p, NULL);
    json_t *items = r ? rows_json(r, "item") : NULL;
    PQclear(r);
    return items;
}

static json_t *row_json(PGresult *r, int row, const char *col)
{
    const char *text = db_get(r, row, col);
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!j)
        log_msg(LOG_ERROR, "booking staff: column %s is not JSON", col);
    return j;
}

static long long count_of(PGresult *r)
{
    const char *n = PQntuples(r) == 1 ? db_get(r, 0, "n") : NULL;
    return n ? strtoll(n, NULL, 10) : 0;
}

/* Steals items. */
static json_t *page_json(json_t *items, long long total, int limit, int offset)
{
    return json_pack("{s:o, s:I, s:i, s:i}", "items", items, "total", (json_int_t)total, "limit",
                     limit, "offset", offset);
}

/* A page of a list as page_json: count_sql with its count_n parameters count_p, then
 * page_sql with the n filter parameters p followed by limit and offset ($n+1, $n+2); the
 * rows' JSON is in column "item". */
static int page_query(struct db_conn *t, const char *count_sql, int count_n,
                      const char *const *count_p, const char *page_sql, int n, const char *const *p,
                      int limit, int offset, json_t **out)
{
    char lim[16], off[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(off, sizeof(off), "%d", offset);
    const char *all[PAGE_FILTERS_MAX + 2];
    if (n > PAGE_FILTERS_MAX)
        return BOOKING_DB;
    memcpy(all, p, sizeof(*p) * (size_t)n);
    all[n] = lim;
    all[n + 1] = off;
    PGresult *r = db_exec(t, count_sql, count_n, count_p, NULL);
    if (!r)
        return BOOKING_DB;
    long long total = count_of(r);
    PQclear(r);
    json_t *items = items_of(t, page_sql, n + 2, all);
    if (!items)
        return BOOKING_DB;
    *out = page_json(items, total, limit, offset);
    return BOOKING_OK;
}

/* Ends a failed transaction: BOOKING_DB after rolling back. */
static int fail_db(struct db_conn *t, struct booking_error *err)
{
    db_rollback(t);
    set_error(err, "database_unavailable", "The studio's database is unavailable; try again");
    return BOOKING_DB;
}

/* Ends a change: its audit entry as the last statement, then the commit. BOOKING_OK, or
 * BOOKING_DB after rolling back. */
static int audit_commit(struct db_conn *t, struct request *req, const char *action,
                        const char *resource, const char *id, json_t *before, json_t *after)
{
    if (audit_record(t, req, action, resource, id, before, after) == AUDIT_OK && db_commit(t) == 0)
        return BOOKING_OK;
    db_rollback(t);
    return BOOKING_DB;
}

/* The "id" member of a representation (NULL when it has none). */
static const char *id_of(json_t *o)
{
    return json_string_value(json_object_get(o, "id"));
}

static void set_error(struct booking_error *err, const char *code, const char *message)
{
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->message, sizeof(err->message), "%s", message);
}

static void set_field(struct booking_error *err, const char *field, const char *message)
{
    if (!err->fields)
        err->fields = json_object();
    json_object_set_new(err->fields, field, json_string(message));
    set_error(err, "invalid_input", "Some fields are not valid");
}

/* Whether sql with its one parameter id returns a row: 1, 0, or -1 (database error). */
static int has_row(struct db_conn *t, const char *sql, const char *id)
{
    const char *p[] = {id};
    PGresult *r = db_exec(t, sql, 1, p, NULL);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    PQclear(r);
    return found;
}

/* Ends the delete whose RETURNING row (the thing as JSON, column "item") is r: audited as
 * "delete" on table and committed, or rolled back. BOOKING_OK, BOOKING_NOT_FOUND when r has
 * no row, or BOOKING_DB. Clears r. */
static int deleted_row(struct db_conn *t, struct request *req, PGresult *r, const char *table)
{
    json_t *item = PQntuples(r) == 1 ? row_json(r, 0, "item") : NULL;
    int rc = PQntuples(r) == 1 ? (item ? BOOKING_OK : BOOKING_DB) : BOOKING_NOT_FOUND;
    PQclear(r);
    if (rc == BOOKING_OK)
        rc = audit_commit(t, req, AUDIT_ACTION_DELETE, table, id_of(item), item, NULL);
    json_decref(item);
    if (rc != BOOKING_OK)
        db_rollback(t);
    return rc;
}

/* Locks session id until the transaction ends. BOOKING_OK, BOOKING_NOT_FOUND (err says so)
 * or BOOKING_DB. */
static int session_locked(struct db_conn *t, const char *id, struct booking_error *err)
{
    int found = has_row(t, sql_session_lock, id);
    if (found < 0)
        return BOOKING_DB;
    if (found)
        return BOOKING_OK;
    set_error(err, "not_found", "No such session");
    return BOOKING_NOT_FOUND;
}

/* BOOKING_OK when engineer_id (if any) is an active user of this studio. */
static int engineer_check(struct db_conn *t, const char *engineer_id, struct booking_error *err)
{
    int ok = engineer_id ? has_row(t, sql_engineer_ok, engineer_id) : 1;
    if (ok < 0)
        return BOOKING_DB;
    if (ok)
        return BOOKING_OK;
    set_field(err, "engineer_id", "Not an active user of this studio");
    return BOOKING_INVALID;
}

/* ---- bookings ----------------------------------------------------------------------------- */

int booking_staff_list(const struct tenant *tn, struct db_conn *t,
                       const struct booking_staff_filter *f, json_t **out)
{
    const char *paid = f->paid < 0 ? NULL : f->paid ? "true" : "false";
    const char *p[] = {tn->timezone, f->statuses, f->room_id, f->from, f->to, f->q_pattern, paid};
    return page_query(t, sql_bookings_count, 7, p, sql_bookings_page[f->sort], 7, p, f->limit,
                      f->offset, out);
}

/* ---- studio sessions ---------------------------------------------------------------------- */

int booking_staff_convert(const struct tenant *tn, struct db_conn *t, struct request *req,
                          const char *booking_id, const char *engineer_id, const char *notes,
                          json_t **out, struct booking_error *err)
{
    *out = NULL;
    if (db_begin(t) != 0)
        return fail_db(t, err);
    const char *pb[] = {booking_id};
    PGresult *r = db_exec(t, sql_booking_lock, 1, pb, NULL);
    if (!r)
        return fail_db(t, err);
    if (PQntuples(r) == 0) {
        PQclear(r);
        db_rollback(t);
        set_error(err, "not_found", "No such booking");
        return BOOKING_NOT_FOUND;
    }
    bool converted = strcmp(db_get(r, 0, "converted"), "t") == 0;
    bool confirmed = strcmp(db_get(r, 0, "status"), "confirmed") == 0;
    PQclear(r);
    if (converted || !confirmed) {
        db_rollback(t);
        if (converted)
            set_error(err, "already_converted", "This booking is already a studio session");
        else
            set_error(err, "not_confirmed", "Only a confirmed booking can become a session");
        return BOOKING_WRONG_STATE;
    }
    int rc = engineer_check(t, engineer_id, err);
    if (rc != BOOKING_OK) {
        if (rc == BOOKING_DB)
            return fail_db(t, err);
        db_rollback(t);
        return rc;
    }
    const char *pi[] = {booking_id, engineer_id, notes};
    r = db_exec(t, sql_session_insert, 3, pi, NULL);
    if (!r)
        return fail_db(t, err);
    /* The row lock above makes a concurrent conversion wait; ON CONFLICT is the backstop. */
    char session_id[40] = "";
    if (PQntuples(r) == 1)
        snprintf(session_id, sizeof(session_id), "%s", db_get(r, 0, "id"));
    PQclear(r);
    if (!session_id[0]) {
        db_rollback(t);
        set_error(err, "already_converted", "This booking is already a studio session");
        return BOOKING_WRONG_STATE;
    }
    if (booking_staff_session_get(tn, t, session_id, out) != BOOKING_OK ||
        audit_commit(t, req, AUDIT_ACTION_CREATE, "sessions", session_id, NULL, *out) !=
            BOOKING_OK) {
        json_decref(*out);
        *out = NULL;
        return fail_db(t, err);
    }
    return BOOKING_OK;
}

int booking_staff_sessions_list(const struct tenant *tn, struct db_conn *t,
                                const struct booking_staff_session_filter *f, json_t **out)
{
    const char *p[] = {tn->timezone, f->statuses, f->room_id, f->from, f->to};
    return page_query(t, sql_sessions_count, 5, p, sql_sessions_page, 5, p, f->limit, f->offset,
                      out);
}

/* The session of a sql_session_get row with "items" and "totals" added. */
static int session_with_totals(PGresult *r, json_t **out)
{
    json_t *s = row_json(r, 0, "session");
    json_t *items = row_json(r, 0, "items");
    const char *items_total = db_get(r, 0, "items_total");
    const char *price = db_get(r, 0, "price_amount");
    const char *currency = db_get(r, 0, "currency");
    errno = 0;
    long long it = items_total ? strtoll(items_total, NULL, 10) : 0;
    long long pr = price ? strtoll(price, NULL, 10) : 0;
    long long total;
    if (!s || !items || errno == ERANGE || __builtin_add_overflow(pr, it, &total)) {
        log_msg(LOG_ERROR, "booking staff: session totals out of range");
        json_decref(s);
        json_decref(items);
        return BOOKING_DB;
    }
    json_object_set_new(s, "items", items);
    json_object_set_new(s, "totals",
                        json_pack("{s:{s:I, s:s}, s:{s:I, s:s}, s:{s:I, s:s}}", "booking", "amount",
                                  (json_int_t)pr, "currency", currency, "items", "amount",
                                  (json_int_t)it, "currency", currency, "total", "amount",
                                  (json_int_t)total, "currency", currency));
    *out = s;
    return BOOKING_OK;
}

int booking_staff_session_get(const struct tenant *tn, struct db_conn *t, const char *id,
                              json_t **out)
{
    const char *p[] = {tn->timezone, id};
    PGresult *r = db_exec(t, sql_session_get, 2, p, NULL);
    if (!r)
        return BOOKING_DB;
    int rc = PQntuples(r) == 1 ? session_with_totals(r, out) : BOOKING_NOT_FOUND;
    PQclear(r);
    return rc;
}

int booking_staff_session_update(const struct tenant *tn, struct db_conn *t, struct request *req,
                                 const char *id, const struct booking_staff_session_change *ch,
                                 json_t **out, struct booking_error *err)
{
    *out = NULL;
    if (db_begin(t) != 0)
        return fail_db(t, err);
    int rc = session_locked(t, id, err);
    if (rc == BOOKING_OK)
        rc = engineer_check(t, ch->set_engineer ? ch->engineer_id : NULL, err);
    if (rc != BOOKING_OK) {
        if (rc == BOOKING_DB)
            return fail_db(t, err);
        db_rollback(t);
        return rc;
    }
    json_t *before = NULL;
    if (booking_staff_session_get(tn, t, id, &before) != BOOKING_OK)
        return fail_db(t, err);
#define FLAG(b) ((b) ? "true" : "false")
    const char *p[] = {id,
                       FLAG(ch->set_engineer),
                       ch->engineer_id,
                       ch->notes,
                       FLAG(ch->set_checked_in),
                       ch->checked_in_at,
                       FLAG(ch->check_in),
                       FLAG(ch->set_checked_out),
                       ch->checked_out_at,
                       FLAG(ch->check_out),
                       ch->status};
#undef FLAG
    const char *state = NULL;
    PGresult *r = db_exec(t, sql_session_update, 11, p, &state);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        json_decref(before);
        if (state && strcmp(state, SQLSTATE_CHECK_VIOLATION) == 0) {
            db_rollback(t);
            set_field(err, "checked_out_at", "Must not be before checked_in_at");
            return BOOKING_INVALID;
        }
        return fail_db(t, err); /* the row is locked: it is there */
    }
    /* The table's CHECK passes a check-out without a check-in (NULL): refused here. */
    bool out_before_in = strcmp(db_get(r, 0, "out_before_in"), "t") == 0;
    PQclear(r);
    if (out_before_in) {
        json_decref(before);
        db_rollback(t);
        set_field(err, ch->check_out ? "check_out" : "checked_out_at", "Check in first");
        return BOOKING_INVALID;
    }
    rc = booking_staff_session_get(tn, t, id, out);
    if (rc == BOOKING_OK)
        rc = audit_commit(t, req, AUDIT_ACTION_UPDATE, "sessions", id_of(*out), before, *out);
    json_decref(before);
    if (rc != BOOKING_OK) {
        json_decref(*out);
        *out = NULL;
        return fail_db(t, err);
    }
    return BOOKING_OK;
}

int booking_staff_item_add(const struct tenant *tn, struct db_conn *t, struct request *req,
                           const char *session_id, const char *description, int quantity,
                           int64_t unit_amount, json_t **out, struct booking_error *err)
{
    char qty[16], unit[24];
    snprintf(qty, sizeof(qty), "%d", quantity);
    snprintf(unit, sizeof(unit), "%lld", (long long)unit_amount);
    *out = NULL;
    if (db_begin(t) != 0)
        return fail_db(t, err);
    /* The session's row lock serialises adds, so the count below is a real bound. */
    int rc = session_locked(t, session_id, err);
    if (rc != BOOKING_OK) {
        if (rc == BOOKING_DB)
            return fail_db(t, err);
        db_rollback(t);
        return rc;
    }
    const char *ps[] = {session_id};
    PGresult *r = db_exec(t, sql_items_count, 1, ps, NULL);
    if (!r)
        return fail_db(t, err);
    long long n = count_of(r);
    PQclear(r);
    if (n >= BOOKING_STAFF_ITEMS_MAX) {
        db_rollback(t);
        set_error(err, "too_many_items", "This session has as many items as it may have");
        return BOOKING_WRONG_STATE;
    }
    const char *pi[] = {session_id, description, qty, unit};
    r = db_exec(t, sql_item_insert, 4, pi, NULL);
    json_t *item = r && PQntuples(r) == 1 ? row_json(r, 0, "item") : NULL;
    PQclear(r);
    if (!item || db_run(t, sql_session_touch, 1, ps) != 0 ||
        booking_staff_session_get(tn, t, session_id, out) != BOOKING_OK ||
        audit_commit(t, req, AUDIT_ACTION_CREATE, "session_items", id_of(item), NULL, item) !=
            BOOKING_OK) {
        json_decref(item);
        json_decref(*out);
        *out = NULL;
        return fail_db(t, err);
    }
    json_decref(item);
    return BOOKING_OK;
}

int booking_staff_item_delete(struct db_conn *t, struct request *req, const char *session_id,
                              const char *item_id)
{
    struct booking_error err = {0}; /* the caller names what was not found */
    if (db_begin(t) != 0)
        return fail_db(t, &err);
    int rc = session_locked(t, session_id, &err);
    if (rc != BOOKING_OK) {
        db_rollback(t);
        return rc;
    }
    const char *p[] = {session_id, item_id};
    PGresult *r = db_exec(t, sql_item_delete, 2, p, NULL);
    if (!r)
        return fail_db(t, &err);
    if (PQntuples(r) == 1 && db_run(t, sql_session_touch, 1, p) != 0) {
        PQclear(r);
        return fail_db(t, &err);
    }
    return deleted_row(t, req, r, "session_items");
}

/* ---- customers ---------------------------------------------------------------------------- */

int booking_staff_customers_list(const struct tenant *tn, struct db_conn *t, const char *q_pattern,
                                 int limit, int offset, json_t **out)
{
    const char *p[] = {tn->timezone, q_pattern};
    return page_query(t, sql_customers_count, 1, p + 1, sql_customers_page, 2, p, limit, offset,
                      out);
}

int booking_staff_customer_get(const struct tenant *tn, struct db_conn *t, const char *id,
                               json_t **out)
{
    char max[16];
    snprintf(max, sizeof(max), "%d", BOOKING_STAFF_HISTORY_MAX);
    const char *p[] = {tn->timezone, id, max};
    PGresult *r = db_exec(t, sql_customer_get, 2, p, NULL);
    if (!r)
        return BOOKING_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return BOOKING_NOT_FOUND;
    }
    json_t *customer = row_json(r, 0, "item");
    PQclear(r);
    if (!customer)
        return BOOKING_DB;
    json_t *history = items_of(t, sql_customer_history, 3, p);
    if (!history) {
        json_decref(customer);
        return BOOKING_DB;
    }
    json_object_set_new(customer, "bookings", history);
    *out = customer;
    return BOOKING_OK;
}

/* ---- calendar feeds ----------------------------------------------------------------------- */

int booking_staff_feed_create(const struct tenant *tn, struct db_conn *t, struct request *req,
                              const char *room_id, const char *token_hash, json_t **out,
                              struct booking_error *err)
{
    *out = NULL;
    if (db_begin(t) != 0)
        return fail_db(t, err);
    int room_ok = room_id ? has_row(t, sql_room_ok, room_id) : 1;
    if (room_ok < 0)
        return fail_db(t, err);
    if (!room_ok) {
        db_rollback(t);
        set_field(err, "room_id", "No such room");
        return BOOKING_INVALID;
    }
    const char *p[] = {tn->timezone, room_id, token_hash};
    const char *state = NULL;
    PGresult *r = db_exec(t, sql_feed_insert, 3, p, &state);
    if (!r) {
        if (state && strcmp(state, SQLSTATE_FK_VIOLATION) == 0) { /* the room went meanwhile */
            db_rollback(t);
            set_field(err, "room_id", "No such room");
            return BOOKING_INVALID;
        }
        return fail_db(t, err);
    }
    *out = PQntuples(r) == 1 ? row_json(r, 0, "item") : NULL;
    PQclear(r);
    if (!*out || audit_commit(t, req, AUDIT_ACTION_CREATE, "calendar_feeds", id_of(*out), NULL,
                              *out) != BOOKING_OK) {
        json_decref(*out);
        *out = NULL;
        return fail_db(t, err);
    }
    return BOOKING_OK;
}

int booking_staff_feeds_list(const struct tenant *tn, struct db_conn *t, json_t **out)
{
    const char *p[] = {tn->timezone};
    json_t *items = items_of(t, sql_feeds_list, 1, p);
    if (!items)
        return BOOKING_DB;
    *out = json_pack("{s:o}", "items", items);
    return BOOKING_OK;
}

int booking_staff_feed_delete(struct db_conn *t, struct request *req, const char *id)
{
    const char *p[] = {id};
    if (db_begin(t) != 0)
        return BOOKING_DB;
    PGresult *r = db_exec(t, sql_feed_delete, 1, p, NULL);
    if (!r) {
        db_rollback(t);
        return BOOKING_DB;
    }
    return deleted_row(t, req, r, "calendar_feeds");
}

int booking_staff_feed_ics(struct arena *a, const struct tenant *tn, struct db_conn *t,
                           const char *token_hash, const char *uid_domain, const char **ics,
                           size_t *len)
{
    const char *pt[] = {token_hash};
    PGresult *r = db_exec(t, sql_feed_by_token, 1, pt, NULL);
    if (!r)
        return BOOKING_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return BOOKING_NOT_FOUND;
    }
    const char *room_id = db_get_dup(a, r, 0, "room_id");
    const char *room_name = db_get_dup(a, r, 0, "room_name");
    PQclear(r);

    const char *pe[] = {room_id};
    r = db_exec(t, sql_feed_events, 1, pe, NULL);
    if (!r)
        return BOOKING_DB;
    struct buf out;
    buf_init(&out, a);
    ics_line(&out, "BEGIN", "VCALENDAR");
    ics_line(&out, "VERSION", "2.0");
    ics_line(&out, "PRODID", "-//studiod//Bookings//EN");
    ics_line(&out, "CALSCALE", "GREGORIAN");
    ics_line(&out, "METHOD", "PUBLISH");
    struct buf name;
    buf_init(&name, a);
    ics_text(&name, tn->name);
    if (room_name) {
        buf_puts(&name, " \xe2\x80\x94 "); /* an em dash */
        ics_text(&name, room_name);
    }
    ics_line(&out, "X-WR-CALNAME", buf_cstr(&name));
    for (int i = 0; i < PQntuples(r); i++) {
        struct buf v;
        ics_line(&out, "BEGIN", "VEVENT");
        buf_init(&v, a);
        ics_text(&v, db_get(r, i, "ref"));
        buf_printf(&v, "@%s", uid_domain);
        ics_line(&out, "UID", buf_cstr(&v));
        ics_line(&out, "DTSTAMP", db_get(r, i, "stamp"));
        ics_line(&out, "DTSTART", db_get(r, i, "dtstart"));
        ics_line(&out, "DTEND", db_get(r, i, "dtend"));
        buf_init(&v, a);
        ics_text(&v, db_get(r, i, "room"));
        buf_puts(&v, ": ");
        ics_text(&v, db_get(r, i, "customer"));
        ics_line(&out, "SUMMARY", buf_cstr(&v));
        buf_init(&v, a);
        buf_puts(&v, "Booking ");
        ics_text(&v, db_get(r, i, "ref"));
        ics_line(&out, "DESCRIPTION", buf_cstr(&v));
        ics_line(&out, "STATUS",
                 strcmp(db_get(r, i, "status"), "pending") == 0 ? "TENTATIVE" : "CONFIRMED");
        ics_line(&out, "END", "VEVENT");
    }
    PQclear(r);
    ics_line(&out, "END", "VCALENDAR");
    *ics = buf_cstr(&out);
    *len = out.len;
    return BOOKING_OK;
}

/* ---- iCalendar text (RFC 5545) ------------------------------------------------------------ */

/* Appends "NAME:value" (value already escaped) as one folded content line ending in CRLF. */
static void ics_line(struct buf *out, const char *name, const char *value)
{
    struct buf line;
    buf_init(&line, out->arena);
    buf_puts(&line, name);
    buf_puts(&line, ":");
    buf_puts(&line, value);
    ics_fold(out, line.data, line.len);
}

/* s escaped as a TEXT value (3.3.11): \ ; , escaped, line breaks as \n, other controls as
 * spaces. */
static void ics_text(struct buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case ';':
            buf_puts(b, "\\;");
            break;
        case ',':
            buf_puts(b, "\\,");
            break;
        case '\r':
            if (p[1] == '\n')
                p++;
            /* fall through */
        case '\n':
            buf_puts(b, "\\n");
            break;
        default:
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                buf_puts(b, " ");
            else
                buf_append(b, p, 1);
        }
    }
}

/* Folds at ICS_LINE_OCTETS octets (3.1): CRLF and one space, never inside a UTF-8 sequence.
 * The leading space of a continuation counts towards its line. */
static void ics_fold(struct buf *out, const char *line, size_t len)
{
    size_t col = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_len((unsigned char)line[i]);
        if (k > len - i)
            k = len - i;
        if (col + k > ICS_LINE_OCTETS) {
            buf_append(out, "\r\n ", 3);
            col = 1;
        }
        buf_append(out, line + i, k);
        col += k;
        i += k;
    }
    buf_append(out, "\r\n", 2);
}

/* Octets of the UTF-8 sequence a lead byte opens (1 for anything that is not a lead). */
static size_t utf8_len(unsigned char lead)
{
    if (lead >= 0xf0 && lead <= 0xf4)
        return 4;
    if (lead >= 0xe0)
        return lead <= 0xef ? 3 : 1;
    if (lead >= 0xc2)
        return 2;
    return 1;
}
