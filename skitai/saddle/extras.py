"""Part 2's app-level methods (issue 15: sessions, cookies, mbox, CSRF, tokens,
authentication, CORS, RPC, ``websocket_config``, Django) go in this mixin, which
``Saddle`` inherits; ``init_extras()`` is called at the end of ``Saddle.__init__`` to set
their attributes.  Per-request parts attach through ``skitai.saddle.extensions``.
"""

from __future__ import annotations


class Extras:
    def init_extras(self) -> None:
        """Set part 2's app attributes (``session_timeout``, ``authenticate``...)."""
