"""RuntimeService's room and relationship calls (the bootstrap plugin's way in), called directly
with a plugin's token: each is scoped to the agents the plugin serves, bad input is a clear
status and the host keeps serving, and a state change reaches the pipeline at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from agenthost.v1 import runtime_pb2, runtime_pb2_grpc
from agents_support import character
from support import plugin_socket
from test_bootstrap import BOOTSTRAP, BRAIN, send

from host.host import Host


def metadata(host: Host, plugin: str) -> tuple[tuple[str, str], ...]:
    instance = host.plugins.get(plugin).instance
    assert instance is not None
    return (("authorization", f"Bearer {instance.token}"), ("x-agenthost-plugin", plugin))


async def failure(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""


async def test_room_and_relationship_calls_are_scoped_checked_and_take_effect(start_host: Any, tmp_path: Path) -> None:
    alpha_file = character(tmp_path, "Alpha", ["bootstrap", "bootbrain"])
    beta_file = character(tmp_path, "Beta", ["bootbrain"])  # the bootstrap plugin does not serve Beta
    host: Host = await start_host(BOOTSTRAP, BRAIN, characters=(alpha_file, beta_file))
    alpha, beta = host.find_agent("Alpha"), host.find_agent("Beta")
    assert (await send(host, "hello", room="r", agent="Alpha"))["replies"] == ["ok"]
    await send(host, "hello", room="r", agent="Beta")
    boot = metadata(host, "bootstrap")
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        stub = runtime_pb2_grpc.RuntimeServiceStub(channel)

        room = await stub.GetRoom(runtime_pb2.GetRoomRequest(room_id="r"), metadata=boot)
        assert (room.room.id, room.room.type, room.HasField("world")) == ("r", "API", False)
        assert {p.entity_id for p in room.participants} == {"user-1", alpha.id}
        code, details = await failure(
            stub.GetRoom(runtime_pb2.GetRoomRequest(room_id="r", agent_id=beta.id), metadata=boot)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED and f"bootstrap serves: {alpha.id}" in details
        code, details = await failure(stub.GetRoom(runtime_pb2.GetRoomRequest(room_id="nowhere"), metadata=boot))
        assert code == grpc.StatusCode.NOT_FOUND and "nowhere" in details
        code, _ = await failure(stub.GetRoom(runtime_pb2.GetRoomRequest(), metadata=boot))
        assert code == grpc.StatusCode.INVALID_ARGUMENT

        code, details = await failure(
            stub.SetParticipantState(runtime_pb2.SetParticipantStateRequest(room_id="r", state="SLEEPY"), metadata=boot)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "'MUTED'" in details
        code, _ = await failure(
            stub.SetParticipantState(runtime_pb2.SetParticipantStateRequest(room_id="zz", state="MUTED"), metadata=boot)
        )
        assert code == grpc.StatusCode.NOT_FOUND
        muted = await stub.SetParticipantState(
            runtime_pb2.SetParticipantStateRequest(room_id="r", state="MUTED"), metadata=boot
        )
        assert muted.previous_state == ""
        # The pipeline learns it at once (its room cache forgot the room), not after its ttl.
        assert (await send(host, "still there?", room="r", agent="Alpha"))["status"] == "ignored"
        assert (await send(host, "still there?", room="r", agent="Beta"))["status"] == "completed"  # Beta's own room

        pair = runtime_pb2.Relationship(source_entity_id="user-1", target_entity_id=alpha.id, tags=["friend"])
        for _ in range(2):
            stored = await stub.UpsertRelationship(
                runtime_pb2.UpsertRelationshipRequest(relationship=pair, count_interaction=True), metadata=boot
            )
        # 3: reflection counted the first exchange ("hello", "ok") already.
        assert (stored.relationship.interaction_count, list(stored.relationship.tags)) == (3, ["friend"])
        listed = await stub.GetRelationships(runtime_pb2.GetRelationshipsRequest(entity_id="user-1"), metadata=boot)
        assert [(r.target_entity_id, r.interaction_count) for r in listed.relationships] == [(alpha.id, 3)]
        half = runtime_pb2.Relationship(source_entity_id="user-1")
        code, _ = await failure(
            stub.UpsertRelationship(runtime_pb2.UpsertRelationshipRequest(relationship=half), metadata=boot)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = await failure(
            stub.GetRelationships(
                runtime_pb2.GetRelationshipsRequest(entity_id="user-1", agent_id=beta.id), metadata=boot
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert await host.store.list_relationships(beta.id, "user-1") == []

        code, _ = await failure(stub.FindMemories(runtime_pb2.FindMemoriesRequest(count=5000), metadata=boot))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        found = await stub.FindMemories(runtime_pb2.FindMemoriesRequest(entity_id="user-1"), metadata=boot)
        assert found.memories and {m.agent_id for m in found.memories} == {alpha.id}
        assert all(m.entity_id == "user-1" for m in found.memories)

        # SearchMemories: a query is required; Alpha has no embedding model (none is loaded).
        code, _ = await failure(stub.SearchMemories(runtime_pb2.SearchMemoriesRequest(query=" "), metadata=boot))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = await failure(
            stub.SearchMemories(runtime_pb2.SearchMemoriesRequest(query="x", count=101), metadata=boot)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, details = await failure(
            stub.SearchMemories(runtime_pb2.SearchMemoriesRequest(query="tea"), metadata=boot)
        )
        assert code == grpc.StatusCode.UNAVAILABLE and "embedding model" in details
        search = runtime_pb2.SearchMemoriesRequest(query="tea", agent_id=beta.id)
        assert (await failure(stub.SearchMemories(search, metadata=boot)))[0] == grpc.StatusCode.PERMISSION_DENIED
