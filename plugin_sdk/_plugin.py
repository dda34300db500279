"""The Plugin object: what a plugin author declares with decorators."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any, Awaitable, Callable, TypeVar, Union

from agenthost.v1 import plugin_pb2

F = TypeVar("F", bound=Callable[..., Any])
Handler = Callable[..., Union[Any, Awaitable[Any]]]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(f"{kind} name {name!r} must start with a letter and hold only letters, digits, _ . -")
    return name


@dataclass
class ActionDef:
    name: str
    description: str
    handler: Handler
    similes: list[str] = field(default_factory=list)
    examples: list[list[dict[str, Any]]] = field(default_factory=list)
    validate: Handler | None = None


@dataclass
class ProviderDef:
    name: str
    description: str
    get: Handler
    position: int = 0
    dynamic: bool = False
    private: bool = False


@dataclass
class EvaluatorDef:
    name: str
    description: str
    handler: Handler
    always_run: bool = False
    similes: list[str] = field(default_factory=list)
    validate: Handler | None = None


@dataclass
class ServiceDef:
    name: str
    description: str
    factory: Callable[[], Any]


@dataclass
class ModelDef:
    model_type: str
    handler: Handler
    priority: int = 0


class Plugin:
    """A plugin's components, declared with decorators and served with `serve(plugin)`.

    Handlers may be `async def` (preferred) or plain functions; plain functions
    run on the plugin's event loop, so they must not block.
    """

    def __init__(
        self,
        name: str,
        version: str = "0.0.0",
        description: str = "",
        dependencies: list[str] | None = None,
        priority: int = 0,
    ) -> None:
        self.name = _check_name("plugin", name)
        self.version = version
        self.description = description
        self.dependencies = list(dependencies or [])
        self.priority = priority
        self.actions: dict[str, ActionDef] = {}
        self.providers: dict[str, ProviderDef] = {}
        self.evaluators: dict[str, EvaluatorDef] = {}
        self.services: dict[str, ServiceDef] = {}
        self.models: dict[str, ModelDef] = {}
        self.events: dict[str, list[Handler]] = {}
        self.init_hooks: list[Handler] = []

    def _add(self, table: dict[str, Any], kind: str, name: str, item: Any) -> None:
        _check_name(kind, name)
        if name in table:
            raise ValueError(f"plugin {self.name!r} declares {kind} {name!r} twice")
        table[name] = item

    def action(
        self,
        name: str,
        description: str = "",
        similes: list[str] | None = None,
        examples: list[list[dict[str, Any]]] | None = None,
        validate: Handler | None = None,
    ) -> Callable[[F], F]:
        """Declare an action: `handler(ctx, message, state, options, callback) -> ActionResult`.

        `callback(Content)` sends interim content to the host while the action runs.
        `validate(ctx, message, state) -> bool` says whether the action applies.
        `examples` are conversations: lists of {"speaker", "text", "actions"}.
        """

        def register(fn: F) -> F:
            self._add(
                self.actions,
                "action",
                name,
                ActionDef(
                    name,
                    description or (fn.__doc__ or "").strip(),
                    fn,
                    list(similes or []),
                    list(examples or []),
                    validate,
                ),
            )
            return fn

        return register

    def provider(
        self, name: str, description: str = "", position: int = 0, dynamic: bool = False, private: bool = False
    ) -> Callable[[F], F]:
        """Declare a provider: `get(ctx, message, state) -> ProviderResult` (or str, or None).

        Providers add context to the prompt: for every message the host asks them all at once,
        orders their answers by `position` (lower first), puts each one's text in the prompt
        under its name, merges its `values` into the state and keeps its `data` by name. A
        failing provider is skipped (the run lists it) and the others still answer.

        `dynamic=True` (context that is costly or rarely needed) and `private=True` (context
        that must not reach the model unless wanted) both leave the provider out of that
        per-message composition: it runs only when asked for by name (GetProviders). The host's
        pipeline does not ask for providers by name today, so such a provider is declared and
        listed but not called by the host yet.
        """

        def register(fn: F) -> F:
            self._add(
                self.providers,
                "provider",
                name,
                ProviderDef(name, description or (fn.__doc__ or "").strip(), fn, position, dynamic, private),
            )
            return fn

        return register

    def evaluator(
        self,
        name: str,
        description: str = "",
        always_run: bool = False,
        similes: list[str] | None = None,
        validate: Handler | None = None,
    ) -> Callable[[F], F]:
        """Declare an evaluator: `handler(ctx, message, state, responses) -> ActionResult | None`.

        Evaluators run after the agent has replied and run its actions, with `responses`, the
        memories it said. By default an evaluator runs only when the agent said something;
        `always_run=True` runs it for every message, `responses` then possibly empty.
        `validate(ctx, message, state) -> bool`, if given, is asked first and the evaluator
        runs only when it returns true (a validate that raises skips it, and the run says why).
        """

        def register(fn: F) -> F:
            self._add(
                self.evaluators,
                "evaluator",
                name,
                EvaluatorDef(
                    name, description or (fn.__doc__ or "").strip(), fn, always_run, list(similes or []), validate
                ),
            )
            return fn

        return register

    def service(self, name: str, description: str = "") -> Callable[[F], F]:
        """Declare a service: a class whose instances have `async start(ctx)` and `async stop()`.

        The host makes one instance per plugin process and starts it after Init (once every
        plugin is initialised) and stops it before the process ends. Handlers reach the
        running instance with `ctx.service(name)`.
        """

        def register(cls: F) -> F:
            for method in ("start", "stop"):
                if not callable(getattr(cls, method, None)):
                    raise TypeError(f"service {name!r} must define {method}()")
            self._add(self.services, "service", name, ServiceDef(name, description or (cls.__doc__ or "").strip(), cls))
            return cls

        return register

    def model(self, model_type: str, priority: int = 0) -> Callable[[F], F]:
        """Declare a model handler: `handler(ctx, params: dict) -> str | list[float] | dict | ModelOutput`."""

        def register(fn: F) -> F:
            self._add(self.models, "model handler", model_type, ModelDef(model_type, fn, priority))
            return fn

        return register

    def event(self, event_type: str) -> Callable[[F], F]:
        """Subscribe to an event type: `handler(ctx, payload: dict)`."""

        def register(fn: F) -> F:
            _check_name("event", event_type)
            self.events.setdefault(event_type, []).append(fn)
            return fn

        return register

    def on_init(self, fn: F) -> F:
        """Run `fn(ctx)` once when the host initialises the plugin."""
        self.init_hooks.append(fn)
        return fn

    def manifest(self) -> plugin_pb2.PluginManifest:
        """The manifest Describe returns."""
        return plugin_pb2.PluginManifest(
            name=self.name,
            version=self.version,
            description=self.description,
            actions=[
                plugin_pb2.ActionSpec(
                    name=a.name,
                    description=a.description,
                    similes=a.similes,
                    examples=[
                        plugin_pb2.ActionExampleConversation(
                            turns=[
                                plugin_pb2.ActionExample(
                                    speaker=t.get("speaker", ""), text=t.get("text", ""), actions=t.get("actions", [])
                                )
                                for t in conversation
                            ]
                        )
                        for conversation in a.examples
                    ],
                )
                for a in self.actions.values()
            ],
            providers=[
                plugin_pb2.ProviderSpec(
                    name=p.name, description=p.description, position=p.position, dynamic=p.dynamic, private=p.private
                )
                for p in self.providers.values()
            ],
            evaluators=[
                plugin_pb2.EvaluatorSpec(
                    name=e.name, description=e.description, always_run=e.always_run, similes=e.similes
                )
                for e in self.evaluators.values()
            ],
            services=[plugin_pb2.ServiceSpec(name=s.name, description=s.description) for s in self.services.values()],
            model_handlers=[
                plugin_pb2.ModelHandlerSpec(model_type=m.model_type, priority=m.priority) for m in self.models.values()
            ],
            events=sorted(self.events),
            dependencies=self.dependencies,
            priority=self.priority,
        )


async def call(fn: Handler, *args: Any) -> Any:
    """Call a handler that may be sync or async."""
    result = fn(*args)
    if type(result) is CoroutineType or inspect.isawaitable(result):  # the first test is the cheap, common one
        result = await result
    return result
