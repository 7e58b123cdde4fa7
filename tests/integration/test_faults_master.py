"""The master crashing under load (issue 4): every acknowledged namespace
change survives, and nothing needs a manual step to recover.

- test_kill9_master_during_creates: a client process creates files and
  renames every other one through the mount as fast as it can, logging
  each operation the file system acknowledged (the syscall returned).
  masterd is killed with SIGKILL in the middle of the stream and
  restarted (local-cluster.sh restart-master) a second later; the client
  carries on through the same mount (its operations wait while the
  master is down; the one in flight at the kill may fail, its outcome
  unknown). Observed: after the restart every logged create is there
  under its final name, every logged rename took effect, and a file
  written before the crash reads back identical.
- test_master_restart_heals: 4 servers; masterd and then chunk server 1
  are killed with SIGKILL and only the master is restarted. Observed:
  the master rebuilds its view from SQLite and the servers' reports with
  no manual step, notices that server 1 never came back, re-replicates
  its chunks (fsck healthy) and every file reads back identical.
- test_chunk_of_dead_writer_goes_between_full_reports: the same without
  a master restart, while heartbeats carry only changes: the rows the
  allocation added are unconfirmed until a server reports the replica;
  when the lease and its grace are over (~70 s) they go, and so does the
  chunk, although a truncate right after the allocation grew the file
  over it (no server ever held it, so no acknowledged byte is in it).
  Observed: the file has no chunk, fsck is healthy, the file reads as
  zeros and takes a write in the middle. Before, the chunk stayed inside
  the file without replicas: that range read as lost (EIO).
- test_chunk_of_dead_writer: a writer that got chunk 0 of two empty
  files (EP_CHUNKS write, as a client does before its first write) died
  before writing. After a master restart (leases live in its memory)
  the servers' reports drop the replica rows no server backs, and with
  the last the chunk itself, which lies wholly past the end of the file.
  Observed: the files have no chunks, fsck is healthy, one file is
  written through the mount and reads back from 3 replicas, the other
  grows by truncate (reads zeros) and is written in the middle. Before,
  the chunk stayed without replicas and every later write to it failed
  with EIO after a minute of retries.
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

import faultutil as fu
from dfstest import MiB, wait_until

CLIENT = textwrap.dedent("""
    import os, sys
    root, log, stop = sys.argv[1:4]
    with open(log, "a", buffering=1) as out:
        i = 0
        while not os.path.exists(stop):
            f, g = os.path.join(root, f"f{i}"), os.path.join(root, f"g{i}")
            try:
                os.close(os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                                 0o644))
                out.write(f"create f{i}\\n")
            except OSError as e:
                out.write(f"failed create f{i} {e.errno}\\n")
                i += 1
                continue
            if i % 2 == 0:
                try:
                    os.rename(f, g)
                    out.write(f"rename f{i} g{i}\\n")
                except OSError as e:
                    out.write(f"failed rename f{i} {e.errno}\\n")
            i += 1
