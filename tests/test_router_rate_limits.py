"""Per-provider requests- and tokens-per-minute limits, counted in the accounting database so that
several routers sharing it keep to them together: a provider over its limit is skipped for the
next one, and a call every provider turns away fails with RESOURCE_EXHAUSTED and when to retry.

Each test runs on SQLite, and on PostgreSQL when AGENTHOST_TEST_DATABASE_URL names one. The
routers' clock is a fake one, so a test moves to the next minute without waiting for it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator, Awaitable, Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import asyncpg  # noqa: E402
import grpc  # noqa: E402
import pytest  # noqa: E402
from agenthost.v1 import router_pb2, router_pb2_grpc  # noqa: E402

from router.accounting import Accounting, Budget, BudgetExceeded, RateLimit, open_accounting  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import parse_policy  # noqa: E402
from router.registry import Provider, RegistryError, parse_providers  # noqa: E402
from router.requests import CallRequest, Refused, RetrySettings  # noqa: E402
from router.service import RouterServicer  # noqa: E402

DATABASE = os.environ.get("AGENTHOST_TEST_DATABASE_URL", "")
KEYS = {"FAKE_KEY": "sk-test"}
POLICY = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")
MAX_OUT = 300
START = 1_800_000_000.0 + 18  # 18 s into a minute: its window opens again in 42 s
BUDGETS = (Budget("global", "total", 100.0),)


def providers(**limits: dict[str, int]) -> tuple[Provider, ...]:
    """ "fake:cheap", then "fake:dear" (the fallback), each with the rpm/tpm given by its model name."""
    return parse_providers(
        [
            {"name": "fake", "model": model, "litellm_model": f"openai/{model}", "cost_in": cost, "cost_out": cost,
             "max_context": 8000, "latency_ms": 10, "endpoint_env": "FAKE_KEY", "max_output_tokens": MAX_OUT,
             **limits.get(model, {})}
            for model, cost in (("cheap", 0.001), ("dear", 0.002))
        ],
        "test",
    )  # fmt: skip


class FakeLLM:
    """Answers every call, reporting `usage` (prompt, completion tokens); counts calls per model.
    `delay` keeps calls in flight together."""

    def __init__(self, usage: tuple[int, int] = (10, 20), delay: float = 0.0) -> None:
        self.usage = usage
        self.delay = delay
        self.calls: Counter[str] = Counter()

    async def complete(self, **kwargs: Any) -> Any:
        self.calls[kwargs["model"].removeprefix("openai/")] += 1
        await asyncio.sleep(self.delay)
        prompt, completion = self.usage
        message = SimpleNamespace(content="ok")
        return SimpleNamespace(
            choices=[SimpleNamespace(message=message)],
            usage=SimpleNamespace(prompt_tokens=prompt, completion_tokens=completion),
        )


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


MakeRouter = Callable[..., Awaitable[Router]]


@pytest.fixture(params=["sqlite", "postgres"])
async def make_router(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeRouter]:
    """make_router(providers, llm, clock) -> a Router on this test's database; every one made
    shares it, as routers sharing a budget do."""
    admin: asyncpg.Connection | None = None
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/router.db"
    else:
        if not DATABASE:
            pytest.skip("AGENTHOST_TEST_DATABASE_URL is not set")
        admin = await asyncpg.connect(DATABASE)
        schema = "router_rate_test_" + uuid.uuid4().hex[:12]
        url = f"{DATABASE}?schema={schema}"
    opened: list[Accounting] = []

    async def make(registry: tuple[Provider, ...], llm: FakeLLM, clock: Clock) -> Router:
        opened.append(await open_accounting(url))
        retry = RetrySettings(attempts_per_provider=1, backoff_initial_s=0.01, attempt_timeout_s=30, call_timeout_s=60)
        caller = ProviderCaller(env=KEYS, complete=llm.complete)
        router = Router(registry, POLICY, opened[-1], BUDGETS, caller, None, retry, KEYS)
        router.attempts.clock = clock
        return router

    yield make
    for accounting in opened:
        await accounting.close()
    if admin is not None:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def ask(prompt: str = "hi") -> CallRequest:
    return CallRequest(messages=[{"role": "user", "content": prompt}], max_output_tokens=MAX_OUT)


async def tokens_counted(router: Router, provider_id: str) -> int:
    """What one call of ask() counts against a provider's tpm: its input bound plus max output."""
    decision = await router.decide(ask())
    [candidate] = [c for c in decision.candidates if c.provider.id == provider_id]
    return decision.request.reserved_input_tokens(candidate.provider) + candidate.max_output_tokens


