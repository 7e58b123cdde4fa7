/*
 * store_fds.c - a replica's open files (the fd cache) and the measured
 * free space of the store (see store_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "banned.h"

/*
 * Most replicas that keep their files open between calls (two fds each;
 * see below). Enough for the replicas a burst of small files
 * touches in a row (create, write, sync, read back), small against the
 * descriptor limit and the connections the server keeps.
 */
#define STORE_FD_CACHE_MAX 64

/*
 * How long a free-space figure is trusted. Every replica creation checks
 * that a whole chunk still fits; a statvfs() each time costs more than a
 * small write. The figure is measured again after ENOSPC and after a
 * deletion; writes in between can use at most what 100 ms of writing
 * takes, which a failed write then reports as ENOSPC as before.
 */
#define STORE_AVAIL_TTL_MS 100

void store_fds_close(struct store *st, struct replica_fds *fds)
{
	if (fds->data >= 0)
		st->ops->close(st->ops_arg, STORE_FILE_DATA, fds->data);
	if (fds->meta >= 0)
		st->ops->close(st->ops_arg, STORE_FILE_META, fds->meta);
	fds->data = fds->meta = -1;
}

/* Open both files of an existing replica. 0 or -errno. */
int store_fds_open(struct store *st, uint64_t handle, int flags,
		   struct replica_fds *fds)
{
	char path[PATH_MAX];
	int r;

	fds->data = fds->meta = -1;
	store_replica_path(st, handle, "", path);
	if ((r = st->ops->open(st->ops_arg, STORE_FILE_DATA, path, flags,
			       0)) < 0)
		goto out;
	fds->data = r;
	store_replica_path(st, handle, ".meta", path);
	if ((r = st->ops->open(st->ops_arg, STORE_FILE_META, path, flags,
			       0)) < 0)
		goto out;
	fds->meta = r;
	r = 0;
out:
	if (r < 0)
		store_fds_close(st, fds);
	return r;
}

/*
 * ---------------------------------------------------------------------
 * Open files (the fd cache)
 * ---------------------------------------------------------------------
 * A present replica keeps its two files open in its entry after a use,
 * so that a creation, a write, a sync and a read in a row open nothing.
 * At most STORE_FD_CACHE_MAX entries keep them, the least recently used
 * losing theirs first; more only while every older one is in use at that
 * moment (bounded by the threads), and the next use trims them again.
 *
 * Users hold the entry's rw lock in either mode and use a copy of the
 * fds taken under st->mu. The fds are closed only by a holder of the
 * write lock (no user can then hold a copy): before the replica's files
 * are unlinked, renamed or replaced (store_fds_drop()), after a failed
 * mutation, or by eviction, which takes the victim's write lock with a
 * trylock (it holds st->mu already) and skips an entry in use. An entry
 * whose replica is absent has none (store_entry_set() checks).
 */

/* Make ent, whose files are cached, the most recently used (st->mu). */
static void cache_touch(struct store *st, struct store_entry *ent)
{
	TAILQ_REMOVE(&st->lru, ent, lru);
	TAILQ_INSERT_HEAD(&st->lru, ent, lru);
}

/* Take ent's files out of the cache into *out (st->mu held). */
static void cache_detach(struct store *st, struct store_entry *ent,
			 struct replica_fds *out)
{
	*out = ent->fds;
	if (ent->fds.data < 0)
		return;
	TAILQ_REMOVE(&st->lru, ent, lru);
	st->nopen--;
	ent->fds.data = ent->fds.meta = -1;
}

/* The least recently used entry but "keep" whose write lock was free,
 * returned with it held; NULL if none (st->mu held). */
static struct store_entry *cache_victim(struct store *st,
					struct store_entry *keep)
{
	struct store_entry *v;

	TAILQ_FOREACH_REVERSE(v, &st->lru, store_lru, lru)
		if (v != keep && pthread_rwlock_trywrlock(&v->rw) == 0)
			return v;
	return NULL;
}

/* Close the least recently used files beyond STORE_FD_CACHE_MAX, never
 * those of "keep" (the caller's). */
static void cache_trim(struct store *st, struct store_entry *keep)
{
	struct replica_fds old;
	struct store_entry *v;

	pthread_mutex_lock(&st->mu);
	while (st->nopen > STORE_FD_CACHE_MAX &&
	       (v = cache_victim(st, keep)) != NULL) {
		cache_detach(st, v, &old);
		pthread_rwlock_unlock(&v->rw);
		pthread_mutex_unlock(&st->mu);
		store_fds_close(st, &old);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
}

/*
 * Cache the files "mine" just opened for ent, a present replica (caller
 * holds ent->rw): *fds gets the ones to use. Two readers may open at
 * once; the second closes its own and uses the first's.
 */
void store_fds_keep(struct store *st, struct store_entry *ent,
		    struct replica_fds *mine, struct replica_fds *fds)
{
	bool raced;

	pthread_mutex_lock(&st->mu);
	raced = ent->fds.data >= 0;
	if (!raced) {
		ent->fds = *mine;
		TAILQ_INSERT_HEAD(&st->lru, ent, lru);
		st->nopen++;
	}
	*fds = ent->fds;
	pthread_mutex_unlock(&st->mu);
	if (raced)
		store_fds_close(st, mine);
	else
		cache_trim(st, ent);
}

/*
 * The open files of a present replica (caller holds ent->rw in either
 * mode): cached, or opened now and cached. They stay valid while the
 * caller holds ent->rw and belong to the cache (never close them).
 * 0 or -errno.
 */
int store_fds_get(struct store *st, struct store_entry *ent,
		  struct replica_fds *fds)
{
	struct replica_fds mine;
	int r;

	pthread_mutex_lock(&st->mu);
	*fds = ent->fds;
	if (fds->data >= 0)
		cache_touch(st, ent);
	pthread_mutex_unlock(&st->mu);
	if (fds->data >= 0)
		return 0;
	if ((r = store_fds_open(st, ent->handle, O_RDWR, &mine)) != 0)
		return r;
	store_fds_keep(st, ent, &mine, fds);
	return 0;
}

/* Close the cached files of a replica (ent->rw held for writing). */
void store_fds_drop(struct store *st, struct store_entry *ent)
{
	struct replica_fds old;

	pthread_mutex_lock(&st->mu);
	cache_detach(st, ent, &old);
	pthread_mutex_unlock(&st->mu);
	store_fds_close(st, &old);
}

/* Close every cached file (store_free: no call is running). */
void store_fds_release(struct store *st)
{
	struct replica_fds old;
	struct store_entry *ent;

	while ((ent = TAILQ_FIRST(&st->lru)) != NULL) {
		cache_detach(st, ent, &old);
		store_fds_close(st, &old);
	}
}

/*
 * ---------------------------------------------------------------------
 * Free space
 * ---------------------------------------------------------------------
 */

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes still available to the store's file system, as measured at most
 * STORE_AVAIL_TTL_MS ago (0 if statvfs() fails). Concurrent callers may
 * both measure; either figure is good. */
uint64_t store_avail(struct store *st)
{
	int64_t now = monotonic_ms(), at = atomic_load(&st->avail_at_ms);
	struct statvfs sv;
	uint64_t avail;

	if (at != INT64_MIN && now - at < STORE_AVAIL_TTL_MS)
		return atomic_load(&st->avail);
	if (statvfs(st->dir, &sv) != 0)
		return 0;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	atomic_store(&st->avail, avail);
	atomic_store(&st->avail_at_ms, now);
	return avail;
}

void store_avail_forget(struct store *st)
{
	atomic_store(&st->avail_at_ms, INT64_MIN);
}
