/*
 * versions.c - new chunk versions on the replicas, then in the database
 * (see versions.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "http_client.h"
#include "log.h"
#include "master.h"
#include "oplog.h"
#include "proto.h"
#include "versions.h"
#include "wire.h"
#include "banned.h"

/* Largest reply read from a chunk server. */
#define VERSIONS_REPLY_MAX 4096

/* What one replica answered. */
enum setversion_result {
	SV_OK,        /* it holds the new version */
	SV_NOENT,     /* it holds no replica */
	SV_FAILED,    /* anything else */
};

/* Ask replica "addr" to move chunk c to c->version + 1. */
static enum setversion_result setversion_one(struct master *m,
					     const struct dfs_chunk *c,
					     const char *addr)
{
	struct http_result res = { 0, NULL, 0 };
	char path[160];
	int r, status;

	snprintf(path, sizeof(path),
		 EP_CHUNK_SETVERSION "?handle=%" PRIu64 "&version=%" PRIu64
				     "&newversion=%" PRIu64,
		 c->handle, c->version, c->version + 1);
	r = http_client_request(m->hc, "POST", addr, path, NULL, 0, NULL,
				VERSIONS_REPLY_MAX, &res);
	if (r < 0) {
		log_info("chunk %016" PRIx64 ": replica '%s' unreachable for "
			 "a new version: %s",
			 c->handle, addr, strerror(-r));
		return SV_FAILED;
	}
	status = res.status == 200
			 ? DFS_OK
			 : proto_error_status(res.body, res.len, NULL);
	http_result_release(&res);
	if (status == DFS_OK)
		return SV_OK;
	if (status == DFS_ERR_NOENT)
		return SV_NOENT;
	log_info("chunk %016" PRIx64 " v%" PRIu64 ": replica '%s' refused "
		 "the new version: %s",
		 c->handle, c->version, addr, wire_status_name(status));
	return SV_FAILED;
}

/* Commit version c->version + 1 with replicas keep[0..n-1]. */
static int commit_bump(struct master *m, const struct dfs_chunk *c,
		       const char (*keep)[DFS_ADDR_MAX], int n)
{
	json_t *reps = json_array(), *op;
	int i, r;

	for (i = 0; i < n; i++)
		json_array_append_new(reps, json_string(keep[i]));
	op = json_pack("{s:s, s:I, s:I, s:o}", "op", "bump_version", "handle",
		       (json_int_t)c->handle, "version",
		       (json_int_t)(c->version + 1), "replicas", reps);
	r = oplog_submit(m->oplog, op, NULL);
	json_decref(op);
	return r;
}

int versions_bump(struct master *m, struct dfs_chunk *c)
{
	char ok[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	char noent[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	int i, nok = 0, nnoent = 0, r;

	for (i = 0; i < c->nreplicas; i++) {
		switch (setversion_one(m, c, c->replicas[i])) {
		case SV_OK:
			memcpy(ok[nok++], c->replicas[i], DFS_ADDR_MAX);
			break;
		case SV_NOENT:
			memcpy(noent[nnoent++], c->replicas[i], DFS_ADDR_MAX);
			break;
		case SV_FAILED:
			break;
		}
	}
	if (nok == 0 && nnoent == 0) {
		log_warnx("chunk %016" PRIx64 " v%" PRIu64 ": no replica took "
			  "a new version",
			  c->handle, c->version);
		return -EAGAIN;
	}
	if (nok == 0) {
		memcpy(ok, noent, sizeof(ok));
		nok = nnoent;
	}
	if ((r = commit_bump(m, c, (const char(*)[DFS_ADDR_MAX])ok, nok)) !=
	    0) {
		log_warnx("chunk %016" PRIx64 ": cannot record version %" PRIu64
			  ": %s",
			  c->handle, c->version + 1, strerror(-r));
		return r;
	}
	if (nok < c->nreplicas)
		log_info("chunk %016" PRIx64 ": version %" PRIu64 " on %d of "
			 "%d replicas; the others are dropped",
			 c->handle, c->version + 1, nok, c->nreplicas);
	c->version++;
	memcpy(c->replicas, ok, sizeof(ok[0]) * (size_t)nok);
	c->nreplicas = nok;
	return 0;
}
