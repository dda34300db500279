"""Structured logging: six levels, text or JSON lines, and a ring buffer the API serves.

Every record carries its time, level, message, agent, plugin and run (the run the logging task
works for, from LOG_SCOPE); secrets are redacted from messages before any handler sees them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import sys
import threading
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}
NAMES = {number: name for name, number in LEVELS.items()}


def level_number(name: str) -> int:
    """The logging level for one of trace, debug, info, warn, error, fatal."""
    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}") from None


#: (agent id, run id) of the run the current task works for; the pipeline sets it in each run's
#: task, and tasks it starts inherit it, so their records name the run too. Plugin calls made
#: in it carry it to the plugin, whose log lines then name the run (PROTOCOL.md §10, Log scope).
LOG_SCOPE: ContextVar[tuple[str, str]] = ContextVar("agenthost_log_scope", default=("", ""))

REDACTED = "***"
_MIN_SECRET = 4  # shorter configured values are not redacted: they would blank ordinary words
# Keys and tokens by their shape, each found by a word in it (matched in the lowercased text; the
# text before the first group is kept, the rest blanked): OpenAI-style keys (sk-..., sk-proj-...),
# Authorization headers, bearer credentials, and key=value / "key": "value" pairs whose key names
# a secret. One pattern a shape: a single alternation of them all is ten times slower.
_SHAPES = (  # (the word, whether it must start a word, the pattern)
    ("sk-", True, re.compile(r"(sk-)[a-z0-9_\-]{8,}")),
    (
        "authorization",
        False,
        re.compile(r"(authorization[\"']?\s*[:=,]\s*[\"'(]*\s*)(?:(?:bearer|basic|token)\s+)?[^\s\"',)]+"),
    ),
    ("bearer", True, re.compile(r"(bearer\s+)[a-z0-9._~+/\-]{6,}=*")),
    ("key", False, re.compile(r"(api[_\-]?key\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{4,}")),
    ("secret", False, re.compile(r"(secret\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{4,}")),
    ("passw", False, re.compile(r"(passw(?:or)?d\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{4,}")),
    ("token", False, re.compile(r"(token\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{4,}")),
)


def _blank_shapes(text: str) -> str:
    """`text` with the values of the shapes above blanked."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lowercase to two: find in the text itself
        lowered = text
    spans = []
    for word, starts_word, pattern in _SHAPES:
        if word in lowered:  # a pattern beginning with a literal is found fast; one with \b is not
            spans += [
                (m.end(1), m.end())
                for m in pattern.finditer(lowered)
                if not (starts_word and m.start() and lowered[m.start() - 1].isalnum())
            ]
    if not spans:
        return text
    parts, at = [], 0
    for start, end in sorted(spans):
        if start >= at:
            parts += [text[at:start], REDACTED]
            at = end
        elif end > at:  # overlapping: blank the longer stretch
            at = end
    return "".join(parts) + text[at:]


class Redactor:
    """Blanks secrets in log text: the values it is given (the API token, the config's and the
    characters' secrets) and keys, tokens and Authorization headers recognised by their shape."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        """Redact these values wherever they appear (ones shorter than 4 characters are left)."""
        self._values |= {v for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_SECRET}
        longest_first = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if longest_first else None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return _blank_shapes(text)


#: The process's redactor: the host adds its secrets to it as it starts (`redact_values`).
redact = Redactor()


def redact_values(values: Iterable[str]) -> None:
    """Have every log record from now on hide these values."""
    redact.add(values)


@dataclass(frozen=True)
class LogRecord:
    """One log record as the API serves it (its message redacted)."""

    time_ms: int
    level: str
    message: str
    logger: str
    plugin: str = ""
    agent_id: str = ""
    run_id: str = ""


def _to_record(record: logging.LogRecord) -> LogRecord:
    message = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    scope_agent, scope_run = LOG_SCOPE.get()
    return LogRecord(
        time_ms=int(record.created * 1000),
        level=NAMES.get(record.levelno, record.levelname.lower()),
        message=redact(message),
        logger=record.name,
        plugin=getattr(record, "plugin", ""),
        agent_id=getattr(record, "agent_id", "") or scope_agent,
        run_id=getattr(record, "run_id", "") or scope_run,
    )


class _AgentIdFilter(logging.Filter):
    """Stamps every record with the host's agent id."""

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "agent_id", ""):
            record.agent_id = LOG_SCOPE.get()[0] or self.agent_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(asdict(_to_record(record)))


class TextFormatter(logging.Formatter):
    """Readable lines: time, level, [plugin], message."""

    def format(self, record: logging.LogRecord) -> str:
        return text_line(_to_record(record))


