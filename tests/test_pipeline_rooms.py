"""Rooms as the pipeline keeps them (host/agent/rooms.py) on a real SQLite store: made with their
first message, participants added once, the mute state cached and re-read; and names_agent."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from host.agent.character import Character
from host.agent.rooms import Rooms, names_agent
from host.store import Store, open_store
from host.store.records import MUTED
from plugin_sdk.types import Content, Memory

ADA = Character(name="Ada", username="@ada_bot")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Ada, hi", True),
        ("hi ada!", True),
        ("ping @ada_bot", True),
        ("@ADA_BOT?", True),
        ("adamant", False),
        ("Nevada", False),
        ("ada_bot2", False),
        ("", False),
    ],
)
def test_names_agent_matches_a_whole_name_or_username_in_any_case(text: str, named: bool) -> None:
    assert names_agent(text, ADA) is named


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store("", tmp_path)
    yield opened
    await opened.close()


def message(room: str, sender: str, world: str = "") -> Memory:
    return Memory(content=Content(text="hi", source="discord"), entity_id=sender, room_id=room, world_id=world)


async def test_a_room_is_made_with_its_first_message_and_its_senders_join_it(store: Store) -> None:
    rooms = Rooms(store, "agent-1", state_ttl_s=60)
    view = await rooms.view(message("r1", "u1", world="w1"), "group")
    assert (view.type, view.muted, view.followed) == ("GROUP", False, False)
    room = await store.get_room("agent-1", "r1")
    assert room is not None and (room.type, room.source, room.world_id) == ("GROUP", "discord", "w1")
    await rooms.view(message("r1", "u2"), "dm")  # a known room keeps its type
    assert (await store.get_room("agent-1", "r1")).type == "GROUP"  # type: ignore[union-attr]
    members = {p.entity_id for p in await store.list_participants("agent-1", "r1")}
    assert members == {"agent-1", "u1", "u2"}


async def test_the_mute_state_is_kept_then_read_again(store: Store) -> None:
    fresh, cached = Rooms(store, "agent-1", state_ttl_s=0), Rooms(store, "agent-1", state_ttl_s=60)
    await fresh.view(message("r1", "u1"), "group")
    await cached.view(message("r1", "u1"), "group")
    await store.set_participant_state("agent-1", "r1", "agent-1", MUTED)
    assert (await fresh.view(message("r1", "u1"))).muted  # re-read at once (ttl 0)
    assert not (await cached.view(message("r1", "u1"))).muted  # still trusted
    cached.forget("r1")
    assert (await cached.view(message("r1", "u1"))).muted
    await cached.set_state("r1", "")
    assert not (await cached.view(message("r1", "u1"))).muted
    assert (await store.get_participant("agent-1", "r1", "agent-1")).state == ""  # type: ignore[union-attr]
