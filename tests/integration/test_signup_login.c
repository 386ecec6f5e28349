/*
 * test_signup_login.c — a new studio from sign-up to sign-out, against a real
 * studiod, PostgreSQL and SMTP sink: slug checks, sign-up over JSON and the
 * HTML form (the studio's own database and an argon2id owner), validation
 * naming each bad field, slug conflicts (also two at once), the welcome
 * mail, sign-in with a hardened cookie, /api/me, throttling, CSRF on
 * logout, sessions that do not cross studios, suspension, and the
 * `studiod tenant` command line.
 *
 * One studiod serves the suite; every test makes its own studio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest_harness.h"
#include "studiod/arena.h"
#include "studiod/parse.h"

#define PASSWORD "correct horse battery staple"
#define TRIAL_DAYS 14
#define MAIL_WAIT_MS 20000
#define SUSPEND_WAIT_MS 6500 /* studiod caches a studio for 5 s */
/* `tenant list` of every studio the suites made (about 120 bytes each). */
#define CLI_OUT (4 * 1024 * 1024)

static struct studiod_proc *const srv = &itest_server;

static void make_studio(const char *prefix, struct itest_studio *s);
static void make_signed_in_studio(const char *prefix, struct itest_studio *s,
                                  struct itest_cookies *jar, char *csrf);
static struct itest_resp *check_slug(const char *slug);
static struct itest_resp *post_json(const char *host, const char *path, json_t *body,
                                    struct itest_cookies *jar);
static struct itest_resp *login(const struct itest_studio *s, const char *email,
                                const char *password, struct itest_cookies *jar);
static struct itest_resp *me(const char *host, struct itest_cookies *jar);
static json_t *signup_body(const char *slug, const char *email);
static bool json_array_has(json_t *a, const char *s);
static void *race_signup(void *arg);

/* ---- helpers ----------------------------------------------------------------------------- */

/* A new studio, signed up by its owner. */
static void make_studio(const char *prefix, struct itest_studio *s)
{
    itest_name_studio(prefix, s);
    int status = itest_signup_studio(srv, s, PASSWORD);
    if (status != 201)
        fail_msg("signup of %s: %d", s->slug, status);
}

/* A new studio whose owner is signed in: the session in jar, the CSRF token in csrf if asked. */
static void make_signed_in_studio(const char *prefix, struct itest_studio *s,
                                  struct itest_cookies *jar, char *csrf)
{
    make_studio(prefix, s);
    assert_int_equal(itest_login(srv, s->slug, s->email, PASSWORD, jar, csrf), 200);
}

static struct itest_resp *check_slug(const char *slug)
{
    struct arena *a = arena_new(0);
    char *path = arena_printf(a, "/api/signup/check-slug?slug=%s", parse_percent_encode(a, slug));
    struct itest_resp *r = itest_request(srv, "GET", NULL, path, NULL, NULL, NULL, NULL);
    arena_free(a);
    return r;
}

/* POSTs body (stolen) as JSON. */
static struct itest_resp *post_json(const char *host, const char *path, json_t *body,
                                    struct itest_cookies *jar)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    assert_non_null(text);
    struct itest_resp *r =
        itest_request(srv, "POST", host, path, "application/json", text, NULL, jar);
    free(text);
    return r;
}

/* POST /login (JSON) at s's host. */
static struct itest_resp *login(const struct itest_studio *s, const char *email,
                                const char *password, struct itest_cookies *jar)
{
    return post_json(s->host, "/login",
                     json_pack("{s:s, s:s}", "email", email, "password", password), jar);
}

static struct itest_resp *me(const char *host, struct itest_cookies *jar)
{
    return itest_request(srv, "GET", host, "/api/me", NULL, NULL, NULL, jar);
}

static json_t *signup_body(const char *slug, const char *email)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "studio_name", "Blue Room Studio",
                     "slug", slug, "owner_name", "Ada Owner", "owner_email", email, "password",
                     PASSWORD, "timezone", "Europe/Paris", "currency", "EUR");
}

