"""What a reservation holds for a call's input: its provider's own tokenizer count where litellm
has that tokenizer, else an upper bound from the text (policy.bound_input_tokens); and what an
overrun that still happens leaves behind.

The fault this answers: the reservation covered tiktoken's estimate + 10% + 32 tokens, so a
provider counting 25% more prompt tokens overspent a $1 budget by 4.6%.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import litellm
import pytest
import tiktoken
from test_router_fast_path import check, indexes, random_policies, random_registry, random_request
from tokenizers import Tokenizer

from router.accounting import Budget
from router.accounting_sqlite import SQLiteAccounting
from router.calls import ProviderCaller, estimate_tokens, input_bounds, own_tokenizer
from router.engine import Router
from router.policy import (
    IMAGE_TOKENS,
    TEMPLATE_TOKENS,
    TEMPLATE_TOKENS_PER_MESSAGE,
    InputBounds,
    bound_input_tokens,
    parse_policy,
)
from router.registry import parse_providers
from router.requests import CallRequest, Refused, Reply, RetrySettings

litellm.suppress_debug_info = True

KEYS = {"FAKE_KEY": "sk-test"}
CHEAPEST_FIRST = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")
ONE_TRY = RetrySettings(attempts_per_provider=1, attempt_timeout_s=10.0, call_timeout_s=20.0)
PROSE = "The router picks a model for every call by privacy, quality, context length and budget, and books it. "

TEXTS = {
    "english": PROSE * 30,
    "code": "def reserve(budgets, amount):\n    for b in budgets:\n        check_fits(b, amount)  # all or none\n" * 30,
    "json": json.dumps([{"id": i, "name": f"item-{i}", "price": i * 1.25, "tags": ["a", "b"]} for i in range(60)]),
    "numbers": " ".join(str(random.Random(1).randint(0, 10**9)) for _ in range(200)),
    "hex": random.Random(2).randbytes(400).hex(),
    "german": "Der Router wählt für jeden Aufruf ein Modell nach Vertraulichkeit, Qualität und Budget aus. " * 20,
    "chinese": "路由器为每次调用选择一个模型，按隐私、质量、上下文长度和预算进行选择，并记录费用。" * 15,
    "russian": "Маршрутизатор выбирает модель для каждого вызова по конфиденциальности и бюджету. " * 15,
    "hindi": "राउटर प्रत्येक कॉल के लिए गोपनीयता, गुणवत्ता और बजट के आधार पर एक मॉडल चुनता है। " * 10,
    "emoji": "🙂🚀🔥👍🏽🇫🇷 " * 40,
}


def cloud(model: str, cost_in: float, cost_out: float, litellm_model: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "name": "fake", "model": model, "litellm_model": litellm_model or f"openai/fake-{model}", "cost_in": cost_in,
        "cost_out": cost_out, "max_context": 128000, "latency_ms": 100, "endpoint_env": "FAKE_KEY", **extra,
    }  # fmt: skip


def reporting(prompt_tokens: Callable[[list[dict[str, Any]]], int], gate: asyncio.Event | None = None) -> Any:
    """A provider that answers "ok" and reports `prompt_tokens(messages)` prompt tokens and its
    max_tokens as completion tokens; with `gate`, only once the gate opens."""
    entered: list[int] = []

    async def complete(**kwargs: Any) -> Any:
        entered.append(1)
        if gate is not None:
            await gate.wait()
        response = await litellm.acompletion(mock_response="ok", **kwargs)
        response.usage.prompt_tokens = prompt_tokens(kwargs["messages"])
        response.usage.completion_tokens = kwargs["max_tokens"]
        return response

    complete.entered = entered  # type: ignore[attr-defined]
    return complete


@pytest.fixture
async def accounting(tmp_path: Path) -> AsyncIterator[SQLiteAccounting]:
    acc = await SQLiteAccounting.open(tmp_path / "a.db")
    yield acc
    await acc.close()


def router(accounting: SQLiteAccounting, complete: Any, *entries: dict[str, Any], budget: Budget) -> Router:
    caller = ProviderCaller(env=KEYS, complete=complete)
    return Router(parse_providers(list(entries), "test"), CHEAPEST_FIRST, accounting, (budget,), caller, None, ONE_TRY)


def chat(text: str, max_tokens: int = 10) -> CallRequest:
    return CallRequest(messages=[{"role": "user", "content": text}], max_output_tokens=max_tokens)


# --- the bound ---


def smollm2_counts(texts: list[str]) -> list[int]:
    """The shipped local model's own token counts (its GGUF vocabulary), in a child process as
    every test that loads the model does."""
    program = (
        "import json, sys, llama_cpp\n"
        "from router.local_types import default_model_path\n"
        "model = llama_cpp.Llama(str(default_model_path()), vocab_only=True, verbose=False)\n"
        "texts = json.load(sys.stdin)\n"
        "print(json.dumps([len(model.tokenize(t.encode(), add_bos=False, special=False)) for t in texts]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], input=json.dumps(texts), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_the_bound_covers_every_tokenizer_at_hand_on_every_script():
    """On prose, code, JSON, numbers, hex, German, Chinese, Russian, Hindi and emoji the bound is
    at least what cl100k, Claude's tokenizer and the local SmolLM2 count (1.1-8x tiktoken's
    o200k estimate there): the counts of tokenizers the router does not have."""
    cl100k = tiktoken.get_encoding("cl100k_base")
    claude = Tokenizer.from_str(litellm.utils.claude_json_str)
    texts = list(TEXTS.values())
    for name, text, smollm2 in zip(TEXTS, texts, smollm2_counts(texts)):
        messages = [{"role": "user", "content": text}]
        estimate = estimate_tokens(messages)
        bound = input_bounds(messages, estimate, {}, frozenset()).other
        text_bound = bound - TEMPLATE_TOKENS_PER_MESSAGE - TEMPLATE_TOKENS
        others = {
            "cl100k": len(cl100k.encode(text, disallowed_special=())),
            "claude": len(claude.encode(text).ids),
            "smollm2": smollm2,
        }
        assert text_bound >= max(others.values()), (name, estimate, text_bound, others)
        assert text_bound <= len(text.encode()), name  # never more than one token per byte
    # English costs about half again the estimate, not the byte count (4x)
    english = [{"role": "user", "content": TEXTS["english"]}]
    assert bound_input_tokens(estimate_tokens(english)) < 1.6 * estimate_tokens(english)


def test_litellm_has_the_own_tokenizer_of_openais_models_only():
    assert own_tokenizer("openrouter/openai/gpt-4o-mini") == "gpt-4o-mini"
    assert own_tokenizer("gpt-4o") == "gpt-4o"
    for elsewhere in ("openai/fake-a", "openrouter/qwen/qwen-2-72b-instruct", "openai/anthropic/claude-3-sonnet"):
        assert own_tokenizer(elsewhere) == ""
    # llama-3's would be downloaded from the Hugging Face hub in the middle of a call: not used
    assert own_tokenizer("openrouter/meta-llama/llama-3-70b-instruct") == ""


def test_a_router_loads_its_tokenizers_before_its_first_call():
    """tiktoken builds an encoding on first use (0.3 s for o200k): on the event loop, in a call,
    that stalled health checks into a restart. load_tokenizers (server.build runs it on a
    thread) leaves the estimate's and the providers' own loaded."""
    program = (
        "import tiktoken.registry as r, router.calls as c, router.registry as g\n"
        "before = 'o200k_base' in r.ENCODINGS\n"
        "c.load_tokenizers(g.parse_providers([{'name': 'n', 'model': 'm', 'litellm_model': 'openai/gpt-4',"
        " 'cost_in': 0, 'cost_out': 0, 'max_context': 8000, 'latency_ms': 1}], 't'))\n"
        "print(before, sorted(r.ENCODINGS))\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False ['cl100k_base', 'o200k_base']"  # gpt-4's is cl100k


def test_an_image_counts_its_bound_with_every_tokenizer():
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    messages = [{"role": "user", "content": parts}]
    bounds = input_bounds(messages, estimate_tokens(messages), {"p": "gpt-4o-mini"}, frozenset({"gpt-4o-mini"}))
    text = litellm.token_counter(model="gpt-4o-mini", messages=[{"role": "user", "content": "What is this?"}])
    assert bounds.at("p") == text + IMAGE_TOKENS
    assert bounds.other >= IMAGE_TOKENS + TEMPLATE_TOKENS


def test_the_call_path_decides_as_the_full_decision_with_own_tokenizers():
    """tests/test_router_fast_path.py's check, on requests whose providers partly count with
    their own tokenizer, and budgets right at some provider's worst case."""
    for seed in range(300):
        rng = random.Random(seed)
        providers = random_registry(rng)
        both = indexes(providers)
        owners = {p.id: rng.choice(["t1", "t2"]) for p in providers if rng.random() < 0.4}
        for policy in random_policies(rng, providers):
            request = random_request(rng, providers, {})
            bounds = InputBounds(
                bound_input_tokens(request.input_tokens),
                {"t1": request.input_tokens, "t2": rng.choice([0, request.input_tokens * 2])},
                owners,
            )
            request = replace(request, input_bounds=bounds)
            some = rng.choice(providers)
            out = min(request.max_output_tokens or some.max_output_tokens, some.max_output_tokens)
            worst = some.cost(request.reserved_input_tokens(some), out)
            request = replace(request, budget_left_usd=rng.choice([worst, worst * 0.999, request.budget_left_usd]))
            check(both, policy, request)


