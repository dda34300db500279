"""REST: the runs (list; one with its events, providers and model calls) through AgentService's
own methods, and every agent's run events live as server-sent events (/api/events)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any, AsyncIterator, Callable, Iterator

import grpc
from agenthost.v1 import agent_pb2, router_pb2
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from plugin_sdk.wire import content_to_proto

from ..agent.agent import AgentError
from ..agent.pipeline import Pipeline, RunEvent
from ..agent.run import RUN_ENDED, RUN_STARTED
from ..cli.runs import run_doc  # the JSON `agenthost runs --json` prints
from ..host import Host  # at run time: FastAPI reads the routes' annotations
from ..plugins.connection import PluginUnavailable
from .context import host_of
from .rest_agents import ServicerDep, event_doc, find_agent
from .rest_calls import SSE_HEADERS, SSE_MEDIA, CallContext, sse_frame

HostDep = Annotated[Host, Depends(host_of)]
USAGE_TIMEOUT = 5.0
EVENTS_QUEUE = 1000  # run events a slow /api/events client may fall behind by; past it, it is cut off
AGENTS_CHECK_S = 1.0  # how often /api/events looks for agents added since it started
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream


def _run_doc(run: agent_pb2.RunInfo, names: dict[str, str]) -> dict[str, Any]:
    return {
        **run_doc(run),
        "agent": names.get(run.agent_id, run.agent_id),
        "room": run.room_id,
        "started_at": run.started_at_ms,
    }


async def _models(host: Host, run_id: str) -> list[dict[str, Any]]:
    """The run's model calls as the router's ledger booked them (its task scope is the run)."""
    if not host.router.enabled:
        return []
    request = router_pb2.GetUsageRequest(task_id=run_id, limit=100)
    try:
        usage = await host.router.stub().GetUsage(request, metadata=host.router.metadata, timeout=USAGE_TIMEOUT)
    except (grpc.RpcError, PluginUnavailable):
        return []
    return [
        {
            "provider": r.provider,
            "model": r.model,
            "tokens_in": r.tokens_in,
            "tokens_out": r.tokens_out,
            "cost": r.cost,
            "status": r.status,
            "latency_ms": r.latency_ms,
            "attempt": r.attempt,
        }
        for r in sorted(usage.rows, key=lambda r: (r.time_ms, r.attempt))
    ]


def _providers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The providers the run composed, from its RUN_ENDED (when the pipeline noted them)."""
    ended = next((e for e in reversed(events) if e["type"] == RUN_ENDED), None)
    noted = (ended or {}).get("extra", {}).get("providers")
    return list(noted) if isinstance(noted, list) else []


class _Watch:
    """One /api/events client: every running agent's pipeline tells it each run event."""

    def __init__(self, host: Host, only: str) -> None:
        self.host, self.only = host, only
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(EVENTS_QUEUE)
        self.behind = False
        # The pipelines listened to, each with its listener (an agent removed and added again has a new one).
        self._watched: list[tuple[Pipeline, Callable[[RunEvent], None]]] = []
        self._rooms: dict[str, str] = {}  # run id -> room, from its RUN_STARTED

    def attach(self) -> None:
        """Listen to the agents not listened to yet (added since)."""
        heard = {id(pipeline) for pipeline, _ in self._watched}
        for agent in list(self.host.agents.values()):
            if self.only and self.only not in (agent.id, agent.name):
                continue
            try:
                pipeline = agent.pipeline
            except AgentError:
                continue  # not started (yet)
            if id(pipeline) not in heard:
                watch = self._hearer(agent.id, agent.name)
                self._watched.append((pipeline, watch))
                pipeline.watchers.add(watch)

    def _hearer(self, agent_id: str, name: str) -> Callable[[RunEvent], None]:
        def hear(event: RunEvent) -> None:
            if event.type == RUN_STARTED:
                self._rooms[event.run_id] = str(event.content.extra.get("room_id", ""))
            room = self._rooms.pop(event.run_id, "") if event.type == RUN_ENDED else self._rooms.get(event.run_id, "")
            proto = agent_pb2.SendMessageResponse(
                run_id=event.run_id, event_type=event.type, content=content_to_proto(event.content)
            )
            if self.queue.full():
                self.behind = True  # the client is cut off, rather than the runs held up
                return
            self.queue.put_nowait({**event_doc(proto), "agent": name, "agent_id": agent_id, "room": room})

        return hear

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        self.attach()
        try:
            yield
        finally:
            for pipeline, watch in self._watched:
                pipeline.watchers.discard(watch)

    async def frames(self) -> AsyncIterator[bytes]:
        with self.attached():
            yield b": watching\n\n"  # the headers go out now, before an event comes
            quiet = 0.0
            while not self.behind:
                try:
                    item = await asyncio.wait_for(self.queue.get(), AGENTS_CHECK_S)
                except TimeoutError:
                    self.attach()
                    quiet += AGENTS_CHECK_S
                    if quiet >= HEARTBEAT_S:
                        quiet = 0.0
                        yield b": keep-alive\n\n"
                    continue
                quiet = 0.0
                yield sse_frame(item["type"], item)
            yield sse_frame("error", {"message": "this client fell behind the run events; reconnect"})


def runs_routes() -> APIRouter:
    """The runs' and live events' routes, for the app to mount behind the token check."""
    api = APIRouter(prefix="/api", tags=["REST: runs and events"])

    @api.get("/runs", summary="The latest runs, newest first (of one agent, one room)")
    async def list_runs(
        servicer: ServicerDep,
        host: HostDep,
        agent: str = "",
        room: str = "",
        limit: Annotated[int, Query()] = 50,
    ) -> dict[str, Any]:
        request = agent_pb2.ListRunsRequest(agent_id=agent, room_id=room, limit=limit)
        reply = await servicer.ListRuns(request, CallContext())  # type: ignore[arg-type]
        names = {a.id: a.name for a in await host.store.list_agents()}
        return {"runs": [_run_doc(r, names) for r in reply.runs]}

    @api.get("/runs/{run_id}", summary="One run: its events, the providers it composed, its model calls")
    async def get_run(run_id: str, servicer: ServicerDep, host: HostDep, agent: str = "") -> dict[str, Any]:
        request = agent_pb2.GetRunRequest(run_id=run_id, agent_id=agent)
        reply = await servicer.GetRun(request, CallContext())  # type: ignore[arg-type]
        names = {a.id: a.name for a in await host.store.list_agents()}
        events = [event_doc(e) for e in reply.events]
        return {
            "run": {
                **_run_doc(reply.run, names),
                "events": events,
                "providers": _providers(events),
                "models": await _models(host, reply.run.id),
            }
        }

    @api.get(
        "/events",
        summary="Every agent's run events, live, as server-sent events (?agent= for one agent's)",
        description="`event: TYPE`, `data: {type, run_id, agent, agent_id, room, text, actions, extra, ...}`.",
    )
    async def events(host: HostDep, agent: str = "") -> StreamingResponse:
        if agent:
            find_agent(host, agent)
        watch = _Watch(host, agent)
        return StreamingResponse(watch.frames(), media_type=SSE_MEDIA, headers=SSE_HEADERS)

    return api
