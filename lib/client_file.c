/*
 * client_file.c - struct dfs_file: file data with write-back and
 * read-ahead.
 *
 * Appends (O_APPEND): every write first reserves its range at the end
 * of the file with the master (record append), then goes through the
 * buffer like any write at that offset.
 *
 * Writes: a contiguous dirty range of up to DFS_MAX_WRITE bytes ("wb")
 * collects write() calls. When a write does not continue it, or the range
 * is full, the range moves to a free slot of "wq" and one of the handle's
 * worker threads sends it (split at chunk boundaries, one PUT per piece
 * to the chunk's primary) while the application keeps filling a new "wb":
 * sending and filling overlap, and up to WQ_SLOTS ranges are in flight,
 * so the chain's round trips of one range overlap those of the next.
 * Ranges in flight never overlap each other (a range that overlaps one
 * waits for it), so the order in which they land does not matter. While
 * writing, the master learns the new size every EXTEND_STEP bytes, and
 * only up to where every byte was sent; a flush waits for the workers,
 * sends "wb" itself and then calls EP_EXTEND once, which grows the
 * master's size and sets mtime. A background failure is kept in "error"
 * and reported by the next write or flush.
 *
 * Reads: sequential readers are served from a window "rc" fetched in one
 * go, while a worker fetches the next window into "ra" (double
 * buffering); the window doubles from RA_MIN to RA_MAX while reads stay
 * sequential. Random reads go straight into the caller's buffer. A read
 * that overlaps unflushed writes flushes first, unless the write buffer
 * holds the whole range. "gen" changes whenever cached data may be stale;
 * a read-ahead started under an older "gen" is thrown away.
 *
 * Locking: "lock" guards every field but "size" and "unflushed", which
 * are atomics so that dfs_file_size() never waits for a transfer. A
 * worker holds "lock" except while it moves data. A worker owns a "wq"
 * slot's buffer while the slot is WQ_SENDING and "ra"'s buffer while
 * ra_state is RA_RUNNING.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "dfs_client.h"
#include "log.h"
#include "xmalloc.h"
#include "banned.h"

/* Read-ahead window: first and largest size. */
#define RA_MIN (1024 * 1024)
#define RA_MAX (8 * 1024 * 1024)

/* Reads at least this large bypass the read cache: the kernel's own
 * read-ahead sends them several at a time, and they run in parallel. */
#define DIRECT_MIN (512 * 1024)

/* Smallest allocation of a data buffer (grows by doubling). */
#define BUF_MIN (256 * 1024)

/* Chunks to fsync remembered before the list is deduplicated. */
#define DIRTY_COMPACT 1024

/* Write ranges in flight at once per handle (and most worker threads). */
#define WQ_SLOTS 4

/* While writing, the master learns the size every this many bytes (each
 * EP_EXTEND is a metadata commit; the flush at close sends the rest). */
#define EXTEND_STEP (16ULL * 1024 * 1024)

/* Largest file offset accepted (sizes are 63-bit on the wire). */
#define FILE_MAX_OFF (1ULL << 62)

/* Largest single record append (the master's limit, EP_APPEND). */
#define FILE_APPEND_MAX (64ULL * 1024 * 1024)

enum ra_state {
	RA_IDLE = 0,            /* no read-ahead */
	RA_QUEUED,              /* waiting for a worker */
	RA_RUNNING,             /* a worker is fetching into "ra" */
	RA_DONE,                /* "ra" holds data (or ra_err) */
};

/* A range of file data in memory. */
struct file_buf {
	char *data;             /* malloc()ed, cap bytes */
	size_t cap;
	uint64_t off;           /* file offset of data[0] */
	size_t len;             /* valid bytes */
};

enum wq_state {
	WQ_FREE = 0,            /* buffer unused */
	WQ_QUEUED,              /* range waiting for a worker */
	WQ_SENDING,             /* a worker is sending the range */
};

/* A write range handed to the workers. */
struct wq_slot {
	struct file_buf buf;
	enum wq_state state;
	uint64_t seq;           /* queueing order: oldest goes first */
};

