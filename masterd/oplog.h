/*
 * oplog.h - the one way namespace changes are made: ops (see namespace.h)
 * queued by request handlers and applied by a single writer thread with
 * group commit.
 *
 * The writer takes every op queued so far, opens one transaction, applies
 * each op in its own savepoint (a failing op undoes only itself and gets
 * its error), commits once, then wakes every submitter with its result.
 * Many concurrent requests thus share one fsync. oplog_submit() returns
 * only after the op's transaction is durable, so a reader that starts
 * afterwards sees it.
 *
 * This is also the seam for replication: a later version appends the
 * batch to a Raft log and applies it once a majority has it; submitters
 * do not change.
 *
 * Calling sequence:
 *     log = oplog_new(ns);           starts the writer thread
 *     oplog_submit(log, op, &res);   from any thread, blocks
 *     oplog_free(log);               drains the queue, stops the thread
 */
#ifndef MASTERD_OPLOG_H
#define MASTERD_OPLOG_H

#include <stdint.h>
#include <jansson.h>

struct ns;
struct oplog;

/* Start the writer thread over "ns" (borrowed; it must outlive the
 * oplog). Never NULL (exits if the thread cannot start). */
struct oplog *oplog_new(struct ns *ns);

/* Apply what is still queued, stop the writer. NULL is a no-op. */
void oplog_free(struct oplog *log);

/*
 * Queue op (borrowed until the call returns) and wait until it is
 * committed. Returns 0 and sets *result (owned by the caller, an object)
 * or returns the op's negative errno (-EIO if the commit failed, -ESHUTDOWN
 * when the oplog is stopping) with *result NULL. "result" may be NULL to
 * discard the result.
 */
int oplog_submit(struct oplog *log, const json_t *op, json_t **result);

/* Counters for the status page and metrics. */
struct oplog_stats {
	uint64_t ops;        /* ops applied (including failed ones) */
	uint64_t batches;    /* transactions committed */
	uint64_t failed;     /* ops that returned an error */
};
void oplog_get_stats(struct oplog *log, struct oplog_stats *stats);

#endif
