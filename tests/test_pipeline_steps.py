"""The pipeline's steps and branches through a real host, real plugin processes and a scripted
model (tests/pipeline_model_plugin.py): rooms and mute, shouldRespond, generation asking for
providers, the double-message policies, actions (similes, chains, failures, sender-named)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import grpc
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from pipeline_support import character_file
from support import api_channel

from host.host import Host
from host.store.records import FOLLOWED, MUTED, Agent
from plugin_sdk import PluginSpec
from plugin_sdk.wire import fill_struct, struct_to_dict

STEPS_PLUGIN = PluginSpec(
    name="steps", version="1.0.0", command=(sys.executable, str(Path(__file__).with_name("pipeline_model_plugin.py")))
)


def request(
    text: str, room: str, room_type: str = "group", user: str = "user-1", **content: Any
) -> agent_pb2.SendMessageRequest:
    extra = content.pop("extra", None)
    message = types_pb2.Content(text=text, **content)
    if extra:
        fill_struct(message.extra, extra)
    return agent_pb2.SendMessageRequest(room_id=room, entity_id=user, content=message, room_type=room_type)


def as_dict(e: agent_pb2.SendMessageResponse) -> dict[str, Any]:
    return {"event": e.event_type, "text": e.content.text, "extra": struct_to_dict(e.content.extra)}


async def send(host: Host, text: str, room: str = "hall", room_type: str = "group", **content: Any) -> list[Any]:
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return [as_dict(e) async for e in stub.SendMessage(request(text, room, room_type, **content), timeout=30)]


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


def reply(events: list[dict[str, Any]]) -> str:
    replies = of(events, "REPLY")
    assert len(replies) == 1, events
    return str(replies[0]["text"])


def ended(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["event"] == "RUN_ENDED"
    return dict(events[-1]["extra"])


async def start(start_host: Any, tmp_path: Path, **fields: Any) -> Host:
    host: Host = await start_host(STEPS_PLUGIN, character=character_file(tmp_path, username="ada_bot", **fields))
    return host


async def test_every_step_is_timed_in_the_run_ended_event_and_the_stored_run(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "hello", room_type="dm")
    timings = ended(events)["timings"]
    steps = ["self_check", "persist_message", "announce", "wait_for_room", "check_room", "should_respond"]
    steps += ["compose_state", "offer_actions", "generate", "still_latest", "reply_or_act", "run_evaluators"]
    assert set(steps) <= set(timings) and timings["total"] >= timings["generate"]
    runs = await host.store.list_runs(host.agent_id, room_id="hall")
    assert set(steps) <= set(runs[0].timings)


async def test_a_message_in_a_quiet_room_costs_three_store_calls_and_keeps_its_events(
    start_host: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    host = await start(start_host, tmp_path)
    await send(host, "first", room_type="dm")  # the room's first message makes its room rows
    store, made = host.store, []
    for name in ("begin_run", "create_memory", "get_memories", "end_run", "cache_set", "start_run"):

        def counted(*args: Any, _name: str = name, _call: Any = getattr(store, name)) -> Any:
            made.append(_name)
            return _call(*args)

        monkeypatch.setattr(store, name, counted)
    events = await send(host, "hello", room_type="dm")
    # stored with its run started and the history read; the reply; the run ended with its events
    assert made == ["begin_run", "create_memory", "end_run"]
    message_id = events[0]["extra"]["message_id"]
    (run,) = [r for r in await store.list_runs(host.agent_id, room_id="hall") if r.message_id == message_id]
    assert [e["type"] for e in run.events] == ["RUN_STARTED", "REPLY", "RUN_ENDED"]
    assert run.events[1]["content"]["text"] == reply(events) and run.events[-1]["content"]["extra"]["status"]


async def test_subscribed_plugins_get_message_received_before_the_reply(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    assert reply(await send(host, "was it received?", room_type="dm")) == "received=yes"


async def test_dm_and_api_rooms_answer_without_asking_group_rooms_ask(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    assert reply(await send(host, "hi", room="dm", room_type="dm")).endswith("decided=no")
    assert reply(await send(host, "hi", room="api", room_type="api")).endswith("decided=no")
    assert reply(await send(host, "hi there", room="hall")).endswith("decided=yes")
    room = await host.store.get_room(host.agent_id, "hall")
    assert room is not None and room.type == "GROUP"
    participants = {p.entity_id for p in await host.store.list_participants(host.agent_id, "hall")}
    assert participants == {"user-1", host.agent_id}


async def test_named_or_replied_to_the_agent_answers_without_asking(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    assert reply(await send(host, "hey ADA, a question")).endswith("decided=no")
    assert reply(await send(host, "and @ada_bot too")).endswith("decided=no")
    assert reply(await send(host, "adamant people")).endswith("decided=yes")  # a word, not a prefix
    said = [
        m for m in await host.store.get_memories(host.agent_id, "hall", "messages", 10) if m.entity_id == host.agent_id
    ]
    answer = await send(host, "about that", extra={"inReplyTo": said[0].id})
    assert reply(answer).endswith("decided=no")


async def test_an_ignore_is_stored_with_its_reason(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "decide ignore this one")
    assert of(events, "REPLY") == []
    assert (ended(events)["status"], ended(events)["reason"], ended(events)["decision"]) == (
        "ignored",
        "not for me",
        "IGNORE",
    )
    stored = (await host.store.get_memories(host.agent_id, "hall", "messages", 1))[0]
    assert (stored.entity_id, stored.content.actions, stored.content.thought) == (
        host.agent_id,
        ["IGNORE"],
        "not for me",
    )
    assert stored.metadata["in_reply_to"] != ""


async def test_stop_mutes_the_room_until_a_message_names_the_agent(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    assert ended(await send(host, "decide stop talking"))["reason"] == "asked to be quiet"
    participant = await host.store.get_participant(host.agent_id, "hall", host.agent_id)
    assert participant is not None and participant.state == MUTED
    muted = await send(host, "anyone here?")
    assert ended(muted)["status"] == "ignored" and "muted" in ended(muted)["reason"]
    assert reply(await send(host, "Ada, come back")).startswith("echo: Ada, come back")


async def test_a_mute_set_in_the_store_is_seen(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    await send(host, "hello all")  # the room and its participants exist
    await host.store.set_participant_state(host.agent_id, "hall", host.agent_id, MUTED)
    host.pipeline.rooms.forget("hall")  # what a plugin's MUTE_ROOM through the host would do (or wait 5 s)
    assert ended(await send(host, "anyone?"))["status"] == "ignored"


async def test_in_a_followed_room_the_agent_answers_without_asking(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    assert reply(await send(host, "hello all")).endswith("decided=yes")
    await host.store.set_participant_state(host.agent_id, "hall", host.agent_id, FOLLOWED)
    host.pipeline.rooms.forget("hall")
    assert reply(await send(host, "decide ignore me")).endswith("decided=no")


async def test_another_agent_talking_to_someone_else_is_ignored(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    await host.store.upsert_agent(Agent("other-agent", "Bob"))
    events = await send(host, "Carol, your turn", user="other-agent")
    assert (ended(events)["status"], ended(events)["reason"]) == ("ignored", "another agent talking to someone else")
    assert reply(await send(host, "Ada, your turn", user="other-agent")).endswith("decided=no")


async def test_a_decision_that_never_parses_fails_the_run(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "decide garbage")
    assert ended(events)["status"] == "failed"
    assert "no usable shouldRespond decision after 3 attempts" in ended(events)["error"]


async def test_a_reply_asking_for_a_provider_gets_it_and_is_generated_again(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "want WEATHER_NOW please", room_type="dm")
    assert reply(events) == "It rains, I was told."
    assert ended(events)["providers_asked"] == ["WEATHER_NOW"]
    events = await send(host, "want NOSUCH please", room_type="dm")  # an unknown provider: no second try
    assert reply(events) == "Let me look." and "providers_asked" not in ended(events)


async def test_an_action_named_by_a_simile_runs_and_an_unknown_one_is_reported(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "act REPLY,YELL", room_type="dm")
    assert [e["text"] for e in of(events, "ACTION")] == ["ACT REPLY,YELL"]
    events = await send(host, "act REPLY,BOGUS", room_type="dm")
    assert reply(events) == "Acting now." and of(events, "ACTION") == []
    assert ended(events)["actions_not_run"] == ["BOGUS"]


async def test_chained_actions_see_the_results_before_them_and_a_failure_does_not_stop_them(
    start_host: Any, tmp_path: Path
) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "act FIRST,BROKEN,SECOND", room_type="dm")
    first, broken, second = of(events, "ACTION")
    assert first["text"] == "first done" and broken["extra"]["success"] is False
    assert "the broken action broke" in broken["extra"]["error"]
    assert second["text"].startswith("second saw [FIRST:first done,BROKEN:")
    assert ended(events)["status"] == "degraded"
    assert of(events, "REPLY") == []  # no REPLY named: the actions speak


async def test_actions_the_sender_names_run_when_on_offer(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    events = await send(host, "hello", room_type="dm", actions=["first", "yell", "NOT_THERE"])
    assert reply(events).startswith("echo: hello")
    assert [e["text"] for e in of(events, "ACTION")] == ["first done", "HELLO"]


async def two_messages(host: Host, gate: Path, room: str = "busy") -> tuple[list[Any], list[Any]]:
    """A first message whose reply waits for `gate`, and a second sent while it waits."""
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        call = stub.SendMessage(request(f"one gate {gate}", room, "dm"), timeout=30)
        first = [as_dict(await call.read())]
        assert first[0]["event"] == "RUN_STARTED"  # the first has the room (its model waits at the gate)
        second_call = stub.SendMessage(request("two", room, "dm"), timeout=30)
        second = [as_dict(await second_call.read())]
        assert second[0]["event"] == "RUN_STARTED"  # the second is stored and waits for the room
        gate.touch()
        while (event := await call.read()) is not grpc.aio.EOF:
            first.append(as_dict(event))
        second += [as_dict(e) async for e in second_call]
    return first, second


async def test_supersede_a_newer_message_ends_the_older_run_and_answers_with_it_in_history(
    start_host: Any, tmp_path: Path
) -> None:
    host = await start(start_host, tmp_path)  # supersede is the default
    first, second = await two_messages(host, tmp_path / "gate")
    assert of(first, "REPLY") == [] and ended(first)["status"] == "superseded"
    assert ended(first)["superseded_by"] == second[0]["extra"]["message_id"]
    assert reply(second) == "echo: two | turns=1 | decided=no"  # "one ..." is its history
    texts = [m.content.text for m in await host.store.get_memories(host.agent_id, "busy", "messages", 10)]
    assert texts == ["echo: two | turns=1 | decided=no", "two", f"one gate {tmp_path / 'gate'}"]  # both kept


async def test_merge_answers_the_newer_message_with_the_older_in_the_same_turn(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path, settings={"DOUBLE_MESSAGE_POLICY": "merge"})
    first, second = await two_messages(host, tmp_path / "gate")
    assert ended(first)["status"] == "superseded" and ended(first)["policy"] == "merge"
    assert reply(second) == f"echo: one gate {tmp_path / 'gate'}\ntwo | turns=0 | decided=no"


async def test_queue_answers_both_in_order(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path, settings={"DOUBLE_MESSAGE_POLICY": "queue"})
    first, second = await two_messages(host, tmp_path / "gate")
    assert reply(first).startswith("echo: one gate") and ended(first)["status"] == "completed"
    assert reply(second) == "echo: two | turns=2 | decided=no"


async def test_a_room_keeps_arrival_order_when_the_first_message_is_slower_to_announce(
    start_host: Any, tmp_path: Path
) -> None:
    """The first message's MESSAGE_RECEIVED subscriber takes a second; the second message, sent
    meanwhile, is stored and announced at once, and still waits for the first's turn."""
    host = await start(start_host, tmp_path, settings={"DOUBLE_MESSAGE_POLICY": "queue"})
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        call = stub.SendMessage(request("one announce-slow 1.0", "line", "dm"), timeout=30)
        assert (await call.read()).event_type == "RUN_STARTED"  # stored: its place is taken
        second_call = stub.SendMessage(request("two", "line", "dm"), timeout=30)
        second = [as_dict(e) async for e in second_call]
        first = [as_dict(e) async for e in call]
    assert reply(first) == "echo: one announce-slow 1.0 | turns=0 | decided=no"
    assert reply(second) == "echo: two | turns=2 | decided=no"  # after the first and its reply


