/*
 * query.c — the only way modules talk SQL: PQexecParams with text
 * parameters, errors logged (never shown to clients), and a connection
 * that failed at the connection level marked broken so its pool drops it.
 */
#include <stdio.h>
#include <string.h>

#include "studiod/db.h"
#include "studiod/log.h"

static _Thread_local char last_sqlstate[6];

PGresult *db_exec(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                  const char **sqlstate)
{
    PGresult *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state ? state : "");
    if (sqlstate)
        *sqlstate = last_sqlstate;
    if (PQstatus(c->pg) != CONNECTION_OK || !state)
        c->broken = true;
    /* Expected conflicts are the caller's business; anything else is logged. */
    if (!state || (strcmp(state, SQLSTATE_UNIQUE_VIOLATION) != 0 &&
                   strcmp(state, SQLSTATE_EXCLUSION_VIOLATION) != 0)) {
        const char *msg = PQerrorMessage(c->pg);
        log_json(LOG_ERROR, json_pack("{s:s, s:s, s:s}", "msg", "sql error", "sqlstate",
                                      last_sqlstate, "error", msg ? msg : ""));
    }
    PQclear(res);
    return NULL;
}

int db_run(struct db_conn *c, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = db_exec(c, sql, nparams, params, NULL);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int db_begin(struct db_conn *c)
{
    return db_run(c, "BEGIN", 0, NULL);
}

int db_commit(struct db_conn *c)
{
    return db_run(c, "COMMIT", 0, NULL);
}

void db_rollback(struct db_conn *c)
{
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        (void)db_run(c, "ROLLBACK", 0, NULL);
}

const char *db_get(PGresult *res, int row, const char *col)
{
    int f = PQfnumber(res, col);
    if (f < 0 || row >= PQntuples(res) || PQgetisnull(res, row, f))
        return NULL;
    return PQgetvalue(res, row, f);
}

char *db_get_dup(struct arena *a, PGresult *res, int row, const char *col)
{
    return arena_strdup(a, db_get(res, row, col));
}
