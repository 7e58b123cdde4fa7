/*
 * fsck.c - the EP_FSCK endpoint (see fsck.h).
 *
 * The walk keeps a stack of directories still to list; each listing is
 * read page by page into a small array first and acted on afterwards, so
 * no statement is stepped while another runs on the same connection.
 */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>

#include "chunk_srv.h"
#include "fsck.h"
#include "http_server.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "proto.h"
#include "replicator.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* Most problem chunks listed in one answer. */
#define FSCK_MAX_PROBLEMS 1000

/* Directory entries read per listing call. */
#define FSCK_PAGE 1000

/* Totals and problems of one walk. */
struct fsck_ctx {
	struct master *m;
	struct ns_reader *rd;
	uint64_t chunk_size;
	uint64_t files, chunks, healthy, under, missing, corrupt;
	json_t *problems;
	bool truncated;
	/* tsearch(3) set of inode numbers with several names, seen. */
	void *seen;
	/* The file being checked. */
	const char *path;
	const struct dfs_attr *attr;
};

/* A directory waiting to be listed. */
struct fsck_dir {
	uint64_t ino;
	char *path;
};

/* One page of a listing. */
struct fsck_page {
	struct {
		char *name;
		struct dfs_attr attr;
		uint64_t cookie;
	} e[FSCK_PAGE];
	size_t n;
};

static json_t *addr_array(const char (*addrs)[DFS_ADDR_MAX], int n)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(addrs[i]));
	return arr;
}

/* List an unhealthy chunk. */
static void add_problem(struct fsck_ctx *f, const struct dfs_chunk *c,
			const char (*live)[DFS_ADDR_MAX], int nlive,
			const char (*bad)[DFS_ADDR_MAX], int nbad,
			const char *state)
{
	if (json_array_size(f->problems) >= FSCK_MAX_PROBLEMS) {
		f->truncated = true;
		return;
	}
	json_array_append_new(
		f->problems,
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:s}", "path",
			  f->path, "index", (json_int_t)c->index, "handle",
			  (json_int_t)c->handle, "version",
			  (json_int_t)c->version, "replication",
			  (json_int_t)f->attr->replication, "live",
			  addr_array(live, nlive), "corrupt",
			  addr_array(bad, nbad), "state", state));
}

/* ns_chunks() callback: classify one chunk of the current file. */
static int check_chunk(const struct dfs_chunk *c, void *arg)
{
	struct fsck_ctx *f = arg;
	char live[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	char bad[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	int i, nlive = 0, nbad;
	const char *state = NULL;

	if (c->nreplicas == 0 && c->index * f->chunk_size >= f->attr->size)
		return 0;
	for (i = 0; i < c->nreplicas; i++)
		if (chunk_srv_is_alive(f->m->cs, c->replicas[i]))
			memcpy(live[nlive++], c->replicas[i], DFS_ADDR_MAX);
	nbad = replicator_corrupt_on(f->m->repl, c->handle, bad,
				     DFS_MAX_REPLICAS);
	f->chunks++;
	if (nlive == 0) {
		f->missing++;
		state = "missing";
	} else if (nbad > 0) {
		f->corrupt++;
		state = "corrupt";
	} else if ((uint32_t)nlive < f->attr->replication) {
		f->under++;
		state = "under_replicated";
	} else {
		f->healthy++;
	}
	if (state != NULL)
		add_problem(f, c, (const char(*)[DFS_ADDR_MAX])live, nlive,
			    (const char(*)[DFS_ADDR_MAX])bad, nbad, state);
	return 0;
}

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* True the second time a multiply-linked inode is met. */
static bool seen_before(struct fsck_ctx *f, const struct dfs_attr *attr)
{
	uint64_t *key;
	void *node;

	if (attr->nlink <= 1)
		return false;
	key = xmalloc(sizeof(*key));
	*key = attr->ino;
	node = tsearch(key, &f->seen, ino_cmp);
	if (node == NULL)
		fatalx("out of memory");
	if (*(uint64_t **)node != key) {
		free(key);
		return true;
	}
	return false;
}

static int check_file(struct fsck_ctx *f, const char *path,
		      const struct dfs_attr *attr)
{
	if (seen_before(f, attr))
		return 0;
	f->files++;
	f->path = path;
	f->attr = attr;
	return ns_chunks(f->rd, attr->ino, 0, NS_MAX_ID, check_chunk, f);
}

static int page_add(const char *name, uint64_t cookie,
		    const struct dfs_attr *attr, void *arg)
{
	struct fsck_page *pg = arg;

	pg->e[pg->n].name = xstrdup(name);
	pg->e[pg->n].attr = *attr;
	pg->e[pg->n].cookie = cookie;
	pg->n++;
	return 0;
}

static void page_clear(struct fsck_page *pg)
{
	size_t i;

	for (i = 0; i < pg->n; i++)
		free(pg->e[i].name);
	pg->n = 0;
}

/* "dir/name" without doubling the root's slash (caller frees). */
static char *path_join(const char *dir, const char *name)
{
	return xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
}

/* Push directory (ino, path) on the stack (path is taken). */
static void push_dir(struct fsck_dir **stack, size_t *n, size_t *cap,
		     uint64_t ino, char *path)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*stack = xrealloc(*stack, *cap * sizeof(**stack));
	}
	(*stack)[*n].ino = ino;
	(*stack)[(*n)++].path = path;
}

