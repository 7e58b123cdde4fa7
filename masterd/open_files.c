/*
 * open_files.c - client sessions, holds of open files, the orphan reaper
 * and record appends (see open_files.h).
 *
 * THREAD SAFETY: "lock" guards the session tree, every session's hold
 * tree, the global hold and doomed trees, npending, kicked and stop.
 * Database reads made under the lock are single getattrs (EP_OPEN);
 * commits (oplog) are always made without it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client_srv.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "ns_files.h"
#include "open_files.h"
#include "oplog.h"
#include "proto.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* Period of the reaper thread (orphans, session expiry). */
#define REAP_INTERVAL_MS 100

/* Orphans deleted by one reap op, at most. */
#define REAP_BATCH 1000

/* Largest EP_SESSION body (a mount registering many open files). */
#define SESSION_MAX_BODY (16 * 1024 * 1024)

/* Most chunk locations an EP_OPEN reply carries. */
#define OPEN_LOCATIONS_MAX 16

/* Largest body of EP_OPEN and EP_APPEND. */
#define SMALL_MAX_BODY (64 * 1024)

/* Holds of one inode (by one session, or by all of them). */
struct hold {
	uint64_t ino;
	uint64_t count;
};

/* A client session. */
struct session {
	uint64_t id;
	/* Monotonic time after which the session ends. */
	int64_t expires_ms;
	/* Its holds are known (registered with this master process);
	 * false for a session loaded from the database at start. */
	bool live;
	/* tsearch tree of struct hold. */
	void *holds;
};

struct open_files {
	struct master *m;       /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* wakes the reaper (monotonic clock) */
	void *sessions;         /* tsearch tree of struct session */
	void *held;             /* struct hold per inode, all sessions */
	void *doomed;           /* struct hold per orphan being deleted */
	size_t npending;        /* sessions that are not live */
	bool kicked;            /* the reaper should look now */
	bool stop;
	pthread_t thread;
	bool started;
};

static int hold_cmp(const void *a, const void *b)
{
	const struct hold *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int session_cmp(const void *a, const void *b)
{
	const struct session *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Holds of "ino" in tree *root (0 if none). */
static uint64_t hold_count(void *const *root, uint64_t ino)
{
	struct hold key = { .ino = ino }, **h;

	h = tfind(&key, root, hold_cmp);
	return h != NULL ? (*h)->count : 0;
}

/* Add n holds of "ino" to tree *root. */
static void hold_add(void **root, uint64_t ino, uint64_t n)
{
	struct hold key = { .ino = ino }, *h, **slot;

	slot = tsearch(&key, root, hold_cmp);
	if (slot == NULL)
		fatalx("out of memory in the open file table");
	if (*slot == &key) {
		h = xcalloc(1, sizeof(*h));
		h->ino = ino;
		*slot = h;
	}
	(*slot)->count += n;
}

/* Remove up to n holds of "ino" from tree *root; returns how many went. */
static uint64_t hold_sub(void **root, uint64_t ino, uint64_t n)
{
	struct hold key = { .ino = ino }, **slot, *h;

	slot = tfind(&key, root, hold_cmp);
	if (slot == NULL)
		return 0;
	h = *slot;
	if (n > h->count)
		n = h->count;
	h->count -= n;
	if (h->count == 0) {
		tdelete(h, root, hold_cmp);
		free(h);
	}
	return n;
}

/* twalk_r() callback: take a session's holds off the global tree. */
static void unhold_one(const void *node, VISIT which, void *arg)
{
	const struct hold *h = *(const struct hold *const *)node;
	struct open_files *of = arg;

	if (which == postorder || which == leaf)
		hold_sub(&of->held, h->ino, h->count);
}

/* Drop every hold of session s; lock held. */
static void session_clear(struct open_files *of, struct session *s)
{
	twalk_r(s->holds, unhold_one, of);
	tdestroy(s->holds, free);
	s->holds = NULL;
}

static struct session *session_find(struct open_files *of, uint64_t id)
{
	struct session key = { .id = id }, **s;

	s = tfind(&key, &of->sessions, session_cmp);
	return s != NULL ? *s : NULL;
}

/* Session "id", created (not live, expiring after the timeout) if
 * absent; lock held. */
static struct session *session_get(struct open_files *of, uint64_t id)
{
	struct session *s = session_find(of, id);

	if (s != NULL)
		return s;
	s = xcalloc(1, sizeof(*s));
	s->id = id;
	s->expires_ms = time_mono_ms() + OPEN_FILES_TIMEOUT_MS;
	if (tsearch(s, &of->sessions, session_cmp) == NULL)
		fatalx("out of memory in the session table");
	of->npending++;
	return s;
}

/* Forget session s and its holds; lock held. */
static void session_remove(struct open_files *of, struct session *s)
{
	session_clear(of, s);
	if (!s->live)
		of->npending--;
	tdelete(s, &of->sessions, session_cmp);
	free(s);
}

/* Wake the reaper; lock held. */
static void kick(struct open_files *of)
{
	of->kicked = true;
	pthread_cond_signal(&of->cond);
}

/* Submit a session_add / session_del op. */
static int record_session(struct master *m, uint64_t id, bool add)
{
	struct timespec now = time_now_ts();
	json_t *op;
	int r;

	if (add)
		op = json_pack("{s:s, s:I, s:o}", "op", "session_add",
			       "session", (json_int_t)id, "time",
			       proto_time_to_json(&now));
	else
		op = json_pack("{s:s, s:[I]}", "op", "session_del",
			       "sessions", (json_int_t)id);
	r = oplog_submit(m->oplog, op, NULL);
	json_decref(op);
	return r;
}

/* Answer a negative errno as its wire error. */
static void reply_errno(struct http_request *req, int r, const char *what)
{
	http_reply_error(req, wire_status_from_errno(r), "%s: %s", what,
			 strerror(-r));
}

/* An id or inode number field: 1 .. NS_MAX_ID. */
static int get_id(const json_t *obj, const char *key, uint64_t *out)
{
	int r;

	if ((r = proto_get_u64(obj, key, NS_MAX_ID, out)) != 0)
		return r;
	return *out == 0 ? -EINVAL : 0;
}

/* Attrs of "ino" for session s, taking a hold on a regular file; lock
 * held. */
static int open_locked(struct open_files *of, struct session *s,
		       uint64_t ino, struct dfs_attr *attr)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(of->m->ns)) == NULL)
		return -EIO;
	r = ns_getattr(rd, ino, attr);
	ns_reader_put(rd);
	if (r != 0 || !S_ISREG(attr->mode))
		return r;
	if (attr->nlink == 0 && hold_count(&of->doomed, ino) > 0)
		return -ENOENT;
	hold_add(&s->holds, ino, 1);
	hold_add(&of->held, ino, 1);
	s->expires_ms = time_mono_ms() + OPEN_FILES_TIMEOUT_MS;
	return 0;
}

