"""``was.request``: one request, read from the WSGI environ (the seed's attributes).

Everything is computed on first use: a view that reads nothing costs nothing.  The body
is read once (``get_body()``), with the app's limits; ``json()``, ``form()`` and
``dict()`` decode it by Content-Type; ``args`` merges URL, query-string and body
parameters (repeated names become lists).
"""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from skitai.saddle import forms

if TYPE_CHECKING:
    from skitai.saddle.router import Rule

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class Headers(Mapping[str, str]):
    """The request's header fields, case-insensitive, read from the environ."""

    __slots__ = ("_env",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self._env = environ

    @staticmethod
    def _key(name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key

    def __getitem__(self, name: str) -> str:
        value = self._env.get(self._key(name))
        if value is None or value == "":
            raise KeyError(name)
        return str(value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._env.get(self._key(name)))

    def __iter__(self) -> Iterator[str]:
        for key, value in self._env.items():
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                yield key.replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Request:
    """``was.request``."""

    def __init__(self, environ: dict[str, Any], rule: Rule | None, params: dict[str, Any],
                 config: Mapping[str, Any]) -> None:
        self.env = environ
        self.routed_function = rule.view if rule is not None else None
        self.rule = rule
        self.url_params = params
        self._config = config
        self._body: bytes | None = None
        self._query: dict[str, Any] | None = None
        self._data: dict[str, Any] | None = None
        self._json: Any = None
        self._args: dict[str, Any] | None = None
        self.files: list[forms.UploadedFile] = []
        self.user: Any = None  # set by authentication (part 2)

    # --- the request line -----------------------------------------------------------------------
    @property
    def method(self) -> str:
        return str(self.env["REQUEST_METHOD"]).upper()

    @property
    def command(self) -> str:
        return self.method.lower()

    @property
    def uri(self) -> str:
        raw = self.env.get("RAW_URI") or self.env.get("REQUEST_URI")
        if raw:
            return str(raw)
        uri = str(self.env.get("SCRIPT_NAME", "")) + str(self.env.get("PATH_INFO", ""))
        qs = self.env.get("QUERY_STRING")
        return f"{uri}?{qs}" if qs else uri

    @property
    def version(self) -> str:
        return str(self.env.get("SERVER_PROTOCOL", "HTTP/1.1")).split("/", 1)[-1]

    @property
    def scheme(self) -> str:
        return str(self.env.get("wsgi.url_scheme", "http"))

    def get_scheme(self) -> str:
        return self.scheme

    @property
    def routable(self) -> dict[str, Any]:
        rule = self.rule
        if rule is None:
            return {}
        return {"methods": sorted(rule.methods) if rule.methods else None,
                "content_types": sorted(rule.content_types) if rule.content_types else None,
                **rule.options}

    def split_uri(self) -> tuple[str, str | None, str | None, str | None]:
        """(script, param, querystring, fragment), the seed's tuple."""
        uri = self.uri
        uri, _, fragment = uri.partition("#")
        uri, _, query = uri.partition("?")
        script, _, param = uri.partition(";")
        return script, param or None, query or None, fragment or None

    # --- headers -------------------------------------------------------------------------------
    @property
    def headers(self) -> Headers:
        return Headers(self.env)

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def get_headers(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def get_user_agent(self) -> str | None:
        return self.env.get("HTTP_USER_AGENT")

    def get_content_type(self) -> str | None:
        ct = self.env.get("CONTENT_TYPE")
        return str(ct).split(";", 1)[0].strip().lower() if ct else None

    def get_main_type(self) -> str | None:
        ct = self.get_content_type()
        return ct.split("/", 1)[0] if ct else None

    def get_sub_type(self) -> str | None:
        ct = self.get_content_type()
        return ct.split("/", 1)[-1] if ct else None

    def get_remote_addr(self) -> str:
        """The client's address; ``X-Forwarded-For`` counts only when the peer is one of
        ``app.config.trusted_proxies`` (then the right-most address not a trusted proxy)."""
        peer = str(self.env.get("REMOTE_ADDR", ""))
        trusted = parse_proxies(self._config.get("trusted_proxies"))
        if not trusted or not _trusted(peer, trusted):
            return peer
        forwarded = self.env.get("HTTP_X_FORWARDED_FOR")
        if not forwarded:
            return peer
        for hop in reversed([h.strip() for h in str(forwarded).split(",") if h.strip()]):
            if not _trusted(hop, trusted):
                return hop
        return peer

    # --- the body ----------------------------------------------------------------------------
    def _length(self) -> int:
        text = self.env.get("CONTENT_LENGTH")
        if text:
            try:
                return int(text)
            except ValueError:
                raise forms.BadBody(f"invalid Content-Length {text!r}") from None
        chunked = text == "" or \
            str(self.env.get("HTTP_TRANSFER_ENCODING", "")).lower() == "chunked"
        # A body without a length is readable to its end only when the server says so.
        return -1 if chunked and self.env.get("wsgi.input_terminated") else 0

    def has_body(self) -> bool:
        return self._length() != 0

    def get_body(self) -> bytes:
        if self._body is None:
            if self.get_content_type() == _MULTIPART:
                raise forms.BadBody("a multipart body is read with form() or args, not get_body()")
            self._body = forms.read_body(self.env["wsgi.input"], self._length(),
                                         int(self._config.get("max_post_body_size", 5 << 20)))
        return self._body

    @property
    def body(self) -> bytes:
        return self.get_body()

    def json(self) -> Any:
        """The body decoded from JSON (``None`` without a body)."""
        if self._json is None:
            self._json = forms.parse_json(self.get_body())
        return self._json

    def form(self) -> dict[str, Any]:
        """The fields of a form body (URL-encoded or multipart, uploads included)."""
        if self._data is None:
            ct = self.get_content_type()
            if ct == _FORM:
                self._data = forms.parse_urlencoded(self.get_body())
            elif ct == _MULTIPART:
                self._data, self.files = forms.parse_multipart(
                    self.env["wsgi.input"], str(self.env.get("CONTENT_TYPE")), self._length(),
                    body_limit=int(self._config.get("max_multipart_body_size", 20 << 20)),
                    file_limit=int(self._config.get("max_upload_file_size", 20000000)))
            else:
                self._data = {}
        return self._data

    def dict(self) -> dict[str, Any]:
        """The body as a dict when it is a form or a JSON object, else ``{}``."""
        ct = self.get_content_type()
        if ct in (_FORM, _MULTIPART):
            return self.form()
        if ct == "application/json" or (ct or "").endswith("+json"):
            data = self.json()
            return data if isinstance(data, dict) else {}
        return {}

    @property
    def query(self) -> builtins.dict[str, Any]:
        if self._query is None:
            qs = self.env.get("QUERY_STRING")
            self._query = forms.parse_query(qs) if qs else {}
        return self._query

    @property
    def args(self) -> builtins.dict[str, Any]:
        """URL parameters, query string, then form/JSON fields, merged, and the view's
        default argument values for what the request did not give."""
        if self._args is None:
            args = dict(self.url_params)
            for source in (self.query, self.dict() if self.has_body() else {}):
                for k, v in source.items():
                    if k in self.url_params:
                        continue
                    forms.add_value(args, k, v)
            if self.rule is not None and self.rule.binder is not None:
                # "was.request.args contains ... default arguments of your resource"
                for k, v in self.rule.binder.defaults.items():
                    args.setdefault(k, v)
            self._args = args
        return self._args

    def cleanup(self) -> None:
        for up in self.files:
            up.remove()


def parse_proxies(values: Any) -> tuple[Any, ...]:
    """``app.config.trusted_proxies``: addresses or networks (``"10.0.0.0/8"``)."""
    if not values:
        return ()
    if isinstance(values, str):
        values = [values]
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _trusted(addr: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)
