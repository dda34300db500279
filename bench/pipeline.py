"""Benchmark: what the message pipeline itself costs, against a bare gRPC echo measured in the same run.

Measures, in one process on one machine (so the ratios mean something on a noisy box):

1. floor: a bare grpc.aio unary echo (bench/echo_server.py, a separate process, unix
   socket), called sequentially with the bytes of a SendMessage request;
2. one message end to end: a grpc.aio client calls AgentService.SendMessage on a real
   host.host.Host started in this process (router "off", so the model call goes to a plugin
   model handler) with one plugin process, bench/pipeline_plugin.py, whose components are
   all instant: one provider, one action whose validate says no, one always_run evaluator,
   a TEXT_LARGE handler returning a fixed valid reply. Timed from the call to the RUN_ENDED
   event (and to REPLY); every run must stream RUN_STARTED, REPLY, EVALUATOR, RUN_ENDED
   with status "completed", or the benchmark fails. (1) and (2) are interleaved in rounds,
   rotating which goes first, with a third side: the very plugin calls one message makes
   (recorded from a run), replayed back to back through host.components without the
   pipeline, so the difference is the pipeline's own share (SQLite, the SendMessage
   stream, prompt and parsing); p50/p99 are over all samples.

   Per message the host makes 3 gRPC round trips to the plugin (Compose: its providers and
   its actions' validates; UseModel; Evaluate), besides the client's own SendMessage stream:
   4 gRPC calls in all. SQLite: 3 hops to the store's thread: one transaction that stores the
   message, starts its run and reads the room's recent history; the reply; the run's end with
   its events. These counts are also checked at run time by counting the calls,
   and an instrumented pass shows where a message's time goes;
3. rooms in parallel: messages/s with one client sending to one room, with 8 clients each
   sending to its own room, and with 8 clients sharing one room (a room is serial);
4. load, against elizaOS in the same run (bench/pipeline_load.py): 8 providers across 2 plugin
   processes, 1 action, 1 evaluator and a zero-latency scripted model, at 1 and 50 rooms at
   once (each room's messages one after another, on one Converse stream per room, or a
   SendMessage call each with --load-calls; its clients ask for the REPLY event and get
   RUN_ENDED, --load-events all for every event): messages/s, p50/p99, CPU time per message
   of the host and its plugin processes (the figure set against elizaOS's, as issue 10
   defines it), and of the client beside it (psutil), plugin round trips per message;
   then the same workload through the elizaOS Python runtime (bench/pipeline_elizaos.py, the
   `bench` extra; skipped, and said so, when it is not installed);
5. with --local-model (off by default: the router takes ~5 s to start): the real router
   spawned by the host and its local model (the plugin's model handler left out), time to
   the REPLY event, median of several messages of one conversation.

Prints a table, then as its last line one JSON object with the figures.

    .venv/bin/python bench/pipeline.py                  # full run (make bench)
    .venv/bin/python bench/pipeline.py --quick          # smoke run, well under 20 s
    .venv/bin/python bench/pipeline.py --local-model    # also a reply from the local model
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Iterator

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from common import percentile, run_and_report
from pipeline_load import agenthost_load, elizaos_load
from plugin_call import ECHO_METHOD, start_echo_server, stop_echo_server, timed_calls

from host.config import HostConfig
from host.host import Host
from host.plugins.components import Components
from host.plugins.connection import PluginConnection
from host.plugins.discovery import Discovery, Scan
from host.status import Lifecycle
from host.store import SQLiteStore
from plugin_sdk.spec import PluginSpec
from plugin_sdk.sqlite_thread import DatabaseThread

PLUGIN = "benchpipeline"
PLUGIN_SCRIPT = Path(__file__).resolve().with_name("pipeline_plugin.py")
EXPECTED_EVENTS = ["RUN_STARTED", "REPLY", "EVALUATOR", "RUN_ENDED"]
EXPECTED_REPLY = "ok"
# What one message costs, read from host/agent/pipeline.py (checked against counted calls at run time).
PLUGIN_CALLS = {"Compose": 1, "UseModel": 1, "Evaluate": 1}  # Compose: providers and action validates
#: Store calls: the message stored, its run started and the room's history read (one transaction),
#: the reply, the run's end with its events.
STORE_CALLS = {"begin_run": 1, "create_memory": 1, "get_memories": 0, "end_run": 1}
# One handoff to the store's thread per store call (a room's first message adds its room and
# participant rows).
SQLITE_HOPS = 3
ROOMS = 8
LOCAL_PROMPTS = (
    "Hello! Who are you?",
    "What can you help me with?",
    "Tell me something about the sea.",
    "What is two plus two?",
    "Name a colour.",
    "Say goodbye in one sentence.",
)


# -- helpers -----------------------------------------------------------------


class BenchDiscovery(Discovery):
    """Only the benchmark's plugin is installed."""

    def __init__(self, spec: PluginSpec) -> None:
        super().__init__(allow=(spec.name,))
        self._spec = spec

    def scan(self) -> Scan:
        return Scan({self._spec.name: self._spec})


