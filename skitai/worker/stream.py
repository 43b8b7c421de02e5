"""One request/response exchange, independent of the protocol that carried it.

Theory.  A protocol adapter (HTTP/1.1 now, HTTP/2 later) turns bytes into events; the
connection (``connections/``) creates a ``Stream`` per ``events.Request`` and pushes the
request body into it.  Handlers (WSGI, static files, gateway) see only ``Stream``:

- request side: ``request`` (the event), ``script_name``/``path_info`` (set by routing),
  ``receive()`` (async, next body chunk, ``b""`` at the end) and ``body`` (a ``BodyBuffer``
  that a WSGI thread can also read with blocking calls);
- response side: ``send_head()``, ``send_data()`` (await it: it returns once the
  transport can take more, which is the backpressure), ``send_file()``, ``end()``.

Backpressure inbound: the body buffer asks the connection to pause reading above
``HIGH_WATER`` bytes and to resume once the consumer drained it below ``LOW_WATER``.

Buffered bodies: a handler that wants the whole body before it starts (the WSGI handler
does, unless its mount streams) calls ``BodyBuffer.collect``: from then on the body is
kept in memory up to a threshold and in an unnamed temporary file past it (nginx's
``client_body_buffer_size``), without backpressure, and a callback runs on the loop once
the body is complete or aborted.  A slow client then holds only its connection, never a
pool thread.  ``BodyBuffer.check`` (set by the handler) sees every chunk before it is
kept and may refuse the body with ``BodyRefused`` (a size limit): the connection
answers its status.
"""

from __future__ import annotations

import asyncio
import collections
import io
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine
from typing import IO, TYPE_CHECKING, Any, Protocol

from skitai import txn as txn_mod
from skitai.worker import events

if TYPE_CHECKING:
    from skitai.worker.environ import EnvironCache
    from skitai.worker.events import Headers
    from skitai.worker.websocket_app import Accepted

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class FileLike(Protocol):
    """What a file body needs of an open file: its descriptor (sendfile or pread)."""

    def fileno(self) -> int: ...


class StreamSink(Protocol):
    """What a stream and its handler need from the connection that carries it: every
    connection class (``connections/``) implements it, for HTTP/2 per stream."""

    def stream_send(self, event: events.Outbound) -> None: ...
    def stream_respond(self, stream_id: int, status: int, headers: Headers, reason: bytes,
                       body: bytes) -> None:
        """A whole small response (head, body, end) in one go."""
    async def stream_drain(self, stream_id: int) -> None: ...
    def stream_sendfile(self, stream_id: int, file: FileLike, offset: int,
                        count: int) -> Coroutine[Any, Any, None] | None:
        """Send ``count`` bytes of ``file``: None when they went at once (HTTP/1.1's
        sendfile), else a coroutine to await that sends them (an ``async def`` will do)."""
    def stream_abort(self, stream_id: int) -> None:
        """The response cannot be completed: reset the stream (HTTP/2) or the connection."""
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def accept_websocket(self, stream: Stream, accepted: Accepted) -> bool:
        """A WebSocket its app accepted takes the connection (HTTP/2: the stream) over:
        the handshake head goes out and the transport is switched.  False, with nothing
        sent, while the server stops (no new long-lived connection)."""


class ClientDisconnected(ConnectionError):
    """The client went away before the response was complete."""


class BodyRefused(Exception):  # noqa: N818 - a refusal with its status, not a failure
    """The request body breaks a limit of its handler: answer ``status`` (413) and close."""

    def __init__(self, reason: str, status: int = 413) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class BodyTimeout(TimeoutError):
    """The client stalled while a thread waited for its request body (answered 408)."""


