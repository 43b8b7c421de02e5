"""Sending a file body: ``sendfile(2)`` where the kernel can copy it, pread otherwise.

Theory.  A plain TCP or unix connection speaking HTTP/1.1 (the adapter frames the body
with ``file_frame``) sends the file with ``os.sendfile`` on the socket itself, behind the
transport's back: so the head and anything buffered must leave the transport first.  The
head goes out with ``MSG_MORE`` (through a dup of the socket: uvloop's socket object
refuses ``send``) so that it shares its packets with the file's first bytes, as nginx's
``tcp_nopush``.  Under TLS, HTTP/2 framing, or below ``SENDFILE_MIN`` bytes, the file is
read with ``pread`` and sent as ``Data`` events with a drain between them (over HTTP/1.1,
a file of one piece, ``FILE_CHUNK``, is queued at once like a small response body).

No coroutine when it need not wait: ``stream_sendfile`` sends the head and the file at
once, from the handler's call, and returns None when the socket took all of it (a cached
static file up to the socket's buffer size: the usual case); only what the socket does
not take is left to a coroutine that waits for it to drain.  (It used to yield one loop
turn first, to batch the writes as ``write_soon`` does; a Task per file response cost
more than that won.)

``SendfileConnection`` is a ``BaseConnection`` with this ``stream_sendfile``; a subclass
provides ``file_frame(stream_id, count)`` (its adapter's framing).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Coroutine
from typing import Any, Protocol

from skitai.worker import events
from skitai.worker.connections.base import BaseConnection
from skitai.worker.stream import ClientDisconnected, FileLike

FILE_CHUNK = 256 * 1024
SENDFILE_MIN = 16 * 1024  # below this a pread + write is as cheap as sendfile
_MSG_MORE = getattr(socket, "MSG_MORE", 0)  # Linux


class ChunkSink(Protocol):
    def stream_send(self, event: events.Outbound) -> None: ...
    async def stream_drain(self, stream_id: int) -> None: ...


async def send_file_in_chunks(sink: ChunkSink, stream_id: int, file: FileLike, offset: int,
                              count: int) -> None:
    """pread + Data events with a drain between them: a file body where sendfile cannot
    be used (TLS, HTTP/2 framing, small files)."""
    fd = file.fileno()
    while count > 0:
        chunk = os.pread(fd, min(FILE_CHUNK, count), offset)
        if not chunk:
            raise ClientDisconnected("file shrank while sending")
        sink.stream_send(events.Data(stream_id, chunk))
        await sink.stream_drain(stream_id)
        offset += len(chunk)
        count -= len(chunk)


class SendfileConnection(BaseConnection):
    """A connection that can hand a file to the kernel (see the module docstring)."""

    _out_fd: int | None = None  # the socket's fd; None: not looked up yet; -1: no sendfile
    _more: socket.socket | None = None  # for a head sent with MSG_MORE (TCP)

    def file_frame(self, stream_id: int, count: int) -> tuple[bytes, bytes] | None:
        """(prefix, suffix) around ``count`` raw file bytes; None: send no body (HEAD)."""
        raise NotImplementedError

    def stream_send(self, event: events.Outbound) -> None:
        raise NotImplementedError

    async def stream_drain(self, stream_id: int) -> None:
        raise NotImplementedError

    def detach(self) -> None:
        super().detach()
        self._drop_more()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._drop_more()

    def stream_sendfile(self, stream_id: int, file: FileLike, offset: int,
                        count: int) -> Coroutine[Any, Any, None] | None:
        """Send the file body now, as far as the socket takes it: None when all of it
        went (a file that fits the socket buffer: no coroutine, no task per response),
        else a coroutine that sends the rest."""
        # The socket's fd when the kernel can copy the file for us (plain TCP or unix),
        # -1 under TLS or on a transport without a socket.
        out = self._out_fd if count >= SENDFILE_MIN else -1
        if out is None:
            # Looked up once: uvloop makes a new socket object per get_extra_info(), and
            # its ``family`` asks the kernel (getsockname) every time.
            out = self._out_fd = self._socket_fd()
        transport = self.transport
        if out < 0 or transport is None:
            if count > FILE_CHUNK:
                return send_file_in_chunks(self, stream_id, file, offset, count)
            # One piece (a small file, or TLS): read and queue it now, as a small
            # response body is; the transport's buffer takes it.
            chunk = os.pread(file.fileno(), count, offset)
            if len(chunk) < count:
                self.abort()  # the promised length cannot be kept
                raise ClientDisconnected("file shrank while sending")
            self.stream_send(events.Data(stream_id, chunk))
            return None
        if self.closed or transport.is_closing():
            raise ClientDisconnected("client disconnected")
        frame = self.file_frame(stream_id, count)
        if frame is None:  # HEAD: no body bytes
            return None
        prefix, suffix = frame
        if prefix:
            self._wbuf.append(prefix)
        self._send_head_more(transport)
        if not transport.get_write_buffer_size():
            sent = self._sendfile_some(out, file.fileno(), offset, count)
            offset += sent
            count -= sent
            if not count:
                if suffix:
                    self._wbuf.append(suffix)
                return None
        return self._sendfile_rest(transport, out, file, offset, count, suffix)

    def _socket_fd(self) -> int:
        transport = self.transport
        if transport is None or transport.get_extra_info("sslcontext") is not None:
            return -1
        sock = transport.get_extra_info("socket")
        if sock is None:
            return -1
        if _MSG_MORE and sock.family != socket.AF_UNIX:
            # Our own handle on the socket, for send(MSG_MORE): uvloop's socket
            # object refuses send().  A dup: closing it leaves the connection open.
            try:
                more = socket.socket(sock.family, socket.SOCK_STREAM, 0, os.dup(sock.fileno()))
                more.setblocking(False)
                self._more = more
            except OSError:
                self._more = None
        return int(sock.fileno())

    async def _sendfile_rest(self, transport: asyncio.WriteTransport, out: int, file: FileLike,
                             offset: int, count: int, suffix: bytes) -> None:
        """What the socket did not take at once: wait until it drains, then go on."""
        # The head (and anything before it) must leave the transport's buffer first:
        # sendfile writes to the socket behind the transport's back.
        while transport.get_write_buffer_size():
            await self._socket_writable(out)
        fd = file.fileno()
        while True:
            if self.closed:
                raise ClientDisconnected("client disconnected")
            sent = self._sendfile_some(out, fd, offset, count)
            offset += sent
            count -= sent
            if not count:
                break
            await self._socket_writable(out)
        if suffix:
            self._wbuf.append(suffix)

    def _drop_more(self) -> None:
        """Close our dup of the socket (the connection ends or changes protocol)."""
        if self._more is not None:
            self._more.close()
            self._more = None

    def _send_head_more(self, transport: asyncio.WriteTransport) -> None:
        """Write what is buffered (the head) so that it leaves with the file's first bytes,
        in full packets rather than a small head packet first: sent with MSG_MORE, the
        kernel holds it for the sendfile that follows (nginx's tcp_nopush does this with
        TCP_CORK, for two more syscalls per response).  What the socket does not take
        at once goes through the transport, which _sendfile_body waits for."""
        if not self._wbuf:
            return
        data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
        self._wbuf.clear()
        self._wsize = 0
        sent = 0
        more = self._more
        if more is not None and not transport.get_write_buffer_size():
            try:
                sent = more.send(data, _MSG_MORE)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the transport's write meets the same error and reports it
        if sent < len(data):
            transport.write(data[sent:])

    def _sendfile_some(self, out: int, fd: int, offset: int, count: int) -> int:
        """``os.sendfile`` until the socket would block or all ``count`` bytes went: the
        bytes sent.  A failed socket or a file that shrank aborts the connection."""
        done = 0
        while done < count:
            try:
                sent = os.sendfile(out, fd, offset + done, count - done)
            except BlockingIOError:
                break
            except OSError as exc:
                self.abort()
                raise ClientDisconnected(f"sendfile: {exc.strerror}") from exc
            if sent == 0:
                # The file shrank under us: the promised length cannot be kept.
                self.abort()
                raise ClientDisconnected("file shrank while sending")
            done += sent
        if done:
            self.last_io = self.server.clock
        return done

    async def _socket_writable(self, out: int) -> None:
        """Wait until the socket takes more bytes.  The transport owns the fd's
        registration in the loop, so a dup of it is watched; the request timeout sweep
        treats the wait like a paused transport (a client that stopped reading)."""
        dup = os.dup(out)
        waiter: asyncio.Future[None] = self.loop.create_future()

        def ready() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self.loop.add_writer(dup, ready)
        self._drain_waiters.append(waiter)  # connection_lost fails it
        self._write_paused = True
        try:
            await waiter
        finally:
            self._write_paused = False
            self.loop.remove_writer(dup)
            os.close(dup)

