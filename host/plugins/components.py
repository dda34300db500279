"""Calling plugin components by name: one round trip per plugin, protos only at this edge."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator

import grpc
from agenthost.v1 import plugin_pb2

from plugin_sdk.limits import quote
from plugin_sdk.types import ActionResult, Content, Memory, ModelOutput, ProviderResult, State
from plugin_sdk.wire import (
    action_result_from_proto,
    content_from_proto,
    fill_struct,
    memory_to_proto,
    model_output_from_proto,
    provider_result_from_proto,
    state_to_proto,
)

from .connection import PluginCallError, PluginConnection
from .manager import PluginManager

_EMPTY_STATE = state_to_proto(State())
_VALIDATE: dict[str, tuple[str, Any]] = {
    "action": ("ValidateActions", plugin_pb2.ValidateActionsRequest),
    "evaluator": ("ValidateEvaluators", plugin_pb2.ValidateEvaluatorsRequest),
}


class UnknownComponentError(LookupError):
    """No loaded plugin offers that component."""


class Verdicts(dict[str, bool]):
    """Validate calls' answers, name -> applies; `errors` says why for each component whose
    plugin did not answer (those count as not applying)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}


@dataclass(slots=True)
class ProviderOutcome:
    """A provider's result, or the error that kept it from answering."""

    name: str
    plugin: str
    result: ProviderResult | None
    error: str = ""


@dataclass(slots=True)
class EvaluatorOutcome:
    """An evaluator's validate verdict and, when it applied, its run's result.

    `error` set and `valid` false: its validate (or its plugin) did not answer, it did not run.
    `result` None with `valid` true: its run's call failed (`run_error` says why)."""

    name: str
    plugin: str
    valid: bool
    error: str = ""
    result: ActionResult | None = None
    run_error: str = ""


