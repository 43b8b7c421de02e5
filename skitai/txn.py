"""API transaction ids (README "API Transaction ID") and W3C trace context.

Every request gets a global id (``GTID-...``), shared by every call a request causes
across skitai instances, and a local id: ``1000`` at the edge; the n-th backend call a
request with local id ``L`` makes gets ``L + 1000 + n`` (1000 calls 2001, 2002; 2001 calls
3002; 2002 calls 3003: "the first digit is the call depth").  Both travel to members in
``X-Gtxn-Id``/``X-Ltxn-Id`` and are logged in the request log's two id fields.

An incoming W3C ``traceparent`` is accepted (its trace id becomes the global id when no
``X-Gtxn-Id`` came) and propagated: each backend call carries the same trace id with a
new parent span id.  Incoming ids are checked (length and characters) so nothing a client
sends can break a log line.

Layer 0: standard library only; the worker, the gateway and ``was`` all use it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import re
from binascii import hexlify
from collections.abc import Iterable
from typing import Final

GTXN_HEADER: Final = b"x-gtxn-id"
LTXN_HEADER: Final = b"x-ltxn-id"
TRACEPARENT: Final = b"traceparent"
TRACESTATE: Final = b"tracestate"
# Environ keys an app reads (was.txnid() too).
ENVIRON_GTXID: Final = "skitai.gtxid"
ENVIRON_LTXID: Final = "skitai.ltxid"
ENVIRON_TRACEPARENT: Final = "skitai.traceparent"
EDGE_LTXID: Final = 1000

_GTID = re.compile(rb"^[A-Za-z0-9._:-]{1,96}$")
_LTID = re.compile(rb"^[1-9][0-9]{3,17}$")
_TRACEPARENT = re.compile(rb"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# One tag per process (pid plus randomness), so ids from two workers never collide; a
# forked child makes its own (os.register_at_fork below).
_pid = 0
_PROCESS_TAG = ""
_serial = itertools.count(1)
_random = random.Random()  # span ids: unique, not secret (no getrandom call per request)
_LOW128: Final = (1 << 128) - 1
_SPAN_UNIT: Final = 1 << 128  # the span id's lowest bit in a 192-bit draw
_TXN_FIELDS: Final = frozenset({GTXN_HEADER, LTXN_HEADER, TRACEPARENT, TRACESTATE})
_FIRST_CALL: Final = b"%d" % (EDGE_LTXID + 1000 + 1)  # an edge request's first call


def reseed() -> None:
    """A new process tag and counter (done on first use in each process)."""
    global _PROCESS_TAG, _serial, _pid
    _pid = os.getpid()
    _PROCESS_TAG = f"{_pid & 0xFFFF:04x}{os.urandom(2).hex()}"
    _serial = itertools.count(1)
    _random.seed(os.urandom(16))


class Txn:
    """The ids of one request, and the ids of the backend calls it makes."""

    __slots__ = ("gtxid", "ltxid", "trace_id", "parent_span", "flags", "tracestate", "_calls",
                 "_gtxid_bytes", "minted")

    def __init__(self, gtxid: str, ltxid: int = EDGE_LTXID, trace_id: str | None = None,
                 parent_span: str | None = None, flags: str = "01",
                 tracestate: str | None = None) -> None:
        self.gtxid = gtxid
        self.ltxid = ltxid
        self.trace_id = trace_id
        self.parent_span = parent_span
        self.flags = flags
        self.tracestate = tracestate
        self._calls = 0
        self._gtxid_bytes = b""
        self.minted = False  # the global id was made here (no incoming ids)

    @property
    def traceparent(self) -> str | None:
        """The incoming trace context (None when the request brought none)."""
        if self.trace_id is None or self.parent_span is None:
            return None
        return f"00-{self.trace_id}-{self.parent_span}-{self.flags}"

    def next_call(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The local id of the next backend call and the headers that carry the ids."""
        self._calls += 1
        ltxid = self.ltxid + 1000 + self._calls
        if self.trace_id is None:
            # Ours (an edge request): a random trace id, as W3C asks; one that came with
            # only X-Gtxn-Id: derived from it, so every hop of it agrees.
            if self.minted:  # trace id and span id from one draw (once per request)
                bits = _random.getrandbits(192)
                if not bits & _LOW128 or not bits >> 128:
                    bits |= 1 | 1 << 128  # W3C: neither id may be all zeros
                ids = bits.to_bytes(24, "little").hex()  # trace: the low 16 bytes
                self.trace_id, span = ids[:32], ids[32:]
            else:
                self.trace_id = _trace_id_for(self.gtxid)
                span = _hex_id(8)
            self.parent_span = None
        else:
            span = _hex_id(8)
        gtxid = self._gtxid_bytes
        if not gtxid:
            gtxid = self._gtxid_bytes = self.gtxid.encode("ascii")
        headers = [
            (b"X-Gtxn-Id", gtxid),
            (b"X-Ltxn-Id", b"%d" % ltxid),
            (b"traceparent", f"00-{self.trace_id}-{span}-{self.flags}".encode("ascii")),
        ]
        if self.tracestate:
            headers.append((b"tracestate", self.tracestate.encode("latin-1")))
        return ltxid, headers

    def next_id(self) -> int:
        """``next_call()[0]`` for a call that sends no ids (a database): the same
        numbering, without the headers (a trace id, a span id, three strings)."""
        self._calls += 1
        return self.ltxid + 1000 + self._calls

    def environ(self) -> dict[str, str]:
        out = {ENVIRON_GTXID: self.gtxid, ENVIRON_LTXID: str(self.ltxid)}
        if self.traceparent is not None:
            out[ENVIRON_TRACEPARENT] = self.traceparent
        return out


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reseed)


