/*
 * mdbench.c - metadata load generator: creates/s straight against
 * masterd's JSON API (EP_CREATE), from several parallel clients.
 *
 *   mdbench [--master ADDR] [--clients N] [--files N] [--secret FILE]
 *           [--chunk]
 *
 * Each client is a thread with its own HTTP client (one kept-alive
 * connection); it makes a directory of its own under the root
 * (EP_MKDIR) and then creates --files empty regular files in it, one
 * request at a time, each answered only once committed. With --chunk each
 * create also places the file's chunk 0 and takes its write lease, as a
 * create from the mount does ("chunk": true). Prints one line:
 *   creates N clients C seconds S creates/s R p50_us A p99_us B
 * Exit status 0 when every create succeeded.
 *
 * Built by bench/run.sh (cc ... build/obj/libdfs.a); not part of `make`.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "http_client.h"
#include "proto.h"
#include "timeutil.h"

#include "banned.h"

/* Most clients started. */
#define MD_CLIENTS_MAX 256

struct md_worker {
	pthread_t tid;        /* the thread */
	unsigned id;          /* 0.. clients-1 */
	const char *master;   /* borrowed address */
	unsigned files;       /* creates to make */
	bool chunk;	      /* place chunk 0 with each create */
	unsigned done;        /* creates that succeeded */
	int err;              /* first error, 0 if none */
	double *lat_us;       /* latency of each create */
};

/* Wall-clock microseconds (monotonic). */
static double md_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Make this worker's directory; its inode number into *ino. */
static int md_mkdir(struct http_client *hc, struct md_worker *w,
		    uint64_t *ino)
{
	char name[64];
	json_t *reply = NULL;
	struct dfs_attr attr;
	int r;

	snprintf(name, sizeof(name), "mdbench.%ld.%u", (long)getpid(), w->id);
	r = rpc_call(hc, w->master, EP_MKDIR,
		     json_pack("{s:I, s:s, s:I, s:I, s:I}", "parent",
			       (json_int_t)DFS_ROOT_INO, "name", name, "mode",
			       (json_int_t)(S_IFDIR | 0755), "uid", 0, "gid", 0),
		     &reply, NULL);
	if (r == 0)
		r = proto_attr_from_json(reply, &attr);
	if (r == 0)
		*ino = attr.ino;
	json_decref(reply);
	return r;
}

/* One client: mkdir, then "files" creates in it. */
static void *md_run(void *arg)
{
	struct md_worker *w = arg;
	struct http_client *hc = http_client_new(NULL);
	uint64_t dir = 0;
	char name[32];
	unsigned i;
	double t0;
	int r;

	if ((r = md_mkdir(hc, w, &dir)) != 0) {
		w->err = r;
		goto out;
	}
	for (i = 0; i < w->files; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		t0 = md_now_us();
		r = rpc_call(hc, w->master, EP_CREATE,
			     json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:b}",
				       "parent", (json_int_t)dir, "name", name,
				       "mode", (json_int_t)(S_IFREG | 0644),
				       "uid", 0, "gid", 0, "rdev", 0, "chunk",
				       w->chunk),
			     NULL, NULL);
		w->lat_us[i] = md_now_us() - t0;
		if (r != 0) {
			w->err = r;
			break;
		}
		w->done++;
	}
out:
	http_client_free(hc);
	return NULL;
}

static int md_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void md_usage(FILE *f)
{
	fprintf(f, "usage: mdbench [--master ADDR] [--clients N] "
		   "[--files N] [--secret FILE] [--chunk]\n");
}

/* Parse the arguments; 0, or 2 after printing the usage. */
static int md_args(int argc, char **argv, const char **master,
		   unsigned *clients, unsigned *files, const char **secret,
		   bool *chunk)
{
	static const struct option opts[] = {
		{ "master", required_argument, NULL, 'm' },
		{ "clients", required_argument, NULL, 'c' },
		{ "files", required_argument, NULL, 'n' },
		{ "secret", required_argument, NULL, 's' },
		{ "chunk", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "m:c:n:s:Ch", opts, NULL)) != -1) {
		switch (o) {
		case 'm': *master = optarg; break;
		case 'c': *clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': *files = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': *secret = optarg; break;
		case 'C':
			*chunk = true;
			break;
		case 'h': md_usage(stdout); exit(0);
		default: md_usage(stderr); return 2;
		}
	}
	if (*clients == 0 || *clients > MD_CLIENTS_MAX || *files == 0) {
		md_usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *master = getenv("DFS_MASTER"), *secret = NULL;
	unsigned clients = 8, files = 2000, i, ok = 0, n = 0;
	bool chunk = false;
	struct md_worker *w;
	struct auth_key *key = NULL;
	struct http_client_sec sec = {0};
	double t0, secs, *all;
	int rc = 0;

	if (master == NULL)
		master = "127.0.0.1:9000";
	if ((rc = md_args(argc, argv, &master, &clients, &files, &secret,
			  &chunk)))
		return rc;
	if (secret != NULL) {
		if (auth_key_load(secret, &key) != 0) {
			fprintf(stderr, "mdbench: cannot load %s\n", secret);
			return 1;
		}
		sec.auth = key;
		http_client_set_defaults(&sec);
	}
	w = calloc(clients, sizeof(*w));
	all = calloc((size_t)clients * files, sizeof(*all));
	if (w == NULL || all == NULL)
		return 1;
	t0 = md_now_us();
	for (i = 0; i < clients; i++) {
		w[i] = (struct md_worker){ .id = i,
					   .master = master,
					   .files = files,
					   .chunk = chunk,
					   .lat_us = all + (size_t)i * files };
		pthread_create(&w[i].tid, NULL, md_run, &w[i]);
	}
	for (i = 0; i < clients; i++)
		pthread_join(w[i].tid, NULL);
	secs = (md_now_us() - t0) / 1e6;
	for (i = 0; i < clients; i++) {
		if (w[i].err != 0 && rc == 0) {
			fprintf(stderr, "mdbench: client %u: %s\n", i,
				strerror(-w[i].err));
			rc = 1;
		}
		memmove(all + ok, w[i].lat_us, w[i].done * sizeof(*all));
		ok += w[i].done;
	}
	n = ok;
	qsort(all, n, sizeof(*all), md_cmp);
	printf("creates %u clients %u seconds %.3f creates/s %.0f "
	       "p50_us %.0f p99_us %.0f\n", ok, clients, secs, ok / secs,
	       n ? all[n / 2] : 0.0, n ? all[n * 99 / 100] : 0.0);
	free(all);
	free(w);
	auth_key_free(key);
	return rc;
}
