/*
 * audit_routes.c — the audit log over HTTP, for staff of the studio:
 *
 *   GET  /api/audit-logs          entries, newest first, filtered and paged  audit:view
 *   GET  /api/audit-logs/stats    counts by action, actor, risk level, day   audit:view
 *   GET  /api/audit-logs/verify   walks the hash chain                       audit:view
 *   GET  /api/audit-logs/export   the filtered entries as CSV                audit:export
 *   POST /api/audit-logs/cleanup  drops entries older than N ≥ 90 days       audit:manage + owner
 *
 * Filters (list, stats, export), all optional: actor (a user id, an actor
 * type, an e-mail, or part of a name), action, resource, resource_id, ip,
 * from / to (YYYY-MM-DD as the studio's local days, `to` included, or RFC
 * 3339 times with an offset), risk (levels, comma-separated), q (free text).
 * Paging: limit (1..500, default 50), offset.
 *
 * Reading the log is not audited; an export and a cleanup are (the export's
 * entry is written and committed before the CSV is sent: an export that cannot
 * be audited is not sent, and one the client drops is still recorded).
 * The export is streamed (chunked): a read-only snapshot and a cursor on the
 * tenant connection, FETCHed in batches as the client reads; no row cap. Its
 * entry's "rows" is the count matching when it began, and the stream stops at
 * the last of those (the export's own entry is not in it). Cleanup is for owners only, whatever the permission table
 * says: the handler checks the session's roles as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/audit.h"
#include "studiod/tenant.h"

#define MAX_OFFSET 10000000L

static void logs_index(struct request *req);
static void logs_stats(struct request *req);
static void logs_verify(struct request *req);
static void logs_export(struct request *req);
static void logs_cleanup(struct request *req);
static void reply_status(struct request *req, int rc, json_t *fields);
static const char *query(struct request *req, const char *name);
static bool filter_from_request(struct request *req, struct audit_filter *f);
static bool parse_count(const char *s, long min, long max, long *out);
static json_t *filter_json(const struct audit_filter *f);
static bool is_owner(const struct request *req);

#define STAFF TENANT_REQUIRED, AUTH_STAFF

const struct route audit_routes[] = {
    {"GET", "/api/audit-logs", logs_index, STAFF, "audit", "view", 0},
    {"GET", "/api/audit-logs/stats", logs_stats, STAFF, "audit", "view", 0},
    {"GET", "/api/audit-logs/verify", logs_verify, STAFF, "audit", "view", 0},
    {"GET", "/api/audit-logs/export", logs_export, STAFF, "audit", "export", 0},
    {"POST", "/api/audit-logs/cleanup", logs_cleanup, STAFF, "audit", "manage", 0},
    {0},
};

/* What each module status answers; any other is the database's. */
static const struct http_error_map audit_errors[] = {
    {AUDIT_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {0, 503, "database_unavailable", "The database is unavailable; try again shortly", false},
};

/* The one mapping from a module status to an error reply; fields are stolen. */
static void reply_status(struct request *req, int rc, json_t *fields)
{
    http_reply_mapped(req, rc, audit_errors, fields, NULL);
}

/* A query value, with "" as absent. */
static const char *query(struct request *req, const char *name)
{
    const char *v = http_query(req, name);
    return v && *v ? v : NULL;
}

/* The filters of the query string; false after replying 422. */
static bool filter_from_request(struct request *req, struct audit_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->actor = query(req, "actor");
    f->action = query(req, "action");
    f->resource = query(req, "resource");
    f->resource_id = query(req, "resource_id");
    f->ip = query(req, "ip");
    f->from = query(req, "from");
    f->to = query(req, "to");
    f->risk = query(req, "risk");
    f->q = query(req, "q");
    f->timezone = req->tenant->timezone;
    json_t *bad = audit_filter_validate(f);
    if (!bad)
        return true;
    reply_status(req, AUDIT_INVALID, bad);
    return false;
}

/* A whole decimal number in min..max (no sign, no spaces). */
static bool parse_count(const char *s, long min, long max, long *out)
{
    if (!s || !*s || strlen(s) > 9)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    long n = atol(s);
    if (n < min || n > max)
        return false;
    *out = n;
    return true;
}

/* The filters an export used, for its own audit entry. */
static json_t *filter_json(const struct audit_filter *f)
{
    json_t *o = json_object();
    const char *keys[] = {"actor", "action", "resource", "resource_id", "ip", "from",
                          "to",    "risk",   "q"};
    const char *values[] = {f->actor, f->action, f->resource, f->resource_id, f->ip, f->from,
                            f->to,    f->risk,   f->q};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (values[i])
            json_object_set_new(o, keys[i], json_string(values[i]));
    return o;
}

/* roles_json is a JSON array of role names (json_agg): look for the exact string. */
static bool is_owner(const struct request *req)
{
    return req->session && strstr(req->session->roles_json, "\"owner\"") != NULL;
}

static void logs_index(struct request *req)
{
    struct audit_filter f;
    if (!filter_from_request(req, &f))
        return;
    long limit = AUDIT_LIST_DEFAULT_LIMIT, offset = 0;
    const char *l = query(req, "limit"), *o = query(req, "offset");
    json_t *bad = json_object();
    if (l && !parse_count(l, 1, AUDIT_LIST_MAX_LIMIT, &limit))
        json_object_set_new(bad, "limit", json_string("A number from 1 to 500"));
    if (o && !parse_count(o, 0, MAX_OFFSET, &offset))
        json_object_set_new(bad, "offset", json_string("A number from 0 to 10000000"));
    if (json_object_size(bad) > 0) {
        reply_status(req, AUDIT_INVALID, bad);
        return;
    }
    json_decref(bad);
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = audit_list(t, &f, limit, offset, &out);
    if (rc != AUDIT_OK) {
        reply_status(req, rc, NULL);
        return;
    }
    http_reply_json(req, 200, out);
}

static void logs_stats(struct request *req)
{
    struct audit_filter f;
    if (!filter_from_request(req, &f))
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = audit_stats(t, &f, &out);
    if (rc != AUDIT_OK) {
        reply_status(req, rc, NULL);
        return;
    }
    http_reply_json(req, 200, out);
}

static void logs_verify(struct request *req)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = audit_verify(t, &out);
    if (rc != AUDIT_OK) {
        reply_status(req, rc, NULL);
        return;
    }
    http_reply_json(req, 200, out);
}

