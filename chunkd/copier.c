/*
 * copier.c - copies ordered by the master (see copier.h).
 *
 * THREAD SAFETY: "lock" guards jobs[], njobs and stop, and the pacing
 * state of the bandwidth limit (next_us). A job belongs to its thread
 * until it sets "finished"; the thread that reaps it (copier_start() or
 * copier_free()) joins it and frees it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "dfs_proto.h"
#include "http_client.h"
#include "log.h"
#include "proto.h"
#include "secure.h"
#include "wire.h"
#include "xmalloc.h"
#include "copier.h"
#include "store.h"

#include "banned.h"

/* Bytes pulled from the source per request. */
#define COPY_PIECE (1024 * 1024)

/* Most copy threads tracked (running or waiting to be reaped). */
#define COPY_MAX_JOBS 64

/* Timeouts of calls to the source and the master. */
#define COPY_CONNECT_TIMEOUT_MS 2000
#define COPY_TIMEOUT_MS 30000

/* Attempts at reporting a copy to the master. */
#define COPY_REPORT_TRIES 3

struct copy_job {
	struct copier *cp;
	uint64_t handle;
	uint64_t version;
	char source[DFS_ADDR_MAX];
	char self[DFS_ADDR_MAX];
	pthread_t thread;
	bool finished;            /* the thread is done with the job */
};

