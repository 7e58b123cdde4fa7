/*
 * data_srv.c - the chunk data API of chunkd (see data_srv.h).
 *
 * Handlers run on the HTTP server's connection threads and may block: a
 * mutation holds its chunk's mutation lock while the other replicas apply
 * it. The request body is written to disk and forwarded straight from the
 * server's buffer, never copied.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "dfs_proto.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "metrics_http.h"
#include "proto.h"
#include "secure.h"
#include "wire.h"
#include "xmalloc.h"
#include "copier.h"
#include "data_srv.h"
#include "store.h"

#include "banned.h"

/* Longest wait for a chunk's mutation lock before answering AGAIN. */
#define DATA_LOCK_TIMEOUT_MS 20000

/* The same for a new version (the master waits for the answer). */
#define DATA_SETVERSION_LOCK_MS 3000

/* Largest body accepted on truncate and sync (they carry none). */
#define DATA_CONTROL_BODY_MAX 4096

/* Largest reply read from a server down the chain. */
#define DATA_FORWARD_REPLY_MAX (64 * 1024)

/* Longest path and query string of a forwarded request. */
#define DATA_FORWARD_PATH_MAX (256 + DFS_MAX_REPLICAS * DFS_ADDR_MAX)

/*
 * Most forwarder threads kept (beyond them a mutation forwards inline).
 * A fanned-out mutation keeps one per other replica busy, so this allows
 * about 64 concurrent mutations at replication 3.
 */
#define DATA_FORWARDERS_MAX 128

/*
 * Largest body a mutation fans out (truncate and sync carry none, so they
 * always do). The two shapes trade the primary's uplink against latency:
 * along a chain every server sends the body once, so a large write costs
 * the primary one copy of its bandwidth whatever the replication, but the
 * hops add up (about 1 ms each on a loopback test cluster, so 3 ms for a
 * 4 KiB write at replication 3). Fanned out, the primary sends the body
 * to every other replica at once and the write takes one hop, but the
 * primary's uplink carries it (replication - 1) times. Below a few
 * hundred KiB the hop dominates; above, the bandwidth does.
 */
#define DATA_FANOUT_MAX (256 * 1024)

/*
 * Largest body a fanned-out mutation sends from the request's own thread
 * (http_client_send()) before applying it here, collecting the answers
 * afterwards, instead of handing each copy to a forwarder thread: two
 * thread wake-ups fewer per copy, which is most of a small write's cost
 * on a busy machine. A larger body goes on forwarder threads, so that
 * sending it overlaps the local write.
 */
#define DATA_SPLIT_MAX (64 * 1024)

struct data_srv {
	struct http_server *http;     /* the listener */
	struct store *st;             /* borrowed replica store */
	struct http_client *hc;       /* borrowed, for chain forwarding */
	struct copier *cp;            /* borrowed, copies the master orders */
	char addr[DFS_ADDR_MAX];      /* our "host:port"; set before serving */
};

/* The parsed coordinates of one chunk request. */
struct chunk_req {
	uint64_t handle;
	uint64_t version;
	uint64_t offset;              /* write: where the body goes */
	uint64_t size;                /* truncate: the new length */
	const void *body;             /* write: the data (borrowed) */
	size_t len;                   /* its length */
	const struct auth_digest *digest; /* write: verified, or NULL */
	const char *token;            /* X-DFS-Token (borrowed), or NULL */
	int nchain;                   /* servers still to forward to */
	char chain[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
};

/*
 * A mutation endpoint: how to parse its own parameters (answering the
 * request itself on failure), how to apply it to the local store, and its
 * own part of a forwarded query string.
 */
struct mutation_def {
	const char *name;             /* for messages: "write" */
	const char *method;           /* HTTP method */
	const char *path;             /* endpoint */
	int (*parse)(struct data_srv *ds, struct http_request *req,
		     struct chunk_req *cr);
	int (*apply)(struct store *st, const struct chunk_req *cr);
	int (*query)(const struct chunk_req *cr, char *buf, size_t size);
};

/*
 * A mutation being forwarded to one server by a helper thread: chain[0]
 * with the rest of the chain, or (fanned out) any chain member with an
 * empty chain.
 */
struct forward {
	struct data_srv *ds;
	const struct mutation_def *def;
	const struct chunk_req *cr;
	const char *target;           /* where it goes (in cr->chain) */
	char path[DATA_FORWARD_PATH_MAX]; /* endpoint and query string */
	char failed[DFS_ADDR_MAX];    /* first server that failed, or "" */
	char why[256];                /* what it answered */
	bool passed_up;               /* "failed" came from further down */
	bool threaded;                /* a forwarder runs it; wait on done */
	sem_t done;                   /* posted by the forwarder */
	struct http_call *call;       /* sent by the request's thread, or
				       * NULL */
	struct secure_token_hdr th;   /* the token header of "call" */
	struct forward *next;         /* in fwd_pool.queue */
};

/*
 * Forwarder threads, started on demand and kept: starting a thread per
 * mutation costs more than a small write. A forward goes only to an idle
 * forwarder (or a new one, up to DATA_FORWARDERS_MAX), never waits in a
 * queue for a busy one: with chains crossing servers both ways a queue
 * could wait on itself. Without a free forwarder it runs inline.
 * "mu" guards the rest; "idle" counts forwarders waiting without work.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct forward *queue;        /* handed out, not yet taken */
	unsigned idle;
	unsigned threads;
} fwd_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL,
	      0, 0};

