"""The plugin of tests/test_evaluate_call.py, run as a real process by the host.

Evaluators: COUNT (applies to a message with text; answers how many responses it got),
PICKY (its validate raises on "boom"), FAILS (applies always, its run raises).

AGENTHOST_TEST_MODE=unary-only answers Session UNIMPLEMENTED (a plugin from before Session);
AGENTHOST_TEST_MODE=old-sdk reads an Evaluate frame as an SDK built before Evaluate would: a
frame whose call it does not know (the unknown field dropped, so it carries no call).
"""

from __future__ import annotations

import os

import grpc

from plugin_sdk import ActionResult, Plugin, serve
from plugin_sdk._server import PluginServicer

plugin = Plugin("evaluatetest", version="1.0.0")


@plugin.evaluator("COUNT", validate=lambda ctx, message, state: bool(message.content.text))
async def count(ctx, message, state, responses):
    return ActionResult(text=str(len(responses)), values={"length": len(message.content.text), "state": state.text})


def _picky(ctx, message, state):
    if message.content.text == "boom":
        raise ValueError("picky tripped")
    return True


@plugin.evaluator("PICKY", validate=_picky)
async def picky(ctx, message, state, responses):
    return ActionResult(text="picky ran")


@plugin.evaluator("FAILS", validate=lambda ctx, message, state: True)
async def fails(ctx, message, state, responses):
    raise RuntimeError("evaluator tripped")


async def _no_session(self, request_iterator, context):  # what gRPC stacks answer for a missing method
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found: agenthost.v1.PluginService/Session")


_session = PluginServicer.Session


async def _old_session(self, request_iterator, context):
    async def frames():
        async for frame in request_iterator:
            if frame.WhichOneof("call") == "evaluate":
                frame.ClearField("evaluate")  # what an older SDK's proto makes of it
            yield frame

    await _session(self, frames(), context)


if __name__ == "__main__":
    mode = os.environ.get("AGENTHOST_TEST_MODE")
    if mode == "unary-only":
        PluginServicer.Session = _no_session  # type: ignore[method-assign]
    elif mode == "old-sdk":
        PluginServicer.Session = _old_session  # type: ignore[method-assign]
    serve(plugin)
