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

/* Most "corrupt" handles one report may carry. */
#define CS_MAX_CORRUPT 100000

/* A chunk stays "busy" this long after its lease expired. */
#define CS_BUSY_GRACE_MS 10000

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
	/* Handles its next report must delete (excess replicas). */
	uint64_t *dels;
	size_t ndels, capdels;
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
	/* time_mono_ms() when the table was created. */
	int64_t start_ms;
	/* Bumped on every liveness change and registration. */
	uint64_t epoch;
	/* Replicas listed in reports, and those of them compared with the
	 * chunk table one by one (not plainly current, see report_diff). */
	uint64_t report_pairs, report_checked;
	bool stopping;
	pthread_t monitor;
};

/* A parsed register or heartbeat request. */
struct cs_report {
	const char *addr;          /* borrowed from the request body */
	const char *rack;          /* idem, "" when absent */
	uint64_t capacity;
	uint64_t used;
	/* Reported [handle, version] pairs, sorted by handle, unique. */
	struct cs_pair {
		uint64_t handle;
		uint64_t version;
	} *pairs;
	size_t npairs;
	/* Handles of replicas set aside as corrupt ("corrupt"). */
	uint64_t *corrupt;
	size_t ncorrupt;
	/* A register (full restart of the server), not a heartbeat. */
	bool reg;
	/* Handles the master asked this server to delete (excess). */
	uint64_t *dels;
	size_t ndels;
};

/* What a report changes and what the server must delete. */
struct cs_diff {
	json_t *del;      /* handles to delete on the server */
	json_t *add;      /* [handle, version] rows to add */
	json_t *remove;   /* handles whose replica row goes */
	json_t *revoke;   /* leased chunks a restarted server lost */
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
	pthread_mutex_init(&cs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cs->wake, &ca);
	pthread_condattr_destroy(&ca);
	load_servers(cs);
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
	for (size_t i = 0; i < cs->nservers; i++)
		free(cs->servers[i].dels);
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
	if ((s = server_find(cs, addr)) != NULL) {
		if (s->ndels == s->capdels) {
			s->capdels = s->capdels ? s->capdels * 2 : 16;
			s->dels = xrealloc(s->dels,
					   s->capdels * sizeof(*s->dels));
		}
		s->dels[s->ndels++] = handle;
	}
	pthread_mutex_unlock(&cs->lock);
}

void chunk_srv_report_stats(struct chunk_srv *cs, uint64_t *pairs,
			    uint64_t *checked)
{
	pthread_mutex_lock(&cs->lock);
	*pairs = cs->report_pairs;
	*checked = cs->report_checked;
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
		v[i].state = s->state;
	}
	pthread_mutex_unlock(&cs->lock);
	if (n > 0)
		qsort(v, n, sizeof(*v), info_cmp);
	*out = v;
	return n;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct cs_pair *x = a, *y = b;

	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Parse "chunks": [[handle, version], ...] into sorted unique pairs. */
static int parse_pairs(const json_t *arr, struct cs_report *rep)
{
	size_t i, n = 0;
	json_t *v, *h, *ver;

	if (!json_is_array(arr))
		return -EINVAL;
	rep->pairs = xcalloc(json_array_size(arr) + 1, sizeof(*rep->pairs));
	json_array_foreach (arr, i, v) {
		h = json_array_get(v, 0);
		ver = json_array_get(v, 1);
		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    !json_is_integer(h) || !json_is_integer(ver) ||
		    json_integer_value(h) <= 0 || json_integer_value(ver) < 0)
			return -EINVAL;
		rep->pairs[i].handle = (uint64_t)json_integer_value(h);
		rep->pairs[i].version = (uint64_t)json_integer_value(ver);
	}
	qsort(rep->pairs, json_array_size(arr), sizeof(*rep->pairs), pair_cmp);
	for (i = 0; i < json_array_size(arr); i++)
		if (n == 0 || rep->pairs[n - 1].handle != rep->pairs[i].handle)
			rep->pairs[n++] = rep->pairs[i];
	rep->npairs = n;
	return 0;
}

/* Parse the optional "corrupt": [handle, ...]. */
static int parse_corrupt(const json_t *arr, struct cs_report *rep)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > CS_MAX_CORRUPT)
		return -EINVAL;
	rep->corrupt = xcalloc(json_array_size(arr) + 1,
			       sizeof(*rep->corrupt));
	json_array_foreach (arr, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return -EINVAL;
		rep->corrupt[rep->ncorrupt++] = (uint64_t)json_integer_value(v);
	}
	qsort(rep->corrupt, rep->ncorrupt, sizeof(*rep->corrupt), u64_cmp);
	return 0;
}