/*
 * ---------------------------------------------------------------------
 * Parameters
 * ---------------------------------------------------------------------
 */

/* Answer a store error with its wire status; log the ones an operator
 * must see (corruption is logged by the store). */
static void reply_errno(struct http_request *req, const struct chunk_req *cr,
			const char *what, int err)
{
	int status = wire_status_from_errno(err);
	const char *why = err == -EBADMSG ? "checksum mismatch" : strerror(-err);

	if (status == DFS_ERR_IO || status == DFS_ERR_NOSPC)
		log_warnx("chunk %016llx: %s failed: %s",
			  (unsigned long long)cr->handle, what, why);
	http_reply_error(req, status, "chunk %016llx: %s failed: %s",
			 (unsigned long long)cr->handle, what, why);
}

/* handle and version. 0, or -EINVAL after answering. */
static int parse_ids(struct http_request *req, struct chunk_req *cr)
{
	if (http_request_query_u64(req, "handle", STORE_MAX_ID,
				   &cr->handle) != 0 ||
	    http_request_query_u64(req, "version", STORE_MAX_ID,
				   &cr->version) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "missing or bad 'handle' or 'version'");
		return -EINVAL;
	}
	return 0;
}

/* True if addr is already among the first n chain entries. */
static bool chain_has(const struct chunk_req *cr, int n, const char *addr)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(cr->chain[i], addr) == 0)
			return true;
	return false;
}

/* Split "a,b,c" into cr->chain. 0 or -EINVAL. */
static int chain_split(struct data_srv *ds, const char *s,
		       struct chunk_req *cr)
{
	const char *comma;
	char *dst;
	size_t n;

	while (s != NULL) {
		comma = strchr(s, ',');
		n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (cr->nchain == DFS_MAX_REPLICAS || n >= DFS_ADDR_MAX)
			return -EINVAL;
		dst = cr->chain[cr->nchain];
		memcpy(dst, s, n);
		dst[n] = '\0';
		if (!proto_addr_is_valid(dst) || strcmp(dst, ds->addr) == 0 ||
		    chain_has(cr, cr->nchain, dst))
			return -EINVAL;
		cr->nchain++;
		s = comma != NULL ? comma + 1 : NULL;
	}
	return 0;
}

/* handle, version and chain of a mutation. 0, or -EINVAL after
 * answering. */
static int parse_mutation(struct data_srv *ds, struct http_request *req,
			  struct chunk_req *cr)
{
	const char *chain = http_request_query(req, "chain");

	if (parse_ids(req, cr) != 0)
		return -EINVAL;
	if (chain != NULL && *chain != '\0' &&
	    chain_split(ds, chain, cr) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "bad 'chain'");
		return -EINVAL;
	}
	return 0;
}

static int parse_write(struct data_srv *ds, struct http_request *req,
		       struct chunk_req *cr)
{
	uint64_t cs = store_chunk_size(ds->st);

