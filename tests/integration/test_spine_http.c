/*
 * test_spine_http.c — the HTTP spine of a real studiod, seen from outside:
 * health, readiness and metrics; the headers every response carries; the
 * one error shape for 400/404/405/413/415; static files with validators and
 * no way out of static/; unknown studio hosts; and a SIGTERM that finishes
 * the request in flight before exiting 0.
 *
 * One studiod serves the whole suite (started in the group set-up); the
 * last test stops it. Needs what scripts/test exports (itest_harness.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "itest_harness.h"

#define ONE_MIB (1024 * 1024)

static struct studiod_proc *const srv = &itest_server;

static char *read_repo_file(const char *rel);
static double metric_value(const char *text, const char *must1, const char *must2);
static void assert_error_shape(const struct itest_resp *r, long status, const char *code);
static void assert_spine_headers(const struct itest_resp *r);
static void assert_contains_all(const char *what, const char *text, const char *const *parts);
static struct itest_resp *get(const char *path);
static struct itest_resp *post_json_of_size(size_t n, bool chunked);
static int connect_to(int port);

/* ---- helpers ----------------------------------------------------------------------------- */

static char *read_repo_file(const char *rel)
{
    const char *home = getenv("STUDIOD_HOME");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", home ? home : ".", rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&text, &cap);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return text;
}

/* The value of the first sample line of a Prometheus text holding both substrings; -1 if none. */
static double metric_value(const char *text, const char *must1, const char *must2)
{
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        if (buf[0] != '#' && strstr(buf, must1) && (!must2 || strstr(buf, must2))) {
            const char *sp = strrchr(buf, ' ');
            return sp ? strtod(sp + 1, NULL) : -1;
        }
        line = eol ? eol + 1 : NULL;
    }
    return -1;
}

static void assert_error_shape(const struct itest_resp *r, long status, const char *code)
{
    if (r->status != status)
        fail_msg("expected %ld, got %ld: %s%s", status, r->status, r->body, r->error);
    const char *ct = itest_header(r, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "application/json"));
    assert_non_null(r->json);
    const char *got = itest_error_code(r);
    if (!got || strcmp(got, code) != 0)
        fail_msg("expected error.code %s, got %s", code, r->body);
    const char *message =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    assert_non_null(message);
    assert_true(strlen(message) > 0);
}

static void assert_spine_headers(const struct itest_resp *r)
{
    const char *rid = itest_header(r, "X-Request-Id");
    if (!rid || !*rid)
        fail_msg("no X-Request-Id on a %ld response", r->status);
    const char *csp = itest_header(r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src"));
    const char *nosniff = itest_header(r, "X-Content-Type-Options");
    assert_non_null(nosniff);
    assert_string_equal(nosniff, "nosniff");
    const char *xfo = itest_header(r, "X-Frame-Options");
    assert_non_null(xfo);
    assert_true(strcasecmp(xfo, "DENY") == 0 || strcasecmp(xfo, "SAMEORIGIN") == 0);
    const char *ref = itest_header(r, "Referrer-Policy");
    assert_non_null(ref);
    assert_true(strlen(ref) > 0);
}

/* Every string of parts (NULL-terminated) stands somewhere in text. */
static void assert_contains_all(const char *what, const char *text, const char *const *parts)
{
    for (const char *const *p = parts; *p; p++)
        if (!strstr(text, *p))
            fail_msg("%s lacks \"%s\"", what, *p);
}

static struct itest_resp *get(const char *path)
{
    return itest_request(srv, "GET", NULL, path, NULL, NULL, NULL, NULL);
}

/* POST /signup with a JSON object of exactly n bytes ("{", spaces, "}"), sent with a
 * Content-Length or chunked. */
static struct itest_resp *post_json_of_size(size_t n, bool chunked)
{
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    struct itest_req rq = {.method = "POST",
                           .path = "/signup",
                           .content_type = "application/json",
                           .body = big,
                           .body_len = n,
                           .chunked = chunked};
    struct itest_resp *r = itest_send(srv, &rq);
    free(big);
    return r;
}

/* A TCP connection to the server, or -1 (e.g. refused). */
static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_healthz_answers_200_with_json(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = get("/healthz");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(itest_header(r, "Content-Type"), "application/json"));
    assert_non_null(r->json);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), "ok");
    itest_resp_free(r);
}

