/*
 * booking.h — bookings: availability, the public booking flow, and the
 * rules staff actions share (create, confirm, cancel with refund, move,
 * hold expiry). The promise: no two active holds on a room overlap
 * (bookings_no_overlap exclusion constraint; see migrations/tenant/0002).
 *
 * All functions work on the tenant connection t; those that send mail also
 * take the master connection m (the outbox lives there). Times in and out
 * are RFC 3339; local-time maths (hours, DST) is done by PostgreSQL in the
 * studio's time zone.
 *
 * Every change writes its audit entry (audit.h, resource "bookings") in its
 * own transaction; req is the request it is made for (who acted, from where:
 * a staff user, or "customer" on the public routes), NULL for the system.
 * A change whose entry cannot be written is undone: BOOKING_DB.
 */
#ifndef STUDIOD_BOOKING_H
#define STUDIOD_BOOKING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/http.h"
#include "studiod/jobs.h"

struct db_conn;
struct tenant;

enum booking_status_code {
    BOOKING_OK = 0,
    BOOKING_INVALID = -1,     /* 422: err->fields says which */
    BOOKING_SLOT_TAKEN = -2,  /* 409 slot_taken: err->message names the conflicting time */
    BOOKING_NOT_FOUND = -3,   /* 404 */
    BOOKING_WRONG_STATE = -4, /* 409 (e.g. cancelling a cancelled booking) */
    BOOKING_DB = -5,          /* 503 */
};

struct booking_error {
    json_t *fields; /* owned by the caller after the call (may be NULL) */
    char code[32];
    char message[256];
};

/* What a new booking is made of. Strings are the caller's. */
struct booking_input {
    const char *room_id;
    const char *starts_at, *ends_at; /* RFC 3339 */
    const char *customer_name, *customer_email, *customer_phone;
    const char *notes;
    bool staff;          /* made by staff: notice/max-ahead/hours still checked unless override */
    bool skip_deposit;   /* staff only: confirm without a deposit */
    bool override_rules; /* staff only: allow outside hours/notice (never overlap) */
    const char *created_by; /* staff user id or NULL */
};

/* Turns the availability cache on (answers live ttl_seconds; 0: off) and subscribes it to
 * the cache bus (before cache_bus_start). 0 or -1. */
int availability_cache_start(int ttl_seconds);
/* Empties it and turns it off (after cache_bus_stop). */
void availability_cache_stop(void);

/* Free slots of room between from and to (RFC 3339 dates or times) as a JSON array of
 * {"starts_at","ends_at"} of the slot step, in the studio's offset. */
int booking_availability(struct arena *a, const struct tenant *tn, struct db_conn *t,
                         const char *room_id, const char *from, const char *to, json_t **out,
                         struct booking_error *err);

/* Creates a booking: validates, prices on the server, inserts (the constraint decides
 * races), queues the "booking made" mail and, for pending ones, the hold-expiry job.
 * *out is the public creation reply (ref, manage_token, status, times, room, price,
 * deposit, hold_expires_at) plus "id". */
int booking_create(struct arena *a, const struct tenant *tn, struct db_conn *t, struct db_conn *m,
                   struct request *req, const struct booking_input *in, json_t **out,
                   struct booking_error *err);

/* A booking by ref (public). full: with customer details (caller checked the token). */
int booking_get_by_ref(struct arena *a, const struct tenant *tn, struct db_conn *t,
                       const char *ref, bool full, json_t **out);
/* A booking by id, staff view (everything, with session and refunds). */
int booking_get(struct arena *a, const struct tenant *tn, struct db_conn *t, const char *id,
                json_t **out);
/* True when token is the manage token of booking ref (constant-time). */
bool booking_token_ok(struct db_conn *t, const char *ref, const char *token);

/* Cancels: status cancelled, refund computed by the policy (or refund_override >= 0,
 * staff only, at most what was paid), recorded; the slot is free at once; mail queued.
 * by_id: key is the booking id (staff), else the ref. */
int booking_cancel(struct arena *a, const struct tenant *tn, struct db_conn *t, struct db_conn *m,
                   struct request *req, const char *key, bool by_id, int64_t refund_override,
                   const char *reason, json_t **out, struct booking_error *err);
/* Confirms a pending booking (staff); mail queued. */
int booking_confirm(struct arena *a, const struct tenant *tn, struct db_conn *t, struct db_conn *m,
                    struct request *req, const char *id, json_t **out, struct booking_error *err);
/* Moves a booking to new times and/or room (same overlap guarantee); price recomputed
 * unless keep_price. */
int booking_move(struct arena *a, const struct tenant *tn, struct db_conn *t, struct request *req,
                 const char *id, const char *room_id, const char *starts_at, const char *ends_at,
                 bool keep_price, json_t **out, struct booking_error *err);
/* Expires a pending booking whose hold has run out (the job; audited as the system); 0 also
 * when nothing to do. */
int booking_expire(struct db_conn *t, const char *id);

/* Replies for a non-OK booking_* result, in the one error shape (steals err->fields). */
void booking_reply_error(struct request *req, int rc, struct booking_error *err);

/* Job kinds: "booking_expire_hold" {"slug","booking_id"}, "booking_search_mail". */
extern const struct job_kind booking_job_kinds[];

extern const struct route booking_public_routes[];
extern const struct route booking_routes[];

#endif
