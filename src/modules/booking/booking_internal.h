/*
 * booking_internal.h — what the booking module's own files share, and
 * nobody else: booking.c (the rules and SQL of a booking's life),
 * availability.c (time input, opening hours, free slots), notify.c (the
 * customer's e-mails and their .ics) and booking_public_routes.c (HTTP).
 *
 * Local-time maths is PostgreSQL's: every statement that needs the studio's
 * wall clock takes the studio's IANA zone as a text parameter and uses
 * AT TIME ZONE. The SQL fragments below are macros so that each statement
 * stays one constant string (db_exec prepares it once per connection).
 */
#ifndef STUDIOD_BOOKING_INTERNAL_H
#define STUDIOD_BOOKING_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/booking.h"
#include "studiod/rooms.h"

struct db_conn;
struct tenant;

#define BOOKING_REF_LEN 11   /* 11 of 31 symbols: 54.5 bits (DESIGN: >= 50) */
#define BOOKING_REF_MAX 16   /* longest ref a request may name */
#define BOOKING_REF_TRIES 5  /* fresh refs tried on a (very unlikely) collision */
#define BOOKING_BATCH_MAX 32 /* new bookings of one studio written in one transaction */
#ifndef BOOKING_BATCH_LEADERS
#define BOOKING_BATCH_LEADERS 2 /* such transactions of one studio at the same time */
#endif
#define BOOKING_DEADLOCK_TRIES 3 /* the careful way again after PostgreSQL broke a deadlock */
/* Inside booking.c only: try again (PostgreSQL broke a deadlock by aborting this one). */
#define BOOKING_RETRY (-100)
#define BOOKING_TOKEN_BYTES 24    /* manage token: 192 bits, only its SHA-256 is stored */
#define BOOKING_TOKEN_MAX 128     /* longest token a request may present */
#define BOOKING_RANGE_MAX_DAYS 31 /* availability: widest from..to */
#define BOOKING_NAME_MAX 120      /* customer name, characters */
#define BOOKING_EMAIL_MAX 254
#define BOOKING_PHONE_MAX 40
#define BOOKING_NOTES_MAX 2000 /* characters */
#define BOOKING_REASON_MAX 500 /* cancel reason, characters */
#define BOOKING_SEARCH_MAX 20  /* bookings listed in one search mail */
#define BOOKING_TIME_LEN 48    /* room for a normalised RFC 3339 time */

/* clang-format off */
/* SQL: the RFC 3339 text of timestamptz expression ts in zone tz, with a full "+01:00"
 * offset (to_char's OF gives "+01"). Both arguments are SQL text; NULL stays NULL. */
#define BOOKING_SQL_RFC3339(ts, tz)                                                                \
    "(to_char((" ts ") AT TIME ZONE " tz ", 'YYYY-MM-DD\"T\"HH24:MI:SS')"                          \
    " || CASE WHEN ((" ts ") AT TIME ZONE " tz ") >= ((" ts ") AT TIME ZONE 'UTC')"                \
    " THEN '+' ELSE '-' END"                                                                       \
    " || to_char(greatest(((" ts ") AT TIME ZONE " tz ") - ((" ts ") AT TIME ZONE 'UTC'),"         \
    " ((" ts ") AT TIME ZONE 'UTC') - ((" ts ") AT TIME ZONE " tz ")), 'HH24:MI'))"

/* SQL: the weekly opening ranges (weekday, opens, closes) that apply to room (a uuid
 * expression): the room's own rows when it has any, else the studio's. */
#define BOOKING_SQL_HOURS(room)                                                                    \
    "SELECT weekday, opens, closes FROM opening_hours WHERE room_id = " room                       \
    " UNION ALL"                                                                                   \
    " SELECT weekday, opens, closes FROM opening_hours"                                            \
    "  WHERE room_id IS NULL"                                                                      \
    "    AND NOT EXISTS (SELECT 1 FROM opening_hours WHERE room_id = " room ")"