static void logs_export(struct request *req)
{
    struct audit_filter f;
    if (!filter_from_request(req, &f))
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    long rows = 0;
    char last_id[24];
    int rc = audit_export_count(t, &f, &rows, last_id);
    if (rc != AUDIT_OK) {
        reply_status(req, rc, NULL);
        return;
    }
    json_t *after = json_pack("{s:o, s:I}", "filters", filter_json(&f), "rows", (json_int_t)rows);
    rc = audit_record(t, req, AUDIT_ACTION_EXPORT, "audit", NULL, NULL, after); /* commits */
    json_decref(after);
    if (rc != AUDIT_OK) {
        reply_status(req, AUDIT_DB, NULL);
        return;
    }
    struct audit_export *x = audit_export_open(t, &f, last_id, req->arena);
    if (!x) {
        reply_status(req, AUDIT_DB, NULL);
        return;
    }
    http_add_header(
        req, "Content-Disposition",
        arena_printf(req->arena, "attachment; filename=\"audit-log-%s.csv\"", req->tenant->slug));
    http_add_header(req, "Cache-Control", "no-store");
    /* req->tenant_db stays held (in the export's transaction) until the request ends */
    http_reply_stream(req, 200, "text/csv; charset=utf-8", audit_export_read, audit_export_done,
                      x);
}

static void logs_cleanup(struct request *req)
{
    if (!is_owner(req)) {
        http_reply_error(req, 403, "forbidden", "Only the studio's owners may clean up the log",
                         NULL);
        return;
    }
    json_t *body = http_body_json(req);
    if (!body)
        return;
    json_t *v = json_object_get(body, "older_than_days");
    if (!json_is_integer(v) || json_integer_value(v) < AUDIT_MIN_RETENTION_DAYS ||
        json_integer_value(v) > 36500) {
        reply_status(req, AUDIT_INVALID,
                     json_pack("{s:s}", "older_than_days",
                               "A whole number of days, at least 90 (the minimum retention)"));
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    struct audit_ctx ctx;
    audit_ctx_from_request(req, &ctx);
    json_t *out = NULL;
    int rc = audit_cleanup(t, &ctx, (long)json_integer_value(v), &out);
    if (rc == AUDIT_OK) {
        http_reply_json(req, 200, out);
    } else if (rc == AUDIT_CHAIN_BROKEN) {
        http_reply_error(req, 409, "audit_chain_broken",
                         "The entries to remove do not verify: they were altered. Nothing was "
                         "removed",
                         out);
    } else {
        json_decref(out);
        reply_status(req, rc, NULL);
    }
}
