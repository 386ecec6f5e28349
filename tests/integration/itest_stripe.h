/*
 * itest_stripe.h — the Stripe stand-in (tests/fakes/stripe_fake.py) for the suites
 * that need one: started on a free loopback port as a child process, asked what
 * studiod sent it, told to send signed events or to fail.
 */
#ifndef ITEST_STRIPE_H
#define ITEST_STRIPE_H

#include <jansson.h>
#include <sys/types.h>

#include "itest_harness.h"

struct itest_stripe {
    struct studiod_proc http; /* port and base: where studiod's STRIPE_API_BASE points */
    pid_t pid;                /* 0 when not running */
    char log[128];            /* its stderr */
};

/* Starts the stand-in with extra_env ("NAME=value", NULL-terminated, or NULL) added to
 * this process's environment, and waits (≤ 10 s) until it answers. 0 or -1. */
int itest_stripe_start(struct itest_stripe *f, const char *const *extra_env);
/* SIGTERM and wait. Fine to call when it is not running. */
void itest_stripe_stop(struct itest_stripe *f);
/* "STRIPE_API_BASE=<base>" into out (≥ 96 bytes): for itest_start's environment. */
const char *itest_stripe_env(const struct itest_stripe *f, char *out);
/* Every request recorded so far (GET /_fake/requests): a JSON array of {method, path,
 * query, headers, form}; json_decref it. NULL when the stand-in did not answer. */
json_t *itest_stripe_requests(const struct itest_stripe *f);
/* POST path (e.g. "/_fake/reset", "/_fake/fail") with an optional JSON body; the HTTP
 * status (0 when no answer). */
long itest_stripe_post(const struct itest_stripe *f, const char *path, const char *json_body);

#endif
