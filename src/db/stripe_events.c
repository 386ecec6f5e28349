/*
 * stripe_events.c — the record of Stripe webhook events already handled
 * (see include/studiod/stripe_events.h). INSERT ... ON CONFLICT DO NOTHING:
 * two concurrent deliveries of one event both handle it (each handler is
 * idempotent) and the id is stored once.
 */
#include "studiod/stripe_events.h"

#include <libpq-fe.h>

#include "studiod/db.h"

static const char sql_event_seen[] = "SELECT 1 FROM stripe_events WHERE event_id = $1";

static const char sql_event_record[] =
    "INSERT INTO stripe_events (event_id, type, account) VALUES ($1, $2, $3)"
    " ON CONFLICT (event_id) DO NOTHING";

int stripe_event_seen(struct db_conn *m, const char *id, bool *seen)
{
    const char *p[] = {id};
    PGresult *r = db_exec(m, sql_event_seen, 1, p, NULL);
    if (!r)
        return -1;
    *seen = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

int stripe_event_record(struct db_conn *m, const char *id, const char *type, const char *account)
{
    const char *p[] = {id, type, account};
    return db_run(m, sql_event_record, 3, p) == 0 ? 0 : -1;
}
