/*
 * test_template.c — the mustache subset of template.h: escaping, lookups,
 * sections, partials, syntax errors and the limits that keep hostile
 * templates cheap, then template_render_file / template_render_page against
 * a temporary STUDIOD_HOME made under /tmp (removed at the end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "studiod/config.h"
#include "studiod/template.h"

static char home[64];

/* Renders src over the JSON text ctx_json (NULL: no context). */
static char *render(struct arena *a, const char *src, const char *ctx_json, const char **err)
{
    json_t *ctx = NULL;
    if (ctx_json) {
        ctx = json_loads(ctx_json, 0, NULL);
        assert_non_null(ctx);
    }
    char *out = template_render(a, src, ctx, NULL, NULL, err);
    json_decref(ctx); /* out lives in the arena */
    return out;
}

static void assert_renders(const char *src, const char *ctx_json, const char *want)
{
    struct arena *a = arena_new(0);
    const char *err = NULL;
    char *out = render(a, src, ctx_json, &err);
    if (!out)
        fail_msg("render of '%s' failed: %s", src, err ? err : "(no message)");
    assert_string_equal(out, want);
    arena_free(a);
}

/* Asserts that src fails and that the message mentions want. */
static void assert_fails(const char *src, const char *ctx_json, const char *want)
{
    struct arena *a = arena_new(0);
    const char *err = NULL;
    assert_null(render(a, src, ctx_json, &err));
    assert_non_null(err);
    if (!strstr(err, want))
        fail_msg("error '%s' does not mention '%s'", err, want);
    arena_free(a);
}

/* ---- escaping and values ---------------------------------------------------- */

static void test_variable_is_html_escaped(void **state)
{
    (void)state;
    assert_renders("{{v}}", "{\"v\": \"&<>\\\"'`=\"}", "&amp;&lt;&gt;&quot;&#39;&#96;&#61;");
    assert_renders("<a title=\"{{v}}\">", "{\"v\": \"x\\\" onclick=alert(1)\"}",
                   "<a title=\"x&quot; onclick&#61;alert(1)\">");
}

static void test_escape_handles_every_special_char_and_null(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_string_equal(template_escape(a, "a&b<c>d\"e'f`g=h"),
                        "a&amp;b&lt;c&gt;d&quot;e&#39;f&#96;g&#61;h");
    assert_string_equal(template_escape(a, "plain é"), "plain é");
    assert_string_equal(template_escape(a, ""), "");
    assert_string_equal(template_escape(a, NULL), "");
    arena_free(a);
}

static void test_triple_mustache_is_raw(void **state)
{
    (void)state;
    assert_renders("{{{v}}}", "{\"v\": \"<b>&'\"}", "<b>&'");
    assert_renders("{{{ v }}}", "{\"v\": \"<i>\"}", "<i>");
}

static void test_ampersand_tag_is_raw(void **state)
{
    (void)state;
    assert_renders("{{&v}}|{{& v }}", "{\"v\": \"<br>\"}", "<br>|<br>");
}

static void test_numbers_booleans_and_null_render_plainly(void **state)
{
    (void)state;
    assert_renders("{{i}} {{neg}} {{r}} {{whole}} {{t}}[{{f}}][{{n}}]",
                   "{\"i\": 42, \"neg\": -7, \"r\": 2.5, \"whole\": 3.0, \"t\": true,"
                   " \"f\": false, \"n\": null}",
                   "42 -7 2.5 3 true[][]");
    assert_renders("{{big}}", "{\"big\": 1000000.0}", "1000000");
}

static void test_objects_and_arrays_render_empty_as_variables(void **state)
{
    (void)state;
    assert_renders("[{{o}}][{{l}}]", "{\"o\": {\"a\": 1}, \"l\": [1, 2]}", "[][]");
}

static void test_missing_variable_renders_empty(void **state)
{
    (void)state;
    assert_renders("a{{nope}}b{{{nope}}}c{{x.y.z}}d", "{\"x\": {}}", "abcd");
    assert_renders("a{{nope}}b", NULL, "ab");
    assert_renders("a{{nope}}b", "[1, 2]", "ab");
}