async def test_a_provider_at_its_rpm_is_skipped_for_the_next_until_the_minute_turns(make_router):
    llm, clock = FakeLLM(), Clock()
    router = await make_router(providers(cheap={"rpm": 3}), llm, clock)
    replies = [await router.invoke(ask()) for _ in range(4)]
    assert [r.provider.model for r in replies] == ["cheap", "cheap", "cheap", "dear"]
    fourth = replies[3].attempts
    assert [(a.provider.model, a.status, a.error_class) for a in fourth] == [
        ("cheap", "refused", "RateLimited"),
        ("dear", "fallback", ""),
    ]
    assert fourth[0].error == "rpm limit 3 reached (next window in 42 s)"
    assert llm.calls == {"cheap": 3, "dear": 1}  # the skipped provider was not called
    usage = await router.accounting.usage(provider="fake")
    assert Counter((r.model, r.status) for r in usage.rows) == {
        ("cheap", "ok"): 3,
        ("cheap", "refused"): 1,
        ("dear", "fallback"): 1,
    }
    clock.now += 60  # the next minute: a fresh window
    assert (await router.invoke(ask())).provider.model == "cheap"


async def test_two_routers_on_one_database_never_exceed_the_rpm_together(make_router):
    llm, clock = FakeLLM(delay=0.02), Clock()
    registry = providers(cheap={"rpm": 10})
    first, second = await make_router(registry, llm, clock), await make_router(registry, llm, clock)
    replies = await asyncio.gather(*(router.invoke(ask()) for router in [first, second] * 25))
    taken = Counter(r.provider.model for r in replies)
    assert taken == {"cheap": 10, "dear": 40}
    assert llm.calls == {"cheap": 10, "dear": 40}


async def test_the_tpm_counts_the_bound_then_the_real_usage(make_router):
    clock = Clock()
    bound = await tokens_counted(await make_router(providers(), FakeLLM(), clock), "fake:cheap")
    # Each call reports 30 tokens: once settled, the window holds 30 a call, not the bound, so
    # a window of bound + 100 takes 4 calls one after another (it would take 1 if the bound stayed).
    llm = FakeLLM(usage=(10, 20))
    router = await make_router(providers(cheap={"tpm": bound + 100}), llm, clock)
    replies = [await router.invoke(ask()) for _ in range(5)]
    assert [r.provider.model for r in replies] == ["cheap"] * 4 + ["dear"]
    assert replies[4].attempts[0].error == f"tpm limit {bound + 100} reached (next window in 42 s)"
    clock.now += 60
    assert (await router.invoke(ask())).provider.model == "cheap"


async def test_a_call_bigger_than_the_whole_tpm_is_never_sent_there(make_router):
    router = await make_router(providers(cheap={"tpm": 100}), FakeLLM(), Clock())
    reply = await router.invoke(ask())
    assert reply.provider.model == "dear"
    assert reply.attempts[0].error.startswith("tpm limit 100 is below the call's ")


