"""When masterd's metadata commits reach the disk (--sync-interval).

A change is committed in SQLite (WAL) before it is acknowledged, so it
survives a crash of masterd at once; its fsync waits up to the sync
interval, or happens at once on EP_SYNC (what a client's fsync() sends).
Each test runs a masterd of its own, without chunk servers, and counts
the syncs in dfs_master_metadata_syncs_total.

- test_sync_barrier_and_interval: with a 60 s interval a create is not
  synced by itself; EP_SYNC syncs it (once: a second EP_SYNC has nothing
  to sync); with a 200 ms interval a create is synced within the interval
  without anyone asking.
- test_sync_every_commit: --sync-interval 0 lets SQLite fsync every
  commit (no lazy syncs are counted) and EP_SYNC still answers.
- test_unsynced_commit_survives_kill9: a create acknowledged but not yet
  synced is there after SIGKILL and a restart on the same data.
- test_event_threads: the same creates and lookups from 8 parallel
  clients, and an fsync among them, served by a thread per connection
  (--event-threads 0) and by two event loops (2), where the changes run
  on the event threads and the fsync on a worker.
- test_second_master_refused: masterd holds its database exclusively
  (SQLite's unix-excl VFS, its WAL locks in memory): a second masterd on
  the same data directory exits, saying why, and the first one serves on.
- test_backup_while_serving: `dfs backup` writes a consistent copy of
  the database while masterd serves (sqlite3 cannot open the live one);
  it refuses an existing or relative path, and a masterd started on the
  copy has the names from before the backup, not those after.
- test_checkpoints_paced: a steady stream of creates checkpoints the WAL
  once per few MiB of it (dfs_master_metadata_checkpoints_total), not
  after every commit, and every create stays readable.
"""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading

import pytest

from dfstest import BIN, DfsError, pid_alive, wait_until
from faultutil import http

ROOT_INO = 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Master:
    """One masterd on loopback with its own data directory."""

    def __init__(self, data, interval_ms, extra=()):
        self.data = data
        self.interval_ms = interval_ms
        self.extra = list(extra)
        self.addr = f"127.0.0.1:{free_port()}"
        self.log = data.parent / f"{data.name}.log"
        self.proc = None

    def start(self):
        args = [BIN / "masterd", "--data", self.data, "--listen", self.addr,
                "--sync-interval", str(self.interval_ms)] + self.extra
        if os.environ.get("DFS_SECRET"):
            args += ["--secret", os.environ["DFS_SECRET"]]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(a) for a in args],
                                         stdout=log, stderr=log,
                                         start_new_session=True)
        wait_until(self._answers, 30, f"masterd on {self.addr}")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise DfsError(f"masterd exited: {self.log.read_text()}")
        try:
            return http(self.addr, "/api/statfs", {}, timeout=2)[0] == 200
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        assert not pid_alive(self.proc.pid)
        self.proc = None

    def call(self, ep, body):
        status, obj = http(self.addr, ep, body)
        if status != 200:
            raise DfsError(f"{ep} {body}: HTTP {status}: {obj}")
        return obj

    def create(self, name):
        return self.call("/api/create", {"parent": ROOT_INO, "name": name,
                                         "mode": 0o100644, "uid": 0,
                                         "gid": 0, "rdev": 0})

    def counter(self, name):
        status, text = http(self.addr, "/metrics", method="GET", raw=True)
        assert status == 200
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        raise DfsError(f"no {name} in /metrics")

    def syncs(self):
        return self.counter("dfs_master_metadata_syncs_total")


@pytest.fixture
def masters(tmp_path):
    started = []

    def make(interval_ms, name="master", extra=()):
        m = Master(tmp_path / name, interval_ms, extra)
        started.append(m)
        return m.start()

    yield make
    for m in started:
        m.stop()


def test_sync_barrier_and_interval(masters):
    m = masters(60000)
    before = m.syncs()
    m.create("a")
    assert m.syncs() == before, "a create was synced before its interval"
    assert m.call("/api/sync", {}) == {}
    assert m.syncs() == before + 1
    m.call("/api/sync", {})
    assert m.syncs() == before + 1, "a sync with nothing new to sync"
    m.stop()

    m = masters(200, "master-200ms")
    before = m.syncs()
    m.create("b")
    wait_until(lambda: m.syncs() > before, 5,
               "the sync interval to sync the create")