static bool json_array_has(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* ---- slugs ------------------------------------------------------------------------------- */

static void test_check_slug_says_a_good_unused_slug_is_available(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    char slug[64];
    itest_unique_slug("free", slug);
    struct itest_resp *r = check_slug(slug);
    assert_int_equal(r->status, 200);
    assert_non_null(r->json);
    assert_string_equal(json_string_value(json_object_get(r->json, "slug")), slug);
    assert_true(json_is_true(json_object_get(r->json, "available")));
    assert_false(json_is_string(json_object_get(r->json, "reason")));
    itest_resp_free(r);
}

static void test_check_slug_says_an_existing_studio_is_taken(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("taken", &s);
    struct itest_resp *r = check_slug(s.slug);
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(r->json, "available")));
    assert_string_equal(json_string_value(json_object_get(r->json, "reason")), "taken");
    itest_resp_free(r);
}

static void test_check_slug_refuses_reserved_and_malformed_slugs_with_a_reason(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    static const struct {
        const char *slug, *reason;
    } cases[] = {
        {"admin", "reserved"},
        {"-ab", "invalid_edge"},
        {"ab", "too_short"},
        {"A_b", "invalid_characters"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct itest_resp *r = check_slug(cases[i].slug);
        assert_int_equal(r->status, 200);
        if (!json_is_false(json_object_get(r->json, "available")))
            fail_msg("slug \"%s\" reported available: %s", cases[i].slug, r->body);
        const char *reason = json_string_value(json_object_get(r->json, "reason"));
        if (!reason || strcmp(reason, cases[i].reason) != 0)
            fail_msg("slug \"%s\": expected reason %s, got %s", cases[i].slug, cases[i].reason,
                     r->body);
        itest_resp_free(r);
    }
}

/* ---- sign-up ----------------------------------------------------------------------------- */

static void test_signup_creates_the_studio_with_its_own_database_and_an_argon2id_owner(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    char expected_url[160];
    itest_name_studio("new-studio", &s);
    struct itest_resp *r = post_json(NULL, "/signup", signup_body(s.slug, s.email), NULL);
    if (r->status != 201)
        fail_msg("signup: %ld %s", r->status, r->body);
    json_t *org = json_object_get(r->json, "organization");
    assert_true(json_is_object(org));
    assert_string_equal(json_string_value(json_object_get(org, "slug")), s.slug);
    assert_string_equal(json_string_value(json_object_get(org, "name")), "Blue Room Studio");
    assert_string_equal(json_string_value(json_object_get(org, "status")), "trial");
    assert_string_equal(json_string_value(json_object_get(org, "timezone")), "Europe/Paris");
    assert_string_equal(json_string_value(json_object_get(org, "currency")), "EUR");
    snprintf(expected_url, sizeof(expected_url), "http://%s.localhost:%d", s.slug, srv->port);
    assert_string_equal(json_string_value(json_object_get(r->json, "studio_url")), expected_url);

    const char *trial = json_string_value(json_object_get(r->json, "trial_ends_at"));
    assert_non_null(trial);
    double days = difftime(itest_parse_utc(trial), time(NULL)) / 86400.0;
    if (days < TRIAL_DAYS - 1 || days > TRIAL_DAYS + 1)
        fail_msg("trial ends %s, %.2f days from now (expected %d ± 1)", trial, days, TRIAL_DAYS);
    itest_resp_free(r);

    char *exists =
        itest_pg_value(NULL, "SELECT count(*) FROM pg_database WHERE datname = $1", s.db);
    assert_non_null(exists);
    assert_string_equal(exists, "1");
    free(exists);
    char *tables = itest_pg_value(s.db, "SELECT count(*) FROM information_schema.tables"
                                        " WHERE table_schema = 'public'"
                                        "   AND table_name IN ('users', 'sessions')");
    assert_non_null(tables);
    assert_string_equal(tables, "2");
    free(tables);
    char *hash = itest_pg_value(
        s.db, "SELECT password_hash FROM users WHERE lower(email) = lower($1)", s.email);
    assert_non_null(hash);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    assert_null(strstr(hash, PASSWORD));
    free(hash);
}

static void test_signup_rejects_each_bad_field_with_422_naming_that_field(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    static const struct {
        const char *field, *value, *why;
    } cases[] = {
        {"password", "short", "a short password"},
        {"password", NULL, "the e-mail address as password"}, /* NULL: the e-mail itself */
        {"timezone", "Mars/Olympus", "an unknown time zone"},
        {"currency", "XXX1", "a currency that is no ISO 4217 code"},
        {"owner_email", "not-an-email", "a malformed e-mail address"},
        {"slug", "-bad-", "a slug with hyphens at its edges"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct itest_studio s;
        itest_name_studio("invalid", &s);
        json_t *body = signup_body(s.slug, s.email);
        json_object_set_new(body, cases[i].field,
                            json_string(cases[i].value ? cases[i].value : s.email));
        struct itest_resp *r = post_json(NULL, "/signup", body, NULL);
        if (r->status != 422)
            fail_msg("signup with %s: expected 422, got %ld %s", cases[i].why, r->status, r->body);
        assert_string_equal(itest_error_code(r), "invalid_input");
        json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
        if (!json_is_string(json_object_get(fields, cases[i].field)) ||
            json_object_size(fields) != 1)
            fail_msg("signup with %s: expected error.fields to name only %s, got %s", cases[i].why,
                     cases[i].field, r->body);
        itest_resp_free(r);
        char *rows =
            itest_pg_value(NULL, "SELECT count(*) FROM organizations WHERE slug = $1", s.slug);
        assert_string_equal(rows, "0");
        free(rows);
    }
}

static void test_signup_of_a_taken_slug_is_409_slug_taken(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("dup", &s);
    char email[140];
    snprintf(email, sizeof(email), "second-%s", s.email);
    itest_expect_error(post_json(NULL, "/signup", signup_body(s.slug, email), NULL), 409,
                       "slug_taken");
}

struct race {
    pthread_barrier_t *start;
    const char *slug;
    char email[128];
    int status;
};

static void *race_signup(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(r->start);
    r->status = itest_signup(srv, r->slug, r->email, PASSWORD, NULL);
    return NULL;
}

static void test_two_concurrent_signups_for_one_slug_give_one_201_and_one_409(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    char slug[64];
    itest_unique_slug("race", slug);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct race a = {.start = &start, .slug = slug}, b = {.start = &start, .slug = slug};
    snprintf(a.email, sizeof(a.email), "a-%s@example.com", slug);
    snprintf(b.email, sizeof(b.email), "b-%s@example.com", slug);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_signup, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_signup, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    if (!((a.status == 201 && b.status == 409) || (a.status == 409 && b.status == 201)))
        fail_msg("concurrent signups answered %d and %d (expected one 201, one 409)", a.status,
                 b.status);
    char *rows = itest_pg_value(NULL, "SELECT count(*) FROM organizations WHERE slug = $1", slug);
    assert_string_equal(rows, "1");
    free(rows);
    char *status = itest_pg_value(NULL, "SELECT status FROM organizations WHERE slug = $1", slug);
    assert_string_equal(status, "trial");
    free(status);
}

static void
test_welcome_mail_reaches_the_owner_with_the_url_and_trial_end_but_no_password(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("welcome", &s);
    char *raw = NULL;
    if (itest_wait_mail(s.email, MAIL_WAIT_MS, &raw) != 0)
        fail_msg("no mail for %s in %s/new within %d ms", s.email, getenv("STUDIOD_TEST_MAILDIR"),
                 MAIL_WAIT_MS);
    char *text = itest_mail_text(raw);
    assert_true(s.url[0] != '\0');
    if (!strstr(text, s.url))
        fail_msg("the welcome mail does not give the studio's address %s:\n%s", s.url, text);
    assert_null(strstr(raw, PASSWORD));
    assert_null(strstr(text, PASSWORD));

    /* The trial end, as the studio's calendar reads it: "9 December 2026" or 2026-12-09. */
    char *trial =
        itest_pg_value(NULL, "SELECT trial_ends_at FROM organizations WHERE slug = $1", s.slug);
    assert_non_null(trial);
    char *dmy = itest_pg_value(NULL,
                               "SELECT to_char($1::timestamptz AT TIME ZONE 'Europe/Paris',"
                               "               'FMDD FMMonth YYYY')",
                               trial);
    char *mdy = itest_pg_value(NULL,
                               "SELECT to_char($1::timestamptz AT TIME ZONE 'Europe/Paris',"
                               "               'FMMonth FMDD, YYYY')",
                               trial);
    char *iso = itest_pg_value(NULL,
                               "SELECT to_char($1::timestamptz AT TIME ZONE 'Europe/Paris',"
                               "               'YYYY-MM-DD')",
                               trial);
    bool found = strstr(text, dmy) || strstr(text, mdy) || strstr(text, iso);
    char msg[600] = "";
    if (!found) {
        const char *at = strstr(text, "trial");
        snprintf(msg, sizeof(msg),
                 "the welcome mail does not give the trial end as %s, %s or %s; it says: "
                 "\"%.60s\"",
                 dmy, mdy, iso, at ? at : text);
    }
    free(dmy);
    free(mdy);
    free(iso);
    free(trial);
    free(text);
    free(raw);
    if (!found)
        fail_msg("%s", msg);
}

static void test_form_signup_redirects_303_to_the_success_page(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    itest_name_studio("form", &s);
    struct arena *a = arena_new(0);
    char *body =
        arena_printf(a,
                     "studio_name=Form+Studio&slug=%s&owner_name=Fay+Former&owner_email=%s"
                     "&password=correct+horse+battery+staple&timezone=Europe%%2FParis&currency=EUR",
                     s.slug, parse_percent_encode(a, s.email));
    struct itest_resp *r = itest_request(srv, "POST", NULL, "/signup",
                                         "application/x-www-form-urlencoded", body, NULL, NULL);
    arena_free(a);
    if (r->status != 303)
        fail_msg("form signup: expected 303, got %ld", r->status);
    char expected[128];
    snprintf(expected, sizeof(expected), "/signup/success?slug=%s", s.slug);
    const char *location = itest_header(r, "Location");
    assert_non_null(location);
    assert_string_equal(location, expected);
    itest_resp_free(r);

    r = itest_request(srv, "GET", NULL, expected, NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(itest_header(r, "Content-Type"), "text/html"));
    char url[160];
    snprintf(url, sizeof(url), "http://%s.localhost:%d", s.slug, srv->port);
    assert_non_null(strstr(r->body, url));
    itest_resp_free(r);
}

/* ---- sign-in ----------------------------------------------------------------------------- */

static void test_login_sets_an_httponly_samesite_lax_cookie_and_returns_a_csrf_token(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("login", &s);
    struct itest_cookies jar = {0};
    struct itest_resp *r = login(&s, s.email, PASSWORD, &jar);
    if (r->status != 200)
        fail_msg("login: %ld %s", r->status, r->body);
    const char *csrf = json_string_value(json_object_get(r->json, "csrf_token"));
    assert_non_null(csrf);
    assert_true(strlen(csrf) >= 16);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r->json, "user"), "email")), s.email);
    const char *cookie = itest_header(r, "Set-Cookie");
    assert_non_null(cookie);
    assert_true(strncmp(cookie, "studiod_session=", 16) == 0);
    assert_non_null(strstr(cookie, "HttpOnly"));
    assert_non_null(strstr(cookie, "SameSite=Lax"));
    assert_true(strlen(jar.session) >= 16);
    itest_resp_free(r);
}

