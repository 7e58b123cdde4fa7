/*
 * chunk_srv.c - chunk server registration, heartbeats, chunk reports,
 * liveness and placement (see chunk_srv.h).
 *
 * THREAD SAFETY: "lock" guards servers[], nservers and stopping; the
 * monitor thread sleeps on "wake". Report processing runs without the
 * lock (it reads the database and submits ops).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_report.h"
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

/* How often the monitor checks liveness. */
#define CS_MONITOR_MS 500

/* Free space a server keeps beyond whole chunks (metadata files). */
#define CS_FREE_RESERVE (1024 * 1024)

/* Least space counted for a chunk placed since the server's last report. */
#define CS_PENDING_MIN (1024 * 1024)

/* Most deletions kept for one server between its reports; past that
 * the server is asked for a full report, which finds the rest. */
#define CS_MAX_DELS (1u << 20)

/* One known server. */
struct cs_server {
	char addr[DFS_ADDR_MAX];
	char rack[CS_RACK_MAX];
	/* Bytes of capacity and use, as last reported. */
	uint64_t capacity;
	uint64_t used;
	/* Chunks in the last report. */
	uint64_t reported;
	/* Chunks placed on it since its last heartbeat. */
	uint64_t pending;
	/* Handles its next report must delete (excess replicas, chunks no
	 * file has any more). */
	uint64_t *dels;
	size_t ndels, capdels;
	/* Deletions were dropped (CS_MAX_DELS): ask for a full report. */
	bool dels_lost;
	/* Replica rows its reports have not confirmed (chunk_srv.h). */
	struct cs_unconfirmed *unconf;
	size_t nunconf, capunconf;
	/* time_mono_ms() of the last register or heartbeat. */
	int64_t last_seen_ms;
	/* Registered since this master started. */
	bool registered;
	/* Heartbeats arrive within the timeout. */
	bool alive;
	/* Administrative state (decommission.h). */
	enum chunk_srv_state state;
};

struct chunk_srv {
	/* The master (borrowed): ns, oplog, leases, cfg. */
	struct master *m;
	pthread_mutex_t lock;
	/* Wakes the monitor early when stopping. */
	pthread_cond_t wake;
	/* Known servers, unsorted. */
	struct cs_server *servers;
	size_t nservers, cap;
	/* Liveness timeout and the heartbeat interval derived from it. */
	int64_t timeout_ms;
	int64_t heartbeat_ms;
	/* Interval between full reports the servers are told (0: all). */
	int64_t full_report_ms;
	/* time_mono_ms() when the table was created. */
	int64_t start_ms;
	/* Bumped on every liveness change and registration. */
	uint64_t epoch;
	/* Report counters (chunk_srv_report_stats()). */
	struct chunk_srv_report_stats reports;
	bool stopping;
	pthread_t monitor;
};


/* Server "addr" (locked), or NULL. */
static struct cs_server *server_find(struct chunk_srv *cs, const char *addr)
{
	size_t i;

	for (i = 0; i < cs->nservers; i++)
		if (strcmp(cs->servers[i].addr, addr) == 0)
			return &cs->servers[i];
	return NULL;
}

/* Server "addr", added if unknown (locked). */
static struct cs_server *server_get(struct chunk_srv *cs, const char *addr)
{
	struct cs_server *s;

	if ((s = server_find(cs, addr)) != NULL)
		return s;
	if (cs->nservers == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 16;
		cs->servers = xrealloc(cs->servers,
				       cs->cap * sizeof(*cs->servers));
	}
	s = &cs->servers[cs->nservers++];
	memset(s, 0, sizeof(*s));
	memcpy(s->addr, addr, strlen(addr) + 1);
	return s;
}

