/*
 * test_staff.c — a studio's team, against a real studiod, PostgreSQL and
 * SMTP sink: inviting someone by e-mail (the mail carries a one-time link and
 * never a password; only the token's SHA-256 is stored), the link's page and
 * its form, the password rules, signing in afterwards, a link that is used,
 * expired or replaced by a re-sent one, a taken e-mail; deactivation (which
 * ends sessions at once and blocks sign-in) and reactivation; removal, which
 * deactivates instead when the user has history; the last owner and oneself
 * never taken out; a manager granting no more than they hold and unable to
 * take an owner out; every 4xx the API promises (400, 401, 403, 404, 409, 410,
 * 415, 422); one studio's owner neither seeing nor touching another's team;
 * the team page. The last tests call the module's contract (staff.h)
 * directly, for what an owner-only HTTP API cannot reach until RBAC lands.
 *
 * One studiod serves the suite; every test makes its own studio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest_harness.h"
#include "studiod/crypto.h"
#include "studiod/db.h"
#include "studiod/staff.h"

#define PASSWORD "correct horse battery staple"
#define NEW_PASSWORD "a long enough new password"
#define UNKNOWN_ID "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c10"
#define UNKNOWN_TOKEN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define MAIL_WAIT_MS 20000
#define TOKEN_MAX 128

/* A studio made for one test, with its owner signed in. */
struct studio {
    struct itest_studio s;
    char csrf[128];
    char csrf_header[160];
    struct itest_cookies jar;
    char owner_id[40];
};

/* Someone invited into a studio, and what they need to join and sign in. */
struct member {
    char id[40];
    char email[160];
    char token[TOKEN_MAX];
    char path[TOKEN_MAX + 16]; /* /invite/<token> */
    struct itest_cookies jar;
    char csrf_header[160];
};

static void make_studio(const char *prefix, struct studio *s);
static struct itest_resp *api(struct studio *s, const char *method, const char *path,
                              const char *body);
static struct itest_resp *api_json(struct studio *s, const char *method, const char *path,
                                   json_t *body);
static struct itest_resp *as_member(struct studio *s, struct member *m, const char *method,
                                    const char *path, const char *body);
static struct itest_resp *page(struct studio *s, const char *path);
static struct itest_resp *set_password(struct studio *s, const char *path, const char *password);
static void invite(struct studio *s, const char *local, const char *role, struct member *m);
static void join(struct studio *s, struct member *m);
static void sign_in(struct studio *s, struct member *m);
static char *role_id(struct studio *s, const char *name);
static int find_link(const char *to, const char *url, const char *exclude, char *token);
static void wait_link(const char *to, const char *url, const char *exclude, char *token);
static void take_link(struct studio *s, struct member *m);
static void assert_bad_field(struct itest_resp *r, const char *field);
static json_t *find_member(json_t *list, const char *id);
static json_t *list_member(struct studio *s, const char *id);
static char *member_path(const char *id, const char *suffix);
static long long count(struct studio *s, const char *sql, const char *arg);

/* ---- helpers ----------------------------------------------------------------------------- */

static void make_studio(const char *prefix, struct studio *s)
{
    memset(s, 0, sizeof(*s));
    itest_open_studio(&itest_server, prefix, &s->s, PASSWORD, &s->jar, s->csrf);
    snprintf(s->csrf_header, sizeof(s->csrf_header), "X-CSRF-Token: %s", s->csrf);
    itest_user_id(&s->s, s->s.email, s->owner_id);
}

/* A request as the signed-in owner, with the CSRF token; body (if any) as JSON. */
static struct itest_resp *api(struct studio *s, const char *method, const char *path,
                              const char *body)
{
    return itest_staff_send(&itest_server, method, s->s.host, path, body, &s->jar, s->csrf);
}

/* api() with a JSON body (stolen). */
static struct itest_resp *api_json(struct studio *s, const char *method, const char *path,
                                   json_t *body)
{
    return itest_staff_request(&itest_server, method, s->s.host, path, body, &s->jar, s->csrf);
}

/* A request as a signed-in member of s. */
static struct itest_resp *as_member(struct studio *s, struct member *m, const char *method,
                                    const char *path, const char *body)
{
    const char *headers[] = {m->csrf_header, NULL};
    return itest_request(&itest_server, method, s->s.host, path, body ? "application/json" : NULL,
                         body, headers, &m->jar);
}

/* A browser's GET, without a session. */
static struct itest_resp *page(struct studio *s, const char *path)
{
    const char *headers[] = {"Accept: text/html,application/xhtml+xml", NULL};
    return itest_request(&itest_server, "GET", s->s.host, path, NULL, NULL, headers, NULL);
}

/* POST /invite/<token> as JSON {"password"}, without a session. */
static struct itest_resp *set_password(struct studio *s, const char *path, const char *password)
{
    json_t *j = json_pack("{s:s}", "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct itest_resp *r =
        itest_request(&itest_server, "POST", s->s.host, path, "application/json", body, NULL, NULL);
    free(body);
    return r;
}

/* Invites <local>-<slug>@example.com ("role" by name, or NULL) and picks the link up from
 * the e-mail. */
static void invite(struct studio *s, const char *local, const char *role, struct member *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->email, sizeof(m->email), "%s-%s@example.com", local, s->s.slug);
    json_t *body = json_pack("{s:s, s:s}", "name", local, "email", m->email);
    char *rid = role ? role_id(s, role) : NULL;
    if (rid)
        json_object_set_new(body, "role_id", json_string(rid));
    free(rid);
    struct itest_resp *r = api_json(s, "POST", "/api/staff", body);
    if (r->status != 201)
        fail_msg("invite %s: %ld %s", m->email, r->status, r->body);
    snprintf(m->id, sizeof(m->id), "%s", itest_json_str(r->json, "id"));
    itest_resp_free(r);
    take_link(s, m);
}

/* The member's invitation link, from the mail: a new one when they had one already. */
static void take_link(struct studio *s, struct member *m)
{
    char old[TOKEN_MAX];
    snprintf(old, sizeof(old), "%s", m->token);
    wait_link(m->email, s->s.url, old[0] ? old : NULL, m->token);
    snprintf(m->path, sizeof(m->path), "/invite/%s", m->token);
}

