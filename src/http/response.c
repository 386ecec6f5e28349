/*
 * response.c — the replies a handler makes, the request body as JSON or
 * form, and studio URLs. Every error leaves in one shape:
 *   {"error": {"code": "...", "message": "...", "fields": {...}}}
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "studiod/config.h"
#include "studiod/log.h"
#include "studiod/parse.h"
#include "studiod/template.h"
#include "studiod/tenant.h"
#include "http_internal.h"

static const char *media_type(struct request *req, size_t *len);
static const char *with_what(struct request *req, const char *message, const char *what);

void http_reply_bytes(struct request *req, int status, const char *content_type,
                      const char *data, size_t len)
{
    char *copy = arena_alloc(req->arena, len + 1);
    if (len)
        memcpy(copy, data, len);
    req->status = status;
    req->content_type = arena_strdup(req->arena, content_type);
    req->resp_body = copy;
    req->resp_len = len;
    req->replied = true;
    http_reply_unstream(req);
}

void http_reply_text(struct request *req, int status, const char *content_type, const char *text)
{
    http_reply_bytes(req, status, content_type, text, strlen(text));
}

void http_reply_json(struct request *req, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (!s) {
        http_reply_text(req, 500, "application/json",
                        "{\"error\":{\"code\":\"internal_error\",\"message\":\"encoding\"}}");
        return;
    }
    http_reply_bytes(req, status, "application/json", s, strlen(s));
    free(s);
}

/* A browser that asked for a page gets the error as a page (same status); API
 * clients get the JSON shape. */
void http_reply_error(struct request *req, int status, const char *code, const char *message,
                      json_t *fields)
{
    if (http_accepts_html(req)) {
        json_decref(fields);
        const char *heading = status == 404   ? "Page not found"
                              : status == 403 ? "Not allowed"
                              : status == 429 ? "Too many attempts"
                              : status >= 500 ? "Something went wrong on our side"
                                              : "This request could not be handled";
        http_reply_page(req, status, "error",
                        json_pack("{s:s, s:s, s:s, s:s}", "title", heading, "heading", heading,
                                  "message", message, "code", code));
        return;
    }
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (fields)
        json_object_set_new(err, "fields", fields);
    http_reply_json(req, status, json_pack("{s:o}", "error", err));
}

/* The modules' status tables (http.h) make every module's errors read alike: the
 * status, code and message a test asserts are data, not a switch per module. */
void http_reply_result(struct request *req, int rc, int status, json_t *out,
                       const struct http_error_map *map, json_t *fields, const char *what)
{
    if (rc == 0) {
        json_decref(fields);
        http_reply_json(req, status, out);
        return;
    }
    json_decref(out);
    http_reply_mapped(req, rc, map, fields, what);
}

void http_reply_no_content(struct request *req)
{
    http_reply_bytes(req, 204, NULL, "", 0);
}

void http_reply_deleted(struct request *req, int rc, const struct http_error_map *map,
                        json_t *fields, const char *what)
{
    if (rc == 0) {
        json_decref(fields);
        http_reply_no_content(req);
        return;
    }
    http_reply_mapped(req, rc, map, fields, what);
}

void http_reply_mapped(struct request *req, int rc, const struct http_error_map *map,
                       json_t *fields, const char *what)
{
    const struct http_error_map *e = map;
    while (e->rc && e->rc != rc)
        e++; /* rc's entry, or the last one: it answers what the map does not list */
    if (!e->fields) {
        json_decref(fields);
        fields = NULL;
    }
    if (!e->status) {
        http_reply_error(req, 500, "internal_error", "The server could not answer", NULL);
        return;
    }
    http_reply_error(req, e->status, e->code, with_what(req, e->message, what), fields);
}

const struct http_error_map *http_error_find(const struct http_error_map *map, int rc)
{
    for (const struct http_error_map *e = map; e->rc; e++)
        if (e->rc == rc)
            return e;
    return NULL;
}

/* ---- staff API handlers (struct http_api) ----------------------------------------------- */

const char *http_api_id(struct request *req, const struct http_api *api, const char *name,
                        const char *what)
{
    const char *id = http_param(req, name);
    if (api->id_valid(id))
        return id;
    http_reply_mapped(req, api->not_found, api->errors, NULL, what);
    return NULL;
}

