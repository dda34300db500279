"""A document's readable text: plain text, Markdown, HTML and PDF.

Shared by the pipeline's attachments and knowledge ingestion, so both read a file the same way.
Reading is CPU work: callers on the event loop use `read_document_off_loop`. It stops at
`max_pages` and, between pages, at `deadline`, returning what it has read with a note of what it
left out, so a huge or slow PDF costs a bounded time.

PDF text comes from pypdf: pure Python (no native library to build or ship), maintained, and it
handles the encodings, fonts and content streams real PDFs use, which hand-written parsing would
not.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from io import BytesIO

from .html_text import html_to_text_until
from .media import HTML, MARKDOWN, PDF, TEXT

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# Raw HTML a Markdown file may carry that a reader never sees.
_MARKDOWN_HIDDEN = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLANK_RUNS = re.compile(r"\n{3,}")
_pool: ThreadPoolExecutor | None = None  # made at first use, not at import


class DocumentError(ValueError):
    """The document cannot be read; the message says why (not a PDF, encrypted, no text layer...)."""


@dataclass(frozen=True)
class DocumentText:
    """What was read: the `text`, the `pages` read (PDF; 0 otherwise) and a `note` of what was
    left out ("" when nothing was)."""

    text: str
    pages: int = 0
    note: str = ""


def read_document(
    data: bytes, kind: str, charset: str = "", *, max_pages: int = 500, deadline: float | None = None
) -> DocumentText:
    """The readable text of `data`, a document of `kind` (media.PDF, HTML, MARKDOWN or TEXT);
    `charset` is the declared one, if any. `deadline` is a time.monotonic() value."""
    if kind == PDF:
        return _pdf_text(data, max_pages, deadline)
    if kind == HTML:
        html = decode_text(data, charset or _meta_charset(data))
        text, parsed = html_to_text_until(html, deadline)
        note = "" if parsed == len(html) else f"the first {parsed} of {len(html)} characters read (the time limit)"
        return DocumentText(text, note=note)
    if kind == MARKDOWN:
        return DocumentText(markdown_text(decode_text(data, charset)))
    if kind == TEXT:
        return DocumentText(_tidy(decode_text(data, charset)))
    raise DocumentError(f"{kind} is not a document kind this host reads (text, Markdown, HTML or PDF)")


async def read_document_off_loop(
    data: bytes, kind: str, charset: str = "", *, max_pages: int = 500, timeout_s: float = 30.0
) -> DocumentText:
    """read_document in a thread of a small pool of its own, for callers on the event loop: a slow
    document (the deadline is checked between PDF pages, so one page can overrun it) never holds
    the threads that DNS look-ups and other to_thread work share. Past `timeout_s` and a second's
    grace, DocumentError (the thread finishes its page in the background)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="documents")
    read = partial(read_document, data, kind, charset, max_pages=max_pages, deadline=time.monotonic() + timeout_s)
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_pool, read), timeout_s + 1.0)
    except TimeoutError:
        raise DocumentError(f"reading it took longer than {timeout_s:g} s") from None


def decode_text(data: bytes, charset: str = "") -> str:
    """`data` as text: by its byte-order mark, else its declared `charset`, else UTF-8, else
    Windows-1252 (what browsers assume of unlabelled legacy text); never fails."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if charset:
        try:
            return data.decode(charset, errors="replace")
        except LookupError:
            pass  # an unknown charset name: guess as if none was given
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def markdown_text(markdown: str) -> str:
    """Markdown as it is (a model reads it well), less the raw HTML a reader never sees:
    comments, scripts and styles."""
    return _tidy(_MARKDOWN_HIDDEN.sub("", markdown))


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _meta_charset(data: bytes) -> str:
    found = _META_CHARSET.search(data[:2048])
    return found.group(1).decode("ascii").lower() if found else ""


def _pdf_text(data: bytes, max_pages: int, deadline: float | None) -> DocumentText:
    from pypdf import PdfReader  # imported when first needed: the host starts without it
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about sloppy files are not ours to log
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("the PDF is encrypted with a password")
        total = len(reader.pages)
        if not total:
            raise DocumentError("the PDF has no pages")
        texts: list[str] = []
        for index, page in enumerate(reader.pages):
            if index >= max_pages:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            texts.append(_tidy(page.extract_text() or ""))
    except FileNotDecryptedError:
        raise DocumentError("the PDF is encrypted with a password") from None
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        # pypdf raises a variety of errors on a damaged file; each means the same here.
        raise DocumentError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(t for t in texts if t)
    if not text and texts:
        raise DocumentError("the PDF has no text layer (a scanned document?); no text to read")
    note = ""
    if len(texts) < total:
        why = f"the limit of {max_pages} pages" if len(texts) >= max_pages else "the time limit"
        left = f"page {total}" if len(texts) + 1 == total else f"pages {len(texts) + 1}-{total}"
        note = f"{left} of {total} not read ({why})"
    return DocumentText(text, pages=len(texts), note=note)
