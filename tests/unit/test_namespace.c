/*
 * test_namespace.c - the master's namespace module on a temporary SQLite
 * file: every op, readdir paging, rename rules, link counts, chunk
 * allocation and freeing, group transactions and reopening.
 *
 * The module lives in masterd/, which the unit test rule does not link,
 * so its two source files are compiled into this test directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>

#include "../../masterd/namespace.h"
#include "../../masterd/namespace_int.h"
#include "../../masterd/ns_files.h"
#include "../../masterd/wal_vfs.h"
#include "log.h"
#include "xmalloc.h"

/* Per-test state: a fresh database in a temporary directory. */
struct fixture {
	char dir[64];
	char path[96];
	struct ns *ns;
	uint64_t next_ino;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_namespace.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
	if (ns_open(f->path, 1024 * 1024, 3, &f->ns) != 0)
		return -1;
	f->next_ino = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd;

	ns_free(f->ns);
	cmd = xasprintf("rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove '%s'\n", f->dir);
	free(cmd);
	free(f);
	return 0;
}

/* Apply an op given as json_pack() format and arguments; returns the
 * op's result code and drops its result. */
static int apply(struct fixture *f, const char *fmt, ...)
{
	json_t *op, *res = NULL;
	json_error_t jerr;
	va_list ap;
	int r;

	va_start(ap, fmt);
	op = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	assert_non_null(op);
	r = ns_apply(f->ns, op, &res);
	if (r == 0)
		assert_non_null(res);
	else
		assert_null(res);
	json_decref(res);
	json_decref(op);
	return r;
}

/* Create a regular file; returns its inode number. */
static uint64_t mkfile(struct fixture *f, uint64_t parent, const char *name)
{
	uint64_t ino = f->next_ino++;

	assert_int_equal(apply(f, "{s:s, s:I, s:s, s:I, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", (json_int_t)parent,
			       "name", name, "ino", (json_int_t)ino, "mode",
			       S_IFREG | 0644, "uid", 1, "gid", 2, "time", 10,
			       20),
			 0);
	return ino;
}

static uint64_t mkdir_(struct fixture *f, uint64_t parent, const char *name)
{
	uint64_t ino = f->next_ino++;

	assert_int_equal(apply(f, "{s:s, s:I, s:s, s:I, s:i, s:i, s:i, s:[i,i]}",
			       "op", "mkdir", "parent", (json_int_t)parent,
			       "name", name, "ino", (json_int_t)ino, "mode",
			       0755, "uid", 0, "gid", 0, "time", 11, 0),
			 0);
	return ino;
}

static int rename_(struct fixture *f, uint64_t p, const char *n, uint64_t np,
		   const char *nn, int flags)
{
	return apply(f, "{s:s, s:I, s:s, s:I, s:s, s:i, s:[i,i]}", "op",
		     "rename", "parent", (json_int_t)p, "name", n, "newparent",
		     (json_int_t)np, "newname", nn, "flags", flags, "time", 12,
		     0);
}

static int unlink_(struct fixture *f, const char *op, uint64_t p,
		   const char *n)
{
	return apply(f, "{s:s, s:I, s:s, s:[i,i]}", "op", op, "parent",
		     (json_int_t)p, "name", n, "time", 13, 0);
}

/* Lookup through a reader: the inode number, or a negative errno. */
static int64_t lookup(struct fixture *f, uint64_t parent, const char *name)
{
	struct ns_reader *rd = ns_reader_get(f->ns);
	struct dfs_attr a;
	int r;

	assert_non_null(rd);
	r = ns_lookup(rd, parent, name, &a);
	ns_reader_put(rd);
	return r == 0 ? (int64_t)a.ino : r;
}

static int getattr(struct fixture *f, uint64_t ino, struct dfs_attr *a)
{
	struct ns_reader *rd = ns_reader_get(f->ns);
	int r;

	assert_non_null(rd);
	r = ns_getattr(rd, ino, a);
	ns_reader_put(rd);
	return r;
}

static void test_root(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;

	assert_int_equal(getattr(f, DFS_ROOT_INO, &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 0755);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.replication, 3);
	assert_int_equal(ns_chunk_size(f->ns), 1024 * 1024);
}

static void test_create_lookup(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;
	uint64_t ino;

	ino = mkfile(f, 1, "a");
	assert_int_equal(lookup(f, 1, "a"), ino);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0644);
	assert_int_equal(a.uid, 1);
	assert_int_equal(a.gid, 2);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.mtime.tv_sec, 10);
	assert_int_equal(a.mtime.tv_nsec, 20);
	assert_int_equal(a.replication, 3);
	assert_int_equal(lookup(f, 1, "b"), -ENOENT);
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.mtime.tv_sec, 10);
	/* Same name again; a file as parent; a missing parent. */
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", 1, "name", "a", "ino",
			       999, "mode", 0644, "uid", 0, "gid", 0, "time",
			       1, 0),
			 -EEXIST);
	assert_int_equal(apply(f, "{s:s, s:I, s:s, s:i, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", (json_int_t)ino,
			       "name", "x", "ino", 999, "mode", 0644, "uid", 0,
			       "gid", 0, "time", 1, 0),
			 -ENOTDIR);
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", 5000, "name", "x",
			       "ino", 999, "mode", 0644, "uid", 0, "gid", 0,
			       "time", 1, 0),
			 -ENOENT);
	assert_int_equal(lookup(f, ino, "x"), -ENOTDIR);
	/* A reserved number is above every committed one. */
	assert_true(ns_reserve_ino(f->ns) > ino);
}

static void test_bad_ops(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(apply(f, "{s:s}", "op", "nonsense"), -EINVAL);
	assert_int_equal(apply(f, "{s:i}", "op", 3), -EINVAL);
	assert_int_equal(apply(f, "{s:s, s:i, s:s}", "op", "create", "parent",
			       1, "name", "a"),
			 -EINVAL);
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", 1, "name", "a/b",
			       "ino", 50, "mode", 0644, "uid", 0, "gid", 0,
			       "time", 1, 0),
			 -EINVAL);
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", 1, "name", "..",
			       "ino", 50, "mode", 0644, "uid", 0, "gid", 0,
			       "time", 1, 0),
			 -EINVAL);
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}",
			       "op", "create", "parent", 1, "name", "d", "ino",
			       50, "mode", S_IFDIR | 0755, "uid", 0, "gid", 0,
			       "time", 1, 0),
			 -EINVAL);
	assert_int_equal(lookup(f, 1, "a"), -ENOENT);
}

/* Names seen by readdir pages, in order. */
struct seen {
	char names[64][16];
	uint64_t cookies[64];
	int n;
};

static int collect(const char *name, uint64_t cookie,
		   const struct dfs_attr *attr, void *arg)
{
	struct seen *s = arg;

	(void)attr;
	assert_true(s->n < 64);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->cookies[s->n++] = cookie;
	return 0;
}

static void test_readdir_paging(void **state)
{
	struct fixture *f = *state;
	struct ns_reader *rd;
	struct seen s = { .n = 0 };
	uint64_t dir, cookie = 0;
	char name[16];
	bool eof = false;
	int i, pages = 0;

	dir = mkdir_(f, 1, "d");
	for (i = 0; i < 25; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		mkfile(f, dir, name);
	}
	rd = ns_reader_get(f->ns);
	while (!eof) {
		int before = s.n;

		assert_int_equal(ns_readdir(rd, dir, cookie, 10, collect, &s,
					    &eof),
				 0);
		assert_true(s.n - before <= 10);
		if (s.n > before)
			cookie = s.cookies[s.n - 1];
		pages++;
		/* A rename during the listing keeps cookies stable for the
		 * entries not renamed. */
		if (pages == 1)
			assert_int_equal(rename_(f, dir, "f00", dir, "zz", 0),
					 0);
	}
	/* The renamed entry got a new cookie: it shows up again at the end,
	 * as POSIX allows for an entry renamed during a listing. */
	assert_int_equal(pages, 3);
	assert_int_equal(s.n, 26);
	for (i = 0; i < 25; i++)
		assert_true(s.cookies[i] < s.cookies[i + 1]);
	assert_string_equal(s.names[0], "f00");
	assert_string_equal(s.names[1], "f01");
	assert_string_equal(s.names[24], "f24");
	assert_string_equal(s.names[25], "zz");
	assert_int_equal(ns_readdir(rd, 4242, 0, 10, collect, &s, &eof),
			 -ENOENT);
	assert_int_equal(ns_readdir(rd, lookup(f, dir, "f01"), 0, 10, collect,
				    &s, &eof),
			 -ENOTDIR);
	ns_reader_put(rd);
}