""")


def acked(log):
    return [line.split() for line in log.read_text().splitlines()
            if not line.startswith("failed")]


def unsure(log):
    """Operations that failed: the master may have applied them before
    it died (the answer was lost), so either outcome is right."""
    return {line.split()[2] for line in log.read_text().splitlines()
            if line.startswith("failed rename")}


@pytest.mark.dfs_timeout(240)
def test_kill9_master_during_creates(fresh_cluster, tmp_path):
    c = fresh_cluster
    c.allow(r"(master|refused|connect|reach|timed out|register)")
    before = os.urandom(3 * MiB + 17)
    (c.mount / "before").write_bytes(before)
    root = c.mount / "stream"
    root.mkdir()
    log, stop = tmp_path / "acked.log", tmp_path / "stop"
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(root),
                               str(log), str(stop)])
    try:
        wait_until(lambda: log.exists() and len(acked(log)) >= 300, 60,
                   "the client to get going")
        c.kill_master()
        n_at_kill = len(acked(log))
        time.sleep(1)
        c.restart_master()
        wait_until(lambda: len(acked(log)) >= n_at_kill + 300, 90,
                   "the client to carry on after the restart")
    finally:
        stop.write_text("")
        fu.reap(client)
    assert client.returncode == 0
    ops = acked(log)
    created = {op[1] for op in ops if op[0] == "create"}
    renamed = {op[1]: op[2] for op in ops if op[0] == "rename"}
    maybe = unsure(log)
    # What the master has (the authority), then what the mount shows.
    names = set(c.dfs("ls", "/stream").stdout.split())
    lost = [f for f in created if f not in renamed and f not in names and
            not (f in maybe and "g" + f[1:] in names)]
    lost += [f for f, g in renamed.items() if g not in names or f in names]
    detail = [(f, f in names, renamed.get(f), renamed.get(f) in names)
              for f in lost[:20]]
    assert lost == [], f"acknowledged operations lost: {detail}"
    print(f"{len(ops)} acknowledged operations, {n_at_kill} before the "
          "kill, all present")
    seen = set(os.listdir(root))
    assert seen == names, ("the mount lists otherwise than the master: "
                           f"{sorted(seen ^ names)[:20]}")
    c.remount()
    assert set(os.listdir(root)) == names
    assert (c.mount / "before").read_bytes() == before


@pytest.mark.dfs_timeout(240)
def test_master_restart_heals(make_cluster):
    c = make_cluster(chunkservers=4)
    c.allow(r"(master|refused|connect|reach|timed out|register|dead)")
    files = {f"h{i}": os.urandom((i + 1) * MiB + 99) for i in range(8)}
    for name, data in files.items():
        (c.mount / name).write_bytes(data)
    gone = c.chunkd_addr(1)
    held = [h for h, ch in fu.all_chunks(c, [f"/{n}" for n in files]).items()
            if gone in ch["replicas"]]
    assert held
    c.kill_master()
    c.kill_chunkd(1)
    c.restart_master()
    took = fu.wait_healthy(c, 90)
    print(f"healthy {took:.1f} s after the master restart")
    for h, ch in fu.all_chunks(c, [f"/{n}" for n in files]).items():
        assert gone not in ch["replicas"] and len(ch["replicas"]) == 3, ch
    c.remount()
    for name, data in files.items():
        assert (c.mount / name).read_bytes() == data, name


@pytest.mark.dfs_timeout(180)
def test_chunk_of_dead_writer_goes_between_full_reports(fresh_cluster):
    c = fresh_cluster
    (c.mount / "a").write_bytes(b"")
    ino = os.stat(c.mount / "a").st_ino
    (chunk,) = fu.api(c, "/api/chunks",
                      {"ino": ino, "index": 0, "count": 1,
                       "write": True})["chunks"]
    assert len(chunk["replicas"]) == 3
    # Another writer grows the file over the chunk: it now lies inside.
    os.truncate(c.mount / "a", 100_000)
    # No server ever reports the chunk and no full report is due (every
    # 300 s): its rows go once its lease (60 s) and the grace after it
    # are over, and with the last row the chunk itself: it held no
    # acknowledged byte, so the range is a hole, not lost data.
    t0 = time.monotonic()
    wait_until(lambda: not c.stat("/a")["chunks"], 110,
               "the never written chunk to go")
    print(f"gone {time.monotonic() - t0:.1f} s after its allocation")
    assert fu.is_healthy(fu.fsck(c))
    assert (c.mount / "a").read_bytes() == bytes(100_000)
    with open(c.mount / "a", "r+b") as f:
        f.seek(70_000)
        f.write(b"tail")
    assert (c.mount / "a").read_bytes() == \
        bytes(70_000) + b"tail" + bytes(100_000 - 70_004)


@pytest.mark.dfs_timeout(240)
def test_chunk_of_dead_writer(fresh_cluster):
    c = fresh_cluster
    files = ["a", "b"]
    for name in files:
        (c.mount / name).write_bytes(b"")
        ino = os.stat(c.mount / name).st_ino
        (chunk,) = fu.api(c, "/api/chunks",
                          {"ino": ino, "index": 0, "count": 1,
                           "write": True})["chunks"]
        assert len(chunk["replicas"]) == 3
    # "b" grows over its chunk, so that chunk lies inside the file.
    os.truncate(c.mount / "b", 100_000)
    # The restarted master knows neither chunk's lease nor its own watch
    # of their rows: the database's mark of chunks no server reported
    # tells it. A writer may hold a lease from before the restart, so
    # the chunks go a lease (60 s) and a grace after it, both of them:
    # "b"'s range is a hole (zeros), not a lost range.
    c.restart_master()
    t0 = time.monotonic()
    wait_until(lambda: not any(c.stat(f"/{n}")["chunks"] for n in files),
               110, "the never written chunks to go")
    print(f"gone {time.monotonic() - t0:.1f} s after the restart")
    assert fu.is_healthy(fu.fsck(c))
    assert (c.mount / "b").read_bytes() == bytes(100_000)

    body = os.urandom(5000)
    (c.mount / "a").write_bytes(body)
    with open(c.mount / "b", "r+b") as f:
        f.seek(50_000)
        f.write(b"middle")
    c.remount()
    assert (c.mount / "a").read_bytes() == body
    assert (c.mount / "b").read_bytes() == \
        bytes(50_000) + b"middle" + bytes(100_000 - 50_006)
    (chunk,) = c.stat("/a")["chunks"]
    assert len(chunk["replicas"]) == 3, chunk
    for addr in chunk["replicas"]:
        status, data = fu.chunk_read(addr, chunk["handle"],
                                     chunk["version"], 0, len(body))
        assert status == 200 and data == body, (addr, status)
    assert fu.is_healthy(fu.fsck(c))
