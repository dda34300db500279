"""Two hosts of one deployment in this process (issue 15), on the real PostgreSQL: where a message
runs, what a host that does not own a room refuses, what the hosts tell each other, what status
and metrics show. The processes, kills and load are tests/test_deployment.py's."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import asyncpg
import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from support import api_channel
from test_pipeline import as_dict, of
from test_remote_plugin import pki  # noqa: F401

from host.agent.agent import AgentError
from host.config import ConfigError, DatabaseConfig, ServerTls, load_config
from host.deployment.deployment import DeploymentUnreachable, NoOwner
from host.deployment.forwarding import FORWARDED_KEY
from host.deployment.settings import DeploymentConfig
from host.host import Host
from host.metrics import families
from plugin_sdk import PluginSpec

PG_URL = os.environ.get("AGENTHOST_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
COUNTING = PluginSpec(
    name="counting",
    version="1.0.0",
    command=(sys.executable, str(Path(__file__).with_name("counting_model_plugin.py"))),
)
TOKEN = "deployment-test-token"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A schema of its own on the PostgreSQL server (store and coordination tables), dropped after."""
    name = f"dep_{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        pytest.skip(f"no PostgreSQL at {PG_URL} for the deployment tests: {exc}")
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


@pytest.fixture
async def two_hosts(start_host: Callable[..., Any], schema: str) -> tuple[Host, Host]:
    url = f"{PG_URL}?schema={schema}"
    deployment = DeploymentConfig(queue_url=url, partitions=8, lease_s=3.0, tick_s=0.5)
    hosts = []
    for name in ("one", "two"):
        host = await start_host(
            COUNTING,
            listen="127.0.0.1:0",
            api_token=TOKEN,
            database=DatabaseConfig(url=url),
            deployment=replace(deployment, host_id=name),
        )
        hosts.append(host)
    await _settled(hosts)
    return hosts[0], hosts[1]


async def _settled(hosts: list[Host], timeout_s: float = 10.0) -> None:
    """Until every partition has exactly one owner among `hosts`, as each of them reads it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        views = []
        for host in hosts:
            assert host.deployment is not None
            info = host.deployment.info()
            owned = sorted(p for h in info.hosts for p in h.partitions)
            views.append((len(info.hosts), owned))
        if all(count == len(hosts) and owned == list(range(8)) for count, owned in views):
            if all(host.deployment and host.deployment.coordinator.owned() for host in hosts):
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the partitions did not settle over {len(hosts)} hosts: {views}")


def _room_owned_by(owner: Host, agent_id: str) -> str:
    """A room whose partition `owner` holds."""
    assert owner.deployment is not None
    coordinator = owner.deployment.coordinator
    for n in range(1000):
        room = f"room-{n}"
        if coordinator.owns(coordinator.partition_of(agent_id, room)):
            return room
    raise AssertionError("no room of this host's partitions")


async def _send(host: Host, room: str, text: str, metadata: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        request = agent_pb2.SendMessageRequest(room_id=room, entity_id="user-1", content=types_pb2.Content(text=text))
        return [as_dict(e) async for e in stub.SendMessage(request, timeout=30, metadata=metadata)]


async def _runs_by_host(host: Host) -> dict[str, str]:
    """Each stored run's message text -> the host that ran it."""
    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        schema = host.config.database.url.split("schema=")[1]
        rows = await conn.fetch(
            f'SELECT m.content, r.host_id FROM "{schema}".runs r JOIN "{schema}".memories m ON m.id = r.message_id'
        )
    finally:
        await conn.close()
    return {json.loads(r["content"])["text"]: r["host_id"] for r in rows}


async def test_a_message_runs_on_the_host_owning_its_room(two_hosts: tuple[Host, Host]) -> None:
    one, two = two_hosts
    room = _room_owned_by(one, one.agent_id)
    events = await _send(two, room, "hello via two")  # sent to the host that does not own the room
    assert of(events, "REPLY")[0]["text"] == "call 1: hello via two"
    assert events[-1]["extra"]["status"] == "completed"
    own_room = _room_owned_by(two, two.agent_id)
    await _send(two, own_room, "hello at two")
    ran = await _runs_by_host(one)
    assert ran["hello via two"] == "one"  # forwarded, run by the owner
    assert ran["hello at two"] == "two"


