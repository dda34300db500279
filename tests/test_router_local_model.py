"""The router's offline default model answering for real, through litellm: SmolLM2-135M in llama.cpp.

llama.cpp runs in the model's worker process, never in this one: a native crash fails the test that
met it with the signal (LocalModelCrashed: "... crashed (SIGSEGV) during a generation ..."), and the
run goes on (tests/test_router_local_crash.py shows it).
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

import litellm  # noqa: E402

from router.local_model import LocalModel, default_model_path  # noqa: E402
from router.local_provider import PROVIDER, register_local_provider  # noqa: E402

# The agent pipeline's response shape. Bounded text keeps the whole document inside max_tokens
# (a grammar shapes what is generated, it cannot make a cut-off document whole); the character
# class leaves out what XML would reject: markup characters and control characters.
XML_GRAMMAR = r"""
root ::= "<response><thought>" content "</thought><text>" content "</text></response>"
content ::= [^<&\x00-\x08\x0b\x0c\x0e-\x1f]{1,24}
"""
XML_SYSTEM = "Answer as <response><thought>...</thought><text>...</text></response>."
QUESTION = [{"role": "user", "content": "Name three colors."}]


@pytest.fixture(scope="module")
def model_id() -> Iterator[str]:
    """One loaded model shared by the tests that do not count loads."""
    model = LocalModel(default_model_path(), name="smollm2-test")
    model_id = register_local_provider(model=model)
    yield model_id
    asyncio.run(model.aclose())


def text_of(response: Any) -> str:
    return str(response.choices[0].message.content)


async def test_answers_with_text_and_token_counts(model_id: str) -> None:
    response = await litellm.acompletion(model=model_id, messages=QUESTION, max_tokens=24)

    assert model_id == f"{PROVIDER}/smollm2-test"
    assert text_of(response).strip()
    assert response.usage.prompt_tokens > 0
    assert 0 < response.usage.completion_tokens <= 24
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


async def test_stream_deltas_add_up_to_the_answer(model_id: str) -> None:
    # Greedy decoding makes the streamed answer comparable with the whole one.
    whole = await litellm.acompletion(model=model_id, messages=QUESTION, max_tokens=24, temperature=0)
    stream = await litellm.acompletion(
        model=model_id,
        messages=QUESTION,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    usage = next(c.usage for c in chunks if getattr(c, "usage", None))

    assert len(deltas) >= 3
    assert "".join(deltas) == text_of(litellm.stream_chunk_builder(chunks)) == text_of(whole)
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )


@pytest.mark.parametrize("how", ["argument", "extra_body"])
async def test_grammar_forces_the_xml_response_shape(model_id: str, how: str) -> None:
    extra: dict[str, Any] = {"grammar": XML_GRAMMAR} if how == "argument" else {"extra_body": {"grammar": XML_GRAMMAR}}
    messages = [{"role": "system", "content": XML_SYSTEM}, {"role": "user", "content": "What is 2+2?"}]

    response = await litellm.acompletion(model=model_id, messages=messages, max_tokens=48, temperature=0, **extra)

    assert response.choices[0].finish_reason == "stop"
    root = ET.fromstring(text_of(response))
    assert root.tag == "response"
    assert [child.tag for child in root] == ["thought", "text"]
    assert all((child.text or "").strip() for child in root)


async def test_a_bad_grammar_is_a_bad_request_not_a_crash(model_id: str) -> None:
    # llama.cpp would dereference the NULL of a failed grammar parse: the provider parses it first.
    with pytest.raises(litellm.BadRequestError, match="grammar"):
        await litellm.acompletion(model=model_id, messages=QUESTION, max_tokens=8, grammar="root ::= undefined-rule")
    assert text_of(await litellm.acompletion(model=model_id, messages=QUESTION, max_tokens=8))


async def test_closing_a_stream_stops_generation(model_id: str) -> None:
    essay = [{"role": "user", "content": "Write a very long essay about the sea."}]
    # Calibrate on this machine, now: it may be busy, so no absolute time limit.
    started = time.monotonic()
    probe = await litellm.acompletion(model=model_id, messages=essay, max_tokens=48)
    seconds_per_token = (time.monotonic() - started) / probe.usage.completion_tokens

    started = time.monotonic()
    stream = await litellm.acompletion(model=model_id, messages=essay, max_tokens=400, stream=True)
    async for _ in stream:
        break
    await stream.aclose()
    await litellm.acompletion(model=model_id, messages=QUESTION, max_tokens=8)

    # Finishing the 400 tokens first would take ~400 token-times; dropping them, well under 150.
    assert time.monotonic() - started < 150 * seconds_per_token


@pytest.fixture
async def fresh_model() -> AsyncIterator[tuple[LocalModel, str]]:
    model = LocalModel(default_model_path(), name="smollm2-fresh")
    yield model, register_local_provider(model=model)
    await model.aclose()


async def test_concurrent_first_calls_load_once_and_leave_the_loop_responsive(
    fresh_model: tuple[LocalModel, str],
) -> None:
    model, model_id = fresh_model
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before - 0.01)

    async def ask(question: str) -> Any:
        messages = [{"role": "user", "content": question}]
        return await litellm.acompletion(model=model_id, messages=messages, max_tokens=24)

    # A full garbage collection of litellm's ~300k start-up objects stalls any thread for ~170 ms;
    # freezing them (as a serving process should, after imports) leaves the model's own effect to measure.
    gc.collect()
    gc.freeze()
    ticking = asyncio.create_task(ticker())
    questions = ["Name a fruit.", "Name a city.", "Name an animal.", "Name a color."]
    try:
        responses = await asyncio.wait_for(asyncio.gather(*(ask(q) for q in questions)), timeout=60)
    finally:
        done.set()
        await ticking
        gc.unfreeze()

    assert model.loads == 1
    assert all(text_of(r).strip() and r.usage.completion_tokens > 0 for r in responses)
    assert len(lags) >= 20, "the ticker barely ran during generation"
    assert max(lags) < 0.1, f"event loop stalled for {max(lags) * 1000:.0f} ms"


async def test_the_pipelines_reply_grammar_makes_every_answer_parse(model_id: str) -> None:
    from host.agent.character import load_character
    from host.agent.responses import ActionChoice, parse_response, response_grammar, system_prompt

    offered = [ActionChoice("GET_WEATHER", "Report today's weather for a city the user names.")]
    system = system_prompt(load_character(None), "# TIME\nIt is Tuesday.", offered)
    for question in ("Hello! Who are you?", "What's the weather in Paris?", "What day is it?"):
        response = await litellm.acompletion(
            model=model_id,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            max_tokens=200,
            grammar=response_grammar(["GET_WEATHER"]),
        )
        parsed = parse_response(text_of(response), {"GET_WEATHER"})
        assert parsed.actions and set(parsed.actions) <= {"REPLY", "GET_WEATHER"}
        assert parsed.text or "REPLY" not in parsed.actions


PROMPT_CACHE_PROGRAM = """
import json, threading
from router.local_model import default_model_path
from router.local_types import GenerationRequest
from router.local_worker import GENERATE, ChatModel

