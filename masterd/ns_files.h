/*
 * ns_files.h - the database side of open files, a part of the namespace
 * module (namespace.h): client sessions, orphans and record appends.
 *
 * Sessions: a mount (a client session, see open_files.h) is recorded in
 * table sessions(id, since_s) from its first registration to its end or
 * expiry, so that a restarted master knows which sessions may still
 * hold files open and waits for them before it deletes orphans.
 *
 * Orphans: an unlink or rename op carrying "orphan": true leaves a
 * regular file whose last name goes in the database with nlink 0 (ns_apply.c)
 * instead of deleting it; such an inode has no name but keeps its chunks,
 * so open handles of any client go on reading and writing it. The reap
 * op (ns_apply.c) deletes orphans once nobody has them open.
 *
 * Ops (applied through ns_apply(); "time" is [s, ns]):
 *     session_add  session time          record a session (idempotent)
 *     session_del  sessions: [id, ...]   forget sessions (idempotent)
 *     append       ino length time       record append: reply the attrs
 *                  after growing the size by "length", plus "offset",
 *                  the old size, where the caller's bytes go; sets
 *                  mtime and ctime. ENOENT, EISDIR, EINVAL, EFBIG.
 */
#ifndef MASTERD_NS_FILES_H
#define MASTERD_NS_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

struct ns;
struct ns_reader;

/* Largest length of one append op (a few write() calls at most). */
#define NS_APPEND_MAX (64ULL * 1024 * 1024)

/* Writer side, called by ns_apply() in its savepoint ("op" borrowed).
 * 0 or a negative errno; the append op sets *result (caller owns). */
int ns_files_op_session_add(struct ns *ns, const json_t *op,
			    const struct timespec *now);
int ns_files_op_session_del(struct ns *ns, const json_t *op);
int ns_files_op_append(struct ns *ns, const json_t *op,
		       const struct timespec *now, json_t **result);

/* Called per id; non-zero stops (a negative value is returned). */
typedef int (*ns_id_fn)(uint64_t id, void *arg);

/* Every recorded session. 0, -EIO or a callback's negative value. */
int ns_sessions(struct ns_reader *rd, ns_id_fn fn, void *arg);

/* Up to "max" orphans (regular files with nlink 0) whose ctime (set
 * when the last name went) is before "before", oldest first. 0, -EIO
 * or a callback's negative value. */
int ns_orphans(struct ns_reader *rd, unsigned max,
	       const struct timespec *before, ns_id_fn fn, void *arg);

#endif
