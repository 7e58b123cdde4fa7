/*
 * local_srv.h - the local read socket of chunkd (include/local_sock.h):
 * a client on this machine that presents a read token for a replica gets
 * the replica's data and metadata files as read-only descriptors, and
 * reads them itself (lib/client_local.c) instead of through HTTP.
 *
 * With a cluster secret the token must grant READ for the handle, as
 * for an HTTP read; without one the socket serves any local process,
 * which could read the replicas over HTTP anyway. One thread answers,
 * one connection at a time, each bounded by a 1 s timeout.
 *
 * Calling sequence:
 *     ls = local_srv_new(data_srv_addr(ds), st);   NULL if unavailable
 *     local_srv_free(ls);                          stops the thread
 */
#ifndef DFS_CHUNKD_LOCAL_SRV_H
#define DFS_CHUNKD_LOCAL_SRV_H

struct local_srv;
struct store;

/* Serve the replicas of "st" (borrowed) on the socket named after
 * "addr". NULL (logged) if the socket cannot be made: clients then read
 * over HTTP. */
struct local_srv *local_srv_new(const char *addr, struct store *st);

void local_srv_free(struct local_srv *ls);

#endif
