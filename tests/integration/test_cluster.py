"""Many hosts, one app (issue 17): three masters on one machine, each in its own folder
and on its own port, joined by ``skitai.enable_cluster()`` over this machine's Redis
under a cluster name unique to the test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.fixtures.master import wait_for
from tests.integration import cluster_helper as ch


@pytest.fixture
def cluster(tmp_path: Path):
    ch.require_redis()
    name = ch.unique_name()
    apps = ch.start_hosts(tmp_path, 3, name=name)
    try:
        ch.wait_joined(ch.REDIS_URL, name, 3)
        yield name, apps
    finally:
        for app in apps:
            app.stop()
        ch.cleanup(ch.REDIS_URL, name)


def _events(app, pid: int, event: str) -> list[list]:
    return [e for e in (json.loads(x) for x in app.events(pid).splitlines()) if e[0] == event]


def test_setlu_on_one_host_reaches_every_host(cluster) -> None:
    _name, (a, b, c) = cluster
    status, body = a.get("/setlu?key=k")
    assert status == 200
    stamp = body["lu"]
    for other in (b, c):
        # A generous bound: the machine is shared (the 100 ms is a benchmark matter).
        wait_for(lambda o=other: o.get("/getlu?key=k")[1]["lu"] == stamp, timeout=20)
    # Every worker of every other host ran model-changed:k once, with the writer's args.
    for other in (b, c):
        for pid in ch.worker_pids(other):
            got = wait_for(lambda o=other, p=pid: _events(o, p, "model-changed:k"), timeout=20)
            assert got == [["model-changed:k", ["changed"], {}]]
    # A later write elsewhere wins everywhere (last writer by timestamp).
    status, body = c.get("/setlu?key=k")
    newer = body["lu"]
    assert newer > stamp
    for other in (a, b):
        wait_for(lambda o=other: o.get("/getlu?key=k")[1]["lu"] == newer, timeout=20)


def test_broadcast_reaches_every_worker_of_every_host_once(cluster) -> None:
    _name, apps = cluster
    event = "ping-" + uuid.uuid4().hex[:8]
    assert apps[1].get(f"/broadcast?event={event}")[0] == 200
    for app in apps:
        for pid in ch.worker_pids(app):
            wait_for(lambda a=app, p=pid: _events(a, p, event), timeout=20)
    ch.settle(2.0)  # an echo or a loop would add lines by now
    for app in apps:
        for pid in ch.worker_pids(app):
            assert _events(app, pid, event) == [[event, [1], {"x": 2}]]


def test_status_lists_every_host_with_its_processes(cluster) -> None:
    name, apps = cluster
    rows = ch.alive_hosts(ch.REDIS_URL, name)
    assert len(rows) == 3
    pids = {app.pid for app in apps}
    assert {r["master_pid"] for r in rows} == pids
    # Each heartbeat carries its master's process table (workers and the cluster daemon).
    wait_for(lambda: all({"worker", "cluster"} <= {p["role"] for p in r["processes"]}
                         for r in ch.alive_hosts(ch.REDIS_URL, name)), timeout=20)
