"""The routing engine with injected failures: retries, Retry-After, fallback, circuit breakers,
confidential fail-closed, budget under concurrency and cancellation, ledger rows, deadlines,
streaming.

Providers are fake cloud models ("openai/fake-a", ...) whose calls go through litellm's own
`acompletion` with `mock_response=`: a string is a success (usage 10 in, 20 out), an exception
instance is raised as that provider's error. `FakeLLM` scripts what each model does next and
counts every call, so "the provider was never touched" is checkable.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402
import litellm  # noqa: E402
import pytest  # noqa: E402

from router.accounting import Budget, LedgerRow  # noqa: E402
from router.accounting_sqlite import SQLiteAccounting  # noqa: E402
from router.breaker import Breakers  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import parse_policy  # noqa: E402
from router.registry import parse_providers  # noqa: E402
from router.requests import AllFailed, CallRequest, Refused, Reply, RetrySettings, as_messages  # noqa: E402

litellm.suppress_debug_info = True

KEYS = {"FAKE_KEY": "sk-test"}
CHEAPEST_FIRST = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")
FAST = RetrySettings(
    attempts_per_provider=3, backoff_initial_s=0.01, backoff_max_s=0.05, attempt_timeout_s=2.0, call_timeout_s=10.0
)
MOCK_IN, MOCK_OUT = 10, 20  # the usage litellm reports for a mock_response string


def cloud(model: str, cost_in: float = 0.001, cost_out: float = 0.002, **extra: Any) -> dict[str, Any]:
    return {
        "name": "fake", "model": model, "litellm_model": f"openai/fake-{model}", "cost_in": cost_in,
        "cost_out": cost_out, "max_context": 8000, "latency_ms": 100, "endpoint_env": "FAKE_KEY", **extra,
    }  # fmt: skip


def local(model: str = "tiny") -> dict[str, Any]:
    return {
        "name": "local", "model": model, "litellm_model": f"openai/fake-{model}", "api_base": "http://127.0.0.1:9/v1",
        "cost_in": 0, "cost_out": 0, "max_context": 8000, "latency_ms": 50, "capabilities": ["chat", "local"],
    }  # fmt: skip


A, B = cloud("a"), cloud("b", 0.002, 0.004)  # a is cheaper, so ranked first


def err(kind: type[Exception], model: str = "a", **extra: Any) -> Exception:
    return kind(f"injected {kind.__name__}", llm_provider="openai", model=f"fake-{model}", **extra)


def rate_limited(retry_after: str = "", header: str = "retry-after") -> Exception:
    headers = {header: retry_after} if retry_after else {}
    response = httpx.Response(429, headers=headers, request=httpx.Request("POST", "https://fake.invalid/v1"))
    return err(litellm.RateLimitError, response=response)


def hang(seconds: float = 30.0, until: asyncio.Event | None = None) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    """An outcome that waits (for the event, or that long) and then succeeds."""

    async def outcome(kwargs: dict[str, Any]) -> Any:
        if until is not None:
            await until.wait()
        else:
            await asyncio.sleep(seconds)
        return await litellm.acompletion(mock_response="late", **kwargs)

    return outcome


def broken_stream(text: str, exc: Exception) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    """An outcome whose stream sends its first chunk and then fails."""

    async def outcome(kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        stream = await litellm.acompletion(mock_response=text, **kwargs)

        async def chunks() -> AsyncIterator[Any]:
            async for chunk in stream:
                yield chunk
                raise exc

        return chunks()

    return outcome


Outcome = str | BaseException | Callable[[dict[str, Any]], Awaitable[Any]]


class FakeLLM:
    """Stands in for litellm.acompletion. Each model answers from its script, then "ok"."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Outcome]] = defaultdict(list)
        self.calls: list[str] = []
        self.times: list[float] = []

    def script(self, model: str, *outcomes: Outcome) -> None:
        self.scripts[model].extend(outcomes)

    def count(self, model: str) -> int:
        return self.calls.count(model)

    async def __call__(self, **kwargs: Any) -> Any:
        model = kwargs["model"].removeprefix("openai/fake-")
        self.calls.append(model)
        self.times.append(time.monotonic())
        outcome = self.scripts[model].pop(0) if self.scripts[model] else "ok"
        if callable(outcome):
            return await outcome(kwargs)
        return await litellm.acompletion(mock_response=outcome, **kwargs)


