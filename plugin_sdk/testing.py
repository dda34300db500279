"""Unit-test a plugin's components without starting processes.

    from plugin_sdk.testing import FakeHost, PluginHarness

    async def test_time():
        harness = PluginHarness(plugin, config={"TIMEZONE_LABEL": "UTC"})
        result = await harness.get_provider("TIME", Memory(content=Content(text="hi")))
        assert "UTC" in result.text

The harness calls the same code the gRPC server calls, and passes every value through
the same proto conversion the real host does, both ways: what a handler receives
(message, state, options, responses, event payloads, model params) and what it returns
(results, callbacks, model output), and what it sends to FakeHost. So a test sees what the
host sees: numbers in `values`, `data`, `extra`, `metadata`, options and payloads come
back as floats (`{"n": 2}` is `{"n": 2.0}`), tuples as lists, and a value that is not
JSON-like raises TypeError naming where it is.

FakeHost keeps memories, entities, rooms, relationships, settings and emitted events in memory,
answers model calls with the deterministic handlers a test registers, and scores
search_memories by shared words.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from agenthost.v1 import plugin_pb2
from google.protobuf import struct_pb2

from ._context import Context
from ._plugin import Plugin
from ._runner import ComponentRunner, as_model_output
from .rooms import (
    PARTICIPANT_STATES,
    Participant,
    Relationship,
    RoomInfo,
    relationship_from_proto,
    relationship_to_proto,
    room_info_from_proto,
    room_info_to_proto,
)
from .types import ActionResult, Content, Entity, Memory, ModelOutput, ProviderResult, State
from .wire import (
    action_result_from_proto,
    action_result_to_proto,
    content_from_proto,
    content_to_proto,
    entity_from_proto,
    entity_to_proto,
    fill_struct,
    memory_from_proto,
    memory_to_proto,
    model_output_from_proto,
    provider_result_from_proto,
    provider_result_to_proto,
    state_from_proto,
    state_to_proto,
    struct_to_dict,
)


# What crossing the wire does to a value: the conversions the server and host client use.
def _memory(memory: Memory) -> Memory:
    return memory_from_proto(memory_to_proto(memory))


def _state(state: State) -> State:
    return state_from_proto(state_to_proto(state))


def _dict(values: dict[str, Any]) -> dict[str, Any]:
    struct = struct_pb2.Struct()
    fill_struct(struct, values)
    return struct_to_dict(struct)


def _model_output(output: ModelOutput) -> ModelOutput:
    reply = plugin_pb2.UseModelResponse(text=output.text, embedding=output.embedding)
    fill_struct(reply.data, output.data)
    return model_output_from_proto(reply, output.served_by)


@dataclass
class FakeHost:
    """An in-memory HostClient for tests: what a plugin sends and gets back crosses the same
    conversion as with a real host, so stored and returned objects are copies."""

    settings: dict[str, str] = field(default_factory=dict)
    models: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    memories: list[Memory] = field(default_factory=list)
    entities: dict[str, Entity] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rooms: dict[str, RoomInfo] = field(default_factory=dict)  # by room id; a test adds them
    relationships: list[Relationship] = field(default_factory=list)
    agent_id: str = "test-agent"  # whose participant state set_participant_state changes
    _clock: itertools.count = field(default_factory=lambda: itertools.count(int(time.time() * 1000)))

    async def create_memory(self, memory: Memory) -> Memory:
        memory = _memory(memory)
        memory.id = memory.id or str(uuid.uuid4())
        memory.created_at_ms = memory.created_at_ms or next(self._clock)
        memory.table_name = memory.table_name or "messages"
        self.memories.append(memory)
        return _memory(memory)

    async def get_memories(self, room_id: str, table_name: str = "messages", count: int = 20) -> list[Memory]:
        found = [m for m in self.memories if m.room_id == room_id and m.table_name == table_name]
        return [_memory(m) for m in sorted(found, key=lambda m: m.created_at_ms, reverse=True)[:count]]

    async def get_entity(self, entity_id: str) -> Entity | None:
        entity = self.entities.get(entity_id)
        return None if entity is None else entity_from_proto(entity_to_proto(entity))

    async def upsert_entity(self, entity: Entity) -> Entity:
        entity = entity_from_proto(entity_to_proto(entity))
        entity.id = entity.id or str(uuid.uuid4())
        self.entities[entity.id] = entity
        return entity_from_proto(entity_to_proto(entity))

    async def get_setting(self, key: str) -> str | None:
        return self.settings.get(key)

    async def use_model(self, model_type: str, **params: Any) -> ModelOutput:
        if model_type not in self.models:
            raise LookupError(f"FakeHost has no model handler for {model_type!r}; add one to FakeHost.models")
        output = as_model_output(model_type, self.models[model_type](_dict(params)))
        output.served_by = output.served_by or "fake"
        return _model_output(output)

    async def emit_event(self, event_type: str, payload: dict[str, Any] | None = None) -> int:
        self.events.append((event_type, _dict(payload or {})))
        return 0

    async def find_memories(
        self,
        table_name: str = "messages",
        count: int = 20,
        *,
        room_id: str = "",
        entity_id: str = "",
        world_id: str = "",
    ) -> list[Memory]:
        found = [
            m
            for m in self.memories
            if m.table_name == table_name
            and (not room_id or m.room_id == room_id)
            and (not entity_id or m.entity_id == entity_id)
            and (not world_id or m.world_id == world_id)
        ]
        return [_memory(m) for m in sorted(found, key=lambda m: m.created_at_ms, reverse=True)[:count]]

    async def get_room(self, room_id: str) -> RoomInfo | None:
        info = self.rooms.get(room_id)
        return None if info is None else room_info_from_proto(room_info_to_proto(info))

    async def set_participant_state(self, room_id: str, state: str) -> str:
        if state not in PARTICIPANT_STATES:
            raise ValueError(f"state must be one of {PARTICIPANT_STATES}, got {state!r}")
        info = self.rooms.get(room_id)
        if info is None:
            raise LookupError(f"FakeHost has no room {room_id!r}; add one to FakeHost.rooms")
        me = next((p for p in info.participants if p.entity_id == self.agent_id), None)
        if me is None:
            me = Participant(self.agent_id)
            info.participants.append(me)
        previous, me.state = me.state, state
        return previous

    async def search_memories(
        self,
        query: str,
        table_name: str = "fragments",
        count: int = 5,
        *,
        room_id: str = "",
        min_score: float | None = None,
    ) -> list[tuple[Memory, float]]:
        """Scored by shared words (Jaccard), standing in for the host's embeddings."""
        words = set(query.lower().split())
        scored = []
        for m in self.memories:
            if m.table_name != table_name or (room_id and m.room_id != room_id):
                continue
            theirs = set(m.content.text.lower().split())
            score = len(words & theirs) / len(words | theirs) if words | theirs else 0.0
            if min_score is None or score >= min_score:
                scored.append((_memory(m), score))
        return sorted(scored, key=lambda pair: pair[1], reverse=True)[:count]

    async def get_relationships(self, entity_id: str, tags: list[str] | None = None) -> list[Relationship]:
        return [
            relationship_from_proto(relationship_to_proto(r))
            for r in self.relationships
            if entity_id in (r.source_entity_id, r.target_entity_id) and set(tags or ()) <= set(r.tags)
        ]

    async def upsert_relationship(self, relationship: Relationship, count_interaction: bool = False) -> Relationship:
        pair = (relationship.source_entity_id, relationship.target_entity_id)
        stored = next((r for r in self.relationships if (r.source_entity_id, r.target_entity_id) == pair), None)
        if stored is None:
            stored = Relationship(*pair)
            self.relationships.append(stored)
        if relationship.tags or relationship.metadata:
            stored.tags, stored.metadata = list(relationship.tags), _dict(relationship.metadata)
        stored.interaction_count += 1 if count_interaction else 0
        stored.updated_at_ms = next(self._clock)
        return relationship_from_proto(relationship_to_proto(stored))


