"""Fault-injection and load suite (issue 12): N rooms at once, M messages each, through a real
`agenthost serve` with its bootstrap plugin process and a spawned router whose providers are
a mock OpenAI-compatible server in this process, while a chaos schedule breaks things.

    python bench/load.py --rooms N --messages M [--chaos|--no-chaos] [--store sqlite|postgres]
                         [--postgres-url URL [--restart-postgres]]

The chaos schedule (--chaos, over --span seconds, messages paced across it) SIGKILLs the
bootstrap plugin (the host restarts it), makes the primary provider fail (HTTP 500: the
router falls back), hangs it past the router's attempt deadline (fallback again), restarts
PostgreSQL when the store is on it, and SIGKILLs the router (the host restarts it).

`--store postgres` runs a private PostgreSQL cluster for the run (bench/private_postgres.py:
a temporary directory, a free port, removed at the end, also on an error or Ctrl-C), which
the schedule restarts (pg_ctl stop -m fast, down POSTGRES_DOWN_S, start). `--postgres-url`
puts the store on an existing server instead; that one is restarted only with
--restart-postgres (the machine's cluster is shared with other work: skipped when other
sessions are connected to it).

At the end the store itself (host.store, opened beside the host) must hold every message a
room sent, once, with one run in a terminal status; `lost` counts those that are not. The
last line is one JSON object: sent, lost, failed, throughput, p50/p99, recovery time, error
rates during and after faults, RSS of the host and its child processes before and after.
Exit status 1 when a message was lost or processed twice.

Settings the schedule needs to fit in seconds: the router's attempt deadline is 1.5 s and its
provider breakers cool down in 2 s. The host's component breakers keep their default (30 s):
calls that fail because a killed plugin is restarting do not count toward them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, NoReturn

import asyncpg
import grpc
import psutil
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from common import percentile
from mock_provider import MockProvider
from private_postgres import PrivateCluster

from host.store import open_store
from host.store.postgres import redact

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))
TOKEN = "load-bench-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
USER = "load-user"
KEY_ENV = "LOAD_MOCK_KEY"
PRIMARY, FALLBACK, EMBED = "primary", "fallback", "embed"
TERMINAL = {"completed", "ignored", "superseded", "failed", "degraded"}
#: Refusals that promise nothing was stored: the client sends the message again.
RESEND = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}
ATTEMPT_TIMEOUT_S = 1.5  # the router's per-attempt deadline: a hung provider is left after this
BACK_WITHIN_S = 120.0  # a killed process's successor must be ready by then (a router takes 5-20 s here)
POSTGRES_DOWN_S = 1.0  # how long the private cluster stays stopped in its restart
SETTLE_S = 40.0  # runs the store could not end are ended when it answers again (tries 1 s apart, doubling to 30 s)


@dataclass
class Sent:
    """One message as its room's client saw it (times: seconds since the load began)."""

    room: str
    text: str
    at: float = 0.0
    ended: float = 0.0
    latency_ms: float = 0.0
    message_id: str = ""
    status: str = ""  # the RUN_ENDED status, "" when none came
    error: str = ""
    rpc_error: str = ""  # the call's status, when it ended in one
    resent: int = 0  # refusals (backlog full, host not ready, store down) before it was taken
    unstored: int = 0  # of them, refusals because the store could not take the message
    accepted: bool = False  # not refused: the host may have stored it


@dataclass
class Fault:
    """One fault of the schedule: when it began, when it was cleared, when what it broke was back."""

    name: str
    at: float
    cleared: float = 0.0
    back: float = 0.0  # the killed process replaced and ready (kills only)
    detail: str = ""


@dataclass
class Load:
    """What the run collects."""

    sent: list[Sent] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    started: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self.started


