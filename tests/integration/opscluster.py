"""Clusters for the operations tests (issue 7), on top of dfstest.Cluster.

- RackCluster: deploy/local-cluster.sh with --racks R (chunk server i on
  rack "rack<((i-1) mod R)+1>").
- NetnsCluster: deploy/netns-cluster.sh: each chunk server in a network
  namespace of its own at its own address (10.77.X.(10+i)), R racks, and
  optionally the MapReduce coordinator and workers. Same interface as
  dfstest.Cluster (the CLI, kills, restart-master, logs), plus the
  namespace and veth of each server; stop() also checks that every
  namespace, veth and bridge of the cluster is gone.

Both stop every process by pid (the scripts record them in cluster.env).
"""

import os
import subprocess

import dfstest
from dfstest import BIN, REPO, pid_alive, run

NETNS_CLUSTER = REPO / "deploy" / "netns-cluster.sh"


def netns_supported():
    """True when this process may make network namespaces."""
    if os.geteuid() != 0 or not any(
            os.access(os.path.join(d, "ip"), os.X_OK)
            for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin")):
        return False
    probe = f"dfs-probe-{os.getpid()}"
    p = run(["ip", "netns", "add", probe], check=False, timeout=20)
    if p.returncode != 0:
        return False
    run(["ip", "netns", "del", probe], check=False, timeout=20)
    return True


class RackCluster(dfstest.Cluster):
    """A local-cluster.sh cluster whose chunk servers sit on `racks`
    racks."""

    def __init__(self, root, racks=2, **kw):
        super().__init__(root, **kw)
        self.racks = racks

    def script(self, *args, **kw):
        if args and args[0] == "start":
            args = (*args, "--racks", self.racks)
        return super().script(*args, **kw)

    def rack(self, i):
        return self.env[f"DFS_CHUNKD_{i}_RACK"]


class NetnsCluster(RackCluster):
    """A netns-cluster.sh cluster (see the module docstring)."""

    def __init__(self, root, name="netns", chunkservers=4, racks=2,
                 mapreduce=False, mount=True, **kw):
        super().__init__(root, racks=racks, name=name,
                         chunkservers=chunkservers, **kw)
        self.mapreduce = mapreduce
        self.mounted = mount

    def script(self, *args, timeout=120, check=True):
        args = [str(a) for a in args]
        if args and args[0] == "start":
            args += ["--racks", str(self.racks)]
            if not self.mapreduce:
                args.append("--no-mapreduce")
            if not self.mounted:
                args.append("--no-mount")
        env = dict(os.environ, DFS_BIN=str(BIN))
        return run([NETNS_CLUSTER, *args], timeout=timeout, check=check,
                   env=env)

    @property
    def coordinator(self):
        return self.env["DFS_COORDINATOR"]

    def netns(self, i):
        return self.env[f"DFS_CHUNKD_{i}_NETNS"]

    def veth(self, i):
        return self.env[f"DFS_CHUNKD_{i}_VETH"]

    def all_pids(self):
        out = super().all_pids()
        if self.env.get("DFS_COORDINATOR_PID"):
            out.append(("mr", int(self.env["DFS_COORDINATOR_PID"])))
        for i in range(1, self.nservers + 1):
            pid = self.env.get(f"DFS_WORKER_{i}_PID")
            if pid:
                out.append(("mr", int(pid)))
        return out

    def network_leftovers(self):
        """Namespaces, veths and the bridge of this cluster that still
        exist (after stop: none)."""
        prefix = self.env.get("DFS_NETNS_PREFIX")
        if not prefix:
            return []
        x = self.env["DFS_SUBNET"].rsplit(".", 1)[1]
        ns = run(["ip", "netns", "list"], timeout=20).stdout.split()
        links = run(["ip", "-o", "link", "show"], timeout=20).stdout
        names = [line.split(": ")[1].split("@")[0]
                 for line in links.splitlines() if ": " in line]
        return ([n for n in ns if n.startswith(f"{prefix}-cs")] +
                [n for n in names
                 if n == f"dfsn{x}br" or n.startswith(f"dfsn{x}v")])

    def stop(self, remove_data=True):
        problems = super().stop(remove_data=remove_data)
        left = self.network_leftovers()
        if left:
            problems.append(f"netns-cluster.sh stop left {left}")
            for n in left:  # ours: named after this cluster's subnet
                if n.startswith(self.env["DFS_NETNS_PREFIX"] + "-cs"):
                    run(["ip", "netns", "del", n], check=False, timeout=20)
                else:
                    run(["ip", "link", "del", n], check=False, timeout=20)
        for name, pid in self.all_pids():
            if pid_alive(pid, name):
                problems.append(f"{name} pid {pid} survived stop")
        return problems

    def in_netns(self, i, *cmd, timeout=30):
        """Run a command inside chunk server i's namespace."""
        return run(["ip", "netns", "exec", self.netns(i), *cmd],
                   timeout=timeout)


def netns_of_pid(pid):
    """The network namespace inode of a process ("net:[4026...]")."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def promtool_check(text, timeout=30):
    """Run `promtool check metrics` on exposition text; returns the
    CompletedProcess (returncode 0 and no output when valid)."""
    return subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=timeout)
