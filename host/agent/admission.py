"""Admission: how many of an agent's runs work at once, which waiting run goes next, and how
many may wait.

A run takes a slot once it holds its room's turn (so runs of one room never take two slots, and
keep their order) and gives it back when it ends. With every slot taken, runs wait by priority,
direct conversations (DM, API, SELF) before group chatter, first come first served within a
priority. The backlog is bounded: a message that would wait beyond `max_waiting` is refused
before it is stored (SendMessage: RESOURCE_EXHAUSTED with a retry hint), never queued without
limit. A freed slot goes straight to the next waiting run.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from dataclasses import dataclass
from typing import Any, AsyncIterator

#: Room types (as stored) whose messages go first; every other type waits behind them.
FIRST = frozenset({"DM", "VOICE_DM", "API", "SELF"})
DEFAULT_MAX_RUNNING = 64
DEFAULT_MAX_WAITING = 1000
#: Trailing metadata of a refused SendMessage: whole seconds to wait before sending it again.
RETRY_AFTER_KEY = "retry-after"


@dataclass(frozen=True)
class AdmissionSettings:
    """The host config's [admission]: runs working at once per agent, and runs kept waiting. A
    character's settings.ADMISSION_MAX_RUNNING and ADMISSION_MAX_WAITING override them."""

    max_running: int = DEFAULT_MAX_RUNNING
    max_waiting: int = DEFAULT_MAX_WAITING


def admission_from_table(table: dict[str, Any]) -> AdmissionSettings:
    """[admission] as read from TOML; a bad value is a ValueError naming the key."""
    unknown = set(table) - {"max_running", "max_waiting"}
    if unknown:
        raise ValueError(f"unknown key(s) in [admission]: {', '.join(sorted(unknown))}")
    values = {}
    for key, least in (("max_running", 1), ("max_waiting", 0)):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"admission.{key} must be a whole number >= {least}, got {value!r}")
            values[key] = value
    return AdmissionSettings(**values)


class Backlogged(Exception):
    """The agent has as many runs waiting as it keeps; `retry_after_s` is when to try again."""

    def __init__(self, agent: str, waiting: int, retry_after_s: float) -> None:
        super().__init__(
            f"agent {agent} has {waiting} messages waiting, the most it keeps; retry in about {retry_after_s:.0f} s"
        )
        self.retry_after_s = retry_after_s


def priority_of(room_type: str) -> int:
    """0 for direct conversations (DM, API, SELF), 1 for the rest."""
    return 0 if room_type in FIRST else 1


class Admission:
    """One agent's run slots: at most `max_running` runs hold one, the others wait in order."""

    def __init__(self, max_running: int = DEFAULT_MAX_RUNNING, max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError(f"admission needs max_running >= 1 and max_waiting >= 0, got {max_running}, {max_waiting}")
        self.max_running, self.max_waiting = max_running, max_waiting
        self.running = 0  # slots held
        self.waiting = 0  # runs waiting for a slot (not counting those given up)
        self._queue: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def full(self, in_flight: int) -> bool:
        """Whether one more run would be beyond `max_running` working and `max_waiting` waiting
        (`in_flight`: the agent's runs now, wherever they are)."""
        return in_flight >= self.max_running + self.max_waiting

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        """Hold a slot for the body: at once if one is free and nobody waits, else in turn."""
        if self.running < self.max_running and not self.waiting:
            self.running += 1
        else:
            await self._wait(priority)
        try:
            yield
        finally:
            self._release()

    async def _wait(self, priority: int) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (priority, next(self._order), turn))
        self.waiting += 1
        try:
            await turn  # the slot is handed over by _release (running already counts it)
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            else:
                self.waiting -= 1
            raise

    def _release(self) -> None:
        while self._queue:
            _, _, turn = heapq.heappop(self._queue)
            if not turn.done():  # not given up
                self.waiting -= 1
                turn.set_result(None)
                return
        self.running -= 1
