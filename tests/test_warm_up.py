"""Reading an agent's reply prompt ahead (host/agent/warm_up.py, Router.warm_up, CallMeta.warm_up).

The router answers a warm-up only through a local provider, with one generated token and nothing
booked; a paid provider is never called for one. The local model's worker then holds the
evaluated prompt: the agent's first reply starts from it and reads only what follows.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import pytest  # noqa: E402
from agenthost.v1 import router_pb2  # noqa: E402
from agents_support import character, router_fixture  # noqa: E402,F401 (a fixture)
from test_agents import PROBE, send  # noqa: E402

from host.agent.character import load_character  # noqa: E402
from host.agent.responses import prompt_prefix, system_prompt  # noqa: E402
from router.accounting_sqlite import SQLiteAccounting  # noqa: E402
from router.calls import ProviderCaller  # noqa: E402
from router.engine import Router  # noqa: E402
from router.policy import parse_policy  # noqa: E402
from router.registry import parse_providers  # noqa: E402
from router.requests import CallRequest  # noqa: E402

CHEAPEST_FIRST = parse_policy([{"name": "cheapest", "when": {}, "order_by": "cost"}], "test")
PAID = {
    "name": "paid", "model": "a", "litellm_model": "openai/fake-a", "cost_in": 0.001, "cost_out": 0.002,
    "max_context": 8000, "latency_ms": 100, "endpoint_env": "FAKE_KEY",
}  # fmt: skip
LOCAL = {
    "name": "local", "model": "tiny", "litellm_model": "openai/fake-tiny", "api_base": "http://127.0.0.1:9/v1",
    "cost_in": 0, "cost_out": 0, "max_context": 8000, "latency_ms": 50, "capabilities": ["chat", "local"],
}  # fmt: skip
PREFIX = [{"role": "system", "content": "You are Ada."}]


class Recorder:
    """Stands in for litellm.acompletion: records each call's arguments, answers "ok"."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return await litellm.acompletion(mock_response="o", **kwargs)


@pytest.fixture
async def accounting(tmp_path: Path) -> AsyncIterator[SQLiteAccounting]:
    acc = await SQLiteAccounting.open(tmp_path / "a.db")
    yield acc
    await acc.close()


def router(accounting: SQLiteAccounting, recorder: Recorder, *entries: dict[str, Any]) -> Router:
    providers = parse_providers(list(entries), "test")
    caller = ProviderCaller(env={"FAKE_KEY": "sk-test"}, complete=recorder)
    return Router(providers, CHEAPEST_FIRST, accounting, (), caller, env={"FAKE_KEY": "sk-test"})


async def test_a_warm_up_goes_to_the_local_provider_for_one_token_and_is_not_booked(accounting):
    recorder = Recorder()
    provider, tokens = await router(accounting, recorder, LOCAL, PAID).warm_up(CallRequest(PREFIX, warm_up=True))
    assert provider is not None and provider.model == "tiny" and tokens > 0
    assert [(c["model"], c["max_tokens"], c["messages"]) for c in recorder.calls] == [("openai/fake-tiny", 1, PREFIX)]
    assert (await accounting.usage(limit=100)).rows == []  # nothing booked, nothing charged


@pytest.mark.parametrize("model_type", ["TEXT_LARGE", "TEXT_EMBEDDING"])
async def test_a_warm_up_never_calls_a_provider_that_is_not_local(accounting, model_type):
    """Routed to a paid provider (cheaper than nothing here: the only one), or for embeddings: no call."""
    recorder = Recorder()
    warm = CallRequest(PREFIX, model_type=model_type, warm_up=True)
    assert await router(accounting, recorder, PAID).warm_up(warm) == (None, 0)
    assert recorder.calls == []
    assert (await accounting.usage(limit=100)).rows == []


WORKER_PROGRAM = """
import json, threading
from host.agent.character import load_character
from host.agent.responses import prompt_prefix, system_prompt
from router.local_model import default_model_path
from router.local_types import GenerationRequest
from router.local_worker import GENERATE, ChatModel

model = ChatModel("smollm2-135m", default_model_path(), 2048, 1, lambda loaded: None)
def ask(messages, max_tokens):
    llama = model._llama
    before = (llama.evaluated_tokens, llama.prompt_cache_hits) if llama else (0, 0)
    request = GenerationRequest(messages=messages, max_tokens=max_tokens, temperature=0.0)
    generation = model.serve(GENERATE, request, threading.Event(), lambda piece: None)
    llama = model._llama
    return {"prompt": generation.usage.prompt_tokens, "completion": generation.usage.completion_tokens,
            "evaluated": llama.evaluated_tokens - before[0], "hits": llama.prompt_cache_hits - before[1]}
ada = load_character(None)
WARM = json.loads(%r)
if WARM:  # what the router's warm-up asks of the worker: the prefix alone, one token
    ask([{"role": "system", "content": prompt_prefix(ada)}], 1)
ask([{"role": "user", "content": "Extract the facts: hello"}], 4)  # another prompt in between
system = system_prompt(ada, "# TIME\\nThe current date and time is Tuesday 01 December 2026, 14:05 UTC.", [])
print(json.dumps(ask([{"role": "system", "content": system}, {"role": "user", "content": "who are you?"}], 8)))
"""


def first_reply(warm: bool) -> dict[str, int]:
    """The first reply's counts in a fresh chat worker (a child process: llama.cpp never runs in the test's)."""
    program = WORKER_PROGRAM % json.dumps(warm)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


def test_after_a_warm_up_the_first_reply_reads_only_what_follows_the_character():
    """The warm-up's prompt (the system message holding the prefix alone) and a reply's prompt
    share every token of the prefix under the chat template, and the worker's prompt cache finds
    that state even with another prompt evaluated in between (a reflection call)."""
    cold, warm = first_reply(False), first_reply(True)
    # Read whole, but for the chat template's first tokens, which the prompt between left evaluated.
    assert cold["hits"] == 0 and cold["evaluated"] - cold["completion"] > cold["prompt"] - 10
    assert warm["hits"] == 1 and warm["prompt"] == cold["prompt"] > 400
    read = warm["evaluated"] - warm["completion"]  # each generated token is read too
    assert read < warm["prompt"] - 300, warm  # the prefix is ~350 of the ~480 tokens
    assert system_prompt(load_character(None), "x", []).startswith(prompt_prefix(load_character(None)) + "\n\n")


async def test_an_agent_has_its_reply_prompt_read_ahead_once_it_is_ready(start_host, router, tmp_path):
    """A real host with a (scripted) router: each agent, once READY, sends one warm-up with how its
    reply prompts start, for the reply model type, under its name; its first reply's system
    message starts with exactly that."""
    scripted, address = router
    files = (character(tmp_path, "Alpha", ["probe"]), character(tmp_path, "Beta", ["probe"]))
    host = await start_host(PROBE, characters=files, router_address=address)
    for _ in range(100):
        if len(scripted.warm_ups) == 2:
            break
        await asyncio.sleep(0.05)
    alpha = host.find_agent("Alpha")
    warm = {request.meta.agent_name: request for request in scripted.warm_ups}
    assert sorted(warm) == ["Alpha", "Beta"]
    ahead = warm["Alpha"]
    assert ahead.meta.warm_up and ahead.meta.model_type == router_pb2.MODEL_TYPE_TEXT_LARGE
    assert [(m.role, m.content) for m in ahead.messages] == [("system", prompt_prefix(alpha.character))]
    await send(host, "Alpha", "room-1", "hello")
    assert scripted.calls[-1].system.startswith(prompt_prefix(alpha.character) + "\n\n")
