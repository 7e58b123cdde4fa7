/*
 * dir_leases.c - leases on the names of directories (see dir_leases.h):
 * a tsearch(3) tree of the directories with a lease, a change under way
 * or a waiter; an entry goes when it has none of them.
 */
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "dir_leases.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

struct dir_lease {
	uint64_t dir;
	uint64_t holder;        /* session; 0 when none */
	int64_t expires_ms;     /* time_mono_ms() the lease ends */
	unsigned waiting;       /* other clients' changes waiting */
	unsigned running;       /* other clients' changes under way */
	uint64_t last_session;  /* of the last change (0: none, anonymous) */
	bool changed;           /* last_session is set */
	int64_t handoff_ms;     /* last change by another session than the
				 * change before it */
};

struct dir_leases {
	pthread_mutex_t mu;
	pthread_cond_t cond;    /* monotonic; broadcast on every change */
	void *root;             /* tsearch tree of struct dir_lease */
	size_t entries;		/* in the tree */
	size_t sweep_at;	/* entries that make the next sweep */
	int64_t sweep_ms;	/* time_mono_ms() of the next sweep */
	int64_t lease_ms;
	int64_t grace_end_ms;   /* no change before this */
};

static int lease_cmp(const void *a, const void *b)
{
	const struct dir_lease *x = a, *y = b;

	return x->dir < y->dir ? -1 : x->dir > y->dir;
}

struct dir_leases *dir_leases_new(int64_t lease_ms)
{
	struct dir_leases *dl = xcalloc(1, sizeof(*dl));
	pthread_condattr_t ca;

	pthread_mutex_init(&dl->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&dl->cond, &ca);
	pthread_condattr_destroy(&ca);
	dl->lease_ms = lease_ms;
	dl->sweep_at = DIR_LEASE_SWEEP_MIN;
	dl->grace_end_ms = time_mono_ms() + lease_ms;
	return dl;
}

void dir_leases_free(struct dir_leases *dl)
{
	if (dl == NULL)
		return;
	tdestroy(dl->root, free);
	pthread_cond_destroy(&dl->cond);
	pthread_mutex_destroy(&dl->mu);
	free(dl);
}

/* Wait on the condition until time_mono_ms() "until" at most; locked. */
static void wait_until(struct dir_leases *dl, int64_t until)
{
	struct timespec ts = { until / 1000, (until % 1000) * 1000000 };
	int r;

	r = pthread_cond_timedwait(&dl->cond, &dl->mu, &ts);
	if (r != 0 && r != ETIMEDOUT)
		log_errorx("directory leases: waiting failed: %d", r);
}

/* The entry of "dir", made if missing; locked. */
static struct dir_lease *entry(struct dir_leases *dl, uint64_t dir)
{
	struct dir_lease key = { .dir = dir }, *e, **slot;

	slot = tsearch(&key, &dl->root, lease_cmp);
	if (slot == NULL)
		fatalx("out of memory in the directory leases");
	if (*slot == &key) {
		e = xcalloc(1, sizeof(*e));
		e->dir = dir;
		*slot = e;
		dl->entries++;
	}
	return *slot;
}

/* True if e holds nothing any more; locked. */
static bool entry_idle(const struct dir_lease *e, int64_t now)
{
	return e->waiting == 0 && e->running == 0 &&
	       (e->holder == 0 || e->expires_ms <= now) &&
	       (e->handoff_ms == 0 ||
		now - e->handoff_ms >= DIR_LEASE_BACKOFF_MS);
}

static void entry_free(struct dir_leases *dl, struct dir_lease *e)
{
	tdelete(e, &dl->root, lease_cmp);
	free(e);
	dl->entries--;
}

/* Free e if it holds nothing any more; locked. */
static void entry_maybe_free(struct dir_leases *dl, struct dir_lease *e,
			     int64_t now)
{
	if (entry_idle(e, now))
		entry_free(dl, e);
}

/* What a sweep collects: the idle entries of the tree. */
struct sweep {
	struct dir_lease **idle;
	size_t n, cap;
	int64_t now;
};

static void sweep_visit(const void *node, VISIT which, void *arg)
{
	struct dir_lease *e = *(struct dir_lease *const *)node;
	struct sweep *sw = arg;

	if ((which == postorder || which == leaf) && entry_idle(e, sw->now)) {
		sw->idle =
			xgrow(sw->idle, &sw->cap, sw->n + 1, sizeof(*sw->idle));
		sw->idle[sw->n++] = e;
	}
}

