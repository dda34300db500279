"""The host: lifecycle (create, initialize, load character, load plugins, start services,
ready, stop, clean up) and the gRPC servers around it."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import TypeVar

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, runtime_pb2, runtime_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import __version__
from .agent.character import Character, load_character
from .agent.models import Models
from .agent.pipeline import Pipeline
from .api.agent_service import AgentServicer, plugin_status, router_status
from .api.router_forwarding import forwarding_handler
from .api.runtime_service import RuntimeServicer
from .config import HostConfig
from .logs import LogBuffer, attach
from .plugins.components import Components
from .plugins.discovery import Discovery
from .plugins.instance import LaunchContext
from .plugins.manager import PluginManager
from .plugins.router_link import RouterLink
from .plugins.sockets import make_socket_dir
from .plugins.tokens import TokenBook
from .store import SQLiteStore, Store

log = logging.getLogger("host")


class Lifecycle(enum.Enum):
    CREATED = agent_pb2.LIFECYCLE_STATE_CREATED
    INITIALIZING = agent_pb2.LIFECYCLE_STATE_INITIALIZING
    LOADING_CHARACTER = agent_pb2.LIFECYCLE_STATE_LOADING_CHARACTER
    LOADING_PLUGINS = agent_pb2.LIFECYCLE_STATE_LOADING_PLUGINS
    STARTING_SERVICES = agent_pb2.LIFECYCLE_STATE_STARTING_SERVICES
    READY = agent_pb2.LIFECYCLE_STATE_READY
    STOPPING = agent_pb2.LIFECYCLE_STATE_STOPPING
    STOPPED = agent_pb2.LIFECYCLE_STATE_STOPPED


def unix_path(address: str) -> str | None:
    """The socket path of a 'unix:///path' or 'unix:path' address, else None."""
    if address.startswith("unix://"):
        return address[len("unix://") :]
    if address.startswith("unix:"):
        return address[len("unix:") :]
    return None


def _refuse_live_socket(listen: str) -> None:
    """gRPC replaces an existing unix socket file when it binds; refuse if a live server owns it."""
    path = unix_path(listen)
    if not path or not os.path.exists(path):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return  # a stale file from a dead process: gRPC replaces it
    raise OSError(f"cannot listen on {listen}: another process is serving there")


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
        self.started_at = time.monotonic()
        self.tokens = TokenBook()
        self.socket_dir: Path | None = None
        self._store: Store | None = None
        self._plugins: PluginManager | None = None
        self._components: Components | None = None
        self._router: RouterLink | None = None
        self._models: Models | None = None
        self._pipeline: Pipeline | None = None
        self._server: grpc.aio.Server | None = None
        self.load_errors: list[str] = []

    async def start(self) -> None:
        """Run the lifecycle up to READY. Plugins that fail to start are reported, not fatal."""
        self.lifecycle = Lifecycle.INITIALIZING
        attach(self.log_buffer)
        self.socket_dir = make_socket_dir()
        self.lifecycle = Lifecycle.LOADING_CHARACTER
        self.character = load_character(self.config.character)
        self.agent_id = self.config.agent_id or self.character.agent_id
        self._store = await SQLiteStore.open(self.config.data_dir / "agenthost.db")
        # The plugins' way back in. An abstract socket (Linux) leaves no file behind even
        # if the host is SIGKILLed; every call on it is token-authenticated.
        runtime_address = f"unix-abstract:agenthost-{os.getpid()}-{self.socket_dir.name}"
        ctx = LaunchContext(
            socket_dir=self.socket_dir,
            supervision=self.config.supervision,
            runtime_address=runtime_address,
            public_address=self.config.listen,
            agent_id=self.agent_id,
            agent_name=self.character.name,
            plugin_config=self.config.plugin_config,
            issue_token=self.tokens.issue,
            revoke_token=self.tokens.revoke,
        )
        self._plugins = PluginManager(ctx, self.discovery, self.config.remote)
        self._components = Components(self._plugins)
        self._router = RouterLink(self.config, ctx)
        self._models = Models(self._components, self._router, self.character.name)
        self._pipeline = Pipeline(
            self.agent_id, self.character, self._store, self._components, self._models, lambda: self.plugins.registry
        )
        await self._start_server(runtime_address)
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

    async def _start_server(self, runtime_address: str) -> None:
        assert self.character is not None
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(self), server)
        settings = {**self.character.settings, **self.config.settings}
        runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(
            RuntimeServicer(
                self.tokens,
                self.store,
                self.components,
                self.models,
                self.agent_id,
                settings,
                self.config.plugin_config,
            ),
            server,
        )
        server.add_generic_rpc_handlers((forwarding_handler(self.router),))
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = (
            agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
            runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"].full_name,
            router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name,
        )
        reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        _refuse_live_socket(self.config.listen)
        try:
            port = server.add_insecure_port(self.config.listen)
        except RuntimeError:
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {self.config.listen}: the address is in use or not this machine's")
        server.add_insecure_port(runtime_address)
        await server.start()
        for name in ("", *names):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        listen = self.config.listen
        self.address = listen if listen.startswith("unix:") else f"{listen.rsplit(':', 1)[0]}:{port}"

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

    def state(self) -> int:
        if self.lifecycle is Lifecycle.READY and not self._all_ready():
            return agent_pb2.LIFECYCLE_STATE_DEGRADED
        return self.lifecycle.value

    def _all_ready(self) -> bool:
        router_ready = self._router is None or self._router.status()["state"] in ("ready", "stopped")
        return self._plugins is not None and self._plugins.all_ready() and router_ready

    def status(self) -> agent_pb2.GetStatusResponse:
        manager = self._plugins
        plugins = (
            [] if manager is None else [plugin_status(manager.info(p)) for _, p in sorted(manager.plugins.items())]
        )
        return agent_pb2.GetStatusResponse(
            agent_id=self.agent_id,
            agent_name=self.character.name if self.character else "",
            state=self.state(),
            plugins=plugins,
            uptime_ms=int((time.monotonic() - self.started_at) * 1000),
            version=__version__,
            router=router_status(self._router.status()) if self._router else None,
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
        if self._server is not None:
            await self._server.stop(grace=1.0)
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