async def test_a_superseded_message_in_a_group_room_is_answered_by_the_next_without_asking(
    start_host: Any, tmp_path: Path
) -> None:
    host = await start(start_host, tmp_path)
    gate = tmp_path / "gate"
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        call = stub.SendMessage(request(f"Ada: one gate {gate}", "hall"), timeout=30)
        assert (await call.read()).event_type == "RUN_STARTED"
        second_call = stub.SendMessage(request("decide ignore two", "hall"), timeout=30)
        assert (await second_call.read()).event_type == "RUN_STARTED"
        gate.touch()
        first = [as_dict(e) async for e in call]
        second = [as_dict(e) async for e in second_call]
    assert ended(first)["status"] == "superseded"
    # The older message named the agent: the newer run owes it an answer and does not ask.
    assert reply(second) == "echo: decide ignore two | turns=1 | decided=no"


async def test_without_a_small_model_the_reply_model_decides(start_host: Any, tmp_path: Path) -> None:
    chat = PluginSpec(
        name="chat", version="1.0.0", command=(sys.executable, str(Path(__file__).with_name("chat_plugin.py")))
    )
    host = await start_host(chat)  # TEXT_LARGE only; it answers in the reply format, not a decision
    events = await send(host, "hello group")
    assert ended(events)["status"] == "failed"
    assert "no usable shouldRespond decision after 3 attempts (no <action> element" in ended(events)["error"]
