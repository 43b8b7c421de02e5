"""Differential fuzzing of the adapter's fast path against h2's own path.

Random client byte streams (the preface, then frames of every kind, valid and not, built
with hyperframe and hpack, fed in random pieces) go through two adapters with the same
settings, one with the fast path and one without (``Http2Adapter.fast_path``), answered
the way the connection answers (``skitai/worker/connections/http2.py``).  What the server
sees (its events) and what the client receives (the frames, their header blocks decoded
by a client-side HPACK decoder) must be the same.

``HYPOTHESIS_PROFILE=fuzz`` (or ``H2FUZZ_EXAMPLES=N``) runs many more examples.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

import hpack
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from skitai.worker import events
from skitai.worker.protocols.http2 import FloodLimits, Http2Adapter

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis (the test extra) is not installed")
st = pytest.importorskip("hypothesis.strategies")
given, settings, HealthCheck = hypothesis.given, hypothesis.settings, hypothesis.HealthCheck

settings.register_profile("ci", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=int(os.environ.get("H2FUZZ_EXAMPLES", "20000")),
                          deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("fuzz" if "H2FUZZ_EXAMPLES" in os.environ else "ci")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADER = struct.Struct(">HBBBL")
FIELD_SIZE = 200  # the adapter's max_header_field_size here: easy to reach


def raw(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    n = len(payload)
    return _HEADER.pack(n >> 8, n & 0xFF, kind, flags, sid & 0xFFFFFFFF) + payload


def with_sid(frame: bytes, sid: int) -> bytes:
    """A serialized frame moved to another stream id (hyperframe refuses some ids)."""
    return frame[:5] + struct.pack(">L", sid & 0xFFFFFFFF) + frame[9:]


# --- the client's side: header lists and frames ----------------------------------------------
NAMES = [b"user-agent", b"accept", b"cookie", b"cookie", b"host", b"content-length", b"te",
         b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection",
         b"expect", b"x-a", b"X-Upper", b"", b"a b", b"a:b", b":path", b":foo", b":status",
         b":protocol", b":method", b":authority", b"x\x7f", b"x\x00", b"::x", b"\xc3\xa9"]
VALUES = [b"", b"1", b"0", b"5", b"x1", b"trailers", b"TRAILERS", b"gzip", b"100-continue",
          b"close", b" x", b"x\t", b"a\x00b", b"a\rb", b"a\nb", b"example.com", b"other",
          b"\x80\xff", b"a=b", b"websocket", b"GET", b"/"]


GOOD = [(b"user-agent", b"t"), (b"accept", b"*/*"), (b"cookie", b"a=b"), (b"cookie", b"c=d"),
        (b"x-a", b"1"), (b"x-a", b""), (b"te", b"trailers"), (b"expect", b"100-continue"),
        (b"content-length", b"0"), (b"content-length", b"5"), (b"accept-encoding", b"gzip")]


@st.composite
def field_(draw: Any, clean: bool = False) -> tuple[bytes, bytes]:
    if clean or draw(st.integers(0, 9)):
        return draw(st.sampled_from(GOOD))  # type: ignore[no-any-return]
    name = draw(st.sampled_from(NAMES))
    if draw(st.integers(0, 5)) == 0:
        # near the field-size limit (name + value), and a long one
        n = draw(st.sampled_from([FIELD_SIZE - 1, FIELD_SIZE, FIELD_SIZE + 1, 1500]))
        return name, b"v" * max(0, n - len(name))
    return name, draw(st.sampled_from(VALUES))


@st.composite
def header_list(draw: Any, trailers: bool = False, clean: bool = False) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    if not trailers:
        method = draw(st.sampled_from([b"GET"] * 6 + [b"POST", b"POST", b"HEAD", b"CONNECT",
                                                      b"OPTIONS", b"get"]))
        pseudo = [(b":method", method),
                  (b":scheme", draw(st.sampled_from([b"http", b"https"]))),
                  (b":authority", draw(st.sampled_from([b"example.com"] * 4 + [b"e:443", b""]))),
                  (b":path", draw(st.sampled_from([b"/"] * 4 + [b"/a?b=c", b"", b"*",
                                                             b"/" + b"p" * 40])))]
        if clean:
            pseudo[2:] = [(b":authority", b"example.com"), (b":path", b"/")]
            if method == b"CONNECT" or method == b"get":
                pseudo[0] = (b":method", b"GET")
        if not clean and draw(st.integers(0, 12)) == 0:
            pseudo = [p for p in pseudo if draw(st.integers(0, 3))]  # some missing
        if not clean and draw(st.integers(0, 15)) == 0:
            pseudo.append((b":protocol", b"websocket"))
        if not clean and draw(st.integers(0, 15)) == 0:
            pseudo = draw(st.permutations(pseudo))
        fields += pseudo
    fields += [f for f in draw(st.lists(field_(clean), max_size=8))
               if not clean or f[0] != b"content-length"]
    if not clean and draw(st.integers(0, 15)) == 0 and fields:  # a pseudo-header out of place or twice
        at = draw(st.integers(0, len(fields)))
        fields.insert(at, draw(st.sampled_from([(b":path", b"/x"), (b":method", b"GET"),
                                                (b":scheme", b"http")])))
    return fields


@dataclass
class Script:
    """What the client sends, with what the server does between reads."""

    frames: list[bytes] = field(default_factory=list)
    # Server actions after frame i: "shutdown"
    actions: dict[int, str] = field(default_factory=dict)


@st.composite
def scripts(draw: Any) -> tuple[Script, list[int]]:
    encoder = hpack.Encoder()
    # Half the scripts are well-formed but for the order and timing of their frames: the
    # connection lives on, and the fast path's lazy streams meet the other frames.
    clean = draw(st.booleans())
    script = Script()
    frames = script.frames
    frames.append(PREFACE)
    first = SettingsFrame(0)
    first.settings = {2: 0} if clean else draw(st.one_of(
        st.just({2: 0, 4: 65535}),
        st.fixed_dictionaries({}, optional={1: st.sampled_from([0, 100, 4096, 65536]),
                                            2: st.sampled_from([0, 1]),
                                            3: st.sampled_from([0, 1, 100]),
                                            4: st.sampled_from([0, 10, 65535, 2**31 - 1]),
                                            5: st.sampled_from([16384, 2**24 - 1]),
                                            6: st.sampled_from([100, 2**16]),
                                            8: st.sampled_from([0, 1]),
                                            0x99: st.just(1)}),
        st.dictionaries(st.sampled_from([1, 2, 3, 4, 5, 6, 8, 0x99]),
                        st.sampled_from([0, 1, 100, 4096, 65535, 16384, 2**24, 2**31]),
                        max_size=3)))
    frames.append(first.serialize())
    if draw(st.integers(0, 4)):
        frames.append(SettingsFrame(0, flags=["ACK"]).serialize())
    used: list[int] = []
    next_sid = 1
    count = draw(st.integers(1, 25))
    for _ in range(count):
        kind = draw(st.sampled_from(
            ["headers"] * 16 + ["data"] * 4 + ["trailers", "rst", "priority", "priority",
                                                "settings", "window", "window", "window",
                                                "ping", "goaway", "junk", "shutdown"]))
        if kind in ("goaway", "junk") and (clean or draw(st.integers(0, 3))) \
                or kind == "data" and not used:
            kind = "headers"  # (rarer still: they end the connection)
        # The stream: mostly the next new one (headers) or one already used (others)
        choice = draw(st.integers(0, 29))
        if kind == "headers" and (choice < 27 or clean) or not used:
            sid = next_sid
        elif choice < 28 or clean:
            sid = draw(st.sampled_from(used))
        else:
            sid = draw(st.sampled_from([0, 2, next_sid + 2, max(max(used) - 2, 0),
                                        2**31 - 1]))
        if kind == "headers" or kind == "trailers":
            block_fields = draw(header_list(trailers=kind == "trailers", clean=clean))
            if not clean and draw(st.integers(0, 9)) == 0:
                encoder.header_table_size = draw(st.sampled_from([0, 256, 4096, 8192]))
            try:
                block = encoder.encode(block_fields, huffman=draw(st.booleans()))
            except Exception:  # noqa: BLE001 - an unencodable list: garbage instead
                block = b"\xff\xff\xff"
            if not clean and draw(st.integers(0, 49)) == 0:
                block = draw(st.binary(max_size=20))  # garbage HPACK
            end_stream = kind == "trailers" or draw(st.integers(0, 3)) > 0
            pieces = 1 if draw(st.integers(0, 9)) else draw(st.integers(2, 5))
            size = max(1, -(-len(block) // pieces))
            parts = [block[i:i + size] for i in range(0, len(block), size)] or [b""]
            flags = ["END_STREAM"] if end_stream else []
            if len(parts) == 1:
                flags.append("END_HEADERS")
            frame = HeadersFrame(1, data=parts[0], flags=flags)
            if draw(st.integers(0, 4)) == 0:
                frame.flags.add("PRIORITY")
                frame.depends_on = draw(st.sampled_from(
                    [0, 1, sid + 2] if clean else [0, 1, 0, 1, 0, 1, sid, sid + 2])) & 0x7FFFFFFF
                frame.stream_weight = draw(st.integers(0, 255))
                frame.exclusive = draw(st.booleans())
            if draw(st.integers(0, 9)) == 0:
                frame.flags.add("PADDED")
                frame.pad_length = draw(st.integers(0, 20))
            frames.append(with_sid(frame.serialize(), sid))
            for i, part in enumerate(parts[1:], 2):
                if draw(st.integers(0, 29)) == 0:
                    frames.append(PingFrame(0).serialize())  # inside a header block
                cont = ContinuationFrame(1, data=part,
                                         flags=["END_HEADERS"] if i == len(parts) else [])
                frames.append(with_sid(cont.serialize(), sid))
            if kind == "headers" and sid == next_sid:
                used.append(sid)
                next_sid += 2
        elif kind == "data":
            frame = DataFrame(1, data=b"d" * draw(st.sampled_from([0, 1, 5, 100, 16384])))
            if draw(st.booleans()):
                frame.flags.add("END_STREAM")
            if draw(st.integers(0, 5)) == 0:
                frame.flags.add("PADDED")
                frame.pad_length = draw(st.integers(0, 10))
            frames.append(with_sid(frame.serialize(), sid))
        elif kind == "rst":
            code = draw(st.sampled_from([0, 1, 8, 0x99]))
            frames.append(with_sid(RstStreamFrame(1, error_code=code).serialize(), sid))
        elif kind == "priority":
            depends = draw(st.sampled_from([0, 0, 0, sid, sid + 2, 1]))
            frame = PriorityFrame(1, depends_on=depends & 0x7FFFFFFF, stream_weight=draw(st.integers(0, 255)),
                                  exclusive=draw(st.booleans()))
            frames.append(with_sid(frame.serialize(), sid))
        elif kind == "settings":
            frame = SettingsFrame(0)
            frame.settings = draw(st.dictionaries(
                st.sampled_from([1, 2, 3, 4, 5, 6, 8]),
                st.sampled_from([0, 1, 4, 1000, 4096, 16384, 65535, 70000, 2**24, 2**31 - 1,
                                 2**31]),
                max_size=3))
            if frame.settings.get(1) is not None:
                encoder.header_table_size = min(frame.settings[1], 4096)
            if draw(st.integers(0, 5)) == 0:
                frames.append(SettingsFrame(0, flags=["ACK"]).serialize())
            else:
                frames.append(frame.serialize())
        elif kind == "window":
            increment = draw(st.sampled_from([1000, 1, 65535] if clean
                                             else [1000] * 6 + [0, 1, 65535, 2**31 - 1]))
            target = sid if draw(st.booleans()) else 0
            frames.append(raw(8, 0, target, struct.pack(">L", increment)))
        elif kind == "ping":
            frames.append(PingFrame(0, opaque_data=b"12345678",
                                    flags=["ACK"] if draw(st.integers(0, 4)) == 0 else []
                                    ).serialize())
        elif kind == "goaway":
            frames.append(GoAwayFrame(0, last_stream_id=0,
                                      error_code=draw(st.sampled_from([0, 1, 2]))).serialize())
        elif kind == "junk":
            frames.append(draw(st.sampled_from([
                raw(0x20, 0, 0, b"xyz"),  # unknown type: ignored
                raw(3, 0, sid, b"\x00\x00\x00"),  # RST_STREAM of the wrong size
                raw(6, 0, 0, b"1234567"),  # PING of the wrong size
                raw(8, 0, sid, b"\x00\x00\x01"),  # WINDOW_UPDATE of the wrong size
                raw(9, 4, sid, b""),  # CONTINUATION out of place
                raw(5, 4, sid, b"\x00\x00\x00\x02"),  # PUSH_PROMISE from a client
                raw(1, 5, sid, b""),  # an empty header block
                raw(2, 0, sid, b"\x00\x00\x00"),  # PRIORITY of the wrong size
            ])))
        elif kind == "shutdown":
            script.actions[len(frames)] = "shutdown"
    if draw(st.integers(0, 3)) == 0:
        script.actions[len(frames)] = "shutdown"
    # The policy of the server for each request, in arrival order
    policies = draw(st.lists(st.integers(0, 9), min_size=1, max_size=8))
    return script, policies


# --- the server's side: two adapters answered the way the connection answers -----------------
HEADERS = [(b"content-type", b"text/plain"), (b"server", b"skitai")]
BIG = b"b" * 70000  # more than the default stream window


@dataclass
class _Pending:
    policy: int
    complete: bool
    wait: int  # reads to wait before the answer


class Driver:
    def __init__(self, fast: bool, config: dict[str, Any], policies: list[int]) -> None:
        self.adapter = adapter = Http2Adapter(clock=lambda: 0.0, **config)
        adapter.fast_path = fast
        adapter.initiate()
        self.wire = bytearray(adapter.data_to_send())
        self.seen: list[Any] = []
        self.policies = policies
        self.requests = 0
        self.pending: dict[int, _Pending] = {}
        self.ending: set[int] = set()  # answered before the body ended: reset when sent

    def write(self, data: bytes) -> None:
        self.wire += data

    def feed(self, data: bytes) -> None:
        adapter = self.adapter
        for ev in adapter.feed(data):
            if type(ev) is events.RemoteError:
                # A connection error's hint only words the log (its reason names the first
                # check that failed, which may differ): its GOAWAY code is compared.
                self.seen.append(("error", ev.stream_id, ev.status_hint if ev.stream_id else 0))
            else:
                self.seen.append(ev)
            if type(ev) is events.Request:
                if ev.method == b"CONNECT":
                    self.write(adapter.send(events.Response(ev.stream_id, 501,
                                                            [(b"content-length", b"0")])))
                    self.write(adapter.send(events.EndData(ev.stream_id)))
                    continue
                policy = self.policies[self.requests % len(self.policies)]
                self.requests += 1
                self.pending[ev.stream_id] = _Pending(policy, ev.content_length == 0,
                                                      1 if policy >= 7 else 0)
            elif type(ev) is events.EndBody:
                p = self.pending.get(ev.stream_id)
                if p is not None:
                    p.complete = True
            elif type(ev) is events.StreamClosed:
                self.pending.pop(ev.stream_id, None)
                self.ending.discard(ev.stream_id)
            elif type(ev) is events.RemoteError and ev.stream_id:
                sid = ev.stream_id
                p = self.pending.pop(sid, None)
                if p is not None:  # trailers over the limits: the app's stream refused
                    self.write(adapter.send_whole(sid, ev.status_hint, HEADERS, b"refused"))
                    self.write(adapter.reset(sid, ErrorCodes.NO_ERROR))
                else:
                    self.write(adapter.refuse(sid, ev.status_hint, HEADERS, b"refused"))
        self.write(adapter.data_to_send())
        self.tick()

    def tick(self, all_: bool = False) -> None:
        for sid, p in list(self.pending.items()):
            if p.wait and not all_:
                p.wait -= 1
                continue
            del self.pending[sid]
            self.answer(sid, p)
        self.drained()

    def answer(self, sid: int, p: _Pending) -> None:
        adapter = self.adapter
        policy = p.policy % 7
        if policy <= 2:
            self.write(adapter.send_whole(sid, 200, HEADERS, b"hello"))
        elif policy == 3:
            self.write(adapter.send(events.Response(sid, 200, HEADERS)))
            self.write(adapter.send(events.Data(sid, BIG)))
            self.write(adapter.flush(sid))
            self.write(adapter.send(events.EndData(sid, [(b"x-t", b"1")] if p.complete else [])))
        elif policy == 4:
            self.write(adapter.send_whole(sid, 204, HEADERS, b""))
        elif policy == 5:
            self.write(adapter.reset(sid, ErrorCodes.INTERNAL_ERROR))
            return
        else:
            self.write(adapter.send_whole(sid, 200, HEADERS, BIG))
        if not p.complete:
            self.ending.add(sid)

    def drained(self) -> None:
        adapter = self.adapter
        adapter.take_writable()
        for sid in sorted(self.ending):
            if not adapter.buffered(sid):
                self.ending.discard(sid)
                self.write(adapter.reset(sid, ErrorCodes.NO_ERROR))

    def finish(self) -> None:
        self.tick(all_=True)
        self.seen.append(("closed", self.adapter.closed, self.adapter.error_code))


def client_view(wire: bytes) -> list[Any]:
    """The server's frames as the client reads them, header blocks decoded."""
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 2**32
    got: list[Any] = []
    view = memoryview(bytes(wire))
    pos = 0
    block = b""
    block_head: tuple[Any, ...] = ()
    while pos + 9 <= len(view):
        frame, length = Frame.parse_frame_header(view[pos:pos + 9])
        frame.parse_body(view[pos + 9:pos + 9 + length])
        pos += 9 + length
        flags = frozenset(frame.flags)
        if isinstance(frame, HeadersFrame | ContinuationFrame):
            if isinstance(frame, HeadersFrame):
                block_head = ("HEADERS", frame.stream_id, "END_STREAM" in flags)
                block = b""
            block += frame.data
            if "END_HEADERS" in flags:
                try:
                    fields = decoder.decode(block, raw=True)
                except hpack.HPACKError as exc:
                    fields = [("hpack error", type(exc).__name__)]
                got.append((*block_head, fields))
        elif isinstance(frame, DataFrame):
            got.append(("DATA", frame.stream_id, "END_STREAM" in flags, bytes(frame.data)))
        elif isinstance(frame, SettingsFrame):
            got.append(("SETTINGS", "ACK" in flags, sorted(frame.settings.items())))
        elif isinstance(frame, WindowUpdateFrame):
            got.append(("WINDOW_UPDATE", frame.stream_id, frame.window_increment))
        elif isinstance(frame, RstStreamFrame):
            got.append(("RST_STREAM", frame.stream_id, ErrorCodes(frame.error_code).name))
        elif isinstance(frame, GoAwayFrame):
            got.append(("GOAWAY", frame.last_stream_id, ErrorCodes(frame.error_code).name))
        elif isinstance(frame, PingFrame):
            got.append(("PING", "ACK" in flags, bytes(frame.opaque_data)))
        else:
            got.append((type(frame).__name__, frame.stream_id, sorted(flags)))
    assert pos == len(view), "the server wrote a partial frame"
    return got