/* Sets the member's password with their link. */
static void join(struct studio *s, struct member *m)
{
    struct itest_resp *r = set_password(s, m->path, NEW_PASSWORD);
    if (r->status != 200)
        fail_msg("joining with %s: %ld %s", m->path, r->status, r->body);
    itest_resp_free(r);
}

static void sign_in(struct studio *s, struct member *m)
{
    char csrf[128];
    int status = itest_login(&itest_server, s->s.slug, m->email, NEW_PASSWORD, &m->jar, csrf);
    if (status != 200)
        fail_msg("%s signing in: %d", m->email, status);
    snprintf(m->csrf_header, sizeof(m->csrf_header), "X-CSRF-Token: %s", csrf);
}

/* A built-in role's id (free it). */
static char *role_id(struct studio *s, const char *name)
{
    char *id = itest_pg_value(s->s.db, "SELECT id FROM roles WHERE name = $1", name);
    assert_non_null(id);
    return id;
}

/* Looks once through the sink for a mail to `to` holding "<url>/invite/<token>" with a
 * token other than exclude: 0 with the token, or -1. The mail must hold no password. */
static int find_link(const char *to, const char *url, const char *exclude, char *token)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/new", getenv("STUDIOD_TEST_MAILDIR"));
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s/invite/", url);
    int found = -1;
    struct dirent *e;
    while (found != 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        char raw[65536];
        size_t n = fread(raw, 1, sizeof(raw) - 1, f);
        fclose(f);
        raw[n] = '\0';
        char *text = itest_mail_text(raw);
        const char *head_end =
            strstr(text, "\n\n") ? strstr(text, "\n\n") : strstr(text, "\r\n\r\n");
        const char *to_at = strcasestr(text, to);
        const char *link = strstr(text, prefix);
        if (to_at && head_end && to_at < head_end && link) {
            const char *t = link + strlen(prefix);
            size_t len = 0;
            while (len < TOKEN_MAX - 1 &&
                   (isalnum((unsigned char)t[len]) || t[len] == '-' || t[len] == '_'))
                len++;
            if (!exclude || strlen(exclude) != len || strncmp(exclude, t, len) != 0) {
                snprintf(token, TOKEN_MAX, "%.*s", (int)len, t);
                assert_null(strcasestr(text, "password:"));
                assert_null(strstr(text, "$argon2"));
                assert_null(strstr(text, NEW_PASSWORD));
                found = 0;
            }
        }
        free(text);
    }
    closedir(d);
    return found;
}

/* find_link, waiting up to MAIL_WAIT_MS for the mail to be sent. */
static void wait_link(const char *to, const char *url, const char *exclude, char *token)
{
    double deadline = itest_now_ms() + MAIL_WAIT_MS;
    while (find_link(to, url, exclude, token) != 0) {
        if (itest_now_ms() > deadline)
            fail_msg("no invitation mail to %s with a new link under %s/invite/", to, url);
        itest_pause_ms(100);
    }
}

/* A 422 invalid_input whose error.fields names field; r is freed. */
static void assert_bad_field(struct itest_resp *r, const char *field)
{
    itest_assert_field(r, field);
    itest_resp_free(r);
}

static json_t *find_member(json_t *list, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        if (strcmp(itest_json_str(m, "id"), id) == 0)
            return m;
    }
    return NULL;
}

/* The member with id in GET /api/staff (a new reference, or NULL when not listed). */
static json_t *list_member(struct studio *s, const char *id)
{
    struct itest_resp *r = api(s, "GET", "/api/staff", NULL);
    assert_int_equal(r->status, 200);
    json_t *m = find_member(json_object_get(r->json, "staff"), id);
    if (m)
        json_incref(m);
    itest_resp_free(r);
    return m;
}

/* "/api/staff/<id><suffix>" (free it). */
static char *member_path(const char *id, const char *suffix)
{
    char *p = malloc(128);
    assert_non_null(p);
    snprintf(p, 128, "/api/staff/%s%s", id, suffix);
    return p;
}

/* The single count(*) of sql with one parameter, in the studio's database. */
static long long count(struct studio *s, const char *sql, const char *arg)
{
    char *v = itest_pg_value(s->s.db, sql, arg);
    assert_non_null(v);
    long long n = atoll(v);
    free(v);
    return n;
}

static int group_setup(void **state)
{
    if (itest_suite_setup(state) != 0)
        return -1;
    if (itest_missing_env)
        return 0;
    if (crypto_init() != 0)
        return -1;
    return db_init(getenv("STUDIOD_DATABASE_URL"), 2, 4, 2000, 0);
}

static int group_teardown(void **state)
{
    if (!itest_missing_env)
        db_shutdown();
    return itest_suite_teardown(state);
}

/* ---- inviting and joining ---------------------------------------------------------------- */

