"""Security and bad input (SPEC 7, issue 6), on real clusters.

Every cluster of the suite runs with a cluster secret (conftest.py makes
one for the run); these tests speak to the daemons directly with
dfsauth.py, signing requests the way lib/auth.c does, or on purpose not.

- test_credentials_refused: requests with no credentials, a wrong secret,
  a tampered body or target, a stale timestamp or a replayed nonce get
  401; chunk requests with a missing, expired, foreign or read-only token
  get 403. Nothing changes: the namespace (ls -lR, stat), the replica
  files on disk and the chunk server list are as before.
- test_clients_need_the_secret: the CLI without the secret, with another
  one or with a key file others can read exits non-zero; so does a daemon.
- test_path_traversal_and_ranges: handles that look like paths (../,
  absolute, %2f, %00), bad sources and chains, offsets and lengths
  outside the chunk, bad names and paths on the master get 400; no file
  appears outside (or inside) the chunk stores and the replicas keep
  their bytes.
- test_oversized_bodies: bodies over a route's limit get 413, also when
  only the Content-Length announces one.
- test_slow_connections: 400 connections (200 to the master, 200 to a
  chunk server) sending one byte a second do not keep a normal client
  from writing and reading a file through the mount.
- test_garbage_at_every_port: random bytes, truncated and malformed HTTP
  at the master, every chunk server, the coordinator and every worker;
  all keep serving, unsigned MapReduce requests get 401 too.
"""

import errno
import hashlib
import json
import os
import random
import re
import resource
import secrets
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import dfsauth
from dfsauth import Key
from dfstest import BIN, MiB, pid_alive, run

# Daemons log refusals at info level; a few garbage inputs make
# libmicrohttpd talk at warn level.
NOISE = r"(libmicrohttpd|refused|dropping)"


def post(addr, ep, obj, **kw):
    """Signed JSON POST: (status, parsed reply or raw bytes)."""
    body = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
    status, data = dfsauth.request(addr, ep, body, **kw)
    try:
        return status, json.loads(data or b"{}")
    except ValueError:
        return status, data


def ns_snapshot(c):
    """What the namespace looks like (names, modes, sizes, mtimes)."""
    return c.dfs("ls", "-lR", "/").stdout


