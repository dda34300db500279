"""A model call whose text is handed on as it comes: the router's InvokeStream.

Plugin model handlers answer whole (the plugin contract has no stream), so without a router
the call is Models.use and nothing is handed on before the end.
"""

from __future__ import annotations

from typing import Any, Callable

import grpc
from agenthost.v1 import router_pb2

from plugin_sdk.types import ModelOutput

from ..plugins.connection import PluginUnavailable
from .models import ModelError, Models, params_problem, router_request
from .run_scope import CURRENT_RUN


async def stream_model(
    models: Models, model_type: str, params: dict[str, Any], timeout: float | None, on_text: Callable[[str], None]
) -> ModelOutput:
    """Models.use, calling `on_text` with the output so far each time the router sends more."""
    if not models.router.enabled:
        return await models.use(model_type, params, timeout)
    problem = params_problem(params)
    if problem:
        raise ModelError(grpc.StatusCode.INVALID_ARGUMENT, problem)
    run_id = CURRENT_RUN.get()  # the run as the router's task scope, as AgentModels.use gives it
    if run_id and not params.get("task_id"):
        params = {**params, "task_id": run_id}
    try:
        request = router_pb2.InvokeStreamRequest(request=router_request(model_type, params, models.agent_name))
    except ValueError as exc:
        raise ModelError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    pieces: list[str] = []
    done: router_pb2.InvokeResponse | None = None
    try:
        stub, options = await models.router_stub(timeout)  # waits for a router that is away
        stream = stub.InvokeStream(request, **options)
        async for event in stream:
            if event.HasField("done"):
                done = event.done
            elif event.delta:
                pieces.append(event.delta)
                on_text("".join(pieces))
    except PluginUnavailable as exc:
        raise ModelError(grpc.StatusCode.UNAVAILABLE, f"no router: {exc}") from None
    except grpc.aio.AioRpcError as exc:
        raise ModelError(exc.code(), exc.details() or exc.code().name) from None
    if done is None:
        raise ModelError(grpc.StatusCode.UNAVAILABLE, "the router's stream ended without its reply")
    return ModelOutput(
        text=done.text or "".join(pieces),
        served_by=f"router:{done.provider}:{done.model}",
        data={"cost": done.cost, "tokens_in": done.tokens_in, "tokens_out": done.tokens_out},
    )
