/*
 * test_admin.c — platform admins against a real studiod, PostgreSQL and SMTP
 * sink: `studiod admin create` and its otpauth:// URI, sign-in with a
 * password and a TOTP code (wrong password, wrong code, a replayed code and
 * an unknown account all get the same 401; throttling), the studiod_admin
 * cookie, sessions that never cross into studios (nor staff sessions into
 * /admin), CSRF, /admin on a studio host, the dashboard's figures and
 * their cache, studio search, suspension and reactivation as the studio's
 * host sees them, extending a trial, staff invitations, password resets
 * (a link, never a password) and deactivation, and the audit log whose
 * hash chain this file re-computes on its own from the documented format
 * (migrations/master/0004_platform_admin.sql).
 *
 * One studiod serves the suite; every test makes its own admin (a TOTP code
 * opens one session at most) and its own studio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest_harness.h"
#include "studiod/admin.h"

#define PASSWORD "correct horse battery staple"
#define ADMIN_PASSWORD "admin password of some length"
#define MAIL_WAIT_MS 20000
#define SUSPEND_WAIT_MS 6000
#define CLI_OUT 8192

static struct studiod_proc *const srv = &itest_server;

/* A platform admin made with the command line, as a client signs in with it. */
struct admin_client {
    char email[128];
    unsigned char key[64];
    size_t keylen;
    char cookie[192]; /* "studiod_admin=<token>", "" before sign-in */
    char csrf[128];
};

static void make_admin(const char *prefix, struct admin_client *a);
static void totp_now(const struct admin_client *a, int step_offset, char out[8]);
static struct itest_resp *login_as(struct admin_client *a, const char *email, const char *password,
                                   const char *code);
static void sign_in(const char *prefix, struct admin_client *a);
static struct itest_resp *areq(const struct admin_client *a, const char *method, const char *host,
                               const char *path, const char *body, bool csrf);
static struct itest_resp *apost(const struct admin_client *a, const char *path, json_t *body);
static void make_studio(const char *prefix, struct itest_studio *s);
static char *add_user(const struct itest_studio *s, const char *email, const char *role);
static json_int_t jint(json_t *j, const char *path);
static struct itest_resp *me(const char *host, struct itest_cookies *jar);
static long poll_me(const char *host, struct itest_cookies *jar, long want);
static char *link_token(const char *text, const char *studio_url);

/* ---- helpers ----------------------------------------------------------------------------- */

/* `studiod admin create`, and the TOTP seed from the otpauth:// URI it prints. */
static void make_admin(const char *prefix, struct admin_client *a)
{
    memset(a, 0, sizeof(*a));
    char slug[64];
    itest_unique_slug(prefix, slug);
    snprintf(a->email, sizeof(a->email), "%s@admins.example.com", slug);
    const char *argv[] = {"admin",      "create",       "--email", a->email,
                          "--password", ADMIN_PASSWORD, NULL};
    char out[CLI_OUT];
    int st = itest_run_cli(argv, NULL, out, sizeof(out));
    if (st != 0)
        fail_msg("studiod admin create exited %d:\n%s", st, out);
    const char *uri = strstr(out, "otpauth://totp/studiod:");
    if (!uri)
        fail_msg("no otpauth URI in:\n%s", out);
    const char *secret = strstr(uri, "secret=");
    const char *issuer = strstr(uri, "issuer=studiod");
    assert_non_null(secret);
    assert_non_null(issuer);
    char b32[128];
    snprintf(b32, sizeof(b32), "%.*s", (int)strcspn(secret + 7, "&\n "), secret + 7);
    long n = admin_base32_decode(b32, a->key, sizeof(a->key));
    assert_int_equal(n, ADMIN_TOTP_SECRET_BYTES);
    a->keylen = (size_t)n;
}

static void totp_now(const struct admin_client *a, int step_offset, char out[8])
{
    int64_t step = admin_totp_step((int64_t)time(NULL)) + step_offset;
    snprintf(out, 8, "%06u",
             (unsigned)admin_totp_code(a->key, a->keylen, (uint64_t)step, ADMIN_TOTP_DIGITS));
}

/* POST /admin/login (JSON) on the bare domain; a session lands in a. */
static struct itest_resp *login_as(struct admin_client *a, const char *email, const char *password,
                                   const char *code)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "email", email, "password", password, "totp", code);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *headers[] = {"Accept: application/json", NULL};
    struct itest_resp *r =
        itest_request(srv, "POST", NULL, "/admin/login", "application/json", text, headers, NULL);
    free(text);
    const char *v;
    for (int i = 0; (v = itest_header_nth(r, "Set-Cookie", i)); i++)
        if (strncmp(v, ADMIN_COOKIE "=", strlen(ADMIN_COOKIE) + 1) == 0)
            snprintf(a->cookie, sizeof(a->cookie), "%.*s", (int)strcspn(v, ";"), v);
    const char *csrf = json_string_value(json_object_get(r->json, "csrf_token"));
    if (csrf)
        snprintf(a->csrf, sizeof(a->csrf), "%s", csrf);
    return r;
}