class _Spool:
    """A whole request body: in memory up to ``memory`` bytes, then in an unnamed
    temporary file (written on the loop thread, as nginx writes its client body files)."""

    __slots__ = ("_chunks", "_size", "_memory", "_file")

    def __init__(self, memory: int) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._memory = memory
        self._file: IO[bytes] | None = None

    def write(self, data: bytes) -> None:
        file = self._file
        if file is not None:
            file.write(data)
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self._memory:
            file = self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            file.write(b"".join(self._chunks))
            self._chunks = []

    def result(self) -> IO[bytes]:
        """The body as a file positioned at its start."""
        file = self._file
        if file is None:
            chunks = self._chunks
            return io.BytesIO(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        file.flush()
        file.seek(0)
        return file

    def close(self) -> None:
        self._chunks = []
        if self._file is not None:
            self._file.close()


class _NoLock:
    """Stands in for the Condition while only the loop thread touches a body."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def notify(self) -> None:
        pass

    def notify_all(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> bool:
        raise RuntimeError("BodyBuffer.read_blocking() without enable_threads()")


_NO_LOCK = _NoLock()


class BodyBuffer:
    """The request body, fed by the loop, read by a coroutine or by a WSGI thread.

    The loop thread calls ``feed``/``finish``/``abort``; readers call ``receive`` (async,
    on the loop) or ``read_blocking`` (from a worker thread).  A lock guards the deque
    because both threads touch it; the loop is told to resume reading through
    ``call_soon_threadsafe`` when a thread drains it.
    """

    __slots__ = ("_chunks", "_size", "_done", "_error", "_cond", "_waiter", "_sink", "_paused",
                 "_loop", "received", "limit", "check", "_spool", "_settled", "trailers")

    def __init__(self, sink: StreamSink, loop: asyncio.AbstractEventLoop) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        # No lock until a thread reads the body (enable_threads): the common request is
        # served on the loop alone, and a Condition costs more than the rest of this.
        self._cond: threading.Condition | _NoLock = _NO_LOCK
        self._waiter: asyncio.Future[None] | None = None
        self._sink = sink
        self._paused = False
        self._loop = loop
        self.received = 0  # bytes fed so far (for the access log and size limits)
        # The route's max_client_body_size, set by dispatch before any body arrives.
        self.limit = sys.maxsize
        # Sees each chunk before it is kept; raises BodyRefused (a handler's limits).
        self.check: Callable[[bytes], None] | None = None
        self._spool: _Spool | None = None  # collect(): the whole body is kept here
        self._settled: Callable[[], None] | None = None  # collect()'s callback
        # The request's trailer fields (a chunked HTTP/1.1 body's trailer section, an
        # HTTP/2 trailing HEADERS frame), set when the body ends: the proxy forwards them.
        self.trailers: Headers = []

    def collect(self, memory: int, settled: Callable[[], None]) -> None:
        """Keep the whole body (memory up to ``memory`` bytes, then a temporary file) and
        call ``settled()`` on the loop once it is complete or aborted (``complete`` tells
        which).  No backpressure from here on: the connection reads as fast as the
        client sends, within the body limits.  Loop thread only, no reader yet."""
        spool = self._spool = _Spool(memory)
        for chunk in self._chunks:
            spool.write(chunk)
        self._chunks.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            self._sink.resume_reading()
        if self._done:
            settled()
        else:
            self._settled = settled

    def spooled(self) -> IO[bytes]:
        """After collect() settled with the body complete: the body, as a file."""
        assert self._spool is not None
        return self._spool.result()

    def release(self) -> None:
        """The collected body is no longer needed: free its memory or file."""
        spool = self._spool
        if spool is not None:
            self._spool = None
            spool.close()

    def _settle(self) -> None:
        settled = self._settled
        if settled is not None:
            self._settled = None
            settled()

    def enable_threads(self) -> None:
        """Called on the loop thread before a worker thread may read this body."""
        if self._cond is _NO_LOCK:
            self._cond = threading.Condition(threading.Lock())

    # --- producer side (loop thread) -------------------------------------------
    def feed(self, data: bytes) -> None:
        """Raises ``BodyRefused`` (nothing of ``data`` kept) past ``limit`` or ``check``."""
        if self.received + len(data) > self.limit:
            raise BodyRefused("request body too large")
        if self.check is not None:
            self.check(data)  # may raise BodyRefused: nothing of this chunk is kept
        spool = self._spool
        if spool is not None:
            spool.write(data)
            self.received += len(data)
            return
        with self._cond:
            self._chunks.append(data)
            self._size += len(data)
            self.received += len(data)
            self._cond.notify()
            over = self._size > HIGH_WATER and not self._paused
            if over:
                self._paused = True
        if over:
            self._sink.pause_reading()
        self._wake()

    def finish(self, trailers: Headers | None = None) -> None:
        if trailers:
            self.trailers = trailers
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._wake()
        self._settle()

    def abort(self, exc: BaseException) -> None:
        with self._cond:
            if not self._done:
                self._error = exc
                self._done = True
            self._cond.notify_all()
        self._wake()
        if self._settled is not None:  # still collecting: nobody will read the spool
            self.release()
            self._settle()

    @property
    def complete(self) -> bool:
        return self._done and self._error is None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- consumer side ------------------------------------------------------------
    def _take(self, limit: int) -> bytes | None:
        """Pop up to ``limit`` bytes (-1: one whole chunk) or None if nothing is ready.
        Called with the lock held."""
        if not self._chunks:
            if self._error is not None:
                raise self._error
            return b"" if self._done else None
        chunk = self._chunks.popleft()
        if 0 <= limit < len(chunk):
            self._chunks.appendleft(chunk[limit:])
            chunk = chunk[:limit]
        self._size -= len(chunk)
        return chunk

    def _maybe_resume(self) -> bool:
        if self._paused and self._size < LOW_WATER:
            self._paused = False
            return True
        return False

    async def receive(self, limit: int = -1) -> bytes:
        """Next chunk of the body; ``b""`` once it is complete."""
        while True:
            with self._cond:
                chunk = self._take(limit)
                resume = self._maybe_resume()
            if resume:
                self._sink.resume_reading()
            if chunk is not None:
                return chunk
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def read_blocking(self, limit: int = -1, timeout: float | None = None) -> bytes:
        """From a worker thread: wait for the next chunk (``b""`` at the end)."""
        with self._cond:
            while True:
                chunk = self._take(limit)
                if chunk is not None:
                    break
                if not self._cond.wait(timeout):
                    raise BodyTimeout("timed out reading the request body")
            resume = self._maybe_resume()
        if resume:
            self._loop.call_soon_threadsafe(self._sink.resume_reading)
        return chunk


class _NoBody:
    """The body of every request that has none (``Request.has_body`` is False): complete
    and empty from the start, shared, so the common GET makes no buffer.  The adapters
    produce no Body event for such a request; EndBody (``finish``) and a client that
    goes away (``abort``) change nothing that a reader of an empty body could see."""

    __slots__ = ()

    received = 0
    complete = True
    trailers: Headers = []  # shared and never appended to  # noqa: RUF012 - read-only

    def enable_threads(self) -> None:
        pass

    def feed(self, data: bytes) -> None:
        raise RuntimeError("body bytes for a request without a body")

    def finish(self, trailers: Headers | None = None) -> None:
        pass

    def abort(self, exc: BaseException) -> None:
        pass

    async def receive(self, limit: int = -1) -> bytes:
        return b""

    def read_blocking(self, limit: int = -1, timeout: float | None = None) -> bytes:
        return b""

    def release(self) -> None:
        pass


NO_BODY = _NoBody()
NO_LINKS: list[tuple[bytes, bytes]] = []  # shared and never appended to: hint_promise replaces it


class Stream:
    """One request and its response.  Handlers get this and nothing protocol-specific."""

    __slots__ = ("stream_id", "request", "sink", "body", "scheme", "client", "server",
                 "script_name", "path_info", "query", "headers_sent", "ended", "status",
                 "sent_bytes", "closed", "started", "first_byte", "user", "link_headers",
                 "environ_extra",
                 "environ_cache", "txn_ids", "upstream")

    def __init__(
        self,
        sink: StreamSink,
        request: events.Request,
        loop: asyncio.AbstractEventLoop,
        *,
        scheme: str,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        started: float,
        environ_cache: EnvironCache | None = None,
    ) -> None:
        self.stream_id = request.stream_id
        self.request = request
        self.sink = sink
        self.body: BodyBuffer | _NoBody = BodyBuffer(sink, loop) if request.has_body else NO_BODY
        self.scheme = scheme
        self.client = client
        self.server = server
        self.script_name = ""  # set by routing: the mount point (no trailing slash)
        self.path_info = ""  # set by routing: the rest of the path, percent-decoded
        self.query = b""
        self.headers_sent = False
        self.ended = False
        self.status = 0
        self.sent_bytes = 0
        self.closed = False  # the client went away
        self.started = started  # loop.time() when the head was parsed
        self.first_byte = 0.0  # loop.time() when the response head went out
        self.user: str | None = None  # for the access log (the authenticated user)
        self.txn_ids: txn_mod.Txn | None = None  # see txn()
        self.upstream: str | None = None  # a proxied request: "member/NNms" for the log
        # ``Link: <uri>; rel=preload`` fields added by ``skitai.hint_promise``
        self.link_headers: list[tuple[bytes, bytes]] = NO_LINKS
        # Per-stream WSGI environ keys (``skitai.hint_promise``), set by ``dispatch.set_hint_promise``.
        self.environ_extra: dict[str, object] | None = None
        self.environ_cache = environ_cache  # the connection's (environ.EnvironCache)

    async def receive(self, limit: int = -1) -> bytes:
        return await self.body.receive(limit)

    def txn(self) -> txn_mod.Txn:
        """The request's transaction ids, made on first use (environ, gateway, log)."""
        found = self.txn_ids
        if found is None:
            found = self.txn_ids = txn_mod.from_headers(self.request.headers,
                                                        id(self.sink) & 0xFFFF, self.stream_id)
        return found

    def put_txn(self, environ: dict[str, Any]) -> None:
        """README "API Transaction ID": the ids an app reads (``skitai.gtxid``,
        ``skitai.ltxid``, ``skitai.traceparent``).  The usual edge request (no
        ``X-Gtxn-Id``, no ``traceparent``: the environ already has the headers) costs one
        string, not a ``Txn``: that is made only when a backend call or the log asks."""
        if (self.txn_ids is None and "HTTP_X_GTXN_ID" not in environ
                and "HTTP_TRACEPARENT" not in environ):
            # new_gtxid(channel, request), its connection's part made once.
            cache = self.environ_cache
            prefix = cache.gtxid_prefix if cache is not None else ""
            if not prefix:
                prefix = txn_mod.edge_prefix(id(self.sink) & 0xFFFF)
                if cache is not None:
                    cache.gtxid_prefix = prefix
            environ["skitai.gtxid"] = prefix + str(self.stream_id)
            environ["skitai.ltxid"] = "1000"  # txn.EDGE_LTXID
        else:
            environ.update(self.txn().environ())

    def send_head(self, status: int, headers: Headers, reason: bytes = b"") -> None:
        if self.headers_sent:
            raise RuntimeError("response head already sent")
        self._check_open()
        self.headers_sent = True
        self.status = status
        self.sink.stream_send(events.Response(self.stream_id, status, headers, reason))

    def respond(self, status: int, headers: Headers, body: bytes, reason: bytes = b"") -> None:
        """The whole response at once (a small body): head, body and end in one write
        where the sink can (``stream_respond``), else as three events."""
        if self.headers_sent or self.closed or self.ended:
            if self.headers_sent:
                raise RuntimeError("response head already sent")
            self._check_open()  # raises
        self.headers_sent = self.ended = True
        self.status = status
        self.sent_bytes += len(body)
        self.sink.stream_respond(self.stream_id, status, headers, reason, body)

    def send_informational(self, status: int, headers: Headers | None = None) -> None:
        self._check_open()
        self.sink.stream_send(events.InformationalResponse(self.stream_id, status, headers or []))

    async def send_data(self, data: bytes) -> None:
        """Send a piece of the body; returns once the transport can take more."""
        if data:
            self._check_open()
            self.sent_bytes += len(data)
            self.sink.stream_send(events.Data(self.stream_id, data))
            await self.sink.stream_drain(self.stream_id)

    def send_data_nowait(self, data: bytes) -> None:
        """Queue body bytes without waiting (small bodies on the fast path)."""
        if data:
            self._check_open()
            self.sent_bytes += len(data)
            self.sink.stream_send(events.Data(self.stream_id, data))

    async def send_file(self, file: FileLike, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset`` (sendfile where the transport allows)."""
        rest = self.send_file_now(file, offset, count)
        if rest is not None:
            await rest

    def send_file_now(self, file: FileLike, offset: int,
                      count: int) -> Coroutine[Any, Any, None] | None:
        """``send_file`` without a coroutine when the socket takes the whole file at once
        (None); else the coroutine that sends the rest, for the caller to await."""
        if not count:
            return None
        self._check_open()
        self.sent_bytes += count
        return self.sink.stream_sendfile(self.stream_id, file, offset, count)

    def end(self, trailers: Headers | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        if not self.closed:
            self.sink.stream_send(events.EndData(self.stream_id, trailers or []))

    def _check_open(self) -> None:
        if self.closed:
            raise ClientDisconnected("client disconnected")
        if self.ended:
            raise RuntimeError("response already ended")

    def client_gone(self) -> None:
        """Called by the connection when the peer went away or reset the stream."""
        self.closed = True
        self.body.abort(ClientDisconnected("client disconnected"))
