/*
 * admin_srv.c - the master's operations API (see admin_srv.h): the route
 * table of the status page, metrics and EP_SETREP, and EP_SETREP itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_srv.h"
#include "http_server.h"
#include "log.h"
#include "master.h"
#include "metrics_http.h"
#include "metrics_srv.h"
#include "namespace.h"
#include "oplog.h"
#include "proto.h"
#include "status_page.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* Largest EP_SETREP request body. */
#define ADMIN_MAX_BODY (64 * 1024)

/* Most inodes one EP_SETREP changes. */
#define SETREP_MAX_INODES 1000000

/* Directory entries read per ns_readdir() call of the walk. */
#define SETREP_READDIR_MAX 1000

/* A growing list of inode numbers. */
struct ino_list {
	uint64_t *v;
	size_t n;
	size_t cap;
};

/* What a setrep walk collects. */
struct setrep_walk {
	uint32_t replication;     /* the factor asked for */
	struct ino_list todo;     /* inodes whose factor differs */
	struct ino_list dirs;     /* directories still to list */
	size_t seen;              /* inodes looked at */
	uint64_t cookie;          /* last entry listed in the current dir */
};

static int ino_list_add(struct ino_list *l, uint64_t ino)
{
	if (l->n == SETREP_MAX_INODES)
		return -E2BIG;
	if (l->n == l->cap) {
		l->cap = l->cap != 0 ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = ino;
	return 0;
}

/* Note one inode of the tree; "recurse": list it later if a directory. */
static int walk_note(struct setrep_walk *w, const struct dfs_attr *a,
		     bool recurse)
{
	int r;

	if (++w->seen > SETREP_MAX_INODES)
		return -E2BIG;
	if (recurse && S_ISDIR(a->mode) &&
	    (r = ino_list_add(&w->dirs, a->ino)) != 0)
		return r;
	if ((S_ISDIR(a->mode) || S_ISREG(a->mode)) &&
	    a->replication != w->replication)
		return ino_list_add(&w->todo, a->ino);
	return 0;
}

static int walk_entry(const char *name, uint64_t cookie,
		      const struct dfs_attr *attr, void *arg)
{
	struct setrep_walk *w = arg;

	(void)name;
	w->cookie = cookie;
	return walk_note(w, attr, true);
}

/* List directory "ino" whole into the walk. */
static int walk_dir(struct ns_reader *rd, uint64_t ino, struct setrep_walk *w)
{
	bool eof = false;
	uint64_t before;
	int r;

	w->cookie = 0;
	while (!eof) {
		before = w->cookie;
		if ((r = ns_readdir(rd, ino, w->cookie, SETREP_READDIR_MAX,
				    walk_entry, w, &eof)) != 0)
			return r;
		if (w->cookie == before)
			break;
	}
	return 0;
}

/*
 * Collect the inodes under "top" (inclusive) whose factor differs, in
 * one snapshot. 0, -E2BIG, or a namespace error.
 */
static int setrep_walk(struct master *m, const struct dfs_attr *top,
		       bool recursive, struct setrep_walk *w)
{
	struct ns_reader *rd;
	size_t next = 0;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if ((r = ns_read_begin(rd)) != 0)
		goto out;
	r = walk_note(w, top, recursive);
	while (r == 0 && next < w->dirs.n)
		r = walk_dir(rd, w->dirs.v[next++], w);
out:
	ns_reader_put(rd);
	return r;
}

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Submit the set_replication ops; *changed counts those applied.
 * Inodes removed meanwhile are skipped. */
static int setrep_apply(struct master *m, struct setrep_walk *w,
			uint64_t *changed)
{
	struct timespec now = time_now_ts();
	json_t *op;
	size_t i;
	int r = 0;

	*changed = 0;
	if (w->todo.n > 1)
		qsort(w->todo.v, w->todo.n, sizeof(*w->todo.v), ino_cmp);
	for (i = 0; i < w->todo.n; i++) {
		if (i > 0 && w->todo.v[i] == w->todo.v[i - 1])
			continue;
		op = json_pack("{s:s, s:I, s:I, s:o}", "op", "set_replication",
			       "ino", (json_int_t)w->todo.v[i], "replication",
			       (json_int_t)w->replication, "time",
			       proto_time_to_json(&now));
		r = oplog_submit(m->oplog, op, NULL);
		json_decref(op);
		if (r == -ENOENT)
			r = 0;
		else if (r != 0)
			break;
		else
			(*changed)++;
	}
	return r;
}

/* A parsed EP_SETREP request. */
struct setrep_req {
	const char *path;         /* NULL when "ino" names the inode */
	uint64_t ino;
	uint64_t replication;
	bool recursive;
};

static int setrep_parse(const json_t *body, struct setrep_req *sr)
{
	int r;

	memset(sr, 0, sizeof(*sr));
	if (json_object_get(body, "path") != NULL)
		r = proto_get_str(body, "path", DFS_PATH_MAX, &sr->path);
	else if ((r = proto_get_u64(body, "ino", NS_MAX_ID, &sr->ino)) == 0 &&
		 sr->ino == 0)
		r = -EINVAL;
	if (r == 0)
		r = proto_get_u64(body, "replication", DFS_MAX_REPLICAS,
				  &sr->replication);
	if (r == 0 && sr->replication == 0)
		r = -EINVAL;
	if (r == 0)
		r = proto_opt_bool(body, "recursive", &sr->recursive);
	return r;
}

/* The inode a request names. */
static int setrep_target(struct master *m, const struct setrep_req *sr,
			 struct dfs_attr *attr)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if (sr->path != NULL)
		r = ns_resolve(rd, sr->path, attr);
	else
		r = ns_getattr(rd, sr->ino, attr);
	ns_reader_put(rd);
	return r;
}

