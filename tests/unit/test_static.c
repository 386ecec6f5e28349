/*
 * test_static.c — the text half of static file serving: which request paths
 * static_normalize lets through to the disk (and which it refuses before any
 * system call), and the content type each extension is served with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "studiod/static.h"

static void assert_clean(const char *rel)
{
    struct arena *a = arena_new(0);
    const char *out = static_normalize(a, rel);
    if (!out)
        fail_msg("'%s' was refused", rel);
    assert_string_equal(out, rel);
    arena_free(a);
}

static void assert_refused(const char *rel)
{
    struct arena *a = arena_new(0);
    const char *out = static_normalize(a, rel);
    if (out)
        fail_msg("'%s' was accepted as '%s'", rel, out);
    arena_free(a);
}

static void test_normalize_accepts_plain_paths(void **state)
{
    (void)state;
    assert_clean("app.css");
    assert_clean("css/app.css");
    assert_clean("js/vendor/lib.min.js");
    assert_clean("img/logo-2x_final.png");
    assert_clean("fonts/Inter var.woff2");
    assert_clean("a..b/c..d.txt"); /* dots inside a name are fine */
}

static void test_normalize_result_lives_in_the_arena(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    char src[] = "css/app.css";
    const char *out = static_normalize(a, src);
    assert_non_null(out);
    assert_ptr_not_equal(out, src);
    src[0] = 'X';
    assert_string_equal(out, "css/app.css");
    arena_free(a);
}

static void test_normalize_refuses_empty_and_null(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_null(static_normalize(a, NULL));
    arena_free(a);
    assert_refused("");
}

static void test_normalize_refuses_dot_dot(void **state)
{
    (void)state;
    assert_refused("..");
    assert_refused("../etc/passwd");
    assert_refused("a/../b");
    assert_refused("a/..");
    assert_refused("css/../../secret");
}

static void test_normalize_refuses_dot_segments(void **state)
{
    (void)state;
    assert_refused(".");
    assert_refused("./a");
    assert_refused("a/./b");
    assert_refused("a/.");
}

static void test_normalize_refuses_empty_segments(void **state)
{
    (void)state;
    assert_refused("a//b");
    assert_refused("a/");
    assert_refused("/");
}

static void test_normalize_refuses_absolute_paths(void **state)
{
    (void)state;
    assert_refused("/etc/passwd");
    assert_refused("/app.css");
}

static void test_normalize_refuses_leftover_percent_escapes(void **state)
{
    (void)state;
    /* The router decoded once; these are double-encoded attempts. */
    assert_refused("%2e%2e");
    assert_refused("%2e%2e/etc/passwd");
    assert_refused("..%2f");
    assert_refused("..%2fetc");
    assert_refused("a%2f..%2f..%2fb");
    assert_refused("%252e");
    assert_refused("100%.txt");
}

static void test_normalize_refuses_backslashes(void **state)
{
    (void)state;
    assert_refused("a\\b");
    assert_refused("..\\..\\windows");
    assert_refused("\\etc");
}

static void test_normalize_refuses_hidden_files(void **state)
{
    (void)state;
    assert_refused(".env");
    assert_refused(".git/config");
    assert_refused("css/.htaccess");
    assert_refused("...");
}

static void test_normalize_refuses_control_characters(void **state)
{
    (void)state;
    assert_refused("a\nb");
    assert_refused("a\rb");
    assert_refused("app.css\t");
    assert_refused("\x01");
    assert_refused("a\x1f");
    assert_refused("a\x7f");
}

static void test_normalize_stops_at_embedded_nul(void **state)
{
    (void)state;
    /* A C string ends at NUL: what follows can never reach the disk. */
    struct arena *a = arena_new(0);
    const char *out = static_normalize(a, "app.css\0/../../etc/passwd");
    assert_non_null(out);
    assert_string_equal(out, "app.css");
    arena_free(a);
}

static void test_normalize_refuses_very_long_paths(void **state)
{
    (void)state;
    char path[4096];
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    assert_refused(path);
}

