/*
 * availability.c — when a room can be booked: time input, the rules a
 * booking's times must obey, and the free slots of a range.
 *
 * The studio's wall clock is PostgreSQL's business. Each statement gets the
 * studio's IANA zone as a parameter and turns local days and opening times
 * into instants with `(day + time) AT TIME ZONE tz`; C never does calendar
 * arithmetic. Free slots are generated in absolute time, slot_step apart,
 * from each opening range's first grid point (its opening time rounded up to
 * a multiple of the step, in local minutes) to its closing instant:
 *   - a spring-forward day simply has an hour less between opening and
 *     closing; a local time inside the gap never appears as a slot start;
 *   - a fall-back day has an hour more, and the repeated hour's slots are
 *     distinct instants (02:00+02:00, then 02:00+01:00), so nothing is
 *     listed twice; DISTINCT also folds overlapping opening rows.
 * A slot [s, e) is free when no active hold overlaps tstzrange(s, e + buffer):
 * exactly the test the exclusion constraint bookings_no_overlap will make
 * of the booking's hold [s, e + buffer). Pending bookings whose hold has run
 * out count as free: booking_create expires them before it inserts.
 *
 * Ranges: `from` and `to` are dates (the studio's local midnight) or RFC
 * 3339 times; `to` is exclusive, so one day is from=D&to=D+1. A slot is
 * listed when it lies entirely inside [from, to).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking_internal.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/tenant.h"

static bool digits(const char *s, int n);
static int num(const char *s, int n);
static int days_in_month(int year, int month);
/* A resolved range: instants as PostgreSQL text, and as RFC 3339 in the studio's offset. */
struct range {
    char t0[64], t1[64];
    char from[BOOKING_TIME_LEN], to[BOOKING_TIME_LEN];
};

static int resolve_range(struct db_conn *t, const struct tenant *tn, const char *from,
                         const char *to, json_t *fields, struct range *out);

/* clang-format off */
/* Both ends of a range as instants: an RFC 3339 time as is, a date as the studio's
 * local midnight. */
static const char sql_range[] =
    "WITH r AS (SELECT coalesce($1::timestamptz, ($2::date + time '00:00') AT TIME ZONE $5::text)"
    "                    AS t0,"
    "                  coalesce($3::timestamptz, ($4::date + time '00:00') AT TIME ZONE $5::text)"
    "                    AS t1)"
    " SELECT t0::text AS t0, t1::text AS t1, t1 > t0 AS ordered,"
    "        t1 <= t0 + make_interval(days => $6::int) AS short_enough,"
    "        " BOOKING_SQL_RFC3339("t0", "$5::text") " AS from_local,"
    "        " BOOKING_SQL_RFC3339("t1", "$5::text") " AS to_local"
    "   FROM r";

/* The free slots. $1 room, $2 zone, $3..$4 range, $5 step, $6 notice (minutes),
 * $7 horizon (days), $8 buffer (minutes). */
static const char sql_slots[] =
    "WITH hours AS (" BOOKING_SQL_HOURS("$1::uuid") "),"
    /* The room's active holds in the range, read once: the slots are then checked against
     * these few rows instead of probing the bookings index once per candidate slot. */
    " busy AS MATERIALIZED ("
    "   SELECT b.hold FROM bookings b"
    "    WHERE b.room_id = $1::uuid"
    "      AND b.status IN ('pending', 'confirmed')"
    "      AND NOT (b.status = 'pending' AND b.hold_expires_at <= now())"
    "      AND b.hold && tstzrange($3::timestamptz,"
    "                              $4::timestamptz + make_interval(mins => $8::int))),"
    " days AS ("
    "   SELECT d::date AS day"
    "     FROM generate_series(($3::timestamptz AT TIME ZONE $2::text)::date,"
    "                          ($4::timestamptz AT TIME ZONE $2::text)::date,"
    "                          interval '1 day') d),"
    " ranges AS ("
    "   SELECT (days.day + make_interval(mins => (ceil(extract(epoch FROM h.opens) / 60"
    "                                                 / $5::int) * $5::int)::int))"
    "            AT TIME ZONE $2::text AS r0,"
    "          (days.day + h.closes) AT TIME ZONE $2::text AS r1"
    "     FROM days JOIN hours h ON h.weekday = extract(isodow FROM days.day)"
    "    WHERE NOT EXISTS (SELECT 1 FROM closures c"
    "                       WHERE (c.room_id IS NULL OR c.room_id = $1::uuid)"
    "                         AND days.day BETWEEN c.starts_on AND c.ends_on)),"
    " slots AS ("
    "   SELECT DISTINCT s AS starts_at, s + make_interval(mins => $5::int) AS ends_at"
    "     FROM ranges,"
    "          generate_series(r0, r1 - make_interval(mins => $5::int),"
    "                          make_interval(mins => $5::int)) s)"
    " SELECT " BOOKING_SQL_RFC3339("starts_at", "$2::text") " AS starts_at,"
    "        " BOOKING_SQL_RFC3339("ends_at", "$2::text") " AS ends_at"
    "   FROM slots"
    "  WHERE slots.starts_at >= $3::timestamptz AND slots.ends_at <= $4::timestamptz"
    "    AND slots.starts_at >= now() + make_interval(mins => $6::int)"
    "    AND slots.starts_at <= now() + make_interval(days => $7::int)"
    "    AND NOT EXISTS (SELECT 1 FROM busy"
    "                     WHERE busy.hold && tstzrange(slots.starts_at,"
    "                                                  slots.ends_at"
    "                                                  + make_interval(mins => $8::int)))"
    "  ORDER BY slots.starts_at";

