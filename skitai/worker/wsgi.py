"""Running a WSGI app (PEP 3333) for a ``Stream``.

``threads > 0``: the app runs in the worker's thread pool (``pool.py``) once its request
body has arrived whole (``BodyBuffer.collect``: memory up to ``body_buffer_size``, then
a temporary file), so a client that trickles its body holds no thread.  A mount with
``pref.stream_request_body = True`` gets the app called at once instead, ``wsgi.input``
reading the body as it arrives (blocking that thread, with backpressure on the socket);
a client that stalls then gets 408 (``BodyTimeout``) when no response has started.
A response of at most ``COLLECT_LIMIT`` bytes is collected in the thread and handed to
the loop in ONE completion (``ThreadPool.complete``) (head, body and end together, with an exact
Content-Length); a larger one is streamed, the thread waiting for the transport to
drain after each piece.

``threads == 0``: the app runs inline on the event loop, also once the body is whole.
A buffered chunked body gets its ``CONTENT_LENGTH``.  A response is collected the same way; once it passes ``COLLECT_LIMIT`` the rest of the iterable is driven by a
task that waits for the transport to drain after each piece, so a slow (or vanished)
client never makes the loop buffer a whole large body.

Either way the iterable's ``close()`` is always called, also when the client went away
mid-response, and an exception before the head gives a 500 (the traceback goes to the
app log, and into the body only with ``debug``).

A ``str`` body (or ``str`` items, or a ``str`` passed to ``write()``) is encoded UTF-8,
with one warning per app: Skitai 0.26 accepted them and its README's first example
returns one.  A bare ``bytes`` result is one chunk, not a sequence of ints.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import traceback
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import IO, Any

from skitai.was import context as was_context
from skitai.worker import environ as environ_mod
from skitai.worker import errorpage, uploads
from skitai.worker.pool import ThreadPool
from skitai.worker.stream import NO_BODY, BodyBuffer, BodyTimeout, ClientDisconnected, Stream

log = logging.getLogger("skitai.app")
_bind, _unbind = was_context.bind, was_context.unbind

COLLECT_LIMIT = 256 * 1024
BODY_BUFFER_SIZE = 64 * 1024  # a request body past this waits in a temporary file
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FileWrapper:
    """``wsgi.file_wrapper``: the server sends a real file with sendfile."""

    def __init__(self, filelike: IO[bytes], blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> FileWrapper:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class InputStream(io.RawIOBase):
    """``wsgi.input`` in thread mode: blocking reads from the stream's body buffer."""

    def __init__(self, stream: Stream, timeout: float | None) -> None:
        """Made on the loop thread, before the app's thread can read."""
        stream.body.enable_threads()
        self._stream = stream
        self._buf = b""
        self._eof = False
        self._timeout = timeout

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.body.read_blocking(-1, self._timeout)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            data, self._buf = self._buf, b""
            return data
        while len(self._buf) < size and self._fill():
            pass
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        while b"\n" not in self._buf and (size is None or size < 0 or len(self._buf) < size):
            if not self._fill():
                break
        end = self._buf.find(b"\n") + 1 or len(self._buf)
        if size is not None and size >= 0:
            end = min(end, size)
        data, self._buf = self._buf[:end], self._buf[end:]
        return data

    def __iter__(self) -> InputStream:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def trailers_of(environ: dict[str, Any]) -> list[tuple[bytes, bytes]] | None:
    """``environ["skitai.trailers"]``: (name, value) pairs an app adds before its body
    ends (gRPC's ``grpc-status``), sent as the trailer block (HTTP/2 HEADERS frame; HTTP/1.1
    chunked when the client said ``TE: trailers``)."""
    pairs = environ.get("skitai.trailers")
    if not pairs:
        return None
    return [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in pairs]


