/*
 * test_arena.c — the region allocator (arena.h): alignment, zeroing,
 * allocations larger than a block, the string helpers, and the growable
 * buffer. Run under ASan, these also check that nothing is read or written
 * outside what was handed out and that arena_free releases every block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "studiod/arena.h"

#define ALIGN 16

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_alloc_is_aligned_to_16(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    for (size_t size = 0; size < 100; size++) {
        void *p = arena_alloc(a, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ALIGN, 0);
    }
    arena_free(a);
}

static void test_alloc_is_zeroed(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    for (int round = 0; round < 50; round++) {
        unsigned char *p = arena_alloc(a, 200);
        assert_true(all_zero(p, 200));
        memset(p, 0xAB, 200); /* dirty it; the next allocation must not see this */
    }
    arena_free(a);
}

static void test_allocations_do_not_overlap(void **state)
{
    (void)state;
    struct arena *a = arena_new(64);
    unsigned char *prev = arena_alloc(a, 1);
    *prev = 1;
    for (int i = 2; i < 200; i++) {
        unsigned char *p = arena_alloc(a, 24);
        memset(p, i, 24);
        assert_int_equal(*prev, (unsigned char)(i - 1));
        prev = p;
    }
    arena_free(a);
}

static void test_allocation_bigger_than_a_block(void **state)
{
    (void)state;
    struct arena *a = arena_new(256);
    char *small = arena_strdup(a, "before");
    size_t big_size = 3u << 20; /* beyond the block cap too */
    unsigned char *big = arena_alloc(a, big_size);
    assert_non_null(big);
    assert_int_equal((uintptr_t)big % ALIGN, 0);
    assert_true(all_zero(big, big_size));
    memset(big, 0xFF, big_size);
    char *after = arena_strdup(a, "after");
    assert_string_equal(small, "before");
    assert_string_equal(after, "after");
    assert_int_equal((uintptr_t)after % ALIGN, 0);
    arena_free(a);
}

static void test_many_small_allocations_grow_the_arena(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    char *first = arena_strdup(a, "first");
    for (int i = 0; i < 10000; i++)
        arena_alloc(a, 100);
    assert_string_equal(first, "first");
    assert_true(arena_used(a) >= 10000u * 100);
    arena_free(a);
}

static void test_used_counts_bytes_handed_out(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_int_equal(arena_used(a), 0);
    arena_alloc(a, 10);
    arena_alloc(a, 5);
    assert_int_equal(arena_used(a), 15);
    arena_free(a);
}

static void test_strdup_and_strndup(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_null(arena_strdup(a, NULL));
    char src[] = "hello world";
    char *d = arena_strdup(a, src);
    assert_ptr_not_equal(d, src);
    src[0] = 'j';
    assert_string_equal(d, "hello world");
    assert_string_equal(arena_strndup(a, "hello world", 5), "hello");
    assert_string_equal(arena_strndup(a, "abc", 0), "");
    assert_string_equal(arena_strdup(a, ""), "");
    /* strndup copies exactly n bytes, even past an embedded NUL's view */
    char *n = arena_strndup(a, "ab\0cd", 5);
    assert_memory_equal(n, "ab\0cd", 6);
    arena_free(a);
}

static void test_printf_formats_into_the_arena(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    assert_string_equal(arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.14159), "x-42-003.1");
    assert_string_equal(arena_printf(a, "%s", ""), "");
    char long_arg[5000];
    memset(long_arg, 'z', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    char *s = arena_printf(a, "[%s]", long_arg);
    assert_int_equal(strlen(s), sizeof(long_arg) + 1);
    assert_int_equal(s[0], '[');
    assert_int_equal(s[sizeof(long_arg)], ']');
    arena_free(a);
}

static void test_buf_starts_empty(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct buf b;
    buf_init(&b, a);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    arena_free(a);
}

static void test_buf_appends_and_grows(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct buf b;
    buf_init(&b, a);
    buf_puts(&b, "abc");
    buf_append(&b, "defXXX", 3);
    buf_printf(&b, "-%d-", 7);
    assert_string_equal(buf_cstr(&b), "abcdef-7-");
    assert_int_equal(b.len, 9);
    for (int i = 0; i < 5000; i++)
        buf_append(&b, "0123456789", 10);
    assert_int_equal(b.len, 9 + 50000);
    assert_true(b.cap > b.len);
    const char *s = buf_cstr(&b);
    assert_int_equal(strlen(s), b.len);
    assert_memory_equal(s, "abcdef-7-0123456789", 19);
    assert_memory_equal(s + b.len - 10, "0123456789", 10);
    arena_free(a);
}

static void test_buf_takes_one_big_append(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct buf b;
    buf_init(&b, a);
    buf_puts(&b, "x");
    static char big[100000];
    memset(big, 'y', sizeof(big));
    buf_append(&b, big, sizeof(big));
    assert_int_equal(b.len, 1 + sizeof(big));
    assert_int_equal(buf_cstr(&b)[0], 'x');
    assert_int_equal(buf_cstr(&b)[b.len - 1], 'y');
    assert_int_equal(buf_cstr(&b)[b.len], '\0');
    arena_free(a);
}

static void test_buf_holds_binary_bytes(void **state)
{
    (void)state;
    struct arena *a = arena_new(0);
    struct buf b;
    buf_init(&b, a);
    buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    arena_free(a);
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_is_aligned_to_16),
        cmocka_unit_test(test_alloc_is_zeroed),
        cmocka_unit_test(test_allocations_do_not_overlap),
        cmocka_unit_test(test_allocation_bigger_than_a_block),
        cmocka_unit_test(test_many_small_allocations_grow_the_arena),
        cmocka_unit_test(test_used_counts_bytes_handed_out),
        cmocka_unit_test(test_strdup_and_strndup),
        cmocka_unit_test(test_printf_formats_into_the_arena),
        cmocka_unit_test(test_buf_starts_empty),
        cmocka_unit_test(test_buf_appends_and_grows),
        cmocka_unit_test(test_buf_takes_one_big_append),
        cmocka_unit_test(test_buf_holds_binary_bytes),
        cmocka_unit_test(test_free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
