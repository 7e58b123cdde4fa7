/*
 * balancer.c - replica moves that even out server usage (see
 * balancer.h).
 *
 * THREAD SAFETY: "lock" guards the run's public state (running, cancel,
 * state, threshold, counters, times) and "stopping"; "wake" wakes the
 * thread. The moves and the round state belong to the balancer thread.
 * Calls to other modules are made without "lock".
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balancer.h"
#include "chunk_srv.h"
#include "http_server.h"
#include "leases.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "oplog.h"
#include "proto.h"
#include "replicator.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* The thread's pace while a run is on. */
#define BAL_TICK_MS 200

/* Moves planned per round. */
#define BAL_BATCH_MAX 64

/* A move not finished after this is given up. */
#define BAL_MOVE_TIMEOUT_MS 60000

/* A copy neither in flight nor recorded for this long failed. */
#define BAL_LOST_MS 3000

/* A lease handed out this recently means an active writer: the chunk
 * is not moved, its lease not revoked. */
#define BAL_WRITER_QUIET_MS 2000

/* Rounds in a row without a possible move before the run gives up. */
#define BAL_IDLE_ROUNDS 3

/* Default and bounds of the threshold, percentage points. */
#define BAL_DEFAULT_THRESHOLD 10.0
#define BAL_MIN_THRESHOLD 0.1
#define BAL_MAX_THRESHOLD 100.0

/* Largest EP_BALANCE body. */
#define BAL_MAX_BODY 4096

/* Where a run stands. */
enum bal_state {
	BAL_IDLE,        /* never ran */
	BAL_RUNNING,
	BAL_BALANCED,    /* ended: every server within the threshold */
	BAL_STOPPED,     /* ended: stopped by a request */
	BAL_BLOCKED,     /* ended: nothing left that could move */
};

static const char *const state_names[] = {
	[BAL_IDLE] = "idle",
	[BAL_RUNNING] = "running",
	[BAL_BALANCED] = "balanced",
	[BAL_STOPPED] = "stopped",
	[BAL_BLOCKED] = "blocked",
};

/* One replica move. */
struct bal_move {
	uint64_t handle;
	char from[DFS_ADDR_MAX];
	char to[DFS_ADDR_MAX];
	bool copying;             /* the copy was ordered */
	int64_t deadline_ms;      /* time_mono_ms() */
	int64_t gone_ms;          /* copy neither in flight nor recorded
				   * since (0: it is not) */
};

struct balancer {
	struct master *m;         /* borrowed */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	/* The run (locked). */
	bool running;
	bool cancel;
	enum bal_state state;
	double threshold;
	uint64_t moved, failed, rounds;
	int64_t started_ms, finished_ms;     /* time_now_ms(), 0: not yet */
	/* Balancer thread only. */
	struct bal_move *moves;
	size_t nmoves, capmoves;
	int64_t settle_until_ms;
	unsigned idle_rounds;
};

/* A server of a round: its projected usage and its chunks. */
struct bal_server {
	const struct chunk_srv_info *info;
	double used;              /* bytes, projected */
	uint64_t *handles;        /* chunks on it, ascending */
	size_t nhandles, next;
	bool exhausted;           /* nothing more to move from it */
};

/* A round being planned. */
struct bal_round {
	struct balancer *b;
	struct ns_reader *rd;
	struct chunk_srv_info *all;      /* every known server */
	size_t nall;
	struct bal_server *s;            /* live, in service, capacity > 0 */
	size_t ns;
	double mean;                     /* fraction */
	double threshold;                /* fraction */
	double chunk;                    /* bytes per move */
};

/*
 * ---------------------------------------------------------------------
 * The run's public state
 * ---------------------------------------------------------------------
 */

/* End the run (locked). */
static void run_end(struct balancer *b, enum bal_state state)
{
	b->running = false;
	b->cancel = false;
	b->state = state;
	b->finished_ms = time_now_ms();
}

static void count(struct balancer *b, bool ok)
{
	pthread_mutex_lock(&b->lock);
	if (ok)
		b->moved++;
	else
		b->failed++;
	pthread_mutex_unlock(&b->lock);
}

