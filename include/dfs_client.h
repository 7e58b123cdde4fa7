/*
 * dfs_client.h - the DFS client library: namespace calls to the master and
 * file data to and from the chunk servers. fusefs, dfs and mr all use it.
 *
 * Namespace functions are thin, typed wrappers over the master endpoints
 * of dfs_proto.h. File data goes through struct dfs_file, which buffers
 * writes (write-back, flushed in large requests along each chunk's replica
 * chain), keeps chunk locations cached, retries reads on other replicas
 * and reports the new size to the master after writing past the end.
 *
 * All functions return 0 (or a byte count) on success and a negative errno
 * on failure. A struct dfs_client is thread-safe; a struct dfs_file may be
 * used from several threads (it has its own lock).
 *
 * Calling sequence for data:
 *     f = dfs_file_open(c, ino, flags);
 *     dfs_file_write(f, buf, len, off) ... dfs_file_read(f, buf, len, off)
 *     dfs_file_flush(f)   data on every replica's server (close-to-open)
 *     dfs_file_fsync(f)   and on every replica's disk
 *     dfs_file_close(f)   flushes, then frees
 */
#ifndef DFS_CLIENT_H
#define DFS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct dfs_client;
struct dfs_file;

/* Connect to the master at "addr" ("host:port"). Nothing is sent until
 * the first call. Never NULL. */
struct dfs_client *dfs_client_new(const char *master_addr);
void dfs_client_free(struct dfs_client *c);

/* Master address given at creation (borrowed). */
const char *dfs_client_master(const struct dfs_client *c);

/* Ask for leases of directories' names with every namespace change this
 * client makes (proto.h "Directory change counts"; needs a session,
 * dfs_session_start()). Call before the client is used. */
void dfs_client_want_dir_leases(struct dfs_client *c);

/* Master address from $DFS_MASTER, else "127.0.0.1:9000" (borrowed). */
const char *dfs_default_master(void);

/* Namespace calls. "attr" outputs may be NULL. */
int dfs_lookup(struct dfs_client *c, uint64_t parent, const char *name,
	       struct dfs_attr *attr);
int dfs_getattr(struct dfs_client *c, uint64_t ino, struct dfs_attr *attr);
/* Resolve an absolute DFS path ("/a/b"). */
int dfs_resolve(struct dfs_client *c, const char *path, struct dfs_attr *attr);

/* What dfs_setattr() should change: fields named in "valid"
 * (enum proto_setattr_flags). */
struct dfs_setattr {
	unsigned valid;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint64_t extend;        /* PROTO_SET_EXTEND: the size grows to this */
	struct timespec atime;
	struct timespec mtime;
};

/* Apply a setattr; a size change also truncates the boundary chunk's
 * replicas so that later growth reads zeros. */
int dfs_setattr(struct dfs_client *c, uint64_t ino,
		const struct dfs_setattr *sa, struct dfs_attr *attr);

/*
 * Names: create, mknod, mkdir, symlink and link set *attr to the attrs of
 * the new name's inode and *dir to those of the directory the name went
 * into, right after the change (for a caller that caches attrs). Both
 * may be NULL; dir->ino is 0 when the master did not say (an older
 * master).
 */
int dfs_create(struct dfs_client *c, uint64_t parent, const char *name,
	       uint32_t mode, uint32_t uid, uint32_t gid,
	       struct dfs_attr *attr, struct dfs_attr *dir);
/* Create a node of any type (S_IFMT bits of "mode": regular file, FIFO,
 * socket, device with "rdev"). */
int dfs_mknod(struct dfs_client *c, uint64_t parent, const char *name,
	      uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
	      struct dfs_attr *attr, struct dfs_attr *dir);
int dfs_mkdir(struct dfs_client *c, uint64_t parent, const char *name,
	      uint32_t mode, uint32_t uid, uint32_t gid,
	      struct dfs_attr *attr, struct dfs_attr *dir);
int dfs_symlink(struct dfs_client *c, uint64_t parent, const char *name,
		const char *target, uint32_t uid, uint32_t gid,
		struct dfs_attr *attr, struct dfs_attr *dir);
/* Target of a symlink into buf (NUL-terminated, truncated to size). */
int dfs_readlink(struct dfs_client *c, uint64_t ino, char *buf, size_t size);
int dfs_link(struct dfs_client *c, uint64_t ino, uint64_t newparent,
	     const char *newname, struct dfs_attr *attr,
	     struct dfs_attr *dir);

/*
 * What an unlink, rmdir or rename did besides removing or moving a name,
 * as the master reports it (EP_UNLINK, EP_RENAME). An attr whose ino is
 * 0 was not reported: an inode that no longer exists, or an older master
 * (then "ino" is 0 too).
 */
