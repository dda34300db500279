"""Structured logging: six levels, text or JSON lines, and a ring buffer the API serves."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Iterator

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


@dataclass(frozen=True)
class LogRecord:
    """One log record as the API serves it."""

    time_ms: int
    level: str
    message: str
    logger: str
    plugin: str = ""
    agent_id: str = ""


def _to_record(record: logging.LogRecord) -> LogRecord:
    message = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    return LogRecord(
        time_ms=int(record.created * 1000),
        level=NAMES.get(record.levelno, record.levelname.lower()),
        message=message,
        logger=record.name,
        plugin=getattr(record, "plugin", ""),
        agent_id=getattr(record, "agent_id", ""),
    )


class _AgentIdFilter(logging.Filter):
    """Stamps every record with the host's agent id."""

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "agent_id", ""):
            record.agent_id = self.agent_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(asdict(_to_record(record)))


class TextFormatter(logging.Formatter):
    """Readable lines: time, level, [plugin], message."""

    def format(self, record: logging.LogRecord) -> str:
        r = _to_record(record)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        where = f"[{r.plugin}] " if r.plugin else ""
        return f"{stamp} {r.level.upper():5} {where}{r.message}"


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

    def tail(self, count: int, min_level: int = TRACE, plugin: str = "") -> list[LogRecord]:
        """The last `count` records at or above `min_level`, optionally of one plugin."""
        picked = [r for r in self.records if LEVELS.get(r.level, 0) >= min_level and (not plugin or r.plugin == plugin)]
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
