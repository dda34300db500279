"""Where the host keeps its agents' memory: one `Store` interface, its SQLite and PostgreSQL
backends (one implementation of the operations, `SqlStore`), numbered migrations, and the data
directory's files. May import `plugin_sdk`'s public modules only.
"""

from .backend import check_url, open_store
from .base import (
    ContentTooLarge,
    DatabaseUnreachable,
    DuplicateMemory,
    SchemaTooNew,
    Store,
    StoreOpenError,
    StoreUnavailable,
)
from .postgres import PostgresStore, redact
from .records import Agent, Embedding, Participant, Relationship, Room, RunRecord, ScoredMemory, World
from .sqlite import SQLiteStore

__all__ = [
    "Agent",
    "ContentTooLarge",
    "DatabaseUnreachable",
    "DuplicateMemory",
    "Embedding",
    "Participant",
    "PostgresStore",
    "Relationship",
    "Room",
    "RunRecord",
    "SQLiteStore",
    "SchemaTooNew",
    "ScoredMemory",
    "Store",
    "StoreOpenError",
    "StoreUnavailable",
    "World",
    "check_url",
    "open_store",
    "redact",
]
