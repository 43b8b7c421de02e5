"""Skitai serving a WebSocket echo (any WSGI callable, the README contract).

    SKITAI_PORT=8001 SKITAI_THREADS=0 SKITAI_WORKERS=1 python3 bench/websocket_echo_app.py
"""

import skitai


def echo(environ, start_response):
    event = environ.get("websocket.event")
    if event == skitai.WS_EVT_INIT:
        environ["websocket.config"] = (skitai.WS_SIMPLE, 60, ("message",))
        return None
    if event:
        return None
    return environ["websocket.message"]  # str -> text frame, bytes -> binary


if __name__ == "__main__":
    skitai.mount("/", echo)
    skitai.log_off("/")
    skitai.run()
