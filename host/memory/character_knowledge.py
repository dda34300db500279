"""A character's `knowledge` (texts, files, directories) learned as the agent's knowledge documents.

Done in the background when the agent starts: each source is added as `agenthost knowledge add`
would add it, so a source learned before (same bytes) is left as it is and a changed file replaces
its fragments. A source that cannot be read is logged and skipped; the rest are learned.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..agent.character import KnowledgeItem
from ..agent.media import DOCUMENT_SUFFIXES
from .knowledge import Knowledge, KnowledgeError

log = logging.getLogger("host.memory")

Source = tuple[str, Callable[[], bytes], str]  # (source name, how to read it, declared media type)


async def learn_character_knowledge(knowledge: Knowledge, items: Sequence[KnowledgeItem]) -> int:
    """Add every source of `items` to `knowledge`; how many were added or replaced (not unchanged)."""
    learned = 0
    for source, read, media_type in _sources(items):
        try:
            data = await asyncio.to_thread(read)
            _, outcome = await knowledge.add(source, data, media_type)
        except (OSError, KnowledgeError) as exc:
            log.warning("character knowledge %s not learned: %s", source, exc, extra={"agent_id": knowledge.agent_id})
            continue
        if outcome != "unchanged":
            learned += 1
            log.info("character knowledge %s %s", source, outcome, extra={"agent_id": knowledge.agent_id})
    return learned


def _sources(items: Sequence[KnowledgeItem]) -> Iterator[Source]:
    for item in items:
        if item.kind == "text":
            data = item.text.encode()
            name = "character text " + hashlib.sha256(data).hexdigest()[:16]
            yield name, functools.partial(bytes, data), "text/plain"
        elif item.path is not None and item.kind == "file":
            yield str(item.path), item.path.read_bytes, ""
        elif item.path is not None:
            for root, dirs, files in os.walk(item.path):
                dirs.sort()
                for file in sorted(files):
                    path = Path(root, file)
                    if path.suffix.lower() in DOCUMENT_SUFFIXES:
                        yield str(path), path.read_bytes, ""
