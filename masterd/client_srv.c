/*
 * client_srv.c - the client API endpoints of the master (see
 * client_srv.h).
 *
 * Namespace changes are described by a table (struct mutation): which
 * request fields to check and copy into the op, and whether the op needs
 * a fresh inode number. One handler builds, submits and answers all of
 * them; setattr, the reads and the chunk endpoints have their own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunk_srv.h"
#include "client_srv.h"
#include "dir_leases.h"
#include "fsck.h"
#include "http_server.h"
#include "json_writer.h"
#include "leases.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "open_files.h"
#include "oplog.h"
#include "proto.h"
#include "replicator.h"
#include "secure.h"
#include "timeutil.h"
#include "versions.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* Largest request body of a client endpoint. */
#define CLIENT_MAX_BODY (1024 * 1024)

/*
 * Lease of the chunk a create places (create_place_chunk()): long enough
 * for the creator to write a small file, and a writer that takes longer
 * asks EP_CHUNKS for a full lease as usual.
 */
#define CREATE_LEASE_MS 10000

/* Most entries one EP_READDIR reply carries. */
#define READDIR_MAX 1000

/* First buffer of a readdir reply: some 60 entries; it grows as needed. */
#define READDIR_REPLY_HINT (16 * 1024)

/* Most chunks one EP_CHUNKS request covers. */
#define CHUNKS_MAX 1024

/* Kinds of request fields a mutation checks. */
enum field_kind {
	F_INO,       /* inode number, 1 .. 2^63-1 */
	F_NAME,      /* file name component */
	F_U32,       /* unsigned 32-bit */
	F_U64,       /* unsigned 63-bit */
	F_OPT_U32,   /* F_U32, may be absent */
	F_OPT_U64,   /* F_U64, may be absent */
	F_TARGET,    /* symlink target: 1 .. DFS_PATH_MAX bytes */
};

struct field {
	const char *key;      /* name in the request */
	const char *op_key;   /* name in the op; NULL: the same */
	enum field_kind kind;
};

/* A namespace change endpoint. */
struct mutation {
	const char *op;       /* op name (namespace.h) */
	bool new_ino;         /* the op needs a fresh inode number */
	struct field fields[6];
};

static const struct mutation mu_create = {
	"create", true,
	{ { "parent", NULL, F_INO }, { "name", NULL, F_NAME },
	  { "mode", NULL, F_U32 }, { "uid", NULL, F_U32 },
	  { "gid", NULL, F_U32 }, { "rdev", NULL, F_OPT_U64 } },
};
static const struct mutation mu_mkdir = {
	"mkdir", true,
	{ { "parent", NULL, F_INO }, { "name", NULL, F_NAME },
	  { "mode", NULL, F_U32 }, { "uid", NULL, F_U32 },
	  { "gid", NULL, F_U32 } },
};
static const struct mutation mu_symlink = {
	"symlink", true,
	{ { "parent", NULL, F_INO }, { "name", NULL, F_NAME },
	  { "target", NULL, F_TARGET }, { "uid", NULL, F_U32 },
	  { "gid", NULL, F_U32 } },
};
static const struct mutation mu_link = {
	"link", false,
	{ { "ino", NULL, F_INO }, { "newparent", "parent", F_INO },
	  { "newname", "name", F_NAME } },
};
static const struct mutation mu_unlink = {
	"unlink", false,
	{ { "parent", NULL, F_INO }, { "name", NULL, F_NAME } },
};
static const struct mutation mu_rmdir = {
	"rmdir", false,
	{ { "parent", NULL, F_INO }, { "name", NULL, F_NAME } },
};
static const struct mutation mu_rename = {
	"rename", false,
	{ { "parent", NULL, F_INO }, { "name", NULL, F_NAME },
	  { "newparent", NULL, F_INO }, { "newname", NULL, F_NAME },
	  { "flags", NULL, F_OPT_U32 } },
};
static const struct mutation mu_extend = {
	"extend", false,
	{ { "ino", NULL, F_INO }, { "size", NULL, F_U64 } },
};

struct lease_set;
static void create_and_reply(struct http_request *req, struct master *m,
			     json_t *op, const json_t *body,
			     const struct lease_set *ls);

/* Answer a negative errno as its wire error. */
static void reply_errno(struct http_request *req, int r, const char *what)
{
	http_reply_error(req, wire_status_from_errno(r), "%s: %s", what,
			 strerror(-r));
}

/* An inode number field (1 .. NS_MAX_ID). */
static int get_ino(const json_t *obj, const char *key, uint64_t *out)
{
	int r;

	if ((r = proto_get_u64(obj, key, NS_MAX_ID, out)) != 0)
		return r;
	return *out == 0 ? -EINVAL : 0;
}

static int check_field(const json_t *body, const struct field *f)
{
	bool absent = json_object_get(body, f->key) == NULL;
	const char *s;
	uint64_t u64;
	uint32_t u32;
	int r;

	switch (f->kind) {
	case F_INO:
		return get_ino(body, f->key, &u64);
	case F_NAME:
		return proto_get_name(body, f->key, &s);
	case F_OPT_U32:
		if (absent)
			return 0;
		/* fall through */
	case F_U32:
		return proto_get_u32(body, f->key, &u32);
	case F_OPT_U64:
		if (absent)
			return 0;
		/* fall through */
	case F_U64:
		return proto_get_u64(body, f->key, NS_MAX_ID, &u64);
	case F_TARGET:
		r = proto_get_str(body, f->key, DFS_PATH_MAX, &s);
		return r == 0 && s[0] == '\0' ? -EINVAL : r;
	}
	return -EINVAL;
}

/* The directories a change touches and how their leases let it through
 * (dir_leases.h). */
struct lease_set {
	uint64_t dir[3];
	/* Where the reply has that directory's attrs: a key, or NULL for
	 * the reply itself (mkdir's new directory). */
	const char *key[3];
	enum dir_lease_how how[3];
	size_t n;
};

static void lease_add(struct lease_set *ls, const json_t *op,
		      const char *op_key, const char *reply_key)
{
	uint64_t dir;

	if (get_ino(op, op_key, &dir) != 0)
		return;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->dir[i] == dir)
			return;
	ls->dir[ls->n] = dir;
	ls->key[ls->n] = reply_key;
	ls->n++;
}

