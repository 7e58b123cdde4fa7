"""A setattr that sets mtime on a file with buffered writes (cp -a's
futimens() before close) carries the size update of that data
(PROTO_SET_EXTEND), instead of a flush's own EP_EXTEND before it. Mode,
owner and explicit times set while a handle on the mount holds unflushed
writes wait for the close (or fsync) and go in that same call
(fusefs/deferred_attr.h); the mount that set them shows them at once.

- test_cp_a_sends_no_extend: cp -a of a tree of small files makes no
  EP_EXTEND at all, counted by the master's request metric, and a second
  mount sees every file's bytes, size and nanosecond mtime.
- test_explicit_mtime_then_close: write, futimens(T), close: the other
  mount sees the size and exactly T.
- test_kept_changes_go_with_the_close: write, fchmod, fchown, futimens,
  close is one setattr and no EP_EXTEND; this mount shows the changes
  before the close, a second mount after it.
- test_truncate_after_kept_mtime: a truncate after a kept futimens moves
  mtime past it and keeps the kept mode.
- test_fsync_sends_kept_changes: fsync publishes kept changes.
- test_kept_changes_wait_a_bounded_time: a writer that keeps writing
  publishes a kept chmod after INODE_DEFER_MAX_MS, without a close.
- test_write_after_explicit_mtime: write, futimens(T), write more, close:
  the later write still reaches the master (size, content) and moves
  mtime past T, as POSIX says a write does.
"""

import os
import subprocess
import time

from dfstest import master_requests

# 2020-01-01 12:00:00.123456789 UTC, in nanoseconds.
STAMP_NS = 1577880000123456789


def test_cp_a_sends_no_extend(cluster, mnt, tmp_path, tmp_path_factory):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {}
    for i in range(30):
        rel = f"sub/f{i}" if i % 2 else f"f{i}"
        data = os.urandom(100 + 97 * i)
        (src / rel).write_bytes(data)
        os.utime(src / rel, ns=(STAMP_NS, STAMP_NS + i))
        files[rel] = data
    extends = master_requests(cluster, "/api/extend")
    setattrs = master_requests(cluster, "/api/setattr")
    subprocess.run(["cp", "-a", str(src), str(mnt / "copy")], check=True,
                   timeout=120)
    assert master_requests(cluster, "/api/extend") == extends
    # futimens and fchmod of each file ride with its close's size
    # update: one setattr per file, and a few for the directories.
    assert master_requests(cluster, "/api/setattr") - setattrs <= 30 + 8
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "copy"
        for i, (rel, data) in enumerate(sorted(files.items())):
            st = os.stat(there / rel)
            assert st.st_size == len(data), rel
            assert st.st_mtime_ns == os.stat(src / rel).st_mtime_ns, rel
            assert st.st_mode == os.stat(src / rel).st_mode, rel
            assert (there / rel).read_bytes() == data, rel
    finally:
        cluster.unmount_extra(second)


def test_explicit_mtime_then_close(cluster, mnt, tmp_path_factory):
    data = os.urandom(5000)
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS))
        assert os.fstat(fd).st_size == len(data)
        assert os.fstat(fd).st_mtime_ns == STAMP_NS
    finally:
        os.close(fd)
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "f"
        st = os.stat(there)
        assert (st.st_size, st.st_mtime_ns) == (len(data), STAMP_NS)
        assert there.read_bytes() == data
    finally:
        cluster.unmount_extra(second)


def test_write_after_explicit_mtime(cluster, mnt, tmp_path_factory):
    first, more = os.urandom(3000), os.urandom(7000)
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, first)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS))
        os.write(fd, more)
    finally:
        os.close(fd)
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        there = second / mnt.relative_to(cluster.mount) / "f"
        st = os.stat(there)
        assert st.st_size == len(first) + len(more)
        assert st.st_mtime_ns > STAMP_NS
        assert there.read_bytes() == first + more
        assert os.stat(mnt / "f").st_mtime_ns == st.st_mtime_ns
    finally:
        cluster.unmount_extra(second)


def stat_on(cluster, mnt, name, tmp_path_factory):
    """os.stat of mnt/name through a new mount of the cluster."""
    second = cluster.mount_extra(tmp_path_factory.mktemp("ext") / "mnt")
    try:
        return os.stat(second / mnt.relative_to(cluster.mount) / name)
    finally:
        cluster.unmount_extra(second)


def test_kept_changes_go_with_the_close(cluster, mnt, tmp_path_factory):
    data = os.urandom(6000)
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    extends = master_requests(cluster, "/api/extend")
    setattrs = master_requests(cluster, "/api/setattr")
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o640)
        os.fchown(fd, 1234, 5678)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS + 7))
        for st in (os.fstat(fd), os.stat(mnt / "f")):
            assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == \
                (0o640, 1234, 5678)
            assert (st.st_atime_ns, st.st_mtime_ns) == \
                (STAMP_NS, STAMP_NS + 7)
            assert st.st_size == len(data)
        assert master_requests(cluster, "/api/setattr") == setattrs
    finally:
        os.close(fd)
    assert master_requests(cluster, "/api/setattr") == setattrs + 1
    assert master_requests(cluster, "/api/extend") == extends
    st = stat_on(cluster, mnt, "f", tmp_path_factory)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 5678)
    assert (st.st_atime_ns, st.st_mtime_ns) == (STAMP_NS, STAMP_NS + 7)
    assert st.st_size == len(data)
    assert st.st_ctime_ns > STAMP_NS
    assert (mnt / "f").read_bytes() == data


def test_truncate_after_kept_mtime(cluster, mnt, tmp_path_factory):
    fd = os.open(mnt / "f", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, os.urandom(9000))
        os.fchmod(fd, 0o600)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS))
        os.ftruncate(fd, 100)
        st = os.fstat(fd)
        assert (st.st_size, st.st_mode & 0o7777) == (100, 0o600)
        assert st.st_mtime_ns > STAMP_NS
    finally:
        os.close(fd)
    st = stat_on(cluster, mnt, "f", tmp_path_factory)
    assert (st.st_size, st.st_mode & 0o7777) == (100, 0o600)
    assert st.st_mtime_ns > STAMP_NS
    assert st.st_atime_ns == STAMP_NS


def test_fsync_sends_kept_changes(cluster, mnt, tmp_path_factory):
    data = os.urandom(4096)
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o604)
        os.utime(fd, ns=(STAMP_NS, STAMP_NS))
        os.fsync(fd)
        st = stat_on(cluster, mnt, "f", tmp_path_factory)
        assert (st.st_mode & 0o7777, st.st_size) == (0o604, len(data))
        assert st.st_mtime_ns == STAMP_NS
    finally:
        os.close(fd)


def test_kept_changes_wait_a_bounded_time(cluster, mnt, tmp_path_factory):
    fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b"a" * 1000)
        os.chmod(mnt / "f", 0o600)
        # INODE_DEFER_MAX_MS is 1 s: the next write sends the chmod.
        time.sleep(1.3)
        os.write(fd, b"b" * 1000)
        st = stat_on(cluster, mnt, "f", tmp_path_factory)
        assert st.st_mode & 0o7777 == 0o600
    finally:
        os.close(fd)
