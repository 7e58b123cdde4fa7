/*
 * namespace.h - the master's metadata in SQLite: inodes, directory
 * entries, chunks, replica locations and chunk servers.
 *
 * Every change is a deterministic operation: a JSON object such as
 *     {"op": "create", "parent": 1, "name": "a", "ino": 17, "mode": 33188,
 *      "uid": 0, "gid": 0, "rdev": 0, "time": [1700000000, 5]}
 * applied by ns_apply() inside one SQLite savepoint. Everything that is
 * not a function of the database state and the op (the clock, fresh inode
 * numbers and chunk handles, the servers chosen for a new chunk) is
 * decided by the caller and written into the op, so applying the same
 * sequence of ops to the same database always gives the same database and
 * the same results. A replicated log (Raft, later) can therefore ship ops
 * to other masters and apply them there unchanged.
 *
 * Ops (fields; "time" is [s, ns]; "replication" is optional and
 * inherited from the parent directory when absent):
 *     create      parent name ino mode uid gid [rdev] time [replication]
 *                 [chunks: as alloc_chunks, a regular file's only]
 *     mkdir       parent name ino mode uid gid time [replication]
 *     symlink     parent name ino target uid gid time
 *     link        ino parent name time
 *     unlink      parent name time [orphan]
 *     rmdir       parent name time
 *     rename      parent name newparent newname flags time [orphan]
 *     setattr     ino valid [mode uid gid size atime mtime] time
 *     extend      ino size time
 *     set_replication  ino replication time
 *     alloc_chunks     ino chunks: [{index, handle, replicas: [addr]}]
 *     set_replicas     handle replicas: [addr]
 *     bump_version     handle version [replicas: [addr]]
 *     replicas_update  addr add: [[handle, version]] remove: [handle]
 *                      unwritten: [handle] confirmed: [handle]
 *     server_register  addr rack
 *     reap        inos: [ino]    delete these orphans (nlink 0)
 *     append, session_add, session_del      see ns_files.h
 *     setxattr, removexattr                 see ns_xattr.h
 * With "orphan": true, unlink and rename keep a regular file that loses
 * its last name as an orphan, nlink 0 (ns_files.h, open_files.h).
 * An op that fails changes nothing and returns a negative errno (the
 * POSIX error of the matching system call, e.g. -ENOTEMPTY).
 *
 * Versions: bump_version raises a chunk's version (a new lease); with
 * "replicas" the chunk's replica rows become exactly that list (the
 * servers that took the new version). replicas_update ignores an "add"
 * at a version older than the chunk's, and adopts one that is newer: the
 * chunk takes that version and the reporting server becomes its only
 * replica row (the others are stale). Replica rows therefore always name
 * servers believed to hold the current version. A chunk whose last row
 * goes through "remove" goes too if it lies wholly past the end of its
 * file; through "unwritten", wherever it lies, if it is still
 * unconfirmed.
 *
 * Unconfirmed chunks: alloc_chunks marks each new chunk unconfirmed, in
 * the database, until a replicas_update lists it as "confirmed" (a
 * server reported holding it). An acknowledged write is on every
 * replica, so a chunk no server ever reported holds no acknowledged
 * byte: when its rows go it becomes a hole (zeros), not a lost range.
 * The mark outlives a master restart, which the master's in-memory
 * watch of the rows (chunk_srv.h) does not.
 *
 * Threads: the module runs one thread of its own, a checkpointer that
 * copies the WAL into the database off the commit path. One thread at a
 * time writes (the oplog's writer thread); it
 * may group many ns_apply() calls between ns_begin() and ns_commit().
 * Any number of threads read at the same time through struct ns_reader
 * connections borrowed from a pool (WAL mode). A reader sees every
 * transaction committed before its statement started.
 *
 * Calling sequence:
 *     ns_open(path, chunk_size, replication, &ns);
 *     writer:  ns_begin(ns); ns_apply(ns, op, &res) ...; ns_commit(ns);
 *     readers: rd = ns_reader_get(ns); ns_lookup(rd, ...); ns_reader_put(rd);
 *     ns_free(ns);
 */
#ifndef MASTERD_NAMESPACE_H
#define MASTERD_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "proto.h"

struct ns;
struct ns_reader;

/* Default chunk size of a new file system. */
#define NS_DEFAULT_CHUNK_SIZE (64ULL * 1024 * 1024)

/* Largest file size (and so highest chunk index) the namespace accepts. */
#define NS_MAX_FILE_SIZE ((uint64_t)INT64_MAX)

/* Largest inode number, handle or version on the wire (2^63 - 1). */
#define NS_MAX_ID ((uint64_t)INT64_MAX)

/*
 * Open (creating if needed) the database at "path". A new database gets
 * the root directory (inode DFS_ROOT_INO, mode 040755, replication
 * "replication") and stores "chunk_size" (0: NS_DEFAULT_CHUNK_SIZE). An
 * existing database keeps its stored chunk size and root replication; a
 * different non-zero request only logs a warning. Returns 0 and sets *out,
 * or a negative errno (logged).
 */
