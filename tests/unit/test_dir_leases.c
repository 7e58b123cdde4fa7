/*
 * test_dir_leases.c - leases on directories' names (masterd/dir_leases.h):
 * the start's grace, grants and renewals with the holder's changes,
 * another client's change waiting out the lease, no renewal while it
 * waits, no grant while another client's change is under way, nor for
 * a while after the directory changed hands.
 * Leases of 100 ms; waits are checked against the clock with room for a
 * slow machine.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../masterd/dir_leases.h"
#include "timeutil.h"

#include "banned.h"

#define LEASE 100

struct other {
	struct dir_leases *dl;
	uint64_t dir;
	int64_t waited_ms;
	enum dir_lease_how how;
	pthread_t tid;
};

static void *other_change(void *arg)
{
	struct other *o = arg;
	int64_t t0 = time_mono_ms();

	o->how = dir_lease_enter(o->dl, o->dir, 0, false);
	o->waited_ms = time_mono_ms() - t0;
	dir_lease_leave(o->dl, o->dir, o->how);
	return NULL;
}

static void start_other(struct other *o, struct dir_leases *dl, uint64_t dir)
{
	o->dl = dl;
	o->dir = dir;
	assert_int_equal(pthread_create(&o->tid, NULL, other_change, o), 0);
}

/* After the grace, a session's changes get and renew the lease. */
static void test_grace_and_renewal(void **state)
{
	int64_t t0 = time_mono_ms();
	struct dir_leases *dl = dir_leases_new(LEASE);
	enum dir_lease_how how;

	(void)state;
	how = dir_lease_enter(dl, 10, 1, true);
	assert_true(time_mono_ms() - t0 >= LEASE - 5);
	assert_int_equal(how, DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 10, how);
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 10, how);
	/* Without asking, or without a session: no lease. */
	assert_int_equal(how = dir_lease_enter(dl, 11, 1, false),
			 DIR_LEASE_OTHER);
	dir_lease_leave(dl, 11, how);
	assert_int_equal(how = dir_lease_enter(dl, 11, 0, true),
			 DIR_LEASE_OTHER);
	dir_lease_leave(dl, 11, how);
	dir_leases_free(dl);
}

/* Another client's change waits for the lease's end; the holder cannot
 * renew it meanwhile; other directories are free. */
static void test_other_waits(void **state)
{
	struct dir_leases *dl = dir_leases_new(LEASE);
	struct other o = { 0 };
	enum dir_lease_how how;
	int64_t granted;

	(void)state;
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_RENEWED);
	granted = time_mono_ms();
	dir_lease_leave(dl, 10, how);
	start_other(&o, dl, 10);
	usleep(20 * 1000);
	/* The holder's own change goes through, without a renewal. */
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_HOLDER);
	dir_lease_leave(dl, 10, how);
	assert_int_equal(how = dir_lease_enter(dl, 99, 2, true),
			 DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 99, how);
	pthread_join(o.tid, NULL);
	assert_int_equal(o.how, DIR_LEASE_OTHER);
	assert_true(o.waited_ms >= LEASE - (time_mono_ms() - granted) - 5 ||
		    o.waited_ms >= LEASE - 30);
	assert_true(o.waited_ms < 10 * LEASE);
	/* The directory changed hands: no lease for a while, then again. */
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_OTHER);
	dir_lease_leave(dl, 10, how);
	usleep((DIR_LEASE_BACKOFF_MS + 50) * 1000);
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 10, how);
	dir_leases_free(dl);
}

/* Where it may not wait, a change is refused (nothing entered) during
 * the grace and while another session holds the lease, and goes through
 * as dir_lease_enter() would otherwise. */
static void test_try_enter(void **state)
{
	struct dir_leases *dl = dir_leases_new(LEASE);
	enum dir_lease_how how;
	int64_t t0 = time_mono_ms();

	(void)state;
	assert_false(dir_lease_try_enter(dl, 10, 1, true, &how));
	while (time_mono_ms() - t0 < LEASE + 5)
		usleep(5 * 1000);
	assert_true(dir_lease_try_enter(dl, 10, 1, true, &how));
	assert_int_equal(how, DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 10, how);
	/* Session 2 must wait for session 1's lease: refused. */
	assert_false(dir_lease_try_enter(dl, 10, 2, true, &how));
	assert_false(dir_lease_try_enter(dl, 10, 0, false, &how));
	/* The holder, and anyone on another directory, go through. */
	assert_true(dir_lease_try_enter(dl, 10, 1, true, &how));
	assert_int_equal(how, DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 10, how);
	assert_true(dir_lease_try_enter(dl, 11, 2, false, &how));
	assert_int_equal(how, DIR_LEASE_OTHER);
	dir_lease_leave(dl, 11, how);
	/* Once the lease ran out, session 2 goes through: no lease for it
	 * (the directory just changed hands). */
	usleep((LEASE + 20) * 1000);
	assert_true(dir_lease_try_enter(dl, 10, 2, true, &how));
	assert_int_equal(how, DIR_LEASE_OTHER);
	dir_lease_leave(dl, 10, how);
	dir_leases_free(dl);
}

/* Directories whose leases ran out and that nobody changes again are
 * swept out, within DIR_LEASE_SWEEP_LEASES leases' time. */
static void test_idle_swept(void **state)
{
	struct dir_leases *dl = dir_leases_new(LEASE);
	enum dir_lease_how how;
	uint64_t dir;

	(void)state;
	for (dir = 100; dir < 3100; dir++) {
		how = dir_lease_enter(dl, dir, 1, true);
		assert_int_equal(how, DIR_LEASE_RENEWED);
		dir_lease_leave(dl, dir, how);
	}
	assert_true(dir_leases_entries(dl) >= 3000 - DIR_LEASE_SWEEP_MIN);
	usleep((DIR_LEASE_SWEEP_LEASES * LEASE + 100) * 1000);
	how = dir_lease_enter(dl, 10, 2, false);
	dir_lease_leave(dl, 10, how);
	assert_int_equal(dir_leases_entries(dl), 0);
	dir_leases_free(dl);
}

/* While another client's change is under way, nobody gets the lease. */
static void test_no_grant_while_running(void **state)
{
	struct dir_leases *dl = dir_leases_new(LEASE);
	enum dir_lease_how other, how;

	(void)state;
	other = dir_lease_enter(dl, 10, 0, false);
	assert_int_equal(other, DIR_LEASE_OTHER);
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_OTHER);
	dir_lease_leave(dl, 10, how);
	dir_lease_leave(dl, 10, other);
	/* Nor right after it (the directory changed hands). */
	assert_int_equal(how = dir_lease_enter(dl, 10, 1, true),
			 DIR_LEASE_OTHER);
	dir_lease_leave(dl, 10, how);
	/* A directory only this session changes keeps it. */
	assert_int_equal(how = dir_lease_enter(dl, 12, 1, true),
			 DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 12, how);
	assert_int_equal(how = dir_lease_enter(dl, 12, 1, true),
			 DIR_LEASE_RENEWED);
	dir_lease_leave(dl, 12, how);
	dir_leases_free(dl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grace_and_renewal),
		cmocka_unit_test(test_other_waits),
		cmocka_unit_test(test_no_grant_while_running),
		cmocka_unit_test(test_try_enter),
		cmocka_unit_test(test_idle_swept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
