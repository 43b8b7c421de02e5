"""Many hosts, one app (issue 17): three masters on one machine, each in its own folder
and on its own port, joined by ``skitai.enable_cluster()`` over this machine's Redis
under a cluster name unique to the test."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.master import wait_for
from tests.integration import cluster_helper as ch

# The spelling: a handler at module level in app.py runs in every worker of every host.
APP_HANDLER = """
from skitai import was


@was.on_broadcast("hello")
def said_hello(*args, **kwargs):
    with open(os.path.join(os.environ["TEST_VAR"], "hello-%d" % os.getpid()), "a") as f:
        f.write("%r %r\\n" % (args, kwargs))
"""


@pytest.fixture
def cluster(tmp_path: Path):
    ch.require_redis()
    name = ch.unique_name()
    apps = ch.start_hosts(tmp_path, 3, name=name, setup=APP_HANDLER)
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

    # app.py's own @was.on_broadcast("hello"), once in each of the six workers.
    assert apps[2].get("/broadcast?event=hello")[0] == 200
    files = [app.var / f"hello-{pid}" for app in apps for pid in ch.worker_pids(app)]
    wait_for(lambda: all(f.exists() for f in files), timeout=20)
    ch.settle(2.0)
    for f in files:
        assert f.read_text() == "(1,) {'x': 2}\n"


def test_status_lists_every_host_with_its_processes(cluster) -> None:
    name, apps = cluster
    rows = ch.alive_hosts(ch.REDIS_URL, name)
    assert len(rows) == 3
    pids = {app.pid for app in apps}
    assert {r["master_pid"] for r in rows} == pids
    # Each heartbeat carries its master's process table (workers and the cluster daemon).
    wait_for(lambda: all({"worker", "cluster"} <= {p["role"] for p in r["processes"]}
                         for r in ch.alive_hosts(ch.REDIS_URL, name)), timeout=20)

    done = apps[0].cli("status", "--cluster")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("  UP  ") == 3 and f"cluster {name}" in done.stdout
    for app in apps:
        assert f"master pid {app.pid}" in done.stdout
    # The skitai command says the same (it runs python APP.py status --cluster).
    import subprocess
    import sys
    via = subprocess.run([sys.executable, "-m", "skitai", "status", "--cluster", "--json",
                          str(apps[1].dir / "app.py")], env={**__import__("os").environ, **apps[1].env},
                         capture_output=True, text=True, timeout=60)
    assert via.returncode == 0, via.stderr
    assert sorted(h["master_pid"] for h in json.loads(via.stdout)["hosts"]) == sorted(pids)

    # kill -9 of a host: once its heartbeat's TTL ran out it is listed as gone (exit 1).
    ch.kill_host(apps[2])
    gone = wait_for(lambda: (lambda d: d if d.returncode == 1 else None)(
        apps[0].cli("status", "--cluster")), timeout=30, every=0.5)
    assert gone.stdout.count("  UP  ") == 2 and gone.stdout.count("GONE (last seen") == 1


def test_a_once_job_fires_on_one_host_per_fire_and_moves_when_a_host_dies(tmp_path: Path) -> None:
    ch.require_redis()
    name = ch.unique_name()
    log = tmp_path / "fires.txt"
    setup = (f'skitai.cron("* * * * * */2", "echo $HOST_TAG $(date +%s.%N) >> {log}", '
             f'cluster="once")\n')
    apps = ch.start_hosts(tmp_path, 3, name=name, setup=setup, run_args="workers=1")
    try:
        ch.wait_joined(ch.REDIS_URL, name, 3)
        wait_for(lambda: len(ch.fires(log)) >= 6, timeout=60, every=0.5)
        before = ch.fires(log)

        # kill -9 the host that ran the latest fire: the next fires run elsewhere.
        victim_tag = before[-1][0]
        victim = apps[int(victim_tag.removeprefix("host"))]
        ch.kill_host(victim)
        t0 = before[-1][1]
        wait_for(lambda: len([f for f in ch.fires(log) if f[1] > t0 + 1]) >= 3, timeout=60,
                 every=0.5)
        after = [f for f in ch.fires(log) if f[1] > t0 + 1.0]
        assert {tag for tag, _ in after} <= {f"host{i}" for i in range(3)} - {victim_tag}
        for app in apps:
            app.stop()
        # Three hosts tried every fire; each run is one claimed fire (a fire's key is made
        # once, by the host that runs it).  The victim may have claimed one more as it died.
        claimed = ch.claimed_fires(ch.REDIS_URL, name)
        assert len(ch.fires(log)) <= claimed <= len(ch.fires(log)) + 1
    finally:
        for app in apps:
            app.stop()
        ch.cleanup(ch.REDIS_URL, name)


def test_redis_stopped_and_restarted_loses_no_setlu_and_runs_no_job_twice(tmp_path: Path) -> None:
    own = ch.OwnRedis(tmp_path / "redis")
    own.start()
    name = ch.unique_name()
    log = tmp_path / "fires.txt"
    setup = (f'skitai.cron("* * * * * */2", "echo $HOST_TAG $(date +%s.%N) >> {log}", '
             f'cluster="once")\n')
    apps: list = []
    try:
        apps = ch.start_hosts(tmp_path, 2, name=name, url=own.url, setup=setup, run_args="workers=1")
        a, b = apps
        ch.wait_joined(own.url, name, 2)
        stamp_k = a.get("/setlu?key=k")[1]["lu"]
        wait_for(lambda: b.get("/getlu?key=k")[1]["lu"] == stamp_k, timeout=20)

        own.stop()
        stopped_at = time.time()
        # Redis down: the web keeps serving, setlu is local, once jobs skip.
        status, body = b.get("/setlu?key=other")
        assert status == 200
        stamp_other = body["lu"]
        assert b.get("/getlu?key=other")[1]["lu"] == stamp_other
        ch.settle(6.0)
        # (A run claimed just before the stop may start late on a loaded machine: 2 s of slack.)
        assert [f for f in ch.fires(log) if f[1] > stopped_at + 2.0] == [], "a once job ran without Redis"
        # Each skip is said in the host's log, and the cluster daemon said it works alone.
        wait_for(lambda: "cluster='once': Redis" in a.output + b.output, timeout=20)
        assert "this host works alone" in a.output and "this host works alone" in b.output

        own.start()
        # On reconnect the hosts reconcile: B's write during the outage reaches A.
        wait_for(lambda: a.get("/getlu?key=other")[1]["lu"] == stamp_other, timeout=60, every=0.3)
        assert a.get("/getlu?key=k")[1]["lu"] == stamp_k == b.get("/getlu?key=k")[1]["lu"]
        # And the once job runs again, still once per fire.
        wait_for(lambda: len([f for f in ch.fires(log) if f[1] > stopped_at + 6.0]) >= 3, timeout=60,
                 every=0.5)
        for app in apps:
            app.stop()
        # Each run is one claimed fire (a fire's key is made once, by the host that ran it).
        assert len(ch.fires(log)) == ch.claimed_fires(own.url, name)
    finally:
        for app in apps:
            app.stop()
        own.stop()


def test_broadcasts_sent_while_redis_is_down_are_replayed_up_to_the_bound(tmp_path: Path) -> None:
    # A private Redis, stopped and restarted: what host A broadcast meanwhile reached A's
    # workers at once and B's after the restart, in order, once; past max_queue (3) the
    # oldest were dropped, and A's log says so.
    own = ch.OwnRedis(tmp_path / "redis")
    own.start()
    name = ch.unique_name()
    apps: list = []
    try:
        apps = ch.start_hosts(tmp_path, 2, name=name, url=own.url, run_args="workers=1",
                              options=", max_queue=3")
        a, b = apps
        ch.wait_joined(own.url, name, 2)
        [pa], [pb] = ch.worker_pids(a, 1), ch.worker_pids(b, 1)
        assert a.get("/broadcast?event=before")[0] == 200
        wait_for(lambda: _events(b, pb, "before"), timeout=20)
        # Steady: each daemon's heartbeat has counted both on the bus (pub/sub keeps
        # nothing, so a replay waits for as many listeners as there were).
        wait_for(lambda: [r.get("listeners") for r in ch.alive_hosts(own.url, name)] == [2, 2],
                 timeout=30, every=0.2)

        own.stop()
        for app in apps:  # both cluster daemons saw Redis go
            wait_for(lambda x=app: "this host works alone" in x.output, timeout=30)
        sent = [f"down{n}" for n in range(5)]
        for event in sent:
            assert a.get(f"/broadcast?event={event}")[0] == 200
        # A's own workers get them through the master, Redis or not.
        wait_for(lambda: [e[0] for e in _all_events(a, pa) if e[0].startswith("down")] == sent,
                 timeout=20)
        assert not [e for e in _all_events(b, pb) if e[0].startswith("down")]  # no path to B yet
        wait_for(lambda: "the oldest dropped (1 so far" in a.output, timeout=20)

        own.start()
        expected = sent[-3:]
        wait_for(lambda: len([e for e in _all_events(b, pb) if e[0].startswith("down")]) >= 3,
                 timeout=60, every=0.3)
        assert "publishing 3 broadcast(s) queued while Redis was away" in a.output
        assert a.get("/broadcast?event=after")[0] == 200  # order holds after the replay too
        wait_for(lambda: _events(b, pb, "after"), timeout=20)
        ch.settle(1.0)  # a duplicate (an echo, a second replay) would have arrived by now
        got_b = [e[0] for e in _all_events(b, pb) if e[0].startswith("down") or e[0] == "after"]
        assert got_b == [*expected, "after"]
        assert [e[0] for e in _all_events(a, pa) if e[0].startswith("down")] == sent  # once
    finally:
        for app in apps:
            app.stop()
        own.stop()


def _all_events(app, pid: int) -> list[list]:
    return [json.loads(x) for x in app.events(pid).splitlines()]


CHAT = '''
import skitai


def app(environ, start_response):
    event = environ.get("websocket.event")
    ws = environ.get("websocket")
    cid = environ.get("websocket.client")
    if event == skitai.WS_EVT_INIT:
        environ["websocket.config"] = (skitai.WS_GROUPCHAT, 60, ("message",))
        return None
    if event in (skitai.WS_EVT_OPEN, skitai.WS_EVT_CLOSE):
        return None
    message = environ["websocket.message"]
    if message == "whoami":
        return "you are %d" % cid, cid
    if message.startswith("to "):
        ws.send("private from %d" % cid, int(message.split()[1]))
        return None
    return "%d said %s" % (cid, message)
'''


def test_group_chat_rooms_span_hosts(tmp_path: Path) -> None:
    import asyncio

    pytest.importorskip("websockets", reason="websockets is in the test extras")
    from websockets.asyncio.client import connect

    ch.require_redis()
    name = ch.unique_name()
    apps = []
    try:
        for i in range(3):
            folder = tmp_path / f"host{i}"
            folder.mkdir()
            apps.append(ch.WebApp(folder, run_args="workers=1", webapp=CHAT, setup=(
                f'skitai.enable_cluster({ch.REDIS_URL!r}, name={name!r})\n')))
        ch.wait_joined(ch.REDIS_URL, name, 3)

        async def recv_until(ws, pred, timeout=20.0):
            while True:
                text = await asyncio.wait_for(ws.recv(), timeout)
                if pred(text):
                    return text

        async def go() -> None:
            members = []
            for app in apps:
                for _ in range(2):
                    members.append(await connect(
                        f"ws://{app.server.host}:{app.server.port}/chat?room=r", close_timeout=1))
            ids = []
            for ws in members:
                await ws.send("whoami")
                ids.append(int((await recv_until(ws, lambda t: t.startswith("you are "))).split()[2]))
            assert len(set(ids)) == 6
            # Two senders on two hosts, five messages each: every member sees each message
            # once, in order per sender.
            senders = (0, 4)
            for n in range(5):
                for s in senders:
                    await members[s].send(f"m{s}-{n}")
            for ws in members:
                seen: dict[int, list[str]] = {s: [] for s in senders}
                while sum(len(v) for v in seen.values()) < 10:
                    text = await recv_until(ws, lambda t: " said m" in t)
                    sender, _, body = text.partition(" said ")
                    seen[ids.index(int(sender))].append(body)
                for s in senders:
                    assert seen[s] == [f"m{s}-{n}" for n in range(5)]
            # To one client, wherever it is connected: host 0 to a member of host 2.
            await members[0].send(f"to {ids[5]}")
            assert await recv_until(members[5], lambda t: t.startswith("private")) == \
                f"private from {ids[0]}"
            # Nothing arrives twice: no extra "said" lines are pending anywhere.
            for ws in members:
                with pytest.raises(TimeoutError):
                    await recv_until(ws, lambda t: " said " in t, timeout=1.0)
            await asyncio.gather(*(ws.close() for ws in members))

        asyncio.run(go())
    finally:
        for app in apps:
            app.stop()
        ch.cleanup(ch.REDIS_URL, name)


def test_standalone_crons_of_one_file_share_the_once_lease(tmp_path: Path) -> None:
    """``skitai cron -f FILE`` on two hosts: ``cluster=once`` lines of ``[:crontab]`` run
    once per fire between them (each has its own var folder, so only Redis is shared)."""
    import os
    import subprocess
    import sys
    import time

    ch.require_redis()
    name = ch.unique_name()
    log = tmp_path / "fires.txt"
    procs = []
    try:
        for i in range(2):
            conf = tmp_path / f"h{i}.conf"
            conf.write_text(f"[cron]\nvar-path = {tmp_path / f'var{i}'}\n\n"
                            f"[cluster]\nurl = {ch.REDIS_URL}\nname = {name}\nhost = h{i}\n\n"
                            f"[:crontab]\n* * * * * */1 cluster=once echo h{i} $(date +%s.%N) >> {log}\n")
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
            procs.append(subprocess.Popen([sys.executable, "-m", "skitai.cron", "-f", str(conf)],
                                          env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
        wait_for(lambda: len(ch.fires(log)) >= 6, timeout=60, every=0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
    time.sleep(0.5)
    try:
        assert len(ch.fires(log)) == ch.claimed_fires(ch.REDIS_URL, name)
    finally:
        ch.cleanup(ch.REDIS_URL, name)
