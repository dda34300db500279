"""The host: lifecycle (create, initialize, load character, load plugins, start services,
ready, stop, clean up) and the gRPC servers around it."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import TypeVar

import grpc

from plugin_sdk.protocol import HOST_SOCKET

from . import __version__
from .agent.character import Character, load_character
from .agent.models import Models
from .agent.pipeline import Pipeline, PipelineSettings
from .api.agent_service import AgentServicer
from .api.runtime_service import RuntimeServicer
from .api.server import start_plugin_server, start_public_server
from .config import HostConfig, unix_path
from .logs import LogBuffer, attach
from .memory import EmbeddingQueue
from .plugins.components import Components
from .plugins.discovery import Discovery
from .plugins.instance import LaunchContext
from .plugins.manager import PluginManager
from .plugins.router_link import RouterLink
from .plugins.settings import PluginSettings
from .plugins.sockets import make_socket_dir
from .plugins.supervisor import PluginState
from .plugins.tokens import TokenBook
from .status import HostStatus, Lifecycle
from .store import Store, open_store, redact
from .store.data_dir import api_token

log = logging.getLogger("host")


T = TypeVar("T")


def _started(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the host is not started")
    return part


class Host:
    """One agent's host process."""

    def __init__(
        self, config: HostConfig, log_buffer: LogBuffer | None = None, discovery: Discovery | None = None
    ) -> None:
        self.config = config
        self.discovery = discovery or Discovery(config.allow)
        self.log_buffer = log_buffer or LogBuffer()
        self.lifecycle = Lifecycle.CREATED
        self.character: Character | None = None
        self.agent_id = config.agent_id
        self.address = ""
        self.api_token = ""  # what clients send as `authorization: Bearer <token>` (after start)
        self.started_at = time.monotonic()
        self.tokens = TokenBook()
        self.socket_dir: Path | None = None
        self._store: Store | None = None
        self._plugins: PluginManager | None = None
        self._components: Components | None = None
        self._router: RouterLink | None = None
        self._models: Models | None = None
        self._pipeline: Pipeline | None = None
        self.embeddings: EmbeddingQueue | None = None  # memories get vectors in the background
        self._servers: list[grpc.aio.Server] = []
        self.load_errors: list[str] = []

    async def start(self) -> None:
        """Run the lifecycle up to READY. Plugins that fail to start are reported, not fatal."""
        self.lifecycle = Lifecycle.INITIALIZING
        attach(self.log_buffer)
        self.socket_dir = make_socket_dir()
        self.lifecycle = Lifecycle.LOADING_CHARACTER
        self.character = load_character(self.config.character)
        self.agent_id = self.config.agent_id or self.character.agent_id
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
            agent_id=self.agent_id,
            agent_name=self.character.name,
            plugin_config=self.config.plugin_config,
            issue_token=self.tokens.issue,
            revoke_token=self.tokens.revoke,
            grants=self.config.grants,
        )
        self._plugins = PluginManager(ctx, self.discovery, self.config.remote)
        self._components = Components(self._plugins)
        self._router = RouterLink(self.config, ctx)
        self._models = Models(self._components, self._router, self.character.name)
        self._pipeline = Pipeline(
            self.agent_id,
            self.character,
            self._store,
            self._components,
            self._models,
            lambda: self.plugins.registry,
            PipelineSettings(attachments=self.config.attachments),
        )
        self.embeddings = EmbeddingQueue(self._store, self._models, self.agent_id)
        self.embeddings.start()  # waits for an embedding model on its own, retrying
        await self._start_servers(plugin_socket)
        ctx.public_address = self.address  # the bound address (a port of 0 is now real)
        self.lifecycle = Lifecycle.LOADING_PLUGINS
        # The router takes seconds to import its libraries: start it beside the plugins.
        self.load_errors, _ = await asyncio.gather(self.plugins.load_all(), self.router.start())
        self.lifecycle = Lifecycle.STARTING_SERVICES
        self.load_errors += await self.plugins.start_services()
        for error in self.load_errors:
            log.error("%s", error)
        self.lifecycle = Lifecycle.READY
        log.info(
            "agent %s (%s) %s on %s with %d plugin(s)",
            self.character.name,
            self.agent_id,
            "ready" if self._all_ready() else "degraded",
            self.address,
            len(self.plugins.plugins),
        )

    async def _open_store(self) -> Store:
        """The configured store, migrated; runs a killed host left going are ended `interrupted`."""
        database = self.config.database
        store = await open_store(database.url, self.config.data_dir, database.max_content_bytes)
        log.debug("store: %s", redact(database.url) if database.url else self.config.data_dir)
        for run in await store.interrupt_runs(self.agent_id):
            log.warning(
                "run %s (room %s, message %s) never ended: the host stopped during it; ended as %s",
                run.id,
                run.room_id,
                run.message_id,
                run.status,
            )
        return store

    async def _start_servers(self, plugin_socket: Path) -> None:
        assert self.character is not None
        settings = PluginSettings(
            own=self.config.plugin_config,
            shared={**self.character.settings, **self.config.settings},
            secrets={**self.character.secrets, **self.config.secrets},
            grants=self.config.grants,
        )
        parts = (self.tokens, self.store, self.components, self.models, self.agent_id, settings)
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
        """Model calls: the router, or plugin model handlers without one (after start)."""
        return _started(self._models)

    @property
    def pipeline(self) -> Pipeline:
        """Runs incoming messages (after start)."""
        return _started(self._pipeline)

    @property
    def store(self) -> Store:
        """The host's store (after start)."""
        return _started(self._store)

    def state(self) -> Lifecycle:
        """The lifecycle state; READY becomes DEGRADED while a plugin or the router is not ready."""
        if self.lifecycle is Lifecycle.READY and not self._all_ready():
            return Lifecycle.DEGRADED
        return self.lifecycle

    def _all_ready(self) -> bool:
        router_ready = self._router is None or self._router.status().state in (PluginState.READY, PluginState.STOPPED)
        return self._plugins is not None and self._plugins.all_ready() and router_ready

    def status(self) -> HostStatus:
        """The host and every plugin as GetStatus reports them."""
        return HostStatus(
            agent_id=self.agent_id,
            agent_name=self.character.name if self.character else "",
            state=self.state(),
            uptime_ms=int((time.monotonic() - self.started_at) * 1000),
            version=__version__,
            router=self._router.status() if self._router else None,
            plugins=self._plugins.statuses() if self._plugins else [],
        )

    async def stop(self) -> None:
        """Stop services and plugins, close the servers and the store, remove sockets."""
        if self.lifecycle in (Lifecycle.STOPPING, Lifecycle.STOPPED):
            return
        self.lifecycle = Lifecycle.STOPPING
        if self._pipeline is not None:
            await self._pipeline.close()
        if self._plugins is not None:
            await self._plugins.stop_all()
        if self._router is not None:
            await self._router.stop()
        await asyncio.gather(*(server.stop(grace=1.0) for server in self._servers))
        if self.embeddings is not None:
            await self.embeddings.stop()
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
