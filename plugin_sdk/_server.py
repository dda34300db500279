"""PluginService over gRPC: converts protos at the edge and calls the ComponentRunner.

Each component call is written once, as a coroutine from request proto to response proto
that raises CallFailed; the unary methods and the Session stream (see _session) both serve it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, TypeVar

import grpc
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc, types_pb2

from ._context import Context
from ._host_client import GrpcHostClient
from ._plugin import Plugin
from ._runner import ComponentRunner, UnknownComponent
from ._session import CallFailed, Emit, serve_session
from .process import CALL_SCOPE, scope_of
from .types import ActionResult, Content, Memory, State
from .wire import (
    action_result_to_proto,
    content_to_proto,
    fill_struct,
    memory_from_proto,
    provider_result_to_proto,
    state_from_proto,
    struct_to_dict,
)

log = logging.getLogger("plugin_sdk")

Handler = Callable[[Any], Awaitable[Any]]
T = TypeVar("T")
_NO_SCOPE = ("", "")


async def _in_scope(context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
    """Await a unary call in the log scope its metadata names (CALL_SCOPE), if any."""
    scope = scope_of(context.invocation_metadata())
    if scope == _NO_SCOPE:
        return await call
    token = CALL_SCOPE.set(scope)
    try:
        return await call
    finally:
        CALL_SCOPE.reset(token)


async def _answer(context: grpc.aio.ServicerContext, reply: Awaitable[Any]) -> Any:
    """The unary form of a component call: CallFailed ends the call with its status."""
    try:
        return await _in_scope(context, reply)
    except CallFailed as exc:
        await context.abort(exc.code, exc.message)


class PluginServicer(plugin_pb2_grpc.PluginServiceServicer):
    """Serves one Plugin (Shutdown is the controller's: see plugin_sdk.process)."""

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.runner: ComponentRunner | None = None
        self.token = ""  # the runtime token of the last Init: the Session stream's credential
        self._manifest = plugin.manifest()
        self._host: GrpcHostClient | None = None
        self.session_handlers: dict[str, Handler] = {
            "get_providers": self.get_providers,
            "validate_actions": self.validate_actions,
            "validate_evaluators": self.validate_evaluators,
            "run_evaluator": self.run_evaluator,
            "evaluate": self.evaluate,
            "compose": self.compose,
            "handle_event": self.handle_event,
            "use_model": self.use_model,
        }
        self.session_streams: dict[str, Callable[[Any, Emit], Awaitable[Any]]] = {"invoke_action": self.invoke_action}

    def _ready(self) -> ComponentRunner:
        if self.runner is None:
            raise CallFailed(grpc.StatusCode.FAILED_PRECONDITION, "plugin is not initialised: call Init first")
        return self.runner

    async def Describe(self, request: Any, context: grpc.aio.ServicerContext) -> plugin_pb2.DescribeResponse:
        return plugin_pb2.DescribeResponse(manifest=self._manifest)

    async def Init(self, request: plugin_pb2.InitRequest, context: grpc.aio.ServicerContext) -> plugin_pb2.InitResponse:
        if self._host is not None:
            await self._host.close()
        self._host = GrpcHostClient(
            request.runtime_address, self.plugin.name, request.runtime_token, tls=request.runtime_tls
        )
        ctx = Context(
            plugin=self.plugin.name,
            host=self._host,
            agent_id=request.agent_id,
            agent_name=request.agent_name,
            config=dict(request.config),
            log=logging.getLogger(f"plugin.{self.plugin.name}"),
        )
        runner = ComponentRunner(self.plugin, ctx)
        try:
            await runner.init()
        except Exception as exc:
            log.exception("init failed")
            await context.abort(grpc.StatusCode.INTERNAL, f"plugin {self.plugin.name!r} failed to initialise: {exc!r}")
        self.runner, self.token = runner, request.runtime_token
        return plugin_pb2.InitResponse()

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        await serve_session(self, request_iterator, context)

    # -- the component calls, each once -------------------------------------------------

    async def get_providers(self, request: plugin_pb2.GetProvidersRequest) -> plugin_pb2.GetProvidersResponse:
        # The hot path of every message: kept free of extra coroutine layers.
        runner = self.runner or self._ready()
        names = request.names
        for name in names:
            if name not in self.plugin.providers:
                raise CallFailed(grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no provider {name!r}")
        message, state = memory_from_proto(request.message), state_from_proto(request.state)
        if len(names) == 1:
            results = [await _provider(runner, names[0], message, state)]
        else:
            results = await asyncio.gather(*(_provider(runner, n, message, state) for n in names))
        return plugin_pb2.GetProvidersResponse(results=results)

    async def compose(self, request: plugin_pb2.ComposeRequest) -> plugin_pb2.ComposeResponse:
        """GetProviders and ValidateActions in one call (Session only), run at once: the validates
        see the request's state, not the providers' results."""
        runner = self.runner or self._ready()
        for name in request.provider_names:
            if name not in self.plugin.providers:
                raise CallFailed(grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no provider {name!r}")
        message, state = memory_from_proto(request.message), state_from_proto(request.state)
        providers = [_provider(runner, n, message, state) for n in request.provider_names]
        # The validates get copies of their own: the providers may change theirs meanwhile.
        names, seen = request.action_names, (memory_from_proto(request.message), state_from_proto(request.state))
        verdicts = self._verdicts(runner.validate_action, names, *seen)
        *results, validations = await asyncio.gather(*providers, verdicts)
        return plugin_pb2.ComposeResponse(providers=results, actions=validations)

    async def _validate(self, check: Callable[..., Awaitable[bool]], request: Any) -> list[plugin_pb2.Validation]:
        message, state = memory_from_proto(request.message), state_from_proto(request.state)
        return await self._verdicts(check, request.names, message, state)

    async def _verdicts(
        self, check: Callable[..., Awaitable[bool]], names: Any, message: Memory, state: State
    ) -> list[plugin_pb2.Validation]:
        """Each named component's validate verdict (an unknown name: NOT_FOUND for the call)."""

        async def one(name: str) -> plugin_pb2.Validation:
            try:
                return plugin_pb2.Validation(name=name, valid=await check(name, message, state))
            except UnknownComponent as exc:
                raise CallFailed(grpc.StatusCode.NOT_FOUND, str(exc)) from None
            except Exception as exc:
                log.exception("validate %s failed", name)
                return plugin_pb2.Validation(name=name, valid=False, error=f"{type(exc).__name__}: {exc}")

        if len(names) == 1:  # as GetProviders with one name: no task for a gather of one
            return [await one(names[0])]
        return list(await asyncio.gather(*(one(n) for n in names)))

    async def validate_actions(self, request: plugin_pb2.ValidateActionsRequest) -> plugin_pb2.ValidateActionsResponse:
        runner = self._ready()
        return plugin_pb2.ValidateActionsResponse(results=await self._validate(runner.validate_action, request))

    async def validate_evaluators(
        self, request: plugin_pb2.ValidateEvaluatorsRequest
    ) -> plugin_pb2.ValidateEvaluatorsResponse:
        runner = self._ready()
        return plugin_pb2.ValidateEvaluatorsResponse(results=await self._validate(runner.validate_evaluator, request))

    async def run_evaluator(self, request: plugin_pb2.RunEvaluatorRequest) -> plugin_pb2.RunEvaluatorResponse:
        runner = self._ready()
        if request.name not in self.plugin.evaluators:
            raise CallFailed(
                grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no evaluator {request.name!r}"
            )
        return plugin_pb2.RunEvaluatorResponse(result=await _evaluator(runner, request.name, request))

    async def evaluate(self, request: plugin_pb2.EvaluateRequest) -> plugin_pb2.EvaluateResponse:
        """ValidateEvaluators, then RunEvaluator for each evaluator that applies, in one call
        (Session only): each run gets the message and state as its own RunEvaluator would."""
        runner = self._ready()
        verdicts = await self._validate(runner.validate_evaluator, request)

        async def outcome(verdict: plugin_pb2.Validation) -> plugin_pb2.Evaluation:
            if not verdict.valid:
                return plugin_pb2.Evaluation(name=verdict.name, valid=False, error=verdict.error)
            result = await _evaluator(runner, verdict.name, request)
            return plugin_pb2.Evaluation(name=verdict.name, valid=True, result=result)

        if len(verdicts) == 1:
            return plugin_pb2.EvaluateResponse(results=[await outcome(verdicts[0])])
        return plugin_pb2.EvaluateResponse(results=await asyncio.gather(*(outcome(v) for v in verdicts)))

    async def start_service(self, request: plugin_pb2.StartServiceRequest) -> plugin_pb2.StartServiceResponse:
        runner = self._ready()
        await _guarded(f"service {request.name!r} start", runner.start_service(request.name))
        return plugin_pb2.StartServiceResponse()

    async def stop_service(self, request: plugin_pb2.StopServiceRequest) -> plugin_pb2.StopServiceResponse:
        runner = self._ready()
        await _guarded(f"service {request.name!r} stop", runner.stop_service(request.name))
        return plugin_pb2.StopServiceResponse()

    async def handle_event(self, request: plugin_pb2.HandleEventRequest) -> plugin_pb2.HandleEventResponse:
        runner = self._ready()
        await _guarded(
            f"event {request.event_type!r}", runner.handle_event(request.event_type, struct_to_dict(request.payload))
        )
        return plugin_pb2.HandleEventResponse()

    async def use_model(self, request: plugin_pb2.UseModelRequest) -> plugin_pb2.UseModelResponse:
        runner = self._ready()
        what = f"model {request.model_type!r}"
        output = await _guarded(what, runner.use_model(request.model_type, struct_to_dict(request.params)))
        reply = plugin_pb2.UseModelResponse(text=output.text, embedding=output.embedding)
        await _guarded(f"{what} output", _fill(reply.data, output.data))
        return reply

    # -- the unary methods ----------------------------------------------------------------

    async def GetProviders(
        self, request: plugin_pb2.GetProvidersRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.GetProvidersResponse:
        return await _answer(context, self.get_providers(request))

    async def ValidateActions(
        self, request: plugin_pb2.ValidateActionsRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.ValidateActionsResponse:
        return await _answer(context, self.validate_actions(request))

    async def ValidateEvaluators(
        self, request: plugin_pb2.ValidateEvaluatorsRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.ValidateEvaluatorsResponse:
        return await _answer(context, self.validate_evaluators(request))

    async def RunEvaluator(
        self, request: plugin_pb2.RunEvaluatorRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.RunEvaluatorResponse:
        return await _answer(context, self.run_evaluator(request))

    async def StartService(
        self, request: plugin_pb2.StartServiceRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.StartServiceResponse:
        return await _answer(context, self.start_service(request))

    async def StopService(
        self, request: plugin_pb2.StopServiceRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.StopServiceResponse:
        return await _answer(context, self.stop_service(request))

    async def HandleEvent(
        self, request: plugin_pb2.HandleEventRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.HandleEventResponse:
        return await _answer(context, self.handle_event(request))

    async def UseModel(
        self, request: plugin_pb2.UseModelRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.UseModelResponse:
        return await _answer(context, self.use_model(request))

    async def InvokeAction(self, request: plugin_pb2.InvokeActionRequest, context: grpc.aio.ServicerContext) -> None:
        await _in_scope(context, self._invoke_action(request, context))

    async def _invoke_action(self, request: plugin_pb2.InvokeActionRequest, context: grpc.aio.ServicerContext) -> None:
        try:
            reply = await self.invoke_action(request, context.write)
        except CallFailed as exc:
            await context.abort(exc.code, exc.message)
        await context.write(reply)

    async def invoke_action(
        self, request: plugin_pb2.InvokeActionRequest, emit: Emit
    ) -> plugin_pb2.InvokeActionResponse:
        """Run one action: each callback's content goes out through `emit` as it comes, and the
        result is the reply (the last message). An action that raises is a failed result."""
        runner = self._ready()
        if request.name not in self.plugin.actions:
            raise CallFailed(grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no action {request.name!r}")

        async def callback(content: Content) -> None:
            await emit(plugin_pb2.InvokeActionResponse(callback=content_to_proto(content)))

        try:
            result = await runner.invoke_action(
                request.name,
                memory_from_proto(request.message),
                state_from_proto(request.state),
                struct_to_dict(request.options),
                callback,
            )
        except CallFailed:
            raise  # a callback the stream could not carry: the call fails, as a unary one would
        except Exception as exc:
            log.exception("action %s failed", request.name)
            result = ActionResult(success=False, error=f"{type(exc).__name__}: {exc}")
        return plugin_pb2.InvokeActionResponse(result=_result_proto(f"action {request.name!r}", result))

    async def close(self) -> None:
        """Stop services and close the host channel."""
        if self.runner is not None:
            await self.runner.stop_all_services()
        if self._host is not None:
            await self._host.close()


async def _guarded(what: str, coro: Awaitable[Any]) -> Any:
    """Await a handler: an unknown component is NOT_FOUND, anything else it raises INTERNAL."""
    try:
        return await coro
    except UnknownComponent as exc:
        raise CallFailed(grpc.StatusCode.NOT_FOUND, str(exc)) from None
    except Exception as exc:
        log.exception("%s failed", what)
        raise CallFailed(grpc.StatusCode.INTERNAL, f"{what} failed: {type(exc).__name__}: {exc}") from None


async def _evaluator(runner: ComponentRunner, name: str, request: Any) -> types_pb2.ActionResult:
    """Run one evaluator on a request's message, state and responses (each run its own copies);
    one that raises is a failed result saying why."""
    try:
        result = await runner.run_evaluator(
            name,
            memory_from_proto(request.message),
            state_from_proto(request.state),
            [memory_from_proto(m) for m in request.responses],
        )
    except Exception as exc:
        log.exception("evaluator %s failed", name)
        result = ActionResult(success=False, error=f"{type(exc).__name__}: {exc}")
    return _result_proto(f"evaluator {name!r}", result)


def _result_proto(what: str, result: ActionResult) -> types_pb2.ActionResult:
    """The result as a proto; a result that cannot be sent becomes a failed one saying why."""
    try:
        return action_result_to_proto(result)
    except TypeError as exc:
        log.error("%s returned a result that cannot be sent: %s", what, exc)
        return types_pb2.ActionResult(success=False, error=f"{what} returned a result that cannot be sent: {exc}")


async def _fill(struct: Any, values: dict[str, Any]) -> None:
    fill_struct(struct, values)


async def _provider(runner: ComponentRunner, name: str, message: Memory, state: State) -> plugin_pb2.ProviderResult:
    """One provider's result; a failing provider reports its error and the others still answer."""
    try:
        return provider_result_to_proto(name, await runner.get_provider(name, message, state))
    except Exception as exc:
        log.exception("provider %s failed", name)
        return plugin_pb2.ProviderResult(name=name, error=f"{type(exc).__name__}: {exc}")
