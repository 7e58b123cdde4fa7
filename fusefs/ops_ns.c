/*
 * ops_ns.c - namespace operations of the mount: each is one master call
 * through the client library, its attrs corrected for this mount's
 * unflushed writes (inode_table_fix_attr) before they reach the kernel.
 * Every attr a reply carries (the directory's too, after a change in
 * it) goes into the inode table's attr cache, from which getattr
 * answers for attr_timeout seconds.
 */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "dir_names.h"
#include "fs.h"
#include "inode_table.h"
#include "log.h"
#include "timeutil.h"
#include "banned.h"

/* st_blksize: tools size their I/O after it (cp uses it as buffer). */
#define FS_BLKSIZE (1024 * 1024)

/* statfs block unit. */
#define FS_FRSIZE 4096

void fs_attr_to_stat(const struct dfs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_rdev = a->rdev;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
	st->st_blksize = FS_BLKSIZE;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
}

void fs_fill_entry(struct fs *fs, const struct dfs_attr *a,
		   struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	fs_attr_to_stat(a, &e->attr);
	e->attr_timeout = fs->cfg.attr_timeout;
	e->entry_timeout = fs->cfg.entry_timeout;
}

void fs_reply_entry(fuse_req_t req, struct dfs_attr *a,
		    const struct inode_stamp *st)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;

	/* Referenced first: the cache keeps only inodes in the table. */
	inode_table_ref(fs->inodes, a->ino);
	inode_table_learn(fs->inodes, a, st);
	inode_table_fix_attr(fs->inodes, a);
	fs_fill_entry(fs, a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		inode_table_forget(fs->inodes, a->ino, 1);
}

void fs_learn_dir(struct fs *fs, uint64_t ino, const struct dfs_attr *dir,
		  const struct inode_stamp *st)
{
	if (dir->ino == ino)
		inode_table_learn(fs->inodes, dir, st);
	else
		inode_table_invalidate(fs->inodes, ino);
}

int fs_inode_errno(int r)
{
	return r == -ENOENT ? -ESTALE : r;
}

/* True if a namespace change that failed with r certainly changed
 * nothing: the master refuses with these before changing anything,
 * while another error (the connection lost) may hide a change made. */
static bool error_changed_nothing(int r)
{
	return r == -ENOENT || r == -EEXIST || r == -ENOTEMPTY ||
	       r == -EISDIR || r == -ENOTDIR || r == -EINVAL || r == -EPERM ||
	       r == -ENAMETOOLONG;
}

/*
 * Reply to a call that made a new name in directory "parent": with the
 * entry, or the error of a failed call. The directory's cached attrs
 * become "dir" (from the reply); after a failure that may hide a change
 * they are dropped.
 */
static void reply_new_name(fuse_req_t req, int r, fuse_ino_t parent,
			   const char *name, struct dfs_attr *a,
			   const struct dfs_attr *dir,
			   const struct inode_stamp *st)
{
	struct fs *fs = fs_of(req);

	if (r != 0) {
		if (!error_changed_nothing(r))
			inode_table_invalidate(fs->inodes, parent);
		dir_names_drop(fs->dir_names, parent);
		fuse_reply_err(req, -r);
		return;
	}
	fs_learn_dir(fs, parent, dir, st);
	dir_names_changed(fs->dir_names, parent, dir, NULL, name, st->ms);
	if (S_ISDIR(a->mode))
		dir_names_made(fs->dir_names, a, st->ms);
	fs_reply_entry(req, a, st);
}

/*
 * Follow, in the name lists of directories this mount made, a change
 * that took "name" out of "parent" and, for a rename, put "newname" into
 * "newparent" (an exchange keeps both names where they were).
 */
