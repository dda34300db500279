"""AgentService's knowledge calls: add (a stream of chunks), list, remove, search. A mixin of
`AgentServicer`, converting protos at this edge and errors to statuses."""

from __future__ import annotations

from typing import Any, AsyncIterator, NoReturn, Protocol

import grpc
from agenthost.v1 import agent_pb2

from plugin_sdk.limits import quote

from ..agent.agent import UnknownAgent
from ..memory import EmbeddingQueue, Knowledge, KnowledgeDocument, KnowledgeError, ModelNotReady
from ..store import ContentTooLarge, Store, StoreUnavailable
from .abort import abort

#: The largest document AddKnowledge takes (its chunks together).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_SEARCH_LIMIT = 100


class KnowledgeAgent(Protocol):
    """What the knowledge calls use of an agent (host.agent.agent.Agent)."""

    id: str
    embeddings: EmbeddingQueue | None


class KnowledgeHost(Protocol):
    """What the knowledge calls use of the host (host.host.Host)."""

    @property
    def store(self) -> Store: ...
    def find_agent(self, key: str) -> Any: ...  # a KnowledgeAgent; UnknownAgent when there is none


def document_proto(doc: KnowledgeDocument) -> agent_pb2.KnowledgeDocument:
    return agent_pb2.KnowledgeDocument(
        id=doc.id,
        source=doc.source,
        sha256=doc.sha256,
        size_bytes=doc.size,
        kind=doc.kind,
        fragments=doc.fragments,
        pages=doc.pages,
        added_at_ms=doc.added_at_ms,
        note=doc.note,
    )


class KnowledgeRpcs:
    """AddKnowledge, ListKnowledge, RemoveKnowledge, SearchKnowledge over the host's agent."""

    host: KnowledgeHost

    async def _knowledge(self, context: grpc.aio.ServicerContext, key: str) -> Knowledge:
        """The knowledge of the agent with id or name `key` ("": the only agent)."""
        try:
            agent: KnowledgeAgent = self.host.find_agent(key)
        except UnknownAgent as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, str(exc).replace(repr(key), quote(key)))
        if agent.embeddings is None:
            await abort(context, grpc.StatusCode.UNAVAILABLE, f"agent {agent.id} is not started; retry shortly")
        return Knowledge(self.host.store, agent.embeddings, agent.id)

    async def AddKnowledge(
        self, requests: AsyncIterator[agent_pb2.AddKnowledgeRequest], context: grpc.aio.ServicerContext
    ) -> agent_pb2.AddKnowledgeResponse:
        first: agent_pb2.AddKnowledgeRequest | None = None
        chunks: list[bytes] = []
        size = 0
        async for request in requests:
            first = first or request
            size += len(request.data)
            if size > MAX_DOCUMENT_BYTES:
                await abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the document is over {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB; split it into smaller files",
                )
            chunks.append(request.data)
        if first is None or not first.source.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "source is required in the first message")
        knowledge = await self._knowledge(context, first.agent_id)
        try:
            doc, outcome = await knowledge.add(first.source, b"".join(chunks), first.content_type)
        except (KnowledgeError, ContentTooLarge) as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreUnavailable as exc:
            await _unavailable(context, exc)
        return agent_pb2.AddKnowledgeResponse(document=document_proto(doc), outcome=outcome)

    async def ListKnowledge(
        self, request: agent_pb2.ListKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListKnowledgeResponse:
        knowledge = await self._knowledge(context, request.agent_id)
        try:
            docs = await knowledge.documents()
        except StoreUnavailable as exc:
            await _unavailable(context, exc)
        return agent_pb2.ListKnowledgeResponse(documents=[document_proto(d) for d in docs])

    async def RemoveKnowledge(
        self, request: agent_pb2.RemoveKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.RemoveKnowledgeResponse:
        if not request.document.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "document is required (its id or source)")
        knowledge = await self._knowledge(context, request.agent_id)
        try:
            removed = await knowledge.remove(request.document)
        except StoreUnavailable as exc:
            await _unavailable(context, exc)
        if removed is None:
            await abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"no document {quote(request.document)} (by id or source); see `agenthost knowledge list`",
            )
        return agent_pb2.RemoveKnowledgeResponse(document=document_proto(removed))

    async def SearchKnowledge(
        self, request: agent_pb2.SearchKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.SearchKnowledgeResponse:
        if not request.query.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "query is empty: say what to look for")
        if not 0 <= request.limit <= MAX_SEARCH_LIMIT:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"limit must be from 0 (the default, 5) to {MAX_SEARCH_LIMIT}, got {request.limit}",
            )
        threshold = request.threshold if request.HasField("threshold") else -1.0
        if not -1.0 <= threshold <= 1.0:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"threshold must be from -1 to 1, got {threshold:g}")
        knowledge = await self._knowledge(context, request.agent_id)
        try:
            hits = await knowledge.search(request.query, request.limit or 5, threshold)
        except ModelNotReady as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        except StoreUnavailable as exc:
            await _unavailable(context, exc)
        return agent_pb2.SearchKnowledgeResponse(
            fragments=[
                agent_pb2.KnowledgeFragment(
                    fragment_id=h.fragment_id,
                    document_id=h.document_id,
                    source=h.source,
                    position=h.position,
                    text=h.text,
                    score=h.score,
                )
                for h in hits
            ],
            model=knowledge.queue.status.model,
        )


async def _unavailable(context: grpc.aio.ServicerContext, exc: StoreUnavailable) -> NoReturn:
    await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
