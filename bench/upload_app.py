"""The upload benchmark's app (bench/upload.py): reads the body in 64 KiB pieces.

    gunicorn -k gthread --threads 4 upload_app:app      # the peer
    SKITAI_PORT=8001 python bench/upload_app.py          # skitai: / buffered, /stream streaming
"""

import os


def app(environ, start_response):
    read = environ["wsgi.input"].read
    size = 0
    while True:
        chunk = read(65536)
        if not chunk:
            break
        size += len(chunk)
    body = b"%d" % size
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    import skitai

    skitai.mount("/", app)
    streaming = skitai.pref()
    streaming.stream_request_body = True
    skitai.mount("/stream", app, pref=streaming)
    skitai.log_off("/")
    skitai.set_max_client_body_size("1G")  # 64 MiB by default
    skitai.run(threads=int(os.environ.get("SKITAI_THREADS", "4")))
