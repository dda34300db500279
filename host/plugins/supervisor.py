"""Keeps one plugin running: watches its process and health, restarts it with backoff,
gives up after too many failures, and reloads it without failing calls in flight.

Stopping is final and wins every race: `stop()` cancels whatever is starting an instance
(a restart in its backoff or mid-launch, a load or reload in Describe, Init or a service
start) and closes every instance this plugin still has, the one serving, one opened and not
yet active, and old ones still draining after a reload. Each instance is always held in
one of those places from the moment it exists until it is closed, so none can be missed."""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Coroutine, TypeVar

import tenacity

from plugin_sdk.spec import PluginSpec

from ..config import RemotePlugin
from .breakers import BreakerInfo
from .connection import PluginConnection, PluginUnavailable
from .instance import LaunchContext, PluginInstance, ProcessKind
from .manifest import Manifest

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    breakers: tuple[BreakerInfo, ...] = ()  # its components' circuit breakers (those that ever failed)


class _InstanceDied(Exception):
    """The current instance stopped serving; the message says how."""


class _StableRunEnded(Exception):
    """The instance died after running longer than the restart window: restart with fresh backoff."""


class PluginStopped(PluginUnavailable):
    """The plugin was stopped (unloaded, or the host is stopping) while it was being started."""


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
        self._steps: set[asyncio.Task[Any]] = set()  # start steps under way, cancelled by stop()
        self._pending: PluginInstance | None = None  # opened, not yet the current instance
        self._retiring: set[PluginInstance] = set()  # replaced by a reload, draining
        self._closes: set[asyncio.Task[None]] = set()  # closes under way, awaited by stop()
        self._stopping: asyncio.Task[None] | None = None

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

    @property
    def stopped(self) -> bool:
        """stop() was called: nothing of this plugin starts any more."""
        return self._stopping is not None

    async def _step(self, coro: Coroutine[Any, Any, T], during: str) -> T:
        """Run one start step as a task stop() can cancel; PluginStopped if it did (or had)."""
        if self.stopped:
            coro.close()
            raise PluginStopped(f"plugin {self.name!r} was stopped during its {during}")
        task = asyncio.create_task(coro)
        self._steps.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.stopped and not (current is not None and current.cancelling()):
                raise PluginStopped(f"plugin {self.name!r} was stopped during its {during}") from None
            raise  # our caller was cancelled (the task was cancelled with it)
        finally:
            self._steps.discard(task)

    async def _open_pending(self, target: PluginSpec | RemotePlugin) -> PluginInstance:
        instance = await PluginInstance.open(self.ctx, target, self.kind)
        self._pending = instance  # from here on stop() closes it, until it is activated
        return instance

    def _take_pending(self, instance: PluginInstance) -> bool:
        """Take `instance` from the pending slot; False when stop() took it already (and closes it)."""
        if self._pending is not instance:
            return False
        self._pending = None
        return True

    async def open(self) -> PluginInstance:
        """Start a new instance and read its manifest (not initialised yet: see activate)."""
        try:
            return await self._step(self._open_pending(self.target), "start")
        except PluginStopped:
            raise
        except Exception as exc:
            self.fail(str(exc))
            raise

    async def refuse(self, instance: PluginInstance, reason: str) -> None:
        """Close an opened instance that must not be activated, and mark the plugin FAILED."""
        if self._take_pending(instance):
            await self._close(instance, reason, grace=1.0)
        if not self.stopped:
            self.fail(reason)

    async def activate(self, instance: PluginInstance) -> None:
        """Initialise an opened instance, make it the one calls go to, and start supervising.

        A plugin that cannot start at all is FAILED at once: that is a broken install or
        configuration, which restarting would not mend.
        """
        try:
            await self._step(self._initialise(instance), "start")
        except Exception as exc:
            if not self.stopped:
                self.fail(str(exc))
            raise
        if not self._take_pending(instance):  # stopped after the step ended: stop() closes it
            raise PluginStopped(f"plugin {self.name!r} was stopped during its start")
        self._activate(instance)
        self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")

    async def _initialise(self, instance: PluginInstance) -> None:
        try:
            await instance.initialise()
        except BaseException:
            if self._take_pending(instance):
                await self._close(instance, "failed to start", grace=1.0)
            raise

    async def _close(self, instance: PluginInstance, reason: str, graceful: bool = True, grace: float = 3.0) -> None:
        """Close an instance taken from this plugin; stop() waits for it too, even if our caller
        is cancelled meanwhile."""
        task = asyncio.create_task(instance.close(reason, graceful=graceful, grace=grace))
        self._closes.add(task)
        task.add_done_callback(self._closes.discard)
        await asyncio.shield(task)

    async def start(self) -> None:
        """open(), activate(), start_services(): the whole start of a plugin loaded on its own."""
        await self.activate(await self.open())
        await self.start_services()

    async def start_services(self) -> None:
        """Start the current instance's services; on failure the plugin is stopped and FAILED."""
        if self.instance is None or self.state is not PluginState.READY:
            return
        try:
            await self._step(self.instance.start_services(), "start")
        except Exception as exc:
            stopped = self.stopped
            await self.stop()
            if not stopped:
                self.fail(str(exc))
            raise

    async def _launch(self, target: PluginSpec | RemotePlugin) -> PluginInstance:
        """A new instance, initialised with its services started (restarts and reloads); it is
        left pending (stop() closes it) until _activate makes it the current one."""
        instance = await self._open_pending(target)
        try:
            await instance.initialise()
            await instance.start_services()
        except BaseException:
            if self._take_pending(instance):
                await self._close(instance, "failed to start", grace=1.0)
            raise
        return instance

    def _activate(self, instance: PluginInstance) -> None:
        self._take_pending(instance)
        self.instance = instance
        self.state, self.reason = PluginState.READY, ""
        log.info("plugin %s %s ready (pid %s)", self.name, instance.manifest.version, instance.pid or "remote")

    async def reload(self, target: PluginSpec | RemotePlugin) -> PluginInstance:
        """Start a new instance, switch calls to it, then drain and stop the old one."""
        async with self._lock:
            new = await self._step(self._launch(target), "reload")
            if self.stopped:  # stopped between the launch's end and now: stop() took `new`
                raise PluginStopped(f"plugin {self.name!r} was stopped during its reload")
            old = self.instance
            self.target = target
            self._activate(new)
            self._switched.set()
            if old is not None:
                self._retiring.add(old)
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")
        if old is not None:
            try:
                drained = await self._step(old.connection.drain(self.ctx.supervision.drain_timeout), "reload")
            except PluginStopped:
                return new  # stop() closes the old instance
            if not drained:
                log.warning(
                    "plugin %s: %d call(s) still running on the old instance after %.0fs; stopping it",
                    self.name,
                    old.connection.in_flight,
                    self.ctx.supervision.drain_timeout,
                )
            if old in self._retiring:
                self._retiring.discard(old)
                await self._close(old, "was replaced")
        return new

    async def stop(self) -> None:
        """Stop supervising and stop the plugin gracefully: a restart, load or reload under way
        ends too, and every instance of this plugin is closed when this returns. Calling it
        again (or concurrently) waits for the same stop."""
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._stop(), name=f"stop-{self.name}")
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        self.state = PluginState.STOPPED
        running = [*self._steps, *([self._task] if self._task is not None else [])]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        closing = [self.instance, self._pending, *self._retiring]
        self.instance, self._pending = None, None
        self._retiring.clear()
        await asyncio.gather(
            *(instance.close("was stopped", graceful=True) for instance in closing if instance is not None),
            return_exceptions=True,
        )
        while self._closes:  # closes begun before (a restart's dead instance, a failed start)
            await asyncio.gather(*self._closes, return_exceptions=True)

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
        await self._close(instance, how, graceful=False)
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
            if instance.process is not None:
                await instance.process.refresh_tree()
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
