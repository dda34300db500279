"""The host's link to its LLM router: a router process it spawns and supervises like a
plugin, or a shared router at an address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import replace

import grpc
from agenthost.v1 import router_pb2, router_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME
from plugin_sdk.spec import PluginSpec

from .. import __version__, tracing
from ..config import HostConfig
from ..status import CacheFigures
from .connection import PluginUnavailable
from .instance import LaunchContext, ProcessKind
from .supervisor import ManagedPlugin, PluginInfo, PluginState

log = logging.getLogger(__name__)
ROUTER_START_TIMEOUT = 90.0
"""The router imports litellm (~5-10 s here) and opens its database before its handshake."""
SHARED_ROUTER_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000))
"""A shared router that went away is dialled again within a second of its return, not gRPC's
default two minutes: the host's model calls wait for it (`waits_for_router`)."""
LOCAL_PREFIX = "agenthost-local/"
"""The litellm model ids of the models a router runs itself (in its workers)."""


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
        # Provider id -> why the router's own local model behind it cannot be called (its worker
        # crash-loops, or it could not load): the router serves on, and the host is DEGRADED.
        self.local_down: dict[str, str] = {}
        self.cache: CacheFigures | None = None  # the router's response cache, as last reported
        self._interval = ctx.supervision.health_interval
        self._timeout = ctx.supervision.health_timeout
        self._watch: asyncio.Task[None] | None = None
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
            self._channel = grpc.aio.insecure_channel(
                self.address, options=SHARED_ROUTER_OPTIONS, interceptors=tracing.client_interceptors("router")
            )
        else:
            try:
                await self.managed.start()
            except Exception as exc:
                log.error("router failed to start: %s", exc)
        await self._check_local_models()  # the models load before the router serves: known now
        self._watch = asyncio.create_task(self._watch_local_models(), name="router-local-models")

    @property
    def degraded(self) -> str:
        """Why the router serves but is not whole (a local model of its is down), or "".
        `agenthost wait` reads how it starts."""
        return "; ".join(f"local model down: {pid}: {why}" for pid, why in sorted(self.local_down.items()))

    async def _watch_local_models(self) -> None:
        """Ask the router which of its local models are down, every health interval.

        ListProviders, not a health check: the router's "" health says whether it serves (the
        supervisor restarts it when not), and a down model must not look like a dead router."""
        while True:
            await asyncio.sleep(self._interval)
            await self._check_local_models()

    async def _check_local_models(self) -> None:
        try:
            stub = router_pb2_grpc.RouterServiceStub(self.channel())
        except PluginUnavailable:  # no router now: its own state says so
            self.local_down = {}
            return
        try:
            reply = await stub.ListProviders(
                router_pb2.ListProvidersRequest(), timeout=self._timeout, metadata=self.metadata
            )
        except grpc.aio.AioRpcError as exc:  # a router that does not answer: the supervisor judges that
            log.debug("router ListProviders failed: %s", exc.details())
            return
        down = {
            p.id: p.not_configured_reason
            for p in reply.providers
            if not p.configured and p.litellm_model.startswith(LOCAL_PREFIX)
        }
        for pid in down.keys() - self.local_down.keys():
            log.warning("host degraded: the router's local model for %s is down: %s", pid, down[pid])
        for pid in self.local_down.keys() - down.keys():
            log.info("the router's local model for %s answers again", pid)
        self.local_down = down
        if reply.HasField("response_cache"):  # routers before the cache do not report one
            stats = reply.response_cache
            self.cache = CacheFigures(stats.hits, stats.misses, stats.entries, stats.max_entries, stats.ttl_s)

    @property
    def shared(self) -> bool:
        """Whether the router is another process's, at `router_address` (not spawned by this host)."""
        return self.managed is None and self.enabled

    @property
    def coming_back(self) -> bool:
        """Whether the spawned router is (re)starting: a call that found no router may wait for it."""
        return self.managed is not None and self.managed.state in (PluginState.STARTING, PluginState.RESTARTING)

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
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
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
            info = PluginInfo("router", "", PluginState.READY, transport=transport, address=self.address)
        else:
            info = replace(self.managed.info(), components={})
        if info.state is PluginState.READY and self.local_down:
            # Serving (READY, not restarted), but not whole: the reason says which model and why.
            info = replace(info, reason=self.degraded)
        return info
