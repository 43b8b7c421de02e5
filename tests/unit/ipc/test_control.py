"""The control codec: length-prefixed JSON, fed in every possible split."""

from __future__ import annotations

import random
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
