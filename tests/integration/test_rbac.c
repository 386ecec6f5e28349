/*
 * test_rbac.c — roles and permissions against a real studiod and
 * PostgreSQL: the catalogue, the built-in roles and what they grant, roles
 * made, read, changed and deleted with every 4xx the API promises (400
 * malformed JSON, 415 not JSON, 422 unknown resource or action and other
 * bad fields, 422 role_cycle, 403 builtin_role, 404 unknown and non-uuid
 * ids, 409 a taken name and a role others inherit from, 403 without the
 * CSRF token, 401 without a session), the matrix marking direct and
 * inherited grants, inherited permissions enforced on real routes, a
 * temporary role that stops granting at its expiry and is then tidied away
 * by the job, the last owner, privilege escalation (a front-desk user, a
 * manager, and a team lead holding staff:manage each trying to grant more
 * than they hold), and one studio's roles out of another's reach.
 *
 * And the audit log (audit.h): every change of a role or an assignment,
 * and the expiry job's removals, leaves exactly one entry in the studio's
 * audit_log (an assignment's resource id is "<user id>/<role id>"), written
 * in the change's transaction, flagged by the
 * permission_change risk rule (medium); a refused change (cycle, privilege
 * escalation, last owner, ...) leaves none; a change whose entry cannot be
 * written (audit_log refuses it by a CHECK made for the test) does not
 * happen and answers 503; and the hash chain still verifies afterwards.
 *
 * One studiod serves the suite; every test makes its own studio. Staff
 * with other roles are inserted straight into the studio's users table
 * with an argon2id hash (crypto_password_hash) and then sign in.
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
#include "studiod/crypto.h"

#define PASSWORD "correct horse battery staple"
#define NO_SUCH_ID "5f0c3c1e-2b7d-4e8a-9c61-0d4f7a2b9e13"
#define EXPIRY_SECONDS "4"
#define EXPIRY_WAIT_MS 30000
#define POLL_MS 200

static struct studiod_proc *const srv = &itest_server;

/* A staff user of a studio, signed in. */
struct member {
    char id[40];
    char email[160];
    struct itest_cookies jar;
    char csrf[128];
};

/* A studio and its owner. */
struct studio {
    struct itest_studio s;
    struct member owner;
    int members;
};

static const char *password_hash(void);
static void open_studio(const char *prefix, struct studio *st);
static void add_member(struct studio *st, const char *role, struct member *m);
static void sign_in(struct studio *st, struct member *m);
static struct itest_resp *call(struct studio *st, struct member *m, const char *method,
                               const char *path, json_t *body);
static struct itest_resp *call_raw(struct studio *st, struct member *m, const char *method,
                                   const char *path, const char *content_type, const char *body,
                                   bool csrf);
static void expect(struct itest_resp *r, long status, const char *code);
static json_t *take_json(struct itest_resp *r, long status);
static char *role_id(struct studio *st, const char *name);
static json_t *perms(const char *spec);
static char *create_role(struct studio *st, const char *name, const char *parent_id,
                         const char *spec);
static void assign(struct studio *st, struct member *actor, struct member *who, const char *role,
                   const char *expires_at, long status, const char *code);
static long status_of(struct studio *st, struct member *m, const char *method, const char *path);
static json_t *find_by(json_t *list, const char *key, const char *value);
static const char *cell(json_t *matrix, const char *role, const char *resource, const char *action);
static char *db_now_plus(const char *seconds);
static long long audit_mark(struct studio *st);
static long long entries_since(struct studio *st, long long since);
static json_t *expect_entry(struct studio *st, long long since, const struct member *actor,
                            const char *action, const char *resource, const char *rid);
static void expect_no_entry(struct studio *st, long long since);
static void expect_chain_ok(struct studio *st);
static void refuse_entries(struct studio *st, bool refuse);

/* ---- helpers ----------------------------------------------------------------------------- */

/* One argon2id hash of PASSWORD for every member (hashing is slow on purpose). */
static const char *password_hash(void)
{
    static char hash[256];
    if (!hash[0]) {
        assert_int_equal(crypto_init(), 0);
        struct arena *a = arena_new(1024);
        const char *h = crypto_password_hash(a, PASSWORD);
        assert_non_null(h);
        snprintf(hash, sizeof(hash), "%s", h);
        arena_free(a);
    }
    return hash;
}

static void open_studio(const char *prefix, struct studio *st)
{
    memset(st, 0, sizeof(*st));
    itest_open_studio(srv, prefix, &st->s, PASSWORD, &st->owner.jar, st->owner.csrf);
    snprintf(st->owner.email, sizeof(st->owner.email), "%s", st->s.email);
    itest_user_id(&st->s, st->s.email, st->owner.id);
}

/* A new staff user holding the built-in or custom role named role (NULL: none), signed in. */
static void add_member(struct studio *st, const char *role, struct member *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->email, sizeof(m->email), "member%d-%s@example.com", ++st->members, st->s.slug);
    char *id = itest_pg_value(st->s.db,
                              "INSERT INTO users (email, name, password_hash)"
                              " VALUES ($1, 'A member', $2) RETURNING id",
                              m->email, password_hash());
    assert_non_null(id);
    snprintf(m->id, sizeof(m->id), "%s", id);
    free(id);
    if (role)
        assert_int_equal(itest_pg_exec(st->s.db,
                                       "INSERT INTO user_roles (user_id, role_id)"
                                       " SELECT $1::uuid, id FROM roles WHERE name = $2",
                                       m->id, role),
                         0);
    sign_in(st, m);
}

static void sign_in(struct studio *st, struct member *m)
{
    memset(&m->jar, 0, sizeof(m->jar));
    assert_int_equal(itest_login(srv, st->s.slug, m->email, PASSWORD, &m->jar, m->csrf), 200);
    assert_true(m->csrf[0] != '\0');
}

/* method path as m (session + CSRF); body is stolen (NULL: none). */
static struct itest_resp *call(struct studio *st, struct member *m, const char *method,
                               const char *path, json_t *body)
{
    return itest_staff_request(srv, method, st->s.host, path, body, m ? &m->jar : NULL,
                               m ? m->csrf : NULL);
}

/* m NULL: no session. */
static struct itest_resp *call_raw(struct studio *st, struct member *m, const char *method,
                                   const char *path, const char *content_type, const char *body,
                                   bool csrf)
{
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", m ? m->csrf : "");
    const char *headers[] = {hdr, NULL};
    return itest_request(srv, method, st->s.host, path, content_type, body,
                         csrf && m ? headers : NULL, m ? &m->jar : NULL);
}

/* Asserts the status (and error.code when code is not NULL), then frees r. */
static void expect(struct itest_resp *r, long status, const char *code)
{
    if (r->status != status)
        fail_msg("expected %ld %s, got %ld: %s%s", status, code ? code : "", r->status, r->body,
                 r->error);
    if (code) {
        const char *got = itest_error_code(r);
        if (!got || strcmp(got, code) != 0)
            fail_msg("expected error.code %s, got: %s", code, r->body);
    }
    itest_resp_free(r);
}

/* The body of a reply with this status (a new reference); r is freed. */
static json_t *take_json(struct itest_resp *r, long status)
{
    if (r->status != status || !r->json)
        fail_msg("expected %ld with JSON, got %ld: %s%s", status, r->status, r->body, r->error);
    json_t *j = json_incref(r->json);
    itest_resp_free(r);
    return j;
}

/* The id of the role named name (free it). */
static char *role_id(struct studio *st, const char *name)
{
    char *id = itest_pg_value(st->s.db, "SELECT id FROM roles WHERE name = $1", name);
    if (!id)
        fail_msg("no role %s", name);
    return id;
}

/* "bookings:view,rooms:manage" as [{"resource","action"}]. */
static json_t *perms(const char *spec)
{
    json_t *list = json_array();
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        assert_non_null(colon);
        *colon = '\0';
        json_array_append_new(list, json_pack("{s:s, s:s}", "resource", tok, "action", colon + 1));
    }
    return list;
}

