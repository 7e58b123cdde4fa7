/*
 * inode_table.c - per-inode state of the mount (see inode_table.h), kept
 * in a binary tree (tsearch(3)) keyed by inode number.
 */
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deferred_attr.h"
#include "dfs_proto.h"
#include "file_tail.h"
#include "inode_table.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* What the mount knows of one inode. */
struct inode_ent {
	uint64_t ino;
	uint64_t nlookup;               /* kernel lookup references */
	LIST_HEAD(, fs_handle) handles; /* open handles */
	unsigned nhandles;
	bool seen;                      /* seen_* are set */
	struct timespec seen_mtime;     /* mtime last seen by this mount */
	uint64_t seen_size;             /* size last seen by this mount */
	struct timespec write_time;     /* last write through this mount */
	uint64_t size_hint;             /* see inode_table_size_hint() */
	bool attr_valid;                /* attr holds a cached copy */
	struct dfs_attr attr;           /* attrs last learned from the master */
	int64_t attr_ms;                /* time_mono_ms() when asked for */
	uint64_t attr_gen;              /* table gen at the last change of
					 * the copy (learned or dropped) */
	bool last_valid;                /* "last" is set */
	struct dfs_attr last;           /* attrs last reported while open */
	struct deferred_attr deferred;  /* setattrs kept for the next flush */
	struct file_tail tail;          /* its partial last page, written here */
};

struct inode_table {
	struct dfs_client *client;      /* borrowed: releases holds */
	pthread_mutex_t lock;           /* guards everything below */
	void *root;                     /* tsearch tree of struct inode_ent */
	size_t nopen;                   /* open handles, all inodes */
	uint64_t gen;                   /* counts changes of cached copies */
	uint64_t absent_gen;            /* gen of the last drop of a copy
					 * of an inode not in the table: a
					 * new entry starts at it */
	uint64_t all_gen;               /* gen of the last drop of all */
	struct file_tail_budget tails;  /* every entry's "tail" */
};

static int ent_cmp(const void *a, const void *b)
{
	const struct inode_ent *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct inode_table *inode_table_new(struct dfs_client *c)
{
	struct inode_table *t = xcalloc(1, sizeof(*t));

	t->client = c;
	pthread_mutex_init(&t->lock, NULL);
	file_tail_budget_init(&t->tails, INODE_TAIL_BYTES);
	/* The kernel holds the root without looking it up. */
	inode_table_ref(t, DFS_ROOT_INO);
	return t;
}

/* Entry of "ino", created if "create"; NULL if absent. Lock held. */
static struct inode_ent *ent_get(struct inode_table *t, uint64_t ino,
				 bool create)
{
	struct inode_ent key = { .ino = ino }, *e, **slot;

	slot = tfind(&key, &t->root, ent_cmp);
	if (slot != NULL)
		return *slot;
	if (!create)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->ino = ino;
	LIST_INIT(&e->handles);
	/* A drop that found no entry may concern this inode: replies to
	 * calls that started before it must not be cached. */
	e->attr_gen = t->absent_gen;
	if (tsearch(e, &t->root, ent_cmp) == NULL)
		fatalx("out of memory in the inode table");
	return e;
}

/* Free e if nothing refers to it any more. Lock held. */
static void ent_maybe_free(struct inode_table *t, struct inode_ent *e)
{
	if (e->nlookup > 0 || e->nhandles > 0)
		return;
	tdelete(e, &t->root, ent_cmp);
	file_tail_drop(&t->tails, &e->tail);
	free(e);
}

/* Drop the cached copy of "ino"; lock held. */
static void attr_drop(struct inode_table *t, uint64_t ino)
{
	struct inode_ent *e = ent_get(t, ino, false);

	t->gen++;
	if (e == NULL) {
		t->absent_gen = t->gen;
		return;
	}
	e->attr_valid = false;
	e->attr_gen = t->gen;
}

void inode_table_ref(struct inode_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	ent_get(t, ino, true)->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

void inode_table_forget(struct inode_table *t, uint64_t ino, uint64_t n)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL) {
		e->nlookup = n < e->nlookup ? e->nlookup - n : 0;
		ent_maybe_free(t, e);
	}
	pthread_mutex_unlock(&t->lock);
}

