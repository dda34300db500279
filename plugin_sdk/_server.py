"""PluginService over gRPC: converts protos at the edge and calls the ComponentRunner."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import grpc
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc, types_pb2

from ._context import Context
from ._host_client import GrpcHostClient
from ._plugin import Plugin
from ._runner import ComponentRunner, UnknownComponent
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


class PluginServicer(plugin_pb2_grpc.PluginServiceServicer):
    """Serves one Plugin (Shutdown is the controller's: see plugin_sdk.process)."""

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.runner: ComponentRunner | None = None
        self._manifest = plugin.manifest()
        self._host: GrpcHostClient | None = None

    async def _ready(self, context: grpc.aio.ServicerContext) -> ComponentRunner:
        if self.runner is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "plugin is not initialised: call Init first")
        return self.runner  # type: ignore[return-value]

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
        self.runner = runner
        return plugin_pb2.InitResponse()

    async def GetProviders(
        self, request: plugin_pb2.GetProvidersRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.GetProvidersResponse:
        # The hot path of every message: kept free of extra coroutine layers.
        runner = self.runner or await self._ready(context)
        names = request.names
        for name in names:
            if name not in self.plugin.providers:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no provider {name!r}")
        message, state = memory_from_proto(request.message), state_from_proto(request.state)
        if len(names) == 1:
            results = [await _provider(runner, names[0], message, state)]
        else:
            results = await asyncio.gather(*(_provider(runner, n, message, state) for n in names))
        return plugin_pb2.GetProvidersResponse(results=results)

    async def _validate(
        self, check: Callable[..., Awaitable[bool]], request: Any, context: grpc.aio.ServicerContext
    ) -> list[plugin_pb2.Validation]:
        message, state = memory_from_proto(request.message), state_from_proto(request.state)

        async def one(name: str) -> plugin_pb2.Validation:
            try:
                return plugin_pb2.Validation(name=name, valid=await check(name, message, state))
            except UnknownComponent as exc:
                await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            except Exception as exc:
                log.exception("validate %s failed", name)
                return plugin_pb2.Validation(name=name, valid=False, error=f"{type(exc).__name__}: {exc}")
            raise AssertionError("unreachable")

        return list(await asyncio.gather(*(one(n) for n in request.names)))

    async def ValidateActions(
        self, request: plugin_pb2.ValidateActionsRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.ValidateActionsResponse:
        runner = await self._ready(context)
        return plugin_pb2.ValidateActionsResponse(
            results=await self._validate(runner.validate_action, request, context)
        )

    async def ValidateEvaluators(
        self, request: plugin_pb2.ValidateEvaluatorsRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.ValidateEvaluatorsResponse:
        runner = await self._ready(context)
        return plugin_pb2.ValidateEvaluatorsResponse(
            results=await self._validate(runner.validate_evaluator, request, context)
        )

    async def InvokeAction(self, request: plugin_pb2.InvokeActionRequest, context: grpc.aio.ServicerContext) -> None:
        runner = await self._ready(context)
        if request.name not in self.plugin.actions:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no action {request.name!r}"
            )

        async def callback(content: Content) -> None:
            await context.write(plugin_pb2.InvokeActionResponse(callback=content_to_proto(content)))

        try:
            result = await runner.invoke_action(
                request.name,
                memory_from_proto(request.message),
                state_from_proto(request.state),
                struct_to_dict(request.options),
                callback,
            )
        except Exception as exc:
            log.exception("action %s failed", request.name)
            result = ActionResult(success=False, error=f"{type(exc).__name__}: {exc}")
        await context.write(plugin_pb2.InvokeActionResponse(result=_result_proto(f"action {request.name!r}", result)))

    async def RunEvaluator(
        self, request: plugin_pb2.RunEvaluatorRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.RunEvaluatorResponse:
        runner = await self._ready(context)
        if request.name not in self.plugin.evaluators:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"plugin {self.plugin.name!r} has no evaluator {request.name!r}"
            )
        try:
            result = await runner.run_evaluator(
                request.name,
                memory_from_proto(request.message),
                state_from_proto(request.state),
                [memory_from_proto(m) for m in request.responses],
            )
        except Exception as exc:
            log.exception("evaluator %s failed", request.name)
            result = ActionResult(success=False, error=f"{type(exc).__name__}: {exc}")
        return plugin_pb2.RunEvaluatorResponse(result=_result_proto(f"evaluator {request.name!r}", result))

    async def _guarded(self, context: grpc.aio.ServicerContext, what: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except UnknownComponent as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except Exception as exc:
            log.exception("%s failed", what)
            await context.abort(grpc.StatusCode.INTERNAL, f"{what} failed: {type(exc).__name__}: {exc}")

    async def StartService(
        self, request: plugin_pb2.StartServiceRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.StartServiceResponse:
        runner = await self._ready(context)
        await self._guarded(context, f"service {request.name!r} start", runner.start_service(request.name))
        return plugin_pb2.StartServiceResponse()

    async def StopService(
        self, request: plugin_pb2.StopServiceRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.StopServiceResponse:
        runner = await self._ready(context)
        await self._guarded(context, f"service {request.name!r} stop", runner.stop_service(request.name))
        return plugin_pb2.StopServiceResponse()

    async def HandleEvent(
        self, request: plugin_pb2.HandleEventRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.HandleEventResponse:
        runner = await self._ready(context)
        await self._guarded(
            context,
            f"event {request.event_type!r}",
            runner.handle_event(request.event_type, struct_to_dict(request.payload)),
        )
        return plugin_pb2.HandleEventResponse()

    async def UseModel(
        self, request: plugin_pb2.UseModelRequest, context: grpc.aio.ServicerContext
    ) -> plugin_pb2.UseModelResponse:
        runner = await self._ready(context)
        output = await self._guarded(
            context,
            f"model {request.model_type!r}",
            runner.use_model(request.model_type, struct_to_dict(request.params)),
        )
        reply = plugin_pb2.UseModelResponse(text=output.text, embedding=output.embedding)
        await self._guarded(context, f"model {request.model_type!r} output", _fill(reply.data, output.data))
        return reply

    async def close(self) -> None:
        """Stop services and close the host channel."""
        if self.runner is not None:
            await self.runner.stop_all_services()
        if self._host is not None:
            await self._host.close()


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
