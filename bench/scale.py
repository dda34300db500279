"""Several hosts as one deployment (issue 15): what spreading rooms over hosts gives and costs.

    python bench/scale.py [--quick] [--postgres-url URL] [--only throughput,failover,overhead]

Every host is an `agenthost serve` process (bench/deployment_hosts.py) on one PostgreSQL (the
store and the coordination tables in a schema made for the run, dropped after), its model
bench/echo_router.py in a process of its own (zero latency, shared by the hosts), no plugins.
The client is this process: one gRPC channel per host, SendMessage per message.

- throughput: 50 and 500 rooms, each sending its messages one after another, message i of room
  r to host (r + i) mod N (any host accepts any room: with N hosts, (N-1)/N of the messages are
  forwarded to their room's owner), with 1, 2 and 3 hosts in a deployment; messages/s, p50/p99,
  CPU per message of the hosts, the router and the client; ratios to 1 host. The machine has 2
  cores shared by every process here, so more hosts cannot add cores: the ratio shows what
  coordination and forwarding cost, not what more machines would give.
- failover: 3 hosts (the default lease_s 6, tick_s 1); a host owning a room is SIGKILLed and a
  message for that room is sent at once to another host: seconds until it is answered (by the
  room's next owner), and until the survivors' status shows none of the dead host's partitions,
  against the bound lease_s + tick_s; repeated with a new host each time.
- overhead: one message at a time through (a) a host with no deployment, (b) a host alone in a
  deployment, (c) host x of two, for rooms host y owns (every message forwarded): p50/p99 latency
  and the hosts' CPU per message, interleaved rounds, ratios to (a). All on the same PostgreSQL
  store.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from common import end_by_stdin, percentile, run_and_report
from deployment_hosts import Deployment
from load import AUTH
from pipeline_load import cpu_seconds

from host.deployment.partitions import partition_of

HERE = Path(__file__).resolve().parent
DEFAULT_URL = os.environ.get("AGENTHOST_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
LEASE_S, TICK_S = 6.0, 1.0  # the [deployment] defaults


class Router:
    """bench/echo_router.py in its own process."""

    def __init__(self, proc: asyncio.subprocess.Process, address: str) -> None:
        self.proc, self.address = proc, address
        self.ps = psutil.Process(proc.pid)

    @classmethod
    async def start(cls, root: Path) -> Router:
        socket = root / "router.sock"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "echo_router.py"),
            str(socket),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        if (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() != b"READY":
            proc.kill()
            raise RuntimeError("the echo router did not start")
        return cls(proc, f"unix://{socket}")

    async def stop(self) -> None:
        await end_by_stdin(self.proc, 10.0)


def host_cpu(deployment: Deployment, names: list[str]) -> float:
    """CPU seconds so far of hosts `names` and their children."""
    total = 0.0
    for name in names:
        host = psutil.Process(deployment.hosts[name].proc.pid)
        for proc in (host, *host.children(recursive=True)):
            try:
                total += cpu_seconds(proc)
            except psutil.Error:
                pass
    return total


async def send(stub: agent_pb2_grpc.AgentServiceStub, room: str, text: str) -> int:
    """One message, read to RUN_ENDED and checked (completed, the echo's reply): nanoseconds."""
    request = agent_pb2.SendMessageRequest(
        room_id=room,
        entity_id="scale-user",
        content=types_pb2.Content(text=text),
        message_id=str(uuid.uuid4()),
        events=["REPLY"],
    )
    began = time.perf_counter_ns()
    reply, status = "", ""
    async for event in stub.SendMessage(request, metadata=AUTH, timeout=120):
        if event.event_type == "REPLY":
            reply = event.content.text
        elif event.event_type == "RUN_ENDED":
            status = str(event.content.extra["status"]) if "status" in event.content.extra else ""
    if status != "completed" or reply != f"echo: {text}":
        raise RuntimeError(f"room {room}: {text!r} ended {status!r} with reply {reply!r}")
    return time.perf_counter_ns() - began


def figures(latencies: list[int], elapsed: float, cpu: dict[str, float]) -> dict[str, Any]:
    n = len(latencies)
    latencies.sort()
    return {
        "messages": n,
        "msgs_per_s": round(n / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) / 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) / 1000, 2),
        "cpu_ms_per_msg": {k: round(v * 1000 / n, 3) for k, v in cpu.items()},
    }