struct dfs_file {
	struct dfs_client *c;   /* borrowed */
	uint64_t ino;
	int flags;              /* O_ACCMODE bits and O_APPEND */
	struct client_locs *locs; /* chunk locations (own lock) */
	uint64_t size;          /* atomic: size including unflushed writes */
	bool unflushed;         /* atomic: writes not yet flushed */

	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t cond;    /* worker state changed */
	uint64_t master_size;   /* size the master knows */
	uint64_t sent_end;      /* end of the data sent to chunk servers */
	bool extend_due;        /* data sent since the last EP_EXTEND */
	uint64_t sends;         /* ranges sent so far (file_note_sent) */
	uint64_t handed_sends;  /* "sends" at the last dfs_file_send() */
	int error;              /* background write error, reported once */
	/* Size and times of the last size update the master acknowledged
	 * (dfs_file_acked()), for lock-free readers: a sequence lock, odd
	 * while written (under "lock"); ctime 0 when there is none. */
	uint64_t ack_seq;
	uint64_t ack_size;
	int64_t ack_time[4]; /* mtime s, ns; ctime s, ns */

	struct file_buf wb;     /* dirty range being filled */
	struct wq_slot wq[WQ_SLOTS]; /* ranges handed to the workers */
	unsigned wq_pending;    /* slots queued or sending */
	uint64_t wq_seq;        /* last slot seq given */

	struct file_buf rc;     /* read cache window */
	struct file_buf ra;     /* read-ahead window */
	enum ra_state ra_state;
	int ra_err;             /* result of the read-ahead */
	uint64_t ra_gen;        /* "gen" when the read-ahead was queued */
	uint64_t gen;           /* bumped when cached data turns stale */
	size_t window;          /* read-ahead size; 0 after random reads */
	uint64_t next_off;      /* where a sequential reader goes next */

	uint64_t *dirty_chunks; /* chunk indexes written since fsync */
	size_t ndirty;
	size_t dirty_cap;

	pthread_t workers[WQ_SLOTS];
	unsigned nworkers;      /* workers started */
	bool stop;              /* the workers exit when idle */
};

static void *file_worker(void *arg);

struct dfs_file *dfs_file_open(struct dfs_client *c, uint64_t ino, int flags,
			       uint64_t size)
{
	struct dfs_file *f = xcalloc(1, sizeof(*f));

	f->c = c;
	f->ino = ino;
	f->flags = flags;
	f->locs = client_locs_new(c, ino);
	f->size = size;
	f->master_size = size;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	return f;
}

uint64_t dfs_file_size(struct dfs_file *f)
{
	return __atomic_load_n(&f->size, __ATOMIC_ACQUIRE);
}

bool dfs_file_is_dirty(struct dfs_file *f)
{
	return __atomic_load_n(&f->unflushed, __ATOMIC_ACQUIRE);
}

/* Raise the known size to "end" if larger; f->lock held. */
static void file_grow(struct dfs_file *f, uint64_t end)
{
	if (end > dfs_file_size(f))
		__atomic_store_n(&f->size, end, __ATOMIC_RELEASE);
}

