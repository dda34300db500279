"""litellm provider `agenthost-local`: litellm calls answered by the router's local models (each
run by llama.cpp in a worker process of its own: `router.local_model`).

The router calls every model through litellm, the local one included, so the
local model gets the same retries, fallbacks, streaming wrapper and response
shape as cloud providers. A GBNF grammar rides along as an extra completion
argument: `litellm.acompletion(model=..., messages=..., grammar="root ::= ...")`
(litellm hands unknown arguments of a custom provider to it in
`optional_params`); `extra_body={"grammar": ...}` works too. Embedding models
answer `litellm.aembedding(model=..., input=[...])`. Only litellm's async API is
served: the router calls nothing else.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, TypeVar

import litellm
from litellm import CustomLLM
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.llms.openai import ChatCompletionUsageBlock
from litellm.types.utils import EmbeddingResponse, GenericStreamingChunk, ModelResponse
from litellm.types.utils import Usage as LitellmUsage

from router.local_embedding import LocalEmbeddingModel
from router.local_model import LocalModel
from router.local_types import Embeddings, Generation, GenerationRequest, LocalModelError, Usage

PROVIDER = "agenthost-local"
ServedModel = LocalModel | LocalEmbeddingModel
ModelT = TypeVar("ModelT", LocalModel, LocalEmbeddingModel)


class LocalProvider(CustomLLM):
    """Serves `agenthost-local/<name>` for each model added under <name>: chat models
    (LocalModel) answer completions, embedding models (LocalEmbeddingModel) embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.models: dict[str, ServedModel] = {}

    def add(self, model: ServedModel) -> str:
        """Serve `model` under its name (replacing a model of that name); return its litellm model id."""
        self.models[model.name] = model
        return f"{PROVIDER}/{model.name}"

    def model(self, name: str, kind: type[ModelT]) -> ModelT:
        """The `kind` of model served under `name` (litellm passes the id without the provider prefix)."""
        found = self.models.get(name.removeprefix(f"{PROVIDER}/"))
        if found is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise CustomLLMError(404, f"no local model named {name!r} (registered: {known})")
        if not isinstance(found, kind):
            does = "embeds text" if isinstance(found, LocalEmbeddingModel) else "chats"
            raise CustomLLMError(400, f"local model {found.name!r} only {does}")
        return found

    async def acompletion(  # type: ignore[override]  # litellm passes everything by keyword
        self, model: str, messages: list[Any], model_response: ModelResponse, optional_params: dict[str, Any], **_: Any
    ) -> ModelResponse:
        local = self.model(model, LocalModel)
        try:
            result = await local.generate(to_request(messages, optional_params))
        except LocalModelError as exc:
            raise CustomLLMError(exc.status, str(exc)) from exc
        return fill_response(model_response, local.name, result)

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[Any], optional_params: dict[str, Any], **_: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        local = self.model(model, LocalModel)
        deltas = local.stream(to_request(messages, optional_params))
        try:
            async for delta in deltas:
                yield {
                    "text": delta.text,
                    "is_finished": delta.finish_reason is not None,
                    "finish_reason": delta.finish_reason or "",
                    "usage": usage_block(delta.usage) if delta.usage else None,
                    "index": 0,
                    "tool_use": None,
                }
        except LocalModelError as exc:
            raise CustomLLMError(exc.status, str(exc)) from exc
        finally:
            await deltas.aclose()  # stops generation if litellm's consumer went away

    async def aembedding(  # type: ignore[override]
        self, model: str, input: Any, model_response: EmbeddingResponse, **_: Any
    ) -> EmbeddingResponse:
        local = self.model(model, LocalEmbeddingModel)
        try:
            result = await local.embed(to_texts(input))
        except LocalModelError as exc:
            raise CustomLLMError(exc.status, str(exc)) from exc
        return fill_embedding_response(model_response, local.name, result)


def register_local_provider(model: ServedModel) -> str:
    """Make a LocalModel or LocalEmbeddingModel the caller made (and keeps, to `aclose()` it)
    callable through litellm as `agenthost-local/<its name>`; return that model id. Nothing is
    loaded here: the model loads on `load()` or its first call."""
    return local_provider().add(model)


def local_provider() -> LocalProvider:
    """The LocalProvider in litellm's custom provider map, added there on first use."""
    for entry in litellm.custom_provider_map:
        if entry["provider"] == PROVIDER and isinstance(entry["custom_handler"], LocalProvider):
            return entry["custom_handler"]
    provider = LocalProvider()
    litellm.custom_provider_map = [
        *(e for e in litellm.custom_provider_map if e["provider"] != PROVIDER),
        {"provider": PROVIDER, "custom_handler": provider},
    ]
    return provider


def to_request(messages: Iterable[Mapping[str, Any]], params: Mapping[str, Any]) -> GenerationRequest:
    """litellm's (OpenAI-shaped) messages and optional params as a local generation request."""
    extra = params.get("extra_body") or {}
    stop = params.get("stop") or ()
    return GenerationRequest(
        messages=[{"role": str(m.get("role", "user")), "content": _text(m.get("content"))} for m in messages],
        max_tokens=params.get("max_tokens") or params.get("max_completion_tokens"),
        temperature=params.get("temperature"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        grammar=params.get("grammar") or extra.get("grammar"),
        seed=params.get("seed"),
    )


def fill_response(response: ModelResponse, name: str, result: Generation) -> ModelResponse:
    """Put a finished generation, and its token counts, into litellm's response object."""
    choice: Any = response.choices[0]
    choice.message.content = result.text
    choice.finish_reason = result.finish_reason
    response.model = f"{PROVIDER}/{name}"
    response.created = int(time.time())
    usage = result.usage
    totals = LitellmUsage(
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, total_tokens=usage.total_tokens
    )
    setattr(response, "usage", totals)
    return response


def to_texts(input: Any) -> list[str]:
    """litellm's embedding input (a string or a list of strings) as texts; token-id input is refused."""
    texts = [input] if isinstance(input, str) else list(input or ())
    if not all(isinstance(text, str) for text in texts):
        raise CustomLLMError(400, "the local embedding models take text input, not token ids")
    return texts


def fill_embedding_response(response: EmbeddingResponse, name: str, result: Embeddings) -> EmbeddingResponse:
    """Put embedding vectors, in the OpenAI shape, and their token count into litellm's response object."""
    response.data = [
        {"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(result.vectors)
    ]
    response.model = f"{PROVIDER}/{name}"
    tokens = result.prompt_tokens
    setattr(response, "usage", LitellmUsage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens))
    return response


def usage_block(usage: Usage) -> ChatCompletionUsageBlock:
    """Token counts in the OpenAI usage shape."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _text(content: Any) -> str:
    """Message content as plain text: the text parts of a multi-part content, "" for none."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
