/*
 * staff.h — a studio's team: listing its staff users, inviting someone by
 * e-mail with a one-time link to choose a password, renaming, deactivating
 * and reactivating, removing (or deactivating instead when they have
 * history), and accepting an invitation. src/modules/staff/staff.c holds the
 * rules and SQL, staff_routes.c the HTTP.
 *
 * Every function takes the studio's connection (and, to queue mail, the
 * master's), answers a status the handler turns into a reply, and leaves
 * JSON results in *out and field errors in *fields (the caller's; both may
 * be left NULL).
 *
 * Every change writes its audit entry (audit.h, resource "users"; a role
 * granted with an invitation also "user_roles") in its own transaction: a
 * change whose entry cannot be written is undone (STAFF_DB).
 */
#ifndef STUDIOD_STAFF_H
#define STUDIOD_STAFF_H

#include <jansson.h>
#include <stdbool.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct db_conn;

#define STAFF_INVITE_DAYS 7   /* an invitation link works this long, once */
#define STAFF_TOKEN_BYTES 32  /* random bytes of an invitation token */
#define STAFF_PASSWORD_MIN 10 /* the sign-up rule (src/modules/signup) */
#define STAFF_PASSWORD_MAX 1024

enum staff_status {
    STAFF_OK = 0,
    STAFF_NOT_FOUND = -1,       /* 404 not_found (also an id that is not a uuid) */
    STAFF_DB = -2,              /* 503 database_unavailable */
    STAFF_INVALID = -3,         /* 422 invalid_input; *fields names each bad field */
    STAFF_EMAIL_TAKEN = -4,     /* 409 email_taken */
    STAFF_FORBIDDEN = -5,       /* 403 forbidden: the owner role, granted by a non-owner */
    STAFF_SELF = -6,            /* 422 cannot_deactivate_self: nor remove oneself */
    STAFF_LAST_OWNER = -7,      /* 409 last_owner */
    STAFF_JOINED = -8,          /* 409 already_joined: no invitation for who has a password */
    STAFF_INACTIVE = -9,        /* 409 user_inactive: reactivate before inviting again */
    STAFF_INVITE_USED = -10,    /* 410 invitation_used */
    STAFF_INVITE_EXPIRED = -11, /* 410 invitation_expired */
    STAFF_ESCALATION = -12,     /* 403 privilege_escalation: a role with more than one holds */
    STAFF_OWNER_ONLY = -13      /* 403 forbidden: an owner taken out by a non-owner */
};

/* Who is acting: the signed-in user. */
struct staff_actor {
    const char *user_id;
    const char *name;
    bool owner;          /* holds the owner role now */
    struct request *req; /* the request acted in, for the audit entry's actor and origin;
                          * NULL (the platform admin, tests): user_id and name as given,
                          * actor "system" without a user_id */
};

/* Where the invitation e-mail points: the studio's name and public URL. */
struct staff_studio {
    const char *name;
    const char *url; /* "https://slug.example.com", no trailing slash */
};

/* What DELETE did. */
enum staff_removal { STAFF_REMOVED, STAFF_DEACTIVATED };

/* An open invitation, as the set-password page shows it. */
struct staff_invitation {
    char user_id[40];
    char name[484];
    char email[256];
};

/* True for a canonical uuid (8-4-4-4-12 hex digits). */
bool staff_id_valid(const char *id);
/* True for text that can be an invitation token (URL-safe base64, bounded length). */
bool staff_token_valid(const char *token);

/* {"staff": [member...]}: every user, active ones first, by name. */
int staff_list(struct db_conn *t, json_t **out);
/* One member: {id, name, email, active, invited, invitation_expires_at, last_login_at,
 * created_at, roles: [{id, name, expires_at}]}. */
int staff_get(struct db_conn *t, const char *id, json_t **out);
/* Creates the user {"name","email","role_id"?,"role_expires_at"?} without a password, with
 * an invitation, and queues its e-mail on master. The role is granted only when the actor
 * may (rbac_may_grant_role; the owner role by an owner only). *out is the member, with
 * "invitation_sent" false only when the mail could not be queued after the user was made. */
int staff_create(struct db_conn *t, struct db_conn *master, struct arena *a,
                 const struct staff_actor *actor, const struct staff_studio *studio, json_t *body,
                 json_t **out, json_t **fields);
/* Changes {"name"?, "active"?}. Deactivating ends the user's sessions and open
 * invitation at once; it is refused for oneself, for an owner unless actor is one, and for
 * the last active owner. */
int staff_update(struct db_conn *t, const struct staff_actor *actor, const char *id, json_t *body,
                 json_t **out, json_t **fields);
/* Deletes a user without history; deactivates one with history (bookings they created,
 * sessions, a sign-in, or any other row that refers to them). The rules of deactivation
 * apply. */
int staff_remove(struct db_conn *t, const struct staff_actor *actor, const char *id,
                 enum staff_removal *done);
/* A fresh invitation for a user who has not joined yet (the open one stops working);
 * *out is the member. */
int staff_reinvite(struct db_conn *t, struct db_conn *master, struct arena *a,
                   const struct staff_actor *actor, const struct staff_studio *studio,
                   const char *id, json_t **out);

/* Looks an invitation up by its token: STAFF_OK with *out filled, STAFF_NOT_FOUND,
 * STAFF_INVITE_USED, STAFF_INVITE_EXPIRED or STAFF_DB. */
int staff_invitation_find(struct db_conn *t, struct arena *a, const char *token,
                          struct staff_invitation *out);
/* Sets the password of the token's user when it passes the rules, and uses the token up;
 * audited as that user acting from req (may be NULL). The statuses of
 * staff_invitation_find, and STAFF_INVALID (*fields). */
int staff_invitation_accept(struct db_conn *t, struct request *req, struct arena *a,
                            const char *token, const char *password, const char *confirm,
                            json_t **fields);

extern const struct route staff_routes[];

#endif
