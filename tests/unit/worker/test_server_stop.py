"""The worker's graceful stop and the connections asyncio accepted just before it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from skitai.worker.connections.http1 import Http1Connection
from skitai.worker.stream import Stream
from tests.unit.worker.connections.fakes import Site


async def hello(stream: Stream) -> None:
    stream.respond(200, [(b"content-type", b"text/plain"), (b"content-length", b"2")], b"ok")


def _loops() -> list[Callable[[], asyncio.AbstractEventLoop]]:
    loops: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
    try:
        import uvloop
    except ImportError:  # optional: the worker runs on asyncio's loop then
        return loops
    return [*loops, uvloop.new_event_loop]


@pytest.mark.parametrize("new_loop", _loops(), ids=lambda f: f.__module__.split(".")[0])
def test_graceful_stop_just_after_an_accept_answers_that_connection(
        new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    # asyncio accepts a connection in one loop turn and makes its transport and protocol
    # (which joins the server's connections) in the next ones.  A stop (the master's
    # TERM of a recycled worker) in between closed the asyncio Server, which then
    # dropped the accepted connection (Server._attach asserts it is open), the request
    # unread: a reset.  Here the stop runs in exactly that turn.
    site = Site(hello, loop=new_loop())
    loop, server = site.loop, site.server
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    client = None
    try:
        loop.run_until_complete(server.start([listener], lambda: Http1Connection(server)))
        client = socket.create_connection(listener.getsockname(), timeout=10)
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        # turn 1: the accept (the listener is readable already) and this callback,
        # which puts the stop in turn 2, before the protocol is made
        loop.call_soon(loop.call_soon, server.stop)
        loop.run_until_complete(server.serve())
        answer = b""
        while b"\r\n\r\nok" not in answer:
            data = client.recv(65536)  # (a reset or the timeout: the bug)
            if not data:
                break
            answer += data
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\nok"), answer
        assert b"connection: close" in answer.lower()  # told of the stop, as the others
        assert client.recv(100) == b""  # and closed after its response
        assert not server.connections
    finally:
        if client is not None:
            client.close()
        listener.close()
        site.close()
