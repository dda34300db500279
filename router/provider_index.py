"""The routing decision a call needs, in time nearly flat in the number of providers.

Policy.decide traces every provider, kept or dropped and why: that is what Explain shows, and
it costs a Candidate per provider. A call needs only the head of the ranking. ProviderIndex
keeps one view of the registry per kind of call (capability, local only, configured), applies
the remaining hard constraints to it and ranks only what can reach the first TOP_K: as numpy
masks over columns for a large view, in a plain loop for a small one (where numpy's fixed cost
per operation is more than the loop). The constraints, the floating-point worst case and the
order are Policy.decide's own: tests/test_router_fast_path.py holds both ways to that."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import numpy.typing as npt

from .policy import (
    CAPABILITY_FOR,
    FITS,
    ORDER_KEYS,
    Candidate,
    Decision,
    Policy,
    RouteRequest,
    Rule,
    context_input_tokens,
)
from .registry import Provider

# The candidates a call's decision ranks. Falling back through more than a few providers is
# rare; when a call gets that far, Router.fallbacks continues with the full ranking.
TOP_K = 8
# Views with at least this many providers are ranked with numpy, smaller ones in a loop.
VECTOR_FROM = 20
# Rows a view keeps first in each order (by a fixed stand-in for the per-call key): the kept
# ones among them bound the TOP_K-th key, so only the rows under that bound get sorted.
HINT_ROWS = 2 * TOP_K

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Keys = npt.NDArray[np.int64] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class _View:
    """The providers one kind of call may use, in registry order, and as columns."""

    providers: tuple[Provider, ...]
    row_of: dict[str, int]  # provider id -> row
    cost_in: Floats
    cost_out: Floats
    max_out: Ints
    headroom: Ints  # max_context - max_output_tokens: the input that fits at the provider's own output limit
    max_context: Ints
    minus_context: Ints
    latency: Ints
    id_rank: Ints  # place of the id in sorted order: the last tie-break
    hints: dict[str, Ints]  # order_by -> the HINT_ROWS rows first by a fixed stand-in for its key
    # The rows of each own tokenizer, for the tokenizer_of mapping last asked about (the Router
    # passes the same one on every call, so it is worked out once).
    by_tokenizer: list[tuple[Mapping[str, str], dict[str, Ints]]] = field(default_factory=list)

    def tokenizer_rows(self, tokenizer_of: Mapping[str, str]) -> dict[str, Ints]:
        if not self.by_tokenizer or self.by_tokenizer[0][0] is not tokenizer_of:
            rows: dict[str, list[int]] = {}
            for row, p in enumerate(self.providers):
                if (name := tokenizer_of.get(p.id)) is not None:
                    rows.setdefault(name, []).append(row)
            self.by_tokenizer[:] = [(tokenizer_of, {name: np.array(r, dtype=np.int64) for name, r in rows.items()})]
        return self.by_tokenizer[0][1]

    @classmethod
    def of(cls, providers: tuple[Provider, ...], id_rank: Mapping[str, int]) -> _View:
        def ints(values: list[int]) -> Ints:
            return np.array(values, dtype=np.int64)

        max_out = ints([p.max_output_tokens for p in providers])
        max_context = ints([p.max_context for p in providers])
        latency = ints([p.latency_ms for p in providers])
        ranks = ints([id_rank[p.id] for p in providers])
        usual_cost = np.array([p.cost(context_input_tokens(0), p.max_output_tokens) for p in providers])
        return cls(
            providers=providers,
            row_of={p.id: row for row, p in enumerate(providers)},
            cost_in=np.array([p.cost_in for p in providers], dtype=np.float64),
            cost_out=np.array([p.cost_out for p in providers], dtype=np.float64),
            max_out=max_out,
            headroom=max_context - max_out,
            max_context=max_context,
            minus_context=-max_context,
            latency=latency,
            id_rank=ranks,
            hints={
                "cost": np.lexsort((ranks, latency, usual_cost))[:HINT_ROWS],
                "latency": np.lexsort((ranks, latency))[:HINT_ROWS],
                "-max_context": np.lexsort((ranks, -max_context))[:HINT_ROWS],
            },
        )


class ProviderIndex:
    """A registry indexed for deciding calls: built once, then `decide` per call."""

    def __init__(self, providers: tuple[Provider, ...], vector_from: int = VECTOR_FROM) -> None:
        self.providers = providers
        self.vector_from = vector_from
        self._id_rank = {pid: rank for rank, pid in enumerate(sorted(p.id for p in providers))}
        self._row_of = {p.id: row for row, p in enumerate(providers)}
        # (capability, confidential) -> (the not_configured mapping it was built for, view).
        # The mapping is compared by identity: the Router passes the same read-only one on
        # every call, so a view is built once; a request with another mapping gets a new view.
        self._views: dict[tuple[str, bool], tuple[Mapping[str, str], _View]] = {}

    def decide(self, policy: Policy, request: RouteRequest) -> Decision:
        """Policy.decide's ranking, its first TOP_K only. The candidates are those, then the
        providers dropped that one would expect the call at: the rule's preferred ones and
        those whose breaker is open, with their reasons. When nothing fits, the full decision:
        its refusal gives every provider's reason."""
        rule, traces = policy.match(request)
        if rule is not None:
            ranked, more = self.top(request, rule)
            if ranked:
                candidates = ranked + self._expected_but_dropped(policy, rule, request, ranked)
                return Decision(ranked, rule.name, traces, candidates, request, truncated=more)
        return policy.decide(self.providers, request)

    def _expected_but_dropped(
        self, policy: Policy, rule: Rule, request: RouteRequest, ranked: tuple[Candidate, ...]
    ) -> tuple[Candidate, ...]:
        """The providers the rule prefers or whose breaker is open, when dropped, in registry order."""
        ranked_ids = {c.provider.id for c in ranked}
        wanted = {*rule.prefer, *request.open_breakers}
        rows = sorted(row for pid in wanted if pid not in ranked_ids and (row := self._row_of.get(pid)) is not None)
        candidates = (policy.constrain(self.providers[row], request) for row in rows)
        return tuple(c for c in candidates if not c.kept)

    def top(self, request: RouteRequest, rule: Rule) -> tuple[tuple[Candidate, ...], bool]:
        """The first TOP_K of `rule`'s ranking of the providers that fit, and whether more fit."""
        view = self._view(request)
        rank = _top_by_arrays if len(view.providers) >= self.vector_from else _top_by_loop
        return rank(view, request, rule)

    def _view(self, request: RouteRequest) -> _View:
        needed = CAPABILITY_FOR.get(request.model_type, "chat")
        key = (needed, request.confidential)
        unconfigured = request.not_configured
        cached = self._views.get(key)
        if cached is not None and (cached[0] is unconfigured or not (cached[0] or unconfigured)):
            return cached[1]
        usable = tuple(
            p
            for p in self.providers
            if needed in p.capabilities and (p.local or not request.confidential) and p.id not in unconfigured
        )
        view = _View.of(usable, self._id_rank)
        self._views[key] = (unconfigured, view)
        return view