struct fs_handle *inode_table_open(struct inode_table *t,
				   const struct dfs_attr *a, struct dfs_file *f,
				   bool append)
{
	uint64_t ino = a->ino;
	struct fs_handle *h = xcalloc(1, sizeof(*h));
	struct inode_ent *e;

	h->file = f;
	h->ino = ino;
	h->append = append;
	h->refs = 1;
	h->registered = true;
	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, true);
	if (e->nhandles == 0)
		e->size_hint = dfs_file_size(f);
	/* Writes through the handle change size and mtime: from now until
	 * the last handle is closed, getattr asks the master. */
	attr_drop(t, ino);
	LIST_INSERT_HEAD(&e->handles, h, link);
	e->nhandles++;
	e->last = *a;
	e->last_valid = true;
	t->nopen++;
	pthread_mutex_unlock(&t->lock);
	return h;
}

/* Drop one reference; lock held. Returns the handle to close (with
 * handle_close()) if that was the last one. */
static struct fs_handle *handle_unref(struct fs_handle *h)
{
	return --h->refs > 0 ? NULL : h;
}

/* Close the file of an unreferenced handle and release its hold; the
 * lock is not held (this flushes over the network). */
static int handle_close(struct inode_table *t, struct fs_handle *h)
{
	int r;

	if (h == NULL)
		return 0;
	r = dfs_file_close(h->file);
	dfs_close(t->client, h->ino);
	free(h);
	return r;
}

/* handle_close(), then drop the inode's cached copy: the close's flush
 * may have changed its size and mtime at the master. */
static int handle_close_drop(struct inode_table *t, struct fs_handle *h)
{
	uint64_t ino;
	int r;

	if (h == NULL)
		return 0;
	ino = h->ino;
	r = handle_close(t, h);
	inode_table_invalidate(t, ino);
	return r;
}

int inode_table_release(struct inode_table *t, struct fs_handle *h)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	if (h->registered) {
		h->registered = false;
		LIST_REMOVE(h, link);
		t->nopen--;
		e = ent_get(t, h->ino, false);
		if (e != NULL && --e->nhandles == 0) {
			/* Kept changes were sent by fs_release(), or could
			 * not be: either way they end with the last open. */
			e->last_valid = false;
			memset(&e->deferred, 0, sizeof(e->deferred));
		}
		if (e != NULL)
			ent_maybe_free(t, e);
	}
	h = handle_unref(h);
	pthread_mutex_unlock(&t->lock);
	return handle_close_drop(t, h);
}

bool inode_table_others_dirty(struct inode_table *t,
			      const struct fs_handle *h, bool appends)
{
	struct inode_ent *e;
	struct fs_handle *o;
	bool dirty = false;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, h->ino, false);
	if (e != NULL && e->nhandles > 1) {
		LIST_FOREACH(o, &e->handles, link) {
			if (o != h && (appends || !o->append) &&
			    dfs_file_is_dirty(o->file)) {
				dirty = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&t->lock);
	return dirty;
}

size_t inode_table_handles(struct inode_table *t, uint64_t ino,
			   struct fs_handle **out, size_t max)
{
	struct inode_ent *e;
	struct fs_handle *h;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL) {
		LIST_FOREACH(h, &e->handles, link) {
			if (n == max)
				break;
			h->refs++;
			out[n++] = h;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

int inode_table_put(struct inode_table *t, struct fs_handle *h)
{
	pthread_mutex_lock(&t->lock);
	h = handle_unref(h);
	pthread_mutex_unlock(&t->lock);
	return handle_close_drop(t, h);
}

/*
 * Bring attrs "a" up to what e's handles know; lock held. "a" may have
 * been read before a size update of a handle landed (a flush by another
 * thread, such as another handle's close): the newer acknowledgement,
 * by ctime, wins. Then size and times rise to the unflushed writes.
 */
static void ent_fix_attr(const struct inode_ent *e, struct dfs_attr *a)
{
	const struct fs_handle *h;
	struct dfs_file_ack ack;
	bool dirty = false;
	uint64_t size;

	LIST_FOREACH (h, &e->handles, link) {
		if (dfs_file_acked(h->file, &ack) &&
		    time_ts_after(&ack.ctime, &a->ctime)) {
			a->size = ack.size;
			a->mtime = ack.mtime;
			a->ctime = ack.ctime;
		}
	}
	LIST_FOREACH(h, &e->handles, link) {
		if (!dfs_file_is_dirty(h->file))
			continue;
		dirty = true;
		size = dfs_file_size(h->file);
		if (size > a->size)
			a->size = size;
	}
	if (dirty && time_ts_after(&e->write_time, &a->mtime)) {
		a->mtime = e->write_time;
		if (time_ts_after(&e->write_time, &a->ctime))
			a->ctime = e->write_time;
	}
}

void inode_table_fix_attr(struct inode_table *t, struct dfs_attr *a)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, a->ino, false);
	if (e == NULL)
		goto out;
	ent_fix_attr(e, a);
	e->size_hint = a->size;
	if (e->nhandles > 0) {
		deferred_attr_overlay(&e->deferred, a);
		e->last = *a;
		e->last_valid = true;
	}
out:
	pthread_mutex_unlock(&t->lock);
}

/* True if a handle of e holds unflushed writes; lock held. */
static bool ent_dirty(const struct inode_ent *e)
{
	const struct fs_handle *h;

	LIST_FOREACH(h, &e->handles, link)
		if (dfs_file_is_dirty(h->file))
			return true;
	return false;
}

bool inode_table_defer_setattr(struct inode_table *t, uint64_t ino,
			       const struct dfs_setattr *sa, struct dfs_attr *a)
{
	int64_t now_ms = time_mono_ms();
	struct inode_ent *e;
	bool kept = false;

	if (!deferred_attr_can_wait(sa))
		return false;
	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e == NULL || e->nhandles == 0 || !e->last_valid || !ent_dirty(e))
		goto out;
	if (deferred_attr_any(&e->deferred) &&
	    now_ms - e->deferred.first_ms >= INODE_DEFER_MAX_MS)
		goto out;
	deferred_attr_keep(&e->deferred, sa, time_now_ts(), now_ms);
	t->gen++;
	/* The kernel takes the reply's size as the file's: writes made
	 * since "last" was reported must be in it. */
	*a = e->last;
	ent_fix_attr(e, a);
	deferred_attr_overlay(&e->deferred, a);
	kept = true;
out:
	pthread_mutex_unlock(&t->lock);
	return kept;
}

