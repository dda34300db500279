"""What a gRPC call per message costs against one open stream: grpc.aio alone, no agenthost code.

A server process (the same script) serves /bench.Calls/Send, a server-streaming call that
answers one request with two messages (as SendMessage answers a message with REPLY and
RUN_ENDED), and /bench.Calls/Converse, a bidirectional stream that does the same for every
message written on it. ROOMS clients (a channel each) send MESSAGES messages one after another,
first as a call each, then on one stream each, in turns (4 rounds). Prints per way the server's
and the client's CPU time per message (psutil) and messages/s, then one JSON line.

    .venv/bin/python bench/grpc_call_vs_stream.py [--rooms 50] [--messages 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import psutil

PAYLOAD = b"x" * 200  # about a SendMessageRequest's size


async def _send(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield request
    yield request


async def _converse(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request
        yield request


async def serve(socket: str) -> None:
    server = grpc.aio.server()
    handlers = {
        "Send": grpc.unary_stream_rpc_method_handler(_send),
        "Converse": grpc.stream_stream_rpc_method_handler(_converse),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Calls", handlers),))
    server.add_insecure_port(f"unix:{socket}")
    await server.start()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the benchmark goes
    await server.stop(0)


async def clients(socket: str, stream: bool, rooms: int, messages: int) -> None:
    async def room() -> None:
        async with grpc.aio.insecure_channel(f"unix:{socket}") as channel:
            if not stream:
                send = channel.unary_stream("/bench.Calls/Send")
                for _ in range(messages):
                    async for _answer in send(PAYLOAD):
                        pass
                return
            call = channel.stream_stream("/bench.Calls/Converse")()
            for _ in range(messages):
                await call.write(PAYLOAD)
                await call.read()
                await call.read()
            await call.done_writing()

    await asyncio.gather(*(room() for _ in range(rooms)))


def cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="agenthost-calls-") as tmp:
        socket = str(Path(tmp) / "calls.sock")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", socket, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdin is not None
        try:
            if (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() != b"READY":
                raise SystemExit("the server did not start")
            server, client = psutil.Process(proc.pid), psutil.Process()
            n = args.rooms * args.messages
            runs: dict[str, list[dict[str, float]]] = {"call": [], "stream": []}
            await clients(socket, False, args.rooms, 5)  # warm-up
            await clients(socket, True, args.rooms, 5)
            for i in range(args.rounds):
                for way in ("call", "stream") if i % 2 == 0 else ("stream", "call"):
                    s0, c0, t0 = cpu(server), cpu(client), time.perf_counter()
                    await clients(socket, way == "stream", args.rooms, args.messages)
                    elapsed = time.perf_counter() - t0
                    runs[way].append(
                        {
                            "server_cpu_ms_per_msg": (cpu(server) - s0) * 1000 / n,
                            "client_cpu_ms_per_msg": (cpu(client) - c0) * 1000 / n,
                            "msgs_per_s": n / elapsed,
                        }
                    )
        finally:
            proc.stdin.close()
            await proc.wait()
    return {way: {k: round(statistics.median(r[k] for r in rs), 3) for k in rs[0]} for way, rs in runs.items()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=50, help="clients at once (50)")
    parser.add_argument("--messages", type=int, default=100, help="messages per client per round (100)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, the two ways taking turns (4)")
    result = asyncio.run(main(parser.parse_args()))
    for way, figures in result.items():
        label = "a call per message" if way == "call" else "one stream per client"
        print(
            f"{label:24} server {figures['server_cpu_ms_per_msg']:.3f} ms/msg, "
            f"client {figures['client_cpu_ms_per_msg']:.3f} ms/msg, {figures['msgs_per_s']:.0f} msg/s"
        )
    print(json.dumps(result))
