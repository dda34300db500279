"""The OpenAI-compatible endpoint: `GET /v1/models`, `POST /v1/chat/completions` and
`POST /v1/embeddings`, where `model` is an agent (its name or id), `router` or `router/<quality>`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from ..api.agent_service import MAX_MESSAGE_ID
from ..host import Host  # at run time: FastAPI reads the routes' annotations
from . import openai_router
from .context import host_of
from .openai_chat import chat_completion, find_agent, no_agent
from .openai_shapes import model_entry
from .openai_types import ROOM_HEADER_MAX, ChatCompletionRequest, EmbeddingRequest

HostDep = Annotated[Host, Depends(host_of)]
_MESSAGE_ID = (
    "The message's id, chosen by the client: sent again with it, the message is not run again, its run "
    f"is replayed. At most {MAX_MESSAGE_ID} characters, as SendMessageRequest.message_id (a longer one: 400)."
)
_AT_MOST = {"maxLength": MAX_MESSAGE_ID}  # documented only: chat_completion checks it, worded as gRPC's


def _models(host: Host) -> list[dict[str, Any]]:
    entries = []
    for agent in host.agents.values():
        info = {"agent_id": agent.id, "agent_name": agent.name, "state": agent.state.name}
        entries.append(model_entry(agent.name, "agent", **info))
        entries.append(model_entry(agent.id, "agent", **info))
    if host.router.enabled:
        entries.append(model_entry(openai_router.ROUTER, "router"))
    return entries


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
        no_agent(host, model)
        raise AssertionError("unreachable")

    @api.post(
        "/chat/completions",
        summary="Run the last user message through an agent, or send the chat to the router",
        description=(
            "`model` is an agent's name or id, `router` or `router/<quality>`. With an agent, the `user` "
            "field (or the X-Agenthost-Room header) names the room and sender; earlier messages become a new "
            "room's history; the X-Agenthost-Message-Id header gives the message an id of the client's: sent "
            "again with it (to any host of a deployment), the message is not run again, its run is replayed "
            "(`agenthost.replayed` true). The response's `agenthost` field has the run id, room, status, "
            "whether it was replayed, the actions the agent ran and the cost; `usage` is from the router's "
            "ledger. `stream: true` sends chat.completion.chunk server-sent events ending `data: [DONE]`."
        ),
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        request: Request,
        host: HostDep,
        x_agenthost_room: Annotated[str | None, Header(max_length=ROOM_HEADER_MAX)] = None,
        x_agenthost_message_id: Annotated[
            str | None, Header(description=_MESSAGE_ID, json_schema_extra=_AT_MOST)
        ] = None,
    ) -> Response:
        # Documents the route; openai_chat.plain_route, ahead of it in the app, serves it.
        new_rooms = request.app.state.new_rooms
        return await chat_completion(host, body, x_agenthost_room, new_rooms, x_agenthost_message_id)

    @api.post("/embeddings", summary="Embeddings through the router (an agent as model books them to it)")
    async def embeddings(body: EmbeddingRequest, host: HostDep) -> dict[str, Any]:
        quality = openai_router.router_quality(body.model)
        agent_name = ""
        if quality is None or not host.router.enabled:
            agent_name, quality = find_agent(host, body.model).name, ""
        return await openai_router.embeddings(host, body, quality, agent_name)

    return api
