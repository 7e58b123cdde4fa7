"""The `dfs` command line against a real cluster (shared per module).

- put/get round trips (multi-chunk, empty, stdin/stdout, into
  directories), -f to overwrite, and files crossing between the CLI and
  the mount.
- `status --json` and `stat --json` print exactly the SPEC 5 objects;
  the human forms show the same facts.
- ls (plain, -l, -R, of a file), mkdir (-p), rm (-r, -f), rmdir, mv, cat.
- Errors: exit 1 and "dfs: CMD 'PATH': strerror" on stderr, nothing on
  stdout; usage errors exit 2.
"""

import json
import os
import re
import socket

import pytest

from dfstest import BIN, MiB, run, sha256_file, write_random_file

STATUS_KEYS = {"chunkservers", "files", "chunks", "under_replicated"}
SERVER_KEYS = {"addr", "rack", "alive", "chunks", "capacity", "used"}
STAT_KEYS = {"path", "size", "replication", "chunks"}
CHUNK_KEYS = {"index", "handle", "version", "size", "replicas"}


@pytest.fixture
def d(cluster, mnt):
    """The test's directory as a DFS path."""
    return "/" + str(mnt.relative_to(cluster.mount))


def fails(cluster, *args, err):
    """Run dfs ARGS, expect exit 1 and exactly the message err."""
    p = cluster.dfs(*args, check=False)
    assert p.returncode == 1, (args, p.returncode, p.stdout, p.stderr)
    assert p.stderr == f"dfs: {err}\n", (args, p.stderr)
    assert p.stdout == ""


def test_status_json(cluster):
    st = cluster.status()
    assert set(st) == STATUS_KEYS
    assert len(st["chunkservers"]) == cluster.nservers
    for s in st["chunkservers"]:
        assert set(s) == SERVER_KEYS, s
        assert s["alive"] is True
        assert isinstance(s["rack"], str)
        for k in ("chunks", "capacity", "used"):
            assert isinstance(s[k], int) and s[k] >= 0
        assert s["capacity"] > 0
    assert sorted(s["addr"] for s in st["chunkservers"]) == \
        sorted(cluster.chunkd_addrs())
    for k in ("files", "chunks", "under_replicated"):
        assert isinstance(st[k], int) and st[k] >= 0


def test_status_human(cluster):
    out = cluster.dfs("status").stdout
    assert out.startswith("ADDRESS")
    for addr in cluster.chunkd_addrs():
        assert re.search(rf"^{re.escape(addr)}\s.*\balive\b", out, re.M), out
    assert f"{cluster.nservers} chunk servers ({cluster.nservers} alive)" \
        in out


def test_status_uses_env_master(cluster):
    env = dict(os.environ, DFS_MASTER=cluster.master)
    p = run([BIN / "dfs", "status", "--json"], timeout=30, env=env)
    assert set(json.loads(p.stdout)) == STATUS_KEYS


def test_proxy_settings_are_ignored(cluster, d, scratch):
    """Cluster calls go straight to the daemons even when the user's
    environment names an HTTP proxy (curl would follow it)."""
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(16)
    proxy.settimeout(0)
    url = "http://127.0.0.1:%d" % proxy.getsockname()[1]
    env = dict(os.environ, http_proxy=url, HTTP_PROXY=url, https_proxy=url,
               ALL_PROXY=url, all_proxy=url, no_proxy="", NO_PROXY="")
    data = os.urandom(MiB + 17)
    (scratch / "src").write_bytes(data)
    try:
        for args in (["status", "--json"], ["put", scratch / "src", f"{d}/p"],
                     ["get", f"{d}/p", scratch / "out"]):
            run([BIN / "dfs", "--master", cluster.master, *args],
                timeout=60, env=env)
        assert (scratch / "out").read_bytes() == data
        with pytest.raises(BlockingIOError):
            proxy.accept()
    finally:
        proxy.close()


