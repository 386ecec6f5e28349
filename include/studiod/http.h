/*
 * http.h — the request a handler sees, the routes a module declares, and
 * the replies a handler makes. Modules include this and nothing of
 * libmicrohttpd: the server (src/http/server.c) fills struct request and
 * sends what the handler left on it.
 *
 * A handler is thin: parse, call its module, reply. Tenant, session,
 * permission, CSRF and rate limits are checked before it runs, from what the
 * route declares (src/http/middleware.c).
 */
#ifndef STUDIOD_HTTP_H
#define STUDIOD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "studiod/arena.h"

struct tenant;
struct session;
struct request;
struct db_conn;

typedef void (*route_handler)(struct request *req);

/* Which host a route answers on. */
enum route_tenant {
    TENANT_NONE,     /* any host; req->tenant is NULL on the bare domain */
    TENANT_REQUIRED, /* a studio host only; 404 elsewhere */
};

/* Who may call a route. */
enum route_auth {
    AUTH_PUBLIC, /* anyone */
    AUTH_STAFF,  /* a staff session of this studio (401 without) */
    AUTH_ADMIN,  /* a platform admin session */
    AUTH_STRIPE, /* a Stripe-signed webhook, verified by the handler's module */
};

enum route_flags {
    ROUTE_NO_CSRF = 1u << 0,     /* unsafe method that needs no CSRF token (e.g. login) */
    ROUTE_SECRET_PATH = 1u << 1, /* the path carries a credential: log the pattern, not the path */
};

struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/rooms/:id"; a last segment "*name" takes the rest */
    route_handler handler;
    enum route_tenant tenant;
    enum route_auth auth;
    const char *perm_resource; /* RBAC permission for AUTH_STAFF routes, or NULL */
    const char *perm_action;
    unsigned flags;
};

/* A module's exported routes, ending with a {0} entry. */
struct route_table {
    const char *module;
    const struct route *routes;
};

#define HTTP_MAX_PARAMS 8

/* The staff session the middleware loaded from the cookie (src/modules/auth). */
struct session {
    char id[40];
    char user_id[40];
    char user_name[128];
    char user_email[256];
    char csrf_token[64];
    char roles_json[512]; /* JSON array of the user's current role names */
};

/* The platform admin session the middleware loaded from the studiod_admin cookie
 * (src/modules/admin), for AUTH_ADMIN routes. */
struct admin_session {
    char id[40];
    char admin_id[40];
    char name[128];
    char email[256];
    char csrf_token[64];
};

struct request_priv;

struct http_header {
    const char *name, *value;
    struct http_header *next;
};

struct request {
    struct arena *arena;
    void *conn; /* the MHD connection: only server.c looks inside */
    const char *method;
    const char *path;  /* decoded path, without the query */
    const char *host;  /* Host header, lower-cased, without the port */
    const char *ip;    /* peer address */
    char *body;        /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    bool tls;          /* behind TLS (scheme https) */
    char request_id[33];
    const struct route *route;
    int nparams;
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    struct tenant *tenant;   /* resolved from Host, or NULL */
    struct session *session; /* the staff session, or NULL */
    struct admin_session *admin; /* the platform admin session (AUTH_ADMIN routes), or NULL */
    struct db_conn *tenant_db; /* lazily acquired by request_tenant_db() */
    void *perm_cache;          /* RBAC: the session's effective permissions, computed once */
    /* the reply */
    int status;
    const char *content_type;
    const char *resp_body;
    size_t resp_len;
    struct http_header *resp_headers;
    bool replied;
    struct request_priv *priv; /* server internals */
};

/* Hooks main.c installs so the middleware can load sessions without naming a module. */
struct http_hooks {
    /* Loads the staff session named by the request's cookie into *out: 0 found, -1 none,
     * -2 database unavailable. */
    int (*load_session)(struct request *req, struct session *out);
    /* True when the session may do resource/action (RBAC). NULL: every staff user may. */
    bool (*has_permission)(struct request *req, const char *resource, const char *action);
    /* Loads the platform admin session named by the request's cookie into req->admin:
     * 0 found, -1 none, -2 database unavailable. */
    int (*load_admin)(struct request *req);
    /* Called after a matched route's handler (or the middleware) answered, before the
     * reply is queued; req->status is the answer's status. NULL: nothing. */
    void (*after)(struct request *req);
};