/*
 * ---------------------------------------------------------------------
 * Moves in flight
 * ---------------------------------------------------------------------
 */

static bool in_list(const struct dfs_chunk *c, const char *addr)
{
	int i;

	for (i = 0; i < c->nreplicas; i++)
		if (strcmp(c->replicas[i], addr) == 0)
			return true;
	return false;
}

/* Replicas of c on live servers in normal service. */
static int count_good(struct master *m, const struct dfs_chunk *c)
{
	int i, n = 0;

	for (i = 0; i < c->nreplicas; i++)
		n += chunk_srv_in_service(m->cs, c->replicas[i]);
	return n;
}

static int chunk_read(struct master *m, uint64_t handle, struct dfs_chunk *c,
		      uint32_t *replication)
{
	struct ns_chunk_owner owner = { 0, 0 };
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	r = ns_chunk_get(rd, handle, c, &owner);
	ns_reader_put(rd);
	*replication = owner.replication;
	return r;
}

/* Remove the replica on mv->from now that the one on mv->to is
 * recorded, under the chunk's grant lock. 0 when done (or no longer
 * wanted: *ok tells which), -EAGAIN while a client may write. */
static int move_finish(struct balancer *b, const struct bal_move *mv,
		       bool *ok)
{
	struct master *m = b->m;
	struct dfs_chunk c;
	uint32_t replication;
	json_t *op;
	int r;

	*ok = false;
	leases_lock(m->leases, mv->handle);
	r = chunk_read(m, mv->handle, &c, &replication);
	if (r == 0 && leases_is_valid(m->leases, mv->handle, time_now_ms(), 0,
				      NULL)) {
		r = -EAGAIN;
	} else if (r == 0 && in_list(&c, mv->from) &&
		   chunk_srv_in_service(m->cs, mv->from) &&
		   (uint32_t)count_good(m, &c) > replication) {
		chunk_srv_schedule_delete(m->cs, mv->from, mv->handle);
		op = json_pack("{s:s, s:s, s:[], s:[I]}", "op",
			       "replicas_update", "addr", mv->from, "add",
			       "remove", (json_int_t)mv->handle);
		if ((r = oplog_submit(m->oplog, op, NULL)) == 0)
			*ok = true;
		json_decref(op);
	}
	leases_unlock(m->leases, mv->handle);
	if (*ok)
		log_info("chunk %016" PRIx64 ": moved from '%s' to '%s'",
			 mv->handle, mv->from, mv->to);
	return r == -EAGAIN ? r : 0;
}

/* Start the copy of a planned move: true when it is over (dropped). */
static bool move_order(struct balancer *b, struct bal_move *mv,
		       const struct dfs_chunk *c)
{
	int r;

	if (!in_list(c, mv->from) || in_list(c, mv->to))
		return true;
	if (leases_is_busy(b->m->leases, mv->handle, time_now_ms(), 0))
		return false;
	r = replicator_copy(b->m->repl, c, mv->from, mv->to);
	if (r == 0) {
		mv->copying = true;
		return false;
	}
	if (r == -EBUSY)
		return false;
	count(b, false);
	return true;
}

/* Advance one move; true when it is over. */
static bool move_step(struct balancer *b, struct bal_move *mv, int64_t now)
{
	struct dfs_chunk c;
	uint32_t replication;
	bool ok;

	if (chunk_read(b->m, mv->handle, &c, &replication) != 0)
		return true;
	if (now >= mv->deadline_ms) {
		log_info("chunk %016" PRIx64 ": move from '%s' to '%s' given "
			 "up",
			 mv->handle, mv->from, mv->to);
		count(b, false);
		return true;
	}
	if (!mv->copying)
		return move_order(b, mv, &c);
	if (in_list(&c, mv->to)) {
		if (move_finish(b, mv, &ok) != 0)
			return false;
		if (ok)
			count(b, true);
		return true;
	}
	if (replicator_copy_reported(b->m->repl, mv->handle, mv->to)) {
		mv->gone_ms = 0;
		return false;
	}
	if (mv->gone_ms == 0) {
		mv->gone_ms = now;
		return false;
	}
	if (now - mv->gone_ms < BAL_LOST_MS)
		return false;
	count(b, false);
	return true;
}

