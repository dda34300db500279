"""Requests parsed inside the call, where a request protobuf refuses can end with a status.
The host's API and the router both serve through it (`ParseInCall`).

gRPC parses a request before the servicer runs, and a parse error there (a Struct nested
deeper than protobuf's limit of 100 messages, text that is not UTF-8, bytes that are not the
method's message) ends the call UNKNOWN with a traceback in the server's log. Parsed inside the
call instead, it ends INVALID_ARGUMENT saying what was refused, and nothing is logged.
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Awaitable, Callable, NoReturn

import grpc
from google.protobuf.message import DecodeError

from .limits import MAX_NESTING, bounded


class ParseInCall(grpc.aio.ServerInterceptor):
    """Moves the parsing of requests into the call: a unary request's, and each of a client
    stream's (AddKnowledge's chunks, Converse's messages) as the servicer reads it."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _client_stream(handler.stream_unary, parse), response_serializer=handler.response_serializer
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _bidirectional(handler.stream_stream, parse), response_serializer=handler.response_serializer
            )
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, parse), response_serializer=handler.response_serializer
            )
        return grpc.unary_stream_rpc_method_handler(
            _streaming(handler.unary_stream, parse), response_serializer=handler.response_serializer
        )


async def _refuse(context: grpc.aio.ServicerContext, message: str) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, bounded(message))
    raise AssertionError("ServicerContext.abort returned")  # it never does


async def _parsed(parse: Callable[[bytes], Any], raw: bytes, context: grpc.aio.ServicerContext) -> Any:
    try:
        return parse(raw)
    except DecodeError as exc:
        hint = (
            "text fields must be UTF-8"
            if "UTF-8" in str(exc)
            else f"JSON-like values (content.extra, metadata) may nest at most {MAX_NESTING} levels"
        )
        await _refuse(context, f"the request cannot be parsed ({exc}); {hint}")


def _client_stream(
    behavior: Callable[..., Awaitable[Any]], parse: Callable[[bytes], Any]
) -> Callable[..., Awaitable[Any]]:
    async def call(raws: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        return await behavior(_each_parsed(raws, parse, context), context)

    return call


def _bidirectional(behavior: Callable[..., Any], parse: Callable[[bytes], Any]) -> Callable[..., Any]:
    async def stream(raws: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for item in behavior(_each_parsed(raws, parse, context), context):
            yield item

    return stream


async def _each_parsed(
    raws: AsyncIterator[bytes], parse: Callable[[bytes], Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for raw in raws:
        yield await _parsed(parse, raw, context)


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