static void test_text_without_tags_is_copied(void **state)
{
    (void)state;
    assert_renders("", "{}", "");
    assert_renders("just text { } }} {", "{}", "just text { } }} {");
}

/* ---- lookups ---------------------------------------------------------------- */

static void test_dotted_name_resolves_nested_objects(void **state)
{
    (void)state;
    assert_renders("{{a.b.c}}", "{\"a\": {\"b\": {\"c\": \"deep\"}}}", "deep");
    assert_renders("[{{a.b.x}}][{{a..b}}][{{a.}}]", "{\"a\": {\"b\": {\"c\": 1}}}", "[][][]");
    assert_renders("[{{a.b.c}}]", "{\"a\": {\"b\": 5}}", "[]");
}

static void test_dotted_name_does_not_fall_back_after_first_segment(void **state)
{
    (void)state;
    /* "a" is found in the inner context, so a.b does not look at the outer a. */
    assert_renders("{{#inner}}[{{a.b}}]{{/inner}}",
                   "{\"a\": {\"b\": \"outer\"}, \"inner\": {\"a\": {\"c\": 1}}}", "[]");
}

static void test_dot_renders_the_current_value(void **state)
{
    (void)state;
    assert_renders("{{#l}}{{.}},{{/l}}", "{\"l\": [\"<x>\", 2, true]}", "&lt;x&gt;,2,true,");
    assert_renders("{{#s}}({{.}}){{/s}}", "{\"s\": \"hi\"}", "(hi)");
    assert_renders("[{{.}}]", NULL, "[]");
}

static void test_lookup_walks_context_stack_outwards(void **state)
{
    (void)state;
    assert_renders("{{#outer}}{{#inner}}{{name}}/{{top}}/{{mid}}{{/inner}}{{/outer}}",
                   "{\"top\": \"T\", \"outer\": {\"mid\": \"M\", \"inner\": {\"name\": \"N\"}}}",
                   "N/T/M");
    assert_renders("{{#items}}{{name}}@{{studio.name}};{{/items}}",
                   "{\"studio\": {\"name\": \"S\"}, \"items\": [{\"name\": \"a\"}, {\"name\": "
                   "\"b\"}]}",
                   "a@S;b@S;");
}

static void test_inner_context_shadows_outer(void **state)
{
    (void)state;
    assert_renders("{{name}}{{#o}}{{name}}{{/o}}{{name}}", "{\"name\": 1, \"o\": {\"name\": 2}}",
                   "121");
}

/* ---- sections --------------------------------------------------------------- */

static void test_section_repeats_for_each_array_element(void **state)
{
    (void)state;
    assert_renders("<ul>{{#l}}<li>{{n}}</li>{{/l}}</ul>",
                   "{\"l\": [{\"n\": 1}, {\"n\": 2}, {\"n\": 3}]}",
                   "<ul><li>1</li><li>2</li><li>3</li></ul>");
}

static void test_section_over_object_pushes_it(void **state)
{
    (void)state;
    assert_renders("{{#me}}Hi {{name}}{{/me}}", "{\"me\": {\"name\": \"Ann\"}}", "Hi Ann");
    assert_renders("{{#me}}x{{/me}}", "{\"me\": {}}", "x");
}

static void test_section_renders_once_for_true_and_other_truthy_values(void **state)
{
    (void)state;
    assert_renders("{{#t}}yes{{/t}}", "{\"t\": true}", "yes");
    assert_renders("{{#n}}[{{.}}]{{/n}}", "{\"n\": 0}", "[0]");
    assert_renders("{{#s}}yes{{/s}}", "{\"s\": \"x\"}", "yes");
}

static void test_section_skips_false_null_empty_and_missing(void **state)
{
    (void)state;
    assert_renders("a{{#f}}X{{/f}}{{#n}}X{{/n}}{{#e}}X{{/e}}{{#s}}X{{/s}}{{#m}}X{{/m}}b",
                   "{\"f\": false, \"n\": null, \"e\": [], \"s\": \"\"}", "ab");
}

