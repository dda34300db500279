"""Keeps one plugin running: watches its process and health, restarts it with backoff,
gives up after too many failures, and reloads it without failing calls in flight."""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from dataclasses import dataclass, field

import tenacity

from plugin_sdk.spec import PluginSpec

from ..config import RemotePlugin
from .connection import PluginConnection, PluginUnavailable
from .instance import LaunchContext, PluginInstance, ProcessKind
from .manifest import Manifest

log = logging.getLogger(__name__)


class PluginState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"
    AVAILABLE = "available"  # installed, not loaded (only in listings)


@dataclass(frozen=True)
class PluginInfo:
    """A plugin (or the router) as status reports it."""

    name: str
    version: str
    state: PluginState
    pid: int = 0
    restarts: int = 0
    reason: str = ""  # why it is not ready
    transport: str = ""  # "unix" or "tcp"
    address: str = ""
    components: dict[str, list[str]] = field(default_factory=dict)  # names by kind field ("actions", ...)


class _InstanceDied(Exception):
    """The current instance stopped serving; the message says how."""


class _StableRunEnded(Exception):
    """The instance died after running longer than the restart window: restart with fresh backoff."""


class ManagedPlugin:
    """One plugin under supervision."""

    def __init__(
        self, ctx: LaunchContext, target: PluginSpec | RemotePlugin, kind: ProcessKind = ProcessKind.PLUGIN
    ) -> None:
        self.ctx = ctx
        self.target = target
        self.kind = kind
        self.name = target.name
        self.state = PluginState.STARTING
        self.reason = ""
        self.restarts = 0
        self.instance: PluginInstance | None = None
        self._failures: collections.deque[float] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._switched = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def version(self) -> str:
        if self.instance is not None:
            return self.instance.manifest.version
        return getattr(self.target, "version", "")

    def info(self) -> PluginInfo:
        """This plugin's status entry (components from the registry while it restarts)."""
        instance = self.instance
        manifest = instance.manifest if instance else self.ctx.registry.manifests.get(self.name)
        return PluginInfo(
            name=self.name,
            version=self.version,
            state=self.state,
            pid=instance.pid if instance else 0,
            restarts=self.restarts,
            reason=self.reason,
            transport="tcp" if isinstance(self.target, RemotePlugin) else "unix",
            address=instance.connection.target if instance else "",
            components=(manifest or Manifest(self.name, "")).component_names(),
        )

    def connection(self) -> PluginConnection:
        """The connection to call now; PluginUnavailable says why there is none."""
        instance = self.instance
        if self.state is not PluginState.READY or instance is None:
            why = f": {self.reason}" if self.reason else ""
            raise PluginUnavailable(f"plugin {self.name!r} is {self.state.value}{why}")
        return instance.connection

    def fail(self, reason: str) -> None:
        """Mark the plugin failed without starting it (e.g. a dependency is missing)."""
        self.state, self.reason = PluginState.FAILED, reason

    async def open(self) -> PluginInstance:
        """Start a new instance and read its manifest (not initialised yet: see activate)."""
        try:
            return await PluginInstance.open(self.ctx, self.target, self.kind)
        except Exception as exc:
            self.fail(str(exc))
            raise

    async def activate(self, instance: PluginInstance) -> None:
        """Initialise an opened instance, make it the one calls go to, and start supervising.

        A plugin that cannot start at all is FAILED at once: that is a broken install or
        configuration, which restarting would not mend.
        """
        try:
            await instance.initialise()
        except BaseException as exc:
            await instance.close("failed to start", graceful=True, grace=1.0)
            if isinstance(exc, Exception):
                self.fail(str(exc))
            raise
        self._activate(instance)
        self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")

    async def start(self) -> None:
        """open(), activate(), start_services(): the whole start of a plugin loaded on its own."""
        await self.activate(await self.open())
        await self.start_services()

    async def start_services(self) -> None:
        """Start the current instance's services; on failure the plugin is stopped and FAILED."""
        if self.instance is None or self.state is not PluginState.READY:
            return
        try:
            await self.instance.start_services()
        except Exception as exc:
            await self.stop()
            self.fail(str(exc))
            raise

    async def _launch(self, target: PluginSpec | RemotePlugin) -> PluginInstance:
        """A new instance, initialised with its services started (restarts and reloads)."""
        instance = await PluginInstance.open(self.ctx, target, self.kind)
        try:
            await instance.initialise()
            await instance.start_services()
        except BaseException:
            await instance.close("failed to start", graceful=True, grace=1.0)
            raise
        return instance

    def _activate(self, instance: PluginInstance) -> None:
        self.instance = instance
        self.state, self.reason = PluginState.READY, ""
        log.info("plugin %s %s ready (pid %s)", self.name, instance.manifest.version, instance.pid or "remote")

    async def reload(self, target: PluginSpec | RemotePlugin) -> PluginInstance:
        """Start a new instance, switch calls to it, then drain and stop the old one."""
        async with self._lock:
            new = await self._launch(target)
            if self.state is PluginState.STOPPED:  # stopped (host stopping) while the new one started
                await new.close("was stopped", graceful=True)
                raise PluginUnavailable(f"plugin {self.name!r} was stopped during its reload")
            old = self.instance
            self.target = target
            self._activate(new)
            self._switched.set()
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")
        if old is not None:
            if not await old.connection.drain(self.ctx.supervision.drain_timeout):
                log.warning(
                    "plugin %s: %d call(s) still running on the old instance after %.0fs; stopping it",
                    self.name,
                    old.connection.in_flight,
                    self.ctx.supervision.drain_timeout,
                )
            await old.close("was replaced", graceful=True)
        return new

    async def stop(self) -> None:
        """Stop supervising and stop the plugin gracefully (a reload under way ends too)."""
        self.state = PluginState.STOPPED
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        instance, self.instance = self.instance, None
        if instance is not None:
            await instance.close("was stopped", graceful=True)

    # -- supervision -------------------------------------------------------

    async def _supervise(self) -> None:
        cfg = self.ctx.supervision
        while True:
            retrying = tenacity.AsyncRetrying(
                retry=tenacity.retry_if_exception_type(_InstanceDied),
                wait=tenacity.wait_exponential_jitter(
                    multiplier=cfg.backoff_initial, max=cfg.backoff_max, jitter=cfg.backoff_initial
                ),
                stop=self._too_many_failures,
                before_sleep=self._before_restart,
                reraise=True,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        await self._run_until_death()
            except _StableRunEnded:
                continue
            except _InstanceDied as exc:
                self.state = PluginState.FAILED
                self.reason = f"gave up after {len(self._failures)} failures in {cfg.restart_window:g}s; last: {exc}"
                self.instance = None
                log.error("plugin %s failed: %s", self.name, self.reason)
                return

    async def _run_until_death(self) -> None:
        """Run the current instance (launching one if needed) until it dies; raise how it died."""
        while True:
            async with self._lock:  # a reload may be launching too
                if self.instance is None:
                    self.state = PluginState.RESTARTING
                    try:
                        relaunched = await self._launch(self.target)
                    except Exception as exc:
                        self._record_failure()
                        raise _InstanceDied(str(exc)) from None
                    self.restarts += 1
                    self._activate(relaunched)
            instance = self.instance
            assert instance is not None
            started = time.monotonic()
            how = await self._watch(instance)
            if instance is self.instance:
                break
            # a reload replaced it: watch the new one
        self.instance = None
        self.state, self.reason = PluginState.RESTARTING, how
        log.warning("plugin %s %s; restarting", self.name, how)
        await instance.close(how, graceful=False)
        self._record_failure()
        if time.monotonic() - started > self.ctx.supervision.restart_window:
            raise _StableRunEnded(how)
        raise _InstanceDied(how)

    async def _watch(self, instance: PluginInstance) -> str:
        """Wait until the instance exits, stops answering health checks, or is replaced."""
        self._switched.clear()
        waits = [asyncio.create_task(self._health_loop(instance)), asyncio.create_task(self._switched.wait())]
        if instance.process is not None:
            waits.append(asyncio.create_task(instance.process.wait()))
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        finished = done.pop()
        if finished is waits[1]:
            return "was replaced"
        if instance.process is not None and instance.process.returncode is not None:
            return _describe_exit(instance.process.returncode)
        return str(finished.result())

    async def _health_loop(self, instance: PluginInstance) -> str:
        cfg = self.ctx.supervision
        misses = 0
        while True:
            await asyncio.sleep(cfg.health_interval)
            if await instance.connection.check_health(cfg.health_timeout):
                misses = 0
                continue
            misses += 1
            if misses >= 2:
                if instance.process is not None:
                    instance.process.kill()
                return f"failed {misses} health checks"

    def _record_failure(self) -> None:
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.ctx.supervision.restart_window:
            self._failures.popleft()

    def _too_many_failures(self, retry_state: tenacity.RetryCallState) -> bool:
        return len(self._failures) >= self.ctx.supervision.max_failures

    async def _before_restart(self, retry_state: tenacity.RetryCallState) -> None:
        delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.info(
            "plugin %s: restart in %.2fs (failure %d of %d allowed in %gs)",
            self.name,
            delay,
            len(self._failures),
            self.ctx.supervision.max_failures,
            self.ctx.supervision.restart_window,
        )


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
