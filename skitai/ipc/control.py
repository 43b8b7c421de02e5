"""Sans-IO codec for the control socket and the master <-> child channels.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON, whose
top level is an object.  The codec never touches a socket: ``encode()`` gives bytes to
send, ``Decoder.feed()`` takes whatever ``recv()`` returned (any split: half a length
prefix, three frames at once) and gives back the complete messages.

JSON, not pickle: a peer on the control socket is another local program, and nothing
that arrives there should be able to run code in the master (the original pickled mail
and tokens into world-shared directories).

Vocabulary (the ``op`` of each message):

  control socket, client -> master:  {"op": "status"|"reload"|"stop"|"scale"|"reopen", ...args}
  control socket, master -> client:  {"ok": true, ...result} | {"ok": false, "error": "..."}
  child -> master:  {"op": "ready"}
                    {"op": "broadcast", "event": str, "args": [...], "kwargs": {...}}
                    {"op": "request", "cmd": "reload"|"stop"}   (was.restart / was.shutdown)
                    {"op": "recycle", "reason": str}            (max_requests reached)
  master -> child:  {"op": "broadcast", ...}  {"op": "reopen"}
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, Final

from skitai.errors import ProtocolError

HEADER: Final = struct.Struct(">I")
# Control messages are small; a status reply for a few hundred processes is tens of KB.
MAX_FRAME: Final = 4 * 1024 * 1024

Message = dict[str, Any]


def encode(message: Message) -> bytes:
    """One frame.  Raises ``ValueError`` for values JSON cannot carry (no silent pickling)."""
    if not isinstance(message, dict):
        raise ValueError("a control message is a JSON object (dict)")
    try:
        body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    except TypeError as exc:
        raise ValueError(f"cannot encode control message: {exc}") from None
    if len(body) > MAX_FRAME:
        raise ValueError(f"control message of {len(body)} bytes is over {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


class Decoder:
    """Accumulates bytes and yields whole messages; a bad frame raises ``ProtocolError``
    and leaves the decoder unusable (the connection should be closed)."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._broken = False

    def feed(self, data: bytes) -> list[Message]:
        if self._broken:
            raise ProtocolError("decoder already failed")
        self._buf += data
        out: list[Message] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEADER.size:
            (size,) = HEADER.unpack_from(buf, pos)
            if size > self.max_frame:
                self._broken = True
                raise ProtocolError(f"control frame of {size} bytes is over {self.max_frame}")
            end = pos + HEADER.size + size
            if len(buf) < end:
                break
            out.append(_decode_body(bytes(buf[pos + HEADER.size:end]), self))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._buf)


def read_frames(sock: socket.socket, decoder: Decoder) -> list[Message] | None:
    """Read what ``sock`` holds and decode it: the whole messages (none when nothing was
    ready, the socket's timeout passed, or a frame is still partial), or None once the
    peer is gone (EOF or a socket error).  A bad frame raises ``ProtocolError``.  Every
    end of a channel (master, control socket and its CLI client, worker, daemon) reads
    through this: a non-blocking socket in a selector loop, or one with a timeout
    (``settimeout``) for a caller that waits."""
    try:
        data = sock.recv(65536)
    except (BlockingIOError, InterruptedError, TimeoutError):
        return []
    except OSError:
        return None
    if not data:
        return None
    return decoder.feed(data)


def drain_frames(sock: socket.socket, decoder: Decoder) -> list[Message]:
    """Everything a peer that has gone (an exited child) sent before it went: read to
    EOF, or until nothing more is ready.  A bad frame ends it, keeping what came before."""
    out: list[Message] = []
    while True:
        pending = decoder.pending
        try:
            got = read_frames(sock, decoder)
        except ProtocolError:
            return out
        if got is None:
            return out
        if not got and decoder.pending == pending:
            return out  # nothing was ready: (a partial frame read grows ``pending``)
        out += got


def _decode_body(body: bytes, decoder: Decoder) -> Message:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        decoder._broken = True
        raise ProtocolError(f"control frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        decoder._broken = True
        raise ProtocolError("control frame is not a JSON object")
    return message
