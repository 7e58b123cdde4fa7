/*
 * main.c - fusefs: mount the DFS namespace with FUSE.
 *
 *     fusefs [--master ADDR] MOUNTPOINT [-f] [-o OPTIONS]
 *
 * Parses its own options with fuse_opt, the common ones with
 * fuse_parse_cmdline(), mounts, and runs the multi-threaded session loop
 * until unmounted or stopped by SIGTERM/SIGINT (which unmounts cleanly).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir_names.h"
#include "fs.h"
#include "inode_table.h"
#include "log.h"
#include "secure.h"
#include "banned.h"

/*
 * jemalloc's options, read by it at start when fusefs is linked with it
 * (Makefile). Allocations of 8 MiB and more (read-ahead buffers) would
 * otherwise go to its arena for oversize ones, which gives their pages
 * back to the kernel at once, so that each reuse faulted them in again;
 * in the ordinary arenas freed pages are kept for 10 s.
 */
const char *malloc_conf = "oversize_threshold:0";

/* Defaults of the options below. */
#define DEFAULT_ATTR_TIMEOUT 1.0
#define DEFAULT_ENTRY_TIMEOUT 1.0
#define DEFAULT_READ_AHEAD_KB 8192

/* The options fusefs adds to libfuse's. */
static const struct fuse_opt fs_opt_spec[] = {
	{ "--master %s", offsetof(struct fs_config, master), 0 },
	{ "--master=%s", offsetof(struct fs_config, master), 0 },
	{ "--secret %s", offsetof(struct fs_config, secret), 0 },
	{ "--secret=%s", offsetof(struct fs_config, secret), 0 },
	{ "--ca %s", offsetof(struct fs_config, ca), 0 },
	{ "--ca=%s", offsetof(struct fs_config, ca), 0 },
	{ "attr_timeout=%lf", offsetof(struct fs_config, attr_timeout), 0 },
	{ "entry_timeout=%lf", offsetof(struct fs_config, entry_timeout), 0 },
	{ "negative_timeout=%lf", offsetof(struct fs_config, negative_timeout),
	  0 },
	{ "read_ahead_kb=%u", offsetof(struct fs_config, read_ahead_kb), 0 },
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [--master ADDR] [--secret FILE] [--ca FILE] "
	       "MOUNTPOINT [-f] [-o OPTIONS]\n\n"
	       "Mount the DFS namespace of the master at ADDR (default\n"
	       "$DFS_MASTER, else 127.0.0.1:9000) on MOUNTPOINT.\n\n"
	       "fusefs options:\n"
	       "    --master ADDR          master address (host:port)\n"
	       "    --secret FILE          cluster secret that signs every\n"
	       "                           request (default $DFS_SECRET)\n"
	       "    --ca FILE              CA certificate of the daemons' TLS\n"
	       "                           certificates: use https (default\n"
	       "                           $DFS_CA)\n"
	       "    -o attr_timeout=S      attribute cache time "
	       "(default %.1f)\n"
	       "    -o entry_timeout=S     name cache time (default %.1f)\n"
	       "    -o negative_timeout=S  cache time of missing names\n"
	       "                           (default 0: another client's\n"
	       "                           create is seen at once)\n"
	       "    -o read_ahead_kb=N     kernel read-ahead of the mount\n"
	       "                           (default %u, 0 leaves it alone)\n"
	       "Default mount options: default_permissions, fsname=dfs,\n"
	       "subtype=dfs, and allow_other when run as root.\n\n",
	       prog, DEFAULT_ATTR_TIMEOUT, DEFAULT_ENTRY_TIMEOUT,
	       DEFAULT_READ_AHEAD_KB);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/*
 * Raise the kernel read-ahead of the mount (its bdi, named after the
 * device number found in /proc/self/mountinfo): FUSE starts at 128 KiB,
 * too little to keep the chunk servers streaming. Best effort.
 */
