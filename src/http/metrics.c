/*
 * metrics.c — lock-free request counters by route and status, and one
 * latency histogram, for /metrics in the Prometheus text format.
 *
 * Statuses are bucketed into the codes studiod actually sends (and "other"),
 * so the table is a fixed [routes + 1][codes] array of atomics: counting is
 * two atomic adds, never a lock on the request path.
 */
#include "studiod/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static const int codes[] = {200, 201, 202, 204, 301, 302, 303, 304, 400, 401, 403, 404,
                            405, 409, 413, 415, 422, 429, 500, 502, 503, 0};
#define NCODES (sizeof(codes) / sizeof(codes[0]))
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,   0.25,   0.5,   1.0,  2.5,   5.0};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static struct {
    const struct router *router;
    size_t nroutes;
    atomic_ullong *counts; /* (nroutes + 1) * NCODES; the last row is "unmatched" */
    atomic_ullong buckets[NBOUNDS + 1];
    atomic_ullong sum_us;
    atomic_ullong total;
} M;

static size_t code_index(int status);

static size_t code_index(int status)
{
    for (size_t i = 0; i + 1 < NCODES; i++)
        if (codes[i] == status)
            return i;
    return NCODES - 1;
}

int metrics_init(const struct router *r)
{
    M.router = r;
    M.nroutes = router_count(r);
    M.counts = calloc((M.nroutes + 1) * NCODES, sizeof(*M.counts));
    return M.counts ? 0 : -1;
}

void metrics_free(void)
{
    free(M.counts);
    M.counts = NULL;
}

void metrics_observe(int route_index, int status, double seconds)
{
    if (!M.counts)
        return;
    size_t row = route_index < 0 || (size_t)route_index >= M.nroutes ? M.nroutes
                                                                      : (size_t)route_index;
    atomic_fetch_add_explicit(&M.counts[row * NCODES + code_index(status)], 1,
                              memory_order_relaxed);
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&M.buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.sum_us, (unsigned long long)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&M.total, 1, memory_order_relaxed);
}

void metrics_render(struct buf *b)
{
    buf_puts(b, "# HELP studiod_http_requests_total HTTP requests by route and status.\n"
                "# TYPE studiod_http_requests_total counter\n");
    for (size_t r = 0; M.counts && r <= M.nroutes; r++) {
        const struct route *rt = r < M.nroutes ? router_route(M.router, r) : NULL;
        for (size_t c = 0; c < NCODES; c++) {
            unsigned long long n = atomic_load_explicit(&M.counts[r * NCODES + c],
                                                        memory_order_relaxed);
            if (!n)
                continue;
            char status[8];
            if (codes[c])
                snprintf(status, sizeof(status), "%d", codes[c]);
            else
                snprintf(status, sizeof(status), "other");
            buf_printf(b, "studiod_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                       rt ? rt->method : "", rt ? rt->pattern : "unmatched", status, n);
        }
    }
    buf_puts(b, "# HELP studiod_http_request_duration_seconds Request latency.\n"
                "# TYPE studiod_http_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += atomic_load_explicit(&M.buckets[i], memory_order_relaxed);
        if (i < NBOUNDS)
            buf_printf(b, "studiod_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                       bounds[i], cum);
        else
            buf_printf(b, "studiod_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    buf_printf(b, "studiod_http_request_duration_seconds_sum %.6f\n",
               (double)atomic_load(&M.sum_us) / 1e6);
    buf_printf(b, "studiod_http_request_duration_seconds_count %llu\n", atomic_load(&M.total));
}