static void handle_setrep(struct http_request *req, void *arg)
{
	struct setrep_walk w = { 0 };
	struct master *m = arg;
	struct setrep_req sr;
	struct dfs_attr top;
	uint64_t changed = 0;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = setrep_parse(body, &sr)) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "invalid 'path', 'ino', 'replication' or "
				 "'recursive'");
		goto out;
	}
	w.replication = (uint32_t)sr.replication;
	if ((r = setrep_target(m, &sr, &top)) != 0 ||
	    (r = setrep_walk(m, &top, sr.recursive, &w)) != 0 ||
	    (r = setrep_apply(m, &w, &changed)) != 0) {
		http_reply_error(req, wire_status_from_errno(r), "setrep: %s",
				 strerror(-r));
		goto out;
	}
	log_info("replication of inode %" PRIu64 "%s set to %u (%" PRIu64
		 " inodes changed)",
		 top.ino, sr.recursive ? " and below" : "", w.replication,
		 changed);
	http_reply_json(req, 200,
			json_pack("{s:s, s:I, s:I}", "path",
				  sr.path != NULL ? sr.path : "", "replication",
				  (json_int_t)w.replication, "changed",
				  (json_int_t)changed));
out:
	free(w.todo.v);
	free(w.dirs.v);
	json_decref(body);
}

/* EP_BACKUP: a copy of the metadata database on the master's host. */
static void handle_backup(struct http_request *req, void *arg)
{
	struct master *m = arg;
	const char *path = NULL;
	struct stat sb;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (proto_get_str(body, "path", DFS_PATH_MAX, &path) != 0 ||
	    path[0] != '/') {
		http_reply_error(req, DFS_ERR_INVAL,
				 "'path' must be an absolute path");
		goto out;
	}
	if ((r = ns_backup(m->ns, path)) != 0 || stat(path, &sb) != 0) {
		http_reply_error(req, wire_status_from_errno(r ? r : -EIO),
				 "cannot back the metadata up to '%s': %s",
				 path, strerror(r ? -r : EIO));
		goto out;
	}
	log_info("metadata backed up to '%s' (%lld bytes)", path,
		 (long long)sb.st_size);
	http_reply_json(req, 200,
			json_pack("{s:s, s:I}", "path", path, "bytes",
				  (json_int_t)sb.st_size));
out:
	json_decref(body);
}

const struct http_route admin_srv_routes[] = {
	{ "GET", EP_STATUS_PAGE, status_page_handle, 0, 0 },
	{ "GET", EP_OVERVIEW, status_page_overview, 0, 0 },
	{ "GET", EP_JOBS, status_page_jobs, 0, 0 },
	{ "GET", EP_METRICS, metrics_http_handle, 0, 0 },
	{ "POST", EP_SETREP, handle_setrep, ADMIN_MAX_BODY, 0 },
	{ "POST", EP_BACKUP, handle_backup, ADMIN_MAX_BODY, 0 },
};
const size_t admin_srv_nroutes =
	sizeof(admin_srv_routes) / sizeof(admin_srv_routes[0]);

int admin_srv_start(struct master *m)
{
	status_page_start(m);
	return metrics_srv_start(m);
}

void admin_srv_stop(struct master *m)
{
	metrics_srv_stop(m);
	status_page_stop(m);
}
