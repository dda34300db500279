"""The chat worker serves a streamed call (a reply someone reads as it comes) before a whole
completion (a reflection, a summary): one that arrives while a whole completion runs stops it, is
served, and the stopped completion runs again after it, with the same answer. The real model in
its real worker process (router.local_worker), through router.local_model.LocalModel.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from router.local_model import LocalModel, default_model_path
from router.local_types import GenerationRequest

# A long prompt (~300 tokens): seconds of prompt evaluation, the window a reply arrives in.
LONG = [
    {"role": "system", "content": "You reflect on a conversation to remember it. " + "Ada met Alex at noon. " * 45},
    {"role": "user", "content": "List the facts."},
]
SHORT = [{"role": "user", "content": "Say hi."}]


@pytest.mark.timeout(300)  # ~30 s alone; minutes on a loaded 2-core box
async def test_a_stream_goes_before_a_running_whole_completion_which_then_answers_as_it_would_have():
    model = LocalModel(default_model_path(), name="smollm2-priority", n_threads=1)
    try:
        await model.load()
        whole = GenerationRequest(LONG, max_tokens=12, temperature=0.0)
        ended: dict[str, float] = {}

        async def background() -> str:
            generation = await model.generate(whole)
            ended["whole"] = time.monotonic()
            return generation.text

        async def reply() -> str:
            await asyncio.sleep(0.5)  # the whole completion is evaluating its prompt by now
            pieces = [delta.text async for delta in model.stream(GenerationRequest(SHORT, 8, 0.0))]
            ended["stream"] = time.monotonic()
            return "".join(pieces)

        text, said = await asyncio.gather(background(), reply())
        assert said.strip()
        assert ended["stream"] < ended["whole"]  # in arrival order the stream would end last
        undisturbed = await model.generate(whole)  # from its kept prompt, at temperature 0
        assert text == undisturbed.text != ""  # the stopped completion ran again, whole
    finally:
        await model.aclose()


@pytest.mark.timeout(300)
async def test_a_whole_completion_is_stopped_once_at_most():
    """A second stream that comes while the stopped completion runs again waits for it: the
    completion's caller (an evaluator, 30 s) is kept waiting one reply's length at most."""
    model = LocalModel(default_model_path(), name="smollm2-priority-once", n_threads=1)
    try:
        await model.load()
        ended: dict[str, float] = {}

        async def background() -> None:
            await model.generate(GenerationRequest(LONG, max_tokens=12, temperature=0.0))
            ended["whole"] = time.monotonic()

        async def replies() -> None:
            await asyncio.sleep(0.5)
            async for _ in model.stream(GenerationRequest(SHORT, 4, 0.0)):
                pass
            ended["first stream"] = time.monotonic()
            await asyncio.sleep(0.3)  # the stopped completion is evaluating its prompt again
            async for _ in model.stream(GenerationRequest([{"role": "user", "content": "Say bye."}], 4, 0.0)):
                pass
            ended["second stream"] = time.monotonic()

        await asyncio.gather(background(), replies())
        assert sorted(ended, key=ended.__getitem__) == ["first stream", "whole", "second stream"]
    finally:
        await model.aclose()