/*
 * Free every idle entry once the tree has doubled since the last sweep,
 * or every DIR_LEASE_SWEEP_LEASES leases' time (locked). Entries are
 * otherwise freed only by a later change of their directory: a lease
 * that simply ran out, on a directory nobody changes again, would stay
 * for good (every directory a mount made with mkdir, for one), and a
 * lookup in a tree of many is slower.
 */
static void maybe_sweep(struct dir_leases *dl, int64_t now)
{
	struct sweep sw = { .now = now };

	if (dl->entries < dl->sweep_at &&
	    (dl->entries == 0 || now < dl->sweep_ms))
		return;
	dl->sweep_ms = now + DIR_LEASE_SWEEP_LEASES * dl->lease_ms;
	twalk_r(dl->root, sweep_visit, &sw);
	for (size_t i = 0; i < sw.n; i++)
		entry_free(dl, sw.idle[i]);
	free(sw.idle);
	dl->sweep_at = 2 * dl->entries > DIR_LEASE_SWEEP_MIN ?
			       2 * dl->entries :
			       DIR_LEASE_SWEEP_MIN;
}

/* True while another session's lease on e stands; locked. */
static bool leased_to_other(const struct dir_lease *e, uint64_t session,
			    int64_t now)
{
	return e->holder != 0 && e->holder != session && e->expires_ms > now;
}

/* Let a change of e by "session" through, nothing standing against it;
 * locked. */
static enum dir_lease_how admit(struct dir_leases *dl, struct dir_lease *e,
				uint64_t session, bool want, int64_t now)
{
	enum dir_lease_how how;

	if (e->expires_ms <= now)
		e->holder = 0;
	if (e->changed && e->last_session != session)
		e->handoff_ms = now;
	e->last_session = session;
	e->changed = true;
	how = session != 0 && e->holder == session ? DIR_LEASE_HOLDER
						   : DIR_LEASE_OTHER;
	if (want && session != 0 && e->waiting == 0 && e->running == 0 &&
	    (e->holder == 0 || e->holder == session) &&
	    (e->handoff_ms == 0 || now - e->handoff_ms >= DIR_LEASE_BACKOFF_MS)) {
		e->holder = session;
		e->expires_ms = now + dl->lease_ms;
		how = DIR_LEASE_RENEWED;
	}
	if (how == DIR_LEASE_OTHER)
		e->running++;
	return how;
}

enum dir_lease_how dir_lease_enter(struct dir_leases *dl, uint64_t dir,
				   uint64_t session, bool want)
{
	enum dir_lease_how how;
	struct dir_lease *e;
	int64_t now;

	pthread_mutex_lock(&dl->mu);
	while ((now = time_mono_ms()) < dl->grace_end_ms)
		wait_until(dl, dl->grace_end_ms);
	e = entry(dl, dir);
	while (leased_to_other(e, session, now)) {
		e->waiting++;
		wait_until(dl, e->expires_ms);
		e->waiting--;
		now = time_mono_ms();
	}
	how = admit(dl, e, session, want, now);
	pthread_mutex_unlock(&dl->mu);
	return how;
}

bool dir_lease_try_enter(struct dir_leases *dl, uint64_t dir, uint64_t session,
			 bool want, enum dir_lease_how *how)
{
	struct dir_lease key = { .dir = dir }, **slot, *e;
	int64_t now;
	bool ok = false;

	pthread_mutex_lock(&dl->mu);
	now = time_mono_ms();
	if (now < dl->grace_end_ms)
		goto out;
	slot = tfind(&key, &dl->root, lease_cmp);
	if (slot != NULL && leased_to_other(*slot, session, now))
		goto out;
	e = slot != NULL ? *slot : entry(dl, dir);
	*how = admit(dl, e, session, want, now);
	ok = true;
out:
	pthread_mutex_unlock(&dl->mu);
	return ok;
}

void dir_lease_leave(struct dir_leases *dl, uint64_t dir,
		     enum dir_lease_how how)
{
	struct dir_lease key = { .dir = dir }, **slot;
	int64_t now = time_mono_ms();

	pthread_mutex_lock(&dl->mu);
	slot = tfind(&key, &dl->root, lease_cmp);
	if (slot != NULL) {
		if (how == DIR_LEASE_OTHER && (*slot)->running > 0)
			(*slot)->running--;
		entry_maybe_free(dl, *slot, now);
	}
	maybe_sweep(dl, now);
	pthread_cond_broadcast(&dl->cond);
	pthread_mutex_unlock(&dl->mu);
}

size_t dir_leases_entries(struct dir_leases *dl)
{
	size_t n;

	pthread_mutex_lock(&dl->mu);
	n = dl->entries;
	pthread_mutex_unlock(&dl->mu);
	return n;
}
