"""WebSocket (RFC 6455, permessage-deflate RFC 7692) as a sans-IO adapter over ``wsproto``.

Theory.

*Handshake.*  The HTTP layer (``http1.py`` now, ``http2.py`` for RFC 8441) parses the
upgrade request into an ``events.Request``; ``accept(request)`` checks it and returns the
response headers (for a 101 over HTTP/1.1, a 200 over HTTP/2) and the negotiated
extensions, or raises ``HandshakeError`` with the status to answer (400, or 426 with
``Sec-WebSocket-Version: 13``).  We do the handshake ourselves instead of letting
wsproto's ``WSConnection`` parse raw HTTP: the request head is already parsed, and the
same frame layer then serves both HTTP versions.

*Frames.*  ``WebSocketAdapter`` wraps ``wsproto.connection.Connection`` (the frame layer
after the handshake).  ``feed(bytes)`` returns ``Message`` (a whole message, fragments
reassembled), ``Ping``/``Pong`` (a pong is queued automatically) and ``Closed``; every
byte to write is collected in ``data_to_send()`` (as h2 does).  Limits and failures:

- a message larger than ``max_message_size`` (counted as it arrives, after inflation, so
  neither a huge frame nor a deflate bomb is ever buffered whole) closes with 1009; so
  does a frame whose header alone declares more than the message may still hold;
- text that is not UTF-8 closes with 1007 (wsproto decodes incrementally);
- any framing violation (an unmasked client frame, a bad opcode, a fragmented control
  frame, RSV bits without an extension...) closes with 1002.

After such a failure ``state`` is ``FAILED``: the close frame is queued, the input is no
longer parsed, and the transport should send it, half-close (FIN) and close once the
peer closes too.  (Closing at once with unread input would make the kernel send RST,
which can destroy our close frame before the peer reads it.)

*Close handshake.*  ``close(code)`` sends our close frame (``LOCAL_CLOSING``: input is
still parsed until the peer's close arrives, then ``CLOSED``).  A close from the peer is
answered with the same code and the state is ``CLOSED`` at once: the server closes the
TCP connection first (RFC 6455 7.1.1).
"""

from __future__ import annotations

import base64
import binascii
import enum
import zlib
from dataclasses import dataclass
from typing import Any

from wsproto import events as wsevents
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol
from wsproto.utilities import generate_accept_token

from skitai.worker import events

__all__ = [
    "Closed", "HandshakeError", "Message", "Ping", "Pong", "State", "WebSocketAdapter",
    "accept", "is_upgrade",
]

DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
NORMAL = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
POLICY_VIOLATION = 1008
TOO_BIG = 1009
INTERNAL_ERROR = 1011
ABNORMAL = 1006  # never sent: the connection ended without a close frame


# --- events (the shared vocabulary's WebSocket part) -------------------------------------------
@dataclass(frozen=True, slots=True)
class Message(events.Event):
    data: str | bytes  # str for a text message, bytes for a binary one


@dataclass(frozen=True, slots=True)
class Ping(events.Event):
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong(events.Event):
    payload: bytes


@dataclass(frozen=True, slots=True)
class Closed(events.Event):
    """The WebSocket is over (or closing): ``by_peer`` says who started it."""

    code: int
    reason: str = ""
    by_peer: bool = True


class State(enum.Enum):
    OPEN = "open"
    LOCAL_CLOSING = "local-closing"  # our close frame is out; waiting for the peer's
    FAILED = "failed"  # protocol failure: our close frame is queued, input is ignored
    CLOSED = "closed"  # both close frames exchanged (or the peer went away)


