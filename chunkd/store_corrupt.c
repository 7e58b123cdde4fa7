/*
 * store_corrupt.c - replicas set aside as corrupt (see store.h). A
 * replica whose block failed its checksum is moved to DIR/corrupt/ by
 * store.c; its handle is reported to the master until the master says
 * the chunk was replaced from a good copy, then the files go.
 *
 * The store keeps the handles of DIR/corrupt in memory (st->set_aside,
 * read from the folder at startup and kept up to date by the store
 * itself, the only writer of the folder), so that creating a replica,
 * which must not recreate a set-aside one, costs no file system call,
 * and the report lists what the creation check sees. It holds one node
 * per set-aside copy, as many as the folder holds files.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"
#include "store.h"
#include "store_int.h"

#include "banned.h"

/* Handle of a DIR/corrupt name "HHHHHHHHHHHHHHHH" or "....meta". */
static bool corrupt_name(const char *name, uint64_t *handle)
{
	char *end;

	if (strlen(name) < 16 || name[0] == '.')
		return false;
	errno = 0;
	*handle = strtoull(name, &end, 16);
	return errno == 0 && end == name + 16 &&
	       (*end == '\0' || strcmp(end, ".meta") == 0) &&
	       *handle <= STORE_MAX_ID;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Add "handle" to the set (st->mu held). */
static void set_add(struct store *st, uint64_t handle)
{
	uint64_t *key;

	if (tfind(&handle, &st->set_aside, u64_cmp) != NULL)
		return;
	key = xmalloc(sizeof(*key));
	*key = handle;
	if (tsearch(key, &st->set_aside, u64_cmp) == NULL)
		fatalx("out of memory");
}

/* Remove "handle" from the set, if there (st->mu held). */
static void set_remove(struct store *st, uint64_t handle)
{
	void **node = tfind(&handle, &st->set_aside, u64_cmp);
	uint64_t *key;

	if (node == NULL)
		return;
	key = *node;
	tdelete(&handle, &st->set_aside, u64_cmp);
	free(key);
}

void store_corrupt_load(struct store *st)
{
	char path[PATH_MAX];
	struct dirent *de;
	uint64_t h;
	DIR *d;

	snprintf(path, sizeof(path), "%s/" STORE_CORRUPT_DIR, st->dir);
	if ((d = opendir(path)) == NULL) {
		if (errno != ENOENT)
			log_warn("cannot open '%s'", path);
		return;
	}
	pthread_mutex_lock(&st->mu);
	while ((de = readdir(d)) != NULL)
		if (corrupt_name(de->d_name, &h))
			set_add(st, h);
	pthread_mutex_unlock(&st->mu);
	closedir(d);
}

void store_corrupt_note(struct store *st, uint64_t handle)
{
	pthread_mutex_lock(&st->mu);
	set_add(st, handle);
	pthread_mutex_unlock(&st->mu);
}

bool store_corrupt_has(struct store *st, uint64_t handle)
{
	bool has;

	pthread_mutex_lock(&st->mu);
	has = tfind(&handle, &st->set_aside, u64_cmp) != NULL;
	pthread_mutex_unlock(&st->mu);
	return has;
}

void store_corrupt_release(struct store *st)
{
	tdestroy(st->set_aside, free);
	st->set_aside = NULL;
}

/* Where store_corrupt_list()'s tree walk puts handles. */
struct corrupt_list_ctx {
	uint64_t *out;
	size_t n;
	size_t cap;
};

static void corrupt_list_visit(const void *node, VISIT which, void *arg)
{
	const uint64_t *h = *(const uint64_t *const *)node;
	struct corrupt_list_ctx *ctx = arg;

	if (which != postorder && which != leaf)
		return;
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap ? ctx->cap * 2 : 16;
		ctx->out = xrealloc(ctx->out, ctx->cap * sizeof(*ctx->out));
	}
	ctx->out[ctx->n++] = *h;
}

size_t store_corrupt_list(struct store *st, uint64_t **out)
{
	struct corrupt_list_ctx ctx = {NULL, 0, 0};

	pthread_mutex_lock(&st->mu);
	twalk_r(st->set_aside, corrupt_list_visit, &ctx);
	pthread_mutex_unlock(&st->mu);
	*out = ctx.out;
	return ctx.n;
}

/*
 * Remove the set-aside files of "handle", then forget the handle (also
 * when they were gone already, so that a copy removed by hand stops
 * blocking new replicas once the master asked to drop it). The set is
 * left alone on a real failure: the copy is still there.
 */
static int corrupt_unlink(struct store *st, uint64_t handle)
{
	char path[PATH_MAX];
	int r = -ENOENT;

	store_corrupt_path(st, handle, ".meta", path);
	if (unlink(path) == 0)
		r = 0;
	else if (errno != ENOENT)
		return -errno;
	store_corrupt_path(st, handle, "", path);
	if (unlink(path) == 0)
		r = 0;
	else if (errno != ENOENT)
		return -errno;
	pthread_mutex_lock(&st->mu);
	set_remove(st, handle);
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* Under the entry's write lock, so that a quarantine of the same handle
 * (which moves files in and notes the handle) runs wholly before or
 * after. */
int store_corrupt_drop(struct store *st, uint64_t handle)
{
	struct store_entry *ent = store_entry_get(st, handle, true);
	int r;

	pthread_rwlock_wrlock(&ent->rw);
	r = corrupt_unlink(st, handle);
	pthread_rwlock_unlock(&ent->rw);
	store_entry_put(st, ent);
	if (r == 0)
		log_info("chunk %016llx: corrupt copy removed",
			 (unsigned long long)handle);
	return r;
}
