"""Benchmark: what the HTTP face (issue 13) costs against the gRPC API, on the same host, same workload.

Measures, with the host in a process of its own (so its CPU time is its own):

1. one message through an agent, the model instant: the host runs bench/pipeline_plugin.py
   (one provider, one action whose validate says no, one always_run evaluator, a TEXT_LARGE
   handler returning a fixed reply at once; router "off"), so the figures are the faces' cost
   and the pipeline's, not a model's. The same message ("hello", one room per client, sender
   "bench-user") goes
   - over HTTP: POST /v1/chat/completions, model = the agent, `user` = the room, as an OpenAI
     client sends it: httpx with one keep-alive connection per client (`http`), aiohttp likewise
     (`aiohttp`: its HTTP parser is C, so the client's CPU weighs less), and the official
     `openai.AsyncOpenAI` client (`openai`: what users run; its own parsing is client CPU); and
     httpx to the same host's app with the chat completion served by FastAPI's route
     (`http_fastapi`: the path before host/http/openai_chat.py's plain route, on a port of its own);
   - over gRPC: AgentService.SendMessage, a call per message (`grpc_send`), and Converse, one
     stream per client (`grpc_converse`), the client asking for the REPLY event (RUN_ENDED comes
     anyway), a client showing the reply;
   - and the floors: a bare uvicorn ASGI app answering a fixed JSON (`http_floor`), the same
     through FastAPI with the request's pydantic model (`fastapi_floor`), and a bare grpc.aio
     unary echo of the SendMessage request's bytes (`grpc_floor`), all served by the host's
     process and event loop, over TCP on 127.0.0.1 like the faces.
   Every reply is checked ("ok", run completed). At 1 and 50 concurrent clients: p50/p99
   (client side, request to the whole answer: the completion, or RUN_ENDED), messages/s and
   CPU ms per message of the host process and of its event-loop thread (psutil, over each
   side's timed messages; the plugin process and the client beside it). Rounds are
   interleaved, rotating which side goes first, so the box's noise hits every side; p50/p99
   over all samples, msgs/s the median of rounds, CPU the sum over rounds.
2. `model = "router"`: a second host spawns its router, whose one provider is
   bench/mock_provider.py's OpenAI-compatible server (its own process); a chat completion with
   model "router" over HTTP (httpx, keep-alive) against a bare `litellm.acompletion` from this
   process to the same mock (the floor), one at a time, interleaved rounds: p50/p99.

Target (issue 13): the HTTP path costs at most 1.2x the gRPC path: p50 ratio, throughput ratio
and host CPU ratio, each said against SendMessage and against the faster gRPC path.

Prints a table, then as its last line one JSON object with the figures.

    .venv/bin/python bench/http.py            # full run, a few minutes
    .venv/bin/python bench/http.py --quick    # smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as bench/http.py (the launcher): its folder goes last on sys.path, after the standard
# library, so `import http` (httpx, uvicorn, aiohttp) finds the standard package first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Awaitable, Callable  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download at import

import grpc  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2  # noqa: E402
from common import end_by_stdin, percentile, run_and_report  # noqa: E402

TOKEN = "bench-api-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
TEXT = "hello"
EXPECTED = "ok"
ECHO = "/bench.Echo/Echo"
MOCK_KEY_ENV = "BENCH_HTTP_MOCK_KEY"
FLOOR_ANSWER = b'{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}'
AGENT_SIDES = (
    "http", "aiohttp", "openai", "http_fastapi", "grpc_send", "grpc_converse", "http_floor", "fastapi_floor",
    "grpc_floor",
)  # fmt: skip


# -- the host's process (`--serve host`) and the mock provider's (`--serve mock`) -------------


def _floor_apps() -> tuple[Any, Any]:
    """The HTTP floors: a bare ASGI app and a FastAPI app taking the chat request's model."""
    from fastapi import FastAPI

    from host.http.openai_types import ChatCompletionRequest

    async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(FLOOR_ANSWER)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": FLOOR_ANSWER})

    async def chat(body: ChatCompletionRequest) -> dict[str, Any]:
        message = {"role": "assistant", "content": EXPECTED}
        return {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}

    chat.__annotations__["body"] = ChatCompletionRequest  # a local name: FastAPI cannot read the string
    app = FastAPI()
    app.post("/v1/chat/completions")(chat)
    return bare, app


