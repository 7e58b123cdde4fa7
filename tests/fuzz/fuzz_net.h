/*
 * fuzz_net.h - what the network harnesses share: a daemon run in a thread
 * of the fuzzer's process, a scratch directory, free ports, raw socket
 * exchanges and query strings made from fuzz input.
 *
 * A daemon harness compiles the daemon's sources with -Dmain=<name>_main
 * (tests/fuzz/run.sh does) and starts that function once, from
 * LLVMFuzzerInitialize(), with fuzz_daemon_start(); every input then goes
 * to it over loopback HTTP. The daemon runs until the process exits; its
 * log is cut to errors (DFS_LOG_LEVEL) so the fuzzer's output stays
 * readable.
 *
 * Calling sequence:
 *     dir = fuzz_tmpdir("fuzz_master");          removed at exit
 *     port = fuzz_free_port();
 *     fuzz_daemon_start(masterd_main, argv);
 *     fuzz_wait_ready(hc, addr, "/api/overview");
 *     ... http_client_request(hc, ...) per input ...
 */
#ifndef DFS_FUZZ_NET_H
#define DFS_FUZZ_NET_H

#include <stddef.h>
#include <stdint.h>

struct http_client;

/* A daemon's main() renamed by -Dmain=... */
typedef int (*fuzz_main_fn)(int argc, char **argv);

/* A new directory under /dev/shm (else /tmp), removed with its contents
 * when the process exits. Never NULL (exits on failure). */
char *fuzz_tmpdir(const char *name);

/* A loopback port nobody listens on right now. */
unsigned fuzz_free_port(void);

/* Run main_fn(argc, argv) in a detached thread (argv is borrowed and
 * must live on). Also sets DFS_LOG_LEVEL=error and drops DFS_SECRET and
 * DFS_CA from the environment first. */
void fuzz_daemon_start(fuzz_main_fn main_fn, int argc, char **argv);

/* Wait until GET http://ADDR/PATH answers 200; exits after 30 s. */
void fuzz_wait_ready(struct http_client *hc, const char *addr,
		     const char *path);

/* Send len bytes to 127.0.0.1:port, half-close, read the answer until
 * the peer closes or timeout_ms passes. True if anything came back. */
int fuzz_raw_exchange(unsigned port, const void *data, size_t len,
		      int timeout_ms);

/* A malloc()ed copy of data with every byte outside a URL-safe set
 * percent-encoded ('%' itself is kept, so the input can spell %00 or
 * %2f). */
char *fuzz_query(const uint8_t *data, size_t len);

#endif