async def throughput(
    args: argparse.Namespace, root: Path, router: Router, hosts: int, load: list[tuple[int, int]]
) -> dict[str, Any]:
    """Messages/s with `hosts` hosts at each (rooms, messages per room) of `load`."""
    names = ["a", "b", "c"][:hosts]
    deployment = Deployment(root / f"t{hosts}", args.postgres_url, f"scale_{uuid.uuid4().hex[:10]}", router.address)
    try:
        await deployment.start(*names)
        await deployment.settled(names)
        stubs = [deployment.hosts[n].stub for n in names]
        out: dict[str, Any] = {}
        for rooms, per_room in load:
            tag = uuid.uuid4().hex[:6]

            async def room(r: int, count: int, latencies: list[int] | None) -> None:
                for i in range(count):
                    took = await send(stubs[(r + i) % hosts], f"s{tag}-{r}", f"s{tag}-{r} #{i}")
                    if latencies is not None:
                        latencies.append(took)

            await asyncio.gather(*(room(r, 1, None) for r in range(rooms)))  # warm-up: the rooms exist
            latencies: list[int] = []
            before = (host_cpu(deployment, names), cpu_seconds(router.ps), cpu_seconds(psutil.Process()))
            began = time.perf_counter()
            await asyncio.gather(*(room(r, per_room, latencies) for r in range(rooms)))
            elapsed = time.perf_counter() - began
            after = (host_cpu(deployment, names), cpu_seconds(router.ps), cpu_seconds(psutil.Process()))
            cpu = {k: after[i] - before[i] for i, k in enumerate(("hosts", "router", "client"))}
            out[str(rooms)] = figures(latencies, elapsed, cpu)
            print(f"  {hosts} host(s), {rooms} rooms: {out[str(rooms)]}", file=sys.stderr)
        return out
    finally:
        await deployment.stop()
        await deployment.drop()


def room_owned_by(owners: dict[int, str], host_id: str, agent_id: str, prefix: str) -> str:
    """A room name whose partition `host_id` owns."""
    mine = {p for p, owner in owners.items() if owner == host_id}
    return next(f"{prefix}-{n}" for n in range(100_000) if partition_of(agent_id, f"{prefix}-{n}", 64) in mine)


async def failover(args: argparse.Namespace, root: Path, router: Router, trials: int) -> dict[str, Any]:
    """Seconds from a host's SIGKILL to its room answered by another host, and to its partitions
    owned by the others; a new host joins after each trial."""
    deployment = Deployment(
        root / "failover", args.postgres_url, f"scale_{uuid.uuid4().hex[:10]}", router.address, lease_s=LEASE_S
    )
    answered: list[float] = []
    moved: list[float] = []
    try:
        live = ["a", "b", "c"]
        await deployment.start(*live)
        agent_id = (await deployment.status("a")).agents[0].id
        for trial in range(trials):
            owners = await deployment.settled(live)
            victim, via = live[0], live[1]
            room = room_owned_by(owners, f"host-{victim}", agent_id, f"f{trial}")
            await send(deployment.hosts[victim].stub, room, f"{room} before")  # the room is the victim's
            lost = {p for p, owner in owners.items() if owner == f"host-{victim}"}
            deployment.hosts[victim].proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            answer = asyncio.create_task(send(deployment.hosts[via].stub, room, f"{room} after"))
            while True:  # the survivors' view: none of the victim's partitions left to it
                views = [await deployment.owners(n) for n in live[1:]]
                if all(len(v) == 64 and not any(v[p] == f"host-{victim}" for p in lost) for v in views):
                    moved.append(time.monotonic() - killed)
                    break
                await asyncio.sleep(0.05)
            answered.append(await answer / 1e9)  # (sent right after the kill)
            print(f"  failover {trial}: answered {answered[-1]:.2f} s, moved {moved[-1]:.2f} s", file=sys.stderr)
            live.remove(victim)
            newcomer = f"n{trial}"
            await deployment.start(newcomer)
            live.append(newcomer)
        return {
            "lease_s": LEASE_S,
            "tick_s": TICK_S,
            "bound_s": LEASE_S + TICK_S,
            "answered_s": [round(s, 2) for s in answered],
            "moved_s": [round(s, 2) for s in moved],
            "answered_max_s": round(max(answered), 2),
        }
    finally:
        await deployment.stop()
        await deployment.drop()


