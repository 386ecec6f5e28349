/*
 * ops.h — what operators and load balancers poll: /healthz, /readyz, /metrics.
 */
#ifndef STUDIOD_OPS_H
#define STUDIOD_OPS_H

#include "studiod/http.h"

extern const struct route ops_routes[];

#endif
