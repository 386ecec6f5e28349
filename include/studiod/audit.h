/*
 * audit.h — the studio's audit log (one per tenant database): who did what
 * to which record, from where, with only the fields that changed; risk
 * flags decided when the entry is written; and a SHA-256 hash chain over
 * the entries, so that editing or deleting one afterwards shows.
 *
 * HOW A MODULE AUDITS A CHANGE
 *
 *     if (db_begin(t) != 0) ...
 *     ... the change, with `before` read FOR UPDATE and `after` from RETURNING ...
 *     if (audit_update(t, req, "rooms", id, before, after) != AUDIT_OK) {
 *         db_rollback(t);            // no entry, no change
 *         return ROOMS_DB;
 *     }
 *     if (db_commit(t) != 0) ...
 *
 *  - The entry is written on the caller's connection t, inside the caller's
 *    transaction: a change that rolls back leaves no entry, and a change
 *    whose entry cannot be written must roll back (any AUDIT_DB means the
 *    transaction is aborted). On a connection that is not in a transaction
 *    (a login, a view) the helper opens and commits its own.
 *  - Entries are chained: writing one locks the chain head row
 *    (audit_chain, FOR UPDATE) until the caller's transaction ends, so the
 *    studio's audited transactions commit one after the other. Call the
 *    helper as the LAST statement before db_commit, after every other row
 *    lock the transaction takes (taking locks after it invites deadlocks and
 *    holds the chain longer). Use the default READ COMMITTED isolation.
 *  - JSON arguments are borrowed (never stolen) and may be NULL. For an
 *    update, pass the whole before and after objects: only the top-level
 *    keys whose values differ are stored. A create stores after, a delete
 *    before. Keys that name secrets (containing "password", "secret",
 *    "token" or "api_key") are stored as "[redacted]". Text is cleaned
 *    (invalid UTF-8, control characters) and cut to a bounded length.
 *  - Actor: with a request, the staff session's user (id + name and e-mail
 *    as they are now), "customer" on public routes, "system" on Stripe
 *    webhooks, "admin" (req->admin) on platform-admin routes. Without a request
 *    (jobs, CLI): audit_record_system, actor "system".
 *  - Resource names are the plural table-like names the routes use
 *    ("rooms", "bookings", "customers", "roles", "user_roles", "settings",
 *    ...; "auth" for sign-in and sign-out, since "sessions" are studio
 *    sessions in the RBAC catalogue). Actions: the AUDIT_ACTION_* below, or any other lower-case
 * verb
 *    ("confirm", "move", ...). The risk rules look for "delete"/"cancel",
 *    "export" on customers/bookings, any change to roles/permissions/
 *    user_roles/role_permissions, and after.refund_amount (integer minor
 *    units) on any entry (a refund: action "refund" or "cancel").
 *  - High-risk entries are mailed to the studio's owners through the outbox
 *    (mail_queue on a master connection). The mail is queued when the entry
 *    is written — the master database cannot share the tenant transaction —
 *    so a change that then rolls back may still have alerted (an attempted
 *    mass deletion is worth an alert too). Mail trouble never fails the
 *    entry.
 *
 * Reading the log is not audited (noise); exporting and cleaning it are.
 */
#ifndef STUDIOD_AUDIT_H
#define STUDIOD_AUDIT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "studiod/arena.h"
#include "studiod/http.h"

struct db_conn;

enum audit_status {
    AUDIT_OK = 0,
    AUDIT_DB = -2,           /* database error: the caller's transaction is aborted, roll back */
    AUDIT_INVALID = -3,      /* a bad argument or filter; nothing was written */
    AUDIT_CHAIN_BROKEN = -4, /* cleanup refused: the entries it would drop do not verify */
};

/* Actions the helpers write; other verbs are fine with audit_record. */
#define AUDIT_ACTION_CREATE "create"
#define AUDIT_ACTION_UPDATE "update"
#define AUDIT_ACTION_DELETE "delete"
#define AUDIT_ACTION_CANCEL "cancel"
#define AUDIT_ACTION_VIEW "view"
#define AUDIT_ACTION_EXPORT "export"
#define AUDIT_ACTION_REFUND "refund"
#define AUDIT_ACTION_LOGIN "login"
#define AUDIT_ACTION_LOGIN_FAILED "login_failed"
#define AUDIT_ACTION_LOGOUT "logout"
#define AUDIT_ACTION_CLEANUP "cleanup"

/* Actor types (audit_log.actor_type). */
#define AUDIT_ACTOR_USER "user"           /* a staff user: actor_id = users.id */
#define AUDIT_ACTOR_CUSTOMER "customer"   /* a public caller of the booking pages */
#define AUDIT_ACTOR_SYSTEM "system"       /* jobs, CLI, webhooks */
#define AUDIT_ACTOR_ADMIN "admin"         /* a platform admin */
#define AUDIT_ACTOR_ANONYMOUS "anonymous" /* not signed in: a failed staff login */