/* Parse a register or heartbeat body. */
static int parse_report(const json_t *body, struct cs_report *rep)
{
	int r;

	rep->rack = "";
	r = proto_get_str(body, "addr", DFS_ADDR_MAX - 1, &rep->addr);
	if (r == 0)
		r = proto_get_u64(body, "capacity", NS_MAX_ID, &rep->capacity);
	if (r == 0)
		r = proto_get_u64(body, "used", NS_MAX_ID, &rep->used);
	if (r == 0 && json_object_get(body, "rack") != NULL)
		r = proto_get_str(body, "rack", CS_RACK_MAX - 1, &rep->rack);
	if (r != 0)
		return r;
	if (!proto_addr_is_valid(rep->addr))
		return -EINVAL;
	if ((r = parse_corrupt(json_object_get(body, "corrupt"), rep)) != 0)
		return r;
	return parse_pairs(json_object_get(body, "chunks"), rep);
}

/* Take the excess replicas scheduled for deletion on the reporting
 * server, sorted, into rep->dels. */
static void take_dels(struct chunk_srv *cs, struct cs_report *rep)
{
	struct cs_server *s;

	pthread_mutex_lock(&cs->lock);
	if ((s = server_find(cs, rep->addr)) != NULL && s->ndels > 0) {
		rep->dels = s->dels;
		rep->ndels = s->ndels;
		s->dels = NULL;
		s->ndels = s->capdels = 0;
	}
	pthread_mutex_unlock(&cs->lock);
	if (rep->ndels > 0)
		qsort(rep->dels, rep->ndels, sizeof(*rep->dels), u64_cmp);
}

/* Is chunk "handle" being written (its replicas may not be reported)? */
static bool chunk_busy(struct master *m, uint64_t handle, int64_t now)
{
	return leases_is_busy(m->leases, handle, now, CS_BUSY_GRACE_MS);
}

/* Replica rows of chunk c on live servers other than "addr". */
static int live_others(struct master *m, const struct dfs_chunk *c,
		       const char *addr)
{
	int i, n = 0;

	for (i = 0; i < c->nreplicas; i++)
		if (strcmp(c->replicas[i], addr) != 0 &&
		    chunk_srv_is_alive(m->cs, c->replicas[i]))
			n++;
	return n;
}

static void diff_push(json_t *arr, uint64_t handle)
{
	json_array_append_new(arr, json_integer((json_int_t)handle));
}

/* The server holds the current version of a chunk. */
static void diff_current(struct master *m, const struct cs_report *rep,
			 const struct cs_pair *p, const struct dfs_chunk *c,
			 bool known, struct cs_diff *d)
{
	if (known)
		return;
	if (replicator_copy_reported(m->repl, p->handle, rep->addr) ||
	    live_others(m, c, rep->addr) == 0) {
		json_array_append_new(d->add,
				      json_pack("[I, I]", (json_int_t)p->handle,
						(json_int_t)p->version));
		return;
	}
	if (chunk_busy(m, p->handle, time_now_ms()))
		return;
	log_info("chunkserver '%s': replica of chunk %016llx v%llu was not "
		 "placed there; deleting it",
		 rep->addr, (unsigned long long)p->handle,
		 (unsigned long long)p->version);
	diff_push(d->del, p->handle);
}

/* True if the master asked for this replica's deletion (excess). */
static bool is_scheduled(const struct cs_report *rep, uint64_t handle)
{
	return rep->ndels > 0 && bsearch(&handle, rep->dels, rep->ndels,
					 sizeof(*rep->dels), u64_cmp) != NULL;
}

