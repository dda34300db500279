"""The OpenAI responses the HTTP face writes: chat completions, their streamed chunks as
server-sent events ending `data: [DONE]`, and usage. What agenthost adds rides in one documented
field, `agenthost` (run id, room, status, the actions the agent ran, cost, provider)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

DONE = b"data: [DONE]\n\n"
EXTRA = "agenthost"
"""The field agenthost adds to completions, chunks and model entries."""


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of the model calls behind a response (the router's ledger)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0

    def doc(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": total}


@dataclass(frozen=True)
class Reply:
    """One response being written: its id, model and creation time, the same in every chunk."""

    model: str
    id: str = ""
    created: int = 0

    @staticmethod
    def new(model: str) -> Reply:
        return Reply(model, f"chatcmpl-{uuid.uuid4().hex}", int(time.time()))

    def completion(self, text: str, usage: Usage, finish: str, extra: dict[str, Any]) -> dict[str, Any]:
        """A whole `chat.completion`."""
        message = {"role": "assistant", "content": text, "refusal": None}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage.doc(),
            EXTRA: {**extra, "cost": usage.cost, "model_calls": usage.calls},
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None) -> bytes:
        """One `chat.completion.chunk` as a server-sent event."""
        doc: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if extra is not None:
            doc[EXTRA] = extra
        return sse(doc)

    def usage_chunk(self, usage: Usage) -> bytes:
        """The last chunk when the request asked for `stream_options.include_usage`: no choices."""
        doc = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.doc(),
        }
        return sse(doc)


def sse(doc: dict[str, Any]) -> bytes:
    """One server-sent event carrying `doc` as JSON."""
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def model_entry(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """One entry of GET /v1/models."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "agenthost", EXTRA: {"kind": kind, **extra}}
