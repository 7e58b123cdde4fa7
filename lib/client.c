/*
 * client.c - struct dfs_client and the namespace calls of dfs_client.h.
 *
 * Every namespace call is one JSON request to the master (rpc_call over
 * the client's shared HTTP pool). Requests that were never sent (the
 * master is restarting) are retried; idempotent ones are retried after any
 * transport error too. The cluster's chunk size is asked once and kept.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client_int.h"
#include "dfs_client.h"
#include "http_client.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

#define DEFAULT_MASTER "127.0.0.1:9000"

/* Entries asked per EP_READDIR call (the master caps it at 1,000). */
#define READDIR_PAGE 1000

struct dfs_client {
	struct http_client *hc;         /* connection pool, thread-safe */
	char master[DFS_ADDR_MAX];      /* "host:port" of the master */
	pthread_mutex_t lock;           /* guards chunk_size */
	uint64_t chunk_size;            /* 0 until known */
	struct client_session *session; /* open-file holds, or NULL; set
					 * and cleared while no other
					 * thread uses the client */
	struct client_prefetch *prefetch; /* locations sent with opens */
	struct client_local *local;     /* short-circuit local reads */
	bool dir_leases;                /* ask for leases of directories'
					 * names with changes (set once,
					 * before use) */
};

struct dfs_client *dfs_client_new(const char *master_addr)
{
	struct dfs_client *c = xcalloc(1, sizeof(*c));
	struct http_client_opts opts = {
		.connect_timeout_ms = 3000,
		.timeout_ms = 60000,
	};

