/*
 * plan.c - job request validation and DFS-side preparation (see plan.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfs_proto.h"
#include "dfsutil.h"
#include "mr_proto.h"
#include "plan.h"
#include "proto.h"
#include "util.h"
#include "xmalloc.h"

#include "banned.h"

/* Most inputs named in one request. */
#define PLAN_MAX_INPUTS 10000

/* Chunk locations asked per EP_CHUNKS call. */
#define PLAN_CHUNK_BATCH 1024

/* Longest streaming command. */
#define PLAN_MAX_CMD 65536

bool plan_path_is_valid(const char *s)
{
	const char *p = s, *e;
	char name[DFS_NAME_MAX + 1];
	size_t n;

	if (s == NULL || s[0] != '/' || strlen(s) >= DFS_PATH_MAX)
		return false;
	if (s[1] == '\0')
		return true;
	while (*p == '/') {
		p++;
		e = strchr(p, '/');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n > DFS_NAME_MAX)
			return false;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!proto_name_is_valid(name))
			return false;
		p += n;
	}
	return *p == '\0';
}

static char *plan_errf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *plan_errf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s != NULL ? s : xstrdup("out of memory");
}

/* Inputs: a non-empty array of valid absolute paths. */
static int plan_inputs(struct job_plan *p, const json_t *arr, char **err)
{
	const json_t *v;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > PLAN_MAX_INPUTS) {
		*err = plan_errf("\"inputs\" must be a non-empty array");
		return -EINVAL;
	}
	p->inputs = xcalloc(json_array_size(arr), sizeof(*p->inputs));
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) ||
		    !plan_path_is_valid(json_string_value(v))) {
			*err = plan_errf("input %zu is not a valid DFS path",
					 i);
			return -EINVAL;
		}
		p->inputs[p->ninputs++] = xstrdup(json_string_value(v));
	}
	return 0;
}

/* The app: an object id, or both streaming commands. */
static int plan_app(struct job_plan *p, const json_t *req, char **err)
{
	const char *app = "", *name = "", *mapper = NULL, *reducer = NULL;
	static const char hex[] = "0123456789abcdef";

	proto_get_str(req, "app", 64, &app);
	proto_get_str(req, "app_name", 255, &name);
	proto_get_str(req, "mapper", PLAN_MAX_CMD, &mapper);
	proto_get_str(req, "reducer", PLAN_MAX_CMD, &reducer);
	if (app[0] != '\0') {
		if (strlen(app) != 64 || strspn(app, hex) != 64 ||
		    mapper != NULL || reducer != NULL) {
			*err = plan_errf("bad \"app\" (a SHA-256 in hex, "
					 "without mapper/reducer)");
			return -EINVAL;
		}
	} else if (mapper == NULL || reducer == NULL || mapper[0] == '\0' ||
		   reducer[0] == '\0') {
		*err = plan_errf("give \"app\" or both \"mapper\" and "
				 "\"reducer\"");
		return -EINVAL;
	}
	p->app = xstrdup(app);
	p->app_name = xstrdup(app[0] != '\0' ? name : "streaming");
	p->mapper = mapper != NULL ? xstrdup(mapper) : NULL;
	p->reducer = reducer != NULL ? xstrdup(reducer) : NULL;
	return 0;
}

struct job_plan *plan_from_request(const json_t *req, char **err)
{
	struct job_plan *p = xcalloc(1, sizeof(*p));
	const char *output = NULL;
	uint64_t reduces = 1, delay = 0;
	char **params;
	int r;

	*err = NULL;
	if ((r = plan_inputs(p, json_object_get(req, "inputs"), err)) != 0 ||
	    (r = plan_app(p, req, err)) != 0)
		goto out;
	if (proto_get_str(req, "output", DFS_PATH_MAX, &output) != 0 ||
	    !plan_path_is_valid(output) || strcmp(output, "/") == 0) {
		*err = plan_errf("\"output\" must be a DFS directory path");
		goto out;
	}
	p->output = xstrdup(output);
	if (proto_opt_u64(req, "reduces", MR_MAX_REDUCES, &reduces) != 0 ||
	    reduces == 0 ||
	    proto_opt_u64(req, "reduce_delay_ms", 3600000, &delay) != 0) {
		*err = plan_errf("bad \"reduces\" (1..%d) or "
				 "\"reduce_delay_ms\"", MR_MAX_REDUCES);
		goto out;
	}
	p->reduces = (unsigned)reduces;
	p->reduce_delay_ms = (int64_t)delay;
	params = util_params_from_json(json_object_get(req, "params"), &r);
	if (params == NULL) {
		*err = plan_errf("\"params\" must map names to strings");
		goto out;
	}
	p->params = util_params_to_json(params);
	util_params_free(params);
	return p;
out:
	if (*err == NULL)
		*err = plan_errf("bad request");
	plan_free(p);
	return NULL;
}

void plan_free(struct job_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->ninputs; i++)
		free(p->inputs[i]);
	free(p->inputs);
	for (i = 0; i < p->nmaps; i++)
		free(p->maps[i].file);
	free(p->maps);
	free(p->output);
	free(p->app);
	free(p->app_name);
	free(p->mapper);
	free(p->reducer);
	json_decref(p->params);
	free(p);
}

