/*
 * rbac.h — who may do what in a studio: the catalogue of resources and
 * actions, roles (built-in or the studio's own) that may inherit from one
 * parent, their assignment to staff (for good or until expires_at), and the
 * permission check the middleware runs for every staff route that declares
 * one (http_hooks.has_permission = rbac_has_permission).
 *
 * Everything lives in the studio's own database (migrations/tenant/
 * 0003_rbac.sql). A permission is resource:action; "manage" on a resource
 * implies every action on it. A role's effective permissions are its own and
 * every ancestor's. A user's are the union over the roles they hold that
 * have not expired.
 *
 * The first part below is pure (permission sets and a role graph in memory:
 * inheritance and cycle detection) and needs no database; the module uses it
 * for every rule, and tests/unit/test_rbac.c calls it directly.
 */
#ifndef STUDIOD_RBAC_H
#define STUDIOD_RBAC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "studiod/http.h"
#include "studiod/jobs.h"

struct db_conn;

/* ---- the catalogue -------------------------------------------------------------------- */

#define RBAC_NRESOURCES 14
#define RBAC_NACTIONS 6

/* Indexes into rbac_actions; RBAC_MANAGE implies the others. */
enum rbac_action {
    RBAC_VIEW,
    RBAC_CREATE,
    RBAC_UPDATE,
    RBAC_DELETE,
    RBAC_EXPORT,
    RBAC_MANAGE,
};

/* "bookings", "sessions", ... "domains" (the order of the API's lists). */
extern const char *const rbac_resources[RBAC_NRESOURCES];
/* "view", "create", "update", "delete", "export", "manage" (enum rbac_action order). */
extern const char *const rbac_actions[RBAC_NACTIONS];

/* The index of a resource / action name, or -1 when the catalogue has none such. */
int rbac_resource_index(const char *name);
int rbac_action_index(const char *name);

/* ---- permission sets (pure) ----------------------------------------------------------- */

/* A set of permissions as granted: bit (1 << action) of bits[resource]. "manage" is kept as
 * its own bit; rbac_perms_allows() expands it. A zeroed struct is the empty set. */
struct rbac_perms {
    uint8_t bits[RBAC_NRESOURCES];
};

void rbac_perms_grant(struct rbac_perms *p, int resource, int action);
void rbac_perms_union(struct rbac_perms *into, const struct rbac_perms *p);
/* True when p grants resource:action, itself or through resource:manage. */
bool rbac_perms_allows(const struct rbac_perms *p, int resource, int action);
/* True when holder allows everything wanted grants (wanted's manage needs holder's manage).
 * missing (may be NULL) receives what holder lacks. */
bool rbac_perms_covers(const struct rbac_perms *holder, const struct rbac_perms *wanted,
                       struct rbac_perms *missing);
bool rbac_perms_empty(const struct rbac_perms *p);
/* [{"resource","action"}] in catalogue order: as granted, or every action p allows when
 * expand. A new reference. */
json_t *rbac_perms_json(const struct rbac_perms *p, bool expand);
/* "billing:manage, staff:delete" (as granted) into out; out is always NUL-terminated. */
void rbac_perms_format(const struct rbac_perms *p, char *out, size_t outlen);

/* ---- the role graph (pure) ------------------------------------------------------------ */

/* One role: its id, its parent's (NULL: none) and what it grants itself. */
struct rbac_role {
    const char *id;
    const char *parent_id;
    struct rbac_perms own;
};

/* Every role of a studio (the strings are the caller's). */
struct rbac_graph {
    const struct rbac_role *roles;
    size_t n;
};

/* The role with this id, or NULL. */
const struct rbac_role *rbac_graph_find(const struct rbac_graph *g, const char *id);
/* What role_id inherits: the union of its ancestors' own permissions (not its own).
 * 0, -1 when role_id is not in g, -2 when its ancestry is cyclic or names a missing role
 * (out then holds what was gathered before). */
int rbac_inherited(const struct rbac_graph *g, const char *role_id, struct rbac_perms *out);
/* A role's effective permissions: its own and its ancestors'. Returns as rbac_inherited. */
int rbac_resolve(const struct rbac_graph *g, const char *role_id, struct rbac_perms *out);
/* True when making new_parent_id the parent of role_id would close a cycle: new_parent_id
 * is role_id itself or one of its descendants (or its own ancestry is already cyclic or
 * broken). new_parent_id NULL (no parent) never does. */
bool rbac_would_cycle(const struct rbac_graph *g, const char *role_id, const char *new_parent_id);

/* ---- the request: the middleware's check ---------------------------------------------- */

/* The http_hooks.has_permission implementation: true when the session's user holds
 * resource:action now. Computed once per request (one query) and kept on the request. A
 * database failure denies. */
bool rbac_has_permission(struct request *req, const char *resource, const char *action);
/* The session user's effective permissions (cached on the request), or NULL without a
 * session or when the database fails. */
/* Turns the per-process permission cache on (like the session cache: at most ttl_seconds,
 * capped at 50; 0: off); before cache_bus_start. rbac_cache_stop frees it. */
