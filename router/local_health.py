"""The router's local models, watched: while one is down (its worker crashed, or it could not
load) the providers it serves are unavailable with that as the reason (what decisions, Explain,
ListProviders and so `agenthost status` say), and it is brought back by a new worker when its
retry time comes.

Why through `Router.set_down` (which `Router.not_configured` reflects): a provider that cannot be
called now is what that mapping holds ("why the provider cannot be called now"), and every
decision reads it, so calls go to the next provider (or a confidential call is refused, saying
why) instead of each waiting on a model that is down; a breaker alone would say "open", not why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from .engine import Router
from .local_model import WorkerModel
from .local_types import LocalModelError

log = logging.getLogger("router")


class LocalModelWatch:
    """Keeps `router.down` in step with the local models' `down`, and restarts them.

    `served` maps provider ids to the local model each calls. Made and closed on the router's loop.
    """

    def __init__(self, router: Router, served: Mapping[str, WorkerModel]) -> None:
        self._router = router
        self._served = dict(served)
        self._models = list({id(m): m for m in served.values()}.values())
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._shown: dict[str, str] = {}
        for model in self._models:
            model.on_change(self._heard)
        self._apply()  # a model that could not start is down from the router's first call
        self._task = asyncio.create_task(self._run(), name="local-model-watch")

    def unavailable(self) -> dict[str, str]:
        """Provider id -> why it cannot be called, for the providers whose local model is down."""
        return {pid: model.down for pid, model in self._served.items() if model.down}

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _heard(self, model: WorkerModel) -> None:
        """A model's `down` changed (on any thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the router is gone
            self._loop.call_soon_threadsafe(self._changed.set)

    def _apply(self) -> None:
        down = self.unavailable()
        if down == self._shown:
            return
        for pid, why in down.items():
            if self._shown.get(pid) != why:
                log.error("provider %s is unavailable: %s", pid, why)
        for pid in self._shown.keys() - down.keys():
            log.info("provider %s is available again: its local model answers", pid)
        self._shown = down
        self._router.set_down(down)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            self._apply()
            down = [m for m in self._models if m.down]
            if not down:
                await self._changed.wait()
                continue
            wait = min(m.retry_at for m in down) - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            for model in down:
                if model.down and model.retry_at <= time.monotonic():
                    await self._restart(model)

    async def _restart(self, model: WorkerModel) -> None:
        with contextlib.suppress(LocalModelError):  # the model is down, says why, and when to retry
            await model.load()
