"""Benchmark (issue 14): a tool call through an MCP stdio server as the host makes it for a
run's action, against calling the same server directly with the `mcp` SDK's client. Target: at
most 1.3x.

Measures, in one process, interleaved in rounds (rotating which goes first, so machine noise
hits both alike), p50/p99 over all samples, and the CPU per call of the whole process tree
(this process, which is also the host, and every process under it: servers, bridge):

1. floor: the `mcp` SDK's ClientSession over stdio_client calling `echo` on an MCPServer
   (this file run with --serve-stdio: one cheap tool that returns its text);
1b. the SDK's higher-level Client (mcp.Client, the bridge's connection, response cache off;
   the bridge sends tools/call through its session, below Client.call_tool) to the same server;
2. via the host: Components.invoke_action("BENCH_ECHO", message, {"arguments": {...}}) on a
   real in-process Host whose [mcp.servers.bench] is the same server behind its bridge plugin
   (plugin_sdk.mcp_bridge): host -> bridge (a call on the plugin's Session stream, PROTOCOL.md
   §8.1 Actions; an InvokeAction call before 2026-12-02) -> server and back,
   exactly the action step of a run (arguments given, so the model is not asked for them).

Prints a table, then as its last line one JSON object with the figures.

    .venv/bin/python bench/mcp.py            # full run
    .venv/bin/python bench/mcp.py --quick    # smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve()
# This file is bench/mcp.py (and bench/http.py is there too): bench/ goes last on sys.path, so
# `import mcp` finds the SDK and `http` the standard library, and bench's own modules still import.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent] + [str(HERE.parent)]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
from typing import Any, Awaitable, Callable  # noqa: E402

from common import percentile, run_and_report, tree_cpu_s  # noqa: E402
from plugin_call import timed_calls  # noqa: E402

TARGET_RATIO = 1.3
SERVER = "bench"
ACTION = "BENCH_ECHO"
TEXT = "ping"

Call = Callable[[], Awaitable[object]]


def serve_stdio() -> None:
    """The MCP server both sides call: one cheap tool."""
    from mcp.server import MCPServer

    server = MCPServer(SERVER)

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return text

    server.run("stdio")


def summary(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_us": percentile(ordered, 0.5), "p99_us": percentile(ordered, 0.99), "n": len(ordered)}


class _NothingInstalled:
    """Discovery finding no installed plugins: the host runs the configured MCP server's bridge alone."""

    def specs(self) -> dict[str, Any]:
        return {}

    def scan(self) -> Any:
        from host.plugins.discovery import Scan

        return Scan({})

    def spec(self, name: str) -> Any:
        raise LookupError(f"no installed plugin named {name!r}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from mcp import Client, ClientSession  # type: ignore[attr-defined]  # mypy reads bench/ as a root: this file is "mcp"
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from host.config import HostConfig, SupervisionConfig
    from host.host import Host
    from host.mcp.servers import McpServer
    from plugin_sdk.types import ActionResult, Content, Memory

    logging.basicConfig(level=logging.WARNING)
    command = (sys.executable, str(HERE), "--serve-stdio")
    work = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    supervision = SupervisionConfig(start_timeout=60.0, health_interval=5.0, health_timeout=5.0)
    config = HostConfig(
        listen=f"unix://{work}/host.sock",
        data_dir=work / "data",
        http="off",
        router_address="off",
        supervision=supervision,
        mcp=(McpServer(name=SERVER, command=command),),
    )
    host = Host(config, discovery=_NothingInstalled())  # type: ignore[arg-type]
    await host.start()
    logging.disable(logging.INFO)  # the host's own lines while it runs
    message = Memory(content=Content(text=TEXT))
    options = {"arguments": {"text": TEXT}}

    async def via_host() -> None:
        result = None
        async for event in host.components.invoke_action(ACTION, message, options=options):
            result = event
        if not isinstance(result, ActionResult) or not result.success or result.text != TEXT:
            raise RuntimeError(f"the action did not echo: {result!r}")

    params = StdioServerParameters(command=command[0], args=list(command[1:]))
    try:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
            Client(params, cache=None) as client,
        ):
            await session.initialize()

            async def direct() -> None:
                answer = await session.call_tool("echo", {"text": TEXT})
                if answer.is_error or answer.content[0].text != TEXT:  # type: ignore[union-attr]
                    raise RuntimeError(f"the tool did not echo: {answer!r}")

            async def direct_client() -> None:
                answer = await client.call_tool("echo", {"text": TEXT})
                if answer.is_error or answer.content[0].text != TEXT:  # type: ignore[union-attr]
                    raise RuntimeError(f"the tool did not echo: {answer!r}")

            paths: dict[str, Call] = {"direct": direct, "client": direct_client, "host": via_host}
            samples: dict[str, list[int]] = {name: [] for name in paths}
            cpu: dict[str, float] = {name: 0.0 for name in paths}
            for call in paths.values():  # warm-up
                await timed_calls(call, args.warmup, [])
            order = list(paths)
            for round_no in range(args.rounds):
                for name in order[round_no % 3 :] + order[: round_no % 3]:
                    before = tree_cpu_s()
                    await timed_calls(paths[name], args.calls, samples[name])
                    cpu[name] += tree_cpu_s() - before
    finally:
        await host.stop()
    figures = {name: summary(s) for name, s in samples.items()}
    for name, seconds in cpu.items():  # the whole process tree's CPU per call, in microseconds
        figures[name]["cpu_us_per_call"] = round(seconds * 1e6 / max(1, len(samples[name])), 1)
    ratio_p50 = figures["host"]["p50_us"] / figures["direct"]["p50_us"]
    ratio_p99 = figures["host"]["p99_us"] / figures["direct"]["p99_us"]
    vs_client = figures["host"]["p50_us"] / figures["client"]["p50_us"]
    return {
        "bench": "mcp",
        "python": platform.python_version(),
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "direct": figures["direct"],
        "client": figures["client"],
        "host": figures["host"],
        "ratio_p50_vs_client": round(vs_client, 3),
        "ratio_p50": round(ratio_p50, 3),
        "ratio_p99": round(ratio_p99, 3),
        "cpu_ratio": round(figures["host"]["cpu_us_per_call"] / max(1.0, figures["direct"]["cpu_us_per_call"]), 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio_p50 <= TARGET_RATIO,
    }


def report(result: dict[str, Any]) -> None:
    print(f"MCP tool call, {result['rounds']} rounds x {result['calls_per_round']} calls per path")
    print(f"{'path':<40} {'p50 us':>10} {'p99 us':>10} {'CPU us/call':>12}")
    names = {
        "direct": "SDK ClientSession -> server (floor)",
        "client": "SDK Client (the bridge's) -> server",
        "host": "host action -> bridge -> server",
    }
    for key, label in names.items():
        row = result[key]
        print(f"{label:<40} {row['p50_us']:>10.1f} {row['p99_us']:>10.1f} {row['cpu_us_per_call']:>12.1f}")
    verdict = "meets" if result["meets_target"] else "misses"
    print(f"ratio p50 {result['ratio_p50']:.2f}x, p99 {result['ratio_p99']:.2f}x ({verdict} {TARGET_RATIO}x)")
    print(f"CPU per call, host path / floor: {result['cpu_ratio']:.2f}x (steadier than the p50 ratio on a loaded box)")
    print(f"host vs the bridge's own client class called directly: p50 {result['ratio_p50_vs_client']:.2f}x")
    print(json.dumps(result))


def main() -> int:
    if "--serve-stdio" in sys.argv[1:]:
        serve_stdio()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few rounds")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=100, help="calls per path per round")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.warmup = 4, 25, 10
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
