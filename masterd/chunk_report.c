/*
 * chunk_report.c - what a chunk server's report changes (see
 * chunk_report.h and chunk_srv.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_report.h"
#include "chunk_srv.h"
#include "leases.h"
#include "log.h"
#include "master.h"
#include "namespace.h"
#include "oplog.h"
#include "replicator.h"
#include "timeutil.h"
#include "xmalloc.h"
#include "banned.h"

/* Most "corrupt" handles one report may carry. */
#define CS_MAX_CORRUPT 100000

/* A chunk stays "busy" this long after its lease expired. */
#define CS_BUSY_GRACE_MS 10000
_Static_assert(CS_BUSY_GRACE_MS <= LEASES_KEEP_MS,
	       "the lease table forgets leases before this grace ends");

/* What a report changes and what the server must delete. */
struct cs_diff {
	json_t *del;      /* handles to delete on the server */
	json_t *add;      /* [handle, version] rows to add */
	json_t *remove;   /* handles whose replica row goes */
	json_t *revoke;   /* leased chunks a restarted server lost */
	json_t *del_at;   /* [handle, version] to delete (0: any version) */
	json_t *unwritten; /* handles of rows never confirmed that go */
	json_t *confirmed; /* unconfirmed chunks the server reported */
	/* Unconfirmed rows to look at again (chunk_srv.h). */
	struct cs_unconfirmed *keep;
	size_t nkeep, capkeep;
};

/* Look at the server's row of "handle" again at a later report. */
static void keep_push(struct cs_diff *d, uint64_t handle, int64_t since_ms)
{
	d->keep = xgrow(d->keep, &d->capkeep, d->nkeep + 1, sizeof(*d->keep));
	d->keep[d->nkeep].handle = handle;
	d->keep[d->nkeep].since_ms = since_ms;
	d->nkeep++;
}

static int unconfirmed_cmp(const void *a, const void *b)
{
	const struct cs_unconfirmed *x = a, *y = b;

	if (x->handle != y->handle)
		return x->handle < y->handle ? -1 : 1;
	return x->since_ms < y->since_ms ? -1 : x->since_ms > y->since_ms;
}

/* Sort d->keep and drop repeats (a full report may keep a row both as
 * unconfirmed and as missing), keeping the earliest time of each. */
static void keep_unique(struct cs_diff *d)
{
	size_t i, n = 0;

	if (d->nkeep == 0)
		return;
	qsort(d->keep, d->nkeep, sizeof(*d->keep), unconfirmed_cmp);
	for (i = 0; i < d->nkeep; i++)
		if (n == 0 || d->keep[n - 1].handle != d->keep[i].handle)
			d->keep[n++] = d->keep[i];
	d->nkeep = n;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct cs_pair *x = a, *y = b;

	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Parse "chunks" or "changed": [[handle, version], ...] into sorted
 * unique pairs. */
static int parse_pairs(const json_t *arr, struct cs_report *rep)
{
	size_t i, n = 0;
	json_t *v;

	if (!json_is_array(arr))
		return -EINVAL;
	rep->pairs = xcalloc(json_array_size(arr) + 1, sizeof(*rep->pairs));
	json_array_foreach (arr, i, v) {
		if (proto_get_pair(v, &rep->pairs[i].handle,
				   &rep->pairs[i].version) != 0)
			return -EINVAL;
	}
	qsort(rep->pairs, json_array_size(arr), sizeof(*rep->pairs), pair_cmp);
	for (i = 0; i < json_array_size(arr); i++)
		if (n == 0 || rep->pairs[n - 1].handle != rep->pairs[i].handle)
			rep->pairs[n++] = rep->pairs[i];
	rep->npairs = n;
	return 0;
}

/* Parse an optional list of handles (at most "max") into a new sorted
 * array. */
static int parse_handles(const json_t *arr, size_t max, uint64_t **out,
			 size_t *n)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > max)
		return -EINVAL;
	*out = xcalloc(json_array_size(arr) + 1, sizeof(**out));
	json_array_foreach (arr, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return -EINVAL;
		(*out)[(*n)++] = (uint64_t)json_integer_value(v);
	}
	qsort(*out, *n, sizeof(**out), u64_cmp);
	return 0;
}

/* The replicas of a report: "chunks" (every one) or, in a heartbeat,
 * "changed" and "gone" (the changes since the last report). */
