/*
 * metrics_http.h - request metrics of a daemon's HTTP server and its
 * GET /metrics endpoint, both over the process-wide registry
 * (metrics_default()).
 *
 * Every request a server observes counts in
 *     dfs_http_requests_total{endpoint, code}
 *     dfs_http_request_duration_seconds{endpoint}   (histogram)
 *     dfs_http_received_bytes_total{endpoint}
 *     dfs_http_sent_bytes_total{endpoint}
 * where "endpoint" is the matched route's path ("other" when none
 * matched, so that odd request paths cannot grow the label set) and
 * "code" the HTTP status ("none" when the peer left before a reply).
 *
 * Calling sequence (in a daemon's server set-up):
 *     opts.observe = metrics_http_observe;
 *     routes: { "GET", EP_METRICS, metrics_http_handle, 0 }
 */
#ifndef DFS_METRICS_HTTP_H
#define DFS_METRICS_HTTP_H

#include "http_server.h"

/* Content type of the exposition format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* An http_observe_fn counting the request (arg unused). Thread-safe. */
void metrics_http_observe(const struct http_request_stats *st, void *arg);

/* Route handler answering the rendered default registry (arg unused). */
void metrics_http_handle(struct http_request *req, void *arg);

#endif
