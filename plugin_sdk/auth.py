"""Bearer tokens on gRPC servers, shared by the host's public listener and a standalone router:
the server-side check, the token file, and whether an address stays on this machine."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable

import grpc

from .protocol import AUTH_METADATA_KEY, AUTH_SCHEME

OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""Calls every server answers without a token: health checks and reflection."""


def token_from_file(path: Path) -> str:
    """The token kept in `path`; made there (0600, its directory 0700) when there is none yet."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def is_loopback(address: str) -> bool:
    """True for a unix socket or a host part that is this machine only (127.0.0.0/8, ::1, localhost)."""
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_matches(metadata: Any, expected: bytes) -> bool:
    """True when gRPC `metadata` carries `authorization` equal to `expected` ("Bearer <token>")."""
    for key, value in metadata or ():
        if key == AUTH_METADATA_KEY:
            given = value.encode() if isinstance(value, str) else value
            return hmac.compare_digest(given, expected)
    return False


class BearerTokenCheck(grpc.aio.ServerInterceptor):
    """Ends calls that lack `authorization: Bearer <token>` with UNAUTHENTICATED and `refusal`,
    except health, reflection and the methods under the `open` prefixes."""

    def __init__(self, token: str, refusal: str, open: tuple[str, ...] = ()) -> None:
        self._expected = (AUTH_SCHEME + token).encode()
        self._refusal = refusal
        self._open = OPEN_METHODS + open

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if (
            handler is None
            or details.method.startswith(self._open)
            or bearer_matches(details.invocation_metadata, self._expected)
        ):
            return handler
        return _refusing(handler, self._refusal)


def _refusing(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that ends the call UNAUTHENTICATED."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
