"""Working with Django (the seed's section): ``was.django`` and ``app.model_signal()``.

``was.django`` is Django's own ``WSGIRequest`` for this request's environ, with the
session and user that Django's ``SessionMiddleware`` and ``AuthenticationMiddleware``
would give it: a user who logged in through a mounted Django admin is
``was.django.user`` in a Saddle view (the ``sessionid`` cookie has path ``/`` by
default).  ``authenticate``, ``login``, ``logout`` and ``update_session_auth_hash`` are
Django's, bound to that request; at the end of the request a changed session is saved
and its cookie set on the Saddle response, through ``SessionMiddleware`` itself.

``app.model_signal(modeler="django")`` connects Django's ``post_save``/``post_delete``: a
change of ``myapp.models.Photo`` calls ``setlu("myapp.models.Photo")`` (if that key was
declared with ``skitai.addlu``) and ``broadcast("model-changed:myapp.models.Photo",
...)`` and ``broadcast("model-changed", ...)`` with ``x_operation`` (C, U or D),
``x_model_class`` and the primary key (JSON-able values only: the broadcast crosses
processes).  Both go to the engine's ``was``; outside Skitai there is nothing to tell.
"""

from __future__ import annotations

import logging
from typing import Any

from skitai.saddle import extensions

log = logging.getLogger("skitai.app")


def _setup() -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


class DjangoBridge:
    """``was.django``: Django's request, plus the seed's login helpers."""

    def __init__(self, environ: dict[str, Any]) -> None:
        _setup()
        from django.contrib.auth.middleware import AuthenticationMiddleware
        from django.contrib.sessions.middleware import SessionMiddleware
        from django.core.handlers.wsgi import WSGIRequest
        from django.http import HttpResponse

        # Django reads SCRIPT_NAME/PATH_INFO; a copy so Django's changes stay its own.
        self.request = WSGIRequest(dict(environ))
        self._sessions = SessionMiddleware(lambda request: HttpResponse())
        self._sessions.process_request(self.request)
        AuthenticationMiddleware(lambda request: HttpResponse()).process_request(self.request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.request, name)

    @property
    def user(self) -> Any:
        return self.request.user

    @property
    def session(self) -> Any:
        return self.request.session

    def authenticate(self, username: str, password: str) -> str | None:
        from django.contrib import auth

        user = auth.authenticate(self.request, username=username, password=password)
        return None if user is None else str(user.get_username())

    def login(self, username: str) -> None:
        from django.contrib import auth

        model = auth.get_user_model()
        user = model._default_manager.get_by_natural_key(username)
        user.backend = "django.contrib.auth.backends.ModelBackend"
        auth.login(self.request, user)

    def logout(self) -> None:
        from django.contrib import auth

        auth.logout(self.request)

    def update_session_auth_hash(self, user: Any) -> None:
        from django.contrib import auth

        auth.update_session_auth_hash(self.request, user)

    def set_cookies(self, response: Any) -> None:
        """Save a changed session; its Set-Cookie goes on the Saddle response."""
        from django.http import HttpResponse

        out = self._sessions.process_response(self.request, HttpResponse())
        for morsel in out.cookies.values():
            response.append_header("Set-Cookie", morsel.OutputString())


def model_signal(app: Any, modeler: str = "django") -> None:
    if modeler != "django":
        raise ValueError(f"model_signal supports modeler='django', not {modeler!r}")
    _setup()
    from django.db.models.signals import post_delete, post_save

    def changed(sender: Any, operation: str, instance: Any, **extra: Any) -> None:
        name = f"{sender.__module__}.{sender.__name__}"
        engine = app.engine_was
        if engine is None:
            return
        try:
            engine.setlu(name)
        except (KeyError, ValueError, LookupError):
            pass  # not declared with skitai.addlu(): nothing to stamp
        fields = extra.get("update_fields")
        info = {"x_operation": operation, "x_model_class": name,
                "pk": getattr(instance, "pk", None),
                "update_fields": sorted(fields) if fields else None}
        for event in (f"model-changed:{name}", "model-changed"):
            try:
                engine.broadcast(event, **info)
            except Exception:  # noqa: BLE001 - a model save must not fail on a broadcast
                log.exception("model-changed broadcast for %s failed", name)

    def saved(sender: Any, instance: Any, created: bool = False, **kw: Any) -> None:
        changed(sender, "C" if created else "U", instance, **kw)

    def deleted(sender: Any, instance: Any, **kw: Any) -> None:
        changed(sender, "D", instance, **kw)

    post_save.connect(saved, weak=False, dispatch_uid=f"skitai-saddle-{id(app)}-save")
    post_delete.connect(deleted, weak=False, dispatch_uid=f"skitai-saddle-{id(app)}-delete")


def install() -> None:
    extensions.was_attribute("django", lambda was: DjangoBridge(was.env),
                             lambda bridge, was, response: bridge.set_cookies(response))