/* Mark servers without a recent heartbeat dead (locked). */
static void check_liveness(struct chunk_srv *cs, int64_t now)
{
	struct cs_server *s;
	size_t i;

	for (i = 0; i < cs->nservers; i++) {
		s = &cs->servers[i];
		if (!s->alive || now - s->last_seen_ms <= cs->timeout_ms)
			continue;
		s->alive = false;
		cs->epoch++;
		log_warnx("chunkserver '%s' is dead (no heartbeat for %" PRId64
			  " ms)",
			  s->addr, now - s->last_seen_ms);
	}
}

static void *monitor_main(void *arg)
{
	struct chunk_srv *cs = arg;
	struct timespec ts;

	pthread_mutex_lock(&cs->lock);
	while (!cs->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += CS_MONITOR_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&cs->wake, &cs->lock, &ts);
		check_liveness(cs, time_mono_ms());
	}
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

/* ns_servers() callback: a server known from the database. */
static int load_server(const char *addr, const char *rack,
		       uint64_t nreplicas, void *arg)
{
	struct chunk_srv *cs = arg;
	struct cs_server *s;

	if (strlen(addr) >= DFS_ADDR_MAX || strlen(rack) >= CS_RACK_MAX)
		return 0;
	s = server_get(cs, addr);
	memcpy(s->rack, rack, strlen(rack) + 1);
	s->reported = nreplicas;
	return 0;
}

static void load_servers(struct chunk_srv *cs)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(cs->m->ns)) == NULL)
		return;
	if ((r = ns_servers(rd, load_server, cs)) != 0)
		log_warnx("cannot load the chunk server list: %s",
			  strerror(-r));
	ns_reader_put(rd);
	if (cs->nservers > 0)
		log_info("%zu chunkservers known from the database, waiting "
			 "for them to register",
			 cs->nservers);
}

static void unconfirmed_add(struct cs_server *s,
			    const struct cs_unconfirmed *v, size_t n);

/* ns_unconfirmed_rows() callback (cs->lock held). */
static void restore_row(uint64_t handle, const char *addr, void *arg)
{
	struct chunk_srv *cs = arg;
	/* A writer may still hold a lease the master granted before it
	 * restarted: the row waits as if placed a lease from now. */
	struct cs_unconfirmed u = { handle,
				    time_mono_ms() + LEASES_DEFAULT_MS };
	struct cs_server *s;

	if ((s = server_find(cs, addr)) != NULL)
		unconfirmed_add(s, &u, 1);
}

/* Watch again the rows of the chunks the database still has as
 * unconfirmed (namespace.h): the watch of a master that stopped. */
static void restore_unconfirmed(struct chunk_srv *cs)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(cs->m->ns)) == NULL)
		return;
	pthread_mutex_lock(&cs->lock);
	if ((r = ns_unconfirmed_rows(rd, restore_row, cs)) != 0)
		log_warnx("cannot load the unconfirmed chunks: %s",
			  strerror(-r));
	pthread_mutex_unlock(&cs->lock);
	ns_reader_put(rd);
}

struct chunk_srv *chunk_srv_new(struct master *m)
{
	struct chunk_srv *cs;
	pthread_condattr_t ca;
	int r;

	cs = xcalloc(1, sizeof(*cs));
	cs->m = m;
	cs->start_ms = time_mono_ms();
	cs->timeout_ms = m->cfg.heartbeat_timeout_ms;
	cs->heartbeat_ms = cs->timeout_ms / 3 < 3000 ? cs->timeout_ms / 3
						     : 3000;
	if (cs->heartbeat_ms < 1)
		cs->heartbeat_ms = 1;
	cs->full_report_ms = m->cfg.full_report_ms;
	pthread_mutex_init(&cs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cs->wake, &ca);
	pthread_condattr_destroy(&ca);
	load_servers(cs);
	restore_unconfirmed(cs);
	if ((r = pthread_create(&cs->monitor, NULL, monitor_main, cs)) != 0) {
		errno = r;
		fatal("cannot start the chunkserver monitor thread");
	}
	return cs;
}