@pytest.fixture
async def accounting(tmp_path: Path) -> AsyncIterator[SQLiteAccounting]:
    acc = await SQLiteAccounting.open(tmp_path / "a.db")
    yield acc
    await acc.close()


@pytest.fixture
def fake() -> FakeLLM:
    return FakeLLM()


MakeRouter = Callable[..., Router]


@pytest.fixture
def make_router(accounting: SQLiteAccounting, fake: FakeLLM) -> MakeRouter:
    """make_router(*provider entries, budgets=, retry=, breakers=, complete=) -> a Router calling
    `fake` (or `complete`); with no entries, providers A and B."""

    def make(
        *entries: dict[str, Any],
        budgets: tuple[Budget, ...] = (),
        retry: RetrySettings = FAST,
        breakers: Breakers | None = None,
        complete: Callable[..., Awaitable[Any]] | None = None,
    ) -> Router:
        providers = parse_providers(list(entries or (A, B)), "test")
        caller = ProviderCaller(env=KEYS, complete=complete or fake)
        return Router(providers, CHEAPEST_FIRST, accounting, budgets, caller, breakers, retry, env=KEYS)

    return make


def ask(**fields: Any) -> CallRequest:
    return CallRequest(messages=[{"role": "user", "content": "hi"}], **fields)


async def ledger(accounting: SQLiteAccounting, request_id: str) -> list[LedgerRow]:
    rows = (await accounting.usage(limit=10_000)).rows
    return sorted((r for r in rows if r.request_id == request_id), key=lambda r: r.attempt)


def summary(rows: list[LedgerRow]) -> list[tuple[int, str, str, str]]:
    return [(r.attempt, r.model, r.status, r.error_class) for r in rows]


def price(entry: dict[str, Any], tokens_in: int = MOCK_IN, tokens_out: int = MOCK_OUT) -> float:
    return (tokens_in * entry["cost_in"] + tokens_out * entry["cost_out"]) / 1000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- retries per error class ---


TRANSIENT = [litellm.RateLimitError, litellm.InternalServerError, litellm.ServiceUnavailableError, litellm.Timeout]
PERMANENT = [
    litellm.BadRequestError,
    litellm.AuthenticationError,
    litellm.ContentPolicyViolationError,
    litellm.NotFoundError,
]


@pytest.mark.parametrize("kind", TRANSIENT, ids=lambda kind: kind.__name__)
async def test_transient_errors_are_retried_at_the_same_provider(make_router, fake, accounting, kind):
    fake.script("a", err(kind))
    reply = await make_router().invoke(ask())

    assert reply.provider.model == "a" and reply.completion.text == "ok"
    assert fake.calls == ["a", "a"]
    rows = await ledger(accounting, reply.request_id)
    assert summary(rows) == [(1, "a", "error", kind.__name__), (2, "a", "ok", "")]
    assert [r.cost for r in rows] == [0, pytest.approx(price(A))]


@pytest.mark.parametrize("kind", PERMANENT, ids=lambda kind: kind.__name__)
async def test_client_errors_are_not_retried_and_fall_back(make_router, fake, accounting, kind):
    fake.script("a", err(kind))
    reply = await make_router().invoke(ask())

    assert reply.provider.model == "b"
    assert fake.calls == ["a", "b"]
    rows = await ledger(accounting, reply.request_id)
    assert summary(rows) == [(1, "a", "error", kind.__name__), (2, "b", "fallback", "")]
    assert [r.cost for r in rows] == [0, pytest.approx(price(B))]


