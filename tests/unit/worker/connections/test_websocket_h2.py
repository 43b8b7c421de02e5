"""WebSocket over HTTP/2 (RFC 8441) through a fake transport: an extended CONNECT stream
becomes a WebSocketSession whose transport is the stream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from skitai.worker.connections import websocket_h2
from skitai.worker.connections.websocket import WebSocketSession
from skitai.worker.stream import Stream
from tests.unit.worker.connections.fakes import H2Peer, Site
from tests.unit.worker.connections.test_websocket import app


@pytest.fixture
def site() -> Iterator[Site]:
    websocket_h2.install()
    s = Site(None)
    s.mount_wsgi(app)
    yield s
    s.close()


def connect(peer: H2Peer, path: str) -> int:
    peer.receive()  # the server's SETTINGS (ENABLE_CONNECT_PROTOCOL)
    sid: int = peer.client.get_next_available_stream_id()
    peer.client.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                                   (b":scheme", b"http"), (b":path", path.encode()),
                                   (b":authority", b"test"), (b"sec-websocket-version", b"13")])
    peer.send()
    peer.receive()
    return sid


def test_extended_connect_opens_a_session_and_echoes(site: Site) -> None:
    peer = H2Peer(site)
    sid = connect(peer, "/chat")
    assert peer.responses[sid]["headers"][b":status"] == b"200"
    sessions = [c for c in site.server.connections if isinstance(c, WebSocketSession)]
    assert len(sessions) == 1
    ours = FrameProtocol(client=True, extensions=[])
    peer.client.send_data(sid, ours.send_data("hi", fin=True))
    peer.send()
    peer.receive()
    theirs = FrameProtocol(client=True, extensions=[])
    theirs.receive_bytes(bytes(peer.responses[sid]["data"]))
    frames = list(theirs.received_frames())
    assert [(f.opcode, f.payload) for f in frames] == [(Opcode.TEXT, "echo hi")]


async def plain(stream: Stream) -> None:
    stream.respond(200, [], b"not a websocket")


def test_a_mount_that_is_no_wsgi_app_answers_404() -> None:
    websocket_h2.install()
    other = Site(plain)
    try:
        peer = H2Peer(other)
        sid = connect(peer, "/chat")
        assert peer.responses[sid]["headers"][b":status"] == b"404"
        assert peer.responses[sid]["ended"]
    finally:
        other.close()
