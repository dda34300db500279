"""A deterministic TEXT_EMBEDDING model for tests: hashed bag of words, so texts sharing words
are similar and a paraphrase with other words is not. Shaped like the host's `Models`."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import grpc

from host.agent.models import ModelError
from plugin_sdk.types import ModelOutput


def bag_of_words(text: str, dimension: int) -> list[float]:
    vector = [0.0] * dimension
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little") % dimension] += 1.0
    return vector


class HashedWords:
    """`use("TEXT_EMBEDDING", {"prompt": text})` -> a bag-of-words vector of `dimension`, served by `name`.
    `down`: answer UNAVAILABLE; `delay_s`: wait per call; texts containing "refuse" are refused."""

    def __init__(self, name: str = "hashed", dimension: int = 64) -> None:
        self.name, self.dimension = name, dimension
        self.down = False
        self.delay_s = 0.0
        self.calls = 0

    async def use(self, model_type: str, params: dict[str, Any], timeout: float | None = None) -> ModelOutput:
        assert model_type == "TEXT_EMBEDDING"
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.down:
            raise ModelError(grpc.StatusCode.UNAVAILABLE, "no router: not started")
        text = params["prompt"]
        if "refuse" in text:
            raise ModelError(grpc.StatusCode.INVALID_ARGUMENT, "text too long for the model")
        return ModelOutput(embedding=bag_of_words(text, self.dimension), served_by=self.name)
