/*
 * credits.c — AI credits: the per-studio balance and its append-only ledger
 * in the master database (migrations/master/0007_credits.sql), spending,
 * the monthly allowance, and packs bought through Stripe Checkout.
 *
 * The rule for the monthly allowance: each calendar month (in the studio's
 * time zone) the studio gets its plan's ai_credits_per_month; what is left
 * of it when the month ends expires. Purchased credits never expire.
 * Spending takes the allowance first, then purchased credits. The allowance
 * is granted lazily, by the first read or spend of the month, with the plan
 * the studio has then (a mid-month plan change shows from the next month).
 * Only a studio in its trial or with a paid plan is due an allowance: after a
 * trial that ended without a plan (the read-only back office) nothing is
 * granted, and the month's allowance comes on the first touch after it
 * subscribes. Purchased credits stay usable whatever the plan.
 *
 * Every change to a balance runs in one transaction that first locks the
 * studio's credit_accounts row (SELECT ... FOR UPDATE), rolls the month over
 * if needed (an 'expiry' entry for the unused allowance, then the
 * 'monthly_grant', unique per studio and month), then checks and writes the
 * ledger entry and the account together. Concurrent spenders of one studio
 * therefore queue on that row: each sees the balance the previous one left,
 * so the balance never goes below zero (and the account's CHECKs would
 * refuse it if it did), and the ledger always sums to the account.
 *
 * A pack bought through Checkout is credited by the platform billing webhook
 * (src/modules/billing) calling credits_apply_checkout(): the paid amount
 * and currency must equal the pack's (credit_packs rows are never repriced),
 * and the ledger's unique checkout_session_id grants each session once.
 */
#include "studiod/credits.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "studiod/audit.h"
#include "studiod/db.h"
#include "studiod/log.h"
#include "studiod/money.h"
#include "studiod/stripe.h"

#define KIND_CREDITS "credits"
#define REASON_MAX 200
#define SPEND_MAX 1000000000LL /* one spend never exceeds this (guards int64 sums) */

/* The studio's account as locked for a change, after any month roll-over. */
struct account {
    int64_t allowance;         /* what is left of this month's allowance */
    int64_t purchased;         /* purchased credits left */
    int64_t monthly_allowance; /* the plan's ai_credits_per_month */
    char month[11];            /* this month, YYYY-MM-01 */
};

static int account_lock(struct db_conn *m, const char *org_id, struct account *acc);
static int account_current(struct db_conn *m, const char *org_id, struct account *acc);
static bool valid_reason(const char *reason);
static bool valid_client_key(const char *k);
static int64_t get_i64(PGresult *r, int row, const char *col);
static void i64_str(char buf[24], int64_t v);

bool credits_valid_uuid(const char *s)
{
    return http_uuid_valid(s);
}

