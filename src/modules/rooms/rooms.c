/*
 * rooms.c — rules and SQL for a studio's rooms and for everything that
 * decides when and at what price they can be booked: the booking policy
 * (the one studio_settings row), weekly opening hours (the studio's, and a
 * room's own that replace them), closures, and peak/off-peak price rules.
 *
 * Decisions (DESIGN.md is silent on them):
 *  - Validation reads a whole object and names every bad field at once.
 *    Updates are partial: the stored object is merged with the fields the
 *    client sent, and the merged result is validated as a whole, so rules
 *    between fields (min ≤ max duration, multiples of the slot step) hold
 *    after every change. The validated object is handed to PostgreSQL as one
 *    jsonb parameter; SQL picks the columns out of it.
 *  - A room is created with a name and an hourly_rate; the rest has
 *    defaults. Names are trimmed; they are unique among rooms that are not
 *    archived, case-insensitively (the rooms_name index decides races).
 *  - A room's duration and slot-step overrides are checked against the
 *    studio's policy in force when the room is written. A later change of
 *    the studio's policy does not re-check rooms; rooms_policy_load() keeps
 *    the effective maximum at least the effective minimum.
 *  - Deleting a room that never had a booking deletes it (with its hours,
 *    closures and price rules); one with bookings is archived instead, so
 *    history keeps its room. A room with future active bookings (pending or
 *    confirmed, ending after now) is refused until it is archived: archiving
 *    is the deliberate step that stops new bookings and keeps the old ones.
 *    The room row is locked FOR UPDATE first; a booking insert needs a KEY
 *    SHARE lock on it (the foreign key), so no booking slips in between the
 *    check and the delete.
 *  - Whole-set replacements (opening hours, price rules) lock their owner
 *    first (the studio_settings row or the room), so two concurrent PUTs
 *    apply one after the other instead of interleaving their rows.
 *  - A room's own opening hours with no range at all are refused: "no rows"
 *    already means "inherits the studio's hours". A room closed every day is
 *    made inactive, or closed with a closure.
 *  - Price rules are listed by start time (the table keeps no position).
 *  - Every change writes its audit entry (audit.h) as the last statement of
 *    its own transaction (audit_commit), so a change that rolls back leaves
 *    no entry and one whose entry cannot be written rolls back (ROOMS_DB,
 *    503). Resources: "rooms" (create, update, archive, delete), "settings"
 *    (id "booking": the booking policy), "opening_hours" (id the room's, or
 *    none for the studio's), "closures", "prices" (id the room's: its rate
 *    and price rules together). Before and after are the representations
 *    the API shows; the audit module keeps only what changed.
 */
#include "studiod/rooms.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rooms_internal.h"
#include "studiod/audit.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/tcache.h"

#define NAME_MAX_CHARS 120
#define DESCRIPTION_MAX_CHARS 2000
#define CAPACITY_MAX 10000
#define RATE_MAX 100000000000LL /* minor units an hour: far above any price, far below overflow */
#define EQUIPMENT_MAX_ITEMS 50
#define EQUIPMENT_ITEM_MAX_CHARS 100
#define URL_MAX_CHARS 2000
#define DEFAULT_COLOR "#3b5bdb"
#define GRID_MINUTES 5 /* every time and duration sits on this grid (PRICING_SEGMENT_MINUTES) */
#define DURATION_MAX_MINUTES 10080 /* one week */
#define NOTICE_MAX_MINUTES 43200   /* 30 days */
#define DAYS_AHEAD_MIN 1
#define DAYS_AHEAD_MAX 730
#define BUFFER_MAX_MINUTES 240
#define HOLD_MIN_MINUTES 5
#define HOLD_MAX_MINUTES 1440
#define PERCENT_MAX 100
#define DAY_MINUTES 1440
#define RANGES_PER_DAY_MAX 12
#define PRICE_RULES_MAX 50
#define RULE_NAME_MAX_CHARS 80
#define REASON_MAX_CHARS 200
#define KEY_LEN 64

static const int slot_steps[] = {5, 10, 15, 20, 30, 60};

/* A time range of a day in minutes, and where it came from in the request. */
struct span {
    int start, end;
    size_t index;
};

/* What rooms_hours_put writes (replace_audited): $1 the room or NULL, $2 the rows. */
struct hours_change {
    const char *p[2];
    bool inherit;
};

/* What rooms_prices_put writes: pr {room, rate}, pl {room, rules}; rate/rules: sent. */
struct prices_change {
    const char *pr[2], *pl[2];
    bool rate, rules;
};

static bool int_in(json_t *v, long long min, long long max, long long *out);
static bool valid_step(long long step);
static int parse_hhmm(json_t *v, bool allow_end);
static void format_hhmm(int minutes, char out[6]);
static bool valid_date(const char *s);
static bool valid_url(const char *s);
static int span_cmp(const void *a, const void *b);
static int query_json(struct db_conn *t, const char *sql, int n, const char *const *p, json_t **out,
                      const char **sqlstate);
static int fail(struct db_conn *t, int rc, json_t **fields);
static int replace_audited(struct db_conn *t, struct request *req, const char *room_id,
                           const char *resource,
                           int (*get)(struct db_conn *t, const char *room_id, json_t **out),
                           bool (*write)(struct db_conn *t, void *change), void *change,
                           json_t **out);
static bool hours_write(struct db_conn *t, void *change);
static int write_end(struct db_conn *t, struct request *req, int rc, const char *action,
                     const char *resource, const char *id, json_t *before, json_t **out,
                     json_t **fields);
static bool prices_write(struct db_conn *t, void *change);
static PGresult *room_query(struct db_conn *t, const char *sql, const char *room_id, int *rc);
static void json_drop(json_t **j);
static int audit_commit(struct db_conn *t, struct request *req, const char *action,
                        const char *resource, const char *id, json_t *before, json_t *after);
static const char *id_of(json_t *o);
static int studio_policy(struct db_conn *t, struct booking_policy *out);
static json_t *room_defaults(void);
static json_t *room_validate(json_t *in, const struct booking_policy *studio, json_t *clean);
static void room_check_durations(json_t *f, json_t *clean, const struct booking_policy *studio);
static void room_take_optional_int(json_t *f, json_t *in, json_t *clean, const char *key,
                                   long long min, long long max, const char *msg);
static int room_write(struct db_conn *t, const char *sql, int n, const char *const *p, json_t **out,
                      json_t **fields);
static int room_delete_or_archive(struct db_conn *t, struct request *req, const char *id,
                                  json_t *room, long long bookings, enum rooms_removal *done);
static json_t *settings_validate(json_t *in, json_t *clean);
static void deposit_validate(json_t *v, json_t *f, json_t *clean);
static void hours_validate(json_t *weekly, json_t *f, json_t *rows);
static void day_validate(json_t *day, size_t i, bool seen[8], json_t *f, json_t *rows);
static json_t *hours_weekly(PGresult *r);
static int hours_load(struct db_conn *t, const char *room_id, json_t **weekly, bool *any);
static void rules_validate(json_t *rules, json_t *f, json_t *clean);
static void rule_validate(json_t *rule, size_t i, json_t *f, json_t *clean);

/* ---- SQL ------------------------------------------------------------------------------- */

/* to_char's format for a UTC timestamp in RFC 3339 (after AT TIME ZONE 'UTC'). */
#define RFC3339 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

/* The staff representation of the room aliased r. */
#define ROOM_JSON                                                                                  \
    "json_build_object('id', r.id, 'name', r.name, 'description', r.description,"                  \
    " 'capacity', r.capacity, 'hourly_rate', r.hourly_rate, 'equipment', r.equipment,"             \
    " 'color', r.color, 'active', r.active, 'photo_url', r.photo_url,"                             \
    " 'min_duration_minutes', r.min_duration_minutes,"                                             \
    " 'max_duration_minutes', r.max_duration_minutes,"                                             \
    " 'slot_step_minutes', r.slot_step_minutes, 'archived', r.archived_at IS NOT NULL,"            \
    " 'archived_at', to_char(r.archived_at AT TIME ZONE 'UTC', " RFC3339 "),"                      \
    " 'created_at', to_char(r.created_at AT TIME ZONE 'UTC', " RFC3339 "),"                        \
    " 'updated_at', to_char(r.updated_at AT TIME ZONE 'UTC', " RFC3339 "))"

/* What customers may see of the room aliased r. */
#define ROOM_PUBLIC_JSON                                                                           \
    "json_build_object('id', r.id, 'name', r.name, 'description', r.description,"                  \
    " 'capacity', r.capacity, 'hourly_rate', r.hourly_rate, 'equipment', r.equipment,"             \
    " 'color', r.color, 'photo_url', r.photo_url,"                                                 \
    " 'min_duration_minutes', r.min_duration_minutes,"                                             \
    " 'max_duration_minutes', r.max_duration_minutes,"                                             \
    " 'slot_step_minutes', r.slot_step_minutes)"

/* The staff representation of the studio_settings row. */
#define SETTINGS_JSON                                                                              \
    "json_build_object('slot_step_minutes', slot_step_minutes,"                                    \
    " 'min_duration_minutes', min_duration_minutes,"                                               \
    " 'max_duration_minutes', max_duration_minutes,"                                               \
    " 'min_notice_minutes', min_notice_minutes, 'max_days_ahead', max_days_ahead,"                 \
    " 'buffer_minutes', buffer_minutes,"                                                           \
    " 'deposit', json_build_object('type', deposit_type, 'value', deposit_value),"                 \
    " 'auto_confirm', auto_confirm, 'hold_minutes', hold_minutes, 'refund_rule', refund_rule,"     \
    " 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', " RFC3339 "))"

