/*
 * test_metrics.c - the Prometheus registry: exposition text of each
 * metric type, label escaping, invalid names, the series cap,
 * collectors, and counts under concurrent updates.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "metrics.h"

#include "banned.h"

static const char *const no_labels[] = { NULL };

/* Assert that the rendered text of m contains "want". */
static void assert_renders(struct metrics *m, const char *want)
{
	char *text = metrics_render(m);

	if (strstr(text, want) == NULL)
		fail_msg("missing in output:\n%s\n--- output:\n%s", want, text);
	free(text);
}

static void test_counter_and_gauge(void **state)
{
	static const char *const lab[] = { "endpoint", "code", NULL };
	struct metrics *m = metrics_new();
	struct metrics_family *c, *g;

	(void)state;
	c = metrics_counter(m, "t_requests_total", "Requests.", lab);
	g = metrics_gauge(m, "t_chunks", "Chunks held.", no_labels);
	assert_non_null(c);
	assert_non_null(g);
	metrics_add(c, (const char *[]){ "/a", "200" }, 1);
	metrics_add(c, (const char *[]){ "/a", "200" }, 2);
	metrics_add(c, (const char *[]){ "/b", "404" }, 1);
	metrics_add(c, (const char *[]){ "/b", "404" }, -5);
	metrics_set(g, NULL, 42);
	metrics_add(g, NULL, -2);
	assert_renders(m, "# HELP t_requests_total Requests.\n"
			  "# TYPE t_requests_total counter\n"
			  "t_requests_total{endpoint=\"/a\",code=\"200\"} 3\n"
			  "t_requests_total{endpoint=\"/b\",code=\"404\"} 1\n");
	assert_renders(m, "# TYPE t_chunks gauge\nt_chunks 40\n");
	/* Same name and type: the same family. */
	assert_ptr_equal(metrics_counter(m, "t_requests_total", "x", lab), c);
	metrics_free(m);
}

static void test_histogram(void **state)
{
	static const double b[] = { 0.1, 1, 10 };
	static const char *const lab[] = { "endpoint", NULL };
	struct metrics *m = metrics_new();
	struct metrics_family *h;

	(void)state;
	h = metrics_histogram(m, "t_seconds", "Latency.", lab, b, 3);
	assert_non_null(h);
	metrics_observe(h, (const char *[]){ "/x" }, 0.05);
	metrics_observe(h, (const char *[]){ "/x" }, 0.1);
	metrics_observe(h, (const char *[]){ "/x" }, 5);
	metrics_observe(h, (const char *[]){ "/x" }, 100);
	assert_renders(m, "# TYPE t_seconds histogram\n"
			  "t_seconds_bucket{endpoint=\"/x\",le=\"0.1\"} 2\n"
			  "t_seconds_bucket{endpoint=\"/x\",le=\"1\"} 2\n"
			  "t_seconds_bucket{endpoint=\"/x\",le=\"10\"} 3\n"
			  "t_seconds_bucket{endpoint=\"/x\",le=\"+Inf\"} 4\n"
			  "t_seconds_sum{endpoint=\"/x\"} 105.15\n"
			  "t_seconds_count{endpoint=\"/x\"} 4\n");
	metrics_free(m);
}

static void test_escaping(void **state)
{
	static const char *const lab[] = { "path", NULL };
	struct metrics *m = metrics_new();
	struct metrics_family *g;

	(void)state;
	g = metrics_gauge(m, "t_g", "Help with \\ and\nnewline.", lab);
	metrics_set(g, (const char *[]){ "a\"b\\c\nd" }, 1.5);
	assert_renders(m, "# HELP t_g Help with \\\\ and\\nnewline.\n");
	assert_renders(m, "t_g{path=\"a\\\"b\\\\c\\nd\"} 1.5\n");
	metrics_free(m);
}

