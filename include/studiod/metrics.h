/*
 * metrics.h — request counters and the latency histogram, rendered in
 * the Prometheus text format.
 */
#ifndef STUDIOD_METRICS_H
#define STUDIOD_METRICS_H

#include "studiod/arena.h"
#include "studiod/router.h"

/* Sizes the counters for the router's routes. */
int metrics_init(const struct router *r);
void metrics_free(void);
/* Counts one request: route_index -1 for unmatched. */
void metrics_observe(int route_index, int status, double seconds);
/* Appends the HTTP metrics to b. */
void metrics_render(struct buf *b);

#endif