def _top_by_loop(view: _View, request: RouteRequest, rule: Rule) -> tuple[tuple[Candidate, ...], bool]:
    """Policy.constrain and the rule's ranking over a small view, making Candidates for the head only."""
    tokens_in = context_input_tokens(request.input_tokens)
    kept: dict[str, tuple[Provider, int, float]] = {}
    for p in view.providers:
        max_out = min(request.max_output_tokens or p.max_output_tokens, p.max_output_tokens)
        if p.id in request.open_breakers or tokens_in + max_out > p.max_context:
            continue
        worst = p.cost(request.reserved_input_tokens(p), max_out)
        if not worst > request.budget_left_usd:
            kept[p.id] = (p, max_out, worst)
    first = [kept[pid] for pid in rule.prefer if pid in kept]
    rest = [k for pid, k in kept.items() if pid not in rule.prefer]
    key = ORDER_KEYS[rule.order_by]
    rest.sort(key=lambda k: key(k[0], k[2]))
    head = tuple(Candidate(p, True, FITS, max_out, worst) for p, max_out, worst in (first + rest)[:TOP_K])
    return head, len(first) + len(rest) > TOP_K


def _top_by_arrays(view: _View, request: RouteRequest, rule: Rule) -> tuple[tuple[Candidate, ...], bool]:
    """The same over a large view: the constraints as masks, then a sort of the few rows that can
    make the head."""
    tokens_in = context_input_tokens(request.input_tokens)
    if request.max_output_tokens:
        max_out = np.minimum(view.max_out, request.max_output_tokens)
        keep = tokens_in + max_out <= view.max_context
    else:
        max_out = view.max_out
        keep = view.headroom >= tokens_in
    # Provider.cost's expression, elementwise: the same IEEE operations in the same order.
    worst = (_reserved_input_tokens(view, request) * view.cost_in + max_out * view.cost_out) / 1000.0
    if request.budget_left_usd < math.inf:  # (a NaN budget drops nothing, as in Policy.decide)
        keep[worst > request.budget_left_usd] = False
    for pid in request.open_breakers:
        if (row := view.row_of.get(pid)) is not None:
            keep[row] = False
    preferred = [row for pid in rule.prefer if (row := view.row_of.get(pid)) is not None]
    first = [row for row in preferred if keep[row]]
    if preferred:
        keep[preferred] = False
    rest = int(np.count_nonzero(keep))
    room = TOP_K - len(first)
    rows = first[:TOP_K]
    if room > 0 and rest:
        rows += _head(keep, rest, room, rule.order_by, worst, view)
    outs, costs = max_out[rows].tolist(), worst[rows].tolist()  # as Python ints and floats
    head = tuple(Candidate(view.providers[r], True, FITS, o, c) for r, o, c in zip(rows, outs, costs))
    return head, len(first) + rest > TOP_K


