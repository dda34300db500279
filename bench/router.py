"""Benchmark: the LLM router against litellm's own `litellm.Router`, on the same mock providers.

Measures, in one process on one machine (so the comparisons hold up on a noisy box):

1. decision time at N = 1, 10, 100, 1,000 providers: `Router.route(CallRequest)` (what invoke
   decides by: estimates the input tokens, reads the budget from the SQLite accounting, then ranks
   the head of the list with the ProviderIndex), `Router.decide(CallRequest)` (the same with the
   full, traced decision that Explain shows), `Policy.decide(providers, RouteRequest)` and
   `ProviderIndex.decide(policy, RouteRequest)` alone (the pure decisions), and litellm's
   `Router.async_get_available_deployment` for N deployments of one model group, with the
   strategies "simple-shuffle", "cost-based-routing" and "latency-based-routing"; the sides are
   interleaved in rounds, rotating which goes first; Router.decide with an in-memory accounting
   is timed beside them, to show what the budget read from SQLite costs;
2. end-to-end overhead: `Router.invoke()` on a provider whose calls are litellm's
   `acompletion(mock_response="ok")`, against that same bare `acompletion` call (same kwargs:
   the floor), with SQLite accounting and with an in-memory accounting (the difference is what
   the four SQLite transactions cost), and litellm's `Router.acompletion` beside them;
   interleaved rounds, rotating which side goes first;
3. time to an answer when the primary is down (it raises litellm.InternalServerError): the
   first call (retries, then the fallback) with the default RetrySettings and with
   attempts_per_provider=1, then calls once the primary's breaker is open; litellm's Router with
   the same two deployments as `fallbacks=` and its default num_retries (and with num_retries=0);
4. overspend under concurrency: 500 concurrent invoke() calls against a budget that exactly
   100 of them fit (worst case = actual cost), the mock provider taking 20 ms;
5. the real local model (SmolLM2-135M, llama.cpp) through Router.invoke: tokens per second for
   a 64-token completion (median of 3), first-token latency through invoke_stream, and the same
   generation straight from LocalModel.generate.

Prints a table, then as its last line one JSON object with the figures.

    .venv/bin/python bench/router.py            # full run, a few minutes
    .venv/bin/python bench/router.py --quick    # smoke run, under a minute
    .venv/bin/python bench/router.py --only decisions   # section 1 alone
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.metadata
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map download at import
# This file is bench/router.py: with its folder first on sys.path, `import router` would find it.
_HERE = Path(__file__).resolve().parent
from common import percentile, run_and_report  # noqa: E402  (while this folder is still on sys.path)

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import litellm  # noqa: E402

from router.accounting import Budget, BudgetStatus, LedgerRow, RateLimit, Reservation, Usage, open_accounting  # noqa: E402
from router.accounting_base import (  # noqa: E402
    budget_keys,
    budget_status,
    check_amount,
    check_fits,
    check_row,
    to_nano,
)
from router.calls import ProviderCaller, estimate_tokens  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import RouteRequest, load_policy, parse_policy  # noqa: E402
from router.provider_index import ProviderIndex  # noqa: E402
from router.registry import Provider, load_providers, parse_providers  # noqa: E402
from router.requests import CallRequest, Refused, RetrySettings  # noqa: E402

litellm.suppress_debug_info = True
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    # Registering 1,000 deployments with custom prices logs one warning each otherwise.
    logging.getLogger(_name).setLevel(logging.ERROR)

MESSAGES = [{"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]
KEYS = {"FAKE_KEY": "sk-mock"}
MODEL_GROUP = "bench"
STRATEGIES = ("simple-shuffle", "cost-based-routing", "latency-based-routing")
PRIMARY_DOWN = "litellm.InternalServerError"  # litellm's mock raises this error for that string
MIN_SAMPLES = 20
TARGET_BREAKER_OPEN_MS = 100.0

Call = Callable[[], Awaitable[Any]]
# litellm.Router hooks itself (and its routing strategy's logger) into these global lists, and
# Router.discard() leaves the strategy's logger behind: every later litellm call would run it.
CALLBACK_LISTS = (
    "callbacks", "_async_success_callback", "success_callback", "_async_failure_callback",
    "failure_callback", "input_callback", "service_callback",
)  # fmt: skip


# -- helpers -----------------------------------------------------------------


def summary(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {"p50": round(percentile(ordered, 0.5), 1), "p99": round(percentile(ordered, 0.99), 1), "n": len(ordered)}


async def sample_async(call: Call, max_n: int, max_s: float, warmup: int) -> list[int]:
    """Latencies (ns) of `call()`, awaited in a row: up to max_n, stopping after max_s seconds
    once MIN_SAMPLES are in. Warm-up calls first (also capped by max_s / 4)."""
    clock = time.perf_counter_ns
    stop_warm = clock() + int(max_s * 0.25e9)
    for _ in range(warmup):
        await call()
        if clock() > stop_warm:
            break
    out: list[int] = []
    deadline = clock() + int(max_s * 1e9)
    while len(out) < max_n and (len(out) < MIN_SAMPLES or clock() < deadline):
        start = clock()
        await call()
        out.append(clock() - start)
    return out


async def drain_background() -> None:
    """Let tasks a side left behind finish outside the timed region (litellm's cost-based and
    latency-based selection spawn a logging task per call), so they are not billed to the next side."""
    pending = asyncio.all_tasks() - {asyncio.current_task()}
    if pending:
        await asyncio.wait(pending, timeout=0.2)


def sample_sync(call: Callable[[], Any], max_n: int, max_s: float, warmup: int) -> list[int]:
    clock = time.perf_counter_ns
    for _ in range(warmup):
        call()
    out: list[int] = []
    deadline = clock() + int(max_s * 1e9)
    while len(out) < max_n and (len(out) < MIN_SAMPLES or clock() < deadline):
        start = clock()
        call()
        out.append(clock() - start)
    return out


def litellm_callbacks() -> dict[str, list[Any]]:
    return {name: list(getattr(litellm, name)) for name in CALLBACK_LISTS}


def set_litellm_callbacks(saved: dict[str, list[Any]]) -> None:
    for name, value in saved.items():
        setattr(litellm, name, list(value))


def fake_provider(model: str, cost_in: float, cost_out: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": "fake", "model": model, "litellm_model": f"openai/fake-{model}", "cost_in": cost_in,
        "cost_out": cost_out, "max_context": 8000, "latency_ms": 100, "endpoint_env": "FAKE_KEY", **extra,
    }  # fmt: skip


def synthetic_registry(n: int) -> tuple[Provider, ...]:
    """N providers with distinct prices in a scrambled order; the cheapest is p0000."""
    order = list(range(n))
    random.Random(n).shuffle(order)
    return parse_providers(
        [fake_provider(f"p{i:04d}", 0.001 * (1 + i / n), 0.002 * (1 + i / n), latency_ms=100 + i % 17) for i in order],
        f"synthetic-{n}",
    )


def litellm_deployments(providers: Sequence[Provider]) -> list[dict[str, Any]]:
    """The same providers as one litellm model group, priced per token as litellm wants it."""
    return [
        {
            "model_name": MODEL_GROUP,
            "litellm_params": {
                "model": p.litellm_model,
                "api_key": KEYS["FAKE_KEY"],
                "input_cost_per_token": p.cost_in / 1000.0,
                "output_cost_per_token": p.cost_out / 1000.0,
                "mock_response": "ok",
            },
            "model_info": {"id": p.id},
        }
        for p in providers
    ]


async def mock_ok(**kwargs: Any) -> Any:
    """ProviderCaller's `complete`: litellm's own acompletion, answering "ok" (10 in, 20 out)."""
    return await litellm.acompletion(mock_response="ok", **kwargs)


class MemoryAccounting:
    """The Accounting protocol in memory, same semantics as the SQLite backend (integer nano-USD,
    all-or-nothing reserve), no I/O: the stub that shows what the database costs per call."""

    def __init__(self) -> None:
        self.spent: dict[tuple[str, str], int] = {}
        self.holds: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {}
        self.rows: list[LedgerRow] = []

    def _reserved(self, scope: tuple[str, str]) -> int:
        return sum(amount for amount, scopes in self.holds.values() if scope in scopes)

    async def reserve(
        self,
        budgets: Sequence[Budget],
        amount: float,
        request_id: str,
        now: datetime | None = None,
        attempt: LedgerRow | None = None,
        rate: RateLimit | None = None,
    ) -> Reservation:
        if rate is not None:
            raise NotImplementedError("the in-memory accounting keeps no rate windows (its providers have no limits)")
        check_amount(amount)
        keyed = budget_keys(budgets, now)
        nano = to_nano(amount)
        for budget, key in keyed:
            check_fits(budget, key, self.spent.get((budget.scope, key), 0), self._reserved((budget.scope, key)), nano)
        scopes = tuple(dict.fromkeys((b.scope, k) for b, k in keyed))
        reservation = Reservation(f"r{len(self.rows)}-{request_id}-{time.perf_counter_ns()}", amount, scopes)
        self.holds[reservation.id] = (nano, scopes)
        return reservation

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        if row is not None:
            await self.book(row)
        if self.holds.pop(reservation.id, None) is not None:
            for scope in reservation.scopes:
                self.spent[scope] = self.spent.get(scope, 0) + to_nano(actual_cost)

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        if row is not None:
            await self.book(row)
        self.holds.pop(reservation.id, None)

    async def status(self, budgets: Sequence[Budget], now: datetime | None = None) -> list[BudgetStatus]:
        return [
            budget_status(b, k, self.spent.get((b.scope, k), 0), self._reserved((b.scope, k)))
            for b, k in budget_keys(budgets, now)
        ]

    async def expire_reservations(self) -> int:
        return 0

    async def book(self, row: LedgerRow) -> None:
        check_row(row)
        self.rows.append(row)

    async def usage(self, *args: Any, **kwargs: Any) -> Usage:
        return Usage(self.rows[-100:], len(self.rows), 0, 0, sum(r.cost for r in self.rows))

    async def close(self) -> None:
        pass


# -- 1. decision time --------------------------------------------------------


async def bench_decisions(args: argparse.Namespace, db_dir: Path) -> dict[str, Any]:
    """Per N: every side warmed up, then `rounds` interleaved rounds, rotating which side goes first."""
    accounting = await open_accounting(f"sqlite://{db_dir / 'decide.db'}")
    policy = load_policy()
    budgets = (Budget("global", "monthly", 20.0),)
    memory = MemoryAccounting()
    names = ["route", "decide", "decide_memory", "policy", "index", *STRATEGIES]
    out: dict[str, Any] = {name: {} for name in names}
    out["litellm_build_ms"] = {s: {} for s in STRATEGIES}
    rounds = args.decide_rounds
    per_round = max(1, args.decide_samples // rounds)
    cap = args.decide_seconds / rounds
    try:
        for n in args.n:
            providers = synthetic_registry(n)
            on_sqlite = Router(providers, policy, accounting, budgets, ProviderCaller(env=KEYS))
            on_memory = Router(providers, policy, memory, budgets, ProviderCaller(env=KEYS))
            request = CallRequest(messages=MESSAGES)
            route = RouteRequest(input_tokens=estimate_tokens(MESSAGES), budget_left_usd=20.0)
            index = ProviderIndex(providers)
            chosen = (await on_sqlite.decide(request)).chosen
            assert chosen is not None and chosen.provider.model == "p0000", chosen
            fast = (await on_sqlite.route(request)).ranked
            assert fast == (await on_sqlite.decide(request)).ranked[: len(fast)] and fast[0] == chosen, fast
            sides: dict[str, Callable[[], Any]] = {
                "route": lambda: on_sqlite.route(request),
                "decide": lambda: on_sqlite.decide(request),
                "decide_memory": lambda: on_memory.decide(request),
                "policy": lambda: policy.decide(providers, route),  # synchronous
                "index": lambda: index.decide(policy, route),  # synchronous
            }
            clean = litellm_callbacks()
            lrouters = []
            for strategy in STRATEGIES:
                started = time.perf_counter()
                lrouter = litellm.Router(model_list=litellm_deployments(providers), routing_strategy=strategy)
                out["litellm_build_ms"][strategy][str(n)] = round((time.perf_counter() - started) * 1000)
                lrouters.append(lrouter)
                sides[strategy] = functools.partial(
                    lrouter.async_get_available_deployment, model=MODEL_GROUP, messages=MESSAGES, request_kwargs={}
                )
                picked = await sides[strategy]()
                if strategy == "cost-based-routing" and picked["model_info"]["id"] != chosen.provider.id:
                    raise RuntimeError(f"litellm picked {picked['model_info']['id']}, we picked {chosen.provider.id}")
            samples: dict[str, list[int]] = {name: [] for name in names}
            for r in range(-1, rounds):  # round -1: warm-up only
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    call = sides[name]
                    if name in ("policy", "index"):
                        got = sample_sync(call, per_round, cap, args.decide_warmup if r < 0 else 0)
                    else:
                        got = await sample_async(call, per_round, cap, args.decide_warmup if r < 0 else 0)
                    await drain_background()
                    if r >= 0:
                        samples[name] += got
            for name in names:
                out[name][str(n)] = summary(samples[name])
            for lrouter in lrouters:
                lrouter.discard()
            set_litellm_callbacks(clean)
            del lrouters, sides
            print(f"  decisions: N={n} done", file=sys.stderr, flush=True)
    finally:
        await accounting.close()
    return out


# -- 2. end-to-end overhead ------------------------------------------------------


async def bench_overhead(args: argparse.Namespace, db_dir: Path) -> dict[str, Any]:
    providers = parse_providers([fake_provider("a", 0.001, 0.002)], "overhead")
    provider = providers[0]
    policy = load_policy()
    budgets = (Budget("global", "monthly", 1_000_000.0),)
    # The same provider with rpm and tpm limits never reached: every try also counts in its window.
    limited = parse_providers([fake_provider("a", 0.001, 0.002, rpm=10**9, tpm=10**12)], "overhead")
    sqlite = await open_accounting(f"sqlite://{db_dir / 'overhead.db'}")
    memory = MemoryAccounting()
    try:
        on_sqlite = Router(providers, policy, sqlite, budgets, ProviderCaller(env=KEYS, complete=mock_ok))
        on_limits = Router(limited, policy, sqlite, budgets, ProviderCaller(env=KEYS, complete=mock_ok))
        on_memory = Router(providers, policy, memory, budgets, ProviderCaller(env=KEYS, complete=mock_ok))
        clean = litellm_callbacks()
        lrouter = litellm.Router(model_list=litellm_deployments(providers), routing_strategy="simple-shuffle")
        with_router = litellm_callbacks()
        set_litellm_callbacks(clean)  # its hooks are in place only while its side runs
        # The floor: the very call the router makes (ProviderCaller's kwargs), without the router.
        bare_kwargs = dict(
            model=provider.litellm_model, timeout=RetrySettings().attempt_timeout_s, num_retries=0,
            api_key=KEYS["FAKE_KEY"], messages=MESSAGES, max_tokens=provider.max_output_tokens, mock_response="ok",
        )  # fmt: skip

        async def bare() -> Any:
            return await litellm.acompletion(**bare_kwargs)

        async def invoke_sqlite() -> Any:
            return await on_sqlite.invoke(CallRequest(messages=MESSAGES))

        async def invoke_rate_limited() -> Any:
            return await on_limits.invoke(CallRequest(messages=MESSAGES))

        async def invoke_memory() -> Any:
            return await on_memory.invoke(CallRequest(messages=MESSAGES))

        async def litellm_router() -> Any:
            return await lrouter.acompletion(model=MODEL_GROUP, messages=MESSAGES)

        def hooks(name: str) -> None:
            set_litellm_callbacks(with_router if name == "litellm_router" else clean)

        reply = await invoke_sqlite()
        assert reply.completion.text == "ok" and reply.provider.id == provider.id, reply
        assert (await invoke_memory()).completion.text == "ok"
        hooks("litellm_router")
        assert (await litellm_router()).choices[0].message.content == "ok"
        sides: dict[str, Call] = {
            "bare": bare,
            "invoke_sqlite": invoke_sqlite,
            "invoke_rate_limited": invoke_rate_limited,
            "invoke_memory": invoke_memory,
            "litellm_router": litellm_router,
        }
        samples: dict[str, list[int]] = {name: [] for name in sides}
        for name, call in sides.items():
            hooks(name)
            for _ in range(args.warmup):
                await call()
        names = list(sides)
        clock = time.perf_counter_ns
        rounds = []
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            this_round: dict[str, list[int]] = {name: [] for name in names}
            for name in order:
                hooks(name)
                call, into = sides[name], this_round[name]
                for _ in range(args.calls):
                    start = clock()
                    await call()
                    into.append(clock() - start)
                samples[name] += into
                await drain_background()
            rounds.append({name: round(percentile(sorted(v), 0.5)) for name, v in this_round.items()})
        hooks("")
        lrouter.discard()
        set_litellm_callbacks(clean)

        # The accounting steps an invoke takes on SQLite, each alone (sequential, warm).
        steps: dict[str, list[int]] = {"status": [], "reserve": [], "settle": [], "book": [], "reserve_rate": []}
        rate = RateLimit(limited[0].id, 10**9, 10**12, 100)
        row = LedgerRow("bench", 1, 0, "", "", "", "fake", "a", 10, 20, 0.00005, 1, "ok")
        for i in range(args.steps + 20):
            t0 = clock()
            await sqlite.status(budgets)
            t1 = clock()
            held = await sqlite.reserve(budgets, 0.001, "bench")
            t2 = clock()
            await sqlite.settle(held, 0.0005)
            t3 = clock()
            await sqlite.book(row)
            t4 = clock()
            counted = await sqlite.reserve(budgets, 0.001, "bench", rate=rate)  # reserve + rate window
            t5 = clock()
            await sqlite.settle(counted, 0.0005)
            if i >= 20:
                for name, ns in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    steps[name].append(ns)
        return {
            "sides": {name: summary(v) for name, v in samples.items()},
            "rounds": rounds,
            "steps": {name: summary(v) for name, v in steps.items()},
        }
    finally:
        await sqlite.close()


# -- 3. fallback when the primary is down ------------------------------------------


async def primary_down(**kwargs: Any) -> Any:
    """The primary raises litellm.InternalServerError (through litellm's mock); the backup answers."""
    outcome = PRIMARY_DOWN if kwargs["model"] == "openai/fake-primary" else "ok"
    return await litellm.acompletion(mock_response=outcome, **kwargs)


async def bench_fallback(args: argparse.Namespace, db_dir: Path) -> dict[str, Any]:
    providers = parse_providers(
        [fake_provider("primary", 0.001, 0.002), fake_provider("backup", 0.002, 0.004)], "fallback"
    )
    policy = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "bench")  # primary first
    budgets = (Budget("global", "monthly", 1_000_000.0),)
    accounting = await open_accounting(f"sqlite://{db_dir / 'fallback.db'}")
    clock = time.perf_counter_ns
    out: dict[str, Any] = {}

    def fresh(retry: RetrySettings) -> Router:  # fresh breakers: the primary's is closed
        return Router(
            providers, policy, accounting, budgets, ProviderCaller(env=KEYS, complete=primary_down), retry=retry
        )

    async def first_call(retry: RetrySettings, runs: int) -> list[int]:
        times = []
        for _ in range(runs):
            router = fresh(retry)
            start = clock()
            reply = await router.invoke(CallRequest(messages=MESSAGES))
            times.append(clock() - start)
            assert reply.provider.model == "backup", reply.attempts
        return times

    try:
        default_retry = RetrySettings()
        first = await first_call(default_retry, args.fallback_runs)
        first_one = await first_call(RetrySettings(attempts_per_provider=1), args.fallback_runs_fast)
        # Once the breaker is open (after failure_threshold failures), calls go straight to the backup.
        router = fresh(default_retry)
        while router.breakers["fake:primary"].state != "open":
            opened = await router.invoke(CallRequest(messages=MESSAGES))
            assert opened.attempts[-1].status == "fallback", opened.attempts

        async def after_open() -> Any:
            reply = await router.invoke(CallRequest(messages=MESSAGES))
            assert reply.provider.model == "backup" and len(reply.attempts) == 1, reply.attempts
            return reply

        open_ns = await sample_async(after_open, args.breaker_samples, 10.0, 20)
        assert router.breakers["fake:primary"].state == "open"  # still inside the 30 s cooldown
        out.update(
            first_default_ms=[round(t / 1e6, 1) for t in first],
            first_one_attempt_ms=[round(t / 1e6, 1) for t in first_one],
            breaker_open=summary(open_ns),
            retry=dict(attempts=default_retry.attempts_per_provider, backoff_initial_s=default_retry.backoff_initial_s),
        )

        # litellm's Router: the same two deployments, the backup as the primary's fallback.
        clean = litellm_callbacks()

        def lrouter(**extra: Any) -> litellm.Router:
            return litellm.Router(
                model_list=[
                    {
                        "model_name": "primary",
                        "litellm_params": {
                            "model": "openai/fake-primary",
                            "api_key": "sk-mock",
                            "mock_response": PRIMARY_DOWN,
                        },
                    },  # noqa: E501
                    {
                        "model_name": "backup",
                        "litellm_params": {"model": "openai/fake-backup", "api_key": "sk-mock", "mock_response": "ok"},
                    },  # noqa: E501
                ],
                fallbacks=[{"primary": ["backup"]}],
                **extra,
            )

        async def litellm_calls(router: litellm.Router, runs: int) -> list[int]:
            times = []
            for _ in range(runs):
                start = clock()
                response = await router.acompletion(model="primary", messages=MESSAGES)
                times.append(clock() - start)
                assert response.choices[0].message.content == "ok"
            return times

        default_router = lrouter()
        out["litellm_num_retries"] = default_router.num_retries
        out["litellm_default_ms"] = [round(t / 1e6, 1) for t in await litellm_calls(default_router, args.litellm_runs)]
        set_litellm_callbacks(clean)
        no_retries_router = lrouter(num_retries=0)
        out["litellm_no_retries"] = summary(await litellm_calls(no_retries_router, args.fallback_runs_fast))
        default_router.discard()
        no_retries_router.discard()
        set_litellm_callbacks(clean)
    finally:
        await accounting.close()
    return out


