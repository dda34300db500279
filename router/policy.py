"""Routing policy as data: hard constraints that always hold, then the first matching
rule ranks the providers that are left. Every decision carries its full trace."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .registry import Provider

DEFAULT_POLICY = Path(__file__).with_name("policy.json")

CAPABILITY_FOR = {
    "TEXT_SMALL": "chat",
    "TEXT_LARGE": "chat",
    "TEXT_EMBEDDING": "embedding",
    "IMAGE_DESCRIPTION": "vision",
    "TRANSCRIPTION": "audio",
}
# order_by -> the sort key of a kept provider, given its worst case cost
ORDER_KEYS: dict[str, Callable[[Provider, float], tuple[Any, ...]]] = {
    "cost": lambda p, worst: (worst, p.latency_ms, p.id),
    "latency": lambda p, worst: (p.latency_ms, worst, p.id),
    "-max_context": lambda p, worst: (-p.max_context, worst, p.id),
}
FITS = "fits every constraint"  # the reason of every kept candidate


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the rule and key."""


@dataclass(frozen=True)
class Rule:
    """When every condition in `when` holds, rank `prefer` first, then the rest by `order_by`."""

    name: str
    when: dict[str, Any]
    prefer: tuple[str, ...] = ()
    order_by: str = "cost"
    why: str = ""

    def check(self, request: RouteRequest) -> tuple[bool, str]:
        """Whether the rule matches, and a readable account of each condition."""
        results = [CONDITIONS[key](request, want) for key, want in self.when.items()]
        account = "; ".join(f"{have}: {'yes' if ok else 'no'}" for ok, have in results)
        return all(ok for ok, _ in results), account or "always"


# The documented margin: how a call's input is bounded at a provider whose tokenizer the router
# does not have (see bound_input_tokens).
MARGIN = 1.5  # Latin-script text and code, over tiktoken's o200k count
TEMPLATE_TOKENS_PER_MESSAGE = 8  # a chat template's role markers around each message
TEMPLATE_TOKENS = 32  # BOS, the assistant's header, a default system prompt some templates add
IMAGE_TOKENS = 1600  # per image: Anthropic's largest (OpenAI's high-detail largest is 1,445)


def bound_input_tokens(
    estimate: int,
    utf8_bytes: float = math.inf,
    digits: int = 0,
    non_ascii_bytes: int = 0,
    messages: int = 1,
    images: int = 0,
) -> int:
    """Input tokens to reserve budget for at a provider whose tokenizer the router does not have:
    an upper bound, from tiktoken's o200k count of the prompt (`estimate`) and its text.

    - No tokenizer in use (byte-level BPE; SentencePiece with byte fallback) makes more than one
      token per byte of text: `utf8_bytes` bounds the text for every one of them.
    - Tighter where the text allows: non-ASCII text counts its bytes (o200k's multilingual
      vocabulary is 1.3-3.8x more compact than others' on Cyrillic, CJK, Arabic, Devanagari,
      Vietnamese), digits one each (many tokenizers split numbers into digits, o200k takes three
      at a time: SmolLM2 counts 2.5x on numbers), and the rest MARGIN times the estimate. Against
      SmolLM2's, Claude's and cl100k tokenizers this bound covered the largest count on every
      text measured (English, French, German, Vietnamese, Korean, code, JSON, URLs, random
      ASCII, numbers, hex, base64, CJK, Cyrillic, Arabic, Devanagari, emoji): by 1.0x on
      numbers (the byte count, exact), 1.1x on hex and German, 1.2-2.5x on the rest. With 1.25
      it fell short on German. On English it reserves about 1.5x the estimate.
    - Plus the chat template's tokens and IMAGE_TOKENS per image.

    Without the text's figures (a request built by hand) it is the estimate with the margin."""
    text = min(utf8_bytes, math.ceil(MARGIN * estimate) + digits + non_ascii_bytes)
    return int(text) + TEMPLATE_TOKENS_PER_MESSAGE * messages + TEMPLATE_TOKENS + IMAGE_TOKENS * images


