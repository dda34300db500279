"""The largest request body the HTTP face reads: a bigger one is refused with 413 before it is
read whole (by its Content-Length, or as its chunks pass the limit)."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TOO_LARGE, ApiError

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A chat request carries a conversation; each of its messages is held to the store's limit on
its own (1 MiB by default), this bounds the whole."""


DRAIN_BYTES = 64 * 1024 * 1024
"""How much of a body declared too large is read (and dropped) before the 413: a client that
is still sending reads an answer only once its body is sent; beyond this the connection is cut."""


async def _drain(receive: Receive, most: int) -> None:
    seen = 0
    while seen <= most:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _said(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


class BodyLimit:
    """ASGI middleware: 413 in OpenAI's error shape for a body over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await _drain(receive, DRAIN_BYTES)  # a client still writing would not read the answer
            await ApiError(413, _said(self.limit), code=TOO_LARGE).response()(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message: Any = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException: FastAPI passes those on while it reads a body (answered by errors.install).
                    raise HTTPException(413, _said(self.limit))
            return message  # type: ignore[no-any-return]

        await self.app(scope, counted, send)