static void leases_leave(struct master *m, const struct lease_set *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		dir_lease_leave(m->dir_leases, ls->dir[i], ls->how[i]);
}

/* Enter the leases of the directories change "mu" (op "op") touches:
 * the session of the request, if it names one and asks ("dir_lease"),
 * takes or renews them; anyone else waits out a lease another holds.
 * Where it may not wait ("can_wait" false), false when it would have
 * to, with none of them entered. */
static bool leases_enter(struct master *m, const struct mutation *mu,
			 const json_t *op, const json_t *body,
			 struct lease_set *ls, bool can_wait)
{
	json_t *v = json_object_get(body, "session");
	uint64_t session = 0;
	bool want = json_is_true(json_object_get(body, "dir_lease"));

	ls->n = 0;
	if (mu == &mu_extend)
		return true;
	if (json_is_integer(v) && json_integer_value(v) > 0)
		session = (uint64_t)json_integer_value(v);
	lease_add(ls, op, "parent", "parent_attr");
	if (mu == &mu_rename)
		lease_add(ls, op, "newparent", "newparent_attr");
	if (mu == &mu_mkdir)
		lease_add(ls, op, "ino", NULL);
	for (size_t i = 0; i < ls->n; i++) {
		if (can_wait)
			ls->how[i] = dir_lease_enter(m->dir_leases, ls->dir[i],
						     session, want);
		else if (!dir_lease_try_enter(m->dir_leases, ls->dir[i],
					      session, want, &ls->how[i])) {
			ls->n = i;
			leases_leave(m, ls);
			return false;
		}
	}
	return true;
}

/* Tell the client the leases it holds from this change, in the attrs
 * of their directories ("lease_ms", counted from its request). */
static void leases_reply(const struct lease_set *ls, json_t *res)
{
	json_t *attrs;

	for (size_t i = 0; ls != NULL && i < ls->n; i++) {
		if (ls->how[i] != DIR_LEASE_RENEWED)
			continue;
		attrs = ls->key[i] != NULL ? json_object_get(res, ls->key[i])
					   : res;
		if (json_is_object(attrs))
			json_object_set_new(attrs, "lease_ms",
					    json_integer(DIR_LEASE_CLIENT_MS));
	}
}

/* Add "time": now to an op. */
static void op_set_time(json_t *op)
{
	struct timespec now = time_now_ts();

	json_object_set_new(op, "time", proto_time_to_json(&now));
}

/* Submit an op and answer with its result. */
static void submit_and_reply(struct http_request *req, struct master *m,
			     json_t *op, const char *what,
			     const struct lease_set *ls)
{
	json_t *res = NULL;
	int r;

	if ((r = oplog_submit(m->oplog, op, &res)) != 0) {
		reply_errno(req, r, what);
		return;
	}
	leases_reply(ls, res);
	http_reply_json(req, 200, res);
}

bool client_srv_defer_commit(struct http_request *req, struct master *m)
{
	if (http_request_can_wait(req) || !oplog_syncs_each_commit(m->oplog))
		return false;
	http_request_defer(req);
	return true;
}

static void handle_mutation(struct http_request *req, struct master *m,
			    const struct mutation *mu)
{
	const struct field *f;
	struct lease_set ls;
	json_t *body, *op, *v;
	size_t i;
	int r;

	if (client_srv_defer_commit(req, m))
		return;
	if ((body = http_request_json(req)) == NULL)
		return;
	op = json_pack("{s:s}", "op", mu->op);
	for (i = 0; i < 6 && mu->fields[i].key != NULL; i++) {
		f = &mu->fields[i];
		if ((r = check_field(body, f)) != 0) {
			http_reply_error(req, wire_status_from_errno(r),
					 "invalid field '%s'", f->key);
			goto out;
		}
		if ((v = json_object_get(body, f->key)) != NULL)
			json_object_set(op, f->op_key ? f->op_key : f->key, v);
	}
	/* A number a deferred request reserved is skipped, nothing more. */
	if (mu->new_ino)
		json_object_set_new(op, "ino",
				    json_integer((json_int_t)ns_reserve_ino(
					    m->ns)));
	/* A file losing its last name stays while open (open_files.h). */
	if (mu == &mu_unlink || mu == &mu_rename)
		json_object_set_new(op, "orphan", json_true());
	/* Before the time: a change that waited is made at its end. */
	if (!leases_enter(m, mu, op, body, &ls, http_request_can_wait(req))) {
		http_request_defer(req);
		goto out;
	}
	op_set_time(op);
	if (mu == &mu_create)
		create_and_reply(req, m, op, body, &ls);
	else
		submit_and_reply(req, m, op, mu->op, &ls);
	leases_leave(m, &ls);
out:
	json_decref(op);
	json_decref(body);
}

static void handle_create(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_create);
}

static void handle_mkdir(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_mkdir);
}

static void handle_symlink(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_symlink);
}

static void handle_link(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_link);
}

static void handle_unlink(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_unlink);
}

static void handle_rmdir(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_rmdir);
}

static void handle_rename(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_rename);
}

static void handle_extend(struct http_request *req, void *arg)
{
	handle_mutation(req, arg, &mu_extend);
}

/* Setattr fields: the "valid" bit naming each and how to check it. */
static const struct setattr_field {
	unsigned bit;
	const char *key;
	enum field_kind kind;   /* F_U32, F_U64, or F_NAME for a time pair */
} setattr_fields[] = {
	{ PROTO_SET_MODE, "mode", F_U32 },
	{ PROTO_SET_UID, "uid", F_U32 },
	{ PROTO_SET_GID, "gid", F_U32 },
	{ PROTO_SET_SIZE, "size", F_U64 },
	{ PROTO_SET_EXTEND, "extend", F_U64 },
	{ PROTO_SET_ATIME, "atime", F_NAME },
	{ PROTO_SET_MTIME, "mtime", F_NAME },
};

#define SETATTR_ALL_BITS 0x1ffu

