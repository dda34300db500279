"""How the MCP server reaches a host: AgentService's calls, either in-process (the servicer's own
methods, as the REST API calls them) or over gRPC (a client of a running host). Either way a
refused call is an `AgentCallError` carrying the gRPC API's own message."""

from __future__ import annotations

from typing import Any, AsyncIterator, Protocol, Sequence

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME


class AgentCallError(Exception):
    """A call the host refused or could not answer: its gRPC status and message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details or code.name)
        self.code = code


class AgentCalls(Protocol):
    """The part of AgentService the MCP server uses."""

    def send_message(self, request: agent_pb2.SendMessageRequest) -> AsyncIterator[agent_pb2.SendMessageResponse]: ...

    async def list_agents(self) -> agent_pb2.ListAgentsResponse: ...

    async def list_knowledge(self, agent: str) -> agent_pb2.ListKnowledgeResponse: ...

    async def search_knowledge(
        self, request: agent_pb2.SearchKnowledgeRequest
    ) -> agent_pb2.SearchKnowledgeResponse: ...


class _InProcessContext:
    """The part of grpc.aio.ServicerContext the servicers use; an abort raises AgentCallError."""

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise AgentCallError(code, details)

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        pass

    def time_remaining(self) -> float | None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()


class InProcessCalls:
    """AgentService's methods called in the host's own process (no gRPC hop)."""

    def __init__(self, servicer: Any) -> None:
        self._servicer = servicer

    async def send_message(self, request: agent_pb2.SendMessageRequest) -> AsyncIterator[agent_pb2.SendMessageResponse]:
        async for event in self._servicer.SendMessage(request, _InProcessContext()):
            yield event

    async def list_agents(self) -> agent_pb2.ListAgentsResponse:
        reply: agent_pb2.ListAgentsResponse = await self._servicer.ListAgents(
            agent_pb2.ListAgentsRequest(), _InProcessContext()
        )
        return reply

    async def list_knowledge(self, agent: str) -> agent_pb2.ListKnowledgeResponse:
        reply: agent_pb2.ListKnowledgeResponse = await self._servicer.ListKnowledge(
            agent_pb2.ListKnowledgeRequest(agent_id=agent), _InProcessContext()
        )
        return reply

    async def search_knowledge(self, request: agent_pb2.SearchKnowledgeRequest) -> agent_pb2.SearchKnowledgeResponse:
        reply: agent_pb2.SearchKnowledgeResponse = await self._servicer.SearchKnowledge(request, _InProcessContext())
        return reply


class GrpcCalls:
    """AgentService over a grpc.aio channel to a running host, with its API token."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = agent_pb2_grpc.AgentServiceStub(channel)
        self._metadata = ((AUTH_METADATA_KEY, AUTH_SCHEME + token),) if token else ()

    async def send_message(self, request: agent_pb2.SendMessageRequest) -> AsyncIterator[agent_pb2.SendMessageResponse]:
        try:
            async for event in self._stub.SendMessage(request, metadata=self._metadata):
                yield event
        except grpc.aio.AioRpcError as exc:
            raise AgentCallError(exc.code(), exc.details() or "") from None

    async def _unary(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise AgentCallError(exc.code(), exc.details() or "") from None

    async def list_agents(self) -> agent_pb2.ListAgentsResponse:
        reply: agent_pb2.ListAgentsResponse = await self._unary(self._stub.ListAgents, agent_pb2.ListAgentsRequest())
        return reply

    async def list_knowledge(self, agent: str) -> agent_pb2.ListKnowledgeResponse:
        request = agent_pb2.ListKnowledgeRequest(agent_id=agent)
        reply: agent_pb2.ListKnowledgeResponse = await self._unary(self._stub.ListKnowledge, request)
        return reply

    async def search_knowledge(self, request: agent_pb2.SearchKnowledgeRequest) -> agent_pb2.SearchKnowledgeResponse:
        reply: agent_pb2.SearchKnowledgeResponse = await self._unary(self._stub.SearchKnowledge, request)
        return reply
