/*
 * payments_internal.h — what the payments module's files share (payments.c:
 * checkout and the webhook; connect.c: the studio's Stripe account;
 * refunds.c: refunds and the booking's money as JSON; payments_routes.c:
 * HTTP). Nothing outside src/modules/payments includes it.
 */
#ifndef STUDIOD_PAYMENTS_INTERNAL_H
#define STUDIOD_PAYMENTS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "studiod/payments.h"
#include "studiod/stripe.h"

struct db_conn;
struct tenant;

#define PAYMENTS_RESOURCE "payments"
#define REFUNDS_RESOURCE "refunds"
#define BOOKINGS_RESOURCE "bookings"
#define PAYMENTS_JOB_REFUND "payments_refund_send"
#define PAYMENTS_JOB_ATTEMPTS 8
#define PAYMENTS_REFUND_RETRY_SECONDS 60

/* A studio's Stripe standing, from the master database. */
struct payments_org {
    char account[64]; /* "" when not connected */
    bool charges_enabled, payouts_enabled, details_submitted;
    int fee_bps; /* the plan's application fee, basis points */
    char plan_id[40], plan_name[64];
    char owner_email[256];
    char updated_at[40]; /* RFC 3339 of the state's source, "" when never updated */
};

/* Loads the studio's row; PAYMENTS_OK, PAYMENTS_NOT_FOUND or PAYMENTS_DB. */
int payments_org_load(struct db_conn *m, const char *org_id, struct payments_org *o);
/* Queues one mail to the booking's customer (a master transaction of its own); subject and
 * text as given, the booking's facts appended. Logs and carries on when it cannot. */
void payments_mail_customer(struct arena *a, const struct tenant *tn, struct db_conn *t,
                            struct db_conn *m, const char *booking_id, const char *subject,
                            const char *text);
/* Sends the booking's pending refunds to Stripe (see refunds.c); the outcome as text:
 * "none", "succeeded", "pending" (will be retried) or "failed". m (may be NULL) is the
 * master, for alerts and the retry job, which is queued unless in_job (the job itself). */
const char *payments_refunds_send(struct arena *a, const struct tenant *tn, struct db_conn *t,
                                  struct db_conn *m, const char *booking_id, bool in_job,
                                  char *message, size_t message_len);
/* Maps a Stripe client failure to a module status: network trouble 503, a refusal 502. */
int payments_stripe_status(int stripe_rc, const struct stripe_error *err);

#endif