static void test_an_invitation_mails_a_one_time_link_and_never_a_password(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stinv", &s);
    char email[160];
    snprintf(email, sizeof(email), "ada-%s@example.com", s.s.slug);
    char *front = role_id(&s, "front desk");
    struct itest_resp *r = api_json(
        &s, "POST", "/api/staff",
        json_pack("{s:s, s:s, s:s}", "name", "  Ada Lovelace ", "email", email, "role_id", front));
    if (r->status != 201)
        fail_msg("invite: %ld %s", r->status, r->body);
    json_t *m = r->json;
    char id[40];
    snprintf(id, sizeof(id), "%s", itest_json_str(m, "id"));
    char *location = member_path(id, "");
    assert_string_equal(itest_header(r, "Location"), location);
    assert_string_equal(itest_json_str(m, "name"), "Ada Lovelace");
    assert_string_equal(itest_json_str(m, "email"), email);
    assert_true(json_is_true(json_object_get(m, "active")));
    assert_true(json_is_true(json_object_get(m, "invited")));
    assert_true(json_is_true(json_object_get(m, "invitation_sent")));
    assert_true(json_is_null(json_object_get(m, "last_login_at")));
    assert_true(json_is_string(json_object_get(m, "invitation_expires_at")));
    json_t *roles = json_object_get(m, "roles");
    assert_int_equal(json_array_size(roles), 1);
    assert_string_equal(itest_json_str(json_array_get(roles, 0), "name"), "front desk");
    assert_string_equal(itest_json_str(json_array_get(roles, 0), "id"), front);
    assert_true(json_is_null(json_object_get(json_array_get(roles, 0), "expires_at")));
    itest_resp_free(r);

    /* No password until they choose one; the invitation lasts 7 days. */
    assert_int_equal(
        count(&s, "SELECT count(*) FROM users WHERE id = $1 AND password_hash IS NULL", id), 1);
    assert_int_equal(count(&s,
                           "SELECT count(*) FROM staff_invitations WHERE user_id = $1"
                           "   AND used_at IS NULL"
                           "   AND expires_at BETWEEN now() + interval '6 days 23 hours'"
                           "                      AND now() + interval '7 days 1 minute'",
                           id),
                     1);

    /* The mail carries the link; the database only the token's SHA-256. */
    char *raw = NULL;
    if (itest_wait_mail(email, MAIL_WAIT_MS, &raw) != 0)
        fail_msg("no invitation mail for %s", email);
    free(raw);
    char token[TOKEN_MAX], path[TOKEN_MAX + 16];
    wait_link(email, s.s.url, NULL, token);
    assert_true(strlen(token) >= 43);
    snprintf(path, sizeof(path), "/invite/%s", token);
    assert_int_equal(count(&s,
                           "SELECT count(*) FROM staff_invitations"
                           " WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                           token),
                     1);
    assert_int_equal(count(&s,
                           "SELECT count(*) FROM staff_invitations"
                           " WHERE position($1 IN token_hash) > 0",
                           token),
                     0);

    /* The link shows the form. */
    r = page(&s, path);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "Set your password"));
    assert_non_null(strstr(r->body, email));
    char action[TOKEN_MAX + 32];
    snprintf(action, sizeof(action), "action=\"%s\"", path);
    assert_non_null(strstr(r->body, action));
    assert_non_null(strstr(r->body, "type=\"password\""));
    itest_resp_free(r);

    /* The password rules, each naming the field; nothing is used up by a refusal. */
    assert_bad_field(set_password(&s, path, "short"), "password");
    assert_bad_field(set_password(&s, path, email), "password");
    struct itest_resp *nothing =
        itest_request(&itest_server, "POST", s.s.host, path, "application/json", "{}", NULL, NULL);
    assert_bad_field(nothing, "password");

    r = set_password(&s, path, NEW_PASSWORD);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "ok")));
    itest_resp_free(r);

    /* They can sign in, and /api/me shows them with their role. */
    struct member ada;
    memset(&ada, 0, sizeof(ada));
    snprintf(ada.email, sizeof(ada.email), "%s", email);
    sign_in(&s, &ada);
    r = as_member(&s, &ada, "GET", "/api/me", NULL);
    assert_int_equal(r->status, 200);
    json_t *user = json_object_get(r->json, "user");
    assert_string_equal(itest_json_str(user, "id"), id);
    assert_string_equal(itest_json_str(user, "email"), email);
    assert_string_equal(itest_json_str(user, "name"), "Ada Lovelace");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r->json, "roles"), 0)),
                        "front desk");
    itest_resp_free(r);

    /* The link works once. */
    itest_expect_error(set_password(&s, path, "another long password"), 410, "invitation_used");
    r = page(&s, path);
    assert_int_equal(r->status, 410);
    assert_non_null(strstr(r->body, "has been used"));
    itest_resp_free(r);
    assert_int_equal(
        itest_login(&itest_server, s.s.slug, email, "another long password", NULL, NULL), 401);

    json_t *listed = list_member(&s, id);
    assert_non_null(listed);
    assert_true(json_is_false(json_object_get(listed, "invited")));
    assert_true(json_is_string(json_object_get(listed, "last_login_at")));
    assert_true(json_is_null(json_object_get(listed, "invitation_expires_at")));
    json_decref(listed);
    free(location);
    free(front);
}

static void test_the_invitation_form_sets_the_password_and_sends_the_browser_to_login(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stform", &s);
    struct member m;
    invite(&s, "grace", NULL, &m);
    const char *headers[] = {"Accept: text/html", NULL};

    struct itest_resp *r =
        itest_request(&itest_server, "POST", s.s.host, m.path, "application/x-www-form-urlencoded",
                      "password=short&password_confirm=short", headers, NULL);
    assert_int_equal(r->status, 422);
    assert_non_null(strstr(r->body, "At least 10 characters"));
    assert_non_null(strstr(r->body, "Set your password"));
    itest_resp_free(r);

    r = itest_request(&itest_server, "POST", s.s.host, m.path, "application/x-www-form-urlencoded",
                      "password=long+enough+one&password_confirm=long+enough+two", headers, NULL);
    assert_int_equal(r->status, 422);
    assert_non_null(strstr(r->body, "The two passwords differ"));
    itest_resp_free(r);

    r = itest_request(&itest_server, "POST", s.s.host, m.path, "application/x-www-form-urlencoded",
                      "password=a+long+enough+new+password&password_confirm=a+long+enough+new+"
                      "password",
                      headers, NULL);
    assert_int_equal(r->status, 303);
    assert_non_null(itest_header(r, "Location"));
    assert_int_equal(strncmp(itest_header(r, "Location"), "/login", 6), 0);
    itest_resp_free(r);
    sign_in(&s, &m);

    /* Used: the form now explains instead. */
    r = itest_request(&itest_server, "POST", s.s.host, m.path, "application/x-www-form-urlencoded",
                      "password=yet+another+password", headers, NULL);
    assert_int_equal(r->status, 410);
    assert_non_null(strstr(r->body, "has been used"));
    itest_resp_free(r);
}

