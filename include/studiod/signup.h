/*
 * signup.h — new studios: slug rules, validation, provisioning of the
 * organization and its database, and repair of interrupted provisioning.
 */
#ifndef STUDIOD_SIGNUP_H
#define STUDIOD_SIGNUP_H

#include <jansson.h>
#include <stdbool.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct db_conn;

/* NULL when slug has a valid shape and is not reserved; otherwise why not. */
const char *signup_slug_problem(const char *slug);

struct signup_input {
    const char *studio_name, *slug, *owner_name, *owner_email, *password, *timezone, *currency;
};

/* Checks every field; NULL when all are good, else an object field → message. */
json_t *signup_validate(const struct signup_input *in);

struct signup_result {
    char org_id[40];
    char trial_ends_at[40]; /* RFC 3339, UTC */
    char status[16];
};

enum signup_error {
    SIGNUP_OK = 0,
    SIGNUP_SLUG_TAKEN = -1,
    SIGNUP_DB_DOWN = -2,
    SIGNUP_FAILED = -3,
};

/* Creates the organization, its database (cloned from the template) and its owner, starts
 * the trial and queues the welcome mail (studio_url in it). */
enum signup_error signup_provision(struct arena *a, const struct signup_input *in,
                                   const char *studio_url, struct signup_result *out);
/* Drops databases and rows of provisioning left unfinished for more than older_than_seconds,
 * and databases named studio_* that no organization owns. Returns how many were repaired,
 * or -1. */
int signup_repair(int older_than_seconds);
/* True when the slug is free (no organization). -1 on database error. */
int signup_slug_free(struct db_conn *master, const char *slug);

extern const struct route signup_routes[];

#endif
