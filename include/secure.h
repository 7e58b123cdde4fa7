/*
 * secure.h - the security settings every program shares, set up once.
 *
 * Every program (masterd, chunkd, fusefs, dfs, mr) takes the same
 * options: --secret FILE (the cluster secret, auth.h; default
 * $DFS_SECRET) and --ca FILE (the PEM CA that signed the daemons' TLS
 * certificates; default $DFS_CA); daemons also take --tls-cert FILE and
 * --tls-key FILE (their own certificate and key). main() gathers them
 * into a struct secure_opts and calls secure_init() before it makes any
 * HTTP client: it loads the secret and sets the process-wide client
 * defaults, so every request the program sends is signed (X-DFS-Auth) and,
 * with a CA, goes over https:// with the server's certificate verified.
 * A daemon then adds the same settings to its HTTP server with
 * secure_server_opts(): requests other than to its public paths must be
 * signed, and with a certificate the server speaks TLS only.
 *
 * Chunk access tokens (auth.h): the master makes one per chunk it hands
 * out (secure_token_make(), valid SECURE_TOKEN_TTL_MS); clients send it
 * in X-DFS-Token (secure_token_headers()); chunk servers check it
 * (secure_token_check()) before a read or a mutation and pass the same
 * token down a replica chain. Commands between daemons that touch no
 * chunk data for a client (new versions, copy orders, replica info) are
 * authenticated by their request signature alone; a chunk server that
 * copies a replica on the master's order makes its own short read token
 * for the source, as any holder of the secret can.
 *
 * Without a secret a program runs without authentication (a daemon logs
 * a warning once): tokens are then neither made (empty) nor checked.
 *
 * The state is process-wide and set once: secure_init() must run before
 * other threads use it and secure_release() after they stopped.
 *
 * Calling sequence:
 *     struct secure_opts so = { 0 };
 *     ... options: secure_opts_set(&so, "secret", optarg) ...
 *     if (secure_init("chunkd", &so, SECURE_DAEMON) != 0) exit(1);
 *     secure_server_opts(&http_opts, public_paths);
 *     ... secure_token_check(req, handle, AUTH_TOKEN_READ) ...
 *     secure_release();
 */
#ifndef DFS_SECURE_H
#define DFS_SECURE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"

struct http_request;
struct http_server_opts;

/* Lifetime of the chunk access tokens the master hands out. */
#define SECURE_TOKEN_TTL_MS (5 * 60 * 1000)

/* Lifetime of a token a chunk server makes for its own copy reads. */
#define SECURE_COPY_TOKEN_TTL_MS (60 * 1000)

/* Room for one "X-DFS-Token: ..." header line, NUL included. */
#define SECURE_TOKEN_LINE_MAX (sizeof(AUTH_TOKEN_HEADER) + 2 + AUTH_TOKEN_MAX)

/* The options; NULL fields are unset. Strings are borrowed. */
struct secure_opts {
	const char *secret_file;    /* --secret; unset: $DFS_SECRET */
	const char *ca_file;        /* --ca; unset: $DFS_CA */
	const char *tls_cert_file;  /* --tls-cert (daemons) */
	const char *tls_key_file;   /* --tls-key (daemons) */
};

enum secure_init_flags {
	/* A daemon: warn when running without a secret, and a TLS
	 * certificate needs a CA (its own calls to other daemons go over
	 * TLS too). */
	SECURE_DAEMON = 1 << 0,
};

/*
 * For programs that parse with getopt_long(): the values of the
 * security options, entries for the option table (clients take the
 * first two, daemons all four; the table must include <getopt.h>), and
 * their --help lines.
 */
enum secure_opt_val {
	SECURE_OPT_CA = 0x5ec0,
	SECURE_OPT_SECRET,
	SECURE_OPT_TLS_CERT,
	SECURE_OPT_TLS_KEY,
};

#define SECURE_LONGOPTS_CLIENT                                               \
	{ "ca", required_argument, NULL, SECURE_OPT_CA },                    \
	{ "secret", required_argument, NULL, SECURE_OPT_SECRET }
#define SECURE_LONGOPTS_DAEMON                                               \
	SECURE_LONGOPTS_CLIENT,                                              \
	{ "tls-cert", required_argument, NULL, SECURE_OPT_TLS_CERT },        \
	{ "tls-key", required_argument, NULL, SECURE_OPT_TLS_KEY }

#define SECURE_HELP_CLIENT                                                   \
	"  --secret FILE         cluster secret that signs every request\n"  \
	"                        (default $DFS_SECRET)\n"                     \
	"  --ca FILE             CA of the daemons' TLS certificates: use\n"  \
	"                        https (default $DFS_CA)\n"
#define SECURE_HELP_DAEMON                                                   \
	SECURE_HELP_CLIENT                                                   \
	"  --tls-cert FILE       TLS certificate (PEM): serve https only\n"   \
	"  --tls-key FILE        private key (PEM) of --tls-cert\n"

/* One header line and the NULL-terminated list naming it. */
struct secure_token_hdr {
	char line[SECURE_TOKEN_LINE_MAX];
	const char *list[2];
};

/*
 * Store option "name" ("secret", "ca", "tls-cert" or "tls-key", without
 * dashes) with value "arg" (borrowed) into o. True if "name" is one of
 * them, false otherwise (nothing changed).
 */
bool secure_opts_set(struct secure_opts *o, const char *name,
		     const char *arg);

/* Take getopt_long()'s value c (enum secure_opt_val) with its argument
 * into o. True if c is one of them. */
bool secure_getopt(struct secure_opts *o, int c, const char *arg);

/*
 * Apply the settings (unset ones from the environment): load the secret,
 * check the TLS files can be read, set the HTTP client defaults. "prog"
 * names the program in messages. Returns 0, or a negative errno after
 * printing why to stderr (unreadable or badly protected secret, missing
 * file, certificate without key, daemon certificate without CA). Call
 * once, from main(), before making HTTP clients.
 */
int secure_init(const char *prog, const struct secure_opts *o,
		unsigned flags);

/* The cluster key, or NULL when running without a secret (borrowed). */
const struct auth_key *secure_key(void);

/* The CA file in use, or NULL (borrowed). */
const char *secure_ca_file(void);

/*
 * Fill the security fields of a server's options: auth (the key, or
 * NULL), public_paths (borrowed, NULL-terminated; may be NULL) and the
 * TLS files. Other fields are left alone.
 */
void secure_server_opts(struct http_server_opts *opts,
			const char *const *public_paths);

/*
 * Make a chunk access token for "handle" granting "mode" (enum
 * auth_token_mode bits) for ttl_ms from now, into out (AUTH_TOKEN_MAX
 * bytes). Without a secret out is "" and 0 is returned. 0 or a negative
 * errno (bad mode, OpenSSL failure).
 */
int secure_token_make(uint64_t handle, unsigned mode, int64_t ttl_ms,
		      char *out);

/*
 * Check the X-DFS-Token of a request for "handle" and "mode" (always 0
 * without a secret). On failure answers FORBIDDEN itself, with
 * auth_strerror()'s text ("token expired", ...), and returns the
 * negative errno of auth_token_check(); the handler just returns.
 */
int secure_token_check(struct http_request *req, uint64_t handle,
		       unsigned mode);

/*
 * The extra request headers carrying "token": h->list, or NULL when the
 * token is NULL or "" (no header to send). The result lives in *h.
 */
const char *const *secure_token_headers(struct secure_token_hdr *h,
					const char *token);

/* Forget the settings and free the key. Call at exit, when no thread
 * uses them any more. */
void secure_release(void);

#endif