static int64_t get_i64(PGresult *r, int row, const char *col)
{
    const char *v = db_get(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

static void i64_str(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
}

/* ---- the account, locked and current --------------------------------------------------- */

/* Studios still being provisioned get no account (they may yet be deleted, and the
 * ledger keeps its studios). */
static const char sql_account_ensure[] =
    "INSERT INTO credit_accounts (organization_id)"
    " SELECT id FROM organizations WHERE id = $1::uuid AND status <> 'provisioning'"
    " ON CONFLICT (organization_id) DO NOTHING";

/* The allowance a studio is due each month: its plan's, while it is in its trial or has
 * a paid plan. A studio whose trial ended without one (read-only, as src/db/tenant.c
 * says) or a suspended one gets none; it gets the month's allowance on the first touch
 * after it subscribes. */
#define SQL_MONTHLY_ALLOWANCE                                                                      \
    "       CASE WHEN o.status NOT IN ('trial', 'active')"                                         \
    "              OR (o.status = 'trial' AND o.trial_ends_at IS NOT NULL"                         \
    "                  AND o.trial_ends_at <= now()) THEN 0"                                       \
    "            ELSE coalesce(p.ai_credits_per_month, 0) END AS monthly_allowance,"

static const char sql_account_lock[] =
    "SELECT a.allowance_balance, a.purchased_balance,"
    "       coalesce(to_char(a.allowance_month, 'YYYY-MM-DD'), '') AS allowance_month,"
    "       to_char(date_trunc('month', now() AT TIME ZONE o.timezone), 'YYYY-MM-DD')"
    "         AS this_month," SQL_MONTHLY_ALLOWANCE "       coalesce(p.name, '') AS plan_name"
    "  FROM credit_accounts a"
    "  JOIN organizations o ON o.id = a.organization_id"
    "  LEFT JOIN plans p ON p.id = o.plan_id"
    " WHERE a.organization_id = $1::uuid"
    "   FOR UPDATE OF a";

static const char sql_ledger_expiry[] =
    "INSERT INTO credit_ledger (organization_id, kind, delta_allowance, reason, month)"
    " VALUES ($1::uuid, 'expiry', -$2::bigint, $3, $4::date)";

/* The unique (studio, month) index makes a second grant of a month impossible, whatever
 * happened to the account row. */
static const char sql_ledger_grant[] =
    "INSERT INTO credit_ledger (organization_id, kind, delta_allowance, reason, month)"
    " VALUES ($1::uuid, 'monthly_grant', $2::bigint, $3, $4::date)"
    " ON CONFLICT (organization_id, month) WHERE kind = 'monthly_grant' DO NOTHING";

/* After a roll-over the balances are re-read from the ledger, the source of truth.
 * $2: the month now granted, or NULL to leave allowance_month as it is (nothing was due:
 * the next touch looks again). */
static const char sql_account_rolled[] =
    "UPDATE credit_accounts a"
    "   SET allowance_month = coalesce($2::date, a.allowance_month), updated_at = now(),"
    "       allowance_balance = (SELECT coalesce(sum(delta_allowance), 0) FROM credit_ledger"
    "                             WHERE organization_id = $1::uuid),"
    "       purchased_balance = (SELECT coalesce(sum(delta_purchased), 0) FROM credit_ledger"
    "                             WHERE organization_id = $1::uuid)"
    " WHERE a.organization_id = $1::uuid"
    " RETURNING allowance_balance, purchased_balance";

/* Locks org_id's account (creating it), granting this month's allowance first if it is
 * the month's first touch. m must be in a transaction. CREDITS_NOT_FOUND for no such
 * (provisioned) studio. */
static int account_lock(struct db_conn *m, const char *org_id, struct account *acc)
{
    const char *p[] = {org_id};
    if (db_run(m, sql_account_ensure, 1, p) != 0)
        return CREDITS_DB;
    PGresult *r = db_exec(m, sql_account_lock, 1, p, NULL);
    if (!r)
        return CREDITS_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CREDITS_NOT_FOUND;
    }
    acc->allowance = get_i64(r, 0, "allowance_balance");
    acc->purchased = get_i64(r, 0, "purchased_balance");
    acc->monthly_allowance = get_i64(r, 0, "monthly_allowance");
    snprintf(acc->month, sizeof(acc->month), "%s", db_get(r, 0, "this_month"));
    char old_month[11], plan[64];
    snprintf(old_month, sizeof(old_month), "%s", db_get(r, 0, "allowance_month"));
    snprintf(plan, sizeof(plan), "%s", db_get(r, 0, "plan_name"));
    PQclear(r);
    /* Text dates YYYY-MM-DD compare like dates. A month behind the stored one (the
     * studio moved west across a month boundary) is left alone. */
    if (old_month[0] && strcmp(old_month, acc->month) >= 0)
        return CREDITS_OK;

    char n[24], reason[128];
    if (old_month[0] && acc->allowance > 0) {
        i64_str(n, acc->allowance);
        snprintf(reason, sizeof(reason), "Unused monthly allowance of %.7s expired", old_month);
        const char *ep[] = {org_id, n, reason, old_month};
        if (db_run(m, sql_ledger_expiry, 4, ep) != 0)
            return CREDITS_DB;
    }
    if (acc->monthly_allowance > 0) {
        i64_str(n, acc->monthly_allowance);
        snprintf(reason, sizeof(reason), "Monthly allowance for %.7s (%s plan)", acc->month,
                 plan[0] ? plan : "no");
        const char *gp[] = {org_id, n, reason, acc->month};
        if (db_run(m, sql_ledger_grant, 4, gp) != 0)
            return CREDITS_DB;
    }
    const char *up[] = {org_id, acc->monthly_allowance > 0 ? acc->month : NULL};
    r = db_exec(m, sql_account_rolled, 2, up, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return CREDITS_DB;
    }
    acc->allowance = get_i64(r, 0, "allowance_balance");
    acc->purchased = get_i64(r, 0, "purchased_balance");
    PQclear(r);
    return CREDITS_OK;
}

/* ---- spending -------------------------------------------------------------------------- */

static const char sql_ledger_spend[] =
    "INSERT INTO credit_ledger (organization_id, kind, delta_allowance, delta_purchased,"
    "                           reason, month)"
    " VALUES ($1::uuid, 'spend', -$2::bigint, -$3::bigint, $4, $5::date)";

static const char sql_account_spend[] =
    "UPDATE credit_accounts"
    "   SET allowance_balance = allowance_balance - $2::bigint,"
    "       purchased_balance = purchased_balance - $3::bigint, updated_at = now()"
    " WHERE organization_id = $1::uuid"
    " RETURNING allowance_balance + purchased_balance AS balance";

static bool valid_reason(const char *reason)
{
    size_t len = reason ? strlen(reason) : 0;
    if (len == 0 || len > REASON_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)reason[i]))
            return true;
    return false;
}

