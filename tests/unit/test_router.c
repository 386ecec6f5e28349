/*
 * test_router.c — route matching (router.h) over small tables with dummy
 * handlers: literals, ":param" and "*rest" captures, specificity that does
 * not depend on table order, 404 against 405 with its Allow list, HEAD on GET
 * routes, and the patterns router_new refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "studiod/router.h"

static void handler_a(struct request *req)
{
    (void)req;
}

static void handler_b(struct request *req)
{
    (void)req;
}

#define R(method, pattern, handler)                                                                \
    {                                                                                              \
        method, pattern, handler, TENANT_NONE, AUTH_PUBLIC, NULL, NULL, 0                          \
    }

static const struct route rooms_param_first[] = {
    R("GET", "/api/rooms/:id", handler_a),    R("GET", "/api/rooms/new", handler_b),
    R("GET", "/api/rooms", handler_a),        R("POST", "/api/rooms", handler_b),
    R("DELETE", "/api/rooms/:id", handler_b), {0},
};

static const struct route rooms_literal_first[] = {
    R("GET", "/api/rooms/new", handler_b),
    R("GET", "/api/rooms/:id", handler_a),
    {0},
};

static const struct route misc[] = {
    R("GET", "/", handler_a),
    R("GET", "/static/*path", handler_b),
    R("GET", "/api/studios/:studio/rooms/:room", handler_a),
    R("PUT", "/api/items/:id", handler_a),
    R("PATCH", "/api/items/:id", handler_b),
    {0},
};

/* Holds a router and an arena for one test. */
struct fixture {
    struct router *router;
    struct arena *arena;
    struct route_match m;
};

static struct fixture *fixture_new(const struct route *routes)
{
    static struct fixture f;
    const struct route_table tables[] = {{"test", routes}, {0}};
    f.router = router_new(tables);
    assert_non_null(f.router);
    f.arena = arena_new(0);
    return &f;
}

static void fixture_free(struct fixture *f)
{
    router_free(f->router);
    arena_free(f->arena);
}

static int match(struct fixture *f, const char *method, const char *path)
{
    return router_match(f->router, f->arena, method, path, &f->m);
}

static const char *param(const struct route_match *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->param_names[i], name) == 0)
            return m->param_values[i];
    return NULL;
}

static bool refuses(const struct route *routes)
{
    const struct route_table tables[] = {{"test", routes}, {0}};
    struct router *r = router_new(tables);
    bool refused = r == NULL;
    router_free(r);
    return refused;
}

static void test_literal_route_matches(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "GET", "/api/rooms"), 0);
    assert_string_equal(f->m.route->pattern, "/api/rooms");
    assert_string_equal(f->m.route->method, "GET");
    assert_int_equal(f->m.nparams, 0);
    assert_int_equal(match(f, "POST", "/api/rooms"), 0);
    assert_ptr_equal(f->m.route->handler, handler_b);
    fixture_free(f);
}

static void test_param_captures_one_segment(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "GET", "/api/rooms/42"), 0);
    assert_string_equal(f->m.route->pattern, "/api/rooms/:id");
    assert_int_equal(f->m.nparams, 1);
    assert_string_equal(f->m.param_names[0], "id");
    assert_string_equal(f->m.param_values[0], "42");
    assert_int_not_equal(match(f, "GET", "/api/rooms/42/extra"), 0);
    assert_false(f->m.method_mismatch);
    fixture_free(f);
}

static void test_several_params_are_captured_in_order(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    assert_int_equal(match(f, "GET", "/api/studios/s1/rooms/r9"), 0);
    assert_int_equal(f->m.nparams, 2);
    assert_string_equal(f->m.param_names[0], "studio");
    assert_string_equal(f->m.param_names[1], "room");
    assert_string_equal(param(&f->m, "studio"), "s1");
    assert_string_equal(param(&f->m, "room"), "r9");
    fixture_free(f);
}

static void test_param_values_are_arena_copies(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    char path[] = "/api/rooms/abc";
    assert_int_equal(match(f, "GET", path), 0);
    path[11] = 'X';
    assert_string_equal(f->m.param_values[0], "abc");
    fixture_free(f);
}

static void test_literal_beats_param_with_param_listed_first(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "GET", "/api/rooms/new"), 0);
    assert_string_equal(f->m.route->pattern, "/api/rooms/new");
    assert_ptr_equal(f->m.route->handler, handler_b);
    assert_int_equal(f->m.nparams, 0);
    fixture_free(f);
}

