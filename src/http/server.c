/*
 * server.c — libmicrohttpd glue and the life of a request.
 *
 * MHD runs an internal polling thread per pool worker (epoll), with
 * STUDIOD_THREADS workers. A request's life:
 *   1. first callback: make struct request with its own arena; refuse a
 *      Content-Length over the body limit with 413 before reading it;
 *   2. body callbacks: append up to the limit (a chunked body that passes
 *      it is answered 413 too);
 *   3. last callback: route, run the middleware (middleware.c) and the
 *      handler, queue the reply;
 *   4. completion callback: release database connections, log one JSON
 *      line, count metrics, free the arena.
 * Response bodies live in the arena (MHD_RESPMEM_PERSISTENT) until step 4; a
 * streamed reply (http_reply_stream) is read through a callback, its done hook
 * runs in step 4 before the tenant connection is released.
 *
 * Drain: server_stop() quiesces the listening socket (MHD_quiesce_daemon,
 * which needs MHD_USE_ITC), waits until the in-flight counter is zero,
 * then stops the daemon.
 */
#include "studiod/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "studiod/config.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/metrics.h"
#include "studiod/parse.h"
#include "studiod/tenant.h"
#include "http_internal.h"

struct request_priv {
    struct timespec started;
    bool too_large;
    struct kv *cookies;
    bool cookies_parsed;
    struct kv *form;
    bool form_parsed;
    json_t *owned[8];
    int nowned;
    struct db_conn *master_db;
    int route_index;
    http_stream_fn stream_fn; /* http_reply_stream: the body comes from stream_fn */
    void (*stream_done)(void *ctx);
    void *stream_ctx;
};

static struct {
    struct MHD_Daemon *daemon;
    struct router *router;
    struct http_hooks hooks;
    atomic_int inflight;
    pthread_mutex_t lock;
    pthread_cond_t idle;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
static struct request *request_new(struct MHD_Connection *conn, const char *url,
                                   const char *method);
static enum MHD_Result queue_reply(struct request *req);
static void log_request(struct request *req, double seconds);
static double elapsed_since(const struct timespec *t0);
static void new_request_id(char *out, size_t n);
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn);

/* Marks a connection whose raw URI held an encoded NUL (see on_uri). */
static char bad_uri_marker;

static double elapsed_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Request ids need to be unique, not secret: a random per-thread prefix and a
 * counter, so no request pays a getrandom() system call for one. */
static void new_request_id(char *out, size_t n)
{
    static _Thread_local char prefix[17];
    static _Thread_local unsigned long long counter;
    if (!prefix[0]) {
        struct arena *a = arena_new(64);
        snprintf(prefix, sizeof(prefix), "%s", crypto_token(a, 12));
        arena_free(a);
    }
    snprintf(out, n, "%s%06llx", prefix, ++counter & 0xffffffull);
}

static struct request *request_new(struct MHD_Connection *conn, const char *url,
                                   const char *method)
{
    struct arena *a = arena_new(8192);
    struct request *req = arena_alloc(a, sizeof(*req));
    req->arena = a;
    req->priv = arena_alloc(a, sizeof(*req->priv));
    clock_gettime(CLOCK_MONOTONIC, &req->priv->started);
    req->priv->route_index = -1;
    req->conn = conn;
    req->method = arena_strdup(a, method);
    req->path = arena_strdup(a, url); /* MHD has percent-decoded the path already */
    req->tls = strcmp(g_config.public_scheme, "https") == 0;
    req->status = 200;

    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (host) {
        size_t n = strlen(host);
        const char *colon = host[0] == '[' ? strchr(host, ']') : strrchr(host, ':');
        if (colon && host[0] != '[')
            n = (size_t)(colon - host);
        else if (colon)
            n = (size_t)(colon - host) + 1;
        char *h = arena_strndup(a, host, n);
        for (char *p = h; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        if (n && h[n - 1] == '.')
            h[n - 1] = '\0'; /* "demo.localhost." is "demo.localhost" */
        req->host = h;
    } else {
        req->host = "";
    }

    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "";
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip,
                      sizeof(ip));
        else if (ci->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, ip,
                      sizeof(ip));
    }
    req->ip = arena_strdup(a, ip);

    /* A sane incoming X-Request-Id (from a proxy) is kept; otherwise a new one. */
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    bool ok = rid && strlen(rid) >= 8 && strlen(rid) < sizeof(req->request_id);
    for (const char *p = rid; ok && *p; p++)
        ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
             *p == '-' || *p == '_';
    if (ok)
        snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else
        new_request_id(req->request_id, sizeof(req->request_id));
    return req;
}

