"""The SQLite store: one file under the data directory, kept off the event loop on a thread of its own.

The connection lives on one thread, and each store operation runs there as one synchronous
function: one handoff to that thread and back per operation, however many statements it takes.
The router's accounting (`router/accounting_sqlite.py`), which opens the same file by default,
works the same way. The handoff itself is a queue the thread reads and a wakeup of the caller's
event loop, without an executor's futures: `bench/sqlite_offload.py` measured this against
aiosqlite (which the store used before) and against `run_in_executor`; figures in BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Callable, TypeVar

from plugin_sdk.types import Attachment, Content, Entity, Memory

from .base import DuplicateMemory

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    world_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_by_room ON memories (agent_id, room_id, table_name, created_at_ms);
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    names TEXT NOT NULL,
    metadata TEXT NOT NULL
);
"""
#: One memory row; its values are `memory_values(memory)`.
INSERT_MEMORY = "INSERT INTO memories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: A room's latest memories of one table, newest first: (agent_id, room_id, table_name, count).
SELECT_MEMORIES = (
    "SELECT * FROM memories WHERE agent_id = ? AND room_id = ? AND table_name = ? "
    "ORDER BY created_at_ms DESC, rowid DESC LIMIT ?"
)
_UPSERT_ENTITY = (
    "INSERT INTO entities VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
    "agent_id = excluded.agent_id, names = excluded.names, metadata = excluded.metadata"
)


def connect(path: Path) -> sqlite3.Connection:
    """The store's connection to `path` (WAL, autocommit, rows by name), its schema created. Blocks:
    call it on the thread that will use the connection."""
    # Autocommit (isolation_level=None): each statement is its own transaction.
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def stamp(memory: Memory) -> Memory:
    """Give `memory` what a stored one has if it lacks it: an id, a creation time, the "messages" table."""
    memory.id = memory.id or str(uuid.uuid4())
    memory.created_at_ms = memory.created_at_ms or int(time.time() * 1000)
    memory.table_name = memory.table_name or "messages"
    return memory


def memory_values(memory: Memory) -> tuple[object, ...]:
    """A memory as the values of `INSERT_MEMORY`."""
    return (
        memory.id,
        memory.agent_id,
        memory.room_id,
        memory.table_name,
        memory.entity_id,
        memory.world_id,
        memory.created_at_ms,
        json.dumps(asdict(memory.content)),
        json.dumps(memory.metadata),
    )


def memory_from_row(row: sqlite3.Row) -> Memory:
    """A memory from a row of the memories table."""
    content = json.loads(row["content"])
    content["attachments"] = [Attachment(**a) for a in content.get("attachments", [])]
    return Memory(
        id=row["id"],
        agent_id=row["agent_id"],
        room_id=row["room_id"],
        table_name=row["table_name"],
        entity_id=row["entity_id"],
        world_id=row["world_id"],
        created_at_ms=row["created_at_ms"],
        content=Content(**content),
        metadata=json.loads(row["metadata"]),
    )


class _DatabaseThread:
    """A thread that runs the functions handed to it, one at a time in the order given, and
    wakes each caller's event loop with the result or the exception."""

    def __init__(self, name: str) -> None:
        self._queue: SimpleQueue[tuple[asyncio.Future[Any], Callable[..., Any], tuple[object, ...]] | None]
        self._queue = SimpleQueue()
        self._stopped = False
        # A daemon: a store nobody closed must not keep the process alive (SQLite's WAL keeps the
        # file consistent if the process ends in the middle of a statement).
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, work: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """work(*args) on the thread; the future is resolved on the calling event loop."""
        if self._stopped:
            raise RuntimeError("the SQLite store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((future, work, args))
        return future

    def stop(self) -> None:
        """End the thread once the functions already handed to it have run."""
        self._stopped = True
        self._queue.put(None)

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            future, work, args = item
            try:
                result = work(*args)
            except BaseException as exc:
                _settle(future, _set_exception, exc)
            else:
                _settle(future, _set_result, result)


def _settle(future: asyncio.Future[Any], how: Callable[[asyncio.Future[Any], Any], None], value: object) -> None:
    try:
        future.get_loop().call_soon_threadsafe(how, future, value)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
        pass


def _set_result(future: asyncio.Future[Any], result: object) -> None:
    if not future.done():  # the caller may have been cancelled
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _Database:
    """The connection and the store's operations, run on its thread. Built on that thread, and
    sqlite3 refuses its use from any other (check_same_thread), so none of it can run on, and
    block, the event loop."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)

    def close(self) -> None:
        self._db.close()

    def execute(self, sql: str, values: tuple[object, ...]) -> None:
        self._db.execute(sql, values)

    def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        rows = self._db.execute(SELECT_MEMORIES, (agent_id, room_id, table_name, count)).fetchall()
        return [memory_from_row(row) for row in rows]

    def get_entity(self, entity_id: str) -> Entity | None:
        row = self._db.execute("SELECT * FROM entities WHERE id = ?", (entity_id,)).fetchone()
        if row is None:
            return None
        return Entity(
            id=row["id"], agent_id=row["agent_id"], names=json.loads(row["names"]), metadata=json.loads(row["metadata"])
        )


class SQLiteStore:
    """Store on one SQLite file, through one connection on a thread of its own. Calls take
    turns on that thread, in the order they were made."""

    def __init__(self, db: _Database, thread: _DatabaseThread) -> None:
        self._db = db
        self._thread = thread
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> "SQLiteStore":
        """Open (or create) the store's file at `path`, and its directory."""
        path.parent.mkdir(parents=True, exist_ok=True)
        thread = _DatabaseThread("host-store-sqlite")
        try:
            db = await thread.call(_Database, path)
        except BaseException:
            thread.stop()
            raise
        return cls(db, thread)

    async def close(self) -> None:
        """Close the connection once the calls already made have run (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._thread.call(self._db.close)
        finally:
            self._thread.stop()

    async def create_memory(self, memory: Memory) -> Memory:
        """Store `memory` (see `stamp` for what it is given if it lacks it); DuplicateMemory when its id is taken."""
        # The values are taken here, on the loop: what is stored is the memory as it was when called.
        try:
            await self._thread.call(self._db.execute, INSERT_MEMORY, memory_values(stamp(memory)))
        except sqlite3.IntegrityError as exc:
            # The id is the only key, and every other column is given: this is a taken id.
            if exc.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY":
                raise DuplicateMemory(memory.id) from None
            raise
        return memory

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        """A room's latest `count` memories of one table, newest first."""
        return await self._thread.call(self._db.get_memories, agent_id, room_id, table_name, count)

    async def get_entity(self, entity_id: str) -> Entity | None:
        """The entity with this id, or None."""
        return await self._thread.call(self._db.get_entity, entity_id)

    async def upsert_entity(self, entity: Entity) -> Entity:
        """Store `entity` (giving it an id if it has none), replacing the one with its id."""
        entity.id = entity.id or str(uuid.uuid4())
        values = (entity.id, entity.agent_id, json.dumps(entity.names), json.dumps(entity.metadata))
        await self._thread.call(self._db.execute, _UPSERT_ENTITY, values)
        return entity
