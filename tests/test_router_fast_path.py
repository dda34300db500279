"""The call path's decision (ProviderIndex) against the full, traced one (Policy.decide): on
thousands of random registries and requests, the same rule, rule traces and ranking (its first
TOP_K, candidate for candidate), and the full decision itself when nothing fits. Then the
engine: invoke goes by it and still falls back past TOP_K."""

from __future__ import annotations

import os
import random
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import pytest  # noqa: E402

from router.accounting_sqlite import SQLiteAccounting  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import CAPABILITY_FOR, Decision, Policy, RouteRequest, load_policy, parse_policy  # noqa: E402
from router.provider_index import TOP_K, ProviderIndex  # noqa: E402
from router.registry import Provider, parse_providers  # noqa: E402
from router.requests import AllFailed, CallRequest, RetrySettings  # noqa: E402

litellm.suppress_debug_info = True

SEED_IDS = ["openrouter:gpt-4o-mini", "requesty:claude-3-sonnet", "openrouter:qwen2-72b", "localai:phi-4-14b"]
PRICES = [0.0, 0.00025, 0.0006, 0.001, 0.002, 0.003, 0.015]  # few, so that worst cases tie
CONTEXTS = [4000, 8000, 32000, 64000, 128000]
LATENCIES = [100, 200, 300, 800]
MAX_OUTS = [256, 1024, 4096]
MODEL_TYPES = [*CAPABILITY_FOR, "SOMETHING_ELSE"]  # an unknown model type needs "chat"


def random_registry(rng: random.Random) -> tuple[Provider, ...]:
    n = rng.choice([1, 2, 3, 5, 8, 9, 12, 20, 40, 100])
    ids = rng.sample(SEED_IDS, rng.randint(0, 2)) + [f"p{rng.randint(0, 9)}:m{i}" for i in range(n)]
    entries = []
    for pid in ids[:n]:
        name, model = pid.split(":")
        capabilities = {"chat"} if rng.random() < 0.6 else set(rng.sample(["chat", "embedding", "vision", "audio"], 2))
        if rng.random() < 0.3:
            capabilities.add("local")

        def price() -> float:
            return rng.choice(PRICES) if rng.random() < 0.7 else round(rng.uniform(0, 0.02), 7)

        entries.append(
            {
                "name": name,
                "model": model,
                "litellm_model": f"openai/{model}",
                "cost_in": price(),
                "cost_out": price(),
                "max_context": rng.choice(CONTEXTS) if rng.random() < 0.8 else rng.randint(1000, 200_000),
                "latency_ms": rng.choice(LATENCIES) if rng.random() < 0.8 else rng.randint(50, 2000),
                "max_output_tokens": rng.choice(MAX_OUTS),
                "capabilities": sorted(capabilities),
            }
        )
    rng.shuffle(entries)
    return parse_providers(entries, "random")


def random_policies(rng: random.Random, providers: tuple[Provider, ...]) -> list[Policy]:
    """The shipped policy, one rule per order_by preferring a few ids (some unknown), and a
    policy whose only rule may match nothing."""
    ids = [p.id for p in providers] + ["nobody:none"]
    rules = [
        {"name": o, "prefer": rng.sample(ids, rng.randint(0, min(3, len(ids)))), "order_by": o}
        for o in ("cost", "latency", "-max_context")
    ]
    rules.append({"name": "secrets-only", "when": {"confidential": True}, "order_by": "latency"})
    return [load_policy()] + [parse_policy([rule], "random") for rule in rules]