/* Check the fields "valid" names and copy them into the op. */
static int setattr_copy(const json_t *body, uint32_t valid, json_t *op)
{
	const struct setattr_field *f;
	struct timespec ts;
	size_t i;
	int r;

	for (i = 0; i < sizeof(setattr_fields) / sizeof(*f); i++) {
		f = &setattr_fields[i];
		if (!(valid & f->bit))
			continue;
		if (f->kind == F_NAME)
			r = proto_time_from_json(json_object_get(body, f->key),
						 &ts);
		else
			r = check_field(body, &(struct field){ f->key, NULL,
							       f->kind });
		if (r != 0)
			return r;
		json_object_set(op, f->key, json_object_get(body, f->key));
	}
	return 0;
}

static void handle_setattr(struct http_request *req, void *arg)
{
	struct master *m = arg;
	json_t *body, *op = NULL;
	uint32_t valid;
	uint64_t ino;
	int r;

	if (client_srv_defer_commit(req, m))
		return;
	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = get_ino(body, "ino", &ino)) != 0 ||
	    (r = proto_get_u32(body, "valid", &valid)) != 0 ||
	    (valid & ~SETATTR_ALL_BITS) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'ino' or 'valid'");
		goto out;
	}
	op = json_pack("{s:s, s:I, s:I}", "op", "setattr", "ino",
		       (json_int_t)ino, "valid", (json_int_t)valid);
	if ((r = setattr_copy(body, valid, op)) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid setattr field");
		goto out;
	}
	op_set_time(op);
	submit_and_reply(req, m, op, "setattr", NULL);
out:
	json_decref(op);
	json_decref(body);
}

/* Borrow a reader; on failure answer IO and return NULL. */
static struct ns_reader *reader_or_reply(struct http_request *req,
					 struct master *m)
{
	struct ns_reader *rd = ns_reader_get(m->ns);

	if (rd == NULL)
		http_reply_error(req, DFS_ERR_IO, "metadata database unavailable");
	return rd;
}

/* Answer with the text a writer holds, taking it over. */
static void reply_written(struct http_request *req, struct json_writer *w)
{
	size_t len;
	char *text = json_writer_take(w, &len);

	http_reply_buffer(req, 200, text, len, "application/json");
}

/* Answer an attr read result. */
static void reply_attr_result(struct http_request *req, int r,
			      const struct dfs_attr *attr, const char *what)
{
	struct json_writer w;

	if (r != 0) {
		reply_errno(req, r, what);
		return;
	}
	json_writer_init(&w, 256);
	proto_attr_write(&w, attr);
	reply_written(req, &w);
}

static void handle_lookup(struct http_request *req, void *arg)
{
	struct ns_reader *rd = NULL;
	struct dfs_attr attr;
	uint64_t parent;
	const char *name;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = get_ino(body, "parent", &parent)) != 0 ||
	    (r = proto_get_name(body, "name", &name)) != 0) {
		http_reply_error(req, wire_status_from_errno(r),
				 "invalid 'parent' or 'name'");
		goto out;
	}
	if ((rd = reader_or_reply(req, arg)) == NULL)
		goto out;
	r = ns_lookup(rd, parent, name, &attr);
	reply_attr_result(req, r, &attr, "lookup");
out:
	ns_reader_put(rd);
	json_decref(body);
}

static void handle_getattr(struct http_request *req, void *arg)
{
	struct ns_reader *rd = NULL;
	struct dfs_attr attr;
	json_t *body;
	uint64_t ino;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (get_ino(body, "ino", &ino) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'ino'");
		goto out;
	}
	if ((rd = reader_or_reply(req, arg)) == NULL)
		goto out;
	r = ns_getattr(rd, ino, &attr);
	reply_attr_result(req, r, &attr, "getattr");
out:
	ns_reader_put(rd);
	json_decref(body);
}

static void handle_resolve(struct http_request *req, void *arg)
{
	struct ns_reader *rd = NULL;
	struct dfs_attr attr;
	const char *path;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (proto_get_str(body, "path", DFS_PATH_MAX, &path) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'path'");
		goto out;
	}
	if ((rd = reader_or_reply(req, arg)) == NULL)
		goto out;
	r = ns_resolve(rd, path, &attr);
	reply_attr_result(req, r, &attr, "resolve");
out:
	ns_reader_put(rd);
	json_decref(body);
}

/* {"name", "cookie", "attr"} of one entry into a readdir reply. */
static int readdir_entry(const char *name, uint64_t cookie,
			 const struct dfs_attr *attr, void *arg)
{
	struct json_writer *w = arg;

	json_writer_open_object(w);
	json_writer_key(w, "name");
	json_writer_string(w, name);
	json_writer_key(w, "cookie");
	json_writer_uint(w, cookie);
	json_writer_key(w, "attr");
	proto_attr_write(w, attr);
	json_writer_close_object(w);
	return 0;
}

static void handle_readdir(struct http_request *req, void *arg)
{
	uint64_t ino, cookie = 0, max = READDIR_MAX;
	struct ns_reader *rd = NULL;
	struct json_writer w;
	bool eof = false;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (get_ino(body, "ino", &ino) != 0 ||
	    proto_opt_u64(body, "cookie", NS_MAX_ID, &cookie) != 0 ||
	    proto_opt_u64(body, "max", NS_MAX_ID, &max) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid readdir request");
		goto out;
	}
	if (max == 0 || max > READDIR_MAX)
		max = READDIR_MAX;
	if ((rd = reader_or_reply(req, arg)) == NULL)
		goto out;
	json_writer_init(&w, READDIR_REPLY_HINT);
	json_writer_open_object(&w);
	json_writer_key(&w, "entries");
	json_writer_open_array(&w);
	r = ns_readdir(rd, ino, cookie, (unsigned)max, readdir_entry, &w,
		       &eof);
	json_writer_close_array(&w);
	json_writer_key(&w, "eof");
	json_writer_bool(&w, eof);
	json_writer_close_object(&w);
	if (r != 0)
		reply_errno(req, r, "readdir");
	else
		reply_written(req, &w);
	json_writer_free(&w);
out:
	ns_reader_put(rd);
	json_decref(body);
}

