/*
 * master_conn.c - chunkd's link to masterd (see master_conn.h).
 *
 * One thread runs a two-state loop: unregistered (register, pause with
 * backoff on failure) and registered (heartbeat every heartbeat_ms; any
 * failure or a "reregister" answer goes back to unregistered). Failures
 * are logged once when the master goes away and once when it is back.
 *
 * Reports: a register carries every replica ("chunks"); so does a
 * heartbeat every full_report_ms (from the register answer; 0 or absent:
 * always). The heartbeats in between carry only the replicas that
 * appeared or changed version ("changed") and the handles that went
 * ("gone") since the last report, so a heartbeat costs the master in
 * proportion to the changes, not to the replicas held. After a failed
 * call, or when the master asks ("full_report"), the next report is full:
 * the changes a lost call carried are not kept.
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

/* Longest interval between full reports the master may ask for. */
#define MC_FULL_REPORT_MAX_MS (7LL * 24 * 3600 * 1000)

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
	int64_t full_report_ms;       /* thread only; 0: every report full */
	int64_t last_full_ms;         /* thread only: time_mono_ms() of the
				       * last full report the master took */
	bool need_full;               /* thread only: next report is full */
	bool reachable;               /* thread only: last call got through */
};

/* The chunk report of one call; kept until its reply is handled so that
 * deletions apply only to the versions that were reported. */
struct report {
	struct store_replica *reps;   /* sorted by handle */
	size_t n;
	uint64_t *gone;               /* changes only: handles that went */
	size_t ngone;
	bool full;                    /* every replica, not the changes */
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

static json_t *handles_json(const uint64_t *v, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_integer((json_int_t)v[i]));
	return arr;
}

/* The "corrupt" list of a report: copies the store set aside. */
static json_t *mc_corrupt_list(struct master_conn *mc)
{
	uint64_t *v = NULL;
	size_t n = store_corrupt_list(mc->st, &v);
	json_t *arr = handles_json(v, n);

	free(v);
	return arr;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Fill *rep with the present state of the "n" changed handles (sorted
 * in place): a replica now, or gone. */
static void changes_state(struct master_conn *mc, uint64_t *changed,
			  size_t n, struct report *rep)
{
	size_t i;

	if (n == 0)
		return;
	qsort(changed, n, sizeof(*changed), u64_cmp);
	rep->reps = xmalloc(n * sizeof(*rep->reps));
	rep->gone = xmalloc(n * sizeof(*rep->gone));
	for (i = 0; i < n; i++) {
		if (i > 0 && changed[i] == changed[i - 1])
			continue;
		if (store_stat(mc->st, changed[i], &rep->reps[rep->n]) == 0)
			rep->n++;
		else
			rep->gone[rep->ngone++] = changed[i];
	}
}

/* Whether this call's report lists every replica. */
static bool mc_full_due(const struct master_conn *mc, bool reg)
{
	return reg || mc->need_full || mc->full_report_ms == 0 ||
	       time_mono_ms() - mc->last_full_ms >= mc->full_report_ms;
}

/* Fill *rep: every replica (full) or the changes since the last report. */
static void mc_report(struct master_conn *mc, bool reg, struct report *rep)
{
	uint64_t *changed = NULL;
	bool complete;
	size_t n;

	n = store_take_changes(mc->st, &changed, &complete);
	rep->full = mc_full_due(mc, reg) || !complete;
	if (rep->full)
		rep->n = store_list(mc->st, &rep->reps);
	else
		changes_state(mc, changed, n, rep);
	free(changed);
}

static json_t *pairs_json(const struct store_replica *reps, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr,
				      json_pack("[I, I]",
						(json_int_t)reps[i].handle,
						(json_int_t)reps[i].version));
	return arr;
}

/* Request body of a register (with "rack") or a heartbeat, filling
 * *rep with the report it carries. */
static json_t *mc_request(struct master_conn *mc, bool reg, struct report *rep)
{
	struct store_usage u;
	json_t *req;

	mc_report(mc, reg, rep);
	store_get_usage(mc->st, &u);
	req = json_pack("{s:s, s:I, s:I, s:I, s:o}", "addr", mc->addr,
			"capacity", (json_int_t)u.capacity, "used",
			(json_int_t)u.used, "nchunks", (json_int_t)u.chunks,
			"corrupt", mc_corrupt_list(mc));
	if (req == NULL)
		return NULL;
	if (rep->full) {
		json_object_set_new(req, "chunks",
				    pairs_json(rep->reps, rep->n));
	} else {
		json_object_set_new(req, "changed",
				    pairs_json(rep->reps, rep->n));
		json_object_set_new(req, "gone",
				    handles_json(rep->gone, rep->ngone));
	}
	if (reg)
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

/* Delete the replica of "h" at "version" (0: any); true if it went. */
static bool mc_delete_one(struct master_conn *mc, uint64_t h,
			  uint64_t version)
{
	if (store_delete(mc->st, h, version) != 0)
		return false;
	log_debug("chunk %016llx v%" PRIu64 ": deleted", (unsigned long long)h,
		  version);
	return true;
}

/* Remove the replicas listed in the reply's "delete", at the versions
 * that were reported, and those of "delete_at" ([handle, version]
 * pairs, version 0 for any: chunks no file has any more). */
static void mc_delete(struct master_conn *mc, const json_t *reply,
		      const struct report *rep)
{
	const json_t *list = json_object_get(reply, "delete");
	const struct store_replica *found;
	size_t i, deleted = 0;
	json_int_t v;
	uint64_t h, ver;
	json_t *pair;

	for (i = 0; i < json_array_size(list); i++) {
		v = json_integer_value(json_array_get(list, i));
		h = (uint64_t)v;
		if (v <= 0 || rep->n == 0 ||
		    (found = bsearch(&h, rep->reps, rep->n, sizeof(*rep->reps),
				     replica_cmp)) == NULL ||
		    found->version == 0)
			continue;
		deleted += mc_delete_one(mc, h, found->version);
	}
	list = json_object_get(reply, "delete_at");
	json_array_foreach (list, i, pair) {
		if (proto_get_pair(pair, &h, &ver) == 0)
			deleted += mc_delete_one(mc, h, ver);
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
	uint64_t hb = MC_HEARTBEAT_DEFAULT_MS, cs = 0, full = 0;

	if (proto_get_u64(reply, "heartbeat_ms", MC_HEARTBEAT_MAX_MS, &hb) !=
		    0 ||
	    hb < MC_HEARTBEAT_MIN_MS)
		hb = hb < MC_HEARTBEAT_MIN_MS ? MC_HEARTBEAT_MIN_MS
					      : MC_HEARTBEAT_DEFAULT_MS;
	mc->heartbeat_ms = (int)hb;
	if (proto_opt_u64(reply, "full_report_ms", MC_FULL_REPORT_MAX_MS,
			  &full) != 0)
		full = 0;
	mc->full_report_ms = (int64_t)full;
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
	struct report rep = {0};
	json_t *req, *reply = NULL;
	bool again = false, full = false;
	int r, wire = -1;

	req = mc_request(mc, reg, &rep);
	r = rpc_call(mc->hc, mc->master, reg ? EP_CS_REGISTER : EP_CS_HEARTBEAT,
		     req, &reply, &wire);
	mc_note_reach(mc, r, wire);
	metrics_srv_master_call(reg, r == 0);
	/* The changes a failed call carried are gone: report all next. */
	mc->need_full = r != 0 ||
			(proto_opt_bool(reply, "full_report", &full) == 0 &&
			 full);
	if (r == 0 && rep.full)
		mc->last_full_ms = time_mono_ms();
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
	free(rep.gone);
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
