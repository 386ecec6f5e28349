/*
 * test_combine.c — requests served together (combine.h): a request alone is
 * its own batch, done by its own thread; requests that arrive while their
 * key is being worked on are taken together by the next of them, in arrival
 * order, at most max_batch at a time; each is done exactly once and gets its
 * own answer; one key is worked on by at most max_leaders batches at a time,
 * two keys at the same time. Threads, so ASan/UBSan and the assertions see real interleavings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "studiod/combine.h"

#define THREADS 12
#define ROUNDS 200
#define MAX_BATCH 5
#define WAIT_SECONDS 10

/* What one request asks for: its answer is 3 * value + 1. */
struct ask {
    int thread, value;
    atomic_int times_done;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Items waiting (not taken) in the stripe of key: what the test waits for. */
static int waiting(struct combiner *c, const char *key)
{
    (void)key;
    int n = 0;
    for (int s = 0; s < COMBINE_STRIPES; s++) {
        pthread_mutex_lock(&c->stripes[s].mu);
        for (struct combine_item *x = c->stripes[s].head; x; x = x->next)
            n += strcmp(x->key, key) == 0;
        pthread_mutex_unlock(&c->stripes[s].mu);
    }
    return n;
}

/* ---- alone ----------------------------------------------------------------------------- */

static struct combiner alone_c = COMBINER_INIT(MAX_BATCH, 1);
static int alone_calls, alone_n;
static void *alone_ctx;

static void alone_fn(void *ctx, struct combine_item **items, int n)
{
    alone_calls++;
    alone_n = n;
    alone_ctx = ctx;
    for (int i = 0; i < n; i++)
        items[i]->rc = 3 * ((struct ask *)items[i]->arg)->value + 1;
}

static void test_a_request_alone_is_its_own_batch_done_by_its_own_thread(void **state)
{
    (void)state;
    int mine = 0;
    for (int round = 1; round <= 3; round++) {
        struct ask ask = {.value = 10 * round};
        struct combine_item it = {.key = "studio-a", .arg = &ask};
        assert_int_equal(combine_run(&alone_c, &it, alone_fn, &mine), 3 * 10 * round + 1);
        assert_int_equal(alone_calls, round);
        assert_int_equal(alone_n, 1);
        assert_ptr_equal(alone_ctx, &mine);
    }
}

/* ---- many at once on one key ----------------------------------------------------------- */

static struct combiner many_c = COMBINER_INIT(MAX_BATCH, 1);
static struct combiner many2_c = COMBINER_INIT(MAX_BATCH, 2);
static struct combiner *many_now; /* the combiner of the running test */
static int many_leaders;          /* its max_leaders */
static atomic_int many_inside, many_batches, many_items, many_biggest;
static atomic_bool many_overlap, many_wrong;
static atomic_int held_batches, held_items;
static atomic_bool held_released; /* the moment came: seen once, for all */

struct worker {
    int thread;
    struct ask asks[ROUNDS];
    int answers[ROUNDS];
};

static void many_fn(void *ctx, struct combine_item **items, int n)
{
    if (atomic_fetch_add(&many_inside, 1) >= many_leaders)
        atomic_store(&many_overlap, true);
    /* The first batches (as many as may run at once) wait until every other thread has
     * queued behind them, so that the next ones are sure to be combined. */
    if (atomic_fetch_add(&held_batches, 1) < many_leaders) {
        atomic_fetch_add(&held_items, n);
        double until = now_s() + WAIT_SECONDS;
        while (!atomic_load(&held_released) && now_s() < until) {
            if (waiting(many_now, "studio-b") + atomic_load(&held_items) >= THREADS)
                atomic_store(&held_released, true);
            sched_yield();
        }
    }
    /* The work itself takes a while (as a transaction does): 50 µs of this thread. */
    for (double until = now_s() + 50e-6; now_s() < until;)
        ;
    struct worker *w = ctx;
    if (n < 1 || n > MAX_BATCH || ((struct ask *)items[0]->arg)->thread != w->thread)
        atomic_store(&many_wrong, true); /* the leader's own item comes first */
    for (int i = 0; i < n; i++) {
        struct ask *a = items[i]->arg;
        if (strcmp(items[i]->key, "studio-b") != 0)
            atomic_store(&many_wrong, true);
        atomic_fetch_add(&a->times_done, 1);
        items[i]->rc = 3 * a->value + 1;
    }
    int big = atomic_load(&many_biggest);
    while (n > big && !atomic_compare_exchange_weak(&many_biggest, &big, n))
        ;
    atomic_fetch_add(&many_batches, 1);
    atomic_fetch_add(&many_items, n);
    atomic_fetch_sub(&many_inside, 1);
}

static void *many_worker(void *arg)
{
    struct worker *w = arg;
    for (int r = 0; r < ROUNDS; r++) {
        w->asks[r].thread = w->thread;
        w->asks[r].value = w->thread * 100000 + r;
        struct combine_item it = {.key = "studio-b", .arg = &w->asks[r]};
        w->answers[r] = combine_run(many_now, &it, many_fn, w);
    }
    return NULL;
}

/* Runs THREADS workers of ROUNDS requests each on c (max_leaders leaders) and checks. */
static void many_run(struct combiner *c, int leaders)
{
    many_now = c;
    many_leaders = leaders;
    atomic_store(&many_inside, 0);
    atomic_store(&many_batches, 0);
    atomic_store(&many_items, 0);
    atomic_store(&many_biggest, 0);
    atomic_store(&many_overlap, false);
    atomic_store(&many_wrong, false);
    atomic_store(&held_batches, 0);
    atomic_store(&held_items, 0);
    atomic_store(&held_released, false);
    static struct worker workers[THREADS];
    memset(workers, 0, sizeof(workers));
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i].thread = i;
        assert_int_equal(pthread_create(&threads[i], NULL, many_worker, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);

    assert_false(atomic_load(&many_overlap)); /* one key: at most `leaders` batches at a time */
    assert_false(atomic_load(&many_wrong));
    for (int i = 0; i < THREADS; i++)
        for (int r = 0; r < ROUNDS; r++) {
            assert_int_equal(atomic_load(&workers[i].asks[r].times_done), 1);
            assert_int_equal(workers[i].answers[r], 3 * workers[i].asks[r].value + 1);
        }
    assert_int_equal(atomic_load(&many_items), THREADS * ROUNDS);
    /* Combined: fewer batches than requests, and a full batch at least once (the
     * THREADS - 1 requests queued behind the first batch). */
    assert_true(atomic_load(&many_batches) < THREADS * ROUNDS);
    assert_int_equal(atomic_load(&many_biggest), MAX_BATCH);
}

static void
test_requests_at_once_on_one_key_are_combined_each_done_once_with_its_answer(void **state)
{
    (void)state;
    many_run(&many_c, 1);
}

/* Two batches of a key at a time: a request taken into one batch waits for it to end and
 * is never led again, even while the key has room for another leader. */
static void test_with_two_leaders_per_key_each_request_is_still_done_once(void **state)
{
    (void)state;
    many_run(&many2_c, 2);
}

/* ---- two keys -------------------------------------------------------------------------- */

static struct combiner two_c = COMBINER_INIT(MAX_BATCH, 1);
static atomic_int two_started;

/* Each key's batch waits for the other's to have started: both must run at once. */
static void two_fn(void *ctx, struct combine_item **items, int n)
{
    (void)ctx;
    atomic_fetch_add(&two_started, 1);
    double until = now_s() + WAIT_SECONDS;
    while (atomic_load(&two_started) < 2 && now_s() < until)
        sched_yield();
    for (int i = 0; i < n; i++)
        items[i]->rc = atomic_load(&two_started);
}

static void *two_worker(void *arg)
{
    struct combine_item *it = arg;
    it->rc = combine_run(&two_c, it, two_fn, NULL);
    return NULL;
}

static void test_two_keys_are_worked_on_at_the_same_time(void **state)
{
    (void)state;
    /* Every pair of KEYS keys: more keys than stripes, so some pairs share a stripe. */
    enum { KEYS = COMBINE_STRIPES + 1 };
    char keys[KEYS][16];
    for (int k = 0; k < KEYS; k++)
        snprintf(keys[k], sizeof(keys[k]), "studio-%d", k);
    for (int i = 0; i < KEYS; i++)
        for (int j = i + 1; j < KEYS; j++) {
            atomic_store(&two_started, 0);
            struct combine_item a = {.key = keys[i]}, b = {.key = keys[j]};
            pthread_t ta, tb;
            assert_int_equal(pthread_create(&ta, NULL, two_worker, &a), 0);
            assert_int_equal(pthread_create(&tb, NULL, two_worker, &b), 0);
            pthread_join(ta, NULL);
            pthread_join(tb, NULL);
            assert_int_equal(a.rc, 2); /* each saw the other running */
            assert_int_equal(b.rc, 2);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_request_alone_is_its_own_batch_done_by_its_own_thread),
        cmocka_unit_test(
            test_requests_at_once_on_one_key_are_combined_each_done_once_with_its_answer),
        cmocka_unit_test(test_with_two_leaders_per_key_each_request_is_still_done_once),
        cmocka_unit_test(test_two_keys_are_worked_on_at_the_same_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
