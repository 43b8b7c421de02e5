"""was inside a real server: Flask views in pool threads, plain WSGI with threads=0,
two workers sharing setlu, against this machine's PostgreSQL and Redis and SQLite files."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.unit.was.services import need_pg, need_redis

pytest.importorskip("flask", reason="Flask is in the test extras")


def fetch(srv: ServerProcess, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(srv.url(path), timeout=30) as resp:
        return resp.status, resp.read()


def fetch_json(srv: ServerProcess, path: str) -> object:
    status, body = fetch(srv, path)
    assert status == 200, body
    return json.loads(body)


FLASK_DB_APP = """
    import os
    import skitai
    from flask import Flask, jsonify
    from skitai import was

    app = Flask(__name__)

    @app.route("/rows/<name>")
    def rows(name):
        res = was.backend("@" + name).execute("SELECT name FROM cities ORDER BY name").getwait(5)
        return jsonify(names=[r.name for r in res.data], status=res.status)

    @app.route("/cached")
    def cached():
        res = was.backend("@pg", use_cache=was.getlu("cities")).execute(
            "SELECT name FROM cities_shared ORDER BY name").getwait(5)
        res.cache(60)
        return jsonify(names=[r.name for r in res.data], cached=res.cached, pid=os.getpid())

    @app.route("/touch")
    def touch():
        was.setlu("cities")
        return jsonify(pid=os.getpid())

    @app.route("/redis")
    def redis_view():
        was.redis("@rd").set("was-it-key", "v").wait(5)
        return jsonify(value=was.redis("@rd").get("was-it-key").getwait(5).data)

    @app.route("/txn")
    def txn():
        return jsonify(ids=list(was.txnid()))

    @app.route("/status")
    def status():
        return jsonify(was.status(format="dict"))

    if __name__ == "__main__":
        skitai.alias("@pg", skitai.DB_PGSQL, "postgres@127.0.0.1:5432/test")
        skitai.alias("@lite", skitai.DB_SQLITE3, os.path.abspath("dev.db"))
        skitai.alias("@rd", skitai.DB_REDIS, "127.0.0.1:6379")
        skitai.addlu("cities")
        skitai.set_max_rcache(50)
        skitai.mount("/", app)
        skitai.run(workers=2, threads=4)
