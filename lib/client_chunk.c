/*
 * client_chunk.c - chunk locations and the calls to chunk servers.
 *
 * A struct client_locs caches, per file, where each chunk lives
 * (EP_CHUNKS replies) in a tree keyed by chunk index: read locations for
 * CLIENT_LOC_TTL_MS, write leases until shortly before they end, and
 * holes. A miss asks the master for a run of chunks at once, so streaming
 * a file costs one master call per CLIENT_LOC_BATCH chunks at most, and
 * random access to a file of up to CLIENT_LOC_MAX chunks soon runs
 * without master calls.
 *
 * Writes go to the chunk's primary with chain = the other replicas; reads
 * try each replica in turn. Transient failures (see client_int.h) drop the
 * cached location, and the call asks the master again and retries.
 *
 * Every call to a chunk server carries the chunk access token of its
 * location (X-DFS-Token, secure.h). A server that refuses it (FORBIDDEN:
 * the token expired while cached, or the cluster's key changed) makes the
 * call drop the location and try once more with a fresh one.
 */
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "http_client.h"
#include "log.h"
#include "proto.h"
#include "secure.h"
#include "timeutil.h"
#include "wire.h"
#include "xmalloc.h"
#include "banned.h"

/* Longest error reply body read from a chunk server. */
#define ERR_BODY_MAX (64 * 1024)

/* Longest query string of a chunk request (addresses in the chain). */
#define QUERY_MAX (128 + DFS_MAX_REPLICAS * DFS_ADDR_MAX)

enum loc_state {
	LOC_EMPTY = 0,          /* slot unused */
	LOC_HOLE,               /* the master lists no such chunk */
	LOC_READ,               /* read location */
	LOC_WRITE,              /* write location with a lease */
};

/* One cached chunk location. */
struct loc_slot {
	enum loc_state state;
	int64_t fetched_ms;     /* monotonic time of the master reply */
	struct dfs_chunk chunk; /* chunk.index is the key */
};

struct client_locs {
	struct dfs_client *c;   /* borrowed */
	uint64_t ino;
	pthread_mutex_t lock;   /* guards root and count */
	void *root;             /* tsearch tree of struct loc_slot */
	size_t count;           /* slots in the tree */
};

static int slot_cmp(const void *a, const void *b)
{
	const struct loc_slot *x = a, *y = b;

	return x->chunk.index < y->chunk.index ? -1
	       : x->chunk.index > y->chunk.index;
}

static int locs_store(struct client_locs *l, const json_t *chunks,
		      uint64_t index, uint64_t count, enum loc_state state);

struct client_locs *client_locs_new(struct dfs_client *c, uint64_t ino)
{
	struct client_locs *l = xcalloc(1, sizeof(*l));
	uint64_t count = 0;
	bool write = false;
	json_t *chunks;

	l->c = c;
	l->ino = ino;
	pthread_mutex_init(&l->lock, NULL);
	/* Where the first chunks are, if the open or create brought it.
	 * Holes are not taken from it: another handle of this client may
	 * fill one before this handle reads there, and nothing would tell
	 * this one. */
	chunks = client_prefetch_take(client_prefetch_of(c), ino, &count,
				      &write);
	if (chunks != NULL &&
	    locs_store(l, chunks, 0, count, write ? LOC_WRITE : LOC_EMPTY) != 0)
		client_locs_clear(l);
	json_decref(chunks);
	return l;
}

/* Empty the tree; l->lock held. */
static void locs_drop_all(struct client_locs *l)
{
	tdestroy(l->root, free);
	l->root = NULL;
	l->count = 0;
}

