from __future__ import annotations

import re

from skitai import txn

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_edge_request_gets_a_global_id_and_1000() -> None:
    t = txn.from_headers([(b"host", b"a")], channel=4676, request=67)
    assert re.fullmatch(r"GTID-[0-9a-f]{8}-C4676-R67", t.gtxid)
    assert t.ltxid == 1000 and t.traceparent is None
    assert txn.new_gtxid() != txn.new_gtxid()


def test_backend_calls_count_up_by_depth() -> None:
    """README: 1000 calls 2001, 2002; 2001 calls 3002; 2002 calls 3003."""
    edge = txn.from_headers([])
    first, h1 = edge.next_call()
    second, h2 = edge.next_call()
    assert (first, second) == (2001, 2002)
    assert dict(h1)[b"X-Gtxn-Id"] == edge.gtxid.encode() == dict(h2)[b"X-Gtxn-Id"]
    member1 = txn.from_headers([(k.lower(), v) for k, v in h1])
    member2 = txn.from_headers([(k.lower(), v) for k, v in h2])
    assert (member1.gtxid, member1.ltxid, member2.ltxid) == (edge.gtxid, 2001, 2002)
    assert member1.next_call()[0] == 3002 and member2.next_call()[0] == 3003


def test_traceparent_accepted_and_propagated() -> None:
    t = txn.from_headers([(b"traceparent", TP), (b"tracestate", b"vendor=x")])
    assert t.traceparent == TP.decode()
    assert t.gtxid == "GTID-4bf92f3577b34da6a3ce929d0e0e4736"
    _, headers = t.next_call()
    sent = dict(headers)
    version, trace, span, flags = sent[b"traceparent"].decode().split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span != "00f067aa0ba902b7" and re.fullmatch("[0-9a-f]{16}", span)
    assert sent[b"tracestate"] == b"vendor=x"
    env = t.environ()
    assert env["skitai.gtxid"] == t.gtxid and env["skitai.ltxid"] == "1000"
    assert env["skitai.traceparent"] == TP.decode()


def test_a_request_without_traceparent_still_sends_one() -> None:
    t = txn.from_headers([])
    _, headers = t.next_call()
    assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01", dict(headers)[b"traceparent"])


def test_bad_incoming_ids_are_ignored_not_logged() -> None:
    for bad in (b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", b"garbage"):
        assert txn.from_headers([(b"traceparent", bad)]).trace_id is None
    t = txn.from_headers([(b"x-gtxn-id", b'GTID x" injected'), (b"x-ltxn-id", b"12")])
    assert t.gtxid.startswith("GTID-") and " " not in t.gtxid and t.ltxid == 1000
    t = txn.from_headers([(b"x-gtxn-id", b"GTID-abc"), (b"x-ltxn-id", b"1x")])
    assert (t.gtxid, t.ltxid) == ("GTID-abc", 1000)


def test_edge_call_is_a_minted_txns_first_call() -> None:
    """The reverse proxy's shortcut gives the fields Txn.next_call gives (same draw)."""
    t = txn.from_headers([(b"host", b"a")], channel=4676, request=67)
    state = txn._random.getstate()
    ltxid, headers = t.next_call()
    txn._random.setstate(state)
    assert txn.edge_call(t.gtxid.encode()) == headers
    assert ltxid == 2001 and t.gtxid == txn.edge_prefix(4676) + "67"
    for bits in (0, 1 << 130, 5):  # an all-zero trace or span id is never sent
        txn._random.getrandbits = lambda _n, b=bits: b  # type: ignore[method-assign]
        try:
            _, trace, span, _ = txn.edge_call(b"G")[2][1].split(b"-")
        finally:
            del txn._random.getrandbits
        assert trace.strip(b"0") and span.strip(b"0")