def text_line(r: LogRecord) -> str:
    """A record as a readable line: time, level, [plugin], (run), message."""
    stamp = time.strftime("%H:%M:%S", time.localtime(r.time_ms / 1000))
    where = f"[{r.plugin}] " if r.plugin else ""
    run = f"(run {r.run_id[:8]}) " if r.run_id else ""
    return f"{stamp} {r.level.upper():5} {where}{run}{r.message}"


@dataclass(frozen=True)
class LogQuery:
    """Which records a reader wants; an empty field selects every record."""

    min_level: int = TRACE
    plugin: str = ""
    agent_ids: frozenset[str] = frozenset()  # records of any of these agents
    run_id: str = ""  # a run's id, or the start of one (text lines show 8 characters)
    since_ms: int = 0  # records at or after this time (ms since the epoch)
    until_ms: int = 0  # records at or before this time

    def matches(self, r: LogRecord) -> bool:
        return (
            LEVELS.get(r.level, 0) >= self.min_level
            and (not self.plugin or r.plugin == self.plugin)
            and (not self.agent_ids or r.agent_id in self.agent_ids)
            and (not self.run_id or r.run_id.startswith(self.run_id))
            and r.time_ms >= self.since_ms
            and (not self.until_ms or r.time_ms <= self.until_ms)
        )


class LogFollower:
    """New records for one reader (GetLogs with follow). A reader that falls behind loses
    its own oldest records, never the host's time: `emit` only appends to a bounded deque
    and wakes the reader once per batch, from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self._loop = loop
        self._pending: collections.deque[LogRecord] = collections.deque()
        self._capacity = capacity
        self._dropped = 0
        self._lock = threading.Lock()
        self._ready = asyncio.Event()
        self._woken = False

    def push(self, record: LogRecord) -> None:
        with self._lock:
            if len(self._pending) >= self._capacity:
                self._pending.popleft()
                self._dropped += 1
            self._pending.append(record)
            if self._woken:
                return
            self._woken = True
        self._loop.call_soon_threadsafe(self._ready.set)

    async def batch(self) -> tuple[list[LogRecord], int]:
        """Wait for new records; returns them and how many were dropped before them."""
        await self._ready.wait()
        with self._lock:
            records, dropped = list(self._pending), self._dropped
            self._pending.clear()
            self._dropped = 0
            self._woken = False
            self._ready.clear()
        return records, dropped


class LogBuffer(logging.Handler):
    """Keeps the most recent records and feeds followers (GetLogs with follow)."""

    def __init__(self, capacity: int = 5000, follower_capacity: int = 2000) -> None:
        super().__init__(level=TRACE)
        self.records: collections.deque[LogRecord] = collections.deque(maxlen=capacity)
        self.follower_capacity = follower_capacity
        self._followers: set[LogFollower] = set()

    def emit(self, record: logging.LogRecord) -> None:
        entry = _to_record(record)
        self.records.append(entry)
        for follower in list(self._followers):
            follower.push(entry)

    def tail(self, count: int, query: LogQuery | None = None, plugin: str = "") -> list[LogRecord]:
        """The last `count` records that `query` selects (all of them without one), or of `plugin`."""
        query = query or (LogQuery(plugin=plugin) if plugin else None)
        picked = [r for r in self.records if query is None or query.matches(r)]
        return picked[-count:]

    @contextlib.contextmanager
    def follow(self) -> Iterator[LogFollower]:
        """A follower of new records while the context lasts."""
        follower = LogFollower(asyncio.get_running_loop(), self.follower_capacity)
        self._followers.add(follower)
        try:
            yield follower
        finally:
            self._followers.discard(follower)


def dropped_notice(count: int) -> LogRecord:
    """The record a follower gets in place of records it was too slow to read."""
    return LogRecord(
        time_ms=int(time.time() * 1000),
        level="warn",
        message=f"{count} log record(s) dropped: this reader fell behind",
        logger=__name__,
    )


def setup_logging(level: str, as_json: bool, agent_id: str) -> LogBuffer:
    """Configure the root logger for the host process; returns the buffer the API reads."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level_number(level))
    console.setFormatter(JsonFormatter() if as_json else TextFormatter())
    buffer = LogBuffer()
    agent_filter = _AgentIdFilter(agent_id)
    for handler in (console, buffer):
        handler.addFilter(agent_filter)
    root.addHandler(console)
    attach(buffer)
    return buffer


def attach(handler: logging.Handler) -> None:
    """Send every record at TRACE and up to `handler`, quieting libraries' debug chatter."""
    root = logging.getLogger()
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(TRACE)
    for noisy in ("asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def plugin_logger(plugin: str) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose records carry the plugin's name."""
    return logging.LoggerAdapter(logging.getLogger(f"plugin.{plugin}"), {"plugin": plugin})