def write_config(tmp: Path, api_base: str, database_url: str) -> Path:
    """agenthost.toml, providers.json and policy.json in `tmp`: the bootstrap plugin only; a router
    with the mock's primary, fallback and embedding models, no cache, short deadlines."""

    def provider(model: str, capability: str) -> dict[str, Any]:
        return {
            "name": "mock", "model": model, "litellm_model": f"openai/{model}", "api_base": api_base,
            "cost_in": 0, "cost_out": 0, "max_context": 32000, "latency_ms": 10, "max_output_tokens": 256,
            "endpoint_env": KEY_ENV, "capabilities": [capability],
        }  # fmt: skip

    providers = [provider(PRIMARY, "chat"), provider(FALLBACK, "chat"), provider(EMBED, "embedding")]
    (tmp / "providers.json").write_text(json.dumps(providers, indent=1))
    policy = [{"name": "default", "when": {}, "prefer": [f"mock:{PRIMARY}", f"mock:{EMBED}"], "order_by": "cost"}]
    (tmp / "policy.json").write_text(json.dumps(policy, indent=1))
    database = f'[database]\nurl = "{database_url}"\n' if database_url else ""
    config = tmp / "agenthost.toml"
    config.write_text(
        textwrap.dedent(f"""\
        api_token = "{TOKEN}"
        data_dir = "data"
        [plugins]
        allow = ["bootstrap"]
        [supervision]
        health_interval = 1.0
        health_timeout = 3.0
        max_failures = 50
        backoff_initial = 0.1
        backoff_max = 1.0
        [admission]
        max_running = 64
        [router]
        providers = "providers.json"
        policy = "policy.json"
        breaker_cooldown_s = 2.0
        [router.retry]
        attempt_timeout_s = {ATTEMPT_TIMEOUT_S}
        call_timeout_s = 30.0
        [router.response_cache]
        max_entries = 0
        """)
        + database
    )
    return config


