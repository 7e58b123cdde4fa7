/*
 * cmd_ns.c - namespace subcommands of `dfs`: ls, mkdir, rm, rmdir, mv.
 *
 * All of them go through the client library's namespace calls. A command
 * given several paths handles each in turn, reports each failure once and
 * exits 1 if any failed, like coreutils.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "xmalloc.h"

#include "banned.h"

/* One listed directory entry (name owned). */
struct ns_entry {
	char *name;
	struct dfs_attr attr;
};

/* A whole directory listing, grown as entries arrive. */
struct ns_list {
	struct ns_entry *v;
	size_t n;
	size_t cap;
};

/* Flags of ls, rm and mkdir. */
struct ns_opts {
	bool all_parents; /* mkdir -p */
	bool force;       /* rm -f */
	bool longfmt;     /* ls -l */
	bool recursive;   /* ls -R, rm -r */
};

static int ns_opt(int opt, const char *arg, void *ctx)
{
	struct ns_opts *o = ctx;

	(void)arg;
	switch (opt) {
	case 'f':
		o->force = true;
		return 0;
	case 'l':
		o->longfmt = true;
		return 0;
	case 'p':
		o->all_parents = true;
		return 0;
	case 'r':
	case 'R':
		o->recursive = true;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Permission bits for new directories: 0777 less the umask. */
static uint32_t ns_dir_mode(void)
{
	mode_t m = umask(0);

	umask(m);
	return 0777 & ~m;
}

static int ns_list_add(const struct dfs_dirent *ent, void *arg)
{
	struct ns_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].name = xstrdup(ent->name);
	l->v[l->n].attr = ent->attr;
	l->n++;
	return 0;
}

static void ns_list_release(struct ns_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int ns_entry_cmp(const void *a, const void *b)
{
	const struct ns_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Every entry of directory "ino", sorted by name, into *l. */
static int ns_list_dir(struct cli *cli, uint64_t ino, struct ns_list *l)
{
	int r;

	if ((r = dfs_readdir(cli_client(cli), ino, 0, ns_list_add, l)) != 0)
		return r;
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), ns_entry_cmp);
	return 0;
}

/* "drwxr-xr-x" for a mode, into buf (at least 11 bytes). */
static const char *ns_mode_str(uint32_t mode, char *buf)
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	switch (mode & S_IFMT) {
	case S_IFDIR: buf[0] = 'd'; break;
	case S_IFLNK: buf[0] = 'l'; break;
	case S_IFCHR: buf[0] = 'c'; break;
	case S_IFBLK: buf[0] = 'b'; break;
	case S_IFIFO: buf[0] = 'p'; break;
	case S_IFSOCK: buf[0] = 's'; break;
	default: buf[0] = '-'; break;
	}
	for (i = 0; i < 9; i++)
		buf[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		buf[3] = (mode & 0100) ? 's' : 'S';
	if (mode & S_ISGID)
		buf[6] = (mode & 0010) ? 's' : 'S';
	if (mode & S_ISVTX)
		buf[9] = (mode & 0001) ? 't' : 'T';
	buf[10] = '\0';
	return buf;
}

/* Print one entry in the short or long format. */
static void ls_print(struct cli *cli, const struct ns_opts *o,
		     const char *name, const struct dfs_attr *a)
{
	char mode[11], when[32], target[DFS_PATH_MAX];
	struct tm tm;
	time_t t = a->mtime.tv_sec;

	if (!o->longfmt) {
		printf("%s\n", name);
		return;
	}
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)t);
	printf("%s %3u %5u %5u %12llu %s %s", ns_mode_str(a->mode, mode),
	       a->nlink, a->uid, a->gid, (unsigned long long)a->size, when,
	       name);
	if ((a->mode & S_IFMT) == S_IFLNK &&
	    dfs_readlink(cli_client(cli), a->ino, target, sizeof(target)) >= 0)
		printf(" -> %s", target);
	printf("\n");
}

