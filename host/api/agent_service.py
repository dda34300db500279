"""AgentService: the host's public API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import AsyncIterator, Awaitable, Protocol, Sequence, TypeVar

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2

from plugin_sdk.limits import QUOTE_CHARS, memory_problem, quote
from plugin_sdk.types import Memory
from plugin_sdk.wire import content_from_proto, content_to_proto

from ..agent.admission import RETRY_AFTER_KEY, Backlogged
from ..agent.agent import Agent, AgentError, DuplicateAgent, UnknownAgent
from ..agent.character import Character, CharacterError, load_character, parse_character
from ..agent.json_fields import FieldError
from ..agent.pipeline import MessageNotStored, RunEvent
from ..agent.rooms import ROOM_TYPES
from ..agent.run import EVENT_TYPES, RUN_ENDED
from ..agent.run_events import run_events
from ..deployment.deployment import NoOwner, NotOwner
from ..deployment.forwarding import FORWARDED_KEY, PeerFailed
from ..logs import LogBuffer
from ..plugins.discovery import DiscoveryError
from ..plugins.manager import PluginConflict, PluginManager, PluginNotFound
from ..plugins.manifest import ManifestError
from ..plugins.process import StartError
from ..plugins.registry import DuplicateComponent
from ..plugins.supervisor import PluginInfo
from ..status import AgentInfo, DeploymentInfo, HostStatus, Lifecycle
from ..store import RunRecord, StoreUnavailable
from .abort import abort
from .knowledge_rpcs import KnowledgeHost, KnowledgeRpcs
from .log_stream import stream_logs
from .status_figures import with_figures

T = TypeVar("T")


class AgentHost(KnowledgeHost, Protocol):
    """What AgentService serves from: the host (host.host.Host)."""

    log_buffer: LogBuffer

    @property
    def plugins(self) -> PluginManager: ...
    def state(self) -> Lifecycle: ...
    def status(self) -> HostStatus: ...
    def find_agent(self, key: str) -> Agent: ...
    def agent_infos(self) -> list[AgentInfo]: ...
    async def add_agent(self, character: Character, agent_id: str = "", character_json: str = "") -> Agent: ...
    async def remove_agent(self, key: str) -> tuple[Agent, int]: ...
    async def plugin_changed(self, op: str, name: str) -> None: ...


API_USER = "api-user"  # the sender of a message that names no entity
MAX_MESSAGE_ID = 128  # characters of a message id a client chooses (SendMessageRequest.message_id)


def message_id_problem(message_id: str, name: str = "message_id") -> str:
    """What makes a message id a client chose unusable, or "": every face's rule (`name`: the
    field or header it came in)."""
    if len(message_id) > MAX_MESSAGE_ID:
        return f"{name} is {len(message_id)} characters, over the limit of {MAX_MESSAGE_ID}"
    return ""


def plugin_status(info: PluginInfo) -> agent_pb2.PluginStatus:
    """A plugin's (or the router's) status entry on the wire."""
    return agent_pb2.PluginStatus(
        name=info.name,
        version=info.version,
        state=agent_pb2.PluginState.Value(f"PLUGIN_STATE_{info.state.name}"),
        pid=info.pid,
        restarts=info.restarts,
        reason=info.reason,
        transport=info.transport,
        address=info.address,
        components=agent_pb2.ComponentCounts(**info.components),
        breakers=[
            agent_pb2.BreakerStatus(
                kind=b.kind, name=b.name, state=b.state, failures=b.failures, retry_in_ms=round(b.retry_in_s * 1000)
            )
            for b in info.breakers
        ],
    )


def lifecycle_state(state: Lifecycle) -> agent_pb2.LifecycleState.ValueType:
    return agent_pb2.LifecycleState.Value(f"LIFECYCLE_STATE_{state.name}")


def agent_status(info: AgentInfo) -> agent_pb2.AgentStatus:
    """An agent's status entry on the wire."""
    return agent_pb2.AgentStatus(
        id=info.id,
        name=info.name,
        state=lifecycle_state(info.state),
        plugins=info.plugins,
        reason=info.reason,
        source=info.source,
    )