def _fastapi_face(host: Any) -> Any:
    """The host's HTTP app with its chat completion served by FastAPI's route (the documented
    one), as before host/http/openai_chat.py's plain route: the A side of an A/B in one run."""
    from starlette.routing import Route

    from host.http.app import create_app
    from host.http.openai_chat import PATH

    app = create_app(host, TOKEN)
    plain = [r for r in app.router.routes if isinstance(r, Route) and r.path == PATH and not r.include_in_schema]
    assert len(plain) == 1, "the app's plain chat-completion route"
    app.router.routes.remove(plain[0])
    return app


async def _serve_floors(host: Any) -> tuple[list[Any], dict[str, str]]:
    """The floors and the FastAPI-routed face, in this process's loop: uvicorn servers and a
    grpc.aio echo, on free ports."""
    import uvicorn

    servers: list[Any] = []
    urls: dict[str, str] = {}
    apps = zip(("http_floor", "fastapi_floor", "http_fastapi"), (*_floor_apps(), _fastapi_face(host)))
    for name, app in apps:
        config = uvicorn.Config(  # as the host's face is served (host/http/server.py): no proxy headers
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off", proxy_headers=False,
            server_header=False,
        )  # fmt: skip
        server = uvicorn.Server(config)
        server.capture_signals = _no_signals  # type: ignore[method-assign]
        servers.append((server, asyncio.create_task(server.serve())))
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        urls[name] = f"http://127.0.0.1:{port}"

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    grpc_server = grpc.aio.server()
    identity = lambda b: b  # noqa: E731  (raw bytes, no proto)
    handler = grpc.unary_unary_rpc_method_handler(echo, request_deserializer=identity, response_serializer=identity)
    grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    servers.append(grpc_server)
    urls["grpc_floor"] = f"127.0.0.1:{port}"
    return servers, urls


def _no_signals() -> Any:
    import contextlib

    return contextlib.nullcontext()


async def serve_host(data_dir: str, router_config: str) -> None:
    """A host with the bench plugin, gRPC and HTTP on free ports (and, with no router config, the
    floors); prints one JSON line of addresses, then runs until stdin closes."""
    from pipeline import BenchDiscovery, bench_character, plugin_spec

    from host.config import HostConfig, SupervisionConfig
    from host.host import Host
    from host.http.server import serve_http_of
    from host.status import Lifecycle

    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    config = HostConfig(
        listen="127.0.0.1:0",
        http="127.0.0.1:0",
        data_dir=folder / "data",
        router_address="" if router_config else "off",
        path=Path(router_config) if router_config else None,
        api_token=TOKEN,
        character=bench_character(folder),
        supervision=SupervisionConfig(),
    )
    host = Host(config, discovery=BenchDiscovery(plugin_spec(with_model=True)))
    floors: list[Any] = []
    loop = asyncio.get_running_loop()
    try:
        await host.start()
        await serve_http_of(host)
        if host.state() is not Lifecycle.READY or host.http is None:
            raise RuntimeError(f"host not READY: {'; '.join(host.load_errors) or host.state().name}")
        where = {"grpc": host.address, "http": host.http.url, "agent": host.find_agent("").name}
        if not router_config:
            floors, urls = await _serve_floors(host)
            where.update(urls)
        print(json.dumps(where), flush=True)
        while await loop.run_in_executor(None, sys.stdin.readline):
            pass
    finally:
        for floor in floors:
            if isinstance(floor, tuple):
                floor[0].should_exit = True
                await floor[1]
            else:
                await floor.stop(0)
        await host.stop()


