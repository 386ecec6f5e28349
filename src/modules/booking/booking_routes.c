/*
 * booking_routes.c — HTTP for the staff back office, on a studio's host.
 * Every /api route needs a staff session and declares its permission; the
 * middleware has checked session, CSRF and permission before a handler runs.
 *
 *   GET    /api/bookings                     list: status, room_id, from, to, q, paid, sort,
 *                                            limit, offset
 *   POST   /api/bookings                     staff booking (skip_deposit, override_rules) 201
 *   GET    /api/bookings/:id                 one booking, staff view
 *   PUT    /api/bookings/:id                 move: room_id, starts_at, ends_at, keep_price
 *   POST   /api/bookings/:id/confirm
 *   POST   /api/bookings/:id/cancel          refund_amount (override), reason
 *   POST   /api/bookings/:id/convert         → studio session 201 (engineer_id, notes)
 *   GET    /api/sessions                     list: status, room_id, from, to, limit, offset
 *   GET    /api/sessions/:id                 with items and totals
 *   PUT    /api/sessions/:id                 engineer_id, notes, status, checked_in_at,
 *                                            checked_out_at, check_in, check_out
 *   POST   /api/sessions/:id/items           description, quantity, unit_amount → 201
 *   DELETE /api/sessions/:id/items/:item_id  204
 *   GET    /api/customers                    q, limit, offset
 *   GET    /api/customers/:id                with their bookings, newest first
 *   POST   /api/calendar-feeds               {"room_id": null|uuid} → 201 {"id","url"}
 *   GET    /api/calendar-feeds               without tokens
 *   DELETE /api/calendar-feeds/:id           204
 *   GET    /calendar/:token.ics              the feed (public: the token is the credential)
 *
 * Decisions: ids that are not uuids answer 404 before any SQL; a list's
 * dates are the studio's local days, both ends included; "paid" means
 * paid_amount > 0; the default order is -starts_at (newest first); price
 * and deposit are {"amount","currency"}, paid_amount and refund_amount bare
 * minor units of the same currency. The feed's URL is shown once: only its
 * token's SHA-256 is stored, so a lost URL means a new feed. Every change is
 * audited by booking.c or staff.c in its own transaction (503 when the entry
 * cannot be written: the change is then undone).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booking_internal.h"
#include "staff_internal.h"
#include "studiod/billing.h"
#include "studiod/booking.h"
#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/tenant.h"

#define OFFSET_MAX 1000000
#define TEXT_MAX 8192 /* a type check only: the rules set the real limits */
#define Q_MAX 200
#define NOTES_MAX 2000
#define DESCRIPTION_MAX 200
#define FEED_SUFFIX ".ics"

static void bookings_list(struct request *req);
static void bookings_create(struct request *req);
static void bookings_get(struct request *req);
static void bookings_move(struct request *req);
static void bookings_confirm(struct request *req);
static void bookings_cancel(struct request *req);
static void bookings_convert(struct request *req);
static void sessions_list(struct request *req);
static void sessions_get(struct request *req);
static void sessions_update(struct request *req);
static void session_items_add(struct request *req);
static void session_items_delete(struct request *req);
static void customers_list(struct request *req);
static void customers_get(struct request *req);
static void feeds_create(struct request *req);
static void feeds_list(struct request *req);
static void feeds_delete(struct request *req);
static void calendar_feed(struct request *req);

static const char *id_param(struct request *req, const char *name);
static json_t *body_object(struct request *req, bool may_be_empty);
static struct db_conn *valid_tenant_db(struct request *req, json_t *fields);
static void reply_call(struct request *req, int rc, int status, json_t *out,
                       struct booking_error *err);
static void reply_found(struct request *req, int rc, int status, json_t *out, const char *missing);
static void reply_deleted(struct request *req, int rc, const char *missing);
static void reply_list(struct request *req, int rc, json_t *out);
static void get_by_id(struct request *req,
                      int (*get)(const struct tenant *tn, struct db_conn *t, const char *id,
                                 json_t **out),
                      const char *missing);
