/*
 * main.c - masterd: parse the options, start the modules in order, wait
 * for SIGTERM or SIGINT, stop them in reverse order.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_srv.h"
#include "balancer.h"
#include "db_resident.h"
#include "decommission.h"
#include "open_files.h"
#include "xattr_srv.h"
#include "chunk_srv.h"
#include "client_srv.h"
#include "http_client.h"
#include "http_server.h"
#include "dir_leases.h"
#include "leases.h"
#include "log.h"
#include "master.h"
#include "metrics_srv.h"
#include "namespace.h"
#include "oplog.h"
#include "proto.h"
#include "replicator.h"
#include "secure.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* Kinds of option values. */
enum opt_type {
	OPT_FLAG,      /* no value */
	OPT_STR,       /* a string */
	OPT_SIZE,      /* bytes, with an optional K, M or G suffix */
	OPT_UINT,      /* an unsigned number */
	OPT_SECONDS,   /* seconds, fractions allowed */
};

/* The option table, sorted; --help and the parser follow it. None of
 * these can be changed without a restart. */
static const struct opt_def {
	const char *name;
	int key;
	enum opt_type type;
	const char *arg;      /* value name in --help */
	const char *defval;   /* default shown in --help; NULL: none */
	uint64_t min, max;    /* bounds of numeric values */
	const char *help;
} opt_table[] = {
	{ "ca", 'a', OPT_STR, "FILE", "$DFS_CA", 0, 0,
	  "CA certificate (PEM) of the daemons' TLS certificates; calls\n"
	  "\t\t\tto other daemons use https" },
	{ "chunk-size", 'c', OPT_SIZE, "N", "64M", 64 * 1024,
	  4ULL * 1024 * 1024 * 1024,
	  "chunk size of a new file system in bytes (a multiple of 64K;\n"
	  "\t\t\tan existing one keeps its own)" },
	{ "coordinator", 'C', OPT_STR, "ADDR", NULL, 0, 0,
	  "MapReduce coordinator whose jobs the status page shows" },
	{ "data", 'd', OPT_STR, "DIR", NULL, 0, 0,
	  "data directory (required); the database is DIR/meta.db" },
	{ "db-memory", 'M', OPT_SIZE, "N", "4G", 0, 1ULL << 40,
	  "most bytes of the database, and of its WAL, kept mapped and\n"
	  "\t\t\tlocked in memory so that metadata operations never\n"
	  "\t\t\twait for the disk (needs LimitMEMLOCK); 0: none" },
	{ "event-threads", 'E', OPT_UINT, "N", "1", 0, 64,
	  "threads serving the API's connections from an event loop\n"
	  "\t\t\t(requests that may wait run on worker threads); 0: a\n"
	  "\t\t\tthread per connection" },
	{ "full-report-interval", 'F', OPT_SECONDS, "S", "300", 0,
	  7ULL * 86400000,
	  "seconds between the full chunk reports of a chunkserver (the\n"
	  "\t\t\theartbeats between carry only what changed); 0: every\n"
	  "\t\t\theartbeat carries a full report" },
	{ "heartbeat-timeout", 't', OPT_SECONDS, "S", "30", 1, 86400000,
	  "seconds without a heartbeat before a chunkserver is dead" },
	{ "help", 'h', OPT_FLAG, NULL, NULL, 0, 0, "print this help and exit" },
	{ "listen", 'l', OPT_STR, "ADDR", "127.0.0.1:9000", 0, 0,
	  "host:port to serve the API on (port 0: any free port)" },
	{ "replication", 'r', OPT_UINT, "N", "3", 1, DFS_MAX_REPLICAS,
	  "replication factor of the root of a new file system" },
	{ "replication-copies", 'R', OPT_UINT, "N", "2", 1, 64,
	  "most re-replication copies at a time per chunkserver (as\n"
	  "\t\t\tsource or target)" },
	{ "secret", 's', OPT_STR, "FILE", "$DFS_SECRET", 0, 0,
	  "cluster secret key file: every request must be signed with\n"
	  "\t\t\tit (none: no authentication)" },
	{ "sync-interval", 'S', OPT_UINT, "MS", "100", 0, 60000,
	  "most milliseconds a committed metadata change waits for\n"
	  "\t\t\tits fsync (a client's fsync() forces it at once);\n"
	  "\t\t\t0: fsync every commit before answering" },
	{ "tls-cert", 'T', OPT_STR, "FILE", NULL, 0, 0,
	  "TLS certificate (PEM): serve https only (needs --tls-key)" },
	{ "tls-key", 'K', OPT_STR, "FILE", NULL, 0, 0,
	  "private key (PEM) of --tls-cert" },
};

