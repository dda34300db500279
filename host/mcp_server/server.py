"""An agent as an MCP server: `send_message` runs the pipeline as SendMessage does and answers
with the reply and the actions run (also as structured content); `search_knowledge` searches the
agent's knowledge by meaning; `list_agents` names the agents; each knowledge document is a
resource (`knowledge://AGENT/DOCUMENT_ID`: its details and its text as its fragments hold it).
In the host (HTTP), the host's actions that take parameters (MCP-bridged tools) are tools too,
and `search_memory` searches an agent's messages by meaning (memory.py).

With `agent` fixed (stdio `--agent`), the tools' `agent` argument may be left out; the HTTP
endpoint serves every agent, and the argument picks one (empty: the host's only agent)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from agenthost.v1 import agent_pb2, types_pb2
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import Resource as MCPResource
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Field

from plugin_sdk.wire import content_from_proto

from .. import __version__
from ..agent.run import RunEvent
from ..api.agent_service import MAX_MESSAGE_ID
from ..http.transcript import Transcript
from .actions import ActionTools
from .calls import AgentCallError, AgentCalls
from .memory import MemoryResult, MemorySearch

KNOWLEDGE_SCHEME = "knowledge"
ROOM_PREFIX = "mcp"
MAX_FRAGMENTS = 100  # SearchKnowledge's own limit
MESSAGE_ID = Field(
    description=(
        f"the message's id, chosen by the caller (at most {MAX_MESSAGE_ID} characters): sent again with it, "
        "the message is not run again, its run's outcome comes again (replayed); empty: the host gives one"
    ),
    json_schema_extra={"maxLength": MAX_MESSAGE_ID},
)


class ActionRun(BaseModel):
    name: str
    success: bool
    text: str = ""
    error: str = ""


class MessageResult(BaseModel):
    """A run's outcome: the agent's reply, the actions it ran, how it ended."""

    run_id: str
    room: str
    status: str = Field(description="completed, degraded, failed, ignored, superseded or interrupted")
    reply: str
    actions: list[ActionRun]
    error: str = ""
    replayed: bool = Field(False, description="the message was sent before (its message_id): its run's outcome again")


class Fragment(BaseModel):
    document_id: str
    source: str
    position: int
    text: str
    score: float


class SearchResult(BaseModel):
    fragments: list[Fragment]
    model: str


class AgentSummary(BaseModel):
    id: str
    name: str
    state: str


class AgentList(BaseModel):
    agents: list[AgentSummary]


class AgentMcpServer(MCPServer[Any]):
    """The MCP server of one host's agents; knowledge documents listed as resources."""

    def __init__(
        self,
        calls: AgentCalls,
        agent: str = "",
        actions: ActionTools | None = None,
        memory: MemorySearch | None = None,
    ) -> None:
        super().__init__("agenthost", version=__version__, instructions=_INSTRUCTIONS)
        self.calls, self.agent, self.actions, self.memory = calls, agent, actions, memory
        _register(self)
        if memory is not None:
            _register_memory(self, memory)

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        return tools + (self.actions.tools() if self.actions is not None else [])

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self.actions is not None and self._tool_manager.get_tool(name) is None and self.actions.has(name):
            return await self.actions.call(name, arguments)
        return await super().call_tool(name, arguments, context)

    def pick(self, agent: str) -> str:
        """The agent a call is for: the one given, else the server's own (empty: the host's only one)."""
        return agent or self.agent

    async def list_resources(self) -> list[MCPResource]:
        resources = await super().list_resources()
        try:
            agents = [self.agent] if self.agent else [a.name for a in (await self.calls.list_agents()).agents]
            for name in agents:
                for doc in (await self.calls.list_knowledge(name)).documents:
                    resources.append(
                        MCPResource(
                            uri=f"{KNOWLEDGE_SCHEME}://{name}/{doc.id}",
                            name=doc.source,
                            description=f"{name}'s knowledge: {doc.source} ({doc.kind}, {doc.fragments} fragments)",
                            mime_type="application/json",
                        )
                    )
        except AgentCallError as exc:
            raise ResourceError(str(exc)) from None
        return resources


_INSTRUCTIONS = (
    "An agenthost host's agents. send_message talks to an agent (its pipeline runs: memory, providers, "
    "the model, actions) and answers with its reply and the actions it ran; search_knowledge searches an "
    "agent's knowledge; its knowledge documents are resources knowledge://AGENT/DOCUMENT_ID."
)


