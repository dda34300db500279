"""Model calls made by the host: through the router when it has one, else plugin model handlers."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import grpc
from agenthost.v1 import router_pb2, router_pb2_grpc

from plugin_sdk.limits import quote
from plugin_sdk.types import ModelOutput

from ..plugins.components import Components, UnknownComponentError, until_deadline
from ..plugins.connection import PluginCallError, PluginUnavailable
from ..plugins.deadlines import capped
from ..plugins.router_link import RouterLink


class ModelError(Exception):
    """A model call that did not answer; `code` is the gRPC status to report."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Models:
    """One entry point for the host's and the plugins' model calls."""

    def __init__(self, components: Components, router: RouterLink, agent_name: str) -> None:
        self.components = components
        self.router = router
        self.agent_name = agent_name

    async def use(self, model_type: str, params: dict[str, Any], timeout: float | None = None) -> ModelOutput:
        """Call a model of `model_type` with `params` (prompt or messages, max_tokens, grammar, ...)."""
        # Checked here, for the router and for plugin model handlers alike: a handler that trips
        # over a malformed value would fail with its own traceback and an opaque status.
        problem = params_problem(params)
        if problem:
            raise ModelError(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if self.router.enabled:
            return await self._through_router(model_type, params, timeout)
        try:
            return await self.components.use_model(model_type, params)
        except UnknownComponentError as exc:
            raise ModelError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        except PluginCallError as exc:
            raise ModelError(exc.code, str(exc)) from None

    async def router_stub(self, timeout: float | None) -> tuple[router_pb2_grpc.RouterServiceStub, dict[str, Any]]:
        """The router to call, and the call's options: its gRPC deadline (what is left of
        `timeout`, capped by the run's; None: no deadline) and metadata. A router that is away is
        waited for within that deadline, not at all without one: a spawned one that is
        (re)starting as Components waits for a restarting plugin (until_deadline), a shared one
        (`router_address`) by gRPC's wait_for_ready (the call goes out when its channel connects
        again). PluginUnavailable: no router (in time)."""
        left = capped(timeout if timeout is not None else math.inf)
        if left == math.inf:
            return self.router.stub(), {"timeout": None, "metadata": self.router.metadata}

        async def once(time_left: float) -> tuple[router_pb2_grpc.RouterServiceStub, dict[str, Any]]:
            options = {"timeout": time_left, "metadata": self.router.metadata, "wait_for_ready": self.router.shared}
            return self.router.stub(), options

        def restarting(exc: BaseException) -> bool:
            return isinstance(exc, PluginUnavailable) and self.router.coming_back

        return await until_deadline(once, left, restarting)

    async def _through_router(self, model_type: str, params: dict[str, Any], timeout: float | None) -> ModelOutput:
        try:
            request = router_request(model_type, params, self.agent_name)
        except ValueError as exc:
            raise ModelError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        try:
            stub, options = await self.router_stub(timeout)
            reply = await stub.Invoke(request, **options)
        except PluginUnavailable as exc:
            raise ModelError(grpc.StatusCode.UNAVAILABLE, f"no router: {exc}") from None
        except grpc.aio.AioRpcError as exc:
            raise ModelError(exc.code(), exc.details() or exc.code().name) from None
        return ModelOutput(
            text=reply.text,
            embedding=list(reply.embedding),
            served_by=f"router:{reply.provider}:{reply.model}",
            data={"cost": reply.cost, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out},
        )


INT32_MAX = 2**31 - 1
_TEXT_PARAMS = ("prompt", "grammar", "quality", "task_id", "audio", "audio_format")


def params_problem(params: dict[str, Any]) -> str:
    """What is wrong with use_model(...) params, or "": the keys the host and router read must
    have their types (others pass through to plugin model handlers untouched)."""
    for key in _TEXT_PARAMS:
        if key in params and not isinstance(params[key], str):
            return f"params.{key} must be a string, got {_kind(params[key])}"
    if "confidential" in params and not isinstance(params["confidential"], bool):
        return f"params.confidential must be true or false, got {_kind(params['confidential'])}"
    if "max_tokens" in params:
        value = params["max_tokens"]
        if not _is_number(value) or value != int(value) or not 0 <= value <= INT32_MAX:
            return f"params.max_tokens must be a whole number from 0 (the default) to {INT32_MAX}, got {_got(value)}"
    if "temperature" in params:
        value = params["temperature"]
        if not _is_number(value) or value < 0:
            return f"params.temperature must be a number, 0 or more, got {_got(value)}"
    if "audio" in params:
        try:
            base64.b64decode(params["audio"], validate=True)
        except binascii.Error:
            return "params.audio must be base64 (the audio's bytes, for TRANSCRIPTION)"
    return _messages_problem(params.get("messages", []))


def _messages_problem(messages: Any) -> str:
    if not isinstance(messages, list):
        return f"params.messages must be a list of {{role, content}} objects, got {_kind(messages)}"
    for index, message in enumerate(messages):
        where = f"params.messages[{index}]"
        if not isinstance(message, dict):
            return f"{where} must be an object with a role and a content, got {_kind(message)}"
        for key in ("role", "content"):
            if key not in message:
                return f"{where} has no {key} (each message is {{role, content}}, both strings)"
            if not isinstance(message[key], str):
                return f"{where}.{key} must be a string, got {_kind(message[key])}"
        if not message["role"]:
            return f"{where}.role is empty (use system, user or assistant)"
        urls = message.get("image_urls", [])
        if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
            return f"{where}.image_urls must be a list of strings"
    return ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _got(value: Any) -> str:
    """A bad value for an error message: a number as it is, anything else by its type."""
    return f"{value:g}" if _is_number(value) else _kind(value)


def _kind(value: Any) -> str:
    """A value's JSON type, as a caller who sent JSON would name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def router_request(model_type: str, params: dict[str, Any], agent_name: str) -> router_pb2.InvokeRequest:
    """use_model(...) params as a router call: prompt or messages, and the call's meta."""
    try:
        kind = router_pb2.ModelType.Value(f"MODEL_TYPE_{model_type}")
    except ValueError:
        names = ", ".join(n.removeprefix("MODEL_TYPE_") for n in router_pb2.ModelType.keys()[1:])
        raise ValueError(f"unknown model type {quote(model_type)}; use one of {names}") from None
    meta = router_pb2.CallMeta(
        model_type=kind,
        confidential=bool(params.get("confidential", False)),
        quality=str(params.get("quality", "")),
        task_id=str(params.get("task_id", "")),
        agent_name=agent_name,
        max_output_tokens=int(params.get("max_tokens", 0)),  # checked by params_problem
        grammar=str(params.get("grammar", "")),
    )
    if "temperature" in params:
        meta.temperature = float(params["temperature"])
    messages = [
        router_pb2.ChatMessage(role=m["role"], content=m["content"], image_urls=m.get("image_urls", []))
        for m in params.get("messages", [])
    ]
    return router_pb2.InvokeRequest(
        prompt=str(params.get("prompt", "")),
        messages=messages,
        meta=meta,
        audio=base64.b64decode(params.get("audio", "")),  # checked by params_problem
        audio_format=str(params.get("audio_format", "")),
    )