static void handle_readlink(struct http_request *req, void *arg)
{
	struct ns_reader *rd = NULL;
	char *target = NULL;
	json_t *body;
	uint64_t ino;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (get_ino(body, "ino", &ino) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'ino'");
		goto out;
	}
	if ((rd = reader_or_reply(req, arg)) == NULL)
		goto out;
	if ((r = ns_readlink(rd, ino, &target)) != 0)
		reply_errno(req, r, "readlink");
	else
		http_reply_json(req, 200, json_pack("{s:s}", "target", target));
out:
	free(target);
	ns_reader_put(rd);
	json_decref(body);
}

/* Capacity figures summed over live servers. */
struct capacity {
	uint64_t capacity, used, free;
	size_t nservers, nalive;
};

static void sum_capacity(struct master *m, struct capacity *c)
{
	struct chunk_srv_info *v;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->nservers = chunk_srv_list(m->cs, &v);
	for (i = 0; i < c->nservers; i++) {
		if (!v[i].alive)
			continue;
		c->nalive++;
		c->capacity += v[i].capacity;
		c->used += v[i].used;
		if (v[i].capacity > v[i].used)
			c->free += v[i].capacity - v[i].used;
	}
	free(v);
}

/* EP_SYNC: answers once every metadata commit so far is on disk. */
static void handle_sync(struct http_request *req, void *arg)
{
	struct master *m = arg;
	int r;

	if ((r = oplog_sync(m->oplog)) != 0) {
		reply_errno(req, r, "sync");
		return;
	}
	http_reply_json(req, 200, json_object());
}

static void handle_statfs(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct ns_reader *rd;
	struct ns_counts counts;
	struct capacity cap;
	int r;

	if ((rd = reader_or_reply(req, m)) == NULL)
		return;
	r = ns_count(rd, &counts);
	ns_reader_put(rd);
	if (r != 0) {
		reply_errno(req, r, "statfs");
		return;
	}
	sum_capacity(m, &cap);
	http_reply_json(req, 200,
			json_pack("{s:I, s:I, s:I, s:I, s:I}", "capacity",
				  (json_int_t)cap.capacity, "used",
				  (json_int_t)cap.used, "free",
				  (json_int_t)cap.free, "files",
				  (json_int_t)counts.inodes, "chunk_size",
				  (json_int_t)ns_chunk_size(m->ns)));
}

/* Keep only the replicas on live servers, in order. */
static void keep_live(struct master *m, struct dfs_chunk *c)
{
	int i, n = 0;

	for (i = 0; i < c->nreplicas; i++) {
		if (!chunk_srv_is_alive(m->cs, c->replicas[i]))
			continue;
		if (n != i)
			memcpy(c->replicas[n], c->replicas[i], DFS_ADDR_MAX);
		n++;
	}
	c->nreplicas = n;
}

/* A parsed EP_CHUNKS request. */
struct chunks_req {
	uint64_t ino;
	uint64_t index;
	uint64_t count;
	bool write;
	/* Attributes of the file. */
	struct dfs_attr attr;
	/* Replicas of chunk "index" that failed the client ("failed"). */
	char failed[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	int nfailed;
	/* Handles this request allocated: their first lease needs no new
	 * version (no replica exists yet). */
	uint64_t fresh[CHUNKS_MAX];
	size_t nfresh;
	/* Length of a new lease; 0: the lease table's. */
	int64_t lease_ms;
};

/* The optional "failed": ["addr", ...] of a write request. */
static int parse_failed(const json_t *body, struct chunks_req *cr)
{
	const json_t *arr = json_object_get(body, "failed"), *v;
	size_t i;

	cr->nfailed = 0;
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > DFS_MAX_REPLICAS)
		return -EINVAL;
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v) ||
		    json_string_length(v) >= DFS_ADDR_MAX ||
		    !proto_addr_is_valid(json_string_value(v)))
			return -EINVAL;
		memcpy(cr->failed[cr->nfailed++], json_string_value(v),
		       json_string_length(v) + 1);
	}
	return 0;
}

static int parse_chunks_req(const json_t *body, uint64_t chunk_size,
			    struct chunks_req *cr)
{
	uint64_t max_index = NS_MAX_FILE_SIZE / chunk_size;
	int r;

	cr->write = false;
	cr->nfresh = 0;
	if ((r = get_ino(body, "ino", &cr->ino)) != 0 ||
	    (r = proto_get_u64(body, "index", NS_MAX_ID, &cr->index)) != 0 ||
	    (r = proto_get_u64(body, "count", NS_MAX_ID, &cr->count)) != 0 ||
	    (r = proto_opt_bool(body, "write", &cr->write)) != 0 ||
	    (r = parse_failed(body, cr)) != 0)
		return r;
	if (cr->count > CHUNKS_MAX)
		cr->count = CHUNKS_MAX;
	if (cr->index > max_index) {
		if (cr->write)
			return -EFBIG;
		cr->count = 0;
	} else if (cr->count > max_index - cr->index + 1) {
		cr->count = max_index - cr->index + 1;
	}
	return 0;
}

/* Which chunks of a request already exist. */
struct have_ctx {
	uint64_t first;
	bool have[CHUNKS_MAX];
};

static int mark_have(const struct dfs_chunk *c, void *arg)
{
	struct have_ctx *h = arg;

	h->have[c->index - h->first] = true;
	return 0;
}

/* Choose servers and a handle for chunk "idx"; append it to "chunks". */
static int place_chunk(struct master *m, struct chunks_req *cr, uint64_t idx,
		       json_t *chunks)
{
	char addrs[DFS_MAX_REPLICAS][DFS_ADDR_MAX];
	unsigned want = cr->attr.replication;
	uint64_t handle;
	json_t *reps;
	int i, n;

	if (want < 1 || want > DFS_MAX_REPLICAS)
		want = want < 1 ? 1 : DFS_MAX_REPLICAS;
	n = chunk_srv_pick(m->cs, want, ns_chunk_size(m->ns), addrs);
	if ((unsigned)n < want && chunk_srv_settling(m->cs))
		return -EAGAIN;
	if (n == 0) {
		log_warnx("no live chunkserver with room for chunk %" PRIu64
			  " of inode %" PRIu64,
			  idx, cr->ino);
		return -ENOSPC;
	}
	if ((unsigned)n < want)
		log_debug("chunk %" PRIu64 " of inode %" PRIu64
			  " placed on %d of %u servers",
			  idx, cr->ino, n, want);
	reps = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(reps, json_string(addrs[i]));
	handle = ns_reserve_handle(m->ns);
	chunk_srv_note_placed(m->cs, addrs, n, handle);
	if (cr->nfresh < CHUNKS_MAX)
		cr->fresh[cr->nfresh++] = handle;
	json_array_append_new(chunks,
			      json_pack("{s:I, s:I, s:o}", "index",
					(json_int_t)idx, "handle",
					(json_int_t)handle, "replicas", reps));
	return 0;
}

