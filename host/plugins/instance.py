"""One running incarnation of a plugin (or of the router): its process if local, its
connection and manifest. `PluginInstance.open` is the one way an instance comes to be;
`close(reason, graceful)` the one way it ends, whoever ends it."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from agenthost.v1 import plugin_pb2

from plugin_sdk.spec import PluginSpec

from .. import __version__
from ..config import Grant, RemotePlugin, SupervisionConfig
from .connection import PluginCallError, PluginConnection
from .manifest import Manifest, check_manifest
from .process import PluginProcess, StartError, plugin_environment
from .registry import Registry

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 1.0
"""How long the host waits for a process to answer Shutdown."""


@dataclass
class LaunchContext:
    """What every launch needs from the host."""

    socket_dir: Path
    supervision: SupervisionConfig
    runtime_address: str
    public_address: str
    public_tls: bool  # the public listener has a certificate (remote plugins call back there)
    agent_id: str
    agent_name: str
    plugin_config: dict[str, dict[str, str]]
    issue_token: Callable[[str, bool], str]  # (plugin, remote) -> a runtime token
    revoke_token: Callable[[str], None]
    registry: Registry = field(default_factory=Registry)
    grants: dict[str, Grant] = field(default_factory=dict)

    def grants_env(self, plugin: str) -> tuple[str, ...]:
        """The host environment variables the configuration passes to `plugin`."""
        return self.grants.get(plugin, Grant()).env


class ProcessKind(enum.Enum):
    """What the host asks of a started process beyond its handshake, health and Shutdown."""

    PLUGIN = "plugin"  # PluginService: Describe, Init, services, components
    ROUTER = "router"  # RouterService only: up when healthy, configured by its command line


async def _describe(kind: ProcessKind, connection: PluginConnection, timeout: float) -> Manifest:
    """A plugin's manifest from Describe, checked; the router's, once it serves."""
    if kind is ProcessKind.ROUTER:
        problem = await connection.wait_serving(timeout)
        if problem:
            raise StartError(f"router did not come up: {problem}")
        return Manifest(name=connection.plugin, version=__version__)
    try:
        manifest = await connection.describe(timeout)
    except PluginCallError as exc:
        raise StartError(f"plugin {connection.plugin!r} did not answer Describe: {exc}") from None
    check_manifest(connection.plugin, manifest)
    return manifest


@dataclass(eq=False)  # an instance is itself: compared and hashed by identity
class PluginInstance:
    """One plugin process (or remote connection): opened and described, then initialised."""

    name: str
    ctx: LaunchContext
    connection: PluginConnection
    manifest: Manifest
    process: PluginProcess | None = None
    kind: ProcessKind = ProcessKind.PLUGIN
    token: str = ""
    services_started: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    @property
    def remote(self) -> bool:
        return self.process is None

    @classmethod
    async def open(
        cls, ctx: LaunchContext, target: PluginSpec | RemotePlugin, kind: ProcessKind = ProcessKind.PLUGIN
    ) -> PluginInstance:
        """Start the plugin's process (or dial a remote one) and read what it offers.

        Raises StartError or ManifestError with a one-line message; nothing is left running then.
        """
        timeout = ctx.supervision.start_timeout
        process: PluginProcess | None = None
        if isinstance(target, RemotePlugin):
            connection = PluginConnection(target.name, target.address, ctx.supervision.call_timeout, remote=target)
        else:
            # The router calls the cloud providers: it alone gets the host's whole environment.
            inherited = os.environ if kind is ProcessKind.ROUTER else plugin_environment(ctx.grants_env(target.name))
            process = await PluginProcess.start(target, ctx.socket_dir, timeout, inherited)
            assert process.handshake is not None
            connection = PluginConnection(target.name, process.handshake.target, ctx.supervision.call_timeout)
        instance = cls(target.name, ctx, connection, Manifest(target.name, ""), process, kind)
        try:
            instance.manifest = await _describe(kind, connection, timeout)
        except BaseException:
            await instance.close("failed to start", graceful=False)
            raise
        return instance

    async def initialise(self) -> None:
        """Check the components are free, Init the plugin, open its Session stream (the hot
        calls' path, authenticated with the instance's token), register its components."""
        if self.kind is not ProcessKind.PLUGIN:
            return
        ctx = self.ctx
        ctx.registry.check(self.name, self.manifest)
        self.token = ctx.issue_token(self.name, self.remote)
        init = plugin_pb2.InitRequest(
            agent_id=ctx.agent_id,
            agent_name=ctx.agent_name,
            config=ctx.plugin_config.get(self.name, {}),
            runtime_address=ctx.public_address if self.remote else ctx.runtime_address,
            runtime_token=self.token,
            runtime_tls=self.remote and ctx.public_tls,
        )
        try:
            await self.connection.unary("Init", init, timeout=ctx.supervision.start_timeout)
        except PluginCallError as exc:
            raise StartError(str(exc)) from None
        await self.connection.open_session(self.token, ctx.supervision.start_timeout)
        ctx.registry.register(self.name, self.manifest)

    async def start_services(self) -> None:
        """Start the plugin's services in manifest order."""
        for service in self.manifest.services:
            try:
                await self.connection.unary(
                    "StartService",
                    plugin_pb2.StartServiceRequest(name=service.name),
                    timeout=self.ctx.supervision.start_timeout,
                )
            except PluginCallError as exc:
                raise StartError(str(exc)) from None
            self.services_started.append(service.name)

    async def close(self, reason: str, graceful: bool, grace: float = 3.0) -> None:
        """End this instance: calls in flight fail with `reason`, the token is revoked, the
        process is gone. Graceful: stop its services and ask it to Shutdown first, giving it
        `grace` seconds to exit before SIGTERM (then SIGKILL)."""
        exiting = False
        if graceful and not self.connection.closed_reason:
            for service in reversed(self.services_started):
                try:
                    await self.connection.unary(
                        "StopService", plugin_pb2.StopServiceRequest(name=service), timeout=grace
                    )
                except PluginCallError as exc:
                    log.warning("%s", exc)
            if self.process is not None:  # a remote plugin's process is not ours to stop
                exiting = await self.connection.shutdown(SHUTDOWN_TIMEOUT)
        self.connection.abort(reason)
        if self.token:
            self.ctx.revoke_token(self.token)
        if self.process is not None:
            if exiting:
                try:
                    await asyncio.wait_for(self.process.wait(), grace)  # the exit, not its pipes
                except asyncio.TimeoutError:
                    pass
            await self.process.stop(grace=1.0)
        await self.connection.close()
