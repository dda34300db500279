"""What a router call is and what it returns: requests, replies, attempts, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .policy import Decision
from .registry import Provider


class Refused(Exception):
    """No provider may take the call; `budget` tells whether a budget was the reason, and
    `retry_after_s` (set when providers' rate limits were) when the soonest window opens."""

    def __init__(self, message: str, budget: bool = False, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.budget = budget
        self.retry_after_s = retry_after_s


class AllFailed(Exception):
    """Every candidate failed; the message lists what each said."""


class CircuitOpen(Exception):
    """The provider's breaker does not allow a call now (open, or its half-open probe is out)."""


@dataclass
class CallRequest:
    """One model call, as the router sees it (converted from the proto at the edge)."""

    messages: list[dict[str, Any]]  # content is text, or text and image parts
    model_type: str = "TEXT_LARGE"
    confidential: bool = False
    quality: str = ""
    task_id: str = ""
    agent_name: str = ""
    user_id: str = ""
    max_output_tokens: int = 0
    temperature: float | None = None
    grammar: str = ""
    timeout_s: float = 0.0
    request_id: str = ""
    audio: bytes = b""  # TRANSCRIPTION calls
    audio_format: str = ""
    warm_up: bool = False  # only read the prompt into a local model's cache (Router.warm_up)


@dataclass
class Completion:
    """What one successful attempt produced."""

    text: str = ""
    embedding: list[float] | None = None
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class AttemptRecord:
    number: int
    provider: Provider
    status: str
    error_class: str = ""
    error: str = ""
    latency_ms: int = 0


@dataclass
class Reply:
    request_id: str
    decision: Decision
    provider: Provider
    completion: Completion
    cost: float
    latency_ms: int
    attempts: list[AttemptRecord] = field(default_factory=list)
    cached: bool = False  # answered from the response cache, not by a provider


@dataclass(frozen=True)
class RetrySettings:
    """How hard to try one provider before falling back. One quick retry: the policy chose
    this provider for a reason, but a healthy fallback beats seconds of backoff."""

    attempts_per_provider: int = 2
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    attempt_timeout_s: float = 60.0
    call_timeout_s: float = 180.0


def as_messages(prompt: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A prompt (one user message) or chat messages, as litellm takes them; a message with
    image URLs becomes a text part and one image part per URL."""
    if not messages:
        return [{"role": "user", "content": prompt}]
    shaped: list[dict[str, Any]] = []
    for m in messages:
        images = list(m.get("image_urls", ()))
        content: Any = str(m["content"])
        if images:
            content = [{"type": "text", "text": content}] + [
                {"type": "image_url", "image_url": {"url": url}} for url in images
            ]
        shaped.append({"role": str(m["role"]), "content": content})
    return shaped
