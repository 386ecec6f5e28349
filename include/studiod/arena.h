/*
 * arena.h — region allocator for everything that lives as long as one
 * request (or one command). Allocations are never freed one by one; the
 * whole arena goes at once with arena_free().
 */
#ifndef STUDIOD_ARENA_H
#define STUDIOD_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* A new arena whose first block holds at least first_block bytes. Never NULL (aborts on OOM). */
struct arena *arena_new(size_t first_block);
/* size bytes aligned for any type; zeroed. */
void *arena_alloc(struct arena *a, size_t size);
/* A copy of s (NULL gives NULL). */
char *arena_strdup(struct arena *a, const char *s);
/* A NUL-terminated copy of the first n bytes of s. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);
/* Bytes handed out so far (for tests and metrics). */
size_t arena_used(const struct arena *a);
/* Releases every block. NULL is fine. */
void arena_free(struct arena *a);

/* A growable byte buffer whose storage comes from an arena. */
struct buf {
    struct arena *arena;
    char *data;
    size_t len, cap;
};

void buf_init(struct buf *b, struct arena *a);
void buf_append(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a NUL-terminated string (valid until the next append). */
const char *buf_cstr(struct buf *b);

#endif
