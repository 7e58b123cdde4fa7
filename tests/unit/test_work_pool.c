/*
 * test_work_pool.c - the pool of threads for waiting handlers
 * (work_pool.h): every job runs once, jobs that block do not hold up
 * the others (the pool grows up to its limit), close waits for what was
 * queued and refuses what comes after.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "timeutil.h"
#include "work_pool.h"

#include "banned.h"

static atomic_int ran;

static void count_job(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
}

/* A job that waits until its gate opens. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int open;
};

static void gated_job(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
	atomic_fetch_add(&ran, 1);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

/* Every job runs exactly once, and close waits for all of them. */
static void test_all_run(void **state)
{
	struct work_pool *pool = work_pool_new(4);
	int i;

	(void)state;
	atomic_store(&ran, 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(work_pool_submit(pool, count_job, NULL), 0);
	work_pool_close(pool);
	assert_int_equal(atomic_load(&ran), 1000);
	assert_true(work_pool_threads(pool) <= 4);
	assert_int_equal(work_pool_submit(pool, count_job, NULL), -ESHUTDOWN);
	work_pool_free(pool);
	assert_int_equal(atomic_load(&ran), 1000);
}

/* Blocked jobs make the pool grow: a later job still runs at once. */
static void test_blocked_jobs_grow(void **state)
{
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			  0 };
	struct work_pool *pool = work_pool_new(8);
	int64_t t0;
	int i;

	(void)state;
	atomic_store(&ran, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(work_pool_submit(pool, gated_job, &g), 0);
	assert_int_equal(work_pool_submit(pool, count_job, NULL), 0);
	t0 = time_mono_ms();
	while (atomic_load(&ran) < 1 && time_mono_ms() - t0 < 5000)
		usleep(1000);
	assert_int_equal(atomic_load(&ran), 1);
	assert_int_equal(work_pool_threads(pool), 6);
	gate_open(&g);
	work_pool_close(pool);
	assert_int_equal(atomic_load(&ran), 6);
	work_pool_free(pool);
}

/* At the limit, further jobs queue and run once a thread is free. */
static void test_limit_queues(void **state)
{
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			  0 };
	struct work_pool *pool = work_pool_new(2);

	(void)state;
	atomic_store(&ran, 0);
	assert_int_equal(work_pool_submit(pool, gated_job, &g), 0);
	assert_int_equal(work_pool_submit(pool, gated_job, &g), 0);
	assert_int_equal(work_pool_submit(pool, count_job, NULL), 0);
	usleep(50 * 1000);
	assert_int_equal(atomic_load(&ran), 0);
	assert_int_equal(work_pool_threads(pool), 2);
	gate_open(&g);
	work_pool_free(pool);
	assert_int_equal(atomic_load(&ran), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_run),
		cmocka_unit_test(test_blocked_jobs_grow),
		cmocka_unit_test(test_limit_queues),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
