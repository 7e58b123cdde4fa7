/*
 * submit.c - `mr submit` (upload the app, submit a job, follow it until
 * it ends) and `mr status` (show one job or list them).
 *
 * Input and output paths are DFS paths ("/in") or paths under a DFS
 * mount ("/mnt/dfs/in", or relative to a directory inside the mount):
 * the mount point, found in $DFS_MOUNT or among the FUSE mounts of
 * /proc/mounts whose type or source names dfs, is stripped.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "http_client.h"
#include "jobopts.h"
#include "log.h"
#include "mr_proto.h"
#include "proto.h"
#include "secure.h"
#include "timeutil.h"
#include "util.h"
#include "wire.h"
#include "xmalloc.h"

#include "banned.h"

/* Job status is asked this often while following a job. */
#define SUB_POLL_MS 300

/* Give up after the coordinator was unreachable this long. */
#define SUB_UNREACHABLE_MS 60000

/* Counters printed at the end, in this order. */
static const char *const sub_counters[] = {
	"maps", "reduces", "data_local_maps", "map_attempts",
	"reduce_attempts", "failed_attempts", "backup_tasks", "bytes_read",
	"bytes_written", "shuffle_bytes", "map_records_in", "map_records_out",
	"reduce_records_in", "reduce_records_out",
};

static const char *sub_coordinator(const char *opt)
{
	const char *env = getenv("DFS_COORDINATOR");

	return opt != NULL ? opt : env != NULL ? env : MR_DEFAULT_COORDINATOR;
}

/* ------------------------------------------------------------------ */
/* Paths                                                                */
/* ------------------------------------------------------------------ */

/* Decode the octal escapes (\040) of a /proc/mounts field in place. */
static void sub_unescape(char *s)
{
	char *d = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' &&
		    s[2] != '\0' && s[3] != '\0') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* Length of the DFS mount point that path lies under, or 0. */