#define NOPTS (sizeof(opt_table) / sizeof(opt_table[0]))

/* Security options (secure.h), gathered by apply_option(). */
static struct secure_opts sec_opts;

/* Paths served without request authentication: what a browser or a
 * metrics scraper reads (nothing there changes anything). */
static const char *const public_paths[] = {
	EP_STATUS_PAGE, "/status.txt", EP_METRICS, EP_OVERVIEW, EP_JOBS, NULL
};

static void synopsis(FILE *f)
{
	fprintf(f,
		"usage: masterd --data DIR [--chunk-size N] "
		"[--coordinator ADDR] [--db-memory N]\n"
		"               [--event-threads N] [--full-report-interval S] "
		"[--heartbeat-timeout S]\n"
		"               [--listen ADDR] [--replication N] "
		"[--replication-copies N]\n"
		"               [--secret FILE] [--sync-interval MS]\n"
		"               [--ca FILE] [--tls-cert FILE --tls-key FILE]"
		"\n");
}

static void usage(FILE *f)
{
	const struct opt_def *o;
	size_t i;

	synopsis(f);
	fputc('\n', f);
	for (i = 0; i < NOPTS; i++) {
		o = &opt_table[i];
		fprintf(f, "  -%c, --%s%s%s\n\t\t\t%s", o->key, o->name,
			o->arg ? " " : "", o->arg ? o->arg : "", o->help);
		if (o->defval != NULL)
			fprintf(f, " (default %s)", o->defval);
		fputc('\n', f);
	}
}

/* Parse an unsigned number with an optional K/M/G suffix (OPT_SIZE). */
static int parse_u64(const char *s, bool suffix, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -EINVAL;
	if (suffix && *end != '\0' && end[1] == '\0') {
		int shift = *end == 'K' || *end == 'k'	 ? 10
			    : *end == 'M' || *end == 'm' ? 20
			    : *end == 'G' || *end == 'g' ? 30
							 : -1;
		if (shift < 0 || v > (UINT64_MAX >> shift))
			return -EINVAL;
		v <<= shift;
		end++;
	}
	if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse seconds (fractions allowed) into milliseconds. */
static int parse_seconds_ms(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) ||
	    v > 86400.0)
		return -EINVAL;
	*ms = (uint64_t)(v * 1000.0 + 0.5);
	return 0;
}

/* A numeric option value within the table's bounds. */
static int parse_number(const struct opt_def *o, const char *arg,
			uint64_t *out)
{
	int r;

	if (o->type == OPT_SECONDS)
		r = parse_seconds_ms(arg, out);
	else
		r = parse_u64(arg, o->type == OPT_SIZE, out);
	if (r == 0 && (*out < o->min || *out > o->max))
		r = -ERANGE;
	return r;
}

