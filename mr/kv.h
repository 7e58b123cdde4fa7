/*
 * kv.h - intermediate key/value records, sorted runs and their merge.
 *
 * A record is [u32 klen][u32 vlen][key][value] with little-endian
 * lengths. Map output partitions, spill files and shuffle bodies are
 * sorted runs of records: keys in increasing kv_cmp() order, the values
 * of one key next to each other.
 *
 * A struct kv_merge walks several sorted runs at once, key by key:
 *     m = kv_merge_new(runs, n);
 *     while ((r = kv_merge_next_key(m, &key, &klen)) == 1)
 *             while (kv_merge_next_value(m, &val, &vlen) == 1) ...
 *     kv_merge_free(m);
 * The runs' memory is borrowed and must stay mapped until the merge is
 * freed; returned keys and values point into it.
 */
#ifndef MR_KV_H
#define MR_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes of a record header. */
#define KV_HDR 8

/* Largest key or value accepted in a record (64 MiB). */
#define KV_MAX_FIELD (64u * 1024 * 1024)

/* One decoded record; pointers borrowed from the run. */
struct kv_rec {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

/* A sorted run of encoded records in memory, [p, end). */
struct kv_run {
	const char *p;
	const char *end;
};

struct kv_merge;

/* Output callback for pairs (same contract as mr_emit_fn). */
typedef int (*kv_emit_fn)(void *arg, const char *key, size_t klen,
			  const char *val, size_t vlen);

/* Value iterator: 1 with *val and *vlen set, 0 at the end, or -errno. */
typedef int (*kv_next_fn)(void *it, const char **val, size_t *vlen);

/*
 * Reduce-like callback over one key's values (a combiner or a reducer):
 * read them with next(it, ...), output pairs with emit(emit_arg, ...).
 * 0 or a negative errno.
 */
typedef int (*kv_group_fn)(void *arg, const char *key, size_t klen,
			   kv_next_fn next, void *it, kv_emit_fn emit,
			   void *emit_arg);

/* Compare two byte-string keys: memcmp order, a prefix first. */
int kv_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Partition of a key among nparts (the same on every host). */
unsigned kv_partition(const char *key, size_t klen, unsigned nparts);

/* 64-bit hash of a key (XXH3), from which kv_partition() derives. */
uint64_t kv_hash(const char *key, size_t klen);

/* Partition from a kv_hash() value. */
unsigned kv_hash_partition(uint64_t hash, unsigned nparts);

/*
 * Decode the record at p (not past end) into *rec. Returns the address
 * after it, or NULL when the record is truncated or oversized.
 */
const char *kv_decode(const char *p, const char *end, struct kv_rec *rec);

/* Write one record to a stdio stream. 0 or -EIO. */
int kv_write(FILE *fp, const char *key, size_t klen, const char *val,
	     size_t vlen);

/* Check that [p, end) is a whole number of sorted records. */
bool kv_run_is_valid(const char *p, const char *end);

/* Merge of nruns runs (the array is copied). Never NULL. */
struct kv_merge *kv_merge_new(const struct kv_run *runs, size_t nruns);
void kv_merge_free(struct kv_merge *m);

/*
 * Advance to the next distinct key (skipping unread values of the current
 * one). Returns 1 with *key and *klen set, 0 at the end, -EBADMSG when a run
 * holds a malformed record.
 */
int kv_merge_next_key(struct kv_merge *m, const char **key, size_t *klen);

/* Next value of the current key: 1 with *val and *vlen set, 0 when done. */
int kv_merge_next_value(struct kv_merge *m, const char **val, size_t *vlen);

/* kv_merge_next_value() as a kv_next_fn (it is the struct kv_merge). */
int kv_merge_value_fn(void *it, const char **val, size_t *vlen);

/* Records consumed so far (values returned or skipped). */
uint64_t kv_merge_records(const struct kv_merge *m);

#endif