static const char *body_str(json_t *body, const char *key, size_t max, json_t *fields);
static const char *member_str(json_t *o, const char *key, const char *field, size_t max,
                              json_t *fields);
static bool body_bool(json_t *body, const char *key, json_t *fields);
static const char *body_uuid(json_t *body, const char *key, json_t *fields, bool *given);
static const char *body_time(json_t *body, const char *key, json_t *fields, bool *given);
static const char *query(struct request *req, const char *name);
static bool parse_long(const char *s, long lo, long hi, long *out);
static void query_page(struct request *req, json_t *fields, int *limit, int *offset);
static void query_span(struct request *req, const char *const *allowed, json_t *fields,
                       const char **statuses, const char **room_id, const char **from,
                       const char **to);
static void query_page_span(struct request *req, json_t *fields, const char *from, const char *to,
                            int *limit, int *offset);
static const char *query_date(struct request *req, const char *name, json_t *fields);
static const char *query_uuid(struct request *req, const char *name, json_t *fields);
static const char *query_statuses(struct request *req, const char *const *allowed, json_t *fields);
static const char *query_like(struct request *req, json_t *fields);
static bool valid_ymd(const char *s);
static bool valid_date(const char *s);
static bool valid_rfc3339(const char *s);
static bool digits(const char *s, int n);
static size_t utf8_chars(const char *s);
static void bookings_move_input(json_t *body, json_t *fields, const char **room_id,
                                const char **starts_at, const char **ends_at, bool *keep_price);

static const char *const booking_statuses[] = {"pending", "confirmed", "cancelled",
                                               "expired", "completed", NULL};
static const char *const session_statuses[] = {"scheduled", "in_progress", "done", NULL};