async def serve_mock() -> None:
    """bench/mock_provider.py's server in this process; prints its api_base, runs until stdin closes."""
    from mock_provider import MockProvider

    mock = MockProvider()
    print(json.dumps({"api_base": await mock.start()}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while await loop.run_in_executor(None, sys.stdin.readline):
            pass
    finally:
        await mock.stop()


class Helper:
    """This script in another role (`--serve ...`), in its own process: its first stdout line."""

    def __init__(self, proc: asyncio.subprocess.Process, said: dict[str, str]) -> None:
        self.proc, self.said = proc, said
        self.ps = psutil.Process(proc.pid)

    @classmethod
    async def start(cls, *args: str, timeout: float = 120.0) -> Helper:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            line = b""
        if not line.startswith(b"{"):
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"--serve {args[0]} did not start (said {line[:200]!r}; its stderr says why)")
        return cls(proc, json.loads(line))

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds of this process, of its event loop's thread (the main one) and of its
        children (the plugins, the router)."""
        own = self.ps.cpu_times()
        loop = next((t.user_time + t.system_time for t in self.ps.threads() if t.id == self.ps.pid), 0.0)
        children = 0.0
        for child in self.ps.children(recursive=True):
            try:
                t = child.cpu_times()
                children += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return own.user + own.system, loop, children

    async def stop(self) -> None:
        await end_by_stdin(self.proc)


# -- the clients -----------------------------------------------------------------------------

Send = Callable[[], Awaitable[None]]


def chat_body(model: str, room: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": TEXT}], "user": room}


def check_completion(doc: dict[str, Any], room: str) -> None:
    extra = doc.get("agenthost") or {}
    text = doc["choices"][0]["message"]["content"]
    if text != EXPECTED or extra.get("status") != "completed" or extra.get("room_id") != room:
        raise RuntimeError(f"unexpected completion in room {room}: {text!r}, {extra}")


class Client:
    """One client of one side: `send()` one message and check its answer; `close()`."""

    def __init__(self, send: Send, close: Callable[[], Awaitable[None]]) -> None:
        self.send, self.close = send, close


async def http_client(url: str, model: str, room: str, floor: bool = False) -> Client:
    """httpx with one keep-alive connection, POSTing the chat completion as an OpenAI client does
    (to the host, or to a floor, whose answer has only the text)."""
    client = httpx.AsyncClient(base_url=url, headers=HEADERS, limits=httpx.Limits(max_connections=1), timeout=60)
    body = json.dumps(chat_body(model, room)).encode()
    headers = {"content-type": "application/json"}

    async def send() -> None:
        response = await client.post("/v1/chat/completions", content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        doc = response.json()
        if not floor:
            check_completion(doc, room)
        elif doc["choices"][0]["message"]["content"] != EXPECTED:
            raise RuntimeError(f"the floor answered {doc}")

    return Client(send, client.aclose)


async def aiohttp_client(url: str, model: str, room: str) -> Client:
    """The same request as `http_client`'s from aiohttp (its HTTP parser is C), one keep-alive
    connection: what the host's side costs with a client that spends less CPU a request."""
    import aiohttp

    session = aiohttp.ClientSession(
        base_url=url, headers=HEADERS, connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(60)
    )
    body = json.dumps(chat_body(model, room)).encode()
    headers = {"content-type": "application/json"}

    async def send() -> None:
        async with session.post("/v1/chat/completions", data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:300]}")
            check_completion(json.loads(await response.read()), room)

    return Client(send, session.close)


async def http_floor_client(url: str, model: str, room: str) -> Client:
    return await http_client(url, model, room, floor=True)


async def openai_client(url: str, model: str, room: str) -> Client:
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0, timeout=60)
    messages: Any = [{"role": "user", "content": TEXT}]

    async def send() -> None:
        answer = await client.chat.completions.create(model=model, messages=messages, user=room)
        check_completion(answer.model_dump(), room)

    return Client(send, client.close)


def grpc_request(room: str) -> agent_pb2.SendMessageRequest:
    return agent_pb2.SendMessageRequest(
        room_id=room, entity_id="bench-user", content=types_pb2.Content(text=TEXT), events=("REPLY",)
    )


