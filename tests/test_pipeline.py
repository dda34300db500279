"""The message pipeline through AgentService.SendMessage, as a client meets it: a real host,
real plugin processes, a deterministic model plugin (tests/chat_plugin.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from pipeline_support import queueing
from support import api_channel, fixture_spec

from host.host import Host
from host.store import open_store
from plugin_sdk import PluginSpec
from plugin_sdk.wire import struct_to_dict

CHAT = PluginSpec(
    name="chat", version="1.0.0", command=(sys.executable, str(Path(__file__).with_name("chat_plugin.py")))
)


def request(text: str, room: str = "room-1", user: str = "user-1") -> agent_pb2.SendMessageRequest:
    return agent_pb2.SendMessageRequest(room_id=room, entity_id=user, content=types_pb2.Content(text=text))


def as_dict(e: agent_pb2.SendMessageResponse) -> dict[str, Any]:
    """One run event as a dict: event, run_id, text, actions, source, extra."""
    return {
        "event": e.event_type,
        "run_id": e.run_id,
        "text": e.content.text,
        "actions": list(e.content.actions),
        "source": e.content.source,
        "extra": struct_to_dict(e.content.extra),
    }


async def send(host: Host, text: str, room: str = "room-1") -> list[dict[str, Any]]:
    """The run's events as dicts (see `as_dict`)."""
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return [as_dict(e) async for e in stub.SendMessage(request(text, room), timeout=30)]


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


async def room_texts(host: Host, room: str = "room-1") -> list[tuple[str, str]]:
    """(speaker, text) of the room's stored messages, oldest first."""
    memories = await host.store.get_memories(host.agent_id, room, "messages", 100)
    return [("agent" if m.entity_id == host.agent_id else m.entity_id, m.content.text) for m in reversed(memories)]


async def test_a_message_gets_a_reply_that_is_stored_with_it(start_host: Any) -> None:
    host = await start_host(CHAT)
    events = await send(host, "hello there")
    assert [e["event"] for e in events] == ["RUN_STARTED", "REPLY", "EVALUATOR", "RUN_ENDED"]
    assert len({e["run_id"] for e in events}) == 1
    reply = of(events, "REPLY")[0]
    assert reply["text"] == "echo: hello there | turns=0 | sky=green"  # the provider's fact reached the model
    assert reply["actions"] == ["REPLY"]
    assert of(events, "RUN_ENDED")[0]["extra"]["status"] == "completed"
    assert of(events, "EVALUATOR")[0]["extra"]["values"] == {"responses": 1.0}
    assert await room_texts(host) == [("user-1", "hello there"), ("agent", reply["text"])]
    run = await host.store.get_run(host.agent_id, reply["run_id"])  # runs are stored
    assert run is not None and run.status == "completed" and run.room_id == "room-1" and run.ended_at_ms > 0


async def test_the_model_sees_the_rooms_earlier_messages(start_host: Any) -> None:
    host = await start_host(CHAT)
    await send(host, "first")
    await send(host, "other room", room="room-2")
    events = await send(host, "second")
    assert of(events, "REPLY")[0]["text"].startswith("echo: second | turns=2 ")  # first + its reply, not room-2


async def test_an_action_the_model_picks_runs_and_what_it_says_is_stored(start_host: Any) -> None:
    host = await start_host(CHAT)
    events = await send(host, "please shout this")
    assert [e["event"] for e in events] == ["RUN_STARTED", "REPLY", "ACTION", "ACTION", "EVALUATOR", "RUN_ENDED"]
    callback, result = of(events, "ACTION")
    assert (callback["text"], callback["actions"]) == ("Taking a deep breath...", ["SHOUT"])
    assert (result["text"], result["extra"]["success"]) == ("PLEASE SHOUT THIS", True)
    assert of(events, "EVALUATOR")[0]["extra"]["values"] == {"responses": 3.0}
    assert [t for _, t in await room_texts(host)] == [
        "please shout this",
        "Shouting now.",
        "Taking a deep breath...",
        "PLEASE SHOUT THIS",
    ]


async def test_an_action_whose_validate_refuses_is_not_run_even_if_the_model_names_it(start_host: Any) -> None:
    host = await start_host(CHAT)
    events = await send(host, "I insist")  # the model names SHOUT; SHOUT's validate says no
    assert of(events, "ACTION") == []
    assert of(events, "REPLY")[0]["actions"] == ["REPLY"]