/* Advance every move; unpin and forget the finished ones. */
static void moves_step(struct balancer *b)
{
	int64_t now = time_mono_ms();
	size_t i, n = 0;

	for (i = 0; i < b->nmoves; i++) {
		if (move_step(b, &b->moves[i], now))
			replicator_pin(b->m->repl, b->moves[i].handle, false);
		else
			b->moves[n++] = b->moves[i];
	}
	b->nmoves = n;
	if (n == 0)
		b->settle_until_ms = now + 2 * chunk_srv_heartbeat_ms(b->m->cs) +
				     500;
}

static void moves_clear(struct balancer *b)
{
	size_t i;

	for (i = 0; i < b->nmoves; i++)
		replicator_pin(b->m->repl, b->moves[i].handle, false);
	b->nmoves = 0;
}

/*
 * ---------------------------------------------------------------------
 * Planning a round
 * ---------------------------------------------------------------------
 */

static double frac(const struct bal_server *s)
{
	return s->used / (double)s->info->capacity;
}

static const char *rack_of(const struct bal_round *rd, const char *addr)
{
	size_t i;

	for (i = 0; i < rd->nall; i++)
		if (strcmp(rd->all[i].addr, addr) == 0)
			return rd->all[i].rack;
	return "";
}

/* Distinct racks of c's replicas, "from" replaced by "to" (or not). */
static int racks(const struct bal_round *rd, const struct dfs_chunk *c,
		 const char *from, const char *to)
{
	const char *seen[DFS_MAX_REPLICAS + 1];
	const char *addr, *rack;
	int i, j, n = 0;

	for (i = 0; i < c->nreplicas; i++) {
		addr = from != NULL && strcmp(c->replicas[i], from) == 0
			       ? to : c->replicas[i];
		rack = rack_of(rd, addr);
		for (j = 0; j < n && strcmp(seen[j], rack) != 0; j++)
			;
		if (j == n)
			seen[n++] = rack;
	}
	return n;
}

static bool is_planned(const struct balancer *b, uint64_t handle)
{
	size_t i;

	for (i = 0; i < b->nmoves; i++)
		if (b->moves[i].handle == handle)
			return true;
	return false;
}

/*
 * True if a client may write chunk "handle": it has a lease. A lease
 * whose writer has been quiet for a moment is revoked (replicator.h),
 * so the chunk can move in a later round.
 */
static bool is_written(struct balancer *b, uint64_t handle)
{
	bool recent = false;

	if (!leases_is_valid(b->m->leases, handle, time_now_ms(),
			     BAL_WRITER_QUIET_MS, &recent))
		return false;
	if (!recent)
		replicator_request_revoke(b->m->repl, handle);
	return true;
}

/* May chunk c (factor "replication") move from src to dst? */
static bool can_move(struct bal_round *rd, const struct dfs_chunk *c,
		     uint32_t replication, const char *src, const char *dst)
{
	struct master *m = rd->b->m;
	int before, after;

	if (!in_list(c, src) || in_list(c, dst) ||
	    (uint32_t)count_good(m, c) != replication)
		return false;
	before = racks(rd, c, NULL, NULL);
	after = racks(rd, c, src, dst);
	return after >= (before < 2 ? before : 2);
}

/* Plan a move of one chunk of "src" to the emptiest server below the
 * mean that can take it; false when src has nothing more to move. */
static bool plan_from(struct bal_round *rd, struct bal_server *src,
		      struct bal_server **dsts, size_t ndsts)
{
	struct balancer *b = rd->b;
	struct ns_chunk_owner owner;
	struct bal_move *mv;
	struct dfs_chunk c;
	uint64_t h;
	size_t j;

