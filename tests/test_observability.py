"""Logs, status and Prometheus metrics as an operator uses them: `agenthost serve --metrics` in a
process of its own, the `agenthost` CLI against it, and the metrics endpoint scraped over HTTP."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import signal
import textwrap
import time
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import httpx
import pytest
from agenthost.v1 import router_pb2
from agents_support import AGENTHOST, ScriptedRouter, character
from prometheus_client.parser import text_string_to_metric_families

CONFIGURED_SECRET = "hunter2-configured-value"
OPENAI_STYLE_KEY = "sk-proj-AbCdEf0123456789xyz"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"
PLUGIN_KEY = "chatty-key-0123456789"


class SpendingRouter(ScriptedRouter):
    """The scripted router, which fails a message saying "boom" (quoting it, as providers do) and
    reports each agent's usage from a ledger of its own."""

    async def _answer(self, request: router_pb2.InvokeRequest) -> router_pb2.InvokeResponse:
        text = request.messages[-1].content
        if "boom" in text:
            raise _ProviderError(text)
        return await super()._answer(request)

    async def Invoke(self, request: router_pb2.InvokeRequest, context: Any) -> router_pb2.InvokeResponse:
        try:
            return await super().Invoke(request, context)
        except _ProviderError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"provider rejected the request: {exc}")
            raise

    async def InvokeStream(self, request: router_pb2.InvokeStreamRequest, context: Any) -> AsyncIterator[Any]:
        try:
            async for part in super().InvokeStream(request, context):
                yield part
        except _ProviderError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"provider rejected the request: {exc}")

    async def ListProviders(self, request: Any, context: Any) -> router_pb2.ListProvidersResponse:
        return router_pb2.ListProvidersResponse()  # no providers of its own, so none is down

    async def GetUsage(self, request: router_pb2.GetUsageRequest, context: Any) -> router_pb2.GetUsageResponse:
        calls = sum(1 for c in self.calls if c.agent_name == request.agent_name)
        return router_pb2.GetUsageResponse(calls=calls, tokens_in=10 * calls, tokens_out=5 * calls, cost=0.25 * calls)


class _ProviderError(Exception):
    pass


def _chatty_plugin(site: Path) -> Path:
    """An installed plugin (its package and dist-info in `site`) that says something as it starts."""
    module = site / "agenthost_plugin_chatty"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "spec.py").write_text(
        textwrap.dedent("""
        from plugin_sdk import PluginSpec, hookimpl

        @hookimpl
        def agenthost_plugin_spec():
            return PluginSpec(name="chatty", version="1.0.0", module="agenthost_plugin_chatty")
        """)
    )
    (module / "__main__.py").write_text(
        textwrap.dedent(f"""
        import sys
        from plugin_sdk import Plugin, ProviderResult, serve

        print("chatty starting; api_key={PLUGIN_KEY}", file=sys.stderr, flush=True)
        plugin = Plugin("chatty", version="1.0.0")

        @plugin.provider("CHATTY")
        async def chatty(ctx, message, state):
            return ProviderResult(text="chatty")

        serve(plugin)
        """)
    )
    info = site / "agenthost_plugin_chatty-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: agenthost-plugin-chatty\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[agenthost.plugins]\nchatty = agenthost_plugin_chatty.spec\n")
    return site


