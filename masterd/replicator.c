/*
 * replicator.c - re-replication, excess and corrupt replicas (see
 * replicator.h).
 *
 * The planner keeps a queue of chunks below their factor (or above it)
 * from its last scan of the chunk table and works through it as copy
 * slots free up; it scans again when the queue is empty and a few
 * seconds passed, when a server died, came back or registered, or when
 * a corrupt copy was reported. Before acting on a queued chunk it reads
 * the chunk again, so a stale queue does no harm.
 *
 * THREAD SAFETY: "lock" guards copies[], marks[], revokes[], stats,
 * stopping and kick; "wake" wakes the planner. The queue (cands[]) and
 * the scan state belong to the planner thread. Calls to other modules
 * (database, leases, chunk servers) are made without "lock".
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_srv.h"
#include "http_client.h"
#include "http_server.h"
#include "leases.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "oplog.h"
#include "proto.h"
#include "replicator.h"
#include "timeutil.h"
#include "versions.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* The planner wakes at least this often. */
#define REPL_TICK_MS 500

/* A full scan at least this often while chunks wait, and when idle. */
#define REPL_SCAN_BUSY_MS 1000
#define REPL_SCAN_IDLE_MS 5000

/* A lease handed out this recently means an active writer: wait. */
#define REPL_WRITER_QUIET_MS 2000

/* Queued chunks tried per tick when slots are short. */
#define REPL_TRIES_PER_TICK 64

/* A copy not reported back after this (plus its size at 4 MiB/s) is
 * given up and planned again. */
#define REPL_COPY_BASE_MS 20000
#define REPL_COPY_BYTES_PER_MS (4 * 1024)

/* Largest reply read from a chunk server. */
#define REPL_REPLY_MAX 4096

/* A server that did not answer a copy order is left out this long (it
 * is probably dead; the heartbeat timeout will tell). */
#define REPL_AVOID_MS 2000

/* Servers remembered as unreachable at once. */
#define REPL_AVOID_MAX 64

/* A copy in flight. */
struct repl_copy {
	uint64_t handle;
	uint64_t version;
	char source[DFS_ADDR_MAX];
	char target[DFS_ADDR_MAX];
	int64_t deadline_ms;      /* time_mono_ms() */
};

/* A corrupt copy a server keeps aside. */
struct repl_mark {
	uint64_t handle;
	char addr[DFS_ADDR_MAX];
};

/* A server not to involve in copies until a given time. */
struct repl_avoid {
	char addr[DFS_ADDR_MAX];
	int64_t until_ms;         /* time_mono_ms() */
};

/* A queued chunk. */
struct repl_cand {
	uint64_t handle;
	uint32_t live;            /* live replicas at the scan */
	uint32_t want;            /* the file's replication factor */
	bool done;
};

struct replicator {
	struct master *m;         /* borrowed */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	bool kick;                /* work arrived; do not sleep */
	bool dirty;               /* scan again at the next tick */
	struct repl_copy *copies;
	size_t ncopies, capcopies;
	struct repl_mark *marks;
	size_t nmarks, capmarks;
	uint64_t *revokes;
	size_t nrevokes, caprevokes;
	/* Chunks another module is moving (replicator_pin()). */
	uint64_t *pins;
	size_t npins, cappins;
	struct repl_avoid avoid[REPL_AVOID_MAX];
	size_t navoid;
	struct replicator_stats stats;
	/* Planner thread only. */
	struct repl_cand *cands;
	size_t ncands, capcands;
	int64_t next_scan_ms;
	uint64_t epoch;
};

/* What became of one queued chunk. */
enum plan_result {
	PLAN_DONE,     /* handled, or nothing to do: leave the queue */
	PLAN_LATER,    /* no slot or an active writer: keep it queued */
};

/*
 * ---------------------------------------------------------------------
 * Small tables (locked)
 * ---------------------------------------------------------------------
 */

static void grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return;
	*cap = *cap ? *cap * 2 : 16;
	*v = xrealloc(*v, *cap * size);
}

static struct repl_copy *copy_find(struct replicator *rp, uint64_t handle,
				   const char *target)
{
	size_t i;

	for (i = 0; i < rp->ncopies; i++)
		if (rp->copies[i].handle == handle &&
		    (target == NULL ||
		     strcmp(rp->copies[i].target, target) == 0))
			return &rp->copies[i];
	return NULL;
}

static void copy_remove(struct replicator *rp, struct repl_copy *cp)
{
	*cp = rp->copies[--rp->ncopies];
	rp->stats.running = rp->ncopies;
}

