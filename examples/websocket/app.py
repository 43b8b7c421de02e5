"""WebSocket examples from the README.  Run:  python examples/websocket/app.py

Then open http://127.0.0.1:5000/ (a small client page), or connect a client to
ws://127.0.0.1:5000/websocket/echo, /websocket/direct, /websocket/chat?room_id=1,
/websocket/json, /websocket/run, and /wsgi/echo (a plain WSGI callable).
"""

import skitai

if __name__ == "__main__":
    skitai.mount("/", "flask_app.py", "app")
    skitai.mount("/wsgi", "wsgi_app.py", "echo")
    skitai.run(port=5000, workers=2, threads=4)
