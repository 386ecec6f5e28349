/*
 * test_audit.c — the audit log's rules without a database: what an update
 * stores (only the changed fields, secrets redacted), the canonical JSON the
 * hash covers (key order and spacing do not matter, every field does), the
 * hash chain over an in-memory list (an altered entry is found at that
 * entry, a removed one at the next, removed newest ones at the head, a
 * cleanup's anchor is a valid start), the risk rules as a pure function of
 * their facts, CSV fields safe from formula injection, and the filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/audit.h"
#include "studiod/crypto.h"
#include "studiod/tenant.h"

#define NCHAIN 5

/* A chain of NCHAIN entries, hashed from the genesis hash. */
struct chain {
    struct audit_entry e[NCHAIN];
    char hash[NCHAIN][AUDIT_HASH_HEX + 1];
    char at[NCHAIN][40];
    char rid[NCHAIN][16];
    json_t *after[NCHAIN];
};

static json_t *parse(const char *text);
static void chain_build(struct chain *c);
static void chain_rehash_from(struct chain *c, size_t from);
static void chain_free(struct chain *c);
static struct audit_risk assess(const struct audit_risk_facts *f);
static bool has_rule(const struct audit_risk *r, const char *rule);
static char *csv(const char *field);

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, err.text);
    return j;
}

static void chain_build(struct chain *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NCHAIN; i++) {
        snprintf(c->at[i], sizeof(c->at[i]), "2026-03-0%zuT10:00:00.000000Z", i + 1);
        snprintf(c->rid[i], sizeof(c->rid[i]), "room-%zu", i);
        c->after[i] = json_pack("{s:s, s:i}", "name", "Room", "hourly_rate", (int)(1000 + i));
        c->e[i] = (struct audit_entry){
            .id = (long long)i + 1,
            .at = c->at[i],
            .actor_type = AUDIT_ACTOR_USER,
            .actor_id = "0b7e7a52-3f1c-4c4e-9a43-5d8f2b1e6c10",
            .actor_name = "Ann",
            .actor_email = "ann@example.com",
            .action = "create",
            .resource = "rooms",
            .resource_id = c->rid[i],
            .after = c->after[i],
            .ip = "127.0.0.1",
            .risk_level = "none",
        };
    }
    chain_rehash_from(c, 0);
}

/* Recomputes the stored hashes from entry `from` on, as an honest writer would. */
static void chain_rehash_from(struct chain *c, size_t from)
{
    for (size_t i = from; i < NCHAIN; i++) {
        const char *prev = i == 0 ? AUDIT_GENESIS_HASH : c->hash[i - 1];
        char *canonical = audit_canonical(&c->e[i]);
        assert_non_null(canonical);
        audit_chain_hash(prev, canonical, c->hash[i]);
        free(canonical);
        c->e[i].hash = c->hash[i];
    }
}

static void chain_free(struct chain *c)
{
    for (size_t i = 0; i < NCHAIN; i++)
        json_decref(c->after[i]);
}

static struct audit_risk assess(const struct audit_risk_facts *f)
{
    struct audit_risk r;
    audit_risk_assess(f, &r);
    return r;
}

static bool has_rule(const struct audit_risk *r, const char *rule)
{
    for (int i = 0; i < r->nrules; i++)
        if (strcmp(r->rules[i], rule) == 0)
            return true;
    return false;
}

/* One CSV field as audit_csv_field writes it (free it). */
static char *csv(const char *field)
{
    struct arena *a = arena_new(256);
    struct buf b;
    buf_init(&b, a);
    audit_csv_field(&b, field);
    char *out = strdup(buf_cstr(&b));
    arena_free(a);
    return out;
}

/* ---- changed fields ------------------------------------------------------------------- */