/* Allocate the chunks of the request that do not exist yet. */
static int alloc_missing(struct master *m, struct chunks_req *cr)
{
	struct have_ctx *h;
	struct ns_reader *rd;
	json_t *chunks, *op = NULL;
	uint64_t i;
	int r;

	h = xcalloc(1, sizeof(*h));
	h->first = cr->index;
	chunks = json_array();
	if ((rd = ns_reader_get(m->ns)) == NULL) {
		r = -EIO;
		goto out;
	}
	r = ns_chunks(rd, cr->ino, cr->index, cr->count, mark_have, h);
	ns_reader_put(rd);
	for (i = 0; r == 0 && i < cr->count; i++)
		if (!h->have[i])
			r = place_chunk(m, cr, cr->index + i, chunks);
	if (r != 0 || json_array_size(chunks) == 0)
		goto out;
	op = json_pack("{s:s, s:I, s:O}", "op", "alloc_chunks", "ino",
		       (json_int_t)cr->ino, "chunks", chunks);
	r = oplog_submit(m->oplog, op, NULL);
out:
	json_decref(op);
	json_decref(chunks);
	free(h);
	return r;
}

/* Building an EP_CHUNKS reply. */
struct chunks_reply {
	struct master *m;
	const struct chunks_req *req;
	json_t *arr;
	int64_t now;
};

/* True if the request allocated chunk "handle". */
static bool is_fresh(const struct chunks_req *req, uint64_t handle)
{
	size_t i;

	for (i = 0; i < req->nfresh; i++)
		if (req->fresh[i] == handle)
			return true;
	return false;
}

/* Remove the replicas the client saw fail from c, unless that would
 * leave none. Returns how many went. */
static int drop_failed(const struct chunks_req *req, struct dfs_chunk *c)
{
	int i, j, n = 0, nfailed = 0;

	for (i = 0; i < c->nreplicas; i++)
		for (j = 0; j < req->nfailed; j++)
			nfailed += strcmp(c->replicas[i], req->failed[j]) == 0;
	if (nfailed == 0 || nfailed >= c->nreplicas)
		return 0;
	for (i = 0; i < c->nreplicas; i++) {
		for (j = 0; j < req->nfailed; j++)
			if (strcmp(c->replicas[i], req->failed[j]) == 0)
				break;
		if (j < req->nfailed) {
			log_info("chunk %016" PRIx64 ": dropping replica '%s' "
				 "that failed a client",
				 c->handle, c->replicas[i]);
			continue;
		}
		memmove(c->replicas[n++], c->replicas[i], DFS_ADDR_MAX);
	}
	c->nreplicas = n;
	return nfailed;
}

/* True while the master is settling and a replica row of c names a
 * server that has not registered again yet (it would be dropped). */
static bool waits_for_servers(struct master *m, const struct dfs_chunk *c)
{
	int i;

	if (!chunk_srv_settling(m->cs))
		return false;
	for (i = 0; i < c->nreplicas; i++)
		if (!chunk_srv_is_alive(m->cs, c->replicas[i]))
			return true;
	return false;
}

/* Read chunk "handle" as it is now. */
static int chunk_now(struct master *m, uint64_t handle, struct dfs_chunk *c)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	r = ns_chunk_get(rd, handle, c, NULL);
	ns_reader_put(rd);
	return r;
}

/*
 * The lease of chunk c, whose rows *c holds (the caller holds its grant
 * lock): the valid lease over its live replicas, else a new one with a
 * new version (none for a chunk this request allocated). "drop" asks to
 * drop the replicas the client saw fail first. On success *c carries
 * the lease, primary first.
 *
 * A new lease goes to replica handle % n. The primary receives the
 * client's bytes and sends them on to the others, so it does about
 * three times a secondary's network work; handles are given out in
 * sequence, so this spreads that work evenly over a file's chunks and
 * over the servers. (Replica rows come out of the database in address
 * order: always taking the first made the lowest address the primary
 * of every chunk it holds.)
 */
static int lease_over(struct master *m, const struct chunks_req *req,
		      struct dfs_chunk *c, bool drop, int64_t now)
{
	int64_t expiry;
	int i, dropped = 0, r;

	if (waits_for_servers(m, c))
		return -EAGAIN;
	keep_live(m, c);
	if (drop)
		dropped = drop_failed(req, c);
	if (c->nreplicas == 0) {
		log_warnx("no live replica of chunk %016" PRIx64
			  " for a write",
			  c->handle);
		return -EAGAIN;
	}
	i = dropped ? -1
		    : leases_find(m->leases, c->handle,
				  (const char(*)[DFS_ADDR_MAX])c->replicas,
				  c->nreplicas, now, &expiry);
	if (i < 0) {
		if ((dropped || !is_fresh(req, c->handle)) &&
		    (r = versions_bump(m, c)) != 0)
			return r;
		i = (int)(c->handle % (uint64_t)c->nreplicas);
		expiry = leases_grant_for(
			m->leases, c->handle,
			(const char(*)[DFS_ADDR_MAX])c->replicas, c->nreplicas,
			i, now, req->lease_ms);
	}
	if (i != 0) {
		char tmp[DFS_ADDR_MAX];

		memcpy(tmp, c->replicas[0], DFS_ADDR_MAX);
		memcpy(c->replicas[0], c->replicas[i], DFS_ADDR_MAX);
		memcpy(c->replicas[i], tmp, DFS_ADDR_MAX);
	}
	memcpy(c->primary, c->replicas[0], DFS_ADDR_MAX);
	c->lease_ms = expiry;
	return 0;
}

