"""What a plugin author needs to write an agenthost plugin.

from plugin_sdk import Plugin, ProviderResult, serve

plugin = Plugin("time", version="1.0.0")

@plugin.provider("TIME", position=-10)
async def now(ctx, message, state):
    return ProviderResult(text="It is noon.")

if __name__ == "__main__":
    serve(plugin)
"""

from ._context import Context
from ._host_client import HostClient
from ._plugin import Plugin
from ._serve import serve
from ._spec import PluginSpec, hookimpl
from ._types import ActionResult, Attachment, Content, Entity, Memory, ModelOutput, ProviderResult, State

__all__ = [
    "ActionResult",
    "Attachment",
    "Content",
    "Context",
    "Entity",
    "HostClient",
    "Memory",
    "ModelOutput",
    "Plugin",
    "PluginSpec",
    "ProviderResult",
    "State",
    "hookimpl",
    "serve",
]