def disk_snapshot(c):
    """{path: sha256} of every file in every chunk store, but the empty
    spare files a chunk server's own thread keeps making (DIR/spare)."""
    out = {}
    for i in range(1, c.nservers + 1):
        root = c.chunkd_data(i)
        for p in sorted(root.rglob("*")):
            if p.is_file() and not is_spare(p):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def tree_snapshot(root, skip=("logs",)):
    """Relative paths of every file under root (but skip, and the spare
    files in each chunk store's DIR/spare, which its own thread makes)."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).parts[0]
                  not in skip and not is_spare(p))


def is_spare(p):
    """True if p is a spare file of a chunk store (DIR/spare/ID)."""
    return p.parent.name == "spare" and (p.parent.parent / "chunks").is_dir()


def victim(c, name, size=MiB + 4321):
    """A file with random bytes; returns (path, data, stat object)."""
    data = os.urandom(size)
    (c.mount / name).write_bytes(data)
    return f"/{name}", data, c.stat(f"/{name}")


# ---------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------


def master_mutations(c, ino, parent):
    """Master requests that would change something if accepted."""
    return [
        ("/api/mkdir", {"parent": parent, "name": "evil", "mode": 0o755,
                        "uid": 0, "gid": 0}),
        ("/api/create", {"parent": parent, "name": "evil2",
                         "mode": 0o100644, "uid": 0, "gid": 0, "rdev": 0}),
        ("/api/unlink", {"parent": parent, "name": "victim"}),
        ("/api/setattr", {"ino": ino, "valid": 8, "size": 0}),
        ("/api/rename", {"parent": parent, "name": "victim",
                         "newparent": parent, "newname": "moved",
                         "flags": 0}),
        ("/api/chunks", {"ino": ino, "index": 5, "count": 1,
                         "write": True}),
        ("/api/setrep", {"path": "/victim", "replication": 1}),
        ("/api/cs/register", {"addr": "127.0.0.1:1", "rack": "",
                              "capacity": 1 << 40, "used": 0,
                              "chunks": []}),
    ]


def chunk_mutations(h, v, other):
    """Chunk server requests that would change a replica if accepted."""
    return [
        ("PUT", f"/chunk/write?handle={h}&version={v}&offset=0", b"EVIL"),
        ("POST", f"/chunk/truncate?handle={h}&version={v}&size=0", b""),
        ("POST", f"/chunk/setversion?handle={h}&version={v}"
                 f"&newversion={v + 7}", b""),
        ("POST", f"/chunk/replicate?handle={h + 999}&version=1"
                 f"&source={other}", b""),
        ("PUT", f"/chunk/write?handle={h + 999}&version=1&offset=0",
         b"NEWCHUNK"),
    ]


def test_credentials_refused(cluster, tmp_path):
    c = cluster
    path, data, st = victim(c, "victim")
    attr = json.loads(dfsauth.request(
        c.master, "/api/resolve", json.dumps({"path": path}))[1])
    ino, parent = attr["ino"], 1
    ch = st["chunks"][0]
    h, v = ch["handle"], ch["version"]
    addr, other = ch["replicas"][0], ch["replicas"][1]
    wrong = Key(secrets.token_hex(32))
    key = Key.load()
    ns, disk = ns_snapshot(c), disk_snapshot(c)
    servers = sorted(s["addr"] for s in c.status()["chunkservers"])

    # Master: none, wrong secret, tampered body, stale, replayed.
    for ep, obj in master_mutations(c, ino, parent):
        body = json.dumps(obj).encode()
        assert post(c.master, ep, body, sign=False)[0] == 401, ep
        assert post(c.master, ep, body, key=wrong)[0] == 401, ep
        good = json.dumps({"ino": ino}).encode()
        hdr = {"X-DFS-Auth": key.sign("POST", ep, good)}
        assert post(c.master, ep, body, sign=False, extra=hdr)[0] == 401
        old = {"X-DFS-Auth": key.sign(
            "POST", ep, body, now_ms=int(time.time() * 1000) - 600000)}
        assert post(c.master, ep, body, sign=False, extra=old)[0] == 401
        bad = {"X-DFS-Auth": "v1 1 2 3"}
        assert post(c.master, ep, body, sign=False, extra=bad)[0] == 401
    # A replayed request: accepted once, refused the second time.
    body = json.dumps({"ino": ino}).encode()
    hdr = {"X-DFS-Auth": key.sign("POST", "/api/getattr", body)}
    assert post(c.master, "/api/getattr", body, sign=False,
                extra=hdr)[0] == 200
    status, reply = post(c.master, "/api/getattr", body, sign=False,
                         extra=hdr)
    assert status == 401 and "replay" in reply["message"], reply

    # Chunk servers: unsigned or badly signed requests get 401.
    for method, target, body in chunk_mutations(h, v, other):
        st_ = dfsauth.request(addr, target, body, method=method,
                              sign=False)[0]
        assert st_ == 401, (target, st_)
        assert dfsauth.request(addr, target, body, method=method,
                               key=wrong)[0] == 401, target
    # A body other than the one signed.
    t = f"/chunk/write?handle={h}&version={v}&offset=0"
    hdr = {"X-DFS-Auth": key.sign("PUT", t, b"GOOD"),
           "X-DFS-Token": key.token(h)}
    assert dfsauth.request(addr, t, b"EVIL", method="PUT", sign=False,
                           extra=hdr)[0] == 401
    # A target other than the one signed.
    hdr = {"X-DFS-Auth": key.sign("PUT", t, b"EVIL"),
           "X-DFS-Token": key.token(h)}
    t2 = f"/chunk/write?handle={h}&version={v}&offset=64"
    assert dfsauth.request(addr, t2, b"EVIL", method="PUT", sign=False,
                           extra=hdr)[0] == 401

    # Signed, but the token is missing, expired, for another chunk,
    # read-only or made with another secret: 403.
    now = int(time.time() * 1000)
    tokens = {
        "none": None,
        "expired": key.token(h, expiry_ms=now - 1000),
        "other chunk": key.token(h + 1),
        "read only": key.token(h, mode=dfsauth.READ),
        "wrong secret": wrong.token(h),
        "garbage": "1.3.99999999999999.zz",
    }
    for what, tok in tokens.items():
        extra = {"X-DFS-Token": tok} if tok else {}
        for method, target, body in [
                ("PUT", t, b"EVIL"),
                ("POST", f"/chunk/truncate?handle={h}&version={v}&size=0",
                 b""),
                ("POST", f"/chunk/sync?handle={h}&version={v}", b"")]:
            status, reply = dfsauth.request(addr, target, body,
                                            method=method, token=False,
                                            extra=extra)
            assert status == 403, (what, target, status, reply)
        if what != "read only":
            r = f"/chunk/read?handle={h}&version={v}&offset=0&length=16"
            status, reply = dfsauth.request(addr, r, token=False,
                                            extra=extra)
            assert status == 403, (what, status, reply)
            if what == "expired":
                assert b"expired" in reply, reply

    # Nothing changed.
    assert ns_snapshot(c) == ns
    assert disk_snapshot(c) == disk
    assert sorted(s["addr"] for s in c.status()["chunkservers"]) == servers
    assert (c.mount / "victim").read_bytes() == data
    assert c.stat(path)["chunks"][0]["version"] == v

    # Public paths stay public; the rest of the master is not.
    for a, p in [(c.master, "/"), (c.master, "/metrics"),
                 (c.master, "/api/overview"), (c.master, "/status.txt"),
                 (addr, "/health"), (addr, "/metrics")]:
        assert dfsauth.request(a, p, sign=False)[0] == 200, (a, p)
    assert dfsauth.request(c.master, "/api/status", sign=False)[0] == 401


def write_secret(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(fd, text.encode())
    os.close(fd)
    os.chmod(path, mode)
    return path


def test_clients_need_the_secret(cluster, tmp_path):
    c = cluster
    env = {k: v for k, v in os.environ.items() if k != "DFS_SECRET"}
    p = run([BIN / "dfs", "--master", c.master, "ls", "/"], env=env,
            check=False)
    assert p.returncode != 0, p
    other = write_secret(tmp_path / "other", secrets.token_hex(32) + "\n")
    p = run([BIN / "dfs", "--master", c.master, "--secret", other, "ls",
             "/"], env=env, check=False)
    assert p.returncode != 0, p
    loose = write_secret(tmp_path / "loose", secrets.token_hex(32), 0o644)
    for cmd in ([BIN / "dfs", "--secret", loose, "status"],
                [BIN / "masterd", "--data", tmp_path / "m", "--listen",
                 "127.0.0.1:0", "--secret", loose],
                [BIN / "chunkd", "--data", tmp_path / "cs", "--listen",
                 "127.0.0.1:0", "--secret", tmp_path / "missing"],
                [BIN / "masterd", "--data", tmp_path / "m", "--listen",
                 "127.0.0.1:0", "--tls-cert", loose]):
        p = run(cmd, env=env, check=False, timeout=20)
        assert p.returncode != 0, (cmd, p)
        assert "secret" in p.stderr or "tls" in p.stderr, p.stderr
    # The right secret works.
    assert run([BIN / "dfs", "--master", c.master, "--secret",
                os.environ["DFS_SECRET"], "ls", "/"], env=env).returncode \
        == 0


# ---------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------

BAD_HANDLES = [
    "../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fsentinel", "/etc/passwd", "%2fetc%2fpasswd",
    "1%00", "1%00..%2f..%2fx", "1%2f..%2f2", "1/../2", "-1", "",
    "18446744073709551616", "9223372036854775808", "0x10", "%201", "1e3",
    "1.0", "%0a1", "%ef%bc%91",
]


def test_path_traversal_and_ranges(cluster, tmp_path):
    c = cluster
    c.allow(NOISE)
    path, data, st = victim(c, "victim2", 2 * MiB)
    ch = st["chunks"][1]
    h, v = ch["handle"], ch["version"]
    addr, other = ch["replicas"][0], ch["replicas"][1]
    cs = c.chunk_size
    disk = disk_snapshot(c)
    tree = tree_snapshot(c.root)
    ns = ns_snapshot(c)

    def expect_400(method, target, body=b"", a=addr):
        status, reply = dfsauth.request(a, target, body, method=method)
        assert status == 400, (target, status, reply)

    for bad in BAD_HANDLES:
        q = f"handle={bad}&version={v}"
        expect_400("GET", f"/chunk/read?{q}&offset=0&length=1")
        expect_400("PUT", f"/chunk/write?{q}&offset=0", b"x")
        expect_400("POST", f"/chunk/truncate?{q}&size=0")
        expect_400("POST", f"/chunk/sync?{q}")
        expect_400("GET", f"/chunk/info?handle={bad}")
        expect_400("POST", f"/chunk/setversion?{q}&newversion=99")
        expect_400("POST", f"/chunk/replicate?{q}&source={other}")
        q = f"handle={h}&version={bad}"
        expect_400("GET", f"/chunk/read?{q}&offset=0&length=1")
        expect_400("PUT", f"/chunk/write?{q}&offset=0", b"x")
    for src in ["../x", "/etc/passwd", "127.0.0.1:0", "127.0.0.1:99999",
                "host", addr, "127.0.0.1%2f..:80", "%00"]:
        expect_400("POST", f"/chunk/replicate?handle={h + 77}&version=1"
                           f"&source={src}")
    for chain in ["../..", "127.0.0.1:99999", f"{other},{other}", addr,
                  ",", "a" * 200 + ":1", ",".join([other] * 20)]:
        expect_400("PUT", f"/chunk/write?handle={h}&version={v}&offset=0"
                          f"&chain={chain}", b"x")

    # Offsets and lengths outside the chunk.
    rq = f"/chunk/read?handle={h}&version={v}"
    for off, n in [(cs, 1), (0, cs + 1), (cs - 1, 2), (1 << 64, 1),
                   (-1, 1), (0, -1), (1 << 63, 1), (0, 1 << 63),
                   ("", 1), (0, "")]:
        expect_400("GET", f"{rq}&offset={off}&length={n}")
    expect_400("GET", f"{rq}&length=1")
    wq = f"/chunk/write?handle={h}&version={v}"
    for off, body in [(cs - 1, b"xy"), (cs, b"x"), (1 << 64, b"x"),
                      (-5, b"x"), ((1 << 64) - 1, b"xy")]:
        expect_400("PUT", f"{wq}&offset={off}", body)
    for size in [cs + 1, -1, 1 << 64, "x"]:
        expect_400("POST", f"/chunk/truncate?handle={h}&version={v}"
                           f"&size={size}")
    expect_400("POST", f"/chunk/setversion?handle={h}&version={v}"
                       f"&newversion={v}")

    # The master: names, paths, numbers, JSON shape.
    bad_names = ["..", ".", "a/b", "/", "", "a\u0000b", "x" * 256,
                 "../../etc"]
    for name in bad_names:
        for ep, extra in [("/api/create", {"mode": 0o100644, "rdev": 0}),
                          ("/api/mkdir", {"mode": 0o755}),
                          ("/api/symlink", {"target": "/etc/passwd"})]:
            obj = {"parent": 1, "name": name, "uid": 0, "gid": 0, **extra}
            status, reply = post(c.master, ep, obj)
            assert status == 400, (ep, name, status, reply)
        status, reply = post(c.master, "/api/rename",
                             {"parent": 1, "name": "victim2",
                              "newparent": 1, "newname": name, "flags": 0})
        assert status == 400, (name, status, reply)
    for p in ["/../etc/passwd", "../etc", "/victim2/..", "relative",
              "/a\u0000b", "/" + "/".join(["d"] * 3000), "//" * 3000]:
        status, reply = post(c.master, "/api/resolve", {"path": p})
        assert 400 <= status < 500, (p[:40], status, reply)
    attr = post(c.master, "/api/resolve", {"path": path})[1]
    for obj in [{"ino": attr["ino"], "index": 1 << 63, "count": 1,
                 "write": False},
                {"ino": attr["ino"], "index": -1, "count": 1,
                 "write": True},
                {"ino": attr["ino"], "index": 0, "count": -1,
                 "write": True},
                {"ino": attr["ino"], "index": 1.5, "count": 1,
                 "write": False},
                {"ino": "2", "index": 0, "count": 1, "write": False}]:
        status, reply = post(c.master, "/api/chunks", obj)
        assert status == 400, (obj, status, reply)
    for obj in [{"ino": attr["ino"], "valid": 8, "size": -1},
                {"ino": attr["ino"], "valid": 8, "size": 1 << 64},
                {"ino": attr["ino"], "valid": 8, "size": "0"}]:
        assert post(c.master, "/api/setattr", obj)[0] == 400, obj
    for body in ["not json", "[1, 2]", '{"parent": 1, "parent": 1, '
                 '"name": "dup"}', '{"parent": 1', "\u0000", '"str"',
                 "{}", '{"parent": 1, "name": 5}']:
        status, reply = post(c.master, "/api/mkdir", body)
        assert status == 400, (body, status, reply)

    # Nothing was written anywhere.
    assert disk_snapshot(c) == disk
    assert tree_snapshot(c.root) == tree
    assert ns_snapshot(c) == ns
    assert (c.mount / "victim2").read_bytes() == data


def test_oversized_bodies(cluster):
    c = cluster
    c.allow(NOISE)
    path, data, st = victim(c, "victim3", 1000)
    ch = st["chunks"][0]
    h, v, addr = ch["handle"], ch["version"], ch["replicas"][0]
    big = os.urandom(8 * MiB + 1)
    status, reply = dfsauth.request(
        addr, f"/chunk/write?handle={h}&version={v}&offset=0", big,
        method="PUT", timeout=60)
    assert status == 413, (status, reply)
    body = json.dumps({"parent": 1, "name": "x", "pad": "y" * MiB})
    assert post(c.master, "/api/mkdir", body, timeout=60)[0] == 413
    # Only the Content-Length says so: the answer comes before any body.
    key = Key.load()
    for a, method, target in [
            (addr, "PUT", f"/chunk/write?handle={h}&version={v}&offset=0"),
            (c.master, "POST", "/api/mkdir")]:
        head = (f"{method} {target} HTTP/1.1\r\nHost: {a}\r\n"
                f"X-DFS-Auth: {key.sign(method, target, b'')}\r\n"
                f"Content-Length: {10 << 30}\r\n\r\n").encode()
        reply = raw_exchange(a, head, wait=5)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert (c.mount / "victim3").read_bytes() == data


# ---------------------------------------------------------------------
# Slow and hostile connections
# ---------------------------------------------------------------------


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


def raw_exchange(addr, data, wait=3.0, shut=False):
    """Send raw bytes to addr; return what comes back within wait
    seconds (or until the peer closes)."""
    s = socket.create_connection(split_addr(addr), timeout=wait)
    out = b""
    try:
        s.sendall(data)
        if shut:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                # A server that refused the bytes may have closed the
                # connection already; what it sent first is still read.
                if e.errno != errno.ENOTCONN:
                    raise
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionError):
                break
            if not b:
                break
            out += b
    except (ConnectionError, socket.timeout):
        pass
    finally:
        s.close()
    return out


class Trickle:
    """n connections to each address, each sending one more byte of a
    never-ending request once a second (slowloris)."""

    def __init__(self, addrs, n):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        for a in addrs:
            for _ in range(n):
                s = socket.create_connection(split_addr(a), timeout=5)
                s.setblocking(False)
                self.socks.append([s, b"PUT /chunk/write?handle=1&version=1"
                                      b"&offset=0 HTTP/1.1\r\nHost: x\r\n"
                                      b"X-Slow: " + b"a" * 100000, 0])
        self.sent = 0

    def tick(self):
        for entry in self.socks:
            s, payload, i = entry
            try:
                s.send(payload[i:i + 1])
                entry[2] = i + 1
                self.sent += 1
            except (BlockingIOError, ConnectionError, OSError):
                pass

    def close(self):
        for s, _, _ in self.socks:
            s.close()


def sockets_of(pid):
    """How many sockets process pid has open."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


