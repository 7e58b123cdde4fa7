/*
 * proto.c - build and check the JSON messages of dfs_proto.h (see
 * proto.h).
 *
 * Decoders never trust the peer: every field is checked for presence,
 * JSON type (integers must be JSON integers, never reals) and range, and
 * strings for length and embedded NULs, before anything is stored.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "http_client.h"
#include "json_writer.h"
#include "proto.h"
#include "wire.h"
#include "xmalloc.h"

#include "banned.h"

/* Largest inode number, handle, version, size or offset on the wire. */
#define PROTO_U63_MAX ((uint64_t)INT64_MAX)

json_t *proto_time_to_json(const struct timespec *ts)
{
	return json_pack("[I, I]", (json_int_t)ts->tv_sec,
			 (json_int_t)ts->tv_nsec);
}

int proto_time_from_json(const json_t *v, struct timespec *ts)
{
	const json_t *s, *ns;

	if (!json_is_array(v) || json_array_size(v) != 2)
		return -EINVAL;
	s = json_array_get(v, 0);
	ns = json_array_get(v, 1);
	if (!json_is_integer(s) || !json_is_integer(ns))
		return -EINVAL;
	if (json_integer_value(ns) < 0 ||
	    json_integer_value(ns) > 999999999)
		return -EINVAL;
	ts->tv_sec = (time_t)json_integer_value(s);
	ts->tv_nsec = (long)json_integer_value(ns);
	return 0;
}

/* Add a directory's change count, if it has one, to "obj". */
static json_t *attr_add_changes(json_t *obj, const struct dfs_attr *a)
{
	if (obj != NULL && a->dir_epoch != 0) {
		json_object_set_new(obj, "changes",
				    json_integer((json_int_t)a->dir_changes));
		json_object_set_new(obj, "epoch",
				    json_integer((json_int_t)a->dir_epoch));
	}
	return obj;
}

json_t *proto_attr_to_json(const struct dfs_attr *a)
{
	return attr_add_changes(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, "
			 "s:I}",
			 "ino", (json_int_t)a->ino, "mode", (json_int_t)a->mode,
			 "nlink", (json_int_t)a->nlink, "uid",
			 (json_int_t)a->uid, "gid", (json_int_t)a->gid,
			 "size", (json_int_t)a->size, "rdev",
			 (json_int_t)a->rdev, "atime",
			 proto_time_to_json(&a->atime), "mtime",
			 proto_time_to_json(&a->mtime), "ctime",
			 proto_time_to_json(&a->ctime), "replication",
			 (json_int_t)a->replication), a);
}

/* "key":[s,ns] */
static void proto_time_write(struct json_writer *w, const char *key,
			     const struct timespec *ts)
{
	json_writer_key(w, key);
	json_writer_open_array(w);
	json_writer_int(w, (int64_t)ts->tv_sec);
	json_writer_int(w, (int64_t)ts->tv_nsec);
	json_writer_close_array(w);
}

/* Keep in step with proto_attr_to_json(): test_proto compares the two. */
void proto_attr_write(struct json_writer *w, const struct dfs_attr *a)
{
	json_writer_open_object(w);
	json_writer_key(w, "ino");
	json_writer_uint(w, a->ino);
	json_writer_key(w, "mode");
	json_writer_uint(w, a->mode);
	json_writer_key(w, "nlink");
	json_writer_uint(w, a->nlink);
	json_writer_key(w, "uid");
	json_writer_uint(w, a->uid);
	json_writer_key(w, "gid");
	json_writer_uint(w, a->gid);
	json_writer_key(w, "size");
	json_writer_uint(w, a->size);
	json_writer_key(w, "rdev");
	json_writer_uint(w, a->rdev);
	proto_time_write(w, "atime", &a->atime);
	proto_time_write(w, "mtime", &a->mtime);
	proto_time_write(w, "ctime", &a->ctime);
	json_writer_key(w, "replication");
	json_writer_uint(w, a->replication);
	if (a->dir_epoch != 0) {
		json_writer_key(w, "changes");
		json_writer_uint(w, a->dir_changes);
		json_writer_key(w, "epoch");
		json_writer_uint(w, a->dir_epoch);
	}
	json_writer_close_object(w);
}

/* Get a timestamp field. */
static int proto_get_time(const json_t *obj, const char *key,
			  struct timespec *ts)
{
	return proto_time_from_json(json_object_get(obj, key), ts);
}

