/*
 * audit.c — rules and SQL for the studio's audit log: writing entries in
 * the caller's transaction, chaining them by hash, reading them back
 * (list, stats, CSV export), verifying the chain and cleaning up old
 * entries. The risk rules are in risk.c, the HTTP side in audit_routes.c;
 * audit.h says how other modules write entries.
 *
 * The chain. Every entry carries hash = SHA-256(prev || canonical), where
 * prev is the previous entry's hash (hex) and canonical the entry's fields
 * as JSON with sorted keys and no whitespace (jansson JSON_SORT_KEYS |
 * JSON_COMPACT), both computed here in C and checked here in C. The one
 * audit_chain row holds the head (newest entry) and the anchor (the hash
 * the first remaining entry chains to: the genesis hash of 64 zeros, or the
 * hash of the last entry a cleanup removed). Verification walks from the
 * anchor through every entry in id order and ends at the head, so an edited
 * entry, a removed entry (the next one no longer chains) and removed newest
 * entries (the head no longer matches) are all found. The chain is not
 * keyed: someone with write access who recomputes every later hash and the
 * head goes unseen; exporting the head hash elsewhere now and then closes
 * that gap.
 *
 * Decisions (DESIGN.md is silent on them):
 *  - Writers serialize on the audit_chain row (SELECT ... FOR UPDATE, held
 *    to the end of the caller's transaction), which also makes the risk
 *    counts exact. Ids are taken under that lock, so they grow along the
 *    chain. `at` is clock_timestamp() under the lock, so it grows too.
 *  - The fields hashed are the text the database gives back: strings are
 *    cleaned first (valid UTF-8, no control characters, bounded length);
 *    JSON goes in as jansson writes it and is parsed again from jsonb's
 *    text when verifying, which gives the same canonical form (key order
 *    and spacing do not matter). Reals of 1e15 and more are stored as
 *    strings: jsonb would print them as integers too long to read back.
 *  - Only top-level keys whose values changed are stored for an update;
 *    keys naming secrets are redacted.
 *  - Alerts for high-risk entries go to every active owner, one mail each,
 *    through the outbox. When this function opened the transaction, they
 *    are queued after its commit; inside a caller's transaction they are
 *    queued at once (see audit.h).
 *  - Export and verification read in one REPEATABLE READ snapshot, in
 *    batches (keyset on id), so a large log never sits in memory as rows.
 *  - Cleanup removes a prefix of the chain (every entry before the first
 *    one younger than the cut-off), checks that prefix verifies before
 *    dropping it (else it refuses: anchoring on a tampered entry would hide
 *    the tampering), moves the anchor to the last entry removed, and writes
 *    its own entry, all in one transaction holding the chain lock.
 */
#include "studiod/audit.h"

#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/mail.h"
#include "studiod/tenant.h"

#define NAME_MAX_CHARS 64 /* action, resource */
#define ID_MAX_CHARS 200
#define PERSON_MAX_CHARS 320
#define IP_MAX_CHARS 64
#define USER_AGENT_MAX_CHARS 512
#define REQUEST_ID_MAX_CHARS 64
#define QUERY_MAX_CHARS 200
#define BIG_REAL 1e15
#define WALK_BATCH 1000
#define EXPORT_BATCH "500" /* rows a FETCH reads */
#define EXPORT_CHUNK 32768 /* CSV bytes encoded ahead of the client, about */
#define MAX_RETENTION_DAYS 36500
#define REDACTED "[redacted]"
#define JSON_STORE_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

static size_t utf8_seq_len(const unsigned char *s);
static bool utf8_valid(const char *s);
static bool name_ok(const char *s);
static bool actor_type_ok(const char *s);
static bool secret_key(const char *key);
static json_t *clean_value(json_t *v);
static json_t *jstr(const char *s);
static void clean_ctx(struct arena *a, const struct audit_ctx *in, struct audit_ctx *out);
static int write_entry(struct db_conn *t, const struct audit_ctx *in, bool master_on_demand,
                       const char *action, const char *resource, const char *resource_id,
                       json_t *before, json_t *after);
static void send_alerts(struct db_conn *master, bool on_demand, const struct audit_ctx *ctx,
                        const struct audit_entry *e, PGresult *owners);
static bool row_entry(PGresult *r, int i, struct audit_entry *e);
static void entry_release(struct audit_entry *e);
static void walk_break(struct audit_walk *w, const struct audit_entry *e, const char *reason);
static int chain_walk(struct db_conn *t, long long after_id, long long upto_id,
                      struct audit_walk *w);
static json_t *walk_json(const struct audit_walk *w);
static bool valid_date(const char *s);
static bool two_digits(const char *s, int max);
static bool valid_bound(const char *s);
static void filter_params(const struct audit_filter *f, const char **p);
static int query_json(struct db_conn *t, const char *sql, int n, const char *const *p,
                      json_t **out);

/* ---- SQL ------------------------------------------------------------------------------- */

/* UTC with microseconds: what the hash covers. */
#define AT_HASH_FMT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
/* UTC to the second: what the API and the CSV show. */
#define AT_SHOW_FMT "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

/* Locks the head until the transaction ends; the first new entry's id and the time of the
 * entries. nextval is in the locked row's projection: a writer that waited for the lock
 * computes it again on the head's new version (and reads the clock again), so ids and
 * times grow along the chain. */
const char audit_sql_chain_lock[] =
    "SELECT head_hash, nextval('audit_log_id_seq') AS id,"
    "       to_char(clock_timestamp() AT TIME ZONE 'UTC', " AT_HASH_FMT ") AS at"
    "  FROM audit_chain FOR UPDATE";
/* The ids of up to $1 more entries, taken after audit_sql_chain_lock (so under the lock). */
const char audit_sql_more_ids[] =
    "SELECT nextval('audit_log_id_seq') AS id FROM generate_series(1, $1::int) ORDER BY 1";
/* The entries ($1: a JSON array of objects named like the columns; before and after as
 * JSON text, risk_rules an array). The head moves to the newest. */
static const char sql_insert[] =
    "WITH e AS ("
    "  INSERT INTO audit_log (id, at, actor_type, actor_id, actor_name, actor_email, action,"
    "                         resource, resource_id, before, after, ip, user_agent, request_id,"
    "                         risk_level, risk_rules, hash)"
    "  SELECT id, at, actor_type, actor_id, actor_name, actor_email, action, resource,"
    "         resource_id, before::jsonb, after::jsonb, ip, user_agent, request_id, risk_level,"
    "         coalesce(risk_rules, '{}'), hash"
    "    FROM json_to_recordset($1::json) AS x(id bigint, at timestamptz, actor_type text,"
    "         actor_id text, actor_name text, actor_email text, action text, resource text,"
    "         resource_id text, before text, after text, ip text, user_agent text,"
    "         request_id text, risk_level text, risk_rules text[], hash text)"
    "  RETURNING id, hash)"
    " UPDATE audit_chain SET head_id = h.id, head_hash = h.hash, updated_at = now()"
    "   FROM (SELECT id, hash FROM e ORDER BY id DESC LIMIT 1) h";
static const char sql_owners[] = "SELECT DISTINCT u.email FROM users u"
                                 "  JOIN user_roles ur ON ur.user_id = u.id"
                                 "  JOIN roles r ON r.id = ur.role_id"
                                 " WHERE r.name = 'owner' AND u.active"
                                 "   AND (ur.expires_at IS NULL OR ur.expires_at > now())"
                                 " ORDER BY u.email";

