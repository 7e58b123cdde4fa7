/*
 * test_leases.c - the master's lease table (masterd/leases.c): a lease
 * granted for its own length (a create's chunk, 10 s) ends then, and a
 * writer that finds it valid extends it by the table's length; ended
 * leases are forgotten LEASES_KEEP_MS later, in any order of expiry,
 * unless extended or locked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../masterd/leases.h"

#include "banned.h"

static const char REPLICAS[3][DFS_ADDR_MAX] = {
	"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"
};

static void test_grant_for(void **state)
{
	struct leases *l = leases_new(60000);
	int64_t expiry;
	bool recent;

	(void)state;
	leases_lock(l, 5);
	assert_int_equal(leases_grant_for(l, 5, REPLICAS, 3, 1, 1000, 10000),
			 11000);
	leases_unlock(l, 5);
	assert_true(leases_is_valid(l, 5, 10999, 1000, &recent));
	assert_false(recent);
	assert_false(leases_is_valid(l, 5, 11000, 1000, NULL));
	assert_true(leases_is_busy(l, 5, 20999, 10000));
	assert_false(leases_is_busy(l, 5, 21001, 10000));

	/* 0: the table's length. */
	leases_lock(l, 6);
	assert_int_equal(leases_grant_for(l, 6, REPLICAS, 3, 2, 1000, 0),
			 61000);
	leases_unlock(l, 6);
	/* A writer that finds the short lease valid extends it by the
	 * table's length, with the same primary. */
	leases_lock(l, 7);
	assert_int_equal(leases_grant_for(l, 7, REPLICAS, 3, 2, 1000, 10000),
			 11000);
	assert_int_equal(leases_find(l, 7, REPLICAS, 3, 5000, &expiry), 2);
	assert_int_equal(expiry, 65000);
	leases_unlock(l, 7);
	leases_free(l);
}

/* Grant chunk "h" a lease of "len_ms" at "now". */
static void grant(struct leases *l, uint64_t h, int64_t now, int64_t len_ms)
{
	leases_lock(l, h);
	leases_grant_for(l, h, REPLICAS, 3, 0, now, len_ms);
	leases_unlock(l, h);
}

/* A steady stream of creates keeps the table at the leases of the last
 * lease length plus LEASES_KEEP_MS, not at every lease ever granted. */
static void test_prune_bounds_table(void **state)
{
	const int64_t len = 10000, step = 10;
	const uint64_t n = 20000;
	struct leases *l = leases_new(60000);
	uint64_t h;

	(void)state;
	for (h = 1; h <= n; h++)
		grant(l, h, (int64_t)h * step, len);
	/* Kept at the last grant (t = n * step): the leases that ended at
	 * t - KEEP or later, granted at t - KEEP - len or later. */
	assert_int_equal(leases_count(l), (LEASES_KEEP_MS + len) / step + 1);
	assert_true(leases_is_busy(l, n, n * step + len + 9999, 10000));
	leases_free(l);
}

/* Leases of different lengths end out of the order they were granted;
 * an extended one and a locked one are kept, and the grace of
 * leases_is_busy() is honoured until the lease is forgotten. */
static void test_prune_out_of_order(void **state)
{
	struct leases *l = leases_new(60000);
	const int64_t keep = LEASES_KEEP_MS;
	int64_t expiry;

	(void)state;
	grant(l, 1, 0, 100000); /* ends at 100000 */
	grant(l, 2, 0, 1000);	/* ends at 1000 */
	grant(l, 3, 0, 1000);	/* extended below to 60500 */
	grant(l, 4, 0, 1000);	/* locked while the table prunes */
	leases_lock(l, 3);
	assert_int_equal(leases_find(l, 3, REPLICAS, 3, 500, &expiry), 0);
	assert_int_equal(expiry, 60500);
	leases_unlock(l, 3);
	leases_lock(l, 4);
	assert_int_equal(leases_count(l), 4);

	/* Chunk 2 ended at 1000: busy until the keep ends, then gone. */
	grant(l, 10, 1000 + keep - 1, 0);
	assert_int_equal(leases_count(l), 5);
	assert_true(leases_is_busy(l, 2, 1000 + keep - 1, keep));
	grant(l, 11, 1001 + keep, 0);
	assert_int_equal(leases_count(l), 5);
	assert_false(leases_is_busy(l, 2, 1001 + keep, keep));

	/* Past chunk 3's extended end: 3 goes, locked 4 stays. */
	grant(l, 12, 60501 + keep, 0);
	assert_false(leases_is_busy(l, 3, 60501 + keep, keep));
	assert_true(leases_is_valid(l, 1, 60501 + keep, 0, NULL));
	assert_int_equal(leases_count(l), 5); /* 1, 4, 10, 11, 12 */
	leases_unlock(l, 4);
	grant(l, 13, 60502 + keep, 0);
	assert_int_equal(leases_count(l), 5); /* 1, 10, 11, 12, 13 */
	assert_false(leases_is_busy(l, 4, 60502 + keep, keep));
	leases_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant_for),
		cmocka_unit_test(test_prune_bounds_table),
		cmocka_unit_test(test_prune_out_of_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