int ns_open(const char *path, uint64_t chunk_size, uint32_t replication,
	    struct ns **out);

/* Close the database; the caller ensures nothing uses it. NULL: no-op. */
void ns_free(struct ns *ns);

/* Chunk size of this file system, fixed at creation. */
uint64_t ns_chunk_size(const struct ns *ns);

/*
 * Reserve a fresh inode number / chunk handle for an op that is about to
 * be submitted. Thread-safe. A reserved number that no committed op uses
 * is simply skipped; committed ones are never handed out again.
 */
uint64_t ns_reserve_ino(struct ns *ns);
uint64_t ns_reserve_handle(struct ns *ns);

/*
 * Writer side: not thread-safe, one writer thread at a time.
 * ns_begin() opens a write transaction; ns_commit() commits it to the
 * WAL, durable at once (synchronous=FULL: it survives power loss) unless
 * lazy syncing is on; ns_rollback() drops it. 0 or a negative errno.
 */
int ns_begin(struct ns *ns);

/* A replica of a chunk that a committed transaction dropped (the file or
 * the part of it that held the chunk went). */
struct ns_freed_replica {
	uint64_t handle;
	char addr[DFS_ADDR_MAX];
};
typedef void (*ns_freed_fn)(void *arg, const struct ns_freed_replica *v,
			    size_t n);

/*
 * Have fn called (on the committing thread, after each commit that
 * dropped chunks) with the replicas of those chunks, so their servers can
 * be told at once instead of finding out from a full report. Set before
 * any op is applied.
 */
void ns_set_freed_hook(struct ns *ns, ns_freed_fn fn, void *arg);
int ns_commit(struct ns *ns);
void ns_rollback(struct ns *ns);

/*
 * Lazy syncing (ns_set_lazy_sync(): writer side): commits are written to
 * the WAL without an fsync (synchronous=NORMAL), which survives a crash
 * of the process but not of the machine; ns_sync() then makes every
 * commit made so far durable (any thread, also while the writer
 * commits). Off (the default after ns_open()) every commit is fsync()ed.
 */
int ns_set_lazy_sync(struct ns *ns, bool lazy);
int ns_sync(struct ns *ns);

/* Checkpoints (WAL copied into the database) run since ns_open(). */
uint64_t ns_checkpoints(struct ns *ns);

/*
 * Apply one op (borrowed). Inside ns_begin()/ns_commit() it runs in a
 * savepoint: on failure only this op is undone. Outside, it runs in its
 * own transaction. On success returns 0 and sets *result to a new JSON
 * object owned by the caller (the attr of the inode the op created or
 * changed, or {}); on failure returns a negative errno and sets *result
 * to NULL. The namespace ops add what they did to other inodes, read in
 * the op's transaction (the reply fields of EP_CREATE ... EP_RENAME in
 * dfs_proto.h): create, mkdir, symlink and link "parent_attr"; unlink
 * and rmdir "parent_attr", "ino" and, if it still exists, "attr";
 * rename also "newparent_attr" and, when the new name existed,
 * "target_ino" and "target_attr".
 */
int ns_apply(struct ns *ns, const json_t *op, json_t **result);

/*
 * Reader side. ns_reader_get() borrows a read-only connection (NULL if
 * one cannot be opened, logged); ns_reader_put() returns it (NULL:
 * no-op). A reader is used by one thread at a time.
 */
struct ns_reader *ns_reader_get(struct ns *ns);
void ns_reader_put(struct ns_reader *rd);

/*
 * Group several reads into one snapshot. Read functions also work
 * without it (each then sees the latest commit). 0 or -EIO.
 */
int ns_read_begin(struct ns_reader *rd);
void ns_read_end(struct ns_reader *rd);

/* Attributes of an inode. 0, -ENOENT or -EIO. */
int ns_getattr(struct ns_reader *rd, uint64_t ino, struct dfs_attr *attr);

/*
 * The replication factor of directory "dir", which a file created in it
 * inherits, from a small cache kept current across set_replication
 * commits (else read through a reader of its own). Thread-safe. 0,
 * -ENOENT, -ENOTDIR or -EIO.
 */
int ns_dir_replication(struct ns *ns, uint64_t dir, uint32_t *replication);

/* Entry "name" of directory "parent". 0, -ENOENT, -ENOTDIR or -EIO. */
int ns_lookup(struct ns_reader *rd, uint64_t parent, const char *name,
	      struct dfs_attr *attr);

/*
 * Resolve an absolute path ("/a/b"; repeated and trailing slashes are
 * fine). 0, -ENOENT, -ENOTDIR, -EINVAL (relative, "." or ".."
 * components, bad names), -ENAMETOOLONG or -EIO.
 */
int ns_resolve(struct ns_reader *rd, const char *path, struct dfs_attr *attr);

/* Called per directory entry; "name" is borrowed for the call. Return
 * non-zero to stop (ns_readdir() then returns that value if negative). */
