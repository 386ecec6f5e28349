/*
 * booking.c — the rules and SQL of a booking's life: made (public or by
 * staff), read, confirmed, moved, cancelled with its refund, expired when
 * an unpaid hold runs out; and the two background jobs that go with them.
 *
 * The promise: no two active holds on a room overlap. The exclusion
 * constraint bookings_no_overlap (migrations/tenant/0002) is the guarantee,
 * for every writer, whatever the interleaving: an INSERT or UPDATE that
 * would overlap fails with SQLSTATE 23P01 and becomes 409 slot_taken. The
 * SELECT that finds the conflicting booking's times is only for a good
 * message; it decides nothing. A hold is [starts_at, ends_at + buffer) with
 * the room's buffer at the time of writing.
 *
 * A new booking costs few round trips (it is the busiest write). Its room,
 * policy and price rules come from a per-process copy (booking_rooms_cache,
 * dropped by any staff change); the time rules and the pricing pieces are
 * one read. Then the bookings of the studio that arrive together are written
 * together (combine.h, insert_batch): one transaction in two pipelined round
 * trips, BEGIN + one insert for them all answering the stored rows + the
 * audit chain lock, then their audit entries + COMMIT, with at most
 * BOOKING_BATCH_LEADERS such transactions of one studio at a time. Under
 * load this turns many short transactions that queue for the studio's audit
 * chain into a few that hold it once; alone, a booking is its own batch.
 * The insert goes first and the constraint decides; a booking the batch did
 * not store (overlap, ref collision, any failure of the batch) goes the
 * careful way on its own (expire run-out holds, find the conflict for the
 * message, insert again). Its mail is queued after the commit, with the
 * mails of other bookings made at that moment (one outbox statement).
 *
 * Decisions (DESIGN.md leaves them to the module):
 *   - Status. A deposit due → 'pending' with hold_expires_at = now() +
 *     hold_minutes and a "booking_expire_hold" job due then. No deposit →
 *     'confirmed' when the studio auto-confirms, else 'pending' without
 *     expiry until staff confirm. Bookings made by staff are confirmed
 *     unless a deposit is due (skip_deposit waives it).
 *   - Holds that ran out are also expired lazily, for the room, when a new
 *     booking meets one (the constraint refused it) and before a move checks
 *     for conflicts: a late or lost job never keeps a slot blocked
 *     (availability already treats them as free).
 *   - Refs: crypto_ref, 11 symbols of 31 (54.5 bits), retried on the
 *     unlikely unique violation. Refs are upper-case; lookups upper-case
 *     what the customer typed (booking_public_routes.c).
 *   - Manage tokens: 24 random bytes; only SHA-256(token) is stored, so the
 *     raw token exists once, in the creation reply and the first mail.
 *   - Customers are one per lower(email); a booking made updates the name,
 *     and the phone unless the new one is empty. The customer and the
 *     booking are one statement (sql_insert); a refused booking changes no
 *     existing customer, and a customer created for a booking that could not
 *     be stored is removed in the same transaction, so a refused booking
 *     leaves nothing behind.
 *   - With nothing paid the refund is 0, but the rule that applies now is
 *     still named (pricing_refund names none for 0, so it is asked with a
 *     nominal amount).
 *   - Search by e-mail never lists bookings: it queues the job
 *     "booking_search_mail", which mails the address a NEW manage link for
 *     each upcoming active booking (the old hash is replaced: older links
 *     stop working, the safe choice since nobody holds the old tokens in
 *     clear) and sends nothing when there is none. Doing it in a job keeps
 *     the HTTP answer identical in content and in timing.
 *   - Cancelling by ref (the customer) needs a booking that has not ended;
 *     staff may cancel any pending or confirmed booking and may set the
 *     refund (at most what was paid).
 *   - A move recomputes the price (unless keep_price) but not the deposit.
 *   - Mails and jobs live in the master database, bookings in the studio's:
 *     they are queued in one master statement or transaction after the
 *     booking's change committed, so no mail ever announces a change that rolled back. If the
 *     master is down then, the booking stands without its mail (logged).
 *   - Audit. Every change is one transaction that ends with its audit entry
 *     (audit.h, resource "bookings", the staff representation before and
 *     after) and then commits (audit_commit): no entry, no change. Actions:
 *     create, confirm, move, cancel (after.refund_amount: the refund in
 *     minor units, which the risk rules read), expire (the system: the job,
 *     or a hold found run out on the way, see above, whose entries go with
 *     the change that noticed it), and update for the manage tokens the
 *     search mail replaces (after {"manage_token": "rotated"}, which the log
 *     stores redacted). A create inserts (and, the careful way, locks the
 *     room's run-out holds first); a move locks its booking, then the
 *     run-out holds; the audit chain is always the last lock taken.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking_internal.h"
#include "studiod/audit.h"
#include "studiod/combine.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/jobs.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/money.h"
#include "studiod/payments.h"
#include "studiod/pricing.h"
#include "studiod/tenant.h"

#define JOB_EXPIRE_HOLD "booking_expire_hold"
#define JOB_SEARCH_MAIL "booking_search_mail"
#define JOB_ATTEMPTS 5
#define AUDIT_RESOURCE "bookings"
#define ACTION_CONFIRM "confirm"
#define ACTION_MOVE "move"
#define ACTION_EXPIRE "expire"

/* clang-format off */
/* Every column struct booking_row holds, of b (bookings), r (rooms) and c (customers);
 * z is the parameter with the studio's zone. */
#define ROW_COLUMNS(z)                                                                             \
    "SELECT b.id, b.ref, b.status, b.source, b.room_id, r.name AS room_name,"                      \
    " " BOOKING_SQL_RFC3339("b.starts_at", z) " AS starts_at,"                            \
    " " BOOKING_SQL_RFC3339("b.ends_at", z) " AS ends_at,"                                \
    " to_char(b.starts_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"') AS ics_start,"         \
    " to_char(b.ends_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"') AS ics_end,"             \
    " to_char(b.starts_at AT TIME ZONE " z ", 'FMDay FMDD FMMonth YYYY') AS local_day,"         \
    " to_char(b.starts_at AT TIME ZONE " z ", 'HH24:MI') AS local_start,"                       \
    " to_char(b.ends_at AT TIME ZONE " z ", 'HH24:MI') AS local_end,"                           \
    " b.price_amount, b.deposit_amount, b.paid_amount, b.refund_amount, b.refund_rule,"            \
    " b.currency, b.notes, b.staff_notes,"                                                         \
    " " BOOKING_SQL_RFC3339("b.hold_expires_at", z) " AS hold_expires_at,"                \
    " to_char(b.hold_expires_at AT TIME ZONE " z ", 'FMDay FMDD FMMonth YYYY, HH24:MI')"        \
    "   AS hold_expires_local,"                                                                    \
    " " BOOKING_SQL_RFC3339("b.confirmed_at", z) " AS confirmed_at,"                      \
    " " BOOKING_SQL_RFC3339("b.cancelled_at", z) " AS cancelled_at,"                      \
    " b.cancel_reason, b.created_by,"                                                              \
    " " BOOKING_SQL_RFC3339("b.created_at", z) " AS created_at,"                          \
    " " BOOKING_SQL_RFC3339("b.updated_at", z) " AS updated_at,"                          \
    " c.id AS customer_id, c.name AS customer_name, c.email AS customer_email,"                    \
    " c.phone AS customer_phone,"                                                                  \
    " floor(extract(epoch FROM b.starts_at - now()))::bigint AS seconds_before_start,"             \
    " b.ends_at <= now() AS over"
/* ROW_COLUMNS of one booking; $2 is the studio's zone. */
#define ROW_SELECT                                                                                 \
    ROW_COLUMNS("$2::text")                                                                        \
    " FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN customers c ON c.id = b.customer_id"

static const char sql_row_by_id[] = ROW_SELECT " WHERE b.id = $1::uuid";
static const char sql_row_by_ref[] = ROW_SELECT " WHERE b.ref = $1";
static const char sql_row_by_id_locked[] = ROW_SELECT " WHERE b.id = $1::uuid FOR UPDATE OF b";
static const char sql_row_by_ref_locked[] = ROW_SELECT " WHERE b.ref = $1 FOR UPDATE OF b";

/* Holds that ran out, on one room: expired before a conflict check (see the top). */
static const char sql_expire_room_holds[] =
    "UPDATE bookings SET status = 'expired', updated_at = now()"
    " WHERE room_id = $1::uuid AND status = 'pending' AND hold_expires_at <= now()"
    " RETURNING id";

/* The first active booking whose hold meets [$2, $3 + buffer $4) on room $1, other than
 * booking $6; its times in zone $5. The same test as bookings_no_overlap. */
static const char sql_conflict[] =
    "SELECT to_char(b.starts_at AT TIME ZONE $5::text, 'HH24:MI') AS local_start,"
    "       to_char(b.ends_at AT TIME ZONE $5::text, 'HH24:MI') AS local_end"
    "  FROM bookings b"
    " WHERE b.room_id = $1::uuid AND b.status IN ('pending', 'confirmed')"
    "   AND b.hold && tstzrange($2::timestamptz, $3::timestamptz + make_interval(mins => $4::int))"
    "   AND ($6::uuid IS NULL OR b.id <> $6::uuid)"
    " ORDER BY b.starts_at LIMIT 1";

/* The booking ($1, $2) cut into $4-minute pieces in zone $3 (BOOKING_SQL_SEGMENTS), when
 * booking_check_times did not work them out. */