class Served:
    """`agenthost serve --metrics 127.0.0.1:0` with two agents, Alpha and Beta."""

    def __init__(self, tmp: Path, router_address: str) -> None:
        self.tmp = tmp
        self.address = f"unix://{tmp}/host.sock"
        self.env = {
            **os.environ,
            "AGENTHOST_ADDR": self.address,
            "AGENTHOST_DATA_DIR": str(tmp / "data"),
            "PYTHONPATH": str(_chatty_plugin(tmp / "site")),
        }
        self.config = tmp / "agenthost.toml"
        self.config.write_text(
            textwrap.dedent(f"""
            data_dir = "data"
            router_address = "{router_address}"
            [secrets]
            SHOP_PASSWORD = "{CONFIGURED_SECRET}"
            [plugins]
            allow = ["time", "weather", "chatty"]
            [supervision]
            health_interval = 0.5
            """)
        )
        self.log_path = tmp / "host.log"
        self.characters = [character(tmp, name, plugins=["time"]) for name in ("Alpha", "Beta")]
        self.proc: asyncio.subprocess.Process | None = None
        self.metrics_url = ""

    async def start(self, *extra: str) -> None:
        with open(self.log_path, "w") as log:
            self.proc = await asyncio.create_subprocess_exec(
                AGENTHOST,
                "serve",
                "--listen",
                self.address,
                "--config",
                str(self.config),
                *(arg for path in self.characters for arg in ("--character", str(path))),
                *extra,
                env=self.env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        code, _, err = await self.cli("wait", "--timeout", "60")
        assert code == 0, err + self.log_path.read_text()
        found = re.search(r"metrics on (http://\S+)", self.log_path.read_text())
        self.metrics_url = found.group(1) if found else ""

    async def cli(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            AGENTHOST, *args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        code, out, err = await self.cli(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    async def send(self, agent: str, text: str) -> tuple[int, list[dict[str, Any]]]:
        """Send one message; the exit code and its events (JSON lines)."""
        code, out, err = await self.cli("send", "--agent", agent, "--room", f"room-{agent}", "--json", text)
        assert "Traceback" not in err, err
        return code, [json.loads(line) for line in out.splitlines() if line.strip()]

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 30)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Served, SpendingRouter]]:
    router = SpendingRouter()
    await router.start(f"unix://{tmp_path}/router.sock")
    host = Served(tmp_path, f"unix://{tmp_path}/router.sock")
    try:
        await host.start("--metrics", "127.0.0.1:0")
        yield host, router
    finally:
        await host.stop()
        await router.stop()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_status_and_metrics_report_runs_processes_and_spend(served: tuple[Served, SpendingRouter]) -> None:
    host, router = served
    for text in ("hello", "how are you?", "tell me more"):
        code, _ = await host.send("Alpha", text)
        assert code == 0
    code, events = await host.send("Beta", "boom")
    assert code == 1 and events[-1]["extra"]["status"] == "failed"

    doc = await host.json("status")
    agents = {a["name"]: a for a in doc["agents"]}
    alpha, beta = agents["Alpha"]["runs"], agents["Beta"]["runs"]
    assert (alpha["ended"], alpha["completed"], alpha["failed"], alpha["active"]) == (3, 3, 0, 0)
    assert (beta["ended"], beta["failed"], beta["error_rate"]) == (1, 1, 1.0)
    total = doc["runs"]
    assert (total["ended"], total["completed"], total["failed"]) == (4, 3, 1)
    assert total["error_rate"] == 0.25 and total["by_status"] == {"completed": 3, "failed": 1}
    assert 0 < alpha["avg_ms"] <= alpha["p95_ms"] and total["throughput_per_s"] > 0
    # Memory and CPU of the host and of every plugin process, sampled now.
    assert doc["process"]["pid"] == host.proc.pid and doc["process"]["rss_bytes"] > 10_000_000  # type: ignore[union-attr]
    assert doc["process"]["peak_rss_bytes"] >= doc["process"]["rss_bytes"] and doc["process"]["cpu_seconds"] > 0
    time_plugin = next(p for p in doc["plugins"] if p["name"] == "time")
    assert time_plugin["process"]["pid"] == time_plugin["pid"] and time_plugin["process"]["rss_bytes"] > 1_000_000
    # Spend from the router's ledger, each agent's and in all.
    spend = doc["router"]["spend"]
    alpha_calls = sum(1 for c in router.calls if c.agent_name == "Alpha")
    assert spend["agents"]["Alpha"] == {
        "calls": alpha_calls,
        "tokens_in": 10 * alpha_calls,
        "tokens_out": 5 * alpha_calls,
        "cost": 0.25 * alpha_calls,
    }
    assert spend["cost"] == 0.25 * len(router.calls)
    assert doc["cache_hit_rate"] is None  # this router reports no response cache

    code, text, err = await host.cli("status")
    assert code == 0, err
    assert "runs: 0 active (0 queued), 4 ended: 3 completed, 1 failed; response avg" in text
    assert "error rate 25.0%" in text and f"host: pid {host.proc.pid} rss " in text  # type: ignore[union-attr]
    assert f"spend: ${spend['cost']:.6f} in {len(router.calls)} call(s)" in text
    assert re.search(r"\ntime\s+\S+\s+ready\s+\d+\s+0\s+[\d.]+ MB\s+[\d.]+ MB\s+[\d.]+%", text), text

    # The same figures to Prometheus, labelled by agent and plugin.
    assert host.metrics_url.startswith("http://127.0.0.1:") and host.metrics_url.endswith("/metrics")
    async with httpx.AsyncClient() as client:
        response = await client.get(host.metrics_url, timeout=15)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    alpha_id, beta_id = agents["Alpha"]["id"], agents["Beta"]["id"]

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("agenthost_runs_ended_total", agent="Alpha", agent_id=alpha_id, status="completed") == 3
    assert value("agenthost_runs_failed_total", agent="Beta", agent_id=beta_id) == 1
    assert value("agenthost_run_error_ratio", agent="Beta", agent_id=beta_id) == 1.0
    assert value("agenthost_run_response_seconds_count", agent="Alpha", agent_id=alpha_id) == 3
    assert value("agenthost_run_response_p95_seconds", agent="Alpha", agent_id=alpha_id) == pytest.approx(
        alpha["p95_ms"] / 1000, rel=0.5
    )
    assert value("agenthost_runs_active", agent="Alpha", agent_id=alpha_id) == 0
    assert value("agenthost_process_resident_memory_bytes", process="plugin", plugin="time") > 1_000_000
    assert value("agenthost_process_resident_memory_bytes", process="host", plugin="") > 10_000_000
    assert value("agenthost_process_cpu_seconds_total", process="host", plugin="") > 0
    assert value("agenthost_plugin_up", plugin="time") == 1
    assert value("agenthost_lifecycle_state", state="READY") == 1
    assert value("agenthost_router_usage_up") == 1
    assert value("agenthost_router_cost_dollars_total", agent="Alpha") == 0.25 * alpha_calls
    # The host keeps serving after a scrape.
    code, _ = await host.send("Alpha", "still there?")
    assert code == 0