typedef int (*ns_readdir_fn)(const char *name, uint64_t cookie,
			     const struct dfs_attr *attr, void *arg);

/*
 * List up to "max" entries of directory "ino" with a cookie above
 * "cookie", in cookie order (cookies grow with creation and stay stable).
 * *eof tells whether the listing reached the end. 0, -ENOENT, -ENOTDIR,
 * -EIO or a callback's negative value.
 */
int ns_readdir(struct ns_reader *rd, uint64_t ino, uint64_t cookie,
	       unsigned max, ns_readdir_fn fn, void *arg, bool *eof);

/* Target of symlink "ino" as a new string (caller frees). 0, -ENOENT,
 * -EINVAL (not a symlink) or -EIO. */
int ns_readlink(struct ns_reader *rd, uint64_t ino, char **target);

/* Called per chunk, with every replica address the database lists (no
 * lease fields set). Return non-zero to stop, as ns_readdir_fn. */
typedef int (*ns_chunk_fn)(const struct dfs_chunk *chunk, void *arg);

/* Chunks of file "ino" with index in [first, first + count), in index
 * order. 0, -EIO or a callback's negative value (no inode check). */
int ns_chunks(struct ns_reader *rd, uint64_t ino, uint64_t first,
	      uint64_t count, ns_chunk_fn fn, void *arg);

/* The file a chunk belongs to. */
struct ns_chunk_owner {
	uint64_t ino;            /* its inode */
	uint32_t replication;    /* the file's replication factor */
};

/*
 * Chunk "handle" with its version and every replica address the database
 * lists (no lease fields set), and optionally its owner. 0, -ENOENT or
 * -EIO.
 */
int ns_chunk_get(struct ns_reader *rd, uint64_t handle, struct dfs_chunk *c,
		 struct ns_chunk_owner *owner);

/* Version of chunk "handle". 0, -ENOENT or -EIO. */
int ns_chunk_version(struct ns_reader *rd, uint64_t handle,
		     uint64_t *version);

/* Handles the database places on server "addr", ascending, as a new array
 * (caller frees; NULL when *n is 0). 0 or -EIO. */
int ns_server_handles(struct ns_reader *rd, const char *addr,
		      uint64_t **handles, size_t *n);

/* A replica row of a server with its chunk's current version. */
struct ns_replica_row {
	uint64_t handle;
	uint64_t version;     /* the chunk's current version */
	bool has_chunk;       /* false: the row outlived its chunk */
};

/* The replica rows the database has for server "addr", ascending by
 * handle, each with its chunk's version: one pass over an index instead
 * of a chunk lookup per row (a chunk report compares every replica of a
 * server). A new array (caller frees; NULL when *n is 0). 0 or -EIO. */
int ns_server_replicas(struct ns_reader *rd, const char *addr,
		       struct ns_replica_row **rows, size_t *n);

/* What the database has for server "addr"'s replica of chunk "handle":
 * the chunk (row->has_chunk, row->version) and whether a replica row
 * names the server (*has_row). 0 or -EIO. */
int ns_replica_row_get(struct ns_reader *rd, uint64_t handle,
		       const char *addr, struct ns_replica_row *row,
		       bool *has_row);

/* Totals over the namespace. */
struct ns_counts {
	uint64_t inodes;      /* every inode, directories included */
	uint64_t files;       /* regular files */
	uint64_t chunks;      /* chunk rows */
};
int ns_count(struct ns_reader *rd, struct ns_counts *counts);

/*
 * Write a consistent copy of the database to "path" (which must not
 * exist) from one read snapshot of a reader's connection. 0, -EEXIST,
 * -ENOENT (no such directory), -EIO.
 */
int ns_backup(struct ns *ns, const char *path);

/* Called per chunk with its file's replication factor and replica list
 * (addresses borrowed for the call). Return non-zero to stop. */
typedef int (*ns_health_fn)(uint64_t handle, uint32_t replication,
			    const char *const *addrs, int naddrs, void *arg);

/* Walk every chunk with its replicas, for health figures. 0, -EIO or a
 * callback's negative value. */
int ns_foreach_chunk(struct ns_reader *rd, ns_health_fn fn, void *arg);

/* Called per known server (strings borrowed for the call). */
typedef int (*ns_server_fn)(const char *addr, const char *rack,
			    uint64_t nreplicas, void *arg);

/* Servers recorded by server_register ops, with how many replica rows
 * name each. 0, -EIO or a callback's negative value. */
int ns_servers(struct ns_reader *rd, ns_server_fn fn, void *arg);

/* Called per replica row of an unconfirmed chunk (address borrowed). */
typedef void (*ns_unconfirmed_fn)(uint64_t handle, const char *addr,
				  void *arg);

/* The replica rows of the chunks no server has reported holding since
 * alloc_chunks placed them (see "confirmed" above), for a restarted
 * master to watch again. 0 or -EIO. */
int ns_unconfirmed_rows(struct ns_reader *rd, ns_unconfirmed_fn fn,
			void *arg);

#endif
