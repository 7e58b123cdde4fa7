/*
 * ns_server_state.h - the database side of the chunk servers'
 * administrative states (decommission.h), a part of the namespace
 * module (namespace.h).
 *
 * Table server_states(addr PK, state) holds the servers that are not in
 * normal service: "draining" (being decommissioned) or
 * "decommissioned" (safe to remove). A server without a row is in
 * normal service. A restarted master reads the table back, so a drain
 * goes on where it was.
 *
 * Op (applied through ns_apply()):
 *     server_state  addr state      set the state ("normal" deletes the
 *                                   row); EINVAL on a bad address or
 *                                   state
 */
#ifndef MASTERD_NS_SERVER_STATE_H
#define MASTERD_NS_SERVER_STATE_H

#include <jansson.h>

struct ns;
struct ns_reader;

/* Writer side, called by ns_apply() in its savepoint ("op" borrowed).
 * 0 or a negative errno. */
int ns_server_state_op(struct ns *ns, const json_t *op);

/* Called per recorded server (strings borrowed for the call); non-zero
 * stops (a negative value is returned). */
typedef int (*ns_server_state_fn)(const char *addr, const char *state,
				  void *arg);

/* Every row of server_states, by address. 0, -EIO or a callback's
 * negative value. */
int ns_server_states(struct ns_reader *rd, ns_server_state_fn fn,
		     void *arg);

#endif