/* A new admin, signed in. */
static void sign_in(const char *prefix, struct admin_client *a)
{
    make_admin(prefix, a);
    char code[8];
    totp_now(a, 0, code);
    struct itest_resp *r = login_as(a, a->email, ADMIN_PASSWORD, code);
    if (r->status != 200)
        fail_msg("admin sign-in: %ld %s", r->status, r->body);
    itest_resp_free(r);
    assert_true(a->cookie[0] && a->csrf[0]);
}

/* A JSON request with the admin's cookie (if any) and, when csrf, its X-CSRF-Token. */
static struct itest_resp *areq(const struct admin_client *a, const char *method, const char *host,
                               const char *path, const char *body, bool csrf)
{
    char cookie[256], token[192];
    const char *headers[4];
    int n = 0;
    if (a && a->cookie[0]) {
        snprintf(cookie, sizeof(cookie), "Cookie: %s", a->cookie);
        headers[n++] = cookie;
    }
    if (a && csrf) {
        snprintf(token, sizeof(token), "X-CSRF-Token: %s", a->csrf);
        headers[n++] = token;
    }
    headers[n++] = "Accept: application/json";
    headers[n] = NULL;
    return itest_request(srv, method, host, path, body ? "application/json" : NULL, body, headers,
                         NULL);
}

/* POSTs body (stolen; NULL = no body) on the bare domain with the session and its token. */
static struct itest_resp *apost(const struct admin_client *a, const char *path, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct itest_resp *r = areq(a, "POST", NULL, path, text, true);
    free(text);
    return r;
}

static void make_studio(const char *prefix, struct itest_studio *s)
{
    itest_name_studio(prefix, s);
    int status = itest_signup_studio(srv, s, PASSWORD);
    if (status != 201)
        fail_msg("signup of %s: %d", s->slug, status);
}

/* A staff user of s with the owner's password and role, made in its database: their id. */
static char *add_user(const struct itest_studio *s, const char *email, const char *role)
{
    char *id = itest_pg_value(s->db,
                              "INSERT INTO users (email, name, password_hash)"
                              " SELECT $1, 'Second Person', password_hash FROM users"
                              "  WHERE lower(email) = lower($2) RETURNING id",
                              email, s->email);
    assert_non_null(id);
    assert_int_equal(itest_pg_exec(s->db,
                                   "INSERT INTO user_roles (user_id, role_id)"
                                   " SELECT $1, id FROM roles WHERE name = $2",
                                   id, role),
                     0);
    return id;
}

/* The integer at a dotted path ("studios.trial"); fails when there is none. */
static json_int_t jint(json_t *j, const char *path)
{
    char key[64];
    const char *p = path;
    while (j && *p) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        j = json_object_get(j, key);
        p += n + (p[n] == '.');
    }
    if (!json_is_integer(j))
        fail_msg("no integer at %s", path);
    return json_integer_value(j);
}

static struct itest_resp *me(const char *host, struct itest_cookies *jar)
{
    return itest_request(srv, "GET", host, "/api/me", NULL, NULL, NULL, jar);
}

/* GET /api/me until it answers want (≤ SUSPEND_WAIT_MS: other processes cache a studio for
 * 5 s); the last status. */
static long poll_me(const char *host, struct itest_cookies *jar, long want)
{
    double deadline = itest_now_ms() + SUSPEND_WAIT_MS;
    for (;;) {
        struct itest_resp *r = me(host, jar);
        long st = r->status;
        itest_resp_free(r);
        if (st == want || itest_now_ms() > deadline)
            return st;
        itest_pause_ms(100);
    }
}

/* The token of the first "<studio_url>/invite/<token>" in text (free it), or NULL. */
static char *link_token(const char *text, const char *studio_url)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s/invite/", studio_url);
    const char *p = strstr(text, prefix);
    if (!p)
        return NULL;
    p += strlen(prefix);
    return strndup(p, strcspn(p, " \r\n"));
}

/* ---- command line ------------------------------------------------------------------------ */

static void test_cli_admin_create_prints_the_otpauth_uri_and_refuses_a_taken_email(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    make_admin("cli", &a); /* parses the URI and its 20-byte seed */
    char *seed =
        itest_pg_value(NULL, "SELECT totp_secret FROM platform_admins WHERE email = $1", a.email);
    assert_non_null(seed);
    assert_true(strncmp(seed, "plain:", 6) == 0 || strncmp(seed, "sb1:", 4) == 0);
    free(seed);
    char out[CLI_OUT];
    const char *argv[] = {
        "admin", "create", "--email", a.email, "--password", "another long password", NULL};
    assert_int_equal(itest_run_cli(argv, NULL, out, sizeof(out)), 3);
    const char *weak[] = {"admin",      "create", "--email", "weak@admins.example.com",
                          "--password", "short",  NULL};
    assert_int_equal(itest_run_cli(weak, NULL, out, sizeof(out)), 2);
}

/* ---- sign-in ----------------------------------------------------------------------------- */

static void test_login_with_a_wrong_password_is_401_invalid_credentials(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    make_admin("wrongpw", &a);
    char code[8];
    totp_now(&a, 0, code);
    struct itest_resp *r = login_as(&a, a.email, "not the password at all", code);
    itest_assert_error(r, 401, "invalid_credentials");
    assert_null(itest_header(r, "Set-Cookie"));
    itest_resp_free(r);
    /* The code was not used up by the failure: it still opens a session. */
    itest_expect_status(login_as(&a, a.email, ADMIN_PASSWORD, code), 200);
}

