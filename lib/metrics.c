/*
 * metrics.c - a small Prometheus registry (see metrics.h).
 *
 * A family keeps its series in an array searched linearly: families hold
 * a few dozen series at most in practice (one per route and status
 * code), and a scan of short strings costs less than hashing them.
 * Rendering writes into an open_memstream() buffer.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#include "banned.h"

/* One label value tuple of a family and its value. */
struct metrics_series {
	/* Label values, as many as the family has label names (owned). */
	char *values[METRICS_MAX_LABELS];
	/* Counter or gauge value; histogram sum of observations. */
	double value;
	/* Histogram: observations per bucket (not cumulative), then the
	 * ones above every bound; NULL for the other types. */
	unsigned long long *counts;
	/* Histogram: number of observations. */
	unsigned long long count;
};

struct metrics_family {
	/* Metric name and help text (owned). */
	char *name;
	char *help;
	enum metrics_type type;
	/* Label names (owned) and how many. */
	char *labels[METRICS_MAX_LABELS];
	size_t nlabels;
	/* Histogram bucket upper bounds, increasing. */
	double buckets[METRICS_MAX_BUCKETS];
	size_t nbuckets;
	/* Guards everything below. */
	pthread_mutex_t lock;
	/* Series in creation order. */
	struct metrics_series *series;
	size_t nseries;
	size_t cap;
	/* A tuple was dropped for want of room (warned once). */
	bool full;
	/* Next family of the registry (list guarded by its lock). */
	struct metrics_family *next;
};

/* A collector entry. */
struct metrics_collector {
	metrics_collect_fn fn;
	void *arg;
	struct metrics_collector *next;
};

struct metrics {
	/* Guards the family list (head, tail). */
	pthread_mutex_t lock;
	struct metrics_family *head;
	struct metrics_family *tail;
	/* Serializes renders and guards the collector list. */
	pthread_mutex_t render_lock;
	struct metrics_collector *collectors;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->render_lock, NULL);
	return m;
}

static void metrics_series_release(struct metrics_family *f,
				   struct metrics_series *s)
{
	size_t i;

	for (i = 0; i < f->nlabels; i++)
		free(s->values[i]);
	free(s->counts);
}

static void metrics_family_free(struct metrics_family *f)
{
	size_t i;

	for (i = 0; i < f->nseries; i++)
		metrics_series_release(f, &f->series[i]);
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->series);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void metrics_free(struct metrics *m)
{
	struct metrics_collector *c, *cnext;
	struct metrics_family *f, *next;

	if (m == NULL)
		return;
	for (f = m->head; f != NULL; f = next) {
		next = f->next;
		metrics_family_free(f);
	}
	for (c = m->collectors; c != NULL; c = cnext) {
		cnext = c->next;
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->render_lock);
	free(m);
}

static pthread_once_t metrics_default_once = PTHREAD_ONCE_INIT;
static struct metrics *metrics_default_reg;

static void metrics_default_init(void)
{
	metrics_default_reg = metrics_new();
}

struct metrics *metrics_default(void)
{
	pthread_once(&metrics_default_once, metrics_default_init);
	return metrics_default_reg;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (metric names; labels exclude ':'). */
static bool metrics_name_is_valid(const char *s, bool colon)
{
	size_t i;
	char c;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; (c = s[i]) != '\0'; i++) {
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':'))
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return false;
	}
	return true;
}

/* Label names are valid, distinct, not reserved; count into *n. */
static bool metrics_labels_are_valid(enum metrics_type type,
				     const char *const *labels, size_t *n)
{
	size_t i, j;

	for (i = 0; labels != NULL && labels[i] != NULL; i++) {
		if (i == METRICS_MAX_LABELS ||
		    !metrics_name_is_valid(labels[i], false) ||
		    strncmp(labels[i], "__", 2) == 0 ||
		    (type == METRICS_HISTOGRAM && strcmp(labels[i], "le") == 0))
			return false;
		for (j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0)
				return false;
	}
	*n = i;
	return true;
}

static bool metrics_buckets_are_valid(const double *buckets, size_t n)
{
	size_t i;

	if (n > METRICS_MAX_BUCKETS || (n > 0 && buckets == NULL))
		return false;
	for (i = 0; i < n; i++)
		if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
			return false;
	return true;
}