#define CLOSURE_JSON                                                                               \
    "json_build_object('id', c.id, 'room_id', c.room_id,"                                          \
    " 'starts_on', to_char(c.starts_on, 'YYYY-MM-DD'),"                                            \
    " 'ends_on', to_char(c.ends_on, 'YYYY-MM-DD'), 'reason', c.reason)"

static const char sql_rooms_list[] =
    "SELECT coalesce(json_agg(" ROOM_JSON
    "                         ORDER BY r.archived_at IS NOT NULL, lower(r.name), r.id), '[]')"
    "  FROM rooms r WHERE $1::boolean OR r.archived_at IS NULL";
static const char sql_room_get[] = "SELECT " ROOM_JSON " FROM rooms r WHERE r.id = $1";
static const char sql_room_get_locked[] =
    "SELECT " ROOM_JSON " FROM rooms r WHERE r.id = $1 FOR UPDATE";
/* $1: the validated room (room_validate) as jsonb. */
static const char sql_room_insert[] =
    "INSERT INTO rooms AS r (name, description, capacity, hourly_rate, equipment, color,"
    "                        photo_url, active, min_duration_minutes, max_duration_minutes,"
    "                        slot_step_minutes, archived_at)"
    " SELECT j->>'name', j->>'description', (j->>'capacity')::int, (j->>'hourly_rate')::bigint,"
    "        j->'equipment', j->>'color', j->>'photo_url', (j->>'active')::boolean,"
    "        (j->>'min_duration_minutes')::int, (j->>'max_duration_minutes')::int,"
    "        (j->>'slot_step_minutes')::int,"
    "        CASE WHEN (j->>'archived')::boolean THEN now() END"
    "   FROM (SELECT $1::jsonb AS j) s"
    " RETURNING " ROOM_JSON;
/* $1: id, $2: the validated room (the stored one merged with the change). */
static const char sql_room_update[] =
    "UPDATE rooms r SET name = j->>'name', description = j->>'description',"
    "       capacity = (j->>'capacity')::int, hourly_rate = (j->>'hourly_rate')::bigint,"
    "       equipment = j->'equipment', color = j->>'color', photo_url = j->>'photo_url',"
    "       active = (j->>'active')::boolean,"
    "       min_duration_minutes = (j->>'min_duration_minutes')::int,"
    "       max_duration_minutes = (j->>'max_duration_minutes')::int,"
    "       slot_step_minutes = (j->>'slot_step_minutes')::int,"
    "       archived_at = CASE WHEN (j->>'archived')::boolean"
    "                          THEN coalesce(r.archived_at, now()) END,"
    "       updated_at = now()"
    "  FROM (SELECT $2::jsonb AS j) s"
    " WHERE r.id = $1"
    " RETURNING " ROOM_JSON;
static const char sql_room_bookings[] =
    "SELECT count(*) AS total,"
    "       count(*) FILTER (WHERE status IN ('pending', 'confirmed') AND ends_at > now())"
    "         AS upcoming"
    "  FROM bookings WHERE room_id = $1";
static const char sql_room_delete[] = "DELETE FROM rooms WHERE id = $1";
static const char sql_room_archive[] =
    "UPDATE rooms r SET archived_at = coalesce(r.archived_at, now()), updated_at = now()"
    " WHERE r.id = $1"
    " RETURNING " ROOM_JSON;
static const char sql_room_load[] =
    "SELECT r.id, r.name, r.hourly_rate, r.active AND r.archived_at IS NULL AS bookable,"
    "       " ROOM_PUBLIC_JSON " AS public"
    "  FROM rooms r WHERE r.id = $1";

/* $1: a room id or NULL (the studio's policy); room_id tells whether the room exists. */
static const char sql_policy[] =
    "SELECT coalesce(r.slot_step_minutes, s.slot_step_minutes) AS slot_step_minutes,"
    "       coalesce(r.min_duration_minutes, s.min_duration_minutes) AS min_duration_minutes,"
    "       coalesce(r.max_duration_minutes, s.max_duration_minutes) AS max_duration_minutes,"
    "       s.min_notice_minutes, s.max_days_ahead, s.buffer_minutes, s.deposit_type,"
    "       s.deposit_value, s.auto_confirm, s.hold_minutes, s.refund_rule, r.id AS room_id"
    "  FROM studio_settings s LEFT JOIN rooms r ON r.id = $1::uuid";

static const char sql_settings_get[] = "SELECT " SETTINGS_JSON " FROM studio_settings";
static const char sql_settings_get_locked[] =
    "SELECT " SETTINGS_JSON " FROM studio_settings FOR UPDATE";
/* $1: the validated settings (settings_validate) as jsonb. */
static const char sql_settings_update[] =
    "UPDATE studio_settings SET slot_step_minutes = (j->>'slot_step_minutes')::int,"
    "       min_duration_minutes = (j->>'min_duration_minutes')::int,"
    "       max_duration_minutes = (j->>'max_duration_minutes')::int,"
    "       min_notice_minutes = (j->>'min_notice_minutes')::int,"
    "       max_days_ahead = (j->>'max_days_ahead')::int,"
    "       buffer_minutes = (j->>'buffer_minutes')::int,"
    "       deposit_type = j->'deposit'->>'type',"
    "       deposit_value = (j->'deposit'->>'value')::bigint,"
    "       auto_confirm = (j->>'auto_confirm')::boolean,"
    "       hold_minutes = (j->>'hold_minutes')::int,"
    "       refund_rule = j->'refund_rule', updated_at = now()"
    "  FROM (SELECT $1::jsonb AS j) s"
    " RETURNING " SETTINGS_JSON;

/* The studio's row stands for "the studio's hours" when they are replaced. */
static const char sql_studio_lock[] = "SELECT 1 FROM studio_settings FOR UPDATE";
/* $1: a room id or NULL (the studio's hours). */
static const char sql_hours_get[] =
    "SELECT weekday, to_char(opens, 'HH24:MI') AS opens, to_char(closes, 'HH24:MI') AS closes"
    "  FROM opening_hours WHERE room_id IS NOT DISTINCT FROM $1::uuid"
    " ORDER BY weekday, opens";
static const char sql_hours_delete[] =
    "DELETE FROM opening_hours WHERE room_id IS NOT DISTINCT FROM $1::uuid";
/* $2: [{"weekday","opens","closes"}] as validated by hours_validate. */
static const char sql_hours_insert[] =
    "INSERT INTO opening_hours (room_id, weekday, opens, closes)"
    " SELECT $1::uuid, (e->>'weekday')::smallint, (e->>'opens')::time, (e->>'closes')::time"
    "   FROM jsonb_array_elements($2::jsonb) e";

static const char sql_closures_list[] =
    "SELECT coalesce(json_agg(" CLOSURE_JSON " ORDER BY c.starts_on, c.ends_on, c.id), '[]')"
    "  FROM closures c"
    " WHERE ($1::date IS NULL OR c.ends_on >= $1::date)"
    "   AND ($2::date IS NULL OR c.starts_on <= $2::date)";
/* No row back when room_id names no room. */
static const char sql_closure_insert[] =
    "INSERT INTO closures AS c (room_id, starts_on, ends_on, reason)"
    " SELECT $1::uuid, $2::date, $3::date, $4"
    "  WHERE $1::uuid IS NULL OR EXISTS (SELECT 1 FROM rooms WHERE id = $1::uuid)"
    " RETURNING " CLOSURE_JSON;
static const char sql_closure_delete[] =
    "DELETE FROM closures c WHERE c.id = $1 RETURNING " CLOSURE_JSON;

#define RULE_JSON                                                                                  \
    "json_build_object('id', p.id, 'name', p.name, 'weekdays', p.weekdays,"                        \
    " 'starts', to_char(p.starts, 'HH24:MI'), 'ends', to_char(p.ends, 'HH24:MI'),"                 \
    " 'hourly_rate', p.hourly_rate)"
static const char sql_prices_get[] =
    "SELECT json_build_object('hourly_rate', r.hourly_rate, 'rules',"
    "         (SELECT coalesce(json_agg(" RULE_JSON
    "                                   ORDER BY p.starts, p.ends, p.name, p.id), '[]')"
    "            FROM price_rules p WHERE p.room_id = r.id))"
    "  FROM rooms r WHERE r.id = $1";
static const char sql_room_exists_locked[] = "SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE";
static const char sql_room_exists[] = "SELECT 1 FROM rooms WHERE id = $1";
static const char sql_room_rate[] =
    "UPDATE rooms SET hourly_rate = $2::bigint, updated_at = now() WHERE id = $1";
static const char sql_rules_delete[] = "DELETE FROM price_rules WHERE room_id = $1";
/* $2: [{"name","weekdays","starts","ends","hourly_rate"}] as validated by rules_validate. */
static const char sql_rules_insert[] =
    "INSERT INTO price_rules (room_id, name, weekdays, starts, ends, hourly_rate)"
    " SELECT $1::uuid, e->>'name',"
    "        ARRAY(SELECT d::smallint FROM jsonb_array_elements_text(e->'weekdays') d ORDER BY 1),"
    "        (e->>'starts')::time, (e->>'ends')::time, (e->>'hourly_rate')::bigint"
    "   FROM jsonb_array_elements($2::jsonb) e";
