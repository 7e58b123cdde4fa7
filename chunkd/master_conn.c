/*
 * master_conn.c - chunkd's link to masterd (see master_conn.h).
 *
 * One thread runs a two-state loop: unregistered (register, pause with
 * backoff on failure) and registered (heartbeat every heartbeat_ms; any
 * failure or a "reregister" answer goes back to unregistered). Failures
 * are logged once when the master goes away and once when it is back.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "dfs_proto.h"
#include "http_client.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "master_conn.h"
#include "metrics_srv.h"
#include "store.h"

#include "banned.h"

/* Pause after the first failed register; doubles up to the maximum. */
#define MC_BACKOFF_MIN_MS 100
#define MC_BACKOFF_MAX_MS 1000

/* Heartbeat interval bounds and default (when the master sends none). */
#define MC_HEARTBEAT_MIN_MS 100
#define MC_HEARTBEAT_MAX_MS 60000
#define MC_HEARTBEAT_DEFAULT_MS 3000

/* Timeouts of calls to the master. */
#define MC_CONNECT_TIMEOUT_MS 2000
#define MC_TIMEOUT_MS 10000

struct master_conn {
	struct store *st;             /* borrowed */
	struct http_client *hc;       /* owned, calls to the master only */
	char *master;                 /* master "host:port" */
	char *addr;                   /* our "host:port" */
	char *rack;                   /* our rack, "" if none */
	pthread_t thread;
	pthread_mutex_t mu;           /* guards stop */
	pthread_cond_t cond;          /* signalled when stop is set */
	bool stop;                    /* master_conn_free() was called */
	int heartbeat_ms;             /* thread only */
	bool reachable;               /* thread only: last call got through */
};

/* The chunk report of one call; kept until its reply is handled so that
 * deletions apply only to the versions that were reported. */
struct report {
	struct store_replica *reps;   /* sorted by handle */
	size_t n;
};

/* Sleep up to ms unless stopped. False when the link is stopping. */
static bool mc_sleep(struct master_conn *mc, int ms)
{
	struct timespec deadline;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mc->mu);
	while (!mc->stop &&
	       pthread_cond_timedwait(&mc->cond, &mc->mu, &deadline) == 0)
		;
	stop = mc->stop;
	pthread_mutex_unlock(&mc->mu);
	return !stop;
}

static bool mc_stopping(struct master_conn *mc)
{
	bool stop;

	pthread_mutex_lock(&mc->mu);
	stop = mc->stop;
	pthread_mutex_unlock(&mc->mu);
	return stop;
}

/* The "corrupt" list of a report: copies the store set aside. */
static json_t *mc_corrupt_list(struct master_conn *mc)
{
	json_t *arr = json_array();
	uint64_t *v = NULL;
	size_t i, n;

	n = store_corrupt_list(mc->st, &v);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_integer((json_int_t)v[i]));
	free(v);
	return arr;
}

/* Request body of a register (with "rack") or a heartbeat, filling
 * *rep with the chunk list it carries. */
static json_t *mc_request(struct master_conn *mc, bool reg, struct report *rep)
{
	struct store_usage u;
	json_t *req, *chunks;
	size_t i;

	rep->n = store_list(mc->st, &rep->reps);
	store_get_usage(mc->st, &u);
	chunks = json_array();
	for (i = 0; i < rep->n; i++)
		json_array_append_new(chunks,
				      json_pack("[I, I]",
						(json_int_t)rep->reps[i].handle,
						(json_int_t)rep->reps[i].version));
	req = json_pack("{s:s, s:I, s:I, s:o, s:o}", "addr", mc->addr,
			"capacity", (json_int_t)u.capacity, "used",
			(json_int_t)u.used, "chunks", chunks, "corrupt",
			mc_corrupt_list(mc));
	if (req != NULL && reg)
		json_object_set_new(req, "rack", json_string(mc->rack));
	return req;
}

/* Remove the set-aside corrupt copies the reply lists in
 * "drop_corrupt" (the master re-replicated those chunks). */
static void mc_drop_corrupt(struct master_conn *mc, const json_t *reply)
{
	const json_t *list = json_object_get(reply, "drop_corrupt");
	size_t i;
	json_int_t v;
	int r;

	for (i = 0; i < json_array_size(list); i++) {
		v = json_integer_value(json_array_get(list, i));
		if (v <= 0)
			continue;
		r = store_corrupt_drop(mc->st, (uint64_t)v);
		if (r != 0 && r != -ENOENT)
			log_warnx("cannot remove the corrupt copy of chunk "
				  "%016llx: %s",
				  (unsigned long long)v, strerror(-r));
	}
}

static int replica_cmp(const void *key, const void *elem)
{
	uint64_t h = *(const uint64_t *)key;
	const struct store_replica *r = elem;

	return h < r->handle ? -1 : h > r->handle;
}

/* Remove the replicas listed in the reply's "delete", at the versions
 * that were reported. */
static void mc_delete(struct master_conn *mc, const json_t *reply,
		      const struct report *rep)
{
	const json_t *list = json_object_get(reply, "delete");
	const struct store_replica *found;
	size_t i, deleted = 0;
	json_int_t v;
	uint64_t h;

	for (i = 0; i < json_array_size(list); i++) {
		v = json_integer_value(json_array_get(list, i));
		h = (uint64_t)v;
		if (v <= 0 ||
		    (found = bsearch(&h, rep->reps, rep->n, sizeof(*rep->reps),
				     replica_cmp)) == NULL ||
		    found->version == 0)
			continue;
		if (store_delete(mc->st, h, found->version) == 0) {
			log_debug("chunk %016llx v%" PRIu64 ": deleted",
				  (unsigned long long)h, found->version);
			deleted++;
		}
	}
	if (deleted > 0)
		log_info("deleted %zu replicas at the master's request",
			 deleted);
}