# -- 4. overspend under concurrency ---------------------------------------------------


async def bench_budget(args: argparse.Namespace, db_dir: Path) -> dict[str, Any]:
    # cost_in 0 and max_output_tokens 20 = the mock's 20 output tokens: worst case = actual = $0.01.
    providers = parse_providers([fake_provider("metered", 0.0, 0.5)], "budget")
    per_call = providers[0].cost(0, args.fit_output_tokens)
    limit = round(per_call * args.fit, 9)
    budgets = (Budget("global", "total", limit),)
    accounting = await open_accounting(f"sqlite://{db_dir / 'budget.db'}")

    async def slow_ok(**kwargs: Any) -> Any:
        await asyncio.sleep(args.provider_latency_s)  # calls are in flight together, holding their reservations
        return await litellm.acompletion(mock_response="ok", **kwargs)

    router = Router(providers, load_policy(), accounting, budgets, ProviderCaller(env=KEYS, complete=slow_ok))
    outcomes = {"ok": 0, "refused": 0, "other": 0}
    other_errors: list[str] = []

    async def one(i: int) -> None:
        try:
            await router.invoke(CallRequest(messages=MESSAGES, max_output_tokens=args.fit_output_tokens))
            outcomes["ok"] += 1
        except Refused:
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            outcomes["other"] += 1
            other_errors.append(f"{type(exc).__name__}: {exc}"[:200])

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.concurrent)))
        wall = time.perf_counter() - started
        status = (await accounting.status(budgets))[0]
        usage = await accounting.usage(limit=1)
    finally:
        await accounting.close()
    return {
        "calls": args.concurrent,
        "limit_usd": limit,
        "per_call_usd": per_call,
        "fit": args.fit,
        "worst_case_total_usd": round(per_call * args.concurrent, 6),
        "spent_usd": status.spent,
        "reserved_after_usd": status.reserved,
        "ledger_cost_usd": usage.cost,
        "overspend_usd": round(max(0.0, status.spent - limit), 9),
        "ok": outcomes["ok"],
        "refused": outcomes["refused"],
        "other_errors": outcomes["other"],
        "first_other_error": other_errors[0] if other_errors else "",
        "wall_ms": round(wall * 1000, 1),
        "provider_latency_ms": round(args.provider_latency_s * 1000),
    }


