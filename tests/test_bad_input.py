"""Bad input at the edge: a clear status (never UNKNOWN), a short message, no traceback in
the host's log, and a host that keeps serving. Real host, real plugin processes.

RuntimeService is called on the plugins' socket with a plugin's token, as that plugin would;
AgentService and RouterService on the public listener with the API token, as a client would.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from agenthost.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
    runtime_pb2,
    runtime_pb2_grpc,
    types_pb2,
)
from support import api_channel, eventually, fixture_spec, plugin_socket

from host.api.runtime_service import MEMORIES_LEFT_OUT
from host.host import Host
from host.status import Lifecycle
from host.store import StoreUnavailable
from plugin_sdk import ActionResult, Content, Entity, Memory, PluginSpec
from plugin_sdk.limits import MAX_ERROR_BYTES, MAX_MEMORY_BYTES, MAX_NESTING
from plugin_sdk.wire import struct_to_dict

TESTS = Path(__file__).parent
CHAT = PluginSpec(name="chat", version="1.0.0", command=(sys.executable, str(TESTS / "chat_plugin.py")))
HUGE = "x" * 200_000  # a 200 KB id, name or level


@asynccontextmanager
async def runtime(host: Host, plugin: str = "alpha") -> AsyncIterator[tuple[Any, tuple[tuple[str, str], ...]]]:
    """RuntimeService on the plugins' socket, and the metadata that makes a call `plugin`'s."""
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        yield runtime_pb2_grpc.RuntimeServiceStub(channel), plugin_metadata(host, plugin)


def plugin_metadata(host: Host, plugin: str) -> tuple[tuple[str, str], ...]:
    """What a plugin's calls to RuntimeService carry: its token and its name."""
    return (("authorization", f"Bearer {host.plugins.get(plugin).instance.token}"), ("x-agenthost-plugin", plugin))


async def failure(call: Any) -> tuple[grpc.StatusCode, str]:
    """The status a call ends with: (code, details); the call must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        result = await call
        if hasattr(result, "__aiter__"):  # a stream: read it to its end
            [_ async for _ in result]
    return caught.value.code(), caught.value.details() or ""


async def stream_failure(call: Any) -> tuple[grpc.StatusCode, str]:
    """Like `failure`, for a server-streaming call."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [_ async for _ in call]
    return caught.value.code(), caught.value.details() or ""


async def assert_still_serving(host: Host) -> None:
    """The host answers its API and its plugins' callbacks, and logged no traceback."""
    async with api_channel(host) as channel:
        status = await agent_pb2_grpc.AgentServiceStub(channel).GetStatus(agent_pb2.GetStatusRequest(), timeout=5)
    assert status.state == agent_pb2.LIFECYCLE_STATE_READY
    async with runtime(host, host.status().plugins[0].name) as (stub, metadata):
        await stub.GetSetting(runtime_pb2.GetSettingRequest(key="GREETING"), metadata=metadata, timeout=5)
    assert host.state() == Lifecycle.READY
    tracebacks = [r.message for r in host.log_buffer.tail(10_000) if "Traceback" in r.message]
    assert tracebacks == []


def memory(text: str = "hi", room: str = "room-1", **fields: Any) -> types_pb2.Memory:
    return types_pb2.Memory(room_id=room, content=types_pb2.Content(text=text), **fields)