def run_info(run: RunRecord) -> agent_pb2.RunInfo:
    """A stored run on the wire."""
    return agent_pb2.RunInfo(
        id=run.id,
        agent_id=run.agent_id,
        room_id=run.room_id,
        message_id=run.message_id,
        status=run.status,
        started_at_ms=run.started_at_ms,
        ended_at_ms=run.ended_at_ms or 0,
        error=run.error,
        timings={k: float(v) for k, v in run.timings.items()},
    )


def _event_response(event: RunEvent) -> agent_pb2.SendMessageResponse:
    return agent_pb2.SendMessageResponse(
        run_id=event.run_id, event_type=event.type, content=content_to_proto(event.content)
    )


def character_from_json(text: str) -> Character:
    """A character from a file's JSON text (relative knowledge paths: the host's directory)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CharacterError(f"character_json is not valid JSON: {exc}") from None
    try:
        return parse_character(raw, Path.cwd())
    except FieldError as exc:
        raise CharacterError(f"character_json: {exc}") from None


def status_response(status: HostStatus) -> agent_pb2.GetStatusResponse:
    response = agent_pb2.GetStatusResponse(
        agent_id=status.agent_id,
        agent_name=status.agent_name,
        state=lifecycle_state(status.state),
        plugins=[plugin_status(p) for p in status.plugins],
        uptime_ms=status.uptime_ms,
        version=status.version,
        router=plugin_status(status.router) if status.router else None,
        agents=[agent_status(a) for a in status.agents],
    )
    if status.deployment is not None:
        response.deployment.CopyFrom(deployment_status(status.deployment))
    return with_figures(response, status)


def deployment_status(info: DeploymentInfo) -> agent_pb2.DeploymentStatus:
    """The deployment as GetStatus gives it."""
    hosts = [
        agent_pb2.DeploymentHost(
            host_id=h.host_id,
            address=h.address,
            heartbeat_age_s=h.heartbeat_age_s,
            stopping=h.stopping,
            partitions=h.partitions,
            running_runs=h.running_runs,
            active_rooms=h.active_rooms,
            messages=h.messages,
            plugins=h.plugins,
        )
        for h in info.hosts
    ]
    return agent_pb2.DeploymentStatus(
        host_id=info.host_id,
        partitions=info.partitions,
        hosts=hosts,
        waiting_messages=info.waiting_messages,
        lagging_runs=info.lagging_runs,
    )


def _message_problem(request: agent_pb2.SendMessageRequest) -> str:
    """What makes a SendMessage request unusable, or ""."""
    if not request.room_id.strip():
        return "room_id is required (the conversation the message belongs to)"
    if not request.content.text.strip() and not request.content.attachments:
        return "content.text is empty and there are no attachments: nothing to respond to"
    if problem := message_id_problem(request.message_id):
        return problem
    unknown = [e for e in request.events if e not in EVENT_TYPES]
    if unknown:
        return f"events: {quote(unknown[0])} is not an event type (one of {', '.join(EVENT_TYPES)})"
    # Bounded here, at the edge: the message goes to every plugin of the run and back to them
    # with the room's history, where a too large or too deep one would fail far from its cause.
    return memory_problem(
        types_pb2.Memory(room_id=request.room_id, entity_id=request.entity_id, content=request.content), "message"
    )


def _cut_name(message: str, name: str) -> str:
    """The plugin manager's `message` with the name the caller gave, which it quotes in full
    (repr), cut to a prefix: a client's input is echoed short."""
    return message.replace(repr(name), quote(name)) if len(name) > QUOTE_CHARS else message


