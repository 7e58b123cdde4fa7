/*
 * oplog.c - the writer thread and its queue (see oplog.h).
 *
 * Gathering: with N clients each waiting for its previous op, the
 * clients of batch k come back while batch k+1 commits, so N clients
 * settle into two alternating batches of N/2 and every fsync carries half
 * of what it could. Before taking a batch the writer therefore waits a
 * little (at most about one commit time) while fewer ops are queued than
 * there were distinct submitters (threads; one per HTTP connection) in
 * the last two batches. A wait in which nobody arrived turns gathering
 * off for a while, so a lone client alternating between connections
 * does not pay for it.
 *
 * Syncing: with a sync interval (lazy syncing, namespace.h) a commit is
 * written to SQLite's WAL but fsync()ed only by the first batch that
 * ends at least one interval after the oldest unsynced commit, by the
 * writer when it goes idle for that long, or at once for a batch holding
 * a barrier (oplog_sync(): a client's fsync()). Without an interval every
 * commit is fsync()ed by SQLite itself.
 *
 * THREAD SAFETY: "lock" guards queue, qlen, wake_at, stopping and stats.
 * A request lives on its submitter's stack; the writer owns it from
 * take_batch() until it posts the request's semaphore, its last access.
 * The gathering state (recent[], batch_no, backoff, commit_us) belongs to
 * the writer thread alone.
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

/* Distinct recent submitters tracked for gathering. */
#define OPLOG_RECENT_MAX 64

/* Bounds of one gathering wait, microseconds. */
#define OPLOG_GATHER_MIN_US 50
#define OPLOG_GATHER_MAX_US 1000

/* Batches without gathering after a wait in which nobody came. */
#define OPLOG_GATHER_BACKOFF 16

struct oplog_req {
	/* The op to apply (borrowed from the submitter); NULL for a sync
	 * barrier. */
	const json_t *op;
	/* Sync every commit so far before answering. */
	bool durable;
	/* Its result object, or NULL on failure. */
	json_t *result;
	/* 0 or the op's negative errno. */
	int err;
	/* Who submitted it (the submitting thread). */
	uint64_t who;
	/* Posted by the writer once the result is final. */
	sem_t done;
	STAILQ_ENTRY(oplog_req) link;
};

STAILQ_HEAD(oplog_queue, oplog_req);

/* A submitter seen recently. */
struct oplog_recent {
	uint64_t who;
	uint64_t batch_no;   /* last batch it had an op in */
};

struct oplog {
	/* The namespace the writer applies ops to (borrowed). */
	struct ns *ns;
	/* The writer thread. */
	pthread_t thread;
	pthread_mutex_t lock;
	/* Signalled when qlen reaches wake_at or stopping is set. */
	pthread_cond_t work;
	/* Ops waiting for the next batch, and how many. */
	struct oplog_queue queue;
	unsigned qlen;
	/* Queue length at which a submitter wakes the writer. */
	unsigned wake_at;
	/* Set by oplog_free(): no new ops, drain and exit. */
	bool stopping;
	struct oplog_stats stats;
	/* Longest time a commit stays unsynced, µs; 0: SQLite syncs each. */
	int64_t sync_us;
	/* Writer only: when the oldest unsynced commit was made, or 0. */
	int64_t dirty_since;
	/* Writer-only gathering state. */
	struct oplog_recent recent[OPLOG_RECENT_MAX];
	uint64_t batch_no;
	unsigned backoff;
	int64_t commit_us;
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Record the submitters of a batch (writer only). */
static void note_submitters(struct oplog *log, struct oplog_queue *batch)
{
	struct oplog_recent *slot, *oldest;
	struct oplog_req *req;
	int i;

	log->batch_no++;
	STAILQ_FOREACH (req, batch, link) {
		slot = NULL;
		oldest = &log->recent[0];
		for (i = 0; i < OPLOG_RECENT_MAX && slot == NULL; i++) {
			if (log->recent[i].who == req->who)
				slot = &log->recent[i];
			else if (log->recent[i].batch_no < oldest->batch_no)
				oldest = &log->recent[i];
		}
		if (slot == NULL) {
			slot = oldest;
			slot->who = req->who;
		}
		slot->batch_no = log->batch_no;
	}
}

/* Distinct submitters of the last two batches (writer only). */
static unsigned recent_submitters(const struct oplog *log)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < OPLOG_RECENT_MAX; i++)
		if (log->recent[i].batch_no != 0 &&
		    log->recent[i].batch_no + 1 >= log->batch_no)
			n++;
	return n;
}

/* Wait (locked) a little for the submitters of the last batches. */
static void gather(struct oplog *log)
{
	unsigned expected = recent_submitters(log), before = log->qlen;
	int64_t wait_us = log->commit_us;
	struct timespec ts;

	if (log->backoff > 0) {
		log->backoff--;
		return;
	}
	if (log->qlen >= expected || log->stopping)
		return;
	if (wait_us < OPLOG_GATHER_MIN_US)
		wait_us = OPLOG_GATHER_MIN_US;
	if (wait_us > OPLOG_GATHER_MAX_US)
		wait_us = OPLOG_GATHER_MAX_US;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += wait_us * 1000;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	log->wake_at = expected;
	while (log->qlen < expected && !log->stopping)
		if (pthread_cond_timedwait(&log->work, &log->lock, &ts) != 0)
			break;
	if (log->qlen == before)
		log->backoff = OPLOG_GATHER_BACKOFF;
}

/* Move up to OPLOG_BATCH_MAX queued requests into "batch" (locked);
 * returns how many. */
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

/* Apply a batch's ops in one transaction (unlocked). Returns how many
 * ops failed. */
