"""The README's WebSocket examples ("HTML5 Websocket") for Flask, as written.

Changes from the README text, only where it could not run: the typo ``retrurn``, the
undefined ``message`` in "Send Messages Through Websocket Directly" (taken from
``request.args`` as the text above it says), and the Saddle-only examples (chat, JSON,
thread) written with Flask's ``request.environ`` instead of ``was`` (Saddle is not part
of this release yet).
"""

import threading
import time

from flask import Flask, request

import skitai

app = Flask(__name__)
app.debug = True
app.use_reloader = True


# --- "For Flask Users" -------------------------------------------------------------------------
@app.route("/websocket/echo")
def echo():
    event = request.environ.get("websocket.event")
    client_id = request.environ.get("websocket.client")

    if event == skitai.WS_EVT_INIT:
        request.environ["websocket.config"] = (skitai.WS_SIMPLE, 60, ("message",))
        return ""
    elif event == skitai.WS_EVT_OPEN:
        return "Welcome %d" % client_id
    elif event:
        return ""
    return "ECHO:" + request.args.get("message")


# --- "Send Messages Through Websocket Directly" --------------------------------------------
@app.route("/websocket/direct")
def direct():
    event = request.environ.get("websocket.event")
    if event == skitai.WS_EVT_INIT:
        request.environ["websocket.config"] = (skitai.WS_SIMPLE, 60, ("message",))
        return ""
    elif event:
        return ""

    message = request.args.get("message")
    request.environ["websocket"].send(
        ("You said, %s" % message).encode("iso8859-1")
    )
    request.environ["websocket"].send("I said acknowledge")
    return ""


# --- "Group Chat Websocket" (the Flask setup the README gives for it) -------------------------
@app.route("/websocket/chat")
def chat():
    client_id = request.environ.get("websocket.client")
    event = request.environ.get("websocket.event")
    if event == skitai.WS_EVT_INIT:
        request.environ["websocket.config"] = (
            skitai.WS_GROUPCHAT,
            60,
            ("message", "room_id")
        )
        return ""
    elif event == skitai.WS_EVT_OPEN:
        return "Client %s has entered" % client_id
    elif event == skitai.WS_EVT_CLOSE:
        return "Client %s has leaved" % client_id
    return "Client %s Said: %s" % (client_id, request.args.get("message"))


# --- "Use Message Encoding" ---------------------------------------------------------------------
def dbsearch(query, offset):
    """Stands in for the README's database search."""
    return {"query": query, "offset": offset, "rows": [query.upper()] * 2}


@app.route("/websocket/json")
def json_search():
    event = request.environ.get("websocket.event")
    if event == skitai.WS_EVT_INIT:
        request.environ["websocket.config"] = (skitai.WS_SIMPLE | skitai.WS_MSG_JSON, 60,
                                               ("message",))
        return ""
    elif event:
        return ""
    message = request.environ["websocket.message"]  # already a Python object
    return dbsearch(message["query"], message["offset"])  # Flask makes it JSON


# --- "Thread Safe Websocket" --------------------------------------------------------------------
class myProgram:
    def __init__(self, websocket):
        self.websocket = websocket
        self.__active = 0
        self.__lock = threading.Lock()

    def run(self):
        while 1:
            with self.__lock:
                active = self.__active
            if not active:
                break
            self.websocket.send("Keep running...")
            time.sleep(1)
        self.websocket.send("Terminated")

    def handle_command(self, cmd):
        if cmd == "start":
            with self.__lock:
                self.__active = 1
            threading.Thread(target=self.run).start()

        elif cmd == "stop":
            with self.__lock:
                self.__active = 0
            self.websocket.send("Try to stop...")

        else:
            self.websocket.send("I cannot understand your command")

    def kill(self):
        with self.__lock:
            self.__active = 0


wspool = {}


@app.route("/websocket/run")
def run():
    event = request.environ.get("websocket.event")
    websocket = request.environ.get("websocket")
    if event == skitai.WS_EVT_INIT:
        request.environ["websocket.config"] = (skitai.WS_THREADSAFE, 7200, ("message",))
        return ""
    elif event == skitai.WS_EVT_OPEN:
        wspool[id(websocket)] = myProgram(websocket)
        return ""
    elif event == skitai.WS_EVT_CLOSE:
        ukey = id(websocket)
        if ukey in wspool:
            wspool[ukey].kill()
            del wspool[ukey]
        return ""

    runner = wspool[id(websocket)]
    runner.handle_command(request.args.get("message"))
    return ""


@app.route("/")
def index():
    return app.send_static_file("index.html")
