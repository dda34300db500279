"""The host side of PluginService.Session: one long-lived stream per plugin connection that
carries the unary component calls, each with an id, answered in any order (PROTOCOL.md §8.1).

Opened once after Init with the instance's token; when it breaks its calls in flight fail at
once and the next call opens a new one; a plugin without it (UNIMPLEMENTED) gets unary calls.
Frames queued while a write is under way go out together in the next write, as one batch when
the plugin's greeting said it reads them: under load, one gRPC message carries many calls.
Actions go on it too when the greeting said `actions`: their answer is several frames
(callbacks, then the result), read as a stream (Session.stream).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator

import grpc
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME
from plugin_sdk.session_frames import ACTIONS_METADATA, BATCHES_METADATA, groups

from ..logs import LOG_SCOPE

KINDS: dict[str, str] = {
    "GetProviders": "get_providers",
    "ValidateActions": "validate_actions",
    "ValidateEvaluators": "validate_evaluators",
    "RunEvaluator": "run_evaluator",
    "HandleEvent": "handle_event",
    "UseModel": "use_model",
    "Evaluate": "evaluate",
    "Compose": "compose",
}
"""The PluginService calls a Session carries, and their field in the frames' oneof: the unary
methods, and the ones a Session alone carries (SESSION_ONLY)."""

SESSION_ONLY = frozenset({"Evaluate", "Compose"})
"""Calls with no unary method: ValidateEvaluators + RunEvaluator do Evaluate's work in several,
GetProviders + ValidateActions do Compose's in two."""

_CODES = {code.value[0]: code for code in grpc.StatusCode}


class SessionUnsupported(Exception):
    """The plugin does not serve Session (UNIMPLEMENTED): use the unary methods."""


class SessionBroken(Exception):
    """The stream ended or failed; `code` is its gRPC status."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        super().__init__(message)
        self.code = code


class SessionCallFailed(Exception):
    """The plugin answered a call on the stream with an error status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Answers:
    """The frames of one streamed call as they arrive, for its caller to take in order."""

    __slots__ = ("frames", "failure", "waiter")

    def __init__(self) -> None:
        self.frames: deque[plugin_pb2.SessionResponse] = deque()
        self.failure: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def put(self, frame: plugin_pb2.SessionResponse) -> None:
        self.frames.append(frame)
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
            self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next(self) -> plugin_pb2.SessionResponse:
        """The next frame; raises the failure (the stream broke, the deadline passed) once the
        frames before it are taken."""
        while not self.frames:
            if self.failure is not None:
                raise self.failure
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.frames.popleft()