static void follow_names(struct fs *fs, int r, uint64_t parent,
			 const char *name, uint64_t newparent,
			 const char *newname, bool exchange,
			 const struct dfs_ns_change *chg,
			 const struct inode_stamp *st)
{
	struct dir_names *dn = fs->dir_names;

	if (r != 0 || chg->ino == 0) {
		dir_names_drop(dn, parent);
		dir_names_drop(dn, newparent);
		return;
	}
	if (exchange)
		name = newname = NULL;
	if (newparent == parent) {
		dir_names_changed(dn, parent, &chg->dir, name, newname, st->ms);
	} else {
		dir_names_changed(dn, parent, &chg->dir, name, NULL, st->ms);
		dir_names_changed(dn, newparent, &chg->newdir, NULL, newname,
				  st->ms);
	}
	/* A directory removed, or replaced by a rename, is gone. */
	if (!exchange && newname == NULL)
		dir_names_drop(dn, chg->ino);
	if (!exchange && chg->target_ino != 0)
		dir_names_drop(dn, chg->target_ino);
}

/*
 * Bring the attr cache up to date after an unlink, rmdir or rename in
 * "parent" (and "newparent") that returned r: both directories, the
 * inode that lost or moved its name and the one a rename replaced. An
 * older master reports none of it: drop every cached copy then.
 */
static void learn_change(struct fs *fs, int r, uint64_t parent,
			 uint64_t newparent, const struct dfs_ns_change *chg,
			 const struct inode_stamp *st)
{
	struct inode_table *t = fs->inodes;

	if (r != 0) {
		if (!error_changed_nothing(r))
			inode_table_invalidate_all(t);
		return;
	}
	if (chg->ino == 0) {
		inode_table_invalidate_all(t);
		return;
	}
	fs_learn_dir(fs, parent, &chg->dir, st);
	/* The same directory twice would look like a concurrent change. */
	if (newparent != parent)
		fs_learn_dir(fs, newparent, &chg->newdir, st);
	if (chg->attr.ino == chg->ino)
		inode_table_learn(t, &chg->attr, st);
	else
		inode_table_invalidate(t, chg->ino);
	if (chg->target_ino == 0)
		return;
	if (chg->target.ino == chg->target_ino)
		inode_table_learn(t, &chg->target, st);
	else
		inode_table_invalidate(t, chg->target_ino);
}

/* Reply with attrs (corrected for this mount), which the kernel may
 * keep for "timeout" seconds. */
static void reply_attr_for(fuse_req_t req, struct dfs_attr *a,
			   double timeout)
{
	struct fs *fs = fs_of(req);
	struct stat st;

	inode_table_fix_attr(fs->inodes, a);
	fs_attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, timeout);
}

/* Reply with fresh attrs and the attr timeout. */
static void reply_attr(fuse_req_t req, struct dfs_attr *a)
{
	reply_attr_for(req, a, fs_of(req)->cfg.attr_timeout);
}

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode_stamp st;
	struct dfs_attr a;
	int r;

	/* A name missing from a directory this mount made and holds the
	 * lease of: no master call (the kernel asks before every
	 * create). */
	if (dir_names_missing(fs->dir_names, parent, name, time_mono_ms())) {
		r = -ENOENT;
	} else {
		inode_table_stamp(fs->inodes, &st);
		r = dfs_lookup(fs->client, parent, name, &a);
	}
	if (r == -ENOENT) {
		/* Negative entry: not cached by default, since a name that
		 * another client creates (a MapReduce output, a file copied
		 * in on another host) must show up at once. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->cfg.negative_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r != 0)
		fuse_reply_err(req, -r);
	else
		fs_reply_entry(req, &a, &st);
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_table_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		inode_table_forget(fs->inodes, forgets[i].ino,
				   forgets[i].nlookup);
	fuse_reply_none(req);
}

/*
 * Attrs from the cache while fresh: the kernel asks for a directory's
 * attrs (permission checks) after every change in it, and the reply of
 * that change carried them. An open inode is never answered from the
 * cache (inode_table.h): the master's attrs, corrected for unflushed
 * writes, tell a growing size.
 */
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	double timeout = fs->cfg.attr_timeout;
	struct inode_stamp st;
	struct dfs_attr a;
	int64_t age_ms;
	int r;

	(void)fi;
	/* The kernel keeps a cached copy only for what is left of its
	 * attr_timeout: the staleness bound stays attr_timeout. */
	if (inode_table_cached_attr(fs->inodes, ino,
				    (int64_t)(timeout * 1000), &a, &age_ms)) {
		reply_attr_for(req, &a, timeout - (double)age_ms / 1000);
		return;
	}
	inode_table_stamp(fs->inodes, &st);
	if ((r = dfs_getattr(fs->client, ino, &a)) != 0) {
		fuse_reply_err(req, -fs_inode_errno(r));
		return;
	}
	inode_table_learn(fs->inodes, &a, &st);
	reply_attr(req, &a);
}

