"""Server-side connections: one class per protocol, on ``base.BaseConnection``.

Where does X happen?  An HTTP/2 stream's timeout: ``http2.H2Connection.check_timeouts``;
an HTTP/1.1 keep-alive timeout: ``http1.Http1Connection.check_timeouts``; a WebSocket
ping: ``websocket.WebSocketSession.check_timeouts``; the write buffer, drain and lingering
close of them all: ``skitai/transport.py`` (``TransportConnection``, which the upstream
client's connections build on too); the server's registry and end-of-turn flush:
``base.py``; a file body: ``sendfile.py``.
"""