def plugin_spec(with_model: bool) -> PluginSpec:
    env = {} if with_model else {"AGENTHOST_BENCH_NO_MODEL": "1"}
    return PluginSpec(name=PLUGIN, version="1.0.0", command=(sys.executable, str(PLUGIN_SCRIPT)), env=env)


TOKEN = "bench-api-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)  # the host's API token, as every client sends it


def bench_character(folder: Path) -> Path:
    """A character whose every message is answered: a newer message in a room queues behind the
    one being answered (the default, supersede, would leave the older one's reply unsent)."""
    path = folder / "bench.character.json"
    character = {"name": "Bench", "bio": "A benchmark.", "settings": {"DOUBLE_MESSAGE_POLICY": "queue"}}
    path.write_text(json.dumps(character))
    return path


async def start_host(tmp: Path, name: str, with_model: bool, router_address: str) -> Host:
    """A started host with the bench plugin, READY (every plugin, and the router if any, up)."""
    config = HostConfig(
        listen=f"unix://{tmp / (name + '.sock')}",
        data_dir=tmp / name,
        router_address=router_address,
        api_token=TOKEN,
        character=bench_character(tmp),
    )
    host = Host(config, discovery=BenchDiscovery(plugin_spec(with_model)))
    try:
        await host.start()
        if host.state() is not Lifecycle.READY:
            status = host.status()
            why = "; ".join(f"{p.name}: {p.reason or p.state.value}" for p in [*status.plugins, status.router] if p)
            raise RuntimeError(f"host not READY ({'; '.join(host.load_errors) or why})")
    except BaseException:
        await host.stop()
        raise
    return host


def request(room: str, text: str = "hello") -> agent_pb2.SendMessageRequest:
    return agent_pb2.SendMessageRequest(room_id=room, entity_id="bench-user", content=types_pb2.Content(text=text))


@dataclass(slots=True)
class Run:
    """One SendMessage as the client saw it."""

    events: list[str] = field(default_factory=list)
    reply_ns: int = 0
    ended_ns: int = 0
    status: str = ""
    error: str = ""
    text: str = ""


async def send(stub: agent_pb2_grpc.AgentServiceStub, req: agent_pb2.SendMessageRequest) -> Run:
    """Send one message and read its whole stream, noting when REPLY and RUN_ENDED arrive."""
    clock = time.perf_counter_ns
    run = Run()
    start = clock()
    async for event in stub.SendMessage(req, metadata=AUTH):
        now = clock()
        run.events.append(event.event_type)
        if event.event_type == "REPLY":
            run.reply_ns, run.text = now - start, event.content.text
        elif event.event_type == "RUN_ENDED":
            run.ended_ns = now - start
            extra = event.content.extra
            run.status = extra["status"] if "status" in extra else ""
            run.error = extra["error"] if "error" in extra else ""
    return run