class _Exchange:
    """The state of one app call: what start_response said and what is queued.  Its
    ``start_response`` and ``write`` are what the app gets (bound methods: no closures
    to make per request)."""

    __slots__ = ("status", "reason", "headers", "head_sent", "chunks", "size", "has_length",
                 "handler", "stream", "threaded", "trailers")

    def __init__(self, handler: WsgiHandler, stream: Stream, threaded: bool) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.head_sent = False
        self.chunks: list[bytes] = []
        self.size = 0
        self.has_length = False
        self.handler = handler
        self.stream = stream
        self.threaded = threaded
        self.trailers: list[tuple[bytes, bytes]] | None = None

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.headers is not None:
            raise AssertionError("start_response called twice without exc_info")
        self.status, self.reason, self.headers, self.has_length = \
            self.handler.convert_head(status, headers)
        return self.write

    def write(self, data: bytes) -> None:
        if self.headers is None:
            raise AssertionError("write() before start_response()")
        if type(data) is not bytes:
            data = self.handler.body_bytes(data)
        if data:
            self.chunks.append(bytes(data))
            self.size += len(data)
            if self.size > COLLECT_LIMIT:
                self.handler._flush(self.stream, self, self.threaded)


def _convert_headers(status: str, headers: list[tuple[str, str]]) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
    if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
        raise ValueError(f"invalid WSGI status {status!r}")
    out: list[tuple[bytes, bytes]] = []
    has_length = False
    cache = _HEADER_CACHE
    for header in headers:
        try:
            converted = cache.get(header)
        except TypeError:  # unhashable (a list pair): no caching
            converted = None
        if converted is None:
            try:
                name, value = header
            except (TypeError, ValueError):
                raise TypeError(f"WSGI headers are (name, value) pairs, got {header!r}") from None
            converted = _convert_header(name, value)
            if type(header) is tuple and len(cache) < 1024 and len(value) < 256:
                cache[header] = converted
        if converted[0] == b"content-length":
            has_length = True
        out.append(converted)
    return int(status[:3]), status[4:].encode("latin-1"), out, has_length


# Apps send the same few headers (Content-Type: text/html...) on every response: each
# distinct (name, value) pair is checked and encoded once.  Unhashable or odd pairs
# fall through to the checks (and their errors) every time.
_HEADER_CACHE: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _convert_header(name: object, value: object) -> tuple[bytes, bytes]:
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"WSGI header names and values must be str: {name!r}: {value!r}")
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
        raise ValueError(f"invalid characters in response header {name!r}")
    return name.lower().encode("latin-1"), value.encode("latin-1")


