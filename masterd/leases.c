/*
 * leases.c - the lease table (see leases.h), a binary tree from tsearch(3)
 * keyed by handle, beside a min-heap of the same nodes ordered by expiry.
 *
 * Every grant prunes the leases that ended more than LEASES_KEEP_MS ago
 * by popping the heap, so a prune costs O(log n) per lease it drops and
 * nothing when none is due: the table holds the leases of the last
 * lease length plus LEASES_KEEP_MS, whatever the rate of creates. A
 * node's heap key is its expiry when it was pushed; leases_find() and
 * grants move the expiry later without touching the heap, so a popped
 * node whose lease has since moved on is pushed again with its current
 * expiry instead of being dropped (leases_drop() moves it earlier, which
 * only delays the prune). Nodes with a grant lock held or awaited are
 * kept too. Every node has exactly one heap entry.
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

/* First size of the heap array. */
#define LEASES_HEAP_MIN 64

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

struct heap_entry {
	/* The node's expiry when it was pushed, ms since the epoch. */
	int64_t key;
	struct lease *lease;
};

struct leases {
	pthread_mutex_t lock;
	/* Broadcast when a grant lock is released. */
	pthread_cond_t unlocked;
	/* tsearch(3) root of struct lease nodes. */
	void *root;
	/* The same nodes, a binary min-heap on heap[i].key. */
	struct heap_entry *heap;
	size_t nheap, heap_cap;
	/* Length of a lease. */
	int64_t duration_ms;
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
	free(l->heap);
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

static void heap_swap(struct leases *l, size_t i, size_t j)
{
	struct heap_entry t = l->heap[i];

	l->heap[i] = l->heap[j];
	l->heap[j] = t;
}

static void heap_push(struct leases *l, struct lease *ls, int64_t key)
{
	size_t i, parent;

	if (l->nheap == l->heap_cap) {
		l->heap_cap = l->heap_cap ? l->heap_cap * 2 : LEASES_HEAP_MIN;
		l->heap = xrealloc(l->heap, l->heap_cap * sizeof(*l->heap));
	}
	i = l->nheap++;
	l->heap[i] = (struct heap_entry){ .key = key, .lease = ls };
	while (i > 0 && l->heap[parent = (i - 1) / 2].key > l->heap[i].key) {
		heap_swap(l, i, parent);
		i = parent;
	}
}

/* Remove the entry with the smallest key; the heap is not empty. */
static struct lease *heap_pop(struct leases *l)
{
	struct lease *top = l->heap[0].lease;
	size_t i = 0, child;

	l->heap[0] = l->heap[--l->nheap];
	while ((child = 2 * i + 1) < l->nheap) {
		if (child + 1 < l->nheap &&
		    l->heap[child + 1].key < l->heap[child].key)
			child++;
		if (l->heap[i].key <= l->heap[child].key)
			break;
		heap_swap(l, i, child);
		i = child;
	}
	return top;
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
	heap_push(l, ls, ls->expiry_ms);
	return ls;
}

/* Drop the leases that ended before now - LEASES_KEEP_MS (locked). */
static void prune(struct leases *l, int64_t now_ms)
{
	int64_t before_ms = now_ms - LEASES_KEEP_MS;
	struct lease *ls;

	while (l->nheap > 0 && l->heap[0].key < before_ms) {
		ls = heap_pop(l);
		if (ls->expiry_ms >= before_ms) {
			heap_push(l, ls, ls->expiry_ms);
		} else if (ls->locked || ls->waiters > 0) {
			/* Looked at again by a later prune. */
			heap_push(l, ls, before_ms);
		} else {
			tdelete(ls, &l->root, lease_cmp);
			free(ls);
		}
	}
}

size_t leases_count(struct leases *l)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->nheap;
	pthread_mutex_unlock(&l->lock);
	return n;
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
	prune(l, now_ms);
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
