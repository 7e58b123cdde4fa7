/*
 * client_srv.h - the master's client API: every endpoint of dfs_proto.h
 * from EP_LOOKUP to EP_STATUS, plus a plain status page at "/".
 *
 * Handlers check every request field with the proto getters (a bad field
 * is a 400 INVAL, never a crash), turn each namespace change into an op
 * (namespace.h) carrying the time and any fresh inode number or chunk
 * handle, submit it through the oplog and answer once it is committed.
 * Reads go to the namespace's read connections.
 *
 * EP_CHUNKS with "write" allocates missing chunks on live servers chosen
 * by chunk_srv_pick() and hands out a lease per chunk (leases.h). While
 * the master has just started and chunk servers are still registering,
 * a write that finds too few live servers is answered AGAIN (the client
 * retries) rather than NOSPC or a degraded placement.
 */
#ifndef MASTERD_CLIENT_SRV_H
#define MASTERD_CLIENT_SRV_H

#include <stddef.h>

#include "http_server.h"

/* Routes of the client API (arg: struct master). */
extern const struct http_route client_srv_routes[];
extern const size_t client_srv_nroutes;

#endif
