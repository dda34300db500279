"""A scripted router whose reply echoes the message: a RouterService on a unix socket that answers
each chat call with `<text>echo: <the last message's text></text>` after `delay_s` (or S
seconds for a message saying "slow S"), and records
every call (its text, run id, when it began and ended), so a test or a benchmark can count the
model calls per message and see each room's calls in order. Several hosts may share it
(`router_address`), as they would share a router.

In a process of its own: `echo_router.py SOCKET_PATH [DELAY_S]` prints "READY" once serving and
exits when its stdin closes (whoever started it went away) or on SIGTERM; "calls" on stdin
prints the number of chat calls answered so far, as one line.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import grpc
from agenthost.v1 import router_pb2, router_pb2_grpc


@dataclass(frozen=True)
class Call:
    """One chat call: the last message's text, the run (task) it was for, monotonic start and end."""

    text: str
    task_id: str
    began: float
    ended: float


@dataclass
class EchoRouter(router_pb2_grpc.RouterServiceServicer):
    """Answers "echo: <text>"; `calls` in the order they ended."""

    delay_s: float = 0.0
    calls: list[Call] = field(default_factory=list)
    server: Any = None

    async def Invoke(self, request: router_pb2.InvokeRequest, context: Any) -> router_pb2.InvokeResponse:
        if request.meta.warm_up:  # a reply prompt read ahead: nothing to warm here
            return router_pb2.InvokeResponse()
        if not request.messages:  # an embedding or a bare prompt: not scripted
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the echo router answers chat messages only")
        return await self._answer(request)

    async def InvokeStream(self, request: router_pb2.InvokeStreamRequest, context: Any) -> AsyncIterator[Any]:
        """The whole reply as one delta, then the final answer (as the router streams)."""
        done = await self._answer(request.request)
        yield router_pb2.InvokeStreamResponse(delta=done.text)
        yield router_pb2.InvokeStreamResponse(done=done)

    async def ListProviders(self, request: Any, context: Any) -> router_pb2.ListProvidersResponse:
        return router_pb2.ListProvidersResponse()  # none to show

    async def _answer(self, request: router_pb2.InvokeRequest) -> router_pb2.InvokeResponse:
        text = request.messages[-1].content
        began = time.monotonic()
        words = text.split()
        delay = float(words[words.index("slow") + 1]) if "slow" in words[:-1] else self.delay_s
        if delay:
            await asyncio.sleep(delay)
        self.calls.append(Call(text, request.meta.task_id, began, time.monotonic()))
        xml = f"<response><thought>t</thought><actions>REPLY</actions><text>echo: {text}</text></response>"
        return router_pb2.InvokeResponse(text=xml, provider="echo", model="echo")

    async def start(self, address: str) -> None:
        self.server = grpc.aio.server()
        router_pb2_grpc.add_RouterServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(address)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)


async def _serve(socket_path: str, delay_s: float) -> None:
    router = EchoRouter(delay_s)
    await router.start(f"unix://{socket_path}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)

    async def commands() -> None:
        while line := await reader.readline():
            if line.strip() == b"calls":
                print(len(router.calls), flush=True)
        stop.set()

    task = asyncio.create_task(commands())
    await stop.wait()
    task.cancel()
    await router.stop()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
