/*
 * stripe_events.h — Stripe webhook event ids already handled, in the master
 * database (stripe_events, migrations/master/0005), shared by every webhook
 * endpoint (payments, billing): an event is handled, then its id recorded,
 * and a delivery whose id is recorded already is answered without work. A
 * failure in between leaves the id unrecorded, so Stripe's retry handles
 * the event again: handlers must be idempotent by themselves too.
 */
#ifndef STUDIOD_STRIPE_EVENTS_H
#define STUDIOD_STRIPE_EVENTS_H

#include <stdbool.h>

struct db_conn;

/* *seen = whether event id was recorded. 0, or -1 on a database error. */
int stripe_event_seen(struct db_conn *m, const char *id, bool *seen);
/* Records event id (of type, for Connect account or NULL) once. 0, or -1. */
int stripe_event_record(struct db_conn *m, const char *id, const char *type, const char *account);

#endif