static const char sql_segments[] =
    "SELECT " BOOKING_SQL_SEGMENTS("$1::timestamptz", "$2::timestamptz", "$3::text", "$4::int")
    " AS segments";

/* New bookings with their customers, in one statement. $1 is a JSON array of
 * insert_item()s, each with its position n; $2 the studio's zone. The items' customers
 * (one per lower(email)) that the studio does not have yet are created (with the name, and
 * the phone unless empty, of the item last in the array); then the bookings are inserted
 * in array order: one whose hold overlaps an active one (the exclusion constraint, also
 * against an earlier item) or whose ref is taken is skipped (ON CONFLICT DO NOTHING,
 * without a target: every constraint), so the others stand; then the customers the
 * studio had take the name, and the phone unless empty, of their last item that was
 * stored: a refused booking changes no one's details. One row per item: n; the stored row
 * (ROW_COLUMNS, the customer as it now stands) or NULLs; and, for a skipped item whose
 * customer this statement created, that customer's id (orphan), which the caller removes
 * unless another item of the array booked for it. An item whose customer another
 * transaction is creating at the same moment is skipped too (that customer is not in
 * this statement's snapshot; the careful way's next statement sees it). */
static const char sql_insert[] =
    "WITH i AS ("
    "  SELECT * FROM json_to_recordset($1::json) AS x(n int, name text, email text, phone text,"
    "         ref text, room_id uuid, starts_at timestamptz, ends_at timestamptz,"
    "         buffer_minutes int, status text, source text, price_amount bigint,"
    "         deposit_amount bigint, currency text, notes text, token_hash text,"
    "         hold_minutes int, created_by uuid)),"
    " k AS ("
    "  SELECT lower(email) AS key, (array_agg(name ORDER BY n DESC))[1] AS name,"
    "         (array_agg(email ORDER BY n DESC))[1] AS email,"
    "         coalesce((array_agg(phone ORDER BY n DESC) FILTER (WHERE phone <> ''))[1], '')"
    "           AS phone"
    "    FROM i GROUP BY lower(email)),"
    " o AS (" /* the customers the studio has */
    "  SELECT cu.id, lower(cu.email) AS key, cu.name, cu.email, cu.phone FROM customers cu"
    "   WHERE lower(cu.email) = ANY (ARRAY(SELECT key FROM k))),"
    " n AS ("
    "  INSERT INTO customers (name, email, phone)"
    "  SELECT name, email, phone FROM k WHERE key NOT IN (SELECT key FROM o)"
    "  ON CONFLICT ((lower(email))) DO NOTHING"
    "  RETURNING id, lower(email) AS key, name, email, phone),"
    " cust AS ("
    "  SELECT id, key, name, email, phone, false AS created FROM o"
    "  UNION ALL SELECT id, key, name, email, phone, true FROM n),"
    " b AS ("
    "  INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold, status, source,"
    "                        price_amount, deposit_amount, currency, notes, manage_token_hash,"
    "                        hold_expires_at, confirmed_at, created_by)"
    "  SELECT i.ref, i.room_id, cust.id, i.starts_at, i.ends_at,"
    "         tstzrange(i.starts_at, i.ends_at + make_interval(mins => i.buffer_minutes)),"
    "         i.status, i.source, i.price_amount, i.deposit_amount, i.currency, i.notes,"
    "         i.token_hash,"
    "         CASE WHEN i.hold_minutes > 0 THEN now() + make_interval(mins => i.hold_minutes) END,"
    "         CASE WHEN i.status = 'confirmed' THEN now() END,"
    "         i.created_by"
    "    FROM i JOIN cust ON cust.key = lower(i.email)"
    "   ORDER BY i.n"
    "  ON CONFLICT DO NOTHING"
    "  RETURNING *),"
    " s AS (" /* each customer's last item stored */
    "  SELECT DISTINCT ON (lower(i.email)) lower(i.email) AS key, i.name, i.phone"
    "    FROM i JOIN b ON b.ref = i.ref ORDER BY lower(i.email), i.n DESC),"
    " u AS ("
    "  UPDATE customers cu"
    "     SET name = s.name, phone = CASE WHEN s.phone <> '' THEN s.phone ELSE cu.phone END,"
    "         updated_at = now()"
    "    FROM o JOIN s ON s.key = o.key"
    "   WHERE cu.id = o.id"
    "     AND (cu.name IS DISTINCT FROM s.name"
    "          OR (s.phone <> '' AND cu.phone IS DISTINCT FROM s.phone))"
    "  RETURNING cu.id, cu.name, cu.phone),"
    " now_c AS (" /* the customers as they now stand */
    "  SELECT cust.id, cust.key, cust.email, cust.created,"
    "         coalesce(u.name, cust.name) AS name, coalesce(u.phone, cust.phone) AS phone"
    "    FROM cust LEFT JOIN u ON u.id = cust.id)"
    " " ROW_COLUMNS("$2::text") ", i.n AS item,"
    " CASE WHEN b.id IS NULL AND c.created THEN c.id END AS orphan"
    " FROM i LEFT JOIN now_c c ON c.key = lower(i.email)"
    " LEFT JOIN b ON b.ref = i.ref LEFT JOIN rooms r ON r.id = b.room_id"
    " ORDER BY i.n";
/* Customers an insert created for bookings it could not store ($1: a uuid[] literal), unless
 * a booking came for them after all. */
static const char sql_drop_orphans[] =
    "DELETE FROM customers c WHERE c.id = ANY($1::uuid[])"
    "   AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.customer_id = c.id)";

static const char sql_cancel[] =
    "UPDATE bookings SET status = 'cancelled', cancelled_at = now(), refund_amount = $2::bigint,"
    "       refund_rule = $3, cancel_reason = $4, hold_expires_at = NULL, updated_at = now()"
    " WHERE id = $1::uuid";

static const char sql_confirm[] =
    "UPDATE bookings SET status = 'confirmed', confirmed_at = now(), hold_expires_at = NULL,"
    "       updated_at = now()"
    " WHERE id = $1::uuid AND status = 'pending'";

static const char sql_move[] =
    "UPDATE bookings SET room_id = $2::uuid, starts_at = $3::timestamptz, ends_at = $4::timestamptz,"
    "       hold = tstzrange($3::timestamptz, $4::timestamptz + make_interval(mins => $5::int)),"
    "       price_amount = coalesce($6::bigint, price_amount),"
    "       currency = CASE WHEN $6::bigint IS NULL THEN currency ELSE $7 END,"
    "       updated_at = now()"
    " WHERE id = $1::uuid AND status IN ('pending', 'confirmed')"
    " RETURNING id";

static const char sql_expire[] =
    "UPDATE bookings SET status = 'expired', updated_at = now()"
    " WHERE id = $1::uuid AND status = 'pending' AND hold_expires_at <= now()"
    " RETURNING id";

/* Seconds left on a pending hold that has not run out (a job that came early or a hold
 * that was extended): the job is queued again for then. */
static const char sql_hold_left[] =
    "SELECT ceil(extract(epoch FROM hold_expires_at - now()))::int AS seconds"
    "  FROM bookings WHERE id = $1::uuid AND status = 'pending' AND hold_expires_at > now()";

static const char sql_token_hash[] = "SELECT manage_token_hash FROM bookings WHERE ref = $1";

static const char sql_session[] =
    "SELECT json_build_object('id', s.id, 'status', s.status, 'engineer_id', s.engineer_id,"
    "         'notes', s.notes,"
    "         'checked_in_at', " BOOKING_SQL_RFC3339("s.checked_in_at", "$2::text") ","
    "         'checked_out_at', " BOOKING_SQL_RFC3339("s.checked_out_at", "$2::text") ")::text"
    "         AS session"
    "  FROM studio_sessions s WHERE s.booking_id = $1::uuid";

static const char sql_public_rooms[] =
    "SELECT coalesce(json_agg(json_build_object("
    "         'id', id, 'name', name, 'description', description, 'capacity', capacity,"
    "         'hourly_rate', hourly_rate, 'currency', $1::text, 'equipment', equipment,"
    "         'color', color, 'photo_url', photo_url) ORDER BY lower(name), id), '[]')::text"
    "         AS rooms"
    "  FROM rooms WHERE active AND archived_at IS NULL";

/* Upcoming active bookings of one customer, for the search mail. */
static const char sql_search[] =
    "SELECT b.id, b.ref, b.status, r.name AS room_name,"
    "       to_char(b.starts_at AT TIME ZONE $2::text, 'FMDay FMDD FMMonth YYYY') AS local_day,"
    "       to_char(b.starts_at AT TIME ZONE $2::text, 'HH24:MI') AS local_start,"
    "       to_char(b.ends_at AT TIME ZONE $2::text, 'HH24:MI') AS local_end"
    "  FROM bookings b JOIN customers c ON c.id = b.customer_id JOIN rooms r ON r.id = b.room_id"
    " WHERE lower(c.email) = lower($1) AND b.status IN ('pending', 'confirmed')"
    "   AND NOT (b.status = 'pending' AND b.hold_expires_at <= now())"
    "   AND b.ends_at > now()"
    " ORDER BY b.starts_at LIMIT $3::int";

static const char sql_set_token[] =
    "UPDATE bookings SET manage_token_hash = $2, updated_at = now() WHERE id = $1::uuid";

/* clang-format on */

/* The holds a change expired on its way (expire_room_holds): audited with the change, at
 * the end of its transaction. The ids live in the change's arena. */
struct expired_holds {
    const char **ids;
    int n;
};

