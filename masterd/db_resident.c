/*
 * db_resident.c - keep the metadata database's files in memory (see
 * db_resident.h).
 *
 * Each file gets one mapping of max_bytes, made when the file is first
 * seen: mapping past the end of a file is allowed, and one mapping for
 * the file's life means growth never unmaps anything (an munmap costs
 * every CPU a TLB flush on this kind of VM). Only the part inside the
 * file is locked (mlock2 MLOCK_ONFAULT, so that an unprivileged
 * process's RLIMIT_MEMLOCK is charged for what is held, not for the
 * reservation) and faulted in (MADV_POPULATE_READ, which returns an
 * error instead of raising SIGBUS when the file shrank meanwhile).
 *
 * The thread refreshes under the lock; the figures it publishes are
 * atomics, so that /metrics never waits while a cold database is read
 * in from the disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_resident.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

#define RESIDENT_FILES_MAX 4

/* Most bytes faulted in by one call: a large cold database is read in
 * pieces, so that a stop need not wait for all of it. */
#define RESIDENT_POPULATE_STEP (64ULL << 20)

struct resident_file {
	char *path;             /* owned */
	int fd;                 /* -1 until the file exists */
	dev_t dev;
	ino_t ino;
	unsigned char *base;    /* mapping of max bytes, or NULL */
	uint64_t held;          /* bytes faulted in from base, whole pages */
	uint64_t locked;        /* bytes locked from base */
	bool warned;            /* a failure was logged since the last
				   refresh that worked (one line, not one
				   per poll) */
};

/* Log a failure with errno once per run of failures of the file. */
#define file_warn(f, ...)                                                 \
	do {                                                              \
		if (!(f)->warned)                                         \
			log_warn(__VA_ARGS__);                            \
		(f)->warned = true;                                       \
	} while (0)

struct db_resident {
	/* Read without the lock (stats, and the stop between pieces of a
	 * populate, which runs under it). */
	_Atomic bool stop;
	_Atomic uint64_t held_bytes;  /* sum of the files' held */
	_Atomic bool lock_ok;         /* !lock_refused */
	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t wake;
	pthread_t thread;
	bool started;
	int poll_ms;
	uint64_t max;           /* bytes per file, whole pages */
	bool lock_refused;      /* mlock failed once; not tried again */
	bool populate_broken;   /* MADV_POPULATE_READ unsupported */
	int64_t refreshed_ms;   /* last full refresh */
	struct resident_file files[RESIDENT_FILES_MAX];
	int nfiles;
};

static uint64_t page_round_up(uint64_t n)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

static void file_release(struct resident_file *f, uint64_t max)
{
	if (f->base != NULL)
		munmap(f->base, max);
	if (f->fd >= 0)
		close(f->fd);
	f->base = NULL;
	f->fd = -1;
	f->held = f->locked = 0;
}

/* Open and map f if it exists now. false: not there (yet). */
static bool file_attach(struct db_resident *r, struct resident_file *f)
{
	struct stat st;
	void *p;

	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		if (errno != ENOENT)
			file_warn(f, "cannot open '%s' to keep it in memory",
				  f->path);
		return false;
	}
	if (fstat(f->fd, &st) != 0) {
		file_warn(f, "cannot stat '%s'", f->path);
		file_release(f, r->max);
		return false;
	}
	p = mmap(NULL, r->max, PROT_READ, MAP_SHARED | MAP_NORESERVE, f->fd, 0);
	if (p == MAP_FAILED) {
		file_warn(f, "cannot map '%s' to keep it in memory", f->path);
		file_release(f, r->max);
		return false;
	}
	f->base = p;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	return true;
}

/* The path now names another file (or none): start over with it. */
static bool file_replaced(struct resident_file *f)
{
	struct stat st;

	if (stat(f->path, &st) != 0)
		return errno == ENOENT;
	return st.st_dev != f->dev || st.st_ino != f->ino;
}

/* Lock [from, to) of f's mapping unless locking was refused before. */
static void file_lock(struct db_resident *r, struct resident_file *f,
		      uint64_t to)
{
	if (r->lock_refused || to <= f->locked)
		return;
	if (mlock2(f->base + f->locked, to - f->locked, MLOCK_ONFAULT) != 0) {
		log_warn("cannot lock '%s' in memory (raise LimitMEMLOCK or "
			 "RLIMIT_MEMLOCK); its pages stay mapped but may be "
			 "reclaimed", f->path);
		r->lock_refused = true;
		return;
	}
	f->locked = to;
}

