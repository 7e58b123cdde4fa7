"""deploy/local-cluster.sh as SPEC 5 describes it: with MapReduce on (the
default) it starts a coordinator and one worker per chunk server, writes
them into cluster.env, a job submitted through DFS_COORDINATOR runs, and
stop ends every process it started."""

import os

from dfstest import BIN, REPO, run, wait_until


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False


def test_mapreduce_daemons_start_run_and_stop(make_cluster):
    c = make_cluster(chunkservers=3, mapreduce=True)
    env = c.env
    assert env["DFS_COORDINATOR"], "cluster.env names no coordinator"
    pids = [env["DFS_COORDINATOR_PID"]] + [
        env[f"DFS_WORKER_{i}_PID"] for i in range(1, 4)]
    assert all(pid_alive(p) for p in pids), pids

    text = "the cat and the dog\nthe end\n"
    (c.mount / "in").mkdir()
    (c.mount / "in" / "a.txt").write_text(text)
    job_env = dict(os.environ, DFS_MASTER=c.master,
                   DFS_COORDINATOR=env["DFS_COORDINATOR"],
                   DFS_MOUNT=str(c.mount))
    run([BIN / "mr", "submit", "--input", "/in", "--output", "/out",
         "--app", REPO / "build" / "apps" / "wc.so", "--reduces", "2"],
        env=job_env, timeout=120)
    out = c.mount / "out"
    assert (out / "_SUCCESS").exists()
    counts = {}
    for part in sorted(out.glob("part-*")):
        for line in part.read_text().splitlines():
            word, n = line.split("\t")
            counts[word] = int(n)
    assert counts == {"the": 3, "cat": 1, "and": 1, "dog": 1, "end": 1}

    c.stop()
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=30,
               what="MapReduce daemons to stop")
