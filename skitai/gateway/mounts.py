"""Builds the handler of a ``mount(point, "@alias")`` from the frozen config (called by
the worker's composition root): the alias's pool, the reverse proxy, and around it the
gateway's rate limit and authentication when they are enabled."""

from __future__ import annotations

import asyncio
import os

from skitai.config.model import MountSpec, ServerConfig
from skitai.gateway.auth import Gate
from skitai.gateway.cache import HttpCache
from skitai.gateway.proxy import ProxyHandler, TrustedProxies
from skitai.log import LogOff
from skitai.upstream import registry


def upstreams(config: ServerConfig, loop: asyncio.AbstractEventLoop) -> registry.Registry:
    """This worker's registry of alias pools (made and installed on first use)."""
    try:
        found = registry.current()
    except RuntimeError:
        found = None
    if found is None or found.loop is not loop:
        found = registry.Registry(config, loop)
        registry.install(found)
    return found


def proxy_handler(config: ServerConfig, spec: MountSpec,
                  loop: asyncio.AbstractEventLoop) -> ProxyHandler:
    pool = upstreams(config, loop).get(spec.target)
    gate = _gates.get(id(loop))
    if gate is None or gate.loop is not loop:
        gate = _gates[id(loop)] = Gate(config.gateway, config.rate_limit, loop,
                                       config.backend_timeout)
    return ProxyHandler(pool, mount_point=spec.point, body_limit=config.max_client_body_size,
                        trusted=TrustedProxies(config.trusted_proxies), gate=gate,
                        tunnel_idle=config.proxy_tunnel_timeout, cache=response_cache(config),
                        proxy_host=spec.proxy_host,
                        logged=not LogOff(config.log_off).everything)


_gates: dict[int, Gate] = {}
_caches: dict[int, HttpCache] = {}


def response_cache(config: ServerConfig) -> HttpCache | None:
    """This worker's HTTP cache (one for every mount), when enable_cachefs() was called."""
    cfg = config.cachefs
    if cfg is None or not (cfg.memmax or cfg.diskmax):
        return None
    found = _caches.get(id(config))
    if found is None:
        path = cfg.path or os.path.join(os.path.expanduser(config.varpath or "~/.skitai"),
                                        "cachefs")
        # Another worker's fill is waited for as long as a member may take, and a bit.
        found = _caches[id(config)] = HttpCache(cfg.memmax, cfg.diskmax, path,
                                                fill_timeout=config.backend_timeout + 5)
    return found
