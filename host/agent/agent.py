"""One agent of the host: its character, lifecycle, pipeline, models and memory scope.

A host runs several agents; they share the plugin processes, the router and the store, and each
has its own id (its store rows), its own router agent scope (`agent:<name>`) and its own runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Protocol

from plugin_sdk.types import Memory

from ..config import Grant
from ..memory import EmbeddingQueue, Knowledge
from ..memory.character_knowledge import learn_character_knowledge
from ..plugins.components import Components
from ..plugins.discovery import DiscoveryError
from ..plugins.manager import PluginConflict, PluginManager, PluginNotFound
from ..plugins.registry import Registry
from ..plugins.router_link import RouterLink
from ..plugins.settings import PluginSettings
from ..status import AgentInfo, Lifecycle
from ..store import Store
from ..store.records import Agent as AgentRow
from .character import Character
from .pipeline import Pipeline, PipelineSettings, RunEvent
from .plugin_names import host_stand_in, plugin_name
from .rooms import ROOM_TYPES
from .run_scope import AgentModels
from .warm_up import warm_up

log = logging.getLogger("host.agent")

LIFECYCLE_EVENT = "AGENT_LIFECYCLE"  # emitted to plugins subscribed to it, payload {agent_id, name, state}


class AgentError(Exception):
    """An agent cannot start or be found; the message says which and why."""


class UnknownAgent(AgentError):
    """No agent has that id or name; the message lists the agents."""


class DuplicateAgent(AgentError):
    """An agent with that id (or name) runs already."""


class MessageRouter(Protocol):
    """A deployment of several hosts (host/deployment): runs a message on the host owning its room."""

    def send(self, agent: Agent, message: Memory, room_type: str, forwarded: str) -> AsyncIterator[RunEvent]: ...


@dataclass
class SharedParts:
    """What every agent of a host shares: the store, the plugins and the router."""

    store: Store
    plugins: PluginManager
    components: Components
    router: RouterLink
    registry: Callable[[], Registry]
    pipeline_settings: PipelineSettings = field(default_factory=PipelineSettings)
    plugin_config: dict[str, dict[str, str]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)  # the config's [settings]
    secrets: dict[str, str] = field(default_factory=dict)  # the config's [secrets]
    grants: dict[str, Grant] = field(default_factory=dict)
    #: The deployment this host is one of (host/deployment): None for a host on its own.
    deployment: MessageRouter | None = None


class Agent:
    """One character running in the host. Created CREATED; `start` walks it to READY."""

    def __init__(self, agent_id: str, character: Character, parts: SharedParts) -> None:
        self.id = agent_id
        self.character = character
        self.parts = parts
        self.state = Lifecycle.CREATED
        self.reason = ""  # why it failed to start
        self.plugins: tuple[str, ...] = ()  # the plugins its character names, resolved (once loaded)
        self._named = frozenset(plugin_name(entry) for entry in character.plugins)
        self.models = AgentModels(parts.components, parts.router, character.name)
        self.settings = PluginSettings(
            own=parts.plugin_config,
            shared={**character.settings, **parts.settings},
            secrets={**character.secrets, **parts.secrets},
            grants=parts.grants,
        )
        self._pipeline: Pipeline | None = None
        self.embeddings: EmbeddingQueue | None = None
        self._learning: asyncio.Task[int] | None = None  # the character's knowledge being added
        self._warming: asyncio.Task[int] | None = None  # the reply prompt being read ahead (warm_up.py)

    @property
    def name(self) -> str:
        return self.character.name

    @property
    def pipeline(self) -> Pipeline:
        """Runs this agent's messages (once started)."""
        if self._pipeline is None:
            raise AgentError(f"agent {self.name} is {self.state.name}, not started")
        return self._pipeline

    @property
    def started(self) -> bool:
        """Whether its pipeline exists (it has started, and not failed to)."""
        return self._pipeline is not None

    def registry(self) -> Registry:
        """The components this agent's messages use: those of the plugins its character names
        (every plugin's when it names none)."""
        every = self.parts.registry()
        if not self._named:
            return every
        mine = {plugin: manifest for plugin, manifest in every.manifests.items() if plugin in self._named}
        return Registry(owners=every.owners, manifests=mine)

    def serves(self, plugin: str) -> bool:
        """Whether `plugin` may act for this agent: its character names it, or names none."""
        return not self._named or plugin in self._named

    async def start(self) -> None:
        """CREATED to READY: the store's row, the plugins its character names, the pipeline and the
        embedding queue. AgentError (state STOPPED, `reason` set) when a plugin it names is missing."""
        store = self.parts.store
        await self._enter(Lifecycle.INITIALIZING)
        await self._enter(Lifecycle.LOADING_CHARACTER)
        await store.upsert_agent(AgentRow(self.id, self.name))
        # On its own, the host ends the runs it left going when it was killed; in a deployment the
        # others may be running this agent's messages: runs of a host that left are ended by the
        # deployment's sweep instead (host/deployment).
        orphans = await store.interrupt_runs(self.id) if self.parts.deployment is None else []
        for run in orphans:
            log.warning(
                "agent %s: run %s (room %s, message %s) never ended: the host stopped during it; ended as %s",
                self.name,
                run.id,
                run.room_id,
                run.message_id,
                run.status,
                extra={"agent_id": self.id},
            )
        await self._enter(Lifecycle.LOADING_PLUGINS)
        try:
            self.plugins = await self._load_plugins()
        except AgentError as exc:
            self.reason = str(exc)
            await self._enter(Lifecycle.STOPPED)
            raise
        await self._enter(Lifecycle.STARTING_SERVICES)
        parts = self.parts
        self._pipeline = Pipeline(
            self.id, self.character, store, parts.components, self.models, self.registry, parts.pipeline_settings
        )
        self.embeddings = EmbeddingQueue(store, self.models, self.id)
        self.embeddings.start()  # waits for an embedding model on its own, retrying
        if self.character.knowledge:  # learned in the background: READY does not wait for it
            learning = learn_character_knowledge(Knowledge(store, self.embeddings, self.id), self.character.knowledge)
            self._learning = asyncio.create_task(learning, name=f"knowledge-{self.name}")
        # The reply prompt's start read ahead by a local model (a first reply then reads ~130
        # tokens, not ~480); in the background: READY does not wait for it.
        reading = warm_up(self.models, self.character, parts.pipeline_settings.model_type)
        self._warming = asyncio.create_task(reading, name=f"warm-up-{self.name}")
        await self._enter(Lifecycle.READY)

    async def _load_plugins(self) -> tuple[str, ...]:
        """The plugins the character names, loaded (an installed one not loaded yet is started)."""
        manager, names = self.parts.plugins, []
        for entry in self.character.plugins:
            name = plugin_name(entry)
            if name in manager.plugins:
                names.append(name)
                continue
            try:
                await manager.load(name)
            except (PluginNotFound, DiscoveryError) as exc:
                stand_in = host_stand_in(entry)
                if stand_in:
                    log.info("agent %s: %s needs no plugin here (%s does its work)", self.name, entry, stand_in)
                    continue
                where = f" ({self.character.source})" if self.character.source else ""
                raise AgentError(f"character {self.name}{where} names plugin {entry!r}, which is not loaded: {exc}")
            except PluginConflict:
                pass  # loaded meanwhile (another agent asked for it too)
            names.append(name)
        return tuple(names)

    async def _enter(self, state: Lifecycle) -> None:
        """Move to `state`: a log record and an AGENT_LIFECYCLE event to subscribed plugins."""
        self.state = state
        level = logging.INFO if state is Lifecycle.READY else logging.DEBUG  # the others are steps
        log.log(level, "agent %s (%s): %s", self.name, self.id, state.name, extra={"agent_id": self.id})
        payload = {"agent_id": self.id, "name": self.name, "state": state.name}
        try:
            await self.parts.components.emit_event(LIFECYCLE_EVENT, payload)
        except Exception as exc:  # a plugin that cannot take the event does not stop the lifecycle
            log.debug("agent %s: %s event not delivered: %s", self.name, LIFECYCLE_EVENT, exc)

    async def send(self, message: Memory, room_type: str = "", forwarded: str = "") -> AsyncIterator[RunEvent]:
        """Run `message` (its room made on its first message, of `room_type`: the pipeline's
        rooms), yielding the run's events. The run goes on if the caller stops listening. In a
        deployment it runs on the host owning its room (`forwarded`: the host that sent it here)."""
        if room_type.strip().lower() not in ROOM_TYPES:
            raise ValueError(f"room_type {room_type!r} is not one of {', '.join(t for t in ROOM_TYPES if t)}")
        deployment = self.parts.deployment
        events = (
            self.pipeline.send(message, room_type)
            if deployment is None
            else deployment.send(self, message, room_type, forwarded)
        )
        async for event in events:
            yield event

    async def stop(self) -> None:
        """Stop its runs (they end `interrupted`) and its embedding queue; its stored memory stays."""
        if self.state in (Lifecycle.STOPPING, Lifecycle.STOPPED):
            return
        if self.state is Lifecycle.CREATED:  # never started: nothing to stop
            self.state = Lifecycle.STOPPED
            return
        await self._enter(Lifecycle.STOPPING)
        if self._pipeline is not None:
            await self._pipeline.close()
        for task in (self._learning, self._warming):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.embeddings is not None:
            await self.embeddings.stop()
        await self._enter(Lifecycle.STOPPED)

    def info(self) -> AgentInfo:
        """The agent as status reports it."""
        source = str(self.character.source or "")
        return AgentInfo(self.id, self.name, self.state, self.plugins, self.reason, source)

    def running_runs(self) -> int:
        """How many runs are going."""
        return self._pipeline.running if self._pipeline is not None else 0
