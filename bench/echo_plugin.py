"""The benchmark's plugin: one provider that answers with the message's text, the same
job the bare echo server does, so the ratio measures the plugin mechanism alone."""

from plugin_sdk import Plugin, ProviderResult, serve

plugin = Plugin("benchecho", version="1.0.0")


@plugin.provider("ECHO")
async def echo(ctx, message, state):
    return ProviderResult(text=message.content.text)


if __name__ == "__main__":
    serve(plugin)
