"""REFLECTION: after the agent answered, a small model reads the recent conversation and names
new facts and relationships; facts are stored as `facts` memories of the sender (FACTS gives
them back), relationships as counted interactions between entities of the room.

The model is asked for XML; JSON is accepted too, and a malformed answer stores nothing.
"""

from __future__ import annotations

import json
import re

from plugin_sdk import ActionResult, Content, Context, Memory, State
from plugin_sdk.rooms import Relationship, RoomInfo

from .plugin import plugin
from .providers import FACTS_TABLE
from .room_cache import display_name, room_of

CONVERSATION = 10  # recent messages the model reads
MAX_NEW_FACTS = 5
MODEL_TYPE = "TEXT_SMALL"
DEFAULT_INTERVAL = 4

PROMPT = """You reflect on a conversation to remember it. From the recent messages, list facts \
worth remembering about the people (new information only: not what is already known), and \
relationships between people who talked.

Known facts:
{known}

Recent messages:
{conversation}

Answer in XML only:
<response>
<thought>a few words</thought>
<facts><fact><claim>one fact, a short sentence</claim><type>fact|status|opinion</type></fact></facts>
<relationships><relationship><source>name</source><target>name</target><tags>friend,colleague</tags></relationship></relationships>
</response>"""


#: What a local model (which honours GBNF) may answer: up to 3 facts, each a short line. Models
#: that take no grammar answer the prompt's full format (relationships too), parsed the same way.
GRAMMAR = "\n".join(
    (
        'root ::= "<response><facts>" fact? fact? fact? "</facts></response>"',
        'fact ::= "<fact><claim>" claim "</claim></fact>"',
        "claim ::= [^<\\n]{3,120}",
    )
)


_INSTRUCTIONS = PROMPT.lower()
_NUMBERING = re.compile(r"^(?:\d+[.)]|[-*•])\s*")  # "1. ", "- ": a list's marks, not the fact


def _tag(name: str, text: str) -> list[str]:
    return [m.strip() for m in re.findall(rf"<{name}>(.*?)</{name}>", text, re.S | re.I)]


def parse_reflection(output: str) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """Facts (claims) and relationships (source, target, tags) from XML or JSON; anything
    unreadable is left out."""
    facts: list[str] = []
    links: list[tuple[str, str, list[str]]] = []
    start = output.find("{")
    if "<fact" not in output and "<relationship" not in output and start >= 0:
        try:
            data = json.loads(output[start : output.rfind("}") + 1])
        except ValueError:
            data = {}
        for item in data.get("facts", []) if isinstance(data, dict) else []:
            claim = item.get("claim") if isinstance(item, dict) else item
            if isinstance(claim, str) and claim.strip():
                facts.append(claim.strip())
        for item in data.get("relationships", []) if isinstance(data, dict) else []:
            if isinstance(item, dict):
                source = str(item.get("source") or item.get("sourceEntityId") or "")
                target = str(item.get("target") or item.get("targetEntityId") or "")
                tags = item.get("tags") or []
                tags = tags.split(",") if isinstance(tags, str) else [str(t) for t in tags]
                if source and target:
                    links.append((source.strip(), target.strip(), [t.strip() for t in tags if t.strip()]))
        return facts, links
    for block in _tag("fact", output):
        claims = _tag("claim", block) or [re.sub(r"<[^>]+>", "", block).strip()]
        facts += [c for c in claims[:1] if c]
    for block in _tag("relationship", output):
        source = (_tag("source", block) or _tag("sourceEntityId", block) or [""])[0]
        target = (_tag("target", block) or _tag("targetEntityId", block) or [""])[0]
        tags = [t.strip() for t in (_tag("tags", block) or [""])[0].split(",") if t.strip()]
        if source and target:
            links.append((source, target, tags))
    return facts, links


