/*
 * test_openapi.c — docs/openapi.yaml against the routes studiod serves.
 *
 *   - every route of the tables main.c serves is documented, and every
 *     documented operation is a route (":x" and "*x" segments are "{x}");
 *   - each documented operation's x-tenant agrees with its route's tenant;
 *   - main.c's route_tables names no table this test does not link (so a new
 *     module cannot slip past: add its table to known_tables in tests/route_tables.h), and
 *     still names every table this test knows;
 *   - the document is sane: "openapi: 3.1", info.title and info.version, and
 *     every operation has responses, an operationId (unique) and a summary.
 *
 * The YAML is read line by line, which is enough for the document's layout:
 * under the top-level "paths:" a path is a line indented by exactly 2 spaces
 * that starts with "/" (quoted or not) and ends with ":", an operation is
 * a line indented by exactly 4 spaces that is "get:", "post:", ... and the
 * operation's own keys are indented by exactly 6. The next top-level key
 * ends "paths:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/http.h"

#include "../route_tables.h"

#define OPENAPI_PATH STUDIOD_SOURCE_DIR "/docs/openapi.yaml"


static const char *const yaml_methods[] = {"get",   "put",  "post",   "delete",
                                           "patch", "head", "options"};

/* ---- small helpers ---- */

struct strset {
    char **v;
    size_t n, cap;
};

static void strset_add(struct strset *s, const char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        assert_non_null(s->v);
    }
    s->v[s->n] = strdup(str);
    assert_non_null(s->v[s->n]);
    s->n++;
}

static bool strset_has(const struct strset *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

static void strset_free(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}


/* "METHOD /path" with router captures (":x", "*x") written as OpenAPI's "{x}". */
static char *route_key(const struct route *r)
{
    size_t cap = strlen(r->method) + 2 * strlen(r->pattern) + 8;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n = (size_t)snprintf(out, cap, "%s ", r->method);
    bool seg_start = false;
    bool in_capture = false;
    for (const char *p = r->pattern; *p; p++) {
        if (*p == '/') {
            if (in_capture)
                out[n++] = '}';
            in_capture = false;
            seg_start = true;
            out[n++] = '/';
            continue;
        }
        if (seg_start && (*p == ':' || *p == '*')) {
            out[n++] = '{';
            in_capture = true;
        } else {
            out[n++] = *p;
        }
        seg_start = false;
    }
    if (in_capture)
        out[n++] = '}';
    out[n] = '\0';
    return out;
}

/* ---- docs/openapi.yaml, line by line ---- */

struct doc_op {
    char *key; /* "GET /static/{path}" */
    int line;
    bool has_responses;
    char *operation_id;
    char *summary;
    char *tenant; /* value of x-tenant, or NULL */
};

struct doc {
    bool openapi_31;
    bool saw_paths;
    bool info_title, info_version;
    struct doc_op *ops;
    size_t nops, cap;
    struct strset problems; /* layout problems, one message each */
};

static void doc_problem(struct doc *d, int line, const char *what, const char *text)
{
    char *buf = NULL;
    assert_true(asprintf(&buf, "docs/openapi.yaml:%d: %s: %s", line, what, text) >= 0);
    strset_add(&d->problems, buf);
    free(buf);
}

static void doc_free(struct doc *d)
{
    for (size_t i = 0; i < d->nops; i++) {
        free(d->ops[i].key);
        free(d->ops[i].operation_id);
        free(d->ops[i].summary);
        free(d->ops[i].tenant);
    }
    free(d->ops);
    strset_free(&d->problems);
    memset(d, 0, sizeof(*d));
}

/* The value of "key: value" (unquoted, trimmed), or NULL when text is another key. */
static char *yaml_value(const char *text, const char *key)
{
    size_t kl = strlen(key);
    if (strncmp(text, key, kl) != 0 || text[kl] != ':')
        return NULL;
    const char *v = text + kl + 1;
    if (*v && *v != ' ')
        return NULL;
    while (*v == ' ')
        v++;
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v++;
        n -= 2;
    }
    return strndup(v, n);
}

/* True when text is "method:" for an HTTP method (a trailing comment is allowed);
 * *upper gets the method in upper case. */
