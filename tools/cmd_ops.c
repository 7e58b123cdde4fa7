/*
 * cmd_ops.c - operations subcommands of `dfs`: setrep (the replication
 * factor of files and trees, EP_SETREP), du (space used under a path)
 * and df (the cluster's capacity, EP_STATFS).
 *
 * du walks the tree through the client library like ls -R; each inode
 * counts once even when it has several names. Raw space is the logical
 * size times the file's replication factor, what the chunk servers store
 * once re-replication has caught up.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "proto.h"
#include "xmalloc.h"

#include "banned.h"

/* Pause between two checks of setrep -w. */
#define SETREP_POLL_MS 500

/* Flags of setrep, du and df. */
struct ops_opts {
	bool recursive;   /* setrep -R */
	bool wait;        /* setrep -w */
	bool summary;     /* du -s */
	bool human;       /* du -H, df -H (-h is --help) */
};

static int ops_opt(int opt, const char *arg, void *ctx)
{
	struct ops_opts *o = ctx;

	(void)arg;
	switch (opt) {
	case 'R':
	case 'r':
		o->recursive = true;
		return 0;
	case 'w':
		o->wait = true;
		return 0;
	case 's':
		o->summary = true;
		return 0;
	case 'H':
		o->human = true;
		return 0;
	default:
		return -EINVAL;
	}
}

/* A size as bytes, or "1.5G" style with -H, into buf (16 bytes). */
static const char *ops_size(const struct ops_opts *o, uint64_t v, char *buf,
			    size_t size)
{
	if (o->human)
		return cli_human_size(v, buf, size);
	snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

/*
 * ---------------------------------------------------------------------
 * Tree walks (du, setrep -w)
 * ---------------------------------------------------------------------
 */

/* Called per regular file of a walk with its path and attributes. */
typedef int (*ops_file_fn)(const char *path, const struct dfs_attr *a,
			   void *arg);

/* What a walk adds up. */
struct ops_totals {
	uint64_t size;        /* logical bytes */
	uint64_t raw;         /* bytes times replication */
	uint64_t files;
	uint64_t dirs;
};

/* A growing set of inode numbers already counted (hard links). */
struct ops_seen {
	uint64_t *v;
	size_t n, cap;
};

/* True if ino was seen before; records it otherwise. Only inodes with
 * several links are recorded, so the set stays small. */
static bool ops_seen_check(struct ops_seen *s, const struct dfs_attr *a)
{
	size_t i;

	if (a->nlink < 2 || S_ISDIR(a->mode))
		return false;
	for (i = 0; i < s->n; i++)
		if (s->v[i] == a->ino)
			return true;
	if (s->n == s->cap) {
		s->cap = s->cap != 0 ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = a->ino;
	return false;
}

/* One walk in progress. */
struct ops_walk {
	struct cli *cli;
	const char *cmd;          /* for messages */
	struct ops_totals t;
	struct ops_seen seen;
	ops_file_fn fn;           /* may be NULL */
	void *arg;
	int status;               /* CLI_FAIL once something failed */
};

/* One directory entry (name owned). */
struct ops_entry {
	char *name;
	struct dfs_attr attr;
};

/* Directory entries collected before recursing. */
struct ops_dir {
	struct ops_entry *v;
	size_t n, cap;
};

static int ops_dir_add(const struct dfs_dirent *ent, void *arg)
{
	struct ops_dir *d = arg;

	if (d->n == d->cap) {
		d->cap = d->cap != 0 ? 2 * d->cap : 32;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n].name = xstrdup(ent->name);
	d->v[d->n].attr = ent->attr;
	d->n++;
	return 0;
}

static int ops_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ops_entry *)a)->name,
		      ((const struct ops_entry *)b)->name);
}

/* Every entry of directory "ino", sorted by name, into *d. */
static int ops_dir_list(struct cli *cli, uint64_t ino, struct ops_dir *d)
{
	int r;

	if ((r = dfs_readdir(cli_client(cli), ino, 0, ops_dir_add, d)) != 0)
		return r;
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), ops_entry_cmp);
	return 0;
}

static void ops_dir_release(struct ops_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
}

