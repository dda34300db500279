"""The HTTP face's OpenAI-compatible endpoint, driven by the official `openai` package as a real
client over a real socket: an in-process host (its plugins real processes) serving HTTP on a port
of 0, a scripted RouterService on a unix socket standing in for the router (it streams the
agent's reply, answers the router model and embeddings, and books usage per task like the
ledger). One test serves through `agenthost serve --http`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import httpx
import openai
import pytest
from agenthost.v1 import agent_pb2_grpc, router_pb2
from support import api_channel, eventually, fixture_spec
from test_idempotent_send import COUNTING
from test_idempotent_send import request as grpc_message
from test_pipeline_stream import StreamingRouter  # its start(): serving on a unix socket
from test_remote_plugin import pki  # noqa: F401 (a fixture: a CA and a certificate for 127.0.0.1)

from host.agent.admission import AdmissionSettings
from host.config import HTTP_ENV, HostConfig, ServerTls, SupervisionConfig, load_config
from host.host import Host
from host.http.openai_agent import Conversation, seed_history
from host.http.openai_types import ChatCompletionRequest

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))
VECTOR = [0.25, -0.5, 1.0, 0.0]


class ScriptedRouter(StreamingRouter):
    """The router as the host sees it. The agent's reply is "You said: TEXT" streamed 4
    characters at a time (slowly when TEXT says "slow"), with the fixture's action when it says
    "please"; the router model answers "routed: TEXT"; "overbudget" is refused as over budget."""

    def __init__(self) -> None:
        super().__init__()
        self.booked: dict[str, list[tuple[int, int, float]]] = {}  # task id -> (in, out, cost)
        self.qualities: dict[str, str] = {}  # the router model's calls: text -> quality asked

    def _book(self, request: router_pb2.InvokeRequest, tokens_in: int, tokens_out: int) -> None:
        self.booked.setdefault(request.meta.task_id, []).append((tokens_in, tokens_out, 0.001))

    async def InvokeStream(self, request: router_pb2.InvokeStreamRequest, context: Any) -> AsyncIterator[Any]:
        call = request.request
        text = call.messages[-1].content
        if "overbudget" in text:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "budget global/monthly is spent")
        if "breakdown" in text:
            await context.abort(grpc.StatusCode.INTERNAL, "the model broke down")
        if call.meta.task_id:  # an agent's reply (the run is the task)
            heard = text.strip()
            actions = "REPLY,FIXTURE_PICKY" if "please" in heard else "REPLY"
            xml = f"<response><thought>t</thought><actions>{actions}</actions><text>You said: {heard}</text></response>"
        else:
            self.qualities[text] = call.meta.quality
            xml = f"routed: {text}"
        for i in range(0, len(xml), 4):
            if "slow" in text:
                await asyncio.sleep(0.05)
            if "cutoff" in text and i >= 8:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the provider went away")
            yield router_pb2.InvokeStreamResponse(delta=xml[i : i + 4])
        self._book(call, 7, 3)
        done = router_pb2.InvokeResponse(
            text=xml, provider="scripted", model="m", tokens_in=7, tokens_out=3, cost=0.001
        )
        yield router_pb2.InvokeStreamResponse(done=done)

    async def Invoke(self, request: router_pb2.InvokeRequest, context: Any) -> router_pb2.InvokeResponse:
        if request.meta.model_type == router_pb2.MODEL_TYPE_TEXT_EMBEDDING:
            return router_pb2.InvokeResponse(embedding=VECTOR, provider="scripted", model="e", tokens_in=2)
        text = request.messages[-1].content if request.messages else request.prompt
        if "overbudget" in text:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "budget global/monthly is spent")
        self.qualities[text] = request.meta.quality
        self._book(request, 5, 2)
        return router_pb2.InvokeResponse(
            text=f"routed: {text}", provider="scripted", model="m", tokens_in=5, tokens_out=2, cost=0.002
        )

    async def GetUsage(self, request: router_pb2.GetUsageRequest, context: Any) -> router_pb2.GetUsageResponse:
        rows = self.booked.get(request.task_id, [])
        return router_pb2.GetUsageResponse(
            calls=len(rows),
            tokens_in=sum(r[0] for r in rows),
            tokens_out=sum(r[1] for r in rows),
            cost=sum(r[2] for r in rows),
        )


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[tuple[ScriptedRouter, str]]:
    scripted, address = ScriptedRouter(), f"unix://{tmp_path}/router.sock"
    await scripted.start(address)
    yield scripted, address
    await scripted.server.stop(0)


@pytest.fixture
async def served(start_host: Any, router: Any) -> Host:
    host: Host = await start_host(router_address=router[1], http="127.0.0.1:0")
    return host


def client(host: Host, token: str | None = None) -> openai.AsyncOpenAI:
    assert host.http is not None
    return openai.AsyncOpenAI(base_url=f"{host.http.url}/v1", api_key=token or host.api_token, max_retries=0)


async def test_the_host_serves_http_on_the_port_it_bound_and_lists_agents_and_router(served: Host) -> None:
    assert served.http is not None and re.fullmatch(r"http://127\.0\.0\.1:\d+", served.http.url)
    assert not served.http.url.endswith(":0")
    models = [m.id for m in (await client(served).models.list()).data]
    agent = served.find_agent("")
    assert models == [agent.name, agent.id, "router"]
    one = await client(served).models.retrieve(agent.id)
    assert one.model_extra is not None and one.model_extra["agenthost"]["agent_name"] == agent.name
    async with httpx.AsyncClient() as raw:  # the OpenAPI schema, without a token
        schema = (await raw.get(f"{served.http.url}/openapi.json")).json()
    assert "/v1/chat/completions" in schema["paths"]


async def test_a_chat_completion_runs_the_last_user_message_through_the_agent(served: Host, router: Any) -> None:
    agent = served.find_agent("")
    answer = await client(served).chat.completions.create(
        model=agent.name,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "my name is Ann"},
            {"role": "assistant", "content": "hello Ann"},
            {"role": "user", "content": "what is my name"},
        ],
        user="ann",
    )
    assert answer.object == "chat.completion" and answer.model == agent.name
    assert answer.choices[0].message.content == "You said: what is my name"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 3)
    extra = answer.model_extra["agenthost"]  # type: ignore[index]
    assert extra["status"] == "completed", extra
    assert extra["room_id"] == "ann" and extra["actions"] == []
    run = await served.store.get_run(agent.id, extra["run_id"])
    assert run is not None and run.status == "completed"
    # The earlier messages became the new room's history, before the message that ran.
    stored = await served.store.get_memories(agent.id, "ann", "messages", 10)
    texts = [m.content.text for m in reversed(stored)]  # newest first
    assert texts[:3] == ["my name is Ann", "hello Ann", "what is my name"] and "be brief" not in texts
    assert {m.entity_id for m in stored if m.content.text == "hello Ann"} == {agent.id}


async def test_two_first_requests_to_one_room_store_its_history_once(served: Host) -> None:
    agent = served.find_agent("")
    history = [{"role": "user", "content": "first words"}, {"role": "assistant", "content": "an answer"}]
    body = ChatCompletionRequest.model_validate(
        {"model": agent.name, "messages": [*history, {"role": "user", "content": "now"}], "user": "twice"}
    )
    talk, lock = Conversation(body, None), asyncio.Lock()  # as the app holds it
    await asyncio.gather(*(seed_history(served, agent, talk, lock) for _ in range(2)))
    stored = [m.content.text for m in await served.store.get_memories(agent.id, "twice", "messages", 10)]
    assert stored == ["an answer", "first words"]
    await client(served).chat.completions.create(model=agent.name, messages=body.model_dump()["messages"], user="twice")
    stored = [m.content.text for m in await served.store.get_memories(agent.id, "twice", "messages", 10)]
    assert stored == ["You said: now", "now", "an answer", "first words"]  # a room that exists keeps its history


async def test_actions_the_agent_ran_are_reported_in_the_agenthost_field(start_host: Any, router: Any) -> None:
    host = await start_host(fixture_spec("fixture"), router_address=router[1], http="127.0.0.1:0")
    answer = await client(host).chat.completions.create(
        model=host.find_agent("").id, messages=[{"role": "user", "content": "please help"}]
    )
    assert answer.choices[0].message.content == "You said: please help\n\nthank you"
    assert answer.choices[0].message.tool_calls is None
    actions = answer.model_extra["agenthost"]["actions"]  # type: ignore[index]
    assert actions == [{"name": "FIXTURE_PICKY", "success": True, "text": "thank you", "error": ""}]


async def test_a_chat_completion_takes_no_hop_to_a_worker_thread(served: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI runs a plain function dependency in anyio's thread pool: every route's would be a
    hop to another thread and back (bench/http.py's profile found host_of there)."""
    import anyio.to_thread

    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    agent = served.find_agent("")
    said = [{"role": "user", "content": "hi"}]
    answer = await client(served).chat.completions.create(model=agent.name, messages=said)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "You said: hi"
    assert hops == []