static void test_login_with_a_wrong_code_or_an_unknown_email_is_the_same_401(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    make_admin("wrongcode", &a);
    char code[8];
    totp_now(&a, 0, code);
    char wrong[8];
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    struct itest_resp *r1 = login_as(&a, a.email, ADMIN_PASSWORD, wrong);
    itest_assert_error(r1, 401, "invalid_credentials");
    char nobody[160];
    snprintf(nobody, sizeof(nobody), "nobody-%s", a.email); /* never made */
    struct itest_resp *r2 = login_as(&a, nobody, ADMIN_PASSWORD, code);
    itest_assert_error(r2, 401, "invalid_credentials");
    assert_string_equal(r1->body, r2->body); /* says nothing about which part was wrong */
    assert_string_equal(a.cookie, "");
    itest_resp_free(r1);
    itest_resp_free(r2);
}

static void test_a_replayed_code_is_refused_even_with_the_right_password(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    make_admin("replay", &a);
    char code[8], previous[8], next[8];
    totp_now(&a, 0, code);
    totp_now(&a, -1, previous);
    totp_now(&a, 1, next);
    itest_expect_status(login_as(&a, a.email, ADMIN_PASSWORD, code), 200);
    /* The same code again, and one of an earlier step: replays. */
    itest_expect_error(login_as(&a, a.email, ADMIN_PASSWORD, code), 401, "invalid_credentials");
    itest_expect_error(login_as(&a, a.email, ADMIN_PASSWORD, previous), 401, "invalid_credentials");
    /* The next step's code is new: accepted (clock drift of one step). */
    itest_expect_status(login_as(&a, a.email, ADMIN_PASSWORD, next), 200);
}

static void test_good_login_sets_a_strict_httponly_studiod_admin_cookie(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    make_admin("cookie", &a);
    char code[8];
    totp_now(&a, 0, code);
    struct itest_resp *r = login_as(&a, a.email, ADMIN_PASSWORD, code);
    assert_int_equal(r->status, 200);
    const char *c = itest_header(r, "Set-Cookie");
    assert_non_null(c);
    assert_true(strncmp(c, "studiod_admin=", 14) == 0);
    assert_non_null(strstr(c, "HttpOnly"));
    assert_non_null(strstr(c, "SameSite=Strict"));
    assert_non_null(strstr(c, "Path=/admin"));
    assert_non_null(strstr(c, "Max-Age=28800")); /* 8 hours */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "admin"), "email")), a.email);
    itest_resp_free(r);
    /* Only the token's hash is stored. */
    char *token = strdup(a.cookie + 14);
    char *stored =
        itest_pg_value(NULL, "SELECT count(*) FROM admin_sessions WHERE token_hash = $1", token);
    assert_string_equal(stored, "0");
    free(stored);
    free(token);
    r = areq(&a, "GET", NULL, "/admin/me", NULL, false);
    assert_int_equal(r->status, 200);
    assert_string_equal(json_string_value(json_object_get(r->json, "csrf_token")), a.csrf);
    itest_resp_free(r);
}

static void
test_sixth_login_after_five_failures_is_429_with_retry_after_even_when_right(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    make_admin("throttle", &a);
    char code[8];
    totp_now(&a, 0, code);
    for (int i = 0; i < ADMIN_MAX_ACCOUNT_FAILURES; i++) {
        struct itest_resp *r = login_as(&a, a.email, "wrong password number x", code);
        itest_assert_error(r, 401, "invalid_credentials");
        itest_resp_free(r);
    }
    struct itest_resp *r = login_as(&a, a.email, ADMIN_PASSWORD, code);
    itest_assert_error(r, 429, "too_many_attempts");
    const char *ra = itest_header(r, "Retry-After");
    assert_non_null(ra);
    assert_true(atoi(ra) > 0 && atoi(ra) <= ADMIN_FAILURE_WINDOW_MINUTES * 60);
    itest_resp_free(r);
}

static void test_logout_needs_the_csrf_token_and_then_ends_the_session(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("logout", &a);
    struct itest_resp *r = areq(&a, "POST", NULL, "/admin/logout", NULL, false);
    itest_assert_error(r, 403, "csrf_failed");
    itest_resp_free(r);
    r = apost(&a, "/admin/logout", NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(itest_header(r, "Set-Cookie"), "Max-Age=0"));
    itest_resp_free(r);
    itest_expect_error(areq(&a, "GET", NULL, "/admin/me", NULL, false), 401, "unauthenticated");
}

/* ---- separation from studios ------------------------------------------------------------- */

static void test_admin_and_staff_cookies_never_open_each_others_routes(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("separate", &a);
    struct itest_studio s;
    make_studio("separate", &s);
    struct itest_cookies staff = {0};
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, &staff, NULL), 200);

    /* Only the admin cookie, on a studio route: no staff session. */
    itest_expect_error(areq(&a, "GET", s.host, "/api/me", NULL, false), 401, "unauthenticated");
    /* Only the staff cookie, on an admin route. */
    const char *headers[] = {"Accept: application/json", NULL};
    itest_expect_error(
        itest_request(srv, "GET", NULL, "/admin/dashboard", NULL, NULL, headers, &staff), 401,
        "unauthenticated");
    /* The staff session's token is no admin token either. */
    struct admin_client forged = a;
    snprintf(forged.cookie, sizeof(forged.cookie), "studiod_admin=%s", staff.session);
    itest_expect_error(areq(&forged, "GET", NULL, "/admin/me", NULL, false), 401,
                       "unauthenticated");
}

