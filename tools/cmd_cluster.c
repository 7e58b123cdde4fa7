/*
 * cmd_cluster.c - cluster membership and placement subcommands of `dfs`:
 * decommission (EP_DECOMMISSION) and balance (EP_BALANCE).
 *
 *     dfs decommission [-w] ADDR | --status [ADDR] | --cancel ADDR
 *     dfs balance [-w] [--threshold PCT] | --status | --stop
 *
 * Both work in the master's background; -w waits until the server is
 * decommissioned or the balancer's run ended, printing progress on a
 * terminal. --json prints the master's reply object as it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "proto.h"

#include "banned.h"

/* Pause between two checks of -w. */
#define CLUSTER_POLL_MS 500

/* Options of decommission and balance. */
struct cluster_opts {
	bool status;       /* --status */
	bool cancel;       /* --cancel / --stop */
	bool wait;         /* -w */
	bool json;         /* --json */
	double threshold;  /* --threshold, 0: the master's default */
};

enum cluster_opt_ids {
	OPT_STATUS = 1000,
	OPT_CANCEL,
	OPT_JSON,
	OPT_THRESHOLD,
};

static const struct option decom_longopts[] = {
	{ "cancel", no_argument, NULL, OPT_CANCEL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "status", no_argument, NULL, OPT_STATUS },
	{ "wait", no_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

static const struct option balance_longopts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "status", no_argument, NULL, OPT_STATUS },
	{ "stop", no_argument, NULL, OPT_CANCEL },
	{ "threshold", required_argument, NULL, OPT_THRESHOLD },
	{ "wait", no_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

static int cluster_opt(int opt, const char *arg, void *ctx)
{
	struct cluster_opts *o = ctx;
	char *end;

	switch (opt) {
	case OPT_STATUS:
		o->status = true;
		return 0;
	case OPT_CANCEL:
		o->cancel = true;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case 'w':
		o->wait = true;
		return 0;
	case OPT_THRESHOLD:
		errno = 0;
		o->threshold = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' ||
		    !(o->threshold >= 0.1 && o->threshold <= 100)) {
			fprintf(stderr, "dfs: balance: bad threshold '%s' "
					"(want 0.1 to 100 percent)\n",
				arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * ---------------------------------------------------------------------
 * decommission
 * ---------------------------------------------------------------------
 */

static int decom_call(struct cli *cli, const char *action, const char *addr,
		      json_t **reply)
{
	json_t *req = json_pack("{s:s}", "action", action);
	int r;

	if (addr != NULL)
		json_object_set_new(req, "addr", json_string(addr));
	r = rpc_call(cli_http(cli), cli->master, EP_DECOMMISSION, req, reply,
		     NULL);
	json_decref(req);
	return r;
}

static void decom_print(const json_t *reply)
{
	json_t *servers = json_object_get(reply, "servers"), *s;
	size_t i;

	if (json_array_size(servers) == 0) {
		printf("no chunk server is draining or decommissioned\n");
		return;
	}
	printf("%-21s %-10s %-5s %-15s %8s %10s\n", "ADDRESS", "RACK", "LIVE",
	       "STATE", "CHUNKS", "REMAINING");
	json_array_foreach(servers, i, s) {
		const char *rack = cli_json_str(s, "rack");

		printf("%-21s %-10s %-5s %-15s %8" PRIu64 " %10" PRIu64 "\n",
		       cli_json_str(s, "addr"), rack[0] != '\0' ? rack : "-",
		       json_is_true(json_object_get(s, "alive")) ? "alive"
								: "DEAD",
		       cli_json_str(s, "state"), cli_json_u64(s, "chunks"),
		       cli_json_u64(s, "remaining"));
	}
}

/* The state of the one server of a reply. */
static const char *decom_state(const json_t *reply, uint64_t *remaining)
{
	json_t *s = json_array_get(json_object_get(reply, "servers"), 0);

	*remaining = cli_json_u64(s, "remaining");
	return cli_json_str(s, "state");
}

/* Wait until "addr" is decommissioned. */
static int decom_wait(struct cli *cli, const char *addr)
{
	json_t *reply = NULL;
	uint64_t remaining;
	bool done;
	int r;

	for (;;) {
		if ((r = decom_call(cli, "status", addr, &reply)) != 0)
			return cli_err(cli, "decommission", addr, r);
		done = strcmp(decom_state(reply, &remaining),
			      "decommissioned") == 0;
		if (strcmp(decom_state(reply, &remaining), "normal") == 0) {
			json_decref(reply);
			return cli_errx("decommission", "'%s' was put back "
					"in service", addr);
		}
		json_decref(reply);
		if (done)
			break;
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "\r\033[Kdecommission: %s: %" PRIu64
				" chunks to go", addr, remaining);
		usleep(CLUSTER_POLL_MS * 1000);
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	printf("%s is decommissioned: safe to remove\n", addr);
	return CLI_OK;
}

int cmd_decommission(struct cli *cli, int argc, char **argv)
{
	struct cluster_opts o = { 0 };
	const char *addr, *action;
	json_t *reply = NULL;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "w", decom_longopts, cluster_opt,
				&o)) <= 0)
		return -i;
	if (argc - i > 1 || (argc - i == 0 && !o.status))
		return cli_usage_err("decommission", "%s",
				     argc - i > 1 ? "too many arguments"
						  : "missing ADDR");
	if (o.status && o.cancel)
		return cli_usage_err("decommission",
				     "--status and --cancel exclude each other");
	addr = argc - i == 1 ? argv[i] : NULL;
	if (addr != NULL && !proto_addr_is_valid(addr))
		return cli_usage_err("decommission", "bad address '%s' (want "
				     "HOST:PORT)", addr);
	action = o.status ? "status" : o.cancel ? "cancel" : "start";
	if ((r = decom_call(cli, action, addr, &reply)) != 0)
		return cli_err(cli, "decommission", addr, r);
	if (o.json)
		r = cli_print_json(reply);
	else
		decom_print(reply);
	json_decref(reply);
	fflush(stdout);
	if (r == CLI_OK && o.wait && strcmp(action, "start") == 0)
		r = decom_wait(cli, addr);
	return r;
}

/*
 * ---------------------------------------------------------------------
 * balance
 * ---------------------------------------------------------------------
 */

static int balance_call(struct cli *cli, const char *action,
			double threshold, json_t **reply)
{
	json_t *req = json_pack("{s:s}", "action", action);
	int r;

	if (threshold > 0)
		json_object_set_new(req, "threshold", json_real(threshold));
	r = rpc_call(cli_http(cli), cli->master, EP_BALANCE, req, reply,
		     NULL);
	json_decref(req);
	return r;
}

static double json_num(const json_t *obj, const char *key)
{
	return json_number_value(json_object_get(obj, key));
}

static void balance_print(const json_t *reply)
{
	json_t *servers = json_object_get(reply, "servers"), *s;
	char ubuf[16], cbuf[16];
	size_t i;

	printf("balancer: %s, threshold %.1f%%, mean usage %.1f%%, %" PRIu64
	       " moved, %" PRIu64 " failed\n",
	       cli_json_str(reply, "state"), json_num(reply, "threshold"),
	       json_num(reply, "mean"), cli_json_u64(reply, "moved"),
	       cli_json_u64(reply, "failed"));
	printf("%-21s %-10s %9s %9s %6s %7s\n", "ADDRESS", "RACK", "USED",
	       "CAPACITY", "USE%", "DEV");
	json_array_foreach(servers, i, s) {
		const char *rack = cli_json_str(s, "rack");

		printf("%-21s %-10s %9s %9s %5.1f%% %+6.1f\n",
		       cli_json_str(s, "addr"), rack[0] != '\0' ? rack : "-",
		       cli_human_size(cli_json_u64(s, "used"), ubuf,
				      sizeof(ubuf)),
		       cli_human_size(cli_json_u64(s, "capacity"), cbuf,
				      sizeof(cbuf)),
		       json_num(s, "usage"), json_num(s, "deviation"));
	}
}

/* Wait until the run ends; CLI_FAIL unless it ended balanced. */
static int balance_wait(struct cli *cli)
{
	json_t *reply = NULL;
	bool running;
	int r;

	for (;;) {
		if ((r = balance_call(cli, "status", 0, &reply)) != 0)
			return cli_err(cli, "balance", NULL, r);
		running = json_is_true(json_object_get(reply, "running"));
		if (!running)
			break;
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "\r\033[Kbalance: %" PRIu64 " moved",
				cli_json_u64(reply, "moved"));
		json_decref(reply);
		usleep(CLUSTER_POLL_MS * 1000);
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	balance_print(reply);
	r = strcmp(cli_json_str(reply, "state"), "balanced") == 0 ? CLI_OK
								  : CLI_FAIL;
	json_decref(reply);
	return r;
}

int cmd_balance(struct cli *cli, int argc, char **argv)
{
	struct cluster_opts o = { 0 };
	const char *action;
	json_t *reply = NULL;
	int i, r;

	if ((i = cli_parse_opts(argc, argv, "w", balance_longopts, cluster_opt,
				&o)) <= 0)
		return -i;
	if (i != argc)
		return cli_usage_err("balance", "unexpected argument '%s'",
				     argv[i]);
	if (o.status && o.cancel)
		return cli_usage_err("balance",
				     "--status and --stop exclude each other");
	action = o.status ? "status" : o.cancel ? "stop" : "start";
	if ((r = balance_call(cli, action, o.threshold, &reply)) != 0)
		return cli_err(cli, "balance", NULL, r);
	if (o.json)
		r = cli_print_json(reply);
	else
		balance_print(reply);
	json_decref(reply);
	fflush(stdout);
	if (r == CLI_OK && o.wait && !o.status)
		r = balance_wait(cli);
	return r;
}