/*
 * The EP_OPEN reply: the attrs and, when asked ("chunks": N), where the
 * file's first chunks are, which saves the reader its first EP_CHUNKS.
 * Locations that cannot be had are left out: the client asks later.
 */
static json_t *open_reply(struct master *m, const json_t *body,
			  const struct dfs_attr *attr)
{
	json_t *reply = proto_attr_to_json(attr), *chunks;
	uint64_t count = 0;

	if (reply == NULL || !S_ISREG(attr->mode) ||
	    proto_get_u64(body, "chunks", UINT64_MAX, &count) != 0 ||
	    count == 0)
		return reply;
	if (count > OPEN_LOCATIONS_MAX)
		count = OPEN_LOCATIONS_MAX;
	if (client_srv_read_locations(m, attr->ino, count, &chunks) == 0) {
		json_object_set_new(reply, "chunk_size",
				    json_integer((json_int_t)ns_chunk_size(
					    m->ns)));
		json_object_set_new(reply, "chunks", chunks);
	}
	return reply;
}

static void handle_open(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct open_files *of = m->files;
	struct dfs_attr attr;
	struct session *s;
	uint64_t ino, id;
	json_t *body;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (get_id(body, "ino", &ino) != 0 ||
	    get_id(body, "session", &id) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid open request");
		goto out;
	}
	pthread_mutex_lock(&of->lock);
	s = session_find(of, id);
	r = s != NULL && s->live ? open_locked(of, s, ino, &attr) : -ESTALE;
	pthread_mutex_unlock(&of->lock);
	if (r == -ESTALE)
		http_reply_error(req, DFS_ERR_STALE,
				 "session %016" PRIx64 " unknown: register it",
				 id);
	else if (r != 0)
		reply_errno(req, r, "open");
	else
		http_reply_json(req, 200, open_reply(m, body, &attr));
out:
	json_decref(body);
}

