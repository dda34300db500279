"""The SQLite store: one file under the data directory, kept off the event loop by aiosqlite."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiosqlite

from plugin_sdk.types import Attachment, Content, Entity, Memory

_SCHEMA = """
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


def _content_json(memory: Memory) -> str:
    return json.dumps(asdict(memory.content))


def _memory(row: Any) -> Memory:
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


class SQLiteStore:
    """Store on one SQLite file, accessed off the event loop by aiosqlite."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> "SQLiteStore":
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each statement is its own transaction, so a write is one trip to the
        # database thread instead of two (execute, then commit).
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.executescript(_SCHEMA)
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def create_memory(self, memory: Memory) -> Memory:
        memory.id = memory.id or str(uuid.uuid4())
        memory.created_at_ms = memory.created_at_ms or int(time.time() * 1000)
        memory.table_name = memory.table_name or "messages"
        await self._db.execute(
            "INSERT INTO memories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                memory.id,
                memory.agent_id,
                memory.room_id,
                memory.table_name,
                memory.entity_id,
                memory.world_id,
                memory.created_at_ms,
                _content_json(memory),
                json.dumps(memory.metadata),
            ),
        )
        return memory

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        rows = await self._db.execute_fetchall(  # one trip to the database thread
            "SELECT * FROM memories WHERE agent_id = ? AND room_id = ? AND table_name = ? "
            "ORDER BY created_at_ms DESC, rowid DESC LIMIT ?",
            (agent_id, room_id, table_name, count),
        )
        return [_memory(row) for row in rows]

    async def get_entity(self, entity_id: str) -> Entity | None:
        rows = list(await self._db.execute_fetchall("SELECT * FROM entities WHERE id = ?", (entity_id,)))
        if not rows:
            return None
        row = rows[0]
        return Entity(
            id=row["id"], agent_id=row["agent_id"], names=json.loads(row["names"]), metadata=json.loads(row["metadata"])
        )

    async def upsert_entity(self, entity: Entity) -> Entity:
        entity.id = entity.id or str(uuid.uuid4())
        await self._db.execute(
            "INSERT INTO entities VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "agent_id = excluded.agent_id, names = excluded.names, metadata = excluded.metadata",
            (entity.id, entity.agent_id, json.dumps(entity.names), json.dumps(entity.metadata)),
        )
        return entity