/* Who did it, from where, and where alerts go: what audit_record takes from a request. */
struct audit_ctx {
    const char *actor_type;  /* AUDIT_ACTOR_*; NULL = system */
    const char *actor_id;    /* users.id for a staff user, else NULL */
    const char *actor_name;  /* snapshot at the time of the entry (or NULL) */
    const char *actor_email; /* snapshot; for login_failed the e-mail that was tried */
    const char *ip, *user_agent, *request_id; /* or NULL */
    const char *timezone;    /* the studio's IANA zone (opening-hours rule); NULL = UTC */
    const char *studio_name; /* named in alert mails (or NULL) */
    struct db_conn *master;  /* where alerts are queued; NULL = no mail */
};

/* ---- writing entries (for every module) ------------------------------------------------ */

/* The general form: action on resource/resource_id by whoever req says (see above).
 * before/after are borrowed. Alerts go through a master connection acquired only when an
 * entry is high-risk. AUDIT_OK, AUDIT_INVALID (action or resource not 1..64 of
 * [a-z0-9_.-], or an unknown actor type: nothing written) or AUDIT_DB. */
int audit_record(struct db_conn *t, struct request *req, const char *action, const char *resource,
                 const char *resource_id, json_t *before, json_t *after);
/* ---- entries of many requests at once (booking creation, booking.c) --------------------
 * For a writer that sends its statements in pipelines (db_pipeline): it runs
 * audit_sql_chain_lock as the last statement of its transaction's changes, then
 * audit_sql_more_ids with at least n - 1 as its parameter (ids left unused are harmless
 * gaps), hands both results to audit_batch_chain, runs the statement audit_batch_insert gives and
 * commits (one pipeline), then calls audit_batch_end. Each entry is what audit_record would write
 * for its own request, chained in the order given, except that the risk counts of one do
 * not include the others: for actions whose rules count earlier entries (login_failed,
 * delete, cancel) write one at a time. */
struct audit_item {
    struct request *req;
    const char *resource_id;
    json_t *before, *after; /* borrowed */
};
struct audit_batch;
extern const char audit_sql_chain_lock[];
extern const char audit_sql_more_ids[];
/* The entries chained onto the head that audit_sql_chain_lock returned (lock), with the
 * ids of lock and more, in t's transaction; NULL on failure (roll back: nothing can be
 * written). */
struct audit_batch *audit_batch_chain(struct db_conn *t, PGresult *lock, PGresult *more,
                                      const char *action, const char *resource, int n,
                                      const struct audit_item *items);
/* The statement that stores them: sql with its one parameter. */
void audit_batch_insert(const struct audit_batch *b, const char **sql, const char **param);
/* After the commit (committed) or the rollback: alerts for high-risk entries, once
 * committed; frees b (NULL is fine). */
void audit_batch_end(struct audit_batch *b, bool committed);

/* Thin wrappers of audit_record. */
int audit_create(struct db_conn *t, struct request *req, const char *resource,
                 const char *resource_id, json_t *after);
int audit_update(struct db_conn *t, struct request *req, const char *resource,
                 const char *resource_id, json_t *before, json_t *after);
int audit_delete(struct db_conn *t, struct request *req, const char *resource,
                 const char *resource_id, json_t *before);
int audit_view(struct db_conn *t, struct request *req, const char *resource,
               const char *resource_id);
/* A successful staff sign-in (the session is not on req yet: the user is named). Resource
 * "auth", resource_id the new session's id (or NULL). */
int audit_login(struct db_conn *t, struct request *req, const char *user_id, const char *user_name,
                const char *user_email, const char *session_id);
/* A refused sign-in for email (actor "anonymous", resource "auth"); reason (e.g.
 * "bad_credentials", "throttled", or NULL) lands in after.reason. Counted by the
 * failed-login burst rules, per e-mail and per IP. */
int audit_login_failed(struct db_conn *t, struct request *req, const char *email,
                       const char *reason);
/* The session's user signing out: resource "auth", resource_id the session's id. */
int audit_logout(struct db_conn *t, struct request *req);
/* For jobs and the CLI: actor "system"; master (may be NULL) receives alert mails. */
int audit_record_system(struct db_conn *t, struct db_conn *master, const char *action,
                        const char *resource, const char *resource_id, json_t *before,
                        json_t *after);
/* Full control over who and where (tests, imports): ctx as described above. */
int audit_write(struct db_conn *t, const struct audit_ctx *ctx, const char *action,
                const char *resource, const char *resource_id, json_t *before, json_t *after);
/* What audit_record uses: ctx from req (strings point into req). master is left NULL. */
void audit_ctx_from_request(struct request *req, struct audit_ctx *ctx);