static void test_update_stores_only_the_changed_keys(void **state)
{
    (void)state;
    json_t *before = parse("{\"name\":\"A\",\"rate\":1000,\"tags\":[1,2],\"gone\":true}");
    json_t *after = parse("{\"name\":\"B\",\"rate\":1000,\"tags\":[1,2,3],\"new\":null}");
    json_t *b, *a;
    audit_diff(before, after, &b, &a);
    json_t *want_b = parse("{\"name\":\"A\",\"tags\":[1,2],\"gone\":true}");
    json_t *want_a = parse("{\"name\":\"B\",\"tags\":[1,2,3],\"new\":null}");
    assert_true(json_equal(b, want_b));
    assert_true(json_equal(a, want_a));
    json_decref(want_b);
    json_decref(want_a);
    json_decref(b);
    json_decref(a);
    json_decref(before);
    json_decref(after);
}

static void test_update_without_change_stores_empty_objects(void **state)
{
    (void)state;
    json_t *before = parse("{\"x\":1,\"y\":{\"z\":2}}");
    json_t *after = parse("{\"y\":{\"z\":2},\"x\":1}");
    json_t *b, *a;
    audit_diff(before, after, &b, &a);
    assert_int_equal(json_object_size(b), 0);
    assert_int_equal(json_object_size(a), 0);
    json_decref(b);
    json_decref(a);
    json_decref(before);
    json_decref(after);
}

static void test_create_and_delete_keep_the_whole_object(void **state)
{
    (void)state;
    json_t *obj = parse("{\"name\":\"A\",\"rate\":1}");
    json_t *b, *a;
    audit_diff(NULL, obj, &b, &a);
    assert_null(b);
    assert_true(json_equal(a, obj));
    json_decref(a);
    audit_diff(obj, NULL, &b, &a);
    assert_true(json_equal(b, obj));
    assert_null(a);
    json_decref(b);
    json_decref(obj);
}

static void test_secret_fields_are_redacted(void **state)
{
    (void)state;
    json_t *before = parse("{\"password_hash\":\"$argon2id$old\",\"name\":\"A\"}");
    json_t *after = parse("{\"password_hash\":\"$argon2id$new\",\"name\":\"A\","
                          "\"stripe\":{\"api_key\":\"sk_live_1\",\"id\":\"acct_1\"}}");
    json_t *b, *a;
    audit_diff(before, after, &b, &a);
    assert_string_equal(json_string_value(json_object_get(b, "password_hash")), "[redacted]");
    assert_string_equal(json_string_value(json_object_get(a, "password_hash")), "[redacted]");
    json_t *stripe = json_object_get(a, "stripe");
    assert_string_equal(json_string_value(json_object_get(stripe, "api_key")), "[redacted]");
    assert_string_equal(json_string_value(json_object_get(stripe, "id")), "acct_1");
    assert_null(json_object_get(a, "name"));
    json_decref(b);
    json_decref(a);
    json_decref(before);
    json_decref(after);
}