async def overhead(args: argparse.Namespace, root: Path, router: Router, rounds: int, per_round: int) -> dict[str, Any]:
    """One message at a time: no deployment, a deployment of one, a forwarded message between two."""
    alone = Deployment(root / "alone", args.postgres_url, f"scale_{uuid.uuid4().hex[:10]}", router.address, queue=False)
    one = Deployment(root / "one", args.postgres_url, f"scale_{uuid.uuid4().hex[:10]}", router.address)
    two = Deployment(root / "two", args.postgres_url, f"scale_{uuid.uuid4().hex[:10]}", router.address)
    try:
        await asyncio.gather(alone.start("solo"), one.start("one"), two.start("x", "y"))
        await one.settled(["one"])
        owners = await two.settled(["x", "y"])
        agent_id = (await two.status("x")).agents[0].id
        forwarded = [room_owned_by(owners, "host-y", agent_id, f"fw{k}") for k in range(4)]
        arms: dict[str, tuple[Deployment, str, list[str], list[str]]] = {
            "no deployment": (alone, "solo", ["solo"], [f"ov-{k}" for k in range(4)]),
            "deployment of 1": (one, "one", ["one"], [f"ov-{k}" for k in range(4)]),
            "2 hosts, forwarded": (two, "x", ["x", "y"], forwarded),
        }
        latencies: dict[str, list[int]] = {arm: [] for arm in arms}
        cpu: dict[str, float] = {arm: 0.0 for arm in arms}
        for arm, (deployment, via, _, rooms) in arms.items():  # warm-up
            for room in rooms:
                await send(deployment.hosts[via].stub, room, f"{room} warm")
        for r in range(rounds):
            order = list(arms) if r % 2 == 0 else list(reversed(arms))
            for arm in order:
                deployment, via, names, rooms = arms[arm]
                stub = deployment.hosts[via].stub
                before = host_cpu(deployment, names)
                for i in range(per_round):
                    room = rooms[i % len(rooms)]
                    latencies[arm].append(await send(stub, room, f"{room} r{r} #{i}"))
                cpu[arm] += host_cpu(deployment, names) - before
        out: dict[str, Any] = {}
        for arm in arms:
            n = len(latencies[arm])
            latencies[arm].sort()
            out[arm] = {
                "messages": n,
                "p50_ms": round(percentile(latencies[arm], 0.5) / 1000, 2),
                "p99_ms": round(percentile(latencies[arm], 0.99) / 1000, 2),
                "host_cpu_ms_per_msg": round(cpu[arm] * 1000 / n, 3),
            }
        base = out["no deployment"]
        for arm in arms:
            out[arm]["p50_ratio"] = round(out[arm]["p50_ms"] / base["p50_ms"], 2)
            out[arm]["cpu_ratio"] = round(out[arm]["host_cpu_ms_per_msg"] / base["host_cpu_ms_per_msg"], 2)
        return out
    finally:
        for deployment in (alone, one, two):
            await deployment.stop()
            await deployment.drop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="ahscale-"))
    router = await Router.start(root)
    parts = set(args.only.split(","))
    load = [(50, 4), (500, 1)] if args.quick else [(50, 20), (500, 4)]
    result: dict[str, Any] = {"quick": args.quick, "load": {str(r): m for r, m in load}}
    try:
        if "throughput" in parts:
            by_hosts: dict[str, dict[str, Any]] = {}
            for hosts in (1, 2, 3):
                by_hosts[str(hosts)] = await throughput(args, root, router, hosts, load)
            for rooms, _ in load:
                base = by_hosts["1"][str(rooms)]["msgs_per_s"]
                for more in ("2", "3"):
                    figures_n = by_hosts[more][str(rooms)]
                    figures_n["ratio_to_1_host"] = round(figures_n["msgs_per_s"] / base, 2)
            result["throughput"] = by_hosts
        if "failover" in parts:
            result["failover"] = await failover(args, root, router, 1 if args.quick else 3)
        if "overhead" in parts:
            result["overhead"] = await overhead(args, root, router, 2 if args.quick else 6, 20 if args.quick else 50)
    finally:
        await router.stop()
        shutil.rmtree(root, ignore_errors=True)
    return result


def report(result: dict[str, Any]) -> None:
    import json

    for hosts, by_rooms in result.get("throughput", {}).items():
        for rooms, f in by_rooms.items():
            cpu = f["cpu_ms_per_msg"]
            print(
                f"{hosts} host(s), {rooms} rooms: {f['msgs_per_s']} msgs/s (x{f.get('ratio_to_1_host', 1.0)}), "
                f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms; CPU ms/msg hosts {cpu['hosts']}, "
                f"router {cpu['router']}, client {cpu['client']}"
            )
    if "failover" in result:
        f = result["failover"]
        print(
            f"failover (lease_s {f['lease_s']}, tick_s {f['tick_s']}: bound {f['bound_s']} s): room answered after "
            f"{f['answered_s']} s, partitions moved after {f['moved_s']} s"
        )
    for arm, f in result.get("overhead", {}).items():
        print(
            f"{arm}: p50 {f['p50_ms']} ms (x{f['p50_ratio']}), p99 {f['p99_ms']} ms, "
            f"host CPU {f['host_cpu_ms_per_msg']} ms/msg (x{f['cpu_ratio']})"
        )
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    parser.add_argument("--postgres-url", default=DEFAULT_URL, help="the PostgreSQL database (a schema per setup)")
    parser.add_argument("--only", default="throughput,failover,overhead", help="which parts, comma-separated")
    return run_and_report(run, report, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
