/*
 * mr_app.h - the MapReduce application API.
 *
 * An app is one shared object (built from one .c file that includes only
 * this header and system headers) exporting a constant named "mr_app":
 *
 *     static int wc_map(struct mr_ctx *ctx, const char *data, size_t len);
 *     static int wc_reduce(struct mr_ctx *ctx, const char *key, size_t klen);
 *     const struct mr_app mr_app = {
 *             .abi = MR_APP_ABI, .name = "wc",
 *             .map = wc_map, .reduce = wc_reduce, .combine = wc_reduce,
 *     };
 *
 * Map: the engine calls map() several times per map task, with consecutive
 * ranges of whole records (lines) of the task's input split, in file order.
 * Every line of a range ends in '\n' except, possibly, the last line of the
 * file. mr_next_line() below walks them. A line belongs to the split where
 * it starts, so every line of the input is seen by exactly one map call.
 *
 * Reduce: called once per distinct intermediate key, in increasing key
 * order (bytes compared with memcmp, a shorter prefix first); ctx->next()
 * yields that key's values in no particular order. Keys and values are
 * byte strings; the output of a reduce task is one "key<TAB>value\n" line
 * per emitted pair, in emission order, so keys and values should not
 * contain '\t' or '\n'.
 *
 * Combine (optional, may be NULL): a reduce run by the map task over its
 * own output, per key, before that output is written; it must emit pairs
 * with the key it was given (any other key fails the task) whose reduce
 * gives the same result (e.g. partial sums). It may run zero, one or
 * several times on the same data.
 *
 * Threads: the engine may run several tasks of one app concurrently in one
 * process, so map/reduce/combine must not keep unguarded global state.
 * A map or reduce that returns a negative errno fails its task attempt
 * (the task is retried elsewhere, and the job fails after a few failures).
 * Tasks may be executed more than once (failures, backup copies): map and
 * reduce must be deterministic functions of their input.
 *
 * Job parameters: `mr submit --param NAME=VALUE` makes ctx->param(ctx,
 * "NAME") return "VALUE" in every task of the job (NULL when unset).
 *
 * Distribution: `mr submit --app FILE.so` uploads the object's bytes to
 * the coordinator; each worker fetches and caches it (by its SHA-256), so
 * the file need only exist where the job is submitted.
 */
#ifndef DFS_MR_APP_H
#define DFS_MR_APP_H

#include <stddef.h>
#include <string.h>

/* Bumped when struct mr_app or struct mr_ctx change incompatibly. */
#define MR_APP_ABI 1

/* Name of the symbol the engine looks up in an app's shared object. */
#define MR_APP_SYMBOL "mr_app"

struct mr_ctx;

/*
 * Output one key/value pair (bytes are copied before the call returns).
 * Returns 0, or a negative errno that the app must return at once.
 */
typedef int (*mr_emit_fn)(struct mr_ctx *ctx, const char *key, size_t klen,
			  const char *val, size_t vlen);

/*
 * Next value of the key being reduced: returns 1 with *val and *vlen set
 * (valid until the next call), 0 when there are no more, or a negative
 * errno (return it).
 */
typedef int (*mr_next_fn)(struct mr_ctx *ctx, const char **val, size_t *vlen);

/* Job parameter NAME (borrowed, valid for the task), or NULL when unset. */
typedef const char *(*mr_param_fn)(struct mr_ctx *ctx, const char *name);

/*
 * What the engine tells a map/reduce/combine call. The engine owns it;
 * the app reads the fields and calls the function pointers with ctx.
 */
struct mr_ctx {
	const char *job;          /* job id ("seq" under mr seq) */
	unsigned task;            /* map or reduce task number */
	const char *file;         /* map: input file path; NULL otherwise */
	unsigned long long offset; /* map: file offset of data[0] */
	mr_emit_fn emit;          /* output a pair */
	mr_next_fn next;          /* reduce/combine: the key's next value */
	mr_param_fn param;        /* job parameter lookup */
	void *engine;             /* private to the engine */
};

/* Map a range of whole lines; 0 or a negative errno. */
typedef int (*mr_map_fn)(struct mr_ctx *ctx, const char *data, size_t len);

/* Reduce (or combine) one key, reading its values with ctx->next(). */
typedef int (*mr_reduce_fn)(struct mr_ctx *ctx, const char *key,
			    size_t klen);

/* The descriptor an app exports as "const struct mr_app mr_app". */
struct mr_app {
	unsigned abi;             /* MR_APP_ABI */
	const char *name;         /* short name, shown in job status */
	mr_map_fn map;            /* required */
	mr_reduce_fn reduce;      /* required */
	mr_reduce_fn combine;     /* optional, NULL for none */
};

/*
 * Walk the lines of a map range: set *line and *len to the next line
 * (without its '\n') and advance *pos. Returns 0 at the end of the range.
 *
 *     const char *p = data, *line; size_t n;
 *     while (mr_next_line(&p, data + len, &line, &n)) ...
 */
static inline int mr_next_line(const char **pos, const char *end,
			       const char **line, size_t *len)
{
	const char *p = *pos;
	const char *nl;

	if (p >= end)
		return 0;
	nl = (const char *)memchr(p, '\n', (size_t)(end - p));
	*line = p;
	*len = (size_t)((nl != NULL ? nl : end) - p);
	*pos = nl != NULL ? nl + 1 : end;
	return 1;
}

/* Emit NUL-terminated key and value. */
static inline int mr_emit_str(struct mr_ctx *ctx, const char *key,
			      const char *val)
{
	return ctx->emit(ctx, key, strlen(key), val, strlen(val));
}

#endif
