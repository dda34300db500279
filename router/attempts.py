"""Trying providers for one call: each candidate in turn, each up to attempts_per_provider
times, every try reserving its worst case, calling, and settling or releasing with its ledger
row; transient failures are tried again after a backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import aclosing
from dataclasses import replace
from typing import AsyncGenerator, Callable, Iterable

from .accounting import Accounting, BudgetExceeded, RateLimit, RateLimited, Reservation
from .breaker import Breakers
from .call_record import CallRecord
from .calls import ProviderCaller, error_class, retry_after, retryable
from .policy import Candidate, Decision, RouteRequest
from .registry import Provider
from .requests import CallRequest, CircuitOpen, Completion, RetrySettings

log = logging.getLogger("router")

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
        # Which minute a provider's rpm/tpm window is: None reads the database's clock (every
        # router sharing it agrees); tests set a clock (epoch seconds) to move between minutes.
        self.clock: Callable[[], float] | None = None

    async def run(
        self, record: CallRecord, candidates: Iterable[Candidate], stream: bool, route: RouteRequest | None = None
    ) -> AsyncGenerator[str | Answer, None]:
        """Try `candidates` in order until one answers: yields its text deltas (when streaming),
        then the Answer. Raises Refused or AllFailed when none answered. `route`, the request the
        candidates were ranked for, gives the input tokens a rate-limited provider counts."""
        for position, candidate in enumerate(candidates):
            rate = self._rate(candidate, route)
            tries = self._tries(record, candidate, stream, rate, first_choice=position == 0)
            async with aclosing(tries) as items:
                async for item in items:
                    if isinstance(item, Completion):
                        yield candidate.provider, item
                        return
                    yield item
        record.give_up()

    async def with_rate_limits(self, decision: Decision) -> Decision:
        """The decision as a call would meet it now (Explain): each ranked provider over its rpm
        or tpm limit is dropped, its reason saying which limit and when the next window opens."""
        rates = {c.provider.id: rate for c in decision.ranked if (rate := self._rate(c, decision.request))}
        if not rates:
            return decision
        checked = zip(rates, await self.accounting.rate_check(list(rates.values())))
        over = {provider_id: str(refusal) for provider_id, refusal in checked if refusal is not None}
        if not over:
            return decision
        return replace(
            decision,
            ranked=tuple(c for c in decision.ranked if c.provider.id not in over),
            candidates=tuple(
                replace(c, kept=False, reason=over[c.provider.id]) if c.kept and c.provider.id in over else c
                for c in decision.candidates
            ),
        )

    def _rate(self, candidate: Candidate, route: RouteRequest | None) -> RateLimit | None:
        """What a try at the candidate counts against its provider's rpm and tpm limits (None when
        it has neither): one request, and its input bound plus max output in tokens."""
        provider = candidate.provider
        if not (provider.rpm or provider.tpm):
            return None
        tokens_in = route.reserved_input_tokens(provider) if route is not None else 0
        now_s = self.clock() if self.clock is not None else None
        return RateLimit(provider.id, provider.rpm, provider.tpm, tokens_in + candidate.max_output_tokens, now_s)

    async def _tries(
        self, record: CallRecord, candidate: Candidate, stream: bool, rate: RateLimit | None, first_choice: bool
    ) -> AsyncGenerator[str | Completion, None]:
        """The tries at one provider, yielding what the answering try yields. A failure is tried
        again after a wait (`backoff`) when it is transient, no text went out yet and the breaker
        still allows calls. A failure after text went out is raised: the caller holds part of an
        answer, which no other try can continue. Any other failure gives the provider up."""
        provider = candidate.provider
        for number in range(1, self.settings.attempts_per_provider + 1):
            sent = False
            try:
                async with aclosing(self._attempt(record, candidate, stream, rate, first_choice)) as items:
                    async for item in items:
                        sent = sent or isinstance(item, str)
                        yield item
                return
            except (
                BudgetExceeded,
                RateLimited,
                CircuitOpen,
            ) as exc:  # turned away before the call: no use trying again
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
        self, record: CallRecord, candidate: Candidate, stream: bool, rate: RateLimit | None, first_choice: bool
    ) -> AsyncGenerator[str | Completion, None]:
        """One try: reserve the worst case, call (text deltas go out as they come), then settle or
        release and book the ledger row; yields the deltas, then the Completion."""
        reservation = await self._reserve(record, candidate, rate)
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

    async def _reserve(self, record: CallRecord, candidate: Candidate, rate: RateLimit | None) -> Reservation:
        """Claim the breaker (before any await, so two calls cannot both take the half-open
        probe), then reserve the attempt's worst-case cost and count it in its provider's rate
        window, in one transaction; a refusal (budget or rate limit) is booked and raised."""
        provider = candidate.provider
        breaker = self.breakers[provider.id]
        if not breaker.allows():
            raise CircuitOpen(f"circuit breaker is {breaker.state}")
        breaker.begin()
        if candidate.worst_case_cost == 0 and rate is None:
            return Reservation("", 0.0, ())  # a free call needs no budget, even an overspent one
        budgets = record.budgets if candidate.worst_case_cost else ()  # free: counted against its limits only
        # Booked as this attempt, "expired", should the router die before it settles or releases.
        expiring = record.ledger_row(provider, "expired", "LeaseExpired", starting=True)
        try:
            return await self.accounting.reserve(
                budgets, candidate.worst_case_cost, record.request.request_id, attempt=expiring, rate=rate
            )
        except (BudgetExceeded, RateLimited) as exc:
            breaker.abandoned()
            klass = type(exc).__name__
            record.attempted(provider, "refused", klass, str(exc))
            if isinstance(exc, RateLimited):
                record.retry_after(exc.retry_after_s)
            await self.accounting.book(record.ledger_row(provider, "refused", klass))
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
        if reservation.scopes and cost > reservation.amount:  # booked as an overrun by settle; said here too
            log.warning(
                "%s attempt %d at %s cost $%.6f, $%.6f more than its reservation (%d tokens in, %d out)",
                record.request.request_id, len(record.attempts), provider.id, cost, cost - reservation.amount,
                completion.tokens_in, completion.tokens_out,
            )  # fmt: skip
        try:
            await asyncio.shield(self.accounting.settle(reservation, cost, row))
        except Exception:  # the answer is here: a database hiccup must not send the call elsewhere
            # (the hold is no longer renewed: it expires within the lease and is booked as expired)
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
