/*
 * inode_table.h - what the mount remembers per inode.
 *
 * An entry exists while the kernel holds lookup references to the inode
 * (lookup, create, mkdir, link, symlink, readdirplus; dropped by forget)
 * or while a handle on it is open. It holds:
 *   - the open handles, so that getattr can report the size of data a
 *     writer on this mount has not flushed yet, and a truncate can flush
 *     them first;
 *   - the mtime and size this mount last saw at open or after its own
 *     flush or setattr, to decide whether the kernel page cache is still
 *     valid at the next open (keep_cache);
 *   - the time of the last write through this mount (mtime before the
 *     flush reaches the master);
 *   - while it is open, the size last reported to the kernel or written
 *     through this mount, which the handles' own sizes may lag behind;
 *   - while it is open, the attrs last reported for it, and setattrs
 *     kept for its next flush (deferred_attr.h);
 *   - the attrs last learned from the master (any reply carrying them)
 *     and when, so that getattr can answer without a master call for
 *     attr_timeout seconds: the kernel asks for a directory's attrs
 *     after every create or unlink in it, and namespace replies carry
 *     them (parent_attr). Staleness towards other mounts is then bounded
 *     by attr_timeout, as with the kernel's own attr cache; this mount's
 *     own changes drop or replace the cached copy at once.
 * Every open handle is also a hold of the inode at the master (the
 * client session, dfs_open()): when a handle's file is closed, the table
 * releases that hold (dfs_close()), so a file unlinked while open stays
 * until its last handle on any mount closes.
 *
 * Thread-safety: one mutex guards the table, the handle lists and the
 * reference counts. Handles are refcounted: the kernel's file handle is
 * one reference, inode_table_handles() lends more; the dfs_file is closed
 * when the last goes. Never call into the network with the table lock
 * held (dfs_file_size() and dfs_file_is_dirty() are lock-free).
 */
#ifndef FUSEFS_INODE_TABLE_H
#define FUSEFS_INODE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "dfs_client.h"

/* An open file: fuse_file_info.fh points to one. */
struct fs_handle {
	struct dfs_file *file;          /* owned, closed with the last ref */
	uint64_t ino;
	bool append;                    /* opened O_APPEND: record appends */
	unsigned refs;                  /* table lock */
	bool registered;                /* in its inode's list; table lock */
	LIST_ENTRY(fs_handle) link;     /* table lock */
};

struct inode_table;

/* New, empty table whose handles' holds are released through client
 * "c" (borrowed). Never NULL. */
struct inode_table *inode_table_new(struct dfs_client *c);

/* Close every handle still open (flushing it, releasing its hold) and
 * free the table. */
void inode_table_free(struct inode_table *t);

/* One more kernel lookup reference to "ino". */
void inode_table_ref(struct inode_table *t, uint64_t ino);

/* The kernel dropped n lookup references to "ino". */
void inode_table_forget(struct inode_table *t, uint64_t ino, uint64_t n);

/* Register an open dfs_file "f" (owned from now on) of inode a->ino,
 * whose open took a hold (dfs_open(), released when f is closed) and
 * whose attrs, as reported to the kernel, are *a; returns the handle
 * with one reference (the kernel's). Never NULL. */
struct fs_handle *inode_table_open(struct inode_table *t,
				   const struct dfs_attr *a, struct dfs_file *f,
				   bool append);

/* The kernel released handle h: unregister it and drop its reference.
 * Returns the result of closing the file if that was the last one. */
int inode_table_release(struct inode_table *t, struct fs_handle *h);

/* True if handles of h's inode other than h hold unflushed writes (not
 * counting O_APPEND handles unless "appends"). */
bool inode_table_others_dirty(struct inode_table *t,
			      const struct fs_handle *h, bool appends);

/* Lend up to "max" referenced handles of "ino" into out; returns how
 * many. Give each back with inode_table_put(). */
size_t inode_table_handles(struct inode_table *t, uint64_t ino,
			   struct fs_handle **out, size_t max);

/* Drop a reference lent by inode_table_handles(). Returns the close
 * result if it was the last one, else 0. */
int inode_table_put(struct inode_table *t, struct fs_handle *h);

/* Correct attrs from the master for what this mount knows and the master
 * does not yet: the size and mtime of unflushed writes, kept setattrs. */
void inode_table_fix_attr(struct inode_table *t, struct dfs_attr *a);

/*
 * Setattrs kept for the next flush (deferred_attr.h). A setattr that may
 * wait is kept while a handle of the inode here holds unflushed writes,
 * for at most INODE_DEFER_MAX_MS from the first one kept; every flush,
 * fsync and the last release of the inode sends what is kept
 * (fs_send_deferred()). inode_table_fix_attr() lays it over attrs from
 * the master.
 */
#define INODE_DEFER_MAX_MS 1000

