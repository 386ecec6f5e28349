/*
 * rooms.h — a studio's rooms and everything that decides when and at what
 * price they can be booked: the booking policy (studio_settings), weekly
 * opening hours with per-room overrides, closures, peak/off-peak rules.
 */
#ifndef STUDIOD_ROOMS_H
#define STUDIOD_ROOMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "studiod/http.h"
#include "studiod/pricing.h"

struct db_conn;

/* The booking policy in force for a room (the studio's, with the room's overrides). */
struct booking_policy {
    int slot_step_minutes;
    int min_duration_minutes;
    int max_duration_minutes;
    int min_notice_minutes;
    int max_days_ahead;
    int buffer_minutes;
    char deposit_type[8]; /* none, percent, fixed */
    int64_t deposit_value;
    bool auto_confirm;
    int hold_minutes;
    json_t *refund_rule; /* owned: booking_policy_release() */
};

/* The room as the booking module needs it. */
#define ROOMS_MAX_PRICE_RULES 64 /* price rules read per room */

struct room_info {
    char id[40];
    char name[484]; /* up to 120 characters of UTF-8 (rooms.name) */
    int64_t hourly_rate;
    bool active;  /* bookable: active and not archived */
    json_t *json; /* the public representation (owned; released by rooms_room_release) */
    /* The price rules, when loaded with rooms_room_with_policy_load (else nrules is -1). */
    int nrules;
    struct price_rule rules[ROOMS_MAX_PRICE_RULES];
};

/* Loads the policy for room_id (NULL: the studio's). 0, -1 not found, -2 database error. */
int rooms_policy_load(struct db_conn *t, const char *room_id, struct booking_policy *out);
void rooms_policy_release(struct booking_policy *p);
/* Loads a room. 0, -1 not found (or not a uuid), -2 database error. */
int rooms_room_load(struct db_conn *t, const char *room_id, struct room_info *out);
void rooms_room_release(struct room_info *r);
/* Both at once, with the room's price rules (one statement): 0 (release both), -1 no such
 * room, -2 database error. */
int rooms_room_with_policy_load(struct db_conn *t, const char *room_id, struct room_info *room,
                                struct booking_policy *pol);
/* The same, kept in cache (a tcache the studio's changes to rooms or policy drop) for
 * studio tenant_id; cache NULL: read each time. */
struct tcache;
int rooms_room_with_policy_cached(struct tcache *cache, const char *tenant_id, struct db_conn *t,
                                  const char *room_id, struct room_info *room,
                                  struct booking_policy *pol);
/* The price rules of a room (at most max). Returns the count, or -1. */
int rooms_price_rules(struct db_conn *t, const char *room_id, struct price_rule *out, int max);
/* The policy summary shown to customers (GET /api/public/studio). */
json_t *rooms_policy_json(const struct booking_policy *p);

extern const struct route rooms_routes[];

#endif
