/*
 * server.h — the HTTP server on libmicrohttpd: an internal polling thread
 * with epoll and a thread pool, the request lifecycle, and graceful drain.
 */
#ifndef STUDIOD_SERVER_H
#define STUDIOD_SERVER_H

#include "studiod/http.h"
#include "studiod/router.h"

/* Starts serving tables on g_config.bind_address:port. 0 or -1. */
int server_start(const struct route_table *tables, const struct http_hooks *hooks);
/* Stops accepting, waits for in-flight requests (at most drain_seconds), stops. */
void server_stop(int drain_seconds);
/* The router in use (for metrics and route listings). */
const struct router *server_router(void);

#endif
