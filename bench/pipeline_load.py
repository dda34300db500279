"""The pipeline benchmark's load section: agenthost and elizaOS side by side, same workload.

agenthost: a host process (bench/pipeline_host.py) with 8 providers across 2 plugin processes,
1 action (its validate says no), 1 always_run evaluator and a zero-latency scripted model; the
client (this process) opens one channel per room and each room sends its messages one after
another, all rooms at once. Messages/s, p50/p99 (client-side, SendMessage to RUN_ENDED), and
CPU time per message of the host, of each plugin process and of the client (psutil, over the
timed messages only), and the plugin round trips per message (counted in the host). The CPU
figure compared with elizaOS's (`cpu_ms_per_msg`) is the host's and its plugins', as issue 10
defines it: the server's cost of a message. The client's (this process: grpc.aio's end of the
SendMessage streams, and the benchmark's own checks) is reported beside it, and in
`cpu_ms_per_msg_with_client`; elizaOS's side has no client, it is called in its own process.

elizaOS: bench/pipeline_elizaos.py in its own process, the same workload (see there for how
the fight is made fair); skipped, and said so, when elizaos is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import psutil
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from common import end_by_stdin, percentile

HERE = Path(__file__).resolve().parent
TOKEN = "bench-api-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
EXPECTED = ["RUN_STARTED", "REPLY", "EVALUATOR", "RUN_ENDED"]


def elizaos_installed() -> bool:
    return (
        importlib.util.find_spec("elizaos") is not None
        and importlib.util.find_spec("elizaos_plugin_inmemorydb") is not None
    )


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class HostProcess:
    """The bench host in its own process, and its plugin processes."""

    def __init__(self, proc: asyncio.subprocess.Process, address: str) -> None:
        self.proc = proc
        self.address = address
        self.host = psutil.Process(proc.pid)
        # by name: benchpipelinea (4 providers, the action, the evaluator), benchpipelineb (4 + the model)
        children = self.host.children(recursive=True)
        self.plugins = {"benchpipeline" + p.environ().get("AGENTHOST_BENCH_PART", "?"): p for p in children}

    @classmethod
    async def start(cls, tmp: Path) -> HostProcess:
        socket = tmp / "load.sock"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "pipeline_host.py"),
            str(tmp / "load"),
            str(socket),
            TOKEN,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"READY":
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"bench host did not start (said {line!r}; its stderr says why)")
        return cls(proc, f"unix://{socket}")

    async def calls(self) -> dict[str, int]:
        """Plugin round trips since the last ask, by "plugin method"."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"calls\n")
        await self.proc.stdin.drain()
        return json.loads(await self.proc.stdout.readline())

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the host, each plugin, and this process (the client)."""
        out = {"host": cpu_seconds(self.host), "client": cpu_seconds(psutil.Process())}
        for name, proc in self.plugins.items():
            out[name] = cpu_seconds(proc)
        return out

    async def stop(self) -> None:
        await end_by_stdin(self.proc)


async def room_client(
    address: str,
    room: str,
    n: int,
    latencies: list[int] | None,
    events: tuple[str, ...] = (),
    converse: bool = False,
) -> None:
    """One room's client: n messages one after another, each read to RUN_ENDED and checked;
    `events`: the event types it asks for (SendMessageRequest.events; empty: all); `converse`:
    all on one Converse stream, else a SendMessage call each."""
    expected = [e for e in EXPECTED if e in events or e == "RUN_ENDED"] if events else EXPECTED
    async with grpc.aio.insecure_channel(address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        req = agent_pb2.SendMessageRequest(
            room_id=room, entity_id="bench-user", content=types_pb2.Content(text=f"hello from {room}"), events=events
        )
        stream = stub.Converse(metadata=AUTH) if converse else None
        for _ in range(n):
            start = time.perf_counter_ns()
            seen, status, reply = [], "", ""
            async for event in _events(stub, stream, req):
                seen.append(event.event_type)
                if event.event_type == "REPLY":
                    reply = event.content.text
                elif event.event_type == "RUN_ENDED":
                    status = event.content.extra["status"] if "status" in event.content.extra else ""
            if latencies is not None:
                latencies.append(time.perf_counter_ns() - start)
            if seen != expected or status != "completed" or reply != "ok":
                raise RuntimeError(f"unexpected run in room {room}: events {seen}, status {status!r}, reply {reply!r}")
        if stream is not None:
            await stream.done_writing()


async def _events(
    stub: agent_pb2_grpc.AgentServiceStub, stream: Any, req: agent_pb2.SendMessageRequest
) -> AsyncIterator[agent_pb2.SendMessageResponse]:
    """One message's events to RUN_ENDED: on the Converse stream, else from a SendMessage call."""
    if stream is None:
        async for event in stub.SendMessage(req, metadata=AUTH):
            yield event
        return
    await stream.write(agent_pb2.ConverseRequest(message=req))
    while True:
        event = (await stream.read()).event
        yield event
        if event.event_type == "RUN_ENDED":
            return


