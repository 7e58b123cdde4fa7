/*
 * fuzz_proto_attr.c - libFuzzer harness for the JSON decoders of proto.c.
 *
 * The input is parsed as JSON text; the object (and each of its members)
 * goes through proto_attr_from_json(), proto_chunk_from_json(),
 * proto_time_from_json() and the field getters. Whatever they accept must
 * survive an encode/decode round trip unchanged; nothing may crash. The
 * raw input also goes to proto_error_status() as a reply body. The JSON
 * writer must write every parsed value, and every accepted attr, as
 * jansson's json_dumps() does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "json_writer.h"
#include "proto.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the run: a decoded value did not survive its round trip. */
static void fuzz_fail(const char *what)
{
	fprintf(stderr, "round trip of %s changed it\n", what);
	abort();
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* proto_attr_write() of a writes what enc (its tree) dumps to. */
static void check_written_attr(const struct dfs_attr *a, const json_t *enc)
{
	struct json_writer w;
	char *want = json_dumps(enc, JSON_COMPACT), *got;
	size_t len;

	json_writer_init(&w, 16);
	proto_attr_write(&w, a);
	got = json_writer_take(&w, &len);
	if (want == NULL || strcmp(want, got) != 0)
		fuzz_fail("written attr");
	free(want);
	free(got);
}

/* The writer's text of v is jansson's. */
static void check_writer(const json_t *v, const char *what)
{
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t len;
	char *got = json_writer_dump(v, &len);

	if (want == NULL || len != strlen(want) || strcmp(want, got) != 0) {
		fprintf(stderr, "writer: '%s' against jansson's '%s'\n", got,
			want != NULL ? want : "(null)");
		fuzz_fail(what);
	}
	free(want);
	free(got);
}

/* An accepted attr encodes and decodes to itself. */
static void check_attr(const json_t *obj)
{
	struct dfs_attr a, b;
	json_t *enc;

	if (proto_attr_from_json(obj, &a) != 0)
		return;
	enc = proto_attr_to_json(&a);
	if (enc == NULL || proto_attr_from_json(enc, &b) != 0)
		fuzz_fail("attr");
	check_written_attr(&a, enc);
	if (a.ino != b.ino || a.mode != b.mode || a.nlink != b.nlink ||
	    a.uid != b.uid || a.gid != b.gid || a.size != b.size ||
	    a.rdev != b.rdev || a.replication != b.replication ||
	    !same_time(&a.atime, &b.atime) || !same_time(&a.mtime, &b.mtime) ||
	    !same_time(&a.ctime, &b.ctime))
		fuzz_fail("attr");
	json_decref(enc);
}

/* An accepted chunk encodes and decodes to itself. */
static void check_chunk(const json_t *obj)
{
	struct dfs_chunk a, b;
	json_t *enc;
	int i;

	if (proto_chunk_from_json(obj, &a) != 0)
		return;
	if (a.nreplicas < 0 || a.nreplicas > DFS_MAX_REPLICAS)
		fuzz_fail("chunk replica count");
	enc = proto_chunk_to_json(&a);
	if (enc == NULL || proto_chunk_from_json(enc, &b) != 0)
		fuzz_fail("chunk");
	if (a.index != b.index || a.handle != b.handle ||
	    a.version != b.version || a.nreplicas != b.nreplicas ||
	    strcmp(a.primary, b.primary) != 0 ||
	    (a.primary[0] != '\0' && a.lease_ms != b.lease_ms) ||
	    strcmp(a.token, b.token) != 0 || strlen(a.token) >= AUTH_TOKEN_MAX)
		fuzz_fail("chunk");
	for (i = 0; i < a.nreplicas; i++)
		if (strcmp(a.replicas[i], b.replicas[i]) != 0 ||
		    !proto_addr_is_valid(a.replicas[i]))
			fuzz_fail("chunk replica");
	json_decref(enc);
}

/* Every getter on every member of an object. */
static void check_fields(const json_t *obj)
{
	const char *key, *s;
	struct timespec ts;
	uint64_t u64;
	uint32_t u32;
	json_t *v;
	bool b;

	json_object_foreach((json_t *)obj, key, v) {
		proto_get_u64(obj, key, UINT64_MAX, &u64);
		proto_get_u64(obj, key, 1000, &u64);
		proto_get_u32(obj, key, &u32);
		proto_get_bool(obj, key, &b);
		proto_opt_u64(obj, key, INT64_MAX, &u64);
		proto_opt_bool(obj, key, &b);
		if (proto_get_str(obj, key, DFS_PATH_MAX, &s) == 0 &&
		    strlen(s) > DFS_PATH_MAX)
			fuzz_fail("string length");
		if (proto_get_name(obj, key, &s) == 0 &&
		    !proto_name_is_valid(s))
			fuzz_fail("name");
		proto_time_from_json(v, &ts);
		check_attr(v);
		check_chunk(v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timespec ts;
	json_t *obj;

	proto_error_status((const char *)data, size, NULL);
	obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
			 NULL);
	if (obj == NULL)
		return 0;
	check_writer(obj, "writer");
	check_attr(obj);
	check_chunk(obj);
	proto_time_from_json(obj, &ts);
	if (json_is_object(obj))
		check_fields(obj);
	json_decref(obj);
	return 0;
}
