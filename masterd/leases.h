/*
 * leases.h - write leases, in memory: chunk handle -> (primary, expiry).
 *
 * The primary of a chunk orders its mutations until the lease expires
 * (SPEC 3). A valid lease whose primary is still a live replica is
 * extended and handed out again, so one primary serves a stream of
 * writes; otherwise a new lease goes to the first live replica. Leases
 * are not persisted: after a master restart a chunk gets a new lease.
 *
 * Seam for versions: leases_acquire() tells whether the lease is new.
 * A later version bumps the chunk version (an op through the oplog) on
 * every new lease before handing it out, so that a replica which missed
 * mutations is recognisably stale.
 *
 * Thread-safe (one mutex).
 */
#ifndef MASTERD_LEASES_H
#define MASTERD_LEASES_H

#include <stdbool.h>
#include <stdint.h>

#include "dfs_proto.h"

struct leases;

/* Default lease length. */
#define LEASES_DEFAULT_MS 60000

/* New, empty table granting leases of "duration_ms". Never NULL. */
struct leases *leases_new(int64_t duration_ms);

/* Free the table. NULL is a no-op. */
void leases_free(struct leases *l);

/*
 * The lease of "handle" for a write, given the chunk's live replicas
 * live[0..nlive-1] (nlive >= 1): keeps (and extends) a valid lease whose
 * primary is in live[], else grants a new one to live[0]. Returns the
 * index of the primary in live[], sets *expiry_ms (ms since the epoch)
 * and *fresh (true when a new lease was granted).
 */
int leases_acquire(struct leases *l, uint64_t handle,
		   const char (*live)[DFS_ADDR_MAX], int nlive, int64_t now_ms,
		   int64_t *expiry_ms, bool *fresh);

/* True while chunk "handle" has a lease or had one in the last "grace_ms"
 * (its replicas may be in the middle of being written). */
bool leases_is_busy(struct leases *l, uint64_t handle, int64_t now_ms,
		    int64_t grace_ms);

/* Forget the lease of "handle" (if any). */
void leases_drop(struct leases *l, uint64_t handle);

#endif