void chunk_srv_free(struct chunk_srv *cs)
{
	if (cs == NULL)
		return;
	pthread_mutex_lock(&cs->lock);
	cs->stopping = true;
	pthread_cond_signal(&cs->wake);
	pthread_mutex_unlock(&cs->lock);
	pthread_join(cs->monitor, NULL);
	pthread_cond_destroy(&cs->wake);
	pthread_mutex_destroy(&cs->lock);
	for (size_t i = 0; i < cs->nservers; i++) {
		free(cs->servers[i].dels);
		free(cs->servers[i].unconf);
	}
	free(cs->servers);
	free(cs);
}

int64_t chunk_srv_heartbeat_ms(const struct chunk_srv *cs)
{
	return cs->heartbeat_ms;
}

/*
 * Space the chunks placed on "s" since its last report are counted for.
 * Each could grow to a whole chunk, but counting it so would refuse a
 * server with room for a hundred thousand small files once it took a
 * thousand of them between two heartbeats (free space / chunk_size): new
 * files stalled on ENOSPC and got fewer replicas than asked. So each
 * counts as much as the server's chunks hold on average, at least
 * CS_PENDING_MIN and at most a chunk; its next report corrects the guess.
 */
static uint64_t pending_bytes(const struct cs_server *s, uint64_t chunk_size)
{
	uint64_t each = CS_PENDING_MIN;

	if (s->reported > 0 && s->used / s->reported > each)
		each = s->used / s->reported;
	if (each > chunk_size)
		each = chunk_size;
	return s->pending * each;
}

/* Placement order: least loaded (bytes used plus the chunks placed since
 * the last heartbeat), then fewest pending, then address. */
static int pick_cmp(const void *a, const void *b, void *arg)
{
	const struct cs_server *x = *(struct cs_server *const *)a;
	const struct cs_server *y = *(struct cs_server *const *)b;
	uint64_t chunk_size = *(const uint64_t *)arg;
	uint64_t lx = x->used + pending_bytes(x, chunk_size);
	uint64_t ly = y->used + pending_bytes(y, chunk_size);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	if (x->pending != y->pending)
		return x->pending < y->pending ? -1 : 1;
	return strcmp(x->addr, y->addr);
}

/* Can server "s" take a new chunk: alive, with a whole chunk of free
 * space left (and CS_FREE_RESERVE for metadata files) beyond the chunks
 * placed since its last report? */
static bool can_take(const struct cs_server *s, uint64_t chunk_size)
{
	uint64_t want = pending_bytes(s, chunk_size) + chunk_size +
			CS_FREE_RESERVE;

	if (!s->registered || !s->alive || s->state != CS_STATE_NORMAL)
		return false;
	return s->capacity == 0 ||
	       (s->capacity > s->used && s->capacity - s->used >= want);
}

/* True if a chosen server already uses rack "rack". */
static bool rack_taken(struct cs_server **chosen, int n, const char *rack)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(chosen[i]->rack, rack) == 0)
			return true;
	return false;
}

/* Choose from sorted candidates: distinct racks first, then any. */
static int choose(struct cs_server **cand, size_t ncand, unsigned want,
		  struct cs_server **chosen)
{
	int n = 0, pass;
	size_t i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < ncand && (unsigned)n < want; i++) {
			if (cand[i] == NULL)
				continue;
			if (pass == 0 && cand[i]->rack[0] != '\0' &&
			    rack_taken(chosen, n, cand[i]->rack))
				continue;
			chosen[n++] = cand[i];
			cand[i] = NULL;
		}
	}
	return n;
}

