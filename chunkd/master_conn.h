/*
 * master_conn.h - chunkd's link to masterd (EP_CS_REGISTER and
 * EP_CS_HEARTBEAT of dfs_proto.h).
 *
 * A thread registers the server with its full chunk report, retrying with
 * a growing pause (up to a few seconds) for as long as the master does
 * not answer: chunkd keeps serving data meanwhile and never exits because
 * the master is down. Once registered it heartbeats every heartbeat_ms
 * (from the register reply) with its capacity, usage and chunk list, and
 * removes the replicas the master lists in "delete" (only if they are
 * still at the version that was reported). Every report also lists the
 * replicas the store set aside as corrupt ("corrupt"); those the master
 * names in "drop_corrupt" are removed. It registers again when the
 * master asks ("reregister": true), rejects a heartbeat, or becomes
 * reachable again after a failure. A "chunk_size" in the register reply,
 * when present, becomes the store's chunk size.
 *
 * Calling sequence:
 *     mc = master_conn_new(&opts, st);    starts the thread
 *     master_conn_free(mc);               stops and joins it
 */
#ifndef DFS_CHUNKD_MASTER_CONN_H
#define DFS_CHUNKD_MASTER_CONN_H

struct master_conn;
struct store;

struct master_conn_opts {
	const char *master;       /* "host:port" of masterd */
	const char *addr;         /* our "host:port" as the master knows it */
	const char *rack;         /* rack name, "" when not configured */
};

/* Start the link. Strings in opts are copied; "st" is borrowed and must
 * outlive the link. Never NULL. */
struct master_conn *master_conn_new(const struct master_conn_opts *opts,
				    struct store *st);

/* Stop the thread (waiting for a call in flight) and free. NULL is a
 * no-op. */
void master_conn_free(struct master_conn *mc);

#endif
