"""The host's link to its LLM router: a router process it spawns and supervises like a
plugin, or a shared router at an address."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from typing import Any

import grpc
from agenthost.v1 import plugin_pb2, router_pb2_grpc
from grpc_health.v1 import health_pb2

from plugin_sdk.spec import PluginSpec

from .. import __version__
from ..config import HostConfig, RemotePlugin
from .connection import PluginConnection, PluginUnavailable
from .instance import LaunchContext, PluginInstance
from .process import PluginProcess, StartError
from .supervisor import ManagedPlugin

log = logging.getLogger("host.router")
ROUTER_START_TIMEOUT = 90.0
"""The router imports litellm (~5-10 s here) and opens its database before its handshake."""


async def launch_router(ctx: LaunchContext, target: PluginSpec | RemotePlugin) -> PluginInstance:
    """Spawn the router process, wait until it serves, wrap it as an instance the supervisor watches."""
    assert isinstance(target, PluginSpec)
    timeout = ctx.supervision.start_timeout
    process = await PluginProcess.start(target, ctx.socket_dir, timeout)
    assert process.handshake is not None
    connection = PluginConnection("router", process.handshake.target, ctx.supervision.call_timeout)
    problem = ""
    try:
        reply = await connection.health.Check(health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=True)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            problem = "it answers but is not serving"
    except grpc.aio.AioRpcError as exc:
        problem = exc.details() or exc.code().name
    if problem:
        connection.abort("failed to start")
        await connection.close()
        await process.stop(grace=1.0)
        raise StartError(f"router did not come up: {problem}")
    manifest = plugin_pb2.PluginManifest(name="router", version=__version__)
    return PluginInstance("router", connection, manifest, process)


class RouterLink:
    """Where RouterService calls go. `channel()` raises PluginUnavailable when there is no router."""

    def __init__(self, config: HostConfig, ctx: LaunchContext) -> None:
        self.address = config.router_address
        self._channel: grpc.aio.Channel | None = None
        self.managed: ManagedPlugin | None = None
        if not self.address:
            argv = [
                sys.executable,
                "-m",
                "router",
                # The host's store file, unless the config's [router] table names a database.
                "--data-dir",
                str(config.data_dir.resolve()),
            ]
            if config.path is not None:
                argv += ["--config", str(config.path)]
            spec = PluginSpec(name="router", version=__version__, command=tuple(argv))
            router_ctx = replace(ctx, supervision=replace(ctx.supervision, start_timeout=ROUTER_START_TIMEOUT))
            self.managed = ManagedPlugin(router_ctx, spec, launcher=launch_router)

    @property
    def enabled(self) -> bool:
        return self.address != "off"

    async def start(self) -> None:
        """Spawn (or dial) the router. A router that cannot start is reported, not fatal."""
        if self.address == "off":
            return
        if self.managed is None:
            self._channel = grpc.aio.insecure_channel(self.address)
            return
        try:
            await self.managed.start()
        except Exception as exc:
            log.error("router failed to start: %s", exc)

    def channel(self) -> grpc.aio.Channel:
        if self.address == "off":
            raise PluginUnavailable('this host runs without a router (router_address = "off")')
        if self._channel is not None:
            return self._channel
        assert self.managed is not None
        return self.managed.connection().channel

    def stub(self) -> router_pb2_grpc.RouterServiceStub:
        return router_pb2_grpc.RouterServiceStub(self.channel())

    async def stop(self) -> None:
        if self.managed is not None:
            await self.managed.stop()
        if self._channel is not None:
            await self._channel.close()

    def status(self) -> dict[str, Any]:
        """The router as a plugin-like status entry."""
        if self.address == "off":
            return {"name": "router", "state": "stopped", "reason": 'disabled (router_address = "off")'}
        if self.managed is None:
            transport = "unix" if self.address.startswith("unix:") else "tcp"
            return {"name": "router", "state": "ready", "transport": transport, "address": self.address}
        instance = self.managed.instance
        return {
            "name": "router",
            "version": self.managed.version,
            "state": self.managed.state.value,
            "pid": instance.pid if instance else 0,
            "restarts": self.managed.restarts,
            "reason": self.managed.reason,
            "transport": "unix",
            "address": instance.connection.target if instance else "",
        }