def _entity_named(name: str, info: RoomInfo | None, message: Memory) -> str:
    """The id of the room's participant called `name` (or with that id); "" when none."""
    wanted = name.strip().lower()
    if info is not None:
        for p in info.participants:
            names = [n.lower() for n in (p.entity.names if p.entity else [])]
            if wanted == p.entity_id.lower() or wanted in names:
                return p.entity_id
    if wanted in ("user", "the user", "sender", message.entity_id.lower()):
        return message.entity_id
    return ""


#: Messages of a room since its last reflection, by (agent, room); a room not seen yet since this
#: process started reflects at once. Bounded: past it, every room starts afresh.
_since: dict[tuple[str, str], int] = {}
_ROOMS_COUNTED = 10_000


def _interval(ctx: Context) -> int:
    """Reflect every this many messages of a room (setting REFLECTION_INTERVAL, default 4): a
    model call per message would cost more than the conversation it reads changes."""
    try:
        return max(1, int(ctx.setting("REFLECTION_INTERVAL") or DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL


async def _validate(ctx: Context, message: Memory, state: State) -> bool:
    """Counts the room's messages (the host asks once per message): true for a sender's message
    when the room has not reflected yet, or has had `_interval` messages since it did."""
    if not (message.room_id and message.entity_id and message.entity_id != message.agent_id):
        return False
    key = (message.agent_id, message.room_id)
    seen = _since.get(key)
    if seen is not None and seen + 1 < _interval(ctx):
        _since[key] = seen + 1
        return False
    if len(_since) >= _ROOMS_COUNTED:
        _since.clear()
    _since[key] = 0
    return True


@plugin.evaluator(
    "REFLECTION",
    description="Remembers facts and relationships from the recent conversation.",
    similes=["REFLECT", "REMEMBER"],
    validate=_validate,
)
async def reflect(ctx: Context, message: Memory, state: State, responses: list[Memory]) -> ActionResult:
    info = await room_of(ctx, message)
    recent = list(reversed(await ctx.host.get_memories(message.room_id, "messages", CONVERSATION)))
    known = await ctx.host.find_memories(FACTS_TABLE, 50, entity_id=message.entity_id)
    known_claims = {m.content.text.strip().lower() for m in known}

    def who(m: Memory) -> str:
        return "you (the agent)" if m.entity_id == message.agent_id else display_name(m.entity_id, info)

    conversation = "\n".join(f"{who(m)}: {m.content.text}" for m in recent if m.content.text)
    prompt = PROMPT.format(known="\n".join(f"- {m.content.text}" for m in known) or "none", conversation=conversation)
    output = await ctx.host.use_model(
        MODEL_TYPE, messages=[{"role": "user", "content": prompt}], max_tokens=160, grammar=GRAMMAR
    )
    claims, links = parse_reflection(output.text)
    claims = [c for c in (_NUMBERING.sub("", c).strip() for c in claims) if c]
    stored: list[str] = []
    for claim in claims:
        if claim.lower() in known_claims or claim.lower() in _INSTRUCTIONS or len(stored) >= MAX_NEW_FACTS:
            continue  # known, or the prompt's own example copied (small models do)
        known_claims.add(claim.lower())
        fact = Memory(
            content=Content(text=claim, source="reflection"),
            entity_id=message.entity_id,
            room_id=message.room_id,
            world_id=message.world_id,
            table_name=FACTS_TABLE,
            metadata={"from_message": message.id},
        )
        stored.append((await ctx.host.create_memory(fact)).content.text)
    related = 0
    for source_name, target_name, tags in links:
        source, target = _entity_named(source_name, info, message), _entity_named(target_name, info, message)
        if source and target and source != target:
            await ctx.host.upsert_relationship(Relationship(source, target, tags), count_interaction=True)
            related += 1
    if message.agent_id and responses:  # the sender and the agent talked
        await ctx.host.upsert_relationship(Relationship(message.entity_id, message.agent_id), count_interaction=True)
    return ActionResult(values={"factsStored": len(stored), "relationshipsCounted": related}, data={"facts": stored})
