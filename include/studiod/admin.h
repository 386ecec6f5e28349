/*
 * admin.h — platform admins, under /admin on the bare domain: sign-in with
 * a password and a TOTP code, their own sessions (cookie "studiod_admin",
 * table admin_sessions in the master database), the dashboard aggregated
 * over every studio's database, studio and staff management, and the
 * platform audit log with its SHA-256 hash chain.
 *
 * admin.c holds the rules and SQL, admin_routes.c the HTTP, totp.c RFC 6238
 * and base32. The module has no private header (admin_routes.c reaches
 * admin.c through this one), so the functions below marked "for
 * admin_routes.c" are not meant for other modules.
 */
#ifndef STUDIOD_ADMIN_H
#define STUDIOD_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct audit_entry;
struct db_conn;

#define ADMIN_COOKIE "studiod_admin"
#define ADMIN_SESSION_MAX_HOURS 8     /* absolute lifetime of an admin session */
#define ADMIN_SESSION_IDLE_MINUTES 30 /* idle lifetime */
#define ADMIN_MAX_ACCOUNT_FAILURES 5
#define ADMIN_MAX_IP_FAILURES 20
#define ADMIN_FAILURE_WINDOW_MINUTES 15
#define ADMIN_PASSWORD_MIN 12

#define ADMIN_TOTP_STEP_SECONDS 30
#define ADMIN_TOTP_DIGITS 6
#define ADMIN_TOTP_WINDOW 1 /* steps accepted either side of now (clock drift) */
#define ADMIN_TOTP_SECRET_BYTES 20
#define ADMIN_TOTP_ISSUER "studiod"

#define ADMIN_DASHBOARD_MAX_AGE 60 /* seconds the dashboard aggregate is served from memory */

enum admin_status {
    ADMIN_OK = 0,
    ADMIN_NOT_FOUND = -1,
    ADMIN_INVALID = -2,         /* input refused; fields say which */
    ADMIN_CONFLICT = -3,        /* the target is not in a state that allows it; a code says why */
    ADMIN_DB = -4,              /* a database was unavailable or failed */
    ADMIN_BAD_CREDENTIALS = -5, /* wrong e-mail, password or code: never says which */
    ADMIN_THROTTLED = -6,
    ADMIN_EXISTS = -7, /* admin create: the e-mail is taken */
};

/* ---- sessions (the http_hooks.load_admin implementation) ------------------------------- */

/* Loads the admin session named by the studiod_admin cookie into req->admin: 0 found,
 * -1 none (or expired), -2 database unavailable. */
int admin_load_session(struct request *req);

/* ---- accounts (the `studiod admin create` command) ------------------------------------- */

struct admin_created {
    char id[40];
    char *secret_b32;  /* the TOTP seed, base32 (shown once) */
    char *otpauth_uri; /* otpauth://totp/studiod:<email>?secret=...&issuer=studiod */
};

/* Creates an admin with a fresh TOTP seed. ADMIN_OK, ADMIN_INVALID (*problem says what),
 * ADMIN_EXISTS or ADMIN_DB. Writes admin.create to the audit log (actor: the command line). */
int admin_create(struct arena *a, const char *email, const char *name, const char *password,
                 struct admin_created *out, const char **problem);

/* ---- TOTP and base32 (totp.c) ---------------------------------------------------------- */

/* RFC 4226 HOTP on HMAC-SHA1: the code (digits 6..8) for counter. */
uint32_t admin_totp_code(const unsigned char *key, size_t keylen, uint64_t counter, int digits);
/* The RFC 6238 step of unix_time (30-second steps from the epoch). */
int64_t admin_totp_step(int64_t unix_time);
/* Checks a 6-digit code against the steps within ADMIN_TOTP_WINDOW of unix_time. Returns the
 * step it matched (> last_step), ADMIN_TOTP_WRONG, or ADMIN_TOTP_REPLAY when it matches only
 * steps at or before last_step (a code already used, or an older one). */
int64_t admin_totp_check(const unsigned char *key, size_t keylen, const char *code,
                         int64_t unix_time, int64_t last_step);
#define ADMIN_TOTP_WRONG (-1)
#define ADMIN_TOTP_REPLAY (-2)
/* RFC 4648 base32 without padding. */
char *admin_base32_encode(struct arena *a, const unsigned char *data, size_t len);
/* Decodes base32 (either case; '=' padding, spaces and '-' ignored) into out. The byte count,
 * or -1 on a bad character or when out is too small. */
long admin_base32_decode(const char *s, unsigned char *out, size_t cap);
/* otpauth://totp/<issuer>:<account>?secret=<b32>&issuer=<issuer>&algorithm=SHA1&digits=6
 * &period=30, the account percent-encoded except for '@'. */
char *admin_totp_uri(struct arena *a, const char *issuer, const char *account,
                     const char *secret_b32);

/* ---- for admin_routes.c ---------------------------------------------------------------- */

/* Who did an action, for the audit log. admin_id NULL: the command line. */
struct admin_actor {
    const char *admin_id, *email, *ip, *user_agent, *request_id;
};

