"""What the tests of Session-only calls (Evaluate, Compose) share: a plugin process serving in
a mode a test picks, and the host's plugin calls counted by method.

A test plugin's `__main__` calls `serve_in_mode(plugin, kind)`: AGENTHOST_TEST_MODE=unary-only
answers Session UNIMPLEMENTED (a plugin from before Session); AGENTHOST_TEST_MODE=old-sdk reads
a frame of call `kind` as an SDK built before that call would: a frame whose call it does not
know (the unknown field dropped, so it carries no call).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import grpc
import pytest

from host.plugins.connection import PluginConnection
from plugin_sdk import Plugin, serve
from plugin_sdk._server import PluginServicer


def serve_in_mode(plugin: Plugin, kind: str) -> None:
    """Serve `plugin` as AGENTHOST_TEST_MODE says (see the module's docstring)."""
    mode = os.environ.get("AGENTHOST_TEST_MODE")
    session = PluginServicer.Session

    async def no_session(self: Any, request_iterator: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found: agenthost.v1.PluginService/Session")

    async def old_session(self: Any, request_iterator: Any, context: Any) -> None:
        async def frames() -> Any:
            async for frame in request_iterator:
                if frame.WhichOneof("call") == kind:
                    frame.ClearField(kind)  # what an older SDK's proto makes of it
                yield frame

        await session(self, frames(), context)

    if mode == "unary-only":
        PluginServicer.Session = no_session  # type: ignore[method-assign]
    elif mode == "old-sdk":
        PluginServicer.Session = old_session  # type: ignore[method-assign]
    serve(plugin)


@pytest.fixture(name="calls")
def calls_fixture(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The host's plugin calls by method, as they leave PluginConnection.call."""
    counted: Counter[str] = Counter()
    call = PluginConnection.call

    def counting(self: PluginConnection, method: str, *args: Any, **kwargs: Any) -> Any:
        counted[method] += 1
        return call(self, method, *args, **kwargs)

    monkeypatch.setattr(PluginConnection, "call", counting)
    return counted
