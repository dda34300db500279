"""How attachments are fetched and read, and the config file's [attachments] table that sets it.

```toml
[attachments]
max_bytes = 10485760      # a fetched body over this is refused
timeout_s = 20            # the whole fetch, redirects included
allow_private = false     # loopback, private and link-local addresses (true on a trusted network only)
file_roots = ["shared"]   # directories whose files may be attached by path (relative to the config file)
max_pages = 200           # of a PDF
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .fetch import FetchPolicy

MAX_MEDIA_LIMIT = 3 * 1024 * 1024
"""The most max_media_bytes may be: base64 makes 4 bytes of 3, and a model call is one gRPC message (4 MiB)."""


@dataclass(frozen=True)
class AttachmentSettings:
    """How attachments are fetched and read."""

    #: Where URLs may be fetched from, how large and how slow they may be.
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    #: Characters of one document's text kept with the message (the rest is cut, and the event says so).
    max_text_chars: int = 100_000
    #: Characters of each attachment's text or description given to the model in the prompt.
    prompt_chars: int = 4_000
    #: The largest image or audio sent to a model (at most MAX_MEDIA_LIMIT).
    max_media_bytes: int = 2 * 1024 * 1024
    #: PDF pages read; later pages are left out (and the event says so).
    max_pages: int = 200
    #: Seconds reading one document's text may take (checked between PDF pages).
    read_timeout_s: float = 30.0
    #: Seconds an IMAGE_DESCRIPTION or TRANSCRIPTION call may take.
    model_timeout_s: float = 60.0
    #: Tokens an image description may have.
    description_tokens: int = 400
    #: Attachments of one message read at once.
    concurrency: int = 4
    #: What the image model is asked.
    image_prompt: str = "Describe this image for someone who cannot see it: what it shows, and any text in it."


_FETCH_KEYS = {f.name for f in fields(FetchPolicy)}
_STEP_KEYS = {f.name for f in fields(AttachmentSettings)} - {"fetch"}
# Each number's least value: 0 where zero means "none" makes sense, else 1.
_LEAST = {"max_redirects": 0, "max_text_chars": 0, "prompt_chars": 0}


def settings_from_table(entry: Any, base: Path) -> AttachmentSettings:
    """The [attachments] table as settings; paths are relative to `base` (the config file's folder).
    ValueError names the key that is wrong and what it should be."""
    if not isinstance(entry, dict):
        raise ValueError("[attachments] must be a table")
    unknown = set(entry) - _FETCH_KEYS - _STEP_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) in [attachments]: {', '.join(sorted(unknown))}")
    policy: dict[str, Any] = {}
    step: dict[str, Any] = {}
    for key, value in entry.items():
        (policy if key in _FETCH_KEYS else step)[key] = _value(key, value, base)
    if step.get("max_media_bytes", 0) > MAX_MEDIA_LIMIT:
        raise ValueError(f"[attachments] max_media_bytes can be at most {MAX_MEDIA_LIMIT} (a model call's message)")
    return replace(AttachmentSettings(**step), fetch=FetchPolicy(**policy))


def _value(key: str, value: Any, base: Path) -> Any:
    where = f"[attachments] {key}"
    if key == "allow_private":
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false")
        return value
    if key == "file_roots":
        if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            raise ValueError(f"{where} must be a list of directories")
        return tuple(base / v for v in value)
    if key == "ca_file":
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where} must be a file name")
        return base / value
    if key == "image_prompt":
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where} must be a non-empty string")
        return value
    least = _LEAST.get(key, 1)
    if key.endswith("_s"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{where} must be a number of seconds above 0; got {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{where} must be a whole number, at least {least}; got {value!r}")
    return value