static void test_rename_over_file(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;
	uint64_t a_ino, b_ino;

	a_ino = mkfile(f, 1, "a");
	b_ino = mkfile(f, 1, "b");
	assert_int_equal(rename_(f, 1, "a", 1, "b", PROTO_RENAME_NOREPLACE),
			 -EEXIST);
	assert_int_equal(rename_(f, 1, "a", 1, "b", 0), 0);
	assert_int_equal(lookup(f, 1, "a"), -ENOENT);
	assert_int_equal(lookup(f, 1, "b"), a_ino);
	assert_int_equal(getattr(f, b_ino, &a), -ENOENT);
	assert_int_equal(rename_(f, 1, "a", 1, "c", 0), -ENOENT);
	/* Same inode under both names: nothing happens. */
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:s, s:[i,i]}", "op",
			       "link", "ino", (json_int_t)a_ino, "parent", 1,
			       "name", "c", "time", 1, 0),
			 0);
	assert_int_equal(rename_(f, 1, "b", 1, "c", 0), 0);
	assert_int_equal(lookup(f, 1, "b"), a_ino);
	assert_int_equal(lookup(f, 1, "c"), a_ino);
}

static void test_rename_dirs(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;
	uint64_t d, e, g, x;

	d = mkdir_(f, 1, "d");
	e = mkdir_(f, d, "e");
	g = mkdir_(f, 1, "g");
	x = mkfile(f, 1, "x");
	/* Into itself or its own subtree. */
	assert_int_equal(rename_(f, 1, "d", d, "d2", 0), -EINVAL);
	assert_int_equal(rename_(f, 1, "d", e, "d2", 0), -EINVAL);
	/* Directory over a file and the reverse. */
	assert_int_equal(rename_(f, 1, "d", 1, "x", 0), -ENOTDIR);
	assert_int_equal(rename_(f, 1, "x", 1, "d", 0), -EISDIR);
	/* Over a non-empty, then an empty directory. */
	assert_int_equal(rename_(f, 1, "g", 1, "d", 0), -ENOTEMPTY);
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.nlink, 4);
	assert_int_equal(rename_(f, d, "e", 1, "g", 0), 0);
	assert_int_equal(lookup(f, 1, "g"), e);
	assert_int_equal(getattr(f, g, &a), -ENOENT);
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.nlink, 4);
	assert_int_equal(getattr(f, d, &a), 0);
	assert_int_equal(a.nlink, 2);
	/* The moved directory's parent pointer follows: moving d under it
	 * is now fine, moving it back under d is a loop. */
	assert_int_equal(rename_(f, 1, "d", e, "d", 0), 0);
	assert_int_equal(rename_(f, 1, "g", d, "g", 0), -EINVAL);
	assert_int_equal(getattr(f, e, &a), 0);
	assert_int_equal(a.nlink, 3);
	/* Exchange a file and a directory across directories. */
	assert_int_equal(rename_(f, 1, "x", e, "d", PROTO_RENAME_EXCHANGE), 0);
	assert_int_equal(lookup(f, 1, "x"), d);
	assert_int_equal(lookup(f, e, "d"), x);
	assert_int_equal(getattr(f, e, &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.nlink, 4);
	assert_int_equal(rename_(f, 1, "x", 1, "none", PROTO_RENAME_EXCHANGE),
			 -ENOENT);
	assert_int_equal(rename_(f, 1, "x", 1, "y", 3), -EINVAL);
	assert_int_equal(rename_(f, 1, "x", 1, "y", 8), -EINVAL);
	/* Exchange a directory with an entry inside it. */
	assert_int_equal(mkdir_(f, d, "in") > 0, 1);
	assert_int_equal(rename_(f, 1, "x", d, "in", PROTO_RENAME_EXCHANGE),
			 -EINVAL);
}

static void test_rmdir(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;
	uint64_t d;

	d = mkdir_(f, 1, "d");
	mkfile(f, d, "f");
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.nlink, 3);
	assert_int_equal(unlink_(f, "rmdir", 1, "d"), -ENOTEMPTY);
	assert_int_equal(unlink_(f, "unlink", 1, "d"), -EISDIR);
	assert_int_equal(unlink_(f, "rmdir", d, "f"), -ENOTDIR);
	assert_int_equal(unlink_(f, "unlink", d, "f"), 0);
	assert_int_equal(unlink_(f, "rmdir", 1, "d"), 0);
	assert_int_equal(unlink_(f, "rmdir", 1, "d"), -ENOENT);
	assert_int_equal(getattr(f, d, &a), -ENOENT);
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.mtime.tv_sec, 13);
}

static void test_links(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;
	uint64_t ino, d;

	ino = mkfile(f, 1, "f");
	d = mkdir_(f, 1, "d");
	assert_int_equal(apply(f, "{s:s, s:I, s:I, s:s, s:[i,i]}", "op",
			       "link", "ino", (json_int_t)ino, "parent",
			       (json_int_t)d, "name", "g", "time", 30, 0),
			 0);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.ctime.tv_sec, 30);
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:s, s:[i,i]}", "op",
			       "link", "ino", (json_int_t)d, "parent", 1,
			       "name", "h", "time", 30, 0),
			 -EPERM);
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:s, s:[i,i]}", "op",
			       "link", "ino", (json_int_t)ino, "parent", 1,
			       "name", "f", "time", 30, 0),
			 -EEXIST);
	assert_int_equal(unlink_(f, "unlink", 1, "f"), 0);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(lookup(f, d, "g"), ino);
	assert_int_equal(unlink_(f, "unlink", d, "g"), 0);
	assert_int_equal(getattr(f, ino, &a), -ENOENT);
}

/* As apply(), keeping the result in *res (caller frees). */
static int apply_res(struct fixture *f, json_t **res, const char *fmt, ...)
{
	json_error_t jerr;
	json_t *op;
	va_list ap;
	int r;

	va_start(ap, fmt);
	op = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	assert_non_null(op);
	r = ns_apply(f->ns, op, res);
	json_decref(op);
	return r;
}

/* res[key] is the attr of "ino" as the database has it now. */
static void assert_reply_attr(struct fixture *f, const json_t *res,
			      const char *key, uint64_t ino)
{
	struct dfs_attr got, now;

	assert_int_equal(proto_attr_from_json(json_object_get(res, key), &got),
			 0);
	assert_int_equal(getattr(f, ino, &now), 0);
	assert_int_equal(got.ino, ino);
	assert_int_equal(got.mode, now.mode);
	assert_int_equal(got.nlink, now.nlink);
	assert_int_equal(got.size, now.size);
	assert_int_equal(got.mtime.tv_sec, now.mtime.tv_sec);
	assert_int_equal(got.mtime.tv_nsec, now.mtime.tv_nsec);
	assert_int_equal(got.ctime.tv_sec, now.ctime.tv_sec);
	assert_int_equal(got.ctime.tv_nsec, now.ctime.tv_nsec);
}

static uint64_t reply_u64(const json_t *res, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(res, key));
}

/* Namespace changes reply with the attrs of the directories and of the
 * other inodes they touched, as committed (clients cache them). */