/* Weekdays as a bitmask (bit 1 = Monday), times as minutes of the day (24:00 is 1440). */
/* A price rule as pricing.h takes it, of price_rules aliased pr. */
#define PRICE_RULE_MASK "(SELECT coalesce(bit_or(1 << d::int), 0) FROM unnest(pr.weekdays) d)"
#define PRICE_RULE_START "(extract(epoch FROM pr.starts) / 60)::int"
#define PRICE_RULE_END "(extract(epoch FROM pr.ends) / 60)::int"
#define PRICE_RULE_ORDER "pr.starts, pr.ends, pr.id"
static const char sql_rules_for_pricing[] =
    "SELECT " PRICE_RULE_MASK " AS mask, " PRICE_RULE_START " AS start_minute,"
    "       " PRICE_RULE_END " AS end_minute, pr.hourly_rate"
    "  FROM price_rules pr WHERE pr.room_id = $1 ORDER BY " PRICE_RULE_ORDER;

/* A room (sql_room_load's columns), its policy (sql_policy's) and its price rules (as
 * "mask,start,end,rate;..."), in one statement. */
static const char sql_room_with_policy[] =
    "SELECT r.id, r.name, r.hourly_rate, r.active AND r.archived_at IS NULL AS bookable,"
    "       " ROOM_PUBLIC_JSON " AS public,"
    "       coalesce(r.slot_step_minutes, s.slot_step_minutes) AS slot_step_minutes,"
    "       coalesce(r.min_duration_minutes, s.min_duration_minutes) AS min_duration_minutes,"
    "       coalesce(r.max_duration_minutes, s.max_duration_minutes) AS max_duration_minutes,"
    "       s.min_notice_minutes, s.max_days_ahead, s.buffer_minutes, s.deposit_type,"
    "       s.deposit_value, s.auto_confirm, s.hold_minutes, s.refund_rule, r.id AS room_id,"
    "       (SELECT string_agg(concat_ws(',', " PRICE_RULE_MASK ", " PRICE_RULE_START ","
    "                                     " PRICE_RULE_END ", pr.hourly_rate), ';'"
    "                          ORDER BY " PRICE_RULE_ORDER ")"
    "          FROM price_rules pr WHERE pr.room_id = r.id) AS price_rules"
    "  FROM rooms r CROSS JOIN studio_settings s WHERE r.id = $1::uuid";

/* ---- small helpers --------------------------------------------------------------------- */

/* A JSON integer (not a real, not a string) in min..max. */
static bool int_in(json_t *v, long long min, long long max, long long *out)
{
    if (!json_is_integer(v))
        return false;
    long long n = json_integer_value(v);
    if (n < min || n > max)
        return false;
    *out = n;
    return true;
}

static bool valid_step(long long step)
{
    for (size_t i = 0; i < sizeof(slot_steps) / sizeof(slot_steps[0]); i++)
        if (slot_steps[i] == step)
            return true;
    return false;
}

/* "HH:MM" on the 5-minute grid as minutes of the day, or -1. "24:00" only when allow_end
 * (a closing time); "00:00" only when not. */
static int parse_hhmm(json_t *v, bool allow_end)
{
    if (!json_is_string(v) || json_string_length(v) != 5)
        return -1;
    const char *s = json_string_value(v);
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || m % GRID_MINUTES != 0 || (h == 24 && m != 0))
        return -1;
    int minutes = h * 60 + m;
    if (allow_end ? minutes == 0 : minutes == DAY_MINUTES)
        return -1;
    return minutes;
}

/* minutes: 0..1440 */
static void format_hhmm(int minutes, char out[6])
{
    int h = minutes / 60, m = minutes % 60;
    out[0] = (char)('0' + h / 10);
    out[1] = (char)('0' + h % 10);
    out[2] = ':';
    out[3] = (char)('0' + m / 10);
    out[4] = (char)('0' + m % 10);
    out[5] = '\0';
}

/* A calendar date YYYY-MM-DD (years 1900 to 9999). */
static bool valid_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* An absolute http(s) URL with a host, without spaces, quotes or angle brackets. */
static bool valid_url(const char *s)
{
    size_t skip;
    if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else
        return false;
    if (!s[skip] || s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7F || *p == '"' || *p == '<' || *p == '>' ||
            *p == '\\')
            return false;
    return true;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->start != y->start ? (x->start > y->start) - (x->start < y->start)
                                : (x->end > y->end) - (x->end < y->end);
}

bool rooms_id_valid(const char *id)
{
    return http_uuid_valid(id);
}

/* Runs sql, whose one row has one JSON column, into *out: ROOMS_OK, ROOMS_NOT_FOUND (no
 * row) or ROOMS_DB (*sqlstate, if asked, says why). */
static int query_json(struct db_conn *t, const char *sql, int n, const char *const *p, json_t **out,
                      const char **sqlstate)
{
    PGresult *r = db_exec(t, sql, n, p, sqlstate);
    if (!r)
        return ROOMS_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ROOMS_NOT_FOUND;
    }
    json_error_t e;
    *out = json_loads(PQgetvalue(r, 0, 0), 0, &e);
    PQclear(r);
    if (!*out) {
        log_msg(LOG_ERROR, "rooms: unreadable JSON from the database: %s", e.text);
        return ROOMS_DB;
    }
    return ROOMS_OK;
}

/* Ends a failed transaction: rolls back, drops field errors not wanted any more, passes rc. */
static int fail(struct db_conn *t, int rc, json_t **fields)
{
    db_rollback(t);
    if (fields && rc != ROOMS_INVALID && rc != ROOMS_NAME_TAKEN) {
        json_decref(*fields);
        *fields = NULL;
    }
    return rc;
}

/* Replaces a room's (room_id) or the studio's (NULL) resource in one audited transaction:
 * locks the owner's row (which serializes concurrent replacements), reads the resource with
 * get, lets write change it, reads it again into *out and records the update. ROOMS_OK,
 * ROOMS_NOT_FOUND (no such room) or ROOMS_DB, with *out NULL but on success. */
static int replace_audited(struct db_conn *t, struct request *req, const char *room_id,
                           const char *resource,
                           int (*get)(struct db_conn *t, const char *room_id, json_t **out),
                           bool (*write)(struct db_conn *t, void *change), void *change,
                           json_t **out)
{
    *out = NULL;
    if (db_begin(t) != 0)
        return ROOMS_DB;
    const char *p[] = {room_id};
    PGresult *r = room_id ? db_exec(t, sql_room_exists_locked, 1, p, NULL)
                          : db_exec(t, sql_studio_lock, 0, NULL, NULL);
    if (!r)
        return fail(t, ROOMS_DB, NULL);
    bool found = PQntuples(r) > 0;
    PQclear(r);
    if (!found)
        return fail(t, ROOMS_NOT_FOUND, NULL);
    json_t *before = NULL;
    bool done = get(t, room_id, &before) == ROOMS_OK && write(t, change) &&
                get(t, room_id, out) == ROOMS_OK;
    int rc = done ? ROOMS_OK : ROOMS_DB;
    return write_end(t, req, rc, AUDIT_ACTION_UPDATE, resource, room_id, before, out, NULL);
}

/* Ends the change (rc its status so far) whose result is *out: its entry (action on
 * resource id, before to *out) and the commit; or, when rc or either of those failed, the
 * rollback with *out released. Releases before; returns the status. */
static int write_end(struct db_conn *t, struct request *req, int rc, const char *action,
                     const char *resource, const char *id, json_t *before, json_t **out,
                     json_t **fields)
{
    if (rc == ROOMS_OK)
        rc = audit_commit(t, req, action, resource, id, before, *out);
    json_decref(before);
    if (rc == ROOMS_OK)
        return ROOMS_OK;
    json_drop(out);
    return fail(t, rc, fields);
}

/* Ends a change: its audit entry as the transaction's last statement, then the commit.
 * ROOMS_OK, or ROOMS_DB after rolling back (the change goes with its entry). */
static int audit_commit(struct db_conn *t, struct request *req, const char *action,
                        const char *resource, const char *id, json_t *before, json_t *after)
{
    if (audit_record(t, req, action, resource, id, before, after) != AUDIT_OK ||
        db_commit(t) != 0) {
        db_rollback(t);
        return ROOMS_DB;
    }
    return ROOMS_OK;
}

/* The "id" member of a representation (NULL when it has none). */
static const char *id_of(json_t *o)
{
    return json_string_value(json_object_get(o, "id"));
}

/* The studio's own policy (no room overrides). */
static int studio_policy(struct db_conn *t, struct booking_policy *out)
{
    int rc = rooms_policy_load(t, NULL, out);
    return rc == 0 ? ROOMS_OK : rc == -1 ? ROOMS_NOT_FOUND : ROOMS_DB;
}

/* ---- rooms ----------------------------------------------------------------------------- */

int rooms_list(struct db_conn *t, bool include_archived, json_t **out)
{
    const char *p[] = {include_archived ? "true" : "false"};
    json_t *list = NULL;
    int rc = query_json(t, sql_rooms_list, 1, p, &list, NULL);
    if (rc != ROOMS_OK)
        return rc == ROOMS_NOT_FOUND ? ROOMS_DB : rc;
    *out = json_pack("{s:o}", "rooms", list);
    return ROOMS_OK;
}

int rooms_get(struct db_conn *t, const char *id, json_t **out)
{
    if (!rooms_id_valid(id))
        return ROOMS_NOT_FOUND;
    const char *p[] = {id};
    return query_json(t, sql_room_get, 1, p, out, NULL);
}

