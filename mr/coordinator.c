/*
 * coordinator.c - `mr coordinator`: options, the HTTP routes of the
 * coordinator API (mr_proto.h) and the daemon's life cycle. Scheduling
 * lives in coord.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "coord.h"
#include "dfs_client.h"
#include "http_server.h"
#include "log.h"
#include "mr_proto.h"
#include "proto.h"
#include "secure.h"
#include "util.h"
#include "wire.h"
#include "xmalloc.h"

#include "banned.h"

/* Largest JSON body of a submit, heartbeat or completion. */
#define COORD_MAX_JSON (8u * 1024 * 1024)

/* Longest long poll a worker may ask for. */
#define COORD_MAX_WAIT_MS 10000

static void co_put_app(struct http_request *req, void *arg)
{
	size_t len;
	const void *body = http_request_body(req, &len);
	char id[65];
	int r;

	if ((r = coord_app_put(arg, body, len, id)) != 0) {
		http_reply_error(req, wire_status_from_errno(r),
				 "cannot store app: %s", strerror(-r));
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "id", id));
}

static void co_get_app(struct http_request *req, void *arg)
{
	const char *id = http_request_query(req, "id");
	void *data = NULL;
	size_t len = 0;

	if (id == NULL || coord_app_get(arg, id, &data, &len) != 0) {
		http_reply_error(req, DFS_ERR_NOENT, "no such app");
		return;
	}
	http_reply_buffer(req, 200, data, len, "application/octet-stream");
}

static void co_submit(struct http_request *req, void *arg)
{
	json_t *body = http_request_json(req);
	char *id = NULL, *err = NULL;
	int r;

	if (body == NULL)
		return;
	if ((r = coord_submit(arg, body, &id, &err)) != 0)
		http_reply_error(req, wire_status_from_errno(r), "%s",
				 err != NULL ? err : strerror(-r));
	else
		http_reply_json(req, 200, json_pack("{s:s}", "job", id));
	free(id);
	free(err);
	json_decref(body);
}

static void co_job(struct http_request *req, void *arg)
{
	const char *id = http_request_query(req, "id");
	const char *tasks = http_request_query(req, "tasks");
	json_t *o = NULL;

	if (id != NULL)
		o = coord_job_json(arg, id,
				   tasks != NULL && strcmp(tasks, "1") == 0);
	if (o == NULL) {
		http_reply_error(req, DFS_ERR_NOENT, "no such job");
		return;
	}
	http_reply_json(req, 200, o);
}

static void co_jobs(struct http_request *req, void *arg)
{
	http_reply_json(req, 200, coord_jobs_json(arg));
}

static void co_register(struct http_request *req, void *arg)
{
	json_t *body = http_request_json(req);
	const char *addr = NULL, *chunkd = NULL;
	uint64_t slots = 1, id;
	int64_t hb_ms = 1000;

	if (body == NULL)
		return;
	if (proto_get_str(body, "addr", DFS_ADDR_MAX - 1, &addr) != 0 ||
	    proto_get_str(body, "chunkd", DFS_ADDR_MAX - 1, &chunkd) != 0 ||
	    !proto_addr_is_valid(addr) || !proto_addr_is_valid(chunkd) ||
	    proto_opt_u64(body, "slots", 1024, &slots) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "need \"addr\", \"chunkd\" (host:port), "
				 "\"slots\"");
		goto out;
	}
	id = coord_register(arg, addr, chunkd, (unsigned)slots, &hb_ms);
	http_reply_json(req, 200,
			json_pack("{s:I, s:I}", "worker", (json_int_t)id,
				  "heartbeat_ms", (json_int_t)hb_ms));
out:
	json_decref(body);
}

static void co_heartbeat(struct http_request *req, void *arg)
{
	json_t *body = http_request_json(req), *reply = NULL;

	if (body == NULL)
		return;
	coord_heartbeat(arg, body, &reply);
	http_reply_json(req, 200, reply);
	json_decref(body);
}

static void co_poll(struct http_request *req, void *arg)
{
	json_t *body = http_request_json(req), *task = NULL;
	uint64_t wid = 0, wait = 0;

	if (body == NULL)
		return;
	if (proto_get_u64(body, "worker", UINT64_MAX, &wid) != 0 ||
	    proto_opt_u64(body, "wait_ms", COORD_MAX_WAIT_MS, &wait) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "need \"worker\" and \"wait_ms\" <= %d",
				 COORD_MAX_WAIT_MS);
	} else if (coord_poll(arg, wid, (int64_t)wait, &task) != 0) {
		http_reply_error(req, DFS_ERR_NOENT, "unknown worker %" PRIu64,
				 wid);
	} else {
		http_reply_json(req, 200,
				task != NULL ? json_pack("{s:o}", "task", task)
					     : NULL);
	}
	json_decref(body);
}

