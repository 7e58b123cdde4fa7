/*
 * ops_file.c - file data operations of the mount.
 *
 * fi->fh is a struct fs_handle (inode_table.h) around a struct dfs_file,
 * which buffers writes and reads ahead. Close-to-open: open() asks the
 * master for fresh attrs and keeps the kernel page cache only if the file
 * is as this mount last saw it; flush() (every close) sends buffered data
 * to every replica and the new size and mtime to the master.
 *
 * Every open holds the inode at the master (dfs_open(), released when
 * the handle's file closes, inode_table.h), so an unlinked open file
 * stays usable on every mount. O_APPEND handles are record appends (the
 * master picks the offset of each write, dfs_file_write()) and bypass the
 * page cache (direct_io): the kernel would cache the data at the offset
 * it guessed, not where it went.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dir_names.h"
#include "fs.h"
#include "inode_table.h"
#include "log.h"
#include "xmalloc.h"
#include "banned.h"

/* Open handles of one inode looked at by one operation, at most. */
#define MAX_HANDLES 64

/* Reply buffer of a read, one per loop thread (reads are up to 1 MiB;
 * allocating that per request would fault in fresh pages every time). */
struct read_buf {
	char *data;
	size_t cap;
};

static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

static void read_buf_free(void *p)
{
	struct read_buf *b = p;

	free(b->data);
	free(b);
}

static void read_buf_key_init(void)
{
	if (pthread_key_create(&read_buf_key, read_buf_free) != 0)
		fatalx("cannot create the read buffer key");
}

/* This thread's reply buffer, at least "size" bytes. */
static char *read_buf_get(size_t size)
{
	struct read_buf *b;

	pthread_once(&read_buf_once, read_buf_key_init);
	b = pthread_getspecific(read_buf_key);
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		pthread_setspecific(read_buf_key, b);
	}
	if (b->cap < size) {
		free(b->data);
		b->data = xmalloc(size);
		b->cap = size;
	}
	return b->data;
}

static struct fs_handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* Give back the kernel's handle h. Returns the close result. */
static int release_handle(struct fs *fs, struct fs_handle *h)
{
	return inode_table_release(fs->inodes, h);
}

/* After a flush of f: this mount has seen the size and mtime the
 * master acknowledged for it. */
static void note_acked(struct fs *fs, uint64_t ino, struct dfs_file *f)
{
	struct dfs_attr a = { .ino = ino };
	struct dfs_file_ack ack;

	if (!dfs_file_acked(f, &ack))
		return;
	a.size = ack.size;
	a.mtime = ack.mtime;
	a.ctime = ack.ctime;
	inode_table_set_seen(fs->inodes, &a);
}

int fs_flush_inode(struct fs *fs, uint64_t ino)
{
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	int r = 0, e;

	for (size_t i = 0; i < n; i++) {
		e = dfs_file_flush(hs[i]->file);
		if (e == 0)
			note_acked(fs, ino, hs[i]->file);
		if (e != 0 && r == 0)
			r = e;
		inode_table_put(fs->inodes, hs[i]);
	}
	return r;
}

int fs_send_inode(struct fs *fs, uint64_t ino, struct dfs_setattr *sa)
{
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	uint64_t end;
	int r = 0, e;

	for (size_t i = 0; i < n; i++) {
		e = dfs_file_send(hs[i]->file, &end);
		if (e == 0 && end > 0) {
			sa->valid |= PROTO_SET_EXTEND;
			if (end > sa->extend)
				sa->extend = end;
		}
		if (e != 0 && r == 0)
			r = e;
		inode_table_put(fs->inodes, hs[i]);
	}
	return r;
}

/*
 * Send the inode's buffered data and "sa" with its size update, in one
 * setattr (the master applies a kept mtime after the update's "now");
 * *a receives the attrs. A single handle does both at once, the setattr
 * travelling while the data goes out (dfs_file_flush_setattr()); with
 * several, the data goes first.
 */
static int send_with_setattr(struct fs *fs, uint64_t ino,
			     struct dfs_setattr *sa, struct dfs_attr *a)
{
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	int r;

