/*
 * ops_dir.c - directory listing.
 *
 * The kernel asks for a directory a few KiB at a time; an open directory
 * (struct fs_dir in fi->fh) keeps one page of up to DIR_PAGE entries from
 * the master and serves the kernel's requests from it, so a listing costs
 * one master call per DIR_PAGE entries. Offsets: 1 and 2 follow "." and
 * "..", an entry's offset is its master cookie + DOT_OFFSETS. Offset 0
 * (opendir or rewinddir) starts a fresh listing.
 *
 * A whole listing (one page) is also kept for the next opendir of the
 * same directory (struct dir_reuse): rm -rf and find -delete open every
 * directory twice, and the second listing then costs no master call. It
 * is used only while younger than attr_timeout and while the inode
 * table's change count shows that this mount learned, dropped or wrote
 * nothing since; the entries then go to the kernel with what is left of
 * their timeouts, so staleness towards other clients stays within
 * attr_timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dir_names.h"
#include "fs.h"
#include "inode_table.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* Entries fetched from the master at once (its page limit). */
#define DIR_PAGE 1000

/* Offsets below this belong to "." and "..". */
#define DOT_OFFSETS 3

/* Listings kept for a reopen, and the largest kept. */
#define REUSE_SLOTS 4
#define REUSE_MAX_ENTRIES 256

/* One cached directory entry. */
struct fs_dirent {
	char *name;
	uint64_t cookie;
	struct dfs_attr attr;
};

/* An open directory. */
struct fs_dir {
	pthread_mutex_t lock;   /* guards the rest */
	uint64_t ino;
	bool filled;            /* the page below is valid */
	uint64_t start;         /* cookie the page was listed after */
	bool eof;               /* the page ends the directory */
	struct fs_dirent *ents;
	size_t n;
	size_t cap;
	size_t hint;            /* index after the last entry handed out */
	struct inode_stamp stamp; /* when the page was asked for */
	bool reused;            /* the page came from struct dir_reuse */
	bool kept;              /* a copy of the page went there */
};

/* A whole listing kept after it was served (see the top). */
struct reuse_slot {
	uint64_t ino;           /* 0: unused */
	uint64_t gen;           /* inode_table_gen() when it was kept */
	struct inode_stamp stamp; /* when it was asked for */
	struct fs_dirent *ents; /* owned */
	size_t n;
};

struct dir_reuse {
	pthread_mutex_t lock;   /* guards the slots */
	struct reuse_slot slot[REUSE_SLOTS];
	unsigned next;          /* slot the next keep replaces */
};

static struct fs_dir *dir_of(const struct fuse_file_info *fi)
{
	return (struct fs_dir *)(uintptr_t)fi->fh;
}

static void ents_free(struct fs_dirent *ents, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
}

static void dir_clear(struct fs_dir *d)
{
	ents_free(d->ents, d->n);
	d->n = 0;
	d->hint = 0;
	d->filled = false;
	d->reused = false;
	d->kept = false;
}

struct dir_reuse *fs_dir_reuse_new(void)
{
	struct dir_reuse *r = xcalloc(1, sizeof(*r));

	pthread_mutex_init(&r->lock, NULL);
	return r;
}

static void slot_clear(struct reuse_slot *s)
{
	ents_free(s->ents, s->n);
	free(s->ents);
	memset(s, 0, sizeof(*s));
}

void fs_dir_reuse_free(struct dir_reuse *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < REUSE_SLOTS; i++)
		slot_clear(&r->slot[i]);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Keep a copy of d's page, a whole listing just served, for the next
 * opendir of the directory. */
static void reuse_keep(struct fs *fs, struct fs_dir *d)
{
	struct dir_reuse *r = fs->dir_reuse;
	struct reuse_slot *s = NULL;
	struct fs_dirent *ents;

	d->kept = true;
	if (d->n > REUSE_MAX_ENTRIES)
		return;
	ents = xmalloc((d->n ? d->n : 1) * sizeof(*ents));
	for (size_t i = 0; i < d->n; i++) {
		ents[i] = d->ents[i];
		ents[i].name = xstrdup(d->ents[i].name);
	}
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < REUSE_SLOTS && s == NULL; i++)
		if (r->slot[i].ino == d->ino)
			s = &r->slot[i];
	if (s == NULL) {
		s = &r->slot[r->next];
		r->next = (r->next + 1) % REUSE_SLOTS;
	}
	slot_clear(s);
	s->ino = d->ino;
	s->gen = inode_table_gen(fs->inodes);
	s->stamp = d->stamp;
	s->ents = ents;
	s->n = d->n;
	pthread_mutex_unlock(&r->lock);
}