/* Add inode "a" at "path" (and, for a directory, everything below). */
static void ops_walk(struct ops_walk *w, const char *path,
		     const struct dfs_attr *a)
{
	struct ops_dir d = { 0 };
	char sub[DFS_PATH_MAX];
	size_t i;
	int r;

	if (S_ISREG(a->mode) && !ops_seen_check(&w->seen, a)) {
		w->t.size += a->size;
		w->t.raw += a->size * a->replication;
		w->t.files++;
		if (w->fn != NULL && w->fn(path, a, w->arg) != 0)
			w->status = CLI_FAIL;
	}
	if (!S_ISDIR(a->mode))
		return;
	w->t.dirs++;
	if ((r = ops_dir_list(w->cli, a->ino, &d)) != 0) {
		w->status = cli_err(w->cli, w->cmd, path, r);
		goto out;
	}
	for (i = 0; i < d.n; i++) {
		if (cli_path_join(path, d.v[i].name, sub, sizeof(sub)) != 0) {
			w->status = cli_err(w->cli, w->cmd, d.v[i].name,
					    ENAMETOOLONG);
			continue;
		}
		ops_walk(w, sub, &d.v[i].attr);
	}
out:
	ops_dir_release(&d);
}

/*
 * ---------------------------------------------------------------------
 * setrep
 * ---------------------------------------------------------------------
 */

/* Parse a replication factor 1..DFS_MAX_REPLICAS. */
static int ops_parse_factor(const char *s, uint64_t *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > DFS_MAX_REPLICAS)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Chunks of one file still short of (or over) the factor. */
struct setrep_wait {
	struct cli *cli;
	uint64_t factor;
	uint64_t pending;     /* chunks not at the factor yet */
};

/* Count the chunks of file "path" whose live replicas differ from the
 * factor (a file whose factor is not the one asked for was changed
 * since; it is not waited for). */
static int setrep_check_file(const char *path, const struct dfs_attr *a,
			     void *arg)
{
	struct setrep_wait *sw = arg;
	json_t *req, *reply = NULL, *c;
	size_t i;
	int r;

	if (a->replication != sw->factor)
		return 0;
	req = json_pack("{s:s}", "path", path);
	r = rpc_call(cli_http(sw->cli), sw->cli->master, EP_STAT, req, &reply,
		     NULL);
	json_decref(req);
	if (r == -ENOENT)
		return 0;
	if (r != 0)
		return cli_err(sw->cli, "setrep", path, r);
	json_array_foreach(json_object_get(reply, "chunks"), i, c) {
		if (cli_json_u64(c, "size") == 0)
			continue;
		if (json_array_size(json_object_get(c, "replicas")) !=
		    sw->factor)
			sw->pending++;
	}
	json_decref(reply);
	return 0;
}

/* setrep -w: wait until every chunk under "path" has the factor. */
static int setrep_wait(struct cli *cli, const char *path, uint64_t factor)
{
	struct setrep_wait sw = { cli, factor, 0 };
	struct ops_walk w;
	struct dfs_attr a;
	int r;

	for (;;) {
		if ((r = dfs_resolve(cli_client(cli), path, &a)) != 0)
			return cli_err(cli, "setrep", path, r);
		memset(&w, 0, sizeof(w));
		w.cli = cli;
		w.cmd = "setrep";
		w.fn = setrep_check_file;
		w.arg = &sw;
		sw.pending = 0;
		ops_walk(&w, path, &a);
		free(w.seen.v);
		if (w.status != CLI_OK)
			return w.status;
		if (sw.pending == 0)
			return CLI_OK;
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "\r\033[Ksetrep: %s: %" PRIu64
				" chunks to go", path, sw.pending);
		usleep(SETREP_POLL_MS * 1000);
	}
}

/* setrep of one normalized path. */
static int setrep_one(struct cli *cli, const struct ops_opts *o,
		      const char *arg, const char *path, uint64_t factor)
{
	json_t *req, *reply = NULL;
	int r;

	req = json_pack("{s:s, s:I, s:b}", "path", path, "replication",
			(json_int_t)factor, "recursive", o->recursive);
	r = rpc_call(cli_http(cli), cli->master, EP_SETREP, req, &reply,
		     NULL);
	json_decref(req);
	if (r != 0)
		return cli_err(cli, "setrep", arg, r);
	printf("replication of %s%s set to %" PRIu64 " (%" PRIu64
	       " changed)\n",
	       path, o->recursive ? " and below" : "", factor,
	       cli_json_u64(reply, "changed"));
	json_decref(reply);
	fflush(stdout);
	if (!o->wait)
		return CLI_OK;
	r = setrep_wait(cli, path, factor);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	return r;
}