/* POST /api/roles as the owner; the new role's id (free it). */
static char *create_role(struct studio *st, const char *name, const char *parent_id,
                         const char *spec)
{
    json_t *body = json_pack("{s:s, s:s, s:o}", "name", name, "description", "made by a test",
                             "permissions", perms(spec));
    if (parent_id)
        json_object_set_new(body, "parent_id", json_string(parent_id));
    json_t *role = take_json(call(st, &st->owner, "POST", "/api/roles", body), 201);
    char *id = strdup(json_string_value(json_object_get(role, "id")));
    json_decref(role);
    return id;
}

/* POST /api/users/<who>/roles {role (a name), expires_at} as actor, expecting status/code. */
static void assign(struct studio *st, struct member *actor, struct member *who, const char *role,
                   const char *expires_at, long status, const char *code)
{
    char *rid = role_id(st, role);
    json_t *body = json_pack("{s:s}", "role_id", rid);
    free(rid);
    if (expires_at)
        json_object_set_new(body, "expires_at", json_string(expires_at));
    char path[128];
    snprintf(path, sizeof(path), "/api/users/%s/roles", who->id);
    expect(call(st, actor, "POST", path, body), status, code);
}

/* The status m gets for method path with an empty JSON object when unsafe. */
static long status_of(struct studio *st, struct member *m, const char *method, const char *path)
{
    bool unsafe = strcmp(method, "GET") != 0;
    struct itest_resp *r = call(st, m, method, path, unsafe ? json_object() : NULL);
    long status = r->status;
    itest_resp_free(r);
    return status;
}

/* The object of list whose key is value, or NULL. */
static json_t *find_by(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        const char *v = json_string_value(json_object_get(o, key));
        if (v && strcmp(v, value) == 0)
            return o;
    }
    return NULL;
}

/* matrix.roles[name=role].permissions[resource][action]: "direct", "inherited" or NULL. */
static const char *cell(json_t *matrix, const char *role, const char *resource, const char *action)
{
    json_t *r = find_by(json_object_get(matrix, "roles"), "name", role);
    if (!r)
        fail_msg("no role %s in the matrix", role);
    json_t *row = json_object_get(json_object_get(r, "permissions"), resource);
    if (!json_is_object(row) || !json_object_get(row, action))
        fail_msg("no cell %s/%s/%s in the matrix", role, resource, action);
    return json_string_value(json_object_get(row, action));
}

/* The database's now + seconds as RFC 3339 UTC (free it). */
static char *db_now_plus(const char *seconds)
{
    char *v = itest_pg_value(NULL,
                             "SELECT to_char((now() + make_interval(secs => $1::float8))"
                             "               AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                             seconds);
    assert_non_null(v);
    return v;
}

/* ---- the audit log ----------------------------------------------------------------------- */

/* The newest entry id of the studio's log (0: none): changes after it are "since" it. */
static long long audit_mark(struct studio *st)
{
    char *v = itest_pg_value(st->s.db, "SELECT coalesce(max(id), 0)::text FROM audit_log");
    assert_non_null(v);
    long long id = atoll(v);
    free(v);
    return id;
}

static long long entries_since(struct studio *st, long long since)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", since);
    char *v = itest_pg_value(st->s.db, "SELECT count(*) FROM audit_log WHERE id > $1::bigint", s);
    assert_non_null(v);
    long long n = atoll(v);
    free(v);
    return n;
}

/* Asserts that the one entry written since is action on resource/rid by actor (NULL: the
 * system), at least medium risk with the permission_change rule; returns it as
 * {"actor_type","actor_id","risk_level","risk_rules","before","after"} (json_decref it). */
static json_t *expect_entry(struct studio *st, long long since, const struct member *actor,
                            const char *action, const char *resource, const char *rid)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", since);
    char *v = itest_pg_value(st->s.db,
                             "SELECT json_build_object('actor_type', actor_type,"
                             "                         'actor_id', actor_id,"
                             "                         'risk_level', risk_level,"
                             "                         'risk_rules', risk_rules,"
                             "                         'before', before, 'after', after)::text"
                             "  FROM audit_log WHERE id > $1::bigint AND action = $2"
                             "   AND resource = $3 AND resource_id = $4"
                             " ORDER BY id DESC LIMIT 1",
                             s, action, resource, rid);
    if (!v) {
        char *got = itest_pg_value(st->s.db,
                                   "SELECT coalesce(string_agg(action || ' ' || resource || ' '"
                                   "   || coalesce(resource_id, '-'), '; ' ORDER BY id), 'none')"
                                   "  FROM audit_log WHERE id > $1::bigint",
                                   s);
        char msg[1024];
        snprintf(msg, sizeof(msg), "no entry \"%s %s %s\"; written since: %.800s", action, resource,
                 rid, got ? got : "?");
        free(got);
        fail_msg("%s", msg);
    }
    json_t *e = json_loads(v, 0, NULL);
    free(v);
    assert_non_null(e);
    if (entries_since(st, since) != 1)
        fail_msg("%s %s %s: %lld entries written, expected 1", action, resource, rid,
                 entries_since(st, since));
    const char *level = json_string_value(json_object_get(e, "risk_level"));
    if (!level || (strcmp(level, "medium") != 0 && strcmp(level, "high") != 0))
        fail_msg("%s %s: risk_level %s, expected medium or more", action, resource,
                 level ? level : "(none)");
    bool named = false;
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(e, "risk_rules"), i, rule)
    {
        named |= strcmp(json_string_value(rule), "permission_change") == 0;
    }
    if (!named)
        fail_msg("%s %s: the permission_change rule is not named", action, resource);
    assert_string_equal(json_string_value(json_object_get(e, "actor_type")),
                        actor ? "user" : "system");
    if (actor)
        assert_string_equal(json_string_value(json_object_get(e, "actor_id")), actor->id);
    else
        assert_true(json_is_null(json_object_get(e, "actor_id")));
    return e;
}

static void expect_no_entry(struct studio *st, long long since)
{
    long long n = entries_since(st, since);
    if (n != 0)
        fail_msg("%lld entries written by refused changes, expected none", n);
}

/* GET /api/audit-logs/verify as the owner: the chain verifies. */
static void expect_chain_ok(struct studio *st)
{
    json_t *v = take_json(call(st, &st->owner, "GET", "/api/audit-logs/verify", NULL), 200);
    if (!json_is_true(json_object_get(v, "ok"))) {
        char text[512];
        json_dumpb(v, text, sizeof(text) - 1, JSON_COMPACT);
        text[sizeof(text) - 1] = '\0';
        json_decref(v);
        fail_msg("the audit chain does not verify: %.500s", text);
    }
    assert_true(json_integer_value(json_object_get(v, "entries")) > 0);
    json_decref(v);
}

/* Makes the studio's audit_log refuse (or accept again) entries on roles and user_roles. */
static void refuse_entries(struct studio *st, bool refuse)
{
    assert_int_equal(
        itest_pg_exec(st->s.db, refuse ? "ALTER TABLE audit_log ADD CONSTRAINT itest_refuse"
                                         " CHECK (resource NOT IN ('roles', 'user_roles'))"
                                         " NOT VALID"
                                       : "ALTER TABLE audit_log DROP CONSTRAINT itest_refuse"),
        0);
}

/* ---- the catalogue and the built-in roles ------------------------------------------------ */

static void test_catalogue_lists_resources_and_actions(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-cat", &st);
    json_t *res = take_json(call(&st, &st.owner, "GET", "/api/permissions/resources", NULL), 200);
    json_t *list = json_object_get(res, "resources");
    assert_int_equal(json_array_size(list), 14);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "bookings");
    assert_string_equal(json_string_value(json_array_get(list, 13)), "domains");
    json_decref(res);
    json_t *act = take_json(call(&st, &st.owner, "GET", "/api/permissions/actions", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(act, "actions")), 6);
    assert_string_equal(json_string_value(json_array_get(json_object_get(act, "actions"), 5)),
                        "manage");
    assert_int_equal(json_array_size(json_object_get(act, "implied_by_manage")), 5);
    json_decref(act);
}