static void test_an_expired_invitation_is_refused_with_410(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stexp", &s);
    struct member m;
    invite(&s, "old", NULL, &m);
    assert_int_equal(itest_pg_exec(s.s.db,
                                   "UPDATE staff_invitations SET expires_at = now() - interval "
                                   "'1 minute' WHERE user_id = $1",
                                   m.id),
                     0);
    struct itest_resp *r = page(&s, m.path);
    assert_int_equal(r->status, 410);
    assert_non_null(strstr(r->body, "expired"));
    itest_resp_free(r);
    itest_expect_error(set_password(&s, m.path, NEW_PASSWORD), 410, "invitation_expired");
    assert_int_equal(
        count(&s, "SELECT count(*) FROM users WHERE id = $1 AND password_hash IS NULL", m.id), 1);

    /* Still "invited"; a fresh invitation lets them in. */
    json_t *listed = list_member(&s, m.id);
    assert_true(json_is_true(json_object_get(listed, "invited")));
    json_decref(listed);
    char *path = member_path(m.id, "/invite");
    itest_expect_status(api(&s, "POST", path, NULL), 200);
    take_link(&s, &m);
    join(&s, &m);
    sign_in(&s, &m);
    free(path);
}

static void test_resending_an_invitation_makes_the_old_link_stop_working(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stre", &s);
    struct member m;
    invite(&s, "again", NULL, &m);
    char *path = member_path(m.id, "/invite");
    struct itest_resp *r = api(&s, "POST", path, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "id"), m.id);
    assert_true(json_is_true(json_object_get(r->json, "invited")));
    itest_resp_free(r);
    assert_int_equal(count(&s, "SELECT count(*) FROM staff_invitations WHERE user_id = $1", m.id),
                     1);

    r = page(&s, m.path);
    assert_int_equal(r->status, 404);
    assert_non_null(strstr(r->body, "not valid"));
    itest_resp_free(r);
    itest_expect_error(set_password(&s, m.path, NEW_PASSWORD), 404, "not_found");

    take_link(&s, &m);
    join(&s, &m);
    sign_in(&s, &m);

    /* Who has joined needs no invitation. */
    itest_expect_error(api(&s, "POST", path, NULL), 409, "already_joined");
    free(path);
}

static void test_a_taken_email_is_409_whatever_its_case(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stdup", &s);
    struct member m;
    invite(&s, "twice", NULL, &m);
    char upper[160];
    snprintf(upper, sizeof(upper), "%s", m.email);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    struct itest_resp *r =
        api_json(&s, "POST", "/api/staff", json_pack("{s:s, s:s}", "name", "Twin", "email", upper));
    itest_assert_error(r, 409, "email_taken");
    itest_resp_free(r);
    itest_expect_error(api_json(&s, "POST", "/api/staff",
                                json_pack("{s:s, s:s}", "name", "Me again", "email", s.s.email)),
                       409, "email_taken");
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE $1::text IS NOT NULL", "x"), 2);
}

static void test_inviting_names_each_bad_field_with_422(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stbad", &s);
    char *owner = role_id(&s, "owner");
    char *manager = role_id(&s, "manager");
    char body[512];
    struct {
        const char *fmt, *field;
    } cases[] = {
        {"{\"email\": \"x-%s@example.com\"}", "name"},
        {"{\"name\": \"   \", \"email\": \"x-%s@example.com\"}", "name"},
        {"{\"name\": 12, \"email\": \"x-%s@example.com\"}", "name"},
        {"{\"name\": \"X\", \"email\": \"not-an-address-%s\"}", "email"},
        {"{\"name\": \"X\", \"email\": \"a@b@%s.com\"}", "email"},
        {"{\"name\": \"X\", \"email\": \"x-%s@example.com\\r\\nBcc: y@example.com\"}", "email"},
        {"{\"name\": \"X\"%.0s}", "email"},
        {"{\"name\": \"X\", \"email\": \"x-%s@example.com\", \"role_id\": \"owner\"}", "role_id"},
        {"{\"name\": \"X\", \"email\": \"x-%s@example.com\", \"role_id\": \"" UNKNOWN_ID "\"}",
         "role_id"},
        {"{\"name\": \"X\", \"email\": \"x-%s@example.com\", \"role_expires_at\": "
         "\"2099-01-01T00:00:00Z\"}",
         "role_expires_at"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), cases[i].fmt, s.s.slug);
        struct itest_resp *r = api(&s, "POST", "/api/staff", body);
        if (r->status != 422)
            fail_msg("case %zu %s: expected 422, got %ld %s", i, body, r->status, r->body);
        assert_bad_field(r, cases[i].field);
    }
    const char *times[] = {"tomorrow",
                           "2099-02-30T00:00:00Z",
                           "2099-01-01T25:00:00Z",
                           "2099-01-01 00:00:00Z",
                           "2099-01-01T00:00:00",
                           "2001-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        struct itest_resp *r =
            api_json(&s, "POST", "/api/staff",
                     json_pack("{s:s, s:s, s:s, s:s}", "name", "X", "email", "x@example.com",
                               "role_id", manager, "role_expires_at", times[i]));
        if (r->status != 422)
            fail_msg("role_expires_at %s: expected 422, got %ld %s", times[i], r->status, r->body);
        assert_bad_field(r, "role_expires_at");
    }
    /* The owner role does not expire. */
    assert_bad_field(
        api_json(&s, "POST", "/api/staff",
                 json_pack("{s:s, s:s, s:s, s:s}", "name", "X", "email", "x@example.com", "role_id",
                           owner, "role_expires_at", "2099-01-01T00:00:00Z")),
        "role_expires_at");
    /* Every field at once. */
    struct itest_resp *r =
        api(&s, "POST", "/api/staff", "{\"name\": \"\", \"email\": \"\", \"role_id\": 3}");
    itest_assert_error(r, 422, "invalid_input");
    json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
    assert_non_null(json_object_get(fields, "name"));
    assert_non_null(json_object_get(fields, "email"));
    assert_non_null(json_object_get(fields, "role_id"));
    itest_resp_free(r);
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE $1::text IS NOT NULL", "x"), 1);
    free(owner);
    free(manager);
}

