/*
 * replica_meta.c - the header of a replica's metadata file (see
 * replica_meta.h).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "dfs_proto.h"
#include "replica_meta.h"
#include "banned.h"

/* "DFSM" read as a little-endian 32-bit number. */
#define META_MAGIC 0x4d534644u
#define META_FORMAT 1u
/* The header checksum covers the bytes before it. */
#define META_SUM_OFF 36

static void put_u32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

void replica_meta_encode(uint8_t *hdr, const struct replica_meta *m)
{
	memset(hdr, 0, REPLICA_META_HEADER);
	put_u32(hdr, META_MAGIC);
	put_u32(hdr + 4, META_FORMAT);
	put_u64(hdr + 8, m->handle);
	put_u64(hdr + 16, m->version);
	put_u64(hdr + 24, m->length);
	put_u32(hdr + 32, DFS_BLOCK_SIZE);
	put_u32(hdr + META_SUM_OFF, checksum_block(hdr, META_SUM_OFF));
}

int replica_meta_decode(const uint8_t *hdr, struct replica_meta *m)
{
	if (get_u32(hdr) != META_MAGIC || get_u32(hdr + 4) != META_FORMAT ||
	    get_u32(hdr + 32) != DFS_BLOCK_SIZE ||
	    get_u32(hdr + META_SUM_OFF) != checksum_block(hdr, META_SUM_OFF))
		return -EBADMSG;
	m->handle = get_u64(hdr + 8);
	m->version = get_u64(hdr + 16);
	m->length = get_u64(hdr + 24);
	if (m->length > REPLICA_MAX_LENGTH)
		return -EBADMSG;
	return 0;
}