/* Sees the URI before libmicrohttpd decodes it: an encoded NUL ("%00") would
 * silently cut the decoded path short, so such a request is refused whole. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    const char *q = strchr(uri, '?');
    size_t n = q ? (size_t)(q - uri) : strlen(uri);
    for (size_t i = 0; i + 2 < n; i++)
        if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
            return &bad_uri_marker;
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct request *req = *con_cls;
    if (!req || *con_cls == &bad_uri_marker) {
        bool bad_uri = req != NULL;
        atomic_fetch_add(&S.inflight, 1);
        req = request_new(conn, url, method);
        *con_cls = req;
        if (bad_uri) {
            http_reply_error(req, 400, "bad_request", "The URL holds an encoded NUL", NULL);
            return queue_reply(req);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > g_config.body_limit) {
            req->priv->too_large = true;
            http_reply_error(req, 413, "payload_too_large",
                             "The request body is larger than the server accepts", NULL);
            return queue_reply(req);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!req->priv->too_large) {
            if (req->body_len + *upload_size > g_config.body_limit) {
                req->priv->too_large = true;
            } else {
                struct buf b = {.arena = req->arena, .data = req->body, .len = req->body_len,
                                .cap = req->body_len ? req->body_len + 1 : 0};
                buf_append(&b, upload_data, *upload_size);
                req->body = b.data;
                req->body_len = b.len;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->replied)
        return MHD_YES; /* 413 already queued */
    if (!req->body)
        req->body = arena_strdup(req->arena, "");
    if (req->priv->too_large) {
        http_reply_error(req, 413, "payload_too_large",
                         "The request body is larger than the server accepts", NULL);
    } else {
        struct route_match m;
        if (router_match(S.router, req->arena, req->method, req->path, &m) != 0) {
            if (m.method_mismatch) {
                http_add_header(req, "Allow", arena_strdup(req->arena, m.allow));
                http_reply_error(req, 405, "method_not_allowed",
                                 arena_printf(req->arena, "Use %s for this URL", m.allow), NULL);
            } else {
                http_reply_error(req, 404, "not_found", "No such page", NULL);
            }
        } else {
            req->route = m.route;
            req->priv->route_index = m.route_index;
            req->nparams = m.nparams;
            memcpy(req->param_names, m.param_names, sizeof(m.param_names));
            memcpy(req->param_values, m.param_values, sizeof(m.param_values));
            if (middleware_run(req, &S.hooks) == 0)
                req->route->handler(req);
            if (!req->replied)
                http_reply_error(req, 500, "internal_error", "The server could not answer",
                                 NULL);
            if (S.hooks.after)
                S.hooks.after(req);
        }
    }
    return queue_reply(req);
}

#define STREAM_BLOCK (32 * 1024)

/* MHD's reader for a streamed reply: the handler's fn, with MHD's end markers (fn
 * never returns 0 but at the end, so MHD's "nothing yet" is never answered). */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct request *req = cls;
    ssize_t n = req->priv->stream_fn(req->priv->stream_ctx, buf, max);
    if (n > 0)
        return n;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

void http_reply_stream(struct request *req, int status, const char *content_type,
                       http_stream_fn fn, void (*done)(void *ctx), void *ctx)
{
    if (req->priv->stream_done) /* a stream replaced by another: release the first now */
        req->priv->stream_done(req->priv->stream_ctx);
    req->status = status;
    req->content_type = arena_strdup(req->arena, content_type);
    req->resp_body = NULL;
    req->resp_len = 0;
    req->priv->stream_fn = fn;
    req->priv->stream_done = done;
    req->priv->stream_ctx = ctx;
    req->replied = true;
}

void http_reply_unstream(struct request *req)
{
    if (req->priv)
        req->priv->stream_fn = NULL; /* stream_done still runs at completion */
}

static enum MHD_Result queue_reply(struct request *req)
{
    struct MHD_Connection *conn = req->conn;
    bool head = strcmp(req->method, "HEAD") == 0;
    struct MHD_Response *resp =
        req->priv->stream_fn && !head
            ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader,
                                                req, NULL)
            : MHD_create_response_from_buffer(head ? 0 : req->resp_len,
                                              (void *)(req->resp_body ? req->resp_body : ""),
                                              MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (req->content_type)
        MHD_add_response_header(resp, "Content-Type", req->content_type);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "strict-origin-when-cross-origin");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                            "script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                            "base-uri 'self'; form-action 'self'");
    if (req->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security",
                                "max-age=31536000; includeSubDomains");
    bool has_cache_control = false;
    for (struct http_header *h = req->resp_headers; h; h = h->next) {
        MHD_add_response_header(resp, h->name, h->value);
        if (strcasecmp(h->name, "Cache-Control") == 0)
            has_cache_control = true;
    }
    if (!has_cache_control)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void log_request(struct request *req, double seconds)
{
    enum log_level lvl = req->status >= 500 ? LOG_WARN : LOG_INFO;
    if (!log_enabled(lvl))
        return;
    bool secret = req->route && (req->route->flags & ROUTE_SECRET_PATH);
    const struct log_field f[] = {
        LOG_STR("msg", "request"),
        LOG_STR("request_id", req->request_id),
        LOG_STR("method", req->method),
        LOG_STR("route", req->route ? req->route->pattern : "(none)"),
        LOG_STR("path", secret ? req->route->pattern : req->path),
        LOG_INT("status", req->status),
        LOG_REAL("duration_ms", seconds * 1000.0),
        LOG_STR("tenant", req->tenant ? req->tenant->slug : NULL),
        LOG_STR("ip", req->ip),
    };
    log_fields(lvl, f, sizeof(f) / sizeof(f[0]));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *req = *con_cls;
    *con_cls = NULL;
    if (!req || (void *)req == (void *)&bad_uri_marker)
        return;
    double seconds = elapsed_since(&req->priv->started);
    if (req->priv->stream_done)
        req->priv->stream_done(req->priv->stream_ctx);
    db_release(req->tenant_db);
    db_release(req->priv->master_db);
    for (int i = 0; i < req->priv->nowned; i++)
        json_decref(req->priv->owned[i]);
    metrics_observe(req->priv->route_index, req->status, seconds);
    log_request(req, seconds);
    arena_free(req->arena);
    if (atomic_fetch_sub(&S.inflight, 1) == 1) {
        pthread_mutex_lock(&S.lock);
        pthread_cond_broadcast(&S.idle);
        pthread_mutex_unlock(&S.lock);
    }
}