int proto_attr_from_json(const json_t *obj, struct dfs_attr *attr)
{
	struct dfs_attr a;
	int r;

	memset(&a, 0, sizeof(a));
	if (!json_is_object(obj))
		return -EINVAL;
	if ((r = proto_get_u64(obj, "ino", PROTO_U63_MAX, &a.ino)) != 0 ||
	    (r = proto_get_u32(obj, "mode", &a.mode)) != 0 ||
	    (r = proto_get_u32(obj, "nlink", &a.nlink)) != 0 ||
	    (r = proto_get_u32(obj, "uid", &a.uid)) != 0 ||
	    (r = proto_get_u32(obj, "gid", &a.gid)) != 0 ||
	    (r = proto_get_u64(obj, "size", PROTO_U63_MAX, &a.size)) != 0 ||
	    (r = proto_get_u64(obj, "rdev", PROTO_U63_MAX, &a.rdev)) != 0 ||
	    (r = proto_get_time(obj, "atime", &a.atime)) != 0 ||
	    (r = proto_get_time(obj, "mtime", &a.mtime)) != 0 ||
	    (r = proto_get_time(obj, "ctime", &a.ctime)) != 0 ||
	    (r = proto_get_u32(obj, "replication", &a.replication)) != 0)
		return r;
	if (json_object_get(obj, "lease_ms") != NULL &&
	    (r = proto_get_u32(obj, "lease_ms", &a.dir_lease_ms)) != 0)
		return r;
	/* Optional: both or neither. */
	if (json_object_get(obj, "epoch") != NULL &&
	    ((r = proto_get_u64(obj, "changes", PROTO_U63_MAX,
				&a.dir_changes)) != 0 ||
	     (r = proto_get_u64(obj, "epoch", PROTO_U63_MAX, &a.dir_epoch)) != 0))
		return r;
	*attr = a;
	return 0;
}

json_t *proto_chunk_to_json(const struct dfs_chunk *c)
{
	json_t *obj, *reps;
	int i;

	reps = json_array();
	for (i = 0; i < c->nreplicas && i < DFS_MAX_REPLICAS; i++)
		json_array_append_new(reps, json_string(c->replicas[i]));
	obj = json_pack("{s:I, s:I, s:I, s:o}", "index", (json_int_t)c->index,
			"handle", (json_int_t)c->handle, "version",
			(json_int_t)c->version, "replicas", reps);
	if (obj != NULL && c->primary[0] != '\0') {
		json_object_set_new(obj, "primary", json_string(c->primary));
		json_object_set_new(obj, "lease_ms",
				    json_integer((json_int_t)c->lease_ms));
	}
	if (obj != NULL && c->token[0] != '\0')
		json_object_set_new(obj, "token", json_string(c->token));
	return obj;
}

/* Copy a valid address into a DFS_ADDR_MAX buffer. */
static int proto_copy_addr(const json_t *v, char *dst)
{
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) != json_string_length(v) ||
	    !proto_addr_is_valid(s))
		return -EINVAL;
	snprintf(dst, DFS_ADDR_MAX, "%s", s);
	return 0;
}

/* Fill the replica list of a chunk from a "replicas" array. */
static int proto_get_replicas(const json_t *obj, struct dfs_chunk *c)
{
	const json_t *reps = json_object_get(obj, "replicas");
	size_t i;
	int r;

	if (!json_is_array(reps) || json_array_size(reps) > DFS_MAX_REPLICAS)
		return -EINVAL;
	for (i = 0; i < json_array_size(reps); i++)
		if ((r = proto_copy_addr(json_array_get(reps, i),
					 c->replicas[i])) != 0)
			return r;
	c->nreplicas = (int)json_array_size(reps);
	return 0;
}

/* The optional "token" of a chunk into token[AUTH_TOKEN_MAX]: printable
 * ASCII that fits (the chunk server judges the rest). */
