/*
 * test_dir_names.c - name lists of directories a mount made
 * (fusefs/dir_names.h): a list answers "missing" only while complete
 * and leased, follows the mount's own changes when their
 * counts follow on, and is dropped by any other count, epoch or change
 * it cannot follow, and by the bound on names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../fusefs/dir_names.h"

#include "banned.h"

#define EPOCH 77
#define AGE 1000

static struct dfs_attr dir_at(uint64_t ino, uint64_t count, uint64_t epoch)
{
	struct dfs_attr a;

	memset(&a, 0, sizeof(a));
	a.ino = ino;
	a.dir_changes = count;
	a.dir_epoch = epoch;
	a.dir_lease_ms = epoch != 0 ? AGE : 0;
	return a;
}

/* mkdir, then creates, an unlink and renames, each confirmed. */
static void test_follows_own_changes(void **state)
{
	struct dir_names *dn = dir_names_new(100);
	struct dfs_attr d = dir_at(10, 5, EPOCH), step;

	(void)state;
	assert_false(dir_names_missing(dn, 10, "a", 0));
	dir_names_made(dn, &d, 0);
	assert_true(dir_names_missing(dn, 10, "a", 1));
	step = dir_at(10, 6, EPOCH);
	dir_names_changed(dn, 10, &step, NULL, "a", 2);
	assert_false(dir_names_missing(dn, 10, "a", 3));
	assert_true(dir_names_missing(dn, 10, "b", 3));
	step = dir_at(10, 7, EPOCH);
	dir_names_changed(dn, 10, &step, "a", "b", 4); /* rename a -> b */
	assert_true(dir_names_missing(dn, 10, "a", 5));
	assert_false(dir_names_missing(dn, 10, "b", 5));
	step = dir_at(10, 8, EPOCH);
	dir_names_changed(dn, 10, &step, "b", NULL, 6); /* unlink */
	assert_true(dir_names_missing(dn, 10, "b", 7));
	assert_int_equal(dir_names_count(dn), 0);
	/* Other directories know nothing. */
	assert_false(dir_names_missing(dn, 11, "b", 7));
	dir_names_free(dn);
}

/* "Missing" holds while the lease lasts, counted from the sending of
 * the change that brought it; a change without one keeps the list but
 * stops the answers until a later change brings one again. */
static void test_answers_lease(void **state)
{
	struct dir_names *dn = dir_names_new(100);
	struct dfs_attr d = dir_at(10, 0, EPOCH), step = dir_at(10, 1, EPOCH);

	(void)state;
	dir_names_made(dn, &d, 100);
	assert_true(dir_names_missing(dn, 10, "x", 100 + AGE - 1));
	assert_false(dir_names_missing(dn, 10, "x", 100 + AGE));
	dir_names_changed(dn, 10, &step, NULL, "y", 5000);
	assert_true(dir_names_missing(dn, 10, "x", 5000 + AGE - 1));
	step = dir_at(10, 2, EPOCH);
	step.dir_lease_ms = 0;
	dir_names_changed(dn, 10, &step, NULL, "z", 6000);
	assert_false(dir_names_missing(dn, 10, "x", 6001));
	step = dir_at(10, 3, EPOCH);
	dir_names_changed(dn, 10, &step, "z", NULL, 7000);
	assert_true(dir_names_missing(dn, 10, "z", 7001));
	assert_false(dir_names_missing(dn, 10, "y", 7001));
	dir_names_free(dn);
}

/* A count that skips (someone else changed it), another epoch (the
 * master restarted), no count, or a removal of an unknown name: the
 * list goes for good. */
static void test_drops(void **state)
{
	struct dir_names *dn = dir_names_new(100);
	struct dfs_attr d = dir_at(10, 0, EPOCH), step;

	(void)state;
	dir_names_made(dn, &d, 0);
	step = dir_at(10, 2, EPOCH);
	dir_names_changed(dn, 10, &step, NULL, "a", 1);
	assert_false(dir_names_missing(dn, 10, "zz", 2));
	/* Gone: even the right next count does not bring it back. */
	step = dir_at(10, 1, EPOCH);
	dir_names_changed(dn, 10, &step, NULL, "a", 3);
	assert_false(dir_names_missing(dn, 10, "zz", 4));

	dir_names_made(dn, &d, 0);
	step = dir_at(10, 1, EPOCH + 1);
	dir_names_changed(dn, 10, &step, NULL, "a", 1);
	assert_false(dir_names_missing(dn, 10, "zz", 2));

	dir_names_made(dn, &d, 0);
	step = dir_at(0, 0, 0); /* a reply without the directory's attrs */
	dir_names_changed(dn, 10, &step, NULL, "a", 1);
	assert_false(dir_names_missing(dn, 10, "zz", 2));

	dir_names_made(dn, &d, 0);
	step = dir_at(10, 1, EPOCH);
	dir_names_changed(dn, 10, &step, "never", NULL, 1);
	assert_false(dir_names_missing(dn, 10, "zz", 2));

	dir_names_made(dn, &d, 0);
	dir_names_drop(dn, 10);
	assert_false(dir_names_missing(dn, 10, "zz", 2));

	/* A master without counts: nothing is kept. */
	step = dir_at(10, 0, 0);
	dir_names_made(dn, &step, 0);
	assert_false(dir_names_missing(dn, 10, "zz", 1));
	assert_int_equal(dir_names_count(dn), 0);
	dir_names_free(dn);
}

/* Past the bound, the least recently confirmed lists go first; a list
 * that cannot grow within it goes. */
static void test_bound(void **state)
{
	struct dir_names *dn = dir_names_new(3);
	struct dfs_attr a = dir_at(1, 0, EPOCH), b = dir_at(2, 0, EPOCH);
	struct dfs_attr step;

	(void)state;
	dir_names_made(dn, &a, 0);
	dir_names_made(dn, &b, 0);
	step = dir_at(1, 1, EPOCH);
	dir_names_changed(dn, 1, &step, NULL, "a1", 1);
	step = dir_at(2, 1, EPOCH);
	dir_names_changed(dn, 2, &step, NULL, "b1", 2);
	step = dir_at(2, 2, EPOCH);
	dir_names_changed(dn, 2, &step, NULL, "b2", 3);
	assert_int_equal(dir_names_count(dn), 3);
	step = dir_at(2, 3, EPOCH);
	dir_names_changed(dn, 2, &step, NULL, "b3", 4); /* list 1 goes */
	assert_int_equal(dir_names_count(dn), 3);
	assert_false(dir_names_missing(dn, 1, "zz", 5));
	assert_true(dir_names_missing(dn, 2, "zz", 5));
	step = dir_at(2, 4, EPOCH);
	dir_names_changed(dn, 2, &step, NULL, "b4", 6); /* no room at all */
	assert_false(dir_names_missing(dn, 2, "zz", 7));
	assert_int_equal(dir_names_count(dn), 0);
	dir_names_free(dn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follows_own_changes),
		cmocka_unit_test(test_answers_lease),
		cmocka_unit_test(test_drops),
		cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
