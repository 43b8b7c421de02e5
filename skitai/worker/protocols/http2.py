"""HTTP/2 as a sans-IO adapter over ``h2``: bytes in, ``events`` out, events in, bytes out.

Theory.

*Events.*  ``feed(data)`` hands the bytes to one ``h2.connection.H2Connection`` (server
side) and turns its events into the vocabulary of ``events.py``: ``RequestReceived`` ->
``Request`` (``http_version=b"2"``, ``:authority`` given as a ``host`` header when the
request has none, pseudo-headers removed except ``:protocol`` of an RFC 8441 extended
CONNECT), ``DataReceived`` -> ``Body``, ``StreamEnded`` -> ``EndBody`` (with the
trailers of a ``TrailersReceived``), ``StreamReset`` -> ``StreamClosed``.  A connection
error (h2 raised, a flood limit tripped, the peer sent GOAWAY) ends in ONE
``RemoteError(stream_id=0)``; the GOAWAY is already queued in ``data_to_send()`` and
``closed`` is True: the connection writes it and closes.

*Outbound flow control (we send).*  ``send(Data)`` never writes more than the peer's
windows allow (and keeps a small piece back until ``flush(sid)`` or ``EndData``, so a
small body ends the stream in its one DATA frame).  The rest waits in the stream's queue inside this adapter and goes out as
WINDOW_UPDATE (or a larger SETTINGS_INITIAL_WINDOW_SIZE) frames arrive during a later
``feed()``; ``EndData`` (and trailers) wait behind the queued bytes.  The connection
above must not pile data up here: after each ``Data`` it waits until ``buffered(sid)``
is zero, woken by ``take_writable()`` (the streams whose queue drained).  So a stream
holds at most one chunk of its producer in memory, whatever the body size.
``sendable(sid)`` says how many bytes the stream may send right now.

*Inbound flow control (the peer sends).*  Received DATA is acknowledged (the window
handed back) as it arrives, unless the stream is ``hold()``-ing: its consumer is behind
(the stream's body buffer is above its high-water mark).  Held bytes are acknowledged on
``release()``, so a client that sends faster than the app reads is stopped by its own
stream window while the other streams of the connection go on.

*Limits and floods.*  Before h2 sees the bytes, a small frame-header scanner counts what
the known attacks are made of, per time window: RST_STREAM from the client (rapid reset,
CVE-2023-44487), SETTINGS and PING frames (their ACKs are output the peer may never
read), and the size and frame count of a header block being assembled from CONTINUATION
frames (CVE-2024-27316 and relatives: h2 would buffer up to 64 frames of any size).
Tripping one closes the connection with GOAWAY ENHANCE_YOUR_CALM.  h2 itself enforces
SETTINGS_MAX_HEADER_LIST_SIZE (ENHANCE_YOUR_CALM), SETTINGS_MAX_CONCURRENT_STREAMS and
framing (PROTOCOL_ERROR and the other codes RFC 9113 names); its code is the GOAWAY's.

*Graceful stop.*  ``shutdown()`` sends GOAWAY(NO_ERROR) naming the highest stream seen:
streams up to it are finished, later ones are refused by h2 / the connection.
"""

from __future__ import annotations

import collections
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack.hpack
import hpack.table
from hyperframe.frame import GoAwayFrame

from skitai.errors import LocalProtocolError
from skitai.worker import events

__all__ = ["CONNECTION_WINDOW", "STREAM_WINDOW", "FloodLimits", "Http2Adapter"]

# The peer may send this much per stream before we hand window back (SETTINGS), and
# this much over the whole connection.
STREAM_WINDOW: Final = 256 * 1024
CONNECTION_WINDOW: Final = 4 * 1024 * 1024

ErrorCodes = h2.errors.ErrorCodes
_PREFACE_LEN: Final = 24
_HEADER = struct.Struct(">HBBBL")  # 24-bit length as H+B, type, flags, stream id
# Frame types and flags the scanner looks at (RFC 9113 6).
_DATA, _HEADERS, _RST, _SETTINGS, _PUSH, _PING, _CONT = 0, 1, 3, 4, 5, 6, 9
_END_HEADERS: Final = 0x4
_ACK: Final = 0x1