static const char sql_begin_snapshot[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
static const char sql_chain_get[] =
    "SELECT head_id, head_hash, anchor_id, anchor_hash FROM audit_chain";
static const char sql_chain_get_locked[] =
    "SELECT head_id, head_hash, anchor_id, anchor_hash FROM audit_chain FOR UPDATE";

/* What the chain covers of an entry, aliased a. */
#define ENTRY_COLUMNS                                                                              \
    "a.id, to_char(a.at AT TIME ZONE 'UTC', " AT_HASH_FMT ") AS at, a.actor_type, a.actor_id,"     \
    " a.actor_name, a.actor_email, a.action, a.resource, a.resource_id,"                           \
    " a.before::text AS before, a.after::text AS after, a.ip, a.user_agent, a.request_id,"         \
    " a.risk_level, array_to_json(a.risk_rules)::text AS risk_rules, a.hash"
/* $1: after this id, $2: up to this id, $3: batch size. */
static const char sql_walk[] = "SELECT " ENTRY_COLUMNS " FROM audit_log a"
                               " WHERE a.id > $1::bigint AND a.id <= $2::bigint"
                               " ORDER BY a.id LIMIT $3::int";

/* The last entry a cleanup removes: everything before the first entry at or after the
 * cut-off. $1: anchor id, $2: days. */
static const char sql_cleanup_last[] =
    "SELECT max(id) AS last_id FROM audit_log"
    " WHERE id > $1::bigint"
    "   AND id < coalesce((SELECT min(id) FROM audit_log"
    "                       WHERE at >= clock_timestamp() - make_interval(days => $2::int)),"
    "                     9223372036854775807)";
static const char sql_cleanup_delete[] = "DELETE FROM audit_log WHERE id <= $1::bigint";
static const char sql_cleanup_anchor[] =
    "UPDATE audit_chain SET anchor_id = $1::bigint, anchor_hash = $2, updated_at = now()";

/* The filters, $1..$10 (see filter_params), over the entry aliased a and the bounds p.
 * Dates are the studio's local days ($10: its time zone); a date as `to` includes its day.
 * FILTER_FROM / FILTER_TO are what an absent bound means. */
#define FILTER_BOUNDS                                                                              \
    "p AS (SELECT coalesce(CASE WHEN $6::text IS NULL THEN NULL"                                   \
    "                           WHEN length($6::text) = 10"                                        \
    "                           THEN $6::text::date::timestamp AT TIME ZONE $10::text"             \
    "                           ELSE $6::text::timestamptz END, " FILTER_FROM ") AS t_from,"       \
    "             coalesce(CASE WHEN $7::text IS NULL THEN NULL"                                   \
    "                           WHEN length($7::text) = 10"                                        \
    "                           THEN ($7::text::date + 1)::timestamp AT TIME ZONE $10::text"       \
    "                           ELSE $7::text::timestamptz END, " FILTER_TO ") AS t_to)"
#define FILTER_WHERE                                                                               \
    " WHERE ($1::text IS NULL OR a.actor_id = $1::text OR a.actor_type = $1::text"                 \
    "        OR lower(a.actor_email) = lower($1::text)"                                            \
    "        OR strpos(lower(a.actor_name), lower($1::text)) > 0)"                                 \
    "   AND ($2::text IS NULL OR a.action = $2::text)"                                             \
    "   AND ($3::text IS NULL OR a.resource = $3::text)"                                           \
    "   AND ($4::text IS NULL OR a.resource_id = $4::text)"                                        \
    "   AND ($5::text IS NULL OR a.ip = $5::text)"                                                 \
    "   AND (p.t_from IS NULL OR a.at >= p.t_from)"                                                \
    "   AND (p.t_to IS NULL OR a.at < p.t_to)"                                                     \
    "   AND ($8::text IS NULL OR a.risk_level = ANY (string_to_array($8::text, ',')))"             \
    "   AND ($9::text IS NULL OR strpos(lower(concat_ws(' ', a.actor_name, a.actor_email,"         \
    "                                       a.actor_id, a.action, a.resource, a.resource_id,"      \
    "                                       a.ip, a.user_agent, a.before::text,"                   \
    "                                       a.after::text)), lower($9::text)) > 0)"

#define ENTRY_JSON                                                                                 \
    "json_build_object('id', a.id, 'at', to_char(a.at AT TIME ZONE 'UTC', " AT_SHOW_FMT "),"       \
    " 'actor', json_build_object('type', a.actor_type, 'id', a.actor_id, 'name', a.actor_name,"    \
    "                            'email', a.actor_email),"                                         \
    " 'action', a.action, 'resource', a.resource, 'resource_id', a.resource_id,"                   \
    " 'before', a.before, 'after', a.after, 'ip', a.ip, 'user_agent', a.user_agent,"               \
    " 'request_id', a.request_id, 'risk_level', a.risk_level, 'risk_rules', a.risk_rules,"         \
    " 'hash', a.hash)"

/* List and export: no bound unless asked. */
#define FILTER_FROM "NULL"
#define FILTER_TO "NULL"

/* $11 limit, $12 offset. f is inlined in both places (NOT MATERIALIZED): the page is read
 * newest first along the primary key rather than after copying every matching row. */
static const char sql_list[] =
    "WITH " FILTER_BOUNDS ","
    " f AS NOT MATERIALIZED (SELECT a.* FROM audit_log a, p" FILTER_WHERE ")"
    " SELECT json_build_object("
    "   'total', (SELECT count(*) FROM f),"
    "   'limit', $11::int, 'offset', $12::int,"
    "   'entries', (SELECT coalesce(json_agg(" ENTRY_JSON " ORDER BY a.id DESC), '[]')"
    "                 FROM (SELECT * FROM f ORDER BY id DESC LIMIT $11::int OFFSET $12::int) a))";

static const char sql_export_count[] =
    "WITH " FILTER_BOUNDS " SELECT count(*) AS n, coalesce(max(a.id), 0) AS last"
    "   FROM audit_log a, p" FILTER_WHERE;

/* $11: the last id counted (the export's own entry, written after, is not in it). */
static const char sql_export_declare[] =
    "DECLARE audit_export NO SCROLL CURSOR FOR"
    " WITH " FILTER_BOUNDS " SELECT a.id,"
    "        to_char(a.at AT TIME ZONE 'UTC', " AT_SHOW_FMT ") AS at, a.actor_type,"
    "        a.actor_id, a.actor_name, a.actor_email, a.action, a.resource, a.resource_id,"
    "        a.ip, a.user_agent, a.request_id, a.risk_level,"
    "        array_to_string(a.risk_rules, ';') AS risk_rules, a.before::text AS before,"
    "        a.after::text AS after, a.hash"
    "   FROM audit_log a, p" FILTER_WHERE " AND a.id <= $11::bigint"
    "  ORDER BY a.id";

static const char sql_export_fetch[] = "FETCH FORWARD " EXPORT_BATCH " FROM audit_export";
static const char sql_export_close[] = "CLOSE audit_export";

/* Stats: the last 30 days unless asked. */
#undef FILTER_FROM
#undef FILTER_TO
#define FILTER_FROM "clock_timestamp() - interval '30 days'"
#define FILTER_TO "clock_timestamp()"

/* f (only the columns counted) is scanned once and shared by the five counts. */
static const char sql_stats[] =
    "WITH " FILTER_BOUNDS ","
    " f AS (SELECT a.id, a.at, a.action, a.actor_type, a.actor_id, a.actor_email, a.actor_name,"
    "              a.risk_level"
    "         FROM audit_log a, p" FILTER_WHERE ")"
    " SELECT json_build_object("
    "   'from', to_char(p.t_from AT TIME ZONE 'UTC', " AT_SHOW_FMT "),"
    "   'to', to_char(p.t_to AT TIME ZONE 'UTC', " AT_SHOW_FMT "),"
    "   'total', (SELECT count(*) FROM f),"
    "   'by_action',"
    "     (SELECT coalesce(json_agg(json_build_object('action', action, 'count', n)"
    "                               ORDER BY n DESC, action), '[]')"
    "        FROM (SELECT action, count(*) AS n FROM f GROUP BY action) x),"
    "   'by_actor',"
    "     (SELECT coalesce(json_agg(json_build_object('type', actor_type, 'id', actor_id,"
    "                                                 'email', email, 'name', name, 'count', n)"
    "                               ORDER BY n DESC, email, actor_id), '[]')"
    "        FROM (SELECT actor_type, actor_id, lower(actor_email) AS email,"
    "                     (array_agg(actor_name ORDER BY id DESC))[1] AS name, count(*) AS n"
    "                FROM f GROUP BY actor_type, actor_id, lower(actor_email)"
    "               ORDER BY n DESC LIMIT 50) x),"
    "   'by_risk',"
    "     (SELECT json_build_object('none', count(*) FILTER (WHERE risk_level = 'none'),"
    "                               'low', count(*) FILTER (WHERE risk_level = 'low'),"
    "                               'medium', count(*) FILTER (WHERE risk_level = 'medium'),"
    "                               'high', count(*) FILTER (WHERE risk_level = 'high'))"
    "        FROM f),"
    "   'by_day',"
    "     (SELECT coalesce(json_agg(json_build_object('day', day, 'count', n) ORDER BY day),"
    "                      '[]')"
    "        FROM (SELECT to_char(at AT TIME ZONE $10::text, 'YYYY-MM-DD') AS day,"
    "                     count(*) AS n"
    "                FROM f GROUP BY 1) x))"
    "  FROM p";

#undef FILTER_FROM
#undef FILTER_TO

static const char *const export_columns[] = {
    "id",         "at",         "actor_type",  "actor_id", "actor_name", "actor_email",
    "action",     "resource",   "resource_id", "ip",       "user_agent", "request_id",
    "risk_level", "risk_rules", "before",      "after",    "hash",       NULL,
};

/* ---- text ------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (no overlongs, surrogates or code points past
 * U+10FFFF), or 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

char *audit_clean_text(struct arena *a, const char *s, size_t max_chars)
{
    if (!s)
        return NULL;
    struct buf b;
    buf_init(&b, a);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t chars = 0; *p && chars < max_chars; chars++) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            buf_append(&b, "\xEF\xBF\xBD", 3); /* U+FFFD for a byte that starts nothing */
            p++;
        } else if (n == 1 && (*p < 0x20 || *p == 0x7F)) {
            buf_append(&b, " ", 1);
            p++;
        } else {
            buf_append(&b, (const char *)p, n);
            p += n;
        }
    }
    return arena_strdup(a, buf_cstr(&b));
}

