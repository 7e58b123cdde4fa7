/*
 * client_session.c - the client session of a mount: holds on open files
 * (EP_OPEN, EP_SESSION of dfs_proto.h) so that a file unlinked or
 * renamed over anywhere stays usable through this client's open
 * descriptors until they close.
 *
 * The session keeps a table of how many opens of each inode went through
 * this client. dfs_open() takes a hold at the master with the open's
 * getattr (EP_OPEN); dfs_close() counts down and queues a release, which
 * the session thread sends in batches, within SESSION_CLOSE_DELAY_MS,
 * with the lease renewal of EP_SESSION (every "renew_ms" anyway). When the master does not know the
 * session (it restarted, or the lease ran out while it was unreachable),
 * the thread registers the whole table again.
 *
 * Exactness: the master's holds must never drop below the client's
 * table. Registration replaces the master's holds with the table, so no
 * EP_OPEN may be in flight meanwhile: EP_OPEN calls hold "reg_lock" for
 * reading, registration for writing. A batch of releases is sent once:
 * if its answer is lost, the thread registers again instead of repeating
 * it. "send_lock" lets one exchange with the master happen at a time.
 *
 * THREAD SAFETY: "lock" guards table, closes, need_register, stop and
 * renew_ms.
 */
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/rand.h>

#include "client_int.h"
#include "dfs_client.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* Renewal period until the master says otherwise, and the pause after a
 * failed exchange. */
#define SESSION_RENEW_MS 10000
#define SESSION_RETRY_MS 1000

/* Releases are sent this long after the first of a batch is queued, or
 * at once when this many are queued (the master keeps a nameless file
 * 2 s anyway, so a short delay costs nothing). */
#define SESSION_CLOSE_DELAY_MS 50
#define SESSION_CLOSE_BATCH 1024

/* Opens of one inode through this client. */
struct open_count {
	uint64_t ino;
	uint64_t count;
};

struct client_session {
	struct dfs_client *c;           /* borrowed */
	uint64_t id;                    /* random, 1 .. 2^63-1 */
	pthread_rwlock_t reg_lock;      /* EP_OPEN (read) vs registration */
	pthread_mutex_t send_lock;      /* one EP_SESSION at a time */
	pthread_mutex_t lock;           /* guards the rest */
	pthread_cond_t cond;            /* wakes the thread */
	void *table;                    /* tsearch tree of struct open_count */
	uint64_t *closes;               /* releases not sent yet */
	size_t nclose;
	int64_t first_close_ms;         /* when closes[0] was queued */
	size_t close_cap;
	bool need_register;
	bool stop;
	int64_t renew_ms;
	pthread_t thread;
};