static void test_admin_routes_answer_404_on_a_studio_host(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("onstudio", &a);
    struct itest_studio s;
    make_studio("onstudio", &s);
    const char *paths[] = {"/admin/dashboard", "/admin/studios", "/admin/login", "/admin/me", NULL};
    for (const char **p = paths; *p; p++) {
        struct itest_resp *r = areq(&a, "GET", s.host, *p, NULL, false);
        if (r->status != 404)
            fail_msg("GET %s on %s: %ld", *p, s.host, r->status);
        itest_resp_free(r);
    }
    struct itest_resp *r =
        areq(&a, "POST", s.host, "/admin/login",
             "{\"email\":\"x@y.z\",\"password\":\"p\",\"totp\":\"123456\"}", false);
    assert_int_equal(r->status, 404);
    itest_resp_free(r);
    char path[128];
    snprintf(path, sizeof(path), "/admin/studios/%s/suspend", s.slug);
    itest_expect_status(areq(&a, "POST", s.host, path, NULL, true), 404);
}

static void test_without_a_session_admin_routes_are_401_and_pages_go_to_the_login(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_resp *r = areq(NULL, "GET", NULL, "/admin/dashboard", NULL, false);
    itest_assert_error(r, 401, "unauthenticated");
    itest_resp_free(r);
    const char *html[] = {"Accept: text/html", NULL};
    r = itest_request(srv, "GET", NULL, "/admin/studios", NULL, NULL, html, NULL);
    assert_int_equal(r->status, 303);
    assert_string_equal(itest_header(r, "Location"), "/admin/login");
    itest_resp_free(r);
    r = itest_request(srv, "GET", NULL, "/admin/login", NULL, NULL, html, NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "name=\"totp\""));
    itest_resp_free(r);
}

static void test_unsafe_admin_requests_without_the_csrf_token_are_403(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("csrf", &a);
    struct itest_studio s;
    make_studio("csrf", &s);
    char path[128];
    snprintf(path, sizeof(path), "/admin/studios/%s/suspend", s.slug);
    itest_expect_error(areq(&a, "POST", NULL, path, NULL, false), 403, "csrf_failed");
    struct admin_client wrong = a;
    snprintf(wrong.csrf, sizeof(wrong.csrf), "%s", "not-the-token");
    itest_expect_error(areq(&wrong, "POST", NULL, path, NULL, true), 403, "csrf_failed");
    char *status = itest_pg_value(NULL, "SELECT status FROM organizations WHERE slug = $1", s.slug);
    assert_string_equal(status, "trial");
    free(status);
}

/* ---- dashboard --------------------------------------------------------------------------- */

