/*
 * combine.h — requests that want the same work done on the same key (a
 * studio) are served together: whichever of them finds nobody working on
 * the key takes every request waiting for it (up to a batch) and does the
 * work once for all on its own connection, while the others wait; then the
 * next one waiting takes the next batch. Nobody waits for a thread of its
 * own: under light load a request is its batch of one; under load the
 * batches grow by themselves with the number of requests in flight. This is
 * a database's group commit, moved into the server: one transaction, one
 * chain lock and one commit for many bookings (booking.c).
 *
 * DESIGN.md (processes "keep no state of their own"): a combiner holds only
 * requests in flight, each waiting for its own answer; nothing outlives the
 * request, and each batch's work is one transaction that commits or leaves
 * nothing (a request whose batch failed does its work alone). Each booking
 * still writes its audit entry in the transaction of its change (DESIGN.md
 * 5): the batch's.
 *
 * A combiner is a static struct with COMBINER_INIT; keys are striped over a
 * fixed table of mutexes, so it never grows; different keys are worked on
 * at the same time.
 */
#ifndef STUDIOD_COMBINE_H
#define STUDIOD_COMBINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define COMBINE_STRIPES 16
#define COMBINE_MAX_BATCH 64

struct combine_item {
    const char *key; /* what may be combined: the same key (borrowed) */
    void *arg;       /* the work's own (the caller's) */
    int rc;          /* set by the work */
    /* combine.c's */
    bool taken, done;
    pthread_cond_t cv; /* its owner waits on it */
    struct combine_item *next;
};

/* Does the work of n items (n >= 1, all of one key, in arrival order; items[0] is the
 * caller's own) with ctx, the calling thread's own (its connection), setting each rc. */
typedef void (*combine_fn)(void *ctx, struct combine_item **items, int n);

struct combine_stripe {
    pthread_mutex_t mu;
    struct combine_item *head, *tail;    /* waiting, not taken yet */
    const char *busy[COMBINE_MAX_BATCH]; /* keys being worked on */
    int nbusy;
};

struct combiner {
    int max_batch;   /* <= COMBINE_MAX_BATCH */
    int max_leaders; /* batches of one key worked on at the same time (>= 1) */
    atomic_bool ready;
    struct combine_stripe stripes[COMBINE_STRIPES];
};

#define COMBINER_INIT(max, leaders)                                                                \
    {                                                                                              \
        .max_batch = (max), .max_leaders = (leaders)                                               \
    }

/* Has its work done, by this thread (with ctx) or by another one's batch; its rc. */
int combine_run(struct combiner *c, struct combine_item *it, combine_fn fn, void *ctx);

#endif