# Fields that are connection-specific in HTTP/1.1 and forbidden in HTTP/2 (RFC 9113 8.2.2).
_CONNECTION_SPECIFIC: Final = frozenset((b"connection", b"keep-alive", b"proxy-connection",
                                         b"transfer-encoding", b"upgrade"))
_STATUS: Final = {s: b"%d" % s for s in range(100, 600)}
# Body bytes below this are kept until flush(sid) or EndData: a small body and the end
# of the stream then share one DATA frame.
_LAZY: Final = 16384


class _Quiet:
    """hpack calls ``log.debug`` on a real logger for every integer and field it codes:
    the calls alone cost about a tenth of a small response.  Unless hpack's logger is
    set to DEBUG on purpose, it gets this no-op stand-in."""

    def debug(self, *args: object, **kwargs: object) -> None:
        pass


if not hpack.hpack.log.isEnabledFor(10):
    hpack.hpack.log = _Quiet()  # type: ignore[assignment]  # hpack's module logger, swapped for a quiet stand-in


# Static-table entries (RFC 7541 appendix A): (name, value) -> index, name -> first index.
def _static_indexes() -> tuple[dict[tuple[bytes, bytes], int], dict[bytes, int]]:
    fields: dict[tuple[bytes, bytes], int] = {}
    names: dict[bytes, int] = {}
    for index, field in enumerate(hpack.table.HeaderTable.STATIC_TABLE, 1):
        fields.setdefault(field, index)
        names.setdefault(field[0], index)
    return fields, names


_STATIC_FIELDS, _STATIC_NAMES = _static_indexes()
_NEVER_INDEXED: Final = frozenset((b"set-cookie", b"authorization", b"proxy-authorization",
                                   b"cookie"))
_FIELD_CACHE_MAX = 4096