static void test_readyz_answers_200_while_the_database_is_up(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = get("/readyz");
    assert_int_equal(r->status, 200);
    assert_non_null(r->json);
    itest_resp_free(r);
}

static void test_metrics_count_requests_and_show_latency_and_pool_use(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    itest_resp_free(get("/healthz"));
    struct itest_resp *m1 = get("/metrics");
    assert_int_equal(m1->status, 200);
    assert_non_null(strstr(itest_header(m1, "Content-Type"), "text/plain"));
    const char *t = m1->body;
    static const char *const series[] = {
        "# TYPE studiod_http_requests_total counter",
        "# TYPE studiod_http_request_duration_seconds histogram",
        "studiod_http_request_duration_seconds_bucket{le=\"+Inf\"}",
        "studiod_http_request_duration_seconds_sum",
        "studiod_http_request_duration_seconds_count",
        "studiod_db_pool_connections",
        NULL,
    };
    assert_contains_all("/metrics", t, series);
    double before = metric_value(t, "studiod_http_requests_total{", "route=\"/healthz\"");
    assert_true(before >= 1);

    itest_resp_free(get("/healthz"));
    struct itest_resp *m2 = get("/metrics");
    double after = metric_value(m2->body, "studiod_http_requests_total{", "route=\"/healthz\"");
    assert_true(after >= before + 1);
    double count1 = metric_value(t, "studiod_http_request_duration_seconds_count", NULL);
    double count2 = metric_value(m2->body, "studiod_http_request_duration_seconds_count", NULL);
    assert_true(count2 > count1);
    itest_resp_free(m1);
    itest_resp_free(m2);
}

static void test_every_response_carries_a_request_id_and_the_security_headers(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *rs[6];
    rs[0] = get("/healthz");
    rs[1] = get("/no/such/page");
    rs[2] = itest_request(srv, "DELETE", NULL, "/healthz", NULL, NULL, NULL, NULL);
    rs[3] = get("/static/css/app.css");
    rs[4] = itest_request(srv, "POST", NULL, "/signup", "text/plain", "hello", NULL, NULL);
    rs[5] = get("/");
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        assert_true(rs[i]->status >= 200);
        assert_spine_headers(rs[i]);
    }
    /* each request gets its own id */
    assert_string_not_equal(itest_header(rs[0], "X-Request-Id"),
                            itest_header(rs[1], "X-Request-Id"));
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
        itest_resp_free(rs[i]);

    /* a proxy's request id is kept, so one id follows the request through both logs */
    const char *hdr[] = {"X-Request-Id: itest-trace-0123456789", NULL};
    struct itest_resp *r = itest_request(srv, "GET", NULL, "/healthz", NULL, NULL, hdr, NULL);
    assert_string_equal(itest_header(r, "X-Request-Id"), "itest-trace-0123456789");
    itest_resp_free(r);
}

static void test_unknown_path_is_404_in_the_error_shape(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = get("/no/such/page");
    assert_error_shape(r, 404, "not_found");
    itest_resp_free(r);
}

static void test_wrong_method_is_405_naming_the_allowed_ones(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = itest_request(srv, "DELETE", NULL, "/healthz", NULL, NULL, NULL, NULL);
    assert_error_shape(r, 405, "method_not_allowed");
    const char *allow = itest_header(r, "Allow");
    assert_non_null(allow);
    assert_non_null(strstr(allow, "GET"));
    itest_resp_free(r);

    r = itest_request(srv, "PUT", NULL, "/signup", "application/json", "{}", NULL, NULL);
    assert_error_shape(r, 405, "method_not_allowed");
    allow = itest_header(r, "Allow");
    assert_non_null(allow);
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "POST"));
    itest_resp_free(r);
}

static void test_malformed_json_to_signup_is_400(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = itest_request(srv, "POST", NULL, "/signup", "application/json",
                                         "{\"studio_name\": \"Half", NULL, NULL);
    assert_error_shape(r, 400, "malformed_json");
    itest_resp_free(r);

    r = itest_request(srv, "POST", NULL, "/signup", "application/json", "[1, 2]", NULL, NULL);
    assert_int_equal(r->status, 400);
    assert_non_null(itest_error_code(r));
    itest_resp_free(r);
}

