"""``was.sqlite3``: one thread per database file, so the loop never waits on the disk.

Each file has a connection living in its own single-thread executor (SQLite
connections belong to one thread); calls on one file run in order, calls on different
files in parallel.  Autocommit, as asyncpg is: an ``INSERT`` is kept once it returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skitai.config.aliases import Member
from skitai.was import sql
from skitai.was.result import DONE, Result


class _File:
    def __init__(self, path: str) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="was-sqlite")
        self.conn: sqlite3.Connection | None = None
        self.calls = 0

    def run(self, text: str, params: Any) -> tuple[list[sql.Row], int]:
        """In the file's thread."""
        conn = self.conn
        if conn is None:
            conn = self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.calls += 1
        if not params and sql.is_script(text):
            conn.executescript(text)
            return [], -1
        cursor = conn.execute(text, params)
        try:
            if cursor.description is None:
                return [], cursor.rowcount
            names = [d[0] for d in cursor.description]
            return [sql.Row(zip(names, row, strict=True)) for row in cursor.fetchall()], \
                cursor.rowcount
        finally:
            cursor.close()

    def close(self) -> None:
        def shut() -> None:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

        self.executor.submit(shut)
        self.executor.shutdown(wait=True)


class Driver:
    name = "sqlite3"

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}

    def _file(self, member: Member) -> _File:
        path = member.path or member.database or ""
        if not path:
            raise ValueError("an SQLite member needs a file path")
        found = self._files.get(path)
        if found is None:
            found = self._files[path] = _File(path)
        return found

    async def execute(self, member: Member, sql_text: str, params: sql.Params) -> Result:
        db = self._file(member)
        text, values = sql.to_qmark(sql_text, params)
        rows, count = await asyncio.get_running_loop().run_in_executor(
            db.executor, db.run, text, values)
        return Result(status=DONE, status_code=200, reason="OK", data=rows,
                      target=f"sqlite3:{db.path}", meta={"rowcount": count})

    def stats(self) -> dict[str, Any]:
        return {path: {"calls": f.calls} for path, f in self._files.items()}

    async def close(self) -> None:
        files, self._files = list(self._files.values()), {}
        for f in files:
            await asyncio.get_running_loop().run_in_executor(None, f.close)