/* lease_over() of chunk c->handle as its rows read now. */
static int lease_locked(struct master *m, const struct chunks_req *req,
			struct dfs_chunk *c, bool drop, int64_t now)
{
	int r;

	if ((r = chunk_now(m, c->handle, c)) != 0)
		return r;
	return lease_over(m, req, c, drop, now);
}

/* Give chunk c a write lease (see lease_over()). */
static int lease_chunk(struct master *m, const struct chunks_req *req,
		       struct dfs_chunk *c, int64_t now)
{
	bool drop = c->index == req->index && req->nfailed > 0;
	uint64_t handle = c->handle;
	int r;

	leases_lock(m->leases, handle);
	r = lease_locked(m, req, c, drop, now);
	leases_unlock(m->leases, handle);
	return r;
}

static int emit_chunk(const struct dfs_chunk *c, void *arg)
{
	struct chunks_reply *cr = arg;
	struct dfs_chunk out = *c;
	int r;

	if (cr->req->write) {
		if ((r = lease_chunk(cr->m, cr->req, &out, cr->now)) != 0)
			return r;
		out.index = c->index;
	} else {
		keep_live(cr->m, &out);
	}
	if ((r = secure_token_make(out.handle,
				   cr->req->write ? AUTH_TOKEN_READ |
							    AUTH_TOKEN_WRITE
						  : AUTH_TOKEN_READ,
				   SECURE_TOKEN_TTL_MS, out.token)) != 0)
		return r;
	json_array_append_new(cr->arr, proto_chunk_to_json(&out));
	return 0;
}

/* Check the file, allocate if writing, and list the chunks. */
static int chunks_run(struct master *m, struct chunks_req *req, json_t *arr)
{
	struct chunks_reply cr = { m, req, arr, time_now_ms() };
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if ((r = ns_getattr(rd, req->ino, &req->attr)) == 0 &&
	    !S_ISREG(req->attr.mode))
		r = S_ISDIR(req->attr.mode) ? -EISDIR : -EINVAL;
	if (r == 0 && req->write && req->count > 0) {
		ns_reader_put(rd);
		rd = NULL;
		if ((r = alloc_missing(m, req)) != 0)
			return r;
		if ((rd = ns_reader_get(m->ns)) == NULL)
			return -EIO;
	}
	if (r == 0 && req->count > 0)
		r = ns_chunks(rd, req->ino, req->index, req->count, emit_chunk,
			      &cr);
	ns_reader_put(rd);
	return r;
}

/* Replica addresses in the order SQLite's BINARY collation gives. */
static int addr_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The rows chunk "handle", placed on "replicas", has once a create
 * committed it: version 1, replicas in address order as ns_chunk_get()
 * reads them (the lease's primary is picked by position). */
static void placed_rows(uint64_t handle, const json_t *replicas,
			struct dfs_chunk *c)
{
	const json_t *v;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->handle = handle;
	c->version = 1;
	json_array_foreach (replicas, i, v)
		if (c->nreplicas < DFS_MAX_REPLICAS && json_is_string(v))
			snprintf(c->replicas[c->nreplicas++], DFS_ADDR_MAX,
				 "%s", json_string_value(v));
	qsort(c->replicas, (size_t)c->nreplicas, DFS_ADDR_MAX, addr_cmp);
}

/*
 * EP_CREATE "chunk": true: the writer of the new file asks for its chunk
 * 0 too. It is placed here, allocated by the create op itself and leased
 * with the answer, which saves the writer's EP_CHUNKS call: a master
 * round trip and a commit per small file. A chunk that is never written
 * goes as any unwritten allocation does (its rows are never confirmed,
 * chunk_report.c) and reads as zeros meanwhile; its lease is short
 * (CREATE_LEASE_MS), so that such a chunk of an empty file or of a hole
 * goes about 20 s after the create rather than 70. A file that cannot
 * get one now (no servers, settling) is created without it. Sets
 * *placed to the rows of the chunk placed (handle 0 if none).
 */
static int create_place_chunk(struct master *m, const json_t *body,
			      json_t *op, struct dfs_chunk *placed)
{
	struct chunks_req cr = { .index = 0 };
	bool want = false;
	uint64_t parent;
	json_t *chunks;
	uint32_t mode;
	int r;

	placed->handle = 0;
	if ((r = proto_opt_bool(body, "chunk", &want)) != 0)
		return r;
	if (!want || proto_get_u32(body, "mode", &mode) != 0 ||
	    ((mode & S_IFMT) != 0 && (mode & S_IFMT) != S_IFREG) ||
	    get_ino(body, "parent", &parent) != 0 ||
	    get_ino(op, "ino", &cr.ino) != 0)
		return 0;
	/* place_chunk() needs the factor the file inherits. */
	if (ns_dir_replication(m->ns, parent, &cr.attr.replication) != 0)
		return 0;
	chunks = json_array();
	if (place_chunk(m, &cr, 0, chunks) == 0) {
		json_object_set(op, "chunks", chunks);
		placed_rows(cr.fresh[0],
			    json_object_get(json_array_get(chunks, 0),
					    "replicas"),
			    placed);
	}
	json_decref(chunks);
	return 0;
}

/* The write lease of chunk *c that a create allocated and committed,
 * into the create's result "res" (nothing on failure: the writer asks
 * later). The create's own rows: no read of them back. */
static void create_lease_chunk(struct master *m, uint64_t ino,
			       struct dfs_chunk *c, json_t *res)
{
	struct chunks_req cr = { .ino = ino, .count = 1, .write = true,
				 .nfresh = 1, .lease_ms = CREATE_LEASE_MS };
	int r;

	cr.fresh[0] = c->handle;
	leases_lock(m->leases, c->handle);
	r = lease_over(m, &cr, c, false, time_now_ms());
	leases_unlock(m->leases, c->handle);
	if (r != 0 ||
	    secure_token_make(c->handle, AUTH_TOKEN_READ | AUTH_TOKEN_WRITE,
			      SECURE_TOKEN_TTL_MS, c->token) != 0)
		return;
	json_object_set_new(res, "chunk_size",
			    json_integer((json_int_t)ns_chunk_size(m->ns)));
	json_object_set_new(res, "chunks",
			    json_pack("[o]", proto_chunk_to_json(c)));
}

static void create_and_reply(struct http_request *req, struct master *m,
			     json_t *op, const json_t *body,
			     const struct lease_set *ls)
{
	struct dfs_chunk placed;
	json_t *res = NULL;
	uint64_t ino;
	int r;

	if ((r = create_place_chunk(m, body, op, &placed)) != 0) {
		http_reply_error(req, wire_status_from_errno(r),
				 "invalid field 'chunk'");
		return;
	}
	if ((r = open_files_create(m, op, body, &res)) != 0) {
		reply_errno(req, r, "create");
		return;
	}
	if (placed.handle != 0 && get_ino(res, "ino", &ino) == 0)
		create_lease_chunk(m, ino, &placed, res);
	leases_reply(ls, res);
	http_reply_json(req, 200, res);
}

int client_srv_read_locations(struct master *m, uint64_t ino,
			      uint64_t count, json_t **chunks)
{
	struct chunks_req cr = { .ino = ino, .index = 0, .count = count };
	json_t *arr = json_array();
	int r;

	if (cr.count > CHUNKS_MAX)
		cr.count = CHUNKS_MAX;
	if ((r = chunks_run(m, &cr, arr)) != 0) {
		json_decref(arr);
		return r;
	}
	*chunks = arr;
	return 0;
}

static void handle_chunks(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct chunks_req cr;
	json_t *body, *arr = NULL;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = parse_chunks_req(body, ns_chunk_size(m->ns), &cr)) != 0) {
		http_reply_error(req, wire_status_from_errno(r),
				 "invalid chunks request");
		goto out;
	}
	arr = json_array();
	if ((r = chunks_run(m, &cr, arr)) != 0) {
		reply_errno(req, r, "chunks");
		goto out;
	}
	http_reply_json(req, 200,
			json_pack("{s:I, s:O}", "chunk_size",
				  (json_int_t)ns_chunk_size(m->ns), "chunks",
				  arr));