/* What a new room is unless the client says otherwise (name and hourly_rate are required). */
static json_t *room_defaults(void)
{
    return json_pack("{s:s, s:n, s:[], s:s, s:n, s:b, s:n, s:n, s:n, s:b}", "description", "",
                     "capacity", "equipment", "color", DEFAULT_COLOR, "photo_url", "active", 1,
                     "min_duration_minutes", "max_duration_minutes", "slot_step_minutes",
                     "archived", 0);
}

/* A nullable integer field: null, or a JSON integer in min..max on the 5-minute grid when
 * min is a multiple of it. */
static void room_take_optional_int(json_t *f, json_t *in, json_t *clean, const char *key,
                                   long long min, long long max, const char *msg)
{
    json_t *v = json_object_get(in, key);
    long long n;
    if (!v || json_is_null(v))
        json_object_set_new(clean, key, json_null());
    else if (int_in(v, min, max, &n) && (min % GRID_MINUTES != 0 || n % GRID_MINUTES == 0))
        json_object_set_new(clean, key, json_integer(n));
    else
        http_field_error(f, key, "%s", msg);
}

/* Checks every field of a room (a create's body over the defaults, or the stored room
 * merged with an update's changes) against the studio's policy. Fills clean with the
 * normalized values; returns the bad fields, or NULL. */
static json_t *room_validate(json_t *in, const struct booking_policy *studio, json_t *clean)
{
    json_t *f = json_object();
    json_t *v, *c;
    long long n;

    if ((c = http_clean_text(json_object_get(in, "name"), 1, NAME_MAX_CHARS, false)))
        json_object_set_new(clean, "name", c);
    else
        http_field_error(f, "name", "Required: 1 to %d characters", NAME_MAX_CHARS);

    v = json_object_get(in, "description");
    if (json_is_null(v))
        json_object_set_new(clean, "description", json_string(""));
    else if ((c = http_clean_text(v, 0, DESCRIPTION_MAX_CHARS, true)))
        json_object_set_new(clean, "description", c);
    else
        http_field_error(f, "description", "Text of at most %d characters", DESCRIPTION_MAX_CHARS);

    room_take_optional_int(f, in, clean, "capacity", 1, CAPACITY_MAX,
                           "A number of people from 1 to 10000, or null");

    if (int_in(json_object_get(in, "hourly_rate"), 0, RATE_MAX, &n))
        json_object_set_new(clean, "hourly_rate", json_integer(n));
    else
        http_field_error(
            f, "hourly_rate",
            "Required: a whole number of the currency's minor unit per hour, 0 or more "
            "(2500 is 25.00 EUR)");

    v = json_object_get(in, "equipment");
    if (json_is_null(v)) {
        json_object_set_new(clean, "equipment", json_array());
    } else if (!json_is_array(v) || json_array_size(v) > EQUIPMENT_MAX_ITEMS) {
        http_field_error(f, "equipment", "A list of at most %d names", EQUIPMENT_MAX_ITEMS);
    } else {
        json_t *list = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if ((c = http_clean_text(item, 1, EQUIPMENT_ITEM_MAX_CHARS, false))) {
                json_array_append_new(list, c);
            } else {
                http_field_error(f, "equipment", "Each item: text of 1 to %d characters",
                                 EQUIPMENT_ITEM_MAX_CHARS);
                break;
            }
        }
        json_object_set_new(clean, "equipment", list);
    }

    v = json_object_get(in, "color");
    const char *color = json_string_value(v);
    bool color_ok = color && json_string_length(v) == 7 && color[0] == '#';
    for (int i = 1; color_ok && i < 7; i++)
        color_ok = isxdigit((unsigned char)color[i]);
    if (color_ok) {
        char lower[8];
        for (int i = 0; i < 8; i++)
            lower[i] = (char)tolower((unsigned char)color[i]);
        json_object_set_new(clean, "color", json_string(lower));
    } else {
        http_field_error(f, "color", "A colour #rrggbb, such as #3b5bdb");
    }

    v = json_object_get(in, "active");
    if (json_is_boolean(v))
        json_object_set(clean, "active", v);
    else
        http_field_error(f, "active", "true or false");

    v = json_object_get(in, "photo_url");
    if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        json_object_set_new(clean, "photo_url", json_null());
    else if (json_is_string(v) && json_string_length(v) <= URL_MAX_CHARS &&
             strlen(json_string_value(v)) == json_string_length(v) &&
             valid_url(json_string_value(v)))
        json_object_set(clean, "photo_url", v);
    else
        http_field_error(f, "photo_url", "An http:// or https:// address, or null");

    v = json_object_get(in, "slot_step_minutes");
    if (json_is_null(v))
        json_object_set_new(clean, "slot_step_minutes", json_null());
    else if (int_in(v, 1, 60, &n) && valid_step(n))
        json_object_set_new(clean, "slot_step_minutes", json_integer(n));
    else
        http_field_error(f, "slot_step_minutes",
                         "5, 10, 15, 20, 30 or 60, or null for the studio's (%d)",
                         studio->slot_step_minutes);

    room_take_optional_int(f, in, clean, "min_duration_minutes", GRID_MINUTES, DURATION_MAX_MINUTES,
                           "Minutes, a multiple of 5 up to 10080, or null for the studio's");
    room_take_optional_int(f, in, clean, "max_duration_minutes", GRID_MINUTES, DURATION_MAX_MINUTES,
                           "Minutes, a multiple of 5 up to 10080, or null for the studio's");

    v = json_object_get(in, "archived");
    if (json_is_boolean(v))
        json_object_set(clean, "archived", v);
    else
        http_field_error(f, "archived", "true or false");

    if (!json_object_get(f, "slot_step_minutes") && !json_object_get(f, "min_duration_minutes") &&
        !json_object_get(f, "max_duration_minutes"))
        room_check_durations(f, clean, studio);
    return http_fields_or_null(f);
}

/* The room's overrides over the studio's policy must still make a policy: durations on the
 * slot step, minimum at most maximum. The error names the field the room sets. */
static void room_check_durations(json_t *f, json_t *clean, const struct booking_policy *studio)
{
    json_t *vs = json_object_get(clean, "slot_step_minutes");
    json_t *vmin = json_object_get(clean, "min_duration_minutes");
    json_t *vmax = json_object_get(clean, "max_duration_minutes");
    int step = json_is_integer(vs) ? (int)json_integer_value(vs) : studio->slot_step_minutes;
    int min = json_is_integer(vmin) ? (int)json_integer_value(vmin) : studio->min_duration_minutes;
    int max = json_is_integer(vmax) ? (int)json_integer_value(vmax) : studio->max_duration_minutes;

    if (min % step != 0) {
        if (json_is_integer(vmin))
            http_field_error(f, "min_duration_minutes", "A multiple of the slot step (%d minutes)",
                             step);
        else
            http_field_error(f, "slot_step_minutes",
                             "The studio's minimum duration (%d minutes) is not a multiple of %d: "
                             "set min_duration_minutes too",
                             min, step);
    }
    if (max % step != 0) {
        if (json_is_integer(vmax))
            http_field_error(f, "max_duration_minutes", "A multiple of the slot step (%d minutes)",
                             step);
        else
            http_field_error(f, "slot_step_minutes",
                             "The studio's maximum duration (%d minutes) is not a multiple of %d: "
                             "set max_duration_minutes too",
                             max, step);
    }
    if (min > max) {
        if (json_is_integer(vmax))
            http_field_error(f, "max_duration_minutes",
                             "At least the minimum duration (%d minutes)", min);
        else
            http_field_error(f, "min_duration_minutes", "At most the maximum duration (%d minutes)",
                             max);
    }
}

/* Runs a room INSERT/UPDATE whose last parameter is the validated room; a name already used
 * by another room that is not archived becomes ROOMS_NAME_TAKEN. */
static int room_write(struct db_conn *t, const char *sql, int n, const char *const *p, json_t **out,
                      json_t **fields)
{
    const char *state = NULL;
    int rc = query_json(t, sql, n, p, out, &state);
    if (rc == ROOMS_DB && state && strcmp(state, SQLSTATE_UNIQUE_VIOLATION) == 0) {
        *fields = json_pack("{s:s}", "name", "Another room already has this name");
        return ROOMS_NAME_TAKEN;
    }
    return rc;
}

int rooms_create(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                 json_t **fields)
{
    *out = *fields = NULL;
    struct booking_policy studio;
    if (studio_policy(t, &studio) != ROOMS_OK)
        return ROOMS_DB;
    json_t *in = room_defaults();
    json_object_update(in, body);
    json_t *clean = json_object();
    *fields = room_validate(in, &studio, clean);
    rooms_policy_release(&studio);
    json_decref(in);
    if (*fields) {
        json_decref(clean);
        return ROOMS_INVALID;
    }
    char *text = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);
    const char *p[] = {text};
    int rc =
        text && db_begin(t) == 0 ? room_write(t, sql_room_insert, 1, p, out, fields) : ROOMS_DB;
    free(text);
    return write_end(t, req, rc == ROOMS_NOT_FOUND ? ROOMS_DB : rc, AUDIT_ACTION_CREATE, "rooms",
                     id_of(*out), NULL, out, fields);
}