int credits_spend(struct db_conn *m, const char *org_id, int64_t n, const char *reason,
                  int64_t *balance_after)
{
    if (n <= 0 || n > SPEND_MAX || !valid_reason(reason))
        return CREDITS_INVALID;
    if (!credits_valid_uuid(org_id))
        return CREDITS_NOT_FOUND;
    if (db_begin(m) != 0)
        return CREDITS_DB;
    struct account acc;
    int rc = account_lock(m, org_id, &acc);
    if (rc == CREDITS_OK) {
        int64_t from_allowance = n < acc.allowance ? n : acc.allowance;
        int64_t from_purchased = n - from_allowance;
        if (from_purchased > acc.purchased) {
            /* Nothing spent; a month roll-over made on the way is kept (it is due). */
            rc = CREDITS_INSUFFICIENT;
            if (balance_after)
                *balance_after = acc.allowance + acc.purchased;
        } else {
            char a[24], p[24];
            i64_str(a, from_allowance);
            i64_str(p, from_purchased);
            const char *lp[] = {org_id, a, p, reason, acc.month};
            const char *ap[] = {org_id, a, p};
            PGresult *r = NULL;
            if (db_run(m, sql_ledger_spend, 5, lp) != 0 ||
                !(r = db_exec(m, sql_account_spend, 3, ap, NULL)) || PQntuples(r) != 1)
                rc = CREDITS_DB;
            else if (balance_after)
                *balance_after = get_i64(r, 0, "balance");
            PQclear(r);
        }
    }
    if ((rc == CREDITS_OK || rc == CREDITS_INSUFFICIENT) && db_commit(m) != 0)
        rc = CREDITS_DB;
    if (rc != CREDITS_OK && rc != CREDITS_INSUFFICIENT)
        db_rollback(m);
    return rc;
}

/* ---- purchases credited by the webhook ------------------------------------------------- */

static const char sql_pack[] =
    "SELECT credits, amount, lower(currency) AS currency, name FROM credit_packs WHERE id = $1";

/* DO NOTHING on a session granted already: the webhook's replay, or a second event type
 * for the same payment. */
static const char sql_ledger_purchase[] =
    "INSERT INTO credit_ledger (organization_id, kind, delta_purchased, reason, month,"
    "                           checkout_session_id, pack_id, amount, currency,"
    "                           payment_intent_id)"
    " VALUES ($1::uuid, 'purchase', $2::bigint, $3, $4::date, $5, $6, $7::bigint, upper($8),"
    "         $9)"
    " ON CONFLICT (checkout_session_id) DO NOTHING"
    " RETURNING id";

