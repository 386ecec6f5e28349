/*
 * booking_public_routes.c — HTTP for customers booking online, on a
 * studio's host, without an account:
 *   GET  /api/public/studio                    name, zone, currency, policy summary
 *   GET  /api/public/rooms                     the bookable rooms
 *   GET  /api/public/availability?room_id=&from=&to=
 *                                              free slots (from/to: dates or RFC 3339)
 *   POST /api/public/booking                   make a booking (201)
 *   GET  /api/public/booking/:ref              status, room, times; everything with
 *                                              the manage token
 *   POST /api/public/booking/:ref/cancel       cancel with the manage token
 *   GET  /api/public/bookings/search?email=    mail manage links (202, never a list)
 *
 * The manage token comes in X-Manage-Token or ?token=. An unknown ref is 404
 * and a wrong token 403 invalid_token; a ref from another studio is unknown
 * here by construction (each studio has its own database). Booking and
 * cancelling are audited by booking.c with the actor "customer" (no session).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "booking_internal.h"
#include "studiod/billing.h"
#include "studiod/db.h"
#include "studiod/ratelimit.h"
#include "studiod/tenant.h"

#define SEARCH_WINDOW_SECONDS 3600
#define SEARCH_PER_EMAIL 5
#define SEARCH_PER_IP 20
#define SEARCH_KEY_PREFIX "booking-search:"

static void studio_get(struct request *req);
static void rooms_get(struct request *req);
static void availability_get(struct request *req);
static void booking_post(struct request *req);
static void booking_show(struct request *req);
static void booking_cancel_post(struct request *req);
static void bookings_search(struct request *req);
static const char *ref_param(struct request *req);
static const char *manage_token(struct request *req);
static const char *str_field(json_t *o, const char *key, const char *name, json_t *fields);
static bool search_limited(struct request *req, struct db_conn *m, const char *key, int limit);

const struct route booking_public_routes[] = {
    {"GET", "/api/public/studio", studio_get, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/api/public/rooms", rooms_get, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/api/public/availability", availability_get, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL,
     0},
    {"POST", "/api/public/booking", booking_post, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, 0},
    {"GET", "/api/public/booking/:ref", booking_show, TENANT_REQUIRED, AUTH_PUBLIC, NULL, NULL, 0},
    {"POST", "/api/public/booking/:ref/cancel", booking_cancel_post, TENANT_REQUIRED, AUTH_PUBLIC,
     NULL, NULL, 0},
    {"GET", "/api/public/bookings/search", bookings_search, TENANT_REQUIRED, AUTH_PUBLIC, NULL,
     NULL, 0},
    {0},
};

/* The :ref parameter upper-cased (refs are read aloud and typed back), or NULL when it
 * cannot be a ref of ours. */
static const char *ref_param(struct request *req)
{
    const char *raw = http_param(req, "ref");
    if (!raw || !*raw || strlen(raw) > BOOKING_REF_MAX)
        return NULL;
    char *ref = arena_strdup(req->arena, raw);
    for (char *p = ref; *p; p++) {
        if (!isalnum((unsigned char)*p))
            return NULL;
        *p = (char)toupper((unsigned char)*p);
    }
    return ref;
}

static const char *manage_token(struct request *req)
{
    const char *tok = http_header(req, "X-Manage-Token");
    if (!tok || !*tok)
        tok = http_query(req, "token");
    return tok && *tok ? tok : NULL;
}

/* A string member; a present member of another type is a field error. */
static const char *str_field(json_t *o, const char *key, const char *name, json_t *fields)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        json_object_set_new(fields, name, json_string("Must be a string"));
        return NULL;
    }
    return json_string_value(v);
}

static void studio_get(struct request *req)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    struct booking_error err;
    memset(&err, 0, sizeof(err));
    int rc = booking_public_studio(req->tenant, t, &out);
    if (rc != BOOKING_OK || !out) {
        booking_reply_error(req, rc ? rc : BOOKING_DB, &err);
        return;
    }
    http_reply_json(req, 200, out);
}

static void rooms_get(struct request *req)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    struct booking_error err;
    memset(&err, 0, sizeof(err));
    int rc = booking_public_rooms(req->tenant, t, &out);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    http_reply_json(req, 200, out);
}

/* Answers from this process's availability cache when it can (availability_cache.c):
 * no database connection is taken for a hit. */
static void availability_get(struct request *req)
{
    const char *room = http_query(req, "room_id"), *from = http_query(req, "from"),
               *to = http_query(req, "to");
    char key[AVAILABILITY_KEY_MAX];
    bool cacheable = availability_cache_key(key, room, from, to);
    size_t len = 0;
    const char *hit =
        cacheable ? availability_cache_get(req->arena, req->tenant->id, key, &len) : NULL;
    if (hit) {
        http_reply_bytes(req, 200, "application/json", hit, len);
        return;
    }
    uint64_t epoch = availability_cache_epoch();
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    struct booking_error err;
    int rc = booking_availability(req->arena, req->tenant, t, room, from, to, &out, &err);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    char *body = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(out);
    if (!body) {
        http_reply_error(req, 500, "internal_error", "The answer could not be encoded", NULL);
        return;
    }
    size_t n = strlen(body);
    if (cacheable)
        availability_cache_put(req->tenant->id, key, body, n, epoch);
    http_reply_bytes(req, 200, "application/json", body, n);
    free(body);
}

