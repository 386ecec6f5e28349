/*
 * test_tenancy.c — which studio a request reaches is decided by its Host
 * alone: <slug>.<base domain> in any letter case and with a trailing dot,
 * or a verified custom domain; anything else reaches no studio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"

#define PASSWORD "correct horse battery staple"

static struct studiod_proc *const srv = &itest_server;

static void make_studio(struct itest_studio *s);
static char *studio_name_at(const char *host, long *status);

static void make_studio(struct itest_studio *s)
{
    itest_name_studio("ten", s);
    assert_int_equal(itest_signup_studio(srv, s, PASSWORD), 201);
}

/* GET /api/public/studio on host: the studio's name (free it), or NULL; *status set. */
static char *studio_name_at(const char *host, long *status)
{
    struct itest_resp *r = itest_request(srv, "GET", host, "/api/public/studio", NULL, NULL,
                                         NULL, NULL);
    *status = r->status;
    const char *name = r->json ? json_string_value(json_object_get(r->json, "name")) : NULL;
    char *out = name ? strdup(name) : NULL;
    itest_resp_free(r);
    return out;
}

static void test_a_verified_custom_domain_reaches_its_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio(&s);
    char domain[128];
    snprintf(domain, sizeof(domain), "book.%s.test", s.slug);
    assert_int_equal(itest_pg_exec(NULL,
                                   "INSERT INTO domains (organization_id, hostname, verified_at)"
                                   " SELECT id, $2, now() FROM organizations WHERE slug = $1",
                                   s.slug, domain),
                     0);
    long status;
    char *via_slug = studio_name_at(s.host, &status);
    assert_int_equal(status, 200);
    char *via_domain = studio_name_at(domain, &status);
    assert_int_equal(status, 200);
    assert_non_null(via_domain);
    assert_string_equal(via_domain, via_slug);
    free(via_slug);
    free(via_domain);
}

static void test_an_unverified_custom_domain_reaches_no_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio(&s);
    char domain[128];
    snprintf(domain, sizeof(domain), "pending.%s.test", s.slug);
    assert_int_equal(itest_pg_exec(NULL,
                                   "INSERT INTO domains (organization_id, hostname)"
                                   " SELECT id, $2 FROM organizations WHERE slug = $1",
                                   s.slug, domain),
                     0);
    struct itest_resp *r =
        itest_request(srv, "GET", domain, "/api/public/studio", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 404);
    assert_string_equal(itest_error_code(r), "unknown_studio");
    itest_resp_free(r);
}

static void test_host_letter_case_and_a_trailing_dot_do_not_matter(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio(&s);
    char upper[160], dotted[160];
    snprintf(upper, sizeof(upper), "%s", s.host);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    snprintf(dotted, sizeof(dotted), "%s.", s.host);
    long status;
    char *a = studio_name_at(upper, &status);
    assert_int_equal(status, 200);
    char *b = studio_name_at(dotted, &status);
    assert_int_equal(status, 200);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_deeper_subdomains_and_unknown_slugs_reach_no_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio(&s);
    char deeper[160];
    snprintf(deeper, sizeof(deeper), "www.%s", s.host);
    const char *hosts[] = {deeper, "no-such-studio-here.localhost", "example.org"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        struct itest_resp *r =
            itest_request(srv, "GET", hosts[i], "/api/public/studio", NULL, NULL, NULL, NULL);
        if (r->status != 404)
            fail_msg("%s answered %ld", hosts[i], r->status);
        itest_resp_free(r);
    }
}

static void test_studio_routes_are_not_served_on_the_bare_domain(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r =
        itest_request(srv, "GET", NULL, "/api/public/studio", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_verified_custom_domain_reaches_its_studio),
        cmocka_unit_test(test_an_unverified_custom_domain_reaches_no_studio),
        cmocka_unit_test(test_host_letter_case_and_a_trailing_dot_do_not_matter),
        cmocka_unit_test(test_deeper_subdomains_and_unknown_slugs_reach_no_studio),
        cmocka_unit_test(test_studio_routes_are_not_served_on_the_bare_domain),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