/* Keep setattr "sa" of open inode "ino" if it may wait; then true, with
 * *a the inode's attrs as this mount now reports them. */
bool inode_table_defer_setattr(struct inode_table *t, uint64_t ino,
			       const struct dfs_setattr *sa, struct dfs_attr *a);

/* If changes of "ino" are kept: add them to *sa under its own fields
 * (deferred_attr_merge()), set *gen for inode_table_deferred_sent(),
 * return true. */
bool inode_table_deferred(struct inode_table *t, uint64_t ino,
			  struct dfs_setattr *sa, uint64_t *gen);

/* The master applied the changes kept as of "gen". */
void inode_table_deferred_sent(struct inode_table *t, uint64_t ino,
			       uint64_t gen);

/* The master set the mtime of "ino" to now (a size change): a kept
 * mtime is older. Writes through the mount do this themselves
 * (inode_table_note_write()). */
void inode_table_mtime_moved(struct inode_table *t, uint64_t ino);

/* True if a's mtime and size are what this mount last saw of the inode
 * (its page cache is valid). Records a as last seen either way. */
bool inode_table_check_seen(struct inode_table *t, const struct dfs_attr *a);

/* True if this mount saw attrs of the inode since the kernel last
 * looked it up or opened it: its page cache may hold the file. */
bool inode_table_seen_known(struct inode_table *t, uint64_t ino);

/* Record a as what this mount last saw of the inode (after its own
 * change, which its page cache already reflects). */
void inode_table_set_seen(struct inode_table *t, const struct dfs_attr *a);

/* A write through handle h now ended at "end". Returns true if other
 * handles of the same inode are open (their read caches need
 * dropping); *send_kept tells whether setattrs kept for the inode have
 * waited INODE_DEFER_MAX_MS (fs_send_deferred() is due). */
bool inode_table_note_write(struct inode_table *t, struct fs_handle *h,
			    uint64_t end, bool *send_kept);

/*
 * The partial last page of a file as written through this mount
 * (file_tail.h), kept for at most INODE_TAIL_BYTES in all: a write
 * through handle h notes its bytes, a read may be answered from them,
 * and a size change that no write made, or a failed flush, drops them.
 * inode_table_check_seen() drops them when the file changed elsewhere.
 */
#define INODE_TAIL_BYTES (32u << 20)

void inode_table_note_tail(struct inode_table *t, const struct fs_handle *h,
			   const void *buf, size_t size, uint64_t off);

/* True, with the bytes in out and their count in *n, if every byte of
 * [off, off + size) below file_size is kept for "ino". */
bool inode_table_read_tail(struct inode_table *t, uint64_t ino, uint64_t off,
			   size_t size, uint64_t file_size, void *out,
			   size_t *n);

void inode_table_drop_tail(struct inode_table *t, uint64_t ino);

/* Size of an open inode as this mount last told the kernel (attrs) or
 * wrote it (0 if not open): a read may go up to there, although the
 * handle read from knows a smaller size. */
uint64_t inode_table_size_hint(struct inode_table *t, uint64_t ino);

/*
 * Attribute cache. Calling sequence of a master call that returns attrs:
 *     inode_table_stamp(t, &st);      before sending the request
 *     dfs_...(..., &a);
 *     inode_table_learn(t, &a, &st);  the attrs as the master sent them
 * A reply can arrive after this mount changed the inode again (another
 * thread's unlink, a write): inode_table_learn() then drops the cached
 * copy instead, as it cannot tell which of the two is newer. Copies are
 * kept only for inodes in the table and never while the inode is open
 * (fs_getattr() then asks the master and corrects for unflushed writes);
 * closing the last handle drops the copy.
 */
struct inode_stamp {
	uint64_t gen;           /* the table's change count at the start */
	int64_t ms;             /* time_mono_ms() at the start */
};

void inode_table_stamp(struct inode_table *t, struct inode_stamp *st);

/* The table's change count: it moves whenever this mount learns or
 * drops attrs or writes to a file, so an unchanged count means nothing
 * the mount knows of changed in between. */
uint64_t inode_table_gen(struct inode_table *t);

/* Cache attrs "a" of a->ino, learned by a call that started at "st". */
void inode_table_learn(struct inode_table *t, const struct dfs_attr *a,
		       const struct inode_stamp *st);

/* This mount changed "ino" in a way no reply told: drop its copy. */
void inode_table_invalidate(struct inode_table *t, uint64_t ino);

/* Drop every cached copy (a change whose effects are unknown). */
void inode_table_invalidate_all(struct inode_table *t);

/* True, with *a set and *age_ms its age, if "ino" has a copy learned
 * less than max_age_ms ago and is not open. */
bool inode_table_cached_attr(struct inode_table *t, uint64_t ino,
			     int64_t max_age_ms, struct dfs_attr *a,
			     int64_t *age_ms);

#endif