static void booking_post(struct request *req)
{
    json_t *body = http_body_json(req);
    if (!body)
        return;
    if (!json_is_object(body)) {
        http_reply_error(req, 400, "malformed", "Send a JSON object", NULL);
        return;
    }
    json_t *fields = json_object();
    json_t *customer = json_object_get(body, "customer");
    if (customer && !json_is_object(customer)) {
        json_object_set_new(fields, "customer", json_string("An object: name, email, phone"));
        customer = NULL;
    }
    /* Only what the customer chooses is read: a price or status in the body is ignored. */
    struct booking_input in = {
        .room_id = str_field(body, "room_id", "room_id", fields),
        .starts_at = str_field(body, "starts_at", "starts_at", fields),
        .ends_at = str_field(body, "ends_at", "ends_at", fields),
        .customer_name = str_field(customer, "name", "customer.name", fields),
        .customer_email = str_field(customer, "email", "customer.email", fields),
        .customer_phone = str_field(customer, "phone", "customer.phone", fields),
        .notes = str_field(body, "notes", "notes", fields),
    };
    if (json_object_size(fields)) {
        http_reply_error(req, 422, "invalid_input", "Some fields are not valid", fields);
        return;
    }
    json_decref(fields);
    struct db_conn *t = request_tenant_db(req);
    struct db_conn *m = t ? request_master_db(req) : NULL;
    if (!m || !billing_allow_booking(req, t)) /* paused when read-only; the plan's limit */
        return;
    json_t *out = NULL;
    struct booking_error err;
    int rc = booking_create_at(req->arena, req->tenant, t, m, req, &in,
                               http_studio_url(req, req->tenant->slug), &out, &err);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    json_object_del(out, "id"); /* the public speaks refs */
    http_add_header(req, "Location",
                    arena_printf(req->arena, "/api/public/booking/%s",
                                 json_string_value(json_object_get(out, "ref"))));
    http_reply_json(req, 201, out);
}

static void booking_show(struct request *req)
{
    const char *ref = ref_param(req);
    if (!ref) {
        http_reply_error(req, 404, "not_found", "No such booking", NULL);
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    const char *token = manage_token(req);
    bool full = token && booking_token_ok(t, ref, token);
    json_t *out = NULL;
    struct booking_error err;
    memset(&err, 0, sizeof(err));
    int rc = booking_get_by_ref(req->arena, req->tenant, t, ref, full, &out);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    if (token && !full) {
        json_decref(out);
        http_reply_error(req, 403, "invalid_token",
                         "This link is not valid (any more); ask for a new one by e-mail", NULL);
        return;
    }
    http_reply_json(req, 200, out);
}

static void booking_cancel_post(struct request *req)
{
    const char *ref = ref_param(req);
    if (!ref) {
        http_reply_error(req, 404, "not_found", "No such booking", NULL);
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    struct booking_error err;
    memset(&err, 0, sizeof(err));
    int rc = booking_get_by_ref(req->arena, req->tenant, t, ref, false, &out);
    json_decref(out);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    const char *token = manage_token(req);
    if (!token || !booking_token_ok(t, ref, token)) {
        http_reply_error(req, 403, "invalid_token",
                         token ? "This link is not valid (any more); ask for a new one by e-mail"
                               : "The manage token is required (X-Manage-Token)",
                         NULL);
        return;
    }
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    rc = booking_cancel(req->arena, req->tenant, t, m, req, ref, false, -1, NULL, &out, &err);
    if (rc != BOOKING_OK) {
        booking_reply_error(req, rc, &err);
        return;
    }
    json_object_del(out, "id");
    http_reply_json(req, 200, out);
}

/* True after replying 429 (or 503) when key is over its limit. */
static bool search_limited(struct request *req, struct db_conn *m, const char *key, int limit)
{
    int retry_after = 0;
    int hit = ratelimit_hit(m, key, limit, SEARCH_WINDOW_SECONDS, &retry_after);
    if (hit < 0) {
        http_reply_error(req, 503, "database_unavailable",
                         "The database is unavailable; try again shortly", NULL);
        return true;
    }
    if (hit == 0)
        return false;
    http_add_header(req, "Retry-After", arena_printf(req->arena, "%d", retry_after));
    http_reply_error(req, 429, "too_many_requests", "Too many searches; try again later", NULL);
    return true;
}

static void bookings_search(struct request *req)
{
    const char *email = http_query(req, "email");
    if (!email || !booking_email_ok(email)) {
        http_reply_error(req, 422, "invalid_input", "A valid e-mail address is required",
                         json_pack("{s:s}", "email", "A valid e-mail address"));
        return;
    }
    char *lower = arena_strdup(req->arena, email);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    struct db_conn *m = request_master_db(req);
    if (!m)
        return;
    if (search_limited(req, m, arena_printf(req->arena, SEARCH_KEY_PREFIX "ip:%s", req->ip),
                       SEARCH_PER_IP) ||
        search_limited(req, m, arena_printf(req->arena, SEARCH_KEY_PREFIX "email:%s", lower),
                       SEARCH_PER_EMAIL))
        return;
    /* The work (and any mail) happens in a job: the answer is the same, in content and in
     * timing, whether or not the address has bookings here. */
    if (booking_search_request(m, req->tenant, email, http_studio_url(req, req->tenant->slug)) !=
        0) {
        http_reply_error(req, 503, "database_unavailable",
                         "The database is unavailable; try again shortly", NULL);
        return;
    }
    http_reply_json(req, 202,
                    json_pack("{s:s, s:s}", "status", "accepted", "message",
                              "If bookings exist for this address, we e-mailed links to manage "
                              "them."));
}
