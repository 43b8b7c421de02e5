"""Saddle: Skitai's app framework (``from skitai.saddle import Saddle``).

Layer 2: imports no other ``skitai`` module.  Under Skitai the engine hands each request
its ``was`` services through the WSGI environ (``skitai.was``); under any other WSGI
server Saddle's own ``was`` (request, response, g, render, ab, emit, log) still works.
"""

from __future__ import annotations

from skitai.saddle.app import Saddle
from skitai.saddle.response import HTTPError
from skitai.saddle.was import EngineRequired

# The seed's app events: ``@app.on(saddle.request_failed)``.
app_starting = "app_starting"
app_started = "app_started"
app_restarting = "app_restarting"
app_restarted = "app_restarted"
app_mounted = "app_mounted"
app_unmounting = "app_unmounting"
request_failed = "request_failed"
request_success = "request_success"
request_tearing_down = "request_tearing_down"
request_starting = "request_starting"
request_finished = "request_finished"
template_rendering = "template_rendering"
template_rendered = "template_rendered"

__all__ = ["Saddle", "HTTPError", "EngineRequired", "app_starting", "app_started",
           "app_restarting", "app_restarted", "app_mounted", "app_unmounting", "request_failed",
           "request_success", "request_tearing_down", "request_starting", "request_finished",
           "template_rendering", "template_rendered"]