/* Every rule a booking's times must obey, one column each. $1 room, $2 zone, $3 starts,
 * $4 ends, $5 step, $6 notice (minutes), $7 horizon (days), $8 pricing piece and $9 the
 * longest booking cut into pieces (minutes). The booking belongs to the
 * local day it starts on and must lie inside one opening range of that day. */
static const char sql_check_times[] =
    "WITH hours AS (" BOOKING_SQL_HOURS("$1::uuid") "),"
    " l AS (SELECT $3::timestamptz AS s, $4::timestamptz AS e,"
    "              $3::timestamptz AT TIME ZONE $2::text AS ls,"
    "              $4::timestamptz AT TIME ZONE $2::text AS le)"
    " SELECT l.e > l.s AS ordered,"
    "        floor(extract(epoch FROM l.e - l.s) / 60)::bigint AS minutes,"
    "        (extract(hour FROM l.ls) * 60 + extract(minute FROM l.ls))::int % $5::int = 0"
    "          AND extract(second FROM l.ls) = 0 AS start_on_grid,"
    "        (extract(hour FROM l.le) * 60 + extract(minute FROM l.le))::int % $5::int = 0"
    "          AND extract(second FROM l.le) = 0 AS end_on_grid,"
    "        EXISTS (SELECT 1 FROM hours h"
    "                 WHERE h.weekday = extract(isodow FROM l.ls)"
    "                   AND (l.ls::date + h.opens) AT TIME ZONE $2::text <= l.s"
    "                   AND l.e <= (l.ls::date + h.closes) AT TIME ZONE $2::text) AS in_hours,"
    "        NOT EXISTS (SELECT 1 FROM closures c"
    "                     WHERE (c.room_id IS NULL OR c.room_id = $1::uuid)"
    "                       AND l.ls::date BETWEEN c.starts_on AND c.ends_on) AS open_day,"
    "        l.s >= now() + make_interval(mins => $6::int) AS noticed,"
    "        l.s <= now() + make_interval(days => $7::int) AS in_horizon,"
    "        " BOOKING_SQL_RFC3339("l.s", "$2::text") " AS starts_at,"
    "        " BOOKING_SQL_RFC3339("l.e", "$2::text") " AS ends_at,"
    /* the pieces the price is made of, so that pricing needs no statement of its own */
    "        CASE WHEN l.e > l.s AND l.e - l.s <= make_interval(mins => $9::int)"
    "             THEN " BOOKING_SQL_SEGMENTS("l.s", "l.e", "$2::text", "$8::int") " END"
    "          AS segments"
    "   FROM l";

/* clang-format on */
static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool booking_parse_date(const char *s)
{
    if (!s || strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool booking_parse_time(const char *s, char *out)
{
    if (!s || strlen(s) < 20 || strlen(s) >= BOOKING_TIME_LEN)
        return false;
    char date[11];
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!booking_parse_date(date) || !(s[10] == 'T' || s[10] == 't' || s[10] == ' '))
        return false;
    const char *p = s + 11;
    if (!digits(p, 2) || p[2] != ':' || !digits(p + 3, 2) || p[5] != ':' || !digits(p + 6, 2))
        return false;
    if (num(p, 2) > 23 || num(p + 3, 2) > 59 || num(p + 6, 2) > 59)
        return false;
    p += 8;
    if (*p == '.') {
        int n = 0;
        while (isdigit((unsigned char)p[1 + n]))
            n++;
        if (n < 1 || n > 9)
            return false;
        p += 1 + n;
    }
    size_t head = (size_t)(p - s);
    memcpy(out, s, head);
    out[10] = 'T';
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        strcpy(out + head, "Z");
        return true;
    }
    if (!(*p == '+' || *p == '-' || *p == ' ') || !digits(p + 1, 2) || p[3] != ':' ||
        !digits(p + 4, 2) || p[6] != '\0' || num(p + 1, 2) > 23 || num(p + 4, 2) > 59)
        return false;
    memcpy(out + head, p, 7);
    if (out[head] == ' ')
        out[head] = '+'; /* "+02:00" arrived through a query string as " 02:00" */
    return true;
}

