/*
 * replica_meta.h - the header of a replica's metadata file, shared by the
 * chunk server that writes it (chunkd/store.c) and by clients that read
 * replicas on their own machine straight from the files (lib/client_local.c).
 *
 * A metadata file is this 64-byte header, then one little-endian 32-bit
 * checksum_block() per DFS_BLOCK_SIZE block of the data file. The header
 * holds, little-endian: magic "DFSM", format 1, handle, version, length,
 * block size, and a checksum of the bytes before it.
 */
#ifndef DFS_REPLICA_META_H
#define DFS_REPLICA_META_H

#include <stdint.h>

/* Bytes of the header; block i's checksum is at HEADER + 4 * i. */
#define REPLICA_META_HEADER 64

/* Largest replica length a header may carry. */
#define REPLICA_MAX_LENGTH (1ULL << 30)

struct replica_meta {
	uint64_t handle;
	uint64_t version;
	uint64_t length;        /* bytes of the data file */
};

/* Fill hdr (REPLICA_META_HEADER bytes) with m's header. */
void replica_meta_encode(uint8_t *hdr, const struct replica_meta *m);

/* Check a header and extract its fields. 0 or -EBADMSG. */
int replica_meta_decode(const uint8_t *hdr, struct replica_meta *m);

#endif