static void test_dashboard_counts_a_studio_made_in_the_test_and_caches_for_60_s(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("dash", &a);
    struct itest_resp *before = areq(&a, "GET", NULL, "/admin/dashboard?refresh=1", NULL, false);
    assert_int_equal(before->status, 200);

    struct itest_studio s;
    make_studio("dash", &s);
    assert_int_equal(
        itest_pg_exec(s.db, "WITH r AS (INSERT INTO rooms (name) VALUES ('Room A') RETURNING id),"
                            "     c AS (INSERT INTO customers (name, email)"
                            "           VALUES ('Cleo', 'cleo@example.com') RETURNING id)"
                            " INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at,"
                            "                       hold, status, source, price_amount, currency,"
                            "                       manage_token_hash)"
                            " SELECT 'DASHTEST1', r.id, c.id, now() + interval '2 days',"
                            "        now() + interval '2 days 1 hour',"
                            "        tstzrange(now() + interval '2 days',"
                            "                  now() + interval '2 days 1 hour'),"
                            "        'confirmed', 'staff', 4000, 'EUR', 'x' FROM r, c"),
        0);

    struct itest_resp *after = areq(&a, "GET", NULL, "/admin/dashboard?refresh=1", NULL, false);
    assert_int_equal(after->status, 200);
    json_t *b = before->json, *f = after->json;
    assert_int_equal(jint(f, "studios.trial"), jint(b, "studios.trial") + 1);
    assert_int_equal(jint(f, "studios.total"), jint(b, "studios.total") + 1);
    assert_int_equal(jint(f, "staff_users"), jint(b, "staff_users") + 1); /* the owner */
    assert_int_equal(jint(f, "rooms"), jint(b, "rooms") + 1);
    assert_int_equal(jint(f, "bookings_this_month"), jint(b, "bookings_this_month") + 1);
    json_t *days = json_object_get(f, "bookings_per_day");
    assert_int_equal(json_array_size(days), 30);
    json_t *today = json_array_get(days, 29);
    char date[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    assert_string_equal(json_string_value(json_object_get(today, "date")), date);
    assert_int_equal(jint(today, "count"),
                     jint(json_array_get(json_object_get(b, "bookings_per_day"), 29), "count") + 1);
    assert_int_equal(jint(f, "max_age_seconds"), 60);
    assert_non_null(json_string_value(json_object_get(f, "generated_at")));
    json_t *rev = json_object_get(f, "revenue");
    assert_int_equal(jint(rev, "amount"), 0);
    assert_string_equal(json_string_value(json_object_get(rev, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(rev, "source")), "none");
    assert_int_equal(json_array_size(json_object_get(f, "studios_unreachable")), 0);

    /* Without ?refresh the figures come from memory: another new studio is not in them. */
    struct itest_studio s2;
    make_studio("dash2", &s2);
    struct itest_resp *cached = areq(&a, "GET", NULL, "/admin/dashboard", NULL, false);
    assert_int_equal(cached->status, 200);
    assert_string_equal(json_string_value(json_object_get(cached->json, "generated_at")),
                        json_string_value(json_object_get(f, "generated_at")));
    assert_int_equal(jint(cached->json, "studios.total"), jint(f, "studios.total"));
    itest_resp_free(cached);

    /* The page: the figures and the chart's place (drawn by /static/js/admin.js). */
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "Cookie: %s", a.cookie);
    const char *html[] = {"Accept: text/html", cookie, NULL};
    struct itest_resp *page =
        itest_request(srv, "GET", NULL, "/admin/dashboard", NULL, NULL, html, NULL);
    assert_int_equal(page->status, 200);
    assert_non_null(strstr(page->body, "id=\"bookings-chart\""));
    assert_non_null(strstr(page->body, "/static/js/admin.js"));
    assert_null(strstr(page->body, "<script>")); /* strict CSP: no inline scripts */
    itest_resp_free(page);
    itest_resp_free(before);
    itest_resp_free(after);
}

/* ---- studios ----------------------------------------------------------------------------- */

static void test_studio_search_finds_by_slug_and_status_and_escapes_wildcards(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("search", &a);
    struct itest_studio s;
    make_studio("search", &s);
    char path[256];
    snprintf(path, sizeof(path), "/admin/studios?q=%s&status=trial", s.slug);
    struct itest_resp *r = areq(&a, "GET", NULL, path, NULL, false);
    assert_int_equal(r->status, 200);
    assert_int_equal(jint(r->json, "total"), 1);
    json_t *first = json_array_get(json_object_get(r->json, "studios"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "slug")), s.slug);
    assert_string_equal(json_string_value(json_object_get(first, "owner_email")), s.email);
    itest_resp_free(r);
    snprintf(path, sizeof(path), "/admin/studios?q=%s&status=suspended", s.slug);
    r = areq(&a, "GET", NULL, path, NULL, false);
    assert_int_equal(jint(r->json, "total"), 0);
    itest_resp_free(r);
    r = areq(&a, "GET", NULL, "/admin/studios?q=%25", NULL, false); /* a literal % */
    assert_int_equal(jint(r->json, "total"), 0);
    itest_resp_free(r);
    r = areq(&a, "GET", NULL, "/admin/studios?status=bogus&limit=1000", NULL, false);
    itest_assert_error(r, 422, "invalid_input");
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    assert_non_null(json_object_get(fields, "status"));
    assert_non_null(json_object_get(fields, "limit"));
    itest_resp_free(r);
    itest_expect_error(areq(&a, "GET", NULL, "/admin/studios/no-such-studio-here", NULL, false),
                       404, "not_found");
}

static void test_suspend_closes_the_studio_host_and_reactivate_restores_it(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("suspend", &a);
    struct itest_studio s;
    make_studio("suspend", &s);
    struct itest_cookies staff = {0};
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, &staff, NULL), 200);
    assert_int_equal(poll_me(s.host, &staff, 200), 200);

    char path[128];
    snprintf(path, sizeof(path), "/admin/studios/%s/suspend", s.slug);
    struct itest_resp *r = apost(&a, path, json_pack("{s:s}", "reason", "unpaid invoices"));
    assert_int_equal(r->status, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "studio"), "status")),
        "suspended");
    itest_resp_free(r);
    assert_int_equal(poll_me(s.host, &staff, 403), 403);
    itest_expect_error(me(s.host, &staff), 403, "studio_suspended");
    itest_expect_error(apost(&a, path, NULL), 409, "already_suspended");

    snprintf(path, sizeof(path), "/admin/studios/%s/reactivate", s.slug);
    r = apost(&a, path, NULL);
    assert_int_equal(r->status, 200);
    /* Back to the status it had. */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "studio"), "status")), "trial");
    itest_resp_free(r);
    assert_int_equal(poll_me(s.host, &staff, 200), 200);
    itest_expect_error(apost(&a, path, NULL), 409, "not_suspended");
}