struct dfs_ns_change {
	struct dfs_attr dir;            /* "parent" after the change */
	struct dfs_attr newdir;         /* rename: "newparent" after it */
	uint64_t ino;                   /* inode the (old) name held */
	struct dfs_attr attr;           /* its attrs, if it still exists */
	uint64_t target_ino;            /* rename: inode the new name held
					 * before, 0 if none */
	struct dfs_attr target;         /* its attrs, if it still exists */
};

/* "chg" (may be NULL) receives what the change did. */
int dfs_unlink(struct dfs_client *c, uint64_t parent, const char *name,
	       struct dfs_ns_change *chg);
int dfs_rmdir(struct dfs_client *c, uint64_t parent, const char *name,
	      struct dfs_ns_change *chg);
int dfs_rename(struct dfs_client *c, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags,
	       struct dfs_ns_change *chg);

/* One directory entry handed to a dfs_readdir() callback. */
struct dfs_dirent {
	const char *name;       /* borrowed for the callback's duration */
	uint64_t cookie;        /* resume the listing after this entry */
	struct dfs_attr attr;
};

/* Called per entry; return non-zero to stop early (that value is then
 * returned by dfs_readdir if negative, or 0 if positive). */
typedef int (*dfs_readdir_fn)(const struct dfs_dirent *ent, void *arg);

/* List directory "ino" from after "cookie" (0: from the start), calling
 * fn for every entry until the end or until fn stops it. */
int dfs_readdir(struct dfs_client *c, uint64_t ino, uint64_t cookie,
		dfs_readdir_fn fn, void *arg);

struct dfs_statfs {
	uint64_t capacity;
	uint64_t used;
	uint64_t free;
	uint64_t files;
	uint64_t chunk_size;
};
int dfs_statfs(struct dfs_client *c, struct dfs_statfs *st);

/* Wait until every namespace change acknowledged so far is on the
 * master's disk (EP_SYNC); fsync() of a file or directory calls it. */
int dfs_sync(struct dfs_client *c);

/* Open file data of inode "ino". flags: O_ACCMODE bits and O_APPEND.
 * Returns NULL only on allocation failure (it does not call the master). */
struct dfs_file *dfs_file_open(struct dfs_client *c, uint64_t ino, int flags,
			       uint64_t size);

/* Read up to len bytes at off; returns bytes read (short at end of file,
 * 0 past it) or -errno. Sees this handle's own unflushed writes. */
ssize_t dfs_file_read(struct dfs_file *f, void *buf, size_t len, off_t off);

/* Write len bytes at off (buffered); returns len or -errno. With O_APPEND
 * "off" is ignored: the master reserves len bytes at the end of the file
 * (EP_APPEND, a record append), so concurrent appenders on any clients
 * never overlap, and the data goes there. */
ssize_t dfs_file_write(struct dfs_file *f, const void *buf, size_t len,
		       off_t off);

/* Size as this handle knows it (including its unflushed writes). */
uint64_t dfs_file_size(struct dfs_file *f);

/* Note a size change made by setattr, so reads and appends agree. */
void dfs_file_set_size(struct dfs_file *f, uint64_t size);

/* Forget cached file data and chunk locations (another handle of the same
 * file wrote), so later reads go to the chunk servers. */
void dfs_file_drop_cache(struct dfs_file *f);

/* The file is at least "size" bytes long (another handle wrote up to
 * there, or the master says so): reads of this handle go up to there.
 * Drops cached data and chunk locations if that grows the size. */
void dfs_file_note_size(struct dfs_file *f, uint64_t size);

/* True if the handle holds writes not yet sent to the chunk servers. */
bool dfs_file_is_dirty(struct dfs_file *f);

/* The size and times of the last size update of this handle's writes
 * that the master acknowledged: attrs fetched before it landed (their
 * ctime is older) are older than what this handle knows. */
struct dfs_file_ack {
	uint64_t size;
	struct timespec mtime;
	struct timespec ctime;
};

/* Copy the last acknowledgement into *ack without waiting for the
 * handle's lock (which a flush holds while data moves). False if there
 * is none (none yet, or a truncate through this mount came after it). */
bool dfs_file_acked(struct dfs_file *f, struct dfs_file_ack *ack);

/*
 * Read [off, off+len) of chunk ch (a location from the master, with its
 * token) from a replica held by a chunk server of this machine, straight
 * from the replica's files, every block checked against its checksum
 * (short-circuit local read). 0, or a negative errno when no local
 * replica could serve it: then read over the network. Off when the
 * environment has DFS_LOCAL_READS=0.
 */
int dfs_chunk_read_local(struct dfs_client *c, const struct dfs_chunk *ch,
			 uint64_t off, void *buf, size_t len);

/* Send buffered writes to every replica and the new size to the master. */
int dfs_file_flush(struct dfs_file *f);

