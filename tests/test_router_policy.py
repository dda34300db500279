"""The routing policy, row by row: the seed's five rules and the hard constraints."""

from __future__ import annotations

import pytest

from router.policy import PolicyError, RouteRequest, load_policy, parse_policy
from router.registry import parse_providers

SEED = parse_providers(
    [
        {
            "name": "openrouter",
            "model": "gpt-4o-mini",
            "litellm_model": "openrouter/openai/gpt-4o-mini",
            "cost_in": 0.0006,
            "cost_out": 0.0006,
            "max_context": 128000,
            "latency_ms": 500,
            "endpoint_env": "OPENROUTER_API_KEY",
        },
        {
            "name": "requesty",
            "model": "claude-3-sonnet",
            "litellm_model": "openai/claude-3-sonnet",
            "cost_in": 0.003,
            "cost_out": 0.015,
            "max_context": 200000,
            "latency_ms": 800,
            "endpoint_env": "REQUESTY_API_KEY",
        },
        {
            "name": "openrouter",
            "model": "mistral-7b",
            "litellm_model": "openrouter/mistralai/mistral-7b-instruct",
            "cost_in": 0.00025,
            "cost_out": 0.00025,
            "max_context": 32000,
            "latency_ms": 300,
            "endpoint_env": "OPENROUTER_API_KEY",
        },
        {
            "name": "openrouter",
            "model": "qwen2-72b",
            "litellm_model": "openrouter/qwen/qwen-2-72b-instruct",
            "cost_in": 0.001,
            "cost_out": 0.002,
            "max_context": 64000,
            "latency_ms": 1200,
            "endpoint_env": "OPENROUTER_API_KEY",
        },
        {
            "name": "localai",
            "model": "phi-4-14b",
            "litellm_model": "openai/phi-4-14b",
            "cost_in": 0,
            "cost_out": 0,
            "max_context": 32000,
            "latency_ms": 200,
            "endpoint_env": "LOCALAI_API_KEY",
            "capabilities": ["chat", "local"],
        },
    ],
    "seed",
)
POLICY = load_policy()


def decide(**fields):
    return POLICY.decide(SEED, RouteRequest(**fields))


@pytest.mark.parametrize(
    "fields, rule, provider",
    [
        ({"confidential": True}, "privacy", "localai:phi-4-14b"),
        ({"quality": "high", "budget_left": 0.5}, "quality", "openrouter:gpt-4o-mini"),
        ({"input_tokens": 9000, "budget_left": 0.5}, "long-context", "requesty:claude-3-sonnet"),
        ({"budget_left": 0.04}, "low-budget", "localai:phi-4-14b"),
        ({}, "default", "openrouter:qwen2-72b"),
    ],
)
def test_the_seeds_five_cases(fields, rule, provider):
    decision = decide(**fields)
    assert (decision.rule, decision.chosen.provider.id) == (rule, provider)


def test_low_budget_picks_the_cheapest_model_that_fits():
    decision = decide(budget_left=0.04, not_configured={"localai:phi-4-14b": "LOCALAI_API_KEY is not set"})
    assert decision.chosen.provider.id == "openrouter:mistral-7b"
    costs = [c.worst_case_cost for c in decision.ranked]
    assert costs == sorted(costs)


def test_quality_high_with_little_budget_left_is_not_premium():
    decision = decide(quality="high", budget_left=0.15)
    assert decision.rule == "default" and decision.chosen.provider.id == "openrouter:qwen2-72b"
    quality = dict((name, (matched, detail)) for name, matched, detail in decision.rules)["quality"]
    assert quality == (False, "quality=high: yes; budget left 15% > 20%: no")


def test_a_long_prompt_at_4_percent_budget_does_not_go_to_the_most_expensive_model():
    decision = decide(input_tokens=10000, budget_left=0.04)
    assert decision.rule == "low-budget"
    assert decision.chosen.provider.id != "requesty:claude-3-sonnet"