/* State of the input expansion. */
struct plan_expand {
	struct job_plan *p;
	struct http_client *hc;
	const char *master;
	char **err;
};

/* Fill map inputs [first, first+n) of file from one EP_CHUNKS reply. */
static int plan_fill_chunks(struct map_input *mi, uint64_t first,
			    uint64_t n, const json_t *reply)
{
	const json_t *arr = json_object_get(reply, "chunks"), *v;
	struct dfs_chunk ch;
	size_t i;

	if (!json_is_array(arr))
		return -EPROTO;
	json_array_foreach(arr, i, v) {
		if (proto_chunk_from_json(v, &ch) != 0)
			return -EPROTO;
		if (ch.index < first || ch.index >= first + n)
			continue;
		mi[ch.index - first].chunk = ch;
	}
	return 0;
}

/* Add one map input per chunk of a file. */
static int plan_add_file(void *arg, const char *path,
			 const struct dfs_attr *a)
{
	struct plan_expand *x = arg;
	struct job_plan *p = x->p;
	uint64_t cs = 0, n, i, b;
	json_t *reply = NULL;
	struct map_input *mi;
	int r;

	if (a->size == 0)
		return 0;
	if ((r = dfsu_chunks(x->hc, x->master, a->ino, 0, 1, &reply)) != 0 ||
	    (r = proto_get_u64(reply, "chunk_size", UINT64_MAX, &cs)) != 0 ||
	    cs == 0) {
		*x->err = plan_errf("cannot locate chunks of '%s': %s", path,
				    strerror(r != 0 ? -r : EPROTO));
		json_decref(reply);
		return r != 0 ? r : -EPROTO;
	}
	json_decref(reply);
	n = (a->size + cs - 1) / cs;
	if (p->nmaps + n > MR_MAX_MAPS) {
		*x->err = plan_errf("too many input chunks (over %d)",
				    MR_MAX_MAPS);
		return -E2BIG;
	}
	p->maps = xrealloc(p->maps, (p->nmaps + n) * sizeof(*p->maps));
	mi = p->maps + p->nmaps;
	memset(mi, 0, n * sizeof(*mi));
	for (i = 0; i < n; i++) {
		mi[i].file = xstrdup(path);
		mi[i].ino = a->ino;
		mi[i].size = a->size;
		mi[i].chunk_size = cs;
		mi[i].chunk.index = i;
	}
	p->nmaps += n;
	for (b = 0; b < n; b += PLAN_CHUNK_BATCH) {
		uint64_t cnt = n - b < PLAN_CHUNK_BATCH ? n - b
							: PLAN_CHUNK_BATCH;

		reply = NULL;
		if ((r = dfsu_chunks(x->hc, x->master, a->ino, b, cnt,
				     &reply)) == 0)
			r = plan_fill_chunks(mi + b, b, cnt, reply);
		json_decref(reply);
		if (r != 0) {
			*x->err = plan_errf("cannot locate chunks of '%s': %s",
					    path, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Create OUTPUT (absent or empty) and OUTPUT/_temporary. */
static int plan_output(struct job_plan *p, struct dfs_client *dc,
		       char **err)
{
	struct dfs_attr a;
	unsigned n = 0;
	char *tmp;
	int r;

	r = dfs_resolve(dc, p->output, &a);
	if (r == 0 && (r = dfsu_count_entries(dc, a.ino, 1, &n)) == 0 &&
	    n > 0) {
		*err = plan_errf("output '%s' exists and is not empty",
				 p->output);
		return -EEXIST;
	}
	if (r != 0 && r != -ENOENT) {
		*err = plan_errf("output '%s': %s", p->output, strerror(-r));
		return r;
	}
	tmp = xasprintf("%s/_temporary", p->output);
	r = dfsu_mkdir_p(dc, tmp, NULL);
	free(tmp);
	if (r != 0)
		*err = plan_errf("cannot create output '%s': %s", p->output,
				 strerror(-r));
	return r;
}

int plan_prepare(struct job_plan *p, struct dfs_client *dc,
		 struct http_client *hc, char **err)
{
	struct plan_expand x = { p, hc, dfs_client_master(dc), err };
	size_t i;
	int r;

	*err = NULL;
	for (i = 0; i < p->ninputs; i++) {
		r = dfsu_list(dc, p->inputs[i], plan_add_file, &x);
		if (r != 0) {
			if (*err == NULL)
				*err = plan_errf("input '%s': %s", p->inputs[i],
						 strerror(-r));
			return r;
		}
	}
	return plan_output(p, dc, err);
}

int plan_publish(struct dfs_client *dc, const char *output)
{
	char *tmp = xasprintf("%s/_temporary", output);
	char *ok = xasprintf("%s/_SUCCESS", output);
	int r;

	if ((r = dfsu_rm_rf(dc, tmp)) != 0)
		goto out;
	r = dfsu_create(dc, ok, NULL);
	if (r == -EEXIST)
		r = 0;
out:
	free(tmp);
	free(ok);
	return r;
}

char *plan_temp_path(const char *output, unsigned part, uint64_t attempt)
{
	return xasprintf("%s/_temporary/part-%05u.attempt-%" PRIu64, output,
			 part, attempt);
}

char *plan_part_path(const char *output, unsigned part)
{
	return xasprintf("%s/part-%05u", output, part);
}
