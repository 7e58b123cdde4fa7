/*
 * ops.c - the operations table of the mount and the session's init.
 *
 * init asks the kernel for large requests (1 MiB writes and reads),
 * asynchronous and parallel reads and directory operations, readdirplus
 * always (ls -l gets every attribute with the names). The page cache of
 * a file is kept or dropped at open (keep_cache, ops_file.c), not when
 * the kernel sees its mtime move (no AUTO_INVAL_DATA): a file this mount
 * just wrote has a new mtime from the master at close, which would drop
 * the pages the writes left, although they are the file's bytes. A
 * change of size still drops them at once. Suid/sgid bits are
 * cleared by the kernel on write (no HANDLE_KILLPRIV), and there is no
 * kernel write-back cache: the client library buffers writes itself.
 * The kernel keeps symlink targets in its page cache (CACHE_SYMLINKS):
 * a symlink's target never changes and an inode number is never used
 * twice (ns_reserve_ino(), masterd/namespace.h), so a cached target is
 * never stale.
 */
#include "fs.h"
#include "log.h"
#include "banned.h"

/* Largest write and read request: 256 pages, the kernel's limit. */
#define FS_MAX_IO (1024 * 1024)

/* Largest read-ahead the kernel may ask for (it caps this itself). */
#define FS_MAX_READAHEAD (8 * 1024 * 1024)

/* Background requests (read-ahead) the kernel keeps in flight. */
#define FS_MAX_BACKGROUND 64

/* Want capability "cap" if the kernel offers it. */
static void want(struct fuse_conn_info *conn, unsigned cap)
{
	if (conn->capable & cap)
		conn->want |= cap;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	conn->max_write = FS_MAX_IO;
	conn->max_read = 0;
	if (conn->max_readahead < FS_MAX_READAHEAD)
		conn->max_readahead = FS_MAX_READAHEAD;
	conn->max_background = FS_MAX_BACKGROUND;
	conn->congestion_threshold = FS_MAX_BACKGROUND * 3 / 4;
	conn->time_gran = 1;
	want(conn, FUSE_CAP_ASYNC_READ);
	want(conn, FUSE_CAP_READDIRPLUS);
	want(conn, FUSE_CAP_PARALLEL_DIROPS);
	want(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	want(conn, FUSE_CAP_ASYNC_DIO);
	want(conn, FUSE_CAP_CACHE_SYMLINKS);
	conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS_AUTO |
				  FUSE_CAP_AUTO_INVAL_DATA |
				  FUSE_CAP_HANDLE_KILLPRIV |
				  FUSE_CAP_WRITEBACK_CACHE);
	/* Here, not in main(): after fuse_daemonize() forked. */
	if (dfs_session_start(fs->client) != 0)
		log_errorx("cannot start a client session: files unlinked "
			   "while open here may vanish");
	log_info("mounted: master '%s', max_write %u, max_readahead %u",
		 dfs_client_master(fs->client), conn->max_write,
		 conn->max_readahead);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.create = fs_create,
	.fallocate = fs_fallocate,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
};
