"""The host's HTTP application: the OpenAI-compatible endpoint and the REST API behind the API
token, errors in OpenAI's shape, a bound on request bodies, and the OpenAPI schema
(/openapi.json, /docs)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI

from .. import __version__
from ..api.agent_service import AgentServicer
from ..mcp_server.http import mount_mcp
from . import errors
from .auth import TokenCheck
from .body_limit import MAX_BODY_BYTES, BodyLimit
from .openai_chat import plain_route
from .openai_routes import openai_routes
from .page import mount_page
from .rest_agents import agents_routes
from .rest_observe import observe_routes
from .rest_plugins import plugins_routes
from .rest_router import router_routes
from .rest_runs import runs_routes

if TYPE_CHECKING:
    from ..host import Host

DESCRIPTION = (
    "agenthost's HTTP face. Every route but the schema (/openapi.json, /docs) and the web page (/ and its "
    "files under /ui, which hold no data: the page asks for the token) wants the host's API token as "
    "`Authorization: Bearer <token>` (`agenthost token` prints it). `/v1` is OpenAI-compatible: point an "
    "OpenAI client's base_url at http://HOST:PORT/v1 with the token as its api_key. `/api` is the REST API "
    "(agents, messages, runs, plugins, router, logs, status; live events as server-sent events), which "
    "also takes the token as `?token=` or the `agenthost_token` cookie, for browsers. `/mcp` serves the agents "
    "as an MCP server (Streamable HTTP; tools send_message, search_knowledge, list_agents)."
)


def create_app(host: Host, token: str, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The app serving `host`, refusing requests without `token`."""
    app = FastAPI(title="agenthost", version=__version__, description=DESCRIPTION, redoc_url=None)
    app.state.host = host
    app.state.new_rooms = asyncio.Lock()  # rooms made with a request's history, one at a time
    errors.install(app)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.state.servicer = AgentServicer(host)  # the REST API calls AgentService's methods in-process
    check = TokenCheck(token)
    # The chat completion's own route, ahead of FastAPI's (which documents it): openai_chat says why.
    app.router.routes.insert(0, plain_route(check))
    app.include_router(openai_routes(), dependencies=[Depends(check)])
    browser = [Depends(TokenCheck(token, browser=True))]
    for routes in (agents_routes(), runs_routes(), plugins_routes(), router_routes(), observe_routes()):
        app.include_router(routes, dependencies=browser)
    mount_mcp(app, host, app.state.servicer, token)  # the agents as an MCP server (Streamable HTTP) at /mcp
    mount_page(app)  # the web page at /, its files under /ui
    return app
