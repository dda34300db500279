"""REST: the agents (list, one, add, remove) and their messages (send, whole or as server-sent
events; a room's history). Each goes through AgentService's own methods, in-process."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, AsyncIterator

import grpc
from agenthost.v1 import agent_pb2, types_pb2
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from plugin_sdk.limits import quote
from plugin_sdk.wire import content_from_proto, struct_to_dict

from ..agent.agent import Agent, UnknownAgent
from ..agent.pipeline import RunEvent
from ..agent.run import REPLY_DELTA, RUN_ENDED
from ..api.agent_service import MAX_MESSAGE_ID, AgentServicer
from ..cli.agents import agent_doc  # the JSON `agenthost agents list --json` prints
from ..host import Host  # at run time: FastAPI reads the routes' annotations
from ..store import StoreUnavailable
from .context import host_of
from .rest_calls import SSE_HEADERS, SSE_MEDIA, CallContext, grpc_error, sse_frame, wants_stream
from .transcript import Transcript

HostDep = Annotated[Host, Depends(host_of)]
MESSAGES_TABLE = "messages"
ROOM_PREFIX = "rest"  # a message naming no room opens a new one, rest-<uuid>


def servicer_of(request: Request) -> AgentServicer:
    """The app's AgentService methods (a FastAPI dependency)."""
    servicer: AgentServicer = request.app.state.servicer
    return servicer


ServicerDep = Annotated[AgentServicer, Depends(servicer_of)]


def event_doc(event: agent_pb2.SendMessageResponse) -> dict[str, Any]:
    """A run event as JSON: its type, run, text, actions and extra."""
    content = event.content
    return {
        "type": event.event_type,
        "run_id": event.run_id,
        "text": content.text,
        "actions": list(content.actions),
        "thought": content.thought,
        "source": content.source,
        "extra": struct_to_dict(content.extra),
    }


def find_agent(host: Host, key: str) -> Agent:
    """The running agent with id or name `key`; 404 with AgentService's message otherwise."""
    try:
        return host.find_agent(key)
    except UnknownAgent as exc:
        raise grpc_error(grpc.StatusCode.NOT_FOUND, str(exc).replace(repr(key), quote(key))) from None


class MessageBody(BaseModel):
    """A message to an agent."""

    text: str = Field(description="What the user says")
    room: str | None = Field(None, description="The conversation; a new room when left out")
    user: str | None = Field(None, description="The sender's entity id (api-user when left out)")
    room_type: str = Field("", description="The room's type when this message makes it: dm, group or api")
    actions: list[str] = Field(default_factory=list, description="Actions the sender asks for")
    message_id: str | None = Field(
        None,
        description=(
            f"The message's id, chosen by the sender (at most {MAX_MESSAGE_ID} characters, as gRPC's): sent "
            "again with it, the message is not run again, its run is replayed (`replayed` true); the host "
            "gives one when left out"
        ),
    )


async def _first(events: AsyncIterator[agent_pb2.SendMessageResponse]) -> agent_pb2.SendMessageResponse:
    """The first event: an aborted call (bad input, unknown agent, backlog) raises its ApiError here."""
    return await anext(events)


async def _then(
    first: agent_pb2.SendMessageResponse, rest: AsyncIterator[agent_pb2.SendMessageResponse]
) -> AsyncIterator[agent_pb2.SendMessageResponse]:
    yield first
    async for event in rest:
        yield event


async def _streamed(
    first: agent_pb2.SendMessageResponse, rest: AsyncIterator[agent_pb2.SendMessageResponse]
) -> AsyncIterator[bytes]:
    """Each event as a server-sent event up to RUN_ENDED. A client that goes away only closes
    this stream: the run carries on in its task and is stored."""
    try:
        async for event in _then(first, rest):
            yield sse_frame(event.event_type, event_doc(event))
            if event.event_type == RUN_ENDED:
                return
    finally:
        await rest.aclose()  # type: ignore[attr-defined]


async def _whole(
    first: agent_pb2.SendMessageResponse, rest: AsyncIterator[agent_pb2.SendMessageResponse], room: str
) -> dict[str, Any]:
    """The run once it has ended: its reply, the actions it ran and its events (not the deltas)."""
    transcript, events = Transcript(), []
    async for event in _then(first, rest):
        transcript.take(RunEvent(event.run_id, event.event_type, content_from_proto(event.content)))
        if event.event_type != REPLY_DELTA:
            events.append(event_doc(event))
    return {
        "run_id": transcript.run_id or first.run_id,
        "room": room,
        "status": transcript.status,
        "replayed": transcript.replayed,
        "reply": transcript.text,
        "actions": transcript.actions,
        "error": transcript.outcome.get("error") or transcript.outcome.get("reason") or "",
        "events": events,
    }