class Components:
    """The host-side API for calling actions, providers, evaluators, models and events."""

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager

    def _owner(self, kind: str, name: str) -> str:
        owner = self.manager.registry.owner(kind, name)
        if owner is None:
            raise UnknownComponentError(f"no loaded plugin offers {kind} {quote(name)}")
        return owner

    def _connection(self, plugin: str) -> PluginConnection:
        return self.manager.get(plugin).connection()

    async def get_providers(
        self, names: list[str], message: Memory, state: State | None = None
    ) -> list[ProviderOutcome]:
        """Run providers by name, one GetProviders call per plugin, all plugins at once.

        A provider whose plugin is down yields an outcome with `error` set; the rest still answer.
        """
        by_plugin: dict[str, list[str]] = {}
        for name in names:
            by_plugin.setdefault(self._owner("provider", name), []).append(name)
        message_pb = memory_to_proto(message)
        state_pb = state_to_proto(state) if state is not None else _EMPTY_STATE
        if len(by_plugin) == 1:
            ((plugin, wanted),) = by_plugin.items()
            return await self._ask_providers(plugin, wanted, message_pb, state_pb)  # in the order asked
        asked = (self._ask_providers(p, w, message_pb, state_pb) for p, w in by_plugin.items())
        outcomes = [o for group in await asyncio.gather(*asked) for o in group]
        order = {name: i for i, name in enumerate(names)}
        return sorted(outcomes, key=lambda o: order[o.name])

    async def _ask_providers(
        self, plugin: str, wanted: list[str], message_pb: Any, state_pb: Any
    ) -> list[ProviderOutcome]:
        """One plugin's GetProviders (nothing asked: no call)."""
        if not wanted:
            return []
        try:
            reply = await self._connection(plugin).call(
                "GetProviders", plugin_pb2.GetProvidersRequest(names=wanted, message=message_pb, state=state_pb)
            )
        except PluginCallError as exc:
            return [ProviderOutcome(n, plugin, None, str(exc)) for n in wanted]
        return _provider_outcomes(plugin, reply.results)

    async def compose(
        self, providers: list[str], actions: list[str], message: Memory, state: State | None = None
    ) -> tuple[list[ProviderOutcome], Verdicts]:
        """Run the named providers and validate the named actions, all plugins at once: one
        Compose round trip for a plugin with both, or its GetProviders and ValidateActions at
        once where it cannot take Compose. The validates see `state`, not the providers'
        results. Provider outcomes in the order of `providers`."""
        wanted: dict[str, tuple[list[str], list[str]]] = {}
        for name in providers:
            wanted.setdefault(self._owner("provider", name), ([], []))[0].append(name)
        for name in actions:
            wanted.setdefault(self._owner("action", name), ([], []))[1].append(name)
        message_pb = memory_to_proto(message)
        state_pb = state_to_proto(state) if state is not None else _EMPTY_STATE

        async def in_one(plugin: str, provider_names: list[str], action_names: list[str]) -> _Composed | None:
            request = plugin_pb2.ComposeRequest(
                provider_names=provider_names, action_names=action_names, message=message_pb, state=state_pb
            )
            try:
                reply = await self._session_only(plugin, "Compose", request)
            except PluginCallError as exc:
                why = str(exc)
                return [ProviderOutcome(n, plugin, None, why) for n in provider_names], [
                    (n, False, why) for n in action_names
                ]
            if reply is None:
                return None
            return _provider_outcomes(plugin, reply.providers), [(r.name, r.valid, r.error) for r in reply.actions]

        async def ask(plugin: str, provider_names: list[str], action_names: list[str]) -> _Composed:
            if provider_names and action_names:
                composed = await in_one(plugin, provider_names, action_names)
                if composed is not None:
                    return composed
            asked = await asyncio.gather(
                self._ask_providers(plugin, provider_names, message_pb, state_pb),
                self._ask_validate("action", plugin, action_names, message_pb, state_pb),
            )
            return asked[0], asked[1]

        outcomes: list[ProviderOutcome] = []
        verdicts = Verdicts()  # merged in the plugins' order, whichever answered first
        for found, answers in await asyncio.gather(*(ask(p, *w) for p, w in wanted.items())):
            outcomes.extend(found)
            _merge(verdicts, answers)
        if len(wanted) > 1:
            order = {name: i for i, name in enumerate(providers)}
            outcomes.sort(key=lambda o: order[o.name])
        return outcomes, verdicts

    async def validate_actions(self, names: list[str], message: Memory, state: State | None = None) -> Verdicts:
        """Which of the named actions apply to the message (a plugin that is down: none of its)."""
        return await self._validate("action", names, message, state)

    async def validate_evaluators(self, names: list[str], message: Memory, state: State | None = None) -> Verdicts:
        """Which of the named evaluators want to run on the message."""
        return await self._validate("evaluator", names, message, state)

    async def _validate(self, kind: str, names: list[str], message: Memory, state: State | None) -> Verdicts:
        by_plugin: dict[str, list[str]] = {}
        for name in names:
            by_plugin.setdefault(self._owner(kind, name), []).append(name)
        message_pb, state_pb = memory_to_proto(message), state_to_proto(state or State())
        verdicts = Verdicts()  # merged in the plugins' order, whichever answered first
        asked = (self._ask_validate(kind, p, w, message_pb, state_pb) for p, w in by_plugin.items())
        for answers in await asyncio.gather(*asked):
            _merge(verdicts, answers)
        return verdicts

    async def _ask_validate(
        self, kind: str, plugin: str, wanted: list[str], message_pb: Any, state_pb: Any
    ) -> list[tuple[str, bool, str]]:
        """One plugin's validate call: (name, valid, why not answered) for each of `wanted`
        (nothing asked: no call)."""
        if not wanted:
            return []
        method, request_type = _VALIDATE[kind]
        try:
            reply = await self._connection(plugin).call(
                method, request_type(names=wanted, message=message_pb, state=state_pb)
            )
        except PluginCallError as exc:
            return [(n, False, str(exc)) for n in wanted]
        return [(r.name, r.valid, r.error) for r in reply.results]  # error: its validate raised

    async def invoke_action(
        self, name: str, message: Memory, state: State | None = None, options: dict[str, Any] | None = None
    ) -> AsyncIterator[Content | ActionResult]:
        """Run an action: yields interim Content callbacks, then the ActionResult."""
        request = plugin_pb2.InvokeActionRequest(
            name=name, message=memory_to_proto(message), state=state_to_proto(state or State())
        )
        fill_struct(request.options, options or {})
        connection = self._connection(self._owner("action", name))
        async for event in connection.invoke_action(request):
            if event.HasField("callback"):
                yield content_from_proto(event.callback)
            else:
                yield action_result_from_proto(event.result)

    async def run_evaluator(
        self, name: str, message: Memory, state: State | None = None, responses: list[Memory] | None = None
    ) -> ActionResult:
        request = plugin_pb2.RunEvaluatorRequest(
            name=name,
            message=memory_to_proto(message),
            state=state_to_proto(state or State()),
            responses=[memory_to_proto(m) for m in responses or []],
        )
        reply = await self._connection(self._owner("evaluator", name)).call("RunEvaluator", request)
        return action_result_from_proto(reply.result)

    async def evaluate(
        self, names: list[str], message: Memory, state: State | None = None, responses: list[Memory] | None = None
    ) -> list[EvaluatorOutcome]:
        """Validate the named evaluators and run those that apply, all plugins at once: one
        Evaluate round trip per plugin, or ValidateEvaluators then RunEvaluator each for a plugin
        that cannot take it (no Session stream, an older SDK). Outcomes in the order of `names`."""
        by_plugin: dict[str, list[str]] = {}
        for name in names:
            by_plugin.setdefault(self._owner("evaluator", name), []).append(name)
        message_pb, state_pb = memory_to_proto(message), state_to_proto(state or State())
        responses_pb = [memory_to_proto(m) for m in responses or []]

        async def in_one(plugin: str, wanted: list[str]) -> list[EvaluatorOutcome] | None:
            request = plugin_pb2.EvaluateRequest(
                names=wanted, message=message_pb, state=state_pb, responses=responses_pb
            )
            try:
                reply = await self._session_only(plugin, "Evaluate", request)
            except PluginCallError as exc:
                return [EvaluatorOutcome(n, plugin, False, str(exc)) for n in wanted]
            if reply is None:
                return None
            return [
                EvaluatorOutcome(
                    r.name, plugin, r.valid, r.error, action_result_from_proto(r.result) if r.valid else None
                )
                for r in reply.results
            ]

        async def in_two(plugin: str, wanted: list[str]) -> list[EvaluatorOutcome]:
            verdicts = await self._validate("evaluator", wanted, message, state)
            outcomes = [EvaluatorOutcome(n, plugin, verdicts.get(n, False), verdicts.errors.get(n, "")) for n in wanted]

            async def run(outcome: EvaluatorOutcome) -> None:
                try:
                    outcome.result = await self.run_evaluator(outcome.name, message, state, responses)
                except (PluginCallError, LookupError) as exc:
                    outcome.run_error = str(exc)

            await asyncio.gather(*(run(o) for o in outcomes if o.valid))
            return outcomes

        async def ask(plugin: str, wanted: list[str]) -> list[EvaluatorOutcome]:
            outcomes = await in_one(plugin, wanted)
            return outcomes if outcomes is not None else await in_two(plugin, wanted)

        groups = await asyncio.gather(*(ask(p, w) for p, w in by_plugin.items()))
        found = {o.name: o for group in groups for o in group}
        return [found[n] for n in names if n in found]

    async def _session_only(self, plugin: str, method: str, request: Any) -> Any | None:
        """Call a Session-only method (SESSION_ONLY); None when the plugin cannot take it (no
        Session stream, an SDK from before the call), PluginCallError when the call failed."""
        connection = self._connection(plugin)
        if not connection.takes(method):
            return None
        try:
            return await connection.call(method, request)
        except PluginCallError as exc:
            if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise

    async def use_model(self, model_type: str, params: dict[str, Any]) -> ModelOutput:
        """Call the highest-priority ready plugin serving `model_type`; fall back to the next."""
        plugins = self.manager.registry.model_handlers(model_type)
        if not plugins:
            raise UnknownComponentError(f"no loaded plugin serves model type {quote(model_type)}")
        request = plugin_pb2.UseModelRequest(model_type=model_type)
        fill_struct(request.params, params)
        last: PluginCallError | None = None
        for plugin in plugins:
            try:
                reply = await self._connection(plugin).call("UseModel", request)
            except PluginCallError as exc:
                last = exc
                continue
            return model_output_from_proto(reply, served_by=plugin)
        assert last is not None
        raise last

    async def emit_event(self, event_type: str, payload: dict[str, Any], exclude: str = "") -> int:
        """Deliver an event to every subscribed plugin but `exclude`; returns how many took it."""
        request = plugin_pb2.HandleEventRequest(event_type=event_type)
        fill_struct(request.payload, payload)
        targets = [p for p in self.manager.registry.subscribers(event_type) if p != exclude]

        async def deliver(plugin: str) -> bool:
            try:
                await self._connection(plugin).call("HandleEvent", request)
                return True
            except PluginCallError:
                return False

        return sum(await asyncio.gather(*(deliver(p) for p in targets)))


_Composed = tuple[list[ProviderOutcome], list[tuple[str, bool, str]]]


def _provider_outcomes(plugin: str, results: Any) -> list[ProviderOutcome]:
    """A plugin's ProviderResults as outcomes (one with `error` set did not answer)."""
    return [
        ProviderOutcome(r.name, plugin, None if r.error else provider_result_from_proto(r), r.error) for r in results
    ]


def _merge(verdicts: Verdicts, answers: list[tuple[str, bool, str]]) -> None:
    for name, valid, error in answers:
        verdicts[name] = valid
        if error:
            verdicts.errors[name] = error
