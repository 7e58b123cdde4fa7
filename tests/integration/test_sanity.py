"""Command-line sanity of every program, without a cluster.

- Every daemon and the dfs CLI answer --help with exit 0 and a usage text.
- Bad arguments (unknown option, missing required option, non-numeric
  value, missing mount point) exit non-zero with a message on stderr.
- masterd refuses a port that is in use, listens on port 0 and logs the
  real address, serves EP_STATUS there, and exits 0 on SIGTERM.
- local-cluster.sh answers --help and rejects unknown commands.
"""

import re
import signal
import socket
import subprocess
import time

import pytest

from dfstest import BIN, LOCAL_CLUSTER, run, wait_until

DAEMONS = ["masterd", "chunkd", "fusefs"]


@pytest.mark.parametrize("prog", DAEMONS + ["dfs"])
def test_help_exits_zero(prog):
    p = run([BIN / prog, "--help"], timeout=10, check=False)
    assert p.returncode == 0, p.stderr
    assert re.search(r"usage", p.stdout + p.stderr, re.I), p.stdout


@pytest.mark.parametrize("args", [
    ["masterd", "--no-such-option"],
    ["masterd"],                                   # --data is required
    ["masterd", "--data", "d", "--chunk-size", "abc"],
    ["masterd", "--data", "d", "--replication", "-1"],
    ["masterd", "--data", "d", "--listen", "nohostport"],
    ["masterd", "--data", "d", "extra-operand"],
    ["chunkd", "--no-such-option"],
    ["chunkd"],                                    # --data is required
    ["chunkd", "--data", "d", "--listen", "nohostport"],
    ["chunkd", "--data", "d", "--master", "nohostport"],
    ["fusefs", "--no-such-option"],
    ["fusefs"],                                    # no mount point
    ["dfs", "--no-such-option", "status"],
    ["dfs"],                                       # no command
    ["dfs", "no-such-command"],
    ["dfs", "stat"],                               # no path
    ["dfs", "status", "--bogus"],
], ids=lambda a: " ".join(a))
def test_bad_args_exit_nonzero(args, tmp_path):
    p = run([BIN / args[0], *args[1:]], timeout=10, check=False,
            cwd=tmp_path)
    assert p.returncode != 0, f"{args} exited 0: {p.stdout} {p.stderr}"
    assert p.stderr.strip(), f"{args}: no message on stderr"


def test_dfs_usage_errors_exit_2():
    for args in (["no-such-command"], ["stat"], ["put", "x"],
                 ["status", "--bogus"], ["--master"]):
        p = run([BIN / "dfs", *args], timeout=10, check=False)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stderr.startswith("dfs: "), (args, p.stderr)


def test_dfs_help_of_every_command():
    p = run([BIN / "dfs", "--help"], timeout=10)
    cmds = re.findall(r"^  (\w+)\s", p.stdout.split("Commands:")[1], re.M)
    for want in ("status", "stat", "ls", "put", "get", "rm", "mkdir"):
        assert want in cmds, p.stdout
    for cmd in cmds:
        h = run([BIN / "dfs", cmd, "--help"], timeout=10)
        assert h.stdout.startswith(f"usage: dfs [--master ADDR] {cmd}"), \
            h.stdout


def test_dfs_unreachable_master():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run([BIN / "dfs", "--master", f"127.0.0.1:{port}", "status"],
            timeout=30, check=False)
    assert p.returncode == 1
    assert "cannot reach master" in p.stderr, p.stderr


def test_masterd_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run([BIN / "masterd", "--data", tmp_path, "--listen",
                 f"127.0.0.1:{port}"], timeout=20, check=False)
    assert p.returncode != 0
    assert p.stderr.strip()


def test_masterd_port_zero_and_sigterm(tmp_path):
    log = tmp_path / "masterd.log"
    with open(log, "wb") as f:
        p = subprocess.Popen([BIN / "masterd", "--data", tmp_path / "m",
                              "--listen", "127.0.0.1:0"],
                             stdout=f, stderr=f, stdin=subprocess.DEVNULL)
    try:
        m = wait_until(
            lambda: p.poll() is None and re.search(
                r"listening on (127\.0\.0\.1:\d+)", log.read_text()),
            20, "masterd to log its address")
        addr = m.group(1)
        assert not addr.endswith(":0")
        st = run([BIN / "dfs", "--master", addr, "status", "--json"],
                 timeout=20)
        assert '"chunkservers"' in st.stdout
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0, log.read_text()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = log.read_text()
    assert not re.search(r"\] (error|fatal): ", text), text


def test_local_cluster_script_usage():
    p = run([LOCAL_CLUSTER, "--help"], timeout=10)
    assert "start" in p.stdout and "restart-master" in p.stdout
    p = run([LOCAL_CLUSTER, "bogus"], timeout=10, check=False)
    assert p.returncode != 0
    p = run([LOCAL_CLUSTER, "start", "--bogus"], timeout=10, check=False)
    assert p.returncode != 0 and "unknown argument" in p.stderr
