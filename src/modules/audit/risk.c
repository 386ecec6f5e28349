/*
 * risk.c — the audit log's risk rules: what makes an entry worth a second
 * look, decided once, when the entry is written, and named on it
 * (audit_log.risk_rules) with the highest level among them.
 *
 *   rule                    level   fires when
 *   failed_logins_account   high    ≥ 5 login_failed for one e-mail in 15 minutes
 *   failed_logins_ip        high    ≥ 10 login_failed from one IP in 15 minutes
 *   new_ip_login            medium  a login from an IP the user never signed in from
 *   mass_deletion           high    ≥ 10 delete/cancel by one actor in 10 minutes
 *   customer_data_export    medium  export of customers or bookings
 *   permission_change       medium  any change to roles, permissions, user_roles,
 *                                   role_permissions
 *   large_refund            high    after.refund_amount above the studio's threshold
 *                                   (studio_settings.audit_refund_alert_threshold,
 *                                   else 50000 minor units)
 *   outside_opening_hours   low     a staff user acting while the studio is closed
 *
 * Decisions:
 *  - The facts come from the audit table itself (partial indexes in
 *    migrations/tenant/0004_audit.sql) and are read while the chain head is
 *    locked (audit.c), so the counts are exact even under concurrent writers;
 *    they include the entry being written.
 *  - A burst alerts the owners once, when its count reaches the threshold;
 *    the entries after it are still high-risk but do not mail again (a
 *    password-guessing run would otherwise send one mail a guess). A count
 *    that falls back under the threshold and reaches it again alerts again.
 *  - new_ip_login needs a previous sign-in of the user: everyone's very
 *    first sign-in comes from a "new" IP, and flagging it would be noise.
 *  - mass_deletion counts a staff user by id, a customer by IP; the system
 *    actor (hold expiry and other jobs) is not counted.
 *  - outside_opening_hours reads the studio's weekly hours and studio-wide
 *    closures in the studio's time zone; a studio without any hours set is
 *    never "closed" for this rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/audit.h"
#include "studiod/db.h"

static bool eq(const char *a, const char *b);
static void add_rule(struct audit_risk *out, const char *rule, enum audit_risk_level level);
static bool is_removal(const char *action);
static bool is_permission_resource(const char *resource);
static long col_long(PGresult *r, const char *col);
static bool col_bool(PGresult *r, const char *col);

/* $1 action, $2 actor e-mail, $3 ip, $4 actor id, $5 actor type, $6 login window (minutes),
 * $7 removal window (minutes), $8 time zone, $9 whether the refund threshold is wanted.
 * Each fact is computed only for the actions it concerns. */
