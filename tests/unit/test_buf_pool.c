/*
 * test_buf_pool.c - the pool of large body buffers (buf_pool.h): buffers
 * start on a page and hold what was asked, a returned buffer serves the
 * next request of a fitting size, and the pool keeps no more than its
 * byte limit and slot count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf_pool.h"

#include "banned.h"

#define MIB (1024u * 1024)

/* Page-aligned, rounded up to whole pages, writable end to end. */
static void test_get_aligned(void **state)
{
	struct buf_pool *bp = buf_pool_new(8 * MIB);
	size_t lens[] = {0, 1, 4095, 4096, 4097, MIB + 1};
	size_t size;
	char *p;

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		p = buf_pool_get(bp, lens[i], &size);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 4096, 0);
		assert_true(size >= lens[i] && size % 4096 == 0 && size > 0);
		assert_true(size < lens[i] + 4096 || lens[i] == 0);
		memset(p, 0x5a, size);
		buf_pool_put(bp, p, size);
	}
	buf_pool_free(bp);
}

/* A returned buffer is handed out again for a size it fits (at most
 * twice the need), not for a larger or much smaller one. */
static void test_reuse(void **state)
{
	struct buf_pool *bp = buf_pool_new(64 * MIB);
	size_t size, size2;
	char *p, *q;

	(void)state;
	p = buf_pool_get(bp, 8 * MIB, &size);
	assert_non_null(p);
	buf_pool_put(bp, p, size);
	q = buf_pool_get(bp, 8 * MIB - 100, &size2);
	assert_ptr_equal(q, p);
	assert_int_equal(size2, size);
	buf_pool_put(bp, q, size2);

	q = buf_pool_get(bp, 8 * MIB + 4096, &size2); /* too small */
	assert_ptr_not_equal(q, p);
	buf_pool_put(bp, q, size2);
	q = buf_pool_get(bp, MIB, &size2); /* both far too big */
	assert_ptr_not_equal(q, p);
	buf_pool_free(bp); /* frees the two kept */
	buf_pool_put(NULL, NULL, 0);
	buf_pool_free(NULL);
	/* q was never returned: it is the caller's. */
	free(q);
}

/* The pool keeps at most its byte limit: a buffer past it is freed, so
 * the next request of that size gets a new one. */
static void test_byte_limit(void **state)
{
	struct buf_pool *bp = buf_pool_new(3 * MIB);
	char *a, *b, *c;
	size_t sa, sb, sc;

	(void)state;
	a = buf_pool_get(bp, 2 * MIB, &sa);
	b = buf_pool_get(bp, 2 * MIB, &sb);
	buf_pool_put(bp, a, sa); /* kept: 2 MiB */
	buf_pool_put(bp, b, sb); /* would make 4: freed */
	c = buf_pool_get(bp, 2 * MIB, &sc);
	assert_ptr_equal(c, a);
	c = buf_pool_get(bp, 2 * MIB, &sc);
	assert_non_null(c);
	assert_ptr_not_equal(c, a);
	free(a); /* a was taken back out of the pool */
	buf_pool_put(bp, c, sc);
	buf_pool_free(bp);
}

/* However small, no more than 16 buffers are kept: of 20 returned, the
 * first 16 come back out (the other 4 were freed, and new buffers may
 * take their addresses, so those do not count). */
static void test_slot_limit(void **state)
{
	struct buf_pool *bp = buf_pool_new(1024 * MIB);
	char *p[20], *kept[16];
	size_t size[20], s;
	int reused = 0;

	(void)state;
	for (int i = 0; i < 20; i++)
		p[i] = buf_pool_get(bp, 4096, &size[i]);
	for (int i = 0; i < 20; i++)
		buf_pool_put(bp, p[i], size[i]);
	memcpy(kept, p, sizeof(kept));
	for (int i = 0; i < 20; i++) {
		char *q = buf_pool_get(bp, 4096, &s);

		for (int j = 0; j < 16; j++)
			reused += q == kept[j];
		p[i] = q;
	}
	assert_int_equal(reused, 16);
	for (int i = 0; i < 20; i++)
		buf_pool_put(bp, p[i], 4096);
	buf_pool_free(bp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_aligned),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_byte_limit),
		cmocka_unit_test(test_slot_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
