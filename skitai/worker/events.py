"""The internal event vocabulary shared by the HTTP/1.1, HTTP/2 and WebSocket adapters.

Protocol adapters turn bytes into these events (``feed``) and these events into bytes
(``send``).  Everything above the adapters (``stream.py``, handlers) speaks only in
these terms, so per-request code is written once for every protocol (hypercorn's
``protocol/events.py``).  Header names are lower-case bytes; values are bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Event:
    stream_id: int


# --- peer -> server -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request(Event):
    """A request head.  ``content_length`` is None for a chunked or absent body."""

    method: bytes
    target: bytes
    headers: Headers
    http_version: bytes  # b"1.0", b"1.1", b"2"
    content_length: int | None = None
    chunked: bool = False
    expect_continue: bool = False
    keep_alive: bool = True

    @property
    def has_body(self) -> bool:
        """Body bytes may follow the head (HTTP/2 marks a body without a length chunked)."""
        return self.chunked or bool(self.content_length)


@dataclass(frozen=True, slots=True)
class Body(Event):
    data: bytes


@dataclass(frozen=True, slots=True)
class EndBody(Event):
    trailers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RemoteError(Event):
    """The peer broke the protocol.  The server answers ``status_hint`` (if it still can)
    and closes the connection: nothing the peer sends after this is ever run."""

    reason: str
    status_hint: int = 400


@dataclass(frozen=True, slots=True)
class StreamClosed(Event):
    """The peer went away or reset the stream before the response was complete."""


# --- server -> peer -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InformationalResponse(Event):
    status: int  # 100, 103
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Response(Event):
    status: int
    headers: Headers
    reason: bytes = b""


@dataclass(frozen=True, slots=True)
class Data(Event):
    data: bytes


@dataclass(frozen=True, slots=True)
class EndData(Event):
    trailers: Headers = field(default_factory=list)


# What a handler sends through its stream (``StreamSink.stream_send``).
Outbound = InformationalResponse | Response | Data | EndData
