"""The router's core: decide, reserve, call with retries, fall back, settle, book."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from types import MappingProxyType
from typing import AsyncIterator, Iterator, Mapping, NoReturn

import tenacity

from .accounting import Accounting, Budget, BudgetExceeded, BudgetStatus, LedgerRow, Reservation
from .breaker import Breaker, Breakers
from .calls import ProviderCaller, error_class, estimate_tokens, retry_after, retryable
from .policy import Candidate, Decision, Policy, RouteRequest
from .provider_index import ProviderIndex
from .registry import Provider
from .requests import AllFailed, AttemptRecord, CallRequest, CircuitOpen, Completion, Refused, Reply, RetrySettings

log = logging.getLogger("router")

BUDGET_STATUS_TTL_S = 0.5


class _RetryAfterOrJitter(tenacity.wait.wait_base):
    """Honour the provider's Retry-After when it sent one, else jittered exponential backoff."""

    def __init__(self, settings: RetrySettings) -> None:
        self.fallback = tenacity.wait_exponential_jitter(
            multiplier=settings.backoff_initial_s, max=settings.backoff_max_s, jitter=settings.backoff_initial_s
        )
        self.cap = settings.backoff_max_s

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = retry_after(exc) if exc else None
        return min(asked, self.cap) if asked is not None else self.fallback(retry_state)

    def delay(self, attempt_number: int, exc: BaseException) -> float:
        """The same wait outside a tenacity loop (the streaming path)."""
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # only attempt_number is read
        state.attempt_number = attempt_number
        asked = retry_after(exc)
        return min(asked, self.cap) if asked is not None else self.fallback(state)


