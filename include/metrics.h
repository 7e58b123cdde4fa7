/*
 * metrics.h - a small Prometheus registry: counters, gauges and
 * histograms with a few fixed labels, rendered in the text exposition
 * format (version 0.0.4) that a daemon serves at GET /metrics.
 *
 * A family has a name, a help line, a type and up to METRICS_MAX_LABELS
 * label names, fixed when it is made. Each distinct tuple of label values
 * is a series, made on first use; a family holds at most
 * METRICS_MAX_SERIES of them (later tuples are dropped, with one
 * warning), so label values must come from small fixed sets (a route
 * path, an HTTP code, a server address), never from request data.
 * Histograms have fixed bucket upper bounds given when they are made.
 *
 * Collectors are functions the registry calls just before it renders,
 * to refresh gauges from a daemon's own state (chunk counts, capacity),
 * so that nothing has to push those values as they change.
 *
 * Threads: every function is thread-safe. Each family has its own lock
 * (updates of one family never wait for another); the registry's lock
 * guards its list of families and collectors. Families live as long as
 * their registry; pointers to them may be kept and used from any thread.
 *
 * Calling sequence:
 *     m = metrics_default();
 *     f = metrics_counter(m, "dfs_x_total", "Xs done.", labels);
 *     metrics_add(f, values, 1);        from any thread
 *     text = metrics_render(m);  ...  free(text);
 */
#ifndef DFS_METRICS_H
#define DFS_METRICS_H

#include <stddef.h>

/* Most label names of one family. */
#define METRICS_MAX_LABELS 3

/* Most series (label value tuples) of one family. */
#define METRICS_MAX_SERIES 512

/* Most buckets of a histogram (+Inf not counted). */
#define METRICS_MAX_BUCKETS 32

/* Longest label value kept; longer ones are cut. */
#define METRICS_VALUE_MAX 128

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics;
struct metrics_family;

/* Refresh gauges of "m" from a daemon's state; called by
 * metrics_render() with no lock of the registry held. */
typedef void (*metrics_collect_fn)(struct metrics *m, void *arg);

/* New empty registry. Never NULL. */
struct metrics *metrics_new(void);

/* Free a registry and its families. NULL is a no-op. */
void metrics_free(struct metrics *m);

/* The process-wide registry, made on first use and never freed. */
struct metrics *metrics_default(void);

/*
 * The family "name" of registry "m", made if it does not exist yet.
 * "labels" is a NULL-terminated list of label names (NULL: none),
 * "buckets" the increasing upper bounds of a histogram (ignored for the
 * other types). Strings are copied. Asking again for an existing name
 * with the same type returns the same family (its help, labels and
 * buckets stay the first ones). Returns NULL (logged) for an invalid
 * metric or label name, too many labels or buckets, or a name already
 * used by another type.
 */
struct metrics_family *metrics_family(struct metrics *m,
				      enum metrics_type type, const char *name,
				      const char *help,
				      const char *const *labels,
				      const double *buckets, size_t nbuckets);

/* metrics_family() for a counter, a gauge and a histogram. */
struct metrics_family *metrics_counter(struct metrics *m, const char *name,
				       const char *help,
				       const char *const *labels);
struct metrics_family *metrics_gauge(struct metrics *m, const char *name,
				     const char *help,
				     const char *const *labels);
struct metrics_family *metrics_histogram(struct metrics *m, const char *name,
					 const char *help,
					 const char *const *labels,
					 const double *buckets,
					 size_t nbuckets);

/*
 * Update the series of family "f" named by "values" (one string per
 * label name of the family, in order; NULL when it has none). A NULL
 * family is a no-op, so a failed registration never crashes a caller.
 * metrics_add: add v to a counter (v >= 0; negative values are ignored)
 * or a gauge. metrics_set: set a gauge, or a counter that mirrors a
 * total kept elsewhere (a collector copying a module's own count).
 * metrics_observe: count v in a histogram. Calls that do not fit the
 * family's type are ignored.
 */
void metrics_add(struct metrics_family *f, const char *const *values,
		 double v);
void metrics_set(struct metrics_family *f, const char *const *values,
		 double v);
void metrics_observe(struct metrics_family *f, const char *const *values,
		     double v);

/* Drop every series of a family (a collector about to set the gauges of
 * a set of servers that may have shrunk). NULL is a no-op. */
void metrics_clear(struct metrics_family *f);

/* Call fn(m, arg) before every render, in the order added. */
void metrics_add_collector(struct metrics *m, metrics_collect_fn fn,
			   void *arg);

/* Stop calling a collector added with the same fn and arg. Returns once
 * no render runs it any more. */
void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn,
			      void *arg);

/*
 * Run the collectors, then render every family in the order it was made
 * (series in the order they were made) as exposition text: HELP and TYPE
 * lines, then one sample line per series (histograms: cumulative
 * _bucket lines ending with le="+Inf", then _sum and _count). Returns a
 * new string owned by the caller. Never NULL.
 */
char *metrics_render(struct metrics *m);

#endif
