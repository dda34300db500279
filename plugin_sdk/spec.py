"""How a plugin package tells the host to start it: the pluggy hook and its return type."""

from __future__ import annotations

from dataclasses import dataclass, field

import pluggy

PROJECT_NAME = "agenthost"
ENTRY_POINT_GROUP = "agenthost.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class PluginSpec:
    """How to start a plugin process.

    Give `module` (run as `python -m module` with the host's interpreter) or
    `command` (an argv list, for plugins in other languages).
    """

    name: str
    version: str = "0.0.0"
    module: str = ""
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if bool(self.module) == bool(self.command):
            raise ValueError(f"plugin spec {self.name!r} needs exactly one of module or command")


class PluginSpecHooks:
    """The hook a plugin's spec module implements (with `@hookimpl`)."""

    @hookspec
    def agenthost_plugin_spec(self) -> PluginSpec:  # type: ignore[empty-body]
        """Called once when the host discovers plugins; return how to start this plugin.

        Must be cheap: import nothing heavy, start nothing.
        """
