"""Saddle views using the engine's was, through a real server with threads=0 and 4: a view
returning ``was.promise(handler)`` rendered with the app's templates and the results by
request id (README "Async Promise Response"), and an ``async def`` view awaiting was calls
to a real HTTP member and to this machine's PostgreSQL."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.unit.was.members import addresses, members
from tests.unit.was.services import need_pg

APP = '''
import asyncio
from skitai.saddle import Saddle

app = Saddle(__name__)


def handler(promise, response):
    if response.id == "member":
        promise["member"] = promise.render("item.html", r=response)
    else:
        promise[response.id] = [row.n for row in response.data]
    if promise.fulfilled():
        promise.settle(promise.render("final.html"))


@app.route("/promise")
def promised(was):
    promise = was.promise(handler, title="rows")
    promise.get("member", "@members/item")
    promise.backend("rows", "@lite").execute("SELECT 2 AS n UNION SELECT 3 ORDER BY n")
    return promise


@app.route("/async")
async def awaiting(was):
    member = await was.get("@members/one")
    rows = await was.backend("@pg").execute("SELECT 1 AS one")
    both = await asyncio.gather(was.get("@members/two"), was.get("@members/three"))
    return {"member": [member.status_code, member.data["path"]],
            "pg": [rows.status, rows.data[0].one],
            "both": [r.data["path"] for r in both]}


def seed_handler(promise, response):  # the seed's examples, as written there
    if response.id == "req-0":
        promise.send(response.data["path"])
    if promise.fulfilled():
        r = promise["stats"]
        r["result"] = [row.n for row in promise["rows"]] if "rows" in promise else None
        promise.settle(promise.response.api(r))


def seed_rows(promise, response):
    promise["rows"] = response.data
    seed_handler(promise, response)


@app.route("/seedpromise")
def seed_promise(was):
    promise = was.promise(seed_handler, stats={"total": 100})
    promise.get("req-0", "@members/seed")
    return promise


@app.route("/seedapi")
def seed_api(was):
    promise = was.promise(seed_rows, stats={"total": 100})
    promise.backend("query", "@pg").execute("SELECT 4 AS n")
    return promise


broadcast_seen = []


@app.on_broadcast("user:data-added")
def refresh_user_cache(was, userid):  # the seed's: waits on a was call, off the loop
    rows = was.backend("@lite").execute("SELECT %s AS n", (userid,)).wait()
    broadcast_seen.append(rows.data[0].n)


@app.route("/bcast")
def bcast(was):
    was.broadcast("user:data-added", 7)
    return "sent"


@app.route("/bseen")
def bseen(was):
    return broadcast_seen


def fill(res):  # the seed's "create_cache": a callback of a call made in @app.mounted
    app.storage.set("MOUNTED", [res.status_code, res.data["path"]])


@app.mounted
def mounted(was):
    was.get("@members/mounted", callback=fill)


@app.route("/storage")
def storage(was):
    return {"mounted": app.storage.get("MOUNTED")}


@app.before_mount
def before_mount(wac):  # the seed's "App Lifecycle Hook" example
    logger = wac.logger.get("app")
    logger = wac.logger.make_logger("login", "daily")
    logger.info("mounting with %d threads", wac.numthreads)
    wac.register("seen", {"threads": wac.numthreads, "limit": wac.config.max_post_body_size})


@app.route("/wac")
def wac_view(was):
    import os
    return {"seen": was.seen, "expected": int(os.environ["THREADS"])}


@app.route("/txn")
def txn(was):
    return {"called": list(was.txnid()), "text": was.txnid}
'''

MAIN = """
    import os
    import skitai
    if __name__ == "__main__":
        skitai.alias("@members", skitai.PROTO_HTTP, os.environ["MEMBERS"].split(","))
        skitai.alias("@lite", skitai.DB_SQLITE3, os.path.abspath("p.db"))
        skitai.alias("@pg", skitai.DB_PGSQL, "postgres@127.0.0.1:5432/test")
        skitai.mount("/", "saddleapp.py", "app")
        skitai.run(workers=1, threads=int(os.environ["THREADS"]))
