"""Benchmark: what a host -> plugin call costs, against a bare gRPC echo measured in the same run.

Measures, in one process on one machine (so the ratios mean something on a noisy box):

1. floor: a bare grpc.aio unary echo (generic handler, bytes in/out) served by a separate
   Python process on a unix socket, called sequentially;
2. plugin call: Components.get_providers(["ECHO"], message) through a real PluginManager
   to bench/echo_plugin.py, whose provider answers with the message's text (the echo
   server's job), exactly the path the host takes (the plugin's Session stream, PROTOCOL.md
   §8.1; the report says which transport the calls took); the ratio to (1) is the mechanism's cost;
2b. the same call to the installed example plugin "time" (a provider that does some work);
   (1), (2) and (2b) are interleaved in rounds, rotating which goes first, so machine noise
   hits all alike; p50/p99 are over all samples;
3. cold start: PluginManager.load("time") from spawn to READY (discovery, process start,
   handshake, Describe, Init, StartService), median of several runs;
4. reload: PluginManager.reload("time") while idle (start the new instance, switch over,
   drain and stop the old one), median of several runs;
5. action call: Components.invoke_action("ECHO", message) to the echo plugin's do-nothing
   action, as an InvokeAction call and as a call on the plugin's Session stream (PROTOCOL.md
   §8.1, Actions; the host's side of the stream told the plugin does not serve actions there
   for the first), interleaved in rounds rotating which goes first: p50/p99 and the CPU per
   call of this process and the plugin's (psutil, summed over each side's blocks).

Prints a table, then as its last line one JSON object with the figures.

    .venv/bin/python bench/plugin_call.py            # full run (make bench)
    .venv/bin/python bench/plugin_call.py --quick    # smoke run, well under 20 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

import grpc
from agenthost.v1 import plugin_pb2
from common import percentile, run_and_report, tree_cpu_s

from host.config import SupervisionConfig
from host.plugins.components import Components
from host.plugins.discovery import Discovery, Scan
from host.plugins.instance import LaunchContext
from host.plugins.manager import PluginManager
from host.plugins.sockets import make_socket_dir
from host.plugins.tokens import TokenBook
from plugin_sdk.spec import PluginSpec
from plugin_sdk.types import ActionResult, Content, Memory, State
from plugin_sdk.wire import memory_to_proto, state_to_proto

PLUGIN = "time"
PROVIDER = "TIME"
ECHO_PLUGIN = "benchecho"
ECHO_PROVIDER = "ECHO"
TARGET_RATIO = 1.2
ECHO_SERVER = Path(__file__).resolve().with_name("echo_server.py")
ECHO_PLUGIN_SPEC = PluginSpec(
    name=ECHO_PLUGIN,
    version="1.0.0",
    command=(sys.executable, str(Path(__file__).resolve().with_name("echo_plugin.py"))),
)
ECHO_METHOD = "/bench.Echo/Echo"

Call = Callable[[], Awaitable[object]]


# -- helpers -----------------------------------------------------------------


async def timed_calls(call: Call, n: int, out: list[int]) -> None:
    """Await `call()` n times in a row, appending each latency (ns) to `out`."""
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        await call()
        out.append(clock() - start)


async def start_echo_server(socket_path: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ECHO_SERVER),
        str(socket_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 15.0)
    except asyncio.TimeoutError:
        line = b""
    if line.strip() != b"READY":
        await stop_echo_server(proc)
        raise RuntimeError(f"echo server did not start (exit code {proc.returncode}, said {line!r})")
    return proc


async def stop_echo_server(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    if proc.returncode is None:
        try:
            proc.terminate()
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), 3.0)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def check_outcomes(outcomes: list) -> None:
    """Fail loudly if the plugin call did not really run the provider."""
    if len(outcomes) != 1 or outcomes[0].error or outcomes[0].result is None or not outcomes[0].result.text:
        raise RuntimeError(f"GetProviders did not return a result: {outcomes!r}")


async def action_sides(components: Components, manager: PluginManager, args: argparse.Namespace) -> dict:
    """5: the echo plugin's action as InvokeAction and on the Session, interleaved."""
    message = Memory(content=Content(text="hi"))
    session = manager.get(ECHO_PLUGIN).connection()._session
    if session is None or not session.actions:
        raise RuntimeError("the echo plugin's Session does not serve actions")

    async def action_call() -> object:
        events = [e async for e in components.invoke_action(ECHO_PROVIDER, message)]
        if not isinstance(events[-1], ActionResult) or events[-1].text != "hi":
            raise RuntimeError(f"the action did not answer: {events!r}")
        return events

    sides = {"invoke": False, "session": True}  # side -> whether the host sends actions on the Session
    samples: dict[str, list[int]] = {name: [] for name in sides}
    cpu = {name: 0.0 for name in sides}
    try:
        for name, on_session in sides.items():
            session.actions = on_session
            await timed_calls(action_call, args.warmup, [])
        for r in range(args.rounds):
            order = list(sides.items())
            order = order[r % 2 :] + order[: r % 2]
            for name, on_session in order:
                session.actions = on_session
                before = tree_cpu_s()
                await timed_calls(action_call, args.calls, samples[name])
                cpu[name] += tree_cpu_s() - before
    finally:
        session.actions = True
    out: dict = {}
    for name, ns in samples.items():
        ns.sort()
        out[f"action_{name}_p50_us"] = round(percentile(ns, 0.5), 1)
        out[f"action_{name}_p99_us"] = round(percentile(ns, 0.99), 1)
        out[f"action_{name}_cpu_us"] = round(cpu[name] * 1e6 / max(1, len(ns)), 1)
    out["action_session_ratio"] = round(out["action_session_p50_us"] / out["action_invoke_p50_us"], 3)
    out["action_session_cpu_ratio"] = round(out["action_session_cpu_us"] / max(0.1, out["action_invoke_cpu_us"]), 3)
    return out


