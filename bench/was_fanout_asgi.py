"""The ceilings under uvicorn: a Starlette app making the 3 calls with one aiohttp
session and asyncio.gather, and SELECT 1 on an asyncpg pool."""

import asyncio
import contextlib
import os

import aiohttp
import asyncpg
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

MEMBER = "http://" + os.environ.get("WAS_MEMBER", "127.0.0.1:23100") + "/"
state = {}


async def _get(session):
    async with session.get(MEMBER) as resp:
        return await resp.json()


async def fanout(request):
    session = state["session"]
    return JSONResponse(await asyncio.gather(*(_get(session) for _ in range(3))))


async def select1(request):
    async with state["pool"].acquire() as conn:
        return JSONResponse(await conn.fetchval("SELECT 1"))


async def _no_reset(conn):
    pass


@contextlib.asynccontextmanager
async def lifespan(app):
    # One client session and one pool per worker, made before the first request.
    state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    # ASYNCPG_RESET=0: no reset query when a connection goes back to the pool (asyncpg's
    # pool runs "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL" by
    # default: a second round trip per request, which skitai's pgpool does not make).
    extra = {"reset": _no_reset} if os.environ.get("ASYNCPG_RESET") == "0" else {}
    state["pool"] = await asyncpg.create_pool(
        host="127.0.0.1", port=5432, user="postgres", database="test", ssl=False,
        min_size=1, max_size=16, **extra)
    yield
    await state["session"].close()
    await state["pool"].close()


app = Starlette(routes=[Route("/fanout", fanout), Route("/select1", select1)],
                lifespan=lifespan)
