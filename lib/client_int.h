/*
 * client_int.h - declarations shared by the modules of the client library;
 * not part of the public API (include/dfs_client.h).
 *
 *   client.c        struct dfs_client, master calls, namespace wrappers
 *   client_chunk.c  chunk locations (struct client_locs) and the chunk
 *                   server calls (read, write, truncate, sync) with retries
 *   client_file.c   struct dfs_file: write-back buffer, read-ahead
 *   client_session.c  the client session: holds on open files
 *   client_xattr.c  extended attributes, record appends, value codec
 *
 * Retry policy: a call that failed in a way another attempt may fix
 * (transport error, stale version, lease moved, replica gone, server down
 * the chain) refreshes what it knows from the master and tries again with
 * a growing pause, for at most CLIENT_RETRY_MS. Long enough to outlive a
 * master restart and the master noticing a dead chunk server.
 */
#ifndef DFS_CLIENT_INT_H
#define DFS_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "dfs_client.h"

/* Time budget of one operation's retries, in milliseconds. */
#define CLIENT_RETRY_MS 60000

/* Budget for "no space / too few servers" answers (a cluster starting). */
#define CLIENT_NOSPC_RETRY_MS 10000

/* Chunk locations asked from the master in one call, at most. */
#define CLIENT_LOC_BATCH 64

/* Chunk locations kept per file; the cache starts over beyond this. */
#define CLIENT_LOC_MAX 8192

/* Cached read locations are refreshed after this long (ms). */
#define CLIENT_LOC_TTL_MS 30000

/* A write lease is renewed when it has less than this left (ms). */
#define CLIENT_LEASE_MARGIN_MS 2000

/* State of one operation's retries. */
struct client_retry {
	int64_t start_ms;       /* monotonic start of the operation */
	int64_t budget_ms;      /* give up after this long */
	int attempt;            /* attempts made so far */
};

void client_retry_init(struct client_retry *rt, int64_t budget_ms);

/* Pause before another attempt. False when the budget is spent. */
bool client_retry_wait(struct client_retry *rt);

/* True if an error (negative errno "r", wire status "wire", -1 for a
 * transport failure) may go away on another attempt after a refresh. */
bool client_error_is_transient(int r, int wire);

/* The HTTP connection pool of the client (borrowed). */
struct http_client *client_http(struct dfs_client *c);

/*
 * Call a master endpoint with the master retry policy: a refused
 * connection is always retried (the request was not sent), other
 * transport errors only if "idempotent". "req" is borrowed; *reply is
 * owned by the caller. Returns 0 or a negative errno.
 */
int client_master_call(struct dfs_client *c, const char *ep, json_t *req,
		       json_t **reply, bool idempotent);

/*
 * client_master_call() in two halves: the first attempt is sent at once
 * and read by client_master_end(), which runs the retries, if the
 * policy allows any, as client_master_call() would. "req" is stolen;
 * every begun call is ended exactly once.
 */
struct client_pending;
struct client_pending *client_master_begin(struct dfs_client *c,
					   const char *ep, json_t *req,
					   bool idempotent);
int client_master_end(struct client_pending *p, json_t **reply);

/*
 * Optional attrs "key" of a master reply (a namespace change's
 * "parent_attr", say) into *out (NULL: ignored); zero-filled when absent
 * or malformed (logged), so out->ino 0 means unknown.
 */
void client_reply_attr(const json_t *reply, const char *key,
		       struct dfs_attr *out);

/* The client's session (NULL: none), and setting it (only while no
 * other thread uses the client: dfs_session_start() / _end()). */
struct client_session;
struct client_session *client_get_session(struct dfs_client *c);
void client_set_session(struct dfs_client *c, struct client_session *s);

/* The id of the client's session, 0 if it has none. */
uint64_t client_session_id(struct dfs_client *c);

/* Ask, in namespace change "req", for the leases of the directories it
 * changes (dfs_client_want_dir_leases(); needs a session). */
void client_add_lease_request(struct dfs_client *c, json_t *req);

/*
 * EP_APPEND: reserve "len" bytes at the end of file "ino"; *offset
 * receives where they go and *attr the attrs after growing. Never
 * repeated once sent (a lost answer would leave a hole). 0 or -errno.
 */
int client_append(struct dfs_client *c, uint64_t ino, uint64_t len,
		  uint64_t *offset, struct dfs_attr *attr);

/* Chunk size of the cluster, asked once from the master (EP_STATFS). */
int client_chunk_size(struct dfs_client *c, uint64_t *chunk_size);

/* Remember a chunk size seen in a master reply. */
void client_note_chunk_size(struct dfs_client *c, uint64_t chunk_size);

