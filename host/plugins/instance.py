"""One running incarnation of a plugin: its process (if local), connection and manifest."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from agenthost.v1 import plugin_pb2

from plugin_sdk.spec import PluginSpec

from ..config import RemotePlugin, SupervisionConfig
from .connection import PluginCallError, PluginConnection
from .manifest import check_manifest
from .process import PluginProcess, StartError
from .registry import Registry

log = logging.getLogger("host.plugins.instance")


@dataclass
class LaunchContext:
    """What every launch needs from the host."""

    socket_dir: Path
    supervision: SupervisionConfig
    runtime_address: str
    public_address: str
    agent_id: str
    agent_name: str
    plugin_config: dict[str, dict[str, str]]
    issue_token: Callable[[str], str]
    revoke_token: Callable[[str], None]
    registry: Registry = field(default_factory=Registry)


@dataclass
class PluginInstance:
    """One plugin process (or remote connection): spawned and described, then initialised."""

    name: str
    connection: PluginConnection
    manifest: plugin_pb2.PluginManifest
    process: PluginProcess | None = None
    token: str = ""
    services_started: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    @property
    def remote(self) -> bool:
        return self.process is None

    async def initialise(self, ctx: LaunchContext) -> None:
        """Check the components are free, Init the plugin, register its components."""
        ctx.registry.check(self.name, self.manifest)
        self.token = ctx.issue_token(self.name)
        init = plugin_pb2.InitRequest(
            agent_id=ctx.agent_id,
            agent_name=ctx.agent_name,
            config=ctx.plugin_config.get(self.name, {}),
            runtime_address=ctx.public_address if self.remote else ctx.runtime_address,
            runtime_token=self.token,
        )
        try:
            await self.connection.unary("Init", init, timeout=ctx.supervision.start_timeout)
        except PluginCallError as exc:
            raise StartError(str(exc)) from None
        ctx.registry.register(self.name, self.manifest)

    async def start_services(self, ctx: LaunchContext) -> None:
        """Start the plugin's services in manifest order."""
        for service in self.manifest.services:
            try:
                await self.connection.unary(
                    "StartService",
                    plugin_pb2.StartServiceRequest(name=service.name),
                    timeout=ctx.supervision.start_timeout,
                )
            except PluginCallError as exc:
                raise StartError(str(exc)) from None
            self.services_started.append(service.name)

    async def stop(self, ctx: LaunchContext, grace: float = 3.0) -> None:
        """Stop services, ask a local plugin to shut down, make sure its process is gone."""
        shutting_down = False
        if not self.connection.closed_reason:
            for service in reversed(self.services_started):
                try:
                    await self.connection.unary(
                        "StopService", plugin_pb2.StopServiceRequest(name=service), timeout=grace
                    )
                except PluginCallError as exc:
                    log.warning("%s", exc)
            if not self.remote:  # a remote plugin's process is not ours to stop
                try:
                    await self.connection.unary("Shutdown", plugin_pb2.ShutdownRequest(), timeout=1.0)
                    shutting_down = True
                except PluginCallError:
                    pass
        ctx.revoke_token(self.token)
        self.connection.abort("was stopped")
        if self.process is not None:
            if shutting_down:  # it said it is on its way out: give it `grace` before SIGTERM
                try:
                    await asyncio.wait_for(self.process.proc.wait(), grace)
                except asyncio.TimeoutError:
                    pass
            await self.process.stop(grace=1.0)
        await self.connection.close()


async def spawn(ctx: LaunchContext, target: PluginSpec | RemotePlugin) -> PluginInstance:
    """Start the plugin's process (or dial a remote one) and read its manifest.

    Raises StartError or ManifestError with a one-line message; nothing is left running then.
    """
    name = target.name
    timeout = ctx.supervision.start_timeout
    process: PluginProcess | None = None
    if isinstance(target, RemotePlugin):
        connection = PluginConnection(name, target.address, ctx.supervision.call_timeout, remote=target)
    else:
        process = await PluginProcess.start(target, ctx.socket_dir, timeout)
        assert process.handshake is not None
        connection = PluginConnection(name, process.handshake.target, ctx.supervision.call_timeout)
    try:
        try:
            described = await connection.unary(
                "Describe", plugin_pb2.DescribeRequest(), timeout=timeout, wait_for_ready=True
            )
        except PluginCallError as exc:
            raise StartError(f"plugin {name!r} did not answer Describe: {exc}") from None
        check_manifest(name, described.manifest)
        return PluginInstance(name, connection, described.manifest, process)
    except BaseException:
        connection.abort("failed to start")
        await connection.close()
        if process is not None:
            await process.stop(grace=1.0)
        raise


async def launch(ctx: LaunchContext, target: PluginSpec | RemotePlugin) -> PluginInstance:
    """spawn(), initialise(), start_services(); on failure nothing is left running."""
    instance = await spawn(ctx, target)
    try:
        await instance.initialise(ctx)
        await instance.start_services(ctx)
    except BaseException:
        await instance.stop(ctx, grace=1.0)
        raise
    return instance