def nested(levels: int) -> dict[str, Any]:
    """A JSON object nesting `levels` deep: nested(1) == {"a": 1}."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def message(
    text: str = "hi", room: str = "room-1", extra: dict[str, Any] | None = None
) -> agent_pb2.SendMessageRequest:
    request = agent_pb2.SendMessageRequest(room_id=room, entity_id="user-1", content=types_pb2.Content(text=text))
    request.content.extra.update(extra or {})
    return request


async def send(host: Host, request: agent_pb2.SendMessageRequest) -> list[agent_pb2.SendMessageResponse]:
    async with api_channel(host) as channel:
        return [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=30)]


def run_end(events: list[agent_pb2.SendMessageResponse]) -> dict[str, Any]:
    (ended,) = [e for e in events if e.event_type == "RUN_ENDED"]
    return struct_to_dict(ended.content.extra)


# --- RuntimeService ------------------------------------------------------------------------


async def test_a_plugin_cannot_write_in_another_agents_scope(start_host):
    host = await start_host(fixture_spec("alpha"))
    other = "00000000-0000-0000-0000-00000000beef"
    async with runtime(host) as (stub, metadata):
        code, details = await failure(
            stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=memory(agent_id=other)), metadata=metadata)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED and "is not the agent this plugin serves" in details
        entity = types_pb2.Entity(id="e-1", agent_id=other, names=["mallory"])
        code, _ = await failure(stub.UpsertEntity(runtime_pb2.UpsertEntityRequest(entity=entity), metadata=metadata))
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert await host.store.get_memories(other, "room-1", "messages", 10) == []
    await host.store.upsert_entity(Entity(id="e-2", agent_id=other, names=["theirs"]))
    async with runtime(host) as (stub, metadata):
        code, _ = await failure(stub.GetEntity(runtime_pb2.GetEntityRequest(id="e-2"), metadata=metadata))
    assert code == grpc.StatusCode.NOT_FOUND  # another agent's entity is not there for this one
    await assert_still_serving(host)


async def test_a_store_that_stops_answering_is_unavailable_and_the_host_keeps_serving(start_host, monkeypatch):
    host = await start_host(fixture_spec("alpha"))
    working = host.store.create_memory

    async def gone(*args: Any, **kwargs: Any) -> Any:
        # What the store raises when its database stops answering (tests/test_store_contract.py).
        raise StoreUnavailable("the database stopped answering")

    monkeypatch.setattr(host.store, "create_memory", gone)
    async with runtime(host) as (stub, metadata):
        request = runtime_pb2.CreateMemoryRequest(memory=memory("while gone"))
        assert await failure(stub.CreateMemory(request, metadata=metadata)) == (
            grpc.StatusCode.UNAVAILABLE,
            "the database stopped answering",
        )
    monkeypatch.setattr(host.store, "create_memory", working)
    async with runtime(host) as (stub, metadata):  # back once the database is
        stored = await stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=memory("after")), metadata=metadata)
    assert stored.memory.content.text == "after"
    await assert_still_serving(host)


async def test_a_memory_id_already_taken_is_already_exists(start_host):
    host = await start_host(fixture_spec("alpha"))
    async with runtime(host) as (stub, metadata):
        first = await stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=memory(id="m-1")), metadata=metadata)
        assert first.memory.id == "m-1"
        again = runtime_pb2.CreateMemoryRequest(memory=memory("again", id="m-1"))
        assert await failure(stub.CreateMemory(again, metadata=metadata)) == (
            grpc.StatusCode.ALREADY_EXISTS,
            "a memory with id 'm-1' is already stored; leave the id empty and the host picks one",
        )
        await stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=memory(id=HUGE)), metadata=metadata)
        code, details = await failure(
            stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=memory(id=HUGE)), metadata=metadata)
        )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert details.startswith(f"a memory with id '{'x' * 80}'... (200000 characters) is already stored")
    stored = await host.store.get_memories(host.agent_id, "room-1", "messages", 10)
    assert [m.content.text for m in stored] == ["hi", "hi"]  # the first "m-1" kept, not replaced
    await assert_still_serving(host)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"messages": "hello"}, "params.messages must be a list of {role, content} objects, got a string"),
        ({"messages": [{"role": "user"}]}, "params.messages[0] has no content (each message is {role, content}"),
        ({"messages": [5]}, "params.messages[0] must be an object with a role and a content, got a number"),
        ({"messages": [{"role": "user", "content": 5}]}, "params.messages[0].content must be a string, got a number"),
        ({"max_tokens": None}, "params.max_tokens must be a whole number from 0 (the default) to 2147483647, got null"),
        ({"max_tokens": -1}, "params.max_tokens must be a whole number from 0 (the default) to 2147483647, got -1"),
        ({"max_tokens": 2.5}, "params.max_tokens must be a whole number from 0 (the default) to 2147483647, got 2.5"),
        ({"temperature": "hot"}, "params.temperature must be a number, 0 or more, got a string"),
        ({"prompt": ["a"]}, "params.prompt must be a string, got a list"),
        ({"audio": 5}, "params.audio must be a string, got a number"),
        ({"audio": "not base64!"}, "params.audio must be base64 (the audio's bytes, for TRANSCRIPTION)"),
    ],
)
async def test_use_model_params_of_the_wrong_shape_are_invalid_argument(start_host, params, problem):
    # No router: the call would go to the plugins' model handlers (alpha serves TEXT_SMALL).
    host = await start_host(fixture_spec("alpha"))
    request = runtime_pb2.RuntimeServiceUseModelRequest(model_type="TEXT_SMALL")
    request.params.update(params)
    async with runtime(host) as (stub, metadata):
        code, details = await failure(stub.UseModel(request, metadata=metadata, timeout=5))
        assert (code, details[: len(problem)]) == (grpc.StatusCode.INVALID_ARGUMENT, problem)
        fine = runtime_pb2.RuntimeServiceUseModelRequest(model_type="TEXT_SMALL")
        fine.params.update({"prompt": "ping", "max_tokens": 8, "messages": [{"role": "user", "content": "ping"}]})
        assert (await stub.UseModel(fine, metadata=metadata, timeout=5)).text == "alpha says: PING"
    await assert_still_serving(host)


async def test_negative_counts_and_tails_are_invalid_argument(start_host):
    host = await start_host(fixture_spec("alpha"))
    async with runtime(host) as (stub, metadata):
        request = runtime_pb2.GetMemoriesRequest(room_id="room-1", count=-1)
        assert await failure(stub.GetMemories(request, metadata=metadata)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "count must be 0..1000, got -1",
        )
    async with api_channel(host) as channel:
        logs = agent_pb2_grpc.AgentServiceStub(channel).GetLogs(agent_pb2.GetLogsRequest(tail=-1), timeout=5)
        assert await stream_failure(logs) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "tail must be 0 (the last 100) or more, got -1",
        )
    await assert_still_serving(host)


async def test_huge_inputs_are_quoted_by_a_short_prefix(start_host):
    host = await start_host(fixture_spec("alpha"))
    prefix = f"'{'x' * 80}'... (200000 characters)"
    async with runtime(host) as (stub, metadata):
        entity = await failure(stub.GetEntity(runtime_pb2.GetEntityRequest(id=HUGE), metadata=metadata))
        assert entity == (grpc.StatusCode.NOT_FOUND, f"no entity with id {prefix}")
        model = await failure(
            stub.UseModel(runtime_pb2.RuntimeServiceUseModelRequest(model_type=HUGE), metadata=metadata, timeout=5)
        )
        assert model == (grpc.StatusCode.NOT_FOUND, f"no loaded plugin serves model type {prefix}")
    async with api_channel(host) as channel:
        agent = agent_pb2_grpc.AgentServiceStub(channel)
        unload = await failure(agent.UnloadPlugin(agent_pb2.UnloadPluginRequest(name=HUGE), timeout=5))
        assert unload == (grpc.StatusCode.NOT_FOUND, f"no loaded plugin named {prefix} (loaded: alpha)")
        load = await failure(agent.LoadPlugin(agent_pb2.LoadPluginRequest(name=HUGE), timeout=5))
        assert load[0] == grpc.StatusCode.NOT_FOUND and load[1].startswith(f"no installed plugin named {prefix}")
        level = await stream_failure(agent.GetLogs(agent_pb2.GetLogsRequest(level=HUGE), timeout=5))
        assert level[0] == grpc.StatusCode.INVALID_ARGUMENT and level[1].startswith(f"unknown log level {prefix};")
    await assert_still_serving(host)


async def test_router_calls_with_negative_numbers_are_invalid_argument(start_host):
    """A real router process, reached through the host as a client reaches it."""
    host = await start_host(fixture_spec("alpha"), router_address="")
    assert await eventually(lambda: host.router.managed.instance is not None, timeout=60)
    async with api_channel(host) as channel:
        router = router_pb2_grpc.RouterServiceStub(channel)
        for meta, problem in (
            ({"max_output_tokens": -1}, "meta.max_output_tokens must be 0 (the default) or more, got -1"),
            ({"timeout_ms": -1}, "meta.timeout_ms must be 0 (the default) or more, got -1"),
        ):
            request = router_pb2.InvokeRequest(prompt="hi", meta=router_pb2.CallMeta(**meta))
            assert await failure(router.Invoke(request, timeout=10)) == (grpc.StatusCode.INVALID_ARGUMENT, problem)
            explain = router.Explain(router_pb2.ExplainRequest(request=request), timeout=10)
            assert await failure(explain) == (grpc.StatusCode.INVALID_ARGUMENT, problem)
            stream = router.InvokeStream(router_pb2.InvokeStreamRequest(request=request), timeout=10)
            assert await stream_failure(stream) == (grpc.StatusCode.INVALID_ARGUMENT, problem)
        image = router_pb2.ChatMessage(role="user", content="what is this?", image_urls=[""])
        request = router_pb2.InvokeRequest(messages=[image])
        assert await failure(router.Invoke(request, timeout=10)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "messages[0].image_urls[0] must be an http(s) or data: URL, got ''",
        )
        # Bytes that are no request reach the router unparsed (the host forwards them as they are).
        invoke = channel.unary_unary("/agenthost.v1.RouterService/Invoke")
        code, details = await failure(invoke(b"\xff\xff", timeout=10))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("the request cannot be parsed")
        usage = await failure(router.GetUsage(router_pb2.GetUsageRequest(limit=-1), timeout=10))
        assert usage == (grpc.StatusCode.INVALID_ARGUMENT, "limit must be 0 (100 rows) or more, got -1")
        booked = (await router.GetUsage(router_pb2.GetUsageRequest(), timeout=10)).rows
        assert [row for row in booked if not row.agent_name] == []  # no refused call (the agent's may be)
    # The host's own model calls are checked before they reach the router.
    request = runtime_pb2.RuntimeServiceUseModelRequest(model_type="TEXT_SMALL")
    request.params.update({"messages": [5]})
    async with runtime(host) as (stub, metadata):
        code, details = await failure(stub.UseModel(request, metadata=metadata, timeout=10))
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "params.messages[0] must be an object with a role and a content, got a number",
    )
    await assert_still_serving(host)


# --- sizes and depths ----------------------------------------------------------------------


async def test_messages_beyond_the_size_or_depth_limit_are_refused_at_the_edge(start_host):
    host = await start_host(CHAT)
    too_big = message("x" * MAX_MEMORY_BYTES)
    code, details = await failure(send(host, too_big))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("the message is 1048") and "over the limit of 1048576 (1 MiB)" in details
    code, details = await failure(send(host, message(extra=nested(MAX_NESTING + 1))))
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "content.extra nests 17 levels deep, over the limit of 16: flatten it",
    )
    # At the limit, every plugin still reads the message: the run is clean.
    events = await send(host, message("deep but fine", extra=nested(MAX_NESTING)))
    assert [e.event_type for e in events] == ["RUN_STARTED", "REPLY", "EVALUATOR", "RUN_ENDED"]
    assert run_end(events)["status"] == "completed" and "skipped" not in run_end(events)
    assert events[1].content.text.startswith("echo: deep but fine | turns=0 | sky=green")  # the provider answered
    assert len(await host.store.get_memories(host.agent_id, "room-1", "messages", 10)) == 2  # not the refused ones
    await assert_still_serving(host)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, encoded by hand."""
    size, length = len(payload), b""
    while size > 0x7F:
        length, size = length + bytes([size & 0x7F | 0x80]), size >> 7
    return bytes([number << 3 | 2]) + length + bytes([size]) + payload