/* What a new booking is stored as: the rules' verdict on it (booking_create_at). */
struct new_booking {
    const char *status; /* pending or confirmed */
    int64_t price, deposit;
    int hold_minutes;  /* > 0: the hold ends then (a deposit is due) */
    const char *token; /* the manage token, in clear: only its hash is stored */
};

static int row_load(struct arena *a, const struct tenant *tn, struct db_conn *t, const char *key,
                    bool by_id, bool lock, struct booking_row *row);
static void row_from(struct arena *a, PGresult *r, int i, struct booking_row *row);
static json_t *money_json(int64_t amount, const char *currency);
static json_t *refund_json(const struct booking_row *b);
static json_t *row_public_json(const struct booking_row *b, bool full);
static json_t *row_staff_json(const struct booking_row *b);
static size_t utf8_chars(const char *s);
static bool has_control(const char *s);
static void check_customer(const struct booking_input *in, json_t *fields);
static int expire_room_holds(struct arena *a, struct db_conn *t, const char *room_id,
                             struct expired_holds *ex);
static int audit_booking(struct db_conn *t, struct request *req, const char *action, const char *id,
                         json_t *before, json_t *after);
static int audit_expired(struct db_conn *t, const struct expired_holds *ex);
static int audit_commit(struct db_conn *t, struct request *req, const struct expired_holds *ex,
                        const char *action, const char *id, json_t *before, json_t *after);
static void conflict_error(struct arena *a, const struct tenant *tn, struct db_conn *t,
                           const struct room_info *room, const char *starts, const char *ends,
                           int buffer, const char *except_id, struct booking_error *err);
static int check_free(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      const struct room_info *room, const struct booking_times *tm, int buffer,
                      const char *except_id, struct expired_holds *ex, struct booking_error *err);
static void new_booking_terms(struct arena *a, const struct booking_input *in,
                              const struct booking_policy *pol, int64_t price,
                              struct new_booking *nb);
static int create_in_tx(struct arena *a, const struct tenant *tn, struct db_conn *t,
                        struct request *req, const struct booking_input *in,
                        const struct room_info *room, const struct booking_policy *pol,
                        const struct booking_times *tm, const struct new_booking *nb,
                        struct booking_row *b, struct booking_error *err);
static int move_apply(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct request *req, const struct booking_row *cur,
                      const struct room_info *room, const struct booking_policy *pol,
                      const struct booking_times *tm, bool keep_price, json_t **out,
                      struct booking_error *err);
static int price_of(struct arena *a, const struct tenant *tn, struct db_conn *t,
                    const struct room_info *room, const struct booking_times *tm, int64_t *price);
static int load_room_and_policy(const struct tenant *tn, struct db_conn *t, const char *room_id,
                                struct room_info *room, struct booking_policy *pol, json_t *fields);
static void queue_after_create(struct arena *a, const struct tenant *tn, struct db_conn *m,
                               const struct booking_row *b, int hold_minutes, const char *link);
static void queue_mail(struct arena *a, const struct tenant *tn, struct db_conn *m,
                       const struct booking_row *b, enum booking_mail_kind kind);
static int invalid(struct booking_error *err, json_t *fields);
static int run_expire_hold(json_t *payload, char *err, size_t errlen);
static int run_search_mail(json_t *payload, char *err, size_t errlen);
static int search_mail(struct arena *a, struct db_conn *m, struct db_conn *t,
                       const struct tenant *tn, const char *email, const char *studio_url);

const struct job_kind booking_job_kinds[] = {
    {JOB_EXPIRE_HOLD, run_expire_hold, JOB_ATTEMPTS},
    {JOB_SEARCH_MAIL, run_search_mail, JOB_ATTEMPTS},
    {0},
};

/* ---- small helpers ----------------------------------------------------------------- */

void booking_set_error(struct booking_error *err, const char *code, const char *message)
{
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->message, sizeof(err->message), "%s", message);
}

static int invalid(struct booking_error *err, json_t *fields)
{
    err->fields = fields;
    booking_set_error(err, "invalid_input", "Some fields are not valid");
    return BOOKING_INVALID;
}

bool booking_is_uuid(const char *s)
{
    return http_uuid_valid(s);
}

bool booking_email_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > BOOKING_EMAIL_MAX || !at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f || *p == '<' || *p == '>' ||
            *p == ',' || *p == ';' || *p == '"' || *p == '\\' || *p == '(' || *p == ')')
            return false;
    return true;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static json_t *money_json(int64_t amount, const char *currency)
{
    return json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "currency", currency);
}

static json_t *refund_json(const struct booking_row *b)
{
    if (!b->has_refund)
        return json_null();
    return json_pack("{s:I, s:s, s:s?}", "amount", (json_int_t)b->refund, "currency", b->currency,
                     "rule", b->refund_rule);
}

/* ---- reading ------------------------------------------------------------------------- */

static void row_from(struct arena *a, PGresult *r, int i, struct booking_row *row)
{
    memset(row, 0, sizeof(*row));
#define S(f) row->f = db_get_dup(a, r, i, #f)
    S(id);
    S(ref);
    S(status);
    S(source);
    S(room_id);
    S(room_name);
    S(starts_at);
    S(ends_at);
    S(ics_start);
    S(ics_end);
    S(local_day);
    S(local_start);
    S(local_end);
    S(refund_rule);
    S(currency);
    S(notes);
    S(staff_notes);
    S(hold_expires_at);
    S(hold_expires_local);
    S(confirmed_at);
    S(cancelled_at);
    S(cancel_reason);
    S(created_by);
    S(created_at);
    S(updated_at);
    S(customer_id);
    S(customer_name);
    S(customer_email);
    S(customer_phone);
#undef S
    row->price = atoll(db_get(r, i, "price_amount"));
    row->deposit = atoll(db_get(r, i, "deposit_amount"));
    row->paid = atoll(db_get(r, i, "paid_amount"));
    const char *refund = db_get(r, i, "refund_amount");
    row->has_refund = refund != NULL;
    row->refund = refund ? atoll(refund) : 0;
    row->seconds_before_start = atoll(db_get(r, i, "seconds_before_start"));
    row->over = db_get(r, i, "over")[0] == 't';
}

/* One booking by id (checked to be a uuid) or ref. 0, BOOKING_NOT_FOUND or BOOKING_DB. */
static int row_load(struct arena *a, const struct tenant *tn, struct db_conn *t, const char *key,
                    bool by_id, bool lock, struct booking_row *row)
{
    if (by_id && !booking_is_uuid(key))
        return BOOKING_NOT_FOUND;
    if (!by_id && (!key || strlen(key) > BOOKING_REF_MAX))
        return BOOKING_NOT_FOUND;
    const char *sql = by_id ? (lock ? sql_row_by_id_locked : sql_row_by_id)
                            : (lock ? sql_row_by_ref_locked : sql_row_by_ref);
    const char *p[] = {key, tn->timezone};
    PGresult *r = db_exec(t, sql, 2, p, NULL);
    if (!r)
        return BOOKING_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return BOOKING_NOT_FOUND;
    }
    row_from(a, r, 0, row);
    PQclear(r);
    return BOOKING_OK;
}

static json_t *row_public_json(const struct booking_row *b, bool full)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "ref", b->ref, "status", b->status,
                          "starts_at", b->starts_at, "ends_at", b->ends_at, "room", "id",
                          b->room_id, "name", b->room_name);
    if (!full)
        return j;
    json_object_set_new(j, "customer",
                        json_pack("{s:s, s:s, s:s}", "name", b->customer_name, "email",
                                  b->customer_email, "phone", b->customer_phone));
    json_object_set_new(j, "notes", json_string(b->notes));
    json_object_set_new(j, "price", money_json(b->price, b->currency));
    json_object_set_new(j, "deposit", money_json(b->deposit, b->currency));
    json_object_set_new(j, "paid", money_json(b->paid, b->currency));
    json_object_set_new(j, "refund", refund_json(b));
    json_object_set_new(j, "hold_expires_at",
                        b->hold_expires_at ? json_string(b->hold_expires_at) : json_null());
    json_object_set_new(j, "cancelled_at",
                        b->cancelled_at ? json_string(b->cancelled_at) : json_null());
    json_object_set_new(j, "created_at", json_string(b->created_at));
    return j;
}

static json_t *row_staff_json(const struct booking_row *b)
{
    json_t *j = row_public_json(b, true);
    json_object_set_new(j, "id", json_string(b->id));
    json_object_set_new(j, "source", json_string(b->source));
    json_object_set_new(json_object_get(j, "customer"), "id", json_string(b->customer_id));
    json_object_set_new(j, "staff_notes", json_string(b->staff_notes));
    json_object_set_new(j, "confirmed_at",
                        b->confirmed_at ? json_string(b->confirmed_at) : json_null());
    json_object_set_new(j, "cancel_reason",
                        b->cancel_reason ? json_string(b->cancel_reason) : json_null());
    json_object_set_new(j, "created_by", b->created_by ? json_string(b->created_by) : json_null());
    json_object_set_new(j, "updated_at", json_string(b->updated_at));
    return j;
}

int booking_get_by_ref(struct arena *a, const struct tenant *tn, struct db_conn *t, const char *ref,
                       bool full, json_t **out)
{
    struct booking_row b;
    *out = NULL;
    int rc = row_load(a, tn, t, ref, false, false, &b);
    if (rc == BOOKING_OK)
        *out = row_public_json(&b, full);
    if (rc == BOOKING_OK && full)
        payments_booking_json(a, tn, t, b.id, false, *out);
    return rc;
}

