"""sd_notify(3) without libsystemd: datagrams to ``$NOTIFY_SOCKET``.

The master says ``READY=1`` once its first workers serve, ``RELOADING=1`` (with
``MONOTONIC_USEC``, which systemd >= 253 wants) and ``READY=1`` around a HUP reload,
``STOPPING=1`` when it starts to stop, ``STATUS=...`` lines as things change, and
``WATCHDOG=1`` every half ``WATCHDOG_USEC`` from its loop, so a hung master (not a hung
worker: the master handles those) is restarted by systemd.  ``NOTIFY_SOCKET`` may name
an abstract socket (``@name``).  The variables are removed from the environment so the
children, which systemd would not accept messages from anyway, do not try.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import MutableMapping


class Notifier:
    def __init__(self, env: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address: str | None = env.pop("NOTIFY_SOCKET", None) or None
        self.watchdog_interval: float | None = None
        usec = env.pop("WATCHDOG_USEC", None)
        wpid = env.pop("WATCHDOG_PID", None)
        if usec and (not wpid or wpid == str(os.getpid())):
            with contextlib.suppress(ValueError):
                if int(usec) > 0:
                    self.watchdog_interval = int(usec) / 1e6 / 2
        self._sock: socket.socket | None = None
        self._last_watchdog = 0.0
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when not under systemd or the
        send failed (never raises: systemd being away must not stop the server)."""
        if self._sock is None or self.address is None:
            return False
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            self._sock.sendto("\n".join(lines).encode(), address)
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *(["STATUS=" + status] if status else []))

    def reloading(self) -> bool:
        usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify("STATUS=" + text)

    def watchdog_due(self, now: float) -> bool:
        return (self.watchdog_interval is not None
                and now - self._last_watchdog >= self.watchdog_interval)

    def watchdog(self, now: float | None = None) -> bool:
        self._last_watchdog = time.monotonic() if now is None else now
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
