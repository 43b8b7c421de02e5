"""Server-side connections: one class per protocol, on ``base.BaseConnection``.

Where does X happen?  An HTTP/2 stream's timeout: ``http2.H2Connection.check_timeouts``;
an HTTP/1.1 keep-alive timeout: ``http1.Http1Connection.check_timeouts``; a WebSocket
ping: ``websocket.WebSocketSession.check_timeouts``; the write buffer and lingering
close of them all: ``base.py``; a file body: ``sendfile.py``.  A new kind of connection
(the reverse proxy's upstream) subclasses ``BaseConnection``.
"""
