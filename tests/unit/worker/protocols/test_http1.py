"""protocols/http1.py: the request corpus replayed at several splits, and send() framing.

The corpus (tests/corpus/http1, format in its README.md) is fed whole, line by line,
byte by byte and in seeded random splits; every way must give the same events.  The
unit tests below cover what a corpus cannot: responses, keep-alive, eof, upgrade.
"""

from __future__ import annotations

import codecs
import random
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skitai.errors import LocalProtocolError
from skitai.worker import events
from skitai.worker.events import Body, EndBody, EndData, Request, Response
from skitai.worker.protocols.http1 import H2_PREFACE, DefaultHeaders, Http1Adapter

CORPUS = Path(__file__).resolve().parents[3] / "corpus" / "http1"
SPLITS = ("whole", "lines", "bytes", "random0", "random1", "random2")


# --- the corpus ------------------------------------------------------------------------------

def load_bytes(path: Path) -> bytes:
    raw = path.read_bytes().replace(b"\r", b"").replace(b"\n", b"")
    return codecs.escape_decode(raw)[0]  # type: ignore[no-any-return]


def chunks(data: bytes, how: str) -> Iterator[bytes]:
    if how == "whole":
        yield data
    elif how == "lines":
        yield from data.splitlines(keepends=True)
    elif how == "bytes":
        for i in range(len(data)):
            yield data[i:i + 1]
    else:
        rng = random.Random(f"{how}:{len(data)}")
        i = 0
        while i < len(data):
            n = rng.randint(1, 17)
            yield data[i:i + n]
            i += n


def merged(evs: list[events.Event]) -> list[events.Event]:
    """Consecutive Body events of one stream as one: how a body is cut depends on reads."""
    out: list[events.Event] = []
    for ev in evs:
        last = out[-1] if out else None
        if type(ev) is Body and type(last) is Body and last.stream_id == ev.stream_id:
            out[-1] = Body(ev.stream_id, last.data + ev.data)
        else:
            out.append(ev)
    return out


def replay(data: bytes, how: str, limits: dict[str, int]) -> tuple[Http1Adapter, list[events.Event]]:
    adapter = Http1Adapter(**limits)
    got: list[events.Event] = []
    for piece in chunks(data, how):
        got += adapter.feed(piece)
    return adapter, merged(got)


def cases(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.http"))


def test_corpus_is_big_enough() -> None:
    assert len(cases("valid")) >= 30
    assert len(cases("invalid")) >= 40
    for path in cases("valid") + cases("invalid"):
        assert path.with_suffix(".py").exists(), path


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("path", cases("valid"), ids=lambda p: p.stem)
def test_valid(path: Path, how: str) -> None:
    spec: dict[str, Any] = runpy.run_path(str(path.with_suffix(".py")))
    adapter, got = replay(load_bytes(path), how, spec.get("limits", {}))
    assert got == spec["expected"]
    assert adapter.upgrade_requested is spec.get("upgrade", False)
    if "trailing" in spec:
        assert adapter.take_trailing_data() == spec["trailing"]
    assert adapter.eof() == []


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("path", cases("invalid"), ids=lambda p: p.stem)
def test_invalid(path: Path, how: str) -> None:
    spec: dict[str, Any] = runpy.run_path(str(path.with_suffix(".py")))
    adapter, got = replay(load_bytes(path), how, spec.get("limits", {}))
    before = spec.get("events_before", [])
    assert got[:-1] == before
    error = got[-1]
    assert type(error) is events.RemoteError, got
    assert error.status_hint == spec["status"], error
    assert error.stream_id == 1 + sum(type(e) is EndBody for e in before)
    assert adapter.h2_preface is spec.get("h2_preface", False)
    # Nothing after a bad request is ever parsed, and the connection closes.
    assert adapter.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []
    assert adapter.eof() == []
    assert adapter.keep_alive is False


# --- helpers for the unit tests -------------------------------------------------------------

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def adapter_with(data: bytes, **limits: int) -> Http1Adapter:
    adapter = Http1Adapter(**limits)
    evs = adapter.feed(data)
    assert not any(type(e) is events.RemoteError for e in evs), evs
    return adapter


def respond(adapter: Http1Adapter, sid: int, status: int, headers: list[tuple[bytes, bytes]],
            *body: bytes) -> bytes:
    out = adapter.send(Response(sid, status, headers))
    for piece in body:
        out += adapter.send(events.Data(sid, piece))
    return out + adapter.send(EndData(sid))


# --- send(): framing ------------------------------------------------------------------------

def test_content_length_framing() -> None:
    a = adapter_with(GET)
    out = respond(a, 1, 200, [(b"content-type", b"text/plain"), (b"content-length", b"5")],
                  b"he", b"llo")
    assert out == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n"
                   b"hello")
    assert a.keep_alive is True