int chunk_srv_pick(struct chunk_srv *cs, unsigned want, uint64_t chunk_size,
		   char (*out)[DFS_ADDR_MAX])
{
	struct cs_server **cand, *chosen[DFS_MAX_REPLICAS];
	size_t i, ncand = 0;
	int n;

	if (want > DFS_MAX_REPLICAS)
		want = DFS_MAX_REPLICAS;
	pthread_mutex_lock(&cs->lock);
	cand = xcalloc(cs->nservers + 1, sizeof(*cand));
	for (i = 0; i < cs->nservers; i++)
		if (can_take(&cs->servers[i], chunk_size))
			cand[ncand++] = &cs->servers[i];
	qsort_r(cand, ncand, sizeof(*cand), pick_cmp, &chunk_size);
	n = choose(cand, ncand, want, chosen);
	for (i = 0; i < (size_t)n; i++) {
		chosen[i]->pending++;
		memcpy(out[i], chosen[i]->addr, DFS_ADDR_MAX);
	}
	pthread_mutex_unlock(&cs->lock);
	free(cand);
	return n;
}

/* True if addr is among list[0..n-1]. */
static bool addr_in(const char (*list)[DFS_ADDR_MAX], int n, const char *addr)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], addr) == 0)
			return true;
	return false;
}

/* True if some server of list[0..n-1] sits on rack "rack" (locked). */
static bool rack_used(struct chunk_srv *cs, const char (*list)[DFS_ADDR_MAX],
		      int n, const char *rack)
{
	struct cs_server *s;
	int i;

	for (i = 0; i < n; i++)
		if ((s = server_find(cs, list[i])) != NULL &&
		    strcmp(s->rack, rack) == 0)
			return true;
	return false;
}

int chunk_srv_pick_target(struct chunk_srv *cs, uint64_t chunk_size,
			  const char (*holders)[DFS_ADDR_MAX], int nholders,
			  chunk_srv_skip_fn skip, void *arg,
			  char out[DFS_ADDR_MAX])
{
	struct cs_server **cand, *best = NULL;
	size_t i, ncand = 0;
	int pass;

	pthread_mutex_lock(&cs->lock);
	cand = xcalloc(cs->nservers + 1, sizeof(*cand));
	for (i = 0; i < cs->nservers; i++) {
		struct cs_server *s = &cs->servers[i];

		if (can_take(s, chunk_size) &&
		    !addr_in(holders, nholders, s->addr) &&
		    (skip == NULL || !skip(s->addr, arg)))
			cand[ncand++] = s;
	}
	qsort_r(cand, ncand, sizeof(*cand), pick_cmp, &chunk_size);
	for (pass = 0; pass < 2 && best == NULL; pass++)
		for (i = 0; i < ncand && best == NULL; i++)
			if (pass == 1 || cand[i]->rack[0] == '\0' ||
			    !rack_used(cs, holders, nholders, cand[i]->rack))
				best = cand[i];
	if (best != NULL) {
		best->pending++;
		memcpy(out, best->addr, DFS_ADDR_MAX);
	}
	pthread_mutex_unlock(&cs->lock);
	free(cand);
	return best != NULL ? 0 : -ENOSPC;
}

void chunk_srv_schedule_delete(struct chunk_srv *cs, const char *addr,
			       uint64_t handle)
{
	struct cs_server *s;

	pthread_mutex_lock(&cs->lock);
	if ((s = server_find(cs, addr)) != NULL && s->ndels >= CS_MAX_DELS) {
		s->dels_lost = true;
	} else if (s != NULL) {
		s->dels = xgrow(s->dels, &s->capdels, s->ndels + 1,
				sizeof(*s->dels));
		s->dels[s->ndels++] = handle;
	}
	pthread_mutex_unlock(&cs->lock);
}

/* Append "n" entries to server s's unconfirmed rows, within
 * CS_MAX_DELS (locked). */
static void unconfirmed_add(struct cs_server *s,
			    const struct cs_unconfirmed *v, size_t n)
{
	if (n > CS_MAX_DELS - s->nunconf)
		n = CS_MAX_DELS - s->nunconf;
	if (n == 0)
		return;
	s->unconf = xgrow(s->unconf, &s->capunconf, s->nunconf + n,
			  sizeof(*s->unconf));
	memcpy(s->unconf + s->nunconf, v, n * sizeof(*v));
	s->nunconf += n;
}

