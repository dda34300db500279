"""Records as table rows and back: JSON columns, float32 vectors, flags. Shared by both backends,
whose rows (sqlite3.Row, asyncpg.Record) are read by column name."""

from __future__ import annotations

import json
from array import array
from dataclasses import asdict, fields
from typing import Any, Protocol, TypeVar

from plugin_sdk.types import Attachment, Content, Memory

from .records import Embedding


class Row(Protocol):
    """A row read by column name: sqlite3.Row, asyncpg.Record."""

    def __getitem__(self, column: str, /) -> Any: ...


def dumps(value: object) -> str:
    """JSON text of a column: UTF-8 as it is, control characters escaped (so no NUL reaches
    PostgreSQL), and all of it escaped to ASCII when it holds a lone surrogate, which neither
    database can store as text."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def memory_values(memory: Memory, unique: bool = True) -> tuple[object, ...]:
    """A memory as the values of `INSERT_MEMORY`."""
    return (
        memory.id,
        memory.agent_id,
        memory.room_id,
        memory.table_name,
        memory.entity_id,
        memory.world_id,
        memory.created_at_ms,
        dumps(content_doc(memory.content)),
        dumps(memory.metadata) if memory.metadata else "{}",
        unique,
    )


def content_doc(content: Content) -> dict[str, Any]:
    """A memory's content as its JSON column holds it: dataclasses.asdict's dict (the same keys in
    the same order), built without asdict's deep copy, ~5x as fast."""
    return {
        "text": content.text,
        "actions": content.actions,
        "source": content.source,
        "thought": content.thought,
        "attachments": [asdict(a) for a in content.attachments],
        "extra": content.extra,
    }


def memory_from_row(row: Row) -> Memory:
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
        metadata=_json_object(row["metadata"]),
    )


def _json_object(text: str) -> dict[str, Any]:
    """A JSON column holding an object; most memories' metadata is empty, read without the parser."""
    return {} if text == "{}" else json.loads(text)  # type: ignore[no-any-return]


#: Columns that hold JSON text, by field name, in every table.
_JSON_FIELDS = frozenset({"names", "metadata", "settings", "tags", "timings", "events"})

R = TypeVar("R")


def record_from_row(cls: type[R], row: Row) -> R:
    """A record (`Entity` or one of `records`) from its table's row: one column per field, JSON
    columns decoded, SQLite's 0/1 made a bool, a NULL time (a run still going) made 0."""
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]  # every record is a dataclass
        value = row[f.name]
        if f.name in _JSON_FIELDS:
            value = json.loads(value)
        elif f.type == "bool":
            value = bool(value)
        elif value is None and f.type == "int":
            value = 0
        values[f.name] = value
    return cls(**values)


def vector_bytes(vector: list[float]) -> bytes:
    """A vector as stored: float32, little-endian (the byte order of every machine this runs on)."""
    return array("f", vector).tobytes()


def embedding_from_row(row: Row) -> Embedding:
    vector = array("f")
    vector.frombytes(bytes(row["vector"]))
    return Embedding(
        agent_id=row["agent_id"],
        memory_id=row["memory_id"],
        model=row["model"],
        vector=vector.tolist(),
        dimension=row["dimension"],
        created_at_ms=row["created_at_ms"],
    )
