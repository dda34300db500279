"""Run figures: how many runs each agent has going and has ended, how long they took, how many
failed. The pipeline reports each run's start and end here (two calls per message, a few
microseconds); status and metrics read the figures when asked.
"""

from __future__ import annotations

import bisect
import collections
import logging
import math
import time
from dataclasses import dataclass, field

from .logs import LOG_SCOPE

log = logging.getLogger("host.agent.runs")

WINDOW = 1000  # response times kept for the mean and the 95th percentile
THROUGHPUT_S = 60.0  # runs ended per second over this long
#: Upper bounds (seconds) of the response-time histogram's buckets (Prometheus).
BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: The statuses that count as answered, and as failed (any other: ignored, superseded, interrupted).
COMPLETED = frozenset({"completed", "degraded"})
FAILED = "failed"


@dataclass(frozen=True)
class RunFigures:
    """One agent's runs (or several agents' together), as status reports them."""

    active: int = 0
    queued: int = 0  # of the active ones, those waiting for their room's turn
    ended: int = 0
    completed: int = 0
    failed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    avg_ms: float = 0.0
    p95_ms: float = 0.0
    error_rate: float = 0.0
    throughput_per_s: float = 0.0
    # Every ended run's response time by bucket (BUCKETS_S, then +Inf), and their sum in seconds.
    buckets: tuple[int, ...] = (0,) * (len(BUCKETS_S) + 1)
    total_s: float = 0.0


class AgentRuns:
    """The counts and recent response times of one agent's runs."""

    def __init__(self) -> None:
        self.active = 0
        self.by_status: collections.Counter[str] = collections.Counter()
        self.recent_ms: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.ended_at: collections.deque[float] = collections.deque()  # monotonic times, last THROUGHPUT_S
        self.buckets = [0] * (len(BUCKETS_S) + 1)  # the last is +Inf
        self.total_s = 0.0  # every ended run's response time, summed (the histogram's sum)
        self.since = time.monotonic()

    def ended(self, status: str, duration_ms: float) -> None:
        now = time.monotonic()
        self.active = max(0, self.active - 1)
        self.by_status[status] += 1
        self.recent_ms.append(duration_ms)
        self.total_s += duration_ms / 1000
        self.buckets[bisect.bisect_left(BUCKETS_S, duration_ms / 1000)] += 1
        self.ended_at.append(now)
        self.forget(now)

    def forget(self, now: float) -> None:
        while self.ended_at and self.ended_at[0] < now - THROUGHPUT_S:
            self.ended_at.popleft()

    def figures(self, queued: int = 0) -> RunFigures:
        return figures_of([self], queued)


def percentile(values: list[float], fraction: float) -> float:
    """The value `fraction` of the way up the values (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]


def figures_of(parts: list[AgentRuns], queued: int = 0) -> RunFigures:
    """The figures of one agent's runs, or of several agents' together."""
    now = time.monotonic()
    by_status: collections.Counter[str] = collections.Counter()
    recent: list[float] = []
    in_window = 0
    for part in parts:
        part.forget(now)
        by_status.update(part.by_status)
        recent += part.recent_ms
        in_window += len(part.ended_at)
    ended, failed = sum(by_status.values()), by_status[FAILED]
    since = min((part.since for part in parts), default=now)
    return RunFigures(
        active=sum(part.active for part in parts),
        queued=queued,
        ended=ended,
        completed=sum(n for status, n in by_status.items() if status in COMPLETED),
        failed=failed,
        by_status=dict(by_status),
        avg_ms=sum(recent) / len(recent) if recent else 0.0,
        p95_ms=percentile(recent, 0.95),
        error_rate=failed / ended if ended else 0.0,
        throughput_per_s=in_window / min(THROUGHPUT_S, max(now - since, 1.0)),
        buckets=tuple(map(sum, zip(*(part.buckets for part in parts)))) if parts else RunFigures().buckets,
        total_s=sum(part.total_s for part in parts),
    )


class RunStats:
    """Every agent's runs in this process, by agent id."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentRuns] = {}

    def agent(self, agent_id: str) -> AgentRuns:
        runs = self.agents.get(agent_id)
        if runs is None:
            runs = self.agents[agent_id] = AgentRuns()
        return runs

    def started(self, agent_id: str, run_id: str) -> None:
        """A run began in the current task: count it, and have the task's log records name it."""
        LOG_SCOPE.set((agent_id, run_id))
        self.agent(agent_id).active += 1

    def ended(self, agent_id: str, run_id: str, status: str, duration_ms: float) -> None:
        """A run ended with `status` after `duration_ms` (and a debug record says so)."""
        self.agent(agent_id).ended(status, duration_ms)
        log.debug("run %s ended %s in %d ms", run_id, status, duration_ms)


#: The process's run figures (the pipeline reports to it; a host reads its own agents').
RUNS = RunStats()
