# The app.py of the protocol-hardening tests (written into a temp dir by the tests).
import os
import time
import warnings
import wsgiref.validate

import skitai

warnings.simplefilter("error", wsgiref.validate.WSGIWarning)
MARKS = os.environ.get("TEST_MARKS", ".")


def echo(environ, start_response):
    body = environ["wsgi.input"].read(-1)
    info = (f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} len={len(body)} "
            f"proto={environ['SERVER_PROTOCOL']} cl={environ.get('CONTENT_LENGTH')}").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(info)))])
    return [info]


def marked(environ, start_response):
    """Leaves a mark when it is called (before it reads its body), then echoes the size."""
    name = environ["QUERY_STRING"] or "called"
    with open(os.path.join(MARKS, name), "w") as f:
        f.write(str(time.time()))
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"got %d" % len(body)]


def hello_str(environ, start_response):
    """The seed README's first example, as a 0.26 user wrote it."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return "Hello World"


def hello_str_items(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write("Hi ")
    return ["Hello ", "Wörld"]


def upload(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"stored %d" % len(body)]


def sleepy(environ, start_response):
    time.sleep(float(environ["QUERY_STRING"] or "0.2"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept"]


if __name__ == "__main__":
    skitai.mount("/echo", wsgiref.validate.validator(echo))
    skitai.mount("/marked", marked)
    streaming = skitai.pref()
    streaming.stream_request_body = True
    skitai.mount("/streaming", marked, pref=streaming)
    skitai.mount("/str", hello_str)
    skitai.mount("/stritems", hello_str_items)
    skitai.mount("/sleepy", sleepy)
    limited = skitai.pref()
    limited.config.max_post_body_size = 10
    limited.config.max_multipart_body_size = 4000
    limited.config.max_upload_file_size = 100
    skitai.mount("/limited", upload, pref=limited)
    if os.environ.get("TEST_LIMITS"):
        line, fields = os.environ["TEST_LIMITS"].split(",")
        skitai.set_request_limits(request_line=int(line), header_fields=int(fields))
    skitai.set_request_timeout(int(os.environ.get("TEST_REQUEST_TIMEOUT", "30")))
    skitai.set_graceful_timeout(5)
    skitai.run(workers=int(os.environ.get("TEST_WORKERS", "1")),
               threads=int(os.environ.get("SKITAI_THREADS", "4")))