static int parse_replicas(const json_t *body, struct cs_report *rep)
{
	const json_t *chunks = json_object_get(body, "chunks");
	int r;

	if (chunks != NULL || rep->reg)
		return parse_pairs(chunks, rep);
	rep->delta = true;
	if ((r = parse_pairs(json_object_get(body, "changed"), rep)) != 0)
		return r;
	return parse_handles(json_object_get(body, "gone"), SIZE_MAX,
			     &rep->gone, &rep->ngone);
}

int chunk_report_parse(const json_t *body, struct cs_report *rep)
{
	int r;

	rep->rack = "";
	r = proto_get_str(body, "addr", DFS_ADDR_MAX - 1, &rep->addr);
	if (r == 0)
		r = proto_get_u64(body, "capacity", NS_MAX_ID, &rep->capacity);
	if (r == 0)
		r = proto_get_u64(body, "used", NS_MAX_ID, &rep->used);
	if (r == 0 && json_object_get(body, "rack") != NULL)
		r = proto_get_str(body, "rack", CS_RACK_MAX - 1, &rep->rack);
	rep->nchunks = UINT64_MAX;
	if (r == 0)
		r = proto_opt_u64(body, "nchunks", NS_MAX_ID, &rep->nchunks);
	if (r != 0)
		return r;
	if (!proto_addr_is_valid(rep->addr))
		return -EINVAL;
	if ((r = parse_handles(json_object_get(body, "corrupt"),
			       CS_MAX_CORRUPT, &rep->corrupt,
			       &rep->ncorrupt)) != 0)
		return r;
	return parse_replicas(body, rep);
}

/* Is chunk "handle" being written (its replicas may not be reported)? */
static bool chunk_busy(struct master *m, uint64_t handle, int64_t now)
{
	return leases_is_busy(m->leases, handle, now, CS_BUSY_GRACE_MS);
}

/* Replica rows of chunk c on live servers other than "addr". */
static int live_others(struct master *m, const struct dfs_chunk *c,
		       const char *addr)
{
	int i, n = 0;

	for (i = 0; i < c->nreplicas; i++)
		if (strcmp(c->replicas[i], addr) != 0 &&
		    chunk_srv_is_alive(m->cs, c->replicas[i]))
			n++;
	return n;
}

static void diff_push(json_t *arr, uint64_t handle)
{
	json_array_append_new(arr, json_integer((json_int_t)handle));
}

/* The server holds the current version of a chunk. */
static void diff_current(struct master *m, const struct cs_report *rep,
			 const struct cs_pair *p, const struct dfs_chunk *c,
			 bool known, struct cs_diff *d)
{
	if (known)
		return;
	if (replicator_copy_reported(m->repl, p->handle, rep->addr) ||
	    live_others(m, c, rep->addr) == 0) {
		json_array_append_new(d->add,
				      json_pack("[I, I]", (json_int_t)p->handle,
						(json_int_t)p->version));
		return;
	}
	if (chunk_busy(m, p->handle, time_now_ms()))
		return;
	log_info("chunkserver '%s': replica of chunk %016llx v%llu was not "
		 "placed there; deleting it",
		 rep->addr, (unsigned long long)p->handle,
		 (unsigned long long)p->version);
	diff_push(d->del, p->handle);
}

/* True if the master asked for this replica's deletion (excess). */
static bool is_scheduled(const struct cs_report *rep, uint64_t handle)
{
	return rep->ndels > 0 && bsearch(&handle, rep->dels, rep->ndels,
					 sizeof(*rep->dels), u64_cmp) != NULL;
}

/* Compare one reported pair with the database. */
static int diff_pair(struct master *m, struct ns_reader *rd,
		     const struct cs_report *rep, const struct cs_pair *p,
		     bool known, struct cs_diff *d)
{
	struct dfs_chunk c;
	bool busy;
	int r;

	r = ns_chunk_get(rd, p->handle, &c, NULL);
	if (r == -ENOENT || (r == 0 && is_scheduled(rep, p->handle))) {
		diff_push(d->del, p->handle);
		if (known)
			diff_push(d->remove, p->handle);
		return 0;
	}
	if (r != 0)
		return r;
	if (p->version == c.version) {
		diff_current(m, rep, p, &c, known, d);
		return 0;
	}
	busy = chunk_busy(m, p->handle, time_now_ms());
	if (p->version > c.version) {
		if (known && !busy)
			json_array_append_new(d->add,
					      json_pack("[I, I]",
							(json_int_t)p->handle,
							(json_int_t)p->version));
		return 0;
	}
	/*
	 * Older. A server that has a row took the chunk's current version:
	 * while a lease is being granted its report may have been built just
	 * before the new version reached it, so wait. Any other server missed
	 * the version: its replica is stale; delete it, unless it is all
	 * there is left.
	 */
	if (known && busy)
		return 0;
	if (live_others(m, &c, rep->addr) > 0)
		diff_push(d->del, p->handle);
	if (known)
		diff_push(d->remove, p->handle);
	return 0;
}