@pytest.mark.dfs_timeout(120)
def test_slow_connections(cluster):
    c = cluster
    c.allow(NOISE)
    raise_fd_limit(2048)
    errors = []

    def client():
        try:
            t0 = time.monotonic()
            i = 0
            while i < 3 or time.monotonic() - t0 < 8:
                i += 1
                data = os.urandom(3 * MiB + i)
                (c.mount / f"slow{i}").write_bytes(data)
                # dfs cat reads from the chunk servers, not a cache.
                out = c.dfs("cat", f"/slow{i}", text=False,
                            timeout=20).stdout
                assert out == data, f"slow{i} read back wrong"
        except Exception as e:  # reported by the main thread
            errors.append(e)

    tr = Trickle([c.master, c.chunkd_addrs()[0]], 200)
    try:
        for _ in range(3):
            tr.tick()
            time.sleep(1)
        # The slow connections are in, held open by the master (its
        # event loop, without a thread each).
        assert sockets_of(c.master_pid) > 200
        start = time.monotonic()
        t = threading.Thread(target=client, daemon=True)
        t.start()
        while t.is_alive() and time.monotonic() - start < 45:
            time.sleep(1)
            tr.tick()
        assert not t.is_alive(), "the client did not finish in 45 s"
        assert not errors, errors
        assert tr.sent >= 400 * 10
    finally:
        tr.close()
    assert pid_alive(c.master_pid, "masterd")


