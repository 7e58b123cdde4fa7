/*
 * replicator.h - keeping every chunk at its replication factor (SPEC 3
 * and 4): re-replication of chunks that lost replicas, removal of excess
 * replicas, and the bookkeeping of corrupt ones.
 *
 * A planner thread looks at every chunk when a server dies, comes back
 * or registers, when a corrupt replica is reported, and every few seconds
 * otherwise. Chunks with fewer live replicas than their file's
 * replication factor are queued most-endangered first (fewest live
 * replicas, then largest shortfall) and copied one at a time per chunk:
 * the planner picks a live holder as source and a live server that can
 * take the chunk as target (distinct servers, another rack when racks
 * are set), and orders the target to copy it from the source
 * (EP_CHUNK_REPLICATE): the data goes server to server, never through
 * the master. At most cfg.repl_copies copies run per server (as source
 * or target); each chunk server bounds its own copy bandwidth. The target
 * reports the end of the copy (EP_CS_COPY_DONE) and the new replica is
 * recorded then (or from its next report).
 *
 * A chunk with a valid write lease is copied (or trimmed) only once its
 * writer has been quiet for a moment, and only after the lease was
 * revoked with a new version (versions.h): the copy then starts from a
 * version no client can still write at, so it cannot miss a mutation.
 * Chunks with more live replicas than their factor (a server came back
 * after its chunks were re-replicated, or the factor was lowered) lose
 * the replica on the fullest server, through the "delete" list of its
 * next report. A server that does not answer a copy order is left out of
 * copies for a moment (it is probably dying).
 *
 * Corrupt replicas: each report lists the copies a server set aside
 * because a block failed its checksum. They stay marked (fsck shows the
 * chunk as corrupt) until the chunk is back to its factor from good
 * copies; then the server is told to remove them ("drop_corrupt").
 *
 * Administrative states (decommission.h): only replicas on servers in
 * normal service count towards a chunk's factor. Replicas on draining
 * servers are copied elsewhere and kept (they serve reads); replicas on
 * decommissioned servers are removed once the chunk has its factor
 * without them. Chunks another module pins (the balancer's moves,
 * balancer.h) are left to it.
 *
 * Nothing runs while the master is settling after a start (servers are
 * still registering, chunks would look lost). Thread-safe.
 */
#ifndef MASTERD_REPLICATOR_H
#define MASTERD_REPLICATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "dfs_proto.h"
#include "http_server.h"

struct master;
struct replicator;

/* Routes of the replicator (EP_CS_COPY_DONE; arg: struct master). */
extern const struct http_route replicator_routes[];
extern const size_t replicator_nroutes;

/* Start the planner for master "m" (borrowed; its ns, oplog, leases, cs
 * and hc must be set). Never NULL. */
struct replicator *replicator_new(struct master *m);

/* Stop the planner and free. Copies still running on chunk servers are
 * forgotten (their reports record them). NULL is a no-op. */
void replicator_free(struct replicator *rp);

/*
 * Copy chunk c (its handle and current version) from live server
 * "source" to live server "target" like a re-replication copy, within
 * the same per-server copy slots (the balancer's moves). The copy is
 * recorded when the target reports it. 0 when ordered; -EBUSY when the
 * chunk has a copy in flight or a server has no free slot; -EAGAIN
 * when the order failed.
 */
int replicator_copy(struct replicator *rp, const struct dfs_chunk *c,
		    const char *source, const char *target);

/* Pin (or unpin) chunk "handle": the planner leaves a pinned chunk
 * alone (no copy, no trim) while its owner (the balancer) moves it. */
void replicator_pin(struct replicator *rp, uint64_t handle, bool pin);

/* True if "handle" is pinned. */
bool replicator_is_pinned(struct replicator *rp, uint64_t handle);

/* True if server "addr" is copying chunk "handle" on the planner's
 * order: a report listing that replica records it. */
bool replicator_copy_reported(struct replicator *rp, uint64_t handle,
			      const char *addr);

/*
 * Server "addr" keeps the corrupt copies handles[0..n-1] aside (its
 * whole list: copies it no longer lists are forgotten). Returns a new
 * JSON array of the handles it may remove now: chunks that are gone or
 * back to their replication factor. Never NULL.
 */
json_t *replicator_note_corrupt(struct replicator *rp, const char *addr,
				const uint64_t *handles, size_t n);

/* Live servers that hold a corrupt copy of "handle" not yet replaced,
 * into out[0..max-1]. Returns how many. */
int replicator_corrupt_on(struct replicator *rp, uint64_t handle,
			  char (*out)[DFS_ADDR_MAX], int max);

/* Revoke the write lease of "handle" (if it has one) with a new version,
 * soon, from the planner thread. */
void replicator_request_revoke(struct replicator *rp, uint64_t handle);

/* Counters for the status page. */
struct replicator_stats {
	uint64_t running;       /* copies in flight */
	uint64_t copied;        /* copies finished */
	uint64_t failed;        /* copies that failed or timed out */
	uint64_t trimmed;       /* excess replicas removed */
	uint64_t corrupt;       /* corrupt copies currently kept aside */
};
void replicator_get_stats(struct replicator *rp, struct replicator_stats *st);

#endif
