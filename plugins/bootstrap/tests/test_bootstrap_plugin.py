"""The bootstrap plugin's components through plugin_sdk.testing (no processes): providers,
the room actions' validate and effect, reflection's parsing and storing."""

from __future__ import annotations

import pytest
from agenthost_plugin_bootstrap import room_cache
from agenthost_plugin_bootstrap.plugin import plugin
from agenthost_plugin_bootstrap.reflection import parse_reflection

from plugin_sdk import Attachment, Content, Entity, Memory
from plugin_sdk.rooms import MUTED, Participant, Relationship, Room, RoomInfo, World
from plugin_sdk.testing import FakeHost, PluginHarness

AGENT, USER = "test-agent", "user-1"


def message(text: str, room: str = "hall", **content: object) -> Memory:
    return Memory(content=Content(text=text, **content), entity_id=USER, agent_id=AGENT, room_id=room)  # type: ignore[arg-type]


@pytest.fixture
def host() -> FakeHost:
    room_cache._rooms.clear()
    fake = FakeHost(agent_id=AGENT)
    fake.rooms["hall"] = RoomInfo(
        Room(id="hall", name="Hall", type="GROUP", source="discord", world_id="w"),
        World(id="w", name="Guild"),
        [Participant(AGENT, "", Entity(id=AGENT, names=["Ada"])), Participant(USER, "", Entity(id=USER, names=["Bo"]))],
    )
    return fake


