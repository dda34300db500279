"""The host: lifecycle (create, initialize, load characters, load plugins, start services,
ready, stop, clean up), the agents it runs and the gRPC servers around them."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypeVar

import grpc

from plugin_sdk.protocol import HOST_SOCKET

from . import __version__, tracing
from .agent.agent import Agent, AgentError, DuplicateAgent, SharedParts, UnknownAgent
from .agent.character import Character, load_character
from .agent.models import Models
from .agent.pipeline import Pipeline, PipelineSettings
from .api.agent_service import AgentServicer, character_from_json
from .api.runtime_service import RuntimeServicer
from .api.server import start_plugin_server, start_public_server
from .config import Grant, HostConfig, character_files, unix_path
from .deployment.deployment import AGENT_OP, PLUGIN_OP, PLUGIN_OPS, Deployment
from .deployment.settings import TLS_CA_ENV
from .figures import measured
from .logs import LogBuffer, attach, redact_values
from .mcp.runtime import start_character_servers, stop_character_servers
from .mcp.servers import host_servers
from .memory import EmbeddingQueue
from .plugins.components import Components
from .plugins.discovery import Discovery
from .plugins.instance import LaunchContext
from .plugins.manager import PluginManager
from .plugins.router_link import RouterLink
from .plugins.sockets import make_socket_dir
from .plugins.supervisor import PluginState
from .plugins.tokens import TokenBook
from .status import AgentInfo, HostStatus, Lifecycle
from .store import Store, open_store, redact
from .store.data_dir import api_token

log = logging.getLogger("host")


T = TypeVar("T")


class Face(Protocol):
    """A server in front of a started host (the HTTP face), stopped first when the host stops."""

    url: str

    async def stop(self) -> None: ...


def _started(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the host is not started")
    return part


class Host:
    """A host process and the agents it runs (one or several, sharing plugins, router and store)."""

    def __init__(
        self, config: HostConfig, log_buffer: LogBuffer | None = None, discovery: Discovery | None = None
    ) -> None:
        self.config = config
        self.discovery = discovery or Discovery(config.allow)
        self.log_buffer = log_buffer or LogBuffer()
        self.lifecycle = Lifecycle.CREATED
        self.agents: dict[str, Agent] = {}  # by id, in the order they were added
        # The first agent's: what calls that name no agent act for (kept current by _default_changed).
        self.character: Character | None = None
        self.agent_id = config.agent_id
        self.embeddings: EmbeddingQueue | None = None  # memories get vectors in the background
        self.address = ""
        self.api_token = ""  # what clients send as `authorization: Bearer <token>` (after start)
        self.started_at = time.monotonic()
        self.tokens = TokenBook()
        self.socket_dir: Path | None = None
        self._store: Store | None = None
        self._plugins: PluginManager | None = None
        self._components: Components | None = None
        self._router: RouterLink | None = None
        self._parts: SharedParts | None = None
        self._agents_lock = asyncio.Lock()  # one add or remove at a time
        self._servers: list[grpc.aio.Server] = []
        # The HTTP face (config.http), its bound address in http.url: served by whoever runs the
        # host (host.http.server.serve_http_of, after start), as host.http depends on this module.
        self.http: Face | None = None
        self.load_errors: list[str] = []
        self.deployment: Deployment | None = None  # when config.deployment has a queue_url

    async def start(self) -> None:
        """Run the lifecycle up to READY. Plugins that fail to start are reported, not fatal; an
        agent that cannot start (a plugin its character names is missing) is (AgentError)."""
        self.lifecycle = Lifecycle.INITIALIZING
        attach(self.log_buffer)
        tracing.configure(self.config.path)  # on when the OTel environment or [tracing] names an exporter
        self.socket_dir = make_socket_dir()
        self.lifecycle = Lifecycle.LOADING_CHARACTER
        characters = [load_character(path) for path in character_files(self.config)]
        ids = self._agent_ids(characters)
        first = characters[0]
        self._store = await self._open_store()
        # The plugins' way back in: a socket file (any gRPC stack can dial one) in the private
        # socket directory, 0600; each plugin's calls carry its own token.
        plugin_socket = self.socket_dir / HOST_SOCKET
        ctx = LaunchContext(
            socket_dir=self.socket_dir,
            supervision=self.config.supervision,
            runtime_address=f"unix://{plugin_socket}",
            public_address=self.config.listen,
            public_tls=self.config.tls is not None,
            agent_id=ids[0],  # the first agent's; calls for the others name theirs (RuntimeService)
            agent_name=first.name,
            plugin_config=self.config.plugin_config,
            issue_token=self.tokens.issue,
            revoke_token=self.tokens.revoke,
            grants=self.config.grants,
        )
        try:
            servers = host_servers(self.config.mcp, {c.name: c.setting_values for c in characters})
        except ValueError as exc:
            raise AgentError(str(exc)) from None
        ctx.grants = {**self.config.grants, **{s.plugin: Grant(env=s.env) for s in servers.values()}}
        configured = {name: server.spec() for name, server in servers.items()}
        self._plugins = PluginManager(ctx, self.discovery, self.config.remote, configured)
        self._components = Components(self._plugins)
        self._router = RouterLink(self.config, ctx)
        self._parts = SharedParts(
            store=self._store,
            plugins=self._plugins,
            components=self._components,
            router=self._router,
            registry=lambda: self.plugins.registry,
            pipeline_settings=PipelineSettings(attachments=self.config.attachments, admission=self.config.admission),
            plugin_config=self.config.plugin_config,
            settings=self.config.settings,
            secrets=self.config.secrets,
            grants=self.config.grants,
        )
        await self._start_servers(plugin_socket)
        ctx.public_address = self.address  # the bound address (a port of 0 is now real)
        if self.config.deployment.enabled:
            self.deployment = self._deployment()
            self._parts.deployment = self.deployment
            self._parts.pipeline_settings = replace(self._parts.pipeline_settings, host_id=self.deployment.host_id)
        for agent_id, character in zip(ids, characters):
            self.agents[agent_id] = Agent(agent_id, character, self._parts)
        self._default_changed()
        self.lifecycle = Lifecycle.LOADING_PLUGINS
        # The router takes seconds to import its libraries: start it beside the plugins.
        self.load_errors, _ = await asyncio.gather(self.plugins.load_all(), self.router.start())
        self.lifecycle = Lifecycle.STARTING_SERVICES
        self.load_errors += await self.plugins.start_services()
        for error in self.load_errors:
            log.error("%s", error)
        for agent in list(self.agents.values()):
            await agent.start()
        self._default_changed()  # the first agent's embedding queue exists now
        if self.deployment is not None:  # rooms are taken once the agents can run them
            await self.deployment.start()
        self.lifecycle = Lifecycle.READY
        log.info(
            "%d agent(s) (%s) %s on %s with %d plugin(s)",
            len(self.agents),
            ", ".join(a.name for a in self.agents.values()),
            "ready" if self._all_ready() else "degraded",
            self.address,
            len(self.plugins.plugins),
        )

    def _deployment(self) -> Deployment:
        """This host's part in the deployment: the store must be one every host reaches."""
        if not self.config.database.url:
            raise AgentError(
                "a deployment of several hosts needs a shared PostgreSQL store: set [database] url "
                "(or $AGENTHOST_DATABASE_URL); SQLite is one host's"
            )
        deployment = Deployment(
            self.config.deployment,
            self.address,
            self.api_token,
            self.store,
            lambda: list(self.agents.values()),
            self.config.supervision.run_timeout,
            lambda: sorted(self.plugins.plugins),
            self._deployment_ca(),
        )
        deployment.subscribe(PLUGIN_OP, self._plugin_op_elsewhere)
        deployment.subscribe(AGENT_OP, self._agent_op_elsewhere)
        return deployment

    def _deployment_ca(self) -> str:
        """The CA the other hosts' certificates are checked with when this host serves TLS (they
        do too): [deployment] tls_ca, else $AGENTHOST_TLS_CA, else this host's own certificate."""
        if self.config.tls is None:
            return ""
        return self.config.deployment.tls_ca or os.environ.get(TLS_CA_ENV, "") or self.config.tls.cert_file

    async def plugin_changed(self, op: str, name: str) -> None:
        """A plugin was loaded, unloaded or reloaded here: the deployment's other hosts do the same."""
        if self.deployment is not None:
            await self.deployment.publish(PLUGIN_OP, {"op": op, "name": name})

    async def _plugin_op_elsewhere(self, payload: dict[str, object]) -> None:
        """Another host of the deployment changed a plugin: do the same here (a failure is logged)."""
        op, name = str(payload.get("op", "")), str(payload.get("name", ""))
        if op not in PLUGIN_OPS or not name:
            log.warning("deployment: ignored a plugin operation %r", payload)
            return
        log.info("deployment: %s plugin %s, as another host did", op, name)
        try:
            await getattr(self.plugins, op)(name)
        except Exception as exc:  # the plugin may be missing here, or loaded already: said, not fatal
            log.error("deployment: could not %s plugin %s on this host as another host did: %s", op, name, exc)

    async def _agent_op_elsewhere(self, payload: dict[str, object]) -> None:
        """Another host of the deployment added or removed an agent: do the same here."""
        op, agent_id = payload.get("op"), str(payload.get("id", ""))
        try:
            if op == "add":
                character = character_from_json(str(payload.get("json", "")))
                if agent_id not in self.agents:
                    await self.add_agent(character, agent_id)
            elif op == "remove" and agent_id in self.agents:
                await self.remove_agent(agent_id)
        except Exception as exc:  # said, not fatal: the other hosts still run it
            log.error("deployment: could not %s agent %s as another host did: %s", op, agent_id, exc)

    def _agent_ids(self, characters: list[Character]) -> list[str]:
        """Each character's agent id (the config's `agent_id` when there is one agent); the same id
        twice is an AgentError naming both."""
        if len(characters) == 1 and self.config.agent_id:
            return [self.config.agent_id]
        ids: dict[str, Character] = {}
        for character in characters:
            other = ids.get(character.agent_id)
            if other is not None:
                raise AgentError(_same_id(character.agent_id, other, character))
            if any(c.name == character.name for c in ids.values()):
                raise AgentError(f"two characters are named {character.name!r} (the router's budget scope): rename one")
            ids[character.agent_id] = character
        return list(ids)

    def _default_changed(self) -> None:
        """Calls that name no agent act for the first one; keep its id, character and queue at hand."""
        first = next(iter(self.agents.values()), None)
        self.agent_id = first.id if first else self.config.agent_id
        self.character = first.character if first else None
        self.embeddings = first.embeddings if first else None

    async def add_agent(self, character: Character, agent_id: str = "", character_json: str = "") -> Agent:
        """Start an agent while the host runs; AgentError when its id is taken or it cannot start.
        In a deployment the other hosts add it too, from `character_json` (else its file's text)."""
        async with self._agents_lock:
            agent_id = agent_id or character.agent_id
            if agent_id in self.agents:
                raise DuplicateAgent(_same_id(agent_id, self.agents[agent_id].character, character))
            if any(a.name == character.name for a in self.agents.values()):
                raise DuplicateAgent(f"an agent named {character.name!r} is running already: rename the character")
            redact_values(character.secrets.values())  # hidden from the logs before it can log them
            running = [a.character for a in self.agents.values()]
            await start_character_servers(self.plugins, self.config.mcp, running, character)  # its settings.mcp servers
            agent = Agent(agent_id, character, _started(self._parts))
            await agent.start()  # AgentError leaves it out
            self.agents[agent_id] = agent
            self._default_changed()
        if self.deployment is not None:
            if not character_json and character.source:  # read again only to tell the others
                try:
                    character_json = await asyncio.to_thread(Path(character.source).read_text, encoding="utf-8")
                except OSError as exc:
                    log.error("deployment: agent %s not added on the other hosts: %s", character.name, exc)
            if character_json:
                await self.deployment.publish(AGENT_OP, {"op": "add", "id": agent_id, "json": character_json})
        return agent

    async def remove_agent(self, key: str) -> tuple[Agent, int]:
        """Stop an agent (its runs end `interrupted`; its stored memory stays) and forget it; the
        agent and how many runs were going. AgentError when there is no such agent."""
        async with self._agents_lock:
            agent = self.find_agent(key)
            going = agent.running_runs()
            del self.agents[agent.id]
            self._default_changed()
        await agent.stop()
        remaining = [a.character for a in self.agents.values()]
        await stop_character_servers(self.plugins, self.config.mcp, remaining, agent.character)
        if self.deployment is not None:
            await self.deployment.publish(AGENT_OP, {"op": "remove", "id": agent.id})
        return agent, going

    def find_agent(self, key: str) -> Agent:
        """The agent with id or name `key` ("" names the only agent); AgentError listing the agents."""
        if not key and len(self.agents) == 1:
            return next(iter(self.agents.values()))
        agent = self.agents.get(key) or next((a for a in self.agents.values() if a.name == key), None)
        if agent is None:
            listed = ", ".join(f"{a.name} ({a.id})" for a in self.agents.values()) or "none (agenthost agents add FILE)"
            said = f"no agent {key!r}" if key else "name an agent" if self.agents else "the host runs no agent"
            raise UnknownAgent(f"{said}; agents: {listed}")
        return agent

    async def _open_store(self) -> Store:
        """The configured store, migrated (each agent ends the runs a killed host left going)."""
        database = self.config.database
        store = await open_store(database.url, self.config.data_dir, database.max_content_bytes, database.vector_search)
        log.debug("store: %s", redact(database.url) if database.url else self.config.data_dir)
        return store

    async def _start_servers(self, plugin_socket: Path) -> None:
        parts = (self.tokens, self.store, self.components, lambda: list(self.agents.values()))
        self._servers = [await start_plugin_server(plugin_socket, RuntimeServicer(*parts, public=False))]
        self.api_token = api_token(self.config.data_dir, self.config.api_token)
        public, self.address = await start_public_server(
            self.config.listen,
            self.config.tls,
            self.api_token,
            AgentServicer(self),
            RuntimeServicer(*parts, public=True),
            self.router,
        )
        self._servers.append(public)

    @property
    def plugins(self) -> PluginManager:
        """The plugin manager (after start)."""
        return _started(self._plugins)

    @property
    def components(self) -> Components:
        """Calls into plugin components by name (after start)."""
        return _started(self._components)

    @property
    def router(self) -> RouterLink:
        """Where model calls go (after start)."""
        return _started(self._router)

    @property
    def models(self) -> Models:
        """The first agent's model calls: the router, or plugin model handlers without one."""
        return self.find_agent(self.agent_id).models

    @property
    def pipeline(self) -> Pipeline:
        """Runs the first agent's incoming messages (after start)."""
        return self.find_agent(self.agent_id).pipeline

    @property
    def store(self) -> Store:
        """The host's store (after start)."""
        return _started(self._store)

    def state(self) -> Lifecycle:
        """The lifecycle state; READY becomes DEGRADED while a plugin or the router is not ready, or
        a local model of the router's is down (the router serves on; its status reason says why)."""
        if self.lifecycle is Lifecycle.READY and not self._all_ready():
            return Lifecycle.DEGRADED
        return self.lifecycle

    def _all_ready(self) -> bool:
        # The router is ready when it serves with all its local models (one down: DEGRADED, the reason says which).
        router = self._router
        router_ready = router is None or (
            router.status().state in (PluginState.READY, PluginState.STOPPED) and not router.local_down
        )
        return self._plugins is not None and self._plugins.all_ready() and router_ready

    def status(self) -> HostStatus:
        """The host and every plugin as GetStatus reports them, with their figures (host.figures)."""
        status = HostStatus(
            agent_id=self.agent_id,
            agent_name=self.character.name if self.character else "",
            state=self.state(),
            uptime_ms=int((time.monotonic() - self.started_at) * 1000),
            version=__version__,
            router=self._router.status() if self._router else None,
            plugins=self._plugins.statuses() if self._plugins else [],
            agents=self.agent_infos(),
            deployment=self.deployment.info() if self.deployment is not None else None,
        )
        return measured(status, self.agents.values(), self._router.cache if self._router else None)

    def agent_infos(self) -> list[AgentInfo]:
        """Every agent, in the order they were added."""
        return [agent.info() for agent in self.agents.values()]

    async def stop(self) -> None:
        """Stop services and plugins, close the servers and the store, remove sockets."""
        if self.lifecycle in (Lifecycle.STOPPING, Lifecycle.STOPPED):
            return
        self.lifecycle = Lifecycle.STOPPING
        if self.deployment is not None:  # its rooms go to the other hosts once their runs here end
            await self.deployment.stop()
        if self.http is not None:  # no new HTTP requests while the agents stop
            await self.http.stop()
        await asyncio.gather(*(agent.stop() for agent in self.agents.values()))
        if self._plugins is not None:
            await self._plugins.stop_all()
        if self._router is not None:
            await self._router.stop()
        await asyncio.gather(*(server.stop(grace=1.0) for server in self._servers))
        if self._store is not None:
            await self._store.close()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        socket_path = unix_path(self.config.listen)
        if socket_path and self.address:  # only a socket this host bound
            Path(socket_path).unlink(missing_ok=True)
        self.lifecycle = Lifecycle.STOPPED
        log.debug("host stopped")
        logging.getLogger().removeHandler(self.log_buffer)


def _same_id(agent_id: str, one: Character, other: Character) -> str:
    where = " and ".join(f"{c.name} ({c.source or 'no file'})" for c in (one, other))
    return f"agents {where} have the same id {agent_id}: give one an `id` in its character file or another name"