static void test_inverted_section_renders_when_falsy_or_missing(void **state)
{
    (void)state;
    assert_renders("{{^f}}1{{/f}}{{^n}}2{{/n}}{{^e}}3{{/e}}{{^s}}4{{/s}}{{^m}}5{{/m}}",
                   "{\"f\": false, \"n\": null, \"e\": [], \"s\": \"\"}", "12345");
    assert_renders("[{{^t}}X{{/t}}{{^l}}X{{/l}}{{^o}}X{{/o}}]",
                   "{\"t\": true, \"l\": [1], \"o\": {}}", "[]");
}

static void test_nested_sections_of_the_same_name(void **state)
{
    (void)state;
    assert_renders("{{#a}}{{#a}}{{v}}{{/a}}{{/a}}", "{\"a\": {\"a\": {\"v\": 1}}}", "1");
}

static void test_comment_renders_nothing(void **state)
{
    (void)state;
    assert_renders("a{{! a comment with {{ and } inside }}b{{!}}c", "{}", "abc");
}

/* ---- partials through a loader ---------------------------------------------- */

struct loader_state {
    int calls;
};

static const char *test_loader(void *ud, struct arena *a, const char *name)
{
    struct loader_state *st = ud;
    st->calls++;
    if (strcmp(name, "item") == 0)
        return "<li>{{name}}</li>";
    if (strcmp(name, "self") == 0)
        return "x{{>self}}";
    if (strcmp(name, "broken") == 0)
        return "{{#open}}";
    /* chainN includes chain(N+1) until N reaches 16. */
    if (strncmp(name, "chain", 5) == 0) {
        int n = atoi(name + 5);
        return n >= 16 ? "end" : arena_printf(a, "{{>chain%d}}", n + 1);
    }
    return NULL;
}

static void test_partial_renders_with_the_current_context(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct loader_state st = {0};
    json_t *ctx = json_loads("{\"l\": [{\"name\": \"a\"}, {\"name\": \"<b>\"}]}", 0, NULL);
    const char *err = NULL;
    char *out = template_render(a, "<ul>{{#l}}{{> item }}{{/l}}</ul>", ctx, test_loader, &st, &err);
    assert_non_null(out);
    assert_string_equal(out, "<ul><li>a</li><li>&lt;b&gt;</li></ul>");
    assert_int_equal(st.calls, 1); /* loaded and parsed once per render */
    json_decref(ctx);
    arena_free(a);
}

static void test_partials_nested_16_deep_render(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct loader_state st = {0};
    const char *err = NULL;
    char *out = template_render(a, "{{>chain1}}", NULL, test_loader, &st, &err);
    assert_non_null(out);
    assert_string_equal(out, "end");
    arena_free(a);
}

static void test_deep_partial_recursion_fails(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct loader_state st = {0};
    const char *err = NULL;
    assert_null(template_render(a, "{{>self}}", NULL, test_loader, &st, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "16"));
    /* One level more than the chain above. */
    err = NULL;
    assert_null(template_render(a, "{{>chain0}}", NULL, test_loader, &st, &err));
    assert_non_null(err);
    arena_free(a);
}

static void test_unknown_partial_fails(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct loader_state st = {0};
    const char *err = NULL;
    assert_null(template_render(a, "a{{>nope}}", NULL, test_loader, &st, &err));
    assert_non_null(strstr(err, "nope"));
    err = NULL;
    assert_null(template_render(a, "a{{>item}}", NULL, NULL, NULL, &err)); /* no loader */
    assert_non_null(err);
    arena_free(a);
}

static void test_syntax_error_in_partial_fails(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct loader_state st = {0};
    const char *err = NULL;
    assert_null(template_render(a, "{{>broken}}", NULL, test_loader, &st, &err));
    assert_non_null(strstr(err, "broken"));
    arena_free(a);
}

static void test_partial_in_skipped_section_is_not_loaded(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct loader_state st = {0};
    const char *err = NULL;
    char *out = template_render(a, "a{{#no}}{{>nope}}{{/no}}b", NULL, test_loader, &st, &err);
    assert_non_null(out);
    assert_string_equal(out, "ab");
    assert_int_equal(st.calls, 0);
    arena_free(a);
}

