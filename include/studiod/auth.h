/*
 * auth.h — staff sign-in: passwords, sessions, login throttling.
 */
#ifndef STUDIOD_AUTH_H
#define STUDIOD_AUTH_H

#include "studiod/http.h"

#define AUTH_COOKIE "studiod_session"
#define AUTH_MAX_ACCOUNT_FAILURES 5
#define AUTH_MAX_IP_FAILURES 20
#define AUTH_FAILURE_WINDOW_MINUTES 15

/* Turns the staff session cache on (entries live at most ttl_seconds, capped at 50; 0:
 * off); before cache_bus_start. 0 or -1. auth_cache_stop frees it (after cache_bus_stop). */
int auth_cache_start(int ttl_seconds);
void auth_cache_stop(void);
/* The http_hooks.load_session implementation. */
int auth_load_session(struct request *req, struct session *out);

extern const struct route auth_routes[];

#endif
