/*
 * work_pool.h - a pool of threads that run jobs which may block.
 *
 * An event-loop server (http_server.h) runs its quick handlers on its
 * event thread and hands those that may wait (a disk flush, another
 * server's answer, a lease held by someone else) to a pool, so that one
 * slow request never stalls the others of its thread.
 *
 * Threads are started as jobs need them, up to "max_threads"; a job
 * submitted while all of them are busy waits in a FIFO queue. Threads
 * stay until the pool is freed.
 *
 * Calling sequence:
 *     pool = work_pool_new(max_threads);
 *     r = work_pool_submit(pool, fn, arg);  any thread; -ESHUTDOWN once
 *                                           closed
 *     work_pool_close(pool);                refuse new jobs, wait for
 *                                           queued and running ones
 *     work_pool_free(pool);                 closes first if needed
 *
 * Thread-safe.
 */
#ifndef DFS_WORK_POOL_H
#define DFS_WORK_POOL_H

struct work_pool;

typedef void (*work_fn)(void *arg);

/* A pool of at most max_threads threads (at least 1). */
struct work_pool *work_pool_new(unsigned max_threads);

/* Run fn(arg) on a pool thread. 0; -ESHUTDOWN once the pool is closed
 * (fn is not run); -EAGAIN if no thread could be started and none runs. */
int work_pool_submit(struct work_pool *pool, work_fn fn, void *arg);

/* Refuse new jobs and wait until every queued and running job is done. */
void work_pool_close(struct work_pool *pool);

/* Close, stop the threads and free. NULL is a no-op. */
void work_pool_free(struct work_pool *pool);

/* Threads started so far (for tests and metrics). */
unsigned work_pool_threads(struct work_pool *pool);

#endif
