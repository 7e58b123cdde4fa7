/*
 * chunk_srv.h - the master's side of the chunk servers: EP_CS_REGISTER
 * and EP_CS_HEARTBEAT, the table of known servers with their liveness,
 * and replica placement for new chunks.
 *
 * A server is known once it registered since this master started (a
 * heartbeat from any other server is answered "reregister"). It is alive
 * while its heartbeats arrive within the heartbeat timeout; a monitor
 * thread checks every 500 ms and logs each change. Servers are also
 * recorded in the database (server_register op) so the status shows them
 * after a master restart, as dead until they come back.
 *
 * A register carries the server's full chunk report, and so does a
 * heartbeat every --full-report-interval; the heartbeats between carry
 * the replicas that appeared, went or changed version since the last
 * report, so their cost follows the changes, not the replicas held. The
 * master records which current replicas the server holds (adding and
 * removing replica rows through the oplog) and answers with the reported
 * handles the server should delete: those no chunk references any more,
 * those at a version older than the master's (while another live server
 * holds the current one), excess replicas the replicator scheduled, and
 * current-version replicas the master did not place there (a copy it did
 * not ask for, or a replica recreated by a late write after the server
 * lost it) unless it is the only one. A newer version than the master's
 * is adopted (see namespace.h). Chunks under a write lease (or just
 * after one) are left alone: their replicas are being created; but when
 * a server that registers (it restarted) lacks a replica of a leased
 * chunk, the replicator revokes that lease so the server drops out of
 * the chunk's replica set. Reports also carry the replicas the server
 * set aside as corrupt; the answer tells which to remove (replicator.h).
 * Deletions the master decides on its own (excess replicas, chunks of
 * deleted or truncated files: chunk_srv_schedule_delete()) go out in the
 * answer to the server's next heartbeat, at the chunk's current version.
 *
 * Thread-safe.
 */
#ifndef MASTERD_CHUNK_SRV_H
#define MASTERD_CHUNK_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfs_proto.h"
#include "http_server.h"

struct chunk_srv;
struct master;

/* Longest rack name, including the NUL. */
#define CS_RACK_MAX 64

/* Administrative state of a server (decommission.h): only servers in
 * normal service take new chunks and copies. */
enum chunk_srv_state {
	CS_STATE_NORMAL,
	CS_STATE_DRAINING,        /* being decommissioned */
	CS_STATE_DECOMMISSIONED,  /* drained: safe to remove */
};

/* What the status and statfs endpoints show of one server. */
struct chunk_srv_info {
	char addr[DFS_ADDR_MAX];
	char rack[CS_RACK_MAX];
	bool alive;
	uint64_t capacity;     /* bytes, as last reported */
	uint64_t used;         /* bytes, as last reported */
	uint64_t reported;     /* chunks in the last report */
	uint64_t deletes;      /* replicas queued for its next heartbeat
				* to delete */
	enum chunk_srv_state state;
};

/* Routes of the chunk server API (arg: struct master). */
extern const struct http_route chunk_srv_routes[];
extern const size_t chunk_srv_nroutes;

/*
 * New table for master "m" (borrowed; m->ns, m->oplog and m->leases must
 * be set), loaded with the servers the database knows (all dead), and
 * its monitor thread started. Never NULL.
 */
struct chunk_srv *chunk_srv_new(struct master *m);

/* Stop the monitor and free the table. NULL is a no-op. */
void chunk_srv_free(struct chunk_srv *cs);

/* Heartbeat interval told to servers: min(3000 ms, timeout / 3). */
int64_t chunk_srv_heartbeat_ms(const struct chunk_srv *cs);

/*
 * Choose up to "want" distinct live servers for a new chunk, least
 * loaded first (bytes used plus chunk_size for each chunk placed there
 * since its last heartbeat), on distinct racks first when racks are set.
 * Servers whose free space (as last reported, less a chunk for each
 * chunk placed there since) is under one chunk are skipped: a full
 * server takes no new chunks. Writes the
 * addresses to out[] and returns how many (0 when no server can take
 * it); counts the new chunk against each chosen server.
 */
int chunk_srv_pick(struct chunk_srv *cs, unsigned want, uint64_t chunk_size,
		   char (*out)[DFS_ADDR_MAX]);

/* Called per candidate server by chunk_srv_pick_target(), with the
 * table locked (it must not call back into it): true skips "addr". */
typedef bool (*chunk_srv_skip_fn)(const char *addr, void *arg);

