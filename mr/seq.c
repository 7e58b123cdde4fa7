/*
 * seq.c - `mr seq`: the sequential reference run on local files.
 *
 * One map per input file (the whole file as one split), the same
 * partitioning, sort and reduce code as the workers, and the same output
 * layout: OUTPUT/part-NNNNN files, then OUTPUT/_SUCCESS. Output equals a
 * cluster run's for the same app, inputs and number of reduces.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "cmds.h"
#include "jobopts.h"
#include "log.h"
#include "mapout.h"
#include "task.h"
#include "util.h"
#include "xmalloc.h"

#include "banned.h"

/* Map output memory before spilling, in MiB (--map-memory). */
#define SEQ_MAP_MEMORY 256

/* Option codes of seq's own options. */
enum seq_code {
	SEQ_MAP_MEMORY_OPT = 2000,
};

/* The input files of a run, in order. */
struct seq_inputs {
	char **paths;
	size_t n;
};

static void seq_usage(FILE *fp)
{
	fprintf(fp,
		"usage: mr seq (--app FILE.so | --mapper CMD --reducer CMD) "
		"--output DIR\n"
		"              [--reduces R] [--param NAME=VALUE]... "
		"[--map-memory MiB] INPUT...\n"
		"Runs a job sequentially on local files (a directory stands "
		"for the files in it)\nand writes DIR/part-NNNNN and "
		"DIR/_SUCCESS like a cluster run.\n");
}

static void seq_inputs_add(struct seq_inputs *in, char *path)
{
	in->paths = xrealloc(in->paths, (in->n + 1) * sizeof(*in->paths));
	in->paths[in->n++] = path;
}

static int seq_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the regular files directly in dir, sorted, skipping '.' and '_'
 * names (as the coordinator does). */
static int seq_add_dir(struct seq_inputs *in, const char *dir)
{
	struct seq_inputs d = { 0 };
	struct dirent *e;
	struct stat st;
	DIR *dp;
	char *p;
	size_t i;

	if ((dp = opendir(dir)) == NULL)
		return -errno;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_')
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			seq_inputs_add(&d, p);
		else
			free(p);
	}
	closedir(dp);
	qsort(d.paths, d.n, sizeof(*d.paths), seq_cmp_names);
	for (i = 0; i < d.n; i++)
		seq_inputs_add(in, d.paths[i]);
	free(d.paths);
	return 0;
}

static int seq_add_input(struct seq_inputs *in, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return seq_add_dir(in, path);
	seq_inputs_add(in, xstrdup(path));
	return 0;
}

/* Map input i into tmp/m<i>. */
static int seq_map(struct app *a, const struct jobopts *o, const char *tmp,
		   unsigned i, const char *path, size_t mem,
		   struct task_stats *st)
{
	struct app_task t = { "seq", i, path, o->params, NULL };
	uint64_t *sizes = xcalloc(o->reduces, sizeof(*sizes));
	char *dir = xasprintf("%s/m%u", tmp, i);
	size_t len = 0;
	char *data = NULL;
	int r;

	if ((r = util_mkdir_p(dir)) != 0)
		goto out;
	if ((data = util_map_file(path, &len)) == NULL) {
		r = -errno;
		goto out;
	}
	r = task_map(a, &t, dir, o->reduces, mem, data, len, 0, sizes, st,
		     NULL);
out:
	if (r != 0)
		log_errorx("map of '%s' failed: %s", path, strerror(-r));
	util_unmap(data, len);
	free(sizes);
	free(dir);
	return r;
}

static int seq_out_fn(void *arg, const char *data, size_t len)
{
	return fwrite(data, 1, len, arg) == len ? 0 : -EIO;
}

/* Map every map output; maps[i]/lens[i] receive the mappings. */
static int seq_map_outputs(const char *tmp, size_t n, char **maps,
			   size_t *lens)
{
	char *path;
	size_t i;

	for (i = 0; i < n; i++) {
		path = xasprintf("%s/m%zu/out", tmp, i);
		maps[i] = util_map_file(path, &lens[i]);
		free(path);
		if (maps[i] == NULL)
			return -errno;
	}
	return 0;
}

/* Reduce partition p of every map output into OUTPUT/part-p. */
static int seq_reduce(struct app *a, const struct jobopts *o,
		      const char *tmp, unsigned p, char **maps,
		      size_t nmaps, struct task_stats *st)
{
	struct app_task t = { "seq", p, NULL, o->params, NULL };
	struct kv_run *runs = xcalloc(nmaps + 1, sizeof(*runs));
	char *tpath = xasprintf("%s/part-%05u", tmp, p);
	char *path = xasprintf("%s/part-%05u", o->output, p);
	char *dir;
	uint64_t off, len;
	FILE *fp = NULL;
	size_t i;
	int r;

	for (i = 0; i < nmaps; i++) {
		dir = xasprintf("%s/m%zu", tmp, i);
		r = mapout_segment(dir, p, &off, &len);
		free(dir);
		if (r != 0)
			goto out;
		runs[i].p = maps[i] + off;
		runs[i].end = runs[i].p + len;
	}
	if ((fp = fopen(tpath, "we")) == NULL) {
		r = -errno;
		goto out;
	}
	r = task_reduce(a, &t, runs, nmaps, seq_out_fn, fp, st);
	if (fclose(fp) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && rename(tpath, path) != 0)
		r = -errno;
out:
	if (r != 0)
		log_errorx("reduce %u failed: %s", p, strerror(-r));
	free(runs);
	free(tpath);
	free(path);
	return r;
}

