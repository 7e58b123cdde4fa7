/*
 * fuzz_chunkd.c - libFuzzer harness for the chunkd data API: the query
 * strings (handles that look like paths, versions, offsets and lengths
 * outside a chunk, chains, copy sources) and bodies of every endpoint.
 *
 * chunkd itself (its main() compiled in as chunkd_main by run.sh) runs in
 * a thread of the fuzzer on a scratch store, without a secret, pointed at
 * a master that does not exist. The first input byte picks an endpoint;
 * the rest up to the first newline is the query string (bytes outside a
 * URL-safe set percent-encoded, so %00 and %2f stay spellable), the rest
 * the body. chunkd must answer every request and keep answering
 * EP_HEALTH, and never create a file outside its store: after each
 * input nothing but the store may exist in the scratch directory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfs_proto.h"
#include "fuzz_net.h"
#include "http_client.h"

#include "banned.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int chunkd_main(int argc, char **argv);

static const struct {
	const char *method;
	const char *path;
} fuzz_eps[] = {
	{ "GET", EP_CHUNK_READ },       { "PUT", EP_CHUNK_WRITE },
	{ "POST", EP_CHUNK_TRUNCATE },  { "POST", EP_CHUNK_SYNC },
	{ "POST", EP_CHUNK_SETVERSION }, { "GET", EP_CHUNK_INFO },
	{ "POST", EP_CHUNK_REPLICATE }, { "GET", EP_HEALTH },
	{ "GET", EP_METRICS },
};

#define FUZZ_NEPS (sizeof(fuzz_eps) / sizeof(fuzz_eps[0]))

static struct http_client *fuzz_hc;
static char fuzz_addr[64];
static char *fuzz_root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char listen[64], data[512];
	static char *args[] = {
		"chunkd", "--data", data, "--listen", listen, "--master",
		"127.0.0.1:1", "--scrub-rate", "0", NULL,
	};
	struct http_client_opts o = { 1000, 10000 };

	(void)argc;
	(void)argv;
	fuzz_root = fuzz_tmpdir("fuzz_chunkd");
	snprintf(data, sizeof(data), "%s/store", fuzz_root);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", fuzz_free_port());
	snprintf(fuzz_addr, sizeof(fuzz_addr), "%s", listen);
	fuzz_daemon_start(chunkd_main, 9, args);
	fuzz_hc = http_client_new(&o);
	fuzz_wait_ready(fuzz_hc, fuzz_addr, EP_HEALTH);
	return 0;
}

/* Nothing but "store" in the scratch directory. */
static void fuzz_check_root(void)
{
	DIR *d = opendir(fuzz_root);
	struct dirent *e;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "store") == 0)
			continue;
		fprintf(stderr, "'%s' appeared outside the store\n",
			e->d_name);
		abort();
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_result res = { 0, NULL, 0 };
	const uint8_t *nl, *body;
	char *query, *target;
	size_t i, qlen;

	if (size < 1)
		return 0;
	i = data[0] % FUZZ_NEPS;
	nl = memchr(data + 1, '\n', size - 1);
	qlen = nl != NULL ? (size_t)(nl - (data + 1)) : size - 1;
	body = nl != NULL ? nl + 1 : data + size;
	query = fuzz_query(data + 1, qlen);
	target = malloc(strlen(fuzz_eps[i].path) + strlen(query) + 2);
	if (target == NULL)
		abort();
	snprintf(target, strlen(fuzz_eps[i].path) + strlen(query) + 2,
		 "%s?%s", fuzz_eps[i].path, query);
	if (http_client_request(fuzz_hc, fuzz_eps[i].method, fuzz_addr, target,
				body, (size_t)(data + size - body),
				"application/octet-stream", 64 << 20,
				&res) != 0) {
		fprintf(stderr, "chunkd did not answer %s\n", target);
		abort();
	}
	http_result_release(&res);
	if (http_client_request(fuzz_hc, "GET", fuzz_addr, EP_HEALTH, NULL, 0,
				NULL, 1 << 20, &res) != 0 ||
	    res.status != 200) {
		fprintf(stderr, "chunkd stopped answering after %s\n", target);
		abort();
	}
	http_result_release(&res);
	fuzz_check_root();
	free(query);
	free(target);
	return 0;
}
