/*
 * test_proto.c - JSON messages: attr, chunk and time round trips, field
 * getters rejecting what a hostile peer could send, name and address
 * validation, error bodies; the JSON writer against jansson's dump.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "json_writer.h"
#include "proto.h"
#include "wire.h"

#include "banned.h"

/*
 * Parse a JSON text that the test knows to be valid (NULs allowed, to
 * check that the getters catch them themselves).
 */
static json_t *J(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	if (v == NULL)
		fail_msg("bad test JSON '%s': %s", text, err.text);
	return v;
}

static struct dfs_attr sample_attr(void)
{
	struct dfs_attr a = {
		.ino = (1ull << 62) + 5,
		.mode = S_IFREG | 0644,
		.nlink = 3,
		.uid = 4294967295u,
		.gid = 1000,
		.size = (1ull << 62) + 7,
		.rdev = 0x0801,
		.atime = {.tv_sec = 4102444800LL, .tv_nsec = 999999999},
		.mtime = {.tv_sec = -86400, .tv_nsec = 0},
		.ctime = {.tv_sec = 1, .tv_nsec = 1},
		.replication = 3,
	};

	return a;
}

/* Field-by-field comparison (struct padding is undefined). */
static void assert_attr_equal(const struct dfs_attr *a,
			      const struct dfs_attr *b)
{
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->atime.tv_sec, b->atime.tv_sec);
	assert_int_equal(a->atime.tv_nsec, b->atime.tv_nsec);
	assert_int_equal(a->mtime.tv_sec, b->mtime.tv_sec);
	assert_int_equal(a->mtime.tv_nsec, b->mtime.tv_nsec);
	assert_int_equal(a->ctime.tv_sec, b->ctime.tv_sec);
	assert_int_equal(a->ctime.tv_nsec, b->ctime.tv_nsec);
	assert_int_equal(a->replication, b->replication);
}

static void test_attr_roundtrip(void **state)
{
	struct dfs_attr a = sample_attr(), b;
	json_t *obj = proto_attr_to_json(&a);
	char *text;

	(void)state;
	assert_non_null(obj);
	memset(&b, 0xaa, sizeof(b));
	assert_int_equal(proto_attr_from_json(obj, &b), 0);
	assert_attr_equal(&a, &b);
	/* Through text as well, as on the wire. */
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	obj = J(text);
	free(text);
	memset(&b, 0, sizeof(b));
	assert_int_equal(proto_attr_from_json(obj, &b), 0);
	assert_attr_equal(&a, &b);
	json_decref(obj);
}

/* Every way a field of an attr can be wrong is -EINVAL, *attr untouched. */
static void test_attr_rejects(void **state)
{
	static const char *const bad[][2] = {
		{"ino", "-1"},       {"ino", "1.0"},      {"ino", "\"1\""},
		{"ino", "null"},     {"mode", "4294967296"},
		{"nlink", "-5"},     {"uid", "true"},     {"size", "1e3"},
		{"atime", "[1]"},    {"atime", "[1, 2, 3]"},
		{"mtime", "[1, -1]"}, {"mtime", "[1, 1000000000]"},
		{"ctime", "[1.5, 0]"}, {"ctime", "{}"},
		{"replication", "[]"}, {"gid", "{\"a\":1}"},
	};
	struct dfs_attr a = sample_attr(), b, untouched;
	json_t *obj;
	size_t i;

	(void)state;
	assert_int_equal(proto_attr_from_json(NULL, &b), -EINVAL);
	obj = J("[1, 2]");
	assert_int_equal(proto_attr_from_json(obj, &b), -EINVAL);
	json_decref(obj);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		obj = proto_attr_to_json(&a);
		json_object_set_new(obj, bad[i][0], J(bad[i][1]));
		memset(&b, 0x55, sizeof(b));
		untouched = b;
		if (proto_attr_from_json(obj, &b) != -EINVAL)
			fail_msg("accepted %s = %s", bad[i][0], bad[i][1]);
		assert_attr_equal(&b, &untouched);
		json_decref(obj);
		/* A missing field is rejected too. */
		obj = proto_attr_to_json(&a);
		json_object_del(obj, bad[i][0]);
		assert_int_equal(proto_attr_from_json(obj, &b), -EINVAL);
		json_decref(obj);
	}
}

