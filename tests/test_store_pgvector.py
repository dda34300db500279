"""`[database] vector_search`: the config's choices, PostgreSQL searching with pgvector (the same
memories and scores as the in-memory matrices, filters and all), vectors stored before the
choice found after it, other hosts' writes found by the next search, and a one-line refusal to
start when the extension cannot be had. The search contract itself runs on pgvector in
test_store_search.py; these need a server (AGENTHOST_TEST_DATABASE_URL) and, but for the
refusal, pgvector on it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import numpy as np
import pytest
from store_backends import PG_URL, pgvector_url  # noqa: F401  (fixture)

from host.config import ConfigError, load_config
from host.store import Embedding, PostgresStore, StoreOpenError
from host.store import postgres as postgres_module
from host.store.sql_store import SqlStore
from plugin_sdk.types import Content, Memory

A = "agent-a"
needs_server = pytest.mark.skipif(not PG_URL, reason="AGENTHOST_TEST_DATABASE_URL is not set")


def test_config_vector_search_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTHOST_DATABASE_URL", raising=False)
    config = tmp_path / "host.toml"

    def load(table: str) -> str:
        config.write_text(f"[database]\n{table}\n")
        return load_config(config).database.vector_search

    assert load("") == "auto"
    assert load('url = "postgresql://u@h/db"\nvector_search = "pgvector"') == "pgvector"
    assert load('vector_search = "memory"') == "memory"
    with pytest.raises(ConfigError, match='vector_search must be one of "auto", "pgvector", "memory"; got \'hnsw\''):
        load('url = "postgresql://u@h/db"\nvector_search = "hnsw"')
    with pytest.raises(ConfigError, match='vector_search = "pgvector" needs a PostgreSQL url'):
        load('vector_search = "pgvector"')


async def open_in(server: str, schema: str, vector_search: str) -> PostgresStore:
    return await PostgresStore.open(f"{server}?schema={schema}", vector_search=vector_search)


async def drop_schema(server: str, schema: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def remember(store: SqlStore, vector: list[float], model: str = "m", **fields: str) -> Memory:
    fields.setdefault("room_id", "room-1")
    memory = await store.create_memory(Memory(agent_id=A, content=Content(text="t"), **fields))  # type: ignore[arg-type]
    assert await store.put_embedding(Embedding(A, memory.id, model, vector))
    return memory


@needs_server
async def test_pgvector_that_cannot_be_had_stops_the_start_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # An extension the server does not have: CREATE EXTENSION fails as it does where pgvector is
    # not installed (or not permitted).
    monkeypatch.setattr(postgres_module, "PGVECTOR", "agenthost_no_such_extension")
    schema = "store_test_" + uuid.uuid4().hex[:12]
    secret = PG_URL.replace("postgres@", "postgres:s3cret@", 1)
    try:
        with pytest.raises(StoreOpenError) as caught:
            await open_in(secret, schema, "pgvector")
        message = str(caught.value)
        assert "\n" not in message and "s3cret" not in message
        assert message.startswith('[database] vector_search = "pgvector", but the database at postgresql://')
        assert 'CREATE EXTENSION agenthost_no_such_extension" failed' in message
        # "auto" and "memory" do not need it.
        for choice in ("auto", "memory"):
            store = await open_in(PG_URL, schema, choice)
            assert not store.search_in_database and store.vector_type is None
            await store.close()
    finally:
        await drop_schema(PG_URL, schema)


@pytest.fixture
async def schema(pgvector_url: str) -> AsyncIterator[str]:  # noqa: F811  (fixture)
    name = "store_test_" + uuid.uuid4().hex[:12]
    yield name
    await drop_schema(pgvector_url, name)


@needs_server
async def test_auto_is_memory_even_with_the_extension(pgvector_url: str, schema: str) -> None:  # noqa: F811
    store = await open_in(pgvector_url, schema, "auto")
    try:
        assert not store.search_in_database and store.vector_type is None  # no column added either
    finally:
        await store.close()


@needs_server
async def test_pgvector_finds_what_memory_finds_before_and_after_the_switch(
    pgvector_url: str,  # noqa: F811
    schema: str,
) -> None:
    rng = np.random.default_rng(3)
    before = await open_in(pgvector_url, schema, "memory")  # the vectors written before the switch
    stored = []
    for i, vector in enumerate(rng.standard_normal((300, 8)).tolist()):
        fields = {"room_id": f"r{i % 3}", "world_id": f"w{i % 2}", "entity_id": f"e{i % 5}"}
        stored.append(await remember(before, vector, table_name="facts" if i % 4 == 0 else "messages", **fields))
    zero = await remember(before, [0.0] * 8)  # nothing to embed: never found, either way
    await before.close()
    searching = await open_in(pgvector_url, schema, "pgvector")  # backfills the column
    memory = await open_in(pgvector_url, schema, "memory")  # the column exists now: it fills it too
    try:
        assert searching.search_in_database and memory.vector_type and not memory.search_in_database
        later = await remember(memory, rng.standard_normal(8).tolist(), room_id="r1")
        queries = rng.standard_normal((5, 8)).tolist()
        filters: list[dict[str, str]] = [
            {},
            {"room_id": "r1"},
            {"table_name": "facts", "world_id": "w0"},
            {"entity_id": "e3"},
            {"room_id": "nowhere"},
        ]
        for query in queries:
            for given in filters:
                for threshold, limit in ((-1.0, 10), (0.3, 50), (0.9, 5)):
                    options = dict(given, threshold=threshold, limit=limit)
                    want = await memory.search_memories(A, query, "m", **options)  # type: ignore[arg-type]
                    got = await searching.search_memories(A, query, "m", **options)  # type: ignore[arg-type]
                    assert [f.memory for f in got] == [f.memory for f in want]
                    assert [f.score for f in got] == pytest.approx([f.score for f in want], abs=1e-5)
                    assert all(f.score >= threshold for f in got)
        # Every memory is found by its own vector, the one written after the switch too.
        for memory_row in [*stored[:5], later]:
            (vector,) = [e.vector for e in await searching.get_embeddings(A, memory_row.id)]
            (best,) = await searching.search_memories(A, vector, "m", limit=1)
            assert best.memory.id == memory_row.id and best.score == pytest.approx(1.0, abs=1e-5)
        assert zero.id not in {f.memory.id for f in await searching.search_memories(A, [0.0] * 8, "m", limit=400)}
        assert len(await searching.search_memories(A, [0.0] * 8, "m", limit=400)) == 301  # all at 0, as the matrix
    finally:
        await searching.close()
        await memory.close()


@needs_server
async def test_pgvector_sees_another_hosts_write_at_once(pgvector_url: str, schema: str) -> None:  # noqa: F811
    store = await open_in(pgvector_url, schema, "pgvector")
    other = await open_in(pgvector_url, schema, "pgvector")
    try:
        first = await remember(store, [1.0, 0.0])
        assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")] == [first.id]
        second = await remember(other, [0.9, 0.1])  # no stamp to wait out (memory: up to STAMP_REUSE_S)
        assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")] == [first.id, second.id]
    finally:
        await store.close()
        await other.close()