	cr->body = http_request_body(req, &cr->len);
	cr->digest = http_request_body_digest(req);
	if (http_request_query_u64(req, "offset", cs, &cr->offset) != 0 ||
	    cr->len > cs - cr->offset || cr->len > DFS_MAX_WRITE) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "bad 'offset' or length (chunk size %" PRIu64
				 ")",
				 cs);
		return -EINVAL;
	}
	return 0;
}

static int parse_truncate(struct data_srv *ds, struct http_request *req,
			  struct chunk_req *cr)
{
	uint64_t cs = store_chunk_size(ds->st);

	if (http_request_query_u64(req, "size", cs, &cr->size) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "missing or bad 'size' (chunk size %" PRIu64
				 ")",
				 cs);
		return -EINVAL;
	}
	return 0;
}

static int parse_sync(struct data_srv *ds, struct http_request *req,
		      struct chunk_req *cr)
{
	(void)ds;
	(void)req;
	(void)cr;
	return 0;
}

/*
 * ---------------------------------------------------------------------
 * Mutations and the chain
 * ---------------------------------------------------------------------
 */

static int apply_write(struct store *st, const struct chunk_req *cr)
{
	return store_write(st, cr->handle, cr->version, cr->offset, cr->body,
			   cr->len);
}

static int apply_truncate(struct store *st, const struct chunk_req *cr)
{
	return store_truncate(st, cr->handle, cr->version, cr->size);
}

static int apply_sync(struct store *st, const struct chunk_req *cr)
{
	return store_sync(st, cr->handle, cr->version);
}

static int query_write(const struct chunk_req *cr, char *buf, size_t size)
{
	return snprintf(buf, size, "&offset=%" PRIu64, cr->offset);
}

static int query_truncate(const struct chunk_req *cr, char *buf, size_t size)
{
	return snprintf(buf, size, "&size=%" PRIu64, cr->size);
}

static int query_sync(const struct chunk_req *cr, char *buf, size_t size)
{
	(void)cr;
	if (size > 0)
		buf[0] = '\0';
	return 0;
}

static const struct mutation_def mutation_write = {
	"write", "PUT", EP_CHUNK_WRITE, parse_write, apply_write, query_write,
};

static const struct mutation_def mutation_truncate = {
	"truncate", "POST", EP_CHUNK_TRUNCATE, parse_truncate, apply_truncate,
	query_truncate,
};

static const struct mutation_def mutation_sync = {
	"sync", "POST", EP_CHUNK_SYNC, parse_sync, apply_sync, query_sync,
};

/* Path and query of the forwarded request, with chain[rest..] as its
 * chain (none when rest is nchain). */
static void forward_path(struct forward *fw, int rest)
{
	const struct chunk_req *cr = fw->cr;
	size_t n, size = sizeof(fw->path);
	char *p = fw->path;
	int i;

	n = (size_t)snprintf(p, size, "%s?handle=%" PRIu64 "&version=%" PRIu64,
			     fw->def->path, cr->handle, cr->version);
	n += (size_t)fw->def->query(cr, p + n, size - n);
	n += (size_t)snprintf(p + n, size - n, "&chain=");
	for (i = rest; i < cr->nchain; i++)
		n += (size_t)snprintf(p + n, size - n, "%s%s",
				      i > rest ? "," : "", cr->chain[i]);
}

/* Who failed, from a non-200 answer of the target: the server it names
 * in "failed", else the target itself. */
static void forward_blame(struct forward *fw, const struct http_result *res)
{
	json_t *obj = res->body ? json_loadb(res->body, res->len, 0, NULL)
				: NULL;
	const char *failed = json_string_value(json_object_get(obj, "failed"));
	const char *error = json_string_value(json_object_get(obj, "message"));

	fw->passed_up = failed != NULL && proto_addr_is_valid(failed);
	snprintf(fw->failed, sizeof(fw->failed), "%s",
		 fw->passed_up ? failed : fw->target);
	if (fw->passed_up && error != NULL)
		snprintf(fw->why, sizeof(fw->why), "%s", error);
	else
		snprintf(fw->why, sizeof(fw->why), "%s (HTTP %ld)",
			 error != NULL ? error : "no message", res->status);
	json_decref(obj);
}

