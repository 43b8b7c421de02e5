"""Part 2's app-level methods (issue 15: login/permission handlers, websocket_config,
model_signal, session/auth/CORS defaults) go in this mixin, which ``Saddle`` inherits;
``init_helpers()`` runs at the end of ``Saddle.__init__`` to set their instance
attributes.  Per-request parts attach through ``skitai.saddle.extensions``.
"""

from __future__ import annotations


class AppHelpers:
    def init_helpers(self) -> None:
        """Set part 2's app attributes (``session_timeout``, ``authenticate``...)."""