"""

ITEM = "<li>{{ r.id }} {{ r.status_code }} {{ r.data.path }}</li>"
FINAL = "<h1>{{ title }} by {{ was.app.name }}</h1><ul>{{ member|safe }}</ul>{{ rows }}"


@pytest.fixture(params=["0", "4"], ids=["threads0", "threads4"])
def srv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    need_pg()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "item.html").write_text(ITEM)
    (tmp_path / "templates" / "final.html").write_text(FINAL)
    (tmp_path / "saddleapp.py").write_text(APP)
    with members(1, delay=0.2) as srvs:  # slow enough that requests overlap
        server = start_app(tmp_path, MAIN, env={"MEMBERS": ",".join(addresses(srvs)),
                                                "THREADS": request.param})
        try:
            yield server
        finally:
            server.stop()


def fetch(srv: ServerProcess, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(srv.url(path), timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{exc.code}: {exc.read()[:2000]!r}\n{srv.output}") from None


def test_promise_renders_with_app_templates(srv: ServerProcess) -> None:
    for _ in range(3):
        status, body = fetch(srv, "/promise")
        assert status == 200
        assert body == b"<h1>rows by saddleapp</h1><ul><li>member 200 /item</li></ul>[2, 3]"


def test_async_view_awaits_was_calls(srv: ServerProcess) -> None:
    for _ in range(3):
        status, body = fetch(srv, "/async")
        assert status == 200
        assert json.loads(body) == {"member": [200, "/one"], "pg": [3, 1],
                                    "both": ["/two", "/three"]}


def test_wac_logger_config_numthreads(srv: ServerProcess) -> None:
    """The seed's before_mount(wac): wac.logger.get/make_logger, wac.config, wac.numthreads."""
    status, body = fetch(srv, "/wac")
    data = json.loads(body)
    assert data["seen"] == {"threads": data["expected"], "limit": 5 * 1024 * 1024}
    assert f"mounting with {data['expected']} threads" in srv.output


def test_seed_promise_examples(srv: ServerProcess) -> None:
    """The seed's "Async Promise Response": a request named 'req-0' and a handler that
    settles with promise.response.api(...)."""
    assert fetch(srv, "/seedpromise") == (200, b'/seed{"total": 100, "result": null}')
    assert fetch(srv, "/seedapi") == (200, b'{"total": 100, "result": [4]}')


def test_broadcast_handler_may_wait_on_was_calls(srv: ServerProcess) -> None:
    """The seed's "Communication with Event": an on_broadcast handler that .wait()s."""
    assert fetch(srv, "/bcast") == (200, b"sent")
    deadline = time.monotonic() + 15
    while fetch(srv, "/bseen")[1] == b"[]" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fetch(srv, "/bseen") == (200, b"[7]")
    assert "WouldBlockLoop" not in srv.output


def test_txnid_called_as_in_the_readme(srv: ServerProcess) -> None:
    """README "Backend calls" lists ``was.txnid()``: a Saddle view's was answers it too."""
    status, body = fetch(srv, "/txn")
    assert status == 200
    data = json.loads(body)
    gtxid, ltxid = data["called"]
    assert gtxid.startswith("GTID-") and ltxid == 1000
    assert data["text"] == f"{gtxid}/1000"


def test_mounted_callback_fills_app_storage(srv: ServerProcess) -> None:
    """The seed's ``@app.mounted`` example: ``was.get(..., callback=)`` with no request,
    the callback keeps the answer in ``app.storage``, views read it."""
    deadline = time.monotonic() + 15
    while True:  # the member answers 0.2 s after the worker mounted the app
        status, body = fetch(srv, "/storage")
        assert status == 200
        if json.loads(body)["mounted"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert json.loads(body) == {"mounted": [200, "/mounted"]}


def test_concurrent_promises_and_async_views(srv: ServerProcess) -> None:
    """Several at once: none waits on another's calls, each gets its own results."""
    paths = ["/promise", "/async"] * 4
    with ThreadPoolExecutor(len(paths)) as pool:
        answers = list(pool.map(lambda p: fetch(srv, p), paths))
    for path, (status, body) in zip(paths, answers, strict=True):
        assert status == 200, (path, body)
        if path == "/async":
            assert json.loads(body)["both"] == ["/two", "/three"]
        else:
            assert body.endswith(b"<li>member 200 /item</li></ul>[2, 3]")