class HandshakeError(Exception):
    """The upgrade request is not a valid WebSocket handshake: answer ``status``."""

    def __init__(self, reason: str, status: int = 400,
                 headers: events.Headers | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers or []


# --- handshake ---------------------------------------------------------------------------------
def _tokens(request: events.Request, name: bytes) -> list[bytes]:
    out: list[bytes] = []
    for key, value in request.headers:
        if key == name:
            out.extend(t.strip().lower() for t in value.split(b","))
    return out


def _header(request: events.Request, name: bytes) -> bytes | None:
    for key, value in request.headers:
        if key == name:
            return value
    return None


def _protocol(request: events.Request) -> bytes | None:
    """RFC 8441's ``:protocol`` pseudo-header, however the HTTP/2 layer hands it over."""
    value = _header(request, b":protocol")
    return value.lower() if value is not None else None


def is_upgrade(request: events.Request) -> bool:
    """The request asks for a WebSocket (``Upgrade: websocket``, or an RFC 8441 CONNECT)."""
    if request.http_version == b"2":
        return request.method == b"CONNECT" and _protocol(request) == b"websocket"
    # Both headers, as llhttp requires for an upgrade: a stray ``Upgrade`` alone is ignored.
    return b"websocket" in _tokens(request, b"upgrade") and \
        b"upgrade" in _tokens(request, b"connection")


def accept(request: events.Request, *, max_message_size: int = DEFAULT_MAX_MESSAGE
           ) -> tuple[events.Headers, list[Extension]]:
    """Check a WebSocket handshake; return (response headers, extensions to use)."""
    h2 = request.http_version == b"2"
    if h2:
        # RFC 8441: an extended CONNECT (the HTTP/2 layer may pass it on as its GET).
        if request.method not in (b"CONNECT", b"GET") or _protocol(request) != b"websocket":
            raise HandshakeError("not an extended CONNECT for websocket")
    else:
        if request.method != b"GET":
            raise HandshakeError("a WebSocket handshake must be a GET", 400)
        if request.http_version != b"1.1":
            raise HandshakeError("a WebSocket handshake needs HTTP/1.1", 400)
        if b"upgrade" not in _tokens(request, b"connection"):
            raise HandshakeError("Connection: upgrade is missing", 400)
    version = _header(request, b"sec-websocket-version")
    if version is None or version.strip() != b"13":
        raise HandshakeError("unsupported Sec-WebSocket-Version", 426,
                             [(b"sec-websocket-version", b"13")])
    headers: events.Headers = []
    if not h2:
        key = _header(request, b"sec-websocket-key")
        if key is None:
            raise HandshakeError("Sec-WebSocket-Key is missing", 400)
        key = key.strip()
        try:
            valid = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise HandshakeError("Sec-WebSocket-Key is not 16 base64-encoded bytes", 400)
        headers += [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
                    (b"sec-websocket-accept", generate_accept_token(key))]
    extensions: list[Extension] = []
    for value in _offers(request):
        if value.split(";", 1)[0].strip().lower() != "permessage-deflate":
            continue
        deflate = BoundedDeflate(max_message_size)
        answer = deflate.accept(value)
        if answer is None or answer is False:
            continue  # an offer we cannot take (bad window bits): try the next one
        text = "permessage-deflate" + (f"; {answer}" if isinstance(answer, str) and answer else "")
        headers.append((b"sec-websocket-extensions", text.encode("ascii")))
        extensions.append(deflate)
        break
    return headers, extensions


def _offers(request: events.Request) -> list[str]:
    offers: list[str] = []
    for key, value in request.headers:
        if key == b"sec-websocket-extensions":
            offers.extend(o.strip() for o in value.decode("latin-1").split(",") if o.strip())
    return offers


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate that never inflates a message past ``limit`` bytes.

    wsproto inflates each payload chunk without a bound, so a few KiB of a deflate bomb
    could become gigabytes in one call.  Here inflation is capped at what the message may
    still grow by (one byte more, to see the overflow); going over fails the frame with
    1009.  This touches wsproto's private ``_decompressor``/``_inbound_*`` state (checked
    against wsproto 1.2 and 1.3)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._inflated = 0  # bytes of the current message so far

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        d = self._decompressor
        assert d is not None
        room = self.limit - self._inflated
        try:
            out = d.decompress(data, room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if self._inflated > self.limit or d.unconsumed_tail:
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_payload_data(self, proto: FrameDecoder | FrameProtocol,
                                   data: bytes) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(bytes(data))

    def frame_inbound_complete(self, proto: FrameDecoder | FrameProtocol,
                               fin: bool) -> bytes | CloseReason | None:
        if not fin:
            return None
        if not self._inbound_is_compressible or not self._inbound_compressed:
            self._inbound_compressed = None
            self._inflated = 0
            return None
        out = self._inflate(b"\x00\x00\xff\xff")
        if isinstance(out, CloseReason):
            return out
        self._inflated = 0
        self._inbound_compressed = None
        no_takeover = self.server_no_context_takeover if proto.client \
            else self.client_no_context_takeover
        if no_takeover:
            self._decompressor = None
        return out


# --- frames --------------------------------------------------------------------------------------
class WebSocketAdapter:
    """One WebSocket after its handshake, server side.  See the module docstring."""

    def __init__(self, *, extensions: list[Extension] | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE, stream_id: int = 1) -> None:
        self.stream_id = stream_id
        self.max_message_size = max_message_size
        self._conn = Connection(ConnectionType.SERVER, extensions or [])
        self._out = bytearray()
        self._parts: list[str | bytes] = []
        self._size = 0  # bytes of the message being reassembled
        self.state = State.OPEN
        self.close_code: int | None = None  # the code of the close that ended it

    # --- input -----------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[events.Event]:
        if self.state is State.FAILED or self.state is State.CLOSED or not data:
            return []
        self._conn.receive_data(data)
        out = self._drain()
        if self.state is State.OPEN and self._declared_too_big():
            out.append(self._fail(TOO_BIG, "message too big"))
        return out

    def _declared_too_big(self) -> bool:
        """The frame being received declares more payload than the message may still
        grow by: fail now, from its header alone, instead of waiting for (and counting)
        bytes that may never come.  The compressed size of a deflated frame is compared
        as is (its payload on the wire).  Looks at wsproto's frame decoder (private,
        checked against wsproto 1.2 and 1.3); without it the count in _drain still
        applies."""
        decoder: Any = getattr(getattr(self._conn, "_proto", None), "_frame_decoder", None)
        header = getattr(decoder, "header", None)
        if header is None or header.opcode.iscontrol():
            return False
        remaining: int = header.payload_len - decoder.payload_consumed
        return self._size + remaining > self.max_message_size

    def eof(self) -> list[events.Event]:
        """The peer closed the TCP connection."""
        if self.state is State.CLOSED:
            return []
        was_failed = self.state is State.FAILED
        self.state = State.CLOSED
        if was_failed:
            return []  # already reported
        self.close_code = ABNORMAL
        return [Closed(self.stream_id, ABNORMAL, "connection lost", True)]

    def _drain(self) -> list[events.Event]:
        out: list[events.Event] = []
        sid = self.stream_id
        for ev in self._conn.events():
            kind = type(ev)
            if kind is TextMessage or kind is BytesMessage:
                piece = ev.data  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
                self._size += len(piece) if kind is BytesMessage or piece.isascii() \
                    else len(piece.encode("utf-8"))
                if self._size > self.max_message_size:
                    out.append(self._fail(TOO_BIG, "message too big"))
                    break
                if ev.message_finished:  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
                    if self._parts:
                        self._parts.append(piece)
                        piece = "".join(self._parts) if kind is TextMessage else b"".join(self._parts)  # type: ignore[arg-type]  # one message's parts share its type
                        self._parts = []
                    out.append(Message(sid, piece if kind is TextMessage else bytes(piece)))
                    self._size = 0
                elif piece:
                    self._parts.append(piece)
            elif kind is wsevents.Ping:
                if self._conn.state is ConnectionState.OPEN:  # no pong once we are closing
                    self._out += self._conn.send(ev.response())  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
                out.append(Ping(sid, bytes(ev.payload)))  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
            elif kind is wsevents.Pong:
                out.append(Pong(sid, bytes(ev.payload)))  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
            elif kind is CloseConnection:
                code, reason = int(ev.code), ev.reason or ""  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
                cstate = self._conn.state
                if cstate is ConnectionState.REMOTE_CLOSING:
                    # The peer's close: echo its code (1005 "no code" is answered with none).
                    self._out += self._conn.send(ev.response())  # type: ignore[attr-defined]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
                    self.state = State.CLOSED
                    self.close_code = code
                    out.append(Closed(sid, code, reason, True))
                elif cstate is ConnectionState.CLOSED:
                    self.state = State.CLOSED  # the answer to our close
                    out.append(Closed(sid, self.close_code or code, reason, False))
                else:
                    # wsproto turned a ParseFailed into this event; its state did not move.
                    out.append(self._fail(code, reason))
                break
        return out

    def _fail(self, code: int, reason: str) -> Closed:
        if self._conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._out += self._conn.send(CloseConnection(code, reason[:100]))
        self.state = State.FAILED
        self.close_code = code
        self._parts = []
        return Closed(self.stream_id, code, reason, False)

    # --- output ----------------------------------------------------------------------------
    def send_message(self, data: str | bytes) -> None:
        if self.state is not State.OPEN:
            return  # a message after close is dropped (RFC 6455 5.5.1)
        self._out += self._conn.send(
            TextMessage(data) if isinstance(data, str) else BytesMessage(bytes(data)))

    def ping(self, payload: bytes = b"") -> None:
        if self.state is State.OPEN:
            self._out += self._conn.send(wsevents.Ping(payload))

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Start the close handshake (no-op once closing)."""
        if self.state is not State.OPEN:
            return
        self._out += self._conn.send(CloseConnection(code, reason[:100]))
        self.state = State.LOCAL_CLOSING
        self.close_code = code

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data