extern const struct route audit_routes[];

/* ==== The module's own machinery, shared by audit.c, risk.c, audit_routes.c and the
 * ==== tests. Other modules have no use for what follows. ================================= */

#define AUDIT_HASH_HEX 64
#define AUDIT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_MIN_RETENTION_DAYS 90
#define AUDIT_LIST_DEFAULT_LIMIT 50
#define AUDIT_LIST_MAX_LIMIT 500

/* ---- changed fields -------------------------------------------------------------------- */

/* What is stored for a change: when before and after are both objects, only the top-level
 * keys whose values differ (a key missing on one side is on the other only); otherwise the
 * values as given. Secrets are redacted, strings with an encoded NUL cut at it. New
 * references (or NULL) in *before_out, *after_out. */
void audit_diff(json_t *before, json_t *after, json_t **before_out, json_t **after_out);
/* s as stored: invalid UTF-8 bytes become U+FFFD, control characters spaces, at most
 * max_chars characters. NULL stays NULL. */
char *audit_clean_text(struct arena *a, const char *s, size_t max_chars);

/* ---- the hash chain -------------------------------------------------------------------- */

/* One entry's hashed fields (strings may be NULL; JSON values borrowed). */
struct audit_entry {
    long long id;
    const char *at; /* UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ", as the database formats it */
    const char *actor_type, *actor_id, *actor_name, *actor_email;
    const char *action, *resource, *resource_id;
    json_t *before, *after; /* NULL = JSON null */
    const char *ip, *user_agent, *request_id;
    const char *risk_level; /* none, low, medium, high */
    json_t *risk_rules;     /* array of rule names; NULL = [] */
    const char *hash;       /* as stored (what verification checks) */
};

/* The canonical JSON of e's fields (not its hash): sorted keys, compact, so key order and
 * whitespace never matter. Malloc'd (free it); NULL on encoding failure. */
char *audit_canonical(const struct audit_entry *e);
/* out = lower-case hex SHA-256(prev_hash || canonical). */
void audit_chain_hash(const char *prev_hash, const char *canonical, char out[AUDIT_HASH_HEX + 1]);

/* Walks a chain entry by entry, from an anchor (the genesis hash, or the hash of the last
 * entry a cleanup removed). */
struct audit_walk {
    char running[AUDIT_HASH_HEX + 1]; /* hash the next entry must chain to */
    long long entries;                /* entries that verified */
    bool broken;
    long long broken_id; /* the first entry that does not verify (or the missing head) */
    char broken_at[40];  /* its time ("" when unknown) */
    const char *reason;  /* "hash_mismatch", "unreadable_entry", "head_missing" */
};
void audit_walk_init(struct audit_walk *w, const char *anchor_hash);
/* Checks e against the chain so far. False (and w->broken) at the first bad entry; later
 * calls then do nothing. */
bool audit_walk_step(struct audit_walk *w, const struct audit_entry *e);
/* After the last entry: the chain must end where the head row says (head_id, head_hash);
 * catches entries removed from the end. */
bool audit_walk_finish(struct audit_walk *w, long long head_id, const char *head_hash);
/* The whole walk over an in-memory list. */
bool audit_chain_verify(const char *anchor_hash, const struct audit_entry *entries, size_t n,
                        long long head_id, const char *head_hash, struct audit_walk *out);

/* ---- risk ------------------------------------------------------------------------------ */

enum audit_risk_level { AUDIT_RISK_NONE, AUDIT_RISK_LOW, AUDIT_RISK_MEDIUM, AUDIT_RISK_HIGH };

#define AUDIT_FAILED_LOGIN_WINDOW_MINUTES 15
#define AUDIT_FAILED_LOGINS_PER_ACCOUNT 5
#define AUDIT_FAILED_LOGINS_PER_IP 10
#define AUDIT_MASS_DELETE_WINDOW_MINUTES 10
#define AUDIT_MASS_DELETE_COUNT 10
#define AUDIT_REFUND_ALERT_DEFAULT 50000 /* minor units */
#define AUDIT_RISK_MAX_RULES 8

/* Rule names, as stored in audit_log.risk_rules. */
#define AUDIT_RULE_FAILED_LOGINS_ACCOUNT "failed_logins_account"
#define AUDIT_RULE_FAILED_LOGINS_IP "failed_logins_ip"
#define AUDIT_RULE_NEW_IP_LOGIN "new_ip_login"
#define AUDIT_RULE_MASS_DELETION "mass_deletion"
#define AUDIT_RULE_CUSTOMER_EXPORT "customer_data_export"
#define AUDIT_RULE_PERMISSION_CHANGE "permission_change"
#define AUDIT_RULE_LARGE_REFUND "large_refund"
#define AUDIT_RULE_OUTSIDE_HOURS "outside_opening_hours"