def test_content_length_too_much_or_too_little() -> None:
    a = adapter_with(GET + GET)
    a.send(Response(1, 200, [(b"Content-Length", b"3")]))
    with pytest.raises(LocalProtocolError):
        a.send(events.Data(1, b"abcd"))
    a.send(events.Data(1, b"abc"))
    a.send(EndData(1))
    a.send(Response(2, 200, [(b"content-length", b"3")]))
    a.send(events.Data(2, b"ab"))
    with pytest.raises(LocalProtocolError):
        a.send(EndData(2))


def test_chunked_for_http11_with_trailers() -> None:
    a = adapter_with(GET)
    out = a.send(Response(1, 200, [(b"content-type", b"text/plain")]))
    assert out == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
    assert a.send(events.Data(1, b"")) == b""  # an empty chunk would end the body
    assert a.send(events.Data(1, b"x" * 26)) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert a.send(EndData(1, [(b"checksum", b"abc")])) == b"0\r\nchecksum: abc\r\n\r\n"
    assert a.keep_alive is True


def test_chunked_without_trailers_and_app_chunked_header() -> None:
    a = adapter_with(GET)
    out = respond(a, 1, 200, [(b"Transfer-Encoding", b"chunked")], b"hi")
    assert out == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"


def test_http10_close_delimited() -> None:
    a = adapter_with(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    head = a.send(Response(1, 200, [(b"content-type", b"text/plain")]))
    assert head == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
    assert a.keep_alive is False
    assert a.send(events.Data(1, b"raw bytes")) == b"raw bytes"
    assert a.send(EndData(1, [(b"dropped", b"1")])) == b""
    assert a.feed(GET) == []


def test_http10_keep_alive_with_content_length() -> None:
    a = adapter_with(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    out = respond(a, 1, 200, [(b"content-length", b"2")], b"ok")
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok"
    assert a.keep_alive is True
    evs = a.feed(b"GET /b HTTP/1.0\r\n\r\n")
    assert [type(e) for e in evs] == [Request, EndBody]
    out = respond(a, 2, 200, [(b"content-length", b"2")], b"ok")
    assert b"connection: close\r\n" in out
    assert a.keep_alive is False


def test_head_keeps_content_length_and_drops_body() -> None:
    a = adapter_with(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + GET)
    out = respond(a, 1, 200, [(b"content-length", b"1234")], b"not sent")
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"
    out = respond(a, 2, 200, [], b"x")  # HEAD did not spoil the next framing
    assert out.endswith(b"transfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
    assert a.keep_alive is True


def test_head_without_length_adds_no_framing() -> None:
    a = adapter_with(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert respond(a, 1, 200, [(b"content-type", b"text/html")]) == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n")
    assert a.keep_alive is True


def test_304_and_204_have_no_body() -> None:
    a = adapter_with(GET + GET)
    out = respond(a, 1, 304, [(b"etag", b'"x"'), (b"content-length", b"10")], b"body")
    assert out == b'HTTP/1.1 304 Not Modified\r\netag: "x"\r\ncontent-length: 10\r\n\r\n'
    out = respond(a, 2, 204, [(b"content-length", b"0")], b"body")
    assert out == b"HTTP/1.1 204 No Content\r\n\r\n"  # RFC 9110 8.6: no CL on 204
    assert a.keep_alive is True


def test_reason_phrases() -> None:
    a = adapter_with(GET + GET + GET)
    assert respond(a, 1, 404, [(b"content-length", b"0")]).startswith(b"HTTP/1.1 404 Not Found\r\n")
    out = a.send(Response(2, 200, [(b"content-length", b"0")], reason=b"Fine"))
    assert out.startswith(b"HTTP/1.1 200 Fine\r\n")
    a.send(EndData(2))
    assert respond(a, 3, 599, [(b"content-length", b"0")]).startswith(b"HTTP/1.1 599 \r\n")


def test_pipelined_responses_go_in_request_order() -> None:
    a = adapter_with(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        a.send(Response(2, 200, []))
    first = respond(a, 1, 200, [(b"content-length", b"1")], b"1")
    with pytest.raises(LocalProtocolError):
        a.send(events.Data(1, b"late"))  # stream 1 is finished
    second = respond(a, 2, 200, [(b"content-length", b"1")], b"2")
    assert first.endswith(b"\r\n\r\n1") and second.endswith(b"\r\n\r\n2")
    with pytest.raises(LocalProtocolError):
        a.send(Response(3, 200, []))  # no such request


@pytest.mark.parametrize("bad", [
    [events.Data(1, b"x")],  # data before the head
    [EndData(1)],
    [Response(1, 200, []), Response(1, 200, [])],  # two heads
    [Response(1, 200, [(b"x", b"a\r\nSet-Cookie: evil=1")])],  # response splitting
    [Response(1, 200, [(b"x\n", b"a")])],
    [Response(1, 200, [], reason=b"OK\r\nX: y")],
    [Response(1, 200, [(b"content-length", b"-1")])],
    [Response(1, 200, [(b"content-length", b"1"), (b"content-length", b"1")])],
    [Response(1, 200, [(b"transfer-encoding", b"gzip")])],
    [Response(1, 42, [])],
    [Response(1, 100, [])],  # 1xx is an InformationalResponse
    [Response(1, 101, [])],  # only on an upgrade request
    [events.InformationalResponse(1, 101)],
    [events.InformationalResponse(1, 200)],
    [Response(1, 200, []), events.InformationalResponse(1, 100)],
    [events.StreamClosed(1)],
])
def test_local_protocol_errors(bad: list[events.Event]) -> None:
    a = adapter_with(GET)
    with pytest.raises(LocalProtocolError):
        for ev in bad:
            a.send(ev)  # type: ignore[arg-type]


def test_send_without_request() -> None:
    with pytest.raises(LocalProtocolError):
        Http1Adapter().send(Response(1, 200, []))


def test_informational_responses() -> None:
    a = adapter_with(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert a.send(events.InformationalResponse(1, 100)) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert a.send(events.InformationalResponse(1, 103, [(b"link", b"</a.css>; rel=preload")])) \
        == b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
    assert [type(e) for e in a.feed(b"ok")] == [Body, EndBody]
    assert respond(a, 1, 201, [(b"content-length", b"0")]).startswith(b"HTTP/1.1 201 Created")
    assert a.keep_alive is True
    # never a 1xx to an HTTP/1.0 client (RFC 9110 15.2)
    a = adapter_with(b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
    assert a.send(events.InformationalResponse(1, 100)) == b""


# --- keep_alive -----------------------------------------------------------------------------

def test_keep_alive_request_says_close() -> None:
    a = adapter_with(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert a.keep_alive is True  # nothing decided until the response
    out = respond(a, 1, 200, [(b"content-length", b"0")])
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    assert a.keep_alive is False


def test_keep_alive_app_says_close_without_duplicate_header() -> None:
    a = adapter_with(GET + GET)
    out = respond(a, 1, 200, [(b"content-length", b"0"), (b"Connection", b"close")])
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nConnection: close\r\n\r\n"
    assert a.keep_alive is False
    assert a.feed(GET) == []


def test_default_date_and_server_unless_the_app_sent_them() -> None:
    defaults = DefaultHeaders(b"skitai", b"Wed, 25 Nov 2026 10:00:00 GMT")
    a = Http1Adapter(defaults=defaults)
    a.feed(GET + GET + GET + GET)
    plain = respond(a, 1, 200, [(b"content-length", b"0")])
    assert plain.endswith(b"content-length: 0\r\ndate: Wed, 25 Nov 2026 10:00:00 GMT\r\n"
                          b"server: skitai\r\n\r\n")
    own = respond(a, 2, 200, [(b"Server", b"mine"), (b"content-length", b"0")])
    assert b"server: skitai" not in own and b"Server: mine\r\n" in own and b"date: Wed" in own
    defaults.set_date(b"Wed, 25 Nov 2026 10:00:01 GMT")  # the owner's clock ticks
    dated = respond(a, 3, 200, [(b"date", b"then"), (b"content-length", b"0")])
    assert dated.count(b"date: ") == 1 and b"date: then\r\n" in dated and b"server: skitai" in dated
    whole = a.send_whole(4, 200, [(b"content-length", b"2")], b"", b"ok")
    assert b"date: Wed, 25 Nov 2026 10:00:01 GMT\r\n" in whole and whole.endswith(b"\r\n\r\nok")


def test_close_after_response_says_close_and_parses_nothing_more() -> None:
    a = adapter_with(GET)
    a.close_after_response()
    out = a.send_whole(1, 200, [(b"content-length", b"2")], b"", b"ok")
    assert out.endswith(b"connection: close\r\n\r\nok")
    assert a.keep_alive is False
    assert a.feed(GET) == []


def test_keep_alive_is_per_response_when_pipelined() -> None:
    a = adapter_with(GET + b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    respond(a, 1, 200, [(b"content-length", b"0")])
    assert a.keep_alive is True  # stream 2 still has to be answered
    respond(a, 2, 200, [(b"content-length", b"0")])
    assert a.keep_alive is False


def test_response_before_body_fully_received_closes() -> None:
    a = Http1Adapter()
    evs = a.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial")
    assert [type(e) for e in evs] == [Request, Body]
    out = respond(a, 1, 413, [(b"content-length", b"0")])
    assert out.startswith(b"HTTP/1.1 413 ")
    assert out.endswith(b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    assert a.keep_alive is False
    assert a.feed(b"rest of the body" + GET) == []  # an unread body is never skipped


def test_keep_alive_false_after_remote_error() -> None:
    a = Http1Adapter()
    evs = a.feed(GET + b"garbage\x00\r\n\r\n")
    assert [type(e) for e in evs] == [Request, EndBody, events.RemoteError]
    assert a.keep_alive is False
    # the good request can still be answered, and says close
    assert respond(a, 1, 200, [(b"content-length", b"0")]).endswith(b"connection: close\r\n\r\n")


# --- eof ------------------------------------------------------------------------------------

def test_eof_idle_and_after_complete_requests() -> None:
    a = Http1Adapter()
    assert a.eof() == []
    assert a.keep_alive is False
    a = adapter_with(GET + GET)
    assert a.eof() == []
    assert respond(a, 1, 200, [(b"content-length", b"0")]) == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    assert a.keep_alive is True  # the pipelined request 2 is still due
    assert respond(a, 2, 200, [(b"content-length", b"0")]).endswith(b"connection: close\r\n\r\n")
    assert a.keep_alive is False


def test_eof_truncated_body() -> None:
    a = Http1Adapter()
    a.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    assert a.eof() == [events.RemoteError(1, "connection closed before the request body was "
                                             "complete", 400)]
    assert a.keep_alive is False


def test_eof_mid_head() -> None:
    a = Http1Adapter()
    assert a.feed(GET + b"GET /next HTTP/1.1\r\nHo") != []
    evs = a.eof()
    assert len(evs) == 1 and type(evs[0]) is events.RemoteError and evs[0].stream_id == 2


# --- limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("step", [1, 7, 1000, 100_000])
def test_default_head_limit_is_exact(step: int) -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX: "
    fill = 65536 - len(head) - 4
    ok = head + b"a" * fill + b"\r\n\r\n"
    assert len(ok) == 65536
    too_big = head + b"a" * (fill + 1) + b"\r\n\r\n"
    for data, status in ((ok, None), (too_big, 431)):
        a = Http1Adapter(max_field_size=65536)  # one large field: the head limit decides
        got: list[events.Event] = []
        for i in range(0, len(data), step):
            got += a.feed(data[i:i + step])
        if status is None:
            assert [type(e) for e in got] == [Request, EndBody]
        else:
            assert got == [events.RemoteError(1, "request header section too large", 431)]


def test_slowloris_head_is_cut_at_the_limit() -> None:
    a = Http1Adapter(max_header_bytes=4096)
    assert a.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ") == []
    fed = 36
    while True:
        evs = a.feed(b"a" * 100)
        fed += 100
        if evs:
            break
        assert fed <= 4096
    assert fed > 4096 and evs[0].status_hint == 431  # type: ignore[attr-defined]


@pytest.mark.parametrize("step", [1, 100, 5000])
def test_an_endless_trailer_is_cut_at_the_head_limit(step: int) -> None:
    """llhttp keeps a field until its line ends: a trailer that never ends must not grow
    memory without bound (431 once the trailer section passes max_header_bytes)."""
    a = Http1Adapter(max_header_bytes=4096)
    evs = a.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\n0\r\nX-Endless: ")
    assert [type(e) for e in evs] == [Request, Body]
    fed = 0
    evs = []
    while not evs:
        evs = a.feed(b"a" * step)
        fed += step
        assert fed <= 4096 + 2 * step
    assert evs == [events.RemoteError(1, "trailer section too large", 431)]


def test_chunks_split_anywhere_are_not_trailers() -> None:
    """Reads that fall between a chunk's size line and its data are body, not trailer."""
    a = Http1Adapter(max_header_bytes=64)
    a.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    got: list[events.Event] = []
    for _ in range(50):
        got += a.feed(b"40\r\n")
        got += a.feed(b"x" * 64)
        got += a.feed(b"\r\n")
    got += a.feed(b"0\r\nX-Sum: 1\r\n\r\n")
    assert not any(type(e) is events.RemoteError for e in got)
    assert got[-1] == EndBody(1, [(b"x-sum", b"1")])


def test_slow_long_target_gets_414() -> None:
    a = Http1Adapter(max_request_line=100)
    assert a.feed(b"GET /") == []
    evs: list[events.Event] = []
    for _ in range(20):
        evs = a.feed(b"a" * 10)
        if evs:
            break
    assert evs and evs[0].status_hint == 414  # type: ignore[attr-defined]


def test_head_limit_does_not_count_bodies() -> None:
    body = b"x" * 10_000
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n" + body + GET
    a = Http1Adapter(max_header_bytes=100)
    evs = merged(a.feed(data))
    assert evs[1] == Body(1, body)
    assert [type(e) for e in evs] == [Request, Body, EndBody, Request, EndBody]


# --- HTTP/2 preface and upgrade ---------------------------------------------------------------

def test_h2_preface_is_flagged() -> None:
    a = Http1Adapter()
    evs = a.feed(H2_PREFACE)
    assert a.h2_preface is True
    assert [(type(e), e.status_hint) for e in evs] == [(events.RemoteError, 400)]  # type: ignore[attr-defined]


UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")


def test_upgrade_keeps_later_bytes() -> None:
    a = Http1Adapter()
    evs = a.feed(UPGRADE + b"\x81\x05")
    assert [type(e) for e in evs] == [Request, EndBody]
    assert a.upgrade_requested
    assert a.feed(b"hello") == []
    assert a.take_trailing_data() == b"\x81\x05hello"
    out = respond(a, 1, 101, [(b"connection", b"Upgrade"), (b"upgrade", b"websocket")])
    assert out == b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n"
    assert a.keep_alive is False  # HTTP/1.1 is over on this connection
    assert a.upgrade_requested is False
    assert a.feed(b"more") == []
    assert a.take_trailing_data() == b"more"


def test_decline_upgrade_parses_the_kept_bytes() -> None:
    a = Http1Adapter()
    a.feed(UPGRADE + b"GET /2 HTTP/1.1\r\n")
    evs = a.feed(b"Host: a\r\n\r\n")
    assert evs == []
    evs = a.decline_upgrade()
    assert [(type(e), e.stream_id) for e in evs] == [(Request, 2), (EndBody, 2)]
    assert a.upgrade_requested is False
    respond(a, 1, 200, [(b"content-length", b"0")])
    respond(a, 2, 200, [(b"content-length", b"0")])
    assert a.keep_alive is True


def test_final_response_declines_upgrade_implicitly() -> None:
    a = Http1Adapter()
    a.feed(UPGRADE + GET)
    out = respond(a, 1, 404, [(b"content-length", b"0")])
    assert out == b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    assert a.upgrade_requested is False
    evs = a.feed(b"")
    assert [(type(e), e.stream_id) for e in evs] == [(Request, 2), (EndBody, 2)]


# --- the fast event constructors --------------------------------------------------------------

def test_parsed_events_equal_dataclass_events() -> None:
    a = Http1Adapter()
    evs = a.feed(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz")
    assert evs == [Request(1, b"POST", b"/p", [(b"host", b"h"), (b"content-length", b"1")],
                           b"1.1", 1, False, False, True),
                   Body(1, b"z"), EndBody(1, [])]
    assert repr(evs[2]) == "EndBody(stream_id=1, trailers=[])"
    more = a.feed(GET)
    assert more[1].trailers is not evs[2].trailers  # type: ignore[attr-defined]  # never shared


def test_host_is_checked_on_every_request() -> None:
    a = Http1Adapter()
    evs = a.feed(GET + GET + b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n")
    assert [type(e) for e in evs] == [Request, EndBody, Request, EndBody, events.RemoteError]
    assert evs[-1].stream_id == 3


@pytest.mark.parametrize("how", SPLITS)
def test_upgrade_with_content_length_body_is_served_plain(how: str) -> None:
    data = (b"POST /u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
            b"Content-Length: 4\r\n\r\nbody" + GET)
    a, got = replay(data, how, {})
    assert [(type(e), e.stream_id) for e in got] == [
        (Request, 1), (Body, 1), (EndBody, 1), (Request, 2), (EndBody, 2)]
    assert got[1] == Body(1, b"body")
    assert a.upgrade_requested is False
    respond(a, 1, 200, [(b"content-length", b"0")])
    respond(a, 2, 200, [(b"content-length", b"0")])
    assert a.keep_alive is True
    assert [type(e) for e in a.feed(GET)] == [Request, EndBody]  # the new parser goes on


def test_decline_after_implicit_decline_parses_kept_bytes() -> None:
    a = Http1Adapter()
    a.feed(UPGRADE + GET)
    respond(a, 1, 400, [(b"content-length", b"0")])
    evs = a.decline_upgrade()
    assert [(type(e), e.stream_id) for e in evs] == [(Request, 2), (EndBody, 2)]
    assert a.decline_upgrade() == []


def test_http10_keep_alive_header_not_doubled() -> None:
    a = adapter_with(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    out = respond(a, 1, 200, [(b"content-length", b"0"), (b"connection", b"keep-alive")])
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
    assert a.keep_alive is True
