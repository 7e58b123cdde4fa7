/*
 * store_spare.c - empty files kept ready for new replicas (see
 * store_int.h).
 *
 * Why: creating a file allocates an inode, and ext4 without a journal
 * (the file system of these machines) skips every inode freed in the last
 * 30 s while it looks for a free one (find_inode_bit(), recently_deleted()
 * in the kernel). After a large delete each creation scanned thousands of
 * them: 0.6-0.9 ms per open(O_CREAT) against 0.03 ms otherwise, and a
 * replica is two files. So the store keeps empty files in DIR/spare: a new
 * replica's files are renamed out of it, and a deleted replica's files
 * are renamed back into it and emptied, so on the write path an inode is
 * neither allocated nor freed. A thread tops the folder up when it runs
 * low, and keeps a few of the files open: opening a file by its path
 * costs a lookup in DIR/spare, and a small file's replicas are two
 * files on each of three servers, opened while its writer waits.
 *
 * Crash safety: a file is renamed into DIR/spare before it is emptied,
 * so a replica's path never names a half-emptied file, and it is taken
 * out before anything is written to it. The startup scan keeps only
 * empty files with a single name and removes the name of any other.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "store_int.h"
#include "xmalloc.h"
#include "banned.h"

/* Below this many spare files the thread makes more, up to SPARE_FILL. */
#define SPARE_LOW 256
#define SPARE_FILL 1024

/*
 * Most spare files kept: a deleted replica's files beyond this are
 * removed. Enough for the replicas of a few thousand small files deleted
 * and created again (a rebuilt tree, a rerun job); an empty file costs
 * an inode and a directory entry.
 */
#define SPARE_MAX 16384

/* DIR/spare/<id> into path (PATH_MAX bytes). */
static void spare_path(const struct store *st, uint64_t id, char *path)
{
	snprintf(path, PATH_MAX, "%s/" STORE_SPARE_DIR "/%016" PRIx64, st->dir,
		 id);
}

/*
 * Empty the file at "path" through a descriptor closed at once. ext4
 * marks a file truncated to 0 so that its next close writes its data out
 * (auto_da_alloc, for programs that replace a file by truncating it); a
 * close here, with nothing to write, clears the mark, so the replica that
 * reuses the file is not flushed to disk whenever its descriptor closes.
 * 0 or -errno.
 */
static int spare_empty(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, 0) != 0)
		r = -errno;
	close(fd);
	return r;
}

/* Add a file's id to the pool (sp->mu held). */
static void spare_push(struct store_spares *sp, uint64_t id)
{
	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? sp->cap * 2 : 256;
		sp->ids = xrealloc(sp->ids, sp->cap * sizeof(*sp->ids));
	}
	sp->ids[sp->n++] = id;
}

/* Keep an open spare file among the ready ones, or close it and keep
 * its id when they are full (sp->mu held). */
static void spare_keep_open(struct store_spares *sp, uint64_t id, int fd)
{
	if (sp->nready < STORE_SPARE_READY) {
		sp->ready[sp->nready].id = id;
		sp->ready[sp->nready].fd = fd;
		sp->nready++;
		return;
	}
	close(fd);
	spare_push(sp, id);
}

/* The filler has open files to add (sp->mu held). */
static bool ready_low(const struct store_spares *sp)
{
	return sp->nready < STORE_SPARE_READY / 2 && sp->n > 0;
}

/* Open spare files until STORE_SPARE_READY are. 0 or -errno (a file
 * that could not be opened stays in the pool: its taker opens it, or
 * removes it when that fails too). */
static int ready_fill(struct store *st)
{
	struct store_spares *sp = &st->spares;
	char path[PATH_MAX];
	uint64_t id;
	int fd, r = 0;

	pthread_mutex_lock(&sp->mu);
	while (r == 0 && sp->nready < STORE_SPARE_READY && sp->n > 0 &&
	       !atomic_load(&sp->stop)) {
		id = sp->ids[--sp->n];
		pthread_mutex_unlock(&sp->mu);
		spare_path(st, id, path);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
			r = -errno;
			log_warn("cannot open spare file '%s'", path);
		}
		pthread_mutex_lock(&sp->mu);
		if (fd >= 0)
			spare_keep_open(sp, id, fd);
		else
			spare_push(sp, id);
	}
	pthread_mutex_unlock(&sp->mu);
	return r;
}