/* Check one page of entries of directory "dir"; subdirectories go on
 * the stack. */
static int check_page(struct fsck_ctx *f, const struct fsck_dir *dir,
		      struct fsck_page *pg, struct fsck_dir **stack,
		      size_t *n, size_t *cap)
{
	char *path;
	size_t i;
	int r = 0;

	for (i = 0; i < pg->n && r == 0; i++) {
		path = path_join(dir->path, pg->e[i].name);
		if (S_ISDIR(pg->e[i].attr.mode)) {
			push_dir(stack, n, cap, pg->e[i].attr.ino, path);
			continue;
		}
		if (S_ISREG(pg->e[i].attr.mode))
			r = check_file(f, path, &pg->e[i].attr);
		free(path);
	}
	return r;
}

/* List directory "dir" page by page. */
static int check_dir(struct fsck_ctx *f, const struct fsck_dir *dir,
		     struct fsck_page *pg, struct fsck_dir **stack, size_t *n,
		     size_t *cap)
{
	uint64_t cookie = 0;
	bool eof = false;
	int r = 0;

	while (!eof && r == 0) {
		r = ns_readdir(f->rd, dir->ino, cookie, FSCK_PAGE, page_add, pg,
			       &eof);
		if (r == 0 && pg->n > 0) {
			cookie = pg->e[pg->n - 1].cookie;
			r = check_page(f, dir, pg, stack, n, cap);
		}
		page_clear(pg);
	}
	return r;
}

/* Walk the tree under directory (ino, path). */
static int check_tree(struct fsck_ctx *f, uint64_t ino, const char *path)
{
	struct fsck_dir *stack = NULL, dir;
	struct fsck_page *pg = xcalloc(1, sizeof(*pg));
	size_t n = 0, cap = 0;
	int r = 0;

	push_dir(&stack, &n, &cap, ino, xstrdup(path));
	while (n > 0) {
		dir = stack[--n];
		if (r == 0)
			r = check_dir(f, &dir, pg, &stack, &n, &cap);
		free(dir.path);
	}
	free(stack);
	free(pg);
	return r;
}

/* Resolve "path" and check what is there. */
static int fsck_run(struct fsck_ctx *f, const char *path)
{
	struct dfs_attr attr;
	int r;

	if ((f->rd = ns_reader_get(f->m->ns)) == NULL)
		return -EIO;
	if ((r = ns_read_begin(f->rd)) == 0 &&
	    (r = ns_resolve(f->rd, path, &attr)) == 0) {
		if (S_ISDIR(attr.mode))
			r = check_tree(f, attr.ino, path);
		else if (S_ISREG(attr.mode))
			r = check_file(f, path, &attr);
	}
	ns_reader_put(f->rd);
	f->rd = NULL;
	return r;
}

void fsck_handle(struct http_request *req, void *arg)
{
	struct fsck_ctx f = { .m = arg };
	const char *path;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (proto_get_str(body, "path", DFS_PATH_MAX, &path) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'path'");
		goto out;
	}
	f.chunk_size = ns_chunk_size(f.m->ns);
	f.problems = json_array();
	if ((r = fsck_run(&f, path)) != 0) {
		http_reply_error(req, wire_status_from_errno(r), "fsck: %s",
				 strerror(-r));
		goto out;
	}
	http_reply_json(
		req, 200,
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:b}",
			  "path", path, "files", (json_int_t)f.files, "chunks",
			  (json_int_t)f.chunks, "healthy",
			  (json_int_t)f.healthy, "under_replicated",
			  (json_int_t)f.under, "missing", (json_int_t)f.missing,
			  "corrupt", (json_int_t)f.corrupt, "problems",
			  f.problems, "truncated", f.truncated));
out:
	tdestroy(f.seen, free);
	json_decref(f.problems);
	json_decref(body);
}
