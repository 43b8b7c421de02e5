"""Skitai side of bench/cluster_fanout.py: a WS_GROUPCHAT room on a host of a cluster.

    SKITAI_PORT=8001 SKITAI_VARPATH=/tmp/h0 CLUSTER_NAME=bench python3 bench/cluster_fanout_app.py
"""

import os

import skitai


def chat(environ, start_response):
    event = environ.get("websocket.event")
    if event == skitai.WS_EVT_INIT:
        environ["websocket.config"] = (skitai.WS_GROUPCHAT, 120, ("message",))
        return None
    if event:
        return None
    return environ["websocket.message"]  # to every member of the room, on every host


if __name__ == "__main__":
    skitai.enable_cluster(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                          name=os.environ["CLUSTER_NAME"])
    skitai.mount("/", chat)
    skitai.log_off("/")
    skitai.run()