# --- through the engine ---


async def test_a_provider_counting_a_quarter_more_prompt_tokens_cannot_overspend(accounting):
    """100 calls at once against $1, each at a provider that reports 25% more prompt tokens than
    tiktoken's estimate. The old reservation (estimate + 10% + 32) would let 88 run and spend
    $1.10; the bound lets fewer run, every one within what it reserved."""
    budget = Budget("global", "total", 1.00)
    text = PROSE * 40
    estimate = estimate_tokens(chat(text).messages)
    counted = math.ceil(1.25 * estimate)
    assert counted > estimate + estimate // 10 + 32  # the old margin did not cover it
    gate = asyncio.Event()
    complete = reporting(lambda messages: counted, gate)
    routed = router(accounting, complete, cloud("p", cost_in=0.01, cost_out=0.0001), budget=budget)
    calls = [asyncio.create_task(routed.invoke(chat(text))) for _ in range(100)]
    while len(complete.entered) + sum(t.done() for t in calls) < len(calls):  # all in the provider, or refused
        await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)

    ok = [r for r in results if isinstance(r, Reply)]
    assert ok and all(isinstance(r, Refused) and r.budget for r in results if not isinstance(r, Reply))
    assert len(ok) < 100 and len(ok) * 0.01 * counted / 1000 > 0.6  # the budget was the limit
    [status] = await accounting.status([budget])
    assert status.spent <= budget.limit and status.reserved == 0
    assert (status.overrun, status.overruns) == (0, 0)
    rows = [r for r in (await accounting.usage(limit=1000)).rows if r.status == "ok"]
    assert len(rows) == len(ok) and all(r.tokens_in == counted and r.cost <= r.reserved for r in rows)


