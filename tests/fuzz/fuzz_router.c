/*
 * fuzz_router.c — libFuzzer target for the router (router.h).
 *
 * The first byte picks the mode. Even: the rest is "METHOD path" matched
 * against a fixed table shaped like the real ones (literals beside params,
 * a "*rest", the root). Odd: the rest is a newline-separated list of
 * patterns for router_new, and a few fixed paths are matched against
 * whatever it accepts. Either way a match must name a route whose method
 * fits and carry at most HTTP_MAX_PARAMS non-empty values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/router.h"

#define FUZZ_MAX_ROUTES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok);
static void fuzz_handler(struct request *req);
static void fuzz_check_match(int rc, const struct route_match *m, const char *method);
static void fuzz_fixed_table(struct arena *a, char *input);
static void fuzz_patterns(struct arena *a, char *input);

#define FR(method, pattern)                                                                        \
    {                                                                                              \
        method, pattern, fuzz_handler, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0                     \
    }

static const struct route fuzz_routes[] = {
    FR("GET", "/"),
    FR("GET", "/healthz"),
    FR("GET", "/static/*path"),
    FR("GET", "/api/rooms"),
    FR("POST", "/api/rooms"),
    FR("GET", "/api/rooms/:id"),
    FR("GET", "/api/rooms/new"),
    FR("PATCH", "/api/rooms/:id"),
    FR("DELETE", "/api/rooms/:id"),
    FR("GET", "/api/studios/:studio/rooms/:room/bookings/:booking"),
    FR("GET", "/api/files/:kind/*rest"),
    FR("POST", "/webhooks/stripe"),
    {0},
};

static const char *const fuzz_paths[] = {
    "/", "/a", "/a/b", "/api/rooms/1", "/x/y/z/w", "//", "/a/", "/static/a/b.css",
};

static void fuzz_check(int ok)
{
    if (!ok)
        abort();
}

static void fuzz_handler(struct request *req)
{
    (void)req;
}

static void fuzz_check_match(int rc, const struct route_match *m, const char *method)
{
    if (rc != 0) {
        fuzz_check(m->route == NULL);
        fuzz_check(m->method_mismatch == (m->allow[0] != '\0'));
        fuzz_check(memchr(m->allow, '\0', sizeof(m->allow)) != NULL);
        return;
    }
    fuzz_check(m->route != NULL && m->route_index >= 0);
    fuzz_check(strcmp(m->route->method, method) == 0 ||
               (strcmp(method, "HEAD") == 0 && strcmp(m->route->method, "GET") == 0));
    fuzz_check(m->nparams >= 0 && m->nparams <= HTTP_MAX_PARAMS);
    for (int i = 0; i < m->nparams; i++)
        fuzz_check(m->param_names[i][0] != '\0' && m->param_values[i][0] != '\0');
}

static void fuzz_fixed_table(struct arena *a, char *input)
{
    static struct router *r;
    if (!r) {
        const struct route_table tables[] = {{"fuzz", fuzz_routes}, {0}};
        r = router_new(tables); /* kept for the whole run: one allocation, not a leak */
        fuzz_check(r != NULL);
    }
    char *sp = strchr(input, ' ');
    const char *method = sp ? input : "GET";
    const char *path = sp ? sp + 1 : input;
    if (sp)
        *sp = '\0';
    struct route_match m;
    int rc = router_match(r, a, method, path, &m);
    fuzz_check_match(rc, &m, method);
    if (rc == 0)
        fuzz_check(router_route(r, (size_t)m.route_index) == m.route);
}

static void fuzz_patterns(struct arena *a, char *input)
{
    struct route routes[FUZZ_MAX_ROUTES + 1];
    memset(routes, 0, sizeof(routes));
    int n = 0;
    for (char *line = input; line && n < FUZZ_MAX_ROUTES; n++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        routes[n] = (struct route)FR(n % 3 ? "GET" : "POST", line);
        line = nl ? nl + 1 : NULL;
    }
    const struct route_table tables[] = {{"fuzz", routes}, {0}};
    struct router *r = router_new(tables);
    if (!r)
        return;
    fuzz_check(router_count(r) == (size_t)n);
    for (size_t i = 0; i < sizeof(fuzz_paths) / sizeof(fuzz_paths[0]); i++) {
        struct route_match m;
        int rc = router_match(r, a, "GET", fuzz_paths[i], &m);
        fuzz_check_match(rc, &m, "GET");
        rc = router_match(r, a, "HEAD", fuzz_paths[i], &m);
        fuzz_check_match(rc, &m, "HEAD");
    }
    router_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct arena *a = arena_new(0);
    char *input = arena_strndup(a, (const char *)data + 1, size - 1);
    if (data[0] & 1)
        fuzz_patterns(a, input);
    else
        fuzz_fixed_table(a, input);
    arena_free(a);
    return 0;
}
