/*
 * parse.c — percent-decoding, form bodies and Cookie headers.
 *
 * These run on attacker-controlled bytes before anything else, so each is
 * small, allocation-bounded by its input, and fuzzed (tests/fuzz).
 */
#include "studiod/parse.h"

#include <ctype.h>
#include <string.h>

static int hexval(int c);

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *parse_percent_decode(struct arena *a, const char *s, size_t len, bool plus_is_space)
{
    char *out = arena_alloc(a, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return NULL;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return NULL;
            c = (char)(h * 16 + l);
            if (c == '\0')
                return NULL;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

struct kv *parse_form(struct arena *a, const char *s, size_t len)
{
    struct kv *head = NULL, **tail = &head;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] != '&')
            i++;
        size_t end = i;
        i++; /* skip '&' */
        if (end == start)
            continue;
        const char *eq = memchr(s + start, '=', end - start);
        size_t klen = eq ? (size_t)(eq - (s + start)) : end - start;
        char *k = parse_percent_decode(a, s + start, klen, true);
        char *v = eq ? parse_percent_decode(a, eq + 1, end - start - klen - 1, true)
                     : arena_strdup(a, "");
        if (!k || !v || !*k)
            continue;
        struct kv *e = arena_alloc(a, sizeof(*e));
        e->key = k;
        e->value = v;
        *tail = e;
        tail = &e->next;
    }
    return head;
}

struct kv *parse_cookies(struct arena *a, const char *header)
{
    struct kv *head = NULL, **tail = &head;
    if (!header)
        return NULL;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ';')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        const char *eq = memchr(start, '=', (size_t)(end - start));
        if (!eq || eq == start)
            continue;
        const char *ke = eq;
        while (ke > start && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        const char *vs = eq + 1;
        while (vs < end && (*vs == ' ' || *vs == '\t'))
            vs++;
        const char *ve = end;
        if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
            vs++;
            ve--;
        }
        if (ke == start)
            continue;
        struct kv *e = arena_alloc(a, sizeof(*e));
        e->key = arena_strndup(a, start, (size_t)(ke - start));
        e->value = arena_strndup(a, vs, (size_t)(ve - vs));
        *tail = e;
        tail = &e->next;
    }
    return head;
}

const char *kv_get(const struct kv *list, const char *key)
{
    for (; list; list = list->next)
        if (strcmp(list->key, key) == 0)
            return list->value;
    return NULL;
}

char *parse_percent_encode(struct arena *a, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = arena_alloc(a, n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
