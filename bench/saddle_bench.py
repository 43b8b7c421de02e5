"""bench/saddle.sh's Saddle app: /hello (a small string) and /items (Jinja2, 20 items)."""

from skitai.saddle import Saddle

ITEMS = [{"name": f"item {i}", "price": i * 3} for i in range(20)]

app = Saddle(__name__)  # templates/ beside this file


@app.route("/hello")
def hello(was):
    return "Hello World"


@app.route("/items")
def items(was):
    return was.render("items.html", title="Items", items=ITEMS)
