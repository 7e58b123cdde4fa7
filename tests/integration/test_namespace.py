"""Namespace behaviour through the mount, on one shared cluster.

- test_many_files_listed: a directory of 10,000 files lists completely
  (readdir through the mount, also after a remount, and `dfs ls`).
- test_rename_over_existing: rename(2) over an existing file replaces it
  atomically: the target keeps existing and always holds the old or the
  new content in full while a reader hammers it; the source name is gone
  and the target has the source's inode.
- test_rename_directories: directories move with their contents; moving a
  directory into itself fails with EINVAL; over a non-empty directory
  fails with ENOTEMPTY.
- test_rmdir_not_empty: rmdir of a non-empty directory fails with
  ENOTEMPTY and changes nothing; once empty it goes.
- test_errors: ENOENT, EEXIST, ENOTDIR, EISDIR as POSIX says.
- test_attrs: chmod, utimens and their ctime, mkdir nlink, stable inodes.
"""

import errno
import os
import threading
import time

import pytest

from dfstest import run


@pytest.mark.dfs_timeout(400)
def test_many_files_listed(cluster, mnt):
    d = mnt / "many"
    d.mkdir()
    names = {f"file-{i:05d}" for i in range(10000)}
    for n in names:
        os.close(os.open(d / n, os.O_CREAT | os.O_WRONLY, 0o644))
    assert set(os.listdir(d)) == names
    cluster.remount()
    listed = os.listdir(d)
    assert len(listed) == len(names)
    assert set(listed) == names
    dfs_path = "/" + str(d.relative_to(cluster.mount))
    out = cluster.dfs("ls", dfs_path, timeout=120).stdout.split()
    assert out == sorted(names)
    run(["rm", "-rf", d], timeout=300)
    assert not d.exists()


def test_rename_over_existing(cluster, mnt):
    target = mnt / "target"
    old, new = b"o" * 70000, b"n" * 70000
    target.write_bytes(old)
    seen, errors = set(), []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                with open(target, "rb") as f:
                    seen.add(f.read())
            except OSError as e:
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(100):
            tmp = mnt / f"tmp{i}"
            tmp.write_bytes(new if i % 2 == 0 else old)
            ino = os.stat(tmp).st_ino
            os.rename(tmp, target)
            assert not tmp.exists()
            assert os.stat(target).st_ino == ino
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, f"reader saw {errors[:3]}"
    assert seen <= {old, new}, "reader saw a partial or mixed file"
    assert target.read_bytes() == old
    assert sorted(os.listdir(mnt)) == ["target"]


def test_rename_directories(cluster, mnt):
    (mnt / "a" / "b").mkdir(parents=True)
    (mnt / "a" / "b" / "f").write_bytes(b"data")
    os.rename(mnt / "a", mnt / "c")
    assert (mnt / "c" / "b" / "f").read_bytes() == b"data"
    assert not (mnt / "a").exists()
    with pytest.raises(OSError) as e:
        os.rename(mnt / "c", mnt / "c" / "b" / "inside")
    assert e.value.errno == errno.EINVAL
    (mnt / "full").mkdir()
    (mnt / "full" / "x").write_bytes(b"")
    with pytest.raises(OSError) as e:
        os.rename(mnt / "c", mnt / "full")
    assert e.value.errno in (errno.ENOTEMPTY, errno.EEXIST)
    (mnt / "empty").mkdir()
    os.rename(mnt / "c", mnt / "empty")
    assert (mnt / "empty" / "b" / "f").read_bytes() == b"data"


def test_rmdir_not_empty(cluster, mnt):
    d = mnt / "d"
    d.mkdir()
    (d / "f").write_bytes(b"x")
    with pytest.raises(OSError) as e:
        os.rmdir(d)
    assert e.value.errno == errno.ENOTEMPTY
    assert (d / "f").read_bytes() == b"x"
    dfs_path = "/" + str(d.relative_to(cluster.mount))
    p = cluster.dfs("rmdir", dfs_path, check=False)
    assert p.returncode == 1
    assert p.stderr == f"dfs: rmdir '{dfs_path}': Directory not empty\n"
    os.unlink(d / "f")
    os.rmdir(d)
    assert not d.exists()


def test_errors(cluster, mnt):
    (mnt / "f").write_bytes(b"x")
    (mnt / "dir").mkdir()
    cases = [
        (lambda: os.stat(mnt / "nope"), errno.ENOENT),
        (lambda: os.mkdir(mnt / "f"), errno.EEXIST),
        (lambda: os.mkdir(mnt / "dir"), errno.EEXIST),
        (lambda: os.open(mnt / "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY),
         errno.EEXIST),
        (lambda: os.stat(mnt / "f" / "x"), errno.ENOTDIR),
        (lambda: os.mkdir(mnt / "nope" / "x"), errno.ENOENT),
        (lambda: os.unlink(mnt / "dir"), errno.EISDIR),
        (lambda: os.rmdir(mnt / "f"), errno.ENOTDIR),
        (lambda: os.rmdir(mnt / "nope"), errno.ENOENT),
        (lambda: os.rename(mnt / "nope", mnt / "x"), errno.ENOENT),
        (lambda: os.open(mnt / "dir", os.O_WRONLY), errno.EISDIR),
        (lambda: os.mkdir(mnt / ("n" * 256)), errno.ENAMETOOLONG),
    ]
    for fn, want in cases:
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == want, (e.value, want)
    assert sorted(os.listdir(mnt)) == ["dir", "f"]


def test_attrs(cluster, mnt):
    f = mnt / "f"
    f.write_bytes(b"hello")
    st = os.stat(f)
    assert st.st_size == 5 and st.st_nlink == 1
    time.sleep(0.05)
    os.chmod(f, 0o600)
    st2 = os.stat(f)
    assert st2.st_mode & 0o777 == 0o600
    assert st2.st_ctime_ns > st.st_ctime_ns, "chmod must change ctime"
    os.utime(f, ns=(1_000_000_123, 2_000_000_456))
    st3 = os.stat(f)
    assert st3.st_atime_ns == 1_000_000_123
    assert st3.st_mtime_ns == 2_000_000_456
    (mnt / "sub").mkdir()
    cluster.remount()
    st4 = os.stat(f)
    assert st4.st_ino == st.st_ino, "inode numbers must be stable"
    assert st4.st_mtime_ns == 2_000_000_456
    assert st4.st_mode & 0o777 == 0o600
    assert os.stat(mnt).st_nlink == 3  # ".", the parent's entry, sub/..
