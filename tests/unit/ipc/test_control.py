"""The control codec: length-prefixed JSON, fed in every possible split."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from skitai.errors import ProtocolError
from skitai.ipc import control

MESSAGES = [
    {"op": "status"},
    {"op": "scale", "workers": 4},
    {"op": "broadcast", "event": "model-changed:users", "args": [1, "é", None], "kwargs": {"x": [2.5]}},
    {"ok": False, "error": "x" * 70000},
]


def _stream() -> bytes:
    return b"".join(control.encode(m) for m in MESSAGES)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 64, 1000, 1 << 20])
def test_any_chunk_size_gives_the_same_messages(size: int) -> None:
    data = _stream()
    decoder = control.Decoder()
    out = []
    for i in range(0, len(data), size):
        out.extend(decoder.feed(data[i:i + size]))
    assert out == MESSAGES
    assert decoder.pending == 0


def test_random_splits() -> None:
    data = _stream()
    rng = random.Random(7)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), 10))
        decoder = control.Decoder()
        out = []
        for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
            out.extend(decoder.feed(data[a:b]))
        assert out == MESSAGES


def test_frame_layout_is_a_big_endian_length_then_json() -> None:
    frame = control.encode({"op": "status"})
    assert frame[:4] == struct.pack(">I", len(frame) - 4)
    assert frame[4:] == b'{"op":"status"}'


def test_half_a_frame_waits_for_the_rest() -> None:
    frame = control.encode({"op": "reload"})
    decoder = control.Decoder()
    assert decoder.feed(frame[:6]) == []
    assert decoder.pending == 6
    assert decoder.feed(frame[6:]) == [{"op": "reload"}]


def test_oversize_frame_is_refused_before_its_body_arrives() -> None:
    decoder = control.Decoder(max_frame=100)
    with pytest.raises(ProtocolError, match="over 100"):
        decoder.feed(struct.pack(">I", 101))
    with pytest.raises(ProtocolError):
        decoder.feed(b"{}")  # a failed decoder stays failed


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_bad_bodies_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        control.Decoder().feed(struct.pack(">I", len(body)) + body)


@pytest.mark.parametrize("value", [object(), float("nan"), b"bytes", {1, 2}])
def test_encode_refuses_what_json_cannot_carry(value: object) -> None:
    with pytest.raises(ValueError):
        control.encode({"op": "broadcast", "args": [value]})
    with pytest.raises(ValueError):
        control.encode([1, 2])  # type: ignore[arg-type]


# --- reading from a socket (a real socketpair) ---------------------------------------------


def test_read_frames_with_a_timeout_gives_nothing_then_the_message_then_none() -> None:
    a, b = socket.socketpair()
    with a, b:
        decoder = control.Decoder()
        a.settimeout(0.05)  # the CLI's blocking client: nothing arrived within the timeout
        assert control.read_frames(a, decoder) == []
        b.sendall(control.encode({"ok": True}))
        assert control.read_frames(a, decoder) == [{"ok": True}]
        b.close()
        assert control.read_frames(a, decoder) is None  # the peer went away


def test_drain_frames_reads_to_eof_across_frames_larger_than_one_read() -> None:
    # An exited child's last broadcasts (the master's _drain_channel): the 70 KB frame
    # takes two reads, the first of which decodes nothing.
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.sendall(_stream())
        b.close()
        assert control.drain_frames(a, control.Decoder()) == MESSAGES


def test_drain_frames_stops_when_nothing_more_is_ready_or_at_a_bad_frame() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.sendall(control.encode(MESSAGES[0]))
        assert control.drain_frames(a, control.Decoder()) == [MESSAGES[0]]  # b still open
        b.sendall(struct.pack(">I", 2) + b"[]")  # a bad frame: not an object
        assert control.drain_frames(a, control.Decoder()) == []  # no ProtocolError raised
