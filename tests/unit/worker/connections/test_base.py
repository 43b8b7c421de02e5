"""BaseConnection: the write buffer, the end-of-turn flush, drains and closes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from skitai.worker.connections.base import BaseConnection
from skitai.worker.stream import ClientDisconnected, Stream
from tests.unit.worker.connections.fakes import FakeTransport, Site


async def nothing(stream: Stream) -> None:
    return None


class Counting(FakeTransport):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        super().write(data)


@pytest.fixture
def conn() -> Iterator[tuple[Site, BaseConnection, Counting]]:
    site = Site(nothing)
    c = BaseConnection(site.server)
    t = Counting(site.loop)
    t.protocol = c
    site.call(c.take_transport, t)
    yield site, c, t
    site.close()


def test_writes_in_one_turn_leave_as_one_write(conn: tuple[Site, BaseConnection, Counting]) -> None:
    site, c, t = conn

    def burst() -> None:
        c.write_soon(b"a")
        c.write_soon(b"b")
        c.write_soon(b"c")
        assert t.writes == 0  # nothing yet: the loop still reads

    site.call(burst)
    assert t.writes == 1 and t.take() == b"abc"


def test_linger_close_sends_fin_first(conn: tuple[Site, BaseConnection, Counting]) -> None:
    site, c, t = conn
    c.write(b"bye")
    site.call(c.close, True)
    assert t.take() == b"bye" and t.eof_written and not t.closed
    assert c not in site.server.connections
    site.run(2.1)  # LINGER: then the close
    assert t.closed


def test_wait_writable_waits_for_resume_and_fails_when_the_peer_goes(
        conn: tuple[Site, BaseConnection, Counting]) -> None:
    site, c, t = conn
    site.call(c.pause_writing)
    waiter = site.loop.create_task(c.wait_writable())
    site.turn()
    assert not waiter.done()
    site.call(c.resume_writing)
    assert waiter.done() and waiter.exception() is None
    site.call(c.pause_writing)
    waiter = site.loop.create_task(c.wait_writable())
    site.turn()
    site.call(t.abort)
    assert isinstance(waiter.exception(), ClientDisconnected)
    assert c.closed and c not in site.server.connections


def test_too_many_connections_are_refused(conn: tuple[Site, BaseConnection, Counting]) -> None:
    site, c, t = conn
    other = BaseConnection(site.server)
    limit = site.config.max_connections
    for _ in range(limit - 1):
        site.server.connections.add(BaseConnection(site.server))
    assert not other.take_transport(FakeTransport())
