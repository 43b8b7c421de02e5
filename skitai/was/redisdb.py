"""``was.redis``: a ``redis.asyncio`` client per member (each has its own connection
pool), on the worker's loop.  Replies are decoded to ``str`` (``decode_responses``);
a command is any method of redis-py's client (``set``, ``get``, ``hset``, ...)."""

from __future__ import annotations

from typing import Any

from skitai.config.aliases import Member
from skitai.was.result import DONE, Result

MAX_CONNECTIONS = 64


class Driver:
    name = "redis"

    def __init__(self) -> None:
        self._clients: dict[Member, Any] = {}

    def client(self, member: Member) -> Any:
        found = self._clients.get(member)
        if found is None:
            import redis.asyncio

            db = int(member.database) if member.database and member.database.isdigit() else 0
            if member.unix:
                found = redis.asyncio.Redis(unix_socket_path=member.unix, db=db,
                                            password=member.password, username=member.user,
                                            decode_responses=True,
                                            max_connections=MAX_CONNECTIONS)
            else:
                found = redis.asyncio.Redis(host=member.host or "127.0.0.1",
                                            port=member.port or 6379, db=db,
                                            password=member.password, username=member.user,
                                            ssl=member.ssl, decode_responses=True,
                                            max_connections=MAX_CONNECTIONS)
            self._clients[member] = found
        return found

    @staticmethod
    def check_command(name: str) -> None:
        """Unknown commands fail in the caller, at once."""
        import redis.asyncio

        if name.startswith("_") or not callable(getattr(redis.asyncio.Redis, name, None)):
            raise AttributeError(f"redis has no command {name!r}")

    async def command(self, member: Member, name: str, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Result:
        reply = await getattr(self.client(member), name)(*args, **kwargs)
        return Result(status=DONE, status_code=200, reason="OK", data=reply,
                      target=f"redis://{member.label}")

    def stats(self) -> dict[str, Any]:
        return {m.label: {"connections": len(getattr(c.connection_pool, "_in_use_connections", ()))}
                for m, c in self._clients.items()}

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.aclose()
