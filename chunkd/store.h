/*
 * store.h - the replica store of a chunk server.
 *
 * A replica is one chunk's bytes on this server, at one version. It lives
 * in two files under DIR/chunks/XX/ (XX: the handle's last two hex
 * digits):
 *     HHHHHHHHHHHHHHHH        the data, exactly "length" bytes long
 *     HHHHHHHHHHHHHHHH.meta   a 64-byte header (magic, format, handle,
 *                             version, length, block size, header
 *                             checksum) then one little-endian 32-bit
 *                             checksum_block() per DFS_BLOCK_SIZE block
 * Handles are parsed as integers and always formatted with %016llx, so a
 * request can never name a path outside the store.
 *
 * Invariants: block i's checksum covers bytes [i * BS, min((i + 1) * BS,
 * length)) of the data file; bytes past "length" read as zeros. Every
 * read verifies every block it touches; a mismatch fails the read with
 * -EBADMSG and moves the replica to DIR/corrupt/ (it disappears from the
 * chunk report, so the master re-replicates it from a good copy; the
 * set-aside copy is reported until the master says to drop it). A
 * partially overwritten block is verified before it is merged, so a
 * write never launders corruption into a fresh checksum.
 *
 * Mutations write the data first, then the metadata; a failed data write
 * leaves the metadata untouched. A crash between the two leaves a block
 * whose checksum no longer matches, which the next read reports as
 * corrupt; the mutation was never acknowledged.
 *
 * Locking: every replica has an entry (refcounted, in a tree keyed by
 * handle) with a reader/writer lock (reads share it, mutations hold it
 * exclusively while they touch the files) and a mutation lock that a
 * caller holds across a whole replicated mutation (store_lock()) so that
 * every replica applies mutations in the primary's order.
 *
 * The files of recently used replicas stay open between calls (at most
 * 64 replicas' worth; closed before a replica's files are removed, set
 * aside or replaced, and by store_free()). Free space is measured at
 * most every 100 ms, and the replicas set aside as corrupt are known
 * from memory, so creating a replica costs only its own files.
 *
 * All file I/O goes through struct store_io_ops, chosen once at
 * store_new(), so tests can inject faults.
 *
 * Calling sequence:
 *     st = store_new(dir, NULL, NULL);       scans DIR/chunks
 *     store_set_chunk_size(st, master's chunk size);
 *     store_lock(); store_write() / store_truncate() ...; store_unlock()
 *     store_read(), store_sync(), store_list(), store_delete()
 *     store_free(st);
 */
#ifndef DFS_CHUNKD_STORE_H
#define DFS_CHUNKD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "replica_meta.h"

struct store;
struct store_lock;

/* Which file of a replica an I/O call is about (for fault injection). */
enum store_file {
	STORE_FILE_DATA = 0,
	STORE_FILE_META = 1,
	STORE_FILE_DIR = 2,
};

/*
 * The I/O backend. Every function returns what its POSIX namesake does,
 * except that failures are negative errno values instead of -1 + errno.
 * "arg" is the pointer given to store_new().
 */
struct store_io_ops {
	int (*open)(void *arg, enum store_file file, const char *path,
		    int flags, mode_t mode);
	ssize_t (*pread)(void *arg, enum store_file file, int fd, void *buf,
			 size_t len, off_t off);
	ssize_t (*pwrite)(void *arg, enum store_file file, int fd,
			  const void *buf, size_t len, off_t off);
	int (*fsync)(void *arg, enum store_file file, int fd);
	int (*ftruncate)(void *arg, enum store_file file, int fd, off_t len);
	int (*close)(void *arg, enum store_file file, int fd);
	/* Start writing [off, off + len) to disk without waiting (may be
	 * NULL: no early writeback). */
	void (*writeback)(void *arg, enum store_file file, int fd, off_t off,
			  off_t len);
};

/* The default backend: plain POSIX calls. */
extern const struct store_io_ops store_posix_ops;

/* Size of the metadata header that precedes the block checksums. */
#define STORE_META_HEADER REPLICA_META_HEADER

/* Chunk size assumed until the master tells its own (the cluster default). */
#define STORE_DEFAULT_CHUNK_SIZE (64ULL * 1024 * 1024)

/* Largest chunk size a master may set (1 GiB). */
#define STORE_MAX_CHUNK_SIZE REPLICA_MAX_LENGTH

