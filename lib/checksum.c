/*
 * checksum.c - block checksums (see checksum.h): the low 32 bits of
 * xxHash XXH3_64bits, which runs at memory speed.
 */
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "checksum.h"

#include "banned.h"

uint32_t checksum_block(const void *data, size_t len)
{
	return (uint32_t)XXH3_64bits(data, len);
}
