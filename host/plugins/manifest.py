"""What a plugin offers, as the host keeps it: the manifest its Describe returns, read once
into these dataclasses (by `connection.PluginConnection.describe`), and its checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


class ManifestError(ValueError):
    """A manifest the host will not register; the message names the plugin and the field."""


@dataclass(frozen=True)
class ExampleTurn:
    """One turn of an action's example conversation."""

    speaker: str  # "user" or "agent"
    text: str
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    name: str
    description: str = ""
    similes: tuple[str, ...] = ()
    examples: tuple[tuple[ExampleTurn, ...], ...] = ()


@dataclass(frozen=True)
class Provider:
    name: str
    description: str = ""
    position: int = 0  # order in state composition; lower runs first
    dynamic: bool = False  # runs only when asked for by name
    private: bool = False  # never included unless asked for by name


@dataclass(frozen=True)
class Evaluator:
    name: str
    description: str = ""
    always_run: bool = False  # runs even when the agent did not reply
    similes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    description: str = ""


@dataclass(frozen=True)
class ModelHandler:
    model_type: str  # e.g. "TEXT_SMALL"
    priority: int = 0  # higher wins when several plugins serve one model type

    @property
    def name(self) -> str:
        return self.model_type


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component: how messages name it and where a manifest lists it."""

    name: str  # "action": what messages say
    field: str  # "actions": the manifest's field, and the key in status documents
    key: str = "name"  # the field that names one component
    exclusive: bool = True  # one plugin owns a name (several may serve one model type)


COMPONENT_KINDS = (
    ComponentKind("action", "actions"),
    ComponentKind("provider", "providers"),
    ComponentKind("evaluator", "evaluators"),
    ComponentKind("service", "services"),
    ComponentKind("model handler", "model_handlers", key="model_type", exclusive=False),
)
"""Every kind of component, in the order status shows them."""


@dataclass(frozen=True)
class Manifest:
    """Everything one plugin offers."""

    name: str
    version: str
    description: str = ""
    actions: tuple[Action, ...] = ()
    providers: tuple[Provider, ...] = ()
    evaluators: tuple[Evaluator, ...] = ()
    services: tuple[Service, ...] = ()
    model_handlers: tuple[ModelHandler, ...] = ()
    events: tuple[str, ...] = ()  # event types delivered through HandleEvent
    dependencies: tuple[str, ...] = ()  # plugins that must be initialised first
    priority: int = 0  # higher is initialised first

    def names(self, kind: ComponentKind) -> list[str]:
        """The names of this plugin's components of one kind, in manifest order."""
        components: tuple[Action | Provider | Evaluator | Service | ModelHandler, ...] = getattr(self, kind.field)
        return [c.name for c in components]

    def component_names(self) -> dict[str, list[str]]:
        """Every component name by kind field ("actions", ...), for status."""
        return {kind.field: self.names(kind) for kind in COMPONENT_KINDS}


def check_manifest(expected_name: str, manifest: Manifest) -> None:
    """Raise ManifestError for the first problem found in `manifest`."""
    problems: list[str] = []
    if manifest.name != expected_name:
        problems.append(f"name is {manifest.name!r}, expected {expected_name!r}")
    if not manifest.version:
        problems.append("version is empty")
    for kind in COMPONENT_KINDS:
        seen: set[str] = set()
        for index, value in enumerate(manifest.names(kind)):
            if not _NAME.match(value):
                problems.append(f"{kind.name} #{index + 1} has an invalid {kind.key} {value!r}")
            elif value in seen:
                problems.append(f"{kind.name} {value!r} is listed twice")
            seen.add(value)
    for event in manifest.events:
        if not _NAME.match(event):
            problems.append(f"event subscription {event!r} is not a valid event type")
    if problems:
        raise ManifestError(
            f"plugin {expected_name!r} sent an invalid manifest: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
