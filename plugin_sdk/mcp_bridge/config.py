"""The bridge's configuration, as the host hands it over (JSON in $AGENTHOST_MCP_SERVER)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

CONFIG_ENV = "AGENTHOST_MCP_SERVER"
"""The environment variable holding the server's configuration as JSON."""
PLUGIN_PREFIX = "mcp-"
"""A bridge's plugin name is this and the server's name."""


@dataclass(frozen=True)
class BridgeConfig:
    """One MCP server and how to reach it (fields as host/mcp/servers.McpServer documents them)."""

    name: str
    command: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    env_values: dict[str, str] = field(default_factory=dict)
    url: str = ""
    sse: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    start_timeout: float = 8.0
    model_type: str = "TEXT_SMALL"

    @property
    def plugin(self) -> str:
        return PLUGIN_PREFIX + self.name


def from_environment() -> BridgeConfig:
    """The configuration the host gave; ValueError (one line) when it is missing or malformed."""
    raw = os.environ.get(CONFIG_ENV, "")
    try:
        doc: dict[str, Any] = json.loads(raw)
        return BridgeConfig(
            name=str(doc["name"]),
            command=tuple(doc.get("command", ())),
            env=tuple(doc.get("env", ())),
            env_values=dict(doc.get("env_values", {})),
            url=str(doc.get("url", "")),
            sse=bool(doc.get("sse", False)),
            headers=dict(doc.get("headers", {})),
            timeout=float(doc.get("timeout", 30.0)),
            start_timeout=float(doc.get("start_timeout", 8.0)),
            model_type=str(doc.get("model_type", "TEXT_SMALL")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"${CONFIG_ENV} does not hold an MCP server's configuration: {exc}") from None
