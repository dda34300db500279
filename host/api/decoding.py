"""Requests parsed inside the call, where a request protobuf refuses can end with a status.

gRPC parses a request before the servicer runs, and a parse error there (a Struct nested
deeper than protobuf's limit of 100 messages, text that is not UTF-8, bytes that are not the
method's message) ends the call UNKNOWN with a traceback in the host's log. Parsed inside the
call instead, it ends INVALID_ARGUMENT saying what was refused, and nothing is logged.
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError

from plugin_sdk.limits import MAX_NESTING

from .abort import abort


class ParseInCall(grpc.aio.ServerInterceptor):
    """Moves the parsing of unary requests into the call (streamed requests, AddKnowledge's
    chunks, are left as they are)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, parse), response_serializer=handler.response_serializer
            )
        return grpc.unary_stream_rpc_method_handler(
            _streaming(handler.unary_stream, parse), response_serializer=handler.response_serializer
        )


async def _parsed(parse: Callable[[bytes], Any], raw: bytes, context: grpc.aio.ServicerContext) -> Any:
    try:
        return parse(raw)
    except DecodeError as exc:
        hint = (
            "text fields must be UTF-8"
            if "UTF-8" in str(exc)
            else f"JSON-like values (content.extra, metadata) may nest at most {MAX_NESTING} levels"
        )
        await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"the request cannot be parsed ({exc}); {hint}")


def _unary(behavior: Callable[..., Awaitable[Any]], parse: Callable[[bytes], Any]) -> Callable[..., Awaitable[Any]]:
    async def call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(await _parsed(parse, raw, context), context)

    return call


def _streaming(behavior: Callable[..., Any], parse: Callable[[bytes], Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for item in behavior(await _parsed(parse, raw, context), context):
                yield item

        return stream

    async def writes(raw: bytes, context: grpc.aio.ServicerContext) -> Any:  # a servicer that calls context.write
        return await behavior(await _parsed(parse, raw, context), context)

    return writes
