"""fusefs's attribute cache: attrs the master returned (a directory's
attrs come with every change in it) answer the kernel's getattr for
attr_timeout seconds, without a master round trip.

- test_creates_need_few_getattrs: creating and then removing N files in a
  directory (each change makes the kernel ask for the directory's attrs
  before the next permission check) sends far fewer than N EP_GETATTR to
  the master, counted by its dfs_http_requests_total metric.
- test_own_changes_seen_at_once: this mount's own changes show at once
  through the cache: a chmod, a directory's mtime and nlink after mkdir,
  and a file's link count after link and unlink of another name.
- test_other_mount_staleness_bounded: a chmod through mount A is seen on
  A at once and on mount B within attr_timeout plus a margin.
- test_symlink_targets_cached: the kernel keeps a symlink's target, so
  reading it again sends no EP_READLINK; a name that points to a new
  symlink (rename over it, unlink and symlink again) reads the new target
  at once.
"""

import os
import stat
import time

from dfstest import master_requests, wait_until

# fusefs's default attr_timeout, seconds.
ATTR_TIMEOUT = 1.0


def test_creates_need_few_getattrs(cluster, mnt):
    n = 200
    d = mnt / "many"
    d.mkdir()
    before = master_requests(cluster, "/api/getattr")
    for i in range(n):
        fd = os.open(d / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o644)
        try:
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
    created = master_requests(cluster, "/api/getattr") - before
    assert created < n // 10, f"{created} master getattrs for {n} creates"
    before = master_requests(cluster, "/api/getattr")
    for i in range(n):
        os.unlink(d / f"f{i}")
    removed = master_requests(cluster, "/api/getattr") - before
    assert removed < n // 10, f"{removed} master getattrs for {n} unlinks"
    assert os.listdir(d) == []


def test_own_changes_seen_at_once(mnt):
    f = mnt / "f"
    f.write_bytes(b"data")
    os.chmod(f, 0o600)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    os.chmod(f, 0o640)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640

    before = os.stat(mnt)
    (mnt / "sub").mkdir()
    after = os.stat(mnt)
    assert after.st_nlink == before.st_nlink + 1
    assert after.st_mtime_ns >= before.st_mtime_ns
    os.rmdir(mnt / "sub")
    assert os.stat(mnt).st_nlink == before.st_nlink

    assert os.stat(f).st_nlink == 1
    os.link(f, mnt / "g")
    assert os.stat(f).st_nlink == 2
    assert os.stat(mnt / "g").st_nlink == 2
    os.unlink(mnt / "g")
    assert os.stat(f).st_nlink == 1
    os.link(f, mnt / "h")
    (mnt / "other").write_bytes(b"o")
    os.rename(mnt / "other", mnt / "h")    # replaces a name of f
    assert os.stat(f).st_nlink == 1
    assert (mnt / "h").read_bytes() == b"o"


def test_other_mount_staleness_bounded(cluster, mnt, tmp_path_factory):
    second = cluster.mount_extra(tmp_path_factory.mktemp("attr") / "mnt")
    try:
        a = mnt / "f"
        b = second / mnt.relative_to(cluster.mount) / "f"
        a.write_bytes(b"x")
        os.chmod(a, 0o644)
        # B learns the attrs (kernel cache and fusefs's own).
        assert stat.S_IMODE(os.stat(b).st_mode) == 0o644
        assert stat.S_IMODE(os.stat(b).st_mode) == 0o644
        start = time.monotonic()
        os.chmod(a, 0o600)
        assert stat.S_IMODE(os.stat(a).st_mode) == 0o600
        wait_until(lambda: stat.S_IMODE(os.stat(b).st_mode) == 0o600,
                   ATTR_TIMEOUT + 2, "chmod to show on the other mount",
                   interval=0.02)
        took = time.monotonic() - start
        assert took < ATTR_TIMEOUT + 0.5, f"stale for {took:.2f} s"
    finally:
        cluster.unmount_extra(second)


def test_symlink_targets_cached(cluster, mnt):
    link = mnt / "link"
    os.symlink("first/target", link)
    before = master_requests(cluster, "/api/readlink")
    for _ in range(50):
        assert os.readlink(link) == "first/target"
    served = master_requests(cluster, "/api/readlink") - before
    assert served <= 1, f"{served} master readlinks for 50 readlink()s"

    os.symlink("second/target", mnt / "new")
    os.rename(mnt / "new", link)
    assert os.readlink(link) == "second/target"
    os.unlink(link)
    os.symlink("third", link)
    assert os.readlink(link) == "third"
    assert os.readlink(link) == "third"