/* The stored room is locked, merged with the change and validated whole, then written. */
int rooms_update(struct db_conn *t, struct request *req, const char *id, json_t *body, json_t **out,
                 json_t **fields)
{
    *out = *fields = NULL;
    if (!rooms_id_valid(id))
        return ROOMS_NOT_FOUND;
    struct booking_policy studio;
    json_t *stored = NULL;
    const char *p[] = {id, NULL};
    int rc;

    if (db_begin(t) != 0)
        return ROOMS_DB;
    if ((rc = query_json(t, sql_room_get_locked, 1, p, &stored, NULL)) != ROOMS_OK)
        return fail(t, rc, fields);
    if (studio_policy(t, &studio) != ROOMS_OK) {
        json_decref(stored);
        return fail(t, ROOMS_DB, fields);
    }
    json_t *before = json_deep_copy(stored);
    json_object_update(stored, body);
    json_t *clean = json_object();
    *fields = room_validate(stored, &studio, clean);
    rooms_policy_release(&studio);
    json_decref(stored);
    if (*fields) {
        json_decref(before);
        json_decref(clean);
        return fail(t, ROOMS_INVALID, fields);
    }
    char *text = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);
    p[1] = text;
    rc = text ? room_write(t, sql_room_update, 2, p, out, fields) : ROOMS_DB;
    free(text);
    return write_end(t, req, rc == ROOMS_NOT_FOUND ? ROOMS_DB : rc, AUDIT_ACTION_UPDATE, "rooms",
                     id, before, out, fields);
}

/* Deletes the room (it never had a booking) or archives it, with the entry that says
 * which; room is its representation, read under the row lock. */
static int room_delete_or_archive(struct db_conn *t, struct request *req, const char *id,
                                  json_t *room, long long bookings, enum rooms_removal *done)
{
    const char *p[] = {id};
    if (bookings == 0) {
        const char *state = NULL;
        PGresult *r = db_exec(t, sql_room_delete, 1, p, &state);
        if (!r)
            /* a booking made since the count (cannot happen under the row lock; belt and
             * braces): the foreign key refuses the delete */
            return fail(t, state && strcmp(state, "23503") == 0 ? ROOMS_HAS_BOOKINGS : ROOMS_DB,
                        NULL);
        PQclear(r);
        *done = ROOMS_REMOVED;
        return audit_commit(t, req, AUDIT_ACTION_DELETE, "rooms", id, room, NULL);
    }
    json_t *archived = NULL;
    int rc = query_json(t, sql_room_archive, 1, p, &archived, NULL);
    if (rc != ROOMS_OK)
        return fail(t, ROOMS_DB, NULL);
    *done = ROOMS_ARCHIVED;
    rc = audit_commit(t, req, "archive", "rooms", id, room, archived);
    json_decref(archived);
    return rc;
}

int rooms_remove(struct db_conn *t, struct request *req, const char *id, enum rooms_removal *done)
{
    if (!rooms_id_valid(id))
        return ROOMS_NOT_FOUND;
    const char *p[] = {id};
    if (db_begin(t) != 0)
        return ROOMS_DB;
    json_t *room = NULL;
    int rc = query_json(t, sql_room_get_locked, 1, p, &room, NULL);
    if (rc != ROOMS_OK)
        return fail(t, rc, NULL);
    bool archived = json_is_true(json_object_get(room, "archived"));

    PGresult *r = db_exec(t, sql_room_bookings, 1, p, NULL);
    if (!r) {
        json_decref(room);
        return fail(t, ROOMS_DB, NULL);
    }
    long long total = atoll(db_get(r, 0, "total"));
    long long upcoming = atoll(db_get(r, 0, "upcoming"));
    PQclear(r);

    if (upcoming > 0 && !archived)
        rc = fail(t, ROOMS_HAS_BOOKINGS, NULL);
    else
        rc = room_delete_or_archive(t, req, id, room, total, done);
    json_decref(room);
    return rc;
}

/* ---- the booking policy ---------------------------------------------------------------- */

int rooms_settings_get(struct db_conn *t, json_t **out)
{
    int rc = query_json(t, sql_settings_get, 0, NULL, out, NULL);
    return rc == ROOMS_NOT_FOUND ? ROOMS_DB : rc;
}

/* Checks a whole deposit {"type", "value"}; into clean. */
static void deposit_validate(json_t *v, json_t *f, json_t *clean)
{
    if (!json_is_object(v)) {
        http_field_error(f, "deposit",
                         "An object {\"type\": \"none|percent|fixed\", \"value\": n}");
        return;
    }
    const char *type = json_string_value(json_object_get(v, "type"));
    json_t *value = json_object_get(v, "value");
    long long n = 0;
    if (!type || !(strcmp(type, "none") == 0 || strcmp(type, "percent") == 0 ||
                   strcmp(type, "fixed") == 0)) {
        http_field_error(f, "deposit.type", "none, percent or fixed");
        return;
    }
    if (strcmp(type, "none") == 0) {
        if (value && !json_is_null(value) && !int_in(value, 0, 0, &n))
            http_field_error(f, "deposit.value", "0 (or absent) when there is no deposit");
    } else if (strcmp(type, "percent") == 0) {
        if (!int_in(value, 0, PERCENT_MAX, &n))
            http_field_error(f, "deposit.value", "A whole percentage from 0 to 100");
    } else if (!int_in(value, 0, RATE_MAX, &n)) {
        http_field_error(
            f, "deposit.value",
            "A whole number of the currency's minor unit, 0 or more (2000 is 20.00 EUR)");
    }
    json_object_set_new(clean, "deposit",
                        json_pack("{s:s, s:I}", "type", type, "value", (json_int_t)n));
}

/* Checks every field of the policy (the stored one merged with the change); into clean. */
static json_t *settings_validate(json_t *in, json_t *clean)
{
    json_t *f = json_object();
    long long step = 0, min = 0, max = 0, n;

    if (int_in(json_object_get(in, "slot_step_minutes"), 1, 60, &step) && valid_step(step)) {
        json_object_set_new(clean, "slot_step_minutes", json_integer(step));
    } else {
        step = 0; /* no multiple to check against */
        http_field_error(f, "slot_step_minutes", "5, 10, 15, 20, 30 or 60");
    }

    if (!int_in(json_object_get(in, "min_duration_minutes"), GRID_MINUTES, DURATION_MAX_MINUTES,
                &min))
        http_field_error(f, "min_duration_minutes", "Minutes from 5 to %d", DURATION_MAX_MINUTES);
    else if (step && min % step != 0)
        http_field_error(f, "min_duration_minutes", "A multiple of the slot step (%lld minutes)",
                         step);
    else
        json_object_set_new(clean, "min_duration_minutes", json_integer(min));

    if (!int_in(json_object_get(in, "max_duration_minutes"), GRID_MINUTES, DURATION_MAX_MINUTES,
                &max))
        http_field_error(f, "max_duration_minutes", "Minutes from 5 to %d", DURATION_MAX_MINUTES);
    else if (step && max % step != 0)
        http_field_error(f, "max_duration_minutes", "A multiple of the slot step (%lld minutes)",
                         step);
    else if (min && max < min)
        http_field_error(f, "max_duration_minutes", "At least the minimum duration (%lld minutes)",
                         min);
    else
        json_object_set_new(clean, "max_duration_minutes", json_integer(max));

    if (int_in(json_object_get(in, "min_notice_minutes"), 0, NOTICE_MAX_MINUTES, &n))
        json_object_set_new(clean, "min_notice_minutes", json_integer(n));
    else
        http_field_error(f, "min_notice_minutes", "Minutes from 0 to %d (30 days)",
                         NOTICE_MAX_MINUTES);

    if (int_in(json_object_get(in, "max_days_ahead"), DAYS_AHEAD_MIN, DAYS_AHEAD_MAX, &n))
        json_object_set_new(clean, "max_days_ahead", json_integer(n));
    else
        http_field_error(f, "max_days_ahead", "Days from %d to %d", DAYS_AHEAD_MIN, DAYS_AHEAD_MAX);

    if (int_in(json_object_get(in, "buffer_minutes"), 0, BUFFER_MAX_MINUTES, &n) &&
        n % GRID_MINUTES == 0)
        json_object_set_new(clean, "buffer_minutes", json_integer(n));
    else
        http_field_error(f, "buffer_minutes", "Minutes from 0 to %d, a multiple of 5",
                         BUFFER_MAX_MINUTES);

    deposit_validate(json_object_get(in, "deposit"), f, clean);

    json_t *v = json_object_get(in, "auto_confirm");
    if (json_is_boolean(v))
        json_object_set(clean, "auto_confirm", v);
    else
        http_field_error(f, "auto_confirm", "true or false");

    if (int_in(json_object_get(in, "hold_minutes"), HOLD_MIN_MINUTES, HOLD_MAX_MINUTES, &n))
        json_object_set_new(clean, "hold_minutes", json_integer(n));
    else
        http_field_error(f, "hold_minutes", "Minutes from %d to %d", HOLD_MIN_MINUTES,
                         HOLD_MAX_MINUTES);

    v = json_object_get(in, "refund_rule");
    const char *problem = json_is_object(v) ? pricing_refund_rule_problem(v)
                                            : "An object: {\"type\": \"tiers\", ...} or "
                                              "{\"type\": \"linear\", ...}";
    if (problem)
        http_field_error(f, "refund_rule", "%s", problem);
    else
        json_object_set(clean, "refund_rule", v);
    return http_fields_or_null(f);
}