bool inode_table_deferred(struct inode_table *t, uint64_t ino,
			  struct dfs_setattr *sa, uint64_t *gen)
{
	struct inode_ent *e;
	bool any = false;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL && deferred_attr_any(&e->deferred)) {
		deferred_attr_merge(&e->deferred, sa);
		*gen = e->deferred.gen;
		any = true;
	}
	pthread_mutex_unlock(&t->lock);
	return any;
}

void inode_table_deferred_sent(struct inode_table *t, uint64_t ino,
			       uint64_t gen)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL)
		deferred_attr_sent(&e->deferred, gen);
	pthread_mutex_unlock(&t->lock);
}

void inode_table_mtime_moved(struct inode_table *t, uint64_t ino)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL)
		deferred_attr_drop_mtime(&e->deferred);
	pthread_mutex_unlock(&t->lock);
}

bool inode_table_check_seen(struct inode_table *t, const struct dfs_attr *a)
{
	struct inode_ent *e;
	bool same;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, a->ino, true);
	same = e->seen && e->seen_size == a->size &&
	       e->seen_mtime.tv_sec == a->mtime.tv_sec &&
	       e->seen_mtime.tv_nsec == a->mtime.tv_nsec;
	e->seen = true;
	e->seen_size = a->size;
	e->seen_mtime = a->mtime;
	if (!same)
		file_tail_drop(&t->tails, &e->tail);
	ent_maybe_free(t, e);
	pthread_mutex_unlock(&t->lock);
	return same;
}

bool inode_table_seen_known(struct inode_table *t, uint64_t ino)
{
	struct inode_ent *e;
	bool seen;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	seen = e != NULL && e->seen;
	pthread_mutex_unlock(&t->lock);
	return seen;
}

void inode_table_set_seen(struct inode_table *t, const struct dfs_attr *a)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, a->ino, false);
	if (e != NULL) {
		e->seen = true;
		e->seen_size = a->size;
		e->seen_mtime = a->mtime;
	}
	pthread_mutex_unlock(&t->lock);
}

bool inode_table_note_write(struct inode_table *t, struct fs_handle *h,
			    uint64_t end, bool *send_kept)
{
	struct inode_ent *e;
	bool others = false;

	*send_kept = false;
	pthread_mutex_lock(&t->lock);
	t->gen++; /* a size the kernel may have learned is older now */
	e = ent_get(t, h->ino, false);
	if (e != NULL) {
		e->write_time = time_now_ts();
		deferred_attr_drop_mtime(&e->deferred);
		if (end > e->size_hint)
			e->size_hint = end;
		others = e->nhandles > 1;
		*send_kept = deferred_attr_any(&e->deferred) &&
			     time_mono_ms() - e->deferred.first_ms >=
				     INODE_DEFER_MAX_MS;
	}
	pthread_mutex_unlock(&t->lock);
	return others;
}

