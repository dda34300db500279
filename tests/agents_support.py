"""For tests of several agents: a scripted router (a real RouterService on a unix socket that
records each call's agent and task scopes and answers as the agent the system prompt names),
and character files."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from agenthost.v1 import router_pb2, router_pb2_grpc

from host.host import Host

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


@dataclass
class Call:
    agent_name: str
    task_id: str
    system: str
    text: str


@dataclass
class ScriptedRouter(router_pb2_grpc.RouterServiceServicer):
    """Answers "I am <name> | turns=N | <recall line>"; "slow S" in the message waits S seconds."""

    calls: list[Call] = field(default_factory=list)
    warm_ups: list[router_pb2.InvokeRequest] = field(default_factory=list)
    server: Any = None

    async def Invoke(self, request: router_pb2.InvokeRequest, context: Any) -> router_pb2.InvokeResponse:
        if request.meta.warm_up:  # an agent's reply prompt read ahead: as a router with no local model
            self.warm_ups.append(request)
            return router_pb2.InvokeResponse()
        if not request.messages:  # an embedding or a prompt: not scripted here
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the scripted router answers chat messages only")
        return await self._answer(request)

    async def InvokeStream(self, request: router_pb2.InvokeStreamRequest, context: Any) -> AsyncIterator[Any]:
        """The whole reply as one delta, then the final answer (as the router streams)."""
        done = await self._answer(request.request)
        yield router_pb2.InvokeStreamResponse(delta=done.text)
        yield router_pb2.InvokeStreamResponse(done=done)

    async def _answer(self, request: router_pb2.InvokeRequest) -> router_pb2.InvokeResponse:
        system, text = request.messages[0].content, request.messages[-1].content
        self.calls.append(Call(request.meta.agent_name, request.meta.task_id, system, text))
        if match := re.search(r"slow ([\d.]+)", text):
            await asyncio.sleep(float(match.group(1)))
        name = re.search(r"You are (\w+)\.", system)
        recall = re.search(r"recall: .*", system)
        reply = (
            f"I am {name.group(1) if name else '?'} | turns={len(request.messages) - 2} | "
            f"{recall.group(0) if recall else 'no recall'}"
        )
        xml = f"<response><thought>t</thought><actions>REPLY</actions><text>{reply}</text></response>"
        return router_pb2.InvokeResponse(text=xml, provider="scripted", model="scripted")

    async def start(self, address: str) -> None:
        self.server = grpc.aio.server()
        router_pb2_grpc.add_RouterServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(address)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)


def character(directory: Path, name: str, plugins: list[str] | None = None, **fields: Any) -> Path:
    """Write an elizaOS character file for `name` ("You are <name>." as its system prompt)."""
    doc = {"name": name, "system": f"You are {name}.", "bio": [f"{name} is a test agent."], **fields}
    if plugins is not None:
        doc["plugins"] = plugins
    path = directory / f"{name.lower()}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(name="router")
async def router_fixture(tmp_path: Path) -> AsyncIterator[tuple[ScriptedRouter, str]]:
    """A scripted router serving on a unix socket, and its address (for `router_address`)."""
    scripted, address = ScriptedRouter(), f"unix://{tmp_path}/router.sock"
    await scripted.start(address)
    yield scripted, address
    await scripted.stop()


async def run_cli(host: Host, *args: str) -> tuple[int, str, str]:
    """`agenthost ARGS --host <host>` as a user runs it (with the host's token): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        AGENTHOST,
        *args,
        "--host",
        host.address,
        env={**os.environ, "AGENTHOST_TOKEN": host.api_token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