/* Record who failed, if anyone, from the answer of the target (r: the
 * call's result). */
static void forward_outcome(struct forward *fw, int r, struct http_result *res)
{
	if (r < 0) {
		snprintf(fw->failed, sizeof(fw->failed), "%s", fw->target);
		snprintf(fw->why, sizeof(fw->why), "%s", strerror(-r));
	} else if (res->status != 200) {
		forward_blame(fw, res);
	}
	http_result_release(res);
}

/* Send the mutation to the target (the body's digest was verified on
 * arrival: the copy's signature reuses it rather than hashing the body
 * again). */
static struct http_call *forward_send(struct forward *fw)
{
	const struct chunk_req *cr = fw->cr;

	return http_client_send(
		fw->ds->hc, fw->def->method, fw->target, fw->path,
		secure_token_headers(&fw->th, cr->token), cr->body, cr->len,
		cr->digest, cr->body != NULL ? "application/octet-stream" : NULL);
}

/* Read the target's answer to a forward sent earlier. */
static void forward_receive(struct forward *fw, struct http_call *call)
{
	struct http_result res = {0, NULL, 0};
	int r = http_client_receive(call, DATA_FORWARD_REPLY_MAX, &res);

	forward_outcome(fw, r, &res);
}

/* Send the mutation to the target and record who failed, if anyone. */
static void forward_run(struct forward *fw)
{
	forward_receive(fw, forward_send(fw));
}

/* A forwarder: run the forward it was started with, then the ones
 * handed to it, forever. */
static void *forward_main(void *arg)
{
	struct forward *fw = arg;

	for (;;) {
		forward_run(fw);
		sem_post(&fw->done);
		pthread_mutex_lock(&fwd_pool.mu);
		fwd_pool.idle++;
		while (fwd_pool.queue == NULL)
			pthread_cond_wait(&fwd_pool.work, &fwd_pool.mu);
		fw = fwd_pool.queue;
		fwd_pool.queue = fw->next;
		pthread_mutex_unlock(&fwd_pool.mu);
	}
	return NULL;
}

