/*
 * leases.h - write leases, in memory: chunk handle -> (primary, replica
 * set, expiry).
 *
 * The primary of a chunk orders its mutations until the lease expires
 * (SPEC 3). A lease covers one replica set: while it is valid and the
 * chunk's live replicas are exactly that set, it is extended and handed
 * out again, so one primary serves a stream of writes. Any change of the
 * set (a replica died or was dropped, a copy was added) needs a new lease,
 * and every new lease of an existing chunk comes with a new chunk version
 * (versions.h), so a replica that missed mutations is recognisably stale.
 * Leases are not persisted: after a master restart a chunk gets a new
 * lease, hence a new version.
 *
 * Granting a lease is not atomic (the version goes to the replicas first,
 * then to the database), so each chunk has a grant lock: leases_lock()
 * serialises the threads that grant, revoke or inspect the lease of one
 * chunk, without holding up other chunks.
 *
 * Calling sequence (EP_CHUNKS write):
 *     leases_lock(l, h);
 *     i = leases_find(l, h, live, n, now, &expiry);
 *     if (i < 0) { bump the version...; expiry = leases_grant(...); }
 *     leases_unlock(l, h);
 *
 * Thread-safe (one mutex and a condition for the grant locks).
 */
#ifndef MASTERD_LEASES_H
#define MASTERD_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfs_proto.h"

struct leases;

/* Default lease length. */
#define LEASES_DEFAULT_MS 60000

/* A lease is forgotten this long after it ends: the largest grace
 * leases_is_busy() can honour. */
#define LEASES_KEEP_MS 30000

/* New, empty table granting leases of "duration_ms". Never NULL. */
struct leases *leases_new(int64_t duration_ms);

/* Free the table; no lock may be held. NULL is a no-op. */
void leases_free(struct leases *l);

/* Take the grant lock of chunk "handle", waiting while another thread
 * holds it. Every other call about "handle" below except leases_is_*()
 * must be made with it held. */
void leases_lock(struct leases *l, uint64_t handle);

/* Release a grant lock taken by leases_lock(). */
void leases_unlock(struct leases *l, uint64_t handle);

/*
 * The valid lease of "handle" over exactly the replicas live[0..nlive-1]
 * (in any order): returns the index of its primary in live[], extends it
 * to now + duration and sets *expiry_ms (ms since the epoch). Returns -1
 * when there is no such lease (none, expired, other set, primary gone).
 */
int leases_find(struct leases *l, uint64_t handle,
		const char (*live)[DFS_ADDR_MAX], int nlive, int64_t now_ms,
		int64_t *expiry_ms);

/* Grant a new lease of "handle" to live[primary] over live[0..nlive-1]
 * (0 <= primary < nlive). Returns its expiry, ms since the epoch. */
int64_t leases_grant(struct leases *l, uint64_t handle,
		     const char (*live)[DFS_ADDR_MAX], int nlive, int primary,
		     int64_t now_ms);

/* The same for "duration_ms" (0: the table's duration); a later
 * leases_find() extends it by the table's. */
int64_t leases_grant_for(struct leases *l, uint64_t handle,
			 const char (*live)[DFS_ADDR_MAX], int nlive,
			 int primary, int64_t now_ms, int64_t duration_ms);

/* End the lease of "handle" now (if any); it still counts as busy for
 * the grace of leases_is_busy(). */
void leases_drop(struct leases *l, uint64_t handle, int64_t now_ms);

/* True while chunk "handle" has a lease or had one in the last "grace_ms"
 * (its replicas may be in the middle of being written); "grace_ms" is at
 * most LEASES_KEEP_MS. No lock needed. */
bool leases_is_busy(struct leases *l, uint64_t handle, int64_t now_ms,
		    int64_t grace_ms);

/* True if "handle" has an unexpired lease (a client may be writing with
 * it). *recent, if not NULL, tells whether it was handed out in the last
 * "recent_ms" (the writer is active). No lock needed. */
bool leases_is_valid(struct leases *l, uint64_t handle, int64_t now_ms,
		     int64_t recent_ms, bool *recent);

/* Leases in the table: valid ones, those that ended in the last
 * LEASES_KEEP_MS, and chunks whose grant lock is held. */
size_t leases_count(struct leases *l);

#endif