/* An action or resource name: 1 to 64 of [a-z0-9_.-]. */
static bool name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > NAME_MAX_CHARS)
        return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '.' ||
              *p == '-'))
            return false;
    return true;
}

static bool actor_type_ok(const char *s)
{
    static const char *const types[] = {AUDIT_ACTOR_USER, AUDIT_ACTOR_CUSTOMER, AUDIT_ACTOR_SYSTEM,
                                        AUDIT_ACTOR_ADMIN, AUDIT_ACTOR_ANONYMOUS};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(s, types[i]) == 0)
            return true;
    return false;
}

/* ---- changed fields -------------------------------------------------------------------- */

static bool secret_key(const char *key)
{
    return strcasestr(key, "password") || strcasestr(key, "secret") || strcasestr(key, "token") ||
           strcasestr(key, "api_key");
}

/* A copy of v fit to store: secrets redacted, strings cut at an encoded NUL (jsonb refuses
 * \u0000), big reals as text. A new reference. */
static json_t *clean_value(json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *o = json_object();
        json_object_foreach(v, key, item)
        {
            json_object_set_new(o, key,
                                secret_key(key) ? json_string(REDACTED) : clean_value(item));
        }
        return o;
    }
    case JSON_ARRAY: {
        json_t *arr = json_array();
        json_array_foreach(v, i, item)
        {
            json_array_append_new(arr, clean_value(item));
        }
        return arr;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
            return json_string(s);
        return json_incref(v);
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d >= BIG_REAL || d <= -BIG_REAL) {
            char text[40];
            snprintf(text, sizeof(text), "%.17g", d);
            return json_string(text);
        }
        return json_incref(v);
    }
    default:
        return json_incref(v);
    }
}

void audit_diff(json_t *before, json_t *after, json_t **before_out, json_t **after_out)
{
    *before_out = NULL;
    *after_out = NULL;
    if (!json_is_object(before) || !json_is_object(after)) {
        *before_out = before && !json_is_null(before) ? clean_value(before) : NULL;
        *after_out = after && !json_is_null(after) ? clean_value(after) : NULL;
        return;
    }
    json_t *b = json_object(), *a = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(before, key, v)
    {
        json_t *other = json_object_get(after, key);
        if (!other || !json_equal(v, other))
            json_object_set(b, key, v);
    }
    json_object_foreach(after, key, v)
    {
        json_t *other = json_object_get(before, key);
        if (!other || !json_equal(v, other))
            json_object_set(a, key, v);
    }
    *before_out = clean_value(b);
    *after_out = clean_value(a);
    json_decref(b);
    json_decref(a);
}

/* ---- the chain ------------------------------------------------------------------------- */

/* A JSON string, or null for NULL. NULL (failure) for text that is not UTF-8. */
static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *audit_canonical(const struct audit_entry *e)
{
    json_t *o = json_object();
    bool ok = json_object_set_new(o, "id", json_integer(e->id)) == 0;
    struct {
        const char *key, *value;
    } fields[] = {
        {"at", e->at},
        {"actor_type", e->actor_type},
        {"actor_id", e->actor_id},
        {"actor_name", e->actor_name},
        {"actor_email", e->actor_email},
        {"action", e->action},
        {"resource", e->resource},
        {"resource_id", e->resource_id},
        {"ip", e->ip},
        {"user_agent", e->user_agent},
        {"request_id", e->request_id},
        {"risk_level", e->risk_level},
    };
    for (size_t i = 0; ok && i < sizeof(fields) / sizeof(fields[0]); i++)
        ok = json_object_set_new(o, fields[i].key, jstr(fields[i].value)) == 0;
    ok = ok &&
         json_object_set_new(o, "before", e->before ? json_incref(e->before) : json_null()) == 0;
    ok = ok && json_object_set_new(o, "after", e->after ? json_incref(e->after) : json_null()) == 0;
    ok = ok && json_object_set_new(o, "risk_rules",
                                   e->risk_rules ? json_incref(e->risk_rules) : json_array()) == 0;
    char *s = ok ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

void audit_chain_hash(const char *prev_hash, const char *canonical, char out[AUDIT_HASH_HEX + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)prev_hash, strlen(prev_hash));
    crypto_hash_sha256_update(&st, (const unsigned char *)canonical, strlen(canonical));
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(out, AUDIT_HASH_HEX + 1, digest, sizeof(digest));
}

void audit_walk_init(struct audit_walk *w, const char *anchor_hash)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->running, sizeof(w->running), "%s", anchor_hash ? anchor_hash : AUDIT_GENESIS_HASH);
}

static void walk_break(struct audit_walk *w, const struct audit_entry *e, const char *reason)
{
    w->broken = true;
    w->broken_id = e->id;
    snprintf(w->broken_at, sizeof(w->broken_at), "%s", e->at ? e->at : "");
    w->reason = reason;
}

