"""A native crash of the local model costs its worker process, never the router or a test run.

The crashing worker is `tests/crashing_model_worker.py`: the real worker whose llama.cpp segfaults
(a read of address 0) at the first decode, as a build tuned to another CPU did on CPUs with AMX.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

import litellm  # noqa: E402

from router.config import RouterConfig  # noqa: E402
from router.local_model import (  # noqa: E402
    GenerationRequest,
    LocalModel,
    LocalModelCrashed,
    LocalModelError,
    default_model_path,
)
from router.local_provider import register_local_provider  # noqa: E402
from router.requests import CallRequest, Refused  # noqa: E402
from router.server import build  # noqa: E402
from router.worker_protocol import WORKER_MODULE_ENV  # noqa: E402

TESTS = Path(__file__).parent
QUESTION = GenerationRequest([{"role": "user", "content": "Name three colors."}], max_tokens=16, temperature=0.0)
SEGFAULT_AT_LOAD = r"local model smollm2-crash crashed \(SIGSEGV\) while loading: llama-cpp-python may be built"


@pytest.fixture
def crash_marker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Workers started from now on segfault at their first decode while the returned file exists."""
    marker = tmp_path / "crash"
    marker.touch()
    monkeypatch.setenv(WORKER_MODULE_ENV, "crashing_model_worker")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CRASH_WHILE_EXISTS", str(marker))
    return marker


@pytest.fixture
async def model() -> AsyncIterator[LocalModel]:
    model = LocalModel(default_model_path(), name="smollm2-crash")
    yield model
    await model.aclose()


async def wait_for_retry(model: LocalModel) -> None:
    await asyncio.sleep(max(0.0, model.retry_at - time.monotonic()) + 0.05)


async def test_a_segfault_fails_the_call_with_its_signal_and_the_model_comes_back(
    crash_marker: Path, model: LocalModel
) -> None:
    with pytest.raises(LocalModelCrashed, match=SEGFAULT_AT_LOAD):
        await model.load()
    assert model.down.startswith("local model smollm2-crash crashed (SIGSEGV) while loading")
    assert model.crashes == 1 and model.pid is None

    # Down for a while: calls fail at once, saying why, instead of starting a worker each.
    with pytest.raises(LocalModelError, match=r"crashed \(SIGSEGV\).*next try in") as refused:
        await model.generate(QUESTION)
    assert refused.value.status == 503

    # The first call after the wait starts a new worker, which crashes again: counted.
    await wait_for_retry(model)
    with pytest.raises(LocalModelCrashed, match=r"crashed \(SIGSEGV\)"):
        await model.generate(QUESTION)
    assert model.crashes == 2 and "(2 times in a row)" in model.down

    crash_marker.unlink()
    await wait_for_retry(model)
    answer = await model.generate(QUESTION)

    assert answer.text.strip() and answer.usage.completion_tokens > 0
    assert model.down == "" and model.crashes == 0
    assert model.loads == 3  # each worker loaded the model; two of them crashed at their first decode


async def test_a_worker_killed_mid_stream_ends_the_stream_not_the_process(model: LocalModel) -> None:
    long = GenerationRequest([{"role": "user", "content": "Write a very long essay about the sea."}], max_tokens=400)
    await model.load()
    pid = model.pid
    assert pid is not None and pid != os.getpid()

    with pytest.raises(LocalModelCrashed, match=r"was killed \(SIGKILL\) during a generation"):
        async for _ in model.stream(long):
            os.kill(pid, signal.SIGKILL)

    await wait_for_retry(model)
    assert (await model.generate(QUESTION)).text.strip()
    assert model.pid not in (None, pid) and model.down == ""


async def test_through_litellm_a_crash_is_an_error_naming_the_signal(crash_marker: Path, model: LocalModel) -> None:
    model_id = register_local_provider(model=model)
    with pytest.raises(litellm.InternalServerError, match=r"crashed \(SIGSEGV\) during a generation"):
        await litellm.acompletion(model=model_id, messages=[{"role": "user", "content": "hi"}], max_tokens=4)


async def test_the_router_serves_on_with_its_local_models_down_and_says_why(crash_marker: Path, tmp_path: Path) -> None:
    parts = await build(RouterConfig(database=f"sqlite://{tmp_path / 'router.db'}"))
    router = parts.router
    local = {"local:smollm2-135m", "local:all-minilm-l6-v2"}
    try:
        # The models load while the router serves; their first decode crashes soon after.
        deadline = time.monotonic() + 60
        while not local <= router.not_configured.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        down = {pid: why for pid, why in router.not_configured.items() if pid in local}
        assert set(down) == local
        assert dict(router.down) == down  # what the router says is down: its local models, no more
        assert all("crashed (SIGSEGV) while loading" in why for why in down.values())
        with pytest.raises(Refused, match=r"local:smollm2-135m: not configured: local model .* crashed \(SIGSEGV\)"):
            await router.invoke(CallRequest(messages=[{"role": "user", "content": "hi"}], confidential=True))

        crash_marker.unlink()  # the watch restarts each model when its retry time comes
        deadline = time.monotonic() + 60
        while router.not_configured.get("local:smollm2-135m") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        reply = await router.invoke(
            CallRequest(messages=[{"role": "user", "content": "hi"}], confidential=True, max_output_tokens=4)
        )
        assert "local:smollm2-135m" not in router.down
    finally:
        await parts.close()
        gc.unfreeze()  # build() froze the heap, as a serving process should; a test process should not

    assert reply.provider.id == "local:smollm2-135m" and reply.completion.text.strip()