/* Family "name" of m, or NULL (m->lock held). */
static struct metrics_family *metrics_find(struct metrics *m,
					   const char *name)
{
	struct metrics_family *f;

	for (f = m->head; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct metrics_family *
metrics_family_make(enum metrics_type type, const char *name,
		    const char *help, const char *const *labels,
		    size_t nlabels, const double *buckets, size_t nbuckets)
{
	struct metrics_family *f = xcalloc(1, sizeof(*f));
	size_t i;

	f->name = xstrdup(name);
	f->help = xstrdup(help != NULL ? help : "");
	f->type = type;
	for (i = 0; i < nlabels; i++)
		f->labels[i] = xstrdup(labels[i]);
	f->nlabels = nlabels;
	if (type == METRICS_HISTOGRAM && nbuckets > 0) {
		memcpy(f->buckets, buckets, nbuckets * sizeof(*buckets));
		f->nbuckets = nbuckets;
	}
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

struct metrics_family *metrics_family(struct metrics *m,
				      enum metrics_type type, const char *name,
				      const char *help,
				      const char *const *labels,
				      const double *buckets, size_t nbuckets)
{
	struct metrics_family *f = NULL;
	size_t nlabels = 0;

	if (!metrics_name_is_valid(name, true) ||
	    !metrics_labels_are_valid(type, labels, &nlabels) ||
	    (type == METRICS_HISTOGRAM &&
	     !metrics_buckets_are_valid(buckets, nbuckets))) {
		log_errorx("invalid metric '%s' (name, labels or buckets)",
			   name != NULL ? name : "(null)");
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	if ((f = metrics_find(m, name)) != NULL) {
		if (f->type != type) {
			log_errorx("metric '%s' exists with another type", name);
			f = NULL;
		}
		goto out;
	}
	f = metrics_family_make(type, name, help, labels, nlabels, buckets,
				nbuckets);
	if (m->tail != NULL)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
out:
	pthread_mutex_unlock(&m->lock);
	return f;
}

struct metrics_family *metrics_counter(struct metrics *m, const char *name,
				       const char *help,
				       const char *const *labels)
{
	return metrics_family(m, METRICS_COUNTER, name, help, labels, NULL, 0);
}

struct metrics_family *metrics_gauge(struct metrics *m, const char *name,
				     const char *help,
				     const char *const *labels)
{
	return metrics_family(m, METRICS_GAUGE, name, help, labels, NULL, 0);
}

struct metrics_family *metrics_histogram(struct metrics *m, const char *name,
					 const char *help,
					 const char *const *labels,
					 const double *buckets,
					 size_t nbuckets)
{
	return metrics_family(m, METRICS_HISTOGRAM, name, help, labels,
			      buckets, nbuckets);
}

/* True if series s has exactly these label values. */
static bool metrics_series_matches(const struct metrics_family *f,
				   const struct metrics_series *s,
				   const char *const *values)
{
	size_t i;

	for (i = 0; i < f->nlabels; i++)
		if (strncmp(s->values[i], values[i] != NULL ? values[i] : "",
			    METRICS_VALUE_MAX) != 0)
			return false;
	return true;
}

/* The series for "values", made if needed; NULL when the family is full
 * (f->lock held). */
static struct metrics_series *metrics_series_get(struct metrics_family *f,
						 const char *const *values)
{
	struct metrics_series *s;
	size_t i;

	for (i = 0; i < f->nseries; i++)
		if (metrics_series_matches(f, &f->series[i], values))
			return &f->series[i];
	if (f->nseries == METRICS_MAX_SERIES) {
		if (!f->full)
			log_warnx("metric '%s' has %d series; dropping new "
				  "label values",
				  f->name, METRICS_MAX_SERIES);
		f->full = true;
		return NULL;
	}
	if (f->nseries == f->cap) {
		f->cap = f->cap != 0 ? 2 * f->cap : 8;
		f->series = xrealloc(f->series, f->cap * sizeof(*f->series));
	}
	s = &f->series[f->nseries++];
	memset(s, 0, sizeof(*s));
	for (i = 0; i < f->nlabels; i++)
		s->values[i] = xasprintf("%.*s", METRICS_VALUE_MAX,
					 values[i] != NULL ? values[i] : "");
	if (f->type == METRICS_HISTOGRAM)
		s->counts = xcalloc(f->nbuckets + 1, sizeof(*s->counts));
	return s;
}

/* Apply one update under the family's lock. */
static void metrics_update(struct metrics_family *f, const char *const *values,
			   enum metrics_type type, bool set, double v)
{
	struct metrics_series *s;
	size_t i;

	if (f == NULL || f->type != type || isnan(v) ||
	    (f->nlabels > 0 && values == NULL))
		return;
	pthread_mutex_lock(&f->lock);
	if ((s = metrics_series_get(f, values)) == NULL)
		goto out;
	if (type != METRICS_HISTOGRAM) {
		s->value = set ? v : s->value + v;
		goto out;
	}
	for (i = 0; i < f->nbuckets && v > f->buckets[i]; i++)
		;
	s->counts[i]++;
	s->count++;
	s->value += v;
out:
	pthread_mutex_unlock(&f->lock);
}

void metrics_add(struct metrics_family *f, const char *const *values,
		 double v)
{
	if (f == NULL || (f->type == METRICS_COUNTER && !(v >= 0)))
		return;
	metrics_update(f, values,
		       f->type == METRICS_GAUGE ? METRICS_GAUGE
						: METRICS_COUNTER,
		       false, v);
}

void metrics_set(struct metrics_family *f, const char *const *values,
		 double v)
{
	if (f == NULL || f->type == METRICS_HISTOGRAM)
		return;
	metrics_update(f, values, f->type, true, v);
}

void metrics_observe(struct metrics_family *f, const char *const *values,
		     double v)
{
	metrics_update(f, values, METRICS_HISTOGRAM, false, v);
}

void metrics_clear(struct metrics_family *f)
{
	size_t i;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nseries; i++)
		metrics_series_release(f, &f->series[i]);
	f->nseries = 0;
	f->full = false;
	pthread_mutex_unlock(&f->lock);
}

void metrics_add_collector(struct metrics *m, metrics_collect_fn fn,
			   void *arg)
{
	struct metrics_collector *c = xcalloc(1, sizeof(*c)), **p;

	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&m->render_lock);
	for (p = &m->collectors; *p != NULL; p = &(*p)->next)
		;
	*p = c;
	pthread_mutex_unlock(&m->render_lock);
}

void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn,
			      void *arg)
{
	struct metrics_collector **p, *c;

	pthread_mutex_lock(&m->render_lock);
	for (p = &m->collectors; *p != NULL; p = &(*p)->next) {
		if ((*p)->fn == fn && (*p)->arg == arg) {
			c = *p;
			*p = c->next;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&m->render_lock);
}

/*
 * ---------------------------------------------------------------------
 * Rendering
 * ---------------------------------------------------------------------
 */

/* Write s with '\\' and newlines escaped, and '"' too for label values. */
static void metrics_put_escaped(FILE *out, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (quote && *s == '"')
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

/* A sample value: integers without a fraction, others in full. */
static void metrics_put_value(FILE *out, double v)
{
	if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "%.15g", v);
}

/* "{a="x",b="y"}" with an optional extra le label; nothing if empty. */
static void metrics_put_labels(FILE *out, const struct metrics_family *f,
			       const struct metrics_series *s, const char *le)
{
	size_t i;

	if (f->nlabels == 0 && le == NULL)
		return;
	fputc('{', out);
	for (i = 0; i < f->nlabels; i++) {
		fprintf(out, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
		metrics_put_escaped(out, s->values[i], true);
		fputc('"', out);
	}
	if (le != NULL)
		fprintf(out, "%sle=\"%s\"", f->nlabels > 0 ? "," : "", le);
	fputc('}', out);
}

static void metrics_put_histogram(FILE *out, const struct metrics_family *f,
				  const struct metrics_series *s)
{
	unsigned long long cum = 0;
	char le[64];
	size_t i;

	for (i = 0; i <= f->nbuckets; i++) {
		cum += s->counts[i];
		if (i < f->nbuckets)
			snprintf(le, sizeof(le), "%.15g", f->buckets[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		fprintf(out, "%s_bucket", f->name);
		metrics_put_labels(out, f, s, le);
		fprintf(out, " %llu\n", cum);
	}
	fprintf(out, "%s_sum", f->name);
	metrics_put_labels(out, f, s, NULL);
	fputc(' ', out);
	metrics_put_value(out, s->value);
	fprintf(out, "\n%s_count", f->name);
	metrics_put_labels(out, f, s, NULL);
	fprintf(out, " %llu\n", s->count);
}

static const char *metrics_type_name(enum metrics_type type)
{
	switch (type) {
	case METRICS_COUNTER:
		return "counter";
	case METRICS_GAUGE:
		return "gauge";
	case METRICS_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static void metrics_put_family(FILE *out, struct metrics_family *f)
{
	const struct metrics_series *s;
	size_t i;

	pthread_mutex_lock(&f->lock);
	fprintf(out, "# HELP %s ", f->name);
	metrics_put_escaped(out, f->help, false);
	fprintf(out, "\n# TYPE %s %s\n", f->name, metrics_type_name(f->type));
	for (i = 0; i < f->nseries; i++) {
		s = &f->series[i];
		if (f->type == METRICS_HISTOGRAM) {
			metrics_put_histogram(out, f, s);
			continue;
		}
		fputs(f->name, out);
		metrics_put_labels(out, f, s, NULL);
		fputc(' ', out);
		metrics_put_value(out, s->value);
		fputc('\n', out);
	}
	pthread_mutex_unlock(&f->lock);
}

char *metrics_render(struct metrics *m)
{
	struct metrics_collector *c;
	struct metrics_family *f;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	pthread_mutex_lock(&m->render_lock);
	for (c = m->collectors; c != NULL; c = c->next)
		c->fn(m, c->arg);
	if ((out = open_memstream(&text, &len)) == NULL)
		fatal("open_memstream");
	pthread_mutex_lock(&m->lock);
	for (f = m->head; f != NULL; f = f->next)
		metrics_put_family(out, f);
	pthread_mutex_unlock(&m->lock);
	if (fclose(out) != 0 || text == NULL)
		fatalx("cannot render metrics");
	pthread_mutex_unlock(&m->render_lock);
	return text;
}
