/*
 * checksum.h - block checksums for replicas (xxHash XXH3, 64-bit, kept
 * as 32 bits on disk: the low half, enough to catch corruption).
 *
 * A replica of N bytes has ceil(N / DFS_BLOCK_SIZE) block checksums; the
 * last block's checksum covers only the bytes the replica holds.
 */
#ifndef DFS_CHECKSUM_H
#define DFS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Checksum of one block's bytes. */
uint32_t checksum_block(const void *data, size_t len);

#endif