static int unconfirmed_handle_cmp(const void *key, const void *elem)
{
	uint64_t h = *(const uint64_t *)key;
	const struct cs_unconfirmed *u = elem;

	return h < u->handle ? -1 : h > u->handle;
}

/* Is the server's row of "handle" one of its unconfirmed rows (sorted by
 * handle)? */
static bool unconfirmed_in(const struct cs_report *rep, uint64_t handle)
{
	return rep->nunconf > 0 &&
	       bsearch(&handle, rep->unconf, rep->nunconf,
		       sizeof(*rep->unconf), unconfirmed_handle_cmp) != NULL;
}

/* A replica row the server did not report: drop it unless busy (or set
 * aside as corrupt); a busy one is looked at again at later reports. A
 * restarted server that lost a replica of a leased chunk gets that lease
 * revoked, so that late writes cannot recreate the replica there. An
 * unconfirmed row is left to diff_unconfirmed(), which may drop its
 * chunk with it. */
static void diff_missing(struct master *m, const struct cs_report *rep,
			 uint64_t handle, struct cs_diff *d)
{
	bool busy = chunk_busy(m, handle, time_now_ms());

	if (rep->ncorrupt > 0 &&
	    bsearch(&handle, rep->corrupt, rep->ncorrupt,
		    sizeof(*rep->corrupt), u64_cmp) != NULL) {
		diff_push(d->remove, handle);
		return;
	}
	if (busy && rep->reg)
		diff_push(d->revoke, handle);
	if (unconfirmed_in(rep, handle))
		return;
	if (!busy)
		diff_push(d->remove, handle);
	else
		keep_push(d, handle, time_mono_ms());
}

/* True if a reported pair needs no change: the server has a row for
 * the chunk, at its current version, and no deletion is scheduled (what
 * diff_pair() would conclude, without looking the chunk up). */
static bool pair_unchanged(const struct cs_report *rep,
			   const struct cs_pair *p,
			   const struct ns_replica_row *row)
{
	return row != NULL && row->has_chunk && row->version == p->version &&
	       !is_scheduled(rep, p->handle);
}

/* Merge the sorted report with the sorted replica rows of the server. */
static int diff_merge(struct master *m, struct ns_reader *rd,
		      const struct cs_report *rep,
		      const struct ns_replica_row *known, size_t nknown,
		      struct cs_diff *d, size_t *checked)
{
	const struct ns_replica_row *row;
	size_t i, j = 0;
	int r;

	for (i = 0; i < rep->npairs; i++) {
		while (j < nknown && known[j].handle < rep->pairs[i].handle)
			diff_missing(m, rep, known[j++].handle, d);
		row = j < nknown && known[j].handle == rep->pairs[i].handle
			      ? &known[j++]
			      : NULL;
		if (pair_unchanged(rep, &rep->pairs[i], row))
			continue;
		(*checked)++;
		if ((r = diff_pair(m, rd, rep, &rep->pairs[i], row != NULL,
				   d)) != 0)
			return r;
	}
	while (j < nknown)
		diff_missing(m, rep, known[j++].handle, d);
	return 0;
}

/*
 * A full report against every replica row of the server. The rows come
 * with their chunks' versions, so a replica the table has at the current
 * version (nearly all of them) costs no lookup.
 */
static int full_diff(struct master *m, struct ns_reader *rd,
		     const struct cs_report *rep, struct cs_diff *d,
		     size_t *checked)
{
	struct ns_replica_row *known = NULL;
	size_t nknown = 0;
	int r;

	if ((r = ns_server_replicas(rd, rep->addr, &known, &nknown)) != 0)
		return r;
	r = diff_merge(m, rd, rep, known, nknown, d, checked);
	free(known);
	return r;
}

static bool u64_in(const uint64_t *v, size_t n, uint64_t x)
{
	return n > 0 && bsearch(&x, v, n, sizeof(*v), u64_cmp) != NULL;
}

static bool pair_in(const struct cs_report *rep, uint64_t handle)
{
	struct cs_pair key = { handle, 0 };

	return rep->npairs > 0 && bsearch(&key, rep->pairs, rep->npairs,
					  sizeof(*rep->pairs),
					  pair_cmp) != NULL;
}

