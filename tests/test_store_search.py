"""Similarity search in the store's contract, on SQLite and (when configured) PostgreSQL: cosine
ranking, threshold and limit, filters, agent scoping, models and dimensions never mixed, writes
by this store and by another store on the same database seen by the next search, and the
embedding queue's view of what lacks a vector."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from store_backends import Database, pgvector_url, search_database_fixture, store_fixture  # noqa: F401  (fixtures)

from host.store import Embedding
from host.store import vectors as vectors_module
from host.store.sql_store import SqlStore
from plugin_sdk.types import Content, Memory

A, B = "agent-a", "agent-b"


async def remember(
    store: SqlStore, vector: list[float], text: str = "", agent: str = A, model: str = "m", **fields: str
) -> Memory:
    fields.setdefault("room_id", "room-1")
    memory = await store.create_memory(Memory(agent_id=agent, content=Content(text=text or str(vector)), **fields))  # type: ignore[arg-type]
    assert await store.put_embedding(Embedding(agent, memory.id, model, vector))
    return memory


async def test_ranks_by_cosine_with_threshold_and_limit(store: SqlStore) -> None:
    east = await remember(store, [1.0, 0.0, 0.0])
    north_east = await remember(store, [1.0, 1.0, 0.0])
    north = await remember(store, [0.0, 5.0, 0.0])  # length does not count, direction does
    await remember(store, [-1.0, 0.0, 0.0])
    found = await store.search_memories(A, [2.0, 0.0, 0.0], "m", limit=3)
    assert [f.memory.id for f in found] == [east.id, north_east.id, north.id]
    assert found[0].score == pytest.approx(1.0) and found[1].score == pytest.approx(0.7071, abs=1e-4)
    assert found[0].memory == east  # whole memories, as stored
    above = await store.search_memories(A, [1.0, 0.0, 0.0], "m", threshold=0.5)
    assert [f.memory.id for f in above] == [east.id, north_east.id]
    assert await store.search_memories(A, [1.0, 0.0, 0.0], "m", limit=0) == []


async def test_filters_and_agent_scoping(store: SqlStore) -> None:
    here = await remember(store, [1.0, 0.0], room_id="r1", world_id="w1", entity_id="e1")
    there = await remember(store, [1.0, 0.1], room_id="r2", world_id="w1", entity_id="e2", table_name="facts")
    theirs = await remember(store, [1.0, 0.0], agent=B, room_id="r1")
    q = [1.0, 0.0]
    assert [f.memory.id for f in await store.search_memories(A, q, "m")] == [here.id, there.id]
    assert [f.memory.id for f in await store.search_memories(A, q, "m", room_id="r2")] == [there.id]
    assert [f.memory.id for f in await store.search_memories(A, q, "m", table_name="facts")] == [there.id]
    assert [f.memory.id for f in await store.search_memories(A, q, "m", entity_id="e1")] == [here.id]
    assert len(await store.search_memories(A, q, "m", world_id="w1")) == 2
    assert await store.search_memories(A, q, "m", room_id="r1", table_name="facts") == []
    assert [f.memory.id for f in await store.search_memories(B, q, "m")] == [theirs.id]


async def test_models_and_dimensions_never_mix(store: SqlStore) -> None:
    small = await remember(store, [1.0, 0.0], model="small")
    large = await remember(store, [1.0, 0.0, 0.0], model="large")
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "small")] == [small.id]
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0, 0.0], "large")] == [large.id]
    assert await store.search_memories(A, [1.0, 0.0, 0.0], "small") == []  # small has no 3-d vectors
    assert await store.search_memories(A, [1.0, 0.0], "other") == []
    # The same model re-embedding at a new dimension: the old vector is no longer found at 2.
    assert await store.put_embedding(Embedding(A, small.id, "small", [0.0, 1.0, 0.0]))
    assert await store.search_memories(A, [1.0, 0.0], "small") == []
    assert [f.memory.id for f in await store.search_memories(A, [0.0, 1.0, 0.0], "small")] == [small.id]
    with pytest.raises(ValueError, match="query vector"):
        await store.search_memories(A, [], "small")


async def test_the_next_search_sees_every_write(database: Database) -> None:
    store, other = await database.open(), await database.open()  # two hosts on one database
    store.STAMP_REUSE_S = 0  # type: ignore[attr-defined]  # PostgreSQL: check at every search (see below)
    first = await remember(store, [1.0, 0.0])
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")] == [first.id]
    second = await remember(other, [0.9, 0.1])  # written by the other store
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")] == [first.id, second.id]
    assert await other.put_embedding(Embedding(A, second.id, "m", [-1.0, 0.0]))  # replaced elsewhere
    found = await store.search_memories(A, [1.0, 0.0], "m")
    assert [f.memory.id for f in found] == [first.id, second.id] and found[1].score == pytest.approx(-1.0)
    assert await other.delete_memory(A, first.id)
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")] == [second.id]
    assert await store.delete_memory(A, second.id)
    assert await store.search_memories(A, [1.0, 0.0], "m") == []


async def test_memories_to_embed_are_those_without_a_vector_of_the_model_and_dimension(store: SqlStore) -> None:
    await remember(store, [1.0, 0.0])  # done
    old = await remember(store, [1.0, 0.0, 0.0])  # embedded by the model at another dimension
    todo = await store.create_memory(Memory(agent_id=A, room_id="r", content=Content(text="t")))
    await store.create_memory(Memory(agent_id=B, room_id="r", content=Content(text="t")))
    pending, end = await store.memories_to_embed(A, "m", 2, 10)
    assert {m.id for m in pending} == {old.id, todo.id}
    assert [(m.created_at_ms, m.id) for m in pending] == sorted((m.created_at_ms, m.id) for m in pending)
    assert end is not None  # the last of the agent's 3 memories scanned
    first = pending[0]
    assert [m.id for m in (await store.memories_to_embed(A, "m", 2, 1))[0]] == [first.id]
    rest, _ = await store.memories_to_embed(A, "m", 2, 10, (first.created_at_ms, first.id))
    assert [m.id for m in rest] == [pending[1].id]
    assert await store.memories_to_embed(A, "m", 2, 10, end) == ([], None)  # nothing after the last
    # Windows of one memory: a window with nothing pending still moves the scan on.
    cursor: tuple[int, str] | None = (0, "")
    found, windows = [], 0
    while cursor is not None:
        some, cursor = await store.memories_to_embed(A, "m", 2, 10, cursor, scan=1)
        found += [m.id for m in some]
        windows += cursor is not None
    assert sorted(found) == sorted([old.id, todo.id]) and windows == 3
    assert len((await store.memories_to_embed(A, "other", 2, 10))[0]) == 3


async def test_deleted_memories_leave_the_search(store: SqlStore) -> None:
    kept = await remember(store, [1.0, 0.0], room_id="r1")
    await remember(store, [1.0, 0.0], room_id="r2")
    assert len(await store.search_memories(A, [1.0, 0.0], "m")) == 2
    assert await store.delete_room(A, "r2") is False  # no room row, but its memories go
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")] == [kept.id]
    many = [await remember(store, [1.0, float(i)]) for i in range(5)]
    assert len(await store.search_memories(A, [1.0, 0.0], "m", limit=10)) == 6
    for memory in many[:3]:
        assert await store.delete_memory(A, memory.id)
    found = await store.search_memories(A, [1.0, 0.0], "m", limit=10)
    assert {f.memory.id for f in found} == {kept.id, many[3].id, many[4].id}


async def test_postgres_sees_other_hosts_writes_within_the_stamp_reuse(database: Database) -> None:
    if database.backend != "postgres":
        pytest.skip("SQLite reads its change counter at every search")
    store, other = await database.open(), await database.open()
    store.STAMP_REUSE_S = 0.3  # type: ignore[attr-defined]
    first = await remember(store, [1.0, 0.0])
    assert len(await store.search_memories(A, [1.0, 0.0], "m")) == 1
    await remember(other, [0.9, 0.1])
    own = await remember(store, [0.8, 0.2])  # this store's own writes are seen at once
    assert {f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m")} >= {first.id, own.id}
    await asyncio.sleep(0.35)
    assert len(await store.search_memories(A, [1.0, 0.0], "m")) == 3


async def test_vectors_that_cannot_be_ranked_are_never_found(store: SqlStore) -> None:
    near = await remember(store, [1.0, 0.1])
    await remember(store, [0.0, 0.0])  # nothing to embed: kept, never found
    await remember(store, [float("nan"), 1.0])
    await remember(store, [float("inf"), 0.0])
    far = await remember(store, [-1.0, 0.0])
    found = await store.search_memories(A, [1.0, 0.0], "m", limit=10)
    assert [f.memory.id for f in found] == [near.id, far.id]
    # The limit counts memories that pass the threshold, not the best scores before it.
    assert [f.memory.id for f in await store.search_memories(A, [1.0, 0.0], "m", threshold=0.0, limit=1)] == [near.id]
    (best,) = await store.search_memories(A, [-1.0, 0.0], "m", threshold=0.999, limit=1)
    assert best.memory.id == far.id and best.score == pytest.approx(1.0)


async def test_a_large_search_lets_other_tasks_run(
    database: Database, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.backend == "pgvector":
        pytest.skip("pgvector scores in the database: no matrix on the event loop")
    vectors = [[1.0, 0.0], [0.9, 0.3], [0.0, 1.0], [-1.0, 0.2], [0.5, 0.5], [0.2, -1.0]]
    stored = [await remember(store, v, room_id=f"r{i % 2}") for i, v in enumerate(vectors)]
    queries = [{}, {"room_id": "r0"}, {"room_id": "r1"}]
    whole = [await store.search_memories(A, [1.0, 0.1], "m", **q) for q in queries]  # type: ignore[arg-type]
    assert [f.memory.id for f in whole[0]] == [stored[i].id for i in (0, 1, 4, 2, 5, 3)]
    monkeypatch.setattr(vectors_module, "SCORE_BLOCK", 2)  # one row of two components per block
    ticks = 0
    at_each_block: list[int] = []
    scores = vectors_module._scores

    def counted(*args: Any) -> None:
        at_each_block.append(ticks)
        scores(*args)

    monkeypatch.setattr(vectors_module, "_scores", counted)

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        for query, expected in zip(queries, whole):
            at_each_block.clear()
            assert await store.search_memories(A, [1.0, 0.1], "m", **query) == expected  # type: ignore[arg-type]
            # A block per row scored (a filter keeping most rows scores them all), and the other
            # task ran between every two.
            assert len(at_each_block) >= len(expected) >= 3
            assert all(b > a for a, b in zip(at_each_block, at_each_block[1:]))
    finally:
        ticker.cancel()