class BenchDiscovery(Discovery):
    """The installed plugins, plus the benchmark's own echo plugin."""

    def scan(self) -> Scan:
        found = super().scan()
        return Scan({**found.specs, ECHO_PLUGIN: ECHO_PLUGIN_SPEC}, found.broken)


# -- the benchmark -----------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    socket_dir = make_socket_dir()
    tokens = TokenBook()
    echo_proc: asyncio.subprocess.Process | None = None
    echo_channel: grpc.aio.Channel | None = None
    manager: PluginManager | None = None
    try:
        # -- the floor: a bare echo in its own process --------------------------------
        echo_socket = socket_dir / "echo.sock"
        echo_proc = await start_echo_server(echo_socket)
        echo_channel = grpc.aio.insecure_channel(f"unix://{echo_socket}")
        echo = echo_channel.unary_unary(ECHO_METHOD)

        # -- the host side, wired as host/host.py does it ------------------------------
        ctx = LaunchContext(
            socket_dir=socket_dir,
            supervision=SupervisionConfig(),
            # TIME never calls back into the host: nobody serves this socket.
            runtime_address=f"unix://{socket_dir / 'host.sock'}",
            public_address="unix:///nonexistent",
            public_tls=False,
            agent_id="bench-agent",
            agent_name="Bench",
            plugin_config={},
            issue_token=tokens.issue,
            revoke_token=tokens.revoke,
        )
        discovery = BenchDiscovery(allow=(PLUGIN, ECHO_PLUGIN))
        manager = PluginManager(ctx, discovery)
        components = Components(manager)

        # -- 3. cold start: spawn to READY, then unload ---------------------------------
        discovery_ms: list[float] = []
        for _ in range(max(1, args.cold_runs)):
            t0 = time.perf_counter()
            discovery.spec(PLUGIN)
            discovery_ms.append((time.perf_counter() - t0) * 1000)
        cold_ms: list[float] = []
        unload_ms: list[float] = []
        for i in range(max(1, args.cold_runs)):
            t0 = time.perf_counter()
            await manager.load(PLUGIN)
            cold_ms.append((time.perf_counter() - t0) * 1000)
            if i < args.cold_runs - 1:  # keep the last one loaded for the latency rounds
                t0 = time.perf_counter()
                await manager.unload(PLUGIN)
                unload_ms.append((time.perf_counter() - t0) * 1000)

        # -- 1 + 2. latency, interleaved ------------------------------------------------
        message = Memory(content=Content(text="hi"))
        request_bytes = plugin_pb2.GetProvidersRequest(
            names=[PROVIDER], message=memory_to_proto(message), state=state_to_proto(State())
        ).SerializeToString()

        def echo_call() -> Awaitable[object]:
            return echo(request_bytes)

        await manager.load(ECHO_PLUGIN)

        def plugin_call() -> Awaitable[object]:
            return components.get_providers([ECHO_PROVIDER], message)

        def time_call() -> Awaitable[object]:
            return components.get_providers([PROVIDER], message)

        check_outcomes(await components.get_providers([PROVIDER], message))
        check_outcomes(await components.get_providers([ECHO_PROVIDER], message))
        transport = manager.get(ECHO_PLUGIN).connection().transport
        if await echo(request_bytes) != request_bytes:
            raise RuntimeError("echo server returned different bytes")
        warm: list[int] = []
        await timed_calls(echo_call, args.warmup, warm)
        await timed_calls(plugin_call, args.warmup, warm)
        await timed_calls(time_call, args.warmup, warm)

        echo_ns: list[int] = []
        plugin_ns: list[int] = []
        time_ns: list[int] = []
        rounds: list[dict] = []
        for r in range(args.rounds):
            round_echo: list[int] = []
            round_plugin: list[int] = []
            order = [
                ("echo", echo_call, round_echo),
                ("plugin", plugin_call, round_plugin),
                ("time", time_call, time_ns),
            ]
            order = order[r % 3 :] + order[: r % 3]
            for _, call, out in order:
                await timed_calls(call, args.calls, out)
            echo_ns += round_echo
            plugin_ns += round_plugin
            e50, p50 = percentile(sorted(round_echo), 0.5), percentile(sorted(round_plugin), 0.5)
            rounds.append(
                {
                    "round": r + 1,
                    "first": order[0][0],
                    "echo_p50_us": round(e50, 1),
                    "plugin_p50_us": round(p50, 1),
                    "ratio": round(p50 / e50, 3),
                }
            )
        check_outcomes(await components.get_providers([PROVIDER], message))

        # -- 5. action call: InvokeAction vs the Session ---------------------------------
        actions = await action_sides(components, manager, args)

        # -- 4. reload while idle -------------------------------------------------------
        reload_ms: list[float] = []
        for _ in range(max(1, args.reloads)):
            t0 = time.perf_counter()
            await manager.reload(PLUGIN)
            reload_ms.append((time.perf_counter() - t0) * 1000)
        check_outcomes(await components.get_providers([PROVIDER], message))

        echo_ns.sort()
        plugin_ns.sort()
        time_ns.sort()
        result = {
            "plugin_p50_us": round(percentile(plugin_ns, 0.5), 1),
            "plugin_p99_us": round(percentile(plugin_ns, 0.99), 1),
            "echo_p50_us": round(percentile(echo_ns, 0.5), 1),
            "echo_p99_us": round(percentile(echo_ns, 0.99), 1),
            "time_p50_us": round(percentile(time_ns, 0.5), 1),
            "time_p99_us": round(percentile(time_ns, 0.99), 1),
            "ratio": 0.0,
            "ratio_p99": 0.0,
            "target_ratio": TARGET_RATIO,
            "meets_target": False,
            "round_ratios": [r["ratio"] for r in rounds],
            "cold_start_ms": round(statistics.median(cold_ms), 1),
            "cold_start_runs": len(cold_ms),
            "discovery_ms": round(statistics.median(discovery_ms), 1),
            "unload_ms": round(statistics.median(unload_ms), 1) if unload_ms else None,
            "reload_ms": round(statistics.median(reload_ms), 1),
            "reload_runs": len(reload_ms),
            "transport": transport,
            **actions,
            "samples": len(plugin_ns),
            "echo_samples": len(echo_ns),
            "calls_per_round": args.calls,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
        }
        result["ratio"] = round(result["plugin_p50_us"] / result["echo_p50_us"], 3)
        result["ratio_p99"] = round(result["plugin_p99_us"] / result["echo_p99_us"], 3)
        result["meets_target"] = result["ratio"] <= TARGET_RATIO
        result["_rounds"] = rounds
        result["_cold_ms"] = cold_ms
        result["_reload_ms"] = reload_ms
        return result
    finally:
        if manager is not None:
            await manager.stop_all()
        if echo_channel is not None:
            await echo_channel.close()
        if echo_proc is not None:
            await stop_echo_server(echo_proc)
        shutil.rmtree(socket_dir, ignore_errors=True)


