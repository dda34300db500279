"""The OpenAI-compatible endpoint: `GET /v1/models`, `POST /v1/chat/completions` and
`POST /v1/embeddings`, where `model` is an agent (its name or id), `router` or `router/<quality>`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..agent.agent import Agent, UnknownAgent
from ..host import Host  # at run time: FastAPI reads the routes' annotations
from . import openai_agent, openai_router
from .context import host_of
from .errors import unknown_model
from .openai_shapes import Reply, model_entry
from .openai_types import ChatCompletionRequest, EmbeddingRequest

HostDep = Annotated[Host, Depends(host_of)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _models(host: Host) -> list[dict[str, Any]]:
    entries = []
    for agent in host.agents.values():
        info = {"agent_id": agent.id, "agent_name": agent.name, "state": agent.state.name}
        entries.append(model_entry(agent.name, "agent", **info))
        entries.append(model_entry(agent.id, "agent", **info))
    if host.router.enabled:
        entries.append(model_entry(openai_router.ROUTER, "router"))
    return entries


def _agent(host: Host, model: str) -> Agent:
    """The agent `model` names (its name or id); 404 listing the models otherwise."""
    try:
        return host.find_agent(model) if model else _no_agent(host, model)
    except UnknownAgent:
        return _no_agent(host, model)


def _no_agent(host: Host, model: str) -> Agent:
    known = [a.name for a in host.agents.values()] + ([openai_router.ROUTER] if host.router.enabled else [])
    raise unknown_model(model, ", ".join(known) or "none")


def openai_routes() -> APIRouter:
    """The routes, for the app to mount behind the token check."""
    api = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

    @api.get("/models", summary="The agents (by name and by id) and the router, as models")
    async def list_models(host: HostDep) -> dict[str, Any]:
        return {"object": "list", "data": _models(host)}

    @api.get("/models/{model:path}", summary="One model")
    async def get_model(model: str, host: HostDep) -> dict[str, Any]:
        for entry in _models(host):
            if entry["id"] == model:
                return entry
        _no_agent(host, model)
        raise AssertionError("unreachable")

    @api.post(
        "/chat/completions",
        summary="Run the last user message through an agent, or send the chat to the router",
        description=(
            "`model` is an agent's name or id, `router` or `router/<quality>`. With an agent, the `user` "
            "field (or the X-Agenthost-Room header) names the room and sender; earlier messages become a new "
            "room's history. The response's `agenthost` field has the run id, room, status, the actions the "
            "agent ran and the cost; `usage` is from the router's ledger. `stream: true` sends "
            "chat.completion.chunk server-sent events ending `data: [DONE]`."
        ),
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        request: Request,
        host: HostDep,
        x_agenthost_room: Annotated[str | None, Header(max_length=256)] = None,
    ) -> Any:
        reply = Reply.new(body.model)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        quality = openai_router.router_quality(body.model)
        if quality is not None and host.router.enabled:
            if not body.stream:
                return JSONResponse(await openai_router.complete(host, body, quality, reply))
            call, first = await openai_router.open_stream(host, body, quality)
            chunks = openai_router.stream(call, first, reply, include_usage)
            return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)
        agent = _agent(host, body.model)
        openai_agent.ready_agent(host, agent)
        talk = openai_agent.Conversation(body, x_agenthost_room)
        message = talk.message()
        await openai_agent.seed_history(host, agent, talk, request.app.state.new_rooms)
        first, rest = await openai_agent.start_run(agent, message)
        if not body.stream:
            return JSONResponse(await openai_agent.complete(host, agent, reply, first, rest))
        chunks = openai_agent.stream(host, agent, reply, first, rest, include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)

    @api.post("/embeddings", summary="Embeddings through the router (an agent as model books them to it)")
    async def embeddings(body: EmbeddingRequest, host: HostDep) -> dict[str, Any]:
        quality = openai_router.router_quality(body.model)
        agent_name = ""
        if quality is None or not host.router.enabled:
            agent_name, quality = _agent(host, body.model).name, ""
        return await openai_router.embeddings(host, body, quality, agent_name)

    return api
