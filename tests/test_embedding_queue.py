"""The background embedding queue on a real store (SQLite always, PostgreSQL when configured):
everything gets embedded, a restart finds what was left, a new model or dimension re-embeds
without mixing, refused texts and a model that is down are handled, near-duplicates are marked."""

from __future__ import annotations

import asyncio
import itertools

from embedding_model import HashedWords
from store_backends import Database, pgvector_url, search_database_fixture, store_fixture  # noqa: F401  (fixtures)

from host.memory import EmbeddingQueue
from host.store.sql_store import SqlStore
from plugin_sdk.types import Content, Memory

A = "agent-a"
FACTS = [
    "the lighthouse keeper feeds the cats at dawn",
    "our office moved to the third floor of the brick building",
    "the quarterly budget meeting is on thursday afternoon",
    "maria prefers green tea without sugar",
]


_clock = itertools.count(1_700_000_000_000)


async def store_texts(store: SqlStore, texts: list[str], room: str = "room-1", table: str = "facts") -> list[Memory]:
    """Stored in order, a millisecond apart (which is earlier decides which of two duplicates is marked)."""
    return [
        await store.create_memory(
            Memory(agent_id=A, room_id=room, table_name=table, content=Content(text=t), created_at_ms=next(_clock))
        )
        for t in texts
    ]


def queue_for(store: SqlStore, model: HashedWords, **options: float) -> EmbeddingQueue:
    queue = EmbeddingQueue(store, model, A, idle_s=0.05, **options)  # type: ignore[arg-type]
    queue.start()
    return queue


async def test_every_memory_is_embedded_and_searchable(store: SqlStore) -> None:
    model = HashedWords()
    stored = await store_texts(store, FACTS)
    queue = queue_for(store, model)
    try:
        assert await queue.drained(10)
        assert queue.status.model == "hashed" and queue.status.dimension == 64
        assert queue.status.embedded == len(FACTS)
        for memory in stored:
            (embedding,) = await store.get_embeddings(A, memory.id)
            assert (embedding.model, embedding.dimension) == ("hashed", 64)
        name, vector = await queue.embed_query("who feeds the cats")
        found = await store.search_memories(A, vector, name, limit=1)
        assert found[0].memory.id == stored[0].id
        # Memories stored while it runs are picked up.
        later = await store_texts(store, ["the printer on the third floor is broken"])
        queue.notify()
        assert await queue.drained(10)
        assert await store.get_embeddings(A, later[0].id)
    finally:
        await queue.stop()


async def test_a_restart_finds_what_was_left(database: Database) -> None:
    store = await database.open()
    model = HashedWords()
    model.delay_s = 0.05
    await store_texts(store, [f"fact number {i} about topic {i % 7}" for i in range(40)])
    queue = queue_for(store, model, batch=4)
    while queue.status.embedded < 8:
        await asyncio.sleep(0.02)
    await queue.stop()  # mid-walk, as a host stopping
    done = queue.status.embedded
    assert done < 40
    again = queue_for(await database.open(), HashedWords())  # the next host: state is the database
    try:
        assert await again.drained(20)
        assert again.status.embedded + done >= 40
        assert (await store.memories_to_embed(A, "hashed", 64, 100))[0] == []
    finally:
        await again.stop()


async def test_a_new_dimension_re_embeds_and_never_mixes(store: SqlStore) -> None:
    stored = await store_texts(store, FACTS)
    first = queue_for(store, HashedWords(dimension=64))
    assert await first.drained(10)
    await first.stop()
    bigger = HashedWords(dimension=128)
    second = queue_for(store, bigger)
    try:
        assert await second.drained(10)
        assert second.status.embedded == len(FACTS)  # every memory again
        name, vector = await second.embed_query("maria green tea")
        assert len(vector) == 128
        found = await store.search_memories(A, vector, name, limit=1)
        assert found[0].memory.id == stored[3].id
        for memory in stored:
            assert [(e.model, e.dimension) for e in await store.get_embeddings(A, memory.id)] == [("hashed", 128)]
        assert await store.search_memories(A, [1.0] * 64, "hashed") == []  # the old dimension is gone
    finally:
        await second.stop()


async def test_refused_texts_and_a_model_that_is_down(store: SqlStore) -> None:
    model = HashedWords()
    model.down = True
    refused, fine, empty = await store_texts(store, ["please refuse this one", "a fine text", "   "])
    queue = queue_for(store, model)
    try:
        await asyncio.sleep(0.3)
        assert not await queue.ready(0.01) and queue.status.embedded == 0
        assert "UNAVAILABLE" in queue.status.last_error
        model.down = False
        assert await queue.ready(10)  # retried with backoff
        assert await queue.drained(10)
        assert queue.status.refused == 1 and queue.status.embedded == 3
        # Refused and empty texts are stored as zero vectors: done, and never found.
        (zero,) = await store.get_embeddings(A, refused.id)
        assert not any(zero.vector) and len(zero.vector) == 64
        found = await store.search_memories(A, [1.0] * 64, "hashed", limit=10)
        assert [f.memory.id for f in found] == [fine.id]
        assert empty.id not in [f.memory.id for f in found]
    finally:
        await queue.stop()


async def test_near_duplicates_are_marked_not_unique(store: SqlStore) -> None:
    original, copy, other_room, different = [
        *(await store_texts(store, ["Maria prefers green tea without sugar"])),
        *(await store_texts(store, ["maria prefers green tea, without sugar!"])),
        *(await store_texts(store, ["maria prefers green tea without sugar"], room="room-2")),
        *(await store_texts(store, ["the budget meeting moved to friday"])),
    ]
    queue = queue_for(store, HashedWords())
    try:
        assert await queue.drained(10)
        assert await store.is_unique(A, original.id) is True
        assert await store.is_unique(A, copy.id) is False
        assert await store.is_unique(A, other_room.id) is True  # another room: not a duplicate
        assert await store.is_unique(A, different.id) is True
        assert queue.status.duplicates == 1
    finally:
        await queue.stop()
