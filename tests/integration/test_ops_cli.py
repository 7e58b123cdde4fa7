"""The operations subcommands of `dfs` (issue 7) against a real cluster
(the module's shared one: 3 servers, 1 MiB chunks, replication 3).

- setrep: a file's factor; a directory's factor is inherited by files
  and directories made in it later, not by those already there (unless
  -R); -w waits until every chunk has exactly N live replicas, both
  down (excess replicas trimmed) and up (re-replication); bad factors
  and missing paths fail with the usual messages.
- du: one line per entry (bytes, raw bytes = bytes x replication, path),
  -s totals, -H human sizes, hard links counted once.
- df: the cluster's capacity, used and free space (as statfs) and inodes.
- ls -lR, rm -r, mkdir -p and mv on a deeper tree; --help of every new
  subcommand; the put/get progress bar shows on a terminal only.
"""

import os
import re
import subprocess

import pytest

from dfstest import BIN, MiB, run, wait_until


@pytest.fixture
def d(cluster, mnt):
    """The test's directory as a DFS path."""
    return "/" + str(mnt.relative_to(cluster.mount))


def put(cluster, tmp_path, dfs_path, size):
    local = tmp_path / "src"
    local.write_bytes(os.urandom(size))
    cluster.dfs("put", "-q", "-f", local, dfs_path)


def replicas(cluster, path):
    """Live replica counts of the chunks of a file."""
    return [len(c["replicas"]) for c in cluster.stat(path)["chunks"]]


def factor(cluster, path):
    return cluster.stat(path)["replication"]


def fails(cluster, *args, code=1, err):
    p = cluster.dfs(*args, check=False)
    assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
    assert err in p.stderr, (args, p.stderr)
    return p


@pytest.mark.dfs_timeout(180)
def write_via_mount(mnt, rel, size):
    """A file through the mount: its create places chunk 0 itself, on as
    many servers as the directory's factor says (masterd caches those
    factors and must see the setrep)."""
    (mnt / rel).write_bytes(os.urandom(size))


def test_setrep_file_dir_and_inheritance(cluster, d, mnt, tmp_path):
    cluster.dfs("mkdir", "-p", f"{d}/a/sub")
    put(cluster, tmp_path, f"{d}/a/old", 2 * MiB + 1)
    put(cluster, tmp_path, f"{d}/a/sub/deep", MiB)
    assert replicas(cluster, f"{d}/a/old") == [3, 3, 3]

    # A directory alone: only it changes; what is made in it inherits.
    out = cluster.dfs("setrep", "2", f"{d}/a").stdout
    assert out == f"replication of {d}/a set to 2 (1 changed)\n"
    assert factor(cluster, f"{d}/a") == 2
    assert factor(cluster, f"{d}/a/old") == 3
    assert factor(cluster, f"{d}/a/sub") == 3
    put(cluster, tmp_path, f"{d}/a/new", MiB + 1)
    assert factor(cluster, f"{d}/a/new") == 2
    assert replicas(cluster, f"{d}/a/new") == [2, 2]
    write_via_mount(mnt, "a/small", 4096)
    assert factor(cluster, f"{d}/a/small") == 2
    assert replicas(cluster, f"{d}/a/small") == [2]
    cluster.dfs("mkdir", f"{d}/a/newdir")
    assert factor(cluster, f"{d}/a/newdir") == 2
    put(cluster, tmp_path, f"{d}/a/newdir/f", 10)
    assert factor(cluster, f"{d}/a/newdir/f") == 2

    # -R -w down to 1: every file and directory below, excess trimmed.
    out = cluster.dfs("setrep", "-R", "-w", "1", f"{d}/a").stdout
    assert re.fullmatch(rf"replication of {d}/a and below set to 1 "
                        r"\(\d+ changed\)\n", out), out
    for f in ("old", "sub/deep", "new", "newdir/f"):
        assert factor(cluster, f"{d}/a/{f}") == 1, f
        assert set(replicas(cluster, f"{d}/a/{f}")) == {1}, f
    for sub in ("sub", "newdir"):
        assert factor(cluster, f"{d}/a/{sub}") == 1
    write_via_mount(mnt, "a/small2", 4096)
    assert replicas(cluster, f"{d}/a/small2") == [1]

    # A file alone, back up to 3 with -w: re-replication.
    cluster.dfs("setrep", "-w", "3", f"{d}/a/old")
    assert replicas(cluster, f"{d}/a/old") == [3, 3, 3]
    assert factor(cluster, f"{d}/a/new") == 1

    # Nothing to change: 0 changed.
    out = cluster.dfs("setrep", "3", f"{d}/a/old").stdout
    assert out.endswith("(0 changed)\n")


def test_setrep_errors(cluster, d):
    fails(cluster, "setrep", "0", d, code=2,
          err="bad replication factor '0' (1..16)")
    fails(cluster, "setrep", "17", d, code=2, err="bad replication factor")
    fails(cluster, "setrep", "x", d, code=2, err="bad replication factor")
    fails(cluster, "setrep", "2", code=2, err="expected N and PATH")
    fails(cluster, "setrep", "2", f"{d}/missing",
          err=f"dfs: setrep '{d}/missing': No such file or directory")


def du_lines(cluster, *args):
    out = cluster.dfs("du", *args).stdout.splitlines()
    return [tuple(line.split()) for line in out]


