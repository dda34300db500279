"""RouterService over a real gRPC connection: statuses a caller relies on, and a caller's
cancellation releasing the reservation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, AsyncIterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import grpc  # noqa: E402
import litellm  # noqa: E402
import pytest  # noqa: E402
from agenthost.v1 import router_pb2, router_pb2_grpc  # noqa: E402

from router.accounting import Budget  # noqa: E402
from router.accounting_sqlite import SQLiteAccounting  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import parse_policy  # noqa: E402
from router.registry import parse_providers  # noqa: E402
from router.requests import RetrySettings  # noqa: E402
from router.service import RouterServicer  # noqa: E402

KEYS = {"FAKE_KEY": "sk-test"}
PROVIDERS = parse_providers(
    [
        {"name": "fake", "model": "slow", "litellm_model": "openai/fake-slow", "cost_in": 0.01, "cost_out": 0.01,
         "max_context": 8000, "latency_ms": 100, "endpoint_env": "FAKE_KEY", "max_output_tokens": 100},
    ],
    "test",
)  # fmt: skip
POLICY = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")


class Script:
    """What the fake provider does: "hang" waits until released, "fail" raises a 500, else answers."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.started = asyncio.Event()

    async def complete(self, **kwargs: Any) -> Any:
        self.started.set()
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "fail":
            raise litellm.InternalServerError("injected", llm_provider="openai", model="fake-slow")
        return await litellm.acompletion(mock_response="ok", **kwargs)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[router_pb2_grpc.RouterServiceStub, Router, Script]]:
    accounting = await SQLiteAccounting.open(str(tmp_path / "r.db"))
    script = Script()
    router = Router(
        PROVIDERS, POLICY, accounting, (Budget("global", "total", 0.01),),
        ProviderCaller(env=KEYS, complete=script.complete),
        retry=RetrySettings(attempts_per_provider=1, backoff_initial_s=0.01, attempt_timeout_s=60, call_timeout_s=60),
    )  # fmt: skip
    server = grpc.aio.server()
    router_pb2_grpc.add_RouterServiceServicer_to_server(RouterServicer(router), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield router_pb2_grpc.RouterServiceStub(channel), router, script
    await server.stop(None)
    await accounting.close()


def call(prompt: str = "hi", **meta: Any) -> router_pb2.InvokeRequest:
    return router_pb2.InvokeRequest(prompt=prompt, meta=router_pb2.CallMeta(**meta))


async def test_a_caller_that_gives_up_releases_its_reservation(served):
    stub, router, script = served
    script.mode = "hang"
    # The deadline must pass after the call reached the provider: a first call also loads the
    # prompt's tokenizer (tiktoken's encoding): the call had not reached it after 0.5 s on a busy machine.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Invoke(call(), timeout=3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert script.started.is_set()
    for _ in range(100):  # the server side unwinds just after the client's deadline
        (status,) = await router.accounting.status(router.budgets)
        usage = await router.accounting.usage()
        if status.reserved == 0 and usage.rows:
            break
        await asyncio.sleep(0.02)
    assert status.reserved == 0 and status.spent == 0
    assert [(r.status, r.error_class, r.cost) for r in usage.rows] == [("error", "Cancelled", 0.0)]


async def test_statuses_say_what_went_wrong(served):
    stub, router, script = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Invoke(router_pb2.InvokeRequest(), timeout=5)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "give a prompt or chat messages"
    )  # fmt: skip

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Invoke(call(model_type=router_pb2.MODEL_TYPE_TRANSCRIPTION), timeout=5)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "a TRANSCRIPTION call needs the audio bytes (and audio_format)"
    )  # fmt: skip

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Invoke(call(confidential=True), timeout=5)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details().startswith("no local provider can take this call (fake:slow: confidential call")

    script.mode = "fail"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Invoke(call(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "fake:slow: InternalServerError" in caught.value.details()


async def test_a_call_the_budget_cannot_cover_is_resource_exhausted_naming_the_budget(served):
    stub, router, script = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Invoke(call("x " * 3000, max_output_tokens=100), timeout=5)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "left in budget global (total)" in caught.value.details()
    ok = await stub.Invoke(call(max_output_tokens=10), timeout=5)
    assert ok.text == "ok" and ok.cost > 0