	if (n == 1) {
		r = dfs_file_flush_setattr(hs[0]->file, sa, a);
		inode_table_put(fs->inodes, hs[0]);
		return r != 0 ? fs_inode_errno(r) : 0;
	}
	for (size_t i = 0; i < n; i++)
		inode_table_put(fs->inodes, hs[i]);
	if ((r = fs_send_inode(fs, ino, sa)) != 0)
		return r;
	if ((r = dfs_setattr(fs->client, ino, sa, a)) != 0)
		return fs_inode_errno(r);
	if (sa->valid & PROTO_SET_EXTEND)
		fs_note_extended(fs, ino, a);
	return 0;
}

int fs_send_deferred(struct fs *fs, uint64_t ino)
{
	struct dfs_setattr sa = { .valid = 0 };
	struct dfs_attr a;
	uint64_t gen;
	int r;

	if (!inode_table_deferred(fs->inodes, ino, &sa, &gen))
		return 0;
	if ((r = send_with_setattr(fs, ino, &sa, &a)) != 0) {
		log_warnx("inode %llu: sending kept attribute changes: %s",
			  (unsigned long long)ino, strerror(-r));
		return r;
	}
	inode_table_deferred_sent(fs->inodes, ino, gen);
	inode_table_set_seen(fs->inodes, &a);
	return 0;
}

void fs_note_extended(struct fs *fs, uint64_t ino, const struct dfs_attr *a)
{
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);

	for (size_t i = 0; i < n; i++) {
		dfs_file_extended(hs[i]->file, a);
		inode_table_put(fs->inodes, hs[i]);
	}
}

/* O_TRUNC: flush what this mount buffered for the file, cut it to zero
 * and tell every open handle. *a receives the new attrs. */
static int truncate_on_open(struct fs *fs, uint64_t ino, struct dfs_attr *a)
{
	struct dfs_setattr sa = { .valid = PROTO_SET_SIZE, .size = 0 };
	struct fs_handle *hs[MAX_HANDLES];
	size_t n;
	int r;

	inode_table_drop_tail(fs->inodes, ino);
	if ((r = fs_flush_inode(fs, ino)) != 0)
		return r;
	r = dfs_setattr(fs->client, ino, &sa, a);
	/* Not yet open here: a cached copy would still tell the old size. */
	inode_table_invalidate(fs->inodes, ino);
	if (r != 0)
		return r;
	inode_table_mtime_moved(fs->inodes, ino);
	n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	for (size_t i = 0; i < n; i++) {
		dfs_file_set_size(hs[i]->file, 0);
		inode_table_put(fs->inodes, hs[i]);
	}
	return 0;
}

/* Open inode a->ino with fresh attrs *a, held by dfs_open(): truncate
 * if asked (not a file just created), decide on keep_cache and
 * direct_io, register the handle in fi->fh. On failure the caller
 * releases the hold. */
static int open_handle(struct fs *fs, struct dfs_attr *a,
		       struct fuse_file_info *fi, bool created)
{
	int accmode = fi->flags & O_ACCMODE;
	struct dfs_file *f;
	bool keep;
	int r;

	if (S_ISDIR(a->mode))
		return -EISDIR;
	keep = inode_table_check_seen(fs->inodes, a);
	/* From here on, the size this mount knows, unflushed writes
	 * included: a truncate must cut them. */
	inode_table_fix_attr(fs->inodes, a);
	if ((fi->flags & O_TRUNC) && accmode != O_RDONLY && !created) {
		/* Even at size 0: O_TRUNC sets mtime and ctime. */
		if ((r = truncate_on_open(fs, a->ino, a)) != 0)
			return r;
		inode_table_check_seen(fs->inodes, a);
		keep = false;
	}
	if (fi->flags & O_APPEND)
		fi->direct_io = 1;
	/* Nothing to send when a read-only descriptor closes (changes kept
	 * for the close, deferred_attr.h, wait only on a handle with writes,
	 * whose own close sends them), so the kernel need not ask: one FUSE
	 * round trip less per close of every file read. */
	if (accmode == O_RDONLY)
		fi->noflush = 1;
	log_debug("open inode %llu size %llu mtime %lld.%09ld keep_cache %d",
		  (unsigned long long)a->ino, (unsigned long long)a->size,
		  (long long)a->mtime.tv_sec, a->mtime.tv_nsec, keep);
	f = dfs_file_open(fs->client, a->ino,
			  fi->flags & (O_ACCMODE | O_APPEND), a->size);
	fi->fh = (uintptr_t)inode_table_open(fs->inodes, a, f,
					     (fi->flags & O_APPEND) != 0);
	fi->keep_cache = keep;
	return 0;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dfs_attr a;
	int r;

