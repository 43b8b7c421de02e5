"""The adapter's fast path for a request in one HEADERS frame: the same verdicts and the
same h2 state as h2's own path (``h2`` plays the client; a client that does not validate
what it sends plays the broken one)."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h2.utilities
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    WindowUpdateFrame,
)

from skitai.worker import events
from skitai.worker.protocols.http2 import Http2Adapter

REQ = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"example.com"),
       (b":path", b"/a"), (b"user-agent", b"t")]


def pair(validate: bool = True, **kw: object) -> tuple[h2.connection.H2Connection, Http2Adapter]:
    client = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding=None, validate_outbound_headers=validate,
        normalize_outbound_headers=validate))
    client.initiate_connection()
    server = Http2Adapter(**kw)  # type: ignore[arg-type]
    server.initiate()
    server.feed(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.feed(client.data_to_send())
    # The first request moves h2's connection to SERVER_OPEN (h2's path); later ones are fast.
    client.send_headers(1, REQ, end_stream=True)
    server.feed(client.data_to_send())
    client.receive_data(server.send_whole(1, 200, [], b"first"))
    return client, server


def fast(server: Http2Adapter, sid: int) -> bool:
    return sid in server._lazy  # noqa: SLF001 - what the test is about


def test_a_get_takes_the_fast_path_and_its_response_ends_the_stream_in_h2() -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)
    evs = server.feed(client.data_to_send())
    assert evs == [events.Request(3, b"GET", b"/a", [(b"host", b"example.com"), (b"user-agent", b"t")],
                                  b"2", 0, False, False, True), events.EndBody(3)]
    assert fast(server, 3) and 3 not in server._conn.streams  # noqa: SLF001
    window = server._conn.outbound_flow_control_window  # noqa: SLF001
    got = client.receive_data(server.send_whole(3, 200, [(b"content-type", b"text/plain")], b"hello"))
    assert [type(e) for e in got] == [h2.events.ResponseReceived, h2.events.DataReceived,
                                      h2.events.StreamEnded]
    assert server._conn.outbound_flow_control_window == window - 5  # noqa: SLF001
    assert not fast(server, 3)
    # h2 knows it as closed by our END_STREAM: a late WINDOW_UPDATE on it is fine
    assert server.feed(WindowUpdateFrame(3, window_increment=10).serialize()) == []
    assert not server.closed


def test_a_frame_on_a_fast_stream_hands_it_to_h2_first() -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)
    server.feed(client.data_to_send())
    assert fast(server, 3)
    evs = server.feed(RstStreamFrame(3, error_code=ErrorCodes.CANCEL).serialize())
    assert evs == [events.StreamClosed(3)] and not server.closed
    assert server.send_whole(3, 200, [], b"late") == b""  # reset: goes nowhere


def test_priority_and_settings_reach_a_fast_stream() -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)
    server.feed(client.data_to_send())
    server.feed(PriorityFrame(3, depends_on=0, stream_weight=10).serialize())
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4})
    server.feed(client.data_to_send())
    assert server.sendable(3) == 4  # the new initial window applies to the stream
    got = client.receive_data(server.send_whole(3, 200, [], b"0123456789"))
    assert b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived)) == b"0123"


def test_three_sends_on_a_fast_stream() -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)
    server.feed(client.data_to_send())
    out = server.send(events.Response(3, 200, [(b"x-a", b"1")]))
    out += server.send(events.Data(3, b"abc"))
    out += server.send(events.EndData(3))
    got = client.receive_data(out)
    assert b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived)) == b"abc"
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)


def test_a_header_block_larger_than_a_frame_goes_in_continuations() -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)
    server.feed(client.data_to_send())
    big = [(b"x-big-%d" % i, b"v" * 4000) for i in range(6)]
    got = client.receive_data(server.send_whole(3, 200, big, b"body"))
    head = next(e for e in got if isinstance(e, h2.events.ResponseReceived))
    assert head.headers[1:] == big
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)


def test_many_fast_streams_in_one_read_then_a_window_update() -> None:
    client, server = pair()
    for sid in range(3, 43, 2):
        client.send_headers(sid, REQ, end_stream=True)
    client.increment_flow_control_window(1000)
    evs = server.feed(client.data_to_send())
    assert [e.stream_id for e in evs if isinstance(e, events.Request)] == list(range(3, 43, 2))
    out = b"".join(server.send_whole(sid, 200, [], b"x") for sid in range(3, 43, 2))
    ended = [e.stream_id for e in client.receive_data(out) if isinstance(e, h2.events.StreamEnded)]
    assert ended == list(range(3, 43, 2))


def test_the_concurrency_limit_still_holds() -> None:
    client, server = pair(max_concurrent_streams=3)
    for sid in (3, 5, 7):
        client.send_headers(sid, REQ, end_stream=True)
        server.feed(client.data_to_send())
    forged = HeadersFrame(9, data=client.encoder.encode(REQ))  # the client would refuse to
    forged.flags.add("END_HEADERS")
    forged.flags.add("END_STREAM")
    evs = server.feed(forged.serialize())
    assert server.closed and isinstance(evs[-1], events.RemoteError)


# Request blocks h2 refuses (PROTOCOL_ERROR) and blocks it accepts: the fast path must
# give the same verdict, as h2.utilities.validate_headers does.
BLOCKS: list[list[tuple[bytes, bytes]]] = [
    REQ,
    [*REQ, (b"Upper", b"x")],
    [*REQ, (b"x y", b"x")],
    [*REQ, (b"x:y", b"x")],
    [*REQ, (b"", b"x")],
    [*REQ, (b"x\x7f", b"x")],
    [*REQ, (b"x", b"a\x00b")],
    [*REQ, (b"x", b"a\rb")],
    [*REQ, (b"x", b"a\nb")],
    [*REQ, (b"x", b" a")],
    [*REQ, (b"x", b"a\t")],
    [*REQ, (b"x", b"")],
    [*REQ, (b"x", b"a b\x80")],
    [*REQ, (b"connection", b"close")],
    [*REQ, (b"keep-alive", b"1")],
    [*REQ, (b"transfer-encoding", b"chunked")],
    [*REQ, (b"te", b"trailers")],
    [*REQ, (b"te", b"TRAILERS")],
    [*REQ, (b"te", b"gzip")],
    [*REQ, (b":path", b"/b")],
    [*REQ[:4], (b"x", b"1"), (b":foo", b"1")],
    [*REQ[:4], (b":foo", b"1")],
    [*REQ[:4], (b":status", b"200")],
    [*REQ[:4], (b":protocol", b"websocket")],
    [REQ[1], REQ[2], REQ[3]],
    [REQ[0], REQ[2], REQ[3]],
    [REQ[0], REQ[1], REQ[2]],
    [REQ[0], REQ[1], REQ[3]],
    [REQ[0], REQ[1], REQ[3], (b"host", b"example.com")],
    [*REQ, (b"host", b"example.com")],
    [*REQ, (b"host", b"other.com")],
    [*REQ, (b"host", b"example.com"), (b"host", b"example.com")],
    [REQ[0], REQ[1], (b":path", b""), REQ[2]],
    [(b":method", b"CONNECT"), (b":authority", b"example.com:443")],
    [(b":method", b"CONNECT"), (b":authority", b"e:443"), (b":path", b"/")],
    [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
     (b":path", b"/"), (b":authority", b"e")],
    [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":authority", b"e")],
    [*REQ, (b"content-length", b"0")],
    [*REQ, (b"content-length", b"x1")],
    [*REQ, (b"content-length", b"5"), (b"content-length", b"6")],
    [*REQ, (b"content-length", b"5"), (b"content-length", b"5")],
    [*REQ, (b"::x", b"1")],
]


def _h2_accepts(block: list[tuple[bytes, bytes]]) -> bool:
    flags = h2.utilities.HeaderValidationFlags(is_client=False, is_trailer=False,
                                               is_response_header=False, is_push_promise=False)
    try:
        list(h2.utilities.validate_headers(block, flags))
        lengths = {v for n, v in block if n == b"content-length"}
        return all(v.isdigit() for v in lengths) and len(lengths) <= 1
    except h2.exceptions.ProtocolError:
        return False


@pytest.mark.parametrize("block", BLOCKS)
def test_fast_path_validates_as_h2_does(block: list[tuple[bytes, bytes]]) -> None:
    client, server = pair(validate=False)
    client.send_headers(3, block, end_stream=True)
    evs = server.feed(client.data_to_send())
    if _h2_accepts(block):
        assert not server.closed and isinstance(evs[0], events.Request), evs
        assert fast(server, 3)
    else:
        assert server.closed and isinstance(evs[-1], events.RemoteError), evs
        assert server.error_code == ErrorCodes.PROTOCOL_ERROR
        goaway = [e for e in client.receive_data(server.data_to_send())
                  if isinstance(e, h2.events.ConnectionTerminated)]
        assert goaway and goaway[0].error_code == ErrorCodes.PROTOCOL_ERROR
        assert goaway[0].last_stream_id == 3  # as h2 says it: the stream it refused


@pytest.mark.parametrize("block", BLOCKS)
def test_h2_path_gives_the_same_verdict(block: list[tuple[bytes, bytes]]) -> None:
    # The first request of a connection always goes through h2: the reference.
    client = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding=None, validate_outbound_headers=False,
        normalize_outbound_headers=False))
    client.initiate_connection()
    server = Http2Adapter()
    server.initiate()
    client.send_headers(1, block, end_stream=True)
    evs = server.feed(client.data_to_send())
    assert not fast(server, 1)
    assert server.closed is not _h2_accepts(block), evs


@pytest.mark.parametrize("first", [True, False], ids=["h2-path", "fast-path"])
def test_field_limits_are_a_stream_error_431(first: bool) -> None:
    client, server = pair(max_header_fields=5, max_header_field_size=100)
    sid = 3
    for extra, verdict in [([(b"x-%d" % i, b"v") for i in range(5)], 431),
                           ([(b"x-%d" % i, b"v") for i in range(4)], 200),
                           ([(b"x-big", b"v" * 96)], 431),
                           ([(b"x-big", b"v" * 95)], 200),
                           ([(b"cookie", b"c=%d" % i) for i in range(9)], 200),
                           ([(b"cookie", b"c=" + b"v" * 40)] * 3, 431)]:
        if first:
            client, server = pair(max_header_fields=5, max_header_field_size=100)
            client.send_headers(3, [*REQ, *extra])  # a body follows: h2's own path
            sid = 3
        else:
            client.send_headers(sid, [*REQ, *extra], end_stream=True)
        evs = server.feed(client.data_to_send())
        assert not server.closed
        if verdict == 431:
            # END_STREAM on the refused block: its EndBody follows, on either path
            ended = [] if first else [events.EndBody(sid)]
            assert evs == [events.RemoteError(sid, evs[0].reason, 431), *ended], evs  # type: ignore[attr-defined]
        else:
            assert type(evs[0]) is events.Request
        sid += 2


def test_trailers_over_the_limits_are_431_and_not_delivered() -> None:
    client, server = pair(max_header_fields=5)
    client.send_headers(3, [(b":method", b"POST"), *REQ[1:]])
    client.send_data(3, b"abc")
    client.send_headers(3, [(b"x-%d" % i, b"v") for i in range(6)], end_stream=True)
    evs = server.feed(client.data_to_send())
    assert [type(e) for e in evs] == [events.Request, events.Body, events.RemoteError]
    assert evs[-1].stream_id == 3 and evs[-1].status_hint == 431  # type: ignore[attr-defined]


@pytest.mark.parametrize("upgrade", [False, True])
def test_settings_advertise_the_header_list_limit_h2_enforces(upgrade: bool) -> None:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = Http2Adapter(max_header_bytes=4321)
    if upgrade:
        settings = client.initiate_upgrade_connection()
        server.initiate_upgrade(settings, events.Request(1, b"GET", b"/", [(b"host", b"h")], b"1.1"))
    else:
        client.initiate_connection()
        server.initiate()
    client.receive_data(server.data_to_send())
    assert client.remote_settings.max_header_list_size == 4321
    assert server._conn.decoder.max_header_list_size == 4321  # noqa: SLF001


def test_connection_window_update_keeps_streams_fast_and_opens_the_window() -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)
    client.increment_flow_control_window(1000)
    before = server._conn.outbound_flow_control_window  # noqa: SLF001
    server.feed(client.data_to_send())
    assert fast(server, 3)
    assert server._conn.outbound_flow_control_window == before + 1000  # noqa: SLF001
    # too large an increment: h2's FLOW_CONTROL_ERROR, as before
    evs = server.feed(WindowUpdateFrame(0, window_increment=2**31 - 1).serialize())
    assert server.closed and isinstance(evs[-1], events.RemoteError)
    assert server.error_code == ErrorCodes.FLOW_CONTROL_ERROR


def test_a_repeated_block_gives_the_same_request_and_verdict() -> None:
    # h2's client indexes every field: the second block of the same fields is all
    # indexes (kept by the decoder), and its request is taken from what the first gave.
    client, server = pair(max_header_fields=3)
    over = [*REQ, (b"x-1", b"1"), (b"x-2", b"2"), (b"x-3", b"3")]
    got = []
    for sid in (3, 5, 7):
        client.send_headers(sid, [(b":method", b"HEAD"), *REQ[1:]], end_stream=True)
        got += server.feed(client.data_to_send())
    requests = [e for e in got if type(e) is events.Request]
    assert [r.stream_id for r in requests] == [3, 5, 7]
    assert all(r.method == b"HEAD" and r.headers == requests[0].headers for r in requests)
    out = server.send_whole(7, 200, [], b"no body for HEAD")
    assert not [e for e in client.receive_data(out) if isinstance(e, h2.events.DataReceived)]
    for sid in (9, 11):
        client.send_headers(sid, over, end_stream=True)
        evs = server.feed(client.data_to_send())
        assert evs == [events.RemoteError(sid, evs[0].reason, 431), events.EndBody(sid)], evs  # type: ignore[attr-defined]
    assert server._decoder.requests  # noqa: SLF001 - the kept blocks were used


def test_headers_with_priority_take_the_fast_path() -> None:
    # As browsers send them: the 5 priority bytes skipped.
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True, priority_weight=200, priority_depends_on=1,
                        priority_exclusive=True)
    evs = server.feed(client.data_to_send())
    assert [type(e) for e in evs] == [events.Request, events.EndBody] and fast(server, 3)
    assert evs[0].target == b"/a"  # type: ignore[attr-defined]
    got = client.receive_data(server.send_whole(3, 200, [], b"ok"))
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)


@pytest.mark.parametrize("fields", [REQ, [*REQ, (b"x-new", b"1")]], ids=["kept", "new"])
def test_a_stream_depending_on_itself_is_a_protocol_error(fields: list[tuple[bytes, bytes]]) -> None:
    client, server = pair()
    client.send_headers(3, REQ, end_stream=True)  # (REQ's request is now kept: the memo)
    server.feed(client.data_to_send())
    frame = HeadersFrame(5, data=client.encoder.encode(fields), depends_on=5, stream_weight=1,
                         flags=["END_HEADERS", "END_STREAM", "PRIORITY"])
    assert (server._decoder.requests.get(frame.data) is not None) is (fields is REQ)  # noqa: SLF001
    evs = server.feed(frame.serialize())
    assert server.closed and server.error_code == ErrorCodes.PROTOCOL_ERROR
    assert isinstance(evs[-1], events.RemoteError) and "depend on itself" in evs[-1].reason


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "h2-path"])
def test_a_bad_frame_after_the_peers_goaway_in_the_same_read(fast_path: bool) -> None:
    # (found by test_http2_fuzz.py) h2 reads the whole read after the peer's GOAWAY: a
    # WINDOW_UPDATE of 0 behind it is its GOAWAY PROTOCOL_ERROR.  The fast path, which
    # takes a connection WINDOW_UPDATE itself, stopped at the GOAWAY instead.
    client, server = pair()
    server.fast_path = fast_path
    data = (GoAwayFrame(0, last_stream_id=0).serialize()
            + WindowUpdateFrame(0, window_increment=0).serialize())
    evs = server.feed(data)
    assert server.closed and server.error_code == ErrorCodes.PROTOCOL_ERROR, evs
    goaway = [e for e in client.receive_data(server.data_to_send())
              if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway and goaway[0].error_code == ErrorCodes.PROTOCOL_ERROR


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "h2-path"])
def test_a_block_over_the_field_limits_with_end_stream_gives_its_end_on_both_paths(
        fast_path: bool) -> None:
    # (found by test_http2_fuzz.py) h2's path gives the EndBody of a refused (431) request
    # that ended with its HEADERS; the fast path gave only the RemoteError.
    client, server = pair(max_header_fields=3)
    server.fast_path = fast_path
    client.send_headers(3, [*REQ, (b"x-1", b"1"), (b"x-2", b"2"), (b"x-3", b"3")],
                        end_stream=True)
    evs = server.feed(client.data_to_send())
    assert evs == [events.RemoteError(3, evs[0].reason, 431), events.EndBody(3)], evs  # type: ignore[attr-defined]
    assert fast(server, 3) is fast_path


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "h2-path"])
def test_draining_a_stream_closed_twice_in_one_read_is_a_stream_error(fast_path: bool) -> None:
    # (found by test_http2_fuzz.py) While draining, a new stream is refused after h2's read;
    # if a later frame of the same read (DATA after END_STREAM) had h2 reset it already,
    # the refusal raised and the adapter ended the connection (GOAWAY STREAM_CLOSED).
    # And a connection WINDOW_UPDATE (a fast-path frame) cut that read in two, so the
    # refusal came before the DATA: another answer than h2's path.
    client, server = pair()
    server.fast_path = fast_path
    server.shutdown()
    client.send_headers(3, REQ, end_stream=True)
    data = client.data_to_send()
    data += WindowUpdateFrame(0, window_increment=1).serialize()
    data += DataFrame(3, data=b"late", flags=["END_STREAM"]).serialize()
    evs = server.feed(data)
    assert evs == [] and not server.closed, evs
    resets = [(e.stream_id, e.error_code) for e in client.receive_data(server.data_to_send())
              if isinstance(e, h2.events.StreamReset)]
    assert resets == [(3, ErrorCodes.STREAM_CLOSED)]


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "h2-path"])
def test_a_connection_window_update_in_a_refused_read_sends_nothing(fast_path: bool) -> None:
    # (found by test_http2_fuzz.py) h2's path answers a WINDOW_UPDATE after its read, so a
    # read that ends in a connection error sends no DATA; the fast path took the update
    # as it came and sent the waiting DATA before the GOAWAY.
    client, server = pair()
    server.fast_path = fast_path
    client.send_headers(3, REQ, end_stream=True)
    server.feed(client.data_to_send())
    out = server.send(events.Response(3, 200, []))
    out += server.send(events.Data(3, b"x" * 70000))
    out += server.send(events.EndData(3))
    client.receive_data(out)
    assert server.buffered(3)  # the connection window is spent
    server.feed(WindowUpdateFrame(3, window_increment=5000).serialize())
    assert not [e for e in client.receive_data(server.data_to_send())
                if isinstance(e, h2.events.DataReceived)]
    bad = PingFrame(0).serialize()
    bad = bad[:5] + b"\x00\x00\x00\x01" + bad[9:]  # a PING on a stream: PROTOCOL_ERROR
    evs = server.feed(WindowUpdateFrame(0, window_increment=1000).serialize() + bad)
    assert server.closed and server.error_code == ErrorCodes.PROTOCOL_ERROR, evs
    got = client.receive_data(server.data_to_send())
    assert [type(e) for e in got] == [h2.events.ConnectionTerminated], got


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "h2-path"])
def test_a_new_stream_drops_the_closed_ones_before_a_window_change(fast_path: bool) -> None:
    # (found by test_http2_fuzz.py) h2 drops its closed streams when a new stream opens;
    # a SETTINGS_INITIAL_WINDOW_SIZE change then leaves them alone.  The fast path kept
    # them, and the change overflowed a closed stream's window: FLOW_CONTROL_ERROR.
    client, server = pair()
    server.fast_path = fast_path
    client.send_headers(3, REQ, end_stream=True)
    client.increment_flow_control_window(65535, stream_id=3)
    server.feed(client.data_to_send())
    client.receive_data(server.send_whole(3, 200, [], b"done"))  # closed, by h2
    client.send_headers(5, REQ, end_stream=True)
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    evs = server.feed(client.data_to_send())
    assert not server.closed, evs
    assert [type(e) for e in evs] == [events.Request, events.EndBody]
    got = client.receive_data(server.send_whole(5, 200, [], b"ok"))
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "h2-path"])
def test_a_read_cut_by_a_fast_frame_is_answered_only_if_all_of_it_is_read(
        fast_path: bool) -> None:
    # (found by test_http2_fuzz.py) The fast path cuts a read into h2 runs at its frames;
    # the events of a run were answered at once (here: DATA sent for a stream's
    # WINDOW_UPDATE), though a frame later in the read was refused (GOAWAY): h2's path
    # answers nothing of such a read.
    client, server = pair()
    server.fast_path = fast_path
    client.send_headers(3, REQ, end_stream=True)
    server.feed(client.data_to_send())
    out = server.send(events.Response(3, 200, []))
    out += server.send(events.Data(3, b"x" * 70000))
    out += server.send(events.EndData(3))
    client.receive_data(out)
    client.increment_flow_control_window(100000)
    server.feed(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert server.buffered(3)  # the stream window is spent (the connection's is not)
    client.increment_flow_control_window(5000, stream_id=3)
    client.send_headers(5, REQ, end_stream=True)
    bad = PingFrame(0).serialize()
    bad = bad[:5] + b"\x00\x00\x00\x01" + bad[9:]  # a PING on a stream: PROTOCOL_ERROR
    data = client.data_to_send() + bad
    evs = server.feed(data)
    assert server.closed and server.error_code == ErrorCodes.PROTOCOL_ERROR, evs
    got = client.receive_data(server.data_to_send())
    assert [type(e) for e in got] == [h2.events.ConnectionTerminated], got