static void test_a_role_can_be_granted_until_a_time(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("strole", &s);
    char *manager = role_id(&s, "manager");
    char email[160];
    snprintf(email, sizeof(email), "temp-%s@example.com", s.s.slug);
    struct itest_resp *r =
        api_json(&s, "POST", "/api/staff",
                 json_pack("{s:s, s:s, s:s, s:s}", "name", "Temp", "email", email, "role_id",
                           manager, "role_expires_at", "2099-01-01T00:00:00.5+01:00"));
    assert_int_equal(r->status, 201);
    json_t *role = json_array_get(json_object_get(r->json, "roles"), 0);
    assert_string_equal(itest_json_str(role, "name"), "manager");
    assert_string_equal(itest_json_str(role, "expires_at"), "2098-12-31T23:00:00Z");
    itest_resp_free(r);
    free(manager);
}

/* ---- changing and removing --------------------------------------------------------------- */

static void test_deactivation_ends_sessions_at_once_and_blocks_sign_in(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stdeact", &s);
    struct member m;
    invite(&s, "leaver", "engineer", &m);
    join(&s, &m);
    sign_in(&s, &m);
    struct itest_resp *r = as_member(&s, &m, "GET", "/api/me", NULL);
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    char *path = member_path(m.id, "");
    r = api(&s, "PUT", path, "{\"active\": false}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_false(json_object_get(r->json, "active")));
    itest_resp_free(r);
    assert_int_equal(count(&s, "SELECT count(*) FROM sessions WHERE user_id = $1", m.id), 0);

    itest_expect_error(as_member(&s, &m, "GET", "/api/me", NULL), 401, "unauthenticated");
    assert_int_equal(itest_login(&itest_server, s.s.slug, m.email, NEW_PASSWORD, NULL, NULL), 401);
    json_t *listed = list_member(&s, m.id);
    assert_true(json_is_false(json_object_get(listed, "active")));
    json_decref(listed);

    /* Deactivating twice changes nothing; reactivating lets them in again. */
    itest_expect_status(api(&s, "PUT", path, "{\"active\": false}"), 200);
    r = api(&s, "PUT", path, "{\"active\": true}");
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "active")));
    itest_resp_free(r);
    sign_in(&s, &m);
    free(path);
}

static void test_deactivating_an_invited_user_voids_their_link(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stvoid", &s);
    struct member m;
    invite(&s, "pending", NULL, &m);
    char *path = member_path(m.id, "");
    itest_expect_status(api(&s, "PUT", path, "{\"active\": false}"), 200);
    itest_expect_error(set_password(&s, m.path, NEW_PASSWORD), 404, "not_found");
    char *invite_path = member_path(m.id, "/invite");
    itest_expect_error(api(&s, "POST", invite_path, NULL), 409, "user_inactive");
    free(invite_path);
    free(path);
}

static void test_renaming_changes_the_name_only(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stname", &s);
    struct member m;
    invite(&s, "nick", "viewer", &m);
    char *path = member_path(m.id, "");
    struct itest_resp *r = api(&s, "PUT", path, "{\"name\": \"  Nicholas  \"}");
    assert_int_equal(r->status, 200);
    assert_string_equal(itest_json_str(r->json, "name"), "Nicholas");
    assert_string_equal(itest_json_str(r->json, "email"), m.email);
    assert_true(json_is_true(json_object_get(r->json, "active")));
    assert_string_equal(
        itest_json_str(json_array_get(json_object_get(r->json, "roles"), 0), "name"), "viewer");
    itest_resp_free(r);
    /* Renaming oneself is fine. */
    char *own = member_path(s.owner_id, "");
    itest_expect_status(api(&s, "PUT", own, "{\"name\": \"The Owner\"}"), 200);
    r = api(&s, "GET", "/api/me", NULL);
    assert_string_equal(itest_json_str(json_object_get(r->json, "user"), "name"), "The Owner");
    itest_resp_free(r);
    free(own);
    free(path);
}

static void test_removing_someone_with_history_deactivates_them(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("sthist", &s);

    /* Signed in once. */
    struct member m;
    invite(&s, "regular", NULL, &m);
    join(&s, &m);
    sign_in(&s, &m);
    char *path = member_path(m.id, "");
    struct itest_resp *r = api(&s, "DELETE", path, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "deactivated")));
    itest_resp_free(r);
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE id = $1 AND NOT active", m.id), 1);
    itest_expect_status(as_member(&s, &m, "GET", "/api/me", NULL), 401);
    r = api(&s, "DELETE", path, NULL); /* again: still history, still there */
    assert_int_equal(r->status, 200);
    itest_resp_free(r);

    /* Never signed in, but made a booking. */
    struct member b;
    invite(&s, "booker", NULL, &b);
    r = api(&s, "POST", "/api/rooms", "{\"name\": \"Room\", \"hourly_rate\": 1000}");
    assert_int_equal(r->status, 201);
    char room[40];
    snprintf(room, sizeof(room), "%s", itest_json_str(r->json, "id"));
    itest_resp_free(r);
    assert_int_equal(
        itest_pg_exec(s.s.db,
                      "WITH c AS (INSERT INTO customers (name, email)"
                      "           VALUES ('A customer', 'c@example.com') RETURNING id),"
                      "     t AS (SELECT date_trunc('minute', now() + interval '2 days') AS s)"
                      " INSERT INTO bookings (ref, room_id, customer_id, starts_at, ends_at, hold,"
                      "                       status, source, price_amount, currency,"
                      "                       manage_token_hash, created_by)"
                      " SELECT 'STAFFREF1', $1, c.id, t.s, t.s + interval '1 hour',"
                      "        tstzrange(t.s, t.s + interval '1 hour'), 'confirmed', 'staff',"
                      "        1000, 'EUR', 'x', $2 FROM c, t",
                      room, b.id),
        0);
    char *bpath = member_path(b.id, "");
    r = api(&s, "DELETE", bpath, NULL);
    assert_int_equal(r->status, 200);
    assert_true(json_is_true(json_object_get(r->json, "deactivated")));
    itest_resp_free(r);
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE id = $1 AND NOT active", b.id), 1);
    /* Their link is void with them. */
    itest_expect_status(set_password(&s, b.path, NEW_PASSWORD), 404);
    free(bpath);
    free(path);
}

