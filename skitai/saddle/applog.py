"""``wac.logger``: the seed's logger factory for lifecycle hooks
(``wac.logger.get("app")``, ``wac.logger.make_logger("login", "daily")``).

The seed opened a file per logger, rotated daily.  Here logging is the engine's (its
handlers, files and rotation: ``logpath``, USR1), so a named logger is a child of
``skitai.app``: its lines go to ``app.log`` with the logger's name, and the rotation
argument is accepted and left to the engine.
"""

from __future__ import annotations

import logging

ROOT = "skitai.app"


class AppLogger:
    def get(self, name: str = "app") -> logging.Logger:
        return logging.getLogger(ROOT if name in ("", "app") else f"{ROOT}.{name}")

    def make_logger(self, name: str, rotate: str | None = None) -> logging.Logger:
        """``rotate`` ("daily", "weekly"...) is the seed's file rotation: the engine's here."""
        del rotate
        return self.get(name)


logger = AppLogger()
