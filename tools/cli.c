/*
 * cli.c - shared helpers of the `dfs` command line (see cli.h): lazy
 * connections, option parsing with built-in --help, DFS path handling and
 * the one shape of error messages.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "http_client.h"
#include "xmalloc.h"

#include "banned.h"

struct dfs_client *cli_client(struct cli *cli)
{
	if (cli->client == NULL)
		cli->client = dfs_client_new(cli->master);
	return cli->client;
}

struct http_client *cli_http(struct cli *cli)
{
	if (cli->http == NULL)
		cli->http = http_client_new(NULL);
	return cli->http;
}

void cli_release(struct cli *cli)
{
	dfs_client_free(cli->client);
	cli->client = NULL;
	http_client_free(cli->http);
	cli->http = NULL;
}

void cli_cmd_usage(const struct cli_cmd *cmd, bool to_stderr)
{
	FILE *out = to_stderr ? stderr : stdout;

	fprintf(out, "usage: dfs [--master ADDR] %s %s\n", cmd->name,
		cmd->synopsis);
	if (to_stderr) {
		fprintf(out, "Try 'dfs %s --help' for more information.\n",
			cmd->name);
		return;
	}
	fprintf(out, "\n%s.\n", cmd->summary);
	if (cmd->details[0] != '\0')
		fprintf(out, "\n%s", cmd->details);
	fprintf(out, "\n  -h, --help  show this help\n");
}

/* Number of entries of a longopts array before its all-zero terminator. */
static size_t cli_longopts_count(const struct option *longopts)
{
	size_t n = 0;

	while (longopts != NULL && longopts[n].name != NULL)
		n++;
	return n;
}

/* Report getopt's complaint about argv[optind - 1]. */
static int cli_opt_error(const struct cli_cmd *cmd, int argc, char **argv,
			 int opt)
{
	const char *arg = optind - 1 < argc ? argv[optind - 1] : "?";

	if (opt == ':')
		return cli_usage_err(cmd->name,
				     "option '%s' requires an argument", arg);
	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		return cli_usage_err(cmd->name, "unknown option '-%c'",
				     optopt);
	return cli_usage_err(cmd->name, "unknown option '%s'", arg);
}

int cli_parse_opts(int argc, char **argv, const char *shortopts,
		   const struct option *longopts,
		   int (*fn)(int opt, const char *arg, void *ctx), void *ctx)
{
	const struct cli_cmd *cmd = cli_cmd_find(argv[0]);
	size_t n = cli_longopts_count(longopts);
	struct option *all = xcalloc(n + 2, sizeof(*all));
	char *shorts = xasprintf(":%sh", shortopts != NULL ? shortopts : "");
	int opt, r;

	if (n > 0)
		memcpy(all, longopts, n * sizeof(*all));
	all[n] = (struct option){ "help", no_argument, NULL, 'h' };
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
		if (opt == 'h') {
			cli_cmd_usage(cmd, false);
			r = -CLI_OK;
			goto out;
		}
		if (opt == '?' || opt == ':') {
			r = -cli_opt_error(cmd, argc, argv, opt);
			goto out;
		}
		if (fn(opt, optarg, ctx) != 0) {
			cli_cmd_usage(cmd, true);
			r = -CLI_USAGE;
			goto out;
		}
	}
	r = optind;
out:
	free(all);
	free(shorts);
	return r;
}

int cli_path_norm(const char *in, char *out, size_t size)
{
	size_t len = 0, n;
	const char *p = in, *end;

	if (in == NULL || in[0] == '\0')
		return -EINVAL;
	if (size < 2)
		return -ENAMETOOLONG;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else if (!(n == 1 && p[0] == '.')) {
			if (n > DFS_NAME_MAX || len + 1 + n + 1 > size)
				return -ENAMETOOLONG;
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = end;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return 0;
}

const char *cli_path_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

int cli_path_join(const char *dir, const char *name, char *out, size_t size)
{
	char tmp[DFS_PATH_MAX + DFS_NAME_MAX + 2];
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	return cli_path_norm(tmp, out, size);
}

int cli_resolve_parent(struct cli *cli, const char *path, uint64_t *parent,
		       const char **name)
{
	char dir[DFS_PATH_MAX];
	const char *base = cli_path_base(path);
	struct dfs_attr attr;
	size_t n = (size_t)(base - path);
	int r;

	if (base[0] == '\0')
		return -EINVAL;
	if (n <= 1) {
		*parent = DFS_ROOT_INO;
		*name = base;
		return 0;
	}
	if (n > sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n - 1);
	dir[n - 1] = '\0';
	if ((r = dfs_resolve(cli_client(cli), dir, &attr)) != 0)
		return r;
	if ((attr.mode & S_IFMT) != S_IFDIR)
		return -ENOTDIR;
	*parent = attr.ino;
	*name = base;
	return 0;
}

/* True for errors that mean the master could not be reached at all. */
static bool cli_err_is_transport(int err)
{
	return err == ECONNREFUSED || err == ETIMEDOUT ||
	       err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == ECONNRESET;
}

int cli_err(struct cli *cli, const char *cmd, const char *what, int err)
{
	if (err < 0)
		err = -err;
	if (what != NULL)
		fprintf(stderr, "dfs: %s '%s': ", cmd, what);
	else
		fprintf(stderr, "dfs: %s: ", cmd);
	if (cli_err_is_transport(err))
		fprintf(stderr, "cannot reach master %s: ", cli->master);
	fprintf(stderr, "%s\n", strerror(err));
	return CLI_FAIL;
}

int cli_errx(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dfs: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

int cli_usage_err(const char *cmd, const char *fmt, ...)
{
	const struct cli_cmd *row = cli_cmd_find(cmd);
	va_list ap;

	fprintf(stderr, "dfs: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (row != NULL)
		cli_cmd_usage(row, true);
	return CLI_USAGE;
}

const char *cli_human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char units[] = "BKMGTPE";
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < (int)sizeof(units) - 2) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f%c", v, units[u]);
	return buf;
}

int cli_print_json(const json_t *obj)
{
	if (json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) !=
	    0)
		return cli_errx("json", "cannot write to stdout");
	fputc('\n', stdout);
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

uint64_t cli_json_u64(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return 0;
	return (uint64_t)json_integer_value(v);
}

const char *cli_json_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}
