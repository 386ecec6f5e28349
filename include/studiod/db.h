/*
 * db.h — PostgreSQL connection pools and the query helpers every module uses.
 *
 * Pools are per database (keyed by server + name), bounded per database and
 * in total. A checkout health-checks the connection (a dead one is replaced),
 * waits a bounded time when the pool is full, and fails rather than queue
 * forever: callers answer 503 database_unavailable. Idle connections are
 * closed least-recently-used first, when the total is reached or after
 * STUDIOD_POOL_IDLE_SECONDS.
 *
 * Every value goes to PostgreSQL as a parameter; SQL text is always a
 * constant. db_exec prepares each distinct statement once per connection and
 * then runs it with PQexecPrepared (a departure from DESIGN.md's
 * "PQexecParams only", made for speed and keeping its point: values are
 * still never spliced into SQL). Parsing and planning the session lookup
 * cost 4/5 of its time when re-done on every request.
 */
#ifndef STUDIOD_DB_H
#define STUDIOD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "studiod/arena.h"

struct db_conn {
    PGconn *pg;
    struct db_pool *pool; /* owner */
    bool broken;          /* set by db_* on a connection-level error; release then closes it */
    double last_used;
    struct db_conn *next;
    struct db_stmt *stmts; /* statements prepared on this connection (query.c) */
    int nstmts;
};

struct db_pool_stats {
    int in_use, idle, waiting, pools;
    long long opened, closed, timeouts;
};

/* Starts the pool manager with the master database URL. */
int db_init(const char *master_url, int per_db, int total, int wait_ms, int idle_seconds);
/* Closes every connection. */
void db_shutdown(void);

/* A connection to database dbname on server (a libpq URL or conninfo; NULL = the master's
 * server). dbname NULL = the master database. NULL when none can be had in time. */
struct db_conn *db_acquire(const char *server, const char *dbname);
struct db_conn *db_acquire_master(void);
/* Returns c to its pool (closing it when broken or in a transaction). NULL is fine. */
void db_release(struct db_conn *c);
/* Opens a fresh connection outside any pool (migrations, CREATE DATABASE). */
PGconn *db_connect_direct(const char *server, const char *dbname);
/* Closes idle pooled connections to dbname (before DROP DATABASE or a template clone). */
void db_forget(const char *server, const char *dbname);
void db_stats(struct db_pool_stats *out);

/* Runs sql with nparams text parameters (NULL = SQL NULL). Returns the result when
 * it succeeded (PGRES_TUPLES_OK or COMMAND_OK), else NULL after logging; the caller
 * PQclear()s the result. On failure *sqlstate (if given) gets the SQLSTATE
 * (static storage, "" when the connection itself failed). */
PGresult *db_exec(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                  const char **sqlstate);
/* Frees what query.c keeps per connection (called when a connection is closed). */
void db_conn_free_statements(struct db_conn *c);
/* One statement of db_pipeline, with its parameters as for db_exec; result: what it gave
 * when it succeeded (the caller PQclear()s it), else NULL. */
struct db_call {
    const char *sql;
    int nparams;
    const char *const *params;
    PGresult *result;
};
/* Runs calls[0..n) in one round trip (libpq pipeline mode), each prepared on c the first
 * time as db_exec does. 0 when every one succeeded; -1 otherwise, every result NULL and
 * the first failure's SQLSTATE in *sqlstate (if given): after a failure the server skips
 * the rest, so use it for statements that stand or fall together, inside an explicit
 * transaction (which the failure aborts). */
int db_pipeline(struct db_conn *c, struct db_call *calls, int n, const char **sqlstate);
/* Like db_exec for statements whose result is not needed: 0 or -1. */
int db_run(struct db_conn *c, const char *sql, int nparams, const char *const *params);
/* What db_begin and db_commit send (one prepared statement each per connection): for
 * db_pipeline calls that open or end a transaction. */
extern const char db_sql_begin[], db_sql_commit[];
int db_begin(struct db_conn *c);
int db_commit(struct db_conn *c);
void db_rollback(struct db_conn *c);

/* Convenience: value of row r, column name; NULL for SQL NULL. */
const char *db_get(PGresult *res, int row, const char *col);
/* The same, copied into the arena. */
char *db_get_dup(struct arena *a, PGresult *res, int row, const char *col);

#define SQLSTATE_UNIQUE_VIOLATION "23505"
#define SQLSTATE_EXCLUSION_VIOLATION "23P01"
#define SQLSTATE_DEADLOCK "40P01"

#endif
