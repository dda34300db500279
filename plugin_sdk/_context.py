"""The context every handler receives."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ._host_client import HostClient
from .process import CALL_SCOPE


class ServiceNotRunning(LookupError):
    """`Context.service` named a service that is not declared or not started."""


@dataclass
class Context:
    """Who the plugin serves and how to reach the host.

    `config` holds the plugin's own settings from the host configuration;
    `host` reaches memories, entities, settings, models and events;
    `service(name)` reaches this plugin's running services.
    """

    plugin: str
    host: HostClient
    agent_id: str = ""
    agent_name: str = ""
    config: dict[str, str] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("plugin"))
    # The running service instances by name; the ComponentRunner that calls the handlers
    # fills it as it starts and stops services (one dict, shared, so no copy goes stale).
    _services: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def run_id(self) -> str:
        """The id of the host's run the call being handled works for ("" outside a run, e.g. in
        a service or at Init). The SDK's log lines written meanwhile carry it already."""
        return CALL_SCOPE.get()[1]

    def setting(self, key: str, default: str | None = None) -> str | None:
        """A setting from the plugin's own config (no round trip); see `host.get_setting` for the rest."""
        return self.config.get(key, default)

    def service(self, name: str) -> Any:
        """The running instance of this plugin's service `name`: the object whose `start(ctx)`
        the host called. Handlers reach shared state through it instead of class attributes.

        Services start after Init (the host starts every plugin's services once all are
        initialised; in tests, `await harness.start_service(name)`) and stop before the
        process ends, so a provider called before or after that gets ServiceNotRunning.
        """
        try:
            return self._services[name]
        except KeyError:
            running = ", ".join(sorted(self._services)) or "none"
            raise ServiceNotRunning(
                f"plugin {self.plugin!r} has no running service {name!r} (running: {running})"
            ) from None
