"""An agent's memory search as an MCP tool of the in-process server (/mcp): its stored messages
(or another memory table) closest in meaning to a query, the query embedded by the agent's own
embedding queue, as RuntimeService.SearchMemories does for plugins. AgentService has no such
call, so `agenthost mcp serve` (over gRPC) does not offer it."""

from __future__ import annotations

from typing import Any

import grpc
from pydantic import BaseModel

from ..agent.agent import UnknownAgent
from ..memory.embedding_queue import ModelChanged, ModelNotReady, RefusedText
from ..memory.knowledge import DOCUMENTS_TABLE, FRAGMENTS_TABLE
from ..store.base import StoreUnavailable
from .calls import AgentCallError

MESSAGES_TABLE = "messages"
MAX_LIMIT = 100


class MemoryHit(BaseModel):
    id: str
    room: str
    user: str
    text: str
    created_at_ms: int
    score: float


class MemoryResult(BaseModel):
    memories: list[MemoryHit]
    model: str


class MemorySearch:
    """Searches a host's agents' memories by meaning; refusals are AgentCallError as the API's."""

    def __init__(self, host: Any) -> None:
        self._host = host

    async def search(self, agent: str, query: str, room: str = "", table: str = "", limit: int = 5) -> MemoryResult:
        """The `limit` memories of `table` (messages when empty) most similar to `query`, best
        first, of `room` only when given."""
        table = table or MESSAGES_TABLE
        if not query.strip():
            raise AgentCallError(grpc.StatusCode.INVALID_ARGUMENT, "query is empty: say what to look for")
        if not 1 <= limit <= MAX_LIMIT:
            raise AgentCallError(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
        if table in (DOCUMENTS_TABLE, FRAGMENTS_TABLE):
            raise AgentCallError(grpc.StatusCode.INVALID_ARGUMENT, "knowledge is searched with search_knowledge")
        try:
            found = self._host.find_agent(agent)
        except UnknownAgent as exc:
            raise AgentCallError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        if found.embeddings is None:
            raise AgentCallError(grpc.StatusCode.FAILED_PRECONDITION, f"agent {found.name} is not started")
        try:
            model, vector = await found.embeddings.embed_query(query)
            hits = await self._host.store.search_memories(
                found.id, vector, model, table_name=table, room_id=room or None, limit=limit
            )
        except (ModelNotReady, ModelChanged) as exc:
            raise AgentCallError(grpc.StatusCode.UNAVAILABLE, f"no embedding model answers now: {exc}") from None
        except RefusedText as exc:
            refused = f"the embedding model refused the query: {exc}"
            raise AgentCallError(grpc.StatusCode.INVALID_ARGUMENT, refused) from None
        except StoreUnavailable as exc:
            raise AgentCallError(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
        return MemoryResult(
            memories=[
                MemoryHit(
                    id=h.memory.id,
                    room=h.memory.room_id,
                    user=h.memory.entity_id,
                    text=h.memory.content.text,
                    created_at_ms=h.memory.created_at_ms,
                    score=h.score,
                )
                for h in hits
            ],
            model=model,
        )