int rooms_settings_update(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                          json_t **fields)
{
    json_t *stored = NULL;
    *out = *fields = NULL;
    if (db_begin(t) != 0)
        return ROOMS_DB;
    int rc = query_json(t, sql_settings_get_locked, 0, NULL, &stored, NULL);
    if (rc != ROOMS_OK)
        return fail(t, ROOMS_DB, fields);
    json_t *before = json_deep_copy(stored);
    json_object_update(stored, body);
    json_t *clean = json_object();
    *fields = settings_validate(stored, clean);
    json_decref(stored);
    if (*fields) {
        json_decref(before);
        json_decref(clean);
        return fail(t, ROOMS_INVALID, fields);
    }
    char *text = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);
    const char *p[] = {text};
    rc = text ? query_json(t, sql_settings_update, 1, p, out, NULL) : ROOMS_DB;
    free(text);
    return write_end(t, req, rc == ROOMS_OK ? ROOMS_OK : ROOMS_DB, AUDIT_ACTION_UPDATE, "settings",
                     "booking", before, out, fields);
}

/* ---- opening hours --------------------------------------------------------------------- */

/* Rows (weekday, opens, closes) as {"weekday", "ranges"} for all seven days (a day without
 * ranges is closed). r NULL: a week closed every day. */
static json_t *hours_weekly(PGresult *r)
{
    json_t *days[8] = {0};
    json_t *weekly = json_array();
    for (int d = 1; d <= 7; d++) {
        days[d] = json_array();
        json_array_append_new(weekly, json_pack("{s:i, s:O}", "weekday", d, "ranges", days[d]));
        json_decref(days[d]); /* weekly holds it */
    }
    for (int i = 0; r && i < PQntuples(r); i++) {
        int d = atoi(db_get(r, i, "weekday"));
        if (d >= 1 && d <= 7)
            json_array_append_new(days[d], json_pack("{s:s, s:s}", "opens", db_get(r, i, "opens"),
                                                     "closes", db_get(r, i, "closes")));
    }
    return weekly;
}

/* The weekly hours stored for room_id (NULL: the studio's) into *weekly; *any says whether
 * there is any row. */
static int hours_load(struct db_conn *t, const char *room_id, json_t **weekly, bool *any)
{
    const char *p[] = {room_id};
    PGresult *r = db_exec(t, sql_hours_get, 1, p, NULL);
    if (!r)
        return ROOMS_DB;
    *any = PQntuples(r) > 0;
    *weekly = hours_weekly(r);
    PQclear(r);
    return ROOMS_OK;
}

int rooms_hours_get(struct db_conn *t, const char *room_id, json_t **out)
{
    json_t *weekly = NULL;
    bool any;
    *out = NULL;
    if (!room_id) {
        if (hours_load(t, NULL, &weekly, &any) != ROOMS_OK)
            return ROOMS_DB;
        *out = json_pack("{s:o}", "weekly", weekly);
        return ROOMS_OK;
    }
    if (!rooms_id_valid(room_id))
        return ROOMS_NOT_FOUND;
    const char *p[] = {room_id};
    PGresult *r = db_exec(t, sql_room_exists, 1, p, NULL);
    if (!r)
        return ROOMS_DB;
    int found = PQntuples(r);
    PQclear(r);
    if (!found)
        return ROOMS_NOT_FOUND;
    if (hours_load(t, room_id, &weekly, &any) != ROOMS_OK)
        return ROOMS_DB;
    bool inherit = !any;
    if (inherit) { /* no rows of its own: the studio's hours apply */
        json_decref(weekly);
        if (hours_load(t, NULL, &weekly, &any) != ROOMS_OK)
            return ROOMS_DB;
    }
    *out = json_pack("{s:b, s:o}", "inherit", inherit, "weekly", weekly);
    return ROOMS_OK;
}

/* One weekday of a weekly list: its ranges checked (grid, order, no overlap) and added to
 * rows as {"weekday","opens","closes"}. */
static void day_validate(json_t *day, size_t i, bool seen[8], json_t *f, json_t *rows)
{
    char key[KEY_LEN];
    long long wd;
    if (!json_is_object(day)) {
        snprintf(key, sizeof(key), "weekly[%zu]", i);
        http_field_error(f, key, "An object {\"weekday\": 1..7, \"ranges\": [...]}");
        return;
    }
    snprintf(key, sizeof(key), "weekly[%zu].weekday", i);
    if (!int_in(json_object_get(day, "weekday"), 1, 7, &wd)) {
        http_field_error(f, key, "1 (Monday) to 7 (Sunday)");
        return;
    }
    if (seen[wd]) {
        http_field_error(f, key, "Weekday %lld is listed twice", wd);
        return;
    }
    seen[wd] = true;
    json_t *ranges = json_object_get(day, "ranges");
    snprintf(key, sizeof(key), "weekly[%zu].ranges", i);
    if (!json_is_array(ranges) || json_array_size(ranges) > RANGES_PER_DAY_MAX) {
        http_field_error(f, key,
                         "A list of at most %d {\"opens\": \"HH:MM\", \"closes\": \"HH:MM\"} "
                         "(empty: closed that day)",
                         RANGES_PER_DAY_MAX);
        return;
    }
    struct span sp[RANGES_PER_DAY_MAX];
    int n = 0;
    bool ok = true;
    size_t j;
    json_t *range;
    json_array_foreach(ranges, j, range)
    {
        int opens = parse_hhmm(json_object_get(range, "opens"), false);
        int closes = parse_hhmm(json_object_get(range, "closes"), true);
        if (opens < 0) {
            snprintf(key, sizeof(key), "weekly[%zu].ranges[%zu].opens", i, j);
            http_field_error(f, key, "A time HH:MM from 00:00 to 23:55, minutes a multiple of 5");
            ok = false;
        }
        if (closes < 0) {
            snprintf(key, sizeof(key), "weekly[%zu].ranges[%zu].closes", i, j);
            http_field_error(f, key, "A time HH:MM from 00:05 to 24:00, minutes a multiple of 5");
            ok = false;
        } else if (opens >= 0 && closes <= opens) {
            snprintf(key, sizeof(key), "weekly[%zu].ranges[%zu].closes", i, j);
            http_field_error(f, key, "After the opening time");
            ok = false;
        }
        sp[n++] = (struct span){opens, closes, j};
    }
    if (!ok)
        return;
    qsort(sp, (size_t)n, sizeof(sp[0]), span_cmp);
    for (int k = 1; k < n; k++)
        if (sp[k].start < sp[k - 1].end) {
            char a[6], b[6];
            format_hhmm(sp[k - 1].start, a);
            format_hhmm(sp[k - 1].end, b);
            snprintf(key, sizeof(key), "weekly[%zu].ranges[%zu]", i, sp[k].index);
            http_field_error(f, key, "Overlaps %s-%s on the same day", a, b);
            return;
        }
    for (int k = 0; k < n; k++) {
        char a[6], b[6];
        format_hhmm(sp[k].start, a);
        format_hhmm(sp[k].end, b);
        json_array_append_new(
            rows, json_pack("{s:I, s:s, s:s}", "weekday", (json_int_t)wd, "opens", a, "closes", b));
    }
}

/* A weekly list into rows; bad fields into f. */
static void hours_validate(json_t *weekly, json_t *f, json_t *rows)
{
    if (!json_is_array(weekly)) {
        http_field_error(
            f, "weekly",
            "Required: a list of {\"weekday\": 1..7, \"ranges\": [{\"opens\": \"09:00\", "
            "\"closes\": \"23:00\"}]}");
        return;
    }
    bool seen[8] = {0};
    size_t i;
    json_t *day;
    json_array_foreach(weekly, i, day)
    {
        day_validate(day, i, seen, f, rows);
    }
}

int rooms_hours_put(struct db_conn *t, struct request *req, const char *room_id, json_t *body,
                    json_t **out, json_t **fields)
{
    *out = *fields = NULL;
    if (room_id && !rooms_id_valid(room_id))
        return ROOMS_NOT_FOUND;
    json_t *f = json_object();
    json_t *rows = json_array();
    bool inherit = false;
    if (room_id) {
        json_t *v = json_object_get(body, "inherit");
        if (v && !json_is_boolean(v))
            http_field_error(f, "inherit", "true (use the studio's hours) or false");
        inherit = json_is_true(v);
    }
    if (!inherit) {
        hours_validate(json_object_get(body, "weekly"), f, rows);
        if (room_id && json_object_size(f) == 0 && json_array_size(rows) == 0)
            http_field_error(f, "weekly",
                             "A room's own hours need at least one opening; send {\"inherit\": "
                             "true} for the studio's hours, or make the room inactive");
    }
    if ((*fields = http_fields_or_null(f))) {
        json_decref(rows);
        return ROOMS_INVALID;
    }

    char *text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    struct hours_change ch = {{room_id, text}, inherit};
    int rc = text ? replace_audited(t, req, room_id, "opening_hours", rooms_hours_get, hours_write,
                                    &ch, out)
                  : ROOMS_DB;
    free(text);
    return rc;
}

/* The writes of rooms_hours_put: its rows replace the owner's (none when it inherits). */
static bool hours_write(struct db_conn *t, void *change)
{
    const struct hours_change *ch = change;
    return db_run(t, sql_hours_delete, 1, ch->p) == 0 &&
           (ch->inherit || db_run(t, sql_hours_insert, 2, ch->p) == 0);
}

/* ---- closures -------------------------------------------------------------------------- */

int rooms_closures_list(struct db_conn *t, const char *from, const char *to, json_t **out,
                        json_t **fields)
{
    *out = *fields = NULL;
    json_t *f = json_object();
    if (from && !valid_date(from))
        http_field_error(f, "from", "A date YYYY-MM-DD");
    if (to && !valid_date(to))
        http_field_error(f, "to", "A date YYYY-MM-DD");
    if (json_object_size(f) == 0 && from && to && strcmp(to, from) < 0)
        http_field_error(f, "to", "On or after from");
    if ((*fields = http_fields_or_null(f)))
        return ROOMS_INVALID;
    const char *p[] = {from, to};
    json_t *list = NULL;
    int rc = query_json(t, sql_closures_list, 2, p, &list, NULL);
    if (rc != ROOMS_OK)
        return ROOMS_DB;
    *out = json_pack("{s:o}", "closures", list);
    return ROOMS_OK;
}

