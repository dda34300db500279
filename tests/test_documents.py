"""Documents to text (host/agent/documents.py, html_text.py) and what a file is (media.py), on real files."""

from __future__ import annotations

import time
from io import BytesIO

import pytest
from pdf_fixture import make_pdf
from pypdf import PdfReader, PdfWriter

from host.agent.documents import DocumentError, decode_text, read_document, read_document_off_loop
from host.agent.html_text import html_to_text
from host.agent.media import AUDIO, HTML, IMAGE, MARKDOWN, PDF, TEXT, UNKNOWN, sniff

PAGE = """<!DOCTYPE html>
<html><head><title>Quarterly &amp; Report</title>
<style>body { color: red }</style>
<script>document.write("<p>written by a script</p>"); var x = 1 < 2;</script>
</head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Sales   up</h1>
<p>Revenue grew <b>4%</b>
   in Q3.<!-- internal: do not publish --></p>
<ul><li>North</li><li>South <em>(new)</em></li></ul>
<table><tr><th>Region</th><th>Growth</th></tr><tr><td>North</td><td>5%</td></tr></table>
<noscript>Turn on JavaScript</noscript>
<svg><title>chart</title><text>42</text></svg>
<pre>  a = 1
    b = 2</pre>
<img src="c.png" alt="A rising chart"><script src="x.js"></script>
<p>Caf&eacute; &#8212; end</p>
</body></html>
"""


def test_html_gives_the_visible_text_in_reading_order_without_scripts_styles_or_comments() -> None:
    assert html_to_text(PAGE) == "\n".join(
        [
            "Quarterly & Report",
            "",
            "Home",
            "",
            "Sales up",
            "",
            "Revenue grew 4% in Q3.",
            "",
            "- North",
            "- South (new)",
            "",
            "Region | Growth",
            "North | 5%",
            "",
            "  a = 1",
            "    b = 2",
            "",
            "[image: A rising chart]",
            "",
            "Café — end",
        ]
    )


def test_html_fragments_and_broken_markup_still_give_their_text() -> None:
    assert html_to_text("just <b>bold</b> text") == "just bold text"
    assert html_to_text("<p>open<div>never closed") == "open\nnever closed"
    assert html_to_text("<script>never closed <p>hidden") == ""
    assert html_to_text("<noscript><svg>unclosed</noscript>shown") == "shown"


def test_an_html_document_is_decoded_by_its_meta_charset() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body>Stra\xdfe</body></html>'.encode("latin-1")
    assert read_document(page, HTML).text == "Straße"
    assert read_document(page, HTML, charset="utf-8").text == "Stra\ufffde"  # a declared charset wins


def test_markdown_stays_markdown_without_the_html_a_reader_never_sees() -> None:
    source = (
        "# Title\r\n\r\nSome *text* with [a link](https://example.org).\r\n"
        "<!-- a comment -->\n<script>alert('x')</script>\n<STYLE type='x'>p {}</style>\n\n\n\n- item\n"
    )
    assert read_document(source.encode(), MARKDOWN).text == (
        "# Title\n\nSome *text* with [a link](https://example.org).\n\n- item"
    )


def test_text_is_decoded_by_bom_then_charset_then_utf8_then_windows_1252() -> None:
    assert decode_text("héllo".encode("utf-16")) == "héllo"
    assert decode_text("héllo".encode("utf-8-sig")) == "héllo"
    assert decode_text("héllo".encode("latin-1"), "latin-1") == "héllo"
    assert decode_text("héllo".encode("utf-8")) == "héllo"
    assert decode_text("“quoted”".encode("cp1252")) == "“quoted”"
    assert decode_text(b"x", "no-such-charset") == "x"
    assert read_document(b"a\r\nb\n\n\n\nc\x00", TEXT).text == "a\nb\n\nc"


def test_a_pdf_gives_the_text_of_its_pages() -> None:
    read = read_document(make_pdf(["Hello (PDF) world", "Second page"]), PDF)
    assert (read.text, read.pages, read.note) == ("Hello (PDF) world\n\nSecond page", 2, "")


def test_a_long_pdf_is_read_up_to_max_pages_and_says_what_it_left_out() -> None:
    read = read_document(make_pdf([f"page {n}" for n in range(1, 6)]), PDF, max_pages=2)
    assert (read.text, read.pages, read.note) == (
        "page 1\n\npage 2",
        2,
        "pages 3-5 of 5 not read (the limit of 2 pages)",
    )


