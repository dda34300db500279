"""GetLogs: the log buffer's records a request selects, then new ones while it follows."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator, Sequence

import grpc
from agenthost.v1 import agent_pb2

from plugin_sdk.limits import quote

from ..logs import LEVELS, TRACE, LogBuffer, LogQuery, LogRecord, dropped_notice, level_number
from ..status import AgentInfo
from .abort import abort

_UNTIL_CHECK_S = 1.0  # how often a follow with an end time looks whether it has passed


async def log_query(
    request: agent_pb2.GetLogsRequest, agents: Sequence[AgentInfo], context: grpc.aio.ServicerContext
) -> LogQuery:
    """The request's selection; INVALID_ARGUMENT for a negative tail or time, or an unknown level."""
    if request.tail < 0:
        await abort(
            context, grpc.StatusCode.INVALID_ARGUMENT, f"tail must be 0 (the last 100) or more, got {request.tail}"
        )
    if request.since_ms < 0 or request.until_ms < 0:
        await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "since_ms and until_ms must be 0 (unset) or more")
    if request.until_ms and request.until_ms < request.since_ms:
        await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "until_ms is before since_ms: no record can match")
    try:
        min_level = level_number(request.level) if request.level else TRACE
    except ValueError:
        await abort(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            f"unknown log level {quote(request.level)}; use one of {', '.join(LEVELS)}",
        )
    agent = request.agent.strip()
    # An agent by id or name; an id no agent has now may still be a removed agent's: kept as given.
    agent_ids = frozenset({a.id for a in agents if agent in (a.id, a.name)} or {agent}) if agent else frozenset()
    return LogQuery(
        min_level=min_level,
        plugin=request.plugin,
        agent_ids=agent_ids,
        run_id=request.run_id.strip(),
        since_ms=request.since_ms,
        until_ms=request.until_ms,
    )


def _response(record: LogRecord, names: dict[str, str]) -> agent_pb2.GetLogsResponse:
    return agent_pb2.GetLogsResponse(
        time_ms=record.time_ms,
        level=record.level,
        message=record.message,
        plugin=record.plugin,
        agent_id=record.agent_id,
        logger=record.logger,
        run_id=record.run_id,
        agent_name=names.get(record.agent_id, ""),
    )


async def stream_logs(
    buffer: LogBuffer,
    request: agent_pb2.GetLogsRequest,
    agents: Sequence[AgentInfo],
    context: grpc.aio.ServicerContext,
) -> AsyncIterator[agent_pb2.GetLogsResponse]:
    """The last `tail` records the request selects; with follow, then each new one as it comes
    (a follow with until_ms ends once that time has passed)."""
    query = await log_query(request, agents, context)
    names = {a.id: a.name for a in agents}
    with buffer.follow() as follower:
        for record in buffer.tail(request.tail or 100, query):
            yield _response(record, names)
        while request.follow:
            if query.until_ms and time.time() * 1000 > query.until_ms:
                return
            try:
                wait = _UNTIL_CHECK_S if query.until_ms else None
                records, dropped = await asyncio.wait_for(follower.batch(), wait)
            except TimeoutError:
                continue
            if dropped:
                yield _response(dropped_notice(dropped), names)
            for record in records:
                if query.matches(record):
                    yield _response(record, names)