async def test_logs_carry_agent_plugin_and_run_are_redacted_and_filtered(
    served: tuple[Served, SpendingRouter],
) -> None:
    host, _ = served
    started = time.time()
    code, events = await host.send("Beta", f"boom {OPENAI_STYLE_KEY} {CONFIGURED_SECRET} Authorization: {BEARER}")
    assert code == 1
    failed_run = events[0]["run_id"]
    code, events = await host.send("Alpha", "hello")
    assert code == 0

    records = (await host.json("logs", "--tail", "1000"))["records"]
    assert {"time", "level", "message", "agent", "agent_id", "plugin", "run_id"} <= set(records[0])
    everything = json.dumps(records) + host.log_path.read_text()
    for secret in (OPENAI_STYLE_KEY, CONFIGURED_SECRET, "eyJhbGciOiJIUzI1NiJ9", PLUGIN_KEY):
        assert secret not in everything
    failure = [r for r in records if "provider rejected the request" in r["message"]]
    assert failure and "sk-***" in failure[0]["message"] and "Authorization: ***" in failure[0]["message"]
    assert failure[0]["run_id"] == failed_run and failure[0]["agent"] == "Beta"

    by_run = (await host.json("logs", "--run", failed_run[:8]))["records"]
    assert by_run and all(r["run_id"] == failed_run for r in by_run)
    by_agent = (await host.json("logs", "--agent", "Beta", "--tail", "1000"))["records"]
    assert by_agent and {r["agent"] for r in by_agent} == {"Beta"}
    assert any(r["run_id"] == failed_run for r in by_agent)
    by_plugin = (await host.json("logs", "--plugin", "chatty", "--tail", "1000"))["records"]
    assert by_plugin and {r["plugin"] for r in by_plugin} == {"chatty"}
    assert any(r["message"] == "chatty starting; api_key=***" for r in by_plugin)  # its own output, redacted
    warnings = (await host.json("logs", "--level", "warn", "--tail", "1000"))["records"]
    assert warnings and {r["level"] for r in warnings} <= {"warn", "error", "fatal"}

    # Time ranges: a duration ago, or an ISO time.
    recent = (await host.json("logs", "--since", "10m", "--tail", "1000"))["records"]
    assert any(r["run_id"] == failed_run for r in recent)
    after = datetime.datetime.fromtimestamp(started - 0.5).isoformat()
    since_send = (await host.json("logs", "--since", after, "--tail", "1000"))["records"]
    assert since_send and all(r["time_ms"] >= (started - 0.5) * 1000 for r in since_send)
    assert any(r["run_id"] == failed_run for r in since_send)
    before = datetime.datetime.fromtimestamp(started - 0.5, datetime.timezone.utc).isoformat()
    until = (await host.json("logs", "--until", before, "--tail", "1000"))["records"]
    assert until and all(r["time_ms"] <= (started - 0.5) * 1000 for r in until)
    assert not any(r["run_id"] == failed_run for r in until)
    code, _, err = await host.cli("logs", "--since", "yesterday-ish")
    assert (
        code == 2
        and err.startswith("agenthost: --since/--until: 'yesterday-ish' is not a time")
        and err.count("\n") == 1
    )

    code, _, err = await host.cli("logs", "--since", "1m", "--until", "2h")
    assert code == 2 and err == "agenthost: --until is before --since: no record can match\n"
    # A follow that has an end ends by itself once that time has passed.
    soon = datetime.datetime.fromtimestamp(time.time() + 2).isoformat()
    began = time.monotonic()
    code, _, err = await host.cli("logs", "-f", "--until", soon)
    assert code == 0 and time.monotonic() - began < 20, err

    # Text lines name the run; -f follows new records of one agent.
    code, text, _ = await host.cli("logs", "--run", failed_run)
    assert code == 0 and f"(run {failed_run[:8]})" in text and "sk-***" in text
    follower = await asyncio.create_subprocess_exec(
        AGENTHOST,
        "logs",
        "-f",
        "--json",
        "--agent",
        "Alpha",
        "--tail",
        "1",
        env=host.env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert follower.stdout is not None
        await asyncio.wait_for(follower.stdout.readline(), 30)  # the tail: following from here
        code, events = await host.send("Alpha", "one more")
        new_run = events[0]["run_id"]
        seen: list[dict[str, Any]] = []
        while not any(r["run_id"] == new_run for r in seen):
            seen.append(json.loads(await asyncio.wait_for(follower.stdout.readline(), 30)))
        assert {r["agent"] for r in seen} == {"Alpha"}
    finally:
        follower.kill()
        await follower.wait()


async def test_a_bad_metrics_address_stops_serve_with_one_line(tmp_path: Path) -> None:
    host = Served(tmp_path, "off")
    for bad, said in (("nope", "give HOST:PORT, :PORT or PORT"), ("127.0.0.1:70000", "a port 0-65535")):
        proc = await asyncio.create_subprocess_exec(
            AGENTHOST,
            "serve",
            "--config",
            str(host.config),
            "--metrics",
            bad,
            env=host.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2 and err.decode().count("\n") == 1 and said in err.decode(), err