static void test_builtin_roles_come_with_their_permissions(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-builtin", &st);
    json_t *out = take_json(call(&st, &st.owner, "GET", "/api/roles", NULL), 200);
    json_t *roles = json_object_get(out, "roles");
    assert_int_equal(json_array_size(roles), 5);
    static const char *const order[] = {"owner", "manager", "engineer", "front desk", "viewer"};
    static const size_t counts[] = {14, 29, 5, 8, 4}; /* rows as granted */
    for (size_t i = 0; i < 5; i++) {
        json_t *r = json_array_get(roles, i);
        assert_string_equal(json_string_value(json_object_get(r, "name")), order[i]);
        assert_true(json_is_true(json_object_get(r, "builtin")));
        assert_true(json_is_null(json_object_get(r, "parent_id")));
        if (json_array_size(json_object_get(r, "permissions")) != counts[i])
            fail_msg("%s grants %zu permissions, expected %zu", order[i],
                     json_array_size(json_object_get(r, "permissions")), counts[i]);
    }
    json_t *owner = json_array_get(roles, 0);
    assert_int_equal(json_integer_value(json_object_get(owner, "user_count")), 1);
    json_t *desk = json_array_get(roles, 3);
    json_t *p = json_object_get(desk, "permissions");
    assert_non_null(find_by(p, "resource", "customers"));
    assert_null(find_by(p, "resource", "payments"));
    json_decref(out);

    /* front desk's effective permissions, one by one */
    char *desk_id = role_id(&st, "front desk");
    char path[128];
    snprintf(path, sizeof(path), "/api/roles/%s/permissions", desk_id);
    out = take_json(call(&st, &st.owner, "GET", path, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "role"), "name")),
                        "front desk");
    assert_int_equal(json_array_size(json_object_get(out, "permissions")), 8);
    json_decref(out);
    free(desk_id);
}

/* ---- roles CRUD ------------------------------------------------------------------------- */

static void test_create_read_update_delete_a_role(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-crud", &st);
    char *viewer = role_id(&st, "viewer");

    json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "name", "  Night shift  ", "description",
                             "Evenings and weekends", "parent_id", viewer, "permissions",
                             perms("bookings:create,bookings:create,rooms:manage"));
    struct itest_resp *r = call(&st, &st.owner, "POST", "/api/roles", body);
    assert_int_equal(r->status, 201);
    char location[200];
    snprintf(location, sizeof(location), "%s",
             itest_header(r, "Location") ? itest_header(r, "Location") : "");
    json_t *role = take_json(r, 201);
    const char *id = json_string_value(json_object_get(role, "id"));
    assert_non_null(id);
    assert_non_null(strstr(location, id));
    assert_string_equal(json_string_value(json_object_get(role, "name")), "Night shift");
    assert_string_equal(json_string_value(json_object_get(role, "parent_id")), viewer);
    assert_true(json_is_false(json_object_get(role, "builtin")));
    assert_int_equal(json_array_size(json_object_get(role, "permissions")), 2); /* deduplicated */
    char path[160], perms_path[200];
    snprintf(path, sizeof(path), "/api/roles/%s", id);
    snprintf(perms_path, sizeof(perms_path), "/api/roles/%s/permissions", id);
    json_decref(role);

    json_t *got = take_json(call(&st, &st.owner, "GET", path, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(got, "description")),
                        "Evenings and weekends");
    json_decref(got);

    /* effective: own 1 + rooms manage (6) + viewer's 4 views (rooms view counted once) */
    json_t *eff = take_json(call(&st, &st.owner, "GET", perms_path, NULL), 200);
    json_t *list = json_object_get(eff, "permissions");
    assert_int_equal(json_array_size(list), 1 + 6 + 3);
    size_t i;
    json_t *p;
    bool saw_inherited = false;
    json_array_foreach(list, i, p)
    {
        const char *resource = json_string_value(json_object_get(p, "resource"));
        const char *action = json_string_value(json_object_get(p, "action"));
        const char *source = json_string_value(json_object_get(p, "source"));
        const char *by =
            json_string_value(json_object_get(json_object_get(p, "granted_by"), "name"));
        if (strcmp(resource, "sessions") == 0) {
            assert_string_equal(source, "inherited");
            assert_string_equal(by, "viewer");
            saw_inherited = true;
        }
        if (strcmp(resource, "rooms") == 0 && strcmp(action, "view") == 0)
            assert_string_equal(source, "direct"); /* its own manage wins */
    }
    assert_true(saw_inherited);
    json_decref(eff);

    /* a partial change keeps what is not sent */
    got = take_json(
        call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "description", "Evenings only")), 200);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "Night shift");
    assert_string_equal(json_string_value(json_object_get(got, "parent_id")), viewer);
    assert_int_equal(json_array_size(json_object_get(got, "permissions")), 2);
    json_decref(got);

    /* permissions replace the set; parent null detaches */
    got = take_json(call(&st, &st.owner, "PUT", path,
                         json_pack("{s:o, s:n, s:s}", "permissions", perms("reports:export"),
                                   "parent_id", "name", "Late shift")),
                    200);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "Late shift");
    assert_true(json_is_null(json_object_get(got, "parent_id")));
    assert_int_equal(json_array_size(json_object_get(got, "permissions")), 1);
    json_decref(got);

    /* listed among the roles, after the built-in ones */
    json_t *all = take_json(call(&st, &st.owner, "GET", "/api/roles", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(all, "roles")), 6);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(all, "roles"), 5), "name")),
                        "Late shift");
    json_decref(all);

    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    expect(call(&st, &st.owner, "GET", path, NULL), 404, "not_found");
    expect(call(&st, &st.owner, "DELETE", path, NULL), 404, "not_found");
    char *left = itest_pg_value(st.s.db, "SELECT count(*) FROM role_permissions"
                                         " WHERE role_id NOT IN (SELECT id FROM roles)");
    assert_string_equal(left, "0");
    free(left);
    free(viewer);
}

