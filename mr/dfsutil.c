/*
 * dfsutil.c - path-level DFS helpers for mr (see dfsutil.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfs_proto.h"
#include "dfsutil.h"
#include "proto.h"
#include "xmalloc.h"

#include "banned.h"

int dfsu_split(const char *path, char **parent, char **name)
{
	const char *slash = strrchr(path, '/');
	size_t plen;

	if (path[0] != '/' || slash == NULL || slash[1] == '\0' ||
	    !proto_name_is_valid(slash + 1))
		return -EINVAL;
	plen = (size_t)(slash - path);
	*parent = plen == 0 ? xstrdup("/") : strndup(path, plen);
	if (*parent == NULL)
		return -ENOMEM;
	*name = xstrdup(slash + 1);
	return 0;
}

int dfsu_mkdir_p(struct dfs_client *c, const char *path, uint64_t *ino)
{
	struct dfs_attr a;
	char *p = xstrdup(path), *s, *name;
	uint64_t cur = DFS_ROOT_INO;
	int r = 0;

	for (s = p; *s == '/'; s++)
		;
	while (*s != '\0') {
		name = s;
		while (*s != '\0' && *s != '/')
			s++;
		if (*s == '/')
			*s++ = '\0';
		while (*s == '/')
			s++;
		r = dfs_lookup(c, cur, name, &a);
		if (r == -ENOENT)
			r = dfs_mkdir(c, cur, name, 0755, (uint32_t)getuid(),
				      (uint32_t)getgid(), &a, NULL);
		if (r == -EEXIST)
			r = dfs_lookup(c, cur, name, &a);
		if (r != 0)
			goto out;
		if (!S_ISDIR(a.mode)) {
			r = -ENOTDIR;
			goto out;
		}
		cur = a.ino;
	}
	if (ino != NULL)
		*ino = cur;
out:
	free(p);
	return r;
}

/* Names collected from one directory. */
struct dfsu_names {
	char **v;
	uint32_t *mode;
	size_t n;
};

static int dfsu_collect(const struct dfs_dirent *e, void *arg)
{
	struct dfsu_names *nm = arg;

	nm->v = xrealloc(nm->v, (nm->n + 1) * sizeof(*nm->v));
	nm->mode = xrealloc(nm->mode, (nm->n + 1) * sizeof(*nm->mode));
	nm->v[nm->n] = xstrdup(e->name);
	nm->mode[nm->n++] = e->attr.mode;
	return 0;
}