# -- 5. the local model ------------------------------------------------------------------


async def bench_local(args: argparse.Namespace, db_dir: Path) -> dict[str, Any]:
    from router.local_model import DEFAULT_MODEL_NAME, GenerationRequest, LocalModel, default_model_path
    from router.local_provider import register_local_provider

    model = LocalModel(default_model_path(), name=DEFAULT_MODEL_NAME)
    register_local_provider(model=model)
    accounting = await open_accounting(f"sqlite://{db_dir / 'local.db'}")
    # The shipped registry and policy; no keys in the environment given, so only `local` is configured.
    router = Router(
        load_providers(),
        load_policy(),
        accounting,
        (Budget("global", "monthly", 20.0),),
        ProviderCaller(env={}),
        env={},
    )
    prompt = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]
    tokens = args.local_tokens

    def request() -> CallRequest:
        return CallRequest(messages=prompt, max_output_tokens=tokens, temperature=0.0)

    try:
        started = time.perf_counter()
        await model.load()
        load_ms = (time.perf_counter() - started) * 1000
        await router.invoke(request())  # warm-up (first generation)
        runs = []
        for _ in range(args.local_runs):
            started = time.perf_counter()
            reply = await router.invoke(request())
            seconds = time.perf_counter() - started
            assert reply.provider.name == "local", reply.provider
            runs.append((reply.completion.tokens_out / seconds, seconds, reply.completion.tokens_out))
        direct = []
        for _ in range(args.local_runs):
            started = time.perf_counter()
            generation = await model.generate(GenerationRequest(messages=prompt, max_tokens=tokens, temperature=0.0))
            seconds = time.perf_counter() - started
            direct.append(generation.usage.completion_tokens / seconds)
        first_token = []
        for _ in range(args.local_runs):
            started = time.perf_counter()
            first: float | None = None
            stream = router.invoke_stream(request())
            async for item in stream:
                if first is None and isinstance(item, str):
                    first = time.perf_counter() - started
            assert first is not None
            first_token.append(first * 1000)
    finally:
        await accounting.close()
        await model.aclose()
    return {
        "model": DEFAULT_MODEL_NAME,
        "load_ms": round(load_ms),
        "tokens_per_s": round(statistics.median(r[0] for r in runs), 1),
        "runs_tokens_per_s": [round(r[0], 1) for r in runs],
        "tokens_out": [r[2] for r in runs],
        "completion_ms": round(statistics.median(r[1] for r in runs) * 1000),
        "direct_tokens_per_s": round(statistics.median(direct), 1),
        "first_token_ms": round(statistics.median(first_token), 1),
        "runs_first_token_ms": [round(t, 1) for t in first_token],
    }


