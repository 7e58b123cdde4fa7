/*
 * kv.c - intermediate records and the k-way merge of sorted runs (see
 * kv.h). The merge keeps the runs in a binary heap ordered by their
 * current key, so each record costs O(log runs).
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kv.h"
#include "xmalloc.h"

#include "banned.h"

/* Cursor of one run inside a merge. */
struct kv_cursor {
	const char *p;          /* next undecoded record */
	const char *end;
	struct kv_rec cur;      /* current record, valid while in the heap */
};

struct kv_merge {
	struct kv_cursor *cur;  /* one per run */
	size_t *heap;           /* indices of cur[], min key on top */
	size_t nheap;
	const char *key;        /* current key (borrowed from a run) */
	size_t klen;
	bool in_key;            /* next_key() returned and values may remain */
	bool bad;               /* a run held a malformed record */
	uint64_t records;
};

int kv_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n != 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

uint64_t kv_hash(const char *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

unsigned kv_hash_partition(uint64_t hash, unsigned nparts)
{
	return nparts > 1 ? (unsigned)(hash % nparts) : 0;
}

unsigned kv_partition(const char *key, size_t klen, unsigned nparts)
{
	return kv_hash_partition(kv_hash(key, klen), nparts);
}

const char *kv_decode(const char *p, const char *end, struct kv_rec *rec)
{
	uint32_t kl, vl;

	if (end - p < KV_HDR)
		return NULL;
	memcpy(&kl, p, 4);
	memcpy(&vl, p + 4, 4);
	kl = le32toh(kl);
	vl = le32toh(vl);
	if (kl > KV_MAX_FIELD || vl > KV_MAX_FIELD ||
	    (size_t)(end - p - KV_HDR) < (size_t)kl + vl)
		return NULL;
	rec->key = p + KV_HDR;
	rec->klen = kl;
	rec->val = rec->key + kl;
	rec->vlen = vl;
	return rec->val + vl;
}

int kv_write(FILE *fp, const char *key, size_t klen, const char *val,
	     size_t vlen)
{
	uint32_t hdr[2] = { htole32((uint32_t)klen), htole32((uint32_t)vlen) };

	if (klen > KV_MAX_FIELD || vlen > KV_MAX_FIELD)
		return -E2BIG;
	if (fwrite(hdr, 1, KV_HDR, fp) != KV_HDR ||
	    fwrite(key, 1, klen, fp) != klen ||
	    fwrite(val, 1, vlen, fp) != vlen)
		return -EIO;
	return 0;
}

bool kv_run_is_valid(const char *p, const char *end)
{
	struct kv_rec rec, prev = { 0 };
	bool first = true;

	while (p < end) {
		p = kv_decode(p, end, &rec);
		if (p == NULL)
			return false;
		if (!first &&
		    kv_cmp(prev.key, prev.klen, rec.key, rec.klen) > 0)
			return false;
		prev = rec;
		first = false;
	}
	return true;
}

/* True if cursor a's key sorts before b's. */
static bool kv_less(const struct kv_merge *m, size_t a, size_t b)
{
	const struct kv_rec *x = &m->cur[a].cur, *y = &m->cur[b].cur;

	return kv_cmp(x->key, x->klen, y->key, y->klen) < 0;
}

static void kv_sift_down(struct kv_merge *m, size_t i)
{
	size_t l, r, s, tmp;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		s = i;
		if (l < m->nheap && kv_less(m, m->heap[l], m->heap[s]))
			s = l;
		if (r < m->nheap && kv_less(m, m->heap[r], m->heap[s]))
			s = r;
		if (s == i)
			return;
		tmp = m->heap[i];
		m->heap[i] = m->heap[s];
		m->heap[s] = tmp;
		i = s;
	}
}

/* Decode the next record of cursor c; false at its end or on garbage. */
static bool kv_cursor_advance(struct kv_merge *m, struct kv_cursor *c)
{
	const char *next;

	if (c->p >= c->end)
		return false;
	next = kv_decode(c->p, c->end, &c->cur);
	if (next == NULL) {
		m->bad = true;
		return false;
	}
	c->p = next;
	return true;
}

struct kv_merge *kv_merge_new(const struct kv_run *runs, size_t nruns)
{
	struct kv_merge *m = xcalloc(1, sizeof(*m));
	size_t i;

	m->cur = xcalloc(nruns, sizeof(*m->cur));
	m->heap = xcalloc(nruns, sizeof(*m->heap));
	for (i = 0; i < nruns; i++) {
		m->cur[i].p = runs[i].p;
		m->cur[i].end = runs[i].end;
		if (kv_cursor_advance(m, &m->cur[i]))
			m->heap[m->nheap++] = i;
	}
	for (i = m->nheap / 2; i-- > 0;)
		kv_sift_down(m, i);
	return m;
}

void kv_merge_free(struct kv_merge *m)
{
	if (m == NULL)
		return;
	free(m->cur);
	free(m->heap);
	free(m);
}

/* Consume the top record: advance its run and restore the heap. */
static void kv_merge_pop(struct kv_merge *m)
{
	struct kv_cursor *c = &m->cur[m->heap[0]];

	m->records++;
	if (!kv_cursor_advance(m, c))
		m->heap[0] = m->heap[--m->nheap];
	if (m->nheap > 0)
		kv_sift_down(m, 0);
}

int kv_merge_next_value(struct kv_merge *m, const char **val, size_t *vlen)
{
	const struct kv_rec *top;

	if (!m->in_key || m->nheap == 0)
		return 0;
	top = &m->cur[m->heap[0]].cur;
	if (kv_cmp(top->key, top->klen, m->key, m->klen) != 0) {
		m->in_key = false;
		return 0;
	}
	*val = top->val;
	*vlen = top->vlen;
	kv_merge_pop(m);
	return 1;
}

int kv_merge_next_key(struct kv_merge *m, const char **key, size_t *klen)
{
	const char *v;
	size_t vl;
	const struct kv_rec *top;

	while (m->in_key && kv_merge_next_value(m, &v, &vl) == 1)
		;
	if (m->bad)
		return -EBADMSG;
	if (m->nheap == 0)
		return 0;
	top = &m->cur[m->heap[0]].cur;
	m->key = top->key;
	m->klen = top->klen;
	m->in_key = true;
	*key = m->key;
	*klen = m->klen;
	return 1;
}

uint64_t kv_merge_records(const struct kv_merge *m)
{
	return m->records;
}

int kv_merge_value_fn(void *it, const char **val, size_t *vlen)
{
	return kv_merge_next_value(it, val, vlen);
}