def check(run: Run) -> None:
    """Fail loudly unless the run went the one way the benchmark plugin allows."""
    if run.events != EXPECTED_EVENTS or run.status != "completed" or run.text != EXPECTED_REPLY:
        raise RuntimeError(
            f"unexpected run: events {run.events}, status {run.status!r}, reply {run.text!r}, error {run.error!r}"
        )


async def timed_messages(
    stub: agent_pb2_grpc.AgentServiceStub, room: str, n: int, ended: list[int], replies: list[int]
) -> None:
    req = request(room)
    for _ in range(n):
        run = await send(stub, req)
        check(run)
        ended.append(run.ended_ns)
        replies.append(run.reply_ns)


@contextlib.contextmanager
def instrumented() -> Iterator[tuple[Counter[str], defaultdict[str, int]]]:
    """Count (and time, ns) the host's plugin calls, store calls and hops to the store's thread while inside."""
    counts: Counter[str] = Counter()
    spent: defaultdict[str, int] = defaultdict(int)
    clock = time.perf_counter_ns
    call, invoke_action = PluginConnection.call, PluginConnection.invoke_action
    store_calls = {name: getattr(SQLiteStore, name) for name in STORE_CALLS}
    database_call = DatabaseThread.call

    async def timed(key: str, call: Awaitable[Any]) -> Any:
        counts[key] += 1
        start = clock()
        try:
            return await call
        finally:
            spent[key] += clock() - start

    def counted_invoke_action(self: PluginConnection, *args: Any, **kwargs: Any) -> Any:
        counts["InvokeAction"] += 1
        return invoke_action(self, *args, **kwargs)

    def counted_call(self: DatabaseThread, work: Any, *args: Any) -> Any:
        counts["sqlite hop"] += 1
        return database_call(self, work, *args)

    patches: dict[tuple[type, str], Any] = {
        (PluginConnection, "call"): lambda self, method, *a, **kw: timed(method, call(self, method, *a, **kw)),
        (PluginConnection, "invoke_action"): counted_invoke_action,
        (DatabaseThread, "call"): counted_call,
    }
    for name, original in store_calls.items():
        patches[(SQLiteStore, name)] = lambda self, *a, _name=name, _call=original: timed(_name, _call(self, *a))
    originals = {key: getattr(*key) for key in patches}
    try:
        for (owner, name), replacement in patches.items():
            setattr(owner, name, replacement)
        yield counts, spent
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


async def capture_plugin_calls(stub: agent_pb2_grpc.AgentServiceStub, room: str) -> list[tuple[str, tuple]]:
    """The Components calls (name, arguments) the pipeline makes for one message in `room`."""
    calls: list[tuple[str, tuple]] = []
    names = ("compose", "use_model", "evaluate")
    originals = {name: getattr(Components, name) for name in names}

    def recording(name: str) -> Any:
        def call(self: Components, *args: Any) -> Any:
            calls.append((name, args))
            return originals[name](self, *args)

        return call

    try:
        for name in names:
            setattr(Components, name, recording(name))
        await timed_messages(stub, room, 1, [], [])
    finally:
        for name, original in originals.items():
            setattr(Components, name, original)
    if [name for name, _ in calls] != list(names):
        raise RuntimeError(f"the pipeline called {[name for name, _ in calls]}, not {list(names)}")
    return calls


async def replay_calls(components: Components, calls: list[tuple[str, tuple]]) -> None:
    """The pipeline's plugin calls for one message, back to back, without the pipeline."""
    for name, args in calls:
        await getattr(components, name)(*args)


async def check_replay(components: Components, calls: list[tuple[str, tuple]]) -> None:
    """Fail loudly unless the replayed calls answer as the bench plugin does in a run."""
    answers = [await getattr(components, name)(*args) for name, args in calls]
    (providers, actions), output, evaluated = answers
    if (
        len(providers) != 1
        or providers[0].result is None
        or actions != {"BENCH_NEVER": False}
        or "<text>ok</text>" not in output.text
        or [(e.name, e.valid) for e in evaluated] != [("BENCH_COUNT", True)]
        or not evaluated[0].result
        or not evaluated[0].result.success
    ):
        raise RuntimeError(f"replayed plugin calls answered unexpectedly: {answers!r}")