static const char sql_account_purchase[] =
    "UPDATE credit_accounts"
    "   SET purchased_balance = purchased_balance + $2::bigint, updated_at = now()"
    " WHERE organization_id = $1::uuid";

int credits_apply_checkout(struct arena *a, struct db_conn *m, json_t *session)
{
    (void)a;
    json_t *meta = json_object_get(session, "metadata");
    const char *kind = json_string_value(json_object_get(meta, "kind"));
    const char *org = json_string_value(json_object_get(meta, "organization_id"));
    const char *pack_id = json_string_value(json_object_get(meta, "pack_id"));
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *currency = json_string_value(json_object_get(session, "currency"));
    const char *pstatus = json_string_value(json_object_get(session, "payment_status"));
    json_t *total = json_object_get(session, "amount_total");
    /* What a retry cannot fix is logged and answered 0, so Stripe stops resending. */
    if (!kind || strcmp(kind, KIND_CREDITS) != 0 || !sid || !*sid || !pack_id ||
        !credits_valid_uuid(org) || !currency || !json_is_integer(total)) {
        log_msg(LOG_WARN, "credits: session %s is not a credits purchase of ours, ignored",
                sid ? sid : "?");
        return CREDITS_OK;
    }
    if (!pstatus || strcmp(pstatus, "paid") != 0) {
        log_msg(LOG_INFO, "credits: session %s completed unpaid (%s), nothing granted", sid,
                pstatus ? pstatus : "?");
        return CREDITS_OK;
    }
    const char *pp[] = {pack_id};
    PGresult *r = db_exec(m, sql_pack, 1, pp, NULL);
    if (!r)
        return CREDITS_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        log_msg(LOG_WARN, "credits: session %s names unknown pack %s, nothing granted", sid,
                pack_id);
        return CREDITS_OK;
    }
    int64_t credits = get_i64(r, 0, "credits");
    int64_t amount = get_i64(r, 0, "amount");
    char pack_currency[4], pack_name[128];
    snprintf(pack_currency, sizeof(pack_currency), "%s", db_get(r, 0, "currency"));
    snprintf(pack_name, sizeof(pack_name), "%s", db_get(r, 0, "name"));
    PQclear(r);
    if ((int64_t)json_integer_value(total) != amount || strcasecmp(currency, pack_currency) != 0) {
        log_msg(LOG_WARN,
                "credits: session %s paid %" JSON_INTEGER_FORMAT " %s for pack %s "
                "(%" PRId64 " %s): nothing granted",
                sid, json_integer_value(total), currency, pack_id, amount, pack_currency);
        return CREDITS_OK;
    }

    if (db_begin(m) != 0)
        return CREDITS_DB;
    struct account acc;
    int rc = account_lock(m, org, &acc);
    if (rc == CREDITS_OK) {
        char c[24], amt[24], reason[160];
        i64_str(c, credits);
        i64_str(amt, amount);
        snprintf(reason, sizeof(reason), "Bought %s", pack_name);
        const char *lp[] = {
            org,       c,        reason,
            acc.month, sid,      pack_id,
            amt,       currency, json_string_value(json_object_get(session, "payment_intent"))};
        r = db_exec(m, sql_ledger_purchase, 9, lp, NULL);
        if (!r) {
            rc = CREDITS_DB;
        } else if (PQntuples(r) == 1) {
            const char *ap[] = {org, c};
            if (db_run(m, sql_account_purchase, 2, ap) != 0)
                rc = CREDITS_DB;
            else
                log_msg(LOG_INFO, "credits: %s granted %" PRId64 " credits (session %s)", org,
                        credits, sid);
        } else {
            log_msg(LOG_INFO, "credits: session %s granted already", sid);
        }
        PQclear(r);
    }
    if (rc == CREDITS_NOT_FOUND) {
        db_rollback(m);
        log_msg(LOG_WARN, "credits: session %s names unknown studio %s, nothing granted", sid, org);
        return CREDITS_OK;
    }
    if (rc != CREDITS_OK || db_commit(m) != 0) {
        db_rollback(m);
        return CREDITS_DB;
    }
    return CREDITS_OK;
}