static void test_removing_someone_without_history_deletes_them_with_204(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stdel", &s);
    struct member m;
    invite(&s, "mistake", "front desk", &m);
    char *path = member_path(m.id, "");
    struct itest_resp *r = api(&s, "DELETE", path, NULL);
    assert_int_equal(r->status, 204);
    assert_int_equal(r->body_len, 0);
    itest_resp_free(r);
    assert_null(list_member(&s, m.id));
    assert_int_equal(count(&s, "SELECT count(*) FROM staff_invitations WHERE user_id = $1", m.id),
                     0);
    assert_int_equal(count(&s, "SELECT count(*) FROM user_roles WHERE user_id = $1", m.id), 0);
    itest_expect_status(page(&s, m.path), 404);
    itest_expect_error(api(&s, "DELETE", path, NULL), 404, "not_found");

    /* The address is free again. */
    itest_expect_status(api_json(&s, "POST", "/api/staff",
                                 json_pack("{s:s, s:s}", "name", "Right one", "email", m.email)),
                        201);
    free(path);
}

static void test_nobody_deactivates_or_removes_themselves(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stself", &s);
    char *own = member_path(s.owner_id, "");
    itest_expect_error(api(&s, "PUT", own, "{\"active\": false}"), 422, "cannot_deactivate_self");
    itest_expect_error(api(&s, "DELETE", own, NULL), 422, "cannot_deactivate_self");
    /* Upper-case hex names the same user. */
    char upper[128];
    snprintf(upper, sizeof(upper), "%s", own);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    memcpy(upper, "/api/staff/", 11);
    itest_expect_error(api(&s, "DELETE", upper, NULL), 422, "cannot_deactivate_self");
    itest_expect_status(api(&s, "GET", "/api/me", NULL), 200);
    free(own);
}

static void test_the_last_owner_who_can_sign_in_is_never_deactivated_or_removed(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stlast", &s);
    struct member co;
    invite(&s, "coowner", "owner", &co);
    join(&s, &co);
    sign_in(&s, &co);

    /* Two owners: one may deactivate the other. */
    char *first = member_path(s.owner_id, "");
    itest_expect_status(as_member(&s, &co, "PUT", first, "{\"active\": false}"), 200);
    itest_expect_status(as_member(&s, &co, "PUT", first, "{\"active\": true}"), 200);
    assert_int_equal(itest_login(&itest_server, s.s.slug, s.s.email, PASSWORD, &s.jar, s.csrf),
                     200);
    snprintf(s.csrf_header, sizeof(s.csrf_header), "X-CSRF-Token: %s", s.csrf);

    /* The co-owner can no longer sign in (no password): the first owner is the last one
     * who can, and their session does not make them one. */
    assert_int_equal(
        itest_pg_exec(s.s.db, "UPDATE users SET password_hash = NULL WHERE id = $1", co.id), 0);
    itest_expect_error(as_member(&s, &co, "PUT", first, "{\"active\": false}"), 409, "last_owner");
    itest_expect_error(as_member(&s, &co, "DELETE", first, NULL), 409, "last_owner");
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE id = $1 AND active", s.owner_id),
                     1);
    itest_expect_status(api(&s, "GET", "/api/me", NULL), 200);

    /* An owner whose role has lapsed is not one either. */
    assert_int_equal(
        itest_pg_exec(s.s.db, "UPDATE users SET password_hash = 'x' WHERE id = $1", co.id), 0);
    assert_int_equal(itest_pg_exec(s.s.db,
                                   "UPDATE user_roles SET expires_at = now() - interval '1 second'"
                                   " WHERE user_id = $1",
                                   co.id),
                     0);
    struct db_conn *t = db_acquire(NULL, s.s.db);
    assert_non_null(t);
    struct staff_actor actor = {.user_id = co.id, .name = "coowner", .owner = true};
    enum staff_removal done;
    assert_int_equal(staff_remove(t, &actor, s.owner_id, &done), STAFF_LAST_OWNER);
    json_t *out = NULL, *fields = NULL;
    json_t *body = json_pack("{s:b}", "active", 0);
    assert_int_equal(staff_update(t, &actor, s.owner_id, body, &out, &fields), STAFF_LAST_OWNER);
    assert_null(out);
    json_decref(body);
    assert_false(t->broken);
    db_release(t);
    free(first);
}

static void test_a_manager_grants_no_more_than_they_hold_and_cannot_take_an_owner_out(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stmgr", &s);
    struct member mgr;
    invite(&s, "manager", "manager", &mgr);
    join(&s, &mgr);
    sign_in(&s, &mgr);
    char *owner = role_id(&s, "owner");
    char *manager = role_id(&s, "manager");
    char *boss = itest_pg_value(s.s.db,
                                "WITH r AS (INSERT INTO roles (name) VALUES ($1) RETURNING id)"
                                " INSERT INTO role_permissions (role_id, resource, action)"
                                " SELECT id, 'billing', 'manage' FROM r RETURNING role_id",
                                "billing boss");
    assert_non_null(boss);
    char email[160], body[512];

    /* The owner role, or a role with permissions the manager lacks: 403, nobody made. */
    snprintf(email, sizeof(email), "x-%s@example.com", s.s.slug);
    snprintf(body, sizeof(body), "{\"name\": \"X\", \"email\": \"%s\", \"role_id\": \"%s\"}", email,
             owner);
    struct itest_resp *r = as_member(&s, &mgr, "POST", "/api/staff", body);
    itest_assert_error(r, 403, "forbidden");
    itest_resp_free(r);
    snprintf(body, sizeof(body), "{\"name\": \"X\", \"email\": \"%s\", \"role_id\": \"%s\"}", email,
             boss);
    itest_expect_error(as_member(&s, &mgr, "POST", "/api/staff", body), 403,
                       "privilege_escalation");
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE email = $1", email), 0);

    /* Their own role is fine. */
    snprintf(body, sizeof(body), "{\"name\": \"X\", \"email\": \"%s\", \"role_id\": \"%s\"}", email,
             manager);
    r = as_member(&s, &mgr, "POST", "/api/staff", body);
    assert_int_equal(r->status, 201);
    char x[40];
    snprintf(x, sizeof(x), "%s", itest_json_str(r->json, "id"));
    itest_resp_free(r);

    /* An owner is out of a manager's reach; other staff are not. */
    char *first = member_path(s.owner_id, "");
    itest_expect_error(as_member(&s, &mgr, "PUT", first, "{\"active\": false}"), 403, "forbidden");
    itest_expect_status(api(&s, "GET", "/api/me", NULL), 200);
    char *xpath = member_path(x, "");
    itest_expect_status(as_member(&s, &mgr, "PUT", xpath, "{\"active\": false}"), 200);
    /* Deleting needs staff:delete, which managers do not hold. */
    itest_expect_status(as_member(&s, &mgr, "DELETE", xpath, NULL), 403);
    r = api(&s, "DELETE", xpath, NULL);
    assert_int_equal(r->status, 204);
    itest_resp_free(r);
    free(xpath);
    free(first);
    free(boss);
    free(manager);
    free(owner);
}

