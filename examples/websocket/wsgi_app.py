"""The README's echo examples for any WSGI callable (no framework): the message is in
``environ['websocket.message']`` and a returned ``str`` goes out as a text frame, ``bytes``
as a binary one, ``None`` sends nothing.
"""

import skitai


def echo(environ, start_response):
    event = environ.get("websocket.event")
    if event == skitai.WS_EVT_INIT:
        environ["websocket.config"] = (skitai.WS_SIMPLE, 60, ("message",))
        return None
    elif event == skitai.WS_EVT_OPEN:
        return "Welcome Client %s" % environ["websocket.client"]
    elif event:
        return None

    message = environ["websocket.message"]
    if isinstance(message, bytes):
        return b"ECHO:" + message
    return "ECHO:" + message
