/*
 * metrics_http.c - request metrics and the /metrics endpoint (see
 * metrics_http.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_http.h"

#include "banned.h"

/* Upper bounds of the request latency histogram, in seconds. */
static const double metrics_http_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10,
};

/* The families every observed request updates. */
static struct {
	struct metrics_family *requests;
	struct metrics_family *duration;
	struct metrics_family *received;
	struct metrics_family *sent;
} metrics_http_fam;

static pthread_once_t metrics_http_once = PTHREAD_ONCE_INIT;

static void metrics_http_init(void)
{
	static const char *const ep_code[] = { "endpoint", "code", NULL };
	static const char *const ep[] = { "endpoint", NULL };
	struct metrics *m = metrics_default();

	metrics_http_fam.requests = metrics_counter(
		m, "dfs_http_requests_total",
		"HTTP requests served, by endpoint and status code.", ep_code);
	metrics_http_fam.duration = metrics_histogram(
		m, "dfs_http_request_duration_seconds",
		"Time from request line to completion, by endpoint.", ep,
		metrics_http_buckets,
		sizeof(metrics_http_buckets) / sizeof(metrics_http_buckets[0]));
	metrics_http_fam.received = metrics_counter(
		m, "dfs_http_received_bytes_total",
		"Request body bytes received, by endpoint.", ep);
	metrics_http_fam.sent = metrics_counter(
		m, "dfs_http_sent_bytes_total",
		"Response body bytes sent, by endpoint.", ep);
}

void metrics_http_observe(const struct http_request_stats *st, void *arg)
{
	const char *endpoint = st->route != NULL ? st->route : "other";
	const char *ep[1] = { endpoint };
	const char *ep_code[2];
	char code[16];

	(void)arg;
	pthread_once(&metrics_http_once, metrics_http_init);
	if (st->status != 0)
		snprintf(code, sizeof(code), "%u", st->status);
	else
		snprintf(code, sizeof(code), "none");
	ep_code[0] = endpoint;
	ep_code[1] = code;
	metrics_add(metrics_http_fam.requests, ep_code, 1);
	metrics_observe(metrics_http_fam.duration, ep,
			st->seconds > 0 ? st->seconds : 0);
	metrics_add(metrics_http_fam.received, ep, (double)st->bytes_in);
	metrics_add(metrics_http_fam.sent, ep, (double)st->bytes_out);
}

void metrics_http_handle(struct http_request *req, void *arg)
{
	char *text;

	(void)arg;
	pthread_once(&metrics_http_once, metrics_http_init);
	text = metrics_render(metrics_default());
	http_reply_buffer(req, 200, text, strlen(text), METRICS_CONTENT_TYPE);
}
