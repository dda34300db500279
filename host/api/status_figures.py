"""The host's figures (host.figures) on GetStatus's wire: processes' memory and CPU, runs, and
the router's response cache."""

from __future__ import annotations

from agenthost.v1 import agent_pb2, router_pb2

from ..process_stats import ProcessSample
from ..run_stats import RunFigures
from ..status import HostStatus


def process_stats(sample: ProcessSample) -> agent_pb2.ProcessStats:
    return agent_pb2.ProcessStats(
        pid=sample.pid,
        rss_bytes=sample.rss_bytes,
        peak_rss_bytes=sample.peak_rss_bytes,
        cpu_percent=sample.cpu_percent,
        cpu_seconds=sample.cpu_seconds,
    )


def run_figures(runs: RunFigures) -> agent_pb2.RunFigures:
    return agent_pb2.RunFigures(
        active=runs.active,
        queued=runs.queued,
        ended=runs.ended,
        completed=runs.completed,
        failed=runs.failed,
        by_status=runs.by_status,
        avg_ms=runs.avg_ms,
        p95_ms=runs.p95_ms,
        error_rate=runs.error_rate,
        throughput_per_s=runs.throughput_per_s,
    )


def with_figures(response: agent_pb2.GetStatusResponse, status: HostStatus) -> agent_pb2.GetStatusResponse:
    """`response` (made from `status`) with the status's figures filled in, where it has them."""
    figures = status.figures
    if figures is None:
        return response
    if figures.process is not None:
        response.process.CopyFrom(process_stats(figures.process))
    response.runs.CopyFrom(run_figures(figures.runs))
    for plugin in [*response.plugins, response.router]:
        sample = figures.processes.get(plugin.pid) if plugin.pid else None
        if sample is not None:
            plugin.process.CopyFrom(process_stats(sample))
    for agent in response.agents:
        runs = figures.agent_runs.get(agent.id)
        if runs is not None:
            agent.runs.CopyFrom(run_figures(runs))
    if (cache := figures.router_cache) is not None:
        response.router_cache.CopyFrom(
            router_pb2.ResponseCacheStats(
                hits=cache.hits,
                misses=cache.misses,
                entries=cache.entries,
                max_entries=cache.max_entries,
                ttl_s=cache.ttl_s,
            )
        )
    return response
