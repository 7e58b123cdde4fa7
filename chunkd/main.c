/*
 * main.c - chunkd, the DFS chunk server: parse options, start the modules
 * in order, wait for SIGTERM or SIGINT, stop them in reverse order.
 *
 * Start order (each needs the ones before it):
 *     store        scan DIR/chunks, build the chunk report
 *     http client  for forwarding mutations down replica chains
 *     copier       runs the copies the master orders (re-replication)
 *     data_srv     serve the data API (fails if the port is in use)
 *     scrub        re-read idle replicas in the background
 *     master_conn  register with the master (needs our real address)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "log.h"
#include "proto.h"
#include "copier.h"
#include "data_srv.h"
#include "local_srv.h"
#include "master_conn.h"
#include "metrics_srv.h"
#include "scrub.h"
#include "secure.h"
#include "store.h"

#include "banned.h"

/* Timeouts of calls down a replica chain. */
#define CHAIN_CONNECT_TIMEOUT_MS 3000
#define CHAIN_TIMEOUT_MS 30000

/* Copies the master may have running here at once (it asks for fewer). */
#define MAX_COPIES 4

/* Defaults of the numeric options. */
#define DEFAULT_REPL_BANDWIDTH_MB 64
#define DEFAULT_SCRUB_RATE_MB 8
#define DEFAULT_SCRUB_INTERVAL_S 86400

#define MB (1000ULL * 1000)

/* The options, filled by parse_options(). NULL means unset. */
struct config {
	const char *data;         /* replica store folder (required) */
	const char *listen;       /* our address */
	const char *master;       /* the master's address */
	const char *rack;         /* rack name */
	const char *secret;       /* cluster secret file */
	double repl_mb;           /* copy bandwidth, MB/s; < 0: unset */
	double scrub_mb;          /* scrub rate, MB/s; < 0: unset */
	double scrub_interval_s;  /* seconds between scrub passes; < 0: unset */
	struct secure_opts sec;   /* secret, CA and TLS files (secure.h) */
};

/* One command line option; the table drives getopt_long and --help. */
struct option_def {
	const char *name;
	int key;
	const char *arg;          /* argument name, NULL for a flag */
	const char *help;
	const char *def;          /* default, NULL if none */
};

static const struct option_def option_table[] = {
	{"ca", 'a', "FILE", "CA certificate (PEM) of the daemons' TLS "
	 "certificates", "$DFS_CA"},
	{"data", 'd', "DIR", "replica store folder (required)", NULL},
	{"help", 'h', NULL, "print this help and exit", NULL},
	{"listen", 'l', "ADDR", "address to serve on", "127.0.0.1:9100"},
	{"master", 'm', "ADDR", "masterd address ($DFS_MASTER)",
	 "127.0.0.1:9000"},
	{"rack", 'r', "NAME", "rack of this server", "none"},
	{"replication-bandwidth", 'b', "MB/S",
	 "bandwidth of re-replication copies into this server, 0 = no limit",
	 "64"},
	{"scrub-interval", 'i', "S",
	 "start a scrub pass at most every S seconds", "86400"},
	{"scrub-rate", 'c', "MB/S",
	 "read rate of the background scrubber, 0 = off", "8"},
	{"secret", 's', "FILE", "cluster secret file: requests must be signed "
	 "with it", "$DFS_SECRET"},
	{"tls-cert", 'T', "FILE", "TLS certificate (PEM): serve https only",
	 NULL},
	{"tls-key", 'K', "FILE", "private key (PEM) of --tls-cert", NULL},
};

#define NOPTIONS (sizeof(option_table) / sizeof(option_table[0]))

static void usage(FILE *f)
{
	char opt[64];
	size_t i;

	fprintf(f, "usage: chunkd --data DIR [--listen ADDR] [--master ADDR] "
		   "[--rack NAME]\n"
		   "              [--replication-bandwidth MB/S] "
		   "[--scrub-interval S] [--scrub-rate MB/S]\n"
		   "              [--secret FILE] [--ca FILE] "
		   "[--tls-cert FILE --tls-key FILE]\n\n");
	for (i = 0; i < NOPTIONS; i++) {
		snprintf(opt, sizeof(opt), "--%s%s%s", option_table[i].name,
			 option_table[i].arg != NULL ? " " : "",
			 option_table[i].arg != NULL ? option_table[i].arg
						     : "");
		fprintf(f, "  -%c, %-28s %s", option_table[i].key, opt,
			option_table[i].help);
		if (option_table[i].def != NULL)
			fprintf(f, " (default %s)", option_table[i].def);
		fputc('\n', f);
	}
}