class AgentServicer(KnowledgeRpcs, agent_pb2_grpc.AgentServiceServicer):
    """Status, logs, plugin management and knowledge for clients such as the `agenthost` CLI."""

    host: AgentHost

    def __init__(self, host: AgentHost) -> None:
        self.host = host

    async def SendMessage(
        self, request: agent_pb2.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.SendMessageResponse]:
        """Run the message through the pipeline, streaming its run's events up to RUN_ENDED."""
        async for event in self._run(request, context):
            yield event

    async def Converse(
        self, requests: AsyncIterator[agent_pb2.ConverseRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.ConverseResponse]:
        """SendMessage for each message written on the stream, one after another: no call per message."""
        async for request in requests:
            async for event in self._run(request.message, context):
                yield agent_pb2.ConverseResponse(event=event)

    async def _run(
        self, request: agent_pb2.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.SendMessageResponse]:
        """One message's run, its events as the request asks; a message that cannot run aborts the call."""
        problem = _message_problem(request)
        if problem:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, problem)
        state = self.host.state()
        if state not in (Lifecycle.READY, Lifecycle.DEGRADED):
            await abort(
                context, grpc.StatusCode.UNAVAILABLE, f"the host is {state.name}, not ready for messages; retry shortly"
            )
        room_type = request.room_type.strip().lower()
        if room_type not in ROOM_TYPES:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"room_type {quote(request.room_type)} is not one of {', '.join(t for t in ROOM_TYPES if t)}",
            )
        agent = await self._find(context, request.agent_id)
        if agent.state is not Lifecycle.READY:
            await abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"agent {agent.name} is {agent.state.name}, not ready for messages",
            )
        message = Memory(
            id=request.message_id,
            content=content_from_proto(request.content),
            entity_id=request.entity_id or API_USER,
            room_id=request.room_id,
        )
        message.content.source = message.content.source or "api"
        # Only the events asked for cross the stream (each is a write of its own); RUN_ENDED always.
        wanted = frozenset((*request.events, RUN_ENDED)) if request.events else None
        try:
            # A message another host of the deployment forwarded here names that host.
            forwarded = dict(context.invocation_metadata() or ()).get(FORWARDED_KEY, "")
            async for event in agent.send(message, room_type, forwarded=str(forwarded)):
                if wanted is None or event.type in wanted:
                    yield _event_response(event)
        except Backlogged as exc:  # refused before it was stored: the client may send it again
            context.set_trailing_metadata(((RETRY_AFTER_KEY, f"{exc.retry_after_s:.0f}"),))
            await abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except MessageNotStored as exc:  # the store is unavailable: nothing was kept, nothing done
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        except NotOwner as exc:  # forwarded here, but the room moved: the sender asks its new owner
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except NoOwner as exc:  # the deployment handed the room to no host in time: nothing was stored
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        except PeerFailed as exc:  # the room's owner refused it for good: its status, its reason
            await abort(context, exc.code, exc.details)

    async def _find(self, context: grpc.aio.ServicerContext, key: str) -> Agent:
        """The running agent with id or name `key` ("" with one agent); NOT_FOUND listing the agents."""
        try:
            return self.host.find_agent(key)
        except UnknownAgent as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, _cut_name(str(exc), key))

    async def ListAgents(
        self, request: agent_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListAgentsResponse:
        return agent_pb2.ListAgentsResponse(agents=[agent_status(a) for a in self.host.agent_infos()])

    async def AddAgent(
        self, request: agent_pb2.AddAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AddAgentResponse:
        if bool(request.character_json.strip()) == bool(request.path.strip()):
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "give the character as character_json (a file's JSON text) or path (a file the host can read), one",
            )
        try:
            if request.character_json.strip():
                character = character_from_json(request.character_json)
            else:
                character = await asyncio.to_thread(load_character, Path(request.path))
        except CharacterError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            agent = await self.host.add_agent(character, character_json=request.character_json)
        except DuplicateAgent as exc:
            await abort(context, grpc.StatusCode.ALREADY_EXISTS, str(exc))
        except AgentError as exc:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except StoreUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        return agent_pb2.AddAgentResponse(agent=agent_status(agent.info()))

    async def RemoveAgent(
        self, request: agent_pb2.RemoveAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.RemoveAgentResponse:
        if not request.agent.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "agent is required: the id or name of the agent")
        try:
            agent, going = await self.host.remove_agent(request.agent)
        except UnknownAgent as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, _cut_name(str(exc), request.agent))
        return agent_pb2.RemoveAgentResponse(agent=agent_status(agent.info()), interrupted_runs=going)

    async def _stored_agents(self, context: grpc.aio.ServicerContext, key: str) -> Sequence[tuple[str, str]]:
        """(id, name) of the agents `key` names among every agent the store has rows of (removed
        ones too: their runs stay); all of them when `key` is empty."""
        try:
            stored = [(a.id, a.name) for a in await self.host.store.list_agents()]
        except StoreUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        if not key:
            return stored
        chosen = [a for a in stored if key in a]
        if not chosen:
            listed = ", ".join(f"{name} ({i})" for i, name in stored) or "none"
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no agent {quote(key)}; agents: {listed}")
        return chosen

    async def ListRuns(
        self, request: agent_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListRunsResponse:
        if not 0 <= request.limit <= 1000:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"limit must be 0..1000, got {request.limit}")
        limit = request.limit or 50
        runs: list[RunRecord] = []
        try:
            for agent_id, _ in await self._stored_agents(context, request.agent_id):
                runs += await self.host.store.list_runs(agent_id, request.room_id or None, limit)
        except StoreUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        runs.sort(key=lambda r: r.started_at_ms, reverse=True)
        return agent_pb2.ListRunsResponse(runs=[run_info(r) for r in runs[:limit]])

    async def GetRun(
        self, request: agent_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetRunResponse:
        if not request.run_id.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "run_id is required")
        store = self.host.store
        try:
            for agent_id, _ in await self._stored_agents(context, request.agent_id):
                run = await store.get_run(agent_id, request.run_id)
                if run is not None:
                    events = await run_events(store, agent_id, run.id)
                    return agent_pb2.GetRunResponse(run=run_info(run), events=[_event_response(e) for e in events])
        except StoreUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        await abort(context, grpc.StatusCode.NOT_FOUND, f"no run {quote(request.run_id)} (agenthost runs lists them)")

    async def GetStatus(
        self, request: agent_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetStatusResponse:
        return status_response(self.host.status())

    async def ListPlugins(
        self, request: agent_pb2.ListPluginsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListPluginsResponse:
        manager = self.host.plugins
        try:
            available = await asyncio.to_thread(manager.available)
        except DiscoveryError as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        return agent_pb2.ListPluginsResponse(plugins=[plugin_status(p) for p in manager.statuses() + available])

    async def _manage(self, context: grpc.aio.ServicerContext, name: str, operation: Awaitable[T]) -> T:
        """Run an operation on plugin `name`, turning its errors into gRPC statuses."""
        try:
            return await operation
        except PluginNotFound as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, _cut_name(str(exc), name))
        except (PluginConflict, StartError, ManifestError, DuplicateComponent) as exc:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, _cut_name(str(exc), name))

    async def LoadPlugin(
        self, request: agent_pb2.LoadPluginRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.LoadPluginResponse:
        plugin = await self._manage(context, request.name, self.host.plugins.load(request.name))
        await self.host.plugin_changed("load", request.name)  # the deployment's other hosts load it too
        return agent_pb2.LoadPluginResponse(plugin=plugin_status(plugin.info()))

    async def UnloadPlugin(
        self, request: agent_pb2.UnloadPluginRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.UnloadPluginResponse:
        await self._manage(context, request.name, self.host.plugins.unload(request.name))
        await self.host.plugin_changed("unload", request.name)
        return agent_pb2.UnloadPluginResponse()

    async def ReloadPlugin(
        self, request: agent_pb2.ReloadPluginRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ReloadPluginResponse:
        plugin, seconds = await self._manage(context, request.name, self.host.plugins.reload(request.name))
        await self.host.plugin_changed("reload", request.name)
        return agent_pb2.ReloadPluginResponse(plugin=plugin_status(plugin.info()), duration_ms=int(seconds * 1000))

    async def GetLogs(
        self, request: agent_pb2.GetLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.GetLogsResponse]:
        async for record in stream_logs(self.host.log_buffer, request, self.host.agent_infos(), context):
            yield record
