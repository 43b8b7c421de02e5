"""``was.promise`` in a Saddle view: the render side of the engine's promise (the seed's
"Async Promise Response").

The engine's ``was.promise(handler, **meta)`` does the calls and writes the response as
they come back (a view returns the promise; the worker sends what it yields from its
loop, no thread waits).  Saddle binds ``promise.render(template, **kw)`` to the app's
own templates (``templates/`` beside the app, Jinja2 or Chameleon) with the promise's
data by request id and ``was`` in the context, and hands the promise to the engine as
the response body instead of iterating it in the view's thread.
"""

from __future__ import annotations

from typing import Any

from skitai.saddle import extensions
from skitai.saddle.response import Response
from skitai.saddle.was import EngineRequired


def is_async_body(content: Any) -> bool:
    return hasattr(content, "__aiter__") and hasattr(content, "settle")


def _make_promise(was: Any) -> Any:
    engine = was.env.get("skitai.was") or was.app.engine_was
    if engine is None:
        raise EngineRequired("was.promise is a Skitai engine service: run this app with skitai.run()")

    def promise(handler: Any, *args: Any, **meta: Any) -> Any:
        made = engine.promise(handler, *args, **meta)

        def render(template: str, _data: dict[str, Any] | None = None, **kwargs: Any) -> str:
            context = made.get_data()
            context.update(_data or {})
            context.update(kwargs)
            return str(was.render(template, context))

        made.render = render
        # The seed's handlers answer with promise.response.api(...) / .fault(...): the
        # view's was.response, whose JSON body is what settle() (send, reject) writes.
        made.response = was.response
        for name in ("send", "settle", "reject"):
            write = getattr(made, name, None)
            if write is not None:
                setattr(made, name, _unwrapping(write))
        return made

    return promise


def _unwrapping(write: Any) -> Any:
    def call(content: Any = None) -> Any:
        return write(content.body if isinstance(content, Response) else content)
    return call


def install() -> None:
    extensions.was_attribute("promise", _make_promise)