def garbage_inputs(addr):
    """Byte strings that are not proper requests."""
    rnd = random.Random(addr)
    junk = [bytes(rnd.getrandbits(8) for _ in range(n))
            for n in (1, 17, 512, 4096, 65536)]
    host = f"Host: {addr}\r\n".encode()
    return junk + [
        b"\r\n\r\n\r\n",
        b"GET",
        b"GET / HTTP/1.1\r\n",
        b"GET /api/overview HTTP/1.1\r\n" + host,
        b"POST /api/mkdir HTTP/1.1\r\n" + host +
        b"Content-Length: 100\r\n\r\n{\"parent\":",
        b"PUT /chunk/write?handle=1&version=1&offset=0 HTTP/1.1\r\n" + host +
        b"Transfer-Encoding: chunked\r\n\r\nzzzz\r\nabc\r\n",
        b"POST /mr/submit HTTP/1.1\r\n" + host +
        b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"b" * 70000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
        b"BREW /coffee HTCPCP/1.0\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET\x00/ HTTP/1.1\r\n\r\n",
        b"GET /%00%ff%fe HTTP/1.1\r\n" + host + b"\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,
        b"GET / HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + host +
        b"Content-Length: 99999999999999999999999\r\n\r\n",
        b"GET /health HTTP/1.1\r\n" + host + b"X-DFS-Auth: " +
        b"v1 " * 1000 + b"\r\n\r\n",
    ]