struct copier {
	struct store *st;         /* borrowed */
	struct http_client *hc;   /* to sources and the master */
	char *master;
	uint64_t bandwidth;
	unsigned max_copies;
	pthread_mutex_t lock;
	struct copy_job *jobs[COPY_MAX_JOBS];
	size_t njobs;
	bool stop;
	int64_t next_us;          /* when the bandwidth allows more */
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wait until the bandwidth limit allows "bytes" more. */
static void pace(struct copier *cp, size_t bytes)
{
	int64_t now = mono_us(), start;
	struct timespec ts;

	if (cp->bandwidth == 0)
		return;
	pthread_mutex_lock(&cp->lock);
	start = cp->next_us > now ? cp->next_us : now;
	cp->next_us = start + (int64_t)((double)bytes * 1e6 /
					(double)cp->bandwidth);
	pthread_mutex_unlock(&cp->lock);
	if (start > now) {
		ts.tv_sec = (start - now) / 1000000;
		ts.tv_nsec = (long)((start - now) % 1000000) * 1000;
		nanosleep(&ts, NULL);
	}
}

static bool stopping(struct copier *cp)
{
	bool stop;

	pthread_mutex_lock(&cp->lock);
	stop = cp->stop;
	pthread_mutex_unlock(&cp->lock);
	return stop;
}

/* Version and length of the source's replica. */
static int source_info(struct copier *cp, const struct copy_job *job,
		       uint64_t *version, uint64_t *length, char *why,
		       size_t whylen)
{
	json_t *reply = NULL;
	char path[96];
	int r, wire;

	snprintf(path, sizeof(path), EP_CHUNK_INFO "?handle=%" PRIu64,
		 job->handle);
	r = rpc_get(cp->hc, job->source, path, &reply, &wire);
	if (r == 0 &&
	    (proto_get_u64(reply, "version", STORE_MAX_ID, version) != 0 ||
	     proto_get_u64(reply, "length", STORE_MAX_CHUNK_SIZE, length) != 0))
		r = -EPROTO;
	if (r != 0)
		snprintf(why, whylen, "source info: %s", strerror(-r));
	json_decref(reply);
	return r;
}

/* Pull [off, off + len) of the replica from the source into buf. */
static int pull_piece(struct copier *cp, const struct copy_job *job,
		      uint64_t off, void *buf, size_t len)
{
	char path[160], *err_body = NULL, token[AUTH_TOKEN_MAX];
	struct secure_token_hdr th;
	size_t got = 0;
	long status = 0;
	int r;

	snprintf(path, sizeof(path),
		 EP_CHUNK_READ "?handle=%" PRIu64 "&version=%" PRIu64
			       "&offset=%" PRIu64 "&length=%zu",
		 job->handle, job->version, off, len);
	/* The master's signed order is the authority to read the source. */
	if ((r = secure_token_make(job->handle, AUTH_TOKEN_READ,
				   SECURE_COPY_TOKEN_TTL_MS, token)) != 0)
		return r;
	r = http_client_get_into_hdr(cp->hc, job->source, path,
				     secure_token_headers(&th, token), buf,
				     len, &got, &status, &err_body);
	if (r == 0 && status != 200)
		r = -wire_status_to_errno(proto_error_status(
			err_body, err_body ? strlen(err_body) : 0, NULL));
	else if (r == 0 && got != len)
		r = -EIO;
	free(err_body);
	return r;
}

/* Pull the whole replica into an import and install it. */
static int copy_run(struct copier *cp, const struct copy_job *job,
		    char *why, size_t whylen)
{
	struct store_import *imp = NULL;
	uint64_t version = 0, length = 0, off;
	uint8_t *buf = NULL;
	size_t n;
	int r;

	if ((r = source_info(cp, job, &version, &length, why, whylen)) != 0)
		return r;
	if (version != job->version) {
		snprintf(why, whylen, "source holds v%" PRIu64, version);
		return -ESTALE;
	}
	if ((r = store_import_begin(cp->st, job->handle, job->version, length,
				    &imp)) != 0) {
		snprintf(why, whylen, "import: %s", strerror(-r));
		return r;
	}
	buf = xmalloc(COPY_PIECE);
	for (off = 0; off < length && r == 0; off += n) {
		n = length - off < COPY_PIECE ? length - off : COPY_PIECE;
		pace(cp, n);
		if (stopping(cp))
			r = -ECANCELED;
		else if ((r = pull_piece(cp, job, off, buf, n)) == 0)
			r = store_import_write(imp, buf, n);
	}
	free(buf);
	if (r != 0) {
		snprintf(why, whylen, "at offset %" PRIu64 ": %s", off,
			 strerror(-r));
		store_import_abort(imp);
		return r;
	}
	if ((r = store_import_commit(imp)) != 0)
		snprintf(why, whylen, "install: %s", strerror(-r));
	return r;
}

/* Tell the master how the copy ended. */
static void copy_report(struct copier *cp, const struct copy_job *job, int r,
			const char *why)
{
	json_t *req;
	int i, rr = -EIO;

	req = json_pack("{s:s, s:I, s:I, s:b, s:s}", "addr", job->self,
			"handle", (json_int_t)job->handle, "version",
			(json_int_t)job->version, "ok", r == 0, "error", why);
	for (i = 0; i < COPY_REPORT_TRIES && rr != 0 && !stopping(cp); i++) {
		if (i > 0)
			nanosleep(&(struct timespec){ 0, 200000000L }, NULL);
		rr = rpc_call(cp->hc, cp->master, EP_CS_COPY_DONE, req, NULL,
			      NULL);
	}
	if (rr != 0)
		log_info("chunk %016" PRIx64 ": cannot report the copy to "
			 "the master: %s (its next report will)",
			 job->handle, strerror(-rr));
	json_decref(req);
}

static void *copy_main(void *arg)
{
	struct copy_job *job = arg;
	struct copier *cp = job->cp;
	char why[256] = "";
	int r;

	r = copy_run(cp, job, why, sizeof(why));
	if (r == 0)
		log_info("chunk %016" PRIx64 " v%" PRIu64 ": copied from '%s'",
			 job->handle, job->version, job->source);
	else
		log_warnx("chunk %016" PRIx64 " v%" PRIu64 ": copy from '%s' "
			  "failed: %s",
			  job->handle, job->version, job->source, why);
	if (r != -ECANCELED)
		copy_report(cp, job, r, why);
	pthread_mutex_lock(&cp->lock);
	job->finished = true;
	pthread_mutex_unlock(&cp->lock);
	return NULL;
}

/* Join and free finished jobs (locked; joining a finished thread does
 * not block). */
static void reap(struct copier *cp)
{
	size_t i = 0;

	while (i < cp->njobs) {
		if (!cp->jobs[i]->finished) {
			i++;
			continue;
		}
		pthread_join(cp->jobs[i]->thread, NULL);
		free(cp->jobs[i]);
		cp->jobs[i] = cp->jobs[--cp->njobs];
	}
}

/* May a copy of "handle" start now? (locked) */
static int admit(struct copier *cp, uint64_t handle)
{
	size_t i;

	if (cp->stop || cp->njobs >= cp->max_copies ||
	    cp->njobs >= COPY_MAX_JOBS)
		return -EAGAIN;
	for (i = 0; i < cp->njobs; i++)
		if (cp->jobs[i]->handle == handle)
			return -EAGAIN;
	return 0;
}

int copier_start(struct copier *cp, uint64_t handle, uint64_t version,
		 const char *source, const char *self)
{
	struct copy_job *job;
	int r;

	if (strlen(source) >= DFS_ADDR_MAX || strlen(self) >= DFS_ADDR_MAX ||
	    !proto_addr_is_valid(source) || strcmp(source, self) == 0)
		return -EINVAL;
	if (store_check_version(cp->st, handle, version) == 0 &&
	    store_has(cp->st, handle))
		return -EEXIST;
	job = xcalloc(1, sizeof(*job));
	job->cp = cp;
	job->handle = handle;
	job->version = version;
	memcpy(job->source, source, strlen(source) + 1);
	memcpy(job->self, self, strlen(self) + 1);
	pthread_mutex_lock(&cp->lock);
	reap(cp);
	if ((r = admit(cp, handle)) == 0 &&
	    (r = -pthread_create(&job->thread, NULL, copy_main, job)) == 0)
		cp->jobs[cp->njobs++] = job;
	pthread_mutex_unlock(&cp->lock);
	if (r != 0)
		free(job);
	return r;
}

struct copier *copier_new(const struct copier_opts *opts, struct store *st)
{
	struct http_client_opts hopts = { COPY_CONNECT_TIMEOUT_MS,
					  COPY_TIMEOUT_MS };
	struct copier *cp = xcalloc(1, sizeof(*cp));

	cp->st = st;
	cp->hc = http_client_new(&hopts);
	cp->master = xstrdup(opts->master);
	cp->bandwidth = opts->bandwidth;
	cp->max_copies = opts->max_copies > 0 ? opts->max_copies : 1;
	pthread_mutex_init(&cp->lock, NULL);
	return cp;
}

void copier_free(struct copier *cp)
{
	size_t i;

	if (cp == NULL)
		return;
	pthread_mutex_lock(&cp->lock);
	cp->stop = true;
	pthread_mutex_unlock(&cp->lock);
	for (i = 0; i < cp->njobs; i++) {
		pthread_join(cp->jobs[i]->thread, NULL);
		free(cp->jobs[i]);
	}
	pthread_mutex_destroy(&cp->lock);
	http_client_free(cp->hc);
	free(cp->master);
	free(cp);
}