/* Largest handle or version (they stay below 2^63). */
#define STORE_MAX_ID ((uint64_t)INT64_MAX)

/* One line of the chunk report. */
struct store_replica {
	uint64_t handle;
	uint64_t version;
	uint64_t length;        /* bytes held by the replica */
};

/*
 * Open the store in "dir" (created if missing, with chunks/ and its 256
 * subfolders), load the chunk size saved by the last
 * store_set_chunk_size() and scan every replica. Replicas whose metadata
 * is unreadable are moved to DIR/corrupt/ and logged; data files without
 * metadata (an interrupted creation) are removed. "ops" NULL means
 * store_posix_ops; "ops_arg" is passed to every op. Returns NULL (and
 * logs why) if the folder cannot be used.
 */
struct store *store_new(const char *dir, const struct store_io_ops *ops,
			void *ops_arg);

/* Free the store. No call may be running. NULL is a no-op. */
void store_free(struct store *st);

/* The store folder (borrowed). */
const char *store_dir(const struct store *st);

/*
 * Set the cluster's chunk size (1 .. STORE_MAX_CHUNK_SIZE, a multiple of
 * DFS_BLOCK_SIZE is not required) and save it under DIR so a restart
 * without the master keeps it. 0 or -EINVAL / -errno of the save (the
 * size is applied anyway).
 */
int store_set_chunk_size(struct store *st, uint64_t chunk_size);

/* Current chunk size (STORE_DEFAULT_CHUNK_SIZE until set). */
uint64_t store_chunk_size(const struct store *st);

/*
 * Take the mutation lock of "handle", waiting at most timeout_ms.
 * 0 and *lk set (release with store_unlock()), or -EAGAIN on timeout.
 * Holders may call every other store function for that handle.
 */
int store_lock(struct store *st, uint64_t handle, int timeout_ms,
	       struct store_lock **lk);

/* Release a lock taken by store_lock(). NULL is a no-op. */
void store_unlock(struct store_lock *lk);

/*
 * 0 if a mutation at "version" may proceed (the replica is at that
 * version, or absent and not moved past it: store_set_version()), else
 * -ESTALE.
 */
int store_check_version(struct store *st, uint64_t handle, uint64_t version);

/*
 * Open replica "handle" at "version" read-only, for a reader on this
 * machine that reads the files itself (local_srv.c): *data and *meta get
 * descriptors the caller owns. -ENOENT if absent, -ESTALE if at another
 * version, else 0 or -errno. The reader checks the metadata header and
 * the block checksums itself: the files may change or, once the replica
 * is deleted, be emptied and reused for another one.
 */
int store_open_readonly(struct store *st, uint64_t handle, uint64_t version,
			int *data, int *meta);

/*
 * Read len bytes at off into buf. Bytes past the replica's length read as
 * zeros. 0; -ENOENT (no replica), -ESTALE (other version), -EINVAL (past
 * the chunk size), -EBADMSG (checksum mismatch; the replica is then
 * quarantined), or the -errno of the I/O.
 */
int store_read(struct store *st, uint64_t handle, uint64_t version,
	       uint64_t off, void *buf, size_t len);

/*
 * Write len bytes of buf (borrowed; written straight from it) at off,
 * creating the replica at "version" if absent. 0; -ESTALE (at another
 * version, or absent and moved past it: store_set_version()), -EINVAL
 * (off + len past the chunk size), -ENOSPC, -EBADMSG (a partially
 * overwritten block was corrupt), or the -errno of the I/O. On a data
 * write failure the metadata is unchanged.
 */
int store_write(struct store *st, uint64_t handle, uint64_t version,
		uint64_t off, const void *buf, size_t len);

/*
 * Truncate or zero-extend the replica to "size" bytes, creating it at
 * "version" if absent. Errors as store_write().
 */
int store_truncate(struct store *st, uint64_t handle, uint64_t version,
		   uint64_t size);

/*
 * fsync() the replica's data and metadata (and its folder if the replica
 * is new since its last sync). 0, -ENOENT, -ESTALE or -errno.
 */
int store_sync(struct store *st, uint64_t handle, uint64_t version);

