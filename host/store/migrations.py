"""The store's schema as numbered migrations, the same numbers on SQLite and PostgreSQL.

A database records the migrations applied to it in `store_schema_version`; at open, the
backend applies the ones it lacks, in order, in one transaction, and refuses a database that
records a version this code does not know (written by a newer agenthost).

Migration 1 is the layout the host used before the store was versioned (memories and
entities, made with IF NOT EXISTS): on such a database it changes nothing, so an unversioned
data directory is simply brought forward from there, keeping its rows.

Statements are templates: `{bigint}`, `{bool}`, `{true}` and `{blob}` become each backend's
types. A statement given as a (sqlite, postgres) pair differs between them beyond that; an
empty side is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from .base import SchemaTooNew

Dialect = Literal["sqlite", "postgres"]
Statement = Union[str, tuple[str, str]]

VERSION_TABLE = "store_schema_version"

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"bigint": "INTEGER", "bool": "INTEGER", "true": "1", "blob": "BLOB"},
    "postgres": {"bigint": "BIGINT", "bool": "BOOLEAN", "true": "TRUE", "blob": "BYTEA"},
}


@dataclass(frozen=True)
class Migration:
    """One step of the schema: applied once, in order, never edited once released."""

    version: int
    name: str
    statements: tuple[Statement, ...]

    def sql(self, dialect: Dialect) -> list[str]:
        """The statements for `dialect`, types filled in."""
        chosen = [s if isinstance(s, str) else s[0 if dialect == "sqlite" else 1] for s in self.statements]
        return [s.format(**_TYPES[dialect]) for s in chosen if s]


_LEGACY = Migration(
    1,
    "memories and entities (the unversioned layout)",
    (
        """CREATE TABLE IF NOT EXISTS memories (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            table_name TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            world_id TEXT NOT NULL,
            created_at_ms {bigint} NOT NULL,
            content TEXT NOT NULL,
            metadata TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS memories_by_room ON memories (agent_id, room_id, table_name, created_at_ms)",
        """CREATE TABLE IF NOT EXISTS entities (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            names TEXT NOT NULL,
            metadata TEXT NOT NULL
        )""",
    ),
)

_DATA_MODEL = Migration(
    2,
    "agents, worlds, rooms, participants, relationships, runs, embeddings, cache; entities per agent",
    (
        "ALTER TABLE memories ADD COLUMN is_unique {bool} NOT NULL DEFAULT {true}",
        # Order among memories of the same millisecond: SQLite's rowid, PostgreSQL's sequence.
        ("", "ALTER TABLE memories ADD COLUMN seq BIGSERIAL"),
        # A room's latest memories read in index order, LIMIT rows and no sort: SQLite's index
        # ends in the rowid already; PostgreSQL's needs the sequence.
        ("", "CREATE INDEX memories_by_room_seq ON memories (agent_id, room_id, table_name, created_at_ms, seq)"),
        ("", "DROP INDEX memories_by_room"),
        "CREATE INDEX memories_by_type ON memories (agent_id, table_name, created_at_ms)",
        # Entities were keyed by id alone: one agent could overwrite another's.
        """CREATE TABLE entities_v2 (
            agent_id TEXT NOT NULL,
            id TEXT NOT NULL,
            names TEXT NOT NULL,
            metadata TEXT NOT NULL,
            PRIMARY KEY (agent_id, id)
        )""",
        "INSERT INTO entities_v2 (agent_id, id, names, metadata) SELECT agent_id, id, names, metadata FROM entities",
        "DROP TABLE entities",
        "ALTER TABLE entities_v2 RENAME TO entities",
        """CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            enabled {bool} NOT NULL,
            settings TEXT NOT NULL,
            created_at_ms {bigint} NOT NULL,
            updated_at_ms {bigint} NOT NULL
        )""",
        """CREATE TABLE worlds (
            agent_id TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            server_id TEXT NOT NULL,
            metadata TEXT NOT NULL,
            created_at_ms {bigint} NOT NULL,
            PRIMARY KEY (agent_id, id)
        )""",
        """CREATE TABLE rooms (
            agent_id TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            source TEXT NOT NULL,
            world_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            server_id TEXT NOT NULL,
            metadata TEXT NOT NULL,
            created_at_ms {bigint} NOT NULL,
            PRIMARY KEY (agent_id, id)
        )""",
        "CREATE INDEX rooms_by_world ON rooms (agent_id, world_id)",
        """CREATE TABLE participants (
            agent_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at_ms {bigint} NOT NULL,
            PRIMARY KEY (agent_id, room_id, entity_id)
        )""",
        "CREATE INDEX participants_by_entity ON participants (agent_id, entity_id)",
        """CREATE TABLE relationships (
            agent_id TEXT NOT NULL,
            id TEXT NOT NULL,
            source_entity_id TEXT NOT NULL,
            target_entity_id TEXT NOT NULL,
            tags TEXT NOT NULL,
            metadata TEXT NOT NULL,
            interaction_count {bigint} NOT NULL,
            created_at_ms {bigint} NOT NULL,
            updated_at_ms {bigint} NOT NULL,
            PRIMARY KEY (agent_id, id),
            UNIQUE (agent_id, source_entity_id, target_entity_id)
        )""",
        "CREATE INDEX relationships_by_target ON relationships (agent_id, target_entity_id)",
        """CREATE TABLE runs (
            agent_id TEXT NOT NULL,
            id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at_ms {bigint} NOT NULL,
            ended_at_ms {bigint},
            timings TEXT NOT NULL,
            error TEXT NOT NULL,
            PRIMARY KEY (agent_id, id)
        )""",
        "CREATE INDEX runs_by_room ON runs (agent_id, room_id, started_at_ms)",
        "CREATE INDEX runs_going ON runs (agent_id) WHERE ended_at_ms IS NULL",
        """CREATE TABLE embeddings (
            memory_id TEXT NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            agent_id TEXT NOT NULL,
            model TEXT NOT NULL,
            dimension INTEGER NOT NULL,
            vector {blob} NOT NULL,
            created_at_ms {bigint} NOT NULL,
            PRIMARY KEY (memory_id, model)
        )""",
        """CREATE TABLE cache (
            agent_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at_ms {bigint},
            PRIMARY KEY (agent_id, key)
        )""",
        "CREATE INDEX cache_by_expiry ON cache (expires_at_ms)",
    ),
)