int booking_get(struct arena *a, const struct tenant *tn, struct db_conn *t, const char *id,
                json_t **out)
{
    struct booking_row b;
    *out = NULL;
    int rc = row_load(a, tn, t, id, true, false, &b);
    if (rc != BOOKING_OK)
        return rc;
    const char *p[] = {b.id, tn->timezone};
    PGresult *r = db_exec(t, sql_session, 2, p, NULL);
    if (!r)
        return BOOKING_DB;
    json_t *session = PQntuples(r) == 1 ? json_loads(db_get(r, 0, "session"), 0, NULL) : NULL;
    PQclear(r);
    *out = row_staff_json(&b);
    json_object_set_new(*out, "session", session ? session : json_null());
    payments_booking_json(a, tn, t, b.id, true, *out);
    return BOOKING_OK;
}

bool booking_token_ok(struct db_conn *t, const char *ref, const char *token)
{
    if (!ref || !token || !*token || strlen(token) > BOOKING_TOKEN_MAX ||
        strlen(ref) > BOOKING_REF_MAX)
        return false;
    const char *p[] = {ref};
    PGresult *r = db_exec(t, sql_token_hash, 1, p, NULL);
    if (!r)
        return false;
    bool ok = false;
    if (PQntuples(r) == 1) {
        struct arena *a = arena_new(256);
        ok = crypto_streq(crypto_sha256_hex(a, token, strlen(token)),
                          db_get(r, 0, "manage_token_hash"));
        arena_free(a);
    }
    PQclear(r);
    return ok;
}

/* ---- the public studio ---------------------------------------------------------------- */

int booking_public_studio(const struct tenant *tn, struct db_conn *t, json_t **out)
{
    struct booking_policy pol;
    memset(&pol, 0, sizeof(pol));
    int lr = rooms_policy_load(t, NULL, &pol);
    if (lr != 0)
        return BOOKING_DB; /* the studio_settings row always exists */
    *out = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", tn->name, "slug", tn->slug, "timezone",
                     tn->timezone, "currency", tn->currency, "policy", rooms_policy_json(&pol));
    rooms_policy_release(&pol);
    return BOOKING_OK;
}

int booking_public_rooms(const struct tenant *tn, struct db_conn *t, json_t **out)
{
    const char *p[] = {tn->currency};
    PGresult *r = db_exec(t, sql_public_rooms, 1, p, NULL);
    if (!r)
        return BOOKING_DB;
    json_t *rooms = json_loads(db_get(r, 0, "rooms"), 0, NULL);
    PQclear(r);
    if (!rooms)
        return BOOKING_DB;
    *out = json_pack("{s:o}", "rooms", rooms);
    return BOOKING_OK;
}

/* ---- making a booking ----------------------------------------------------------------- */

static void check_customer(const struct booking_input *in, json_t *fields)
{
    const char *name = in->customer_name;
    if (!name || !*name)
        json_object_set_new(fields, "customer.name", json_string("Required"));
    else if (utf8_chars(name) > BOOKING_NAME_MAX || has_control(name))
        json_object_set_new(fields, "customer.name",
                            json_sprintf("At most %d characters, on one line", BOOKING_NAME_MAX));
    if (!in->customer_email || !*in->customer_email)
        json_object_set_new(fields, "customer.email", json_string("Required"));
    else if (!booking_email_ok(in->customer_email))
        json_object_set_new(fields, "customer.email", json_string("A valid e-mail address"));
    if (in->customer_phone &&
        (utf8_chars(in->customer_phone) > BOOKING_PHONE_MAX || has_control(in->customer_phone)))
        json_object_set_new(fields, "customer.phone",
                            json_sprintf("At most %d characters", BOOKING_PHONE_MAX));
    if (in->notes && utf8_chars(in->notes) > BOOKING_NOTES_MAX)
        json_object_set_new(fields, "notes",
                            json_sprintf("At most %d characters", BOOKING_NOTES_MAX));
}

/* The bookable room and its policy (kept a few seconds: booking_rooms_cache). 0;
 * BOOKING_INVALID with a room_id field; BOOKING_DB.
 * On 0 the caller releases both. */
static int load_room_and_policy(const struct tenant *tn, struct db_conn *t, const char *room_id,
                                struct room_info *room, struct booking_policy *pol, json_t *fields)
{
    memset(room, 0, sizeof(*room));
    memset(pol, 0, sizeof(*pol));
    if (!room_id || !*room_id) {
        json_object_set_new(fields, "room_id", json_string("Required"));
        return BOOKING_INVALID;
    }
    int lr = booking_is_uuid(room_id) ? rooms_room_with_policy_cached(booking_rooms_cache(), tn->id,
                                                                      t, room_id, room, pol)
                                      : -1;
    if (lr == -2)
        return BOOKING_DB;
    if (lr != 0 || !room->active) {
        if (lr == 0) {
            rooms_policy_release(pol);
            rooms_room_release(room);
        }
        json_object_set_new(fields, "room_id", json_string("No such room"));
        return BOOKING_INVALID;
    }
    return BOOKING_OK;
}

static int expire_room_holds(struct arena *a, struct db_conn *t, const char *room_id,
                             struct expired_holds *ex)
{
    const char *p[] = {room_id};
    PGresult *r = db_exec(t, sql_expire_room_holds, 1, p, NULL);
    if (!r)
        return BOOKING_DB;
    ex->n = PQntuples(r);
    ex->ids = arena_alloc(a, sizeof(*ex->ids) * (size_t)(ex->n > 0 ? ex->n : 1));
    for (int i = 0; i < ex->n; i++)
        ex->ids[i] = db_get_dup(a, r, i, "id");
    PQclear(r);
    return BOOKING_OK;
}

/* ---- audit entries ------------------------------------------------------------------- */

/* The entry for a change to booking id made for req (NULL: by the system). BOOKING_OK, or
 * BOOKING_DB: the caller's transaction is to be rolled back. */
static int audit_booking(struct db_conn *t, struct request *req, const char *action, const char *id,
                         json_t *before, json_t *after)
{
    int rc = req ? audit_record(t, req, action, AUDIT_RESOURCE, id, before, after)
                 : audit_record_system(t, NULL, action, AUDIT_RESOURCE, id, before, after);
    return rc == AUDIT_OK ? BOOKING_OK : BOOKING_DB;
}

/* One "expire" entry per hold in ex, by the system: the hold ran out, whoever noticed. */
static int audit_expired(struct db_conn *t, const struct expired_holds *ex)
{
    json_t *before = json_pack("{s:s}", "status", "pending");
    json_t *after = json_pack("{s:s}", "status", "expired");
    int rc = BOOKING_OK;
    for (int i = 0; i < ex->n && rc == BOOKING_OK; i++)
        rc = audit_booking(t, NULL, ACTION_EXPIRE, ex->ids[i], before, after);
    json_decref(before);
    json_decref(after);
    return rc;
}

/* Ends a change's transaction: the entries of the holds it expired (ex, or NULL), its own
 * entry last, then the commit. BOOKING_OK, or BOOKING_DB after rolling back. */
static int audit_commit(struct db_conn *t, struct request *req, const struct expired_holds *ex,
                        const char *action, const char *id, json_t *before, json_t *after)
{
    if ((ex && audit_expired(t, ex) != BOOKING_OK) ||
        audit_booking(t, req, action, id, before, after) != BOOKING_OK || db_commit(t) != 0) {
        db_rollback(t);
        return BOOKING_DB;
    }
    return BOOKING_OK;
}

/* The slot_taken error, naming the conflicting booking's local times (nothing personal). */
static void conflict_error(struct arena *a, const struct tenant *tn, struct db_conn *t,
                           const struct room_info *room, const char *starts, const char *ends,
                           int buffer, const char *except_id, struct booking_error *err)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", buffer);
    const char *p[] = {room->id, starts, ends, buf, tn->timezone, except_id};
    PGresult *r = db_exec(t, sql_conflict, 6, p, NULL);
    const char *message;
    if (r && PQntuples(r) == 1)
        message = arena_printf(a, "%s is already booked %s\xE2\x80\x93%s", room->name,
                               db_get(r, 0, "local_start"), db_get(r, 0, "local_end"));
    else
        message = arena_printf(a, "%s is already booked at this time", room->name);
    PQclear(r);
    booking_set_error(err, "slot_taken", message);
    err->fields = json_pack("{s:s}", "starts_at", "This time is no longer free");
}

/* The friendly check before writing: BOOKING_SLOT_TAKEN when an active hold is in the way.
 * Holds on the room that ran out are expired first (their ids into ex; with ex NULL, not). */
static int check_free(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      const struct room_info *room, const struct booking_times *tm, int buffer,
                      const char *except_id, struct expired_holds *ex, struct booking_error *err)
{
    if (ex && expire_room_holds(a, t, room->id, ex) != BOOKING_OK)
        return BOOKING_DB;
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", buffer);
    const char *p[] = {room->id, tm->starts_at, tm->ends_at, buf, tn->timezone, except_id};
    PGresult *r = db_exec(t, sql_conflict, 6, p, NULL);
    if (!r)
        return BOOKING_DB;
    bool taken = PQntuples(r) > 0;
    PQclear(r);
    if (!taken)
        return BOOKING_OK;
    conflict_error(a, tn, t, room, tm->starts_at, tm->ends_at, buffer, except_id, err);
    return BOOKING_SLOT_TAKEN;
}