class PluginHarness:
    """Calls a Plugin's components directly, as the host would through gRPC: arguments and
    results pass through the wire conversion (see the module docstring). Errors a handler
    raises are raised here (the host would turn them into a failed result or a gRPC error)."""

    def __init__(
        self,
        plugin: Plugin,
        config: dict[str, str] | None = None,
        host: FakeHost | None = None,
        agent_id: str = "test-agent",
        agent_name: str = "Test",
    ) -> None:
        self.plugin = plugin
        self.host = host or FakeHost()
        context = Context(
            plugin=plugin.name,
            host=self.host,
            agent_id=agent_id,
            agent_name=agent_name,
            config=dict(config or {}),
            log=logging.getLogger(f"plugin.{plugin.name}"),
        )
        self.runner = ComponentRunner(plugin, context)
        self._initialised = False

    async def _init(self) -> None:
        if not self._initialised:
            self._initialised = True
            await self.runner.init()

    async def get_provider(self, name: str, message: Memory, state: State | None = None) -> ProviderResult:
        await self._init()
        result = await self.runner.get_provider(name, _memory(message), _state(state or State()))
        return provider_result_from_proto(provider_result_to_proto(name, result))

    async def validate_action(self, name: str, message: Memory, state: State | None = None) -> bool:
        await self._init()
        return await self.runner.validate_action(name, _memory(message), _state(state or State()))

    async def invoke_action(
        self, name: str, message: Memory, state: State | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[Content], ActionResult]:
        """Run an action; returns the interim callbacks it sent and its result."""
        await self._init()
        callbacks: list[Content] = []

        async def callback(content: Content) -> None:
            callbacks.append(content_from_proto(content_to_proto(content)))

        result = await self.runner.invoke_action(
            name, _memory(message), _state(state or State()), _dict(options or {}), callback
        )
        return callbacks, action_result_from_proto(action_result_to_proto(result))

    async def validate_evaluator(self, name: str, message: Memory, state: State | None = None) -> bool:
        await self._init()
        return await self.runner.validate_evaluator(name, _memory(message), _state(state or State()))

    async def run_evaluator(
        self, name: str, message: Memory, state: State | None = None, responses: list[Memory] | None = None
    ) -> ActionResult:
        await self._init()
        result = await self.runner.run_evaluator(
            name, _memory(message), _state(state or State()), [_memory(m) for m in responses or []]
        )
        return action_result_from_proto(action_result_to_proto(result))

    async def use_model(self, model_type: str, **params: Any) -> ModelOutput:
        await self._init()
        return _model_output(await self.runner.use_model(model_type, _dict(params)))

    async def emit(self, event_type: str, payload: dict[str, Any] | None = None) -> None:
        """Deliver an event to the plugin's handlers."""
        await self._init()
        await self.runner.handle_event(event_type, _dict(payload or {}))

    async def start_service(self, name: str) -> None:
        """Start a service as the host does after Init; handlers then reach it with `ctx.service(name)`."""
        await self._init()
        await self.runner.start_service(name)

    async def stop_services(self) -> None:
        await self.runner.stop_all_services()