/* SQL: the booking [s, e) cut into pieces of step minutes (expressions), each
 * "weekday,minute_of_day,minutes" in zone tz (local ISO weekday and minute; DST-correct:
 * the pieces are absolute time), joined by ';' in time order; NULL for an empty range. */
#define BOOKING_SQL_SEGMENTS(s, e, tz, step)                                                       \
    "(SELECT string_agg(concat_ws(',', extract(isodow FROM x.l)::int,"                             \
    "        (extract(hour FROM x.l) * 60 + extract(minute FROM x.l))::int,"                       \
    "        ceil(least(extract(epoch FROM (" e ") - g.s), (" step ") * 60) / 60)::int), ';'"      \
    "        ORDER BY g.s)"                                                                        \
    "   FROM generate_series(" s ", (" e ") - interval '1 microsecond',"                           \
    "                        make_interval(mins => " step ")) AS g(s),"                            \
    "        LATERAL (SELECT g.s AT TIME ZONE " tz " AS l) AS x)"

/* clang-format on */
/* A booking time checked against the room's rules (booking_check_times). */
struct booking_times {
    char starts_at[BOOKING_TIME_LEN], ends_at[BOOKING_TIME_LEN]; /* in the studio's offset */
    long minutes;                                                /* ends - starts */
    /* BOOKING_SQL_SEGMENTS of the booking in PRICING_SEGMENT_MINUTES pieces, for the price
     * (in the arena; NULL when not worked out: a long or unordered booking). */
    const char *segments;
};
/* Longest booking whose pieces booking_check_times works out (longer ones: price_of asks). */
#define BOOKING_SEGMENTS_MAX_MINUTES (5 * 24 * 60)

/* One booking as the mails and replies need it; strings live in an arena (NULL = SQL
 * NULL). Local texts are in the studio's zone. */
struct booking_row {
    const char *id, *ref, *status, *source;
    const char *room_id, *room_name;
    const char *starts_at, *ends_at;                 /* RFC 3339, studio offset */
    const char *ics_start, *ics_end;                 /* UTC, "YYYYMMDDTHHMMSSZ" */
    const char *local_day, *local_start, *local_end; /* "Sunday 28 March 2027", "14:00" */
    int64_t price, deposit, paid;
    bool has_refund;
    int64_t refund;
    const char *refund_rule, *currency;
    const char *notes, *staff_notes;
    const char *hold_expires_at, *hold_expires_local;
    const char *confirmed_at, *cancelled_at, *cancel_reason, *created_by, *created_at, *updated_at;
    const char *customer_id, *customer_name, *customer_email, *customer_phone;
    int64_t seconds_before_start; /* negative once started */
    bool over;                    /* ends_at <= now() */
};

/* ---- booking.c ----------------------------------------------------------------------- */

/* booking_create with the studio URL the manage link in the mail starts with (the HTTP
 * handler knows the one the customer used; booking_create derives it from the config). */
int booking_create_at(struct arena *a, const struct tenant *tn, struct db_conn *t,
                      struct db_conn *m, struct request *req, const struct booking_input *in,
                      const char *studio_url, json_t **out, struct booking_error *err);
/* GET /api/public/studio: name, zone, currency and the policy summary. */
int booking_public_studio(const struct tenant *tn, struct db_conn *t, json_t **out);
/* GET /api/public/rooms: bookable rooms, public fields only. */
int booking_public_rooms(const struct tenant *tn, struct db_conn *t, json_t **out);
/* Queues the search job (the mail of manage links) for email; 0 or -1. */
int booking_search_request(struct db_conn *m, const struct tenant *tn, const char *email,
                           const char *studio_url);