# -- the run ---------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-router-") as tmp:
        db_dir = Path(tmp)
        print("1/5 decision time ...", file=sys.stderr, flush=True)
        decisions = await bench_decisions(args, db_dir)
        if args.only == "decisions":
            return {**decision_figures(decisions), **run_facts(args, started, load_before)}
        print("2/5 end-to-end overhead ...", file=sys.stderr, flush=True)
        overhead = await bench_overhead(args, db_dir)
        print("3/5 fallback ...", file=sys.stderr, flush=True)
        fallback = await bench_fallback(args, db_dir)
        print("4/5 concurrent budget ...", file=sys.stderr, flush=True)
        budget = await bench_budget(args, db_dir)
        if args.skip_local:
            local: dict[str, Any] = {}
        else:
            print("5/5 local model ...", file=sys.stderr, flush=True)
            local = await bench_local(args, db_dir)
    sides = overhead["sides"]
    invoke_p50 = sides["invoke_sqlite"]["p50"]
    bare_p50 = sides["bare"]["p50"]
    memory_p50 = sides["invoke_memory"]["p50"]
    first_default = fallback["first_default_ms"]
    return {
        **decision_figures(decisions),
        "invoke_p50_us": invoke_p50,
        "invoke_p99_us": sides["invoke_sqlite"]["p99"],
        "bare_acompletion_p50_us": bare_p50,
        "bare_acompletion_p99_us": sides["bare"]["p99"],
        "overhead_us": round(invoke_p50 - bare_p50, 1),
        "overhead_ratio": round(invoke_p50 / bare_p50, 3),
        "invoke_memory_p50_us": memory_p50,
        "overhead_memory_us": round(memory_p50 - bare_p50, 1),
        "sqlite_share_us": round(invoke_p50 - memory_p50, 1),
        "litellm_router_p50_us": sides["litellm_router"]["p50"],
        "invoke_rate_limited_p50_us": sides["invoke_rate_limited"]["p50"],
        "rate_limits_us": round(sides["invoke_rate_limited"]["p50"] - invoke_p50, 1),
        "rate_limited_ratio": round(sides["invoke_rate_limited"]["p50"] / bare_p50, 3),
        "sqlite_steps_p50_us": {k: v["p50"] for k, v in overhead["steps"].items()},
        "overhead_rounds": overhead["rounds"],
        "overhead_samples": sides["bare"]["n"],
        "fallback_first_ms": round(statistics.median(first_default), 1),
        "fallback_first_runs_ms": first_default,
        "fallback_first_one_attempt_ms": round(statistics.median(fallback["first_one_attempt_ms"]), 2),
        "fallback_breaker_open_ms": round(fallback["breaker_open"]["p50"] / 1000, 2),
        "fallback_breaker_open_p99_ms": round(fallback["breaker_open"]["p99"] / 1000, 2),
        "fallback_breaker_open_target_ms": TARGET_BREAKER_OPEN_MS,
        "litellm_fallback_ms": round(statistics.median(fallback["litellm_default_ms"]), 1),
        "litellm_fallback_runs_ms": fallback["litellm_default_ms"],
        "litellm_num_retries": fallback["litellm_num_retries"],
        "litellm_fallback_no_retries_ms": round(fallback["litellm_no_retries"]["p50"] / 1000, 2),
        "overspend_usd": budget["overspend_usd"],
        "refused": budget["refused"],
        "budget": budget,
        "local_tokens_per_s": local.get("tokens_per_s"),
        "local_first_token_ms": local.get("first_token_ms"),
        "local": local,
        **run_facts(args, started, load_before),
    }


