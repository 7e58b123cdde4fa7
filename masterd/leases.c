/*
 * leases.c - the lease table (see leases.h), a binary tree from tsearch(3)
 * keyed by handle. Expired leases are pruned every LEASES_PRUNE_EVERY
 * grants.
 *
 * THREAD SAFETY: "lock" guards root, ngrants and every node.
 */
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "leases.h"
#include "xmalloc.h"
#include "banned.h"

#define LEASES_PRUNE_EVERY 1024

/* Leases kept this long after they expire (leases_is_busy() grace). */
#define LEASES_KEEP_MS (5 * 60 * 1000)

struct lease {
	uint64_t handle;
	char primary[DFS_ADDR_MAX];
	/* End of the lease, ms since the epoch. */
	int64_t expiry_ms;
};

struct leases {
	pthread_mutex_t lock;
	/* tsearch(3) root of struct lease nodes. */
	void *root;
	/* Length of a lease. */
	int64_t duration_ms;
	/* Grants since the last prune. */
	unsigned ngrants;
};

/* A list of expired leases collected by twalk_r(). */
struct prune_ctx {
	struct lease **v;
	size_t n, cap;
	int64_t before_ms;
};

static int lease_cmp(const void *a, const void *b)
{
	const struct lease *x = a, *y = b;

	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

struct leases *leases_new(int64_t duration_ms)
{
	struct leases *l;

	l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->duration_ms = duration_ms;
	return l;
}

void leases_free(struct leases *l)
{
	if (l == NULL)
		return;
	tdestroy(l->root, free);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static struct lease *lease_find(struct leases *l, uint64_t handle)
{
	struct lease key = { .handle = handle };
	void *node;

	node = tfind(&key, &l->root, lease_cmp);
	return node != NULL ? *(struct lease **)node : NULL;
}

static void prune_visit(const void *node, VISIT which, void *arg)
{
	struct lease *ls = *(struct lease *const *)node;
	struct prune_ctx *p = arg;

	if (which != postorder && which != leaf)
		return;
	if (ls->expiry_ms >= p->before_ms)
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = ls;
}

/* Drop leases that expired more than LEASES_KEEP_MS ago (locked). */
static void prune(struct leases *l, int64_t now_ms)
{
	struct prune_ctx p = { .before_ms = now_ms - LEASES_KEEP_MS };
	size_t i;

	twalk_r(l->root, prune_visit, &p);
	for (i = 0; i < p.n; i++) {
		tdelete(p.v[i], &l->root, lease_cmp);
		free(p.v[i]);
	}
	free(p.v);
}

/* Index of "addr" in live[], or -1. */
static int live_index(const char (*live)[DFS_ADDR_MAX], int nlive,
		      const char *addr)
{
	int i;

	for (i = 0; i < nlive; i++)
		if (strcmp(live[i], addr) == 0)
			return i;
	return -1;
}

/* Insert a new lease node (locked). */
static struct lease *lease_insert(struct leases *l, uint64_t handle)
{
	struct lease *ls;

	ls = xcalloc(1, sizeof(*ls));
	ls->handle = handle;
	if (tsearch(ls, &l->root, lease_cmp) == NULL) {
		free(ls);
		return NULL;
	}
	return ls;
}

int leases_acquire(struct leases *l, uint64_t handle,
		   const char (*live)[DFS_ADDR_MAX], int nlive, int64_t now_ms,
		   int64_t *expiry_ms, bool *fresh)
{
	struct lease *ls;
	int i = -1;

	pthread_mutex_lock(&l->lock);
	ls = lease_find(l, handle);
	if (ls != NULL && ls->expiry_ms > now_ms)
		i = live_index(live, nlive, ls->primary);
	*fresh = i < 0;
	if (i < 0) {
		if (++l->ngrants >= LEASES_PRUNE_EVERY) {
			l->ngrants = 0;
			prune(l, now_ms);
			ls = lease_find(l, handle);
		}
		if (ls == NULL)
			ls = lease_insert(l, handle);
		i = 0;
		if (ls != NULL)
			memcpy(ls->primary, live[0], sizeof(ls->primary));
	}
	if (ls != NULL)
		ls->expiry_ms = now_ms + l->duration_ms;
	*expiry_ms = now_ms + l->duration_ms;
	pthread_mutex_unlock(&l->lock);
	return i;
}

bool leases_is_busy(struct leases *l, uint64_t handle, int64_t now_ms,
		    int64_t grace_ms)
{
	struct lease *ls;
	bool busy;

	pthread_mutex_lock(&l->lock);
	ls = lease_find(l, handle);
	busy = ls != NULL && ls->expiry_ms + grace_ms > now_ms;
	pthread_mutex_unlock(&l->lock);
	return busy;
}

void leases_drop(struct leases *l, uint64_t handle)
{
	struct lease *ls;

	pthread_mutex_lock(&l->lock);
	if ((ls = lease_find(l, handle)) != NULL) {
		tdelete(ls, &l->root, lease_cmp);
		free(ls);
	}
	pthread_mutex_unlock(&l->lock);
}