def test_sync_every_commit(masters):
    m = masters(0)
    m.create("a")
    assert m.call("/api/sync", {}) == {}
    assert m.syncs() == 0, "SQLite syncs each commit: nothing is lazy"


def test_unsynced_commit_survives_kill9(masters):
    m = masters(60000)
    for i in range(20):
        m.create(f"f{i}")
    m.stop(signal.SIGKILL)
    m.start()
    for i in range(20):
        attr = m.call("/api/lookup", {"parent": ROOT_INO, "name": f"f{i}"})
        assert attr["ino"] > ROOT_INO


@pytest.mark.parametrize("threads", [0, 2])
def test_event_threads(masters, threads):
    m = masters(60000, extra=["--event-threads", str(threads)])
    errors = []

    def client(k):
        try:
            for i in range(100):
                m.create(f"t{k}-{i}")
                if i == 50:
                    assert m.call("/api/sync", {}) == {}
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads_ = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads_:
        t.start()
    for t in threads_:
        t.join(timeout=60)
    assert not errors, errors
    assert m.syncs() >= 1
    inos = set()
    for k in range(8):
        for i in range(100):
            inos.add(m.call("/api/lookup", {"parent": ROOT_INO,
                                            "name": f"t{k}-{i}"})["ino"])
    assert len(inos) == 800


@pytest.mark.dfs_timeout(90)
def test_second_master_refused(masters):
    m = masters(100)
    m.create("a")
    log = m.data.parent / "second.log"
    with open(log, "wb") as out:
        second = subprocess.run(
            [str(BIN / "masterd"), "--data", str(m.data), "--listen",
             f"127.0.0.1:{free_port()}"], stdout=out, stderr=out,
            timeout=60, start_new_session=True)
    assert second.returncode != 0
    assert "another masterd" in log.read_text()
    assert not (m.data / "meta.db-shm").exists()
    m.create("b")
    assert m.call("/api/lookup", {"parent": ROOT_INO, "name": "a"})["ino"]


def dfs_cli(m, *args):
    return subprocess.run([str(BIN / "dfs"), "--master", m.addr, *args],
                          capture_output=True, text=True, timeout=60)


def test_backup_while_serving(masters, tmp_path):
    m = masters(100)
    for i in range(50):
        m.create(f"b{i}")
    dest = tmp_path / "backup" / "meta.db"
    dest.parent.mkdir()
    out = dfs_cli(m, "backup", str(dest))
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(dest)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    again = dfs_cli(m, "backup", str(dest))
    assert again.returncode == 1 and "exist" in again.stderr.lower(), again
    assert dfs_cli(m, "backup", "relative.db").returncode == 2
    missing = dfs_cli(m, "backup", str(tmp_path / "no-such-dir" / "m.db"))
    assert missing.returncode == 1, missing
    assert "no such" in missing.stderr.lower(), missing.stderr
    m.create("after")

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(dest, restored / "meta.db")
    r = masters(100, "restored")
    for i in range(50):
        assert r.call("/api/lookup", {"parent": ROOT_INO,
                                      "name": f"b{i}"})["ino"] > ROOT_INO
    status, _ = http(r.addr, "/api/lookup", {"parent": ROOT_INO,
                                             "name": "after"})
    assert status == 404


def test_checkpoints_paced(masters):
    m = masters(60000)
    n = 1500
    for i in range(n):
        m.create(f"c{i}")
    # Some 6 KiB of WAL per create: past the 4 MiB threshold once or
    # twice. A checkpoint after every commit past it made hundreds.
    checkpoints = m.counter("dfs_master_metadata_checkpoints_total")
    assert 1 <= checkpoints <= 10, f"{checkpoints} checkpoints"
    for i in range(0, n, 97):
        attr = m.call("/api/lookup", {"parent": ROOT_INO, "name": f"c{i}"})
        assert attr["ino"] > ROOT_INO
