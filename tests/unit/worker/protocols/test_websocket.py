"""The WebSocket adapter, with byte strings only (no socket, no loop)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol

from skitai.worker import events
from skitai.worker.protocols import websocket as ws

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True,
          rsv1: bool = False) -> bytes:
    """A raw client frame, built by hand so tests can also break the rules."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Parse unmasked server frames: [(opcode, payload)]."""
    out = []
    i = 0
    while i < len(data):
        op = data[i] & 0x0F
        n = data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack("!H", data[i:i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack("!Q", data[i:i + 8])[0]
            i += 8
        out.append((op, data[i:i + n]))
        i += n
    return out


def close_code(data: bytes) -> int:
    frames = server_frames(data)
    assert frames and frames[-1][0] == 8, frames
    return int(struct.unpack("!H", frames[-1][1][:2])[0])


def request(*headers: tuple[bytes, bytes], method: bytes = b"GET",
            version: bytes = b"1.1") -> events.Request:
    base = [(b"host", b"x"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
            (b"sec-websocket-key", KEY), (b"sec-websocket-version", b"13")]
    names = {h[0] for h in headers}
    return events.Request(1, method, b"/ws", [h for h in base if h[0] not in names] + list(headers),
                          version)


# --- handshake -------------------------------------------------------------------------------
def test_accept_gives_rfc_accept_token() -> None:
    headers, exts = ws.accept(request())
    assert (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in headers
    assert (b"upgrade", b"websocket") in headers
    assert exts == []


@pytest.mark.parametrize(("hdr", "status"), [
    ((b"sec-websocket-version", b"8"), 426),
    ((b"sec-websocket-key", b"short"), 400),
    ((b"connection", b"keep-alive"), 400),
])
def test_bad_handshakes(hdr: tuple[bytes, bytes], status: int) -> None:
    with pytest.raises(ws.HandshakeError) as info:
        ws.accept(request(hdr))
    assert info.value.status == status
    if status == 426:
        assert (b"sec-websocket-version", b"13") in info.value.headers


def test_post_is_not_a_handshake() -> None:
    with pytest.raises(ws.HandshakeError):
        ws.accept(request(method=b"POST"))


def test_is_upgrade_token_list_and_h2_connect() -> None:
    assert ws.is_upgrade(request((b"upgrade", b"foo, WebSocket")))
    assert not ws.is_upgrade(request((b"upgrade", b"h2c")))
    h2 = events.Request(1, b"CONNECT", b"/ws", [(b":protocol", b"websocket"),
                                                 (b"sec-websocket-version", b"13")], b"2")
    assert ws.is_upgrade(h2)
    headers, _ = ws.accept(h2)
    assert not any(h[0] == b"sec-websocket-accept" for h in headers)


def test_permessage_deflate_negotiated() -> None:
    headers, exts = ws.accept(request(
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits")))
    assert len(exts) == 1
    value = dict(headers)[b"sec-websocket-extensions"]
    assert value.startswith(b"permessage-deflate")


# --- frames ----------------------------------------------------------------------------------
def test_text_and_binary_echo_frames() -> None:
    a = ws.WebSocketAdapter()
    evs = a.feed(frame(1, "héllo".encode()) + frame(2, b"\x00\xff"))
    assert evs == [ws.Message(1, "héllo"), ws.Message(1, b"\x00\xff")]
    a.send_message("hi")
    a.send_message(b"\x01")
    assert server_frames(a.data_to_send()) == [(1, b"hi"), (2, b"\x01")]


def test_fragmented_message_reassembled_byte_by_byte() -> None:
    a = ws.WebSocketAdapter()
    data = frame(1, b"hel", fin=False) + frame(9, b"p") + frame(0, "lo wörld".encode(), fin=False) \
        + frame(0, b"!", fin=True)
    got: list[events.Event] = []
    for i in range(len(data)):
        got += a.feed(data[i:i + 1])
    assert got == [ws.Ping(1, b"p"), ws.Message(1, "hello wörld!")]
    assert server_frames(a.data_to_send()) == [(10, b"p")]  # the pong, automatically


def test_pong_event() -> None:
    a = ws.WebSocketAdapter()
    a.ping(b"k")
    assert server_frames(a.data_to_send()) == [(9, b"k")]
    assert a.feed(frame(10, b"k")) == [ws.Pong(1, b"k")]


def test_peer_close_is_echoed_and_closed() -> None:
    a = ws.WebSocketAdapter()
    evs = a.feed(frame(8, struct.pack("!H", 1000) + b"bye"))
    assert evs == [ws.Closed(1, 1000, "bye", True)]
    assert a.state is ws.State.CLOSED
    assert close_code(a.data_to_send()) == 1000
    a.send_message("late")  # dropped, not an error
    assert a.data_to_send() == b""


def test_server_close_handshake() -> None:
    a = ws.WebSocketAdapter()
    a.close(1001, "going away")
    assert close_code(a.data_to_send()) == 1001
    assert a.state is ws.State.LOCAL_CLOSING
    # a ping during closing gets no pong; the peer's close completes the handshake
    assert a.feed(frame(9, b"x")) == [ws.Ping(1, b"x")]
    assert a.data_to_send() == b""
    evs = a.feed(frame(8, struct.pack("!H", 1001)))
    assert evs == [ws.Closed(1, 1001, "", False)]
    assert a.state is ws.State.CLOSED


def test_invalid_utf8_closes_1007() -> None:
    a = ws.WebSocketAdapter()
    evs = a.feed(frame(1, b"ok\xff\xfe"))
    assert evs == [ws.Closed(1, 1007, evs[0].reason, False)]  # type: ignore[attr-defined]
    assert close_code(a.data_to_send()) == 1007
    assert a.state is ws.State.FAILED
    assert a.feed(frame(1, b"more")) == []  # nothing after a failure is parsed


def test_invalid_utf8_split_across_fragments_closes_1007() -> None:
    a = ws.WebSocketAdapter()
    snow = "☃".encode()
    assert a.feed(frame(1, snow[:2], fin=False)) == []
    evs = a.feed(frame(0, b"\x41"))
    assert [e.code for e in evs] == [1007]  # type: ignore[attr-defined]


def test_unmasked_client_frame_closes_1002() -> None:
    a = ws.WebSocketAdapter()
    evs = a.feed(frame(1, b"hi", masked=False))
    assert [e.code for e in evs] == [1002]  # type: ignore[attr-defined]
    assert close_code(a.data_to_send()) == 1002


@pytest.mark.parametrize("data", [
    frame(3, b"x"),  # reserved opcode
    frame(9, b"x", fin=False),  # fragmented control frame
    frame(0, b"x"),  # continuation with nothing to continue
    frame(1, b"x", rsv1=True),  # RSV1 without an extension
    frame(8, b"\x03"),  # close with a 1-byte payload
])
def test_protocol_errors_close_1002(data: bytes) -> None:
    a = ws.WebSocketAdapter()
    evs = a.feed(data)
    assert [e.code for e in evs] == [1002]  # type: ignore[attr-defined]
    assert close_code(a.data_to_send()) == 1002


def test_oversize_message_closes_1009_before_it_is_whole() -> None:
    a = ws.WebSocketAdapter(max_message_size=1000)
    assert a.feed(frame(2, b"a" * 1000)) == [ws.Message(1, b"a" * 1000)]
    big = frame(2, b"b" * 5000)
    evs = a.feed(big[:1500])  # only part of the frame has arrived
    assert [e.code for e in evs] == [1009]  # type: ignore[attr-defined]
    assert close_code(a.data_to_send()) == 1009


@pytest.mark.parametrize("declared", [1001, 1 << 20, 1 << 62])
def test_a_frame_declaring_too_much_closes_1009_from_its_header_alone(declared: int) -> None:
    """No payload byte has arrived: the 64-bit length in the header is enough (a peer
    that declares 2^62 bytes and then trickles or sends nothing is closed at once)."""
    a = ws.WebSocketAdapter(max_message_size=1000)
    length = bytes([0x80 | 126]) + struct.pack("!H", declared) if declared < 65536 \
        else bytes([0x80 | 127]) + struct.pack("!Q", declared)  # the minimal form
    evs = a.feed(b"\x82" + length + b"mask")
    assert [(type(e), e.code) for e in evs] == [(ws.Closed, 1009)]  # type: ignore[attr-defined]
    assert close_code(a.data_to_send()) == 1009
    assert a.state is ws.State.FAILED
    assert a.feed(b"x" * 100) == []


def test_a_continuation_declaring_more_than_the_message_may_still_hold_closes_1009() -> None:
    a = ws.WebSocketAdapter(max_message_size=1000)
    first = frame(2, b"a" * 600, fin=False)
    assert a.feed(first) == []
    head = bytes([0x80, 0x80 | 126]) + struct.pack("!H", 401) + b"mask"
    evs = a.feed(head)
    assert [e.code for e in evs] == [1009]  # type: ignore[attr-defined]


def test_a_frame_declaring_exactly_the_limit_is_waited_for() -> None:
    a = ws.WebSocketAdapter(max_message_size=1000)
    whole = frame(2, b"z" * 1000)
    assert a.feed(whole[:20]) == []
    assert a.state is ws.State.OPEN
    assert a.feed(whole[20:]) == [ws.Message(1, b"z" * 1000)]


def test_oversize_across_fragments_closes_1009() -> None:
    a = ws.WebSocketAdapter(max_message_size=100)
    evs = a.feed(frame(1, b"x" * 60, fin=False) + frame(0, b"y" * 60))
    assert [e.code for e in evs] == [1009]  # type: ignore[attr-defined]


def _client_deflate() -> tuple[FrameProtocol, list]:
    headers, exts = ws.accept(request((b"sec-websocket-extensions", b"permessage-deflate")))
    client_ext = PerMessageDeflate()
    client_ext.finalize(dict(headers)[b"sec-websocket-extensions"].decode())
    return FrameProtocol(True, [client_ext]), exts


def test_permessage_deflate_roundtrip() -> None:
    client, exts = _client_deflate()
    a = ws.WebSocketAdapter(extensions=exts)
    text = "compress me " * 100
    wire = bytes(client.send_data(text))
    assert len(wire) < len(text)
    assert a.feed(wire) == [ws.Message(1, text)]
    a.send_message(text)
    out = a.data_to_send()
    assert out[0] & 0x40  # RSV1: compressed
    client.receive_bytes(out)
    got = list(client.received_frames())
    assert got[0].payload == text


def test_deflate_bomb_closes_1009_without_inflating_it() -> None:
    client, exts = _client_deflate()
    a = ws.WebSocketAdapter(extensions=exts, max_message_size=64 * 1024)
    wire = bytes(client.send_data(b"\x00" * (50 * 1024 * 1024)))
    assert len(wire) < 100 * 1024  # 50 MiB of zeros deflate to ~50 KiB
    evs = a.feed(wire)
    assert [e.code for e in evs] == [1009]  # type: ignore[attr-defined]


def test_corrupt_deflate_closes_1007() -> None:
    _, exts = _client_deflate()
    a = ws.WebSocketAdapter(extensions=exts)
    bad = zlib.compress(b"x")[:1] + b"\xff\xff\xff\xff"
    evs = a.feed(frame(2, bad, rsv1=True))
    assert [e.code for e in evs] == [1007]  # type: ignore[attr-defined]


def test_eof_without_close_is_1006() -> None:
    a = ws.WebSocketAdapter()
    assert a.eof() == [ws.Closed(1, 1006, "connection lost", True)]
    assert a.eof() == []