class HostProcess:
    """`agenthost serve` on a unix socket, its log in tmp/host.log."""

    def __init__(self, tmp: Path, config: Path) -> None:
        self.tmp = tmp
        self.address = f"unix://{tmp}/host.sock"
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTHOST_DATABASE_URL"}
        env.update({KEY_ENV: "sk-load", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        self.log = open(tmp / "host.log", "w")
        self.proc = subprocess.Popen(
            [AGENTHOST, "serve", "--config", str(config), "--listen", self.address, "--http", "off"],
            cwd=tmp,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.channel = grpc.aio.insecure_channel(self.address)
        self.stub = agent_pb2_grpc.AgentServiceStub(self.channel)

    async def status(self) -> agent_pb2.GetStatusResponse:
        return await self.stub.GetStatus(agent_pb2.GetStatusRequest(), metadata=AUTH, timeout=10)

    async def pids(self) -> dict[str, tuple[int, int, bool]]:
        """(pid, restarts, ready) of each plugin and of the router, by name."""
        status = await self.status()
        ready = agent_pb2.PluginState.Value("PLUGIN_STATE_READY")
        out = {p.name: (p.pid, p.restarts, p.state == ready) for p in status.plugins}
        if status.HasField("router"):
            out["router"] = (status.router.pid, status.router.restarts, status.router.state == ready)
        return out

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the host exited ({self.proc.returncode}); see {self.tmp}/host.log")
            try:
                status = await self.status()
                pids = await self.pids()
                if status.state == agent_pb2.LifecycleState.Value("LIFECYCLE_STATE_READY") and all(
                    ready for _, _, ready in pids.values()
                ):
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the host was not READY within {timeout:.0f} s; see {self.tmp}/host.log")

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of the host and of each process under it (by name), in MB."""
        try:
            host = psutil.Process(self.proc.pid)
            out = {"host": host.memory_info().rss / 2**20}
            for child in host.children(recursive=True):
                with_args = " ".join(child.cmdline()[1:4])
                if not with_args:  # exiting, or a short-lived helper
                    continue
                name = "router" if "router" in with_args else "bootstrap" if "bootstrap" in with_args else with_args
                out[name] = out.get(name, 0.0) + child.memory_info().rss / 2**20
        except psutil.Error:
            return {}
        return {k: round(v, 1) for k, v in out.items()}

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 30 s; the exit status (None: it had to be killed)."""
        await self.channel.close()
        code: int | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return code


def stop_if_cancelled() -> None:
    """CancelledError when this task is being cancelled: grpc.aio may report a call cancelled under
    a cancelled task as an AioRpcError (CANCELLED), which would otherwise swallow an interrupt."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def send_one(stub: agent_pb2_grpc.AgentServiceStub, item: Sent, load: Load) -> None:
    """Send one message, resending it while the host refuses it before storing it."""
    request = agent_pb2.SendMessageRequest(
        room_id=item.room, entity_id=USER, content=types_pb2.Content(text=item.text), events=["RUN_STARTED"]
    )
    item.at = load.now()
    start = time.perf_counter()
    while True:
        started = False
        try:
            async for event in stub.SendMessage(request, metadata=AUTH, timeout=120):
                if event.event_type == "RUN_STARTED":
                    started = True
                    item.message_id = event.content.extra["message_id"]
                elif event.event_type == "RUN_ENDED":
                    extra = event.content.extra
                    item.status = str(extra["status"]) if "status" in extra else ""
                    item.error = str(extra["error"]) if "error" in extra else ""
            item.accepted = True
            break
        except grpc.aio.AioRpcError as exc:
            stop_if_cancelled()
            if not started and exc.code() in RESEND and item.resent < 600:
                item.resent += 1
                item.unstored += "not stored" in (exc.details() or "")
                hint = dict(exc.trailing_metadata() or ()).get("retry-after", "")
                await asyncio.sleep(min(float(hint or 0.2), 1.0) if hint else 0.2)
                continue
            item.accepted = started or exc.code() not in (RESEND | {grpc.StatusCode.INVALID_ARGUMENT})
            item.rpc_error = f"{exc.code().name}: {exc.details()}"
            break
    item.ended = load.now()
    item.latency_ms = (time.perf_counter() - start) * 1000


async def room_client(
    address: str, room: str, count: int, pace_s: float, offset_s: float, load: Load, calm: asyncio.Event | None
) -> None:
    """One room: `count` messages one after another; with `pace_s`, message i goes no earlier than
    offset + i * pace seconds into the load (so the messages meet the whole chaos schedule); with
    `calm`, the last one (of two or more) once it is set (the faults over: it measures recovery)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        for i in range(count):
            if pace_s:
                wait = offset_s + i * pace_s - load.now()
                if wait > 0:
                    await asyncio.sleep(wait)
            if calm is not None and i == count - 1 and count > 1:
                await calm.wait()
            item = Sent(room=room, text=f"{room} message {i} ({uuid.uuid4().hex[:8]})")
            load.sent.append(item)
            await send_one(stub, item, load)


async def kill_and_wait_back(host: HostProcess, name: str, load: Load) -> Fault:
    """SIGKILL the process of plugin `name` (or the router), note the fault, and wait for its
    successor to be ready."""
    pid, restarts, _ = (await host.pids())[name]
    fault = Fault(f"kill {name}", load.now(), detail=f"pid {pid}")
    load.faults.append(fault)
    os.kill(pid, signal.SIGKILL)
    fault.cleared = fault.at
    deadline = time.monotonic() + BACK_WITHIN_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        try:
            new_pid, new_restarts, ready = (await host.pids()).get(name, (0, 0, False))
        except grpc.aio.AioRpcError:
            stop_if_cancelled()
            continue
        if ready and new_pid not in (0, pid):
            fault.back = load.now()
            fault.detail += f" -> {new_pid}, restarts {restarts} -> {new_restarts}"
            return fault
    fault.detail += f": not back within {BACK_WITHIN_S:.0f} s"
    return fault


async def provider_fault(mock: MockProvider, kind: str, seconds: float, load: Load) -> Fault:
    """The primary provider fails (HTTP 500) or hangs for `seconds`."""
    fault = Fault(f"primary {kind}", load.now(), detail=f"{seconds:.1f} s")
    (mock.fail if kind == "fails" else mock.hang)(PRIMARY)
    await asyncio.sleep(seconds)
    mock.clear()
    fault.cleared = load.now()
    return fault


#: Restarts the store's PostgreSQL as a fault of the schedule, filling in the fault.
RestartPostgres = Callable[[Fault], Awaitable[None]]


def restarting_private(cluster: PrivateCluster) -> RestartPostgres:
    """The private cluster's restart: stopped (fast), left down POSTGRES_DOWN_S, started."""

    async def restart(fault: Fault) -> None:
        began = time.monotonic()
        stop_s, down_s = await asyncio.to_thread(cluster.restart, POSTGRES_DOWN_S)
        fault.back = fault.cleared = fault.at + (time.monotonic() - began)
        fault.detail = (
            f"private cluster on port {cluster.port}: pg_ctl stop -m fast took {stop_s:.2f} s, "
            f"down {down_s:.2f} s until it accepted connections again"
        )

    return restart


def restarting_shared(postgres_url: str, host: HostProcess) -> RestartPostgres:
    """The restart of the server at `postgres_url` (the machine's cluster), when nobody else uses it."""

    async def restart(fault: Fault) -> None:
        began = time.monotonic()
        fault.detail = await restart_shared_postgres(postgres_url, host)
        fault.cleared = fault.at + (time.monotonic() - began)

    return restart


async def restart_shared_postgres(postgres_url: str, host: HostProcess) -> str:
    """Restart the machine's PostgreSQL 15 cluster, unless sessions other than this host's are
    connected to it (other work on the machine); how it was done, or why not."""
    try:
        ours = {
            c.laddr.port
            for p in [psutil.Process(host.proc.pid), *psutil.Process(host.proc.pid).children(recursive=True)]
            for c in p.net_connections("tcp")
            if c.raddr and c.raddr.port == 5432
        }
        admin = await asyncpg.connect(postgres_url)
        try:
            rows = await admin.fetch(
                "SELECT client_port FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
    except (OSError, psutil.Error, asyncpg.PostgresError) as exc:
        return f"skipped: cannot tell who else uses PostgreSQL ({exc})"
    others = [r["client_port"] for r in rows if r["client_port"] not in ours]
    if others:
        return f"skipped: {len(others)} other session(s) connected to PostgreSQL"
    for argv in (["pg_ctlcluster", "15", "main", "restart"], ["service", "postgresql", "restart"]):
        if shutil.which(argv[0]) is None:
            continue
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode == 0:
            return " ".join(argv)
    return "could not restart PostgreSQL (pg_ctlcluster and service both failed)"


async def chaos(
    host: HostProcess,
    mock: MockProvider,
    span: float,
    postgres: RestartPostgres | None,
    load: Load,
    calm: asyncio.Event,
) -> None:
    """The schedule, at fractions of `span` seconds into the load (`postgres`: how to restart the
    store's PostgreSQL, None for no restart); `calm` is set once it is over."""
    try:
        await _faults(host, mock, span, postgres, load)
    finally:
        calm.set()


async def _faults(
    host: HostProcess, mock: MockProvider, span: float, postgres: RestartPostgres | None, load: Load
) -> None:

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, fraction * span - load.now()))

    await at(0.08)
    await kill_and_wait_back(host, "bootstrap", load)
    await at(0.25)
    load.faults.append(await provider_fault(mock, "fails", 0.18 * span, load))
    await at(0.48)
    load.faults.append(await provider_fault(mock, "hangs", 0.15 * span, load))
    if postgres is not None:
        # Before the router's kill: runs then wait for the router, and no message would meet the outage.
        await at(0.64)
        fault = Fault("restart postgres", load.now())
        load.faults.append(fault)
        await postgres(fault)
    await at(0.68)  # (later, when the restart took longer than 0.04 x span)
    await kill_and_wait_back(host, "router", load)


async def check_store(url: str, data_dir: Path, load: Load) -> dict[str, Any]:
    """Every accepted message stored once with one run in a terminal status."""
    store = await open_store(url, data_dir)
    try:
        agents = await store.list_agents()
        if len(agents) != 1:
            raise RuntimeError(f"expected one agent in the store, found {len(agents)}")
        agent_id = agents[0].id
        per_room: dict[str, list[Sent]] = {}
        for item in load.sent:
            per_room.setdefault(item.room, []).append(item)
        lost: list[str] = []
        twice: list[str] = []
        still_open = 0  # runs stored without a terminal status (yet)
        statuses: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for room, items in per_room.items():
            memories = await store.get_memories(agent_id, room, "messages", 10 * len(items) + 50)
            runs = await store.list_runs(agent_id, room, 10 * len(items) + 50)
            by_text: dict[str, list[str]] = {}
            for memory in memories:
                if memory.entity_id != agent_id:
                    by_text.setdefault(memory.content.text, []).append(memory.id or "")
            runs_of: dict[str, list[Any]] = {}
            for run in runs:
                runs_of.setdefault(run.message_id, []).append(run)
            for item in items:
                stored = by_text.get(item.text, [])
                if not item.accepted:
                    if stored:
                        twice.append(f"{item.text}: refused, yet stored")
                    continue
                if len(stored) != 1:
                    said = item.rpc_error or f"RUN_ENDED {item.status!r} {item.error[:160]!r}"
                    (twice if stored else lost).append(
                        f"{item.text}: stored {len(stored)} times; the client got {said}"
                    )
                    continue
                its_runs = runs_of.get(stored[0], [])
                if len(its_runs) != 1:
                    (twice if its_runs else lost).append(f"{item.text}: {len(its_runs)} runs")
                    continue
                run = its_runs[0]
                statuses[run.status] += 1
                if run.status not in TERMINAL or (run.status == "failed" and not run.error):
                    still_open += run.status not in TERMINAL
                    lost.append(f"{item.text}: run {run.id} is {run.status!r} {run.error!r}")
                elif run.status != "completed":
                    reasons[f"{run.status}: {run.error[:120]}"] += 1
        return {
            "lost": lost,
            "twice": twice,
            "open": still_open,
            "statuses": dict(statuses),
            "reasons": dict(reasons.most_common(8)),
        }
    finally:
        await store.close()


def fault_windows(faults: list[Fault]) -> list[tuple[float, float]]:
    """When each fault was in force: from its start until what it broke was back (or it was cleared)."""
    return [(f.at, max(f.back, f.cleared)) for f in faults]


def recovery(faults: list[Fault], sent: list[Sent]) -> tuple[float, dict[str, float]]:
    """Per fault: seconds from its start until a message sent after it was over completed (and a
    killed process was back); the worst of them."""
    out: dict[str, float] = {}
    for f in faults:
        over = max(f.back, f.cleared)
        done = [s.ended for s in sent if s.at >= over and s.status == "completed"]
        if done:
            out[f.name] = round(max(over, min(done)) - f.at, 2)
    return (max(out.values()) if out else 0.0), out


def summarize(load: Load, elapsed: float, checked: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    accepted = [s for s in load.sent if s.accepted]
    ok = sorted(int(s.latency_ms * 1e6) for s in accepted if s.status == "completed")
    windows = fault_windows(load.faults)

    def during(s: Sent) -> bool:
        return any(a <= s.at <= b or a <= s.ended <= b or (s.at <= a and s.ended >= b) for a, b in windows)

    def error_rate(items: list[Sent]) -> float | None:
        return round(sum(s.status != "completed" for s in items) / len(items), 4) if items else None

    last_fault = max((b for _, b in windows), default=0.0)
    recover_s, per_fault = recovery(load.faults, accepted)
    return {
        "sent": len(accepted),
        "lost": len(checked["lost"]),
        "processed_twice": len(checked["twice"]),
        "failed": sum(s.status == "failed" or bool(s.rpc_error) for s in accepted),
        "not_completed": sum(s.status != "completed" for s in accepted),
        "refused": sum(not s.accepted for s in load.sent),
        "resent": sum(s.resent for s in load.sent),
        "resent_not_stored": sum(s.unstored for s in load.sent),  # the store was down when it came
        "throughput_msgs_s": round(len(accepted) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(ok, 0.5) / 1000, 1) if ok else None,
        "p99_ms": round(percentile(ok, 0.99) / 1000, 1) if ok else None,
        "recover_s": recover_s,
        "recover_s_by_fault": per_fault,
        "error_rate_during_faults": error_rate([s for s in accepted if during(s)]),
        "error_rate_after_faults": error_rate([s for s in accepted if s.at > last_fault and not during(s)]),
        "stored_statuses": checked["statuses"],
        "not_completed_reasons": checked["reasons"],
        "faults": [asdict(f) for f in load.faults],
        "elapsed_s": round(elapsed, 2),
        **extra,
        "lost_examples": checked["lost"][:5],
        "twice_examples": checked["twice"][:5],
    }


async def settled_store(url: str, data_dir: Path, load: Load) -> tuple[dict[str, Any], float]:
    """check_store, again each second while some runs are still open, up to SETTLE_S: a run the
    store could not end (it was down) is ended by the host once it answers again. The check and
    the seconds waited."""
    began = time.monotonic()
    while True:
        checked = await check_store(url, data_dir, load)
        if not checked["open"] or time.monotonic() - began > SETTLE_S:
            return checked, round(time.monotonic() - began, 1)
        await asyncio.sleep(1.0)


async def run(args: argparse.Namespace, cluster: PrivateCluster | None) -> dict[str, Any]:
    """The load (and the chaos schedule) against a host whose store is SQLite, the private
    `cluster`, or the server at --postgres-url."""
    tmp = Path(tempfile.mkdtemp(prefix="agenthost-load-"))
    mock = MockProvider()
    api_base = await mock.start()
    schema = f"load_{uuid.uuid4().hex[:10]}"
    server = cluster.url if cluster is not None else args.postgres_url
    url = f"{server}?schema={schema}" if args.store == "postgres" else ""
    host = HostProcess(tmp, write_config(tmp, api_base, url))
    try:
        await host.wait_ready()
        before_pids = await host.pids()
        rss_before = host.rss_mb()
        load = Load(started=time.monotonic())
        pace = args.span / max(1, args.messages - 1) if args.chaos else 0.0
        calm = asyncio.Event() if args.chaos else None
        clients = [
            room_client(host.address, f"load-{i}", args.messages, pace, pace * i / args.rooms, load, calm)
            for i in range(args.rooms)
        ]
        tasks: list[Awaitable[Any]] = [asyncio.gather(*clients)]
        if calm is not None:
            postgres: RestartPostgres | None = None
            if cluster is not None:
                postgres = restarting_private(cluster)
            elif args.store == "postgres" and args.restart_postgres:
                postgres = restarting_shared(args.postgres_url, host)
            tasks.append(chaos(host, mock, args.span, postgres, load, calm))
        await asyncio.gather(*tasks)
        elapsed = load.now()
        await asyncio.sleep(0.5)  # runs are ended in the store before RUN_ENDED goes out; margin for the logs
        rss_after = host.rss_mb()
        after_pids = await host.pids()
        checked, settle_s = await settled_store(url, tmp / "data", load)
        restarts = {name: after_pids[name][1] - before_pids.get(name, (0, 0, False))[1] for name in after_pids}
        extra = {
            "rooms": args.rooms,
            "messages_per_room": args.messages,
            "chaos": args.chaos,
            "store": args.store,
            "postgres": ("private cluster" if cluster else redact(args.postgres_url)) if url else None,
            "postgres_dir": str(cluster.root) if cluster else None,
            "settle_s": settle_s,
            "restarts": restarts,
            "provider_calls": dict(sorted(mock.served.items())),
            "fallback_calls": mock.served[f"{FALLBACK} ok"],
            "rss_mb_before": rss_before,
            "rss_mb_after": rss_after,
        }
        result = summarize(load, elapsed, checked, extra)
    finally:
        code = await host.stop()
        await mock.stop()
        if url and cluster is None:  # a private cluster goes as a whole
            await drop_schema(args.postgres_url, schema)
        interrupted = (task := asyncio.current_task()) is not None and task.cancelling() > 0
        if interrupted and not args.keep:  # (an error keeps the host's log: its message points there)
            shutil.rmtree(tmp, ignore_errors=True)
    result["host_exit"] = code
    if args.keep or result["lost"] or result["processed_twice"]:
        result["data"] = str(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


async def drop_schema(postgres_url: str, schema: str) -> None:
    try:
        admin = await asyncpg.connect(postgres_url)
    except (OSError, asyncpg.PostgresError):
        return
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.close()


def report(result: dict[str, Any]) -> None:
    print(
        f"{result['rooms']} rooms x {result['messages_per_room']} messages, chaos {result['chaos']}, "
        f"store {result['store']}: sent {result['sent']}, lost {result['lost']}, twice {result['processed_twice']}, "
        f"failed {result['failed']}, refused {result['refused']} (resent {result['resent']})"
    )
    print(
        f"throughput {result['throughput_msgs_s']} msgs/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"recover {result['recover_s']} s {result['recover_s_by_fault']}"
    )
    print(
        f"error rate during faults {result['error_rate_during_faults']}, after {result['error_rate_after_faults']}; "
        f"stored statuses {result['stored_statuses']}"
    )
    for fault in result["faults"]:
        print(f"  fault {fault['name']} at {fault['at']:.2f} s: {fault['detail']}")
    print(f"RSS MB before {result['rss_mb_before']}, after {result['rss_mb_after']}")
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=5)
    parser.add_argument("--messages", type=int, default=4, help="messages per room")
    parser.add_argument("--chaos", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: on a private PostgreSQL cluster made for the run (restarted by --chaos), unless --postgres-url",
    )
    parser.add_argument(
        "--postgres-url",
        default="",
        help="the store on this existing database instead (a schema of its own); implies --store postgres",
    )
    parser.add_argument(
        "--restart-postgres",
        action="store_true",
        help="with --postgres-url: restart that server in the schedule (the machine's is shared: off by default)",
    )
    parser.add_argument("--span", type=float, default=12.0, help="seconds the chaos schedule (and pacing) take")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory and host log")
    args = parser.parse_args(argv)
    if args.rooms < 1 or args.messages < 1:
        parser.error("--rooms and --messages must be 1 or more")
    if args.restart_postgres and not args.postgres_url:
        parser.error("--restart-postgres is for --postgres-url (a private cluster is restarted by --chaos anyway)")
    if args.postgres_url:
        args.store = "postgres"
    for signum in (signal.SIGINT, signal.SIGTERM):  # the host and the private cluster are stopped on the way out
        signal.signal(signum, _interrupted)
    try:
        with contextlib.ExitStack() as stack:
            cluster = None
            if args.store == "postgres" and not args.postgres_url:
                cluster = stack.enter_context(PrivateCluster())
            result = asyncio.run(run(args, cluster))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, not a traceback
        print(f"bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    report(result)
    return 1 if result["lost"] or result["processed_twice"] else 0


def _interrupted(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