static void test_change_replies(void **state)
{
	struct fixture *f = *state;
	json_t *res = NULL;
	uint64_t d, x, y;

	d = mkdir_(f, 1, "d");
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:i, s:i, s:i, "
				   "s:i, s:[i,i]}", "op", "create", "parent",
				   (json_int_t)d, "name", "x", "ino", 500,
				   "mode", S_IFREG | 0644, "uid", 0, "gid", 0,
				   "time", 40, 1),
			 0);
	assert_int_equal(reply_u64(res, "ino"), 500);
	assert_reply_attr(f, res, "parent_attr", d);
	json_decref(res);
	x = 500;
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:i, s:i, s:i, "
				   "s:i, s:[i,i]}", "op", "mkdir", "parent",
				   (json_int_t)d, "name", "sub", "ino", 501,
				   "mode", 0755, "uid", 0, "gid", 0, "time",
				   41, 0),
			 0);
	assert_reply_attr(f, res, "parent_attr", d);
	json_decref(res);
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:I, s:s, s:[i,i]}",
				   "op", "link", "ino", (json_int_t)x,
				   "parent", 1, "name", "xl", "time", 42, 0),
			 0);
	assert_reply_attr(f, res, "parent_attr", 1);
	json_decref(res);
	/* A name of a file with another link: it stays, nlink drops. */
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:[i,i]}", "op",
				   "unlink", "parent", (json_int_t)d, "name",
				   "x", "time", 43, 0),
			 0);
	assert_reply_attr(f, res, "parent_attr", d);
	assert_int_equal(reply_u64(res, "ino"), x);
	assert_reply_attr(f, res, "attr", x);
	json_decref(res);
	/* Rename over a file with two names: the target stays. */
	y = mkfile(f, 1, "y");
	assert_int_equal(apply(f, "{s:s, s:I, s:I, s:s, s:[i,i]}", "op",
			       "link", "ino", (json_int_t)y, "parent",
			       (json_int_t)d, "name", "y2", "time", 44, 0),
			 0);
	assert_int_equal(apply_res(f, &res, "{s:s, s:i, s:s, s:I, s:s, s:i, "
				   "s:[i,i]}", "op", "rename", "parent", 1,
				   "name", "xl", "newparent", (json_int_t)d,
				   "newname", "y2", "flags", 0, "time", 45, 0),
			 0);
	assert_reply_attr(f, res, "parent_attr", 1);
	assert_reply_attr(f, res, "newparent_attr", d);
	assert_int_equal(reply_u64(res, "ino"), x);
	assert_reply_attr(f, res, "attr", x);
	assert_int_equal(reply_u64(res, "target_ino"), y);
	assert_reply_attr(f, res, "target_attr", y);
	json_decref(res);
	/* The last name: the inode goes, only its number is told. */
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:[i,i]}", "op",
				   "unlink", "parent", (json_int_t)d, "name",
				   "y2", "time", 46, 0),
			 0);
	assert_int_equal(reply_u64(res, "ino"), x);
	assert_null(json_object_get(res, "attr"));
	assert_reply_attr(f, res, "parent_attr", d);
	json_decref(res);
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:[i,i]}", "op",
				   "rmdir", "parent", (json_int_t)d, "name",
				   "sub", "time", 47, 0),
			 0);
	assert_int_equal(reply_u64(res, "ino"), 501);
	assert_null(json_object_get(res, "attr"));
	assert_reply_attr(f, res, "parent_attr", d);
	json_decref(res);
}

/* The change count and epoch of attrs "obj" (a reply, or its part). */
static uint64_t count_of(const json_t *obj, uint64_t *epoch)
{
	struct dfs_attr a;

	assert_int_equal(proto_attr_from_json(obj, &a), 0);
	assert_int_not_equal(a.dir_epoch, 0);
	*epoch = a.dir_epoch;
	return a.dir_changes;
}

/* Every change of a directory's entries moves its count by exactly one
 * under one epoch (proto.h "Directory change counts"); mkdir tells the
 * new directory's count, and a change there moves it by one. */
static void test_dir_change_counts(void **state)
{
	struct fixture *f = *state;
	json_t *res = NULL;
	uint64_t d, c, sub, e, e2;

	d = mkdir_(f, 1, "cnt");
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:i, s:i, s:i, "
				   "s:i, s:[i,i]}", "op", "create", "parent",
				   (json_int_t)d, "name", "x", "ino", 600,
				   "mode", S_IFREG | 0644, "uid", 0, "gid", 0,
				   "time", 50, 0),
			 0);
	c = count_of(json_object_get(res, "parent_attr"), &e);
	json_decref(res);
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:i, s:i, s:i, "
				   "s:i, s:[i,i]}", "op", "mkdir", "parent",
				   (json_int_t)d, "name", "sub", "ino", 601,
				   "mode", 0755, "uid", 0, "gid", 0, "time",
				   51, 0),
			 0);
	assert_int_equal(count_of(json_object_get(res, "parent_attr"), &e2), c + 1);
	assert_int_equal(e2, e);
	sub = count_of(res, &e2); /* the new directory's own */
	assert_int_equal(e2, e);
	json_decref(res);
	/* A rename inside the directory is one change. */
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:I, s:s, s:i, "
				   "s:[i,i]}", "op", "rename", "parent",
				   (json_int_t)d, "name", "x", "newparent",
				   (json_int_t)d, "newname", "x2", "flags", 0,
				   "time", 52, 0),
			 0);
	assert_int_equal(count_of(json_object_get(res, "parent_attr"), &e2), c + 2);
	json_decref(res);
	/* Into the subdirectory: one change of each. */
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:I, s:s, s:i, "
				   "s:[i,i]}", "op", "rename", "parent",
				   (json_int_t)d, "name", "x2", "newparent",
				   (json_int_t)601, "newname", "x3", "flags", 0,
				   "time", 53, 0),
			 0);
	assert_int_equal(count_of(json_object_get(res, "parent_attr"), &e2), c + 3);
	assert_int_equal(count_of(json_object_get(res, "newparent_attr"), &e2), sub + 1);
	json_decref(res);
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:[i,i]}", "op",
				   "unlink", "parent", (json_int_t)601, "name",
				   "x3", "time", 54, 0),
			 0);
	assert_int_equal(count_of(json_object_get(res, "parent_attr"), &e2), sub + 2);
	json_decref(res);
	assert_int_equal(apply_res(f, &res, "{s:s, s:I, s:s, s:[i,i]}", "op",
				   "rmdir", "parent", (json_int_t)d, "name",
				   "sub", "time", 55, 0),
			 0);
	assert_int_equal(count_of(json_object_get(res, "parent_attr"), &e2), c + 4);
	json_decref(res);
}

static void test_symlink(void **state)
{
	struct fixture *f = *state;
	struct ns_reader *rd;
	char *target = NULL;
	struct dfs_attr a;

	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:i, s:s, s:i, s:i, s:[i,i]}",
			       "op", "symlink", "parent", 1, "name", "l",
			       "ino", 77, "target", "../some/where", "uid", 0,
			       "gid", 0, "time", 1, 0),
			 0);
	assert_int_equal(getattr(f, 77, &a), 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(a.size, strlen("../some/where"));
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_readlink(rd, 77, &target), 0);
	assert_string_equal(target, "../some/where");
	free(target);
	assert_int_equal(ns_readlink(rd, 1, &target), -EINVAL);
	assert_int_equal(ns_readlink(rd, 78, &target), -ENOENT);
	ns_reader_put(rd);
}

/* Allocate chunks [first, first + n) of a file with handles from h. */
static int alloc(struct fixture *f, uint64_t ino, uint64_t first, int n,
		 uint64_t h)
{
	json_t *chunks = json_array();
	int i, r;

	for (i = 0; i < n; i++)
		json_array_append_new(
			chunks, json_pack("{s:I, s:I, s:[s,s]}", "index",
					  (json_int_t)(first + i), "handle",
					  (json_int_t)(h + i), "replicas",
					  "127.0.0.1:1", "127.0.0.1:2"));
	r = apply(f, "{s:s, s:I, s:o}", "op", "alloc_chunks", "ino",
		  (json_int_t)ino, "chunks", chunks);
	return r;
}

/* Grow file "ino" to "size" bytes (a writer's size update). */
static void extend_to(struct fixture *f, uint64_t ino, uint64_t size)
{
	assert_int_equal(apply(f, "{s:s, s:I, s:I, s:[i,i]}", "op", "extend",
			       "ino", (json_int_t)ino, "size",
			       (json_int_t)size, "time", 40, 0),
			 0);
}

struct chunk_list {
	uint64_t index[16];
	uint64_t handle[16];
	int nreplicas[16];
	int n;
};

static int collect_chunk(const struct dfs_chunk *c, void *arg)
{
	struct chunk_list *l = arg;

	assert_true(l->n < 16);
	l->index[l->n] = c->index;
	l->handle[l->n] = c->handle;
	l->nreplicas[l->n++] = c->nreplicas;
	return 0;
}

static int list_chunks(struct fixture *f, uint64_t ino, struct chunk_list *l)
{
	struct ns_reader *rd = ns_reader_get(f->ns);
	int r;

	memset(l, 0, sizeof(*l));
	r = ns_chunks(rd, ino, 0, NS_MAX_ID, collect_chunk, l);
	ns_reader_put(rd);
	return r;
}

