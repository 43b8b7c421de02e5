"""was HTTP and RPC calls to real members on port 0."""

from __future__ import annotations

import json
import threading
import time
import xmlrpc.server

import pytest

import skitai
from skitai import was
from skitai.was import CallError, result
from tests.unit.was.members import addresses, members


def test_calls_started_together_run_concurrently():
    with members(1, delay=0.5) as srvs:
        skitai.alias("@m", skitai.PROTO_HTTP, addresses(srvs))
        was.get("@m/warm").wait(5)
        started = time.monotonic()
        calls = [was.get(f"@m/x{i}") for i in range(3)]
        paths = [c.getwait(5).data["path"] for c in calls]
        assert paths == ["/x0", "/x1", "/x2"]
        assert time.monotonic() - started < 1.3  # 0.5 s each, together: not 1.5 s


def test_seed_argument_conventions():
    with members(1) as srvs:
        base = f"http://{addresses(srvs)[0]}"
        got = was.get(base + "/q?a=1", {"b": "x y"}).getwait(5)
        assert got.status == 3 and got.status_code == 200 and got.reason == "OK"
        assert got.data["path"] == "/q?a=1&b=x+y" and got.headers["content-type"] == "application/json"
        assert got.json() == got.data and json.loads(got.content) == got.data
        form = was.post(base + "/f", {"user": "Hans Roh"}, auth=("u", "p")).getwait(5).data
        assert form["body"] == "user=Hans+Roh"
        assert form["type"] == "application/x-www-form-urlencoded"
        assert form["auth"] == "Basic dTpw"
        js = was.postjson(base + "/j", {"a": [1, 2]}, headers={"X-A": "b"}).getwait(5).data
        assert json.loads(js["body"]) == {"a": [1, 2]} and js["accept"] == "application/json"
        assert js["type"] == "application/json; charset=utf-8"
        xml = was.putxml(base + "/x", "<a/>").getwait(5).data
        assert xml["body"] == "<a/>" and xml["method"] == "PUT" and xml["type"].startswith("text/xml")
        for method in ("patch", "delete", "options"):
            assert getattr(was, method)(base + "/m").getwait(5).data["method"] == method.upper()


def test_alias_picks_one_member_lb_fails_over_map_gathers():
    with members(2) as srvs:
        ports = {s.server_port for s in srvs}
        skitai.alias("@members", skitai.PROTO_HTTP, addresses(srvs))
        seen = {was.get("@members/").getwait(5).data["port"] for _ in range(20)}
        assert seen <= ports
        results = was.get.map("@members/").getswait(5)
        assert results.status_code == [200, 200]
        assert {r.data["port"] for r in results} == ports
        skitai.alias("@half", skitai.PROTO_HTTP, ["127.0.0.1:1 10", addresses(srvs)[0]])
        for _ in range(4):
            res = was.get.lb("@half/").getwait(5)
            assert res.status == 3 and res.data["port"] == srvs[0].server_port


def test_map_reuses_the_alias_keep_alive_connections():
    """``.map`` sends to each member of the alias's own pool: a second ``.map`` (and a
    plain call) rides the connections the first one opened."""
    with members(2) as srvs:
        skitai.alias("@kept", skitai.PROTO_HTTP, addresses(srvs))
        first = was.get.map("@kept/a").getswait(5)
        assert first.status_code == [200, 200]
        assert [s.connections for s in srvs] == [1, 1]
        second = was.get.map("@kept/b").getswait(5)
        assert sorted(r.data["port"] for r in second) == sorted(s.server_port for s in srvs)
        for _ in range(4):
            assert was.get("@kept/c").getwait(5).status_code == 200
        assert [s.connections for s in srvs] == [1, 1]  # no new connection anywhere


def test_timeout_gives_status_1_and_reraise_raises():
    with members(1, delay=1.0) as srvs:
        skitai.alias("@slow", skitai.PROTO_HTTP, addresses(srvs))
        res = was.get("@slow/", timeout=0.2).getwait()
        assert res.status == result.TIMEOUT
        with pytest.raises(TimeoutError):
            was.get("@slow/").getwait(0.2, reraise=True)


def test_member_down_gives_status_2():
    skitai.alias("@down", skitai.PROTO_HTTP, "127.0.0.1:1")
    res = was.get("@down/").getwait(5)
    assert res.status == result.EXCEPTION and "cannot connect" in str(res.error)
    with pytest.raises(CallError, match="cannot connect"):
        was.get("@down/").wait(5)


def test_cache_control_and_cache_ttl():
    with members(1) as srvs:
        skitai.alias("@c", skitai.PROTO_HTTP, addresses(srvs))
        first = was.get("@c/cached").getwait(5)
        second = was.get("@c/cached").getwait(5)  # max-age=60: from the cache
        assert second.cached and second.data == first.data
        assert not was.get("@c/cached", use_cache=False).getwait(5).cached
        plain = was.get("@c/plain").getwait(5)
        assert not was.get("@c/plain").getwait(5).cached
        plain.cache(60)
        assert was.get("@c/plain").getwait(5).data["hits"] == plain.data["hits"]