class _StopWhenOpen(tenacity.stop.stop_base):
    """Stop retrying at a provider once a failure has opened its breaker."""

    def __init__(self, breaker: Breaker) -> None:
        self.breaker = breaker

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return not self.breaker.allows()


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
        self.retry_wait = _RetryAfterOrJitter(retry)
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
        """Route and call; falls back through the ranked providers; raises Refused or AllFailed."""
        timeout = request.timeout_s or self.retry.call_timeout_s
        async with asyncio.timeout(timeout):
            return await self._invoke(request)

    async def _invoke(self, request: CallRequest) -> Reply:
        request.request_id = request.request_id or uuid.uuid4().hex
        started = time.monotonic()
        decision = await self.route(request)
        attempts: list[AttemptRecord] = []
        if not decision.ranked:
            await self._refuse(request, decision)
        failures: list[str] = []
        for position, candidate in enumerate(self.fallbacks(decision)):
            completion = await self._try_provider(request, candidate, attempts, failures, position == 0)
            if completion is not None:
                cost = candidate.provider.cost(completion.tokens_in, completion.tokens_out)
                return Reply(
                    request.request_id,
                    decision,
                    candidate.provider,
                    completion,
                    cost,
                    int((time.monotonic() - started) * 1000),
                    attempts,
                )
        _give_up(attempts, failures)

    async def _refuse(self, request: CallRequest, decision: Decision) -> NoReturn:
        """No provider may take the call: book the refusal and raise it."""
        provider = decision.candidates[0].provider if decision.candidates else None
        await self._book_refusal(request, [], provider, "NoProvider")
        budget = any(c.over_budget for c in decision.candidates)
        raise Refused(decision.refusal(), budget=budget)

    async def _try_provider(
        self,
        request: CallRequest,
        candidate: Candidate,
        attempts: list[AttemptRecord],
        failures: list[str],
        first_choice: bool,
    ) -> Completion | None:
        """Up to `attempts_per_provider` tries at one provider; None when it gave up."""
        provider = candidate.provider
        breaker = self.breakers[provider.id]
        if not breaker.allows():
            failures.append(f"{provider.id}: circuit breaker is open")
            return None
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retryable),
            wait=self.retry_wait,
            stop=tenacity.stop_after_attempt(self.retry.attempts_per_provider) | _StopWhenOpen(breaker),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(request, candidate, attempts, first_choice)
        except BudgetExceeded as exc:
            failures.append(f"{provider.id}: {exc}")
        except Exception as exc:  # noqa: BLE001 - every provider error means: try the next one
            failures.append(f"{provider.id}: {error_class(exc)}: {exc}")
        return None

    async def _attempt(
        self, request: CallRequest, candidate: Candidate, attempts: list[AttemptRecord], first_choice: bool
    ) -> Completion:
        """One try: reserve the worst case, call, settle (or release), book the ledger row."""
        reservation = await self._reserve(request, candidate, attempts)
        started = time.monotonic()
        try:
            completion = await asyncio.wait_for(self._call(request, candidate), self.retry.attempt_timeout_s)
        except BaseException as exc:
            await self._failed(request, candidate, attempts, reservation, started, exc)
            raise
        await self._succeeded(request, candidate, attempts, reservation, started, completion, first_choice)
        return completion

    async def _reserve(self, request: CallRequest, candidate: Candidate, attempts: list[AttemptRecord]) -> Reservation:
        """Claim the breaker (before any await, so two calls cannot both take the half-open
        probe), then reserve the attempt's worst-case cost; a refusal is booked and raised."""
        provider = candidate.provider
        breaker = self.breakers[provider.id]
        if not breaker.allows():
            raise CircuitOpen(f"circuit breaker of {provider.id} is {breaker.state}")
        breaker.begin()
        if candidate.worst_case_cost == 0:
            return Reservation("", 0.0, ())  # a free call needs no budget, even an overspent one
        try:
            return await self.accounting.reserve(
                self.budgets_for(request), candidate.worst_case_cost, request.request_id
            )
        except BudgetExceeded as exc:
            breaker.abandoned()
            attempts.append(AttemptRecord(len(attempts) + 1, provider, "refused", "BudgetExceeded", str(exc)))
            await self._book_refusal(request, attempts, provider, "BudgetExceeded")
            raise
        except BaseException:
            breaker.abandoned()
            raise

    async def _succeeded(
        self,
        request: CallRequest,
        candidate: Candidate,
        attempts: list[AttemptRecord],
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
        attempts.append(AttemptRecord(len(attempts) + 1, provider, status, latency_ms=latency))
        row = _ledger_row(
            request, attempts, provider, status, "", completion.tokens_in, completion.tokens_out, cost, latency
        )
        try:
            await asyncio.shield(self.accounting.settle(reservation, cost, row))
        except Exception:  # the answer is here: a database hiccup must not send the call elsewhere
            # (the reservation stays held until it expires, which errs on the safe side)
            log.exception("could not settle %s attempt %d", request.request_id, len(attempts))

    async def _failed(
        self,
        request: CallRequest,
        candidate: Candidate,
        attempts: list[AttemptRecord],
        reservation: Reservation,
        started: float,
        exc: BaseException,
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
        attempts.append(AttemptRecord(len(attempts) + 1, provider, "error", klass, message, latency))
        row = _ledger_row(request, attempts, provider, "error", klass, 0, 0, 0.0, latency)
        await asyncio.shield(self.accounting.release(reservation, row))

    async def invoke_stream(self, request: CallRequest) -> AsyncIterator[str | Reply]:
        """Like invoke, yielding text deltas as they come and the Reply last. Retries and
        fallbacks happen only before the first delta: after it, a failure ends the stream."""
        request.request_id = request.request_id or uuid.uuid4().hex
        started_call = time.monotonic()
        decision = await self.route(request)
        if not decision.ranked:
            await self._refuse(request, decision)
        attempts: list[AttemptRecord] = []
        failures: list[str] = []
        for position, candidate in enumerate(self.fallbacks(decision)):
            provider = candidate.provider
            for number in range(1, self.retry.attempts_per_provider + 1):
                if not self.breakers[provider.id].allows():
                    failures.append(f"{provider.id}: circuit breaker is open")
                    break
                try:
                    reservation = await self._reserve(request, candidate, attempts)
                except (BudgetExceeded, CircuitOpen) as exc:
                    failures.append(f"{provider.id}: {exc}")
                    break
                started = time.monotonic()
                sent_any = False
                completion: Completion | None = None
                try:
                    stream = self.caller.stream(
                        provider,
                        request.messages,
                        candidate.max_output_tokens,
                        request.temperature,
                        request.grammar,
                        self.retry.attempt_timeout_s,
                    )
                    async with asyncio.timeout(self.retry.attempt_timeout_s):
                        async for item in stream:
                            if isinstance(item, Completion):
                                completion = item
                            else:
                                sent_any = True
                                yield item
                except BaseException as exc:
                    await self._failed(request, candidate, attempts, reservation, started, exc)
                    if sent_any or not isinstance(exc, Exception):
                        raise  # text already went out, or the caller cancelled: nothing to retry
                    failures.append(f"{provider.id}: {error_class(exc)}: {exc}")
                    if not retryable(exc):
                        break
                    if number < self.retry.attempts_per_provider:
                        await asyncio.sleep(self.retry_wait.delay(number, exc))
                    continue
                assert completion is not None
                await self._succeeded(request, candidate, attempts, reservation, started, completion, position == 0)
                cost = provider.cost(completion.tokens_in, completion.tokens_out)
                yield Reply(
                    request.request_id,
                    decision,
                    provider,
                    completion,
                    cost,
                    int((time.monotonic() - started_call) * 1000),
                    attempts,
                )
                return
        _give_up(attempts, failures)

    async def _call(self, request: CallRequest, candidate: Candidate) -> Completion:
        provider = candidate.provider
        if request.model_type == "TEXT_EMBEDDING":
            text = "\n".join(str(m["content"]) for m in request.messages)
            return await self.caller.embedding(provider, text, self.retry.attempt_timeout_s)
        if request.model_type == "TRANSCRIPTION":
            return await self.caller.transcription(
                provider, request.audio, request.audio_format, self.retry.attempt_timeout_s
            )
        return await self.caller.chat(
            provider,
            request.messages,
            candidate.max_output_tokens,
            request.temperature,
            request.grammar,
            self.retry.attempt_timeout_s,
        )

    async def _book_refusal(
        self, request: CallRequest, attempts: list[AttemptRecord], provider: Provider | None, klass: str
    ) -> None:
        """A refused attempt: recorded, nothing spent."""
        await self.accounting.book(_ledger_row(request, attempts, provider, "refused", klass, 0, 0, 0.0, 0))

    def provider_states(self) -> list[tuple[Provider, str, str]]:
        """(provider, why not configured, breaker state) for every provider."""
        return [(p, self.not_configured.get(p.id, ""), self.breakers[p.id].state) for p in self.providers]


def _ledger_row(
    request: CallRequest,
    attempts: list[AttemptRecord],
    provider: Provider | None,
    status: str,
    klass: str,
    tokens_in: int,
    tokens_out: int,
    cost: float,
    latency_ms: int,
) -> LedgerRow:
    return LedgerRow(
        request_id=request.request_id,
        attempt=max(1, len(attempts)),
        time_ms=int(time.time() * 1000),
        agent_name=request.agent_name,
        task_id=request.task_id,
        user_id=request.user_id,
        provider=provider.name if provider else "",
        model=provider.model if provider else "",
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        latency_ms=latency_ms,
        status=status,
        error_class=klass,
    )


def _give_up(attempts: list[AttemptRecord], failures: list[str]) -> NoReturn:
    """Every candidate was tried: Refused when budgets turned them all away, else AllFailed."""
    if attempts and all(a.status == "refused" for a in attempts):
        raise Refused("; ".join(failures), budget=True)
    raise AllFailed("every provider failed: " + "; ".join(failures))


def _budget_name(status: BudgetStatus) -> str:
    """E.g. "global (monthly 2026-11)" or "task:t1 (total)"."""
    period = status.period if status.period == "total" else f"{status.period} {status.period_key}"
    return f"{status.scope} ({period})"