static void test_role_input_errors(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-err", &st);
    char *id = create_role(&st, "Cleaners", NULL, "rooms:view");
    char path[160];
    snprintf(path, sizeof(path), "/api/roles/%s", id);

    /* 400, 415 */
    expect(call_raw(&st, &st.owner, "POST", "/api/roles", "application/json", "{\"name\":", true),
           400, "malformed_json");
    expect(call_raw(&st, &st.owner, "POST", "/api/roles", "application/json", "[]", true), 400,
           "malformed_json");
    expect(call_raw(&st, &st.owner, "POST", "/api/roles", "text/plain", "name=x", true), 415,
           "unsupported_media_type");
    expect(call_raw(&st, &st.owner, "PUT", path, "application/json", "{,}", true), 400,
           "malformed_json");

    /* 422 naming the field */
    struct {
        const char *body, *field;
    } bad[] = {
        {"{}", "name"},
        {"{\"name\": \"   \"}", "name"},
        {"{\"name\": 7}", "name"},
        {"{\"name\": \"x\\u0007y\"}", "name"},
        {"{\"name\": \"0123456789012345678901234567890123456789012345678901234567890\"}", "name"},
        {"{\"name\": \"A\", \"description\": 3}", "description"},
        {"{\"name\": \"A\", \"parent_id\": \"nope\"}", "parent_id"},
        {"{\"name\": \"A\", \"parent_id\": \"" NO_SUCH_ID "\"}", "parent_id"},
        {"{\"name\": \"A\", \"permissions\": {}}", "permissions"},
        {"{\"name\": \"A\", \"permissions\": [\"bookings:view\"]}", "permissions[0]"},
        {"{\"name\": \"A\", \"permissions\": [{\"resource\": \"spaceships\", \"action\": "
         "\"view\"}]}",
         "permissions[0].resource"},
        {"{\"name\": \"A\", \"permissions\": [{\"resource\": \"rooms\", \"action\": \"view\"},"
         " {\"resource\": \"rooms\", \"action\": \"fly\"}]}",
         "permissions[1].action"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct itest_resp *r =
            call_raw(&st, &st.owner, "POST", "/api/roles", "application/json", bad[i].body, true);
        if (r->status != 422)
            fail_msg("POST %s: expected 422, got %ld: %s", bad[i].body, r->status, r->body);
        json_t *fields = json_object_get(json_object_get(r->json, "error"), "fields");
        if (!json_object_get(fields, bad[i].field))
            fail_msg("POST %s: expected fields.%s, got %s", bad[i].body, bad[i].field, r->body);
        itest_resp_free(r);
    }
    expect(call_raw(&st, &st.owner, "PUT", path, "application/json",
                    "{\"permissions\": [{\"resource\": \"rooms\", \"action\": \"sing\"}]}", true),
           422, "invalid_input");

    /* 409: a name taken, whatever its case (built-in names too) */
    expect(call(&st, &st.owner, "POST", "/api/roles", json_pack("{s:s}", "name", "CLEANERS")), 409,
           "role_name_taken");
    expect(call(&st, &st.owner, "POST", "/api/roles", json_pack("{s:s}", "name", "Front Desk")),
           409, "role_name_taken");
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "name", "Owner")), 409,
           "role_name_taken");

    /* 404: unknown and non-uuid ids */
    expect(call(&st, &st.owner, "GET", "/api/roles/" NO_SUCH_ID, NULL), 404, "not_found");
    expect(call(&st, &st.owner, "PUT", "/api/roles/" NO_SUCH_ID, json_pack("{s:s}", "name", "B")),
           404, "not_found");
    expect(call(&st, &st.owner, "DELETE", "/api/roles/" NO_SUCH_ID, NULL), 404, "not_found");
    expect(call(&st, &st.owner, "GET", "/api/roles/" NO_SUCH_ID "/permissions", NULL), 404,
           "not_found");
    expect(call(&st, &st.owner, "GET", "/api/roles/not-a-uuid", NULL), 404, "not_found");
    expect(call(&st, &st.owner, "DELETE", "/api/roles/123", NULL), 404, "not_found");

    /* 403 without the CSRF token, 401 without a session */
    expect(call_raw(&st, &st.owner, "POST", "/api/roles", "application/json", "{\"name\":\"Z\"}",
                    false),
           403, "csrf_failed");
    expect(call_raw(&st, &st.owner, "DELETE", path, NULL, NULL, false), 403, "csrf_failed");
    expect(call_raw(&st, NULL, "GET", "/api/roles", NULL, NULL, false), 401, "unauthenticated");
    expect(call_raw(&st, NULL, "GET", "/api/permissions/matrix", NULL, NULL, false), 401,
           "unauthenticated");
    expect(call_raw(&st, NULL, "POST", "/api/roles", "application/json", "{\"name\":\"Z\"}", false),
           401, "unauthenticated");

    /* nothing of the above changed the role */
    json_t *got = take_json(call(&st, &st.owner, "GET", path, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "Cleaners");
    json_decref(got);
    char *n = itest_pg_value(st.s.db, "SELECT count(*) FROM roles");
    assert_string_equal(n, "6");
    free(n);
    free(id);
}

static void test_cycles_are_refused(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-cycle", &st);
    char *a = create_role(&st, "A", NULL, "rooms:view");
    char *b = create_role(&st, "B", a, "bookings:view");
    char *c = create_role(&st, "C", b, "customers:view");
    char path[160];
    snprintf(path, sizeof(path), "/api/roles/%s", a);

    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", a)), 422,
           "role_cycle");
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", b)), 422,
           "role_cycle");
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", c)), 422,
           "role_cycle");
    char *parent = itest_pg_value(st.s.db, "SELECT parent_id FROM roles WHERE id = $1", a);
    assert_null(parent);

    /* not a cycle: C straight under A, then A under a built-in */
    snprintf(path, sizeof(path), "/api/roles/%s", c);
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", a)), 200, NULL);
    char *viewer = role_id(&st, "viewer");
    snprintf(path, sizeof(path), "/api/roles/%s", a);
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", viewer)), 200, NULL);

    /* a role others inherit from cannot be deleted until they move */
    struct itest_resp *r = call(&st, &st.owner, "DELETE", path, NULL);
    assert_int_equal(r->status, 409);
    assert_string_equal(itest_error_code(r), "role_has_children");
    json_t *children = json_object_get(json_object_get(json_object_get(r->json, "error"), "fields"),
                                       "inherited_by");
    assert_int_equal(json_array_size(children), 2);
    itest_resp_free(r);
    snprintf(path, sizeof(path), "/api/roles/%s", b);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    snprintf(path, sizeof(path), "/api/roles/%s", c);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    snprintf(path, sizeof(path), "/api/roles/%s", a);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    free(viewer);
    free(a);
    free(b);
    free(c);
}

static void test_builtin_roles_cannot_be_changed_or_deleted(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-fixed", &st);
    static const char *const names[] = {"owner", "manager", "engineer", "front desk", "viewer"};
    for (size_t i = 0; i < 5; i++) {
        char *id = role_id(&st, names[i]);
        char path[160];
        snprintf(path, sizeof(path), "/api/roles/%s", id);
        expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "description", "mine now")),
               403, "builtin_role");
        expect(call(&st, &st.owner, "PUT", path, json_pack("{s:o}", "permissions", perms(""))), 403,
               "builtin_role");
        expect(call(&st, &st.owner, "DELETE", path, NULL), 403, "builtin_role");
        free(id);
    }
    char *n = itest_pg_value(st.s.db, "SELECT count(*) FROM role_permissions p"
                                      " JOIN roles r ON r.id = p.role_id WHERE r.builtin");
    assert_string_equal(n, "60");
    free(n);
}

/* ---- the matrix and enforcement ---------------------------------------------------------- */

static void test_matrix_marks_direct_and_inherited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-matrix", &st);
    char *base = create_role(&st, "Base", NULL, "bookings:view,rooms:manage");
    char *child = create_role(&st, "Child", base, "customers:create");
    char *grandchild = create_role(&st, "Grandchild", child, "bookings:view");

    json_t *m = take_json(call(&st, &st.owner, "GET", "/api/permissions/matrix", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(m, "resources")), 14);
    assert_int_equal(json_array_size(json_object_get(m, "actions")), 6);
    assert_int_equal(json_array_size(json_object_get(m, "roles")), 8);
    /* every role has every resource × action */
    size_t i;
    json_t *role;
    json_array_foreach(json_object_get(m, "roles"), i, role)
    {
        json_t *grid = json_object_get(role, "permissions");
        assert_int_equal(json_object_size(grid), 14);
        const char *key;
        json_t *row;
        json_object_foreach(grid, key, row) assert_int_equal(json_object_size(row), 6);
    }

    assert_string_equal(cell(m, "Base", "bookings", "view"), "direct");
    assert_string_equal(cell(m, "Base", "rooms", "delete"), "direct"); /* its manage */
    assert_null(cell(m, "Base", "customers", "create"));

    assert_string_equal(cell(m, "Child", "customers", "create"), "direct");
    assert_string_equal(cell(m, "Child", "bookings", "view"), "inherited");
    assert_string_equal(cell(m, "Child", "rooms", "manage"), "inherited");
    assert_string_equal(cell(m, "Child", "rooms", "export"), "inherited");
    assert_null(cell(m, "Child", "bookings", "create"));
    assert_null(cell(m, "Child", "payments", "view"));

    assert_string_equal(cell(m, "Grandchild", "bookings", "view"), "direct"); /* own wins */
    assert_string_equal(cell(m, "Grandchild", "customers", "create"), "inherited");
    assert_string_equal(cell(m, "Grandchild", "rooms", "update"), "inherited");

    assert_string_equal(cell(m, "owner", "billing", "view"), "direct");
    assert_string_equal(cell(m, "owner", "domains", "manage"), "direct");
    assert_null(cell(m, "manager", "billing", "manage"));
    assert_string_equal(cell(m, "manager", "billing", "update"), "direct");
    assert_null(cell(m, "manager", "staff", "delete"));
    assert_null(cell(m, "manager", "roles", "manage"));
    assert_string_equal(cell(m, "manager", "audit", "export"), "direct");
    assert_null(cell(m, "manager", "audit", "manage"));
    assert_string_equal(cell(m, "manager", "roles", "create"), "direct");
    assert_string_equal(cell(m, "engineer", "sessions", "update"), "direct");
    assert_null(cell(m, "engineer", "bookings", "update"));
    assert_string_equal(cell(m, "viewer", "customers", "view"), "direct");
    assert_null(cell(m, "viewer", "customers", "create"));
    json_t *c = find_by(json_object_get(m, "roles"), "name", "Child");
    assert_string_equal(json_string_value(json_object_get(c, "parent_id")), base);
    json_decref(m);
    free(base);
    free(child);
    free(grandchild);
}