int open_files_create(struct master *m, const json_t *op,
		      const json_t *body, json_t **res)
{
	struct open_files *of = m->files;
	struct session *s;
	uint64_t id = 0, ino;
	int r;

	*res = NULL;
	if (json_object_get(body, "session") != NULL &&
	    get_id(body, "session", &id) != 0)
		return -EINVAL;
	if ((r = oplog_submit(m->oplog, op, res)) != 0)
		return r;
	/* No window: an orphan is kept for OPEN_FILES_GRACE_MS anyway. */
	pthread_mutex_lock(&of->lock);
	s = id != 0 ? session_find(of, id) : NULL;
	if (s != NULL && s->live &&
	    proto_get_u64(*res, "ino", NS_MAX_ID, &ino) == 0) {
		hold_add(&s->holds, ino, 1);
		hold_add(&of->held, ino, 1);
		json_object_set_new(*res, "held", json_true());
	}
	pthread_mutex_unlock(&of->lock);
	return 0;
}

/* A parsed EP_SESSION request (arrays borrowed from the body). */
struct session_req {
	uint64_t id;
	const json_t *opens;    /* [[ino, count], ...] or NULL */
	const json_t *closes;   /* [ino, ...] or NULL */
	bool end;
};

/* True if v is [ino, count] with both in range. */
static bool is_open_pair(const json_t *v)
{
	const json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);

	return json_is_array(v) && json_array_size(v) == 2 &&
	       json_is_integer(a) && json_integer_value(a) > 0 &&
	       json_is_integer(b) && json_integer_value(b) > 0;
}

static int parse_session_req(const json_t *body, struct session_req *sr)
{
	const json_t *v;
	size_t i;
	int r;

	memset(sr, 0, sizeof(*sr));
	if ((r = get_id(body, "session", &sr->id)) != 0 ||
	    (r = proto_opt_bool(body, "end", &sr->end)) != 0)
		return r;
	sr->opens = json_object_get(body, "opens");
	sr->closes = json_object_get(body, "closes");
	if ((sr->opens != NULL && !json_is_array(sr->opens)) ||
	    (sr->closes != NULL && !json_is_array(sr->closes)))
		return -EINVAL;
	json_array_foreach (sr->opens, i, v)
		if (!is_open_pair(v))
			return -EINVAL;
	json_array_foreach (sr->closes, i, v)
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return -EINVAL;
	return 0;
}

/* EP_SESSION "opens": the session's holds become exactly that table. */
static int session_register(struct open_files *of,
			    const struct session_req *sr)
{
	struct session *s;
	const json_t *v;
	uint64_t ino, n;
	size_t i;
	bool known;
	int r;

	pthread_mutex_lock(&of->lock);
	known = session_find(of, sr->id) != NULL;
	pthread_mutex_unlock(&of->lock);
	if (!known && (r = record_session(of->m, sr->id, true)) != 0)
		return r;
	pthread_mutex_lock(&of->lock);
	s = session_get(of, sr->id);
	session_clear(of, s);
	if (!s->live) {
		s->live = true;
		of->npending--;
	}
	json_array_foreach (sr->opens, i, v) {
		ino = (uint64_t)json_integer_value(json_array_get(v, 0));
		n = (uint64_t)json_integer_value(json_array_get(v, 1));
		hold_add(&s->holds, ino, n);
		hold_add(&of->held, ino, n);
	}
	s->expires_ms = time_mono_ms() + OPEN_FILES_TIMEOUT_MS;
	kick(of);
	pthread_mutex_unlock(&of->lock);
	log_info("session %016" PRIx64 " registered with %zu open files",
		 sr->id, json_array_size(sr->opens));
	return 0;
}

/* EP_SESSION without "opens": renew and apply "closes". Sets *known. */
static void session_renew(struct open_files *of, const struct session_req *sr,
			  bool *known)
{
	struct session *s;
	const json_t *v;
	uint64_t ino;
	size_t i;

	pthread_mutex_lock(&of->lock);
	s = session_find(of, sr->id);
	*known = s != NULL && s->live;
	if (*known) {
		s->expires_ms = time_mono_ms() + OPEN_FILES_TIMEOUT_MS;
		json_array_foreach (sr->closes, i, v) {
			ino = (uint64_t)json_integer_value(v);
			if (hold_sub(&s->holds, ino, 1) > 0)
				hold_sub(&of->held, ino, 1);
		}
		if (json_array_size(sr->closes) > 0)
			kick(of);
	}
	pthread_mutex_unlock(&of->lock);
}

/* EP_SESSION "end": forget the session (an unmount). */
static int session_end(struct open_files *of, uint64_t id)
{
	struct session *s;
	bool found;

	pthread_mutex_lock(&of->lock);
	s = session_find(of, id);
	found = s != NULL;
	if (found) {
		session_remove(of, s);
		kick(of);
	}
	pthread_mutex_unlock(&of->lock);
	if (found)
		log_info("session %016" PRIx64 " ended", id);
	return found ? record_session(of->m, id, false) : 0;
}