/* True if "addr" did not answer a copy order lately (locked). */
static bool is_avoided(struct replicator *rp, const char *addr)
{
	int64_t now = time_mono_ms();
	size_t i;

	for (i = 0; i < rp->navoid; i++)
		if (strcmp(rp->avoid[i].addr, addr) == 0)
			return now < rp->avoid[i].until_ms;
	return false;
}

/* Leave "addr" out of copies for REPL_AVOID_MS (locked). */
static void avoid(struct replicator *rp, const char *addr)
{
	int64_t now = time_mono_ms();
	size_t i, slot = rp->navoid;

	for (i = 0; i < rp->navoid; i++)
		if (now >= rp->avoid[i].until_ms)
			slot = i;
	for (i = 0; i < rp->navoid; i++)
		if (strcmp(rp->avoid[i].addr, addr) == 0)
			slot = i;
	if (slot == REPL_AVOID_MAX)
		slot = 0;
	if (slot == rp->navoid)
		rp->navoid++;
	memcpy(rp->avoid[slot].addr, addr, DFS_ADDR_MAX);
	rp->avoid[slot].until_ms = now + REPL_AVOID_MS;
}

/* Copies in flight from or to "addr". */
static unsigned copies_on(struct replicator *rp, const char *addr)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < rp->ncopies; i++)
		if (strcmp(rp->copies[i].source, addr) == 0 ||
		    strcmp(rp->copies[i].target, addr) == 0)
			n++;
	return n;
}

static bool is_stopping(struct replicator *rp)
{
	bool stop;

	pthread_mutex_lock(&rp->lock);
	stop = rp->stopping;
	pthread_mutex_unlock(&rp->lock);
	return stop;
}

/* Wake the planner (locked); "dirty" makes it scan every chunk again. */
static void kick(struct replicator *rp, bool dirty)
{
	rp->kick = true;
	rp->dirty = rp->dirty || dirty;
	pthread_cond_signal(&rp->wake);
}

/*
 * ---------------------------------------------------------------------
 * Scanning
 * ---------------------------------------------------------------------
 */

/* A scan in progress: the live servers and the queue being built. */
struct scan_ctx {
	struct replicator *rp;
	struct chunk_srv_info *servers;   /* sorted by address */
	size_t nservers;
};

static int info_addr_cmp(const void *key, const void *elem)
{
	const struct chunk_srv_info *s = elem;

	return strcmp(key, s->addr);
}

static bool scan_alive(const struct scan_ctx *sc, const char *addr)
{
	const struct chunk_srv_info *s;

	s = bsearch(addr, sc->servers, sc->nservers, sizeof(*sc->servers),
		    info_addr_cmp);
	return s != NULL && s->alive;
}

/* The scan's state of "addr" (normal when unknown). */
static enum chunk_srv_state scan_state(const struct scan_ctx *sc,
				       const char *addr)
{
	const struct chunk_srv_info *s;

	s = bsearch(addr, sc->servers, sc->nservers, sizeof(*sc->servers),
		    info_addr_cmp);
	return s != NULL ? s->state : CS_STATE_NORMAL;
}

static int scan_chunk(uint64_t handle, uint32_t replication,
		      const char *const *addrs, int naddrs, void *arg)
{
	struct scan_ctx *sc = arg;
	struct replicator *rp = sc->rp;
	uint32_t live = 0, good = 0, retired = 0;
	enum chunk_srv_state st;
	int i;

	for (i = 0; i < naddrs; i++) {
		if (!scan_alive(sc, addrs[i]))
			continue;
		live++;
		st = scan_state(sc, addrs[i]);
		good += st == CS_STATE_NORMAL;
		retired += st == CS_STATE_DECOMMISSIONED;
	}
	/*
	 * Only replicas on servers in normal service count towards the
	 * factor: a draining server's replicas are copied elsewhere (and
	 * kept, serving reads); a decommissioned server's are removed
	 * once the chunk has its factor without them.
	 */
	if (live == 0 || (good == replication && retired == 0))
		return 0;
	live = good;
	grow((void **)&rp->cands, &rp->capcands, rp->ncands,
	     sizeof(*rp->cands));
	rp->cands[rp->ncands++] = (struct repl_cand){ handle, live,
						      replication, false };
	return 0;
}

