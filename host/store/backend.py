"""Which store a host opens: PostgreSQL for a postgresql:// URL, else SQLite in the data directory."""

from __future__ import annotations

from pathlib import Path

from plugin_sdk.limits import MAX_MEMORY_BYTES

from .data_dir import prepare_data_dir
from .postgres import PostgresStore, is_postgres_url, split_schema
from .sql_store import SqlStore
from .sqlite import SQLiteStore


def check_url(url: str) -> None:
    """ValueError when `url` is neither empty (SQLite in the data directory) nor a usable PostgreSQL URL."""
    if not url:
        return
    if not is_postgres_url(url):
        raise ValueError(
            "database url must be postgresql://user[:password]@host[:port]/database[?schema=NAME], "
            "or empty for SQLite in the data directory"
        )
    split_schema(url)


async def open_store(
    url: str, data_dir: Path, max_content_bytes: int = MAX_MEMORY_BYTES, vector_search: str = "auto"
) -> SqlStore:
    """The store at `url` (empty: the SQLite file in `data_dir`, made 0600 in a 0700 directory),
    its schema migrated, searching as `vector_search` says (PostgreSQL: "pgvector" in the
    database, else in-memory matrices). StoreOpenError (one line) when it cannot be opened."""
    check_url(url)
    if url:
        return await PostgresStore.open(url, max_content_bytes, vector_search=vector_search)
    return await SQLiteStore.open(prepare_data_dir(data_dir), max_content_bytes)
