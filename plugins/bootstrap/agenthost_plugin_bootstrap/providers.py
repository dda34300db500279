"""The bootstrap providers: what the agent knows around a message, in prompt order.

Positions (lower first): CHARACTER -20, TIME -10, WORLD -5, ACTIONS -1, ENTITIES 0,
RELATIONSHIPS 5, FACTS 10, KNOWLEDGE 15, ATTACHMENTS 20, RECENT_MESSAGES 100. The host already puts the
character, the recent turns and the offered actions in every prompt, so CHARACTER,
RECENT_MESSAGES and ACTIONS are private (asked for by name, e.g. a template's own layout);
WORLD, RELATIONSHIPS and ATTACHMENTS are dynamic as in elizaOS (when the reply asks for them);
TIME, ENTITIES and FACTS run for every message (FACTS is how reflection's facts come back), and
KNOWLEDGE too: it searches the agent's knowledge only when it has some (one cheap look first,
since the search embeds the message).
"""

from __future__ import annotations

from datetime import datetime, timezone
from importlib.metadata import entry_points

import grpc

from plugin_sdk import Context, Memory, ProviderResult, State

from .plugin import plugin
from .room_cache import display_name, room_of

FACTS_TABLE = "facts"
MAX_FACTS = 12
RECENT_COUNT = 20
KNOWLEDGE_HITS = 3
KNOWLEDGE_CHARS = 800  # of each fragment in the prompt


def _time_plugin_installed() -> bool:
    """The time plugin serves TIME already: two plugins may not declare the same provider."""
    return any(ep.name == "time" for ep in entry_points(group="agenthost.plugins"))


@plugin.provider("CHARACTER", description="Who the agent is, as the store knows it.", position=-20, private=True)
async def character(ctx: Context, message: Memory, state: State) -> ProviderResult:
    me = await ctx.host.get_entity(message.agent_id) if message.agent_id else None
    names = (me.names if me else []) or [ctx.agent_name or "the agent"]
    text = f"You are {names[0]}" + (f", also called {', '.join(names[1:])}" if names[1:] else "") + "."
    return ProviderResult(text=text, values={"agentName": names[0]})


async def _now(ctx: Context, message: Memory, state: State) -> ProviderResult:
    now = datetime.now(timezone.utc)
    text = f"The current date and time is {now:%A %d %B %Y, %H:%M} UTC."
    return ProviderResult(text=text, values={"time": now.isoformat(timespec="seconds")})


if not _time_plugin_installed():
    plugin.provider("TIME", description="The current UTC date and time.", position=-10)(_now)


@plugin.provider("WORLD", description="The room and the world it belongs to.", position=-5, dynamic=True)
async def world(ctx: Context, message: Memory, state: State) -> ProviderResult:
    info = await room_of(ctx, message)
    if info is None:
        return ProviderResult()
    room = info.room
    lines = [f"Room: {room.name or room.id} ({room.type or 'API'}, from {room.source or 'api'})"]
    if info.world is not None:
        lines.append(f"World: {info.world.name or info.world.id}")
    lines.append(f"{len(info.participants)} participants")
    values = {"roomType": room.type, "worldName": info.world.name if info.world else ""}
    return ProviderResult(text="\n".join(lines), values=values)


@plugin.provider("ACTIONS", description="The actions this plugin offers.", position=-1, private=True)
async def actions(ctx: Context, message: Memory, state: State) -> ProviderResult:
    offered = sorted(plugin.actions.values(), key=lambda a: a.name)
    return ProviderResult(
        text="\n".join(f"- {a.name}: {a.description}" for a in offered),
        values={"actionNames": ", ".join(a.name for a in offered)},
    )


@plugin.provider("ENTITIES", description="Who is in the room.", position=0)
async def entities(ctx: Context, message: Memory, state: State) -> ProviderResult:
    info = await room_of(ctx, message)
    if info is None or not info.participants:
        return ProviderResult()
    lines = []
    for p in info.participants:  # those with a name: a bare id tells a model nothing
        if p.entity is None or not p.entity.names:
            continue
        who = "you" if p.entity_id == message.agent_id else ("the sender" if p.entity_id == message.entity_id else "")
        lines.append(f"- {', '.join(p.entity.names)}" + (f" ({who})" if who else ""))
    if not lines:
        return ProviderResult(values={"participants": len(info.participants)})
    text = "People in the room:\n" + "\n".join(lines)
    return ProviderResult(text=text, values={"participants": len(info.participants)})