/* What a failed MADV_POPULATE_READ tells. */
static void populate_failed(struct db_resident *r, struct resident_file *f)
{
	if (errno == EINVAL) {
		log_warn("cannot fault '%s' into memory (MADV_POPULATE_READ "
			 "needs Linux 5.14)", f->path);
		r->populate_broken = true;
	} else if (errno != EFAULT && errno != EINTR) {
		file_warn(f, "cannot fault '%s' into memory", f->path);
	}
}

/* Fault [from, to) of f's mapping in, in pieces; returns the end of what
 * was faulted in, short of "to" if it failed (the file shrank meanwhile,
 * or the kernel cannot) or a stop came. */
static uint64_t file_populate(struct db_resident *r, struct resident_file *f,
			      uint64_t from, uint64_t to)
{
	uint64_t step;

	for (; from < to && !r->populate_broken && !r->stop; from += step) {
		step = to - from < RESIDENT_POPULATE_STEP
			       ? to - from
			       : RESIDENT_POPULATE_STEP;
		if (madvise(f->base + from, step, MADV_POPULATE_READ) != 0) {
			populate_failed(r, f);
			break;
		}
	}
	return from;
}

/* Bring f's held range to its current size (bounded by max). */
static void file_refresh(struct db_resident *r, struct resident_file *f,
			 bool full)
{
	struct stat st;
	uint64_t want, reached;

	if (f->fd >= 0 && file_replaced(f))
		file_release(f, r->max);
	if (f->fd < 0 && !file_attach(r, f))
		return;
	if (fstat(f->fd, &st) != 0)
		return;
	want = page_round_up((uint64_t)st.st_size);
	if (want > r->max)
		want = r->max;
	if (want < f->locked) {
		/* Shrunk: the kernel already dropped the pages past the end
		 * from the mapping; give back their share of the limit. */
		munlock(f->base + want, f->locked - want);
		f->locked = want;
	}
	if (want < f->held)
		f->held = want;
	file_lock(r, f, want);
	reached = file_populate(r, f, full ? 0 : f->held, want);
	if (reached > f->held)
		f->held = reached;
	if (reached == want)
		f->warned = false;
}

static void refresh_all(struct db_resident *r)
{
	int64_t now = time_mono_ms();
	bool full = now - r->refreshed_ms >= DB_RESIDENT_REFRESH_MS;
	uint64_t held = 0;
	int i;

	for (i = 0; i < r->nfiles; i++) {
		file_refresh(r, &r->files[i], full);
		held += r->files[i].held;
	}
	if (full)
		r->refreshed_ms = now;
	r->held_bytes = held;
	r->lock_ok = !r->lock_refused;
}

static void *resident_main(void *arg)
{
	struct db_resident *r = arg;
	struct timespec until;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		refresh_all(r);
		until = time_mono_after_ts(r->poll_ms);
		pthread_cond_timedwait(&r->wake, &r->lock, &until);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct db_resident *db_resident_start(const char *const *paths,
				      uint64_t max_bytes, int poll_ms)
{
	struct db_resident *r = xcalloc(1, sizeof(*r));
	pthread_condattr_t ca;
	int e;

	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	r->poll_ms = poll_ms > 0 ? poll_ms : 1;
	r->max = page_round_up(max_bytes);
	r->refreshed_ms = time_mono_ms();
	r->lock_ok = true;
	for (; r->max > 0 && paths[r->nfiles] != NULL &&
	       r->nfiles < RESIDENT_FILES_MAX;
	     r->nfiles++) {
		r->files[r->nfiles].path = xstrdup(paths[r->nfiles]);
		r->files[r->nfiles].fd = -1;
	}
	if (r->nfiles == 0)
		return r;
	if ((e = pthread_create(&r->thread, NULL, resident_main, r)) != 0)
		log_warnx("cannot start the thread keeping the database in "
			  "memory: %s", strerror(e));
	else
		r->started = true;
	return r;
}

void db_resident_stop(struct db_resident *r)
{
	int i;

	if (r == NULL)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	for (i = 0; i < r->nfiles; i++) {
		file_release(&r->files[i], r->max);
		free(r->files[i].path);
	}
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void db_resident_get_stats(struct db_resident *r,
			   struct db_resident_stats *st)
{
	st->bytes = r->held_bytes;
	st->locked = r->lock_ok;
}

void db_resident_poll_now(struct db_resident *r)
{
	pthread_mutex_lock(&r->lock);
	refresh_all(r);
	pthread_mutex_unlock(&r->lock);
}