def check_events(seen: list[str], reply: str, status: str, room: str) -> None:
    if seen != ["REPLY", "RUN_ENDED"] or reply != EXPECTED or status != "completed":
        raise RuntimeError(f"unexpected run in room {room}: events {seen}, reply {reply!r}, status {status!r}")


async def grpc_send_client(address: str, model: str, room: str) -> Client:
    channel = grpc.aio.insecure_channel(address)
    await channel.channel_ready()
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    req = grpc_request(room)

    async def send() -> None:
        seen, reply, status = [], "", ""
        async for event in stub.SendMessage(req, metadata=AUTH):
            seen.append(event.event_type)
            if event.event_type == "REPLY":
                reply = event.content.text
            elif event.event_type == "RUN_ENDED":
                status = event.content.extra["status"]
        check_events(seen, reply, status, room)

    return Client(send, channel.close)


async def grpc_converse_client(address: str, model: str, room: str) -> Client:
    channel = grpc.aio.insecure_channel(address)
    await channel.channel_ready()
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    stream = stub.Converse(metadata=AUTH)
    message = agent_pb2.ConverseRequest(message=grpc_request(room))

    async def send() -> None:
        await stream.write(message)
        seen, reply, status = [], "", ""
        while True:
            event = (await stream.read()).event
            seen.append(event.event_type)
            if event.event_type == "REPLY":
                reply = event.content.text
            elif event.event_type == "RUN_ENDED":
                status = event.content.extra["status"]
                break
        check_events(seen, reply, status, room)

    async def close() -> None:
        await stream.done_writing()
        await channel.close()

    return Client(send, close)


async def grpc_floor_client(address: str, model: str, room: str) -> Client:
    channel = grpc.aio.insecure_channel(address)
    await channel.channel_ready()
    echo = channel.unary_unary(ECHO)
    payload = grpc_request(room).SerializeToString()

    async def send() -> None:
        if await echo(payload) != payload:
            raise RuntimeError("the gRPC echo answered other bytes")

    return Client(send, channel.close)


MAKERS: dict[str, tuple[str, Callable[[str, str, str], Awaitable[Client]]]] = {
    "http": ("http", http_client),
    "aiohttp": ("http", aiohttp_client),
    "openai": ("http", openai_client),
    "http_fastapi": ("http_fastapi", http_client),
    "grpc_send": ("grpc", grpc_send_client),
    "grpc_converse": ("grpc", grpc_converse_client),
    "http_floor": ("http_floor", http_floor_client),
    "fastapi_floor": ("fastapi_floor", http_floor_client),
    "grpc_floor": ("grpc_floor", grpc_floor_client),
}


# -- section 1: the faces at 1 and 50 clients --------------------------------------------------


@dataclass
class Side:
    """One side at one concurrency, summed over rounds."""

    latencies: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    host_cpu_s: float = 0.0
    loop_cpu_s: float = 0.0
    plugin_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    messages: int = 0

    def summary(self) -> dict[str, Any]:
        ns = sorted(self.latencies)
        n = max(1, self.messages)
        return {
            "p50_us": round(percentile(ns, 0.5), 1),
            "p99_us": round(percentile(ns, 0.99), 1),
            "msgs_per_s": round(statistics.median(self.rates), 1),
            "host_cpu_ms_per_msg": round(self.host_cpu_s * 1000 / n, 3),
            "loop_cpu_ms_per_msg": round(self.loop_cpu_s * 1000 / n, 3),
            "plugin_cpu_ms_per_msg": round(self.plugin_cpu_s * 1000 / n, 3),
            "client_cpu_ms_per_msg": round(self.client_cpu_s * 1000 / n, 3),
            "messages": self.messages,
        }


