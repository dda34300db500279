"""The HTTP face's REST API (/api), with httpx as the client over a real socket: an in-process
host (its plugins real processes) serving HTTP on a port of 0, with test_http_openai's scripted
RouterService on a unix socket standing in for the router (it streams the agent's reply, slowly
when the text says "slow")."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import httpx
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2
from support import eventually, fixture_spec
from test_http_openai import ScriptedRouter

from host.agent.admission import AdmissionSettings
from host.host import Host

CHARACTER = {"name": "Rita", "bio": ["a second agent"], "plugins": []}


class RestRouter(ScriptedRouter):
    """test_http_openai's scripted router, with its ledger's rows, providers, budget and decisions."""

    async def GetUsage(self, request: router_pb2.GetUsageRequest, context: Any) -> router_pb2.GetUsageResponse:
        usage = await super().GetUsage(request, context)
        rows = self.booked.get(request.task_id, [])
        usage.rows.extend(
            router_pb2.LedgerRow(
                task_id=request.task_id, provider="scripted", model="m", tokens_in=i, tokens_out=o, cost=c, status="ok"
            )
            for i, o, c in rows
        )
        return usage

    async def ListProviders(self, request: Any, context: Any) -> router_pb2.ListProvidersResponse:
        return router_pb2.ListProvidersResponse(
            providers=[router_pb2.ProviderInfo(id="scripted:m", name="scripted", model="m", breaker="closed")]
        )

    async def GetBudget(self, request: Any, context: Any) -> router_pb2.GetBudgetResponse:
        spent = sum(c for rows in self.booked.values() for _, _, c in rows)
        budget = router_pb2.BudgetStatus(scope="global", period="monthly", limit=5.0, spent=spent, left=5.0 - spent)
        return router_pb2.GetBudgetResponse(budgets=[budget])

    async def Explain(self, request: router_pb2.ExplainRequest, context: Any) -> router_pb2.ExplainResponse:
        if request.request.meta.quality == "impossible":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no provider fits quality impossible")
        said = request.request.prompt or request.request.messages[-1].content
        return router_pb2.ExplainResponse(
            decision=router_pb2.Decision(provider="scripted", model="m", rule=f"{request.request.meta.quality}:{said}")
        )


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[tuple[RestRouter, str]]:
    scripted, address = RestRouter(), f"unix://{tmp_path}/rest-router.sock"
    await scripted.start(address)
    yield scripted, address
    await scripted.server.stop(0)


@pytest.fixture
async def served(start_host: Any, router: Any) -> Host:
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
            if method in ("SendMessage", "GetLogs"):
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
        schema = (await http.get("/openapi.json")).json()["paths"]
        assert {"/api/agents", "/api/events", "/api/runs/{run_id}", "/api/logs/stream", "/metrics"} <= set(schema)
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
        (
            {"text": "hi", "room": "r", "message_id": "m" * 129},
            agent_pb2.SendMessageRequest(
                agent_id=agent.name, room_id="r", content={"text": "hi"}, message_id="m" * 129
            ),
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


async def test_a_message_sent_again_with_its_message_id_is_replayed_not_run_again(served: Host, router: Any) -> None:
    """`message_id` in the body, as SendMessageRequest.message_id: the same id again gets the
    stored run's reply and events (whole or streamed), `replayed` true; the model is not asked
    again (the scripted router books each call under its run)."""
    agent, booked = served.find_agent(""), router[0].booked
    body = {"text": "just once", "room": "idem", "message_id": "rest-m-1"}
    path = f"/api/agents/{agent.name}/messages"
    async with api(served) as http:
        first = (await http.post(path, json=body)).json()
        calls = sum(len(rows) for rows in booked.values())
        again = await http.post(path, json=body)
        streamed = sse((await http.post(path, params={"stream": "true"}, json=body)).text)
        assert again.status_code == 200, again.text
        again_doc = again.json()
        assert first["reply"] == again_doc["reply"] == "You said: just once"
        assert (first["replayed"], again_doc["replayed"]) == (False, True)
        assert again_doc["run_id"] == first["run_id"] and again_doc["status"] == "completed"
        assert [e["type"] for e in again_doc["events"]] == [e["type"] for e in first["events"]]
        assert again_doc["events"][-1]["extra"]["replayed"] is True
        assert [kind for kind, _ in streamed][-1] == "RUN_ENDED"
        assert streamed[-1][1]["extra"]["replayed"] is True and streamed[-1][1]["run_id"] == first["run_id"]
        assert sum(len(rows) for rows in booked.values()) == calls and len(booked[first["run_id"]]) == 1
        assert [r.id for r in await served.store.runs_of_message(agent.id, "rest-m-1")] == [first["run_id"]]
        other = (await http.post(path, json={**body, "message_id": "rest-m-2"})).json()
        assert other["replayed"] is False and other["run_id"] != first["run_id"]
        longest = await http.post(path, json={**body, "message_id": "m" * 128})
        assert longest.status_code == 200 and longest.json()["reply"] == "You said: just once"


async def test_runs_are_listed_and_one_shows_its_events_and_model_calls(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        sent = (await http.post(f"/api/agents/{agent.name}/messages", json={"text": "count me", "room": "c"})).json()
        runs = (await http.get("/api/runs", params={"agent": agent.name, "room": "c"})).json()["runs"]
        assert [(r["id"], r["agent"], r["room"], r["status"]) for r in runs] == [
            (sent["run_id"], agent.name, "c", "completed")
        ]
        assert runs[0]["duration_ms"] >= 0 and "compose_state" in runs[0]["timings"]
        one = await http.get(f"/api/runs/{sent['run_id']}")
        assert one.status_code == 200, one.text
        run = one.json()["run"]
        assert run["id"] == sent["run_id"] and run["events"][-1]["type"] == "RUN_ENDED"
        assert run["models"] == [
            {
                "provider": "scripted",
                "model": "m",
                "tokens_in": 7,
                "tokens_out": 3,
                "cost": 0.001,
                "status": "ok",
                "latency_ms": 0,
                "attempt": 0,
            }
        ]
        echo = [p for p in run["providers"] if p["name"] == "FIXTURE_ECHO"]  # it says the message back
        assert echo == [{"name": "FIXTURE_ECHO", "plugin": "fixture", "ms": echo[0]["ms"], "chars": 8, "ok": True}]
        assert 0 < echo[0]["ms"] < run["timings"]["total"]
        missing = await http.get("/api/runs/no-such-run")
        assert missing.status_code == 404 and "no run" in missing.json()["error"]["message"]
        assert (await http.get("/api/runs", params={"agent": "nobody"})).status_code == 404
        too_many = await http.get("/api/runs", params={"limit": 5000})
        assert too_many.status_code == 400
        request = agent_pb2.ListRunsRequest(limit=5000)
        assert too_many.json()["error"]["message"] == await grpc_details(served, "ListRuns", request)


async def test_live_run_events_of_every_agent_stream_over_sse(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served, token="") as http:
        async with http.stream("GET", "/api/events", params={"token": served.api_token}) as events:
            assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
            lines = events.aiter_lines()
            assert await anext(lines) == ": watching"
            async with api(served) as sender:
                sent = asyncio.create_task(
                    sender.post(f"/api/agents/{agent.id}/messages", json={"text": "live", "room": "watched"})
                )
                seen: list[tuple[str, dict[str, Any]]] = []
                async for line in lines:
                    if line.startswith("data: "):
                        data = json.loads(line.removeprefix("data: "))
                        seen.append((data["type"], data))
                        if data["type"] == "RUN_ENDED":
                            break
                run_id = (await sent).json()["run_id"]
                # An agent added while the stream is open is heard too (looked for each second).
                assert (await sender.post("/api/agents", json=CHARACTER)).status_code == 201
                await asyncio.sleep(1.5)
                await sender.post("/api/agents/Rita/messages", json={"text": "new here", "room": "later"})
                async for line in lines:
                    if line.startswith("data: "):
                        later = json.loads(line.removeprefix("data: "))
                        if later["type"] == "RUN_ENDED":
                            break
                assert (later["agent"], later["room"]) == ("Rita", "later")
        kinds = [kind for kind, _ in seen]
        assert kinds[0] == "RUN_STARTED" and "REPLY_DELTA" in kinds and "REPLY" in kinds
        assert {(d["run_id"], d["agent"], d["room"]) for _, d in seen} == {(run_id, agent.name, "watched")}
        unknown = await http.get("/api/events", params={"token": served.api_token, "agent": "nobody"})
        assert unknown.status_code == 404
        assert (await http.get("/api/events")).status_code == 401
    for each in served.agents.values():  # the stream's listener went with it
        assert not each.pipeline.watchers


async def test_plugins_are_listed_reloaded_unloaded_and_loaded(served: Host) -> None:
    async with api(served) as http:
        listed = {p["name"]: p for p in (await http.get("/api/plugins")).json()["plugins"]}
        before = listed["fixture"]
        assert before["state"] == "ready" and before["pid"] > 0 and "components" in before
        reloaded = await http.post("/api/plugins/fixture/reload")
        assert reloaded.status_code == 200, reloaded.text
        after = reloaded.json()["plugin"]
        assert after["state"] == "ready" and after["pid"] not in (0, before["pid"])
        listed = {p["name"]: p for p in (await http.get("/api/plugins")).json()["plugins"]}
        assert listed["fixture"]["pid"] == after["pid"]
        unloaded = await http.post("/api/plugins/fixture/unload")
        assert unloaded.status_code == 200 and unloaded.json()["plugin"]["pid"] == 0
        loaded = await http.post("/api/plugins/fixture/load")
        assert loaded.status_code == 200 and loaded.json()["plugin"]["state"] == "ready"
        again = await http.post("/api/plugins/fixture/load")
        assert again.status_code == 409
        request = agent_pb2.LoadPluginRequest(name="fixture")
        assert again.json()["error"]["message"] == await grpc_details(served, "LoadPlugin", request)
        unknown = await http.post("/api/plugins/nothing/reload")
        assert unknown.status_code == 404 and "nothing" in unknown.json()["error"]["message"]


async def test_the_router_is_asked_through_the_host(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        providers = (await http.get("/api/router/providers")).json()
        assert [p["name"] for p in providers["providers"]] == ["scripted"]
        budget = (await http.get("/api/router/budget")).json()["budgets"][0]
        assert (budget["scope"], budget["limit"]) == ("global", 5.0)
        await http.post(f"/api/agents/{agent.name}/messages", json={"text": "spend", "room": "b"})
        spent = (await http.get("/api/router/budget")).json()["budgets"][0]["spent"]
        assert spent == pytest.approx(budget["spent"] + 0.001)  # the spend moved
        usage = (await http.get("/api/router/usage", params={"agent": agent.name})).json()
        assert "rows" in usage and "cost" in usage
        decision = await http.post("/api/router/explain", json={"text": "where to", "quality": "fast"})
        assert decision.status_code == 200 and decision.json()["decision"]["rule"] == "fast:where to"
        chat = await http.post("/api/router/explain", json={"messages": [{"role": "user", "content": "hi"}]})
        assert chat.json()["decision"]["rule"] == ":hi"
        assert (await http.post("/api/router/explain", json={})).status_code == 400
        refused = await http.post("/api/router/explain", json={"text": "x", "quality": "impossible"})
        assert refused.status_code == 400 and "no provider fits" in refused.json()["error"]["message"]
        assert (await http.get("/api/router/usage", params={"limit": -1})).status_code == 400


async def test_status_logs_and_metrics(served: Host) -> None:
    agent = served.find_agent("")
    async with api(served) as http:
        status = (await http.get("/api/status")).json()
        assert status["state"] == "READY" and [a["name"] for a in status["agents"]] == [agent.name]
        assert "fixture" in [p["name"] for p in status["plugins"]]
        assert status["router"]["spend"]["agents"][agent.name]["calls"] >= 0
        assert status["router"]["breakers"] == {"scripted:m": "closed"} and status["router"]["unavailable"] == {}
        logs = (await http.get("/api/logs", params={"limit": 5})).json()["records"]
        assert 0 < len(logs) <= 5 and {"time_ms", "level", "message"} <= set(logs[0])
        bad = await http.get("/api/logs", params={"level": "loud"})
        assert bad.status_code == 400
        request = agent_pb2.GetLogsRequest(level="loud")
        assert bad.json()["error"]["message"] == await grpc_details(served, "GetLogs", request)
        assert (await http.get("/api/logs/stream", params={"level": "loud"})).status_code == 400
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200 and "agenthost_uptime_seconds" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")
    async with api(served, token="") as http:
        assert (await http.get("/metrics")).status_code == 401
        async with http.stream(
            "GET", "/api/logs/stream", params={"token": served.api_token, "level": "warn", "limit": 1}
        ) as follow:
            assert follow.status_code == 200
            lines = follow.aiter_lines()
            assert await anext(lines) == ": following"
            logging.getLogger("host.test").warning("a marker for the follow")
            async for line in lines:
                if line.startswith("data: ") and "a marker for the follow" in line:
                    record = json.loads(line.removeprefix("data: "))
                    break
    assert record["level"].lower().startswith("warn")


async def test_a_full_backlog_is_429_with_retry_after(start_host: Any, router: Any) -> None:
    host = await start_host(router_address=router[1], http="127.0.0.1:0", admission=AdmissionSettings(1, 0))
    agent = host.find_agent("")
    async with api(host) as http:
        busy = asyncio.create_task(http.post(f"/api/agents/{agent.name}/messages", json={"text": "slow", "room": "q"}))
        assert await eventually(lambda: agent.running_runs() == 1)
        refused = await http.post(f"/api/agents/{agent.name}/messages?stream=true", json={"text": "more", "room": "q"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "messages waiting, the most it keeps" in refused.json()["error"]["message"]
        assert refused.json()["error"]["code"] == "resource_exhausted"
        assert (await busy).json()["reply"] == "You said: slow"
