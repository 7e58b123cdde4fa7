/*
 * status_page.h - the master's status web page (EP_STATUS_PAGE, "/")
 * and the two JSON endpoints it refreshes itself from every 2 seconds:
 * EP_OVERVIEW (servers, capacity, chunk health, files and bytes) and
 * EP_JOBS (the MapReduce jobs of the coordinator named by --coordinator,
 * fetched through the master so the page needs no other origin).
 *
 * The page is one self-contained HTML document (status_html.c): inline
 * CSS and script, no external assets, laid out for a phone as well as a
 * desktop. The job list is cached for a second, so many open pages cost
 * the coordinator one request per second at most.
 *
 * Calling sequence:
 *     status_page_start(m);    before the HTTP server starts
 *     ... routes call the handlers (arg: struct master) ...
 *     status_page_stop(m);     after it stopped
 */
#ifndef MASTERD_STATUS_PAGE_H
#define MASTERD_STATUS_PAGE_H

#include <jansson.h>

#include "http_server.h"

struct master;

/* The page, a NUL-terminated HTML document (status_html.c). */
extern const char status_page_html[];

/* Make the job list's client and cache. 0 (it cannot fail). */
int status_page_start(struct master *m);

/* Free them. Safe if start never ran. */
void status_page_stop(struct master *m);

/*
 * The EP_OVERVIEW object as a new reference, or NULL with *err set (a
 * negative errno) when the metadata cannot be read.
 */
json_t *status_page_overview_json(struct master *m, int *err);

/* Handlers of EP_STATUS_PAGE, EP_OVERVIEW and EP_JOBS (GET). */
void status_page_handle(struct http_request *req, void *arg);
void status_page_overview(struct http_request *req, void *arg);
void status_page_jobs(struct http_request *req, void *arg);

#endif