void chunk_srv_note_placed(struct chunk_srv *cs,
			   const char (*addrs)[DFS_ADDR_MAX], int n,
			   uint64_t handle)
{
	struct cs_unconfirmed u = { handle, time_mono_ms() };
	struct cs_server *s;

	pthread_mutex_lock(&cs->lock);
	for (int i = 0; i < n; i++)
		if ((s = server_find(cs, addrs[i])) != NULL)
			unconfirmed_add(s, &u, 1);
	pthread_mutex_unlock(&cs->lock);
}

size_t chunk_srv_take_unconfirmed(struct chunk_srv *cs, const char *addr,
				  struct cs_unconfirmed **out)
{
	struct cs_server *s;
	size_t n = 0;

	*out = NULL;
	pthread_mutex_lock(&cs->lock);
	if ((s = server_find(cs, addr)) != NULL) {
		*out = s->unconf;
		n = s->nunconf;
		s->unconf = NULL;
		s->nunconf = s->capunconf = 0;
	}
	pthread_mutex_unlock(&cs->lock);
	return n;
}

void chunk_srv_keep_unconfirmed(struct chunk_srv *cs, const char *addr,
				const struct cs_unconfirmed *v, size_t n)
{
	struct cs_server *s;

	pthread_mutex_lock(&cs->lock);
	if ((s = server_find(cs, addr)) != NULL)
		unconfirmed_add(s, v, n);
	pthread_mutex_unlock(&cs->lock);
}

size_t chunk_srv_take_deletions(struct chunk_srv *cs, const char *addr,
				uint64_t **out, bool *lost)
{
	struct cs_server *s;
	size_t n = 0;

	*out = NULL;
	*lost = false;
	pthread_mutex_lock(&cs->lock);
	if ((s = server_find(cs, addr)) != NULL) {
		*out = s->dels;
		n = s->ndels;
		*lost = s->dels_lost;
		s->dels = NULL;
		s->ndels = s->capdels = 0;
		s->dels_lost = false;
	}
	pthread_mutex_unlock(&cs->lock);
	return n;
}

void chunk_srv_count_report(struct chunk_srv *cs, bool full, uint64_t pairs,
			    uint64_t checked)
{
	pthread_mutex_lock(&cs->lock);
	cs->reports.full += full;
	cs->reports.pairs += pairs;
	cs->reports.checked += checked;
	pthread_mutex_unlock(&cs->lock);
}

void chunk_srv_report_stats(struct chunk_srv *cs,
			    struct chunk_srv_report_stats *out)
{
	pthread_mutex_lock(&cs->lock);
	*out = cs->reports;
	pthread_mutex_unlock(&cs->lock);
}

uint64_t chunk_srv_epoch(struct chunk_srv *cs)
{
	uint64_t e;

	pthread_mutex_lock(&cs->lock);
	e = cs->epoch;
	pthread_mutex_unlock(&cs->lock);
	return e;
}

bool chunk_srv_settling(struct chunk_srv *cs)
{
	bool settling = false;
	size_t i;

	if (time_mono_ms() - cs->start_ms >= cs->timeout_ms)
		return false;
	pthread_mutex_lock(&cs->lock);
	for (i = 0; i < cs->nservers && !settling; i++)
		settling = !cs->servers[i].registered;
	pthread_mutex_unlock(&cs->lock);
	return settling;
}

bool chunk_srv_is_alive(struct chunk_srv *cs, const char *addr)
{
	struct cs_server *s;
	bool alive;

	pthread_mutex_lock(&cs->lock);
	s = server_find(cs, addr);
	alive = s != NULL && s->registered && s->alive;
	pthread_mutex_unlock(&cs->lock);
	return alive;
}

