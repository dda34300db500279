"""The store's contract, on SQLite always and on PostgreSQL when AGENTHOST_TEST_DATABASE_URL is set:
every table's operations, agent scoping, unique keys and counts under concurrent writers
(several stores on one database, as several hosts), cache expiry, and bad input."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from urllib.parse import urlsplit

import pytest
from store_backends import PG_URL, Database, database_fixture, store_fixture  # noqa: F401  (fixtures)

from host.store import (
    Agent,
    ContentTooLarge,
    DuplicateMemory,
    Embedding,
    Relationship,
    Room,
    RunRecord,
    StoreUnavailable,
    World,
)
from host.store.migrations import MIGRATIONS
from host.store.records import FOLLOWED, MUTED, RUN_INTERRUPTED, RUN_STARTED
from host.store.sql_store import SqlStore
from plugin_sdk.types import Attachment, Content, Entity, Memory

A, B = "agent-a", "agent-b"


def message(agent: str = A, room: str = "room-1", text: str = "hello", **fields: object) -> Memory:
    fields.setdefault("entity_id", "user-1")
    return Memory(agent_id=agent, room_id=room, content=Content(text=text), **fields)  # type: ignore[arg-type]


# -- memories ----------------------------------------------------------------------------


async def test_a_memory_round_trips_whole(store: SqlStore) -> None:
    content = Content(
        text="héllo \x00 wörld 日本",  # NUL: a JSON escape (PostgreSQL's text cannot hold it)
        actions=["REPLY"],
        source="test",
        thought="t",
        attachments=[Attachment(id="a1", url="https://x/y.png", title="y", content_type="image/png")],
        extra={"nested": {"list": [1, 2.5, None, True]}},
    )
    stored = await store.create_memory(
        Memory(agent_id=A, room_id="r", entity_id="e", world_id="w", content=content, metadata={"k": "v"})
    )
    assert stored.id and stored.created_at_ms > 0 and stored.table_name == "messages"
    assert await store.get_memory(A, stored.id) == stored
    assert await store.get_memories(A, "r", "messages", 10) == [stored]
    # A lone surrogate (no protobuf string holds one, but a Python caller can) is kept too.
    odd = await store.create_memory(message(text="half \ud800 a pair", metadata={"k": "\udfff"}))
    assert await store.get_memory(A, odd.id) == odd


async def test_memories_newest_first_ties_in_insertion_order(store: SqlStore) -> None:
    same_ms = [await store.create_memory(message(text=str(i), created_at_ms=1000)) for i in range(5)]
    later = await store.create_memory(message(text="later", created_at_ms=2000))
    got = await store.get_memories(A, "room-1", "messages", 4)
    assert [m.content.text for m in got] == ["later", "4", "3", "2"]
    assert got[0] == later and same_ms[4] in got


async def test_find_memories_filters_and_counts(store: SqlStore) -> None:
    await store.create_memory(message(room="r1", entity_id="u1", world_id="w1", created_at_ms=10))
    await store.create_memory(message(room="r2", entity_id="u2", world_id="w1", created_at_ms=20))
    await store.create_memory(message(room="r2", entity_id="u2", world_id="w2", created_at_ms=30, table_name="facts"))
    await store.create_memory(message(room="r2", created_at_ms=40), unique=False)
    assert len(await store.find_memories(A, "messages", 10)) == 3
    assert len(await store.find_memories(A, "messages", 10, world_id="w1")) == 2
    assert len(await store.find_memories(A, "messages", 10, entity_id="u2")) == 1
    assert len(await store.find_memories(A, "messages", 10, since_ms=20)) == 2
    assert len(await store.find_memories(A, "messages", 10, unique=True)) == 2
    assert [m.world_id for m in await store.find_memories(A, "facts", 10)] == ["w2"]
    assert await store.count_memories(A, "messages") == 3
    assert await store.count_memories(A, "messages", room_id="r2") == 2
    assert await store.count_memories(A, "messages", unique=False) == 1
    assert await store.count_memories(A, "documents") == 0


async def test_unique_flag(store: SqlStore) -> None:
    memory = await store.create_memory(message())
    assert await store.is_unique(A, memory.id) is True
    assert await store.set_unique(A, memory.id, False)
    assert await store.is_unique(A, memory.id) is False
    assert await store.is_unique(A, "nope") is None
    assert not await store.set_unique(A, "nope", False)


async def test_a_taken_id_is_refused_and_the_first_kept(store: SqlStore) -> None:
    first = await store.create_memory(message(text="first", id=str(uuid.uuid4())))
    with pytest.raises(DuplicateMemory):
        await store.create_memory(message(text="second", id=first.id))
    assert (await store.get_memory(A, first.id)).content.text == "first"  # type: ignore[union-attr]


async def test_content_over_the_limit_is_refused_with_its_size(database: Database) -> None:
    store = await database.open(max_content_bytes=2048)
    await store.create_memory(message(text="x" * 1500))
    with pytest.raises(ContentTooLarge, match=r"over the store's limit of 2048 \(\[database\] max_content_bytes\)"):
        await store.create_memory(message(text="x" * 3000))
    with pytest.raises(ContentTooLarge):  # metadata counts too
        await store.create_memory(message(metadata={"blob": "y" * 3000}))
    assert await store.count_memories(A, "messages") == 1
    roomy = await database.open(max_content_bytes=4096)
    await roomy.create_memory(message(text="é" * 1900))  # counted in UTF-8 bytes (3800), not as \u00e9 escapes
    with pytest.raises(ContentTooLarge, match="the memory is 4"):
        await roomy.create_memory(message(text="日" * 1400))  # 4200 bytes


async def test_deleting_a_memory_takes_its_embeddings(store: SqlStore) -> None:
    memory = await store.create_memory(message())
    assert await store.put_embedding(Embedding(A, memory.id, "m", [0.5, -1.0, 2.0]))
    assert await store.delete_memory(A, memory.id)
    assert not await store.delete_memory(A, memory.id)
    assert await store.get_memory(A, memory.id) is None
    assert await store.get_embeddings(A, memory.id) == []


# -- embeddings ----------------------------------------------------------------------------


async def test_embeddings_per_model_with_their_dimension(store: SqlStore) -> None:
    memory = await store.create_memory(message())
    assert await store.put_embedding(Embedding(A, memory.id, "small", [0.25, 0.5]))
    assert await store.put_embedding(Embedding(A, memory.id, "large", [1.0, 2.0, 3.0, 4.0]))
    assert await store.put_embedding(Embedding(A, memory.id, "small", [0.75, -0.5]))  # replaces
    got = {e.model: e for e in await store.get_embeddings(A, memory.id)}
    assert got["small"].vector == [0.75, -0.5] and got["small"].dimension == 2
    assert got["large"].dimension == 4
    assert not await store.put_embedding(Embedding(A, "no-such-memory", "small", [1.0]))


# -- entities and agents ------------------------------------------------------------------


async def test_entities_upsert_and_scope(store: SqlStore) -> None:
    made = await store.upsert_entity(Entity(agent_id=A, names=["Ana"], metadata={"a": 1}))
    assert made.id
    await store.upsert_entity(Entity(id=made.id, agent_id=A, names=["Ana", "Annie"]))
    await store.upsert_entity(Entity(id=made.id, agent_id=B, names=["someone else"]))
    assert (await store.get_entity(made.id, A)).names == ["Ana", "Annie"]  # type: ignore[union-attr]
    assert (await store.get_entity(made.id, B)).names == ["someone else"]  # type: ignore[union-attr]
    assert await store.get_entity("nope", A) is None
    assert await store.get_entity(made.id) is not None  # unscoped, as RuntimeService calls it today
    assert [e.names for e in await store.list_entities(A)] == [["Ana", "Annie"]]


async def test_agents(store: SqlStore) -> None:
    made = await store.upsert_agent(Agent(id=A, name="Ana", settings={"model": "x"}))
    assert made.created_at_ms > 0 and made.enabled
    again = await store.upsert_agent(Agent(id=A, name="Ana 2", enabled=False))
    assert again.created_at_ms == made.created_at_ms and again.name == "Ana 2" and not again.enabled
    await store.upsert_agent(Agent(id=B, name="Bo"))
    assert await store.get_agent(A) == again
    assert await store.get_agent("nope") is None
    assert [a.id for a in await store.list_agents()] == [A, B]


# -- worlds, rooms, participants ----------------------------------------------------------


async def test_worlds_and_rooms(store: SqlStore) -> None:
    world = await store.upsert_world(World(agent_id=A, name="guild", server_id="s1", metadata={"x": 1}))
    room = await store.upsert_room(Room(agent_id=A, name="general", type="GROUP", source="discord", world_id=world.id))
    dm = await store.upsert_room(Room(agent_id=A, id="dm-1", type="DM", source="api"))
    assert await store.get_world(A, world.id) == world
    assert await store.get_room(A, room.id) == room
    renamed = await store.upsert_room(Room(agent_id=A, id=room.id, name="lobby", type="GROUP", world_id=world.id))
    assert renamed.name == "lobby" and renamed.created_at_ms == room.created_at_ms
    assert [r.id for r in await store.list_rooms(A, world_id=world.id)] == [room.id]
    assert {r.id for r in await store.list_rooms(A)} == {room.id, dm.id}
    assert [w.id for w in await store.list_worlds(A)] == [world.id]
    assert await store.get_room(A, "nope") is None and await store.get_world(A, "nope") is None


async def test_participants_and_their_state(store: SqlStore) -> None:
    await store.upsert_room(Room(agent_id=A, id="r1"))
    assert await store.add_participant(A, "r1", "u1")
    assert not await store.add_participant(A, "r1", "u1")
    assert await store.add_participant(A, "r1", "u2")
    assert await store.add_participant(A, "r2", "u1")
    assert [p.entity_id for p in await store.list_participants(A, "r1")] == ["u1", "u2"]
    assert await store.rooms_of(A, "u1") == ["r1", "r2"]
    assert await store.set_participant_state(A, "r1", "u1", MUTED)
    assert (await store.get_participant(A, "r1", "u1")).state == MUTED  # type: ignore[union-attr]
    assert await store.set_participant_state(A, "r1", "u1", FOLLOWED)
    assert await store.set_participant_state(A, "r1", "u1", "")
    assert (await store.get_participant(A, "r1", "u1")).state == ""  # type: ignore[union-attr]
    assert not await store.set_participant_state(A, "r1", "stranger", MUTED)
    with pytest.raises(ValueError, match="FOLLOWED, MUTED"):
        await store.set_participant_state(A, "r1", "u1", "asleep")
    assert await store.remove_participant(A, "r1", "u2")
    assert not await store.remove_participant(A, "r1", "u2")
    assert await store.get_participant(A, "r1", "u2") is None


async def test_deleting_a_room_takes_its_participants_and_memories(store: SqlStore) -> None:
    await store.upsert_room(Room(agent_id=A, id="r1"))
    await store.add_participant(A, "r1", "u1")
    kept = await store.create_memory(message(room="r2"))
    gone = await store.create_memory(message(room="r1"))
    assert await store.delete_room(A, "r1")
    assert not await store.delete_room(A, "r1")
    assert await store.list_participants(A, "r1") == [] and await store.get_memory(A, gone.id) is None
    assert await store.get_memory(A, kept.id) == kept


# -- relationships --------------------------------------------------------------------------


async def test_relationships_keep_their_count_across_upserts(store: SqlStore) -> None:
    made = await store.upsert_relationship(Relationship(A, "u1", "u2", tags=["friend"], metadata={"since": 2020}))
    assert made.id and made.interaction_count == 0
    assert (await store.record_interaction(A, "u1", "u2")).interaction_count == 1
    again = await store.upsert_relationship(Relationship(A, "u1", "u2", tags=["friend", "colleague"]))
    assert again.id == made.id and again.interaction_count == 1 and again.tags == ["friend", "colleague"]
    assert (await store.record_interaction(A, "u3", "u1")).interaction_count == 1  # made by the interaction
    assert {r.target_entity_id for r in await store.list_relationships(A, "u1")} == {"u1", "u2"}
    assert [r.id for r in await store.list_relationships(A, "u1", tags=["colleague"])] == [made.id]
    assert await store.get_relationship(A, "u2", "u1") is None  # directed


# -- runs -------------------------------------------------------------------------------------


async def test_runs_start_end_and_list(store: SqlStore) -> None:
    run = await store.start_run(RunRecord(A, room_id="r1", message_id="m1"))
    assert run.id and run.status == RUN_STARTED and run.ended_at_ms == 0
    assert await store.get_run(A, run.id) == run
    ended = await store.end_run(A, run.id, "completed", timings={"compose": 1.5, "generate": 20.0})
    assert ended is not None and ended.status == "completed" and ended.ended_at_ms >= run.started_at_ms
    assert ended.timings == {"compose": 1.5, "generate": 20.0}
    assert await store.end_run(A, run.id, "failed") is None  # ended once
    assert await store.end_run(A, "nope", "failed") is None
    with pytest.raises(ValueError):
        await store.end_run(A, run.id, RUN_STARTED)
    other = await store.start_run(RunRecord(A, room_id="r2", message_id="m2", started_at_ms=run.started_at_ms + 1))
    assert [r.id for r in await store.list_runs(A)] == [other.id, run.id]
    assert [r.id for r in await store.list_runs(A, room_id="r1")] == [run.id]


async def test_begin_run_stores_the_message_starts_the_run_and_reads_the_room(store: SqlStore) -> None:
    older = [await store.create_memory(message(text=f"m{i}", created_at_ms=1000 + i)) for i in range(3)]
    await store.create_memory(message(room="room-2", text="elsewhere"))
    await store.create_memory(message(agent=B, text="another agent's"))
    arriving = message(text="new")
    run = RunRecord(A, room_id="room-1")
    recent = await store.begin_run(arriving, run, 3)
    assert arriving.id and arriving.created_at_ms > 0 and arriving.table_name == "messages"
    assert recent == [arriving, older[2], older[1]]  # newest first, this message included
    assert await store.get_memory(A, arriving.id) == arriving
    started = await store.get_run(A, run.id)
    assert started is not None and started.status == RUN_STARTED and started.started_at_ms > 0


async def test_begin_run_is_all_or_nothing(store: SqlStore) -> None:
    stored = await store.create_memory(message())
    again = RunRecord(A, room_id="room-1", message_id=stored.id)
    with pytest.raises(DuplicateMemory):
        await store.begin_run(message(id=stored.id, text="again"), again, 5)
    assert again.id and await store.get_run(A, again.id) is None  # the run did not start either
    with pytest.raises(ContentTooLarge):
        await store.begin_run(message(text="x" * (store.max_content_bytes + 1)), RunRecord(A), 5)
    assert await store.list_runs(A) == []
    taken = await store.start_run(RunRecord(A, room_id="room-1"))
    with pytest.raises(Exception):  # a run id taken: the message is not stored either
        await store.begin_run(message(text="orphan"), RunRecord(A, id=taken.id, room_id="room-1"), 5)
    assert [m.content.text for m in await store.get_memories(A, "room-1", "messages", 10)] == ["hello"]


async def test_a_run_keeps_its_events(store: SqlStore) -> None:
    run = await store.start_run(RunRecord(A, room_id="r1"))
    events = [{"type": "RUN_STARTED", "content": {"extra": {"n": 1}}}, {"type": "REPLY", "content": {"text": "é"}}]
    ended = await store.end_run(A, run.id, "completed", events=events)
    assert ended is not None and ended.events == events
    assert await store.get_run(A, run.id) == ended  # what end_run returns is what is stored
    plain = await store.start_run(RunRecord(A, room_id="r1"))
    assert (await store.end_run(A, plain.id, "failed")).events == []  # type: ignore[union-attr]


async def test_unfinished_runs_are_ended_interrupted(store: SqlStore) -> None:
    going = await store.start_run(RunRecord(A, room_id="r1", message_id="m1"))
    done = await store.start_run(RunRecord(A, room_id="r1", message_id="m2"))
    await store.end_run(A, done.id, "completed")
    others = await store.start_run(RunRecord(B, room_id="r1", message_id="m3"))
    interrupted = await store.interrupt_runs(A)
    assert [(r.id, r.status) for r in interrupted] == [(going.id, RUN_INTERRUPTED)]
    assert interrupted[0].error and interrupted[0].ended_at_ms > 0
    assert (await store.get_run(A, done.id)).status == "completed"  # type: ignore[union-attr]
    assert (await store.get_run(B, others.id)).status == RUN_STARTED  # type: ignore[union-attr]
    assert await store.interrupt_runs(A) == []


# -- cache ------------------------------------------------------------------------------------


async def test_cache_values_and_expiry(store: SqlStore) -> None:
    await store.cache_set(A, "forever", {"a": [1, 2]})
    await store.cache_set(A, "hour", "v", ttl_s=3600)
    await store.cache_set(A, "gone", "v", ttl_s=-1)  # expired when set
    assert await store.cache_get(A, "forever") == {"a": [1, 2]}
    assert await store.cache_get(A, "hour") == "v"
    assert await store.cache_get(A, "gone") is None
    assert await store.cache_get(A, "never-set") is None
    await store.cache_set(A, "hour", 42, ttl_s=-1)  # replaced, now expired
    assert await store.cache_get(A, "hour") is None
    assert await store.cache_purge() == 2
    assert await store.cache_purge() == 0
    assert await store.cache_delete(A, "forever") and not await store.cache_delete(A, "forever")


# -- agent scoping ------------------------------------------------------------------------


async def test_agent_b_reads_nothing_of_agent_a(store: SqlStore) -> None:
    memory = await store.create_memory(message(agent=A, room="shared", world_id="w"))
    await store.put_embedding(Embedding(A, memory.id, "m", [1.0]))
    await store.upsert_entity(Entity(id="u1", agent_id=A, names=["Ana"]))
    world = await store.upsert_world(World(agent_id=A, id="w"))
    await store.upsert_room(Room(agent_id=A, id="shared", world_id=world.id))
    await store.add_participant(A, "shared", "u1")
    await store.record_interaction(A, "u1", "u2")
    run = await store.start_run(RunRecord(A, room_id="shared"))
    await store.cache_set(A, "k", "v")

    assert await store.get_memories(B, "shared", "messages", 10) == []
    assert await store.find_memories(B, "messages", 10) == []
    assert await store.get_memory(B, memory.id) is None
    assert await store.count_memories(B, "messages") == 0
    assert await store.is_unique(B, memory.id) is None
    assert await store.get_embeddings(B, memory.id) == []
    assert await store.get_entity("u1", B) is None and await store.list_entities(B) == []
    assert await store.get_world(B, "w") is None and await store.list_worlds(B) == []
    assert await store.get_room(B, "shared") is None and await store.list_rooms(B) == []
    assert await store.list_participants(B, "shared") == [] and await store.rooms_of(B, "u1") == []
    assert await store.get_relationship(B, "u1", "u2") is None and await store.list_relationships(B, "u1") == []
    assert await store.get_run(B, run.id) is None and await store.list_runs(B) == []
    assert await store.cache_get(B, "k") is None
    # ... and cannot change it either.
    assert not await store.set_unique(B, memory.id, False)
    assert not await store.delete_memory(B, memory.id)
    assert not await store.put_embedding(Embedding(B, memory.id, "m", [2.0]))
    assert not await store.delete_room(B, "shared")
    assert await store.end_run(B, run.id, "failed") is None
    assert await store.interrupt_runs(B) == []
    assert not await store.cache_delete(B, "k")
    assert await store.get_memory(A, memory.id) == memory
    assert (await store.get_embeddings(A, memory.id))[0].vector == [1.0]
    assert (await store.get_run(A, run.id)).status == RUN_STARTED  # type: ignore[union-attr]


# -- several writers (hosts) on one database --------------------------------------------------

WRITERS, EACH = 4, 25


async def test_concurrent_writers_keep_counts_and_unique_keys(database: Database) -> None:
    stores = [await database.open() for _ in range(WRITERS)]

    async def interact(store: SqlStore) -> None:
        for _ in range(EACH):
            await store.record_interaction(A, "u1", "u2")

    await asyncio.gather(*(interact(s) for s in stores))
    relationship = await stores[0].get_relationship(A, "u1", "u2")
    assert relationship is not None and relationship.interaction_count == WRITERS * EACH
    assert len(await stores[0].list_relationships(A, "u1")) == 1

    joined = await asyncio.gather(*(s.add_participant(A, "r1", "u1") for s in stores for _ in range(3)))
    assert sorted(joined) == [False] * (WRITERS * 3 - 1) + [True]

    memory_id = str(uuid.uuid4())
    results = await asyncio.gather(
        *(s.create_memory(message(id=memory_id, text=str(i))) for i, s in enumerate(stores)), return_exceptions=True
    )
    assert sum(isinstance(r, Memory) for r in results) == 1
    assert sum(isinstance(r, DuplicateMemory) for r in results) == WRITERS - 1
    assert await stores[0].count_memories(A, "messages") == 1

    await asyncio.gather(*(s.upsert_entity(Entity(id="e1", agent_id=A, names=[str(i)])) for i, s in enumerate(stores)))
    assert len(await stores[0].list_entities(A)) == 1


async def test_concurrent_first_opens_migrate_once(database: Database) -> None:
    stores = await asyncio.gather(*(database.open() for _ in range(WRITERS)))
    await stores[0].create_memory(message())
    assert await stores[-1].count_memories(A, "messages") == 1
    (versions,) = await database.run("SELECT version FROM store_schema_version ORDER BY version")
    assert versions == [(m.version,) for m in MIGRATIONS]


# -- a database that stops answering ------------------------------------------------------


class Proxy:
    """A TCP relay to the database that can be cut and restored on the same port: the database
    going away and coming back, as seen from the store, without touching the shared server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_lost_database_is_store_unavailable_and_the_store_recovers(database: Database) -> None:
    if database.backend == "postgres":
        target = urlsplit(PG_URL)
        proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
        await proxy.start()
        database.url = database.url.replace(target.netloc.split("@")[-1], f"127.0.0.1:{proxy.port}", 1)
        store = await database.open()
        await store.create_memory(message(text="before"))
        await proxy.cut()  # the server goes away
        with pytest.raises(
            StoreUnavailable, match=rf"^the database at postgresql://\S+:{proxy.port}/\S+ is unavailable: "
        ):
            await store.create_memory(message(text="while away"))
        with pytest.raises(StoreUnavailable):
            await store.count_memories(A, "messages")
        await proxy.start()  # ... and comes back on the same address
    else:
        # Another writer holds the file's write lock past the store's busy timeout.
        store = await database.open(busy_timeout_s=0.1)
        await store.create_memory(message(text="before"))
        blocker = sqlite3.connect(database.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable, match="is unavailable: database is locked"):
                await store.create_memory(message(text="while away"))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    await store.create_memory(message(text="after"))  # served again, nothing acknowledged lost
    assert [m.content.text for m in await store.get_memories(A, "room-1", "messages", 10)] == ["after", "before"]
