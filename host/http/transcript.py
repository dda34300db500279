"""What an agent said in one run, read from the run's events: the reply and the actions'
messages (the completion's content), the actions it ran, how the run ended; and, streamed, the
piece of text each event adds."""

from __future__ import annotations

from typing import Any

from ..agent.run import ACTION, REPLY_DELTA, REPLY_EVENT, RUN_ENDED, RUN_STARTED, RunEvent

SEPARATOR = "\n\n"
"""Between the messages the agent said in one run (its reply, then what its actions said)."""


class Transcript:
    """Takes a run's events in order. A retried reply (the model's first output did not parse)
    streams no more deltas: its text comes whole with REPLY, after what the first attempt
    streamed, which a stream cannot take back."""

    def __init__(self) -> None:
        self.run_id = ""
        self.room_id = ""
        self.said: list[str] = []
        self.actions: list[dict[str, Any]] = []
        self.outcome: dict[str, Any] = {}
        self._streamed = ""  # of the message being streamed
        self._attempt: Any = None  # the reply attempt being streamed
        self._before = False  # a message was said before the one being streamed

    @property
    def text(self) -> str:
        """The whole content: every message said, in order."""
        return SEPARATOR.join(self.said)

    @property
    def status(self) -> str:
        return str(self.outcome.get("status", ""))

    @property
    def replayed(self) -> bool:
        """Whether the run's events were replayed: its message was sent again (its id the same),
        and the run that handled it the first time answers (host/agent/replay.py)."""
        return self.outcome.get("replayed") is True

    def take(self, event: RunEvent) -> str:
        """Note `event`; the text it adds to the streamed content ("" for none)."""
        content, extra = event.content, event.content.extra or {}
        if event.type == RUN_STARTED:
            self.run_id, self.room_id = event.run_id, str(extra.get("room_id", ""))
        elif event.type == REPLY_DELTA:
            attempt = extra.get("attempt", 1)
            self._attempt = attempt if self._attempt is None else self._attempt
            if attempt == self._attempt and content.text:
                prefix = SEPARATOR if self._before and not self._streamed else ""
                self._streamed += content.text
                return prefix + content.text
        elif event.type == REPLY_EVENT:
            return self._said(content.text)
        elif event.type == ACTION:
            if "success" in extra:  # the action's result (the other ACTION events are its callbacks)
                name = content.actions[0] if content.actions else content.source
                self.actions.append(
                    {
                        "name": name,
                        "success": bool(extra["success"]),
                        "text": content.text,
                        "error": extra.get("error", ""),
                    }
                )
            if content.text:
                return self._said(content.text)
        elif event.type == RUN_ENDED:
            self.outcome = dict(extra)
        return ""

    def _said(self, text: str) -> str:
        """A whole message: what of it is not streamed yet."""
        if not text:
            return ""
        self.said.append(text)
        if self._streamed and text.startswith(self._streamed):
            rest = text[len(self._streamed) :]
        else:
            rest = (SEPARATOR if self._before or self._streamed else "") + text
        self._streamed, self._attempt, self._before = "", None, True
        return rest

    def extra(self) -> dict[str, Any]:
        """The completion's `agenthost` field: the run, its room, its status, whether it was
        replayed, the actions run and the components it went without."""
        doc: dict[str, Any] = {"run_id": self.run_id, "room_id": self.room_id, "status": self.status}
        doc["replayed"] = self.replayed
        doc["actions"] = self.actions
        if self.outcome.get("skipped"):  # components the run went without (status "degraded")
            doc["skipped"] = self.outcome["skipped"]
        if self.outcome.get("error") or self.outcome.get("reason"):
            doc["reason"] = self.outcome.get("error") or self.outcome.get("reason")
        return doc