/*
 * Choose a live server to receive a copy of a chunk whose replicas are on
 * holders[0..nholders-1] (dead or alive): not a holder, with a chunk of
 * free space, not skipped by skip(addr, arg) (may be NULL), on a rack no
 * holder uses if there is one, least loaded first. Writes its address to
 * out and counts the chunk against it. 0, or -ENOSPC when none fits.
 */
int chunk_srv_pick_target(struct chunk_srv *cs, uint64_t chunk_size,
			  const char (*holders)[DFS_ADDR_MAX], int nholders,
			  chunk_srv_skip_fn skip, void *arg,
			  char out[DFS_ADDR_MAX]);

/*
 * Tell server "addr" to delete its replica of "handle" (an excess
 * replica) in the answer to its next report; that report then does not
 * record the replica either. Unknown servers are ignored.
 */
void chunk_srv_schedule_delete(struct chunk_srv *cs, const char *addr,
			       uint64_t handle);

/*
 * The deletions scheduled for server "addr", handed over: a new array
 * (caller frees; unsorted, may repeat) and its length; *lost is set when
 * some were dropped (too many kept) and only a full report finds them.
 */
size_t chunk_srv_take_deletions(struct chunk_srv *cs, const char *addr,
				uint64_t **out, bool *lost);

/*
 * Unconfirmed replica rows: rows of a server that its reports have not
 * shown it to hold, kept until they are (the server reports the replica)
 * or until the chunk is no longer being written, when the row goes. A
 * full report settles every row of its server; a report of changes only
 * lists what changed, so without these a chunk placed on a server but
 * never written there (its writer died) would keep that row until the
 * server's next full report. A restarted master watches again the rows
 * of the chunks its database still has as unconfirmed (namespace.h).
 */
struct cs_unconfirmed {
	uint64_t handle;
	int64_t since_ms;    /* time_mono_ms() of the placement or report */
};

/* Chunk "handle" was just placed on these servers (rows being added). */
void chunk_srv_note_placed(struct chunk_srv *cs,
			   const char (*addrs)[DFS_ADDR_MAX], int n,
			   uint64_t handle);

/* The unconfirmed rows of "addr", handed over (a new array the caller
 * frees), and the ones to keep, handed back. */
size_t chunk_srv_take_unconfirmed(struct chunk_srv *cs, const char *addr,
				  struct cs_unconfirmed **out);
void chunk_srv_keep_unconfirmed(struct chunk_srv *cs, const char *addr,
				const struct cs_unconfirmed *v, size_t n);

/* Count a processed report: full or changes, replicas listed, and of
 * them those looked up one by one. */
void chunk_srv_count_report(struct chunk_srv *cs, bool full, uint64_t pairs,
			    uint64_t checked);

/* Counters of the chunk reports so far. */
struct chunk_srv_report_stats {
	uint64_t full;      /* reports listing every replica of a server */
	uint64_t pairs;     /* replicas listed (full and changes) */
	uint64_t checked;   /* of them, compared with the chunk table one
			     * by one (those not plainly current) */
};
void chunk_srv_report_stats(struct chunk_srv *cs,
			    struct chunk_srv_report_stats *out);

/* A counter bumped whenever a server dies, comes back or registers, so
 * that the replicator knows when to look at every chunk again. */
uint64_t chunk_srv_epoch(struct chunk_srv *cs);

/*
 * True while the master is settling after a start: less than a heartbeat
 * timeout has passed and some server known from the database has not
 * registered again yet (placement would be poorer than it will be soon).
 */
bool chunk_srv_settling(struct chunk_srv *cs);

/* True if "addr" is a registered server that is alive. */
bool chunk_srv_is_alive(struct chunk_srv *cs, const char *addr);

/* Set the administrative state of server "addr" (added to the table,
 * dead, if unknown); wakes the replicator when it changes. */
void chunk_srv_set_state(struct chunk_srv *cs, const char *addr,
			 enum chunk_srv_state state);

/* The administrative state of "addr" (normal when unknown). */
enum chunk_srv_state chunk_srv_state_of(struct chunk_srv *cs,
					const char *addr);

/* True if "addr" is alive and in normal service: its replicas count
 * towards a chunk's replication factor. */
bool chunk_srv_in_service(struct chunk_srv *cs, const char *addr);

/* "normal", "draining" or "decommissioned". */
const char *chunk_srv_state_name(enum chunk_srv_state state);

/* Snapshot of every known server, sorted by address, as a new array
 * (caller frees; NULL when there is none). Returns the count. */
size_t chunk_srv_list(struct chunk_srv *cs, struct chunk_srv_info **out);

#endif