static void test_literal_beats_param_with_literal_listed_first(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_literal_first);
    assert_int_equal(match(f, "GET", "/api/rooms/new"), 0);
    assert_string_equal(f->m.route->pattern, "/api/rooms/new");
    assert_int_equal(match(f, "GET", "/api/rooms/7"), 0);
    assert_string_equal(f->m.route->pattern, "/api/rooms/:id");
    fixture_free(f);
}

static void test_route_index_points_at_the_route(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(router_count(f->router), 5);
    assert_int_equal(match(f, "GET", "/api/rooms/new"), 0);
    assert_ptr_equal(router_route(f->router, (size_t)f->m.route_index), f->m.route);
    assert_null(router_route(f->router, 5));
    fixture_free(f);
}

static void test_rest_captures_the_rest_with_slashes(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    assert_int_equal(match(f, "GET", "/static/css/app.css"), 0);
    assert_string_equal(f->m.route->pattern, "/static/*path");
    assert_int_equal(f->m.nparams, 1);
    assert_string_equal(f->m.param_names[0], "path");
    assert_string_equal(f->m.param_values[0], "css/app.css");
    assert_int_equal(match(f, "GET", "/static/a/b/c/d.js"), 0);
    assert_string_equal(param(&f->m, "path"), "a/b/c/d.js");
    assert_int_equal(match(f, "GET", "/static/app.css"), 0);
    assert_string_equal(param(&f->m, "path"), "app.css");
    fixture_free(f);
}

static void test_rest_needs_at_least_one_segment(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    assert_int_not_equal(match(f, "GET", "/static"), 0);
    assert_int_not_equal(match(f, "GET", "/static/"), 0);
    assert_false(f->m.method_mismatch);
    fixture_free(f);
}

static void test_unknown_path_is_404(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "GET", "/nope"), -1);
    assert_null(f->m.route);
    assert_false(f->m.method_mismatch);
    assert_string_equal(f->m.allow, "");
    fixture_free(f);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "DELETE", "/api/rooms"), -1);
    assert_null(f->m.route);
    assert_true(f->m.method_mismatch);
    assert_string_equal(f->m.allow, "GET, POST");
    fixture_free(f);
}

static void test_405_allow_lists_each_method_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    assert_int_equal(match(f, "POST", "/api/items/3"), -1);
    assert_true(f->m.method_mismatch);
    assert_string_equal(f->m.allow, "PUT, PATCH");
    fixture_free(f);
    f = fixture_new(rooms_param_first);
    /* "/api/rooms/new" matches both the literal GET and ":id" GET and DELETE. */
    assert_int_equal(match(f, "PUT", "/api/rooms/new"), -1);
    assert_true(f->m.method_mismatch);
    assert_string_equal(f->m.allow, "GET, DELETE");
    fixture_free(f);
}

static void test_head_matches_get_routes(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    assert_int_equal(match(f, "HEAD", "/static/app.css"), 0);
    assert_string_equal(f->m.route->method, "GET");
    assert_string_equal(param(&f->m, "path"), "app.css");
    assert_int_equal(match(f, "HEAD", "/api/items/1"), -1);
    assert_true(f->m.method_mismatch);
    fixture_free(f);
}

static void test_trailing_slash_does_not_match(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "GET", "/api/rooms/"), -1);
    assert_false(f->m.method_mismatch);
    assert_int_equal(match(f, "GET", "/api/rooms/42/"), -1);
    fixture_free(f);
}

static void test_empty_segments_do_not_match(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(rooms_param_first);
    assert_int_equal(match(f, "GET", "/api//rooms"), -1);
    assert_int_equal(match(f, "GET", "//api/rooms"), -1);
    assert_int_equal(match(f, "GET", "/api/rooms//"), -1);
    assert_int_equal(match(f, "GET", ""), -1);
    assert_int_equal(match(f, "GET", "api/rooms"), -1);
    fixture_free(f);
}

static void test_root_matches_only_root(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    assert_int_equal(match(f, "GET", "/"), 0);
    assert_string_equal(f->m.route->pattern, "/");
    assert_int_equal(f->m.nparams, 0);
    assert_int_equal(match(f, "GET", "//"), -1);
    assert_int_equal(match(f, "POST", "/"), -1);
    assert_true(f->m.method_mismatch);
    assert_string_equal(f->m.allow, "GET");
    fixture_free(f);
}