def report(result: dict) -> None:
    rounds = result.pop("_rounds")
    cold = result.pop("_cold_ms")
    reloads = result.pop("_reload_ms")
    print(
        f"agenthost plugin-call benchmark  (python {result['python']}, grpcio {result['grpcio']}, "
        f"{result['cpus']} cpus)"
    )
    print(
        f"{result['rounds']} rounds x {result['calls_per_round']} sequential calls per side "
        f"(+{result['warmup']} warm-up each), interleaved; plugin calls over {result['transport']}\n"
    )
    print(f"{'':32}{'p50 (us)':>10}{'p99 (us)':>10}")
    print(f"{'bare grpc.aio echo (floor)':32}{result['echo_p50_us']:>10.1f}{result['echo_p99_us']:>10.1f}")
    print(f"{'plugin call (GetProviders ECHO)':32}{result['plugin_p50_us']:>10.1f}{result['plugin_p99_us']:>10.1f}")
    print(f"{'plugin call (GetProviders TIME)':32}{result['time_p50_us']:>10.1f}{result['time_p99_us']:>10.1f}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"{'ratio plugin / echo':32}{result['ratio']:>10.2f}{result['ratio_p99']:>10.2f}"
        f"   ({verdict} the {TARGET_RATIO}x p50 target)\n"
    )
    print(
        "per round:  "
        + "  ".join(
            f"#{r['round']}({r['first'][0]}) {r['plugin_p50_us']:.0f}/{r['echo_p50_us']:.0f}={r['ratio']:.2f}"
            for r in rounds
        )
    )
    print()
    print(f"{'action call (ECHO)':32}{'p50 (us)':>10}{'p99 (us)':>10}{'CPU us/call':>12}")
    for side, label in (("invoke", "as InvokeAction"), ("session", "on the Session")):
        print(
            f"{label:32}{result[f'action_{side}_p50_us']:>10.1f}{result[f'action_{side}_p99_us']:>10.1f}"
            f"{result[f'action_{side}_cpu_us']:>12.1f}"
        )
    print(
        f"{'Session / InvokeAction':32}{result['action_session_ratio']:>10.2f}{'':>10}"
        f"{result['action_session_cpu_ratio']:>12.2f}\n"
    )
    print(
        f"{'cold start, spawn to READY':32}{result['cold_start_ms']:>10.1f} ms  median of {len(cold)} "
        f"(min {min(cold):.0f}, max {max(cold):.0f}; of which discovery {result['discovery_ms']:.1f} ms)"
    )
    if result["unload_ms"] is not None:
        print(f"{'unload (stop)':32}{result['unload_ms']:>10.1f} ms  median")
    print(
        f"{'reload while idle':32}{result['reload_ms']:>10.1f} ms  median of {len(reloads)} "
        f"(min {min(reloads):.0f}, max {max(reloads):.0f})"
    )
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per side per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up calls per side (default 1000)")
    parser.add_argument("--cold-runs", type=int, default=10, help="cold starts to take the median of (default 10)")
    parser.add_argument("--reloads", type=int, default=5, help="reloads to take the median of (default 5)")
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.warmup, args.cold_runs, args.reloads = 300, 2, 200, 3, 2
    if args.calls < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--calls and --rounds must be at least 1, --warmup at least 0")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
