/*
 * chunk_report.h - a chunk server's register or heartbeat report: parsing
 * it, and working out and recording what it changes (chunk_srv.h says
 * what a report carries and what the master does with it).
 */
#ifndef MASTERD_CHUNK_REPORT_H
#define MASTERD_CHUNK_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "chunk_srv.h"

struct master;

/* A parsed register or heartbeat request. */
struct cs_report {
	const char *addr;          /* borrowed from the request body */
	const char *rack;          /* idem, "" when absent */
	uint64_t capacity;
	uint64_t used;
	/* Reported [handle, version] pairs, sorted by handle, unique:
	 * every replica of the server, or (delta) those that appeared or
	 * changed version since its last report. */
	struct cs_pair {
		uint64_t handle;
		uint64_t version;
	} *pairs;
	size_t npairs;
	/* A report of changes ("changed" and "gone"), not a full one. */
	bool delta;
	/* Delta: handles whose replica went, sorted. */
	uint64_t *gone;
	size_t ngone;
	/* Replicas the server holds ("nchunks"), or UINT64_MAX if absent. */
	uint64_t nchunks;
	/* Handles of replicas set aside as corrupt ("corrupt"). */
	uint64_t *corrupt;
	size_t ncorrupt;
	/* A register (full restart of the server), not a heartbeat. */
	bool reg;
	/* Handles the master asked this server to delete (excess). */
	uint64_t *dels;
	size_t ndels;
	/* Some deletions were dropped: the reply asks for a full report. */
	bool dels_lost;
	/* The server's unconfirmed replica rows (chunk_srv.h). */
	struct cs_unconfirmed *unconf;
	size_t nunconf;
};

/* Parse a register (rep->reg set by the caller) or heartbeat body;
 * strings are borrowed from it. 0 or -EINVAL. */
int chunk_report_parse(const json_t *body, struct cs_report *rep);

/*
 * Apply a report: record the replica changes through the oplog and set
 * the reply's "delete", "delete_at", "drop_corrupt" and "full_report"
 * fields in "reply". 0 or -errno.
 */
int chunk_report_reply(struct master *m, struct cs_report *rep,
		       json_t *reply);

/* Free what chunk_report_parse() and chunk_report_reply() allocated. */
void chunk_report_free(struct cs_report *rep);

#endif
