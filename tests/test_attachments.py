"""Pipeline step 4, attachments, through a real host: real plugin processes for the chat model
(tests/chat_plugin.py) and the image and audio models (tests/attachment_model_plugin.py), a real
local HTTP server for URLs (tests/attachment_server.py), real PDF, HTML and Markdown files."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from attachment_server import AttachmentServer
from pdf_fixture import make_pdf
from support import api_channel

from host.agent.attachment_settings import AttachmentSettings
from host.agent.attachments import ATTACHMENT, prompt_lines, read_attachments
from host.agent.fetch import FetchPolicy
from host.agent.pipeline import Run, RunEvent
from host.host import Host
from plugin_sdk import PluginSpec
from plugin_sdk.limits import MAX_MEMORY_BYTES
from plugin_sdk.types import Attachment, Content, Memory
from plugin_sdk.wire import memory_to_proto, struct_to_dict

HERE = Path(__file__).parent
CHAT = PluginSpec(name="chat", version="1.0.0", command=(sys.executable, str(HERE / "chat_plugin.py")))
EYES = PluginSpec(name="eyes", version="1.0.0", command=(sys.executable, str(HERE / "attachment_model_plugin.py")))

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24
PAGE = b"<html><head><script>steal()</script><style>p{}</style></head><body><h1>Menu</h1><p>Soup &amp; bread</p>"
LOCAL = AttachmentSettings(fetch=FetchPolicy(allow_private=True))


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def server() -> Iterator[AttachmentServer]:
    with AttachmentServer() as running:
        yield running


async def send(host: Host, *attachments: types_pb2.Attachment, text: str = "") -> list[dict[str, Any]]:
    request = agent_pb2.SendMessageRequest(
        room_id="room-1", entity_id="user-1", content=types_pb2.Content(text=text, attachments=attachments)
    )
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return [
            {
                "event": e.event_type,
                "text": e.content.text,
                "source": e.content.source,
                **struct_to_dict(e.content.extra),
            }
            async for e in stub.SendMessage(request, timeout=60)
        ]


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


async def read(
    host: Host, *attachments: Attachment, settings: AttachmentSettings = LOCAL
) -> tuple[Memory, Run, list[dict[str, Any]]]:
    """Run the step alone on a message with these attachments, with the host's real model calls:
    the message, the run (its skipped list) and its ATTACHMENT events' extras."""
    message = Memory(content=Content(text="see attached", attachments=list(attachments)))
    events: list[RunEvent] = []
    run = Run("run-1", events.append)
    await read_attachments(run, message, host.models, settings)
    assert all(event.type == ATTACHMENT for event in events)
    return message, run, [event.content.extra for event in events]


async def test_documents_give_their_text_to_the_prompt_and_the_events(start_host: Any) -> None:
    host = await start_host(CHAT, EYES)
    events = await send(
        host,
        types_pb2.Attachment(id="pdf", title="report", url=data_url(make_pdf(["Sales rose 4%"]), "application/pdf")),
        types_pb2.Attachment(id="html", url=data_url(PAGE, "text/html")),
        types_pb2.Attachment(id="md", url="data:text/markdown,%23 Plan%0A<!-- hidden -->Ship it"),
        text="what do these say?",
    )
    assert [e["event"] for e in events][:4] == ["RUN_STARTED", "ATTACHMENT", "ATTACHMENT", "ATTACHMENT"]
    read = of(events, "ATTACHMENT")
    assert [(e["id"], e["status"], e["content_type"], e["error"]) for e in read] == [
        ("pdf", "read", "application/pdf", ""),
        ("html", "read", "text/html", ""),
        ("md", "read", "text/markdown", ""),
    ]
    assert [e["chars"] for e in read] == [len("Sales rose 4%"), len("Menu\n\nSoup & bread"), len("# Plan\nShip it")]
    reply = of(events, "REPLY")[0]["text"]
    assert reply.startswith(
        "echo: what do these say?\n"
        "[attachment: report application/pdf] Sales rose 4%\n"
        "[attachment: text/html] Menu\n\nSoup & bread\n"
        "[attachment: text/markdown] # Plan\nShip it | turns=0"
    )
    assert "steal" not in reply and "base64" not in reply  # no script, and no data: URL in the prompt
    assert of(events, "RUN_ENDED")[0]["status"] == "completed"


