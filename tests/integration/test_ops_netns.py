"""deploy/netns-cluster.sh (issue 7): the cluster on one machine with
each chunk server in a network namespace of its own, on two racks.

- test_replicas_span_racks: 4 servers at 10.77.X.11..14 on racks
  rack1/rack2, each chunkd process inside its own namespace (a network
  namespace other than ours and the others'), reachable only by its own
  address. Files written through the mount and the CLI: every chunk has
  3 replicas on distinct servers spanning both racks; after a server is
  killed, re-replication restores 3 replicas that still span both racks.
  stop removes every namespace, veth and the bridge.
- test_mapreduce_jobs_on_status_page: with the coordinator and a worker
  per namespace, a word count runs; EP_JOBS (what the status page shows)
  lists it as succeeded with its progress, and the page renders its row.
"""

import json
import os
import urllib.request

import pytest

import cdp
from dfstest import BIN, MiB, run, wait_until
from opscluster import NetnsCluster, netns_of_pid, netns_supported

NOISE = (r"(refused|unreachable|dead|failed|giving up|reset|timed out|"
         r"reach|connect|re-replicat|fewer)")

pytestmark = pytest.mark.skipif(not netns_supported(),
                                reason="needs root and iproute2 netns")


@pytest.fixture
def make_netns(tmp_path_factory):
    made = []

    def make(**kw):
        c = NetnsCluster(tmp_path_factory.mktemp("netns"), **kw)
        made.append(c)
        return c.start()

    try:
        yield make
    finally:
        problems = []
        for c in made:
            problems += c.stop()
        assert not problems, "\n".join(problems)


def racks_of(c, addrs):
    return {c.rack(c.server_index(a)) for a in addrs}


@pytest.mark.dfs_timeout(240)
def test_replicas_span_racks(make_netns, tmp_path):
    c = make_netns(chunkservers=4, racks=2)
    c.allow(NOISE)
    subnet = c.env["DFS_SUBNET"]
    assert c.master == f"{subnet}.1:9000"
    own = netns_of_pid(os.getpid())
    seen = set()
    for i in range(1, 5):
        assert c.chunkd_addr(i) == f"{subnet}.{10 + i}:9100"
        assert c.rack(i) == f"rack{(i - 1) % 2 + 1}"
        ns = netns_of_pid(c.chunkd_pid(i))
        assert ns is not None and ns != own and ns not in seen, ns
        seen.add(ns)
        # Its address exists in its namespace only.
        addrs = c.in_netns(i, "ip", "-4", "-o", "addr", "show").stdout
        assert f"{subnet}.{10 + i}/24" in addrs
        assert f"{subnet}.1/24" not in addrs
    st = c.status()
    assert {s["rack"] for s in st["chunkservers"]} == {"rack1", "rack2"}

    files = {}
    for n in range(4):
        data = os.urandom(2 * MiB + n * 1000 + 1)
        (c.mount / f"m{n}").write_bytes(data)
        files[f"/m{n}"] = data
    local = tmp_path / "cli"
    local.write_bytes(os.urandom(3 * MiB))
    c.dfs("put", "-q", local, "/cli")
    files["/cli"] = local.read_bytes()

    def spans(path):
        for ch in c.stat(path)["chunks"]:
            reps = ch["replicas"]
            if len(reps) != 3 or len(set(reps)) != 3 or \
                    racks_of(c, reps) != {"rack1", "rack2"}:
                return False
        return True

    # A write whose chain lost a server to a hiccup of the emulated
    # network (seen once on a loaded machine) completes on the other two;
    # re-replication then adds a third copy, on the missing rack.
    wait_until(lambda: all(spans(p) for p in files), 30,
               "every chunk on 3 servers spanning both racks")

    c.kill_chunkd(1)
    dead = c.chunkd_addr(1)
    wait_until(lambda: not next(s["alive"] for s in c.status()["chunkservers"]
                                if s["addr"] == dead), 20,
               f"{dead} declared dead")
    wait_until(lambda: all(spans(p) for p in files) and
               c.status()["under_replicated"] == 0, 60,
               "3 replicas on both racks again")
    for path, data in files.items():
        assert all(dead not in ch["replicas"]
                   for ch in c.stat(path)["chunks"])
        assert c.dfs("cat", path, text=False).stdout == data, path


@pytest.mark.dfs_timeout(240)
def test_mapreduce_jobs_on_status_page(make_netns, tmp_path):
    if not (BIN / "mr").exists():
        pytest.skip("mr not built")
    apps = BIN.parent / "apps"
    c = make_netns(chunkservers=2, racks=2, mapreduce=True)
    c.dfs("mkdir", "/in")
    for n in range(2):
        (c.mount / "in" / f"t{n}").write_text("a b c a\n" * 5000)
    env = dict(os.environ, DFS_MASTER=c.master,
               DFS_COORDINATOR=c.coordinator)
    run([BIN / "mr", "submit", "--input", "/in", "--output", "/out",
         "--app", apps / "wc.so", "--reduces", "2"], env=env, timeout=180)
    assert (c.mount / "out" / "_SUCCESS").exists()
    with urllib.request.urlopen(f"http://{c.master}/api/jobs",
                                timeout=10) as r:
        jobs = json.loads(r.read())
    assert jobs["coordinator"] == c.coordinator and "error" not in jobs
    (job,) = jobs["jobs"]
    assert job["state"] == "succeeded" and job["output"] == "/out"
    assert job["maps_done"] == job["maps"] >= 2
    assert job["reduces_done"] == job["reduces"] == 2
    with cdp.Browser(tmp_path) as b:
        page = b.new_page(1200, 900)
        page.goto(f"http://{c.master}/")
        row = page.wait_for(
            f"(r => r && [r.dataset.state, r.innerText])("
            f"document.querySelector('tr[data-job=\"{job['id']}\"]'))", 15)
        assert row[0] == "succeeded" and "/out" in row[1], row
        assert f"{job['maps']} / {job['maps']}" in row[1], row
        assert page.errors() == []


def test_stop_removes_the_network(tmp_path):
    c = NetnsCluster(tmp_path, chunkservers=2, mount=False)
    try:
        c.start()
        assert c.network_leftovers(), "no network made?"
        status = c.script("status", "--dir", c.dir, check=False).stdout
        assert "namespaces: 2" in status, status
    finally:
        problems = c.stop()
    assert not problems, problems
    assert c.network_leftovers() == []
