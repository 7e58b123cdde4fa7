/*
 * oplog.h - the one way namespace changes are made: ops (see namespace.h)
 * submitted by request handlers and applied one transaction at a time
 * with group commit.
 *
 * One submitter at a time, the leader, takes every op queued so far,
 * opens one transaction, applies each op in its own savepoint (a failing
 * op undoes only itself and gets its error), commits once, then wakes
 * every submitter of the batch with its result (oplog.c).
 * Many concurrent requests thus share one commit. oplog_submit() returns
 * only after the op's transaction is committed, so a reader that starts
 * afterwards sees it, and so does the database after a crash of the
 * process. With a sync interval the commit reaches the disk (survives a
 * crash of the machine) within that interval, or at once through
 * oplog_sync(); without one, every commit is fsync()ed before it returns.
 *
 * This is also the seam for replication: a later version appends the
 * batch to a Raft log and applies it once a majority has it; submitters
 * do not change.
 *
 * Calling sequence:
 *     log = oplog_new(ns, sync_ms);  starts the syncer thread (sync_ms)
 *     oplog_submit(log, op, &res);   from any thread, blocks
 *     oplog_free(log);               waits for the last op, syncs
 */
#ifndef MASTERD_OPLOG_H
#define MASTERD_OPLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct ns;
struct oplog;

/* Apply ops to "ns" (borrowed; it must outlive the oplog), syncing
 * commits at most about "sync_ms" milliseconds after they are made (0:
 * each before it is answered). Never NULL (exits if the
 * syncer thread cannot start). */
struct oplog *oplog_new(struct ns *ns, unsigned sync_ms);

/* Wait for the op being applied, refuse new ones, sync, free. NULL is a
 * no-op. */
void oplog_free(struct oplog *log);

/*
 * Queue op (borrowed until the call returns) and wait until it is
 * committed. Returns 0 and sets *result (owned by the caller, an object)
 * or returns the op's negative errno (-EIO if the commit failed, -ESHUTDOWN
 * when the oplog is stopping) with *result NULL. "result" may be NULL to
 * discard the result.
 */
int oplog_submit(struct oplog *log, const json_t *op, json_t **result);

/* Wait until every commit made so far is on disk. 0, -EIO or
 * -ESHUTDOWN. */
int oplog_sync(struct oplog *log);

/* True when every commit is fsync()ed before oplog_submit() returns (no
 * sync interval): a submit then waits for the disk. */
bool oplog_syncs_each_commit(const struct oplog *log);

/* Counters for the status page and metrics. */
struct oplog_stats {
	uint64_t ops;        /* ops applied (including failed ones) */
	uint64_t batches;    /* transactions committed */
	uint64_t failed;     /* ops that returned an error */
	uint64_t syncs;      /* fsyncs of lazily synced commits */
};
void oplog_get_stats(struct oplog *log, struct oplog_stats *stats);

#endif