@dataclass(frozen=True)
class InputBounds:
    """Upper bounds of a call's input tokens at each provider: what its reservation is made of.
    A provider whose own tokenizer the router has (`tokenizer_of`: provider id -> tokenizer)
    counts `exact[tokenizer]`; any other, `other` (bound_input_tokens)."""

    other: int
    exact: Mapping[str, int] = field(default_factory=dict)
    tokenizer_of: Mapping[str, str] = field(default_factory=dict)

    def at(self, provider_id: str) -> int:
        tokenizer = self.tokenizer_of.get(provider_id)
        return self.other if tokenizer is None else self.exact.get(tokenizer, self.other)


@dataclass(frozen=True)
class RouteRequest:
    """What the policy decides on."""

    model_type: str = "TEXT_LARGE"
    confidential: bool = False
    quality: str = ""
    input_tokens: int = 0  # tiktoken's (o200k) estimate: what rules compare and traces show
    input_bounds: InputBounds | None = None  # what reservations count (None: from the estimate alone)
    max_output_tokens: int = 0
    budget_left: float = 1.0  # fraction of the tightest budget still available
    budget_left_usd: float = float("inf")  # USD of the tightest budget still available
    budget_name: str = ""  # which budget that is, e.g. "global (monthly 2026-11)"
    open_breakers: frozenset[str] = frozenset()
    not_configured: Mapping[str, str] = field(default_factory=dict)  # provider id -> why

    def reserved_input_tokens(self, provider: Provider) -> int:
        """Input tokens the call's worst case at `provider` counts: an upper bound, so that the
        reservation covers what the provider will count."""
        if self.input_bounds is None:
            return bound_input_tokens(self.input_tokens)
        return self.input_bounds.at(provider.id)


# The conditions a rule's `when` may hold, by key: given the request and the rule's value, whether
# the request meets it and how the trace shows it. parse_policy accepts exactly these keys.
CONDITIONS: dict[str, Callable[[RouteRequest, Any], tuple[bool, str]]] = {
    "confidential": lambda r, want: (r.confidential == want, f"confidential={r.confidential}"),
    "quality": lambda r, want: (r.quality == want, f"quality={r.quality or '-'!s}"),
    "input_tokens_above": lambda r, want: (r.input_tokens > want, f"input {r.input_tokens} tokens > {want}"),
    "budget_left_above": lambda r, want: (r.budget_left > want, f"budget left {r.budget_left:.0%} > {want:.0%}"),
    "budget_left_below": lambda r, want: (r.budget_left < want, f"budget left {r.budget_left:.0%} < {want:.0%}"),
}


def context_input_tokens(estimate: int) -> int:
    """Input tokens a provider's context must have room for: the estimate + 10% + 32, as
    providers tokenize differently and add their chat template, and a prompt that only fits by
    the estimate would come back as a 400. A prediction, not the budget's upper bound: that
    would turn long prompts away from models they fit (4x the estimate on English), while a
    prompt that does not fit after all only fails over to the next provider."""
    return estimate + estimate // 10 + 32


@dataclass(frozen=True)
class Candidate:
    provider: Provider
    kept: bool
    reason: str
    max_output_tokens: int
    worst_case_cost: float
    over_budget: bool = False  # dropped because the call does not fit the budget


