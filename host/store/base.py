"""The store interface every backend implements."""

from __future__ import annotations

from typing import Protocol

from plugin_sdk.types import Entity, Memory


class DuplicateMemory(ValueError):
    """A memory with this id is already stored (ids are chosen by the caller, or the store when empty)."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(f"a memory with id {memory_id!r} is already stored")
        self.memory_id = memory_id


class Store(Protocol):
    """What the host stores. Every backend passes the same contract tests."""

    async def create_memory(self, memory: Memory) -> Memory:
        """Store `memory`; DuplicateMemory when its id is taken."""
        ...

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]: ...
    async def get_entity(self, entity_id: str) -> Entity | None: ...
    async def upsert_entity(self, entity: Entity) -> Entity: ...
    async def close(self) -> None: ...