async def test_entities_and_world_describe_the_room(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    people = await harness.get_provider("ENTITIES", message("hi"))
    assert people.text == "People in the room:\n- Ada (you)\n- Bo (the sender)"
    host.rooms["hall"].participants.append(Participant("anon"))
    assert (await harness.get_provider("ENTITIES", message("hi"))).text == people.text  # no name: left out
    host.rooms["bare"] = RoomInfo(Room(id="bare"), None, [Participant(USER)])
    assert (await harness.get_provider("ENTITIES", message("hi", room="bare"))).text == ""
    world = await harness.get_provider("WORLD", message("hi"))
    assert world.text.splitlines() == ["Room: Hall (GROUP, from discord)", "World: Guild", "2 participants"]


async def test_facts_lists_the_senders_facts_once_each(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    assert (await harness.get_provider("FACTS", message("hi"))).text == ""
    for claim in ("likes tea", "likes tea", "lives in Porto"):
        await host.create_memory(Memory(content=Content(text=claim), entity_id=USER, room_id="x", table_name="facts"))
    await host.create_memory(Memory(content=Content(text="not me"), entity_id="other", room_id="x", table_name="facts"))
    facts = await harness.get_provider("FACTS", message("hi"))
    assert facts.text == "Facts you know about the sender:\n- lives in Porto\n- likes tea"


async def test_attachments_and_recent_messages(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    pic = Attachment(id="a1", title="cat.png", content_type="image/png", description="a grey cat")
    assert (await harness.get_provider("ATTACHMENTS", message("look", attachments=[pic]))).text == (
        "Attachments:\n- cat.png (image/png): a grey cat"
    )
    await host.create_memory(Memory(content=Content(text="hello"), entity_id=USER, room_id="hall"))
    await host.create_memory(Memory(content=Content(text="hi Bo"), entity_id=AGENT, room_id="hall"))
    recent = await harness.get_provider("RECENT_MESSAGES", message("x"))
    assert recent.text == "Bo: hello\nYou: hi Bo"


async def test_mute_is_offered_when_asked_for_until_muted_then_unmute(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    quiet, back, chat = message("please be quiet"), message("you can unmute now"), message("what a nice day")
    assert await harness.validate_action("MUTE_ROOM", quiet) and not await harness.validate_action("MUTE_ROOM", chat)
    assert not await harness.validate_action("UNMUTE_ROOM", back)  # not muted
    _, result = await harness.invoke_action("MUTE_ROOM", quiet)
    assert result.success and result.values == {"roomState": MUTED, "previousRoomState": ""}
    assert room_cache.agent_state(host.rooms["hall"], AGENT) == MUTED
    assert not await harness.validate_action("MUTE_ROOM", quiet) and await harness.validate_action("UNMUTE_ROOM", back)
    await harness.invoke_action("UNMUTE_ROOM", back)
    assert room_cache.agent_state(host.rooms["hall"], AGENT) == ""
    assert not await harness.validate_action("MUTE_ROOM", message("quiet", room="nowhere"))  # no such room


async def test_follow_then_unfollow(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    assert not await harness.validate_action("UNFOLLOW_ROOM", message("unfollow this"))
    await harness.invoke_action("FOLLOW_ROOM", message("follow this room"))
    assert room_cache.agent_state(host.rooms["hall"], AGENT) == "FOLLOWED"
    assert await harness.validate_action("UNFOLLOW_ROOM", message("unfollow this"))


async def test_silence_is_offered_only_where_the_host_asks_before_answering(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    host.rooms["api"] = RoomInfo(Room(id="api", type="API"))
    for action in ("IGNORE", "NONE"):
        assert await harness.validate_action(action, message("hi"))  # a GROUP room
        assert not await harness.validate_action(action, message("hi", room="api"))
    assert await harness.validate_action("REPLY", message("hi", room="api"))


async def test_knowledge_searches_only_when_the_agent_has_documents(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    tomatoes = Memory(content=Content(text="the tomatoes are watered at seven"), room_id=AGENT, table_name="fragments")
    await host.create_memory(tomatoes)
    assert (await harness.get_provider("KNOWLEDGE", message("when are the tomatoes watered"))).text == ""
    await host.create_memory(Memory(room_id=AGENT, table_name="documents", metadata={"source": "garden.md"}))
    await host.create_memory(Memory(content=Content(text="a pump"), room_id=AGENT, table_name="fragments"))
    found = await harness.get_provider("KNOWLEDGE", message("when are the tomatoes watered"))
    assert found.text.splitlines() == ["From your knowledge:", "- the tomatoes are watered at seven", "- a pump"]


def test_reflection_parses_xml_json_and_garbage() -> None:
    xml = (
        "<response><facts><fact><claim>Bo likes tea</claim><type>fact</type></fact></facts>"
        "<relationships><relationship><source>Bo</source><target>Ada</target><tags>friend, fan</tags>"
        "</relationship></relationships></response>"
    )
    assert parse_reflection(xml) == (["Bo likes tea"], [("Bo", "Ada", ["friend", "fan"])])
    link = '{"sourceEntityId": "Bo", "targetEntityId": "Cy", "tags": "x"}'
    as_json = f'Sure: {{"facts": [{{"claim": "Bo is 30"}}], "relationships": [{link}]}}'
    assert parse_reflection(as_json) == (["Bo is 30"], [("Bo", "Cy", ["x"])])
    assert parse_reflection("I cannot do that {") == ([], [])
    assert parse_reflection("<facts><fact>unclosed") == ([], [])


async def test_reflection_stores_new_facts_and_counts_the_relationship(host: FakeHost) -> None:
    answer = (
        "<response><facts><fact><claim>1. Bo likes tea</claim></fact><fact><claim>Bo likes tea</claim></fact>"
        "<fact><claim>one fact, a short sentence</claim></fact></facts>"  # the prompt's example, copied
        "<relationships><relationship><source>Bo</source><target>Ada</target><tags>friend</tags></relationship>"
        "<relationship><source>Bo</source><target>Nobody</target></relationship></relationships></response>"
    )
    host.models["TEXT_SMALL"] = lambda params: answer
    harness = PluginHarness(plugin, host=host, agent_id=AGENT)
    said = Memory(content=Content(text="hi Bo"), entity_id=AGENT, room_id="hall")
    result = await harness.run_evaluator("REFLECTION", message("I like tea"), responses=[said])
    assert result.values == {"factsStored": 1.0, "relationshipsCounted": 1.0}
    assert [m.content.text for m in host.memories if m.table_name == "facts"] == ["Bo likes tea"]
    again = await harness.run_evaluator("REFLECTION", message("I like tea"), responses=[said])
    assert again.values["factsStored"] == 0  # already known
    [pair] = host.relationships
    assert (pair.source_entity_id, pair.target_entity_id, pair.tags, pair.interaction_count) == (
        USER,
        AGENT,
        ["friend"],
        4,  # twice named by the model, twice by talking
    )
    assert isinstance(pair, Relationship)
    assert not await harness.validate_evaluator("REFLECTION", Memory(entity_id=AGENT, agent_id=AGENT, room_id="hall"))


def test_manifest_marks_dynamic_and_private_providers() -> None:
    providers = {p.name: (p.position, p.dynamic, p.private) for p in plugin.manifest().providers}
    assert providers["FACTS"] == (10, False, False) and providers["ENTITIES"] == (0, False, False)
    assert providers["WORLD"][1] and providers["RELATIONSHIPS"][1] and providers["ATTACHMENTS"][1]
    assert providers["RECENT_MESSAGES"][2] and providers["CHARACTER"][2] and providers["ACTIONS"][2]
    assert [a.name for a in plugin.manifest().actions] == [
        "REPLY",
        "IGNORE",
        "NONE",
        "MUTE_ROOM",
        "UNMUTE_ROOM",
        "FOLLOW_ROOM",
        "UNFOLLOW_ROOM",
    ]


async def test_reflection_runs_on_a_rooms_first_message_then_every_interval(host: FakeHost) -> None:
    harness = PluginHarness(plugin, host=host, agent_id=AGENT, config={"REFLECTION_INTERVAL": "3"})
    runs = [await harness.validate_evaluator("REFLECTION", message(f"m{i}", room="new-room")) for i in range(7)]
    assert runs == [True, False, False, True, False, False, True]