const struct route booking_routes[] = {
    {"GET", "/api/bookings", bookings_list, TENANT_REQUIRED, AUTH_STAFF, "bookings", "view", 0},
    {"POST", "/api/bookings", bookings_create, TENANT_REQUIRED, AUTH_STAFF, "bookings", "create",
     0},
    {"GET", "/api/bookings/:id", bookings_get, TENANT_REQUIRED, AUTH_STAFF, "bookings", "view", 0},
    {"PUT", "/api/bookings/:id", bookings_move, TENANT_REQUIRED, AUTH_STAFF, "bookings", "update",
     0},
    {"POST", "/api/bookings/:id/confirm", bookings_confirm, TENANT_REQUIRED, AUTH_STAFF, "bookings",
     "update", 0},
    {"POST", "/api/bookings/:id/cancel", bookings_cancel, TENANT_REQUIRED, AUTH_STAFF, "bookings",
     "update", 0},
    {"POST", "/api/bookings/:id/convert", bookings_convert, TENANT_REQUIRED, AUTH_STAFF, "sessions",
     "create", 0},
    {"GET", "/api/sessions", sessions_list, TENANT_REQUIRED, AUTH_STAFF, "sessions", "view", 0},
    {"GET", "/api/sessions/:id", sessions_get, TENANT_REQUIRED, AUTH_STAFF, "sessions", "view", 0},
    {"PUT", "/api/sessions/:id", sessions_update, TENANT_REQUIRED, AUTH_STAFF, "sessions", "update",
     0},
    {"POST", "/api/sessions/:id/items", session_items_add, TENANT_REQUIRED, AUTH_STAFF, "sessions",
     "update", 0},
    {"DELETE", "/api/sessions/:id/items/:item_id", session_items_delete, TENANT_REQUIRED,
     AUTH_STAFF, "sessions", "update", 0},
    {"GET", "/api/customers", customers_list, TENANT_REQUIRED, AUTH_STAFF, "customers", "view", 0},
    {"GET", "/api/customers/:id", customers_get, TENANT_REQUIRED, AUTH_STAFF, "customers", "view",
     0},
    {"POST", "/api/calendar-feeds", feeds_create, TENANT_REQUIRED, AUTH_STAFF, "bookings", "export",
     0},
    {"GET", "/api/calendar-feeds", feeds_list, TENANT_REQUIRED, AUTH_STAFF, "bookings", "export",
     0},
    {"DELETE", "/api/calendar-feeds/:id", feeds_delete, TENANT_REQUIRED, AUTH_STAFF, "bookings",
     "export", 0},
    {"GET", "/calendar/:file", calendar_feed, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL,
     ROUTE_SECRET_PATH},
    {0},
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* The :name parameter when it is a uuid; else NULL after replying 404 (no SQL runs). */
static const char *id_param(struct request *req, const char *name)
{
    const char *id = http_param(req, name);
    if (!booking_is_uuid(id)) {
        http_reply_error(req, 404, "not_found", "No such record", NULL);
        return NULL;
    }
    return id;
}

/* The JSON body (owned by the request); an empty body is {} when may_be_empty. NULL after
 * replying 415/400. */
static json_t *body_object(struct request *req, bool may_be_empty)
{
    size_t i = 0;
    while (i < req->body_len && isspace((unsigned char)req->body[i]))
        i++;
    if (may_be_empty && i == req->body_len)
        return http_own_json(req, json_object());
    return http_body_json(req);
}

/* The tenant database once the input is good: NULL after replying 422 naming each bad
 * field of fields, or 503. Steals fields. */
static struct db_conn *valid_tenant_db(struct request *req, json_t *fields)
{
    if (json_object_size(fields)) {
        http_reply_error(req, 422, "invalid_input", "Some fields are not valid", fields);
        return NULL;
    }
    json_decref(fields);
    return request_tenant_db(req);
}

/* A module call's answer: status with out, or the call's error (out released). */
static void reply_call(struct request *req, int rc, int status, json_t *out,
                       struct booking_error *err)
{
    if (rc == BOOKING_OK) {
        http_reply_json(req, status, out);
        return;
    }
    json_decref(out);
    booking_reply_error(req, rc, err);
}

/* The same for a call that says nothing but its status: missing is the error's message. */
static void reply_found(struct request *req, int rc, int status, json_t *out, const char *missing)
{
    struct booking_error err = {0};
    if (rc != BOOKING_OK)
        snprintf(err.message, sizeof(err.message), "%s", missing);
    reply_call(req, rc, status, out, &err);
}

/* A delete's answer: 204, or the error with missing as its message. */
static void reply_deleted(struct request *req, int rc, const char *missing)
{
    if (rc == BOOKING_OK)
        http_reply_bytes(req, 204, "text/plain; charset=utf-8", "", 0);
    else
        reply_found(req, rc, 0, NULL, missing);
}

/* GET of the :id staff.c's get shows; missing is the message of a 404. */
static void get_by_id(struct request *req,
                      int (*get)(const struct tenant *tn, struct db_conn *t, const char *id,
                                 json_t **out),
                      const char *missing)
{
    const char *id = id_param(req, "id");
    struct db_conn *t = id ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL;
    int rc = get(req->tenant, t, id, &out);
    reply_found(req, rc, 200, out, missing);
}

/* A list's answer: 200 with out, or 503 (a list fails only with its database). */
static void reply_list(struct request *req, int rc, json_t *out)
{
    if (rc == BOOKING_OK) {
        http_reply_json(req, 200, out);
        return;
    }
    json_decref(out);
    http_reply_error(req, 503, "database_unavailable",
                     "The studio's database is unavailable; try again shortly", NULL);
}

/* A string member (NULL when absent or null); a wrong type or length is noted in fields. */
static const char *body_str(json_t *body, const char *key, size_t max, json_t *fields)
{
    return member_str(body, key, key, max, fields);
}

/* The same, naming the member `field` in fields ("customer.name"). */
static const char *member_str(json_t *o, const char *key, const char *field, size_t max,
                              json_t *fields)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        http_field_error(fields, field, "Must be a string");
        return NULL;
    }
    const char *s = json_string_value(v);
    if (strlen(s) > max || strlen(s) != json_string_length(v)) {
        http_field_error(fields, field, "Too long, or not text");
        return NULL;
    }
    return s;
}

