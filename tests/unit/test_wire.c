/*
 * test_wire.c - wire status names, errno and HTTP mappings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "wire.h"

#include "banned.h"

/* The HTTP code of every status, as the protocol fixes it. */
static const unsigned expected_http[DFS_ERR_MAX] = {
	[DFS_OK] = 200,
	[DFS_ERR_NOENT] = 404,
	[DFS_ERR_EXIST] = 409,
	[DFS_ERR_NOTDIR] = 400,
	[DFS_ERR_ISDIR] = 400,
	[DFS_ERR_NOTEMPTY] = 409,
	[DFS_ERR_INVAL] = 400,
	[DFS_ERR_ACCES] = 403,
	[DFS_ERR_PERM] = 403,
	[DFS_ERR_NOSPC] = 507,
	[DFS_ERR_IO] = 500,
	[DFS_ERR_NAMETOOLONG] = 400,
	[DFS_ERR_STALE] = 409,
	[DFS_ERR_CORRUPT] = 500,
	[DFS_ERR_DOWNSTREAM] = 502,
	[DFS_ERR_AGAIN] = 503,
	[DFS_ERR_NOTSUP] = 501,
	[DFS_ERR_FBIG] = 400,
	[DFS_ERR_TOOBIG] = 413,
	[DFS_ERR_UNAUTH] = 401,
	[DFS_ERR_FORBIDDEN] = 403,
	[DFS_ERR_NOTFOUND] = 404,
	[DFS_ERR_NODATA] = 404,
	[DFS_ERR_RANGE] = 400,
	[DFS_ERR_LOOP] = 400,
};

static void test_http_codes(void **state)
{
	int s;

	(void)state;
	for (s = 0; s < DFS_ERR_MAX; s++)
		if (wire_status_http(s) != expected_http[s])
			fail_msg("status %s: http %u, want %u",
				 wire_status_name(s), wire_status_http(s),
				 expected_http[s]);
	assert_int_equal(wire_status_http(-1), 500);
	assert_int_equal(wire_status_http(DFS_ERR_MAX), 500);
	assert_int_equal(wire_status_http(1000), 500);
}

static void test_names(void **state)
{
	int s, t;

	(void)state;
	assert_string_equal(wire_status_name(DFS_OK), "OK");
	assert_string_equal(wire_status_name(DFS_ERR_NOENT), "NOENT");
	assert_string_equal(wire_status_name(DFS_ERR_LOOP), "LOOP");
	assert_string_equal(wire_status_name(-1), "UNKNOWN");
	assert_string_equal(wire_status_name(DFS_ERR_MAX), "UNKNOWN");
	for (s = 0; s < DFS_ERR_MAX; s++) {
		assert_non_null(wire_status_name(s));
		assert_string_not_equal(wire_status_name(s), "UNKNOWN");
		for (t = 0; t < s; t++)
			assert_string_not_equal(wire_status_name(s),
						wire_status_name(t));
	}
}

static void test_errno_roundtrip(void **state)
{
	int s, e;

	(void)state;
	assert_int_equal(wire_status_to_errno(DFS_OK), 0);
	assert_int_equal(wire_status_from_errno(0), DFS_OK);
	for (s = 1; s < DFS_ERR_MAX; s++) {
		e = wire_status_to_errno(s);
		assert_true(e > 0);
		/* FORBIDDEN shares EACCES, which maps back to ACCES. */
		if (s == DFS_ERR_FORBIDDEN) {
			assert_int_equal(wire_status_from_errno(e),
					 DFS_ERR_ACCES);
			continue;
		}
		assert_int_equal(wire_status_from_errno(e), s);
		assert_int_equal(wire_status_from_errno(-e), s);
	}
}

static void test_errno_values(void **state)
{
	(void)state;
	assert_int_equal(wire_status_to_errno(DFS_ERR_NOENT), ENOENT);
	assert_int_equal(wire_status_to_errno(DFS_ERR_EXIST), EEXIST);
	assert_int_equal(wire_status_to_errno(DFS_ERR_NOTEMPTY), ENOTEMPTY);
	assert_int_equal(wire_status_to_errno(DFS_ERR_NAMETOOLONG),
			 ENAMETOOLONG);
	assert_int_equal(wire_status_to_errno(DFS_ERR_STALE), ESTALE);
	assert_int_equal(wire_status_to_errno(DFS_ERR_AGAIN), EAGAIN);
	assert_int_equal(wire_status_to_errno(DFS_ERR_NOTSUP), EOPNOTSUPP);
	assert_int_equal(wire_status_to_errno(DFS_ERR_NODATA), ENODATA);
	/* Unknown codes are I/O errors. */
	assert_int_equal(wire_status_to_errno(-3), EIO);
	assert_int_equal(wire_status_to_errno(DFS_ERR_MAX), EIO);
	assert_int_equal(wire_status_from_errno(EXDEV), DFS_ERR_IO);
	assert_int_equal(wire_status_from_errno(-ENOTCONN), DFS_ERR_IO);
	/* Aliases. */
	assert_int_equal(wire_status_from_errno(EDQUOT), DFS_ERR_NOSPC);
	assert_int_equal(wire_status_from_errno(ENOTSUP), DFS_ERR_NOTSUP);
	assert_int_equal(wire_status_from_errno(EWOULDBLOCK), DFS_ERR_AGAIN);
	assert_int_equal(wire_status_from_errno(-EBADMSG), DFS_ERR_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_codes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_errno_roundtrip),
		cmocka_unit_test(test_errno_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