/* The server's price: the room's rate and peak rules over the booking's local pieces. */
static int price_of(struct arena *a, const struct tenant *tn, struct db_conn *t,
                    const struct room_info *room, const struct booking_times *tm, int64_t *price)
{
    struct price_rule own[ROOMS_MAX_PRICE_RULES];
    const struct price_rule *rules = room->rules;
    int nrules = room->nrules;
    if (nrules < 0) { /* the room was loaded without them */
        rules = own;
        if ((nrules = rooms_price_rules(t, room->id, own, ROOMS_MAX_PRICE_RULES)) < 0)
            return BOOKING_DB;
    }
    const char *text = tm->segments;
    if (!text) {
        char seg[16];
        snprintf(seg, sizeof(seg), "%d", PRICING_SEGMENT_MINUTES);
        const char *p[] = {tm->starts_at, tm->ends_at, tn->timezone, seg};
        PGresult *r = db_exec(t, sql_segments, 4, p, NULL);
        if (!r)
            return BOOKING_DB;
        text = PQntuples(r) == 1 ? db_get_dup(a, r, 0, "segments") : NULL;
        PQclear(r);
    }
    /* "weekday,minute_of_day,minutes;..." */
    size_t cap = 1;
    for (const char *c = text; c && *c; c++)
        cap += *c == ';';
    struct time_segment *segs = arena_alloc(a, sizeof(*segs) * cap);
    int n = 0;
    for (const char *c = text; c && *c && (size_t)n < cap;) {
        int used = 0;
        if (sscanf(c, "%d,%d,%d%n", &segs[n].weekday, &segs[n].minute_of_day, &segs[n].minutes,
                   &used) != 3)
            break;
        n++;
        c += used;
        if (*c == ';')
            c++;
    }
    *price = pricing_price(room->hourly_rate, rules, nrules, segs, n);
    return BOOKING_OK;
}

/* Mails of new bookings queued together (combine.h), in one statement on the master
 * connection of whichever request queues them: under load the outbox gets one insert
 * for several bookings, of any studio. */
static struct combiner mail_combiner = COMBINER_INIT(BOOKING_BATCH_MAX, BOOKING_BATCH_LEADERS);

static void mail_batch(void *ctx, struct combine_item **items, int n)
{
    const struct mail *mails[BOOKING_BATCH_MAX] = {0};
    for (int i = 0; i < n; i++)
        mails[i] = items[i]->arg;
    int rc = mail_queue_many(ctx, mails, n);
    for (int i = 0; i < n; i++)
        items[i]->rc = rc;
}

static void queue_after_create(struct arena *a, const struct tenant *tn, struct db_conn *m,
                               const struct booking_row *b, int hold_minutes, const char *link)
{
    if (!m) {
        log_msg(LOG_WARN, "booking %s: no master connection; mail and hold job not queued", b->ref);
        return;
    }
    int rc;
    if (hold_minutes > 0) { /* the mail with the hold's job, in one transaction */
        rc = db_begin(m);
        if (rc == 0)
            rc = jobs_enqueue(m, JOB_EXPIRE_HOLD,
                              json_pack("{s:s, s:s}", "slug", tn->slug, "booking_id", b->id),
                              hold_minutes * 60);
        if (rc == 0)
            rc = booking_mail(a, m, tn, b, BOOKING_MAIL_MADE, link);
        if (rc == 0)
            rc = db_commit(m);
        if (rc != 0)
            db_rollback(m);
    } else {
        struct mail mail;
        booking_mail_build(a, tn, b, BOOKING_MAIL_MADE, link, &mail);
        struct combine_item it = {.key = "outbox", .arg = &mail};
        /* A batch that failed as a whole: this one alone, once more. */
        if ((rc = combine_run(&mail_combiner, &it, mail_batch, m)) != 0)
            rc = mail_queue(m, &mail);
    }
    if (rc != 0)
        log_msg(LOG_ERROR,
                "booking %s: mail/hold job not queued (the hold still ends: expired lazily)",
                b->ref);
}

static void queue_mail(struct arena *a, const struct tenant *tn, struct db_conn *m,
                       const struct booking_row *b, enum booking_mail_kind kind)
{
    if (!m || booking_mail(a, m, tn, b, kind, NULL) != 0)
        log_msg(LOG_ERROR, "booking %s: mail not queued", b->ref);
}

int booking_create(struct arena *a, const struct tenant *tn, struct db_conn *t, struct db_conn *m,
                   struct request *req, const struct booking_input *in, json_t **out,
                   struct booking_error *err)
{
    return booking_create_at(a, tn, t, m, req, in, booking_studio_url(a, tn), out, err);
}

/* Status, deposit and hold of a new booking at price (see the top), and its manage token. */
static void new_booking_terms(struct arena *a, const struct booking_input *in,
                              const struct booking_policy *pol, int64_t price,
                              struct new_booking *nb)
{
    int64_t deposit = pricing_deposit(price, pol->deposit_type, pol->deposit_value);
    if (deposit < 0) {
        log_msg(LOG_WARN, "unknown deposit type %s: no deposit", pol->deposit_type);
        deposit = 0;
    }
    if (in->staff && in->skip_deposit)
        deposit = 0;
    nb->status = deposit > 0                        ? "pending"
                 : (in->staff || pol->auto_confirm) ? "confirmed"
                                                    : "pending";
    nb->price = price;
    nb->deposit = deposit;
    nb->hold_minutes = deposit > 0 ? pol->hold_minutes : 0;
    nb->token = crypto_token(a, BOOKING_TOKEN_BYTES);
}

/* ---- making a booking ------------------------------------------------------------------ */

/* The sql_insert item of a new booking, under a fresh ref. */
static json_t *insert_item(struct arena *a, const struct tenant *tn, const struct booking_input *in,
                           const struct room_info *room, int buffer, const struct booking_times *tm,
                           const struct new_booking *nb)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:s, s:s,"
                     " s:s, s:i, s:s?}",
                     "name", in->customer_name, "email", in->customer_email, "phone",
                     in->customer_phone ? in->customer_phone : "", "ref",
                     crypto_ref(a, BOOKING_REF_LEN), "room_id", room->id, "starts_at",
                     tm->starts_at, "ends_at", tm->ends_at, "buffer_minutes", buffer, "status",
                     nb->status, "source", in->staff ? "staff" : "public", "price_amount",
                     (json_int_t)nb->price, "deposit_amount", (json_int_t)nb->deposit, "currency",
                     tn->currency, "notes", in->notes ? in->notes : "", "token_hash",
                     crypto_sha256_hex(a, nb->token, strlen(nb->token)), "hold_minutes",
                     nb->hold_minutes, "created_by", in->created_by);
}

