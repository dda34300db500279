"""What every route of the HTTP face reaches the host through."""

from __future__ import annotations

from fastapi import Request

from ..host import Host  # at run time: FastAPI reads the routes' annotations


def host_of(request: Request) -> Host:
    """The host this app serves (a FastAPI dependency)."""
    host: Host = request.app.state.host
    return host