def random_request(rng: random.Random, providers: tuple[Provider, ...], not_configured: dict[str, str]) -> RouteRequest:
    some = rng.choice(providers)
    max_output = rng.choice([0, 0, 1, 100, 512, 1024, 5000])
    if rng.random() < 0.4:  # right at some provider's context limit
        out = min(max_output or some.max_output_tokens, some.max_output_tokens)
        input_tokens = max(0, some.max_context - out + rng.choice([-1, 0, 1]))
    else:
        input_tokens = rng.choice([0, 10, 500, 9000, 40000])
    budget_usd = float("inf")
    if rng.random() < 0.5:  # right at some provider's worst case
        out = min(max_output or some.max_output_tokens, some.max_output_tokens)
        worst = some.cost(input_tokens + input_tokens // 10 + 32, out)
        budget_usd = rng.choice([worst, worst * 0.999, worst * 1.5, 0.0])
    ids = [p.id for p in providers]
    return RouteRequest(
        model_type=rng.choice(MODEL_TYPES),
        confidential=rng.random() < 0.2,
        quality=rng.choice(["", "high"]),
        input_tokens=input_tokens,
        max_output_tokens=max_output,
        budget_left=rng.choice([0.01, 0.04, 0.1, 0.5, 1.0]),
        budget_left_usd=budget_usd,
        budget_name="global (total)",
        open_breakers=frozenset(rng.sample(ids, rng.randint(0, min(2, len(ids)))) if rng.random() < 0.3 else ()),
        not_configured=not_configured if rng.random() < 0.8 else {i: "KEY is not set" for i in rng.sample(ids, 1)},
    )


def indexes(providers: tuple[Provider, ...]) -> tuple[ProviderIndex, ProviderIndex]:
    """The same index ranking every view in a loop, and every view with numpy."""
    return ProviderIndex(providers, vector_from=len(providers) + 1), ProviderIndex(providers, vector_from=0)


def check(both: tuple[ProviderIndex, ProviderIndex], policy: Policy, request: RouteRequest) -> Decision:
    full = policy.decide(both[0].providers, request)
    for index in both:
        fast = index.decide(policy, request)
        if not full.ranked:
            assert fast == full  # the refusal lists every provider's reason
            continue
        assert (fast.rule, fast.rules) == (full.rule, full.rules)
        assert fast.ranked == full.ranked[:TOP_K]  # ids, max output tokens, worst case: all equal
        assert fast.truncated == (len(full.ranked) > TOP_K)
        # The candidates: the head, then the rule's preferred and the open-breaker ones that were dropped.
        traced = {c.provider.id: c for c in full.candidates}
        (rule,) = (r for r in policy.rules if r.name == full.rule)
        expected = {*rule.prefer, *request.open_breakers} & {i for i, c in traced.items() if not c.kept}
        assert fast.candidates[: len(fast.ranked)] == fast.ranked
        assert [c.provider.id for c in fast.candidates[len(fast.ranked) :]] == [i for i in traced if i in expected]
        assert all(c == traced[c.provider.id] for c in fast.candidates[len(fast.ranked) :])
        assert all(type(c.max_output_tokens) is int and type(c.worst_case_cost) is float for c in fast.ranked)
    return fast


def test_the_fast_decision_is_the_head_of_the_full_one_on_random_registries():
    rng = random.Random(20261)
    seen = {"truncated": 0, "refused": 0, "ranked": 0, "drops shown": 0}
    for _ in range(150):
        providers = random_registry(rng)
        both = indexes(providers)
        # One mapping per registry, as the Router passes: the index builds its views once for it.
        not_configured = {p.id: "KEY is not set" for p in providers if rng.random() < 0.15}
        policies = random_policies(rng, providers)
        for _ in range(20):
            decision = check(both, rng.choice(policies), random_request(rng, providers, not_configured))
            seen["truncated"] += decision.truncated
            seen["drops shown"] += bool(decision.ranked) and len(decision.candidates) > len(decision.ranked)
            seen["refused" if not decision.ranked else "ranked"] += 1
    assert min(seen.values()) > 50, seen  # every kind of outcome came up


def test_ties_everywhere_are_broken_by_id_as_the_full_path_does():
    same = {"litellm_model": "openai/x", "cost_in": 0.001, "cost_out": 0.002, "max_context": 8000, "latency_ms": 100}
    providers = parse_providers([{"name": f"n{i % 7}", "model": f"m{i}", **same} for i in range(30, 0, -1)], "ties")
    both = indexes(providers)
    for order in ("cost", "latency", "-max_context"):
        policy = parse_policy([{"name": "r", "prefer": ["n3:m10"], "order_by": order}], "t")
        decision = check(both, policy, RouteRequest(input_tokens=100))
        assert [c.provider.id for c in decision.ranked][:3] == ["n3:m10", "n0:m14", "n0:m21"]


# --- the engine goes by the fast decision ---


KEYS = {"FAKE_KEY": "sk-test"}


def cloud(model: str, cost_in: float) -> dict[str, Any]:
    return {
        "name": "fake", "model": model, "litellm_model": f"openai/fake-{model}", "cost_in": cost_in,
        "cost_out": 0.002, "max_context": 8000, "latency_ms": 100, "endpoint_env": "FAKE_KEY",
    }  # fmt: skip


def router_over(providers: tuple[Provider, ...], accounting: SQLiteAccounting, complete: Any) -> Router:
    cheapest = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")
    retry = RetrySettings(attempts_per_provider=1, attempt_timeout_s=2.0, call_timeout_s=10.0)
    return Router(providers, cheapest, accounting, (), ProviderCaller(env=KEYS, complete=complete), None, retry, KEYS)


@pytest.fixture
async def accounting(tmp_path):
    acc = await SQLiteAccounting.open(tmp_path / "a.db")
    yield acc
    await acc.close()


async def test_route_is_the_head_of_decide_and_invoke_falls_back_past_it(accounting):
    n = TOP_K + 4
    providers = parse_providers([cloud(f"m{i:02d}", 0.001 * (n - i)) for i in range(n)], "test")
    tried: list[str] = []

    async def only_the_dearest_answers(**kwargs: Any) -> Any:
        tried.append(kwargs["model"].removeprefix("openai/fake-"))
        answer = "ok" if tried[-1] == "m00" else "litellm.InternalServerError"
        return await litellm.acompletion(mock_response=answer, **kwargs)

    router = router_over(providers, accounting, only_the_dearest_answers)
    request = CallRequest(messages=[{"role": "user", "content": "hi"}])
    full, fast = await router.decide(request), await router.route(request)
    assert fast.ranked == full.ranked[:TOP_K] and fast.truncated and len(full.candidates) == n
    reply = await router.invoke(request)
    assert reply.provider.model == "m00" and tried == [c.provider.model for c in full.ranked]


async def test_a_call_nothing_fits_is_refused_with_every_providers_reason(accounting):
    providers = parse_providers([cloud("a", 0.001), {**cloud("b", 0.001), "endpoint_env": "B_KEY"}], "test")
    router = router_over(providers, accounting, None)
    with pytest.raises(Exception) as refused:
        await router.invoke(CallRequest(messages=[{"role": "user", "content": "hi"}], confidential=True))
    assert "fake:a: confidential call and the provider is not local" in str(refused.value)
    assert "fake:b: confidential call and the provider is not local" in str(refused.value)
    assert not isinstance(refused.value, AllFailed)