struct admin_login {
    char admin_id[40];
    char name[128];
    char *token, *csrf_token; /* the new session (cookie value) and its CSRF token */
    int retry_after;          /* with ADMIN_THROTTLED */
};
/* Throttle check, password, TOTP (replay-safe), then a new session (the cookie's old one
 * ends). ADMIN_OK, ADMIN_BAD_CREDENTIALS, ADMIN_THROTTLED or ADMIN_DB. */
int admin_login(struct request *req, const char *email, const char *password, const char *code,
                struct admin_login *out);
/* Ends the request's admin session (audit: admin.logout). */
void admin_logout(struct request *req, const struct admin_actor *who);

/* The dashboard as JSON text (in a): from memory when younger than ADMIN_DASHBOARD_MAX_AGE
 * seconds unless fresh, else recomputed (one computation at a time; others are served the
 * previous figures meanwhile). ADMIN_OK or ADMIN_DB. */
int admin_dashboard(struct arena *a, bool fresh, char **json_text);

struct admin_studio_query {
    const char *q;      /* substring of slug, name or owner e-mail; NULL/"" = all */
    const char *status; /* NULL/"" = every status */
    int limit, offset;
};
/* {"studios": [...], "total", "limit", "offset"} */
int admin_studios_list(struct db_conn *m, const struct admin_studio_query *q, json_t **out);
/* {"studio": {...}} with its custom domains. */
int admin_studio_get(struct db_conn *m, const char *slug, const char *studio_url, json_t **out);

enum admin_studio_change { ADMIN_SUSPEND, ADMIN_REACTIVATE };
/* Suspends or reactivates (back to the status it had); audit studio.suspend /
 * studio.reactivate. ADMIN_CONFLICT with *conflict = "already_suspended", "not_suspended" or
 * "studio_provisioning". *out: {"studio": {...}}. */
int admin_studio_set_status(struct db_conn *m, const struct admin_actor *who, const char *slug,
                            enum admin_studio_change change, const char *reason,
                            const char *studio_url, json_t **out, const char **conflict);
/* Moves trial_ends_at days (1..90) past the later of itself and now; audit
 * studio.extend_trial. ADMIN_CONFLICT "not_in_trial" for an active studio. */
int admin_studio_extend_trial(struct db_conn *m, const struct admin_actor *who, const char *slug,
                              int days, const char *studio_url, json_t **out,
                              const char **conflict);

/* {"staff": [...], "roles": [...]} from the studio's database. */
int admin_staff_list(struct db_conn *m, const char *slug, json_t **out);

struct admin_staff_input {
    const char *name, *email, *role;
};
/* A staff user without a password, with the staff module's invitation (a one-time
 * set-password link e-mailed to them: staff_create); audit staff.invite. ADMIN_INVALID
 * (*fields), ADMIN_CONFLICT "email_taken". */
int admin_staff_invite(struct db_conn *m, struct arena *a, const struct admin_actor *who,
                       const char *slug, const char *studio_url, const struct admin_staff_input *in,
                       json_t **out, json_t **fields, const char **conflict);
/* Clears the user's password, ends their sessions and e-mails a one-time set-password link
 * (never a password) in staff_invitations; audit staff.reset_password. ADMIN_CONFLICT
 * "user_inactive". */
int admin_staff_reset_password(struct db_conn *m, struct arena *a, const struct admin_actor *who,
                               const char *slug, const char *studio_url, const char *user_id,
                               json_t **out, const char **conflict);
/* Deactivates a staff user and ends their sessions (staff_update); audit staff.deactivate.
 * ADMIN_CONFLICT "already_inactive" or "last_owner" (the studio's last owner who can sign
 * in: invite another owner first). */
int admin_staff_deactivate(struct db_conn *m, const struct admin_actor *who, const char *slug,
                           const char *user_id, json_t **out, const char **conflict);

/* Appends one entry to the audit log on m (call inside the caller's transaction, so the
 * entry commits with the change). before and after are borrowed (may be NULL). 0 or -1. */
int admin_audit_append(struct db_conn *m, const struct admin_actor *who, const char *action,
                       const char *target_studio, const char *target_user, json_t *before,
                       json_t *after);
/* The audit log, newest first: {"entries": [...], "total"}. */
int admin_audit_list(struct db_conn *m, const char *studio, int limit, int offset, json_t **out);
/* Walks the whole chain: 0 when every hash verifies (*entries counted), 1 when one does not
 * (*first_bad is its id), -1 on a database error. */
int admin_audit_verify(struct db_conn *m, long long *entries, long long *first_bad);
/* The entry of the shared chain functions (audit.h: audit_canonical, audit_chain_hash,
 * audit_walk_*) that an admin_audit_log row hashes as: actor_type "admin" ("system" when
 * admin_id is NULL: the command line), actor_id admin_id, actor_email, resource
 * target_studio, resource_id target_user, risk_level "none", no risk rules, no actor_name.
 * Strings and JSON are borrowed. */
void admin_audit_entry(struct audit_entry *e, long long id, const char *at, const char *admin_id,
                       const char *admin_email, const char *action, const char *target_studio,
                       const char *target_user, json_t *before, json_t *after, const char *ip,
                       const char *user_agent, const char *request_id, const char *hash);

/* True for a string shaped like a uuid. */
bool admin_uuid_valid(const char *s);

extern const struct route admin_routes[];

#endif