/* Fill d's page from a kept listing of its directory if one is still
 * good (see the top); true if it was. */
static bool reuse_take(struct fs *fs, struct fs_dir *d)
{
	struct dir_reuse *r = fs->dir_reuse;
	int64_t max_age_ms = (int64_t)(fs->cfg.attr_timeout * 1000);
	struct reuse_slot *s = NULL;
	bool hit = false;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < REUSE_SLOTS && s == NULL; i++)
		if (r->slot[i].ino == d->ino)
			s = &r->slot[i];
	if (s != NULL) {
		hit = s->gen == inode_table_gen(fs->inodes) &&
		      time_mono_ms() - s->stamp.ms < max_age_ms;
		if (hit) {
			dir_clear(d);
			free(d->ents);
			d->ents = s->ents;
			d->n = d->cap = s->n;
			d->stamp = s->stamp;
			s->ents = NULL;
			s->n = 0;
		}
		slot_clear(s);
	}
	pthread_mutex_unlock(&r->lock);
	if (hit) {
		d->filled = true;
		d->start = 0;
		d->eof = true;
		d->reused = true;
		d->kept = true;
	}
	return hit;
}

/* dfs_readdir() callback: keep the entry; stop after a page. */
static int dir_collect(const struct dfs_dirent *ent, void *arg)
{
	struct fs_dir *d = arg;
	struct fs_dirent *de;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
	}
	de = &d->ents[d->n++];
	de->name = xstrdup(ent->name);
	de->cookie = ent->cookie;
	de->attr = ent->attr;
	return d->n >= DIR_PAGE ? 1 : 0;
}

/* Fetch the page of entries after "cookie". */
static int dir_fill(struct fs *fs, struct fs_dir *d, uint64_t cookie)
{
	int r;

	dir_clear(d);
	inode_table_stamp(fs->inodes, &d->stamp);
	if ((r = dfs_readdir(fs->client, d->ino, cookie, dir_collect, d))) {
		dir_clear(d);
		return r;
	}
	d->filled = true;
	d->start = cookie;
	d->eof = d->n < DIR_PAGE;
	return 0;
}

/* Index in the page of the first entry after "cookie"; false if the page
 * does not tell. */
static bool dir_find(const struct fs_dir *d, uint64_t cookie, size_t *idx)
{
	if (!d->filled)
		return false;
	if (cookie == d->start) {
		*idx = 0;
		return true;
	}
	if (d->hint > 0 && d->hint <= d->n &&
	    d->ents[d->hint - 1].cookie == cookie) {
		*idx = d->hint;
		return true;
	}
	for (size_t i = 0; i < d->n; i++) {
		if (d->ents[i].cookie == cookie) {
			*idx = i + 1;
			return true;
		}
	}
	return false;
}

/* A timeout of "full" seconds for something learned at "st", less
 * what has passed since. */
static double timeout_left(double full, const struct inode_stamp *st)
{
	double left = full - (double)(time_mono_ms() - st->ms) / 1000.0;

	return left > 0 ? left : 0;
}

/* Add one entry to a reply buffer; returns the size it needs (it was
 * added only if that is at most "rem"). A readdirplus entry other than
 * "." and ".." gives the kernel a lookup reference, and its attrs,
 * listed at "st", go into the attr cache unless "reused" (they did when
 * the page was first served). */
static size_t dir_add(fuse_req_t req, char *buf, size_t rem,
		      const char *name, const struct dfs_attr *attr, off_t next,
		      bool plus, const struct inode_stamp *st, bool reused)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_attr a = *attr;
	bool dot = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
	size_t need;

	if (!plus || dot) {
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = a.ino;
		e.attr.st_mode = a.mode;
		if (!plus)
			return fuse_add_direntry(req, buf, rem, name, &e.attr,
						 next);
		return fuse_add_direntry_plus(req, buf, rem, name, &e, next);
	}
	inode_table_fix_attr(fs->inodes, &a);
	fs_fill_entry(fs, &a, &e);
	e.attr_timeout = timeout_left(e.attr_timeout, st);
	e.entry_timeout = timeout_left(e.entry_timeout, st);
	need = fuse_add_direntry_plus(req, buf, rem, name, &e, next);
	if (need <= rem) {
		inode_table_ref(fs->inodes, a.ino);
		if (!reused)
			inode_table_learn(fs->inodes, attr, st);
	}
	return need;
}