/* Store one option in the configuration; -EINVAL on a bad value. */
static int apply_option(struct master_config *cfg, const struct opt_def *o,
			const char *arg)
{
	uint64_t v = 0;

	if (o->type != OPT_STR && o->type != OPT_FLAG &&
	    parse_number(o, arg, &v) != 0) {
		fprintf(stderr, "masterd: bad value '%s' for --%s\n", arg,
			o->name);
		return -EINVAL;
	}
	switch (o->key) {
	case 'c':
		if (v % (64 * 1024) != 0) {
			fprintf(stderr, "masterd: --chunk-size must be a "
					"multiple of 65536\n");
			return -EINVAL;
		}
		cfg->chunk_size = v;
		break;
	case 'C':
		if (!proto_addr_is_valid(arg)) {
			fprintf(stderr, "masterd: bad --coordinator address "
					"'%s'\n", arg);
			return -EINVAL;
		}
		cfg->coordinator = arg;
		break;
	case 'd':
		cfg->data_dir = arg;
		break;
	case 'M':
		cfg->db_memory = v;
		cfg->db_memory_set = true;
		break;
	case 't':
		cfg->heartbeat_timeout_ms = (int64_t)v;
		break;
	case 'E':
		cfg->event_threads = (unsigned)v;
		cfg->event_threads_set = true;
		break;
	case 'F':
		cfg->full_report_ms = (int64_t)v;
		cfg->full_report_set = true;
		break;
	case 'l':
		cfg->listen = arg;
		break;
	case 'r':
		cfg->replication = (uint32_t)v;
		break;
	case 'R':
		cfg->repl_copies = (uint32_t)v;
		break;
	case 'S':
		cfg->sync_interval_ms = (uint32_t)v;
		cfg->sync_interval_set = true;
		break;
	case 's':
		cfg->secret_file = arg;
		/* fall through */
	case 'a':
	case 'K':
	case 'T':
		secure_opts_set(&sec_opts, o->name, arg);
		break;
	}
	return 0;
}

/* Defaults for everything the command line left unset. */
static void fill_defaults(struct master_config *cfg)
{
	if (cfg->listen == NULL)
		cfg->listen = "127.0.0.1:9000";
	if (cfg->replication == 0)
		cfg->replication = 3;
	if (cfg->heartbeat_timeout_ms == 0)
		cfg->heartbeat_timeout_ms = 30000;
	if (!cfg->full_report_set)
		cfg->full_report_ms = 300000;
	if (cfg->repl_copies == 0)
		cfg->repl_copies = 2;
	if (!cfg->sync_interval_set)
		cfg->sync_interval_ms = 100;
	if (!cfg->db_memory_set)
		cfg->db_memory = 4ULL << 30;
	if (!cfg->event_threads_set)
		cfg->event_threads = 1;
}

/* "host:port" with a non-empty host and a port 0..65535. */
static bool listen_is_valid(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	uint64_t port;

	return colon != NULL && colon != addr && strlen(addr) < DFS_ADDR_MAX &&
	       parse_u64(colon + 1, false, &port) == 0 && port <= 65535;
}

static const struct opt_def *opt_by_key(int key)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opt_table[i].key == key)
			return &opt_table[i];
	return NULL;
}

/* Parse argv into cfg. Exits on --help (0) and bad arguments (2). */
static void parse_args(int argc, char **argv, struct master_config *cfg)
{
	struct option longopts[NOPTS + 1];
	char shortopts[2 * NOPTS + 1];
	const struct opt_def *o;
	size_t i, n = 0;
	int c;

	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < NOPTS; i++) {
		o = &opt_table[i];
		longopts[i] = (struct option){ o->name,
					       o->type == OPT_FLAG ? no_argument
								   : required_argument,
					       NULL, o->key };
		shortopts[n++] = (char)o->key;
		if (o->type != OPT_FLAG)
			shortopts[n++] = ':';
	}
	shortopts[n] = '\0';
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if ((o = opt_by_key(c)) == NULL || apply_option(cfg, o, optarg))
			goto bad;
	}
	if (optind != argc || cfg->data_dir == NULL) {
		fprintf(stderr, "masterd: %s\n",
			optind != argc ? "unexpected arguments"
				       : "--data DIR is required");
		goto bad;
	}
	fill_defaults(cfg);
	if (!listen_is_valid(cfg->listen)) {
		fprintf(stderr, "masterd: bad --listen address '%s'\n",
			cfg->listen);
		goto bad;
	}
	return;
bad:
	synopsis(stderr);
	exit(2);
}

static int start_ns(struct master *m)
{
	char *path;
	int r;

	if (mkdir(m->cfg.data_dir, 0755) != 0 && errno != EEXIST) {
		log_error("cannot create data directory '%s'", m->cfg.data_dir);
		return -errno;
	}
	path = xasprintf("%s/meta.db", m->cfg.data_dir);
	r = ns_open(path, m->cfg.chunk_size, m->cfg.replication, &m->ns);
	free(path);
	return r;
}

