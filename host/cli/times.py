"""Times on the command line: `10m` (that long ago) or an ISO time."""

from __future__ import annotations

import datetime
import re

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time_ms(text: str, now_s: float) -> int:
    """Milliseconds since the epoch of `text`: a duration ago (`90s`, `10m`, `2h`, `1d`, `1w`) or
    an ISO 8601 time (`2026-12-01T17:05:00`, `...Z`, `...+01:00`; without a zone: local time).
    ValueError saying what is accepted otherwise."""
    cleaned = text.strip()
    ago = _AGO.match(cleaned.lower())
    if ago:
        return int((now_s - float(ago.group(1)) * _UNIT_S[ago.group(2)]) * 1000)
    try:
        when = datetime.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give a duration ago such as 30s, 10m, 2h, 1d, or an ISO time "
            "such as 2026-12-01T17:05:00 (local) or 2026-12-01T16:05:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time
    return int(when.timestamp() * 1000)
