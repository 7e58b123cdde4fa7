/*
 * cmd_fsck.c - `dfs fsck [--json] [PATH]`: the health of every chunk of
 * the files at or under PATH (default /), from the master's EP_FSCK.
 *
 * The exit status is 1 when any chunk is missing, corrupt or
 * under-replicated (SPEC 5), so scripts and tests can wait for a healthy
 * cluster with it. --json prints exactly the SPEC 5 object; the human
 * form adds the list of unhealthy chunks with their paths.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd.h"
#include "proto.h"

#include "banned.h"

enum fsck_opt_ids {
	FSCK_OPT_JSON = 1000,
};

static const struct option fsck_longopts[] = {
	{ "json", no_argument, NULL, FSCK_OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

/* Fields of the SPEC 5 object, in order. */
static const char *const fsck_keys[] = {
	"files", "chunks", "healthy", "under_replicated", "missing",
	"corrupt", NULL,
};

static int fsck_opt(int opt, const char *arg, void *ctx)
{
	bool *json = ctx;

	(void)arg;
	if (opt != FSCK_OPT_JSON)
		return -EINVAL;
	*json = true;
	return 0;
}

static int fsck_print_json(const json_t *reply)
{
	json_t *out = json_object(), *v;
	const char *const *k;
	int r;

	for (k = fsck_keys; *k != NULL; k++)
		if ((v = json_object_get(reply, *k)) != NULL)
			json_object_set(out, *k, v);
	r = cli_print_json(out);
	json_decref(out);
	return r;
}

/* A JSON array of addresses, comma-separated, into buf. */
static const char *fsck_addrs(const json_t *arr, char *buf, size_t size)
{
	size_t i, off = 0;
	json_t *v;
	int n;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		n = snprintf(buf + off, size - off, "%s%s", i > 0 ? "," : "",
			     json_string_value(v) ? json_string_value(v) : "?");
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	return buf[0] != '\0' ? buf : "-";
}

/* The human form: one line per problem chunk, then the totals. */
static void fsck_print(const json_t *reply)
{
	char live[DFS_MAX_REPLICAS * DFS_ADDR_MAX];
	char bad[DFS_MAX_REPLICAS * DFS_ADDR_MAX];
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(reply, "problems"), i, p) {
		printf("%s: chunk %llu (%016llx v%llu) %s: %llu of %llu "
		       "replicas live (%s), corrupt on %s\n",
		       cli_json_str(p, "path"),
		       (unsigned long long)cli_json_u64(p, "index"),
		       (unsigned long long)cli_json_u64(p, "handle"),
		       (unsigned long long)cli_json_u64(p, "version"),
		       cli_json_str(p, "state"),
		       (unsigned long long)json_array_size(
			       json_object_get(p, "live")),
		       (unsigned long long)cli_json_u64(p, "replication"),
		       fsck_addrs(json_object_get(p, "live"), live,
				  sizeof(live)),
		       fsck_addrs(json_object_get(p, "corrupt"), bad,
				  sizeof(bad)));
	}
	if (json_is_true(json_object_get(reply, "truncated")))
		printf("(more problem chunks not listed)\n");
	printf("%s: %llu files, %llu chunks: %llu healthy, %llu "
	       "under-replicated, %llu missing, %llu corrupt\n",
	       cli_json_str(reply, "path"),
	       (unsigned long long)cli_json_u64(reply, "files"),
	       (unsigned long long)cli_json_u64(reply, "chunks"),
	       (unsigned long long)cli_json_u64(reply, "healthy"),
	       (unsigned long long)cli_json_u64(reply, "under_replicated"),
	       (unsigned long long)cli_json_u64(reply, "missing"),
	       (unsigned long long)cli_json_u64(reply, "corrupt"));
}

int cmd_fsck(struct cli *cli, int argc, char **argv)
{
	char path[DFS_PATH_MAX] = "/";
	json_t *req = NULL, *reply = NULL;
	bool json = false;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "", fsck_longopts, fsck_opt,
				&json)) <= 0)
		return -i;
	if (argc - i > 1)
		return cli_usage_err("fsck", "expected at most one PATH");
	if (argc - i == 1 &&
	    (r = cli_path_norm(argv[i], path, sizeof(path))) != 0)
		return cli_err(cli, "fsck", argv[i], r);
	req = json_pack("{s:s}", "path", path);
	if ((r = rpc_call(cli_http(cli), cli->master, EP_FSCK, req, &reply,
			  NULL)) != 0) {
		r = cli_err(cli, "fsck", path, r);
		goto out;
	}
	if (json)
		r = fsck_print_json(reply);
	else
		fsck_print(reply);
	if (r == CLI_OK && (cli_json_u64(reply, "under_replicated") > 0 ||
			    cli_json_u64(reply, "missing") > 0 ||
			    cli_json_u64(reply, "corrupt") > 0))
		r = CLI_FAIL;
out:
	json_decref(req);
	json_decref(reply);
	return r;
}
