/*
 * template.h — a mustache subset over jansson values.
 *
 *   {{name}}          escaped (HTML: & < > " ' `  =)
 *   {{{name}}} {{&name}}  raw, only when the template asks
 *   {{a.b.c}}         dotted lookup; {{.}} the current value
 *   {{#s}}...{{/s}}   section: false/null/empty array/"" skip it; an array
 *                     repeats it per element; an object pushes a context;
 *                     any other truthy value renders it once
 *   {{^s}}...{{/s}}   inverted section
 *   {{>name}}         partial: templates/<name>.html (or the loader's)
 *   {{!comment}}
 * Lookups walk the context stack outwards, as mustache does.
 */
#ifndef STUDIOD_TEMPLATE_H
#define STUDIOD_TEMPLATE_H

#include <jansson.h>

#include "studiod/arena.h"

/* Returns the source of a partial or page by name, or NULL. The string must stay
 * valid for the render call (it may come from the arena). */
typedef const char *(*template_loader)(void *ud, struct arena *a, const char *name);

/* Renders src with ctx. NULL on a syntax error (unclosed tag or section,
 * mismatched close, partials nested deeper than 16); *err then says why. */
char *template_render(struct arena *a, const char *src, json_t *ctx, template_loader loader,
                      void *ud, const char **err);

/* Renders templates/<name>.html from STUDIOD_HOME, cached after the first read. */
char *template_render_file(struct arena *a, const char *name, json_t *ctx, const char **err);
/* Renders page <name> and puts it as "content" into templates/layout.html. */
char *template_render_page(struct arena *a, const char *name, json_t *ctx, const char **err);
/* Escapes s for HTML text and attribute values. */
char *template_escape(struct arena *a, const char *s);

#endif