/* List directory "path" (inode ino); with -R, its subdirectories too. */
static int ls_dir(struct cli *cli, const struct ns_opts *o, const char *path,
		  uint64_t ino, bool header)
{
	struct ns_list l = { 0 };
	char sub[DFS_PATH_MAX];
	size_t i;
	int r, failed = 0;

	if ((r = ns_list_dir(cli, ino, &l)) != 0) {
		r = cli_err(cli, "ls", path, r);
		goto out;
	}
	if (header)
		printf("%s:\n", path);
	for (i = 0; i < l.n; i++)
		ls_print(cli, o, l.v[i].name, &l.v[i].attr);
	for (i = 0; o->recursive && i < l.n; i++) {
		if ((l.v[i].attr.mode & S_IFMT) != S_IFDIR)
			continue;
		if (cli_path_join(path, l.v[i].name, sub, sizeof(sub)) != 0) {
			failed = cli_err(cli, "ls", l.v[i].name, ENAMETOOLONG);
			continue;
		}
		printf("\n");
		if (ls_dir(cli, o, sub, l.v[i].attr.ino, true) != CLI_OK)
			failed = CLI_FAIL;
	}
	r = failed;
out:
	ns_list_release(&l);
	return r;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	struct ns_opts o = { 0 };
	char path[DFS_PATH_MAX];
	char *def[] = { (char *)"/" };
	char **ops;
	struct dfs_attr a;
	int i, n, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "lR", NULL, ns_opt, &o)) <= 0)
		return -i;
	ops = i < argc ? argv + i : def;
	n = i < argc ? argc - i : 1;
	for (i = 0; i < n; i++) {
		if ((r = cli_path_norm(ops[i], path, sizeof(path))) != 0 ||
		    (r = dfs_resolve(cli_client(cli), path, &a)) != 0) {
			status = cli_err(cli, "ls", ops[i], r);
			continue;
		}
		if ((a.mode & S_IFMT) != S_IFDIR) {
			ls_print(cli, &o, path, &a);
			continue;
		}
		if (i > 0)
			printf("\n");
		if (ls_dir(cli, &o, path, a.ino, n > 1 || o.recursive) !=
		    CLI_OK)
			status = CLI_FAIL;
	}
	return status;
}

/* mkdir -p: create every missing component of normalized "path". */
static int mkdir_parents(struct cli *cli, const char *path)
{
	struct dfs_client *c = cli_client(cli);
	char name[DFS_NAME_MAX + 1];
	const char *p = path, *end;
	uint64_t cur = DFS_ROOT_INO;
	struct dfs_attr a;
	int r;

	while (*p == '/')
		p++;
	while (*p != '\0') {
		end = strchrnul(p, '/');
		snprintf(name, sizeof(name), "%.*s", (int)(end - p), p);
		r = dfs_lookup(c, cur, name, &a);
		if (r == -ENOENT) {
			r = dfs_mkdir(c, cur, name, ns_dir_mode(), getuid(),
				      getgid(), &a, NULL);
			if (r == -EEXIST)
				r = dfs_lookup(c, cur, name, &a);
		}
		if (r != 0)
			return r;
		if ((a.mode & S_IFMT) != S_IFDIR)
			return -ENOTDIR;
		cur = a.ino;
		p = *end == '/' ? end + 1 : end;
	}
	return 0;
}

/* mkdir of one path, without -p. */
static int mkdir_one(struct cli *cli, const char *path)
{
	const char *name;
	uint64_t parent;
	int r;

	if (strcmp(path, "/") == 0)
		return -EEXIST;
	if ((r = cli_resolve_parent(cli, path, &parent, &name)) != 0)
		return r;
	return dfs_mkdir(cli_client(cli), parent, name, ns_dir_mode(),
			 getuid(), getgid(), NULL, NULL);
}

int cmd_mkdir(struct cli *cli, int argc, char **argv)
{
	struct ns_opts o = { 0 };
	char path[DFS_PATH_MAX];
	int i, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "p", NULL, ns_opt, &o)) <= 0)
		return -i;
	if (i == argc)
		return cli_usage_err("mkdir", "missing PATH");
	for (; i < argc; i++) {
		if ((r = cli_path_norm(argv[i], path, sizeof(path))) == 0)
			r = o.all_parents ? mkdir_parents(cli, path) :
					    mkdir_one(cli, path);
		if (r != 0)
			status = cli_err(cli, "mkdir", argv[i], r);
	}
	return status;
}

/*
 * Remove everything inside directory "ino" (at "path"), depth first.
 * Reports each failure; returns CLI_OK or CLI_FAIL.
 */
static int rm_tree(struct cli *cli, const char *path, uint64_t ino)
{
	struct dfs_client *c = cli_client(cli);
	struct ns_list l = { 0 };
	char sub[DFS_PATH_MAX];
	int r, status = CLI_OK;
	size_t i;

	if ((r = ns_list_dir(cli, ino, &l)) != 0) {
		status = cli_err(cli, "rm", path, r);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		if (cli_path_join(path, l.v[i].name, sub, sizeof(sub)) != 0)
			snprintf(sub, sizeof(sub), "%s", l.v[i].name);
		if ((l.v[i].attr.mode & S_IFMT) == S_IFDIR) {
			if (rm_tree(cli, sub, l.v[i].attr.ino) != CLI_OK) {
				status = CLI_FAIL;
				continue;
			}
			r = dfs_rmdir(c, ino, l.v[i].name, NULL);
		} else {
			r = dfs_unlink(c, ino, l.v[i].name, NULL);
		}
		if (r != 0 && r != -ENOENT)
			status = cli_err(cli, "rm", sub, r);
	}
out:
	ns_list_release(&l);
	return status;
}