/* Most endangered first: fewest live replicas, largest shortfall. */
static int cand_cmp(const void *a, const void *b)
{
	const struct repl_cand *x = a, *y = b;
	int64_t sx = (int64_t)x->want - x->live;
	int64_t sy = (int64_t)y->want - y->live;

	if (x->live != y->live)
		return x->live < y->live ? -1 : 1;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

/* Rebuild the queue from the chunk table. */
static void scan(struct replicator *rp)
{
	struct scan_ctx sc = { .rp = rp };
	struct ns_reader *rd;
	int r;

	rp->ncands = 0;
	sc.nservers = chunk_srv_list(rp->m->cs, &sc.servers);
	if ((rd = ns_reader_get(rp->m->ns)) == NULL)
		goto out;
	if ((r = ns_foreach_chunk(rd, scan_chunk, &sc)) != 0)
		log_warnx("cannot scan the chunk table: %s", strerror(-r));
	ns_reader_put(rd);
	if (rp->ncands > 0) {
		qsort(rp->cands, rp->ncands, sizeof(*rp->cands), cand_cmp);
		log_info("%zu chunks off their replication factor", rp->ncands);
	}
out:
	free(sc.servers);
}

/*
 * ---------------------------------------------------------------------
 * Acting on one chunk
 * ---------------------------------------------------------------------
 */

/* Read chunk "handle" with its replication factor. */
static int chunk_read(struct replicator *rp, uint64_t handle,
		      struct dfs_chunk *c, uint32_t *replication)
{
	struct ns_chunk_owner owner;
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(rp->m->ns)) == NULL)
		return -EIO;
	r = ns_chunk_get(rd, handle, c, &owner);
	ns_reader_put(rd);
	*replication = owner.replication;
	return r;
}

/* Keep the replicas of c on live servers; returns how many. */
static int keep_live(struct replicator *rp, struct dfs_chunk *c)
{
	int i, n = 0;

	for (i = 0; i < c->nreplicas; i++)
		if (chunk_srv_is_alive(rp->m->cs, c->replicas[i]))
			memmove(c->replicas[n++], c->replicas[i], DFS_ADDR_MAX);
	c->nreplicas = n;
	return n;
}

/* Replicas of c (live ones) on servers in normal service. */
static int count_good(struct replicator *rp, const struct dfs_chunk *c)
{
	int i, n = 0;

	for (i = 0; i < c->nreplicas; i++)
		n += chunk_srv_in_service(rp->m->cs, c->replicas[i]);
	return n;
}

/* A live replica of c on a decommissioned server, or NULL. */
static const char *retired_replica(struct replicator *rp,
				   const struct dfs_chunk *c)
{
	int i;

	for (i = 0; i < c->nreplicas; i++)
		if (chunk_srv_state_of(rp->m->cs, c->replicas[i]) ==
		    CS_STATE_DECOMMISSIONED)
			return c->replicas[i];
	return NULL;
}

/* Revoke the lease of a chunk with a new version on its live replicas,
 * holding the grant lock. On success *c is the chunk as it is now. */
static int revoke(struct replicator *rp, uint64_t handle, struct dfs_chunk *c)
{
	struct master *m = rp->m;
	uint32_t replication;
	int r;

	leases_lock(m->leases, handle);
	if ((r = chunk_read(rp, handle, c, &replication)) == 0 &&
	    keep_live(rp, c) > 0 &&
	    leases_is_valid(m->leases, handle, time_now_ms(), 0, NULL)) {
		if ((r = versions_bump(m, c)) == 0) {
			leases_drop(m->leases, handle, time_now_ms());
			log_info("chunk %016" PRIx64 ": lease revoked, now "
				 "version %" PRIu64,
				 handle, c->version);
		}
	}
	leases_unlock(m->leases, handle);
	return r;
}

/* Remove the replica of c on a decommissioned server, else on its
 * fullest live server in normal service (c holds the live replicas
 * only). Replicas on draining servers stay. */
