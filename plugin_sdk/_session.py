"""The plugin side of PluginService.Session: one stream from the host that carries many
component calls, each with an id, answered as their handlers finish (PROTOCOL.md §8.1).
Answers ready while a write is under way go out together in the next write, as one batch
when the host offered batches. A streamed call (an action) answers with several frames: its
handler's interim parts as they come, then its reply."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

import grpc
from agenthost.v1 import plugin_pb2

from . import tracing
from .auth import bearer_matches
from .process import CALL_SCOPE
from .protocol import AUTH_SCHEME
from .session_frames import ACTIONS_METADATA, BATCHES_METADATA, FRAME_LIMIT, groups

log = logging.getLogger("plugin_sdk")
_NO_SCOPE = ("", "")


class CallFailed(Exception):
    """A component call that ends with a gRPC status instead of a reply."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Emit = Callable[[Any], Awaitable[None]]
"""Sends one interim part of a streamed call's answer (a frame with the call's id)."""


class SessionServer(Protocol):
    """What a Session needs of the servicer: the credential, one coroutine per call kind, and
    those whose answer may come in several frames (given an Emit for the parts before it)."""

    token: str
    session_handlers: dict[str, Callable[[Any], Awaitable[Any]]]
    session_streams: dict[str, Callable[[Any, Emit], Awaitable[Any]]]


def _size(frame: plugin_pb2.SessionResponse) -> int:
    return frame.ByteSize()


def _error(call_id: int, code: grpc.StatusCode, message: str) -> plugin_pb2.SessionResponse:
    return plugin_pb2.SessionResponse(id=call_id, error=plugin_pb2.SessionError(code=code.value[0], message=message))


async def serve_session(
    server: SessionServer, frames: AsyncIterator[plugin_pb2.SessionRequest], context: grpc.aio.ServicerContext
) -> None:
    """Serve one Session stream until the host closes it; its calls run concurrently."""
    if not server.token:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "plugin is not initialised: call Init first")
    if not bearer_matches(context.invocation_metadata(), (AUTH_SCHEME + server.token).encode()):
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED, "Session needs 'authorization: Bearer <runtime_token of Init>'"
        )
    handlers, streams = server.session_handlers, server.session_streams
    running: dict[int, asyncio.Task[None]] = {}
    loop = asyncio.get_running_loop()
    offered = [tuple(item) for item in context.invocation_metadata() or ()]
    batched = BATCHES_METADATA in offered
    actions = ACTIONS_METADATA in offered and "invoke_action" in streams  # the host sends actions here
    outbox: list[plugin_pb2.SessionResponse] = []
    writing = False
    flushes: set[asyncio.Task[None]] = set()  # writes of answers queued behind another write

    async def send(frame: plugin_pb2.SessionResponse) -> None:
        """Queue an answer and, unless a write is under way (one writer at a time), write it."""
        outbox.append(frame)
        if not writing:
            await flush()

    async def flush() -> None:
        """Write what is queued (batched when the host offered batches); what queues up meanwhile
        goes to a task of its own, so no sender keeps writing for others under load."""
        nonlocal writing
        if writing or not outbox:
            return  # a sender began writing before this task ran: it took the answers
        writing = True
        frames = outbox[:]
        outbox.clear()
        try:
            for group in groups(frames, _size) if batched else [[f] for f in frames]:
                await context.write(group[0] if len(group) == 1 else plugin_pb2.SessionResponse(batch=group))
        finally:
            writing = False
            if outbox:
                flushes.add(task := loop.create_task(flush()))
                task.add_done_callback(flushes.discard)

    async def traced(kind: str, traceparent: str, call: Awaitable[None]) -> None:
        """The host traces this call: this plugin's span for it is the child of the host's."""
        with tracing.served(f"Session/{kind}", ((tracing.TRACEPARENT, traceparent),), {"rpc.method": kind}):
            await call

    def emitter(call_id: int, kind: str) -> Emit:
        async def emit(part: Any) -> None:
            """Queue an interim frame; its write is shielded, so a cancel of the call (which then
            answers nothing more) never interrupts a write that carries others' frames too."""
            frame = plugin_pb2.SessionResponse(id=call_id, **{kind: part})
            if frame.ByteSize() > FRAME_LIMIT:
                raise CallFailed(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{kind} part is over the frame limit")
            outbox.append(frame)
            if not writing:
                await asyncio.shield(flush())

        return emit

    async def run(call_id: int, kind: str, request: Any, timeout_ms: int, scope: tuple[str, str]) -> None:
        if scope != _NO_SCOPE:
            CALL_SCOPE.set(scope)  # the call's own task: what it logs names the host's run
        try:
            handler = handlers.get(kind)
            answer = handler(request) if handler is not None else streams[kind](request, emitter(call_id, kind))
            if timeout_ms:
                async with asyncio.timeout(timeout_ms / 1000):
                    reply = await answer
            else:
                reply = await answer
            frame = plugin_pb2.SessionResponse(id=call_id, **{kind: reply})
            if frame.ByteSize() > FRAME_LIMIT:  # fail this call alone, as a unary reply would
                size = frame.ByteSize()
                frame = _error(
                    call_id, grpc.StatusCode.RESOURCE_EXHAUSTED, f"{kind} reply is {size} bytes, over the limit"
                )
        except CallFailed as exc:
            frame = _error(call_id, exc.code, exc.message)
        except TimeoutError:
            frame = _error(call_id, grpc.StatusCode.DEADLINE_EXCEEDED, f"{kind} did not finish within {timeout_ms} ms")
        except Exception as exc:  # a bug in the SDK or a handler that escaped its guard
            log.exception("session call %s failed", kind)
            frame = _error(call_id, grpc.StatusCode.INTERNAL, f"{kind} failed: {type(exc).__name__}: {exc}")
        finally:
            running.pop(call_id, None)
        await send(frame)

    # the greeting: the stream is open and authorised (and, to a host that offered batches or
    # actions, this end reads batches / serves actions too)
    await send(plugin_pb2.SessionResponse(batches=batched, actions=actions))
    try:
        async for message in frames:
            for frame in message.batch or (message,):
                kind = frame.WhichOneof("call")
                if kind == "cancel":
                    task = running.pop(frame.id, None)
                    if task is not None:
                        task.cancel()
                elif kind is None or frame.id == 0 or frame.id in running:
                    problem = "no call" if kind is None else "id 0" if frame.id == 0 else "an id already in flight"
                    await send(_error(frame.id, grpc.StatusCode.INVALID_ARGUMENT, f"Session frame with {problem}"))
                else:
                    scope = (frame.agent_id, frame.run_id)
                    call = run(frame.id, kind, getattr(frame, kind), frame.timeout_ms, scope)
                    if frame.traceparent:
                        call = traced(kind, frame.traceparent, call)
                    running[frame.id] = loop.create_task(call)
    finally:
        for task in [*running.values(), *flushes]:
            task.cancel()
