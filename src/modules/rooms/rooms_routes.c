/*
 * rooms_routes.c — HTTP for setting a studio up (staff only, on the
 * studio's host; session, CSRF and permission are checked by the
 * middleware from the table below):
 *   GET    /api/rooms[?include_archived=true]  rooms (not archived ones unless asked)
 *   POST   /api/rooms                          a new room (201)
 *   GET    /api/rooms/:id                      a room
 *   PUT    /api/rooms/:id                      changes the fields sent; {"archived": true}
 *   DELETE /api/rooms/:id                      204 deleted, or 200 {"archived": true} when it
 *                                              has bookings (409 if future ones, unarchived)
 *   GET    /api/rooms/:id/opening-hours        the room's hours, or the studio's it inherits
 *   PUT    /api/rooms/:id/opening-hours        its own hours, or {"inherit": true}
 *   GET    /api/rooms/:id/prices               rate and peak/off-peak rules
 *   PUT    /api/rooms/:id/prices               rate and/or the whole set of rules
 *   GET    /api/settings/booking               the booking policy
 *   PUT    /api/settings/booking               changes the fields sent
 *   GET    /api/opening-hours                  the studio's weekly hours
 *   PUT    /api/opening-hours                  replaces them
 *   GET    /api/closures[?from=&to=]           closed days overlapping [from, to]
 *   POST   /api/closures                       a closure (201)
 *   DELETE /api/closures/:id                   204
 * Every DELETE that removes something answers 204 with no body. Every change
 * is audited by rooms.c in its own transaction; when the entry cannot be
 * written the change is undone and the answer is 503.
 */
#include <string.h>

#include "rooms_internal.h"
#include "studiod/billing.h"

static void rooms_index(struct request *req);
static void room_post(struct request *req);
static void room_get(struct request *req);
static void room_put(struct request *req);
static void room_delete(struct request *req);
static void room_hours_get(struct request *req);
static void room_hours_put(struct request *req);
static void room_prices_get(struct request *req);
static void room_prices_put(struct request *req);
static void settings_get(struct request *req);
static void settings_put(struct request *req);
static void hours_get(struct request *req);
static void hours_put(struct request *req);
static void closures_index(struct request *req);
static void closure_post(struct request *req);
static void closure_delete(struct request *req);
static void reply(struct request *req, int rc, int status, json_t *out, json_t *fields,
                  const char *what);
static int studio_hours_get(struct db_conn *t, json_t **out);
static int studio_hours_put(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                            json_t **fields);

#define STAFF TENANT_REQUIRED, AUTH_STAFF

const struct route rooms_routes[] = {
    {"GET", "/api/rooms", rooms_index, STAFF, "rooms", "view", 0},
    {"POST", "/api/rooms", room_post, STAFF, "rooms", "create", 0},
    {"GET", "/api/rooms/:id", room_get, STAFF, "rooms", "view", 0},
    {"PUT", "/api/rooms/:id", room_put, STAFF, "rooms", "update", 0},
    {"DELETE", "/api/rooms/:id", room_delete, STAFF, "rooms", "delete", 0},
    {"GET", "/api/rooms/:id/opening-hours", room_hours_get, STAFF, "rooms", "view", 0},
    {"PUT", "/api/rooms/:id/opening-hours", room_hours_put, STAFF, "rooms", "update", 0},
    {"GET", "/api/rooms/:id/prices", room_prices_get, STAFF, "rooms", "view", 0},
    {"PUT", "/api/rooms/:id/prices", room_prices_put, STAFF, "rooms", "update", 0},
    {"GET", "/api/settings/booking", settings_get, STAFF, "settings", "view", 0},
    {"PUT", "/api/settings/booking", settings_put, STAFF, "settings", "update", 0},
    {"GET", "/api/opening-hours", hours_get, STAFF, "rooms", "view", 0},
    {"PUT", "/api/opening-hours", hours_put, STAFF, "rooms", "update", 0},
    {"GET", "/api/closures", closures_index, STAFF, "rooms", "view", 0},
    {"POST", "/api/closures", closure_post, STAFF, "rooms", "create", 0},
    {"DELETE", "/api/closures/:id", closure_delete, STAFF, "rooms", "delete", 0},
    {0},
};

/* What each module status answers; any other is the database's. */
static const struct http_error_map rooms_errors[] = {
    {ROOMS_NOT_FOUND, 404, "not_found", "No such %s", false},
    {ROOMS_INVALID, 422, "invalid_input", "Some fields are not valid", true},
    {ROOMS_NAME_TAKEN, 409, "room_name_taken", "Another room already has this name", true},
    {ROOMS_HAS_BOOKINGS, 409, "room_has_bookings",
     "This room has upcoming bookings: archive it first (its bookings are kept), or cancel them",
     false},
    {0, 503, "database_unavailable", "The database is unavailable; try again shortly", false},
};

/* The one mapping from a module status to a reply; out and fields are stolen. what names
 * the thing a 404 is about ("room"). */