void client_locs_free(struct client_locs *l)
{
	if (l == NULL)
		return;
	locs_drop_all(l);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void client_locs_clear(struct client_locs *l)
{
	pthread_mutex_lock(&l->lock);
	locs_drop_all(l);
	pthread_mutex_unlock(&l->lock);
}

/* Slot of chunk "index", NULL if absent or created if "create" (an empty
 * slot). A full cache is emptied first. l->lock held. */
static struct loc_slot *locs_slot(struct client_locs *l, uint64_t index,
				  bool create)
{
	struct loc_slot key, *s, **found;

	key.chunk.index = index;
	found = tfind(&key, &l->root, slot_cmp);
	if (found != NULL || !create)
		return found != NULL ? *found : NULL;
	if (l->count >= CLIENT_LOC_MAX)
		locs_drop_all(l);
	s = xcalloc(1, sizeof(*s));
	s->chunk.index = index;
	if (tsearch(s, &l->root, slot_cmp) == NULL)
		fatalx("out of memory caching chunk locations");
	l->count++;
	return s;
}

/* True if slot s answers a lookup for reading or writing; l->lock held. */
static bool slot_is_fresh(const struct loc_slot *s, bool write)
{
	int64_t age;

	if (s == NULL || s->state == LOC_EMPTY)
		return false;
	age = time_mono_ms() - s->fetched_ms;
	if (!write)
		return age < CLIENT_LOC_TTL_MS;
	if (s->state != LOC_WRITE || s->chunk.primary[0] == '\0')
		return false;
	if (s->chunk.lease_ms == 0)
		return age < CLIENT_LOC_TTL_MS;
	return s->chunk.lease_ms - time_now_ms() > CLIENT_LEASE_MARGIN_MS;
}

/* Drop chunk "index" from the cache (its location proved wrong). */
static void locs_forget(struct client_locs *l, uint64_t index)
{
	struct loc_slot *s;

	pthread_mutex_lock(&l->lock);
	s = locs_slot(l, index, false);
	if (s != NULL)
		s->state = LOC_EMPTY;
	pthread_mutex_unlock(&l->lock);
}

/* Store the chunks of an EP_CHUNKS reply covering [index, index+count)
 * as LOC_READ or LOC_WRITE locations; with LOC_READ, chunks the reply
 * lacks are holes, with LOC_EMPTY (read locations) they stay unknown. */
static int locs_store(struct client_locs *l, const json_t *chunks,
		      uint64_t index, uint64_t count, enum loc_state state)
{
	bool write = state == LOC_WRITE;
	int64_t now = time_mono_ms();
	struct dfs_chunk ch;
	struct loc_slot *s;
	const json_t *v;
	uint64_t i;
	size_t k;
	int r = 0;

	pthread_mutex_lock(&l->lock);
	for (i = index; i < index + count && state == LOC_READ; i++) {
		s = locs_slot(l, i, true);
		memset(&s->chunk, 0, sizeof(s->chunk));
		s->state = LOC_HOLE;
		s->fetched_ms = now;
		s->chunk.index = i;
	}
	json_array_foreach(chunks, k, v) {
		if ((r = proto_chunk_from_json(v, &ch)) != 0)
			break;
		if (ch.index < index || ch.index >= index + count)
			continue;
		s = locs_slot(l, ch.index, true);
		s->chunk = ch;
		s->fetched_ms = now;
		s->state = write ? LOC_WRITE : LOC_READ;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Ask the master where chunks [index, index+count) are (EP_CHUNKS),
 * reporting replica "failed" (NULL: none) of chunk "index" as failed on
 * a write lookup. On failure *wire is the wire status, or -1 for a
 * transport error. */
static int locs_fetch(struct client_locs *l, uint64_t index, uint64_t count,
		      bool write, const char *failed, int *wire)
{
	json_t *req, *reply = NULL, *chunks;
	uint64_t cs = 0;
	int r;

	*wire = DFS_ERR_IO;
	req = json_pack("{s:I, s:I, s:I, s:b}", "ino", (json_int_t)l->ino,
			"index", (json_int_t)index, "count", (json_int_t)count,
			"write", write);
	if (req == NULL)
		return -EINVAL;
	if (write && failed != NULL && failed[0] != '\0')
		json_object_set_new(req, "failed",
				    json_pack("[s]", failed));
	r = rpc_call(client_http(l->c), dfs_client_master(l->c), EP_CHUNKS,
		     req, &reply, wire);
	if (r != 0)
		goto out;
	chunks = json_object_get(reply, "chunks");
	if (!json_is_array(chunks) ||
	    proto_get_u64(reply, "chunk_size", UINT64_MAX, &cs) != 0) {
		r = -EPROTO;
		goto out;
	}
	client_note_chunk_size(l->c, cs);
	if ((r = locs_store(l, chunks, index, count,
			    write ? LOC_WRITE : LOC_READ)) != 0)
		goto out;
	r = 0;
out:
	json_decref(req);
	json_decref(reply);
	return r;
}

/*
 * Location of chunk "index" for reading or writing into *ch, from the
 * cache or the master (with "ahead" chunks fetched in the same call).
 * *hole is set when the chunk does not exist (read lookups only). A
 * master answer that another attempt cannot change (no such inode, bad
 * request) is reported as DFS_ERR_INVAL in *wire, so that retry loops
 * stop; the errno keeps the master's reason.
 */
static int locs_get(struct client_locs *l, uint64_t index, bool write,
		    uint64_t ahead, const char *failed, struct dfs_chunk *ch,
		    bool *hole, int *wire)
{
	struct loc_slot *s;
	int r;

	if (failed != NULL && failed[0] != '\0') {
		/* A new lease without the failed replica, whatever is
		 * cached. */
		ahead = 1;
		locs_forget(l, index);
	}
	for (int pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(&l->lock);
		s = locs_slot(l, index, false);
		if (slot_is_fresh(s, write)) {
			*hole = s->state == LOC_HOLE;
			*ch = s->chunk;
			pthread_mutex_unlock(&l->lock);
			return 0;
		}
		pthread_mutex_unlock(&l->lock);
		if (pass > 0)
			break;
		if (ahead < 1)
			ahead = 1;
		if (ahead > CLIENT_LOC_BATCH)
			ahead = CLIENT_LOC_BATCH;
		if ((r = locs_fetch(l, index, ahead, write, failed,
				    wire)) != 0) {
			if (*wire >= 0 && *wire != DFS_ERR_AGAIN &&
			    *wire != DFS_ERR_NOSPC)
				*wire = DFS_ERR_INVAL;
			return r;
		}
	}
	/* The master answered a write lookup without this chunk. */
	*wire = DFS_ERR_IO;
	return -EPROTO;
}

/* Wire status and errno of a chunk server's error reply body, and the
 * server it names as "failed" (DOWNSTREAM) into failed[DFS_ADDR_MAX]. */
static int reply_error(long status, const char *body, size_t len, int *wire,
		       char *failed)
{
	json_t *obj = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	uint32_t err = DFS_ERR_IO;
	const char *addr;

	if (obj == NULL || proto_get_u32(obj, "err", &err) != 0 ||
	    err == DFS_OK)
		err = status == 404 ? DFS_ERR_NOTFOUND : DFS_ERR_IO;
	if (failed != NULL &&
	    proto_get_str(obj, "failed", DFS_ADDR_MAX - 1, &addr) == 0)
		snprintf(failed, DFS_ADDR_MAX, "%s", addr);
	json_decref(obj);
	*wire = (int)err;
	return -wire_status_to_errno((int)err);
}

/* "a,b,c": the replicas of ch other than its primary. */
static void chain_of(const struct dfs_chunk *ch, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < ch->nreplicas; i++) {
		if (strcmp(ch->replicas[i], ch->primary) == 0)
			continue;
		used += snprintf(buf + used, size - used, "%s%s",
				 used > 0 ? "," : "", ch->replicas[i]);
		if (used >= size)
			break;
	}
}

/* The error an application sees when retries did not help: a failure
 * that was worth retrying (server down, lease moving) ends as EIO; a
 * definite answer (no space, no such file, too big) keeps its errno. */
static int give_up_errno(int r, int wire)
{
	if (wire == DFS_ERR_NOSPC)
		return -ENOSPC;
	return client_error_is_transient(r, wire) || wire == DFS_ERR_AGAIN
		       ? -EIO
		       : r;
}

/* Outcome of one attempt of a chain mutation. */
struct chain_try {
	int wire;               /* wire status of the failure; -1: transport */
	bool from_master;       /* the master refused, not a chunk server */
	char failed[DFS_ADDR_MAX]; /* replica to report as failed, or "" */
};

/* POST or PUT a mutation to the primary of ch; on failure fill t. */
static int chunk_mutate(struct client_locs *l, const char *method,
			const struct dfs_chunk *ch, const char *query,
			const void *body, size_t len, struct chain_try *t)
{
	struct http_result res = { 0 };
	struct secure_token_hdr th;
	int r;

	r = http_client_request_hdr(client_http(l->c), method, ch->primary,
				    query, secure_token_headers(&th, ch->token),
				    body, len, "application/octet-stream",
				    ERR_BODY_MAX, &res);
	if (r != 0) {
		/* The primary did not answer: report it. */
		t->wire = -1;
		snprintf(t->failed, sizeof(t->failed), "%s", ch->primary);
		goto out;
	}
	if (res.status == 200) {
		r = 0;
		goto out;
	}
	r = reply_error(res.status, res.body, res.len, &t->wire, t->failed);
	/* The primary's own disk failed: report it. A DOWNSTREAM reply
	 * named the failed server itself (or nobody). */
	if (t->wire == DFS_ERR_NOSPC || t->wire == DFS_ERR_IO)
		snprintf(t->failed, sizeof(t->failed), "%s", ch->primary);
out:
	http_result_release(&res);
	return r;
}

/* The operations run along a chunk's replica chain. */
enum chain_op {
	CHAIN_WRITE,
	CHAIN_TRUNCATE,
	CHAIN_SYNC,
};

/* Arguments of one chain operation, and what the last attempt learned. */
struct chain_req {
	enum chain_op op;
	uint64_t index;         /* chunk index in the file */
	uint64_t off;           /* write offset, or truncate size */
	const void *buf;        /* write data */
	size_t len;
	uint64_t ahead;         /* chunks to lease in the same master call */
	char failed[DFS_ADDR_MAX]; /* replica to report at the next lease */
};

/* Query string of one chain operation on chunk ch. */
static void chain_query(const struct chain_req *q, const struct dfs_chunk *ch,
			char *buf, size_t size)
{
	char chain[DFS_MAX_REPLICAS * DFS_ADDR_MAX];
	const char *ep = q->op == CHAIN_WRITE	   ? EP_CHUNK_WRITE
			 : q->op == CHAIN_TRUNCATE ? EP_CHUNK_TRUNCATE
						   : EP_CHUNK_SYNC;

	chain_of(ch, chain, sizeof(chain));
	if (q->op == CHAIN_WRITE)
		snprintf(buf, size, "%s?handle=%llu&version=%llu&offset=%llu"
			 "&chain=%s", ep, (unsigned long long)ch->handle,
			 (unsigned long long)ch->version,
			 (unsigned long long)q->off, chain);
	else if (q->op == CHAIN_TRUNCATE)
		snprintf(buf, size, "%s?handle=%llu&version=%llu&size=%llu"
			 "&chain=%s", ep, (unsigned long long)ch->handle,
			 (unsigned long long)ch->version,
			 (unsigned long long)q->off, chain);
	else
		snprintf(buf, size, "%s?handle=%llu&version=%llu&chain=%s", ep,
			 (unsigned long long)ch->handle,
			 (unsigned long long)ch->version, chain);
}

/* One attempt of a chain operation. *skip is set when there is nothing
 * to do (truncate or sync of a chunk that does not exist). */
static int chain_once(struct client_locs *l, const struct chain_req *q,
		      bool *skip, struct chain_try *t)
{
	char query[QUERY_MAX];
	struct dfs_chunk ch;
	bool hole = false;
	int r;

	*skip = false;
	memset(t, 0, sizeof(*t));
	t->from_master = true;
	if (q->op != CHAIN_WRITE) {
		/* Never allocate a chunk just to cut or sync it. */
		if ((r = locs_get(l, q->index, false, 1, NULL, &ch, &hole,
				  &t->wire)) != 0)
			return r;
		if (hole) {
			*skip = true;
			return 0;
		}
	}
	if ((r = locs_get(l, q->index, true, q->ahead, q->failed, &ch, &hole,
			  &t->wire)) != 0)
		return r;
	t->from_master = false;
	chain_query(q, &ch, query, sizeof(query));
	r = chunk_mutate(l, q->op == CHAIN_WRITE ? "PUT" : "POST", &ch, query,
			 q->buf, q->len, t);
	if (r != 0)
		log_debug("%s at '%s' (inode %llu index %llu): %s, failed '%s'",
			  query, ch.primary, (unsigned long long)l->ino,
			  (unsigned long long)q->index, strerror(-r),
			  t->failed);
	return r;
}

/* Whether to try a chain operation again after attempt t failed with r.
 * Sets what the next attempt reports to the master. */
static bool chain_should_retry(struct chain_req *q, const struct chain_try *t,
			       int r, const struct client_retry *rt)
{
	q->failed[0] = '\0';
	if (t->from_master) {
		/* No space / too few servers: maybe a cluster starting. */
		if (t->wire == DFS_ERR_NOSPC)
			return time_mono_ms() - rt->start_ms <
			       CLIENT_NOSPC_RETRY_MS;
		return t->wire < 0 || t->wire == DFS_ERR_AGAIN ||
		       client_error_is_transient(r, t->wire);
	}
	if (t->failed[0] != '\0') {
		/* New lease without the failed replica, same mutation. A
		 * full server gets the budget of a full cluster: once it is
		 * the chunk's last replica, only freed space can help. */
		memcpy(q->failed, t->failed, sizeof(q->failed));
		return t->wire != DFS_ERR_NOSPC ||
		       time_mono_ms() - rt->start_ms < CLIENT_NOSPC_RETRY_MS;
	}
	return client_error_is_transient(r, t->wire);
}

/*
 * A chunk server refused the access token (wire FORBIDDEN): true the
 * first time (*done false), after dropping the cached location so that
 * the next attempt asks the master for a new token.
 */
static bool token_refresh(struct client_locs *l, uint64_t index, int wire,
			  bool *done)
{
	if (wire != DFS_ERR_FORBIDDEN || *done)
		return false;
	*done = true;
	locs_forget(l, index);
	return true;
}

/* Run a chain operation with the recovery rules of dfs_proto.h (write
 * pipeline recovery) within the retry budget of client_int.h. */
static int chain_run(struct client_locs *l, struct chain_req *q)
{
	struct client_retry rt;
	struct chain_try t;
	bool skip, refreshed = false;
	int r;

	client_retry_init(&rt, CLIENT_RETRY_MS);
	for (;;) {
		r = chain_once(l, q, &skip, &t);
		if (r == 0 || skip)
			return 0;
		/* A replica missing on truncate or sync: nothing to do. */
		if (q->op != CHAIN_WRITE && !t.from_master &&
		    t.wire == DFS_ERR_NOENT)
			return 0;
		if (!t.from_master && token_refresh(l, q->index, t.wire,
						    &refreshed))
			continue;
		if (!chain_should_retry(q, &t, r, &rt))
			break;
		locs_forget(l, q->index);
		if (!client_retry_wait(&rt))
			break;
	}
	log_warnx("giving up on chunk %llu of inode %llu: %s",
		  (unsigned long long)q->index, (unsigned long long)l->ino,
		  strerror(-r));
	return give_up_errno(r, t.wire);
}

int client_chunk_write(struct client_locs *l, uint64_t index, uint64_t off,
		       const void *buf, size_t len, uint64_t ahead)
{
	struct chain_req q = {
		.op = CHAIN_WRITE, .index = index, .off = off,
		.buf = buf, .len = len, .ahead = ahead,
	};

	return chain_run(l, &q);
}

int client_chunk_truncate(struct client_locs *l, uint64_t index,
			  uint64_t size)
{
	struct chain_req q = {
		.op = CHAIN_TRUNCATE, .index = index, .off = size, .ahead = 1,
	};

	return chain_run(l, &q);
}

int client_chunk_sync(struct client_locs *l, uint64_t index)
{
	struct chain_req q = { .op = CHAIN_SYNC, .index = index, .ahead = 1 };

	return chain_run(l, &q);
}

/* GET a range of chunk ch from replica "addr" into buf. */
static int replica_read(struct client_locs *l, const struct dfs_chunk *ch,
			const char *addr, uint64_t off, void *buf, size_t len,
			int *wire)
{
	char query[QUERY_MAX];
	char *err_body = NULL;
	struct secure_token_hdr th;
	size_t got = 0;
	long status = 0;
	int r;

	snprintf(query, sizeof(query),
		 "%s?handle=%llu&version=%llu&offset=%llu&length=%zu",
		 EP_CHUNK_READ, (unsigned long long)ch->handle,
		 (unsigned long long)ch->version, (unsigned long long)off, len);
	r = http_client_get_into_hdr(client_http(l->c), addr, query,
				     secure_token_headers(&th, ch->token), buf,
				     len, &got, &status, &err_body);
	if (r != 0) {
		*wire = -1;
		goto out;
	}
	if (status != 200) {
		r = reply_error(status, err_body,
				err_body != NULL ? strlen(err_body) : 0, wire,
				NULL);
		goto out;
	}
	if (got != len) {
		*wire = DFS_ERR_IO;
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		log_debug("read of chunk %llu v%llu from '%s': %s",
			  (unsigned long long)ch->handle,
			  (unsigned long long)ch->version, addr, strerror(-r));
	free(err_body);
	return r;
}

/*
 * One pass over the replicas of chunk "index". Returns 0 when a replica
 * delivered or the chunk is a hole, else the last error; *all_noent is
 * set when every replica said it has no such chunk.
 */
static int read_once(struct client_locs *l, uint64_t index, uint64_t off,
		     void *buf, size_t len, uint64_t ahead, int *wire,
		     bool *all_noent)
{
	char bad[DFS_ADDR_MAX];
	struct dfs_chunk ch;
	bool hole = false;
	int r, first, nnoent = 0;

	*all_noent = false;
	if ((r = locs_get(l, index, false, ahead, NULL, &ch, &hole,
			  wire)) != 0)
		return r;
	if (hole) {
		memset(buf, 0, len);
		return 0;
	}
	if (ch.nreplicas == 0) {
		*wire = DFS_ERR_IO;
		return -EIO;
	}
	if (client_local_read(client_local_of(l->c), &ch, off, buf, len,
			      bad) == 0)
		return 0;
	/* Spread readers of different chunks over the replicas; one whose
	 * local files failed their checksums goes first. */
	first = (int)(ch.handle % (uint64_t)ch.nreplicas);
	for (int i = 0; bad[0] != '\0' && i < ch.nreplicas; i++)
		if (strcmp(ch.replicas[i], bad) == 0)
			first = i;
	for (int i = 0; i < ch.nreplicas; i++) {
		const char *addr = ch.replicas[(first + i) % ch.nreplicas];

		r = replica_read(l, &ch, addr, off, buf, len, wire);
		if (r == 0)
			return 0;
		if (*wire == DFS_ERR_NOENT)
			nnoent++;
	}
	*all_noent = nnoent == ch.nreplicas;
	return r;
}

int client_chunk_read(struct client_locs *l, uint64_t index, uint64_t off,
		      void *buf, size_t len, uint64_t ahead)
{
	struct client_retry rt;
	int r, wire, noent_passes = 0;
	bool all_noent, refreshed = false;

	client_retry_init(&rt, CLIENT_RETRY_MS);
	for (;;) {
		r = read_once(l, index, off, buf, len, ahead, &wire,
			      &all_noent);
		if (r == 0)
			return 0;
		/* Every replica of a fresh location lacks the chunk: it
		 * was allocated and never written, so it reads as zeros. */
		if (all_noent && ++noent_passes >= 2) {
			memset(buf, 0, len);
			return 0;
		}
		if (token_refresh(l, index, wire, &refreshed))
			continue;
		if (!client_error_is_transient(r, wire))
			break;
		locs_forget(l, index);
		if (!client_retry_wait(&rt))
			break;
	}
	log_warnx("cannot read chunk %llu of inode %llu: %s",
		  (unsigned long long)index, (unsigned long long)l->ino,
		  strerror(-r));
	return give_up_errno(r, wire);
}
