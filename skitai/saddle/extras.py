"""Part 2's app-level methods (issue 15: sessions, cookies, mbox, CSRF, tokens,
authentication, CORS, RPC, ``websocket_config``, Django) go in this mixin, which
``Saddle`` inherits; ``init_extras()`` is called at the end of ``Saddle.__init__`` to set
their attributes.  Per-request parts attach through ``skitai.saddle.extensions``.
"""

from __future__ import annotations

from skitai.saddle import gates, promises, wasparts, websocket, withdjango
from skitai.saddle.helpers import AppHelpers

# The per-request parts register once, when Saddle is imported.
wasparts.install()
gates.install()
websocket.install()
withdjango.install()
promises.install()


class Extras(AppHelpers):
    def init_extras(self) -> None:
        """Set part 2's app attributes (``session_timeout``, ``authenticate``...): the
        class defaults in ``AppHelpers`` apply until an app sets its own."""
