"""deploy/ for multi-host clusters (issue 7): systemd units, config
files, the dfs-run wrapper, the mount.fusefs helper and install-node.sh.

- test_units_verify: `systemd-analyze verify` accepts every unit
  (programs pointed at this build: verify wants them to exist).
- test_config_keys_are_the_flags: every key of every sample config is a
  long option of its program's --help, and every long option (but
  --help) is in the sample, commented with its default or set.
- test_dfs_run: the wrapper turns "key = value" lines into options in
  file order (spaces inside values kept, comments skipped, fusefs's
  mountpoint last and options as -o), and refuses malformed lines
  before anything runs; masterd started through it with a config file
  serves.
- test_mount_fusefs_helper: the fstab helper mounts a cluster from
  "MASTER DIR -o defaults,_netdev,..." (mount(8)'s call), with mount(8)'s
  own options dropped, and the mount works; it rejects a bad spec.
- test_install_node_destdir: install-node.sh --destdir puts units,
  configs and helpers in place, with PREFIX in the units, and keeps an
  existing config.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest

from dfstest import (BIN, REPO, fuse_unmount, is_mounted, pid_alive, run,
                     wait_until)

DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
CONFS = {
    "masterd.conf": [BIN / "masterd", "--help"],
    "chunkd.conf": [BIN / "chunkd", "--help"],
    "fusefs.conf": [BIN / "fusefs", "--help"],
    "mr-coordinator.conf": [BIN / "mr", "coordinator", "--help"],
    "mr-worker.conf": [BIN / "mr", "worker", "--help"],
}
# Keys of fusefs.conf that dfs-run maps to something else than --key.
SPECIAL = {"mountpoint", "options"}


def test_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    assert {u.name for u in UNITS} == {
        "dfs-masterd.service", "dfs-chunkd.service", "dfs-fusefs.service",
        "dfs-mr-coordinator.service", "dfs-mr-worker.service"}
    for unit in UNITS:
        text = unit.read_text()
        assert "/usr/local/lib/dfs/dfs-run /etc/dfs/" in text, unit
        text = text.replace("/usr/local/lib/dfs/dfs-run",
                            str(DEPLOY / "dfs-run"))
        text = text.replace("/usr/local/bin/", f"{BIN}/")
        (tmp_path / unit.name).write_text(text)
    p = run(["systemd-analyze", "verify",
             *[tmp_path / u.name for u in UNITS]], check=False, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr


def long_options(help_text):
    return set(re.findall(r"--([a-z][a-z0-9-]+)", help_text)) - {
        "help", "version"}


@pytest.mark.parametrize("conf", sorted(CONFS))
def test_config_keys_are_the_flags(conf):
    cmd = CONFS[conf]
    if not os.path.exists(cmd[0]):
        pytest.skip(f"{cmd[0]} not built")
    p = run(cmd, check=False, timeout=10)
    assert p.returncode == 0, p.stderr
    flags = long_options(p.stdout + p.stderr)
    text = (DEPLOY / "etc" / "dfs" / conf).read_text()
    keys = re.findall(r"^#?([a-z][a-z0-9-]*) = ", text, re.M)
    assert len(keys) == len(set(keys)), f"{conf}: a key twice"
    for k in keys:
        assert k in flags or (conf == "fusefs.conf" and k in SPECIAL), \
            f"{conf}: '{k}' is not an option of {cmd}"
    if conf == "fusefs.conf":
        flags &= {"master", "secret"}  # the rest are libfuse's
    assert flags <= set(keys), f"{conf} lacks {flags - set(keys)}"
    assert "Restart-only" in text and "Reloadable" in text


def dfs_run(conf_text, tmp_path, *prog):
    conf = tmp_path / "t.conf"
    conf.write_text(conf_text)
    return run([DEPLOY / "dfs-run", conf, *prog], check=False, timeout=10)


def test_dfs_run(tmp_path):
    p = dfs_run("# comment\n\n  data = /srv/my data  \nlisten=1.2.3.4:5\n"
                "mountpoint = /mnt/x\noptions = ro,attr_timeout=2\n",
                tmp_path, "printf", "%s|")
    assert p.returncode == 0, p.stderr
    assert p.stdout == ("--data|/srv/my data|--listen|1.2.3.4:5|"
                        "-o|ro,attr_timeout=2|/mnt/x|"), p.stdout
    for bad in ("just words\n", " = value\n", "Bad_Key = 1\n"):
        p = dfs_run(bad, tmp_path, "true")
        assert p.returncode == 2 and "t.conf:1" in p.stderr, (bad, p)
    p = run([DEPLOY / "dfs-run", tmp_path / "none.conf", "true"],
            check=False, timeout=10)
    assert p.returncode == 2 and "cannot read" in p.stderr

    # A real daemon from a config file.
    (tmp_path / "m").mkdir()
    conf = tmp_path / "masterd.conf"
    conf.write_text(f"data = {tmp_path}/m\nlisten = 127.0.0.1:0\n"
                    "#chunk-size = 64M\nheartbeat-timeout = 5\n")
    log = open(tmp_path / "masterd.log", "wb")
    proc = subprocess.Popen([DEPLOY / "dfs-run", conf, BIN / "masterd"],
                            stdout=log, stderr=log, start_new_session=True)
    try:
        addr = wait_until(lambda: re.search(
            r"listening on (\S+)", (tmp_path / "masterd.log").read_text()),
            15, "masterd listening").group(1)
        with urllib.request.urlopen(f"http://{addr}/api/overview",
                                    timeout=5) as r:
            ov = json.loads(r.read())
        assert ov["heartbeat_timeout_ms"] == 5000
        assert pid_alive(proc.pid, "masterd")  # exec'd in place
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.close()


def fusefs_pids(mnt):
    """Pids of fusefs processes serving mount point mnt (found in /proc
    by their command line, since the helper daemonizes fusefs)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if os.fsencode(str(mnt)) in argv and pid_alive(int(d), "fusefs"):
            out.append(int(d))
    return out


