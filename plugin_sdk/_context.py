"""The context every handler receives."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ._host_client import HostClient


@dataclass
class Context:
    """Who the plugin serves and how to reach the host.

    `config` holds the plugin's own settings from the host configuration;
    `host` reaches memories, entities, settings, models and events.
    """

    plugin: str
    host: HostClient
    agent_id: str = ""
    agent_name: str = ""
    config: dict[str, str] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("plugin"))

    def setting(self, key: str, default: str | None = None) -> str | None:
        """A setting from the plugin's own config (no round trip); see `host.get_setting` for the rest."""
        return self.config.get(key, default)
