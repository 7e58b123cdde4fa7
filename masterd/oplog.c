/*
 * oplog.c - group commit by the submitters themselves (see oplog.h).
 *
 * Leader and followers: the one writer role ("busy") is held by one
 * submitting thread at a time, the leader. A submitter that finds the
 * role free takes it and applies everything queued, its own op included,
 * in one transaction: an uncontended op costs no hand-off to another
 * thread (on a virtual machine each wake-up of an idle CPU costs tens of
 * microseconds, and a writer thread costs two per op). Submitters that
 * arrive meanwhile queue up and sleep; they are the next batch. When its
 * own op is done the leader answers its batch and, if more is queued,
 * hands the role to the oldest queued submitter, which then leads.
 *
 * Syncing: with a sync interval (lazy syncing, namespace.h) a commit is
 * written to SQLite's WAL but not fsync()ed by the leader; the syncer
 * thread fsyncs the WAL every interval if anything was committed since
 * the last sync, and oplog_sync() (a client's fsync()) does it at once on
 * its caller's thread. Neither holds the writer role, so a slow disk
 * flush never stalls the commits behind it. Without an interval every
 * commit is fsync()ed by SQLite itself.
 *
 * THREAD SAFETY: "lock" guards queue, qlen, busy, stopping, synced and
 * stats. The write connection belongs to whoever holds the
 * role; taking and passing it under "lock" orders their accesses. A
 * request lives on its submitter's stack; the leader owns it from
 * take_batch() until it posts the request's semaphore, its last access.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "log.h"
#include "namespace.h"
#include "oplog.h"
#include "xmalloc.h"
#include "banned.h"

/* Most ops applied in one transaction, to bound its latency. */
#define OPLOG_BATCH_MAX 4096

struct oplog_req {
	/* The op to apply (borrowed from the submitter). */
	const json_t *op;
	/* Its result object, or NULL on failure. */
	json_t *result;
	/* 0 or the op's negative errno. */
	int err;
	/* Set with "done" posted: the result is final. */
	bool finished;
	/* Set with "done" posted: the submitter now holds the role. */
	bool lead;
	/* Posted by a leader: finished or lead is set. */
	sem_t done;
	STAILQ_ENTRY(oplog_req) link;
};

STAILQ_HEAD(oplog_queue, oplog_req);

