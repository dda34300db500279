"""The store's statements that are more than a line: inserts and upserts, in SQL both SQLite
and PostgreSQL run (`?` placeholders)."""

from __future__ import annotations

from typing import Sequence

_MEMORY_COLUMNS = "id, agent_id, room_id, table_name, entity_id, world_id, created_at_ms, content, metadata, is_unique"
#: One memory row (values: `rows.memory_values`); inserts nothing when the id is taken.
INSERT_MEMORY = (
    f"INSERT INTO memories ({_MEMORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)


def _upsert(table: str, columns: Sequence[str], key: Sequence[str], keep: Sequence[str] = ()) -> str:
    """INSERT of `columns` that, on a clash of `key`, updates every other column except `keep`, returning the row."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key and c not in keep)
    marks = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} RETURNING *"
    )


UPSERT_ENTITY = _upsert("entities", ("agent_id", "id", "names", "metadata"), ("agent_id", "id"))
UPSERT_AGENT = _upsert(
    "agents", ("id", "name", "enabled", "settings", "created_at_ms", "updated_at_ms"), ("id",), ("created_at_ms",)
)
UPSERT_WORLD = _upsert(
    "worlds",
    ("agent_id", "id", "name", "server_id", "metadata", "created_at_ms"),
    ("agent_id", "id"),
    ("created_at_ms",),
)
UPSERT_ROOM = _upsert(
    "rooms",
    ("agent_id", "id", "name", "type", "source", "world_id", "channel_id", "server_id", "metadata", "created_at_ms"),
    ("agent_id", "id"),
    ("created_at_ms",),
)
_RELATIONSHIP_COLUMNS = (
    "agent_id, id, source_entity_id, target_entity_id, tags, metadata, interaction_count, created_at_ms, updated_at_ms"
)
UPSERT_RELATIONSHIP = (
    f"INSERT INTO relationships ({_RELATIONSHIP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) "
    "ON CONFLICT (agent_id, source_entity_id, target_entity_id) DO UPDATE SET "
    "tags = excluded.tags, metadata = excluded.metadata, updated_at_ms = excluded.updated_at_ms RETURNING *"
)
# One statement: concurrent writers each add one, on either backend.
RECORD_INTERACTION = (
    f"INSERT INTO relationships ({_RELATIONSHIP_COLUMNS}) VALUES (?, ?, ?, ?, '[]', '{{}}', 1, ?, ?) "
    "ON CONFLICT (agent_id, source_entity_id, target_entity_id) DO UPDATE SET "
    "interaction_count = relationships.interaction_count + 1, updated_at_ms = excluded.updated_at_ms RETURNING *"
)
