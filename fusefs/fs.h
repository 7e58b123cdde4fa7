/*
 * fs.h - state and operations of the FUSE client (libfuse3 low-level API).
 *
 * Kernel inode numbers are DFS inode numbers (the root is 1 in both), so
 * no translation table is needed and numbers are stable across mounts.
 * The kernel caches entries and attributes for a bounded time
 * (entry_timeout, attr_timeout); file data stays in the kernel page cache
 * between opens when the file did not change (close-to-open: open() asks
 * the master for fresh attributes and keeps the cache only if mtime and
 * size are what this mount last saw).
 *
 * Modules:
 *   main.c         options, mount, the multi-threaded loop
 *   ops.c          the fuse_lowlevel_ops table, init and destroy
 *   ops_ns.c       lookup, getattr, setattr, mkdir, unlink, rename, ...
 *   ops_file.c     create, open, read, write, flush, fsync, release
 *   ops_dir.c      opendir, readdir, readdirplus, releasedir
 *   ops_xattr.c    setxattr, getxattr, listxattr, removexattr (user.*)
 *   inode_table.c  per-inode lookup counts, open handles, cache state
 *   deferred_attr.c  setattrs kept for a file's next flush
 *   file_tail.c    the partial last page of files written here
 *   dir_names.c    names of directories made here, for negative lookups
 */
#ifndef FUSEFS_FS_H
#define FUSEFS_FS_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dfs_client.h"

struct inode_table;
struct inode_stamp;
struct dir_reuse;
struct dir_names;

/* Settings from the command line. */
struct fs_config {
	char *master;           /* --master, else $DFS_MASTER */
	char *secret;           /* --secret key file, else $DFS_SECRET */
	char *ca;               /* --ca CA file (https), else $DFS_CA */
	double attr_timeout;    /* seconds the kernel trusts attributes */
	double entry_timeout;   /* seconds the kernel trusts names */
	double negative_timeout; /* seconds it trusts a missing name */
	unsigned read_ahead_kb; /* kernel read-ahead of the mount, 0: leave */
};

/* The mounted file system; the fuse session's userdata. */
struct fs {
	struct dfs_client *client;
	struct inode_table *inodes;
	struct dir_reuse *dir_reuse;    /* listings kept for a reopen */
	struct dir_names *dir_names;    /* names of directories made here */
	struct fs_config cfg;
};

/* The listings ops_dir.c keeps between opens of a directory. */
struct dir_reuse *fs_dir_reuse_new(void);
void fs_dir_reuse_free(struct dir_reuse *r);

/* The file system of a request. */
static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Fill a struct stat from DFS attributes. */
void fs_attr_to_stat(const struct dfs_attr *a, struct stat *st);

/* Fill an entry reply for attrs "a" (after inode_table_fix_attr). */
void fs_fill_entry(struct fs *fs, const struct dfs_attr *a,
		   struct fuse_entry_param *e);

/* Reply with the entry of a new or found inode, taking one lookup
 * reference for the kernel; its attrs, from a master call that started
 * at "st", go into the attr cache (inode_table_learn). */
void fs_reply_entry(fuse_req_t req, struct dfs_attr *a,
		    const struct inode_stamp *st);

/* After a change in directory "ino" by a master call that started at
 * "st": cache the directory's attrs "dir" the reply carried, or drop
 * the cached copy if it carried none (dir->ino is not "ino"). */
void fs_learn_dir(struct fs *fs, uint64_t ino, const struct dfs_attr *dir,
		  const struct inode_stamp *st);

/*
 * The errno for a call on an inode that failed with r: an inode the
 * master no longer knows (unlinked, or renamed over, since the kernel
 * looked its name up) is -ESTALE, so that the kernel looks the name up
 * again and retries (open, stat and chmod of a path do); other errors
 * pass unchanged.
 */
int fs_inode_errno(int r);

/* The operations table (ops.c). */
extern const struct fuse_lowlevel_ops fs_ops;

/* Namespace operations (ops_ns.c). */
void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int to_set, struct fuse_file_info *fi);
void fs_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void fs_statfs(fuse_req_t req, fuse_ino_t ino);

/* File operations (ops_file.c). */
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi);

/* Extended attributes, user.* only (ops_xattr.c). */
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Flush every open handle of "ino" (before a truncate, so that buffered
 * data cannot land after it). 0 or -errno. */
int fs_flush_inode(struct fs *fs, uint64_t ino);

/* Before a setattr that sets mtime: send what every open handle of "ino"
 * buffered to the chunk servers, and make *sa carry the size update
 * (PROTO_SET_EXTEND) that a flush would have sent in a call of its own.
 * After the setattr, fs_note_extended() tells the handles. 0 or -errno. */
int fs_send_inode(struct fs *fs, uint64_t ino, struct dfs_setattr *sa);
void fs_note_extended(struct fs *fs, uint64_t ino, const struct dfs_attr *a);

/* Send the setattrs kept for "ino" (inode_table_defer_setattr()) with the
 * data its handles buffered and its size update: one master call; none
 * if nothing is kept. 0 or -errno. */
int fs_send_deferred(struct fs *fs, uint64_t ino);

/* Directory operations (ops_dir.c). */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);

#endif