async def run_side(host: Helper, side: str, clients: list[Client], per_client: int, into: Side) -> None:
    """`per_client` messages from each client at once (each client's one after another), timed."""
    me = psutil.Process()

    async def one(client: Client) -> None:
        clock = time.perf_counter_ns
        for _ in range(per_client):
            start = clock()
            await client.send()
            into.latencies.append(clock() - start)

    host0, loop0, plugins0 = host.cpu()
    mine0 = me.cpu_times()
    start = time.perf_counter()
    await asyncio.gather(*(one(c) for c in clients))
    elapsed = time.perf_counter() - start
    host1, loop1, plugins1 = host.cpu()
    mine1 = me.cpu_times()
    count = per_client * len(clients)
    into.rates.append(count / elapsed)
    into.host_cpu_s += host1 - host0
    into.loop_cpu_s += loop1 - loop0
    into.plugin_cpu_s += plugins1 - plugins0
    into.client_cpu_s += (mine1.user + mine1.system) - (mine0.user + mine0.system)
    into.messages += count


async def faces(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    host = await Helper.start("host", str(tmp / "faces"), "")
    try:
        out: dict[str, Any] = {}
        sides = list(args.sides)
        for concurrency in (1, args.clients):
            per_client = args.messages if concurrency == 1 else args.per_client
            clients: dict[str, list[Client]] = {}
            for side in sides:
                where, make = MAKERS[side]
                rooms = [f"{side}-{concurrency}-{i}" for i in range(concurrency)]
                clients[side] = [await make(host.said[where], host.said["agent"], r) for r in rooms]
            results = {side: Side() for side in sides}
            for side in sides:  # warm-up: rooms made, connections open, code paths hot
                await run_side(host, side, clients[side], args.warmup if concurrency == 1 else 2, Side())
            for r in range(args.rounds):
                order = sides[r % len(sides) :] + sides[: r % len(sides)]
                for side in order:
                    await run_side(host, side, clients[side], per_client, results[side])
            for side in sides:
                for client in clients[side]:
                    await client.close()
            out[str(concurrency)] = {side: results[side].summary() for side in sides}
        return out
    finally:
        await host.stop()


# -- section 2: model = "router" against a bare litellm.acompletion ---------------------------


def router_config(folder: Path, api_base: str) -> Path:
    """agenthost.toml whose [router] has one provider, the mock, and a policy preferring it; priced
    low, so the router's default budget holds every call of a run (each reserves its worst case)."""
    folder.mkdir(parents=True, exist_ok=True)
    provider = {
        "name": "mock", "model": "chat", "litellm_model": "openai/chat", "api_base": api_base, "cost_in": 0.001,
        "cost_out": 0.001, "max_context": 32000, "latency_ms": 10, "max_output_tokens": 256,
        "endpoint_env": MOCK_KEY_ENV, "capabilities": ["chat"],
    }  # fmt: skip
    (folder / "providers.json").write_text(json.dumps([provider]))
    policy = [{"name": "default", "when": {}, "prefer": ["mock:chat"], "order_by": "cost"}]
    (folder / "policy.json").write_text(json.dumps(policy))
    path = folder / "agenthost.toml"
    path.write_text('[router]\nproviders = "providers.json"\npolicy = "policy.json"\n')
    return path


async def router_overhead(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    os.environ[MOCK_KEY_ENV] = "sk-mock"  # the router (the host's child) reads it
    mock = await Helper.start("mock")
    host: Helper | None = None
    try:
        api_base = mock.said["api_base"]
        host = await Helper.start("host", str(tmp / "router"), str(router_config(tmp / "router", api_base)))
        import litellm

        litellm.suppress_debug_info = True
        messages = [{"role": "user", "content": TEXT}]
        client = httpx.AsyncClient(
            base_url=host.said["http"], headers=HEADERS, limits=httpx.Limits(max_connections=1), timeout=60
        )
        body = json.dumps({"model": "router", "messages": messages}).encode()

        async def routed() -> str:
            response = await client.post(
                "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"model router: HTTP {response.status_code}: {response.text[:300]}")
            return str(response.json()["choices"][0]["message"]["content"])

        async def bare() -> str:
            answer = await litellm.acompletion(
                model="openai/chat", api_base=api_base, api_key="sk-mock", messages=messages, num_retries=0
            )
            return str(answer.choices[0].message.content)

        sides: dict[str, Callable[[], Awaitable[str]]] = {"router_http": routed, "litellm_bare": bare}
        samples: dict[str, list[int]] = {name: [] for name in sides}
        answers = {name: await call() for name, call in sides.items()}
        if len(set(answers.values())) != 1:
            raise RuntimeError(f"the sides answered differently: {answers}")
        for call in sides.values():
            for _ in range(args.warmup):
                await call()
        names = list(sides)
        for r in range(args.rounds):
            for name in names[r % 2 :] + names[: r % 2]:
                for _ in range(args.router_messages):
                    start = time.perf_counter_ns()
                    await sides[name]()
                    samples[name].append(time.perf_counter_ns() - start)
        await client.aclose()
        out: dict[str, Any] = {}
        for name, ns in samples.items():
            ns.sort()
            out[name] = {"p50_us": round(percentile(ns, 0.5), 1), "p99_us": round(percentile(ns, 0.99), 1)}
        out["overhead_p50_us"] = round(out["router_http"]["p50_us"] - out["litellm_bare"]["p50_us"], 1)
        out["ratio_p50"] = round(out["router_http"]["p50_us"] / out["litellm_bare"]["p50_us"], 2)
        out["ratio_p99"] = round(out["router_http"]["p99_us"] / out["litellm_bare"]["p99_us"], 2)
        out["messages"] = len(samples["router_http"])
        return out
    finally:
        if host is not None:
            await host.stop()
        await mock.stop()


# -- the run and its report ------------------------------------------------------------------


def ratios(side: dict[str, Any], against: dict[str, Any]) -> dict[str, float]:
    """HTTP's cost over gRPC's: latency p50/p99, throughput (theirs over ours), host CPU."""
    return {
        "p50": round(side["p50_us"] / against["p50_us"], 2),
        "p99": round(side["p99_us"] / against["p99_us"], 2),
        "throughput": round(against["msgs_per_s"] / side["msgs_per_s"], 2),
        "host_cpu": round(side["host_cpu_ms_per_msg"] / against["host_cpu_ms_per_msg"], 2),
        "loop_cpu": round(side["loop_cpu_ms_per_msg"] / against["loop_cpu_ms_per_msg"], 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="agenthost-bench-http-"))
    load0 = os.getloadavg()[0]
    try:
        face = await faces(args, tmp)
        routed = await router_overhead(args, tmp) if not args.no_router else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {"faces": face, "router": routed}
    for c, sides in face.items():
        pairs = {
            "http_vs_grpc_send": ("http", "grpc_send"),
            "aiohttp_vs_grpc_send": ("aiohttp", "grpc_send"),
            "openai_vs_grpc_send": ("openai", "grpc_send"),
            "http_fastapi_vs_grpc_send": ("http_fastapi", "grpc_send"),
            "http_vs_http_fastapi": ("http", "http_fastapi"),
        }
        if "grpc_converse" in sides:
            best = min(("grpc_send", "grpc_converse"), key=lambda s: sides[s]["p50_us"])
            pairs[f"http_vs_{best}_fastest"] = ("http", best)
        pairs["http_floor_vs_grpc_floor"] = ("http_floor", "grpc_floor")
        result[f"ratios_{c}"] = {
            name: ratios(sides[a], sides[b]) for name, (a, b) in pairs.items() if a in sides and b in sides
        }
    target = 1.2
    result["target"] = target
    for side in ("http", "aiohttp"):  # per client library, and at each concurrency
        for c in face:
            ratio = result[f"ratios_{c}"].get(f"{side}_vs_grpc_send")
            if ratio is not None:
                met = all(v <= target for k, v in ratio.items() if k in ("p50", "throughput", "host_cpu"))
                result.setdefault("meets_target_vs_send", {})[f"{side}_{c}"] = met
    result.update(
        {
            "clients": args.clients,
            "rounds": args.rounds,
            "messages_1": args.messages,
            "per_client_n": args.per_client,
            "cpus": os.cpu_count(),
            "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    )
    return result


LABELS = {
    "http": "HTTP /v1/chat/completions (httpx)",
    "aiohttp": "HTTP, aiohttp",
    "openai": "HTTP, openai.AsyncOpenAI",
    "http_fastapi": "HTTP, FastAPI's route (httpx; before)",
    "grpc_send": "gRPC SendMessage",
    "grpc_converse": "gRPC Converse",
    "http_floor": "floor: bare uvicorn ASGI",
    "fastapi_floor": "floor: FastAPI + request model",
    "grpc_floor": "floor: bare grpc.aio echo",
}


def report(result: dict[str, Any]) -> None:
    print(
        f"agenthost HTTP face benchmark ({result['date']}, python {result['python']}, {result['cpus']} cpus, "
        f"load {result['loadavg_1m'][0]} -> {result['loadavg_1m'][1]}); {result['rounds']} interleaved rounds"
    )
    for c, sides in result["faces"].items():
        columns = f"{'p50 us':>9}{'p99 us':>9}{'msg/s':>8}{'host CPU':>10}{'loop':>7}{'plugin':>8}{'client':>8}"
        print(f"\n{c} client(s){'':30}{columns}")
        for side, s in sides.items():
            print(
                f"{LABELS[side]:41}{s['p50_us']:>9.0f}{s['p99_us']:>9.0f}{s['msgs_per_s']:>8.0f}"
                f"{s['host_cpu_ms_per_msg']:>10.3f}{s['loop_cpu_ms_per_msg']:>7.2f}"
                f"{s['plugin_cpu_ms_per_msg']:>8.3f}{s['client_cpu_ms_per_msg']:>8.3f}"
            )
        for name, r in result[f"ratios_{c}"].items():
            print(
                f"  {name:32} p50 {r['p50']:.2f}x  p99 {r['p99']:.2f}x  throughput {r['throughput']:.2f}x  "
                f"host CPU {r['host_cpu']:.2f}x  loop CPU {r['loop_cpu']:.2f}x"
            )
    print()
    for name, met in result["meets_target_vs_send"].items():
        side, clients = name.rsplit("_", 1)
        verdict = "meets" if met else "misses"
        print(
            f"{LABELS[side]} vs gRPC SendMessage at {clients} client(s) (p50, throughput, host CPU): "
            f"{verdict} the {result['target']}x target"
        )
    routed = result["router"]
    if routed:
        print(
            f"\nmodel=router over HTTP: p50 {routed['router_http']['p50_us']:.0f} us, p99 "
            f"{routed['router_http']['p99_us']:.0f} us; bare litellm.acompletion to the same mock: p50 "
            f"{routed['litellm_bare']['p50_us']:.0f} us, p99 {routed['litellm_bare']['p99_us']:.0f} us; "
            f"overhead {routed['overhead_p50_us']:.0f} us at p50 "
            f"({routed['ratio_p50']:.2f}x, p99 {routed['ratio_p99']:.2f}x)"
        )
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200, help="messages per side per round at 1 client (200)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--per-client", type=int, default=8, help="messages per client per round at --clients (8)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (4)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up messages per side (30)")
    parser.add_argument("--router-messages", type=int, default=150, help="model=router calls per side per round (150)")
    parser.add_argument("--no-router", action="store_true", help="skip the model=router section")
    parser.add_argument("--sides", default=",".join(AGENT_SIDES), help="the sides to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)  # this script as the host or the mock
    args = parser.parse_args(argv)
    if args.serve:
        role, *rest = args.serve
        asyncio.run(serve_host(rest[0], rest[1] if len(rest) > 1 else "") if role == "host" else serve_mock())
        return 0
    if args.quick:
        args.messages, args.clients, args.per_client, args.rounds, args.warmup = 30, 10, 3, 2, 5
        args.router_messages = 20
    args.sides = [s for s in args.sides.split(",") if s]
    if not set(args.sides) <= set(AGENT_SIDES) or not {"http", "grpc_send"} <= set(args.sides):
        parser.error(f"--sides: names of {', '.join(AGENT_SIDES)}, with http and grpc_send")
    if min(args.messages, args.clients, args.per_client, args.rounds, args.router_messages) < 1:
        parser.error("counts must be at least 1")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