static const char sql_facts[] =
    "SELECT"
    " CASE WHEN $1::text = 'login_failed' AND $2::text IS NOT NULL THEN"
    "   (SELECT count(*) FROM audit_log WHERE action = 'login_failed'"
    "       AND lower(actor_email) = lower($2::text)"
    "       AND at > clock_timestamp() - make_interval(mins => $6::int)) END AS account_failures,"
    " CASE WHEN $1::text = 'login_failed' AND $3::text IS NOT NULL THEN"
    "   (SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND ip = $3::text"
    "       AND at > clock_timestamp() - make_interval(mins => $6::int)) END AS ip_failures,"
    " CASE WHEN $1::text = 'login' AND $4::text IS NOT NULL THEN"
    "   EXISTS (SELECT 1 FROM audit_log WHERE action = 'login' AND actor_id = $4::text)"
    "   END AS login_has_history,"
    " CASE WHEN $1::text = 'login' AND $4::text IS NOT NULL THEN"
    "   EXISTS (SELECT 1 FROM audit_log WHERE action = 'login' AND actor_id = $4::text"
    "              AND ip IS NOT DISTINCT FROM $3::text) END AS login_ip_seen,"
    " CASE WHEN $1::text IN ('delete', 'cancel') AND $4::text IS NOT NULL THEN"
    "   (SELECT count(*) FROM audit_log WHERE action IN ('delete', 'cancel')"
    "       AND actor_id = $4::text"
    "       AND at > clock_timestamp() - make_interval(mins => $7::int))"
    "      WHEN $1::text IN ('delete', 'cancel') AND $5::text = 'customer'"
    "           AND $3::text IS NOT NULL THEN"
    "   (SELECT count(*) FROM audit_log WHERE action IN ('delete', 'cancel')"
    "       AND actor_id IS NULL AND actor_type = 'customer' AND ip = $3::text"
    "       AND at > clock_timestamp() - make_interval(mins => $7::int)) END AS deletions,"
    " CASE WHEN $5::text = 'user' THEN"
    "   (WITH l AS (SELECT clock_timestamp() AT TIME ZONE coalesce($8::text, 'UTC') AS t)"
    "    SELECT EXISTS (SELECT 1 FROM opening_hours WHERE room_id IS NULL)"
    "       AND (NOT EXISTS (SELECT 1 FROM opening_hours h, l"
    "                         WHERE h.room_id IS NULL"
    "                           AND h.weekday = extract(isodow FROM l.t)"
    "                           AND l.t::time >= h.opens AND l.t::time < h.closes)"
    "            OR EXISTS (SELECT 1 FROM closures c, l"
    "                        WHERE c.room_id IS NULL"
    "                          AND l.t::date BETWEEN c.starts_on AND c.ends_on))"
    "     FROM l) END AS studio_closed,"
    " CASE WHEN $9::boolean THEN"
    "   (SELECT audit_refund_alert_threshold FROM studio_settings) END AS refund_threshold";

static bool eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Names rule on out and raises its level to at least level. */
static void add_rule(struct audit_risk *out, const char *rule, enum audit_risk_level level)
{
    if (out->nrules < AUDIT_RISK_MAX_RULES)
        out->rules[out->nrules++] = rule;
    if (level > out->level)
        out->level = level;
}

static bool is_removal(const char *action)
{
    return eq(action, AUDIT_ACTION_DELETE) || eq(action, AUDIT_ACTION_CANCEL);
}

static bool is_permission_resource(const char *resource)
{
    return eq(resource, "roles") || eq(resource, "permissions") || eq(resource, "user_roles") ||
           eq(resource, "role_permissions");
}

void audit_risk_assess(const struct audit_risk_facts *f, struct audit_risk *out)
{
    memset(out, 0, sizeof(*out));
    if (eq(f->action, AUDIT_ACTION_LOGIN_FAILED)) {
        if (f->account_failures >= AUDIT_FAILED_LOGINS_PER_ACCOUNT) {
            add_rule(out, AUDIT_RULE_FAILED_LOGINS_ACCOUNT, AUDIT_RISK_HIGH);
            out->alert |= f->account_failures == AUDIT_FAILED_LOGINS_PER_ACCOUNT;
        }
        if (f->ip_failures >= AUDIT_FAILED_LOGINS_PER_IP) {
            add_rule(out, AUDIT_RULE_FAILED_LOGINS_IP, AUDIT_RISK_HIGH);
            out->alert |= f->ip_failures == AUDIT_FAILED_LOGINS_PER_IP;
        }
    }
    if (eq(f->action, AUDIT_ACTION_LOGIN) && f->login_has_history && !f->login_ip_seen)
        add_rule(out, AUDIT_RULE_NEW_IP_LOGIN, AUDIT_RISK_MEDIUM);
    if (is_removal(f->action) && f->deletions >= AUDIT_MASS_DELETE_COUNT) {
        add_rule(out, AUDIT_RULE_MASS_DELETION, AUDIT_RISK_HIGH);
        out->alert |= f->deletions == AUDIT_MASS_DELETE_COUNT;
    }
    if (eq(f->action, AUDIT_ACTION_EXPORT) &&
        (eq(f->resource, "customers") || eq(f->resource, "bookings")))
        add_rule(out, AUDIT_RULE_CUSTOMER_EXPORT, AUDIT_RISK_MEDIUM);
    if (is_permission_resource(f->resource) && !eq(f->action, AUDIT_ACTION_VIEW) &&
        !eq(f->action, AUDIT_ACTION_EXPORT))
        add_rule(out, AUDIT_RULE_PERMISSION_CHANGE, AUDIT_RISK_MEDIUM);
    if (f->has_refund && f->refund_amount > f->refund_threshold) {
        add_rule(out, AUDIT_RULE_LARGE_REFUND, AUDIT_RISK_HIGH);
        out->alert = true;
    }
    if (eq(f->actor_type, AUDIT_ACTOR_USER) && f->studio_closed)
        add_rule(out, AUDIT_RULE_OUTSIDE_HOURS, AUDIT_RISK_LOW);
}