/* Compare one reported pair with the database. */
static int diff_pair(struct master *m, struct ns_reader *rd,
		     const struct cs_report *rep, const struct cs_pair *p,
		     bool known, struct cs_diff *d)
{
	struct dfs_chunk c;
	bool busy;
	int r;

	r = ns_chunk_get(rd, p->handle, &c, NULL);
	if (r == -ENOENT || (r == 0 && is_scheduled(rep, p->handle))) {
		diff_push(d->del, p->handle);
		if (known)
			diff_push(d->remove, p->handle);
		return 0;
	}
	if (r != 0)
		return r;
	if (p->version == c.version) {
		diff_current(m, rep, p, &c, known, d);
		return 0;
	}
	busy = chunk_busy(m, p->handle, time_now_ms());
	if (p->version > c.version) {
		if (known && !busy)
			json_array_append_new(d->add,
					      json_pack("[I, I]",
							(json_int_t)p->handle,
							(json_int_t)p->version));
		return 0;
	}
	/*
	 * Older. A server that has a row took the chunk's current version:
	 * while a lease is being granted its report may have been built just
	 * before the new version reached it, so wait. Any other server missed
	 * the version: its replica is stale; delete it, unless it is all
	 * there is left.
	 */
	if (known && busy)
		return 0;
	if (live_others(m, &c, rep->addr) > 0)
		diff_push(d->del, p->handle);
	if (known)
		diff_push(d->remove, p->handle);
	return 0;
}

/* A replica row the server did not report: drop it unless busy (or set
 * aside as corrupt). A restarted server that lost a replica of a leased
 * chunk gets that lease revoked, so that late writes cannot recreate the
 * replica there. */
static void diff_missing(struct master *m, const struct cs_report *rep,
			 uint64_t handle, struct cs_diff *d)
{
	if (!chunk_busy(m, handle, time_now_ms()) ||
	    (rep->ncorrupt > 0 &&
	     bsearch(&handle, rep->corrupt, rep->ncorrupt,
		     sizeof(*rep->corrupt), u64_cmp) != NULL))
		diff_push(d->remove, handle);
	else if (rep->reg)
		diff_push(d->revoke, handle);
}

/* True if a reported pair needs no change: the server has a row for
 * the chunk, at its current version, and no deletion is scheduled (what
 * diff_pair() would conclude, without looking the chunk up). */
static bool pair_unchanged(const struct cs_report *rep,
			   const struct cs_pair *p,
			   const struct ns_replica_row *row)
{
	return row != NULL && row->has_chunk && row->version == p->version &&
	       !is_scheduled(rep, p->handle);
}

/* Merge the sorted report with the sorted replica rows of the server. */
static int diff_merge(struct master *m, struct ns_reader *rd,
		      const struct cs_report *rep,
		      const struct ns_replica_row *known, size_t nknown,
		      struct cs_diff *d, size_t *checked)
{
	const struct ns_replica_row *row;
	size_t i, j = 0;
	int r;

	for (i = 0; i < rep->npairs; i++) {
		while (j < nknown && known[j].handle < rep->pairs[i].handle)
			diff_missing(m, rep, known[j++].handle, d);
		row = j < nknown && known[j].handle == rep->pairs[i].handle
			      ? &known[j++]
			      : NULL;
		if (pair_unchanged(rep, &rep->pairs[i], row))
			continue;
		(*checked)++;
		if ((r = diff_pair(m, rd, rep, &rep->pairs[i], row != NULL,
				   d)) != 0)
			return r;
	}
	while (j < nknown)
		diff_missing(m, rep, known[j++].handle, d);
	return 0;
}

/*
 * Work out what a report changes, on one database snapshot. The replica
 * rows come with their chunks' versions, so a replica the table has at
 * the current version (nearly all of them) costs no lookup: a report
 * lists every replica of the server, every heartbeat.
 */
static int report_diff(struct master *m, const struct cs_report *rep,
		       struct cs_diff *d)
{
	struct ns_replica_row *known = NULL;
	struct ns_reader *rd;
	size_t nknown = 0, checked = 0;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if ((r = ns_read_begin(rd)) != 0)
		goto out;
	if ((r = ns_server_replicas(rd, rep->addr, &known, &nknown)) != 0)
		goto out;
	r = diff_merge(m, rd, rep, known, nknown, d, &checked);
	pthread_mutex_lock(&m->cs->lock);
	m->cs->report_pairs += rep->npairs;
	m->cs->report_checked += checked;
	pthread_mutex_unlock(&m->cs->lock);
out:
	free(known);
	ns_reader_put(rd);
	return r;
}

/* Hand the revocations a report asks for to the replicator. */
static void report_revoke(struct master *m, const struct cs_report *rep,
			  const json_t *revoke)
{
	size_t i;
	json_t *v;

	json_array_foreach (revoke, i, v) {
		log_info("chunkserver '%s' restarted without its replica of "
			 "leased chunk %016llx",
			 rep->addr, (unsigned long long)json_integer_value(v));
		replicator_request_revoke(m->repl,
					  (uint64_t)json_integer_value(v));
	}
}

/* Apply a report: record replica changes, return the delete list
 * (a new reference in *del). */
