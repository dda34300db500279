"""Answers to deterministic calls, kept for a while so the same call is not paid for twice.

A call is deterministic when it asks for temperature 0, or is an embedding (the same text always
embeds to the same vector). Its key is a SHA-256 of what decides the answer: the model type,
the messages (images included), the quality, confidentiality, output bound and grammar, and
the audio of a transcription. Who asks (agent, task, user) is not part of it: the same request
gets the same answer whoever sends it. A confidential call only ever finds answers made for
confidential calls (the flag is in the key), so a local model's answer never reaches a call that
was routed elsewhere, nor the other way round.

Entries live `ttl_s` seconds and at most `max_entries` are kept, least recently used first out.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from .requests import CallRequest, Reply

DEFAULT_MAX_ENTRIES = 1000
DEFAULT_TTL_S = 600.0


@dataclass(frozen=True)
class CacheStats:
    """What the cache has done since the router started, and what it holds now."""

    hits: int
    misses: int
    entries: int
    max_entries: int
    ttl_s: float

    @property
    def hit_rate(self) -> float:
        """Hits over lookups; 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def cache_key(request: CallRequest) -> str | None:
    """The request's key, or None when its answer may differ from one call to the next."""
    if request.model_type != "TEXT_EMBEDDING" and request.temperature != 0:
        return None
    decisive = {
        "model_type": request.model_type,
        "messages": request.messages,
        "quality": request.quality,
        "confidential": request.confidential,
        "max_output_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "grammar": request.grammar,
        "audio": hashlib.sha256(request.audio).hexdigest() if request.audio else "",
        "audio_format": request.audio_format,
    }
    canonical = json.dumps(decisive, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """An LRU of replies with an expiry; `max_entries` 0 keeps nothing (the cache is off)."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or ttl_s < 0:
            raise ValueError(f"a response cache needs max_entries >= 0 and ttl_s >= 0, got {max_entries}, {ttl_s}")
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Reply]] = OrderedDict()
        self._hits = self._misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl_s > 0

    def get(self, key: str) -> Reply | None:
        """The reply stored under `key` if it has not expired (counted as a hit or a miss)."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry[0]:
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[1]
        if entry is not None:
            del self._entries[key]
        self._misses += 1
        return None

    def put(self, key: str, reply: Reply) -> None:
        """Keep `reply` under `key` for ttl_s, making room by dropping the least recently used."""
        if not self.enabled:
            return
        self._entries[key] = (self._clock() + self.ttl_s, reply)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def stats(self) -> CacheStats:
        return CacheStats(self._hits, self._misses, len(self._entries), self.max_entries, self.ttl_s)
