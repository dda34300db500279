"""Prometheus metrics of a running host (`agenthost serve --metrics ADDR`, off by default): the
figures `agenthost status` shows, labelled by agent and plugin, gathered on the host's event loop
at each scrape (prometheus-client serves the endpoint from a thread of its own)."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator
from wsgiref.simple_server import WSGIServer

import grpc
from agenthost.v1 import router_pb2
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .plugins.breakers import BREAKER_STATES
from .plugins.connection import PluginUnavailable
from .run_stats import BUCKETS_S, RunFigures
from .status import HostStatus, Lifecycle

if TYPE_CHECKING:
    from .host import Host

log = logging.getLogger(__name__)
SCRAPE_TIMEOUT = 10.0  # how long a scrape waits for the host's loop and the router
SPEND_TIMEOUT = 3.0  # how long the router has to report its usage


class MetricsAddressError(ValueError):
    """`--metrics` is not HOST:PORT, :PORT or PORT."""


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT, [IPV6]:PORT, :PORT or PORT (no host: every interface)."""
    where, _, port = text.strip().rpartition(":")
    where = where.strip("[]") or "0.0.0.0"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise MetricsAddressError(f"--metrics {text!r}: give HOST:PORT, :PORT or PORT (a port 0-65535)")
    return where, number


@dataclass(frozen=True)
class Spend:
    """What an agent's model calls cost, as the router's ledger books them."""

    calls: int
    tokens_in: int
    tokens_out: int
    cost: float


async def router_spend(host: Host, timeout: float = SPEND_TIMEOUT) -> dict[str, Spend] | None:
    """Each agent's spend by agent name (the router's agent scope); None when the router does not
    answer (there is none, it is down, or it keeps no ledger)."""
    try:
        stub, metadata = host.router.stub(), host.router.metadata
        spend = {}
        for agent in host.agent_infos():
            request = router_pb2.GetUsageRequest(agent_name=agent.name, limit=1)
            usage = await stub.GetUsage(request, metadata=metadata, timeout=timeout)
            spend[agent.name] = Spend(usage.calls, usage.tokens_in, usage.tokens_out, usage.cost)
        return spend
    except (grpc.RpcError, PluginUnavailable, RuntimeError) as exc:
        log.debug("metrics: the router's usage is not available: %s", exc)
        return None


class HostCollector(Collector):
    """Reads the host's status and the router's spend on the host's loop, once per scrape."""

    def __init__(self, host: Host, loop: asyncio.AbstractEventLoop) -> None:
        self.host = host
        self.loop = loop

    async def _gather(self) -> tuple[HostStatus, dict[str, Spend] | None]:
        return self.host.status(), await router_spend(self.host)

    def collect(self) -> Iterator[Metric]:
        future = asyncio.run_coroutine_threadsafe(self._gather(), self.loop)
        status, spend = future.result(SCRAPE_TIMEOUT)
        yield from families(status, spend)


def families(status: HostStatus, spend: dict[str, Spend] | None) -> Iterator[Metric]:
    """The metric families of one status (and the router's spend); in a deployment every sample
    carries the host's id as its `host` label, so the hosts' series add up."""
    if status.deployment is None:
        yield from _families(status, spend)
        return
    host = status.deployment.host_id
    for metric in _families(status, spend):
        metric.samples = [sample._replace(labels={**sample.labels, "host": host}) for sample in metric.samples]
        yield metric


def _families(status: HostStatus, spend: dict[str, Spend] | None) -> Iterator[Metric]:
    lifecycle = GaugeMetricFamily("agenthost_lifecycle_state", "1 for the host's lifecycle state", labels=["state"])
    for state in Lifecycle:
        lifecycle.add_metric([state.name], 1.0 if state is status.state else 0.0)
    yield lifecycle
    yield GaugeMetricFamily("agenthost_uptime_seconds", "Seconds since the host started", value=status.uptime_ms / 1000)
    yield from _plugin_families(status)
    yield from _process_families(status)
    yield from _run_families(status)
    yield from _spend_families(spend)
    yield from _cache_families(status)
    yield from _deployment_families(status)


