"""bench/saddle.sh's Flask app: the same two routes as saddle_bench.py."""

from flask import Flask, render_template

ITEMS = [{"name": f"item {i}", "price": i * 3} for i in range(20)]

app = Flask(__name__)  # templates/ beside this file


@app.route("/hello")
def hello():
    return "Hello World"


@app.route("/items")
def items():
    return render_template("items.html", title="Items", items=ITEMS)
