/*
 * combine.c — see combine.h. One mutex per stripe; a key is "busy" while
 * max_leaders threads work on batches of it. Each request waits on its own
 * condition variable and is woken only when it has something to do: its
 * batch is done (its rc is set), or a batch of its key ended and it is the
 * first waiting, so it may lead the next one. No broadcast: under load a
 * wake-up that finds nothing to do costs two context switches.
 */
#include "studiod/combine.h"

#include <stdatomic.h>
#include <string.h>

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

/* The stripes' mutexes, once per combiner. */
static void combiner_ready(struct combiner *c)
{
    if (atomic_load_explicit(&c->ready, memory_order_acquire))
        return;
    pthread_mutex_lock(&init_mu);
    if (!atomic_load_explicit(&c->ready, memory_order_relaxed)) {
        for (int i = 0; i < COMBINE_STRIPES; i++)
            pthread_mutex_init(&c->stripes[i].mu, NULL);
        atomic_store_explicit(&c->ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&init_mu);
}

static unsigned key_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Whether key has as many batches being worked on as it may have. */
static bool is_busy(const struct combiner *c, const struct combine_stripe *st, const char *key)
{
    int n = 0;
    for (int i = 0; i < st->nbusy; i++)
        n += strcmp(st->busy[i], key) == 0;
    return n >= (c->max_leaders > 0 ? c->max_leaders : 1);
}

int combine_run(struct combiner *c, struct combine_item *it, combine_fn fn, void *ctx)
{
    combiner_ready(c);
    struct combine_stripe *st = &c->stripes[key_hash(it->key) % COMBINE_STRIPES];
    it->taken = it->done = false;
    it->next = NULL;
    pthread_cond_init(&it->cv, NULL);
    pthread_mutex_lock(&st->mu);
    if (st->tail)
        st->tail->next = it;
    else
        st->head = it;
    st->tail = it;
    while (!it->done && (it->taken || is_busy(c, st, it->key) || st->nbusy == COMBINE_MAX_BATCH))
        pthread_cond_wait(&it->cv, &st->mu);
    if (it->done) {
        pthread_mutex_unlock(&st->mu);
        pthread_cond_destroy(&it->cv);
        return it->rc;
    }

    /* Lead: this item first, then up to max - 1 others of the key in arrival order. */
    int max = c->max_batch > 0 && c->max_batch <= COMBINE_MAX_BATCH ? c->max_batch : 1;
    struct combine_item *batch[COMBINE_MAX_BATCH];
    batch[0] = it;
    int n = 1;
    struct combine_item **link = &st->head, *kept = NULL;
    while (*link) {
        struct combine_item *x = *link;
        if (x == it || (n < max && strcmp(x->key, it->key) == 0)) {
            *link = x->next;
            x->taken = true;
            if (x != it)
                batch[n++] = x;
            continue;
        }
        kept = x;
        link = &x->next;
    }
    st->tail = kept;
    st->busy[st->nbusy++] = it->key;
    pthread_mutex_unlock(&st->mu);

    fn(ctx, batch, n);

    pthread_mutex_lock(&st->mu);
    for (int i = 0; i < n; i++) {
        batch[i]->done = true;
        if (batch[i] != it)
            pthread_cond_signal(&batch[i]->cv);
    }
    bool was_full = st->nbusy == COMBINE_MAX_BATCH;
    for (int i = 0; i < st->nbusy; i++)
        if (st->busy[i] == it->key) {
            st->busy[i] = st->busy[--st->nbusy];
            break;
        }
    /* The first one waiting for this key (or, when the stripe was full, for any) leads next. */
    for (struct combine_item *x = st->head; x; x = x->next)
        if (was_full || strcmp(x->key, it->key) == 0) {
            pthread_cond_signal(&x->cv);
            break;
        }
    pthread_mutex_unlock(&st->mu);
    pthread_cond_destroy(&it->cv);
    return it->rc;
}
