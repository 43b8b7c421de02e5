"""``skitai.enable_gateway()`` and ``skitai.set_rate_limit()``, frozen (layer 1).

The auth handler object (the seed's ``handle_token``/``handle_claim`` object) is a
runtime object: it travels to the workers by fork and is dropped when the config is
pickled, like a mounted app object.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Final

from skitai.errors import ConfigError

HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
KEY_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA"})
RATE_KEYS: Final = frozenset({"user", "address"})


@dataclass(frozen=True)
class GatewayConfig:
    enable_auth: bool = True
    secure_key: bytes | None = dataclasses.field(default=None, repr=False)
    realm: str = "API Gateway"
    algorithms: tuple[str, ...] = ("HS256",)
    public_key: str | None = dataclasses.field(default=None, repr=False)  # PEM text
    jwks: str | None = dataclasses.field(default=None, repr=False)  # JWKS JSON text
    # The JWKS file when ``jwks`` was given as a path: re-read when it changes (rotation).
    jwks_path: str | None = None
    audience: str | None = None
    issuer: str | None = None
    leeway: float = 30.0
    require: tuple[str, ...] = ()  # claims a token must carry (e.g. "exp")
    auth_handler: Any = dataclasses.field(default=None, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["auth_handler"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: int
    key: str = "user"  # "user" (the authenticated user, else the address) or "address"
    slots: int = 16384  # buckets in the shared table (least recently used are reused)


def make_gateway(enable_auth: object, secure_key: object, realm: object, *, where: str,
                 algorithms: object = None, public_key: object = None, jwks: object = None,
                 audience: object = None, issuer: object = None, leeway: object = 30,
                 require: object = (), auth_handler: object = None,
                 env: dict[str, str] | None = None) -> GatewayConfig:
    if not isinstance(realm, str) or '"' in realm or "\\" in realm:
        raise ConfigError(f"{where}: realm must be a string without quotes")
    secret = _secret(secure_key, where, env)
    pem = _read_text(public_key, "public_key", where)
    jwks_text = _read_text(jwks, "jwks", where)
    if jwks_text is not None:
        try:
            json.loads(jwks_text)["keys"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{where}: jwks is not a JWKS document ({{\"keys\": [...]}})") from None
    algs = _algorithms(algorithms, secret is not None, pem is not None or jwks_text is not None,
                       where)
    if bool(enable_auth) and secret is None and pem is None and jwks_text is None \
            and auth_handler is None:
        # Opaque tokens only: fine when an auth handler is registered later (the seed's
        # wac.handler.set_auth_handler); JWTs are then refused.
        pass
    try:
        leeway_s = float(leeway)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: leeway is a number of seconds") from None
    if isinstance(require, str):
        require = (require,)
    if not isinstance(require, list | tuple) or not all(isinstance(c, str) for c in require):
        raise ConfigError(f"{where}: require is a list of claim names like ['exp']")
    for name, value in (("audience", audience), ("issuer", issuer)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {name} must be a string")
    return GatewayConfig(enable_auth=bool(enable_auth), secure_key=secret, realm=realm,
                         algorithms=algs, public_key=pem, jwks=jwks_text,
                         jwks_path=_path_of(jwks),
                         audience=audience,  # type: ignore[arg-type]
                         issuer=issuer,  # type: ignore[arg-type]
                         leeway=leeway_s, require=tuple(require), auth_handler=auth_handler)


def make_rate_limit(requests: object, per: object, burst: object, key: object, *,
                    where: str) -> RateLimit:
    try:
        count = float(requests)  # type: ignore[arg-type]
        seconds = float(per)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: requests and per are numbers") from None
    if count <= 0 or seconds <= 0:
        raise ConfigError(f"{where}: requests and per must be > 0")
    size = burst if burst is not None else max(1, int(count))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{where}: burst must be a whole number >= 1")
    if key not in RATE_KEYS:
        raise ConfigError(f"{where}: key is 'user' or 'address'")
    return RateLimit(rate=count / seconds, burst=size, key=str(key))


def _secret(value: object, where: str, env: dict[str, str] | None) -> bytes | None:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: secure_key must be a string or bytes")
    if value.startswith("${") and value.endswith("}"):
        name = value[2:-1]
        found = (os.environ if env is None else env).get(name)
        if not found:
            raise ConfigError(f"{where}: secure_key: the environment variable {name} is not set")
        return found.encode()
    return value.encode()


def _path_of(value: object) -> str | None:
    """The absolute path of a key given as a file (None when given inline)."""
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str) or value.lstrip().startswith(("-----BEGIN", "{")):
        return None
    return os.path.abspath(os.path.expanduser(value))


def _read_text(value: object, name: str, where: str) -> str | None:
    """A PEM or JSON given inline, or the path of a file holding it."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {name} must be text or a file path")
    if value.lstrip().startswith(("-----BEGIN", "{")):
        return value
    try:
        with open(os.path.expanduser(value), encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {name} file {value}: {exc.strerror}") from None


def _algorithms(value: object, have_secret: bool, have_key: bool, where: str) -> tuple[str, ...]:
    if value is None:
        algs: tuple[str, ...] = ()
        if have_secret:
            algs += ("HS256",)
        if have_key:
            algs += ("RS256",)
        return algs or ("HS256",)
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{where}: algorithms is a list like ['HS256']")
    out = []
    for alg in value:
        if not isinstance(alg, str) or alg.lower() == "none":
            raise ConfigError(f"{where}: algorithm {alg!r} is refused (unsigned tokens)")
        if alg in HMAC_ALGORITHMS and not have_secret:
            raise ConfigError(f"{where}: {alg} needs secure_key")
        if alg in KEY_ALGORITHMS and not have_key:
            raise ConfigError(f"{where}: {alg} needs public_key or jwks")
        if alg not in HMAC_ALGORITHMS | KEY_ALGORITHMS:
            known = ", ".join(sorted(HMAC_ALGORITHMS | KEY_ALGORITHMS))
            raise ConfigError(f"{where}: unknown algorithm {alg!r} (known: {known})")
        out.append(alg)
    return tuple(out)


LOOPBACK: Final = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class ProxyConfig:
    """``enable_proxy()``: a forward proxy, never an open one."""

    clients: tuple[str, ...] = LOOPBACK  # networks that may use it
    hosts: tuple[str, ...] = ()  # destination names (".example.com": the domain), or any
    ports: tuple[int, ...] = (80, 443)  # destination ports
    unsecure_https: bool = False  # https:// targets fetched without verifying the certificate


def make_proxy(unsecure_https: object, clients: object, hosts: object, ports: object, *,
               where: str) -> ProxyConfig:
    import ipaddress

    nets = LOOPBACK if clients is None else clients
    if isinstance(nets, str):
        nets = [n for n in nets.split(",") if n.strip()]
    if not isinstance(nets, list | tuple) or not nets:
        raise ConfigError(f"{where}: clients is a list of networks like ['10.0.0.0/8']")
    out = []
    for net in nets:
        try:
            out.append(str(ipaddress.ip_network(str(net).strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"{where}: {net!r} in clients is not a network") from None
    names = () if hosts is None else ((hosts,) if isinstance(hosts, str) else hosts)
    if not isinstance(names, list | tuple) or not all(isinstance(h, str) and h for h in names):
        raise ConfigError(f"{where}: hosts is a list of names like ['api.example.com', '.example.org']")
    allowed = (80, 443) if ports is None else ports
    if not isinstance(allowed, list | tuple) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in allowed):
        raise ConfigError(f"{where}: ports is a list of port numbers")
    return ProxyConfig(clients=tuple(out), hosts=tuple(h.lower() for h in names),
                       ports=tuple(allowed), unsecure_https=bool(unsecure_https))


@dataclass(frozen=True)
class CacheConfig:
    """``enable_cachefs(memmax, diskmax, path)``: bytes in each worker's memory, bytes on
    disk under ``path`` (shared by the workers)."""

    memmax: int = 0
    diskmax: int = 0
    path: str | None = None
