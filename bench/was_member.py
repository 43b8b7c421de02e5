"""The backend member of the was benchmarks: answers every request after 20 ms
(``WAS_MEMBER_DELAY``), a small JSON body.  Raw ASGI under uvicorn:

    uvicorn --app-dir bench was_member:app --port 23100 --workers 1 --no-access-log
"""

import asyncio
import os

DELAY = float(os.environ.get("WAS_MEMBER_DELAY", "0.02"))
BODY = b'{"ok": true}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await asyncio.sleep(DELAY)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
