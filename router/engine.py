"""The router's core: decide, reserve, call with retries, fall back, settle, book."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import AsyncGenerator, AsyncIterator, Iterable, Iterator, Mapping, NoReturn

from .accounting import Accounting, Budget, BudgetExceeded, BudgetStatus, LedgerRow, Reservation
from .breaker import Breakers
from .calls import ProviderCaller, error_class, estimate_tokens, retry_after, retryable
from .policy import Candidate, Decision, Policy, RouteRequest
from .provider_index import ProviderIndex
from .registry import Provider
from .requests import AllFailed, AttemptRecord, CallRequest, CircuitOpen, Completion, Refused, Reply, RetrySettings

log = logging.getLogger("router")

BUDGET_STATUS_TTL_S = 0.5


@dataclass
class CallRecord:
    """One call's record: its attempts in order (the Reply lists them), the ledger row each one
    books, and why each provider was given up (AllFailed names them)."""

    request: CallRequest
    budgets: tuple[Budget, ...]  # the budgets the call counts against
    attempts: list[AttemptRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "<provider id>: <why>", one per provider given up

    def attempted(
        self, provider: Provider, status: str, error_class: str = "", error: str = "", latency_ms: int = 0
    ) -> None:
        """Add the next attempt."""
        self.attempts.append(AttemptRecord(len(self.attempts) + 1, provider, status, error_class, error, latency_ms))

    def ledger_row(
        self,
        provider: Provider | None,
        status: str,
        error_class: str = "",
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: float = 0.0,
        latency_ms: int = 0,
    ) -> LedgerRow:
        """The ledger row of the latest attempt (attempt 1 for a call refused before any)."""
        return LedgerRow(
            request_id=self.request.request_id,
            attempt=max(1, len(self.attempts)),
            time_ms=int(time.time() * 1000),
            agent_name=self.request.agent_name,
            task_id=self.request.task_id,
            user_id=self.request.user_id,
            provider=provider.name if provider else "",
            model=provider.model if provider else "",
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            latency_ms=latency_ms,
            status=status,
            error_class=error_class,
        )

    def gave_up(self, provider: Provider, why: str) -> None:
        """No more tries at `provider`, and why."""
        self.failures.append(f"{provider.id}: {why}")

    def give_up(self) -> NoReturn:
        """Every candidate was tried: Refused when budgets turned them all away, else AllFailed."""
        if self.attempts and all(a.status == "refused" for a in self.attempts):
            raise Refused("; ".join(self.failures), budget=True)
        raise AllFailed("every provider failed: " + "; ".join(self.failures))


Answer = tuple[Provider, Completion]  # the provider that answered, and what it said


def backoff(settings: RetrySettings, number: int, exc: BaseException) -> float:
    """The wait after failed try `number`: the provider's Retry-After when it sent one, else
    exponential backoff from backoff_initial_s plus up to as much again of jitter; never more
    than backoff_max_s."""
    asked = retry_after(exc)
    if asked is None:
        asked = settings.backoff_initial_s * 2 ** (number - 1) + random.uniform(0, settings.backoff_initial_s)
    return min(asked, settings.backoff_max_s)


class Attempts:
    """Tries providers for calls, whole or streamed alike: each candidate in turn, each up to
    `attempts_per_provider` times. Every try reserves its worst case first, and settles or
    releases after with its ledger row in the same transaction.

    The retry loop is written out rather than tenacity's: a streamed try yields text from inside
    the loop, and tenacity's attempt block would swallow the GeneratorExit of a consumer that
    stops reading there; and a try that already sent text must not be retried at all."""

    def __init__(
        self, accounting: Accounting, breakers: Breakers, caller: ProviderCaller, settings: RetrySettings
    ) -> None:
        self.accounting = accounting
        self.breakers = breakers
        self.caller = caller
        self.settings = settings

    async def run(
        self, record: CallRecord, candidates: Iterable[Candidate], stream: bool
    ) -> AsyncGenerator[str | Answer, None]:
        """Try `candidates` in order until one answers: yields its text deltas (when streaming),
        then the Answer. Raises Refused or AllFailed when none answered."""
        for position, candidate in enumerate(candidates):
            async with aclosing(self._tries(record, candidate, stream, first_choice=position == 0)) as items:
                async for item in items:
                    if isinstance(item, Completion):
                        yield candidate.provider, item
                        return
                    yield item
        record.give_up()

    async def _tries(
        self, record: CallRecord, candidate: Candidate, stream: bool, first_choice: bool
    ) -> AsyncGenerator[str | Completion, None]:
        """The tries at one provider, yielding what the answering try yields. A failure is tried
        again after a wait (`backoff`) when it is transient, no text went out yet and the breaker
        still allows calls. A failure after text went out is raised: the caller holds part of an
        answer, which no other try can continue. Any other failure gives the provider up."""
        provider = candidate.provider
        for number in range(1, self.settings.attempts_per_provider + 1):
            sent = False
            try:
                async with aclosing(self._attempt(record, candidate, stream, first_choice)) as items:
                    async for item in items:
                        sent = sent or isinstance(item, str)
                        yield item
                return
            except (BudgetExceeded, CircuitOpen) as exc:  # turned away before the call: no use trying again
                record.gave_up(provider, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - every provider error means: try again, or the next one
                if sent:
                    raise
                last = number == self.settings.attempts_per_provider
                if last or not retryable(exc) or not self.breakers[provider.id].allows():
                    record.gave_up(provider, f"{error_class(exc)}: {exc}")
                    return
                wait = backoff(self.settings, number, exc)
            await asyncio.sleep(wait)

    async def _attempt(
        self, record: CallRecord, candidate: Candidate, stream: bool, first_choice: bool
    ) -> AsyncGenerator[str | Completion, None]:
        """One try: reserve the worst case, call (text deltas go out as they come), then settle or
        release and book the ledger row; yields the deltas, then the Completion."""
        reservation = await self._reserve(record, candidate)
        started = time.monotonic()
        completion: Completion | None = None
        try:
            async with asyncio.timeout(self.settings.attempt_timeout_s):
                async with aclosing(self._call(record.request, candidate, stream)) as items:
                    async for item in items:
                        if isinstance(item, Completion):
                            completion = item
                        else:
                            yield item
            assert completion is not None, "a provider call ends with its Completion"
        except BaseException as exc:
            await self._failed(record, candidate, reservation, started, exc)
            raise
        await self._succeeded(record, candidate, reservation, started, completion, first_choice)
        yield completion

    def _call(self, request: CallRequest, candidate: Candidate, stream: bool) -> AsyncGenerator[str | Completion, None]:
        """The provider call: streamed, its text deltas then a Completion; else the Completion alone."""
        provider = candidate.provider
        if stream:
            return self.caller.stream(
                provider,
                request.messages,
                candidate.max_output_tokens,
                request.temperature,
                request.grammar,
                self.settings.attempt_timeout_s,
            )
        return self._whole(request, candidate)

    async def _whole(self, request: CallRequest, candidate: Candidate) -> AsyncGenerator[Completion, None]:
        """The call the request's model type needs, answered whole."""
        provider, timeout = candidate.provider, self.settings.attempt_timeout_s
        if request.model_type == "TEXT_EMBEDDING":
            text = "\n".join(str(m["content"]) for m in request.messages)
            yield await self.caller.embedding(provider, text, timeout)
        elif request.model_type == "TRANSCRIPTION":
            yield await self.caller.transcription(provider, request.audio, request.audio_format, timeout)
        else:
            max_tokens = candidate.max_output_tokens
            yield await self.caller.chat(
                provider, request.messages, max_tokens, request.temperature, request.grammar, timeout
            )

    async def _reserve(self, record: CallRecord, candidate: Candidate) -> Reservation:
        """Claim the breaker (before any await, so two calls cannot both take the half-open
        probe), then reserve the attempt's worst-case cost; a refusal is booked and raised."""
        provider = candidate.provider
        breaker = self.breakers[provider.id]
        if not breaker.allows():
            raise CircuitOpen(f"circuit breaker is {breaker.state}")
        breaker.begin()
        if candidate.worst_case_cost == 0:
            return Reservation("", 0.0, ())  # a free call needs no budget, even an overspent one
        try:
            return await self.accounting.reserve(record.budgets, candidate.worst_case_cost, record.request.request_id)
        except BudgetExceeded as exc:
            breaker.abandoned()
            record.attempted(provider, "refused", "BudgetExceeded", str(exc))
            await self.accounting.book(record.ledger_row(provider, "refused", "BudgetExceeded"))
            raise
        except BaseException:
            breaker.abandoned()
            raise

    async def _succeeded(
        self,
        record: CallRecord,
        candidate: Candidate,
        reservation: Reservation,
        started: float,
        completion: Completion,
        first_choice: bool,
    ) -> None:
        """Settle the actual cost and book the row in one transaction; a success away from the
        first choice is a "fallback"."""
        provider = candidate.provider
        cost = provider.cost(completion.tokens_in, completion.tokens_out)
        self.breakers[provider.id].succeeded()
        latency = int((time.monotonic() - started) * 1000)
        status = "ok" if first_choice else "fallback"
        record.attempted(provider, status, latency_ms=latency)
        row = record.ledger_row(
            provider,
            status,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            cost=cost,
            latency_ms=latency,
        )
        try:
            await asyncio.shield(self.accounting.settle(reservation, cost, row))
        except Exception:  # the answer is here: a database hiccup must not send the call elsewhere
            # (the reservation stays held until it expires, which errs on the safe side)
            log.exception("could not settle %s attempt %d", record.request.request_id, len(record.attempts))

    async def _failed(
        self, record: CallRecord, candidate: Candidate, reservation: Reservation, started: float, exc: BaseException
    ) -> None:
        """Release the reservation and book the failure in one transaction; failures are
        recorded, not billed."""
        provider = candidate.provider
        cancelled = isinstance(exc, (asyncio.CancelledError, GeneratorExit))
        if not cancelled and retryable(exc):
            self.breakers[provider.id].failed()
        else:  # a cancelled call or a caller's error (400, auth, content policy) says nothing of the provider's health
            self.breakers[provider.id].abandoned()
        klass = "Cancelled" if cancelled else error_class(exc)
        latency = int((time.monotonic() - started) * 1000)
        message = str(exc)[:500] or f"{klass} after {latency} ms"
        record.attempted(provider, "error", klass, message, latency)
        row = record.ledger_row(provider, "error", klass, latency_ms=latency)
        await asyncio.shield(self.accounting.release(reservation, row))


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
    ) -> None:
        self.providers = providers
        self.policy = policy
        self.accounting = accounting
        self.budgets = budgets
        self.caller = caller
        self.breakers = breakers or Breakers()
        self.retry = retry
        self.env = env if env is not None else caller.env
        self.attempts = Attempts(accounting, self.breakers, caller, retry)
        self.index = ProviderIndex(providers)
        # Which keys are missing is read once, here: a decision must not look at every provider.
        self.not_configured: Mapping[str, str] = MappingProxyType(
            {p.id: why for p in providers if (why := p.not_configured_reason(self.env))}
        )
        self._status_cache: dict[tuple[Budget, ...], tuple[float, list[BudgetStatus]]] = {}

    def budgets_for(self, request: CallRequest) -> tuple[Budget, ...]:
        """The budgets a call counts against: global, its agent's, its task's."""
        wanted = {"global", f"agent:{request.agent_name}", f"task:{request.task_id}"}
        return tuple(b for b in self.budgets if b.scope in wanted)

    async def decide(self, request: CallRequest) -> Decision:
        """The full routing decision, every provider traced (Explain), without calling a model."""
        return self.policy.decide(self.providers, await self._route_request(request))

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
        """What the policy decides on: the call, its input tokens, budgets, breakers, keys."""
        budgets = self.budgets_for(request)
        statuses = await self._budget_status(budgets)
        tightest = min(statuses, key=lambda s: s.left, default=None)
        left_usd = tightest.left if tightest else float("inf")
        left_fraction = min((s.left / s.limit for s in statuses if s.limit > 0), default=1.0)
        return RouteRequest(
            model_type=request.model_type,
            confidential=request.confidential,
            quality=request.quality,
            input_tokens=estimate_tokens(request.messages),
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

    def invoke_stream(self, request: CallRequest) -> AsyncIterator[str | Reply]:
        """Like invoke, yielding text deltas as they come and the Reply last. Retries and
        fallbacks happen only before the first delta: after it, a failure ends the stream.
        The caller bounds the whole stream in time (RouterServicer.InvokeStream does)."""
        return self._run(request, stream=True)

    async def _run(self, request: CallRequest, stream: bool) -> AsyncGenerator[str | Reply, None]:
        """Route, then try the candidates in order (Attempts.run): yields the answering
        provider's text deltas when streaming, then the Reply."""
        request.request_id = request.request_id or uuid.uuid4().hex
        started = time.monotonic()
        decision = await self.route(request)
        record = CallRecord(request, self.budgets_for(request))
        if not decision.ranked:
            await self._refuse(record, decision)
        async with aclosing(self.attempts.run(record, self.fallbacks(decision), stream)) as items:
            async for item in items:
                if isinstance(item, str):
                    yield item
                    continue
                provider, completion = item
                cost = provider.cost(completion.tokens_in, completion.tokens_out)
                latency = int((time.monotonic() - started) * 1000)
                yield Reply(request.request_id, decision, provider, completion, cost, latency, record.attempts)

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