class Session:
    """One open Session stream: sends calls, matches answers to them by id."""

    def __init__(self, stub: plugin_pb2_grpc.PluginServiceStub, token: str) -> None:
        self._stub = stub
        self._metadata = ((AUTH_METADATA_KEY, AUTH_SCHEME + token), BATCHES_METADATA, ACTIONS_METADATA)
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[plugin_pb2.SessionResponse]] = {}
        self._streams: dict[int, _Answers] = {}  # streamed calls (actions) in flight
        self._next_id = 1
        self._outbox: list[plugin_pb2.SessionRequest] = []  # frames waiting for the write under way
        self._writing = False
        self._cancels: set[asyncio.Task[None]] = set()  # cancel frames being sent
        self._flushes: set[asyncio.Task[None]] = set()  # writes carried on for a caller that went away
        self.batches = False  # the plugin reads batch frames (its greeting said so)
        self.actions = False  # the plugin serves actions on the stream (its greeting said so)
        self.broken = ""  # why the stream ended ("" while open)

    async def open(self, timeout: float) -> None:
        """Open the stream and wait for the plugin's greeting.

        Raises SessionUnsupported (UNIMPLEMENTED) or SessionBroken (anything else, e.g. a
        wrong token: UNAUTHENTICATED)."""
        call = self._stub.Session(metadata=self._metadata)
        try:
            greeting = await asyncio.wait_for(call.read(), timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise SessionUnsupported(exc.details() or "UNIMPLEMENTED") from None
            raise SessionBroken(f"Session refused: {exc.details()}", exc.code()) from None
        except asyncio.TimeoutError:
            call.cancel()
            raise SessionBroken("Session not greeted in time", grpc.StatusCode.DEADLINE_EXCEEDED) from None
        if greeting is grpc.aio.EOF or greeting.id != 0:
            call.cancel()
            raise SessionBroken("Session did not start with the greeting frame", grpc.StatusCode.INTERNAL)
        self._call = call
        self.batches = greeting.batches
        self.actions = greeting.actions
        self._reader = asyncio.create_task(self._read(call), name="plugin-session-reader")

    async def _read(self, call: Any) -> None:
        reason, code = "closed the Session stream", grpc.StatusCode.UNAVAILABLE
        try:
            read = call.read  # not `async for`: grpc.aio refuses mixing it with the greeting's read()
            while (frame := await read()) is not grpc.aio.EOF:
                for answer in frame.batch or (frame,):
                    future = self._pending.pop(answer.id, None)
                    if future is not None:
                        if not future.done():
                            future.set_result(answer)
                    elif (answers := self._streams.get(answer.id)) is not None:
                        if not _interim(answer):
                            del self._streams[answer.id]
                        answers.put(answer)
        except grpc.aio.AioRpcError as exc:
            reason, code = f"broke the Session stream: {exc.details()}", exc.code()
        except asyncio.CancelledError:
            reason = "closed the Session stream (host side)"
        except Exception as exc:  # never leave calls waiting on a reader that died
            reason, code = f"broke the Session stream: {type(exc).__name__}: {exc}", grpc.StatusCode.INTERNAL
        self._fail_all(reason, code)

    def _fail_all(self, reason: str, code: grpc.StatusCode) -> None:
        self.broken = self.broken or reason
        reason = self.broken
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(SessionBroken(reason, code))
        streams, self._streams = self._streams, {}
        for answers in streams.values():
            answers.fail(SessionBroken(reason, code))

    async def call(self, kind: str, request: Any, timeout: float, traceparent: str = "") -> Any:
        """Send one call and await its answer's payload; the frame names the run the calling task
        works for (LOG_SCOPE), so that what the plugin logs for it is that run's.

        Raises SessionCallFailed (the plugin's error status), SessionBroken (the stream died),
        asyncio.TimeoutError (no answer within `timeout`; the plugin is told to cancel)."""
        if self.broken:
            raise SessionBroken(self.broken)
        call_id = self._next_id
        self._next_id = call_id + 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[plugin_pb2.SessionResponse] = loop.create_future()
        self._pending[call_id] = future
        timer = loop.call_later(timeout, _expire, future)
        agent_id, run_id = LOG_SCOPE.get()  # the run the calling task works for: the plugin logs under it
        frame = plugin_pb2.SessionRequest(
            id=call_id, timeout_ms=_milliseconds(timeout), run_id=run_id, agent_id=agent_id, **{kind: request}
        )
        if traceparent:  # the host traces: the plugin's span for the call is the child of this one
            frame.traceparent = traceparent
        try:
            self._outbox.append(frame)
            if not self._writing:
                await self._flush()
            reply = await future
        except BaseException:
            if self._pending.pop(call_id, None) is not None and not self.broken:
                task = loop.create_task(self._cancel(call_id))  # a deadline, or a caller that went away
                self._cancels.add(task)
                task.add_done_callback(self._cancels.discard)
            raise
        finally:
            timer.cancel()
        which = reply.WhichOneof("reply")
        if which == "error":
            raise SessionCallFailed(_CODES.get(reply.error.code, grpc.StatusCode.UNKNOWN), reply.error.message)
        if which != kind:
            raise SessionCallFailed(grpc.StatusCode.INTERNAL, f"answered {which or 'nothing'} to {kind}")
        return getattr(reply, kind)

    async def stream(self, kind: str, request: Any, timeout: float, traceparent: str = "") -> AsyncIterator[Any]:
        """Send one streamed call (an action) and yield its answer's payloads as they come: the
        interim ones, then the last. As `call`: SessionCallFailed, SessionBroken,
        asyncio.TimeoutError (the whole answer not in within `timeout`); a caller that stops
        reading before the last payload has the plugin told to cancel the call."""
        if self.broken:
            raise SessionBroken(self.broken)
        call_id = self._next_id
        self._next_id = call_id + 1
        loop = asyncio.get_running_loop()
        answers = _Answers()
        self._streams[call_id] = answers
        timer = loop.call_later(timeout, answers.fail, asyncio.TimeoutError())
        agent_id, run_id = LOG_SCOPE.get()
        frame = plugin_pb2.SessionRequest(
            id=call_id, timeout_ms=_milliseconds(timeout), run_id=run_id, agent_id=agent_id, **{kind: request}
        )
        if traceparent:
            frame.traceparent = traceparent
        try:
            self._outbox.append(frame)
            if not self._writing:
                await self._flush()
            while True:
                reply = await answers.next()
                which = reply.WhichOneof("reply")
                if which == "error":
                    raise SessionCallFailed(_CODES.get(reply.error.code, grpc.StatusCode.UNKNOWN), reply.error.message)
                if which != kind:
                    raise SessionCallFailed(grpc.StatusCode.INTERNAL, f"answered {which or 'nothing'} to {kind}")
                last = not _interim(reply)
                yield getattr(reply, kind)
                if last:
                    return
        finally:
            timer.cancel()
            if self._streams.pop(call_id, None) is not None and not self.broken:
                task = loop.create_task(self._cancel(call_id))  # a deadline, or a caller that went away
                self._cancels.add(task)
                task.add_done_callback(self._cancels.discard)

    async def _cancel(self, call_id: int) -> None:
        self._outbox.append(plugin_pb2.SessionRequest(id=call_id, cancel=plugin_pb2.SessionCancel()))
        if not self._writing:
            await self._flush()

    async def _flush(self) -> None:
        """Write the queued frames, batched when the plugin reads batches. One writer at a time:
        a caller finding a write under way only queues its frame. A caller writes what was
        queued when it began, then hands what queued up meanwhile to a task of its own (so no
        caller keeps writing for others under load). A failed write breaks the stream (every
        call in flight fails with SessionBroken)."""
        if self._writing or not self._outbox:
            return  # a caller began writing before this task ran: it took the frames
        self._writing = True
        frames, self._outbox = self._outbox, []
        unwritten = groups(frames, _size) if self.batches else [[f] for f in frames]
        try:
            while unwritten and not self.broken:
                group = unwritten[0]
                await self._call.write(group[0] if len(group) == 1 else plugin_pb2.SessionRequest(batch=group))
                del unwritten[0]
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as exc:
            self._fail_all(f"broke the Session stream: {exc}", grpc.StatusCode.UNAVAILABLE)
        except asyncio.CancelledError:
            # The caller went away mid-write: that frame counts as sent, the rest are others'.
            self._outbox[:0] = [frame for group in unwritten[1:] for frame in group]
            raise
        finally:
            self._writing = False
            if self._outbox and not self.broken:
                task = asyncio.get_running_loop().create_task(self._flush())
                self._flushes.add(task)
                task.add_done_callback(self._flushes.discard)

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._streams)

    def close(self, reason: str = "closed the Session stream (host side)") -> None:
        """Cancel the stream; calls in flight fail with SessionBroken(reason)."""
        self._fail_all(reason, grpc.StatusCode.UNAVAILABLE)
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()


def _interim(frame: plugin_pb2.SessionResponse) -> bool:
    """Whether a frame is an interim part of its call's answer (more follow): an action's callback."""
    return frame.WhichOneof("reply") == "invoke_action" and frame.invoke_action.WhichOneof("event") == "callback"


def _size(frame: plugin_pb2.SessionRequest) -> int:
    return frame.ByteSize()


def _milliseconds(timeout: float) -> int:
    """A deadline as SessionRequest.timeout_ms: at least 1 (0 would mean none), at most uint32."""
    return min(max(1, int(timeout * 1000)), 2**32 - 1)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
