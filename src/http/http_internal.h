/*
 * http_internal.h — what server.c and middleware.c share, and nobody else.
 */
#ifndef STUDIOD_HTTP_INTERNAL_H
#define STUDIOD_HTTP_INTERNAL_H

#include "studiod/http.h"

/* Resolves the tenant, loads the session, checks auth, permission and CSRF.
 * 0 to run the handler; -1 when it has replied itself. */
int middleware_run(struct request *req, const struct http_hooks *hooks);

/* A reply other than a stream was made after http_reply_stream: the body is no longer
 * the stream's (its done callback still runs when the request ends). server.c. */
void http_reply_unstream(struct request *req);

#endif
