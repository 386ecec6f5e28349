/*
 * arena.c — a bump allocator over a chain of malloc'd blocks.
 *
 * Each request gets one arena; handlers allocate freely and the server frees
 * the arena once the response is queued, so no per-request path ever calls
 * free(). Blocks double in size (up to a cap) so a request that builds a big
 * response costs O(log n) mallocs; an allocation larger than the cap gets a
 * block of its own.
 */
#include "studiod/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_MAX_BLOCK (1u << 20)

struct block {
    struct block *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
    struct block *head;
    size_t next_size, total_used;
};

static struct block *block_new(size_t size);
static void *xmalloc(size_t n);

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("studiod: out of memory\n", stderr);
        abort();
    }
    return p;
}

static struct block *block_new(size_t size)
{
    struct block *b = xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct arena *arena_new(size_t first_block)
{
    struct arena *a = xmalloc(sizeof(*a));
    if (first_block < 256)
        first_block = 256;
    a->head = block_new(first_block);
    a->next_size = first_block * 2;
    a->total_used = 0;
    return a;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size) /* overflow */
        abort();
    struct block *b = a->head;
    if (b->size - b->used < need) {
        size_t bs = a->next_size;
        if (bs < need)
            bs = need;
        b = block_new(bs);
        b->next = a->head;
        a->head = b;
        if (a->next_size < ARENA_MAX_BLOCK)
            a->next_size *= 2;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total_used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return arena_strdup(a, "");
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const struct arena *a)
{
    return a->total_used;
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    struct block *b = a->head;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void buf_init(struct buf *b, struct arena *a)
{
    b->arena = a;
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_append(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = arena_alloc(b->arena, cap);
        if (b->len)
            memcpy(d, b->data, b->len);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = arena_vprintf(b->arena, fmt, ap);
    va_end(ap);
    buf_puts(b, s);
}

const char *buf_cstr(struct buf *b)
{
    if (!b->data)
        buf_append(b, "", 0);
    return b->data;
}