/* What the rules look at for one new entry (counts include the entry itself). */
struct audit_risk_facts {
    const char *action, *resource, *actor_type;
    long account_failures;  /* login_failed for this e-mail in the window */
    long ip_failures;       /* login_failed from this IP in the window */
    bool login_has_history; /* login: the user signed in before (per the log) */
    bool login_ip_seen;     /* login: ... from this IP */
    long deletions;         /* delete/cancel by this actor in the window */
    bool has_refund;
    long long refund_amount, refund_threshold;
    bool studio_closed; /* the studio's opening hours say closed right now */
};

struct audit_risk {
    enum audit_risk_level level;
    int nrules;
    const char *rules[AUDIT_RISK_MAX_RULES];
    bool alert; /* mail the owners: a high rule just fired (a burst reaching its threshold,
                 * not every entry after it; every large refund) */
};

/* The rules, as a pure function of the facts. */
void audit_risk_assess(const struct audit_risk_facts *f, struct audit_risk *out);
const char *audit_risk_level_name(enum audit_risk_level level);
/* The refund amount in after.refund_amount (integer, or a string of digits). */
bool audit_refund_amount(json_t *after, long long *out);
/* Gathers the facts for a new entry from the audit table (and opening hours, settings).
 * Must run with the chain head locked, so counts are exact. 0 or AUDIT_DB. */
int audit_risk_facts_load(struct db_conn *t, const struct audit_ctx *ctx, const char *action,
                          const char *resource, json_t *after, struct audit_risk_facts *out);

/* ---- reading the log (routes) ---------------------------------------------------------- */

/* Filters of list, stats and export; NULL = not filtered. */
struct audit_filter {
    const char *actor; /* a user id, an actor type, an e-mail, or part of a name */
    const char *action, *resource, *resource_id, *ip;
    const char *from, *to; /* YYYY-MM-DD (studio's local day; `to` inclusive) or RFC 3339 */
    const char *risk;      /* comma-separated levels: none,low,medium,high */
    const char *q;         /* free text over names, e-mails, ids, ip, before/after */
    const char *timezone;  /* the studio's zone, for dates and days */
};

/* The bad filters, as {"field": "why"}, or NULL when all are good. */
json_t *audit_filter_validate(const struct audit_filter *f);
/* {"entries": [...newest first], "total", "limit", "offset"} */
int audit_list(struct db_conn *t, const struct audit_filter *f, long limit, long offset,
               json_t **out);
/* {"from","to","total","by_action","by_actor","by_risk","by_day"}; from/to default to the
 * last 30 days. */
int audit_stats(struct db_conn *t, const struct audit_filter *f, json_t **out);
/* A streamed CSV export (no row cap: memory stays bounded by one FETCH batch).
 * audit_export_count: how many entries match now (*rows) and the last id among them
 * (last_id, "0" when none; the export stops there). The caller then records the export
 * (audit_record, its own committed transaction) and opens the stream:
 * audit_export_open begins a READ ONLY snapshot on t and declares a NO SCROLL cursor
 * over the matching entries with id <= last_id, oldest first; NULL after rolling back
 * when the database fails. t stays in that transaction until audit_export_done.
 * audit_export_read (an http_stream_fn) fills buf with the CSV (header first), FETCHing
 * batches as it goes: bytes written, 0 at the end (after CLOSE + COMMIT), -1 after a
 * ROLLBACK when the database fails. audit_export_done releases what the export holds
 * and rolls back a transaction the stream left open (the client went away). */
struct audit_export;
int audit_export_count(struct db_conn *t, const struct audit_filter *f, long *rows,
                       char last_id[24]);
struct audit_export *audit_export_open(struct db_conn *t, const struct audit_filter *f,
                                       const char *last_id, struct arena *a);
ssize_t audit_export_read(void *export, char *buf, size_t max);
void audit_export_done(void *export);
/* One CSV field: quoted when needed; a leading = + - @ (or tab, CR) gets a ' so that
 * spreadsheets do not run it as a formula. */
void audit_csv_field(struct buf *b, const char *s);
/* Walks the chain in one snapshot: {"ok": true, "entries": N} or {"ok": false,
 * "first_broken_id", "at", "reason", "entries"}. */
int audit_verify(struct db_conn *t, json_t **out);
/* Deletes the entries older than days (≥ AUDIT_MIN_RETENTION_DAYS, else AUDIT_INVALID),
 * after checking them, keeps the hash of the last one removed as the chain's new anchor,
 * and audits itself through ctx; in one transaction on t. {"deleted", "anchor_id",
 * "older_than_days"}. */
int audit_cleanup(struct db_conn *t, const struct audit_ctx *ctx, long days, json_t **out);

#endif