static void test_chunk_roundtrip(void **state)
{
	struct dfs_chunk c, d;
	json_t *obj;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.index = 7;
	c.handle = (1ull << 63) - 1;
	c.version = 12;
	c.nreplicas = 3;
	snprintf(c.replicas[0], DFS_ADDR_MAX, "127.0.0.1:9100");
	snprintf(c.replicas[1], DFS_ADDR_MAX, "host-b.example:9101");
	snprintf(c.replicas[2], DFS_ADDR_MAX, "[::1]:9102");

	/* A read location: no primary, no lease. */
	obj = proto_chunk_to_json(&c);
	assert_null(json_object_get(obj, "primary"));
	assert_null(json_object_get(obj, "lease_ms"));
	memset(&d, 0x77, sizeof(d));
	assert_int_equal(proto_chunk_from_json(obj, &d), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	json_decref(obj);

	/* A write lease. */
	snprintf(c.primary, DFS_ADDR_MAX, "127.0.0.1:9100");
	c.lease_ms = 1790000000123LL;
	obj = proto_chunk_to_json(&c);
	assert_int_equal(proto_chunk_from_json(obj, &d), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	json_decref(obj);

	/* No replicas at all is valid (a chunk whose servers are down). */
	c.nreplicas = 0;
	memset(c.replicas, 0, sizeof(c.replicas));
	obj = proto_chunk_to_json(&c);
	assert_int_equal(proto_chunk_from_json(obj, &d), 0);
	assert_int_equal(d.nreplicas, 0);
	json_decref(obj);
}

static void test_chunk_rejects(void **state)
{
	static const char *const bad[] = {
		"{\"index\":0,\"handle\":1,\"version\":1}",
		"{\"index\":0,\"handle\":1,\"version\":1,\"replicas\":\"a:1\"}",
		"{\"index\":0,\"handle\":1,\"version\":1,\"replicas\":[1]}",
		"{\"index\":0,\"handle\":1,\"version\":1,\"replicas\":[\"a\"]}",
		"{\"index\":0,\"handle\":1,\"version\":1,"
		"\"replicas\":[\"a:1/x\"]}",
		"{\"index\":0,\"handle\":-1,\"version\":1,\"replicas\":[]}",
		"{\"index\":0,\"handle\":1,\"version\":1.0,\"replicas\":[]}",
		"{\"index\":0,\"handle\":1,\"version\":1,\"replicas\":[],"
		"\"primary\":\"x y:1\"}",
		"{\"index\":0,\"handle\":1,\"version\":1,\"replicas\":[],"
		"\"primary\":5}",
		"{\"index\":0,\"handle\":1,\"version\":1,\"replicas\":[],"
		"\"lease_ms\":-1}",
		"{\"handle\":1,\"version\":1,\"replicas\":[]}",
		"{\"index\":0,\"handle\":1,\"version\":1,"
		"\"replicas\":[\"a:1\\u0000b:2\"]}",
		"[]",
	};
	struct dfs_chunk d;
	json_t *obj, *reps;
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		obj = J(bad[i]);
		if (proto_chunk_from_json(obj, &d) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		json_decref(obj);
	}
	/* More replicas than DFS_MAX_REPLICAS. */
	obj = J("{\"index\":0,\"handle\":1,\"version\":1}");
	reps = json_array();
	for (k = 0; k <= DFS_MAX_REPLICAS; k++)
		json_array_append_new(reps, json_string("h:1"));
	json_object_set_new(obj, "replicas", reps);
	assert_int_equal(proto_chunk_from_json(obj, &d), -EINVAL);
	json_array_remove(reps, 0);
	assert_int_equal(proto_chunk_from_json(obj, &d), 0);
	assert_int_equal(d.nreplicas, DFS_MAX_REPLICAS);
	json_decref(obj);
}

static void test_time(void **state)
{
	struct timespec ts = {.tv_sec = -1, .tv_nsec = 5}, out;
	json_t *v = proto_time_to_json(&ts);

	(void)state;
	assert_int_equal(proto_time_from_json(v, &out), 0);
	assert_int_equal(out.tv_sec, -1);
	assert_int_equal(out.tv_nsec, 5);
	json_decref(v);
	ts.tv_sec = INT64_MAX;
	ts.tv_nsec = 999999999;
	v = proto_time_to_json(&ts);
	assert_int_equal(proto_time_from_json(v, &out), 0);
	assert_int_equal(out.tv_sec, INT64_MAX);
	json_decref(v);
	assert_int_equal(proto_time_from_json(NULL, &out), -EINVAL);
	v = J("5");
	assert_int_equal(proto_time_from_json(v, &out), -EINVAL);
	json_decref(v);
}

static void test_getters(void **state)
{
	json_t *o = J("{\"u\":5, \"big\":9223372036854775807, \"neg\":-1,"
		      "\"real\":5.0, \"s\":\"str\", \"nul\":\"a\\u0000b\","
		      "\"t\":true, \"f\":false, \"n\":null,"
		      "\"u32\":4294967295, \"u33\":4294967296}");
	const char *s;
	uint64_t u = 77;
	uint32_t u32 = 77;
	bool b = false;

	(void)state;
	assert_int_equal(proto_get_u64(o, "u", 5, &u), 0);
	assert_int_equal(u, 5);
	assert_int_equal(proto_get_u64(o, "u", 4, &u), -EINVAL);
	assert_int_equal(proto_get_u64(o, "big", UINT64_MAX, &u), 0);
	assert_int_equal(u, INT64_MAX);
	assert_int_equal(proto_get_u64(o, "neg", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(proto_get_u64(o, "real", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(proto_get_u64(o, "s", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(proto_get_u64(o, "none", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(proto_get_u64(NULL, "u", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(u, INT64_MAX);
	assert_int_equal(proto_get_u32(o, "u32", &u32), 0);
	assert_int_equal(u32, UINT32_MAX);
	assert_int_equal(proto_get_u32(o, "u33", &u32), -EINVAL);

	assert_int_equal(proto_get_bool(o, "t", &b), 0);
	assert_true(b);
	assert_int_equal(proto_get_bool(o, "f", &b), 0);
	assert_false(b);
	assert_int_equal(proto_get_bool(o, "u", &b), -EINVAL);

	assert_int_equal(proto_get_str(o, "s", 3, &s), 0);
	assert_string_equal(s, "str");
	assert_int_equal(proto_get_str(o, "s", 2, &s), -EINVAL);
	assert_int_equal(proto_get_str(o, "nul", 100, &s), -EINVAL);
	assert_int_equal(proto_get_str(o, "u", 100, &s), -EINVAL);

	/* Optional getters: absent or null leaves *out alone. */
	u = 99;
	assert_int_equal(proto_opt_u64(o, "none", 10, &u), 0);
	assert_int_equal(proto_opt_u64(o, "n", 10, &u), 0);
	assert_int_equal(u, 99);
	assert_int_equal(proto_opt_u64(o, "u", 10, &u), 0);
	assert_int_equal(u, 5);
	assert_int_equal(proto_opt_u64(o, "real", 10, &u), -EINVAL);
	b = true;
	assert_int_equal(proto_opt_bool(o, "none", &b), 0);
	assert_true(b);
	assert_int_equal(proto_opt_bool(o, "f", &b), 0);
	assert_false(b);
	assert_int_equal(proto_opt_bool(o, "s", &b), -EINVAL);
	json_decref(o);
}

static void test_names(void **state)
{
	char longname[DFS_NAME_MAX + 2];
	const char *s;
	json_t *o;

	(void)state;
	memset(longname, 'x', sizeof(longname));
	longname[DFS_NAME_MAX] = '\0';
	assert_true(proto_name_is_valid(longname));
	assert_true(proto_name_is_valid("a"));
	assert_true(proto_name_is_valid("..."));
	assert_true(proto_name_is_valid(".hidden"));
	assert_true(proto_name_is_valid("a b\tc\xc3\xa9"));
	assert_false(proto_name_is_valid(NULL));
	assert_false(proto_name_is_valid(""));
	assert_false(proto_name_is_valid("."));
	assert_false(proto_name_is_valid(".."));
	assert_false(proto_name_is_valid("a/b"));
	assert_false(proto_name_is_valid("/"));

	o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "ok", longname, "dot", ".",
		      "slash", "x/", "empty", "", "int", 1);
	assert_int_equal(proto_get_name(o, "ok", &s), 0);
	assert_ptr_equal(s, json_string_value(json_object_get(o, "ok")));
	assert_int_equal(proto_get_name(o, "dot", &s), -EINVAL);
	assert_int_equal(proto_get_name(o, "slash", &s), -EINVAL);
	assert_int_equal(proto_get_name(o, "empty", &s), -EINVAL);
	assert_int_equal(proto_get_name(o, "int", &s), -EINVAL);
	assert_int_equal(proto_get_name(o, "none", &s), -EINVAL);
	longname[DFS_NAME_MAX] = 'x';
	longname[DFS_NAME_MAX + 1] = '\0';
	assert_false(proto_name_is_valid(longname));
	json_object_set_new(o, "long", json_string(longname));
	assert_int_equal(proto_get_name(o, "long", &s), -ENAMETOOLONG);
	json_object_set_new(o, "nul", json_stringn("a\0b", 3));
	assert_int_equal(proto_get_name(o, "nul", &s), -EINVAL);
	json_decref(o);
}

static void test_addrs(void **state)
{
	static const char *const good[] = {
		"127.0.0.1:9000", "localhost:1", "host-1.example.com:65535",
		"[::1]:9100", "[fe80::1%eth0]:80", "a_b:22",
	};
	static const char *const bad[] = {
		"", ":9000", "host", "host:", "host:0", "host:65536",
		"host:123456", "host:-1", "host:+80", "host:80x", "ho st:80",
		"host/x:80", "host:80/path", "a@b:80", "h?:80", "h#:80",
		"a,b:80", "[::1:80", "[zz]:80", "[]:80", "h:8 0", "[::1%]:80",
		"[::1%a/b]:80", "[::1]x:80",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!proto_addr_is_valid(good[i]))
			fail_msg("rejected '%s'", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proto_addr_is_valid(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
	assert_false(proto_addr_is_valid(NULL));
}

static void test_error_status(void **state)
{
	static const char ok[] = "{\"err\":12,\"error\":\"STALE\"}";
	json_t *obj = NULL;

	(void)state;
	assert_int_equal(proto_error_status(ok, strlen(ok), &obj),
			 DFS_ERR_STALE);
	assert_non_null(obj);
	json_decref(obj);
	assert_int_equal(proto_error_status(ok, strlen(ok), NULL),
			 DFS_ERR_STALE);
	assert_int_equal(proto_error_status("{\"err\":999}", 11, NULL),
			 DFS_ERR_IO);
	assert_int_equal(proto_error_status("{\"err\":0}", 9, NULL),
			 DFS_ERR_IO);
	assert_int_equal(proto_error_status("{\"err\":\"x\"}", 11, NULL),
			 DFS_ERR_IO);
	assert_int_equal(proto_error_status("<html>", 6, &obj), DFS_ERR_IO);
	assert_null(obj);
	assert_int_equal(proto_error_status(NULL, 0, &obj), DFS_ERR_IO);
	assert_null(obj);
}

/* What jansson makes of v: the text the writer must match. */
static char *dumped(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(v);
	assert_non_null(text);
	return text;
}

/* The writer's text, taken over. */
static char *written(struct json_writer *w)
{
	size_t len;
	char *text = json_writer_take(w, &len);

	assert_int_equal(len, strlen(text));
	return text;
}

static void assert_same_text(char *want, char *got)
{
	assert_string_equal(got, want);
	free(want);
	free(got);
}

/* proto_attr_write() writes exactly what proto_attr_to_json() dumps to. */
static void test_attr_write(void **state)
{
	struct dfs_attr a = sample_attr(), zero = { 0 };
	struct dfs_attr old = sample_attr();
	struct json_writer w;

	(void)state;
	old.atime.tv_sec = -1;          /* before 1970, as utimensat allows */
	old.mtime.tv_sec = -86400 * 365;
	old.ctime.tv_nsec = 999999999;
	old.size = (uint64_t)INT64_MAX;
	struct dfs_attr dir = sample_attr(), back;
	dir.dir_changes = 77;
	dir.dir_epoch = (1ULL << 62) - 5;
	const struct dfs_attr *all[] = { &a, &zero, &old, &dir };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		json_writer_init(&w, 1); /* grows from the smallest buffer */
		proto_attr_write(&w, all[i]);
		assert_same_text(dumped(proto_attr_to_json(all[i])),
				 written(&w));
	}
	/* A directory's change count comes back; attrs without one have
	 * none. */
	json_t *j = proto_attr_to_json(&dir);
	assert_int_equal(proto_attr_from_json(j, &back), 0);
	assert_int_equal(back.dir_changes, 77);
	assert_int_equal(back.dir_epoch, dir.dir_epoch);
	json_decref(j);
	j = proto_attr_to_json(&a);
	assert_int_equal(proto_attr_from_json(j, &back), 0);
	assert_int_equal(back.dir_epoch, 0);
	json_decref(j);
}

/* Strings are escaped as jansson escapes them, whatever they hold. */
static void test_writer_strings(void **state)
{
	const char *cases[] = {
		"", "plain", "quote\"back\\slash", "tab\tnl\ncr\rbs\bff\f",
		"\x01\x1f ctl", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"/slash/ and \x7f",
	};
	struct json_writer w;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_writer_init(&w, 8);
		json_writer_string(&w, cases[i]);
		assert_same_text(dumped(json_string(cases[i])), written(&w));
	}
}

/* Commas, nesting and every kind of value, as a readdir reply has them. */
static void test_writer_structure(void **state)
{
	struct json_writer w;
	json_t *want;

	(void)state;
	json_writer_init(&w, 16);
	json_writer_open_object(&w);
	json_writer_key(&w, "entries");
	json_writer_open_array(&w);
	for (int i = 0; i < 3; i++) {
		json_writer_open_object(&w);
		json_writer_key(&w, "name");
		json_writer_string(&w, i == 1 ? "b\"" : "a");
		json_writer_key(&w, "cookie");
		json_writer_uint(&w, i == 2 ? UINT64_MAX / 2 : (uint64_t)i);
		json_writer_key(&w, "empty");
		json_writer_open_array(&w);
		json_writer_close_array(&w);
		json_writer_close_object(&w);
	}
	json_writer_close_array(&w);
	json_writer_key(&w, "min");
	json_writer_int(&w, INT64_MIN);
	json_writer_key(&w, "eof");
	json_writer_bool(&w, true);
	json_writer_key(&w, "no");
	json_writer_bool(&w, false);
	json_writer_close_object(&w);
	want = json_pack("{s:[{s:s, s:I, s:[]}, {s:s, s:I, s:[]}, "
			 "{s:s, s:I, s:[]}], s:I, s:b, s:b}",
			 "entries", "name", "a", "cookie", (json_int_t)0,
			 "empty", "name", "b\"", "cookie", (json_int_t)1,
			 "empty", "name", "a", "cookie",
			 (json_int_t)(UINT64_MAX / 2), "empty", "min",
			 (json_int_t)INT64_MIN, "eof", 1, "no", 0);
	assert_same_text(dumped(want), written(&w));
	json_writer_free(&w); /* after take: nothing left, no double free */
	json_writer_init(&w, 0);
	json_writer_free(&w);
}

/* Any jansson tree comes out as json_dumps() writes it. */
static void test_writer_json(void **state)
{
	const char *texts[] = {
		"{}", "[]", "null", "true", "false", "0", "-9223372036854775808",
		"9223372036854775807", "\"\"", "1.5", "-0.25", "1e+300",
		"{\"a\":{\"b\":[1,[2,[]],{}],\"c\":null},\"d\":\"x\\u0000y\"}",
		"[true,false,null,\"caf\u00e9\\n\",{\"k\":[-1,0.1]}]",
		"{\"z\":1,\"a\":2,\"m\":3}", /* insertion order kept */
	};
	json_error_t err;
	size_t len;
	char *got;
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		v = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL,
			       &err);
		assert_non_null(v);
		got = json_writer_dump(v, &len);
		assert_int_equal(len, strlen(got)); /* NULs are escaped */
		assert_same_text(dumped(json_incref(v)), got);
		json_decref(v);
	}
	got = json_writer_dump(NULL, &len);
	assert_string_equal(got, "null");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attr_roundtrip),
		cmocka_unit_test(test_attr_rejects),
		cmocka_unit_test(test_chunk_roundtrip),
		cmocka_unit_test(test_chunk_rejects),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_error_status),
		cmocka_unit_test(test_attr_write),
		cmocka_unit_test(test_writer_strings),
		cmocka_unit_test(test_writer_structure),
		cmocka_unit_test(test_writer_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
