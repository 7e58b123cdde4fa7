/*
 * work_pool.c - a pool of threads that run jobs which may block (see
 * work_pool.h).
 *
 * THREAD SAFETY: "lock" guards everything but max_threads (constant).
 * A job is owned by the queue until a thread takes it, then by that
 * thread until it has run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "work_pool.h"
#include "xmalloc.h"
#include "banned.h"

struct work_job {
	work_fn fn;
	void *arg;
	STAILQ_ENTRY(work_job) link;
};

struct work_thread {
	pthread_t tid;
	SLIST_ENTRY(work_thread) link;
};

struct work_pool {
	pthread_mutex_t lock;
	/* Signalled when a job is queued or the pool stops. */
	pthread_cond_t work;
	/* Signalled when the pool has nothing queued or running. */
	pthread_cond_t idle;
	STAILQ_HEAD(, work_job) queue;
	SLIST_HEAD(, work_thread) threads;
	unsigned nthreads; /* started */
	unsigned nidle;	   /* waiting for a job */
	unsigned nqueued;  /* jobs in the queue */
	unsigned running;  /* jobs being run */
	unsigned max_threads;
	bool closed;   /* no new jobs */
	bool stopping; /* threads exit once the queue is empty */
};

static void *worker_main(void *arg)
{
	struct work_pool *pool = arg;
	struct work_job *job;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while ((job = STAILQ_FIRST(&pool->queue)) == NULL &&
		       !pool->stopping) {
			pool->nidle++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->nidle--;
		}
		if (job == NULL)
			break;
		STAILQ_REMOVE_HEAD(&pool->queue, link);
		pool->nqueued--;
		pool->running++;
		pthread_mutex_unlock(&pool->lock);
		job->fn(job->arg);
		free(job);
		pthread_mutex_lock(&pool->lock);
		pool->running--;
		if (pool->running == 0 && STAILQ_EMPTY(&pool->queue))
			pthread_cond_broadcast(&pool->idle);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct work_pool *work_pool_new(unsigned max_threads)
{
	struct work_pool *pool = xcalloc(1, sizeof(*pool));

	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->idle, NULL);
	STAILQ_INIT(&pool->queue);
	SLIST_INIT(&pool->threads);
	pool->max_threads = max_threads > 0 ? max_threads : 1;
	return pool;
}

/* Start one more thread if the queue holds more jobs than threads wait
 * for one (locked): an idle thread already signalled still counts as
 * idle until it wakes. */
static void maybe_grow(struct work_pool *pool)
{
	struct work_thread *t;
	int r;

	if (pool->nqueued <= pool->nidle || pool->nthreads >= pool->max_threads)
		return;
	t = xcalloc(1, sizeof(*t));
	if ((r = pthread_create(&t->tid, NULL, worker_main, pool)) != 0) {
		log_errorx("cannot start a worker thread (%u running): %s",
			   pool->nthreads, strerror(r));
		free(t);
		return;
	}
	SLIST_INSERT_HEAD(&pool->threads, t, link);
	pool->nthreads++;
}

int work_pool_submit(struct work_pool *pool, work_fn fn, void *arg)
{
	struct work_job *job;

	pthread_mutex_lock(&pool->lock);
	if (pool->closed) {
		pthread_mutex_unlock(&pool->lock);
		return -ESHUTDOWN;
	}
	job = xmalloc(sizeof(*job));
	job->fn = fn;
	job->arg = arg;
	STAILQ_INSERT_TAIL(&pool->queue, job, link);
	pool->nqueued++;
	maybe_grow(pool);
	if (pool->nthreads == 0) {
		STAILQ_REMOVE_HEAD(&pool->queue, link);
		pool->nqueued--;
		pthread_mutex_unlock(&pool->lock);
		free(job);
		return -EAGAIN;
	}
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

void work_pool_close(struct work_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->closed = true;
	while (pool->running > 0 || !STAILQ_EMPTY(&pool->queue))
		pthread_cond_wait(&pool->idle, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}

void work_pool_free(struct work_pool *pool)
{
	struct work_thread *t;

	if (pool == NULL)
		return;
	work_pool_close(pool);
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	while ((t = SLIST_FIRST(&pool->threads)) != NULL) {
		SLIST_REMOVE_HEAD(&pool->threads, link);
		pthread_join(t->tid, NULL);
		free(t);
	}
	pthread_cond_destroy(&pool->idle);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

unsigned work_pool_threads(struct work_pool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->lock);
	n = pool->nthreads;
	pthread_mutex_unlock(&pool->lock);
	return n;
}
