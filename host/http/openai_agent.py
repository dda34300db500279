"""Chat completions by an agent: the request's last user message runs through the agent's
pipeline, the same path AgentService.SendMessage takes (the host's internals, not a gRPC hop);
the messages before it become the room's history when the room is new. The reply comes back
whole or streamed (REPLY_DELTA events as content deltas), with usage from the router's ledger
for the run (its task scope) and, in the `agenthost` field, the actions the agent ran."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator

import grpc
from agenthost.v1 import router_pb2, types_pb2

from plugin_sdk.limits import memory_problem
from plugin_sdk.types import Content, Memory
from plugin_sdk.wire import content_to_proto

from ..agent.admission import Backlogged
from ..agent.agent import Agent
from ..agent.pipeline import MessageNotStored
from ..agent.rooms import stored_type
from ..agent.run import RUN_ENDED, RunEvent
from ..deployment.deployment import NoOwner
from ..plugins.connection import PluginUnavailable
from ..status import Lifecycle
from ..store.records import Room
from .errors import RATE_LIMIT, SERVER_ERROR, ApiError
from .openai_shapes import DONE, Reply, Usage, sse
from .openai_types import ChatCompletionRequest, ChatMessage
from .transcript import Transcript

if TYPE_CHECKING:
    from ..host import Host

log = logging.getLogger("host.http")
SENDER = "openai-user"  # the sender of a request that names no `user`
SOURCE = "openai"  # the messages' content.source
ROOM_TYPE = "api"
USAGE_TIMEOUT = 5.0  # how long the router's ledger has to say what a run's model calls used
_ENDED_BADLY = {"failed": 500, "interrupted": 503}


class Conversation:
    """Where a request's message goes: its room and sender, its text, the messages before it."""

    def __init__(self, body: ChatCompletionRequest, room: str | None, message_id: str | None = None) -> None:
        users = [i for i, m in enumerate(body.messages) if m.role == "user"]
        if not users:
            raise ApiError(400, "messages has no user message: nothing for the agent to answer", param="messages")
        last = body.messages[users[-1]]
        if last.image_urls():
            raise ApiError(400, "an agent takes text messages only (image parts: use model router)", param="messages")
        self.text = last.text()
        if not self.text.strip():
            raise ApiError(400, "the last user message has no text: nothing to respond to", param="messages")
        self.sender = body.user or SENDER
        self.room_id = room or body.user or f"{SOURCE}-{uuid.uuid4()}"
        self.history: list[ChatMessage] = body.messages[: users[-1]]
        self.message_id = message_id or ""  # empty: the host gives the message one

    def message(self) -> Memory:
        """The message to run; 400 when it is beyond what the gRPC API takes too."""
        content = Content(text=self.text, source=SOURCE)
        problem = memory_problem(
            types_pb2.Memory(room_id=self.room_id, entity_id=self.sender, content=content_to_proto(content)), "message"
        )
        if problem:
            raise ApiError(400, problem, param="messages")
        return Memory(id=self.message_id, content=content, entity_id=self.sender, room_id=self.room_id)


def ready_agent(host: Host, agent: Agent) -> None:
    """503 unless the host and the agent take messages."""
    state = host.state()
    if state not in (Lifecycle.READY, Lifecycle.DEGRADED):
        raise ApiError(503, f"the host is {state.name}, not ready for messages; retry shortly", SERVER_ERROR)
    if agent.state is not Lifecycle.READY:
        raise ApiError(503, f"agent {agent.name} is {agent.state.name}, not ready for messages", SERVER_ERROR)


async def seed_history(host: Host, agent: Agent, talk: Conversation, lock: asyncio.Lock) -> None:
    """Make the room, if it is new, with the request's earlier user and assistant messages as its
    history (system messages are not stored: the agent's character says who it is). Under `lock`,
    so two first requests to one room do not both store the history."""
    if not talk.history:
        return
    store = host.store
    async with lock:
        if await store.get_room(agent.id, talk.room_id) is not None:
            return
        await store.upsert_room(Room(agent.id, id=talk.room_id, type=stored_type(ROOM_TYPE), source=SOURCE))
        for said in talk.history:
            if said.role not in ("user", "assistant") or not said.text().strip():
                continue
            sender = agent.id if said.role == "assistant" else talk.sender
            content = Content(text=said.text(), source=SOURCE)
            await store.create_memory(
                Memory(content=content, entity_id=sender, agent_id=agent.id, room_id=talk.room_id)
            )