	while (src->next < src->nhandles) {
		h = src->handles[src->next++];
		if (is_planned(b, h) || replicator_is_pinned(b->m->repl, h) ||
		    is_written(b, h) || ns_chunk_get(rd->rd, h, &c, &owner) != 0)
			continue;
		for (j = 0; j < ndsts; j++) {
			if (frac(dsts[j]) >= rd->mean ||
			    !can_move(rd, &c, owner.replication,
				      src->info->addr, dsts[j]->info->addr))
				continue;
			if (b->nmoves == b->capmoves) {
				b->capmoves = b->capmoves ? 2 * b->capmoves
							  : 16;
				b->moves = xrealloc(b->moves, b->capmoves *
							sizeof(*b->moves));
			}
			mv = &b->moves[b->nmoves++];
			memset(mv, 0, sizeof(*mv));
			mv->handle = h;
			memcpy(mv->from, src->info->addr, DFS_ADDR_MAX);
			memcpy(mv->to, dsts[j]->info->addr, DFS_ADDR_MAX);
			mv->deadline_ms = time_mono_ms() + BAL_MOVE_TIMEOUT_MS;
			replicator_pin(b->m->repl, h, true);
			src->used -= rd->chunk;
			dsts[j]->used += rd->chunk;
			return true;
		}
	}
	return false;
}

static int server_frac_cmp(const void *a, const void *b)
{
	const struct bal_server *x = *(struct bal_server *const *)a;
	const struct bal_server *y = *(struct bal_server *const *)b;

	return frac(x) < frac(y) ? -1 : frac(x) > frac(y);
}

/* The fullest server that may still give, or NULL. */
static struct bal_server *fullest(struct bal_round *rd)
{
	struct bal_server *best = NULL;
	size_t i;

	for (i = 0; i < rd->ns; i++)
		if (!rd->s[i].exhausted &&
		    (best == NULL || frac(&rd->s[i]) > frac(best)))
			best = &rd->s[i];
	return best;
}

/* True if every server is within the threshold of the mean. */
static bool is_balanced(const struct bal_round *rd)
{
	double f;
	size_t i;

	for (i = 0; i < rd->ns; i++) {
		f = frac(&rd->s[i]);
		if (f > rd->mean + rd->threshold ||
		    f < rd->mean - rd->threshold)
			return false;
	}
	return true;
}

/* Would one more move from src to the emptiest server overshoot? */
static bool move_helps(const struct bal_round *rd,
		       const struct bal_server *src,
		       const struct bal_server *dst)
{
	double gap = frac(src) - frac(dst);

	return gap > rd->chunk / (double)src->info->capacity +
			     rd->chunk / (double)dst->info->capacity;
}

/* Plan the moves of one round; how many. */
static size_t plan_moves(struct bal_round *rd)
{
	struct bal_server **dsts, *src;
	size_t i, planned = 0;

	dsts = xcalloc(rd->ns, sizeof(*dsts));
	for (i = 0; i < rd->ns; i++)
		dsts[i] = &rd->s[i];
	while (planned < BAL_BATCH_MAX && !is_balanced(rd)) {
		qsort(dsts, rd->ns, sizeof(*dsts), server_frac_cmp);
		if ((src = fullest(rd)) == NULL || !move_helps(rd, src, dsts[0]))
			break;
		if (src->handles == NULL &&
		    ns_server_handles(rd->rd, src->info->addr, &src->handles,
				      &src->nhandles) != 0)
			src->nhandles = 0;
		if (plan_from(rd, src, dsts, rd->ns))
			planned++;
		else
			src->exhausted = true;
	}
	free(dsts);
	return planned;
}

/* Fill the servers of a round from a snapshot; false if there are fewer
 * than two. */
static bool round_servers(struct bal_round *rd)
{
	double used = 0, cap = 0;
	size_t i;

	rd->nall = chunk_srv_list(rd->b->m->cs, &rd->all);
	rd->s = xcalloc(rd->nall + 1, sizeof(*rd->s));
	for (i = 0; i < rd->nall; i++) {
		if (!rd->all[i].alive || rd->all[i].state != CS_STATE_NORMAL ||
		    rd->all[i].capacity == 0)
			continue;
		rd->s[rd->ns].info = &rd->all[i];
		rd->s[rd->ns].used = (double)rd->all[i].used;
		used += (double)rd->all[i].used;
		cap += (double)rd->all[i].capacity;
		rd->ns++;
	}
	rd->mean = cap > 0 ? used / cap : 0;
	return rd->ns >= 2;
}

