"""A gRPC connection to one process the host started (a plugin or the router) or to a remote
plugin: stubs, deadlines, in-flight tracking, fail-fast; Describe's manifest read into the
host's dataclasses here."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

import grpc
from agenthost.v1 import controller_pb2, controller_pb2_grpc, plugin_pb2, plugin_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from plugin_sdk.process import AGENT_ID_METADATA, RUN_ID_METADATA
from plugin_sdk.session_frames import FRAME_LIMIT  # a larger request goes unary: it fails alone

from .. import tracing
from ..config import RemotePlugin
from ..logs import LOG_SCOPE
from .manifest import Action, Evaluator, ExampleTurn, Manifest, ModelHandler, Provider, Service
from .session import KINDS, SESSION_ONLY, Session, SessionBroken, SessionCallFailed, SessionUnsupported

log = logging.getLogger(__name__)

SESSION_RETRY_SECONDS = 1.0
"""After a Session stream could not be opened, how long calls go unary before the next try."""


class PluginCallError(RuntimeError):
    """A call to a plugin that failed; the message names the plugin and the call."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        super().__init__(message)
        self.code = code


class PluginUnavailable(PluginCallError):
    """The plugin cannot take calls now (crashed, restarting, failed or stopped)."""


class PluginNotReached(PluginUnavailable):
    """The call was not sent: trying it again cannot repeat what it does in the plugin."""


def _channel(target: str, remote: RemotePlugin | None, plugin: str) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 0)]
    traced = tracing.client_interceptors(plugin)  # none unless the host traces
    if remote is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=traced)
    with open(remote.ca_file, "rb") as ca, open(remote.cert_file, "rb") as cert, open(remote.key_file, "rb") as key:
        credentials = grpc.ssl_channel_credentials(ca.read(), key.read(), cert.read())
    if remote.server_name:
        options.append(("grpc.ssl_target_name_override", remote.server_name))
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=traced)