void http_api_read(struct request *req, const struct http_api *api, http_read_fn fn,
                   const char *what)
{
    struct db_conn *t = request_tenant_db(req);
    if (!t)
        return;
    json_t *out = NULL;
    int rc = fn(t, &out);
    http_reply_result(req, rc, 200, out, api->errors, NULL, what);
}

void http_api_read_id(struct request *req, const struct http_api *api, http_read_id_fn fn,
                      const char *what)
{
    const char *id = http_api_id(req, api, "id", what);
    struct db_conn *t = id ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL;
    int rc = fn(t, id, &out);
    http_reply_result(req, rc, 200, out, api->errors, NULL, what);
}

void http_api_write(struct request *req, const struct http_api *api, http_write_fn fn,
                    int status, const char *location, const char *what)
{
    json_t *body = http_body_json(req);
    struct db_conn *t = body ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL, *fields = NULL;
    int rc = fn(t, req, body, &out, &fields);
    if (rc == 0 && location)
        http_add_header(req, "Location",
                        arena_printf(req->arena, "%s/%s", location,
                                     json_string_value(json_object_get(out, "id"))));
    http_reply_result(req, rc, status, out, api->errors, fields, what);
}

void http_api_write_id(struct request *req, const struct http_api *api, http_write_id_fn fn,
                       const char *what)
{
    const char *id = http_api_id(req, api, "id", what);
    json_t *body = id ? http_body_json(req) : NULL;
    struct db_conn *t = body ? request_tenant_db(req) : NULL;
    if (!t)
        return;
    json_t *out = NULL, *fields = NULL;
    int rc = fn(t, req, id, body, &out, &fields);
    http_reply_result(req, rc, 200, out, api->errors, fields, what);
}

/* message with its "%s" replaced by what; not a format string: a "%" elsewhere stays. */
static const char *with_what(struct request *req, const char *message, const char *what)
{
    const char *hole = strstr(message, "%s");
    if (!hole)
        return message;
    return arena_printf(req->arena, "%.*s%s%s", (int)(hole - message), message, what ? what : "",
                        hole + 2);
}

void http_reply_redirect(struct request *req, int status, const char *location)
{
    http_add_header(req, "Location", location);
    http_reply_text(req, status, "text/plain; charset=utf-8", "");
}

void http_reply_page(struct request *req, int status, const char *name, json_t *ctx)
{
    if (req->tenant && !json_object_get(ctx, "studio"))
        json_object_set_new(ctx, "studio",
                            json_pack("{s:s, s:s, s:b}", "name", req->tenant->name, "slug",
                                      req->tenant->slug, "read_only", req->tenant->read_only));
    if (req->session && !json_object_get(ctx, "me"))
        json_object_set_new(ctx, "me",
                            json_pack("{s:s, s:s, s:s}", "name", req->session->user_name, "email",
                                      req->session->user_email, "csrf_token",
                                      req->session->csrf_token));
    if (!json_object_get(ctx, "base_domain"))
        json_object_set_new(ctx, "base_domain", json_string(g_config.base_domain));
    const char *err = NULL;
    char *html = template_render_page(req->arena, name, ctx, &err);
    json_decref(ctx);
    if (!html) {
        log_msg(LOG_ERROR, "template %s: %s", name, err ? err : "?");
        http_reply_text(req, 500, "application/json",
                        "{\"error\":{\"code\":\"internal_error\","
                        "\"message\":\"The page could not be rendered\"}}");
        return;
    }
    http_reply_text(req, status, "text/html; charset=utf-8", html);
}

void http_add_header(struct request *req, const char *name, const char *value)
{
    struct http_header *h = arena_alloc(req->arena, sizeof(*h));
    h->name = arena_strdup(req->arena, name);
    h->value = arena_strdup(req->arena, value);
    h->next = req->resp_headers;
    req->resp_headers = h;
}

