/*
 * app.c - C apps (dlopen'ed include/mr_app.h objects) and streaming
 * commands behind one interface (see app.h).
 *
 * A C app gets a struct mr_ctx embedded first in a struct app_ctx, so its
 * callbacks find the engine state from the ctx pointer they are given.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "child.h"
#include "kv.h"
#include "log.h"
#include "mr_app.h"
#include "xmalloc.h"

#include "banned.h"

/* Input lines gathered before they are written to a streaming reducer. */
#define APP_REDUCE_BATCH (1 << 20)

struct app {
	const struct mr_app *so;    /* C app, or NULL in streaming mode */
	char *name;
	char *mapper;               /* streaming commands */
	char *reducer;
};

/* Engine side of an mr_ctx; ctx must stay the first member. */
struct app_ctx {
	struct mr_ctx ctx;
	const struct app_task *t;
	kv_emit_fn emit;            /* map and combine output */
	void *emit_arg;
	kv_next_fn next;            /* reduce and combine input */
	void *it;
	app_out_fn out;             /* reduce output lines */
	void *out_arg;
	uint64_t nout;              /* lines written */
};

struct app_map {
	struct app *a;
	struct app_ctx c;
	struct child *child;        /* streaming mapper */
	char **env;                 /* its extra environment */
};

struct app *app_open_so(const char *path)
{
	const struct mr_app *desc;
	struct app *a;
	void *h;

	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		log_errorx("cannot load app '%s': %s", path, dlerror());
		return NULL;
	}
	desc = dlsym(h, MR_APP_SYMBOL);
	if (desc == NULL || desc->abi != MR_APP_ABI || desc->map == NULL ||
	    desc->reduce == NULL) {
		log_errorx("'%s' is not an mr app (no valid '%s' of ABI %d)",
			   path, MR_APP_SYMBOL, MR_APP_ABI);
		dlclose(h);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->so = desc;
	a->name = xstrdup(desc->name != NULL ? desc->name : path);
	return a;
}

struct app *app_new_streaming(const char *mapper, const char *reducer)
{
	struct app *a = xcalloc(1, sizeof(*a));

	a->mapper = xstrdup(mapper);
	a->reducer = xstrdup(reducer);
	a->name = xstrdup("streaming");
	return a;
}

void app_free(struct app *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->mapper);
	free(a->reducer);
	free(a);
}

const char *app_name(const struct app *a)
{
	return a->name;
}

static const char *app_ctx_param(struct mr_ctx *ctx, const char *name)
{
	const struct app_task *t = ((struct app_ctx *)ctx)->t;
	size_t n = strlen(name);
	char *const *p;

	for (p = t->params; p != NULL && *p != NULL; p++)
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

static int app_ctx_emit(struct mr_ctx *ctx, const char *key, size_t klen,
			const char *val, size_t vlen)
{
	struct app_ctx *c = (struct app_ctx *)ctx;

	if (c->t->abort != NULL && atomic_load(c->t->abort))
		return -ECANCELED;
	return c->emit(c->emit_arg, key, klen, val, vlen);
}

static int app_ctx_next(struct mr_ctx *ctx, const char **val, size_t *vlen)
{
	struct app_ctx *c = (struct app_ctx *)ctx;

	return c->next != NULL ? c->next(c->it, val, vlen) : 0;
}

/* Reduce emit: one "key<TAB>value\n" output line. */
static int app_ctx_emit_line(struct mr_ctx *ctx, const char *key,
			     size_t klen, const char *val, size_t vlen)
{
	struct app_ctx *c = (struct app_ctx *)ctx;
	int r;

	if (c->t->abort != NULL && atomic_load(c->t->abort))
		return -ECANCELED;
	if ((r = c->out(c->out_arg, key, klen)) != 0 ||
	    (r = c->out(c->out_arg, "\t", 1)) != 0 ||
	    (r = c->out(c->out_arg, val, vlen)) != 0 ||
	    (r = c->out(c->out_arg, "\n", 1)) != 0)
		return r;
	c->nout++;
	return 0;
}

static void app_ctx_init(struct app_ctx *c, const struct app_task *t)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->ctx.job = t->job;
	c->ctx.task = t->index;
	c->ctx.file = t->file;
	c->ctx.emit = app_ctx_emit;
	c->ctx.next = app_ctx_next;
	c->ctx.param = app_ctx_param;
	c->ctx.engine = c;
}

/* The kv_group_fn handed to mapout when the app has a combiner. */
static int app_combine_fn(void *arg, const char *key, size_t klen,
			  kv_next_fn next, void *it, kv_emit_fn emit,
			  void *emit_arg)
{
	struct app_combine_arg *ca = arg;
	struct app_ctx c;

	app_ctx_init(&c, ca->task);
	c.emit = emit;
	c.emit_arg = emit_arg;
	c.next = next;
	c.it = it;
	return ca->app->so->combine(&c.ctx, key, klen);
}

kv_group_fn app_combiner(const struct app *a)
{
	return a->so != NULL && a->so->combine != NULL ? app_combine_fn : NULL;
}