/* Start a new forwarder on "fw"; false if none could be started. */
static bool forward_spawn(struct forward *fw)
{
	pthread_attr_t attr;
	pthread_t tid;
	bool ok;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ok = pthread_create(&tid, &attr, forward_main, fw) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

/* Hand "fw" to an idle or new forwarder; false: run it inline. */
static bool forward_hand(struct forward *fw)
{
	bool spawn = false;

	pthread_mutex_lock(&fwd_pool.mu);
	if (fwd_pool.idle > 0) {
		fwd_pool.idle--;
		fw->next = fwd_pool.queue;
		fwd_pool.queue = fw;
		pthread_cond_signal(&fwd_pool.work);
		pthread_mutex_unlock(&fwd_pool.mu);
		return true;
	}
	if (fwd_pool.threads < DATA_FORWARDERS_MAX) {
		fwd_pool.threads++;
		spawn = true;
	}
	pthread_mutex_unlock(&fwd_pool.mu);
	if (spawn && forward_spawn(fw))
		return true;
	if (spawn) {
		pthread_mutex_lock(&fwd_pool.mu);
		fwd_pool.threads--;
		pthread_mutex_unlock(&fwd_pool.mu);
	}
	return false;
}

/* Start forwarding to chain[target] with chain[rest..] as its chain:
 * sent now if "split", else on a forwarder thread (or remember to do it
 * inline). */
static void forward_start(struct forward *fw, struct data_srv *ds,
			  const struct mutation_def *def,
			  const struct chunk_req *cr, int target, int rest,
			  bool split)
{
	fw->ds = ds;
	fw->def = def;
	fw->cr = cr;
	fw->target = cr->chain[target];
	fw->failed[0] = '\0';
	fw->why[0] = '\0';
	fw->passed_up = false;
	forward_path(fw, rest);
	sem_init(&fw->done, 0, 0);
	fw->call = split ? forward_send(fw) : NULL;
	fw->threaded = !split && forward_hand(fw);
}

/* Wait for the forward to finish (running it now if it was neither sent
 * nor handed to a thread). */
static void forward_finish(struct forward *fw)
{
	if (fw->call != NULL)
		forward_receive(fw, fw->call);
	else if (fw->threaded)
		while (sem_wait(&fw->done) != 0)
			;
	else
		forward_run(fw);
	sem_destroy(&fw->done);
}

/* True if the mutation goes to every chain member at once rather than
 * down the chain (see DATA_FANOUT_MAX). */
static bool mutation_fans_out(const struct chunk_req *cr)
{
	return cr->len <= DATA_FANOUT_MAX;
}

/*
 * Start forwarding "cr" to the rest of its replicas: to chain[0] with the
 * rest of the chain, or fanned out to every chain member with an empty
 * chain. Returns the number of forwards started in fw (as many as
 * cr->nchain entries).
 */
static int forwards_start(struct forward *fw, struct data_srv *ds,
			  const struct mutation_def *def,
			  const struct chunk_req *cr)
{
	int i;

	if (cr->nchain == 0)
		return 0;
	if (!mutation_fans_out(cr)) {
		forward_start(&fw[0], ds, def, cr, 0, 1, false);
		return 1;
	}
	for (i = 0; i < cr->nchain; i++)
		forward_start(&fw[i], ds, def, cr, i, cr->nchain,
			      cr->len <= DATA_SPLIT_MAX);
	return cr->nchain;
}

/*
 * Wait for every forward started by forwards_start() (the inline ones
 * run now, one after another). Returns the one to blame in the answer:
 * the first in chain order that failed, or NULL.
 */
static const struct forward *forwards_finish(struct forward *fw, int n)
{
	const struct forward *failed = NULL;
	int i;

	for (i = 0; i < n; i++) {
		forward_finish(&fw[i]);
		if (failed == NULL && fw[i].failed[0] != '\0')
			failed = &fw[i];
	}
	return failed;
}

/* Answer a mutation: the local error first, then a failure of another
 * replica ("fw", NULL if none). */
static void mutation_reply(struct http_request *req,
			   const struct mutation_def *def,
			   const struct chunk_req *cr, int r,
			   const struct forward *fw)
{
	if (r < 0) {
		reply_errno(req, cr, def->name, r);
	} else if (fw != NULL && fw->passed_up) {
		http_reply_error_extra(req, DFS_ERR_DOWNSTREAM,
				       json_pack("{s:s}", "failed", fw->failed),
				       "%s", fw->why);
	} else if (fw != NULL) {
		log_warnx("chunk %016llx: %s on '%s' failed: %s",
			  (unsigned long long)cr->handle, def->name,
			  fw->failed, fw->why);
		http_reply_error_extra(req, DFS_ERR_DOWNSTREAM,
				       json_pack("{s:s}", "failed", fw->failed),
				       "chunk %016llx: %s on '%s' failed: %s",
				       (unsigned long long)cr->handle,
				       def->name, fw->failed, fw->why);
	} else {
		http_reply_json(req, 200, NULL);
	}
}

/*
 * Run one mutation: parse, take the chunk's mutation lock, apply it here
 * while the other replicas apply it too (down the chain or fanned out),
 * answer when all are done. The lock is held until every forward has
 * answered, so the next mutation of the chunk reaches no replica before
 * this one is applied everywhere: every replica sees the primary's order
 * whichever way the mutations travel.
 */
static void mutation_run(struct data_srv *ds, struct http_request *req,
			 const struct mutation_def *def)
{
	const struct forward *failed = NULL;
	struct store_lock *lk = NULL;
	struct forward *fw = NULL;
	struct chunk_req cr;
	int r, nfw;

	memset(&cr, 0, sizeof(cr));
	if (parse_mutation(ds, req, &cr) != 0 || def->parse(ds, req, &cr) != 0)
		return;
	if (secure_token_check(req, cr.handle, AUTH_TOKEN_WRITE) != 0)
		return;
	cr.token = http_request_header(req, AUTH_TOKEN_HEADER);
	if ((r = store_lock(ds->st, cr.handle, DATA_LOCK_TIMEOUT_MS, &lk)) !=
	    0) {
		http_reply_error(req, DFS_ERR_AGAIN, "chunk %016llx is busy",
				 (unsigned long long)cr.handle);
		return;
	}
	if ((r = store_check_version(ds->st, cr.handle, cr.version)) == 0) {
		if (cr.nchain > 0)
			fw = xcalloc((size_t)cr.nchain, sizeof(*fw));
		nfw = forwards_start(fw, ds, def, &cr);
		r = def->apply(ds->st, &cr);
		failed = forwards_finish(fw, nfw);
	}
	store_unlock(lk);
	mutation_reply(req, def, &cr, r, failed);
	free(fw);
}

/*
 * ---------------------------------------------------------------------
 * Handlers
 * ---------------------------------------------------------------------
 */

static void handle_read(struct http_request *req, void *arg)
{
	struct data_srv *ds = arg;
	uint64_t cs = store_chunk_size(ds->st), len;
	struct chunk_req cr;
	void *buf;
	int r;

	memset(&cr, 0, sizeof(cr));
	if (parse_ids(req, &cr) != 0 ||
	    secure_token_check(req, cr.handle, AUTH_TOKEN_READ) != 0)
		return;
	if (http_request_query_u64(req, "offset", cs, &cr.offset) != 0 ||
	    http_request_query_u64(req, "length", cs - cr.offset, &len) != 0) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "bad 'offset' or 'length' (chunk size %" PRIu64
				 ")",
				 cs);
		return;
	}
	if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
		http_reply_error(req, DFS_ERR_AGAIN, "out of memory");
		return;
	}
	if ((r = store_read(ds->st, cr.handle, cr.version, cr.offset, buf,
			    len)) != 0) {
		free(buf);
		reply_errno(req, &cr, "read", r);
		return;
	}
	http_reply_buffer(req, 200, buf, len, "application/octet-stream");
}