/* ---- syntax errors ---------------------------------------------------------- */

static void test_unclosed_tag_fails_with_error(void **state)
{
    (void)state;
    assert_fails("hello {{name", "{}", "unclosed tag");
    assert_fails("hello {{name}", "{}", "unclosed tag");
    assert_fails("{{{raw}}", "{}", "unclosed tag");
    assert_fails("{{", "{}", "unclosed tag");
    assert_fails("{{! never closed", "{}", "unclosed comment");
    assert_fails("line\nline\n{{oops", "{}", "line 3");
}

static void test_unclosed_section_fails_with_error(void **state)
{
    (void)state;
    assert_fails("{{#items}}x", "{}", "unclosed section 'items'");
    assert_fails("{{^a}}{{#b}}{{/b}}", "{}", "unclosed section 'a'");
}

static void test_mismatched_section_close_fails(void **state)
{
    (void)state;
    assert_fails("{{#a}}{{#b}}{{/a}}{{/b}}", "{}", "mismatched");
    assert_fails("{{/a}}", "{}", "close without open");
}

static void test_syntax_error_in_skipped_section_still_fails(void **state)
{
    (void)state;
    assert_fails("{{#missing}}{{/other}}{{/missing}}", "{}", "mismatched");
}

static void test_empty_and_delimiter_tags_fail(void **state)
{
    (void)state;
    assert_fails("{{}}", "{}", "empty tag");
    assert_fails("{{#  }}{{/}}", "{}", "empty tag");
    assert_fails("{{=<% %>=}}", "{}", "delimiter");
}

static void test_sections_nested_deeper_than_64_fail(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct buf ok, deep;
    buf_init(&ok, a);
    buf_init(&deep, a);
    for (int i = 0; i < 64; i++)
        buf_puts(&ok, "{{#a}}");
    buf_puts(&ok, "{{v}}");
    for (int i = 0; i < 64; i++)
        buf_puts(&ok, "{{/a}}");
    for (int i = 0; i < 65; i++)
        buf_puts(&deep, "{{^a}}");

    json_t *ctx = json_pack("{s:b, s:i}", "a", 1, "v", 7);
    const char *err = NULL;
    char *out = template_render(a, buf_cstr(&ok), ctx, NULL, NULL, &err);
    assert_non_null(out);
    assert_string_equal(out, "7");
    assert_null(template_render(a, buf_cstr(&deep), ctx, NULL, NULL, &err));
    assert_non_null(strstr(err, "too deep"));
    json_decref(ctx);
    arena_free(a);
}

static void test_err_may_be_null(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_null(template_render(a, "{{#a}}", NULL, NULL, NULL, NULL));
    assert_null(template_render(a, NULL, NULL, NULL, NULL, NULL));
    assert_null(template_render_file(a, "../x", NULL, NULL));
    arena_free(a);
}

/* ---- files under STUDIOD_HOME ----------------------------------------------- */

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", home, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int home_setup(void **state)
{
    (void)state;
    char path[128];
    strcpy(home, "/tmp/studiod-tpl-XXXXXX");
    if (!mkdtemp(home))
        return -1;
    snprintf(path, sizeof(path), "%s/templates", home);
    if (mkdir(path, 0700))
        return -1;
    snprintf(path, sizeof(path), "%s/templates/parts", home);
    if (mkdir(path, 0700))
        return -1;
    setenv("STUDIOD_HOME", home, 1);
    return config_load();
}