static void test_inherited_permissions_are_enforced_on_routes(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-enforce", &st);
    char *desk = role_id(&st, "front desk");
    char *id = create_role(&st, "Desk plus rooms", desk, "rooms:create");
    struct member m;
    add_member(&st, "Desk plus rooms", &m);

    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 200);  /* inherited */
    assert_int_equal(status_of(&st, &m, "GET", "/api/customers"), 200); /* inherited */
    assert_int_equal(status_of(&st, &m, "POST", "/api/rooms"), 422);    /* own, then {} */
    assert_int_equal(status_of(&st, &m, "DELETE", "/api/rooms/" NO_SUCH_ID), 403);
    assert_int_equal(status_of(&st, &m, "GET", "/api/roles"), 403);
    assert_int_equal(status_of(&st, &m, "PUT", "/api/settings/booking"), 403);

    /* the parent's grants change: the child's follow at once (the next request) */
    char path[160];
    snprintf(path, sizeof(path), "/api/roles/%s", id);
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:n}", "parent_id")), 200, NULL);
    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 403);
    assert_int_equal(status_of(&st, &m, "POST", "/api/rooms"), 422);

    /* and the role's removal ends them */
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    assert_int_equal(status_of(&st, &m, "POST", "/api/rooms"), 403);
    free(desk);
    free(id);
}

/* ---- assignments ------------------------------------------------------------------------- */

static void test_assign_and_remove_roles(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-assign", &st);
    struct member m;
    add_member(&st, NULL, &m);
    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 403);

    assign(&st, &st.owner, &m, "viewer", NULL, 201, NULL);
    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 200);
    assign(&st, &st.owner, &m, "viewer", NULL, 200, NULL); /* again: replaced, not added */
    char *n = itest_pg_value(st.s.db, "SELECT count(*) FROM user_roles WHERE user_id = $1", m.id);
    assert_string_equal(n, "1");
    free(n);

    char *viewer = role_id(&st, "viewer");
    char path[200];
    snprintf(path, sizeof(path), "/api/users/%s/roles", m.id);
    /* the reply */
    json_t *out = take_json(call(&st, &st.owner, "POST", path,
                                 json_pack("{s:s, s:n}", "role_id", viewer, "expires_at")),
                            200);
    assert_string_equal(json_string_value(json_object_get(out, "role")), "viewer");
    assert_string_equal(json_string_value(json_object_get(out, "user_id")), m.id);
    assert_true(json_is_null(json_object_get(out, "expires_at")));
    json_decref(out);

    /* 422: bad role_id, unknown role, bad or past expiry */
    expect(call(&st, &st.owner, "POST", path, json_object()), 422, "invalid_input");
    expect(call(&st, &st.owner, "POST", path, json_pack("{s:s}", "role_id", "viewer")), 422,
           "invalid_input");
    expect(call(&st, &st.owner, "POST", path, json_pack("{s:s}", "role_id", NO_SUCH_ID)), 422,
           "invalid_input");
    expect(call(&st, &st.owner, "POST", path,
                json_pack("{s:s, s:s}", "role_id", viewer, "expires_at", "tomorrow")),
           422, "invalid_input");
    expect(call(&st, &st.owner, "POST", path,
                json_pack("{s:s, s:s}", "role_id", viewer, "expires_at", "2031-02-30T10:00:00Z")),
           422, "invalid_input");
    expect(call(&st, &st.owner, "POST", path,
                json_pack("{s:s, s:s}", "role_id", viewer, "expires_at", "2001-01-01T10:00:00Z")),
           422, "invalid_input");
    expect(call_raw(&st, &st.owner, "POST", path, "application/json", "{", true), 400,
           "malformed_json");
    /* 404: unknown user */
    expect(call(&st, &st.owner, "POST", "/api/users/" NO_SUCH_ID "/roles",
                json_pack("{s:s}", "role_id", viewer)),
           404, "not_found");
    expect(call(&st, &st.owner, "POST", "/api/users/nobody/roles",
                json_pack("{s:s}", "role_id", viewer)),
           404, "not_found");
    /* CSRF, session */
    expect(call_raw(&st, &st.owner, "POST", path, "application/json", "{}", false), 403,
           "csrf_failed");
    expect(call_raw(&st, NULL, "POST", path, "application/json", "{}", false), 401,
           "unauthenticated");

    /* removal */
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", m.id, viewer);
    expect(call_raw(&st, &st.owner, "DELETE", path, NULL, NULL, false), 403, "csrf_failed");
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 403);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 404, "not_found");
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", NO_SUCH_ID, viewer);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 404, "not_found");
    snprintf(path, sizeof(path), "/api/users/%s/roles/x", m.id);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 404, "not_found");
    free(viewer);
}

static void test_temporary_role_stops_granting_at_expiry_and_is_tidied_away(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-expiry", &st);
    struct member m;
    add_member(&st, NULL, &m);
    char *expires = db_now_plus(EXPIRY_SECONDS);
    char *viewer = role_id(&st, "viewer");
    char path[200];
    snprintf(path, sizeof(path), "/api/users/%s/roles", m.id);
    json_t *out = take_json(call(&st, &st.owner, "POST", path,
                                 json_pack("{s:s, s:s}", "role_id", viewer, "expires_at", expires)),
                            201);
    assert_string_equal(json_string_value(json_object_get(out, "expires_at")), expires);
    json_decref(out);

    /* granted now... */
    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 200);
    long long since = audit_mark(&st);
    double start = itest_now_ms();
    long status = 200;
    while (status == 200 && itest_now_ms() - start < EXPIRY_WAIT_MS) {
        itest_pause_ms(POLL_MS);
        status = status_of(&st, &m, "GET", "/api/bookings");
    }
    /* ...and not from expires_at on */
    assert_int_equal(status, 403);
    char *past = itest_pg_value(NULL, "SELECT now() >= $1::timestamptz", expires);
    assert_string_equal(past, "t");
    free(past);

    /* the job removes the row (grants already stopped without it) */
    char *left = NULL, *job = NULL;
    while (itest_now_ms() - start < EXPIRY_WAIT_MS) {
        free(left);
        free(job);
        left = itest_pg_value(st.s.db, "SELECT count(*) FROM user_roles WHERE user_id = $1", m.id);
        job = itest_pg_value(NULL,
                             "SELECT status FROM jobs WHERE kind = 'rbac_expire_roles'"
                             " AND payload->>'slug' = $1 ORDER BY id DESC LIMIT 1",
                             st.s.slug);
        if (left && strcmp(left, "0") == 0 && job && strcmp(job, "done") == 0)
            break;
        itest_pause_ms(POLL_MS);
    }
    assert_non_null(left);
    assert_string_equal(left, "0");
    assert_non_null(job);
    assert_string_equal(job, "done");
    free(left);
    free(job);
    /* the owner's own role is untouched */
    char *owners =
        itest_pg_value(st.s.db, "SELECT count(*) FROM user_roles WHERE user_id = $1", st.owner.id);
    assert_string_equal(owners, "1");
    free(owners);
    /* the removal is the system's entry, written with it */
    char key[80];
    snprintf(key, sizeof(key), "%s/%s", m.id, viewer);
    json_t *e = expect_entry(&st, since, NULL, "expire", "user_roles", key);
    json_t *before = json_object_get(e, "before");
    assert_string_equal(json_string_value(json_object_get(before, "role_id")), viewer);
    assert_string_equal(json_string_value(json_object_get(before, "role")), "viewer");
    assert_string_equal(json_string_value(json_object_get(before, "expires_at")), expires);
    assert_true(json_is_null(json_object_get(e, "after")));
    json_decref(e);
    expect_chain_ok(&st);
    free(viewer);
    free(expires);
}

