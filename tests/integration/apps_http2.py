# The app.py of the HTTP/2 and TLS integration tests (written into a temp dir by the tests).
import hashlib
import os
import time

import skitai


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ["QUERY_STRING"]
    if path == "/held":
        # A held upload: its body is not read until the test creates the file
        # "release" in the server's directory (then read as /upload reads it).
        deadline = time.monotonic() + 120
        while not os.path.exists("release") and time.monotonic() < deadline:
            time.sleep(0.02)
        path = "/upload"
    if path == "/upload":
        # read in pieces: the body is never held whole
        md5, size = hashlib.md5(), 0
        stream = environ["wsgi.input"]
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            md5.update(chunk)
            size += len(chunk)
        out = f"len={size} md5={md5.hexdigest()}".encode()
    elif path == "/download":
        size = int(query or "1000")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return _pattern(size)
    elif path == "/slow":
        time.sleep(float(query or "1"))
        out = b"slept " + query.encode()
    elif path == "/hint":
        environ["skitai.hint_promise"]("/static/a.css")
        out = b'<link rel="stylesheet" href="/static/a.css">hinted'
    else:
        body = environ["wsgi.input"].read()
        out = (f"{environ['SERVER_PROTOCOL']} {environ['REQUEST_METHOD']} {path}|{query} "
               f"len={len(body)} md5={hashlib.md5(body).hexdigest()} "
               f"scheme={environ['wsgi.url_scheme']} host={environ.get('HTTP_HOST')} "
               f"pid={os.getpid()}").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


def _pattern(size):
    block = bytes(range(256)) * 256  # 64 KiB
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


skitai.mount("/", app)
streaming = skitai.pref()
streaming.stream_request_body = True  # the app runs before its body has arrived
skitai.mount("/streaming", app, pref=streaming)
skitai.mount("/static", "static")
if os.environ.get("TEST_CERT"):
    skitai.enable_ssl(os.environ["TEST_CERT"], os.environ["TEST_KEY"], os.environ.get("TEST_PASS"))
if os.environ.get("TEST_FORWARD"):
    skitai.enable_forward(int(os.environ["TEST_FORWARD"]), int(os.environ["TEST_FORWARD_TO"]),
                          hosts=["www.example.com", ".example.org"])
skitai.run()