/* Extra environment of a streaming child: params and task identity. */
static char **app_env(const struct app_task *t)
{
	size_t n = 0, i = 0;
	char **env;

	while (t->params != NULL && t->params[n] != NULL)
		n++;
	env = xcalloc(n + 4, sizeof(*env));
	for (; i < n; i++)
		env[i] = xstrdup(t->params[i]);
	env[i++] = xasprintf("MR_JOB=%s", t->job);
	env[i++] = xasprintf("MR_TASK=%u", t->index);
	if (t->file != NULL)
		env[i++] = xasprintf("MR_INPUT_FILE=%s", t->file);
	return env;
}

static void app_env_free(char **env)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* A streaming mapper's output line: key<TAB>value (no TAB: all key). */
static int app_map_line(void *arg, const char *line, size_t len)
{
	struct app_ctx *c = arg;
	const char *tab = memchr(line, '\t', len);

	if (tab == NULL)
		return c->emit(c->emit_arg, line, len, "", 0);
	return c->emit(c->emit_arg, line, (size_t)(tab - line), tab + 1,
		       len - (size_t)(tab - line) - 1);
}

struct app_map *app_map_begin(struct app *a, const struct app_task *t,
			      kv_emit_fn emit, void *emit_arg, int *err)
{
	struct app_map *m = xcalloc(1, sizeof(*m));

	m->a = a;
	app_ctx_init(&m->c, t);
	m->c.emit = emit;
	m->c.emit_arg = emit_arg;
	*err = 0;
	if (a->so == NULL) {
		m->env = app_env(t);
		m->child = child_spawn(a->mapper, m->env, t->abort, err);
		if (m->child == NULL) {
			app_env_free(m->env);
			free(m);
			return NULL;
		}
	}
	return m;
}

int app_map_feed(struct app_map *m, const char *data, size_t len,
		 uint64_t offset)
{
	if (m->child != NULL)
		return child_feed(m->child, data, len, app_map_line, &m->c);
	m->c.ctx.offset = offset;
	return m->a->so->map(&m->c.ctx, data, len);
}

int app_map_end(struct app_map *m, bool ok)
{
	int r = 0;

	if (m->child != NULL && ok)
		r = child_finish(m->child, app_map_line, &m->c);
	child_free(m->child);
	app_env_free(m->env);
	free(m);
	return r;
}

/* A streaming reducer's output line, copied to the task output. */
static int app_reduce_line(void *arg, const char *line, size_t len)
{
	struct app_ctx *c = arg;
	int r;

	if ((r = c->out(c->out_arg, line, len)) != 0 ||
	    (r = c->out(c->out_arg, "\n", 1)) != 0)
		return r;
	c->nout++;
	return 0;
}

/* Append "key<TAB>value\n" to a growing buffer. */
static void app_buf_line(char **buf, size_t *len, size_t *cap,
			 const char *key, size_t klen, const char *val,
			 size_t vlen)
{
	size_t need = *len + klen + vlen + 2;

	if (need > *cap) {
		*cap = need > 2 * *cap ? need : 2 * *cap;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, key, klen);
	(*buf)[*len + klen] = '\t';
	memcpy(*buf + *len + klen + 1, val, vlen);
	(*buf)[need - 1] = '\n';
	*len = need;
}

/* Streaming reduce: sorted key<TAB>value lines through the reducer. */
static int app_reduce_streaming(struct app *a, struct app_ctx *c,
				struct kv_merge *m)
{
	char **env = app_env(c->t);
	const char *key, *val;
	size_t klen, vlen, len = 0, cap = 0;
	char *buf = NULL;
	struct child *ch;
	int r;

	if ((ch = child_spawn(a->reducer, env, c->t->abort, &r)) == NULL)
		goto out;
	while ((r = kv_merge_next_key(m, &key, &klen)) == 1) {
		while (kv_merge_next_value(m, &val, &vlen) == 1)
			app_buf_line(&buf, &len, &cap, key, klen, val, vlen);
		if (len < APP_REDUCE_BATCH)
			continue;
		if ((r = child_feed(ch, buf, len, app_reduce_line, c)) != 0)
			goto out;
		len = 0;
	}
	if (r != 0 ||
	    (len != 0 &&
	     (r = child_feed(ch, buf, len, app_reduce_line, c)) != 0))
		goto out;
	r = child_finish(ch, app_reduce_line, c);
out:
	child_free(ch);
	app_env_free(env);
	free(buf);
	return r;
}

int app_reduce(struct app *a, const struct app_task *t, struct kv_merge *m,
	       app_out_fn out, void *out_arg, uint64_t *records_out)
{
	struct app_ctx c;
	const char *key;
	size_t klen;
	int r;

	app_ctx_init(&c, t);
	c.out = out;
	c.out_arg = out_arg;
	if (a->so == NULL) {
		r = app_reduce_streaming(a, &c, m);
		goto out;
	}
	c.ctx.emit = app_ctx_emit_line;
	c.next = kv_merge_value_fn;
	c.it = m;
	while ((r = kv_merge_next_key(m, &key, &klen)) == 1) {
		if (t->abort != NULL && atomic_load(t->abort)) {
			r = -ECANCELED;
			break;
		}
		if ((r = a->so->reduce(&c.ctx, key, klen)) != 0)
			break;
	}
out:
	*records_out = c.nout;
	return r;
}