/* A boolean member (false when absent); another type is noted in fields. */
static bool body_bool(json_t *body, const char *key, json_t *fields)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_boolean(v)) {
        http_field_error(fields, key, "Must be true or false");
        return false;
    }
    return json_is_true(v);
}

/* A uuid or null member; *given says whether the key was there at all. */
static const char *body_uuid(json_t *body, const char *key, json_t *fields, bool *given)
{
    json_t *v = json_object_get(body, key);
    if (given)
        *given = v != NULL;
    if (!v || json_is_null(v))
        return NULL;
    const char *s = json_string_value(v);
    if (!booking_is_uuid(s)) {
        http_field_error(fields, key, "Must be an id");
        return NULL;
    }
    return s;
}

/* An RFC 3339 time or null member; *given as for body_uuid. */
static const char *body_time(json_t *body, const char *key, json_t *fields, bool *given)
{
    json_t *v = json_object_get(body, key);
    *given = v != NULL;
    if (!v || json_is_null(v))
        return NULL;
    const char *s = json_string_value(v);
    if (!s || !valid_rfc3339(s)) {
        http_field_error(fields, key, "An RFC 3339 time such as 2025-06-01T14:00:00+02:00");
        return NULL;
    }
    return s;
}

/* A query parameter; an empty value counts as absent. */
static const char *query(struct request *req, const char *name)
{
    const char *v = http_query(req, name);
    return v && *v ? v : NULL;
}

/* s as a decimal integer in [lo, hi]: digits only, an optional leading '-'. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s || strlen(s) > 12)
        return false;
    for (const char *p = s[0] == '-' ? s + 1 : s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static void query_page(struct request *req, json_t *fields, int *limit, int *offset)
{
    long v;
    const char *l = query(req, "limit"), *o = query(req, "offset");
    *limit = BOOKING_STAFF_LIMIT_DEFAULT;
    *offset = 0;
    if (l && !parse_long(l, 1, BOOKING_STAFF_LIMIT_MAX, &v))
        http_field_error(fields, "limit", "An integer from 1 to 200");
    else if (l)
        *limit = (int)v;
    if (o && !parse_long(o, 0, OFFSET_MAX, &v))
        http_field_error(fields, "offset", "An integer from 0");
    else if (o)
        *offset = (int)v;
}

/* What the booking and session lists are filtered by: status (of allowed), room_id, from and
 * to; a bad one is noted in fields. */
static void query_span(struct request *req, const char *const *allowed, json_t *fields,
                       const char **statuses, const char **room_id, const char **from,
                       const char **to)
{
    *statuses = query_statuses(req, allowed, fields);
    *room_id = query_uuid(req, "room_id", fields);
    *from = query_date(req, "from", fields);
    *to = query_date(req, "to", fields);
}

/* The page (limit, offset) of such a list, and its from..to making sense. */
static void query_page_span(struct request *req, json_t *fields, const char *from, const char *to,
                            int *limit, int *offset)
{
    query_page(req, fields, limit, offset);
    if (from && to && strcmp(from, to) > 0)
        http_field_error(fields, "to", "Must not be before from");
}

static const char *query_date(struct request *req, const char *name, json_t *fields)
{
    const char *s = query(req, name);
    if (s && !valid_date(s)) {
        http_field_error(fields, name, "A date such as 2025-06-01");
        return NULL;
    }
    return s;
}

static const char *query_uuid(struct request *req, const char *name, json_t *fields)
{
    const char *s = query(req, name);
    if (s && !booking_is_uuid(s)) {
        http_field_error(fields, name, "Must be an id");
        return NULL;
    }
    return s;
}

/* "a,b" of allowed words as the PostgreSQL array literal "{a,b}" (the words are checked, so
 * the literal needs no quoting); NULL when absent or after noting a bad word. */
