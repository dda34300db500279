"""Calling a provider through litellm: one attempt, its usage, and how its errors are classed;
and counting a prompt's tokens before the call (the estimate, and the bounds reservations hold)."""

from __future__ import annotations

import os
from typing import Any, AsyncGenerator, Awaitable, Callable, Iterable, Mapping

import litellm

from .policy import IMAGE_TOKENS, InputBounds, bound_input_tokens
from .registry import Provider
from .requests import Completion

RETRYABLE: tuple[type[BaseException], ...] = (
    litellm.RateLimitError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.APIConnectionError,
    litellm.Timeout,  # not an APIConnectionError subclass (it derives from openai's)
    TimeoutError,
)
"""Worth another try at the same provider. 400s, auth and content-policy errors are not."""


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE) and not isinstance(exc, litellm.BadRequestError)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (Retry-After / retry-after-ms), if it said."""
    headers: Mapping[str, str] = getattr(getattr(exc, "response", None), "headers", None) or {}
    headers = headers or getattr(exc, "headers", None) or {}
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(key)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None
    return None


def error_class(exc: BaseException) -> str:
    return "Timeout" if isinstance(exc, (TimeoutError, litellm.Timeout)) else type(exc).__name__


Complete = Callable[..., Awaitable[Any]]


class ProviderCaller:
    """Makes one attempt at one provider. `complete` and `embed` default to litellm's and
    can be replaced (tests pass litellm's own functions with mock_response)."""

    def __init__(
        self,
        env: Mapping[str, str] = os.environ,
        complete: Complete | None = None,
        embed: Complete | None = None,
        transcribe: Complete | None = None,
    ) -> None:
        self.env = env
        self.complete = complete or litellm.acompletion
        self.embed = embed or litellm.aembedding
        self.transcribe = transcribe or litellm.atranscription

    def _kwargs(self, provider: Provider, timeout: float) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": provider.litellm_model, "timeout": timeout, "num_retries": 0}
        if provider.api_base:
            kwargs["api_base"] = provider.api_base
        if provider.endpoint_env:
            kwargs["api_key"] = self.env.get(provider.endpoint_env, "")
        return kwargs

    async def chat(
        self,
        provider: Provider,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float | None,
        grammar: str,
        timeout: float,
    ) -> Completion:
        kwargs = self._kwargs(provider, timeout)
        kwargs.update(messages=messages, max_tokens=max_tokens)
        if temperature is not None:
            kwargs["temperature"] = temperature
        if grammar and provider.local:
            kwargs["grammar"] = grammar
        response = await self.complete(**kwargs)
        usage = getattr(response, "usage", None)
        text = response.choices[0].message.content or ""
        tokens_in = getattr(usage, "prompt_tokens", 0) or litellm.token_counter(
            model=provider.litellm_model, messages=messages
        )
        tokens_out = getattr(usage, "completion_tokens", 0) or litellm.token_counter(
            model=provider.litellm_model, text=text
        )
        return Completion(text=text, tokens_in=int(tokens_in), tokens_out=int(tokens_out))

    async def stream(
        self,
        provider: Provider,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float | None,
        grammar: str,
        timeout: float,
    ) -> AsyncGenerator[str | Completion, None]:
        """Yields text deltas, then one Completion with the totals."""
        kwargs = self._kwargs(provider, timeout)
        kwargs.update(messages=messages, max_tokens=max_tokens, stream=True, stream_options={"include_usage": True})
        if temperature is not None:
            kwargs["temperature"] = temperature
        if grammar and provider.local:
            kwargs["grammar"] = grammar
        response = await self.complete(**kwargs)
        parts: list[str] = []
        tokens_in = tokens_out = 0
        try:
            async for chunk in response:
                usage = getattr(chunk, "usage", None)
                if usage:
                    tokens_in = usage.prompt_tokens or tokens_in
                    tokens_out = usage.completion_tokens or tokens_out
                if chunk.choices:
                    delta = chunk.choices[0].delta.content or ""
                    if delta:
                        parts.append(delta)
                        yield delta
        finally:  # a consumer that stops early must stop the generation too
            close = getattr(response, "aclose", None)
            if close is not None:
                await close()
        text = "".join(parts)
        yield Completion(
            text=text,
            tokens_in=tokens_in or litellm.token_counter(model=provider.litellm_model, messages=messages),
            tokens_out=tokens_out or litellm.token_counter(model=provider.litellm_model, text=text),
        )

    async def embedding(self, provider: Provider, text: str, timeout: float) -> Completion:
        kwargs = self._kwargs(provider, timeout)
        response = await self.embed(input=[text], **kwargs)
        vector = response.data[0]["embedding"] if isinstance(response.data[0], dict) else response.data[0].embedding
        usage = getattr(response, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", 0) or litellm.token_counter(model=provider.litellm_model, text=text)
        return Completion(embedding=[float(x) for x in vector], tokens_in=int(tokens_in))

    async def transcription(self, provider: Provider, audio: bytes, audio_format: str, timeout: float) -> Completion:
        """Speech to text. Usage is the transcript's tokens (as output), by litellm's counter."""
        kwargs = self._kwargs(provider, timeout)
        response = await self.transcribe(file=(f"audio.{audio_format or 'wav'}", audio), **kwargs)
        text = getattr(response, "text", "") or ""
        return Completion(text=text, tokens_out=int(litellm.token_counter(model=provider.litellm_model, text=text)))


ESTIMATE_MODEL = "gpt-4o-mini"  # its tokenizer (tiktoken's o200k) makes every call's estimate


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Input tokens of a chat prompt's text, by litellm's counter (a tiktoken encoding shipped with
    it). Images are left out: `input_bounds` counts IMAGE_TOKENS for each (litellm's own count
    of an image reads its URL, fetching it when remote)."""
    return int(litellm.token_counter(model=ESTIMATE_MODEL, messages=_text_only(messages)[0]))


def own_tokenizer(litellm_model: str) -> str:
    """The model name under which litellm counts a provider's tokens with the provider's own
    tokenizer, or "" when it cannot without a download. It can for OpenAI's chat models (tiktoken,
    shipped with litellm), wherever they are served ("openrouter/openai/gpt-4o-mini"). Its Llama
    and Cohere tokenizers come from the Hugging Face hub at first use, which a router must not do
    mid-call (it blocks, and offline machines have no hub); its Anthropic one is pre-Claude-3's."""
    name = litellm_model.rsplit("/", 1)[-1]
    return name if name in litellm.open_ai_chat_completion_models else ""


def load_tokenizers(providers: Iterable[Provider]) -> None:
    """Load the tokenizers calls count with: the estimate's and the providers' own. tiktoken builds
    an encoding on its first use (0.3 s for o200k here, more on a loaded machine), which must not
    happen on the event loop during a call: it stalled a router's health checks into a restart.
    The router does it while it builds, on a thread."""
    for name in {ESTIMATE_MODEL} | {name for p in providers if (name := own_tokenizer(p.litellm_model))}:
        litellm.token_counter(model=name, text="warm")


def _text_only(messages: list[dict[str, Any]]) -> tuple[list[dict[str, str]], str, int]:
    """The messages with their text parts alone, all their text, and how many images they hold."""
    shaped: list[dict[str, str]] = []
    images = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            text = "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
            images += sum(1 for part in content if part.get("type") == "image_url")
        else:
            text = str(content or "")
        shaped.append({"role": str(message.get("role", "user")), "content": text})
    return shaped, "".join(m["content"] for m in shaped), images


def input_bounds(
    messages: list[dict[str, Any]], estimate: int, tokenizer_of: Mapping[str, str], tokenizers: frozenset[str]
) -> InputBounds:
    """Upper bounds of a prompt's input tokens: exact where the provider's own tokenizer is one of
    `tokenizers` (own_tokenizer's names, `tokenizer_of` says whose), bound_input_tokens elsewhere.
    `estimate` is estimate_tokens(messages), counted once per call and reused here."""
    shaped, text, images = _text_only(messages)
    utf8 = len(text.encode())
    non_ascii = utf8 - len(text.encode("ascii", "ignore"))
    digits = sum(text.count(digit) for digit in "0123456789")
    other = bound_input_tokens(estimate, utf8, digits, non_ascii, len(messages), images)
    exact: dict[str, int] = {}
    for name in tokenizers:
        # Images are not text to any tokenizer: each counts IMAGE_TOKENS, not litellm's low-detail 85.
        counted = estimate if name == ESTIMATE_MODEL else litellm.token_counter(model=name, messages=shaped)
        exact[name] = int(counted) + images * IMAGE_TOKENS
    return InputBounds(other, exact, tokenizer_of)