/* dfs_file_flush() that also applies the attribute changes "sa" (any
 * but PROTO_SET_SIZE) in the master call that carries the size update:
 * one EP_SETATTR, sent before the buffered data and answered after it.
 * *attr receives the attrs it left. */
int dfs_file_flush_setattr(struct dfs_file *f, const struct dfs_setattr *sa,
			   struct dfs_attr *attr);

/* dfs_file_flush() in two steps, for a caller that tells the master the
 * new size itself, in a setattr it sends anyway (PROTO_SET_EXTEND):
 * dfs_file_send() sends buffered writes to every replica and sets
 * *extend_to to the end the master must learn, or 0 if it knows it;
 * after that setattr, dfs_file_extended() takes its reply as the size
 * update. Without it the next flush sends the update itself. */
int dfs_file_send(struct dfs_file *f, uint64_t *extend_to);
void dfs_file_extended(struct dfs_file *f, const struct dfs_attr *attr);

/* Flush, then make the data durable on every replica's disk. */
int dfs_file_fsync(struct dfs_file *f);

/* Flush and free. Returns the flush result; f is freed either way. */
int dfs_file_close(struct dfs_file *f);

/*
 * Client sessions (a mount): while a session runs, dfs_open() holds the
 * inode at the master, so that the file stays readable and writable
 * after its last name goes (unlink, rename over it, on any client)
 * until dfs_close() releases the hold (see EP_OPEN and EP_SESSION). A
 * thread renews the session's lease and sends releases; a session the
 * master forgot (restart) registers its open files again by itself.
 */

/* Start the session of client c (random id). 0, -EALREADY, -errno. */
int dfs_session_start(struct dfs_client *c);

/* End the session (releasing every hold at the master); no-op without
 * one. dfs_client_free() does it too. */
void dfs_session_end(struct dfs_client *c);

/* Attributes of "ino" for an open(): with a session, also a hold of a
 * regular file (one dfs_close() each). -ENOENT when the inode is gone,
 * or nameless and not held by this client. Without a session, as
 * dfs_getattr(). */
int dfs_open(struct dfs_client *c, uint64_t ino, struct dfs_attr *attr);

/* As dfs_open(), without the locations of the file's first chunks that
 * come with it for the reads that follow: for an open whose reads this
 * client expects to answer from its cache. A read that does go to the
 * servers then asks for them. */
int dfs_open_cached(struct dfs_client *c, uint64_t ino, struct dfs_attr *attr);

/* Release one hold taken by dfs_open() (queued, sent in the
 * background). No-op without a session or such a hold. */
void dfs_close(struct dfs_client *c, uint64_t ino);

/* Create a regular file as dfs_create() does and hold it as dfs_open()
 * does (one dfs_close()), in one master call when it can. "dir" as for
 * dfs_create() (may be NULL). */
int dfs_create_open(struct dfs_client *c, uint64_t parent, const char *name,
		    uint32_t mode, uint32_t uid, uint32_t gid,
		    struct dfs_attr *attr, struct dfs_attr *dir);

/*
 * Extended attributes (EP_SETXATTR ...). Names are whole ("user.x").
 * dfs_setxattr flags: 1 create only (-EEXIST), 2 replace only
 * (-ENODATA), as XATTR_CREATE / XATTR_REPLACE; -E2BIG for a value over
 * 64 KiB. dfs_getxattr sets *value (malloc()ed, caller frees; NULL if
 * empty) and *len; -ENODATA if absent. dfs_listxattr sets *names to the
 * NUL-terminated names one after another (malloc()ed, caller frees;
 * NULL if none), *len their total size.
 */
int dfs_setxattr(struct dfs_client *c, uint64_t ino, const char *name,
		 const void *value, size_t len, int flags);
int dfs_getxattr(struct dfs_client *c, uint64_t ino, const char *name,
		 void **value, size_t *len);
int dfs_listxattr(struct dfs_client *c, uint64_t ino, char **names,
		  size_t *len);
int dfs_removexattr(struct dfs_client *c, uint64_t ino, const char *name);

/* Grow file "ino" to at least "size" bytes (never shrinking it) and set
 * its mtime and ctime to now (EP_EXTEND), as fallocate(2) does. "attr"
 * (may be NULL) receives the new attrs. */
int dfs_extend(struct dfs_client *c, uint64_t ino, uint64_t size,
	       struct dfs_attr *attr);

/* Wire form of attribute values (base64), shared with the master: a new
 * string (caller frees); and back into a new buffer *out (caller frees,
 * NULL when empty) of *len <= max bytes: 0, -EINVAL, -ERANGE. */
char *dfs_xattr_encode(const void *buf, size_t len);
int dfs_xattr_decode(const char *text, size_t max, void **out, size_t *len);

#endif
