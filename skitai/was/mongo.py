"""``was.mongodb``: PyMongo's asyncio client (``pymongo.AsyncMongoClient``, PyMongo
4.10+, the ``mongodb`` extra), one per member, on the worker's loop::

    was.mongodb("@mongo", "mydb").find("tokens", {"token": t}).getwait(5).data   # a list
    was.mongodb("@mongo", "mydb").findone("tokens", {"token": t})
    was.mongodb("@mongo", "mydb").insert("tokens", {"token": t})

The seed's names (``find``, ``findone``, ``insert``, ``update``, ``delete``, ``count``)
map to PyMongo's (``find`` returns up to ``limit`` documents, 1000 by default; ``insert``
takes a document or a list); any other name is the collection's own method
(``find_one_and_update``, ``aggregate``...).
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import quote

from skitai.config.aliases import Member
from skitai.was.result import DONE, Result

FIND_LIMIT = 1000


class Driver:
    name = "mongodb"

    def __init__(self) -> None:
        self._clients: dict[Member, Any] = {}

    def client(self, member: Member) -> Any:
        found = self._clients.get(member)
        if found is None:
            pymongo: Any = importlib.import_module("pymongo")
            creds = ""
            if member.user:
                creds = quote(member.user, safe="")
                if member.password:
                    creds += ":" + quote(member.password, safe="")
                creds += "@"
            host = f"[{member.host}]" if ":" in member.host else member.host
            found = pymongo.AsyncMongoClient(f"mongodb://{creds}{host}:{member.port}/",
                                             tls=member.ssl)
            self._clients[member] = found
        return found

    async def command(self, member: Member, database: str | None, collection: str, name: str,
                      args: tuple[Any, ...], kwargs: dict[str, Any]) -> Result:
        dbname = database or member.database
        if not dbname:
            raise ValueError("name the database: was.mongodb('@alias', 'mydb')")
        coll = self.client(member)[dbname][collection]
        data: Any
        if name == "find":
            limit = int(kwargs.pop("limit", FIND_LIMIT))
            data = await coll.find(*args, **kwargs).to_list(limit)
        elif name in ("findone", "find_one"):
            data = await coll.find_one(*args, **kwargs)
        elif name == "insert":
            doc = args[0] if args else kwargs.pop("document")
            if isinstance(doc, list):
                data = (await coll.insert_many(doc, **kwargs)).inserted_ids
            else:
                data = (await coll.insert_one(doc, **kwargs)).inserted_id
        elif name == "update":
            data = (await coll.update_many(*args, **kwargs)).modified_count
        elif name == "delete":
            data = (await coll.delete_many(*args, **kwargs)).deleted_count
        elif name == "count":
            data = await coll.count_documents(*(args or ({},)), **kwargs)
        else:
            method = getattr(coll, name, None)
            if method is None or name.startswith("_"):
                raise AttributeError(f"a MongoDB collection has no {name!r}")
            data = await method(*args, **kwargs)
            if hasattr(data, "to_list"):
                data = await data.to_list(FIND_LIMIT)
        return Result(status=DONE, status_code=200, reason="OK", data=data,
                      target=f"mongodb://{member.label}/{dbname}.{collection}")

    def stats(self) -> dict[str, Any]:
        return {m.label: {"client": "open"} for m in self._clients}

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.close()
