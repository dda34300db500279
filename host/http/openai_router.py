"""`model = "router"` (or `router/<quality>`): the request goes straight to the router's Invoke or
InvokeStream, routed by policy, budgeted, booked and with fallbacks, no agent in between; and
`POST /v1/embeddings` through the router (TEXT_EMBEDDING calls)."""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import TYPE_CHECKING, Any, AsyncIterator

import grpc
from agenthost.v1 import router_pb2

from ..plugins.connection import PluginUnavailable
from .errors import SERVER_ERROR, ApiError, from_grpc
from .openai_shapes import DONE, EXTRA, Reply, Usage, sse
from .openai_types import ChatCompletionRequest, EmbeddingRequest

if TYPE_CHECKING:
    from ..host import Host

ROUTER = "router"
CALL_TIMEOUT = 600.0  # the router's own deadlines (per provider, per call) end a call first
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def router_quality(model: str) -> str | None:
    """The quality `model` asks the router for ("" for the default), or None when it is not the router."""
    if model == ROUTER:
        return ""
    if model.startswith(ROUTER + "/"):
        quality = model[len(ROUTER) + 1 :].strip()
        if not quality:
            raise ApiError(400, "model router/<quality> needs a quality, e.g. router/high", param="model")
        return quality
    return None


def _stub(host: Host) -> Any:
    try:
        return host.router.stub()
    except PluginUnavailable as exc:
        raise ApiError(503, f"no router: {exc}", SERVER_ERROR, "no_router") from None


def chat_request(body: ChatCompletionRequest, quality: str) -> router_pb2.InvokeRequest:
    """The router's InvokeRequest for a chat completion request."""
    messages = []
    for i, said in enumerate(body.messages):
        role = _ROLES.get(said.role)
        if role is None:
            raise ApiError(400, f"messages[{i}]: role {said.role!r} is not taken by the router", param="messages")
        messages.append(router_pb2.ChatMessage(role=role, content=said.text(), image_urls=said.image_urls()))
    images = any(m.image_urls for m in messages)
    meta = router_pb2.CallMeta(
        quality=quality,
        model_type=router_pb2.MODEL_TYPE_IMAGE_DESCRIPTION if images else router_pb2.MODEL_TYPE_TEXT_LARGE,
        max_output_tokens=body.max_completion_tokens or body.max_tokens or 0,
    )
    if body.temperature is not None:
        meta.temperature = body.temperature
    return router_pb2.InvokeRequest(messages=messages, meta=meta, user_id=body.user or "")


def _extra(done: router_pb2.InvokeResponse) -> dict[str, Any]:
    return {
        "request_id": done.request_id,
        "provider": done.provider,
        "provider_model": done.model,
        "cached": done.cached,
        "cost": done.cost,
        "attempts": len(done.attempts),
    }


async def complete(host: Host, body: ChatCompletionRequest, quality: str, reply: Reply) -> dict[str, Any]:
    """A whole `chat.completion` from the router's Invoke."""
    router = host.router
    try:
        done = await _stub(host).Invoke(chat_request(body, quality), metadata=router.metadata, timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc.code(), exc.details() or "") from None
    usage = Usage(done.tokens_in, done.tokens_out, done.cost, len(done.attempts))
    doc = reply.completion(done.text, usage, "stop", {})
    doc[EXTRA] = _extra(done)
    return doc


async def open_stream(host: Host, body: ChatCompletionRequest, quality: str) -> tuple[Any, Any]:
    """The router's InvokeStream and its first message (errors before it are HTTP errors)."""
    request = router_pb2.InvokeStreamRequest(request=chat_request(body, quality))
    call = _stub(host).InvokeStream(request, metadata=host.router.metadata, timeout=CALL_TIMEOUT)
    try:
        return call, await call.read()
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc.code(), exc.details() or "") from None


async def stream(call: Any, first: Any, reply: Reply, include_usage: bool) -> AsyncIterator[bytes]:
    """The router's stream as `chat.completion.chunk` events up to `data: [DONE]`."""
    yield reply.chunk({"role": "assistant", "content": ""})
    message = first
    try:
        while message is not grpc.aio.EOF:
            if message.HasField("done"):
                done = message.done
                yield reply.chunk({}, "stop", extra=_extra(done))
                if include_usage:
                    yield reply.usage_chunk(Usage(done.tokens_in, done.tokens_out, done.cost))
                yield DONE
                return
            if message.delta:
                yield reply.chunk({"content": message.delta})
            message = await call.read()
        error = ApiError(502, "the router's stream ended without its reply", SERVER_ERROR, "upstream_error")
    except grpc.aio.AioRpcError as exc:
        error = from_grpc(exc.code(), exc.details() or "")
    finally:
        call.cancel()  # a client gone mid-stream ends the router's call too (it settles its budget hold)
    yield sse({"error": {"message": error.message, "type": error.type, "param": None, "code": error.code}})


def _vector(values: Any, encoding: str) -> list[float] | str:
    if encoding == "base64":  # what OpenAI's clients ask for by default: little-endian float32s
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return list(values)


async def embeddings(host: Host, body: EmbeddingRequest, quality: str, agent_name: str) -> dict[str, Any]:
    """`POST /v1/embeddings`: one TEXT_EMBEDDING call per input, at once."""
    stub, router = _stub(host), host.router
    texts = [body.input] if isinstance(body.input, str) else body.input
    if any(not t.strip() for t in texts):
        raise ApiError(400, "input: an empty text has no embedding", param="input")
    meta = router_pb2.CallMeta(quality=quality, agent_name=agent_name, model_type=router_pb2.MODEL_TYPE_TEXT_EMBEDDING)

    async def one(text: str) -> router_pb2.InvokeResponse:
        request = router_pb2.InvokeRequest(prompt=text, meta=meta, user_id=body.user or "")
        return await stub.Invoke(request, metadata=router.metadata, timeout=CALL_TIMEOUT)

    try:
        done = await asyncio.gather(*(one(t) for t in texts))
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc.code(), exc.details() or "") from None
    tokens = sum(d.tokens_in for d in done)
    data = [
        {"object": "embedding", "index": i, "embedding": _vector(d.embedding, body.encoding_format)}
        for i, d in enumerate(done)
    ]
    extra = {"cost": sum(d.cost for d in done), "providers": sorted({f"{d.provider}:{d.model}" for d in done})}
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.model, "usage": usage, EXTRA: extra}