bool audit_walk_step(struct audit_walk *w, const struct audit_entry *e)
{
    if (w->broken)
        return false;
    char *canonical = audit_canonical(e);
    if (!canonical) {
        walk_break(w, e, "unreadable_entry");
        return false;
    }
    char hash[AUDIT_HASH_HEX + 1];
    audit_chain_hash(w->running, canonical, hash);
    free(canonical);
    if (!e->hash || strcmp(hash, e->hash) != 0) {
        walk_break(w, e, "hash_mismatch");
        return false;
    }
    memcpy(w->running, hash, sizeof(hash));
    w->entries++;
    return true;
}

bool audit_walk_finish(struct audit_walk *w, long long head_id, const char *head_hash)
{
    if (w->broken)
        return false;
    if (head_hash && strcmp(w->running, head_hash) != 0) {
        w->broken = true;
        w->broken_id = head_id;
        w->broken_at[0] = '\0';
        w->reason = "head_missing";
        return false;
    }
    return true;
}

bool audit_chain_verify(const char *anchor_hash, const struct audit_entry *entries, size_t n,
                        long long head_id, const char *head_hash, struct audit_walk *out)
{
    audit_walk_init(out, anchor_hash);
    for (size_t i = 0; i < n; i++)
        if (!audit_walk_step(out, &entries[i]))
            return false;
    return audit_walk_finish(out, head_id, head_hash);
}

/* ---- writing --------------------------------------------------------------------------- */

void audit_ctx_from_request(struct request *req, struct audit_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    enum route_auth auth = req->route ? req->route->auth : AUTH_PUBLIC;
    if (req->session) {
        ctx->actor_type = AUDIT_ACTOR_USER;
        ctx->actor_id = req->session->user_id;
        ctx->actor_name = req->session->user_name;
        ctx->actor_email = req->session->user_email;
    } else if (auth == AUTH_STRIPE) {
        ctx->actor_type = AUDIT_ACTOR_SYSTEM;
        ctx->actor_name = "stripe";
    } else if (auth == AUTH_ADMIN) {
        ctx->actor_type = AUDIT_ACTOR_ADMIN;
        if (req->admin) {
            ctx->actor_id = req->admin->admin_id;
            ctx->actor_name = req->admin->name;
            ctx->actor_email = req->admin->email;
        }
    } else {
        ctx->actor_type = AUDIT_ACTOR_CUSTOMER;
    }
    ctx->ip = req->ip;
    ctx->user_agent = http_header(req, "User-Agent");
    ctx->request_id = req->request_id[0] ? req->request_id : NULL;
    if (req->tenant) {
        ctx->timezone = req->tenant->timezone[0] ? req->tenant->timezone : NULL;
        ctx->studio_name = req->tenant->name;
    }
}

/* in's strings as they will be stored, in a. */
static void clean_ctx(struct arena *a, const struct audit_ctx *in, struct audit_ctx *out)
{
    *out = *in;
    out->actor_type = in->actor_type ? in->actor_type : AUDIT_ACTOR_SYSTEM;
    out->actor_id = audit_clean_text(a, in->actor_id, ID_MAX_CHARS);
    out->actor_name = audit_clean_text(a, in->actor_name, PERSON_MAX_CHARS);
    out->actor_email = audit_clean_text(a, in->actor_email, PERSON_MAX_CHARS);
    out->ip = audit_clean_text(a, in->ip, IP_MAX_CHARS);
    out->user_agent = audit_clean_text(a, in->user_agent, USER_AGENT_MAX_CHARS);
    out->request_id = audit_clean_text(a, in->request_id, REQUEST_ID_MAX_CHARS);
}

/* One entry as its writer gives it (strings and JSON borrowed). */
struct entry_in {
    const struct audit_ctx *ctx;
    const char *action, *resource, *resource_id;
    json_t *before, *after;
};

/* An entry on its way in: cleaned, reduced to what changed, assessed and hashed. */
struct entry_work {
    struct audit_ctx ctx;
    const char *rid;
    json_t *b, *af, *rules;         /* owned */
    char *before_text, *after_text; /* malloc'd */
    struct audit_risk risk;
    struct audit_entry e;
    char hash[AUDIT_HASH_HEX + 1];
};

/* Entries on their way in, together (one for most writers; many for audit_batch_*). */
struct audit_batch {
    struct arena *a;
    int n;
    const struct entry_in *ins;
    struct entry_work *w;
    bool master_on_demand;
    char *rows_text;  /* sql_insert's parameter, once chained */
    PGresult *owners; /* when an entry alerts */
};

static void batch_free(struct audit_batch *b)
{
    if (!b)
        return;
    PQclear(b->owners);
    for (int i = 0; i < b->n; i++) {
        json_decref(b->w[i].b);
        json_decref(b->w[i].af);
        json_decref(b->w[i].rules);
        free(b->w[i].before_text);
        free(b->w[i].after_text);
    }
    free(b->rows_text);
    arena_free(b->a);
}

/* The entries ins[0..n) (checked by the caller) cleaned and reduced, in a new batch whose
 * arena is a (taken over). NULL when one cannot be encoded (AUDIT_INVALID). */