/* Lookups: NULL when absent. Header names are case-insensitive. */
const char *http_header(struct request *req, const char *name);
const char *http_query(struct request *req, const char *name);
const char *http_param(struct request *req, const char *name);
const char *http_cookie(struct request *req, const char *name);

/* The body as JSON. On failure replies 415 (not JSON) or 400 (malformed) and returns NULL.
 * The returned value is owned by the request (released when it ends). */
json_t *http_body_json(struct request *req);
/* True when the body is application/x-www-form-urlencoded. */
bool http_body_is_form(struct request *req);
/* The body as JSON or as a form (turned into a JSON object of strings); NULL after
 * replying 415/400. Owned by the request. */
json_t *http_body_object(struct request *req);
/* A value of a form body (x-www-form-urlencoded), or NULL. */
const char *http_form(struct request *req, const char *name);
/* True when the client prefers HTML (a browser form post / page view). */
bool http_wants_html(struct request *req);
/* True when the client's Accept names text/html (a browser navigating). */
bool http_accepts_html(struct request *req);
/* Keeps j alive until the request ends, then decrefs it; returns j. */
json_t *http_own_json(struct request *req, json_t *j);
/* Notes in fields (a JSON object of field errors) why key is bad; the first reason noted
 * for a key stays. At most 255 bytes of the formatted reason are kept. */