def test_the_router_process_never_loads_llama_cpp() -> None:
    code = "import sys, router.server, router.model_check; print('llama_cpp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_agenthost_status_shows_the_local_model_crash_and_the_router_stays_up(tmp_path: Path) -> None:
    """While the local models crash the host serves DEGRADED, saying which model and why; once they
    answer again it is READY."""
    agenthost = str(Path(sys.executable).with_name("agenthost"))
    marker = tmp_path / "crash"
    marker.touch()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {
        "AGENTHOST_ADDR": f"unix://{tmp_path}/host.sock",
        "AGENTHOST_DATA_DIR": str(tmp_path / "data"),
        WORKER_MODULE_ENV: "crashing_model_worker",  # reaches the router, which alone gets the whole environment
        "CRASH_WHILE_EXISTS": str(marker),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([agenthost, *args], env=env, capture_output=True, text=True, timeout=120)

    def status() -> dict:
        return json.loads(cli("status", "--json").stdout)

    with open(tmp_path / "host.log", "w") as log:
        host = subprocess.Popen(
            [agenthost, "serve", "--listen", env["AGENTHOST_ADDR"]], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            # The host serves, degraded only by its router's local models: `wait` returns, saying so.
            waited = cli("wait", "--timeout", "120")
            assert waited.returncode == 0, waited.stderr + (tmp_path / "host.log").read_text()
            # Whichever model went down first is named first (all-MiniLM-L6-v2 loads faster than SmolLM2).
            assert re.search(
                r"host serves DEGRADED: router: local model down: local:(smollm2-135m|all-minilm-l6-v2): ",
                waited.stderr,
            ), waited.stderr
            strict = cli("wait", "--ready", "--timeout", "1")
            # The router's watch restarts the models, and each new worker crashes again: counted, not a loop.
            deadline = time.monotonic() + 60

            def both_counted(router: dict) -> bool:  # each model crashed again at least once
                down = router.get("unavailable", {})
                return len(down) == 2 and all("times in a row" in why for why in down.values())

            while not both_counted((full := status())["router"]):
                assert time.monotonic() < deadline, full
                time.sleep(0.2)
            text = cli("status").stdout
            invoked = cli("router", "invoke", "--confidential", "Say hello.")

            marker.unlink()  # the next workers load and answer: READY again, the router never restarted
            deadline = time.monotonic() + 60
            while (back := status())["state"] != "READY":
                assert time.monotonic() < deadline, back
                time.sleep(0.2)
            back_text = cli("status").stdout
        finally:
            host.send_signal(signal.SIGTERM)
            host.wait(timeout=30)

    assert strict.returncode != 0
    assert re.search(
        r"not READY after 1s \(last: DEGRADED: router ready: local model down: local:(smollm2-135m|all-minilm-l6-v2)",
        strict.stderr,
    ), strict.stderr
    doc = full["router"]
    assert full["state"] == "DEGRADED" and all(p["state"] == "ready" for p in full["plugins"])
    assert doc["state"] == "ready" and doc["restarts"] == 0
    assert set(doc["unavailable"]) == {"local:smollm2-135m", "local:all-minilm-l6-v2"}
    why = doc["unavailable"]["local:smollm2-135m"]
    assert why.startswith("local model smollm2-135m-instruct crashed (SIGSEGV) while loading")
    assert "times in a row" in why and why.endswith("(as `make install` does: the Makefile's LLAMA_CMAKE_ARGS)")
    # The router's reason (from the host's own watch, a moment earlier) names each model and why,
    # in the order they went down.
    chat_down = "local model down: local:smollm2-135m: local model smollm2-135m-instruct crashed"
    embed_down = "local model down: local:all-minilm-l6-v2: local model all-minilm-l6-v2 crashed"
    assert doc["reason"].startswith((chat_down, embed_down)), doc["reason"]
    assert chat_down in doc["reason"] and embed_down in doc["reason"], doc["reason"]
    assert doc["reason"].count("; local model down: ") == 1, doc["reason"]
    # Read a moment later, the count may have grown.
    line = r"\n  local:smollm2-135m unavailable: local model smollm2-135m-instruct crashed \(SIGSEGV\) while loading"
    assert re.search(line + r" \(\d+ times in a row\): llama-cpp-python may be built for another CPU", text), text
    assert "  state DEGRADED  " in text.splitlines()[0], text
    [router_line] = [line for line in text.splitlines() if line.startswith("router: ")]
    assert router_line.startswith("router: ready pid "), text
    assert re.search(r"\(local model down: local:[a-z0-9-]+, local:[a-z0-9-]+\)", router_line), text
    assert "local:smollm2-135m" in router_line and "local:all-minilm-l6-v2" in router_line, text
    assert invoked.returncode != 0 and "crashed (SIGSEGV)" in invoked.stderr

    assert back["router"]["state"] == "ready" and back["router"]["restarts"] == 0
    assert back["router"]["reason"] == "" and back["router"]["unavailable"] == {}
    assert "  state READY  " in back_text.splitlines()[0] and "unavailable" not in back_text, back_text


async def test_a_model_that_cannot_load_is_down_saying_why(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"this is not a GGUF file")
    model = LocalModel(bad)
    try:
        with pytest.raises(LocalModelError, match="could not load local model"):
            await model.load()
        assert model.down.startswith(f"could not load local model {bad}") and model.crashes == 0
        with pytest.raises(LocalModelError, match="could not load.*next try in") as refused:
            await model.generate(QUESTION)
        assert refused.value.status == 503
    finally:
        await model.aclose()
