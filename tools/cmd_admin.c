/*
 * cmd_admin.c - `dfs status` and `dfs stat`: cluster-wide views read from
 * the master's EP_STATUS and EP_STAT endpoints; `dfs backup`: a copy of
 * the metadata database (EP_BACKUP).
 *
 * With --json both print exactly the SPEC 5 object: the fields the SPEC
 * names, taken from the master's reply (which may carry more, for the
 * status page), so scripts see a stable shape. Without --json they print
 * tables for people.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd.h"
#include "proto.h"

#include "banned.h"

/* Options shared by status and stat. */
struct admin_opts {
	/* --json given. */
	bool json;
};

enum admin_opt_ids {
	ADMIN_OPT_JSON = 1000,
};

static const struct option admin_longopts[] = {
	{ "json", no_argument, NULL, ADMIN_OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

/* Fields of the SPEC 5 objects, NULL-terminated. */
static const char *const status_keys[] = {
	"chunkservers", "files", "chunks", "under_replicated", NULL,
};
static const char *const status_server_keys[] = {
	"addr", "rack", "alive", "chunks", "capacity", "used", NULL,
};
static const char *const stat_keys[] = {
	"path", "size", "replication", "chunks", NULL,
};
static const char *const stat_chunk_keys[] = {
	"index", "handle", "version", "size", "replicas", NULL,
};

/*
 * New object holding the fields "keys" of obj (those present); the array
 * field "list_key" gets the same treatment per element with "item_keys".
 */
static json_t *admin_pick(const json_t *obj, const char *const *keys,
			  const char *list_key, const char *const *item_keys)
{
	json_t *out = json_object(), *v, *arr, *item;
	size_t i;

	for (; *keys != NULL; keys++) {
		if ((v = json_object_get(obj, *keys)) == NULL)
			continue;
		if (strcmp(*keys, list_key) != 0 || !json_is_array(v)) {
			json_object_set(out, *keys, v);
			continue;
		}
		arr = json_array();
		json_array_foreach(v, i, item)
			json_array_append_new(arr, admin_pick(item, item_keys,
							      "", NULL));
		json_object_set_new(out, *keys, arr);
	}
	return out;
}

/* Print the SPEC 5 view of a reply; an enum cli_status. */
static int admin_print_json(const json_t *reply, const char *const *keys,
			    const char *list_key,
			    const char *const *item_keys)
{
	json_t *out = admin_pick(reply, keys, list_key, item_keys);
	int r = cli_print_json(out);

	json_decref(out);
	return r;
}

static int admin_opt(int opt, const char *arg, void *ctx)
{
	struct admin_opts *o = ctx;

	(void)arg;
	if (opt != ADMIN_OPT_JSON)
		return -EINVAL;
	o->json = true;
	return 0;
}

/* Print one chunk server row of the status table. */
static void status_print_server(const json_t *cs)
{
	uint64_t cap = cli_json_u64(cs, "capacity");
	uint64_t used = cli_json_u64(cs, "used");
	char ubuf[16], cbuf[16];
	const char *rack = cli_json_str(cs, "rack");

	const char *state = cli_json_str(cs, "state");

	printf("%-21s %-10s %-5s %-14s %8llu %9s %9s %5.1f%%\n",
	       cli_json_str(cs, "addr"), rack[0] != '\0' ? rack : "-",
	       json_is_true(json_object_get(cs, "alive")) ? "alive" : "DEAD",
	       state[0] != '\0' ? state : "normal",
	       (unsigned long long)cli_json_u64(cs, "chunks"),
	       cli_human_size(used, ubuf, sizeof(ubuf)),
	       cli_human_size(cap, cbuf, sizeof(cbuf)),
	       cap > 0 ? 100.0 * (double)used / (double)cap : 0.0);
}

/* The human form of the EP_STATUS reply. */
static void status_print(const json_t *st)
{
	json_t *servers = json_object_get(st, "chunkservers");
	size_t i, alive = 0;
	json_t *cs;

	printf("%-21s %-10s %-5s %-14s %8s %9s %9s %6s\n", "ADDRESS", "RACK",
	       "LIVE", "STATE", "CHUNKS", "USED", "CAPACITY", "USE%");
	json_array_foreach(servers, i, cs) {
		status_print_server(cs);
		if (json_is_true(json_object_get(cs, "alive")))
			alive++;
	}
	printf("\n%zu chunk servers (%zu alive), %llu files, %llu chunks, "
	       "%llu under-replicated\n",
	       json_array_size(servers), alive,
	       (unsigned long long)cli_json_u64(st, "files"),
	       (unsigned long long)cli_json_u64(st, "chunks"),
	       (unsigned long long)cli_json_u64(st, "under_replicated"));
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct admin_opts o = { 0 };
	json_t *reply = NULL;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "", admin_longopts, admin_opt,
				&o)) <= 0)
		return -i;
	if (i != argc)
		return cli_usage_err("status", "unexpected argument '%s'",
				     argv[i]);
	if ((r = rpc_get(cli_http(cli), cli->master, EP_STATUS, &reply,
			 NULL)) != 0) {
		r = cli_err(cli, "status", NULL, r);
		goto out;
	}
	if (o.json) {
		r = admin_print_json(reply, status_keys, "chunkservers",
				     status_server_keys);
		goto out;
	}
	status_print(reply);
	r = CLI_OK;
