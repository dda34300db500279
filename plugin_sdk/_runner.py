"""Runs a plugin's components on plain types; used by the gRPC server and the test harness."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from ._context import Context
from ._host_client import CURRENT_AGENT
from ._plugin import Plugin, call
from .types import ActionResult, Content, Memory, ModelOutput, ProviderResult, State

log = logging.getLogger("plugin_sdk")


class UnknownComponent(LookupError):
    """A call named a component this plugin does not have."""


class ComponentRunner:
    """Calls one plugin's handlers with its Context."""

    def __init__(self, plugin: Plugin, context: Context) -> None:
        self.plugin = plugin
        self.context = context
        self._services: dict[str, Any] = context._services  # what ctx.service(name) returns

    def _lookup(self, table: dict[str, Any], kind: str, name: str) -> Any:
        try:
            return table[name]
        except KeyError:
            raise UnknownComponent(f"plugin {self.plugin.name!r} has no {kind} {name!r}") from None

    async def init(self) -> None:
        for hook in self.plugin.init_hooks:
            await call(hook, self.context)

    async def get_provider(self, name: str, message: Memory, state: State) -> ProviderResult:
        provider = self._lookup(self.plugin.providers, "provider", name)
        CURRENT_AGENT.set(message.agent_id)  # this call's task acts for the message's agent
        result = await call(provider.get, self.context, message, state)
        if result is None:
            return ProviderResult()
        if isinstance(result, str):
            return ProviderResult(text=result)
        if not isinstance(result, ProviderResult):
            raise TypeError(f"provider {name!r} returned {type(result).__name__}, expected ProviderResult")
        return result

    async def validate_action(self, name: str, message: Memory, state: State) -> bool:
        action = self._lookup(self.plugin.actions, "action", name)
        CURRENT_AGENT.set(message.agent_id)
        return action.validate is None or bool(await call(action.validate, self.context, message, state))

    async def invoke_action(
        self,
        name: str,
        message: Memory,
        state: State,
        options: dict[str, Any],
        callback: Callable[[Content], Awaitable[None]],
    ) -> ActionResult:
        action = self._lookup(self.plugin.actions, "action", name)
        CURRENT_AGENT.set(message.agent_id)
        result = await call(action.handler, self.context, message, state, options, callback)
        return _as_action_result(name, result)

    async def validate_evaluator(self, name: str, message: Memory, state: State) -> bool:
        evaluator = self._lookup(self.plugin.evaluators, "evaluator", name)
        CURRENT_AGENT.set(message.agent_id)
        return evaluator.validate is None or bool(await call(evaluator.validate, self.context, message, state))

    async def run_evaluator(self, name: str, message: Memory, state: State, responses: list[Memory]) -> ActionResult:
        evaluator = self._lookup(self.plugin.evaluators, "evaluator", name)
        CURRENT_AGENT.set(message.agent_id)
        return _as_action_result(name, await call(evaluator.handler, self.context, message, state, responses))

    async def start_service(self, name: str) -> None:
        service = self._lookup(self.plugin.services, "service", name)
        if name in self._services:
            return
        instance = service.factory()
        await call(instance.start, self.context)
        self._services[name] = instance

    async def stop_service(self, name: str) -> None:
        self._lookup(self.plugin.services, "service", name)
        instance = self._services.pop(name, None)
        if instance is not None:
            await call(instance.stop)

    async def stop_all_services(self) -> None:
        for name in list(self._services):
            try:
                await self.stop_service(name)
            except Exception:  # one failing stop must not keep the others running
                log.exception("service %s failed to stop", name)

    async def use_model(self, model_type: str, params: dict[str, Any]) -> ModelOutput:
        model = self._lookup(self.plugin.models, "model handler", model_type)
        return as_model_output(model_type, await call(model.handler, self.context, params))

    async def handle_event(self, event_type: str, payload: dict[str, Any]) -> None:
        handlers = self.plugin.events.get(event_type)
        if not handlers:
            raise UnknownComponent(f"plugin {self.plugin.name!r} does not subscribe to event {event_type!r}")
        await asyncio.gather(*(call(h, self.context, payload) for h in handlers))


def as_model_output(model_type: str, result: Any) -> ModelOutput:
    """A model handler's return value (str, embedding list, dict or ModelOutput) as a ModelOutput."""
    if isinstance(result, ModelOutput):
        return result
    if isinstance(result, str):
        return ModelOutput(text=result)
    if isinstance(result, dict):
        return ModelOutput(data=result)
    if isinstance(result, (list, tuple)):
        return ModelOutput(embedding=[float(x) for x in result])
    raise TypeError(f"model handler {model_type!r} returned {type(result).__name__}")


def _as_action_result(name: str, result: Any) -> ActionResult:
    if result is None:
        return ActionResult()
    if isinstance(result, str):
        return ActionResult(text=result)
    if not isinstance(result, ActionResult):
        raise TypeError(f"{name!r} returned {type(result).__name__}, expected ActionResult")
    return result
