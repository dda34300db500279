"""A plugin for tests of several agents in one host: its provider RECALL reads the room's
memories back through RuntimeService (so it shows which agent's memory a plugin sees, and that
the SDK says which agent each call acts for); it records the AGENT_LIFECYCLE events it gets."""

from __future__ import annotations

from plugin_sdk import Plugin, ProviderResult, serve

plugin = Plugin("probe", version="1.0.0", description="Reads memories back, for agent isolation tests.")
_states: list[str] = []


@plugin.provider("RECALL", description="What this room's memory holds for the agent.", position=1)
async def recall(ctx, message, state):
    memories = await ctx.host.get_memories(message.room_id, count=50)
    owners = sorted({m.agent_id for m in memories})
    texts = " / ".join(m.content.text for m in reversed(memories) if m.id != message.id)
    return ProviderResult(text=f"recall: [{texts}] owners={','.join(owners)}")


@plugin.provider("LIFECYCLE", description="The agent lifecycle events this plugin received.", position=2)
async def lifecycle(ctx, message, state):
    return ProviderResult(text="lifecycle: " + " ".join(_states))


@plugin.event("AGENT_LIFECYCLE")
async def on_lifecycle(ctx, payload):
    _states.append(f"{payload['name']}:{payload['state']}")


if __name__ == "__main__":
    serve(plugin)