static void test_chunks(void **state)
{
	struct fixture *f = *state;
	struct chunk_list l;
	struct ns_reader *rd;
	struct dfs_attr a;
	uint64_t ino, v, *hs;
	size_t n;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 4, 1000), 0);
	/* Another writer racing for index 2 and 4: only 4 is new. */
	assert_int_equal(alloc(f, ino, 2, 3, 2000), 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.handle[2], 1002);
	assert_int_equal(l.handle[4], 2002);
	assert_int_equal(l.nreplicas[0], 2);
	assert_true(ns_reserve_handle(f->ns) > 2002);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_chunk_version(rd, 1000, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(ns_server_handles(rd, "127.0.0.1:1", &hs, &n), 0);
	assert_int_equal(n, 5);
	free(hs);
	ns_reader_put(rd);
	/* Versions only go up. */
	assert_int_equal(apply(f, "{s:s, s:i, s:i}", "op", "bump_version",
			       "handle", 1000, "version", 2),
			 0);
	assert_int_equal(apply(f, "{s:s, s:i, s:i}", "op", "bump_version",
			       "handle", 1000, "version", 2),
			 -EINVAL);
	/* Grow, then truncate to 1.5 chunks: chunks 2.. go. */
	assert_int_equal(apply(f, "{s:s, s:I, s:I, s:[i,i]}", "op", "extend",
			       "ino", (json_int_t)ino, "size",
			       (json_int_t)(5 << 20), "time", 40, 0),
			 0);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.size, 5 << 20);
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:I, s:[i,i]}", "op",
			       "setattr", "ino", (json_int_t)ino, "valid",
			       PROTO_SET_SIZE, "size",
			       (json_int_t)(3 << 19), "time", 41, 0),
			 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 2);
	/* Extend never shrinks. */
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:[i,i]}", "op", "extend",
			       "ino", (json_int_t)ino, "size", 10, "time", 42,
			       0),
			 0);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.size, 3 << 19);
	assert_int_equal(a.mtime.tv_sec, 42);
	/* Unlink frees every chunk and replica row. */
	assert_int_equal(unlink_(f, "unlink", 1, "f"), 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 0);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_chunk_version(rd, 1000, &v), -ENOENT);
	assert_int_equal(ns_server_handles(rd, "127.0.0.1:2", &hs, &n), 0);
	assert_int_equal(n, 0);
	free(hs);
	ns_reader_put(rd);
	/* Chunks only on regular files. */
	assert_int_equal(alloc(f, 1, 0, 1, 3000), -EINVAL);
}

static void test_setattr(void **state)
{
	struct fixture *f = *state;
	struct dfs_attr a;
	uint64_t ino;

	ino = mkfile(f, 1, "f");
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:i, s:i, s:[i,i], s:[i,i]}",
			       "op", "setattr", "ino", (json_int_t)ino,
			       "valid",
			       PROTO_SET_MODE | PROTO_SET_UID |
				       PROTO_SET_ATIME | PROTO_SET_MTIME_NOW,
			       "mode", S_IFDIR | 0600, "uid", 7, "atime", 5,
			       6, "time", 50, 51),
			 0);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0600);
	assert_int_equal(a.uid, 7);
	assert_int_equal(a.gid, 2);
	assert_int_equal(a.atime.tv_sec, 5);
	assert_int_equal(a.atime.tv_nsec, 6);
	assert_int_equal(a.mtime.tv_sec, 50);
	assert_int_equal(a.ctime.tv_nsec, 51);
	/* A missing field named in valid fails and changes nothing. */
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:i, s:[i,i]}", "op",
			       "setattr", "ino", (json_int_t)ino, "valid",
			       PROTO_SET_UID | PROTO_SET_GID, "uid", 9,
			       "time", 60, 0),
			 -EINVAL);
	assert_int_equal(getattr(f, ino, &a), 0);
	assert_int_equal(a.uid, 7);
	assert_int_equal(apply(f, "{s:s, s:i, s:i, s:i, s:[i,i]}", "op",
			       "setattr", "ino", 1, "valid", PROTO_SET_SIZE,
			       "size", 0, "time", 60, 0),
			 -EISDIR);
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	json_t *ok1, *bad, *ok2, *res;

	ok1 = json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}", "op",
			"create", "parent", 1, "name", "g1", "ino", 500,
			"mode", 0644, "uid", 0, "gid", 0, "time", 1, 0);
	bad = json_pack("{s:s, s:i, s:s, s:[i,i]}", "op", "rmdir", "parent",
			1, "name", "g1", "time", 1, 0);
	ok2 = json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}", "op",
			"mkdir", "parent", 1, "name", "g2", "ino", 501,
			"mode", 0755, "uid", 0, "gid", 0, "time", 1, 0);
	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(ns_apply(f->ns, ok1, &res), 0);
	json_decref(res);
	assert_int_equal(ns_apply(f->ns, bad, &res), -ENOTDIR);
	assert_int_equal(ns_apply(f->ns, ok2, &res), 0);
	json_decref(res);
	/* Not committed yet: a reader does not see it. */
	assert_int_equal(lookup(f, 1, "g1"), -ENOENT);
	assert_int_equal(ns_commit(f->ns), 0);
	assert_int_equal(lookup(f, 1, "g1"), 500);
	assert_int_equal(lookup(f, 1, "g2"), 501);
	/* A rolled-back transaction leaves nothing. */
	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(unlink_(f, "unlink", 1, "g1"), 0);
	ns_rollback(f->ns);
	assert_int_equal(lookup(f, 1, "g1"), 500);
	json_decref(ok1);
	json_decref(bad);
	json_decref(ok2);
}

/* Set an inode's factor with SQL of a connection of its own. */
static void set_row_replication(struct fixture *f, uint64_t ino,
				int replication)
{
	sqlite3 *db;
	char *sql;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	sql = xasprintf(
		"UPDATE inodes SET replication = %d WHERE ino = %" PRIu64,
		replication, ino);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(db);
}

static int set_replication(struct fixture *f, uint64_t ino, int replication)
{
	return apply(f, "{s:s, s:I, s:i, s:[i,i]}", "op", "set_replication",
		     "ino", (json_int_t)ino, "replication", replication, "time",
		     5, 0);
}

/* ns_dir_replication() answers from its cache, and a set_replication
 * is seen by the next call once committed, in a group transaction too,
 * and not before; a rolled-back one changes nothing. */
static void test_dir_replication(void **state)
{
	struct fixture *f = *state;
	uint64_t dir = mkdir_(f, 1, "d"), file = mkfile(f, dir, "f");
	struct dfs_attr a;
	uint32_t rep = 0;

	assert_int_equal(ns_dir_replication(f->ns, 1, &rep), 0);
	assert_int_equal(rep, 3);
	assert_int_equal(ns_dir_replication(f->ns, dir, &rep), 0);
	assert_int_equal(rep, 3);
	assert_int_equal(ns_dir_replication(f->ns, file, &rep), -ENOTDIR);
	assert_int_equal(ns_dir_replication(f->ns, 999999, &rep), -ENOENT);
	/* Cached: a change behind the namespace's back is not seen. */
	set_row_replication(f, dir, 7);
	assert_int_equal(ns_dir_replication(f->ns, dir, &rep), 0);
	assert_int_equal(rep, 3);

	assert_int_equal(set_replication(f, dir, 2), 0);
	assert_int_equal(ns_dir_replication(f->ns, dir, &rep), 0);
	assert_int_equal(rep, 2);
	assert_int_equal(ns_dir_replication(f->ns, 1, &rep), 0);
	assert_int_equal(rep, 3);

	/* Inside a group transaction: the old factor until the commit. */
	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(set_replication(f, dir, 5), 0);
	assert_int_equal(ns_dir_replication(f->ns, dir, &rep), 0);
	assert_int_equal(rep, 2);
	assert_int_equal(ns_commit(f->ns), 0);
	assert_int_equal(ns_dir_replication(f->ns, dir, &rep), 0);
	assert_int_equal(rep, 5);

	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(set_replication(f, dir, 1), 0);
	ns_rollback(f->ns);
	assert_int_equal(ns_dir_replication(f->ns, dir, &rep), 0);
	assert_int_equal(rep, 5);

	/* A new file inherits what the cache says. */
	file = mkfile(f, dir, "g");
	assert_int_equal(getattr(f, file, &a), 0);
	assert_int_equal(a.replication, 5);
}