def by_stream(frames: list[Any]) -> dict[Any, list[Any]]:
    """The frames as HTTP/2 orders them: in order within a stream, and within each kind
    of connection frame.  The fast path takes a connection WINDOW_UPDATE as it comes,
    where h2's path answers it (the queued DATA goes out) after the rest of the read:
    DATA on one stream may pass an RST_STREAM on another, a legal reordering.  DATA
    frames in a row are one (the body's cuts may differ)."""
    got: dict[Any, list[Any]] = {}
    for frame in frames:
        sid = frame[1] if frame[0] in ("HEADERS", "DATA", "RST_STREAM", "WINDOW_UPDATE") else 0
        kept = got.setdefault(sid or frame[0], [])
        if frame[0] == "DATA" and kept and kept[-1][0] == "DATA" and not kept[-1][2]:
            # where the body is cut into DATA frames carries no meaning
            kept[-1] = ("DATA", sid, frame[2], kept[-1][3] + frame[3])
        else:
            kept.append(frame)
    return got


def run(fast: bool, config: dict[str, Any], script: Script, cuts: list[int],
        policies: list[int]) -> tuple[list[Any], list[Any]]:
    driver = Driver(fast, config, policies)
    data = b"".join(script.frames)
    # Server actions take effect at the first cut at or after their frame's end
    ends: list[int] = []
    at = 0
    for frame in script.frames:
        at += len(frame)
        ends.append(at)
    action_at = {ends[i - 1] if i else 0: a for i, a in script.actions.items()}
    bounds = sorted({0, *cuts, *action_at, len(data)})
    for start, end in zip(bounds, bounds[1:], strict=False):
        if start in action_at and not driver.adapter.closed:
            driver.write(driver.adapter.shutdown())
        driver.feed(data[start:end])
    if len(data) in action_at and not driver.adapter.closed:
        driver.write(driver.adapter.shutdown())
    driver.finish()
    return driver.seen, client_view(driver.wire)


