"""A run's events, kept after it ends so `agenthost run ID` can show what it did.

The pipeline keeps them with the run as it ends it (`Store.end_run`, the runs table's events
column), in the same store hop. The reply's streamed pieces (REPLY_DELTA) are not kept: the
REPLY event has the whole text.
"""

from __future__ import annotations

from typing import Any

from plugin_sdk.types import Attachment, Content

from ..store import RunRecord, Store
from .run import RunEvent


async def run_events(store: Store, agent_id: str, run_id: str) -> list[RunEvent]:
    """The events kept for a run, in order; [] when none were kept."""
    run = await store.get_run(agent_id, run_id)
    return stored_events(run) if run is not None else []


def stored_events(run: RunRecord) -> list[RunEvent]:
    """The events kept with `run`, in order; [] when none were kept."""
    docs: Any = run.events
    if not isinstance(docs, list):
        return []
    return [RunEvent(run.id, str(d.get("type", "")), _content(d.get("content") or {})) for d in docs]


def _content(doc: dict[str, Any]) -> Content:
    return Content(
        text=str(doc.get("text", "")),
        actions=[str(a) for a in doc.get("actions", [])],
        source=str(doc.get("source", "")),
        thought=str(doc.get("thought", "")),
        attachments=[Attachment(**a) for a in doc.get("attachments", [])],
        extra=dict(doc.get("extra") or {}),
    )
