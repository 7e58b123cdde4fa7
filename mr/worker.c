/*
 * worker.c - `mr worker`: options, registration with the coordinator,
 * heartbeats and the task slots.
 *
 * Threads: main waits for SIGTERM/SIGINT; one heartbeat thread registers
 * (again when told to) and reports progress every heartbeat_ms, setting
 * abort flags and deleting the map outputs of jobs that ended; one thread
 * per slot long-polls for a task, runs it and reports it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "app.h"
#include "cmds.h"
#include "dfs_client.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "mr_proto.h"
#include "proto.h"
#include "secure.h"
#include "timeutil.h"
#include "util.h"
#include "worker.h"
#include "xmalloc.h"

#include "banned.h"

/* Long poll asked of the coordinator. */
#define WK_POLL_MS 2000

/* Map outputs of ended jobs are looked for this often. */
#define WK_CLEAN_MS 5000

/* Tries to deliver a completion report. */
#define WK_REPORT_TRIES 5

/* ------------------------------------------------------------------ */
/* Heartbeats                                                           */
/* ------------------------------------------------------------------ */

/* Abort every running attempt (after re-registering). */
static void wk_abort_all(struct worker *w)
{
	struct wk_run *run;

	pthread_mutex_lock(&w->lock);
	for (run = w->runs; run != NULL; run = run->next)
		atomic_store(&run->abort, true);
	pthread_mutex_unlock(&w->lock);
}

static int wk_register(struct worker *w)
{
	json_t *req, *reply = NULL;
	uint64_t id = 0, hb = 1000;
	int r;

	req = json_pack("{s:s, s:s, s:I}", "addr", w->addr, "chunkd",
			w->chunkd, "slots", (json_int_t)w->slots);
	r = rpc_call(w->ctl, w->coordinator, MR_EP_REGISTER, req, &reply,
		     NULL);
	if (r == 0 && (proto_get_u64(reply, "worker", UINT64_MAX, &id) != 0 ||
		       proto_opt_u64(reply, "heartbeat_ms", 60000, &hb) != 0 ||
		       id == 0))
		r = -EPROTO;
	json_decref(req);
	json_decref(reply);
	if (r != 0)
		return r;
	pthread_mutex_lock(&w->lock);
	w->wid = id;
	w->hb_ms = hb < 50 ? 50 : (int64_t)hb;
	pthread_mutex_unlock(&w->lock);
	log_info("registered with coordinator '%s' as worker %" PRIu64,
		 w->coordinator, id);
	return 0;
}

/* The heartbeat request: running attempts and their progress. */
static json_t *wk_hb_request(struct worker *w, uint64_t wid)
{
	json_t *arr = json_array();
	struct wk_run *run;

	pthread_mutex_lock(&w->lock);
	for (run = w->runs; run != NULL; run = run->next)
		json_array_append_new(
			arr,
			json_pack("{s:I, s:I}", "attempt",
				  (json_int_t)run->attempt, "progress",
				  (json_int_t)atomic_load(&run->progress)));
	pthread_mutex_unlock(&w->lock);
	return json_pack("{s:I, s:o}", "worker", (json_int_t)wid, "attempts",
			 arr);
}

static void wk_apply_aborts(struct worker *w, const json_t *abort)
{
	struct wk_run *run;
	const json_t *v;
	size_t i;

	pthread_mutex_lock(&w->lock);
	json_array_foreach(abort, i, v)
		for (run = w->runs; run != NULL; run = run->next)
			if (json_is_integer(v) &&
			    (uint64_t)json_integer_value(v) == run->attempt &&
			    !atomic_exchange(&run->abort, true))
				log_info("aborting attempt %" PRIu64,
					 run->attempt);
	pthread_mutex_unlock(&w->lock);
}

/* True if job is listed in jobs or has an attempt running here. */
static bool wk_job_is_live(struct worker *w, const json_t *jobs,
			   const char *job)
{
	struct wk_run *run;
	const json_t *v;
	bool live = false;
	size_t i;

	json_array_foreach(jobs, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), job) == 0)
			return true;
	pthread_mutex_lock(&w->lock);
	for (run = w->runs; run != NULL; run = run->next)
		live |= strcmp(run->job, job) == 0;
	pthread_mutex_unlock(&w->lock);
	return live;
}

/* Delete the map outputs of jobs that are no longer running. */
static void wk_clean_jobs(struct worker *w, const json_t *jobs)
{
	char *dir = xasprintf("%s/out", w->data), *path;
	struct dirent *e;
	DIR *dp;

	if ((dp = opendir(dir)) != NULL) {
		while ((e = readdir(dp)) != NULL) {
			if (e->d_name[0] == '.' ||
			    wk_job_is_live(w, jobs, e->d_name))
				continue;
			path = xasprintf("%s/%s", dir, e->d_name);
			log_info("removing map outputs of ended job %s",
				 e->d_name);
			util_rm_rf(path);
			free(path);
		}
		closedir(dp);
	}
	free(dir);
}