static void trim(struct replicator *rp, const struct dfs_chunk *c)
{
	struct chunk_srv_info *v;
	const char *victim = retired_replica(rp, c);
	bool retired = victim != NULL;
	uint64_t most = 0;
	json_t *op;
	size_t i, n;
	int j, r;

	n = chunk_srv_list(rp->m->cs, &v);
	for (j = 0; j < c->nreplicas && !retired; j++)
		for (i = 0; i < n; i++)
			if (strcmp(v[i].addr, c->replicas[j]) == 0 &&
			    v[i].state == CS_STATE_NORMAL &&
			    (victim == NULL || v[i].used > most)) {
				victim = c->replicas[j];
				most = v[i].used;
			}
	if (victim != NULL) {
		chunk_srv_schedule_delete(rp->m->cs, victim, c->handle);
		op = json_pack("{s:s, s:s, s:[], s:[I]}", "op",
			       "replicas_update", "addr", victim, "add",
			       "remove", (json_int_t)c->handle);
		if ((r = oplog_submit(rp->m->oplog, op, NULL)) == 0) {
			log_info("chunk %016" PRIx64 ": removing the excess "
				 "replica on '%s'",
				 c->handle, victim);
			pthread_mutex_lock(&rp->lock);
			rp->stats.trimmed++;
			pthread_mutex_unlock(&rp->lock);
		}
		json_decref(op);
	}
	free(v);
}

/* Per-server copy slots, for chunk_srv_pick_target(). */
struct slots_ctx {
	struct replicator *rp;
	bool skipped;             /* a server was skipped for lack of slots */
};

/* Called with the chunk server table locked; takes rp->lock only. */
static bool slots_full(const char *addr, void *arg)
{
	struct slots_ctx *sc = arg;
	bool full;

	pthread_mutex_lock(&sc->rp->lock);
	full = copies_on(sc->rp, addr) >= sc->rp->m->cfg.repl_copies ||
	       is_avoided(sc->rp, addr);
	pthread_mutex_unlock(&sc->rp->lock);
	sc->skipped = sc->skipped || full;
	return full;
}

/* The live holder with the fewest copies running, if it has a slot. */
static const char *pick_source(struct replicator *rp, const struct dfs_chunk *c)
{
	const char *best = NULL;
	unsigned n, least = 0;
	int i;

	pthread_mutex_lock(&rp->lock);
	for (i = 0; i < c->nreplicas; i++) {
		n = copies_on(rp, c->replicas[i]);
		if (n < rp->m->cfg.repl_copies &&
		    !is_avoided(rp, c->replicas[i]) &&
		    (best == NULL || n < least)) {
			best = c->replicas[i];
			least = n;
		}
	}
	pthread_mutex_unlock(&rp->lock);
	return best;
}

/* Send the copy order of cp to its target. */
static int copy_order(struct replicator *rp, const struct repl_copy *cp)
{
	struct http_result res = { 0, NULL, 0 };
	char path[64 + DFS_ADDR_MAX];
	int r, status;

	snprintf(path, sizeof(path),
		 EP_CHUNK_REPLICATE "?handle=%" PRIu64 "&version=%" PRIu64
				    "&source=%s",
		 cp->handle, cp->version, cp->source);
	r = http_client_request(rp->m->hc, "POST", cp->target, path, NULL, 0,
				NULL, REPL_REPLY_MAX, &res);
	if (r == 0 && res.status != 200) {
		status = proto_error_status(res.body, res.len, NULL);
		r = -wire_status_to_errno(status);
	}
	http_result_release(&res);
	return r;
}

/* Record a copy of c from source to target and order it. */
static enum plan_result copy_start(struct replicator *rp,
				   const struct dfs_chunk *c,
				   const char *source, const char *target)
{
	uint64_t cs = ns_chunk_size(rp->m->ns);
	struct repl_copy cp = { c->handle, c->version, "", "", 0 }, *p;
	int r;

	memcpy(cp.source, source, DFS_ADDR_MAX);
	memcpy(cp.target, target, DFS_ADDR_MAX);
	cp.deadline_ms = time_mono_ms() + REPL_COPY_BASE_MS +
			 (int64_t)(cs / REPL_COPY_BYTES_PER_MS);
	pthread_mutex_lock(&rp->lock);
	grow((void **)&rp->copies, &rp->capcopies, rp->ncopies,
	     sizeof(*rp->copies));
	rp->copies[rp->ncopies++] = cp;
	rp->stats.running = rp->ncopies;
	pthread_mutex_unlock(&rp->lock);
	if ((r = copy_order(rp, &cp)) == 0) {
		log_debug("chunk %016" PRIx64 " v%" PRIu64 ": copying from "
			  "'%s' to '%s'",
			  c->handle, c->version, source, target);
		return PLAN_DONE;
	}
	log_info("chunk %016" PRIx64 ": copy order to '%s' failed: %s",
		 c->handle, target, strerror(-r));
	pthread_mutex_lock(&rp->lock);
	if ((p = copy_find(rp, c->handle, target)) != NULL)
		copy_remove(rp, p);
	if (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO)
		avoid(rp, target);
	rp->stats.failed++;
	pthread_mutex_unlock(&rp->lock);
	return r == -EEXIST ? PLAN_DONE : PLAN_LATER;
}