def worker_addrs(c):
    out = []
    for i in range(1, c.nservers + 1):
        log = c.dir / "logs" / f"mr-worker-{i}.log"
        m = re.findall(r"listening on (\S+:\d+)", log.read_text())
        assert m, log
        out.append(m[-1])
    return out


def serving(addr, path):
    try:
        return dfsauth.request(addr, path, sign=False, timeout=5)[0] == 200
    except OSError:
        return False


@pytest.mark.dfs_timeout(240)
def test_garbage_at_every_port(make_cluster, scratch):
    c = make_cluster(mapreduce=True)
    c.allow(NOISE, for_test=False)
    ports = [(c.master, "/api/overview")]
    ports += [(a, "/health") for a in c.chunkd_addrs()]
    ports += [(c.env["DFS_COORDINATOR"], "/health")]
    ports += [(a, "/health") for a in worker_addrs(c)]
    pids = [("masterd", c.master_pid)] + [
        ("chunkd", c.chunkd_pid(i)) for i in range(1, c.nservers + 1)] + [
        ("mr", int(c.env["DFS_COORDINATOR_PID"]))] + [
        ("mr", int(c.env[f"DFS_WORKER_{i}_PID"]))
        for i in range(1, c.nservers + 1)]

    def throw(addr):
        for data in garbage_inputs(addr):
            raw_exchange(addr, data, wait=0.3)
            raw_exchange(addr, data[:len(data) // 2], wait=0.1, shut=True)

    with ThreadPoolExecutor(len(ports)) as ex:
        list(ex.map(throw, [a for a, _ in ports]))
    for name, pid in pids:
        assert pid_alive(pid, name), (name, pid)
    for addr, path in ports:
        assert serving(addr, path), (addr, path)

    # Unsigned MapReduce requests are refused, signed ones served.
    co = c.env["DFS_COORDINATOR"]
    assert dfsauth.request(co, "/mr/submit", "{}", sign=False)[0] == 401
    assert dfsauth.request(co, "/mr/jobs", sign=False)[0] == 401
    assert dfsauth.request(co, "/mr/jobs")[0] == 200
    w = worker_addrs(c)[0]
    assert dfsauth.request(w, "/mr/map-output?job=j&map=1&attempt=1"
                              "&part=0", sign=False)[0] == 401
    big = os.urandom(8 * MiB + 1)
    assert dfsauth.request(co, "/mr/submit", big, timeout=60)[0] == 413

    # Everyone still works together.
    data = os.urandom(2 * MiB + 99)
    (c.mount / "after").write_bytes(data)
    c.remount()
    assert (c.mount / "after").read_bytes() == data
    for name, pid in pids:
        assert pid_alive(pid, name), (name, pid)