async def test_replies_that_do_not_parse_are_retried_up_to_three_times(start_host: Any) -> None:
    host = await start_host(CHAT)
    events = await send(host, "garbage 2 then fine")
    assert of(events, "REPLY")[0]["text"].startswith("echo: garbage 2 then fine")
    events = await send(host, "garbage 3 never fine")
    assert of(events, "REPLY") == []
    ended = of(events, "RUN_ENDED")[0]["extra"]
    assert ended["status"] == "failed"
    assert "no usable reply after 3 attempts (no <response> element" in ended["error"]
    assert ("user-1", "garbage 3 never fine") in await room_texts(host)  # the message itself is kept


async def test_no_model_ends_the_run_failed_with_the_reason(start_host: Any) -> None:
    host = await start_host(fixture_spec("alpha"))  # no TEXT_LARGE handler, no router
    events = await send(host, "hello")
    ended = of(events, "RUN_ENDED")[0]["extra"]
    assert ended["status"] == "failed"
    assert ended["error"] == "the model did not answer (NOT_FOUND): no loaded plugin serves model type 'TEXT_LARGE'"
    assert await room_texts(host) == [("user-1", "hello")]


async def test_an_action_alone_speaks_for_the_agent(start_host: Any) -> None:
    host = await start_host(CHAT)
    events = await send(host, "shout alone")
    assert [e["event"] for e in events] == ["RUN_STARTED", "ACTION", "ACTION", "EVALUATOR", "RUN_ENDED"]
    assert [t for _, t in await room_texts(host)] == ["shout alone", "Taking a deep breath...", "SHOUT ALONE"]


async def test_a_client_can_ask_for_some_events_only_and_the_run_is_the_same(start_host: Any) -> None:
    host = await start_host(CHAT)
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        picked = request("hello there")
        picked.events.append("REPLY")
        events = [as_dict(e) async for e in stub.SendMessage(picked, timeout=30)]
        wrong = request("and again")
        wrong.events.extend(["REPLY", "REPLIES"])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            [e async for e in stub.SendMessage(wrong, timeout=30)]
    assert [e["event"] for e in events] == ["REPLY", "RUN_ENDED"]  # RUN_ENDED comes unasked
    assert events[0]["text"] == "echo: hello there | turns=0 | sky=green"
    assert events[1]["extra"]["status"] == "completed"
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'REPLIES' is not an event type" in (info.value.details() or "")
    run = await host.store.get_run(host.agent_id, events[0]["run_id"])  # the run kept every event
    assert run is not None and [e["type"] for e in run.events] == ["RUN_STARTED", "REPLY", "EVALUATOR", "RUN_ENDED"]
    assert await room_texts(host) == [("user-1", "hello there"), ("agent", events[0]["text"])]


async def test_a_conversation_on_one_stream_runs_each_message_in_turn(start_host: Any) -> None:
    host = await start_host(CHAT)
    async with api_channel(host) as channel:
        token = (("authorization", f"Bearer {host.api_token}"),)  # the channel's interceptors add it to unary calls
        call = agent_pb2_grpc.AgentServiceStub(channel).Converse(timeout=30, metadata=token)
        runs = []
        for text in ("first", "second"):
            message = request(text)
            message.events.append("REPLY")
            await call.write(agent_pb2.ConverseRequest(message=message))
            events = []
            while not events or events[-1]["event"] != "RUN_ENDED":
                events.append(as_dict((await call.read()).event))
            runs.append(events)
        await call.write(agent_pb2.ConverseRequest(message=request("   ")))  # nothing to respond to
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
    assert [[e["event"] for e in run] for run in runs] == [["REPLY", "RUN_ENDED"]] * 2
    assert [run[0]["text"].split(" | ")[0] for run in runs] == ["echo: first", "echo: second"]
    assert all(run[1]["extra"]["status"] == "completed" for run in runs)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "content.text is empty" in (info.value.details() or "")
    texts = [t for _, t in await room_texts(host)]
    assert texts == ["first", runs[0][0]["text"], "second", runs[1][0]["text"]]  # each answered before the next


@pytest.mark.parametrize(
    ("room", "text", "problem"),
    [
        ("", "hi", "room_id is required"),
        ("r", "  ", "content.text is empty and there are no attachments"),
    ],
)
async def test_bad_messages_are_refused_and_the_host_keeps_serving(
    start_host: Any, room: str, text: str, problem: str
) -> None:
    host = await start_host(CHAT)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await send(host, text, room=room)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem in (info.value.details() or "")
    assert of(await send(host, "still there?"), "REPLY")


async def test_messages_of_one_room_are_answered_in_order(start_host: Any, tmp_path: Path) -> None:
    host = await start_host(CHAT, character=queueing(tmp_path))  # the `queue` double-message policy
    async with api_channel(host) as channel:
        call = agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request("slow 0.5 first"), timeout=30)
        # RUN_STARTED comes once the first message is stored and its run has the room.
        assert (await call.read()).event_type == "RUN_STARTED"
        second = await send(host, "second")
        first: list[dict[str, Any]] = []
        while (event := await call.read()) is not grpc.aio.EOF:
            first.append(as_dict(event))
    # The second waited for the first's run: its model saw the first message and its reply.
    assert of(second, "REPLY")[0]["text"].startswith("echo: second | turns=2 ")
    assert of(first, "REPLY")[0]["text"].startswith("echo: slow 0.5 first | turns=0")