def agents_routes() -> APIRouter:
    """The agents' and messages' routes, for the app to mount behind the token check."""
    api = APIRouter(prefix="/api/agents", tags=["REST: agents and messages"])

    @api.get("", summary="Every agent of the host")
    async def list_agents(servicer: ServicerDep) -> dict[str, Any]:
        reply = await servicer.ListAgents(agent_pb2.ListAgentsRequest(), CallContext())  # type: ignore[arg-type]
        return {"agents": [agent_doc(a) for a in reply.agents]}

    @api.post("", status_code=201, summary="Add an agent from a character (the JSON object, or {character: ...})")
    async def add_agent(body: Annotated[dict[str, Any], Body()], servicer: ServicerDep) -> dict[str, Any]:
        character = body["character"] if isinstance(body.get("character"), dict) else body
        request = agent_pb2.AddAgentRequest(character_json=json.dumps(character))
        reply = await servicer.AddAgent(request, CallContext())  # type: ignore[arg-type]
        return {"agent": agent_doc(reply.agent)}

    @api.get("/{agent}", summary="One agent, by name or id")
    async def get_agent(agent: str, host: HostDep, servicer: ServicerDep) -> dict[str, Any]:
        found = find_agent(host, agent)
        reply = await servicer.ListAgents(agent_pb2.ListAgentsRequest(), CallContext())  # type: ignore[arg-type]
        return {"agent": next(agent_doc(a) for a in reply.agents if a.id == found.id)}

    @api.delete("/{agent}", summary="Remove an agent (its runs are interrupted; its data stays)")
    async def remove_agent(agent: str, servicer: ServicerDep) -> dict[str, Any]:
        request = agent_pb2.RemoveAgentRequest(agent=agent)
        reply = await servicer.RemoveAgent(request, CallContext())  # type: ignore[arg-type]
        return {"agent": agent_doc(reply.agent), "runs_interrupted": reply.interrupted_runs}

    @api.post(
        "/{agent}/messages",
        summary="Send a message; the run's reply, or its events as server-sent events",
        description=(
            "With ?stream=true or Accept: text/event-stream, each run event is sent as `event: TYPE` and "
            "`data: JSON` (RUN_STARTED, REPLY_DELTA, REPLY, ACTION, EVALUATOR, RUN_ENDED), then the stream "
            "ends. A client that goes away does not stop the run: it finishes and is stored. A message sent "
            "again with its `message_id` is not run again: its run is replayed (RUN_ENDED's extra.replayed)."
        ),
    )
    async def send_message(
        agent: str,
        body: MessageBody,
        servicer: ServicerDep,
        stream: bool = False,
        accept: Annotated[str | None, Header()] = None,
    ) -> Any:
        room = body.room if body.room is not None else f"{ROOM_PREFIX}-{uuid.uuid4()}"
        request = agent_pb2.SendMessageRequest(
            agent_id=agent,
            room_id=room,
            room_type=body.room_type,
            entity_id=body.user or "",
            content=types_pb2.Content(text=body.text, actions=body.actions),
            message_id=body.message_id or "",  # checked by SendMessage, as over gRPC
        )
        events = servicer.SendMessage(request, CallContext())  # type: ignore[arg-type]
        first = await _first(events)
        if wants_stream(stream, accept):
            return StreamingResponse(_streamed(first, events), media_type=SSE_MEDIA, headers=SSE_HEADERS)
        return JSONResponse(await _whole(first, events, room))

    @api.get("/{agent}/rooms/{room}/messages", summary="A room's messages, oldest first")
    async def room_messages(
        agent: str, room: str, host: HostDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> dict[str, Any]:
        found = find_agent(host, agent)
        try:
            memories = await host.store.get_memories(found.id, room, MESSAGES_TABLE, limit)
        except StoreUnavailable as exc:
            raise grpc_error(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
        return {
            "messages": [
                {
                    "id": m.id,
                    "entity_id": m.entity_id,
                    "from_agent": m.entity_id == found.id,
                    "text": m.content.text,
                    "actions": list(m.content.actions),
                    "source": m.content.source,
                    "created_at": m.created_at_ms,
                }
                for m in reversed(memories)
            ]
        }

    return api