int booking_check_times(struct arena *a, const struct tenant *tn, struct db_conn *t,
                        const char *room_id, const struct booking_policy *pol,
                        const char *starts, const char *ends, bool override, json_t *fields,
                        struct booking_times *times)
{
    char step[16], notice[16], ahead[16], piece[16], longest[16];
    snprintf(step, sizeof(step), "%d", pol->slot_step_minutes > 0 ? pol->slot_step_minutes : 1);
    snprintf(notice, sizeof(notice), "%d", pol->min_notice_minutes);
    snprintf(ahead, sizeof(ahead), "%d", pol->max_days_ahead);
    snprintf(piece, sizeof(piece), "%d", PRICING_SEGMENT_MINUTES);
    snprintf(longest, sizeof(longest), "%d", BOOKING_SEGMENTS_MAX_MINUTES);
    const char *p[] = {room_id, tn->timezone, starts, ends, step, notice, ahead, piece, longest};
    PGresult *r = db_exec(t, sql_check_times, 9, p, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return BOOKING_DB;
    }
#define YES(col) (db_get(r, 0, col) && db_get(r, 0, col)[0] == 't')
    snprintf(times->starts_at, sizeof(times->starts_at), "%s", db_get(r, 0, "starts_at"));
    snprintf(times->ends_at, sizeof(times->ends_at), "%s", db_get(r, 0, "ends_at"));
    times->minutes = atol(db_get(r, 0, "minutes"));
    times->segments = db_get_dup(a, r, 0, "segments");
    int before = (int)json_object_size(fields);
    if (!YES("ordered")) {
        json_object_set_new(fields, "ends_at", json_string("Must be after starts_at"));
    } else if (!override) {
        int step_min = pol->slot_step_minutes;
        if (!YES("start_on_grid"))
            json_object_set_new(
                fields, "starts_at",
                json_sprintf("Must be on the %d-minute grid of the studio's local time", step_min));
        else if (!YES("open_day"))
            json_object_set_new(fields, "starts_at", json_string("The studio is closed that day"));
        else if (!YES("in_hours"))
            json_object_set_new(fields, "starts_at",
                                json_string("Outside opening hours: the whole booking must lie "
                                            "within one opening period"));
        else if (!YES("noticed"))
            json_object_set_new(
                fields, "starts_at",
                json_sprintf("Book at least %d minutes ahead", pol->min_notice_minutes));
        else if (!YES("in_horizon"))
            json_object_set_new(fields, "starts_at",
                                json_sprintf("At most %d days ahead", pol->max_days_ahead));
        if (!YES("end_on_grid"))
            json_object_set_new(
                fields, "ends_at",
                json_sprintf("Must be on the %d-minute grid of the studio's local time", step_min));
        else if (times->minutes < pol->min_duration_minutes)
            json_object_set_new(
                fields, "ends_at",
                json_sprintf("A booking lasts at least %d minutes", pol->min_duration_minutes));
        else if (times->minutes > pol->max_duration_minutes)
            json_object_set_new(
                fields, "ends_at",
                json_sprintf("A booking lasts at most %d minutes", pol->max_duration_minutes));
    }
#undef YES
    PQclear(r);
    return (int)json_object_size(fields) > before ? BOOKING_INVALID : BOOKING_OK;
}

/* Resolves from/to (already checked) into instants and checks order and width; field
 * errors into fields. 0, BOOKING_INVALID or BOOKING_DB. */