def test_put_get_roundtrip(cluster, d, scratch):
    src = scratch / "src"
    digest = write_random_file(src, 3 * MiB + 4321)
    cluster.dfs("put", src, f"{d}/f")
    out = scratch / "out"
    cluster.dfs("get", f"{d}/f", out)
    assert sha256_file(out) == digest
    assert sha256_file(cluster.mount / d[1:] / "f") == digest
    # Into an existing directory, keeping the name.
    cluster.dfs("mkdir", f"{d}/sub")
    cluster.dfs("put", src, f"{d}/sub")
    assert sha256_file(cluster.mount / d[1:] / "sub" / "src") == digest
    got = scratch / "gotdir"
    got.mkdir()
    cluster.dfs("get", f"{d}/sub/src", got)
    assert sha256_file(got / "src") == digest


def test_put_get_stdio_and_empty(cluster, d, scratch):
    data = os.urandom(MiB + 3)
    cluster.dfs("put", "-", f"{d}/stdin", input=data, text=False)
    p = cluster.dfs("get", f"{d}/stdin", "-", text=False)
    assert p.stdout == data
    assert cluster.dfs("cat", f"{d}/stdin", text=False).stdout == data
    empty = scratch / "empty"
    empty.write_bytes(b"")
    cluster.dfs("put", empty, f"{d}/empty")
    assert cluster.stat(f"{d}/empty")["size"] == 0
    assert cluster.stat(f"{d}/empty")["chunks"] == []
    cluster.dfs("get", f"{d}/empty", scratch / "empty2")
    assert (scratch / "empty2").read_bytes() == b""


def test_put_get_overwrite(cluster, d, scratch):
    a, b = scratch / "a", scratch / "b"
    a.write_bytes(os.urandom(2 * MiB + 1))
    b.write_bytes(b"short")
    cluster.dfs("put", a, f"{d}/f")
    fails(cluster, "put", b, f"{d}/f", err=f"put '{d}/f': File exists")
    cluster.dfs("put", "-f", b, f"{d}/f")
    assert cluster.dfs("cat", f"{d}/f").stdout == "short"
    assert cluster.stat(f"{d}/f")["size"] == 5
    out = scratch / "out"
    out.write_bytes(b"old")
    fails(cluster, "get", f"{d}/f", out, err=f"get '{out}': File exists")
    assert out.read_bytes() == b"old"
    cluster.dfs("get", "-f", f"{d}/f", out)
    assert out.read_bytes() == b"short"


def test_mount_and_cli_agree(cluster, mnt, d, scratch):
    data = os.urandom(2 * MiB + 99)
    (mnt / "from-mount").write_bytes(data)
    cluster.dfs("get", f"{d}/from-mount", scratch / "x")
    assert (scratch / "x").read_bytes() == data
    (scratch / "y").write_bytes(data[::-1])
    cluster.dfs("put", scratch / "y", f"{d}/from-cli")
    assert (mnt / "from-cli").read_bytes() == data[::-1]


def test_stat_json(cluster, d, scratch):
    src = scratch / "src"
    src.write_bytes(os.urandom(2 * MiB + 10))
    cluster.dfs("put", src, f"{d}/f")
    st = cluster.stat(f"{d}/f")
    assert set(st) == STAT_KEYS
    assert st["path"] == f"{d}/f"
    assert st["size"] == 2 * MiB + 10
    assert st["replication"] == cluster.replication
    assert [c["index"] for c in st["chunks"]] == [0, 1, 2]
    for c in st["chunks"]:
        assert set(c) == CHUNK_KEYS, c
        assert len(set(c["replicas"])) == cluster.replication
        assert set(c["replicas"]) <= set(cluster.chunkd_addrs())
        assert isinstance(c["handle"], int) and c["version"] >= 1
    assert [c["size"] for c in st["chunks"]] == [MiB, MiB, 10]
    # A relative or unnormalized path means the same file.
    assert cluster.stat(f"{d[1:]}//./f")["path"] == f"{d}/f"