def _deployment_families(status: HostStatus) -> Iterator[Metric]:
    deployment = status.deployment
    if deployment is None:
        return
    me = next((h for h in deployment.hosts if h.host_id == deployment.host_id), None)
    yield GaugeMetricFamily(
        "agenthost_deployment_hosts", "Hosts of the deployment with a heartbeat", value=len(deployment.hosts)
    )
    yield GaugeMetricFamily(
        "agenthost_deployment_partitions_owned",
        "Partitions of rooms this host owns",
        value=len(me.partitions) if me else 0,
    )
    yield GaugeMetricFamily(
        "agenthost_deployment_waiting_messages",
        "Messages the deployment's hosts hold waiting for a room's owner",
        value=deployment.waiting_messages,
    )
    yield GaugeMetricFamily(
        "agenthost_deployment_lagging_runs",
        "Runs of the deployment waiting for their room's turn or a run slot",
        value=deployment.lagging_runs,
    )


def _plugin_families(status: HostStatus) -> Iterator[Metric]:
    up = GaugeMetricFamily("agenthost_plugin_up", "1 while the plugin (or the router) is ready", labels=["plugin"])
    state = GaugeMetricFamily("agenthost_plugin_state", "1 for the plugin's state", labels=["plugin", "state"])
    restarts = CounterMetricFamily("agenthost_plugin_restarts", "Times the plugin was restarted", labels=["plugin"])
    breaker = GaugeMetricFamily(
        "agenthost_plugin_breaker_state",
        "1 for the state of a plugin component's circuit breaker (components that failed since the host started)",
        labels=["plugin", "kind", "component", "state"],
    )
    for info in [*status.plugins, *([status.router] if status.router else [])]:
        up.add_metric([info.name], 1.0 if info.state.name == "READY" else 0.0)
        state.add_metric([info.name, info.state.name.lower()], 1.0)
        restarts.add_metric([info.name], info.restarts)
        for b in info.breakers:
            for phase in BREAKER_STATES:
                breaker.add_metric([info.name, b.kind, b.name, phase], 1.0 if b.state == phase else 0.0)
    yield from (up, state, restarts, breaker)


def _process_families(status: HostStatus) -> Iterator[Metric]:
    labels = ["process", "plugin"]
    rss = GaugeMetricFamily("agenthost_process_resident_memory_bytes", "Resident memory now", labels=labels)
    peak = GaugeMetricFamily("agenthost_process_peak_resident_memory_bytes", "Most resident memory", labels=labels)
    cpu = CounterMetricFamily("agenthost_process_cpu_seconds", "User and system CPU time", labels=labels)
    percent = GaugeMetricFamily(
        "agenthost_process_cpu_percent", "CPU use since the previous sample, 100 = one core", labels=labels
    )
    figures = status.figures
    if figures is None:
        return
    samples = [(("host", ""), figures.process)]
    for info in status.plugins:
        samples.append((("plugin", info.name), figures.processes.get(info.pid) if info.pid else None))
    if status.router is not None and status.router.pid:
        samples.append((("router", "router"), figures.processes.get(status.router.pid)))
    for key, sample in samples:
        if sample is None:
            continue
        rss.add_metric(list(key), sample.rss_bytes)
        peak.add_metric(list(key), sample.peak_rss_bytes)
        cpu.add_metric(list(key), sample.cpu_seconds)
        percent.add_metric(list(key), sample.cpu_percent)
    yield from (rss, peak, cpu, percent)


