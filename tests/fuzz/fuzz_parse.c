/*
 * fuzz_parse.c — libFuzzer target for the HTTP parsers (parse.h): the input
 * is fed whole to parse_form, as a NUL-terminated string to parse_cookies,
 * and to parse_percent_decode in both modes. It also checks two properties
 * the server relies on: decoding never yields a NUL or grows the input, and
 * decode(encode(s)) gives s back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok);
static void fuzz_decode(struct arena *a, const char *s, size_t len);
static void fuzz_form(struct arena *a, const char *s, size_t len);
static void fuzz_cookies(struct arena *a, const char *s);
static void fuzz_round_trip(struct arena *a, const char *s);

static void fuzz_check(int ok)
{
    if (!ok)
        abort();
}

static void fuzz_decode(struct arena *a, const char *s, size_t len)
{
    for (int plus = 0; plus < 2; plus++) {
        char *d = parse_percent_decode(a, s, len, plus);
        if (d)
            fuzz_check(strlen(d) <= len && !memchr(s, '\0', len));
    }
}

static void fuzz_form(struct arena *a, const char *s, size_t len)
{
    struct kv *f = parse_form(a, s, len);
    for (struct kv *p = f; p; p = p->next) {
        fuzz_check(p->key && p->value && p->key[0] != '\0');
        fuzz_check(kv_get(f, p->key) != NULL);
    }
}

static void fuzz_cookies(struct arena *a, const char *s)
{
    struct kv *c = parse_cookies(a, s);
    for (struct kv *p = c; p; p = p->next) {
        fuzz_check(p->key && p->value && p->key[0] != '\0');
        fuzz_check(!strchr(p->key, ';') && !strchr(p->value, ';'));
    }
}

static void fuzz_round_trip(struct arena *a, const char *s)
{
    char *enc = parse_percent_encode(a, s);
    for (int plus = 0; plus < 2; plus++) {
        char *dec = parse_percent_decode(a, enc, strlen(enc), plus);
        fuzz_check(dec != NULL && strcmp(dec, s) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new(0);
    const char *bytes = (const char *)data;
    char *cstr = arena_strndup(a, bytes, size); /* stops being the input at a NUL */
    fuzz_decode(a, bytes, size);
    fuzz_form(a, bytes, size);
    fuzz_cookies(a, cstr);
    fuzz_round_trip(a, cstr);
    arena_free(a);
    return 0;
}
