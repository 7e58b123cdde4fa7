/*
 * test_leases.c - the master's lease table (masterd/leases.c): a lease
 * granted for its own length (a create's chunk, 10 s) ends then, and a
 * writer that finds it valid extends it by the table's length.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant_for),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