static void round_release(struct bal_round *rd)
{
	size_t i;

	for (i = 0; i < rd->ns; i++)
		free(rd->s[i].handles);
	free(rd->s);
	free(rd->all);
	if (rd->rd != NULL)
		ns_reader_put(rd->rd);
}

/* Plan a round; ends the run when balanced or blocked. */
static void round_plan(struct balancer *b, double threshold)
{
	struct bal_round rd = { .b = b, .threshold = threshold / 100.0 };
	enum bal_state end = BAL_RUNNING;
	size_t planned = 0;

	rd.chunk = (double)ns_chunk_size(b->m->ns);
	if (!round_servers(&rd) || is_balanced(&rd)) {
		end = BAL_BALANCED;
	} else if ((rd.rd = ns_reader_get(b->m->ns)) != NULL &&
		   ns_read_begin(rd.rd) == 0) {
		planned = plan_moves(&rd);
		ns_read_end(rd.rd);
	}
	if (end == BAL_RUNNING && planned == 0 &&
	    ++b->idle_rounds >= BAL_IDLE_ROUNDS)
		end = BAL_BLOCKED;
	if (planned > 0) {
		b->idle_rounds = 0;
		log_info("balancer: round of %zu moves (mean usage %.1f%%)",
			 planned, 100.0 * rd.mean);
	}
	b->settle_until_ms = time_mono_ms() +
			     2 * chunk_srv_heartbeat_ms(b->m->cs) + 500;
	round_release(&rd);
	pthread_mutex_lock(&b->lock);
	b->rounds++;
	if (end != BAL_RUNNING) {
		run_end(b, end);
		log_info("balancer: run ended, %s (%" PRIu64 " moved, %" PRIu64
			 " failed)",
			 state_names[end], b->moved, b->failed);
	}
	pthread_mutex_unlock(&b->lock);
}

/*
 * ---------------------------------------------------------------------
 * The thread
 * ---------------------------------------------------------------------
 */

/* One step of a run. */
static void step(struct balancer *b)
{
	bool cancel;
	double threshold;

	pthread_mutex_lock(&b->lock);
	cancel = b->cancel;
	threshold = b->threshold;
	if (cancel) {
		run_end(b, BAL_STOPPED);
		log_info("balancer: stopped (%" PRIu64 " moved)", b->moved);
	}
	pthread_mutex_unlock(&b->lock);
	if (cancel) {
		moves_clear(b);
		return;
	}
	if (b->nmoves > 0) {
		moves_step(b);
		return;
	}
	if (time_mono_ms() < b->settle_until_ms ||
	    chunk_srv_settling(b->m->cs))
		return;
	round_plan(b, threshold);
}

static void *bal_main(void *arg)
{
	struct balancer *b = arg;
	struct timespec ts;
	bool running;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		running = b->running;
		pthread_mutex_unlock(&b->lock);
		if (running)
			step(b);
		pthread_mutex_lock(&b->lock);
		if (b->stopping)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += BAL_TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (b->running)
			pthread_cond_timedwait(&b->wake, &b->lock, &ts);
		else
			pthread_cond_wait(&b->wake, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int balancer_start(struct master *m)
{
	struct balancer *b = xcalloc(1, sizeof(*b));
	pthread_condattr_t ca;
	int r;

	b->m = m;
	b->threshold = BAL_DEFAULT_THRESHOLD;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = pthread_create(&b->thread, NULL, bal_main, b)) != 0) {
		errno = r;
		fatal("cannot start the balancer thread");
	}
	m->bal = b;
	return 0;
}

void balancer_stop(struct master *m)
{
	struct balancer *b = m->bal;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	moves_clear(b);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->lock);
	free(b->moves);
	free(b);
	m->bal = NULL;
}

/*
 * ---------------------------------------------------------------------
 * EP_BALANCE
 * ---------------------------------------------------------------------
 */