static void co_done(struct http_request *req, void *arg)
{
	json_t *body = http_request_json(req);

	if (body == NULL)
		return;
	if (coord_done(arg, body) != 0)
		http_reply_error(req, DFS_ERR_INVAL,
				 "need \"worker\", \"attempt\", \"ok\"");
	else
		http_reply_json(req, 200, NULL);
	json_decref(body);
}

static void co_health(struct http_request *req, void *arg)
{
	http_reply_json(req, 200, coord_health_json(arg));
}

/* A plain-text status page: one line per job. */
static void co_page(struct http_request *req, void *arg)
{
	json_t *jobs = coord_jobs_json(arg), *j, *cn;
	char *text = xstrdup("mr coordinator\n\njob\tstate\tmaps\treduces"
			     "\tdata-local\toutput\n"), *line, *t;
	size_t i;

	json_array_foreach(json_object_get(jobs, "jobs"), i, j) {
		cn = json_object_get(j, "counters");
		line = xasprintf(
			"%s\t%s\t%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
			"\t%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
			"\t%" JSON_INTEGER_FORMAT "\t%s\n",
			json_string_value(json_object_get(j, "id")),
			json_string_value(json_object_get(j, "state")),
			json_integer_value(json_object_get(j, "maps_done")),
			json_integer_value(json_object_get(j, "maps")),
			json_integer_value(json_object_get(j, "reduces_done")),
			json_integer_value(json_object_get(j, "reduces")),
			json_integer_value(
				json_object_get(cn, "data_local_maps")),
			json_string_value(json_object_get(j, "output")));
		t = xasprintf("%s%s", text, line);
		free(text);
		free(line);
		text = t;
	}
	http_reply_text(req, 200, "text/plain; charset=utf-8", text);
	free(text);
	json_decref(jobs);
}

static const struct http_route co_routes[] = {
	{ "GET", "/", co_page, 0, 0 },
	{ "GET", MR_EP_HEALTH, co_health, 0, 0 },
	{ "PUT", MR_EP_APP_PUT, co_put_app, MR_MAX_APP, 0 },
	{ "GET", MR_EP_APP, co_get_app, 0, 0 },
	{ "POST", MR_EP_SUBMIT, co_submit, COORD_MAX_JSON, 0 },
	{ "GET", MR_EP_JOB, co_job, 0, 0 },
	{ "GET", MR_EP_JOBS, co_jobs, 0, 0 },
	{ "POST", MR_EP_REGISTER, co_register, COORD_MAX_JSON, 0 },
	{ "POST", MR_EP_HEARTBEAT, co_heartbeat, COORD_MAX_JSON, 0 },
	{ "POST", MR_EP_POLL, co_poll, COORD_MAX_JSON, 0 },
	{ "POST", MR_EP_DONE, co_done, COORD_MAX_JSON, 0 },
};

/* Options; "ms" fields are milliseconds. */
struct co_opts {
	const char *listen;
	const char *master;
	const char *data;
	struct coord_opts c;
	struct secure_opts sec;   /* --secret, --ca, --tls-* (secure.h) */
};

/* Paths served without request authentication: the status page and
 * the liveness probe. */
static const char *const co_public_paths[] = { "/", MR_EP_HEALTH, NULL };

static void co_usage(FILE *fp)
{
	fprintf(fp,
		"usage: mr coordinator [--listen ADDR] [--master ADDR] "
		"[--data DIR]\n"
		"         [--worker-timeout MS] [--task-timeout MS] "
		"[--locality-wait MS]\n"
		"         [--backup-after MS] [--max-failures N]\n"
		"         [--secret FILE] [--ca FILE] "
		"[--tls-cert FILE --tls-key FILE]\n"
		"  --listen ADDR         serve here (default %s; port 0: any)\n"
		"  --master ADDR         DFS master (default $DFS_MASTER or "
		"127.0.0.1:9000)\n"
		"  --data DIR            save finished jobs in DIR/jobs\n"
		"  --worker-timeout MS   a silent worker is dead (10000)\n"
		"  --task-timeout MS     an attempt without progress is "
		"abandoned (60000)\n"
		"  --locality-wait MS    a map waits for a data-local worker "
		"(1000)\n"
		"  --backup-after MS     least run time of a task before a "
		"backup copy (5000)\n"
		"  --max-failures N      task errors that fail a job (4)\n"
		SECURE_HELP_DAEMON, MR_DEFAULT_COORDINATOR);
}

enum co_code {
	CO_WORKER_TIMEOUT = 1000,
	CO_TASK_TIMEOUT,
	CO_LOCALITY_WAIT,
	CO_BACKUP_AFTER,
	CO_MAX_FAILURES,
};