async def test_a_provider_that_keeps_failing_gets_attempts_per_provider_tries(make_router, fake):
    fake.script("a", *(err(litellm.InternalServerError) for _ in range(5)))
    reply = await make_router().invoke(ask())
    assert fake.calls == ["a", "a", "a", "b"] and reply.provider.model == "b"


# --- Retry-After ---


@pytest.mark.parametrize(
    "header, value, low, high",
    [
        ("retry-after", "0.3", 0.3, 0.45),
        ("retry-after-ms", "300", 0.3, 0.45),
        ("retry-after", "30", 0.5, 0.65),  # capped at backoff_max_s
    ],
)
async def test_retry_after_sets_the_wait_capped_at_backoff_max(make_router, fake, header, value, low, high):
    retry = RetrySettings(backoff_initial_s=0.01, backoff_max_s=0.5)
    fake.script("a", rate_limited(value, header))
    await make_router(retry=retry).invoke(ask())

    assert fake.calls == ["a", "a"]
    assert low <= fake.times[1] - fake.times[0] < high


async def test_without_retry_after_the_wait_is_the_short_backoff(make_router, fake):
    fake.script("a", rate_limited())
    await make_router().invoke(ask())
    assert fake.times[1] - fake.times[0] < 0.1


# --- fallback and the ledger ---


async def test_fallback_answers_and_every_attempt_is_listed_in_order(make_router, fake, accounting):
    fake.script("a", *(err(litellm.InternalServerError) for _ in range(3)))
    reply = await make_router().invoke(ask())

    assert reply.provider.model == "b" and reply.decision.chosen.provider.model == "a"
    assert [(a.number, a.provider.model, a.status, a.error_class) for a in reply.attempts] == [
        (1, "a", "error", "InternalServerError"),
        (2, "a", "error", "InternalServerError"),
        (3, "a", "error", "InternalServerError"),
        (4, "b", "fallback", ""),
    ]
    assert summary(await ledger(accounting, reply.request_id)) == [
        (a.number, a.provider.model, a.status, a.error_class) for a in reply.attempts
    ]
    assert reply.cost == pytest.approx(price(B))


async def test_ledger_rows_carry_the_request_tokens_and_billed_cost(make_router, fake, accounting):
    fake.script("a", err(litellm.InternalServerError))
    request = ask(request_id="req-1", agent_name="eliza", task_id="t1", user_id="u1")
    await make_router().invoke(request)

    failed, ok = await ledger(accounting, "req-1")
    for row in (failed, ok):
        assert (row.request_id, row.agent_name, row.task_id, row.user_id) == ("req-1", "eliza", "t1", "u1")
        assert (row.provider, row.model) == ("fake", "a")
    assert (failed.attempt, failed.status, failed.tokens_in, failed.tokens_out, failed.cost) == (1, "error", 0, 0, 0)
    assert (ok.attempt, ok.status, ok.tokens_in, ok.tokens_out) == (2, "ok", MOCK_IN, MOCK_OUT)
    assert ok.cost == pytest.approx(price(A))


async def test_all_providers_failing_raises_all_failed_naming_each(make_router, fake):
    fake.script("a", err(litellm.AuthenticationError))
    fake.script("b", err(litellm.BadRequestError, "b"))
    with pytest.raises(AllFailed, match=r"fake:a: AuthenticationError.*fake:b: BadRequestError"):
        await make_router().invoke(ask())


# --- circuit breakers ---


async def test_an_open_breaker_keeps_calls_off_the_provider_and_the_answer_fast(make_router, fake):
    clock = Clock()  # stands still: the 30 s cooldown cannot run out during the test, however slow the box
    router = make_router(breakers=Breakers(failure_threshold=3, cooldown_s=30, clock=clock))
    fake.script("a", *(err(litellm.InternalServerError) for _ in range(3)))
    await router.invoke(ask())
    assert router.breakers["fake:a"].state == "open"

    calls_before = len(fake.calls)
    reply = await router.invoke(ask())
    # Fast: a is never tried, so there is no retry and no backoff to wait out; b, the choice, answers at once.
    assert fake.calls[calls_before:] == ["b"]
    assert [(a.number, a.provider.model, a.status) for a in reply.attempts] == [(1, "b", "ok")]
    assert reply.provider.model == "b"
    dropped = {c.provider.model: c.reason for c in reply.decision.candidates if not c.kept}
    assert dropped == {"a": "circuit breaker is open"}