class PluginConnection:
    """Calls into one plugin instance.

    Every call has a deadline; calls in flight when the instance is declared dead
    are cancelled and fail at once with PluginUnavailable instead of hanging. The hot
    component calls go over one Session stream once `open_session` has run (after Init),
    unary when the plugin does not serve it.
    """

    def __init__(self, plugin: str, target: str, call_timeout: float, remote: RemotePlugin | None = None) -> None:
        self.plugin = plugin
        self.target = target
        self.call_timeout = call_timeout
        self.channel = _channel(target, remote, plugin)
        self.stub = plugin_pb2_grpc.PluginServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.controller = controller_pb2_grpc.ControllerServiceStub(self.channel)
        self.closed_reason = ""
        self._calls: set[Any] = set()
        self._session_calls = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: Session | None = None
        self._session_token = ""
        self._session_unsupported = False
        self._session_retry_at = 0.0
        self._session_lock = asyncio.Lock()
        self._refused: set[str] = set()  # Session-only calls the plugin does not know (an older SDK)

    @property
    def in_flight(self) -> int:
        return len(self._calls) + self._session_calls

    @property
    def transport(self) -> str:
        """How the component calls travel now: "session", or "unary" (no Session stream open)."""
        session = self._session
        return "session" if session is not None and not session.broken else "unary"

    def takes(self, method: str) -> bool:
        """Whether a Session-only call (SESSION_ONLY) can go to the plugin now: its Session is
        open and it has not answered that call as unknown."""
        session = self._session
        return method not in self._refused and session is not None and not session.broken

    def _track(self, call: Any) -> None:
        self._calls.add(call)
        self._idle.clear()

    def _untrack(self, call: Any) -> None:
        self._calls.discard(call)
        if not self._calls and not self._session_calls:
            self._idle.set()

    def _error(self, method: str, exc: grpc.aio.AioRpcError) -> PluginCallError:
        return self._status_error(method, exc.code(), exc.details() or "")

    def _status_error(self, method: str, code: grpc.StatusCode, details: str) -> PluginCallError:
        if self.closed_reason:
            return PluginUnavailable(f"plugin {self.plugin!r} {self.closed_reason} during {method}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return PluginCallError(f"plugin {self.plugin!r} did not answer {method} within its deadline", code)
        if code == grpc.StatusCode.UNAVAILABLE:
            return PluginUnavailable(f"plugin {self.plugin!r} is unreachable during {method}: {details}")
        return PluginCallError(f"plugin {self.plugin!r} {method} failed: {details}", code)

    async def open_session(self, token: str, timeout: float) -> None:
        """Open the Session stream with the instance's token (call after Init). A plugin that
        does not serve it, or refuses it, keeps taking unary calls."""
        self._session_token = token
        await self._ensure_session(timeout)

    async def _ensure_session(self, timeout: float) -> Session | None:
        """The open Session, (re)opened if it broke; None: use unary calls."""
        if self._session_unsupported or not self._session_token or self.closed_reason:
            return None
        async with self._session_lock:
            session = self._session
            if session is not None and not session.broken:
                return session
            if time.monotonic() < self._session_retry_at:
                return None
            session = Session(self.stub, self._session_token)
            try:
                await session.open(timeout)
            except SessionUnsupported:
                self._session_unsupported = True
                log.info("plugin %s does not serve Session: unary calls", self.plugin)
                return None
            except SessionBroken as exc:
                self._session_retry_at = time.monotonic() + SESSION_RETRY_SECONDS
                if not self.closed_reason:
                    log.warning("plugin %s: %s; unary calls for now", self.plugin, exc)
                return None
            if self.closed_reason:  # aborted while opening
                session.close(self.closed_reason)
                return None
            self._session = session
            return session

    async def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """Call a unary PluginService method by name: over the Session stream when it can."""
        kind = KINDS.get(method)
        session = self._session
        fits = kind is not None and request.ByteSize() <= FRAME_LIMIT  # upb computes a size by encoding: once
        if method in SESSION_ONLY and not (fits and self.takes(method)):
            raise PluginCallError(f"plugin {self.plugin!r} cannot take {method} now", grpc.StatusCode.UNIMPLEMENTED)
        if kind is None or not fits or self._session_unsupported:
            return await self.unary(method, request, timeout)  # a frame too large would end the stream
        if session is None or session.broken:
            session = await self._ensure_session(self.call_timeout)
            if session is None:
                return await self.unary(method, request, timeout)
        if self.closed_reason:
            raise PluginNotReached(f"plugin {self.plugin!r} {self.closed_reason}")
        self._session_calls += 1
        self._idle.clear()
        try:
            if tracing.ON:
                with tracing.call_span(self.plugin, method):
                    return await session.call(kind, request, timeout or self.call_timeout, tracing.traceparent())
            return await session.call(kind, request, timeout or self.call_timeout)
        except SessionCallFailed as exc:
            if method in SESSION_ONLY and exc.code == grpc.StatusCode.INVALID_ARGUMENT and "no call" in exc.message:
                # An SDK older than the call: its frame carried nothing it knows. Not again.
                self._refused.add(method)
                message = f"plugin {self.plugin!r} does not know {method}"
                raise PluginCallError(message, grpc.StatusCode.UNIMPLEMENTED) from None
            raise self._session_error(method, exc) from None
        except (SessionBroken, asyncio.TimeoutError) as exc:
            raise self._session_error(method, exc) from None
        finally:
            self._session_call_ended()

    def _session_error(
        self, method: str, exc: SessionCallFailed | SessionBroken | asyncio.TimeoutError
    ) -> PluginCallError:
        """A failed Session call as the unary call's failure would be."""
        if isinstance(exc, SessionCallFailed):
            return self._status_error(method, exc.code, exc.message)
        if isinstance(exc, SessionBroken):
            if self.closed_reason:
                return PluginUnavailable(f"plugin {self.plugin!r} {self.closed_reason} during {method}")
            return PluginUnavailable(f"plugin {self.plugin!r} {exc} during {method}", exc.code)
        return self._status_error(method, grpc.StatusCode.DEADLINE_EXCEEDED, "")

    def _session_call_ended(self) -> None:
        self._session_calls -= 1
        if not self._calls and not self._session_calls:
            self._idle.set()

    async def unary(self, method: str, request: Any, timeout: float | None = None, wait_for_ready: bool = False) -> Any:
        """Call a unary PluginService method by name."""
        if self.closed_reason:
            raise PluginNotReached(f"plugin {self.plugin!r} {self.closed_reason}")
        call = getattr(self.stub, method)(
            request, timeout=timeout or self.call_timeout, wait_for_ready=wait_for_ready, metadata=_scope_metadata()
        )
        self._track(call)
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise self._error(method, exc) from None
        except asyncio.CancelledError:
            if self.closed_reason:
                raise PluginUnavailable(f"plugin {self.plugin!r} {self.closed_reason} during {method}") from None
            raise
        finally:
            self._untrack(call)

    async def invoke_action(
        self, request: plugin_pb2.InvokeActionRequest, timeout: float | None = None
    ) -> AsyncIterator[plugin_pb2.InvokeActionResponse]:
        """Stream an action's callbacks and result: over the Session stream when the plugin
        serves actions there (its greeting said so), else an InvokeAction call."""
        if self.closed_reason:
            raise PluginNotReached(f"plugin {self.plugin!r} {self.closed_reason}")
        session = self._session
        if session is None or session.broken:
            session = await self._ensure_session(self.call_timeout)
        if session is not None and session.actions and request.ByteSize() <= FRAME_LIMIT:
            async for response in self._session_action(session, request, timeout or self.call_timeout):
                yield response
            return
        call = self.stub.InvokeAction(request, timeout=timeout or self.call_timeout, metadata=_scope_metadata())
        self._track(call)
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as exc:
            raise self._error("InvokeAction", exc) from None
        except asyncio.CancelledError:
            if self.closed_reason:
                raise PluginUnavailable(f"plugin {self.plugin!r} {self.closed_reason} during InvokeAction") from None
            raise
        finally:
            self._untrack(call)

    async def _session_action(
        self, session: Session, request: plugin_pb2.InvokeActionRequest, timeout: float
    ) -> AsyncIterator[plugin_pb2.InvokeActionResponse]:
        """An action on the Session stream, its failures as InvokeAction's would be."""
        method = "InvokeAction"
        self._session_calls += 1
        self._idle.clear()
        try:
            if tracing.ON:
                with tracing.call_span(self.plugin, method):
                    async for response in session.stream("invoke_action", request, timeout, tracing.traceparent()):
                        yield response
            else:
                async for response in session.stream("invoke_action", request, timeout):
                    yield response
        except (SessionCallFailed, SessionBroken, asyncio.TimeoutError) as exc:
            raise self._session_error(method, exc) from None
        finally:
            self._session_call_ended()

    async def describe(self, timeout: float) -> Manifest:
        """Call Describe (waiting for the process to serve) and read its manifest."""
        reply = await self.unary("Describe", plugin_pb2.DescribeRequest(), timeout=timeout, wait_for_ready=True)
        return manifest_from_proto(reply.manifest)

    async def wait_serving(self, timeout: float) -> str:
        """Wait until the process answers health checks SERVING; "" or what is wrong."""
        try:
            reply = await self.health.Check(health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            return exc.details() or exc.code().name
        return "" if reply.status == health_pb2.HealthCheckResponse.SERVING else "it answers but is not serving"

    async def shutdown(self, timeout: float) -> bool:
        """Ask the process to stop (ControllerService.Shutdown); True when it agreed."""
        if self.closed_reason:
            return False
        try:
            await self.controller.Shutdown(controller_pb2.ShutdownRequest(), timeout=timeout)
        except grpc.aio.AioRpcError:
            return False
        return True

    async def check_health(self, timeout: float) -> bool:
        """True when the plugin answers SERVING in time."""
        try:
            reply = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def drain(self, timeout: float) -> bool:
        """Wait until no call is in flight; False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def abort(self, reason: str) -> None:
        """Declare the instance dead: cancel calls in flight and refuse new ones."""
        self.closed_reason = reason
        if self._session is not None:
            self._session.close(reason)
        for call in list(self._calls):
            call.cancel()

    async def close(self) -> None:
        if self._session is not None:
            self._session.close()
        await self.channel.close()


def _scope_metadata() -> tuple[tuple[str, str], ...] | None:
    """The run the calling task works for (LOG_SCOPE) as a unary call's metadata, so that what
    the plugin logs for the call is that run's (a Session frame carries it in fields); None
    outside a run. A value gRPC metadata cannot carry (not printable ASCII) is left out."""
    agent_id, run_id = LOG_SCOPE.get()
    if not run_id:
        return None
    scope = ((RUN_ID_METADATA, run_id), (AGENT_ID_METADATA, agent_id))
    return tuple((key, value) for key, value in scope if value and value.isascii() and value.isprintable())


def manifest_from_proto(m: plugin_pb2.PluginManifest) -> Manifest:
    """A Describe manifest as the host keeps it."""
    return Manifest(
        name=m.name,
        version=m.version,
        description=m.description,
        actions=tuple(
            Action(
                a.name,
                a.description,
                tuple(a.similes),
                tuple(tuple(ExampleTurn(t.speaker, t.text, tuple(t.actions)) for t in c.turns) for c in a.examples),
            )
            for a in m.actions
        ),
        providers=tuple(Provider(p.name, p.description, p.position, p.dynamic, p.private) for p in m.providers),
        evaluators=tuple(Evaluator(e.name, e.description, e.always_run, tuple(e.similes)) for e in m.evaluators),
        services=tuple(Service(s.name, s.description) for s in m.services),
        model_handlers=tuple(ModelHandler(h.model_type, h.priority) for h in m.model_handlers),
        events=tuple(m.events),
        dependencies=tuple(m.dependencies),
        priority=m.priority,
    )