static const struct option co_long[] = {
	{ "backup-after", required_argument, NULL, CO_BACKUP_AFTER },
	{ "data", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "listen", required_argument, NULL, 'l' },
	{ "locality-wait", required_argument, NULL, CO_LOCALITY_WAIT },
	{ "master", required_argument, NULL, 'm' },
	{ "max-failures", required_argument, NULL, CO_MAX_FAILURES },
	{ "task-timeout", required_argument, NULL, CO_TASK_TIMEOUT },
	{ "worker-timeout", required_argument, NULL, CO_WORKER_TIMEOUT },
	SECURE_LONGOPTS_DAEMON,
	{ NULL, 0, NULL, 0 },
};

/* Parse a millisecond or count option into *out; false if bad. */
static bool co_num(const char *name, const char *arg, unsigned long long min,
		   unsigned long long max, int64_t *out)
{
	unsigned long long v;

	if (!util_parse_uint(arg, min, max, &v)) {
		fprintf(stderr, "mr coordinator: bad --%s '%s' (%llu..%llu)\n",
			name, arg, min, max);
		return false;
	}
	*out = (int64_t)v;
	return true;
}

/* 0, 1 for --help, -1 on a usage error. */
static int co_parse(int argc, char **argv, struct co_opts *o)
{
	int64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "d:hl:m:", co_long, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'h': co_usage(stdout); return 1;
		case 'l': o->listen = optarg; break;
		case 'm': o->master = optarg; break;
		case CO_WORKER_TIMEOUT:
			if (!co_num("worker-timeout", optarg, 100, 3600000,
				    &o->c.worker_timeout_ms))
				return -1;
			break;
		case CO_TASK_TIMEOUT:
			if (!co_num("task-timeout", optarg, 100, 86400000,
				    &o->c.task_timeout_ms))
				return -1;
			break;
		case CO_LOCALITY_WAIT:
			if (!co_num("locality-wait", optarg, 0, 3600000,
				    &o->c.locality_wait_ms))
				return -1;
			break;
		case CO_BACKUP_AFTER:
			if (!co_num("backup-after", optarg, 0, 86400000,
				    &o->c.backup_after_ms))
				return -1;
			break;
		case CO_MAX_FAILURES:
			if (!co_num("max-failures", optarg, 1, 1000, &v))
				return -1;
			o->c.max_failures = (unsigned)v;
			break;
		default:
			if (secure_getopt(&o->sec, c, optarg))
				break;
			co_usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mr coordinator: unexpected '%s'\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

/* Block the stop signals in every thread; main waits for them. */
static void co_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

int cmd_coordinator(int argc, char **argv)
{
	struct co_opts o = {
		.listen = MR_DEFAULT_COORDINATOR,
		.master = dfs_default_master(),
		.c = { .worker_timeout_ms = 10000, .task_timeout_ms = 60000,
		       .locality_wait_ms = 1000, .backup_after_ms = 5000,
		       .max_failures = 4 },
	};
	struct http_server_opts so = { 0 };
	struct http_server *srv = NULL;
	struct coord *c = NULL;
	sigset_t set;
	int r, sig;

	log_init("mr-coordinator", LOG_LEVEL_INFO);
	if ((r = co_parse(argc, argv, &o)) != 0)
		return r > 0 ? 0 : 2;
	if (!proto_addr_is_valid(o.master)) {
		fprintf(stderr, "mr coordinator: bad master address '%s'\n",
			o.master);
		return 2;
	}
	if (o.data != NULL && (r = util_mkdir_p(o.data)) != 0) {
		fprintf(stderr, "mr coordinator: cannot create '%s': %s\n",
			o.data, strerror(-r));
		return 1;
	}
	if (secure_init("mr coordinator", &o.sec, SECURE_DAEMON) != 0)
		return 1;
	o.c.master = o.master;
	o.c.data_dir = o.data;
	co_block_signals(&set);
	c = coord_new(&o.c);
	so.listen = o.listen;
	secure_server_opts(&so, co_public_paths);
	if ((srv = http_server_new(&so, co_routes,
				   sizeof(co_routes) / sizeof(co_routes[0]),
				   c)) == NULL) {
		log_errorx("cannot listen on '%s'", o.listen);
		coord_free(c);
		secure_release();
		return 1;
	}
	log_info("listening on %.*s:%u", (int)strcspn(o.listen, ":"),
		 o.listen, http_server_port(srv));
	log_info("master '%s', worker timeout %" PRId64 " ms, task timeout %"
		 PRId64 " ms", o.master, o.c.worker_timeout_ms,
		 o.c.task_timeout_ms);
	while (sigwait(&set, &sig) != 0)
		;
	log_info("stopping on signal %d", sig);
	coord_stop(c);
	http_server_free(srv);
	coord_free(c);
	secure_release();
	return 0;
}