void chunk_srv_set_state(struct chunk_srv *cs, const char *addr,
			 enum chunk_srv_state state)
{
	struct cs_server *s;

	pthread_mutex_lock(&cs->lock);
	s = server_get(cs, addr);
	if (s->state != state) {
		s->state = state;
		cs->epoch++;
	}
	pthread_mutex_unlock(&cs->lock);
}

enum chunk_srv_state chunk_srv_state_of(struct chunk_srv *cs,
					const char *addr)
{
	enum chunk_srv_state state = CS_STATE_NORMAL;
	struct cs_server *s;

	pthread_mutex_lock(&cs->lock);
	if ((s = server_find(cs, addr)) != NULL)
		state = s->state;
	pthread_mutex_unlock(&cs->lock);
	return state;
}

bool chunk_srv_in_service(struct chunk_srv *cs, const char *addr)
{
	struct cs_server *s;
	bool ok;

	pthread_mutex_lock(&cs->lock);
	s = server_find(cs, addr);
	ok = s != NULL && s->registered && s->alive &&
	     s->state == CS_STATE_NORMAL;
	pthread_mutex_unlock(&cs->lock);
	return ok;
}

const char *chunk_srv_state_name(enum chunk_srv_state state)
{
	switch (state) {
	case CS_STATE_DRAINING:
		return "draining";
	case CS_STATE_DECOMMISSIONED:
		return "decommissioned";
	default:
		return "normal";
	}
}

static int info_cmp(const void *a, const void *b)
{
	const struct chunk_srv_info *x = a, *y = b;

	return strcmp(x->addr, y->addr);
}

size_t chunk_srv_list(struct chunk_srv *cs, struct chunk_srv_info **out)
{
	struct chunk_srv_info *v = NULL;
	struct cs_server *s;
	size_t i, n;

	pthread_mutex_lock(&cs->lock);
	n = cs->nservers;
	if (n > 0)
		v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		s = &cs->servers[i];
		memcpy(v[i].addr, s->addr, sizeof(v[i].addr));
		memcpy(v[i].rack, s->rack, sizeof(v[i].rack));
		v[i].alive = s->registered && s->alive;
		v[i].capacity = s->capacity;
		v[i].used = s->used;
		v[i].reported = s->reported;
		v[i].deletes = s->ndels;
		v[i].state = s->state;
	}
	pthread_mutex_unlock(&cs->lock);
	if (n > 0)
		qsort(v, n, sizeof(*v), info_cmp);
	*out = v;
	return n;
}

/* Record a register in the table; logs arrivals and returns. */
static void server_registered(struct chunk_srv *cs,
			      const struct cs_report *rep)
{
	struct cs_server *s;
	bool was_alive;

	pthread_mutex_lock(&cs->lock);
	s = server_get(cs, rep->addr);
	was_alive = s->registered && s->alive;
	memcpy(s->rack, rep->rack, strlen(rep->rack) + 1);
	s->capacity = rep->capacity;
	s->used = rep->used;
	s->reported = rep->nchunks != UINT64_MAX ? rep->nchunks : rep->npairs;
	s->pending = 0;
	s->last_seen_ms = time_mono_ms();
	s->registered = true;
	s->alive = true;
	cs->epoch++;
	pthread_mutex_unlock(&cs->lock);
	log_info("chunkserver '%s' registered (rack '%s', %zu chunks, %" PRIu64
		 " of %" PRIu64 " bytes used)%s",
		 rep->addr, rep->rack, rep->npairs, rep->used, rep->capacity,
		 was_alive ? " again" : "");
}

/* Record a heartbeat; false if the server must register first. *revived
 * is set when the server had been taken for dead. */
