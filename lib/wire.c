/*
 * wire.c - wire status codes <-> errno <-> HTTP codes (see wire.h).
 *
 * One table, indexed by status, holds the name, errno and HTTP code of
 * every status. Statuses with no exact POSIX twin take the closest errno
 * that no other status uses, so the mapping round-trips:
 *   CORRUPT -> EUCLEAN (as ext4/xfs report corruption), DOWNSTREAM ->
 *   EREMOTEIO, TOOBIG -> EMSGSIZE, UNAUTH -> EKEYREJECTED, NOTFOUND ->
 *   EBADRQC (never ENOSYS: FUSE would disable the operation for good).
 * FORBIDDEN shares EACCES with ACCES; EACCES maps back to ACCES.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

#include "banned.h"

struct wire_status_info {
	const char *name; /* short upper-case name, as in "error" fields */
	int err;          /* positive errno */
	unsigned http;    /* HTTP status code of a reply carrying it */
};

static const struct wire_status_info wire_table[DFS_ERR_MAX] = {
	[DFS_OK] = {"OK", 0, 200},
	[DFS_ERR_NOENT] = {"NOENT", ENOENT, 404},
	[DFS_ERR_EXIST] = {"EXIST", EEXIST, 409},
	[DFS_ERR_NOTDIR] = {"NOTDIR", ENOTDIR, 400},
	[DFS_ERR_ISDIR] = {"ISDIR", EISDIR, 400},
	[DFS_ERR_NOTEMPTY] = {"NOTEMPTY", ENOTEMPTY, 409},
	[DFS_ERR_INVAL] = {"INVAL", EINVAL, 400},
	[DFS_ERR_ACCES] = {"ACCES", EACCES, 403},
	[DFS_ERR_PERM] = {"PERM", EPERM, 403},
	[DFS_ERR_NOSPC] = {"NOSPC", ENOSPC, 507},
	[DFS_ERR_IO] = {"IO", EIO, 500},
	[DFS_ERR_NAMETOOLONG] = {"NAMETOOLONG", ENAMETOOLONG, 400},
	[DFS_ERR_STALE] = {"STALE", ESTALE, 409},
	[DFS_ERR_CORRUPT] = {"CORRUPT", EUCLEAN, 500},
	[DFS_ERR_DOWNSTREAM] = {"DOWNSTREAM", EREMOTEIO, 502},
	[DFS_ERR_AGAIN] = {"AGAIN", EAGAIN, 503},
	[DFS_ERR_NOTSUP] = {"NOTSUP", EOPNOTSUPP, 501},
	[DFS_ERR_FBIG] = {"FBIG", EFBIG, 400},
	[DFS_ERR_TOOBIG] = {"TOOBIG", EMSGSIZE, 413},
	[DFS_ERR_UNAUTH] = {"UNAUTH", EKEYREJECTED, 401},
	[DFS_ERR_FORBIDDEN] = {"FORBIDDEN", EACCES, 403},
	[DFS_ERR_NOTFOUND] = {"NOTFOUND", EBADRQC, 404},
	[DFS_ERR_NODATA] = {"NODATA", ENODATA, 404},
	[DFS_ERR_RANGE] = {"RANGE", ERANGE, 400},
	[DFS_ERR_LOOP] = {"LOOP", ELOOP, 400},
};

/* Errno values with no status of their own, and the status they take. */
static const struct {
	int err;
	int status;
} wire_errno_aliases[] = {
	{EDQUOT, DFS_ERR_NOSPC},
	{EBADMSG, DFS_ERR_CORRUPT},
	{E2BIG, DFS_ERR_TOOBIG},
	{EOVERFLOW, DFS_ERR_RANGE},
	{EROFS, DFS_ERR_PERM},
	{EBUSY, DFS_ERR_AGAIN},
};

/* True if "status" indexes the table. */
static bool wire_status_valid(int status)
{
	return status >= 0 && status < DFS_ERR_MAX;
}

const char *wire_status_name(int status)
{
	return wire_status_valid(status) ? wire_table[status].name : "UNKNOWN";
}

int wire_status_to_errno(int status)
{
	return wire_status_valid(status) ? wire_table[status].err : EIO;
}

int wire_status_from_errno(int err)
{
	size_t i;
	int s;

	if (err < 0)
		err = -err;
	if (err == 0)
		return DFS_OK;
	for (s = 1; s < DFS_ERR_MAX; s++)
		if (wire_table[s].err == err)
			return s;
	for (i = 0; i < sizeof(wire_errno_aliases) /
				sizeof(wire_errno_aliases[0]);
	     i++)
		if (wire_errno_aliases[i].err == err)
			return wire_errno_aliases[i].status;
	return DFS_ERR_IO;
}

unsigned wire_status_http(int status)
{
	return wire_status_valid(status) ? wire_table[status].http : 500;
}