/* sql_insert's $1 for items[0..n) (each numbered n in place): malloc'd, or NULL. */
static char *insert_items_text(json_t *const *items, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_object_set_new(items[i], "n", json_integer(i));
        json_array_append(arr, items[i]);
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* One new booking handed to the batch (insert_batch), by the request that wants it. */
struct insert_job {
    struct arena *a; /* the request's */
    const struct tenant *tn;
    struct request *req;
    json_t *item;          /* insert_item() */
    struct booking_row *b; /* out: the stored row */
    const char *id;        /* out: its id; NULL when it was not stored */
};

static struct combiner insert_combiner = COMBINER_INIT(BOOKING_BATCH_MAX, BOOKING_BATCH_LEADERS);

/* The quick way in, for n new bookings of one studio at once (combine.h): one transaction
 * in two round trips (db_pipeline). First BEGIN, the insert of them all (sql_insert: one
 * refused leaves the others standing) answering their rows, and the audit chain locked;
 * then, with the entries chained in C, the customers made for nothing removed, the
 * entries stored, COMMIT. An item's rc: BOOKING_OK (committed), or BOOKING_DB: refused,
 * or the batch failed, and nothing of it stays; the request then goes the careful way on
 * its own. */
static void insert_batch(void *ctx, struct combine_item **items, int n)
{
    struct db_conn *t = ctx;
    struct insert_job *lead = items[0]->arg;
    json_t *each[BOOKING_BATCH_MAX];
    for (int i = 0; i < n; i++) {
        struct insert_job *j = items[i]->arg;
        items[i]->rc = BOOKING_DB;
        j->id = NULL;
        each[i] = j->item;
    }
    char *text = insert_items_text(each, n);
    char more[16];
    snprintf(more, sizeof(more), "%d", n - 1);
    const char *pi[] = {text, lead->tn->timezone}, *pm[] = {more};
    struct db_call first[] = {{db_sql_begin, 0, NULL, NULL},
                              {sql_insert, 2, pi, NULL},
                              {audit_sql_chain_lock, 0, NULL, NULL},
                              {audit_sql_more_ids, 1, pm, NULL}};
    bool ok = text && db_pipeline(t, first, 4, NULL) == 0 && PQntuples(first[1].result) == n;
    free(text);
    PGresult *r = first[1].result;
    struct buf orphans;
    buf_init(&orphans, lead->a);
    int stored = 0, norphans = 0;
    for (int k = 0; ok && k < n; k++) {
        int i = atoi(db_get(r, k, "item"));
        if (!(ok = i >= 0 && i < n))
            break;
        struct insert_job *j = items[i]->arg;
        if (db_get(r, k, "id")) {
            row_from(j->a, r, k, j->b);
            j->id = j->b->id;
            stored++;
        } else if (db_get(r, k, "orphan")) {
            buf_printf(&orphans, "%s%s", norphans++ ? "," : "{", db_get(r, k, "orphan"));
        }
    }
    struct audit_batch *ab = NULL;
    if (ok && stored > 0) {
        struct audit_item *au = arena_alloc(lead->a, sizeof(*au) * (size_t)stored);
        int m = 0;
        for (int i = 0; i < n; i++) {
            struct insert_job *j = items[i]->arg;
            if (j->id)
                au[m++] = (struct audit_item){j->req, j->id, NULL, row_staff_json(j->b)};
        }
        ab = audit_batch_chain(t, first[2].result, first[3].result, AUDIT_ACTION_CREATE,
                               AUDIT_RESOURCE, m, au);
        for (int i = 0; i < m; i++)
            json_decref(au[i].after);
        const char *sql = NULL, *param = NULL;
        if ((ok = ab != NULL))
            audit_batch_insert(ab, &sql, &param);
        buf_printf(&orphans, "}");
        const char *pa[] = {param}, *po[] = {buf_cstr(&orphans)};
        struct db_call second[] = {
            {sql_drop_orphans, 1, po, NULL}, {sql, 1, pa, NULL}, {db_sql_commit, 0, NULL, NULL}};
        int skip = norphans ? 0 : 1;
        ok = ok && db_pipeline(t, second + skip, 3 - skip, NULL) == 0;
        for (size_t i = 0; i < sizeof(second) / sizeof(second[0]); i++)
            PQclear(second[i].result);
    }
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
        PQclear(first[i].result);
    if (!ok || stored == 0)
        db_rollback(t);
    audit_batch_end(ab, ok);
    for (int i = 0; i < n; i++) {
        struct insert_job *j = items[i]->arg;
        if (!ok)
            j->id = NULL;
        items[i]->rc = j->id ? BOOKING_OK : BOOKING_DB;
    }
}

/* One insert on its own, in the caller's transaction, under a fresh ref: BOOKING_OK with
 * *stored telling whether it was (its row in *b) or skipped (an overlap or a ref
 * collision: the caller's transaction goes on; roll it back, the skipped booking's new
 * customer is in it); or BOOKING_DB with the statement's SQLSTATE in *st (the
 * transaction is aborted). */
static int insert_try(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      const struct booking_input *in, const struct room_info *room, int buffer,
                      const struct booking_times *tm, const struct new_booking *nb,
                      struct booking_row *b, bool *stored, const char **st)
{
    *st = NULL;
    *stored = false;
    json_t *item = insert_item(a, tn, in, room, buffer, tm, nb);
    char *text = item ? insert_items_text(&item, 1) : NULL;
    json_decref(item);
    const char *p[] = {text, tn->timezone};
    PGresult *r = text ? db_exec(t, sql_insert, 2, p, st) : NULL;
    free(text);
    if (!r)
        return BOOKING_DB;
    int rc = PQntuples(r) == 1 ? BOOKING_OK : BOOKING_DB;
    if (rc == BOOKING_OK && (*stored = db_get(r, 0, "id") != NULL))
        row_from(a, r, 0, b);
    PQclear(r);
    return rc;
}

static bool sqlstate_is(const char *st, const char *code)
{
    return st && strcmp(st, code) == 0;
}

/* The careful way in, after the quick one did not store the booking: run-out holds on the
 * room expire (their ids into ex), the slot is checked (err names what is in the way),
 * then the insert; when that is skipped, the check again: a booking that committed in
 * between is named (409), else the ref was taken and a fresh one is tried. BOOKING_OK in
 * the open transaction, or an error after rolling it back (BOOKING_RETRY: PostgreSQL broke
 * a deadlock, the insert may be tried again). */
static int insert_checked(struct arena *a, const struct tenant *tn, struct db_conn *t,
                          const struct booking_input *in, const struct room_info *room, int buffer,
                          const struct booking_times *tm, const struct new_booking *nb,
                          struct expired_holds *ex, struct booking_error *err,
                          struct booking_row *b)
{
    if (db_begin(t) != 0)
        return BOOKING_DB;
    int rc = check_free(a, tn, t, room, tm, buffer, NULL, ex, err);
    const char *st = NULL;
    for (int attempt = 1; rc == BOOKING_OK; attempt++) {
        bool stored = false;
        if ((rc = insert_try(a, tn, t, in, room, buffer, tm, nb, b, &stored, &st)) != BOOKING_OK)
            break;
        if (stored)
            return BOOKING_OK;
        rc = check_free(a, tn, t, room, tm, buffer, NULL, NULL, err);
        if (rc == BOOKING_OK && attempt >= BOOKING_REF_TRIES)
            rc = BOOKING_DB; /* out of refs */
    }
    db_rollback(t);
    if (rc == BOOKING_DB && sqlstate_is(st, SQLSTATE_DEADLOCK))
        return BOOKING_RETRY;
    return rc;
}

/* The new booking's transaction. Most requests ask for a free slot on a room with no
 * run-out hold in the way, so the insert goes first and the exclusion constraint decides,
 * in a batch with the other bookings of the studio being made at the same moment
 * (insert_batch). Only when that did not store it does the careful way run
 * (insert_checked), which expires run-out holds, names the booking in the way, and tries
 * again; two overlapping inserts that each waited for the other's row while checking the
 * constraint deadlock, PostgreSQL aborts one (40P01), and that is a lost race too.
 * BOOKING_OK with the stored row in *b; otherwise nothing of it stays. */
static int create_in_tx(struct arena *a, const struct tenant *tn, struct db_conn *t,
                        struct request *req, const struct booking_input *in,
                        const struct room_info *room, const struct booking_policy *pol,
                        const struct booking_times *tm, const struct new_booking *nb,
                        struct booking_row *b, struct booking_error *err)
{
    struct insert_job job = {.a = a, .tn = tn, .req = req, .b = b};
    struct combine_item it = {.key = tn->id, .arg = &job};
    int rc = BOOKING_DB;
    if (req && (job.item = insert_item(a, tn, in, room, pol->buffer_minutes, tm, nb)))
        rc = combine_run(&insert_combiner, &it, insert_batch, t);
    json_decref(job.item);
    if (rc == BOOKING_OK)
        return BOOKING_OK; /* committed, with its audit entry */

    struct expired_holds ex = {0};
    for (int d = 0; d < BOOKING_DEADLOCK_TRIES; d++) {
        memset(&ex, 0, sizeof(ex));
        if ((rc = insert_checked(a, tn, t, in, room, pol->buffer_minutes, tm, nb, &ex, err, b)) !=
            BOOKING_RETRY)
            break;
    }
    if (rc == BOOKING_RETRY)
        rc = BOOKING_DB;
    if (rc != BOOKING_OK)
        return rc;
    json_t *after = row_staff_json(b);
    rc = audit_commit(t, req, &ex, AUDIT_ACTION_CREATE, b->id, NULL, after);
    json_decref(after);
    return rc;
}

int booking_create_at(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct db_conn *m, struct request *req, const struct booking_input *in,
                      const char *studio_url, json_t **out, struct booking_error *err)
{
    memset(err, 0, sizeof(*err));
    *out = NULL;
    bool override = in->staff && in->override_rules;
    json_t *fields = json_object();
    check_customer(in, fields);
    if (in->created_by && !booking_is_uuid(in->created_by))
        json_object_set_new(fields, "created_by", json_string("A user id"));
    char starts[BOOKING_TIME_LEN], ends[BOOKING_TIME_LEN];
    bool times_ok = true;
    if (!booking_parse_time(in->starts_at, starts)) {
        json_object_set_new(fields, "starts_at",
                            json_string("An RFC 3339 time with offset, e.g. "
                                        "2027-03-28T14:00:00+02:00"));
        times_ok = false;
    }
    if (!booking_parse_time(in->ends_at, ends)) {
        json_object_set_new(fields, "ends_at",
                            json_string("An RFC 3339 time with offset, e.g. "
                                        "2027-03-28T16:00:00+02:00"));
        times_ok = false;
    }
    struct room_info room;
    struct booking_policy pol;
    int rc = load_room_and_policy(tn, t, in->room_id, &room, &pol, fields);
    if (rc == BOOKING_DB) {
        json_decref(fields);
        return BOOKING_DB;
    }
    bool have_room = rc == BOOKING_OK;
    struct booking_times tm;
    memset(&tm, 0, sizeof(tm));
    if (have_room && times_ok)
        rc = booking_check_times(a, tn, t, room.id, &pol, starts, ends, override, fields, &tm);
    if (rc == BOOKING_DB)
        goto done;
    if (json_object_size(fields)) {
        rc = invalid(err, fields);
        fields = NULL;
        goto done;
    }

    int64_t price = 0;
    if ((rc = price_of(a, tn, t, &room, &tm, &price)) != BOOKING_OK)
        goto done;
    struct new_booking nb;
    new_booking_terms(a, in, &pol, price, &nb);
    struct booking_row b;
    if ((rc = create_in_tx(a, tn, t, req, in, &room, &pol, &tm, &nb, &b, err)) != BOOKING_OK)
        goto done;
    char *link = booking_manage_link(a, studio_url, b.ref, nb.token);
    queue_after_create(a, tn, m, &b, nb.hold_minutes, link);
    log_msg(LOG_INFO, "booking %s made (%s, %s)", b.ref, b.status, b.source);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:o, s:s?}", "id", b.id,
                     "ref", b.ref, "manage_token", nb.token, "status", b.status, "starts_at",
                     b.starts_at, "ends_at", b.ends_at, "room", "id", b.room_id, "name",
                     b.room_name, "price", money_json(b.price, b.currency), "deposit",
                     money_json(b.deposit, b.currency), "hold_expires_at", b.hold_expires_at);
done:
    json_decref(fields);
    if (have_room) {
        rooms_policy_release(&pol);
        rooms_room_release(&room);
    }
    return rc;
}

/* ---- changing a booking --------------------------------------------------------------- */

