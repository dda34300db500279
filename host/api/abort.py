"""Ending a call with a gRPC status, typed so the checker knows it does not return."""

from __future__ import annotations

from typing import NoReturn

import grpc

from plugin_sdk.limits import bounded


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """`context.abort(code, message)`: it raises, so the call ends here. A message too long for a
    status header (one that echoes a huge input) is cut rather than lost with the call."""
    await context.abort(code, bounded(message))
    raise AssertionError("ServicerContext.abort returned")  # it never does