static int resolve_range(struct db_conn *t, const struct tenant *tn, const char *from,
                         const char *to, json_t *fields, struct range *out)
{
    bool from_date = booking_parse_date(from), to_date = booking_parse_date(to);
    char days[16];
    snprintf(days, sizeof(days), "%d", BOOKING_RANGE_MAX_DAYS);
    const char *p[] = {from_date ? NULL : from,
                       from_date ? from : NULL,
                       to_date ? NULL : to,
                       to_date ? to : NULL,
                       tn->timezone,
                       days};
    PGresult *r = db_exec(t, sql_range, 6, p, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return BOOKING_DB;
    }
    int rc = BOOKING_OK;
    if (db_get(r, 0, "ordered")[0] != 't') {
        json_object_set_new(fields, "to", json_string("Must be after from"));
        rc = BOOKING_INVALID;
    } else if (db_get(r, 0, "short_enough")[0] != 't') {
        json_object_set_new(fields, "to",
                            json_sprintf("At most %d days after from", BOOKING_RANGE_MAX_DAYS));
        rc = BOOKING_INVALID;
    }
    snprintf(out->t0, sizeof(out->t0), "%s", db_get(r, 0, "t0"));
    snprintf(out->t1, sizeof(out->t1), "%s", db_get(r, 0, "t1"));
    snprintf(out->from, sizeof(out->from), "%s", db_get(r, 0, "from_local"));
    snprintf(out->to, sizeof(out->to), "%s", db_get(r, 0, "to_local"));
    PQclear(r);
    return rc;
}

int booking_availability(struct arena *a, const struct tenant *tn, struct db_conn *t,
                         const char *room_id, const char *from, const char *to, json_t **out,
                         struct booking_error *err)
{
    (void)a;
    memset(err, 0, sizeof(*err));
    *out = NULL;
    json_t *fields = json_object();
    char from_n[BOOKING_TIME_LEN], to_n[BOOKING_TIME_LEN];
    if (!room_id || !*room_id)
        json_object_set_new(fields, "room_id", json_string("Required"));
    if (!from || !*from)
        json_object_set_new(fields, "from", json_string("Required: YYYY-MM-DD or RFC 3339"));
    else if (!booking_parse_date(from) && !booking_parse_time(from, from_n))
        json_object_set_new(fields, "from",
                            json_string("A date (YYYY-MM-DD) or an RFC 3339 time with offset"));
    else if (!booking_parse_date(from))
        from = from_n;
    if (!to || !*to)
        json_object_set_new(fields, "to", json_string("Required: YYYY-MM-DD or RFC 3339"));
    else if (!booking_parse_date(to) && !booking_parse_time(to, to_n))
        json_object_set_new(fields, "to",
                            json_string("A date (YYYY-MM-DD) or an RFC 3339 time with offset"));
    else if (!booking_parse_date(to))
        to = to_n;
    if (json_object_size(fields)) {
        err->fields = fields;
        booking_set_error(err, "invalid_input", "Some parameters are not valid");
        return BOOKING_INVALID;
    }

    struct room_info room;
    struct booking_policy pol;
    int lr = booking_is_uuid(room_id) ? rooms_room_with_policy_load(t, room_id, &room, &pol) : -1;
    if (lr == -2) {
        json_decref(fields);
        return BOOKING_DB;
    }
    if (lr != 0 || !room.active) {
        if (lr == 0) {
            rooms_policy_release(&pol);
            rooms_room_release(&room);
        }
        json_decref(fields);
        booking_set_error(err, "not_found", "No such room");
        return BOOKING_NOT_FOUND;
    }
    int rc = BOOKING_OK;
    struct range range;
    memset(&range, 0, sizeof(range));
    if (rc == BOOKING_OK)
        rc = resolve_range(t, tn, from, to, fields, &range);
    if (rc == BOOKING_INVALID) {
        err->fields = fields;
        fields = NULL;
        booking_set_error(err, "invalid_input", "Some parameters are not valid");
    }
    PGresult *r = NULL;
    if (rc == BOOKING_OK) {
        char step[16], notice[16], ahead[16], buffer[16];
        snprintf(step, sizeof(step), "%d", pol.slot_step_minutes);
        snprintf(notice, sizeof(notice), "%d", pol.min_notice_minutes);
        snprintf(ahead, sizeof(ahead), "%d", pol.max_days_ahead);
        snprintf(buffer, sizeof(buffer), "%d", pol.buffer_minutes);
        const char *p[] = {room_id, tn->timezone, range.t0, range.t1, step, notice, ahead, buffer};
        r = db_exec(t, sql_slots, 8, p, NULL);
        if (!r)
            rc = BOOKING_DB;
    }
    if (rc == BOOKING_OK) {
        json_t *slots = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(slots,
                                  json_pack("{s:s, s:s}", "starts_at", db_get(r, i, "starts_at"),
                                            "ends_at", db_get(r, i, "ends_at")));
        *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:o}", "room_id", room.id,
                         "room_name", room.name, "timezone", tn->timezone, "from", range.from, "to",
                         range.to, "slot_minutes", pol.slot_step_minutes, "buffer_minutes",
                         pol.buffer_minutes, "slots", slots);
    }
    PQclear(r);
    json_decref(fields);
    rooms_policy_release(&pol);
    rooms_room_release(&room);
    return rc;
}