static void test_api_me_shows_the_user_the_studio_the_owner_role_and_the_csrf_token(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128];
    make_signed_in_studio("me", &s, &jar, csrf);
    struct itest_resp *r = me(s.host, &jar);
    if (r->status != 200)
        fail_msg("/api/me: %ld %s", r->status, r->body);
    json_t *user = json_object_get(r->json, "user");
    char owner[128];
    snprintf(owner, sizeof(owner), "Owner %s", s.slug);
    assert_string_equal(json_string_value(json_object_get(user, "name")), owner);
    assert_string_equal(json_string_value(json_object_get(user, "email")), s.email);
    json_t *studio = json_object_get(r->json, "studio");
    assert_string_equal(json_string_value(json_object_get(studio, "slug")), s.slug);
    assert_true(json_array_has(json_object_get(r->json, "roles"), "owner"));
    assert_string_equal(json_string_value(json_object_get(r->json, "csrf_token")), csrf);
    itest_resp_free(r);

    /* without the cookie: who are you? */
    itest_expect_error(me(s.host, NULL), 401, "unauthenticated");
}

static void test_wrong_password_and_unknown_email_get_the_same_401(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("badpass", &s);
    struct itest_resp *wrong = login(&s, s.email, "not the password at all", NULL);
    itest_assert_error(wrong, 401, "invalid_credentials");
    assert_null(itest_header(wrong, "Set-Cookie"));
    struct itest_resp *unknown = login(&s, "nobody-here@example.com", PASSWORD, NULL);
    itest_assert_error(unknown, 401, "invalid_credentials");
    /* nothing tells an attacker which accounts exist */
    assert_string_equal(wrong->body, unknown->body);
    itest_resp_free(wrong);
    itest_resp_free(unknown);
}

