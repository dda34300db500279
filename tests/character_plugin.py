"""A plugin whose model shows what the host asked it: its reply is the system prompt it was
given, so a test can check that the character reached the prompt through the real pipeline.
Its provider reads the character's settings through GetSetting, as any plugin would."""

from __future__ import annotations

import html

from plugin_sdk import Plugin, ProviderResult, serve

plugin = Plugin("mirror", version="1.0.0", description="Answers with the prompt it was given.")

SETTINGS = ("voice", "temperature", "ragKnowledge", "DISCORD_API_TOKEN")


@plugin.provider("SETTINGS_SEEN", description="The character settings this plugin can read.")
async def settings_seen(ctx, message, state):
    seen = {key: await ctx.host.get_setting(key) for key in SETTINGS}
    return ProviderResult(text="\n".join(f"setting {k} = {v}" for k, v in seen.items()))


@plugin.model("TEXT_LARGE")
async def mirror(ctx, params):
    system = params["messages"][0]["content"]
    return f"<response><thought>mirror</thought><actions>REPLY</actions><text>{html.escape(system)}</text></response>"


if __name__ == "__main__":
    serve(plugin)