static const char *query_statuses(struct request *req, const char *const *allowed, json_t *fields)
{
    const char *s = query(req, "status");
    if (!s)
        return NULL;
    struct buf b;
    buf_init(&b, req->arena);
    buf_puts(&b, "{");
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, ",");
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strlen(*a) == n && strncmp(*a, p, n) == 0;
        if (!ok) {
            http_field_error(fields, "status", "A comma-separated list of statuses");
            return NULL;
        }
        if (b.len > 1)
            buf_puts(&b, ",");
        buf_append(&b, p, n);
        p += n;
        if (*p == ',')
            p++;
    }
    buf_puts(&b, "}");
    return buf_cstr(&b);
}

/* The q parameter as an ILIKE pattern, or NULL. */
static const char *query_like(struct request *req, json_t *fields)
{
    const char *q = query(req, "q");
    if (!q)
        return NULL;
    if (strlen(q) > Q_MAX) {
        http_field_error(fields, "q", "At most 200 characters");
        return NULL;
    }
    return booking_staff_like_pattern(req->arena, q);
}

/* Characters of UTF-8 text (jansson has checked it is UTF-8): bytes that start one. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* The YYYY-MM-DD at the start of s names a real day (so PostgreSQL never refuses it). */
static bool valid_ymd(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strnlen(s, 10) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

static bool valid_date(const char *s)
{
    return strlen(s) == 10 && valid_ymd(s);
}

/* YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM). */
static bool valid_rfc3339(const char *s)
{
    if (strlen(s) < 20 || !valid_ymd(s) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return false;
    if (atoi(s + 11) > 23 || atoi(s + 14) > 59 || atoi(s + 17) > 59)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        while (isdigit((unsigned char)p[1 + n]))
            n++;
        if (n == 0 || n > 9)
            return false;
        p += 1 + n;
    }
    if (strcmp(p, "Z") == 0)
        return true;
    return (p[0] == '+' || p[0] == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
           p[6] == '\0' && atoi(p + 1) <= 23 && atoi(p + 4) <= 59;
}

/* ---- bookings ----------------------------------------------------------------------------- */

static void bookings_list(struct request *req)
{
    json_t *fields = json_object();
    struct booking_staff_filter f = {.paid = -1};
    query_span(req, booking_statuses, fields, &f.statuses, &f.room_id, &f.from, &f.to);
    f.q_pattern = query_like(req, fields);
    const char *paid = query(req, "paid");
    if (paid && strcmp(paid, "true") == 0)
        f.paid = 1;
    else if (paid && strcmp(paid, "false") == 0)
        f.paid = 0;
    else if (paid)
        http_field_error(fields, "paid", "true or false");
    static const struct {
        const char *name;
        enum booking_staff_sort sort;
    } sorts[] = {
        {"-starts_at", BOOKING_SORT_STARTS_DESC},
        {"starts_at", BOOKING_SORT_STARTS},
        {"created_at", BOOKING_SORT_CREATED},
        {"-created_at", BOOKING_SORT_CREATED_DESC},
        {"price", BOOKING_SORT_PRICE},
        {"-price", BOOKING_SORT_PRICE_DESC},
    };
    const char *sort = query(req, "sort");
    f.sort = BOOKING_SORT_STARTS_DESC;
    if (sort) {
        size_t i = 0, n = sizeof(sorts) / sizeof(sorts[0]);
        while (i < n && strcmp(sorts[i].name, sort) != 0)
            i++;
        if (i == n)
            http_field_error(fields, "sort",
                             "One of starts_at, -starts_at, created_at, -created_at, price, "
                             "-price");
        else
            f.sort = sorts[i].sort;
    }
    query_page_span(req, fields, f.from, f.to, &f.limit, &f.offset);
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = booking_staff_list(req->tenant, t, &f, &out);
    reply_list(req, rc, out);
}

static void bookings_create(struct request *req)
{
    json_t *body = body_object(req, false);
    if (!body)
        return;
    json_t *fields = json_object();
    /* The public body (booking_public_routes.c) plus the two staff flags; lengths and
     * formats are the booking rules' to judge (booking_create names each bad field). */
    json_t *cust = json_object_get(body, "customer");
    if (cust && !json_is_object(cust)) {
        http_field_error(fields, "customer", "An object: name, email, phone");
        cust = NULL;
    }
    struct booking_input in = {
        .room_id = body_str(body, "room_id", TEXT_MAX, fields),
        .starts_at = body_str(body, "starts_at", TEXT_MAX, fields),
        .ends_at = body_str(body, "ends_at", TEXT_MAX, fields),
        .customer_name = member_str(cust, "name", "customer.name", TEXT_MAX, fields),
        .customer_email = member_str(cust, "email", "customer.email", TEXT_MAX, fields),
        .customer_phone = member_str(cust, "phone", "customer.phone", TEXT_MAX, fields),
        .notes = body_str(body, "notes", TEXT_MAX, fields),
        .staff = true,
        .skip_deposit = body_bool(body, "skip_deposit", fields),
        .override_rules = body_bool(body, "override_rules", fields),
        .created_by = req->session->user_id,
    };
    struct db_conn *t = valid_tenant_db(req, fields);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m || !billing_allow_booking(req, t)) /* the plan's monthly bookings */
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_create(req->arena, req->tenant, t, m, req, &in, &out, &err);
    reply_call(req, rc, 201, out, &err);
}

static void bookings_get(struct request *req)
{
    const char *id = id_param(req, "id");
    struct db_conn *t = id ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL;
    int rc = booking_get(req->arena, req->tenant, t, id, &out);
    reply_found(req, rc, 200, out, "No such booking");
}

/* The move's fields; a bad one is noted in fields. */
static void bookings_move_input(json_t *body, json_t *fields, const char **room_id,
                                const char **starts_at, const char **ends_at, bool *keep_price)
{
    *room_id = body_uuid(body, "room_id", fields, NULL);
    *starts_at = body_str(body, "starts_at", 64, fields);
    *ends_at = body_str(body, "ends_at", 64, fields);
    *keep_price = body_bool(body, "keep_price", fields);
    if (json_object_size(fields))
        return;
    if (!*starts_at != !*ends_at)
        http_field_error(fields, *starts_at ? "ends_at" : "starts_at",
                         "Give both starts_at and ends_at");
    else if (!*room_id && !*starts_at)
        http_field_error(fields, "starts_at", "Give new times, a new room_id, or both");
}

static void bookings_move(struct request *req)
{
    const char *id = id_param(req, "id");
    json_t *body = id ? body_object(req, false) : NULL;
    if (!body)
        return;
    json_t *fields = json_object();
    const char *room_id, *starts_at, *ends_at;
    bool keep_price;
    bookings_move_input(body, fields, &room_id, &starts_at, &ends_at, &keep_price);
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_move(req->arena, req->tenant, t, req, id, room_id, starts_at, ends_at,
                          keep_price, &out, &err);
    reply_call(req, rc, 200, out, &err);
}

static void bookings_confirm(struct request *req)
{
    const char *id = id_param(req, "id");
    struct db_conn *t = id ? request_tenant_db(req) : NULL;
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m)
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_confirm(req->arena, req->tenant, t, m, req, id, &out, &err);
    reply_call(req, rc, 200, out, &err);
}

