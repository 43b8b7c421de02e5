"""The README's WebSocket contract, the parts that need no socket: config, replies, binding."""

from __future__ import annotations

import pytest

import skitai
from skitai.worker import websocket_app as wa


def test_specs_are_distinct_bits_that_combine_with_json() -> None:
    specs = [skitai.WS_SIMPLE, skitai.WS_GROUPCHAT, skitai.WS_THREADSAFE, skitai.WS_MSG_JSON,
             skitai.WS_MSG_XMLRPC]
    assert all(s and s & (s - 1) == 0 for s in specs) and len(set(specs)) == len(specs)
    assert len({skitai.WS_EVT_INIT, skitai.WS_EVT_OPEN, skitai.WS_EVT_CLOSE}) == 3


@pytest.mark.parametrize(("value", "expected"), [
    ((skitai.WS_SIMPLE, 60, ("message",)), wa.WsConfig(skitai.WS_SIMPLE, 60.0, ("message",), False)),
    ((skitai.WS_GROUPCHAT, 30, ("message", "room_id")),
     wa.WsConfig(skitai.WS_GROUPCHAT, 30.0, ("message", "room_id"), False)),
    ((skitai.WS_SIMPLE | skitai.WS_MSG_JSON, 5, ("m",)), wa.WsConfig(skitai.WS_SIMPLE, 5.0, ("m",), True)),
    ((skitai.WS_THREADSAFE, 7200), wa.WsConfig(skitai.WS_THREADSAFE, 7200.0, (), False)),
    ((skitai.WS_SIMPLE, 60, skitai.WS_MSG_JSON), wa.WsConfig(skitai.WS_SIMPLE, 60.0, (), True)),
    ((skitai.WS_SIMPLE, 60, ("message",), skitai.WS_MSG_JSON),
     wa.WsConfig(skitai.WS_SIMPLE, 60.0, ("message",), True)),
    ([skitai.WS_SIMPLE, 1.5, "msg"], wa.WsConfig(skitai.WS_SIMPLE, 1.5, ("msg",), False)),
])
def test_config_forms(value: object, expected: wa.WsConfig) -> None:
    assert wa.WsConfig.parse(value) == expected


@pytest.mark.parametrize(("value", "words"), [
    ("simple", "must be (spec, timeout"),
    ((99, 60), "WS_SIMPLE, WS_THREADSAFE or WS_GROUPCHAT"),
    ((skitai.WS_SIMPLE, 0), "positive seconds"),
    ((skitai.WS_SIMPLE, "60"), "positive seconds"),
    ((skitai.WS_SIMPLE, 60, [1, 2]), "tuple of str"),
    ((skitai.WS_SIMPLE, 60, skitai.WS_MSG_XMLRPC), "WS_MSG_XMLRPC is not supported"),
])
def test_config_errors_name_the_problem(value: object, words: str) -> None:
    with pytest.raises(wa.WebSocketConfigError, match=words.replace("(", r"\(")):
        wa.WsConfig.parse(value)


def test_replies_direct_values() -> None:
    assert wa.outgoing(wa.Reply(value="hi"), False) == ([("hi", None)], None)
    assert wa.outgoing(wa.Reply(value=b"\x00"), False) == ([(b"\x00", None)], None)
    assert wa.outgoing(wa.Reply(value=""), False) == ([], None)
    assert wa.outgoing(wa.Reply(value=None), False) == ([], None)
    assert wa.outgoing(wa.Reply(value=("hi", 7)), False) == ([("hi", 7)], None)
    assert wa.outgoing(wa.Reply(value={"a": 1}), True) == ([('{"a":1}', None)], None)
    with pytest.raises(TypeError, match="must be str or bytes"):
        wa.outgoing(wa.Reply(value={"a": 1}), False)


def test_replies_wsgi_bodies() -> None:
    text = wa.Reply(status=200, headers=[(b"content-type", b"text/html")], body="é".encode())
    assert wa.outgoing(text, False) == ([("é", None)], None)
    octets = wa.Reply(status=200, headers=[(b"content-type", b"application/octet-stream")],
                      body=b"ab")
    assert wa.outgoing(octets, False) == ([(b"ab", None)], None)
    not_utf8 = wa.Reply(status=200, headers=[], body=b"\xff")
    assert wa.outgoing(not_utf8, False) == ([(b"\xff", None)], None)
    assert wa.outgoing(wa.Reply(status=404, headers=[], body=b"nope"), False) == ([], None)
    assert wa.outgoing(wa.Reply(status=500, headers=[], body=b"x"), False) == ([], 1011)
    assert wa.outgoing(wa.Reply(error="Traceback"), False) == ([], 1011)


def test_call_app_collects_wsgi_and_direct_returns() -> None:
    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    reply = wa.call_app(wsgi, {})
    assert (reply.status, reply.body) == (200, b"ab")
    assert wa.call_app(lambda e, s: "direct", {}).value == "direct"

    def broken(environ, start_response):  # type: ignore[no-untyped-def]
        raise ValueError("nope")

    assert "ValueError: nope" in (wa.call_app(broken, {}).error or "")


def test_bind_message_puts_it_first() -> None:
    assert wa.bind_message("room=1", ("message",), "a b&c") == "message=a+b%26c&room=1"
    assert wa.bind_message("", ("message",), b"\xff") == "message=%FF"
    assert wa.bind_message("x=1", (), "ignored") == "x=1"


def test_client_ids_carry_the_pid() -> None:
    import os

    a, b = wa.new_client_id(), wa.new_client_id()
    assert a != b and (a >> 32) & 0x3FFFFF == (b >> 32) & 0x3FFFFF == os.getpid()
    assert a >> 54 == b >> 54  # one salt per process (it keeps hosts of a cluster apart)
