"""A Saddle app: templates, static files and a JSON API.  The demo (examples/demo/app.py)
mounts it at /saddle; alone:  python examples/saddle/app.py  (http://127.0.0.1:5000/).

    GET  /                  the item list (templates/index.html), was.g from before_request
    GET  /items/<int:id>    one item, or the custom 404.html
    GET  /api/items         JSON list;  ?q= filters
    POST /api/items         add one from a form or a JSON body: {"name": ..., "price": ...}
    GET  /api/items/<int:id>
    GET  /stats             a view from decorative/stats.py
"""

import threading

from skitai.saddle import Saddle

app = Saddle(__name__)
app.config.max_post_body_size = 64 * 1024

_lock = threading.Lock()
ITEMS = {1: {"id": 1, "name": "saddle", "price": 120}, 2: {"id": 2, "name": "bridle", "price": 45}}
ADDED: list[str] = []
app.config.catalog, app.config.added = ITEMS, ADDED  # for decorative/stats.py


@app.before_request
def before(was):
    was.g.site = "Saddle example"


@app.template_filter("won")
def won(price):
    return f"{price:,} coins"


@app.route("/")
def index(was):
    return was.render("index.html", items=sorted(ITEMS.values(), key=lambda i: i["id"]))


@app.route("/items/<int:id>")
def item(was, id):
    found = ITEMS.get(id)
    if found is None:
        return was.response("404 Not Found")
    return was.render("item.html", item=found)


@app.route("/api/items", methods=["GET"])
def list_items(was, q=""):
    return [i for i in ITEMS.values() if q.lower() in i["name"].lower()]


@app.route("/api/items", methods=["POST"])
def add_item(was, name, price=0, **extra):
    try:
        price = int(price)
    except (TypeError, ValueError):
        return was.response.for_api("400 Bad Request", "price must be a number", 40001)
    with _lock:
        new = {"id": max(ITEMS, default=0) + 1, "name": name, "price": price}
        ITEMS[new["id"]] = new
    was.emit("item:added", name)
    return was.response("201 Created", new, [("Location", was.ab("get_item", new["id"]))])


@app.route("/api/items/<int:id>")
def get_item(was, id):
    if id not in ITEMS:
        was.response.throw("404 Not Found", f"no item {id}")
    return ITEMS[id]


@app.on("item:added")
def remember(was, name):
    ADDED.append(name)
    was.log(f"item added: {name}")


if __name__ == "__main__":
    import skitai

    skitai.mount("/", app)
    skitai.mount("/static", "static")
    skitai.run(address="127.0.0.1", port=5000)
