/*
 * cmd_data.c - file contents in and out of DFS: put, get, cat.
 *
 * Data moves through struct dfs_file in DATA_BUF_SIZE pieces (8 MiB, one
 * chunk-server write request each), so a copy costs a few large requests
 * per chunk. put removes a file it created when the copy fails half way;
 * get does the same with the local file it created. On a terminal, both
 * show a progress bar on stderr unless -q.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "timeutil.h"
#include "xmalloc.h"

#include "banned.h"

/* Bytes moved per read or write call. */
#define DATA_BUF_SIZE DFS_MAX_WRITE

/* Least time between two progress line updates. */
#define DATA_PROGRESS_MS 200

/* Characters of the progress bar between its brackets. */
#define DATA_BAR_WIDTH 30

/* Flags of put and get. */
struct data_opts {
	bool force; /* -f: overwrite the target */
	bool quiet; /* -q: no progress line */
};

/* The progress line of one copy. */
struct data_progress {
	bool on;           /* stderr is a terminal and -q was not given */
	const char *what;  /* name shown */
	uint64_t total;    /* expected bytes, 0 if unknown */
	int64_t start_ms;  /* monotonic start */
	int64_t last_ms;   /* last update */
};

static int data_opt(int opt, const char *arg, void *ctx)
{
	struct data_opts *o = ctx;

	(void)arg;
	if (opt == 'f')
		o->force = true;
	else if (opt == 'q')
		o->quiet = true;
	else
		return -EINVAL;
	return 0;
}

static void progress_init(struct data_progress *p, bool quiet,
			  const char *what, uint64_t total)
{
	p->on = !quiet && isatty(STDERR_FILENO);
	p->what = what;
	p->total = total;
	p->start_ms = p->last_ms = time_mono_ms();
}

/* "[#######.......]  45%" for done of total (total > 0). */
static void progress_bar(uint64_t done, uint64_t total)
{
	double frac = done >= total ? 1.0 : (double)done / (double)total;
	int fill = (int)(frac * DATA_BAR_WIDTH), i;
	char bar[DATA_BAR_WIDTH + 1];

	for (i = 0; i < DATA_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[DATA_BAR_WIDTH] = '\0';
	fprintf(stderr, "[%s] %3.0f%%", bar, 100.0 * frac);
}

static void progress_update(struct data_progress *p, uint64_t done)
{
	int64_t now = time_mono_ms();
	char dbuf[16], tbuf[16];
	double secs;

	if (!p->on || now - p->last_ms < DATA_PROGRESS_MS)
		return;
	p->last_ms = now;
	secs = (double)(now - p->start_ms) / 1000.0;
	fprintf(stderr, "\r\033[K%s ", p->what);
	if (p->total > 0)
		progress_bar(done, p->total);
	fprintf(stderr, " %s", cli_human_size(done, dbuf, sizeof(dbuf)));
	if (p->total > 0)
		fprintf(stderr, " / %s",
			cli_human_size(p->total, tbuf, sizeof(tbuf)));
	if (secs > 0)
		fprintf(stderr, "  %.1f MB/s", (double)done / 1e6 / secs);
}

static void progress_done(struct data_progress *p)
{
	if (p->on)
		fprintf(stderr, "\r\033[K");
}

/* Read until buf is full or EOF; bytes read or -errno. */
static ssize_t data_read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Write all of buf; 0 or -errno. */
static int data_write_full(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Copy everything from fd into DFS file f. Reports its own failure
 * (naming the local file for a read error, the DFS path otherwise).
 */
static int put_copy(struct cli *cli, int fd, const char *local,
		    struct dfs_file *f, const char *path,
		    struct data_progress *p)
{
	char *buf = xmalloc(DATA_BUF_SIZE);
	uint64_t off = 0;
	ssize_t n;
	int r;

	for (;;) {
		if ((n = data_read_full(fd, buf, DATA_BUF_SIZE)) < 0) {
			r = cli_err(cli, "put", local, (int)n);
			goto out;
		}
		if (n == 0)
			break;
		if ((n = dfs_file_write(f, buf, (size_t)n, (off_t)off)) < 0) {
			r = cli_err(cli, "put", path, (int)n);
			goto out;
		}
		off += (uint64_t)n;
		progress_update(p, off);
	}
	r = CLI_OK;
out:
	free(buf);
	return r;
}

/*
 * Open (create, or with -f truncate) the DFS file at normalized "path"
 * for put: *a gets its attributes, *parent and *name (inside path) its
 * directory entry, *created whether this call made it. 0 or -errno.
 */
static int put_target(struct cli *cli, const struct data_opts *o,
		      const char *path, uint32_t mode, struct dfs_attr *a,
		      uint64_t *parent, const char **name, bool *created)
{
	struct dfs_client *c = cli_client(cli);
	struct dfs_setattr sa = { .valid = PROTO_SET_SIZE, .size = 0 };
	int r;

	*created = false;
	if ((r = cli_resolve_parent(cli, path, parent, name)) != 0)
		return r;
	r = dfs_create(c, *parent, *name, S_IFREG | mode, getuid(), getgid(),
		       a, NULL);
	if (r == 0) {
		*created = true;
		return 0;
	}
	if (r != -EEXIST || !o->force)
		return r;
	if ((r = dfs_lookup(c, *parent, *name, a)) != 0)
		return r;
	if ((a->mode & S_IFMT) == S_IFDIR)
		return -EISDIR;
	if ((a->mode & S_IFMT) != S_IFREG)
		return -EINVAL;
	return dfs_setattr(c, a->ino, &sa, a);
}

/* Where put writes: DFSPATH, or DFSPATH/basename(LOCAL) for a directory. */
static int put_dest(struct cli *cli, const char *local, const char *arg,
		    char *path, size_t size)
{
	const char *base = strrchr(local, '/');
	char dir[DFS_PATH_MAX];
	struct dfs_attr a;
	int r;

	if ((r = cli_path_norm(arg, dir, sizeof(dir))) != 0)
		return r;
	if (dfs_resolve(cli_client(cli), dir, &a) != 0 ||
	    (a.mode & S_IFMT) != S_IFDIR)
		return cli_path_norm(dir, path, size);
	if (strcmp(local, "-") == 0)
		return -EISDIR;
	return cli_path_join(dir, base != NULL ? base + 1 : local, path, size);
}

/* Open the local source of put (- is stdin); fd or -errno. */
static int put_open_local(const char *local, struct stat *st)
{
	int fd;

	if (strcmp(local, "-") == 0)
		fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
	else
		fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) != 0) {
		close(fd);
		return -errno;
	}
	if (S_ISDIR(st->st_mode)) {
		close(fd);
		return -EISDIR;
	}
	return fd;
}