static int count_cmp(const void *a, const void *b)
{
	const struct open_count *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* One more open of "ino" in the table; lock held. */
static void table_add(struct client_session *s, uint64_t ino)
{
	struct open_count key = { .ino = ino }, **slot;

	slot = tsearch(&key, &s->table, count_cmp);
	if (slot == NULL)
		fatalx("out of memory in the session table");
	if (*slot == &key) {
		*slot = xcalloc(1, sizeof(**slot));
		(*slot)->ino = ino;
	}
	(*slot)->count++;
}

/* One open of "ino" less; false if the table had none. Lock held. */
static bool table_sub(struct client_session *s, uint64_t ino)
{
	struct open_count key = { .ino = ino }, **slot, *e;

	slot = tfind(&key, &s->table, count_cmp);
	if (slot == NULL)
		return false;
	e = *slot;
	if (--e->count == 0) {
		tdelete(e, &s->table, count_cmp);
		free(e);
	}
	return true;
}

/* twalk_r() callback: the table as [[ino, count], ...]. */
static void table_visit(const void *node, VISIT which, void *arg)
{
	const struct open_count *e = *(const struct open_count *const *)node;

	if (which == postorder || which == leaf)
		json_array_append_new(arg, json_pack("[I, I]",
						     (json_int_t)e->ino,
						     (json_int_t)e->count));
}

/* Send an EP_SESSION request (stolen) and read "known" and "renew_ms". */
static int session_call(struct client_session *s, json_t *req,
			bool idempotent, bool *known)
{
	json_t *reply = NULL;
	uint64_t renew;
	int r;

	r = client_master_call(s->c, EP_SESSION, req, &reply, idempotent);
	if (r == 0 && (r = proto_get_bool(reply, "known", known)) != 0)
		r = -EPROTO;
	if (r == 0 &&
	    proto_get_u64(reply, "renew_ms", 3600 * 1000, &renew) == 0 &&
	    renew > 0) {
		pthread_mutex_lock(&s->lock);
		s->renew_ms = (int64_t)renew;
		pthread_mutex_unlock(&s->lock);
	}
	json_decref(reply);
	json_decref(req);
	return r;
}

/* Register the session with its whole table; send_lock held. */
static int session_register(struct client_session *s)
{
	json_t *opens = json_array();
	bool known;
	int r;

	pthread_rwlock_wrlock(&s->reg_lock);
	pthread_mutex_lock(&s->lock);
	twalk_r(s->table, table_visit, opens);
	s->nclose = 0;
	s->need_register = false;
	pthread_mutex_unlock(&s->lock);
	r = session_call(s,
			 json_pack("{s:I, s:o}", "session", (json_int_t)s->id,
				   "opens", opens),
			 true, &known);
	pthread_rwlock_unlock(&s->reg_lock);
	if (r != 0) {
		pthread_mutex_lock(&s->lock);
		s->need_register = true;
		pthread_mutex_unlock(&s->lock);
	}
	return r;
}

/* Renew the lease and send the queued releases; send_lock held. */
static int session_renew(struct client_session *s)
{
	json_t *closes = json_array();
	bool known = false;
	size_t i;
	int r;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nclose; i++)
		json_array_append_new(closes,
				      json_integer((json_int_t)s->closes[i]));
	s->nclose = 0;
	pthread_mutex_unlock(&s->lock);
	r = session_call(s,
			 json_pack("{s:I, s:o}", "session", (json_int_t)s->id,
				   "closes", closes),
			 false, &known);
	if (r == 0 && known)
		return 0;
	/* Unknown session, or releases that may or may not have arrived:
	 * start over from the table. */
	pthread_mutex_lock(&s->lock);
	s->need_register = true;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* One exchange with the master: registration if due, else renewal. */
static int session_exchange(struct client_session *s)
{
	bool reg;
	int r = 0;

	pthread_mutex_lock(&s->send_lock);
	pthread_mutex_lock(&s->lock);
	reg = s->need_register;
	pthread_mutex_unlock(&s->lock);
	if (!reg && (r = session_renew(s)) == 0) {
		/* Renewed, or told to register again (answered at once). */
		pthread_mutex_lock(&s->lock);
		reg = s->need_register;
		pthread_mutex_unlock(&s->lock);
	}
	if (reg)
		r = session_register(s);
	pthread_mutex_unlock(&s->send_lock);
	return r;
}

/* Wait until "due" or stop, and with "work" also until releases or a
 * registration are due; lock held. */
static void session_wait(struct client_session *s, int64_t due, bool work)
{
	struct timespec ts;
	int64_t left, until;

	while (!s->stop && !(work && (s->need_register ||
				      s->nclose >= SESSION_CLOSE_BATCH))) {
		until = due;
		/* Releases wait a little to go out in batches. */
		if (work && s->nclose > 0 &&
		    s->first_close_ms + SESSION_CLOSE_DELAY_MS < until)
			until = s->first_close_ms + SESSION_CLOSE_DELAY_MS;
		left = until - time_mono_ms();
		if (left <= 0)
			return;
		ts = time_mono_after_ts(left);
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
}

static void *session_main(void *arg)
{
	struct client_session *s = arg;
	int64_t due = time_mono_ms() + SESSION_RENEW_MS;
	bool failed = false;
	int r;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		/* After a failure, pause: the master may be away. */
		session_wait(s, due, !failed);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->lock);
		r = session_exchange(s);
		client_local_sweep(client_local_of(s->c));
		/* One line per outage, not one per attempt. */
		if (r != 0 && !failed)
			log_warnx("client session %016llx: master unreachable "
				  "(%s); retrying", (unsigned long long)s->id,
				  strerror(-r));
		else if (r == 0 && failed)
			log_info("client session %016llx: master reachable "
				 "again", (unsigned long long)s->id);
		pthread_mutex_lock(&s->lock);
		failed = r != 0;
		due = time_mono_ms() +
		      (failed ? SESSION_RETRY_MS : s->renew_ms);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void session_free(struct client_session *s)
{
	tdestroy(s->table, free);
	free(s->closes);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->send_lock);
	pthread_rwlock_destroy(&s->reg_lock);
	free(s);
}

int dfs_session_start(struct dfs_client *c)
{
	struct client_session *s;
	pthread_condattr_t ca;
	int r;

	if (client_get_session(c) != NULL)
		return -EALREADY;
	s = xcalloc(1, sizeof(*s));
	s->c = c;
	do {
		if (RAND_bytes((unsigned char *)&s->id, sizeof(s->id)) != 1) {
			free(s);
			return -EIO;
		}
		s->id &= INT64_MAX;
	} while (s->id == 0);
	s->renew_ms = SESSION_RENEW_MS;
	pthread_rwlock_init(&s->reg_lock, NULL);
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	client_set_session(c, s);
	/* The thread registers it at once. */
	s->need_register = true;
	if ((r = pthread_create(&s->thread, NULL, session_main, s)) != 0) {
		client_set_session(c, NULL);
		session_free(s);
		return -r;
	}
	log_info("client session %016llx", (unsigned long long)s->id);
	return 0;
}

void dfs_session_end(struct dfs_client *c)
{
	struct client_session *s = client_get_session(c);
	json_t *req;
	int r, wire;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	client_set_session(c, NULL);
	/* One attempt: at unmount a master that is away must not hold the
	 * mount up (the session then expires on its own). */
	req = json_pack("{s:I, s:b}", "session", (json_int_t)s->id, "end",
			true);
	r = rpc_call(client_http(c), dfs_client_master(c), EP_SESSION, req,
		     NULL, &wire);
	json_decref(req);
	if (r != 0)
		log_warnx("cannot end client session %016llx (%s): it expires "
			  "by itself", (unsigned long long)s->id, strerror(-r));
	session_free(s);
}

/* One EP_OPEN call; on success a regular file enters the table. */
/*
 * Keep the chunk locations an EP_OPEN reply may carry for the handle
 * about to be made (client_prefetch.c). Only chunks inside the file's
 * size count: the cache would take a chunk the reply lacks for a hole,
 * and one past the end may be written by someone else before this
 * handle reads it.
 */
static void open_note_locations(struct dfs_client *c,
				const struct dfs_attr *attr,
				const json_t *reply)
{
	json_t *chunks = json_object_get(reply, "chunks");
	uint64_t cs, count;

	if (chunks == NULL ||
	    proto_get_u64(reply, "chunk_size", UINT64_MAX, &cs) != 0 ||
	    cs == 0)
		return;
	client_note_chunk_size(c, cs);
	count = attr->size / cs + (attr->size % cs != 0);
	if (count > CLIENT_OPEN_LOCATIONS)
		count = CLIENT_OPEN_LOCATIONS;
	client_prefetch_put(client_prefetch_of(c), attr->ino, chunks, count,
			    false);
}

static int open_once(struct client_session *s, uint64_t ino, bool locations,
		     struct dfs_attr *attr)
{
	json_t *req, *reply = NULL;
	int r;

	req = json_pack("{s:I, s:I, s:I}", "ino", (json_int_t)ino, "session",
			(json_int_t)s->id, "chunks",
			(json_int_t)(locations ? CLIENT_OPEN_LOCATIONS : 0));
	if (req == NULL)
		return -EINVAL;
	pthread_rwlock_rdlock(&s->reg_lock);
	/* Not repeated after a send: a second hold would outlive the
	 * file's last close (until the session ends). */
	r = client_master_call(s->c, EP_OPEN, req, &reply, false);
	if (r == 0 && proto_attr_from_json(reply, attr) != 0)
		r = -EPROTO;
	if (r == 0 && S_ISREG(attr->mode)) {
		pthread_mutex_lock(&s->lock);
		table_add(s, ino);
		pthread_mutex_unlock(&s->lock);
		open_note_locations(s->c, attr, reply);
	}
	pthread_rwlock_unlock(&s->reg_lock);
	json_decref(reply);
	json_decref(req);
	return r;
}

static int open_held(struct dfs_client *c, uint64_t ino, bool locations,
		     struct dfs_attr *attr)
{
	struct client_session *s = client_get_session(c);
	int r;

	if (s == NULL)
		return dfs_getattr(c, ino, attr);
	r = open_once(s, ino, locations, attr);
	if (r != -ESTALE)
		return r;
	/* The master does not know the session: register, then retry. */
	pthread_mutex_lock(&s->send_lock);
	r = session_register(s);
	pthread_mutex_unlock(&s->send_lock);
	if (r != 0)
		return r;
	r = open_once(s, ino, locations, attr);
	return r == -ESTALE ? -EIO : r;
}

int dfs_open(struct dfs_client *c, uint64_t ino, struct dfs_attr *attr)
{
	return open_held(c, ino, true, attr);
}

int dfs_open_cached(struct dfs_client *c, uint64_t ino, struct dfs_attr *attr)
{
	return open_held(c, ino, false, attr);
}

void dfs_close(struct dfs_client *c, uint64_t ino)
{
	struct client_session *s = client_get_session(c);

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (table_sub(s, ino)) {
		if (s->nclose == s->close_cap) {
			s->close_cap = s->close_cap ? s->close_cap * 2 : 64;
			s->closes = xrealloc(s->closes,
					     s->close_cap * sizeof(uint64_t));
		}
		if (s->nclose == 0)
			s->first_close_ms = time_mono_ms();
		s->closes[s->nclose++] = ino;
		/* The thread needs waking only to start the batch's timer
		 * or to send a full batch: a wake-up per close costs the
		 * small-file loop a context switch per file. */
		if (s->nclose == 1 || s->nclose >= SESSION_CLOSE_BATCH)
			pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Keep the new file's chunk 0 and its write lease that an EP_CREATE
 * reply may carry, for the handle about to be made. */
static void create_note_chunk(struct dfs_client *c, uint64_t ino,
			      const json_t *reply)
{
	json_t *chunks = json_object_get(reply, "chunks");
	uint64_t cs;

	if (chunks == NULL ||
	    proto_get_u64(reply, "chunk_size", UINT64_MAX, &cs) != 0 ||
	    cs == 0)
		return;
	client_note_chunk_size(c, cs);
	client_prefetch_put(client_prefetch_of(c), ino, chunks, 1, true);
}

/* EP_CREATE with the session; *held tells whether the master took the
 * hold (then the table has it). *dir (may be NULL) as dfs_create(). */
static int create_held(struct client_session *s, json_t *req,
		       struct dfs_attr *attr, struct dfs_attr *dir,
		       bool *held)
{
	json_t *reply = NULL;
	int r;

	*held = false;
	client_add_lease_request(s->c, req);
	pthread_rwlock_rdlock(&s->reg_lock);
	r = client_master_call(s->c, EP_CREATE, req, &reply, false);
	if (r == 0 && proto_attr_from_json(reply, attr) != 0)
		r = -EPROTO;
	if (r == 0) {
		client_reply_attr(reply, "parent_attr", dir);
		create_note_chunk(s->c, attr->ino, reply);
	}
	if (r == 0 && json_is_true(json_object_get(reply, "held"))) {
		*held = true;
		pthread_mutex_lock(&s->lock);
		table_add(s, attr->ino);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_rwlock_unlock(&s->reg_lock);
	json_decref(reply);
	return r;
}

int dfs_create_open(struct dfs_client *c, uint64_t parent, const char *name,
		    uint32_t mode, uint32_t uid, uint32_t gid,
		    struct dfs_attr *attr, struct dfs_attr *dir)
{
	struct client_session *s = client_get_session(c);
	json_t *req;
	bool held;
	int r;

	mode = S_IFREG | (mode & 07777);
	if (s == NULL)
		return dfs_create(c, parent, name, mode, uid, gid, attr, dir);
	/* "chunk": whoever creates a file is about to write it. */
	req = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:b}", "parent",
			(json_int_t)parent, "name", name, "mode",
			(json_int_t)mode, "uid", (json_int_t)uid, "gid",
			(json_int_t)gid, "session", (json_int_t)s->id, "chunk",
			1);
	if (req == NULL)
		return -EINVAL;
	r = create_held(s, req, attr, dir, &held);
	json_decref(req);
	/* The master did not know the session (it restarted): the usual
	 * open registers it again. */
	if (r == 0 && !held)
		r = dfs_open(c, attr->ino, attr);
	return r;
}

uint64_t client_session_id(struct dfs_client *c)
{
	struct client_session *s = client_get_session(c);

	return s != NULL ? s->id : 0;
}