	c->hc = http_client_new(&opts);
	c->prefetch = client_prefetch_new();
	c->local = client_local_new();
	snprintf(c->master, sizeof(c->master), "%s", master_addr);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void dfs_client_free(struct dfs_client *c)
{
	if (c == NULL)
		return;
	dfs_session_end(c);
	http_client_free(c->hc);
	client_prefetch_free(c->prefetch);
	client_local_free(c->local);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *dfs_client_master(const struct dfs_client *c)
{
	return c->master;
}

const char *dfs_default_master(void)
{
	const char *env = getenv("DFS_MASTER");

	return env != NULL && *env != '\0' ? env : DEFAULT_MASTER;
}

struct client_local *client_local_of(struct dfs_client *c)
{
	return c->local;
}

int dfs_chunk_read_local(struct dfs_client *c, const struct dfs_chunk *ch,
			 uint64_t off, void *buf, size_t len)
{
	char bad[DFS_ADDR_MAX];

	return client_local_read(c->local, ch, off, buf, len, bad);
}

struct http_client *client_http(struct dfs_client *c)
{
	return c->hc;
}

struct client_prefetch *client_prefetch_of(struct dfs_client *c)
{
	return c->prefetch;
}

struct client_session *client_get_session(struct dfs_client *c)
{
	return c->session;
}

void client_set_session(struct dfs_client *c, struct client_session *s)
{
	c->session = s;
}

void dfs_client_want_dir_leases(struct dfs_client *c)
{
	c->dir_leases = true;
}

void client_add_lease_request(struct dfs_client *c, json_t *req)
{
	uint64_t id = client_session_id(c);

	if (!c->dir_leases || id == 0 || req == NULL)
		return;
	json_object_set_new(req, "session", json_integer((json_int_t)id));
	json_object_set_new(req, "dir_lease", json_true());
}

void client_retry_init(struct client_retry *rt, int64_t budget_ms)
{
	rt->start_ms = time_mono_ms();
	rt->budget_ms = budget_ms;
	rt->attempt = 0;
}

bool client_retry_wait(struct client_retry *rt)
{
	int64_t pause_ms, left_ms;
	struct timespec ts;

	left_ms = rt->start_ms + rt->budget_ms - time_mono_ms();
	if (left_ms <= 0)
		return false;
	/* First retry at once (a refresh usually fixes it), then 20 ms
	 * doubling up to one second (20 << 6 is past it: no wider shift). */
	if (rt->attempt == 0)
		pause_ms = 0;
	else if (rt->attempt <= 6)
		pause_ms = 20LL << (rt->attempt - 1);
	else
		pause_ms = 1000;
	if (pause_ms > 1000)
		pause_ms = 1000;
	if (pause_ms > left_ms)
		pause_ms = left_ms;
	rt->attempt++;
	ts.tv_sec = pause_ms / 1000;
	ts.tv_nsec = (pause_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return true;
}

bool client_error_is_transient(int r, int wire)
{
	if (r == 0)
		return false;
	if (wire < 0)
		return true;
	switch (wire) {
	case DFS_ERR_NOENT:
	case DFS_ERR_STALE:
	case DFS_ERR_DOWNSTREAM:
	case DFS_ERR_AGAIN:
	case DFS_ERR_IO:
	case DFS_ERR_CORRUPT:
		return true;
	default:
		return false;
	}
}

/* May a master call that failed with r (wire code "wire", -1: none)
 * go again? A refused connection always may (nothing was sent). */
static bool master_call_retryable(int r, int wire, bool idempotent)
{
	if (wire >= 0)
		return wire == DFS_ERR_AGAIN;
	return r == -ECONNREFUSED || idempotent;
}

int client_master_call(struct dfs_client *c, const char *ep, json_t *req,
		       json_t **reply, bool idempotent)
{
	struct client_retry rt;
	int r, wire;

	client_retry_init(&rt, CLIENT_RETRY_MS);
	for (;;) {
		r = rpc_call(c->hc, c->master, ep, req, reply, &wire);
		if (r == 0 || !master_call_retryable(r, wire, idempotent) ||
		    !client_retry_wait(&rt))
			break;
		log_debug("retrying '%s' on master '%s': %s", ep, c->master,
			  strerror(-r));
	}
	return r;
}

struct client_pending {
	struct dfs_client *c;
	const char *ep;
	json_t *req;
	bool idempotent;
	struct rpc_pending *first;     /* the first attempt, in flight */
};

struct client_pending *client_master_begin(struct dfs_client *c,
					   const char *ep, json_t *req,
					   bool idempotent)
{
	struct client_pending *p = xmalloc(sizeof(*p));

	*p = (struct client_pending){.c = c, .ep = ep, .req = req,
				     .idempotent = idempotent};
	if (req != NULL)
		p->first = rpc_send(c->hc, c->master, ep, req);
	return p;
}

int client_master_end(struct client_pending *p, json_t **reply)
{
	int r = -EINVAL, wire = -1;

	if (reply != NULL)
		*reply = NULL;
	if (p->first != NULL) {
		r = rpc_receive(p->first, reply, &wire);
		if (r != 0 && master_call_retryable(r, wire, p->idempotent)) {
			log_debug("retrying '%s' on master '%s': %s", p->ep,
				  p->c->master, strerror(-r));
			r = client_master_call(p->c, p->ep, p->req, reply,
					       p->idempotent);
		}
	}
	json_decref(p->req);
	free(p);
	return r;
}

void client_note_chunk_size(struct dfs_client *c, uint64_t chunk_size)
{
	if (chunk_size == 0)
		return;
	pthread_mutex_lock(&c->lock);
	c->chunk_size = chunk_size;
	pthread_mutex_unlock(&c->lock);
}

int client_chunk_size(struct dfs_client *c, uint64_t *chunk_size)
{
	struct dfs_statfs st;
	int r;

	pthread_mutex_lock(&c->lock);
	*chunk_size = c->chunk_size;
	pthread_mutex_unlock(&c->lock);
	if (*chunk_size != 0)
		return 0;
	if ((r = dfs_statfs(c, &st)) != 0)
		return r;
	if (st.chunk_size == 0)
		return -EPROTO;
	client_note_chunk_size(c, st.chunk_size);
	*chunk_size = st.chunk_size;
	return 0;
}

void client_reply_attr(const json_t *reply, const char *key,
		       struct dfs_attr *out)
{
	const json_t *v;

	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if ((v = json_object_get(reply, key)) == NULL)
		return;
	if (proto_attr_from_json(v, out) != 0) {
		log_warnx("ignoring malformed '%s' in a master reply", key);
		memset(out, 0, sizeof(*out));
	}
}

/* Send "req" (stolen; NULL means it could not be built: -EINVAL) and
 * decode an attr reply into *attr and its "parent_attr" into *dir, each
 * if not NULL. */
static int call_attr(struct dfs_client *c, const char *ep, json_t *req,
		     struct dfs_attr *attr, struct dfs_attr *dir,
		     bool idempotent)
{
	json_t *reply = NULL;
	struct dfs_attr tmp;
	int r;

	if (req == NULL) {
		r = -EINVAL;
		goto out;
	}
	client_add_lease_request(c, req);
	if ((r = client_master_call(c, ep, req, &reply, idempotent)) != 0)
		goto out;
	if ((r = proto_attr_from_json(reply, attr != NULL ? attr : &tmp)) != 0)
		goto out;
	client_reply_attr(reply, "parent_attr", dir);
	r = 0;
out:
	json_decref(reply);
	json_decref(req);
	return r;
}

/* Decode the reply of EP_UNLINK, EP_RMDIR or EP_RENAME. */
static void change_from_json(const json_t *reply, struct dfs_ns_change *chg)
{
	json_int_t ino;

	ino = json_integer_value(json_object_get(reply, "ino"));
	chg->ino = ino > 0 ? (uint64_t)ino : 0;
	ino = json_integer_value(json_object_get(reply, "target_ino"));
	chg->target_ino = ino > 0 ? (uint64_t)ino : 0;
	client_reply_attr(reply, "parent_attr", &chg->dir);
	client_reply_attr(reply, "newparent_attr", &chg->newdir);
	client_reply_attr(reply, "attr", &chg->attr);
	client_reply_attr(reply, "target_attr", &chg->target);
}

/* As call_attr() for EP_UNLINK, EP_RMDIR and EP_RENAME: *chg (if not
 * NULL) receives what the change did. */
static int call_change(struct dfs_client *c, const char *ep, json_t *req,
		       struct dfs_ns_change *chg)
{
	json_t *reply = NULL;
	int r;

	if (req == NULL)
		return -EINVAL;
	client_add_lease_request(c, req);
	r = client_master_call(c, ep, req, chg != NULL ? &reply : NULL,
			       false);
	if (r == 0 && chg != NULL)
		change_from_json(reply, chg);
	json_decref(reply);
	json_decref(req);
	return r;
}

int dfs_lookup(struct dfs_client *c, uint64_t parent, const char *name,
	       struct dfs_attr *attr)
{
	return call_attr(c, EP_LOOKUP,
			 json_pack("{s:I, s:s}", "parent", (json_int_t)parent,
				   "name", name),
			 attr, NULL, true);
}

int dfs_getattr(struct dfs_client *c, uint64_t ino, struct dfs_attr *attr)
{
	return call_attr(c, EP_GETATTR,
			 json_pack("{s:I}", "ino", (json_int_t)ino), attr,
			 NULL, true);
}

int dfs_resolve(struct dfs_client *c, const char *path, struct dfs_attr *attr)
{
	return call_attr(c, EP_RESOLVE, json_pack("{s:s}", "path", path), attr,
			 NULL, true);
}

/* The EP_EXTEND request; idempotent: it never shrinks and only moves
 * mtime forward. */
static json_t *extend_request(uint64_t ino, uint64_t size)
{
	return json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "size",
			 (json_int_t)size);
}

int client_extend(struct dfs_client *c, uint64_t ino, uint64_t size,
		  struct dfs_attr *attr)
{
	return call_attr(c, EP_EXTEND, extend_request(ino, size), attr, NULL,
			 true);
}

struct client_pending *client_extend_begin(struct dfs_client *c,
					   uint64_t ino, uint64_t size)
{
	return client_master_begin(c, EP_EXTEND, extend_request(ino, size),
				   true);
}

int client_attr_end(struct client_pending *p, struct dfs_attr *attr)
{
	json_t *reply = NULL;
	int r;

	if ((r = client_master_end(p, &reply)) == 0)
		r = proto_attr_from_json(reply, attr);
	json_decref(reply);
	return r;
}

int dfs_extend(struct dfs_client *c, uint64_t ino, uint64_t size,
	       struct dfs_attr *attr)
{
	return client_extend(c, ino, size, attr);
}

/* The EP_SETATTR request for "sa"; NULL if it cannot be built. */
static json_t *setattr_request(uint64_t ino, const struct dfs_setattr *sa)
{
	json_t *req = json_pack("{s:I, s:I}", "ino", (json_int_t)ino, "valid",
				(json_int_t)sa->valid);

	if (req == NULL)
		return NULL;
	if (sa->valid & PROTO_SET_MODE)
		json_object_set_new(req, "mode", json_integer(sa->mode));
	if (sa->valid & PROTO_SET_UID)
		json_object_set_new(req, "uid", json_integer(sa->uid));
	if (sa->valid & PROTO_SET_GID)
		json_object_set_new(req, "gid", json_integer(sa->gid));
	if (sa->valid & PROTO_SET_SIZE)
		json_object_set_new(req, "size",
				    json_integer((json_int_t)sa->size));
	if (sa->valid & PROTO_SET_EXTEND)
		json_object_set_new(req, "extend",
				    json_integer((json_int_t)sa->extend));
	if (sa->valid & PROTO_SET_ATIME)
		json_object_set_new(req, "atime",
				    proto_time_to_json(&sa->atime));
	if (sa->valid & PROTO_SET_MTIME)
		json_object_set_new(req, "mtime",
				    proto_time_to_json(&sa->mtime));
	return req;
}

/*
 * Before shrinking a file to a size inside a chunk, cut that chunk's
 * replicas at the new end, so that bytes past it read as zeros if the
 * file grows again. Chunks wholly past the end are the master's job.
 */
static int truncate_boundary(struct dfs_client *c, uint64_t ino,
			     uint64_t size)
{
	struct client_locs *locs = NULL;
	struct dfs_attr cur;
	uint64_t cs;
	int r;

	if ((r = client_chunk_size(c, &cs)) != 0)
		goto out;
	if (size % cs == 0)
		goto out;
	if ((r = dfs_getattr(c, ino, &cur)) != 0)
		goto out;
	if (!S_ISREG(cur.mode) || size >= cur.size)
		goto out;
	locs = client_locs_new(c, ino);
	if ((r = client_chunk_truncate(locs, size / cs, size % cs)) != 0)
		goto out;
	r = 0;
out:
	client_locs_free(locs);
	return r;
}

struct client_pending *client_setattr_begin(struct dfs_client *c,
					    uint64_t ino,
					    const struct dfs_setattr *sa)
{
	return client_master_begin(c, EP_SETATTR, setattr_request(ino, sa),
				   true);
}

int dfs_setattr(struct dfs_client *c, uint64_t ino,
		const struct dfs_setattr *sa, struct dfs_attr *attr)
{
	int r;

	if (sa->valid & PROTO_SET_SIZE) {
		/* Chunks sent with an open may be gone after this. */
		client_prefetch_drop(c->prefetch, ino);
		if ((r = truncate_boundary(c, ino, sa->size)) != 0) {
			log_warnx("truncating inode %llu to %llu: %s",
				  (unsigned long long)ino,
				  (unsigned long long)sa->size, strerror(-r));
			return r;
		}
	}
	return call_attr(c, EP_SETATTR, setattr_request(ino, sa), attr, NULL,
			 true);
}

int dfs_create(struct dfs_client *c, uint64_t parent, const char *name,
	       uint32_t mode, uint32_t uid, uint32_t gid,
	       struct dfs_attr *attr, struct dfs_attr *dir)
{
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	return dfs_mknod(c, parent, name, mode, 0, uid, gid, attr, dir);
}

int dfs_mknod(struct dfs_client *c, uint64_t parent, const char *name,
	      uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
	      struct dfs_attr *attr, struct dfs_attr *dir)
{
	return call_attr(c, EP_CREATE,
			 json_pack("{s:I, s:s, s:I, s:I, s:I, s:I}", "parent",
				   (json_int_t)parent, "name", name, "mode",
				   (json_int_t)mode, "uid", (json_int_t)uid,
				   "gid", (json_int_t)gid, "rdev",
				   (json_int_t)rdev),
			 attr, dir, false);
}

int dfs_mkdir(struct dfs_client *c, uint64_t parent, const char *name,
	      uint32_t mode, uint32_t uid, uint32_t gid,
	      struct dfs_attr *attr, struct dfs_attr *dir)
{
	return call_attr(c, EP_MKDIR,
			 json_pack("{s:I, s:s, s:I, s:I, s:I}", "parent",
				   (json_int_t)parent, "name", name, "mode",
				   (json_int_t)(mode | S_IFDIR), "uid",
				   (json_int_t)uid, "gid", (json_int_t)gid),
			 attr, dir, false);
}

int dfs_symlink(struct dfs_client *c, uint64_t parent, const char *name,
		const char *target, uint32_t uid, uint32_t gid,
		struct dfs_attr *attr, struct dfs_attr *dir)
{
	return call_attr(c, EP_SYMLINK,
			 json_pack("{s:I, s:s, s:s, s:I, s:I}", "parent",
				   (json_int_t)parent, "name", name, "target",
				   target, "uid", (json_int_t)uid, "gid",
				   (json_int_t)gid),
			 attr, dir, false);
}

int dfs_readlink(struct dfs_client *c, uint64_t ino, char *buf, size_t size)
{
	json_t *req, *reply = NULL;
	const char *target;
	int r;

	if ((req = json_pack("{s:I}", "ino", (json_int_t)ino)) == NULL)
		return -EINVAL;
	if ((r = client_master_call(c, EP_READLINK, req, &reply, true)) != 0)
		goto out;
	if ((r = proto_get_str(reply, "target", DFS_PATH_MAX, &target)) != 0)
		goto out;
	if (size > 0)
		snprintf(buf, size, "%s", target);
	r = 0;
out:
	json_decref(reply);
	json_decref(req);
	return r;
}

int dfs_link(struct dfs_client *c, uint64_t ino, uint64_t newparent,
	     const char *newname, struct dfs_attr *attr, struct dfs_attr *dir)
{
	return call_attr(c, EP_LINK,
			 json_pack("{s:I, s:I, s:s}", "ino", (json_int_t)ino,
				   "newparent", (json_int_t)newparent,
				   "newname", newname),
			 attr, dir, false);
}

int dfs_unlink(struct dfs_client *c, uint64_t parent, const char *name,
	       struct dfs_ns_change *chg)
{
	return call_change(c, EP_UNLINK,
			   json_pack("{s:I, s:s}", "parent",
				     (json_int_t)parent, "name", name),
			   chg);
}

int dfs_rmdir(struct dfs_client *c, uint64_t parent, const char *name,
	      struct dfs_ns_change *chg)
{
	return call_change(c, EP_RMDIR,
			   json_pack("{s:I, s:s}", "parent",
				     (json_int_t)parent, "name", name),
			   chg);
}

int dfs_rename(struct dfs_client *c, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags,
	       struct dfs_ns_change *chg)
{
	return call_change(c, EP_RENAME,
			   json_pack("{s:I, s:s, s:I, s:s, s:I}", "parent",
				     (json_int_t)parent, "name", name,
				     "newparent", (json_int_t)newparent,
				     "newname", newname, "flags",
				     (json_int_t)flags),
			   chg);
}

/* Hand every entry of one EP_READDIR reply page to fn. Returns 0 to go
 * on, 1 when fn stopped the listing, or a negative errno. */
static int readdir_page(const json_t *entries, dfs_readdir_fn fn, void *arg,
			uint64_t *cookie)
{
	struct dfs_dirent ent;
	const json_t *e, *a;
	size_t i;
	int r;

	json_array_foreach(entries, i, e) {
		if ((r = proto_get_str(e, "name", DFS_NAME_MAX, &ent.name)) ||
		    (r = proto_get_u64(e, "cookie", UINT64_MAX, &ent.cookie)))
			return r;
		a = json_object_get(e, "attr");
		if ((r = proto_attr_from_json(a, &ent.attr)) != 0)
			return r;
		*cookie = ent.cookie;
		if ((r = fn(&ent, arg)) != 0)
			return r < 0 ? r : 1;
	}
	return 0;
}

int dfs_readdir(struct dfs_client *c, uint64_t ino, uint64_t cookie,
		dfs_readdir_fn fn, void *arg)
{
	json_t *req = NULL, *reply = NULL, *entries;
	bool eof = false;
	int r = 0;

	while (!eof) {
		req = json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)ino,
				"cookie", (json_int_t)cookie, "max",
				(json_int_t)READDIR_PAGE);
		if (req == NULL) {
			r = -EINVAL;
			goto out;
		}
		if ((r = client_master_call(c, EP_READDIR, req, &reply,
					    true)) != 0)
			goto out;
		entries = json_object_get(reply, "entries");
		if (!json_is_array(entries) ||
		    (r = proto_get_bool(reply, "eof", &eof)) != 0) {
			r = -EPROTO;
			goto out;
		}
		if (json_array_size(entries) == 0 && !eof) {
			r = -EPROTO;
			goto out;
		}
		if ((r = readdir_page(entries, fn, arg, &cookie)) != 0)
			goto out;
		json_decref(req);
		json_decref(reply);
		req = reply = NULL;
	}
	r = 0;
out:
	json_decref(req);
	json_decref(reply);
	return r > 0 ? 0 : r;
}

int dfs_sync(struct dfs_client *c)
{
	json_t *reply = NULL;
	int r;

	/* Idempotent: a repeated sync only waits again. */
	r = client_master_call(c, EP_SYNC, NULL, &reply, true);
	json_decref(reply);
	return r;
}

int dfs_statfs(struct dfs_client *c, struct dfs_statfs *st)
{
	json_t *reply = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = client_master_call(c, EP_STATFS, NULL, &reply, true)) != 0)
		goto out;
	if ((r = proto_get_u64(reply, "capacity", UINT64_MAX,
			       &st->capacity)) ||
	    (r = proto_get_u64(reply, "used", UINT64_MAX, &st->used)) ||
	    (r = proto_get_u64(reply, "free", UINT64_MAX, &st->free)) ||
	    (r = proto_get_u64(reply, "files", UINT64_MAX, &st->files)) ||
	    (r = proto_get_u64(reply, "chunk_size", UINT64_MAX,
			       &st->chunk_size)))
		goto out;
	r = 0;
out:
	json_decref(reply);
	return r;
}