static void bookings_cancel(struct request *req)
{
    const char *id = id_param(req, "id");
    json_t *body = id ? body_object(req, true) : NULL;
    if (!body)
        return;
    json_t *fields = json_object();
    int64_t refund = -1; /* -1: the policy decides */
    json_t *v = json_object_get(body, "refund_amount");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            http_field_error(fields, "refund_amount", "A whole number of minor units, 0 or more");
        else
            refund = json_integer_value(v);
    }
    const char *reason = body_str(body, "reason", TEXT_MAX, fields);
    struct db_conn *t = valid_tenant_db(req, fields);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m)
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc =
        booking_cancel(req->arena, req->tenant, t, m, req, id, true, refund, reason, &out, &err);
    reply_call(req, rc, 200, out, &err);
}

static void bookings_convert(struct request *req)
{
    const char *id = id_param(req, "id");
    json_t *body = id ? body_object(req, true) : NULL;
    if (!body)
        return;
    json_t *fields = json_object();
    const char *engineer = body_uuid(body, "engineer_id", fields, NULL);
    const char *notes = body_str(body, "notes", NOTES_MAX, fields);
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_staff_convert(req->tenant, t, req, id, engineer, notes, &out, &err);
    if (rc == BOOKING_NOT_FOUND)
        snprintf(err.message, sizeof(err.message), "No such booking");
    reply_call(req, rc, 201, out, &err);
}

