"""The control socket: a unix stream socket (mode 0600, in the 0700 var dir) speaking the
length-prefixed JSON of ``skitai.ipc.control``.  ``skitai status|reload|stop|scale``
talk to it; the master's signals map onto the same commands (``commands.py``).

Server side: non-blocking, driven by the arbiter's ``selectors`` loop (no threads).  A
command may answer later (``reload`` answers when the new generation serves, or failed),
so the dispatcher gets a ``reply`` callable rather than returning a value.
Client side: ``call()``, a blocking request with a timeout, for the CLI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

from skitai.errors import ProtocolError
from skitai.ipc import control as codec

log = logging.getLogger("skitai.master")

Reply = Callable[[dict[str, Any]], None]
Dispatch = Callable[[dict[str, Any], Reply], None]


class ControlServer:
    def __init__(self, path: str, selector: selectors.BaseSelector, dispatch: Dispatch) -> None:
        self.path = path
        self._selector = selector
        self._dispatch = dispatch
        self._conns: dict[socket.socket, _Conn] = {}
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # we hold the pid file lock: no other master uses this path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # created 0600 at bind: no window where others may connect
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        self.sock = sock
        selector.register(sock, selectors.EVENT_READ, self._on_accept)

    def fds(self) -> list[int]:
        """Every descriptor a forked child must close."""
        return [self.sock.fileno(), *(c.fileno() for c in self._conns)]

    def _on_accept(self, _mask: int) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("control socket accept failed: %s", exc)
                return
            conn.setblocking(False)
            state = _Conn(conn, self)
            self._conns[conn] = state
            self._selector.register(conn, selectors.EVENT_READ, state.on_event)

    def _drop(self, conn: socket.socket) -> None:
        if self._conns.pop(conn, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn)
            conn.close()

    def close(self) -> None:
        for conn in list(self._conns):
            self._drop(conn)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self.sock)
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class _Conn:
    def __init__(self, sock: socket.socket, server: ControlServer) -> None:
        self.sock = sock
        self.server = server
        self.decoder = codec.Decoder(max_frame=64 * 1024)
        self.out = bytearray()
        self.closed = False

    def on_event(self, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._read()
        if mask & selectors.EVENT_WRITE and not self.closed:
            self._write()

    def _read(self) -> None:
        try:
            messages = codec.read_frames(self.sock, self.decoder)
        except ProtocolError as exc:
            self.reply({"ok": False, "error": str(exc)})
            self._close()
            return
        if messages is None:
            self._close()
            return
        for message in messages:
            self.server._dispatch(message, self.reply)

    def reply(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        self.out += codec.encode(message)
        self._write()

    def _write(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close()
            return
        del self.out[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.server._selector.modify(self.sock, events, self.on_event)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _close(self) -> None:
        self.closed = True
        self.server._drop(self.sock)


class ControlError(RuntimeError):
    pass


def call(path: str, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one command and wait for its answer.  Raises ``ControlError`` when nobody
    answers (no socket, refused, reset, timed out).  Never retried: a command that
    changes state must not run twice, and a read-only one has no reason to fail."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(codec.encode(message))
        except OSError as exc:
            raise ControlError(f"cannot reach the master at {path}: {exc.strerror or exc}") from None
        decoder = codec.Decoder()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ControlError(f"no answer from the master within {timeout:g}s")
            sock.settimeout(left)  # read_frames: [] when it passes
            messages = codec.read_frames(sock, decoder)
            if messages is None:
                raise ControlError("the master closed the control connection without answering")
            if messages:
                return messages[0]
    finally:
        sock.close()