static unsigned run_batch(struct oplog *log, struct oplog_queue *batch)
{
	struct oplog_req *req;
	unsigned n = 0, failed = 0;
	int64_t t0;
	int r;

	STAILQ_FOREACH (req, batch, link)
		n += req->op != NULL;
	if (n == 0)
		return 0;
	n = 0;
	if ((r = ns_begin(log->ns)) != 0) {
		log_errorx("cannot begin a transaction: %s", strerror(-r));
		fail_batch(batch, -EIO);
		return 0;
	}
	STAILQ_FOREACH (req, batch, link) {
		if (req->op == NULL)
			continue;
		req->err = ns_apply(log->ns, req->op, &req->result);
		failed += req->err != 0;
		n++;
	}
	t0 = mono_us();
	if ((r = ns_commit(log->ns)) != 0) {
		log_errorx("cannot commit %u ops: %s", n, strerror(-r));
		ns_rollback(log->ns);
		fail_batch(batch, -EIO);
		failed = n;
	}
	log->commit_us = mono_us() - t0;
	if (log->dirty_since == 0)
		log->dirty_since = mono_us();
	return failed;
}

/* fsync every commit so far (writer only, unlocked). */
static int sync_now(struct oplog *log)
{
	int r = 0;

	if (log->sync_us > 0 && log->dirty_since != 0) {
		if ((r = ns_sync(log->ns)) == 0)
			log->dirty_since = 0;
		pthread_mutex_lock(&log->lock);
		log->stats.syncs++;
		pthread_mutex_unlock(&log->lock);
	}
	return r;
}

/* After a batch: sync if it holds a barrier or the interval is up. */
static void sync_batch(struct oplog *log, struct oplog_queue *batch)
{
	struct oplog_req *req;
	bool durable = false;
	int r;

	STAILQ_FOREACH (req, batch, link)
		durable |= req->durable;
	if (!durable && (log->dirty_since == 0 ||
			 mono_us() - log->dirty_since < log->sync_us))
		return;
	if ((r = sync_now(log)) == 0)
		return;
	STAILQ_FOREACH (req, batch, link)
		if (req->op == NULL)
			req->err = r;
}

/* Wait (locked) for ops; past the sync interval of an unsynced commit,
 * sync it. Returns with ops queued or stopping set. */
static void wait_for_work(struct oplog *log)
{
	struct timespec ts;
	int64_t due;

	while (log->qlen == 0 && !log->stopping) {
		if (log->sync_us == 0 || log->dirty_since == 0) {
			pthread_cond_wait(&log->work, &log->lock);
			continue;
		}
		due = log->dirty_since + log->sync_us;
		if (mono_us() >= due) {
			pthread_mutex_unlock(&log->lock);
			sync_now(log);
			pthread_mutex_lock(&log->lock);
			continue;
		}
		ts.tv_sec = due / 1000000;
		ts.tv_nsec = (due % 1000000) * 1000;
		pthread_cond_timedwait(&log->work, &log->lock, &ts);
	}
}

/* Wake every submitter of a batch; the requests are theirs again. */
static void finish_batch(struct oplog_queue *batch)
{
	struct oplog_req *req, *next;

	for (req = STAILQ_FIRST(batch); req != NULL; req = next) {
		next = STAILQ_NEXT(req, link);
		sem_post(&req->done);
	}
}

static void *writer_main(void *arg)
{
	struct oplog *log = arg;
	struct oplog_queue batch;
	unsigned n, failed;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		log->wake_at = 1;
		wait_for_work(log);
		if (log->qlen == 0)
			break;
		gather(log);
		log->wake_at = UINT32_MAX;
		n = take_batch(log, &batch);
		pthread_mutex_unlock(&log->lock);
		failed = run_batch(log, &batch);
		if (log->sync_us > 0)
			sync_batch(log, &batch);
		note_submitters(log, &batch);
		finish_batch(&batch);
		pthread_mutex_lock(&log->lock);
		log->stats.batches++;
		log->stats.ops += n;
		log->stats.failed += failed;
	}
	pthread_mutex_unlock(&log->lock);
	if (sync_now(log) != 0)
		log_errorx("cannot sync the last metadata commits");
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
	pthread_cond_init(&log->work, &ca);
	pthread_condattr_destroy(&ca);
	STAILQ_INIT(&log->queue);
	if ((r = pthread_create(&log->thread, NULL, writer_main, log)) != 0) {
		errno = r;
		fatal("cannot start the writer thread");
	}
	return log;
}

void oplog_free(struct oplog *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stopping = true;
	pthread_cond_signal(&log->work);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->thread, NULL);
	pthread_cond_destroy(&log->work);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

/* Queue a request and wait for its end. */
static int submit(struct oplog *log, const json_t *op, bool durable,
		  json_t **result)
{
	struct oplog_req req = { .op = op,
				 .durable = durable,
				 .who = (uint64_t)pthread_self() };

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
	if (++log->qlen >= log->wake_at)
		pthread_cond_signal(&log->work);
	pthread_mutex_unlock(&log->lock);
	while (sem_wait(&req.done) != 0)
		;
	sem_destroy(&req.done);
	if (result != NULL)
		*result = req.result;
	else
		json_decref(req.result);
	return req.err;
}

int oplog_submit(struct oplog *log, const json_t *op, json_t **result)
{
	return submit(log, op, false, result);
}

int oplog_sync(struct oplog *log)
{
	return submit(log, NULL, true, NULL);
}

void oplog_get_stats(struct oplog *log, struct oplog_stats *stats)
{
	pthread_mutex_lock(&log->lock);
	*stats = log->stats;
	pthread_mutex_unlock(&log->lock);
}
