"""HTTP/1.1 as a sans-IO adapter over ``httptools`` (llhttp): bytes in, events out.

Theory.

*Parsing.*  ``feed(data)`` hands the bytes to one ``httptools.HttpRequestParser`` whose
callbacks are this object's bound methods (httptools looks them up once).  The callbacks
append events to ``self._out``, so pipelined requests are parsed ahead, in order, with
stream ids 1, 2, 3...  llhttp in its default (strict) mode already rejects most bad
framing: CL with TE, duplicate or malformed Content-Length, bad chunk sizes and
extensions, obs-fold, whitespace before the colon, control characters in names and
values, bare CR and bare LF line endings (we keep that strictness: a bare-LF request is a
400), bad tokens in methods and names, ``chunked`` not last.  We add what llhttp allows:
a missing or repeated Host on HTTP/1.1 and a Host value that cannot be a host, TE on
HTTP/1.0, transfer codings other than ``chunked`` (501), HTTP versions other than 1.0 and
1.1 (505), a repeated singleton field (``_SINGLETONS``: Content-Type, Authorization,
Range, the conditionals...), a trailer field that controls framing, routing, auth or
content (``_NO_TRAILER``, RFC 9110 6.5.1; never merged into the head), the asterisk-form
target with any method but OPTIONS, and the size limits.  What llhttp lets through and
we keep: more than one space between the parts of the request line, a ``#fragment`` in the target (the router
ignores it), and trailing whitespace in values (stripped here).  A method llhttp does not
know (it parses registered methods only) is a 400, not a 501.  A violation raised inside a callback travels out of
``feed_data`` as the ``__context__`` of ``HttpParserCallbackError``; either way it becomes
ONE ``RemoteError`` after the events parsed before it, and the adapter stops reading for
good: nothing after a bad request is ever run.

*Limits* (gunicorn's defaults: a 4094-byte request line, 100 fields of at most 8190
bytes of name and value each; and a 64 KiB head).  Field size and count are checked once
the head is complete (the head limit bounds them meanwhile), and the fields are scanned
only when the head was read in more bytes than one field may hold; trailers the same
(100 more fields at most), and a trailer section is counted read by read against the
head limit (``_count_trailer``).  The request line is checked as the target arrives
(llhttp reports a partial
target at the end of every chunk, so the check is exact for any split): 414.  The head is
counted per ``feed()`` chunk while a head is being parsed, so a slowloris head cannot grow
memory past the limit plus one read.  When a chunk would take the count over
``max_header_bytes`` we feed only the bytes the limit still allows: if the head has not
ended by then, it is too large (431); the count is exact for every split.  The one
inexact case is a pipelined head that begins in the middle of a chunk (after the previous
message ended there): its bytes in that chunk are not counted, so at the end of that head
we compare a lower bound computed from its parts instead.

*Responses.*  ``send()`` writes the response of the oldest request that has not finished
its response (pipelined responses leave in request order).  Framing: the app's
Content-Length, else chunked for HTTP/1.1, else close-delimited; no body bytes for HEAD,
1xx, 204 and 304.  Whether the connection stays open is decided when the head is written
(so the head can say ``connection: close``): the request allowed it, the response is not
close-delimited, the app did not say close, and the request body had fully arrived (we
never skip an unread body).  Trailers go in the last chunk of a chunked response whether
or not the request said ``TE: trailers`` (a recipient may discard them, RFC 9110 6.5.1);
they are dropped for any other framing.

*Upgrade.*  When llhttp sees an upgrade (``Connection: upgrade`` + ``Upgrade:`` with no
body, or CONNECT) it pauses after the head: we emit Request and EndBody and keep every
later byte for the next protocol (``take_trailing_data()``).  ``decline_upgrade()``
resumes plain HTTP/1.1 parsing; sending a final non-101 response to that request
declines it implicitly (the kept bytes are then parsed at the next ``feed()``); a
``Response(101)`` accepts it, and from then on ``keep_alive`` is False and fed bytes are
kept for ``take_trailing_data()``.  An upgrade request with a body is served as plain
HTTP/1.1 (RFC 9110 7.8 lets a server ignore Upgrade): httptools would make llhttp skip
the body, so we parse it with a fresh parser primed with a stand-in head.

*HTTP/2.*  A connection that opens with the HTTP/2 preface gets a 400 ``RemoteError``
and ``h2_preface`` is set (the HTTP/1.1 connection looks at the first bytes itself and hands h2c to connections/http2.py).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from http import HTTPStatus
from typing import Final

import httptools

from skitai.errors import LocalProtocolError
from skitai.worker import events

__all__ = ["H2_PREFACE", "DefaultHeaders", "Http1Adapter"]

H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Framing modes of the response being sent.
_HEAD_DUE: Final = 0  # nothing sent yet
_LENGTH: Final = 1  # Content-Length from the app
_CHUNKED: Final = 2
_UNTIL_CLOSE: Final = 3  # HTTP/1.0 without Content-Length
_NO_BODY: Final = 4  # HEAD, 101, 204, 304

_VERSIONS: Final = {"1.1": b"1.1", "1.0": b"1.0"}
# Fields of the request head that need a look.
_SPECIAL: Final = frozenset((b"host", b"content-length", b"transfer-encoding", b"expect"))
# Fields that are single by definition (RFC 9110: not list-based) and whose duplicates
# would change what the request means, or which of two values a proxy in front of us
# and the app would each pick: a request repeating one is refused (400).  Host and
# Content-Length have their own checks.  (User-Agent, Referer, From and Date are
# singletons too, but only describe the request: duplicates of them are let through.)
_SINGLETONS: Final = frozenset((
    b"content-type", b"content-range", b"content-location", b"authorization",
    b"proxy-authorization", b"if-modified-since", b"if-unmodified-since", b"if-range",
    b"max-forwards", b"range"))
# Fields a trailer must not carry (RFC 9110 6.5.1): framing, routing, request modifiers,
# authentication, content metadata.  A chunked request with one of them is refused (400):
# merged into the head, they could override what was checked there.
_NO_TRAILER: Final = frozenset((
    b"host", b"content-length", b"transfer-encoding", b"trailer", b"te", b"connection",
    b"keep-alive", b"upgrade", b"expect", b"max-forwards", b"cache-control", b"pragma",
    b"range", b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since",
    b"if-range", b"authorization", b"proxy-authorization", b"cookie", b"set-cookie",
    b"content-type", b"content-encoding", b"content-range", b"content-location",
    b"content-language", b"location", b"forwarded", b"x-forwarded-for", b"x-forwarded-host",
    b"x-forwarded-proto"))
_WATCHED: Final = _SPECIAL | _SINGLETONS | _NO_TRAILER
# RFC 3986 host characters (reg-name, IP literal, port); deleting them must leave nothing.
_HOST_CHARS: Final = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      b"-._~!$&'()*+,;=%:[]")
_TCHAR: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

_PHRASES: Final = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}
# (status, reason) -> status line; filled as used, bounded.
_STATUS_LINES: dict[tuple[int, bytes], bytes] = {}
_LAST_CHUNK: Final = b"0\r\n\r\n"
_COLON_JOIN: Final = b": ".join


class DefaultHeaders:
    """The ``date`` and ``server`` lines every response head gets unless the app sent
    its own.  One object is shared by all the connections of a server, whose clock
    calls ``set_date`` once a second: a head then costs no header list of its own."""

    __slots__ = ("both", "date", "server")

    def __init__(self, server: bytes = b"", date: bytes = b"") -> None:
        self.server = b"server: %s\r\n" % server if server else b""
        self.date = b""
        self.both = self.server
        if date:
            self.set_date(date)

    def set_date(self, date: bytes) -> None:
        self.date = b"date: %s\r\n" % date
        self.both = self.date + self.server


_NO_DEFAULTS: Final = DefaultHeaders()
_NO_TRAILERS: Final[events.Headers] = []  # never appended to


class _Reject(Exception):  # noqa: N818 - internal: carries a violation out of a callback
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# --- fast event constructors ------------------------------------------------------------
# Frozen dataclasses set every field through object.__setattr__, which doubles the cost
# of the parse path.  Setting the slots through their descriptors builds equal objects.
# If events.py ever gains a field, the generic constructors are used instead.

_new = object.__new__
_set_sid = events.Event.stream_id.__set__  # type: ignore[attr-defined, misc]  # the slot's descriptor: mypy sees only the instance attribute


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_REQUEST_FIELDS: Final = ("stream_id", "method", "target", "headers", "http_version",
                          "content_length", "chunked", "expect_continue", "keep_alive")
_FAST: Final = (_fields(events.Request) == _REQUEST_FIELDS
                and _fields(events.Body) == ("stream_id", "data")
                and _fields(events.EndBody) == ("stream_id", "trailers"))

if _FAST:
    _Request = events.Request
    _rq_setters = tuple(getattr(_Request, name).__set__ for name in _REQUEST_FIELDS[1:])
    (_set_method, _set_target, _set_headers, _set_version, _set_cl, _set_chunked,
     _set_expect, _set_ka) = _rq_setters
    _set_data = events.Body.data.__set__  # type: ignore[attr-defined, misc]  # the slot's descriptor (see _set_sid)
    _set_trailers = events.EndBody.trailers.__set__  # type: ignore[attr-defined, misc]  # the slot's descriptor

    def _request(sid: int, method: bytes, target: bytes, headers: events.Headers,
                 version: bytes, cl: int | None, chunked: bool, expect: bool,
                 keep_alive: bool) -> events.Request:
        r = _new(_Request)
        _set_sid(r, sid)
        _set_method(r, method)
        _set_target(r, target)
        _set_headers(r, headers)
        _set_version(r, version)
        _set_cl(r, cl)
        _set_chunked(r, chunked)
        _set_expect(r, expect)
        _set_ka(r, keep_alive)
        return r

    def _body(sid: int, data: bytes) -> events.Body:
        b = _new(events.Body)
        _set_sid(b, sid)
        _set_data(b, data)
        return b

    def _end_body(sid: int, trailers: events.Headers) -> events.EndBody:
        e = _new(events.EndBody)
        _set_sid(e, sid)
        _set_trailers(e, trailers)
        return e

else:  # pragma: no cover - only if events.py changes shape
    _request = events.Request  # type: ignore[assignment]  # the generic constructors, same arguments
    _body = events.Body  # type: ignore[assignment]  # the generic constructors, same arguments
    _end_body = events.EndBody  # type: ignore[assignment]  # the generic constructors, same arguments


class _BodyOnly:
    """Callbacks of a parser restarted in the middle of a message: the stand-in head it is
    primed with is swallowed, everything after goes to the adapter.  Only used after an
    upgrade request with a body (rare), so the extra call per callback does not matter."""

    def __init__(self, adapter: Http1Adapter) -> None:
        self.adapter = adapter
        self.priming = True

    def on_url(self, url: bytes) -> None:
        if not self.priming:
            self.adapter.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.priming:
            self.adapter.on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self.priming:
            self.adapter.on_headers_complete()

    def on_body(self, data: bytes) -> None:
        self.adapter.on_body(data)

    def on_chunk_header(self) -> None:
        self.adapter.on_chunk_header()

    def on_chunk_complete(self) -> None:
        self.adapter.on_chunk_complete()

    def on_message_complete(self) -> None:
        self.adapter.on_message_complete()


class Http1Adapter:
    """One HTTP/1.1 connection, server side.  See the module docstring."""

    def __init__(self, *, max_request_line: int = 4094, max_header_bytes: int = 65536,
                 max_field_size: int = 8190, max_fields: int = 100,
                 defaults: DefaultHeaders = _NO_DEFAULTS) -> None:
        self._defaults = defaults
        self._max_line = max_request_line
        self._max_field = max_field_size
        self._max_fields = max_fields
        self._singles: set[bytes] | None = None  # singleton fields seen in this head
        self._in_chunk = False  # between a chunk's size line and its end (or the trailers')
        self._trailer_bytes = 0
        # "GET" + 2 spaces + "HTTP/1.1": a target longer than this may make the line too long.
        self._max_target = max_request_line - 13
        self._max_head = max_header_bytes
        self._parser = httptools.HttpRequestParser(self)
        self._out: list[events.Event] = []
        # The message being parsed.  Stream ids go up by one at each EndBody, so a request
        # whose stream id is below _sid has been received whole.
        self._sid = 1
        self._url = b""
        self._headers: events.Headers = []
        self._hosts: list[bytes] = []
        self._good_host = b""  # the last Host value found valid
        self._cl: bytes | None = None
        self._te: bytes | None = None
        self._expect: bytes | None = None
        self._last = False  # the request being parsed is the last (no keep-alive)
        # (content_length, chunked) of an upgrade request with a body, which llhttp skipped
        self._body_skipped: tuple[int | None, bool] | None = None
        # head size accounting
        self._in_head = True  # between messages or inside a head (not in a body)
        self._head_bytes = 0
        self._mid = False  # a message ended inside the current chunk
        self._uncounted = False  # the current head began inside such a chunk
        # responses: the requests still due one, oldest first; the oldest one's framing
        self._pending: deque[events.Request] = deque()
        self._mode = _HEAD_DUE
        self._remaining = 0  # bytes still due under Content-Length
        # connection state
        self._blocked = False  # feed() takes the slow path (stopped or paused)
        self._stopped = False  # no more input is ever parsed
        self._paused = False  # an upgrade is pending: input is kept, not parsed
        self._upgrade_sid = 0  # the stream that asked for the upgrade
        self._trailing = b""
        self._must_close = False
        self._eof = False
        self._switched = False
        # (header list, then what _head_of made of it) of the last response head
        self._memo: tuple[events.Headers, bytes, int, bool, bool, bool, bool] | None = None
        # An upgrade (or CONNECT) request was parsed and is neither declined nor done.
        self.upgrade_requested = False
        self.h2_preface = False  # the connection began with the HTTP/2 preface

    # --- public ---------------------------------------------------------------------------
    @property
    def keep_alive(self) -> bool:
        """False once the connection must close after the current response."""
        return not self._must_close and (not self._eof or bool(self._pending))

    def close_after_response(self) -> None:
        """The connection closes after the response being sent (its head, if not yet
        written, says ``connection: close``); no later request is parsed."""
        self._must_close = True

    def take_trailing_data(self) -> bytes:
        """The bytes after an upgrade request's head (for the next protocol)."""
        data, self._trailing = self._trailing, b""
        return data

    def decline_upgrade(self) -> list[events.Event]:
        """Go on as plain HTTP/1.1; returns the events parsed from the bytes kept so far."""
        if self._switched or self._stopped:
            return []
        self._paused = self.upgrade_requested = False
        self._upgrade_sid = 0
        return self.feed(b"") if self._blocked else []

    def send_error(self, status: int, headers: events.Headers, body: bytes) -> bytes:
        """The whole response to a request that could not be parsed (no Request event
        exists to answer): ``connection: close``, and nothing is parsed after it."""
        self._must_close = True
        self._stopped = self._blocked = True
        return b"".join((_status_line(status, b""), _field_block(headers),
                         b"connection: close\r\n", self._defaults.both, b"\r\n", body))

    def feed(self, data: bytes) -> list[events.Event]:
        """Parse what can be parsed; see the module docstring."""
        if self._blocked:
            if self._stopped:
                return []
            if self._paused:
                self._trailing += data
                return []
            # an upgrade was declined: the kept bytes come first
            self._blocked = False
            data, self._trailing = self._trailing + data, b""
        out: list[events.Event] = []
        self._out = out
        in_chunk = False
        if self._in_head:
            self._mid = False
            total = self._head_bytes + len(data)
            if total > self._max_head:
                self._feed_limited(data)
                return out
            self._head_bytes = total
        else:
            in_chunk = self._in_chunk
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data[exc.args[0]:])
        except httptools.HttpParserError as exc:
            self._parse_error(exc)
        if in_chunk and not out and self._in_chunk:
            self._count_trailer(len(data))
        return out

    def _count_trailer(self, size: int) -> None:
        """A whole read between a chunk's size line and its end that made no body: the
        trailer section (llhttp holds a field until its line ends, so a trailer that
        never ends would grow without bound).  Counted like a head, from the first
        read that begins inside it."""
        self._trailer_bytes += size
        if self._trailer_bytes > self._max_head:
            self._fail("trailer section too large", 431)

    def eof(self) -> list[events.Event]:
        """The peer will send nothing more."""
        if self._eof:
            return []
        self._eof = True
        if self._stopped or self._paused:
            return []
        self._stopped = self._blocked = True
        if not self._in_head:
            self._must_close = True
            return [events.RemoteError(self._sid, "connection closed before the request body "
                                       "was complete", 400)]
        if self._url:
            self._must_close = True
            return [events.RemoteError(self._sid, "connection closed in the middle of a "
                                       "request head", 400)]
        return []

    def send(self, event: events.InformationalResponse | events.Response | events.Data
             | events.EndData) -> bytes:
        """The bytes for one response event of the oldest request still due a response."""
        pending = self._pending
        if not pending or event.stream_id != pending[0].stream_id:
            raise LocalProtocolError(
                f"stream {event.stream_id} cannot send now: "
                + (f"stream {pending[0].stream_id} is due first" if pending
                   else "no request is waiting for a response"))
        kind = type(event)
        if kind is events.Data:
            return self._data(event.data)  # type: ignore[union-attr]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
        if kind is events.Response:
            return self._head(pending[0], event)  # type: ignore[arg-type]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
        if kind is events.EndData:
            return self._end(event.trailers)  # type: ignore[union-attr]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
        if kind is events.InformationalResponse:
            return self._informational(pending[0], event)  # type: ignore[arg-type]  # narrowed by the `kind is ...` test above (a saved type(): mypy does not follow it)
        raise LocalProtocolError(f"cannot send {kind.__name__} over HTTP/1.1")

    def send_whole(self, stream_id: int, status: int, headers: events.Headers, reason: bytes,
                   body: bytes) -> bytes:
        """Response + Data + EndData in one call (the common small response), with no
        event objects: the same bytes and checks as the three ``send()`` calls."""
        pending = self._pending
        if not pending or stream_id != pending[0].stream_id:
            return self.send(events.Response(stream_id, status, headers, reason))  # raises
        if status == 101:
            raise LocalProtocolError("101 goes through send(Response(101))")
        head = self._head(pending[0], events.Response(stream_id, status, headers, reason)) \
            if type(status) is not int or not 200 <= status <= 999 \
            else self._head_of(pending[0], status, headers, reason)
        if self._mode == _LENGTH and len(body) == self._remaining and not self._must_close:
            # The common case, as _data() and _end() would do it.
            self._mode = _HEAD_DUE
            self._remaining = 0
            pending.popleft()
            return head + body
        data = self._data(body) if body else b""
        return head + data + self._end(_NO_TRAILERS)

    def send_ok_head(self, stream_id: int, headers: events.Headers) -> bytes:
        """``send(Response(stream_id, 200, headers))`` without the event (a cached
        static file's head: connections/http1.py's fast path)."""
        pending = self._pending
        if not pending or stream_id != pending[0].stream_id:
            return self.send(events.Response(stream_id, 200, headers))  # raises
        return self._head_of(pending[0], 200, headers, b"")

    def send_end(self, stream_id: int) -> bytes:
        """``send(EndData(stream_id))`` without the event."""
        pending = self._pending
        if not pending or stream_id != pending[0].stream_id:
            return self.send(events.EndData(stream_id))  # raises
        return self._end(_NO_TRAILERS)

    # --- parsing, off the common path ------------------------------------------------------
    def _parse(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data[exc.args[0]:])
        except httptools.HttpParserError as exc:
            self._parse_error(exc)

    def _feed_limited(self, data: bytes) -> None:
        """Feed only what the head limit allows; the head must end within it."""
        allowed = self._max_head - self._head_bytes
        sid = self._sid
        self._head_bytes = self._max_head
        self._parse(data[:allowed])
        rest = data[allowed:]
        if self._blocked:
            if self._paused:
                self._trailing += rest
            return
        if self._sid == sid and self._in_head:
            self._fail("request header section too large", 431)
            return
        if self._in_head:
            self._mid = False
            total = self._head_bytes + len(rest)
            if total > self._max_head:
                self._feed_limited(rest)
                return
            self._head_bytes = total
        self._parse(rest)

    def _upgraded(self, rest: bytes) -> None:
        if self._body_skipped is not None:
            self._restart_for_body(rest)
            return
        self._trailing = rest
        self._paused = self._blocked = self.upgrade_requested = True
        self._upgrade_sid = self._sid - 1

    def _restart_for_body(self, rest: bytes) -> None:
        """Parse the body llhttp skipped with a fresh parser, primed with a stand-in head."""
        cl, chunked = self._body_skipped  # type: ignore[misc]  # set whenever a body was skipped, which the caller checked
        self._body_skipped = None
        proxy = _BodyOnly(self)
        self._parser = httptools.HttpRequestParser(proxy)
        framing = b"transfer-encoding: chunked" if chunked or cl is None \
            else b"content-length: %d" % cl
        self._parser.feed_data(b"POST / HTTP/1.1\r\nhost: x\r\n" + framing + b"\r\n\r\n")
        proxy.priming = False
        self._parse(rest)

    def _parse_error(self, exc: httptools.HttpParserError) -> None:
        if self._stopped:
            # llhttp's "Data after `Connection: close`": the bytes after a last request
            # are ignored, not an error.
            return
        cause = exc.__context__
        if isinstance(cause, _Reject):
            self._fail(cause.reason, cause.status)
            return
        if cause is not None and not isinstance(cause, httptools.HttpParserError):
            raise cause  # a bug in a callback, not the peer's fault
        reason = str(exc) or type(exc).__name__
        status = 400
        if "PRI" in reason and self._parser.get_method() == b"PRI":
            self.h2_preface = True
            reason = "HTTP/2 connection preface on an HTTP/1.1 connection"
        elif reason == "Invalid HTTP version":
            status = 505
        self._fail(reason, status)

    def _fail(self, reason: str, status: int) -> None:
        self._out.append(events.RemoteError(self._sid, reason, status))
        self._stopped = self._blocked = True
        self._must_close = True

    def _check_head_size(self, headers: events.Headers) -> None:
        # A lower bound of the head's size: a 3-letter method, "name:value\r\n" per line
        # (no space after the colon): this head began mid-chunk, so the per-chunk count
        # missed part of it.
        size = len(self._url) + 15 + 2
        for name, value in headers:
            size += len(name) + len(value) + 3
        if size > self._max_head:
            raise _Reject("request header section too large", 431)

    @staticmethod
    def _check_te(te: bytes, version: bytes) -> bool:
        """True (chunked) or a rejection: RFC 9112 6.1 and 6.3."""
        if version == b"1.0":
            raise _Reject("Transfer-Encoding in an HTTP/1.0 request")
        codings = [c.split(b";", 1)[0].strip(b" \t").lower() for c in te.split(b",")]
        for name in codings:
            if not name or name.translate(None, _TCHAR):
                raise _Reject("invalid Transfer-Encoding")
        if b"chunked" in codings[:-1]:
            raise _Reject("chunked must be the final transfer coding, once")
        for name in codings:
            if name != b"chunked":
                raise _Reject(f"unsupported transfer coding {name.decode('latin-1')}", 501)
        return True

    # --- httptools callbacks ---------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        if not self._url:
            self._uncounted = self._mid
        self._url = url = self._url + url
        if len(url) > self._max_target:
            line = len(self._parser.get_method()) + len(url) + 10
            if line > self._max_line:
                raise _Reject(f"request line too long ({line} > {self._max_line})", 414)

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp strips leading whitespace from values, not trailing (RFC 9110 5.5: OWS).
        name = name.lower()
        value = value.rstrip(b" \t")
        self._headers.append((name, value))
        if name in _WATCHED:
            if name == b"host" and self._in_head:
                self._hosts.append(value)
            else:
                self._watched(name, value)

    def _check_fields(self, fields: events.Headers, where: str) -> None:
        """The field count and size limits, checked once a head (or trailer section) is
        complete: the head limit already bounds what they could hold meanwhile."""
        if len(fields) > self._max_fields:
            raise _Reject(f"more than {self._max_fields} {where} fields", 431)
        limit = self._max_field
        for name, value in fields:
            if len(name) + len(value) > limit:
                raise _Reject(f"{where} field {name[:64].decode('latin-1')!r} too large "
                              f"({len(name) + len(value)} > {limit} bytes)", 431)

    def _watched(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            if name in _NO_TRAILER:
                raise _Reject(f"{name.decode('latin-1')} in a trailer section")
            return
        if name in _SINGLETONS:
            singles = self._singles
            if singles is None:
                self._singles = {name}
            elif name in singles:
                raise _Reject(f"more than one {name.decode('latin-1')} field")
            else:
                singles.add(name)
        elif name == b"content-length":
            if self._cl is not None:  # llhttp catches this too
                raise _Reject("duplicate Content-Length")
            self._cl = value
        elif name == b"transfer-encoding":
            self._te = value if self._te is None else self._te + b"," + value
        elif name == b"expect":
            self._expect = value

    def on_headers_complete(self) -> None:
        parser = self._parser
        version = _VERSIONS.get(parser.get_http_version())
        if version is None:
            raise _Reject(f"unsupported HTTP version {parser.get_http_version()}", 505)
        headers = self._headers
        if self._uncounted:
            self._check_head_size(headers)
        if self._head_bytes > self._max_field or len(headers) > self._max_fields \
                or self._uncounted:
            # (A head read in fewer bytes than one field may hold has no field too large.)
            self._check_fields(headers, "header")
        self._singles = None
        url = self._url
        if url[:1] != b"/" and url == b"*" and parser.get_method() != b"OPTIONS":
            raise _Reject("the asterisk-form target is only for OPTIONS (RFC 9112 3.2.4)")
        hosts = self._hosts
        if hosts:
            if len(hosts) > 1:
                raise _Reject("more than one Host header")
            host = hosts[0]
            if host != self._good_host:  # keep-alive clients repeat the same Host
                if host.translate(None, _HOST_CHARS):
                    raise _Reject("invalid Host header")
                self._good_host = host
            self._hosts = []
        elif version == b"1.1":
            raise _Reject("missing Host header")
        cl = None
        chunked = False
        if self._te is not None:
            chunked = self._check_te(self._te, version)
            self._te = None
        elif self._cl is not None:
            if not self._cl.isdigit():  # llhttp catches this too
                raise _Reject("invalid Content-Length")
            cl = int(self._cl)
            self._cl = None
        expect = False
        if self._expect is not None:
            expect = version == b"1.1" and self._expect.lower() == b"100-continue"
            self._expect = None
        if (cl or chunked) and parser.should_upgrade():
            # An upgrade with a body: httptools makes llhttp skip the body.  We serve it
            # as a plain request instead (a server may ignore Upgrade, RFC 9110 7.8).
            self._body_skipped = (cl, chunked)
        keep_alive = parser.should_keep_alive()
        request = _request(self._sid, parser.get_method(), self._url, headers, version, cl,
                           chunked, expect, keep_alive)
        self._out.append(request)
        self._pending.append(request)
        self._last = not keep_alive
        self._url = b""
        self._headers = []  # now collects trailers
        self._in_head = False

    def on_body(self, data: bytes) -> None:
        self._out.append(_body(self._sid, data))

    def on_chunk_header(self) -> None:
        self._in_chunk = True

    def on_chunk_complete(self) -> None:
        self._in_chunk = False
        self._trailer_bytes = 0

    def on_message_complete(self) -> None:
        if self._body_skipped is not None:
            return  # not complete: _restart_for_body() parses the body
        sid = self._sid
        if self._headers:
            self._check_fields(self._headers, "trailer")
        self._out.append(_end_body(sid, self._headers))
        self._headers = []
        self._sid = sid + 1
        self._in_head = self._mid = True
        self._head_bytes = 0
        if self._last:
            # The last request: whatever follows is never parsed.
            self._stopped = self._blocked = True

    # --- serialising -----------------------------------------------------------------------
    def _informational(self, request: events.Request, event: events.InformationalResponse) -> bytes:
        if self._mode != _HEAD_DUE:
            raise LocalProtocolError("informational response after the response head")
        status = event.status
        if type(status) is not int or not 100 <= status < 200 or status == 101:
            raise LocalProtocolError(f"not an informational status: {status!r}")
        if request.http_version == b"1.0":
            return b""  # RFC 9110 15.2: never a 1xx to an HTTP/1.0 client
        return _status_line(status, b"") + _field_block(event.headers) + b"\r\n"

    def _head(self, request: events.Request, event: events.Response) -> bytes:
        status = event.status
        if type(status) is not int or not 200 <= status <= 999:
            if self._mode != _HEAD_DUE:
                raise LocalProtocolError("response head already sent")
            if status == 101 and request.stream_id == self._upgrade_sid:
                return self._switch(event)
            raise LocalProtocolError(f"invalid final status {status!r} (1xx go out as "
                                     "InformationalResponse, 101 only after an upgrade request)")
        return self._head_of(request, status, event.headers, event.reason)

    def _head_of(self, request: events.Request, status: int, headers: events.Headers,
                 reason: bytes) -> bytes:
        if self._mode != _HEAD_DUE:
            raise LocalProtocolError("response head already sent")
        memo = self._memo
        if memo is not None and status != 204 and headers == memo[0]:
            # The same header list as the last response (a keep-alive client asking
            # again): its scan and its checked field lines are those of last time.
            _, block, cl, close_asked, conn_given, date_given, server_given = memo
        else:
            cl, close_asked, conn_given, date_given, server_given = _scan_fields(headers)
            as_given = cl != -2 and status != 204
            if not as_given:
                # We write the framing ourselves; RFC 9110 8.6: no Content-Length on a 204.
                drop = (b"transfer-encoding", b"content-length") if status == 204 \
                    else (b"transfer-encoding",)
                headers = [h for h in headers if h[0].lower() not in drop]
                cl = -1
            block = _field_block(headers)
            if as_given:
                self._memo = (headers[:], block, cl, close_asked, conn_given, date_given,
                              server_given)
        if request.stream_id == self._upgrade_sid:
            self._decline_implicitly()
        # The lines after the app's: ours, so not checked for line breaks.
        end = b"\r\n"
        if request.method == b"HEAD" or status == 204 or status == 304:
            self._mode = _NO_BODY
        elif cl >= 0:
            self._mode = _LENGTH
            self._remaining = cl
        elif request.http_version == b"1.1":
            self._mode = _CHUNKED
            end = b"transfer-encoding: chunked\r\n\r\n"
        else:
            self._mode = _UNTIL_CLOSE
        if (request.keep_alive and request.stream_id < self._sid and not close_asked
                and not self._must_close and self._mode != _UNTIL_CLOSE
                and not (self._eof and len(self._pending) == 1)):
            if request.http_version == b"1.0" and not conn_given:
                end = b"connection: keep-alive\r\n" + end
        else:
            self._must_close = True
            if not close_asked:
                end = b"connection: close\r\n" + end
        defaults = self._defaults
        if date_given or server_given:
            if not date_given and defaults.date:
                end = defaults.date + end
            if not server_given and defaults.server:
                end = defaults.server + end
        else:
            end = defaults.both + end
        first = _STATUS_LINES.get((status, reason)) or _status_line(status, reason)
        return first + block + end

    def _switch(self, event: events.Response) -> bytes:
        """101 Switching Protocols: this adapter is done with the connection; bytes fed
        from now on are kept for the next protocol (take_trailing_data())."""
        self._mode = _NO_BODY
        self._switched = self._must_close = True
        self.upgrade_requested = False
        return _status_line(101, event.reason) + _field_block(event.headers) + b"\r\n"

    def _data(self, data: bytes) -> bytes:
        mode = self._mode
        if mode == _CHUNKED:
            if not data:
                return b""  # an empty chunk would end the body
            return b"%x\r\n%b\r\n" % (len(data), data)
        if mode == _LENGTH:
            n = len(data)
            if n > self._remaining:
                raise LocalProtocolError(f"{n - self._remaining} bytes beyond Content-Length")
            self._remaining -= n
            return data
        if mode == _UNTIL_CLOSE:
            return data
        if mode == _NO_BODY:
            return b""
        raise LocalProtocolError("Data before the response head")

    def file_frame(self, stream_id: int, count: int) -> tuple[bytes, bytes] | None:
        """Framing for ``count`` body bytes the server sends itself (sendfile): the
        bytes to write before and after them, or None when the body is not sent (HEAD,
        304).  Counts them like ``send(Data)`` does."""
        pending = self._pending
        if not pending or stream_id != pending[0].stream_id:
            raise LocalProtocolError(f"stream {stream_id} cannot send now")
        mode = self._mode
        if mode == _NO_BODY:
            return None
        if mode == _CHUNKED:
            return (b"%x\r\n" % count, b"\r\n") if count else (b"", b"")
        if mode == _LENGTH:
            if count > self._remaining:
                raise LocalProtocolError(f"{count - self._remaining} bytes beyond Content-Length")
            self._remaining -= count
            return b"", b""
        if mode == _UNTIL_CLOSE:
            return b"", b""
        raise LocalProtocolError("Data before the response head")

    def _end(self, trailers: events.Headers) -> bytes:
        mode = self._mode
        if mode == _HEAD_DUE:
            raise LocalProtocolError("EndData before the response head")
        if mode == _LENGTH and self._remaining:
            raise LocalProtocolError(f"response ended {self._remaining} bytes short of its "
                                     "Content-Length")
        self._mode = _HEAD_DUE
        self._pending.popleft()
        if self._must_close and not self._switched:
            self._stopped = self._blocked = True
        if mode != _CHUNKED:
            return b""
        if not trailers:
            return _LAST_CHUNK
        return b"0\r\n" + _field_block(trailers) + b"\r\n"

    def _decline_implicitly(self) -> None:
        """A final response to an upgrade request: the kept bytes are parsed at the next
        feed() (decline_upgrade() parses them at once)."""
        self._upgrade_sid = 0
        if self._paused:
            # _blocked stays set: feed() takes the kept bytes first
            self._paused = self.upgrade_requested = False


def _scan_fields(headers: events.Headers) -> tuple[int, bool, bool, bool, bool]:
    """The app's framing and default-suppressing fields: (Content-Length, -1 for none,
    -2 for chunked; close asked; Connection given; Date given; Server given).  Names are
    lower-case by contract (events.py); a mixed-case name is still found because its
    length is what is tested first."""
    cl = -1
    close_asked = conn_given = date_given = server_given = False
    for name, value in headers:
        n = len(name)
        if n == 4 or n == 6:
            lname = name.lower()
            date_given = date_given or lname == b"date"
            server_given = server_given or lname == b"server"
        elif n == 14 or n == 10 or n == 17:
            lname = name.lower()
            if lname == b"content-length":
                if cl >= 0 or not value.isdigit():
                    raise LocalProtocolError("invalid or repeated Content-Length")
                cl = int(value)
            elif lname == b"connection":
                conn_given = True
                close_asked = close_asked or b"close" in value.lower()
            elif lname == b"transfer-encoding":
                if value.strip().lower() != b"chunked":
                    raise LocalProtocolError("the app may only ask for chunked")
                cl = -2
    return cl, close_asked, conn_given, date_given, server_given


def _field_block(headers: events.Headers) -> bytes:
    """The app's field lines, each ending in CRLF, refusing an LF inside a name or value
    (response splitting): each line holds exactly one.  (A bare CR is not a line break
    to an RFC 9112 2.2 recipient, and the WSGI layer refuses both anyway.)"""
    if not headers:
        return b""
    block = b"".join((b"\r\n".join(map(_COLON_JOIN, headers)), b"\r\n"))
    if block.count(b"\n") != len(headers):
        raise LocalProtocolError("CR or LF inside a header name, value or reason")
    return block


def _status_line(status: int, reason: bytes) -> bytes:
    """``HTTP/1.1 <status> <reason>`` CRLF, refusing an LF in the reason (the only part
    that is not ours; cached lines were checked when made)."""
    line = _STATUS_LINES.get((status, reason))
    if line is None:
        if b"\n" in reason:
            raise LocalProtocolError("CR or LF inside a header name, value or reason")
        if reason:
            line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        else:
            phrase = _PHRASES.get(status, b"")
            line = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
        if len(_STATUS_LINES) < 1024:
            _STATUS_LINES[(status, reason)] = line
    return line