uint64_t inode_table_size_hint(struct inode_table *t, uint64_t ino)
{
	struct inode_ent *e;
	uint64_t size = 0;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL && e->nhandles > 0)
		size = e->size_hint;
	pthread_mutex_unlock(&t->lock);
	return size;
}

void inode_table_stamp(struct inode_table *t, struct inode_stamp *st)
{
	pthread_mutex_lock(&t->lock);
	st->gen = t->gen;
	pthread_mutex_unlock(&t->lock);
	st->ms = time_mono_ms();
}

uint64_t inode_table_gen(struct inode_table *t)
{
	uint64_t gen;

	pthread_mutex_lock(&t->lock);
	gen = t->gen;
	pthread_mutex_unlock(&t->lock);
	return gen;
}

void inode_table_learn(struct inode_table *t, const struct dfs_attr *a,
		       const struct inode_stamp *st)
{
	struct inode_ent *e;
	bool changed;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, a->ino, false);
	if (e == NULL)
		goto out;
	/* Changed since the call started: which copy is newer is unknown,
	 * keep neither. Open: fs_getattr() asks the master anyway. */
	changed = e->attr_gen > st->gen || t->all_gen > st->gen;
	e->attr_gen = ++t->gen;
	e->attr_valid = !changed && e->nhandles == 0;
	if (e->attr_valid) {
		e->attr = *a;
		e->attr_ms = st->ms;
	}
out:
	pthread_mutex_unlock(&t->lock);
}

void inode_table_invalidate(struct inode_table *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	attr_drop(t, ino);
	pthread_mutex_unlock(&t->lock);
}

void inode_table_invalidate_all(struct inode_table *t)
{
	pthread_mutex_lock(&t->lock);
	t->all_gen = ++t->gen;
	t->absent_gen = t->gen;
	pthread_mutex_unlock(&t->lock);
}

bool inode_table_cached_attr(struct inode_table *t, uint64_t ino,
			     int64_t max_age_ms, struct dfs_attr *a,
			     int64_t *age_ms)
{
	struct inode_ent *e;
	bool hit = false;

	pthread_mutex_lock(&t->lock);
	e = ent_get(t, ino, false);
	if (e != NULL && e->attr_valid && e->attr_gen > t->all_gen &&
	    e->nhandles == 0) {
		*age_ms = time_mono_ms() - e->attr_ms;
		hit = *age_ms < max_age_ms;
		if (hit)
			*a = e->attr;
	}
	pthread_mutex_unlock(&t->lock);
	return hit;
}

/* The table tdestroy() empties (it passes no argument; only used
 * while the last thread frees the table). */
static struct inode_table *destroy_table;

/* tdestroy() callback: close what is still open, free the entry. */
static void ent_destroy(void *p)
{
	struct inode_ent *e = p;
	struct fs_handle *h;
	int r;

	while ((h = LIST_FIRST(&e->handles)) != NULL) {
		LIST_REMOVE(h, link);
		h->registered = false;
		if ((r = handle_close(destroy_table, handle_unref(h))) != 0)
			log_warnx("closing inode %llu at unmount: %s",
				  (unsigned long long)e->ino, strerror(-r));
	}
	file_tail_drop(&destroy_table->tails, &e->tail);
	free(e);
}

void inode_table_free(struct inode_table *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	destroy_table = t;
	tdestroy(t->root, ent_destroy);
	t->root = NULL;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void inode_table_note_tail(struct inode_table *t, const struct fs_handle *h,
			   const void *buf, size_t size, uint64_t off)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	if ((e = ent_get(t, h->ino, false)) != NULL) {
		/* A record append went where the master put it, not to
		 * "off". */
		if (h->append)
			file_tail_drop(&t->tails, &e->tail);
		else
			file_tail_note_write(&t->tails, &e->tail, buf, size,
					     off);
	}
	pthread_mutex_unlock(&t->lock);
}

bool inode_table_read_tail(struct inode_table *t, uint64_t ino, uint64_t off,
			   size_t size, uint64_t file_size, void *out,
			   size_t *n)
{
	struct inode_ent *e;
	bool hit = false;

	pthread_mutex_lock(&t->lock);
	if ((e = ent_get(t, ino, false)) != NULL)
		hit = file_tail_read(&e->tail, off, size, file_size, out, n);
	pthread_mutex_unlock(&t->lock);
	return hit;
}

void inode_table_drop_tail(struct inode_table *t, uint64_t ino)
{
	struct inode_ent *e;

	pthread_mutex_lock(&t->lock);
	if ((e = ent_get(t, ino, false)) != NULL)
		file_tail_drop(&t->tails, &e->tail);
	pthread_mutex_unlock(&t->lock);
}
