"""How the REST API reaches the host: the gRPC servicers' own methods, called in-process with a
context whose abort is an HTTP error, so REST validates and words its errors as the gRPC API
does; their answers as JSON; and server-sent event frames."""

from __future__ import annotations

import json
from typing import Any, Sequence

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from ..agent.admission import RETRY_AFTER_KEY
from .errors import BUDGET_RETRY_AFTER_S, INVALID_REQUEST, RATE_LIMIT, SERVER_ERROR, ApiError

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_MEDIA = "text/event-stream"

#: A servicer's gRPC status -> (HTTP status, error type, code).
_STATUSES: dict[grpc.StatusCode, tuple[int, str, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, INVALID_REQUEST, "invalid_argument"),
    grpc.StatusCode.OUT_OF_RANGE: (400, INVALID_REQUEST, "out_of_range"),
    grpc.StatusCode.NOT_FOUND: (404, INVALID_REQUEST, "not_found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, INVALID_REQUEST, "already_exists"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, INVALID_REQUEST, "failed_precondition"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, RATE_LIMIT, "resource_exhausted"),
    grpc.StatusCode.UNAVAILABLE: (503, SERVER_ERROR, "unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, SERVER_ERROR, "timeout"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "authentication_error", "unauthenticated"),
}


def grpc_error(code: grpc.StatusCode, details: str, retry_after: str = "") -> ApiError:
    """The HTTP error for a gRPC status, its details as the message, unchanged."""
    status, kind, name = _STATUSES.get(code, (500, SERVER_ERROR, code.name.lower()))
    headers = None
    if status == 429:
        headers = {"Retry-After": retry_after or str(BUDGET_RETRY_AFTER_S)}
    return ApiError(status, details or code.name, kind, name, headers=headers)


class CallContext:
    """The part of grpc.aio.ServicerContext the servicers use, for a call made in-process: an
    abort raises the matching ApiError (a Retry-After the call set as trailing metadata kept)."""

    def __init__(self) -> None:
        self._trailing: dict[str, str] = {}

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise grpc_error(code, details, self._trailing.get(RETRY_AFTER_KEY, ""))

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._trailing.update((k.lower(), str(v)) for k, v in metadata)

    def time_remaining(self) -> float | None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()


def doc(message: Message) -> dict[str, Any]:
    """A proto message as JSON, field names as in the .proto, unset fields included."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def sse_frame(event: str, data: Any) -> bytes:
    """One server-sent event: its type and its JSON data."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def wants_stream(stream: bool | None, accept: str | None) -> bool:
    """A request for server-sent events: ?stream=true, or Accept: text/event-stream."""
    return bool(stream) or SSE_MEDIA in (accept or "")
