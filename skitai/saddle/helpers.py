"""The app-level part of Saddle's part 2: settings and decorators a ``Saddle`` app has.

``AppHelpers`` is a base class of ``Saddle``.  Settings (plain attributes, the seed's names):
``securekey`` (a string, or a list for key rotation: the first seals), ``session_timeout``,
``authenticate``, ``authorization`` ("digest" or "basic"), ``realm``, ``users``,
``access_control_allow_origin``, ``access_control_max_age``,
``access_control_allow_credentials``.

Decorators (the seed's "Login and Permission Helper"): a handler returns ``None`` to let
the view run, or a response (anything a view may return) to answer instead::

    @app.login_handler
    def login(was): ...                      # None: logged in

    @app.route("/")
    @app.permission_required(["admin"])
    @app.login_required
    def index(was): ...

``@app.websocket_config(spec, timeout, onopen, onclose, encoding)`` makes a route a
WebSocket endpoint over the engine's WebSocket support (see ``gates``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

View = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class WebSocketSpec:
    spec: int
    timeout: float
    onopen: Callable[..., Any] | None
    onclose: Callable[..., Any] | None
    encoding: int | None


def _first_pass(*checks: Callable[[Any], Any]) -> Callable[[View], View]:
    """A decorator running ``checks(was)`` in order; the first non-None result answers."""
    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(was: Any, *args: Any, **kwargs: Any) -> Any:
            for check in checks:
                answer = check(was)
                if answer is not None:
                    return answer
            return view(was, *args, **kwargs)
        return guarded
    return decorate


class AppHelpers:
    securekey: str | bytes | Sequence[str | bytes] | None = None
    session_timeout: int = 1200
    authenticate: bool = False
    authorization: str = "digest"
    realm: str = "Saddle"
    users: Any = None
    access_control_allow_origin: str | Sequence[str] | None = None
    access_control_max_age: int | None = None
    access_control_allow_credentials: bool = False

    _login_handler: Callable[[Any], Any] | None = None
    _permission_handler: Callable[[Any, list[str]], Any] | None = None
    _staff_handler: Callable[[Any], Any] | None = None

    # -- handlers ----------------------------------------------------------------
    def login_handler(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        self._login_handler = func
        return func

    def permission_handler(self, func: Callable[[Any, list[str]], Any]) -> Callable[[Any, list[str]], Any]:
        self._permission_handler = func
        return func

    permission_check_handler = permission_handler  # the seed's other spelling

    def staff_member_check_handler(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        self._staff_handler = func
        return func

    # -- requirements --------------------------------------------------------------
    def _handler(self, attr: str, decorator: str, registrar: str) -> Any:
        handler = getattr(self, attr)
        if handler is None:
            raise RuntimeError(f"@app.{decorator} needs a handler: define one with @app.{registrar}")
        return handler

    def login_required(self, view: View) -> View:
        return _first_pass(
            lambda was: self._handler("_login_handler", "login_required", "login_handler")(was)
        )(view)

    def permission_required(self, perms: str | Sequence[str] | None = None) -> Callable[[View], View]:
        wanted = [perms] if isinstance(perms, str) else list(perms or [])
        return _first_pass(
            lambda was: self._handler(
                "_permission_handler", "permission_required", "permission_handler")(was, wanted)
        )

    def staff_member_required(self, view: View) -> View:
        return _first_pass(
            lambda was: self._handler(
                "_staff_handler", "staff_member_required", "staff_member_check_handler")(was)
        )(view)

    def testpass_required(self, test: Callable[[Any], Any]) -> Callable[[View], View]:
        """``@app.testpass_required(is_superuser)``: ``is_superuser(was)`` returns None to pass."""
        if not callable(test):
            raise TypeError("@app.testpass_required(test) takes the test function")
        return _first_pass(test)

    # -- websocket -------------------------------------------------------------------
    def websocket_config(
        self,
        spec: int,
        timeout: float = 60,
        onopen: Callable[..., Any] | None = None,
        onclose: Callable[..., Any] | None = None,
        encoding: int | None = None,
    ) -> Callable[[View], View]:
        config = WebSocketSpec(spec, timeout, onopen, onclose, encoding)

        def decorate(view: View) -> View:
            view.__dict__["websocket_spec"] = config
            return view
        return decorate

    # -- Django ------------------------------------------------------------------------
    def model_signal(self, modeler: str = "django") -> None:
        """Django model saves and deletes become ``setlu`` and ``model-changed`` broadcasts."""
        from skitai.saddle import withdjango

        withdjango.model_signal(self, modeler)