static void test_invalid(void **state)
{
	static const char *const bad_label[] = { "0abc", NULL };
	static const char *const reserved[] = { "__x", NULL };
	static const char *const le[] = { "le", NULL };
	static const char *const dup[] = { "a", "a", NULL };
	static const char *const many[] = { "a", "b", "c", "d", NULL };
	static const double down[] = { 2, 1 };
	struct metrics *m = metrics_new();

	(void)state;
	log_init("test_metrics", LOG_LEVEL_ERROR + 1);
	assert_null(metrics_counter(m, "9bad", "x", NULL));
	assert_null(metrics_counter(m, "bad-name", "x", NULL));
	assert_null(metrics_counter(m, "", "x", NULL));
	assert_null(metrics_counter(m, "t_a", "x", bad_label));
	assert_null(metrics_counter(m, "t_a", "x", reserved));
	assert_null(metrics_counter(m, "t_a", "x", dup));
	assert_null(metrics_counter(m, "t_a", "x", many));
	assert_null(metrics_histogram(m, "t_h", "x", le, NULL, 0));
	assert_null(metrics_histogram(m, "t_h", "x", NULL, down, 2));
	assert_non_null(metrics_counter(m, "t_ok:total", "x", NULL));
	assert_null(metrics_gauge(m, "t_ok:total", "x", NULL));
	/* A NULL family is a no-op. */
	metrics_add(NULL, NULL, 1);
	metrics_set(NULL, NULL, 1);
	metrics_observe(NULL, NULL, 1);
	metrics_clear(NULL);
	metrics_free(m);
}

static void test_series_cap(void **state)
{
	static const char *const lab[] = { "k", NULL };
	struct metrics *m = metrics_new();
	struct metrics_family *c;
	char v[32], *text;
	const char *vals[1] = { v };
	size_t i, lines = 0;

	(void)state;
	log_init("test_metrics", LOG_LEVEL_ERROR + 1);
	c = metrics_counter(m, "t_capped_total", "x", lab);
	for (i = 0; i < METRICS_MAX_SERIES + 10; i++) {
		snprintf(v, sizeof(v), "v%zu", i);
		metrics_add(c, vals, 1);
	}
	text = metrics_render(m);
	for (i = 0; text[i] != '\0'; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, METRICS_MAX_SERIES + 2);
	free(text);
	metrics_clear(c);
	assert_renders(m, "# TYPE t_capped_total counter\n");
	metrics_add(c, vals, 1);
	assert_renders(m, "t_capped_total{k=\"v521\"} 1\n");
	metrics_free(m);
}

static void collect(struct metrics *m, void *arg)
{
	int *calls = arg;

	(*calls)++;
	metrics_set(metrics_gauge(m, "t_collected", "From a collector.",
				  NULL),
		    NULL, *calls);
}

static void test_collector(void **state)
{
	struct metrics *m = metrics_new();
	int calls = 0;
	char *text;

	(void)state;
	metrics_add_collector(m, collect, &calls);
	assert_renders(m, "t_collected 1\n");
	assert_renders(m, "t_collected 2\n");
	metrics_remove_collector(m, collect, &calls);
	text = metrics_render(m);
	free(text);
	assert_int_equal(calls, 2);
	metrics_free(m);
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	static const double b[] = { 1 };
	struct metrics *m = arg;
	struct metrics_family *c, *h;
	const char *v[1] = { "x" };
	int i;

	c = metrics_counter(m, "t_hammer_total", "x",
			    (const char *[]){ "k", NULL });
	h = metrics_histogram(m, "t_hammer_seconds", "x", NULL, b, 1);
	for (i = 0; i < PER_THREAD; i++) {
		metrics_add(c, v, 1);
		metrics_observe(h, NULL, 0.5);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct metrics *m = metrics_new();
	pthread_t t[THREADS];
	char *text;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
	for (i = 0; i < THREADS; i++) {
		text = metrics_render(m);
		free(text);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_renders(m, "t_hammer_total{k=\"x\"} 80000\n");
	assert_renders(m, "t_hammer_seconds_count 80000\n");
	assert_renders(m, "t_hammer_seconds_sum 40000\n");
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_and_gauge),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_collector),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