/* ---- errors and tenancy ------------------------------------------------------------------ */

static void test_every_error_of_the_api_has_its_status(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("sterr", &s);
    struct member m;
    invite(&s, "target", NULL, &m);
    char *path = member_path(m.id, "");
    char *invite_path = member_path(m.id, "/invite");
    struct itest_resp *r;

    /* 400 malformed, 415 not JSON */
    itest_expect_error(api(&s, "POST", "/api/staff", "{\"name\": "), 400, "malformed_json");
    itest_expect_error(api(&s, "PUT", path, "[1, 2]"), 400, "malformed_json");
    const char *headers[] = {s.csrf_header, NULL};
    itest_expect_error(itest_request(&itest_server, "POST", s.s.host, "/api/staff", "text/plain",
                                     "name=x", headers, &s.jar),
                       415, "unsupported_media_type");

    /* 422 */
    assert_bad_field(api(&s, "PUT", path, "{\"name\": \"\"}"), "name");
    assert_bad_field(api(&s, "PUT", path, "{\"active\": \"no\"}"), "active");
    assert_bad_field(api(&s, "PUT", path, "{\"name\": null}"), "name");

    /* 404: unknown, not a uuid */
    const char *ids[] = {UNKNOWN_ID, "not-a-uuid", "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c1g",
                         "%27%20OR%201%3D1"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char *p = member_path(ids[i], "");
        char *pi = member_path(ids[i], "/invite");
        itest_expect_error(api(&s, "PUT", p, "{\"name\": \"X\"}"), 404, "not_found");
        itest_expect_error(api(&s, "DELETE", p, NULL), 404, "not_found");
        itest_expect_error(api(&s, "POST", pi, NULL), 404, "not_found");
        free(p);
        free(pi);
    }
    itest_expect_error(set_password(&s, "/invite/" UNKNOWN_TOKEN, NEW_PASSWORD), 404, "not_found");
    itest_expect_status(page(&s, "/invite/a"), 404);
    r = page(&s, "/invite/" UNKNOWN_TOKEN);
    assert_int_equal(r->status, 404);
    assert_non_null(strstr(r->body, "not valid"));
    itest_resp_free(r);

    /* 403 without the CSRF token */
    const char *no_csrf_routes[][3] = {{"POST", "/api/staff",
                                        "{\"name\": \"X\", \"email\": "
                                        "\"csrf@example.com\"}"},
                                       {"PUT", NULL, "{\"active\": false}"},
                                       {"DELETE", NULL, NULL},
                                       {"POST", "invite", NULL}};
    for (size_t i = 0; i < 4; i++) {
        const char *p = no_csrf_routes[i][1] == NULL                  ? path
                        : strcmp(no_csrf_routes[i][1], "invite") == 0 ? invite_path
                                                                      : no_csrf_routes[i][1];
        itest_expect_error(itest_request(&itest_server, no_csrf_routes[i][0], s.s.host, p,
                                         no_csrf_routes[i][2] ? "application/json" : NULL,
                                         no_csrf_routes[i][2], NULL, &s.jar),
                           403, "csrf_failed");
    }
    assert_int_equal(count(&s, "SELECT count(*) FROM users WHERE id = $1 AND active", m.id), 1);

    /* 401 without a session */
    const char *no_session[][2] = {{"GET", "/api/staff"},
                                   {"POST", "/api/staff"},
                                   {"PUT", NULL},
                                   {"DELETE", NULL},
                                   {"POST", "invite"}};
    for (size_t i = 0; i < 5; i++) {
        const char *p = no_session[i][1] == NULL                  ? path
                        : strcmp(no_session[i][1], "invite") == 0 ? invite_path
                                                                  : no_session[i][1];
        bool get = strcmp(no_session[i][0], "GET") == 0;
        itest_expect_error(itest_request(&itest_server, no_session[i][0], s.s.host, p,
                                         get ? NULL : "application/json", get ? NULL : "{}", NULL,
                                         NULL),
                           401, "unauthenticated");
    }
    free(invite_path);
    free(path);
}

static void test_another_studio_cannot_list_change_or_delete_a_studios_staff(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    make_studio("sta", &a);
    make_studio("stb", &b);
    struct member m;
    invite(&a, "amember", NULL, &m);

    struct itest_resp *r = api(&b, "GET", "/api/staff", NULL);
    assert_int_equal(r->status, 200);
    json_t *list = json_object_get(r->json, "staff");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(itest_json_str(json_array_get(list, 0), "email"), b.s.email);
    itest_resp_free(r);

    const char *ids[] = {m.id, a.owner_id};
    for (size_t i = 0; i < 2; i++) {
        char *p = member_path(ids[i], "");
        char *pi = member_path(ids[i], "/invite");
        itest_expect_error(api(&b, "PUT", p, "{\"name\": \"Taken over\", \"active\": false}"), 404,
                           "not_found");
        itest_expect_error(api(&b, "DELETE", p, NULL), 404, "not_found");
        itest_expect_error(api(&b, "POST", pi, NULL), 404, "not_found");
        free(p);
        free(pi);
    }
    /* A's link means nothing on B's host. */
    itest_expect_error(set_password(&b, m.path, NEW_PASSWORD), 404, "not_found");

    /* B's session is worthless on A's host. */
    const char *headers[] = {b.csrf_header, NULL};
    char *p = member_path(m.id, "");
    itest_expect_error(
        itest_request(&itest_server, "GET", a.s.host, "/api/staff", NULL, NULL, headers, &b.jar),
        401, "unauthenticated");
    itest_expect_error(
        itest_request(&itest_server, "DELETE", a.s.host, p, NULL, NULL, headers, &b.jar), 401,
        "unauthenticated");

    /* A is unchanged. */
    json_t *still = list_member(&a, m.id);
    assert_non_null(still);
    assert_string_equal(itest_json_str(still, "name"), "amember");
    assert_true(json_is_true(json_object_get(still, "active")));
    json_decref(still);
    assert_int_equal(
        count(&a, "SELECT count(*) FROM users WHERE active AND $1::text IS NOT NULL", "x"), 2);
    join(&a, &m); /* and the link still works there */
    free(p);
}