"""


def test_flask_views_use_databases_and_the_shared_cache(tmp_path: Path) -> None:
    need_pg()
    need_redis()
    import asyncio
    import sqlite3

    import asyncpg

    db = sqlite3.connect(tmp_path / "dev.db")
    db.executescript("CREATE TABLE cities (name TEXT); INSERT INTO cities VALUES ('b'), ('a');")
    db.close()

    def pg(sql: str) -> None:
        # Not asyncio.run(): that clears the thread's event loop, which later tests ask for.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_pg(sql))
        finally:
            loop.close()

    async def _pg(sql: str) -> None:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", ssl=False)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    pg("DROP TABLE IF EXISTS cities; DROP TABLE IF EXISTS cities_shared;"
                   "CREATE TABLE cities (name TEXT); INSERT INTO cities VALUES ('b'), ('a');"
                   "CREATE TABLE cities_shared (name TEXT); INSERT INTO cities_shared VALUES ('x');")
    srv = start_app(tmp_path, FLASK_DB_APP)
    try:
        # The same rows through the SQLite alias and the PostgreSQL one.
        assert fetch_json(srv, "/rows/lite") == {"names": ["a", "b"], "status": 3}
        assert fetch_json(srv, "/rows/pg") == {"names": ["a", "b"], "status": 3}
        assert fetch_json(srv, "/redis") == {"value": "v"}
        # Both workers cache the query; a change made behind their back is not seen...
        # (Which worker accepts a new connection is the kernel's choice: ask until both
        # have answered, so both hold the entry, however the connections fell.)
        seen = [fetch_json(srv, "/cached") for _ in range(16)]
        for _ in range(200):
            if len({s["pid"] for s in seen}) == 2:
                break
            seen.append(fetch_json(srv, "/cached"))
        assert len({s["pid"] for s in seen}) == 2
        assert all(s["names"] == ["x"] for s in seen)
        assert any(s["cached"] for s in seen)
        pg("INSERT INTO cities_shared VALUES ('y')")
        again = [fetch_json(srv, "/cached") for _ in range(16)]
        assert all(a["names"] == ["x"] and a["cached"] for a in again)
        # ...until setlu in one worker moves the shared timestamp: every worker re-queries.
        fetch_json(srv, "/touch")
        after = [fetch_json(srv, "/cached") for _ in range(16)]
        assert all(a["names"] == ["x", "y"] for a in after)
        status = fetch_json(srv, "/status")
        roles = [p["role"] for p in status["processes"]]  # type: ignore[index]
        assert roles.count("worker") == 2
        assert status["this_worker"]["result_cache"]["max"] == 50  # type: ignore[index]
    finally:
        srv.stop()
        pg("DROP TABLE IF EXISTS cities; DROP TABLE IF EXISTS cities_shared")


PROMISE_APP = """
    import os
    import skitai
    from skitai import was

    def handler(promise, response):
        promise[response.id] = [r.n for r in response.data]
        if promise.fulfilled():
            promise.settle(f"{promise['title']}: {promise['one']} {promise['two']}")

    def app(environ, start_response):
        promise = was.promise(handler, title="rows")
        promise.backend("one", "@lite").execute("SELECT 1 AS n")
        promise.backend("two", "@lite").execute("SELECT 2 AS n UNION SELECT 3 ORDER BY n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return promise

    if __name__ == "__main__":
        skitai.alias("@lite", skitai.DB_SQLITE3, os.path.abspath("p.db"))
        skitai.mount("/", app)
        skitai.run(threads=int(os.environ["THREADS"]))
"""


@pytest.mark.parametrize("threads", ["0", "4"])
def test_promise_settles(tmp_path: Path, threads: str) -> None:
    srv = start_app(tmp_path, PROMISE_APP, env={"THREADS": threads})
    try:
        for _ in range(3):
            status, body = fetch(srv, "/")
            assert status == 200 and body == b"rows: [1] [2, 3]"
    finally:
        srv.stop()


FLASK_HTTP_APP = """
    import os
    import time
    import skitai
    from flask import Flask, jsonify, request
    from skitai import was

    app = Flask(__name__)

    @app.route("/fanout")
    def fanout():
        started = time.monotonic()
        calls = [was.get("@members/") for _ in range(3)]
        data = [c.getwait(5).data for c in calls]
        return jsonify(data=data, took=time.monotonic() - started,
                       gtxid=request.environ["skitai.gtxid"])

    @app.route("/map")
    def mapped():
        results = was.get.map("@members/").getswait(5)
        return jsonify(codes=results.status_code, ports=sorted(r.data["port"] for r in results))

    @app.route("/lb")
    def lb():
        return jsonify(was.get.lb("@half/").getwait(5).data)

    if __name__ == "__main__":
        skitai.alias("@members", skitai.PROTO_HTTP, os.environ["MEMBERS"].split(","))
        skitai.alias("@half", skitai.PROTO_HTTP, ["127.0.0.1:1 9", os.environ["MEMBERS"].split(",")[0]])
        skitai.mount("/", app)
        skitai.run(workers=1, threads=4)
"""


def test_flask_fanout_lb_map_and_transaction_ids(tmp_path: Path) -> None:
    from tests.unit.was.members import addresses, members

    with members(2, delay=0.3) as srvs:
        ports = sorted(s.server_port for s in srvs)
        srv = start_app(tmp_path, FLASK_HTTP_APP, env={"MEMBERS": ",".join(addresses(srvs))})
        try:
            fetch_json(srv, "/fanout")  # connections made
            request = urllib.request.Request(srv.url("/fanout"), headers={"X-Gtxn-Id": "GTID-test-1"})
            with urllib.request.urlopen(request, timeout=30) as resp:
                out = json.loads(resp.read())
            # Three calls to a member that takes 0.3 s: about 0.3 s together, not 0.9.
            assert out["took"] < 0.8, out["took"]
            assert out["gtxid"] == "GTID-test-1"
            # The ids reached the member: the request's global id, local ids 2001, 2002, 2003.
            assert {d["gtxn"] for d in out["data"]} == {"GTID-test-1"}
            assert sorted(d["ltxn"] for d in out["data"]) == ["2001", "2002", "2003"]
            assert fetch_json(srv, "/map") == {"codes": [200, 200], "ports": ports}
            for _ in range(3):
                assert fetch_json(srv, "/lb")["port"] == srvs[0].server_port  # type: ignore[index]
        finally:
            srv.stop()


FLASK_ASYNC_APP = """
    import os
    import skitai
    from flask import Flask, jsonify
    from skitai import was

    app = Flask(__name__)

    @app.route("/")
    async def view():  # Flask runs it on a loop of its own (asgiref): awaits reach ours
        one = was.backend("@lite").execute("SELECT 1 AS n")
        two = was.backend("@lite").execute("SELECT 2 AS n")
        return jsonify([(await one).data[0].n, (await two).data[0].n])

    if __name__ == "__main__":
        skitai.alias("@lite", skitai.DB_SQLITE3, os.path.abspath("a.db"))
        skitai.mount("/", app)
        skitai.run(threads=2)
"""


def test_flask_async_view_awaits_was_calls(tmp_path: Path) -> None:
    pytest.importorskip("asgiref", reason="Flask's async views need asgiref")
    srv = start_app(tmp_path, FLASK_ASYNC_APP)
    try:
        assert fetch_json(srv, "/") == [1, 2]
    finally:
        srv.stop()


LENDING_APP = """
    import os
    import skitai
    from skitai import was

    def app(environ, start_response):
        res = was.get("@gate/").getwait(30)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [res.content]

    if __name__ == "__main__":
        skitai.alias("@gate", skitai.PROTO_HTTP, [os.environ["GATE"]])
        skitai.mount("/", app)
        skitai.run(workers=1, threads=1)
"""


class _Gate:
    """A member that holds each request until ``size`` are in at once (or ``patience``
    passed), and answers how many were in together."""

    def __init__(self, size: int, patience: float) -> None:
        import threading

        self.size, self.patience = size, patience
        self.cond = threading.Condition()
        self.inside = 0
        self.most = 0

    def handler(self) -> type:
        from http.server import BaseHTTPRequestHandler

        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with gate.cond:
                    gate.inside += 1
                    gate.most = max(gate.most, gate.inside)
                    gate.cond.notify_all()
                    gate.cond.wait_for(lambda: gate.most >= gate.size, gate.patience)
                    together = gate.most
                out = json.dumps({"together": together}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                with gate.cond:
                    gate.inside -= 1

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.mark.parametrize("max_threads, together", [("4", 4), ("1", 1)])
def test_a_view_waiting_on_was_lends_its_thread(tmp_path: Path, max_threads: str,
                                                together: int) -> None:
    # threads=1: four requests whose views wait on a member that answers once four calls
    # are in.  With max-threads 4 the waiting view's thread lends its place and all four
    # calls meet at the member; with max-threads 1 (no lending) they go one at a time.
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from http.server import ThreadingHTTPServer

    gate = _Gate(4, patience=1.0)
    member = ThreadingHTTPServer(("127.0.0.1", 0), gate.handler())
    member.daemon_threads = True
    threading.Thread(target=member.serve_forever, daemon=True).start()
    srv = start_app(tmp_path, LENDING_APP, env={
        "GATE": f"127.0.0.1:{member.server_port}", "SKITAI_MAX_THREADS": max_threads})
    try:
        with ThreadPoolExecutor(4) as clients:
            outs = list(clients.map(lambda _: fetch_json(srv, "/"), range(4)))
        assert gate.most == together
        assert max(o["together"] for o in outs) == together  # type: ignore[index]
    finally:
        srv.stop()
        member.shutdown()
        member.server_close()
