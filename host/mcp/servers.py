"""The MCP servers the host runs: read from `[mcp.servers.NAME]` and from a character's
`settings.mcp.servers` (elizaOS plugin-mcp's shape), and turned into the spec of the bridge
plugin process that serves each (plugin_sdk.mcp_bridge)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from plugin_sdk.mcp_bridge.config import CONFIG_ENV, PLUGIN_PREFIX
from plugin_sdk.spec import PluginSpec

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_KEYS = {"command", "env", "url", "transport", "headers", "timeout", "start_timeout", "model_type"}
_TRANSPORTS = ("streamable-http", "sse")  # a url's; stdio is a command's
_HTTP_TYPES = ("http", "streamable-http", "streamableHttp")


@dataclass(frozen=True)
class McpServer:
    """One MCP server: a command (stdio) or a URL (Streamable HTTP)."""

    name: str
    command: tuple[str, ...] = ()  #: the server's argv (stdio)
    env: tuple[str, ...] = ()  #: host environment variables passed through to it, by name
    env_values: dict[str, str] = field(default_factory=dict)  #: variables given with values (a character's)
    url: str = ""  #: its HTTP endpoint: Streamable HTTP, or with `sse` the older HTTP+SSE transport
    sse: bool = False  #: the url speaks HTTP+SSE (`transport = "sse"`, elizaOS's type "sse")
    headers: dict[str, str] = field(default_factory=dict)  #: sent with every HTTP request (tokens: never logged)
    timeout: float = 30.0  #: seconds one tool call or resource read may take (the action's deadline cuts it too)
    start_timeout: float = 8.0  #: seconds to start and answer initialize (under [supervision] start_timeout)
    model_type: str = "TEXT_SMALL"  #: the model that fills a tool's arguments

    @property
    def plugin(self) -> str:
        """The name of the plugin that serves it ("mcp-NAME")."""
        return PLUGIN_PREFIX + self.name

    def spec(self) -> PluginSpec:
        """How the host starts its bridge: `python -m plugin_sdk.mcp_bridge`, the server's
        configuration in the bridge's environment (not its command line: headers may hold tokens)."""
        doc = {
            "name": self.name,
            "command": list(self.command),
            "env": list(self.env),
            "env_values": self.env_values,
            "url": self.url,
            "sse": self.sse,
            "headers": self.headers,
            "timeout": self.timeout,
            "start_timeout": self.start_timeout,
            "model_type": self.model_type,
        }
        return PluginSpec(
            name=self.plugin, version="1.0.0", module="plugin_sdk.mcp_bridge", env={CONFIG_ENV: json.dumps(doc)}
        )


def servers_from_table(table: Any) -> tuple[McpServer, ...]:
    """The `[mcp]` table of agenthost.toml: `[mcp.servers.NAME]` with `command = [argv...]` and
    `env = [names]`, or `url` and `headers` (and `transport = "sse"` for an HTTP+SSE server);
    `timeout`, `start_timeout`, `model_type` optional.
    ValueError (one line, naming the table and key) for anything else."""
    if not isinstance(table, dict):
        raise ValueError("[mcp] must be a table")
    unknown = set(table) - {"servers"}
    if unknown:
        raise ValueError(f"unknown key(s) in [mcp]: {', '.join(sorted(unknown))}")
    servers = table.get("servers", {})
    if not isinstance(servers, dict):
        raise ValueError("[mcp.servers] must be a table of servers")
    return tuple(_server(name, entry) for name, entry in servers.items())


