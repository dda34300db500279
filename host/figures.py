"""The host's figures for status and metrics: its process's and its plugins' memory and CPU
(sampled now) and its agents' runs (counted as they end)."""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable

from .agent.agent import Agent, AgentError
from .process_stats import ProcessSampler
from .run_stats import RUNS, figures_of
from .status import CacheFigures, HostFigures, HostStatus

#: Keeps each process's previous CPU time between samples (one host per process).
SAMPLER = ProcessSampler()


def measured(status: HostStatus, agents: Iterable[Agent], router_cache: CacheFigures | None = None) -> HostStatus:
    """`status` with the figures of the host, its plugins and router, `agents` and the router's cache."""
    pids = {info.pid for info in [*status.plugins, *([status.router] if status.router else [])] if info.pid}
    SAMPLER.forget_others(pids | {os.getpid()})
    processes = {pid: sample for pid in pids if (sample := SAMPLER.sample(pid)) is not None}
    agent_runs, parts, queued = {}, [], 0
    for agent in agents:
        runs = RUNS.agent(agent.id)
        waiting = waiting_runs(agent)
        agent_runs[agent.id] = runs.figures(waiting)
        parts.append(runs)
        queued += waiting
    figures = HostFigures(
        process=SAMPLER.sample(os.getpid()),
        processes=processes,
        runs=figures_of(parts, queued),
        agent_runs=agent_runs,
        router_cache=router_cache,
    )
    return dataclasses.replace(status, figures=figures)


def waiting_runs(agent: Agent) -> int:
    """How many of the agent's runs wait: for their room's turn (an earlier run of the room has
    it), or for a run slot (admission)."""
    try:
        pipeline = agent.pipeline
    except AgentError:  # not started
        return 0
    rooms = getattr(pipeline, "_room_turns", {})
    in_rooms = sum(len(t.waiting) for t in list(rooms.values()))
    return in_rooms + pipeline.admission.waiting
