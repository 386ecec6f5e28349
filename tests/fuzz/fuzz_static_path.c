/*
 * fuzz_static_path.c — libFuzzer target for static_normalize and
 * static_content_type (static.h). Whatever static_normalize accepts must be a
 * relative path of non-empty, non-hidden segments with no "..", backslash,
 * '%' or control byte; anything else is a way out of static/ and aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "studiod/static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok);
static void fuzz_check_clean(const char *in, const char *out);

static void fuzz_check(int ok)
{
    if (!ok)
        abort();
}

/* The properties static_serve relies on before it calls realpath(). */
static void fuzz_check_clean(const char *in, const char *out)
{
    fuzz_check(strcmp(in, out) == 0);
    fuzz_check(out[0] != '\0' && out[0] != '/');
    fuzz_check(!strstr(out, "//") && !strstr(out, "/.") && out[0] != '.');
    fuzz_check(out[strlen(out) - 1] != '/');
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        fuzz_check(*p >= 0x20 && *p != 0x7f && *p != '\\' && *p != '%');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new(0);
    char *in = arena_strndup(a, (const char *)data, size);
    const char *out = static_normalize(a, in);
    if (out)
        fuzz_check_clean(in, out);
    const char *type = static_content_type(in);
    fuzz_check(type != NULL && type[0] != '\0');
    arena_free(a);
    return 0;
}
