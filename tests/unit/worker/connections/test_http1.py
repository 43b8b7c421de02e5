"""Http1Connection through a fake transport: what only HTTP/1.1 does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skitai.worker.connections.base import BaseConnection
from skitai.worker.connections.http2 import H2Connection
from skitai.worker.protocols.http1 import H2_PREFACE
from skitai.worker.stream import Stream
from tests.unit.worker.connections.fakes import Site


async def hello(stream: Stream) -> None:
    body = stream.request.target
    stream.respond(200, [(b"content-length", str(len(body)).encode())], body)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site(hello, request_timeout=5.0, keep_alive=10.0)
    yield s
    s.close()


def test_pipelined_requests_are_answered_in_order_in_one_write(site: Site) -> None:
    conn, t = site.http1()
    site.call(conn.data_received, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                                  b"GET /bb HTTP/1.1\r\nHost: x\r\n\r\n")
    out = t.take()
    assert out.index(b"\r\n\r\n/a") < out.index(b"\r\n\r\n/bb")
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert not t.closed


def test_malformed_request_gets_400_and_a_lingering_close(site: Site) -> None:
    conn, t = site.http1()
    site.call(conn.data_received, b"GET /a HTTP/1.1\r\nHost x\r\n\r\n")
    out = t.take()
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close\r\n" in out and out.endswith(b"<h1>400 Bad Request</h1>")
    assert t.eof_written and conn not in site.server.connections


def test_idle_keep_alive_connection_closes_after_keep_alive(site: Site) -> None:
    conn, t = site.http1()
    site.call(conn.data_received, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    site.call(conn.check_timeouts, site.loop.time() + 5.0)
    assert not t.closed
    site.call(conn.check_timeouts, site.loop.time() + 11.0)
    assert t.closed


def test_partial_head_gets_408(site: Site) -> None:
    conn, t = site.http1()
    site.call(conn.data_received, b"GET /a HTTP/1.1\r\nHo")
    site.call(conn.check_timeouts, site.loop.time() + 6.0)
    assert t.take().startswith(b"HTTP/1.1 408 ")


def test_h2_preface_hands_the_transport_to_http2(site: Site) -> None:
    conn, t = site.http1()
    site.call(conn.data_received, H2_PREFACE[:10])  # split: kept until it can tell
    assert t.protocol is conn
    site.call(conn.data_received, H2_PREFACE[10:] + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    assert isinstance(t.protocol, H2Connection)
    assert conn not in site.server.connections and t.protocol in site.server.connections


def test_too_many_connections_get_503() -> None:
    site = Site(hello, max_connections=1)
    try:
        first, t1 = site.http1()
        second, t2 = site.http1()
        assert t2.take().startswith(b"HTTP/1.1 503 ")
        assert not t1.closed and t2.eof_written
        assert isinstance(first, BaseConnection) and second not in site.server.connections
    finally:
        site.close()


def test_graceful_shutdown_closes_after_the_response(site: Site) -> None:
    conn, t = site.http1()
    site.call(conn.shutdown)
    site.call(conn.data_received, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    out = t.take()
    assert b"connection: close" in out and t.eof_written  # closing (lingering)
    assert conn not in site.server.connections