int server_start(const struct route_table *tables, const struct http_hooks *hooks)
{
    S.router = router_new(tables);
    if (!S.router) {
        log_msg(LOG_ERROR, "invalid route table");
        return -1;
    }
    if (hooks)
        S.hooks = *hooks;
    metrics_init(S.router);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_config.port)};
    if (inet_pton(AF_INET, g_config.bind_address, &addr.sin_addr) != 1) {
        log_msg(LOG_ERROR, "STUDIOD_BIND=%s is not an IPv4 address", g_config.bind_address);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    S.daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, &on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)g_config.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)g_config.conn_timeout, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, &on_completed, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, &on_uri, NULL, MHD_OPTION_END);
    if (!S.daemon) {
        log_msg(LOG_ERROR, "cannot listen on %s:%d", g_config.bind_address, g_config.port);
        return -1;
    }
    log_msg(LOG_INFO, "listening on http://%s:%d (%d threads)", g_config.bind_address,
            g_config.port, g_config.threads);
    return 0;
}

void server_stop(int drain_seconds)
{
    if (!S.daemon)
        return;
    MHD_socket fd = MHD_quiesce_daemon(S.daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += drain_seconds;
    pthread_mutex_lock(&S.lock);
    while (atomic_load(&S.inflight) > 0)
        if (pthread_cond_timedwait(&S.idle, &S.lock, &deadline) != 0)
            break;
    pthread_mutex_unlock(&S.lock);
    MHD_stop_daemon(S.daemon);
    S.daemon = NULL;
    metrics_free();
    router_free(S.router);
    S.router = NULL;
}

const struct router *server_router(void)
{
    return S.router;
}

/* ---- request accessors (http.h) ---- */

const char *http_header(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_cookie(struct request *req, const char *name)
{
    if (!req->priv->cookies_parsed) {
        req->priv->cookies = parse_cookies(req->arena, http_header(req, "Cookie"));
        req->priv->cookies_parsed = true;
    }
    return kv_get(req->priv->cookies, name);
}

const char *http_form(struct request *req, const char *name)
{
    if (!req->priv->form_parsed) {
        if (http_body_is_form(req))
            req->priv->form = parse_form(req->arena, req->body, req->body_len);
        req->priv->form_parsed = true;
    }
    return kv_get(req->priv->form, name);
}

json_t *http_own_json(struct request *req, json_t *j)
{
    if (!j)
        return NULL;
    if (req->priv->nowned == (int)(sizeof(req->priv->owned) / sizeof(req->priv->owned[0]))) {
        json_decref(req->priv->owned[0]); /* should not happen: handlers own few values */
        memmove(req->priv->owned, req->priv->owned + 1,
                sizeof(req->priv->owned) - sizeof(req->priv->owned[0]));
        req->priv->nowned--;
    }
    req->priv->owned[req->priv->nowned++] = j;
    return j;
}

struct db_conn *request_master_db(struct request *req)
{
    if (!req->priv->master_db) {
        req->priv->master_db = db_acquire_master();
        if (!req->priv->master_db)
            http_reply_error(req, 503, "database_unavailable",
                             "The database is unavailable; try again shortly", NULL);
    }
    return req->priv->master_db;
}

struct db_conn *request_tenant_db(struct request *req)
{
    if (!req->tenant_db && req->tenant) {
        req->tenant_db = db_acquire(req->tenant->db_server, req->tenant->db_name);
        if (!req->tenant_db)
            http_reply_error(req, 503, "database_unavailable",
                             "The studio's database is unavailable; try again shortly", NULL);
    }
    return req->tenant_db;
}
