"""What a file is: its media type from its first bytes, else from what it was declared as, else its name.

Bytes win over a declared type: a sender or a server that calls a PDF `text/plain`, or a page
`application/octet-stream`, is common; a PDF that starts like a PNG is not. Each type maps to the
kind of reading the host does with it: a document's text, an image's description, audio's
transcription.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

IMAGE, AUDIO, PDF, HTML, MARKDOWN, TEXT, UNKNOWN = "image", "audio", "pdf", "html", "markdown", "text", "unknown"
DOCUMENTS = frozenset({PDF, HTML, MARKDOWN, TEXT})
#: Files a directory of documents contributes (knowledge add, a character's knowledge directory).
DOCUMENT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".html", ".htm", ".pdf"})

# (offset, signature, media type): formats that say what they are in their first bytes.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (8, b"WEBP", "image/webp"),  # after "RIFF" and a length
    (8, b"WAVE", "audio/wav"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (4, b"ftypM4A", "audio/mp4"),
)
_MP3_FRAME = (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")

_BY_SUFFIX = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
}
_TEXT_APPLICATIONS = frozenset({"application/json", "application/xml", "application/x-yaml", "application/yaml"})
# An audio type's usual file suffix: what a transcription model is told the format is.
AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/webm": "webm",
}


@dataclass(frozen=True)
class MediaType:
    """A file's media type (`mime`, without parameters), its `charset` when one was declared,
    and the `kind` of reading it gets (IMAGE, AUDIO, PDF, HTML, MARKDOWN, TEXT or UNKNOWN)."""

    mime: str
    kind: str
    charset: str = ""


def sniff(data: bytes, declared: str = "", name: str = "") -> MediaType:
    """The media type of `data`: from its signature, else `declared` (a Content-Type value, the
    first non-empty one of those a caller has), else the suffix of `name` (a file name or URL
    path), else text when it looks like text."""
    mime, charset = parse_content_type(declared)
    found = _by_signature(data)
    if not found and mime in ("", "application/octet-stream", "binary/octet-stream"):
        found = _BY_SUFFIX.get(PurePosixPath(name).suffix.lower(), "")
        if not found and data and _looks_like_text(data):
            found = "text/plain"
    chosen = found or mime or "application/octet-stream"
    return MediaType(chosen, kind_of(chosen), charset)


def parse_content_type(value: str) -> tuple[str, str]:
    """A Content-Type value as (media type in lower case, charset or "")."""
    parts = [p.strip() for p in value.split(";")]
    charset = ""
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip('"').lower()
    return parts[0].lower(), charset


def kind_of(mime: str) -> str:
    """The kind of reading a media type gets."""
    if mime.startswith("image/"):
        return IMAGE
    if mime.startswith("audio/"):
        return AUDIO
    if mime == "application/pdf":
        return PDF
    if mime in ("text/html", "application/xhtml+xml"):
        return HTML
    if mime in ("text/markdown", "text/x-markdown"):
        return MARKDOWN
    if mime.startswith("text/") or mime in _TEXT_APPLICATIONS or mime.endswith(("+json", "+xml")):
        return TEXT
    return UNKNOWN


def _by_signature(data: bytes) -> str:
    for offset, signature, mime in _MAGIC:
        if data[offset : offset + len(signature)] == signature:
            if offset == 8 and data[:4] != b"RIFF":
                continue
            return mime
    if data[:2] in _MP3_FRAME:
        return "audio/mpeg"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_HTML_STARTS) or (head.startswith(b"<!--") and b"<html" in head):
        return "text/html"
    return ""


def _looks_like_text(data: bytes) -> bool:
    """No NUL byte and few control characters in the first 4 KiB: text in an 8-bit encoding or
    UTF-8 (UTF-16 starts with a byte-order mark, which the NUL test would otherwise refuse)."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls <= len(head) // 100