static void test_body_over_1_mib_is_413(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = post_json_of_size(ONE_MIB + 1, false);
    assert_error_shape(r, 413, "payload_too_large");
    assert_spine_headers(r);
    itest_resp_free(r);
}

static void test_chunked_body_over_1_mib_is_413(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = post_json_of_size(ONE_MIB + 4096, true);
    assert_error_shape(r, 413, "payload_too_large");
    itest_resp_free(r);
}

static void test_body_of_exactly_1_mib_is_read_and_judged_on_its_content(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = post_json_of_size(ONE_MIB, false);
    /* an empty object: every field is missing, and nothing says "too large" */
    assert_error_shape(r, 422, "invalid_input");
    itest_resp_free(r);
}

static void test_text_plain_body_is_415(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r =
        itest_request(srv, "POST", NULL, "/signup", "text/plain", "studio_name=x", NULL, NULL);
    assert_error_shape(r, 415, "unsupported_media_type");
    itest_resp_free(r);
}

static void test_static_css_is_served_with_an_etag_and_revalidates_to_304(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    char *css = read_repo_file("static/css/app.css");
    struct itest_resp *r = get("/static/css/app.css");
    assert_int_equal(r->status, 200);
    const char *ct = itest_header(r, "Content-Type");
    assert_non_null(ct);
    assert_true(strncmp(ct, "text/css", 8) == 0);
    assert_int_equal(r->body_len, strlen(css));
    assert_memory_equal(r->body, css, r->body_len);
    const char *etag = itest_header(r, "ETag");
    assert_non_null(etag);
    assert_true(strlen(etag) > 2);

    char inm[300];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    const char *hdr[] = {inm, NULL};
    struct itest_resp *r2 =
        itest_request(srv, "GET", NULL, "/static/css/app.css", NULL, NULL, hdr, NULL);
    assert_int_equal(r2->status, 304);
    assert_int_equal(r2->body_len, 0);
    assert_non_null(itest_header(r2, "ETag"));
    assert_string_equal(itest_header(r2, "ETag"), etag);

    /* another validator is not a match: the file comes again */
    const char *other[] = {"If-None-Match: \"not-the-etag\"", NULL};
    struct itest_resp *r3 =
        itest_request(srv, "GET", NULL, "/static/css/app.css", NULL, NULL, other, NULL);
    assert_int_equal(r3->status, 200);
    assert_int_equal(r3->body_len, strlen(css));
    itest_resp_free(r);
    itest_resp_free(r2);
    itest_resp_free(r3);
    free(css);
}

static void test_static_path_traversal_is_404_and_never_the_file(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    static const char *const paths[] = {
        "/static/../CMakeLists.txt",
        "/static/%2e%2e/CMakeLists.txt",
        "/static/..%2fCMakeLists.txt",
        "/static/%2e%2e%2fCMakeLists.txt",
        "/static/css/../../README.md",
        "/static/css/..%2f..%2fREADME.md",
        "/static/%252e%252e/CMakeLists.txt",
        "/static/./../CMakeLists.txt",
        "/static/..\\CMakeLists.txt",
        "/static//etc/passwd",
        NULL,
    };
    for (const char *const *p = paths; *p; p++) {
        struct itest_resp *r = get(*p);
        if (r->status != 404)
            fail_msg("GET %s: expected 404, got %ld", *p, r->status);
        if (strstr(r->body, "cmake_minimum_required") || strstr(r->body, "# studiod") ||
            strstr(r->body, "root:"))
            fail_msg("GET %s leaked a file outside static/", *p);
        itest_resp_free(r);
    }
}

static void test_unknown_studio_host_is_404_unknown_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    char slug[64], host[128];
    itest_unique_slug("nobody", slug);
    itest_studio_host(slug, host);
    struct itest_resp *r = itest_request(srv, "GET", host, "/", NULL, NULL, NULL, NULL);
    assert_error_shape(r, 404, "unknown_studio");
    itest_resp_free(r);
    r = itest_request(srv, "GET", host, "/api/me", NULL, NULL, NULL, NULL);
    assert_error_shape(r, 404, "unknown_studio");
    itest_resp_free(r);
}

