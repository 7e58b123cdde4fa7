/*
 * fuzz_master.c - libFuzzer harness for the request bodies of every
 * masterd endpoint: the client API (names, inodes, sizes, chunk
 * requests), the chunk server API (registrations and heartbeats with
 * their chunk reports, copy reports), sessions, xattrs, and the paths of
 * resolve, stat, fsck and setrep.
 *
 * masterd itself (its main() compiled in as masterd_main by run.sh) runs
 * in a thread of the fuzzer on a scratch directory, without a secret,
 * with 64 KiB chunks. The first input byte picks an endpoint of
 * dfs_proto.h; the rest is the request body, sent with the HTTP client
 * over loopback. Whatever the body, the master must answer (any status)
 * and keep answering EP_OVERVIEW; a crash or sanitizer report in any of
 * its threads ends the run.
 */
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
int masterd_main(int argc, char **argv);

/* Every endpoint, in a fixed order (seeds name them by index). */
static const struct {
	const char *method;
	const char *path;
} fuzz_eps[] = {
	{ "POST", EP_LOOKUP },       { "POST", EP_GETATTR },
	{ "POST", EP_SETATTR },      { "POST", EP_EXTEND },
	{ "POST", EP_READDIR },      { "POST", EP_CREATE },
	{ "POST", EP_MKDIR },        { "POST", EP_SYMLINK },
	{ "POST", EP_READLINK },     { "POST", EP_LINK },
	{ "POST", EP_UNLINK },       { "POST", EP_RMDIR },
	{ "POST", EP_RENAME },       { "POST", EP_STATFS },
	{ "POST", EP_RESOLVE },      { "POST", EP_CHUNKS },
	{ "POST", EP_FSCK },         { "POST", EP_STAT },
	{ "GET", EP_STATUS },        { "POST", EP_SETREP },
	{ "GET", EP_OVERVIEW },      { "GET", EP_JOBS },
	{ "POST", EP_CS_REGISTER },  { "POST", EP_CS_HEARTBEAT },
	{ "POST", EP_CS_COPY_DONE }, { "POST", EP_OPEN },
	{ "POST", EP_SESSION },      { "POST", EP_APPEND },
	{ "POST", EP_SETXATTR },     { "POST", EP_GETXATTR },
	{ "POST", EP_LISTXATTR },    { "POST", EP_REMOVEXATTR },
	{ "GET", EP_STATUS_PAGE },   { "GET", "/status.txt" },
	{ "GET", EP_METRICS },
};

#define FUZZ_NEPS (sizeof(fuzz_eps) / sizeof(fuzz_eps[0]))

static struct http_client *fuzz_hc;
static char fuzz_addr[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char listen[64], data[512];
	static char *args[] = {
		"masterd", "--data", data, "--listen", listen,
		"--chunk-size", "65536", "--replication", "2",
		"--heartbeat-timeout", "2", NULL,
	};
	struct http_client_opts o = { 1000, 10000 };

	(void)argc;
	(void)argv;
	snprintf(data, sizeof(data), "%s/master", fuzz_tmpdir("fuzz_master"));
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", fuzz_free_port());
	snprintf(fuzz_addr, sizeof(fuzz_addr), "%s", listen);
	fuzz_daemon_start(masterd_main, 11, args);
	fuzz_hc = http_client_new(&o);
	fuzz_wait_ready(fuzz_hc, fuzz_addr, EP_OVERVIEW);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_result res = { 0, NULL, 0 };
	size_t i;

	if (size < 1)
		return 0;
	i = data[0] % FUZZ_NEPS;
	if (http_client_request(fuzz_hc, fuzz_eps[i].method, fuzz_addr,
				fuzz_eps[i].path, data + 1, size - 1,
				"application/json", 64 << 20, &res) != 0) {
		fprintf(stderr, "masterd did not answer %s\n",
			fuzz_eps[i].path);
		abort();
	}
	http_result_release(&res);
	if (http_client_request(fuzz_hc, "GET", fuzz_addr, EP_OVERVIEW, NULL,
				0, NULL, 1 << 20, &res) != 0 ||
	    res.status != 200) {
		fprintf(stderr, "masterd stopped answering after %s\n",
			fuzz_eps[i].path);
		abort();
	}
	http_result_release(&res);
	return 0;
}