/* ---- the page ---------------------------------------------------------------------------- */

static void test_the_team_page_is_for_signed_in_staff(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stpage", &s);
    const char *headers[] = {"Accept: text/html", NULL};
    struct itest_resp *r =
        itest_request(&itest_server, "GET", s.s.host, "/app/team", NULL, NULL, headers, &s.jar);
    assert_int_equal(r->status, 200);
    char meta[256];
    snprintf(meta, sizeof(meta), "<meta name=\"csrf-token\" content=\"%s\">", s.csrf);
    assert_non_null(strstr(r->body, meta));
    assert_non_null(strstr(r->body, "/static/js/team.js"));
    assert_non_null(strstr(r->body, "href=\"/app/team\" aria-current=\"page\">Team<"));
    assert_non_null(strstr(r->body, "id=\"invite-form\""));
    assert_non_null(strstr(r->body, s.owner_id));
    itest_resp_free(r);

    r = page(&s, "/app/team");
    assert_int_equal(r->status, 303);
    assert_string_equal(itest_header(r, "Location"), "/login");
    itest_resp_free(r);

    r = itest_request(&itest_server, "GET", s.s.host, "/static/js/team.js", NULL, NULL, NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "/api/staff"));
    itest_resp_free(r);
}

/* ---- the module's contract --------------------------------------------------------------- */

static void test_only_an_owner_grants_the_owner_role(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio s;
    make_studio("stgrant", &s);
    char *owner = role_id(&s, "owner");
    char *viewer = role_id(&s, "viewer");
    struct db_conn *t = db_acquire(NULL, s.s.db);
    struct db_conn *m = db_acquire_master();
    assert_non_null(t);
    assert_non_null(m);
    struct arena *a = arena_new(4096);
    struct staff_actor manager = {.user_id = s.owner_id, .name = "A manager", .owner = false};
    struct staff_studio studio = {.name = "Studio", .url = s.s.url};
    char email[160];
    snprintf(email, sizeof(email), "promoted-%s@example.com", s.s.slug);

    json_t *out = NULL, *fields = NULL;
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", "P", "email", email, "role_id", owner);
    assert_int_equal(staff_create(t, m, a, &manager, &studio, body, &out, &fields),
                     STAFF_FORBIDDEN);
    assert_null(out);
    json_decref(body);

    body = json_pack("{s:s, s:s, s:s}", "name", "P", "email", email, "role_id", viewer);
    assert_int_equal(staff_create(t, m, a, &manager, &studio, body, &out, &fields), STAFF_OK);
    assert_string_equal(itest_json_str(json_array_get(json_object_get(out, "roles"), 0), "name"),
                        "viewer");
    json_decref(out);
    json_decref(body);
    assert_null(fields);
    assert_false(t->broken);
    assert_false(m->broken);

    out = NULL;
    assert_int_equal(staff_list(t, &out), STAFF_OK);
    assert_int_equal(json_array_size(json_object_get(out, "staff")), 2);
    json_decref(out);
    assert_int_equal(staff_get(t, "not a uuid", &out), STAFF_NOT_FOUND);
    assert_int_equal(staff_get(t, UNKNOWN_ID, &out), STAFF_NOT_FOUND);
    struct staff_invitation inv;
    assert_int_equal(staff_invitation_find(t, a, "short", &inv), STAFF_NOT_FOUND);
    assert_int_equal(staff_invitation_find(t, a, "bad/token/with/slashes", &inv), STAFF_NOT_FOUND);
    assert_false(t->broken);
    arena_free(a);
    db_release(m);
    db_release(t);
    free(owner);
    free(viewer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_invitation_mails_a_one_time_link_and_never_a_password),
        cmocka_unit_test(test_the_invitation_form_sets_the_password_and_sends_the_browser_to_login),
        cmocka_unit_test(test_an_expired_invitation_is_refused_with_410),
        cmocka_unit_test(test_resending_an_invitation_makes_the_old_link_stop_working),
        cmocka_unit_test(test_a_taken_email_is_409_whatever_its_case),
        cmocka_unit_test(test_inviting_names_each_bad_field_with_422),
        cmocka_unit_test(test_a_role_can_be_granted_until_a_time),
        cmocka_unit_test(test_deactivation_ends_sessions_at_once_and_blocks_sign_in),
        cmocka_unit_test(test_deactivating_an_invited_user_voids_their_link),
        cmocka_unit_test(test_renaming_changes_the_name_only),
        cmocka_unit_test(test_removing_someone_with_history_deactivates_them),
        cmocka_unit_test(test_removing_someone_without_history_deletes_them_with_204),
        cmocka_unit_test(test_nobody_deactivates_or_removes_themselves),
        cmocka_unit_test(test_the_last_owner_who_can_sign_in_is_never_deactivated_or_removed),
        cmocka_unit_test(test_a_manager_grants_no_more_than_they_hold_and_cannot_take_an_owner_out),
        cmocka_unit_test(test_every_error_of_the_api_has_its_status),
        cmocka_unit_test(test_another_studio_cannot_list_change_or_delete_a_studios_staff),
        cmocka_unit_test(test_the_team_page_is_for_signed_in_staff),
        cmocka_unit_test(test_only_an_owner_grants_the_owner_role),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
