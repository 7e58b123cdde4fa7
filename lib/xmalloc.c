/*
 * xmalloc.c - allocation that cannot fail (see xmalloc.h).
 *
 * A failed allocation logs and exits the process: callers never check.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

#include "banned.h"

void *xmalloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu bytes", size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL)
		fatal("out of memory allocating %zu * %zu bytes", nmemb, size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size != 0 ? size : 1);

	if (p == NULL)
		fatal("out of memory reallocating to %zu bytes", size);
	return p;
}

void *xgrow(void *ptr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap > 0 ? *cap : 16;

	if (need <= *cap)
		return ptr;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / size)
		fatal("out of memory growing an array to %zu elements", need);
	*cap = ncap;
	return xrealloc(ptr, ncap * size);
}

char *xstrdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = xmalloc(len);

	memcpy(p, s, len);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("out of memory formatting a string");
	return s;
}