CONFIGS = st.fixed_dictionaries({
    "max_header_fields": st.sampled_from([6, 100]),
    "max_header_field_size": st.just(FIELD_SIZE),
    "max_header_bytes": st.sampled_from([1024, 65536, 65536]),
    "max_concurrent_streams": st.sampled_from([2, 100]),
    "max_request_line": st.sampled_from([50, 4094]),
    "enable_connect_protocol": st.booleans(),
    "flood": st.sampled_from([FloodLimits()] * 3 + [FloodLimits(resets=3, settings=3, pings=3,
                                                                continuations=2)]),
})


@settings(settings.get_profile(_PROFILE))
@given(scripts(), CONFIGS, st.data())
def test_fast_path_behaves_as_h2(case: tuple[Script, list[int]], config: dict[str, Any],
                                 data: Any) -> None:
    script, policies = case
    total = sum(len(f) for f in script.frames)
    # Mostly frame-aligned reads (many frames per read: the fast path's case), some cut
    # anywhere (a frame split across reads).
    cuts = data.draw(st.lists(st.integers(1, max(1, total - 1)), max_size=4))
    seen_fast, wire_fast = run(True, config, script, cuts, policies)
    seen_h2, wire_h2 = run(False, config, script, cuts, policies)
    assert seen_fast == seen_h2
    assert by_stream(wire_fast) == by_stream(wire_h2)
    assert wire_fast[-1:] == wire_h2[-1:]  # (a GOAWAY last)