/* Add "." and ".." as far as "off" asks; returns bytes used. */
static size_t dir_add_dots(fuse_req_t req, fuse_ino_t ino, char *buf,
			   size_t size, off_t off, bool plus)
{
	struct dfs_attr a = { .ino = ino, .mode = S_IFDIR };
	size_t used = 0, need;

	if (off < 1) {
		need = dir_add(req, buf, size, ".", &a, 1, plus, NULL, false);
		if (need > size)
			return 0;
		used += need;
	}
	if (off < 2) {
		/* The parent is not known here (hard links aside, the
		 * master keeps no parent pointer); the kernel does not use
		 * this number, and it must not be 0. */
		a.ino = ino;
		need = dir_add(req, buf + used, size - used, "..", &a, 2,
			       plus, NULL, false);
		if (need > size - used)
			return used;
		used += need;
	}
	return used;
}

/* Fill buf with entries after cookie; returns bytes used or -errno if
 * nothing could be listed. Directory lock held. */
static ssize_t dir_list(fuse_req_t req, struct fs_dir *d, char *buf,
			size_t size, uint64_t cookie, bool plus)
{
	struct fs_dirent *de;
	size_t used = 0, need, i = 0;
	int r;

	for (;;) {
		if (!dir_find(d, cookie, &i) || (i >= d->n && !d->eof)) {
			if ((r = dir_fill(fs_of(req), d, cookie)) != 0)
				return used > 0 ? (ssize_t)used : r;
			i = 0;
		}
		for (; i < d->n; i++) {
			de = &d->ents[i];
			need = dir_add(req, buf + used, size - used, de->name,
				       &de->attr,
				       (off_t)(de->cookie + DOT_OFFSETS), plus,
				       &d->stamp, d->reused);
			if (need > size - used)
				return (ssize_t)used;
			used += need;
			cookie = de->cookie;
			d->hint = i + 1;
		}
		if (d->eof)
			return (ssize_t)used;
	}
}

/* readdir and readdirplus. */
static void dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi, bool plus)
{
	struct fs_dir *d = dir_of(fi);
	char *buf = xmalloc(size);
	size_t used;
	ssize_t r;

	pthread_mutex_lock(&d->lock);
	if (off == 0 && !reuse_take(fs_of(req), d))
		dir_clear(d);
	used = dir_add_dots(req, ino, buf, size, off, plus);
	r = dir_list(req, d, buf + used, size - used,
		     off >= DOT_OFFSETS ? (uint64_t)off - DOT_OFFSETS : 0,
		     plus);
	/* A whole listing, served through its end: keep it for a reopen. */
	if (r >= 0 && d->filled && d->start == 0 && d->eof && !d->kept &&
	    d->hint == d->n)
		reuse_keep(fs_of(req), d);
	pthread_mutex_unlock(&d->lock);
	if (r < 0 && used == 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, used + (r > 0 ? (size_t)r : 0));
	free(buf);
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dir *d = xcalloc(1, sizeof(*d));

	/* The listing shows the names others made there: a name list
	 * kept for the directory (dir_names.h) must not then answer that
	 * one of them is missing. */
	dir_names_drop(fs_of(req)->dir_names, ino);
	pthread_mutex_init(&d->lock, NULL);
	d->ino = ino;
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		fs_releasedir(NULL, ino, fi);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	dir_read(req, ino, size, off, fi, false);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	dir_read(req, ino, size, off, fi, true);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	struct fs_dir *d = dir_of(fi);

	(void)ino;
	dir_clear(d);
	free(d->ents);
	pthread_mutex_destroy(&d->lock);
	free(d);
	if (req != NULL)
		fuse_reply_err(req, 0);
}

void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	/* Entries are changed by the master alone: make its commits
	 * durable. */
	struct fs *fs = fs_of(req);

	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -dfs_sync(fs->client));
}