/* Translate FUSE setattr bits into a dfs_setattr. */
static void setattr_from_fuse(const struct stat *attr, int to_set,
			      struct dfs_setattr *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa->valid |= PROTO_SET_MODE;
		sa->mode = attr->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa->valid |= PROTO_SET_UID;
		sa->uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa->valid |= PROTO_SET_GID;
		sa->gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		sa->valid |= PROTO_SET_SIZE;
		sa->size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa->valid |= PROTO_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa->valid |= PROTO_SET_ATIME;
		sa->atime = attr->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa->valid |= PROTO_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa->valid |= PROTO_SET_MTIME;
		sa->mtime = attr->st_mtim;
	}
}

/* Tell every open handle of "ino" its new size after a truncate. */
static void set_handles_size(struct fs *fs, uint64_t ino, uint64_t size)
{
	struct fs_handle *hs[64];
	size_t n = inode_table_handles(fs->inodes, ino, hs, 64);

	for (size_t i = 0; i < n; i++) {
		dfs_file_set_size(hs[i]->file, size);
		inode_table_put(fs->inodes, hs[i]);
	}
}

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct inode_stamp st;
	struct dfs_setattr sa;
	struct dfs_attr a;
	bool deferred;
	uint64_t gen = 0;
	int r = 0;

	(void)fi;
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	setattr_from_fuse(attr, to_set, &sa);
	/* cp -a's futimens and fchmod of the file it is writing: sent with
	 * the size update of its close. */
	if (inode_table_defer_setattr(fs->inodes, ino, &sa, &a)) {
		reply_attr(req, &a);
		return;
	}
	/* Changes kept so far go along, under this one's. */
	deferred = inode_table_deferred(fs->inodes, ino, &sa, &gen);
	/* Buffered data must not land after a truncate or an explicit
	 * mtime (one set while the file was not being written, or kept
	 * until now). The mtime's setattr also carries the size update of
	 * that data. */
	if (sa.valid & PROTO_SET_SIZE) {
		inode_table_drop_tail(fs->inodes, ino);
		r = fs_flush_inode(fs, ino);
	} else if (sa.valid & (PROTO_SET_MTIME | PROTO_SET_MTIME_NOW))
		r = fs_send_inode(fs, ino, &sa);
	if (r != 0)
		goto out;
	inode_table_stamp(fs->inodes, &st);
	if ((r = dfs_setattr(fs->client, ino, &sa, &a)) != 0) {
		inode_table_invalidate(fs->inodes, ino);
		r = fs_inode_errno(r);
		goto out;
	}
	if (deferred)
		inode_table_deferred_sent(fs->inodes, ino, gen);
	if (sa.valid & PROTO_SET_EXTEND)
		fs_note_extended(fs, ino, &a);
	if (sa.valid & PROTO_SET_SIZE) {
		set_handles_size(fs, ino, a.size);
		inode_table_mtime_moved(fs->inodes, ino);
	}
	inode_table_set_seen(fs->inodes, &a);
	inode_table_learn(fs->inodes, &a, &st);
	reply_attr(req, &a);
	return;
out:
	fuse_reply_err(req, -r);
}

void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[DFS_PATH_MAX + 1];
	int r;

	r = dfs_readlink(fs_of(req)->client, ino, target, sizeof(target));
	if (r != 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
}