def test_a_pdf_past_its_deadline_stops_between_pages() -> None:
    read = read_document(make_pdf(["one", "two"]), PDF, deadline=time.monotonic() - 1)
    assert (read.text, read.note) == ("", "pages 1-2 of 2 not read (the time limit)")


def test_broken_encrypted_and_textless_pdfs_are_clear_errors() -> None:
    with pytest.raises(DocumentError, match=r"^not a readable PDF \("):
        read_document(b"%PDF-1.4\nthis is not really a PDF", PDF)
    with pytest.raises(DocumentError, match=r"^not a readable PDF \("):
        read_document(make_pdf(["cut short"])[:150], PDF)

    writer = PdfWriter(clone_from=PdfReader(BytesIO(make_pdf(["secret"]))))
    writer.encrypt("password", algorithm="RC4-128")
    locked = BytesIO()
    writer.write(locked)
    with pytest.raises(DocumentError, match="^the PDF is encrypted with a password$"):
        read_document(locked.getvalue(), PDF)

    blank = PdfWriter()
    blank.add_blank_page(612, 792)
    scanned = BytesIO()
    blank.write(scanned)
    with pytest.raises(DocumentError, match="no text layer"):
        read_document(scanned.getvalue(), PDF)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(DocumentError, match="not a document kind"):
        read_document(b"\x89PNG", IMAGE)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(20)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(20)


@pytest.mark.parametrize(
    ("data", "declared", "name", "mime", "kind"),
    [
        (make_pdf(["x"]), "text/plain", "", "application/pdf", PDF),  # the bytes win over a wrong type
        (PNG, "application/octet-stream", "x.txt", "image/png", IMAGE),
        (b"\xff\xd8\xff\xe0" + bytes(8), "", "", "image/jpeg", IMAGE),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", "", "image/webp", IMAGE),
        (WAV, "", "", "audio/wav", AUDIO),
        (b"ID3\x04" + bytes(8), "", "", "audio/mpeg", AUDIO),
        (b"OggS" + bytes(8), "", "", "audio/ogg", AUDIO),
        (b"\xef\xbb\xbf  <!DOCTYPE html><p>x", "", "", "text/html", HTML),
        (b"<p>a fragment</p>", "text/html; charset=utf-8", "", "text/html", HTML),
        (b"# Notes", "", "/docs/notes.md", "text/markdown", MARKDOWN),
        (b"# Notes", "text/x-markdown", "", "text/x-markdown", MARKDOWN),
        (b"plain words", "", "", "text/plain", TEXT),
        (b'{"a": 1}', "application/json", "", "application/json", TEXT),
        (b"\x00\x01\x02binary", "", "", "application/octet-stream", UNKNOWN),
        (b"PK\x03\x04zip", "application/zip", "a.zip", "application/zip", UNKNOWN),
    ],
)
def test_sniffing_trusts_bytes_then_the_declared_type_then_the_name(
    data: bytes, declared: str, name: str, mime: str, kind: str
) -> None:
    media = sniff(data, declared, name)
    assert (media.mime, media.kind) == (mime, kind)


def test_a_declared_charset_is_kept() -> None:
    assert sniff(b"x", 'text/plain; charset="ISO-8859-1"').charset == "iso-8859-1"


async def test_reading_off_the_event_loop_keeps_the_limits() -> None:
    pdf = make_pdf(["one", "two", "three"])
    assert (await read_document_off_loop(pdf, PDF, max_pages=2)).text == "one\n\ntwo"
    late = await read_document_off_loop(pdf, PDF, timeout_s=0.0)
    assert (late.text, late.note) == ("", "pages 1-3 of 3 not read (the time limit)")


def test_long_html_is_parsed_in_chunks_and_stops_at_its_deadline() -> None:
    page = "<ul>" + "".join(f"<li>item &amp; {n}</li>" for n in range(20_000)) + "</ul>"  # about 400 kB
    whole = html_to_text(page)
    assert whole.splitlines()[-1] == "- item & 19999" and len(whole.splitlines()) == 20_000
    late = read_document(page.encode(), HTML, deadline=time.monotonic() - 1)
    assert late.note == f"the first 65536 of {len(page)} characters read (the time limit)"
    assert whole.startswith(late.text) and 0 < len(late.text) < len(whole)
