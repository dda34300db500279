"""A router killed mid-call, for real: its holds outlive it by the lease at most, then another
router sharing the database releases them and books each as expired, and calls fit the budget
again. And an overrun booked by a router shows in `agenthost router budget`. Both backends.

Providers are an OpenAI-compatible server in this process (fake models "hang", "ok", "huge");
routers are `python -m router serve` processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import AsyncIterator, Iterator

import asyncpg
import grpc
import pytest
from agenthost.v1 import router_pb2, router_pb2_grpc

from router.config import RouterConfigError, load_router_config

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))
POSTGRES = os.environ.get("AGENTHOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "lease-test-token"
LEASE_S = 3.0  # renewed every 1 s: a router loaded by other tests must stall 2 s to lose its hold (for good)
AUTH = (("authorization", f"Bearer {TOKEN}"),)
HUGE_PROMPT_TOKENS = 400_000  # what the "huge" model reports, far beyond any bound of a short prompt


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: model "hang" never answers (until the server stops), "huge"
    reports HUGE_PROMPT_TOKENS prompt tokens, any other answers with 10 in, 5 out."""

    stopping = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["model"] == "hang":
            self.stopping.wait()
            return
        prompt_tokens = HUGE_PROMPT_TOKENS if body["model"] == "huge" else 10
        answer = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5, "total_tokens": prompt_tokens + 5},
        }  # fmt: skip
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def provider_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    FakeOpenAI.stopping.set()
    server.shutdown()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/shared.db"
        return
    schema = "lease_" + uuid.uuid4().hex[:12]
    yield f"{POSTGRES}?schema={schema}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await admin.close()


def write_config(tmp: Path, provider_base: str, database: str) -> Path:
    """A $1 total budget. "hang" holds $0.90 while it runs; "ok" and "huge" need $0.20 each."""

    def fake(model: str, cost_out: float) -> dict[str, object]:
        return {
            "name": "fake", "model": model, "litellm_model": f"openai/{model}", "api_base": provider_base,
            "cost_in": 0.001 if model != "hang" else 0, "cost_out": cost_out, "max_context": 1_000_000,
            "max_output_tokens": 1000, "latency_ms": 100, "endpoint_env": "FAKE_KEY",
        }  # fmt: skip

    (tmp / "providers.json").write_text(json.dumps([fake("hang", 0.9), fake("ok", 0.2), fake("huge", 0.2)]))
    rules = [
        {"name": model, "when": {"quality": model}, "prefer": [f"fake:{model}"], "order_by": "cost"}
        for model in ("hang", "huge")
    ] + [{"name": "default", "when": {}, "prefer": ["fake:ok"], "order_by": "cost"}]
    (tmp / "policy.json").write_text(json.dumps(rules))
    config = tmp / "router.toml"
    config.write_text(
        textwrap.dedent(f"""
        [router]
        providers = "providers.json"
        policy = "policy.json"
        database = "{database}"
        reservation_lease_s = {LEASE_S}
        [[router.budgets]]
        scope = "global"
        period = "total"
        limit = 1.0
        """)
    )
    return config


