"""Loads, unloads and reloads plugins while the host runs, and keeps the registry in step."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import AsyncIterator

from plugin_sdk.spec import PluginSpec

from ..config import RemotePlugin
from .breakers import Breakers
from .discovery import Discovery, DiscoveryError
from .instance import LaunchContext, PluginInstance
from .ordering import initialisation_order
from .supervisor import ManagedPlugin, PluginInfo, PluginState

log = logging.getLogger(__name__)


class PluginNotFound(LookupError):
    """No plugin by that name (installed, allowed or loaded, as the message says)."""


class PluginConflict(RuntimeError):
    """The operation does not fit the plugin's current state."""


class PluginManager:
    """The host's plugins by name."""

    def __init__(
        self,
        ctx: LaunchContext,
        discovery: Discovery,
        remote: tuple[RemotePlugin, ...] = (),
        configured: dict[str, PluginSpec] | None = None,
    ) -> None:
        self.ctx = ctx
        self.discovery = discovery
        self.registry = ctx.registry
        self.plugins: dict[str, ManagedPlugin] = {}
        self.remote = {r.name: r for r in remote}
        #: Plugins the configuration defines rather than an installed package (the MCP servers'
        #: bridges, host/mcp): started and listed like installed ones, outside the allow list.
        self.configured = dict(configured or {})
        self._locks: dict[str, asyncio.Lock] = {}  # per plugin name: see _operation
        self._stopping = False  # stop_all() began: nothing new is started
        #: The plugins' components' circuit breakers (Components keeps them; status shows them).
        self.breakers = Breakers(ctx.supervision.breaker_failures, ctx.supervision.breaker_cooldown)

    async def _target(self, name: str) -> PluginSpec | RemotePlugin:
        if name in self.remote:
            return self.remote[name]
        if name in self.configured:
            return self.configured[name]
        try:
            # Discovery starts an interpreter and waits for it: off the event loop.
            return await asyncio.to_thread(self.discovery.spec, name)
        except DiscoveryError as exc:
            raise PluginNotFound(str(exc)) from None

    @contextlib.asynccontextmanager
    async def _operation(self, name: str) -> AsyncIterator[None]:
        """Load, unload and reload of one plugin run one at a time, in the order asked: each
        sees the state the previous one left, so the processes are always those listed."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield

    def get(self, name: str) -> ManagedPlugin:
        plugin = self.plugins.get(name)
        if plugin is None:
            loaded = ", ".join(sorted(self.plugins)) or "none"
            raise PluginNotFound(f"no loaded plugin named {name!r} (loaded: {loaded})")
        return plugin

    async def load_all(self) -> list[str]:
        """Load every discovered (allowed) and remote plugin; return one error line per failure.

        Processes are spawned all at once; they are initialised one by one, dependencies
        first and then by priority, so a plugin's Init can rely on what it depends on.
        Services are not started yet: see start_services().
        """
        errors: list[str] = []
        try:
            installed = (await asyncio.to_thread(self.discovery.scan)).specs
        except DiscoveryError as exc:  # the remote plugins can still be had
            installed = {}
            errors.append(str(exc))
        targets: dict[str, PluginSpec | RemotePlugin] = {**installed, **self.configured, **self.remote}
        for target in targets.values():
            self.plugins[target.name] = ManagedPlugin(self.ctx, target)
        opened = await asyncio.gather(*(p.open() for p in self.plugins.values()), return_exceptions=True)
        instances: dict[str, PluginInstance] = {}
        for name, result in zip(list(self.plugins), opened):
            if isinstance(result, BaseException):
                errors.append(str(result))
            else:
                instances[name] = result
        order, blocked = initialisation_order({n: i.manifest for n, i in instances.items()})
        for name, reason in blocked.items():
            await self.plugins[name].refuse(instances[name], reason)
            errors.append(reason)
        for name in order:
            try:
                await self.plugins[name].activate(instances[name])
            except Exception as exc:
                errors.append(str(exc))
        return errors

    async def start_services(self) -> list[str]:
        """Start every loaded plugin's services, in initialisation order; one error line per failure."""
        manifests = {n: p.instance.manifest for n, p in self.plugins.items() if p.instance is not None}
        errors: list[str] = []
        for name in initialisation_order(manifests)[0]:
            try:
                await self.plugins[name].start_services()
            except Exception as exc:
                errors.append(str(exc))
        return errors

    async def load(self, name: str) -> ManagedPlugin:
        """Start an installed plugin; PluginNotFound or the start error when it cannot."""
        async with self._operation(name):
            existing = self.plugins.get(name)
            if existing is not None and existing.state is not PluginState.FAILED:
                raise PluginConflict(f"plugin {name!r} is already loaded ({existing.state.value}); use reload")
            return await self._start(await self._target(name))

    def _check_running(self, name: str) -> None:
        if self._stopping:
            raise PluginConflict(f"cannot start plugin {name!r}: the host is stopping")

    async def _start(self, target: PluginSpec | RemotePlugin) -> ManagedPlugin:
        self._check_running(target.name)
        old = self.plugins.get(target.name)
        if old is not None:
            await old.stop()
            self._check_running(target.name)  # (no await from this check to the insertion below)
        plugin = ManagedPlugin(self.ctx, target)
        self.plugins[target.name] = plugin
        instance = await plugin.open()
        ready = {n for n, p in self.plugins.items() if p.state is PluginState.READY}
        _, blocked = initialisation_order({target.name: instance.manifest}, already_loaded=ready)
        if blocked:
            await plugin.refuse(instance, blocked[target.name])
            raise PluginConflict(blocked[target.name])
        await plugin.activate(instance)
        await plugin.start_services()
        return plugin

    async def unload(self, name: str) -> None:
        """Stop a plugin and remove its components."""
        async with self._operation(name):
            plugin = self.get(name)
            self.registry.unregister(name)
            del self.plugins[name]
            await plugin.stop()
        log.info("plugin %s unloaded", name)

    async def reload(self, name: str) -> tuple[ManagedPlugin, float]:
        """Start the plugin's new version, switch calls to it, drain the old; returns seconds taken."""
        started = time.monotonic()
        async with self._operation(name):
            plugin = self.get(name)
            target = await self._target(name)
            if isinstance(target, RemotePlugin):
                raise PluginConflict(
                    f"plugin {name!r} runs remotely at {target.address}: restart it there; "
                    "the host reconnects by itself"
                )
            if plugin.state is PluginState.FAILED:
                return await self._start(target), time.monotonic() - started
            await plugin.reload(target)
            return plugin, time.monotonic() - started

    async def stop_all(self) -> None:
        """Stop every plugin, dependents before what they depend on. A load, unload or reload
        under way meanwhile ends (PluginStopped, or PluginConflict for a load not begun) and
        leaves nothing running; none starts afterwards."""
        self._stopping = True
        plugins = dict(self.plugins)  # an unload under way may remove its entry meanwhile
        manifests = {n: p.instance.manifest for n, p in plugins.items() if p.instance is not None}
        order, _ = initialisation_order(manifests)
        for name in reversed(order):
            await plugins[name].stop()
        await asyncio.gather(*(p.stop() for n, p in plugins.items() if n not in order), return_exceptions=True)
        self.plugins.clear()

    def statuses(self) -> list[PluginInfo]:
        """Every loaded plugin's status entry, by name."""
        return [
            dataclasses.replace(plugin.info(), breakers=tuple(self.breakers.of(name)))
            for name, plugin in sorted(self.plugins.items())
        ]

    def available(self) -> list[PluginInfo]:
        """Installed, allowed plugins that are not loaded: usable ones as AVAILABLE, those whose
        entry point cannot be used as FAILED with the reason. Blocking (discovery)."""
        found = self.discovery.scan()
        specs = [*found.specs.values(), *self.configured.values()]
        usable = [PluginInfo(s.name, s.version, PluginState.AVAILABLE) for s in specs]
        broken = [PluginInfo(n, "", PluginState.FAILED, reason=r) for n, r in found.broken.items()]
        return sorted((p for p in usable + broken if p.name not in self.plugins), key=lambda p: p.name)

    def all_ready(self) -> bool:
        return all(p.state is PluginState.READY for p in self.plugins.values())
