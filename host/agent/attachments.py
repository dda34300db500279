"""Pipeline step 4, attachments: what each attachment of a message holds, for the prompt and the store.

Documents (text, Markdown, HTML, PDF) give their text, images a description (the IMAGE_DESCRIPTION
model type), audio a transcription (TRANSCRIPTION). An attachment that already carries a text or a
description (the sender gave it) is used as it is. Each is read on its own, a few at a time: one
that cannot be fetched or read is skipped, with why, in an ATTACHMENT event and the run's skipped
list, and the run goes on. Results are cut to fit the message's size bound (plugin_sdk.limits), so
the message can still be handed to every plugin and stored.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from plugin_sdk.limits import MAX_MEMORY_BYTES
from plugin_sdk.types import Attachment, Content, Memory
from plugin_sdk.wire import memory_to_proto

from .attachment_settings import AttachmentSettings
from .documents import DocumentError, read_document_off_loop
from .fetch import FetchError, fetch, without_credentials
from .media import AUDIO, AUDIO_FORMATS, DOCUMENTS, IMAGE, parse_content_type, sniff
from .models import ModelError, Models

log = logging.getLogger(__name__)

ATTACHMENT = "ATTACHMENT"
GIVEN, READ, DESCRIBED, TRANSCRIBED, SKIPPED = "given", "read", "described", "transcribed", "skipped"
_SPARE_BYTES = 16 * 1024  # of the message's bound, left for metadata and field framing


class RunLog(Protocol):
    """The part of a pipeline run this step reports to."""

    id: str

    def event(self, kind: str, content: Content) -> None: ...
    def skip(self, kind: str, name: str, plugin: str, why: str) -> None: ...


@dataclass
class _Outcome:
    """What reading one attachment came to."""

    status: str
    mime: str = ""
    size: int = 0  # bytes fetched
    text: str = ""  # a document's text
    description: str = ""  # an image's description or audio's transcription
    note: str = ""  # what was left out
    error: str = ""  # why it was skipped
    served_by: str = ""


async def read_attachments(
    run: RunLog, message: Memory, models: Models, settings: AttachmentSettings = AttachmentSettings()
) -> None:
    """Fill in the `text` or `description` of each of the message's attachments (in place), and
    report each in an ATTACHMENT event; a skipped one is also noted with run.skip."""
    attachments = message.content.attachments
    if not attachments:
        return
    budget = MAX_MEMORY_BYTES - _SPARE_BYTES - memory_to_proto(message).ByteSize()
    gate = asyncio.Semaphore(settings.concurrency)

    async def timed(attachment: Attachment) -> tuple[_Outcome, int]:
        async with gate:
            started = time.monotonic()
            try:
                outcome = await _read(run.id, attachment, models, settings)
            except Exception as exc:  # a parser's surprise on a stranger's file skips that file, not the run
                log.exception("run %s: reading attachment %s failed", run.id, attachment.id or attachment.title)
                outcome = _Outcome(
                    SKIPPED, attachment.content_type, error=f"internal error: {type(exc).__name__}: {exc}"
                )
            return outcome, int((time.monotonic() - started) * 1000)

    results = await asyncio.gather(*(timed(a) for a in attachments))
    for index, (attachment, (outcome, duration_ms)) in enumerate(zip(attachments, results)):
        budget -= _keep(attachment, outcome, max(budget, 0))
        name = attachment.id or attachment.title or f"#{index + 1}"
        extra = {
            "index": index,
            "id": attachment.id,
            "status": outcome.status,
            "content_type": outcome.mime,
            "bytes": outcome.size,
            "chars": len(attachment.text or attachment.description),
            "note": outcome.note,
            "error": outcome.error,
            "served_by": outcome.served_by,
            "duration_ms": duration_ms,
        }
        run.event(ATTACHMENT, Content(text=outcome.description, source=name, extra=extra))
        if outcome.status == SKIPPED:
            run.skip("attachment", name, "", outcome.error)


def prompt_lines(attachments: list[Attachment], limit: int = AttachmentSettings.prompt_chars) -> list[str]:
    """A line per attachment for the model: what it is (title, URL, type), then its description and
    text, cut at `limit` characters."""
    lines = []
    for a in attachments:
        url = "" if not a.url or a.url.startswith("data:") else f"<{without_credentials(a.url)}>"
        about = " ".join(part for part in (a.title, url, a.content_type) if part)
        detail = "\n".join(part for part in (a.description, a.text) if part)
        if len(detail) > limit:
            detail = f"{detail[:limit]} [... cut: {len(detail)} characters in all]"
        lines.append(f"[attachment: {about or a.id or 'unnamed'}]" + (f" {detail}" if detail else ""))
    return lines


def _keep(attachment: Attachment, outcome: _Outcome, budget: int) -> int:
    """Put what was read on the attachment, within `budget` UTF-8 bytes; the bytes used."""
    if outcome.status in (GIVEN, SKIPPED):
        return 0
    if not attachment.content_type:
        attachment.content_type = outcome.mime
    used = 0
    for name in ("description", "text"):
        value: str = getattr(outcome, name)
        encoded = value.encode()
        if len(encoded) > budget - used:
            value = encoded[: max(budget - used, 0)].decode(errors="ignore")
            if not value:
                outcome.status, outcome.error = SKIPPED, "no room is left for it within the message's size bound"
                return used
            cut = f"cut to {len(value.encode())} of {len(encoded)} bytes to fit the message's size bound"
            outcome.note = f"{outcome.note}; {cut}" if outcome.note else cut
        setattr(attachment, name, value)
        used += len(value.encode())
    return used


async def _read(run_id: str, attachment: Attachment, models: Models, settings: AttachmentSettings) -> _Outcome:
    if attachment.text or attachment.description:
        return _Outcome(GIVEN, attachment.content_type)
    if not attachment.url:
        return _Outcome(SKIPPED, attachment.content_type, error="it has no URL, text or description to read")
    try:
        fetched = await fetch(attachment.url, settings.fetch)
    except FetchError as exc:
        return _Outcome(SKIPPED, attachment.content_type, error=str(exc))
    declared = next((t for t in (fetched.content_type, attachment.content_type) if _says_something(t)), "")
    media = sniff(fetched.data, declared, fetched.name)
    outcome = _Outcome(SKIPPED, media.mime, len(fetched.data))
    try:
        if media.kind in DOCUMENTS:
            return await _document(outcome, fetched.data, media.kind, media.charset, settings)
        if media.kind not in (IMAGE, AUDIO):
            outcome.error = f"{media.mime} is not a document, image or audio this host reads"
        elif len(fetched.data) > settings.max_media_bytes:
            outcome.error = (
                f"the {media.kind} is {len(fetched.data)} bytes, over the {settings.max_media_bytes} "
                "a model call can carry"
            )
        elif media.kind == IMAGE:
            params = _image_params(run_id, media.mime, fetched.data, settings)
            await _ask_model(outcome, "IMAGE_DESCRIPTION", params, models, settings)
        else:
            params = _audio_params(run_id, media.mime, fetched.data)
            await _ask_model(outcome, "TRANSCRIPTION", params, models, settings)
    except ModelError as exc:
        outcome.error = f"the model did not answer ({exc.code.name}): {exc}"
    except TimeoutError:
        outcome.error = f"the model did not answer within {settings.model_timeout_s:g} s"
    return outcome


def _says_something(content_type: str) -> bool:
    mime = parse_content_type(content_type)[0]
    return mime not in ("", "application/octet-stream", "binary/octet-stream")


async def _document(outcome: _Outcome, data: bytes, kind: str, charset: str, settings: AttachmentSettings) -> _Outcome:
    try:
        document = await read_document_off_loop(
            data, kind, charset, max_pages=settings.max_pages, timeout_s=settings.read_timeout_s
        )
    except DocumentError as exc:
        outcome.error = str(exc)
        return outcome
    text, notes = document.text, [document.note] if document.note else []
    if not text:
        outcome.error = "it holds no text" + (f" ({document.note})" if document.note else "")
        return outcome
    if len(text) > settings.max_text_chars:
        notes.append(f"cut to the first {settings.max_text_chars} of {len(text)} characters")
        text = text[: settings.max_text_chars]
    outcome.status, outcome.text, outcome.note = READ, text, "; ".join(notes)
    return outcome


def _image_params(run_id: str, mime: str, data: bytes, settings: AttachmentSettings) -> dict[str, Any]:
    image_url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return {
        "messages": [{"role": "user", "content": settings.image_prompt, "image_urls": [image_url]}],
        "max_tokens": settings.description_tokens,
        "task_id": run_id,
    }


def _audio_params(run_id: str, mime: str, data: bytes) -> dict[str, Any]:
    return {
        "audio": base64.b64encode(data).decode("ascii"),  # base64: model params travel as JSON-like values
        "audio_format": AUDIO_FORMATS.get(mime, mime.removeprefix("audio/")),
        "task_id": run_id,
    }


async def _ask_model(
    outcome: _Outcome, model_type: str, params: dict[str, Any], models: Models, settings: AttachmentSettings
) -> None:
    # Plugin model handlers are not given the timeout by Models.use: the step holds its own.
    output = await asyncio.wait_for(models.use(model_type, params, settings.model_timeout_s), settings.model_timeout_s)
    text = output.text.strip()
    if not text:
        outcome.error = f"the {model_type} model answered with no text"
        return
    outcome.status = DESCRIBED if model_type == "IMAGE_DESCRIPTION" else TRANSCRIBED
    outcome.description, outcome.served_by = text, output.served_by