def too_deep_for_protobuf(levels: int = 40) -> bytes:
    """A Struct nested `levels` deep, serialized: protobuf itself will not build or parse one."""
    value = bytes([0x11]) + bytes(8)  # Value{number_value: 0}
    for _ in range(levels):
        struct = _field(1, _field(1, b"a") + _field(2, value))  # Struct{fields: {"a": value}}
        value = _field(5, struct)  # Value{struct_value: struct}
    return struct


async def test_requests_nested_deeper_than_protobuf_parses_are_invalid_argument(start_host):
    host = await start_host(CHAT)
    extra = too_deep_for_protobuf()
    message = _field(1, b"room-1") + _field(3, _field(1, b"hi") + _field(6, extra))  # SendMessageRequest
    memory = _field(1, _field(4, b"room-1") + _field(6, _field(6, extra)))  # CreateMemoryRequest
    expected = "MaxDepth); JSON-like values (content.extra, metadata) may nest at most 16 levels"
    async with api_channel(host) as channel:
        send = channel.unary_stream("/agenthost.v1.AgentService/SendMessage", request_serializer=bytes)
        code, details = await stream_failure(send(message, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("the request cannot be parsed (Error parsing message") and details.endswith(expected)
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        create = channel.unary_unary("/agenthost.v1.RuntimeService/CreateMemory", request_serializer=bytes)
        code, details = await failure(create(memory, metadata=plugin_metadata(host, "chat"), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.endswith(expected)
    await assert_still_serving(host)


async def test_memories_beyond_the_size_or_depth_limit_are_refused_at_the_edge(start_host):
    host = await start_host(fixture_spec("alpha"))
    async with runtime(host) as (stub, metadata):
        big = runtime_pb2.CreateMemoryRequest(memory=memory("x" * MAX_MEMORY_BYTES))
        code, details = await failure(stub.CreateMemory(big, metadata=metadata))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "over the limit of 1048576 (1 MiB)" in details
        for field in ("content.extra", "metadata"):
            deep = memory()
            (deep.content.extra if field == "content.extra" else deep.metadata).update(nested(MAX_NESTING + 1))
            code, details = await failure(
                stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=deep), metadata=metadata)
            )
            assert (code, details) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{field} nests 17 levels deep, over the limit of 16: flatten it",
            )
        fine = memory()
        fine.metadata.update(nested(MAX_NESTING))
        await stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=fine), metadata=metadata)
    await assert_still_serving(host)