class _BlockDecoder(hpack.hpack.Decoder):
    """HPACK decoding that remembers the last header blocks made only of indexed fields.

    Such a block (every representation an index, RFC 7541 6.1) changes nothing in the
    decoder, and its fields depend only on the dynamic table; a keep-alive client that
    asks again and again sends the very same bytes (h2load, a browser polling an API).
    Its decoded fields are kept until a block of any other kind is decoded (which may
    change the table: everything kept is dropped), so a kept answer is always what
    decoding would give.  h2 still validates every field of every request."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[bytes, list[Any]] = {}

    def decode(self, data: bytes, raw: bool = False) -> Any:
        kept = self._kept
        known = kept.get(data) if raw else None
        if known is not None:
            return list(known)
        fields = list(super().decode(data, raw))
        if not raw or not _only_indexed(data):
            kept.clear()
        elif len(kept) < 64:
            kept[bytes(data)] = fields[:]
        return fields


def _only_indexed(block: bytes) -> bool:
    """Every representation in ``block`` is an indexed field (top bit set; an index of
    127 or more continues in bytes whose top bit says whether another follows)."""
    i, n = 0, len(block)
    while i < n:
        first = block[i]
        if not first & 0x80:
            return False
        i += 1
        if first & 0x7F == 0x7F:
            while i < n and block[i] & 0x80:
                i += 1
            i += 1
    return i == n


class _FieldEncoder(hpack.hpack.Encoder):
    """The response side of HPACK without a dynamic table (as nginx encodes): each field
    is a static-table index or a literal that is not indexed, so its bytes do not depend
    on what was sent before and are computed once per distinct field, then reused (the
    ``:status`` and ``content-type`` of every hello-world response cost a dict lookup).
    The price is a few bytes more per repeated custom field.  A table size change the
    peer asked for is still signalled first (RFC 7541 4.2), by the base class's state.
    Secrets (cookies, credentials) are literals never indexed (RFC 7541 7.1.3)."""

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[tuple[bytes, bytes], bytes] = {}

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        block = []
        if self.header_table.resized:
            block.append(self._encode_table_size_change())
            self.header_table.resized = False
        cache = self._fields
        for field in headers:
            encoded = cache.get(field)
            if encoded is None:
                encoded = self._field(field)
            block.append(encoded)
        return b"".join(block)

    def _field(self, field: tuple[bytes, bytes]) -> bytes:
        name, value = field[0], field[1]
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            name, value = bytes(name, "utf-8"), bytes(value, "utf-8")
        index = _STATIC_FIELDS.get((name, value))
        if index is not None:
            encoded = self._encode_indexed(index)
        else:
            bit = hpack.hpack.INDEX_NEVER if name in _NEVER_INDEXED else hpack.hpack.INDEX_NONE
            index = _STATIC_NAMES.get(name)
            if index is not None:
                encoded = self._encode_indexed_literal(index, value, bit, True)
            else:
                encoded = self._encode_literal(name, value, bit, True)
        if type(field) is tuple and len(field) == 2 and name not in _NEVER_INDEXED \
                and len(value) <= 256:
            cache = self._fields
            if len(cache) >= _FIELD_CACHE_MAX:
                cache.clear()
            cache[field] = encoded
        return encoded


_GONE_KEPT = 256  # reset streams remembered (see Http2Adapter._gone)


@dataclass(frozen=True)
class FloodLimits:
    """How much of each frame kind a client may send per ``window`` seconds."""

    window: float = 10.0
    resets: int = 400  # RST_STREAM frames (rapid reset)
    settings: int = 100  # SETTINGS frames that are not ACKs
    pings: int = 100  # PING frames that are not ACKs
    continuations: int = 32  # CONTINUATION frames in one header block


class _Flood(Exception):  # noqa: N818 - internal: a limit tripped in the scanner
    pass


class _Scanner:
    """Walks the frame headers of the inbound byte stream without copying payloads."""

    __slots__ = ("limits", "max_block", "clock", "_skip", "_partial", "_preface", "_block",
                 "_frames", "_window_end", "_resets", "_settings", "_pings")

    def __init__(self, limits: FloodLimits, max_block: int, clock: Callable[[], float],
                 preface: bool) -> None:
        self.limits = limits
        self.max_block = max_block
        self.clock = clock
        self._skip = 0  # payload bytes of the current frame still to come
        self._partial = b""  # the start of a frame header split across feeds
        self._preface = _PREFACE_LEN if preface else 0
        self._block = -1  # bytes of the header block being assembled; -1: none
        self._frames = 0  # CONTINUATION frames in that block
        self._window_end = 0.0
        self._resets = self._settings = self._pings = 0

    def scan(self, data: bytes) -> None:
        pos = 0
        end = len(data)
        if self._preface:
            take = min(self._preface, end)
            self._preface -= take
            pos = take
        if self._skip:
            take = min(self._skip, end - pos)
            self._skip -= take
            pos += take
        if self._partial and pos < end:
            need = 9 - len(self._partial)
            head = self._partial + data[pos:pos + need]
            pos += min(need, end - pos)
            if len(head) < 9:
                self._partial = head
                return
            self._partial = b""
            self._frame(head, 0)
            take = min(self._skip, end - pos)
            self._skip -= take
            pos += take
        while pos < end:
            if end - pos < 9:
                self._partial = data[pos:]
                return
            self._frame(data, pos)
            pos += 9
            take = min(self._skip, end - pos)
            self._skip -= take
            pos += take

    def _frame(self, buf: bytes, at: int) -> None:
        hi, lo, kind, flags, _sid = _HEADER.unpack_from(buf, at)
        length = (hi << 8) | lo
        self._skip = length
        if self._block >= 0:
            if kind == _CONT:
                self._block += length
                self._frames += 1
                if self._block > self.max_block:
                    raise _Flood("header block larger than the header list limit")
                if self._frames > self.limits.continuations:
                    raise _Flood("CONTINUATION flood")
                if flags & _END_HEADERS:
                    self._block = -1
            # anything else inside a header block is h2's PROTOCOL_ERROR
            return
        if kind == _HEADERS or kind == _PUSH:
            if length > self.max_block:
                raise _Flood("header block larger than the header list limit")
            if not flags & _END_HEADERS:
                self._block = length
                self._frames = 0
            return
        if kind == _DATA or kind > _PING:
            return
        if kind == _RST:
            self._count("_resets", self.limits.resets, "RST_STREAM flood (rapid reset)")
        elif kind == _SETTINGS and not flags & _ACK:
            self._count("_settings", self.limits.settings, "SETTINGS flood")
        elif kind == _PING and not flags & _ACK:
            self._count("_pings", self.limits.pings, "PING flood")

    def _count(self, name: str, limit: int, what: str) -> None:
        now = self.clock()
        if now >= self._window_end:
            self._window_end = now + self.limits.window
            self._resets = self._settings = self._pings = 0
        value = getattr(self, name) + 1
        setattr(self, name, value)
        if value > limit:
            raise _Flood(what)


class _Out:
    """What a stream still has to send: queued body bytes, then the end (and trailers)."""

    __slots__ = ("chunks", "size", "end", "trailers", "no_body", "head_sent")

    def __init__(self) -> None:
        self.chunks: collections.deque[memoryview] = collections.deque()
        self.size = 0
        self.end = False
        self.trailers: events.Headers = []
        self.no_body = False  # HEAD, 204, 304: body bytes are dropped
        self.head_sent = False


class Http2Adapter:
    """One HTTP/2 connection, server side.  See the module docstring."""

    def __init__(
        self,
        *,
        max_header_bytes: int = 65536,
        max_concurrent_streams: int = 100,
        stream_window: int = STREAM_WINDOW,
        connection_window: int = CONNECTION_WINDOW,
        enable_push: bool = True,
        enable_connect_protocol: bool = False,
        flood: FloodLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Outbound fields are ours (the WSGI layer refused CR/LF, _fields() lower-cases and
        # drops connection-specific ones): h2's per-field re-validation is skipped (speed).
        # Inbound fields keep h2's full validation.
        # Inbound cookie crumbs (RFC 9113 8.2.3) are not joined here: build_environ joins
        # repeated Cookie fields with "; " for every protocol (one pass fewer per field).
        config = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                           validate_outbound_headers=False,
                                           normalize_outbound_headers=False,
                                           normalize_inbound_headers=False)
        conn = h2.connection.H2Connection(config=config)
        codes = h2.settings.SettingCodes
        settings = {
            codes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
            codes.MAX_HEADER_LIST_SIZE: max_header_bytes,
            codes.INITIAL_WINDOW_SIZE: max(stream_window, 65535),
            # A server never pushes to itself; RFC 9113 6.5.2 forbids anything but 0.
            codes.ENABLE_PUSH: 0,
        }
        if enable_connect_protocol:
            settings[codes.ENABLE_CONNECT_PROTOCOL] = 1
        conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        conn.decoder = _BlockDecoder()
        conn.decoder.max_header_list_size = max_header_bytes
        conn.encoder = _FieldEncoder()
        self._conn = conn
        self._connection_window = max(connection_window, 65535)
        self._max_header_bytes = max_header_bytes
        self._flood = flood or FloodLimits()
        self._clock = clock
        self._scanner: _Scanner | None = None
        self._push = enable_push
        self._out: dict[int, _Out] = {}
        # Streams the peer reset, newest last (bounded): a handler that answered in the
        # same turn, before it could hear of the reset, sends into nothing, not an error.
        self._gone: dict[int, None] = {}
        self._methods: dict[int, bytes] = {}  # stream -> request method (HEAD has no body)
        self._trailers: dict[int, events.Headers] = {}
        self._held: dict[int, int] = {}  # stream -> flow-controlled bytes not yet acknowledged
        self._writable: set[int] = set()
        self.closed = False
        self.draining = False  # shutdown() sent GOAWAY; streams above last_stream_id are refused
        self.error_code: int | None = None  # the code of the GOAWAY we sent, if any
        self.peer_error_code: int | None = None  # the code of the GOAWAY the peer sent
        self.last_stream_id = 0  # the highest stream a GOAWAY of ours promised to finish

    # --- opening ----------------------------------------------------------------------------
    def initiate(self) -> None:
        """A fresh connection (ALPN h2 or prior-knowledge h2c): our SETTINGS go first."""
        self._conn.initiate_connection()
        self._open_connection_window()
        self._scanner = _Scanner(self._flood, self._max_header_bytes, self._clock, preface=True)

    def initiate_upgrade(self, settings_header: bytes, request: events.Request) -> events.Request:
        """After ``101 Switching Protocols`` for ``Upgrade: h2c`` (RFC 7540 3.2): the
        client's HTTP2-Settings apply and the upgrade request becomes stream 1, already
        half-closed (remote).  Returns that request as HTTP/2 stream 1."""
        self._conn.initiate_upgrade_connection(settings_header)
        self._open_connection_window()
        self._scanner = _Scanner(self._flood, self._max_header_bytes, self._clock, preface=True)
        headers = [(n, v) for n, v in request.headers
                   if n not in _CONNECTION_SPECIFIC and n != b"http2-settings"]
        self._methods[1] = request.method
        return events.Request(1, request.method, request.target, headers, b"2",
                              request.content_length, False, False, True)

    def _open_connection_window(self) -> None:
        extra = self._connection_window - 65535
        if extra > 0:
            self._conn.increment_flow_control_window(extra)

    # --- state ---------------------------------------------------------------------------------
    @property
    def push_enabled(self) -> bool:
        """Server push is allowed by our config and by the client's SETTINGS_ENABLE_PUSH."""
        return self._push and bool(self._conn.remote_settings.enable_push) and not self.closed

    @property
    def open_streams(self) -> int:
        return self._conn.open_inbound_streams

    @property
    def highest_stream_id(self) -> int:
        return self._conn.highest_inbound_stream_id

    def sendable(self, stream_id: int) -> int:
        """Body bytes the stream may send now without waiting for the peer's window."""
        try:
            window = self._conn.local_flow_control_window(stream_id)
        except h2.exceptions.ProtocolError:  # closed or reset
            return 0
        out = self._out.get(stream_id)
        return max(0, window - (out.size if out is not None else 0))

    def buffered(self, stream_id: int) -> int:
        """Body bytes queued in this adapter for the stream (waiting for window)."""
        out = self._out.get(stream_id)
        return out.size if out is not None else 0

    def take_writable(self) -> set[int]:
        """The streams whose queued output drained since the last call."""
        writable, self._writable = self._writable, set()
        return writable

    def data_to_send(self) -> bytes:
        return self._conn.data_to_send()

    # --- input --------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[events.Event]:
        if self.closed:
            return []
        scanner = self._scanner
        if scanner is None:
            raise LocalProtocolError("initiate() or initiate_upgrade() first")
        try:
            scanner.scan(data)
        except _Flood as exc:
            return self._fail(str(exc), ErrorCodes.ENHANCE_YOUR_CALM, send=True)
        try:
            received = self._conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued GOAWAY with the exception's code already.
            return self._fail(str(exc) or type(exc).__name__,
                              getattr(exc, "error_code", ErrorCodes.PROTOCOL_ERROR), send=False)
        out: list[events.Event] = []
        refused: set[int] = set()
        ev: Any  # h2's events; the type identity checks below pick each one's class
        for ev in received:
            kind = type(ev)
            if refused and getattr(ev, "stream_id", 0) in refused:
                continue
            if kind is h2.events.DataReceived:
                sid = ev.stream_id
                held = self._held.get(sid)
                if held is not None:
                    self._held[sid] = held + ev.flow_controlled_length
                elif ev.flow_controlled_length:
                    self._conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                if ev.data:
                    out.append(events.Body(sid, ev.data))
            elif kind is h2.events.RequestReceived:
                if self.draining and ev.stream_id > self.last_stream_id:
                    self._conn.reset_stream(ev.stream_id, ErrorCodes.REFUSED_STREAM)
                    refused.add(ev.stream_id)
                    continue
                out.append(self._request(ev))
            elif kind is h2.events.StreamEnded:
                sid = ev.stream_id
                out.append(events.EndBody(sid, self._trailers.pop(sid, [])))
            elif kind is h2.events.TrailersReceived:
                self._trailers[ev.stream_id] = [(n, v) for n, v in ev.headers]
            elif kind is h2.events.WindowUpdated:
                self._window_opened(ev.stream_id)
            elif kind is h2.events.StreamReset:
                sid = ev.stream_id
                self._forget(sid)
                out.append(events.StreamClosed(sid))
            elif kind is h2.events.RemoteSettingsChanged:
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in ev.changed_settings:
                    self._window_opened(0)
            elif kind is h2.events.ConnectionTerminated:
                self.peer_error_code = int(ev.error_code or 0)
                self.closed = True
                out.append(events.RemoteError(0, f"peer sent GOAWAY ({ev.error_code!s})", 400))
                break
        return out

    def _request(self, ev: h2.events.RequestReceived) -> events.Request:
        method = target = authority = protocol = b""
        headers: events.Headers = []
        host = False
        cl: int | None = None
        expect = False
        for name, value in ev.headers:
            if name[0] == 58:  # b":"
                if name == b":method":
                    method = value
                elif name == b":path":
                    target = value
                elif name == b":authority":
                    authority = value
                elif name == b":protocol":
                    protocol = value
                continue
            if name == b"host":
                host = True
            elif name == b"content-length":
                # h2 checks the body against it; a bad value ends in a stream reset
                cl = int(value) if value.isdigit() else None
            elif name == b"expect":
                expect = value.lower() == b"100-continue"
            headers.append((name, value))
        if not host and authority:
            headers.insert(0, (b"host", authority))
        if protocol:
            headers.append((b":protocol", protocol))
        if not target and method == b"CONNECT":
            target = authority
        sid = ev.stream_id
        self._methods[sid] = method
        if ev.stream_ended is not None:
            cl = 0  # END_STREAM on HEADERS: no body at all (the EndBody follows)
        # A body without Content-Length is framed by DATA frames: like HTTP/1.1 chunked.
        chunked = cl is None
        return events.Request(sid, method, target, headers, b"2", cl, chunked, expect, True)

    def _fail(self, reason: str, code: int, *, send: bool) -> list[events.Event]:
        if send:
            self._conn.close_connection(error_code=code)
        self.error_code = int(code)
        self.closed = True
        hint = 431 if "header" in reason.lower() else 400
        return [events.RemoteError(0, f"{reason} (GOAWAY {ErrorCodes(code).name})", hint)]

    # --- inbound flow control -----------------------------------------------------------------
    def hold(self, stream_id: int) -> None:
        """Stop handing window back for this stream (its reader is behind)."""
        self._held.setdefault(stream_id, 0)

    def is_held(self, stream_id: int) -> bool:
        return stream_id in self._held

    def release(self, stream_id: int) -> None:
        """Hand back the window held for this stream, and keep doing so as data arrives."""
        held = self._held.pop(stream_id, 0)
        if held and not self.closed:
            try:
                self._conn.acknowledge_received_data(held, stream_id)
            except h2.exceptions.ProtocolError:
                pass

    # --- output -------------------------------------------------------------------------------
    def send(self, event: events.Event) -> bytes:
        """Serialise one response event; returns what can be written now."""
        if self.closed:
            return b""
        kind = type(event)
        sid = event.stream_id
        try:
            if kind is events.Data:
                self._data(sid, event.data)  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
            elif kind is events.Response:
                self._head(sid, event)  # type: ignore[arg-type]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
            elif kind is events.EndData:
                self._end(sid, event.trailers)  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
            elif kind is events.InformationalResponse:
                status = event.status  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
                if not 100 <= status < 200 or status == 101:
                    raise LocalProtocolError(f"not an informational status: {status!r}")
                self._conn.send_headers(sid, [(b":status", _STATUS[status]),
                                              *self._fields(event.headers)])  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
            else:
                raise LocalProtocolError(f"cannot send {kind.__name__} on HTTP/2")
        except (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError):
            self._forget(sid)  # the peer reset the stream: what we had to say goes nowhere
        return self._conn.data_to_send()

    def send_whole(self, stream_id: int, status: int, headers: events.Headers,
                   body: bytes) -> bytes:
        """Response + Data + EndData in one call (the common small response): HEADERS and
        one DATA frame ending the stream, the frames the three ``send()`` calls make,
        without the stream's output queue.  Anything else takes those three calls."""
        conn = self._conn
        if (body and not self.closed and 200 <= status <= 599 and status != 204
                and status != 304 and stream_id not in self._out
                and self._methods.get(stream_id) != b"HEAD"):
            try:
                if len(body) <= min(conn.local_flow_control_window(stream_id),
                                    conn.max_outbound_frame_size):
                    conn.send_headers(stream_id, [(b":status", _STATUS[status]),
                                                  *self._fields(headers)])
                    conn.send_data(stream_id, body, end_stream=True)
                    self._done(stream_id)
                    return conn.data_to_send()
            except (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError):
                self._forget(stream_id)
                return conn.data_to_send()
            except h2.exceptions.ProtocolError:
                pass  # (a stream h2 no longer knows) the plain path says what is wrong
        return (self.send(events.Response(stream_id, status, headers))
                + self.send(events.Data(stream_id, body))
                + self.send(events.EndData(stream_id)))

    @staticmethod
    def _fields(headers: events.Headers) -> events.Headers:
        return [(n.lower(), v) for n, v in headers if n.lower() not in _CONNECTION_SPECIFIC]

    def _head(self, sid: int, event: events.Response) -> None:
        status = event.status
        if type(status) is not int or not 200 <= status <= 599:
            raise LocalProtocolError(f"invalid final status {status!r}")
        out = self._out.get(sid)
        if out is None:
            out = self._out[sid] = _Out()
        if out.head_sent:
            raise LocalProtocolError("response head already sent")
        out.head_sent = True
        out.no_body = status == 204 or status == 304 or self._methods.get(sid) == b"HEAD"
        # No body can follow: the HEADERS frame ends the stream (no empty DATA frame).
        self._conn.send_headers(sid, [(b":status", _STATUS[status]), *self._fields(event.headers)],
                                end_stream=out.no_body)

    def _data(self, sid: int, data: bytes) -> None:
        out = self._out.get(sid)
        if out is None or not out.head_sent:
            if sid in self._gone:
                return
            raise LocalProtocolError("Data before the response head")
        if out.end:
            raise LocalProtocolError("Data after EndData")
        if out.no_body or not data:
            return
        out.chunks.append(memoryview(data))
        out.size += len(data)
        if out.size >= _LAZY:
            self._flush_stream(sid, out)

    def flush(self, stream_id: int) -> bytes:
        """Send the body bytes ``send(Data)`` kept back (see ``_LAZY``), window permitting."""
        out = self._out.get(stream_id)
        if out is not None and out.size and not self.closed:
            self._flush_safely(stream_id, out)
        return self._conn.data_to_send()

    def _end(self, sid: int, trailers: events.Headers) -> None:
        out = self._out.get(sid)
        if out is None or not out.head_sent:
            if sid in self._gone:
                return
            raise LocalProtocolError("EndData before the response head")
        if out.no_body:
            self._done(sid)  # ended with the head
            return
        out.end = True
        out.trailers = self._fields(trailers) if trailers else []
        self._flush_stream(sid, out)

    def _flush_stream(self, sid: int, out: _Out) -> None:
        """Send what the windows allow; the end goes out once the queue is empty."""
        conn = self._conn
        if out.size:
            frame = conn.max_outbound_frame_size
            window = conn.local_flow_control_window(sid)
            chunks = out.chunks
            while out.size and window > 0:
                n = min(window, frame, out.size)
                first = chunks[0]
                if len(first) <= n:
                    piece = chunks.popleft()
                    n = len(piece)
                else:
                    piece = first[:n]
                    chunks[0] = first[n:]
                out.size -= n
                window -= n
                last = out.end and not out.size and not out.trailers
                conn.send_data(sid, piece.tobytes(), end_stream=last)
                if last:
                    self._done(sid)
                    return
            if out.size:
                return
            self._writable.add(sid)
        if out.end:
            if out.trailers:
                conn.send_headers(sid, out.trailers, end_stream=True)
            else:
                conn.end_stream(sid)
            self._done(sid)

    def _done(self, sid: int) -> None:
        self._out.pop(sid, None)
        gone = self._gone
        gone[sid] = None
        if len(gone) > _GONE_KEPT:
            del gone[next(iter(gone))]
        self._methods.pop(sid, None)
        self._writable.add(sid)

    def _window_opened(self, sid: int) -> None:
        if sid:
            out = self._out.get(sid)
            if out is not None and (out.size or out.end):
                self._flush_safely(sid, out)
            return
        for sid2, out in list(self._out.items()):  # the connection window: everyone
            if out.size:
                self._flush_safely(sid2, out)

    def _flush_safely(self, sid: int, out: _Out) -> None:
        try:
            self._flush_stream(sid, out)
        except (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError):
            self._forget(sid)

    def _forget(self, sid: int) -> None:
        """The stream is gone (reset): drop its output and hand back the window it held."""
        self._out.pop(sid, None)
        gone = self._gone
        gone[sid] = None
        if len(gone) > _GONE_KEPT:
            del gone[next(iter(gone))]
        self._methods.pop(sid, None)
        self._trailers.pop(sid, None)
        held = self._held.pop(sid, 0)
        if held and not self.closed:
            # h2 only updates the connection window for a closed stream
            self._conn.acknowledge_received_data(held, sid)
        self._writable.add(sid)

    # --- stream and connection control -------------------------------------------------------
    def reset(self, stream_id: int, code: int = ErrorCodes.CANCEL) -> bytes:
        """RST_STREAM: we will not finish this stream (refused, app failed, body refused)."""
        if not self.closed:
            try:
                self._conn.reset_stream(stream_id, code)
            except h2.exceptions.ProtocolError:
                pass  # already closed
            self._forget(stream_id)
        return self._conn.data_to_send()

    def push(self, parent_id: int, request_headers: events.Headers) -> int | None:
        """PUSH_PROMISE on ``parent_id`` for a GET with these (pseudo-)headers; returns the
        promised stream id, or None when push is not possible now."""
        if not self.push_enabled:
            return None
        conn = self._conn
        try:
            promised = conn.get_next_available_stream_id()
            conn.push_stream(parent_id, promised, request_headers)
        except h2.exceptions.ProtocolError:
            return None
        self._methods[promised] = b"GET"
        return promised

    def shutdown(self) -> bytes:
        """Graceful GOAWAY(NO_ERROR): the streams seen so far are finished, later ones are
        refused.  The frame is made here, not by h2: h2's state machine would refuse to
        send anything after its own GOAWAY, and the in-flight responses must still go."""
        if self.closed or self.draining:
            return self._conn.data_to_send()
        self.draining = True
        self.last_stream_id = self._conn.highest_inbound_stream_id
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.last_stream_id
        frame.error_code = ErrorCodes.NO_ERROR
        self.error_code = ErrorCodes.NO_ERROR
        return self._conn.data_to_send() + frame.serialize()

    def close(self, code: int = ErrorCodes.NO_ERROR) -> bytes:
        """GOAWAY with ``code``; nothing more is sent or parsed after it."""
        if not self.closed:
            self._conn.close_connection(code)
            self.error_code = int(code)
            self.closed = True
        return self._conn.data_to_send()