int booking_cancel(struct arena *a, const struct tenant *tn, struct db_conn *t, struct db_conn *m,
                   struct request *req, const char *key, bool by_id, int64_t refund_override,
                   const char *reason, json_t **out, struct booking_error *err)
{
    memset(err, 0, sizeof(*err));
    *out = NULL;
    if (reason && utf8_chars(reason) > BOOKING_REASON_MAX)
        return invalid(err, json_pack("{s:s}", "reason", "At most 500 characters"));
    if (db_begin(t) != 0)
        return BOOKING_DB;
    struct booking_row b;
    int rc = row_load(a, tn, t, key, by_id, true, &b);
    if (rc != BOOKING_OK) {
        db_rollback(t);
        if (rc == BOOKING_NOT_FOUND)
            booking_set_error(err, "not_found", "No such booking");
        return rc;
    }
    if (strcmp(b.status, "pending") != 0 && strcmp(b.status, "confirmed") != 0) {
        db_rollback(t);
        booking_set_error(err, "wrong_state",
                          arena_printf(a, "This booking is %s already", b.status));
        return BOOKING_WRONG_STATE;
    }
    if (!by_id && b.over) {
        db_rollback(t);
        booking_set_error(err, "wrong_state", "This booking is over; ask the studio");
        return BOOKING_WRONG_STATE;
    }
    int64_t refund;
    const char *rule_name;
    if (refund_override >= 0) {
        if (refund_override > b.paid) {
            db_rollback(t);
            return invalid(err, json_pack("{s:s}", "refund_amount",
                                          arena_printf(a, "At most what was paid (%s)",
                                                       money_format(a, b.paid, b.currency))));
        }
        refund = refund_override;
        rule_name = "set by staff";
    } else {
        struct booking_policy pol;
        memset(&pol, 0, sizeof(pol));
        if (rooms_policy_load(t, b.room_id, &pol) != 0) {
            db_rollback(t);
            return BOOKING_DB;
        }
        rule_name = NULL;
        if (b.paid > 0) {
            refund = pricing_refund(b.paid, b.seconds_before_start, pol.refund_rule, &rule_name);
        } else {
            /* Nothing paid, nothing refunded; pricing_refund names no rule for 0, so ask it
             * with a nominal amount which rule applies now (the customer is told). */
            (void)pricing_refund(INT64_C(10000), b.seconds_before_start, pol.refund_rule,
                                 &rule_name);
            refund = 0;
        }
        rule_name = arena_strdup(a, rule_name ? rule_name : "no refund");
        rooms_policy_release(&pol);
        if (refund < 0)
            refund = 0;
    }
    char refund_s[24];
    snprintf(refund_s, sizeof(refund_s), "%lld", (long long)refund);
    const char *p[] = {b.id, refund_s, rule_name, reason};
    struct booking_row after;
    if (db_run(t, sql_cancel, 4, p) != 0 ||
        row_load(a, tn, t, b.id, true, false, &after) != BOOKING_OK) {
        db_rollback(t);
        return BOOKING_DB;
    }
    /* The refund owed on Stripe payments commits with the cancel; it is sent after. */
    if (payments_refund_prepare(t, b.id, refund) != PAYMENTS_OK) {
        db_rollback(t);
        return BOOKING_DB;
    }
    json_t *jb = row_staff_json(&b), *ja = row_staff_json(&after);
    json_object_set_new(ja, "refund_amount", json_integer((json_int_t)refund));
    rc = audit_commit(t, req, NULL, AUDIT_ACTION_CANCEL, b.id, jb, ja);
    json_decref(jb);
    json_decref(ja);
    if (rc != BOOKING_OK)
        return rc;
    /* The hold is free from the commit on: the constraint only counts pending/confirmed. */
    queue_mail(a, tn, m, &after, BOOKING_MAIL_CANCELLED);
    b = after;
    log_msg(LOG_INFO, "booking %s cancelled (%s)", b.ref, by_id ? "staff" : "customer");
    *out = json_pack("{s:s, s:s, s:s, s:{s:I, s:s, s:s}}", "id", b.id, "ref", b.ref, "status",
                     "cancelled", "refund", "amount", (json_int_t)refund, "currency", b.currency,
                     "rule", rule_name);
    payments_refund_after_cancel(a, tn, t, m, b.id, json_object_get(*out, "refund"));
    return BOOKING_OK;
}

int booking_confirm(struct arena *a, const struct tenant *tn, struct db_conn *t, struct db_conn *m,
                    struct request *req, const char *id, json_t **out, struct booking_error *err)
{
    memset(err, 0, sizeof(*err));
    *out = NULL;
    if (db_begin(t) != 0)
        return BOOKING_DB;
    struct booking_row before, b;
    memset(&before, 0, sizeof(before));
    int rc = row_load(a, tn, t, id, true, true, &before);
    if (rc == BOOKING_NOT_FOUND)
        booking_set_error(err, "not_found", "No such booking");
    if (rc == BOOKING_OK && strcmp(before.status, "pending") != 0) {
        booking_set_error(err, "wrong_state",
                          arena_printf(a, "Only a pending booking can be confirmed; this one is %s",
                                       before.status));
        rc = BOOKING_WRONG_STATE;
    }
    const char *p[] = {before.id};
    if (rc == BOOKING_OK && (db_run(t, sql_confirm, 1, p) != 0 ||
                             row_load(a, tn, t, before.id, true, false, &b) != BOOKING_OK))
        rc = BOOKING_DB;
    if (rc != BOOKING_OK) {
        db_rollback(t);
        return rc;
    }
    json_t *jb = row_staff_json(&before), *ja = row_staff_json(&b);
    rc = audit_commit(t, req, NULL, ACTION_CONFIRM, b.id, jb, ja);
    json_decref(jb);
    if (rc != BOOKING_OK) {
        json_decref(ja);
        return rc;
    }
    queue_mail(a, tn, m, &b, BOOKING_MAIL_CONFIRMED);
    log_msg(LOG_INFO, "booking %s confirmed", b.ref);
    *out = ja;
    return BOOKING_OK;
}

/* The move's writing half, in the transaction booking_move opened with cur locked: the slot
 * is checked (expiring run-out holds), the price made again unless kept, the booking moved,
 * audited and committed. *out is the booking as staff see it. Rolled back unless
 * BOOKING_OK. */
static int move_apply(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct request *req, const struct booking_row *cur,
                      const struct room_info *room, const struct booking_policy *pol,
                      const struct booking_times *tm, bool keep_price, json_t **out,
                      struct booking_error *err)
{
    struct expired_holds ex = {0};
    int rc = check_free(a, tn, t, room, tm, pol->buffer_minutes, cur->id, &ex, err);
    int64_t price = 0;
    if (rc == BOOKING_OK && !keep_price)
        rc = price_of(a, tn, t, room, tm, &price);
    if (rc != BOOKING_OK) {
        db_rollback(t);
        return rc;
    }
    char price_s[24], buffer_s[16];
    snprintf(price_s, sizeof(price_s), "%lld", (long long)price);
    snprintf(buffer_s, sizeof(buffer_s), "%d", pol->buffer_minutes);
    const char *p[] = {cur->id,     room->id, tm->starts_at,
                       tm->ends_at, buffer_s, keep_price ? NULL : price_s,
                       tn->currency};
    const char *st = NULL;
    PGresult *r = db_exec(t, sql_move, 7, p, &st);
    if (!r) {
        db_rollback(t);
        /* A deadlock PostgreSQL broke while checking the constraint (40P01) is a race lost
         * to an overlapping booking too. */
        if (!sqlstate_is(st, SQLSTATE_EXCLUSION_VIOLATION) && !sqlstate_is(st, SQLSTATE_DEADLOCK))
            return BOOKING_DB;
        conflict_error(a, tn, t, room, tm->starts_at, tm->ends_at, pol->buffer_minutes, cur->id,
                       err);
        return BOOKING_SLOT_TAKEN;
    }
    bool moved = PQntuples(r) == 1; /* always, under the lock: belt and braces */
    PQclear(r);
    struct booking_row b;
    if (!moved || row_load(a, tn, t, cur->id, true, false, &b) != BOOKING_OK) {
        db_rollback(t);
        return BOOKING_DB;
    }
    json_t *jb = row_staff_json(cur), *ja = row_staff_json(&b);
    rc = audit_commit(t, req, &ex, ACTION_MOVE, b.id, jb, ja);
    json_decref(jb);
    if (rc != BOOKING_OK) {
        json_decref(ja);
        return rc;
    }
    log_msg(LOG_INFO, "booking %s moved", b.ref);
    *out = ja;
    return BOOKING_OK;
}