def test_stat_human(cluster, d, scratch):
    (scratch / "f").write_bytes(b"x" * 100)
    cluster.dfs("put", scratch / "f", f"{d}/f")
    st = cluster.stat(f"{d}/f")
    out = cluster.dfs("stat", f"{d}/f").stdout
    assert re.search(r"^size\s+100\b", out, re.M), out
    h = st["chunks"][0]["handle"]
    assert f"{h:016x}" in out
    for addr in st["chunks"][0]["replicas"]:
        assert addr in out


def test_errors_exit_1(cluster, d):
    fails(cluster, "stat", "/no/such", err="stat '/no/such': No such file "
          "or directory")
    fails(cluster, "stat", "--json", "/nope",
          err="stat '/nope': No such file or directory")
    fails(cluster, "get", "/nope", "/tmp/x",
          err="get '/nope': No such file or directory")
    fails(cluster, "ls", "/nope", err="ls '/nope': No such file or directory")
    fails(cluster, "put", "/no/local/file", f"{d}/x",
          err="put '/no/local/file': No such file or directory")
    fails(cluster, "mkdir", f"{d}/a/b", err=f"mkdir '{d}/a/b': No such file "
          "or directory")
    fails(cluster, "rm", f"{d}/nope",
          err=f"rm '{d}/nope': No such file or directory")
    cluster.dfs("rm", "-f", f"{d}/nope")
    cluster.dfs("mkdir", f"{d}/dir")
    fails(cluster, "mkdir", f"{d}/dir", err=f"mkdir '{d}/dir': File exists")
    fails(cluster, "rm", f"{d}/dir", err=f"rm '{d}/dir': Is a directory")
    fails(cluster, "get", f"{d}/dir", "/tmp/x",
          err=f"get '{d}/dir': Is a directory")


def test_ls_mkdir_rm_mv(cluster, d, scratch):
    cluster.dfs("mkdir", "-p", f"{d}/x/y/z")
    cluster.dfs("mkdir", "-p", f"{d}/x/y/z")  # exists: fine with -p
    (scratch / "f").write_bytes(b"12345")
    for n in ("b", "a", "c"):
        cluster.dfs("put", scratch / "f", f"{d}/x/{n}")
    assert cluster.dfs("ls", f"{d}/x").stdout == "a\nb\nc\ny\n"
    long = cluster.dfs("ls", "-l", f"{d}/x").stdout.splitlines()
    assert len(long) == 4
    assert re.match(r"^-rw.* 5 \d{4}-\d\d-\d\d \d\d:\d\d a$", long[0]), long
    assert long[3].startswith("d") and long[3].endswith(" y")
    assert cluster.dfs("ls", f"{d}/x/a").stdout == f"{d}/x/a\n"
    rec = cluster.dfs("ls", "-R", f"{d}/x").stdout
    assert f"{d}/x/y:\nz\n" in rec and f"{d}/x/y/z:\n" in rec

    cluster.dfs("mv", f"{d}/x/a", f"{d}/x/y")         # into a directory
    assert cluster.dfs("ls", f"{d}/x/y").stdout == "a\nz\n"
    cluster.dfs("mv", f"{d}/x/b", f"{d}/x/c")         # over a file
    assert cluster.dfs("ls", f"{d}/x").stdout == "c\ny\n"

    cluster.dfs("rm", f"{d}/x/c")
    fails(cluster, "rmdir", f"{d}/x/y",
          err=f"rmdir '{d}/x/y': Directory not empty")
    cluster.dfs("rm", "-r", f"{d}/x")
    assert cluster.dfs("ls", d).stdout == ""
    fails(cluster, "rm", "-r", "/", err="rm: refusing to remove '/'")


def test_help(cluster):
    p = cluster.dfs("--help")
    assert p.stdout.startswith("usage: dfs")
    p = cluster.dfs("put", "--help")
    assert "-f" in p.stdout
    p = cluster.dfs("frobnicate", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
