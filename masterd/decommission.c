/*
 * decommission.c - draining chunk servers (see decommission.h).
 *
 * THREAD SAFETY: "lock" guards "stopping"; "wake" wakes the checker.
 * States live in the chunk server table (chunk_srv_set_state()); state
 * changes are serialised by "change_lock" so that a completion and a
 * cancel cannot interleave their database op and table update.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk_srv.h"
#include "decommission.h"
#include "http_server.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "ns_server_state.h"
#include "oplog.h"
#include "proto.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* How often the checker looks at the draining servers. */
#define DECOM_CHECK_MS 1000

/* Largest EP_DECOMMISSION body. */
#define DECOM_MAX_BODY 4096

struct decommission {
	struct master *m;          /* borrowed */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	/* Serialises state changes (op, then table). */
	pthread_mutex_t change_lock;
};

/* Progress of one server out of normal service. */
struct decom_row {
	struct chunk_srv_info info;
	uint64_t chunks;       /* chunks with a replica row on it */
	uint64_t remaining;    /* of those, short of their factor elsewhere */
};

/* A progress scan over a chunk server snapshot. */
struct decom_scan {
	struct chunk_srv_info *servers;   /* sorted by address */
	size_t nservers;
	struct decom_row *rows;           /* the servers asked about */
	size_t nrows;
};

static const struct chunk_srv_info *scan_find(const struct decom_scan *sc,
					      const char *addr)
{
	size_t i;

	for (i = 0; i < sc->nservers; i++)
		if (strcmp(sc->servers[i].addr, addr) == 0)
			return &sc->servers[i];
	return NULL;
}

static int scan_chunk(uint64_t handle, uint32_t replication,
		      const char *const *addrs, int naddrs, void *arg)
{
	struct decom_scan *sc = arg;
	const struct chunk_srv_info *s;
	uint32_t good = 0;
	size_t j;
	int i;

	(void)handle;
	for (i = 0; i < naddrs; i++)
		if ((s = scan_find(sc, addrs[i])) != NULL && s->alive &&
		    s->state == CS_STATE_NORMAL)
			good++;
	for (i = 0; i < naddrs; i++)
		for (j = 0; j < sc->nrows; j++)
			if (strcmp(sc->rows[j].info.addr, addrs[i]) == 0) {
				sc->rows[j].chunks++;
				sc->rows[j].remaining += good < replication;
			}
	return 0;
}

/*
 * Progress of the servers out of normal service ("addr" NULL), or of
 * server "addr" only. *rows is a new array (caller frees). 0, -ENOENT
 * (unknown "addr") or -EIO.
 */
static int decom_progress(struct master *m, const char *addr,
			  struct decom_row **rows, size_t *nrows)
{
	struct decom_scan sc = { 0 };
	struct ns_reader *rd;
	size_t i;
	int r = 0;

	sc.nservers = chunk_srv_list(m->cs, &sc.servers);
	sc.rows = xcalloc(sc.nservers + 1, sizeof(*sc.rows));
	for (i = 0; i < sc.nservers; i++)
		if (addr != NULL ? strcmp(sc.servers[i].addr, addr) == 0
				 : sc.servers[i].state != CS_STATE_NORMAL)
			sc.rows[sc.nrows++].info = sc.servers[i];
	if (addr != NULL && sc.nrows == 0) {
		r = -ENOENT;
		goto out;
	}
	if (sc.nrows > 0) {
		if ((rd = ns_reader_get(m->ns)) == NULL) {
			r = -EIO;
			goto out;
		}
		r = ns_foreach_chunk(rd, scan_chunk, &sc);
		ns_reader_put(rd);
	}
out:
	free(sc.servers);
	if (r != 0) {
		free(sc.rows);
		sc.rows = NULL;
		sc.nrows = 0;
	}
	*rows = sc.rows;
	*nrows = sc.nrows;
	return r;
}

/* Record state "state" of "addr" in the database, then in the table. */
static int set_state(struct decommission *d, const char *addr,
		     enum chunk_srv_state state)
{
	struct master *m = d->m;
	json_t *op;
	int r;

	op = json_pack("{s:s, s:s, s:s}", "op", "server_state", "addr", addr,
		       "state", chunk_srv_state_name(state));
	if ((r = oplog_submit(m->oplog, op, NULL)) == 0)
		chunk_srv_set_state(m->cs, addr, state);
	json_decref(op);
	return r;
}

