"""What the host reports about itself: its lifecycle state and its status."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .plugins.supervisor import PluginInfo

if TYPE_CHECKING:
    from .process_stats import ProcessSample
    from .run_stats import RunFigures


class Lifecycle(enum.Enum):
    """The host's lifecycle, and each agent's, in order; DEGRADED (the host only) is READY with a
    plugin or the router not ready, or with a local model of the router's down."""

    CREATED = "created"
    INITIALIZING = "initializing"
    LOADING_CHARACTER = "loading_character"
    LOADING_PLUGINS = "loading_plugins"
    STARTING_SERVICES = "starting_services"
    READY = "ready"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class AgentInfo:
    """One agent, as GetStatus and ListAgents report it."""

    id: str
    name: str
    state: Lifecycle
    plugins: tuple[str, ...] = ()  # the plugins its character names, resolved
    reason: str = ""  # why it is not running, if it failed to start
    source: str = ""  # its character file


@dataclass(frozen=True)
class CacheFigures:
    """The router's response cache, as it last reported it (its ListProviders, every health interval)."""

    hits: int
    misses: int
    entries: int
    max_entries: int
    ttl_s: float

    @property
    def hit_rate(self) -> float:
        """Hits over lookups; 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


@dataclass(frozen=True)
class HostFigures:
    """What the host measures of itself: its process's and its plugins' memory and CPU, its
    agents' runs, and its router's response cache. (The plugins' circuit breakers are in their
    PluginInfo.)"""

    process: ProcessSample | None  # the host's own process
    processes: dict[int, ProcessSample]  # the plugins' and the router's processes, by pid
    runs: RunFigures  # every agent's runs together
    agent_runs: dict[str, RunFigures]  # each agent's, by agent id
    router_cache: CacheFigures | None = None  # None: no router, or it has not answered yet


@dataclass(frozen=True)
class DeploymentHostInfo:
    """One host of a deployment as the coordination database last had it."""

    host_id: str
    address: str
    heartbeat_age_s: float
    stopping: bool
    partitions: tuple[int, ...]
    running_runs: int = 0
    active_rooms: int = 0
    messages: int = 0
    plugins: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeploymentInfo:
    """The deployment this host is one of."""

    host_id: str
    partitions: int
    hosts: list[DeploymentHostInfo]
    waiting_messages: int  # held by the hosts, waiting for a room's owner
    lagging_runs: int  # waiting for their room's turn or a run slot, over every host


@dataclass(frozen=True)
class HostStatus:
    """The host and every plugin, as GetStatus reports them."""

    agent_id: str
    agent_name: str
    state: Lifecycle
    uptime_ms: int
    version: str
    router: PluginInfo | None  # None before the host has started
    plugins: list[PluginInfo] = field(default_factory=list)
    agents: list[AgentInfo] = field(default_factory=list)
    figures: HostFigures | None = None  # filled by figures.measured
    deployment: DeploymentInfo | None = None  # None: a host on its own
