"""The store's schema versions, on SQLite and (when configured) PostgreSQL: a new database is made
at the latest version, a data directory of the unversioned layout is brought forward with its
rows, and a database written by a newer agenthost is refused, untouched."""

from __future__ import annotations

import json

import pytest
from store_backends import Database, database_fixture  # noqa: F401  (fixture)

from host.store import SchemaTooNew
from host.store.migrations import LATEST, MIGRATIONS
from host.store.records import Room

# The layout the host made before the store was versioned, as it made it (host/store/sqlite.py's
# SCHEMA until this change), and rows as that version wrote them.
OLD_LAYOUT = (
    """CREATE TABLE IF NOT EXISTS memories (
        id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, room_id TEXT NOT NULL, table_name TEXT NOT NULL,
        entity_id TEXT NOT NULL, world_id TEXT NOT NULL, created_at_ms {bigint} NOT NULL,
        content TEXT NOT NULL, metadata TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS memories_by_room ON memories (agent_id, room_id, table_name, created_at_ms)",
    """CREATE TABLE IF NOT EXISTS entities (
        id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, names TEXT NOT NULL, metadata TEXT NOT NULL)""",
)
OLD_CONTENT = json.dumps(
    {"text": "from before", "actions": [], "source": "cli", "thought": "", "attachments": [], "extra": {}}
)


def old_rows() -> tuple[str, ...]:
    return (
        f"INSERT INTO memories VALUES ('m1', 'agent-a', 'room-1', 'messages', 'user-1', '', 1000, "
        f"'{OLD_CONTENT}', '{{}}')",
        f"INSERT INTO memories VALUES ('m2', 'agent-a', 'room-1', 'messages', 'agent-a', '', 2000, "
        f"'{OLD_CONTENT}', '{{\"k\":1}}')",
        """INSERT INTO entities VALUES ('user-1', 'agent-a', '["Ana"]', '{"x":true}')""",
    )


async def versions(database: Database) -> list[int]:
    (rows,) = await database.run("SELECT version FROM store_schema_version ORDER BY version")
    return [v for (v,) in rows]


async def test_a_new_database_is_made_at_the_latest_version(database: Database) -> None:
    store = await database.open()
    assert await versions(database) == [m.version for m in MIGRATIONS] and LATEST == MIGRATIONS[-1].version
    await store.upsert_room(Room(agent_id="a", id="r"))
    await store.close()
    again = await database.open()  # reopening applies nothing twice
    assert await versions(database) == [m.version for m in MIGRATIONS]
    assert await again.get_room("a", "r") is not None


async def test_the_unversioned_layout_is_migrated_with_its_rows(database: Database) -> None:
    bigint = "BIGINT" if database.backend == "postgres" else "INTEGER"
    await database.run(*(s.format(bigint=bigint) for s in OLD_LAYOUT), *old_rows())
    store = await database.open()
    assert await versions(database) == [m.version for m in MIGRATIONS]
    memories = await store.get_memories("agent-a", "room-1", "messages", 10)
    assert [(m.id, m.content.text, m.metadata) for m in memories] == [
        ("m2", "from before", {"k": 1}),
        ("m1", "from before", {}),
    ]
    assert await store.is_unique("agent-a", "m1") is True
    entity = await store.get_entity("user-1", "agent-a")
    assert entity is not None and entity.names == ["Ana"] and entity.metadata == {"x": True}
    # Entities are now per agent: another agent's entity of the same id no longer overwrites it.
    await store.upsert_entity(type(entity)(id="user-1", agent_id="agent-b", names=["Bo"]))
    assert (await store.get_entity("user-1", "agent-a")).names == ["Ana"]  # type: ignore[union-attr]
    # New rows order after old ones, old ones among themselves as before.
    newer = await store.create_memory(type(memories[0])(agent_id="agent-a", room_id="room-1", created_at_ms=3000))
    assert [m.id for m in await store.get_memories("agent-a", "room-1", "messages", 10)] == [newer.id, "m2", "m1"]


async def test_a_database_of_a_newer_version_is_refused_untouched(database: Database) -> None:
    store = await database.open()
    await store.close()
    await database.run(f"INSERT INTO store_schema_version VALUES ({LATEST + 1}, 'from the future', 0)")
    with pytest.raises(SchemaTooNew) as refused:
        await database.open()
    message = str(refused.value)
    assert f"schema version {LATEST + 1}, newer than this agenthost knows ({LATEST})" in message
    assert "upgrade agenthost" in message and "\n" not in message
    assert await versions(database) == [*(m.version for m in MIGRATIONS), LATEST + 1]


async def test_a_failed_migration_leaves_the_database_as_it_was(database: Database) -> None:
    # A table the data model migration makes already exists: the migration fails, and rolls back whole.
    bigint = "BIGINT" if database.backend == "postgres" else "INTEGER"
    await database.run(*(s.format(bigint=bigint) for s in OLD_LAYOUT), *old_rows(), "CREATE TABLE agents (x TEXT)")
    with pytest.raises(Exception, match="agents"):
        await database.open()
    (columns,) = await database.run("SELECT * FROM memories ORDER BY id")
    assert len(columns) == 2 and len(columns[0]) == 9  # no column added
    assert await database.run("SELECT COUNT(*) FROM entities") == [[(1,)]]