/* Make one empty spare file. 0 or -errno. */
static int spare_make(struct store *st)
{
	struct store_spares *sp = &st->spares;
	char path[PATH_MAX];
	uint64_t id;
	int fd;

	pthread_mutex_lock(&sp->mu);
	id = sp->next_id++;
	pthread_mutex_unlock(&sp->mu);
	spare_path(st, id, path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&sp->mu);
	spare_keep_open(sp, id, fd);
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

/* The filler: waits until the pool runs low, then fills it. */
static void *spare_main(void *arg)
{
	struct store *st = arg;
	struct store_spares *sp = &st->spares;
	bool make;
	size_t n;
	int r;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (!atomic_load(&sp->stop) &&
		       sp->n + sp->nready >= SPARE_LOW && !ready_low(sp))
			pthread_cond_wait(&sp->wake, &sp->mu);
		if (atomic_load(&sp->stop))
			break;
		/* Woken to open files only, it makes none. */
		n = sp->n + sp->nready;
		make = n < SPARE_LOW;
		pthread_mutex_unlock(&sp->mu);
		r = ready_fill(st);
		for (; make && r == 0 && n < SPARE_FILL; n++) {
			if ((r = spare_make(st)) != 0) {
				log_warnx("store '%s': cannot make a spare "
					  "file: %s",
					  st->dir, strerror(-r));
				break;
			}
			if (atomic_load(&sp->stop))
				break;
		}
		pthread_mutex_lock(&sp->mu);
		if (r != 0 && !atomic_load(&sp->stop)) {
			/* Out of inodes or space: try again in 10 s, however
			 * often takers wake us (one warning per try); until
			 * then replicas are created the plain way. */
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 10;
			while (!atomic_load(&sp->stop) &&
			       pthread_cond_timedwait(&sp->wake, &sp->mu,
						      &until) != ETIMEDOUT)
				;
		}
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* Note one file found in DIR/spare at startup. */
static void spare_scan_name(struct store *st, const char *name)
{
	struct store_spares *sp = &st->spares;
	char path[PATH_MAX], *end;
	struct stat sb;
	uint64_t id;

	if (name[0] == '.')
		return;
	errno = 0;
	id = strtoull(name, &end, 16);
	spare_path(st, id, path);
	if (errno != 0 || *end != '\0' || end - name != 16 ||
	    stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		log_warnx("ignoring stray file '%s/" STORE_SPARE_DIR "/%s'",
			  st->dir, name);
		return;
	}
	/* Only an empty file with no other name is a spare. A crash can
	 * leave a deleted replica's file here unemptied, or (on a file
	 * system without a journal, after fsck) a file that a replica's
	 * name still links to: drop the name, never touch the inode. */
	if (sb.st_size != 0 || sb.st_nlink != 1) {
		if (unlink(path) != 0)
			log_warn("cannot remove '%s'", path);
		return;
	}
	spare_push(sp, id);
	if (id >= sp->next_id)
		sp->next_id = id + 1;
}

void store_spare_start(struct store *st)
{
	struct store_spares *sp = &st->spares;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->wake, NULL);
	sp->started = true;
	snprintf(path, sizeof(path), "%s/" STORE_SPARE_DIR, st->dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		log_warn("cannot create '%s'; replicas get new files", path);
		return;
	}
	if ((d = opendir(path)) == NULL) {
		log_warn("cannot open '%s'; replicas get new files", path);
		return;
	}
	while ((de = readdir(d)) != NULL)
		spare_scan_name(st, de->d_name);
	closedir(d);
	sp->enabled = true;
	if (pthread_create(&sp->thread, NULL, spare_main, st) != 0) {
		log_warnx("cannot start the spare-file thread");
		return;
	}
	sp->running = true;
}

void store_spare_stop(struct store *st)
{
	struct store_spares *sp = &st->spares;

	if (!sp->started)
		return;
	pthread_mutex_lock(&sp->mu);
	atomic_store(&sp->stop, true);
	pthread_cond_signal(&sp->wake);
	pthread_mutex_unlock(&sp->mu);
	if (sp->running)
		pthread_join(sp->thread, NULL);
	pthread_cond_destroy(&sp->wake);
	pthread_mutex_destroy(&sp->mu);
	/* The files stay in DIR/spare for the next start. */
	while (sp->nready > 0)
		close(sp->ready[--sp->nready].fd);
	free(sp->ids);
	sp->ids = NULL;
	sp->n = sp->cap = 0;
}

int store_spare_take(struct store *st, char *path, int *fd)
{
	struct store_spares *sp = &st->spares;
	uint64_t id;

	*fd = -1;
	if (!sp->enabled)
		return -ENOENT;
	pthread_mutex_lock(&sp->mu);
	if (sp->nready > 0) {
		sp->nready--;
		id = sp->ready[sp->nready].id;
		*fd = sp->ready[sp->nready].fd;
	} else if (sp->n > 0) {
		id = sp->ids[--sp->n];
	} else {
		pthread_cond_signal(&sp->wake);
		pthread_mutex_unlock(&sp->mu);
		return -ENOENT;
	}
	/* Wake the filler once per threshold crossed, not per take: a
	 * wake-up is a context switch on the write path's CPUs. */
	if ((*fd >= 0 && sp->nready == STORE_SPARE_READY / 2 - 1) ||
	    sp->n + sp->nready == SPARE_LOW - 1)
		pthread_cond_signal(&sp->wake);
	pthread_mutex_unlock(&sp->mu);
	spare_path(st, id, path);
	return 0;
}

bool store_spare_put(struct store *st, const char *path)
{
	struct store_spares *sp = &st->spares;
	char to[PATH_MAX];
	uint64_t id;

	if (!sp->enabled)
		return false;
	pthread_mutex_lock(&sp->mu);
	if (sp->n + sp->nready + sp->pending >= SPARE_MAX) {
		pthread_mutex_unlock(&sp->mu);
		return false;
	}
	id = sp->next_id++;
	sp->pending++;
	pthread_mutex_unlock(&sp->mu);
	spare_path(st, id, to);
	if (rename(path, to) != 0) {
		pthread_mutex_lock(&sp->mu);
		sp->pending--;
		pthread_mutex_unlock(&sp->mu);
		return false; /* the caller's unlink() says why */
	}
	if (spare_empty(to) != 0) {
		log_warn("cannot empty '%s'", to);
		if (unlink(to) != 0)
			log_warn("cannot remove '%s'", to);
		pthread_mutex_lock(&sp->mu);
		sp->pending--;
		pthread_mutex_unlock(&sp->mu);
		return true; /* gone from "path" all the same */
	}
	pthread_mutex_lock(&sp->mu);
	sp->pending--;
	spare_push(sp, id);
	pthread_mutex_unlock(&sp->mu);
	return true;
}
