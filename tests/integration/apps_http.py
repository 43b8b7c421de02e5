# The app.py used by the HTTP/1.1 integration tests (written into a temp dir by the tests).
import hashlib
import os
import sys
import time
import warnings
import wsgiref.validate

import skitai

warnings.simplefilter("error", wsgiref.validate.WSGIWarning)
MARKS = os.environ.get("TEST_MARKS", ".")


def echo(environ, start_response):
    """Reports what it received: method, paths, body length and digest."""
    # wsgiref.validate insists on an explicit size (PEP 3333 allows none).
    body = environ["wsgi.input"].read(-1)
    info = (f"{environ['REQUEST_METHOD']} {environ['SCRIPT_NAME']}|{environ['PATH_INFO']}|"
            f"{environ['QUERY_STRING']} len={len(body)} md5={hashlib.md5(body).hexdigest()} "
            f"proto={environ['SERVER_PROTOCOL']} pid={os.getpid()}").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(info)))])
    return [info]


def lines(environ, start_response):
    """Reads the body line by line (readline), answering with the line count."""
    count = sum(1 for _ in environ["wsgi.input"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"lines={count}".encode()]


def slow(environ, start_response):
    delay = float(environ["QUERY_STRING"] or "1")
    time.sleep(delay)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"slept {delay}".encode()]


class Tracked:
    """An iterable that records close() in a marker file (client-gone tests)."""

    def __init__(self, name, size):
        self.name, self.size, self.sent = name, size, 0

    def __iter__(self):
        while self.sent < self.size:
            self.sent += 65536
            yield b"x" * 65536

    def close(self):
        with open(os.path.join(MARKS, self.name), "w") as f:
            f.write(f"closed after {self.sent}")


def big(environ, start_response):
    name = environ["QUERY_STRING"] or "big"
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Tracked(name, 64 * 1024 * 1024)


def stream(environ, start_response):
    """A body in pieces of unknown total length: chunked on HTTP/1.1."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"piece{i};".encode() for i in range(5)]


def writer(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written;")
    return [b"returned"]


def boom(environ, start_response):
    raise RuntimeError("kaboom-secret-detail")


def fileapp(environ, start_response):
    f = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "data.bin"), "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f)


def validated(app):
    return wsgiref.validate.validator(app)


if __name__ == "__main__":
    skitai.mount("/", "static")
    for name, app in [("echo", echo), ("lines", lines), ("slow", slow), ("big", big),
                      ("stream", stream), ("writer", writer), ("boom", boom), ("file", fileapp)]:
        skitai.mount("/" + name, validated(app) if name not in ("big",) else app)
    limited = skitai.pref()
    limited.max_client_body_size = 1000
    skitai.mount("/limited", "limited_app.py", "app", limited)
    skitai.set_keep_alive(int(os.environ.get("TEST_KEEP_ALIVE", "30")))
    skitai.set_request_timeout(int(os.environ.get("TEST_REQUEST_TIMEOUT", "30")))
    skitai.set_graceful_timeout(10)
    skitai.set_max_age("/", 60)
    skitai.set_max_age("/nocache", 0)
    if len(sys.argv) > 1 and sys.argv[1] == "--debug":
        sys.argv.pop(1)
    skitai.run(threads=int(os.environ.get("SKITAI_THREADS", "4")))