static void
test_sixth_login_after_five_failures_is_429_with_retry_after_even_when_right(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("throttle", &s);
    for (int i = 1; i <= 5; i++) {
        struct itest_resp *r = login(&s, s.email, "guess number something", NULL);
        if (r->status != 401)
            fail_msg("failed login %d: expected 401, got %ld %s", i, r->status, r->body);
        itest_resp_free(r);
    }
    struct itest_cookies jar = {0};
    struct itest_resp *r = login(&s, s.email, PASSWORD, &jar);
    assert_int_equal(r->status, 429);
    assert_non_null(itest_error_code(r));
    const char *retry = itest_header(r, "Retry-After");
    assert_non_null(retry);
    int secs = atoi(retry);
    if (secs < 1 || secs > 15 * 60)
        fail_msg("Retry-After: %s (expected 1..900 seconds)", retry);
    assert_string_equal(jar.session, "");
    itest_resp_free(r);
}

static void test_logout_needs_the_csrf_token_and_then_ends_the_session(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    char csrf[128];
    make_signed_in_studio("logout", &s, &jar, csrf);
    struct itest_cookies stolen = jar; /* what an attacker who copied the cookie holds */

    struct itest_resp *r = itest_request(srv, "POST", s.host, "/logout", NULL, NULL, NULL, &jar);
    itest_assert_error(r, 403, "csrf_failed");
    itest_resp_free(r);
    const char *wrong[] = {"X-CSRF-Token: not-the-token", NULL};
    itest_expect_error(itest_request(srv, "POST", s.host, "/logout", NULL, NULL, wrong, &jar), 403,
                       "csrf_failed");
    r = me(s.host, &jar);
    assert_int_equal(r->status, 200); /* still signed in */
    itest_resp_free(r);

    char hdr[160];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", csrf);
    const char *right[] = {hdr, NULL};
    r = itest_request(srv, "POST", s.host, "/logout", NULL, NULL, right, &jar);
    if (r->status != 200)
        fail_msg("logout with the CSRF token: %ld %s", r->status, r->body);
    itest_resp_free(r);
    assert_string_equal(jar.session, ""); /* the browser is told to drop the cookie */

    r = me(s.host, &stolen); /* and the server forgot the session */
    itest_assert_error(r, 401, "unauthenticated");
    itest_resp_free(r);
}