def edge_call(gtxid: bytes) -> list[tuple[bytes, bytes]]:
    """``Txn.next_call()[1]`` for the first backend call of an edge request (one that
    brought no ``X-Gtxn-Id`` and no ``traceparent``: a minted ``Txn``) whose global id is
    ``gtxid``: the same fields (local id 2001, a trace id and a span id from one draw)
    without a ``Txn``.  For a caller that makes exactly one call per request and has
    made no ``Txn`` for it (the reverse proxy): a ``Txn`` made later (the request log)
    has the same global and local ids."""
    bits = _random.getrandbits(192)
    if bits < _SPAN_UNIT or not bits & _LOW128:  # (one compare, usually: no shift)
        bits |= 1 | _SPAN_UNIT  # W3C: neither id may be all zeros
    # trace id: the low 16 bytes, span id: the high 8 ("<32 hex>-<16 hex>" in one call)
    ids = hexlify(bits.to_bytes(24, "little"), b"-", -16)
    return [(b"X-Gtxn-Id", gtxid), (b"X-Ltxn-Id", _FIRST_CALL), (b"traceparent", b"00-%b-01" % ids)]


def new_gtxid(channel: int | None = None, request: int | None = None) -> str:
    """``GTID-<process tag>-C<channel>-R<request>`` (the seed's ``GTID-C4676-R67`` with a
    per-process tag, so two workers or hosts never mint one id)."""
    if not _PROCESS_TAG:
        reseed()
    if channel is None:
        return f"GTID-{_PROCESS_TAG}-S{next(_serial)}"
    return f"GTID-{_PROCESS_TAG}-C{channel}-R{request or 0}"


def edge_prefix(channel: int) -> str:
    """``new_gtxid(channel, request)`` is this plus ``str(request)``: the worker keeps it
    per connection and makes an edge request's id (no incoming ids) with one
    concatenation.  The id is the same string whenever it is made, so the environ, the
    request log and ``was`` agree without sharing a ``Txn``."""
    if not _PROCESS_TAG:
        reseed()
    return f"GTID-{_PROCESS_TAG}-C{channel}-R"


def from_headers(headers: Iterable[tuple[bytes, bytes]], channel: int | None = None,
                 request: int | None = None) -> Txn:
    """The ids a request arrives with, or fresh edge ids."""
    gtxid = ltxid = traceparent = tracestate = None
    for name, value in headers:
        if name not in _TXN_FIELDS:  # (most fields: one set lookup, not four compares)
            continue
        if name == GTXN_HEADER:
            gtxid = value
        elif name == LTXN_HEADER:
            ltxid = value
        elif name == TRACEPARENT:
            traceparent = value
        elif name == TRACESTATE:
            tracestate = value
    if gtxid is None and traceparent is None:  # the usual edge request
        # (new_gtxid's work, inline: once per request)
        txn = Txn(f"GTID-{_PROCESS_TAG}-C{channel}-R{request or 0}"
                  if channel is not None and _PROCESS_TAG else new_gtxid(channel, request))
        txn.minted = True
        return txn
    return make(gtxid, ltxid, traceparent, tracestate, channel, request)


def make(gtxid: bytes | None, ltxid: bytes | None, traceparent: bytes | None,
         tracestate: bytes | None = None, channel: int | None = None,
         request: int | None = None) -> Txn:
    trace_id = span = None
    flags = "01"
    if traceparent is not None:
        m = _TRACEPARENT.match(traceparent.strip().lower())
        # Version ff is invalid; an all-zero trace or span id is invalid (W3C 3.2.2).
        if m and m.group(1) != b"ff" and m.group(2).strip(b"0") and m.group(3).strip(b"0"):
            trace_id, span, flags = (m.group(2).decode(), m.group(3).decode(), m.group(4).decode())
    state = None
    if trace_id is not None and tracestate is not None and len(tracestate) <= 512:
        state = tracestate.decode("latin-1").strip() or None
        if state is not None and not state.isprintable():
            state = None
    if gtxid is not None and _GTID.match(gtxid):
        gid = gtxid.decode("ascii")
        local = int(ltxid) if ltxid is not None and _LTID.match(ltxid) else EDGE_LTXID
    else:
        gid = f"GTID-{trace_id}" if trace_id is not None else new_gtxid(channel, request)
        local = EDGE_LTXID
    return Txn(gid, local, trace_id, span, flags, state)


def _random_hex(size: int) -> str:
    """``size`` random bytes in hex (``getrandbits().to_bytes().hex()``: a third of the
    cost of formatting ``getrandbits`` with ``:032x``, and no Python-level randbytes)."""
    return _random.getrandbits(size * 8).to_bytes(size, "little").hex()


def _hex_id(size: int) -> str:
    """``size`` random bytes in hex, never all zeros (W3C: an all-zero id is invalid)."""
    text = _random_hex(size)
    if text.strip("0"):
        return text
    return "0" * (2 * size - 1) + "1"


def _trace_id_for(gtxid: str) -> str:
    """A stable 32-hex trace id for a request that brought no traceparent."""
    if gtxid.startswith("GTID-") and len(gtxid) == 37:
        tail = gtxid[5:]
        if all(c in "0123456789abcdef" for c in tail):
            return tail
    return hashlib.blake2b(gtxid.encode(), digest_size=16).hexdigest()