int rooms_closure_create(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                         json_t **fields)
{
    *out = *fields = NULL;
    json_t *f = json_object();
    json_t *v = json_object_get(body, "room_id");
    const char *room_id = NULL;
    if (v && !json_is_null(v)) {
        room_id = json_string_value(v);
        if (!rooms_id_valid(room_id))
            http_field_error(f, "room_id", "A room's id, or null for the whole studio");
    }
    const char *starts = json_string_value(json_object_get(body, "starts_on"));
    v = json_object_get(body, "ends_on");
    const char *ends = json_is_null(v) || !v ? starts : json_string_value(v);
    if (!valid_date(starts))
        http_field_error(f, "starts_on", "Required: a date YYYY-MM-DD");
    if (!valid_date(ends))
        http_field_error(f, "ends_on", "A date YYYY-MM-DD (absent: the same day as starts_on)");
    else if (valid_date(starts) && strcmp(ends, starts) < 0)
        http_field_error(f, "ends_on", "On or after starts_on");
    v = json_object_get(body, "reason");
    json_t *reason =
        !v || json_is_null(v) ? json_string("") : http_clean_text(v, 0, REASON_MAX_CHARS, false);
    if (!reason)
        http_field_error(f, "reason", "Text of at most %d characters", REASON_MAX_CHARS);
    if ((*fields = http_fields_or_null(f))) {
        json_decref(reason);
        return ROOMS_INVALID;
    }

    const char *p[] = {room_id, starts, ends, json_string_value(reason)};
    const char *state = NULL;
    int rc = db_begin(t) == 0 ? query_json(t, sql_closure_insert, 4, p, out, &state) : ROOMS_DB;
    json_decref(reason);
    if (rc == ROOMS_NOT_FOUND || (rc == ROOMS_DB && state && strcmp(state, "23503") == 0)) {
        *fields = json_pack("{s:s}", "room_id", "No such room");
        return fail(t, ROOMS_INVALID, fields);
    }
    return write_end(t, req, rc, AUDIT_ACTION_CREATE, "closures", id_of(*out), NULL, out, fields);
}

int rooms_closure_delete(struct db_conn *t, struct request *req, const char *id)
{
    if (!rooms_id_valid(id))
        return ROOMS_NOT_FOUND;
    const char *p[] = {id};
    json_t *closure = NULL;
    int rc = db_begin(t) == 0 ? query_json(t, sql_closure_delete, 1, p, &closure, NULL) : ROOMS_DB;
    if (rc != ROOMS_OK)
        return fail(t, rc, NULL);
    rc = audit_commit(t, req, AUDIT_ACTION_DELETE, "closures", id, closure, NULL);
    json_decref(closure);
    return rc;
}

/* ---- prices ---------------------------------------------------------------------------- */

int rooms_prices_get(struct db_conn *t, const char *room_id, json_t **out)
{
    if (!rooms_id_valid(room_id))
        return ROOMS_NOT_FOUND;
    const char *p[] = {room_id};
    return query_json(t, sql_prices_get, 1, p, out, NULL);
}

/* One price rule checked into clean. */
static void rule_validate(json_t *rule, size_t i, json_t *f, json_t *clean)
{
    char key[KEY_LEN];
    if (!json_is_object(rule)) {
        snprintf(key, sizeof(key), "rules[%zu]", i);
        http_field_error(
            f, key, "An object {\"name\", \"weekdays\", \"starts\", \"ends\", \"hourly_rate\"}");
        return;
    }
    bool ok = true;
    json_t *v = json_object_get(rule, "name");
    json_t *name =
        !v || json_is_null(v) ? json_string("") : http_clean_text(v, 0, RULE_NAME_MAX_CHARS, false);
    if (!name) {
        snprintf(key, sizeof(key), "rules[%zu].name", i);
        http_field_error(f, key, "Text of at most %d characters", RULE_NAME_MAX_CHARS);
        ok = false;
    }

    v = json_object_get(rule, "weekdays");
    bool days[8] = {0};
    bool days_ok = json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= 7;
    size_t j;
    json_t *d;
    json_array_foreach(v, j, d)
    {
        long long wd;
        if (!days_ok || !int_in(d, 1, 7, &wd) || days[wd]) {
            days_ok = false;
            break;
        }
        days[wd] = true;
    }
    json_t *weekdays = json_array();
    for (int k = 1; k <= 7; k++)
        if (days[k])
            json_array_append_new(weekdays, json_integer(k));
    if (!days_ok) {
        snprintf(key, sizeof(key), "rules[%zu].weekdays", i);
        http_field_error(f, key, "A non-empty list of distinct weekdays, 1 (Monday) to 7 (Sunday)");
        ok = false;
    }

    int starts = parse_hhmm(json_object_get(rule, "starts"), false);
    int ends = parse_hhmm(json_object_get(rule, "ends"), true);
    if (starts < 0) {
        snprintf(key, sizeof(key), "rules[%zu].starts", i);
        http_field_error(f, key, "A time HH:MM from 00:00 to 23:55, minutes a multiple of 5");
        ok = false;
    }
    if (ends < 0 || (starts >= 0 && ends <= starts)) {
        snprintf(key, sizeof(key), "rules[%zu].ends", i);
        http_field_error(f, key,
                         ends < 0 ? "A time HH:MM from 00:05 to 24:00, minutes a multiple of 5"
                                  : "After the start time");
        ok = false;
    }

    long long rate;
    if (!int_in(json_object_get(rule, "hourly_rate"), 0, RATE_MAX, &rate)) {
        snprintf(key, sizeof(key), "rules[%zu].hourly_rate", i);
        http_field_error(f, key, "A whole number of the currency's minor unit per hour, 0 or more");
        ok = false;
    }
    if (ok) {
        char a[6], b[6];
        format_hhmm(starts, a);
        format_hhmm(ends, b);
        json_array_append_new(clean, json_pack("{s:O, s:O, s:s, s:s, s:I}", "name", name,
                                               "weekdays", weekdays, "starts", a, "ends", b,
                                               "hourly_rate", (json_int_t)rate));
    }
    json_decref(name);
    json_decref(weekdays);
}

static void rules_validate(json_t *rules, json_t *f, json_t *clean)
{
    if (!json_is_array(rules) || json_array_size(rules) > PRICE_RULES_MAX) {
        http_field_error(f, "rules", "A list of at most %d rules", PRICE_RULES_MAX);
        return;
    }
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        rule_validate(rule, i, f, clean);
    }
}

int rooms_prices_put(struct db_conn *t, struct request *req, const char *room_id, json_t *body,
                     json_t **out, json_t **fields)
{
    *out = *fields = NULL;
    if (!rooms_id_valid(room_id))
        return ROOMS_NOT_FOUND;
    json_t *f = json_object();
    json_t *rate_v = json_object_get(body, "hourly_rate");
    json_t *rules_v = json_object_get(body, "rules");
    long long rate = 0;
    if (rate_v && !int_in(rate_v, 0, RATE_MAX, &rate))
        http_field_error(f, "hourly_rate",
                         "A whole number of the currency's minor unit per hour, 0 or more "
                         "(2500 is 25.00 EUR)");
    json_t *rules = json_array();
    if (rules_v)
        rules_validate(rules_v, f, rules);
    if ((*fields = http_fields_or_null(f))) {
        json_decref(rules);
        return ROOMS_INVALID;
    }

    char rate_text[24];
    snprintf(rate_text, sizeof(rate_text), "%lld", rate);
    char *text = json_dumps(rules, JSON_COMPACT);
    json_decref(rules);
    struct prices_change ch = {
        {room_id, rate_text}, {room_id, text}, rate_v != NULL, rules_v != NULL};
    int rc =
        text ? replace_audited(t, req, room_id, "prices", rooms_prices_get, prices_write, &ch, out)
             : ROOMS_DB;
    free(text);
    return rc;
}

/* The writes of rooms_prices_put: the rate and/or the whole set of rules, as sent. */
static bool prices_write(struct db_conn *t, void *change)
{
    const struct prices_change *ch = change;
    return (!ch->rate || db_run(t, sql_room_rate, 2, ch->pr) == 0) &&
           (!ch->rules || (db_run(t, sql_rules_delete, 1, ch->pl) == 0 &&
                           db_run(t, sql_rules_insert, 2, ch->pl) == 0));
}

/* ---- the contract with the booking module (rooms.h) ------------------------------------ */

/* A booking_policy from row 0 of r (sql_policy's columns). 0, or -2 when refund_rule does
 * not parse. */
