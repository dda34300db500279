"""The benchmark's plugin: one provider that answers with the message's text, the same
job the bare echo server does, so the ratio measures the plugin mechanism alone; and an
action doing the same (bench/plugin_call.py's action side: InvokeAction vs the Session)."""

from plugin_sdk import ActionResult, Plugin, ProviderResult, serve

plugin = Plugin("benchecho", version="1.0.0")


@plugin.provider("ECHO")
async def echo(ctx, message, state):
    return ProviderResult(text=message.content.text)


@plugin.action("ECHO")
async def echo_action(ctx, message, state, options, callback):
    return ActionResult(text=message.content.text)


if __name__ == "__main__":
    serve(plugin)