out:
	json_decref(arr);
	json_decref(body);
}

/* Building a `dfs stat` reply. */
struct stat_ctx {
	struct master *m;
	uint64_t size;
	uint64_t chunk_size;
	json_t *arr;
};

static int stat_chunk(const struct dfs_chunk *c, void *arg)
{
	struct stat_ctx *s = arg;
	struct dfs_chunk live = *c;
	uint64_t start, len = 0;
	json_t *reps;
	int i;

	keep_live(s->m, &live);
	reps = json_array();
	for (i = 0; i < live.nreplicas; i++)
		json_array_append_new(reps, json_string(live.replicas[i]));
	start = c->index * s->chunk_size;
	if (start < s->size)
		len = s->size - start < s->chunk_size ? s->size - start
						      : s->chunk_size;
	json_array_append_new(
		s->arr,
		json_pack("{s:I, s:I, s:I, s:I, s:o}", "index",
			  (json_int_t)c->index, "handle", (json_int_t)c->handle,
			  "version", (json_int_t)c->version, "size",
			  (json_int_t)len, "replicas", reps));
	return 0;
}

/* Resolve a path and list its chunks into s->arr. */
static int stat_run(struct master *m, const char *path, struct dfs_attr *attr,
		    struct stat_ctx *s)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if ((r = ns_read_begin(rd)) == 0 &&
	    (r = ns_resolve(rd, path, attr)) == 0 && S_ISREG(attr->mode)) {
		s->size = attr->size;
		r = ns_chunks(rd, attr->ino, 0, NS_MAX_ID, stat_chunk, s);
	}
	ns_reader_put(rd);
	return r;
}

static void handle_stat(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct stat_ctx s = { .m = m };
	struct dfs_attr attr;
	const char *path;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (proto_get_str(body, "path", DFS_PATH_MAX, &path) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'path'");
		goto out;
	}
	s.chunk_size = ns_chunk_size(m->ns);
	s.arr = json_array();
	if ((r = stat_run(m, path, &attr, &s)) != 0) {
		reply_errno(req, r, "stat");
		goto out;
	}
	http_reply_json(req, 200,
			json_pack("{s:s, s:I, s:I, s:O}", "path", path, "size",
				  (json_int_t)attr.size, "replication",
				  (json_int_t)attr.replication, "chunks",
				  s.arr));
out:
	json_decref(s.arr);
	json_decref(body);
}

/* Health figures over every chunk. */
struct health {
	struct master *m;
	uint64_t under_replicated;
	uint64_t missing;
};

static int count_health(uint64_t handle, uint32_t replication,
			const char *const *addrs, int naddrs, void *arg)
{
	struct health *h = arg;
	uint32_t live = 0;
	int i;

	(void)handle;
	for (i = 0; i < naddrs; i++)
		if (chunk_srv_is_alive(h->m->cs, addrs[i]))
			live++;
	if (live == 0)
		h->missing++;
	if (live < replication)
		h->under_replicated++;
	return 0;
}

/* Replica rows per server, matched to a chunk_srv_list() snapshot. */
struct server_counts {
	const struct chunk_srv_info *v;
	size_t n;
	uint64_t *chunks;
};

static int count_server(const char *addr, const char *rack,
			uint64_t nreplicas, void *arg)
{
	struct server_counts *sc = arg;
	size_t i;

	(void)rack;
	for (i = 0; i < sc->n; i++)
		if (strcmp(sc->v[i].addr, addr) == 0)
			sc->chunks[i] = nreplicas;
	return 0;
}

static json_t *servers_json(const struct server_counts *sc)
{
	const struct chunk_srv_info *s;
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < sc->n; i++) {
		s = &sc->v[i];
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, "
				       "s:s}",
				       "addr", s->addr, "rack", s->rack,
				       "alive", s->alive, "chunks",
				       (json_int_t)sc->chunks[i], "capacity",
				       (json_int_t)s->capacity, "used",
				       (json_int_t)s->used, "pending_deletes",
				       (json_int_t)s->deletes, "state",
				       chunk_srv_state_name(s->state)));
	}
	return arr;
}

/* The `dfs status --json` object; NULL and *err on failure. *missing,
 * if not NULL, receives the chunks with no live replica. */
