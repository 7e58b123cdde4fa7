/*
 * secure.c - the security settings every program shares (see secure.h).
 *
 * One process-wide state, written by secure_init() before other threads
 * start and read-only afterwards, so readers take no lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "secure.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"

#include "banned.h"

/* The settings in force; see the top of the file for the locking. */
static struct {
	struct auth_key *key;   /* owned; NULL: no secret */
	char *ca_file;          /* owned; NULL: plain HTTP client */
	char *tls_cert_file;    /* owned; NULL: plain HTTP server */
	char *tls_key_file;     /* owned */
} secure_state;

bool secure_opts_set(struct secure_opts *o, const char *name,
		     const char *arg)
{
	if (strcmp(name, "secret") == 0)
		o->secret_file = arg;
	else if (strcmp(name, "ca") == 0)
		o->ca_file = arg;
	else if (strcmp(name, "tls-cert") == 0)
		o->tls_cert_file = arg;
	else if (strcmp(name, "tls-key") == 0)
		o->tls_key_file = arg;
	else
		return false;
	return true;
}

bool secure_getopt(struct secure_opts *o, int c, const char *arg)
{
	switch (c) {
	case SECURE_OPT_CA:
		return secure_opts_set(o, "ca", arg);
	case SECURE_OPT_SECRET:
		return secure_opts_set(o, "secret", arg);
	case SECURE_OPT_TLS_CERT:
		return secure_opts_set(o, "tls-cert", arg);
	case SECURE_OPT_TLS_KEY:
		return secure_opts_set(o, "tls-key", arg);
	default:
		return false;
	}
}

/* The option's value, else the environment variable's; NULL if neither
 * is set (an empty value counts as unset). */
static const char *secure_pick(const char *opt, const char *env)
{
	const char *v = opt != NULL && *opt != '\0' ? opt : getenv(env);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Check that a file named on the command line can be read. */
static int secure_readable(const char *prog, const char *what,
			   const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	fprintf(stderr, "%s: cannot read the %s '%s': %s\n", prog, what, path,
		strerror(errno));
	return -errno;
}

/* Check the TLS files of a daemon and remember them. */
static int secure_init_tls(const char *prog, const struct secure_opts *o,
			   const char *ca, unsigned flags)
{
	int r;

	if (o->tls_cert_file == NULL && o->tls_key_file == NULL)
		return 0;
	if (o->tls_cert_file == NULL || o->tls_key_file == NULL) {
		fprintf(stderr, "%s: --tls-cert and --tls-key go together\n",
			prog);
		return -EINVAL;
	}
	if ((flags & SECURE_DAEMON) && ca == NULL) {
		fprintf(stderr, "%s: --tls-cert needs --ca (or $DFS_CA): the "
				"calls between daemons use TLS too\n", prog);
		return -EINVAL;
	}
	if ((r = secure_readable(prog, "TLS certificate",
				 o->tls_cert_file)) != 0 ||
	    (r = secure_readable(prog, "TLS key", o->tls_key_file)) != 0)
		return r;
	secure_state.tls_cert_file = xstrdup(o->tls_cert_file);
	secure_state.tls_key_file = xstrdup(o->tls_key_file);
	return 0;
}

int secure_init(const char *prog, const struct secure_opts *o,
		unsigned flags)
{
	const char *secret = secure_pick(o->secret_file, "DFS_SECRET");
	const char *ca = secure_pick(o->ca_file, "DFS_CA");
	struct http_client_sec sec = { NULL, NULL };
	int r;

	if (secret != NULL && (r = auth_key_load(secret, &secure_state.key)) !=
				      0) {
		fprintf(stderr, "%s: cannot use the cluster secret '%s': %s\n",
			prog, secret, strerror(-r));
		goto fail;
	}
	if (ca != NULL && (r = secure_readable(prog, "CA file", ca)) != 0)
		goto fail;
	if ((r = secure_init_tls(prog, o, ca, flags)) != 0)
		goto fail;
	secure_state.ca_file = ca != NULL ? xstrdup(ca) : NULL;
	sec.auth = secure_state.key;
	sec.ca_file = secure_state.ca_file;
	http_client_set_defaults(&sec);
	if (secure_state.key == NULL && (flags & SECURE_DAEMON))
		log_warnx("no cluster secret (--secret or $DFS_SECRET): "
			  "requests are not authenticated");
	return 0;
fail:
	secure_release();
	return r;
}

const struct auth_key *secure_key(void)
{
	return secure_state.key;
}

const char *secure_ca_file(void)
{
	return secure_state.ca_file;
}

void secure_server_opts(struct http_server_opts *opts,
			const char *const *public_paths)
{
	opts->auth = secure_state.key;
	opts->public_paths = public_paths;
	opts->tls_cert_file = secure_state.tls_cert_file;
	opts->tls_key_file = secure_state.tls_key_file;
}

int secure_token_make(uint64_t handle, unsigned mode, int64_t ttl_ms,
		      char *out)
{
	out[0] = '\0';
	if (secure_state.key == NULL)
		return 0;
	return auth_token_make(secure_state.key, handle, mode,
			       time_now_ms() + ttl_ms, out);
}

int secure_token_check(struct http_request *req, uint64_t handle,
		       unsigned mode)
{
	int r;

	if (secure_state.key == NULL)
		return 0;
	r = auth_token_check(secure_state.key,
			     http_request_header(req, AUTH_TOKEN_HEADER),
			     handle, mode, time_now_ms());
	if (r == 0)
		return 0;
	log_info("refused %s '%s' of chunk %016llx from %s: %s",
		 http_request_method(req), http_request_path(req),
		 (unsigned long long)handle, http_request_peer(req),
		 auth_strerror(r));
	http_reply_error(req, DFS_ERR_FORBIDDEN, "chunk %016llx: %s",
			 (unsigned long long)handle, auth_strerror(r));
	return r;
}

const char *const *secure_token_headers(struct secure_token_hdr *h,
					const char *token)
{
	if (token == NULL || token[0] == '\0')
		return NULL;
	snprintf(h->line, sizeof(h->line), "%s: %s", AUTH_TOKEN_HEADER, token);
	h->list[0] = h->line;
	h->list[1] = NULL;
	return h->list;
}

void secure_release(void)
{
	http_client_set_defaults(NULL);
	auth_key_free(secure_state.key);
	free(secure_state.ca_file);
	free(secure_state.tls_cert_file);
	free(secure_state.tls_key_file);
	memset(&secure_state, 0, sizeof(secure_state));
}
