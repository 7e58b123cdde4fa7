/*
 * wc.c - word count: a word is a maximal run of ASCII letters, kept in
 * its case; the output is one "word<TAB>count" line per word.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mr_app.h"

static int is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int wc_map(struct mr_ctx *ctx, const char *data, size_t len)
{
	size_t i = 0, start;
	int r;

	while (i < len) {
		while (i < len && !is_letter(data[i]))
			i++;
		start = i;
		while (i < len && is_letter(data[i]))
			i++;
		if (i > start &&
		    (r = ctx->emit(ctx, data + start, i - start, "1", 1)) != 0)
			return r;
	}
	return 0;
}

/* Sum the decimal counts of a key (reduce and combine alike). */
static int wc_reduce(struct mr_ctx *ctx, const char *key, size_t klen)
{
	unsigned long long sum = 0;
	const char *val;
	size_t vlen, i;
	char buf[32];
	int r, n;

	while ((r = ctx->next(ctx, &val, &vlen)) == 1) {
		unsigned long long v = 0;

		for (i = 0; i < vlen && val[i] >= '0' && val[i] <= '9'; i++)
			v = v * 10 + (unsigned long long)(val[i] - '0');
		sum += v;
	}
	if (r < 0)
		return r;
	n = snprintf(buf, sizeof(buf), "%llu", sum);
	return ctx->emit(ctx, key, klen, buf, (size_t)n);
}

const struct mr_app mr_app = {
	.abi = MR_APP_ABI,
	.name = "wc",
	.map = wc_map,
	.reduce = wc_reduce,
	.combine = wc_reduce,
};
