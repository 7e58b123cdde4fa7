/*
 * proto.h - build and check the JSON messages of dfs_proto.h.
 *
 * Every program encodes and decodes attrs, chunk locations and errors
 * here, so a field is spelled and validated in one place. Getters check
 * type and range and never trust the peer: a missing, mistyped or
 * out-of-range field is -EINVAL, never a crash.
 *
 * rpc_call() is the one way a program calls a JSON endpoint: it sends the
 * request, parses the reply and turns a wire error into a negative errno.
 */
#ifndef DFS_PROTO_LIB_H
#define DFS_PROTO_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "auth.h"
#include "dfs_proto.h"

struct http_client;

/* The attributes of an inode, as st_* in struct stat. */
struct dfs_attr {
	uint64_t ino;
	uint32_t mode;          /* S_IFMT type bits and permission bits */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint64_t rdev;
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
	uint32_t replication;   /* replication factor of the file's chunks */
	/* A directory in the reply of a change of its entries (and a new
	 * one in mkdir's): the master's change count of its entries and
	 * the master process that counts (proto.h "Directory change
	 * counts"); both 0 when not told. */
	uint64_t dir_changes;
	uint64_t dir_epoch;
	/* A directory in the reply of a change the client asked a lease
	 * with: how long, from the request's sending, no other client can
	 * change its entries; 0 when it holds none. */
	uint32_t dir_lease_ms;
};

/*
 * Directory change counts. The master counts every change of a
 * directory's entries (a name added, removed or pointed elsewhere) in a
 * table of counters kept in memory, one counter per hash of the
 * directory's inode number, shared by the directories of that hash, and
 * starting at 0 under a new random epoch whenever the master starts. A
 * reply of a change carries, in the directory's attrs, the count right
 * after the change; mkdir's reply carries the new directory's count. A
 * client that knew a directory's entries at count c and gets c + 1 under
 * the same epoch for its own change there knows that nobody else changed
 * the directory in between (a counter only moves forward, and any other
 * change of that directory would have moved it too).
 */

/* Where one chunk of a file lives. */
struct dfs_chunk {
	uint64_t index;         /* position in the file, in chunks */
	uint64_t handle;        /* cluster-wide id of the chunk */
	uint64_t version;       /* bumped on every new lease */
	int nreplicas;
	char replicas[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	char primary[DFS_ADDR_MAX]; /* lease holder; "" on read locations */
	int64_t lease_ms;       /* lease end, ms since the epoch; 0 if none */
	char token[AUTH_TOKEN_MAX]; /* chunk access token (auth.h) for the
				     * X-DFS-Token header; "" if none */
};

/* New JSON object for an attr / a chunk (caller owns the reference). */
json_t *proto_attr_to_json(const struct dfs_attr *attr);
json_t *proto_chunk_to_json(const struct dfs_chunk *chunk);

/* The text proto_attr_to_json() dumps to, written into "w" (hot replies). */
struct json_writer;
void proto_attr_write(struct json_writer *w, const struct dfs_attr *attr);

/* Fill *attr / *chunk from a JSON object. 0 or -EINVAL. */
int proto_attr_from_json(const json_t *obj, struct dfs_attr *attr);
int proto_chunk_from_json(const json_t *obj, struct dfs_chunk *chunk);

/* [s, ns] pair. */
json_t *proto_time_to_json(const struct timespec *ts);
int proto_time_from_json(const json_t *v, struct timespec *ts);

/*
 * Field getters: 0 on success, -EINVAL when the field is missing, has the
 * wrong type or is out of range. Strings are borrowed from "obj".
 */
int proto_get_u64(const json_t *obj, const char *key, uint64_t max,
		  uint64_t *out);
int proto_get_u32(const json_t *obj, const char *key, uint32_t *out);
int proto_get_bool(const json_t *obj, const char *key, bool *out);
int proto_get_str(const json_t *obj, const char *key, size_t max_len,
		  const char **out);
/* A file name component: 1..DFS_NAME_MAX bytes, no '/', not "." or "..".
 * -ENAMETOOLONG when too long, -EINVAL otherwise. */
int proto_get_name(const json_t *obj, const char *key, const char **out);
/* Optional variants: leave *out untouched and return 0 when absent. */
int proto_opt_u64(const json_t *obj, const char *key, uint64_t max,
		  uint64_t *out);
int proto_opt_bool(const json_t *obj, const char *key, bool *out);

/* A [handle, version] pair of a chunk report: handle > 0, version >= 0.
 * 0 or -EINVAL. */
int proto_get_pair(const json_t *v, uint64_t *handle, uint64_t *version);

/* True if "name" is a valid file name component (see proto_get_name). */
bool proto_name_is_valid(const char *name);

/* "host:port" with a non-empty host and a port 1..65535. */
bool proto_addr_is_valid(const char *addr);

/*
 * POST "req" (borrowed; NULL sends {}) to http://ADDR/PATH and parse the
 * reply object into *reply (caller owns it; may be NULL to discard).
 * Returns 0 on success; the negative errno of the wire error the peer
 * answered (-ENOENT, ...); -EPROTO for a reply that is not a JSON object;
 * or the transport error of http_client_request() (-ECONNREFUSED,
 * -ETIMEDOUT, -EIO). "wire_status", if not NULL, receives the wire code
 * (or -1 on transport failure).
 */
int rpc_call(struct http_client *hc, const char *addr, const char *path,
	     json_t *req, json_t **reply, int *wire_status);

/*
 * rpc_call() in two halves (see http_client_send()), for a caller with
 * other work to do while the peer answers: rpc_send() sends the call and
 * returns at once, never NULL; rpc_receive() reads and parses the reply
 * as rpc_call() would and ends the call. Every sent call is received
 * exactly once; "addr" and "path" stay valid until then.
 */
struct rpc_pending;
struct rpc_pending *rpc_send(struct http_client *hc, const char *addr,
			     const char *path, json_t *req);
int rpc_receive(struct rpc_pending *p, json_t **reply, int *wire_status);

/*
 * Wire status of an error reply body {"err", ...}: DFS_ERR_IO when the
 * body is not such an object. If "obj" is not NULL it receives the parsed
 * body (caller owns it; NULL if it is not JSON), e.g. to read the
 * "failed" field of a DOWNSTREAM error from a raw-body endpoint.
 */
int proto_error_status(const char *body, size_t len, json_t **obj);

/* GET variant of rpc_call() (for EP_STATUS and similar). */
int rpc_get(struct http_client *hc, const char *addr, const char *path,
	    json_t **reply, int *wire_status);

#endif