/*
 * A writer may hold a lease of chunk c: wait while it is active, else
 * revoke the lease (a new version on the live replicas, *c refreshed).
 * 0 when no lease is left, -EAGAIN to try later.
 */
static int quiesce(struct replicator *rp, struct dfs_chunk *c)
{
	bool recent = false;

	if (!leases_is_valid(rp->m->leases, c->handle, time_now_ms(),
			     REPL_WRITER_QUIET_MS, &recent))
		return 0;
	if (recent || revoke(rp, c->handle, c) != 0)
		return -EAGAIN;
	return 0;
}

/* Plan a copy of an under-replicated chunk c (live replicas only). */
static enum plan_result plan_copy(struct replicator *rp, struct dfs_chunk *c,
				  const struct dfs_chunk *all)
{
	struct slots_ctx sc = { rp, false };
	char target[DFS_ADDR_MAX];
	const char *source;

	/* The target first: with nowhere to copy to, a writer's lease is
	 * left alone, and so are the rows of the dead replicas, which a
	 * revocation would drop as stale. */
	if (c->nreplicas == 0)
		return PLAN_DONE;
	if (chunk_srv_pick_target(rp->m->cs, ns_chunk_size(rp->m->ns),
				  (const char(*)[DFS_ADDR_MAX])all->replicas,
				  all->nreplicas, slots_full, &sc,
				  target) != 0)
		return sc.skipped ? PLAN_LATER : PLAN_DONE;
	if (quiesce(rp, c) != 0)
		return PLAN_LATER;
	if (c->nreplicas == 0)
		return PLAN_DONE;
	if ((source = pick_source(rp, c)) == NULL)
		return PLAN_LATER;
	return copy_start(rp, c, source, target);
}

/* Remove an excess replica of c (live replicas only). */
static enum plan_result plan_trim(struct replicator *rp, struct dfs_chunk *c,
				  uint32_t replication)
{
	uint32_t good;

	if (quiesce(rp, c) != 0)
		return PLAN_LATER;
	good = (uint32_t)count_good(rp, c);
	if (good > replication ||
	    (good == replication && retired_replica(rp, c) != NULL))
		trim(rp, c);
	return PLAN_DONE;
}

/* Act on one queued chunk. */
static enum plan_result plan_chunk(struct replicator *rp,
				   const struct repl_cand *cand)
{
	struct dfs_chunk c, all;
	uint32_t replication;
	bool inflight;
	int live;

	pthread_mutex_lock(&rp->lock);
	inflight = copy_find(rp, cand->handle, NULL) != NULL;
	pthread_mutex_unlock(&rp->lock);
	if (inflight || replicator_is_pinned(rp, cand->handle))
		return PLAN_DONE;
	if (chunk_read(rp, cand->handle, &c, &replication) != 0)
		return PLAN_DONE;
	all = c;
	if (keep_live(rp, &c) == 0)
		return PLAN_DONE;
	live = count_good(rp, &c);
	if ((uint32_t)live < replication)
		return plan_copy(rp, &c, &all);
	if ((uint32_t)live > replication || retired_replica(rp, &c) != NULL)
		return plan_trim(rp, &c, replication);
	return PLAN_DONE;
}

/* Work through the queue as far as slots allow. */
static void dispatch(struct replicator *rp)
{
	unsigned later = 0;
	size_t i, n = 0;

	for (i = 0; i < rp->ncands && later < REPL_TRIES_PER_TICK; i++) {
		if (is_stopping(rp))
			break;
		if (plan_chunk(rp, &rp->cands[i]) == PLAN_DONE)
			rp->cands[i].done = true;
		else
			later++;
	}
	for (i = 0; i < rp->ncands; i++)
		if (!rp->cands[i].done)
			rp->cands[n++] = rp->cands[i];
	rp->ncands = n;
}

/*
 * ---------------------------------------------------------------------
 * The planner thread
 * ---------------------------------------------------------------------
 */

/* True if copy cp should be given up: past its deadline, or one of
 * its servers died. Called without rp->lock (liveness takes the chunk
 * server table's lock, which is taken before rp->lock elsewhere). */
static bool copy_is_lost(struct replicator *rp, const struct repl_copy *cp,
			 int64_t now)
{
	return now >= cp->deadline_ms ||
	       !chunk_srv_is_alive(rp->m->cs, cp->source) ||
	       !chunk_srv_is_alive(rp->m->cs, cp->target);
}

