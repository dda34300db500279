"""How a character's `plugins` entries name agenthost plugins.

elizaOS characters list npm packages ("@elizaos/plugin-discord", "plugin-weather"); agenthost
plugins are named as discovery lists them ("weather"). A package name maps to the plugin named
after its `plugin-` part; the elizaOS plugins whose work the host does itself (the SQL store,
model providers: the router) need no plugin and are accepted as they are.
"""

from __future__ import annotations

#: elizaOS plugins the host stands in for, and what does their work here.
SERVED_BY_HOST = {
    "sql": "the host's store",
    "bootstrap": "the host's pipeline (and the bootstrap plugin, when installed)",
    "openai": "the router",
    "anthropic": "the router",
    "ollama": "the router",
    "local-ai": "the router",
    "openrouter": "the router",
    "groq": "the router",
    "google-genai": "the router",
}


def plugin_name(entry: str) -> str:
    """The agenthost plugin name a character's `plugins` entry stands for: "@scope/plugin-x",
    "plugin-x" and "x" all name plugin "x"."""
    name = entry.strip()
    if name.startswith("@") and "/" in name:
        name = name.split("/", 1)[1]
    return name.removeprefix("plugin-")


def host_stand_in(entry: str) -> str:
    """What in the host does the work of an elizaOS plugin the host needs no plugin for, or ""."""
    if entry.strip().startswith("@elizaos/"):
        return SERVED_BY_HOST.get(plugin_name(entry), "")
    return ""