/* A non-negative number (fractions allowed) at most "max". */
static int parse_number(const char *val, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(val, &end);
	if (errno != 0 || end == val || *end != '\0' || !(v >= 0) || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Store one option's value. 0 or -EINVAL (after printing why). */
static int set_option(struct config *cfg, int key, const char *val)
{
	double *num = NULL;

	switch (key) {
	case 'b':
		num = &cfg->repl_mb;
		break;
	case 'c':
		num = &cfg->scrub_mb;
		break;
	case 'i':
		num = &cfg->scrub_interval_s;
		break;
	case 'd':
		cfg->data = val;
		break;
	case 'l':
		cfg->listen = val;
		break;
	case 'm':
		cfg->master = val;
		break;
	case 'r':
		cfg->rack = val;
		break;
	case 's':
		cfg->secret = val;
		cfg->sec.secret_file = val;
		break;
	case 'a':
		cfg->sec.ca_file = val;
		break;
	case 'T':
		cfg->sec.tls_cert_file = val;
		break;
	case 'K':
		cfg->sec.tls_key_file = val;
		break;
	}
	if (num != NULL && parse_number(val, 1e6, num) != 0) {
		fprintf(stderr, "chunkd: bad number '%s'\n", val);
		return -EINVAL;
	}
	return 0;
}

/* Defaults for everything left unset, then validation. 0 or -EINVAL
 * (after printing why). */
static int fill_defaults(struct config *cfg)
{
	if (cfg->listen == NULL)
		cfg->listen = "127.0.0.1:9100";
	if (cfg->master == NULL)
		cfg->master = getenv("DFS_MASTER");
	if (cfg->master == NULL || *cfg->master == '\0')
		cfg->master = "127.0.0.1:9000";
	if (cfg->rack == NULL)
		cfg->rack = "";
	if (cfg->repl_mb < 0)
		cfg->repl_mb = DEFAULT_REPL_BANDWIDTH_MB;
	if (cfg->scrub_mb < 0)
		cfg->scrub_mb = DEFAULT_SCRUB_RATE_MB;
	if (cfg->scrub_interval_s < 0)
		cfg->scrub_interval_s = DEFAULT_SCRUB_INTERVAL_S;
	if (cfg->data == NULL || *cfg->data == '\0') {
		fprintf(stderr, "chunkd: --data DIR is required\n");
		return -EINVAL;
	}
	if (!proto_addr_is_valid(cfg->master)) {
		fprintf(stderr, "chunkd: bad master address '%s'\n",
			cfg->master);
		return -EINVAL;
	}
	if (strlen(cfg->rack) > 64) {
		fprintf(stderr, "chunkd: rack name too long\n");
		return -EINVAL;
	}
	return 0;
}

/* Parse argv into cfg. 0, 1 for --help, or -EINVAL. */
static int parse_options(int argc, char **argv, struct config *cfg)
{
	struct option longopts[NOPTIONS + 1];
	char shortopts[NOPTIONS * 2 + 2] = ":";
	size_t i, n = 1;
	int c;

	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < NOPTIONS; i++) {
		longopts[i].name = option_table[i].name;
		longopts[i].has_arg = option_table[i].arg != NULL;
		longopts[i].val = option_table[i].key;
		shortopts[n++] = (char)option_table[i].key;
		if (option_table[i].arg != NULL)
			shortopts[n++] = ':';
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->repl_mb = cfg->scrub_mb = cfg->scrub_interval_s = -1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c == '?' || c == ':') {
			fprintf(stderr, "chunkd: bad or incomplete option '%s'\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (set_option(cfg, c, optarg) != 0)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "chunkd: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return fill_defaults(cfg);
}

/* Block the stop signals in every thread (sigwait() takes them) and
 * ignore SIGPIPE from peers that hang up. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct http_client_opts hopts = {CHAIN_CONNECT_TIMEOUT_MS,
					 CHAIN_TIMEOUT_MS};
	struct master_conn_opts mopts;
	struct copier_opts copts;
	struct master_conn *mc = NULL;
	struct http_client *hc = NULL;
	struct data_srv *ds = NULL;
	struct local_srv *ls = NULL;
	struct copier *cp = NULL;
	struct scrub *sc = NULL;
	struct store *st = NULL;
	struct config cfg;
	sigset_t set;
	int r, sig;

	log_init("chunkd", LOG_LEVEL_INFO);
	if ((r = parse_options(argc, argv, &cfg)) != 0) {
		usage(r > 0 ? stdout : stderr);
		return r > 0 ? 0 : 2;
	}
	block_signals(&set);
	if (secure_init("chunkd", &cfg.sec, SECURE_DAEMON) != 0)
		return 1;
	r = 1;
	if ((st = store_new(cfg.data, NULL, NULL)) == NULL)
		goto out;
	metrics_srv_start(st);
	hc = http_client_new(&hopts);
	copts.master = cfg.master;
	copts.bandwidth = (uint64_t)(cfg.repl_mb * MB);
	copts.max_copies = MAX_COPIES;
	cp = copier_new(&copts, st);
	if ((ds = data_srv_new(cfg.listen, st, hc, cp)) == NULL)
		goto out;
	ls = local_srv_new(data_srv_addr(ds), st);
	sc = scrub_new(st, (uint64_t)(cfg.scrub_mb * MB),
		       (int64_t)(cfg.scrub_interval_s * 1000));
	mopts.master = cfg.master;
	mopts.addr = data_srv_addr(ds);
	mopts.rack = cfg.rack;
	mc = master_conn_new(&mopts, st);
	do {
		sig = 0;
		sigwait(&set, &sig);
	} while (sig != SIGTERM && sig != SIGINT);
	log_info("stopping on signal %d", sig);
	r = 0;
out:
	master_conn_free(mc);
	scrub_free(sc);
	local_srv_free(ls);
	data_srv_free(ds);
	copier_free(cp);
	http_client_free(hc);
	if (st != NULL)
		metrics_srv_stop(st);
	store_free(st);
	secure_release();
	if (r != 0)
		log_errorx("cannot start; exiting");
	return r;
}