static void test_last_owner_cannot_be_removed_or_demoted(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-owner", &st);
    char *owner = role_id(&st, "owner");
    char *later = db_now_plus("3600");
    char path[200];
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", st.owner.id, owner);

    expect(call(&st, &st.owner, "DELETE", path, NULL), 409, "last_owner");
    assign(&st, &st.owner, &st.owner, "owner", later, 409, "last_owner");
    assign(&st, &st.owner, &st.owner, "owner", NULL, 200, NULL); /* for good again: fine */

    /* a temporary second owner does not count */
    struct member second;
    add_member(&st, NULL, &second);
    assign(&st, &st.owner, &second, "owner", later, 201, NULL);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 409, "last_owner");
    /* nor does an inactive one */
    assign(&st, &st.owner, &second, "owner", NULL, 200, NULL);
    assert_int_equal(
        itest_pg_exec(st.s.db, "UPDATE users SET active = false WHERE id = $1", second.id), 0);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 409, "last_owner");
    assert_int_equal(
        itest_pg_exec(st.s.db, "UPDATE users SET active = true WHERE id = $1", second.id), 0);
    sign_in(&st, &second);

    /* with a second owner for good, the first may step down to a temporary owner... */
    assign(&st, &st.owner, &st.owner, "owner", later, 200, NULL);
    /* ...and the second is now the last one: neither of them can remove it */
    char second_path[200];
    snprintf(second_path, sizeof(second_path), "/api/users/%s/roles/%s", second.id, owner);
    expect(call(&st, &second, "DELETE", second_path, NULL), 409, "last_owner");
    expect(call(&st, &st.owner, "DELETE", second_path, NULL), 409, "last_owner");
    assign(&st, &second, &second, "owner", later, 409, "last_owner");
    /* the first owner's temporary grant can go */
    expect(call(&st, &second, "DELETE", path, NULL), 204, NULL);
    assert_int_equal(status_of(&st, &st.owner, "GET", "/api/roles"), 403);
    char *n = itest_pg_value(st.s.db,
                             "SELECT count(*) FROM user_roles WHERE role_id = $1"
                             " AND expires_at IS NULL",
                             owner);
    assert_string_equal(n, "1");
    free(n);
    free(owner);
    free(later);
}

/* ---- privilege escalation ---------------------------------------------------------------- */

static void test_front_desk_cannot_grant_itself_more(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-desk", &st);
    struct member desk;
    add_member(&st, "front desk", &desk);
    char *owner = role_id(&st, "owner");
    char *desk_role = role_id(&st, "front desk");

    /* assigning needs staff:manage */
    assign(&st, &desk, &desk, "owner", NULL, 403, "forbidden");
    assign(&st, &desk, &desk, "front desk", NULL, 403, "forbidden");
    /* making or changing roles needs roles:create / roles:update */
    expect(call(&st, &desk, "POST", "/api/roles",
                json_pack("{s:s, s:o}", "name", "Desk admin", "permissions",
                          perms("roles:manage,staff:manage"))),
           403, "forbidden");
    char path[200];
    snprintf(path, sizeof(path), "/api/roles/%s", desk_role);
    expect(call(&st, &desk, "PUT", path,
                json_pack("{s:o}", "permissions", perms("bookings:view,roles:manage"))),
           403, "forbidden");
    expect(call(&st, &desk, "GET", "/api/permissions/matrix", NULL), 403, "forbidden");
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", st.owner.id, owner);
    expect(call(&st, &desk, "DELETE", path, NULL), 403, "forbidden");

    /* nothing changed */
    char *n =
        itest_pg_value(st.s.db, "SELECT count(*) FROM user_roles WHERE user_id = $1", desk.id);
    assert_string_equal(n, "1");
    free(n);
    n = itest_pg_value(st.s.db, "SELECT count(*) FROM roles");
    assert_string_equal(n, "5");
    free(n);
    free(owner);
    free(desk_role);
}

static void test_manager_cannot_make_or_change_roles_beyond_its_own(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-manager", &st);
    struct member mgr;
    add_member(&st, "manager", &mgr);
    char *owner = role_id(&st, "owner");
    char *desk = role_id(&st, "front desk");

    /* more than it holds, directly or through a parent */
    struct itest_resp *r = call(&st, &mgr, "POST", "/api/roles",
                                json_pack("{s:s, s:o}", "name", "Money", "permissions",
                                          perms("bookings:view,billing:manage")));
    assert_int_equal(r->status, 403);
    assert_string_equal(itest_error_code(r), "privilege_escalation");
    json_t *missing =
        json_object_get(json_object_get(json_object_get(r->json, "error"), "fields"), "missing");
    assert_int_equal(json_array_size(missing), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(missing, 0), "resource")),
                        "billing");
    itest_resp_free(r);
    expect(call(&st, &mgr, "POST", "/api/roles",
                json_pack("{s:s, s:s}", "name", "Like the owner", "parent_id", owner)),
           403, "privilege_escalation");
    expect(call(&st, &mgr, "POST", "/api/roles",
                json_pack("{s:s, s:o}", "name", "Firer", "permissions", perms("staff:delete"))),
           403, "privilege_escalation");

    /* within what it holds: fine (manage on bookings, a built-in parent it covers) */
    json_t *made = take_json(call(&st, &mgr, "POST", "/api/roles",
                                  json_pack("{s:s, s:s, s:o}", "name", "Bookers", "parent_id", desk,
                                            "permissions", perms("bookings:manage"))),
                             201);
    char path[200];
    snprintf(path, sizeof(path), "/api/roles/%s", json_string_value(json_object_get(made, "id")));
    json_decref(made);
    expect(call(&st, &mgr, "PUT", path,
                json_pack("{s:o}", "permissions", perms("bookings:manage,roles:delete"))),
           403, "privilege_escalation");
    expect(call(&st, &mgr, "PUT", path, json_pack("{s:s}", "parent_id", owner)), 403,
           "privilege_escalation");
    expect(call(&st, &mgr, "PUT", path, json_pack("{s:s}", "description", "still mine")), 200,
           NULL);

    /* a role above it, made by the owner, cannot be touched even to take away */
    char *above = create_role(&st, "Treasurer", NULL, "billing:manage,bookings:view");
    snprintf(path, sizeof(path), "/api/roles/%s", above);
    expect(call(&st, &mgr, "PUT", path, json_pack("{s:o}", "permissions", perms("bookings:view"))),
           403, "privilege_escalation");
    /* built-in roles: refused as such */
    snprintf(path, sizeof(path), "/api/roles/%s", desk);
    expect(
        call(&st, &mgr, "PUT", path, json_pack("{s:o}", "permissions", perms("bookings:manage"))),
        403, "builtin_role");
    /* deleting needs roles:delete, which a manager lacks; assigning needs staff:manage */
    snprintf(path, sizeof(path), "/api/roles/%s", above);
    expect(call(&st, &mgr, "DELETE", path, NULL), 403, "forbidden");
    assign(&st, &mgr, &mgr, "owner", NULL, 403, "forbidden");

    char *perms_now = itest_pg_value(st.s.db,
                                     "SELECT string_agg(resource || ':' || action, ','"
                                     " ORDER BY resource, action)"
                                     " FROM role_permissions WHERE role_id = $1",
                                     above);
    assert_string_equal(perms_now, "billing:manage,bookings:view");
    free(perms_now);
    free(above);
    free(owner);
    free(desk);
}

