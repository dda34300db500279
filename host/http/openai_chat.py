"""`POST /v1/chat/completions`, the face's hot path: what it does, and the plain Starlette route
that serves it.

FastAPI documents the route (its request model and header in /openapi.json, `openai_routes`),
but a plain route placed ahead of FastAPI's serves it: the token check, reading and validating
the body (pydantic straight from the bytes) and the response are done here, without FastAPI's
dependency solving, request-model validation and routing through included routers, about a
millisecond a completion on a loaded 2-core box (bench/http.py, BENCHMARKS.md). The errors are
the same OpenAI-shaped ones, with the same statuses and `param`s."""

from __future__ import annotations

import asyncio
from email.message import Message
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..agent.agent import Agent, UnknownAgent
from ..api.agent_service import message_id_problem
from . import openai_agent, openai_router
from .errors import ApiError, unknown_model, validation_message
from .openai_shapes import Reply
from .openai_types import MESSAGE_ID_HEADER, ROOM_HEADER, ROOM_HEADER_MAX, ChatCompletionRequest
from .rest_calls import SSE_HEADERS

if TYPE_CHECKING:
    from ..host import Host

PATH = "/v1/chat/completions"
_ROOM_HEADER = ROOM_HEADER.lower()
_ROOM_PARAM = f"header.{_ROOM_HEADER}"  # how FastAPI names a header in a validation error's loc
_MESSAGE_ID_HEADER = MESSAGE_ID_HEADER.lower()
NOT_JSON = "the body must be a JSON object sent as Content-Type: application/json"


def find_agent(host: Host, model: str) -> Agent:
    """The agent `model` names (its name or id); 404 listing the models otherwise."""
    try:
        return host.find_agent(model) if model else no_agent(host, model)
    except UnknownAgent:
        return no_agent(host, model)


def no_agent(host: Host, model: str) -> Agent:
    """Raise the 404 for `model`, naming the models there are."""
    known = [a.name for a in host.agents.values()] + ([openai_router.ROUTER] if host.router.enabled else [])
    raise unknown_model(model, ", ".join(known) or "none")


def check_message_id(message_id: str | None) -> str:
    """The X-Agenthost-Message-Id header's value ("" for none), held to the gRPC API's rule for
    SendMessageRequest.message_id; 400 naming the header otherwise."""
    problem = message_id_problem(message_id or "", MESSAGE_ID_HEADER)
    if problem:
        raise ApiError(400, problem, param=f"header.{_MESSAGE_ID_HEADER}")
    return message_id or ""


async def chat_completion(
    host: Host, body: ChatCompletionRequest, room: str | None, new_rooms: asyncio.Lock, message_id: str | None = None
) -> Response:
    """The completion (or its stream) for a valid request: through the router for `router` and
    `router/<quality>`, else through the agent `model` names, in `room` when given; `message_id`
    (the client's, for an agent: sent again, its run is replayed) is checked first."""
    message_id = check_message_id(message_id)
    reply = Reply.new(body.model)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    quality = openai_router.router_quality(body.model)
    if quality is not None and host.router.enabled:
        if not body.stream:
            return JSONResponse(await openai_router.complete(host, body, quality, reply))
        call, first = await openai_router.open_stream(host, body, quality)
        chunks = openai_router.stream(call, first, reply, include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)
    agent = find_agent(host, body.model)
    openai_agent.ready_agent(host, agent)
    talk = openai_agent.Conversation(body, room, message_id)
    message = talk.message()
    await openai_agent.seed_history(host, agent, talk, new_rooms)
    first, rest = await openai_agent.start_run(agent, message)
    if not body.stream:
        return JSONResponse(await openai_agent.complete(host, agent, reply, first, rest))
    chunks = openai_agent.stream(host, agent, reply, first, rest, include_usage)
    return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)


def _is_json(content_type: str) -> bool:
    """Whether a Content-Type is JSON (application/json or application/*+json), as FastAPI has it."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def read_request(request: Request) -> ChatCompletionRequest:
    """The request's body as a ChatCompletionRequest; 400 naming the field at fault otherwise
    (413 for a body over the limit comes from body_limit while it is read)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if not raw:
        raise ApiError(400, "the request has no body: " + NOT_JSON)
    if not content_type or not _is_json(content_type):
        raise ApiError(400, NOT_JSON)
    try:
        return ChatCompletionRequest.model_validate_json(raw)
    except ValidationError as exc:
        message, field = validation_message(exc.errors(include_url=False))
        raise ApiError(400, message, param=field) from None


def room_of(request: Request) -> str | None:
    """The X-Agenthost-Room header, held to ROOM_HEADER_MAX characters."""
    room = request.headers.get(_ROOM_HEADER)
    if room is not None and len(room) > ROOM_HEADER_MAX:
        said = f"String should have at most {ROOM_HEADER_MAX} characters"
        raise ApiError(400, f"{_ROOM_PARAM}: {said}", param=_ROOM_PARAM)
    return room


def plain_route(check: Callable[[Request], Awaitable[None]]) -> Route:
    """The Starlette route serving POST /v1/chat/completions, `check` (the token) first; for the
    app to place ahead of its other routes."""

    async def chat_completions(request: Request) -> Response:
        await check(request)
        body = await read_request(request)
        state: Any = request.app.state
        message_id = request.headers.get(_MESSAGE_ID_HEADER)
        return await chat_completion(state.host, body, room_of(request), state.new_rooms, message_id)

    return Route(PATH, chat_completions, methods=["POST"], include_in_schema=False)
