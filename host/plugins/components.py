"""Calling plugin components by name: one round trip per plugin, protos only at this edge."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, TypeVar

import grpc
import tenacity
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

from . import deadlines
from .breakers import Breakers
from .connection import PluginCallError, PluginConnection, PluginNotReached, PluginUnavailable
from .manager import PluginManager, PluginNotFound
from .registry import DuplicateComponent
from .supervisor import PluginState

T = TypeVar("T")
_EMPTY_STATE = state_to_proto(State())
#: Plugin states a transient failure may pass in: the plugin serves again soon.
_COMING_BACK = frozenset({PluginState.READY, PluginState.RESTARTING, PluginState.STARTING})
_VALIDATE: dict[str, tuple[str, Any]] = {
    "action": ("ValidateActions", plugin_pb2.ValidateActionsRequest),
    "evaluator": ("ValidateEvaluators", plugin_pb2.ValidateEvaluatorsRequest),
}
#: Calls that change nothing in the plugin: tried again after a transient failure even when they
#: may have reached it. The others (actions, evaluator runs, model calls) only when they provably
#: did not (PluginNotReached); events are not tried again.
_IDEMPOTENT = frozenset({"GetProviders", "Compose", "ValidateActions", "ValidateEvaluators"})
RETRY_INITIAL_S, RETRY_MAX_S = 0.05, 1.0  # the jittered exponential backoff between tries
#: Failures that are the caller's (a request the plugin refuses as asked, a call it does not
#: know, a caller that went away): they say nothing of the component's health.
_NOT_ITS_FAULT = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.CANCELLED})


async def until_deadline(
    once: Callable[[float], Awaitable[T]], timeout: float, transient: Callable[[BaseException], bool]
) -> T:
    """`once(time left)`, and while it fails `transient`ly again, with jittered exponential
    backoff (tenacity), until `timeout` s from now; then its last failure is raised. The first
    try costs no more than the call itself. Plugin calls (Components) and router calls
    (host.agent.models) wait for a restarting process with it."""
    ends = time.monotonic() + timeout
    try:
        return await once(timeout)
    except Exception as exc:
        if not transient(exc):
            raise
    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(transient),
        wait=tenacity.wait_exponential_jitter(multiplier=RETRY_INITIAL_S, max=RETRY_MAX_S, jitter=RETRY_INITIAL_S),
        stop=tenacity.stop_before_delay(max(0.0, ends - time.monotonic())),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await once(max(ends - time.monotonic(), 0.001))
    raise AssertionError("tenacity ended without an outcome")  # reraise=True: never here


class UnknownComponentError(LookupError):
    """No loaded plugin offers that component."""


class Verdicts(dict[str, bool]):
    """Validate calls' answers, name -> applies; `errors` says why for each component whose
    plugin did not answer (those count as not applying)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}


def _timed(outcomes: list[ProviderOutcome], began: float) -> list[ProviderOutcome]:
    """The outcomes, each with the time since `began` (perf_counter) as its call's round trip."""
    ms = round((time.perf_counter() - began) * 1000, 3)
    for outcome in outcomes:
        outcome.ms = ms
    return outcomes