static void set_read_ahead(const char *mountpoint, unsigned kb)
{
	char line[4096], dev[64] = "", mnt[4096], num[64], path[128];
	FILE *fp;

	if (kb == 0 || (fp = fopen("/proc/self/mountinfo", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%*u %*u %63s %*s %4095s", num, mnt) == 2 &&
		    strcmp(mnt, mountpoint) == 0 && strstr(line, " fuse.dfs "))
			snprintf(dev, sizeof(dev), "%s", num);
	}
	fclose(fp);
	if (dev[0] == '\0')
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	if ((fp = fopen(path, "w")) == NULL) {
		log_warn("cannot set the read-ahead in '%s'", path);
		return;
	}
	fprintf(fp, "%u\n", kb);
	if (fclose(fp) != 0)
		log_warn("cannot set the read-ahead in '%s'", path);
}

/* Mount options every DFS mount gets. */
static void add_default_options(struct fuse_args *args)
{
	if (geteuid() == 0)
		fuse_opt_add_arg(args, "-oallow_other");
	fuse_opt_add_arg(args, "-odefault_permissions");
	fuse_opt_add_arg(args, "-ofsname=dfs");
	fuse_opt_add_arg(args, "-osubtype=dfs");
}

/* Mount and serve until unmounted or signalled. */
static int serve(struct fs *fs, struct fuse_args *args,
		 const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se;
	int r = 1;

	se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), fs);
	if (se == NULL)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, opts->mountpoint) != 0)
		goto out_signals;
	set_read_ahead(opts->mountpoint, fs->cfg.read_ahead_kb);
	log_info("serving '%s'", opts->mountpoint);
	fuse_daemonize(opts->foreground);
	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop, opts->clone_fd);
	/* UINT_MAX: not given (libfuse would complain about it). */
	if (opts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, opts->max_idle_threads);
	if (opts->max_threads != UINT_MAX)
		fuse_loop_cfg_set_max_threads(loop, opts->max_threads);
	r = opts->singlethread ? fuse_session_loop(se)
			       : fuse_session_loop_mt(se, loop);
	r = r < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
	fuse_session_unmount(se);
	log_info("unmounted '%s'", opts->mountpoint);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fs_config cfg = {
		.attr_timeout = DEFAULT_ATTR_TIMEOUT,
		.entry_timeout = DEFAULT_ENTRY_TIMEOUT,
		.read_ahead_kb = DEFAULT_READ_AHEAD_KB,
	};
	struct fuse_cmdline_opts opts = { 0 };
	struct fs fs = { 0 };
	struct secure_opts sec = { 0 };
	const char *master;
	int r = 1;

	log_init("fusefs", LOG_LEVEL_INFO);
	if (fuse_opt_parse(&args, &cfg, fs_opt_spec, NULL) != 0 ||
	    fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (opts.show_help) {
		usage(argv[0]);
		r = 0;
		goto out;
	}
	if (opts.show_version) {
		fuse_lowlevel_version();
		r = 0;
		goto out;
	}
	if (opts.mountpoint == NULL) {
		fprintf(stderr, "%s: no mount point given (see --help)\n",
			argv[0]);
		goto out;
	}
	master = cfg.master != NULL ? cfg.master : dfs_default_master();
	if (!proto_addr_is_valid(master)) {
		fprintf(stderr,
			"%s: bad master address '%s' (want host:port)\n",
			argv[0], master);
		goto out;
	}
	sec.secret_file = cfg.secret;
	sec.ca_file = cfg.ca;
	if (secure_init("fusefs", &sec, 0) != 0)
		goto out;
	add_default_options(&args);
	fs.cfg = cfg;
	fs.client = dfs_client_new(master);
	dfs_client_want_dir_leases(fs.client);
	fs.inodes = inode_table_new(fs.client);
	fs.dir_reuse = fs_dir_reuse_new();
	fs.dir_names = dir_names_new(DIR_NAMES_MAX);
	r = serve(&fs, &args, &opts);
	fs_dir_reuse_free(fs.dir_reuse);
	dir_names_free(fs.dir_names);
	inode_table_free(fs.inodes);
	dfs_session_end(fs.client);
	dfs_client_free(fs.client);
out:
	secure_release();
	free(opts.mountpoint);
	free(cfg.master);
	free(cfg.secret);
	free(cfg.ca);
	fuse_opt_free_args(&args);
	return r;
}
