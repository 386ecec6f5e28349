/*
 * fuzz_template.c — libFuzzer target for template_render (template.h).
 *
 * The input is split at its first NUL or newline: before it the template
 * source, after it a JSON context. When the JSON does not parse, a fixed
 * object with a string, a number, a nested object and an array stands in,
 * so sections and dotted lookups still have something to walk. The loader
 * knows three partials: "p" (plain), "self" (the template itself) and
 * "loop" (includes itself), so the depth limits are exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_loader(void *ud, struct arena *a, const char *name);
static json_t *fuzz_context(const char *json, size_t len);

static const char *fuzz_loader(void *ud, struct arena *a, const char *name)
{
    (void)a;
    if (strcmp(name, "p") == 0)
        return "<p>{{name}}{{#items}}[{{.}}]{{/items}}</p>";
    if (strcmp(name, "self") == 0)
        return ud;
    if (strcmp(name, "loop") == 0)
        return "x{{>loop}}";
    return NULL;
}

static json_t *fuzz_context(const char *json, size_t len)
{
    json_t *ctx = len ? json_loadb(json, len, 0, NULL) : NULL;
    if (ctx)
        return ctx;
    return json_pack("{s:s, s:i, s:b, s:{s:s, s:n}, s:[s, i, {s:s}], s:[]}", "name",
                     "<Ada & \"Bob\">", "count", 3, "flag", 1, "user", "email", "a@b.c", "none",
                     "items", "one", 2, "name", "inner", "empty");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new(0);
    const char *bytes = (const char *)data;
    size_t split = 0;
    while (split < size && bytes[split] != '\0' && bytes[split] != '\n')
        split++;
    char *src = arena_strndup(a, bytes, split);
    size_t rest = split < size ? size - split - 1 : 0;
    json_t *ctx = fuzz_context(bytes + split + (split < size), rest);
    const char *err = NULL;
    char *out = template_render(a, src, ctx, fuzz_loader, src, &err);
    if (!out && !err)
        abort(); /* a failure must say why */
    json_decref(ctx);
    arena_free(a);
    return 0;
}
