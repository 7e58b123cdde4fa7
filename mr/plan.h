/*
 * plan.h - a job as submitted, and its preparation on DFS: validating the
 * request, expanding inputs into one map input per chunk (with chunk
 * locations from the master), creating the output directory, and the
 * final publication (_temporary removed, _SUCCESS created).
 *
 * The coordinator calls these without its lock held: they talk to the
 * master.
 */
#ifndef MR_PLAN_H
#define MR_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "dfs_client.h"
#include "proto.h"

struct http_client;

/* One map task's input: chunk "chunk.index" of a file. */
struct map_input {
	char *file;              /* DFS path */
	uint64_t ino;
	uint64_t size;           /* file size */
	uint64_t chunk_size;
	struct dfs_chunk chunk;  /* handle 0 and no replicas for a hole */
};

struct job_plan {
	char **inputs;           /* paths as submitted */
	size_t ninputs;
	char *output;            /* output directory, no trailing '/' */
	unsigned reduces;
	char *app;               /* app object id ("" in streaming mode) */
	char *app_name;          /* shown in status */
	char *mapper;            /* streaming commands, or NULL */
	char *reducer;
	json_t *params;          /* {"name": "value"}, owned */
	int64_t reduce_delay_ms;
	struct map_input *maps;
	size_t nmaps;
};

/*
 * Build a plan from an MR_EP_SUBMIT request (validated). Returns NULL with
 * *err set to a message (caller frees) on a bad request.
 */
struct job_plan *plan_from_request(const json_t *req, char **err);

void plan_free(struct job_plan *p);

/*
 * Expand inputs into map inputs and create the output directory (and its
 * _temporary). -ENOENT, -EEXIST (output not empty), ... with *err set.
 */
int plan_prepare(struct job_plan *p, struct dfs_client *dc,
		 struct http_client *hc, char **err);

/* Remove OUTPUT/_temporary and create OUTPUT/_SUCCESS. */
int plan_publish(struct dfs_client *dc, const char *output);

/* Path of a reduce's temporary and final output files (new strings). */
char *plan_temp_path(const char *output, unsigned part, uint64_t attempt);
char *plan_part_path(const char *output, unsigned part);

/* True if s is an absolute DFS path without "." / ".." components,
 * empty components, or over-long names. */
bool plan_path_is_valid(const char *s);

#endif