/*
 * The deletions scheduled for a server whose report of changes does not
 * list the replica (a full report lists all it has, and diff_pair()
 * deletes at the reported version): delete at the chunk's current
 * version, dropping the server's row, or at any version when no file
 * has the chunk any more (handles are never reused). A replica at
 * another version is left for a full report to sort out.
 */
static int diff_scheduled(struct ns_reader *rd, const struct cs_report *rep,
			  struct cs_diff *d)
{
	struct ns_replica_row row;
	bool known;
	size_t i;
	int r;

	for (i = 0; i < rep->ndels; i++) {
		if ((i > 0 && rep->dels[i] == rep->dels[i - 1]) ||
		    pair_in(rep, rep->dels[i]) ||
		    u64_in(rep->gone, rep->ngone, rep->dels[i]))
			continue;
		r = ns_replica_row_get(rd, rep->dels[i], rep->addr, &row,
				       &known);
		if (r != 0)
			return r;
		json_array_append_new(d->del_at,
				      json_pack("[I, I]",
						(json_int_t)rep->dels[i],
						(json_int_t)(row.has_chunk
								     ? row.version
								     : 0)));
		if (known)
			diff_push(d->remove, rep->dels[i]);
	}
	return 0;
}

/*
 * The server's unconfirmed rows (chunk_srv.h): one the report lists is
 * confirmed, and so is its chunk if it still was (see "confirmed" in
 * namespace.h); one of a chunk being written, or placed less than the
 * busy grace ago (its row may not be committed yet), waits; any other
 * row goes, and with the last row of an unconfirmed chunk the chunk,
 * which no server ever held.
 */
static int diff_unconfirmed(struct master *m, struct ns_reader *rd,
			    const struct cs_report *rep, struct cs_diff *d)
{
	const struct cs_unconfirmed *u;
	struct ns_replica_row row;
	int64_t now = time_mono_ms();
	bool known;
	size_t i;
	int r;

	for (i = 0; i < rep->nunconf; i++) {
		u = &rep->unconf[i];
		if (i > 0 && u->handle == rep->unconf[i - 1].handle)
			continue;
		if (pair_in(rep, u->handle)) {
			diff_push(d->confirmed, u->handle);
			continue;
		}
		if (u64_in(rep->gone, rep->ngone, u->handle))
			continue;
		if (now - u->since_ms < CS_BUSY_GRACE_MS ||
		    chunk_busy(m, u->handle, time_now_ms())) {
			keep_push(d, u->handle, u->since_ms);
			continue;
		}
		r = ns_replica_row_get(rd, u->handle, rep->addr, &row, &known);
		if (r != 0)
			return r;
		if (known)
			diff_push(d->unwritten, u->handle);
	}
	return 0;
}

/*
 * A report of changes: only the listed replicas are compared, each with
 * one lookup, so a heartbeat costs the master in proportion to what
 * changed on the server, not to what it holds.
 */
static int delta_diff(struct master *m, struct ns_reader *rd,
		      const struct cs_report *rep, struct cs_diff *d,
		      size_t *checked)
{
	struct ns_replica_row row;
	bool known;
	size_t i;
	int r;

	for (i = 0; i < rep->npairs; i++) {
		r = ns_replica_row_get(rd, rep->pairs[i].handle, rep->addr,
				       &row, &known);
		if (r != 0)
			return r;
		if (pair_unchanged(rep, &rep->pairs[i], known ? &row : NULL))
			continue;
		(*checked)++;
		if ((r = diff_pair(m, rd, rep, &rep->pairs[i], known, d)) != 0)
			return r;
	}
	for (i = 0; i < rep->ngone; i++) {
		r = ns_replica_row_get(rd, rep->gone[i], rep->addr, &row,
				       &known);
		if (r != 0)
			return r;
		if (known)
			diff_missing(m, rep, rep->gone[i], d);
	}
	return diff_scheduled(rd, rep, d);
}

/* Work out what a report changes, on one database snapshot. */
static int report_diff(struct master *m, const struct cs_report *rep,
		       struct cs_diff *d)
{
	struct ns_reader *rd;
	size_t checked = 0;
	int r;

	if ((rd = ns_reader_get(m->ns)) == NULL)
		return -EIO;
	if ((r = ns_read_begin(rd)) != 0)
		goto out;
	if (rep->delta)
		r = delta_diff(m, rd, rep, d, &checked);
	else
		r = full_diff(m, rd, rep, d, &checked);
	if (r == 0)
		r = diff_unconfirmed(m, rd, rep, d);
	chunk_srv_count_report(m->cs, !rep->delta, rep->npairs, checked);
out:
	ns_reader_put(rd);
	return r;
}

