"""Files that lose their last name while open, on any mount (POSIX:
usable through open descriptors until the last close, then freed).

The master keeps such a file as an orphan (nlink 0) while any mount's
session holds it open (EP_OPEN / EP_SESSION), and deletes it with its
chunks when the last hold goes or the session's lease runs out.

- test_unlink_open_on_other_mount: mount B has a file open for reading
  and for writing; mount A unlinks it. B still reads it whole, writes
  across a chunk boundary and past the end, sees nlink 0 in fstat, also
  after the orphan reaper had time to run; once B closes, the inode and
  every replica of its chunks go.
- test_rename_over_open_on_other_mount: the same for a file replaced by
  rename(2) from the other mount; a new open sees the new file.
- test_open_file_survives_master_restart: the master restarts while B
  holds an unlinked file; B keeps reading it (its session registers its
  open files again); after the close it is freed.
- test_mass_delete_is_freed: `rm -rf` of 1,000 files: the reaper frees
  them all in one transaction of some 200 KiB of WAL frames (more than
  SQLite's unix VFS writes in one call), and the cluster's file and
  chunk counts drop back to what they were.
- test_crashed_mount_releases_files: a mount holding an unlinked file is
  killed; after the session's lease (60 s) the file is freed.
"""

import os
import shutil
import signal
import time

import pytest

from dfstest import MiB, pid_alive, wait_until
from faultutil import http, replica_files


@pytest.fixture
def dirs(cluster, mnt, second):
    """The test's directory as seen through each mount."""
    return mnt, second / mnt.relative_to(cluster.mount)


def chunk_handles(cluster, ino):
    """Handles of every chunk of inode ino ([] if it is gone)."""
    status, obj = http(cluster.master, "/api/chunks",
                       {"ino": ino, "index": 0, "count": 1024,
                        "write": False})
    return [c["handle"] for c in obj["chunks"]] if status == 200 else []


def inode_exists(cluster, ino):
    status, _ = http(cluster.master, "/api/getattr", {"ino": ino})
    return status == 200


def replicas_left(cluster, handles):
    """Replica files of these handles still on some chunk server."""
    left = []
    for i in range(1, cluster.nservers + 1):
        left += [p for p in replica_files(cluster.chunkd_data(i))
                 if int(p.name, 16) in handles]
    return left


def wait_freed(cluster, ino, handles, timeout=30):
    """The inode and every replica of its chunks go."""
    wait_until(lambda: not inode_exists(cluster, ino), timeout,
               f"inode {ino} to be deleted")
    wait_until(lambda: not replicas_left(cluster, set(handles)), timeout,
               "the replicas of the deleted file to be removed")


def test_unlink_open_on_other_mount(cluster, dirs):
    a, b = dirs
    data = bytearray(os.urandom(3 * MiB + 5))
    (a / "f").write_bytes(data)
    rd = os.open(b / "f", os.O_RDONLY)
    rw = os.open(b / "f", os.O_RDWR)
    try:
        ino = os.fstat(rd).st_ino
        os.unlink(a / "f")
        assert not (a / "f").exists()
        wait_until(lambda: not (b / "f").exists(), 5,
                   "the unlink to show on the other mount")
        assert os.pread(rd, len(data) + 1, 0) == data
        os.pwrite(rw, b"XYZW", MiB - 2)          # across a boundary
        data[MiB - 2:MiB + 2] = b"XYZW"
        os.pwrite(rw, b"tail", len(data) + MiB)  # a hole, then the end
        data += bytes(MiB) + b"tail"
        os.fsync(rw)
        time.sleep(2.5)                          # the reaper ran
        st = os.fstat(rd)
        assert st.st_nlink == 0 and st.st_size == len(data)
        assert os.pread(rd, len(data) + 1, 0) == data
        handles = chunk_handles(cluster, ino)
        assert len(handles) == 5 and replicas_left(cluster, set(handles))
    finally:
        os.close(rd)
        os.close(rw)
    wait_freed(cluster, ino, handles)


def test_rename_over_open_on_other_mount(cluster, dirs):
    a, b = dirs
    old, new = os.urandom(2 * MiB + 1), os.urandom(MiB)
    (a / "target").write_bytes(old)
    fd = os.open(b / "target", os.O_RDONLY)
    try:
        ino = os.fstat(fd).st_ino
        handles = chunk_handles(cluster, ino)
        (a / "tmp").write_bytes(new)
        os.rename(a / "tmp", a / "target")
        time.sleep(2.5)                  # past the reaper's grace
        assert os.pread(fd, len(old) + 1, 0) == old
        assert os.fstat(fd).st_nlink == 0
        wait_until(lambda: (b / "target").read_bytes() == new, 5,
                   "the new file to show on the other mount")
        assert inode_exists(cluster, ino)
    finally:
        os.close(fd)
    wait_freed(cluster, ino, handles)


@pytest.mark.dfs_timeout(120)
def test_mass_delete_is_freed(cluster, mnt):
    before = cluster.status()
    d = mnt / "mass"
    d.mkdir()
    for i in range(1000):
        (d / f"f{i}").write_bytes(b"x" * 1000)
    grown = cluster.status()
    assert grown["files"] == before["files"] + 1000
    assert grown["chunks"] == before["chunks"] + 1000
    shutil.rmtree(d)

    def freed():
        st = cluster.status()
        return st["files"] == before["files"] and \
            st["chunks"] == before["chunks"]
    wait_until(freed, 30, "the deleted files' inodes and chunks to go")


@pytest.mark.dfs_timeout(200)
def test_open_file_survives_master_restart(cluster, dirs):
    a, b = dirs
    data = os.urandom(2 * MiB + 3)
    (a / "f").write_bytes(data)
    fd = os.open(b / "f", os.O_RDONLY)
    try:
        ino = os.fstat(fd).st_ino
        handles = chunk_handles(cluster, ino)
        os.unlink(a / "f")
        cluster.restart_master()
        assert os.pread(fd, len(data) + 1, 0) == data
        time.sleep(2)
        assert inode_exists(cluster, ino)
        assert os.pread(fd, len(data) + 1, 0) == data
    finally:
        os.close(fd)
    wait_freed(cluster, ino, handles, timeout=60)


@pytest.mark.dfs_timeout(240)
def test_crashed_mount_releases_files(cluster, mnt, tmp_path):
    third = cluster.mount_extra(tmp_path / "third")
    proc, _ = cluster.extra_mounts[third]
    (mnt / "f").write_bytes(os.urandom(MiB + 1))
    fd = os.open(third / mnt.relative_to(cluster.mount) / "f", os.O_RDONLY)
    ino = os.fstat(fd).st_ino
    handles = chunk_handles(cluster, ino)
    os.unlink(mnt / "f")
    time.sleep(2.5)
    assert inode_exists(cluster, ino), "freed while a mount holds it"
    os.kill(proc.pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(proc.pid), 10, "fusefs to die")
    try:
        os.close(fd)       # the dead mount answers ENOTCONN or nothing
    except OSError:
        pass
    cluster.unmount_extra(third)
    start = time.monotonic()
    wait_freed(cluster, ino, handles, timeout=120)
    print(f"freed {time.monotonic() - start:.1f} s after the crash")