static void test_extend_trial_moves_trial_ends_at_by_the_days_given(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("extend", &a);
    struct itest_studio s;
    make_studio("extend", &s);
    char *old = itest_pg_value(NULL,
                               "SELECT to_char(trial_ends_at AT TIME ZONE 'UTC',"
                               " 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM organizations WHERE slug = $1",
                               s.slug);
    assert_non_null(old);
    char path[128];
    snprintf(path, sizeof(path), "/admin/studios/%s/extend-trial", s.slug);
    struct itest_resp *r = apost(&a, path, json_pack("{s:i}", "days", 10));
    assert_int_equal(r->status, 200);
    char now_ends[40];
    snprintf(
        now_ends, sizeof(now_ends), "%s",
        json_string_value(json_object_get(json_object_get(r->json, "studio"), "trial_ends_at")));
    assert_int_equal(itest_parse_utc(now_ends) - itest_parse_utc(old), 10 * 86400);
    itest_resp_free(r);
    free(old);
    /* The studio's own view (through its cache) says the same. */
    struct itest_cookies staff = {0};
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, &staff, NULL), 200);
    r = me(s.host, &staff);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "studio"), "trial_ends_at")),
        now_ends);
    itest_resp_free(r);

    const int bad[] = {0, 91, -3};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        itest_expect_error(apost(&a, path, json_pack("{s:i}", "days", bad[i])), 422,
                           "invalid_input");
    }
    itest_expect_error(apost(&a, path, json_pack("{s:s}", "days", "ten")), 422, "invalid_input");
    /* A paying studio has no trial to extend. */
    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE organizations SET status = 'active'"
                                   " WHERE slug = $1",
                                   s.slug),
                     0);
    itest_expect_error(apost(&a, path, json_pack("{s:i}", "days", 5)), 409, "not_in_trial");
}

/* ---- staff ------------------------------------------------------------------------------- */

static void test_staff_invite_makes_a_user_without_password_and_mails_a_link(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("invite", &a);
    struct itest_studio s;
    make_studio("invite", &s);
    char email[160], path[160];
    snprintf(email, sizeof(email), "new-%s@example.com", s.slug);
    snprintf(path, sizeof(path), "/admin/studios/%s/staff", s.slug);
    struct itest_resp *r =
        apost(&a, path,
              json_pack("{s:s, s:s, s:s}", "name", "Nina New", "email", email, "role", "manager"));
    assert_int_equal(r->status, 201);
    json_t *user = json_object_get(r->json, "user");
    assert_true(json_is_true(json_object_get(user, "invited")));
    char *id = strdup(json_string_value(json_object_get(user, "id")));
    itest_resp_free(r);

    char *hash = itest_pg_value(s.db,
                                "SELECT coalesce(password_hash, 'none') FROM users"
                                " WHERE id = $1",
                                id);
    assert_string_equal(hash, "none");
    free(hash);
    char *role = itest_pg_value(s.db,
                                "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
                                " WHERE ur.user_id = $1",
                                id);
    assert_string_equal(role, "manager");
    free(role);

    char *raw = NULL;
    assert_int_equal(itest_wait_mail(email, MAIL_WAIT_MS, &raw), 0);
    char *text = itest_mail_text(raw);
    char *token = link_token(text, s.url);
    if (!token)
        fail_msg("no %s/invite/ link in:\n%s", s.url, text);
    free(token);
    free(text);
    free(raw);

    /* The list shows them; a second invitation for the e-mail conflicts; roles are checked. */
    r = areq(&a, "GET", NULL, path, NULL, false);
    assert_int_equal(r->status, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "staff")), 2);
    itest_resp_free(r);
    itest_expect_error(
        apost(&a, path,
              json_pack("{s:s, s:s, s:s}", "name", "Nina Again", "email", email, "role", "viewer")),
        409, "email_taken");
    itest_expect_error(apost(&a, path,
                             json_pack("{s:s, s:s, s:s}", "name", "Nobody", "email",
                                       "nobody@example.com", "role", "no such role")),
                       422, "invalid_input");
    free(id);
}

static void test_staff_reset_password_mails_a_link_and_never_a_password(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("reset", &a);
    struct itest_studio s;
    make_studio("reset", &s);
    char email[160];
    snprintf(email, sizeof(email), "forgetful-%s@example.com", s.slug);
    char *id = add_user(&s, email, "manager");
    struct itest_cookies theirs = {0};
    assert_int_equal(itest_login(srv, s.slug, email, PASSWORD, &theirs, NULL), 200);

    char path[256];
    snprintf(path, sizeof(path), "/admin/studios/%s/staff/%s/reset-password", s.slug, id);
    struct itest_resp *r = apost(&a, path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "sent")));
    itest_resp_free(r);

    char *raw = NULL;
    assert_int_equal(itest_wait_mail(email, MAIL_WAIT_MS, &raw), 0);
    char *text = itest_mail_text(raw);
    assert_null(strstr(text, PASSWORD));
    char *token = link_token(text, s.url);
    if (!token)
        fail_msg("no %s/invite/ link in:\n%s", s.url, text);
    free(text);
    free(raw);
    /* Only the token's SHA-256 is stored; the old password and session stop working. */
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    char *n = itest_pg_value(s.db,
                             "SELECT count(*) FROM staff_invitations"
                             " WHERE user_id = $1 AND token_hash = $2 AND used_at IS NULL",
                             id, hex);
    assert_string_equal(n, "1");
    free(n);
    itest_expect_error(me(s.host, &theirs), 401, "unauthenticated");
    struct itest_cookies again = {0};
    assert_int_equal(itest_login(srv, s.slug, email, PASSWORD, &again, NULL), 401);

    /* The link works on the studio's set-password page; the new password signs in. */
    char invite[256];
    snprintf(invite, sizeof(invite), "/invite/%s", token);
    itest_expect_status(itest_request(srv, "POST", s.host, invite, "application/json",
                                      "{\"password\":\"a fresh long password\"}", NULL, NULL),
                        200);
    assert_int_equal(itest_login(srv, s.slug, email, "a fresh long password", &again, NULL), 200);
    free(token);

    snprintf(path, sizeof(path), "/admin/studios/%s/staff/not-a-uuid/reset-password", s.slug);
    itest_expect_error(apost(&a, path, NULL), 404, "not_found");
    free(id);
}

