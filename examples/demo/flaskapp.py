"""A Flask app mounted under /flask by app.py (url_for includes the mount point)."""

from flask import Flask, jsonify, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return f'<h1>Flask under Skitai</h1><a href="{url_for("hello", name="skitai")}">hello</a>'


@app.route("/hello/<name>")
def hello(name):
    return jsonify(hello=name, url=url_for("hello", name=name))