/* Note whether the master answered, logging only the changes. */
static void mc_note_reach(struct master_conn *mc, int r, int wire)
{
	if (r == 0 || wire >= 0) {
		if (!mc->reachable)
			log_info("master '%s' is reachable", mc->master);
		mc->reachable = true;
		return;
	}
	if (mc->reachable)
		log_warnx("cannot reach master '%s': %s; retrying",
			  mc->master, strerror(-r));
	mc->reachable = false;
}

/* Apply the settings of a register reply. */
static void mc_registered(struct master_conn *mc, const json_t *reply,
			  size_t nchunks)
{
	uint64_t hb = MC_HEARTBEAT_DEFAULT_MS, cs = 0;

	if (proto_get_u64(reply, "heartbeat_ms", MC_HEARTBEAT_MAX_MS, &hb) !=
		    0 ||
	    hb < MC_HEARTBEAT_MIN_MS)
		hb = hb < MC_HEARTBEAT_MIN_MS ? MC_HEARTBEAT_MIN_MS
					      : MC_HEARTBEAT_DEFAULT_MS;
	mc->heartbeat_ms = (int)hb;
	if (proto_opt_u64(reply, "chunk_size", STORE_MAX_CHUNK_SIZE, &cs) ==
		    0 &&
	    cs > 0 && cs != store_chunk_size(mc->st)) {
		log_info("chunk size set to %" PRIu64 " by the master", cs);
		if (store_set_chunk_size(mc->st, cs) != 0)
			log_warnx("cannot save the chunk size in '%s'",
				  store_dir(mc->st));
	}
	log_info("registered with master '%s' as '%s' (%zu chunks, "
		 "heartbeat %d ms)",
		 mc->master, mc->addr, nchunks, mc->heartbeat_ms);
}

/* One register (reg) or heartbeat call. 0 when it succeeded and no new
 * registration is needed; -errno otherwise. */
static int mc_call(struct master_conn *mc, bool reg)
{
	struct report rep = {NULL, 0};
	json_t *req, *reply = NULL;
	bool again = false;
	int r, wire = -1;

	req = mc_request(mc, reg, &rep);
	r = rpc_call(mc->hc, mc->master, reg ? EP_CS_REGISTER : EP_CS_HEARTBEAT,
		     req, &reply, &wire);
	mc_note_reach(mc, r, wire);
	metrics_srv_master_call(reg, r == 0);
	if (r != 0) {
		if (wire >= 0)
			log_warnx("master '%s' refused our %s: %s", mc->master,
				  reg ? "registration" : "heartbeat",
				  wire_status_name(wire));
		goto out;
	}
	if (reg)
		mc_registered(mc, reply, rep.n);
	mc_delete(mc, reply, &rep);
	mc_drop_corrupt(mc, reply);
	if (!reg && proto_opt_bool(reply, "reregister", &again) == 0 &&
	    again) {
		log_info("master '%s' asks us to register again", mc->master);
		r = -EAGAIN;
	}
out:
	json_decref(req);
	json_decref(reply);
	free(rep.reps);
	return r;
}

static void *mc_main(void *arg)
{
	struct master_conn *mc = arg;
	int backoff = MC_BACKOFF_MIN_MS;
	bool registered = false;

	while (!mc_stopping(mc)) {
		if (!registered) {
			registered = mc_call(mc, true) == 0;
			if (registered) {
				backoff = MC_BACKOFF_MIN_MS;
			} else if (!mc_sleep(mc, backoff)) {
				break;
			} else {
				backoff = backoff * 2 > MC_BACKOFF_MAX_MS
						  ? MC_BACKOFF_MAX_MS
						  : backoff * 2;
			}
			continue;
		}
		if (!mc_sleep(mc, mc->heartbeat_ms))
			break;
		registered = mc_call(mc, false) == 0;
	}
	return NULL;
}

struct master_conn *master_conn_new(const struct master_conn_opts *opts,
				    struct store *st)
{
	struct http_client_opts hopts = {MC_CONNECT_TIMEOUT_MS, MC_TIMEOUT_MS};
	struct master_conn *mc = xcalloc(1, sizeof(*mc));
	pthread_condattr_t ca;

	mc->st = st;
	mc->hc = http_client_new(&hopts);
	mc->master = xstrdup(opts->master);
	mc->addr = xstrdup(opts->addr);
	mc->rack = xstrdup(opts->rack != NULL ? opts->rack : "");
	mc->heartbeat_ms = MC_HEARTBEAT_DEFAULT_MS;
	mc->reachable = true;
	pthread_mutex_init(&mc->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mc->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&mc->thread, NULL, mc_main, mc) != 0)
		fatalx("cannot start the master link thread");
	return mc;
}

void master_conn_free(struct master_conn *mc)
{
	if (mc == NULL)
		return;
	pthread_mutex_lock(&mc->mu);
	mc->stop = true;
	pthread_cond_signal(&mc->cond);
	pthread_mutex_unlock(&mc->mu);
	pthread_join(mc->thread, NULL);
	http_client_free(mc->hc);
	pthread_mutex_destroy(&mc->mu);
	pthread_cond_destroy(&mc->cond);
	free(mc->master);
	free(mc->addr);
	free(mc->rack);
	free(mc);
}