@dataclass(slots=True)
class ProviderOutcome:
    """A provider's result, or the error that kept it from answering."""

    name: str
    plugin: str
    result: ProviderResult | None
    error: str = ""
    ms: float = 0.0  # the round trip of the plugin call that answered it (one call answers a plugin's all)


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
    """The host-side API for calling actions, providers, evaluators, models and events.

    Each call has its kind's deadline ([supervision] provider_timeout, action_timeout, ...),
    cut to what is left of its run's (deadlines.py). A transient failure (the plugin
    restarting, its stream broken) is tried again with jittered backoff within that deadline,
    when trying again cannot repeat the call's work: providers and validates always, the
    others only when the call provably did not reach the plugin. Each component has a circuit
    breaker (`breakers`): while it is open the component is skipped at once, and its outcome
    (or error) says "breaker open". Failures of the plugin itself (down, restarting, killed
    mid-call) do not count toward its components' breakers: its supervisor handles those."""

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self.breakers: Breakers = manager.breakers
        s = manager.ctx.supervision
        self.run_timeout = s.run_timeout  # a run's deadline (the pipeline's: deadlines.run_deadline)
        provider, evaluator = min(s.provider_timeout, s.call_timeout), min(s.evaluator_timeout, s.call_timeout)
        self._timeouts: dict[str, float] = {
            "GetProviders": provider,
            "Compose": provider,
            "ValidateActions": provider,
            "ValidateEvaluators": evaluator,
            "RunEvaluator": evaluator,
            "Evaluate": evaluator,
            "InvokeAction": min(s.action_timeout, s.call_timeout),
            "UseModel": min(s.model_timeout, s.call_timeout),
            "HandleEvent": s.call_timeout,
        }

    def _owner(self, kind: str, name: str) -> str:
        owner = self.manager.registry.owner(kind, name)
        if owner is None:
            raise UnknownComponentError(f"no loaded plugin offers {kind} {quote(name)}")
        return owner

    def _connection(self, plugin: str) -> PluginConnection:
        """The plugin's connection now; PluginNotReached when it cannot take calls (restarting, ...)."""
        try:
            return self.manager.get(plugin).connection()
        except PluginUnavailable as exc:
            raise PluginNotReached(str(exc), exc.code) from None

    async def _call(self, plugin: str, method: str, request: Any, again: bool = True) -> Any:
        """One unary call with its kind's deadline (capped by the run's), tried `again` while it
        fails transiently (see _try)."""

        def once(timeout: float) -> Awaitable[Any]:
            return self._connection(plugin).call(method, request, timeout)

        return await self._try(plugin, method, once, again)

    async def _try(self, plugin: str, method: str, once: Callable[[float], Awaitable[T]], again: bool = True) -> T:
        """`once(timeout)`, tried again while it fails transiently (_transient) until the call's
        deadline (see until_deadline)."""

        def transient(exc: BaseException) -> bool:
            return again and isinstance(exc, PluginCallError) and self._transient(plugin, method, exc)

        return await until_deadline(once, deadlines.capped(self._timeouts[method]), transient)

    def _transient(self, plugin: str, method: str, exc: PluginCallError) -> bool:
        """Whether trying the call again may help and cannot repeat its work: the plugin is
        unavailable for now (not failed or stopped for good), and the call is idempotent or was
        not sent."""
        if not isinstance(exc, PluginUnavailable) or exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return False
        if method not in _IDEMPOTENT and not isinstance(exc, PluginNotReached):
            return False
        managed = self.manager.plugins.get(plugin)
        return managed is not None and managed.state in _COMING_BACK

    def _ended(
        self, plugin: str, kind: str, names: Iterable[str], exc: PluginCallError | None, late_is_theirs: bool = True
    ) -> None:
        """A call for the named components failed (`exc`) or was given up (None): their breakers
        count it as a failure unless it was not theirs (the caller's request, the run's deadline,
        a deadline passed when not `late_is_theirs`, or the plugin unavailable: down, restarting,
        its stream broken by its process dying, stopped; its supervisor restarts and reports it,
        and the restarted plugin's components must not come back behind open breakers)."""
        late = exc is not None and exc.code == grpc.StatusCode.DEADLINE_EXCEEDED
        theirs = (
            exc is not None
            and exc.code not in _NOT_ITS_FAULT
            and not isinstance(exc, PluginUnavailable)
            and not (late and (not late_is_theirs or deadlines.run_over()))
        )
        judge = self.breakers.failed if theirs else self.breakers.abandoned
        for name in names:
            judge((plugin, kind, name))

    def _judging(self, plugin: str, kind: str, names: Iterable[str], late_is_theirs: bool = True) -> _Judging:
        """A block making a call for the named components: its failure (or its being given up)
        is told to their breakers (see _ended); its answers are told by the caller (_answered)."""
        return _Judging(self._ended, plugin, kind, names, late_is_theirs)

    def _answered(self, plugin: str, kind: str, answers: Iterable[tuple[str, str]]) -> None:
        """Components that answered (name, error): an error counts as their failure."""
        breakers = self.breakers
        for name, error in answers:
            (breakers.failed if error else breakers.succeeded)((plugin, kind, name))

    def _let_through(self, kind: str, names: Iterable[str]) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
        """The named components by owner whose breakers let a call go now, and (name, plugin,
        why) for those skipped."""
        by_plugin: dict[str, list[str]] = {}
        refused: list[tuple[str, str, str]] = []
        refusal = self.breakers.refusal
        for name in names:
            plugin = self._owner(kind, name)
            why = refusal((plugin, kind, name))
            if why:
                refused.append((name, plugin, why))
            else:
                by_plugin.setdefault(plugin, []).append(name)
        return by_plugin, refused

    async def get_providers(
        self, names: list[str], message: Memory, state: State | None = None
    ) -> list[ProviderOutcome]:
        """Run providers by name, one GetProviders call per plugin, all plugins at once.

        A provider whose plugin is down, or whose breaker is open, yields an outcome with
        `error` set; the rest still answer.
        """
        by_plugin, refused = self._let_through("provider", names)
        message_pb = memory_to_proto(message)
        state_pb = state_to_proto(state) if state is not None else _EMPTY_STATE
        if len(by_plugin) == 1 and not refused:
            ((plugin, wanted),) = by_plugin.items()
            return await self._ask_providers(plugin, wanted, message_pb, state_pb)  # in the order asked
        asked = (self._ask_providers(p, w, message_pb, state_pb) for p, w in by_plugin.items())
        outcomes = [o for group in await asyncio.gather(*asked) for o in group]
        outcomes.extend(ProviderOutcome(n, p, None, why) for n, p, why in refused)
        order = {name: i for i, name in enumerate(names)}
        return sorted(outcomes, key=lambda o: order[o.name])

    async def _ask_providers(
        self, plugin: str, wanted: list[str], message_pb: Any, state_pb: Any
    ) -> list[ProviderOutcome]:
        """One plugin's GetProviders (nothing asked: no call)."""
        if not wanted:
            return []
        request = plugin_pb2.GetProvidersRequest(names=wanted, message=message_pb, state=state_pb)
        began = time.perf_counter()
        try:
            with self._judging(plugin, "provider", wanted):
                reply = await self._call(plugin, "GetProviders", request)
        except PluginCallError as exc:
            return [ProviderOutcome(n, plugin, None, str(exc)) for n in wanted]
        self._answered(plugin, "provider", ((r.name, r.error) for r in reply.results))
        return _timed(_provider_outcomes(plugin, reply.results), began)

    async def compose(
        self, providers: list[str], actions: list[str], message: Memory, state: State | None = None
    ) -> tuple[list[ProviderOutcome], Verdicts]:
        """Run the named providers and validate the named actions, all plugins at once: one
        Compose round trip for a plugin with both, or its GetProviders and ValidateActions at
        once where it cannot take Compose. The validates see `state`, not the providers'
        results. Provider outcomes in the order of `providers`; components whose breaker is
        open are skipped (outcome or verdict error "breaker open ...")."""
        wanted: dict[str, tuple[list[str], list[str]]] = {}
        by_plugin, refused = self._let_through("provider", providers)
        for plugin, names in by_plugin.items():
            wanted[plugin] = (names, [])
        by_plugin, refused_actions = self._let_through("action", actions)
        for plugin, names in by_plugin.items():
            wanted.setdefault(plugin, ([], []))[1].extend(names)
        message_pb = memory_to_proto(message)
        state_pb = state_to_proto(state) if state is not None else _EMPTY_STATE

        async def in_one(plugin: str, provider_names: list[str], action_names: list[str]) -> _Composed | None:
            request = plugin_pb2.ComposeRequest(
                provider_names=provider_names, action_names=action_names, message=message_pb, state=state_pb
            )
            began = time.perf_counter()
            try:
                # A Compose that times out: the providers are the slow ones, not the validates.
                judging_validates = self._judging(plugin, "action", action_names, late_is_theirs=False)
                with self._judging(plugin, "provider", provider_names), judging_validates:
                    reply = await self._session_only(plugin, "Compose", request)
            except PluginCallError as exc:
                why = str(exc)
                return [ProviderOutcome(n, plugin, None, why) for n in provider_names], [
                    (n, False, why) for n in action_names
                ]
            if reply is None:
                return None
            self._answered(plugin, "provider", ((r.name, r.error) for r in reply.providers))
            self._answered(plugin, "action", ((r.name, r.error) for r in reply.actions))
            found = _timed(_provider_outcomes(plugin, reply.providers), began)
            return found, [(r.name, r.valid, r.error) for r in reply.actions]

        async def ask(plugin: str, provider_names: list[str], action_names: list[str]) -> _Composed:
            if provider_names and action_names:
                composed = await in_one(plugin, provider_names, action_names)
                if composed is not None:
                    return composed
            if not action_names:  # providers alone: awaited as they are, without two tasks for a gather
                return await self._ask_providers(plugin, provider_names, message_pb, state_pb), []
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
        _merge(verdicts, [(n, False, why) for n, _, why in refused_actions])
        if refused:
            outcomes.extend(ProviderOutcome(n, p, None, why) for n, p, why in refused)
        if len(wanted) > 1 or refused:
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
        by_plugin, refused = self._let_through(kind, names)
        message_pb, state_pb = memory_to_proto(message), state_to_proto(state or State())
        verdicts = Verdicts()  # merged in the plugins' order, whichever answered first
        asked = (self._ask_validate(kind, p, w, message_pb, state_pb) for p, w in by_plugin.items())
        for answers in await asyncio.gather(*asked):
            _merge(verdicts, answers)
        _merge(verdicts, [(n, False, why) for n, _, why in refused])
        return verdicts

    async def _ask_validate(
        self, kind: str, plugin: str, wanted: list[str], message_pb: Any, state_pb: Any
    ) -> list[tuple[str, bool, str]]:
        """One plugin's validate call: (name, valid, why not answered) for each of `wanted`
        (nothing asked: no call)."""
        if not wanted:
            return []
        method, request_type = _VALIDATE[kind]
        request = request_type(names=wanted, message=message_pb, state=state_pb)
        try:
            with self._judging(plugin, kind, wanted):
                reply = await self._call(plugin, method, request)
        except PluginCallError as exc:
            return [(n, False, str(exc)) for n in wanted]
        self._answered(plugin, kind, ((r.name, r.error) for r in reply.results))
        return [(r.name, r.valid, r.error) for r in reply.results]  # error: its validate raised

    def _refuse(self, kind: str, name: str) -> str:
        """The component's owner, its breaker's trial call taken if half-open; PluginCallError
        (UNAVAILABLE) when its breaker is open."""
        plugin = self._owner(kind, name)
        why = self.breakers.refusal((plugin, kind, name))
        if why:
            raise PluginCallError(f"{kind} {quote(name)} of plugin {plugin!r} skipped: {why}")
        return plugin

    async def invoke_action(
        self, name: str, message: Memory, state: State | None = None, options: dict[str, Any] | None = None
    ) -> AsyncIterator[Content | ActionResult]:
        """Run an action: yields interim Content callbacks, then the ActionResult; on the plugin's
        Session stream when it serves actions there, else as an InvokeAction call (the same
        deadline, breaker accounting and errors either way). Tried again only when it did not
        reach its plugin (an action may have done its work already)."""
        plugin = self._refuse("action", name)
        request = plugin_pb2.InvokeActionRequest(
            name=name, message=memory_to_proto(message), state=state_to_proto(state or State())
        )
        fill_struct(request.options, options or {})

        async def start(timeout: float) -> tuple[AsyncIterator[Any], Any]:
            events = self._connection(plugin).invoke_action(request, timeout)
            return events, await anext(events, None)

        with self._judging(plugin, "action", (name,)):
            events, event = await self._try(plugin, "InvokeAction", start)
            while event is not None:
                if event.HasField("callback"):
                    yield content_from_proto(event.callback)
                else:
                    yield action_result_from_proto(event.result)
                event = await anext(events, None)
        self.breakers.succeeded((plugin, "action", name))

    async def run_evaluator(
        self, name: str, message: Memory, state: State | None = None, responses: list[Memory] | None = None
    ) -> ActionResult:
        plugin = self._refuse("evaluator", name)
        request = plugin_pb2.RunEvaluatorRequest(
            name=name,
            message=memory_to_proto(message),
            state=state_to_proto(state or State()),
            responses=[memory_to_proto(m) for m in responses or []],
        )
        with self._judging(plugin, "evaluator", (name,)):
            reply = await self._call(plugin, "RunEvaluator", request)
        self.breakers.succeeded((plugin, "evaluator", name))
        return action_result_from_proto(reply.result)

    async def evaluate(
        self, names: list[str], message: Memory, state: State | None = None, responses: list[Memory] | None = None
    ) -> list[EvaluatorOutcome]:
        """Validate the named evaluators and run those that apply, all plugins at once: one
        Evaluate round trip per plugin, or ValidateEvaluators then RunEvaluator each for a plugin
        that cannot take it (no Session stream, an older SDK). Outcomes in the order of `names`;
        an evaluator whose breaker is open is skipped (not valid, `error` says why)."""
        by_plugin, refused = self._let_through("evaluator", names)
        message_pb, state_pb = memory_to_proto(message), state_to_proto(state or State())
        responses_pb = [memory_to_proto(m) for m in responses or []]

        async def in_one(plugin: str, wanted: list[str]) -> list[EvaluatorOutcome] | None:
            request = plugin_pb2.EvaluateRequest(
                names=wanted, message=message_pb, state=state_pb, responses=responses_pb
            )
            try:
                with self._judging(plugin, "evaluator", wanted):
                    reply = await self._session_only(plugin, "Evaluate", request)
            except PluginCallError as exc:
                return [EvaluatorOutcome(n, plugin, False, str(exc)) for n in wanted]
            if reply is None:
                return None
            self._answered(plugin, "evaluator", ((r.name, r.error) for r in reply.results))
            return [
                EvaluatorOutcome(
                    r.name, plugin, r.valid, r.error, action_result_from_proto(r.result) if r.valid else None
                )
                for r in reply.results
            ]

        async def in_two(plugin: str, wanted: list[str]) -> list[EvaluatorOutcome]:
            verdicts = Verdicts()
            _merge(verdicts, await self._ask_validate("evaluator", plugin, wanted, message_pb, state_pb))
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
        found.update((n, EvaluatorOutcome(n, p, False, why)) for n, p, why in refused)
        return [found[n] for n in names if n in found]

    async def _session_only(self, plugin: str, method: str, request: Any) -> Any | None:
        """Call a Session-only method (SESSION_ONLY); None when the plugin cannot take it (no
        Session stream, an SDK from before the call), PluginCallError when the call failed."""
        try:
            if not self._connection(plugin).takes(method):
                return None
        except PluginNotReached:
            return None  # restarting: the calls that do its work apart wait for it (_try)
        try:
            return await self._call(plugin, method, request)
        except PluginCallError as exc:
            if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise

    async def refresh_manifest(self, plugin: str) -> str:
        """Read a running plugin's manifest again (it emitted MANIFEST_CHANGED: its components
        changed) and register it; "" when done, else why not (the old manifest stays)."""
        try:
            instance = self.manager.get(plugin).instance
            if instance is None:
                return f"plugin {plugin!r} is not running"
            manifest = await instance.connection.describe(self._timeouts["HandleEvent"])
            self.manager.registry.register(plugin, manifest)
        except (PluginCallError, PluginNotFound, DuplicateComponent) as exc:
            return f"plugin {plugin!r}'s new manifest was not taken: {exc}"
        instance.manifest = manifest
        return ""

    async def use_model(self, model_type: str, params: dict[str, Any]) -> ModelOutput:
        """Call the highest-priority ready plugin serving `model_type`; fall back to the next (a
        plugin whose breaker for the model type is open is passed over at once)."""
        plugins = self.manager.registry.model_handlers(model_type)
        if not plugins:
            raise UnknownComponentError(f"no loaded plugin serves model type {quote(model_type)}")
        request = plugin_pb2.UseModelRequest(model_type=model_type)
        fill_struct(request.params, params)
        last: PluginCallError | None = None
        for index, plugin in enumerate(plugins, 1):
            key = (plugin, "model", model_type)
            why = self.breakers.refusal(key)
            if why:
                last = PluginCallError(f"plugin {plugin!r} model {quote(model_type)} skipped: {why}")
                continue
            try:
                with self._judging(plugin, "model", (model_type,)):
                    # waiting for a restart only where no other plugin serves the type
                    reply = await self._call(plugin, "UseModel", request, again=index == len(plugins))
            except PluginCallError as exc:
                last = exc
                continue
            self.breakers.succeeded(key)
            return model_output_from_proto(reply, served_by=plugin)
        assert last is not None
        raise last

    async def emit_event(self, event_type: str, payload: dict[str, Any], exclude: str = "") -> int:
        """Deliver an event to every subscribed plugin but `exclude`; returns how many took it."""
        request = plugin_pb2.HandleEventRequest(event_type=event_type)
        fill_struct(request.payload, payload)
        targets = [p for p in self.manager.registry.subscribers(event_type) if p != exclude]

        timeout = deadlines.capped(self._timeouts["HandleEvent"])

        async def deliver(plugin: str) -> bool:
            try:  # not tried again: a run awaits its events, and one plugin restarting must not hold it
                await self._connection(plugin).call("HandleEvent", request, timeout)
                return True
            except PluginCallError:
                return False

        return sum(await asyncio.gather(*(deliver(p) for p in targets)))


class _Judging:
    """See Components._judging (a plain class: cheaper than contextlib's, it runs on every call)."""

    __slots__ = ("ended", "plugin", "kind", "names", "late_is_theirs")

    def __init__(
        self, ended: Callable[..., None], plugin: str, kind: str, names: Iterable[str], late_is_theirs: bool
    ) -> None:
        self.ended, self.plugin, self.kind, self.names, self.late_is_theirs = ended, plugin, kind, names, late_is_theirs

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            failed = exc if isinstance(exc, PluginCallError) else None
            self.ended(self.plugin, self.kind, self.names, failed, self.late_is_theirs)


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