static void test_team_lead_cannot_assign_or_remove_roles_beyond_its_own(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-lead", &st);
    char *desk = role_id(&st, "front desk");
    char *lead_role = create_role(&st, "Team lead", desk, "staff:manage,roles:view");
    struct member lead, clerk, second_owner;
    add_member(&st, "Team lead", &lead);
    add_member(&st, NULL, &clerk);
    add_member(&st, "owner", &second_owner);

    /* what it holds: fine, to others and to itself */
    assign(&st, &lead, &clerk, "front desk", NULL, 201, NULL);
    assign(&st, &lead, &clerk, "viewer", NULL, 201, NULL);
    assign(&st, &lead, &lead, "Team lead", NULL, 200, NULL);
    /* more than it holds: refused */
    assign(&st, &lead, &lead, "owner", NULL, 403, "privilege_escalation");
    assign(&st, &lead, &clerk, "manager", NULL, 403, "privilege_escalation");
    assign(&st, &lead, &clerk, "engineer", NULL, 403, "privilege_escalation"); /* sessions:update */
    /* taking away what it could not give: refused too, even with another owner left */
    char *owner = role_id(&st, "owner");
    char path[200];
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", second_owner.id, owner);
    expect(call(&st, &lead, "DELETE", path, NULL), 403, "privilege_escalation");
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", clerk.id, desk);
    expect(call(&st, &lead, "DELETE", path, NULL), 204, NULL);
    /* it cannot widen its own role */
    snprintf(path, sizeof(path), "/api/roles/%s", lead_role);
    expect(call(&st, &lead, "PUT", path, json_pack("{s:o}", "permissions", perms("roles:manage"))),
           403, "forbidden");

    /* staff:manage without roles:view is not enough to assign */
    char *bare = create_role(&st, "Bare HR", NULL, "staff:manage");
    struct member hr;
    add_member(&st, "Bare HR", &hr);
    assign(&st, &hr, &clerk, "Bare HR", NULL, 403, "forbidden");

    char *n = itest_pg_value(st.s.db,
                             "SELECT string_agg(r.name, ',' ORDER BY r.name) FROM user_roles ur"
                             " JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1",
                             clerk.id);
    assert_string_equal(n, "viewer");
    free(n);
    n = itest_pg_value(st.s.db, "SELECT count(*) FROM user_roles WHERE role_id = $1", owner);
    assert_string_equal(n, "2");
    free(n);
    free(bare);
    free(owner);
    free(lead_role);
    free(desk);
}

/* ---- the audit log ----------------------------------------------------------------------- */

static void test_role_changes_are_audited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-audit-role", &st);
    char *viewer = role_id(&st, "viewer");

    /* create: the role as made, permissions and parent included */
    long long since = audit_mark(&st);
    char *id = create_role(&st, "Night shift", viewer, "bookings:create,rooms:manage");
    json_t *e = expect_entry(&st, since, &st.owner, "create", "roles", id);
    json_t *after = json_object_get(e, "after");
    assert_true(json_is_null(json_object_get(e, "before")));
    assert_string_equal(json_string_value(json_object_get(after, "id")), id);
    assert_string_equal(json_string_value(json_object_get(after, "name")), "Night shift");
    assert_string_equal(json_string_value(json_object_get(after, "parent_id")), viewer);
    assert_int_equal(json_array_size(json_object_get(after, "permissions")), 2);
    assert_non_null(find_by(json_object_get(after, "permissions"), "resource", "rooms"));
    json_decref(e);

    /* update: what changed, before and after (permissions and parent here) */
    char path[160];
    snprintf(path, sizeof(path), "/api/roles/%s", id);
    since = audit_mark(&st);
    expect(call(&st, &st.owner, "PUT", path,
                json_pack("{s:o, s:n}", "permissions", perms("reports:export"), "parent_id")),
           200, NULL);
    e = expect_entry(&st, since, &st.owner, "update", "roles", id);
    json_t *before = json_object_get(e, "before");
    after = json_object_get(e, "after");
    assert_string_equal(json_string_value(json_object_get(before, "parent_id")), viewer);
    assert_true(json_is_null(json_object_get(after, "parent_id")));
    assert_int_equal(json_array_size(json_object_get(before, "permissions")), 2);
    json_t *now = json_object_get(after, "permissions");
    assert_int_equal(json_array_size(now), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(now, 0), "resource")),
                        "reports");
    assert_null(json_object_get(after, "name")); /* unchanged: not stored */
    json_decref(e);

    /* a new parent alone is a change too */
    since = audit_mark(&st);
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", viewer)), 200, NULL);
    e = expect_entry(&st, since, &st.owner, "update", "roles", id);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "after"), "parent_id")), viewer);
    json_decref(e);
    /* a change to nothing writes nothing */
    since = audit_mark(&st);
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "name", "Night shift")), 200, NULL);
    expect_no_entry(&st, since);

    /* delete: the role as it was */
    since = audit_mark(&st);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    e = expect_entry(&st, since, &st.owner, "delete", "roles", id);
    before = json_object_get(e, "before");
    assert_string_equal(json_string_value(json_object_get(before, "name")), "Night shift");
    assert_int_equal(json_array_size(json_object_get(before, "permissions")), 1);
    assert_true(json_is_null(json_object_get(e, "after")));
    json_decref(e);

    expect_chain_ok(&st);
    free(id);
    free(viewer);
}

static void test_assignments_are_audited(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-audit-assign", &st);
    struct member m;
    add_member(&st, NULL, &m);
    char *viewer = role_id(&st, "viewer");
    char *later = db_now_plus("3600");
    char key[80];
    snprintf(key, sizeof(key), "%s/%s", m.id, viewer);

    /* a new assignment: create */
    long long since = audit_mark(&st);
    assign(&st, &st.owner, &m, "viewer", NULL, 201, NULL);
    json_t *e = expect_entry(&st, since, &st.owner, "create", "user_roles", key);
    json_t *after = json_object_get(e, "after");
    assert_string_equal(json_string_value(json_object_get(after, "user_id")), m.id);
    assert_string_equal(json_string_value(json_object_get(after, "role_id")), viewer);
    assert_string_equal(json_string_value(json_object_get(after, "role")), "viewer");
    assert_true(json_is_null(json_object_get(after, "expires_at")));
    json_decref(e);

    /* given again with an expiry: update, before and after */
    since = audit_mark(&st);
    assign(&st, &st.owner, &m, "viewer", later, 200, NULL);
    e = expect_entry(&st, since, &st.owner, "update", "user_roles", key);
    assert_true(json_is_null(json_object_get(json_object_get(e, "before"), "expires_at")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "after"), "expires_at")), later);
    json_decref(e);
    /* again with the same expiry: nothing changed, nothing written */
    since = audit_mark(&st);
    assign(&st, &st.owner, &m, "viewer", later, 200, NULL);
    expect_no_entry(&st, since);
    /* for good again: update */
    since = audit_mark(&st);
    assign(&st, &st.owner, &m, "viewer", NULL, 200, NULL);
    e = expect_entry(&st, since, &st.owner, "update", "user_roles", key);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "before"), "expires_at")), later);
    assert_true(json_is_null(json_object_get(json_object_get(e, "after"), "expires_at")));
    json_decref(e);

    /* removal: delete, the assignment as it was */
    char path[200];
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", m.id, viewer);
    since = audit_mark(&st);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 204, NULL);
    e = expect_entry(&st, since, &st.owner, "delete", "user_roles", key);
    json_t *before = json_object_get(e, "before");
    assert_string_equal(json_string_value(json_object_get(before, "role_id")), viewer);
    assert_string_equal(json_string_value(json_object_get(before, "role")), "viewer");
    assert_true(json_is_null(json_object_get(e, "after")));
    json_decref(e);

    expect_chain_ok(&st);
    free(later);
    free(viewer);
}

static void test_refused_changes_leave_no_entry(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-audit-refused", &st);
    char *a = create_role(&st, "A", NULL, "rooms:view");
    char *b = create_role(&st, "B", a, "bookings:view");
    char *owner = role_id(&st, "owner");
    char *desk = role_id(&st, "front desk");
    char *later = db_now_plus("3600");
    struct member mgr, lead, clerk;
    add_member(&st, "manager", &mgr);
    char *lead_role = create_role(&st, "Team lead", desk, "staff:manage,roles:view");
    add_member(&st, "Team lead", &lead);
    add_member(&st, NULL, &clerk);
    char path[200];

    long long since = audit_mark(&st);
    /* 422 role_cycle */
    snprintf(path, sizeof(path), "/api/roles/%s", a);
    expect(call(&st, &st.owner, "PUT", path, json_pack("{s:s}", "parent_id", b)), 422,
           "role_cycle");
    /* 403 privilege_escalation: making, changing, assigning, removing */
    expect(call(&st, &mgr, "POST", "/api/roles",
                json_pack("{s:s, s:o}", "name", "Money", "permissions", perms("billing:manage"))),
           403, "privilege_escalation");
    expect(call(&st, &mgr, "PUT", path, json_pack("{s:s}", "parent_id", owner)), 403,
           "privilege_escalation");
    assign(&st, &lead, &clerk, "manager", NULL, 403, "privilege_escalation");
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", st.owner.id, owner);
    expect(call(&st, &lead, "DELETE", path, NULL), 403, "privilege_escalation");
    /* 409 last_owner: removed, or given an expiry */
    expect(call(&st, &st.owner, "DELETE", path, NULL), 409, "last_owner");
    assign(&st, &st.owner, &st.owner, "owner", later, 409, "last_owner");
    /* and the other refusals: built-in role, taken name, a role others inherit from */
    snprintf(path, sizeof(path), "/api/roles/%s", desk);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 403, "builtin_role");
    expect(call(&st, &st.owner, "POST", "/api/roles", json_pack("{s:s}", "name", "a")), 409,
           "role_name_taken");
    snprintf(path, sizeof(path), "/api/roles/%s", a);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 409, "role_has_children");
    expect_no_entry(&st, since);

    expect_chain_ok(&st);
    free(lead_role);
    free(later);
    free(desk);
    free(owner);
    free(a);
    free(b);
}