async def test_retries_stop_as_soon_as_the_breaker_opens(make_router, fake):
    router = make_router(breakers=Breakers(failure_threshold=2))
    fake.script("a", *(err(litellm.InternalServerError) for _ in range(3)))
    reply = await router.invoke(ask())
    assert fake.calls == ["a", "a", "b"] and reply.provider.model == "b"


async def test_after_cooldown_one_probe_goes_through_then_closes_or_reopens(make_router, fake):
    clock = Clock()
    router = make_router(breakers=Breakers(failure_threshold=3, cooldown_s=30, clock=clock))
    fake.script("a", *(err(litellm.InternalServerError) for _ in range(4)))
    await router.invoke(ask())  # three failures: open
    await router.invoke(ask())
    assert fake.count("a") == 3

    clock.now += 30  # half-open: the probe fails, and is not retried
    reply = await router.invoke(ask())
    assert fake.count("a") == 4 and reply.provider.model == "b"
    assert router.breakers["fake:a"].state == "open"
    await router.invoke(ask())
    assert fake.count("a") == 4

    clock.now += 30  # half-open: the probe succeeds and closes it
    reply = await router.invoke(ask())
    assert reply.provider.model == "a" and router.breakers["fake:a"].state == "closed"
    await router.invoke(ask())
    assert fake.count("a") == 6


async def test_concurrent_calls_in_half_open_send_a_single_probe(make_router, fake):
    clock = Clock()
    budget = Budget("global", "total", 1.0)  # reserving awaits the database: calls interleave there
    router = make_router(budgets=(budget,), breakers=Breakers(failure_threshold=1, cooldown_s=30, clock=clock))
    fake.script("a", err(litellm.InternalServerError))
    await router.invoke(ask())
    clock.now += 30
    release = asyncio.Event()
    fake.script("a", hang(until=release))

    calls = [asyncio.create_task(router.invoke(ask())) for _ in range(5)]
    try:
        async with asyncio.timeout(2):
            while fake.count("b") < 5:  # the first call's fallback, then four while the probe hangs
                await asyncio.sleep(0.01)
    finally:
        release.set()
    replies = await asyncio.gather(*calls)

    assert fake.count("a") == 2
    assert sorted(r.provider.model for r in replies) == ["a", "b", "b", "b", "b"]


async def test_a_cancelled_probe_does_not_block_the_provider_for_good(make_router, fake, accounting):
    clock = Clock()
    router = make_router(breakers=Breakers(failure_threshold=1, cooldown_s=30, clock=clock))
    fake.script("a", err(litellm.InternalServerError))
    await router.invoke(ask())
    clock.now += 30
    fake.script("a", hang())

    probe = asyncio.create_task(router.invoke(ask()))
    while fake.count("a") < 2:
        await asyncio.sleep(0.01)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    reply = await router.invoke(ask())
    assert reply.provider.model == "a" and router.breakers["fake:a"].state == "closed"


async def test_breakers_opening_after_the_decision_is_not_a_budget_refusal(make_router, fake):
    router = make_router(A, breakers=Breakers(failure_threshold=1))
    decision = await router.route(ask())
    router.breakers["fake:a"].failed()  # another call opened it meanwhile

    async def stale(request: CallRequest) -> Any:
        return decision

    router.route = stale  # type: ignore[method-assign]
    with pytest.raises(Exception) as raised:
        await router.invoke(ask())
    assert not (isinstance(raised.value, Refused) and raised.value.budget)
    assert "circuit breaker is open" in str(raised.value) and fake.calls == []


# --- confidential calls ---


