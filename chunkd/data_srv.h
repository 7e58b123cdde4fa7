/*
 * data_srv.h - the chunk data API of chunkd (EP_CHUNK_* and EP_HEALTH of
 * dfs_proto.h), served over the HTTP server.
 *
 * Besides the client calls it serves the master's: EP_CHUNK_SETVERSION
 * (a new lease; waits for the chunk's mutation lock so it lands between
 * two mutations), EP_CHUNK_REPLICATE (handed to the copier) and
 * EP_CHUNK_INFO (a copying server asks the source what to pull).
 *
 * Reads come straight from the store. Mutations (write, truncate, sync)
 * go to every server of the request's chain: the server takes the
 * chunk's mutation lock, applies the mutation locally while helper
 * threads forward it, and answers once all are done, so every replica
 * applies mutations in the order the primary took them. A small mutation
 * (a body of at most 256 KiB; truncate and sync carry none) fans out: it
 * is sent to every chain member at once, each with an empty chain, for
 * one hop of latency. A larger write travels down the chain: it is sent
 * to chain[0] with the rest of the chain, so each server sends the body
 * once and the primary's uplink carries it once. When another server
 * fails, the answer is DOWNSTREAM with {"failed": "addr"} naming the
 * first server that failed (in chain order; a downstream server's own
 * "failed" field is passed up unchanged).
 *
 * Every request is checked before anything is touched: handle and
 * version below 2^63, offset and length within the chunk size (length at
 * most DFS_MAX_WRITE for writes), chain addresses valid, distinct, not
 * this server, at most DFS_MAX_REPLICAS of them.
 *
 * Security (secure.h): with a cluster secret every request but
 * EP_HEALTH and EP_METRICS must be signed (401 otherwise), a read needs
 * an X-DFS-Token granting READ for its handle and a mutation one
 * granting WRITE (403 FORBIDDEN otherwise, checked after the parameters
 * and before anything is touched); a mutation passes the same token to
 * the servers it forwards to. The master's commands (new version, copy order,
 * replica info) carry no token: their signature is their authority.
 *
 * Calling sequence:
 *     ds = data_srv_new(listen, st, hc);   starts serving
 *     ... data_srv_addr(ds) ...
 *     data_srv_free(ds);                   stops, waits for handlers
 */
#ifndef DFS_CHUNKD_DATA_SRV_H
#define DFS_CHUNKD_DATA_SRV_H

struct copier;
struct data_srv;
struct store;
struct http_client;

/*
 * Serve the data API on "listen" ("host:port", port 0 picks one) from the
 * store "st", forwarding along chains with "hc" and starting the copies
 * the master orders with "cp". All are borrowed and must outlive the
 * server. Returns NULL (and logs why) if the address is bad or in use.
 */
struct data_srv *data_srv_new(const char *listen, struct store *st,
			      struct http_client *hc, struct copier *cp);

/* "host:port" with the port actually bound (borrowed). */
const char *data_srv_addr(const struct data_srv *ds);

/* Stop serving and wait for running handlers. NULL is a no-op. */
void data_srv_free(struct data_srv *ds);

#endif