def start_routers(config: Path, count: int) -> list[tuple[subprocess.Popen[str], str]]:
    """`count` routers on `config`, started together; each with the address it listens on."""
    env = {**os.environ, "AGENTHOST_ROUTER_TOKEN": TOKEN, "FAKE_KEY": "sk-test", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--listen", "127.0.0.1:0", "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    started = []
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("router listening on "), line + (proc.stderr.read() if proc.stderr else "")
        started.append((proc, line.removeprefix("router listening on ").strip()))
    return started


def call(quality: str, request_id: str) -> router_pb2.InvokeRequest:
    return router_pb2.InvokeRequest(
        prompt="Say ok.", request_id=request_id, meta=router_pb2.CallMeta(quality=quality, agent_name="tester")
    )


async def global_budget(stub: router_pb2_grpc.RouterServiceStub) -> router_pb2.BudgetStatus:
    [status] = (await stub.GetBudget(router_pb2.GetBudgetRequest(), metadata=AUTH, timeout=10)).budgets
    return status


async def until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `await check()` is true; fails past `timeout`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_router_killed_mid_call_leaves_nothing_held_past_its_lease(tmp_path, provider_base, database):
    config = write_config(tmp_path, provider_base, database)
    (doomed, doomed_address), (survivor, address) = start_routers(config, 2)
    try:
        async with (
            grpc.aio.insecure_channel(doomed_address) as doomed_channel,
            grpc.aio.insecure_channel(address) as channel,
        ):
            stub = router_pb2_grpc.RouterServiceStub(channel)
            hanging = asyncio.ensure_future(
                router_pb2_grpc.RouterServiceStub(doomed_channel).Invoke(
                    call("hang", "killed-1"), metadata=AUTH, timeout=120
                )
            )

            async def held() -> bool:
                return (await global_budget(stub)).reserved > 0.8

            await until(held, timeout=30)
            await asyncio.sleep(2 * LEASE_S)  # the doomed router renews its hold: still there past the lease
            assert (await global_budget(stub)).reserved > 0.8
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Invoke(call("", "while-held"), metadata=AUTH, timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            killed = time.monotonic()

            async def released() -> bool:
                return (await global_budget(stub)).reserved == 0

            await until(released, timeout=LEASE_S + 2.0)
            release_s = time.monotonic() - killed
            assert release_s <= LEASE_S + 1.0  # the lease, and the time to see it

            async def booked() -> bool:
                usage = await stub.GetUsage(router_pb2.GetUsageRequest(), metadata=AUTH, timeout=10)
                return any(r.status == "expired" for r in usage.rows)

            await until(booked, timeout=LEASE_S / 3 + 2.0)
            assert time.monotonic() - killed <= LEASE_S + LEASE_S / 3 + 1.0
            usage = await stub.GetUsage(router_pb2.GetUsageRequest(), metadata=AUTH, timeout=10)
            [expired] = [r for r in usage.rows if r.status == "expired"]
            assert (expired.request_id, expired.attempt, expired.agent_name, expired.provider, expired.model) == (
                "killed-1", 1, "tester", "fake", "hang"
            )  # fmt: skip
            assert expired.cost == 0 and expired.reserved > 0.8 and expired.error_class == "LeaseExpired"
            assert expired.latency_ms >= 2 * LEASE_S * 1000  # held while its router lived, then until the lease ran out

            reply = await stub.Invoke(call("", "after"), metadata=AUTH, timeout=30)  # fits the budget again
            assert reply.model == "ok" and reply.cost > 0
            with pytest.raises(grpc.aio.AioRpcError):
                await hanging  # the killed router's caller got an error, not an answer
    finally:
        for proc in (doomed, survivor):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


async def test_an_overrun_is_booked_and_shown_by_router_budget(tmp_path, provider_base, database):
    """The "huge" model reports far more prompt tokens than a short prompt can hold: the router
    books the whole cost, the excess as the budget's overrun, and `router budget` shows it."""
    [(survivor, address)] = start_routers(write_config(tmp_path, provider_base, database), 1)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = router_pb2_grpc.RouterServiceStub(channel)
            reply = await stub.Invoke(call("huge", "overrun-1"), metadata=AUTH, timeout=30)
            [row] = (await stub.GetUsage(router_pb2.GetUsageRequest(), metadata=AUTH, timeout=10)).rows
        assert reply.tokens_in == HUGE_PROMPT_TOKENS and row.cost == pytest.approx(reply.cost)
        assert 0 < row.reserved < row.cost

        env = {**os.environ, "AGENTHOST_ROUTER_TOKEN": TOKEN}
        shown = subprocess.run(
            [AGENTHOST, "router", "budget", "--json", "--router", address], env=env, capture_output=True, text=True
        )
        assert shown.returncode == 0, shown.stderr
        [budget] = json.loads(shown.stdout)["budgets"]
        assert budget["spent"] == pytest.approx(reply.cost)
        assert budget["overrun"] == pytest.approx(row.cost - row.reserved) and int(budget["overruns"]) == 1
        text = subprocess.run(
            [AGENTHOST, "router", "budget", "--router", address], env=env, capture_output=True, text=True
        )
        assert f"overrun ${row.cost - row.reserved:.6f} in 1 call(s)" in text.stdout
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=30)


def test_the_lease_is_configured_in_seconds(tmp_path):
    config = tmp_path / "a.toml"
    config.write_text("[router]\nreservation_lease_s = 2.5\n")
    assert load_router_config(config).reservation_lease_s == 2.5
    assert load_router_config(None).reservation_lease_s == 15.0
    for bad in ("0", "-1", '"soon"', "true"):
        config.write_text(f"[router]\nreservation_lease_s = {bad}\n")
        with pytest.raises(RouterConfigError, match="reservation_lease_s must be a positive number"):
            load_router_config(config)
