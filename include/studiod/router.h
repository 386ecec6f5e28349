/*
 * router.h — matches method + path against the modules' route tables.
 *
 * Patterns are literal segments, ":name" segments (one non-empty segment)
 * and a final "*name" (the rest of the path, possibly with slashes). A
 * literal segment wins over a parameter at the same depth, so
 * "/api/rooms/new" beats "/api/rooms/:id" whatever the table order.
 */
#ifndef STUDIOD_ROUTER_H
#define STUDIOD_ROUTER_H

#include <stddef.h>

#include "studiod/http.h"

struct router;

struct route_match {
    const struct route *route; /* NULL when nothing matched */
    int route_index;           /* index in router_routes() order */
    int nparams;
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS]; /* arena copies */
    bool method_mismatch;      /* the path matched, not the method: 405 */
    char allow[96];            /* the methods that would match, for Allow */
};

/* Builds a router over tables (ending with {0}). NULL on an invalid pattern. */
struct router *router_new(const struct route_table *tables);
void router_free(struct router *r);
/* Matches; params are copied into a. Returns 0 when a route matched, -1 otherwise
 * (m->method_mismatch tells 405 from 404). HEAD matches GET routes. */
int router_match(const struct router *r, struct arena *a, const char *method, const char *path,
                 struct route_match *m);
/* Every route, in a stable order (for metrics, the OpenAPI check, `studiod routes`). */
size_t router_count(const struct router *r);
const struct route *router_route(const struct router *r, size_t i);

#endif
