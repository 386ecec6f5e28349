/*
 * rooms_internal.h — shared by rooms.c (rules, SQL) and rooms_routes.c
 * (HTTP). The staff set-up API: every function takes the tenant connection,
 * validates what it is given, and answers with a status the handler turns
 * into a reply. JSON results (*out) and field errors (*fields) become the
 * caller's; both may be left NULL.
 *
 * Every change takes the request it is made for (req): its audit entry
 * (audit.h) names who made it and from where, and is written in the
 * change's own transaction, so a change without its entry never commits
 * (ROOMS_DB).
 */
#ifndef STUDIOD_ROOMS_INTERNAL_H
#define STUDIOD_ROOMS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "studiod/rooms.h"

struct db_conn;

enum rooms_status {
    ROOMS_OK = 0,
    ROOMS_NOT_FOUND = -1,    /* 404 not_found (also for an id that is not a uuid) */
    ROOMS_DB = -2,           /* 503 database_unavailable */
    ROOMS_INVALID = -3,      /* 422 invalid_input, *fields names each bad field */
    ROOMS_NAME_TAKEN = -4,   /* 409 room_name_taken */
    ROOMS_HAS_BOOKINGS = -5, /* 409 room_has_bookings */
};

/* What DELETE /api/rooms/:id did. */
enum rooms_removal { ROOMS_REMOVED, ROOMS_ARCHIVED };

/* True for a canonical uuid (8-4-4-4-12 hex digits): checked before any SQL, so a bad id
 * is "not found" rather than a database error. */
bool rooms_id_valid(const char *id);

/* Rooms (staff representation). */
int rooms_list(struct db_conn *t, bool include_archived, json_t **out);
int rooms_get(struct db_conn *t, const char *id, json_t **out);
int rooms_create(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                 json_t **fields);
/* Changes only the fields present in body; {"archived": true|false} archives or restores. */
int rooms_update(struct db_conn *t, struct request *req, const char *id, json_t *body, json_t **out,
                 json_t **fields);
/* Deletes a room that never had a booking; archives one with past bookings (or one already
 * archived); refuses one with future active bookings that is not archived. */
int rooms_remove(struct db_conn *t, struct request *req, const char *id, enum rooms_removal *done);

/* The studio's booking policy (studio_settings), staff representation. */
int rooms_settings_get(struct db_conn *t, json_t **out);
int rooms_settings_update(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                          json_t **fields);

/* Weekly opening hours: room_id NULL = the studio's; a room's answer says whether it
 * inherits the studio's hours. */
int rooms_hours_get(struct db_conn *t, const char *room_id, json_t **out);
int rooms_hours_put(struct db_conn *t, struct request *req, const char *room_id, json_t *body,
                    json_t **out, json_t **fields);

/* Closures; from/to (YYYY-MM-DD or NULL) keep those that overlap [from, to]. */
int rooms_closures_list(struct db_conn *t, const char *from, const char *to, json_t **out,
                        json_t **fields);
int rooms_closure_create(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                         json_t **fields);
int rooms_closure_delete(struct db_conn *t, struct request *req, const char *id);

/* A room's rate and peak/off-peak rules. */
int rooms_prices_get(struct db_conn *t, const char *room_id, json_t **out);
int rooms_prices_put(struct db_conn *t, struct request *req, const char *room_id, json_t *body,
                     json_t **out, json_t **fields);

#endif
