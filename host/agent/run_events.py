"""A run's events, kept after it ends so `agenthost run ID` can show what it did.

Kept in the store's cache table under the agent, one JSON list per run (the runs table has no
column for them yet); the run record itself (status, timings) is the store's runs table. The
reply's streamed pieces (REPLY_DELTA) are not kept: the REPLY event has the whole text.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from plugin_sdk.types import Attachment, Content

from ..store import Store
from .pipeline import RunEvent

_KEY = "run-events:"
_DELTA = "REPLY_DELTA"


async def keep_events(store: Store, agent_id: str, events: list[RunEvent]) -> None:
    """Keep a finished run's events (in order)."""
    docs = [{"type": e.type, "content": asdict(e.content)} for e in events if e.type != _DELTA]
    await store.cache_set(agent_id, _KEY + events[0].run_id, docs)


async def run_events(store: Store, agent_id: str, run_id: str) -> list[RunEvent]:
    """The events kept for a run, in order; [] when none were kept."""
    docs = await store.cache_get(agent_id, _KEY + run_id)
    if not isinstance(docs, list):
        return []
    return [RunEvent(run_id, str(d.get("type", "")), _content(d.get("content") or {})) for d in docs]


def _content(doc: dict[str, Any]) -> Content:
    return Content(
        text=str(doc.get("text", "")),
        actions=[str(a) for a in doc.get("actions", [])],
        source=str(doc.get("source", "")),
        thought=str(doc.get("thought", "")),
        attachments=[Attachment(**a) for a in doc.get("attachments", [])],
        extra=dict(doc.get("extra") or {}),
    )