static void test_staff_deactivate_ends_their_sessions(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("deact", &a);
    struct itest_studio s;
    make_studio("deact", &s);
    char email[160];
    snprintf(email, sizeof(email), "leaving-%s@example.com", s.slug);
    char *id = add_user(&s, email, "front desk");
    struct itest_cookies theirs = {0};
    assert_int_equal(itest_login(srv, s.slug, email, PASSWORD, &theirs, NULL), 200);
    struct itest_resp *r = me(s.host, &theirs);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    char path[256];
    snprintf(path, sizeof(path), "/admin/studios/%s/staff/%s/deactivate", s.slug, id);
    r = apost(&a, path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(json_object_get(r->json, "user"), "active")));
    itest_resp_free(r);
    itest_expect_error(me(s.host, &theirs), 401, "unauthenticated");
    char *left = itest_pg_value(s.db, "SELECT count(*) FROM sessions WHERE user_id = $1", id);
    assert_string_equal(left, "0");
    free(left);
    itest_expect_error(apost(&a, path, NULL), 409, "already_inactive");

    /* The owner is the studio's last owner who can sign in: they stay. */
    char *owner =
        itest_pg_value(s.db, "SELECT id FROM users WHERE lower(email) = lower($1)", s.email);
    snprintf(path, sizeof(path), "/admin/studios/%s/staff/%s/deactivate", s.slug, owner);
    itest_expect_error(apost(&a, path, NULL), 409, "last_owner");
    free(owner);
    free(id);
}

/* ---- audit log --------------------------------------------------------------------------- */

/* SHA-256(prev || canonical) over every row, recomputed here from the documented format. */
static void verify_chain_independently(long long *rows)
{
    PGresult *res = itest_pg_query(
        NULL, "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
              "       admin_id::text, admin_email, action, target_studio, target_user,"
              "       before::text, after::text, ip, user_agent, request_id, prev_hash, hash"
              "  FROM admin_audit_log ORDER BY id");
    assert_non_null(res);
    char prev[65];
    memset(prev, '0', 64);
    prev[64] = '\0';
    for (int i = 0; i < PQntuples(res); i++) {
#define COL(c) (PQgetisnull(res, i, c) ? json_null() : json_string(PQgetvalue(res, i, c)))
#define JCOL(c)                                                                                    \
    (PQgetisnull(res, i, c) ? json_null()                                                          \
                            : json_loads(PQgetvalue(res, i, c), JSON_DECODE_ANY, NULL))
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(strtoll(PQgetvalue(res, i, 0), NULL, 10)));
        json_object_set_new(o, "at", COL(1));
        json_object_set_new(o, "actor_type",
                            json_string(PQgetisnull(res, i, 2) ? "system" : "admin"));
        json_object_set_new(o, "actor_id", COL(2));
        json_object_set_new(o, "actor_name", json_null());
        json_object_set_new(o, "actor_email", COL(3));
        json_object_set_new(o, "action", COL(4));
        json_object_set_new(o, "resource", COL(5));
        json_object_set_new(o, "resource_id", COL(6));
        json_object_set_new(o, "before", JCOL(7));
        json_object_set_new(o, "after", JCOL(8));
        json_object_set_new(o, "ip", COL(9));
        json_object_set_new(o, "user_agent", COL(10));
        json_object_set_new(o, "request_id", COL(11));
        json_object_set_new(o, "risk_level", json_string("none"));
        json_object_set_new(o, "risk_rules", json_array());
#undef COL
#undef JCOL
        char *canonical = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(o);
        assert_string_equal(PQgetvalue(res, i, 12), prev);
        crypto_hash_sha256_state st;
        unsigned char digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const unsigned char *)prev, strlen(prev));
        crypto_hash_sha256_update(&st, (const unsigned char *)canonical, strlen(canonical));
        crypto_hash_sha256_final(&st, digest);
        free(canonical);
        sodium_bin2hex(prev, sizeof(prev), digest, sizeof(digest));
        if (strcmp(prev, PQgetvalue(res, i, 13)) != 0)
            fail_msg("audit entry %s does not verify", PQgetvalue(res, i, 0));
    }
    *rows = PQntuples(res);
    PQclear(res);
}