static int home_teardown(void **state)
{
    (void)state;
    unsetenv("STUDIOD_HOME");
    return nftw(home, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_render_file_reads_templates_from_home(void **state)
{
    (void)state;
    write_file("templates/hello.html", "Hello {{name}}!");
    struct arena *a = arena_new(0);
    json_t *ctx = json_pack("{s:s}", "name", "<Ann>");
    const char *err = NULL;
    char *out = template_render_file(a, "hello", ctx, &err);
    assert_non_null(out);
    assert_string_equal(out, "Hello &lt;Ann&gt;!");
    json_decref(ctx);
    arena_free(a);
}

static void test_render_file_reads_each_file_once(void **state)
{
    (void)state;
    write_file("templates/cached.html", "first");
    struct arena *a = arena_new(0);
    const char *err = NULL;
    assert_string_equal(template_render_file(a, "cached", NULL, &err), "first");
    write_file("templates/cached.html", "second");
    assert_string_equal(template_render_file(a, "cached", NULL, &err), "first");
    arena_free(a);
}

static void test_render_file_loads_partials_from_files(void **state)
{
    (void)state;
    write_file("templates/list.html", "<ul>{{#l}}{{>parts/item}}{{/l}}</ul>");
    write_file("templates/parts/item.html", "<li>{{.}}</li>");
    struct arena *a = arena_new(0);
    json_t *ctx = json_pack("{s:[s,s]}", "l", "x", "y");
    const char *err = NULL;
    char *out = template_render_file(a, "list", ctx, &err);
    assert_non_null(out);
    assert_string_equal(out, "<ul><li>x</li><li>y</li></ul>");
    json_decref(ctx);
    arena_free(a);
}

static void test_render_file_refuses_bad_names(void **state)
{
    (void)state;
    static const char *bad[] = {"../hello",    "hello.html", "Hello",          "",
                                "/etc/passwd", "a b",        "parts/../hello", "x\\y"};
    struct arena *a = arena_new(0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = NULL;
        assert_null(template_render_file(a, bad[i], NULL, &err));
        assert_non_null(err);
    }
    assert_null(template_render_file(a, NULL, NULL, NULL));

    /* The same rule holds for partials named inside a template file. */
    write_file("templates/sneaky.html", "{{>../templates/hello}}");
    const char *err = NULL;
    assert_null(template_render_file(a, "sneaky", NULL, &err));
    assert_non_null(strstr(err, "unknown partial"));
    arena_free(a);
}

static void test_render_file_missing_template_fails(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    const char *err = NULL;
    assert_null(template_render_file(a, "does-not-exist", NULL, &err));
    assert_non_null(strstr(err, "not found"));
    arena_free(a);
}

static void test_render_page_wraps_page_in_layout(void **state)
{
    (void)state;
    write_file("templates/layout.html", "<title>{{title}}</title><main>{{{content}}}</main>");
    write_file("templates/page.html", "<p>{{msg}}</p>");
    struct arena *a = arena_new(0);
    json_t *ctx = json_pack("{s:s, s:s}", "title", "T&C", "msg", "<hi>");
    const char *err = NULL;
    char *out = template_render_page(a, "page", ctx, &err);
    assert_non_null(out);
    assert_string_equal(out, "<title>T&amp;C</title><main><p>&lt;hi&gt;</p></main>");
    assert_null(json_object_get(ctx, "content")); /* the caller's ctx is untouched */
    assert_int_equal(json_object_size(ctx), 2);

    /* A page that fails to render fails the whole page. */
    write_file("templates/badpage.html", "{{#x}}");
    assert_null(template_render_page(a, "badpage", ctx, &err));
    assert_null(template_render_page(a, "missing-page", ctx, &err));
    json_decref(ctx);
    arena_free(a);
}

#ifdef STUDIOD_SOURCE_DIR
/* The repository's own layout: brand, the signed-in user and the logout form. */
static void test_repository_layout_shows_user_and_logout_form(void **state)
{
    (void)state;
    const char *saved = g_config.home;
    g_config.home = STUDIOD_SOURCE_DIR;
    struct arena *a = arena_new(0);
    json_t *ctx =
        json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "title", "Book", "content", "<p>page</p>",
                  "studio", "name", "Yoga <Loft>", "me", "name", "Ann", "csrf_token", "tok\"en");
    const char *err = NULL;
    char *out = template_render_file(a, "layout", ctx, &err);
    if (!out)
        fail_msg("layout: %s", err);
    assert_non_null(strstr(out, "<html lang=\"en\">"));
    assert_non_null(strstr(out, "<title>Book — studiod</title>"));
    assert_non_null(strstr(out, "Yoga &lt;Loft&gt;"));
    assert_non_null(strstr(out, "Ann"));
    assert_non_null(strstr(out, "action=\"/logout\""));
    assert_non_null(strstr(out, "value=\"tok&quot;en\""));
    assert_non_null(strstr(out, "<main id=\"main\" class=\"container\"><p>page</p></main>"));
    assert_null(strstr(out, "style="));
    assert_null(strstr(out, "<script>"));

    /* Signed out, no studio: the brand is studiod and there is no logout form. */
    json_object_del(ctx, "me");
    json_object_del(ctx, "studio");
    out = template_render_file(a, "layout", ctx, &err);
    assert_non_null(out);
    assert_non_null(strstr(out, ">studiod</a>"));
    assert_null(strstr(out, "/logout"));
    json_decref(ctx);
    arena_free(a);
    g_config.home = saved;
}
#endif

int main(void)
{
    const struct CMUnitTest render_tests[] = {
        cmocka_unit_test(test_variable_is_html_escaped),
        cmocka_unit_test(test_escape_handles_every_special_char_and_null),
        cmocka_unit_test(test_triple_mustache_is_raw),
        cmocka_unit_test(test_ampersand_tag_is_raw),
        cmocka_unit_test(test_numbers_booleans_and_null_render_plainly),
        cmocka_unit_test(test_objects_and_arrays_render_empty_as_variables),
        cmocka_unit_test(test_missing_variable_renders_empty),
        cmocka_unit_test(test_text_without_tags_is_copied),
        cmocka_unit_test(test_dotted_name_resolves_nested_objects),
        cmocka_unit_test(test_dotted_name_does_not_fall_back_after_first_segment),
        cmocka_unit_test(test_dot_renders_the_current_value),
        cmocka_unit_test(test_lookup_walks_context_stack_outwards),
        cmocka_unit_test(test_inner_context_shadows_outer),
        cmocka_unit_test(test_section_repeats_for_each_array_element),
        cmocka_unit_test(test_section_over_object_pushes_it),
        cmocka_unit_test(test_section_renders_once_for_true_and_other_truthy_values),
        cmocka_unit_test(test_section_skips_false_null_empty_and_missing),
        cmocka_unit_test(test_inverted_section_renders_when_falsy_or_missing),
        cmocka_unit_test(test_nested_sections_of_the_same_name),
        cmocka_unit_test(test_comment_renders_nothing),
        cmocka_unit_test(test_partial_renders_with_the_current_context),
        cmocka_unit_test(test_partials_nested_16_deep_render),
        cmocka_unit_test(test_deep_partial_recursion_fails),
        cmocka_unit_test(test_unknown_partial_fails),
        cmocka_unit_test(test_syntax_error_in_partial_fails),
        cmocka_unit_test(test_partial_in_skipped_section_is_not_loaded),
        cmocka_unit_test(test_unclosed_tag_fails_with_error),
        cmocka_unit_test(test_unclosed_section_fails_with_error),
        cmocka_unit_test(test_mismatched_section_close_fails),
        cmocka_unit_test(test_syntax_error_in_skipped_section_still_fails),
        cmocka_unit_test(test_empty_and_delimiter_tags_fail),
        cmocka_unit_test(test_sections_nested_deeper_than_64_fail),
        cmocka_unit_test(test_err_may_be_null),
    };
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(test_render_file_reads_templates_from_home),
        cmocka_unit_test(test_render_file_reads_each_file_once),
        cmocka_unit_test(test_render_file_loads_partials_from_files),
        cmocka_unit_test(test_render_file_refuses_bad_names),
        cmocka_unit_test(test_render_file_missing_template_fails),
        cmocka_unit_test(test_render_page_wraps_page_in_layout),
#ifdef STUDIOD_SOURCE_DIR
        cmocka_unit_test(test_repository_layout_shows_user_and_logout_form),
#endif
    };
    int failed = cmocka_run_group_tests_name("template", render_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("template files", file_tests, home_setup, home_teardown);
    return failed;
}