/* The servers' usage and deviation from the mean, as JSON. */
static json_t *servers_json(struct master *m, double *mean)
{
	struct chunk_srv_info *v;
	double used = 0, cap = 0;
	json_t *arr = json_array();
	size_t i, n;

	n = chunk_srv_list(m->cs, &v);
	for (i = 0; i < n; i++)
		if (v[i].alive && v[i].state == CS_STATE_NORMAL &&
		    v[i].capacity > 0) {
			used += (double)v[i].used;
			cap += (double)v[i].capacity;
		}
	*mean = cap > 0 ? 100.0 * used / cap : 0;
	for (i = 0; i < n; i++) {
		double pct;

		if (!v[i].alive || v[i].state != CS_STATE_NORMAL ||
		    v[i].capacity == 0)
			continue;
		pct = 100.0 * (double)v[i].used / (double)v[i].capacity;
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:I, s:I, s:f, s:f}", "addr",
				       v[i].addr, "rack", v[i].rack, "used",
				       (json_int_t)v[i].used, "capacity",
				       (json_int_t)v[i].capacity, "usage", pct,
				       "deviation", pct - *mean));
	}
	free(v);
	return arr;
}

/* The EP_BALANCE reply. */
static json_t *status_json(struct master *m)
{
	struct balancer *b = m->bal;
	json_t *servers, *obj;
	double mean;

	servers = servers_json(m, &mean);
	pthread_mutex_lock(&b->lock);
	obj = json_pack("{s:b, s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:o}",
			"running", b->running, "state", state_names[b->state],
			"threshold", b->threshold, "mean", mean, "moved",
			(json_int_t)b->moved, "failed", (json_int_t)b->failed,
			"rounds", (json_int_t)b->rounds, "started_ms",
			(json_int_t)b->started_ms, "finished_ms",
			(json_int_t)b->finished_ms, "servers", servers);
	pthread_mutex_unlock(&b->lock);
	return obj;
}

/* Start a run (if none is on) with "threshold". */
static void run_start(struct balancer *b, double threshold)
{
	pthread_mutex_lock(&b->lock);
	if (!b->running) {
		b->running = true;
		b->cancel = false;
		b->state = BAL_RUNNING;
		b->threshold = threshold;
		b->moved = b->failed = b->rounds = 0;
		b->started_ms = time_now_ms();
		b->finished_ms = 0;
		b->idle_rounds = 0;
		b->settle_until_ms = 0;
		log_info("balancer: started, threshold %.1f%%", threshold);
	}
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
}

static int parse_request(const json_t *body, const char **action,
			 double *threshold)
{
	const json_t *t;
	int r;

	*threshold = BAL_DEFAULT_THRESHOLD;
	if ((r = proto_get_str(body, "action", 16, action)) != 0)
		return r;
	if (strcmp(*action, "start") != 0 && strcmp(*action, "stop") != 0 &&
	    strcmp(*action, "status") != 0)
		return -EINVAL;
	if ((t = json_object_get(body, "threshold")) != NULL) {
		if (!json_is_number(t))
			return -EINVAL;
		*threshold = json_number_value(t);
		if (!(*threshold >= BAL_MIN_THRESHOLD &&
		      *threshold <= BAL_MAX_THRESHOLD))
			return -EINVAL;
	}
	return 0;
}

static void handle_balance(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct balancer *b = m->bal;
	const char *action;
	double threshold;
	json_t *body;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (parse_request(body, &action, &threshold) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "malformed request (action start, stop or "
				 "status; threshold %.1f..%.0f)",
				 BAL_MIN_THRESHOLD, BAL_MAX_THRESHOLD);
		goto out;
	}
	if (strcmp(action, "start") == 0) {
		run_start(b, threshold);
	} else if (strcmp(action, "stop") == 0) {
		pthread_mutex_lock(&b->lock);
		if (b->running)
			b->cancel = true;
		pthread_cond_signal(&b->wake);
		pthread_mutex_unlock(&b->lock);
	}
	http_reply_json(req, 200, status_json(m));
out:
	json_decref(body);
}

const struct http_route balancer_routes[] = {
	{ "POST", EP_BALANCE, handle_balance, BAL_MAX_BODY, 0 },
};
const size_t balancer_nroutes =
	sizeof(balancer_routes) / sizeof(balancer_routes[0]);