/* Give up copies past their deadline or whose servers died. */
static void expire_copies(struct replicator *rp)
{
	int64_t now = time_mono_ms();
	struct repl_copy *v, *cp;
	size_t i, n;

	pthread_mutex_lock(&rp->lock);
	n = rp->ncopies;
	v = n > 0 ? xmalloc(n * sizeof(*v)) : NULL;
	if (n > 0)
		memcpy(v, rp->copies, n * sizeof(*v));
	pthread_mutex_unlock(&rp->lock);
	for (i = 0; i < n; i++) {
		if (!copy_is_lost(rp, &v[i], now))
			continue;
		log_info("chunk %016" PRIx64 ": copy from '%s' to '%s' given "
			 "up",
			 v[i].handle, v[i].source, v[i].target);
		pthread_mutex_lock(&rp->lock);
		if ((cp = copy_find(rp, v[i].handle, v[i].target)) != NULL) {
			copy_remove(rp, cp);
			rp->stats.failed++;
		}
		pthread_mutex_unlock(&rp->lock);
	}
	free(v);
}


/* Revoke the leases that reports asked for. */
static void run_revokes(struct replicator *rp)
{
	struct dfs_chunk c;
	uint64_t *v;
	size_t i, n;

	pthread_mutex_lock(&rp->lock);
	v = rp->revokes;
	n = rp->nrevokes;
	rp->revokes = NULL;
	rp->nrevokes = rp->caprevokes = 0;
	pthread_mutex_unlock(&rp->lock);
	for (i = 0; i < n; i++)
		revoke(rp, v[i], &c);
	free(v);
}

/* One round: scan if due, then work through the queue. */
static void plan(struct replicator *rp)
{
	int64_t now = time_mono_ms();
	uint64_t epoch = chunk_srv_epoch(rp->m->cs);
	bool dirty;

	pthread_mutex_lock(&rp->lock);
	dirty = rp->dirty;
	rp->dirty = false;
	pthread_mutex_unlock(&rp->lock);
	if (dirty || epoch != rp->epoch ||
	    (rp->ncands == 0 && now >= rp->next_scan_ms)) {
		rp->epoch = epoch;
		scan(rp);
		rp->next_scan_ms = now + (rp->ncands > 0 ? REPL_SCAN_BUSY_MS
							 : REPL_SCAN_IDLE_MS);
	}
	dispatch(rp);
}

static void *repl_main(void *arg)
{
	struct replicator *rp = arg;
	struct timespec ts;

	pthread_mutex_lock(&rp->lock);
	while (!rp->stopping) {
		pthread_mutex_unlock(&rp->lock);
		expire_copies(rp);
		run_revokes(rp);
		if (!chunk_srv_settling(rp->m->cs))
			plan(rp);
		pthread_mutex_lock(&rp->lock);
		if (rp->kick || rp->stopping) {
			rp->kick = false;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += REPL_TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&rp->wake, &rp->lock, &ts);
		rp->kick = false;
	}
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

struct replicator *replicator_new(struct master *m)
{
	struct replicator *rp = xcalloc(1, sizeof(*rp));
	pthread_condattr_t ca;
	int r;

	rp->m = m;
	pthread_mutex_init(&rp->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rp->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = pthread_create(&rp->thread, NULL, repl_main, rp)) != 0) {
		errno = r;
		fatal("cannot start the replicator thread");
	}
	return rp;
}

void replicator_free(struct replicator *rp)
{
	if (rp == NULL)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->stopping = true;
	pthread_cond_signal(&rp->wake);
	pthread_mutex_unlock(&rp->lock);
	pthread_join(rp->thread, NULL);
	pthread_cond_destroy(&rp->wake);
	pthread_mutex_destroy(&rp->lock);
	free(rp->copies);
	free(rp->marks);
	free(rp->revokes);
	free(rp->pins);
	free(rp->cands);
	free(rp);
}

/*
 * ---------------------------------------------------------------------
 * Reports and requests
 * ---------------------------------------------------------------------
 */

void replicator_pin(struct replicator *rp, uint64_t handle, bool pin)
{
	size_t i;

	pthread_mutex_lock(&rp->lock);
	for (i = 0; i < rp->npins && rp->pins[i] != handle; i++)
		;
	if (pin && i == rp->npins) {
		grow((void **)&rp->pins, &rp->cappins, rp->npins,
		     sizeof(*rp->pins));
		rp->pins[rp->npins++] = handle;
	} else if (!pin && i < rp->npins) {
		rp->pins[i] = rp->pins[--rp->npins];
	}
	pthread_mutex_unlock(&rp->lock);
}