class WsgiHandler:
    def __init__(
        self,
        app: WsgiApp,
        *,
        loop: asyncio.AbstractEventLoop,
        executor: ThreadPool | None,
        base: dict[str, Any],
        debug: bool = False,
        body_timeout: float | None = None,
        body_limit: int = 0,
        body_buffer_size: int = BODY_BUFFER_SIZE,
    ) -> None:
        self.app = app
        self.loop = loop
        self.executor = executor
        self.base = base
        self.debug = debug
        self.body_timeout = body_timeout
        self.body_buffer_size = body_buffer_size
        self.stream_request_body = False  # pref.stream_request_body: no buffering
        self.body_limits: uploads.BodyLimits | None = None  # pref.config's finer limits
        self.body_limit = body_limit  # the mount's max_client_body_size (0: the server's)
        self._warned_str = False
        # (status, headers as given, then what _convert_headers made of them)
        self._last_head: tuple[Any, list[Any], int, bytes, tuple[tuple[bytes, bytes], ...], bool] | None = None

    def apply_pref(self, pref: Any) -> None:
        """The mount's ``pref``: ``stream_request_body`` and the seed's
        ``pref.config.max_post_body_size`` / ``max_multipart_body_size`` /
        ``max_upload_file_size`` (``uploads.from_pref``)."""
        self.stream_request_body = bool(getattr(pref, "stream_request_body", False))
        self.body_limits = uploads.from_pref(pref) if pref is not None else None

    def convert_head(self, status: str, headers: list[tuple[str, str]]
                     ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
        """``_convert_headers``, remembering the last head: an app answers most requests
        with the same status and header list (compared, not trusted: a list equal to
        the last one converts to the same bytes)."""
        last = self._last_head
        if last is not None and status == last[0] and headers == last[1]:
            return last[2], last[3], list(last[4]), last[5]
        code, reason, out, has_length = _convert_headers(status, headers)
        if type(headers) is list:
            # One tuple, assigned at once: pool threads may race here harmlessly.
            self._last_head = (status, list(headers), code, reason, tuple(out), has_length)
        return code, reason, out, has_length

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None] | None:
        """Raises ``BodyRefused`` when the declared body breaks the app's limits."""
        body = stream.body
        if not isinstance(body, BodyBuffer):  # NO_BODY
            # No body (the common GET): the shared empty input, no spool, no task.
            environ = self.environ_for(stream, _EMPTY_INPUT)
            if self.executor is not None:
                self.executor.submit(self._run, stream, environ, True)
                return None
            return self._run(stream, environ, False)
        if self.body_limits is not None:
            body.check = self.body_limits.checker(stream.request)
        if self.executor is not None:
            if self.stream_request_body or _is_grpc(stream):
                environ = self.environ_for(stream, InputStream(stream, self.body_timeout))
                self.executor.submit(self._run, stream, environ, True)
            else:
                body.collect(self.body_buffer_size,
                             partial(self._body_arrived, stream, body, self.executor))
            return None
        return self._inline_with_body(stream, body)

    def _body_arrived(self, stream: Stream, body: BodyBuffer, pool: ThreadPool) -> None:
        """The whole body is kept (or the request failed: the connection answers)."""
        if body.complete and not stream.closed:
            pool.submit(self._run, stream, self._buffered_environ(stream, body), True)

    async def _inline_with_body(self, stream: Stream, body: BodyBuffer) -> None:
        arrived: asyncio.Future[None] = self.loop.create_future()
        body.collect(self.body_buffer_size, partial(arrived.set_result, None))
        await arrived
        if not body.complete or stream.closed:
            return
        rest = self._run(stream, self._buffered_environ(stream, body), False)
        if rest is not None:
            await rest

    def _buffered_environ(self, stream: Stream, body: BodyBuffer) -> dict[str, Any]:
        environ = self.environ_for(stream, body.spooled())
        if stream.request.chunked:
            # The length is known now: apps that read CONTENT_LENGTH bytes (Django) get
            # a chunked upload too.
            environ["CONTENT_LENGTH"] = str(body.received)
        return environ

    def body_bytes(self, chunk: Any) -> bytes:
        """A body chunk that is not ``bytes``: a bytes-like one is copied; a ``str`` is
        encoded UTF-8 (as Skitai 0.26 did), with one warning per app."""
        if isinstance(chunk, bytes | bytearray | memoryview):
            return bytes(chunk)
        if isinstance(chunk, str):
            if not self._warned_str:
                self._warned_str = True
                log.warning("%s returned a str body: encoded as UTF-8 (WSGI apps should "
                            "return bytes)", _app_name(self.app))
            return chunk.encode("utf-8")
        raise TypeError(f"WSGI body must be bytes, got {type(chunk).__name__}")

    def environ_for(self, stream: Stream, body: IO[bytes] | io.RawIOBase) -> dict[str, Any]:
        environ = environ_mod.build_environ(
            stream.request,
            script_name=stream.script_name,
            path_info=stream.path_info,
            query=stream.query,
            scheme=stream.scheme,
            client=stream.client,
            server=stream.server,
            body=body,
            base=self.base,
            extra=stream.environ_extra,
            cache=stream.environ_cache,
        )
        stream.put_txn(environ)  # skitai.gtxid, skitai.ltxid
        return environ

    # --- the app call (in a pool thread, or inline on the loop) -----------------------
    def _run(self, stream: Stream, environ: dict[str, Any], threaded: bool,
             ex: _Exchange | None = None, awaited: Any = None) -> Coroutine[Any, Any, None] | None:
        """Call the app.  Inline, returns a coroutine when the response turned out too
        large (or is a file) to send without waiting for the client: it owns the rest.
        Inline, an app may also return an awaitable (``skitai.awaitable`` in the environ:
        a Saddle ``async def`` view): its result is the iterable, run again through here
        as ``awaited``."""
        if ex is None:
            ex = _Exchange(self, stream, threaded)
        result: Any = None  # what a user app returns: a str or bytes is taken too
        handed_off = False
        token = _bind(environ)  # `from skitai import was` knows this request
        try:
            result = self.app(environ, ex.start_response) if awaited is None else awaited
            if "REMOTE_USER" in environ:  # an app's authentication names the user in the log
                stream.user = str(environ["REMOTE_USER"])
            kind = type(result)
            if kind is not list:  # (a list, the usual result, is none of these)
                if not threaded and hasattr(result, "__await__"):
                    handed_off = True
                    return self._await_app(stream, ex, result, environ)
                if hasattr(result, "__aiter__"):
                    # An async body (was.promise(...)): the loop drives it, the thread is free.
                    handed_off = True
                    return self._async_body(stream, ex, result, environ, threaded)
                if kind is str or kind is bytes:
                    result = [result]  # one chunk, not a sequence of characters
                elif isinstance(result, FileWrapper) and ex.headers is not None:
                    if threaded:
                        if self._send_file_wrapper(stream, ex, result):
                            return None
                    else:
                        rest = self._file_wrapper_task(stream, ex, result)
                        if rest is not None:
                            handed_off = True
                            return rest
            chunks = iter(result)
            # environ["skitai.unbuffered"]: each piece goes out as the app yields it (a
            # gRPC stream, a feed), instead of being collected up to COLLECT_LIMIT.
            unbuffered = environ.get("skitai.unbuffered") is True
            for chunk in chunks:
                if threaded:
                    if type(chunk) is bytes and chunk and ex.headers is not None:
                        ex.chunks.append(chunk)  # (ex.write without its call)
                        ex.size += len(chunk)
                        if ex.size > COLLECT_LIMIT or unbuffered:
                            self._flush(stream, ex, True)
                    else:
                        ex.write(chunk)
                        if unbuffered and ex.chunks:
                            self._flush(stream, ex, True)
                elif chunk:
                    # Inline: collect without flushing; past the limit, a task goes on.
                    if ex.headers is None:
                        _no_head()  # raises
                    if type(chunk) is not bytes:
                        chunk = self.body_bytes(chunk)
                    ex.chunks.append(chunk)
                    ex.size += len(chunk)
                    if ex.size > COLLECT_LIMIT or unbuffered:
                        handed_off = True
                        return self._stream_rest(stream, ex, result, chunks, environ)
                if stream.closed:
                    break
            if ex.headers is None:
                raise AssertionError("the app returned without calling start_response()")
            if "skitai.trailers" in environ:
                ex.trailers = trailers_of(environ)
            pool = self.executor
            if threaded and pool is not None:
                pool.complete(self._complete, stream, ex)
            else:
                self._complete(stream, ex)
        except ClientDisconnected:
            pass
        except BaseException as exc:  # noqa: BLE001 - any app failure becomes a 500
            # A client that stalled while the app read its body: 408, not the app's fault.
            status = 408 if isinstance(exc, BodyTimeout) else 500
            pool = self.executor
            if not threaded or pool is None:
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                self._fail(stream, ex, _describe(environ), traceback.format_exc(), status)
            else:
                pool.complete(self._fail, stream, ex, _describe(environ), traceback.format_exc(),
                              status)
        finally:
            _unbind(token)  # (set and reset in this one synchronous frame)
            if not handed_off:
                if type(result) is not list:
                    _close(result)
                if stream.body is not NO_BODY:
                    stream.body.release()
        return None

    async def _await_app(self, stream: Stream, ex: _Exchange, awaitable: Any,
                         environ: dict[str, Any]) -> None:
        # The view runs later than _run's bind: `was` must know this request while it does.
        token = was_context.bind(environ)
        try:
            result = await awaitable
        except Exception:  # noqa: BLE001 - any app failure becomes a 500
            self._fail(stream, ex, _describe(environ), traceback.format_exc())
            return
        finally:
            was_context.reset(token)
        rest = self._run(stream, environ, False, ex, result)
        if rest is not None:
            await rest

    def _async_body(self, stream: Stream, ex: _Exchange, result: Any, environ: dict[str, Any],
                    threaded: bool) -> Coroutine[Any, Any, None] | None:
        """An app returned an async iterable: send what it yields from the loop.  Without
        start_response it answers ``200 text/html`` (what Saddle's promise did)."""
        if ex.headers is None:
            ex.start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        if threaded:
            self.loop.call_soon_threadsafe(self._drive_async, stream, ex, result, environ)
            return None
        return self._stream_async(stream, ex, result, environ)

    def _drive_async(self, stream: Stream, ex: _Exchange, result: Any,
                     environ: dict[str, Any]) -> None:
        task = self.loop.create_task(self._stream_async(stream, ex, result, environ))
        _ASYNC_BODIES.add(task)  # held until done (the loop keeps only a weak reference)
        task.add_done_callback(_ASYNC_BODIES.discard)

    async def _stream_async(self, stream: Stream, ex: _Exchange, result: Any,
                            environ: dict[str, Any]) -> None:
        """Collect what an async body yields (one response with a length); past
        ``COLLECT_LIMIT``, send as it comes."""
        try:
            async for chunk in result:
                if ex.headers is None:
                    _no_head()  # raises
                if type(chunk) is not bytes:
                    chunk = self.body_bytes(chunk)
                if stream.closed:
                    break
                if not chunk:
                    continue
                if ex.head_sent:
                    await stream.send_data(chunk)
                    continue
                ex.chunks.append(chunk)
                ex.size += len(chunk)
                if ex.size > COLLECT_LIMIT:
                    ex.head_sent = True
                    stream.send_head(ex.status, ex.headers or [], ex.reason)
                    pending, ex.chunks = ex.chunks, []
                    for c in pending:
                        await stream.send_data(c)
            self._complete(stream, ex)
        except ClientDisconnected:
            pass
        except Exception:  # noqa: BLE001 - an app failure: a 500, or an aborted stream
            self._fail(stream, ex, _describe(environ), traceback.format_exc())
        finally:
            stream.body.release()
            aclose = getattr(result, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _stream_rest(self, stream: Stream, ex: _Exchange, result: Iterable[bytes],
                           chunks: Any, environ: dict[str, Any]) -> None:
        """Inline mode, a large response: send and wait for the client between pieces."""
        try:
            pending, ex.chunks = ex.chunks, []
            if not ex.head_sent:  # write() past the limit may have sent it already
                ex.head_sent = True
                stream.send_head(ex.status, ex.headers or [], ex.reason)
            for c in pending:
                await stream.send_data(c)
            for chunk in chunks:
                if type(chunk) is not bytes:
                    chunk = self.body_bytes(chunk)
                # write() calls made while iterating arrive in ex.chunks: keep the order.
                queued, ex.chunks = ex.chunks, []
                for c in queued:
                    await stream.send_data(c)
                if chunk:
                    await stream.send_data(chunk)
            for c in ex.chunks:
                await stream.send_data(c)
            stream.end(trailers_of(environ))
        except ClientDisconnected:
            pass
        except Exception:  # noqa: BLE001 - an app failure after the head: abort the stream
            self._fail(stream, ex, _describe(environ), traceback.format_exc())
        finally:
            _close(result)
            stream.body.release()

    def _file_wrapper_task(self, stream: Stream, ex: _Exchange,
                           wrapper: FileWrapper) -> Coroutine[Any, Any, None] | None:
        found = _file_span(ex, wrapper)
        if found is None:
            return None
        offset, count = found
        return self._sendfile_and_close(stream, ex, wrapper, offset, count)

    async def _sendfile_and_close(self, stream: Stream, ex: _Exchange, wrapper: FileWrapper,
                                  offset: int, count: int) -> None:
        try:
            await self._sendfile(stream, ex, wrapper, offset, count)
        except ClientDisconnected:
            pass
        finally:
            _close(wrapper)
            stream.body.release()

    def _flush(self, stream: Stream, ex: _Exchange, threaded: bool) -> None:
        """Send what is queued now (large or streamed bodies); wait for the transport."""
        chunks, ex.chunks = ex.chunks, []
        send_head = not ex.head_sent
        ex.head_sent = True
        if threaded:
            fut = asyncio.run_coroutine_threadsafe(
                self._send(stream, ex, send_head, chunks), self.loop)
            fut.result()
        else:
            if send_head:
                stream.send_head(ex.status, ex.headers or [], ex.reason)
            for c in chunks:
                stream.send_data_nowait(c)

    async def _send(self, stream: Stream, ex: _Exchange, send_head: bool, chunks: list[bytes]) -> None:
        if send_head:
            stream.send_head(ex.status, ex.headers or [], ex.reason)
        for c in chunks:
            await stream.send_data(c)

    def _send_file_wrapper(self, stream: Stream, ex: _Exchange, wrapper: FileWrapper) -> bool:
        found = _file_span(ex, wrapper)
        if found is None:
            return False
        offset, count = found
        fut = asyncio.run_coroutine_threadsafe(self._sendfile(stream, ex, wrapper, offset, count), self.loop)
        try:
            fut.result()
        except ClientDisconnected:
            pass
        return True

    async def _sendfile(self, stream: Stream, ex: _Exchange, wrapper: FileWrapper, offset: int, count: int) -> None:
        stream.send_head(ex.status, ex.headers or [], ex.reason)
        await stream.send_file(wrapper.filelike, offset, count)
        stream.end()

    # --- on the loop -----------------------------------------------------------------------
    def _complete(self, stream: Stream, ex: _Exchange) -> None:
        """The collected response goes out (on the loop)."""
        if stream.closed:
            return
        try:
            if not ex.head_sent and not ex.trailers:
                headers = ex.headers or []
                if not ex.has_length:
                    headers.append((b"content-length", str(ex.size).encode()))
                chunks = ex.chunks
                stream.respond(ex.status, headers,
                               chunks[0] if len(chunks) == 1 else b"".join(chunks), ex.reason)
                return
            if not ex.head_sent:  # trailers follow: the head, the body, then the trailer block
                ex.head_sent = True
                stream.send_head(ex.status, ex.headers or [], ex.reason)
            for c in ex.chunks:
                stream.send_data_nowait(c)
            stream.end(ex.trailers)
        except ClientDisconnected:
            pass  # the peer went away while the app ran: a normal event, logged as 499

    def _fail(self, stream: Stream, ex: _Exchange, what: str, tb: str,
              status: int = 500) -> None:
        """``status`` 408: the client stalled while the app read its body (BodyTimeout)."""
        if status == 408:
            log.info("request body timed out in %s", what)
        else:
            log.error("app error in %s\n%s", what, tb.rstrip())
        if stream.closed:
            return
        try:
            if ex.head_sent or stream.headers_sent:  # (a failure while sending the response)
                stream.sink.stream_abort(stream.stream_id)
                return
            headers, body = errorpage.page(status, traceback=tb if self.debug and status == 500
                                           else "")
            if status == 408:
                headers.append((b"connection", b"close"))
            stream.respond(status, headers, body)
        except ClientDisconnected:
            pass  # the peer went away meanwhile: nothing to tell it


class _EmptyInput(io.BytesIO):
    """``wsgi.input`` of a request without a body; shared, since reading it changes nothing."""

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return []

    def close(self) -> None:
        """Shared by every bodiless request: an app closing it closes nothing."""


_EMPTY_INPUT = _EmptyInput()
_ASYNC_BODIES: set[asyncio.Task[None]] = set()


def _is_grpc(stream: Stream) -> bool:
    """gRPC bodies are message streams (a bidirectional call answers each message before
    the next arrives): never buffered whole, as nginx's grpc_pass does not buffer them."""
    for name, value in stream.request.headers:
        if name == b"content-type":
            return value.startswith(b"application/grpc")
    return False


def _no_head() -> None:
    raise AssertionError("the app yielded body data before calling start_response()")


def _app_name(app: Any) -> str:
    module = getattr(app, "__module__", None) or type(app).__module__
    name = getattr(app, "__qualname__", None) or type(app).__qualname__
    return f"{module}.{name}"


def _file_span(ex: _Exchange, wrapper: FileWrapper) -> tuple[int, int] | None:
    """(offset, count) of a real file behind ``wsgi.file_wrapper`` (sets the length)."""
    try:
        fd = wrapper.filelike.fileno()
        offset = wrapper.filelike.tell()
        size = os.fstat(fd).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    count = max(0, size - offset)
    for name, value in ex.headers or []:
        if name == b"content-length":
            count = min(count, int(value))
            break
    else:
        assert ex.headers is not None
        ex.headers.append((b"content-length", str(count).encode()))
    ex.head_sent = True
    return offset, count


def _close(result: Any) -> None:
    """PEP 3333: the iterable's close() is called whatever happened."""
    close = getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001
            log.exception("close() of the app's iterable failed")


def _describe(environ: dict[str, Any]) -> str:
    return f"{environ.get('REQUEST_METHOD')} {environ.get('RAW_URI')}"