static void handle_write(struct http_request *req, void *arg)
{
	mutation_run(arg, req, &mutation_write);
}

static void handle_truncate(struct http_request *req, void *arg)
{
	mutation_run(arg, req, &mutation_truncate);
}

static void handle_sync(struct http_request *req, void *arg)
{
	mutation_run(arg, req, &mutation_sync);
}

static void handle_setversion(struct http_request *req, void *arg)
{
	struct data_srv *ds = arg;
	struct store_lock *lk = NULL;
	struct chunk_req cr;
	uint64_t newv;
	int r;

	memset(&cr, 0, sizeof(cr));
	if (parse_ids(req, &cr) != 0)
		return;
	if (http_request_query_u64(req, "newversion", STORE_MAX_ID, &newv) !=
		    0 ||
	    newv <= cr.version) {
		http_reply_error(req, DFS_ERR_INVAL,
				 "missing or bad 'newversion'");
		return;
	}
	if (store_lock(ds->st, cr.handle, DATA_SETVERSION_LOCK_MS, &lk) != 0) {
		http_reply_error(req, DFS_ERR_AGAIN, "chunk %016llx is busy",
				 (unsigned long long)cr.handle);
		return;
	}
	r = store_set_version(ds->st, cr.handle, cr.version, newv);
	if (r == -ESTALE && store_check_version(ds->st, cr.handle, newv) == 0)
		r = 0;
	store_unlock(lk);
	if (r != 0) {
		reply_errno(req, &cr, "new version", r);
		return;
	}
	log_debug("chunk %016llx: v%" PRIu64 " -> v%" PRIu64,
		  (unsigned long long)cr.handle, cr.version, newv);
	http_reply_json(req, 200, NULL);
}

static void handle_info(struct http_request *req, void *arg)
{
	struct data_srv *ds = arg;
	struct store_replica rep;
	uint64_t handle;

	if (http_request_query_u64(req, "handle", STORE_MAX_ID, &handle) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "missing or bad 'handle'");
		return;
	}
	if (store_stat(ds->st, handle, &rep) != 0) {
		http_reply_error(req, DFS_ERR_NOENT, "no replica of chunk "
				 "%016llx", (unsigned long long)handle);
		return;
	}
	http_reply_json(req, 200,
			json_pack("{s:I, s:I, s:I}", "handle",
				  (json_int_t)handle, "version",
				  (json_int_t)rep.version, "length",
				  (json_int_t)rep.length));
}

