"""gRPC's length-prefixed message framing (skitai.saddle.grpc), without a server."""

from __future__ import annotations

import gzip
import struct
import zlib

import pytest

from skitai.saddle import grpc


def prefixed(data: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">?I", compressed, len(data)) + data


def test_split_plain_and_compressed() -> None:
    body = prefixed(b"one") + prefixed(gzip.compress(b"two"), True)
    assert grpc.split_frames(body, "gzip") == [b"one", b"two"]
    assert grpc.split_frames(prefixed(zlib.compress(b"x"), True), "deflate") == [b"x"]
    assert grpc.split_frames(b"") == []


@pytest.mark.parametrize("body,encoding,code", [
    (b"\x00\x00\x00", "identity", grpc.INVALID_ARGUMENT),
    (prefixed(b"abc")[:-1], "identity", grpc.INVALID_ARGUMENT),
    (prefixed(b"abc", True), "identity", grpc.UNIMPLEMENTED),
    (prefixed(b"abc", True), "snappy", grpc.UNIMPLEMENTED),
    (prefixed(b"not gzip", True), "gzip", grpc.INTERNAL),
    (prefixed(gzip.compress(b"abc")[:-6], True), "gzip", grpc.INTERNAL),
    (prefixed(gzip.compress(b"\0" * (grpc.MAX_MESSAGE + 1)), True), "gzip", grpc.RESOURCE_EXHAUSTED),
])
def test_bad_frames(body: bytes, encoding: str, code: int) -> None:
    with pytest.raises(grpc.GrpcError) as err:
        grpc.split_frames(body, encoding)
    assert err.value.code == code


def test_read_frames_from_a_stream_in_pieces() -> None:
    import io

    class Trickle(io.RawIOBase):
        """A body that arrives one byte per read, as a slow client sends it."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            piece, self.data = self.data[:1], self.data[1:]
            return piece

    body = prefixed(b"one") + prefixed(gzip.compress(b"two"), True)
    assert list(grpc.read_frames(Trickle(body), "gzip")) == [b"one", b"two"]
    with pytest.raises(grpc.GrpcError):
        list(grpc.read_frames(Trickle(body[:-2]), "gzip"))
    huge = struct.pack(">?I", False, grpc.MAX_MESSAGE + 1)
    with pytest.raises(grpc.GrpcError) as err:
        list(grpc.read_frames(Trickle(huge)))
    assert err.value.code == grpc.RESOURCE_EXHAUSTED