def test_mount_fusefs_helper(cluster, tmp_path):
    mnt = tmp_path / "fstab-mnt"
    mnt.mkdir()
    env = dict(os.environ, FUSEFS=str(BIN / "fusefs"))
    (cluster.mount / "via-fstab").write_text("hello\n")
    p = run([DEPLOY / "mount.fusefs", cluster.master, mnt, "-v", "-o",
             "defaults,_netdev,nofail,noauto,x-systemd.automount,"
             "attr_timeout=2"], env=env, timeout=30, check=False)
    try:
        assert p.returncode == 0, p.stderr
        assert "-o attr_timeout=2" in p.stderr and "_netdev" not in \
            p.stderr.split(str(BIN / "fusefs"), 1)[1], p.stderr
        assert is_mounted(mnt)
        assert (mnt / "via-fstab").read_text() == "hello\n"
        assert len(fusefs_pids(mnt)) == 1
    finally:
        pids = fusefs_pids(mnt)
        fuse_unmount(mnt)
        for pid in pids:
            try:
                wait_until(lambda: not pid_alive(pid, "fusefs"), 15,
                           "fusefs to exit")
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
    p = run([DEPLOY / "mount.fusefs", "not-an-address", mnt], env=env,
            timeout=10, check=False)
    assert p.returncode == 1 and "HOST:PORT" in p.stderr


def test_install_node_destdir(tmp_path):
    dest = tmp_path / "root"
    run([DEPLOY / "install-node.sh", "--destdir", dest, "--prefix",
         "/opt/dfs"], timeout=30)
    for f in ("opt/dfs/lib/dfs/dfs-run", "sbin/mount.fusefs"):
        assert os.access(dest / f, os.X_OK), f
    units = sorted(p.name for p in (dest / "etc/systemd/system").iterdir())
    assert units == sorted(u.name for u in UNITS)
    text = (dest / "etc/systemd/system/dfs-chunkd.service").read_text()
    assert "ExecStart=/opt/dfs/lib/dfs/dfs-run /etc/dfs/chunkd.conf " \
        "/opt/dfs/bin/chunkd" in text
    assert sorted(p.name for p in (dest / "etc/dfs").iterdir()) == \
        sorted(CONFS)
    (dest / "etc/dfs/chunkd.conf").write_text("data = /mine\n")
    p = run([DEPLOY / "install-node.sh", "--destdir", dest], timeout=30)
    assert (dest / "etc/dfs/chunkd.conf").read_text() == "data = /mine\n"
    assert (dest / "etc/dfs/chunkd.conf.new").exists()
    assert "kept" in p.stdout