struct oplog {
	/* The namespace ops apply to (borrowed). */
	struct ns *ns;
	pthread_mutex_t lock;
	/* Ops waiting for a leader, and how many. */
	struct oplog_queue queue;
	unsigned qlen;
	/* Someone holds the writer role. */
	bool busy;
	/* Set by oplog_free(): no new ops. */
	bool stopping;
	/* Signalled when the role is released while stopping. */
	pthread_cond_t idle;
	/* Signalled when stopping is set, for the syncer. */
	pthread_cond_t stop;
	struct oplog_stats stats;
	/* Sync interval, µs; 0: SQLite syncs each commit. */
	int64_t sync_us;
	/* How many transactions (stats.batches) a sync covered. */
	uint64_t synced;
	/* Syncs commits when nobody else does (only with sync_us). */
	pthread_t syncer;
	bool syncer_started;
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Move up to OPLOG_BATCH_MAX queued requests into "batch" (locked). */
static unsigned take_batch(struct oplog *log, struct oplog_queue *batch)
{
	struct oplog_req *req;
	unsigned n;

	STAILQ_INIT(batch);
	for (n = 0; n < OPLOG_BATCH_MAX; n++) {
		if ((req = STAILQ_FIRST(&log->queue)) == NULL)
			break;
		STAILQ_REMOVE_HEAD(&log->queue, link);
		STAILQ_INSERT_TAIL(batch, req, link);
		log->qlen--;
	}
	return n;
}

/* Fail every request of a batch with "err", dropping results. */
static void fail_batch(struct oplog_queue *batch, int err)
{
	struct oplog_req *req;

	STAILQ_FOREACH (req, batch, link) {
		json_decref(req->result);
		req->result = NULL;
		req->err = err;
	}
}

/* Apply a batch's ops in one transaction (role held, unlocked). Returns
 * how many ops failed. */
static unsigned run_batch(struct oplog *log, struct oplog_queue *batch)
{
	struct oplog_req *req;
	unsigned n = 0, failed = 0;
	int r;

	if ((r = ns_begin(log->ns)) != 0) {
		log_errorx("cannot begin a transaction: %s", strerror(-r));
		fail_batch(batch, -EIO);
		return 0;
	}
	STAILQ_FOREACH (req, batch, link) {
		req->err = ns_apply(log->ns, req->op, &req->result);
		failed += req->err != 0;
		n++;
	}
	if ((r = ns_commit(log->ns)) != 0) {
		log_errorx("cannot commit %u ops: %s", n, strerror(-r));
		ns_rollback(log->ns);
		fail_batch(batch, -EIO);
		failed = n;
	}
	return failed;
}

/* fsync every commit made so far, if a sync did not cover it yet (any
 * thread, unlocked). 0 or -EIO. */
static int sync_commits(struct oplog *log)
{
	uint64_t target, synced;
	int r;

	if (log->sync_us == 0)
		return 0;
	pthread_mutex_lock(&log->lock);
	target = log->stats.batches;
	synced = log->synced;
	pthread_mutex_unlock(&log->lock);
	if (target == synced)
		return 0;
	r = ns_sync(log->ns);
	pthread_mutex_lock(&log->lock);
	if (r == 0 && log->synced < target)
		log->synced = target;
	log->stats.syncs += r == 0;
	pthread_mutex_unlock(&log->lock);
	return r != 0 ? -EIO : 0;
}

/* Answer a batch's requests but "self" (whose owner is running). */
static void finish_batch(struct oplog_queue *batch, struct oplog_req *self)
{
	struct oplog_req *req, *next;

	for (req = STAILQ_FIRST(batch); req != NULL; req = next) {
		next = STAILQ_NEXT(req, link);
		req->finished = true;
		if (req != self)
			sem_post(&req->done);
	}
}

/* Give up the role (locked): to the oldest queued submitter, or free. */
static void pass_role(struct oplog *log)
{
	struct oplog_req *next = STAILQ_FIRST(&log->queue);

	if (next != NULL) {
		next->lead = true;
		sem_post(&next->done);
		return;
	}
	log->busy = false;
	if (log->stopping)
		pthread_cond_broadcast(&log->idle);
}

/* Apply batches until "self" is finished (role held, locked; returns
 * locked, role passed on). */
static void lead(struct oplog *log, struct oplog_req *self)
{
	struct oplog_queue batch;
	unsigned n, failed;

	while (!self->finished) {
		n = take_batch(log, &batch);
		pthread_mutex_unlock(&log->lock);
		failed = run_batch(log, &batch);
		/* Counted before anyone is answered: a sync asked for after
		 * an answer must cover its commit. */
		pthread_mutex_lock(&log->lock);
		log->stats.batches++;
		log->stats.ops += n;
		log->stats.failed += failed;
		pthread_mutex_unlock(&log->lock);
		finish_batch(&batch, self);
		pthread_mutex_lock(&log->lock);
	}
	pass_role(log);
}

/* The syncer: every interval, sync what was committed since the last
 * sync, so a commit waits about one interval at most. */
static void *syncer_main(void *arg)
{
	struct oplog *log = arg;
	struct timespec ts;
	int64_t due;

	pthread_mutex_lock(&log->lock);
	while (!log->stopping) {
		due = mono_us() + log->sync_us;
		ts.tv_sec = due / 1000000;
		ts.tv_nsec = (due % 1000000) * 1000;
		pthread_cond_timedwait(&log->stop, &log->lock, &ts);
		if (log->stopping)
			break;
		pthread_mutex_unlock(&log->lock);
		if (sync_commits(log) != 0)
			log_errorx("cannot sync metadata commits");
		pthread_mutex_lock(&log->lock);
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

struct oplog *oplog_new(struct ns *ns, unsigned sync_ms)
{
	struct oplog *log;
	pthread_condattr_t ca;
	int r;

	log = xcalloc(1, sizeof(*log));
	log->ns = ns;
	log->sync_us = (int64_t)sync_ms * 1000;
	if (ns_set_lazy_sync(ns, sync_ms > 0) != 0)
		fatalx("cannot set the database's sync mode");
	pthread_mutex_init(&log->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->idle, &ca);
	pthread_cond_init(&log->stop, &ca);
	pthread_condattr_destroy(&ca);
	STAILQ_INIT(&log->queue);
	if (log->sync_us > 0) {
		if ((r = pthread_create(&log->syncer, NULL, syncer_main,
					log)) != 0) {
			errno = r;
			fatal("cannot start the metadata syncer thread");
		}
		log->syncer_started = true;
	}
	return log;
}

void oplog_free(struct oplog *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stopping = true;
	pthread_cond_signal(&log->stop);
	while (log->busy)
		pthread_cond_wait(&log->idle, &log->lock);
	log->busy = true;
	pthread_mutex_unlock(&log->lock);
	if (log->syncer_started)
		pthread_join(log->syncer, NULL);
	if (sync_commits(log) != 0)
		log_errorx("cannot sync the last metadata commits");
	pthread_cond_destroy(&log->idle);
	pthread_cond_destroy(&log->stop);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

int oplog_submit(struct oplog *log, const json_t *op, json_t **result)
{
	struct oplog_req req = { .op = op };

	if (result != NULL)
		*result = NULL;
	sem_init(&req.done, 0, 0);
	pthread_mutex_lock(&log->lock);
	if (log->stopping) {
		pthread_mutex_unlock(&log->lock);
		sem_destroy(&req.done);
		return -ESHUTDOWN;
	}
	STAILQ_INSERT_TAIL(&log->queue, &req, link);
	log->qlen++;
	if (!log->busy) {
		log->busy = true;
		lead(log, &req);
	} else {
		pthread_mutex_unlock(&log->lock);
		while (sem_wait(&req.done) != 0)
			;
		pthread_mutex_lock(&log->lock);
		if (!req.finished)
			lead(log, &req);
	}
	pthread_mutex_unlock(&log->lock);
	sem_destroy(&req.done);
	if (result != NULL)
		*result = req.result;
	else
		json_decref(req.result);
	return req.err;
}

int oplog_sync(struct oplog *log)
{
	/* Whatever was acknowledged before this call is committed, i.e.
	 * written to the WAL: syncing the WAL now covers it. */
	return sync_commits(log);
}

bool oplog_syncs_each_commit(const struct oplog *log)
{
	return log->sync_us == 0;
}

void oplog_get_stats(struct oplog *log, struct oplog_stats *stats)
{
	pthread_mutex_lock(&log->lock);
	*stats = log->stats;
	pthread_mutex_unlock(&log->lock);
}