int booking_move(struct arena *a, const struct tenant *tn, struct db_conn *t, struct request *req,
                 const char *id, const char *room_id, const char *starts_at, const char *ends_at,
                 bool keep_price, json_t **out, struct booking_error *err)
{
    memset(err, 0, sizeof(*err));
    *out = NULL;
    if (db_begin(t) != 0)
        return BOOKING_DB;
    /* Locked until the move commits: no cancel, confirm or conversion in between. */
    struct booking_row cur;
    int rc = row_load(a, tn, t, id, true, true, &cur);
    if (rc != BOOKING_OK) {
        db_rollback(t);
        if (rc == BOOKING_NOT_FOUND)
            booking_set_error(err, "not_found", "No such booking");
        return rc;
    }
    if (strcmp(cur.status, "pending") != 0 && strcmp(cur.status, "confirmed") != 0) {
        db_rollback(t);
        booking_set_error(err, "wrong_state",
                          arena_printf(a, "A %s booking cannot be moved", cur.status));
        return BOOKING_WRONG_STATE;
    }
    json_t *fields = json_object();
    if ((starts_at == NULL) != (ends_at == NULL))
        json_object_set_new(fields, starts_at ? "ends_at" : "starts_at",
                            json_string("Give both starts_at and ends_at, or neither"));
    char starts[BOOKING_TIME_LEN], ends[BOOKING_TIME_LEN];
    bool times_ok = true;
    if (starts_at && !booking_parse_time(starts_at, starts)) {
        json_object_set_new(fields, "starts_at", json_string("An RFC 3339 time with offset"));
        times_ok = false;
    }
    if (ends_at && !booking_parse_time(ends_at, ends)) {
        json_object_set_new(fields, "ends_at", json_string("An RFC 3339 time with offset"));
        times_ok = false;
    }
    if (!starts_at || !ends_at) {
        snprintf(starts, sizeof(starts), "%s", cur.starts_at);
        snprintf(ends, sizeof(ends), "%s", cur.ends_at);
    }
    struct room_info room;
    struct booking_policy pol;
    rc = load_room_and_policy(tn, t, room_id ? room_id : cur.room_id, &room, &pol, fields);
    bool have_room = rc == BOOKING_OK;
    struct booking_times tm;
    memset(&tm, 0, sizeof(tm));
    if (have_room && times_ok)
        rc = booking_check_times(a, tn, t, room.id, &pol, starts, ends, false, fields, &tm);
    if (rc != BOOKING_DB && json_object_size(fields)) {
        rc = invalid(err, fields);
        fields = NULL;
    } else if (rc == BOOKING_OK) {
        rc = move_apply(a, tn, t, req, &cur, &room, &pol, &tm, keep_price, out, err);
    }
    if (rc != BOOKING_OK)
        db_rollback(t);
    json_decref(fields);
    if (have_room) {
        rooms_policy_release(&pol);
        rooms_room_release(&room);
    }
    return rc;
}

int booking_expire(struct db_conn *t, const char *id)
{
    if (!booking_is_uuid(id))
        return BOOKING_OK; /* nothing of ours */
    const char *p[] = {id};
    if (db_begin(t) != 0)
        return BOOKING_DB;
    PGresult *r = db_exec(t, sql_expire, 1, p, NULL);
    if (!r) {
        db_rollback(t);
        return BOOKING_DB;
    }
    char expired[40] = "";
    if (PQntuples(r) == 1)
        snprintf(expired, sizeof(expired), "%s", db_get(r, 0, "id"));
    PQclear(r);
    if (!expired[0]) { /* confirmed, cancelled or extended meanwhile: nothing changed */
        db_rollback(t);
        return BOOKING_OK;
    }
    const char *ids[] = {expired};
    struct expired_holds ex = {.ids = ids, .n = 1};
    if (audit_expired(t, &ex) != BOOKING_OK || db_commit(t) != 0) {
        db_rollback(t);
        return BOOKING_DB;
    }
    return BOOKING_OK;
}

/* ---- errors ---------------------------------------------------------------------------- */

/* What each status answers; any other (BOOKING_DB) is the database's, and never says more. */
static const struct http_error_map booking_errors[] = {
    {BOOKING_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {BOOKING_SLOT_TAKEN, 409, "slot_taken", "This time is already booked", true},
    {BOOKING_NOT_FOUND, 404, "not_found", "No such booking", true},
    {BOOKING_WRONG_STATE, 409, "wrong_state", "Not possible in this booking's state", true},
    {0, 503, "database_unavailable", "The studio's database is unavailable; try again shortly",
     false},
};

void booking_reply_error(struct request *req, int rc, struct booking_error *err)
{
    json_t *fields = err->fields;
    err->fields = NULL;
    const struct http_error_map *e = http_error_find(booking_errors, rc);
    if (e && (err->code[0] || err->message[0])) { /* the module said it more precisely */
        http_reply_error(req, e->status, err->code[0] ? err->code : e->code,
                         err->message[0] ? err->message : e->message, fields);
        return;
    }
    http_reply_mapped(req, rc, booking_errors, fields, NULL);
}

/* ---- background jobs ------------------------------------------------------------------- */

int booking_search_request(struct db_conn *m, const struct tenant *tn, const char *email,
                           const char *studio_url)
{
    return jobs_enqueue(
        m, JOB_SEARCH_MAIL,
        json_pack("{s:s, s:s, s:s}", "slug", tn->slug, "email", email, "studio_url", studio_url),
        0);
}

/* "booking_expire_hold" {"slug","booking_id"}: expires the hold if it ran out; a hold that
 * has not (extended, or a job run early) gets a new job for when it does. */
static int run_expire_hold(json_t *payload, char *err, size_t errlen)
{
    const char *slug = json_string_value(json_object_get(payload, "slug"));
    const char *id = json_string_value(json_object_get(payload, "booking_id"));
    if (!slug || !booking_is_uuid(id)) {
        log_msg(LOG_WARN, "%s: malformed payload, dropped", JOB_EXPIRE_HOLD);
        return 0;
    }
    struct db_conn *m, *t;
    struct tenant tn;
    if (tenant_job_open(slug, &m, &tn, &t, err, errlen) != 0)
        return -1;
    int rc = booking_expire(t, id) == BOOKING_OK ? 0 : -1;
    if (rc == 0)
        availability_cache_invalidate(tn.id); /* the slot may be free now */
    if (rc == 0) {
        const char *p[] = {id};
        PGresult *r = db_exec(t, sql_hold_left, 1, p, NULL);
        if (!r)
            rc = -1;
        else if (PQntuples(r) == 1)
            rc = jobs_enqueue(m, JOB_EXPIRE_HOLD, json_incref(payload),
                              atoi(db_get(r, 0, "seconds")));
        PQclear(r);
    }
    if (rc != 0)
        snprintf(err, errlen, "could not expire booking %s of %s", id, slug);
    db_release(t);
    db_release(m);
    return rc;
}

/* Mints a fresh manage token for each upcoming booking of email and mails the links. The
 * tenant change commits first and the mail after it, so a failure is retried whole: at
 * worst a retry mints tokens again, and the mail that leaves carries the working ones.
 * Each replaced token is an "update" entry by the system, in the tenant transaction. */
static int search_mail(struct arena *a, struct db_conn *m, struct db_conn *t,
                       const struct tenant *tn, const char *email, const char *studio_url)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", BOOKING_SEARCH_MAX);
    const char *p[] = {email, tn->timezone, limit};
    PGresult *r = db_exec(t, sql_search, 3, p, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if (n == 0) { /* nothing to send: the caller was answered the same either way */
        PQclear(r);
        return 0;
    }
    struct booking_link *links = arena_alloc(a, sizeof(*links) * (size_t)n);
    const char **ids = arena_alloc(a, sizeof(*ids) * (size_t)n);
    int rc = db_begin(t);
    for (int i = 0; i < n && rc == 0; i++) {
        char *token = crypto_token(a, BOOKING_TOKEN_BYTES);
        ids[i] = db_get_dup(a, r, i, "id");
        const char *pu[] = {ids[i], crypto_sha256_hex(a, token, strlen(token))};
        rc = db_run(t, sql_set_token, 2, pu);
        links[i] = (struct booking_link){
            .ref = db_get_dup(a, r, i, "ref"),
            .room_name = db_get_dup(a, r, i, "room_name"),
            .local_day = db_get_dup(a, r, i, "local_day"),
            .local_start = db_get_dup(a, r, i, "local_start"),
            .local_end = db_get_dup(a, r, i, "local_end"),
            .status = db_get_dup(a, r, i, "status"),
        };
        links[i].link = booking_manage_link(a, studio_url, links[i].ref, token);
    }
    PQclear(r);
    if (rc == 0)
        rc = db_begin(m);
    else {
        db_rollback(t);
        return -1;
    }
    if (rc == 0)
        rc = booking_mail_links(a, m, tn, email, links, n);
    json_t *rotated = json_pack("{s:s}", "manage_token", "rotated");
    for (int i = 0; i < n && rc == 0; i++)
        if (audit_record_system(t, m, AUDIT_ACTION_UPDATE, AUDIT_RESOURCE, ids[i], NULL, rotated) !=
            AUDIT_OK)
            rc = -1;
    json_decref(rotated);
    if (rc == 0)
        rc = db_commit(t);
    if (rc == 0)
        rc = db_commit(m);
    if (rc != 0) {
        db_rollback(t);
        db_rollback(m);
    }
    return rc;
}

/* "booking_search_mail" {"slug","email","studio_url"}. */
static int run_search_mail(json_t *payload, char *err, size_t errlen)
{
    const char *slug = json_string_value(json_object_get(payload, "slug"));
    const char *email = json_string_value(json_object_get(payload, "email"));
    const char *url = json_string_value(json_object_get(payload, "studio_url"));
    if (!slug || !booking_email_ok(email) || !url) {
        log_msg(LOG_WARN, "%s: malformed payload, dropped", JOB_SEARCH_MAIL);
        return 0;
    }
    struct db_conn *m, *t;
    struct tenant tn;
    if (tenant_job_open(slug, &m, &tn, &t, err, errlen) != 0)
        return -1;
    struct arena *a = arena_new(8192);
    int rc = search_mail(a, m, t, &tn, email, url);
    arena_free(a);
    if (rc != 0)
        snprintf(err, errlen, "search mail for a customer of %s failed", slug);
    db_release(t);
    db_release(m);
    return rc;
}