/*
 * Change the version of a replica from "old_version" to "new_version"
 * (a new lease), durably (the metadata is fsync()ed). 0, -ENOENT,
 * -ESTALE (not at old_version), -errno. An absent replica (-ENOENT) keeps
 * "new_version" as a floor for a while (store_int.h): creating it at an
 * older version is then -ESTALE, so that a writer with the old lease
 * cannot make a replica that is stale from its first byte.
 */
int store_set_version(struct store *st, uint64_t handle,
		      uint64_t old_version, uint64_t new_version);

/*
 * Remove the replica if it is at "version" (any version when version is
 * 0). 0, -ENOENT (absent), -ESTALE (at another version), -errno.
 */
int store_delete(struct store *st, uint64_t handle, uint64_t version);

/*
 * Read and verify every block of a replica (the scrubber's unit of work).
 * 0, -ENOENT, -EBADMSG (quarantined as by store_read()) or -errno.
 */
int store_verify(struct store *st, uint64_t handle);

/*
 * The chunk report: every replica, sorted by handle, in a new array the
 * caller frees. Returns the count (*out is NULL when it is 0).
 */
size_t store_list(struct store *st, struct store_replica **out);

/*
 * The handles whose replica appeared, went or changed version since the
 * last call (unsorted, possibly repeated), in a new array the caller
 * frees; the record starts afresh. *complete is false when more changed
 * than the store keeps track of (STORE_CHANGES_MAX): then only a full
 * report (store_list()) is exact. What a report of changes lists
 * (master_conn.c); taken before store_list() for a full one, so that a
 * change racing with the listing is reported again, not lost.
 */
size_t store_take_changes(struct store *st, uint64_t **out, bool *complete);

/* Most changes recorded between two store_take_changes() calls. */
#define STORE_CHANGES_MAX (1u << 20)

/* Version and length of the replica of "handle" into *out. 0 or
 * -ENOENT. */
int store_stat(struct store *st, uint64_t handle, struct store_replica *out);

/* True if "handle" has a replica here (at any version). */
bool store_has(struct store *st, uint64_t handle);

/*
 * Whole-replica import (store_import.c): a copy made by another server
 * arrives in order, is written aside under DIR/import/ with fresh
 * checksums and installed atomically by store_import_commit(), so a
 * half-made copy never appears in the chunk report. Calling sequence:
 *     store_import_begin(st, handle, version, length, &imp);
 *     store_import_write(imp, buf, len) ...  (in order; every piece but
 *                                             the last a multiple of
 *                                             DFS_BLOCK_SIZE)
 *     store_import_commit(imp)  or  store_import_abort(imp)
 * Writes and truncates do not recreate a replica set aside as corrupt;
 * an import does.
 */
struct store_import;

/*
 * Start importing "length" bytes of replica "handle" at "version".
 * 0 and *out set; -EEXIST (a replica at that version or a newer one is
 * here), -ENOSPC (less free space than "length"), -EINVAL, or -errno.
 */
int store_import_begin(struct store *st, uint64_t handle, uint64_t version,
		       uint64_t length, struct store_import **out);

/* Append len bytes (borrowed). 0, -EINVAL (past "length", or after a
 * piece that was not a whole number of blocks) or -errno. */
int store_import_write(struct store_import *imp, const void *buf,
		       size_t len);

/*
 * Check that "length" bytes arrived, fsync the copy and install it,
 * replacing an older replica of the handle. Frees imp either way.
 * 0; -EEXIST (a replica at that version or a newer one appeared
 * meanwhile), -EINVAL (short), or -errno.
 */
int store_import_commit(struct store_import *imp);

/* Drop an import and its files. NULL is a no-op. */
void store_import_abort(struct store_import *imp);

/*
 * Replicas set aside as corrupt (store_corrupt.c): their handles,
 * sorted, in a new array the caller frees (NULL when the count is 0).
 * Returns the count.
 */
size_t store_corrupt_list(struct store *st, uint64_t **out);

/* Remove the set-aside copy of "handle". 0 or -errno (-ENOENT: none). */
int store_corrupt_drop(struct store *st, uint64_t handle);

/* Usage figures: replicas, bytes they hold, and the capacity (bytes held
 * plus the space still available in the store's file system). */
struct store_usage {
	uint64_t chunks;
	uint64_t used;
	uint64_t capacity;
};
void store_get_usage(struct store *st, struct store_usage *u);

#endif
