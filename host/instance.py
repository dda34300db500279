"""One running incarnation of a plugin: its process (if local), connection and manifest."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from agenthost.v1 import plugin_pb2

from plugin_sdk._spec import PluginSpec

from .config import RemotePlugin, SupervisionConfig
from .connection import PluginCallError, PluginConnection
from .manifest import ManifestError, check_manifest
from .process import PluginProcess, StartError

log = logging.getLogger("host.instance")


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
    check_components: Callable[[str, plugin_pb2.PluginManifest], None]


@dataclass
class PluginInstance:
    """A started, initialised plugin instance."""

    name: str
    connection: PluginConnection
    manifest: plugin_pb2.PluginManifest
    token: str
    process: PluginProcess | None = None
    retiring: bool = False
    services_started: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    async def stop(self, ctx: LaunchContext, grace: float = 3.0) -> None:
        """Stop services, ask the plugin to shut down, then make sure the process is gone."""
        ctx.revoke_token(self.token)
        if not self.connection.closed_reason:
            for service in reversed(self.services_started):
                try:
                    await self.connection.unary("StopService", plugin_pb2.StopServiceRequest(name=service), timeout=grace)
                except PluginCallError as exc:
                    log.warning("%s", exc)
            try:
                await self.connection.unary("Shutdown", plugin_pb2.ShutdownRequest(), timeout=1.0)
            except PluginCallError:
                pass
        self.connection.abort("was stopped")
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.proc.wait(), grace)
            except asyncio.TimeoutError:
                pass
            await self.process.stop(grace=1.0)
        await self.connection.close()


async def launch(ctx: LaunchContext, target: PluginSpec | RemotePlugin) -> PluginInstance:
    """Start (or dial, for remote plugins) and initialise one instance.

    Raises StartError, ManifestError or DuplicateComponent with a one-line message.
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
    token = ctx.issue_token(name)
    instance: PluginInstance | None = None
    try:
        try:
            described = await connection.unary("Describe", plugin_pb2.DescribeRequest(), timeout=timeout)
        except PluginCallError as exc:
            raise StartError(f"plugin {name!r} did not answer Describe: {exc}") from None
        manifest = described.manifest
        check_manifest(name, manifest)
        ctx.check_components(name, manifest)
        instance = PluginInstance(name, connection, manifest, token, process)
        init = plugin_pb2.InitRequest(
            agent_id=ctx.agent_id,
            agent_name=ctx.agent_name,
            config=ctx.plugin_config.get(name, {}),
            runtime_address=ctx.public_address if process is None else ctx.runtime_address,
            runtime_token=token,
        )
        try:
            await connection.unary("Init", init, timeout=timeout)
            for service in manifest.services:
                await connection.unary("StartService", plugin_pb2.StartServiceRequest(name=service.name), timeout=timeout)
                instance.services_started.append(service.name)
        except PluginCallError as exc:
            raise StartError(str(exc)) from None
        return instance
    except (StartError, ManifestError, ValueError):
        if instance is not None:
            await instance.stop(ctx, grace=1.0)
        else:
            ctx.revoke_token(token)
            connection.abort("failed to start")
            await connection.close()
            if process is not None:
                await process.stop(grace=1.0)
        raise
    except BaseException:
        ctx.revoke_token(token)
        if process is not None:
            process.kill()
            await process.stop(grace=0.5)
        raise