async def test_two_routers_on_one_database_never_exceed_the_tpm_together(make_router):
    clock = Clock()
    bound = await tokens_counted(await make_router(providers(), FakeLLM(), clock), "fake:cheap")
    # Calls report what they counted, so the window holds 7 calls' worth of tokens: no more fit.
    llm = FakeLLM(usage=(bound - MAX_OUT, MAX_OUT), delay=0.02)
    registry = providers(cheap={"tpm": 7 * bound + bound // 2})
    first, second = await make_router(registry, llm, clock), await make_router(registry, llm, clock)
    replies = await asyncio.gather(*(router.invoke(ask()) for router in [first, second] * 25))
    assert Counter(r.provider.model for r in replies) == {"cheap": 7, "dear": 43}
    assert llm.calls == {"cheap": 7, "dear": 43}


async def test_every_provider_over_its_limit_refuses_with_when_to_retry(make_router):
    llm, clock = FakeLLM(), Clock()
    router = await make_router(providers(cheap={"rpm": 1}, dear={"rpm": 1}), llm, clock)
    assert [(await router.invoke(ask())).provider.model for _ in range(2)] == ["cheap", "dear"]
    with pytest.raises(Refused) as refused:
        await router.invoke(ask())
    assert refused.value.retry_after_s == 42
    assert str(refused.value) == (
        "fake:cheap: rpm limit 1 reached (next window in 42 s); "
        "fake:dear: rpm limit 1 reached (next window in 42 s); retry in 42 s"
    )
    assert llm.calls == {"cheap": 1, "dear": 1}


async def test_grpc_says_resource_exhausted_with_a_retry_hint_and_explain_shows_why(make_router):
    clock = Clock()
    router = await make_router(providers(cheap={"rpm": 1}, dear={"tpm": 100}), FakeLLM(), clock)
    server = grpc.aio.server()
    router_pb2_grpc.add_RouterServiceServicer_to_server(RouterServicer(router), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    request = router_pb2.InvokeRequest(prompt="hi", meta=router_pb2.CallMeta(max_output_tokens=MAX_OUT))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = router_pb2_grpc.RouterServiceStub(channel)
            explained = await stub.Explain(router_pb2.ExplainRequest(request=request), timeout=10)
            assert explained.decision.provider == "fake"  # cheap has room still
            assert (await stub.Invoke(request, timeout=10)).model == "cheap"
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Invoke(request, timeout=10)
            assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert failed.value.details().endswith("; retry in 42 s")
            assert ("retry-after", "42") in tuple(failed.value.trailing_metadata() or ())
            explained = await stub.Explain(router_pb2.ExplainRequest(request=request), timeout=10)
    finally:
        await server.stop(None)
    traces = {c.provider: (c.kept, c.reason) for c in explained.decision.candidates}
    assert traces["fake:cheap"] == (False, "rpm limit 1 reached (next window in 42 s)")
    assert traces["fake:dear"][0] is False and traces["fake:dear"][1].startswith("tpm limit 100 is below")
    assert explained.decision.provider == ""  # no provider can take it now


def test_limits_in_the_providers_file_are_checked() -> None:
    [cheap, dear] = providers(cheap={"rpm": 60, "tpm": 90_000})
    assert (cheap.rpm, cheap.tpm, dear.rpm, dear.tpm) == (60, 90_000, 0, 0)
    for bad, says in (({"rpm": 0}, "'rpm' must be positive"), ({"tpm": 1.5}, "'tpm' must be a number")):
        with pytest.raises(RegistryError, match=says):
            providers(cheap=bad)


async def test_a_reservation_the_budget_refuses_counts_nothing(make_router):
    """The window counts a call only when its budgets took it too: a refused call never went out."""
    router = await make_router(providers(), FakeLLM(), Clock())
    rate = RateLimit("fake:cheap", 1, 0, 10, START)
    with pytest.raises(BudgetExceeded):
        await router.accounting.reserve([Budget("global", "total", 0.001)], 1.0, "r1", rate=rate)
    assert await router.accounting.rate_check([rate]) == [None]
    held = await router.accounting.reserve([Budget("global", "total", 10.0)], 1.0, "r2", rate=rate)
    [over] = await router.accounting.rate_check([rate])
    assert str(over) == "rpm limit 1 reached (next window in 42 s)"
    await router.accounting.release(held)
