"""Saddle views over the engine's WebSocket support: ``@app.websocket_config``, the
``was.wsinit()``/``was.wsconfig()`` spelling with WS_MSG_JSON, and WS_MSG_XMLRPC."""

from __future__ import annotations

import json
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app

websockets = pytest.importorskip("websockets", reason="websockets is in the test extras")
from websockets.sync.client import connect  # noqa: E402

APP = '''
import skitai
from skitai.saddle import Saddle

app = Saddle(__name__)
app.users = {"hans": "pw"}
app.authorization = "basic"


def onopen(was):
    was.websocket.send("welcome %d" % was.wsclient())


def onclose(was):
    pass


@app.route("/echo")
@app.websocket_config(skitai.WS_SIMPLE, 60, onopen, onclose)
def echo(was, message):
    return "you said: " + message


@app.route("/json")
def json_view(was, message=None):
    if was.wsinit():
        return was.wsconfig(skitai.WS_SIMPLE, 60, skitai.WS_MSG_JSON)
    elif was.wshasevent():
        return
    return {"got": message["q"], "twice": message["q"] * 2}


@app.route("/rpc")
@app.websocket_config(skitai.WS_SIMPLE | skitai.WS_MSG_XMLRPC, 60)
def rpc_socket(was, message):
    return None


@app.route("/room")
@app.websocket_config(skitai.WS_GROUPCHAT, 60)
def room(was, message):
    return "%d: %s" % (was.wsclient() % 1000, message)


num_sent = {}


@app.route("/chat")
def chat(was, message, client_name):  # the seed's example: ?client_name= after the message
    client_id = was.wsclient()
    if was.wshasevent():
        if was.wsinit():
            num_sent[client_id] = 0
            return was.wsconfig(skitai.WS_SIMPLE, 60)
        elif was.wsclosed():
            del num_sent[client_id]
        return
    num_sent[client_id] += 1
    return "%s said: %s (%d)" % (client_name, message, num_sent[client_id])


@app.route("/add")
def add(was, a, b):
    return a + b


@app.route("/locked", authenticate=True)
@app.websocket_config(skitai.WS_SIMPLE, 60)
def locked(was, message):
    return was.request.user.name + ": " + message
'''

LAUNCH = '''
import skitai
if __name__ == "__main__":
    skitai.mount("/ws", "wsapp.py", "app")
    skitai.run(workers=1, threads=2)
'''


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("saddlews")
    (workdir / "wsapp.py").write_text(APP)
    server = start_app(workdir, LAUNCH)
    yield server
    server.stop()


def url(srv: ServerProcess, path: str) -> str:
    return f"ws://{srv.host}:{srv.port}{path}"


def test_websocket_config_with_onopen(srv: ServerProcess) -> None:
    with connect(url(srv, "/ws/echo"), open_timeout=20) as ws:
        assert ws.recv(timeout=20).startswith("welcome ")
        ws.send("hi")
        assert ws.recv(timeout=20) == "you said: hi"
        ws.send("again")
        assert ws.recv(timeout=20) == "you said: again"


def test_wsinit_spelling_with_json(srv: ServerProcess) -> None:
    with connect(url(srv, "/ws/json"), open_timeout=20) as ws:
        ws.send(json.dumps({"q": 21}))
        assert json.loads(ws.recv(timeout=20)) == {"got": 21, "twice": 42}


def test_query_parameters_after_the_message(srv: ServerProcess) -> None:
    """The seed: "for getting another args, just add args behind message arg"."""
    with connect(url(srv, "/ws/chat?client_name=steve"), open_timeout=20) as ws:
        ws.send("hi")
        assert ws.recv(timeout=20) == "steve said: hi (1)"
        ws.send("again")
        assert ws.recv(timeout=20) == "steve said: again (2)"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(url(srv, "/ws/chat"), open_timeout=20)
    assert refused.value.response.status_code == 400


def test_xmlrpc_messages(srv: ServerProcess) -> None:
    with connect(url(srv, "/ws/rpc"), open_timeout=20) as ws:
        ws.send(xmlrpc.client.dumps((2, 3), "add"))
        assert xmlrpc.client.loads(ws.recv(timeout=20))[0][0] == 5
        ws.send(xmlrpc.client.dumps((), "nope"))
        with pytest.raises(xmlrpc.client.Fault) as fault:
            xmlrpc.client.loads(ws.recv(timeout=20))
        assert fault.value.faultCode == 404


def test_groupchat_reaches_every_member(srv: ServerProcess) -> None:
    with connect(url(srv, "/ws/room?r=1"), open_timeout=20) as a, \
            connect(url(srv, "/ws/room?r=1"), open_timeout=20) as b:
        time.sleep(0.3)  # both joined
        a.send("hello room")
        got_a, got_b = a.recv(timeout=20), b.recv(timeout=20)
        assert got_a == got_b and got_a.endswith(": hello room")


def test_authenticated_websocket(srv: ServerProcess) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(url(srv, "/ws/locked"), open_timeout=20)
    assert refused.value.response.status_code == 401
    import base64

    auth = "Basic " + base64.b64encode(b"hans:pw").decode()
    with connect(url(srv, "/ws/locked"), open_timeout=20,
                 additional_headers={"Authorization": auth}) as ws:
        ws.send("hello")
        assert ws.recv(timeout=20) == "hans: hello"