/* rm of one normalized path. */
static int rm_one(struct cli *cli, const struct ns_opts *o, const char *arg,
		  const char *path)
{
	struct dfs_client *c = cli_client(cli);
	const char *name;
	struct dfs_attr a;
	uint64_t parent;
	int r;

	if (strcmp(path, "/") == 0)
		return cli_errx("rm", "refusing to remove '/'");
	if ((r = cli_resolve_parent(cli, path, &parent, &name)) != 0 ||
	    (r = dfs_lookup(c, parent, name, &a)) != 0)
		goto out;
	if ((a.mode & S_IFMT) != S_IFDIR) {
		r = dfs_unlink(c, parent, name, NULL);
		goto out;
	}
	if (!o->recursive) {
		r = -EISDIR;
		goto out;
	}
	if (rm_tree(cli, path, a.ino) != CLI_OK)
		return CLI_FAIL;
	r = dfs_rmdir(c, parent, name, NULL);
out:
	if (r == -ENOENT && o->force)
		return CLI_OK;
	return r != 0 ? cli_err(cli, "rm", arg, r) : CLI_OK;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	struct ns_opts o = { 0 };
	char path[DFS_PATH_MAX];
	int i, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "frR", NULL, ns_opt, &o)) <= 0)
		return -i;
	if (i == argc && !o.force)
		return cli_usage_err("rm", "missing PATH");
	for (; i < argc; i++) {
		if ((r = cli_path_norm(argv[i], path, sizeof(path))) != 0) {
			status = cli_err(cli, "rm", argv[i], r);
			continue;
		}
		if (rm_one(cli, &o, argv[i], path) != CLI_OK)
			status = CLI_FAIL;
	}
	return status;
}

int cmd_rmdir(struct cli *cli, int argc, char **argv)
{
	char path[DFS_PATH_MAX];
	const char *name;
	uint64_t parent;
	int i, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "", NULL, ns_opt, NULL)) <= 0)
		return -i;
	if (i == argc)
		return cli_usage_err("rmdir", "missing PATH");
	for (; i < argc; i++) {
		if ((r = cli_path_norm(argv[i], path, sizeof(path))) == 0 &&
		    (r = cli_resolve_parent(cli, path, &parent, &name)) == 0)
			r = dfs_rmdir(cli_client(cli), parent, name, NULL);
		if (r != 0)
			status = cli_err(cli, "rmdir", argv[i], r);
	}
	return status;
}

int cmd_mv(struct cli *cli, int argc, char **argv)
{
	char src[DFS_PATH_MAX], dst[DFS_PATH_MAX], into[DFS_PATH_MAX];
	const char *sname, *dname;
	uint64_t sparent, dparent;
	struct dfs_attr a;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "", NULL, ns_opt, NULL)) <= 0)
		return -i;
	if (argc - i != 2)
		return cli_usage_err("mv", "expected SRC and DST");
	if ((r = cli_path_norm(argv[i], src, sizeof(src))) != 0 ||
	    (r = cli_resolve_parent(cli, src, &sparent, &sname)) != 0)
		return cli_err(cli, "mv", argv[i], r);
	if ((r = cli_path_norm(argv[i + 1], dst, sizeof(dst))) != 0)
		return cli_err(cli, "mv", argv[i + 1], r);
	if (dfs_resolve(cli_client(cli), dst, &a) == 0 &&
	    (a.mode & S_IFMT) == S_IFDIR) {
		if ((r = cli_path_join(dst, sname, into, sizeof(into))) != 0)
			return cli_err(cli, "mv", argv[i + 1], r);
		memcpy(dst, into, sizeof(dst));
	}
	if ((r = cli_resolve_parent(cli, dst, &dparent, &dname)) != 0)
		return cli_err(cli, "mv", argv[i + 1], r);
	if ((r = dfs_rename(cli_client(cli), sparent, sname, dparent, dname,
			    0, NULL)) != 0)
		return cli_err(cli, "mv", argv[i], r);
	return CLI_OK;
}
