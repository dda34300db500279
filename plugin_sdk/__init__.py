"""What a plugin author needs to write an agenthost plugin.

from plugin_sdk import Plugin, ProviderResult, serve

plugin = Plugin("time", version="1.0.0")

@plugin.provider("TIME", position=-10)
async def now(ctx, message, state):
    return ProviderResult(text="It is noon.")

if __name__ == "__main__":
    serve(plugin)

Public modules, shared with the host and the router (nothing outside the SDK imports an
underscore module):

- `plugin_sdk.types`: the dataclasses plugins and the host exchange (Content, Memory, ...)
- `plugin_sdk.wire`: their conversion to and from the agenthost.v1 protos
- `plugin_sdk.protocol`: the handshake, environment variables and auth metadata
- `plugin_sdk.spec`: PluginSpec and the pluggy hook a plugin package implements
- `plugin_sdk.process`: running a gRPC process under the host (cookie, handshake, shutdown)
- `plugin_sdk.auth`: bearer tokens on gRPC servers (the check, the token file, loopback addresses)
- `plugin_sdk.sqlite_thread`: a SQLite file off the event loop (its connection on a thread of its
  own; writers on one file take turns), the host store's and the router accounting's
- `plugin_sdk.decoding`: requests parsed inside the call, so bytes that are no request end INVALID_ARGUMENT
- `plugin_sdk.testing`: PluginHarness and FakeHost, for tests without processes
"""

from ._context import Context
from ._host_client import HostClient
from ._plugin import Plugin
from ._serve import serve
from .spec import PluginSpec, hookimpl
from .types import ActionResult, Attachment, Content, Entity, Memory, ModelOutput, ProviderResult, State

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