static bool server_heartbeat(struct chunk_srv *cs, const struct cs_report *rep,
			     bool *revived_out)
{
	struct cs_server *s;
	bool revived = false;

	*revived_out = false;
	pthread_mutex_lock(&cs->lock);
	s = server_find(cs, rep->addr);
	if (s == NULL || !s->registered) {
		pthread_mutex_unlock(&cs->lock);
		return false;
	}
	revived = !s->alive;
	if (revived)
		cs->epoch++;
	s->capacity = rep->capacity;
	s->used = rep->used;
	if (rep->nchunks != UINT64_MAX || !rep->delta)
		s->reported = rep->nchunks != UINT64_MAX ? rep->nchunks
							 : rep->npairs;
	s->pending = 0;
	s->last_seen_ms = time_mono_ms();
	s->alive = true;
	pthread_mutex_unlock(&cs->lock);
	if (revived)
		log_info("chunkserver '%s' is alive", rep->addr);
	*revived_out = revived;
	return true;
}

/* Answer a failed register/heartbeat. */
static void reply_failure(struct http_request *req, const char *addr, int r)
{
	if (r == -EINVAL) {
		http_reply_error(req, DFS_ERR_INVAL, "malformed chunk report");
		return;
	}
	log_warnx("cannot process the report of chunkserver '%s': %s",
		  addr ? addr : "?", strerror(-r));
	http_reply_error(req, wire_status_from_errno(r), "%s", strerror(-r));
}

static void handle_register(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct cs_report rep = { .reg = true };
	json_t *body, *op = NULL, *reply = NULL;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = chunk_report_parse(body, &rep)) != 0)
		goto out;
	op = json_pack("{s:s, s:s, s:s}", "op", "server_register", "addr",
		       rep.addr, "rack", rep.rack);
	if ((r = oplog_submit(m->oplog, op, NULL)) != 0)
		goto out;
	server_registered(m->cs, &rep);
	reply = json_pack("{s:I, s:I, s:I}", "heartbeat_ms",
			  (json_int_t)m->cs->heartbeat_ms, "full_report_ms",
			  (json_int_t)m->cs->full_report_ms, "chunk_size",
			  (json_int_t)ns_chunk_size(m->ns));
	if ((r = chunk_report_reply(m, &rep, reply)) != 0)
		goto out;
	http_reply_json(req, 200, reply);
	reply = NULL;
	r = 0;
out:
	if (r != 0)
		reply_failure(req, rep.addr, r);
	json_decref(reply);
	json_decref(op);
	json_decref(body);
	chunk_report_free(&rep);
}

static void handle_heartbeat(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct cs_report rep = { 0 };
	json_t *body, *reply = NULL;
	bool revived;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = chunk_report_parse(body, &rep)) != 0)
		goto out;
	if (!server_heartbeat(m->cs, &rep, &revived)) {
		log_info("asking unknown chunkserver '%s' to register",
			 rep.addr);
		http_reply_json(req, 200,
				json_pack("{s:[], s:b}", "delete",
					  "reregister", 1));
		goto out;
	}
	reply = json_pack("{s:b}", "reregister", 0);
	if ((r = chunk_report_reply(m, &rep, reply)) != 0)
		goto out;
	/* What changed while it was cut off, the master may have acted on
	 * (new versions without it, replicas elsewhere): look at all. */
	if (revived && rep.delta)
		json_object_set_new(reply, "full_report", json_true());
	http_reply_json(req, 200, reply);
	reply = NULL;
	r = 0;
out:
	if (r != 0)
		reply_failure(req, rep.addr, r);
	json_decref(reply);
	json_decref(body);
	chunk_report_free(&rep);
}

const struct http_route chunk_srv_routes[] = {
	{ "POST", EP_CS_REGISTER, handle_register, DFS_MAX_JSON_BODY, 0 },
	{ "POST", EP_CS_HEARTBEAT, handle_heartbeat, DFS_MAX_JSON_BODY, 0 },
};
const size_t chunk_srv_nroutes =
	sizeof(chunk_srv_routes) / sizeof(chunk_srv_routes[0]);