static int proto_get_token(const json_t *obj, char *token)
{
	const json_t *v = json_object_get(obj, "token");
	const char *s;
	size_t i, n;

	if (v == NULL || json_is_null(v))
		return 0;
	if ((s = json_string_value(v)) == NULL ||
	    (n = json_string_length(v)) >= AUTH_TOKEN_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return -EINVAL;
	memcpy(token, s, n + 1);
	return 0;
}

int proto_chunk_from_json(const json_t *obj, struct dfs_chunk *chunk)
{
	struct dfs_chunk c;
	const json_t *primary;
	uint64_t lease = 0;
	int r;

	memset(&c, 0, sizeof(c));
	if (!json_is_object(obj))
		return -EINVAL;
	if ((r = proto_get_u64(obj, "index", PROTO_U63_MAX, &c.index)) != 0 ||
	    (r = proto_get_u64(obj, "handle", PROTO_U63_MAX, &c.handle)) != 0 ||
	    (r = proto_get_u64(obj, "version", PROTO_U63_MAX, &c.version)) !=
		    0 ||
	    (r = proto_get_replicas(obj, &c)) != 0 ||
	    (r = proto_opt_u64(obj, "lease_ms", PROTO_U63_MAX, &lease)) != 0)
		return r;
	primary = json_object_get(obj, "primary");
	if (primary != NULL && !json_is_null(primary) &&
	    !(json_is_string(primary) && json_string_length(primary) == 0) &&
	    (r = proto_copy_addr(primary, c.primary)) != 0)
		return r;
	c.lease_ms = (int64_t)lease;
	if ((r = proto_get_token(obj, c.token)) != 0)
		return r;
	*chunk = c;
	return 0;
}

int proto_get_u64(const json_t *obj, const char *key, uint64_t max,
		  uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!json_is_integer(v))
		return -EINVAL;
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		return -EINVAL;
	*out = (uint64_t)i;
	return 0;
}

int proto_get_u32(const json_t *obj, const char *key, uint32_t *out)
{
	uint64_t v;
	int r;

	if ((r = proto_get_u64(obj, key, UINT32_MAX, &v)) != 0)
		return r;
	*out = (uint32_t)v;
	return 0;
}

int proto_get_bool(const json_t *obj, const char *key, bool *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

int proto_get_str(const json_t *obj, const char *key, size_t max_len,
		  const char **out)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);

	/* json_string_length() counts past an embedded NUL, strlen() not. */
	if (s == NULL || json_string_length(v) > max_len ||
	    strlen(s) != json_string_length(v))
		return -EINVAL;
	*out = s;
	return 0;
}

int proto_get_name(const json_t *obj, const char *key, const char **out)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) != json_string_length(v))
		return -EINVAL;
	if (json_string_length(v) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!proto_name_is_valid(s))
		return -EINVAL;
	*out = s;
	return 0;
}

int proto_opt_u64(const json_t *obj, const char *key, uint64_t max,
		  uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	return proto_get_u64(obj, key, max, out);
}

int proto_opt_bool(const json_t *obj, const char *key, bool *out)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	return proto_get_bool(obj, key, out);
}

int proto_get_pair(const json_t *v, uint64_t *handle, uint64_t *version)
{
	const json_t *h = json_array_get(v, 0), *ver = json_array_get(v, 1);

	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_integer(h) || !json_is_integer(ver) ||
	    json_integer_value(h) <= 0 || json_integer_value(ver) < 0)
		return -EINVAL;
	*handle = (uint64_t)json_integer_value(h);
	*version = (uint64_t)json_integer_value(ver);
	return 0;
}

bool proto_name_is_valid(const char *name)
{
	size_t len;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len == 0 || len > DFS_NAME_MAX || strchr(name, '/') != NULL)
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* True for characters allowed in a host name or IPv4 address. */
static bool proto_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* True for characters allowed inside "[...]" before a zone "%...". */
static bool proto_v6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/* True if host[0..n) is a host name, IPv4 address or "[IPv6]". */
static bool proto_host_is_valid(const char *host, size_t n)
{
	bool v6 = n >= 3 && host[0] == '[' && host[n - 1] == ']';
	size_t i;

	if (n == 0)
		return false;
	if (v6) {
		for (i = 1; i + 1 < n && host[i] != '%'; i++)
			if (!proto_v6_char(host[i]))
				return false;
		if (i + 1 < n && i + 2 == n)
			return false;
		for (i++; i + 1 < n; i++)
			if (!proto_host_char(host[i]))
				return false;
		return true;
	}
	for (i = 0; i < n; i++)
		if (!proto_host_char(host[i]))
			return false;
	return true;
}

bool proto_addr_is_valid(const char *addr)
{
	const char *colon;
	unsigned long port = 0;
	const char *p;

	if (addr == NULL || strlen(addr) >= DFS_ADDR_MAX)
		return false;
	colon = strrchr(addr, ':');
	if (colon == NULL ||
	    !proto_host_is_valid(addr, (size_t)(colon - addr)))
		return false;
	p = colon + 1;
	if (*p == '\0' || strlen(p) > 5)
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535;
}