static void stop_ns(struct master *m)
{
	ns_free(m->ns);
	m->ns = NULL;
}

/* How often db_resident looks for growth of the database files: what
 * was written since can leave the page cache before it is held. */
#define DB_RESIDENT_POLL_MS 200

static int start_resident(struct master *m)
{
	char *db = xasprintf("%s/meta.db", m->cfg.data_dir);
	char *wal = xasprintf("%s-wal", db);
	const char *paths[] = { db, wal, NULL };

	m->resident = db_resident_start(paths, m->cfg.db_memory,
					DB_RESIDENT_POLL_MS);
	free(wal);
	free(db);
	return 0;
}

static void stop_resident(struct master *m)
{
	db_resident_stop(m->resident);
	m->resident = NULL;
}

static int start_oplog(struct master *m)
{
	m->oplog = oplog_new(m->ns, m->cfg.sync_interval_ms);
	return 0;
}

static void stop_oplog(struct master *m)
{
	oplog_free(m->oplog);
	m->oplog = NULL;
}

static int start_leases(struct master *m)
{
	m->leases = leases_new(LEASES_DEFAULT_MS);
	m->dir_leases = dir_leases_new(DIR_LEASE_MS);
	return 0;
}

static void stop_leases(struct master *m)
{
	leases_free(m->leases);
	dir_leases_free(m->dir_leases);
	m->leases = NULL;
}

/* Timeouts of the master's calls to chunk servers (new versions, copy
 * orders): short, a server that does not answer fast is dropped. */
#define CHUNKD_CONNECT_TIMEOUT_MS 1000
#define CHUNKD_TIMEOUT_MS 5000

static int start_hc(struct master *m)
{
	struct http_client_opts o = { CHUNKD_CONNECT_TIMEOUT_MS,
				      CHUNKD_TIMEOUT_MS };

	m->hc = http_client_new(&o);
	return 0;
}

static void stop_hc(struct master *m)
{
	http_client_free(m->hc);
	m->hc = NULL;
}

static int start_repl(struct master *m)
{
	m->repl = replicator_new(m);
	return 0;
}

static void stop_repl(struct master *m)
{
	replicator_free(m->repl);
	m->repl = NULL;
}

/* ns_freed_fn: the servers of dropped chunks delete them at their next
 * heartbeat, not at their next full report. */
static void schedule_freed(void *arg, const struct ns_freed_replica *v,
			   size_t n)
{
	struct chunk_srv *cs = arg;

	for (size_t i = 0; i < n; i++)
		chunk_srv_schedule_delete(cs, v[i].addr, v[i].handle);
}

static int start_chunk_srv(struct master *m)
{
	m->cs = chunk_srv_new(m);
	ns_set_freed_hook(m->ns, schedule_freed, m->cs);
	return 0;
}

static void stop_chunk_srv(struct master *m)
{
	ns_set_freed_hook(m->ns, NULL, NULL);
	chunk_srv_free(m->cs);
	m->cs = NULL;
}

/* One route table: the client API, then the chunk server API. */
#define NROUTES_MAX 64

/* Memory of each client connection: requests are small JSON (larger
 * bodies arrive in pieces), and libmicrohttpd zeroes what a request left
 * unused, 64 KiB by default, after each one. */
#define MASTER_CONN_MEMORY (16u * 1024)

static struct http_route routes[NROUTES_MAX];