static size_t sub_mount_prefix(const char *path)
{
	char dev[4096], mnt[4096], type[256];
	const char *env = getenv("DFS_MOUNT");
	size_t n, best = 0;
	FILE *fp;

	if (env != NULL && (n = strlen(env)) > 1 &&
	    strncmp(path, env, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		return env[n - 1] == '/' ? n - 1 : n;
	if ((fp = fopen("/proc/mounts", "re")) == NULL)
		return 0;
	while (fscanf(fp, "%4095s %4095s %255s %*[^\n]", dev, mnt, type) == 3) {
		if (strncmp(type, "fuse", 4) != 0 ||
		    (strstr(type, "dfs") == NULL && strstr(dev, "dfs") == NULL))
			continue;
		sub_unescape(mnt);
		n = strlen(mnt);
		if (n > 1 && n > best && strncmp(path, mnt, n) == 0 &&
		    (path[n] == '/' || path[n] == '\0'))
			best = n;
	}
	fclose(fp);
	return best;
}

/* Lexically clean an absolute path: no "//", ".", "..", trailing '/'. */
static char *sub_clean(const char *path)
{
	char *out = xmalloc(strlen(path) + 2), *seg;
	const char *p = path, *e;
	size_t len = 0, n;

	while (*p != '\0') {
		while (*p == '/')
			p++;
		e = p + strcspn(p, "/");
		n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p = e;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			seg = memrchr(out, '/', len);
			len = seg != NULL ? (size_t)(seg - out) : 0;
		} else {
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = e;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

/* The DFS path for a command-line path; NULL (message printed) if it
 * is relative and not inside a DFS mount. */
static char *sub_dfs_path(const char *arg)
{
	char cwd[4096], *abs, *clean, *res;
	size_t n;

	if (arg[0] == '/') {
		abs = xstrdup(arg);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			fprintf(stderr,
				"mr: cannot get the current directory\n");
			return NULL;
		}
		abs = xasprintf("%s/%s", cwd, arg);
	}
	clean = sub_clean(abs);
	free(abs);
	n = sub_mount_prefix(clean);
	if (n == 0 && arg[0] != '/') {
		fprintf(stderr, "mr: '%s' is neither a DFS path nor inside a "
			"DFS mount\n", arg);
		free(clean);
		return NULL;
	}
	res = sub_clean(clean[n] != '\0' ? clean + n : "/");
	free(clean);
	return res;
}

/* ------------------------------------------------------------------ */
/* Coordinator calls                                                    */
/* ------------------------------------------------------------------ */

/*
 * Send a request and parse the JSON reply into *reply. On a wire error
 * the peer's message is printed after "what" and -errno returned.
 */
static int sub_call(struct http_client *hc, const char *coord,
		    const char *method, const char *path, const void *body,
		    size_t len, const char *type, const char *what,
		    json_t **reply)
{
	struct http_result res = { 0 };
	const char *msg = NULL;
	uint64_t err = 0;
	json_t *o = NULL;
	int r;

	*reply = NULL;
	r = http_client_request(hc, method, coord, path, body, len, type,
				16 << 20, &res);
	if (r == 0 && (res.body == NULL ||
		       (o = json_loads(res.body, 0, NULL)) == NULL ||
		       !json_is_object(o)))
		r = -EPROTO;
	if (r == 0 && res.status != 200) {
		proto_get_u64(o, "err", DFS_ERR_MAX, &err);
		proto_get_str(o, "message", 4096, &msg);
		r = -(err != 0 ? wire_status_to_errno((int)err) : EIO);
	}
	if (r != 0)
		fprintf(stderr, "mr: %s: %s\n", what,
			msg != NULL ? msg : strerror(-r));
	if (r == 0)
		*reply = o;
	else
		json_decref(o);
	http_result_release(&res);
	return r;
}

/* Upload the app object; id receives its id. 0 or -errno (printed). */
static int sub_upload(struct http_client *hc, const char *coord,
		      const char *path, char *id, size_t idlen)
{
	json_t *reply = NULL;
	const char *s;
	size_t len = 0;
	char *data;
	int r;

	if ((data = util_map_file(path, &len)) == NULL) {
		fprintf(stderr, "mr: cannot read app '%s': %s\n", path,
			strerror(errno));
		return -errno;
	}
	r = sub_call(hc, coord, "PUT", MR_EP_APP_PUT, data, len,
		     "application/octet-stream", "cannot upload the app",
		     &reply);
	util_unmap(data, len);
	if (r == 0 && proto_get_str(reply, "id", 64, &s) != 0) {
		fprintf(stderr, "mr: bad reply to the app upload\n");
		r = -EPROTO;
	}
	if (r == 0)
		snprintf(id, idlen, "%s", s);
	json_decref(reply);
	return r;
}

/* GET a job object (or the list with id NULL); NULL on failure. */
static json_t *sub_get_job(struct http_client *hc, const char *coord,
			   const char *id, bool tasks, int *err)
{
	char *q = id != NULL ? xasprintf("%s?id=%s%s", MR_EP_JOB, id,
					 tasks ? "&tasks=1" : "")
			     : xstrdup(MR_EP_JOBS);
	json_t *o = NULL;

	*err = rpc_get(hc, coord, q, &o, NULL);
	free(q);
	return *err == 0 ? o : NULL;
}

static json_int_t sub_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* One progress line: maps, reduces, data-local share. */
static char *sub_progress(const json_t *job)
{
	const json_t *cn = json_object_get(job, "counters");
	json_int_t maps = sub_int(job, "maps");
	json_int_t done = sub_int(job, "maps_done");
	json_int_t local = sub_int(cn, "data_local_maps");

	return xasprintf("map %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
			 " (data-local %" JSON_INTEGER_FORMAT "%%)  reduce %"
			 JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
			 "  failed attempts %" JSON_INTEGER_FORMAT,
			 done, maps, done > 0 ? 100 * local / done : 0,
			 sub_int(job, "reduces_done"), sub_int(job, "reduces"),
			 sub_int(cn, "failed_attempts"));
}

static void sub_print_summary(FILE *fp, const json_t *job)
{
	const json_t *cn = json_object_get(job, "counters");
	const char *err = json_string_value(json_object_get(job, "error"));
	size_t i;

	fprintf(fp, "job %s %s in %.1f s, output %s\n",
		json_string_value(json_object_get(job, "id")),
		json_string_value(json_object_get(job, "state")),
		(double)sub_int(job, "elapsed_ms") / 1000.0,
		json_string_value(json_object_get(job, "output")));
	if (err != NULL && err[0] != '\0')
		fprintf(fp, "error: %s\n", err);
	for (i = 0; i < sizeof(sub_counters) / sizeof(sub_counters[0]); i++)
		fprintf(fp, "  %-20s %" JSON_INTEGER_FORMAT "\n",
			sub_counters[i], sub_int(cn, sub_counters[i]));
}

/* Follow job id until it ends; returns the exit status. */
static int sub_follow(struct http_client *hc, const char *coord,
		      const char *id, long timeout_s, bool quiet)
{
	int64_t start = time_mono_ms(), ok_at = start, shown = 0;
	char *line, *last = NULL;
	const char *state;
	json_t *job;
	int err, status = 1;

	for (;;) {
		job = sub_get_job(hc, coord, id, false, &err);
		if (job == NULL && err == -ENOENT) {
			fprintf(stderr, "mr: the coordinator no longer knows job "
				"%s (restarted?)\n", id);
			break;
		}
		if (job == NULL) {
			if (time_mono_ms() - ok_at > SUB_UNREACHABLE_MS) {
				fprintf(stderr, "mr: lost the coordinator: "
					"%s\n", strerror(-err));
				break;
			}
			util_sleep_ms(1000, NULL);
			continue;
		}
		ok_at = time_mono_ms();
		line = sub_progress(job);
		state = json_string_value(json_object_get(job, "state"));
		if (!quiet && (last == NULL || strcmp(line, last) != 0 ||
			       ok_at - shown >= 10000)) {
			fprintf(stderr, "[%6.1fs] %s\n",
				(double)(ok_at - start) / 1000.0, line);
			shown = ok_at;
		}
		free(last);
		last = line;
		if (state != NULL && strcmp(state, "running") != 0) {
			sub_print_summary(stdout, job);
			status = strcmp(state, "succeeded") == 0 ? 0 : 1;
			json_decref(job);
			break;
		}
		json_decref(job);
		if (timeout_s > 0 && ok_at - start > timeout_s * 1000) {
			fprintf(stderr, "mr: job %s still running after %ld s "
				"(not cancelled)\n", id, timeout_s);
			break;
		}
		util_sleep_ms(SUB_POLL_MS, NULL);
	}
	free(last);
	return status;
}

/* ------------------------------------------------------------------ */
/* mr submit                                                            */
/* ------------------------------------------------------------------ */

struct sub_opts {
	struct jobopts job;
	char **inputs;           /* DFS paths, owned */
	size_t ninputs;
	const char *coordinator;
	unsigned long long reduce_delay_ms;
	unsigned long long timeout_s;
	bool quiet;
	struct secure_opts sec;  /* --secret, --ca (secure.h) */
};

enum sub_code {
	SUB_COORDINATOR = 2000,
	SUB_INPUT,
	SUB_REDUCE_DELAY,
	SUB_TIMEOUT,
	SUB_QUIET,
};

static const struct option sub_long[] = {
	JOBOPTS_LONG,
	{ "coordinator", required_argument, NULL, SUB_COORDINATOR },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, SUB_INPUT },
	{ "quiet", no_argument, NULL, SUB_QUIET },
	{ "reduce-delay", required_argument, NULL, SUB_REDUCE_DELAY },
	{ "timeout", required_argument, NULL, SUB_TIMEOUT },
	SECURE_LONGOPTS_CLIENT,
	{ NULL, 0, NULL, 0 },
};

static void sub_usage(FILE *fp)
{
	fprintf(fp,
		"usage: mr submit --input PATH... --output DIR\n"
		"         (--app FILE.so | --mapper CMD --reducer CMD) "
		"[--reduces R]\n"
		"         [--param NAME=VALUE]... [--coordinator ADDR] "
		"[--timeout S] [--quiet]\n"
		"         [--reduce-delay MS] [--secret FILE] [--ca FILE]\n"
		"Paths are DFS paths or paths under a DFS mount; a directory "
		"stands for the\nfiles in it. Prints progress on stderr and "
		"the counters at the end; exits 0\nwhen the job succeeded. The "
		"coordinator is --coordinator, $DFS_COORDINATOR\nor %s. "
		"--reduce-delay holds the reduce phase back (for tests).\n",
		MR_DEFAULT_COORDINATOR);
}

static int sub_add_input(struct sub_opts *o, const char *arg)
{
	char *p = sub_dfs_path(arg);

	if (p == NULL)
		return -1;
	o->inputs = xrealloc(o->inputs, (o->ninputs + 1) * sizeof(*o->inputs));
	o->inputs[o->ninputs++] = p;
	return 0;
}

/* 0, 1 for --help, -1 on a usage error (message printed). */
static int sub_parse(int argc, char **argv, struct sub_opts *o)
{
	int c, r;

	while ((c = getopt_long(argc, argv, "hq", sub_long, NULL)) != -1) {
		if ((r = jobopts_parse(&o->job, c, optarg)) < 0)
			return -1;
		if (r > 0)
			continue;
		switch (c) {
		case 'h': sub_usage(stdout); return 1;
		case 'q':
		case SUB_QUIET: o->quiet = true; break;
		case SUB_COORDINATOR: o->coordinator = optarg; break;
		case SUB_INPUT:
			if (sub_add_input(o, optarg) != 0)
				return -1;
			break;
		case SUB_REDUCE_DELAY:
			if (!util_parse_uint(optarg, 0, 3600000,
					     &o->reduce_delay_ms))
				goto bad;
			break;
		case SUB_TIMEOUT:
			if (!util_parse_uint(optarg, 0, 86400 * 365,
					     &o->timeout_s))
				goto bad;
			break;
		default:
			if (secure_getopt(&o->sec, c, optarg))
				break;
			sub_usage(stderr);
			return -1;
		}
	}
	for (; optind < argc; optind++)
		if (sub_add_input(o, argv[optind]) != 0)
			return -1;
	if (o->ninputs == 0) {
		fprintf(stderr, "mr submit: --input PATH is required\n");
		return -1;
	}
	return jobopts_check(&o->job, "submit");
bad:
	fprintf(stderr, "mr submit: bad value '%s'\n", optarg);
	return -1;
}

/* The MR_EP_SUBMIT request; NULL (printed) if the output is bad. */
static json_t *sub_request(const struct sub_opts *o, const char *app_id)
{
	json_t *req, *inputs = json_array();
	char *out = sub_dfs_path(o->job.output);
	const char *base;
	size_t i;

	if (out == NULL) {
		json_decref(inputs);
		return NULL;
	}
	for (i = 0; i < o->ninputs; i++)
		json_array_append_new(inputs, json_string(o->inputs[i]));
	req = json_pack("{s:o, s:s, s:I, s:o, s:I}", "inputs", inputs,
			"output", out, "reduces", (json_int_t)o->job.reduces,
			"params", util_params_to_json(o->job.params),
			"reduce_delay_ms", (json_int_t)o->reduce_delay_ms);
	if (o->job.app != NULL) {
		base = strrchr(o->job.app, '/');
		json_object_set_new(req, "app", json_string(app_id));
		json_object_set_new(req, "app_name",
				    json_string(base != NULL ? base + 1
							     : o->job.app));
	} else {
		json_object_set_new(req, "mapper", json_string(o->job.mapper));
		json_object_set_new(req, "reducer",
				    json_string(o->job.reducer));
	}
	free(out);
	return req;
}

int cmd_submit(int argc, char **argv)
{
	struct sub_opts o = { 0 };
	struct http_client_opts ho = { 3000, 600000 };
	struct http_client *hc = NULL;
	json_t *req = NULL, *reply = NULL;
	const char *coord, *job;
	char app_id[65] = "", *text;
	int r, status = 2;
	size_t i;

	jobopts_init(&o.job);
	if ((r = sub_parse(argc, argv, &o)) != 0) {
		status = r > 0 ? 0 : 2;
		goto out;
	}
	status = 1;
	if (secure_init("mr submit", &o.sec, 0) != 0)
		goto out;
	coord = sub_coordinator(o.coordinator);
	hc = http_client_new(&ho);
	if (o.job.app != NULL &&
	    sub_upload(hc, coord, o.job.app, app_id, sizeof(app_id)) != 0)
		goto out;
	if ((req = sub_request(&o, app_id)) == NULL)
		goto out;
	text = json_dumps(req, JSON_COMPACT);
	r = sub_call(hc, coord, "POST", MR_EP_SUBMIT, text, strlen(text),
		     "application/json", "job refused", &reply);
	free(text);
	if (r != 0)
		goto out;
	if (proto_get_str(reply, "job", MR_JOB_ID_MAX, &job) != 0) {
		fprintf(stderr, "mr submit: bad reply from '%s'\n", coord);
		goto out;
	}
	printf("job %s\n", job);
	fflush(stdout);
	status = sub_follow(hc, coord, job, (long)o.timeout_s, o.quiet);
out:
	for (i = 0; i < o.ninputs; i++)
		free(o.inputs[i]);
	free(o.inputs);
	json_decref(req);
	json_decref(reply);
	http_client_free(hc);
	jobopts_release(&o.job);
	secure_release();
	return status;
}

/* ------------------------------------------------------------------ */
/* mr status                                                            */
/* ------------------------------------------------------------------ */

static void st_usage(FILE *fp)
{
	fprintf(fp, "usage: mr status [JOB] [--json] [--tasks] "
		"[--coordinator ADDR]\n"
		"                 [--secret FILE] [--ca FILE]\n"
		"Shows a job's state and counters, or lists the jobs.\n");
}

static void st_list(const json_t *list)
{
	const json_t *j;
	char *line;
	size_t i;

	json_array_foreach(json_object_get(list, "jobs"), i, j) {
		line = sub_progress(j);
		printf("%s  %-9s  %s  %s\n",
		       json_string_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "state")),
		       json_string_value(json_object_get(j, "output")), line);
		free(line);
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "coordinator", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "tasks", no_argument, NULL, 't' },
		SECURE_LONGOPTS_CLIENT,
		{ NULL, 0, NULL, 0 },
	};
	struct secure_opts sec = { 0 };
	const char *coord_opt = NULL, *id = NULL;
	bool json = false, tasks = false;
	struct http_client *hc;
	json_t *o;
	char *text;
	int c, err;

	while ((c = getopt_long(argc, argv, "hjt", lo, NULL)) != -1) {
		switch (c) {
		case 'C': coord_opt = optarg; break;
		case 'h': st_usage(stdout); return 0;
		case 'j': json = true; break;
		case 't': tasks = true; break;
		default:
			if (secure_getopt(&sec, c, optarg))
				break;
			st_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc || (id != NULL && !util_name_is_safe(id))) {
		st_usage(stderr);
		return 2;
	}
	if (secure_init("mr status", &sec, 0) != 0)
		return 1;
	hc = http_client_new(NULL);
	o = sub_get_job(hc, sub_coordinator(coord_opt), id, tasks, &err);
	http_client_free(hc);
	secure_release();
	if (o == NULL) {
		fprintf(stderr, "mr status: %s: %s\n", id != NULL ? id : "jobs",
			strerror(-err));
		return 1;
	}
	if (json) {
		text = json_dumps(o, JSON_COMPACT);
		printf("%s\n", text != NULL ? text : "{}");
		free(text);
	} else if (id != NULL) {
		sub_print_summary(stdout, o);
	} else {
		st_list(o);
	}
	json_decref(o);
	return 0;
}
