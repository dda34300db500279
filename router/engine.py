"""The Router: the decision a call goes by (and the budget, breaker and key state it reads),
and invoke / invoke_stream, which try the decision's candidates through Attempts and answer
with a Reply."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import aclosing
from types import MappingProxyType
from typing import AsyncGenerator, Iterator, Mapping, NoReturn

from .accounting import Accounting, Budget, BudgetStatus
from .attempts import Attempts
from .breaker import Breakers
from .call_record import CallRecord
from .calls import ProviderCaller, estimate_tokens, input_bounds, own_tokenizer
from .policy import Candidate, Decision, Policy, RouteRequest
from .provider_index import ProviderIndex
from .registry import Provider
from .requests import CallRequest, Refused, Reply, RetrySettings
from .response_cache import ResponseCache, cache_key

BUDGET_STATUS_TTL_S = 0.5
CHAT_TYPES = frozenset({"TEXT_SMALL", "TEXT_LARGE"})  # the model types a warm-up can read ahead for


class Router:
    """Routes calls over a registry with a policy, a budget and a ledger."""

    def __init__(
        self,
        providers: tuple[Provider, ...],
        policy: Policy,
        accounting: Accounting,
        budgets: tuple[Budget, ...],
        caller: ProviderCaller,
        breakers: Breakers | None = None,
        retry: RetrySettings = RetrySettings(),
        env: Mapping[str, str] | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.providers = providers
        self.policy = policy
        self.accounting = accounting
        self.budgets = budgets
        self.caller = caller
        self.breakers = breakers or Breakers()
        self.retry = retry
        self.cache = cache or ResponseCache(max_entries=0)  # none given: nothing is kept
        self.env = env if env is not None else caller.env
        self.attempts = Attempts(accounting, self.breakers, caller, retry)
        self.index = ProviderIndex(providers)
        # Which keys are missing is read once, here: a decision must not look at every provider.
        self._missing_keys: Mapping[str, str] = MappingProxyType(
            {p.id: why for p in providers if (why := p.not_configured_reason(self.env))}
        )
        self.down: Mapping[str, str] = MappingProxyType({})  # provider id -> why its local model is down
        # Why each provider that cannot be called now cannot: what every decision reads.
        self.not_configured: Mapping[str, str] = self._missing_keys
        # Whose own tokenizer litellm has, read once too: a call counts its prompt once per such tokenizer.
        self.tokenizer_of: Mapping[str, str] = MappingProxyType(
            {p.id: name for p in providers if (name := own_tokenizer(p.litellm_model))}
        )
        self.tokenizers = frozenset(self.tokenizer_of.values())
        self._status_cache: dict[tuple[Budget, ...], tuple[float, list[BudgetStatus]]] = {}

    def set_down(self, down: Mapping[str, str]) -> None:
        """Which providers' local models are down now, and why (router.local_health keeps this in
        step): they cannot be called, for that reason, as well as those missing a key."""
        self.down = MappingProxyType(dict(down))
        self.not_configured = MappingProxyType({**self._missing_keys, **down}) if down else self._missing_keys

    def budgets_for(self, request: CallRequest) -> tuple[Budget, ...]:
        """The budgets a call counts against: global, its agent's, its task's."""
        wanted = {"global", f"agent:{request.agent_name}", f"task:{request.task_id}"}
        return tuple(b for b in self.budgets if b.scope in wanted)

    async def decide(self, request: CallRequest) -> Decision:
        """The full routing decision, every provider traced (Explain), without calling a model."""
        decision = self.policy.decide(self.providers, await self._route_request(request))
        return await self.attempts.with_rate_limits(decision)  # providers over their rpm/tpm dropped

    async def route(self, request: CallRequest) -> Decision:
        """The decision a call goes by: the same ranking, its first TOP_K only, in time nearly
        flat in the number of providers (ProviderIndex)."""
        return self.index.decide(self.policy, await self._route_request(request))

    def fallbacks(self, decision: Decision) -> Iterator[Candidate]:
        """The candidates to try, in order: the ranked ones, then, past a call decision's
        TOP_K, the rest of the full ranking (the same request gives the same order)."""
        yield from decision.ranked
        if decision.truncated:
            yield from self.policy.decide(self.providers, decision.request).ranked[len(decision.ranked) :]

    async def _route_request(self, request: CallRequest) -> RouteRequest:
        """What the policy decides on: the call, its input tokens (the estimate, and the bounds the
        reservations hold), budgets, breakers, keys."""
        budgets = self.budgets_for(request)
        statuses = await self._budget_status(budgets)
        tightest = min(statuses, key=lambda s: s.left, default=None)
        left_usd = tightest.left if tightest else float("inf")
        left_fraction = min((s.left_fraction for s in statuses), default=1.0)  # no budget: nothing binds
        estimate = estimate_tokens(request.messages)
        return RouteRequest(
            model_type=request.model_type,
            confidential=request.confidential,
            quality=request.quality,
            input_tokens=estimate,
            input_bounds=input_bounds(request.messages, estimate, self.tokenizer_of, self.tokenizers),
            max_output_tokens=request.max_output_tokens,
            budget_left=left_fraction,
            budget_left_usd=left_usd,
            budget_name=_budget_name(tightest) if tightest else "",
            open_breakers=self.breakers.blocked(),
            not_configured=self.not_configured,
        )

    async def _budget_status(self, budgets: tuple[Budget, ...]) -> list[BudgetStatus]:
        """Budget status for deciding, re-read at most every BUDGET_STATUS_TTL_S. Deciding on a
        slightly old figure is safe: the reservation, not the decision, enforces the limit."""
        now = time.monotonic()
        cached = self._status_cache.get(budgets)
        if cached is not None and now - cached[0] < BUDGET_STATUS_TTL_S:
            return cached[1]
        statuses = await self.accounting.status(budgets)
        self._status_cache[budgets] = (now, statuses)
        return statuses

    async def invoke(self, request: CallRequest) -> Reply:
        """Route and call; falls back through the ranked providers; raises Refused or AllFailed,
        or TimeoutError past the call's deadline."""
        async with asyncio.timeout(request.timeout_s or self.retry.call_timeout_s):
            [reply] = [item async for item in self._run(request, stream=False)]  # unstreamed: the Reply alone
        assert isinstance(reply, Reply)
        return reply

    async def warm_up(self, request: CallRequest) -> tuple[Provider | None, int]:
        """Have the provider this call would go to read its prompt, when that provider is local:
        its model keeps the evaluated prompt (router.local_worker's prompt cache), so later calls
        that start the same way read only the rest. One token is generated (the least a
        completion makes), nothing is booked or cached. Returns the provider and the prompt's
        tokens, or (None, 0) when the call would go to a provider that is not local (nothing is
        called: a warm-up never costs money) or to none."""
        request.request_id = request.request_id or uuid.uuid4().hex
        decision = await self.route(request)
        provider = decision.ranked[0].provider if decision.ranked else None
        if provider is None or not provider.local or request.model_type not in CHAT_TYPES:
            return None, 0
        timeout = request.timeout_s or self.retry.attempt_timeout_s
        async with asyncio.timeout(timeout):
            completion = await self.caller.chat(provider, request.messages, 1, 0.0, "", timeout)
        return provider, completion.tokens_in

    def invoke_stream(self, request: CallRequest) -> AsyncGenerator[str | Reply, None]:
        """Like invoke, yielding text deltas as they come and the Reply last. Retries and
        fallbacks happen only before the first delta: after it, a failure ends the stream.
        The caller bounds the whole stream in time (RouterServicer.InvokeStream does)."""
        return self._run(request, stream=True)

    async def _run(self, request: CallRequest, stream: bool) -> AsyncGenerator[str | Reply, None]:
        """Route, then try the candidates in order (Attempts.run): yields the answering
        provider's text deltas when streaming, then the Reply."""
        request.request_id = request.request_id or uuid.uuid4().hex
        started = time.monotonic()
        key = cache_key(request) if self.cache.enabled else None
        if key is not None and (kept := self.cache.get(key)) is not None:
            async for answer in self._from_cache(request, kept, stream, started):
                yield answer
            return
        decision = await self.route(request)
        record = CallRecord(request, self.budgets_for(request))
        if not decision.ranked:
            await self._refuse(record, decision)
        async with aclosing(self.attempts.run(record, self.fallbacks(decision), stream, decision.request)) as items:
            async for item in items:
                if isinstance(item, str):
                    yield item
                    continue
                provider, completion = item
                cost = provider.cost(completion.tokens_in, completion.tokens_out)
                latency = int((time.monotonic() - started) * 1000)
                reply = Reply(request.request_id, decision, provider, completion, cost, latency, record.attempts)
                if key is not None:
                    self.cache.put(key, reply)
                yield reply

    async def _from_cache(
        self, request: CallRequest, kept: Reply, stream: bool, started: float
    ) -> AsyncGenerator[str | Reply, None]:
        """Answer with a kept reply: booked as a cached call (no cost), its text as one delta."""
        record = CallRecord(request, self.budgets_for(request))
        latency = int((time.monotonic() - started) * 1000)
        await self.accounting.book(record.ledger_row(kept.provider, "cached", latency_ms=latency))
        if stream and kept.completion.text:
            yield kept.completion.text
        yield Reply(request.request_id, kept.decision, kept.provider, kept.completion, 0.0, latency, cached=True)

    async def _refuse(self, record: CallRecord, decision: Decision) -> NoReturn:
        """No provider may take the call: book the refusal and raise it."""
        provider = decision.candidates[0].provider if decision.candidates else None
        await self.accounting.book(record.ledger_row(provider, "refused", "NoProvider"))
        raise Refused(decision.refusal(), budget=any(c.over_budget for c in decision.candidates))

    def provider_states(self) -> list[tuple[Provider, str, str]]:
        """(provider, why not configured, breaker state) for every provider."""
        return [(p, self.not_configured.get(p.id, ""), self.breakers[p.id].state) for p in self.providers]


def _budget_name(status: BudgetStatus) -> str:
    """E.g. "global (monthly 2026-11)" or "task:t1 (total)"."""
    period = status.period if status.period == "total" else f"{status.period} {status.period_key}"
    return f"{status.scope} ({period})"
