/*
 * dir_names.c - complete name lists of directories this mount made (see
 * dir_names.h): a tsearch(3) tree of lists by inode number, each list a
 * tree of names.
 */
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "dir_names.h"
#include "log.h"
#include "xmalloc.h"
#include "banned.h"

struct dir_list {
	uint64_t ino;
	uint64_t epoch;                 /* of "count" */
	uint64_t count;                 /* change count the list is at */
	int64_t valid_until_ms;         /* end of the lease the last change
					 * brought, counted from its sending;
					 * 0: none */
	void *names;                    /* tsearch tree of char * (owned) */
	size_t n;                       /* names in it */
	TAILQ_ENTRY(dir_list) link;     /* least recently changed first */
};

struct dir_names {
	pthread_mutex_t mu;             /* guards everything below */
	void *lists;                    /* tsearch tree of struct dir_list */
	TAILQ_HEAD(, dir_list) lru;
	size_t names;                   /* in all lists */
	size_t max;
};

static int list_cmp(const void *a, const void *b)
{
	const struct dir_list *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct dir_names *dir_names_new(size_t max_names)
{
	struct dir_names *dn = xcalloc(1, sizeof(*dn));

	pthread_mutex_init(&dn->mu, NULL);
	TAILQ_INIT(&dn->lru);
	dn->max = max_names;
	return dn;
}

/* The list of "ino", or NULL; locked. */
static struct dir_list *list_find(struct dir_names *dn, uint64_t ino)
{
	struct dir_list key = { .ino = ino }, **l;

	l = tfind(&key, &dn->lists, list_cmp);
	return l != NULL ? *l : NULL;
}

/* Free list l; locked. */
static void list_free(struct dir_names *dn, struct dir_list *l)
{
	tdelete(l, &dn->lists, list_cmp);
	TAILQ_REMOVE(&dn->lru, l, link);
	dn->names -= l->n;
	tdestroy(l->names, free);
	free(l);
}

void dir_names_free(struct dir_names *dn)
{
	if (dn == NULL)
		return;
	while (!TAILQ_EMPTY(&dn->lru))
		list_free(dn, TAILQ_FIRST(&dn->lru));
	pthread_mutex_destroy(&dn->mu);
	free(dn);
}

void dir_names_made(struct dir_names *dn, const struct dfs_attr *a,
		    int64_t sent_ms)
{
	struct dir_list *l;

	if (a->dir_epoch == 0)
		return;
	pthread_mutex_lock(&dn->mu);
	if ((l = list_find(dn, a->ino)) != NULL)
		list_free(dn, l);
	l = xcalloc(1, sizeof(*l));
	l->ino = a->ino;
	l->epoch = a->dir_epoch;
	l->count = a->dir_changes;
	l->valid_until_ms = a->dir_lease_ms ? sent_ms + a->dir_lease_ms : 0;
	if (tsearch(l, &dn->lists, list_cmp) == NULL)
		fatalx("out of memory in the directory name lists");
	TAILQ_INSERT_TAIL(&dn->lru, l, link);
	pthread_mutex_unlock(&dn->mu);
}

/* Make room for one more name besides those of list "keep"; false if
 * even dropping every other list leaves none. Locked. */
static bool make_room(struct dir_names *dn, const struct dir_list *keep)
{
	struct dir_list *l, *next;

	for (l = TAILQ_FIRST(&dn->lru); l != NULL && dn->names >= dn->max;
	     l = next) {
		next = TAILQ_NEXT(l, link);
		if (l != keep)
			list_free(dn, l);
	}
	return dn->names < dn->max;
}

/* Apply one confirmed change to l; false if it does not fit the list
 * (it is then wrong or too large). Locked. */
static bool list_apply(struct dir_names *dn, struct dir_list *l,
		       const char *removed, const char *added)
{
	void *found;
	char *s;

	if (removed != NULL) {
		if ((found = tfind(removed, &l->names, name_cmp)) == NULL)
			return false;   /* it was there: the list missed it */
		s = *(char **)found;
		tdelete(removed, &l->names, name_cmp);
		free(s);
		l->n--;
		dn->names--;
	}
	/* A rename over an existing name finds it there already. */
	if (added != NULL && tfind(added, &l->names, name_cmp) == NULL) {
		if (!make_room(dn, l))
			return false;
		s = xstrdup(added);
		if (tsearch(s, &l->names, name_cmp) == NULL)
			fatalx("out of memory in the directory name lists");
		l->n++;
		dn->names++;
	}
	return true;
}

void dir_names_changed(struct dir_names *dn, uint64_t ino,
		       const struct dfs_attr *dir, const char *removed,
		       const char *added, int64_t sent_ms)
{
	struct dir_list *l;

	pthread_mutex_lock(&dn->mu);
	if ((l = list_find(dn, ino)) == NULL)
		goto out;
	if (dir->ino != ino || dir->dir_epoch != l->epoch ||
	    dir->dir_changes != l->count + 1 ||
	    !list_apply(dn, l, removed, added)) {
		list_free(dn, l);
		goto out;
	}
	l->count = dir->dir_changes;
	l->valid_until_ms = dir->dir_lease_ms ? sent_ms + dir->dir_lease_ms
					      : 0;
	TAILQ_REMOVE(&dn->lru, l, link);
	TAILQ_INSERT_TAIL(&dn->lru, l, link);
out:
	pthread_mutex_unlock(&dn->mu);
}

void dir_names_drop(struct dir_names *dn, uint64_t ino)
{
	struct dir_list *l;

	pthread_mutex_lock(&dn->mu);
	if ((l = list_find(dn, ino)) != NULL)
		list_free(dn, l);
	pthread_mutex_unlock(&dn->mu);
}

bool dir_names_missing(struct dir_names *dn, uint64_t ino, const char *name,
		       int64_t now_ms)
{
	struct dir_list *l;
	bool missing = false;

	pthread_mutex_lock(&dn->mu);
	l = list_find(dn, ino);
	if (l != NULL && now_ms < l->valid_until_ms)
		missing = tfind(name, &l->names, name_cmp) == NULL;
	pthread_mutex_unlock(&dn->mu);
	return missing;
}

size_t dir_names_count(struct dir_names *dn)
{
	size_t n;

	pthread_mutex_lock(&dn->mu);
	n = dn->names;
	pthread_mutex_unlock(&dn->mu);
	return n;
}