/* A steady stream of commits wakes the checkpointer once per
 * NS_CKPT_BYTES of WAL growth, not after every commit past the first
 * NS_CKPT_BYTES (each checkpoint fsync()s the database). */
static void test_checkpoints_bounded(void **state)
{
	struct fixture *f = *state;
	uint64_t dir = mkdir_(f, 1, "many");
	char name[32];
	int i;

	assert_int_equal(ns_set_lazy_sync(f->ns, true), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		mkfile(f, dir, name);
	}
	/* Some 6 KiB of WAL per create: past the checkpointer's threshold
	 * a few times (a checkpoint after every commit made hundreds). */
	assert_true(ns_checkpoints(f->ns) >= 1);
	assert_true(ns_checkpoints(f->ns) <= 24);
	assert_int_equal(lookup(f, dir, "f2999"), (int64_t)f->next_ino - 1);
}

/* Whether the statement "sql" makes SQLite build a temporary b-tree. */
static bool uses_temp_btree(sqlite3 *db, const char *sql)
{
	char *explain = xasprintf("EXPLAIN %s", sql);
	sqlite3_stmt *st;
	bool found = false;

	assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *opcode = (const char *)sqlite3_column_text(st, 1);

		if (strcmp(opcode, "OpenEphemeral") == 0 ||
		    strcmp(opcode, "OpenAutoindex") == 0 ||
		    strcmp(opcode, "SorterOpen") == 0)
			found = true;
	}
	sqlite3_finalize(st);
	free(explain);
	return found;
}

/* The ops' cached statements build no temporary b-tree at each call
 * (RETURNING, IN (...) and sorting do): one was 6 % of the master's CPU
 * under a stream of creates. */
static void test_no_temp_btrees(void **state)
{
	struct fixture *f = *state;
	uint64_t dir = mkdir_(f, 1, "d"), ino;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int checked = 0;

	ino = mkfile(f, dir, "f");
	assert_int_equal(alloc(f, ino, 0, 3, 1000), 0);
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:i, s:[i,i]}", "op",
			       "setattr", "ino", (json_int_t)ino, "valid",
			       PROTO_SET_SIZE, "size", 1, "time", 1, 0),
			 0);
	mkfile(f, dir, "g");
	assert_int_equal(rename_(f, dir, "g", 1, "h", 0), 0);
	assert_int_equal(unlink_(f, "unlink", dir, "f"), 0);
	assert_int_equal(unlink_(f, "rmdir", 1, "d"), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	while ((st = sqlite3_next_stmt(f->ns->db, st)) != NULL) {
		const char *sql = sqlite3_sql(st);

		if (strncmp(sql, "SAVEPOINT", 9) == 0 ||
		    strncmp(sql, "RELEASE", 7) == 0 ||
		    strncmp(sql, "ROLLBACK", 8) == 0 ||
		    strncmp(sql, "BEGIN", 5) == 0 ||
		    strncmp(sql, "COMMIT", 6) == 0)
			continue;
		if (uses_temp_btree(db, sql))
			fail_msg("temporary b-tree in: %s", sql);
		checked++;
	}
	sqlite3_close(db);
	assert_true(checked >= 10);
}

/* ns_orphans() callback: append to a list of at most 16. */
struct id_list {
	uint64_t ids[16];
	size_t n;
};

static int id_collect(uint64_t id, void *arg)
{
	struct id_list *l = arg;

	assert_true(l->n < 16);
	l->ids[l->n++] = id;
	return 0;
}

static struct id_list orphans_before(struct fixture *f, unsigned max, time_t s,
				     long ns)
{
	struct timespec before = { .tv_sec = s, .tv_nsec = ns };
	struct ns_reader *rd = ns_reader_get(f->ns);
	struct id_list l = { .n = 0 };

	assert_non_null(rd);
	assert_int_equal(ns_orphans(rd, max, &before, id_collect, &l), 0);
	ns_reader_put(rd);
	return l;
}

/* Whether SQLite plans "sql" as a search of index "index" (not a scan
 * of it or of a table). */
static bool plan_searches(sqlite3 *db, const char *sql, const char *index)
{
	char *explain = xasprintf("EXPLAIN QUERY PLAN %s", sql);
	sqlite3_stmt *st;
	bool search = false, scan = false;

	assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(st, 3);

		if (strncmp(detail, "SCAN", 4) == 0)
			scan = true;
		if (strncmp(detail, "SEARCH", 6) == 0 &&
		    strstr(detail, index) != NULL)
			search = true;
	}
	sqlite3_finalize(st);
	free(explain);
	return search && !scan;
}

/* Orphans come out oldest first, only those whose last name went before
 * the given time, and the reaper's query reads only those: a range of
 * an index, no scan of every orphan, no sort. */
static void test_orphans_oldest_first(void **state)
{
	struct fixture *f = *state;
	uint64_t ino[6], linked;
	struct id_list l;
	char name[16];
	sqlite3 *db;

	/* Unlinked at 100, 105.5, 101, 104, 102, 103: not in ino order. */
	static const int at_s[6] = { 100, 105, 101, 104, 102, 103 };
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ino[i] = mkfile(f, 1, name);
		assert_int_equal(apply(f, "{s:s, s:i, s:s, s:b, s:[i,i]}", "op",
				       "unlink", "parent", 1, "name", name,
				       "orphan", 1, "time", at_s[i],
				       i == 1 ? 500000000 : 0),
				 0);
	}
	/* A file that keeps a name is no orphan. */
	linked = mkfile(f, 1, "kept");
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:s, s:[i,i]}", "op", "link",
			       "ino", (json_int_t)linked, "parent", 1, "name",
			       "kept2", "time", 90, 0),
			 0);
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:b, s:[i,i]}", "op",
			       "unlink", "parent", 1, "name", "kept", "orphan",
			       1, "time", 90, 0),
			 0);

	l = orphans_before(f, 16, 103, 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.ids[0], ino[0]);
	assert_int_equal(l.ids[1], ino[2]);
	assert_int_equal(l.ids[2], ino[4]);
	/* The limit takes the oldest. */
	l = orphans_before(f, 2, 200, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[0], ino[0]);
	assert_int_equal(l.ids[1], ino[2]);
	/* Nanoseconds count: 105.5 is not before 105.5, only after it. */
	l = orphans_before(f, 16, 105, 500000000);
	assert_int_equal(l.n, 5);
	l = orphans_before(f, 16, 105, 500000001);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.ids[5], ino[1]);
	/* Reaped ones are gone from it. */
	assert_int_equal(apply(f, "{s:s, s:[I,I]}", "op", "reap", "inos",
			       (json_int_t)ino[0], (json_int_t)ino[2]),
			 0);
	l = orphans_before(f, 16, 103, 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ids[0], ino[4]);

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_true(
		plan_searches(db, NS_ORPHANS_SQL, "inodes_orphans_by_ctime"));
	assert_false(uses_temp_btree(db, NS_ORPHANS_SQL));
	sqlite3_close(db);
}

/* A commit reaches the WAL file with one write however many pages it
 * changed, and readers see every commit right after it. */
static void test_wal_one_write_per_commit(void **state)
{
	struct fixture *f = *state;
	uint64_t dir = mkdir_(f, 1, "w");
	struct wal_vfs_stats before, after;
	char name[32];
	int i;

	assert_int_equal(ns_set_lazy_sync(f->ns, true), 0);
	wal_vfs_get_stats(&before);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		mkfile(f, dir, name);
		assert_int_equal(lookup(f, dir, name), (int64_t)f->next_ino - 1);
	}
	wal_vfs_get_stats(&after);
	/* Some 5 pages per create, two writes each (header, page)... */
	assert_true(after.writes - before.writes >= 200 * 2 * 3);
	/* ...reach the file in one write per commit (a checkpoint's WAL
	 * restart adds a header write now and then). */
	assert_true(after.flushes - before.flushes >= 200);
	assert_true(after.flushes - before.flushes <= 200 + 10);
}

/* A transaction whose WAL frames pass 128 KiB commits: SQLite's unix
 * VFS writes at most 128 KiB - 1 bytes per call (it masks the length),
 * so the held frames must reach it in smaller pieces. A reap of 300
 * files of 4 chunks each (2 replicas) writes some 1 MiB of frames. */