static void reply(struct request *req, int rc, int status, json_t *out, json_t *fields,
                  const char *what)
{
    http_reply_result(req, rc, status, out, rooms_errors, fields, what);
}

/* The handlers that only check an id, read the body, call rooms.c and answer. An id that
 * is not a uuid names nothing: 404 before reading the body or the database. */
static const struct http_api rooms_api = {rooms_errors, rooms_id_valid, ROOMS_NOT_FOUND};

/* ---- rooms ----------------------------------------------------------------------------- */

static void rooms_index(struct request *req)
{
    const char *all = http_query(req, "include_archived");
    if (all && strcmp(all, "true") != 0 && strcmp(all, "false") != 0 && strcmp(all, "1") != 0 &&
        strcmp(all, "0") != 0) {
        http_reply_error(req, 422, "invalid_input", "include_archived is true or false",
                         json_pack("{s:s}", "include_archived", "true or false"));
        return;
    }
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    bool include = all && (strcmp(all, "true") == 0 || strcmp(all, "1") == 0);
    int rc = rooms_list(t, include, &out);
    reply(req, rc, 200, out, NULL, "room");
}

static void room_post(struct request *req)
{
    json_t *body = http_body_json(req);
    if (!body)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t || !billing_allow_room(req, t)) /* the plan's room count */
        return;
    json_t *out = NULL, *fields = NULL;
    int rc = rooms_create(t, req, body, &out, &fields);
    if (rc == ROOMS_OK)
        http_add_header(req, "Location",
                        arena_printf(req->arena, "/api/rooms/%s",
                                     json_string_value(json_object_get(out, "id"))));
    reply(req, rc, 201, out, fields, "room");
}

static void room_get(struct request *req)
{
    http_api_read_id(req, &rooms_api, rooms_get, "room");
}

static void room_put(struct request *req)
{
    const char *id = http_api_id(req, &rooms_api, "id", "room");
    if (!id)
        return;
    json_t *body = http_body_json(req);
    if (!body)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t ||
        (json_is_true(json_object_get(body, "active")) && !billing_allow_room_back(req, t, id)))
        return; /* unarchiving counts against the plan's rooms */
    json_t *out = NULL, *fields = NULL;
    int rc = rooms_update(t, req, id, body, &out, &fields);
    reply(req, rc, 200, out, fields, "room");
}

static void room_delete(struct request *req)
{
    const char *id = http_api_id(req, &rooms_api, "id", "room");
    if (!id)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    enum rooms_removal done = ROOMS_REMOVED;
    int rc = rooms_remove(t, req, id, &done);
    if (rc == ROOMS_OK && done == ROOMS_REMOVED)
        http_reply_no_content(req);
    else
        reply(req, rc, 200, rc == ROOMS_OK ? json_pack("{s:b}", "archived", 1) : NULL, NULL,
              "room");
}

static void room_hours_get(struct request *req)
{
    http_api_read_id(req, &rooms_api, rooms_hours_get, "room");
}

static void room_hours_put(struct request *req)
{
    http_api_write_id(req, &rooms_api, rooms_hours_put, "room");
}

static void room_prices_get(struct request *req)
{
    http_api_read_id(req, &rooms_api, rooms_prices_get, "room");
}

static void room_prices_put(struct request *req)
{
    http_api_write_id(req, &rooms_api, rooms_prices_put, "room");
}

/* ---- the studio ------------------------------------------------------------------------ */

static void settings_get(struct request *req)
{
    http_api_read(req, &rooms_api, rooms_settings_get, "settings");
}

static void settings_put(struct request *req)
{
    http_api_write(req, &rooms_api, rooms_settings_update, 200, NULL, "settings");
}

/* The studio's own hours: the room calls without a room. */
static int studio_hours_get(struct db_conn *t, json_t **out)
{
    return rooms_hours_get(t, NULL, out);
}

static int studio_hours_put(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                            json_t **fields)
{
    return rooms_hours_put(t, req, NULL, body, out, fields);
}

static void hours_get(struct request *req)
{
    http_api_read(req, &rooms_api, studio_hours_get, "hours");
}

static void hours_put(struct request *req)
{
    http_api_write(req, &rooms_api, studio_hours_put, 200, NULL, "hours");
}

/* ---- closures -------------------------------------------------------------------------- */

static void closures_index(struct request *req)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL, *fields = NULL;
    int rc = rooms_closures_list(t, http_query(req, "from"), http_query(req, "to"), &out, &fields);
    reply(req, rc, 200, out, fields, "closure");
}

static void closure_post(struct request *req)
{
    http_api_write(req, &rooms_api, rooms_closure_create, 201, "/api/closures", "closure");
}

static void closure_delete(struct request *req)
{
    const char *id = http_api_id(req, &rooms_api, "id", "closure");
    if (!id)
        return;
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    int rc = rooms_closure_delete(t, req, id);
    http_reply_deleted(req, rc, rooms_errors, NULL, "closure");
}
