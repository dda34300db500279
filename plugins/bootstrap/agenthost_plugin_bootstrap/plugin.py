"""The bootstrap plugin: one Plugin, its components declared in their own modules."""

from __future__ import annotations

from plugin_sdk import Plugin

from . import __version__

plugin = Plugin(
    "bootstrap",
    version=__version__,
    description="The agent's everyday context (time, room, people, facts), room actions and reflection.",
)

# Each module declares its components on `plugin` when imported.
from . import actions, providers, reflection  # noqa: E402,F401