async def test_confidential_with_only_cloud_providers_is_refused_without_a_call(make_router, fake, accounting):
    with pytest.raises(Refused, match="no local provider can take this call") as refused:
        await make_router().invoke(ask(confidential=True, request_id="secret-1"))

    assert not refused.value.budget and fake.calls == []
    assert summary(await ledger(accounting, "secret-1")) == [(1, "a", "refused", "NoProvider")]


async def test_confidential_goes_to_the_local_provider_only(make_router, fake):
    reply = await make_router(A, B, local()).invoke(ask(confidential=True))
    assert reply.provider.model == "tiny" and fake.calls == ["tiny"]


async def test_confidential_never_falls_back_to_cloud_when_local_fails(make_router, fake, accounting):
    fake.script("tiny", *(err(litellm.InternalServerError, "tiny") for _ in range(3)))
    with pytest.raises(AllFailed):
        await make_router(A, B, local()).invoke(ask(confidential=True, request_id="secret-2"))

    assert fake.calls == ["tiny", "tiny", "tiny"]
    assert {r.model for r in await ledger(accounting, "secret-2")} == {"tiny"}


# --- budget ---


async def test_concurrent_calls_never_overspend_and_leak_no_reservations(make_router, accounting):
    """500 calls at $0.02 worst case each against $1.00: every 7th fails at the provider, every
    11th hangs until it is cancelled. Spend stays within the limit and nothing stays held."""
    budget = Budget("global", "total", 1.00)
    entered: set[int] = set()

    async def complete(**kwargs: Any) -> Any:
        number = int(kwargs["messages"][0]["content"])
        entered.add(number)
        if number % 7 == 0:
            raise err(litellm.InternalServerError, "c")
        if number % 11 == 0:
            await asyncio.sleep(30)
        return await litellm.acompletion(mock_response="ok", **kwargs)

    retry = RetrySettings(attempts_per_provider=1)
    router = make_router(cloud("c", 0, 1.0), budgets=(budget,), retry=retry, complete=complete)
    request = lambda n: CallRequest(messages=[{"role": "user", "content": str(n)}], max_output_tokens=MOCK_OUT)  # noqa: E731
    tasks = {n: asyncio.create_task(router.invoke(request(n))) for n in range(1, 501)}
    hanging = {n: t for n, t in tasks.items() if n % 11 == 0 and n % 7 != 0}
    await asyncio.wait([t for n, t in tasks.items() if n not in hanging])
    for task in hanging.values():
        task.cancel()
    results = await asyncio.gather(*tasks.values(), return_exceptions=True)

    ok = [r for r in results if isinstance(r, Reply)]
    refused = [r for r in results if isinstance(r, Refused)]
    failed = [r for r in results if isinstance(r, AllFailed)]
    cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
    assert len(ok) + len(refused) + len(failed) + len(cancelled) == 500
    assert refused and all(r.budget for r in refused)
    assert failed and len(cancelled) == len(entered & set(hanging)) > 0  # cancelled while mid-call
    [status] = await accounting.status([budget])
    assert status.reserved == 0
    assert ok and status.spent == pytest.approx(0.02 * len(ok)) and status.spent <= budget.limit


async def test_a_free_provider_still_answers_when_the_budget_is_overspent(make_router, fake, accounting):
    budget = Budget("global", "total", 0.01)
    held = await accounting.reserve([budget], 0.01, "earlier")
    await accounting.settle(held, 0.02)  # money spent is booked, even above the hold

    reply = await make_router(A, cloud("free", 0, 0), budgets=(budget,)).invoke(ask())
    assert reply.provider.model == "free" and reply.cost == 0 and fake.calls == ["free"]
    [status] = await accounting.status([budget])
    assert (status.spent, status.reserved) == (pytest.approx(0.02), 0)


async def test_a_priced_provider_is_refused_with_budget_set(make_router, fake, accounting):
    budget = Budget("global", "total", 0.00001)
    with pytest.raises(Refused, match="left in budget global") as refused:
        await make_router(budgets=(budget,)).invoke(ask())
    assert refused.value.budget and fake.calls == []


