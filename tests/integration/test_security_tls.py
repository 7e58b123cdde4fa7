"""TLS end to end (SPEC 7, issue 6): a cluster started with
`local-cluster.sh start --tls` (self-signed CA, one certificate per
daemon, made with openssl) and the cluster secret.

- test_tls_cluster: a file copied in and out through the mount (also
  after a remount, cold), `dfs status`, put/get, and a MapReduce word
  count all work over https; every daemon port (master, chunk servers,
  coordinator, workers) refuses plain HTTP, and a client that does not
  trust the cluster's CA gets no answer either; requests still need the
  secret.
"""

import json
import os
import re
import shutil
import socket
import ssl
import urllib.error
import urllib.request

import pytest

import dfsauth
from dfstest import (BIN, Cluster, MiB, run, sha256_file,
                     write_random_file)


class TlsCluster(Cluster):
    """A dfstest.Cluster whose daemons speak TLS only."""

    def script(self, *args, timeout=120, check=True):
        if args and args[0] == "start":
            args = (*args, "--tls")
        return super().script(*args, timeout=timeout, check=check)

    def client_env(self):
        return dict(os.environ, DFS_CA=self.env["DFS_CA"],
                    DFS_MASTER=self.master,
                    DFS_COORDINATOR=self.env.get("DFS_COORDINATOR", ""),
                    DFS_MOUNT=str(self.mount))

    def dfs(self, *args, check=True, timeout=120, input=None, text=True):
        return run([BIN / "dfs", "--master", self.master, *args],
                   check=check, timeout=timeout, input=input, text=text,
                   env=self.client_env())


@pytest.fixture
def tls_cluster(tmp_path_factory):
    c = TlsCluster(tmp_path_factory.mktemp("tls"), name="tls",
                   mapreduce=True)
    problems = []
    try:
        c.start()
        yield c
    finally:
        problems = c.stop()
    assert not problems, problems


def worker_addrs(c):
    out = []
    for i in range(1, c.nservers + 1):
        log = c.dir / "logs" / f"mr-worker-{i}.log"
        out.append(re.findall(r"listening on (\S+:\d+)",
                              log.read_text())[-1])
    return out


def plain_reply(addr):
    """What a daemon answers a plain HTTP request (b"" if nothing)."""
    host, _, port = addr.rpartition(":")
    out = b""
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(f"GET /health HTTP/1.1\r\nHost: {addr}\r\n"
                      "Connection: close\r\n\r\n".encode())
            s.settimeout(5)
            while True:
                b = s.recv(4096)
                if not b:
                    break
                out += b
    except OSError:
        pass
    return out


@pytest.mark.dfs_timeout(240)
def test_tls_cluster(tls_cluster, scratch):
    c = tls_cluster
    env = c.env
    assert env["DFS_TLS"] == "1" and os.path.exists(env["DFS_CA"])
    assert os.path.samefile(env["DFS_SECRET"], os.environ["DFS_SECRET"])
    c.allow(r"libmicrohttpd", for_test=False)

    # Through the mount.
    src = scratch / "src"
    digest = write_random_file(src, 5 * MiB + 123)
    shutil.copy(src, c.mount / "f")
    out = scratch / "out"
    shutil.copy(c.mount / "f", out)
    assert sha256_file(out) == digest
    c.remount()
    assert sha256_file(c.mount / "f") == digest

    # The CLI.
    st = c.status()
    assert sum(s["alive"] for s in st["chunkservers"]) == c.nservers
    assert "chunk servers" in c.dfs("status").stdout
    c.dfs("put", src, "/g")
    c.dfs("get", "/g", scratch / "g")
    assert sha256_file(scratch / "g") == digest

    # MapReduce over TLS.
    (c.mount / "in").mkdir()
    (c.mount / "in" / "a.txt").write_text("the cat and the dog\nthe end\n")
    run([BIN / "mr", "submit", "--input", "/in", "--output", "/out",
         "--app", BIN.parent / "apps" / "wc.so", "--reduces", "2"],
        env=c.client_env(), timeout=120)
    counts = {}
    for part in sorted((c.mount / "out").glob("part-*")):
        for line in part.read_text().splitlines():
            word, n = line.split("\t")
            counts[word] = int(n)
    assert counts == {"the": 3, "cat": 1, "and": 1, "dog": 1, "end": 1}

    # Every port speaks TLS only and needs the cluster's CA.
    ports = [c.master, *c.chunkd_addrs(), env["DFS_COORDINATOR"],
             *worker_addrs(c)]
    ca = ssl.create_default_context(cafile=env["DFS_CA"])
    untrusted = ssl.create_default_context()
    for addr in ports:
        assert not plain_reply(addr).startswith(b"HTTP/"), addr
        path = "/api/overview" if addr == c.master else "/health"
        with urllib.request.urlopen(f"https://{addr}{path}", timeout=10,
                                    context=ca) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"https://{addr}{path}", timeout=10,
                                   context=untrusted)
    p = run([BIN / "dfs", "--master", c.master, "status"], check=False,
            env={k: v for k, v in os.environ.items() if k != "DFS_CA"})
    assert p.returncode != 0

    # TLS does not replace the secret.
    status, _ = dfsauth.request(c.master, "/api/status", sign=False,
                                ca=env["DFS_CA"])
    assert status == 401
    status, body = dfsauth.request(c.master, "/api/status",
                                   ca=env["DFS_CA"])
    assert status == 200 and json.loads(body)["chunkservers"]
    for i in range(1, c.nservers + 1):
        assert (c.dir / "tls" / f"cs{i}.pem").exists()
    assert oct((c.dir / "tls" / "master.key").stat().st_mode & 0o777) == \
        "0o600"
