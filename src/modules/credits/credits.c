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

#include "studiod/db.h"
#include "studiod/log.h"

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
static int64_t get_i64(PGresult *r, int row, const char *col);
static void i64_str(char buf[24], int64_t v);

bool credits_valid_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
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

static const char sql_account_lock[] =
    "SELECT a.allowance_balance, a.purchased_balance,"
    "       coalesce(to_char(a.allowance_month, 'YYYY-MM-DD'), '') AS allowance_month,"
    "       to_char(date_trunc('month', now() AT TIME ZONE o.timezone), 'YYYY-MM-DD')"
    "         AS this_month,"
    "       coalesce(p.ai_credits_per_month, 0) AS monthly_allowance,"
    "       coalesce(p.name, '') AS plan_name"
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

/* After a roll-over the balances are re-read from the ledger, the source of truth. */
static const char sql_account_rolled[] =
    "UPDATE credit_accounts a"
    "   SET allowance_month = $2::date, updated_at = now(),"
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
    const char *up[] = {org_id, acc->month};
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
    "                           checkout_session_id, pack_id, amount, currency)"
    " VALUES ($1::uuid, 'purchase', $2::bigint, $3, $4::date, $5, $6, $7::bigint, upper($8))"
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
        const char *lp[] = {org, c, reason, acc.month, sid, pack_id, amt, currency};
        r = db_exec(m, sql_ledger_purchase, 8, lp, NULL);
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