void http_set_cookie(struct request *req, const char *name, const char *value, int max_age)
{
    char *v;
    const char *secure = req->tls ? "; Secure" : "";
    if (max_age < 0)
        v = arena_printf(req->arena, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", name, value,
                         secure);
    else
        v = arena_printf(req->arena, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s", name,
                         max_age ? value : "", max_age, secure);
    http_add_header(req, "Set-Cookie", v);
}

const char *http_param(struct request *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

/* The media type of the body without parameters, and its length. */
static const char *media_type(struct request *req, size_t *len)
{
    const char *ct = http_header(req, "Content-Type");
    if (!ct) {
        *len = 0;
        return "";
    }
    while (*ct == ' ')
        ct++;
    const char *semi = strchr(ct, ';');
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    while (n && ct[n - 1] == ' ')
        n--;
    *len = n;
    return ct;
}

bool http_body_is_form(struct request *req)
{
    size_t n;
    const char *ct = media_type(req, &n);
    return n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

json_t *http_body_json(struct request *req)
{
    size_t n;
    const char *ct = media_type(req, &n);
    bool is_json = (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
                   (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
    if (!is_json) {
        http_reply_error(req, 415, "unsupported_media_type", "Send application/json", NULL);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        http_reply_error(req, 400, "malformed_json",
                         arena_printf(req->arena, "The body is not valid JSON: %s (at %d:%d)",
                                      e.text, e.line, e.column),
                         NULL);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_reply_error(req, 400, "malformed_json", "The body must be a JSON object", NULL);
        return NULL;
    }
    return http_own_json(req, j);
}

json_t *http_body_object(struct request *req)
{
    size_t n;
    const char *ct = media_type(req, &n);
    if (!http_body_is_form(req) && !(n >= 16 && strncasecmp(ct, "application/json", 16) == 0)) {
        http_reply_error(req, 415, "unsupported_media_type",
                         "Send application/json or application/x-www-form-urlencoded", NULL);
        return NULL;
    }
    if (!http_body_is_form(req))
        return http_body_json(req);
    json_t *o = json_object();
    for (struct kv *p = parse_form(req->arena, req->body, req->body_len); p; p = p->next)
        if (!json_object_get(o, p->key))
            json_object_set_new(o, p->key, json_string(p->value));
    return http_own_json(req, o);
}

void http_field_error(json_t *fields, const char *key, const char *fmt, ...)
{
    if (json_object_get(fields, key))
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_set_new(fields, key, json_string(msg));
}

json_t *http_fields_or_null(json_t *fields)
{
    if (json_object_size(fields) > 0)
        return fields;
    json_decref(fields);
    return NULL;
}

bool http_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

json_t *http_clean_text(json_t *v, size_t min_chars, size_t max_chars, bool multiline)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return NULL; /* an encoded NUL */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7F)
            return NULL;
    }
    size_t a = 0, b = len;
    while (a < b && isspace((unsigned char)s[a]))
        a++;
    while (b > a && isspace((unsigned char)s[b - 1]))
        b--;
    size_t n = 0; /* characters: the bytes that start one */
    for (size_t i = a; i < b; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    if (n < min_chars || n > max_chars)
        return NULL;
    return json_stringn(s + a, b - a);
}

bool http_accepts_html(struct request *req)
{
    const char *accept = http_header(req, "Accept");
    return accept && strstr(accept, "text/html") != NULL;
}

bool http_wants_html(struct request *req)
{
    if (http_body_is_form(req))
        return true;
    const char *accept = http_header(req, "Accept");
    return accept && strstr(accept, "text/html") != NULL;
}

static const char *port_suffix(struct arena *a, bool tls)
{
    int port = g_config.port;
    if ((tls && port == 443) || (!tls && port == 80) || strcmp(g_config.public_scheme, "https") == 0)
        return "";
    return arena_printf(a, ":%d", port);
}

char *http_studio_url(struct request *req, const char *slug)
{
    return arena_printf(req->arena, "%s://%s.%s%s", g_config.public_scheme, slug,
                        g_config.base_domain, port_suffix(req->arena, req->tls));
}

char *http_site_url(struct request *req)
{
    return arena_printf(req->arena, "%s://%s%s", g_config.public_scheme, g_config.base_domain,
                        port_suffix(req->arena, req->tls));
}