static void test_server_still_answers_healthz_after_all_of_the_above(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    assert_true(srv->pid > 0);
    struct itest_resp *r = get("/healthz");
    assert_int_equal(r->status, 200);
    itest_resp_free(r);
}

/* A request whose body is still arriving when SIGTERM comes is answered; then the listening
 * socket closes and the process exits 0 (nothing leaked: the server runs under ASan). */
static void test_sigterm_finishes_the_request_in_flight_and_exits_0(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    int fd = connect_to(srv->port);
    assert_true(fd >= 0);
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST /signup HTTP/1.1\r\nHost: localhost:%d\r\n"
                      "Content-Type: application/json\r\nContent-Length: 2\r\n"
                      "Expect: 100-continue\r\nConnection: close\r\n\r\n",
                      srv->port);
    assert_int_equal(send(fd, head, (size_t)hl, MSG_NOSIGNAL), hl);
    /* "100 Continue" means the server has taken the request and waits for its body. */
    char cont[256] = "";
    size_t cl = 0;
    while (cl < sizeof(cont) - 1 && !strstr(cont, "\r\n\r\n")) {
        ssize_t n = recv(fd, cont + cl, sizeof(cont) - 1 - cl, 0);
        if (n <= 0)
            break;
        cl += (size_t)n;
        cont[cl] = '\0';
    }
    cont[cl] = '\0';
    if (strncmp(cont, "HTTP/1.1 100", 12) != 0)
        fail_msg("expected 100 Continue, got: %.200s", cl ? cont : "(nothing)");
    assert_int_equal(kill(srv->pid, SIGTERM), 0);

    /* Draining: new connections are refused (bounded wait), ours stays open. */
    double deadline = itest_now_ms() + 10000;
    for (;;) {
        int probe = connect_to(srv->port);
        if (probe < 0)
            break;
        close(probe);
        if (itest_now_ms() > deadline)
            fail_msg("studiod still accepts connections 10 s after SIGTERM");
        itest_pause_ms(20);
    }
    assert_int_equal(send(fd, "{}", 2, MSG_NOSIGNAL), 2);
    char reply[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(reply) - 1 && (n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    close(fd);
    if (strncmp(reply, "HTTP/1.1 422", 12) != 0)
        fail_msg("the request in flight during SIGTERM got: %.200s", got ? reply : "(nothing)");

    int st = itest_wait_exit(srv, 30000);
    if (st != 0) {
        fprintf(stderr, "studiod exit status %d; log: %s\n", st, srv->log);
        fail_msg("studiod did not exit 0 after SIGTERM (status %d)", st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_answers_200_with_json),
        cmocka_unit_test(test_readyz_answers_200_while_the_database_is_up),
        cmocka_unit_test(test_metrics_count_requests_and_show_latency_and_pool_use),
        cmocka_unit_test(test_every_response_carries_a_request_id_and_the_security_headers),
        cmocka_unit_test(test_unknown_path_is_404_in_the_error_shape),
        cmocka_unit_test(test_wrong_method_is_405_naming_the_allowed_ones),
        cmocka_unit_test(test_malformed_json_to_signup_is_400),
        cmocka_unit_test(test_body_over_1_mib_is_413),
        cmocka_unit_test(test_chunked_body_over_1_mib_is_413),
        cmocka_unit_test(test_body_of_exactly_1_mib_is_read_and_judged_on_its_content),
        cmocka_unit_test(test_text_plain_body_is_415),
        cmocka_unit_test(test_static_css_is_served_with_an_etag_and_revalidates_to_304),
        cmocka_unit_test(test_static_path_traversal_is_404_and_never_the_file),
        cmocka_unit_test(test_unknown_studio_host_is_404_unknown_studio),
        cmocka_unit_test(test_server_still_answers_healthz_after_all_of_the_above),
        cmocka_unit_test(test_sigterm_finishes_the_request_in_flight_and_exits_0),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