int cmd_setrep(struct cli *cli, int argc, char **argv)
{
	struct ops_opts o = { 0 };
	char path[DFS_PATH_MAX];
	uint64_t factor;
	int i, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "Rrw", NULL, ops_opt, &o)) <= 0)
		return -i;
	if (argc - i < 2)
		return cli_usage_err("setrep", "expected N and PATH");
	if (ops_parse_factor(argv[i], &factor) != 0)
		return cli_usage_err("setrep",
				     "bad replication factor '%s' (1..%d)",
				     argv[i], DFS_MAX_REPLICAS);
	for (i++; i < argc; i++) {
		if ((r = cli_path_norm(argv[i], path, sizeof(path))) != 0) {
			status = cli_err(cli, "setrep", argv[i], r);
			continue;
		}
		if (setrep_one(cli, &o, argv[i], path, factor) != CLI_OK)
			status = CLI_FAIL;
	}
	return status;
}

/*
 * ---------------------------------------------------------------------
 * du and df
 * ---------------------------------------------------------------------
 */

/* Print one du line: size, raw size, path. */
static void du_print(const struct ops_opts *o, const struct ops_totals *t,
		     const char *path)
{
	char sbuf[24], rbuf[24];

	printf("%-10s %-10s %s\n", ops_size(o, t->size, sbuf, sizeof(sbuf)),
	       ops_size(o, t->raw, rbuf, sizeof(rbuf)), path);
}

/* Totals of the tree at "path" (attributes a); CLI status. */
static int du_tree(struct cli *cli, const char *path,
		   const struct dfs_attr *a, struct ops_totals *t)
{
	struct ops_walk w = { .cli = cli, .cmd = "du" };

	ops_walk(&w, path, a);
	free(w.seen.v);
	*t = w.t;
	return w.status;
}

/* du of one path: each entry of a directory, or the total with -s. */
static int du_one(struct cli *cli, const struct ops_opts *o,
		  const char *arg, const char *path)
{
	struct ops_dir d = { 0 };
	struct ops_totals t;
	char sub[DFS_PATH_MAX];
	struct dfs_attr a;
	int r, status = CLI_OK;
	size_t i;

	if ((r = dfs_resolve(cli_client(cli), path, &a)) != 0)
		return cli_err(cli, "du", arg, r);
	if (o->summary || !S_ISDIR(a.mode)) {
		status = du_tree(cli, path, &a, &t);
		du_print(o, &t, path);
		return status;
	}
	if ((r = ops_dir_list(cli, a.ino, &d)) != 0) {
		status = cli_err(cli, "du", arg, r);
		goto out;
	}
	for (i = 0; i < d.n; i++) {
		if (cli_path_join(path, d.v[i].name, sub, sizeof(sub)) != 0)
			continue;
		if (du_tree(cli, sub, &d.v[i].attr, &t) != CLI_OK)
			status = CLI_FAIL;
		du_print(o, &t, sub);
	}
out:
	ops_dir_release(&d);
	return status;
}

int cmd_du(struct cli *cli, int argc, char **argv)
{
	struct ops_opts o = { 0 };
	char path[DFS_PATH_MAX];
	char *def[] = { (char *)"/" };
	char **ops;
	int i, n, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "sH", NULL, ops_opt, &o)) <= 0)
		return -i;
	ops = i < argc ? argv + i : def;
	n = i < argc ? argc - i : 1;
	for (i = 0; i < n; i++) {
		if ((r = cli_path_norm(ops[i], path, sizeof(path))) != 0) {
			status = cli_err(cli, "du", ops[i], r);
			continue;
		}
		if (du_one(cli, &o, ops[i], path) != CLI_OK)
			status = CLI_FAIL;
	}
	return status;
}

int cmd_df(struct cli *cli, int argc, char **argv)
{
	struct ops_opts o = { 0 };
	char c[24], u[24], f[24], name[DFS_ADDR_MAX + 8];
	struct dfs_statfs st;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "H", NULL, ops_opt, &o)) <= 0)
		return -i;
	if (i != argc)
		return cli_usage_err("df", "unexpected argument '%s'", argv[i]);
	if ((r = dfs_statfs(cli_client(cli), &st)) != 0)
		return cli_err(cli, "df", NULL, r);
	snprintf(name, sizeof(name), "dfs://%s", cli->master);
	printf("%-28s %12s %12s %12s %5s %10s\n", "Filesystem", "Size", "Used",
	       "Avail", "Use%", "Inodes");
	printf("%-28s %12s %12s %12s %4.0f%% %10" PRIu64 "\n", name,
	       ops_size(&o, st.capacity, c, sizeof(c)),
	       ops_size(&o, st.used, u, sizeof(u)),
	       ops_size(&o, st.free, f, sizeof(f)),
	       st.capacity > 0 ? 100.0 * (double)st.used / (double)st.capacity
			       : 0.0,
	       st.files);
	return CLI_OK;
}
