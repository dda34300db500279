"""Session batches against a real plugin process: calls made while a write is under way go out
together as one batch frame, answers ready together come back as one, every call answered as
it would be alone; a host that does not offer batches gets frames one by one."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc

from plugin_sdk import Content, Memory, PluginSpec
from plugin_sdk.session_frames import BATCHES_METADATA, FRAME_LIMIT, groups
from plugin_sdk.wire import memory_to_proto

PLUGIN = Path(__file__).with_name("session_plugin.py")  # ECHO, SLEEP, WAIT, ... (see there)
NAME = "sessiontest"


def spec() -> PluginSpec:
    return PluginSpec(name=NAME, version="1.0.0", command=(sys.executable, str(PLUGIN)))


def echo(text: str, provider: str = "ECHO") -> plugin_pb2.GetProvidersRequest:
    message = Memory(room_id="room-b", entity_id="user-1", content=Content(text=text, source="test"))
    return plugin_pb2.GetProvidersRequest(names=[provider], message=memory_to_proto(message))


async def test_concurrent_calls_share_batch_frames_and_each_gets_its_own_answer(start_host):
    host = await start_host(spec())
    connection = host.plugins.get(NAME).connection()
    session = connection._session
    assert session is not None and session.batches  # the plugin accepted the host's offer
    written: list[Any] = []
    write = session._call.write

    async def counting(frame: plugin_pb2.SessionRequest) -> None:
        written.append(frame)
        await write(frame)

    session._call.write = counting
    texts = [f"m{i}" for i in range(60)]
    replies = await asyncio.gather(*(connection.call("GetProviders", echo(t)) for t in texts))
    assert [r.results[0].text for r in replies] == texts
    assert sum(len(f.batch) or 1 for f in written) == 60  # every call sent once
    assert any(f.batch for f in written) and len(written) < 60
    assert all(f.id == 0 and not f.WhichOneof("call") for f in written if f.batch)
    assert connection.transport == "session"


async def test_the_plugin_answers_in_batches_only_to_a_host_that_offered_them(start_host):
    host = await start_host(spec())
    instance = host.plugins.get(NAME).instance
    auth = ("authorization", f"Bearer {instance.token}")
    async with grpc.aio.insecure_channel(instance.connection.target) as channel:
        stub = plugin_pb2_grpc.PluginServiceStub(channel)
        for offered in (True, False):
            stream = stub.Session(metadata=(auth, BATCHES_METADATA) if offered else (auth,), timeout=10)
            greeting = await stream.read()
            assert greeting.id == 0 and greeting.batches is offered and not greeting.WhichOneof("reply")
            # 30 calls in one batch frame (ids 1-30), each sleeping 50 ms: their answers are
            # ready together; plus a cancel for id 31, never sent, which is ignored
            calls = [plugin_pb2.SessionRequest(id=i, get_providers=echo("50", "SLEEP")) for i in range(1, 31)]
            cancel = plugin_pb2.SessionRequest(id=31, cancel=plugin_pb2.SessionCancel())
            await stream.write(plugin_pb2.SessionRequest(batch=[*calls, cancel]))
            answers: dict[int, Any] = {}
            messages = 0
            while len(answers) < 30:
                frame = await stream.read()
                messages += 1
                assert offered or not frame.batch
                for answer in frame.batch or (frame,):
                    assert answer.id not in answers
                    answers[answer.id] = answer
            assert sorted(answers) == list(range(1, 31))
            assert all(a.get_providers.results[0].text == "50" for a in answers.values())
            assert (messages < 30) is offered
            stream.cancel()


def test_groups_keep_order_and_stay_under_the_frame_limit():
    sizes = [10, FRAME_LIMIT // 2, FRAME_LIMIT // 2, 5, FRAME_LIMIT - 8, 1]
    cut = groups(list(range(len(sizes))), lambda i: sizes[i])
    assert [i for group in cut for i in group] == list(range(len(sizes)))
    assert all(sum(sizes[i] + 8 for i in group) <= FRAME_LIMIT for group in cut if len(group) > 1)
    assert groups([7], lambda i: 10**9) == [[7]]  # one frame is written as it is
