"""The HTTP face's REST API (/api), with httpx as the client over a real socket: an in-process
host (its plugins real processes) serving HTTP on a port of 0, with test_http_openai's scripted
RouterService on a unix socket standing in for the router (it streams the agent's reply, slowly
when the text says "slow")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc
from support import fixture_spec
from test_http_openai import router  # noqa: F401, F811 (a fixture: the scripted router on a unix socket)

from host.host import Host

CHARACTER = {"name": "Rita", "bio": ["a second agent"], "plugins": []}


@pytest.fixture
async def served(start_host: Any, router: Any) -> Host:  # noqa: F811
    host: Host = await start_host(fixture_spec("fixture"), router_address=router[1], http="127.0.0.1:0")
    return host


def api(host: Host, token: str | None = None) -> httpx.AsyncClient:
    """A client of the host's HTTP face with its token (or `token`; "" for none)."""
    assert host.http is not None
    given = host.api_token if token is None else token
    headers = {"Authorization": f"Bearer {given}"} if given else {}
    return httpx.AsyncClient(base_url=host.http.url, headers=headers, timeout=30)


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a server-sent events body."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


async def grpc_details(host: Host, method: str, request: Any) -> str:
    """What the host's gRPC AgentService answers `request` with, over its own socket."""
    async with grpc.aio.insecure_channel(host.address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        try:
            call = getattr(stub, method)(request, metadata=(("authorization", f"Bearer {host.api_token}"),))
            if method == "SendMessage":
                async for _ in call:
                    pass
            else:
                await call
        except grpc.aio.AioRpcError as exc:
            return exc.details() or ""
    raise AssertionError(f"{method} was not refused")


async def test_agents_are_listed_shown_added_and_removed(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        listed = (await http.get("/api/agents")).json()["agents"]
        assert [(a["id"], a["name"], a["state"]) for a in listed] == [(agent.id, agent.name, "READY")]
        for key in (agent.name, agent.id):
            one = await http.get(f"/api/agents/{key}")
            assert one.status_code == 200 and one.json()["agent"]["id"] == agent.id
        added = await http.post("/api/agents", json={"character": CHARACTER})
        assert added.status_code == 201, added.text
        assert added.json()["agent"]["name"] == "Rita" and added.json()["agent"]["state"] == "READY"
        again = await http.post("/api/agents", json=CHARACTER)  # the character itself, a second time
        assert again.status_code == 409 and "Rita" in again.json()["error"]["message"]
        assert len((await http.get("/api/agents")).json()["agents"]) == 2
        removed = await http.delete("/api/agents/Rita")
        assert removed.status_code == 200 and removed.json()["runs_interrupted"] == 0
        assert removed.json()["agent"]["name"] == "Rita"
        gone = await http.get("/api/agents/Rita")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
        assert (await http.delete("/api/agents/Rita")).status_code == 404


async def test_bad_agents_requests_get_400_404_401_413(served: Host) -> None:
    async with api(served) as http:
        bad_json = await http.post("/api/agents", content=b"{not json", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
        not_object = await http.post("/api/agents", json=[1, 2])
        assert not_object.status_code == 400
        no_name = await http.post("/api/agents", json={"bio": ["x"]})
        assert no_name.status_code == 400 and no_name.json()["error"]["message"].startswith("character_json")
        unknown = await http.post("/api/agents/nobody/messages", json={"text": "hi", "room": "r"})
        assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]["message"]
        wrong_type = await http.post(f"/api/agents/{served.find_agent('').name}/messages", json={"text": 5})
        assert wrong_type.status_code == 400 and wrong_type.json()["error"]["param"] == "text"
        huge = await http.post("/api/agents", content=b"x" * (9 * 1024 * 1024))
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    async with api(served, token="") as http:
        refused = await http.get("/api/agents")
        assert refused.status_code == 401 and "?token=" in refused.json()["error"]["message"]
    async with api(served, token="wrong") as http:
        assert (await http.get("/api/agents")).status_code == 401


async def test_the_token_may_come_as_a_query_parameter_or_the_cookie(served: Host) -> None:
    async with api(served, token="") as http:
        assert (await http.get("/api/agents", params={"token": served.api_token})).status_code == 200
        assert (await http.get("/api/agents", params={"token": "nope"})).status_code == 401
        http.cookies.set("agenthost_token", served.api_token)
        assert (await http.get("/api/agents")).status_code == 200
        # /v1 stays header-only: an OpenAI client always sends it.
        assert (await http.get("/v1/models", params={"token": served.api_token})).status_code == 401


async def test_a_message_gets_the_runs_reply_actions_and_events_and_the_room_keeps_it(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        sent = await http.post(f"/api/agents/{agent.name}/messages", json={"text": "please help", "room": "r1"})
        assert sent.status_code == 200, sent.text
        doc = sent.json()
        assert doc["room"] == "r1" and doc["status"] == "completed"
        assert doc["reply"] == "You said: please help\n\nthank you"
        assert doc["actions"] == [{"name": "FIXTURE_PICKY", "success": True, "text": "thank you", "error": ""}]
        kinds = [e["type"] for e in doc["events"]]
        assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_ENDED" and "REPLY" in kinds
        assert "REPLY_DELTA" not in kinds
        run = await served.store.get_run(agent.id, doc["run_id"])
        assert run is not None and run.status == "completed"
        history = await http.get(f"/api/agents/{agent.id}/rooms/r1/messages", params={"limit": 10})
        texts = [(m["text"], m["from_agent"]) for m in history.json()["messages"]]
        assert texts[0] == ("please help", False) and ("You said: please help", True) in texts
        no_room = (await http.post(f"/api/agents/{agent.name}/messages", json={"text": "hi"})).json()
        assert no_room["room"].startswith("rest-") and no_room["reply"] == "You said: hi"
        unknown = await http.get("/api/agents/nobody/rooms/r1/messages")
        assert unknown.status_code == 404


async def test_a_streamed_message_sends_each_run_event_as_a_server_sent_event(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        streamed = await http.post(
            f"/api/agents/{agent.name}/messages", params={"stream": "true"}, json={"text": "stream this", "room": "s"}
        )
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = sse(streamed.text)
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_ENDED" and kinds.count("REPLY_DELTA") > 3
        deltas = "".join(d["text"] for kind, d in events if kind == "REPLY_DELTA")
        assert "You said: stream this" in deltas
        assert events[-1][1]["extra"]["status"] == "completed"
        by_accept = await http.post(
            f"/api/agents/{agent.name}/messages",
            json={"text": "again", "room": "s"},
            headers={"Accept": "text/event-stream"},
        )
        assert sse(by_accept.text)[-1][0] == "RUN_ENDED"
        # Refused before the stream starts: a status, not an event.
        empty = await http.post(f"/api/agents/{agent.name}/messages?stream=true", json={"text": " ", "room": "s"})
        assert empty.status_code == 400


async def test_a_client_gone_mid_stream_leaves_the_run_to_finish_and_be_stored(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        request = http.build_request(
            "POST", f"/api/agents/{agent.name}/messages?stream=true", json={"text": "slow one", "room": "leaver"}
        )
        response = await http.send(request, stream=True)
        async for line in response.aiter_lines():
            if line == "event: REPLY_DELTA":
                break
        await response.aclose()
    runs = await served.store.list_runs(agent.id, "leaver")
    assert runs and runs[0].status == "started"  # cut off mid-run
    for _ in range(100):
        run = await served.store.get_run(agent.id, runs[0].id)
        if run is not None and run.status == "completed":
            break
        await asyncio.sleep(0.1)
    assert run is not None and run.status == "completed"
    stored = await served.store.get_memories(agent.id, "leaver", "messages", 10)
    assert "You said: slow one" in [m.content.text for m in stored]
    async with api(served) as http:  # and the host serves on
        assert (await http.post(f"/api/agents/{agent.name}/messages", json={"text": "x"})).json()["reply"] == (
            "You said: x"
        )


async def test_validation_messages_are_the_grpc_apis(served: Host) -> None:
    agent = served.find_agent("")
    cases = [
        (
            {"text": "hi", "room": "r", "room_type": "party"},
            agent_pb2.SendMessageRequest(agent_id=agent.name, room_id="r", room_type="party", content={"text": "hi"}),
        ),
        ({"text": "", "room": "r"}, agent_pb2.SendMessageRequest(agent_id=agent.name, room_id="r")),
        (
            {"text": "hi", "room": " "},
            agent_pb2.SendMessageRequest(agent_id=agent.name, room_id=" ", content={"text": "hi"}),
        ),
    ]
    async with api(served) as http:
        for body, request in cases:
            answer = await http.post(f"/api/agents/{agent.name}/messages", json=body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["message"] == await grpc_details(served, "SendMessage", request)
        unknown = await http.delete("/api/agents/nobody")
        request = agent_pb2.RemoveAgentRequest(agent="nobody")
        assert unknown.json()["error"]["message"] == await grpc_details(served, "RemoveAgent", request)