async def test_get_memories_returns_the_newest_that_fit_in_a_reply(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    near_limit = "x" * (MAX_MEMORY_BYTES - 1000)
    async with runtime(host) as (stub, metadata):
        for index in range(5):  # 5 MB in all: more than the 4 MiB a plugin's channel takes
            request = runtime_pb2.CreateMemoryRequest(memory=memory(f"{index}{near_limit}"))
            await stub.CreateMemory(request, metadata=metadata)
        call = stub.GetMemories(runtime_pb2.GetMemoriesRequest(room_id="room-1"), metadata=metadata)
        reply = await call
        assert [m.content.text[0] for m in reply.memories] == ["4", "3", "2", "1"]  # newest first
        assert dict(await call.trailing_metadata())[MEMORIES_LEFT_OUT] == "1"
    # A real plugin reads them through the SDK, whose channel keeps gRPC's 4 MiB receive limit.
    result = [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", Memory(room_id="room-1"))][-1]
    assert isinstance(result, ActionResult) and result.success, result.error
    assert [text[0] for text in result.values["recent"]] == ["r", "4", "3", "2", "1"]  # "0" did not fit
    await assert_still_serving(host)


async def test_a_memory_too_large_for_any_reply_is_a_clear_error(start_host):
    host = await start_host(fixture_spec("alpha"))
    # A row stored before the store bounded memories (1 MiB by default today).
    host.store.max_content_bytes = 8 * 2**20  # type: ignore[attr-defined]
    await host.store.create_memory(
        Memory(room_id="huge", agent_id=host.agent_id, content=Content(text="x" * 5_000_000))
    )
    async with runtime(host) as (stub, metadata):
        code, details = await failure(
            stub.GetMemories(runtime_pb2.GetMemoriesRequest(room_id="huge"), metadata=metadata)
        )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.startswith("the newest memory of room 'huge' is larger than a reply can carry (4194304 bytes)")
    await assert_still_serving(host)


def test_status_messages_are_bounded():
    from plugin_sdk.limits import bounded, quote

    assert quote("short") == "'short'"
    assert quote("é" * 100) == f"'{'é' * 80}'... (100 characters)"
    long = "é" * 5000
    cut = bounded(long)
    assert len(cut.encode()) <= MAX_ERROR_BYTES and cut.endswith("...") and long.startswith(cut[:-3])
    assert bounded("fine") == "fine"


async def test_text_that_is_not_utf8_is_invalid_argument(start_host):
    host = await start_host(CHAT)
    message = _field(1, b"room-1") + _field(3, _field(1, b"caf\xe9 \xff"))  # SendMessageRequest, Latin-1 text
    memory = _field(1, _field(4, b"room-1") + _field(6, _field(1, b"\xc3\x28")))  # CreateMemoryRequest
    async with api_channel(host) as channel:
        send = channel.unary_stream("/agenthost.v1.AgentService/SendMessage", request_serializer=bytes)
        code, details = await stream_failure(send(message, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.endswith("had bad UTF-8); text fields must be UTF-8")
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        create = channel.unary_unary("/agenthost.v1.RuntimeService/CreateMemory", request_serializer=bytes)
        code, details = await failure(create(memory, metadata=plugin_metadata(host, "chat"), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.endswith("text fields must be UTF-8"), details
    assert await host.store.get_memories(host.agent_id, "room-1", "messages", 10) == []  # nothing stored
    await assert_still_serving(host)


async def test_a_message_the_store_cannot_take_is_unavailable_and_nothing_of_it_is_kept(start_host, monkeypatch):
    """The database is gone when the message arrives: the client is told UNAVAILABLE (send it
    again), not a failed run, whose message would be kept; sent again once it is back, it runs."""
    host = await start_host(CHAT)
    working = host.store.begin_run

    async def gone(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("the database stopped answering")

    monkeypatch.setattr(host.store, "begin_run", gone)
    code, details = await failure(send(host, message("while gone", room="r-down")))
    assert (code, details) == (
        grpc.StatusCode.UNAVAILABLE,
        "the message was not stored (the database stopped answering); nothing was done with it",
    )
    assert await host.store.get_memories(host.agent_id, "r-down", "messages", 10) == []
    monkeypatch.setattr(host.store, "begin_run", working)
    assert run_end(await send(host, message("while gone", room="r-down")))["status"] == "completed"
    await assert_still_serving(host)


async def test_a_run_the_store_cannot_end_is_ended_once_the_store_answers_again(start_host, monkeypatch):
    host = await start_host(CHAT)
    working, refused = host.store.end_run, []

    async def gone_for_a_while(*args: Any, **kwargs: Any) -> Any:
        if len(refused) < 2:  # the run's own end and the first try again
            refused.append(args)
            raise StoreUnavailable("the database stopped answering")
        return await working(*args, **kwargs)

    monkeypatch.setattr(host.store, "end_run", gone_for_a_while)
    events = await send(host, message("ended later", room="r-late"))
    assert run_end(events)["status"] == "completed"  # the client hears of its end at once
    run_id = events[-1].run_id
    stored = await host.store.get_run(host.agent_id, run_id)
    assert stored is not None and stored.status == "started"
    assert await eventually(lambda: len(refused) == 2, timeout=5)

    async def ended() -> bool:
        record = await host.store.get_run(host.agent_id, run_id)
        return record is not None and record.status == "completed"

    for _ in range(100):  # tries again after 1 s, then 2 s
        if await ended():
            break
        await asyncio.sleep(0.1)
    assert await ended()