	/* A file this mount has read or written before is likely still in
	 * the kernel's page cache (kept if it did not change, open_handle()):
	 * its reads need no chunk locations, and the master spends half of
	 * an open finding them (diff -r after cp -a). */
	if ((fi->flags & O_ACCMODE) == O_RDONLY &&
	    inode_table_seen_known(fs->inodes, ino))
		r = dfs_open_cached(fs->client, ino, &a);
	else
		r = dfs_open(fs->client, ino, &a);
	if (r != 0) {
		fuse_reply_err(req, -fs_inode_errno(r));
		return;
	}
	if ((r = open_handle(fs, &a, fi, false)) != 0) {
		dfs_close(fs->client, ino);
		fuse_reply_err(req, -r);
		return;
	}
	if (fuse_reply_open(req, fi) != 0)
		release_handle(fs, handle_of(fi));
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct inode_stamp st;
	struct dfs_attr a, dir;
	bool created;
	int r;

	/* Created and held as any open file (dfs_open()). */
	inode_table_stamp(fs->inodes, &st);
	r = dfs_create_open(fs->client, parent, name,
			    mode & 07777 & ~ctx->umask, ctx->uid, ctx->gid,
			    &a, &dir);
	created = r == 0;
	/* The kernel asks for the directory's attrs before the next
	 * change in it: the reply brought them. */
	if (created)
		fs_learn_dir(fs, parent, &dir, &st);
	else if (r != -EEXIST)
		inode_table_invalidate(fs->inodes, parent);
	if (created)
		dir_names_changed(fs->dir_names, parent, &dir, NULL, name,
				  st.ms);
	else
		dir_names_drop(fs->dir_names, parent);
	/* Someone else created it since the kernel looked: open theirs. */
	if (r == -EEXIST && !(fi->flags & O_EXCL) &&
	    (r = dfs_lookup(fs->client, parent, name, &a)) == 0 &&
	    (r = dfs_open(fs->client, a.ino, &a)) == -ENOENT)
		r = -ESTALE;
	if (r != 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if ((r = open_handle(fs, &a, fi, created)) != 0) {
		dfs_close(fs->client, a.ino);
		fuse_reply_err(req, -r);
		return;
	}
	fs_fill_entry(fs, &a, &e);
	inode_table_ref(fs->inodes, a.ino);
	if (fuse_reply_create(req, &e, fi) != 0) {
		inode_table_forget(fs->inodes, a.ino, 1);
		release_handle(fs, handle_of(fi));
	}
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	char *buf = read_buf_get(size);
	uint64_t hint;
	size_t kept;
	ssize_t n;

	/* A read sees every write made through this mount before it, also
	 * those still buffered in other handles of the file, and goes as
	 * far as the size the kernel was told (a short read would make it
	 * believe the file ends there). */
	if (inode_table_others_dirty(fs_of(req)->inodes, h, true) &&
	    (n = fs_flush_inode(fs_of(req), ino)) != 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	hint = inode_table_size_hint(fs_of(req)->inodes, ino);
	if (hint > dfs_file_size(h->file))
		dfs_file_note_size(h->file, hint);
	if (off >= 0 &&
	    inode_table_read_tail(fs_of(req)->inodes, ino, (uint64_t)off, size,
				  dfs_file_size(h->file), buf, &kept)) {
		fuse_reply_buf(req, buf, kept);
		return;
	}
	n = dfs_file_read(h->file, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* Another handle of the inode wrote: drop the read caches of the rest. */
static void drop_other_caches(struct fs *fs, struct fs_handle *writer)
{
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, writer->ino, hs,
				       MAX_HANDLES);

	for (size_t i = 0; i < n; i++) {
		if (hs[i] != writer)
			dfs_file_drop_cache(hs[i]->file);
		inode_table_put(fs->inodes, hs[i]);
	}
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	bool send_kept;
	ssize_t n;

	/*
	 * Writes through one mount land in the order they were made, also
	 * when other handles of the file still buffer earlier ones: those
	 * go out first. A record append only needs the others that are
	 * not appends themselves flushed (so that the master's size, where
	 * the append goes, includes them); appends never overlap.
	 */
	if (inode_table_others_dirty(fs->inodes, h, !h->append) &&
	    (n = fs_flush_inode(fs, ino)) != 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	n = dfs_file_write(h->file, buf, size, off);
	if (n < 0) {
		inode_table_drop_tail(fs->inodes, ino);
		fuse_reply_err(req, (int)-n);
		return;
	}
	inode_table_note_tail(fs->inodes, h, buf, (size_t)n, (uint64_t)off);
	if (inode_table_note_write(fs->inodes, h, dfs_file_size(h->file),
				   &send_kept))
		drop_other_caches(fs, h);
	/* A chmod kept while the file is being written waits for the
	 * close, but not for longer than INODE_DEFER_MAX_MS. */
	if (send_kept)
		(void)fs_send_deferred(fs, ino);
	fuse_reply_write(req, (size_t)n);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	int r, e;

	r = fs_send_deferred(fs, ino);
	if ((e = dfs_file_flush(h->file)) != 0 && r == 0)
		r = e;
	if (r == 0)
		note_acked(fs, ino, h->file);
	/* The data kept may not be what the replicas hold. */
	if (r != 0)
		inode_table_drop_tail(fs->inodes, ino);
	fuse_reply_err(req, -r);
}

/* fsync(2) makes every write to the file durable, also those made
 * through other descriptors: every handle of the inode on this mount. */
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	int r = 0, e;

	(void)datasync;
	(void)fi;
	r = fs_send_deferred(fs, ino);
	for (size_t i = 0; i < n; i++) {
		e = dfs_file_fsync(hs[i]->file);
		if (e != 0 && r == 0)
			r = e;
		inode_table_put(fs->inodes, hs[i]);
	}
	/* Without a handle here, still make the master's commits (the
	 * size another handle sent, say) durable. */
	if (n == 0 && r == 0)
		r = dfs_sync(fs->client);
	if (r != 0)
		inode_table_drop_tail(fs->inodes, ino);
	fuse_reply_err(req, -r);
}

/* Tell every open handle of "ino" that the file grew to "size". */
static void grow_handles(struct fs *fs, uint64_t ino, uint64_t size)
{
	struct fs_handle *hs[MAX_HANDLES];
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);

	for (size_t i = 0; i < n; i++) {
		if (dfs_file_size(hs[i]->file) < size)
			dfs_file_set_size(hs[i]->file, size);
		inode_table_put(fs->inodes, hs[i]);
	}
}

/*
 * fallocate: there is nothing to reserve (chunks are allocated when
 * written, holes read as zeros), so mode 0 only grows the size, and
 * FALLOC_FL_KEEP_SIZE alone does nothing. Punching holes, zeroing,
 * collapsing and inserting ranges are not supported.
 */
void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dfs_attr a;
	int r;

	(void)fi;
	if (mode & ~FALLOC_FL_KEEP_SIZE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (offset < 0 || length <= 0 || offset > INT64_MAX - length) {
		fuse_reply_err(req, offset < 0 || length <= 0 ? EINVAL : EFBIG);
		return;
	}
	if (mode & FALLOC_FL_KEEP_SIZE) {
		fuse_reply_err(req, 0);
		return;
	}
	/* Buffered writes first, so the size the master compares with is
	 * this mount's. */
	if ((r = fs_flush_inode(fs, ino)) == 0 &&
	    (r = dfs_extend(fs->client, ino, (uint64_t)(offset + length),
			    &a)) == 0) {
		grow_handles(fs, ino, a.size);
		inode_table_set_seen(fs->inodes, &a);
		inode_table_mtime_moved(fs->inodes, ino);
	}
	inode_table_invalidate(fs->inodes, ino);
	inode_table_drop_tail(fs->inodes, ino);
	fuse_reply_err(req, -fs_inode_errno(r));
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int r;

	/* Normally sent by the flush of close(); this is the last chance
	 * (the kept changes end with the last handle). */
	if ((r = fs_send_deferred(fs_of(req), ino)) != 0)
		log_warnx("closing inode %llu: %s", (unsigned long long)ino,
			  strerror(-r));
	r = release_handle(fs_of(req), handle_of(fi));
	if (r != 0) {
		inode_table_drop_tail(fs_of(req)->inodes, ino);
		log_warnx("closing inode %llu: %s", (unsigned long long)ino,
			  strerror(-r));
	}
	fuse_reply_err(req, 0);
}