/* ---- money given back: refunds and disputes ----------------------------------------------- */

static const char sql_purchase_of_intent[] =
    "SELECT organization_id, delta_purchased AS credits, amount, pack_id,"
    "       coalesce((SELECT -sum(x.delta_purchased) FROM credit_ledger x"
    "                  WHERE x.kind = 'refund' AND x.payment_intent_id = $1), 0) AS taken"
    "  FROM credit_ledger WHERE kind = 'purchase' AND payment_intent_id = $1";

static const char sql_ledger_refund[] =
    "INSERT INTO credit_ledger (organization_id, kind, delta_purchased, reason, month,"
    "                           payment_intent_id, pack_id)"
    " VALUES ($1::uuid, 'refund', -$2::bigint, $3, $4::date, $5, $6)";

static const char sql_account_refund[] =
    "UPDATE credit_accounts"
    "   SET purchased_balance = purchased_balance - $2::bigint, updated_at = now()"
    " WHERE organization_id = $1::uuid";

int credits_apply_refund(struct db_conn *m, const char *payment_intent, int64_t refunded,
                         const char *why)
{
    if (!payment_intent || !*payment_intent || refunded < 0 || !valid_reason(why))
        return CREDITS_INVALID;
    if (db_begin(m) != 0)
        return CREDITS_DB;
    const char *p[] = {payment_intent};
    PGresult *r = db_exec(m, sql_purchase_of_intent, 1, p, NULL);
    if (!r) {
        db_rollback(m);
        return CREDITS_DB;
    }
    if (PQntuples(r) != 1) { /* not a credits purchase: another module's money */
        PQclear(r);
        db_rollback(m);
        return CREDITS_OK;
    }
    char org[40], pack[40];
    snprintf(org, sizeof(org), "%s", db_get(r, 0, "organization_id"));
    snprintf(pack, sizeof(pack), "%s", db_get(r, 0, "pack_id"));
    int64_t credits = get_i64(r, 0, "credits"), amount = get_i64(r, 0, "amount");
    int64_t taken = get_i64(r, 0, "taken");
    PQclear(r);
    /* The credits that money stood for (pro rata, half-even), less what was taken back for
     * this payment before: a repeated or older event takes nothing more. */
    if (refunded > amount)
        refunded = amount;
    int64_t due = amount > 0 ? money_scale(credits, refunded, amount) - taken : 0;
    struct account acc;
    int rc = account_lock(m, org, &acc);
    int64_t take = due < acc.purchased ? due : acc.purchased;
    if (rc == CREDITS_OK && take > 0) {
        char t[24], reason[200];
        i64_str(t, take);
        if (take < due)
            snprintf(reason, sizeof(reason),
                     "%s: %" PRId64 " credits taken back (%" PRId64 " were spent already)", why,
                     take, due - take);
        else
            snprintf(reason, sizeof(reason), "%s: %" PRId64 " credits taken back", why, take);
        const char *lp[] = {org, t, reason, acc.month, payment_intent, pack};
        const char *ap[] = {org, t};
        if (db_run(m, sql_ledger_refund, 6, lp) != 0 || db_run(m, sql_account_refund, 2, ap) != 0)
            rc = CREDITS_DB;
        else
            log_msg(LOG_INFO, "credits: %s lost %" PRId64 " credits (%s, %s)", org, take, why,
                    payment_intent);
    }
    if (rc != CREDITS_OK || db_commit(m) != 0) {
        db_rollback(m);
        return CREDITS_DB;
    }
    return CREDITS_OK;
}

/* ---- reading --------------------------------------------------------------------------- */

/* The account as it is, without locking: "stale" when this month's allowance is not
 * granted yet (or there is no account), which makes the caller take the locked path. */
