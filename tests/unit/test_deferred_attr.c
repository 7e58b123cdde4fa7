/*
 * test_deferred_attr.c - attribute changes fusefs keeps for a file's next
 * flush (fusefs/deferred_attr.h): which setattrs may wait, how kept ones
 * combine, how a later setattr takes them along, how they show in attrs,
 * and that a write's or truncate's mtime supersedes a kept one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../../fusefs/deferred_attr.h"
#include "dfs_proto.h"

#include "banned.h"

static const struct timespec T1 = { 1577880000, 123456789 };
static const struct timespec T2 = { 1577880100, 5 };
static const struct timespec NOW = { 1800000000, 42 };

static struct dfs_setattr set_mode(uint32_t mode)
{
	struct dfs_setattr sa = { .valid = PROTO_SET_MODE, .mode = mode };

	return sa;
}

static struct dfs_setattr set_times(struct timespec at, struct timespec mt)
{
	struct dfs_setattr sa = {
		.valid = PROTO_SET_ATIME | PROTO_SET_MTIME,
		.atime = at,
		.mtime = mt,
	};

	return sa;
}

static void test_can_wait(void **state)
{
	struct dfs_setattr sa = set_mode(0600);

	(void)state;
	assert_true(deferred_attr_can_wait(&sa));
	sa = set_times(T1, T2);
	sa.valid |= PROTO_SET_UID | PROTO_SET_GID;
	assert_true(deferred_attr_can_wait(&sa));
	/* A truncate, "now", a size update or nothing at all go at once. */
	sa.valid = PROTO_SET_MODE | PROTO_SET_SIZE;
	assert_false(deferred_attr_can_wait(&sa));
	sa.valid = PROTO_SET_MTIME_NOW;
	assert_false(deferred_attr_can_wait(&sa));
	sa.valid = PROTO_SET_ATIME_NOW | PROTO_SET_MODE;
	assert_false(deferred_attr_can_wait(&sa));
	sa.valid = PROTO_SET_EXTEND;
	assert_false(deferred_attr_can_wait(&sa));
	sa.valid = 0;
	assert_false(deferred_attr_can_wait(&sa));
}

static void test_keep_and_overlay(void **state)
{
	struct deferred_attr d;
	struct dfs_setattr sa;
	struct dfs_attr a;

	(void)state;
	memset(&d, 0, sizeof(d));
	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0644;
	a.uid = 7;
	a.mtime = NOW;
	a.ctime = T1;
	deferred_attr_overlay(&d, &a);
	assert_int_equal(a.mode, S_IFREG | 0644);
	assert_false(deferred_attr_any(&d));

	sa = set_times(T1, T2);
	deferred_attr_keep(&d, &sa, NOW, 1000);
	sa = set_mode(04755);
	deferred_attr_keep(&d, &sa, NOW, 1500);
	assert_true(deferred_attr_any(&d));
	/* The first one kept starts the clock. */
	assert_int_equal(d.first_ms, 1000);
	deferred_attr_overlay(&d, &a);
	assert_int_equal(a.mode, S_IFREG | 04755);
	assert_int_equal(a.uid, 7);
	assert_int_equal(a.atime.tv_sec, T1.tv_sec);
	assert_int_equal(a.mtime.tv_nsec, T2.tv_nsec);
	assert_int_equal(a.ctime.tv_sec, NOW.tv_sec);
	assert_int_equal(a.ctime.tv_nsec, NOW.tv_nsec);
	/* A newer ctime from the master stays. */
	a.ctime.tv_sec = NOW.tv_sec + 1;
	deferred_attr_overlay(&d, &a);
	assert_int_equal(a.ctime.tv_sec, NOW.tv_sec + 1);
	/* Kept again: the newer mode wins. */
	sa = set_mode(0600);
	deferred_attr_keep(&d, &sa, NOW, 1600);
	deferred_attr_overlay(&d, &a);
	assert_int_equal(a.mode, S_IFREG | 0600);
}

static void test_merge(void **state)
{
	struct deferred_attr d;
	struct dfs_setattr sa;

	(void)state;
	memset(&d, 0, sizeof(d));
	sa = set_times(T1, T1);
	sa.valid |= PROTO_SET_MODE | PROTO_SET_UID;
	sa.mode = 0700;
	sa.uid = 5;
	deferred_attr_keep(&d, &sa, NOW, 1);

	/* The flush's size update: the kept fields all go, the kept mtime
	 * after the update's "now" (the master's order). */
	memset(&sa, 0, sizeof(sa));
	sa.valid = PROTO_SET_EXTEND;
	sa.extend = 4096;
	deferred_attr_merge(&d, &sa);
	assert_int_equal(sa.valid, PROTO_SET_EXTEND | PROTO_SET_ATIME |
					   PROTO_SET_MTIME | PROTO_SET_MODE |
					   PROTO_SET_UID);
	assert_int_equal(sa.extend, 4096);
	assert_int_equal(sa.mode, 0700);
	assert_int_equal(sa.mtime.tv_nsec, T1.tv_nsec);

	/* A later chmod wins over the kept mode. */
	sa = set_mode(0640);
	deferred_attr_merge(&d, &sa);
	assert_int_equal(sa.mode, 0640);
	assert_true(sa.valid & PROTO_SET_UID);
	assert_true(sa.valid & PROTO_SET_MTIME);

	/* A truncate's mtime (now) is later than the kept one. */
	memset(&sa, 0, sizeof(sa));
	sa.valid = PROTO_SET_SIZE;
	deferred_attr_merge(&d, &sa);
	assert_int_equal(sa.valid, PROTO_SET_SIZE | PROTO_SET_ATIME |
					   PROTO_SET_MODE | PROTO_SET_UID);

	/* touch: both times now. */
	memset(&sa, 0, sizeof(sa));
	sa.valid = PROTO_SET_ATIME_NOW | PROTO_SET_MTIME_NOW;
	deferred_attr_merge(&d, &sa);
	assert_int_equal(sa.valid, PROTO_SET_ATIME_NOW | PROTO_SET_MTIME_NOW |
					   PROTO_SET_MODE | PROTO_SET_UID);

	/* A later explicit mtime wins. */
	sa = set_times(T2, T2);
	deferred_attr_merge(&d, &sa);
	assert_int_equal(sa.mtime.tv_sec, T2.tv_sec);
	assert_int_equal(sa.atime.tv_sec, T2.tv_sec);
}

static void test_drop_mtime_and_sent(void **state)
{
	struct deferred_attr d;
	struct dfs_setattr sa;
	uint64_t gen;

	(void)state;
	memset(&d, 0, sizeof(d));
	sa = set_times(T1, T1);
	deferred_attr_keep(&d, &sa, NOW, 1);
	gen = d.gen;
	/* A write after the futimens: its own mtime is what counts. */
	deferred_attr_drop_mtime(&d);
	assert_int_equal(d.sa.valid, PROTO_SET_ATIME);
	assert_true(d.gen != gen);
	/* Sent as of an older gen: a change since keeps them. */
	deferred_attr_sent(&d, gen);
	assert_true(deferred_attr_any(&d));
	gen = d.gen;
	deferred_attr_drop_mtime(&d); /* nothing to drop: gen stays */
	assert_int_equal(d.gen, gen);
	deferred_attr_sent(&d, gen);
	assert_false(deferred_attr_any(&d));
	/* Empty again: the next one kept restarts the clock. */
	sa = set_mode(0600);
	deferred_attr_keep(&d, &sa, NOW, 99);
	assert_int_equal(d.first_ms, 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_can_wait),
		cmocka_unit_test(test_keep_and_overlay),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_drop_mtime_and_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
