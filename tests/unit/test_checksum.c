/*
 * test_checksum.c - block checksums: known values, agreement with
 * XXH3_64bits, sensitivity to every single-bit flip; the replica
 * metadata header built on them (replica_meta.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "checksum.h"
#include "dfs_proto.h"
#include "replica_meta.h"

#include "banned.h"

static void test_known_values(void **state)
{
	(void)state;
	/* XXH3_64bits("") is 0x2d06800538d394c2. */
	assert_int_equal(checksum_block("", 0), 0x38d394c2u);
	assert_int_equal(checksum_block(NULL, 0), 0x38d394c2u);
	assert_int_equal(checksum_block("abc", 3),
			 (uint32_t)XXH3_64bits("abc", 3));
}

static void test_matches_xxh3(void **state)
{
	unsigned char *buf = malloc(DFS_BLOCK_SIZE);
	size_t lens[] = {1, 3, 16, 17, 128, 129, 240, 241, 4096, 65535,
			 DFS_BLOCK_SIZE};
	size_t i;

	(void)state;
	for (i = 0; i < DFS_BLOCK_SIZE; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(checksum_block(buf, lens[i]),
				 (uint32_t)XXH3_64bits(buf, lens[i]));
		/* Deterministic. */
		assert_int_equal(checksum_block(buf, lens[i]),
				 checksum_block(buf, lens[i]));
	}
	free(buf);
}

static void test_bit_flips(void **state)
{
	unsigned char buf[4096];
	uint32_t ref;
	size_t i;
	int b;

	(void)state;
	memset(buf, 0, sizeof(buf));
	ref = checksum_block(buf, sizeof(buf));
	for (i = 0; i < sizeof(buf); i++) {
		for (b = 0; b < 8; b++) {
			buf[i] ^= (unsigned char)(1u << b);
			if (checksum_block(buf, sizeof(buf)) == ref)
				fail_msg("flip of bit %d of byte %zu unseen", b,
					 i);
			buf[i] ^= (unsigned char)(1u << b);
		}
	}
	/* A length change is seen too (a zero byte appended). */
	assert_int_not_equal(checksum_block(buf, sizeof(buf) - 1), ref);
}

/* A header decodes to what was encoded; any flipped bit, and a length
 * past the limit, are refused. */
static void test_replica_meta(void **state)
{
	struct replica_meta in = { 0x1234567890abcdefULL, 42, 65537 }, out;
	uint8_t hdr[REPLICA_META_HEADER];

	(void)state;
	replica_meta_encode(hdr, &in);
	assert_int_equal(replica_meta_decode(hdr, &out), 0);
	assert_true(out.handle == in.handle && out.version == in.version &&
		    out.length == in.length);
	for (size_t i = 0; i < 40; i++) {
		hdr[i] ^= 0x10;
		assert_int_equal(replica_meta_decode(hdr, &out), -EBADMSG);
		hdr[i] ^= 0x10;
	}
	in.length = REPLICA_MAX_LENGTH + 1;
	replica_meta_encode(hdr, &in);
	assert_int_equal(replica_meta_decode(hdr, &out), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_matches_xxh3),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_replica_meta),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