static const char sql_account_peek[] =
    "SELECT a.allowance_balance, a.purchased_balance,"
    "       to_char(date_trunc('month', now() AT TIME ZONE o.timezone), 'YYYY-MM-DD')"
    "         AS this_month," SQL_MONTHLY_ALLOWANCE
    "       (a.organization_id IS NULL OR a.allowance_month IS NULL"
    "        OR a.allowance_month < date_trunc('month', now() AT TIME ZONE o.timezone)::date)"
    "         AS stale"
    "  FROM organizations o"
    "  LEFT JOIN credit_accounts a ON a.organization_id = o.id"
    "  LEFT JOIN plans p ON p.id = o.plan_id"
    " WHERE o.id = $1::uuid AND o.status <> 'provisioning'";

/* Brings org_id's account to this month (granting the allowance on the month's first
 * touch) and reads it into *acc. m: not in a transaction. */
static int account_current(struct db_conn *m, const char *org_id, struct account *acc)
{
    if (!credits_valid_uuid(org_id))
        return CREDITS_NOT_FOUND;
    const char *p[] = {org_id};
    PGresult *r = db_exec(m, sql_account_peek, 1, p, NULL);
    if (!r)
        return CREDITS_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CREDITS_NOT_FOUND;
    }
    bool stale = strcmp(db_get(r, 0, "stale"), "t") == 0;
    acc->allowance = get_i64(r, 0, "allowance_balance");
    acc->purchased = get_i64(r, 0, "purchased_balance");
    acc->monthly_allowance = get_i64(r, 0, "monthly_allowance");
    snprintf(acc->month, sizeof(acc->month), "%s", db_get(r, 0, "this_month"));
    PQclear(r);
    if (!stale)
        return CREDITS_OK;
    if (db_begin(m) != 0)
        return CREDITS_DB;
    int rc = account_lock(m, org_id, acc);
    if (rc != CREDITS_OK || db_commit(m) != 0) {
        db_rollback(m);
        return rc != CREDITS_OK ? rc : CREDITS_DB;
    }
    return CREDITS_OK;
}

static const char sql_used_this_month[] =
    "SELECT coalesce(-sum(delta), 0) AS used FROM credit_ledger"
    " WHERE organization_id = $1::uuid AND kind = 'spend' AND month = $2::date";

/* The first instant of the month after month (YYYY-MM-01) in the studio's zone, when
 * this month's allowance expires. */
static const char sql_expires[] =
    "SELECT to_char((($2::date + interval '1 month')::timestamp AT TIME ZONE o.timezone)"
    "               AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at"
    "  FROM organizations o WHERE o.id = $1::uuid";

int credits_summary(struct db_conn *m, const char *org_id, json_t **out)
{
    struct account acc;
    int rc = account_current(m, org_id, &acc);
    if (rc != CREDITS_OK)
        return rc;
    const char *p[] = {org_id, acc.month};
    PGresult *u = db_exec(m, sql_used_this_month, 2, p, NULL);
    PGresult *e = u ? db_exec(m, sql_expires, 2, p, NULL) : NULL;
    if (!u || !e || PQntuples(e) != 1) {
        PQclear(u);
        PQclear(e);
        return CREDITS_DB;
    }
    *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s#, s:s}", "balance",
                     (json_int_t)(acc.allowance + acc.purchased), "allowance_balance",
                     (json_int_t)acc.allowance, "purchased_balance", (json_int_t)acc.purchased,
                     "monthly_allowance", (json_int_t)acc.monthly_allowance, "used_this_month",
                     (json_int_t)get_i64(u, 0, "used"), "month", acc.month, (int)7,
                     "allowance_expires_at", db_get(e, 0, "at"));
    PQclear(u);
    PQclear(e);
    return *out ? CREDITS_OK : CREDITS_DB;
}

static const char sql_packs[] =
    "SELECT id, name, credits, amount, currency FROM credit_packs WHERE active"
    " ORDER BY position, id";

int credits_packs(struct db_conn *m, json_t **out)
{
    PGresult *r = db_exec(m, sql_packs, 0, NULL, NULL);
    if (!r)
        return CREDITS_DB;
    json_t *packs = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(packs, json_pack("{s:s, s:s, s:I, s:I, s:s}", "id",
                                               db_get(r, i, "id"), "name", db_get(r, i, "name"),
                                               "credits", (json_int_t)get_i64(r, i, "credits"),
                                               "amount", (json_int_t)get_i64(r, i, "amount"),
                                               "currency", db_get(r, i, "currency")));
    PQclear(r);
    *out = json_pack("{s:o}", "packs", packs);
    return CREDITS_OK;
}