def _run_families(status: HostStatus) -> Iterator[Metric]:
    labels = ["agent", "agent_id"]
    active = GaugeMetricFamily("agenthost_runs_active", "Runs going now", labels=labels)
    queued = GaugeMetricFamily("agenthost_runs_queued", "Runs waiting for their room's turn", labels=labels)
    ended = CounterMetricFamily("agenthost_runs_ended", "Runs ended, by status", labels=[*labels, "status"])
    completed = CounterMetricFamily("agenthost_runs_completed", "Runs completed (or degraded)", labels=labels)
    failed = CounterMetricFamily("agenthost_runs_failed", "Runs failed", labels=labels)
    avg = GaugeMetricFamily("agenthost_run_response_avg_seconds", "Mean response time, recent runs", labels=labels)
    p95 = GaugeMetricFamily("agenthost_run_response_p95_seconds", "95th percentile, recent runs", labels=labels)
    errors = GaugeMetricFamily("agenthost_run_error_ratio", "Failed runs / ended runs", labels=labels)
    rate = GaugeMetricFamily(
        "agenthost_runs_throughput_per_second", "Runs ended per second, last minute", labels=labels
    )
    histogram = HistogramMetricFamily("agenthost_run_response_seconds", "Response time of runs", labels=labels)
    figures = status.figures
    if figures is None:
        return
    for agent in status.agents:
        runs = figures.agent_runs.get(agent.id, RunFigures())
        key = [agent.name, agent.id]
        active.add_metric(key, runs.active)
        queued.add_metric(key, runs.queued)
        for run_status, count in sorted(runs.by_status.items()):
            ended.add_metric([*key, run_status], count)
        completed.add_metric(key, runs.completed)
        failed.add_metric(key, runs.failed)
        avg.add_metric(key, runs.avg_ms / 1000)
        p95.add_metric(key, runs.p95_ms / 1000)
        errors.add_metric(key, runs.error_rate)
        rate.add_metric(key, runs.throughput_per_s)
        cumulative, total = [], 0
        for bound, count in zip([*BUCKETS_S, math.inf], runs.buckets):
            total += count
            cumulative.append(("+Inf" if bound == math.inf else repr(bound), total))
        histogram.add_metric(key, cumulative, runs.total_s)
    yield from (active, queued, ended, completed, failed, avg, p95, errors, rate, histogram)


def _spend_families(spend: dict[str, Spend] | None) -> Iterator[Metric]:
    up = GaugeMetricFamily("agenthost_router_usage_up", "1 when the router reported its usage at this scrape")
    up.add_metric([], 0.0 if spend is None else 1.0)
    yield up
    if spend is None:
        return
    cost = CounterMetricFamily(
        "agenthost_router_cost_dollars", "Model calls' cost booked by the router", labels=["agent"]
    )
    calls = CounterMetricFamily("agenthost_router_calls", "Model call attempts booked by the router", labels=["agent"])
    tokens = CounterMetricFamily("agenthost_router_tokens", "Tokens booked", labels=["agent", "direction"])
    for agent, s in sorted(spend.items()):
        cost.add_metric([agent], s.cost)
        calls.add_metric([agent], s.calls)
        tokens.add_metric([agent, "in"], s.tokens_in)
        tokens.add_metric([agent, "out"], s.tokens_out)
    yield from (cost, calls, tokens)


class MetricsServer:
    """The metrics endpoint of one host: GET /metrics on its own thread."""

    def __init__(self, server: WSGIServer, host: str) -> None:
        self._server = server
        self.address = f"{host}:{server.server_port}"

    @property
    def url(self) -> str:
        host, _, port = self.address.rpartition(":")
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(host: Host, address: str) -> MetricsServer:
    """Serve `host`'s metrics on `address` (HOST:PORT, :PORT or PORT; port 0 picks one). Call from
    the host's event loop. MetricsAddressError for a bad address, OSError when it cannot bind."""
    where, port = parse_address(address)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(host, asyncio.get_running_loop()))
    server, _ = start_http_server(port, where, registry)
    metrics = MetricsServer(server, where)
    log.info("metrics on %s", metrics.url)
    return metrics


def _cache_families(status: HostStatus) -> Iterator[Metric]:
    cache = status.figures.router_cache if status.figures else None
    if cache is None:
        return
    hits = CounterMetricFamily("agenthost_router_cache_hits", "Calls the router answered from its response cache")
    misses = CounterMetricFamily("agenthost_router_cache_misses", "Deterministic calls not found in the cache")
    entries = GaugeMetricFamily("agenthost_router_cache_entries", "Answers the router's cache keeps now")
    ratio = GaugeMetricFamily("agenthost_router_cache_hit_ratio", "Hits over lookups since the router started")
    hits.add_metric([], cache.hits)
    misses.add_metric([], cache.misses)
    entries.add_metric([], cache.entries)
    ratio.add_metric([], cache.hit_rate)
    yield from (hits, misses, entries, ratio)
