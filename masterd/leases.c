/*
 * leases.c - the lease table (see leases.h), a binary tree from tsearch(3)
 * keyed by handle. Expired leases are pruned every LEASES_PRUNE_EVERY
 * grants; nodes with a grant lock held or awaited are kept.
 *
 * A lease remembers its replica set as a hash of the sorted addresses,
 * which is all leases_find() needs to tell whether the set changed.
 *
 * THREAD SAFETY: "lock" guards root, ngrants and every node; "unlocked"
 * is broadcast whenever a grant lock is released.
 */
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "leases.h"
#include "log.h"
#include "xmalloc.h"
#include "banned.h"

#define LEASES_PRUNE_EVERY 1024

/* Leases kept this long after they expire (leases_is_busy() grace). */
#define LEASES_KEEP_MS (5 * 60 * 1000)

struct lease {
	uint64_t handle;
	/* The lease holder; "" when there is no lease. */
	char primary[DFS_ADDR_MAX];
	/* Hash of the sorted replica set the lease covers. */
	uint64_t set_hash;
	/* End of the lease, ms since the epoch (0: never leased). */
	int64_t expiry_ms;
	/* When the lease was last handed out, ms since the epoch. */
	int64_t handed_ms;
	/* The grant lock is held; threads waiting for it. */
	bool locked;
	unsigned waiters;
};

struct leases {
	pthread_mutex_t lock;
	/* Broadcast when a grant lock is released. */
	pthread_cond_t unlocked;
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
	pthread_cond_init(&l->unlocked, NULL);
	l->duration_ms = duration_ms;
	return l;
}

void leases_free(struct leases *l)
{
	if (l == NULL)
		return;
	tdestroy(l->root, free);
	pthread_cond_destroy(&l->unlocked);
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

/* Node of "handle", inserted if missing (locked). */
static struct lease *lease_get(struct leases *l, uint64_t handle)
{
	struct lease *ls;

	if ((ls = lease_find(l, handle)) != NULL)
		return ls;
	ls = xcalloc(1, sizeof(*ls));
	ls->handle = handle;
	if (tsearch(ls, &l->root, lease_cmp) == NULL)
		fatalx("out of memory");
	return ls;
}

static void prune_visit(const void *node, VISIT which, void *arg)
{
	struct lease *ls = *(struct lease *const *)node;
	struct prune_ctx *p = arg;

	if (which != postorder && which != leaf)
		return;
	if (ls->expiry_ms >= p->before_ms || ls->locked || ls->waiters > 0)
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

void leases_lock(struct leases *l, uint64_t handle)
{
	struct lease *ls;

	pthread_mutex_lock(&l->lock);
	ls = lease_get(l, handle);
	ls->waiters++;
	while (ls->locked)
		pthread_cond_wait(&l->unlocked, &l->lock);
	ls->waiters--;
	ls->locked = true;
	pthread_mutex_unlock(&l->lock);
}

void leases_unlock(struct leases *l, uint64_t handle)
{
	struct lease *ls;

	pthread_mutex_lock(&l->lock);
	if ((ls = lease_find(l, handle)) != NULL)
		ls->locked = false;
	pthread_cond_broadcast(&l->unlocked);
	pthread_mutex_unlock(&l->lock);
}

static int addr_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* FNV-1a hash of the sorted set live[0..nlive-1]. */
static uint64_t set_hash(const char (*live)[DFS_ADDR_MAX], int nlive)
{
	const char *sorted[DFS_MAX_REPLICAS];
	uint64_t h = 1469598103934665603ULL;
	const char *p;
	int i, n = nlive < DFS_MAX_REPLICAS ? nlive : DFS_MAX_REPLICAS;

	for (i = 0; i < n; i++)
		sorted[i] = live[i];
	qsort(sorted, (size_t)n, sizeof(sorted[0]), addr_ptr_cmp);
	for (i = 0; i < n; i++) {
		for (p = sorted[i]; *p != '\0'; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ULL;
		h = (h ^ ',') * 1099511628211ULL;
	}
	return h;
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

int leases_find(struct leases *l, uint64_t handle,
		const char (*live)[DFS_ADDR_MAX], int nlive, int64_t now_ms,
		int64_t *expiry_ms)
{
	struct lease *ls;
	int i = -1;

	pthread_mutex_lock(&l->lock);
	ls = lease_find(l, handle);
	if (ls != NULL && ls->expiry_ms > now_ms && ls->primary[0] != '\0' &&
	    ls->set_hash == set_hash(live, nlive))
		i = live_index(live, nlive, ls->primary);
	if (i >= 0) {
		ls->expiry_ms = now_ms + l->duration_ms;
		ls->handed_ms = now_ms;
		*expiry_ms = ls->expiry_ms;
	}
	pthread_mutex_unlock(&l->lock);
	return i;
}

int64_t leases_grant(struct leases *l, uint64_t handle,
		     const char (*live)[DFS_ADDR_MAX], int nlive, int primary,
		     int64_t now_ms)
{
	return leases_grant_for(l, handle, live, nlive, primary, now_ms, 0);
}

int64_t leases_grant_for(struct leases *l, uint64_t handle,
			 const char (*live)[DFS_ADDR_MAX], int nlive,
			 int primary, int64_t now_ms, int64_t duration_ms)
{
	struct lease *ls;
	int64_t expiry =
		now_ms + (duration_ms > 0 ? duration_ms : l->duration_ms);

	pthread_mutex_lock(&l->lock);
	if (++l->ngrants >= LEASES_PRUNE_EVERY) {
		l->ngrants = 0;
		prune(l, now_ms);
	}
	ls = lease_get(l, handle);
	memcpy(ls->primary, live[primary], sizeof(ls->primary));
	ls->set_hash = set_hash(live, nlive);
	ls->expiry_ms = expiry;
	ls->handed_ms = now_ms;
	pthread_mutex_unlock(&l->lock);
	return expiry;
}

void leases_drop(struct leases *l, uint64_t handle, int64_t now_ms)
{
	struct lease *ls;

	pthread_mutex_lock(&l->lock);
	if ((ls = lease_find(l, handle)) != NULL) {
		ls->primary[0] = '\0';
		if (ls->expiry_ms > now_ms)
			ls->expiry_ms = now_ms;
	}
	pthread_mutex_unlock(&l->lock);
}

bool leases_is_busy(struct leases *l, uint64_t handle, int64_t now_ms,
		    int64_t grace_ms)
{
	struct lease *ls;
	bool busy;

	pthread_mutex_lock(&l->lock);
	ls = lease_find(l, handle);
	busy = ls != NULL && (ls->locked || ls->expiry_ms + grace_ms > now_ms);
	pthread_mutex_unlock(&l->lock);
	return busy;
}

bool leases_is_valid(struct leases *l, uint64_t handle, int64_t now_ms,
		     int64_t recent_ms, bool *recent)
{
	struct lease *ls;
	bool valid;

	pthread_mutex_lock(&l->lock);
	ls = lease_find(l, handle);
	valid = ls != NULL && ls->primary[0] != '\0' &&
		ls->expiry_ms > now_ms;
	if (recent != NULL)
		*recent = valid && now_ms - ls->handed_ms < recent_ms;
	pthread_mutex_unlock(&l->lock);
	return valid;
}