/* Drop our tasks and outputs and register again. */
static void wk_reset(struct worker *w)
{
	char *dir = xasprintf("%s/out", w->data);

	log_warnx("coordinator does not know us: dropping tasks, "
		  "registering again");
	pthread_mutex_lock(&w->lock);
	w->wid = 0;
	pthread_mutex_unlock(&w->lock);
	wk_abort_all(w);
	util_rm_rf(dir);
	free(dir);
}

/* One heartbeat; cleans ended jobs' outputs when *clean_at is due. */
static void wk_heartbeat(struct worker *w, uint64_t wid, int64_t *clean_at)
{
	json_t *req = wk_hb_request(w, wid), *reply = NULL;
	bool rereg = false;
	int r;

	r = rpc_call(w->ctl, w->coordinator, MR_EP_HEARTBEAT, req, &reply,
		     NULL);
	json_decref(req);
	if (r != 0) {
		log_warnx("heartbeat to '%s' failed: %s", w->coordinator,
			  strerror(-r));
		return;
	}
	proto_opt_bool(reply, "reregister", &rereg);
	if (rereg) {
		wk_reset(w);
	} else {
		wk_apply_aborts(w, json_object_get(reply, "abort"));
		if (time_mono_ms() >= *clean_at) {
			wk_clean_jobs(w, json_object_get(reply, "jobs"));
			*clean_at = time_mono_ms() + WK_CLEAN_MS;
		}
	}
	json_decref(reply);
}