async def test_an_image_is_described_and_audio_transcribed_by_their_model_types(start_host: Any) -> None:
    host = await start_host(CHAT, EYES)
    events = await send(
        host,
        types_pb2.Attachment(id="photo", url=data_url(PNG, "application/octet-stream")),
        types_pb2.Attachment(id="voice", url=data_url(WAV, "audio/wav")),
    )
    image, audio = of(events, "ATTACHMENT")
    assert (image["status"], image["content_type"], image["served_by"]) == ("described", "image/png", "eyes")
    assert image["text"] == f"a image/png image of {len(PNG)} bytes starting 89504e47 (asked: Describe)"
    assert (audio["status"], audio["text"]) == ("transcribed", f"heard {len(WAV)} bytes of wav")
    reply = of(events, "REPLY")[0]["text"]
    assert f"[attachment: image/png] {image['text']}\n[attachment: audio/wav] {audio['text']}" in reply


async def test_a_failing_attachment_is_skipped_with_why_and_the_run_goes_on(
    start_host: Any, server: AttachmentServer
) -> None:
    host = await start_host(CHAT, EYES)
    events = await send(
        host,
        types_pb2.Attachment(id="broken", url=data_url(PNG + b"FAIL", "image/png")),
        types_pb2.Attachment(id="local", url=server.url("/page.html")),
        types_pb2.Attachment(id="zip", url=data_url(b"PK\x03\x04" + bytes(30), "application/zip")),
        types_pb2.Attachment(id="nothing"),
        types_pb2.Attachment(id="given", url=server.url("/report.pdf"), text="the sender's own summary"),
        text="look",
    )
    read = {e["id"]: e for e in of(events, "ATTACHMENT")}
    assert read["broken"]["status"] == "skipped"
    assert read["broken"]["error"].startswith("the model did not answer (")
    assert "the scripted model cannot read this" in read["broken"]["error"]
    assert read["local"]["error"].endswith(
        "attachments are fetched from public addresses only unless [attachments] allow_private is set"
    )
    assert read["zip"]["error"] == "application/zip is not a document, image or audio this host reads"
    assert read["nothing"]["error"] == "it has no URL, text or description to read"
    assert read["given"]["status"] == "given"
    assert server.requests == []  # neither the refused URL nor the one whose text was given was fetched

    assert of(events, "REPLY")[0]["text"].startswith("echo: look\n")
    ended = of(events, "RUN_ENDED")[0]
    assert ended["status"] == "degraded"
    assert [(s["kind"], s["name"]) for s in ended["skipped"]] == [
        ("attachment", "broken"),
        ("attachment", "local"),
        ("attachment", "zip"),
        ("attachment", "nothing"),
    ]


async def test_urls_are_fetched_sniffed_and_read_within_their_limits(start_host: Any, server: AttachmentServer) -> None:
    host = await start_host(CHAT, EYES)
    message, run, extras = await read(
        host,
        Attachment(id="pdf", url=server.url("/report.pdf")),
        Attachment(id="md", url=server.url("/notes.md")),  # served as octet-stream: told by its name
        Attachment(id="missing", url=server.url("/missing")),
        Attachment(id="big", url=server.url("/big")),
        settings=AttachmentSettings(fetch=FetchPolicy(allow_private=True, max_bytes=8192)),
    )
    pdf, md, missing, big = message.content.attachments
    assert (pdf.text, pdf.content_type) == ("Quarterly sales rose 4%", "application/pdf")
    assert (md.text, md.content_type) == ("# Notes\n\nThe *plan* is ready.", "text/markdown")
    assert missing.text == big.text == ""
    statuses = [(e["id"], e["status"], e["bytes"]) for e in extras]
    assert statuses[:2] == [("pdf", "read", len(make_pdf(["Quarterly sales rose 4%"]))), ("md", "read", 29)]
    assert extras[2]["error"].endswith("/missing' answered HTTP 404 Not Found")
    assert "over the limit of 8192 bytes" in extras[3]["error"]
    assert [s["name"] for s in run.skipped] == ["missing", "big"]