def test_confidential_never_leaves_local_providers_whatever_else_matches():
    decision = decide(confidential=True, quality="high", input_tokens=40000, budget_left=0.9)
    assert decision.ranked == ()  # the local model's 32k window cannot hold it: fail closed, no cloud
    decision = decide(confidential=True, quality="high", input_tokens=9000, budget_left=0.9)
    assert [c.provider.id for c in decision.ranked] == ["localai:phi-4-14b"]
    dropped = {c.provider.id: c.reason for c in decision.candidates if not c.kept}
    assert dropped["openrouter:gpt-4o-mini"] == "confidential call and the provider is not local"


def test_confidential_with_no_local_provider_fails_closed_with_a_clear_reason():
    decision = decide(confidential=True, not_configured={"localai:phi-4-14b": "LOCALAI_API_KEY is not set"})
    assert decision.chosen is None
    assert decision.refusal().startswith("no local provider can take this call (")
    assert "localai:phi-4-14b: not configured: LOCALAI_API_KEY is not set" in decision.refusal()


def test_the_context_window_must_hold_input_and_output():
    decision = decide(input_tokens=40000, budget_left=0.5)
    kept = {c.provider.id for c in decision.ranked}
    assert "openrouter:mistral-7b" not in kept and "localai:phi-4-14b" not in kept
    reason = {c.provider.id: c.reason for c in decision.candidates}["openrouter:mistral-7b"]
    assert reason == "context 32000 < 44032 input (estimate 40000 + margin) + 1024 output tokens"


def test_an_input_that_fits_only_by_the_estimate_is_not_sent_there():
    # 28,500 estimated tokens + 1,024 out fit 32,000, but another tokenizer and the chat template
    # may count 10% more: the margin keeps the call off a model that would answer with a 400.
    decision = decide(input_tokens=28500, budget_left=0.5)
    reasons = {c.provider.id: c.reason for c in decision.candidates}
    assert reasons["openrouter:mistral-7b"].startswith("context 32000 < 31382 input (estimate 28500 + margin)")
    assert reasons["openrouter:gpt-4o-mini"] == "fits every constraint"


def test_the_capability_must_match_the_model_type():
    decision = decide(model_type="TEXT_EMBEDDING")
    assert decision.chosen is None
    assert all(c.reason == "cannot do TEXT_EMBEDDING (needs embedding)" for c in decision.candidates)


def test_an_open_breaker_or_missing_key_drops_the_provider_and_the_next_takes_over():
    decision = decide(open_breakers=frozenset({"openrouter:qwen2-72b"}))
    assert decision.rule == "default" and decision.chosen.provider.id == "localai:phi-4-14b"
    reason = {c.provider.id: c.reason for c in decision.candidates}["openrouter:qwen2-72b"]
    assert reason == "circuit breaker is open"


def test_a_call_that_does_not_fit_the_budget_in_dollars_is_dropped():
    decision = decide(
        input_tokens=5000,
        max_output_tokens=1000,
        budget_left=0.5,
        budget_left_usd=0.004,
        budget_name="global (monthly 2026-11)",
    )
    kept = [c.provider.id for c in decision.ranked]
    qwen = {c.provider.id: c for c in decision.candidates}["openrouter:qwen2-72b"]
    assert qwen.over_budget and qwen.reason == "worst case $0.0095 > $0.0040 left in budget global (monthly 2026-11)"
    assert "requesty:claude-3-sonnet" not in kept and "openrouter:qwen2-72b" not in kept
    assert all(c.worst_case_cost <= 0.004 for c in decision.ranked)


def test_the_ranking_is_the_fallback_order_and_every_rule_is_traced():
    decision = decide()
    assert [c.provider.id for c in decision.ranked][:2] == ["openrouter:qwen2-72b", "localai:phi-4-14b"]
    assert [name for name, _, _ in decision.rules] == ["privacy", "quality", "long-context", "low-budget", "default"]
    assert [matched for _, matched, _ in decision.rules] == [False, False, False, False, True]


def test_policy_file_errors_name_the_rule():
    with pytest.raises(PolicyError, match=r"rule 1 \(x\): 'when' keys must be among"):
        parse_policy([{"name": "x", "when": {"colour": "red"}}], "p.json")
    with pytest.raises(PolicyError, match=r"rule 1 \(x\): 'order_by' must be one of"):
        parse_policy([{"name": "x", "order_by": "vibes"}], "p.json")