static void test_too_many_segments_do_not_match(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(misc);
    char path[256] = "/static";
    for (int i = 0; i < 40; i++)
        strcat(path, "/a");
    assert_int_equal(match(f, "GET", path), -1);
    assert_null(f->m.route);
    fixture_free(f);
}

static void test_invalid_patterns_are_refused(void **state)
{
    (void)state;
    const struct route empty[] = {R("GET", "", handler_a), {0}};
    const struct route relative[] = {R("GET", "api/rooms", handler_a), {0}};
    const struct route trailing[] = {R("GET", "/api/rooms/", handler_a), {0}};
    const struct route double_slash[] = {R("GET", "/api//rooms", handler_a), {0}};
    const struct route unnamed_param[] = {R("GET", "/api/:", handler_a), {0}};
    const struct route unnamed_rest[] = {R("GET", "/static/*", handler_a), {0}};
    const struct route rest_not_last[] = {R("GET", "/static/*path/x", handler_a), {0}};
    const struct route null_pattern[] = {R("GET", NULL, handler_a), {0}};
    const struct route bad_after_good[] = {
        R("GET", "/ok", handler_a), R("GET", "bad", handler_b), {0}};
    assert_true(refuses(empty));
    assert_true(refuses(relative));
    assert_true(refuses(trailing));
    assert_true(refuses(double_slash));
    assert_true(refuses(unnamed_param));
    assert_true(refuses(unnamed_rest));
    assert_true(refuses(rest_not_last));
    assert_true(refuses(null_pattern));
    assert_true(refuses(bad_after_good));
}

static void test_too_long_or_too_many_params_are_refused(void **state)
{
    (void)state;
    const struct route deep[] = {R("GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", handler_a),
                                 {0}};
    const struct route params[] = {R("GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i", handler_a), {0}};
    const struct route eight[] = {R("GET", "/:a/:b/:c/:d/:e/:f/:g/:h", handler_a), {0}};
    assert_true(refuses(deep));
    assert_true(refuses(params));
    assert_false(refuses(eight));
}

static void test_several_tables_are_merged(void **state)
{
    (void)state;
    const struct route_table tables[] = {{"rooms", rooms_param_first}, {"misc", misc}, {0}};
    struct router *r = router_new(tables);
    assert_non_null(r);
    assert_int_equal(router_count(r), 10);
    struct arena *a = arena_new(0);
    struct route_match m;
    assert_int_equal(router_match(r, a, "GET", "/api/rooms/new", &m), 0);
    assert_string_equal(m.route->pattern, "/api/rooms/new");
    assert_int_equal(router_match(r, a, "GET", "/static/x.js", &m), 0);
    assert_string_equal(m.route->pattern, "/static/*path");
    arena_free(a);
    router_free(r);
}

static void test_empty_table_matches_nothing(void **state)
{
    (void)state;
    const struct route none[] = {{0}};
    struct fixture *f = fixture_new(none);
    assert_int_equal(router_count(f->router), 0);
    assert_int_equal(match(f, "GET", "/"), -1);
    assert_false(f->m.method_mismatch);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_route_matches),
        cmocka_unit_test(test_param_captures_one_segment),
        cmocka_unit_test(test_several_params_are_captured_in_order),
        cmocka_unit_test(test_param_values_are_arena_copies),
        cmocka_unit_test(test_literal_beats_param_with_param_listed_first),
        cmocka_unit_test(test_literal_beats_param_with_literal_listed_first),
        cmocka_unit_test(test_route_index_points_at_the_route),
        cmocka_unit_test(test_rest_captures_the_rest_with_slashes),
        cmocka_unit_test(test_rest_needs_at_least_one_segment),
        cmocka_unit_test(test_unknown_path_is_404),
        cmocka_unit_test(test_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_405_allow_lists_each_method_once),
        cmocka_unit_test(test_head_matches_get_routes),
        cmocka_unit_test(test_trailing_slash_does_not_match),
        cmocka_unit_test(test_empty_segments_do_not_match),
        cmocka_unit_test(test_root_matches_only_root),
        cmocka_unit_test(test_too_many_segments_do_not_match),
        cmocka_unit_test(test_invalid_patterns_are_refused),
        cmocka_unit_test(test_too_long_or_too_many_params_are_refused),
        cmocka_unit_test(test_several_tables_are_merged),
        cmocka_unit_test(test_empty_table_matches_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