async def profile_messages(stub: agent_pb2_grpc.AgentServiceStub, n: int) -> dict[str, Any]:
    """Per message: the calls the host makes (checked against the code's count) and where the time goes."""
    ended: list[int] = []
    await timed_messages(stub, "profile", 1, [], [])  # the room is made with its first message
    with instrumented() as (counts, spent):
        await timed_messages(stub, "profile", n, ended, [])
    per_message = {key: count / n for key, count in counts.items()}
    expected = {key: n for key, n in {**PLUGIN_CALLS, **STORE_CALLS, "sqlite hop": SQLITE_HOPS}.items() if n}
    if per_message != expected:
        raise RuntimeError(f"the host made other calls than counted from the code: {per_message} != {expected}")
    breakdown = {key: spent[key] / n / 1000 for key in [*PLUGIN_CALLS, *STORE_CALLS]}
    breakdown["total"] = sum(ended) / n / 1000
    breakdown["rest"] = breakdown["total"] - sum(v for k, v in breakdown.items() if k != "total")
    return {"calls": per_message, "breakdown_us": {k: round(v, 1) for k, v in breakdown.items()}}


async def throughput(address: str, rooms: list[str], per_client: int) -> tuple[float, list[int]]:
    """One client per entry of `rooms`, each sending `per_client` messages in a row: messages/s, latencies."""
    channels = [grpc.aio.insecure_channel(address) for _ in rooms]
    try:
        for channel in channels:
            await channel.channel_ready()
        stubs = [agent_pb2_grpc.AgentServiceStub(c) for c in channels]
        latencies: list[int] = []
        start = time.perf_counter()
        await asyncio.gather(*(timed_messages(s, r, per_client, latencies, []) for s, r in zip(stubs, rooms)))
        return len(rooms) * per_client / (time.perf_counter() - start), latencies
    finally:
        for channel in channels:
            await channel.close()


