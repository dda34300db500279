"""The plugin of tests/test_plugin_session.py, run as a real process by the host.

Providers: ECHO (the message's text), WAIT (blocks until RELEASE is called; when
cancelled it writes "cancelled <text>" to the file named by the MARKER config key),
RELEASE (lets every WAIT go), SLEEP (sleeps the message's text in milliseconds, then
answers it), BIG (answers that many bytes of text). An action and an evaluator with
validators, a model handler and an event, so the stream and unary answers can be
compared for every call kind the Session carries.

AGENTHOST_TEST_MODE=unary-only makes it answer Session UNIMPLEMENTED, as a plugin built
against the protocol before Session does.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc

from plugin_sdk import ActionResult, Plugin, ProviderResult, serve
from plugin_sdk._server import PluginServicer

plugin = Plugin("sessiontest", version="1.0.0")
gate = asyncio.Event()


@plugin.provider("ECHO")
async def echo(ctx, message, state):
    return ProviderResult(text=message.content.text, values={"n": len(message.content.text)})


@plugin.provider("WAIT")
async def wait(ctx, message, state):
    try:
        await gate.wait()
    except asyncio.CancelledError:
        marker = ctx.config.get("MARKER")
        if marker:
            with Path(marker).open("a") as file:
                file.write(f"cancelled {message.content.text}\n")
        raise
    return ProviderResult(text=f"released {message.content.text}")


@plugin.provider("RELEASE")
async def release(ctx, message, state):
    gate.set()
    return ProviderResult(text="released")


@plugin.provider("SLEEP")
async def sleep(ctx, message, state):
    await asyncio.sleep(int(message.content.text) / 1000)
    return ProviderResult(text=message.content.text)


@plugin.provider("BIG")
async def big(ctx, message, state):
    return ProviderResult(text="x" * int(message.content.text))


@plugin.action("SHOUT", validate=lambda ctx, message, state: "!" in message.content.text)
async def shout(ctx, message, state, options, callback):
    return ActionResult(text=message.content.text.upper())


@plugin.evaluator("COUNT", validate=lambda ctx, message, state: bool(message.content.text))
async def count(ctx, message, state, responses):
    return ActionResult(text=str(len(responses)), values={"length": len(message.content.text)})


@plugin.model("TEXT_SMALL")
async def model(ctx, params):
    return f"model says {params.get('prompt', '')}"


@plugin.event("PING")
async def on_ping(ctx, payload):
    if payload.get("fail"):
        raise ValueError("asked to fail")


async def _no_session(self, request_iterator, context):  # what gRPC stacks answer for a missing method
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found: agenthost.v1.PluginService/Session")


if __name__ == "__main__":
    if os.environ.get("AGENTHOST_TEST_MODE") == "unary-only":
        PluginServicer.Session = _no_session  # type: ignore[method-assign]
    serve(plugin)