out:
	json_decref(reply);
	return r;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	struct admin_opts o = { 0 };
	json_t *req, *reply = NULL;
	const char *path;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "", NULL, admin_opt, &o)) <= 0)
		return -i;
	if (argc - i != 1)
		return cli_usage_err("backup", "expected one PATH");
	path = argv[i];
	if (path[0] != '/')
		return cli_usage_err("backup", "PATH must be absolute (it is "
					       "on the master's host)");
	req = json_pack("{s:s}", "path", path);
	r = rpc_call(cli_http(cli), cli->master, EP_BACKUP, req, &reply, NULL);
	json_decref(req);
	if (r != 0)
		return cli_err(cli, "backup", path, r);
	printf("metadata copied to %s on the master (%llu bytes)\n", path,
	       (unsigned long long)cli_json_u64(reply, "bytes"));
	json_decref(reply);
	return CLI_OK;
}

/* Replica addresses of a chunk, comma-separated, into buf. */
static const char *stat_replicas(const json_t *chunk, char *buf,
				 size_t size)
{
	json_t *reps = json_object_get(chunk, "replicas");
	size_t i, off = 0;
	json_t *v;
	int n;

	buf[0] = '\0';
	json_array_foreach(reps, i, v) {
		n = snprintf(buf + off, size - off, "%s%s", i > 0 ? "," : "",
			     json_string_value(v) != NULL ?
				     json_string_value(v) : "?");
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	return buf[0] != '\0' ? buf : "(none)";
}

/* The human form of the EP_STAT reply. */
static void stat_print(const json_t *st)
{
	json_t *chunks = json_object_get(st, "chunks");
	char sbuf[16], rbuf[DFS_MAX_REPLICAS * DFS_ADDR_MAX];
	uint64_t size = cli_json_u64(st, "size");
	json_t *c;
	size_t i;

	printf("path         %s\n", cli_json_str(st, "path"));
	printf("size         %llu (%s)\n", (unsigned long long)size,
	       cli_human_size(size, sbuf, sizeof(sbuf)));
	printf("replication  %llu\n",
	       (unsigned long long)cli_json_u64(st, "replication"));
	printf("chunks       %zu\n", json_array_size(chunks));
	if (json_array_size(chunks) == 0)
		return;
	printf("\n%6s  %-16s  %7s  %10s  %s\n", "INDEX", "HANDLE", "VERSION",
	       "SIZE", "REPLICAS");
	json_array_foreach(chunks, i, c) {
		printf("%6llu  %016llx  %7llu  %10llu  %s\n",
		       (unsigned long long)cli_json_u64(c, "index"),
		       (unsigned long long)cli_json_u64(c, "handle"),
		       (unsigned long long)cli_json_u64(c, "version"),
		       (unsigned long long)cli_json_u64(c, "size"),
		       stat_replicas(c, rbuf, sizeof(rbuf)));
	}
}

int cmd_stat(struct cli *cli, int argc, char **argv)
{
	char path[DFS_PATH_MAX];
	struct admin_opts o = { 0 };
	json_t *req = NULL, *reply = NULL;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "", admin_longopts, admin_opt,
				&o)) <= 0)
		return -i;
	if (argc - i != 1)
		return cli_usage_err("stat", "expected one PATH");
	if ((r = cli_path_norm(argv[i], path, sizeof(path))) != 0) {
		r = cli_err(cli, "stat", argv[i], r);
		goto out;
	}
	req = json_pack("{s:s}", "path", path);
	if ((r = rpc_call(cli_http(cli), cli->master, EP_STAT, req, &reply,
			  NULL)) != 0) {
		r = cli_err(cli, "stat", argv[i], r);
		goto out;
	}
	if (o.json) {
		r = admin_print_json(reply, stat_keys, "chunks",
				     stat_chunk_keys);
		goto out;
	}
	stat_print(reply);
	r = CLI_OK;
out:
	json_decref(req);
	json_decref(reply);
	return r;
}