static void test_a_change_whose_entry_cannot_be_written_does_not_happen(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio st;
    open_studio("rbac-audit-fail", &st);
    char *id = create_role(&st, "Night shift", NULL, "rooms:view");
    char *viewer = role_id(&st, "viewer");
    char *later = db_now_plus("3600");
    struct member m, kept;
    add_member(&st, "viewer", &m);
    add_member(&st, NULL, &kept);
    char path[200];

    refuse_entries(&st, true);
    long long since = audit_mark(&st);
    expect(call(&st, &st.owner, "POST", "/api/roles", json_pack("{s:s}", "name", "Day shift")), 503,
           "database_unavailable");
    snprintf(path, sizeof(path), "/api/roles/%s", id);
    expect(
        call(&st, &st.owner, "PUT", path,
             json_pack("{s:s, s:o}", "name", "Late shift", "permissions", perms("rooms:manage"))),
        503, "database_unavailable");
    expect(call(&st, &st.owner, "DELETE", path, NULL), 503, "database_unavailable");
    assign(&st, &st.owner, &kept, "viewer", NULL, 503, "database_unavailable");
    assign(&st, &st.owner, &m, "viewer", later, 503, "database_unavailable");
    snprintf(path, sizeof(path), "/api/users/%s/roles/%s", m.id, viewer);
    expect(call(&st, &st.owner, "DELETE", path, NULL), 503, "database_unavailable");
    refuse_entries(&st, false);
    expect_no_entry(&st, since);

    /* nothing of it happened */
    char *n = itest_pg_value(st.s.db, "SELECT string_agg(name, ',' ORDER BY name) FROM roles"
                                      " WHERE NOT builtin");
    assert_string_equal(n, "Night shift");
    free(n);
    n = itest_pg_value(st.s.db,
                       "SELECT string_agg(resource || ':' || action, ',') FROM role_permissions"
                       " WHERE role_id = $1",
                       id);
    assert_string_equal(n, "rooms:view");
    free(n);
    n = itest_pg_value(st.s.db,
                       "SELECT (SELECT count(*) FROM user_roles WHERE user_id = $1) || ' ' ||"
                       "       (SELECT count(*) FROM user_roles WHERE user_id = $2"
                       "           AND expires_at IS NULL)",
                       kept.id, m.id);
    assert_string_equal(n, "0 1");
    free(n);
    assert_int_equal(status_of(&st, &m, "GET", "/api/bookings"), 200);

    /* and with the log accepting entries again, the same changes go through */
    since = audit_mark(&st);
    assign(&st, &st.owner, &kept, "viewer", NULL, 201, NULL);
    char key[80];
    snprintf(key, sizeof(key), "%s/%s", kept.id, viewer);
    json_decref(expect_entry(&st, since, &st.owner, "create", "user_roles", key));
    expect_chain_ok(&st);
    free(later);
    free(viewer);
    free(id);
}

/* ---- tenancy ----------------------------------------------------------------------------- */

static void test_another_studio_can_neither_see_nor_change_this_studios_roles(void **state)
{
    (void)state;
    ITEST_REQUIRE_SERVER();
    struct studio a, b;
    open_studio("rbac-ten-a", &a);
    open_studio("rbac-ten-b", &b);
    char *id = create_role(&a, "A only", NULL, "rooms:view");
    char path[200];
    snprintf(path, sizeof(path), "/api/roles/%s", id);

    expect(call(&b, &b.owner, "GET", path, NULL), 404, "not_found");
    expect(call(&b, &b.owner, "PUT", path, json_pack("{s:s}", "name", "Taken over")), 404,
           "not_found");
    expect(call(&b, &b.owner, "DELETE", path, NULL), 404, "not_found");
    snprintf(path, sizeof(path), "/api/roles/%s/permissions", id);
    expect(call(&b, &b.owner, "GET", path, NULL), 404, "not_found");
    /* as a parent or in an assignment: no such role there */
    expect(call(&b, &b.owner, "POST", "/api/roles",
                json_pack("{s:s, s:s}", "name", "Child of A", "parent_id", id)),
           422, "invalid_input");
    snprintf(path, sizeof(path), "/api/users/%s/roles", b.owner.id);
    expect(call(&b, &b.owner, "POST", path, json_pack("{s:s}", "role_id", id)), 422,
           "invalid_input");
    /* A's users are not B's */
    snprintf(path, sizeof(path), "/api/users/%s/roles", a.owner.id);
    char *b_viewer = role_id(&b, "viewer");
    expect(call(&b, &b.owner, "POST", path, json_pack("{s:s}", "role_id", b_viewer)), 404,
           "not_found");
    /* B's list and matrix know nothing of A's role */
    json_t *list = take_json(call(&b, &b.owner, "GET", "/api/roles", NULL), 200);
    assert_null(find_by(json_object_get(list, "roles"), "name", "A only"));
    json_decref(list);
    json_t *m = take_json(call(&b, &b.owner, "GET", "/api/permissions/matrix", NULL), 200);
    assert_null(find_by(json_object_get(m, "roles"), "name", "A only"));
    json_decref(m);
    /* A's session on B's host is no session */
    struct member a_on_b = a.owner;
    expect(call(&b, &a_on_b, "GET", "/api/roles", NULL), 401, "unauthenticated");
    expect(call(&b, &a_on_b, "POST", "/api/roles", json_pack("{s:s}", "name", "Sneaky")), 401,
           "unauthenticated");

    json_t *still = take_json(call(&a, &a.owner, "GET", "/api/roles", NULL), 200);
    assert_non_null(find_by(json_object_get(still, "roles"), "name", "A only"));
    json_decref(still);
    free(b_viewer);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue_lists_resources_and_actions),
        cmocka_unit_test(test_builtin_roles_come_with_their_permissions),
        cmocka_unit_test(test_create_read_update_delete_a_role),
        cmocka_unit_test(test_role_input_errors),
        cmocka_unit_test(test_cycles_are_refused),
        cmocka_unit_test(test_builtin_roles_cannot_be_changed_or_deleted),
        cmocka_unit_test(test_matrix_marks_direct_and_inherited),
        cmocka_unit_test(test_inherited_permissions_are_enforced_on_routes),
        cmocka_unit_test(test_assign_and_remove_roles),
        cmocka_unit_test(test_temporary_role_stops_granting_at_expiry_and_is_tidied_away),
        cmocka_unit_test(test_last_owner_cannot_be_removed_or_demoted),
        cmocka_unit_test(test_front_desk_cannot_grant_itself_more),
        cmocka_unit_test(test_manager_cannot_make_or_change_roles_beyond_its_own),
        cmocka_unit_test(test_team_lead_cannot_assign_or_remove_roles_beyond_its_own),
        cmocka_unit_test(test_another_studio_can_neither_see_nor_change_this_studios_roles),
        cmocka_unit_test(test_role_changes_are_audited),
        cmocka_unit_test(test_assignments_are_audited),
        cmocka_unit_test(test_refused_changes_leave_no_entry),
        cmocka_unit_test(test_a_change_whose_entry_cannot_be_written_does_not_happen),
    };
    return cmocka_run_group_tests(tests, itest_suite_setup, itest_suite_teardown);
}
