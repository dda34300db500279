"""The host's link to its LLM router: a router process it spawns and supervises like a
plugin, or a shared router at an address."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace

import grpc
from agenthost.v1 import router_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME
from plugin_sdk.spec import PluginSpec

from .. import __version__
from ..config import HostConfig
from .connection import PluginUnavailable
from .instance import LaunchContext, ProcessKind
from .supervisor import ManagedPlugin, PluginInfo, PluginState

log = logging.getLogger(__name__)
ROUTER_START_TIMEOUT = 90.0
"""The router imports litellm (~5-10 s here) and opens its database before its handshake."""


class RouterLink:
    """Where RouterService calls go. `channel()` raises PluginUnavailable when there is no router."""

    def __init__(self, config: HostConfig, ctx: LaunchContext) -> None:
        self.address = config.router_address
        self._channel: grpc.aio.Channel | None = None
        # A shared router wants its token with every call; a spawned one is reached on the private socket.
        self.metadata: tuple[tuple[str, str], ...] = (
            ((AUTH_METADATA_KEY, AUTH_SCHEME + config.router_token),) if config.router_token else ()
        )
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
            self.managed = ManagedPlugin(router_ctx, spec, ProcessKind.ROUTER)

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

    def status(self) -> PluginInfo:
        """The router as a plugin-like status entry."""
        if self.address == "off":
            return PluginInfo("router", "", PluginState.STOPPED, reason='disabled (router_address = "off")')
        if self.managed is None:
            transport = "unix" if self.address.startswith("unix:") else "tcp"
            return PluginInfo("router", "", PluginState.READY, transport=transport, address=self.address)
        return replace(self.managed.info(), components={})