def decision_figures(decisions: dict[str, Any]) -> dict[str, Any]:
    return {
        "route_us": decisions["route"],
        "decide_us": decisions["decide"],
        "decide_memory_us": decisions["decide_memory"],
        "policy_us": decisions["policy"],
        "index_us": decisions["index"],
        "litellm_select_us": {s: decisions[s] for s in STRATEGIES},
        "litellm_build_ms": decisions["litellm_build_ms"],
    }


def run_facts(args: argparse.Namespace, started: float, load_before: float) -> dict[str, Any]:
    return {
        "quick": args.quick,
        "only": args.only,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after: others' load skews
        "python": platform.python_version(),
        "litellm": importlib.metadata.version("litellm"),
    }


def row(label: str, value: str, note: str = "", width: int = 56) -> None:
    print(f"{label:{width}}{value:>12}  {note}".rstrip())


def report(result: dict[str, Any]) -> None:
    print(
        f"agenthost router benchmark  (python {result['python']}, litellm {result['litellm']}, "
        f"{result['cpus']} cpus, 1-min load {result['loadavg_1m'][0]:.2f} -> {result['loadavg_1m'][1]:.2f}"
        f"{', --quick' if result['quick'] else ''})\n"
    )
    print("1. decision time, us per decision, p50 / p99")
    print(f"{'':6}{'ours':>85}{'litellm.Router':>51}")
    heads = ["Router.route", "Router.decide", "(in-memory acct)", "Policy.decide", "ProviderIndex"]
    heads += ["simple-shuffle", "cost-based", "latency-based"]
    print(f"{'N':>6}" + "".join(f"{h:>17}" for h in heads))
    for n in result["decide_us"]:
        cells = [result[f"{key}_us"][n] for key in ("route", "decide", "decide_memory", "policy", "index")]
        cells += [result["litellm_select_us"][s][n] for s in STRATEGIES]
        print(f"{n:>6}" + "".join(f"{c['p50']:.0f} / {c['p99']:.0f}".rjust(17) for c in cells))
    print("(Router.route: what invoke decides by; Router.decide: the full trace, as Explain shows it;")
    print(" litellm: Router.async_get_available_deployment, N deployments in one model group)\n")
    if result["only"] == "decisions":
        print(json.dumps(result, separators=(",", ":")), flush=True)
        return

    print("2. end-to-end, one call on a mock provider (interleaved rounds)")
    print(f"{'':44}{'p50 (us)':>10}{'p99 (us)':>10}")
    for label, key in (
        ("bare litellm.acompletion(mock) (floor)", "bare_acompletion"),
        ("Router.invoke, SQLite accounting", "invoke"),
    ):
        print(f"{label:44}{result[key + '_p50_us']:>10.0f}{result[key + '_p99_us']:>10.0f}")
    print(f"{'Router.invoke, SQLite, rpm/tpm limits':44}{result['invoke_rate_limited_p50_us']:>10.0f}")
    print(f"{'Router.invoke, in-memory accounting':44}{result['invoke_memory_p50_us']:>10.0f}")
    print(f"{'litellm.Router.acompletion (1 deployment)':44}{result['litellm_router_p50_us']:>10.0f}")
    print(
        f"overhead over the floor: {result['overhead_us']:.0f} us ({result['overhead_ratio']:.2f}x); "
        f"of which SQLite accounting {result['sqlite_share_us']:.0f} us; "
        f"router without the database {result['overhead_memory_us']:.0f} us; "
        f"rpm/tpm limits {result['rate_limits_us']:.0f} us more ({result['rate_limited_ratio']:.2f}x the floor)"
    )
    steps = result["sqlite_steps_p50_us"]
    print("SQLite steps alone, p50 us: " + ", ".join(f"{k} {v:.0f}" for k, v in steps.items()) + "\n")

    print("3. primary down (InternalServerError), backup answers")
    row(
        "first call, default RetrySettings (2 tries, backoff)",
        f"{result['fallback_first_ms']:.1f} ms",
        f"runs {result['fallback_first_runs_ms']}",
    )
    row("first call, attempts_per_provider=1", f"{result['fallback_first_one_attempt_ms']:.2f} ms")
    verdict = "meets" if result["fallback_breaker_open_ms"] < TARGET_BREAKER_OPEN_MS else "MISSES"
    row(
        "breaker open: straight to the backup, p50",
        f"{result['fallback_breaker_open_ms']:.2f} ms",
        f"p99 {result['fallback_breaker_open_p99_ms']:.2f} ms ({verdict} the {TARGET_BREAKER_OPEN_MS:.0f} ms target)",
    )
    row(
        f"litellm.Router fallbacks=, num_retries={result['litellm_num_retries']} (its default)",
        f"{result['litellm_fallback_ms']:.1f} ms",
        f"runs {result['litellm_fallback_runs_ms']}",
    )
    row("litellm.Router fallbacks=, num_retries=0", f"{result['litellm_fallback_no_retries_ms']:.2f} ms")
    print()

    b = result["budget"]
    print(
        f"4. {b['calls']} concurrent invoke(), budget ${b['limit_usd']:.2f} = {b['fit']} calls of "
        f"${b['per_call_usd']:.4f} (worst case ${b['worst_case_total_usd']:.2f}), "
        f"provider {b['provider_latency_ms']} ms"
    )
    print(
        f"   ok {b['ok']}, refused {b['refused']}, other errors {b['other_errors']}; spent ${b['spent_usd']:.4f}, "
        f"overspend ${b['overspend_usd']:.4f}, reserved after ${b['reserved_after_usd']:.4f}; "
        f"wall {b['wall_ms']:.0f} ms"
    )
    if b["first_other_error"]:
        print(f"   first other error: {b['first_other_error']}")
    print()

    local = result["local"]
    if local:
        print(
            f"5. local model {local['model']} via Router.invoke: {local['tokens_per_s']:.1f} tokens/s, median of "
            f"{len(local['runs_tokens_per_s'])} {local['runs_tokens_per_s']} (tokens out {local['tokens_out']}, "
            f"{local['completion_ms']} ms per completion)"
        )
        print(
            f"   LocalModel.generate directly: {local['direct_tokens_per_s']:.1f} tokens/s; first token via "
            f"invoke_stream {local['first_token_ms']:.0f} ms {local['runs_first_token_ms']}; "
            f"load {local['load_ms']} ms"
        )
    else:
        print("5. local model: skipped")
    print(f"\nwall time {result['wall_s']:.0f} s")
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run (under a minute)")
    parser.add_argument("--skip-local", action="store_true", help="leave out the local model (section 5)")
    parser.add_argument("--only", choices=["decisions"], help="run one section alone")
    args = parser.parse_args(argv)
    # Full-run numbers; --quick shrinks them.
    args.n = [1, 10, 100, 1000]
    args.decide_samples, args.decide_seconds, args.decide_warmup, args.decide_rounds = 2000, 4.0, 100, 4
    args.calls, args.rounds, args.warmup, args.steps = 250, 8, 200, 500
    args.fallback_runs, args.fallback_runs_fast, args.breaker_samples, args.litellm_runs = 5, 20, 500, 3
    args.concurrent, args.fit, args.fit_output_tokens, args.provider_latency_s = 500, 100, 20, 0.02
    args.local_runs, args.local_tokens = 3, 64
    if args.quick:
        args.n = [1, 10, 100]
        args.decide_samples, args.decide_seconds, args.decide_warmup, args.decide_rounds = 300, 0.8, 30, 2
        args.calls, args.rounds, args.warmup, args.steps = 100, 2, 50, 100
        args.fallback_runs, args.fallback_runs_fast, args.breaker_samples, args.litellm_runs = 1, 5, 100, 1
        args.local_runs = 1
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