_VECTOR_SEARCH = Migration(
    3,
    "embeddings by agent, model and dimension (similarity search, the embedding queue)",
    (
        # A search's matrix is read, and its freshness checked (count and times), from this index.
        "CREATE INDEX embeddings_by_model ON embeddings (agent_id, model, dimension, created_at_ms)",
        # The embedding queue walks an agent's memories oldest first.
        "CREATE INDEX memories_by_age ON memories (agent_id, created_at_ms)",
    ),
)

_RUN_EVENTS = Migration(
    4,
    "a run's events kept with it (they were kept in the cache table)",
    ("ALTER TABLE runs ADD COLUMN events TEXT NOT NULL DEFAULT '[]'",),
)

_RUN_HOSTS = Migration(
    5,
    "the host that runs each run (several hosts, one deployment)",
    (
        "ALTER TABLE runs ADD COLUMN host_id TEXT NOT NULL DEFAULT ''",
        # The deployment's sweep reads the open runs of every agent by host: few rows, all in here.
        "CREATE INDEX runs_open_by_host ON runs (host_id, started_at_ms) WHERE ended_at_ms IS NULL",
        # A message sent again finds its run (idempotent resend).
        "CREATE INDEX runs_by_message ON runs (agent_id, message_id)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_LEGACY, _DATA_MODEL, _VECTOR_SEARCH, _RUN_EVENTS, _RUN_HOSTS)
LATEST = MIGRATIONS[-1].version

#: The version table; made before anything else, in the migrations' transaction.
VERSION_TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms {bigint} NOT NULL)"
)
CURRENT_VERSION_SQL = f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}"


def version_table_sql(dialect: Dialect) -> str:
    """CREATE TABLE IF NOT EXISTS for the version table, in `dialect`."""
    return VERSION_TABLE_SQL.format(**_TYPES[dialect])


def pending(current: int, where: str) -> list[Migration]:
    """The migrations a database at version `current` lacks; SchemaTooNew when it is ahead of this code."""
    if current > LATEST:
        raise SchemaTooNew(
            f"the database at {where} has store schema version {current}, newer than this agenthost knows "
            f"({LATEST}): it was written by a newer agenthost; upgrade agenthost, or use another database"
        )
    return [m for m in MIGRATIONS if m.version > current]