/* Sets err's code and message (fields untouched). */
void booking_set_error(struct booking_error *err, const char *code, const char *message);
/* True for the 8-4-4-4-12 hex form PostgreSQL's uuid input accepts from us. */
bool booking_is_uuid(const char *s);
/* True for a plausible single e-mail address (what mail_queue can send to). */
bool booking_email_ok(const char *s);

/* ---- availability.c ------------------------------------------------------------------- */

/* Checks RFC 3339 ("2027-03-28T14:00:00+02:00", "...Z", optional fraction) and writes a
 * normalised copy into out (BOOKING_TIME_LEN bytes). A space where the offset's '+' was
 * (a query string decoded '+' as space) is taken as '+'. */
bool booking_parse_time(const char *s, char *out);
/* Checks a calendar date YYYY-MM-DD. */
bool booking_parse_date(const char *s);
/* Checks starts..ends (already parsed) against the room's policy and hours: order, grid,
 * duration, opening hours, closures, notice, horizon; unless override, only the order.
 * Field errors are added to fields; times gets the canonical texts. 0, BOOKING_INVALID or
 * BOOKING_DB. */
int booking_check_times(struct arena *a, const struct tenant *tn, struct db_conn *t,
                        const char *room_id, const struct booking_policy *pol, const char *starts,
                        const char *ends, bool override, json_t *fields,
                        struct booking_times *times);

/* ---- availability_cache.c ---------------------------------------------------------------- */

#define AVAILABILITY_KEY_MAX 200

/* "<room>|<from>|<to>" into out; false when it does not fit (then nothing is cached). */
bool availability_cache_key(char out[AVAILABILITY_KEY_MAX], const char *room_id, const char *from,
                            const char *to);
/* The invalidation epoch: read it before computing an answer, hand it to put. */
uint64_t availability_cache_epoch(void);
/* A live answer's body, copied into the arena (length in *len), or NULL. */
char *availability_cache_get(struct arena *a, const char *tenant_id, const char *key, size_t *len);
/* Keeps a 200's body; ignored when an invalidation came in since epoch. */
void availability_cache_put(const char *tenant_id, const char *key, const char *body, size_t len,
                            uint64_t epoch);
/* Drops tenant_id's answers here and in every other process (the hold-expiry job). */
void availability_cache_invalidate(const char *tenant_id);
/* Rooms with their policy and price rules, kept alongside (NULL when caching is off). */
struct tcache *booking_rooms_cache(void);

/* ---- notify.c -------------------------------------------------------------------------- */

enum booking_mail_kind { BOOKING_MAIL_MADE, BOOKING_MAIL_CONFIRMED, BOOKING_MAIL_CANCELLED };

/* The studio's public URL derived from the configuration (no request at hand). */
char *booking_studio_url(struct arena *a, const struct tenant *tn);
/* The manage link: <studio_url>/book/<ref>?token=<token>. */
char *booking_manage_link(struct arena *a, const char *studio_url, const char *ref,
                          const char *token);
/* The iCalendar object (RFC 5545: CRLF lines folded at 75 octets) for b. */
char *booking_ics(struct arena *a, const struct tenant *tn, const struct booking_row *b,
                  const char *link);
/* Queues the customer's mail of kind for b on m (link: the manage link, or NULL). 0/-1. */
int booking_mail(struct arena *a, struct db_conn *m, const struct tenant *tn,
                 const struct booking_row *b, enum booking_mail_kind kind, const char *link);
struct mail;
/* The mail booking_mail queues, built in a (out's strings live there). */
void booking_mail_build(struct arena *a, const struct tenant *tn, const struct booking_row *b,
                        enum booking_mail_kind kind, const char *link, struct mail *out);
/* One entry of the search mail. */
struct booking_link {
    const char *ref, *room_name, *local_day, *local_start, *local_end, *status, *link;
};
/* Queues the search mail listing n links to `to`. 0/-1. */
int booking_mail_links(struct arena *a, struct db_conn *m, const struct tenant *tn, const char *to,
                       const struct booking_link *links, int n);

#endif