def _reserved_input_tokens(view: _View, request: RouteRequest) -> int | Ints:
    """RouteRequest.reserved_input_tokens for every row: one figure, unless some providers in
    the view count with their own tokenizer."""
    bounds = request.input_bounds
    if bounds is None or not bounds.exact:
        return request.reserved_input_tokens(view.providers[0]) if view.providers else 0
    tokens = np.full(len(view.providers), bounds.other, dtype=np.int64)
    for name, rows in view.tokenizer_rows(bounds.tokenizer_of).items():
        tokens[rows] = bounds.exact.get(name, bounds.other)
    return tokens


def _head(keep: npt.NDArray[np.bool_], kept: int, room: int, order_by: str, worst: Floats, view: _View) -> list[int]:
    """The first `room` kept rows in ORDER_KEYS' order: (worst case, latency, id) for "cost",
    (latency, worst case, id) for "latency", (-max_context, worst case, id) for "-max_context".
    Only rows whose first key is at most the room-th smallest's can be among them: the kept
    hint rows bound that key (any `room` kept rows do), else a partition finds it."""
    first_key: Keys = worst if order_by == "cost" else view.latency if order_by == "latency" else view.minus_context
    second_key: Keys = view.latency if order_by == "cost" else worst
    if kept <= room:
        rows = np.flatnonzero(keep)
    else:
        hint = view.hints[order_by]
        near = first_key[hint][keep[hint]]
        rows = np.flatnonzero(keep & (first_key <= near.max()) if near.size >= room else keep)
        if rows.size > 4 * room:  # a loose bound (the stand-in ranks unlike this call), or none
            keys = first_key[rows]
            rows = rows[keys <= np.partition(keys, room - 1)[room - 1]]
    order = np.lexsort((view.id_rank[rows], second_key[rows], first_key[rows]))
    return list(rows[order[:room]].tolist())