static void handle_session(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct session_req sr;
	bool known = true;
	json_t *body;
	int r = 0;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (parse_session_req(body, &sr) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid session request");
		goto out;
	}
	if (sr.end)
		r = session_end(m->files, sr.id);
	else if (sr.opens != NULL)
		r = session_register(m->files, &sr);
	else
		session_renew(m->files, &sr, &known);
	if (r != 0) {
		reply_errno(req, r, "session");
		goto out;
	}
	http_reply_json(req, 200,
			json_pack("{s:b, s:i, s:i}", "known", known, "renew_ms",
				  OPEN_FILES_RENEW_MS, "timeout_ms",
				  OPEN_FILES_TIMEOUT_MS));
out:
	json_decref(body);
}

static void handle_append(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct timespec now = time_now_ts();
	json_t *body, *op = NULL, *res = NULL;
	uint64_t ino, len;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (get_id(body, "ino", &ino) != 0 ||
	    proto_get_u64(body, "length", NS_APPEND_MAX, &len) != 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid append request");
		goto out;
	}
	op = json_pack("{s:s, s:I, s:I, s:o}", "op", "append", "ino",
		       (json_int_t)ino, "length", (json_int_t)len, "time",
		       proto_time_to_json(&now));
	if ((r = oplog_submit(m->oplog, op, &res)) != 0)
		reply_errno(req, r, "append");
	else
		http_reply_json(req, 200, res);
out:
	json_decref(op);
	json_decref(body);
}

/* Expired sessions gathered by a walk of the session tree. */
struct expiry {
	int64_t now;
	uint64_t ids[REAP_BATCH];
	size_t n;
};

static void expiry_visit(const void *node, VISIT which, void *arg)
{
	const struct session *s = *(const struct session *const *)node;
	struct expiry *e = arg;

	if ((which == postorder || which == leaf) && s->expires_ms <= e->now &&
	    e->n < REAP_BATCH)
		e->ids[e->n++] = s->id;
}

/* End the sessions whose lease ran out (a crashed or cut-off mount)
 * and forget them in the database too. */
static void expire_sessions(struct open_files *of)
{
	struct expiry *e = xcalloc(1, sizeof(*e));
	struct session *s;
	json_t *op, *ids;
	size_t i;

	e->now = time_mono_ms();
	pthread_mutex_lock(&of->lock);
	twalk_r(of->sessions, expiry_visit, e);
	for (i = 0; i < e->n; i++) {
		if ((s = session_find(of, e->ids[i])) == NULL)
			continue;
		log_info("session %016" PRIx64 " expired%s; its open files "
			 "are released", s->id,
			 s->live ? "" : " (not registered since the start)");
		session_remove(of, s);
	}
	pthread_mutex_unlock(&of->lock);
	if (e->n > 0) {
		ids = json_array();
		for (i = 0; i < e->n; i++)
			json_array_append_new(
				ids, json_integer((json_int_t)e->ids[i]));
		op = json_pack("{s:s, s:o}", "op", "session_del", "sessions",
			       ids);
		if (oplog_submit(of->m->oplog, op, NULL) != 0)
			log_warnx("cannot forget %zu expired sessions", e->n);
		json_decref(op);
	}
	free(e);
}

/* Orphans found by ns_orphans(). */
struct orphan_list {
	uint64_t inos[REAP_BATCH];
	size_t n;
};

static int orphan_collect(uint64_t ino, void *arg)
{
	struct orphan_list *l = arg;

	l->inos[l->n++] = ino;
	return 0;
}

/*
 * Delete the orphans nobody holds (one reap op). Returns true if the
 * batch was full (more may be waiting). Nothing is deleted while a
 * session loaded at start has not registered its open files again.
 */
