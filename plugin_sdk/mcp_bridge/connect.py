"""The `mcp` SDK client for the configured server: a stdio subprocess that dies with the bridge,
or an HTTP endpoint (Streamable HTTP, or the older HTTP+SSE) with the configured headers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client  # the SDK's own factory (its timeouts); mcp<3 pinned

from .config import BridgeConfig

GUARD = Path(__file__).with_name("die_with_parent.py")
TREE_ENV = "AGENTHOST_PROCESS_TREE"
"""The host's mark of a plugin's process tree (host/plugins/process.py): passed on to the server,
which the SDK starts in a session of its own, so the host still finds it as the bridge's."""


def server_environment(config: BridgeConfig) -> dict[str, str]:
    """What the server's process gets besides the SDK's defaults (PATH, HOME, ...): the host's
    variables granted by name (the host passed the bridge those alone), the character's values,
    the host's process-tree mark."""
    env = {name: os.environ[name] for name in config.env if name in os.environ}
    env.update(config.env_values)
    if TREE_ENV in os.environ:
        env[TREE_ENV] = os.environ[TREE_ENV]
    return env


def stdio_parameters(config: BridgeConfig) -> StdioServerParameters:
    """The server's argv behind die_with_parent.py: a SIGKILLed bridge takes its server along."""
    argv = ["-I", "-S", str(GUARD), str(os.getpid()), *config.command]
    return StdioServerParameters(command=sys.executable, args=argv, env=server_environment(config))


def make_client(config: BridgeConfig, on_message: MessageHandlerFnT) -> Client:
    """A Client for the server, not yet entered. No response cache: a listing asked for again
    (after tools/list_changed) must come from the server."""
    if config.url and config.sse:
        sse = sse_client(config.url, headers=config.headers, timeout=config.timeout)
        return Client(sse, read_timeout_seconds=config.timeout, message_handler=on_message, cache=None)
    if config.url:
        http = create_mcp_http_client(headers=config.headers)
        transport = streamable_http_client(config.url, http_client=http)
        return Client(transport, read_timeout_seconds=config.timeout, message_handler=on_message, cache=None)
    return Client(stdio_parameters(config), read_timeout_seconds=config.timeout, message_handler=on_message, cache=None)
