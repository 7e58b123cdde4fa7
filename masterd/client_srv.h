/*
 * client_srv.h - the master's client API: every endpoint of dfs_proto.h
 * from EP_LOOKUP to EP_STATUS, plus a plain-text status page at
 * "/status.txt" (the web page at "/" is status_page.h's).
 *
 * Handlers check every request field with the proto getters (a bad field
 * is a 400 INVAL, never a crash), turn each namespace change into an op
 * (namespace.h) carrying the time and any fresh inode number or chunk
 * handle, submit it through the oplog and answer once it is committed.
 * Reads go to the namespace's read connections.
 *
 * EP_CHUNKS with "write" allocates missing chunks on live servers chosen
 * by chunk_srv_pick() and hands out a lease per chunk (leases.h). A new
 * lease of an existing chunk (none valid over its live replicas, or the
 * client reported replicas in "failed", which are dropped) first moves
 * the live replicas to a new version (versions.h), so replicas left out
 * are stale. While the master has just started and chunk servers are
 * still registering, a write that finds too few live servers, or a chunk
 * whose replicas have not all registered again, is answered AGAIN (the
 * client retries) rather than NOSPC, a degraded placement or a new
 * version that would leave those replicas stale. EP_FSCK is fsck.h's.
 */
#ifndef MASTERD_CLIENT_SRV_H
#define MASTERD_CLIENT_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

/* Routes of the client API (arg: struct master). */
extern const struct http_route client_srv_routes[];
extern const size_t client_srv_nroutes;

struct master;

/*
 * Before a quick handler (http_server.h) submits a change: true, with the
 * request deferred to a worker, when the commit would wait for the disk
 * (no sync interval, oplog.h); the handler then returns at once.
 */
bool client_srv_defer_commit(struct http_request *req, struct master *m);

/*
 * The EP_STATUS object as a new reference (the status page and the
 * metrics build on it). NULL with *err set (a negative errno) on
 * failure. *missing, if not NULL, receives the number of chunks with no
 * live replica.
 */
json_t *client_srv_status(struct master *m, int *err, uint64_t *missing);

/*
 * Read locations of chunks 0 .. count-1 of regular file "ino" (as
 * EP_CHUNKS without "write"; count capped like it) into *chunks, a new
 * array. 0 or a negative errno (NOENT, INVAL: not a regular file).
 */
int client_srv_read_locations(struct master *m, uint64_t ino,
			      uint64_t count, json_t **chunks);

#endif
