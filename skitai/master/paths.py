"""Where a server keeps its pid file, control socket and daemon output.

``varpath`` from the config wins.  Otherwise one folder per instance:
``~/.local/state/skitai/<name>-<hash>``, the hash taken from the app script's path and the
listen address (so the same app.py runs twice on two ports, and two apps in one directory
do not collide, which the original's ``<dir>/.pid`` did), or ``~/.local/state/skitai/<name>``
for an explicit ``--name``.  Private to the user (made 0700) and the same from every shell:
``status``/``stop`` given the same app, port and name find the instance ``start`` made.  ``$XDG_RUNTIME_DIR`` is deliberately not used for the
default: it is set in a login session but not under ``su - user -c`` from rc.local, so
``skitai status`` typed in a terminal would look in another place than the daemon used.
Never a world-writable shared directory (the original used ``/var/tmp``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from skitai.config.model import ServerConfig
from skitai.errors import ConfigError

# sockaddr_un.sun_path is 108 bytes with the trailing NUL.
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class Paths:
    var: str
    pidfile: str
    control: str
    stdio: str  # where a daemon's stdout/stderr go

    def make(self) -> None:
        os.makedirs(self.var, mode=0o700, exist_ok=True)


def var_dir(config: ServerConfig) -> str:
    if config.varpath:
        return os.path.abspath(os.path.expanduser(config.varpath))
    state = os.path.join(os.path.expanduser("~"), ".local", "state", "skitai")
    if config.instance:
        return os.path.join(state, _safe(config.instance))
    origin = "\0".join([config.script or os.path.abspath(config.swd), listen_key(config)])
    digest = hashlib.sha1(origin.encode()).hexdigest()[:8]
    return os.path.join(state, f"{_safe(config.name)}-{digest}")


def listen_key(config: ServerConfig) -> str:
    """What tells two instances of one app apart: where they listen."""
    key = f"{config.address}:{config.port}"
    return f"{key} unix:{config.unix_socket}" if config.unix_socket else key


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "skitai"


def child_log(config: ServerConfig, paths: Paths | None, daemon: bool) -> str | None:
    """The file where a child's traceback lands: ``server.log`` under ``logpath``, else a
    daemon's output file; None when it goes to the console."""
    if config.logpath:
        return os.path.join(os.path.abspath(os.path.expanduser(config.logpath)), "server.log")
    if daemon and paths is not None:
        return paths.stdio
    return None


def for_config(config: ServerConfig) -> Paths:
    var = var_dir(config)
    control = os.path.join(var, "control.sock")
    if len(control.encode()) > MAX_SOCKET_PATH:
        raise ConfigError(f"the control socket path {control} is longer than a unix socket "
                          f"path may be ({MAX_SOCKET_PATH} bytes): set a shorter varpath",
                          key="varpath")
    stdio_dir = os.path.abspath(os.path.expanduser(config.logpath)) if config.logpath else var
    return Paths(var=var, pidfile=os.path.join(var, "skitai.pid"), control=control,
                 stdio=os.path.join(stdio_dir, "stderr.log"))
