"""AgentService: the host's public API."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Protocol, TypeVar

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2

from plugin_sdk.limits import QUOTE_CHARS, memory_problem, quote
from plugin_sdk.types import Memory
from plugin_sdk.wire import content_from_proto, content_to_proto

from ..agent.pipeline import Pipeline
from ..logs import LEVELS, TRACE, LogBuffer, LogRecord, dropped_notice, level_number
from ..plugins.discovery import DiscoveryError
from ..plugins.manager import PluginConflict, PluginManager, PluginNotFound
from ..plugins.manifest import ManifestError
from ..plugins.process import StartError
from ..plugins.registry import DuplicateComponent
from ..plugins.supervisor import PluginInfo
from ..status import HostStatus, Lifecycle
from .abort import abort
from .knowledge_rpcs import KnowledgeHost, KnowledgeRpcs

T = TypeVar("T")


class AgentHost(KnowledgeHost, Protocol):
    """What AgentService serves from: the host (host.host.Host)."""

    log_buffer: LogBuffer

    @property
    def plugins(self) -> PluginManager: ...
    @property
    def pipeline(self) -> Pipeline: ...
    def state(self) -> Lifecycle: ...
    def status(self) -> HostStatus: ...


API_USER = "api-user"  # the sender of a message that names no entity


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
    )


def lifecycle_state(state: Lifecycle) -> agent_pb2.LifecycleState.ValueType:
    return agent_pb2.LifecycleState.Value(f"LIFECYCLE_STATE_{state.name}")


def status_response(status: HostStatus) -> agent_pb2.GetStatusResponse:
    return agent_pb2.GetStatusResponse(
        agent_id=status.agent_id,
        agent_name=status.agent_name,
        state=lifecycle_state(status.state),
        plugins=[plugin_status(p) for p in status.plugins],
        uptime_ms=status.uptime_ms,
        version=status.version,
        router=plugin_status(status.router) if status.router else None,
    )


def _message_problem(request: agent_pb2.SendMessageRequest) -> str:
    """What makes a SendMessage request unusable, or ""."""
    if not request.room_id.strip():
        return "room_id is required (the conversation the message belongs to)"
    if not request.content.text.strip() and not request.content.attachments:
        return "content.text is empty and there are no attachments: nothing to respond to"
    # Bounded here, at the edge: the message goes to every plugin of the run and back to them
    # with the room's history, where a too large or too deep one would fail far from its cause.
    return memory_problem(
        types_pb2.Memory(room_id=request.room_id, entity_id=request.entity_id, content=request.content), "message"
    )


def _cut_name(message: str, name: str) -> str:
    """The plugin manager's `message` with the name the caller gave, which it quotes in full
    (repr), cut to a prefix: a client's input is echoed short."""
    return message.replace(repr(name), quote(name)) if len(name) > QUOTE_CHARS else message


def _log_response(record: LogRecord) -> agent_pb2.GetLogsResponse:
    return agent_pb2.GetLogsResponse(
        time_ms=record.time_ms,
        level=record.level,
        message=record.message,
        plugin=record.plugin,
        agent_id=record.agent_id,
        logger=record.logger,
    )


class AgentServicer(KnowledgeRpcs, agent_pb2_grpc.AgentServiceServicer):
    """Status, logs, plugin management and knowledge for clients such as the `agenthost` CLI."""

    host: AgentHost

    def __init__(self, host: AgentHost) -> None:
        self.host = host

    async def SendMessage(
        self, request: agent_pb2.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.SendMessageResponse]:
        """Run the message through the pipeline, streaming its run's events up to RUN_ENDED."""
        problem = _message_problem(request)
        if problem:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, problem)
        state = self.host.state()
        if state not in (Lifecycle.READY, Lifecycle.DEGRADED):
            await abort(
                context, grpc.StatusCode.UNAVAILABLE, f"the host is {state.name}, not ready for messages; retry shortly"
            )
        message = Memory(
            content=content_from_proto(request.content),
            entity_id=request.entity_id or API_USER,
            room_id=request.room_id,
        )
        message.content.source = message.content.source or "api"
        async for event in self.host.pipeline.send(message):
            yield agent_pb2.SendMessageResponse(
                run_id=event.run_id, event_type=event.type, content=content_to_proto(event.content)
            )

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
        return agent_pb2.LoadPluginResponse(plugin=plugin_status(plugin.info()))

    async def UnloadPlugin(
        self, request: agent_pb2.UnloadPluginRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.UnloadPluginResponse:
        await self._manage(context, request.name, self.host.plugins.unload(request.name))
        return agent_pb2.UnloadPluginResponse()

    async def ReloadPlugin(
        self, request: agent_pb2.ReloadPluginRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ReloadPluginResponse:
        plugin, seconds = await self._manage(context, request.name, self.host.plugins.reload(request.name))
        return agent_pb2.ReloadPluginResponse(plugin=plugin_status(plugin.info()), duration_ms=int(seconds * 1000))

    async def GetLogs(
        self, request: agent_pb2.GetLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.GetLogsResponse]:
        if request.tail < 0:
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"tail must be 0 (the last 100) or more, got {request.tail}"
            )
        try:
            min_level = level_number(request.level) if request.level else TRACE
        except ValueError:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown log level {quote(request.level)}; use one of {', '.join(LEVELS)}",
            )
        buffer = self.host.log_buffer
        with buffer.follow() as follower:
            for record in buffer.tail(request.tail or 100, min_level, request.plugin):
                yield _log_response(record)
            while request.follow:
                records, dropped = await follower.batch()
                if dropped:
                    yield _log_response(dropped_notice(dropped))
                for record in records:
                    if level_number(record.level) >= min_level and (
                        not request.plugin or record.plugin == request.plugin
                    ):
                        yield _log_response(record)