async def test_a_slow_fetch_and_a_slow_model_are_cut_off(start_host: Any, server: AttachmentServer) -> None:
    host = await start_host(CHAT, EYES)
    settings = AttachmentSettings(fetch=FetchPolicy(allow_private=True, timeout_s=0.5), model_timeout_s=0.5)
    _, _, extras = await read(
        host,
        Attachment(id="slow-url", url=server.url("/slow")),
        Attachment(id="slow-model", url=data_url(PNG + b"SLOW", "image/png")),
        settings=settings,
    )
    slow_url, slow_model = extras
    assert "took longer than the 0.5 s a fetch may take" in slow_url["error"]
    assert slow_model["error"] == "the model did not answer within 0.5 s"


async def test_long_documents_and_large_media_are_cut_to_their_bounds(start_host: Any) -> None:
    host = await start_host(CHAT, EYES)
    pdf = make_pdf([f"page {n}" for n in range(1, 5)])
    long_text = "word " * 300_000  # 1.5 MB of text: over the message's bound with anything else
    message, run, extras = await read(
        host,
        Attachment(id="pdf", url=data_url(pdf, "application/pdf")),
        Attachment(id="long", url=data_url(long_text.encode()[:200_000], "text/plain")),
        Attachment(id="huge", url="data:text/plain," + "y" * 700_000),
        Attachment(id="late", url="data:text/plain,late%20words"),  # nothing left for it
        Attachment(id="photo", url=data_url(PNG + bytes(5000), "image/png")),
        settings=AttachmentSettings(max_pages=2, max_text_chars=50_000, max_media_bytes=1000),
    )
    pdf_event, long_event, huge_event, late_event, photo_event = extras
    assert message.content.attachments[0].text == "page 1\n\npage 2"
    assert pdf_event["note"] == "pages 3-4 of 4 not read (the limit of 2 pages)"
    assert len(message.content.attachments[1].text) == 50_000
    assert long_event["note"] == "cut to the first 50000 of 199999 characters"
    # The message carries the 700 kB data: URL itself: only what is left of its 1 MiB bound is kept.
    assert huge_event["note"].startswith("cut to the first 50000 of 700000 characters; cut to ")
    assert huge_event["note"].endswith("bytes to fit the message's size bound")
    assert (late_event["status"], late_event["error"]) == (
        "skipped",
        "no room is left for it within the message's size bound",
    )
    assert message.content.attachments[3].text == ""
    assert memory_to_proto(message).ByteSize() <= MAX_MEMORY_BYTES
    assert photo_event["error"] == f"the image is {len(PNG) + 5000} bytes, over the 1000 a model call can carry"


def test_the_prompt_names_each_attachment_without_credentials_or_data_and_cuts_long_text() -> None:
    lines = prompt_lines(
        [
            Attachment(title="menu", url="https://user:pw@example.org/menu.pdf", content_type="application/pdf"),
            Attachment(url="data:image/png;base64,AAAA", content_type="image/png", description="a cat"),
            Attachment(id="a3", text="x" * 50),
        ],
        limit=10,
    )
    assert lines == [
        "[attachment: menu <https://example.org/menu.pdf> application/pdf]",
        "[attachment: image/png] a cat",
        "[attachment: a3] xxxxxxxxxx [... cut: 50 characters in all]",
    ]
