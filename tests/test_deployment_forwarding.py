"""Forwarding a message to another host (host/deployment/forwarding.py): a real host in this
process on TCP (and TLS), the chat model plugin as a process; a test servicer for the statuses a
peer answers with. The forwarded run's events are a local run's; the message keeps its id (sent
again: replayed); the host the message came from reaches the owner; failures come as their type."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc
from test_pipeline import CHAT
from test_remote_plugin import pki  # noqa: F401 (a fixture: a CA and a certificate for 127.0.0.1)

from host.agent.run import RunEvent
from host.config import ServerTls
from host.deployment.forwarding import (
    FORWARDED_KEY,
    PeerFailed,
    PeerRefused,
    Peers,
    PeerUnavailable,
    tls_credentials,
)
from host.host import Host
from plugin_sdk.types import Content, Memory

TEXTS = ("hello there", "please shout this")  # a reply, and a reply with an action's events


def message(text: str, message_id: str, room: str) -> Memory:
    return Memory(id=message_id, room_id=room, entity_id="user-1", content=Content(text=text, source="api"))


def shape(events: list[RunEvent]) -> list[tuple[str, str, list[str], list[str]]]:
    """What a run says, without what differs between two runs (ids, times)."""
    return [(e.type, e.content.text, e.content.actions, sorted(e.content.extra)) for e in events]


async def collect(events: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [e async for e in events]


def recording(host: Host) -> list[str]:
    """The `forwarded` argument of every Agent.send the host's AgentService makes, from now on."""
    agent = host.find_agent("")
    seen: list[str] = []
    send = agent.send

    def spy(message: Memory, room_type: str = "", forwarded: str = "") -> AsyncIterator[RunEvent]:
        seen.append(forwarded)
        return send(message, room_type)

    agent.send = spy  # type: ignore[method-assign]
    return seen


async def test_a_forwarded_message_runs_as_a_local_one_keeping_its_id_and_origin(start_host: Any) -> None:
    host = await start_host(CHAT, listen="127.0.0.1:0")
    agent = host.find_agent("")
    local = [await collect(agent.send(message(text, f"local-{i}", f"local-{i}"))) for i, text in enumerate(TEXTS)]
    seen = recording(host)
    peers = Peers(host.api_token)
    try:
        forwarded = [
            await collect(peers.send(host.address, agent.id, message(text, f"fwd-{i}", f"fwd-{i}"), "dm", 30, "host-a"))
            for i, text in enumerate(TEXTS)
        ]
        assert [shape(f) for f in forwarded] == [shape(x) for x in local]
        assert [e.type for e in forwarded[1]] == ["RUN_STARTED", "REPLY", "ACTION", "ACTION", "EVALUATOR", "RUN_ENDED"]
        assert forwarded[1][3].content.extra["success"] is True
        assert forwarded[1][-1].content.extra["status"] == "completed"
        assert seen == ["host-a", "host-a"]  # the origin reached the owner's Agent.send
        stored = await host.store.get_memory(agent.id, "fwd-0")  # the message kept its id, sender and room
        assert stored is not None and (stored.entity_id, stored.content.text) == ("user-1", TEXTS[0])
        room = await host.store.get_room(agent.id, "fwd-0")
        assert room is not None and room.type.lower() == "dm"
        # Forwarded again (the owner's answer was lost): the same run, replayed, not run again.
        resent = message(TEXTS[0], "fwd-0", "fwd-0")
        again = await collect(peers.send(host.address, agent.id, resent, "dm", 30, "host-b"))
        assert shape(again)[:-1] == shape(forwarded[0])[:-1]
        assert again[-1].content.extra["replayed"] is True and again[-1].run_id == forwarded[0][0].run_id
        assert len(await host.store.runs_of_message(agent.id, "fwd-0")) == 1
        assert peers.addresses() == [host.address]  # one channel, reused
    finally:
        await peers.close()