static void *wk_hb_thread(void *arg)
{
	struct worker *w = arg;
	int64_t clean_at = 0, hb;
	uint64_t wid;
	bool warned = false;
	int r;

	while (!atomic_load(&w->stop)) {
		pthread_mutex_lock(&w->lock);
		wid = w->wid;
		hb = w->hb_ms;
		pthread_mutex_unlock(&w->lock);
		if (wid == 0) {
			if ((r = wk_register(w)) != 0 && !warned)
				log_warnx("cannot register with '%s': %s "
					  "(retrying)", w->coordinator,
					  strerror(-r));
			warned = r != 0;
			util_sleep_ms(r != 0 ? 1000 : 0, &w->stop);
			continue;
		}
		wk_heartbeat(w, wid, &clean_at);
		util_sleep_ms((long)hb, &w->stop);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Task slots                                                           */
/* ------------------------------------------------------------------ */

/* Deliver a completion report, retrying transport errors. */
static void wk_report(struct worker *w, json_t *rep)
{
	int r = -EIO, i;

	for (i = 0; i < WK_REPORT_TRIES && !atomic_load(&w->stop); i++) {
		if (i > 0)
			util_sleep_ms(500L * i, &w->stop);
		r = rpc_call(w->ctl, w->coordinator, MR_EP_DONE, rep, NULL,
			     NULL);
		if (r == 0 || (r != -ECONNREFUSED && r != -ETIMEDOUT &&
			       r != -EIO))
			break;
	}
	if (r != 0)
		log_warnx("cannot report to '%s': %s", w->coordinator,
			  strerror(-r));
}

/* One long poll; runs and reports the task it brings. */
static void wk_poll_once(struct worker *w, uint64_t wid)
{
	json_t *req, *reply = NULL, *task, *rep;
	int r;

	req = json_pack("{s:I, s:I}", "worker", (json_int_t)wid, "wait_ms",
			(json_int_t)WK_POLL_MS);
	r = rpc_call(w->ctl, w->coordinator, MR_EP_POLL, req, &reply, NULL);
	json_decref(req);
	if (r == -ENOENT) {
		pthread_mutex_lock(&w->lock);
		if (w->wid == wid)
			w->wid = 0;
		pthread_mutex_unlock(&w->lock);
	}
	if (r != 0) {
		util_sleep_ms(1000, &w->stop);
		return;
	}
	task = json_object_get(reply, "task");
	if (json_is_object(task)) {
		rep = wk_run_task(w, task, wid);
		wk_report(w, rep);
		json_decref(rep);
	}
	json_decref(reply);
}

static void *wk_slot_thread(void *arg)
{
	struct worker *w = arg;
	uint64_t wid;

	while (!atomic_load(&w->stop)) {
		pthread_mutex_lock(&w->lock);
		wid = w->wid;
		pthread_mutex_unlock(&w->lock);
		if (wid == 0)
			util_sleep_ms(100, &w->stop);
		else
			wk_poll_once(w, wid);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Options and life cycle                                               */
/* ------------------------------------------------------------------ */

struct wk_opts {
	const char *listen;
	const char *advertise;
	const char *data;
	long slots;
	long map_memory_mib;
	struct secure_opts sec;   /* --secret, --ca, --tls-* (secure.h) */
};

/* Paths served without request authentication: the liveness probe. */
static const char *const wk_public_paths[] = { MR_EP_HEALTH, NULL };

static void wk_usage(FILE *fp)
{
	fprintf(fp,
		"usage: mr worker --chunkd ADDR [--coordinator ADDR] "
		"[--master ADDR] [--data DIR]\n"
		"         [--listen ADDR] [--advertise ADDR] [--slots N] "
		"[--map-memory MiB]\n"
		"         [--secret FILE] [--ca FILE] "
		"[--tls-cert FILE --tls-key FILE]\n"
		"  --chunkd ADDR        the chunk server on this host, as the "
		"master names it\n"
		"  --coordinator ADDR   default $DFS_COORDINATOR or %s\n"
		"  --master ADDR        default $DFS_MASTER or 127.0.0.1:9000\n"
		"  --data DIR           local map output (default "
		"/tmp/mr-worker-PID, removed on exit)\n"
		"  --listen ADDR        serve map output here (default "
		"127.0.0.1:0, any port)\n"
		"  --advertise ADDR     address reducers use (default: the "
		"listen address)\n"
		"  --slots N            tasks run at once (default: CPUs)\n"
		"  --map-memory MiB     map output buffered before spilling "
		"(64)\n" SECURE_HELP_DAEMON, MR_DEFAULT_COORDINATOR);
}

enum wk_code {
	WK_ADVERTISE = 1000,
	WK_MAP_MEMORY,
	WK_SLOTS,
};

static const struct option wk_long[] = {
	{ "advertise", required_argument, NULL, WK_ADVERTISE },
	{ "chunkd", required_argument, NULL, 'c' },
	{ "coordinator", required_argument, NULL, 'C' },
	{ "data", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "listen", required_argument, NULL, 'l' },
	{ "map-memory", required_argument, NULL, WK_MAP_MEMORY },
	{ "master", required_argument, NULL, 'm' },
	{ "slots", required_argument, NULL, WK_SLOTS },
	SECURE_LONGOPTS_DAEMON,
	{ NULL, 0, NULL, 0 },
};

/* 0, 1 for --help, -1 on a usage error (message printed). */
static int wk_parse(int argc, char **argv, struct worker *w,
		    struct wk_opts *o)
{
	unsigned long long v;
	int c;

	while ((c = getopt_long(argc, argv, "c:C:d:hl:m:", wk_long, NULL)) !=
	       -1) {
		switch (c) {
		case 'c': w->chunkd = optarg; break;
		case 'C': w->coordinator = optarg; break;
		case 'd': o->data = optarg; break;
		case 'h': wk_usage(stdout); return 1;
		case 'l': o->listen = optarg; break;
		case 'm': w->master = optarg; break;
		case WK_ADVERTISE: o->advertise = optarg; break;
		case WK_SLOTS:
			if (!util_parse_uint(optarg, 1, 256, &v))
				goto bad;
			o->slots = (long)v;
			break;
		case WK_MAP_MEMORY:
			if (!util_parse_uint(optarg, 1, 65536, &v))
				goto bad;
			o->map_memory_mib = (long)v;
			break;
		default:
			if (secure_getopt(&o->sec, c, optarg))
				break;
			wk_usage(stderr);
			return -1;
		}
	}
	if (optind != argc || w->chunkd == NULL) {
		fprintf(stderr, "mr worker: %s\n",
			w->chunkd == NULL ? "--chunkd ADDR is required"
					  : "unexpected argument");
		return -1;
	}
	if (!proto_addr_is_valid(w->chunkd) ||
	    !proto_addr_is_valid(w->coordinator) ||
	    !proto_addr_is_valid(w->master)) {
		fprintf(stderr,
			"mr worker: bad address (host:port expected)\n");
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "mr worker: bad value '%s'\n", optarg);
	return -1;
}

/* Lock DIR/lock so two workers never share a data directory (the lock
 * lives as long as the process). */
static int wk_lock_data(const char *dir)
{
	char *path = xasprintf("%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), r = 0;

	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (fd >= 0)
			close(fd);
	}
	free(path);
	return r;
}

/* Slots, memory and the data directory (locked, emptied of old
 * outputs). */
static int wk_setup(struct worker *w, const struct wk_opts *o)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char *sub;
	int r;

	w->slots = (unsigned)(o->slots > 0 ? o->slots : ncpu > 0 ? ncpu : 1);
	w->map_memory = (size_t)o->map_memory_mib << 20;
	w->data = o->data != NULL ? xstrdup(o->data)
				  : xasprintf("/tmp/mr-worker-%ld",
					      (long)getpid());
	if ((r = util_mkdir_p(w->data)) != 0 ||
	    (r = wk_lock_data(w->data)) != 0) {
		fprintf(stderr, "mr worker: cannot use data dir '%s': %s\n",
			w->data, r == -EBUSY ? "used by another worker"
					     : strerror(-r));
		return r;
	}
	sub = xasprintf("%s/out", w->data);
	r = util_rm_rf(sub);
	free(sub);
	sub = xasprintf("%s/red", w->data);
	if (r == 0)
		r = util_rm_rf(sub);
	free(sub);
	if (r != 0)
		fprintf(stderr, "mr worker: cannot use data dir '%s': %s\n",
			w->data, strerror(-r));
	return r;
}

/* The address reducers fetch map output from. */
static void wk_set_addr(struct worker *w, const struct wk_opts *o,
			unsigned port)
{
	if (o->advertise != NULL)
		snprintf(w->addr, sizeof(w->addr), "%s", o->advertise);
	else
		snprintf(w->addr, sizeof(w->addr), "%.*s:%u",
			 (int)strcspn(o->listen, ":"), o->listen, port);
}

/* Start the heartbeat and slot threads; wait for a stop signal; join. */
static void wk_run(struct worker *w, sigset_t *set)
{
	pthread_t *th = xcalloc(w->slots + 1, sizeof(*th));
	unsigned i;
	int sig;

	if (pthread_create(&th[0], NULL, wk_hb_thread, w) != 0)
		fatal("cannot start threads");
	for (i = 1; i <= w->slots; i++)
		if (pthread_create(&th[i], NULL, wk_slot_thread, w) != 0)
			fatal("cannot start threads");
	while (sigwait(set, &sig) != 0)
		;
	log_info("stopping on signal %d", sig);
	atomic_store(&w->stop, true);
	wk_abort_all(w);
	for (i = 0; i <= w->slots; i++)
		pthread_join(th[i], NULL);
	free(th);
}

static void wk_release(struct worker *w)
{
	struct wk_app *a;

	while ((a = w->apps) != NULL) {
		w->apps = a->next;
		app_free(a->app);
		free(a);
	}
	dfs_client_free(w->dc);
	http_client_free(w->ctl);
	http_client_free(w->bulk);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->app_lock);
	free(w->data);
	secure_release();
}

int cmd_worker(int argc, char **argv)
{
	const char *env = getenv("DFS_COORDINATOR");
	struct worker w = {
		.coordinator = env != NULL ? env : MR_DEFAULT_COORDINATOR,
		.master = dfs_default_master(),
	};
	struct wk_opts o = { .listen = "127.0.0.1:0", .map_memory_mib = 64 };
	struct http_client_opts ctl = { 3000, 15000 }, bulk = { 3000, 300000 };
	struct http_server_opts so = { 0 };
	struct http_server *srv;
	const struct http_route *routes;
	size_t nroutes;
	sigset_t set;
	int r;

	log_init("mr-worker", LOG_LEVEL_INFO);
	if ((r = wk_parse(argc, argv, &w, &o)) != 0)
		return r > 0 ? 0 : 2;
	if (secure_init("mr worker", &o.sec, SECURE_DAEMON) != 0)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_mutex_init(&w.lock, NULL);
	pthread_mutex_init(&w.app_lock, NULL);
	w.ctl = http_client_new(&ctl);
	w.bulk = http_client_new(&bulk);
	w.dc = dfs_client_new(w.master);
	routes = wk_routes(&nroutes);
	so.listen = o.listen;
	secure_server_opts(&so, wk_public_paths);
	if (wk_setup(&w, &o) != 0) {
		wk_release(&w);
		return 1;
	}
	if ((srv = http_server_new(&so, routes, nroutes, &w)) == NULL) {
		log_errorx("cannot listen on '%s'", o.listen);
		wk_release(&w);
		return 1;
	}
	wk_set_addr(&w, &o, http_server_port(srv));
	log_info("listening on %s", w.addr);
	log_info("next to chunk server '%s', coordinator '%s', %u slots",
		 w.chunkd, w.coordinator, w.slots);
	wk_run(&w, &set);
	http_server_free(srv);
	if (o.data == NULL)
		util_rm_rf(w.data);
	wk_release(&w);
	return 0;
}