async def test_a_zero_limit_budget_has_nothing_left(make_router, fake, accounting):
    """A $0 budget allows no spend: the decision counts it 0% left (so the low-budget rule
    matches) and $0 left (so priced providers are dropped), as its status does; a call still
    goes to a free provider. With no budget at all nothing binds: 100% left."""
    rules = [{"name": "low-budget", "when": {"budget_left_below": 0.05}}, {"name": "default", "when": {}}]
    frugal = Budget("agent:frugal", "daily", 0.0)
    router = make_router(A, cloud("free", 0, 0), budgets=(frugal,))
    router.policy = parse_policy(rules, "test")

    [status] = await accounting.status([frugal])
    assert (status.limit, status.left, status.left_fraction) == (0.0, 0.0, 0.0)
    decision = await router.decide(ask(agent_name="frugal"))
    assert (decision.rule, decision.request.budget_left, decision.request.budget_left_usd) == ("low-budget", 0.0, 0.0)
    assert [c.provider.model for c in decision.ranked] == ["free"]
    assert (await router.invoke(ask(agent_name="frugal"))).provider.model == "free"

    unbudgeted = await router.decide(ask(agent_name="someone-else"))
    assert (unbudgeted.rule, unbudgeted.request.budget_left) == ("default", 1.0)


# --- deadlines ---


async def test_a_hanging_provider_times_out_per_attempt_and_falls_back(make_router, fake, accounting):
    retry = RetrySettings(attempts_per_provider=1, backoff_initial_s=0.01, attempt_timeout_s=0.1)
    fake.script("a", hang())
    started = time.monotonic()
    reply = await make_router(retry=retry).invoke(ask())

    assert reply.provider.model == "b" and time.monotonic() - started < 1.0
    assert summary(await ledger(accounting, reply.request_id)) == [
        (1, "a", "error", "Timeout"),
        (2, "b", "fallback", ""),
    ]


async def test_the_call_timeout_bounds_the_whole_call(make_router, fake, accounting):
    budget = Budget("global", "total", 1.0)
    fake.script("a", hang())
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await make_router(budgets=(budget,)).invoke(ask(timeout_s=0.2, request_id="slow"))

    assert 0.2 <= time.monotonic() - started < 1.0 and fake.calls == ["a"]  # the provider hangs for ever
    assert summary(await ledger(accounting, "slow")) == [(1, "a", "error", "Cancelled")]
    [status] = await accounting.status([budget])
    assert (status.spent, status.reserved) == (0, 0)


# --- streaming ---


async def collect(router: Router, request: CallRequest) -> tuple[list[str], Reply | None]:
    deltas: list[str] = []
    async for item in router.invoke_stream(request):
        if isinstance(item, Reply):
            return deltas, item
        deltas.append(item)
    return deltas, None


async def test_streaming_yields_deltas_then_the_reply(make_router, fake, accounting):
    fake.script("a", "hello there friend")
    deltas, reply = await collect(make_router(), ask())

    assert len(deltas) > 1 and "".join(deltas) == "hello there friend"
    assert reply is not None and reply.completion.text == "hello there friend" and reply.provider.model == "a"
    [row] = await ledger(accounting, reply.request_id)
    assert (row.status, row.tokens_out) == ("ok", reply.completion.tokens_out) and row.cost == pytest.approx(reply.cost)


async def test_a_confidential_stream_with_no_local_provider_is_refused_and_booked(make_router, fake, accounting):
    with pytest.raises(Refused, match="no local provider"):
        await collect(make_router(), ask(confidential=True, request_id="secret-3"))
    assert fake.calls == [] and summary(await ledger(accounting, "secret-3")) == [(1, "a", "refused", "NoProvider")]