static void test_text_is_cleaned_and_bounded(void **state)
{
    (void)state;
    struct arena *a = arena_new(256);
    assert_null(audit_clean_text(a, NULL, 10));
    assert_string_equal(audit_clean_text(a, "Mozilla\r\n5.0", 100), "Mozilla  5.0");
    assert_string_equal(audit_clean_text(a, "caf\xC3\xA9 ok", 100), "caf\xC3\xA9 ok");
    assert_string_equal(audit_clean_text(a, "bad\xC3(", 100), "bad\xEF\xBF\xBD(");
    assert_string_equal(audit_clean_text(a, "\xED\xA0\x80", 100), /* a surrogate */
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(audit_clean_text(a, "\xC3\xA9\xC3\xA9\xC3\xA9", 2), "\xC3\xA9\xC3\xA9");
    arena_free(a);
}

/* ---- canonical JSON and the chain ----------------------------------------------------- */

static void test_canonical_form_ignores_key_order_and_spacing(void **state)
{
    (void)state;
    json_t *after1 = parse("{\"b\":2,\"a\":{\"y\":1,\"x\":[1,{\"q\":1,\"p\":2}]}}");
    json_t *after2 = parse("{ \"a\" : { \"x\" : [ 1, { \"p\" : 2, \"q\" : 1 } ], \"y\" : 1 },"
                           "  \"b\" : 2 }");
    struct audit_entry e1 = {.id = 7,
                             .at = "2026-01-01T00:00:00.000000Z",
                             .actor_type = "system",
                             .action = "update",
                             .resource = "rooms",
                             .after = after1,
                             .risk_level = "none"};
    struct audit_entry e2 = e1;
    e2.after = after2;
    char *c1 = audit_canonical(&e1), *c2 = audit_canonical(&e2);
    assert_string_equal(c1, c2);
    /* sorted keys, no spaces, absent fields as null */
    assert_non_null(strstr(c1, "\"after\":{\"a\":{\"x\":[1,{\"p\":2,\"q\":1}],\"y\":1},\"b\":2}"));
    assert_non_null(strstr(c1, "\"actor_id\":null"));
    assert_null(strchr(c1, ' '));
    assert_true(strncmp(c1, "{\"action\":", 10) == 0);
    free(c1);
    free(c2);
    json_decref(after1);
    json_decref(after2);
}

static void test_canonical_form_covers_every_field(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    char *base = audit_canonical(&c.e[0]);
    struct audit_entry e = c.e[0];
    e.ip = "10.0.0.1";
    char *changed = audit_canonical(&e);
    assert_string_not_equal(base, changed);
    free(changed);
    e = c.e[0];
    e.id = 99;
    changed = audit_canonical(&e);
    assert_string_not_equal(base, changed);
    free(changed);
    free(base);
    chain_free(&c);
}

static void test_hash_is_sha256_of_prev_and_canonical(void **state)
{
    (void)state;
    char out[AUDIT_HASH_HEX + 1];
    audit_chain_hash("", "abc", out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char joined[AUDIT_HASH_HEX + 1];
    audit_chain_hash("ab", "c", joined);
    assert_string_equal(out, joined);
}

static void test_untouched_chain_verifies(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    struct audit_walk w;
    assert_true(audit_chain_verify(NULL, c.e, NCHAIN, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_int_equal(w.entries, NCHAIN);
    assert_false(w.broken);
    chain_free(&c);
}

static void test_altered_entry_is_found_at_that_entry(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    json_t *forged = json_pack("{s:s, s:i}", "name", "Room", "hourly_rate", 1);
    c.e[2].after = forged; /* as an UPDATE of after would */
    struct audit_walk w;
    assert_false(audit_chain_verify(NULL, c.e, NCHAIN, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_true(w.broken);
    assert_int_equal(w.broken_id, 3);
    assert_string_equal(w.broken_at, c.at[2]);
    assert_string_equal(w.reason, "hash_mismatch");
    assert_int_equal(w.entries, 2);
    json_decref(forged);
    chain_free(&c);
}

static void test_rehashed_forgery_breaks_the_next_entry(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    c.e[1].actor_name = "Mallory";
    /* the forger recomputes the altered entry's own hash, but not the rest */
    char *canonical = audit_canonical(&c.e[1]);
    audit_chain_hash(c.hash[0], canonical, c.hash[1]);
    free(canonical);
    struct audit_walk w;
    assert_false(audit_chain_verify(NULL, c.e, NCHAIN, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_int_equal(w.broken_id, 3);
    chain_free(&c);
}

static void test_deleted_middle_entry_is_found_at_the_next(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    struct audit_entry rest[NCHAIN - 1] = {c.e[0], c.e[1], c.e[3], c.e[4]}; /* id 3 gone */
    struct audit_walk w;
    assert_false(audit_chain_verify(NULL, rest, NCHAIN - 1, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_int_equal(w.broken_id, 4);
    assert_string_equal(w.reason, "hash_mismatch");
    chain_free(&c);
}

static void test_removed_newest_entry_is_found_at_the_head(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    struct audit_walk w;
    assert_false(audit_chain_verify(NULL, c.e, NCHAIN - 1, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_int_equal(w.broken_id, NCHAIN);
    assert_string_equal(w.reason, "head_missing");
    assert_string_equal(w.broken_at, "");
    chain_free(&c);
}

static void test_cleanup_anchor_starts_a_valid_chain(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    struct audit_walk w;
    /* entries 1 and 2 cleaned up: the anchor is entry 2's hash */
    assert_true(audit_chain_verify(c.hash[1], c.e + 2, NCHAIN - 2, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_int_equal(w.entries, NCHAIN - 2);
    /* a wrong anchor does not */
    assert_false(
        audit_chain_verify(c.hash[0], c.e + 2, NCHAIN - 2, NCHAIN, c.hash[NCHAIN - 1], &w));
    assert_int_equal(w.broken_id, 3);
    /* an empty chain verifies when the head is the anchor */
    assert_true(audit_chain_verify(NULL, NULL, 0, 0, AUDIT_GENESIS_HASH, &w));
    assert_int_equal(w.entries, 0);
    chain_free(&c);
}

static void test_honest_rehash_after_a_change_verifies_again(void **state)
{
    (void)state;
    struct chain c;
    chain_build(&c);
    c.e[2].ip = "192.0.2.1";
    chain_rehash_from(&c, 2);
    struct audit_walk w;
    assert_true(audit_chain_verify(NULL, c.e, NCHAIN, NCHAIN, c.hash[NCHAIN - 1], &w));
    chain_free(&c);
}

/* ---- risk ----------------------------------------------------------------------------- */

static void test_failed_logins_for_one_account_become_high_at_five(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "login_failed", .actor_type = "anonymous"};
    f.account_failures = 4;
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_NONE);
    assert_int_equal(r.nrules, 0);
    f.account_failures = 5;
    r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_true(has_rule(&r, AUDIT_RULE_FAILED_LOGINS_ACCOUNT));
    assert_true(r.alert);
    f.account_failures = 6; /* still a burst, already reported */
    r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_false(r.alert);
}

static void test_failed_logins_from_one_ip_become_high_at_ten(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "login_failed", .ip_failures = 9, .account_failures = 1};
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
    f.ip_failures = 10;
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_true(has_rule(&r, AUDIT_RULE_FAILED_LOGINS_IP));
    assert_false(has_rule(&r, AUDIT_RULE_FAILED_LOGINS_ACCOUNT));
    assert_true(r.alert);
    /* the counts mean nothing for other actions */
    f.action = "login";
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
}

static void test_login_from_a_new_ip_is_medium_after_a_first_login(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "login", .actor_type = "user"};
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE); /* the very first sign-in */
    f.login_has_history = true;
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_MEDIUM);
    assert_true(has_rule(&r, AUDIT_RULE_NEW_IP_LOGIN));
    assert_false(r.alert);
    f.login_ip_seen = true;
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
}

static void test_ten_deletions_or_cancellations_are_high(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "delete", .actor_type = "user", .deletions = 9};
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
    f.deletions = 10;
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_true(has_rule(&r, AUDIT_RULE_MASS_DELETION));
    assert_true(r.alert);
    f.action = "cancel";
    f.deletions = 11;
    r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_false(r.alert);
    f.action = "update";
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
}

static void test_exporting_customer_data_is_medium(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "export", .resource = "customers"};
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_MEDIUM);
    assert_true(has_rule(&r, AUDIT_RULE_CUSTOMER_EXPORT));
    f.resource = "bookings";
    assert_int_equal(assess(&f).level, AUDIT_RISK_MEDIUM);
    f.resource = "audit";
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
}

static void test_role_and_permission_changes_are_medium(void **state)
{
    (void)state;
    const char *resources[] = {"roles", "permissions", "user_roles", "role_permissions"};
    for (size_t i = 0; i < 4; i++) {
        struct audit_risk_facts f = {.action = "update", .resource = resources[i]};
        struct audit_risk r = assess(&f);
        assert_int_equal(r.level, AUDIT_RISK_MEDIUM);
        assert_true(has_rule(&r, AUDIT_RULE_PERMISSION_CHANGE));
    }
    struct audit_risk_facts view = {.action = "view", .resource = "roles"};
    assert_int_equal(assess(&view).level, AUDIT_RISK_NONE);
}

static void test_refund_above_the_threshold_is_high(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "refund",
                                 .resource = "bookings",
                                 .has_refund = true,
                                 .refund_amount = 50000,
                                 .refund_threshold = 50000};
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
    f.refund_amount = 50001;
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_true(has_rule(&r, AUDIT_RULE_LARGE_REFUND));
    assert_true(r.alert);
}

static void test_refund_amount_is_read_from_after(void **state)
{
    (void)state;
    long long n = 0;
    json_t *a = parse("{\"refund_amount\":75000}");
    assert_true(audit_refund_amount(a, &n));
    assert_int_equal(n, 75000);
    json_decref(a);
    a = parse("{\"refund_amount\":\"1200\"}");
    assert_true(audit_refund_amount(a, &n));
    assert_int_equal(n, 1200);
    json_decref(a);
    a = parse("{\"refund_amount\":\"12.00\"}");
    assert_false(audit_refund_amount(a, &n));
    json_decref(a);
    a = parse("{\"amount\":5}");
    assert_false(audit_refund_amount(a, &n));
    json_decref(a);
    assert_false(audit_refund_amount(NULL, &n));
}

static void test_staff_activity_while_closed_is_low(void **state)
{
    (void)state;
    struct audit_risk_facts f = {
        .action = "update", .resource = "rooms", .actor_type = "user", .studio_closed = true};
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_LOW);
    assert_true(has_rule(&r, AUDIT_RULE_OUTSIDE_HOURS));
    assert_false(r.alert);
    f.actor_type = "customer";
    assert_int_equal(assess(&f).level, AUDIT_RISK_NONE);
}

static void test_the_level_is_the_highest_rule(void **state)
{
    (void)state;
    struct audit_risk_facts f = {.action = "cancel",
                                 .resource = "bookings",
                                 .actor_type = "user",
                                 .studio_closed = true,
                                 .has_refund = true,
                                 .refund_amount = 90000,
                                 .refund_threshold = 50000};
    struct audit_risk r = assess(&f);
    assert_int_equal(r.level, AUDIT_RISK_HIGH);
    assert_int_equal(r.nrules, 2);
    assert_string_equal(audit_risk_level_name(r.level), "high");
    assert_string_equal(audit_risk_level_name(AUDIT_RISK_NONE), "none");
}

/* ---- who, from a request --------------------------------------------------------------- */

static void test_request_context_names_the_session_user_or_the_caller_kind(void **state)
{
    (void)state;
    struct session s = {.id = "sess", .user_id = "u-1", .user_name = "Ann", .user_email = "a@x"};
    struct tenant tn = {.name = "Blue Room", .timezone = "Europe/Paris"};
    struct route staff = {.auth = AUTH_STAFF}, public = {.auth = AUTH_PUBLIC},
                 stripe = {.auth = AUTH_STRIPE};
    struct request req = {
        .ip = "192.0.2.1", .request_id = "req-1", .route = &staff, .session = &s, .tenant = &tn};
    struct audit_ctx ctx;
    audit_ctx_from_request(&req, &ctx);
    assert_string_equal(ctx.actor_type, AUDIT_ACTOR_USER);
    assert_string_equal(ctx.actor_id, "u-1");
    assert_string_equal(ctx.actor_name, "Ann");
    assert_string_equal(ctx.actor_email, "a@x");
    assert_string_equal(ctx.ip, "192.0.2.1");
    assert_string_equal(ctx.request_id, "req-1");
    assert_string_equal(ctx.timezone, "Europe/Paris");
    assert_string_equal(ctx.studio_name, "Blue Room");
    assert_null(ctx.master);

    req.session = NULL;
    req.route = &public;
    audit_ctx_from_request(&req, &ctx);
    assert_string_equal(ctx.actor_type, AUDIT_ACTOR_CUSTOMER);
    assert_null(ctx.actor_id);
    req.route = &stripe;
    audit_ctx_from_request(&req, &ctx);
    assert_string_equal(ctx.actor_type, AUDIT_ACTOR_SYSTEM);
    assert_string_equal(ctx.actor_name, "stripe");
}

/* ---- CSV and filters ------------------------------------------------------------------ */

static void test_csv_fields_are_quoted_when_needed(void **state)
{
    (void)state;
    char *s;
    assert_string_equal((s = csv("plain")), "plain");
    free(s);
    assert_string_equal((s = csv("a,b")), "\"a,b\"");
    free(s);
    assert_string_equal((s = csv("say \"hi\"")), "\"say \"\"hi\"\"\"");
    free(s);
    assert_string_equal((s = csv("two\nlines")), "\"two\nlines\"");
    free(s);
    assert_string_equal((s = csv(NULL)), "");
    free(s);
}

static void test_csv_fields_never_start_a_formula(void **state)
{
    (void)state;
    const char *bad[] = {"=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *s = csv(bad[i]);
        assert_true(strncmp(s, "\"'", 2) == 0);
        free(s);
    }
    char *s = csv("=1,\"2\"");
    assert_string_equal(s, "\"'=1,\"\"2\"\"\"");
    free(s);
}

static void test_filters_are_checked(void **state)
{
    (void)state;
    struct audit_filter good = {.actor = "ann@example.com",
                                .action = "delete",
                                .resource = "rooms",
                                .from = "2026-01-01",
                                .to = "2026-01-31T23:59:59.5+01:00",
                                .risk = "medium,high",
                                .q = "Room A"};
    assert_null(audit_filter_validate(&good));
    struct audit_filter bad = {.action = "DROP TABLE",
                               .from = "2026-02-30",
                               .to = "yesterday",
                               .risk = "high,,low",
                               .q = "bad\xff"};
    json_t *f = audit_filter_validate(&bad);
    assert_non_null(f);
    const char *keys[] = {"action", "from", "to", "risk", "q"};
    for (size_t i = 0; i < 5; i++)
        if (!json_object_get(f, keys[i]))
            fail_msg("expected a complaint about %s", keys[i]);
    json_decref(f);
    struct audit_filter no_offset = {.to = "2026-01-31T10:00:00"};
    f = audit_filter_validate(&no_offset);
    assert_non_null(json_object_get(f, "to"));
    json_decref(f);
}

int main(void)
{
    if (crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_stores_only_the_changed_keys),
        cmocka_unit_test(test_update_without_change_stores_empty_objects),
        cmocka_unit_test(test_create_and_delete_keep_the_whole_object),
        cmocka_unit_test(test_secret_fields_are_redacted),
        cmocka_unit_test(test_text_is_cleaned_and_bounded),
        cmocka_unit_test(test_canonical_form_ignores_key_order_and_spacing),
        cmocka_unit_test(test_canonical_form_covers_every_field),
        cmocka_unit_test(test_hash_is_sha256_of_prev_and_canonical),
        cmocka_unit_test(test_untouched_chain_verifies),
        cmocka_unit_test(test_altered_entry_is_found_at_that_entry),
        cmocka_unit_test(test_rehashed_forgery_breaks_the_next_entry),
        cmocka_unit_test(test_deleted_middle_entry_is_found_at_the_next),
        cmocka_unit_test(test_removed_newest_entry_is_found_at_the_head),
        cmocka_unit_test(test_cleanup_anchor_starts_a_valid_chain),
        cmocka_unit_test(test_honest_rehash_after_a_change_verifies_again),
        cmocka_unit_test(test_failed_logins_for_one_account_become_high_at_five),
        cmocka_unit_test(test_failed_logins_from_one_ip_become_high_at_ten),
        cmocka_unit_test(test_login_from_a_new_ip_is_medium_after_a_first_login),
        cmocka_unit_test(test_ten_deletions_or_cancellations_are_high),
        cmocka_unit_test(test_exporting_customer_data_is_medium),
        cmocka_unit_test(test_role_and_permission_changes_are_medium),
        cmocka_unit_test(test_refund_above_the_threshold_is_high),
        cmocka_unit_test(test_refund_amount_is_read_from_after),
        cmocka_unit_test(test_staff_activity_while_closed_is_low),
        cmocka_unit_test(test_the_level_is_the_highest_rule),
        cmocka_unit_test(test_request_context_names_the_session_user_or_the_caller_kind),
        cmocka_unit_test(test_csv_fields_are_quoted_when_needed),
        cmocka_unit_test(test_csv_fields_never_start_a_formula),
        cmocka_unit_test(test_filters_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
