"""The request ``was`` is bound to: a context variable set around each app call.

The WSGI handler sets it in the thread that runs the app (a pool thread, or the loop
thread for ``threads=0``) and resets it when the response is done, so ``from skitai
import was`` inside any app (Flask, Django, plain WSGI) knows its request without an
argument.  A coroutine started from there (an ``async def`` view, a task) inherits the
value with the rest of its context.  Outside a request (startup code, a script) nothing
is bound and ``current()`` is ``None``: every call still works, with fresh transaction
ids.

What a request carries is made lazily: binding costs one ``ContextVar.set`` per request;
the ``Txn`` that numbers backend calls is built the first time a call needs it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from skitai import txn as txn_mod

Environ = dict[str, Any]

_request: contextvars.ContextVar[Environ | None] = contextvars.ContextVar(
    "skitai.was.request", default=None)
# Where a request's Txn lives once made (in its environ, so it dies with the request).
TXN_KEY = "skitai.was.txn"


# Called by the worker before the app runs; ``reset(token)`` after.  The variable's own
# method, not a function around it: one Python frame less per request.
bind: Callable[[Environ | None], contextvars.Token[Environ | None]] = _request.set


# ``bind``'s undo in the same frame that bound, so surely in the same context (a
# synchronous app call); ``reset`` below for a coroutine that may resume elsewhere.
unbind: Callable[[contextvars.Token[Environ | None]], None] = _request.reset


def reset(token: contextvars.Token[Environ | None]) -> None:
    try:
        _request.reset(token)
    except ValueError:
        # A coroutine started eagerly in one context and resumed in a task's copy (the
        # worker's eager start): the token is not this context's, so just clear it here.
        _request.set(None)


def current() -> Environ | None:
    """The environ of the request being served in this context, or ``None``."""
    return _request.get()


def txn() -> txn_mod.Txn:
    """The transaction ids of the current request (its ``X-Gtxn-Id``/``X-Ltxn-Id``, or
    fresh edge ids); outside a request, a fresh id per call site."""
    environ = _request.get()
    if environ is None:
        return txn_mod.make(None, None, None)
    found: txn_mod.Txn | None = environ.get(TXN_KEY)
    if found is None:
        found = environ[TXN_KEY] = _from_environ(environ)
    return found


def call_ids() -> tuple[str, int]:
    """(global id, local id) of a new backend call that sends no ids itself (a
    database): ``txn()``'s numbering without its headers; outside a request, fresh ids
    (what a fresh ``Txn``'s first call gets) without making a ``Txn``."""
    environ = _request.get()
    if environ is None:
        return txn_mod.new_gtxid(), _FIRST_CALL
    found: txn_mod.Txn | None = environ.get(TXN_KEY)
    if found is None:
        found = environ[TXN_KEY] = _from_environ(environ)
    return found.gtxid, found.next_id()


_FIRST_CALL = txn_mod.EDGE_LTXID + 1000 + 1


def _from_environ(environ: Environ) -> txn_mod.Txn:
    gtxid = environ.get(txn_mod.ENVIRON_GTXID) or environ.get("HTTP_X_GTXN_ID")
    ltxid = environ.get(txn_mod.ENVIRON_LTXID) or environ.get("HTTP_X_LTXN_ID")
    trace = environ.get(txn_mod.ENVIRON_TRACEPARENT) or environ.get("HTTP_TRACEPARENT")
    state = environ.get("HTTP_TRACESTATE")
    return txn_mod.make(_bytes(gtxid), _bytes(ltxid), _bytes(trace), _bytes(state))


def _bytes(value: object) -> bytes | None:
    if value is None or value == "":
        return None
    return str(value).encode("latin-1", "replace")