def test_map_results_cache_together():
    with members(2) as srvs:
        skitai.alias("@two", skitai.PROTO_HTTP, addresses(srvs))
        results = was.get.map("@two/p").getswait(5)
        results.cache(60)
        hits = [s.hits for s in srvs]
        again = was.get.map("@two/p").getswait(5)
        assert again.cached and again.data == results.data
        assert [s.hits for s in srvs] == hits  # no member was asked again


def test_xmlrpc_and_jsonrpc():
    server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    server.register_function(lambda a, b: a + b, "add")
    server.register_function(lambda: 1 / 0, "fail")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        skitai.alias("@rpc", skitai.PROTO_HTTP, f"127.0.0.1:{server.server_address[1]}")
        assert was.rpc("@rpc/RPC2").add(2, 3).getwait(5).data == 5
        assert was.rpc.lb("@rpc/RPC2").add("a", "b").getwait(5).data == "ab"
        assert [r.data for r in was.rpc.map("@rpc/RPC2").add(1, 1).getswait(5)] == [2]
        fault = was.rpc("@rpc/RPC2").fail().getwait(5)
        assert fault.status == result.EXCEPTION and "ZeroDivisionError" in str(fault.error)
    finally:
        server.shutdown()
        server.server_close()


def test_jsonrpc():
    with members(1) as srvs:
        skitai.alias("@j", skitai.PROTO_HTTP, addresses(srvs))
        assert was.jsonrpc("@j/jsonrpc").add(2, 3, 4).getwait(5).data == 9
        missing = was.jsonrpc("@j/jsonrpc").nope().getwait(5)
        assert missing.status == result.EXCEPTION and "Method not found" in str(missing.error)
        with pytest.raises(CallError, match="Method not found"):
            was.jsonrpc("@j/jsonrpc").nope().getwait(5, reraise=True)


def test_ws_sends_a_message_and_returns_the_reply():
    import asyncio

    websockets = pytest.importorskip("websockets", reason="websockets is in the test extras")
    from websockets.asyncio.server import serve

    ready = threading.Event()
    holder: dict[str, object] = {}

    async def echo(conn):
        async for message in conn:
            await conn.send(("echo: " + message) if isinstance(message, str) else message[::-1])

    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            holder["port"] = server.sockets[0].getsockname()[1]
            holder["stop"] = asyncio.get_running_loop().create_future()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"]

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        port = holder["port"]
        assert was.ws(f"ws://127.0.0.1:{port}/", "hi").getwait(5).data == "echo: hi"
        skitai.alias("@wsm", skitai.PROTO_WS, f"127.0.0.1:{port}")
        assert was.ws("@wsm/chat", b"abc").getwait(5).data == b"cba"
        assert [r.data for r in was.ws.map("@wsm/", "x").getswait(5)] == ["echo: x"]
        assert websockets is not None
    finally:
        loop = holder["loop"]
        loop.call_soon_threadsafe(holder["stop"].set_result, None)  # type: ignore[union-attr]
        thread.join(10)


def test_a_promise_holds_a_response_that_comes_before_the_app_returns():
    # The first call answers while the app is still making the second: its handler must
    # not run yet (fulfilled() would be true with one response of two), but at the
    # body's first read, then in order.
    calls = []

    def handler(promise, response):
        calls.append((response.id, promise.fulfilled()))
        promise[response.id] = response.data["path"]
        if promise.fulfilled():
            promise.settle(f"{promise['a']} {promise['b']}")

    with members(1) as srvs:
        skitai.alias("@early", skitai.PROTO_HTTP, addresses(srvs))
        promise = was.promise(handler)
        promise.get("a", "@early/one")
        deadline = time.monotonic() + 5
        while not promise._early and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first response is in (held)
        assert len(promise._early) == 1 and calls == [] and promise.pending()
        promise.get("b", "@early/two")
        assert b"".join(promise) == b"/one /two"
    assert calls == [("a", False), ("b", True)]


def test_promise_collects_http_calls_and_settles():
    def handler(promise, response):
        promise[response.id] = response.data["path"]
        if promise.fulfilled():
            promise.send(promise["title"] + ": ")
            promise.settle(f"{promise['a']} {promise['b']}")

    with members(2) as srvs:
        skitai.alias("@p", skitai.PROTO_HTTP, addresses(srvs))
        promise = was.promise(handler, "<p>", "</p>", title="paths")
        promise.get("a", "@p/one")
        promise.getjson("b", "@p/two")
        assert promise.pending() or promise.fulfilled()
        assert b"".join(promise) == b"<p>paths: /one /two</p>"
        assert promise.settled() and not promise.rejected()
        # The seed names a request 'req-0' (it only recommends identifiers): any name but "".
        with pytest.raises(ValueError, match="non-empty"):
            promise.get("", "@p/")
    with members(1) as srvs:
        skitai.alias("@q", skitai.PROTO_HTTP, addresses(srvs))
        named = was.promise(lambda p, r: p.settle(r.id + " " + r.data["path"]))
        named.get("req-0", "@q/x")
        assert b"".join(named) == b"req-0 /x"
