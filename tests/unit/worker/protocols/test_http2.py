"""The HTTP/2 adapter with byte strings only: ``h2`` plays the client."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

from skitai.errors import LocalProtocolError
from skitai.worker import events
from skitai.worker.protocols.http2 import FloodLimits, Http2Adapter

REQ = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"example.com"),
       (b":path", b"/a/b?x=1"), (b"user-agent", b"t")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pair(**kw: object) -> tuple[h2.connection.H2Connection, Http2Adapter]:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                  header_encoding=None))
    client.initiate_connection()
    server = Http2Adapter(**kw)  # type: ignore[arg-type]
    server.initiate()
    return client, server


def to_server(client: h2.connection.H2Connection, server: Http2Adapter,
              step: int = 0) -> list[events.Event]:
    data = client.data_to_send()
    if not step:
        return server.feed(data)
    out: list[events.Event] = []
    for i in range(0, len(data), step):
        out += server.feed(data[i:i + step])
    return out


def to_client(client: h2.connection.H2Connection, server: Http2Adapter,
              extra: bytes = b"") -> list[h2.events.Event]:
    return client.receive_data(server.data_to_send() + extra)


def settle(client: h2.connection.H2Connection, server: Http2Adapter) -> None:
    to_server(client, server)
    to_client(client, server)
    to_server(client, server)


def goaway(received: list[h2.events.Event]) -> h2.events.ConnectionTerminated:
    found = [e for e in received if isinstance(e, h2.events.ConnectionTerminated)]
    assert found, received
    return found[0]


@pytest.mark.parametrize("step", [0, 1, 7])
def test_get_becomes_request_and_end_body(step: int) -> None:
    client, server = pair()
    client.send_headers(1, REQ, end_stream=True)
    evs = [e for e in to_server(client, server, step) if not isinstance(e, events.RemoteError)]
    assert evs == [
        events.Request(1, b"GET", b"/a/b?x=1", [(b"host", b"example.com"), (b"user-agent", b"t")],
                       b"2", 0, False, False, True),  # END_STREAM on HEADERS: no body
        events.EndBody(1),
    ]


def test_response_round_trip_with_trailers() -> None:
    client, server = pair()
    settle(client, server)
    client.send_headers(1, REQ, end_stream=True)
    to_server(client, server)
    out = server.send(events.Response(1, 200, [(b"content-type", b"text/plain"),
                                               (b"Connection", b"close")]))
    out += server.send(events.Data(1, b"hello"))
    out += server.send(events.EndData(1, [(b"x-checksum", b"abc")]))
    got = client.receive_data(out)
    resp = next(e for e in got if isinstance(e, h2.events.ResponseReceived))
    assert (b":status", b"200") in resp.headers
    assert all(n != b"connection" for n, _ in resp.headers)  # connection-specific: dropped
    assert b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived)) == b"hello"
    trailers = next(e for e in got if isinstance(e, h2.events.TrailersReceived))
    assert trailers.headers == [(b"x-checksum", b"abc")]
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)


def test_request_body_and_trailers() -> None:
    client, server = pair()
    client.send_headers(1, [(b":method", b"POST"), *REQ[1:4], (b"content-length", b"6")])
    client.send_data(1, b"abc")
    client.send_data(1, b"def")
    client.send_headers(1, [(b"x-sum", b"1")], end_stream=True)
    evs = to_server(client, server)
    assert evs[0].content_length == 6 and not evs[0].chunked  # type: ignore[attr-defined]
    assert [e for e in evs if isinstance(e, events.Body)] == [events.Body(1, b"abc"),
                                                              events.Body(1, b"def")]
    assert evs[-1] == events.EndBody(1, [(b"x-sum", b"1")])


def test_head_and_304_send_no_body() -> None:
    client, server = pair()
    settle(client, server)
    client.send_headers(1, [(b":method", b"HEAD"), *REQ[1:]], end_stream=True)
    to_server(client, server)
    out = server.send(events.Response(1, 200, [(b"content-length", b"5")]))
    out += server.send(events.Data(1, b"hello"))
    out += server.send(events.EndData(1))
    got = client.receive_data(out)
    assert not [e for e in got if isinstance(e, h2.events.DataReceived)]
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)


def test_one_byte_window_sends_as_window_opens() -> None:
    client, server = pair()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1})
    settle(client, server)
    client.send_headers(1, REQ, end_stream=True)
    to_server(client, server)
    body = bytes(range(256)) * 4
    out = server.send(events.Response(1, 200, []))
    out += server.send(events.Data(1, body))
    out += server.send(events.EndData(1))
    out += server.flush(1)
    assert server.buffered(1) == len(body) - 1  # one byte went, the rest waits for window
    assert server.sendable(1) == 0
    assert server.take_writable() == set()
    received = b""
    ended = False
    for _ in range(5000):
        for e in to_client(client, server, out):
            out = b""
            if isinstance(e, h2.events.DataReceived):
                received += e.data
                client.acknowledge_received_data(e.flow_controlled_length, 1)
            ended = ended or isinstance(e, h2.events.StreamEnded)
        if ended:
            break
        to_server(client, server)
    assert received == body and ended
    assert server.buffered(1) == 0
    assert 1 in server.take_writable()


def test_connection_window_is_shared_fairly_enough() -> None:
    # the client's connection window (65535) is smaller than two bodies: both finish
    client, server = pair()
    settle(client, server)
    for sid in (1, 3):
        client.send_headers(sid, REQ, end_stream=True)
    to_server(client, server)
    body = b"x" * 60000
    out = b""
    for sid in (1, 3):
        out += server.send(events.Response(sid, 200, []))
        out += server.send(events.Data(sid, body))
        out += server.send(events.EndData(sid))
    assert server.buffered(1) + server.buffered(3) == 2 * len(body) - 65535
    got = {1: 0, 3: 0}
    ended: set[int] = set()
    for _ in range(100):
        for e in to_client(client, server, out):
            out = b""
            if isinstance(e, h2.events.DataReceived):
                got[e.stream_id] += len(e.data)
                client.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                ended.add(e.stream_id)
        if ended == {1, 3}:
            break
        to_server(client, server)
    assert got == {1: 60000, 3: 60000}


def test_hold_keeps_the_window_until_release() -> None:
    client, server = pair(stream_window=65535)
    settle(client, server)
    client.send_headers(1, [(b":method", b"POST"), *REQ[1:4]])
    to_server(client, server)
    server.hold(1)
    client.send_data(1, b"x" * 16000)
    client.send_data(1, b"x" * 16000)
    client.send_data(1, b"x" * 16000)
    to_server(client, server)
    to_client(client, server)
    assert client.local_flow_control_window(1) == 65535 - 48000  # nothing handed back
    server.release(1)
    to_client(client, server)
    assert client.local_flow_control_window(1) == 65535



def test_held_stream_hands_the_connection_window_back() -> None:
    # A held stream's bytes are buffered: the connection's window comes back at once,
    # the stream's only on release.  Another stream's upload then goes on although
    # the held bytes are more than the connection window.
    client, server = pair(stream_window=65535, connection_window=65535)
    settle(client, server)
    client.send_headers(1, [(b":method", b"POST"), *REQ[1:4]])
    client.send_headers(3, [(b":method", b"POST"), *REQ[1:4]])
    to_server(client, server)
    server.hold(1)
    for _ in range(4):
        client.send_data(1, b"x" * 16000)
    to_server(client, server)
    to_client(client, server)
    assert client.streams[1].outbound_flow_control_window == 65535 - 64000  # the stream: nothing back
    # the connection: all of it but the last frame (WINDOW_UPDATEs in half-window steps)
    assert client.outbound_flow_control_window == 65535 - 16000
    got = 0
    for _ in range(4):
        client.send_data(3, b"y" * 16000)
        got += sum(len(e.data) for e in to_server(client, server) if isinstance(e, events.Body))
        to_client(client, server)
    assert got == 64000 and client.outbound_flow_control_window > 32767
    server.release(1)
    to_client(client, server)
    assert client.streams[1].outbound_flow_control_window == 65535
    server.hold(3)
    assert server.reset(3)  # (the RST_STREAM) held bytes of a reset stream: nothing to hand back
    assert not server.is_held(3)


def _window_updates(data: bytes) -> list[tuple[int, int]]:
    """(stream id, increment) of every WINDOW_UPDATE frame in ``data``."""
    out = []
    at = 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        if data[at + 3] == 8:
            sid = int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF
            out.append((sid, int.from_bytes(data[at + 9:at + 13], "big") & 0x7FFFFFFF))
        at += 9 + length
    return out


@pytest.mark.parametrize("held", [False, True])
def test_upload_window_is_handed_back_in_half_window_steps(held: bool) -> None:
    # The smallest windows (65535 for the stream and the connection): 10 MiB in 16 KiB
    # DATA frames completes, and the window comes back when half of it was consumed (h2's
    # WindowManager, as nghttp2 does), per stream and connection: one WINDOW_UPDATE of
    # each per two frames, not one per frame.  ``held``: a reader that is behind (hold)
    # and catches up (release) every few frames is never left without window either.
    client, server = pair(stream_window=65535, connection_window=65535)
    settle(client, server)
    client.send_headers(1, [(b":method", b"POST"), *REQ[1:4]])
    to_server(client, server)
    size, frame = 10 << 20, 16384
    sent = received = 0
    updates: list[tuple[int, int]] = []
    rounds = 0
    while sent < size:
        rounds += 1
        assert rounds < 10 * size // frame, "the upload stalled"
        room = min(client.local_flow_control_window(1), frame, size - sent)
        if room <= 0:
            if held and server.is_held(1):
                server.release(1)  # the reader caught up
            out = server.data_to_send()
            assert out, "no window is coming: the upload stalled"
            updates += _window_updates(out)
            client.receive_data(out)
            continue
        client.send_data(1, b"u" * room, end_stream=sent + room == size)
        sent += room
        if held and sent % (3 * frame) == 0:
            server.hold(1)
        for e in to_server(client, server):
            if isinstance(e, events.Body):
                received += len(e.data)
    assert received == size
    frames = size // frame
    stream_updates = sum(1 for sid, _ in updates if sid == 1)
    connection_updates = sum(1 for sid, _ in updates if sid == 0)
    assert stream_updates <= frames // 2 + 2 and connection_updates <= frames // 2 + 2, (
        stream_updates, connection_updates)
    assert all(inc >= 32767 for _, inc in updates)


def test_rapid_reset_closes_with_enhance_your_calm() -> None:
    clock = Clock()
    client, server = pair(flood=FloodLimits(resets=50))
    settle(client, server)
    sid = 1
    evs: list[events.Event] = []
    for _ in range(60):
        client.send_headers(sid, REQ, end_stream=True)
        client.reset_stream(sid)
        sid += 2
        evs += to_server(client, server)
        if server.closed:
            break
    assert server.closed and server.error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert isinstance(evs[-1], events.RemoteError) and "rapid reset" in evs[-1].reason
    assert goaway(to_client(client, server)).error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert server.feed(b"anything") == []  # nothing after it is parsed
    del clock


def test_resets_spread_over_windows_are_fine() -> None:
    clock = Clock()
    client, server = pair(flood=FloodLimits(resets=10, window=1.0), clock=clock)
    settle(client, server)
    sid = 1
    for _ in range(40):
        client.send_headers(sid, REQ, end_stream=True)
        client.reset_stream(sid)
        sid += 2
        to_server(client, server)
        clock.now += 0.2  # 5 per window
    assert not server.closed


def _raw(client: h2.connection.H2Connection, server: Http2Adapter, frames: list[bytes]) -> list[events.Event]:
    settle(client, server)
    out: list[events.Event] = []
    for f in frames:
        out += server.feed(f)
        if server.closed:
            break
    return out


def test_ping_flood() -> None:
    client, server = pair(flood=FloodLimits(pings=20))
    evs = _raw(client, server, [PingFrame(0, opaque_data=b"12345678").serialize()] * 30)
    assert isinstance(evs[-1], events.RemoteError) and "PING" in evs[-1].reason
    assert goaway(to_client(client, server)).error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_settings_flood() -> None:
    client, server = pair(flood=FloodLimits(settings=20))
    evs = _raw(client, server, [SettingsFrame(0, settings={4: 65535}).serialize()] * 30)
    assert isinstance(evs[-1], events.RemoteError) and "SETTINGS" in evs[-1].reason
    assert goaway(to_client(client, server)).error_code == ErrorCodes.ENHANCE_YOUR_CALM


def _headers_block(client: h2.connection.H2Connection) -> bytes:
    return client.encoder.encode(REQ)


def test_continuation_flood_of_tiny_frames() -> None:
    client, server = pair()
    block = _headers_block(client)
    head = HeadersFrame(1, data=block[:5])  # no END_HEADERS
    frames = [head.serialize()] + [ContinuationFrame(1, data=b"").serialize()] * 100
    evs = _raw(client, server, [b"".join(frames)])
    assert isinstance(evs[-1], events.RemoteError) and "CONTINUATION" in evs[-1].reason
    assert goaway(to_client(client, server)).error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_header_block_over_the_limit_in_continuations() -> None:
    client, server = pair(max_header_bytes=4096)
    head = HeadersFrame(1, data=b"\x00" * 1000)
    frames = [head.serialize()] + [ContinuationFrame(1, data=b"\x00" * 1000).serialize()] * 5
    evs = _raw(client, server, frames)
    assert isinstance(evs[-1], events.RemoteError) and evs[-1].status_hint == 431
    assert goaway(to_client(client, server)).error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_header_list_over_the_limit() -> None:
    client, server = pair(max_header_bytes=4096)
    settle(client, server)
    client.send_headers(1, [*REQ, (b"x-big", b"v" * 3000), (b"x-big2", b"v" * 3000)],
                        end_stream=True)
    evs = to_server(client, server)
    assert isinstance(evs[-1], events.RemoteError)
    assert server.error_code == ErrorCodes.ENHANCE_YOUR_CALM


def test_frame_inside_a_header_block_is_protocol_error() -> None:
    client, server = pair()
    block = _headers_block(client)
    frames = [HeadersFrame(1, data=block[:3]).serialize(),
              PingFrame(0, opaque_data=b"12345678").serialize()]
    evs = _raw(client, server, [b"".join(frames)])
    assert isinstance(evs[-1], events.RemoteError)
    assert goaway(to_client(client, server)).error_code == ErrorCodes.PROTOCOL_ERROR


def test_too_many_concurrent_streams() -> None:
    client, server = pair(max_concurrent_streams=3)
    settle(client, server)
    # the client honours our limit; forge the fourth stream with raw frames
    for sid in (1, 3, 5):
        client.send_headers(sid, REQ, end_stream=True)
    to_server(client, server)
    forged = HeadersFrame(7, data=client.encoder.encode(REQ))
    forged.flags.add("END_HEADERS")
    forged.flags.add("END_STREAM")
    evs = server.feed(forged.serialize())
    assert isinstance(evs[-1], events.RemoteError)
    assert goaway(to_client(client, server)).error_code == ErrorCodes.PROTOCOL_ERROR


def test_rst_stream_becomes_stream_closed() -> None:
    client, server = pair()
    client.send_headers(1, [(b":method", b"POST"), *REQ[1:4]])
    to_server(client, server)
    client.reset_stream(1)
    assert to_server(client, server) == [events.StreamClosed(1)]
    server.data_to_send()
    # the app's late output for it goes nowhere, without an error
    assert server.send(events.Response(1, 200, [])) == b""


def test_whole_response_to_a_stream_reset_in_the_same_read_goes_nowhere() -> None:
    # The request and its RST_STREAM arrive in one read: an inline app answers the
    # Request event before the connection sees StreamClosed.  Head, body and end must
    # all be dropped quietly (the body used to raise "Data before the response head").
    client, server = pair()
    client.send_headers(1, REQ, end_stream=True)
    client.reset_stream(1)
    evs = to_server(client, server)
    assert [type(e) for e in evs] == [events.Request, events.EndBody, events.StreamClosed]
    server.data_to_send()
    assert server.send(events.Response(1, 200, [(b"content-length", b"2")])) == b""
    assert server.send(events.Data(1, b"ok")) == b""
    assert server.send(events.EndData(1)) == b""
    # a stream that was never opened is still a caller error
    with pytest.raises(LocalProtocolError):
        server.send(events.Data(3, b"x"))


def test_graceful_shutdown_finishes_old_streams_and_refuses_new() -> None:
    client, server = pair()
    settle(client, server)
    client.send_headers(1, REQ, end_stream=True)
    to_server(client, server)
    server.data_to_send()
    frames = split_frames(server.shutdown())
    assert [type(f) for f in frames] == [GoAwayFrame]
    assert frames[0].error_code == ErrorCodes.NO_ERROR and frames[0].last_stream_id == 1
    # the in-flight stream still gets its response after the GOAWAY (h2's own client
    # would drop it; nghttp2 and browsers read it, which the integration test shows)
    out = server.send(events.Response(1, 200, []))
    out += server.send(events.Data(1, b"late"))
    out += server.send(events.EndData(1))
    frames = split_frames(out)
    assert [type(f) for f in frames] == [HeadersFrame, DataFrame]  # the body ends the stream
    assert frames[1].data == b"late" and "END_STREAM" in frames[1].flags


def split_frames(data: bytes) -> list[Frame]:
    out = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9:9 + length]))
        out.append(frame)
        data = data[9 + length:]
    return out


def test_stream_above_goaway_is_refused() -> None:
    client, server = pair()
    settle(client, server)
    client.send_headers(1, REQ, end_stream=True)
    to_server(client, server)
    server.shutdown()
    forged = HeadersFrame(3, data=client.encoder.encode(REQ))
    forged.flags.add("END_HEADERS")
    forged.flags.add("END_STREAM")
    assert server.feed(forged.serialize()) == []
    rst = RstStreamFrame(3)
    rst.error_code = ErrorCodes.REFUSED_STREAM
    assert rst.serialize() in server.data_to_send()


def test_upgrade_makes_stream_one() -> None:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                  header_encoding=None))
    settings = client.initiate_upgrade_connection()
    server = Http2Adapter()
    h1 = events.Request(1, b"GET", b"/up", [(b"host", b"a"), (b"connection", b"Upgrade, HTTP2-Settings"),
                                           (b"upgrade", b"h2c"), (b"http2-settings", settings)],
                        b"1.1")
    req = server.initiate_upgrade(settings, h1)
    assert req == events.Request(1, b"GET", b"/up", [(b"host", b"a")], b"2", None, False, False, True)
    out = server.data_to_send()
    out += server.send(events.Response(1, 200, [(b"content-length", b"2")]))
    out += server.send(events.Data(1, b"ok"))
    out += server.send(events.EndData(1))
    got = client.receive_data(out)
    assert b"ok" == b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived))


def test_push_promise() -> None:
    client, server = pair()
    settle(client, server)
    client.send_headers(1, REQ, end_stream=True)
    to_server(client, server)
    assert server.push_enabled
    promised = server.push(1, [(b":method", b"GET"), (b":scheme", b"http"),
                               (b":authority", b"example.com"), (b":path", b"/style.css")])
    assert promised == 2
    got = to_client(client, server)
    pushed = next(e for e in got if isinstance(e, h2.events.PushedStreamReceived))
    assert pushed.pushed_stream_id == 2 and (b":path", b"/style.css") in pushed.headers


def test_push_disabled_by_the_client() -> None:
    client, server = pair()
    client.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
    settle(client, server)
    client.send_headers(1, REQ, end_stream=True)
    to_server(client, server)
    assert not server.push_enabled
    assert server.push(1, REQ) is None


def test_garbage_instead_of_preface() -> None:
    server = Http2Adapter()
    server.initiate()
    evs = server.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(evs[-1], events.RemoteError) and server.closed


def test_extended_connect_protocol() -> None:
    client, server = pair(enable_connect_protocol=True)
    settle(client, server)
    assert client.remote_settings.enable_connect_protocol == 1
    client.send_headers(1, [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                            (b":scheme", b"http"), (b":path", b"/chat"),
                            (b":authority", b"example.com")])
    req = to_server(client, server)[0]
    assert req.method == b"CONNECT" and (b":protocol", b"websocket") in req.headers  # type: ignore[attr-defined]


def test_body_without_content_length_is_like_chunked() -> None:
    client, server = pair()
    client.send_headers(1, [(b":method", b"POST"), *REQ[1:4]])
    client.send_data(1, b"abc", end_stream=True)
    req, body, end = to_server(client, server)
    assert req.content_length is None and req.chunked  # type: ignore[attr-defined]
    assert body == events.Body(1, b"abc") and end == events.EndBody(1)


# --- the whole-response fast path and the stateless field encoder ------------------------------

def _responses(whole: bool, status: int, method: bytes, body: bytes,
               headers: list[tuple[bytes, bytes]]) -> list[object]:
    client, server = pair()
    settle(client, server)
    req = [(b":method", method), *REQ[1:]]
    out = []
    for sid in (1, 3, 5):  # the same fields again: cached encodings, same meaning
        client.send_headers(sid, req, end_stream=True)
        to_server(client, server)
        if whole:
            data = server.send_whole(sid, status, headers, body)
        else:
            data = (server.send(events.Response(sid, status, headers))
                    + server.send(events.Data(sid, body)) + server.send(events.EndData(sid)))
        for ev in client.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                out.append(("head", ev.stream_id, ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                out.append(("data", ev.stream_id, ev.data))
            elif isinstance(ev, h2.events.StreamEnded):
                out.append(("end", ev.stream_id))
        if len(body) < 16384:  # (a larger one waits for the client's window)
            assert server.buffered(sid) == 0
    return out


@pytest.mark.parametrize(("status", "method", "body"), [
    (200, b"GET", b"Hello, World!"), (404, b"GET", b"<h1>404</h1>"), (200, b"HEAD", b"12345"),
    (204, b"GET", b""), (200, b"GET", b""), (200, b"GET", b"x" * 70000),
])
def test_send_whole_gives_what_the_three_sends_give(status: int, method: bytes,
                                                    body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"x-custom", b"v\xe9"),
               (b"set-cookie", b"s=secret"), (b"content-length", str(len(body)).encode())]
    whole = _responses(True, status, method, body, headers)
    assert whole == _responses(False, status, method, body, headers)
    assert whole[0] == ("head", 1, [(b":status", str(status).encode()), *headers])


def test_field_encoder_uses_no_dynamic_table_and_signals_a_table_size_change() -> None:
    from hpack import Decoder

    from skitai.worker.protocols.http2 import _FieldEncoder

    enc, dec = _FieldEncoder(), Decoder()
    fields = [(b":status", b"200"), (b"content-type", b"text/html"), (b"x-a", b"b"),
              (b"cookie", b"c=1")]
    first = enc.encode(fields)
    assert enc.encode(fields) == first  # no state: the same bytes every time
    assert dec.decode(first, raw=True) == fields and len(dec.header_table.dynamic_entries) == 0
    assert first[:1] == b"\x88"  # :status 200 is static index 8
    enc.header_table_size = 0  # the peer's SETTINGS_HEADER_TABLE_SIZE
    block = enc.encode(fields)
    assert block[:1] == b"\x20"  # a dynamic table size update to 0 comes first
    assert dec.decode(block, raw=True) == fields


def test_cookie_crumbs_arrive_as_fields_and_join_in_the_environ() -> None:
    from skitai.worker.environ import build_environ

    client, server = pair()
    client.send_headers(1, REQ + [(b"cookie", b"a=1"), (b"cookie", b"b=2")], end_stream=True)
    request = next(e for e in to_server(client, server) if isinstance(e, events.Request))
    assert [v for n, v in request.headers if n == b"cookie"] == [b"a=1", b"b=2"]
    environ = build_environ(request, script_name="", path_info="/", query=b"", scheme="http",
                            client=None, server=None, body=None)  # type: ignore[arg-type]
    assert environ["HTTP_COOKIE"] == "a=1; b=2"


def test_block_decoder_gives_what_a_plain_decoder_gives() -> None:
    """Blocks of indexed fields only are remembered; any other block drops what was kept
    (it may change the dynamic table, and with it what the same indexes mean)."""
    import random

    from hpack import Decoder, Encoder

    from skitai.worker.protocols.http2 import _BlockDecoder, _only_indexed

    rng = random.Random(7)
    enc, plain, ours = Encoder(), Decoder(), _BlockDecoder()
    enc.header_table_size = 256  # a small table: entries are evicted and indexes move
    paths = [b"/", b"/a", b"/b", b"/" + b"x" * 40]
    hits = 0
    for _ in range(2000):
        fields = [(b":method", b"GET"), (b":path", rng.choice(paths)),
                  (b":authority", b"h"), (b"x-n", b"%d" % rng.randrange(6))]
        block = enc.encode(fields)
        hits += _only_indexed(block)
        assert ours.decode(block, raw=True) == plain.decode(block, raw=True) == fields
    assert hits > 100  # the remembered path was taken


@pytest.mark.parametrize(("block", "only"), [
    (b"\x82\x84\x86", True), (b"\xff\x00", True), (b"\xff\x80\x01\x82", True),
    (b"\x82\x04\x01/", False), (b"\x20\x82", False), (b"\xff", False), (b"", True),
])
def test_only_indexed(block: bytes, only: bool) -> None:
    from skitai.worker.protocols.http2 import _only_indexed

    assert _only_indexed(block) is only
