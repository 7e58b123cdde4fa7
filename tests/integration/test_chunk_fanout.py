"""Small mutations fan out, large ones go down the chain
(chunkd/data_srv.c, DATA_FANOUT_MAX = 256 KiB; include/dfs_proto.h,
EP_CHUNK_WRITE). Both keep the failure protocol of "Write pipeline
recovery": a failing replica is named in DOWNSTREAM {"failed": addr}.

- test_direct_dead_member: PUT /chunk/write straight to one server
  with chain = [live server, dead address] and the reverse, on chunks
  the master allocated. Observed:
  a 4 KiB write (fanned out) answers DOWNSTREAM naming the dead address
  whichever its place, and the receiving server and the live member both
  hold the bytes; a 1 MiB write (chain) answers the same.
- test_small_writes_with_dead_secondary: 4 servers, replication 3; the
  one that is most often a secondary of 24 small files is killed with
  SIGKILL, then small files are written and small pieces of the first
  ones are overwritten at once (before the master notices). Observed: every write succeeds, everything reads back right,
  and a surviving server reported the dead one as failed (the fan-out
  path ran).
- test_fanout_keeps_order: four threads overwrite the same 4 KiB of one
  file concurrently. Observed: afterwards every replica holds the same
  bytes (read straight from each server), equal to what the file reads.
- test_primaries_spread: 30 small files on 3 servers, every chunk on all
  three. Observed: each server holds the write lease (is the primary,
  which forwards) of at least 5 of the 30 chunks. Before leases went to
  replica handle % n, the lowest address was the primary of all 30.
"""

import os
import random
import socket
import threading

import pytest

import faultutil as fu
from dfstest import MiB

# What the client and servers log while a peer is dead: allowed.
DEATH_NOISE = r"(refused|unreachable|dead|failed|giving up|reset|timed out)"


def free_addr():
    """A loopback address nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


def replica_bytes(addr, handle, version, length):
    status, data = fu.chunk_read(addr, handle, version, 0, length)
    assert status == 200, (addr, handle, data)
    return data


@pytest.mark.dfs_timeout(120)
def test_direct_dead_member(cluster):
    cluster.allow(DEATH_NOISE)
    a, b = cluster.chunkd_addr(1), cluster.chunkd_addr(2)
    dead = free_addr()
    cases = [(4096, [b, dead]), (4096, [dead, b]), (MiB, [b, dead]),
             (MiB, [dead, b])]
    # Chunks the master allocated (on every server): a replica of a
    # handle it does not know is deleted at the server's next heartbeat,
    # which could fall between a write and its check.
    path = cluster.mount / f"direct-{random.randrange(1 << 30)}"
    path.write_bytes(b"")
    chunks = fu.api(cluster, "/api/chunks",
                    {"ino": os.stat(path).st_ino, "index": 0,
                     "count": len(cases), "write": True})["chunks"]
    for ch, (size, chain) in zip(chunks, cases):
        assert {a, b} <= set(ch["replicas"]), ch
        handle, version = ch["handle"], ch["version"]
        body = os.urandom(size)
        status, err = fu.chunk_write(a, handle, chain, body,
                                     version=version)
        assert status == 502, (size, chain, status, err)
        assert err["failed"] == dead, (size, chain, err)
        assert replica_bytes(a, handle, version, size) == body
        if chain[0] == b or size <= 256 * 1024:
            # Fanned out, or chain[0] alive: b applied it too.
            assert replica_bytes(b, handle, version, size) == body


@pytest.mark.dfs_timeout(240)
def test_small_writes_with_dead_secondary(make_cluster):
    c = make_cluster(chunkservers=4)
    c.allow(DEATH_NOISE)
    before = {}
    for i in range(24):
        data = os.urandom(4096)
        (c.mount / f"old{i}").write_bytes(data)
        before[i] = data
    # The primary is the first replica listed: kill the server that is
    # most often a secondary, so that overwrites meet it as one.
    second = {a: 0 for a in c.chunkd_addrs()}
    for i in before:
        for ch in c.stat(f"/old{i}")["chunks"]:
            second[ch["replicas"][0]] -= len(before)
            for a in ch["replicas"][1:]:
                second[a] += 1
    dead = max(second, key=second.get)
    c.kill_chunkd(c.server_index(dead))
    # At once, while the master still counts the victim as alive.
    new = {}
    for i in range(40):
        data = os.urandom(4096)
        (c.mount / f"new{i}").write_bytes(data)
        new[i] = data
    for i, data in before.items():
        piece = os.urandom(512)
        with open(c.mount / f"old{i}", "r+b") as f:
            f.seek(1000)
            f.write(piece)
        before[i] = data[:1000] + piece + data[1512:]
    c.remount()
    for i, data in new.items():
        assert (c.mount / f"new{i}").read_bytes() == data, f"new{i}"
    for i, data in before.items():
        assert (c.mount / f"old{i}").read_bytes() == data, f"old{i}"
    seen = False
    for i in range(1, 4):
        log = c.dir / "logs" / f"chunkd-{i}.log"
        seen = seen or f"on '{dead}' failed" in log.read_text(
            errors="replace")
    assert seen, "no surviving server forwarded to the dead one"


@pytest.mark.dfs_timeout(180)
def test_fanout_keeps_order(cluster, mnt):
    path = mnt / "contended"
    path.write_bytes(b"\0" * 4096)
    errors = []

    def writer(k):
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                for j in range(40):
                    os.pwrite(fd, bytes([k * 40 + j]) * 4096, 0)
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    rel = "/" + str(path.relative_to(cluster.mount))
    (chunk,) = cluster.stat(rel)["chunks"]
    copies = {addr: replica_bytes(addr, chunk["handle"], chunk["version"],
                                  4096)
              for addr in chunk["replicas"]}
    assert len(copies) == cluster.replication
    assert len(set(copies.values())) == 1, {
        a: d[:1] for a, d in copies.items()}
    assert path.read_bytes() == next(iter(copies.values()))


@pytest.mark.dfs_timeout(120)
def test_primaries_spread(cluster, mnt):
    d = mnt / "primaries"
    d.mkdir()
    primaries = {}
    for i in range(30):
        f = d / f"f{i}"
        body = os.urandom(4096)
        f.write_bytes(body)
        ino = os.stat(f).st_ino
        # A write lease of a chunk just written is the one it was
        # written under (still valid): the same primary.
        (ch,) = fu.api(cluster, "/api/chunks",
                       {"ino": ino, "index": 0, "count": 1,
                        "write": True})["chunks"]
        assert sorted(ch["replicas"]) == sorted(cluster.chunkd_addrs())
        primaries[ch["primary"]] = primaries.get(ch["primary"], 0) + 1
        assert f.read_bytes() == body
    assert set(primaries) == set(cluster.chunkd_addrs()), primaries
    assert min(primaries.values()) >= 5, primaries