def test_du(cluster, d, mnt, tmp_path):
    cluster.dfs("mkdir", "-p", f"{d}/t/x")
    put(cluster, tmp_path, f"{d}/t/one", 1000)
    put(cluster, tmp_path, f"{d}/t/x/two", MiB + 24)
    cluster.dfs("setrep", "2", f"{d}/t/x/two")
    os.link(mnt / "t" / "one", mnt / "t" / "x" / "link")
    assert du_lines(cluster, f"{d}/t") == [
        ("1000", "3000", f"{d}/t/one"),
        (str(MiB + 1024), str(2 * (MiB + 24) + 3000), f"{d}/t/x"),
    ]
    # The hard link and its target count once in a total.
    assert du_lines(cluster, "-s", f"{d}/t") == [
        (str(MiB + 24 + 1000), str(2 * (MiB + 24) + 3000), f"{d}/t")]
    assert du_lines(cluster, f"{d}/t/one") == [
        ("1000", "3000", f"{d}/t/one")]
    assert du_lines(cluster, "-sH", f"{d}/t") == [
        ("1.0M", "2.0M", f"{d}/t")]
    fails(cluster, "du", f"{d}/nope",
          err=f"dfs: du '{d}/nope': No such file or directory")


def test_df(cluster):
    out = cluster.dfs("df").stdout.splitlines()
    assert out[0].split() == ["Filesystem", "Size", "Used", "Avail",
                              "Use%", "Inodes"]
    name, size, used, avail, pct, inodes = out[1].split()
    assert name == f"dfs://{cluster.master}"
    st = cluster.status()
    cap = sum(s["capacity"] for s in st["chunkservers"] if s["alive"])
    # Free space moves a little between two reports; the sums agree.
    assert abs(int(size) - cap) <= cap // 100
    assert int(used) <= int(size) and int(avail) <= int(size)
    assert re.fullmatch(r"\d+%", pct) and int(inodes) >= 1
    human = cluster.dfs("df", "-H").stdout.splitlines()[1].split()
    assert re.fullmatch(r"\d+(\.\d)?[KMGTPE]", human[1]), human


def test_ls_rm_mkdir_mv_tree(cluster, d, tmp_path):
    cluster.dfs("mkdir", "-p", f"{d}/r/a/b/c", f"{d}/r/z")
    put(cluster, tmp_path, f"{d}/r/a/b/c/f", 3)
    put(cluster, tmp_path, f"{d}/r/a/g", 4)
    out = cluster.dfs("ls", "-lR", f"{d}/r").stdout
    blocks = out.split("\n\n")
    heads = [b.splitlines()[0] for b in blocks]
    assert heads == [f"{d}/r:", f"{d}/r/a:", f"{d}/r/a/b:",
                     f"{d}/r/a/b/c:", f"{d}/r/z:"], out
    assert re.search(r"^-rw\S* +1 +\d+ +\d+ +3 \S+ \S+ f$", out, re.M), out
    assert re.search(r"^d\S+ .* b$", out, re.M), out

    cluster.dfs("mv", f"{d}/r/a", f"{d}/r/z")          # a dir into a dir
    assert cluster.dfs("ls", f"{d}/r/z").stdout == "a\n"
    cluster.dfs("mv", f"{d}/r/z/a/g", f"{d}/r/g2")     # rename a file
    assert cluster.dfs("cat", f"{d}/r/g2", text=False).stdout == \
        (tmp_path / "src").read_bytes()
    fails(cluster, "mkdir", f"{d}/r/q/w",
          err=f"dfs: mkdir '{d}/r/q/w': No such file or directory")
    cluster.dfs("mkdir", "-p", f"{d}/r/q/w")
    fails(cluster, "rm", f"{d}/r/z", err="Is a directory")
    cluster.dfs("rm", "-r", f"{d}/r/z", f"{d}/r/q")
    assert cluster.dfs("ls", f"{d}/r").stdout == "g2\n"


def test_help_of_new_commands(cluster):
    for cmd, want in (("setrep", "-w"), ("du", "-s"), ("df", "-H")):
        p = cluster.dfs(cmd, "--help")
        assert p.stdout.startswith(f"usage: dfs [--master ADDR] {cmd} ")
        assert want in p.stdout
    listing = cluster.dfs("--help").stdout
    for cmd in ("setrep", "du", "df", "ls", "rm", "mkdir", "mv"):
        assert re.search(rf"^  {cmd} ", listing, re.M), cmd


def test_progress_bar_on_terminal_only(cluster, d, tmp_path):
    src = tmp_path / "big"
    src.write_bytes(os.urandom(96 * MiB))
    # Not a terminal: nothing on stderr.
    p = cluster.dfs("put", src, f"{d}/big")
    assert p.stderr == ""
    # A terminal (script(1) gives one): a bar, erased at the end.
    cmd = f"{BIN}/dfs --master {cluster.master} get -f {d}/big " \
          f"{tmp_path}/back"
    p = run(["script", "-qec", cmd, "/dev/null"], timeout=120)
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    frames = p.stdout.replace("\r", "\n")
    if "%" in frames:  # a fast machine may finish before the first frame
        assert re.search(r"\[[#.]{30}\] +\d+%", frames), frames
    assert frames.rstrip().endswith("\x1b[K")
    cluster.dfs("rm", f"{d}/big")
