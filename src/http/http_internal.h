/*
 * http_internal.h — what server.c and middleware.c share, and nobody else.
 */
#ifndef STUDIOD_HTTP_INTERNAL_H
#define STUDIOD_HTTP_INTERNAL_H

#include "studiod/http.h"

/* Resolves the tenant, loads the session, checks auth, permission and CSRF.
 * 0 to run the handler; -1 when it has replied itself. */
int middleware_run(struct request *req, const struct http_hooks *hooks);

#endif
