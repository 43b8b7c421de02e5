"""Micro-benchmark: Http1Adapter.feed() + send() against raw httptools parsing.

    python bench/http1_parse.py [-n 100000] [-r 5]

One ~200-byte keep-alive GET per iteration, on one connection (one adapter), as wrk
sends it.  Reported: microseconds per request, best of the repeats.

- ``httptools raw``: an uvicorn-like protocol object (url, lower-cased header list,
  headers-complete and message-complete callbacks): the floor for any httptools server.
- ``adapter feed``: Http1Adapter.feed() giving Request + EndBody events.
- ``adapter send``: send() of Response (4 headers), Data and EndData, events prebuilt.
- ``feed+events+send``: a server's whole share: feed, build the three response events
  (frozen dataclasses: not cheap), send them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import httptools

from skitai.worker import events
from skitai.worker.protocols.http1 import Http1Adapter

REQUEST = (b"GET /hello?name=world HTTP/1.1\r\n"
           b"Host: 127.0.0.1:5000\r\n"
           b"User-Agent: wrk/4.2.0 (bench)\r\n"
           b"Accept: text/html,application/json;q=0.9,*/*;q=0.8\r\n"
           b"Accept-Encoding: gzip, deflate\r\n"
           b"Connection: keep-alive\r\n"
           b"\r\n")
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13"),
           (b"date", b"Tue, 24 Nov 2026 06:00:00 GMT"), (b"server", b"skitai/0.30")]
BODY = b"Hello, world!"


class RawProtocol:
    """What uvicorn's httptools_impl does per request, minus the ASGI scope."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.requests = 0
        self.parser = httptools.HttpRequestParser(self)

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.parser.get_http_version()
        self.parser.should_keep_alive()
        self.parser.get_method()

    def on_message_complete(self) -> None:
        self.requests += 1


def bench_raw(n: int) -> float:
    proto = RawProtocol()
    feed = proto.parser.feed_data
    data = REQUEST
    t0 = time.perf_counter()
    for _ in range(n):
        feed(data)
    elapsed = time.perf_counter() - t0
    assert proto.requests == n
    return elapsed


def bench_feed(n: int) -> float:
    adapter = Http1Adapter()
    feed = adapter.feed
    pending = adapter._pending  # the responses are not sent here: keep the queue short
    data = REQUEST
    t0 = time.perf_counter()
    for _ in range(n):
        feed(data)
        pending.clear()
    return time.perf_counter() - t0


def bench_send(n: int) -> float:
    """send() alone: the response events are built before the clock starts."""
    adapter = Http1Adapter()
    for _ in range(n):
        adapter.feed(REQUEST)
    script = [(events.Response(sid, 200, HEADERS), events.Data(sid, BODY), events.EndData(sid))
              for sid in range(1, n + 1)]
    send = adapter.send
    t0 = time.perf_counter()
    for head, data, end in script:
        send(head)
        send(data)
        send(end)
    elapsed = time.perf_counter() - t0
    assert adapter.keep_alive
    return elapsed


def bench_feed_send(n: int) -> float:
    """What a server does per request: feed, then build and send three response events."""
    adapter = Http1Adapter()
    feed, send = adapter.feed, adapter.send
    data = REQUEST
    Response, Data, EndData = events.Response, events.Data, events.EndData
    t0 = time.perf_counter()
    for _ in range(n):
        request = feed(data)[0]
        sid = request.stream_id
        send(Response(sid, 200, HEADERS))
        send(Data(sid, BODY))
        send(EndData(sid))
    elapsed = time.perf_counter() - t0
    assert adapter.keep_alive
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000, help="requests per repeat")
    ap.add_argument("-r", type=int, default=5, help="repeats (best is reported)")
    args = ap.parse_args()
    print(f"request: {len(REQUEST)} bytes, {args.n} requests x {args.r} interleaved repeats")
    benches: list[tuple[str, Callable[[int], float]]] = [
        ("httptools raw", bench_raw), ("adapter feed", bench_feed),
        ("adapter send", bench_send), ("feed+events+send", bench_feed_send)]
    best = {name: float("inf") for name, _ in benches}
    for _ in range(args.r):  # interleaved, so a noisy moment hurts every row alike
        for name, fn in benches:
            best[name] = min(best[name], fn(args.n) / args.n * 1e6)
    raw = best["httptools raw"]
    for name, us in best.items():
        print(f"{name:20s} {us:6.2f} us/request  {us / raw:4.2f}x raw  {1e6 / us:10,.0f} req/s")


if __name__ == "__main__":
    main()