static int policy_from(PGresult *r, struct booking_policy *out)
{
    out->slot_step_minutes = atoi(db_get(r, 0, "slot_step_minutes"));
    out->min_duration_minutes = atoi(db_get(r, 0, "min_duration_minutes"));
    out->max_duration_minutes = atoi(db_get(r, 0, "max_duration_minutes"));
    /* a room's override written before a change of the studio's policy may undercut it */
    if (out->max_duration_minutes < out->min_duration_minutes)
        out->max_duration_minutes = out->min_duration_minutes;
    out->min_notice_minutes = atoi(db_get(r, 0, "min_notice_minutes"));
    out->max_days_ahead = atoi(db_get(r, 0, "max_days_ahead"));
    out->buffer_minutes = atoi(db_get(r, 0, "buffer_minutes"));
    snprintf(out->deposit_type, sizeof(out->deposit_type), "%s", db_get(r, 0, "deposit_type"));
    out->deposit_value = strtoll(db_get(r, 0, "deposit_value"), NULL, 10);
    out->auto_confirm = strcmp(db_get(r, 0, "auto_confirm"), "t") == 0;
    out->hold_minutes = atoi(db_get(r, 0, "hold_minutes"));
    out->refund_rule = json_loads(db_get(r, 0, "refund_rule"), 0, NULL);
    if (!out->refund_rule) {
        log_msg(LOG_ERROR, "rooms: unreadable refund_rule in studio_settings");
        return -2;
    }
    return 0;
}

/* Price rules from "mask,start,end,rate;..." (NULL: none), at most max: the count. */
static int rules_from_text(const char *text, struct price_rule *out, int max)
{
    int n = 0;
    for (const char *p = text; p && *p && n < max;) {
        unsigned mask;
        int start, end, used = 0;
        long long rate;
        if (sscanf(p, "%u,%d,%d,%lld%n", &mask, &start, &end, &rate, &used) != 4)
            break;
        out[n++] = (struct price_rule){mask, start, end, (int64_t)rate};
        p += used;
        if (*p == ';')
            p++;
    }
    return n;
}

/* A room_info from row 0 of r (sql_room_load's columns). 0, or -2 when its JSON does not
 * parse. */
static int room_from(PGresult *r, struct room_info *out)
{
    out->nrules = -1;
    snprintf(out->id, sizeof(out->id), "%s", db_get(r, 0, "id"));
    snprintf(out->name, sizeof(out->name), "%s", db_get(r, 0, "name"));
    out->hourly_rate = strtoll(db_get(r, 0, "hourly_rate"), NULL, 10);
    out->active = strcmp(db_get(r, 0, "bookable"), "t") == 0;
    out->json = json_loads(db_get(r, 0, "public"), 0, NULL);
    return out->json ? 0 : -2;
}

int rooms_policy_load(struct db_conn *t, const char *room_id, struct booking_policy *out)
{
    memset(out, 0, sizeof(*out));
    if (room_id && !rooms_id_valid(room_id))
        return -1;
    const char *p[] = {room_id};
    PGresult *r = db_exec(t, sql_policy, 1, p, NULL);
    if (!r)
        return -2;
    if (PQntuples(r) != 1 || (room_id && !db_get(r, 0, "room_id"))) {
        int rc = PQntuples(r) == 1 ? -1 : -2; /* the settings row always exists */
        PQclear(r);
        return rc;
    }
    int rc = policy_from(r, out);
    PQclear(r);
    return rc;
}

/* sql run with room_id as $1 (the contract's loads): NULL with *rc -1 when room_id is not a
 * uuid, or -2 when the database fails. */
static PGresult *room_query(struct db_conn *t, const char *sql, const char *room_id, int *rc)
{
    const char *p[] = {room_id};
    bool valid = rooms_id_valid(room_id);
    *rc = valid ? -2 : -1;
    return valid ? db_exec(t, sql, 1, p, NULL) : NULL;
}

/* room and pol from r, sql_room_with_policy's answer: 0, -1 (no row), -2. */
static int room_with_policy_from(PGresult *r, struct room_info *room, struct booking_policy *pol)
{
    int rc = PQntuples(r) == 1 ? 0 : -1;
    if (rc == 0 && (room_from(r, room) != 0 || policy_from(r, pol) != 0))
        rc = -2;
    if (rc == 0)
        room->nrules =
            rules_from_text(db_get(r, 0, "price_rules"), room->rules, ROOMS_MAX_PRICE_RULES);
    if (rc != 0) {
        rooms_room_release(room);
        rooms_policy_release(pol);
    }
    return rc;
}

int rooms_room_with_policy_load(struct db_conn *t, const char *room_id, struct room_info *room,
                                struct booking_policy *pol)
{
    return rooms_room_with_policy_cached(NULL, NULL, t, room_id, room, pol);
}

/* The one row of r as "name\0" then "v<value>\0" or "n\0" per column (malloc'd; *len). */
static char *row_pack(PGresult *r, size_t *len)
{
    size_t n = 0;
    for (int c = 0; c < PQnfields(r); c++)
        n += strlen(PQfname(r, c)) + 1 + 1 + (size_t)PQgetlength(r, 0, c) + 1;
    char *out = malloc(n ? n : 1), *p = out;
    for (int c = 0; out && c < PQnfields(r); c++) {
        size_t k = strlen(PQfname(r, c)) + 1;
        memcpy(p, PQfname(r, c), k);
        p += k;
        bool null = PQgetisnull(r, 0, c);
        *p++ = null ? 'n' : 'v';
        k = null ? 0 : (size_t)PQgetlength(r, 0, c);
        memcpy(p, PQgetvalue(r, 0, c), k);
        p += k;
        *p++ = '\0';
    }
    *len = n;
    return out;
}

/* The result row_pack packed (a PGresult of one row, all text), or NULL. */
static PGresult *row_unpack(const char *v, size_t len)
{
    enum { MAX_COLS = 64 };
    PGresAttDesc attrs[MAX_COLS];
    const char *values[MAX_COLS];
    int n = 0;
    for (const char *p = v, *end = v + len; p < end && n < MAX_COLS; n++) {
        memset(&attrs[n], 0, sizeof(attrs[n]));
        attrs[n].name = (char *)p;
        attrs[n].format = 0;
        attrs[n].typid = 25; /* text */
        attrs[n].typlen = -1;
        attrs[n].atttypmod = -1;
        p += strlen(p) + 1;
        if (p >= end)
            return NULL;
        values[n] = *p == 'v' ? p + 1 : NULL;
        p += strlen(p) + 1;
    }
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    bool ok = r && PQsetResultAttrs(r, n, attrs);
    for (int c = 0; ok && c < n; c++)
        ok = PQsetvalue(r, 0, c, (char *)values[c], values[c] ? (int)strlen(values[c]) : -1);
    if (!ok) {
        PQclear(r);
        return NULL;
    }
    return r;
}

int rooms_room_with_policy_cached(struct tcache *cache, const char *tenant_id, struct db_conn *t,
                                  const char *room_id, struct room_info *room,
                                  struct booking_policy *pol)
{
    memset(room, 0, sizeof(*room));
    memset(pol, 0, sizeof(*pol));
    PGresult *r = NULL;
    if (cache && tenant_id && rooms_id_valid(room_id)) {
        struct arena *a = arena_new(2048);
        size_t len = 0;
        const char *v = tcache_get(cache, a, tenant_id, room_id, &len);
        r = v ? row_unpack(v, len) : NULL;
        arena_free(a);
    }
    if (!r) {
        uint64_t epoch = tcache_epoch(cache);
        int rc;
        if (!(r = room_query(t, sql_room_with_policy, room_id, &rc)))
            return rc;
        size_t len = 0;
        char *packed = cache && tenant_id && PQntuples(r) == 1 ? row_pack(r, &len) : NULL;
        if (packed)
            tcache_put(cache, tenant_id, room_id, packed, len, 0, epoch);
        free(packed);
    }
    int rc = room_with_policy_from(r, room, pol);
    PQclear(r);
    return rc;
}

/* Releases *j and forgets it. */
static void json_drop(json_t **j)
{
    json_decref(*j);
    *j = NULL;
}

void rooms_policy_release(struct booking_policy *p)
{
    if (p)
        json_drop(&p->refund_rule);
}

int rooms_room_load(struct db_conn *t, const char *room_id, struct room_info *out)
{
    memset(out, 0, sizeof(*out));
    int rc;
    PGresult *r = room_query(t, sql_room_load, room_id, &rc);
    if (!r)
        return rc;
    rc = PQntuples(r) == 0 ? -1 : room_from(r, out);
    PQclear(r);
    return rc;
}

void rooms_room_release(struct room_info *r)
{
    if (r)
        json_drop(&r->json);
}

int rooms_price_rules(struct db_conn *t, const char *room_id, struct price_rule *out, int max)
{
    if (!rooms_id_valid(room_id))
        return 0; /* no such room has no rules */
    const char *p[] = {room_id};
    PGresult *r = db_exec(t, sql_rules_for_pricing, 1, p, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r) < max ? PQntuples(r) : max;
    for (int i = 0; i < n; i++) {
        out[i].weekday_mask = (unsigned)strtoul(db_get(r, i, "mask"), NULL, 10);
        out[i].start_minute = atoi(db_get(r, i, "start_minute"));
        out[i].end_minute = atoi(db_get(r, i, "end_minute"));
        out[i].hourly_rate = strtoll(db_get(r, i, "hourly_rate"), NULL, 10);
    }
    PQclear(r);
    return n;
}

json_t *rooms_policy_json(const struct booking_policy *p)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:{s:s, s:I}, s:i, s:O?}", "slot_step_minutes",
                     p->slot_step_minutes, "min_duration_minutes", p->min_duration_minutes,
                     "max_duration_minutes", p->max_duration_minutes, "min_notice_minutes",
                     p->min_notice_minutes, "max_days_ahead", p->max_days_ahead, "deposit", "type",
                     p->deposit_type, "value", (json_int_t)p->deposit_value, "hold_minutes",
                     p->hold_minutes, "refund_rule", p->refund_rule);
}