@plugin.provider("RELATIONSHIPS", description="How the sender relates to others.", position=5, dynamic=True)
async def relationships(ctx: Context, message: Memory, state: State) -> ProviderResult:
    if not message.entity_id:
        return ProviderResult()
    found = await ctx.host.get_relationships(message.entity_id)
    if not found:
        return ProviderResult()
    info = await room_of(ctx, message)
    found.sort(key=lambda r: r.interaction_count, reverse=True)
    lines = []
    for r in found[:10]:
        other = r.target_entity_id if r.source_entity_id == message.entity_id else r.source_entity_id
        tags = f" [{', '.join(r.tags)}]" if r.tags else ""
        lines.append(f"- {display_name(other, info)}: {r.interaction_count} interactions{tags}")
    sender = display_name(message.entity_id, info)
    return ProviderResult(text=f"{sender}'s relationships:\n" + "\n".join(lines))


@plugin.provider("FACTS", description="What the agent has learnt about the sender.", position=10)
async def facts(ctx: Context, message: Memory, state: State) -> ProviderResult:
    if not message.entity_id:
        return ProviderResult()
    known = await ctx.host.find_memories(FACTS_TABLE, MAX_FACTS, entity_id=message.entity_id)
    claims = list(dict.fromkeys(m.content.text for m in known if m.content.text))
    if not claims:
        return ProviderResult()
    return ProviderResult(
        text="Facts you know about the sender:\n" + "\n".join(f"- {c}" for c in claims),
        values={"facts": claims},
    )


@plugin.provider("KNOWLEDGE", description="What the agent's documents say about the message.", position=15)
async def knowledge(ctx: Context, message: Memory, state: State) -> ProviderResult:
    query = message.content.text.strip()
    # Knowledge is the agent's own, kept in the agent's room (its id): none, no search.
    if not query or not await ctx.host.find_memories("documents", 1, room_id=message.agent_id):
        return ProviderResult()
    try:
        hits = await ctx.host.search_memories(query, "fragments", KNOWLEDGE_HITS)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        ctx.log.info("KNOWLEDGE: no embedding model yet: %s", exc.details())
        return ProviderResult()
    if not hits:
        return ProviderResult()
    texts = [m.content.text[:KNOWLEDGE_CHARS] for m, _ in hits]
    return ProviderResult(
        text="From your knowledge:\n" + "\n".join(f"- {t}" for t in texts),
        data={"hits": [{"id": m.id, "score": score} for m, score in hits]},
    )


@plugin.provider("ATTACHMENTS", description="The message's attachments as read.", position=20, dynamic=True)
async def attachments(ctx: Context, message: Memory, state: State) -> ProviderResult:
    items = message.content.attachments
    if not items:
        return ProviderResult()
    lines = []
    for a in items:
        about = a.description or a.text[:500]
        lines.append(
            f"- {a.title or a.url or a.id} ({a.content_type or 'unknown type'})" + (f": {about}" if about else "")
        )
    return ProviderResult(text="Attachments:\n" + "\n".join(lines))


@plugin.provider(
    "RECENT_MESSAGES", description="The room's recent messages, with who said them.", position=100, private=True
)
async def recent_messages(ctx: Context, message: Memory, state: State) -> ProviderResult:
    if not message.room_id:
        return ProviderResult()
    recent = list(reversed(await ctx.host.get_memories(message.room_id, "messages", RECENT_COUNT)))
    info = await room_of(ctx, message)
    lines = [
        f"{'You' if m.entity_id == message.agent_id else display_name(m.entity_id, info)}: {m.content.text}"
        for m in recent
        if m.content.text
    ]
    return ProviderResult(text="\n".join(lines), values={"recentMessageCount": len(lines)})