/* ---- studio sessions ---------------------------------------------------------------------- */

static void sessions_list(struct request *req)
{
    json_t *fields = json_object();
    struct booking_staff_session_filter f = {0};
    query_span(req, session_statuses, fields, &f.statuses, &f.room_id, &f.from, &f.to);
    query_page_span(req, fields, f.from, f.to, &f.limit, &f.offset);
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = booking_staff_sessions_list(req->tenant, t, &f, &out);
    reply_list(req, rc, out);
}

static void sessions_get(struct request *req)
{
    get_by_id(req, booking_staff_session_get, "No such session");
}

static void sessions_update(struct request *req)
{
    const char *id = id_param(req, "id");
    json_t *body = id ? body_object(req, false) : NULL;
    if (!body)
        return;
    json_t *fields = json_object();
    struct booking_staff_session_change ch = {0};
    ch.engineer_id = body_uuid(body, "engineer_id", fields, &ch.set_engineer);
    ch.notes = body_str(body, "notes", NOTES_MAX, fields);
    ch.status = body_str(body, "status", 32, fields);
    if (ch.status) {
        const char *const *s = session_statuses;
        while (*s && strcmp(*s, ch.status) != 0)
            s++;
        if (!*s)
            http_field_error(fields, "status", "One of scheduled, in_progress, done");
    }
    ch.checked_in_at = body_time(body, "checked_in_at", fields, &ch.set_checked_in);
    ch.checked_out_at = body_time(body, "checked_out_at", fields, &ch.set_checked_out);
    ch.check_in = body_bool(body, "check_in", fields);
    ch.check_out = body_bool(body, "check_out", fields);
    if (ch.check_in && ch.set_checked_in)
        http_field_error(fields, "check_in", "Give check_in or checked_in_at, not both");
    if (ch.check_out && ch.set_checked_out)
        http_field_error(fields, "check_out", "Give check_out or checked_out_at, not both");
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_staff_session_update(req->tenant, t, req, id, &ch, &out, &err);
    reply_call(req, rc, 200, out, &err);
}

static void session_items_add(struct request *req)
{
    const char *id = id_param(req, "id");
    json_t *body = id ? body_object(req, false) : NULL;
    if (!body)
        return;
    json_t *fields = json_object();
    const char *description = body_str(body, "description", TEXT_MAX, fields);
    if (!description || !*description || utf8_chars(description) > DESCRIPTION_MAX)
        http_field_error(fields, "description", "1 to 200 characters");
    json_t *q = json_object_get(body, "quantity");
    long long quantity = 1;
    if (q && (!json_is_integer(q) || json_integer_value(q) < 1 ||
              json_integer_value(q) > BOOKING_STAFF_QUANTITY_MAX))
        http_field_error(fields, "quantity", "A whole number from 1 to 10000");
    else if (q)
        quantity = json_integer_value(q);
    json_t *u = json_object_get(body, "unit_amount");
    if (!json_is_integer(u) || json_integer_value(u) < 0 ||
        json_integer_value(u) > BOOKING_STAFF_UNIT_AMOUNT_MAX)
        http_field_error(fields, "unit_amount", "A whole number of minor units, 0 or more");
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_staff_item_add(req->tenant, t, req, id, description, (int)quantity,
                                    json_integer_value(u), &out, &err);
    reply_call(req, rc, 201, out, &err);
}

