"""Working with Django (the seed's section): ``was.django`` and ``app.model_signal()``.

``was.django`` is Django's own ``WSGIRequest`` for this request's environ, with the
session and user that Django's ``SessionMiddleware`` and ``AuthenticationMiddleware``
would give it: a user who logged in through a mounted Django admin is
``was.django.user`` in a Saddle view (the ``sessionid`` cookie has path ``/`` by
default).  ``authenticate``, ``login``, ``logout`` and ``update_session_auth_hash`` are
Django's, bound to that request; at the end of the request a changed session is saved
and its cookie set on the Saddle response, through ``SessionMiddleware`` itself.

``app.model_signal(modeler="django")`` connects Django's ``post_save``/``post_delete``: a
change of ``myapp.models.Photo`` calls ``setlu("myapp.models.Photo", ...)`` (which broadcasts
``model-changed:myapp.models.Photo``; a key not declared with ``skitai.addlu`` gets the
broadcast alone) with ``x_operation`` (C, U or D),
``x_model_class`` and the primary key (JSON-able values only: the broadcast crosses
processes); ``@app.on_broadcast("model-changed")`` hears every model.  Both go to the engine's ``was``; outside Skitai there is nothing to tell.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from skitai.saddle import extensions

log = logging.getLogger("skitai.app")


def _dj(module: str) -> Any:
    """A Django module (Django ships no type information: it is ``Any`` here)."""
    return importlib.import_module(module)


def _setup() -> None:
    if not _dj("django.apps").apps.ready:
        _dj("django").setup()


class DjangoBridge:
    """``was.django``: Django's request, plus the seed's login helpers."""

    def __init__(self, environ: dict[str, Any]) -> None:
        _setup()
        http_response = _dj("django.http").HttpResponse
        # Django reads SCRIPT_NAME/PATH_INFO; a copy so Django's changes stay its own.
        self.request = _dj("django.core.handlers.wsgi").WSGIRequest(dict(environ))
        self._sessions = _dj("django.contrib.sessions.middleware").SessionMiddleware(
            lambda request: http_response())
        self._sessions.process_request(self.request)
        _dj("django.contrib.auth.middleware").AuthenticationMiddleware(
            lambda request: http_response()).process_request(self.request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.request, name)

    @property
    def user(self) -> Any:
        return self.request.user

    @property
    def session(self) -> Any:
        return self.request.session

    def authenticate(self, username: str, password: str) -> str | None:
        auth = _dj("django.contrib.auth")
        user = auth.authenticate(self.request, username=username, password=password)
        return None if user is None else str(user.get_username())

    def login(self, username: str) -> None:
        auth = _dj("django.contrib.auth")
        model = auth.get_user_model()
        user = model._default_manager.get_by_natural_key(username)
        user.backend = "django.contrib.auth.backends.ModelBackend"
        auth.login(self.request, user)

    def logout(self) -> None:
        auth = _dj("django.contrib.auth")
        auth.logout(self.request)

    def update_session_auth_hash(self, user: Any) -> None:
        auth = _dj("django.contrib.auth")
        auth.update_session_auth_hash(self.request, user)

    def set_cookies(self, response: Any) -> None:
        """Save a changed session; its Set-Cookie goes on the Saddle response."""
        out = self._sessions.process_response(self.request, _dj("django.http").HttpResponse())
        for morsel in out.cookies.values():
            response.append_header("Set-Cookie", morsel.OutputString())


def model_signal(app: Any, modeler: str = "django") -> None:
    if modeler != "django":
        raise ValueError(f"model_signal supports modeler='django', not {modeler!r}")
    _setup()
    signals = _dj("django.db.models.signals")

    def changed(sender: Any, operation: str, instance: Any, **extra: Any) -> None:
        name = f"{sender.__module__}.{sender.__name__}"
        engine = app.engine_was
        if engine is None:
            return
        fields = extra.get("update_fields")
        info = {"x_operation": operation, "x_model_class": name,
                "pk": getattr(instance, "pk", None),
                "update_fields": sorted(fields) if fields else None}
        try:
            try:
                engine.setlu(name, **info)  # stamps the key, broadcasts model-changed:<name>
            except KeyError:  # not declared with skitai.addlu(): the broadcast alone
                engine.broadcast(f"model-changed:{name}", **info)
        except Exception:  # noqa: BLE001 - a model save must not fail on a broadcast
            log.exception("model-changed broadcast for %s failed", name)

    def saved(sender: Any, instance: Any, created: bool = False, **kw: Any) -> None:
        changed(sender, "C" if created else "U", instance, **kw)

    def deleted(sender: Any, instance: Any, **kw: Any) -> None:
        changed(sender, "D", instance, **kw)

    signals.post_save.connect(saved, weak=False, dispatch_uid=f"skitai-saddle-{id(app)}-save")
    signals.post_delete.connect(deleted, weak=False, dispatch_uid=f"skitai-saddle-{id(app)}-delete")


def install() -> None:
    extensions.was_attribute("django", lambda was: DjangoBridge(was.env),
                             lambda bridge, was, response: bridge.set_cookies(response))