async def start_run(agent: Agent, message: Memory) -> tuple[RunEvent, AsyncIterator[RunEvent]]:
    """The run's first event and the rest; refusals before anything is stored as HTTP errors."""
    events = agent.send(message, ROOM_TYPE)
    try:
        return await anext(events), events
    except Backlogged as exc:  # nothing stored: the client may send it again
        headers = {"Retry-After": f"{max(1, round(exc.retry_after_s))}"}
        raise ApiError(429, str(exc), RATE_LIMIT, "backlog_full", headers=headers) from None
    except MessageNotStored as exc:
        raise ApiError(503, str(exc), SERVER_ERROR, "not_stored") from None
    except NoOwner as exc:  # a deployment handed the room to no host in time: nothing stored
        raise ApiError(503, str(exc), SERVER_ERROR, "no_owner") from None


async def run_usage(host: Host, agent: Agent, run_id: str) -> Usage:
    """What the run's model calls used, as the router's ledger booked them (its task scope is
    the run); nothing without a router or when it does not answer."""
    router = host.router
    if not router.enabled or not run_id:
        return Usage()
    request = router_pb2.GetUsageRequest(agent_name=agent.name, task_id=run_id, limit=1)
    try:
        usage = await router.stub().GetUsage(request, metadata=router.metadata, timeout=USAGE_TIMEOUT)
    except (grpc.RpcError, PluginUnavailable) as exc:
        log.debug("the router's usage of run %s is not available: %s", run_id, exc)
        return Usage()
    return Usage(usage.tokens_in, usage.tokens_out, usage.cost, usage.calls)


def _run_error(transcript: Transcript) -> ApiError | None:
    """The error for a run that ended without answering (failed, interrupted), else None."""
    status = _ENDED_BADLY.get(transcript.status)
    if status is None:
        return None
    why = transcript.outcome.get("error") or transcript.status
    return ApiError(
        status, f"run {transcript.run_id} {transcript.status}: {why}", SERVER_ERROR, f"run_{transcript.status}"
    )


async def _events(first: RunEvent, rest: AsyncIterator[RunEvent]) -> AsyncIterator[RunEvent]:
    yield first
    async for event in rest:
        yield event


async def complete(
    host: Host, agent: Agent, reply: Reply, first: RunEvent, rest: AsyncIterator[RunEvent]
) -> dict[str, Any]:
    """The whole `chat.completion` once the run has ended."""
    transcript = Transcript()
    async for event in _events(first, rest):
        transcript.take(event)
    error = _run_error(transcript)
    if error is not None:
        raise error
    usage = await run_usage(host, agent, transcript.run_id)
    return reply.completion(transcript.text, usage, "stop", transcript.extra())


async def stream(
    host: Host, agent: Agent, reply: Reply, first: RunEvent, rest: AsyncIterator[RunEvent], include_usage: bool
) -> AsyncIterator[bytes]:
    """`chat.completion.chunk` events up to `data: [DONE]`. A client that goes away stops only
    this: the run carries on and is stored."""
    transcript = Transcript()
    yield reply.chunk({"role": "assistant", "content": ""})
    try:
        async for event in _events(first, rest):
            piece = transcript.take(event)
            if piece:
                yield reply.chunk({"content": piece})
            if event.type == RUN_ENDED:
                break
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
    error = _run_error(transcript)
    if error is not None:  # OpenAI's clients raise an APIError for an event carrying `error`
        yield sse({"error": {"message": error.message, "type": error.type, "param": None, "code": error.code}})
        return
    usage = await run_usage(host, agent, transcript.run_id)
    yield reply.chunk({}, "stop", extra={**transcript.extra(), "cost": usage.cost, "model_calls": usage.calls})
    if include_usage:
        yield reply.usage_chunk(usage)
    yield DONE