void http_field_error(json_t *fields, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* fields when it names a field, else NULL (fields released). */
json_t *http_fields_or_null(json_t *fields);
/* True for a canonical uuid (8-4-4-4-12 hex digits): the shape of every id a route takes. */
bool http_uuid_valid(const char *s);
/* A JSON string of min..max characters once trimmed, without control characters (newlines
 * and tabs allowed when multiline): a new reference to the trimmed copy, or NULL. */
json_t *http_clean_text(json_t *v, size_t min_chars, size_t max_chars, bool multiline);

/* Replies. The last one made wins; body memory comes from the request arena. */
void http_reply_json(struct request *req, int status, json_t *body); /* steals body */
void http_reply_error(struct request *req, int status, const char *code, const char *message,
                      json_t *fields); /* steals fields (may be NULL) */
void http_reply_bytes(struct request *req, int status, const char *content_type,
                      const char *data, size_t len); /* copies data */
void http_reply_text(struct request *req, int status, const char *content_type,
                     const char *text);
void http_reply_redirect(struct request *req, int status, const char *location);
/* A streamed reply (body of unknown length, chunked): fn fills buf with up to max bytes
 * and returns how many it wrote, 0 at the end, -1 to abort (the connection is closed).
 * fn is called from the server's thread after the handler returned; it never sees a
 * request the client left. done (may be NULL) is called exactly once when the request
 * ends (after the last fn call, whether the stream finished, failed, was cut short by
 * the client or never started, e.g. HEAD), before req->tenant_db is released and the
 * arena freed: it releases what ctx holds outside the arena. ctx should live in the
 * request arena. */
typedef ssize_t (*http_stream_fn)(void *ctx, char *buf, size_t max);
void http_reply_stream(struct request *req, int status, const char *content_type,
                       http_stream_fn fn, void (*done)(void *ctx), void *ctx);
/* Renders templates/<name>.html inside templates/layout.html with ctx; steals ctx. */
void http_reply_page(struct request *req, int status, const char *name, json_t *ctx);
void http_add_header(struct request *req, const char *name, const char *value);
/* Set-Cookie with HttpOnly, SameSite=Lax, Path=/, Secure behind TLS; max_age < 0: session cookie;
 * max_age == 0 deletes the cookie. */
void http_set_cookie(struct request *req, const char *name, const char *value, int max_age);

/* One module status and the error reply it makes. A module declares its statuses as a
 * static const table ending with an entry of rc 0, which answers every status the table
 * does not list ({0} alone: 500 internal_error). */
struct http_error_map {
    int rc;              /* the module's status (never 0 but in the last entry) */
    int status;          /* the HTTP status */
    const char *code;    /* the error's code */
    const char *message; /* may hold one "%s": the what of the call */
    bool fields;         /* the reply carries the call's fields; false: they are dropped */
};
/* Replies the error map gives rc, with fields (stolen) and what (may be NULL). */
void http_reply_mapped(struct request *req, int rc, const struct http_error_map *map,
                       json_t *fields, const char *what);
/* A module call's reply: rc 0 (every module's OK) answers status with out, any other rc
 * what http_reply_mapped gives it. out and fields are stolen either way. */
void http_reply_result(struct request *req, int rc, int status, json_t *out,
                       const struct http_error_map *map, json_t *fields, const char *what);
/* 204 No Content: no body, so no Content-Type. */
void http_reply_no_content(struct request *req);
/* A module's delete: rc 0 answers 204 No Content, any other what http_reply_mapped gives
 * it. fields are stolen either way. */
void http_reply_deleted(struct request *req, int rc, const struct http_error_map *map,
                        json_t *fields, const char *what);
/* The entry of map listing rc, or NULL (the last entry is never returned). */
const struct http_error_map *http_error_find(const struct http_error_map *map, int rc);

/* A module's staff API on the tenant database, for the handlers that only check an id,
 * read the body, call the module and answer: its status table, how its ids look and the
 * status that says an id names nothing (looked up in errors, with the call's what). */
struct http_api {
    const struct http_error_map *errors;
    bool (*id_valid)(const char *id);
    int not_found;
};
/* Module calls by what they take; each returns 0 or a module status, and leaves out
 * (and fields) to the caller either way. */
typedef int (*http_read_fn)(struct db_conn *t, json_t **out);
typedef int (*http_read_id_fn)(struct db_conn *t, const char *id, json_t **out);
typedef int (*http_write_fn)(struct db_conn *t, struct request *req, json_t *body, json_t **out,
                             json_t **fields);
typedef int (*http_write_id_fn)(struct db_conn *t, struct request *req, const char *id,
                                json_t *body, json_t **out, json_t **fields);
/* The path parameter name when api->id_valid accepts it; else NULL after replying the
 * not-found status about what (before any body or database is read). */
const char *http_api_id(struct request *req, const struct http_api *api, const char *name,
                        const char *what);
/* GET without an id: fn(t, &out) answers 200 out, or the module's error about what. */
void http_api_read(struct request *req, const struct http_api *api, http_read_fn fn,
                   const char *what);
/* GET of :id: the id checked, then fn(t, id, &out) answers 200 out. */
void http_api_read_id(struct request *req, const struct http_api *api, http_read_id_fn fn,
                      const char *what);
/* A JSON body without an id: fn(t, req, body, &out, &fields) answers status out; with a
 * location ("/api/rooms"), a success also sends Location: <location>/<out's "id">. */
void http_api_write(struct request *req, const struct http_api *api, http_write_fn fn,
                    int status, const char *location, const char *what);
/* :id and a JSON body (in that order: a bad id is 404 whatever the body): fn(t, req, id,
 * body, &out, &fields) answers 200 out. */
void http_api_write_id(struct request *req, const struct http_api *api, http_write_id_fn fn,
                       const char *what);

/* The public URL of a studio (scheme, slug.base_domain, port when not default). */
char *http_studio_url(struct request *req, const char *slug);
/* The URL of the bare domain (signup site). */
char *http_site_url(struct request *req);

/* The tenant database connection for this request (acquired once, released at the end).
 * NULL after replying 503 database_unavailable. */
struct db_conn *request_tenant_db(struct request *req);
/* The master database connection for this request; NULL after replying 503. */
struct db_conn *request_master_db(struct request *req);

#endif
