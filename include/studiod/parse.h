/*
 * parse.h — the small parsers under HTTP: percent-decoding, form bodies,
 * cookies. Pure functions over an arena, fuzzed in tests/fuzz.
 */
#ifndef STUDIOD_PARSE_H
#define STUDIOD_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "studiod/arena.h"

struct kv {
    const char *key, *value;
    struct kv *next;
};

/* Decodes %XX (and '+' as space when plus_is_space). Returns NULL on a bad escape or
 * an encoded NUL. */
char *parse_percent_decode(struct arena *a, const char *s, size_t len, bool plus_is_space);
/* application/x-www-form-urlencoded or a query string; bad pairs are skipped.
 * Pairs come in their order of appearance. */
struct kv *parse_form(struct arena *a, const char *s, size_t len);
/* A Cookie header: "a=1; b=2". Values keep their quotes stripped. */
struct kv *parse_cookies(struct arena *a, const char *header);
/* The first value for key, or NULL. */
const char *kv_get(const struct kv *list, const char *key);
/* Escapes s for a URL query component. */
char *parse_percent_encode(struct arena *a, const char *s);

#endif