bool replicator_is_pinned(struct replicator *rp, uint64_t handle)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&rp->lock);
	for (i = 0; i < rp->npins && !found; i++)
		found = rp->pins[i] == handle;
	pthread_mutex_unlock(&rp->lock);
	return found;
}

int replicator_copy(struct replicator *rp, const struct dfs_chunk *c,
		    const char *source, const char *target)
{
	unsigned max = rp->m->cfg.repl_copies;
	bool busy;

	pthread_mutex_lock(&rp->lock);
	busy = copy_find(rp, c->handle, NULL) != NULL ||
	       copies_on(rp, source) >= max || copies_on(rp, target) >= max ||
	       is_avoided(rp, source) || is_avoided(rp, target);
	pthread_mutex_unlock(&rp->lock);
	if (busy)
		return -EBUSY;
	return copy_start(rp, c, source, target) == PLAN_DONE ? 0 : -EAGAIN;
}

bool replicator_copy_reported(struct replicator *rp, uint64_t handle,
			      const char *addr)
{
	bool found;

	pthread_mutex_lock(&rp->lock);
	found = copy_find(rp, handle, addr) != NULL;
	pthread_mutex_unlock(&rp->lock);
	return found;
}

void replicator_request_revoke(struct replicator *rp, uint64_t handle)
{
	pthread_mutex_lock(&rp->lock);
	grow((void **)&rp->revokes, &rp->caprevokes, rp->nrevokes,
	     sizeof(*rp->revokes));
	rp->revokes[rp->nrevokes++] = handle;
	kick(rp, true);
	pthread_mutex_unlock(&rp->lock);
}

/* May the corrupt copy of "handle" go: is the chunk gone or back to its
 * factor? */
static bool corrupt_may_drop(struct replicator *rp, struct ns_reader *rd,
			     uint64_t handle)
{
	struct ns_chunk_owner owner;
	struct dfs_chunk c;
	int r;

	if (rd == NULL)
		return false;
	r = ns_chunk_get(rd, handle, &c, &owner);
	if (r == -ENOENT)
		return true;
	return r == 0 && (uint32_t)keep_live(rp, &c) >= owner.replication;
}

static bool mark_exists(struct replicator *rp, uint64_t handle,
			const char *addr)
{
	size_t i;

	for (i = 0; i < rp->nmarks; i++)
		if (rp->marks[i].handle == handle &&
		    strcmp(rp->marks[i].addr, addr) == 0)
			return true;
	return false;
}

/* Replace the marks of "addr" by keep[0..n-1] (locked); true if one is
 * new. */
static bool marks_replace(struct replicator *rp, const char *addr,
			  const uint64_t *keep, size_t n)
{
	bool fresh = false;
	size_t i, j = 0;

	for (i = 0; i < n; i++)
		if (!mark_exists(rp, keep[i], addr)) {
			fresh = true;
			log_warnx("chunkserver '%s' reports a corrupt replica "
				  "of chunk %016" PRIx64,
				  addr, keep[i]);
		}
	for (i = 0; i < rp->nmarks; i++)
		if (strcmp(rp->marks[i].addr, addr) != 0)
			rp->marks[j++] = rp->marks[i];
	rp->nmarks = j;
	for (i = 0; i < n; i++) {
		grow((void **)&rp->marks, &rp->capmarks, rp->nmarks,
		     sizeof(*rp->marks));
		rp->marks[rp->nmarks].handle = keep[i];
		memcpy(rp->marks[rp->nmarks].addr, addr, strlen(addr) + 1);
		rp->nmarks++;
	}
	rp->stats.corrupt = rp->nmarks;
	return fresh;
}

json_t *replicator_note_corrupt(struct replicator *rp, const char *addr,
				const uint64_t *handles, size_t n)
{
	json_t *drop = json_array();
	struct ns_reader *rd = NULL;
	uint64_t *keep = NULL;
	size_t i, nkeep = 0;

	if (n > 0) {
		rd = ns_reader_get(rp->m->ns);
		keep = xcalloc(n, sizeof(*keep));
	}
	for (i = 0; i < n; i++) {
		if (corrupt_may_drop(rp, rd, handles[i]))
			json_array_append_new(
				drop, json_integer((json_int_t)handles[i]));
		else
			keep[nkeep++] = handles[i];
	}
	ns_reader_put(rd);
	if (json_array_size(drop) > 0)
		log_info("chunkserver '%s': %zu corrupt copies replaced, "
			 "removing them",
			 addr, json_array_size(drop));
	pthread_mutex_lock(&rp->lock);
	if (marks_replace(rp, addr, keep, nkeep))
		kick(rp, true);
	pthread_mutex_unlock(&rp->lock);
	free(keep);
	return drop;
}

