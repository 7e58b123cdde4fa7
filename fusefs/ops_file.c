/*
 * ops_file.c - file data operations of the mount.
 *
 * fi->fh is a struct fs_handle (inode_table.h) around a struct dfs_file,
 * which buffers writes and reads ahead. Close-to-open: open() asks the
 * master for fresh attrs and keeps the kernel page cache only if the file
 * is as this mount last saw it; flush() (every close) sends buffered data
 * to every replica and the new size and mtime to the master.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "inode_table.h"
#include "log.h"
#include "orphans.h"
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

/* Give back the kernel's handle h; at the inode's last close, remove
 * the hidden names that kept it alive. Returns the close result. */
static int release_handle(struct fs *fs, struct fs_handle *h)
{
	char **orphans;
	size_t n;
	int r;

	r = inode_table_release(fs->inodes, h, &orphans, &n);
	if (orphans != NULL)
		orphans_drop(fs, orphans, n);
	return r;
}

int fs_flush_inode(struct fs *fs, uint64_t ino)
{
	struct fs_handle *hs[MAX_HANDLES];
	struct dfs_attr a;
	size_t n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	int r = 0, e;

	for (size_t i = 0; i < n; i++) {
		e = dfs_file_flush(hs[i]->file);
		if (e == 0 && dfs_file_attr(hs[i]->file, &a))
			inode_table_set_seen(fs->inodes, &a);
		if (e != 0 && r == 0)
			r = e;
		inode_table_put(fs->inodes, hs[i]);
	}
	return r;
}

/* O_TRUNC: flush what this mount buffered for the file, cut it to zero
 * and tell every open handle. *a receives the new attrs. */
static int truncate_on_open(struct fs *fs, uint64_t ino, struct dfs_attr *a)
{
	struct dfs_setattr sa = { .valid = PROTO_SET_SIZE, .size = 0 };
	struct fs_handle *hs[MAX_HANDLES];
	size_t n;
	int r;

	if ((r = fs_flush_inode(fs, ino)) != 0)
		return r;
	if ((r = dfs_setattr(fs->client, ino, &sa, a)) != 0)
		return r;
	n = inode_table_handles(fs->inodes, ino, hs, MAX_HANDLES);
	for (size_t i = 0; i < n; i++) {
		dfs_file_set_size(hs[i]->file, 0);
		inode_table_put(fs->inodes, hs[i]);
	}
	return 0;
}

/* Open inode a->ino with fresh attrs *a: truncate if asked, decide on
 * keep_cache, register the handle in fi->fh. */
static int open_handle(struct fs *fs, struct dfs_attr *a,
		       struct fuse_file_info *fi)
{
	int accmode = fi->flags & O_ACCMODE;
	struct dfs_file *f;
	bool keep;
	int r;

	if (S_ISDIR(a->mode))
		return -EISDIR;
	keep = inode_table_check_seen(fs->inodes, a);
	/* From here on, the size this mount knows, unflushed writes
	 * included: a truncate must cut them, appends land after them. */
	inode_table_fix_attr(fs->inodes, a);
	if ((fi->flags & O_TRUNC) && accmode != O_RDONLY && a->size > 0) {
		if ((r = truncate_on_open(fs, a->ino, a)) != 0)
			return r;
		inode_table_check_seen(fs->inodes, a);
		keep = false;
	}
	log_debug("open inode %llu size %llu mtime %lld.%09ld keep_cache %d",
		  (unsigned long long)a->ino, (unsigned long long)a->size,
		  (long long)a->mtime.tv_sec, a->mtime.tv_nsec, keep);
	f = dfs_file_open(fs->client, a->ino,
			  fi->flags & (O_ACCMODE | O_APPEND), a->size);
	fi->fh = (uintptr_t)inode_table_open(fs->inodes, a->ino, f);
	fi->keep_cache = keep;
	return 0;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct dfs_attr a;
	int r;

	if ((r = dfs_getattr(fs->client, ino, &a)) != 0) {
		fuse_reply_err(req, -fs_inode_errno(r));
		return;
	}
	if ((r = open_handle(fs, &a, fi)) != 0) {
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
	struct dfs_attr a;
	int r;

	r = dfs_create(fs->client, parent, name,
		       S_IFREG | (mode & 07777 & ~ctx->umask), ctx->uid,
		       ctx->gid, &a);
	/* Someone else created it since the kernel looked: open theirs. */
	if (r == -EEXIST && !(fi->flags & O_EXCL))
		r = dfs_lookup(fs->client, parent, name, &a);
	if (r != 0 || (r = open_handle(fs, &a, fi)) != 0) {
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
	char *buf = read_buf_get(size);
	ssize_t n;

	(void)ino;
	n = dfs_file_read(handle_of(fi)->file, buf, size, off);
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
	ssize_t n;

	(void)ino;
	n = dfs_file_write(h->file, buf, size, off);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (inode_table_note_write(fs->inodes, h))
		drop_other_caches(fs, h);
	fuse_reply_write(req, (size_t)n);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	struct dfs_attr a;
	int r;

	(void)ino;
	r = dfs_file_flush(h->file);
	if (r == 0 && dfs_file_attr(h->file, &a))
		inode_table_set_seen(fs->inodes, &a);
	fuse_reply_err(req, -r);
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	fuse_reply_err(req, -dfs_file_fsync(handle_of(fi)->file));
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int r;

	r = release_handle(fs_of(req), handle_of(fi));
	if (r != 0)
		log_warnx("closing inode %llu: %s", (unsigned long long)ino,
			  strerror(-r));
	fuse_reply_err(req, 0);
}
