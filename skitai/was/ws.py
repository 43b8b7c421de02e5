"""``was.ws(url, message)`` / ``was.wss(...)``: open a WebSocket, send one message,
receive the reply, close (wsproto over an asyncio connection)::

    reply = was.ws("@chat/echo", "hello").getwait(5).data     # str or bytes, as sent back

``url`` is ``ws(s)://host[:port]/path``, ``http(s)://...`` or ``@alias/path``; ``.lb`` and
``.map`` as for HTTP.  The handshake carries the request's transaction ids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl as ssl_mod
from collections.abc import Callable
from typing import Any

from skitai.config.aliases import Member
from skitai.was import context, handle, targets
from skitai.was.result import DONE, Result

MAX_MESSAGE = 16 << 20


async def _exchange(member: Member, path: str, message: str | bytes,
                    headers: list[tuple[bytes, bytes]], label: str, ltxid: int) -> Result:
    from wsproto import ConnectionType, WSConnection
    from wsproto import events as ev

    if member.ssl:
        reader, writer = await asyncio.open_connection(
            member.host, member.port, ssl=ssl_mod.create_default_context(),
            server_hostname=member.host)
    elif member.unix:
        reader, writer = await asyncio.open_unix_connection(member.unix)
    else:
        reader, writer = await asyncio.open_connection(member.host, member.port)
    conn = WSConnection(ConnectionType.CLIENT)
    target = (member.prefix + path) if member.prefix else path
    try:
        writer.write(conn.send(ev.Request(host=member.netloc, target=target,
                                          extra_headers=headers)))
        parts: list[str | bytes] = []
        size = 0
        sent = False
        while True:
            data = await reader.read(65536)
            conn.receive_data(data or None)
            for event in conn.events():
                if isinstance(event, ev.AcceptConnection) and not sent:
                    sent = True
                    writer.write(conn.send(ev.TextMessage(data=message)
                                           if isinstance(message, str) else
                                           ev.BytesMessage(data=message)))
                elif isinstance(event, ev.RejectConnection):
                    raise ConnectionRefusedError(
                        f"{label}: the WebSocket handshake was refused ({event.status_code})")
                elif isinstance(event, ev.Message):
                    parts.append(event.data)
                    size += len(event.data)
                    if size > MAX_MESSAGE:
                        raise ValueError(f"{label}: reply over {MAX_MESSAGE} bytes")
                    if event.message_finished:
                        reply: str | bytes = ("".join(p for p in parts if isinstance(p, str))
                                              if isinstance(parts[0], str) else
                                              b"".join(p for p in parts if isinstance(p, bytes)))
                        writer.write(conn.send(ev.CloseConnection(code=1000)))
                        return Result(status=DONE, status_code=101, reason="Switching Protocols",
                                      data=reply, target=label, ltxid=ltxid)
                elif isinstance(event, ev.Ping):
                    writer.write(conn.send(event.response()))
                elif isinstance(event, ev.CloseConnection):
                    raise ConnectionResetError(f"{label}: closed ({event.code}) before replying")
            if not data:
                raise ConnectionResetError(f"{label}: the connection closed before a reply")
            await writer.drain()
    finally:
        writer.close()


class Service:
    """``was.ws`` / ``was.wss``: call it; ``.lb(...)`` / ``.map(...)`` in those modes."""

    def __init__(self, secure: bool, mode: str = "one") -> None:
        self.secure = secure
        self.mode = mode
        if mode == "one":
            self.lb = Service(secure, "lb")
            self.map = Service(secure, "map")

    def __call__(self, url: str, message: str | bytes, headers: dict[str, str] | None = None,
                 *, timeout: float = handle.DEFAULT_TIMEOUT, meta: dict[str, Any] | None = None,
                 callback: Callable[[Result], Any] | None = None) -> handle.Call | handle.MapCall:
        return self._start(self.mode, url, message, headers, timeout, meta, callback)

    def _start(self, mode: str, url: str, message: str | bytes, headers: dict[str, str] | None,
               timeout: float, meta: dict[str, Any] | None,
               callback: Callable[[Result], Any] | None) -> handle.Call | handle.MapCall:
        if not isinstance(message, str | bytes):
            raise TypeError("a WebSocket message is str (text) or bytes (binary)")
        if url.startswith(("ws://", "wss://")):
            url = "http" + url[2:]
        target = targets.resolve_http(url)
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        txn = context.txn()
        label = f"WS {url}"

        def make(member: Member | None) -> handle.Call:
            ltxid, ids = txn.next_call()  # numbered in the order the app made the calls

            def one(member: Member) -> Callable[[], Any]:
                if self.secure and not member.ssl:
                    member = dataclasses.replace(member, ssl=True)
                return lambda: _exchange(member, target.path, message, extra + ids, label, ltxid)

            run = one(member) if member is not None else \
                targets.balancer.runner(target.members, one)
            return handle.Call(run, target=label, timeout=timeout, meta=dict(meta or {}),
                               ids=(txn.gtxid, ltxid),
                               callbacks=None if callback is None else [callback])

        if mode == "map":
            return handle.MapCall(lambda: [make(m) for m in target.members], target=label)
        return make(None)


ws = Service(False)
wss = Service(True)
