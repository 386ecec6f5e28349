/*
 * router.c — method + path to route, over the modules' tables.
 *
 * Patterns are split into segments once, at start. Matching walks every
 * route (a studio has on the order of a hundred routes; a linear scan of
 * pre-split segments costs well under a microsecond) and keeps the most
 * specific match: at the first segment where two candidates differ, a
 * literal beats ":param", which beats "*rest". The result therefore never
 * depends on the order of the tables.
 */
#include "studiod/router.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 16

enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_REST };

struct seg {
    enum seg_kind kind;
    char *text; /* literal text or parameter name */
};

struct compiled {
    const struct route *route;
    int nseg;
    struct seg segs[MAX_SEGMENTS];
};

struct router {
    size_t n;
    struct compiled *routes;
};

static int compile(struct compiled *c, const struct route *r);
static int split_path(const char *path, const char **starts, size_t *lens, int max);
static int try_match(const struct compiled *c, const char **starts, const size_t *lens, int n,
                     int *score);
static bool method_matches(const char *route_method, const char *method);
static void allow_add(char *allow, size_t size, const char *method);

/* A pattern with more captures than HTTP_MAX_PARAMS is refused rather than
 * having its last parameters silently dropped at match time. */
static int compile(struct compiled *c, const struct route *r)
{
    int nparams = 0;
    c->route = r;
    c->nseg = 0;
    const char *p = r->pattern;
    if (!p || p[0] != '/')
        return -1;
    while (*p) {
        p++; /* skip '/' */
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 && !end && c->nseg == 0)
            break; /* the root pattern "/" */
        if (len == 0 || c->nseg == MAX_SEGMENTS)
            return -1;
        struct seg *s = &c->segs[c->nseg++];
        if (p[0] == ':') {
            s->kind = SEG_PARAM;
            s->text = strndup(p + 1, len - 1);
        } else if (p[0] == '*') {
            if (end)
                return -1; /* "*rest" only last */
            s->kind = SEG_REST;
            s->text = strndup(p + 1, len - 1);
        } else {
            s->kind = SEG_LITERAL;
            s->text = strndup(p, len);
        }
        if (!s->text || (s->kind != SEG_LITERAL && !s->text[0]))
            return -1;
        if (s->kind != SEG_LITERAL && ++nparams > HTTP_MAX_PARAMS)
            return -1;
        p += len;
    }
    return 0;
}

struct router *router_new(const struct route_table *tables)
{
    size_t n = 0;
    for (const struct route_table *t = tables; t->routes; t++)
        for (const struct route *r = t->routes; r->method; r++)
            n++;
    struct router *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return NULL;
    rt->routes = calloc(n ? n : 1, sizeof(*rt->routes));
    if (!rt->routes) {
        free(rt);
        return NULL;
    }
    for (const struct route_table *t = tables; t->routes; t++)
        for (const struct route *r = t->routes; r->method; r++) {
            if (compile(&rt->routes[rt->n], r) != 0) {
                rt->n++;
                router_free(rt);
                return NULL;
            }
            rt->n++;
        }
    return rt;
}

void router_free(struct router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        for (int j = 0; j < r->routes[i].nseg; j++)
            free(r->routes[i].segs[j].text);
    free(r->routes);
    free(r);
}

/* Splits "/a/b/c" into segments; -1 when there are too many or one is empty
 * (a trailing slash is an empty last segment: "/a/" matches nothing but "/a/"). */
static int split_path(const char *path, const char **starts, size_t *lens, int max)
{
    int n = 0;
    if (path[0] != '/')
        return -1;
    if (path[1] == '\0')
        return 0;
    const char *p = path;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == max)
            return -1;
        starts[n] = p;
        lens[n] = len;
        n++;
        p += len;
    }
    return n;
}

/* 0 on a match, with a score where higher means more specific. */
static int try_match(const struct compiled *c, const char **starts, const size_t *lens, int n,
                     int *score)
{
    int s = 0;
    for (int i = 0; i < c->nseg; i++) {
        const struct seg *g = &c->segs[i];
        if (g->kind == SEG_REST) {
            if (i >= n || lens[i] == 0)
                return -1;
            *score = s * 3 + 0;
            for (int k = i + 1; k < MAX_SEGMENTS; k++)
                *score *= 3;
            return 0;
        }
        if (i >= n || lens[i] == 0)
            return -1;
        if (g->kind == SEG_LITERAL) {
            if (strlen(g->text) != lens[i] || memcmp(g->text, starts[i], lens[i]) != 0)
                return -1;
            s = s * 3 + 2;
        } else {
            s = s * 3 + 1;
        }
    }
    if (c->nseg != n)
        return -1;
    for (int k = c->nseg; k < MAX_SEGMENTS; k++)
        s *= 3;
    *score = s;
    return 0;
}

static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* Appends method to the ", "-separated Allow list unless it is already there
 * (compared as a whole token: "PUT" is not inside "PUTX"). */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = allow; *p;) {
        size_t len = strcspn(p, ",");
        if (len == mlen && memcmp(p, method, mlen) == 0)
            return;
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    size_t used = strlen(allow);
    if (used + mlen + 3 > size)
        return;
    if (used)
        strcat(allow, ", ");
    strcat(allow, method);
}

int router_match(const struct router *r, struct arena *a, const char *method, const char *path,
                 struct route_match *m)
{
    memset(m, 0, sizeof(*m));
    m->route_index = -1;
    const char *starts[MAX_SEGMENTS];
    size_t lens[MAX_SEGMENTS];
    int n = split_path(path, starts, lens, MAX_SEGMENTS);
    if (n < 0)
        return -1;
    int best = -1, best_score = -1;
    for (size_t i = 0; i < r->n; i++) {
        int score;
        if (try_match(&r->routes[i], starts, lens, n, &score) != 0)
            continue;
        if (!method_matches(r->routes[i].route->method, method)) {
            allow_add(m->allow, sizeof(m->allow), r->routes[i].route->method);
            continue;
        }
        if (score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    if (best < 0) {
        m->method_mismatch = m->allow[0] != '\0';
        return -1;
    }
    const struct compiled *c = &r->routes[best];
    m->route = c->route;
    m->route_index = best;
    for (int i = 0; i < c->nseg && m->nparams < HTTP_MAX_PARAMS; i++) {
        const struct seg *g = &c->segs[i];
        if (g->kind == SEG_LITERAL)
            continue;
        m->param_names[m->nparams] = g->text;
        size_t len = lens[i];
        if (g->kind == SEG_REST)
            len = strlen(starts[i]);
        m->param_values[m->nparams] = arena_strndup(a, starts[i], len);
        m->nparams++;
    }
    return 0;
}

size_t router_count(const struct router *r)
{
    return r->n;
}

const struct route *router_route(const struct router *r, size_t i)
{
    return i < r->n ? r->routes[i].route : NULL;
}