static bool reap_orphans(struct open_files *of)
{
	struct orphan_list *l = xcalloc(1, sizeof(*l));
	struct timespec before = time_now_ts();
	struct ns_reader *rd;
	json_t *inos = NULL, *op;
	bool full = false;
	size_t i;
	int r;

	pthread_mutex_lock(&of->lock);
	r = of->npending > 0 ? -EAGAIN : 0;
	pthread_mutex_unlock(&of->lock);
	if (r != 0 || (rd = ns_reader_get(of->m->ns)) == NULL)
		goto out;
	before.tv_sec -= OPEN_FILES_GRACE_MS / 1000;
	r = ns_orphans(rd, REAP_BATCH, &before, orphan_collect, l);
	ns_reader_put(rd);
	if (r != 0 || l->n == 0)
		goto out;
	full = l->n == REAP_BATCH;
	inos = json_array();
	/* Doomed from here on: EP_OPEN refuses them. */
	pthread_mutex_lock(&of->lock);
	for (i = 0; i < l->n; i++) {
		if (hold_count(&of->held, l->inos[i]) > 0)
			continue;
		hold_add(&of->doomed, l->inos[i], 1);
		json_array_append_new(inos,
				      json_integer((json_int_t)l->inos[i]));
	}
	pthread_mutex_unlock(&of->lock);
	if (json_array_size(inos) == 0)
		goto out;
	op = json_pack("{s:s, s:O}", "op", "reap", "inos", inos);
	if ((r = oplog_submit(of->m->oplog, op, NULL)) != 0)
		log_warnx("cannot delete %zu unused orphans: %s",
			  json_array_size(inos), strerror(-r));
	else
		log_debug("deleted %zu orphans", json_array_size(inos));
	json_decref(op);
	pthread_mutex_lock(&of->lock);
	json_array_foreach (inos, i, op)
		hold_sub(&of->doomed, (uint64_t)json_integer_value(op), 1);
	pthread_mutex_unlock(&of->lock);
out:
	json_decref(inos);
	free(l);
	return full && r == 0;
}

/* Sleep until kicked or for REAP_INTERVAL_MS; lock held. */
static void reaper_wait(struct open_files *of)
{
	struct timespec ts;

	if (of->kicked || of->stop)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += REAP_INTERVAL_MS * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&of->cond, &of->lock, &ts);
}

static void *reaper_main(void *arg)
{
	struct open_files *of = arg;
	bool more = false;

	pthread_mutex_lock(&of->lock);
	while (!of->stop) {
		if (!more)
			reaper_wait(of);
		of->kicked = false;
		if (of->stop)
			break;
		pthread_mutex_unlock(&of->lock);
		expire_sessions(of);
		more = reap_orphans(of);
		pthread_mutex_lock(&of->lock);
	}
	pthread_mutex_unlock(&of->lock);
	return NULL;
}

/* ns_sessions() callback: a session recorded before this start. */
static int load_session(uint64_t id, void *arg)
{
	session_get(arg, id);
	return 0;
}

static int load_sessions(struct open_files *of)
{
	struct ns_reader *rd;
	int r;

	if ((rd = ns_reader_get(of->m->ns)) == NULL)
		return -EIO;
	r = ns_sessions(rd, load_session, of);
	ns_reader_put(rd);
	if (r == 0 && of->npending > 0)
		log_info("%zu client sessions may hold files open: no orphan "
			 "is deleted until they register again (or expire)",
			 of->npending);
	return r;
}

int open_files_start(struct master *m)
{
	struct open_files *of = xcalloc(1, sizeof(*of));
	pthread_condattr_t ca;
	int r;

	of->m = m;
	pthread_mutex_init(&of->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&of->cond, &ca);
	pthread_condattr_destroy(&ca);
	m->files = of;
	if ((r = load_sessions(of)) != 0)
		goto fail;
	if ((r = pthread_create(&of->thread, NULL, reaper_main, of)) != 0) {
		log_errorx("cannot start the orphan reaper: %s", strerror(r));
		r = -r;
		goto fail;
	}
	of->started = true;
	return 0;
fail:
	open_files_stop(m);
	return r;
}

/* tdestroy() callback of the session tree. */
static void session_free(void *p)
{
	struct session *s = p;

	tdestroy(s->holds, free);
	free(s);
}

void open_files_stop(struct master *m)
{
	struct open_files *of = m->files;

	if (of == NULL)
		return;
	if (of->started) {
		pthread_mutex_lock(&of->lock);
		of->stop = true;
		pthread_cond_signal(&of->cond);
		pthread_mutex_unlock(&of->lock);
		pthread_join(of->thread, NULL);
	}
	tdestroy(of->sessions, session_free);
	tdestroy(of->held, free);
	tdestroy(of->doomed, free);
	pthread_cond_destroy(&of->cond);
	pthread_mutex_destroy(&of->lock);
	free(of);
	m->files = NULL;
}

const struct http_route open_files_routes[] = {
	{ "POST", EP_OPEN, handle_open, SMALL_MAX_BODY, HTTP_ROUTE_QUICK },
	{ "POST", EP_SESSION, handle_session, SESSION_MAX_BODY, 0 },
	{ "POST", EP_APPEND, handle_append, SMALL_MAX_BODY, 0 },
};
const size_t open_files_nroutes =
	sizeof(open_files_routes) / sizeof(open_files_routes[0]);
