"""Ending a call with a gRPC status, typed so the checker knows it does not return."""

from __future__ import annotations

from typing import NoReturn

import grpc


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """`context.abort(code, message)`: it raises, so the call ends here."""
    await context.abort(code, message)
    raise AssertionError("ServicerContext.abort returned")  # it never does