def _register(server: AgentMcpServer) -> None:
    """The tools and the knowledge resource template of `server`."""

    @server.tool()
    async def send_message(
        text: str, agent: str = "", room: str = "", user: str = "", message_id: Annotated[str, MESSAGE_ID] = ""
    ) -> MessageResult:
        """Send the agent a message; its reply and the actions it ran. `room` keeps a conversation
        (empty: a new room per message); `agent` is the agent's name or id; `message_id` makes
        sending it again safe (the same id: not run again, its run's outcome, `replayed`)."""
        room = room or f"{ROOM_PREFIX}-{uuid.uuid4()}"
        request = agent_pb2.SendMessageRequest(
            agent_id=server.pick(agent),
            room_id=room,
            entity_id=user,
            content=types_pb2.Content(text=text, source="mcp"),
            message_id=message_id,  # checked by SendMessage, as over gRPC
        )
        transcript = Transcript()
        try:
            async for event in server.calls.send_message(request):
                transcript.take(RunEvent(event.run_id, event.event_type, content_from_proto(event.content)))
        except AgentCallError as exc:
            raise ToolError(str(exc)) from None
        return MessageResult(
            run_id=transcript.run_id,
            room=room,
            status=transcript.status,
            reply=transcript.text,
            actions=[ActionRun(**a) for a in transcript.actions],
            error=str(transcript.outcome.get("error") or transcript.outcome.get("reason") or ""),
            replayed=transcript.replayed,
        )

    @server.tool()
    async def search_knowledge(query: str, agent: str = "", limit: int = 5) -> SearchResult:
        """Search the agent's knowledge by meaning: the closest fragments of its documents."""
        request = agent_pb2.SearchKnowledgeRequest(agent_id=server.pick(agent), query=query, limit=limit)
        try:
            found = await server.calls.search_knowledge(request)
        except AgentCallError as exc:
            raise ToolError(str(exc)) from None
        return SearchResult(
            fragments=[
                Fragment(document_id=f.document_id, source=f.source, position=f.position, text=f.text, score=f.score)
                for f in found.fragments
            ],
            model=found.model,
        )

    @server.tool()
    async def list_agents() -> AgentList:
        """The host's agents: id, name and state."""
        try:
            agents = (await server.calls.list_agents()).agents
        except AgentCallError as exc:
            raise ToolError(str(exc)) from None
        return AgentList(agents=[AgentSummary(id=a.id, name=a.name, state=_state(a)) for a in agents])

    @server.resource(f"{KNOWLEDGE_SCHEME}://{{agent}}/{{document}}", mime_type="application/json")
    async def knowledge_document(agent: str, document: str) -> str:
        """A knowledge document of an agent: its details and its text, fragment by fragment."""
        try:
            docs = (await server.calls.list_knowledge(agent)).documents
            doc = next((d for d in docs if document in (d.id, d.source)), None)
            if doc is None:
                raise ResourceError(f"agent {agent!r} has no knowledge document {document!r}")
            search = agent_pb2.SearchKnowledgeRequest(agent_id=agent, query=doc.source, limit=MAX_FRAGMENTS)
            hits = [f for f in (await server.calls.search_knowledge(search)).fragments if f.document_id == doc.id]
        except AgentCallError as exc:
            raise ResourceError(str(exc)) from None
        hits.sort(key=lambda f: f.position)
        body = {
            "id": doc.id,
            "source": doc.source,
            "kind": doc.kind,
            "size_bytes": doc.size_bytes,
            "fragments": doc.fragments,
            "added_at_ms": doc.added_at_ms,
            "text": "\n".join(f.text for f in hits),
        }
        return json.dumps(body)


def _register_memory(server: AgentMcpServer, memory: MemorySearch) -> None:
    """The memory search tool (in the host only: AgentService has no call for it)."""

    @server.tool()
    async def search_memory(query: str, agent: str = "", room: str = "", limit: int = 5) -> MemoryResult:
        """Search the agent's memory by meaning: the stored messages closest to the query, best
        first (of one `room` when given); `agent` is the agent's name or id."""
        try:
            return await memory.search(server.pick(agent), query, room=room, limit=limit)
        except AgentCallError as exc:
            raise ToolError(str(exc)) from None


def _state(agent: agent_pb2.AgentStatus) -> str:
    return str(agent_pb2.LifecycleState.Name(agent.state))
