/*
 * ns_server_state.c - administrative states of chunk servers in the
 * database (see ns_server_state.h). Statements are prepared per call:
 * these ops are rare.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sqlite3.h>

#include "namespace.h"
#include "namespace_int.h"
#include "ns_server_state.h"
#include "proto.h"
#include "banned.h"

/* Longest state name stored. */
#define NS_STATE_MAX 32

static bool state_is_valid(const char *state)
{
	return strcmp(state, "normal") == 0 ||
	       strcmp(state, "draining") == 0 ||
	       strcmp(state, "decommissioned") == 0;
}

int ns_server_state_op(struct ns *ns, const json_t *op)
{
	const char *addr, *state, *sql;
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = proto_get_str(op, "addr", DFS_ADDR_MAX - 1, &addr)) != 0 ||
	    (r = proto_get_str(op, "state", NS_STATE_MAX, &state)) != 0)
		return r;
	if (!proto_addr_is_valid(addr) || !state_is_valid(state))
		return -EINVAL;
	if (strcmp(state, "normal") == 0)
		sql = "DELETE FROM server_states WHERE addr = ?1";
	else
		sql = "INSERT INTO server_states(addr, state) VALUES (?1, ?2)"
		      " ON CONFLICT(addr) DO UPDATE SET state = excluded.state";
	rc = sqlite3_prepare_v2(ns->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return ns_sqlite_err(ns->db, rc, "server state");
	}
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : ns_sqlite_err(ns->db, rc, "server state");
}

int ns_server_states(struct ns_reader *rd, ns_server_state_fn fn, void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(rd->db,
				"SELECT addr, state FROM server_states"
				" ORDER BY addr",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return ns_sqlite_err(rd->db, rc, "server states");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn((const char *)sqlite3_column_text(st, 0),
		       (const char *)sqlite3_column_text(st, 1), arg);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = ns_sqlite_err(rd->db, rc, "server states");
	sqlite3_finalize(st);
	return r < 0 ? r : 0;
}