async def test_a_forwarded_message_for_a_room_it_does_not_own_is_refused_unstored(
    two_hosts: tuple[Host, Host],
) -> None:
    one, two = two_hosts
    room = _room_owned_by(one, one.agent_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _send(two, room, "wrong door", metadata=((FORWARDED_KEY, "one"),))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "does not own room" in (caught.value.details() or "")
    assert "wrong door" not in await _runs_by_host(one)
    # The host keeps serving the same room when the message comes the normal way.
    events = await _send(two, room, "right door")
    assert events[-1]["extra"]["status"] == "completed"


async def test_status_and_metrics_show_the_deployment(two_hosts: tuple[Host, Host]) -> None:
    one, two = two_hosts
    async with api_channel(two) as channel:
        status = await agent_pb2_grpc.AgentServiceStub(channel).GetStatus(agent_pb2.GetStatusRequest(), timeout=10)
    assert status.deployment.host_id == "two"
    assert status.deployment.partitions == 8
    hosts = {h.host_id: h for h in status.deployment.hosts}
    assert set(hosts) == {"one", "two"}
    assert sorted(p for h in hosts.values() for p in h.partitions) == list(range(8))
    assert hosts["one"].address == one.address and "counting" in hosts["one"].plugins
    samples = [s for metric in families(two.status(), None) for s in metric.samples]
    assert samples and all(s.labels.get("host") == "two" for s in samples)
    assert any(s.name == "agenthost_deployment_hosts" and s.value == 2 for s in samples)


async def test_an_agent_added_on_one_host_is_added_on_the_other(two_hosts: tuple[Host, Host]) -> None:
    one, two = two_hosts
    character = {"name": "Bea", "bio": "A second agent.", "id": str(uuid.uuid4())}
    async with api_channel(one) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        added = await stub.AddAgent(agent_pb2.AddAgentRequest(character_json=json.dumps(character)), timeout=30)
    deadline = time.monotonic() + 10
    while added.agent.id not in two.agents and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert two.find_agent("Bea").id == added.agent.id
    async with api_channel(two) as channel:
        await agent_pb2_grpc.AgentServiceStub(channel).RemoveAgent(agent_pb2.RemoveAgentRequest(agent="Bea"))
    deadline = time.monotonic() + 10
    while added.agent.id in one.agents and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert added.agent.id not in one.agents


async def test_no_owner_in_time_is_a_clear_error(two_hosts: tuple[Host, Host]) -> None:
    one, two = two_hosts
    assert two.deployment is not None
    room = _room_owned_by(one, one.agent_id)
    two.deployment.run_timeout_s = 1.0
    await one.stop()  # hands its partitions over: two takes them, so the message runs
    events = await _send(two, room, "after the handover")
    assert events[-1]["extra"]["status"] == "completed"
    await two.deployment.coordinator.stop(drain_timeout_s=1.0)  # nobody owns anything now
    agent = two.find_agent("")
    with pytest.raises(NoOwner, match="no host of the deployment"):
        async for _ in two.deployment.send(agent, _message(room), ""):
            pass


def _message(room: str) -> Any:
    from plugin_sdk.types import Content, Memory

    return Memory(content=Content(text="nobody home"), entity_id="user-1", room_id=room)


async def test_a_deployment_needs_postgresql_and_a_valid_table(start_host: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="needs a shared PostgreSQL store"):
        await start_host(COUNTING, deployment=DeploymentConfig(queue_url=PG_URL))
    bad = tmp_path / "agenthost.toml"
    bad.write_text('[deployment]\nqueue_url = "redis://127.0.0.1:6379"\n')
    with pytest.raises(ConfigError, match="postgresql://"):
        load_config(bad)
    bad.write_text(f'[deployment]\nqueue_url = "{PG_URL}"\nlease_s = 1\ntick_s = 1\n')
    with pytest.raises(ConfigError, match="at least twice tick_s"):
        load_config(bad)


async def test_hosts_serving_tls_forward_to_each_other(
    start_host: Callable[..., Any],
    schema: str,
    pki: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTHOST_TLS_CA", str(pki / "ca.crt"))
    url = f"{PG_URL}?schema={schema}"
    tls = ServerTls(str(pki / "host.crt"), str(pki / "host.key"))
    hosts = []
    for name in ("one", "two"):
        deployment = DeploymentConfig(queue_url=url, partitions=8, lease_s=3.0, tick_s=0.5, host_id=name)
        hosts.append(
            await start_host(
                COUNTING,
                listen="127.0.0.1:0",
                api_token=TOKEN,
                tls=tls,
                database=DatabaseConfig(url=url),
                deployment=deployment,
            )
        )
    await _settled(hosts)
    one, two = hosts
    room = _room_owned_by(one, one.agent_id)
    credentials = grpc.ssl_channel_credentials((pki / "ca.crt").read_bytes())
    call = grpc.access_token_call_credentials(TOKEN)
    async with grpc.aio.secure_channel(two.address, grpc.composite_channel_credentials(credentials, call)) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        request = agent_pb2.SendMessageRequest(room_id=room, entity_id="u", content=types_pb2.Content(text="over tls"))
        events = [as_dict(e) async for e in stub.SendMessage(request, timeout=30)]
    assert events[-1]["extra"]["status"] == "completed"
    assert (await _runs_by_host(one))["over tls"] == "one"


async def test_an_unreachable_queue_database_stops_the_start_with_the_reason(
    start_host: Callable[..., Any], schema: str
) -> None:
    with __import__("socket").socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"postgresql://postgres@127.0.0.1:{probe.getsockname()[1]}/test"
    with pytest.raises(DeploymentUnreachable, match=r"cannot join the deployment: its queue database .* said"):
        await start_host(
            COUNTING,
            api_token=TOKEN,
            database=DatabaseConfig(url=f"{PG_URL}?schema={schema}"),
            deployment=DeploymentConfig(queue_url=nowhere, lease_s=3.0, tick_s=0.5),
        )
