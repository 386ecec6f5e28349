/*
 * test_route_roles.c — every route studiod serves × every built-in role,
 * against a real studiod and PostgreSQL: a staff route answers 403
 * forbidden exactly when the role lacks the permission the route declares,
 * and never 403 when the role holds it (any other status is fine then:
 * 404 for the made-up ids, 422 for the empty bodies). Routes that declare
 * no permission never give the RBAC refusal to anyone.
 *
 * The routes come from the modules' tables, linked here directly (as
 * tests/unit/test_openapi.c does), so each route's declared permission is
 * known; main.c's route_tables must name no table this test does not know
 * (a new module's routes cannot slip past), and every declared permission
 * must be in the RBAC catalogue. What each built-in role grants is written
 * below from the specification (migrations/tenant/0003_rbac.sql seeds it),
 * independently of the module's own tables.
 *
 * Each role's walk has its own studio: the owner signs up; for the other
 * roles a staff user holding only that role is inserted with an argon2id
 * hash and signs in. ":params" are random uuids, "*rest" is "x"; unsafe
 * methods carry the CSRF token and "{}" as JSON. A route without a
 * permission that may end the session (POST /logout) is followed by a new
 * sign-in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"
#include "studiod/crypto.h"
#include "studiod/http.h"
#include "studiod/rbac.h"

#include "../route_tables.h"

#define PASSWORD "correct horse battery staple"
#define RBAC_REFUSAL "You need the " /* the middleware's message for a missing permission */

static struct studiod_proc *const srv = &itest_server;


/* What each built-in role grants, from the specification. "manage" implies every action on
 * its resource. */
static const struct builtin {
    const char *role;
    const char *grants; /* space-separated resource:action */
} builtins[] = {
    {"owner", "bookings:manage sessions:manage rooms:manage customers:manage payments:manage "
              "reports:manage staff:manage roles:manage audit:manage settings:manage "
              "billing:manage themes:manage ai:manage domains:manage"},
    {"manager", "bookings:manage sessions:manage rooms:manage customers:manage payments:manage "
                "reports:manage settings:manage themes:manage ai:manage audit:view audit:export "
                "billing:view billing:create billing:update billing:delete billing:export "
                "domains:view domains:create domains:update domains:delete domains:export "
                "roles:view roles:create roles:update roles:export "
                "staff:view staff:create staff:update staff:export"},
    {"engineer", "sessions:view sessions:update bookings:view rooms:view customers:view"},
    {"front desk", "bookings:view bookings:create bookings:update customers:view "
                   "customers:create customers:update sessions:view rooms:view"},
    {"viewer", "bookings:view sessions:view rooms:view customers:view"},
};

/* Who walks the routes. */
struct walker {
    struct itest_studio s;
    char email[160];
    struct itest_cookies jar;
    char csrf[128];
    char csrf_header[160];
};

static bool grants(const struct builtin *b, const char *resource, const char *action);
static const struct builtin *builtin_named(const char *role);
static void random_uuid(char out[37]);
static void fill_path(const char *pattern, char *out, size_t outlen);
static void sign_in(struct walker *w);
static void open_walker(const char *role, struct walker *w);
static bool is_unsafe(const char *method);
static void walk_routes_as(const char *role);

/* ---- helpers ----------------------------------------------------------------------------- */

static bool grants(const struct builtin *b, const char *resource, const char *action)
{
    char want[64], manage[64];
    snprintf(want, sizeof(want), " %s:%s ", resource, action);
    snprintf(manage, sizeof(manage), " %s:manage ", resource);
    char padded[1024];
    snprintf(padded, sizeof(padded), " %s ", b->grants);
    return strstr(padded, want) || strstr(padded, manage);
}

static const struct builtin *builtin_named(const char *role)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcmp(builtins[i].role, role) == 0)
            return &builtins[i];
    fail_msg("no built-in role %s", role);
    return NULL;
}