static const char sql_history_count[] =
    "SELECT count(*) AS n FROM credit_ledger WHERE organization_id = $1::uuid";

static const char sql_history[] =
    "SELECT id, kind, delta, delta_allowance, delta_purchased, reason,"
    "       to_char(month, 'YYYY-MM') AS month, pack_id, amount, currency,"
    "       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at"
    "  FROM credit_ledger WHERE organization_id = $1::uuid"
    " ORDER BY id DESC LIMIT $2::int OFFSET $3::bigint";

int credits_history(struct db_conn *m, const char *org_id, long limit, long offset, json_t **out)
{
    if (limit < 1 || limit > CREDITS_HISTORY_MAX_LIMIT || offset < 0)
        return CREDITS_INVALID;
    struct account acc;
    int rc = account_current(m, org_id, &acc); /* the month's grant shows in the history */
    if (rc != CREDITS_OK)
        return rc;
    char l[24], o[24];
    i64_str(l, limit);
    i64_str(o, offset);
    const char *cp[] = {org_id};
    const char *hp[] = {org_id, l, o};
    PGresult *c = db_exec(m, sql_history_count, 1, cp, NULL);
    PGresult *r = c ? db_exec(m, sql_history, 3, hp, NULL) : NULL;
    if (!c || !r) {
        PQclear(c);
        PQclear(r);
        return CREDITS_DB;
    }
    json_t *entries = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *e = json_pack(
            "{s:I, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "id", (json_int_t)get_i64(r, i, "id"),
            "kind", db_get(r, i, "kind"), "delta", (json_int_t)get_i64(r, i, "delta"),
            "delta_allowance", (json_int_t)get_i64(r, i, "delta_allowance"), "delta_purchased",
            (json_int_t)get_i64(r, i, "delta_purchased"), "reason", db_get(r, i, "reason"), "month",
            db_get(r, i, "month"), "created_at", db_get(r, i, "at"));
        if (db_get(r, i, "pack_id")) {
            json_object_set_new(e, "pack_id", json_string(db_get(r, i, "pack_id")));
            json_object_set_new(e, "amount", json_integer(get_i64(r, i, "amount")));
            json_object_set_new(e, "currency", json_string(db_get(r, i, "currency")));
        }
        json_array_append_new(entries, e);
    }
    *out = json_pack("{s:o, s:I, s:i, s:I}", "entries", entries, "total",
                     (json_int_t)get_i64(c, 0, "n"), "limit", (int)limit, "offset",
                     (json_int_t)offset);
    PQclear(c);
    PQclear(r);
    return CREDITS_OK;
}

/* ---- buying a pack --------------------------------------------------------------------- */

static const char sql_pack_active[] =
    "SELECT id, name, credits, amount, lower(currency) AS currency FROM credit_packs"
    " WHERE id = $1 AND active";

static const char sql_org_customer[] =
    "SELECT owner_email, stripe_customer_id FROM organizations WHERE id = $1::uuid";

/* A caller's Idempotency-Key as we accept it into ours: Stripe's keys are ≤ 255
 * characters; ours adds a prefix, so the caller's part is kept short and plain. */
static bool valid_client_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > CREDITS_IDEMPOTENCY_KEY_MAX)
        return false;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '-' && *k != '_' && *k != '.' && *k != ':')
            return false;
    return true;
}