int proto_error_status(const char *body, size_t len, json_t **obj)
{
	json_t *o = NULL;
	json_int_t err;
	int status = DFS_ERR_IO;

	if (body != NULL && len > 0)
		o = json_loadb(body, len, 0, NULL);
	if (json_is_object(o) && json_is_integer(json_object_get(o, "err"))) {
		err = json_integer_value(json_object_get(o, "err"));
		if (err > 0 && err < DFS_ERR_MAX)
			status = (int)err;
	}
	if (obj != NULL)
		*obj = o;
	else
		json_decref(o);
	return status;
}

/* Turn a completed exchange into the reply object or a negative errno. */
static int rpc_parse(struct http_result *res, json_t **reply,
		     int *wire_status)
{
	json_t *obj;
	int status;

	if (res->status >= 200 && res->status < 300) {
		obj = res->body != NULL
			      ? json_loadb(res->body, res->len, 0, NULL)
			      : NULL;
		if (!json_is_object(obj)) {
			json_decref(obj);
			*wire_status = DFS_ERR_IO;
			return -EPROTO;
		}
		*wire_status = DFS_OK;
		if (reply != NULL)
			*reply = obj;
		else
			json_decref(obj);
		return 0;
	}
	status = proto_error_status(res->body, res->len, &obj);
	if (!json_is_object(obj)) {
		json_decref(obj);
		*wire_status = DFS_ERR_IO;
		return -EPROTO;
	}
	json_decref(obj);
	*wire_status = status;
	return -wire_status_to_errno(status);
}

/* The outcome of an exchange that ended with r (0: *res holds the
 * reply): parse it, set *wire_status and release *res. */
static int rpc_finish(int r, struct http_result *res, json_t **reply,
		      int *wire_status)
{
	int ws = -1;

	if (r == 0)
		r = rpc_parse(res, reply, &ws);
	if (wire_status != NULL)
		*wire_status = ws;
	http_result_release(res);
	return r;
}

/*
 * Send one call ("body" NULL for a GET) and parse its reply; rpc_call()
 * and rpc_get() share it.
 */
static int rpc_exchange(struct http_client *hc, const char *method,
			const char *addr, const char *path, const char *body,
			json_t **reply, int *wire_status)
{
	struct http_result res = {0};
	int r;

	r = http_client_request(hc, method, addr, path, body,
				body != NULL ? strlen(body) : 0,
				"application/json", DFS_MAX_JSON_BODY, &res);
	return rpc_finish(r, &res, reply, wire_status);
}

int rpc_call(struct http_client *hc, const char *addr, const char *path,
	     json_t *req, json_t **reply, int *wire_status)
{
	char *body = NULL;
	size_t len;
	int r;

	if (reply != NULL)
		*reply = NULL;
	if (req != NULL)
		body = json_writer_dump(req, &len);
	r = rpc_exchange(hc, "POST", addr, path, body != NULL ? body : "{}",
			 reply, wire_status);
	free(body);
	return r;
}

struct rpc_pending {
	struct http_call *call;
	char *body;                    /* the request, sent from here */
};

struct rpc_pending *rpc_send(struct http_client *hc, const char *addr,
			     const char *path, json_t *req)
{
	struct rpc_pending *p = xcalloc(1, sizeof(*p));
	size_t len;

	if (req == NULL || (p->body = json_writer_dump(req, &len)) == NULL) {
		p->body = xstrdup("{}");
		len = 2;
	}
	p->call = http_client_send(hc, "POST", addr, path, NULL, p->body, len,
				   NULL, "application/json");
	return p;
}

int rpc_receive(struct rpc_pending *p, json_t **reply, int *wire_status)
{
	struct http_result res = {0};
	int r;

	if (reply != NULL)
		*reply = NULL;
	r = http_client_receive(p->call, DFS_MAX_JSON_BODY, &res);
	r = rpc_finish(r, &res, reply, wire_status);
	free(p->body);
	free(p);
	return r;
}

int rpc_get(struct http_client *hc, const char *addr, const char *path,
	    json_t **reply, int *wire_status)
{
	if (reply != NULL)
		*reply = NULL;
	return rpc_exchange(hc, "GET", addr, path, NULL, reply, wire_status);
}