static int start_http(struct master *m)
{
	struct http_server_opts opts = { .listen = m->cfg.listen,
					 .event_threads = m->cfg.event_threads,
					 .conn_memory = MASTER_CONN_MEMORY,
					 .observe = metrics_srv_observe,
					 .observe_arg = m };
	size_t n = 0, i;
	const char *colon;

	secure_server_opts(&opts, public_paths);
	if (client_srv_nroutes + chunk_srv_nroutes + replicator_nroutes +
		    admin_srv_nroutes + open_files_nroutes +
		    xattr_srv_nroutes + decommission_nroutes +
		    balancer_nroutes >
	    NROUTES_MAX)
		fatalx("route table too small");
	for (i = 0; i < client_srv_nroutes; i++)
		routes[n++] = client_srv_routes[i];
	for (i = 0; i < chunk_srv_nroutes; i++)
		routes[n++] = chunk_srv_routes[i];
	for (i = 0; i < replicator_nroutes; i++)
		routes[n++] = replicator_routes[i];
	for (i = 0; i < admin_srv_nroutes; i++)
		routes[n++] = admin_srv_routes[i];
	for (i = 0; i < open_files_nroutes; i++)
		routes[n++] = open_files_routes[i];
	for (i = 0; i < xattr_srv_nroutes; i++)
		routes[n++] = xattr_srv_routes[i];
	for (i = 0; i < decommission_nroutes; i++)
		routes[n++] = decommission_routes[i];
	for (i = 0; i < balancer_nroutes; i++)
		routes[n++] = balancer_routes[i];
	/*
	 * Connection threads read m->addr (status page) as soon as the
	 * server runs: fill it before, and rewrite it after only when the
	 * port was 0 (picked by the kernel), before anyone can know it.
	 */
	snprintf(m->addr, sizeof(m->addr), "%s", m->cfg.listen);
	m->http = http_server_new(&opts, routes, n, m);
	if (m->http == NULL)
		return -EADDRNOTAVAIL;
	colon = strrchr(m->cfg.listen, ':');
	if (colon == NULL || strcmp(colon, ":0") == 0)
		snprintf(m->addr, sizeof(m->addr), "%.*s:%u",
			 (int)(colon ? colon - m->cfg.listen : 0),
			 m->cfg.listen, http_server_port(m->http));
	log_info("listening on %s", m->addr);
	return 0;
}

static void stop_http(struct master *m)
{
	http_server_free(m->http);
	m->http = NULL;
}

/*
 * Modules in start order; they stop in reverse. The database comes
 * first (everything reads it), then what holds its pages in memory,
 * the writer over it, the lease table,
 * the client for calls to chunk servers, the chunk server table (loads
 * the known servers, starts the monitor), the replicator (its planner
 * waits while servers register), and the HTTP server last, once
 * everything a handler touches exists.
 */
static const struct module {
	const char *name;
	int (*start)(struct master *m);
	void (*stop)(struct master *m);
} modules[] = {
	{ "namespace", start_ns, stop_ns },
	{ "database residency", start_resident, stop_resident },
	{ "oplog", start_oplog, stop_oplog },
	{ "leases", start_leases, stop_leases },
	{ "chunkserver client", start_hc, stop_hc },
	{ "chunk servers", start_chunk_srv, stop_chunk_srv },
	{ "decommissioning", decommission_start, decommission_stop },
	{ "replicator", start_repl, stop_repl },
	{ "balancer", balancer_start, balancer_stop },
	{ "operations", admin_srv_start, admin_srv_stop },
	{ "open files", open_files_start, open_files_stop },
	{ "http server", start_http, stop_http },
};

#define NMODULES (sizeof(modules) / sizeof(modules[0]))

/* Stop the first n modules, last first. */
static void stop_modules(struct master *m, size_t n)
{
	while (n-- > 0)
		modules[n].stop(m);
}

static int start_modules(struct master *m)
{
	size_t i;
	int r;

	for (i = 0; i < NMODULES; i++) {
		if ((r = modules[i].start(m)) != 0) {
			log_errorx("cannot start the %s: %s", modules[i].name,
				   strerror(-r));
			stop_modules(m, i);
			return r;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct master m = { 0 };
	sigset_t sigs;
	int sig = 0;

	log_init("masterd", LOG_LEVEL_INFO);
	parse_args(argc, argv, &m.cfg);
	if (secure_init("masterd", &sec_opts, SECURE_DAEMON) != 0)
		return 1;
	m.start_ms = time_now_ms();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (start_modules(&m) != 0)
		return 1;
	while (sigwait(&sigs, &sig) != 0)
		;
	log_info("stopping on signal %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	stop_modules(&m, NMODULES);
	secure_release();
	log_info("stopped");
	return 0;
}
