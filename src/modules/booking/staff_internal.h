/*
 * staff_internal.h — the back office's SQL (staff.c) as booking_routes.c
 * calls it: booking lists, studio sessions and their items, customers, and
 * the secret calendar feeds. Nothing here is part of the booking module's
 * public contract (include/studiod/booking.h); the rules every booking
 * change must obey (create, confirm, cancel, move) stay in booking.c.
 *
 * Every function works on the tenant connection t and takes the studio's
 * tenant for its time zone: times come out as RFC 3339 with the studio's
 * offset (in the feed, as UTC). Results follow enum booking_status_code:
 * BOOKING_OK, BOOKING_NOT_FOUND (404), BOOKING_INVALID (422, err->fields),
 * BOOKING_WRONG_STATE (409, err->code says which), BOOKING_DB (503).
 * Callers have checked the shape of every id (booking_is_uuid) and
 * every date and time they pass, so SQL never fails on malformed input.
 *
 * Changes take the request they are made for (req) and write its audit
 * entry (audit.h) last in their own transaction: "sessions" (create on
 * conversion, update), "session_items" (create, delete) and
 * "calendar_feeds" (create, delete). An entry that cannot be written undoes
 * the change: BOOKING_DB.
 */
#ifndef STUDIOD_BOOKING_STAFF_INTERNAL_H
#define STUDIOD_BOOKING_STAFF_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/booking.h"

struct db_conn;
struct tenant;

#define BOOKING_STAFF_LIMIT_DEFAULT 50
#define BOOKING_STAFF_LIMIT_MAX 200
#define BOOKING_STAFF_HISTORY_MAX 500    /* bookings shown with one customer */
#define BOOKING_STAFF_ITEMS_MAX 200      /* items on one studio session */
#define BOOKING_STAFF_QUANTITY_MAX 10000 /* these two bound a session's sum far below INT64_MAX */
#define BOOKING_STAFF_UNIT_AMOUNT_MAX INT64_C(100000000000)
#define BOOKING_STAFF_FEED_TOKEN_BYTES 24

/* The orders GET /api/bookings offers; each is a fixed SQL statement in staff.c. */
enum booking_staff_sort {
    BOOKING_SORT_STARTS_DESC, /* "-starts_at", the default */
    BOOKING_SORT_STARTS,      /* "starts_at" */
    BOOKING_SORT_CREATED,     /* "created_at" */
    BOOKING_SORT_CREATED_DESC,
    BOOKING_SORT_PRICE, /* "price" */
    BOOKING_SORT_PRICE_DESC,
};

/* Filters of the booking list; NULL / -1 means "any". */
struct booking_staff_filter {
    const char
        *statuses;       /* a PostgreSQL array literal of checked statuses: "{pending,confirmed}" */
    const char *room_id; /* uuid */
    const char *from, *to; /* YYYY-MM-DD, studio-local, both days included */
    const char *q_pattern; /* ILIKE pattern (booking_staff_like_pattern) */
    int paid;              /* 1: paid_amount > 0, 0: nothing paid, -1: either */
    enum booking_staff_sort sort;
    int limit, offset;
};

/* Filters of the session list (on the booking's start). */
struct booking_staff_session_filter {
    const char *statuses; /* array literal of scheduled|in_progress|done */
    const char *room_id;
    const char *from, *to;
    int limit, offset;
};

/* What PUT /api/sessions/:id changes: a set_* flag per field given. */
struct booking_staff_session_change {
    bool set_engineer;
    const char *engineer_id; /* NULL: no engineer */
    const char *notes;       /* NULL: unchanged */
    const char *status;      /* NULL: unchanged (or implied by check_in/check_out) */
    bool set_checked_in, set_checked_out;
    const char *checked_in_at, *checked_out_at; /* RFC 3339 or NULL to clear */
    bool check_in, check_out;                   /* now() shortcuts */
};

/* %s% of s with \, % and _ escaped, for ILIKE (its default escape is the backslash). */
char *booking_staff_like_pattern(struct arena *a, const char *s);

/* {"items": [...], "total", "limit", "offset"} of bookings. */
int booking_staff_list(const struct tenant *tn, struct db_conn *t,
                       const struct booking_staff_filter *f, json_t **out);

/* Turns a confirmed booking into a studio session (the booking and its hold stay).
 * 409 already_converted / not_confirmed; 422 engineer_id. *out is the session. */
int booking_staff_convert(const struct tenant *tn, struct db_conn *t, struct request *req,
                          const char *booking_id, const char *engineer_id, const char *notes,
                          json_t **out, struct booking_error *err);
int booking_staff_sessions_list(const struct tenant *tn, struct db_conn *t,
                                const struct booking_staff_session_filter *f, json_t **out);
/* A session with its booking, items and totals (booking price + items). */
int booking_staff_session_get(const struct tenant *tn, struct db_conn *t, const char *id,
                              json_t **out);
int booking_staff_session_update(const struct tenant *tn, struct db_conn *t, struct request *req,
                                 const char *id, const struct booking_staff_session_change *ch,
                                 json_t **out, struct booking_error *err);
/* Adds an item; *out is the session as booking_staff_session_get shows it. */
int booking_staff_item_add(const struct tenant *tn, struct db_conn *t, struct request *req,
                           const char *session_id, const char *description, int quantity,
                           int64_t unit_amount, json_t **out, struct booking_error *err);
int booking_staff_item_delete(struct db_conn *t, struct request *req, const char *session_id,
                              const char *item_id);

/* {"items": [...], "total", "limit", "offset"} of customers matching q_pattern (or all). */
int booking_staff_customers_list(const struct tenant *tn, struct db_conn *t, const char *q_pattern,
                                 int limit, int offset, json_t **out);
/* A customer with "bookings": their history, newest first. */
int booking_staff_customer_get(const struct tenant *tn, struct db_conn *t, const char *id,
                               json_t **out);

/* Records a feed for room_id (NULL: every room) under the token's hash; *out gets
 * {"id","room","created_at"}. 422 room_id for an unknown room. */
int booking_staff_feed_create(const struct tenant *tn, struct db_conn *t, struct request *req,
                              const char *room_id, const char *token_hash, json_t **out,
                              struct booking_error *err);
/* {"items": [...]}: the feeds, never their tokens (only hashes are kept anyway). */
int booking_staff_feeds_list(const struct tenant *tn, struct db_conn *t, json_t **out);
int booking_staff_feed_delete(struct db_conn *t, struct request *req, const char *id);
/* The iCalendar text (RFC 5545) of the feed whose token hashes to token_hash; uid_domain
 * follows the booking ref in each UID. BOOKING_NOT_FOUND for an unknown token. */
int booking_staff_feed_ics(struct arena *a, const struct tenant *tn, struct db_conn *t,
                           const char *token_hash, const char *uid_domain, const char **ics,
                           size_t *len);

#endif