static void dfsu_names_release(struct dfsu_names *nm)
{
	size_t i;

	for (i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	free(nm->mode);
	memset(nm, 0, sizeof(*nm));
}

/* Remove everything inside directory ino, depth first. */
static int dfsu_empty_dir(struct dfs_client *c, uint64_t ino, int depth)
{
	struct dfsu_names nm = { 0 };
	struct dfs_attr a;
	size_t i;
	int r;

	if (depth > 64)
		return -ELOOP;
	if ((r = dfs_readdir(c, ino, 0, dfsu_collect, &nm)) != 0)
		goto out;
	for (i = 0; i < nm.n; i++) {
		if (S_ISDIR(nm.mode[i])) {
			if ((r = dfs_lookup(c, ino, nm.v[i], &a)) == 0 &&
			    (r = dfsu_empty_dir(c, a.ino, depth + 1)) == 0)
				r = dfs_rmdir(c, ino, nm.v[i], NULL);
		} else {
			r = dfs_unlink(c, ino, nm.v[i], NULL);
		}
		if (r != 0 && r != -ENOENT)
			goto out;
	}
	r = 0;
out:
	dfsu_names_release(&nm);
	return r;
}

int dfsu_rm_rf(struct dfs_client *c, const char *path)
{
	char *parent = NULL, *name = NULL;
	struct dfs_attr a, pa;
	int r;

	if ((r = dfs_resolve(c, path, &a)) != 0)
		return r == -ENOENT ? 0 : r;
	if ((r = dfsu_split(path, &parent, &name)) != 0 ||
	    (r = dfs_resolve(c, parent, &pa)) != 0)
		goto out;
	if (S_ISDIR(a.mode)) {
		if ((r = dfsu_empty_dir(c, a.ino, 0)) == 0)
			r = dfs_rmdir(c, pa.ino, name, NULL);
	} else {
		r = dfs_unlink(c, pa.ino, name, NULL);
	}
	if (r == -ENOENT)
		r = 0;
out:
	free(parent);
	free(name);
	return r;
}

int dfsu_create(struct dfs_client *c, const char *path, struct dfs_attr *a)
{
	char *parent = NULL, *name = NULL;
	struct dfs_attr pa;
	int r;

	if ((r = dfsu_split(path, &parent, &name)) != 0 ||
	    (r = dfs_resolve(c, parent, &pa)) != 0)
		goto out;
	r = dfs_create(c, pa.ino, name, S_IFREG | 0644, (uint32_t)getuid(),
		       (uint32_t)getgid(), a, NULL);
out:
	free(parent);
	free(name);
	return r;
}

int dfsu_rename(struct dfs_client *c, const char *from, const char *to,
		unsigned flags)
{
	char *fp = NULL, *fn = NULL, *tp = NULL, *tn = NULL;
	struct dfs_attr fa, ta;
	int r;

	if ((r = dfsu_split(from, &fp, &fn)) != 0 ||
	    (r = dfsu_split(to, &tp, &tn)) != 0 ||
	    (r = dfs_resolve(c, fp, &fa)) != 0 ||
	    (r = dfs_resolve(c, tp, &ta)) != 0)
		goto out;
	r = dfs_rename(c, fa.ino, fn, ta.ino, tn, flags, NULL);
out:
	free(fp);
	free(fn);
	free(tp);
	free(tn);
	return r;
}

/* Counting callback: stops once the limit is reached. */
struct dfsu_count {
	unsigned n;
	unsigned max;
};

static int dfsu_count_fn(const struct dfs_dirent *e, void *arg)
{
	struct dfsu_count *cnt = arg;

	(void)e;
	return ++cnt->n >= cnt->max ? 1 : 0;
}

int dfsu_count_entries(struct dfs_client *c, uint64_t ino, unsigned max,
		       unsigned *n)
{
	struct dfsu_count cnt = { 0, max };
	int r = dfs_readdir(c, ino, 0, dfsu_count_fn, &cnt);

	*n = cnt.n;
	return r;
}

static int dfsu_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Call fn for each visible regular file of directory "dir". */
static int dfsu_list_dir(struct dfs_client *c, const char *dir, uint64_t ino,
			 dfsu_file_fn fn, void *arg)
{
	struct dfsu_names nm = { 0 };
	struct dfs_attr a;
	char *path;
	size_t i;
	int r;

	if ((r = dfs_readdir(c, ino, 0, dfsu_collect, &nm)) != 0)
		goto out;
	qsort(nm.v, nm.n, sizeof(*nm.v), dfsu_cmp_names);
	for (i = 0; i < nm.n; i++) {
		if (nm.v[i][0] == '_' || nm.v[i][0] == '.')
			continue;
		if ((r = dfs_lookup(c, ino, nm.v[i], &a)) != 0)
			goto out;
		if (!S_ISREG(a.mode))
			continue;
		path = xasprintf("%s%s%s", dir,
				 dir[strlen(dir) - 1] == '/' ? "" : "/",
				 nm.v[i]);
		r = fn(arg, path, &a);
		free(path);
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	dfsu_names_release(&nm);
	return r;
}

int dfsu_list(struct dfs_client *c, const char *path, dfsu_file_fn fn,
	      void *arg)
{
	struct dfs_attr a;
	int r;

	if ((r = dfs_resolve(c, path, &a)) != 0)
		return r;
	if (S_ISREG(a.mode))
		return fn(arg, path, &a);
	if (!S_ISDIR(a.mode))
		return -EINVAL;
	return dfsu_list_dir(c, path, a.ino, fn, arg);
}

int dfsu_chunks(struct http_client *hc, const char *master, uint64_t ino,
		uint64_t index, uint64_t count, json_t **reply)
{
	json_t *req = json_pack("{s:I, s:I, s:I, s:b}", "ino", (json_int_t)ino,
				"index", (json_int_t)index, "count",
				(json_int_t)count, "write", 0);
	int r;

	if (req == NULL)
		return -EINVAL;
	r = rpc_call(hc, master, EP_CHUNKS, req, reply, NULL);
	json_decref(req);
	return r;
}