static int report_apply(struct master *m, struct cs_report *rep,
			json_t **del)
{
	struct cs_diff d = { json_array(), json_array(), json_array(),
			     json_array() };
	json_t *op = NULL;
	int r;

	take_dels(m->cs, rep);
	if ((r = report_diff(m, rep, &d)) != 0)
		goto out;
	if (json_array_size(d.add) > 0 || json_array_size(d.remove) > 0) {
		op = json_pack("{s:s, s:s, s:O, s:O}", "op", "replicas_update",
			       "addr", rep->addr, "add", d.add, "remove",
			       d.remove);
		if ((r = oplog_submit(m->oplog, op, NULL)) != 0)
			goto out;
		log_debug("chunkserver '%s': %zu replicas added, %zu removed",
			  rep->addr, json_array_size(d.add),
			  json_array_size(d.remove));
	}
	report_revoke(m, rep, d.revoke);
	if (json_array_size(d.del) > 0)
		log_info("chunkserver '%s': %zu chunks to delete", rep->addr,
			 json_array_size(d.del));
	*del = d.del;
	d.del = NULL;
	r = 0;
out:
	json_decref(op);
	json_decref(d.del);
	json_decref(d.add);
	json_decref(d.remove);
	json_decref(d.revoke);
	return r;
}

/* The reply fields of a report: "delete" and "drop_corrupt" ("reply" is
 * stolen-into). */
static int report_reply(struct master *m, struct cs_report *rep,
			json_t *reply)
{
	json_t *del = NULL;
	int r;

	if ((r = report_apply(m, rep, &del)) != 0)
		return r;
	json_object_set_new(reply, "delete", del);
	json_object_set_new(reply, "drop_corrupt",
			    replicator_note_corrupt(m->repl, rep->addr,
						    rep->corrupt,
						    rep->ncorrupt));
	return 0;
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
	s->reported = rep->npairs;
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

/* Record a heartbeat; false if the server must register first. */
static bool server_heartbeat(struct chunk_srv *cs, const struct cs_report *rep)
{
	struct cs_server *s;
	bool revived = false;

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
	s->reported = rep->npairs;
	s->pending = 0;
	s->last_seen_ms = time_mono_ms();
	s->alive = true;
	pthread_mutex_unlock(&cs->lock);
	if (revived)
		log_info("chunkserver '%s' is alive", rep->addr);
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

static void report_free(struct cs_report *rep)
{
	free(rep->pairs);
	free(rep->corrupt);
	free(rep->dels);
}

static void handle_register(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct cs_report rep = { .reg = true };
	json_t *body, *op = NULL, *reply = NULL;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = parse_report(body, &rep)) != 0)
		goto out;
	op = json_pack("{s:s, s:s, s:s}", "op", "server_register", "addr",
		       rep.addr, "rack", rep.rack);
	if ((r = oplog_submit(m->oplog, op, NULL)) != 0)
		goto out;
	server_registered(m->cs, &rep);
	reply = json_pack("{s:I, s:I}", "heartbeat_ms",
			  (json_int_t)m->cs->heartbeat_ms, "chunk_size",
			  (json_int_t)ns_chunk_size(m->ns));
	if ((r = report_reply(m, &rep, reply)) != 0)
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
	report_free(&rep);
}

static void handle_heartbeat(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct cs_report rep = { 0 };
	json_t *body, *reply = NULL;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = parse_report(body, &rep)) != 0)
		goto out;
	if (!server_heartbeat(m->cs, &rep)) {
		log_info("asking unknown chunkserver '%s' to register",
			 rep.addr);
		http_reply_json(req, 200,
				json_pack("{s:[], s:b}", "delete",
					  "reregister", 1));
		goto out;
	}
	reply = json_pack("{s:b}", "reregister", 0);
	if ((r = report_reply(m, &rep, reply)) != 0)
		goto out;
	http_reply_json(req, 200, reply);
	reply = NULL;
	r = 0;
out:
	if (r != 0)
		reply_failure(req, rep.addr, r);
	json_decref(reply);
	json_decref(body);
	report_free(&rep);
}

const struct http_route chunk_srv_routes[] = {
	{ "POST", EP_CS_REGISTER, handle_register, DFS_MAX_JSON_BODY },
	{ "POST", EP_CS_HEARTBEAT, handle_heartbeat, DFS_MAX_JSON_BODY },
};
const size_t chunk_srv_nroutes =
	sizeof(chunk_srv_routes) / sizeof(chunk_srv_routes[0]);
