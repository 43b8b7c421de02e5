"""The web worker: asyncio (+uvloop) serving HTTP/1.1, HTTP/2, WebSocket, static files, WSGI.

Map (a request flows top to bottom)::

    main.py             composition root: builds the router, the Server, the listeners
    child.py            supervision by the master (heartbeat, control channel, recycling)
    server.py           Server: the connection registry, listeners, 1 s sweep, stop, access log
    connections/        one class per protocol on one base (on skitai/transport.py's
                        TransportConnection, which owns the transport: write buffer,
                        drain, pause, close/linger/abort; the upstream client's too)
        base.py         BaseConnection: the server's registry, end-of-turn flush, sweep
        sendfile.py     sendfile(2) with MSG_MORE, or pread chunks (TLS, HTTP/2)
        http1.py        Http1Connection: pipelining, upgrades, h2c/ALPN hand-over, timeouts,
                        the fast path of a cached static file (no dispatch, no Stream)
        http2.py        H2Connection: streams, flow control, push, stream timeouts; switches
        websocket.py    WebSocketSession: frames <-> app calls, ping/pong, slow peers
        websocket_h2.py RFC 8441: a WebSocket on an HTTP/2 extended CONNECT stream
    protocols/          sans-IO adapters: bytes in, events out (httptools, h2, wsproto)
    events.py           the event vocabulary the adapters and connections share
    stream.py           Stream (one request/response, any protocol) and the StreamSink seam
    dispatch.py         route a stream, check the body limit, pick and start its Handler
    routing.py          virtual hosts and mount points -> Route
    handler.py          the Handler protocol every mounted thing implements
    wsgi.py             Handler for WSGI apps (thread pool or inline)
    pool.py             the WSGI thread pool: hand-off and completions batched per loop turn
    static.py           Handler for static directories (ETag, Range, sendfile); cached_file
                        tells HTTP/1.1 when a request may take its fast path
    filecache.py        open static files and their 200 heads, checked by one stat
    websocket_app.py    the README's WebSocket contract for WSGI apps (INIT, replies)
    forward.py          Handler of the enable_forward listener: redirect to HTTPS
    errorpage.py        the one small HTML error page
    environ.py, ranges.py, eager.py, apps.py, tls.py: WSGI environ, Range/dates,
                        eager task start, app loading, the SSLContext
"""
