"""The router's response cache, over a real gRPC connection: a deterministic call seen before is
answered without calling a provider (booked as a cached call, at no cost), hits and misses are
counted in ListProviders, and nothing else is cached."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, AsyncIterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import grpc  # noqa: E402
import litellm  # noqa: E402
import pytest  # noqa: E402
from agenthost.v1 import router_pb2, router_pb2_grpc  # noqa: E402
from agents_support import run_cli  # noqa: E402
from support import eventually  # noqa: E402

from router.accounting import Budget  # noqa: E402
from router.accounting_sqlite import SQLiteAccounting  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.config import RouterConfigError, load_router_config  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import parse_policy  # noqa: E402
from router.registry import parse_providers  # noqa: E402
from router.requests import CallRequest  # noqa: E402
from router.response_cache import ResponseCache, cache_key  # noqa: E402
from router.server import router_server  # noqa: E402

PROVIDERS = parse_providers(
    [
        {"name": "fake", "model": "chat", "litellm_model": "openai/gpt-4o-mini", "cost_in": 0.01, "cost_out": 0.01,
         "max_context": 8000, "latency_ms": 10, "endpoint_env": "FAKE_KEY", "capabilities": ["chat"]},
        {"name": "fake", "model": "embed", "litellm_model": "openai/text-embedding-3-small", "cost_in": 0.01,
         "cost_out": 0, "max_context": 8000, "latency_ms": 10, "endpoint_env": "FAKE_KEY",
         "capabilities": ["embedding"]},
    ],
    "test",
)  # fmt: skip
POLICY = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")


class Provider:
    """The fake provider: counts its calls (and its chat calls) and answers with the call's number."""

    def __init__(self) -> None:
        self.calls = self.chats = 0

    async def complete(self, **kwargs: Any) -> Any:
        self.calls += 1
        self.chats += 1
        return await litellm.acompletion(mock_response=f"answer {self.calls}", **kwargs)

    async def embed(self, **kwargs: Any) -> Any:
        self.calls += 1
        return await litellm.aembedding(mock_response=[0.5, float(self.calls)], **kwargs)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[router_pb2_grpc.RouterServiceStub, Provider]]:
    accounting = await SQLiteAccounting.open(str(tmp_path / "r.db"))
    provider = Provider()
    router = Router(
        PROVIDERS, POLICY, accounting, (Budget("global", "total", 10.0),),
        ProviderCaller(env={"FAKE_KEY": "sk-test"}, complete=provider.complete, embed=provider.embed),
        cache=ResponseCache(max_entries=2, ttl_s=600),
    )  # fmt: skip
    server = router_server(router)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield router_pb2_grpc.RouterServiceStub(channel), provider
    await server.stop(None)
    await accounting.close()


def chat(text: str, **meta: Any) -> router_pb2.InvokeRequest:
    message = router_pb2.ChatMessage(role="user", content=text)
    return router_pb2.InvokeRequest(messages=[message], meta=router_pb2.CallMeta(**meta))


async def test_a_temperature_0_call_seen_before_is_answered_from_the_cache_at_no_cost(served):
    stub, provider = served
    first = await stub.Invoke(chat("hello", temperature=0, agent_name="a"), timeout=10)
    again = await stub.Invoke(chat("hello", temperature=0, agent_name="b"), timeout=10)  # whoever asks
    assert (first.text, first.cached, first.cost > 0) == ("answer 1", False, True)
    assert (again.text, again.cached, again.cost, again.provider) == ("answer 1", True, 0.0, "fake")
    assert again.request_id != first.request_id and provider.calls == 1
    usage = await stub.GetUsage(router_pb2.GetUsageRequest(), timeout=10)
    assert sorted((r.agent_name, r.status, r.cost > 0) for r in usage.rows) == [
        ("a", "ok", True),
        ("b", "cached", False),
    ]
    cache = (await stub.ListProviders(router_pb2.ListProvidersRequest(), timeout=10)).response_cache
    assert (cache.hits, cache.misses, cache.entries, cache.max_entries) == (1, 1, 1, 2)


async def test_a_streamed_call_seen_before_streams_the_kept_text(served):
    stub, provider = served
    await stub.Invoke(chat("stream me", temperature=0), timeout=10)
    events = [
        e async for e in stub.InvokeStream(router_pb2.InvokeStreamRequest(request=chat("stream me", temperature=0)))
    ]
    assert [e.WhichOneof("event") for e in events] == ["delta", "done"]
    assert (events[0].delta, events[1].done.cached, provider.calls) == ("answer 1", True, 1)


async def test_calls_that_may_answer_differently_are_not_cached(served):
    stub, provider = served
    for meta in ({}, {"temperature": 0.7}):  # the provider's default temperature, or a chosen one
        a = await stub.Invoke(chat("same", **meta), timeout=10)
        b = await stub.Invoke(chat("same", **meta), timeout=10)
        assert not a.cached and not b.cached and a.text != b.text
    assert provider.calls == 4
    other = await stub.Invoke(chat("another question", temperature=0), timeout=10)
    assert not other.cached and provider.calls == 5
    cache = (await stub.ListProviders(router_pb2.ListProvidersRequest(), timeout=10)).response_cache
    assert (cache.hits, cache.misses) == (0, 1)  # lookups only for deterministic calls


