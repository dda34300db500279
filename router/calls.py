"""Calling a provider through litellm: one attempt, its usage, and how its errors are classed."""

from __future__ import annotations

import os
from typing import Any, AsyncGenerator, Awaitable, Callable, Mapping

import litellm

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


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Input tokens of a chat prompt, by litellm's counter (a tiktoken encoding shipped with it)."""
    return int(litellm.token_counter(model="gpt-4o-mini", messages=messages))
