"""The store interface every backend implements, and the errors it raises.

Every call that reads or writes an agent's rows takes that agent's id, and touches no other
agent's rows: a plugin serving agent A never reads agent B's memories.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from plugin_sdk.types import Entity, Memory

from .records import Agent, Embedding, Participant, Relationship, Room, RunRecord, ScoredMemory, World


class DuplicateMemory(ValueError):
    """A memory with this id is already stored (ids are chosen by the caller, or the store when empty)."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(f"a memory with id {memory_id!r} is already stored")
        self.memory_id = memory_id


class ContentTooLarge(ValueError):
    """A memory's content and metadata, as stored, are over the store's limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the memory is {size} bytes as stored (content and metadata), over the store's limit of {limit} "
            "([database] max_content_bytes): store large files elsewhere and keep a link"
        )
        self.size, self.limit = size, limit


class StoreUnavailable(ConnectionError):
    """The database stopped answering (lost, shut down, out of disk): the call did not happen, or
    did and its answer was lost. The store serves again once the database is back."""


class StoreOpenError(OSError):
    """The store cannot be opened; the message is one line, naming the database (never its password).
    An OSError, so the CLI reports it as one line and a non-zero exit."""


class DatabaseUnreachable(StoreOpenError):
    """The database cannot be reached or refuses the connection."""


class SchemaTooNew(StoreOpenError):
    """The database was written by a newer agenthost: this one would not know its tables."""


class Store(Protocol):
    """What the host stores. Every backend passes the same contract tests (tests/test_store_contract.py)."""

    # -- memories --------------------------------------------------------------
    async def create_memory(self, memory: Memory, unique: bool = True) -> Memory:
        """Store `memory`, giving it an id, a time and the "messages" table if it lacks them;
        DuplicateMemory when its id is taken, ContentTooLarge over the size limit."""
        ...

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        """A room's latest `count` memories of one table, newest first."""
        ...

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
        """The latest `count` memories of one table that match every filter given, newest first."""
        ...

    async def get_memory(self, agent_id: str, memory_id: str) -> Memory | None: ...
    async def is_unique(self, agent_id: str, memory_id: str) -> bool | None:
        """The memory's unique flag, or None when there is no such memory."""
        ...

    async def set_unique(self, agent_id: str, memory_id: str, unique: bool) -> bool:
        """Set the memory's unique flag; False when there is no such memory."""
        ...

    async def count_memories(
        self, agent_id: str, table_name: str, room_id: str | None = None, unique: bool | None = None
    ) -> int: ...
    async def delete_memory(self, agent_id: str, memory_id: str) -> bool:
        """Delete the memory and its embeddings; False when there was none."""
        ...

    # -- embeddings ------------------------------------------------------------
    async def put_embedding(self, embedding: Embedding) -> bool:
        """Store (or replace) the memory's vector for `embedding.model`; False when the agent has no such memory."""
        ...

    async def get_embeddings(self, agent_id: str, memory_id: str) -> list[Embedding]: ...
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
        """The agent's memories most similar (cosine) to `vector` by their `model` vectors of the
        same dimension, best first, at least `threshold`, matching every filter given."""
        ...

    async def memories_to_embed(
        self,
        agent_id: str,
        model: str,
        dimension: int,
        count: int,
        after: tuple[int, str] = (0, ""),
        scan: int = 500,
    ) -> tuple[list[Memory], tuple[int, str] | None]:
        """Of the agent's next `scan` memories after (created_at_ms, id) `after`, the first `count`
        lacking a vector of `model` with `dimension`, and the key of the last one scanned (None when
        none were left): the embedding queue's work, kept in the database, read a window at a time."""
        ...

    # -- entities --------------------------------------------------------------
    async def get_entity(self, entity_id: str, agent_id: str | None = None) -> Entity | None:
        """The entity with this id (of `agent_id`; any agent's when None, as callers did before
        entities were scoped), or None."""
        ...

    async def upsert_entity(self, entity: Entity) -> Entity: ...
    async def list_entities(self, agent_id: str) -> list[Entity]: ...

    # -- agents ----------------------------------------------------------------
    async def upsert_agent(self, agent: Agent) -> Agent: ...
    async def get_agent(self, agent_id: str) -> Agent | None: ...
    async def list_agents(self) -> list[Agent]: ...

    # -- worlds, rooms, participants ------------------------------------------
    async def upsert_world(self, world: World) -> World: ...
    async def get_world(self, agent_id: str, world_id: str) -> World | None: ...
    async def list_worlds(self, agent_id: str) -> list[World]: ...
    async def upsert_room(self, room: Room) -> Room: ...
    async def get_room(self, agent_id: str, room_id: str) -> Room | None: ...
    async def list_rooms(self, agent_id: str, world_id: str | None = None) -> list[Room]: ...
    async def delete_room(self, agent_id: str, room_id: str) -> bool:
        """Delete the room, its participants, and its memories; False when there was none."""
        ...

    async def add_participant(self, agent_id: str, room_id: str, entity_id: str) -> bool:
        """Add the entity to the room; False when it was already there."""
        ...

    async def remove_participant(self, agent_id: str, room_id: str, entity_id: str) -> bool: ...
    async def list_participants(self, agent_id: str, room_id: str) -> list[Participant]: ...
    async def rooms_of(self, agent_id: str, entity_id: str) -> list[str]:
        """The ids of the rooms the entity is a participant of."""
        ...

    async def set_participant_state(self, agent_id: str, room_id: str, entity_id: str, state: str) -> bool:
        """Set FOLLOWED, MUTED or "" (neither); False when the entity is not in the room."""
        ...

    async def get_participant(self, agent_id: str, room_id: str, entity_id: str) -> Participant | None: ...

    # -- relationships ---------------------------------------------------------
    async def upsert_relationship(self, relationship: Relationship) -> Relationship:
        """Store the pair's tags and metadata (its interaction count is kept)."""
        ...

    async def record_interaction(self, agent_id: str, source_entity_id: str, target_entity_id: str) -> Relationship:
        """Add one to the pair's interaction count (making the relationship if it is new), atomically."""
        ...

    async def get_relationship(
        self, agent_id: str, source_entity_id: str, target_entity_id: str
    ) -> Relationship | None: ...
    async def list_relationships(
        self, agent_id: str, entity_id: str, tags: list[str] | None = None
    ) -> list[Relationship]:
        """The entity's relationships (either side), those with every tag in `tags` when given."""
        ...

    # -- runs ------------------------------------------------------------------
    async def start_run(self, run: RunRecord) -> RunRecord:
        """Record a run as started (an id and a start time are given if it lacks them)."""
        ...

    async def begin_run(self, memory: Memory, run: RunRecord, history: int) -> list[Memory]:
        """A message's arrival in one hop and one transaction: store `memory` (as create_memory,
        with its errors), start `run` (as start_run), and return the latest `history` memories of
        the memory's room and table, newest first, this one included."""
        ...

    async def end_run(
        self,
        agent_id: str,
        run_id: str,
        status: str,
        error: str = "",
        timings: dict[str, float] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> RunRecord | None:
        """End a run that has not ended, keeping `events` (what it streamed, as JSON objects) with
        it; None when there is no such run still going."""
        ...

    async def get_run(self, agent_id: str, run_id: str) -> RunRecord | None: ...
    async def list_runs(self, agent_id: str, room_id: str | None = None, count: int = 50) -> list[RunRecord]:
        """The latest runs, newest first."""
        ...

    async def interrupt_runs(self, agent_id: str) -> list[RunRecord]:
        """End every run of the agent still marked as going, as `interrupted`, and return them:
        called at start, when no run of this agent can still be going."""
        ...

    async def interrupt_orphaned_runs(self, live_hosts: list[str], started_before_ms: int) -> list[RunRecord]:
        """End every agent's runs still going that a host not in `live_hosts` started before
        `started_before_ms`, as `interrupted` with an error naming the host, and return them (runs
        with no host_id are left alone). Atomic: hosts sweeping at once end each run once."""
        ...

    async def runs_of_message(self, agent_id: str, message_id: str) -> list[RunRecord]:
        """The agent's runs of the message with this id, newest first ([] when none)."""
        ...

    # -- cache -----------------------------------------------------------------
    async def cache_get(self, agent_id: str, key: str) -> Any | None:
        """The value under `key` (any JSON value), or None when absent or expired."""
        ...

    async def cache_set(self, agent_id: str, key: str, value: Any, ttl_s: float | None = None) -> None:
        """Keep `value` under `key`, for `ttl_s` seconds when given (else until deleted)."""
        ...

    async def cache_delete(self, agent_id: str, key: str) -> bool: ...
    async def cache_purge(self) -> int:
        """Delete every expired entry (of every agent); how many there were."""
        ...

    async def close(self) -> None: ...
