/*
 * grep.c - distributed grep: emits every input line matching the POSIX
 * extended regular expression given as job parameter "pattern" (or, when
 * unset, in the environment variable MR_GREP_PATTERN). The key is
 * "FILE:OFFSET" (the line's byte offset, zero-padded to 12 digits so that
 * keys sort in file order), the value the line. Parameter "ignore_case"
 * set to 1 matches case-insensitively.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr_app.h"

static const char *grep_pattern(struct mr_ctx *ctx)
{
	const char *p = ctx->param(ctx, "pattern");

	return p != NULL ? p : getenv("MR_GREP_PATTERN");
}

static int grep_map(struct mr_ctx *ctx, const char *data, size_t len)
{
	const char *pat = grep_pattern(ctx);
	const char *ic = ctx->param(ctx, "ignore_case");
	const char *p = data, *line, *base;
	int flags = REG_EXTENDED | REG_NOSUB, r = 0;
	regmatch_t m;
	char key[4096 + 32];
	size_t n;
	regex_t re;

	if (pat == NULL)
		return -EINVAL;
	if (ic != NULL && strcmp(ic, "1") == 0)
		flags |= REG_ICASE;
	if (regcomp(&re, pat, flags) != 0)
		return -EINVAL;
	base = ctx->file != NULL ? ctx->file : "";
	if (strrchr(base, '/') != NULL)
		base = strrchr(base, '/') + 1;
	while (r == 0 && mr_next_line(&p, data + len, &line, &n)) {
		m.rm_so = 0;
		m.rm_eo = (regoff_t)n;
		if (regexec(&re, line, 1, &m, REG_STARTEND) != 0)
			continue;
		snprintf(key, sizeof(key), "%.4000s:%012llu", base,
			 ctx->offset + (unsigned long long)(line - data));
		r = ctx->emit(ctx, key, strlen(key), line, n);
	}
	regfree(&re);
	return r;
}

/* Identity: every matching line as it came. */
static int grep_reduce(struct mr_ctx *ctx, const char *key, size_t klen)
{
	const char *val;
	size_t vlen;
	int r;

	while ((r = ctx->next(ctx, &val, &vlen)) == 1)
		if ((r = ctx->emit(ctx, key, klen, val, vlen)) != 0)
			return r;
	return r;
}

const struct mr_app mr_app = {
	.abi = MR_APP_ABI,
	.name = "grep",
	.map = grep_map,
	.reduce = grep_reduce,
	.combine = NULL,
};