void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct dfs_attr a, dir;
	struct inode_stamp st;
	int r;

	mode = (mode & S_IFMT) | (mode & 07777 & ~ctx->umask);
	inode_table_stamp(fs_of(req)->inodes, &st);
	r = dfs_mknod(fs_of(req)->client, parent, name, mode, rdev, ctx->uid,
		      ctx->gid, &a, &dir);
	reply_new_name(req, r, parent, name, &a, &dir, &st);
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct dfs_attr a, dir;
	struct inode_stamp st;
	int r;

	inode_table_stamp(fs_of(req)->inodes, &st);
	r = dfs_mkdir(fs_of(req)->client, parent, name,
		      mode & 07777 & ~ctx->umask, ctx->uid, ctx->gid, &a, &dir);
	reply_new_name(req, r, parent, name, &a, &dir, &st);
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct dfs_ns_change chg;
	struct inode_stamp st;
	int r;

	/* An open file stays until its last close on any mount: the
	 * master keeps it while a session holds it (dfs_open()). */
	inode_table_stamp(fs->inodes, &st);
	r = dfs_unlink(fs->client, parent, name, &chg);
	learn_change(fs, r, parent, parent, &chg, &st);
	follow_names(fs, r, parent, name, parent, NULL, false, &chg, &st);
	fuse_reply_err(req, -r);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct dfs_ns_change chg;
	struct inode_stamp st;
	int r;

	inode_table_stamp(fs->inodes, &st);
	r = dfs_rmdir(fs->client, parent, name, &chg);
	learn_change(fs, r, parent, parent, &chg, &st);
	follow_names(fs, r, parent, name, parent, NULL, false, &chg, &st);
	fuse_reply_err(req, -r);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct dfs_attr a, dir;
	struct inode_stamp st;
	int r;

	inode_table_stamp(fs_of(req)->inodes, &st);
	r = dfs_symlink(fs_of(req)->client, parent, name, link, ctx->uid,
			ctx->gid, &a, &dir);
	reply_new_name(req, r, parent, name, &a, &dir, &st);
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct dfs_ns_change chg;
	struct inode_stamp st;
	unsigned pflags = 0;
	int r;

	if (flags & RENAME_NOREPLACE)
		pflags |= PROTO_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		pflags |= PROTO_RENAME_EXCHANGE;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	inode_table_stamp(fs->inodes, &st);
	r = dfs_rename(fs->client, parent, name, newparent, newname, pflags,
		       &chg);
	learn_change(fs, r, parent, newparent, &chg, &st);
	follow_names(fs, r, parent, name, newparent, newname,
		     (flags & RENAME_EXCHANGE) != 0, &chg, &st);
	fuse_reply_err(req, -r);
}

void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct dfs_attr a, dir;
	struct inode_stamp st;
	int r;

	inode_table_stamp(fs_of(req)->inodes, &st);
	r = dfs_link(fs_of(req)->client, ino, newparent, newname, &a, &dir);
	/* The answer lost, nlink and ctime of "ino" may have changed. */
	if (r != 0 && !error_changed_nothing(r))
		inode_table_invalidate(fs_of(req)->inodes, ino);
	reply_new_name(req, r, newparent, newname, &a, &dir, &st);
}

void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct dfs_statfs st;
	struct statvfs sv;
	int r;

	(void)ino;
	if ((r = dfs_statfs(fs_of(req)->client, &st)) != 0) {
		fuse_reply_err(req, -r);
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = FS_BLKSIZE;
	sv.f_frsize = FS_FRSIZE;
	sv.f_blocks = st.capacity / FS_FRSIZE;
	sv.f_bfree = st.free / FS_FRSIZE;
	sv.f_bavail = st.free / FS_FRSIZE;
	sv.f_files = st.files + (1ULL << 32);
	sv.f_ffree = 1ULL << 32;
	sv.f_favail = 1ULL << 32;
	sv.f_namemax = DFS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}