/* Add one task's counters into a total. */
static void seq_add_stats(struct task_stats *sum, const struct task_stats *s)
{
	sum->bytes_read += s->bytes_read;
	sum->bytes_written += s->bytes_written;
	sum->records_in += s->records_in;
	sum->records_out += s->records_out;
}

/* Run all maps, then all reduces. */
static int seq_run(struct app *a, const struct jobopts *o,
		   const struct seq_inputs *in, const char *tmp, size_t mem)
{
	struct task_stats m = { 0 }, rd = { 0 }, st;
	char **maps = xcalloc(in->n + 1, sizeof(*maps));
	size_t *lens = xcalloc(in->n + 1, sizeof(*lens));
	unsigned p;
	size_t i;
	int r;

	for (i = 0; i < in->n; i++) {
		memset(&st, 0, sizeof(st));
		if ((r = seq_map(a, o, tmp, (unsigned)i, in->paths[i], mem,
				 &st)) != 0)
			goto out;
		seq_add_stats(&m, &st);
	}
	if ((r = seq_map_outputs(tmp, in->n, maps, lens)) != 0)
		goto out;
	for (p = 0; p < o->reduces; p++) {
		memset(&st, 0, sizeof(st));
		if ((r = seq_reduce(a, o, tmp, p, maps, in->n, &st)) != 0)
			goto out;
		seq_add_stats(&rd, &st);
	}
	fprintf(stderr,
		"seq: %zu maps, %u reduces, %" PRIu64 " bytes read, %" PRIu64
		" bytes written, map records in %" PRIu64 " out %" PRIu64
		", reduce records in %" PRIu64 " out %" PRIu64 "\n",
		in->n, o->reduces, m.bytes_read, rd.bytes_written,
		m.records_in, m.records_out, rd.records_in, rd.records_out);
	r = 0;
out:
	for (i = 0; i < in->n; i++)
		util_unmap(maps[i], lens[i]);
	free(maps);
	free(lens);
	return r;
}

static const struct option seq_long[] = {
	JOBOPTS_LONG,
	{ "help", no_argument, NULL, 'h' },
	{ "map-memory", required_argument, NULL, SEQ_MAP_MEMORY_OPT },
	{ NULL, 0, NULL, 0 },
};

/* Parse argv into o and in; -1 on a usage error, 1 for --help. */
static int seq_parse(int argc, char **argv, struct jobopts *o,
		     struct seq_inputs *in, size_t *mem)
{
	unsigned long long v;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", seq_long, NULL)) != -1) {
		if ((r = jobopts_parse(o, c, optarg)) < 0)
			return -1;
		if (r > 0)
			continue;
		if (c == 'h') {
			seq_usage(stdout);
			return 1;
		}
		if (c == SEQ_MAP_MEMORY_OPT &&
		    util_parse_uint(optarg, 1, 65536, &v)) {
			*mem = (size_t)v << 20;
			continue;
		}
		seq_usage(stderr);
		return -1;
	}
	if (jobopts_check(o, "seq") != 0)
		return -1;
	if (optind >= argc) {
		fprintf(stderr, "mr seq: no INPUT given\n");
		return -1;
	}
	for (; optind < argc; optind++) {
		if ((r = seq_add_input(in, argv[optind])) != 0) {
			fprintf(stderr, "mr seq: '%s': %s\n", argv[optind],
				strerror(-r));
			return -1;
		}
	}
	return 0;
}

int cmd_seq(int argc, char **argv)
{
	struct seq_inputs in = { 0 };
	struct app *a = NULL;
	struct jobopts o;
	char *tmp = NULL, *ok = NULL;
	size_t i, mem = (size_t)SEQ_MAP_MEMORY << 20;
	int r, status = 2;

	jobopts_init(&o);
	if ((r = seq_parse(argc, argv, &o, &in, &mem)) != 0) {
		status = r > 0 ? 0 : 2;
		goto out;
	}
	status = 1;
	a = o.app != NULL ? app_open_so(o.app)
			  : app_new_streaming(o.mapper, o.reducer);
	if (a == NULL)
		goto out;
	tmp = xasprintf("%s/_temporary", o.output);
	ok = xasprintf("%s/_SUCCESS", o.output);
	unlink(ok);
	if ((r = util_rm_rf(tmp)) != 0 || (r = util_mkdir_p(tmp)) != 0) {
		log_errorx("cannot create '%s': %s", tmp, strerror(-r));
		goto out;
	}
	r = seq_run(a, &o, &in, tmp, mem);
	util_rm_rf(tmp);
	if (r == 0 && (r = util_write_file(ok, "", 0)) == 0)
		status = 0;
out:
	for (i = 0; i < in.n; i++)
		free(in.paths[i]);
	free(in.paths);
	app_free(a);
	free(tmp);
	free(ok);
	jobopts_release(&o);
	return status;
}