const char *audit_risk_level_name(enum audit_risk_level level)
{
    switch (level) {
    case AUDIT_RISK_LOW:
        return "low";
    case AUDIT_RISK_MEDIUM:
        return "medium";
    case AUDIT_RISK_HIGH:
        return "high";
    case AUDIT_RISK_NONE:
    default:
        return "none";
    }
}

bool audit_refund_amount(json_t *after, long long *out)
{
    json_t *v = json_object_get(after, "refund_amount");
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 19)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    long long n = strtoll(s, NULL, 10);
    if (errno != 0)
        return false;
    *out = n;
    return true;
}

static long col_long(PGresult *r, const char *col)
{
    const char *v = db_get(r, 0, col);
    return v ? atol(v) : 0;
}

static bool col_bool(PGresult *r, const char *col)
{
    const char *v = db_get(r, 0, col);
    return v && v[0] == 't';
}

int audit_risk_facts_load(struct db_conn *t, const struct audit_ctx *ctx, const char *action,
                          const char *resource, json_t *after, struct audit_risk_facts *out)
{
    memset(out, 0, sizeof(*out));
    out->action = action;
    out->resource = resource;
    out->actor_type = ctx->actor_type;
    out->has_refund = audit_refund_amount(after, &out->refund_amount);

    out->refund_threshold = AUDIT_REFUND_ALERT_DEFAULT;
    /* Every column of sql_facts is NULL unless one of these holds: then the query would
     * tell nothing, and is not sent (a customer's booking, most staff reads). */
    bool wanted = eq(action, "login_failed") || eq(action, "login") || eq(action, "delete") ||
                  eq(action, "cancel") || eq(ctx->actor_type, "user") || out->has_refund;
    if (!wanted)
        return AUDIT_OK;
    char login_window[16], removal_window[16];
    snprintf(login_window, sizeof(login_window), "%d", AUDIT_FAILED_LOGIN_WINDOW_MINUTES);
    snprintf(removal_window, sizeof(removal_window), "%d", AUDIT_MASS_DELETE_WINDOW_MINUTES);
    const char *p[] = {action,         ctx->actor_email, ctx->ip,
                       ctx->actor_id,  ctx->actor_type,  login_window,
                       removal_window, ctx->timezone,    out->has_refund ? "true" : "false"};
    PGresult *r = db_exec(t, sql_facts, 9, p, NULL);
    if (!r)
        return AUDIT_DB;
    /* The counts leave out the entry being written: it is not in the table yet. */
    if (db_get(r, 0, "account_failures"))
        out->account_failures = col_long(r, "account_failures") + 1;
    if (db_get(r, 0, "ip_failures"))
        out->ip_failures = col_long(r, "ip_failures") + 1;
    out->login_has_history = col_bool(r, "login_has_history");
    out->login_ip_seen = col_bool(r, "login_ip_seen");
    if (db_get(r, 0, "deletions"))
        out->deletions = col_long(r, "deletions") + 1;
    out->studio_closed = col_bool(r, "studio_closed");
    const char *threshold = db_get(r, 0, "refund_threshold");
    out->refund_threshold = threshold ? atoll(threshold) : AUDIT_REFUND_ALERT_DEFAULT;
    PQclear(r);
    return AUDIT_OK;
}
