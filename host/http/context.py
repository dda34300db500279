"""What every route of the HTTP face reaches the host through."""

from __future__ import annotations

from fastapi import Request

from ..host import Host  # at run time: FastAPI reads the routes' annotations


async def host_of(request: Request) -> Host:
    """The host this app serves (a FastAPI dependency). A coroutine: FastAPI runs a plain
    function dependency in its thread pool, a hop to another thread and back per request."""
    host: Host = request.app.state.host
    return host