static void test_large_transaction(void **state)
{
	struct fixture *f = *state;
	uint64_t dir = mkdir_(f, 1, "big"), first = 0, v;
	struct ns_reader *rd;
	struct dfs_attr a;
	json_t *inos = json_array();
	char name[32];
	uint64_t ino;
	int i;

	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ino = mkfile(f, dir, name);
		if (i == 0)
			first = ino;
		assert_int_equal(alloc(f, ino, 0, 4, 10000 + 4 * (uint64_t)i),
				 0);
		assert_int_equal(apply(f, "{s:s, s:I, s:s, s:b, s:[i,i]}",
				       "op", "unlink", "parent",
				       (json_int_t)dir, "name", name, "orphan",
				       1, "time", 13, 0),
				 0);
		json_array_append_new(inos, json_integer((json_int_t)ino));
	}
	assert_int_equal(apply(f, "{s:s, s:o}", "op", "reap", "inos", inos),
			 0);
	assert_int_equal(getattr(f, first, &a), -ENOENT);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_chunk_version(rd, 10000, &v), -ENOENT);
	assert_int_equal(ns_chunk_version(rd, 10000 + 4 * 299 + 3, &v),
			 -ENOENT);
	ns_reader_put(rd);
}

/* Page size of the database at "path". */
static int db_page_size(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int size = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st,
					    NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		size = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return size;
}

/* A new database gets small pages; one made with SQLite's default
 * keeps its own and works as before. */
static void test_page_size(void **state)
{
	struct fixture *f = *state;
	char *old_path = xasprintf("%s/old.db", f->dir);
	struct ns *old;
	sqlite3 *db;
	json_t *op, *res = NULL;

	assert_int_equal(db_page_size(f->path), NS_PAGE_SIZE);
	assert_int_equal(sqlite3_open(old_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "PRAGMA page_size = 4096;"
				      "PRAGMA journal_mode = WAL;"
				      "CREATE TABLE t(a);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ns_open(old_path, 1024 * 1024, 3, &old), 0);
	op = json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:[i,i]}", "op",
		       "create", "parent", 1, "name", "x", "ino", 700, "mode",
		       S_IFREG | 0644, "uid", 0, "gid", 0, "time", 1, 0);
	assert_int_equal(ns_apply(old, op, &res), 0);
	json_decref(res);
	json_decref(op);
	ns_free(old);
	assert_int_equal(db_page_size(old_path), 4096);
	free(old_path);
}

static void check_counts(struct fixture *f, uint64_t inodes, uint64_t files,
			 uint64_t chunks)
{
	struct ns_reader *rd = ns_reader_get(f->ns);
	struct ns_counts c;

	assert_int_equal(ns_count(rd, &c), 0);
	ns_reader_put(rd);
	assert_int_equal(c.inodes, inodes);
	assert_int_equal(c.files, files);
	assert_int_equal(c.chunks, chunks);
}

static int count_servers(const char *addr, const char *rack,
			 uint64_t nreplicas, void *arg)
{
	int *n = arg;

	if (strcmp(addr, "127.0.0.1:1") == 0) {
		assert_string_equal(rack, "r1");
		/* 11 was reported lost, 10 moved to another server. */
		assert_int_equal(nreplicas, 0);
	}
	(*n)++;
	return 0;
}

static void test_servers_and_reports(void **state)
{
	struct fixture *f = *state;
	struct chunk_list l;
	struct ns_reader *rd;
	uint64_t ino;
	int n = 0;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 2, 10), 0);
	assert_int_equal(apply(f, "{s:s, s:s, s:s}", "op", "server_register",
			       "addr", "127.0.0.1:1", "rack", "r1"),
			 0);
	assert_int_equal(apply(f, "{s:s, s:s, s:s}", "op", "server_register",
			       "addr", "bad address", "rack", ""),
			 -EINVAL);
	/* Server 3 holds chunk 10 at the current version and 11 stale;
	 * server 1 lost chunk 11. */
	assert_int_equal(apply(f, "{s:s, s:s, s:[[i,i]], s:[]}", "op",
			       "replicas_update", "addr", "127.0.0.1:3",
			       "add", 10, 1, "remove"),
			 0);
	assert_int_equal(apply(f, "{s:s, s:s, s:[], s:[i]}", "op",
			       "replicas_update", "addr", "127.0.0.1:1",
			       "add", "remove", 11),
			 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.nreplicas[0], 3);
	assert_int_equal(l.nreplicas[1], 1);
	assert_int_equal(apply(f, "{s:s, s:i, s:[s]}", "op", "set_replicas",
			       "handle", 10, "replicas", "127.0.0.1:9"),
			 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.nreplicas[0], 1);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_servers(rd, count_servers, &n), 0);
	assert_int_equal(n, 1);
	ns_reader_put(rd);
}

/* Server "addr" reports that it has none of chunks 80, 81 and 82. */
static void report_lost_80_82(struct fixture *f, const char *addr)
{
	assert_int_equal(apply(f, "{s:s, s:s, s:[], s:[i,i,i]}", "op",
			       "replicas_update", "addr", addr, "add",
			       "remove", 80, 81, 82),
			 0);
}

/* The last replica row of a chunk wholly past the end of its file takes
 * the chunk with it (allocated, never written); inside the file the
 * chunk stays, without replicas (lost). */
static void test_unwritten_chunks(void **state)
{
	struct fixture *f = *state;
	uint64_t cs = ns_chunk_size(f->ns), ino;
	struct chunk_list l;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 3, 80), 0);
	extend_to(f, ino, cs + 10);
	check_counts(f, 2, 1, 3);
	report_lost_80_82(f, "127.0.0.1:1");
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 3);
	report_lost_80_82(f, "127.0.0.1:2");
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.handle[0], 80);
	assert_int_equal(l.nreplicas[0], 0);
	assert_int_equal(l.handle[1], 81);
	assert_int_equal(l.nreplicas[1], 0);
	check_counts(f, 2, 1, 2);
	ns_free(f->ns);
	f->ns = NULL;
	assert_int_equal(ns_open(f->path, 0, 3, &f->ns), 0);
	check_counts(f, 2, 1, 2);
}

/* Rows no server ever confirmed ("unwritten"): with the last of them the
 * chunk goes wherever it lies, inside the file too (a hole, not a lost
 * chunk); a chunk with a row left stays. */
static void test_never_written_chunks(void **state)
{
	struct fixture *f = *state;
	uint64_t cs = ns_chunk_size(f->ns), ino;
	struct chunk_list l;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 2, 90), 0);
	extend_to(f, ino, 2 * cs);
	assert_int_equal(apply(f, "{s:s, s:s, s:[], s:[], s:[i]}", "op",
			       "replicas_update", "addr", "127.0.0.1:1", "add",
			       "remove", "unwritten", 90),
			 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.nreplicas[0], 1);
	assert_int_equal(apply(f, "{s:s, s:s, s:[i]}", "op",
			       "replicas_update", "addr", "127.0.0.1:2",
			       "unwritten", 90),
			 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.handle[0], 91);
	check_counts(f, 2, 1, 1);
	assert_int_equal(apply(f, "{s:s, s:s, s:[s]}", "op",
			       "replicas_update", "addr", "127.0.0.1:2",
			       "unwritten", "x"),
			 -EINVAL);
}

/* ns_unconfirmed_rows() callback: count the rows, remember the last. */
struct unconfirmed_seen {
	size_t n;
	uint64_t handle;
	char addr[DFS_ADDR_MAX];
};

static void see_unconfirmed(uint64_t handle, const char *addr, void *arg)
{
	struct unconfirmed_seen *s = arg;

	s->n++;
	s->handle = handle;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
}

static struct unconfirmed_seen unconfirmed_rows(struct fixture *f)
{
	struct unconfirmed_seen s = { 0 };
	struct ns_reader *rd = ns_reader_get(f->ns);

	assert_int_equal(ns_unconfirmed_rows(rd, see_unconfirmed, &s), 0);
	ns_reader_put(rd);
	return s;
}

/* A chunk is unconfirmed from its allocation until a server reports it
 * ("confirmed"), in the database, so the mark outlives the master.
 * Only an unconfirmed chunk goes with its last "unwritten" row: a
 * confirmed one was held somewhere and its loss is a loss. Deleting
 * the file drops the mark. */