static json_t *status_json(struct master *m, int *err, uint64_t *missing)
{
	struct chunk_srv_info *v = NULL;
	struct server_counts sc = { 0 };
	struct health h = { .m = m };
	struct ns_counts counts;
	struct ns_reader *rd;
	json_t *obj = NULL;
	int r;

	sc.n = chunk_srv_list(m->cs, &v);
	sc.v = v;
	sc.chunks = xcalloc(sc.n + 1, sizeof(*sc.chunks));
	if ((rd = ns_reader_get(m->ns)) == NULL) {
		r = -EIO;
		goto out;
	}
	if ((r = ns_read_begin(rd)) == 0 && (r = ns_count(rd, &counts)) == 0 &&
	    (r = ns_servers(rd, count_server, &sc)) == 0)
		r = ns_foreach_chunk(rd, count_health, &h);
	ns_reader_put(rd);
	if (r != 0)
		goto out;
	obj = json_pack("{s:o, s:I, s:I, s:I}", "chunkservers",
			servers_json(&sc), "files", (json_int_t)counts.files,
			"chunks", (json_int_t)counts.chunks,
			"under_replicated", (json_int_t)h.under_replicated);
	if (missing != NULL)
		*missing = h.missing;
out:
	*err = r;
	free(sc.chunks);
	free(v);
	return obj;
}

json_t *client_srv_status(struct master *m, int *err, uint64_t *missing)
{
	return status_json(m, err, missing);
}

static void handle_status(struct http_request *req, void *arg)
{
	json_t *obj;
	int r;

	if ((obj = status_json(arg, &r, NULL)) == NULL)
		reply_errno(req, r, "status");
	else
		http_reply_json(req, 200, obj);
}

/* Append one line to a growing text. */
static char *text_add(char *text, const char *line)
{
	char *t = xasprintf("%s%s\n", text, line);

	free(text);
	return t;
}

/* Plain-text status page from the status object. */
static char *status_text(struct master *m, const json_t *st,
			 uint64_t missing)
{
	char *text = xstrdup(""), *line;
	struct replicator_stats rs;
	struct oplog_stats os;
	json_t *s;
	size_t i;

	line = xasprintf("dfs master on %s, chunk size %" PRIu64
			 "\nfiles %" JSON_INTEGER_FORMAT
			 ", chunks %" JSON_INTEGER_FORMAT
			 ", under-replicated %" JSON_INTEGER_FORMAT
			 ", missing %" PRIu64,
			 m->addr, ns_chunk_size(m->ns),
			 json_integer_value(json_object_get(st, "files")),
			 json_integer_value(json_object_get(st, "chunks")),
			 json_integer_value(
				 json_object_get(st, "under_replicated")),
			 missing);
	text = text_add(text, line);
	free(line);
	oplog_get_stats(m->oplog, &os);
	line = xasprintf("metadata ops %" PRIu64 " (%" PRIu64
			 " failed) in %" PRIu64 " commits, %" PRIu64 " syncs",
			 os.ops, os.failed, os.batches, os.syncs);
	text = text_add(text, line);
	free(line);
	replicator_get_stats(m->repl, &rs);
	line = xasprintf("re-replication: %" PRIu64 " copies running, %" PRIu64
			 " done, %" PRIu64 " failed; %" PRIu64
			 " excess replicas removed; %" PRIu64
			 " corrupt copies set aside",
			 rs.running, rs.copied, rs.failed, rs.trimmed,
			 rs.corrupt);
	text = text_add(text, line);
	free(line);
	text = text_add(text, "\nchunkservers:");
	json_array_foreach (json_object_get(st, "chunkservers"), i, s) {
		line = xasprintf(
			"  %-24s rack '%s' %-5s chunks %" JSON_INTEGER_FORMAT
			" used %" JSON_INTEGER_FORMAT
			" of %" JSON_INTEGER_FORMAT,
			json_string_value(json_object_get(s, "addr")),
			json_string_value(json_object_get(s, "rack")),
			json_is_true(json_object_get(s, "alive")) ? "alive"
								  : "dead",
			json_integer_value(json_object_get(s, "chunks")),
			json_integer_value(json_object_get(s, "used")),
			json_integer_value(json_object_get(s, "capacity")));
		text = text_add(text, line);
		free(line);
	}
	return text;
}

static void handle_root(struct http_request *req, void *arg)
{
	struct master *m = arg;
	uint64_t missing = 0;
	json_t *st;
	char *text;
	int r;

	if ((st = status_json(m, &r, &missing)) == NULL) {
		reply_errno(req, r, "status");
		return;
	}
	text = status_text(m, st, missing);
	http_reply_text(req, 200, "text/plain; charset=utf-8", text);
	free(text);
	json_decref(st);
}

const struct http_route client_srv_routes[] = {
	{ "GET", "/status.txt", handle_root, 0, 0 },
	{ "POST", EP_LOOKUP, handle_lookup, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_GETATTR, handle_getattr, CLIENT_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_SETATTR, handle_setattr, CLIENT_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_EXTEND, handle_extend, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_READDIR, handle_readdir, CLIENT_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_CREATE, handle_create, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_MKDIR, handle_mkdir, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_SYMLINK, handle_symlink, CLIENT_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_READLINK, handle_readlink, CLIENT_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_LINK, handle_link, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_UNLINK, handle_unlink, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_RMDIR, handle_rmdir, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_RENAME, handle_rename, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_STATFS, handle_statfs, CLIENT_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_SYNC, handle_sync, CLIENT_MAX_BODY, 0 },
	{ "POST", EP_RESOLVE, handle_resolve, CLIENT_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_CHUNKS, handle_chunks, CLIENT_MAX_BODY, 0 },
	{ "POST", EP_STAT, handle_stat, CLIENT_MAX_BODY, 0 },
	{ "POST", EP_FSCK, fsck_handle, CLIENT_MAX_BODY, 0 },
	{ "GET", EP_STATUS, handle_status, 0, 0 },
	{ "POST", EP_STATUS, handle_status, CLIENT_MAX_BODY, 0 },
};
const size_t client_srv_nroutes =
	sizeof(client_srv_routes) / sizeof(client_srv_routes[0]);