async def test_a_confidential_call_never_gets_an_answer_made_elsewhere(served):
    stub, provider = served
    await stub.Invoke(chat("secret", temperature=0), timeout=10)  # answered by fake:chat, not local
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # confidential: a local provider only, and there is none
        await stub.Invoke(chat("secret", temperature=0, confidential=True), timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION and provider.calls == 1


async def test_embeddings_are_cached_and_the_oldest_entry_goes_first(served):
    stub, provider = served

    async def embed(text: str) -> router_pb2.InvokeResponse:
        request = router_pb2.InvokeRequest(
            prompt=text, meta=router_pb2.CallMeta(model_type=router_pb2.MODEL_TYPE_TEXT_EMBEDDING)
        )
        return await stub.Invoke(request, timeout=10)

    one = await embed("one")
    assert (await embed("one")).cached and list((await embed("one")).embedding) == list(one.embedding)
    await embed("two")
    await embed("three")  # max_entries 2: "one" (least recently used) goes
    assert not (await embed("one")).cached and provider.calls == 4


def test_entries_expire_after_their_ttl() -> None:
    now = [0.0]
    cache = ResponseCache(max_entries=10, ttl_s=60, clock=lambda: now[0])
    request = CallRequest(messages=[{"role": "user", "content": "hi"}], temperature=0.0)
    key = cache_key(request)
    assert key is not None
    cache.put(key, object())  # type: ignore[arg-type]
    now[0] = 59.9
    assert cache.get(key) is not None
    now[0] = 60.0
    assert cache.get(key) is None and cache.stats().entries == 0
    assert cache_key(CallRequest(messages=[{"role": "user", "content": "hi"}])) is None  # no temperature given


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("max_entries = -1", "[router.response_cache]: max_entries must be a whole number >= 0, got -1"),
        ("ttl_s = 0", "[router.response_cache]: ttl_s must be a positive number (seconds), got 0"),
        ("size = 3", "[router.response_cache]: give max_entries (0 turns it off) and/or ttl_s"),
    ],
)
def test_a_bad_response_cache_table_is_one_clear_error(tmp_path: Path, table: str, problem: str) -> None:
    config = tmp_path / "agenthost.toml"
    config.write_text(f"[router.response_cache]\n{table}\n")
    with pytest.raises(RouterConfigError) as caught:
        load_router_config(config)
    assert str(caught.value) == problem


def test_the_response_cache_is_configured_from_the_router_table(tmp_path: Path) -> None:
    config = tmp_path / "agenthost.toml"
    config.write_text("[router.response_cache]\nmax_entries = 0\n")
    loaded = load_router_config(config)
    assert (loaded.response_cache_entries, loaded.response_cache_ttl_s) == (0, 600.0)
    assert not ResponseCache(loaded.response_cache_entries, loaded.response_cache_ttl_s).enabled


@pytest.fixture
async def shared_router(tmp_path: Path) -> AsyncIterator[tuple[str, Provider]]:
    """The same router on a unix socket, for a host to use as its shared router."""
    accounting = await SQLiteAccounting.open(str(tmp_path / "shared.db"))
    provider = Provider()
    router = Router(
        PROVIDERS, POLICY, accounting, (Budget("global", "total", 10.0),),
        ProviderCaller(env={"FAKE_KEY": "sk-test"}, complete=provider.complete, embed=provider.embed),
        cache=ResponseCache(max_entries=5, ttl_s=60),
    )  # fmt: skip
    server = router_server(router)
    address = f"unix://{tmp_path}/shared-router.sock"
    server.add_insecure_port(address)
    await server.start()
    yield address, provider
    await server.stop(None)
    await accounting.close()


async def test_agenthost_status_shows_the_routers_cache_hit_rate(start_host, shared_router):
    address, provider = shared_router
    host = await start_host(router_address=address)
    async with grpc.aio.insecure_channel(host.address) as channel:  # through the host, as a client calls
        stub = router_pb2_grpc.RouterServiceStub(channel)
        metadata = (("authorization", f"Bearer {host.api_token}"),)
        for _ in range(2):
            await stub.Invoke(chat("twice", temperature=0), metadata=metadata, timeout=10)
    # The host's embedding queue probes the embedding model once at start: a lookup (a miss) too.
    assert provider.chats == 1 and provider.calls == 2
    assert await eventually(lambda: (c := host.status().figures.router_cache) is not None and c.hits == 1)
    code, out, err = await run_cli(host, "status", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["cache_hit_rate"] == 0.3333, err
    assert doc["router_cache"] == {"hits": 1, "misses": 2, "entries": 2, "max_entries": 5, "ttl_s": 60.0}
    code, out, err = await run_cli(host, "status")
    assert "router cache: hit rate 33% (1 of 3 lookups), 2 kept of 5, for 60 s" in out, out + err
