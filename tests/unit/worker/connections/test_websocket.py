"""WebSocketSession through a fake transport: the upgrade, messages both ways, the close,
the keep-alive ping and the graceful stop (a wsproto client frames the bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Request,
    TextMessage,
)

import skitai
from skitai.worker.connections.websocket import WebSocketSession
from tests.unit.worker.connections.fakes import Site


def app(environ: dict[str, Any], start_response: Any) -> Any:
    if environ["websocket.event"] == skitai.WS_EVT_INIT:
        environ["websocket.config"] = (skitai.WS_SIMPLE, 2, None)
        return b""
    message = environ["websocket.message"]
    return f"echo {message}" if message else None


class Peer:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.conn, self.transport = site.http1()
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.received: list[Any] = []
        self.send(Request(host="test", target="/chat"))
        assert any(isinstance(e, AcceptConnection) for e in self.read())

    def send(self, event: Any) -> None:
        protocol = self.transport.protocol
        assert protocol is not None
        self.site.call(protocol.data_received, self.ws.send(event))  # type: ignore[attr-defined]

    def read(self) -> list[Any]:
        self.site.turn()
        self.ws.receive_data(self.transport.take())
        events = list(self.ws.events())
        self.received += events
        return events

    @property
    def session(self) -> WebSocketSession:
        assert isinstance(self.transport.protocol, WebSocketSession)
        return self.transport.protocol


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site(None)
    s.mount_wsgi(app)
    yield s
    s.close()


def test_upgrade_then_messages_both_ways(site: Site) -> None:
    peer = Peer(site)
    assert isinstance(peer.transport.protocol, WebSocketSession)
    assert peer.session in site.server.connections and peer.conn not in site.server.connections
    peer.send(TextMessage("hi"))
    assert [e.data for e in peer.read() if isinstance(e, Message)] == ["echo hi"]


def test_close_handshake_ends_the_session(site: Site) -> None:
    peer = Peer(site)
    peer.send(CloseConnection(code=1000))
    closes = [e for e in peer.read() if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == 1000
    site.turn()
    assert peer.transport.closed and peer.session not in site.server.connections


def test_idle_session_is_pinged_then_closed_without_pong(site: Site) -> None:
    peer = Peer(site)
    session = peer.session
    now = site.loop.time()
    site.call(session.check_timeouts, now + 3)  # timeout 2 s: a ping
    raw = peer.transport.take()
    assert raw[:1] == b"\x89"  # FIN + ping opcode
    site.call(session.check_timeouts, now + 30)  # no pong: 1011
    peer.ws.receive_data(peer.transport.take())
    closes = [e for e in peer.ws.events() if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == 1011


def test_graceful_stop_closes_1001(site: Site) -> None:
    peer = Peer(site)
    site.call(peer.session.shutdown)
    closes = [e for e in peer.read() if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == 1001


def test_refused_while_stopping(site: Site) -> None:
    site.server.stopping = True
    conn, transport = site.http1()
    ws = WSConnection(ConnectionType.CLIENT)
    site.call(conn.data_received, ws.send(Request(host="test", target="/chat")))
    assert transport.take().startswith(b"HTTP/1.1 503 ")
    assert not isinstance(transport.protocol, WebSocketSession)