async def test_a_run_finishes_and_is_stored_when_the_sender_goes_away(start_host: Any) -> None:
    host = await start_host(CHAT)
    async with api_channel(host) as channel:
        call = agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request("slow 0.5 going away"))
        first = await call.read()
        assert first.event_type == "RUN_STARTED"
        call.cancel()
    for _ in range(100):
        if len(await room_texts(host)) == 2:
            break
        await asyncio.sleep(0.05)
    assert (await room_texts(host))[1][1].startswith("echo: slow 0.5 going away")


async def test_a_run_cut_short_by_the_host_stopping_ends_interrupted(start_host: Any) -> None:
    host = await start_host(CHAT)
    async with api_channel(host) as channel:
        call = agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request("slow 30 never answered"))
        started = await call.read()
        assert started.event_type == "RUN_STARTED"
        await host.stop()
        ended = await call.read()
    assert ended.event_type == "RUN_ENDED"
    assert struct_to_dict(ended.content.extra)["status"] == "interrupted"
    assert struct_to_dict(ended.content.extra)["error"] == "the host stopped before the run finished"
    store = await open_store("", host.config.data_dir)  # the stored run says so too
    try:
        run = await store.get_run(host.agent_id, started.run_id)
    finally:
        await store.close()
    assert run is not None and run.status == "interrupted" and run.error == "the host stopped before the run finished"


async def test_rooms_leave_no_lock_behind(start_host: Any) -> None:
    host = await start_host(CHAT)
    await asyncio.gather(*(send(host, f"slow 0.1 message {i}", room=f"room-{i % 3}") for i in range(9)))
    assert host.pipeline._room_turns == {}


async def test_a_message_that_arrives_just_after_another_is_not_in_its_history(start_host: Any, tmp_path: Path) -> None:
    host = await start_host(CHAT, character=queueing(tmp_path))
    for round_ in range(10):
        room = f"tie-{round_}"
        both = await asyncio.gather(send(host, "first", room=room), send(host, "second", room=room))
        # Whichever arrived first saw nothing; the other saw it and its reply, never it alone.
        turns = sorted(of(events, "REPLY")[0]["text"].split(" | ")[1] for events in both)
        assert turns == ["turns=0", "turns=2"]


async def test_the_agents_own_message_is_ignored_and_not_stored(start_host: Any) -> None:
    host = await start_host(CHAT)
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        events = [e async for e in stub.SendMessage(request("echo of myself", user=host.agent_id), timeout=30)]
    assert [e.event_type for e in events] == ["RUN_ENDED"]
    assert struct_to_dict(events[0].content.extra)["status"] == "ignored"
    assert await room_texts(host) == []


async def test_an_attachment_alone_is_a_message_and_the_model_is_told_what_it_is(start_host: Any) -> None:
    host = await start_host(CHAT)
    attachment = types_pb2.Attachment(
        id="a1",
        url="https://example.org/q3.pdf",
        content_type="application/pdf",
        title="Q3 report",
        text="Sales up 4%.",
    )
    message = agent_pb2.SendMessageRequest(
        room_id="room-1", entity_id="user-1", content=types_pb2.Content(attachments=[attachment])
    )
    async with api_channel(host) as channel:
        events = [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(message, timeout=30)]
    reply = next(e for e in events if e.event_type == "REPLY")
    assert reply.content.text.startswith(
        "echo: [attachment: Q3 report <https://example.org/q3.pdf> application/pdf] Sales up 4%. | turns=0"
    )


async def test_a_slow_evaluator_does_not_hold_the_rooms_next_message(start_host: Any) -> None:
    host = await start_host(CHAT)
    order: list[str] = []

    async def run(text: str) -> None:
        async with api_channel(host) as channel:
            async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request(text), timeout=30):
                order.append(f"{text.split()[-1]} {e.event_type}")
                if text.endswith("first") and e.event_type == "REPLY":
                    second.set()

    second = asyncio.Event()
    first = asyncio.create_task(run("reflect 3 first"))
    await second.wait()  # the first message is answered; its evaluator now takes 3 s
    await run("then second")
    await first
    # The second message was answered while the first's evaluator still ran.
    assert order.index("second REPLY") < order.index("first EVALUATOR") < order.index("first RUN_ENDED")
    assert (await room_texts(host))[-1] == ("agent", "echo: then second | turns=2 | sky=green")