static void test_content_type_by_extension(void **state)
{
    (void)state;
    assert_string_equal(static_content_type("app.css"), "text/css; charset=utf-8");
    assert_string_equal(static_content_type("js/app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(static_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(static_content_type("data.json"), "application/json");
    assert_string_equal(static_content_type("logo.svg"), "image/svg+xml");
    assert_string_equal(static_content_type("a.png"), "image/png");
    assert_string_equal(static_content_type("a.jpg"), "image/jpeg");
    assert_string_equal(static_content_type("a.jpeg"), "image/jpeg");
    assert_string_equal(static_content_type("a.gif"), "image/gif");
    assert_string_equal(static_content_type("a.webp"), "image/webp");
    assert_string_equal(static_content_type("favicon.ico"), "image/x-icon");
    assert_string_equal(static_content_type("f.woff"), "font/woff");
    assert_string_equal(static_content_type("f.woff2"), "font/woff2");
    assert_string_equal(static_content_type("robots.txt"), "text/plain; charset=utf-8");
    assert_string_equal(static_content_type("app.js.map"), "application/json");
    assert_string_equal(static_content_type("terms.pdf"), "application/pdf");
    assert_string_equal(static_content_type("cal.ics"), "text/calendar; charset=utf-8");
}

static void test_content_type_ignores_case(void **state)
{
    (void)state;
    assert_string_equal(static_content_type("LOGO.PNG"), "image/png");
    assert_string_equal(static_content_type("App.Css"), "text/css; charset=utf-8");
}

static void test_content_type_defaults_to_octet_stream(void **state)
{
    (void)state;
    assert_string_equal(static_content_type("README"), "application/octet-stream");
    assert_string_equal(static_content_type("a.exe"), "application/octet-stream");
    assert_string_equal(static_content_type("archive.tar.gz"), "application/octet-stream");
    assert_string_equal(static_content_type("trailing."), "application/octet-stream");
    assert_string_equal(static_content_type(""), "application/octet-stream");
    assert_string_equal(static_content_type(NULL), "application/octet-stream");
}

static void test_content_type_looks_only_at_the_file_name(void **state)
{
    (void)state;
    /* A dot in a folder name is not an extension; a dot-file has none. */
    assert_string_equal(static_content_type("v1.css/README"), "application/octet-stream");
    assert_string_equal(static_content_type(".css"), "application/octet-stream");
    assert_string_equal(static_content_type("dir/.png"), "application/octet-stream");
    assert_string_equal(static_content_type("min.v2/app.js"), "text/javascript; charset=utf-8");
}

static void test_route_table_declares_one_public_get(void **state)
{
    (void)state;
    assert_string_equal(static_routes[0].method, "GET");
    assert_string_equal(static_routes[0].pattern, "/static/*path");
    assert_ptr_equal(static_routes[0].handler, static_serve);
    assert_int_equal(static_routes[0].tenant, TENANT_NONE);
    assert_int_equal(static_routes[0].auth, AUTH_PUBLIC);
    assert_null(static_routes[1].method);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_accepts_plain_paths),
        cmocka_unit_test(test_normalize_result_lives_in_the_arena),
        cmocka_unit_test(test_normalize_refuses_empty_and_null),
        cmocka_unit_test(test_normalize_refuses_dot_dot),
        cmocka_unit_test(test_normalize_refuses_dot_segments),
        cmocka_unit_test(test_normalize_refuses_empty_segments),
        cmocka_unit_test(test_normalize_refuses_absolute_paths),
        cmocka_unit_test(test_normalize_refuses_leftover_percent_escapes),
        cmocka_unit_test(test_normalize_refuses_backslashes),
        cmocka_unit_test(test_normalize_refuses_hidden_files),
        cmocka_unit_test(test_normalize_refuses_control_characters),
        cmocka_unit_test(test_normalize_stops_at_embedded_nul),
        cmocka_unit_test(test_normalize_refuses_very_long_paths),
        cmocka_unit_test(test_content_type_by_extension),
        cmocka_unit_test(test_content_type_ignores_case),
        cmocka_unit_test(test_content_type_defaults_to_octet_stream),
        cmocka_unit_test(test_content_type_looks_only_at_the_file_name),
        cmocka_unit_test(test_route_table_declares_one_public_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