static void test_a_session_of_one_studio_is_worthless_at_another(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio a, b;
    make_studio("tenant-a", &a);
    make_studio("tenant-b", &b);
    struct itest_cookies jar = {0};
    assert_int_equal(itest_login(srv, a.slug, a.email, PASSWORD, &jar, NULL), 200);
    itest_expect_error(me(b.host, &jar), 401, "unauthenticated");
    itest_expect_status(me(a.host, &jar), 200);
}

static void test_a_suspended_studio_answers_403_studio_suspended(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    struct itest_cookies jar = {0};
    make_signed_in_studio("suspend", &s, &jar, NULL);
    struct itest_resp *r = me(s.host, &jar);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    assert_int_equal(itest_pg_exec(NULL,
                                   "UPDATE organizations SET status = 'suspended',"
                                   "       suspended_at = now() WHERE slug = $1",
                                   s.slug),
                     0);
    /* Another process (here: the test) suspended it: this studiod sees it within its
     * 5-second cache. */
    double deadline = itest_now_ms() + SUSPEND_WAIT_MS;
    for (;;) {
        r = me(s.host, &jar);
        if (r->status != 200 || itest_now_ms() > deadline)
            break;
        itest_resp_free(r);
        itest_pause_ms(100);
    }
    itest_assert_error(r, 403, "studio_suspended");
    itest_resp_free(r);
    itest_expect_error(login(&s, s.email, PASSWORD, NULL), 403, "studio_suspended");
}