int credits_purchase(struct arena *a, struct db_conn *m, struct db_conn *t, struct request *req,
                     const char *org_id, const char *pack_id, const char *client_key,
                     const char *return_url, json_t **out)
{
    if (!pack_id || !*pack_id || strlen(pack_id) > 64)
        return CREDITS_INVALID;
    if (client_key && !valid_client_key(client_key))
        return CREDITS_BAD_KEY;
    const char *pp[] = {pack_id};
    PGresult *r = db_exec(m, sql_pack_active, 1, pp, NULL);
    if (!r)
        return CREDITS_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CREDITS_INVALID;
    }
    const char *name = db_get_dup(a, r, 0, "name");
    const char *credits = db_get_dup(a, r, 0, "credits");
    const char *amount = db_get_dup(a, r, 0, "amount");
    const char *currency = db_get_dup(a, r, 0, "currency");
    PQclear(r);
    const char *op[] = {org_id};
    r = db_exec(m, sql_org_customer, 1, op, NULL);
    if (!r)
        return CREDITS_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CREDITS_NOT_FOUND;
    }
    const char *email = db_get_dup(a, r, 0, "owner_email");
    const char *customer = db_get_dup(a, r, 0, "stripe_customer_id");
    PQclear(r);

    /* On the platform's own account (no Stripe-Account): the platform sells credits. */
    struct stripe_param params[] = {
        {"mode", "payment"},
        {"line_items[0][price_data][currency]", currency},
        {"line_items[0][price_data][unit_amount]", amount},
        {"line_items[0][price_data][product_data][name]", name},
        {"line_items[0][quantity]", "1"},
        {"success_url", arena_printf(a, "%s?purchase=success", return_url)},
        {"cancel_url", arena_printf(a, "%s?purchase=cancelled", return_url)},
        {"client_reference_id", org_id},
        {"metadata[kind]", KIND_CREDITS},
        {"metadata[organization_id]", org_id},
        {"metadata[pack_id]", pack_id},
        {"metadata[credits]", credits},
        {"payment_intent_data[metadata][kind]", KIND_CREDITS},
        {"payment_intent_data[metadata][organization_id]", org_id},
        {"payment_intent_data[metadata][pack_id]", pack_id},
        {customer ? "customer" : "customer_email", customer ? customer : email},
    };
    /* A retried request (same caller key) gets the same session back from Stripe; without
     * a key every request is a new session (an unpaid one is harmless: it expires). */
    char nonce[33];
    if (!client_key) {
        unsigned char raw[16];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(nonce, sizeof(nonce), raw, sizeof(raw));
        client_key = nonce;
    }
    const char *key = arena_printf(a, "credits-%s-%s-%s", org_id, pack_id, client_key);
    json_t *session = NULL;
    struct stripe_error serr;
    int src = stripe_request(a, "POST", "/v1/checkout/sessions", params,
                             sizeof(params) / sizeof(params[0]), key, NULL, &session, &serr);
    if (src != STRIPE_OK) {
        log_msg(LOG_WARN, "credits: checkout session for %s/%s: %d %ld %s: %s", org_id, pack_id,
                src, serr.http_status, serr.type, serr.message);
        if (src == STRIPE_ERR_NOT_CONFIGURED)
            return CREDITS_UNAVAILABLE;
        return src == STRIPE_ERR_NETWORK ? CREDITS_STRIPE_DOWN : CREDITS_STRIPE;
    }
    const char *sid = json_string_value(json_object_get(session, "id"));
    const char *url = json_string_value(json_object_get(session, "url"));
    if (!sid || !url) {
        log_msg(LOG_WARN, "credits: checkout session for %s/%s without id or url", org_id, pack_id);
        json_decref(session);
        return CREDITS_STRIPE;
    }
    /* Who started paying, in the studio's own log. Nothing else is recorded until the
     * money arrives (the webhook writes the ledger). */
    json_t *after = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "pack_id", pack_id, "pack", name,
                              "credits", (json_int_t)strtoll(credits, NULL, 10), "amount",
                              (json_int_t)strtoll(amount, NULL, 10), "currency", currency,
                              "checkout_session_id", sid);
    int arc = audit_record(t, req, CREDITS_AUDIT_ACTION, CREDITS_AUDIT_RESOURCE, sid, NULL, after);
    json_decref(after);
    if (arc != AUDIT_OK) {
        json_decref(session);
        return CREDITS_DB;
    }
    *out = json_pack("{s:s, s:s}", "checkout_url", url, "session_id", sid);
    json_decref(session);
    return *out ? CREDITS_OK : CREDITS_DB;
}
