"""A plugin whose TEXT_EMBEDDING handler is the deterministic hashed-words model
(tests/embedding_model.py), so a real host embeds through a real plugin process."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from embedding_model import bag_of_words  # noqa: E402

from plugin_sdk import ModelOutput, Plugin, serve  # noqa: E402

plugin = Plugin("embedder", version="1.0.0", description="Hashed bag-of-words embeddings for tests.")
DIMENSION = int(os.environ.get("EMBEDDER_DIMENSION", "128"))


@plugin.model("TEXT_EMBEDDING")
async def embed(ctx, params):
    return ModelOutput(embedding=bag_of_words(params["prompt"], DIMENSION))


if __name__ == "__main__":
    serve(plugin)
