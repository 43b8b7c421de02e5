"""enable_cachefs: proxied responses cached by their headers, with a real member that
counts its fetches."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.fixtures.members import start_skitai_member
from tests.integration.test_gateway_proxy import get, start_gateway


@pytest.fixture
def member(tmp_path: Path) -> Iterator[ServerProcess]:
    m = start_skitai_member(tmp_path, "member", run_args="threads=64")
    yield m
    m.stop()


@pytest.fixture
def gateway(tmp_path: Path, member: ServerProcess) -> Iterator[ServerProcess]:
    cache = tmp_path / "cache"
    # A generous member timeout: 50 waiting requests on a loaded machine must not turn the
    # one fill into a 504 (then each would fetch on its own).
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"], timeout=60,
                       extra=f"skitai.enable_cachefs(memmax='8M', diskmax='64M', path={str(cache)!r})")
    yield gw
    gw.stop()


def fetch(gw: ServerProcess, query: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict[str, object]]:
    status, h, body = get(gw, f"/members/cached?{query}", headers=headers)
    return status, h, json.loads(body) if body else {}


def test_hit_miss_and_no_store(gateway: ServerProcess, tmp_path: Path) -> None:
    _, h1, b1 = fetch(gateway, "key=a&cc=max-age%3D60")
    _, h2, b2 = fetch(gateway, "key=a&cc=max-age%3D60")
    assert b1["fetch"] == b2["fetch"] == 1 and "age" in h2
    assert list((tmp_path / "cache").rglob("*")), "stored on disk for the other workers"
    for expected in (1, 2, 3):
        assert fetch(gateway, "key=b&cc=no-store")[2]["fetch"] == expected
    # the client may insist on a fresh copy
    assert fetch(gateway, "key=a&cc=max-age%3D60", {"Cache-Control": "no-cache"})[2]["fetch"] == 2


def test_vary(gateway: ServerProcess) -> None:
    q = "key=v&cc=max-age%3D60&vary=Accept-Language"
    assert fetch(gateway, q, {"Accept-Language": "ko"})[2] == {"fetch": 1, "lang": "ko"}
    assert fetch(gateway, q, {"Accept-Language": "en"})[2] == {"fetch": 2, "lang": "en"}
    assert fetch(gateway, q, {"Accept-Language": "ko"})[2] == {"fetch": 1, "lang": "ko"}
    assert fetch(gateway, q, {"Accept-Language": "en"})[2] == {"fetch": 2, "lang": "en"}


def test_revalidation_with_etag(gateway: ServerProcess) -> None:
    q = "key=r&cc=no-cache&etag=%22v1%22"
    assert fetch(gateway, q)[2]["fetch"] == 1
    status, headers, body = fetch(gateway, q)  # revalidated: the member answers 304
    assert status == 200 and body["fetch"] == 1 and headers["etag"] == '"v1"'
    # a client's own If-None-Match that matches gets a 304
    status, _, _ = fetch(gateway, q, {"If-None-Match": '"v1"'})
    assert status == 304


def test_one_upstream_fetch_for_50_concurrent_misses(gateway: ServerProcess) -> None:
    q = "key=herd&cc=max-age%3D60&sleep=1"
    results: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        conn = http.client.HTTPConnection(gateway.host, gateway.port, timeout=60)
        conn.request("GET", f"/members/cached?{q}")
        resp = conn.getresponse()
        raw = resp.read()
        with lock:
            results.append(json.loads(raw)["fetch"] if resp.status == 200 else (resp.status, raw))
        conn.close()
    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert results == [1] * 50  # (a refused or failed one shows as (status, body))


def test_head_is_answered_from_the_get_entry(gateway: ServerProcess) -> None:
    q = "key=h&cc=max-age%3D60"
    _, got, body = fetch(gateway, q)
    assert body["fetch"] == 1
    status, head, raw = get(gateway, f"/members/cached?{q}", "HEAD")
    assert (status, raw) == (200, b"")
    assert head["content-length"] == got["content-length"] and "age" in head
    assert head["content-type"] == "application/json"
    assert fetch(gateway, q)[2]["fetch"] == 1  # the HEAD did not reach the member
    # a HEAD that misses goes to the member and fills nothing
    q = "key=h2&cc=max-age%3D60"
    status, _, raw = get(gateway, f"/members/cached?{q}", "HEAD")
    assert (status, raw) == (200, b"")
    assert fetch(gateway, q)[2]["fetch"] == 2


def test_one_upstream_fetch_across_two_workers(tmp_path: Path, member: ServerProcess) -> None:
    """Two workers sharing the disk: concurrent misses of one key in both fetch it once
    (the fill lock beside the entry), the other worker reads the stored entry."""
    cache = tmp_path / "cache2"
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"], timeout=60,
                       run_args="threads=0, workers=2",
                       extra=f"skitai.enable_cachefs(memmax='8M', diskmax='64M', path={str(cache)!r})")
    try:
        for round_ in range(4):  # until the kernel spread one round's connections over both
            key = f"xw{round_}"
            results: list[object] = []
            lock = threading.Lock()

            def one(key: str = key, results: list[object] = results,
                    lock: threading.Lock = lock) -> None:
                conn = http.client.HTTPConnection(gw.host, gw.port, timeout=60)
                conn.request("GET", f"/members/cached?key={key}&cc=max-age%3D60&sleep=1")
                resp = conn.getresponse()
                raw = resp.read()
                with lock:
                    results.append(json.loads(raw)["fetch"] if resp.status == 200
                                   else (resp.status, raw))
                conn.close()
            threads = [threading.Thread(target=one) for _ in range(30)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(90)
            assert results == [1] * 30, results
            log = (tmp_path / "gateway" / "logs" / "request.log").read_text().splitlines()
            workers = {m.group(1) for ln in log if f"key={key}&" in ln
                       for m in [re.search(r" (W\d+) \d+ \d+ \d+", ln)] if m}
            if workers == {"W0", "W1"}:
                break
        assert workers == {"W0", "W1"}, workers
        assert not list(cache.rglob("*.lock"))  # the fill locks are gone
    finally:
        gw.stop()
