/*
 * static.h — files under static/ served with content types, ETag and
 * caching, with no way out of the folder.
 */
#ifndef STUDIOD_STATIC_H
#define STUDIOD_STATIC_H

#include "studiod/arena.h"
#include "studiod/http.h"

/* Normalises a request path (already percent-decoded once by the router) relative to the
 * static root: rejects "..", ".", empty segments, backslashes, NUL, further %-escapes of
 * dots or slashes. Returns the clean relative path or NULL. */
const char *static_normalize(struct arena *a, const char *rel);
/* The content type for a file name (by extension); application/octet-stream otherwise. */
const char *static_content_type(const char *name);
/* Handler for GET /static/{path}. */
void static_serve(struct request *req);
/* The route table: GET /static/{path}. */
extern const struct route static_routes[];

#endif