static void random_uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* The pattern with each ":param" a random uuid and a "*rest" "x". */
static void fill_path(const char *pattern, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 40 < outlen;) {
        if ((*p == ':' || *p == '*') && p > pattern && p[-1] == '/') {
            const char *end = strchr(p, '/');
            if (*p == ':') {
                random_uuid(out + n);
                n += 36;
            } else {
                out[n++] = 'x';
            }
            p = end ? end : p + strlen(p);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

static void sign_in(struct walker *w)
{
    memset(&w->jar, 0, sizeof(w->jar));
    assert_int_equal(itest_login(srv, w->s.slug, w->email, PASSWORD, &w->jar, w->csrf), 200);
    snprintf(w->csrf_header, sizeof(w->csrf_header), "X-CSRF-Token: %s", w->csrf);
}

/* A new studio and a signed-in user holding only role. */
static void open_walker(const char *role, struct walker *w)
{
    memset(w, 0, sizeof(*w));
    itest_name_studio("routes", &w->s);
    assert_int_equal(itest_signup_studio(srv, &w->s, PASSWORD), 201);
    if (strcmp(role, "owner") == 0) {
        snprintf(w->email, sizeof(w->email), "%s", w->s.email);
    } else {
        struct arena *a = arena_new(1024);
        const char *hash = crypto_password_hash(a, PASSWORD);
        assert_non_null(hash);
        snprintf(w->email, sizeof(w->email), "walker-%s@example.com", w->s.slug);
        int rc = itest_pg_exec(w->s.db,
                               "WITH u AS (INSERT INTO users (email, name, password_hash)"
                               "           VALUES ($1, 'Walker', $2) RETURNING id)"
                               " INSERT INTO user_roles (user_id, role_id)"
                               " SELECT u.id, r.id FROM u, roles r WHERE r.name = $3",
                               w->email, hash, role);
        arena_free(a);
        assert_int_equal(rc, 0);
        char *held = itest_pg_value(w->s.db,
                                    "SELECT string_agg(r.name, ',') FROM user_roles ur"
                                    " JOIN users u ON u.id = ur.user_id"
                                    " JOIN roles r ON r.id = ur.role_id WHERE u.email = $1",
                                    w->email);
        assert_non_null(held);
        assert_string_equal(held, role);
        free(held);
    }
    sign_in(w);
}

static bool is_unsafe(const char *method)
{
    return !(strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
             strcmp(method, "OPTIONS") == 0);
}

/* Sends every route as a user holding only role; fails listing every route that answered
 * otherwise than the role's grants say. */
static void walk_routes_as(const char *role)
{
    const struct builtin *b = builtin_named(role);
    assert_int_equal(crypto_init(), 0); /* random_uuid and the password hash */
    struct walker w;
    open_walker(role, &w);
    int routes = 0, refused = 0, wrong = 0;

    for (size_t t = 0; t < NKNOWN; t++)
        for (const struct route *r = known_tables[t].routes; r->method; r++) {
            char path[512];
            fill_path(r->pattern, path, sizeof(path));
            bool unsafe = is_unsafe(r->method);
            const char *headers[] = {w.csrf_header, NULL};
            struct itest_resp *resp =
                itest_request(srv, r->method, w.s.host, path, unsafe ? "application/json" : NULL,
                              unsafe ? "{}" : NULL, headers, &w.jar);
            const char *code = itest_error_code(resp);
            const char *message =
                json_string_value(json_object_get(json_object_get(resp->json, "error"), "message"));
            bool rbac_refusal = resp->status == 403 && code && strcmp(code, "forbidden") == 0 &&
                                message &&
                                strncmp(message, RBAC_REFUSAL, strlen(RBAC_REFUSAL)) == 0;
            routes++;
            refused += rbac_refusal;

            const char *problem = NULL;
            if (resp->status == 0) {
                problem = "no answer";
            } else if (r->auth == AUTH_STAFF && r->perm_resource) {
                bool allowed = grants(b, r->perm_resource, r->perm_action);
                if (!allowed && !rbac_refusal)
                    problem = "expected 403 forbidden";
                else if (allowed && resp->status == 403)
                    problem = "expected anything but 403";
            } else if (rbac_refusal) {
                problem = "refused by RBAC but declares no permission";
            } else if (r->auth == AUTH_STAFF && (resp->status == 401 || resp->status == 403)) {
                problem = "a staff route without a permission refused a signed-in user";
            }
            if (problem) {
                print_error("%s: %s %s (%s:%s) → %ld %s: %s\n", role, r->method, r->pattern,
                            r->perm_resource ? r->perm_resource : "-",
                            r->perm_action ? r->perm_action : "-", resp->status, resp->body,
                            problem);
                wrong++;
            }
            itest_resp_free(resp);
            /* POST /logout and any other staff route without a permission may have ended the
             * session: start a new one. */
            if (r->auth == AUTH_STAFF && !r->perm_resource && unsafe)
                sign_in(&w);
        }
    print_message("%s: %d routes, %d refused by RBAC\n", role, routes, refused);
    if (wrong)
        fail_msg("%s: %d route(s) answered against the role's permissions", role, wrong);
    if (strcmp(role, "owner") == 0)
        assert_int_equal(refused, 0);
    else
        assert_true(refused > 0);
}

/* ---- the tables ---------------------------------------------------------------------------- */

static void test_main_serves_only_known_tables(void **state)
{
    (void)state;
    route_tables_assert_main_matches();
}

static void test_every_declared_permission_is_in_the_catalogue(void **state)
{
    (void)state;
    int bad = 0, declared = 0;
    for (size_t t = 0; t < NKNOWN; t++)
        for (const struct route *r = known_tables[t].routes; r->method; r++) {
            if (!r->perm_resource && !r->perm_action)
                continue;
            declared++;
            if (r->auth != AUTH_STAFF || !r->perm_resource || !r->perm_action ||
                rbac_resource_index(r->perm_resource) < 0 ||
                rbac_action_index(r->perm_action) < 0) {
                print_error("%s %s declares %s:%s%s\n", r->method, r->pattern,
                            r->perm_resource ? r->perm_resource : "(none)",
                            r->perm_action ? r->perm_action : "(none)",
                            r->auth != AUTH_STAFF ? " on a route that is not AUTH_STAFF" : "");
                bad++;
            }
        }
    if (bad)
        fail_msg("%d route(s) declare a permission RBAC does not know", bad);
    assert_true(declared > 0);
}

/* ---- the walks ----------------------------------------------------------------------------- */

static void test_owner_reaches_every_route(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    walk_routes_as("owner");
}

static void test_manager_is_refused_exactly_where_it_lacks_the_permission(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    walk_routes_as("manager");
}

static void test_engineer_is_refused_exactly_where_it_lacks_the_permission(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    walk_routes_as("engineer");
}

static void test_front_desk_is_refused_exactly_where_it_lacks_the_permission(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    walk_routes_as("front desk");
}

static void test_viewer_is_refused_exactly_where_it_lacks_the_permission(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    walk_routes_as("viewer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main_serves_only_known_tables),
        cmocka_unit_test(test_every_declared_permission_is_in_the_catalogue),
        cmocka_unit_test(test_owner_reaches_every_route),
        cmocka_unit_test(test_manager_is_refused_exactly_where_it_lacks_the_permission),
        cmocka_unit_test(test_engineer_is_refused_exactly_where_it_lacks_the_permission),
        cmocka_unit_test(test_front_desk_is_refused_exactly_where_it_lacks_the_permission),
        cmocka_unit_test(test_viewer_is_refused_exactly_where_it_lacks_the_permission),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