/* ---- command line ------------------------------------------------------------------------ */

static void test_cli_tenant_list_shows_the_studio(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("listed", &s);
    char *out = malloc(CLI_OUT);
    assert_non_null(out);
    const char *argv[] = {"tenant", "list", NULL};
    int st = itest_run_cli(argv, NULL, out, CLI_OUT);
    assert_int_equal(st, 0);
    if (!strstr(out, s.slug))
        fail_msg("`studiod tenant list` does not show %s:\n%s", s.slug, out);
    free(out);
}

static void test_cli_tenant_create_for_an_existing_slug_exits_3_and_changes_nothing(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct itest_studio s;
    make_studio("cli-dup", &s);
    char out[4096];
    const char *argv[] = {"tenant",
                          "create",
                          "--slug",
                          s.slug,
                          "--name",
                          "Impostor",
                          "--owner-email",
                          "impostor@example.com",
                          "--password",
                          "another long password",
                          NULL};
    assert_int_equal(itest_run_cli(argv, NULL, out, sizeof(out)), 3);
    char *name = itest_pg_value(NULL, "SELECT name FROM organizations WHERE slug = $1", s.slug);
    char expected[128];
    snprintf(expected, sizeof(expected), "Studio %s", s.slug);
    assert_string_equal(name, expected);
    free(name);
    /* the owner can still sign in with their own password */
    assert_int_equal(itest_login(srv, s.slug, s.email, PASSWORD, NULL, NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_slug_says_a_good_unused_slug_is_available),
        cmocka_unit_test(test_check_slug_says_an_existing_studio_is_taken),
        cmocka_unit_test(test_check_slug_refuses_reserved_and_malformed_slugs_with_a_reason),
        cmocka_unit_test(
            test_signup_creates_the_studio_with_its_own_database_and_an_argon2id_owner),
        cmocka_unit_test(test_signup_rejects_each_bad_field_with_422_naming_that_field),
        cmocka_unit_test(test_signup_of_a_taken_slug_is_409_slug_taken),
        cmocka_unit_test(test_two_concurrent_signups_for_one_slug_give_one_201_and_one_409),
        cmocka_unit_test(
            test_welcome_mail_reaches_the_owner_with_the_url_and_trial_end_but_no_password),
        cmocka_unit_test(test_form_signup_redirects_303_to_the_success_page),
        cmocka_unit_test(test_login_sets_an_httponly_samesite_lax_cookie_and_returns_a_csrf_token),
        cmocka_unit_test(test_api_me_shows_the_user_the_studio_the_owner_role_and_the_csrf_token),
        cmocka_unit_test(test_wrong_password_and_unknown_email_get_the_same_401),
        cmocka_unit_test(
            test_sixth_login_after_five_failures_is_429_with_retry_after_even_when_right),
        cmocka_unit_test(test_logout_needs_the_csrf_token_and_then_ends_the_session),
        cmocka_unit_test(test_a_session_of_one_studio_is_worthless_at_another),
        cmocka_unit_test(test_a_suspended_studio_answers_403_studio_suspended),
        cmocka_unit_test(test_cli_tenant_list_shows_the_studio),
        cmocka_unit_test(test_cli_tenant_create_for_an_existing_slug_exits_3_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