@dataclass(frozen=True)
class Decision:
    """The ranked providers (first is the choice) and how they were reached. The full decision
    (Policy.decide) lists every provider as a candidate. A call's (ProviderIndex.decide) ranks
    only the first few (`truncated` says more were kept) and lists those, then the ones dropped
    that the rule prefers or whose breaker is open."""

    ranked: tuple[Candidate, ...]
    rule: str
    rules: tuple[tuple[str, bool, str], ...]
    candidates: tuple[Candidate, ...]
    request: RouteRequest
    truncated: bool = False

    @property
    def chosen(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None

    def refusal(self) -> str:
        """Why no provider fits, in one line."""
        reasons = "; ".join(f"{c.provider.id}: {c.reason}" for c in self.candidates)
        scope = "local provider" if self.request.confidential else "provider"
        return f"no {scope} can take this call ({reasons})"


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]

    def decide(self, providers: tuple[Provider, ...], request: RouteRequest) -> Decision:
        """Apply the hard constraints, then the first matching rule's ranking; every provider
        is traced, kept or dropped and why."""
        candidates = tuple(self.constrain(p, request) for p in providers)
        kept = [c for c in candidates if c.kept]
        chosen_rule, traces = self.match(request)
        ranked: tuple[Candidate, ...] = ()
        if chosen_rule is not None:
            ranked = tuple(_rank(kept, chosen_rule))
        return Decision(ranked, chosen_rule.name if chosen_rule else "", traces, candidates, request)

    def match(self, request: RouteRequest) -> tuple[Rule | None, tuple[tuple[str, bool, str], ...]]:
        """The first rule that matches (None if none does) and each rule's trace."""
        traces: list[tuple[str, bool, str]] = []
        chosen_rule: Rule | None = None
        for rule in self.rules:
            matched, detail = rule.check(request)
            traces.append((rule.name, matched and chosen_rule is None, detail))
            if matched and chosen_rule is None:
                chosen_rule = rule
        return chosen_rule, tuple(traces)

    @staticmethod
    def constrain(provider: Provider, request: RouteRequest) -> Candidate:
        """The hard constraints on one provider: kept, or dropped with the first reason."""
        max_out = min(request.max_output_tokens or provider.max_output_tokens, provider.max_output_tokens)
        tokens_in = context_input_tokens(request.input_tokens)
        worst = provider.cost(request.reserved_input_tokens(provider), max_out)

        def drop(reason: str, over_budget: bool = False) -> Candidate:
            return Candidate(provider, False, reason, max_out, worst, over_budget)

        needed = CAPABILITY_FOR.get(request.model_type, "chat")
        if needed not in provider.capabilities:
            return drop(f"cannot do {request.model_type} (needs {needed})")
        if request.confidential and not provider.local:
            return drop("confidential call and the provider is not local")
        if provider.id in request.not_configured:
            return drop(f"not configured: {request.not_configured[provider.id]}")
        if provider.id in request.open_breakers:
            return drop("circuit breaker is open")
        if tokens_in + max_out > provider.max_context:
            return drop(
                f"context {provider.max_context} < {tokens_in} input (estimate {request.input_tokens} + margin)"
                f" + {max_out} output tokens"
            )
        if worst > request.budget_left_usd:
            where = f" in budget {request.budget_name}" if request.budget_name else ""
            return drop(f"worst case ${worst:.4f} > ${request.budget_left_usd:.4f} left{where}", over_budget=True)
        return Candidate(provider, True, FITS, max_out, worst)


def _rank(kept: list[Candidate], rule: Rule) -> list[Candidate]:
    by_id = {c.provider.id: c for c in kept}
    first = [by_id[i] for i in rule.prefer if i in by_id]
    rest = [c for c in kept if c.provider.id not in rule.prefer]
    key = ORDER_KEYS[rule.order_by]
    return first + sorted(rest, key=lambda c: key(c.provider, c.worst_case_cost))


def parse_policy(entries: Any, source: str) -> Policy:
    """Validate a list of rules; PolicyError names the first bad one."""
    if not isinstance(entries, list) or not entries:
        raise PolicyError(f"{source}: expected a non-empty list of rules")
    rules = []
    for i, raw in enumerate(entries):
        where = f"{source}: rule {i + 1} ({raw.get('name', '?') if isinstance(raw, dict) else '?'})"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise PolicyError(f"{where}: needs a 'name'")
        when = raw.get("when", {})
        if not isinstance(when, dict) or set(when) - CONDITIONS.keys():
            raise PolicyError(f"{where}: 'when' keys must be among {', '.join(sorted(CONDITIONS))}")
        if raw.get("order_by", "cost") not in ORDER_KEYS:
            raise PolicyError(f"{where}: 'order_by' must be one of {', '.join(sorted(ORDER_KEYS))}")
        rules.append(
            Rule(raw["name"], when, tuple(raw.get("prefer", ())), raw.get("order_by", "cost"), raw.get("why", ""))
        )
    return Policy(tuple(rules))


def load_policy(path: Path = DEFAULT_POLICY) -> Policy:
    try:
        return parse_policy(json.loads(Path(path).read_text()), str(path))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path}: not valid JSON: {exc}") from None