static void test_confirmed_chunks(void **state)
{
	struct fixture *f = *state;
	uint64_t cs = ns_chunk_size(f->ns), ino;
	struct unconfirmed_seen seen;
	struct chunk_list l;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 2, 80), 0);
	extend_to(f, ino, 2 * cs);
	seen = unconfirmed_rows(f);
	assert_int_equal(seen.n, 4);   /* 2 chunks, 2 rows each */
	assert_int_equal(apply(f, "{s:s, s:s, s:[i]}", "op", "replicas_update",
			       "addr", "127.0.0.1:1", "confirmed", 80),
			 0);
	seen = unconfirmed_rows(f);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.handle, 81);
	/* Every row of the confirmed chunk goes as unwritten: it stays,
	 * without replicas (lost, not a hole). */
	assert_int_equal(apply(f, "{s:s, s:s, s:[i]}", "op", "replicas_update",
			       "addr", "127.0.0.1:1", "unwritten", 80),
			 0);
	assert_int_equal(apply(f, "{s:s, s:s, s:[i]}", "op", "replicas_update",
			       "addr", "127.0.0.1:2", "unwritten", 80),
			 0);
	assert_int_equal(list_chunks(f, ino, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.handle[0], 80);
	assert_int_equal(l.nreplicas[0], 0);
	/* Reopened, the mark is still there; unlinking the file drops it. */
	ns_free(f->ns);
	f->ns = NULL;
	assert_int_equal(ns_open(f->path, 1024 * 1024, 3, &f->ns), 0);
	seen = unconfirmed_rows(f);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.addr, "127.0.0.1:2");
	assert_int_equal(apply(f, "{s:s, s:i, s:s, s:[i, i]}", "op", "unlink",
			       "parent", 1, "name", "f", "time", 1, 0),
			 0);
	seen = unconfirmed_rows(f);
	assert_int_equal(seen.n, 0);
	assert_int_equal(apply(f, "{s:s, s:s, s:s}", "op", "replicas_update",
			       "addr", "127.0.0.1:2", "confirmed", "x"),
			 -EINVAL);
}

/* A create op with "chunks" (EP_CREATE "chunk"). */
static int create_with_chunk(struct fixture *f, const char *name,
			     uint32_t mode, uint64_t ino, const char *addr)
{
	return apply(f, "{s:s, s:i, s:s, s:I, s:i, s:i, s:i, s:[i,i], "
			"s:[{s:i, s:i, s:[s]}]}",
		     "op", "create", "parent", 1, "name", name, "ino",
		     (json_int_t)ino, "mode", mode, "uid", 0, "gid", 0, "time",
		     10, 0, "chunks", "index", 0, "handle", 900, "replicas",
		     addr);
}

/* The chunk a create places is allocated in the create's own change, as
 * alloc_chunks would (unconfirmed); a create that fails leaves no chunk,
 * and only a regular file takes one. */
static void test_create_with_chunk(void **state)
{
	struct fixture *f = *state;
	struct unconfirmed_seen seen;
	struct chunk_list l;

	assert_int_equal(create_with_chunk(f, "f", S_IFREG | 0644, 50,
					   "127.0.0.1:1"),
			 0);
	assert_int_equal(list_chunks(f, 50, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.index[0], 0);
	assert_int_equal(l.handle[0], 900);
	assert_int_equal(l.nreplicas[0], 1);
	seen = unconfirmed_rows(f);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.handle, 900);
	/* The name exists: nothing of the op stays. */
	assert_int_equal(create_with_chunk(f, "f", S_IFREG | 0644, 51,
					   "127.0.0.1:2"),
			 -EEXIST);
	assert_int_equal(list_chunks(f, 51, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(unconfirmed_rows(f).n, 1);
	/* A FIFO, or a malformed chunk, fails the whole create. */
	assert_int_equal(create_with_chunk(f, "p", S_IFIFO | 0644, 52,
					   "127.0.0.1:1"),
			 -EINVAL);
	assert_int_equal(create_with_chunk(f, "g", S_IFREG | 0644, 53,
					   "not an address"),
			 -EINVAL);
	check_counts(f, 2, 1, 1);
}

/* A server's replica rows come in handle order with their chunks'
 * current versions, from one pass over an index (no temporary b-tree),
 * and a row that outlived its chunk says so. */
static void test_server_replicas(void **state)
{
	struct fixture *f = *state;
	struct ns_replica_row *rows;
	struct ns_reader *rd;
	sqlite3 *db;
	uint64_t ino;
	size_t n;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 3, 700), 0);
	assert_int_equal(alloc(f, mkfile(f, 1, "g"), 0, 1, 600), 0);
	assert_int_equal(apply(f, "{s:s, s:i, s:i}", "op", "bump_version",
			       "handle", 701, "version", 5),
			 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO replicas(handle, addr) "
				      "VALUES (650, '127.0.0.1:1')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_server_replicas(rd, "127.0.0.1:1", &rows, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(rows[0].handle, 600);
	assert_true(rows[0].has_chunk);
	assert_int_equal(rows[0].version, 1);
	assert_int_equal(rows[1].handle, 650);
	assert_false(rows[1].has_chunk);
	assert_int_equal(rows[2].handle, 700);
	assert_int_equal(rows[2].version, 1);
	assert_int_equal(rows[3].handle, 701);
	assert_int_equal(rows[3].version, 5);
	assert_int_equal(rows[4].handle, 702);
	free(rows);
	assert_int_equal(ns_server_replicas(rd, "127.0.0.1:9", &rows, &n), 0);
	assert_int_equal(n, 0);
	free(rows);
	assert_false(uses_temp_btree(
		db, sqlite3_sql(rd->stmt[R_SERVER_REPLICAS])));
	ns_reader_put(rd);
	sqlite3_close(db);
}

/* What the freed hook has been handed, in order. */
struct freed_log {
	uint64_t handle[32];
	char addr[32][DFS_ADDR_MAX];
	int n;
	int calls;
};

static void note_freed_cb(void *arg, const struct ns_freed_replica *v,
			  size_t n)
{
	struct freed_log *log = arg;

	log->calls++;
	for (size_t i = 0; i < n; i++) {
		assert_true(log->n < 32);
		log->handle[log->n] = v[i].handle;
		snprintf(log->addr[log->n], DFS_ADDR_MAX, "%s", v[i].addr);
		log->n++;
	}
}

/* The replicas of chunks a committed op drops reach the freed hook once,
 * after the commit; a failed op in a group reports none of its own, and
 * a rolled-back group none at all. */
static void test_freed_hook(void **state)
{
	struct fixture *f = *state;
	struct freed_log log = { .n = 0 };
	uint64_t ino, g;

	ns_set_freed_hook(f->ns, note_freed_cb, &log);
	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 3, 900), 0);
	extend_to(f, ino, 3 << 20);
	assert_int_equal(log.calls, 0);
	/* Truncate to one chunk: chunks 901 and 902 go, each on 2 servers. */
	assert_int_equal(apply(f, "{s:s, s:I, s:i, s:I, s:[i,i]}", "op",
			       "setattr", "ino", (json_int_t)ino, "valid",
			       PROTO_SET_SIZE, "size", 10, "time", 41, 0),
			 0);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.n, 4);
	assert_int_equal(log.handle[0], 901);
	assert_string_equal(log.addr[0], "127.0.0.1:1");
	assert_string_equal(log.addr[1], "127.0.0.1:2");
	assert_int_equal(log.handle[3], 902);

	/* In a group: an unlink that fails (no such name) adds nothing, the
	 * one that works adds its chunk; the hook runs at the commit. */
	g = mkfile(f, 1, "g");
	assert_int_equal(alloc(f, g, 0, 1, 950), 0);
	log.n = log.calls = 0;
	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(unlink_(f, "unlink", 1, "g"), 0);
	assert_int_equal(unlink_(f, "unlink", 1, "nosuch"), -ENOENT);
	assert_int_equal(log.calls, 0);
	assert_int_equal(ns_commit(f->ns), 0);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.handle[0], 950);

	/* A group rolled back frees nothing. */
	log.n = log.calls = 0;
	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(unlink_(f, "unlink", 1, "f"), 0);
	ns_rollback(f->ns);
	assert_int_equal(ns_begin(f->ns), 0);
	assert_int_equal(ns_commit(f->ns), 0);
	assert_int_equal(log.calls, 0);
	assert_true(lookup(f, 1, "f") > 0);
	ns_set_freed_hook(f->ns, NULL, NULL);
}

