"""Turning the current process into a daemon (the classic double fork).

Used by ``python app.py -d`` and the standalone ``skitai smtpda|cron start``.  The
parent waits on a pipe until the daemon says it is up (or why it is not), so ``start``
exits 0 only when the daemon really started; the original returned before knowing.
"""

from __future__ import annotations

import os
import sys


def daemonize(*, workdir: str, stdio_path: str = os.devnull, umask: int = 0o022) -> int:
    """Double-fork.  Returns in the daemon only, with the write end of a ready pipe: write
    ``b"ok\\n"`` or ``b"ok <message to print>\\n"`` (or an error line) to it and close it.  In the original process this calls
    ``os._exit`` with 0 when the daemon reported ``ok``, 1 otherwise (printing the reason)."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(w)
        chunks = []
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        os.waitpid(pid, 0)
        text = b"".join(chunks).decode(errors="replace").strip()
        if text == "ok" or text.startswith("ok "):
            if text[3:]:  # "ok <message>": what the daemon wants the user to see
                sys.stdout.write(text[3:] + "\n")
                sys.stdout.flush()
            os._exit(0)
        sys.stderr.write((text or "daemon exited before it was ready") + "\n")
        sys.stderr.flush()
        os._exit(1)
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir(workdir)
    os.umask(umask)
    fd = os.open(stdio_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    for extra in (fd, null):
        if extra > 2:
            os.close(extra)
    return w


def report_ready(fd: int | None, message: str = "ok") -> None:
    """Tell the waiting ``start`` command how the daemon's start went (once)."""
    if fd is None:
        return
    try:
        os.write(fd, (message.strip() + "\n").encode())
    finally:
        os.close(fd)
