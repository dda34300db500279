"""A standalone router (`agenthost router serve`) takes a bearer token too; hosts sharing it
send theirs; beyond loopback it needs TLS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from agenthost.v1 import router_pb2, router_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support import api_channel

TOKEN = "shared-router-token"


def _router(tmp: Path, listen: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AGENTHOST_ROUTER_TOKEN": TOKEN, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.Popen(
        [sys.executable, "-m", "router", "serve", "--listen", listen, "--data-dir", str(tmp)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def router_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = _router(tmp_path_factory.mktemp("shared-router"), "127.0.0.1:0")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("router listening on "), line + (proc.stderr.read() if proc.stderr else "")
    yield line.removeprefix("router listening on ").strip()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


async def test_a_standalone_router_refuses_calls_without_its_token(router_address):
    request = router_pb2.ListProvidersRequest()
    async with grpc.aio.insecure_channel(router_address) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListProviders(request, metadata=metadata, timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = await stub.ListProviders(request, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=10)
        assert reply.providers
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("token, code", [(TOKEN, grpc.StatusCode.OK), ("not-it", grpc.StatusCode.UNAUTHENTICATED)])
async def test_a_host_sharing_the_router_sends_its_token(start_host, router_address, token, code):
    host = await start_host(router_address=router_address, router_token=token)
    async with api_channel(host) as channel:
        try:
            reply = await router_pb2_grpc.RouterServiceStub(channel).ListProviders(
                router_pb2.ListProvidersRequest(), timeout=10
            )
            assert reply.providers
            got = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            got = exc.code()
    assert got == code


def test_a_standalone_router_beyond_loopback_needs_tls(tmp_path):
    proc = _router(tmp_path, "0.0.0.0:0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.startswith("agenthost router: refusing to listen on 0.0.0.0:0 without TLS") and err.count("\n") == 1
