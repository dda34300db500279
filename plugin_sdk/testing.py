"""Unit-test a plugin's components without starting processes.

    from plugin_sdk.testing import FakeHost, PluginHarness

    async def test_time():
        harness = PluginHarness(plugin, config={"TIMEZONE_LABEL": "UTC"})
        result = await harness.get_provider("TIME", Memory(content=Content(text="hi")))
        assert "UTC" in result.text

The harness calls the same code the gRPC server calls; FakeHost keeps memories,
entities, settings and emitted events in memory and answers model calls with the
deterministic handlers a test registers.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ._context import Context
from ._plugin import Plugin
from ._runner import ComponentRunner, as_model_output
from .types import ActionResult, Content, Entity, Memory, ModelOutput, ProviderResult, State


@dataclass
class FakeHost:
    """An in-memory HostClient for tests."""

    settings: dict[str, str] = field(default_factory=dict)
    models: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    memories: list[Memory] = field(default_factory=list)
    entities: dict[str, Entity] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _clock: itertools.count = field(default_factory=lambda: itertools.count(int(time.time() * 1000)))

    async def create_memory(self, memory: Memory) -> Memory:
        memory.id = memory.id or str(uuid.uuid4())
        memory.created_at_ms = memory.created_at_ms or next(self._clock)
        memory.table_name = memory.table_name or "messages"
        self.memories.append(memory)
        return memory

    async def get_memories(self, room_id: str, table_name: str = "messages", count: int = 20) -> list[Memory]:
        found = [m for m in self.memories if m.room_id == room_id and m.table_name == table_name]
        return sorted(found, key=lambda m: m.created_at_ms, reverse=True)[:count]

    async def get_entity(self, entity_id: str) -> Entity | None:
        return self.entities.get(entity_id)

    async def upsert_entity(self, entity: Entity) -> Entity:
        entity.id = entity.id or str(uuid.uuid4())
        self.entities[entity.id] = entity
        return entity

    async def get_setting(self, key: str) -> str | None:
        return self.settings.get(key)

    async def use_model(self, model_type: str, **params: Any) -> ModelOutput:
        if model_type not in self.models:
            raise LookupError(f"FakeHost has no model handler for {model_type!r}; add one to FakeHost.models")
        output = as_model_output(model_type, self.models[model_type](params))
        output.served_by = output.served_by or "fake"
        return output

    async def emit_event(self, event_type: str, payload: dict[str, Any] | None = None) -> int:
        self.events.append((event_type, dict(payload or {})))
        return 0


class PluginHarness:
    """Calls a Plugin's components directly, as the host would through gRPC."""

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
        return await self.runner.get_provider(name, message, state or State())

    async def validate_action(self, name: str, message: Memory, state: State | None = None) -> bool:
        await self._init()
        return await self.runner.validate_action(name, message, state or State())

    async def invoke_action(
        self, name: str, message: Memory, state: State | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[Content], ActionResult]:
        """Run an action; returns the interim callbacks it sent and its result."""
        await self._init()
        callbacks: list[Content] = []

        async def callback(content: Content) -> None:
            callbacks.append(content)

        result = await self.runner.invoke_action(name, message, state or State(), dict(options or {}), callback)
        return callbacks, result

    async def validate_evaluator(self, name: str, message: Memory, state: State | None = None) -> bool:
        await self._init()
        return await self.runner.validate_evaluator(name, message, state or State())

    async def run_evaluator(
        self, name: str, message: Memory, state: State | None = None, responses: list[Memory] | None = None
    ) -> ActionResult:
        await self._init()
        return await self.runner.run_evaluator(name, message, state or State(), list(responses or []))

    async def use_model(self, model_type: str, **params: Any) -> ModelOutput:
        await self._init()
        return await self.runner.use_model(model_type, params)

    async def emit(self, event_type: str, payload: dict[str, Any] | None = None) -> None:
        """Deliver an event to the plugin's handlers."""
        await self._init()
        await self.runner.handle_event(event_type, dict(payload or {}))

    async def start_service(self, name: str) -> None:
        await self._init()
        await self.runner.start_service(name)

    async def stop_services(self) -> None:
        await self.runner.stop_all_services()
