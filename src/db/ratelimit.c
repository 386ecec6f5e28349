/*
 * ratelimit.c — sliding-window limits kept in PostgreSQL (rate_events).
 *
 * Count and insert happen in one statement, serialised per key by an
 * advisory transaction lock, so concurrent requests cannot all slip under
 * the limit. Old rows are pruned for the key as it is used.
 */
#include "studiod/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>

#include "studiod/db.h"

static const char sql_hit[] =
    "WITH lock AS (SELECT pg_advisory_xact_lock(hashtext($1))),"
    " pruned AS (DELETE FROM rate_events WHERE key = $1"
    "              AND at < now() - make_interval(secs => $3) AND (SELECT true FROM lock)),"
    " recent AS (SELECT count(*) AS n, min(at) AS oldest FROM rate_events"
    "             WHERE key = $1 AND at >= now() - make_interval(secs => $3)"
    "               AND (SELECT true FROM lock)),"
    " ins AS (INSERT INTO rate_events (key) SELECT $1 FROM recent WHERE n < $2 RETURNING 1)"
    " SELECT n >= $2 AS limited,"
    "        greatest(1, ceil(extract(epoch FROM oldest + make_interval(secs => $3) - now())))::int"
    "          AS retry_after"
    "   FROM recent";

int ratelimit_hit(struct db_conn *master, const char *key, int limit, int window_seconds,
                  int *retry_after)
{
    char lim[16], win[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(win, sizeof(win), "%d", window_seconds);
    const char *p[] = {key, lim, win};
    PGresult *r = db_exec(master, sql_hit, 3, p, NULL);
    if (!r)
        return -1;
    int limited = db_get(r, 0, "limited")[0] == 't';
    const char *ra = db_get(r, 0, "retry_after");
    if (retry_after)
        *retry_after = ra ? atoi(ra) : window_seconds;
    PQclear(r);
    return limited;
}