int replicator_corrupt_on(struct replicator *rp, uint64_t handle,
			  char (*out)[DFS_ADDR_MAX], int max)
{
	char addrs[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	int i, n = 0, k = 0;
	size_t j;

	pthread_mutex_lock(&rp->lock);
	for (j = 0; j < rp->nmarks && n < DFS_MAX_REPLICAS; j++)
		if (rp->marks[j].handle == handle)
			memcpy(addrs[n++], rp->marks[j].addr, DFS_ADDR_MAX);
	pthread_mutex_unlock(&rp->lock);
	for (i = 0; i < n && k < max; i++)
		if (chunk_srv_is_alive(rp->m->cs, addrs[i]))
			memcpy(out[k++], addrs[i], DFS_ADDR_MAX);
	return k;
}

void replicator_get_stats(struct replicator *rp, struct replicator_stats *st)
{
	pthread_mutex_lock(&rp->lock);
	*st = rp->stats;
	pthread_mutex_unlock(&rp->lock);
}

/* The fields of an EP_CS_COPY_DONE request. */
struct copy_done {
	const char *addr;
	uint64_t handle;
	uint64_t version;
	bool ok;
	const char *error;
};

static int parse_copy_done(const json_t *body, struct copy_done *cd)
{
	int r;

	cd->error = "";
	if ((r = proto_get_str(body, "addr", DFS_ADDR_MAX - 1, &cd->addr)) ||
	    (r = proto_get_u64(body, "handle", NS_MAX_ID, &cd->handle)) ||
	    (r = proto_get_u64(body, "version", NS_MAX_ID, &cd->version)) ||
	    (r = proto_get_bool(body, "ok", &cd->ok)))
		return r;
	if (json_object_get(body, "error") != NULL &&
	    (r = proto_get_str(body, "error", 1024, &cd->error)) != 0)
		return r;
	return proto_addr_is_valid(cd->addr) && cd->handle > 0 ? 0 : -EINVAL;
}

/* Record the replica a finished copy made. */
static int copy_record(struct master *m, const struct copy_done *cd)
{
	json_t *op;
	int r;

	op = json_pack("{s:s, s:s, s:[[I, I]], s:[]}", "op", "replicas_update",
		       "addr", cd->addr, "add", (json_int_t)cd->handle,
		       (json_int_t)cd->version, "remove");
	r = oplog_submit(m->oplog, op, NULL);
	json_decref(op);
	return r;
}

static void handle_copy_done(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct replicator *rp = m->repl;
	struct copy_done cd;
	struct repl_copy *cp;
	char source[DFS_ADDR_MAX] = "?";
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (parse_copy_done(body, &cd) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "malformed copy report");
		goto out;
	}
	pthread_mutex_lock(&rp->lock);
	if ((cp = copy_find(rp, cd.handle, cd.addr)) != NULL) {
		memcpy(source, cp->source, DFS_ADDR_MAX);
		copy_remove(rp, cp);
	}
	if (cd.ok)
		rp->stats.copied++;
	else
		rp->stats.failed++;
	kick(rp, false);
	pthread_mutex_unlock(&rp->lock);
	if (!cd.ok) {
		log_info("chunk %016" PRIx64 ": copy from '%s' to '%s' failed: "
			 "%s",
			 cd.handle, source, cd.addr, cd.error);
	} else if ((r = copy_record(m, &cd)) != 0) {
		http_reply_error(req, wire_status_from_errno(r),
				 "cannot record the copy: %s", strerror(-r));
		goto out;
	} else {
		log_info("chunk %016" PRIx64 " v%" PRIu64 ": new replica on "
			 "'%s' (copied from '%s')",
			 cd.handle, cd.version, cd.addr, source);
	}
	http_reply_json(req, 200, NULL);
out:
	json_decref(body);
}

const struct http_route replicator_routes[] = {
	{ "POST", EP_CS_COPY_DONE, handle_copy_done, 64 * 1024, 0 },
};
const size_t replicator_nroutes =
	sizeof(replicator_routes) / sizeof(replicator_routes[0]);