async def test_forwarding_over_tls_checks_the_peers_certificate(start_host: Any, pki: Path) -> None:  # noqa: F811
    tls = ServerTls(str(pki / "host.crt"), str(pki / "host.key"))
    host = await start_host(CHAT, listen="127.0.0.1:0", tls=tls)
    trusting = Peers(host.api_token, tls_credentials(pki / "ca.crt"))
    plain = Peers(host.api_token)
    try:
        events = await collect(trusting.send(host.address, "", message("hello", "t-1", "r"), "", 30, "host-a"))
        assert events[-1].content.extra["status"] == "completed"
        with pytest.raises(PeerUnavailable):  # a plaintext client cannot talk to a TLS listener
            await collect(plain.send(host.address, "", message("hello", "t-2", "r"), "", 5, "host-a"))
    finally:
        await trusting.close()
        await plain.close()


async def test_an_unreachable_peer_raises_unavailable_at_once() -> None:
    with __import__("socket").socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    peers = Peers("token")
    began = time.monotonic()
    try:
        with pytest.raises(PeerUnavailable) as info:
            await collect(peers.send(address, "a", message("hi", "u-1", "r"), "", 10, "host-a"))
    finally:
        await peers.close()
    assert time.monotonic() - began < 2.0
    assert info.value.code == grpc.StatusCode.UNAVAILABLE and info.value.events == 0
    assert str(info.value).startswith(f"host {address} (UNAVAILABLE): ")


async def test_a_peer_that_says_no_for_good_raises_failed(start_host: Any) -> None:
    host = await start_host(CHAT, listen="127.0.0.1:0")
    peers, wrong = Peers(host.api_token), Peers("not-the-token")
    try:
        with pytest.raises(PeerFailed) as unknown:
            await collect(peers.send(host.address, "nobody", message("hi", "f-1", "r"), "", 10, "host-a"))
        assert unknown.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(PeerFailed) as refused:
            await collect(wrong.send(host.address, "", message("hi", "f-2", "r"), "", 10, "host-a"))
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(ValueError):  # no id: sending it again would not be safe
            await collect(peers.send(host.address, "", message("hi", "", "r"), "", 10, "host-a"))
    finally:
        await peers.close()
        await wrong.close()


class ScriptedPeer(agent_pb2_grpc.AgentServiceServicer):
    """A peer answering as a script says (by the message's text), keeping the metadata it got."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def SendMessage(
        self, request: agent_pb2.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.SendMessageResponse]:
        self.metadata.append({k: str(v) for k, v in context.invocation_metadata() or ()})
        text = request.content.text
        if text == "not yours":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "host b does not own room r's partition")
        if text == "busy":
            context.set_trailing_metadata((("retry-after", "3"),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "backlogged")
        yield agent_pb2.SendMessageResponse(run_id="run-1", event_type="RUN_STARTED")
        if text == "break":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the host is stopping")
        await asyncio.sleep(float(text) if text.replace(".", "").isdigit() else 0)
        yield agent_pb2.SendMessageResponse(run_id="run-1", event_type="RUN_ENDED")


async def test_a_peers_status_is_raised_as_its_type() -> None:
    server = grpc.aio.server()
    peer = ScriptedPeer()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(peer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    address, peers = f"127.0.0.1:{port}", Peers("the-token")
    try:
        with pytest.raises(PeerRefused) as not_owner:
            await collect(peers.send(address, "a", message("not yours", "s-1", "r"), "", 5, "host-a"))
        assert not_owner.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert not_owner.value.details == "host b does not own room r's partition"
        with pytest.raises(PeerRefused) as busy:
            await collect(peers.send(address, "a", message("busy", "s-2", "r"), "", 5, "host-a"))
        assert busy.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and busy.value.retry_after_s == 3.0
        with pytest.raises(PeerUnavailable) as broke:  # after its run started: stored there, send it again
            await collect(peers.send(address, "a", message("break", "s-3", "r"), "", 5, "host-a"))
        assert broke.value.events == 1
        with pytest.raises(PeerUnavailable) as late:
            await collect(peers.send(address, "a", message("2", "s-4", "r"), "", 0.5, "host-a"))
        assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and late.value.events == 1
        events = await collect(peers.send(address, "a", message("0", "s-5", "r"), "", 5, "host-a"))
        assert [e.type for e in events] == ["RUN_STARTED", "RUN_ENDED"]
    finally:
        await peers.close()
        await server.stop(None)
    assert all(m[FORWARDED_KEY] == "host-a" and m["authorization"] == "Bearer the-token" for m in peer.metadata)
    assert len(peer.metadata) == 5
