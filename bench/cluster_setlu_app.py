"""Skitai side of bench/cluster_setlu.py: /set writes was.setlu("k"), /get reads it."""

import json
import os

import skitai
from skitai import was


def app(environ, start_response):
    if environ["PATH_INFO"] == "/set":
        was.setlu("k")
    body = json.dumps({"lu": was.getlu("k")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    skitai.addlu("k")
    skitai.enable_cluster(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                          name=os.environ["CLUSTER_NAME"])
    skitai.mount("/", app)
    skitai.log_off("/")
    skitai.run()
