/*
 * ns_stats.c - namespace totals for the status page and metrics (see
 * ns_stats.h). It runs its own SQL on a reader's connection, which is
 * why it includes the namespace module's private header.
 */
#include <errno.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "namespace_int.h"
#include "ns_stats.h"

#include "banned.h"

int ns_stats_file_bytes(struct ns_reader *rd, uint64_t *bytes)
{
	static const char sql[] =
		"SELECT COALESCE(SUM(size), 0) FROM inodes"
		" WHERE (mode & 61440) = 32768";
	sqlite3_stmt *st = NULL;
	int rc;

	_Static_assert(S_IFMT == 61440 && S_IFREG == 32768,
		       "mode bits in the SQL");
	*bytes = 0;
	rc = sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*bytes = (uint64_t)sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : ns_sqlite_err(rd->db, rc, "file bytes");
}
