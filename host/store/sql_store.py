"""The store's operations, once, in SQL both backends run: each backend supplies how a
statement is executed (SQLite on its own thread, PostgreSQL through a pool) and this class
supplies what is executed. Statements use `?` placeholders; PostgreSQL's backend numbers them.

Every statement on an agent's rows carries `agent_id = ?` in its key or its WHERE clause.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from typing import Any, Sequence, TypeVar

from plugin_sdk.limits import MAX_MEMORY_BYTES
from plugin_sdk.types import Entity, Memory

from ..ids import new_id
from . import rows, statements
from .base import ContentTooLarge, DuplicateMemory
from .records import (
    PARTICIPANT_STATES,
    RUN_INTERRUPTED,
    RUN_STARTED,
    Agent,
    Embedding,
    Participant,
    Relationship,
    Room,
    RunRecord,
    ScoredMemory,
    World,
    now_ms,
)
from .rows import Row, dumps
from .statements import INSERT_MEMORY
from .vectors import FILTER_COLUMNS, Stamp, VectorIndex

R = TypeVar("R")


class SqlStore(ABC):
    """Store operations over a backend's `_execute`, `_fetch` and `_transaction`."""

    #: The column that orders memories of the same millisecond by insertion.
    _sequence = "rowid"
    #: How far behind ours another writer's clock may be (a vector search catching up re-reads that much).
    _clock_margin_ms = 0

    def __init__(self, max_content_bytes: int = MAX_MEMORY_BYTES) -> None:
        self.max_content_bytes = max_content_bytes
        self._vectors = VectorIndex(self._clock_margin_ms)
        #: Bumped by this store's own writes to vectors (a backend's stamp may use it).
        self._vector_writes = 0

    @abstractmethod
    async def _execute(self, sql: str, values: Sequence[object] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abstractmethod
    async def _fetch(self, sql: str, values: Sequence[object] = ()) -> list[Row]:
        """Run one statement; the rows it returned."""

    @abstractmethod
    async def _transaction(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[int]:
        """Run the statements in one transaction; the rows each changed."""

    @abstractmethod
    async def _batch(
        self, statements: Sequence[tuple[str, Sequence[object]]], query: tuple[str, Sequence[object]]
    ) -> list[Row] | None:
        """Run the statements, then `query`, in one transaction (one hop); its rows, or None (and
        the transaction rolled back) when a statement changed no row."""

    @abstractmethod
    async def close(self) -> None: ...

    async def _one(self, sql: str, values: Sequence[object] = ()) -> Row | None:
        found = await self._fetch(sql, values)
        return found[0] if found else None

    # -- memories --------------------------------------------------------------

    async def create_memory(self, memory: Memory, unique: bool = True) -> Memory:
        """Store `memory` (see `stamp`); DuplicateMemory when its id is taken, ContentTooLarge over the limit."""
        if not await self._execute(INSERT_MEMORY, self._memory_values(memory, unique)):
            raise DuplicateMemory(memory.id)
        return memory

    def _memory_values(self, memory: Memory, unique: bool) -> tuple[object, ...]:
        """The row of `memory`, stamped; ContentTooLarge over the limit. The values are taken now:
        what is stored is the memory as it was when called."""
        values = rows.memory_values(stamp(memory), unique)
        size = sum(len(str(text).encode()) for text in values[7:9])  # content, metadata: UTF-8 bytes
        if size > self.max_content_bytes:
            raise ContentTooLarge(size, self.max_content_bytes)
        return values

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        """A room's latest `count` memories of one table, newest first."""
        return await self.find_memories(agent_id, table_name, count, room_id=room_id)

    async def find_memories(
        self,
        agent_id: str,
        table_name: str,
        count: int,
        *,
        room_id: str | None = None,
        entity_id: str | None = None,
        world_id: str | None = None,
        unique: bool | None = None,
        since_ms: int | None = None,
    ) -> list[Memory]:
        """The latest `count` memories of one table matching every filter given, newest first."""
        where, values = _filters(
            agent_id=agent_id,
            table_name=table_name,
            room_id=room_id,
            entity_id=entity_id,
            world_id=world_id,
            is_unique=unique,
        )
        if since_ms is not None:
            where += " AND created_at_ms >= ?"
            values.append(since_ms)
        sql = f"SELECT * FROM memories WHERE {where} ORDER BY created_at_ms DESC, {self._sequence} DESC LIMIT ?"
        return [rows.memory_from_row(r) for r in await self._fetch(sql, [*values, count])]

    async def get_memory(self, agent_id: str, memory_id: str) -> Memory | None:
        row = await self._one("SELECT * FROM memories WHERE agent_id = ? AND id = ?", (agent_id, memory_id))
        return rows.memory_from_row(row) if row else None

    async def is_unique(self, agent_id: str, memory_id: str) -> bool | None:
        row = await self._one("SELECT is_unique FROM memories WHERE agent_id = ? AND id = ?", (agent_id, memory_id))
        return bool(row["is_unique"]) if row else None

    async def set_unique(self, agent_id: str, memory_id: str, unique: bool) -> bool:
        sql = "UPDATE memories SET is_unique = ? WHERE agent_id = ? AND id = ?"
        return await self._execute(sql, (unique, agent_id, memory_id)) > 0

    async def count_memories(
        self, agent_id: str, table_name: str, room_id: str | None = None, unique: bool | None = None
    ) -> int:
        where, values = _filters(agent_id=agent_id, table_name=table_name, room_id=room_id, is_unique=unique)
        row = await self._one(f"SELECT COUNT(*) AS n FROM memories WHERE {where}", values)
        return int(row["n"]) if row else 0

    async def delete_memory(self, agent_id: str, memory_id: str) -> bool:
        # Embeddings go with it (ON DELETE CASCADE).
        self._vector_writes += 1
        deleted = await self._execute("DELETE FROM memories WHERE agent_id = ? AND id = ?", (agent_id, memory_id)) > 0
        self._vector_writes += 1  # and after: see put_embedding
        self._vectors.remove(agent_id, memory_id)
        return deleted

    # -- embeddings ------------------------------------------------------------

    async def put_embedding(self, embedding: Embedding) -> bool:
        """Store the memory's vector for its model, replacing an earlier one; False when the agent has
        no such memory."""
        embedding.dimension = len(embedding.vector)
        # Always now: a search catches up on the vectors written since the newest it has read.
        embedding.created_at_ms = now_ms()
        extras = self._embedding_columns(embedding.vector)
        columns = ["dimension", "vector", "created_at_ms", *(name for name, _, _ in extras)]
        marks = ", ".join(["?, ?, ?", *(mark for _, mark, _ in extras)])
        sql = (
            f"INSERT INTO embeddings (memory_id, agent_id, model, {', '.join(columns)}) "
            f"SELECT id, agent_id, ?, {marks} FROM memories WHERE agent_id = ? AND id = ? "
            "ON CONFLICT (memory_id, model) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns)
        )
        vector = rows.vector_bytes(embedding.vector)
        values = (embedding.model, embedding.dimension, vector, embedding.created_at_ms, *(v for _, _, v in extras))
        self._vector_writes += 1
        stored = await self._execute(sql, (*values, embedding.agent_id, embedding.memory_id)) > 0
        # And after: a search on another pooled connection (PostgreSQL) may have read the stamp
        # while this write was under way, and must not keep it.
        self._vector_writes += 1
        # A vector of another dimension for this model was replaced: out of that dimension's matrix.
        self._vectors.remove(embedding.agent_id, embedding.memory_id, embedding.model, embedding.dimension)
        return stored

    async def get_embeddings(self, agent_id: str, memory_id: str) -> list[Embedding]:
        sql = "SELECT * FROM embeddings WHERE agent_id = ? AND memory_id = ? ORDER BY model"
        return [rows.embedding_from_row(r) for r in await self._fetch(sql, (agent_id, memory_id))]

    async def search_memories(
        self,
        agent_id: str,
        vector: Sequence[float],
        model: str,
        *,
        table_name: str | None = None,
        room_id: str | None = None,
        world_id: str | None = None,
        entity_id: str | None = None,
        threshold: float = -1.0,
        limit: int = 10,
    ) -> list[ScoredMemory]:
        """The agent's memories whose `model` vector of the query's dimension is most similar
        (cosine) to `vector`, best first: at most `limit`, each at least `threshold`, matching
        every filter given. Vectors of another model or dimension are never compared."""
        if not vector:
            raise ValueError("a search needs a query vector (it is empty)")
        given = dict(zip(FILTER_COLUMNS, (table_name, room_id, world_id, entity_id)))
        filters = {column: value for column, value in given.items() if value is not None}
        in_database = await self._search_in_database(agent_id, vector, model, filters, threshold, limit)
        if in_database is not None:
            return in_database
        dimension = len(vector)
        key = (agent_id, model, dimension)
        matrix = await self._vectors.matrix(
            key,
            lambda: self._vector_stamp(agent_id, model, dimension),
            lambda since_ms: self._fetch(_VECTOR_ROWS, (*key, since_ms)),
        )
        best = await matrix.search(vector, filters, threshold, limit)
        if not best:
            return []
        # By id alone, so every backend reads them by primary key (with `agent_id = ?` too, SQLite
        # walked the agent's index: 80 ms at 100k memories); the agent is checked on each row.
        sql = f"SELECT * FROM memories WHERE id IN ({', '.join('?' for _ in best)})"
        found = {
            r["id"]: rows.memory_from_row(r)
            for r in await self._fetch(sql, [i for i, _ in best])
            if r["agent_id"] == agent_id
        }
        # A memory deleted since the matrix was read is left out.
        return [ScoredMemory(found[i], score) for i, score in best if i in found]

    def _embedding_columns(self, vector: Sequence[float]) -> tuple[tuple[str, str, object], ...]:
        """Further columns an embedding write fills, as (column, SQL of its value with `?`, value):
        a backend's own index of the vectors (PostgreSQL's pgvector column). None here."""
        return ()

    async def _search_in_database(
        self,
        agent_id: str,
        vector: Sequence[float],
        model: str,
        filters: dict[str, str],
        threshold: float,
        limit: int,
    ) -> list[ScoredMemory] | None:
        """A search the database runs itself (the `search_memories` contract, `filters` on the
        `FILTER_COLUMNS`), or None when this store searches its in-memory matrices instead."""
        return None

    async def memories_to_embed(
        self,
        agent_id: str,
        model: str,
        dimension: int,
        count: int,
        after: tuple[int, str] = (0, ""),
        scan: int = 500,
    ) -> tuple[list[Memory], tuple[int, str] | None]:
        """Of the agent's next `scan` memories after (created_at_ms, id) `after`, oldest first, the
        first `count` that have no vector of `model` with `dimension` (none yet, or one of another
        dimension); and the key of the last memory scanned (None: there were none after `after`).
        Bounded so that one statement never walks all of a large agent's memories."""
        window = (agent_id, after[0], after[0], after[1], scan)
        pending = await self._fetch(_PENDING_IN_WINDOW, (*window, model, dimension, count))
        end = await self._one(_WINDOW_END, window)
        return [rows.memory_from_row(r) for r in pending], (int(end["created_at_ms"]), end["id"]) if end else None

    async def _vector_stamp(self, agent_id: str, model: str, dimension: int) -> Stamp:
        """What changes whenever the agent's vectors of (model, dimension) change, whoever wrote
        them (their count and newest time: a replaced vector gets a new time), and their count."""
        sql = (
            "SELECT COUNT(*) AS n, COALESCE(MAX(created_at_ms), 0) AS m "
            "FROM embeddings WHERE agent_id = ? AND model = ? AND dimension = ?"
        )
        row = await self._one(sql, (agent_id, model, dimension))
        count, newest = (int(row["n"]), int(row["m"])) if row else (0, 0)
        return (self._vector_writes, count, newest), count

    # -- entities and agents ---------------------------------------------------

    async def get_entity(self, entity_id: str, agent_id: str | None = None) -> Entity | None:
        """The entity with this id, of `agent_id` (of any agent when None), or None."""
        if agent_id is None:
            return await self._record(
                Entity, "SELECT * FROM entities WHERE id = ? ORDER BY agent_id LIMIT 1", (entity_id,)
            )
        sql = "SELECT * FROM entities WHERE agent_id = ? AND id = ?"
        return await self._record(Entity, sql, (agent_id, entity_id))

    async def upsert_entity(self, entity: Entity) -> Entity:
        """Store `entity` (giving it an id if it has none), replacing the agent's one with its id."""
        entity.id = entity.id or str(uuid.uuid4())
        values = (entity.agent_id, entity.id, dumps(entity.names), dumps(entity.metadata))
        await self._returning(statements.UPSERT_ENTITY, values)
        return entity

    async def list_entities(self, agent_id: str) -> list[Entity]:
        return await self._records(Entity, "SELECT * FROM entities WHERE agent_id = ? ORDER BY id", (agent_id,))

    async def upsert_agent(self, agent: Agent) -> Agent:
        now = now_ms()
        values = (agent.id, agent.name, agent.enabled, dumps(agent.settings), agent.created_at_ms or now, now)
        return rows.record_from_row(Agent, await self._returning(statements.UPSERT_AGENT, values))

    async def get_agent(self, agent_id: str) -> Agent | None:
        return await self._record(Agent, "SELECT * FROM agents WHERE id = ?", (agent_id,))

    async def list_agents(self) -> list[Agent]:
        return await self._records(Agent, "SELECT * FROM agents ORDER BY name, id")

    # -- worlds, rooms, participants ------------------------------------------

    async def upsert_world(self, world: World) -> World:
        world.id = world.id or str(uuid.uuid4())
        values = (world.agent_id, world.id, world.name, world.server_id, dumps(world.metadata))
        return rows.record_from_row(
            World, await self._returning(statements.UPSERT_WORLD, (*values, world.created_at_ms or now_ms()))
        )

    async def get_world(self, agent_id: str, world_id: str) -> World | None:
        return await self._record(World, "SELECT * FROM worlds WHERE agent_id = ? AND id = ?", (agent_id, world_id))

    async def list_worlds(self, agent_id: str) -> list[World]:
        return await self._records(
            World, "SELECT * FROM worlds WHERE agent_id = ? ORDER BY created_at_ms, id", (agent_id,)
        )

    async def upsert_room(self, room: Room) -> Room:
        room.id = room.id or str(uuid.uuid4())
        values = (room.agent_id, room.id, room.name, room.type, room.source, room.world_id, room.channel_id)
        rest = (room.server_id, dumps(room.metadata), room.created_at_ms or now_ms())
        return rows.record_from_row(Room, await self._returning(statements.UPSERT_ROOM, (*values, *rest)))

    async def get_room(self, agent_id: str, room_id: str) -> Room | None:
        return await self._record(Room, "SELECT * FROM rooms WHERE agent_id = ? AND id = ?", (agent_id, room_id))

    async def list_rooms(self, agent_id: str, world_id: str | None = None) -> list[Room]:
        where, values = _filters(agent_id=agent_id, world_id=world_id)
        return await self._records(Room, f"SELECT * FROM rooms WHERE {where} ORDER BY created_at_ms, id", values)

    async def delete_room(self, agent_id: str, room_id: str) -> bool:
        """Delete the room with its participants and memories (and their embeddings); False when there was none."""
        key = (agent_id, room_id)
        self._vector_writes += 1
        changed = await self._transaction(
            [
                ("DELETE FROM participants WHERE agent_id = ? AND room_id = ?", key),
                ("DELETE FROM memories WHERE agent_id = ? AND room_id = ?", key),
                ("DELETE FROM rooms WHERE agent_id = ? AND id = ?", key),
            ]
        )
        self._vector_writes += 1  # and after: see put_embedding
        self._vectors.forget(agent_id)
        return changed[-1] > 0

    async def add_participant(self, agent_id: str, room_id: str, entity_id: str) -> bool:
        sql = (
            "INSERT INTO participants (agent_id, room_id, entity_id, state, created_at_ms) VALUES (?, ?, ?, '', ?) "
            "ON CONFLICT (agent_id, room_id, entity_id) DO NOTHING"
        )
        return await self._execute(sql, (agent_id, room_id, entity_id, now_ms())) > 0

    async def remove_participant(self, agent_id: str, room_id: str, entity_id: str) -> bool:
        sql = "DELETE FROM participants WHERE agent_id = ? AND room_id = ? AND entity_id = ?"
        return await self._execute(sql, (agent_id, room_id, entity_id)) > 0

    async def list_participants(self, agent_id: str, room_id: str) -> list[Participant]:
        sql = "SELECT * FROM participants WHERE agent_id = ? AND room_id = ? ORDER BY created_at_ms, entity_id"
        return await self._records(Participant, sql, (agent_id, room_id))

    async def get_participant(self, agent_id: str, room_id: str, entity_id: str) -> Participant | None:
        sql = "SELECT * FROM participants WHERE agent_id = ? AND room_id = ? AND entity_id = ?"
        return await self._record(Participant, sql, (agent_id, room_id, entity_id))

    async def rooms_of(self, agent_id: str, entity_id: str) -> list[str]:
        sql = "SELECT room_id FROM participants WHERE agent_id = ? AND entity_id = ? ORDER BY room_id"
        return [r["room_id"] for r in await self._fetch(sql, (agent_id, entity_id))]

    async def set_participant_state(self, agent_id: str, room_id: str, entity_id: str, state: str) -> bool:
        """Set FOLLOWED, MUTED or "" (neither); False when the entity is not in the room."""
        if state and state not in PARTICIPANT_STATES:
            raise ValueError(
                f"participant state must be one of {', '.join(PARTICIPANT_STATES)} or empty, got {state!r}"
            )
        sql = "UPDATE participants SET state = ? WHERE agent_id = ? AND room_id = ? AND entity_id = ?"
        return await self._execute(sql, (state, agent_id, room_id, entity_id)) > 0

    # -- relationships ---------------------------------------------------------

    async def upsert_relationship(self, relationship: Relationship) -> Relationship:
        """Store the pair's tags and metadata; its interaction count is kept (see record_interaction)."""
        r, now = relationship, now_ms()
        pair = (r.agent_id, r.id or str(uuid.uuid4()), r.source_entity_id, r.target_entity_id)
        values = (*pair, dumps(r.tags), dumps(r.metadata), r.created_at_ms or now, now)
        return rows.record_from_row(Relationship, await self._returning(statements.UPSERT_RELATIONSHIP, values))

    async def record_interaction(self, agent_id: str, source_entity_id: str, target_entity_id: str) -> Relationship:
        """Add one to the pair's interaction count (making the relationship if it is new), atomically."""
        now = now_ms()
        values = (agent_id, str(uuid.uuid4()), source_entity_id, target_entity_id, now, now)
        return rows.record_from_row(Relationship, await self._returning(statements.RECORD_INTERACTION, values))

    async def get_relationship(
        self, agent_id: str, source_entity_id: str, target_entity_id: str
    ) -> Relationship | None:
        sql = "SELECT * FROM relationships WHERE agent_id = ? AND source_entity_id = ? AND target_entity_id = ?"
        return await self._record(Relationship, sql, (agent_id, source_entity_id, target_entity_id))

    async def list_relationships(
        self, agent_id: str, entity_id: str, tags: list[str] | None = None
    ) -> list[Relationship]:
        """The entity's relationships (either side), those with every tag in `tags` when given."""
        sql = (
            "SELECT * FROM relationships WHERE agent_id = ? AND (source_entity_id = ? OR target_entity_id = ?) "
            "ORDER BY created_at_ms, id"
        )
        found = await self._records(Relationship, sql, (agent_id, entity_id, entity_id))
        return [r for r in found if not tags or set(tags) <= set(r.tags)]

    # -- runs ------------------------------------------------------------------

    async def start_run(self, run: RunRecord) -> RunRecord:
        """Record a run as started; it is given an id and a start time if it lacks them."""
        await self._execute(*_insert_run(run))
        return run

    async def begin_run(self, memory: Memory, run: RunRecord, history: int) -> list[Memory]:
        """Store `memory` and start `run` in one transaction, one hop (see Store.begin_run)."""
        values = self._memory_values(memory, True)
        recent = "SELECT * FROM memories WHERE agent_id = ? AND table_name = ? AND room_id = ?"
        query = f"{recent} ORDER BY created_at_ms DESC, {self._sequence} DESC LIMIT ?"
        found = await self._batch(
            [(INSERT_MEMORY, values), _insert_run(run)],
            (query, (memory.agent_id, memory.table_name, memory.room_id, history)),
        )
        if found is None:
            raise DuplicateMemory(memory.id)
        return [rows.memory_from_row(r) for r in found]

    async def end_run(
        self,
        agent_id: str,
        run_id: str,
        status: str,
        error: str = "",
        timings: dict[str, float] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> RunRecord | None:
        """End a run still going, keeping its events when given; None when the agent has no such
        run, or it has ended."""
        if not status or status == RUN_STARTED:
            raise ValueError(f"a run ends with a status other than {RUN_STARTED!r}, got {status!r}")
        # Only what the caller does not know comes back: its timings and events are not decoded again.
        sql = (
            "UPDATE runs SET status = ?, ended_at_ms = ?, error = ?, timings = ?, events = ? "
            "WHERE agent_id = ? AND id = ? AND ended_at_ms IS NULL "
            "RETURNING room_id, message_id, started_at_ms, host_id"
        )
        timings, events, ended_at = timings or {}, events or [], now_ms()
        row = await self._one(sql, (status, ended_at, error, dumps(timings), dumps(events), agent_id, run_id))
        if row is None:
            return None
        started = {k: row[k] for k in ("room_id", "message_id", "started_at_ms", "host_id")}
        return RunRecord(
            agent_id,
            run_id,
            status=status,
            ended_at_ms=ended_at,
            timings=timings,
            error=error,
            events=events,
            **started,
        )

    async def get_run(self, agent_id: str, run_id: str) -> RunRecord | None:
        return await self._record(RunRecord, "SELECT * FROM runs WHERE agent_id = ? AND id = ?", (agent_id, run_id))

    async def list_runs(self, agent_id: str, room_id: str | None = None, count: int = 50) -> list[RunRecord]:
        where, values = _filters(agent_id=agent_id, room_id=room_id)
        sql = f"SELECT * FROM runs WHERE {where} ORDER BY started_at_ms DESC, id LIMIT ?"
        return await self._records(RunRecord, sql, [*values, count])

    async def interrupt_runs(self, agent_id: str) -> list[RunRecord]:
        """End every run of the agent still going as `interrupted`; the runs so ended."""
        sql = (
            "UPDATE runs SET status = ?, ended_at_ms = ?, error = ? "
            "WHERE agent_id = ? AND ended_at_ms IS NULL RETURNING *"
        )
        why = "the host stopped before the run ended"
        found = await self._fetch(sql, (RUN_INTERRUPTED, now_ms(), why, agent_id))
        return _in_start_order(found)

    async def interrupt_orphaned_runs(self, live_hosts: list[str], started_before_ms: int) -> list[RunRecord]:
        """End, as `interrupted`, every agent's runs still going that a host not in `live_hosts`
        started before `started_before_ms` (runs of no host, "", are left alone); the runs so
        ended. One statement: hosts sweeping at once end each run once (the others skip it)."""
        others = f" AND host_id NOT IN ({', '.join('?' for _ in live_hosts)})" if live_hosts else ""
        sql = (
            "UPDATE runs SET status = ?, ended_at_ms = ?, error = 'host ' || host_id || ' stopped answering "
            f"(deployment)' WHERE ended_at_ms IS NULL AND host_id <> ''{others} AND started_at_ms < ? RETURNING *"
        )
        found = await self._fetch(sql, (RUN_INTERRUPTED, now_ms(), *live_hosts, started_before_ms))
        return _in_start_order(found)

    async def runs_of_message(self, agent_id: str, message_id: str) -> list[RunRecord]:
        """The agent's runs of one message, newest first ([] when it has none)."""
        sql = "SELECT * FROM runs WHERE agent_id = ? AND message_id = ? ORDER BY started_at_ms DESC, id"
        return await self._records(RunRecord, sql, (agent_id, message_id))

    # -- cache -----------------------------------------------------------------

    async def cache_get(self, agent_id: str, key: str) -> Any | None:
        """The JSON value under `key`, or None when absent or expired."""
        sql = "SELECT value FROM cache WHERE agent_id = ? AND key = ? AND (expires_at_ms IS NULL OR expires_at_ms > ?)"
        row = await self._one(sql, (agent_id, key, now_ms()))
        return json.loads(row["value"]) if row else None

    async def cache_set(self, agent_id: str, key: str, value: Any, ttl_s: float | None = None) -> None:
        """Keep `value` (any JSON value) under `key`, for `ttl_s` seconds when given, else until deleted."""
        expires = None if ttl_s is None else now_ms() + int(ttl_s * 1000)
        sql = (
            "INSERT INTO cache (agent_id, key, value, expires_at_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (agent_id, key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms"
        )
        await self._execute(sql, (agent_id, key, dumps(value), expires))

    async def cache_delete(self, agent_id: str, key: str) -> bool:
        return await self._execute("DELETE FROM cache WHERE agent_id = ? AND key = ?", (agent_id, key)) > 0

    async def cache_purge(self) -> int:
        """Delete every expired entry; how many there were."""
        return await self._execute("DELETE FROM cache WHERE expires_at_ms <= ?", (now_ms(),))

    async def _record(self, cls: type[R], sql: str, values: Sequence[object] = ()) -> R | None:
        """The first row of `sql` as a `cls`, or None."""
        found = await self._fetch(sql, values)
        return rows.record_from_row(cls, found[0]) if found else None

    async def _records(self, cls: type[R], sql: str, values: Sequence[object] = ()) -> list[R]:
        return [rows.record_from_row(cls, row) for row in await self._fetch(sql, values)]

    async def _returning(self, sql: str, values: Sequence[object]) -> Row:
        found = await self._fetch(sql, values)
        assert found, "an upsert returns its row"
        return found[0]


#: One agent's vectors of one model and dimension, with the columns a search filters on: `ROW_COLUMNS`, in order.
_VECTOR_ROWS = (
    "SELECT e.memory_id, e.vector, e.created_at_ms, m.table_name, m.room_id, m.world_id, m.entity_id FROM embeddings e "
    "JOIN memories m ON m.id = e.memory_id WHERE e.agent_id = ? AND e.model = ? AND e.dimension = ? "
    "AND e.created_at_ms >= ?"
)


#: The agent's next memories after a (created_at_ms, id) key: a range of memories_by_age.
_WINDOW = (
    "SELECT id, created_at_ms FROM memories WHERE agent_id = ? AND created_at_ms >= ? "
    "AND (created_at_ms > ? OR id > ?) ORDER BY created_at_ms, id LIMIT ?"
)
_PENDING_IN_WINDOW = (
    f"SELECT m.* FROM ({_WINDOW}) w JOIN memories m ON m.id = w.id WHERE NOT EXISTS "
    "(SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = ? AND e.dimension = ?) "
    "ORDER BY m.created_at_ms, m.id LIMIT ?"
)
_WINDOW_END = f"SELECT created_at_ms, id FROM ({_WINDOW}) w ORDER BY created_at_ms DESC, id DESC LIMIT 1"


def stamp(memory: Memory) -> Memory:
    """Give `memory` what a stored one has if it lacks it: an id, a creation time, the "messages" table."""
    memory.id = memory.id or new_id()
    memory.created_at_ms = memory.created_at_ms or now_ms()
    memory.table_name = memory.table_name or "messages"
    return memory


def _insert_run(run: RunRecord) -> tuple[str, tuple[object, ...]]:
    """The INSERT that starts `run`, which is given an id and a start time if it lacks them."""
    run.id = run.id or new_id()
    run.started_at_ms = run.started_at_ms or now_ms()
    run.status, run.ended_at_ms = RUN_STARTED, 0
    sql = (
        "INSERT INTO runs (agent_id, id, room_id, message_id, status, started_at_ms, timings, error, host_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    key = (run.agent_id, run.id, run.room_id, run.message_id)
    return sql, (*key, run.status, run.started_at_ms, dumps(run.timings), run.error, run.host_id)


def _in_start_order(found: list[Row]) -> list[RunRecord]:
    """Runs read back from an UPDATE ... RETURNING, oldest first."""
    return sorted((rows.record_from_row(RunRecord, r) for r in found), key=lambda r: (r.started_at_ms, r.id))


def _filters(**columns: object) -> tuple[str, list[object]]:
    """`a = ? AND b = ?` for the columns given a value (None: not filtered on), and the values."""
    given = {name: value for name, value in columns.items() if value is not None}
    return " AND ".join(f"{name} = ?" for name in given), list(given.values())