/*
 * EP_EXTEND: grow the master's size of "ino" to at least "size" and set
 * mtime and ctime to now. "attr" (may be NULL) receives the new attrs.
 */
int client_extend(struct dfs_client *c, uint64_t ino, uint64_t size,
		  struct dfs_attr *attr);

/* client_extend() and dfs_setattr() (without PROTO_SET_SIZE) begun as
 * client_master_begin() does; client_attr_end() ends either, returning
 * what the one-piece call would, and its attrs in *attr. */
struct client_pending *client_extend_begin(struct dfs_client *c,
					   uint64_t ino, uint64_t size);
struct client_pending *client_setattr_begin(struct dfs_client *c,
					    uint64_t ino,
					    const struct dfs_setattr *sa);
int client_attr_end(struct client_pending *p, struct dfs_attr *attr);

/*
 * Chunk locations sent with an open (client_prefetch.c): stored by
 * dfs_open(), taken once by the next client_locs_new() of the inode
 * while young, dropped by a truncate. Thread-safe.
 */
struct client_prefetch;
struct client_prefetch *client_prefetch_new(void);
void client_prefetch_free(struct client_prefetch *p);
/* Keep "chunks" (a reference is taken), covering chunks 0 .. count-1;
 * "write": they are write leases (EP_CREATE), else read locations. */
void client_prefetch_put(struct client_prefetch *p, uint64_t ino,
			 json_t *chunks, uint64_t count, bool write);
/* The chunks kept for "ino" (a new reference, *count and *write set), or
 * NULL. */
json_t *client_prefetch_take(struct client_prefetch *p, uint64_t ino,
			     uint64_t *count, bool *write);
void client_prefetch_drop(struct client_prefetch *p, uint64_t ino);
/* The client's table (borrowed). */
struct client_prefetch *client_prefetch_of(struct dfs_client *c);

/*
 * Short-circuit local reads (client_local.c): a replica on a chunk
 * server of this machine is read from its files, which that server hands
 * over through its local read socket (local_sock.h). Off when the
 * environment has DFS_LOCAL_READS=0. Thread-safe.
 */
struct client_local;
struct client_local *client_local_new(void);
void client_local_free(struct client_local *cl);
/* The client's (borrowed). */
struct client_local *client_local_of(struct dfs_client *c);
/*
 * Read [off, off+len) of chunk ch from one of its replicas on this
 * machine, checked block by block. 0, or a negative errno to read over
 * the network instead; with -EBADMSG, "bad" (DFS_ADDR_MAX bytes) names
 * the replica whose checksums failed, so that it is read through its
 * server first (which sets a corrupt replica aside).
 */
int client_local_read(struct client_local *cl, const struct dfs_chunk *ch,
		      uint64_t off, void *buf, size_t len, char *bad);
/* Close the files of replicas unused for 30 s (the next read does it
 * too; a mount's session thread calls this every renewal, so an idle
 * mount does not keep a chunk server's disk busy). */
void client_local_sweep(struct client_local *cl);

/* Chunks whose locations an open asks for (EP_OPEN "chunks"). */
#define CLIENT_OPEN_LOCATIONS 4

/*
 * Chunk locations of one file, cached. Thread-safe (own lock). Holes
 * (chunks the master does not list on a read lookup) are cached too.
 */
struct client_locs;

/* New cache for inode "ino" of client "c" (borrowed). Never NULL. */
struct client_locs *client_locs_new(struct dfs_client *c, uint64_t ino);
void client_locs_free(struct client_locs *l);

/* Forget every cached location (after a truncate). */
void client_locs_clear(struct client_locs *l);

/*
 * Write len bytes at offset "off" inside chunk "index" through the chunk's
 * primary and its replica chain, allocating the chunk if needed. "ahead"
 * is how many chunks from "index" on the caller is about to write (their
 * leases are fetched in the same master call). 0 or a negative errno.
 */
int client_chunk_write(struct client_locs *l, uint64_t index, uint64_t off,
		       const void *buf, size_t len, uint64_t ahead);

/*
 * Read len bytes at "off" inside chunk "index" into buf, from any replica
 * that answers; a hole reads as zeros. "ahead" is how many chunks from
 * "index" on are worth locating in the same master call.
 */
int client_chunk_read(struct client_locs *l, uint64_t index, uint64_t off,
		      void *buf, size_t len, uint64_t ahead);

/* Truncate every replica of chunk "index" to "size" bytes if the chunk
 * exists. 0 or a negative errno. */
int client_chunk_truncate(struct client_locs *l, uint64_t index,
			  uint64_t size);

/* fsync() every replica of chunk "index" (nothing if it does not exist). */
int client_chunk_sync(struct client_locs *l, uint64_t index);

#endif
