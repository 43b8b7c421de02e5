"""The listening sockets: bound (or adopted from systemd) by the master, inherited by
every web worker across fork, and kept open by the master for the server's life.

Because the master holds them, a worker that stops (reload, recycle, crash) never
closes the port: connections wait in the kernel's accept queue for the next worker
instead of being refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import MutableMapping

from skitai.config.model import ServerConfig

SD_LISTEN_FDS_START = 3


def adopt_systemd(env: MutableMapping[str, str] | None = None,
                  pid: int | None = None) -> list[socket.socket]:
    """Sockets passed by systemd socket activation (``sd_listen_fds(unset_environment=1)``):
    ``LISTEN_FDS=n`` file descriptors from 3, meant for us when ``LISTEN_PID`` is our pid.
    The variables are removed so children do not think they are meant for them."""
    env = os.environ if env is None else env
    pid = os.getpid() if pid is None else pid
    try:
        count = int(env.get("LISTEN_FDS", "0"))
        owner = int(env.get("LISTEN_PID", str(pid)))
    except ValueError:
        return []
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        env.pop(name, None)
    if owner != pid or count <= 0:
        return []
    socks = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        sock = socket.socket(fileno=fd)
        if sock.type != socket.SOCK_STREAM:
            sock.detach()
            continue
        socks.append(sock)
    return socks


def bind(config: ServerConfig) -> list[socket.socket]:
    """TCP (IPv4, or IPv6 when the address has a ':') plus the unix socket path if set,
    plus the ``enable_forward`` port (the workers tell it apart by its port number).
    Raises ``OSError`` with a message naming the address."""
    socks: list[socket.socket] = []
    try:
        socks.append(bind_tcp(config.address, config.port, config.backlog, config.reuse_port))
        if config.unix_socket:
            socks.append(bind_unix(config.unix_socket, config.backlog))
        if config.forward_port:
            socks.append(bind_tcp(config.address, config.forward_port, config.backlog,
                                  config.reuse_port))
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def bind_tcp(address: str, port: int, backlog: int, reuse_port: bool = False) -> socket.socket:
    host = address.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and host == "::":
            # "::" serves IPv4 too (dual stack), like most servers do by default.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address}:{port}: {exc.strerror}") from None
    return sock


def bind_unix(path: str, backlog: int) -> socket.socket:
    path = os.path.abspath(path)
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on unix:{path}: {exc.strerror}") from None
    return sock


def _remove_stale(path: str) -> None:
    """A socket file left by a killed server is removed; a live one is an error."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"unix:{path} is in use by a running server")


def describe(sock: socket.socket, scheme: str = "http") -> str:
    """``http://127.0.0.1:5000/``, ``https://[::1]:5000/`` or ``unix:/run/app.sock``."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name.decode() if isinstance(name, bytes) else name}"
    host, port = name[0], name[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def urls(socks: list[socket.socket], config: ServerConfig) -> list[str]:
    """``describe`` each listener: https when TLS is on, except the forward port."""
    main = "https" if config.ssl_cert else "http"
    out = []
    for sock in socks:
        port = sock.getsockname()[1] if sock.family != socket.AF_UNIX else None
        out.append(describe(sock, "http" if port and port == config.forward_port else main))
    return out


def cleanup(socks: list[socket.socket], remove_unix: bool = True) -> None:
    """Close the listeners at the end; unlink unix socket files we bound."""
    for sock in socks:
        path = None
        if remove_unix and sock.family == socket.AF_UNIX:
            with contextlib.suppress(OSError):
                path = sock.getsockname()
        sock.close()
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)