/* Mark the drained servers decommissioned. */
static void check(struct decommission *d)
{
	struct decom_row *rows = NULL;
	size_t i, n = 0;
	int r;

	if (chunk_srv_settling(d->m->cs) ||
	    decom_progress(d->m, NULL, &rows, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		if (rows[i].info.state != CS_STATE_DRAINING ||
		    rows[i].remaining > 0)
			continue;
		pthread_mutex_lock(&d->change_lock);
		r = 0;
		if (chunk_srv_state_of(d->m->cs, rows[i].info.addr) ==
		    CS_STATE_DRAINING)
			r = set_state(d, rows[i].info.addr,
				      CS_STATE_DECOMMISSIONED);
		pthread_mutex_unlock(&d->change_lock);
		if (r != 0)
			log_warnx("cannot record chunkserver '%s' as "
				  "decommissioned: %s",
				  rows[i].info.addr, strerror(-r));
		else
			log_info("chunkserver '%s' is decommissioned: its %" PRIu64
				 " chunks are fully replicated elsewhere; safe "
				 "to remove",
				 rows[i].info.addr, rows[i].chunks);
	}
	free(rows);
}

static void *decom_main(void *arg)
{
	struct decommission *d = arg;
	struct timespec ts;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		pthread_mutex_unlock(&d->lock);
		check(d);
		pthread_mutex_lock(&d->lock);
		if (d->stopping)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += DECOM_CHECK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ns_server_states() callback: apply one recorded state. */
static int load_state(const char *addr, const char *state, void *arg)
{
	struct master *m = arg;
	enum chunk_srv_state st = CS_STATE_NORMAL;

	if (strcmp(state, "draining") == 0)
		st = CS_STATE_DRAINING;
	else if (strcmp(state, "decommissioned") == 0)
		st = CS_STATE_DECOMMISSIONED;
	if (st == CS_STATE_NORMAL || strlen(addr) >= DFS_ADDR_MAX)
		return 0;
	chunk_srv_set_state(m->cs, addr, st);
	log_info("chunkserver '%s' is %s (recorded)", addr, state);
	return 0;
}

int decommission_start(struct master *m)
{
	struct decommission *d = xcalloc(1, sizeof(*d));
	pthread_condattr_t ca;
	struct ns_reader *rd;
	int r;

	d->m = m;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->change_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rd = ns_reader_get(m->ns)) != NULL) {
		if ((r = ns_server_states(rd, load_state, m)) != 0)
			log_warnx("cannot load the chunk server states: %s",
				  strerror(-r));
		ns_reader_put(rd);
	}
	if ((r = pthread_create(&d->thread, NULL, decom_main, d)) != 0) {
		errno = r;
		fatal("cannot start the decommission thread");
	}
	m->decom = d;
	return 0;
}

void decommission_stop(struct master *m)
{
	struct decommission *d = m->decom;

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->change_lock);
	free(d);
	m->decom = NULL;
}

/*
 * ---------------------------------------------------------------------
 * EP_DECOMMISSION
 * ---------------------------------------------------------------------
 */

/* Apply "action" to "addr": the state it asks for, or -EINVAL. */
static int action_state(const char *action, enum chunk_srv_state *st)
{
	if (strcmp(action, "start") == 0)
		*st = CS_STATE_DRAINING;
	else if (strcmp(action, "cancel") == 0)
		*st = CS_STATE_NORMAL;
	else
		return -EINVAL;
	return 0;
}

/* Start or cancel the decommissioning of known server "addr". */
static int change(struct decommission *d, const char *addr,
		  const char *action)
{
	enum chunk_srv_state want, cur;
	int r;

	if ((r = action_state(action, &want)) != 0)
		return r;
	pthread_mutex_lock(&d->change_lock);
	cur = chunk_srv_state_of(d->m->cs, addr);
	if ((want == CS_STATE_NORMAL) != (cur == CS_STATE_NORMAL))
		r = set_state(d, addr, want);
	pthread_mutex_unlock(&d->change_lock);
	if (r == 0 && (want == CS_STATE_NORMAL) != (cur == CS_STATE_NORMAL))
		log_info("chunkserver '%s': decommissioning %s", addr,
			 want == CS_STATE_NORMAL ? "cancelled" : "started");
	return r;
}

static json_t *rows_json(const struct decom_row *rows, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:b, s:s, s:I, s:I}", "addr",
				  rows[i].info.addr, "rack", rows[i].info.rack,
				  "alive", rows[i].info.alive, "state",
				  chunk_srv_state_name(rows[i].info.state),
				  "chunks", (json_int_t)rows[i].chunks,
				  "remaining", (json_int_t)rows[i].remaining));
	return arr;
}

/* Parse {"action", "addr"}; "addr" may be absent for "status". */
static int parse_request(const json_t *body, const char **action,
			 const char **addr)
{
	int r;

	*addr = NULL;
	if ((r = proto_get_str(body, "action", 16, action)) != 0)
		return r;
	if (json_object_get(body, "addr") != NULL &&
	    (r = proto_get_str(body, "addr", DFS_ADDR_MAX - 1, addr)) != 0)
		return r;
	if (*addr != NULL && !proto_addr_is_valid(*addr))
		return -EINVAL;
	if (*addr == NULL && strcmp(*action, "status") != 0)
		return -EINVAL;
	return 0;
}

static void handle_decommission(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct decom_row *rows = NULL;
	const char *action, *addr;
	json_t *body;
	size_t n = 0;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = parse_request(body, &action, &addr)) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "malformed request");
		goto out;
	}
	if ((r = decom_progress(m, addr, &rows, &n)) == 0 &&
	    strcmp(action, "status") != 0) {
		free(rows);
		rows = NULL;
		if ((r = change(m->decom, addr, action)) == 0)
			r = decom_progress(m, addr, &rows, &n);
	}
	if (r == -ENOENT)
		http_reply_error(req, DFS_ERR_NOENT,
				 "no chunk server '%s' is known", addr);
	else if (r != 0)
		http_reply_error(req, wire_status_from_errno(r), "%s: %s",
				 action, strerror(-r));
	else
		http_reply_json(req, 200,
				json_pack("{s:o}", "servers",
					  rows_json(rows, n)));
out:
	free(rows);
	json_decref(body);
}

const struct http_route decommission_routes[] = {
	{ "POST", EP_DECOMMISSION, handle_decommission, DECOM_MAX_BODY, 0 },
};
const size_t decommission_nroutes =
	sizeof(decommission_routes) / sizeof(decommission_routes[0]);
