/*
 * query.c — the only way modules talk SQL: text parameters, errors logged
 * (never shown to clients), and a connection that failed at the connection
 * level marked broken so its pool drops it.
 *
 * Statements are prepared once per connection (named "s1", "s2", ... on
 * that connection) and executed with PQexecPrepared afterwards. The cache is
 * keyed by the SQL text's address, confirmed by comparing the text, so a
 * string built at run time can never be mistaken for another. Past
 * MAX_PREPARED statements a connection falls back to PQexecParams.
 * PgBouncer in transaction mode needs max_prepared_statements (1.21+) for
 * this; in session mode it just works.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/db.h"
#include "studiod/log.h"

#define MAX_PREPARED 128

struct db_stmt {
    const char *key; /* the caller's pointer */
    char *sql;       /* a copy, to confirm */
};

static _Thread_local char last_sqlstate[6];

static PGresult *exec_prepared(struct db_conn *c, const char *sql, int nparams,
                               const char *const *params);

void db_conn_free_statements(struct db_conn *c)
{
    for (int i = 0; i < c->nstmts; i++)
        free(c->stmts[i].sql);
    free(c->stmts);
    c->stmts = NULL;
    c->nstmts = 0;
}

/* The name sql is prepared under on c ("s<N>"), preparing it the first time it is seen.
 * 1 with the name in name; 0 when it cannot be kept (cache full, no memory): run it
 * unprepared; -1 when PREPARE failed, with its result in *err. */
static int stmt_name(struct db_conn *c, const char *sql, int nparams, char name[16], PGresult **err)
{
    for (int i = 0; i < c->nstmts; i++)
        if (c->stmts[i].key == sql && strcmp(c->stmts[i].sql, sql) == 0) {
            snprintf(name, 16, "s%d", i + 1);
            return 1;
        }
    if (c->nstmts >= MAX_PREPARED)
        return 0;
    if (!c->stmts && !(c->stmts = calloc(MAX_PREPARED, sizeof(*c->stmts))))
        return 0;
    snprintf(name, 16, "s%d", c->nstmts + 1);
    PGresult *prep = PQprepare(c->pg, name, sql, nparams, NULL);
    if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
        *err = prep; /* the error (syntax, connection) is reported like any other */
        return -1;
    }
    PQclear(prep);
    char *copy = strdup(sql);
    if (!copy)
        return 0;
    c->stmts[c->nstmts].key = sql;
    c->stmts[c->nstmts].sql = copy;
    c->nstmts++;
    return 1;
}

/* Prepares sql on c the first time it is seen, then executes it by name. */
static PGresult *exec_prepared(struct db_conn *c, const char *sql, int nparams,
                               const char *const *params)
{
    char name[16];
    PGresult *err = NULL;
    int named = stmt_name(c, sql, nparams, name, &err);
    if (named < 0)
        return err;
    if (named == 0)
        return PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    return PQexecPrepared(c->pg, name, nparams, params, NULL, NULL, 0);
}

/* A failed result (or none): its SQLSTATE noted (and in *sqlstate), the connection
 * marked broken when it is the connection that failed, logged unless an expected
 * conflict; res is cleared. */
static void failed(struct db_conn *c, PGresult *res, const char **sqlstate)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state ? state : "");
    if (sqlstate)
        *sqlstate = last_sqlstate;
    if (PQstatus(c->pg) != CONNECTION_OK || !state)
        c->broken = true;
    /* Expected conflicts are the caller's business; anything else is logged. */
    if (!state || (strcmp(state, SQLSTATE_UNIQUE_VIOLATION) != 0 &&
                   strcmp(state, SQLSTATE_EXCLUSION_VIOLATION) != 0)) {
        const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
        log_json(LOG_ERROR, json_pack("{s:s, s:s, s:s}", "msg", "sql error", "sqlstate",
                                      last_sqlstate, "error", msg ? msg : ""));
    }
    PQclear(res);
}

PGresult *db_exec(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                  const char **sqlstate)
{
    PGresult *res = exec_prepared(c, sql, nparams, params);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    failed(c, res, sqlstate);
    return NULL;
}

int db_pipeline(struct db_conn *c, struct db_call *calls, int n, const char **sqlstate)
{
    char(*names)[16] = calloc((size_t)n, sizeof(*names));
    int ok = names ? 1 : 0;
    for (int i = 0; i < n; i++)
        calls[i].result = NULL;
    for (int i = 0; ok == 1 && i < n; i++) {
        PGresult *err = NULL;
        if ((ok = stmt_name(c, calls[i].sql, calls[i].nparams, names[i], &err)) < 0) {
            failed(c, err, sqlstate);
            free(names);
            return -1;
        }
    }
    if (ok != 1 || PQenterPipelineMode(c->pg) != 1) {
        /* Not all prepared (or no pipeline): one after the other. */
        free(names);
        for (int i = 0; i < n; i++)
            if (!(calls[i].result =
                      db_exec(c, calls[i].sql, calls[i].nparams, calls[i].params, sqlstate))) {
                for (int k = 0; k < i; k++) {
                    PQclear(calls[k].result);
                    calls[k].result = NULL;
                }
                return -1;
            }
        return 0;
    }
    int sent = 0;
    while (sent < n && PQsendQueryPrepared(c->pg, names[sent], calls[sent].nparams,
                                           calls[sent].params, NULL, NULL, 0) == 1)
        sent++;
    free(names);
    if (sent < n || PQpipelineSync(c->pg) != 1) {
        failed(c, NULL, sqlstate); /* a connection that cannot send: broken */
        (void)PQexitPipelineMode(c->pg);
        return -1;
    }
    int rc = 0;
    bool reported = false, lost = false;
    /* Each query's result, then NULL; at the end the sync. */
    for (int i = 0; i < n && !lost; i++) {
        PGresult *res = PQgetResult(c->pg);
        ExecStatusType st = PQresultStatus(res);
        if (res && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
            calls[i].result = res;
        } else if (res && st == PGRES_PIPELINE_ABORTED) {
            PQclear(res); /* skipped after an earlier failure */
            rc = -1;
        } else {
            lost = !res;
            if (!reported)
                failed(c, res, sqlstate);
            else
                PQclear(res);
            reported = true;
            rc = -1;
        }
        while (!lost && (res = PQgetResult(c->pg)) != NULL) /* the query's end */
            PQclear(res);
    }
    if (!lost) {
        PGresult *sync = PQgetResult(c->pg);
        if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
            c->broken = true;
        PQclear(sync);
    }
    if (PQexitPipelineMode(c->pg) != 1)
        c->broken = true;
    if (rc != 0 && !reported)
        failed(c, NULL, sqlstate);
    if (rc != 0)
        for (int i = 0; i < n; i++) {
            PQclear(calls[i].result);
            calls[i].result = NULL;
        }
    return rc;
}

int db_run(struct db_conn *c, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = db_exec(c, sql, nparams, params, NULL);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

const char db_sql_begin[] = "BEGIN";
const char db_sql_commit[] = "COMMIT";

int db_begin(struct db_conn *c)
{
    return db_run(c, db_sql_begin, 0, NULL);
}

int db_commit(struct db_conn *c)
{
    return db_run(c, db_sql_commit, 0, NULL);
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