static bool yaml_method(const char *text, char *upper, size_t size)
{
    for (size_t i = 0; i < sizeof(yaml_methods) / sizeof(yaml_methods[0]); i++) {
        size_t ml = strlen(yaml_methods[i]);
        if (strncmp(text, yaml_methods[i], ml) != 0 || text[ml] != ':')
            continue;
        const char *rest = text + ml + 1;
        while (*rest == ' ')
            rest++;
        if (*rest && *rest != '#')
            continue;
        snprintf(upper, size, "%s", yaml_methods[i]);
        for (char *p = upper; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        return true;
    }
    return false;
}

/* The path of a path line ("/x:", "'/x':" or "\"/x\":"), or NULL. */
static char *yaml_path(const char *text)
{
    size_t n = strlen(text);
    if (n < 2 || text[n - 1] != ':')
        return NULL;
    n--;
    if (text[0] == '/')
        return strndup(text, n);
    if ((text[0] == '"' || text[0] == '\'') && n >= 3 && text[1] == '/' && text[n - 1] == text[0])
        return strndup(text + 1, n - 2);
    return NULL;
}

static void doc_add_op(struct doc *d, const char *key, int line)
{
    for (size_t i = 0; i < d->nops; i++)
        if (strcmp(d->ops[i].key, key) == 0) {
            doc_problem(d, line, "operation listed twice", key);
            break;
        }
    if (d->nops == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->ops = realloc(d->ops, d->cap * sizeof(*d->ops));
        assert_non_null(d->ops);
    }
    struct doc_op *op = &d->ops[d->nops++];
    memset(op, 0, sizeof(*op));
    op->key = strdup(key);
    assert_non_null(op->key);
    op->line = line;
}

static void doc_load(struct doc *d, const char *file)
{
    memset(d, 0, sizeof(*d));
    char *data = route_tables_read_file(file);
    enum { SEC_NONE, SEC_INFO, SEC_PATHS, SEC_OTHER } section = SEC_NONE;
    bool first = true;
    char *path = NULL;        /* the current path under paths: */
    struct doc_op *op = NULL; /* the current operation */
    int lineno = 0;
    for (char *line = data, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        size_t indent = strspn(line, " ");
        const char *text = line + indent;
        if (!*text || *text == '#')
            continue;
        if (indent == 0) {
            op = NULL;
            free(path);
            path = NULL;
            if (first) {
                char *v = yaml_value(text, "openapi");
                d->openapi_31 = v && strncmp(v, "3.1", 3) == 0 && (v[3] == '\0' || v[3] == '.');
                free(v);
                first = false;
            }
            if (strcmp(text, "paths:") == 0) {
                if (d->saw_paths)
                    doc_problem(d, lineno, "second top-level key", text);
                section = SEC_PATHS;
                d->saw_paths = true;
            } else if (strcmp(text, "info:") == 0) {
                section = SEC_INFO;
            } else {
                section = SEC_OTHER;
            }
            continue;
        }
        if (section == SEC_INFO && indent == 2) {
            char *v;
            if ((v = yaml_value(text, "title")) != NULL) {
                d->info_title = *v != '\0';
                free(v);
            } else if ((v = yaml_value(text, "version")) != NULL) {
                d->info_version = *v != '\0';
                free(v);
            }
            continue;
        }
        if (section != SEC_PATHS)
            continue;
        if (indent <= 4)
            op = NULL;
        if (indent == 2) {
            free(path);
            path = yaml_path(text);
            continue;
        }
        char method[16];
        if (indent == 4 && yaml_method(text, method, sizeof(method))) {
            if (!path) {
                doc_problem(d, lineno, "operation outside a path", text);
                continue;
            }
            char *key = NULL;
            assert_true(asprintf(&key, "%s %s", method, path) >= 0);
            doc_add_op(d, key, lineno);
            free(key);
            op = &d->ops[d->nops - 1];
            continue;
        }
        if (indent == 6 && op) {
            char *v;
            if (strcmp(text, "responses:") == 0)
                op->has_responses = true;
            else if ((v = yaml_value(text, "operationId")) != NULL) {
                free(op->operation_id);
                op->operation_id = v;
            } else if ((v = yaml_value(text, "summary")) != NULL) {
                free(op->summary);
                op->summary = v;
            } else if ((v = yaml_value(text, "x-tenant")) != NULL) {
                free(op->tenant);
                op->tenant = v;
            }
        }
    }
    free(path);
    free(data);
}

/* Every route of every known table, as "METHOD /path". */
static void router_keys(struct strset *out)
{
    for (size_t t = 0; t < NKNOWN; t++)
        for (const struct route *r = known_tables[t].routes; r->method; r++) {
            char *k = route_key(r);
            strset_add(out, k);
            free(k);
        }
}

/* ---- tests ---- */

static void test_route_key_converts_captures(void **state)
{
    (void)state;
    const struct route rs[] = {
        {"GET", "/static/*path", NULL, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
        {"DELETE", "/api/rooms/:id/slots/:slot", NULL, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
        {"GET", "/", NULL, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
        {"POST", "/a:b/c*d", NULL, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0},
    };
    const char *want[] = {"GET /static/{path}", "DELETE /api/rooms/{id}/slots/{slot}", "GET /",
                          "POST /a:b/c*d"};
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        char *k = route_key(&rs[i]);
        assert_string_equal(k, want[i]);
        free(k);
    }
}

static void test_routes_and_document_agree(void **state)
{
    (void)state;
    struct strset routes = {0}, documented = {0};
    router_keys(&routes);
    struct doc d;
    doc_load(&d, OPENAPI_PATH);
    if (!d.saw_paths) {
        doc_free(&d);
        strset_free(&routes);
        fail_msg("docs/openapi.yaml has no top-level paths:");
    }
    for (size_t i = 0; i < d.nops; i++)
        strset_add(&documented, d.ops[i].key);

    size_t undocumented = 0, unserved = 0;
    for (size_t i = 0; i < routes.n; i++)
        if (!strset_has(&documented, routes.v[i])) {
            print_error("route missing from docs/openapi.yaml: %s\n", routes.v[i]);
            undocumented++;
        }
    for (size_t i = 0; i < documented.n; i++)
        if (!strset_has(&routes, documented.v[i])) {
            print_error("docs/openapi.yaml documents a route the router lacks: %s\n",
                        documented.v[i]);
            unserved++;
        }
    size_t nroutes = routes.n, ndoc = documented.n;
    strset_free(&routes);
    strset_free(&documented);
    doc_free(&d);
    if (undocumented || unserved)
        fail_msg("%zu route(s) undocumented, %zu documented operation(s) not served "
                 "(router %zu, document %zu)",
                 undocumented, unserved, nroutes, ndoc);
    assert_true(nroutes > 0);
}

static void test_document_tenancy_matches_routes(void **state)
{
    (void)state;
    struct doc d;
    doc_load(&d, OPENAPI_PATH);
    size_t bad = 0;
    for (size_t t = 0; t < NKNOWN; t++)
        for (const struct route *r = known_tables[t].routes; r->method; r++) {
            char *k = route_key(r);
            const char *want = r->tenant == TENANT_REQUIRED ? "required" : "none";
            for (size_t i = 0; i < d.nops; i++) {
                if (strcmp(d.ops[i].key, k) != 0)
                    continue;
                if (!d.ops[i].tenant || strcmp(d.ops[i].tenant, want) != 0) {
                    print_error("docs/openapi.yaml:%d: %s has x-tenant: %s, the route says %s\n",
                                d.ops[i].line, k, d.ops[i].tenant ? d.ops[i].tenant : "(none)",
                                want);
                    bad++;
                }
            }
            free(k);
        }
    doc_free(&d);
    if (bad)
        fail_msg("%zu operation(s) with a wrong or missing x-tenant", bad);
}

static void test_main_serves_only_known_tables(void **state)
{
    (void)state;
    route_tables_assert_main_matches();
}

static void test_document_is_sane(void **state)
{
    (void)state;
    struct doc d;
    doc_load(&d, OPENAPI_PATH);
    size_t bad = 0;
    if (!d.openapi_31) {
        print_error("docs/openapi.yaml does not start with 'openapi: 3.1'\n");
        bad++;
    }
    if (!d.info_title || !d.info_version) {
        print_error("docs/openapi.yaml: info needs a title and a version\n");
        bad++;
    }
    if (!d.saw_paths || d.nops == 0) {
        print_error("docs/openapi.yaml: no operations under paths:\n");
        bad++;
    }
    for (size_t i = 0; i < d.problems.n; i++) {
        print_error("%s\n", d.problems.v[i]);
        bad++;
    }
    for (size_t i = 0; i < d.nops; i++) {
        const struct doc_op *op = &d.ops[i];
        if (!op->has_responses) {
            print_error("docs/openapi.yaml:%d: %s has no responses:\n", op->line, op->key);
            bad++;
        }
        if (!op->operation_id || !*op->operation_id) {
            print_error("docs/openapi.yaml:%d: %s has no operationId\n", op->line, op->key);
            bad++;
        } else {
            for (size_t j = 0; j < i; j++)
                if (d.ops[j].operation_id && strcmp(d.ops[j].operation_id, op->operation_id) == 0) {
                    print_error("docs/openapi.yaml:%d: operationId %s is also used by %s\n",
                                op->line, op->operation_id, d.ops[j].key);
                    bad++;
                }
        }
        if (!op->summary || !*op->summary) {
            print_error("docs/openapi.yaml:%d: %s has no summary\n", op->line, op->key);
            bad++;
        }
    }
    doc_free(&d);
    if (bad)
        fail_msg("docs/openapi.yaml: %zu problem(s)", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_key_converts_captures),
        cmocka_unit_test(test_routes_and_document_agree),
        cmocka_unit_test(test_document_tenancy_matches_routes),
        cmocka_unit_test(test_main_serves_only_known_tables),
        cmocka_unit_test(test_document_is_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