static struct audit_batch *batch_new(struct arena *a, int n, const struct entry_in *ins,
                                     bool master_on_demand)
{
    struct audit_batch *b = arena_alloc(a, sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->a = a;
    b->n = n;
    b->ins = ins;
    b->master_on_demand = master_on_demand;
    b->w = arena_alloc(a, sizeof(*b->w) * (size_t)n);
    memset(b->w, 0, sizeof(*b->w) * (size_t)n);
    for (int i = 0; i < n; i++) {
        struct entry_work *x = &b->w[i];
        clean_ctx(a, ins[i].ctx, &x->ctx);
        x->rid = audit_clean_text(a, ins[i].resource_id, ID_MAX_CHARS);
        x->rules = json_array();
        audit_diff(ins[i].before, ins[i].after, &x->b, &x->af);
        if ((x->b && !(x->before_text = json_dumps(x->b, JSON_STORE_FLAGS))) ||
            (x->af && !(x->after_text = json_dumps(x->af, JSON_STORE_FLAGS)))) {
            batch_free(b);
            return NULL;
        }
    }
    return b;
}

/* Chains b's entries onto the head that audit_sql_chain_lock gave (lock), with the ids
 * it and audit_sql_more_ids (more, for entries after the first) gave: the risk rules (a query on t
 * for the entries that need one), the hashes, and the parameter of sql_insert; the owners to alert,
 * when an entry alerts. AUDIT_OK or AUDIT_DB. */
static int batch_chain(struct db_conn *t, struct audit_batch *b, PGresult *lock, PGresult *more)
{
    if (!lock || PQntuples(lock) != 1) {
        log_msg(LOG_ERROR, "audit: the audit_chain row is missing");
        return AUDIT_DB;
    }
    if (b->n > 1 && (!more || PQntuples(more) < b->n - 1)) {
        log_msg(LOG_ERROR, "audit: %d ids for %d entries", more ? PQntuples(more) + 1 : 1, b->n);
        return AUDIT_DB;
    }
    const char *prev = db_get_dup(b->a, lock, 0, "head_hash");
    const char *at = db_get_dup(b->a, lock, 0, "at");
    json_t *rows = json_array();
    bool alert = false;
    int rc = AUDIT_DB;
    for (int i = 0; i < b->n; i++) {
        const struct entry_in *in = &b->ins[i];
        struct entry_work *x = &b->w[i];
        struct audit_risk_facts facts;
        if (audit_risk_facts_load(t, &x->ctx, in->action, in->resource, x->af, &facts) != AUDIT_OK)
            goto out;
        audit_risk_assess(&facts, &x->risk);
        for (int k = 0; k < x->risk.nrules; k++)
            json_array_append_new(x->rules, json_string(x->risk.rules[k]));
        alert = alert || (x->risk.alert && (x->ctx.master || b->master_on_demand));
        x->e = (struct audit_entry){
            .id = strtoll(i == 0 ? db_get(lock, 0, "id") : PQgetvalue(more, i - 1, 0), NULL, 10),
            .at = at,
            .actor_type = x->ctx.actor_type,
            .actor_id = x->ctx.actor_id,
            .actor_name = x->ctx.actor_name,
            .actor_email = x->ctx.actor_email,
            .action = in->action,
            .resource = in->resource,
            .resource_id = x->rid,
            .before = x->b,
            .after = x->af,
            .ip = x->ctx.ip,
            .user_agent = x->ctx.user_agent,
            .request_id = x->ctx.request_id,
            .risk_level = audit_risk_level_name(x->risk.level),
            .risk_rules = x->rules,
        };
        char *canonical = audit_canonical(&x->e);
        if (!canonical)
            goto out;
        audit_chain_hash(prev, canonical, x->hash);
        free(canonical);
        x->e.hash = prev = x->hash;
        json_t *row = json_pack(
            "{s:I, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?,"
            " s:s, s:O, s:s}",
            "id", (json_int_t)x->e.id, "at", at, "actor_type", x->ctx.actor_type, "actor_id",
            x->ctx.actor_id, "actor_name", x->ctx.actor_name, "actor_email", x->ctx.actor_email,
            "action", in->action, "resource", in->resource, "resource_id", x->rid, "before",
            x->before_text, "after", x->after_text, "ip", x->ctx.ip, "user_agent",
            x->ctx.user_agent, "request_id", x->ctx.request_id, "risk_level", x->e.risk_level,
            "risk_rules", x->rules, "hash", x->hash);
        if (!row || json_array_append_new(rows, row) != 0)
            goto out;
    }
    if (!(b->rows_text = json_dumps(rows, JSON_COMPACT)))
        goto out;
    if (alert && !(b->owners = db_exec(t, sql_owners, 0, NULL, NULL)))
        goto out;
    rc = AUDIT_OK;
out:
    json_decref(rows);
    return rc;
}

/* After the entries' transaction: the alerts of the high-risk ones when it committed. */
static void batch_end(struct audit_batch *b, bool committed)
{
    for (int i = 0; committed && b->owners && i < b->n; i++)
        if (b->w[i].risk.alert && (b->w[i].ctx.master || b->master_on_demand))
            send_alerts(b->w[i].ctx.master, b->master_on_demand, &b->w[i].ctx, &b->w[i].e,
                        b->owners);
    if (!committed && b->n > 0)
        log_msg(LOG_ERROR, "audit: could not write %s on %s%s", b->ins[0].action,
                b->ins[0].resource, b->n > 1 ? " (and others with it)" : "");
    batch_free(b);
}

/* The writer behind every helper, for one entry. master_on_demand: acquire a master
 * connection for alerts when in->master is NULL. */
static int write_entry(struct db_conn *t, const struct audit_ctx *in, bool master_on_demand,
                       const char *action, const char *resource, const char *resource_id,
                       json_t *before, json_t *after)
{
    if (!t || !in || !name_ok(action) || !name_ok(resource) ||
        (in->actor_type && !actor_type_ok(in->actor_type)))
        return AUDIT_INVALID;
    PGTransactionStatusType ts = PQtransactionStatus(t->pg);
    if (ts != PQTRANS_IDLE && ts != PQTRANS_INTRANS) {
        log_msg(LOG_ERROR, "audit: connection not usable (transaction status %d)", (int)ts);
        return AUDIT_DB;
    }
    bool own_tx = ts == PQTRANS_IDLE;
    struct entry_in one = {in, action, resource, resource_id, before, after};
    struct audit_batch *b = batch_new(arena_new(4096), 1, &one, master_on_demand);
    if (!b) {
        log_msg(LOG_ERROR, "audit: could not encode %s on %s", action, resource);
        return AUDIT_INVALID;
    }
    bool ok = !own_tx || db_begin(t) == 0;
    PGresult *lock = ok ? db_exec(t, audit_sql_chain_lock, 0, NULL, NULL) : NULL;
    ok = lock && batch_chain(t, b, lock, NULL) == AUDIT_OK;
    PQclear(lock);
    const char *p[] = {b->rows_text};
    ok = ok && db_run(t, sql_insert, 1, p) == 0;
    ok = ok && (!own_tx || db_commit(t) == 0);
    if (!ok && own_tx)
        db_rollback(t);
    batch_end(b, ok);
    return ok ? AUDIT_OK : AUDIT_DB;
}

/* Queues one alert mail per owner. Failures are logged: the entry stands without them. */
static void send_alerts(struct db_conn *master, bool on_demand, const struct audit_ctx *ctx,
                        const struct audit_entry *e, PGresult *owners)
{
    if (PQntuples(owners) == 0)
        return;
    struct db_conn *acquired = NULL;
    if (!master && on_demand)
        master = acquired = db_acquire_master();
    if (!master) {
        log_msg(LOG_WARN, "audit: no master connection; alert for entry %lld not sent", e->id);
        return;
    }
    struct arena *a = arena_new(2048);
    struct buf rules, text;
    buf_init(&rules, a);
    for (size_t i = 0; i < json_array_size(e->risk_rules); i++)
        buf_printf(&rules, "%s%s", i ? ", " : "",
                   json_string_value(json_array_get(e->risk_rules, i)));
    const char *studio = ctx->studio_name && *ctx->studio_name ? ctx->studio_name : "your studio";
    const char *who = ctx->actor_name && *ctx->actor_name ? ctx->actor_name : ctx->actor_type;
    buf_init(&text, a);
    buf_printf(&text,
               "studiod flagged a high-risk action in the audit log of %s.\n\n"
               "Rules:    %s\n"
               "When:     %s (UTC)\n"
               "Who:      %s%s%s%s (%s)\n"
               "What:     %s on %s%s%s\n"
               "From IP:  %s\n"
               "Entry:    #%lld\n\n"
               "Review it in the audit log (filter: risk level high). If you do not recognise\n"
               "this activity, change the passwords concerned and review who has access.\n",
               studio, buf_cstr(&rules), e->at, who, ctx->actor_email ? " <" : "",
               ctx->actor_email ? ctx->actor_email : "", ctx->actor_email ? ">" : "",
               ctx->actor_type, e->action, e->resource, e->resource_id ? " " : "",
               e->resource_id ? e->resource_id : "", ctx->ip ? ctx->ip : "unknown", e->id);
    const char *body = arena_strdup(a, buf_cstr(&text));
    const char *subject = arena_printf(a, "Security alert for %s: %s", studio, buf_cstr(&rules));

    bool own_tx = PQtransactionStatus(master->pg) == PQTRANS_IDLE;
    bool ok = !own_tx || db_begin(master) == 0;
    for (int i = 0; ok && i < PQntuples(owners); i++) {
        struct mail m = {.to = PQgetvalue(owners, i, 0), .subject = subject, .text = body};
        ok = mail_queue(master, &m) == 0;
    }
    if (own_tx && ok)
        ok = db_commit(master) == 0;
    if (!ok) {
        if (own_tx)
            db_rollback(master);
        log_msg(LOG_ERROR, "audit: could not queue the alert for entry %lld", e->id);
    }
    arena_free(a);
    db_release(acquired);
}

int audit_write(struct db_conn *t, const struct audit_ctx *ctx, const char *action,
                const char *resource, const char *resource_id, json_t *before, json_t *after)
{
    return write_entry(t, ctx, false, action, resource, resource_id, before, after);
}

int audit_record(struct db_conn *t, struct request *req, const char *action, const char *resource,
                 const char *resource_id, json_t *before, json_t *after)
{
    if (!req)
        return AUDIT_INVALID;
    struct audit_ctx ctx;
    audit_ctx_from_request(req, &ctx);
    return write_entry(t, &ctx, true, action, resource, resource_id, before, after);
}

struct audit_batch *audit_batch_chain(struct db_conn *t, PGresult *lock, PGresult *more,
                                      const char *action, const char *resource, int n,
                                      const struct audit_item *items)
{
    if (!t || n < 1 || !items || !name_ok(action) || !name_ok(resource))
        return NULL;
    struct arena *a = arena_new(4096);
    struct audit_ctx *ctx = arena_alloc(a, sizeof(*ctx) * (size_t)n);
    struct entry_in *ins = arena_alloc(a, sizeof(*ins) * (size_t)n);
    for (int i = 0; i < n; i++) {
        if (!items[i].req) {
            arena_free(a);
            return NULL;
        }
        audit_ctx_from_request(items[i].req, &ctx[i]);
        ins[i] = (struct entry_in){.ctx = &ctx[i],
                                   .action = action,
                                   .resource = resource,
                                   .resource_id = items[i].resource_id,
                                   .before = items[i].before,
                                   .after = items[i].after};
    }
    struct audit_batch *b = batch_new(a, n, ins, true);
    if (b && batch_chain(t, b, lock, more) != AUDIT_OK) {
        batch_end(b, false);
        b = NULL;
    }
    return b;
}

void audit_batch_insert(const struct audit_batch *b, const char **sql, const char **param)
{
    *sql = sql_insert;
    *param = b->rows_text;
}

void audit_batch_end(struct audit_batch *b, bool committed)
{
    if (b)
        batch_end(b, committed);
}

int audit_create(struct db_conn *t, struct request *req, const char *resource,
                 const char *resource_id, json_t *after)
{
    return audit_record(t, req, AUDIT_ACTION_CREATE, resource, resource_id, NULL, after);
}

int audit_update(struct db_conn *t, struct request *req, const char *resource,
                 const char *resource_id, json_t *before, json_t *after)
{
    return audit_record(t, req, AUDIT_ACTION_UPDATE, resource, resource_id, before, after);
}

int audit_delete(struct db_conn *t, struct request *req, const char *resource,
                 const char *resource_id, json_t *before)
{
    return audit_record(t, req, AUDIT_ACTION_DELETE, resource, resource_id, before, NULL);
}

int audit_view(struct db_conn *t, struct request *req, const char *resource,
               const char *resource_id)
{
    return audit_record(t, req, AUDIT_ACTION_VIEW, resource, resource_id, NULL, NULL);
}

int audit_login(struct db_conn *t, struct request *req, const char *user_id, const char *user_name,
                const char *user_email, const char *session_id)
{
    if (!req)
        return AUDIT_INVALID;
    struct audit_ctx ctx;
    audit_ctx_from_request(req, &ctx);
    ctx.actor_type = AUDIT_ACTOR_USER;
    ctx.actor_id = user_id;
    ctx.actor_name = user_name;
    ctx.actor_email = user_email;
    return write_entry(t, &ctx, true, AUDIT_ACTION_LOGIN, "auth", session_id, NULL, NULL);
}

int audit_login_failed(struct db_conn *t, struct request *req, const char *email,
                       const char *reason)
{
    if (!req)
        return AUDIT_INVALID;
    struct audit_ctx ctx;
    audit_ctx_from_request(req, &ctx);
    ctx.actor_type = AUDIT_ACTOR_ANONYMOUS;
    ctx.actor_id = NULL;
    ctx.actor_name = NULL;
    ctx.actor_email = email;
    json_t *after = reason ? json_pack("{s:s}", "reason", reason) : NULL;
    int rc = write_entry(t, &ctx, true, AUDIT_ACTION_LOGIN_FAILED, "auth", NULL, NULL, after);
    json_decref(after);
    return rc;
}

int audit_logout(struct db_conn *t, struct request *req)
{
    if (!req)
        return AUDIT_INVALID;
    return audit_record(t, req, AUDIT_ACTION_LOGOUT, "auth", req->session ? req->session->id : NULL,
                        NULL, NULL);
}

int audit_record_system(struct db_conn *t, struct db_conn *master, const char *action,
                        const char *resource, const char *resource_id, json_t *before,
                        json_t *after)
{
    struct audit_ctx ctx = {.actor_type = AUDIT_ACTOR_SYSTEM, .master = master};
    return write_entry(t, &ctx, false, action, resource, resource_id, before, after);
}

/* ---- verifying ------------------------------------------------------------------------- */

/* Row i of a sql_walk result as an entry (strings point into r; JSON values are new
 * references: entry_release). False when a JSON column does not parse. */
static bool row_entry(PGresult *r, int i, struct audit_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->id = strtoll(db_get(r, i, "id"), NULL, 10);
    e->at = db_get(r, i, "at");
    e->actor_type = db_get(r, i, "actor_type");
    e->actor_id = db_get(r, i, "actor_id");
    e->actor_name = db_get(r, i, "actor_name");
    e->actor_email = db_get(r, i, "actor_email");
    e->action = db_get(r, i, "action");
    e->resource = db_get(r, i, "resource");
    e->resource_id = db_get(r, i, "resource_id");
    e->ip = db_get(r, i, "ip");
    e->user_agent = db_get(r, i, "user_agent");
    e->request_id = db_get(r, i, "request_id");
    e->risk_level = db_get(r, i, "risk_level");
    e->hash = db_get(r, i, "hash");
    const char *before = db_get(r, i, "before"), *after = db_get(r, i, "after");
    const char *rules = db_get(r, i, "risk_rules");
    if (before && !(e->before = json_loads(before, JSON_DECODE_ANY, NULL)))
        return false;
    if (after && !(e->after = json_loads(after, JSON_DECODE_ANY, NULL)))
        return false;
    if (rules && !(e->risk_rules = json_loads(rules, JSON_DECODE_ANY, NULL)))
        return false;
    return true;
}

static void entry_release(struct audit_entry *e)
{
    json_decref(e->before);
    json_decref(e->after);
    json_decref(e->risk_rules);
    e->before = e->after = e->risk_rules = NULL;
}

/* Walks the entries with after_id < id <= upto_id, in batches, stopping at the first that
 * does not verify. AUDIT_OK (w says how it went) or AUDIT_DB. */
static int chain_walk(struct db_conn *t, long long after_id, long long upto_id,
                      struct audit_walk *w)
{
    char last[24], upto[24], batch[16];
    snprintf(last, sizeof(last), "%lld", after_id);
    snprintf(upto, sizeof(upto), "%lld", upto_id);
    snprintf(batch, sizeof(batch), "%d", WALK_BATCH);
    for (;;) {
        const char *p[] = {last, upto, batch};
        PGresult *r = db_exec(t, sql_walk, 3, p, NULL);
        if (!r)
            return AUDIT_DB;
        int n = PQntuples(r);
        for (int i = 0; i < n && !w->broken; i++) {
            struct audit_entry e;
            if (row_entry(r, i, &e))
                audit_walk_step(w, &e);
            else
                walk_break(w, &e, "unreadable_entry");
            entry_release(&e);
        }
        if (n > 0)
            snprintf(last, sizeof(last), "%s", db_get(r, n - 1, "id"));
        PQclear(r);
        if (w->broken || n < WALK_BATCH)
            return AUDIT_OK;
    }
}

static json_t *walk_json(const struct audit_walk *w)
{
    if (!w->broken)
        return json_pack("{s:b, s:I}", "ok", 1, "entries", (json_int_t)w->entries);
    return json_pack("{s:b, s:I, s:o, s:s, s:I}", "ok", 0, "first_broken_id",
                     (json_int_t)w->broken_id, "at",
                     w->broken_at[0] ? json_string(w->broken_at) : json_null(), "reason", w->reason,
                     "entries", (json_int_t)w->entries);
}

int audit_verify(struct db_conn *t, json_t **out)
{
    if (db_run(t, sql_begin_snapshot, 0, NULL) != 0)
        return AUDIT_DB;
    PGresult *r = db_exec(t, sql_chain_get, 0, NULL, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        db_rollback(t);
        return AUDIT_DB;
    }
    const char *head_id = db_get(r, 0, "head_id");
    long long head = head_id ? strtoll(head_id, NULL, 10) : 0;
    long long anchor = strtoll(db_get(r, 0, "anchor_id"), NULL, 10);
    char head_hash[AUDIT_HASH_HEX + 1], anchor_hash[AUDIT_HASH_HEX + 1];
    snprintf(head_hash, sizeof(head_hash), "%s", db_get(r, 0, "head_hash"));
    snprintf(anchor_hash, sizeof(anchor_hash), "%s", db_get(r, 0, "anchor_hash"));
    PQclear(r);

    struct audit_walk w;
    audit_walk_init(&w, anchor_hash);
    /* Every entry past the anchor, not only up to the head: one appended behind the
     * head's back must not verify either. */
    if (chain_walk(t, anchor, INT64_MAX, &w) != AUDIT_OK) {
        db_rollback(t);
        return AUDIT_DB;
    }
    audit_walk_finish(&w, head, head_hash);
    if (db_commit(t) != 0)
        return AUDIT_DB;
    *out = walk_json(&w);
    return AUDIT_OK;
}

int audit_cleanup(struct db_conn *t, const struct audit_ctx *ctx, long days, json_t **out)
{
    if (days < AUDIT_MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS)
        return AUDIT_INVALID;
    if (db_begin(t) != 0)
        return AUDIT_DB;
    int rc = AUDIT_DB;
    PGresult *r = db_exec(t, sql_chain_get_locked, 0, NULL, NULL);
    if (!r || PQntuples(r) != 1)
        goto fail;
    char anchor_id[24], anchor_hash[AUDIT_HASH_HEX + 1], ndays[16];
    snprintf(anchor_id, sizeof(anchor_id), "%s", db_get(r, 0, "anchor_id"));
    snprintf(anchor_hash, sizeof(anchor_hash), "%s", db_get(r, 0, "anchor_hash"));
    snprintf(ndays, sizeof(ndays), "%ld", days);
    PQclear(r);

    const char *p1[] = {anchor_id, ndays};
    r = db_exec(t, sql_cleanup_last, 2, p1, NULL);
    if (!r)
        goto fail;
    const char *last = db_get(r, 0, "last_id");
    long long last_id = last ? strtoll(last, NULL, 10) : 0;
    PQclear(r);
    r = NULL;

    long long deleted = 0;
    json_t *after = json_pack("{s:I}", "older_than_days", (json_int_t)days);
    if (last_id > 0) {
        struct audit_walk w;
        audit_walk_init(&w, anchor_hash);
        if (chain_walk(t, strtoll(anchor_id, NULL, 10), last_id, &w) != AUDIT_OK) {
            json_decref(after);
            goto fail;
        }
        if (w.broken) {
            *out = walk_json(&w);
            json_decref(after);
            rc = AUDIT_CHAIN_BROKEN;
            goto fail;
        }
        char last_text[24];
        snprintf(last_text, sizeof(last_text), "%lld", last_id);
        const char *p2[] = {last_text};
        r = db_exec(t, sql_cleanup_delete, 1, p2, NULL);
        if (!r) {
            json_decref(after);
            goto fail;
        }
        deleted = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        r = NULL;
        /* w.running is the stored hash of the last entry removed (it verified). */
        const char *p3[] = {last_text, w.running};
        if (db_run(t, sql_cleanup_anchor, 2, p3) != 0) {
            json_decref(after);
            goto fail;
        }
        json_object_set_new(after, "anchor_id", json_integer(last_id));
        json_object_set_new(after, "anchor_hash", json_string(w.running));
    }
    json_object_set_new(after, "deleted", json_integer(deleted));
    rc = write_entry(t, ctx, ctx->master == NULL, AUDIT_ACTION_CLEANUP, "audit", NULL, NULL, after);
    json_decref(after);
    if (rc != AUDIT_OK)
        goto fail;
    if (db_commit(t) != 0) {
        rc = AUDIT_DB;
        goto fail;
    }
    *out = json_pack("{s:I, s:I, s:I}", "deleted", (json_int_t)deleted, "anchor_id",
                     (json_int_t)last_id, "older_than_days", (json_int_t)days);
    return AUDIT_OK;

fail:
    PQclear(r);
    db_rollback(t);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------- */

/* A calendar date YYYY-MM-DD (years 1900 to 9999). */
static bool valid_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

static bool two_digits(const char *s, int max)
{
    return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           (s[0] - '0') * 10 + (s[1] - '0') <= max;
}

/* YYYY-MM-DD, or an RFC 3339 date-time with an offset: YYYY-MM-DDTHH:MM[:SS[.fraction]]
 * followed by Z or ±HH:MM. */
static bool valid_bound(const char *s)
{
    if (!valid_date(s))
        return false;
    if (s[10] == '\0')
        return true;
    const char *p = s + 10;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!two_digits(p, 23) || p[2] != ':' || !two_digits(p + 3, 59))
        return false;
    p += 5;
    if (*p == ':') {
        if (!two_digits(p + 1, 60))
            return false;
        p += 3;
        if (*p == '.') {
            int n = 0;
            for (p++; isdigit((unsigned char)*p); p++)
                n++;
            if (n < 1 || n > 9)
                return false;
        }
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    return (*p == '+' || *p == '-') && two_digits(p + 1, 23) && p[3] == ':' &&
           two_digits(p + 4, 59) && p[6] == '\0';
}

json_t *audit_filter_validate(const struct audit_filter *f)
{
    json_t *bad = json_object();
    struct {
        const char *key, *value;
        size_t max;
    } texts[] = {
        {"actor", f->actor, PERSON_MAX_CHARS},
        {"resource_id", f->resource_id, ID_MAX_CHARS},
        {"ip", f->ip, IP_MAX_CHARS},
        {"q", f->q, QUERY_MAX_CHARS},
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *v = texts[i].value;
        if (!v)
            continue;
        bool ok = utf8_valid(v) && strlen(v) <= texts[i].max * 4;
        for (const char *p = v; ok && *p; p++)
            ok = (unsigned char)*p >= 0x20 && *p != 0x7F;
        if (!ok)
            json_object_set_new(bad, texts[i].key,
                                json_sprintf("Text of at most %zu characters", texts[i].max));
    }
    if (f->action && !name_ok(f->action))
        json_object_set_new(bad, "action", json_string("An action name such as update"));
    if (f->resource && !name_ok(f->resource))
        json_object_set_new(bad, "resource", json_string("A resource name such as rooms"));
    if (f->from && !valid_bound(f->from))
        json_object_set_new(bad, "from",
                            json_string("A date YYYY-MM-DD or an RFC 3339 time with offset"));
    if (f->to && !valid_bound(f->to))
        json_object_set_new(bad, "to",
                            json_string("A date YYYY-MM-DD or an RFC 3339 time with offset"));
    if (f->risk) {
        bool ok = *f->risk != '\0';
        const char *p = f->risk;
        while (ok && *p) {
            size_t n = strcspn(p, ",");
            ok = (n == 4 && strncmp(p, "none", 4) == 0) || (n == 3 && strncmp(p, "low", 3) == 0) ||
                 (n == 6 && strncmp(p, "medium", 6) == 0) || (n == 4 && strncmp(p, "high", 4) == 0);
            p += n;
            if (*p == ',') {
                p++;
                ok = ok && *p != '\0';
            }
        }
        if (!ok)
            json_object_set_new(bad, "risk",
                                json_string("Levels none, low, medium, high, comma-separated"));
    }
    if (json_object_size(bad) > 0)
        return bad;
    json_decref(bad);
    return NULL;
}

/* p[0..9] for FILTER_BOUNDS and FILTER_WHERE. */
static void filter_params(const struct audit_filter *f, const char **p)
{
    p[0] = f->actor;
    p[1] = f->action;
    p[2] = f->resource;
    p[3] = f->resource_id;
    p[4] = f->ip;
    p[5] = f->from;
    p[6] = f->to;
    p[7] = f->risk;
    p[8] = f->q;
    p[9] = f->timezone && *f->timezone ? f->timezone : "UTC";
}

/* One row, one JSON column, into *out. */
static int query_json(struct db_conn *t, const char *sql, int n, const char *const *p, json_t **out)
{
    PGresult *r = db_exec(t, sql, n, p, NULL);
    if (!r)
        return AUDIT_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return AUDIT_DB;
    }
    json_error_t e;
    *out = json_loads(PQgetvalue(r, 0, 0), 0, &e);
    PQclear(r);
    if (!*out) {
        log_msg(LOG_ERROR, "audit: unreadable JSON from the database: %s", e.text);
        return AUDIT_DB;
    }
    return AUDIT_OK;
}

int audit_list(struct db_conn *t, const struct audit_filter *f, long limit, long offset,
               json_t **out)
{
    char lim[24], off[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(off, sizeof(off), "%ld", offset);
    const char *p[12];
    filter_params(f, p);
    p[10] = lim;
    p[11] = off;
    return query_json(t, sql_list, 12, p, out);
}

int audit_stats(struct db_conn *t, const struct audit_filter *f, json_t **out)
{
    const char *p[10];
    filter_params(f, p);
    return query_json(t, sql_stats, 10, p, out);
}

void audit_csv_field(struct buf *b, const char *s)
{
    if (!s || !*s)
        return;
    size_t len = strlen(s);
    bool formula = strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = formula || strpbrk(s, ",\"\r\n") || s[0] == ' ' || s[len - 1] == ' ';
    if (!quote) {
        buf_append(b, s, len);
        return;
    }
    buf_append(b, "\"", 1);
    if (formula)
        buf_append(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_append(b, "\"\"", 2);
        else
            buf_append(b, p, 1);
    }
    buf_append(b, "\"", 1);
}

int audit_export_count(struct db_conn *t, const struct audit_filter *f, long *rows,
                       char last_id[24])
{
    *rows = 0;
    snprintf(last_id, 24, "0");
    const char *p[10];
    filter_params(f, p);
    PGresult *r = db_exec(t, sql_export_count, 10, p, NULL);
    if (!r)
        return AUDIT_DB;
    *rows = atol(db_get(r, 0, "n"));
    snprintf(last_id, 24, "%s", db_get(r, 0, "last"));
    PQclear(r);
    return AUDIT_OK;
}

struct audit_export {
    struct db_conn *t;
    bool in_tx; /* the snapshot is open (cursor declared) */
    bool header_sent;
    bool last_batch; /* the cursor gave fewer rows than asked: no more FETCH */
    bool finished;   /* CLOSE + COMMIT done */
    bool failed;
    PGresult *res; /* the current batch */
    int row, nrows;
    int col[17];         /* export_columns' numbers in res */
    struct arena *chunk; /* the encoded bytes not yet handed over, in out */
    struct buf out;
    size_t pos;
};

struct audit_export *audit_export_open(struct db_conn *t, const struct audit_filter *f,
                                       const char *last_id, struct arena *a)
{
    if (db_run(t, sql_begin_snapshot, 0, NULL) != 0)
        return NULL;
    const char *p[11];
    filter_params(f, p);
    p[10] = last_id;
    /* DECLARE takes parameters through the extended protocol like any query (db_exec
     * prepares it once per connection; the cursor's name is fixed). */
    if (db_run(t, sql_export_declare, 11, p) != 0) {
        db_rollback(t);
        return NULL;
    }
    struct audit_export *x = arena_alloc(a, sizeof(*x));
    memset(x, 0, sizeof(*x));
    x->t = t;
    x->in_tx = true;
    return x;
}

/* The database failed mid-stream: end the transaction; the client gets a cut response. */
static ssize_t export_fail(struct audit_export *x)
{
    PQclear(x->res);
    x->res = NULL;
    if (x->in_tx)
        db_rollback(x->t);
    x->in_tx = false;
    x->failed = true;
    return -1;
}

/* Encodes rows of the current batch (or the header) into a fresh x->out, up to about
 * EXPORT_CHUNK bytes. -1 when the database failed. */
static int export_refill(struct audit_export *x)
{
    if (x->chunk)
        arena_free(x->chunk);
    x->chunk = arena_new(EXPORT_CHUNK + 4096);
    buf_init(&x->out, x->chunk);
    x->pos = 0;
    if (!x->header_sent) {
        for (int c = 0; export_columns[c]; c++) {
            if (c)
                buf_append(&x->out, ",", 1);
            buf_puts(&x->out, export_columns[c]);
        }
        buf_append(&x->out, "\r\n", 2);
        x->header_sent = true;
        return 0;
    }
    while (x->out.len < EXPORT_CHUNK) {
        if (!x->res || x->row >= x->nrows) {
            PQclear(x->res);
            x->res = NULL;
            if (x->last_batch) {
                if (db_run(x->t, sql_export_close, 0, NULL) != 0 || db_commit(x->t) != 0)
                    return -1;
                x->in_tx = false;
                x->finished = true;
                return 0;
            }
            x->res = db_exec(x->t, sql_export_fetch, 0, NULL, NULL);
            if (!x->res)
                return -1;
            x->row = 0;
            x->nrows = PQntuples(x->res);
            x->last_batch = x->nrows < atoi(EXPORT_BATCH);
            for (int c = 0; export_columns[c]; c++)
                x->col[c] = PQfnumber(x->res, export_columns[c]);
            continue;
        }
        for (int c = 0; export_columns[c]; c++) {
            if (c)
                buf_append(&x->out, ",", 1);
            if (x->col[c] >= 0 && !PQgetisnull(x->res, x->row, x->col[c]))
                audit_csv_field(&x->out, PQgetvalue(x->res, x->row, x->col[c]));
        }
        buf_append(&x->out, "\r\n", 2);
        x->row++;
    }
    return 0;
}

ssize_t audit_export_read(void *export, char *buf, size_t max)
{
    struct audit_export *x = export;
    for (;;) {
        if (x->failed)
            return -1;
        if (x->chunk && x->pos < x->out.len) {
            size_t n = x->out.len - x->pos;
            if (n > max)
                n = max;
            memcpy(buf, x->out.data + x->pos, n);
            x->pos += n;
            return (ssize_t)n;
        }
        if (x->finished)
            return 0;
        if (export_refill(x) != 0)
            return export_fail(x);
    }
}

void audit_export_done(void *export)
{
    struct audit_export *x = export;
    if (!x)
        return;
    PQclear(x->res);
    x->res = NULL;
    if (x->chunk)
        arena_free(x->chunk);
    x->chunk = NULL;
    if (x->in_tx)
        db_rollback(x->t); /* the client left before the end */
    x->in_tx = false;
}