int rbac_cache_start(int ttl_seconds);
void rbac_cache_stop(void);
const struct rbac_perms *rbac_request_perms(struct request *req);

/* ---- for other modules ---------------------------------------------------------------- */

/* A user's effective permissions now (unexpired roles and their ancestors). 0 or -1. */
int rbac_user_perms(struct db_conn *t, const char *user_id, struct rbac_perms *out);
/* 1 when user_id is the only active user holding the owner role without an expiry (so it
 * may not be deactivated, deleted or demoted), 0 when not, -1 on a database error. Call it
 * inside the transaction that makes the change, after rbac_lock(). */
int rbac_is_last_owner(struct db_conn *t, const char *user_id);
/* Whether actor_id may give (or take away) role_id: RBAC_OK when the actor holds every
 * permission the role grants with its ancestors, RBAC_ESCALATION when not, RBAC_NOT_FOUND
 * (no such role) or RBAC_DB. For a module that assigns roles itself (inviting staff). */
int rbac_may_grant_role(struct db_conn *t, const char *actor_id, const char *role_id);
/* Serialises changes to roles and assignments in a studio (transaction-scoped advisory
 * lock); call it first in such a transaction. 0 or -1. */
int rbac_lock(struct db_conn *t);

extern const struct route rbac_routes[];
extern const struct job_kind rbac_job_kinds[];

/* ---- the staff API (rbac.c, used by rbac_routes.c) ------------------------------------ */

/* Outcomes; the handler maps each to one reply. */
enum rbac_status {
    RBAC_OK = 0,
    RBAC_NOT_FOUND = -1,    /* 404 not_found */
    RBAC_DB = -2,           /* 503 database_unavailable */
    RBAC_INVALID = -3,      /* 422 invalid_input, *fields names each bad field */
    RBAC_NAME_TAKEN = -4,   /* 409 role_name_taken */
    RBAC_CYCLE = -5,        /* 422 role_cycle */
    RBAC_BUILTIN = -6,      /* 403 builtin_role */
    RBAC_ESCALATION = -7,   /* 403 privilege_escalation, *fields names what is missing */
    RBAC_LAST_OWNER = -8,   /* 409 last_owner */
    RBAC_HAS_CHILDREN = -9, /* 409 role_has_children */
};

/* True for a canonical uuid (8-4-4-4-12 hex digits). */
bool rbac_id_valid(const char *id);

/* {"resources": [...]} and {"actions": [...], "implied_by_manage": [...]}. */
json_t *rbac_resources_json(void);
json_t *rbac_actions_json(void);
/* Every role × resource × action: "direct", "inherited" or null. */
int rbac_matrix(struct db_conn *t, json_t **out);

/* Roles with their own permissions. JSON results (*out) and field errors (*fields) become
 * the caller's. req is the staff request making a change: its session's user is the actor,
 * whose permissions are checked (what they may grant) inside the change's transaction, and
 * who is named on the change's audit entry. Every change writes that entry (audit.h) as the
 * last statement of its transaction: a change whose entry cannot be written rolls back and
 * returns RBAC_DB. */
int rbac_roles_list(struct db_conn *t, json_t **out);
int rbac_role_get(struct db_conn *t, const char *id, json_t **out);
/* Audited as "create" on "roles": the role as the API shows it, with its permissions. */
int rbac_role_create(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                     json_t **fields);
/* Changes the fields sent; "permissions" replaces the role's whole set. Audited as
 * "update" on "roles" with the role before and after (a change to nothing: no entry). */
int rbac_role_update(struct db_conn *t, struct request *req, const char *id, json_t *body,
                     json_t **out, json_t **fields);
/* Audited as "delete" on "roles" with the role as it was. */
int rbac_role_delete(struct db_conn *t, struct request *req, const char *id, json_t **fields);
/* A role's effective permissions, each marked direct or inherited (and from which role). */
int rbac_role_permissions(struct db_conn *t, const char *id, json_t **out);

/* Gives user_id the role body.role_id, until body.expires_at (RFC 3339) if given; giving it
 * again replaces the expiry. *created tells a new assignment from a changed one;
 * *expires_in is the seconds until it expires (0: never). Audited on "user_roles" (resource
 * id "<user id>/<role id>") with {"user_id","role_id","role","expires_at"}: "create" for a new
 * assignment, "update" for a changed expiry (an unchanged one: no entry). */
int rbac_user_role_assign(struct db_conn *t, struct request *req, const char *user_id, json_t *body,
                          json_t **out, json_t **fields, bool *created, int *expires_in);
/* Audited as "delete" on "user_roles" with the assignment as it was. */
int rbac_user_role_remove(struct db_conn *t, struct request *req, const char *user_id,
                          const char *role_id, json_t **fields);
/* Queues the job that removes the studio's expired assignments in delay_seconds. 0 or -1. */
int rbac_schedule_expiry(struct db_conn *master, const char *slug, int delay_seconds);
/* Deletes the studio's expired assignments in one transaction, each audited by the system
 * ("expire" on "user_roles", before as for a removal); master (may be NULL) receives alert
 * mails. The number deleted, or -1 (nothing deleted). */
int rbac_expire_roles(struct db_conn *t, struct db_conn *master);

#endif