/* Make room for "need" bytes in b, keeping its contents. */
static void buf_reserve(struct file_buf *b, size_t need)
{
	size_t cap = b->cap > 0 ? b->cap : BUF_MIN;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

static void buf_release(struct file_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* True if b holds file offset "off". */
static bool buf_holds(const struct file_buf *b, uint64_t off)
{
	return b->len > 0 && off >= b->off && off - b->off < b->len;
}

/* Start one more worker if every one may be busy (one per pending
 * range, at least one). False if there is none and none can start. */
static bool file_start_worker(struct dfs_file *f)
{
	if (f->nworkers == WQ_SLOTS ||
	    (f->nworkers > 0 && f->nworkers >= f->wq_pending))
		return true;
	if (pthread_create(&f->workers[f->nworkers], NULL, file_worker, f) !=
	    0) {
		log_warnx("cannot start a worker for inode %llu",
			  (unsigned long long)f->ino);
		return f->nworkers > 0;
	}
	f->nworkers++;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort the chunks to fsync and drop repeats; lock held. */
static void dirty_compact(struct dfs_file *f)
{
	size_t i, n = 0;

	if (f->ndirty == 0)
		return;
	qsort(f->dirty_chunks, f->ndirty, sizeof(uint64_t), cmp_u64);
	for (i = 0; i < f->ndirty; i++)
		if (n == 0 || f->dirty_chunks[n - 1] != f->dirty_chunks[i])
			f->dirty_chunks[n++] = f->dirty_chunks[i];
	f->ndirty = n;
}

/* Remember which chunks [off, off+len) touched, for fsync; lock held. */
static void file_note_sent(struct dfs_file *f, uint64_t cs, uint64_t off,
			   size_t len)
{
	uint64_t i;

	/* An empty range touched nothing (and at offset 0 the last chunk
	 * below, (off + len - 1) / cs, would wrap to 2^64 / cs). */
	if (len == 0)
		return;
	if (off + len > f->sent_end)
		f->sent_end = off + len;
	f->extend_due = true;
	f->sends++;
	for (i = off / cs; i <= (off + len - 1) / cs; i++) {
		if (f->ndirty > 0 && f->dirty_chunks[f->ndirty - 1] == i)
			continue;
		if (f->ndirty == f->dirty_cap && f->ndirty >= DIRTY_COMPACT)
			dirty_compact(f);
		if (f->ndirty == f->dirty_cap) {
			f->dirty_cap = f->dirty_cap ? f->dirty_cap * 2 : 16;
			f->dirty_chunks = xrealloc(f->dirty_chunks,
						   f->dirty_cap * sizeof(i));
		}
		f->dirty_chunks[f->ndirty++] = i;
	}
}

/* Send [off, off+len) to the chunk servers, one PUT per chunk piece.
 * Needs no lock: it only uses the location cache. */
static int file_send(struct dfs_file *f, const char *data, uint64_t off,
		     size_t len, uint64_t cs)
{
	uint64_t last = (off + len - 1) / cs, idx, at;
	size_t done = 0, n;
	int r;

	while (done < len) {
		idx = (off + done) / cs;
		at = (off + done) % cs;
		n = len - done;
		if (n > cs - at)
			n = cs - at;
		r = client_chunk_write(f->locs, idx, at, data + done, n,
				       last - idx + 1);
		if (r != 0)
			return r;
		done += n;
	}
	return 0;
}

/* Publish an acknowledgement for dfs_file_acked() (NULL: none); lock
 * held. */
static void file_publish_ack(struct dfs_file *f, const struct dfs_attr *attr)
{
	int64_t t[4] = { 0, 0, 0, 0 };

	if (attr != NULL) {
		t[0] = attr->mtime.tv_sec;
		t[1] = attr->mtime.tv_nsec;
		t[2] = attr->ctime.tv_sec;
		t[3] = attr->ctime.tv_nsec;
	}
	__atomic_add_fetch(&f->ack_seq, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&f->ack_size, attr ? attr->size : 0, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++)
		__atomic_store_n(&f->ack_time[i], t[i], __ATOMIC_RELAXED);
	__atomic_add_fetch(&f->ack_seq, 1, __ATOMIC_RELEASE);
}

/* Keep the attrs of an EP_EXTEND reply; lock held. */
static void file_note_attr(struct dfs_file *f, const struct dfs_attr *attr)
{
	file_publish_ack(f, attr);
	f->master_size = attr->size;
	if (attr->size >= f->sent_end)
		f->extend_due = false;
}

/* True if no range in flight but "self" starts below "end"; lock held. */
static bool wq_sent_below(const struct dfs_file *f,
			  const struct wq_slot *self, uint64_t end)
{
	for (int i = 0; i < WQ_SLOTS; i++)
		if (&f->wq[i] != self && f->wq[i].state != WQ_FREE &&
		    f->wq[i].buf.off < end)
			return false;
	return true;
}

/* Send a queued range, then tell the master of a new end if it moved
 * EXTEND_STEP; lock held on entry and exit, dropped while data moves. */
static void worker_write(struct dfs_file *f, struct wq_slot *s)
{
	struct file_buf *b = &s->buf;
	uint64_t end = b->off + b->len, cs = 1;
	struct dfs_attr attr;
	bool grow;
	int r;

	s->state = WQ_SENDING;
	pthread_mutex_unlock(&f->lock);
	if ((r = client_chunk_size(f->c, &cs)) == 0)
		r = file_send(f, b->data, b->off, b->len, cs);
	pthread_mutex_lock(&f->lock);
	if (r == 0)
		file_note_sent(f, cs, b->off, b->len);
	grow = r == 0 && end > f->master_size &&
	       end - f->master_size >= EXTEND_STEP &&
	       wq_sent_below(f, s, end);
	if (grow) {
		pthread_mutex_unlock(&f->lock);
		r = client_extend(f->c, f->ino, end, &attr);
		pthread_mutex_lock(&f->lock);
		if (r == 0)
			file_note_attr(f, &attr);
	}
	if (r != 0) {
		log_warnx("writing inode %llu at %llu: %s",
			  (unsigned long long)f->ino,
			  (unsigned long long)b->off, strerror(-r));
		if (f->error == 0)
			f->error = r;
	}
	b->len = 0;
	s->state = WQ_FREE;
	f->wq_pending--;
	pthread_cond_broadcast(&f->cond);
}

/* The oldest queued range, or NULL; lock held. */
static struct wq_slot *wq_next(struct dfs_file *f)
{
	struct wq_slot *best = NULL;

	for (int i = 0; i < WQ_SLOTS; i++)
		if (f->wq[i].state == WQ_QUEUED &&
		    (best == NULL || f->wq[i].seq < best->seq))
			best = &f->wq[i];
	return best;
}

/* A free slot, or NULL; lock held. */
static struct wq_slot *wq_free_slot(struct dfs_file *f)
{
	for (int i = 0; i < WQ_SLOTS; i++)
		if (f->wq[i].state == WQ_FREE)
			return &f->wq[i];
	return NULL;
}

/* True if [off, off+len) overlaps a range in flight; lock held. */
static bool wq_overlaps(const struct dfs_file *f, uint64_t off, size_t len)
{
	const struct file_buf *b;

	for (int i = 0; i < WQ_SLOTS; i++) {
		b = &f->wq[i].buf;
		if (f->wq[i].state != WQ_FREE && off < b->off + b->len &&
		    b->off < off + len)
			return true;
	}
	return false;
}

/* Fetch [off, off+len) (inside the file) from the chunk servers into
 * buf. Needs no lock. */
static int file_fetch(struct dfs_file *f, char *buf, uint64_t off,
		      size_t len)
{
	uint64_t cs, idx, at, last;
	size_t done = 0, n;
	int r;

	if ((r = client_chunk_size(f->c, &cs)) != 0)
		return r;
	last = (dfs_file_size(f) + cs - 1) / cs;
	while (done < len) {
		idx = (off + done) / cs;
		at = (off + done) % cs;
		n = len - done;
		if (n > cs - at)
			n = cs - at;
		if (n > DFS_MAX_WRITE)
			n = DFS_MAX_WRITE;
		r = client_chunk_read(f->locs, idx, at, buf + done, n,
				      last > idx ? last - idx : 1);
		if (r != 0)
			return r;
		done += n;
	}
	return 0;
}

/* Fetch the queued read-ahead window; lock held on entry and exit. */
static void worker_readahead(struct dfs_file *f)
{
	uint64_t off = f->ra.off;
	size_t len = f->ra.len;
	int r;

	f->ra_state = RA_RUNNING;
	pthread_mutex_unlock(&f->lock);
	r = file_fetch(f, f->ra.data, off, len);
	pthread_mutex_lock(&f->lock);
	f->ra_err = r;
	f->ra_state = RA_DONE;
	pthread_cond_broadcast(&f->cond);
}

/* A worker: sends queued write ranges and fetches read-ahead windows
 * until the handle closes. */
static void *file_worker(void *arg)
{
	struct dfs_file *f = arg;
	struct wq_slot *s;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		if ((s = wq_next(f)) != NULL)
			worker_write(f, s);
		else if (f->ra_state == RA_QUEUED)
			worker_readahead(f);
		else if (f->stop)
			break;
		else
			pthread_cond_wait(&f->cond, &f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/*
 * Hand "wb" to the workers (waiting for a free slot, and for a range in
 * flight that it overlaps); lock held. "wb" is empty afterwards. The
 * wait drops the lock: a flush, or another write's own queueing, may
 * take "wb" meanwhile, and an empty range must not be queued.
 */
static void file_queue(struct dfs_file *f)
{
	struct file_buf tmp;
	struct wq_slot *s;

	for (;;) {
		if (f->wb.len == 0)
			return;
		if ((s = wq_free_slot(f)) != NULL &&
		    !wq_overlaps(f, f->wb.off, f->wb.len))
			break;
		pthread_cond_wait(&f->cond, &f->lock);
	}
	tmp = s->buf;
	s->buf = f->wb;
	f->wb = tmp;
	f->wb.len = 0;
	s->state = WQ_QUEUED;
	s->seq = ++f->wq_seq;
	f->wq_pending++;
	if (!file_start_worker(f))
		worker_write(f, s);
	pthread_cond_broadcast(&f->cond);
}

/* Wait until no range is in flight; lock held. */
static void wq_drain(struct dfs_file *f)
{
	while (f->wq_pending > 0)
		pthread_cond_wait(&f->cond, &f->lock);
}

/* Write everything buffered to the chunk servers; lock held. Reports,
 * then forgets, a background error. */
static int file_send_buffered(struct dfs_file *f)
{
	struct file_buf *b = &f->wb;
	uint64_t cs;
	int r = 0;

	wq_drain(f);
	if (b->len > 0) {
		if ((r = client_chunk_size(f->c, &cs)) == 0 &&
		    (r = file_send(f, b->data, b->off, b->len, cs)) == 0)
			file_note_sent(f, cs, b->off, b->len);
		if (r != 0)
			log_warnx("writing inode %llu at %llu: %s",
				  (unsigned long long)f->ino,
				  (unsigned long long)b->off, strerror(-r));
		b->len = 0;
	}
	if (f->error != 0) {
		if (r == 0)
			r = f->error;
		f->error = 0;
	}
	return r;
}

/*
 * Write everything buffered and tell the master (EP_EXTEND: size and
 * mtime; EP_SETATTR when "extra" brings attribute changes along, whose
 * attrs go to *out); lock held. Reports, then forgets, a background
 * error.
 *
 * With data in the write buffer, the master call is sent before that
 * data and its answer read after it, so that the master's round trip
 * overlaps the chunk servers' one: a small file's close waits for one
 * round trip, not two. The master may then know the new size a moment
 * before every replica holds the data, which no one can rely on before
 * the close returns (close-to-open). If the data cannot be written at
 * all (EIO or ENOSPC once every retry failed), the close reports it and
 * the range it was for keeps its size and reads as zeros: a failed
 * write leaves its range undefined, as a failed mutation does in GFS.
 */
static int file_flush_locked(struct dfs_file *f,
			     const struct dfs_setattr *extra,
			     struct dfs_attr *out)
{
	struct dfs_setattr sa = {.valid = 0};
	struct client_pending *pend = NULL;
	struct dfs_attr attr;
	uint64_t end;
	int r, e;

	/* The ranges in flight first: the size update covers them too. */
	wq_drain(f);
	end = f->sent_end;
	if (f->error == 0 && (f->wb.len > 0 || extra != NULL)) {
		if (extra != NULL)
			sa = *extra;
		if (f->wb.len > 0 && f->wb.off + f->wb.len > end)
			end = f->wb.off + f->wb.len;
		if (f->wb.len > 0 || f->extend_due) {
			if (!(sa.valid & PROTO_SET_EXTEND) || sa.extend < end)
				sa.extend = end;
			sa.valid |= PROTO_SET_EXTEND;
		}
		pend = sa.valid == PROTO_SET_EXTEND
			       ? client_extend_begin(f->c, f->ino, sa.extend)
			       : client_setattr_begin(f->c, f->ino, &sa);
	}
	r = file_send_buffered(f);
	if (pend != NULL) {
		e = client_attr_end(pend, &attr);
		if (e == 0 && (sa.valid & PROTO_SET_EXTEND))
			file_note_attr(f, &attr);
		if (e == 0 && out != NULL)
			*out = attr;
		if (r == 0)
			r = e;
	} else if (r == 0 && f->extend_due) {
		r = client_extend(f->c, f->ino, f->sent_end, &attr);
		if (r == 0)
			file_note_attr(f, &attr);
	}
	__atomic_store_n(&f->unflushed, false, __ATOMIC_RELEASE);
	return r;
}

/* Cached data may no longer match the servers; lock held. */
static void file_invalidate(struct dfs_file *f)
{
	f->rc.len = 0;
	f->gen++;
	if (f->ra_state == RA_QUEUED || f->ra_state == RA_DONE)
		f->ra_state = RA_IDLE;
}

/* Put [p, p+len) at "off" into the write buffer, queueing the buffer
 * first if the write does not continue it. Returns bytes taken. */
static size_t file_buffer(struct dfs_file *f, const char *p, size_t len,
			  uint64_t off)
{
	struct file_buf *b = &f->wb;
	size_t at, n;

	if (b->len > 0 && (off < b->off || off > b->off + b->len ||
			   off - b->off >= DFS_MAX_WRITE))
		file_queue(f);
	if (b->len == 0)
		b->off = off;
	at = off - b->off;
	n = len;
	if (n > DFS_MAX_WRITE - at)
		n = DFS_MAX_WRITE - at;
	buf_reserve(b, at + n);
	memcpy(b->data + at, p, n);
	if (at + n > b->len)
		b->len = at + n;
	return n;
}

/*
 * Record append: the master reserves [*pos, *pos + len) at the end of
 * the file (EP_APPEND), so appenders on every client get disjoint
 * ranges. Called without the lock; the reply's size is noted under it.
 */
static int file_reserve(struct dfs_file *f, size_t len, uint64_t *pos)
{
	struct dfs_attr attr;
	int r;

	if (len > FILE_APPEND_MAX)
		return -EFBIG;
	if ((r = client_append(f->c, f->ino, len, pos, &attr)) != 0)
		return r;
	pthread_mutex_lock(&f->lock);
	if (attr.size > f->master_size)
		f->master_size = attr.size;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

ssize_t dfs_file_write(struct dfs_file *f, const void *buf, size_t len,
		       off_t off)
{
	const char *p = buf;
	uint64_t pos;
	size_t done = 0;
	ssize_t r;

	if (off < 0)
		return -EINVAL;
	pos = (uint64_t)off;
	if ((f->flags & O_APPEND) && len > 0 &&
	    (r = file_reserve(f, len, &pos)) != 0)
		return r;
	pthread_mutex_lock(&f->lock);
	if (f->error != 0) {
		r = f->error;
		f->error = 0;
		goto out;
	}
	if (pos > FILE_MAX_OFF || len > FILE_MAX_OFF - pos) {
		r = -EFBIG;
		goto out;
	}
	if (len > 0) {
		file_invalidate(f);
		__atomic_store_n(&f->unflushed, true, __ATOMIC_RELEASE);
	}
	while (done < len)
		done += file_buffer(f, p + done, len - done, pos + done);
	file_grow(f, pos + len);
	r = (ssize_t)len;
out:
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Queue a fetch of the window after "rc" if the reader is sequential and
 * none is under way; lock held. */
static void file_readahead(struct dfs_file *f)
{
	uint64_t start = f->rc.off + f->rc.len, size = dfs_file_size(f);
	size_t n;

	if (f->ra_state == RA_DONE && f->ra.off != start)
		f->ra_state = RA_IDLE;
	if (f->ra_state != RA_IDLE || f->rc.len == 0 || f->window == 0 ||
	    start >= size)
		return;
	if (f->window < RA_MAX)
		f->window *= 2;
	n = f->window;
	if (n > size - start)
		n = size - start;
	buf_reserve(&f->ra, n);
	f->ra.off = start;
	f->ra.len = n;
	f->ra_gen = f->gen;
	f->ra_state = RA_QUEUED;
	if (!file_start_worker(f)) {
		f->ra_state = RA_IDLE;
		return;
	}
	pthread_cond_broadcast(&f->cond);
}

/* Copy from the read cache what it holds at "off" (adopting a finished
 * read-ahead that covers it). Returns bytes copied, 0 on a miss. */
static size_t file_copy_cached(struct dfs_file *f, char *buf, size_t len,
			       uint64_t off)
{
	struct file_buf tmp;
	size_t n;

	if (!buf_holds(&f->rc, off) && f->ra_state != RA_IDLE &&
	    off >= f->ra.off && off - f->ra.off < f->ra.len) {
		while (f->ra_state == RA_QUEUED || f->ra_state == RA_RUNNING)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->ra_state == RA_DONE && f->ra_err == 0 &&
		    f->ra_gen == f->gen) {
			tmp = f->rc;
			f->rc = f->ra;
			f->ra = tmp;
		}
		f->ra_state = RA_IDLE;
	}
	if (!buf_holds(&f->rc, off))
		return 0;
	n = f->rc.off + f->rc.len - off;
	if (n > len)
		n = len;
	memcpy(buf, f->rc.data + (off - f->rc.off), n);
	return n;
}

/* True if a read at "off" continues a sequential stream. */
static bool file_is_sequential(const struct dfs_file *f, uint64_t off)
{
	if (off == f->next_off)
		return true;
	return f->window > 0 && off + f->window >= f->next_off &&
	       off <= f->next_off + f->window;
}

/* Fill the read cache with a window at "off"; lock held. */
static int file_fill(struct dfs_file *f, uint64_t off, size_t min_len)
{
	uint64_t size = dfs_file_size(f);
	size_t n;
	int r;

	if (f->window == 0)
		f->window = RA_MIN;
	n = f->window > min_len ? f->window : min_len;
	if (n > size - off)
		n = size - off;
	f->rc.len = 0;
	buf_reserve(&f->rc, n);
	if ((r = file_fetch(f, f->rc.data, off, n)) != 0)
		return r;
	f->rc.off = off;
	f->rc.len = n;
	return 0;
}

/* Read [off, off+len), all inside the file, through the read cache. */
static ssize_t file_read_cached(struct dfs_file *f, char *buf, size_t len,
				uint64_t off)
{
	size_t done = 0;
	bool seq = file_is_sequential(f, off);
	int r;

	while (done < len) {
		done += file_copy_cached(f, buf + done, len - done, off + done);
		if (done == len)
			break;
		if (!seq || len - done >= DIRECT_MIN) {
			/* Random access: straight into the caller's buffer,
			 * without holding the lock over the transfer. */
			if (!seq)
				f->window = 0;
			pthread_mutex_unlock(&f->lock);
			r = file_fetch(f, buf + done, off + done, len - done);
			pthread_mutex_lock(&f->lock);
			if (r != 0)
				return r;
			break;
		}
		if ((r = file_fill(f, off + done, len - done)) != 0)
			return r;
	}
	f->next_off = off + len;
	if (seq)
		file_readahead(f);
	return (ssize_t)len;
}

ssize_t dfs_file_read(struct dfs_file *f, void *buf, size_t len, off_t off)
{
	uint64_t size, pos = (uint64_t)off;
	ssize_t r;
	int e;

	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	size = dfs_file_size(f);
	if (pos >= size || len == 0) {
		r = 0;
		goto out;
	}
	if (len > size - pos)
		len = size - pos;
	if (f->wb.len > 0 || f->wq_pending > 0) {
		if (buf_holds(&f->wb, pos) &&
		    pos + len <= f->wb.off + f->wb.len) {
			memcpy(buf, f->wb.data + (pos - f->wb.off), len);
			r = (ssize_t)len;
			goto out;
		}
		if ((e = file_flush_locked(f, NULL, NULL)) != 0) {
			r = e;
			goto out;
		}
	}
	r = file_read_cached(f, buf, len, pos);
out:
	pthread_mutex_unlock(&f->lock);
	return r;
}

void dfs_file_set_size(struct dfs_file *f, uint64_t size)
{
	struct file_buf *b = &f->wb;

	pthread_mutex_lock(&f->lock);
	wq_drain(f);
	__atomic_store_n(&f->size, size, __ATOMIC_RELEASE);
	f->master_size = size;
	/* The truncate's own attrs are newer than any acknowledgement. */
	file_publish_ack(f, NULL);
	if (f->sent_end > size)
		f->sent_end = size;
	if (b->len > 0 && b->off >= size)
		b->len = 0;
	else if (b->len > 0 && b->off + b->len > size)
		b->len = size - b->off;
	file_invalidate(f);
	client_locs_clear(f->locs);
	pthread_mutex_unlock(&f->lock);
}

void dfs_file_note_size(struct dfs_file *f, uint64_t size)
{
	bool grew;

	pthread_mutex_lock(&f->lock);
	grew = size > dfs_file_size(f);
	if (grew) {
		file_grow(f, size);
		file_invalidate(f);
	}
	pthread_mutex_unlock(&f->lock);
	if (grew)
		client_locs_clear(f->locs);
}

void dfs_file_drop_cache(struct dfs_file *f)
{
	pthread_mutex_lock(&f->lock);
	file_invalidate(f);
	pthread_mutex_unlock(&f->lock);
	client_locs_clear(f->locs);
}

/* Tries before dfs_file_acked() gives up on a writer that keeps
 * publishing (each publication takes a few nanoseconds). */
#define ACK_READ_TRIES 64

bool dfs_file_acked(struct dfs_file *f, struct dfs_file_ack *ack)
{
	uint64_t before, after;
	int64_t t[4];

	for (int i = 0; i < ACK_READ_TRIES; i++) {
		before = __atomic_load_n(&f->ack_seq, __ATOMIC_ACQUIRE);
		if (before & 1)
			continue;
		ack->size = __atomic_load_n(&f->ack_size, __ATOMIC_RELAXED);
		for (int k = 0; k < 4; k++)
			t[k] = __atomic_load_n(&f->ack_time[k],
					       __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		after = __atomic_load_n(&f->ack_seq, __ATOMIC_RELAXED);
		if (before != after)
			continue;
		ack->mtime = (struct timespec){ t[0], t[1] };
		ack->ctime = (struct timespec){ t[2], t[3] };
		return t[2] != 0 || t[3] != 0;
	}
	return false;
}

int dfs_file_flush(struct dfs_file *f)
{
	int r;

	pthread_mutex_lock(&f->lock);
	r = file_flush_locked(f, NULL, NULL);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_flush_setattr(struct dfs_file *f, const struct dfs_setattr *sa,
			   struct dfs_attr *attr)
{
	int r;

	if (sa->valid & PROTO_SET_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	r = file_flush_locked(f, sa, attr);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_send(struct dfs_file *f, uint64_t *extend_to)
{
	int r;

	pthread_mutex_lock(&f->lock);
	*extend_to = 0;
	if ((r = file_send_buffered(f)) == 0 && f->extend_due) {
		*extend_to = f->sent_end;
		f->handed_sends = f->sends;
	}
	if (r == 0 && !f->extend_due)
		__atomic_store_n(&f->unflushed, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&f->lock);
	return r;
}

void dfs_file_extended(struct dfs_file *f, const struct dfs_attr *attr)
{
	pthread_mutex_lock(&f->lock);
	/* Whatever was sent after dfs_file_send() still needs an EP_EXTEND
	 * (for its mtime, even if it did not grow the file). */
	if (f->extend_due && f->handed_sends == f->sends) {
		file_note_attr(f, attr);
		if (!f->extend_due && f->wb.len == 0 && f->wq_pending == 0)
			__atomic_store_n(&f->unflushed, false,
					 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&f->lock);
}

int dfs_file_fsync(struct dfs_file *f)
{
	size_t i;
	int r;

	pthread_mutex_lock(&f->lock);
	if ((r = file_flush_locked(f, NULL, NULL)) != 0)
		goto out;
	dirty_compact(f);
	for (i = 0; i < f->ndirty; i++) {
		if ((r = client_chunk_sync(f->locs, f->dirty_chunks[i])) != 0)
			goto out;
	}
	f->ndirty = 0;
	/* The size and mtime the flush sent must survive a crash too. */
	r = dfs_sync(f->c);
out:
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_close(struct dfs_file *f)
{
	int r;

	pthread_mutex_lock(&f->lock);
	r = file_flush_locked(f, NULL, NULL);
	if (f->ra_state == RA_QUEUED)
		f->ra_state = RA_IDLE;
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	for (unsigned i = 0; i < f->nworkers; i++)
		pthread_join(f->workers[i], NULL);
	client_locs_free(f->locs);
	buf_release(&f->wb);
	for (int i = 0; i < WQ_SLOTS; i++)
		buf_release(&f->wq[i].buf);
	buf_release(&f->rc);
	buf_release(&f->ra);
	free(f->dirty_chunks);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return r;
}