async def agenthost_load(
    tmp: Path,
    rooms_list: list[int],
    per_room: int,
    warmup: int,
    events: tuple[str, ...] = (),
    converse: bool = False,
) -> dict[str, Any]:
    """agenthost at each number of rooms: msgs/s, p50/p99, CPU per message by process, round trips;
    the clients ask for `events` only (empty: every event), each on a Converse stream of its own
    when `converse`, else a SendMessage call per message."""
    host = await HostProcess.start(tmp)
    try:
        out: dict[str, Any] = {}
        for rooms in rooms_list:
            names = [f"load{rooms}-{i}" for i in range(rooms)]
            await asyncio.gather(*(room_client(host.address, r, warmup, None, events, converse) for r in names))
            await host.calls()
            latencies: list[int] = []
            cpu0 = host.cpu()
            start = time.perf_counter()
            clients = (room_client(host.address, r, per_room, latencies, events, converse) for r in names)
            await asyncio.gather(*clients)
            elapsed = time.perf_counter() - start
            cpu1 = host.cpu()
            calls = await host.calls()
            n = len(latencies)
            latencies.sort()
            cpu_ms = {k: round((cpu1[k] - cpu0[k]) * 1000 / n, 3) for k in cpu0}
            by_plugin: dict[str, float] = {}
            for key, count in calls.items():
                plugin = key.split()[0]
                by_plugin[plugin] = round(by_plugin.get(plugin, 0) + count / n, 2)
            out[str(rooms)] = {
                "msgs_per_s": round(n / elapsed, 1),
                "p50_ms": round(percentile(latencies, 0.5) / 1000, 2),
                "p99_ms": round(percentile(latencies, 0.99) / 1000, 2),
                "cpu_ms_per_msg": round(sum(v for k, v in cpu_ms.items() if k != "client"), 3),
                "cpu_ms_per_msg_with_client": round(sum(cpu_ms.values()), 3),
                "cpu_ms_by_process": cpu_ms,
                "round_trips_per_plugin": by_plugin,
                "calls_per_msg": {k: round(v / n, 2) for k, v in sorted(calls.items())},
                "messages": n,
                "events": list(events) or "all",
                "transport": "Converse" if converse else "SendMessage",
            }
        return out
    finally:
        await host.stop()


async def elizaos_load(rooms_list: list[int], per_room: int, warmup: int) -> dict[str, Any] | None:
    """elizaOS at each number of rooms (a fresh process each), or None when it is not installed."""
    if not elizaos_installed():
        print("bench: elizaos is not installed (pip install '.[bench]'): skipping the elizaOS side", file=sys.stderr)
        return None
    out: dict[str, Any] = {}
    for rooms in rooms_list:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "pipeline_elizaos.py"),
            str(rooms),
            str(per_room),
            str(warmup),
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the elizaOS side failed (exit {proc.returncode}; its stderr says why)")
        out[str(rooms)] = json.loads(stdout.decode().strip().splitlines()[-1])
    return out