/* Hand the revocations a report asks for to the replicator. */
static void report_revoke(struct master *m, const struct cs_report *rep,
			  const json_t *revoke)
{
	size_t i;
	json_t *v;

	json_array_foreach (revoke, i, v) {
		log_info("chunkserver '%s' restarted without its replica of "
			 "leased chunk %016llx",
			 rep->addr, (unsigned long long)json_integer_value(v));
		replicator_request_revoke(m->repl,
					  (uint64_t)json_integer_value(v));
	}
}

/* A report that failed leaves what it took from the server's table for
 * the next one. */
static void report_undo_take(struct master *m, const struct cs_report *rep)
{
	for (size_t i = 0; i < rep->ndels; i++)
		chunk_srv_schedule_delete(m->cs, rep->addr, rep->dels[i]);
	chunk_srv_keep_unconfirmed(m->cs, rep->addr, rep->unconf,
				   rep->nunconf);
}

/* Apply a report: record replica changes, return the delete lists
 * (new references in *del and *del_at). */
static int report_apply(struct master *m, struct cs_report *rep,
			json_t **del, json_t **del_at)
{
	struct cs_diff d = { .del = json_array(), .add = json_array(),
			     .remove = json_array(), .revoke = json_array(),
			     .del_at = json_array(),
			     .unwritten = json_array(),
			     .confirmed = json_array() };
	json_t *op = NULL;
	int r;

	rep->ndels = chunk_srv_take_deletions(m->cs, rep->addr, &rep->dels,
					      &rep->dels_lost);
	if (rep->ndels > 0)
		qsort(rep->dels, rep->ndels, sizeof(*rep->dels), u64_cmp);
	rep->nunconf = chunk_srv_take_unconfirmed(m->cs, rep->addr,
						  &rep->unconf);
	if (rep->nunconf > 0)
		qsort(rep->unconf, rep->nunconf, sizeof(*rep->unconf),
		      unconfirmed_cmp);
	if ((r = report_diff(m, rep, &d)) != 0)
		goto out;
	if (json_array_size(d.add) > 0 || json_array_size(d.remove) > 0 ||
	    json_array_size(d.unwritten) > 0 ||
	    json_array_size(d.confirmed) > 0) {
		op = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "op",
			       "replicas_update", "addr", rep->addr, "add",
			       d.add, "remove", d.remove, "unwritten",
			       d.unwritten, "confirmed", d.confirmed);
		if ((r = oplog_submit(m->oplog, op, NULL)) != 0)
			goto out;
		log_debug("chunkserver '%s': %zu replicas added, %zu removed, "
			  "%zu never written",
			  rep->addr, json_array_size(d.add),
			  json_array_size(d.remove),
			  json_array_size(d.unwritten));
	}
	report_revoke(m, rep, d.revoke);
	if (json_array_size(d.del) + json_array_size(d.del_at) > 0)
		log_info("chunkserver '%s': %zu chunks to delete", rep->addr,
			 json_array_size(d.del) + json_array_size(d.del_at));
	*del = d.del;
	*del_at = d.del_at;
	d.del = d.del_at = NULL;
	keep_unique(&d);
	chunk_srv_keep_unconfirmed(m->cs, rep->addr, d.keep, d.nkeep);
	r = 0;
out:
	if (r != 0)
		report_undo_take(m, rep);
	free(d.keep);
	json_decref(op);
	json_decref(d.del);
	json_decref(d.del_at);
	json_decref(d.add);
	json_decref(d.remove);
	json_decref(d.revoke);
	json_decref(d.unwritten);
	json_decref(d.confirmed);
	return r;
}

int chunk_report_reply(struct master *m, struct cs_report *rep,
			json_t *reply)
{
	json_t *del = NULL, *del_at = NULL;
	int r;

	if ((r = report_apply(m, rep, &del, &del_at)) != 0)
		return r;
	json_object_set_new(reply, "delete", del);
	json_object_set_new(reply, "delete_at", del_at);
	if (rep->dels_lost && rep->delta)
		json_object_set_new(reply, "full_report", json_true());
	json_object_set_new(reply, "drop_corrupt",
			    replicator_note_corrupt(m->repl, rep->addr,
						    rep->corrupt,
						    rep->ncorrupt));
	return 0;
}

void chunk_report_free(struct cs_report *rep)
{
	free(rep->pairs);
	free(rep->gone);
	free(rep->corrupt);
	free(rep->dels);
	free(rep->unconf);
}
