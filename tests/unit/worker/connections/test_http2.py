"""H2Connection through a fake transport (entered by prior knowledge): what only HTTP/2 does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import h2.events
import pytest
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame

from skitai.worker.connections.http2 import H2Connection
from skitai.worker.stream import Stream
from tests.unit.worker.connections.fakes import H2Peer, Site

release = asyncio.Event()


async def handler(stream: Stream) -> None:
    if stream.request.target == b"/slow":
        await release.wait()
    stream.respond(200, [], b"ok " + stream.request.target)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site(handler, request_timeout=5.0, keep_alive=10.0)
    yield s
    s.close()


def test_concurrent_streams_answer_independently(site: Site) -> None:
    global release
    release = asyncio.Event()
    peer = H2Peer(site)
    slow = peer.request("/slow")
    fast = peer.request("/fast")
    peer.receive()
    assert peer.responses[fast]["ended"] and peer.responses[fast]["data"] == b"ok /fast"
    assert not peer.responses.get(slow, {}).get("ended")
    assert isinstance(peer.conn, H2Connection)
    site.call(release.set)
    peer.receive()
    assert peer.responses[slow]["data"] == b"ok /slow"


def frames(data: bytes) -> list[Frame]:
    out = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9:9 + length]))
        out.append(frame)
        data = data[9 + length:]
    return out


def test_graceful_shutdown_sends_goaway_and_finishes_the_streams_in_flight(site: Site) -> None:
    global release
    release = asyncio.Event()
    peer = H2Peer(site)
    slow = peer.request("/slow")
    peer.receive()
    conn = peer.conn
    assert isinstance(conn, H2Connection)
    site.call(conn.shutdown)
    site.turn()
    goaway = [f for f in frames(peer.transport.take()) if isinstance(f, GoAwayFrame)]
    assert goaway and goaway[0].last_stream_id == slow and goaway[0].error_code == 0
    assert not peer.transport.closed and not peer.transport.eof_written
    site.call(release.set)  # (h2's client stops reading at GOAWAY; real ones go on)
    answer = frames(peer.transport.take())
    assert any(isinstance(f, HeadersFrame) and f.stream_id == slow for f in answer)
    assert any(f.stream_id == slow and "END_STREAM" in f.flags for f in answer)
    assert peer.transport.eof_written and conn not in site.server.connections


def test_idle_connection_closes_after_keep_alive(site: Site) -> None:
    peer = H2Peer(site)
    peer.request("/fast")
    peer.receive()
    conn = peer.conn
    assert isinstance(conn, H2Connection)
    site.call(conn.check_timeouts, site.loop.time() + 5.0)
    assert conn in site.server.connections
    site.call(conn.check_timeouts, site.loop.time() + 11.0)
    assert conn not in site.server.connections
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in peer.receive())


def test_client_that_stops_reading_is_dropped(site: Site) -> None:
    global release
    release = asyncio.Event()
    peer = H2Peer(site)
    peer.request("/slow")
    peer.receive()
    conn = peer.conn
    assert isinstance(conn, H2Connection)
    site.call(conn.pause_writing)
    site.call(conn.check_timeouts, site.loop.time() + 6.0)
    assert peer.transport.aborted
