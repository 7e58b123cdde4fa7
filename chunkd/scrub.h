/*
 * scrub.h - the background scrubber of a chunk server: re-reads every
 * idle replica and verifies its block checksums (SPEC 3).
 *
 * A pass lists the store's replicas and verifies each in turn with
 * store_verify(), skipping replicas being mutated at that moment (their
 * chunk's mutation lock is held). Reading is paced to "rate" bytes per
 * second; a pass starts at most once per "interval_ms". A corrupt
 * replica is set aside by the store and reported to the master by the
 * next heartbeat (master_conn.h), which re-replicates it.
 *
 * Calling sequence:
 *     sc = scrub_new(st, rate, interval_ms);   starts the thread
 *     scrub_free(sc);                           stops and joins it
 */
#ifndef DFS_CHUNKD_SCRUB_H
#define DFS_CHUNKD_SCRUB_H

#include <stdint.h>

struct scrub;
struct store;

/* Start scrubbing store "st" (borrowed) at "rate" bytes per second with
 * passes at most every "interval_ms". rate 0 disables scrubbing (no
 * thread). Never NULL. */
struct scrub *scrub_new(struct store *st, uint64_t rate, int64_t interval_ms);

/* Stop the thread and free. NULL is a no-op. */
void scrub_free(struct scrub *sc);

#endif