async def test_a_provider_whose_tokenizer_litellm_has_reserves_its_own_count(accounting):
    """gpt-4o-mini's count is tiktoken's o200k exactly: reserved without a margin. It reporting
    that count costs what was reserved; one token more is an overrun of one token's price."""
    budget = Budget("global", "total", 10.0)
    request = chat(PROSE * 10)
    exact = estimate_tokens(request.messages)
    own = cloud("mini", 0.01, 0.02, litellm_model="openrouter/openai/gpt-4o-mini")
    other = cloud("other", 0.01, 0.02)
    counts = iter([exact, exact + 1])
    routed = router(accounting, reporting(lambda messages: next(counts)), own, other, budget=budget)

    decision = await routed.decide(request)
    worst = {c.provider.model: c.worst_case_cost for c in decision.candidates}
    assert worst["mini"] == pytest.approx((exact * 0.01 + 10 * 0.02) / 1000)
    assert worst["other"] > worst["mini"]
    first = await routed.invoke(request)
    second = await routed.invoke(request)
    assert first.provider.model == second.provider.model == "mini"
    assert first.cost == pytest.approx(worst["mini"])
    [status] = await accounting.status([budget])
    assert status.overruns == 1 and status.overrun == pytest.approx(0.01 / 1000)


async def test_an_overrun_that_still_happens_is_booked_as_one(accounting, caplog):
    """A provider reporting far more prompt tokens than the text could hold (one per byte is the
    most any tokenizer makes): the cost is booked in full, the excess as the budget's overrun,
    the ledger row shows cost above reserved, and the router says so in its log."""
    budget = Budget("agent:eliza", "daily", 1.0)
    request = replace(chat("hello " * 50), agent_name="eliza")
    routed = router(accounting, reporting(lambda messages: 20_000), cloud("p", 0.01, 0.02), budget=budget)
    with caplog.at_level(logging.WARNING, logger="router"):
        reply = await routed.invoke(request)
    [row] = (await accounting.usage()).rows
    assert row.cost == reply.cost == pytest.approx((20_000 * 0.01 + 10 * 0.02) / 1000)
    assert 0 < row.reserved < row.cost
    [status] = await accounting.status([budget])
    assert (status.spent, status.reserved) == (pytest.approx(row.cost), 0)
    assert (status.overrun, status.overruns) == (pytest.approx(row.cost - row.reserved), 1)
    assert any("more than its reservation" in r.getMessage() for r in caplog.records)
