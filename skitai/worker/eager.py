"""Start a handler's coroutine at once, making a Task only if it has to wait.

Most handlers finish without ever waiting (a static file the kernel copies in one
``sendfile``, an inline WSGI app with a small body): wrapping each in a Task costs an
object, a context copy and a trip through the loop's ready queue per request.  This is
what Python 3.12's ``eager_start`` does; Python 3.11 lacks it, so the first step is taken
here by hand and the rest handed to a Task that resumes the same coroutine.

Resuming is plain coroutine protocol: the coroutine suspended by yielding a future (its
``await fut``); the Task waits for that future and then resumes the coroutine with
``send(None)``, and the coroutine's own ``await`` reads the future's result or exception.
Cancelling the Task cancels the awaited future, so the coroutine sees CancelledError at
its ``await`` just as under a plain Task.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any

_EAGER = sys.version_info >= (3, 12)


def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | None:
    """Run ``coro`` until it first waits.  None when it finished without waiting;
    otherwise a future (a Task, or a done future carrying the exception it raised at
    once) for the caller's done-callback."""
    if _EAGER:
        task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]  # eager_start is new in 3.12 (_EAGER guards it); 3.11's typeshed lacks it
        if task.done() and not task.cancelled() and task.exception() is None:
            return None
        return task
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    except BaseException as exc:  # noqa: BLE001 - handed to the caller like a Task's
        done = loop.create_future()
        done.set_exception(exc)
        return done
    if yielded is not None:
        # A Task clears this flag when it takes the future a coroutine yielded; we took
        # it, so we clear it (``_wait`` sets it again for the Task).  Left set, the next
        # coroutine awaiting the same pending future before our Task runs (many
        # requests waiting on one cache fill) gets C asyncio's "await wasn't used with
        # future" at once.
        yielded._asyncio_future_blocking = False
    return loop.create_task(_resume(coro, yielded))


async def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    while True:
        try:
            if yielded is None:
                await asyncio.sleep(0)  # a bare yield: give the loop one turn
            else:
                await _wait(yielded)
        except BaseException as exc:  # noqa: BLE001 - CancelledError thrown into our Task
            # Deliver it where the coroutine waits, as a plain Task would.
            if yielded is not None and not yielded.done():
                yielded.cancel()
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value


@types.coroutine
def _wait(fut: Any) -> Generator[Any, None, None]:
    """Wait for ``fut`` without reading its result (the coroutine reads it)."""
    if not fut.done():
        fut._asyncio_future_blocking = True
        yield fut