static void test_every_admin_action_is_audited_and_the_hash_chain_verifies(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct admin_client a;
    sign_in("audit", &a);
    struct itest_studio s;
    make_studio("audit", &s);
    char email[160], path[256];
    snprintf(email, sizeof(email), "audited-%s@example.com", s.slug);
    char *id = add_user(&s, email, "viewer");

    const char *steps[][2] = {{"suspend", "studio.suspend"},
                              {"reactivate", "studio.reactivate"},
                              {"extend-trial", "studio.extend_trial"},
                              {"staff/%s/reset-password", "staff.reset_password"},
                              {"staff/%s/deactivate", "staff.deactivate"},
                              {"staff", "staff.invite"}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char tail[128];
        snprintf(tail, sizeof(tail), steps[i][0], id);
        snprintf(path, sizeof(path), "/admin/studios/%s/%s", s.slug, tail);
        json_t *body = NULL;
        if (strcmp(steps[i][0], "extend-trial") == 0)
            body = json_pack("{s:i}", "days", 3);
        else if (strcmp(steps[i][0], "staff") == 0)
            body = json_pack("{s:s, s:s, s:s}", "name", "Ivy", "email", "ivy@example.com", "role",
                             "viewer");
        struct itest_resp *r = apost(&a, path, body);
        if (r->status != 200 && r->status != 201)
            fail_msg("POST %s: %ld %s", path, r->status, r->body);
        itest_resp_free(r);
    }
    struct itest_resp *r = apost(&a, "/admin/logout", NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    /* Each action once, by this admin, with where it came from. */
    const char *expected[] = {"admin.login",         "studio.suspend",       "studio.reactivate",
                              "studio.extend_trial", "staff.reset_password", "staff.deactivate",
                              "staff.invite",        "admin.logout",         NULL};
    PGresult *res = itest_pg_query(NULL,
                                   "SELECT action, coalesce(target_studio, ''), admin_id,"
                                   "       ip IS NOT NULL AND request_id IS NOT NULL,"
                                   "       coalesce(before->>'status', ''),"
                                   "       coalesce(after->>'status', '')"
                                   "  FROM admin_audit_log WHERE admin_email = $1 ORDER BY id",
                                   a.email);
    assert_non_null(res);
    assert_int_equal(PQntuples(res), 8);
    for (int i = 0; expected[i]; i++) {
        assert_string_equal(PQgetvalue(res, i, 0), expected[i]);
        assert_string_equal(PQgetvalue(res, i, 3), "t");
        if (strncmp(expected[i], "admin.", 6) != 0)
            assert_string_equal(PQgetvalue(res, i, 1), s.slug);
    }
    assert_string_equal(PQgetvalue(res, 1, 4), "trial");
    assert_string_equal(PQgetvalue(res, 1, 5), "suspended");
    PQclear(res);
    char *target = itest_pg_value(NULL,
                                  "SELECT target_user FROM admin_audit_log"
                                  " WHERE admin_email = $1 AND action = 'staff.deactivate'",
                                  a.email);
    assert_string_equal(target, id);
    free(target);
    free(id);

    long long rows = 0;
    verify_chain_independently(&rows);
    assert_true(rows >= 8);

    /* The server's own check agrees (another admin: this one signed out). */
    struct admin_client b;
    sign_in("audit-check", &b);
    r = areq(&b, "GET", NULL, "/admin/audit/verify", NULL, false);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "ok")));
    assert_true(jint(r->json, "entries") >= rows); /* b's login came after */
    itest_resp_free(r);
    /* The log cannot be edited through SQL either. */
    PGresult *upd = itest_pg_query(NULL, "UPDATE admin_audit_log SET action = 'x' WHERE id = 1");
    assert_null(upd);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_admin_create_prints_the_otpauth_uri_and_refuses_a_taken_email),
        cmocka_unit_test(test_login_with_a_wrong_password_is_401_invalid_credentials),
        cmocka_unit_test(test_login_with_a_wrong_code_or_an_unknown_email_is_the_same_401),
        cmocka_unit_test(test_a_replayed_code_is_refused_even_with_the_right_password),
        cmocka_unit_test(test_good_login_sets_a_strict_httponly_studiod_admin_cookie),
        cmocka_unit_test(
            test_sixth_login_after_five_failures_is_429_with_retry_after_even_when_right),
        cmocka_unit_test(test_logout_needs_the_csrf_token_and_then_ends_the_session),
        cmocka_unit_test(test_admin_and_staff_cookies_never_open_each_others_routes),
        cmocka_unit_test(test_admin_routes_answer_404_on_a_studio_host),
        cmocka_unit_test(test_without_a_session_admin_routes_are_401_and_pages_go_to_the_login),
        cmocka_unit_test(test_unsafe_admin_requests_without_the_csrf_token_are_403),
        cmocka_unit_test(test_dashboard_counts_a_studio_made_in_the_test_and_caches_for_60_s),
        cmocka_unit_test(test_studio_search_finds_by_slug_and_status_and_escapes_wildcards),
        cmocka_unit_test(test_suspend_closes_the_studio_host_and_reactivate_restores_it),
        cmocka_unit_test(test_extend_trial_moves_trial_ends_at_by_the_days_given),
        cmocka_unit_test(test_staff_invite_makes_a_user_without_password_and_mails_a_link),
        cmocka_unit_test(test_staff_reset_password_mails_a_link_and_never_a_password),
        cmocka_unit_test(test_staff_deactivate_ends_their_sessions),
        cmocka_unit_test(test_every_admin_action_is_audited_and_the_hash_chain_verifies),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
