"""The agents' MCP server on the host's HTTP face: Streamable HTTP at `/mcp`, stateless (each
request stands alone: no session to keep), behind the host's bearer token, calling AgentService
in-process. Its session manager's task group starts with the first request, on the host's loop,
and ends when the HTTP face stops (close_mcp)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from plugin_sdk.auth import bearer_matches
from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME

from .actions import ActionTools
from .calls import InProcessCalls
from .memory import MemorySearch
from .server import AgentMcpServer

PATH = "/mcp"
RUNNER = "mcp-session-manager"  # the name of the task that runs the session manager's task group
REFUSED = "missing or wrong API token: send 'Authorization: Bearer <token>' (`agenthost token` prints it)"


class McpEndpoint:
    """The ASGI app at /mcp: checks the token, then hands the request to the MCP session manager."""

    def __init__(self, host: Any, servicer: Any, token: str) -> None:
        self._expected = (AUTH_SCHEME + token).encode()
        server = AgentMcpServer(InProcessCalls(servicer), actions=ActionTools(host), memory=MemorySearch(host))
        self._manager = StreamableHTTPSessionManager(app=server._lowlevel_server, stateless=True, json_response=True)
        self._started: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None

    async def _run_manager(self, started: asyncio.Event) -> None:
        async with self._manager.run():
            started.set()
            await asyncio.Event().wait()  # until the host's loop ends the task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", ())}
        given = headers.get(AUTH_METADATA_KEY, "")
        if not (given and bearer_matches(((AUTH_METADATA_KEY, given),), self._expected)):
            await _refuse(send)
            return
        if self._started is None:
            self._started = asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run_manager(self._started), name=RUNNER)
        await self._started.wait()
        await self._manager.handle_request(scope, receive, send)

    async def close(self) -> None:
        """End the session manager's task group (requests still in it are cancelled)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def _refuse(send: Send) -> None:
    body = json.dumps({"error": {"message": REFUSED, "type": "authentication_error", "code": "invalid_api_key"}})
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def mount_mcp(app: Any, host: Any, servicer: Any, token: str) -> None:
    """Serve `host`'s agents' MCP server at /mcp of `app` (a FastAPI or Starlette app)."""
    endpoint = McpEndpoint(host, servicer, token)
    app.state.mcp = endpoint
    app.router.routes.append(Route(PATH, endpoint=endpoint))


async def close_mcp(app: Any) -> None:
    """End the /mcp session manager of `app` (mount_mcp's), if it has one: when the face stops."""
    endpoint = getattr(app.state, "mcp", None)
    if isinstance(endpoint, McpEndpoint):
        await endpoint.close()
