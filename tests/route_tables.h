/*
 * route_tables.h — the route tables studiod serves, for the tests that walk
 * every route (tests/unit/test_openapi.c, tests/integration/test_route_roles.c).
 *
 * One list, so a module that adds a table to src/main.c's route_tables adds
 * it here once; route_tables_assert_main_matches() fails any includer when
 * main.c and this list disagree. Include after <cmocka.h>.
 */
#ifndef STUDIOD_TESTS_ROUTE_TABLES_H
#define STUDIOD_TESTS_ROUTE_TABLES_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/http.h"

#ifndef STUDIOD_SOURCE_DIR
#error "STUDIOD_SOURCE_DIR must name the repository root"
#endif

#define MAIN_C_PATH STUDIOD_SOURCE_DIR "/src/main.c"

extern const struct route ops_routes[], site_routes[], signup_routes[], auth_routes[],
    static_routes[], booking_public_routes[], rooms_routes[], booking_routes[], audit_routes[],
    rbac_routes[], staff_routes[], admin_routes[], payments_routes[], billing_routes[],
    credits_routes[];

/* Every route table main.c may serve. */
static const struct {
    const char *name;
    const struct route *routes;
} known_tables[] = {
    {"ops_routes", ops_routes},       {"site_routes", site_routes},
    {"signup_routes", signup_routes}, {"auth_routes", auth_routes},
    {"static_routes", static_routes}, {"booking_public_routes", booking_public_routes},
    {"rooms_routes", rooms_routes},   {"booking_routes", booking_routes},
    {"audit_routes", audit_routes},   {"rbac_routes", rbac_routes},
    {"staff_routes", staff_routes},   {"admin_routes", admin_routes},
    {"payments_routes", payments_routes}, {"billing_routes", billing_routes},
    {"credits_routes", credits_routes},
};
#define NKNOWN (sizeof(known_tables) / sizeof(known_tables[0]))

/* Reads a whole file, NUL-terminated (free it); fails the test when it cannot. */
static inline char *route_tables_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        size_t got = fread(data + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    data[len] = '\0';
    return data;
}

static inline bool route_tables_is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Blanks comments and string/character literals of C source (in place). */
static inline void route_tables_blank_c_noise(char *s)
{
    for (char *p = s; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            for (; p < stop; p++)
                if (*p != '\n')
                    *p = ' ';
            p--;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++)
                *p = ' ';
            if (!*p)
                return;
        } else if (*p == '"' || *p == '\'') {
            char q = *p;
            *p++ = ' ';
            for (; *p && *p != q; p++) {
                if (*p == '\\' && p[1]) {
                    *p++ = ' ';
                }
                if (*p != '\n')
                    *p = ' ';
            }
            if (!*p)
                return;
            *p = ' ';
        }
    }
}

/* The `route_tables[] = { ... }` initializer of main.c's source (comments and strings
 * blanked), cut at its closing brace; NULL when there is none. */
static inline char *route_tables_initializer(char *src)
{
    const size_t kw = strlen("route_tables");
    for (char *p = strstr(src, "route_tables"); p; p = strstr(p + 1, "route_tables")) {
        if ((p > src && route_tables_is_ident(p[-1])) || route_tables_is_ident(p[kw]))
            continue;
        char *q = p + kw;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '[')
            continue;
        q = strchr(q, ']');
        if (!q)
            return NULL;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '=')
            continue;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '{')
            continue;
        int depth = 0;
        for (char *end = q; *end; end++) {
            if (*end == '{')
                depth++;
            else if (*end == '}' && --depth == 0) {
                *end = '\0';
                return q;
            }
        }
        return NULL;
    }
    return NULL;
}

/* Fails, naming each one, when src/main.c serves a table known_tables lacks or
 * known_tables holds one main.c no longer serves. */
static inline void route_tables_assert_main_matches(void)
{
    char *src = route_tables_read_file(MAIN_C_PATH);
    route_tables_blank_c_noise(src);
    char *init = route_tables_initializer(src);
    if (!init) {
        free(src);
        fail_msg("src/main.c: found no closed 'route_tables[] = {...}' initializer");
    }
    bool seen[NKNOWN] = {0};
    int unknown = 0, served = 0;
    for (char *p = init; *p;) {
        if (!route_tables_is_ident(*p) || isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        char *s = p;
        while (route_tables_is_ident(*p))
            p++;
        size_t n = (size_t)(p - s);
        if (n <= 7 || strncmp(p - 7, "_routes", 7) != 0)
            continue;
        served++;
        bool known = false;
        for (size_t t = 0; t < NKNOWN; t++)
            if (strlen(known_tables[t].name) == n && strncmp(known_tables[t].name, s, n) == 0)
                known = seen[t] = true;
        if (!known) {
            print_error("src/main.c serves route table %.*s, which tests/route_tables.h does "
                        "not know: add it to known_tables there (and its routes to "
                        "docs/openapi.yaml)\n",
                        (int)n, s);
            unknown++;
        }
    }
    free(src);
    int gone = 0;
    for (size_t t = 0; t < NKNOWN; t++)
        if (!seen[t]) {
            print_error("tests/route_tables.h knows route table %s, which src/main.c no longer "
                        "serves: remove it from known_tables\n",
                        known_tables[t].name);
            gone++;
        }
    if (unknown || gone)
        fail_msg("%d route table(s) unknown to the tests, %d no longer served", unknown, gone);
    assert_true(served > 0);
}

#endif