async def test_a_streamed_completion_sends_the_reply_in_pieces_and_ends_with_done(served: Host) -> None:
    agent = served.find_agent("")
    stream = await client(served).chat.completions.create(
        model=agent.name,
        messages=[{"role": "user", "content": "stream this"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3 and "".join(pieces) == "You said: stream this"
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert finish[0].model_extra["agenthost"]["status"] == "completed"  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 10
    async with httpx.AsyncClient(timeout=30) as raw:  # the wire: server-sent events ending [DONE]
        body = {"model": agent.name, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        response = await raw.post(
            f"{served.http.url}/v1/chat/completions",  # type: ignore[union-attr]
            json=body,
            headers={"Authorization": f"Bearer {served.api_token}", "X-Agenthost-Room": "raw"},
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")
    assert (await served.store.list_runs(agent.id, "raw"))[0].status == "completed"


async def test_a_client_gone_mid_stream_leaves_the_run_to_finish_and_be_stored(served: Host) -> None:
    agent = served.find_agent("")
    stream = await client(served).chat.completions.create(
        model=agent.name, messages=[{"role": "user", "content": "slow one"}], user="leaver", stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    runs = await served.store.list_runs(agent.id, "leaver")
    assert runs and runs[0].status == "started"  # it was cut off mid-run

    async def finished() -> bool:
        run = await served.store.get_run(agent.id, runs[0].id)
        return run is not None and run.status == "completed"

    for _ in range(100):
        if await finished():
            break
        await asyncio.sleep(0.1)
    assert await finished()
    stored = await served.store.get_memories(agent.id, "leaver", "messages", 10)
    assert "You said: slow one" in [m.content.text for m in stored]
    again = await client(served).chat.completions.create(model=agent.name, messages=[{"role": "user", "content": "x"}])
    assert again.choices[0].message.content == "You said: x"  # and the host serves on


async def test_the_router_model_sends_the_chat_straight_to_the_router(served: Host, router: Any) -> None:
    scripted, _ = router
    answer = await client(served).chat.completions.create(
        model="router/high", messages=[{"role": "user", "content": "route me"}], max_tokens=20
    )
    assert answer.choices[0].message.content == "routed: route me" and answer.model == "router/high"
    assert answer.usage is not None and answer.usage.total_tokens == 7
    assert answer.model_extra["agenthost"]["provider"] == "scripted"  # type: ignore[index]
    stream = await client(served).chat.completions.create(
        model="router", messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == "routed: stream me"
    assert scripted.qualities["route me"] == "high" and scripted.qualities["stream me"] == ""
    cut = await client(served).chat.completions.create(
        model="router", messages=[{"role": "user", "content": "cutoff"}], stream=True
    )
    got = []
    with pytest.raises(openai.APIError, match="router: the provider went away"):
        async for chunk in cut:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "routed: "  # what came before the router's stream broke


async def test_embeddings_go_through_the_router_as_floats_or_base64(served: Host) -> None:
    as_base64 = await client(served).embeddings.create(model="router", input=["one", "two"])  # the client's default
    assert [d.embedding for d in as_base64.data] == [VECTOR, VECTOR] and as_base64.usage.prompt_tokens == 4
    as_floats = await client(served).embeddings.create(
        model=served.find_agent("").name, input="one", encoding_format="float"
    )
    assert as_floats.data[0].embedding == VECTOR


async def test_errors_have_openais_shape_and_status(served: Host, start_host: Any) -> None:
    agent = served.find_agent("")
    with pytest.raises(openai.NotFoundError) as missing:
        await client(served).chat.completions.create(model="nobody", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found" and agent.name in missing.value.message
    with pytest.raises(openai.AuthenticationError):
        await client(served, token="wrong").models.list()
    with pytest.raises(openai.RateLimitError) as spent:
        await client(served).chat.completions.create(
            model="router", messages=[{"role": "user", "content": "overbudget"}]
        )
    assert "budget" in spent.value.message and spent.value.response.headers["retry-after"]
    with pytest.raises(openai.BadRequestError) as no_user:
        await client(served).chat.completions.create(model=agent.name, messages=[{"role": "system", "content": "x"}])
    assert no_user.value.param == "messages"
    url, auth = f"{served.http.url}/v1/chat/completions", {"Authorization": f"Bearer {served.api_token}"}  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=30) as raw:
        bad_json = await raw.post(url, content=b'{"model": ', headers={**auth, "Content-Type": "application/json"})
        wrong_type = await raw.post(url, json={"model": agent.name, "messages": "hi"}, headers=auth)
        two = await raw.post(
            url, json={"model": agent.name, "messages": [{"role": "user", "content": "x"}], "n": 2}, headers=auth
        )
        huge = await raw.post(url, content=b"x" * (9 * 1024 * 1024), headers=auth)
        no_route = await raw.get(f"{served.http.url}/v1/nothing", headers=auth)  # type: ignore[union-attr]
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["param"] == "messages"
    assert two.status_code == 400 and two.json()["error"]["param"] == "n"
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    assert no_route.status_code == 404 and set(no_route.json()["error"]) == {"message", "type", "param", "code"}
    answer = await client(served).chat.completions.create(
        model=agent.name, messages=[{"role": "user", "content": "ok"}]
    )
    assert answer.choices[0].message.content == "You said: ok"  # it serves on


async def test_the_chat_completion_is_served_by_its_plain_route_and_documented_by_fastapi(
    served: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openai_chat's route serves it, without FastAPI's dependency solving (bench/http.py: about a
    millisecond a completion); FastAPI's route still documents it."""
    import fastapi.routing

    solved: list[object] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs.get("request"))
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    agent = served.find_agent("")
    said = [{"role": "user", "content": "plain"}]
    answer = await client(served).chat.completions.create(model=agent.name, messages=said)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "You said: plain" and solved == []
    await client(served).models.list()
    assert len(solved) == 1  # FastAPI's routes still go through it
    async with httpx.AsyncClient() as raw:
        schema = (await raw.get(f"{served.http.url}/openapi.json")).json()  # type: ignore[union-attr]
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletionRequest")
    assert [p["name"] for p in chat["parameters"]] == ["x-agenthost-room", "x-agenthost-message-id"]
    assert chat["parameters"][1]["schema"]["maxLength"] == 128 and "replayed" in chat["parameters"][1]["description"]


def _chat(**changes: Any) -> bytes:
    """A chat request's body to the agent ("M", the test puts its name in), with `changes`."""
    return json.dumps({"model": "M", "messages": [{"role": "user", "content": "x"}], **changes}).encode()


#: Bad chat requests: (what, body bytes, headers beside the token's; "" drops one).
BAD_CHATS: list[tuple[str, bytes, dict[str, str]]] = [
    ("malformed JSON", b'{"model": ', {}),
    ("messages a string", _chat(messages="hi"), {}),
    ("no messages", _chat(messages=[]), {}),
    ("model a number", _chat(model=5), {}),
    ("an unknown role", _chat(messages=[{"role": "robot", "content": "x"}]), {}),
    ("stream a string", _chat(stream="yes"), {}),
    ("n of 2", _chat(n=2), {}),
    ("a JSON list", b"[1, 2]", {}),
    ("an empty body", b"", {}),
    ("an unknown model", _chat(model="nobody"), {}),
    ("a room header too long", _chat(), {"X-Agenthost-Room": "r" * 257}),
    ("a message id header too long", _chat(), {"X-Agenthost-Message-Id": "m" * 129}),
    ("not JSON's content type", _chat(), {"Content-Type": "text/plain"}),
    ("no content type", _chat(), {"Content-Type": ""}),
    ("a body over the limit", b"x" * (9 * 1024 * 1024), {}),
]


async def test_bad_chat_requests_get_the_errors_fastapis_route_gave(served: Host) -> None:
    """The plain route against FastAPI's (the same app without it): each bad request gets the same
    status, error type, code and param; and a request without the token is refused first."""
    from host.http.app import create_app
    from host.http.openai_chat import PATH

    fastapi_app = create_app(served, served.api_token)
    del fastapi_app.router.routes[0]  # the plain route
    agent = served.find_agent("")
    auth = {"Authorization": f"Bearer {served.api_token}"}
    plain = httpx.AsyncClient(base_url=served.http.url, timeout=30)  # type: ignore[union-attr]
    routed = httpx.AsyncClient(base_url="http://fastapi", transport=httpx.ASGITransport(app=fastapi_app), timeout=30)
    async with plain, routed:
        for what, body, headers in BAD_CHATS:
            sent = {"Content-Type": "application/json", **auth, **headers}
            sent = {k: v for k, v in sent.items() if v}
            content = body.replace(b'"M"', json.dumps(agent.name).encode())
            ours, theirs = [await c.post(PATH, content=content, headers=sent) for c in (plain, routed)]
            assert 400 <= ours.status_code < 500, (what, ours.text)
            shape = [
                (r.status_code, {k: r.json()["error"][k] for k in ("type", "code", "param")}) for r in (ours, theirs)
            ]
            assert shape[0] == shape[1], what
        refused = await plain.post(PATH, content=b'{"model": ', headers={"Content-Type": "application/json"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert (await plain.get(PATH, headers=auth)).status_code == 405
    answer = await client(served).chat.completions.create(
        model=agent.name, messages=[{"role": "user", "content": "on"}]
    )
    assert answer.choices[0].message.content == "You said: on"  # it serves on


async def test_a_full_backlog_is_429_with_retry_after(start_host: Any, router: Any) -> None:
    host = await start_host(router_address=router[1], http="127.0.0.1:0", admission=AdmissionSettings(1, 0))
    agent = host.find_agent("")
    busy = asyncio.create_task(
        client(host).chat.completions.create(model=agent.name, messages=[{"role": "user", "content": "slow"}])
    )
    assert await eventually(lambda: agent.running_runs() == 1)
    with pytest.raises(openai.RateLimitError) as refused:
        await client(host).chat.completions.create(model=agent.name, messages=[{"role": "user", "content": "more"}])
    assert refused.value.code == "backlog_full" and int(refused.value.response.headers["retry-after"]) >= 1
    assert (await busy).choices[0].message.content == "You said: slow"


def test_serve_http_shows_its_address_and_a_taken_port_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "agenthost.toml"
    config.write_text('router_address = "off"\n')
    env = {**os.environ, "AGENTHOST_DATA_DIR": str(tmp_path / "data"), "AGENTHOST_TOKEN": "http-test-token"}
    serve = [AGENTHOST, "serve", "--config", str(config), "--listen", f"unix://{tmp_path}/h.sock"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [*serve, "--http", f"127.0.0.1:{port}"], env=env, capture_output=True, text=True, timeout=60
        )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    said = f"agenthost: cannot serve HTTP on 127.0.0.1:{port}: Address already in use"
    assert refused.stderr.strip().splitlines()[-1] == said
    bad = subprocess.run([*serve, "--http", "nowhere"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--http 'nowhere'" in bad.stderr
    host = subprocess.Popen([*serve, "--http", "127.0.0.1:0"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        url = ""
        for line in host.stdout:
            found = re.match(r"http on (http://127\.0\.0\.1:\d+/v1) ", line)
            if found:
                url = found.group(1)
                break
        assert url
        models = openai.OpenAI(base_url=url, api_key="http-test-token", max_retries=0).models.list()
        assert [m.model_extra["agenthost"]["kind"] for m in models.data] == ["agent", "agent"]  # type: ignore[index]
    finally:
        host.send_signal(signal.SIGTERM)
        assert host.wait(timeout=30) == 0


async def test_a_failed_run_is_a_500_or_an_error_event_in_the_stream(served: Host) -> None:
    agent = served.find_agent("")
    with pytest.raises(openai.InternalServerError) as failed:
        await client(served).chat.completions.create(
            model=agent.name, messages=[{"role": "user", "content": "breakdown"}], user="failing"
        )
    assert failed.value.code == "run_failed"
    run = (await served.store.list_runs(agent.id, "failing"))[0]
    assert run.status == "failed" and run.id in failed.value.message
    stream = await client(served).chat.completions.create(
        model=agent.name, messages=[{"role": "user", "content": "breakdown again"}], stream=True
    )
    with pytest.raises(openai.APIError, match="failed"):
        async for _ in stream:
            pass
    with pytest.raises(openai.NotFoundError):
        await client(served).embeddings.create(model="nobody", input="x")


async def test_http_is_served_over_tls_when_the_host_has_a_certificate(
    start_host: Any,
    router: Any,
    pki: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    tls = ServerTls(str(pki / "host.crt"), str(pki / "host.key"))
    host = await start_host(router_address=router[1], listen="127.0.0.1:0", tls=tls, http="127.0.0.1:0")
    assert host.http is not None and host.http.url.startswith("https://127.0.0.1:")
    trusting = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(pki / "ca.crt")))
    over_tls = openai.AsyncOpenAI(
        base_url=f"{host.http.url}/v1", api_key=host.api_token, max_retries=0, http_client=trusting
    )
    assert [m.id for m in (await over_tls.models.list()).data][-1] == "router"
    await trusting.aclose()
    async with httpx.AsyncClient() as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get(host.http.url.replace("https:", "http:") + "/v1/models")


def test_a_host_without_http_does_not_load_fastapi() -> None:
    code = (
        "import sys; from host.host import Host; from host.cli import commands; "
        "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_http_address_comes_from_the_flag_the_file_the_environment_or_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agenthost.toml"
    path.write_text('http = "127.0.0.1:0"\n')
    monkeypatch.delenv(HTTP_ENV, raising=False)
    assert HostConfig().http == "off"  # a config built in code serves no HTTP
    assert load_config(None).http == "127.0.0.1:7532"
    monkeypatch.setenv(HTTP_ENV, "off")
    assert load_config(None).http == "off"
    assert load_config(path).http == "127.0.0.1:0"
    assert load_config(path, http=":8000").http == ":8000"


async def test_with_a_real_router_the_usage_is_its_ledgers_for_the_run(
    start_host: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router process the host spawns, its providers bench/mock_provider.py's OpenAI-compatible server."""
    sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))
    from mock_provider import REPLY as mock_reply
    from mock_provider import VECTOR as MOCK_VECTOR
    from mock_provider import MockProvider

    mock = MockProvider()
    api_base = await mock.start()
    monkeypatch.setenv("HTTP_TEST_MOCK_KEY", "sk-mock")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    models = {"chat": "chat", "embed": "embedding"}
    providers = [
        {"name": "mock", "model": model, "litellm_model": f"openai/{model}", "api_base": api_base, "cost_in": 1.0,
         "cost_out": 2.0, "max_context": 32000, "latency_ms": 10, "max_output_tokens": 256,
         "endpoint_env": "HTTP_TEST_MOCK_KEY", "capabilities": [capability]}
        for model, capability in models.items()
    ]  # fmt: skip
    (tmp_path / "providers.json").write_text(json.dumps(providers))
    policy = [{"name": "default", "when": {}, "prefer": ["mock:chat", "mock:embed"], "order_by": "cost"}]
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    config = tmp_path / "agenthost.toml"
    config.write_text('[router]\nproviders = "providers.json"\npolicy = "policy.json"\n')
    try:
        # The default supervision: the tests' fast health checks restart a router busy on a loaded box.
        host = await start_host(router_address="", path=config, http="127.0.0.1:0", supervision=SupervisionConfig())
        agent = host.find_agent("")
        answer = await client(host).chat.completions.create(
            model=agent.name, messages=[{"role": "user", "content": "hello"}]
        )
        assert answer.choices[0].message.content == "ok"  # the mock's reply
        run_id = answer.model_extra["agenthost"]["run_id"]  # type: ignore[index]
        ledger = await host.router.stub().GetUsage(
            router_pb2.GetUsageRequest(agent_name=agent.name, task_id=run_id), metadata=host.router.metadata
        )
        assert ledger.calls >= 1 and ledger.tokens_in > 0
        assert answer.usage is not None
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (ledger.tokens_in, ledger.tokens_out)
        assert answer.model_extra["agenthost"]["cost"] == pytest.approx(ledger.cost)  # type: ignore[index]
        routed = await client(host).chat.completions.create(
            model="router", messages=[{"role": "user", "content": "hi"}]
        )
        assert routed.model_extra["agenthost"]["provider"] == "mock"  # type: ignore[index]
        assert routed.usage is not None and routed.usage.prompt_tokens > 0
        for model in (agent.name, "router"):  # streamed: the agent's reply, the router's answer
            stream = await client(host).chat.completions.create(
                model=model, messages=[{"role": "user", "content": "again"}], stream=True
            )
            pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
            assert "".join(pieces) == ("ok" if model == agent.name else mock_reply)
        vectors = await client(host).embeddings.create(model="router", input="words")
        assert vectors.data[0].embedding == pytest.approx(MOCK_VECTOR)
    finally:
        await mock.stop()


def message_id(value: str) -> dict[str, str]:
    return {"X-Agenthost-Message-Id": value}


async def test_a_message_id_sent_again_replays_the_run_and_the_model_is_called_once(start_host: Any) -> None:
    """X-Agenthost-Message-Id: the same id again (a client retrying after a lost connection) gets
    the same completion from the stored run, `agenthost.replayed` true; the model (a plugin
    counting its calls) is not asked again. The same limit and wording as gRPC's message_id."""
    host: Host = await start_host(COUNTING, http="127.0.0.1:0")
    agent, said = host.find_agent(""), [{"role": "user", "content": "hello"}]
    ask = client(host).chat.completions.create
    first, again = [await ask(model=agent.name, messages=said, extra_headers=message_id("oa-1")) for _ in range(2)]  # type: ignore[arg-type]
    assert first.choices[0].message.content == again.choices[0].message.content == "call 1: hello"
    ran, replayed = first.model_extra["agenthost"], again.model_extra["agenthost"]  # type: ignore[index]
    assert ran["replayed"] is False and replayed["replayed"] is True
    assert replayed["run_id"] == ran["run_id"] and replayed["status"] == ran["status"] == "completed"
    assert replayed["room_id"] == ran["room_id"]  # the run's room: the resend's own would be a new one
    stream = await ask(model=agent.name, messages=said, stream=True, extra_headers=message_id("oa-1"))  # type: ignore[arg-type]
    chunks = [chunk async for chunk in stream]  # type: ignore[union-attr]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "call 1: hello"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[0].model_extra["agenthost"]["replayed"] is True  # type: ignore[index]
    assert finish[0].model_extra["agenthost"]["run_id"] == ran["run_id"]  # type: ignore[index]
    calls = await ask(model=agent.name, messages=[{"role": "user", "content": "calls?"}])
    assert calls.choices[0].message.content == "calls=1"  # three completions, one model call
    assert [r.id for r in await host.store.runs_of_message(agent.id, "oa-1")] == [ran["run_id"]]
    other = await ask(model=agent.name, messages=said, extra_headers=message_id("oa-2"))  # type: ignore[arg-type]
    assert other.choices[0].message.content == "call 2: hello"  # another id: another message
    longest = await ask(model=agent.name, messages=said, extra_headers=message_id("x" * 128))  # type: ignore[arg-type]
    assert longest.choices[0].message.content == "call 3: hello"
    with pytest.raises(openai.BadRequestError) as too_long:
        await ask(model=agent.name, messages=said, extra_headers=message_id("x" * 129))  # type: ignore[arg-type]
    assert too_long.value.param == "header.x-agenthost-message-id"
    async with api_channel(host) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(grpc_message("hi", "x" * 129)):
                pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    worded = (refused.value.details() or "").replace("message_id", "X-Agenthost-Message-Id")
    said_back = too_long.value.response.json()["error"]["message"]
    assert said_back == worded == "X-Agenthost-Message-Id is 129 characters, over the limit of 128"
    assert [r.id for r in await host.store.runs_of_message(agent.id, "x" * 129)] == []