static void handle_replicate(struct http_request *req, void *arg)
{
	struct data_srv *ds = arg;
	const char *source = http_request_query(req, "source");
	struct chunk_req cr;
	int r;

	memset(&cr, 0, sizeof(cr));
	if (parse_ids(req, &cr) != 0)
		return;
	if (source == NULL || !proto_addr_is_valid(source) ||
	    strcmp(source, ds->addr) == 0) {
		http_reply_error(req, DFS_ERR_INVAL, "missing or bad 'source'");
		return;
	}
	if ((r = copier_start(ds->cp, cr.handle, cr.version, source,
			      ds->addr)) != 0) {
		http_reply_error(req, wire_status_from_errno(r),
				 "chunk %016llx: cannot copy from '%s': %s",
				 (unsigned long long)cr.handle, source,
				 strerror(-r));
		return;
	}
	http_reply_json(req, 200, NULL);
}

static void handle_health(struct http_request *req, void *arg)
{
	struct data_srv *ds = arg;
	struct store_usage u;

	store_get_usage(ds->st, &u);
	http_reply_json(req, 200,
			json_pack("{s:s, s:I, s:I, s:I}", "addr", ds->addr,
				  "chunks", (json_int_t)u.chunks, "capacity",
				  (json_int_t)u.capacity, "used",
				  (json_int_t)u.used));
}

/* Paths served without request authentication (liveness, metrics). */
static const char *const data_public_paths[] = {
	EP_HEALTH, EP_METRICS, NULL
};

static const struct http_route data_routes[] = {
	{ "GET", EP_CHUNK_READ, handle_read, 0, 0 },
	{ "PUT", EP_CHUNK_WRITE, handle_write, DFS_MAX_WRITE, 0 },
	{ "POST", EP_CHUNK_TRUNCATE, handle_truncate, DATA_CONTROL_BODY_MAX,
	  0 },
	{ "POST", EP_CHUNK_SYNC, handle_sync, DATA_CONTROL_BODY_MAX, 0 },
	{ "GET", EP_HEALTH, handle_health, 0, 0 },
	{ "POST", EP_CHUNK_SETVERSION, handle_setversion, DATA_CONTROL_BODY_MAX,
	  0 },
	{ "GET", EP_CHUNK_INFO, handle_info, 0, 0 },
	{ "POST", EP_CHUNK_REPLICATE, handle_replicate, DATA_CONTROL_BODY_MAX,
	  0 },
	{ "GET", EP_METRICS, metrics_http_handle, 0, 0 },
};

/*
 * ---------------------------------------------------------------------
 * Lifecycle
 * ---------------------------------------------------------------------
 */

/* "host:port" of "listen" with the port replaced by "port". */
static void addr_with_port(const char *listen, unsigned port, char *out)
{
	const char *colon = strrchr(listen, ':');
	int hostlen = colon != NULL ? (int)(colon - listen) : (int)strlen(listen);

	snprintf(out, DFS_ADDR_MAX, "%.*s:%u", hostlen, listen, port);
}

/* Port of "listen", or 0 when it has none or asks for any. */
static unsigned listen_port(const char *listen)
{
	const char *colon = strrchr(listen, ':');

	return colon != NULL ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

struct data_srv *data_srv_new(const char *listen, struct store *st,
			      struct http_client *hc, struct copier *cp)
{
	struct http_server_opts opts = {.listen = listen,
					.observe = metrics_http_observe};
	struct data_srv *ds = xcalloc(1, sizeof(*ds));

	secure_server_opts(&opts, data_public_paths);
	ds->st = st;
	ds->hc = hc;
	ds->cp = cp;
	if (listen_port(listen) != 0)
		addr_with_port(listen, listen_port(listen), ds->addr);
	ds->http = http_server_new(&opts, data_routes,
				   sizeof(data_routes) / sizeof(data_routes[0]),
				   ds);
	if (ds->http == NULL) {
		free(ds);
		return NULL;
	}
	if (listen_port(listen) == 0)
		addr_with_port(listen, http_server_port(ds->http), ds->addr);
	log_info("listening on %s", ds->addr);
	return ds;
}

const char *data_srv_addr(const struct data_srv *ds)
{
	return ds->addr;
}

void data_srv_free(struct data_srv *ds)
{
	if (ds == NULL)
		return;
	http_server_free(ds->http);
	free(ds);
}