model = ChatModel("smollm2-135m", default_model_path(), 2048, 1, lambda loaded: None)
system = {"role": "system", "content": "You are Ada, a helpful assistant who answers briefly. " * 12}
def ask(*messages):
    request = GenerationRequest(messages=list(messages), max_tokens=8, temperature=0.0)
    return model.serve(GENERATE, request, threading.Event(), lambda piece: None).usage.prompt_tokens
first = ask(system, {"role": "user", "content": "Who are you?"})
ask({"role": "system", "content": "Extract facts."}, {"role": "user", "content": "Who are you?"})  # in between
hits = model._llama.prompt_cache_hits
third = ask(system, {"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "Ada."},
            {"role": "user", "content": "And what do you do?"})
print(json.dumps({"before": hits, "after": model._llama.prompt_cache_hits, "first": first, "third": third}))
"""


def test_a_reply_whose_prompt_starts_like_an_earlier_one_starts_from_its_kept_state():
    """The chat worker keeps evaluated prompts: a reply's prompt that shares the system prompt and
    the conversation so far with an earlier one starts from that state, even with another prompt
    evaluated in between (a shouldRespond or reflection call). Run in a child process: llama.cpp
    never runs in the test's own."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PROMPT_CACHE_PROGRAM], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["before"] == 0 and counts["after"] == 1, counts  # the third reply started from the first's state
    assert counts["third"] > counts["first"] > 100  # a long prompt, longer the second time