/* Permission bits of a new file copied from one with mode "mode". */
static uint32_t data_new_mode(mode_t mode)
{
	mode_t um = umask(0);

	umask(um);
	return (uint32_t)(mode & 0777 & ~um);
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	struct data_opts o = { 0 };
	struct data_progress p;
	char path[DFS_PATH_MAX];
	struct dfs_file *f = NULL;
	struct dfs_attr a;
	struct stat st;
	const char *name = NULL;
	uint64_t parent = 0;
	bool created = false;
	int i, fd = -1, r;

	if ((i = cli_parse_opts(argc, argv, "fq", NULL, data_opt, &o)) <= 0)
		return -i;
	if (argc - i != 2)
		return cli_usage_err("put", "expected LOCAL and DFSPATH");
	if ((fd = put_open_local(argv[i], &st)) < 0) {
		r = cli_err(cli, "put", argv[i], fd);
		goto out;
	}
	if ((r = put_dest(cli, argv[i], argv[i + 1], path, sizeof(path))) !=
	    0) {
		r = cli_err(cli, "put", argv[i + 1], r);
		goto out;
	}
	if ((r = put_target(cli, &o, path, data_new_mode(st.st_mode), &a,
			    &parent, &name, &created)) != 0) {
		r = cli_err(cli, "put", path, r);
		goto out;
	}
	if ((f = dfs_file_open(cli_client(cli), a.ino, O_WRONLY, a.size)) ==
	    NULL) {
		r = cli_err(cli, "put", path, ENOMEM);
		goto out;
	}
	progress_init(&p, o.quiet, path,
		      S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
	r = put_copy(cli, fd, argv[i], f, path, &p);
	progress_done(&p);
	if (r != CLI_OK)
		goto out;
	r = dfs_file_close(f);
	f = NULL;
	if (r != 0) {
		r = cli_err(cli, "put", path, r);
		goto out;
	}
	created = false;
	r = CLI_OK;
out:
	if (f != NULL)
		dfs_file_close(f);
	if (created)
		dfs_unlink(cli_client(cli), parent, name, NULL);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Copy DFS file f (at "path") to fd; reports its own failure. */
static int get_copy(struct cli *cli, const char *cmd, struct dfs_file *f,
		    const char *path, int fd, const char *local,
		    struct data_progress *p)
{
	char *buf = xmalloc(DATA_BUF_SIZE);
	uint64_t off = 0;
	ssize_t n;
	int r;

	for (;;) {
		if ((n = dfs_file_read(f, buf, DATA_BUF_SIZE, (off_t)off)) <
		    0) {
			r = cli_err(cli, cmd, path, (int)n);
			goto out;
		}
		if (n == 0)
			break;
		if ((r = data_write_full(fd, buf, (size_t)n)) != 0) {
			r = cli_err(cli, cmd, local, r);
			goto out;
		}
		off += (uint64_t)n;
		progress_update(p, off);
	}
	r = CLI_OK;
out:
	free(buf);
	return r;
}

/*
 * Copy the DFS file at normalized "path" (attributes a) to fd, which
 * stands for "local" in messages of command "cmd". Returns an enum
 * cli_status.
 */
static int get_file(struct cli *cli, const char *cmd,
		    const struct data_opts *o, const char *path,
		    const struct dfs_attr *a, int fd, const char *local)
{
	struct data_progress p;
	struct dfs_file *f;
	int r;

	if ((a->mode & S_IFMT) == S_IFDIR)
		return cli_err(cli, cmd, path, EISDIR);
	f = dfs_file_open(cli_client(cli), a->ino, O_RDONLY, a->size);
	if (f == NULL)
		return cli_err(cli, cmd, path, ENOMEM);
	progress_init(&p, o->quiet, path, a->size);
	r = get_copy(cli, cmd, f, path, fd, local, &p);
	progress_done(&p);
	dfs_file_close(f);
	return r;
}

/* Open the local target of get: LOCAL, or LOCAL/name for a directory.
 * "out" receives the name used. fd or -errno. */
static int get_open_local(const struct data_opts *o, const char *local,
			  const char *name, char *out, size_t size)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
	struct stat st;
	int n, fd;

	n = snprintf(out, size, "%s", local);
	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(out, size, "%s/%s", local, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	flags |= o->force ? O_TRUNC : O_EXCL;
	if ((fd = open(out, flags, 0666)) < 0)
		return -errno;
	return fd;
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	char path[DFS_PATH_MAX], local[DFS_PATH_MAX + DFS_NAME_MAX + 2];
	struct data_opts o = { 0 };
	struct dfs_attr a;
	bool to_stdout, created = false;
	int i, fd = -1, r;

	if ((i = cli_parse_opts(argc, argv, "fq", NULL, data_opt, &o)) <= 0)
		return -i;
	if (argc - i != 2)
		return cli_usage_err("get", "expected DFSPATH and LOCAL");
	if ((r = cli_path_norm(argv[i], path, sizeof(path))) != 0 ||
	    (r = dfs_resolve(cli_client(cli), path, &a)) != 0) {
		r = cli_err(cli, "get", argv[i], r);
		goto out;
	}
	if ((a.mode & S_IFMT) == S_IFDIR) {
		r = cli_err(cli, "get", argv[i], EISDIR);
		goto out;
	}
	to_stdout = strcmp(argv[i + 1], "-") == 0;
	fd = to_stdout ? STDOUT_FILENO :
			 get_open_local(&o, argv[i + 1], cli_path_base(path),
					local, sizeof(local));
	if (fd < 0) {
		r = cli_err(cli, "get", argv[i + 1], fd);
		goto out;
	}
	created = !to_stdout;
	if ((r = get_file(cli, "get", &o, path, &a, fd, argv[i + 1])) !=
	    CLI_OK)
		goto out;
	if (!to_stdout) {
		r = close(fd);
		fd = -1;
		if (r != 0) {
			r = cli_err(cli, "get", argv[i + 1], errno);
			goto out;
		}
	}
	created = false;
	r = CLI_OK;
out:
	if (fd >= 0 && !to_stdout)
		close(fd);
	if (created)
		unlink(local);
	return r;
}

int cmd_cat(struct cli *cli, int argc, char **argv)
{
	struct data_opts o = { .quiet = true };
	char path[DFS_PATH_MAX];
	struct dfs_attr a;
	int i, r, status = CLI_OK;

	if ((i = cli_parse_opts(argc, argv, "", NULL, data_opt, &o)) <= 0)
		return -i;
	if (i == argc)
		return cli_usage_err("cat", "missing PATH");
	for (; i < argc; i++) {
		if ((r = cli_path_norm(argv[i], path, sizeof(path))) != 0 ||
		    (r = dfs_resolve(cli_client(cli), path, &a)) != 0) {
			status = cli_err(cli, "cat", argv[i], r);
			continue;
		}
		if (get_file(cli, "cat", &o, path, &a, STDOUT_FILENO,
			     "stdout") != CLI_OK)
			status = CLI_FAIL;
	}
	return status;
}