static void session_items_delete(struct request *req)
{
    const char *id = id_param(req, "id");
    const char *item = id ? id_param(req, "item_id") : NULL;
    struct db_conn *t = item ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    int rc = booking_staff_item_delete(t, req, id, item);
    reply_deleted(req, rc, "No such item");
}

/* ---- customers ---------------------------------------------------------------------------- */

static void customers_list(struct request *req)
{
    json_t *fields = json_object();
    const char *pattern = query_like(req, fields);
    int limit, offset;
    query_page(req, fields, &limit, &offset);
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = booking_staff_customers_list(req->tenant, t, pattern, limit, offset, &out);
    reply_list(req, rc, out);
}

static void customers_get(struct request *req)
{
    get_by_id(req, booking_staff_customer_get, "No such customer");
}

/* ---- calendar feeds ----------------------------------------------------------------------- */

static void feeds_create(struct request *req)
{
    json_t *body = body_object(req, true);
    if (!body)
        return;
    json_t *fields = json_object();
    const char *room_id = body_uuid(body, "room_id", fields, NULL);
    struct db_conn *t = valid_tenant_db(req, fields);
    if (!t)
        return;
    const char *token = crypto_token(req->arena, BOOKING_STAFF_FEED_TOKEN_BYTES);
    const char *hash = crypto_sha256_hex(req->arena, token, strlen(token));
    struct booking_error err = {0};
    json_t *out = NULL;
    int rc = booking_staff_feed_create(req->tenant, t, req, room_id, hash, &out, &err);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    /* The only time the token is shown: only its hash is kept. */
    json_object_set_new(out, "url",
                        json_string(arena_printf(req->arena, "%s/calendar/%s" FEED_SUFFIX,
                                                 http_studio_url(req, req->tenant->slug), token)));
    http_reply_json(req, 201, out);
}

static void feeds_list(struct request *req)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = booking_staff_feeds_list(req->tenant, t, &out);
    reply_list(req, rc, out);
}

static void feeds_delete(struct request *req)
{
    const char *id = id_param(req, "id");
    struct db_conn *t = id ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    int rc = booking_staff_feed_delete(t, req, id);
    reply_deleted(req, rc, "No such calendar feed");
}

/* GET /calendar/<token>.ics: a token that is not one of ours (by shape or by hash) is 404. */
static void calendar_feed(struct request *req)
{
    const char *file = http_param(req, "file");
    size_t n = file ? strlen(file) : 0, sfx = strlen(FEED_SUFFIX);
    size_t tok_len = (BOOKING_STAFF_FEED_TOKEN_BYTES * 4 + 2) / 3; /* base64url, unpadded */
    bool ok = n == tok_len + sfx && strcmp(file + tok_len, FEED_SUFFIX) == 0;
    for (size_t i = 0; ok && i < tok_len; i++)
        ok = isalnum((unsigned char)file[i]) || file[i] == '-' || file[i] == '_';
    if (!ok) {
        http_reply_error(req, 404, "not_found", "No such calendar", NULL);
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    const char *hash = crypto_sha256_hex(req->arena, file, tok_len);
    const char *uid_domain =
        arena_printf(req->arena, "%s.%s", req->tenant->slug, g_config.base_domain);
    const char *ics = NULL;
    size_t len = 0;
    int rc = booking_staff_feed_ics(req->arena, req->tenant, t, hash, uid_domain, &ics, &len);
    if (rc != BOOKING_OK) {
        reply_found(req, rc, 0, NULL, "No such calendar");
        return;
    }
    http_add_header(req, "Cache-Control", "private, max-age=300");
    http_reply_bytes(req, 200, "text/calendar; charset=utf-8", ics, len);
}