/* One server's row of one chunk, as a report of changes looks it up. */
static void test_replica_row(void **state)
{
	struct fixture *f = *state;
	struct ns_replica_row row;
	struct ns_reader *rd;
	bool has_row;
	sqlite3 *db;

	assert_int_equal(alloc(f, mkfile(f, 1, "f"), 0, 1, 300), 0);
	assert_int_equal(apply(f, "{s:s, s:i, s:i}", "op", "bump_version",
			       "handle", 300, "version", 4),
			 0);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_replica_row_get(rd, 300, "127.0.0.1:2", &row,
					    &has_row),
			 0);
	assert_true(row.has_chunk && has_row);
	assert_int_equal(row.version, 4);
	assert_int_equal(ns_replica_row_get(rd, 300, "127.0.0.1:7", &row,
					    &has_row),
			 0);
	assert_true(row.has_chunk && !has_row);
	assert_int_equal(ns_replica_row_get(rd, 301, "127.0.0.1:2", &row,
					    &has_row),
			 0);
	assert_true(!row.has_chunk && !has_row);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_false(uses_temp_btree(db,
				     sqlite3_sql(rd->stmt[R_REPLICA_ROW])));
	sqlite3_close(db);
	ns_reader_put(rd);
}

/* New versions: bump_version with the replicas that took it, and a
 * newer version reported by a replica adopted (fault tolerance). */
static void test_versions(void **state)
{
	struct fixture *f = *state;
	struct ns_chunk_owner owner;
	struct ns_reader *rd;
	struct dfs_chunk c;
	uint64_t ino;

	ino = mkfile(f, 1, "f");
	assert_int_equal(alloc(f, ino, 0, 1, 50), 0);
	/* Server 2 did not take version 2: it leaves the replica set. */
	assert_int_equal(apply(f, "{s:s, s:i, s:i, s:[s]}", "op",
			       "bump_version", "handle", 50, "version", 2,
			       "replicas", "127.0.0.1:1"),
			 0);
	assert_int_equal(apply(f, "{s:s, s:i, s:i, s:[s]}", "op",
			       "bump_version", "handle", 50, "version", 3,
			       "replicas", "bad address"),
			 -EINVAL);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_chunk_get(rd, 50, &c, &owner), 0);
	assert_int_equal(c.version, 2);
	assert_int_equal(c.nreplicas, 1);
	assert_string_equal(c.replicas[0], "127.0.0.1:1");
	assert_int_equal(owner.ino, ino);
	assert_int_equal(owner.replication, 3);
	assert_int_equal(ns_chunk_get(rd, 51, &c, NULL), -ENOENT);
	ns_reader_put(rd);
	/* A stale report is ignored, a current one recorded. */
	assert_int_equal(apply(f, "{s:s, s:s, s:[[i,i]], s:[]}", "op",
			       "replicas_update", "addr", "127.0.0.1:2",
			       "add", 50, 1, "remove"),
			 0);
	assert_int_equal(apply(f, "{s:s, s:s, s:[[i,i]], s:[]}", "op",
			       "replicas_update", "addr", "127.0.0.1:3",
			       "add", 50, 2, "remove"),
			 0);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_chunk_get(rd, 50, &c, NULL), 0);
	assert_int_equal(c.nreplicas, 2);
	ns_reader_put(rd);
	/* Version 4 reached server 3 but not the database: adopted, and
	 * server 3 is the only replica at it. */
	assert_int_equal(apply(f, "{s:s, s:s, s:[[i,i]], s:[]}", "op",
			       "replicas_update", "addr", "127.0.0.1:3",
			       "add", 50, 4, "remove"),
			 0);
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_chunk_get(rd, 50, &c, NULL), 0);
	assert_int_equal(c.version, 4);
	assert_int_equal(c.nreplicas, 1);
	assert_string_equal(c.replicas[0], "127.0.0.1:3");
	ns_reader_put(rd);
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	struct ns_reader *rd;
	struct dfs_attr a;
	uint64_t d, x;

	d = mkdir_(f, 1, "d");
	x = mkfile(f, d, "x");
	rd = ns_reader_get(f->ns);
	assert_int_equal(ns_resolve(rd, "/", &a), 0);
	assert_int_equal(a.ino, 1);
	assert_int_equal(ns_resolve(rd, "/d//x", &a), 0);
	assert_int_equal(a.ino, x);
	assert_int_equal(ns_resolve(rd, "/d/", &a), 0);
	assert_int_equal(a.ino, d);
	assert_int_equal(ns_resolve(rd, "/d/x/y", &a), -ENOTDIR);
	assert_int_equal(ns_resolve(rd, "/d/../d", &a), -EINVAL);
	assert_int_equal(ns_resolve(rd, "d", &a), -EINVAL);
	assert_int_equal(ns_resolve(rd, "/nope", &a), -ENOENT);
	ns_reader_put(rd);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct chunk_list l;
	struct dfs_attr a;
	uint64_t d, x;

	d = mkdir_(f, 1, "d");
	x = mkfile(f, d, "x");
	assert_int_equal(alloc(f, x, 0, 3, 70), 0);
	ns_free(f->ns);
	f->ns = NULL;
	/* A different chunk size is ignored with a warning. */
	assert_int_equal(ns_open(f->path, 2 * 1024 * 1024, 1, &f->ns), 0);
	assert_int_equal(ns_chunk_size(f->ns), 1024 * 1024);
	assert_int_equal(lookup(f, 1, "d"), d);
	assert_int_equal(lookup(f, d, "x"), x);
	assert_int_equal(getattr(f, 1, &a), 0);
	assert_int_equal(a.nlink, 3);
	assert_int_equal(a.replication, 3);
	assert_int_equal(list_chunks(f, x, &l), 0);
	assert_int_equal(l.n, 3);
	assert_true(ns_reserve_ino(f->ns) > x);
	assert_true(ns_reserve_handle(f->ns) > 72);
	/* New entries list after the old ones. */
	mkfile(f, 1, "after");
	assert_int_equal(lookup(f, 1, "after") > 0, 1);
}

static void test_counts(void **state)
{
	struct fixture *f = *state;
	uint64_t d, x;

	check_counts(f, 1, 0, 0);
	d = mkdir_(f, 1, "d");
	x = mkfile(f, d, "x");
	mkfile(f, d, "y");
	assert_int_equal(alloc(f, x, 0, 3, 70), 0);
	check_counts(f, 4, 2, 3);
	/* A failed op changes no counter. */
	assert_int_equal(unlink_(f, "rmdir", 1, "d"), -ENOTEMPTY);
	assert_int_equal(rename_(f, d, "y", d, "x", 0), 0);
	check_counts(f, 3, 1, 0);
	ns_free(f->ns);
	f->ns = NULL;
	assert_int_equal(ns_open(f->path, 0, 3, &f->ns), 0);
	check_counts(f, 3, 1, 0);
	assert_int_equal(unlink_(f, "unlink", d, "x"), 0);
	assert_int_equal(unlink_(f, "rmdir", 1, "d"), 0);
	check_counts(f, 1, 0, 0);
}

/* Two readers and the writer at once: every committed create is seen. */
struct race {
	struct fixture *f;
	int done;
};

static void *race_reader(void *arg)
{
	struct race *rc = arg;
	struct ns_reader *rd = ns_reader_get(rc->f->ns);
	struct dfs_attr a;
	int seen = 0;

	while (!__atomic_load_n(&rc->done, __ATOMIC_ACQUIRE))
		if (ns_getattr(rd, DFS_ROOT_INO, &a) == 0)
			seen++;
	ns_reader_put(rd);
	return (void *)(intptr_t)(seen > 0);
}

static void test_concurrent_readers(void **state)
{
	struct fixture *f = *state;
	struct race rc = { f, 0 };
	pthread_t t[2];
	char name[16];
	void *ok;
	int i;

	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_reader, &rc),
				 0);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		mkfile(f, 1, name);
		assert_true(lookup(f, 1, name) > 0);
	}
	__atomic_store_n(&rc.done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], &ok);
		assert_non_null(ok);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_lookup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_paging, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rename_over_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rename_dirs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rmdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_replies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dir_change_counts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_size, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_temp_btrees, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wal_one_write_per_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dir_replication, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_servers_and_reports, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unwritten_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_never_written_chunks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirmed_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_replicas, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_freed_hook, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_replica_row, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphans_oldest_first,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_with_chunk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup,
						teardown),
	};

	log_init("test_namespace", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