# -- the benchmark -----------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="agenthost-bench-"))
    echo_proc: asyncio.subprocess.Process | None = None
    channels: list[grpc.aio.Channel] = []
    host: Host | None = None
    try:
        # -- the floor: a bare echo in its own process --------------------------------
        echo_proc = await start_echo_server(tmp / "echo.sock")
        channels.append(grpc.aio.insecure_channel(f"unix://{tmp / 'echo.sock'}"))
        echo = channels[-1].unary_unary(ECHO_METHOD)
        request_bytes = request("latency").SerializeToString()
        if await echo(request_bytes) != request_bytes:
            raise RuntimeError("echo server returned different bytes")

        def echo_call() -> Awaitable[object]:
            return echo(request_bytes)

        # -- the host, with the bench plugin as its model -------------------------------
        t0 = time.perf_counter()
        host = await start_host(tmp, "host", with_model=True, router_address="off")
        host_start_ms = (time.perf_counter() - t0) * 1000
        channels.append(grpc.aio.insecure_channel(host.address))
        stub = agent_pb2_grpc.AgentServiceStub(channels[-1])

        # -- 1 + 2. latency, interleaved ------------------------------------------------
        warm: list[int] = []
        await timed_calls(echo_call, args.warmup * 4, warm)
        await timed_messages(stub, "latency", args.warmup, warm, [])
        # The same plugin calls a message makes, replayed without the pipeline around them.
        calls = await capture_plugin_calls(stub, "latency")
        await check_replay(host.components, calls)

        def calls_alone() -> Awaitable[object]:
            return replay_calls(host.components, calls)

        await timed_calls(calls_alone, args.warmup, warm)
        echo_ns: list[int] = []
        calls_ns: list[int] = []
        ended_ns: list[int] = []
        reply_ns: list[int] = []
        rounds: list[dict] = []
        for r in range(args.rounds):
            round_echo: list[int] = []
            round_calls: list[int] = []
            round_ended: list[int] = []
            sides = [
                ("echo", lambda: timed_calls(echo_call, args.messages, round_echo)),
                ("calls", lambda: timed_calls(calls_alone, args.messages, round_calls)),
                ("message", lambda: timed_messages(stub, "latency", args.messages, round_ended, reply_ns)),
            ]
            sides = sides[r % 3 :] + sides[: r % 3]
            for _, side in sides:
                await side()
            echo_ns += round_echo
            calls_ns += round_calls
            ended_ns += round_ended
            e50, m50 = percentile(sorted(round_echo), 0.5), percentile(sorted(round_ended), 0.5)
            rounds.append(
                {
                    "round": r + 1,
                    "first": sides[0][0],
                    "echo_p50_us": round(e50, 1),
                    "calls_p50_us": round(percentile(sorted(round_calls), 0.5), 1),
                    "message_p50_us": round(m50, 1),
                    "ratio": round(m50 / e50, 2),
                }
            )

        # -- round trips and where the time goes ----------------------------------------
        profile = await profile_messages(stub, args.profile)

        # -- 3. rooms in parallel, one room serial --------------------------------------
        n = args.per_client
        modes = {
            "sequential": lambda r: [f"seq-{r}"],  # one client sends all ROOMS * n messages
            "rooms": lambda r: [f"room-{r}-{i}" for i in range(ROOMS)],
            "one_room": lambda r: [f"shared-{r}"] * ROOMS,
        }
        rates: dict[str, list[float]] = {mode: [] for mode in modes}
        latencies: dict[str, list[int]] = {mode: [] for mode in modes}
        await throughput(host.address, [f"warm-{i}" for i in range(ROOMS)], max(1, n // 4))
        for r in range(args.throughput_rounds):
            order = list(modes)
            order = order[r % 3 :] + order[: r % 3]
            for mode in order:
                rooms = modes[mode](r)
                rate, lat = await throughput(host.address, rooms, n * ROOMS if mode == "sequential" else n)
                rates[mode].append(rate)
                latencies[mode] += lat
        await host.stop()
        host = None

        # -- 4. load, against elizaOS ---------------------------------------------------------
        load_rooms = [int(r) for r in args.load_rooms.split(",")]
        events = () if args.load_events == "all" else tuple(args.load_events.split(","))
        converse = not args.load_calls
        load = await agenthost_load(tmp, load_rooms, args.load_messages, args.load_warmup, events, converse)
        eliza = await elizaos_load(load_rooms, args.load_messages, args.load_warmup)

        # -- 5. the local model through the router (optional) -----------------------------
        local: dict[str, Any] | None = None
        if args.local_model:
            local = await local_model(tmp, args.local_messages)

        echo_ns.sort()
        calls_ns.sort()
        ended_ns.sort()
        reply_ns.sort()
        rate = {mode: statistics.median(values) for mode, values in rates.items()}
        round_trips = sum(PLUGIN_CALLS.values()) + 1
        result = {
            "message_p50_us": round(percentile(ended_ns, 0.5), 1),
            "message_p99_us": round(percentile(ended_ns, 0.99), 1),
            "reply_p50_us": round(percentile(reply_ns, 0.5), 1),
            "reply_p99_us": round(percentile(reply_ns, 0.99), 1),
            "echo_p50_us": round(percentile(echo_ns, 0.5), 1),
            "echo_p99_us": round(percentile(echo_ns, 0.99), 1),
            "calls_p50_us": round(percentile(calls_ns, 0.5), 1),
            "calls_p99_us": round(percentile(calls_ns, 0.99), 1),
            "pipeline_own_p50_us": 0.0,
            "ratio": 0.0,
            "ratio_p99": 0.0,
            "ratio_per_round_trip": 0.0,
            "round_ratios": [r["ratio"] for r in rounds],
            "plugin_round_trips": sum(PLUGIN_CALLS.values()),
            "grpc_calls": round_trips,
            "plugin_calls": PLUGIN_CALLS,
            "store_calls": STORE_CALLS,
            "sqlite_hops": SQLITE_HOPS,
            "breakdown_us": profile["breakdown_us"],
            "sequential_msgs_per_s": round(rate["sequential"], 1),
            "rooms8_msgs_per_s": round(rate["rooms"], 1),
            "one_room8_msgs_per_s": round(rate["one_room"], 1),
            "rooms8_speedup": round(rate["rooms"] / rate["sequential"], 2),
            "one_room8_speedup": round(rate["one_room"] / rate["sequential"], 2),
            "sequential_p50_ms": round(percentile(sorted(latencies["sequential"]), 0.5) / 1000, 2),
            "rooms8_p50_ms": round(percentile(sorted(latencies["rooms"]), 0.5) / 1000, 2),
            "one_room8_p50_ms": round(percentile(sorted(latencies["one_room"]), 0.5) / 1000, 2),
            "throughput_rounds": args.throughput_rounds,
            "messages_per_client": n,
            "host_start_ms": round(host_start_ms, 1),
            "local": local,
            "samples": len(ended_ns),
            "echo_samples": len(echo_ns),
            "messages_per_round": args.messages,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
        }
        result["ratio"] = round(result["message_p50_us"] / result["echo_p50_us"], 2)
        result["ratio_p99"] = round(result["message_p99_us"] / result["echo_p99_us"], 2)
        result["ratio_per_round_trip"] = round(result["ratio"] / round_trips, 2)
        result["ratio_calls"] = round(result["message_p50_us"] / result["calls_p50_us"], 2)
        result["pipeline_own_p50_us"] = round(result["message_p50_us"] - result["calls_p50_us"], 1)
        top = str(max(load_rooms))
        result["load"] = load
        result["elizaos_load"] = eliza
        result["load_rooms"] = int(top)
        result["msgs_per_s"] = load[top]["msgs_per_s"]
        result["cpu_ms_per_msg"] = load[top]["cpu_ms_per_msg"]
        result["cpu_ms_per_msg_with_client"] = load[top]["cpu_ms_per_msg_with_client"]
        result["p99_ms"] = load[top]["p99_ms"]
        result["elizaos_msgs_per_s"] = eliza[top]["msgs_per_s"] if eliza else None
        result["elizaos_cpu_ms_per_msg"] = eliza[top]["cpu_ms_per_msg"] if eliza else None
        result["elizaos_p99_ms"] = eliza[top]["p99_ms"] if eliza else None
        result["_rounds"] = rounds
        return result
    finally:
        for channel in channels:
            await channel.close()
        if host is not None:
            await host.stop()
        if echo_proc is not None:
            await stop_echo_server(echo_proc)
        shutil.rmtree(tmp, ignore_errors=True)


async def local_model(tmp: Path, n: int) -> dict[str, Any]:
    """A host that spawns its router (the local model answers): time to REPLY over one conversation."""
    t0 = time.perf_counter()
    host = await start_host(tmp, "local", with_model=False, router_address="")
    start_ms = (time.perf_counter() - t0) * 1000
    try:
        async with grpc.aio.insecure_channel(host.address) as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            runs: list[Run] = []
            for i in range(n + 1):  # the first warms the model up
                run = await send(stub, request("local", LOCAL_PROMPTS[i % len(LOCAL_PROMPTS)]))
                if "REPLY" not in run.events or run.status != "completed":
                    raise RuntimeError(
                        f"local model run: events {run.events}, status {run.status!r}, error {run.error!r}"
                    )
                runs.append(run)
        retries = sum("did not parse" in r.message for r in host.log_buffer.tail(10_000))
    finally:
        await host.stop()
    reply_ms = [r.reply_ns / 1e6 for r in runs[1:]]
    return {
        "host_start_ms": round(start_ms),
        "reply_ms": round(statistics.median(reply_ms)),
        "reply_ms_all": [round(v) for v in reply_ms],
        "ended_ms": round(statistics.median(r.ended_ns / 1e6 for r in runs[1:])),
        "first_reply_ms": round(runs[0].reply_ns / 1e6),
        "reply_chars": round(statistics.median(len(r.text) for r in runs[1:])),
        "messages": len(reply_ms),
        "parse_retries": retries,  # model answers that did not parse and were asked again (all runs)
    }


def report(result: dict) -> None:
    rounds = result.pop("_rounds")
    print(
        f"agenthost message-pipeline benchmark  (python {result['python']}, grpcio {result['grpcio']}, "
        f"{result['cpus']} cpus, load {result['loadavg_1m']})"
    )
    print(
        f"{result['rounds']} rounds x {result['messages_per_round']} sequential messages / echo calls per side "
        f"(+ warm-up), interleaved; host started in {result['host_start_ms']:.0f} ms\n"
    )
    print(f"{'':40}{'p50 (us)':>10}{'p99 (us)':>10}")
    print(f"{'bare grpc.aio echo (floor)':40}{result['echo_p50_us']:>10.1f}{result['echo_p99_us']:>10.1f}")
    print(
        f"{'its ' + str(result['plugin_round_trips']) + ' plugin calls alone, back to back':40}"
        f"{result['calls_p50_us']:>10.1f}{result['calls_p99_us']:>10.1f}"
    )
    print(f"{'one message, SendMessage to REPLY':40}{result['reply_p50_us']:>10.1f}{result['reply_p99_us']:>10.1f}")
    ended = f"{result['message_p50_us']:>10.1f}{result['message_p99_us']:>10.1f}"
    print(f"{'one message, SendMessage to RUN_ENDED':40}{ended}")
    print(f"{'ratio message / echo':40}{result['ratio']:>10.2f}{result['ratio_p99']:>10.2f}")
    print(
        f"{'  per gRPC call (' + str(result['grpc_calls']) + ' per message)':40}{result['ratio_per_round_trip']:>10.2f}"
    )
    print(
        f"{'ratio message / its plugin calls alone':40}{result['ratio_calls']:>10.2f}"
        f"   (the pipeline's own share: {result['pipeline_own_p50_us']:.0f} us at p50)"
    )
    print(
        "per round (message/calls/echo p50 us):  "
        + "  ".join(
            f"#{r['round']}({r['first'][0]}) {r['message_p50_us']:.0f}/{r['calls_p50_us']:.0f}/{r['echo_p50_us']:.0f}"
            for r in rounds
        )
    )
    calls = ", ".join(f"{name} {count}" for name, count in result["plugin_calls"].items())
    print(
        f"\nper message: {result['plugin_round_trips']} gRPC round trips to the plugin ({calls}) + the SendMessage "
        f"stream; store calls {', '.join(f'{k} {v}' for k, v in result['store_calls'].items() if v)} "
        f"({result['sqlite_hops']} hops to SQLite's thread); counted at run time"
    )
    breakdown = result["breakdown_us"]
    print(
        "where a message's time goes (mean us, instrumented pass): "
        + ", ".join(f"{k} {v:.0f}" for k, v in breakdown.items() if k not in ("total", "rest"))
        + f", the rest {breakdown['rest']:.0f}; total {breakdown['total']:.0f}"
    )
    print(
        f"\n{'throughput (median of ' + str(result['throughput_rounds']) + ' rounds)':40}{'msg/s':>10}{'speedup':>10}"
        f"{'p50 (ms)':>10}"
    )
    for label, key in (
        ("1 client, 1 room", "sequential"),
        (f"{ROOMS} clients, {ROOMS} rooms", "rooms8"),
        (f"{ROOMS} clients, 1 room", "one_room8"),
    ):
        speedup = 1.0 if key == "sequential" else result[f"{key}_speedup"]
        print(f"{label:40}{result[f'{key}_msgs_per_s']:>10.0f}{speedup:>10.2f}{result[f'{key}_p50_ms']:>10.2f}")
    report_load(result)
    local = result["local"]
    if local is not None:
        print(
            f"\nlocal model via the router: time to REPLY {local['reply_ms']} ms (median of {local['messages']}: "
            f"{local['reply_ms_all']}), to RUN_ENDED {local['ended_ms']} ms, first {local['first_reply_ms']} ms; "
            f"{local['parse_retries']} retried answers; host + router start {local['host_start_ms']} ms"
        )
    print(json.dumps(result, separators=(",", ":")), flush=True)


def report_load(result: dict) -> None:
    """The load section: agenthost and elizaOS, per number of rooms."""
    eliza = result["elizaos_load"] or {}
    print(
        f"\n{'load: 8 providers / 2 plugins, 1 action, 1 evaluator':56}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'CPU ms/msg':>11}"
    )
    for rooms, side in result["load"].items():
        row = f"{side['msgs_per_s']:>8.0f}{side['p50_ms']:>8.1f}{side['p99_ms']:>8.1f}{side['cpu_ms_per_msg']:>11.2f}"
        print(f"{'agenthost, ' + rooms + ' room(s)':56}{row}")
        by = ", ".join(f"{k} {v:.2f}" for k, v in side["cpu_ms_by_process"].items())
        by += f"; with the client {side['cpu_ms_per_msg_with_client']:.2f}"
        trips = ", ".join(f"{k} {v:g}" for k, v in side["round_trips_per_plugin"].items())
        print(f"{'':4}CPU ms/msg: {by}; round trips/msg: {trips}; client: {side['transport']}")
        if rooms in eliza:
            e = eliza[rooms]
            row = f"{e['msgs_per_s']:>8.0f}{e['p50_ms']:>8.1f}{e['p99_ms']:>8.1f}{e['cpu_ms_per_msg']:>11.2f}"
            print(f"{'elizaOS 2.0.0a5, ' + rooms + ' room(s)':56}{row}")
    if not eliza:
        print("elizaOS: not installed, skipped")
    else:
        top = str(result["load_rooms"])
        print(
            f"at {top} rooms: throughput {result['msgs_per_s'] / result['elizaos_msgs_per_s']:.2f}x elizaOS's, "
            f"CPU/msg {result['cpu_ms_per_msg'] / result['elizaos_cpu_ms_per_msg']:.2f}x, "
            f"p99 {result['p99_ms'] / result['elizaos_p99_ms']:.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="sequential messages per side per round (300)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up messages (echo calls: 4x) (default 100)")
    parser.add_argument("--profile", type=int, default=200, help="messages in the instrumented pass (default 200)")
    parser.add_argument("--per-client", type=int, default=40, help="messages per client in throughput (default 40)")
    parser.add_argument("--throughput-rounds", type=int, default=3, help="throughput rounds (default 3)")
    parser.add_argument("--load-rooms", default="1,50", help="rooms at once in the load section (1,50)")
    parser.add_argument("--load-messages", type=int, default=40, help="timed messages per room in load (40)")
    parser.add_argument("--load-warmup", type=int, default=3, help="warm-up messages per room in load (3)")
    parser.add_argument(
        "--load-events",
        default="REPLY",
        help="event types the load section's clients ask for (SendMessageRequest.events; RUN_ENDED comes "
        "anyway): REPLY (default: a client that shows the reply, as elizaOS's handle_message returns it), "
        "a comma-separated list, or 'all'",
    )
    parser.add_argument(
        "--load-calls",
        action="store_true",
        help="the load section's clients make a SendMessage call per message (default: one Converse stream per room)",
    )
    parser.add_argument("--local-model", action="store_true", help="also time replies from the local model (~5 s)")
    parser.add_argument("--local-messages", type=int, default=5, help="local model messages (default 5)")
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds, args.warmup, args.profile = 100, 2, 30, 20
        args.per_client, args.throughput_rounds = 10, 1
        args.load_messages, args.load_warmup = 10, 1
    if min(args.messages, args.rounds, args.profile, args.per_client, args.throughput_rounds) < 1:
        parser.error("counts must be at least 1")
    if not all(r.isdigit() and int(r) > 0 for r in args.load_rooms.split(",")) or args.load_messages < 1:
        parser.error("--load-rooms takes positive numbers separated by commas; --load-messages at least 1")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)  # the host sends every record to the root logger's handlers
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