def _server(name: str, entry: Any) -> McpServer:
    where = f"[mcp.servers.{name}]"
    _check_name(name, where)
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ValueError(f"{where} needs exactly one of command (a stdio server) or url (Streamable HTTP)")
    if command is not None and not (
        isinstance(command, list) and command and all(isinstance(a, str) and a for a in command)
    ):
        raise ValueError(f"{where} command must be a non-empty list of strings (the server's argv)")
    env = entry.get("env", [])
    if not (isinstance(env, list) and all(isinstance(v, str) for v in env)):
        raise ValueError(f"{where} env must be a list of environment variable names (their values come from the host)")
    if url is not None and env:
        raise ValueError(f"{where} env is for a command; an HTTP server takes headers")
    headers, transport = entry.get("headers", {}), entry.get("transport", "streamable-http")
    if command is not None and (headers or "transport" in entry):
        raise ValueError(f"{where} headers and transport are for a url; a command takes env")
    if transport not in _TRANSPORTS:
        raise ValueError(f"{where} transport must be streamable-http or sse; got {transport!r}")
    return McpServer(
        name=name,
        command=tuple(command or ()),
        env=tuple(env),
        url=_url(url, where) if url is not None else "",
        sse=transport == "sse",
        headers=_headers(headers, where),
        **_common(entry, where),
    )


def servers_from_character(settings: Mapping[str, Any], character: str) -> tuple[McpServer, ...]:
    """A character's `settings.mcp.servers` as elizaOS's plugin-mcp reads it: each server
    `{"type": "stdio", "command", "args", "env": {NAME: value}}` or `{"type": "http" |
    "streamable-http" | "sse", "url", "headers"}`. ValueError names the character and the server."""
    mcp = settings.get("mcp")
    if mcp is None:
        return ()
    if not isinstance(mcp, dict) or not isinstance(mcp.get("servers", {}), dict):
        raise ValueError(f"character {character!r}: settings.mcp.servers must be an object of servers")
    found = []
    for name, entry in mcp.get("servers", {}).items():
        where = f"character {character!r}: settings.mcp.servers.{name}"
        _check_name(name, where)
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object")
        kind = entry.get("type", "stdio")
        if kind == "stdio":
            command, args, env = entry.get("command"), entry.get("args", []), entry.get("env", {})
            if not isinstance(command, str) or not command:
                raise ValueError(f"{where} needs a command (a string)")
            if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
                raise ValueError(f"{where} args must be a list of strings")
            if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
                raise ValueError(f"{where} env must be an object of strings")
            common = _common({k: v for k, v in entry.items() if k in _KEYS - {"command", "env"}}, where)
            found.append(McpServer(name=name, command=(command, *args), env_values=dict(env), **common))
        elif kind in (*_HTTP_TYPES, "sse"):
            common = _common({k: v for k, v in entry.items() if k in _KEYS - {"url", "headers"}}, where)
            url, headers = _url(entry.get("url"), where), _headers(entry.get("headers", {}), where)
            found.append(McpServer(name=name, url=url, sse=kind == "sse", headers=headers, **common))
        else:
            raise ValueError(f"{where} type must be stdio, http, streamable-http or sse; got {kind!r}")
    return tuple(found)


def host_servers(
    configured: tuple[McpServer, ...], characters: Mapping[str, Mapping[str, Any]]
) -> dict[str, McpServer]:
    """Every server the host runs, by plugin name: the configuration's, then each character's
    (`characters`: settings by character name). The same server named twice must be configured
    alike; two different ones under one name are a ValueError."""
    servers: dict[str, McpServer] = {}
    found = [s for name, settings in characters.items() for s in servers_from_character(settings, name)]
    for server in (*configured, *found):
        other = servers.get(server.plugin)
        if other is not None and other != server:
            raise ValueError(f"MCP server {server.name!r} is configured twice, differently: rename one")
        servers[server.plugin] = server
    return servers


def _check_name(name: str, where: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{where}: a server name starts with a letter and holds only letters, digits, _ and -")


def _url(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{where} url must be an http:// or https:// URL; got {url!r}")
    return url


def _headers(headers: Any, where: str) -> dict[str, str]:
    if not (isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())):
        raise ValueError(f"{where} headers must be a table of strings")
    return {str(k): v for k, v in headers.items()}


def _common(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The keys every server may have: the timeouts and the argument model."""
    found: dict[str, Any] = {}
    for key in ("timeout", "start_timeout"):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{where} {key} must be a number of seconds, more than 0; got {value!r}")
            found[key] = float(value)
    if "model_type" in entry:
        if not isinstance(entry["model_type"], str) or not entry["model_type"]:
            raise ValueError(f"{where} model_type must be a model type such as TEXT_SMALL")
        found["model_type"] = entry["model_type"]
    return found
