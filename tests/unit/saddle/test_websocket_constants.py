"""saddle repeats the engine's WebSocket constants (it imports no other skitai module)."""

from __future__ import annotations

import skitai
from skitai.saddle import websocket


def test_constants_agree_with_the_engine():
    assert websocket.WS_EVT_INIT == skitai.WS_EVT_INIT
    assert websocket.WS_EVT_OPEN == skitai.WS_EVT_OPEN
    assert websocket.WS_EVT_CLOSE == skitai.WS_EVT_CLOSE
    assert websocket.WS_MSG_JSON == skitai.WS_MSG_JSON
    assert websocket.WS_MSG_XMLRPC == skitai.WS_MSG_XMLRPC
