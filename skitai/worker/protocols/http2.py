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
(the stream's body buffer is above its high-water mark).  A held stream's bytes are
acknowledged at once for the connection (they are buffered: nginx and h2o do the same)
and for the stream only on ``release()``, so a client that sends faster than the app
reads is stopped by its own stream window while the other streams of the connection
go on, uploads included: held streams never spend the connection window (once they
did, and 16 held streams of 256 KiB stalled 4 MiB of it).  What a held stream buffers
is bounded by its stream window (plus the body buffer's high-water mark), so a
connection by that times SETTINGS_MAX_CONCURRENT_STREAMS.  Acknowledged bytes become
WINDOW_UPDATE frames in steps of half a window, per stream and for the connection (h2's
``WindowManager``, as nghttp2 does: 10 MiB of 16 KiB frames get about 85 of them, not
1280), or at once when the window is empty (no stream stalls).

*Limits and floods.*  Before h2 sees the bytes, a small frame-header scanner counts what
the known attacks are made of, per time window: RST_STREAM from the client (rapid reset,
CVE-2023-44487), SETTINGS and PING frames (their ACKs are output the peer may never
read), and the size and frame count of a header block being assembled from CONTINUATION
frames (CVE-2024-27316 and relatives: h2 would buffer up to 64 frames of any size).
Tripping one closes the connection with GOAWAY ENHANCE_YOUR_CALM.  h2 itself enforces
SETTINGS_MAX_HEADER_LIST_SIZE (ENHANCE_YOUR_CALM), SETTINGS_MAX_CONCURRENT_STREAMS and
framing (PROTOCOL_ERROR and the other codes RFC 9113 names); its code is the GOAWAY's.
The field limits of HTTP/1.1 (``max_header_fields``, ``max_header_field_size``; Cookie
crumbs count as one field) are a stream error: a ``RemoteError`` with the stream's id and
431 (RFC 9113 10.5.1), the connection answers it with ``refuse()``; trailers over them
the same.  A ``:path`` that would make the HTTP/1.1 request line longer than
``max_request_line`` is such a stream error with 414.  SETTINGS_MAX_HEADER_LIST_SIZE is ``max_header_bytes``, the limit h2's decoder
and the scanner enforce.

*The fast path.*  A request in one HEADERS frame with END_STREAM on a new stream (a GET,
what a browser or h2load sends most) is not given to h2: h2's frame objects, its two state
machines and its chain of validating generators cost about 300k instructions per request
of the hello world.  The scanner marks such frames (``_Scanner.fast``); ``feed()`` passes
the bytes between them to h2 as before, and takes each marked frame itself when h2's
state allows nothing else to happen (``_fast_headers``): h2's HPACK decoder decodes the
block, ``_request`` checks the fields as h2 would (same verdicts, tested against
h2.utilities on a corpus; a refused block is h2's GOAWAY PROTOCOL_ERROR), and the stream
stays "lazy": unknown to h2 until anything but a whole response touches it, then made
h2's in the state h2 would have it in (``_materialize``: before any other frame reaches
h2, and before any other output on it).  ``send_whole`` on a lazy stream writes the
HEADERS and DATA frames h2 would and moves h2's state as h2 would (the connection window,
the stream recorded closed by END_STREAM).  A connection WINDOW_UPDATE is taken the same
way (``_fast_window``).  The events of a read, h2's and the fast path's, are answered
(windows, refusals) once all of it is read, as after one h2 read: a frame refused later
in the read leaves nothing answered, on either path (tests/unit/worker/protocols/
test_http2_fuzz.py compares the two paths on random input; ``fast_path`` False is h2's
alone).  A request block that repeats byte for byte while the HPACK table
stays unchanged (``_BlockDecoder``) reuses the request read from it the first time.

*Graceful stop.*  ``shutdown()`` sends GOAWAY(NO_ERROR) naming the highest stream seen:
streams up to it are finished, later ones are refused by h2 / the connection.
"""

from __future__ import annotations

import collections
import re
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
import h2.stream
import hpack.hpack
import hpack.table
from h2.connection import ConnectionState
from h2.connection import _decode_headers as _h2_decode_headers
from hyperframe.frame import GoAwayFrame, WindowUpdateFrame

from skitai import h2repr  # noqa: F401 - side effect: received frames cost less (see there)
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
_DATA, _HEADERS, _RST, _SETTINGS, _PUSH, _PING, _WINDOW, _CONT = 0, 1, 3, 4, 5, 6, 8, 9
_END_HEADERS: Final = 0x4
_END_STREAM: Final = 0x1
# HEADERS flags: END_STREAM 0x1, END_HEADERS 0x4, PADDED 0x8, PRIORITY 0x20 (browsers
# send it; its 5 bytes are skipped, as h2 ignores them but for a self-dependency).
_FAST_MASK: Final = 0x0D
_FAST_FLAGS: Final = 0x05
_PRIORITY: Final = 0x20
_ACK: Final = 0x1

# Fields that are connection-specific in HTTP/1.1 and forbidden in HTTP/2 (RFC 9113 8.2.2).
_CONNECTION_SPECIFIC: Final = frozenset((b"connection", b"keep-alive", b"proxy-connection",
                                         b"transfer-encoding", b"upgrade"))
_STATUS: Final = {s: b"%d" % s for s in range(100, 600)}
_STATUS_FIELD: Final = {s: (b":status", v) for s, v in _STATUS.items()}
_SERVER_OPEN: Final = ConnectionState.SERVER_OPEN
_CONN_CLOSED: Final = ConnectionState.CLOSED
# h2's HPACK decoding, with HPACK errors turned into its ProtocolError subclasses
_decode_headers: Final = _h2_decode_headers
# The fast path's events, among h2's of the same read (Http2Adapter._answer)
_OURS: Final = frozenset((events.Request, events.EndBody, events.RemoteError))
_REQUEST_PSEUDO: Final = frozenset((b":method", b":scheme", b":authority", b":path",
                                    b":status", b":protocol"))
# Bytes a field name may hold after a leading ":" (RFC 9113 8.2.1: none of 0x00-0x20,
# 0x41-0x5a, 0x7f-0xff, nor a colon): deleted by translate(), what is left is wrong.
_NAME_CHARS: Final = bytes(c for c in range(0x21, 0x7F) if not 0x41 <= c <= 0x5A and c != 0x3A)
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")


def _check_field(name: bytes, value: bytes) -> None:
    """What h2 checks of every received field (h2.utilities._reject_illegal_characters,
    _reject_empty_header_names), as its ProtocolError."""
    if not name:
        raise h2.exceptions.ProtocolError("Received header name with zero length.")
    if (name[1:] if name[0] == 58 else name).translate(None, _NAME_CHARS):
        raise h2.exceptions.ProtocolError(f"Illegal character in header name: {name!r}")
    if value and _BAD_VALUE.search(value):
        raise h2.exceptions.ProtocolError(f"Illegal header value: {value!r}")


def _check_pseudo(pseudo: set[bytes], method: bytes, path: bytes, authority: bytes,
                  host: bytes | None) -> None:
    """What h2 checks of a request block's pseudo-header fields and Host once the block
    is read (h2.utilities._check_pseudo_header_field_acceptability,
    _validate_host_authority_header, _check_path_header)."""
    if b":method" not in pseudo:
        raise h2.exceptions.ProtocolError("Header block missing mandatory b':method' header")
    connect = method == b"CONNECT"
    if connect and b":protocol" not in pseudo:
        if b":scheme" in pseudo or b":path" in pseudo:
            raise h2.exceptions.ProtocolError("Ordinary CONNECT MUST NOT include :scheme or :path")
    elif b":scheme" not in pseudo or b":path" not in pseudo:
        raise h2.exceptions.ProtocolError("Header block missing mandatory :scheme or :path")
    if b":status" in pseudo:
        raise h2.exceptions.ProtocolError("Encountered response-only headers {b':status'}")
    if not connect and b":protocol" in pseudo:
        raise h2.exceptions.ProtocolError("Encountered connect-request-only headers")
    has_authority = b":authority" in pseudo
    if not has_authority and host is None:
        raise h2.exceptions.ProtocolError(
            "Request header block does not have an :authority or Host header.")
    if has_authority and host is not None and authority != host:
        raise h2.exceptions.ProtocolError("Request header block has mismatched :authority and Host")
    if b":path" in pseudo and not path:
        raise h2.exceptions.ProtocolError("An empty :path header is forbidden")
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


# A request the fast path read from a kept block: method, target, fields, Expect:
# 100-continue, and the stream error it got instead (431), if any.
_Known = tuple[bytes, bytes, tuple[tuple[bytes, bytes], ...], bool, "events.RemoteError | None"]


class _BlockDecoder(hpack.hpack.Decoder):
    """HPACK decoding that remembers the last header blocks made only of indexed fields.

    Such a block (every representation an index, RFC 7541 6.1) changes nothing in the
    decoder, and its fields depend only on the dynamic table; a keep-alive client that
    asks again and again sends the very same bytes (h2load, a browser polling an API).
    Its decoded fields are kept until a block of any other kind is decoded (which may
    change the table: everything kept is dropped), so a kept answer is always what
    decoding would give.  Every field of every request is still validated (by h2, or by
    ``_request`` on the fast path, which keeps its verdict beside the block: ``requests``)."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[bytes, list[Any]] = {}
        # What the adapter made of a kept block (its request, checked), dropped with it
        self.requests: dict[bytes, _Known] = {}

    def decode(self, data: bytes, raw: bool = False) -> Any:
        kept = self._kept
        known = kept.get(data) if raw else None
        if known is not None:
            return list(known)
        fields = list(super().decode(data, raw))
        if not raw or not _only_indexed(data):
            kept.clear()
            self.requests.clear()
        elif len(kept) < 64:
            kept[bytes(data)] = fields[:]
        return fields

    def is_kept(self, data: bytes) -> bool:
        return data in self._kept


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
        self._given: dict[tuple[bytes, bytes], bytes] = {}  # encode_response's

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

    def encode_response(self, status: tuple[bytes, bytes], headers: events.Headers) -> bytes:
        """``encode([status, *Http2Adapter._fields(headers)])`` without the list: each
        field as the app gave it maps to its encoding after lower-casing (nothing for a
        connection-specific field), remembered as ``encode`` remembers its fields."""
        block = []
        if self.header_table.resized:
            block.append(self._encode_table_size_change())
            self.header_table.resized = False
        cache = self._fields
        encoded = cache.get(status)
        block.append(encoded if encoded is not None else self._field(status))
        given = self._given
        for field in headers:
            encoded = given.get(field)
            if encoded is None:
                name = field[0].lower()
                if name in _CONNECTION_SPECIFIC:
                    encoded = b""
                else:
                    lowered = (name, field[1])
                    encoded = cache.get(lowered)
                    if encoded is None:
                        encoded = self._field(lowered)
                if type(field) is tuple and name not in _NEVER_INDEXED and len(field[1]) <= 256:
                    if len(given) >= _FIELD_CACHE_MAX:
                        given.clear()
                    given[field] = encoded
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
                 "_frames", "_window_end", "_resets", "_settings", "_pings", "fast")

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
        self.fast: list[int] = []

    def scan(self, data: bytes) -> None:
        """Count what ``data`` holds; ``fast`` becomes the offsets of the HEADERS frames
        the fast path may take (see ``Http2Adapter._fast_headers``)."""
        self.fast = []
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
        fast = self.fast
        while pos < end:
            if end - pos < 9:
                self._partial = data[pos:]
                return
            outside = self._block < 0
            self._frame(data, pos)
            # A whole HEADERS frame (END_HEADERS and END_STREAM, not PADDED) outside a
            # header block: the adapter's fast path may take it.
            # And a connection WINDOW_UPDATE (the client acknowledging our DATA).
            kind = data[pos + 3]
            if outside and pos + 9 + self._skip <= end and (
                    (kind == _HEADERS and data[pos + 4] & _FAST_MASK == _FAST_FLAGS)
                    or (kind == _WINDOW and self._skip == 4
                        and not (data[pos + 5] | data[pos + 6] | data[pos + 7] | data[pos + 8]))):
                fast.append(pos)
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

    # False: every frame goes through h2 (the fast path off).  For the tests that compare
    # the fast path with h2's own path on the same input (test_http2_fuzz.py).
    fast_path = True

    def __init__(
        self,
        *,
        max_header_bytes: int = 65536,
        max_header_fields: int = 100,
        max_header_field_size: int = 8190,
        max_request_line: int = 4094,
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
        # Inbound fields keep h2's full validation (the fast path makes the same checks).
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
        conn.decoder = self._decoder = _BlockDecoder()
        conn.decoder.max_header_list_size = max_header_bytes
        conn.encoder = self._encoder = _FieldEncoder()
        self._conn = conn
        self._connection_window = max(connection_window, 65535)
        self._max_header_bytes = max_header_bytes
        self._max_fields = max_header_fields
        self._max_field = max_header_field_size
        self._max_line = max_request_line
        # Streams the fast path opened that h2 has not been told of (see _fast_headers)
        self._lazy: dict[int, None] = {}
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
        if self._lazy:
            self._materialize()
        return self._conn.open_inbound_streams

    @property
    def highest_stream_id(self) -> int:
        return self._conn.highest_inbound_stream_id

    def sendable(self, stream_id: int) -> int:
        """Body bytes the stream may send now without waiting for the peer's window."""
        if self._lazy:
            self._materialize()
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
        out: list[events.Event] = []
        try:
            # While draining, h2 reads it all: the streams above last_stream_id are refused
            # after each h2 read, and a read cut at a fast frame would refuse them sooner.
            fast = scanner.fast if self.fast_path and not self.draining else None
            if not fast:
                self._receive(data, out)
                return out
            # Frames in order: the runs between fast HEADERS frames go through h2.  The
            # events of the whole read (h2's, and the fast path's own) are answered once
            # it is all read, as after one h2 read: nothing is answered (no DATA sent for
            # a window, no stream refused) when a frame later in the read is refused.
            conn = self._conn
            got: list[Any] = []
            start = 0
            for pos in fast:
                if pos > start:
                    if self._lazy:
                        self._materialize()
                    got += conn.receive_data(data[start:pos])
                if (self._fast_headers(data, pos, got) if data[pos + 3] == _HEADERS
                        else self._fast_window(data, pos, got)):
                    start = pos + 9 + ((data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2])
                else:
                    start = pos  # h2 takes it with the next run
            if start < len(data):
                if self._lazy:
                    self._materialize()
                got += conn.receive_data(data[start:] if start else data)
            self._answer(got, out)
        except h2.exceptions.ProtocolError as exc:
            # What h2's receive_data does for a frame it refuses (GOAWAY with the
            # exception's code, queued; no event of this read is delivered).
            if self._conn.state_machine.state is not _CONN_CLOSED:
                self._conn._terminate_connection(  # noqa: SLF001 - h2's own GOAWAY path
                    getattr(exc, "error_code", ErrorCodes.PROTOCOL_ERROR))
            return self._fail(str(exc) or type(exc).__name__,
                              getattr(exc, "error_code", ErrorCodes.PROTOCOL_ERROR), send=False)
        return out

    def _fast_headers(self, data: bytes, pos: int, out: list[Any]) -> bool:
        """A new stream's request in one HEADERS frame with END_STREAM, taken without h2's
        frame objects, state machines and validation generators: the HPACK block is decoded
        by h2's decoder (same errors), the fields checked here as h2 checks them
        (``_request``), and the stream stays out of h2 (``_lazy``) until something else
        needs it there (``_materialize``): a whole response (``send_whole``) ends it with
        h2 none the wiser but its windows and closed-stream record.  False: h2 takes the
        frame (a state this path does not reproduce)."""
        conn = self._conn
        sid = ((data[pos + 5] << 24) | (data[pos + 6] << 16) | (data[pos + 7] << 8)
               | data[pos + 8]) & 0x7FFFFFFF
        length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
        priority = data[pos + 4] & _PRIORITY
        if conn.streams:
            # What h2 does for each new stream: it counts the open ones and drops the
            # closed (a closed stream kept would still take a SETTINGS window change,
            # which may overflow its window: FLOW_CONTROL_ERROR).
            conn.open_inbound_streams  # noqa: B018 - the property's side effect
        if (self.draining or not sid & 1 or sid <= conn.highest_inbound_stream_id
                or conn.state_machine.state is not _SERVER_OPEN
                or length > conn.max_inbound_frame_size
                or len(conn.streams) + len(self._lazy)
                >= conn.local_settings.max_concurrent_streams
                or (priority and length < 5)):
            return False
        if priority:
            depends = ((data[pos + 9] << 24) | (data[pos + 10] << 16) | (data[pos + 11] << 8)
                       | data[pos + 12]) & 0x7FFFFFFF
            block = data[pos + 14:pos + 9 + length]
        else:
            depends = 0
            block = data[pos + 9:pos + 9 + length]
        decoder = self._decoder
        known = decoder.requests.get(block)
        if known is not None:
            # The same block as an earlier request, the decoder's table unchanged since:
            # the same fields, so the same verdict and the same request (_BlockDecoder).
            conn.highest_inbound_stream_id = sid
            if depends == sid:
                raise h2.exceptions.ProtocolError(f"Stream {sid} may not depend on itself")
            self._lazy[sid] = None
            method, target, fields, expect, refused = known
            self._methods[sid] = method
            if refused is not None:
                out.append(events.RemoteError(sid, refused.reason, refused.status_hint))
            else:
                out.append(events.Request(sid, method, target, list(fields), b"2", 0, False,
                                          expect, True))
            out.append(events.EndBody(sid))  # (after a refusal too, as h2's path has it)
            return True
        headers = _decode_headers(decoder, block)
        conn.highest_inbound_stream_id = sid
        self._lazy[sid] = None
        request = self._request(sid, headers, True, check=True)
        if depends == sid:  # (h2 checks it after the fields)
            raise h2.exceptions.ProtocolError(f"Stream {sid} may not depend on itself")
        out.append(request)
        out.append(events.EndBody(sid))  # (after a refusal too, as h2's path has it)
        if type(request) is events.Request:
            if decoder.is_kept(block):
                decoder.requests[block] = (request.method, request.target, tuple(request.headers),
                                           request.expect_continue, None)
        elif type(request) is events.RemoteError and decoder.is_kept(block):
            decoder.requests[block] = (self._methods[sid], b"", (), False, request)
        return True

    def _fast_window(self, data: bytes, pos: int, out: list[Any]) -> bool:
        """A WINDOW_UPDATE for the connection, as h2 takes it (its window grows; the
        streams waiting for window send), without making the lazy streams h2's."""
        conn = self._conn
        increment = ((data[pos + 9] << 24) | (data[pos + 10] << 16) | (data[pos + 11] << 8)
                     | data[pos + 12]) & 0x7FFFFFFF
        window = conn.outbound_flow_control_window + increment
        if not increment or window > 2**31 - 1 or conn.state_machine.state is not _SERVER_OPEN:
            return False  # h2 says what is wrong
        conn.outbound_flow_control_window = window
        # answered with the read's other events, as h2's own would be
        out.append(h2.events.WindowUpdated(stream_id=0, delta=increment))
        return True

    def _receive(self, data: bytes, out: list[events.Event]) -> None:
        """Bytes through h2 (raises its ProtocolError); its events appended to ``out``."""
        if self._lazy:
            self._materialize()
        self._answer(self._conn.receive_data(data), out)

    def _answer(self, received: list[Any], out: list[events.Event]) -> None:
        """h2's events of a read turned into ours (and the fast path's, ``_OURS``, kept in
        their place), with what the adapter does for them (windows, refusals)."""
        refused: set[int] = set()
        ev: Any  # h2's events; the type identity checks below pick each one's class
        for ev in received:
            kind = type(ev)
            if refused and getattr(ev, "stream_id", 0) in refused:
                continue
            if kind in _OURS:
                out.append(ev)
            elif kind is h2.events.DataReceived:
                sid = ev.stream_id
                size = ev.flow_controlled_length
                held = self._held.get(sid)
                if held is not None:
                    # The connection's window comes back now (the bytes are buffered),
                    # the stream's once its reader takes them (release).
                    self._held[sid] = held + size
                    if size:
                        self._ack_connection(size)
                elif size:
                    self._conn.acknowledge_received_data(size, sid)
                if ev.data:
                    out.append(events.Body(sid, ev.data))
            elif kind is h2.events.RequestReceived:
                if self.draining and ev.stream_id > self.last_stream_id:
                    try:
                        self._conn.reset_stream(ev.stream_id, ErrorCodes.REFUSED_STREAM)
                    except h2.exceptions.StreamClosedError:
                        pass  # a later frame of this read closed it (h2 answered that)
                    refused.add(ev.stream_id)
                    continue
                out.append(self._request(ev.stream_id, ev.headers, ev.stream_ended is not None))
            elif kind is h2.events.StreamEnded:
                sid = ev.stream_id
                out.append(events.EndBody(sid, self._trailers.pop(sid, [])))
            elif kind is h2.events.TrailersReceived:
                trailers = [(n, v) for n, v in ev.headers]
                if len(trailers) > self._max_fields \
                        or any(len(n) + len(v) > self._max_field for n, v in trailers):
                    out.append(events.RemoteError(ev.stream_id, "trailer fields over the limits",
                                                  431))
                    refused.add(ev.stream_id)  # (its EndBody with them: not delivered)
                else:
                    self._trailers[ev.stream_id] = trailers
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

    def _materialize(self) -> None:
        """Give h2 the streams the fast path kept from it, in the state its own path
        leaves them in after a HEADERS frame with END_STREAM (half-closed, remote), so
        that anything h2 does next (frames on them, SETTINGS that change every stream's
        window, our output) finds them as if h2 had seen them arrive."""
        conn = self._conn
        inbound = conn.local_settings.initial_window_size
        outbound = conn.remote_settings.initial_window_size
        frame = conn.max_outbound_frame_size
        for sid in self._lazy:
            stream = h2.stream.H2Stream(sid, config=conn.config, inbound_window_size=inbound,
                                        outbound_window_size=outbound)
            stream.max_outbound_frame_size = frame
            machine = stream.state_machine
            machine.state = h2.stream.StreamState.HALF_CLOSED_REMOTE
            machine.client = False
            machine.headers_received = True
            conn.streams[sid] = stream
        self._lazy.clear()

    def _request(self, sid: int, fields: Iterable[tuple[bytes, bytes]], ended: bool,
                 check: bool = False) -> events.Request | events.RemoteError:
        """The request of a HEADERS block (``ended``: END_STREAM on it).  ``check``: the
        fast path, where h2 did not validate the fields: every check h2 makes of a request
        block (RFC 9113 8.2, 8.3; h2.utilities.validate_headers and the Content-Length of
        H2Stream) is made here in one pass, raising h2's ProtocolError as h2 would.
        Within limits or not, a request over the field-count or field-size limit (those of
        HTTP/1.1) is a ``RemoteError`` for its stream (431): the connection answers it and
        the other streams go on (RFC 9113 10.5.1)."""
        method = target = authority = protocol = b""
        headers: events.Headers = []
        host: bytes | None = None
        cl: int | None = None
        expect = False
        size_limit = self._max_field
        too_large = b""
        cookies = crumbs = 0
        pseudo: set[bytes] | None = set() if check else None
        for name, value in fields:
            if check:
                _check_field(name, value)
            if name[0] == 58:  # b":"
                if pseudo is not None:
                    if headers:
                        raise h2.exceptions.ProtocolError(
                            f"Received pseudo-header field out of sequence: {name!r}")
                    if name in pseudo:
                        raise h2.exceptions.ProtocolError(
                            f"Received duplicate pseudo-header field {name!r}")
                    if name not in _REQUEST_PSEUDO:
                        raise h2.exceptions.ProtocolError(
                            f"Received custom pseudo-header field {name!r}")
                    pseudo.add(name)
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
                if check and host is not None:
                    raise h2.exceptions.ProtocolError(
                        "Request header block has multiple Host headers.")
                host = value
            elif name == b"content-length":
                # h2 checks the body against it; a bad value is h2's PROTOCOL_ERROR
                if check:
                    if not value.isdigit():
                        raise h2.exceptions.ProtocolError(f"Invalid content-length header: {value!r}")
                    if cl is not None and int(value) != cl:
                        raise h2.exceptions.ProtocolError("Conflicting content-length headers")
                cl = int(value) if value.isdigit() else None
            elif name == b"expect":
                expect = value.lower() == b"100-continue"
            elif name == b"cookie":
                # Crumbs (RFC 9113 8.2.3) count as the one Cookie field HTTP/1.1 has.
                cookies += len(value) + (2 if crumbs else 0)
                crumbs += 1
                if cookies > size_limit:
                    too_large = name
                headers.append((name, value))
                continue
            elif check and name in _CONNECTION_SPECIFIC:
                raise h2.exceptions.ProtocolError(
                    f"Connection-specific header field present: {name!r}.")
            elif check and name == b"te" and value.lower() != b"trailers":
                raise h2.exceptions.ProtocolError(f"Invalid value for TE header: {value!r}")
            if len(name) + len(value) > size_limit:
                too_large = name
            headers.append((name, value))
        if pseudo is not None:
            _check_pseudo(pseudo, method, target, authority, host)
        self._methods[sid] = method
        # The request line HTTP/1.1 would carry ("GET /path HTTP/1.1"): over its limit,
        # 414 on this stream, as HTTP/1.1 answers the same target (checked first there too).
        line = len(method) + len(target) + 10
        if line > self._max_line:
            return events.RemoteError(sid, f"request line too long ({line} > {self._max_line})",
                                      414)
        count = len(headers) - crumbs + 1 if crumbs else len(headers)
        if count > self._max_fields or too_large:
            what = (f"more than {self._max_fields} header fields" if count > self._max_fields
                    else f"header field {too_large[:64].decode('latin-1')!r} too large "
                    f"(over {size_limit} bytes)")
            return events.RemoteError(sid, what, 431)
        if host is None and authority:
            headers.insert(0, (b"host", authority))
        if protocol:
            headers.append((b":protocol", protocol))
        if not target and method == b"CONNECT":
            target = authority
        if ended:
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
        """Hand back the stream window held for this stream, and keep doing so as data
        arrives (the connection's was handed back as the data came)."""
        if self._lazy:
            self._materialize()
        held = self._held.pop(stream_id, 0)
        if held and not self.closed:
            stream = self._conn.streams.get(stream_id)
            if stream is not None and stream.open:
                self._conn._prepare_for_sending(  # noqa: SLF001 - h2's output of its frames
                    stream.acknowledge_received_data(held))

    def _ack_connection(self, size: int) -> None:
        """Received bytes handed back to the connection's window only (h2's
        ``acknowledge_received_data`` without its stream part)."""
        conn = self._conn
        increment = conn._inbound_flow_control_window_manager.process_bytes(size)  # noqa: SLF001 - h2's connection WindowManager
        if increment:
            frame = WindowUpdateFrame(0)
            frame.window_increment = increment
            conn._prepare_for_sending([frame])  # noqa: SLF001 - h2's output of its frames

    # --- output -------------------------------------------------------------------------------
    def send(self, event: events.Event) -> bytes:
        """Serialise one response event; returns what can be written now."""
        if self._lazy:
            self._materialize()
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
            if stream_id in self._lazy:
                whole = self._fast_whole(stream_id, status, headers, body)
                if whole is not None:
                    return whole
                self._materialize()
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

    def _fast_whole(self, sid: int, status: int, headers: events.Headers,
                    body: bytes) -> bytes | None:
        """``send_whole`` for a stream h2 has not been told of (``_fast_headers``): the
        frames h2 would make (HEADERS, with CONTINUATIONs if the block is larger than a
        frame, then one DATA with END_STREAM), written into h2's output, and h2's state
        moved as its own send path moves it: both flow-control windows the DATA used,
        and the stream recorded as closed by our END_STREAM.  None: h2 must do it."""
        conn = self._conn
        size = len(body)
        frame = conn.max_outbound_frame_size
        if (conn.state_machine.state is not _SERVER_OPEN
                or size > frame or size > conn.outbound_flow_control_window
                or size > conn.remote_settings.initial_window_size):
            return None
        block = self._encoder.encode_response(_STATUS_FIELD[status], headers)
        out = conn._data_to_send  # noqa: SLF001 - h2's output buffer, where its frames go
        n = len(block)
        if n <= frame:
            out += _HEADER.pack(n >> 8, n & 0xFF, _HEADERS, _END_HEADERS, sid)
            out += block
        else:
            kind = _HEADERS
            for at in range(0, n, frame):
                piece = block[at:at + frame]
                m = len(piece)
                out += _HEADER.pack(m >> 8, m & 0xFF, kind, _END_HEADERS if at + frame >= n else 0,
                                    sid)
                out += piece
                kind = _CONT
        out += _HEADER.pack(size >> 8, size & 0xFF, _DATA, _END_STREAM, sid)
        out += body
        conn.outbound_flow_control_window -= size
        del self._lazy[sid]
        conn._closed_streams[sid] = h2.stream.StreamClosedBy.SEND_END_STREAM  # noqa: SLF001 - where h2 records a stream it closed
        self._done(sid)
        return conn.data_to_send()

    def refuse(self, stream_id: int, status: int, headers: events.Headers, body: bytes) -> bytes:
        """Answer a request the app never sees (431), and RST_STREAM(NO_ERROR) if its body
        is still to come (RFC 9113 8.1: the client stops sending it)."""
        out = self.send_whole(stream_id, status, headers, body)
        stream = self._conn.streams.get(stream_id)
        if stream is not None and stream.state_machine.state \
                is h2.stream.StreamState.HALF_CLOSED_LOCAL:
            out += self.reset(stream_id, ErrorCodes.NO_ERROR)
        return out

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
        if self._lazy:
            self._materialize()
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
        self._held.pop(sid, None)  # (the connection's window: handed back on arrival)
        self._writable.add(sid)

    # --- stream and connection control -------------------------------------------------------
    def reset(self, stream_id: int, code: int = ErrorCodes.CANCEL) -> bytes:
        """RST_STREAM: we will not finish this stream (refused, app failed, body refused)."""
        if self._lazy:
            self._materialize()
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
        if self._lazy:
            self._materialize()
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