async def test_streaming_retries_and_falls_back_before_the_first_delta(make_router, fake, accounting):
    fake.script("a", rate_limited("0.1"), err(litellm.BadRequestError))
    fake.script("b", "from b")
    deltas, reply = await collect(make_router(retry=RetrySettings(backoff_max_s=0.5)), ask())

    assert "".join(deltas) == "from b" and reply is not None and reply.provider.model == "b"
    assert fake.calls == ["a", "a", "b"] and fake.times[1] - fake.times[0] >= 0.1  # Retry-After honoured
    assert summary(await ledger(accounting, reply.request_id)) == [
        (1, "a", "error", "RateLimitError"),
        (2, "a", "error", "BadRequestError"),
        (3, "b", "fallback", ""),
    ]


async def test_a_stream_failing_after_a_delta_ends_with_the_error(make_router, fake, accounting):
    budget = Budget("global", "total", 1.0)
    fake.script("a", broken_stream("hello there friend", err(litellm.InternalServerError)))
    deltas: list[str] = []
    with pytest.raises(litellm.InternalServerError):
        async for item in make_router(budgets=(budget,)).invoke_stream(ask(request_id="cut")):
            deltas.append(item)  # type: ignore[arg-type]

    assert deltas == ["hel"] and fake.calls == ["a"]
    assert summary(await ledger(accounting, "cut")) == [(1, "a", "error", "InternalServerError")]
    [status] = await accounting.status([budget])
    assert (status.spent, status.reserved) == (0, 0)


async def test_a_callers_bad_request_does_not_open_the_providers_breaker(make_router, fake):
    router = make_router(breakers=Breakers(failure_threshold=1, cooldown_s=30))
    fake.script("a", err(litellm.BadRequestError))
    await router.invoke(ask())
    assert router.breakers["fake:a"].failures == 0 and router.breakers["fake:a"].state == "closed"


async def test_a_stream_turned_away_by_the_budget_at_reservation_is_refused_for_budget(make_router, accounting):
    budget = Budget("global", "total", 0.01)
    router = make_router(budgets=(budget,))
    await router.decide(ask())  # the router decides on this (briefly cached) picture: the budget is free
    await accounting.reserve([budget], 0.01, "someone-else")  # ... then another router takes all of it
    with pytest.raises(Refused) as refused:
        await collect(router, ask(request_id="late"))
    assert refused.value.budget
    assert [r.status for r in await ledger(accounting, "late")] == ["refused", "refused"]


async def test_an_image_description_goes_to_a_vision_provider_with_the_image(make_router):
    seen: list[Any] = []

    async def complete(**kwargs: Any) -> Any:
        seen.append((kwargs["model"], kwargs["messages"]))
        return await litellm.acompletion(mock_response="a cat on a mat", **kwargs)

    router = make_router(A, cloud("eyes", capabilities=["chat", "vision"]), complete=complete)
    request = ask(model_type="IMAGE_DESCRIPTION")
    request.messages = as_messages(
        "", [{"role": "user", "content": "What is this?", "image_urls": ["https://x/cat.png"]}]
    )
    reply = await router.invoke(request)
    assert reply.provider.model == "eyes" and reply.completion.text == "a cat on a mat"
    assert seen == [("openai/fake-eyes", [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
    ]}])]  # fmt: skip


async def test_a_transcription_goes_to_an_audio_provider_with_the_audio(accounting):
    heard: list[Any] = []

    async def transcribe(**kwargs: Any) -> Any:
        heard.append((kwargs["model"], kwargs["file"]))
        return litellm.TranscriptionResponse(text="hello there")

    providers = parse_providers([A, cloud("ears", capabilities=["audio"])], "test")
    caller = ProviderCaller(env=KEYS, complete=FakeLLM(), transcribe=transcribe)
    router = Router(providers, CHEAPEST_FIRST, accounting, (), caller, None, FAST, env=KEYS)
    reply = await router.invoke(ask(model_type="TRANSCRIPTION", audio=b"RIFF....", audio_format="wav", request_id="t"))
    assert reply.provider.model == "ears" and reply.completion.text == "hello there"
    assert heard == [("openai/fake-ears", ("audio.wav", b"RIFF...."))]
    assert [(r.model, r.status, r.tokens_out) for r in await ledger(accounting, "t")] == [("ears", "ok", 2)]
